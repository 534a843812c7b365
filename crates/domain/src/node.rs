//! Node status values and the validation of a node being added to a cluster.

use serde::{Deserialize, Serialize};

use crate::errors::{FieldErrors, check_text};

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    /// A node's lifecycle and liveness status (DESIGN.md §4, Node liveness).
    NodeStatus, "status" {
        Provisioning => "provisioning",
        Online => "online",
        Unreachable => "unreachable",
        Offline => "offline",
        Draining => "draining",
        Maintenance => "maintenance",
        Decommissioned => "decommissioned",
    }
);

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    /// A node's health from its latest sample; `Unknown` when there is none.
    HealthStatus, "health_status" {
        Healthy => "healthy",
        Warning => "warning",
        Critical => "critical",
        Unknown => "unknown",
    }
);

/// A node as an admin describes it when adding it to a cluster.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNode {
    pub name: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub availability_zone: String,
    #[serde(default = "NewNode::default_priority")]
    pub priority: i32,
    #[serde(default)]
    pub roles: Vec<String>,
    pub capacity_cpu: f64,
    pub capacity_memory_gb: f64,
    pub capacity_storage_gb: f64,
    #[serde(default)]
    pub capacity_network_mbps: f64,
}

impl NewNode {
    pub const MAX_ROLES: usize = 16;
    pub const MAX_PRIORITY: i32 = 1000;
    /// Generous upper bounds that catch unit mistakes (bytes given as GB).
    pub const MAX_CPU: f64 = 4096.0;
    pub const MAX_MEMORY_GB: f64 = 65_536.0;
    pub const MAX_STORAGE_GB: f64 = 10_000_000.0;
    pub const MAX_NETWORK_MBPS: f64 = 10_000_000.0;

    #[must_use]
    pub fn default_priority() -> i32 {
        50
    }

    /// # Errors
    /// Every field that is wrong, named.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_text(&mut errors, "name", &self.name, 1, 100);
        check_text(&mut errors, "hostname", &self.hostname, 0, 253);
        check_text(&mut errors, "region", &self.region, 0, 100);
        check_text(
            &mut errors,
            "availability_zone",
            &self.availability_zone,
            0,
            100,
        );
        if !(0..=Self::MAX_PRIORITY).contains(&self.priority) {
            errors.add(
                "priority",
                format!("priority must be between 0 and {}", Self::MAX_PRIORITY),
            );
        }
        if self.roles.len() > Self::MAX_ROLES {
            errors.add(
                "roles",
                format!("roles must hold at most {} roles", Self::MAX_ROLES),
            );
        } else if let Some(bad) = self.roles.iter().find(|r| !is_role_name(r)) {
            errors.add(
                "roles",
                format!(
                    "roles: \"{}\" is not a role name (a-z, 0-9, _ and -, starting with a letter, at most 32 characters)",
                    bad.chars().take(40).collect::<String>()
                ),
            );
        }
        for (field, value, min_exclusive, max) in [
            ("capacity_cpu", self.capacity_cpu, true, Self::MAX_CPU),
            (
                "capacity_memory_gb",
                self.capacity_memory_gb,
                true,
                Self::MAX_MEMORY_GB,
            ),
            (
                "capacity_storage_gb",
                self.capacity_storage_gb,
                false,
                Self::MAX_STORAGE_GB,
            ),
            (
                "capacity_network_mbps",
                self.capacity_network_mbps,
                false,
                Self::MAX_NETWORK_MBPS,
            ),
        ] {
            if !value.is_finite() {
                errors.add(field, format!("{field} must be a finite number"));
            } else if min_exclusive && value <= 0.0 {
                errors.add(field, format!("{field} must be greater than 0"));
            } else if value < 0.0 {
                errors.add(field, format!("{field} must not be negative"));
            } else if value > max {
                errors.add(field, format!("{field} must be at most {max}"));
            }
        }
        errors.into_result()
    }
}

fn is_role_name(role: &str) -> bool {
    let mut chars = role.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && role.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn worker() -> NewNode {
        NewNode {
            name: "worker-1".into(),
            hostname: "worker-1.example.com".into(),
            region: "us-east-1".into(),
            availability_zone: "us-east-1a".into(),
            priority: 80,
            roles: vec!["worker".into(), "processing".into()],
            capacity_cpu: 8.0,
            capacity_memory_gb: 32.0,
            capacity_storage_gb: 500.0,
            capacity_network_mbps: 1000.0,
        }
    }

    #[test]
    fn a_sensible_node_is_valid() {
        assert_eq!(worker().validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut n = worker();
        n.name = String::new();
        n.priority = 1001;
        n.roles = vec!["Worker".into()];
        n.capacity_cpu = 0.0;
        n.capacity_memory_gb = f64::NAN;
        n.capacity_storage_gb = -1.0;
        n.capacity_network_mbps = f64::INFINITY;
        let e = n.validate().expect_err("all wrong");
        assert_eq!(e.get("name"), Some("name must not be empty"));
        assert_eq!(
            e.get("priority"),
            Some("priority must be between 0 and 1000")
        );
        assert!(e.get("roles").is_some_and(|m| m.contains("\"Worker\"")));
        assert_eq!(
            e.get("capacity_cpu"),
            Some("capacity_cpu must be greater than 0")
        );
        assert_eq!(
            e.get("capacity_memory_gb"),
            Some("capacity_memory_gb must be a finite number")
        );
        assert_eq!(
            e.get("capacity_storage_gb"),
            Some("capacity_storage_gb must not be negative")
        );
        assert_eq!(
            e.get("capacity_network_mbps"),
            Some("capacity_network_mbps must be a finite number")
        );
    }

    #[test]
    fn statuses_parse_and_name_the_field_when_wrong() {
        for s in NodeStatus::ALL {
            assert_eq!(s.as_str().parse::<NodeStatus>(), Ok(*s));
        }
        assert_eq!(
            "up".parse::<NodeStatus>(),
            Err("status must be one of provisioning, online, unreachable, offline, draining, maintenance, decommissioned".into())
        );
        assert_eq!("unknown".parse::<HealthStatus>(), Ok(HealthStatus::Unknown));
    }

    proptest! {
        #[test]
        fn arbitrary_roles_never_panic_and_bad_ones_are_rejected(role in "\\PC{0,40}") {
            let mut n = worker();
            n.roles = vec![role.clone()];
            let ok = n.validate().is_ok();
            prop_assert_eq!(ok, is_role_name(&role));
        }
    }
}
