//! The agent protocol's heartbeat body (DESIGN.md §3), a documented contract so
//! others can write agents. Unknown fields are rejected so a typo in a third-party
//! agent is reported instead of silently dropped.

use serde::{Deserialize, Serialize};

use crate::ids::{ClusterId, NodeId};
use crate::node::NodeStatus;
use crate::operations::OperationName;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Most processes a heartbeat may carry.
pub const MAX_PROCESSES: usize = 20;

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
}

/// One sample of the standard metrics.
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSample {
    pub pid: u32,
    pub name: String,
    pub user: String,
    pub cpu_percent: f64,
    pub memory_bytes: u64,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub protocol_version: u32,
    pub cluster_id: ClusterId,
    pub node_id: NodeId,
    /// Shown once; the server keeps only its hash.
    pub node_token: String,
    pub interval_s: u32,
}

/// The node's place in the cluster, sent back with every heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRole {
    pub is_primary: bool,
    pub is_coordinator: bool,
}

/// An agent-side operation delivered in a heartbeat response. Agents refuse
/// operations stamped with a term older than the newest they have seen.
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
