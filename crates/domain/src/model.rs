//! The records Muster keeps, as every layer sees them: the store returns them, the
//! API serialises them and the browser renders them. Field names follow DESIGN.md §3.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{ClusterLimits, ClusterSettings, Environment};
use crate::errors::{FieldErrors, check_text};
use crate::ids::{ClusterId, NodeId};
use crate::node::{HealthStatus, NodeStatus};

text_enum!(
    /// A cluster's status (DESIGN.md §4, Cluster health score and status).
    ClusterStatus, "status" {
        Provisioning => "provisioning",
        Active => "active",
        Degraded => "degraded",
        Offline => "offline",
        Maintenance => "maintenance",
        Decommissioned => "decommissioned",
    }
);

text_enum!(
    EventCategory, "category" {
        System => "system",
        Health => "health",
        Coordination => "coordination",
        Security => "security",
        Lifecycle => "lifecycle",
        Configuration => "configuration",
    }
);

text_enum!(
    /// Event severities, in increasing order of urgency.
    Severity, "severity" {
        Debug => "debug",
        Info => "info",
        Warning => "warning",
        Error => "error",
        Critical => "critical",
    }
);

/// A cluster as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: ClusterId,
    pub name: String,
    pub description: String,
    pub region: String,
    pub environment: Environment,
    pub status: ClusterStatus,
    pub health_score: f64,
    pub max_nodes: u32,
    pub max_tenants: u32,
    pub max_storage_gb: u64,
    pub config: ClusterSettings,
    pub template_name: Option<String>,
    pub primary_node_id: Option<NodeId>,
    pub coordinator_node_id: Option<NodeId>,
    /// Fencing token: incremented on every change of primary or coordinator.
    pub term: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Cluster {
    #[must_use]
    pub fn limits(&self) -> ClusterLimits {
        ClusterLimits {
            max_nodes: self.max_nodes,
            max_tenants: self.max_tenants,
            max_storage_gb: self.max_storage_gb,
        }
    }
}

/// A cluster about to be created: a template's limits and settings, possibly
/// adjusted, with the cluster's own name, description and region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCluster {
    pub name: String,
    pub description: String,
    pub region: String,
    pub environment: Environment,
    pub limits: ClusterLimits,
    pub settings: ClusterSettings,
    pub template_name: Option<String>,
}

impl NewCluster {
    /// # Errors
    /// Every field that is wrong, named.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_text(&mut errors, "name", &self.name, 1, 100);
        check_text(&mut errors, "description", &self.description, 0, 1000);
        check_text(&mut errors, "region", &self.region, 1, 100);
        for result in [self.limits.validate(), self.settings.validate()] {
            if let Err(e) = result {
                for (field, message) in e.iter() {
                    errors.add(field, message);
                }
            }
        }
        errors.into_result()
    }
}

/// A node as stored. The node token itself is never part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    pub cluster_id: ClusterId,
    pub name: String,
    pub hostname: String,
    pub region: String,
    pub availability_zone: String,
    pub status: NodeStatus,
    pub health_status: HealthStatus,
    pub is_primary: bool,
    pub is_coordinator: bool,
    pub cordoned: bool,
    pub priority: i32,
    pub roles: Vec<String>,
    pub capacity_cpu: f64,
    pub capacity_memory_gb: f64,
    pub capacity_storage_gb: f64,
    pub capacity_network_mbps: f64,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An audit-trail entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub cluster_id: Option<ClusterId>,
    pub node_id: Option<NodeId>,
    pub event_type: String,
    pub category: EventCategory,
    pub severity: Severity,
    pub message: String,
    pub details: serde_json::Value,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// An event about to be written, in the same transaction as the change it records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub cluster_id: Option<ClusterId>,
    pub node_id: Option<NodeId>,
    pub event_type: String,
    pub category: EventCategory,
    pub severity: Severity,
    pub message: String,
    pub details: serde_json::Value,
    pub actor: String,
}

/// Who did something, as written in an event's `actor` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(String),
    Node(NodeId),
    System,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(name) => write!(f, "user:{name}"),
            Self::Node(id) => write!(f, "node:{id}"),
            Self::System => f.write_str("system"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::builtin_templates;

    fn new_cluster() -> NewCluster {
        let [t, ..] = builtin_templates();
        NewCluster {
            name: "Production US-East".into(),
            description: String::new(),
            region: "us-east-1".into(),
            environment: t.environment,
            limits: t.limits,
            settings: t.settings,
            template_name: Some(t.name),
        }
    }

    #[test]
    fn new_cluster_validation_names_fields() {
        assert_eq!(new_cluster().validate(), Ok(()));
        let mut c = new_cluster();
        c.name = "x".repeat(101);
        c.region = " ".into();
        c.limits.max_nodes = 0;
        c.settings.health_check_interval_s = 1;
        let e = c.validate().expect_err("wrong");
        assert_eq!(e.get("name"), Some("name must be at most 100 characters"));
        assert_eq!(e.get("region"), Some("region must not be empty"));
        assert_eq!(e.get("max_nodes"), Some("max_nodes must be at least 1"));
        assert!(e.get("health_check_interval_s").is_some());
    }

    #[test]
    fn enums_parse_their_names_and_name_the_field_otherwise() {
        assert_eq!("error".parse::<Severity>(), Ok(Severity::Error));
        assert_eq!(
            "fatal".parse::<Severity>(),
            Err("severity must be one of debug, info, warning, error, critical".into())
        );
        assert_eq!(
            "lifecycle".parse::<EventCategory>(),
            Ok(EventCategory::Lifecycle)
        );
        assert_eq!(
            "degraded".parse::<ClusterStatus>(),
            Ok(ClusterStatus::Degraded)
        );
    }

    #[test]
    fn actors_render_with_their_kind() {
        assert_eq!(Actor::User("admin".into()).to_string(), "user:admin");
        assert_eq!(Actor::System.to_string(), "system");
    }
}
