//! The agent protocol's heartbeat body (DESIGN.md §3), a documented contract so
//! others can write agents. Unknown fields are rejected so a typo in a third-party
//! agent is reported instead of silently dropped.

use serde::{Deserialize, Serialize};

use crate::node::NodeStatus;

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
