//! The records Muster keeps, as every layer sees them: the store returns them, the
//! API serialises them and the browser renders them. Field names follow DESIGN.md §3.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{ClusterLimits, ClusterSettings, Environment};
use crate::errors::{FieldErrors, check_text};
use crate::ids::{ClusterId, NodeId};
use crate::node::{HealthStatus, NodeStatus};

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Who leads the cluster now.
    #[must_use]
    pub fn leadership(&self) -> crate::coordination::Leadership {
        crate::coordination::Leadership {
            primary: self.primary_node_id.clone(),
            coordinator: self.coordinator_node_id.clone(),
        }
    }

    #[must_use]
    pub fn limits(&self) -> ClusterLimits {
        ClusterLimits {
            max_nodes: self.max_nodes,
            max_tenants: self.max_tenants,
            max_storage_gb: self.max_storage_gb,
        }
    }
}

/// How a cluster's nodes stand, for lists of clusters: counted in one query
/// for a page of them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterTally {
    pub cluster_id: ClusterId,
    /// Nodes not decommissioned.
    pub nodes: u32,
    /// Nodes that count for health and quorum: neither in maintenance nor
    /// decommissioned.
    pub counted: u32,
    pub online: u32,
    /// The primary node's name, if the cluster has one.
    pub primary_name: Option<String>,
    /// The tenants the cluster hosts, by name.
    pub tenants: Vec<Tenant>,
}

impl ClusterTally {
    /// A cluster with no nodes and no tenants.
    #[must_use]
    pub fn empty(cluster_id: ClusterId) -> Self {
        Self {
            cluster_id,
            nodes: 0,
            counted: 0,
            online: 0,
            primary_name: None,
            tenants: Vec::new(),
        }
    }

    /// The quorum, or `None` when no node counts.
    #[must_use]
    pub fn quorum(&self) -> Option<crate::health::QuorumStatus> {
        (self.counted > 0).then(|| crate::health::quorum(self.counted, self.online))
    }
}

/// A cluster about to be created: a template's limits and settings, possibly
/// adjusted, with the cluster's own name, description and region.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A change to a cluster's description or configuration; absent fields stay.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub limits: Option<ClusterLimits>,
    #[serde(default)]
    pub config: Option<ClusterSettings>,
}

impl ClusterUpdate {
    /// Checks each given field on its own; limits are checked against what the
    /// cluster holds by the store, inside the transaction.
    ///
    /// # Errors
    /// Every field that is wrong, named.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if let Some(name) = &self.name {
            check_text(&mut errors, "name", name, 1, 100);
        }
        if let Some(d) = &self.description {
            check_text(&mut errors, "description", d, 0, 1000);
        }
        if let Some(r) = &self.region {
            check_text(&mut errors, "region", r, 1, 100);
        }
        let results = [
            self.limits.map(|l| l.validate()),
            self.config.map(|c| c.validate()),
        ];
        for e in results.into_iter().flatten().filter_map(Result::err) {
            for (field, message) in e.iter() {
                errors.add(field, message);
            }
        }
        if *self == Self::default() {
            errors.add(
                "update",
                "the update changes nothing: give at least one field",
            );
        }
        errors.into_result()
    }
}

/// A customer or team whose workloads clusters host.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl Tenant {
    /// # Errors
    /// `name` when it is empty, too long or has control characters.
    pub fn validate_name(name: &str) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_text(&mut errors, "name", name, 1, 100);
        errors.into_result()
    }
}

/// One point of a metric's history: a raw sample (min = max = avg) or a rollup.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub at: DateTime<Utc>,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: u64,
}

impl MetricPoint {
    /// One raw sample taken at `at`.
    #[must_use]
    pub fn sample(at: DateTime<Utc>, value: f64) -> Self {
        Self {
            at,
            min: value,
            max: value,
            avg: value,
            count: 1,
        }
    }

    /// The rollup of the bucket that starts at `at`.
    #[must_use]
    pub fn rolled(at: DateTime<Utc>, r: crate::metrics::Rollup) -> Self {
        Self {
            at,
            min: r.min,
            max: r.max,
            avg: r.avg,
            count: r.count,
        }
    }
}

/// A node as stored. The node token itself is never part of it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The latest usage sample, from which `health_status` was judged.
    pub usage: Option<crate::health::UsageSample>,
    /// What the node's agent last said about its host.
    #[serde(default)]
    pub system: Option<crate::protocol::SystemInfo>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An operator's or script's report of a node's state (`update_node_status`):
/// the status, optionally a health override, optionally a metrics sample.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeStatusUpdate {
    pub status: NodeStatus,
    #[serde(default)]
    pub health_status: Option<HealthStatus>,
    #[serde(default)]
    pub metrics: Option<std::collections::BTreeMap<String, f64>>,
}

impl NodeStatusUpdate {
    /// # Errors
    /// `status` when it asks for `decommissioned` (which has its own operation),
    /// and every bad metric.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.status == NodeStatus::Decommissioned {
            errors.add(
                "status",
                "status decommissioned is set by decommissioning the node, not by a status update",
            );
        }
        if let Some(metrics) = &self.metrics
            && let Err(e) =
                crate::metrics::check_metrics(metrics.iter().map(|(k, v)| (k.as_str(), *v)))
        {
            for (f, m) in e.iter() {
                errors.add(f, m);
            }
        }
        errors.into_result()
    }

    /// The usage sample the metrics carry, when they name CPU, memory or disk.
    #[must_use]
    pub fn usage_sample(&self, at: DateTime<Utc>) -> Option<crate::health::UsageSample> {
        let m = self.metrics.as_ref()?;
        let get = |k: &str| m.get(k).copied();
        let (cpu, mem, disk) = (
            get("cpu_usage_percent"),
            get("memory_usage_percent"),
            get("disk_usage_percent"),
        );
        if cpu.is_none() && mem.is_none() && disk.is_none() {
            return None;
        }
        Some(crate::health::UsageSample {
            cpu_percent: cpu.unwrap_or(0.0),
            memory_percent: mem.unwrap_or(0.0),
            disk_percent: disk.unwrap_or(0.0),
            at,
        })
    }
}

/// An audit-trail entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    fn status_updates_are_validated() {
        let ok: NodeStatusUpdate = serde_json::from_str(
            r#"{"status":"online","metrics":{"cpu_usage_percent":65.2,"queue_depth":3}}"#,
        )
        .expect("seed shape");
        assert_eq!(ok.validate(), Ok(()));
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let sample = ok.usage_sample(at).expect("cpu given");
        assert!((sample.cpu_percent - 65.2).abs() < 1e-12 && sample.memory_percent.abs() < 1e-12);
        let bad = NodeStatusUpdate {
            status: NodeStatus::Decommissioned,
            health_status: None,
            metrics: Some([("cpu_usage_percent".to_owned(), 120.0)].into()),
        };
        let e = bad.validate().expect_err("bad");
        assert!(e.get("status").is_some());
        assert!(e.get("metrics.cpu_usage_percent").is_some());
        assert!(
            serde_json::from_str::<NodeStatusUpdate>(r#"{"status":"online","cpu":1}"#).is_err()
        );
    }

    #[test]
    fn cluster_updates_check_what_they_change() {
        assert!(ClusterUpdate::default().validate().is_err(), "empty update");
        let u = ClusterUpdate {
            name: Some(String::new()),
            ..ClusterUpdate::default()
        };
        assert_eq!(
            u.validate().expect_err("name").get("name"),
            Some("name must not be empty")
        );
        let [t, ..] = builtin_templates();
        let mut limits = t.limits;
        limits.max_tenants = 0;
        let u = ClusterUpdate {
            limits: Some(limits),
            ..ClusterUpdate::default()
        };
        assert!(
            u.validate()
                .expect_err("limits")
                .get("max_tenants")
                .is_some()
        );
        assert!(Tenant::validate_name("Acme").is_ok() && Tenant::validate_name(" ").is_err());
    }

    #[test]
    fn actors_render_with_their_kind() {
        assert_eq!(Actor::User("admin".into()).to_string(), "user:admin");
        assert_eq!(Actor::System.to_string(), "system");
    }
}
