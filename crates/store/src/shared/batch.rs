//! What a heartbeat batch writes and reads in few statements: what it needs
//! of its nodes and clusters comes back as one JSON value rather than a row
//! per node, and each backend writes its rows in as few statements as it can
//! (`write_batch` in each dialect).

use muster_domain::protocol::{ProcessSample, SystemInfo};
use muster_domain::{HealthStatus, NodeStatus};
use serde::{Deserialize, Serialize};

/// A node row as one heartbeat leaves it. `T` is the backend's time type.
pub(crate) struct NodeRow<'a, T> {
    pub id: &'a str,
    pub at: T,
    pub seq: i64,
    pub cpu: f64,
    pub mem: f64,
    pub disk: f64,
    pub sampled: T,
    pub system: &'a SystemInfo,
    pub processes: &'a [ProcessSample],
    pub status: &'static str,
    pub health: &'static str,
}

/// The keys of a [`SampleRow`]'s JSON object: where it was taken, then the
/// standard metrics, each under its own name.
pub(crate) fn sample_columns() -> Vec<&'static str> {
    ["cluster", "node", "at"]
        .into_iter()
        .chain(muster_domain::metrics::STANDARD_METRICS)
        .collect()
}

/// One heartbeat's sample: one row, as a JSON object of [`sample_columns`].
pub(crate) struct SampleRow<'a, T> {
    pub cluster: &'a str,
    pub node: &'a str,
    pub at: T,
    pub metrics: [(&'static str, f64); 7],
}

impl<T: Serialize> Serialize for SampleRow<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(Some(3 + self.metrics.len()))?;
        map.serialize_entry("cluster", self.cluster)?;
        map.serialize_entry("node", self.node)?;
        map.serialize_entry("at", &self.at)?;
        for (name, value) in &self.metrics {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// The statement that marks delivered, at `now`, the pending agent-side
/// operations of the nodes `nodes` (a condition on `node_id`) and returns
/// them for the heartbeat answers. The status test is written as the partial
/// index's, so that index (nearly always empty) answers it.
pub(crate) fn deliver_pending(now: &str, nodes: &str) -> String {
    format!(
        "UPDATE operations SET status = 'delivered', delivered_at = {now}
         WHERE status IN ('pending', 'delivered') AND status = 'pending' AND {nodes}
         RETURNING id, node_id, operation, params, forced, term"
    )
}

/// What a batch needs of a node before writing its heartbeats, read from an
/// array `[id, cluster_id, status, health_status, last_seq]`.
#[derive(Deserialize)]
pub(crate) struct NodeState {
    pub id: String,
    pub cluster_id: String,
    pub status: NodeStatus,
    pub health: HealthStatus,
    pub last_seq: Option<i64>,
}

/// What a batch needs of a cluster to judge and answer heartbeats, read from
/// an array `[id, term, primary_node_id, coordinator_node_id, interval_s]`.
#[derive(Deserialize)]
pub(crate) struct ClusterState {
    pub id: String,
    pub term: u64,
    pub primary: Option<String>,
    pub coordinator: Option<String>,
    /// The cluster's health check interval in seconds.
    pub interval_s: u32,
}

/// A process as a node's `processes` column holds it:
/// `[pid, name, user, cpu_percent, memory_bytes]`.
type StoredProcess<'a> = (u32, &'a str, &'a str, f64, u64);

/// A node's process list as its `processes` column holds it: a JSON array of
/// [`StoredProcess`] arrays. The list is rewritten at every heartbeat; without
/// the field names it is under half the size, so a node row stays small (on
/// PostgreSQL, small enough never to be moved out of line and compressed).
pub(crate) fn stored_processes(list: &[ProcessSample]) -> String {
    let rows: Vec<StoredProcess<'_>> = list
        .iter()
        .map(|p| {
            (
                p.pid,
                p.name.as_str(),
                p.user.as_str(),
                p.cpu_percent,
                p.memory_bytes,
            )
        })
        .collect();
    json_param(&rows)
}

/// Reads a `processes` column: arrays as [`stored_processes`] writes them, or
/// the objects rows written before it hold.
pub(crate) fn parse_processes(text: &str) -> Result<Vec<ProcessSample>, crate::StoreError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Row(u32, String, String, f64, u64),
        Object(ProcessSample),
    }
    let stored: Vec<Stored> =
        serde_json::from_str(text).map_err(|e| crate::StoreError::corrupt("processes", e))?;
    Ok(stored
        .into_iter()
        .map(|p| match p {
            Stored::Row(pid, name, user, cpu_percent, memory_bytes) => ProcessSample {
                pid,
                name,
                user,
                cpu_percent,
                memory_bytes,
            },
            Stored::Object(p) => p,
        })
        .collect())
}

/// Reads one of the JSON arrays of arrays the slim reads return.
pub(crate) fn parse_states<T: for<'de> Deserialize<'de>>(
    what: &'static str,
    text: &str,
) -> Result<Vec<T>, crate::StoreError> {
    serde_json::from_str(text).map_err(|e| crate::StoreError::corrupt(what, e))
}

/// A statement's JSON parameter, bound as text (SQLite's JSON functions read
/// text; PostgreSQL casts it with `::json`).
pub(crate) fn json_param<T: Serialize + ?Sized>(v: &T) -> String {
    // Plain data serialises without error (a non-finite number becomes null).
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<ProcessSample> {
        vec![
            ProcessSample {
                pid: 1,
                name: "init \"quoted\" ünïcode".into(),
                user: "root".into(),
                cpu_percent: 2.099_999_999_999_999_6,
                memory_bytes: u64::MAX,
            },
            ProcessSample {
                pid: u32::MAX,
                name: "worker".into(),
                user: "app".into(),
                cpu_percent: 0.0,
                memory_bytes: 0,
            },
        ]
    }

    #[test]
    fn processes_are_stored_as_arrays_and_read_back() {
        let list = sample();
        let text = stored_processes(&list);
        assert!(text.starts_with("[[1,"), "{text}");
        assert!(!text.contains("memory_bytes"), "{text}");
        assert_eq!(parse_processes(&text).ok(), Some(list));
        assert_eq!(parse_processes("[]").ok(), Some(Vec::new()));
    }

    #[test]
    fn processes_stored_as_objects_still_read() {
        let list = sample();
        let objects = serde_json::to_string(&list).unwrap_or_default();
        assert!(objects.contains("memory_bytes"));
        assert_eq!(parse_processes(&objects).ok(), Some(list));
    }

    #[test]
    fn a_damaged_process_list_is_an_error_naming_the_column() {
        for text in ["", "{}", "[[1, \"a\"]]", "[{\"pid\": -1}]"] {
            let err = parse_processes(text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("processes"), "{text}: {err}");
        }
    }
}
