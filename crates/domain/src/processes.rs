//! The process list: each node's top processes as its latest heartbeat
//! reported them, listed across a cluster (or for one node) with a name
//! filter, an order and keyset pages.
//!
//! Decisions where the design is open:
//! * A list covers one cluster or one node: the rows come from each node's
//!   latest report, so a fleet-wide list would read every node's report for
//!   each page.
//! * The cursor is the last row's sort key and identity; a page after it
//!   starts strictly after that row in the same order, so rows that arrive
//!   or leave between pages never repeat or shift the rest.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::errors::FieldErrors;
use crate::ids::{ClusterId, NodeId};
use crate::protocol::ProcessSample;
use crate::query::{Page, page_size};

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    ProcessSort, "sort" {
        Cpu => "cpu",
        Memory => "memory",
        Name => "name",
        Pid => "pid",
        Node => "node",
    }
);

/// A list needs a cluster or a node.
pub const SCOPE_REQUIRED: &str = "cluster_id or node_id is required";

/// Which processes to list and how.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessQuery {
    pub cluster_id: Option<ClusterId>,
    pub node_id: Option<NodeId>,
    /// Part of the process name or user, any case.
    pub q: Option<String>,
    /// Highest first for `cpu` and `memory`, A to Z otherwise; `cpu` when absent.
    pub sort: Option<ProcessSort>,
    pub cursor: Option<String>,
    pub limit: u32,
}

impl ProcessQuery {
    /// # Errors
    /// When neither a cluster nor a node is named, or the filter is too long.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.cluster_id.is_none() && self.node_id.is_none() {
            errors.add("cluster_id", SCOPE_REQUIRED);
        }
        if self.q.as_ref().is_some_and(|q| q.chars().count() > 100) {
            errors.add("q", "q must be at most 100 characters");
        }
        errors.into_result()
    }
}

/// One node's latest report of its top processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeProcesses {
    pub node_id: NodeId,
    pub node_name: String,
    pub cluster_id: ClusterId,
    pub reported_at: Option<DateTime<Utc>>,
    pub processes: Vec<ProcessSample>,
}

/// A process in the list, with the node that runs it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRow {
    pub node_id: NodeId,
    pub node_name: String,
    pub cluster_id: ClusterId,
    pub pid: u32,
    pub name: String,
    pub user: String,
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub reported_at: Option<DateTime<Utc>>,
}

/// Where a row stands in an order: the sort key, then node and pid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Position {
    key: Key,
    node: String,
    pid: u32,
}

#[derive(Debug, Clone, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(untagged)]
enum Key {
    Number(f64),
    Text(String),
}

impl Key {
    /// Whether a cursor with this key can belong to a list in `sort` order.
    fn suits(&self, sort: ProcessSort) -> bool {
        match self {
            Self::Text(_) => matches!(sort, ProcessSort::Name | ProcessSort::Node),
            Self::Number(_) => !matches!(sort, ProcessSort::Name | ProcessSort::Node),
        }
    }
}

fn position(row: &ProcessRow, sort: ProcessSort) -> Position {
    let key = match sort {
        ProcessSort::Cpu => Key::Number(row.cpu_percent),
        #[allow(clippy::cast_precision_loss)] // a rank, not arithmetic
        ProcessSort::Memory => Key::Number(row.memory_bytes as f64),
        ProcessSort::Pid => Key::Number(f64::from(row.pid)),
        ProcessSort::Name => Key::Text(row.name.to_lowercase()),
        ProcessSort::Node => Key::Text(row.node_name.to_lowercase()),
    };
    Position {
        key,
        node: row.node_id.to_string(),
        pid: row.pid,
    }
}

/// The order of two positions: by key (highest first for CPU and memory),
/// then node, then pid.
fn order(a: &Position, b: &Position, sort: ProcessSort) -> std::cmp::Ordering {
    let by_key = a
        .key
        .partial_cmp(&b.key)
        .unwrap_or(std::cmp::Ordering::Equal);
    let by_key = match sort {
        ProcessSort::Cpu | ProcessSort::Memory => by_key.reverse(),
        _ => by_key,
    };
    by_key
        .then_with(|| a.node.cmp(&b.node))
        .then_with(|| a.pid.cmp(&b.pid))
}

fn encode(p: &Position) -> String {
    use std::fmt::Write as _;
    let json = serde_json::to_vec(p).unwrap_or_default();
    json.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn decode(cursor: &str) -> Option<Position> {
    if !cursor.len().is_multiple_of(2) || cursor.len() > 2048 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect();
    serde_json::from_slice(&bytes?).ok()
}

/// The page of `reports`' processes that `query` asks for.
///
/// # Errors
/// A cursor that this list did not hand out.
pub fn process_page(
    reports: Vec<NodeProcesses>,
    query: &ProcessQuery,
) -> Result<Page<ProcessRow>, FieldErrors> {
    let sort = query.sort.unwrap_or(ProcessSort::Cpu);
    let after =
        match &query.cursor {
            Some(c) => Some(decode(c).filter(|p| p.key.suits(sort)).ok_or_else(|| {
                FieldErrors::single("cursor", "cursor is not one this list gave")
            })?),
            None => None,
        };
    let needle = query
        .q
        .as_deref()
        .map(str::to_lowercase)
        .filter(|q| !q.trim().is_empty());
    let mut rows: Vec<(Position, ProcessRow)> = reports
        .into_iter()
        .filter(|r| query.node_id.as_ref().is_none_or(|n| n == &r.node_id))
        .flat_map(|r| {
            let NodeProcesses {
                node_id,
                node_name,
                cluster_id,
                reported_at,
                processes,
            } = r;
            processes.into_iter().map(move |p| ProcessRow {
                node_id: node_id.clone(),
                node_name: node_name.clone(),
                cluster_id: cluster_id.clone(),
                pid: p.pid,
                name: p.name,
                user: p.user,
                cpu_percent: p.cpu_percent,
                memory_bytes: p.memory_bytes,
                reported_at,
            })
        })
        .filter(|row| {
            needle.as_ref().is_none_or(|q| {
                row.name.to_lowercase().contains(q.as_str())
                    || row.user.to_lowercase().contains(q.as_str())
            })
        })
        .map(|row| (position(&row, sort), row))
        .filter(|(p, _)| {
            after
                .as_ref()
                .is_none_or(|a| order(p, a, sort) == std::cmp::Ordering::Greater)
        })
        .collect();
    rows.sort_by(|a, b| order(&a.0, &b.0, sort));
    let limit = page_size((query.limit > 0).then_some(query.limit)) as usize;
    let next_cursor = (rows.len() > limit).then(|| encode(&rows[limit - 1].0));
    rows.truncate(limit);
    Ok(Page {
        items: rows.into_iter().map(|(_, row)| row).collect(),
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(n: u32, processes: &[(u32, &str, f64, u64)]) -> NodeProcesses {
        NodeProcesses {
            node_id: format!("node-a1b2c3d4-2026-01-21-{n}-abcdefgh")
                .parse()
                .expect("node id"),
            node_name: format!("node {n}"),
            cluster_id: "cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8"
                .parse()
                .expect("cluster id"),
            reported_at: None,
            processes: processes
                .iter()
                .map(|(pid, name, cpu, mem)| ProcessSample {
                    pid: *pid,
                    name: (*name).into(),
                    user: "root".into(),
                    cpu_percent: *cpu,
                    memory_bytes: *mem,
                })
                .collect(),
        }
    }

    fn fleet() -> Vec<NodeProcesses> {
        vec![
            report(
                1,
                &[
                    (10, "postgres", 40.0, 900),
                    (11, "nginx", 5.0, 100),
                    (12, "sshd", 0.0, 10),
                ],
            ),
            report(2, &[(10, "postgres", 40.0, 800), (20, "java", 90.0, 5000)]),
        ]
    }

    fn query(sort: Option<ProcessSort>, limit: u32) -> ProcessQuery {
        ProcessQuery {
            cluster_id: Some(
                "cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8"
                    .parse()
                    .expect("id"),
            ),
            sort,
            limit,
            ..ProcessQuery::default()
        }
    }

    fn walk(q: &ProcessQuery) -> Vec<(String, u32)> {
        let mut q = q.clone();
        let mut seen = Vec::new();
        loop {
            let page = process_page(fleet(), &q).expect("page");
            seen.extend(page.items.iter().map(|r| (r.node_name.clone(), r.pid)));
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => return seen,
            }
        }
    }

    #[test]
    fn the_busiest_come_first_and_pages_neither_repeat_nor_skip() {
        let all = walk(&query(None, 2));
        assert_eq!(
            all,
            vec![
                ("node 2".into(), 20),
                ("node 1".into(), 10),
                ("node 2".into(), 10),
                ("node 1".into(), 11),
                ("node 1".into(), 12),
            ],
            "CPU highest first; ties by node then pid"
        );
        for sort in [
            ProcessSort::Memory,
            ProcessSort::Name,
            ProcessSort::Pid,
            ProcessSort::Node,
        ] {
            let paged = walk(&query(Some(sort), 2));
            assert_eq!(
                paged,
                walk(&query(Some(sort), 100)),
                "{sort:?}: pages add up to the whole list"
            );
            assert_eq!(paged.len(), 5);
        }
        let names: Vec<String> = process_page(fleet(), &query(Some(ProcessSort::Name), 10))
            .expect("page")
            .items
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["java", "nginx", "postgres", "postgres", "sshd"]);
    }

    #[test]
    fn filters_by_name_or_user_and_by_node_and_refuses_foreign_cursors() {
        let mut q = query(None, 10);
        q.q = Some("POST".into());
        let page = process_page(fleet(), &q).expect("page");
        assert_eq!(page.items.len(), 2);
        assert!(page.items.iter().all(|r| r.name == "postgres"));

        q.q = None;
        q.node_id = Some(fleet()[1].node_id.clone());
        let page = process_page(fleet(), &q).expect("page");
        assert_eq!(page.items.len(), 2);

        q.cursor = Some("zz".into());
        let e = process_page(fleet(), &q).expect_err("not a cursor");
        assert_eq!(e.get("cursor"), Some("cursor is not one this list gave"));
        let name_cursor = process_page(fleet(), &query(Some(ProcessSort::Name), 1))
            .expect("page")
            .next_cursor
            .expect("more");
        let mut cpu = query(Some(ProcessSort::Cpu), 1);
        cpu.cursor = Some(name_cursor);
        assert!(
            process_page(fleet(), &cpu).is_err(),
            "a cursor of another order"
        );

        assert!(
            ProcessQuery::default().validate().is_err(),
            "a cluster or node is needed"
        );
    }
}
