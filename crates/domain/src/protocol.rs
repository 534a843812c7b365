//! The agent protocol's heartbeat body (DESIGN.md §3), a documented contract so
//! others can write agents. Unknown fields are rejected so a typo in a third-party
//! agent is reported instead of silently dropped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::errors::FieldErrors;
use crate::health::UsageSample;
use crate::ids::{ClusterId, NodeId};
use crate::node::NodeStatus;
use crate::operations::OperationName;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Most processes a heartbeat may carry.
pub const MAX_PROCESSES: usize = 20;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    pub protocol_version: u32,
    /// Increases by one per heartbeat; makes delivery idempotent.
    pub seq: u64,
    pub status: NodeStatus,
    pub metrics: HostMetrics,
    pub system: SystemInfo,
    #[serde(default)]
    pub processes: Vec<ProcessSample>,
    /// When the sample was taken, if not just now: an agent replaying its
    /// spool after an outage sends each sample with its own time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled_at: Option<DateTime<Utc>>,
}

/// One sample of the standard metrics.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostMetrics {
    pub cpu_usage_percent: f64,
    pub memory_usage_percent: f64,
    pub disk_usage_percent: f64,
    pub load_average: f64,
    pub network_rx_mbps: f64,
    pub network_tx_mbps: f64,
    pub process_count: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemInfo {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
    pub uptime_s: u64,
    pub cpu_cores: u32,
    pub memory_total_gb: f64,
    pub disk_total_gb: f64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSample {
    pub pid: u32,
    pub name: String,
    pub user: String,
    pub cpu_percent: f64,
    pub memory_bytes: u64,
}

/// Longest hostname, OS or kernel text an agent may report.
pub const MAX_SYSTEM_TEXT: usize = 255;
/// Longest process name or user an agent may report.
pub const MAX_PROCESS_TEXT: usize = 255;

/// Checks one text field. The field's name is formatted only when the value
/// is refused: heartbeats name each of their twenty processes' fields, and
/// formatting every name cost more than the checks.
fn check_text(
    errors: &mut FieldErrors,
    field: std::fmt::Arguments<'_>,
    value: &str,
    required: bool,
    max: usize,
) {
    let problem = if required && value.trim().is_empty() {
        "must not be empty".to_owned()
    } else if value.chars().count() > max {
        format!("must be at most {max} characters")
    } else if value.chars().any(char::is_control) {
        "must not contain control characters".to_owned()
    } else {
        return;
    };
    let field = field.to_string();
    let message = format!("{field} {problem}");
    errors.add(field, message);
}

/// Checks one amount, naming the field (lazily, as [`check_text`]).
fn check_amount(errors: &mut FieldErrors, field: std::fmt::Arguments<'_>, value: f64) {
    if !value.is_finite() || value < 0.0 {
        let field = field.to_string();
        let message = format!("{field} must be a finite number, not negative");
        errors.add(field, message);
    }
}

impl SystemInfo {
    /// # Errors
    /// Each bad field, named `system.<field>`.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        check_text(
            &mut e,
            format_args!("system.hostname"),
            &self.hostname,
            true,
            MAX_SYSTEM_TEXT,
        );
        check_text(
            &mut e,
            format_args!("system.os"),
            &self.os,
            false,
            MAX_SYSTEM_TEXT,
        );
        check_text(
            &mut e,
            format_args!("system.kernel"),
            &self.kernel,
            false,
            MAX_SYSTEM_TEXT,
        );
        if self.cpu_cores == 0 {
            e.add("system.cpu_cores", "system.cpu_cores must be at least 1");
        }
        check_amount(
            &mut e,
            format_args!("system.memory_total_gb"),
            self.memory_total_gb,
        );
        check_amount(
            &mut e,
            format_args!("system.disk_total_gb"),
            self.disk_total_gb,
        );
        e.into_result()
    }
}

impl HostMetrics {
    /// The sample's values under the standard metric names.
    #[must_use]
    pub fn named(&self) -> [(&'static str, f64); 7] {
        #[allow(clippy::cast_precision_loss)] // process counts are far below 2^52
        let processes = self.process_count as f64;
        [
            ("cpu_usage_percent", self.cpu_usage_percent),
            ("memory_usage_percent", self.memory_usage_percent),
            ("disk_usage_percent", self.disk_usage_percent),
            ("load_average", self.load_average),
            ("network_rx_mbps", self.network_rx_mbps),
            ("network_tx_mbps", self.network_tx_mbps),
            ("process_count", processes),
        ]
    }

    /// The sample under the standard metric names.
    #[must_use]
    pub fn as_map(&self) -> std::collections::BTreeMap<String, f64> {
        self.named()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    /// The usage the node's health is judged from.
    #[must_use]
    pub fn usage(&self, at: DateTime<Utc>) -> UsageSample {
        UsageSample {
            cpu_percent: self.cpu_usage_percent,
            memory_percent: self.memory_usage_percent,
            disk_percent: self.disk_usage_percent,
            at,
        }
    }
}

impl HeartbeatRequest {
    /// # Errors
    /// Each bad field, named as in the body (`metrics.cpu_usage_percent`,
    /// `processes[3].name`, …).
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Err(v) = check_protocol_version(self.protocol_version) {
            e.merge(v);
        }
        if !matches!(self.status, NodeStatus::Online | NodeStatus::Offline) {
            e.add(
                "status",
                "status must be online, or offline when the agent is stopping",
            );
        }
        if let Err(m) = crate::metrics::check_metrics(self.metrics.named()) {
            e.merge(m);
        }
        if let Err(s) = self.system.validate() {
            e.merge(s);
        }
        if self.processes.len() > MAX_PROCESSES {
            e.add(
                "processes",
                format!("processes must hold at most {MAX_PROCESSES} entries"),
            );
        }
        for (i, p) in self.processes.iter().take(MAX_PROCESSES).enumerate() {
            check_text(
                &mut e,
                format_args!("processes[{i}].name"),
                &p.name,
                true,
                MAX_PROCESS_TEXT,
            );
            check_text(
                &mut e,
                format_args!("processes[{i}].user"),
                &p.user,
                false,
                MAX_PROCESS_TEXT,
            );
            check_amount(
                &mut e,
                format_args!("processes[{i}].cpu_percent"),
                p.cpu_percent,
            );
        }
        e.into_result()
    }
}

/// Whether this server understands an agent speaking `version`.
///
/// # Errors
/// A field-named message for the `protocol_version` field.
pub fn check_protocol_version(version: u32) -> Result<(), crate::errors::FieldErrors> {
    if version == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(crate::errors::FieldErrors::single(
            "protocol_version",
            format!(
                "protocol_version {version} is not supported; this server speaks {PROTOCOL_VERSION}"
            ),
        ))
    }
}

/// `POST /api/v1/agent/register`: a join token buys a node id and a node token.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub protocol_version: u32,
    pub join_token: String,
    /// The node's name in the cluster; the hostname when absent.
    #[serde(default)]
    pub name: Option<String>,
    pub system: SystemInfo,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub protocol_version: u32,
    pub cluster_id: ClusterId,
    pub node_id: NodeId,
    /// Shown once; the server keeps only its hash.
    pub node_token: String,
    pub interval_s: u32,
}

/// A cluster's join token as admins see it; the secret is shown once, at
/// creation or rotation, and only its hash is stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinToken {
    pub id: String,
    pub cluster_id: ClusterId,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// After this the token registers no node; none: until revoked.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Nodes registered with it.
    pub uses: u64,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The node's place in the cluster, sent back with every heartbeat.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRole {
    pub is_primary: bool,
    pub is_coordinator: bool,
}

/// An agent-side operation delivered in a heartbeat response. Agents refuse
/// operations stamped with a term older than the newest they have seen.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingOperation {
    pub id: String,
    pub operation: OperationName,
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub force: bool,
    pub term: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub protocol_version: u32,
    /// The highest sequence number the server has committed for this node.
    pub ack_seq: u64,
    pub role: NodeRole,
    /// The cluster's coordination term (fencing token).
    pub term: u64,
    #[serde(default)]
    pub pending_operations: Vec<PendingOperation>,
    pub next_interval_s: u32,
}

/// Whether an agent should act on an operation: only when its term is not older
/// than the newest term the agent has seen.
#[must_use]
pub fn accepts_operation(newest_seen_term: u64, op: &PendingOperation) -> bool {
    op.term >= newest_seen_term
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let body = r#"{"protocol_version":1,"seq":42,"status":"online",
            "metrics":{"cpu_usage_percent":12.5,"memory_usage_percent":40.1,"disk_usage_percent":63.0,
                       "load_average":0.7,"network_rx_mbps":1.2,"network_tx_mbps":0.4,"process_count":212},
            "system":{"hostname":"web-1","os":"Debian 12","kernel":"6.1.0","uptime_s":3600,
                      "cpu_cores":4,"memory_total_gb":15.6,"disk_total_gb":250.0},
            "processes":[{"pid":1,"name":"systemd","user":"root","cpu_percent":0.1,"memory_bytes":12000000}]}"#;
        let hb: HeartbeatRequest = serde_json::from_str(body).expect("documented body");
        assert_eq!(hb.seq, 42);
        assert_eq!(hb.status, NodeStatus::Online);
        assert_eq!(hb.metrics.process_count, 212);
        assert_eq!(hb.processes[0].name, "systemd");
        assert!(check_protocol_version(hb.protocol_version).is_ok());
        let e = check_protocol_version(2).expect_err("future agent");
        assert_eq!(
            e.get("protocol_version"),
            Some("protocol_version 2 is not supported; this server speaks 1")
        );
    }

    #[test]
    fn responses_round_trip_and_stale_terms_are_refused() {
        let op = PendingOperation {
            id: "op-1".into(),
            operation: OperationName::CollectNow,
            params: serde_json::Map::new(),
            force: false,
            term: 6,
        };
        let json = serde_json::json!({
            "protocol_version": 1, "ack_seq": 42, "role": {"is_primary": true, "is_coordinator": false},
            "term": 7, "pending_operations": [op], "next_interval_s": 10
        });
        let r: HeartbeatResponse = serde_json::from_value(json).expect("response");
        assert_eq!(r.pending_operations[0].operation, OperationName::CollectNow);
        assert!(accepts_operation(6, &op) && accepts_operation(5, &op));
        assert!(
            !accepts_operation(7, &op),
            "an operation from an older term is ignored"
        );
    }

    #[test]
    fn misspelt_fields_are_rejected() {
        let body = r#"{"protocol_version":1,"seq":1,"status":"online",
            "metrics":{"cpu_usage":12.5,"memory_usage_percent":40.1,"disk_usage_percent":63.0,
                       "load_average":0.7,"network_rx_mbps":1.2,"network_tx_mbps":0.4,"process_count":212},
            "system":{"hostname":"h","os":"o","kernel":"k","uptime_s":1,"cpu_cores":1,
                      "memory_total_gb":1.0,"disk_total_gb":1.0}}"#;
        let err = serde_json::from_str::<HeartbeatRequest>(body).expect_err("cpu_usage");
        assert!(err.to_string().contains("cpu_usage"), "{err}");
    }
}

#[cfg(test)]
mod heartbeat_tests {
    use super::*;

    fn heartbeat() -> HeartbeatRequest {
        HeartbeatRequest {
            protocol_version: PROTOCOL_VERSION,
            seq: 1,
            status: NodeStatus::Online,
            metrics: HostMetrics {
                cpu_usage_percent: 12.5,
                memory_usage_percent: 40.0,
                disk_usage_percent: 63.0,
                load_average: 0.7,
                network_rx_mbps: 1.2,
                network_tx_mbps: 0.4,
                process_count: 212,
            },
            system: SystemInfo {
                hostname: "edge-7".into(),
                os: "Debian".into(),
                kernel: "6.12".into(),
                uptime_s: 10,
                cpu_cores: 4,
                memory_total_gb: 8.0,
                disk_total_gb: 100.0,
            },
            processes: vec![ProcessSample {
                pid: 1,
                name: "init".into(),
                user: "root".into(),
                cpu_percent: 0.1,
                memory_bytes: 1024,
            }],
            sampled_at: None,
        }
    }

    #[test]
    fn a_good_heartbeat_passes_and_maps_to_the_standard_metrics() {
        let h = heartbeat();
        assert_eq!(h.validate(), Ok(()));
        let m = h.metrics.as_map();
        assert_eq!(m.len(), 7);
        assert!((m["process_count"] - 212.0).abs() < f64::EPSILON);
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut h = heartbeat();
        h.protocol_version = 9;
        h.status = NodeStatus::Draining;
        h.metrics.cpu_usage_percent = f64::NAN;
        h.system.hostname = " ".into();
        h.system.cpu_cores = 0;
        h.processes[0].name = "bad\u{7}".into();
        h.processes[0].cpu_percent = -1.0;
        let e = h.validate().expect_err("invalid");
        for field in [
            "protocol_version",
            "status",
            "metrics.cpu_usage_percent",
            "system.hostname",
            "system.cpu_cores",
            "processes[0].name",
            "processes[0].cpu_percent",
        ] {
            assert!(e.get(field).is_some(), "{field} in {e:?}");
        }
        let mut many = heartbeat();
        many.processes = vec![many.processes[0].clone(); MAX_PROCESSES + 1];
        assert!(
            many.validate()
                .expect_err("too many")
                .get("processes")
                .is_some()
        );
    }
}
