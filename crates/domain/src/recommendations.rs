//! Recommendations: what an operator should look at in a cluster, with a
//! severity and the nodes concerned (DESIGN.md §4, Recommendations).
//!
//! Decisions where the design is open:
//! * Usage checks (CPU > 80 %, memory > 85 %, disk > 90 %) look only at running
//!   nodes with a fresh sample; a stale sample says nothing about now.
//! * Unreachable nodes get their own recommendation beside the offline one.
//! * A cluster without nodes gets one recommendation (add nodes) instead of a
//!   list of consequences of having none.
//! * Disk forecasts fit a least-squares line to the node's disk usage over the
//!   history given; they need at least 3 points over at least 10 minutes and
//!   speak when the line reaches 100 % within 7 days (error within 1 day).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::health::{QuorumStatus, STALE_AFTER_INTERVALS, UsageSample, health_breakdown, quorum};
use crate::ids::NodeId;
use crate::model::Severity;
use crate::node::{HealthStatus, NodeStatus};

pub const HIGH_CPU_PERCENT: f64 = 80.0;
pub const HIGH_MEMORY_PERCENT: f64 = 85.0;
pub const HIGH_DISK_PERCENT: f64 = 90.0;
pub const LOW_SCORE: f64 = 0.7;
pub const VERY_LOW_SCORE: f64 = 0.3;
pub const CAPACITY_WARNING_RATIO: f64 = 0.9;
pub const FORECAST_HORIZON_DAYS: i64 = 7;
pub const FORECAST_URGENT_HOURS: i64 = 24;
pub const FORECAST_MIN_POINTS: usize = 3;
pub const FORECAST_MIN_SPAN_MINUTES: i64 = 10;

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    RecommendationKind, "kind" {
        NoNodes => "no_nodes",
        NodesOffline => "nodes_offline",
        NodesUnreachable => "nodes_unreachable",
        HighCpu => "high_cpu",
        HighMemory => "high_memory",
        HighDisk => "high_disk",
        NoPrimary => "no_primary",
        NoCoordinator => "no_coordinator",
        LowHealthScore => "low_health_score",
        FewNodesOnline => "few_nodes_online",
        Partition => "partition",
        NearCapacity => "near_capacity",
        DiskFullForecast => "disk_full_forecast",
    }
);

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub kind: RecommendationKind,
    pub severity: Severity,
    pub message: String,
    pub node_ids: Vec<NodeId>,
}

/// A node as the recommendations see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSnapshot {
    pub id: NodeId,
    pub status: NodeStatus,
    pub health: HealthStatus,
    pub is_primary: bool,
    pub is_coordinator: bool,
    pub usage: Option<UsageSample>,
}

/// Everything the recommendations look at.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSnapshot<'a> {
    pub nodes: &'a [NodeSnapshot],
    pub max_nodes: u32,
    pub now: DateTime<Utc>,
    pub interval_s: u32,
    /// Disk usage history per node, oldest first: (time, percent).
    pub disk_history: &'a [(NodeId, DiskHistory)],
}

fn severity_rank(s: Severity) -> u8 {
    match s {
        Severity::Debug => 0,
        Severity::Info => 1,
        Severity::Warning => 2,
        Severity::Error => 3,
        Severity::Critical => 4,
    }
}

/// A node's disk usage over time, oldest first: (time, percent).
pub type DiskHistory = Vec<(DateTime<Utc>, f64)>;

fn is_up(n: &NodeSnapshot) -> bool {
    matches!(n.status, NodeStatus::Online | NodeStatus::Draining)
}

fn rec(
    kind: RecommendationKind,
    severity: Severity,
    message: String,
    node_ids: Vec<NodeId>,
) -> Recommendation {
    Recommendation {
        kind,
        severity,
        message,
        node_ids,
    }
}

fn ids_where(nodes: &[&NodeSnapshot], pred: impl Fn(&NodeSnapshot) -> bool) -> Vec<NodeId> {
    nodes
        .iter()
        .filter(|n| pred(n))
        .map(|n| n.id.clone())
        .collect()
}

/// The recommendations for a cluster, most severe first.
#[must_use]
pub fn recommendations(c: &ClusterSnapshot<'_>) -> Vec<Recommendation> {
    let live: Vec<&NodeSnapshot> = c
        .nodes
        .iter()
        .filter(|n| n.status != NodeStatus::Decommissioned)
        .collect();
    if live.is_empty() {
        return vec![rec(
            RecommendationKind::NoNodes,
            Severity::Info,
            "Cluster has no nodes - add nodes to bring it online".into(),
            vec![],
        )];
    }
    let mut out = Vec::new();
    liveness(&live, &mut out);
    usage(c, &live, &mut out);
    leaders(&live, &mut out);
    score_and_quorum(c.nodes, &live, &mut out);
    let held = u32::try_from(live.len()).unwrap_or(u32::MAX);
    if c.max_nodes > 0 && f64::from(held) >= CAPACITY_WARNING_RATIO * f64::from(c.max_nodes) {
        out.push(rec(
            RecommendationKind::NearCapacity,
            Severity::Info,
            format!("Cluster is at {held}/{} nodes - plan capacity", c.max_nodes),
            vec![],
        ));
    }
    forecasts(c, &mut out);
    out.sort_by_key(|r| std::cmp::Reverse(severity_rank(r.severity)));
    out
}

fn liveness(live: &[&NodeSnapshot], out: &mut Vec<Recommendation>) {
    let offline = ids_where(live, |n| n.status == NodeStatus::Offline);
    if !offline.is_empty() {
        let message = format!(
            "{} node(s) are offline and should be investigated",
            offline.len()
        );
        out.push(rec(
            RecommendationKind::NodesOffline,
            Severity::Error,
            message,
            offline,
        ));
    }
    let unreachable = ids_where(live, |n| n.status == NodeStatus::Unreachable);
    if !unreachable.is_empty() {
        let message = format!("{} node(s) are unreachable", unreachable.len());
        out.push(rec(
            RecommendationKind::NodesUnreachable,
            Severity::Warning,
            message,
            unreachable,
        ));
    }
}

/// Reads one resource's usage out of a sample.
type Reading = fn(&UsageSample) -> f64;

fn usage(c: &ClusterSnapshot<'_>, live: &[&NodeSnapshot], out: &mut Vec<Recommendation>) {
    let fresh = |n: &NodeSnapshot| -> Option<UsageSample> {
        let window = Duration::seconds(STALE_AFTER_INTERVALS * i64::from(c.interval_s));
        n.usage.filter(|u| is_up(n) && c.now - u.at <= window)
    };
    let checks: [(RecommendationKind, &str, f64, Reading); 3] = [
        (RecommendationKind::HighCpu, "CPU", HIGH_CPU_PERCENT, |u| {
            u.cpu_percent
        }),
        (
            RecommendationKind::HighMemory,
            "memory",
            HIGH_MEMORY_PERCENT,
            |u| u.memory_percent,
        ),
        (
            RecommendationKind::HighDisk,
            "disk",
            HIGH_DISK_PERCENT,
            |u| u.disk_percent,
        ),
    ];
    for (kind, what, limit, value) in checks {
        let high = ids_where(live, |n| fresh(n).is_some_and(|u| value(&u) > limit));
        if !high.is_empty() {
            let message = format!("{} node(s) have high {what} usage (>{limit}%)", high.len());
            out.push(rec(kind, Severity::Warning, message, high));
        }
    }
}

fn leaders(live: &[&NodeSnapshot], out: &mut Vec<Recommendation>) {
    if !live.iter().any(|n| n.is_primary && is_up(n)) {
        out.push(rec(
            RecommendationKind::NoPrimary,
            Severity::Error,
            "No online primary node found - cluster coordination may be affected".into(),
            ids_where(live, |n| n.is_primary),
        ));
    }
    if !live.iter().any(|n| n.is_coordinator && is_up(n)) {
        out.push(rec(
            RecommendationKind::NoCoordinator,
            Severity::Warning,
            "No online coordinator node found - cluster management may be affected".into(),
            ids_where(live, |n| n.is_coordinator),
        ));
    }
}

fn score_and_quorum(nodes: &[NodeSnapshot], live: &[&NodeSnapshot], out: &mut Vec<Recommendation>) {
    let conditions: Vec<_> = nodes
        .iter()
        .map(|n| crate::health::NodeCondition {
            status: n.status,
            health: n.health,
        })
        .collect();
    let b = health_breakdown(&conditions);
    if b.counted == 0 {
        return;
    }
    if b.score < LOW_SCORE {
        let severity = if b.score < VERY_LOW_SCORE {
            Severity::Error
        } else {
            Severity::Warning
        };
        let message = format!("Cluster health score is low ({:.2})", b.score);
        out.push(rec(
            RecommendationKind::LowHealthScore,
            severity,
            message,
            vec![],
        ));
    }
    let not_up = ids_where(live, |n| {
        !is_up(n)
            && !matches!(
                n.status,
                NodeStatus::Maintenance | NodeStatus::Decommissioned
            )
    });
    if 2 * b.online < b.counted {
        let message = format!(
            "Less than 50% of nodes are online ({}/{})",
            b.online, b.counted
        );
        out.push(rec(
            RecommendationKind::FewNodesOnline,
            Severity::Error,
            message,
            not_up.clone(),
        ));
    }
    match quorum(b.counted, b.online) {
        QuorumStatus::MinorityPartition => out.push(rec(
            RecommendationKind::Partition,
            Severity::Critical,
            format!(
                "Cluster has lost quorum: {} of {} nodes are online (minority partition)",
                b.online, b.counted
            ),
            not_up,
        )),
        QuorumStatus::PartialPartition => out.push(rec(
            RecommendationKind::Partition,
            Severity::Warning,
            format!(
                "Cluster is partially partitioned: {} of {} nodes are online",
                b.online, b.counted
            ),
            not_up,
        )),
        QuorumStatus::Healthy => {}
    }
}

fn forecasts(c: &ClusterSnapshot<'_>, out: &mut Vec<Recommendation>) {
    for (node, history) in c.disk_history {
        let Some(full_at) = disk_full_at(history) else {
            continue;
        };
        let left = full_at - c.now;
        if left > Duration::days(FORECAST_HORIZON_DAYS) {
            continue;
        }
        let severity = if left <= Duration::hours(FORECAST_URGENT_HOURS) {
            Severity::Error
        } else {
            Severity::Warning
        };
        let when = if left <= Duration::zero() {
            "now".to_owned()
        } else if left < Duration::hours(48) {
            format!("in about {} hour(s)", left.num_hours().max(1))
        } else {
            format!("in about {} days", left.num_days())
        };
        out.push(rec(
            RecommendationKind::DiskFullForecast,
            severity,
            format!("Disk on {node} is forecast to be full {when}"),
            vec![node.clone()],
        ));
    }
}

/// When a least-squares line through `history` reaches 100 %, if it rises and
/// the history is long enough to say.
#[must_use]
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
pub fn disk_full_at(history: &[(DateTime<Utc>, f64)]) -> Option<DateTime<Utc>> {
    let points: Vec<(DateTime<Utc>, f64)> = history
        .iter()
        .copied()
        .filter(|(_, v)| v.is_finite())
        .collect();
    let (first, last) = (points.first()?.0, points.last()?.0);
    if points.len() < FORECAST_MIN_POINTS
        || last - first < Duration::minutes(FORECAST_MIN_SPAN_MINUTES)
    {
        return None;
    }
    let xs: Vec<f64> = points
        .iter()
        .map(|(t, _)| (*t - first).num_milliseconds() as f64 / 1000.0)
        .collect();
    let n = points.len() as f64;
    let mean_x = xs.iter().sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, v)| v).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, (_, y)) in xs.iter().zip(&points) {
        sxy += (x - mean_x) * (y - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx; // percent per second
    if slope <= 0.0 {
        return None;
    }
    let intercept = mean_y - slope * mean_x;
    let seconds_from_first = (100.0 - intercept) / slope;
    if !seconds_from_first.is_finite() || seconds_from_first > 1e10 {
        return None;
    }
    Some(first + Duration::milliseconds((seconds_from_first * 1000.0) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClusterId;
    use chrono::TimeZone;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("time")
    }

    fn id(seq: u32) -> NodeId {
        let c = ClusterId::parse("cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8").expect("id");
        NodeId::generate(&c, seq, &mut StdRng::seed_from_u64(u64::from(seq)))
    }

    fn node(seq: u32, status: NodeStatus, usage: (f64, f64, f64)) -> NodeSnapshot {
        NodeSnapshot {
            id: id(seq),
            status,
            health: HealthStatus::Healthy,
            is_primary: seq == 1,
            is_coordinator: seq == 2,
            usage: Some(UsageSample {
                cpu_percent: usage.0,
                memory_percent: usage.1,
                disk_percent: usage.2,
                at: now() - Duration::seconds(5),
            }),
        }
    }

    fn run(nodes: &[NodeSnapshot], max_nodes: u32) -> Vec<Recommendation> {
        recommendations(&ClusterSnapshot {
            nodes,
            max_nodes,
            now: now(),
            interval_s: 10,
            disk_history: &[],
        })
    }

    fn kinds(r: &[Recommendation]) -> Vec<RecommendationKind> {
        r.iter().map(|r| r.kind).collect()
    }

    #[test]
    fn a_healthy_cluster_has_nothing_to_say() {
        let nodes: Vec<_> = (1..=3)
            .map(|s| node(s, NodeStatus::Online, (10.0, 10.0, 10.0)))
            .collect();
        assert_eq!(run(&nodes, 20), vec![]);
    }

    #[test]
    fn usage_thresholds_are_strict_and_name_the_nodes() {
        let nodes = vec![
            node(1, NodeStatus::Online, (80.0, 85.0, 90.0)),
            node(2, NodeStatus::Online, (80.1, 85.1, 90.1)),
            node(3, NodeStatus::Offline, (99.0, 99.0, 99.0)),
        ];
        let r = run(&nodes, 20);
        let cpu = r
            .iter()
            .find(|r| r.kind == RecommendationKind::HighCpu)
            .expect("cpu");
        assert_eq!(cpu.message, "1 node(s) have high CPU usage (>80%)");
        assert_eq!(cpu.node_ids, [id(2)]);
        let mem = r
            .iter()
            .find(|r| r.kind == RecommendationKind::HighMemory)
            .expect("mem");
        assert_eq!(mem.message, "1 node(s) have high memory usage (>85%)");
        let disk = r
            .iter()
            .find(|r| r.kind == RecommendationKind::HighDisk)
            .expect("disk");
        assert_eq!(disk.message, "1 node(s) have high disk usage (>90%)");
        let off = r
            .iter()
            .find(|r| r.kind == RecommendationKind::NodesOffline)
            .expect("offline");
        assert_eq!(
            off.message,
            "1 node(s) are offline and should be investigated"
        );
        assert_eq!(
            (off.severity, off.node_ids.clone()),
            (Severity::Error, vec![id(3)])
        );
    }

    #[test]
    fn stale_samples_raise_no_usage_alarm() {
        let mut n = node(1, NodeStatus::Online, (99.0, 10.0, 10.0));
        if let Some(u) = n.usage.as_mut() {
            u.at = now() - Duration::seconds(21);
        }
        let r = run(&[n, node(2, NodeStatus::Online, (1.0, 1.0, 1.0))], 20);
        assert!(!kinds(&r).contains(&RecommendationKind::HighCpu));
    }

    #[test]
    fn missing_leaders_low_score_and_partitions() {
        let mut nodes: Vec<_> = (1..=4)
            .map(|s| node(s, NodeStatus::Online, (1.0, 1.0, 1.0)))
            .collect();
        nodes[0].status = NodeStatus::Offline; // the primary
        nodes[1].status = NodeStatus::Unreachable; // the coordinator
        nodes[2].status = NodeStatus::Offline;
        let r = run(&nodes, 20);
        let messages: Vec<&str> = r.iter().map(|r| r.message.as_str()).collect();
        assert!(
            messages
                .contains(&"No online primary node found - cluster coordination may be affected")
        );
        assert!(
            messages
                .contains(&"No online coordinator node found - cluster management may be affected")
        );
        assert!(messages.contains(&"Cluster health score is low (0.25)"));
        assert!(messages.contains(&"Less than 50% of nodes are online (1/4)"));
        assert!(
            messages
                .contains(&"Cluster has lost quorum: 1 of 4 nodes are online (minority partition)")
        );
        assert!(messages.contains(&"1 node(s) are unreachable"));
        assert_eq!(r[0].severity, Severity::Critical, "most severe first");
        let score = r
            .iter()
            .find(|r| r.kind == RecommendationKind::LowHealthScore)
            .expect("score");
        assert_eq!(score.severity, Severity::Error, "below 0.3");
    }

    #[test]
    fn low_score_threshold_and_partial_partition() {
        // 3 of 4 online: score 0.75 (not low), partial partition.
        let mut nodes: Vec<_> = (1..=4)
            .map(|s| node(s, NodeStatus::Online, (1.0, 1.0, 1.0)))
            .collect();
        nodes[3].status = NodeStatus::Offline;
        let r = run(&nodes, 20);
        assert!(!kinds(&r).contains(&RecommendationKind::LowHealthScore));
        let p = r
            .iter()
            .find(|r| r.kind == RecommendationKind::Partition)
            .expect("partition");
        assert_eq!(
            p.message,
            "Cluster is partially partitioned: 3 of 4 nodes are online"
        );
        assert_eq!(p.node_ids, [id(4)]);
        // 2 of 3 with one warning node: (1 + 0.6) / 3 = 0.53 < 0.7.
        let mut nodes: Vec<_> = (1..=3)
            .map(|s| node(s, NodeStatus::Online, (1.0, 1.0, 1.0)))
            .collect();
        nodes[1].health = HealthStatus::Warning;
        nodes[2].status = NodeStatus::Offline;
        let r = run(&nodes, 20);
        let s = r
            .iter()
            .find(|r| r.kind == RecommendationKind::LowHealthScore)
            .expect("low");
        assert_eq!(
            (s.message.as_str(), s.severity),
            ("Cluster health score is low (0.53)", Severity::Warning)
        );
    }

    #[test]
    fn capacity_warning_at_ninety_percent() {
        let nodes: Vec<_> = (1..=18)
            .map(|s| node(s, NodeStatus::Online, (1.0, 1.0, 1.0)))
            .collect();
        let r = run(&nodes, 20);
        assert_eq!(
            r.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(),
            ["Cluster is at 18/20 nodes - plan capacity"]
        );
        assert!(run(&nodes[..17], 20).is_empty(), "17/20 is 85%");
    }

    #[test]
    fn an_empty_cluster_gets_one_recommendation() {
        let r = run(&[], 3);
        assert_eq!(kinds(&r), [RecommendationKind::NoNodes]);
    }

    fn history(start_percent: f64, per_hour: f64, hours: i64) -> Vec<(DateTime<Utc>, f64)> {
        (0..=hours * 6)
            .map(|i| {
                let t = now() - Duration::hours(hours) + Duration::minutes(10 * i);
                #[allow(clippy::cast_precision_loss)]
                let v = start_percent + per_hour * (i as f64) / 6.0;
                (t, v)
            })
            .collect()
    }

    #[test]
    fn disk_forecasts_from_the_trend() {
        // 50 % rising 1 %/h over the last 10 h: 60 % now, full in 40 h.
        let h = history(50.0, 1.0, 10);
        let full = disk_full_at(&h).expect("rising");
        assert_eq!((full - now()).num_hours(), 40);
        let nodes = vec![
            node(1, NodeStatus::Online, (1.0, 1.0, 60.0)),
            node(2, NodeStatus::Online, (1.0, 1.0, 1.0)),
        ];
        let hist = vec![(id(1), h)];
        let r = recommendations(&ClusterSnapshot {
            nodes: &nodes,
            max_nodes: 20,
            now: now(),
            interval_s: 10,
            disk_history: &hist,
        });
        let f = r
            .iter()
            .find(|r| r.kind == RecommendationKind::DiskFullForecast)
            .expect("forecast");
        assert_eq!(
            f.message,
            format!(
                "Disk on {} is forecast to be full in about 40 hour(s)",
                id(1)
            )
        );
        assert_eq!(f.severity, Severity::Warning);
        // Falling or flat usage, or too little history, forecasts nothing.
        assert_eq!(disk_full_at(&history(50.0, -1.0, 10)), None);
        assert_eq!(disk_full_at(&history(50.0, 0.0, 10)), None);
        assert_eq!(disk_full_at(&history(50.0, 1.0, 0)), None);
        // Slow growth beyond the horizon: 0.1 %/h from 50 % is 19 days away.
        let slow = vec![(id(1), history(50.0, 0.1, 10))];
        let r = recommendations(&ClusterSnapshot {
            nodes: &nodes,
            max_nodes: 20,
            now: now(),
            interval_s: 10,
            disk_history: &slow,
        });
        assert!(!kinds(&r).contains(&RecommendationKind::DiskFullForecast));
    }
}
