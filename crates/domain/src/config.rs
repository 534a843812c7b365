//! Environment templates, cluster limits and settings, and their validation
//! (DESIGN.md §4, Configuration templates).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::errors::{FieldErrors, check_text};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    pub const ALL: [Environment; 3] = [Self::Development, Self::Staging, Self::Production];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| "environment must be one of development, staging, production".to_owned())
    }
}

/// The capacity limits a cluster is held to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterLimits {
    pub max_nodes: u32,
    pub max_tenants: u32,
    pub max_storage_gb: u64,
}

impl ClusterLimits {
    /// Every limit must be at least 1.
    ///
    /// # Errors
    /// The fields that are below 1.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.max_nodes < 1 {
            errors.add("max_nodes", "max_nodes must be at least 1");
        }
        if self.max_tenants < 1 {
            errors.add("max_tenants", "max_tenants must be at least 1");
        }
        if self.max_storage_gb < 1 {
            errors.add("max_storage_gb", "max_storage_gb must be at least 1");
        }
        errors.into_result()
    }

    /// Whether the cluster's current holdings fit these limits; used both when a
    /// node or tenant is added and when limits are lowered.
    ///
    /// # Errors
    /// One message per limit the usage exceeds, naming the limit's field.
    pub fn check_usage(&self, usage: &ClusterUsage) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if usage.nodes > self.max_nodes {
            errors.add(
                "max_nodes",
                format!(
                    "max_nodes must be at least {} (the cluster holds {} node(s))",
                    usage.nodes, usage.nodes
                ),
            );
        }
        if usage.tenants > self.max_tenants {
            errors.add(
                "max_tenants",
                format!(
                    "max_tenants must be at least {} (the cluster hosts {} tenant(s))",
                    usage.tenants, usage.tenants
                ),
            );
        }
        // Storage capacities are reals; the limit is whole gigabytes.
        #[allow(clippy::cast_precision_loss)]
        let limit = self.max_storage_gb as f64;
        if usage.storage_gb > limit {
            errors.add(
                "max_storage_gb",
                format!(
                    "max_storage_gb must be at least {} (the cluster's nodes hold {} GB)",
                    usage.storage_gb.ceil(),
                    usage.storage_gb
                ),
            );
        }
        errors.into_result()
    }
}

impl ClusterLimits {
    /// Whether one more node with `storage_gb` of storage fits a cluster that
    /// currently holds `usage`.
    ///
    /// # Errors
    /// `max_nodes` when the cluster is full, `capacity_storage_gb` when the node's
    /// storage would take the cluster past `max_storage_gb`.
    pub fn check_new_node(&self, usage: &ClusterUsage, storage_gb: f64) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if usage.nodes >= self.max_nodes {
            errors.add(
                "max_nodes",
                format!(
                    "the cluster already holds {} node(s), its max_nodes limit is {}",
                    usage.nodes, self.max_nodes
                ),
            );
        }
        #[allow(clippy::cast_precision_loss)]
        let limit = self.max_storage_gb as f64;
        let total = usage.storage_gb + storage_gb;
        if total > limit {
            errors.add(
                "capacity_storage_gb",
                format!(
                    "capacity_storage_gb {storage_gb} would bring the cluster to {total} GB, above its max_storage_gb limit of {}",
                    self.max_storage_gb
                ),
            );
        }
        errors.into_result()
    }
}

/// What a cluster currently holds, checked against its limits.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ClusterUsage {
    /// Nodes that are not decommissioned.
    pub nodes: u32,
    pub tenants: u32,
    /// Total storage capacity of the nodes counted in `nodes`.
    pub storage_gb: f64,
}

/// The behaviour settings stored in a cluster's `config` document.
// Each flag is an independent switch of DESIGN.md's template table.
#[allow(clippy::struct_excessive_bools)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    pub retention_days: u32,
    pub health_check_interval_s: u32,
    pub auto_scaling: bool,
    pub high_availability: bool,
    pub auto_failover: bool,
    pub encryption_enabled: bool,
    pub monitoring_enabled: bool,
}

impl ClusterSettings {
    pub const MIN_HEALTH_CHECK_S: u32 = 5;
    pub const MAX_HEALTH_CHECK_S: u32 = 3600;
    pub const MIN_RETENTION_DAYS: u32 = 1;
    pub const MAX_RETENTION_DAYS: u32 = 365;

    /// # Errors
    /// The fields outside their ranges, with messages naming them.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if !(Self::MIN_HEALTH_CHECK_S..=Self::MAX_HEALTH_CHECK_S)
            .contains(&self.health_check_interval_s)
        {
            errors.add(
                "health_check_interval_s",
                format!(
                    "health_check_interval_s must be between {} and {}",
                    Self::MIN_HEALTH_CHECK_S,
                    Self::MAX_HEALTH_CHECK_S
                ),
            );
        }
        if !(Self::MIN_RETENTION_DAYS..=Self::MAX_RETENTION_DAYS).contains(&self.retention_days) {
            errors.add(
                "retention_days",
                format!(
                    "retention_days must be between {} and {}",
                    Self::MIN_RETENTION_DAYS,
                    Self::MAX_RETENTION_DAYS
                ),
            );
        }
        errors.into_result()
    }
}

/// Settings to change, each optional: what a request gives is laid over a
/// template's settings (`{"auto_scaling": true}` changes only that).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub retention_days: Option<u32>,
    pub health_check_interval_s: Option<u32>,
    pub auto_scaling: Option<bool>,
    pub high_availability: Option<bool>,
    pub auto_failover: Option<bool>,
    pub encryption_enabled: Option<bool>,
    pub monitoring_enabled: Option<bool>,
}

impl SettingsPatch {
    #[must_use]
    pub fn apply(self, base: ClusterSettings) -> ClusterSettings {
        ClusterSettings {
            retention_days: self.retention_days.unwrap_or(base.retention_days),
            health_check_interval_s: self
                .health_check_interval_s
                .unwrap_or(base.health_check_interval_s),
            auto_scaling: self.auto_scaling.unwrap_or(base.auto_scaling),
            high_availability: self.high_availability.unwrap_or(base.high_availability),
            auto_failover: self.auto_failover.unwrap_or(base.auto_failover),
            encryption_enabled: self.encryption_enabled.unwrap_or(base.encryption_enabled),
            monitoring_enabled: self.monitoring_enabled.unwrap_or(base.monitoring_enabled),
        }
    }
}

/// A named, reusable configuration; the three built-in ones are seeded into the
/// database and admins may add and edit more.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigTemplate {
    pub name: String,
    pub environment: Environment,
    pub description: String,
    pub limits: ClusterLimits,
    pub settings: ClusterSettings,
}

impl ConfigTemplate {
    pub const MAX_NAME_CHARS: usize = 100;
    pub const MAX_DESCRIPTION_CHARS: usize = 1000;

    /// # Errors
    /// Every field that is wrong, named.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_text(&mut errors, "name", &self.name, 1, Self::MAX_NAME_CHARS);
        check_text(
            &mut errors,
            "description",
            &self.description,
            0,
            Self::MAX_DESCRIPTION_CHARS,
        );
        if let Err(e) = self.limits.validate() {
            for (field, message) in e.iter() {
                errors.add(field, message);
            }
        }
        if let Err(e) = self.settings.validate() {
            for (field, message) in e.iter() {
                errors.add(field, message);
            }
        }
        errors.into_result()
    }
}

/// The three environment templates of DESIGN.md §4, in environment order.
#[must_use]
pub fn builtin_templates() -> [ConfigTemplate; 3] {
    let template =
        |environment: Environment,
         description: &str,
         (max_nodes, max_tenants, max_storage_gb): (u32, u32, u64),
         (retention_days, health_check_interval_s): (u32, u32),
         (auto_scaling, high_availability, auto_failover): (bool, bool, bool)| {
            ConfigTemplate {
                name: environment.as_str().to_owned(),
                environment,
                description: description.to_owned(),
                limits: ClusterLimits {
                    max_nodes,
                    max_tenants,
                    max_storage_gb,
                },
                settings: ClusterSettings {
                    retention_days,
                    health_check_interval_s,
                    auto_scaling,
                    high_availability,
                    auto_failover,
                    encryption_enabled: true,
                    monitoring_enabled: true,
                },
            }
        };
    [
        template(
            Environment::Development,
            "Small single-zone cluster for development work",
            (3, 10, 100),
            (7, 60),
            (false, false, false),
        ),
        template(
            Environment::Staging,
            "Highly available cluster for pre-production testing",
            (5, 50, 500),
            (14, 30),
            (false, true, true),
        ),
        template(
            Environment::Production,
            "Large highly available cluster with automatic scaling",
            (20, 1000, 10_000),
            (90, 15),
            (true, true, true),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn builtin_templates_match_the_design_table() {
        let [dev, staging, prod] = builtin_templates();
        let row = |t: &ConfigTemplate| {
            (
                t.environment,
                t.limits.max_nodes,
                t.limits.max_tenants,
                t.limits.max_storage_gb,
                t.settings.retention_days,
                t.settings.health_check_interval_s,
                t.settings.auto_scaling,
                t.settings.high_availability,
                t.settings.auto_failover,
                t.settings.encryption_enabled && t.settings.monitoring_enabled,
            )
        };
        assert_eq!(
            row(&dev),
            (
                Environment::Development,
                3,
                10,
                100,
                7,
                60,
                false,
                false,
                false,
                true
            )
        );
        assert_eq!(
            row(&staging),
            (
                Environment::Staging,
                5,
                50,
                500,
                14,
                30,
                false,
                true,
                true,
                true
            )
        );
        assert_eq!(
            row(&prod),
            (
                Environment::Production,
                20,
                1000,
                10_000,
                90,
                15,
                true,
                true,
                true,
                true
            )
        );
        for t in builtin_templates() {
            assert_eq!(t.validate(), Ok(()), "{}", t.name);
        }
    }

    #[test]
    fn limits_below_one_are_named() {
        let limits = ClusterLimits {
            max_nodes: 0,
            max_tenants: 0,
            max_storage_gb: 0,
        };
        let e = limits.validate().expect_err("all zero");
        assert_eq!(e.get("max_nodes"), Some("max_nodes must be at least 1"));
        assert_eq!(e.get("max_tenants"), Some("max_tenants must be at least 1"));
        assert_eq!(
            e.get("max_storage_gb"),
            Some("max_storage_gb must be at least 1")
        );
    }

    #[test]
    fn settings_ranges_are_inclusive() {
        let [mut s, ..] = builtin_templates().map(|t| t.settings);
        for (interval, ok) in [(4, false), (5, true), (3600, true), (3601, false)] {
            s.health_check_interval_s = interval;
            assert_eq!(s.validate().is_ok(), ok, "interval {interval}");
        }
        s.health_check_interval_s = 60;
        for (days, ok) in [(0, false), (1, true), (365, true), (366, false)] {
            s.retention_days = days;
            assert_eq!(s.validate().is_ok(), ok, "retention {days}");
        }
        let e = s.validate().expect_err("366 days");
        assert_eq!(
            e.get("retention_days"),
            Some("retention_days must be between 1 and 365")
        );
    }

    #[test]
    fn limits_cannot_drop_below_what_the_cluster_holds() {
        let limits = ClusterLimits {
            max_nodes: 3,
            max_tenants: 10,
            max_storage_gb: 100,
        };
        let fits = ClusterUsage {
            nodes: 3,
            tenants: 10,
            storage_gb: 100.0,
        };
        assert_eq!(limits.check_usage(&fits), Ok(()));
        let over = ClusterUsage {
            nodes: 4,
            tenants: 11,
            storage_gb: 100.5,
        };
        let e = limits.check_usage(&over).expect_err("over every limit");
        assert_eq!(
            e.get("max_nodes"),
            Some("max_nodes must be at least 4 (the cluster holds 4 node(s))")
        );
        assert!(e.get("max_tenants").is_some());
        assert_eq!(
            e.get("max_storage_gb"),
            Some("max_storage_gb must be at least 101 (the cluster's nodes hold 100.5 GB)")
        );
    }

    #[test]
    fn a_new_node_must_fit_count_and_storage() {
        let limits = ClusterLimits {
            max_nodes: 3,
            max_tenants: 10,
            max_storage_gb: 100,
        };
        let two = ClusterUsage {
            nodes: 2,
            tenants: 0,
            storage_gb: 60.0,
        };
        assert_eq!(limits.check_new_node(&two, 40.0), Ok(()));
        let e = limits.check_new_node(&two, 40.5).expect_err("storage");
        assert_eq!(
            e.get("capacity_storage_gb"),
            Some(
                "capacity_storage_gb 40.5 would bring the cluster to 100.5 GB, above its max_storage_gb limit of 100"
            )
        );
        let full = ClusterUsage {
            nodes: 3,
            tenants: 0,
            storage_gb: 0.0,
        };
        let e = limits.check_new_node(&full, 0.0).expect_err("count");
        assert_eq!(
            e.get("max_nodes"),
            Some("the cluster already holds 3 node(s), its max_nodes limit is 3")
        );
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let [dev, ..] = builtin_templates();
        let patch: SettingsPatch =
            serde_json::from_str(r#"{"auto_scaling": true}"#).expect("patch");
        let s = patch.apply(dev.settings);
        assert!(s.auto_scaling);
        assert_eq!(
            ClusterSettings {
                auto_scaling: false,
                ..s
            },
            dev.settings
        );
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"autoScaling": true}"#).is_err());
    }

    #[test]
    fn settings_reject_unknown_keys() {
        let json = r#"{"retention_days":7,"health_check_interval_s":60,"auto_scaling":false,
            "high_availability":false,"auto_failover":false,"encryption_enabled":true,
            "monitoring_enabled":true,"autoscaling":true}"#;
        assert!(serde_json::from_str::<ClusterSettings>(json).is_err());
    }

    #[test]
    fn environment_parses_only_known_names() {
        for e in Environment::ALL {
            assert_eq!(e.as_str().parse::<Environment>(), Ok(e));
        }
        assert!("prod".parse::<Environment>().is_err());
    }

    proptest! {
        #[test]
        fn usage_within_limits_always_fits(max in 1u32..10_000, used in 0u32..10_000) {
            let limits = ClusterLimits { max_nodes: max, max_tenants: max, max_storage_gb: u64::from(max) };
            let usage = ClusterUsage { nodes: used, tenants: used, storage_gb: f64::from(used) };
            prop_assert_eq!(limits.check_usage(&usage).is_ok(), used <= max);
        }
    }
}
