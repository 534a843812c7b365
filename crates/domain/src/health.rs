//! Node health, the cluster health score with its breakdown, the cluster's
//! status and its quorum (DESIGN.md §4).
//!
//! Decisions where the design is open:
//! * Thresholds are strict: CPU at exactly 70 % is healthy, above is a warning.
//! * A sample with a non-finite value is treated as no sample: `unknown`.
//! * A `draining` node is still running: it counts with its health weight and as
//!   online for quorum, like an `online` node.
//! * With no counted node, the quorum rule as written (2·O ≤ E) gives
//!   `minority_partition`: a cluster with no nodes has no quorum.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::ClusterStatus;
use crate::node::{HealthStatus, NodeStatus};

/// Usage thresholds in percent: (warning above, critical above).
pub const CPU_THRESHOLDS: (f64, f64) = (70.0, 90.0);
pub const MEMORY_THRESHOLDS: (f64, f64) = (80.0, 90.0);
pub const DISK_THRESHOLDS: (f64, f64) = (80.0, 95.0);

/// A sample older than this many intervals says nothing about the node now.
pub const STALE_AFTER_INTERVALS: i64 = 2;

/// Score weights per node condition.
pub const WEIGHT_HEALTHY: f64 = 1.0;
pub const WEIGHT_WARNING: f64 = 0.6;
pub const WEIGHT_UNKNOWN: f64 = 0.5;
pub const WEIGHT_CRITICAL: f64 = 0.2;
pub const WEIGHT_DOWN: f64 = 0.0;

/// Score at or above which a cluster is `active`, and `degraded`.
pub const ACTIVE_AT: f64 = 0.9;
pub const DEGRADED_AT: f64 = 0.3;

/// The latest usage sample of a node, in percent of its capacity.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UsageSample {
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub disk_percent: f64,
    pub at: DateTime<Utc>,
}

fn level(value: f64, (warning, critical): (f64, f64)) -> HealthStatus {
    if value > critical {
        HealthStatus::Critical
    } else if value > warning {
        HealthStatus::Warning
    } else {
        HealthStatus::Healthy
    }
}

/// Severity order of health values, worst last.
#[must_use]
pub fn health_rank(h: HealthStatus) -> u8 {
    match h {
        HealthStatus::Healthy => 0,
        HealthStatus::Warning => 1,
        HealthStatus::Unknown => 2,
        HealthStatus::Critical => 3,
    }
}

/// A node's health from its latest sample: the worst resource wins; no sample,
/// a stale one, or one with non-finite values is `unknown`, never `healthy`.
#[must_use]
pub fn node_health(
    sample: Option<&UsageSample>,
    now: DateTime<Utc>,
    interval_s: u32,
) -> HealthStatus {
    let Some(s) = sample else {
        return HealthStatus::Unknown;
    };
    if now - s.at > Duration::seconds(STALE_AFTER_INTERVALS * i64::from(interval_s)) {
        return HealthStatus::Unknown;
    }
    if ![s.cpu_percent, s.memory_percent, s.disk_percent]
        .iter()
        .all(|v| v.is_finite())
    {
        return HealthStatus::Unknown;
    }
    [
        level(s.cpu_percent, CPU_THRESHOLDS),
        level(s.memory_percent, MEMORY_THRESHOLDS),
        level(s.disk_percent, DISK_THRESHOLDS),
    ]
    .into_iter()
    .max_by_key(|h| match h {
        HealthStatus::Critical => 2,
        HealthStatus::Warning => 1,
        _ => 0,
    })
    .unwrap_or(HealthStatus::Unknown)
}

/// The part of a node the cluster-level rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCondition {
    pub status: NodeStatus,
    pub health: HealthStatus,
}

impl From<&crate::model::Node> for NodeCondition {
    fn from(node: &crate::model::Node) -> Self {
        Self {
            status: node.status,
            health: node.health_status,
        }
    }
}

impl NodeCondition {
    /// Maintenance and decommissioned nodes are left out of score and quorum.
    #[must_use]
    pub fn is_counted(self) -> bool {
        !matches!(
            self.status,
            NodeStatus::Maintenance | NodeStatus::Decommissioned
        )
    }

    /// Running and reporting: online, or draining (still serving).
    #[must_use]
    pub fn is_up(self) -> bool {
        matches!(self.status, NodeStatus::Online | NodeStatus::Draining)
    }

    #[must_use]
    pub fn weight(self) -> f64 {
        if !self.is_up() {
            return WEIGHT_DOWN;
        }
        match self.health {
            HealthStatus::Healthy => WEIGHT_HEALTHY,
            HealthStatus::Warning => WEIGHT_WARNING,
            HealthStatus::Unknown => WEIGHT_UNKNOWN,
            HealthStatus::Critical => WEIGHT_CRITICAL,
        }
    }
}

/// The cluster health score and what it is made of.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HealthBreakdown {
    /// Mean weight of the counted nodes, 0 with none; in [0, 1].
    pub score: f64,
    pub counted: u32,
    pub healthy: u32,
    pub warning: u32,
    pub unknown: u32,
    pub critical: u32,
    /// Unreachable, offline or provisioning: weight 0.
    pub down: u32,
    /// In maintenance or decommissioned: not counted.
    pub excluded: u32,
    pub online: u32,
}

#[must_use]
pub fn health_breakdown(nodes: &[NodeCondition]) -> HealthBreakdown {
    let mut b = HealthBreakdown {
        score: 0.0,
        counted: 0,
        healthy: 0,
        warning: 0,
        unknown: 0,
        critical: 0,
        down: 0,
        excluded: 0,
        online: 0,
    };
    let mut total = 0.0;
    for &n in nodes {
        if !n.is_counted() {
            b.excluded += 1;
            continue;
        }
        b.counted += 1;
        total += n.weight();
        if !n.is_up() {
            b.down += 1;
            continue;
        }
        b.online += 1;
        match n.health {
            HealthStatus::Healthy => b.healthy += 1,
            HealthStatus::Warning => b.warning += 1,
            HealthStatus::Unknown => b.unknown += 1,
            HealthStatus::Critical => b.critical += 1,
        }
    }
    if b.counted > 0 {
        b.score = total / f64::from(b.counted);
    }
    b
}

/// What the cluster-status rule needs besides the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterFlags {
    pub decommissioned: bool,
    /// Set by an admin.
    pub maintenance: bool,
    /// Whether any node has ever been online.
    pub ever_online: bool,
}

#[must_use]
pub fn cluster_status(score: f64, flags: ClusterFlags) -> ClusterStatus {
    if flags.decommissioned {
        ClusterStatus::Decommissioned
    } else if flags.maintenance {
        ClusterStatus::Maintenance
    } else if !flags.ever_online {
        ClusterStatus::Provisioning
    } else if score >= ACTIVE_AT {
        ClusterStatus::Active
    } else if score >= DEGRADED_AT {
        ClusterStatus::Degraded
    } else {
        ClusterStatus::Offline
    }
}

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    /// Whether the cluster's online nodes form a majority of its counted nodes.
    QuorumStatus, "quorum" {
        Healthy => "healthy",
        PartialPartition => "partial_partition",
        MinorityPartition => "minority_partition",
    }
);

/// With E counted nodes and O online ones: minority when 2·O ≤ E, partial when
/// O < E, healthy otherwise.
#[must_use]
pub fn quorum(counted: u32, online: u32) -> QuorumStatus {
    if 2 * u64::from(online) <= u64::from(counted) {
        QuorumStatus::MinorityPartition
    } else if online < counted {
        QuorumStatus::PartialPartition
    } else {
        QuorumStatus::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
            .single()
            .expect("time")
    }

    fn sample(cpu: f64, mem: f64, disk: f64) -> UsageSample {
        UsageSample {
            cpu_percent: cpu,
            memory_percent: mem,
            disk_percent: disk,
            at: now() - Duration::seconds(5),
        }
    }

    fn health(cpu: f64, mem: f64, disk: f64) -> HealthStatus {
        node_health(Some(&sample(cpu, mem, disk)), now(), 10)
    }

    #[test]
    fn each_resource_has_its_thresholds() {
        use HealthStatus::*;
        assert_eq!(health(70.0, 80.0, 80.0), Healthy);
        assert_eq!(health(70.1, 0.0, 0.0), Warning);
        assert_eq!(health(90.0, 0.0, 0.0), Warning);
        assert_eq!(health(90.1, 0.0, 0.0), Critical);
        assert_eq!(health(0.0, 80.1, 0.0), Warning);
        assert_eq!(health(0.0, 90.1, 0.0), Critical);
        assert_eq!(health(0.0, 0.0, 80.1), Warning);
        assert_eq!(health(0.0, 0.0, 95.0), Warning);
        assert_eq!(health(0.0, 0.0, 95.1), Critical);
    }

    #[test]
    fn the_worst_resource_wins() {
        assert_eq!(health(95.0, 85.0, 10.0), HealthStatus::Critical);
        assert_eq!(health(10.0, 85.0, 10.0), HealthStatus::Warning);
    }

    #[test]
    fn missing_stale_or_broken_samples_are_unknown() {
        assert_eq!(node_health(None, now(), 10), HealthStatus::Unknown);
        let mut s = sample(10.0, 10.0, 10.0);
        s.at = now() - Duration::seconds(20);
        assert_eq!(
            node_health(Some(&s), now(), 10),
            HealthStatus::Healthy,
            "exactly 2 intervals"
        );
        s.at = now() - Duration::seconds(21);
        assert_eq!(node_health(Some(&s), now(), 10), HealthStatus::Unknown);
        assert_eq!(health(f64::NAN, 0.0, 0.0), HealthStatus::Unknown);
    }

    fn node(status: NodeStatus, health: HealthStatus) -> NodeCondition {
        NodeCondition { status, health }
    }

    #[test]
    fn score_is_the_mean_weight_of_counted_nodes() {
        use HealthStatus::*;
        use NodeStatus::*;
        let nodes = [
            node(Online, Healthy),
            node(Online, Warning),
            node(Online, Unknown),
            node(Online, Critical),
            node(Unreachable, Healthy),
            node(Offline, Healthy),
            node(Provisioning, Unknown),
            node(Maintenance, Healthy),
            node(Decommissioned, Healthy),
        ];
        let b = health_breakdown(&nodes);
        assert_eq!(b.counted, 7);
        assert_eq!(b.excluded, 2);
        assert_eq!(
            (b.healthy, b.warning, b.unknown, b.critical, b.down),
            (1, 1, 1, 1, 3)
        );
        assert_eq!(b.online, 4);
        let expected = (1.0 + 0.6 + 0.5 + 0.2) / 7.0;
        assert!((b.score - expected).abs() < 1e-12, "{}", b.score);
        assert!(health_breakdown(&[]).score.abs() < f64::EPSILON);
        let draining = health_breakdown(&[node(Draining, Warning)]);
        assert!((draining.score - 0.6).abs() < 1e-12);
    }

    #[test]
    fn status_follows_flags_then_score() {
        let live = ClusterFlags {
            decommissioned: false,
            maintenance: false,
            ever_online: true,
        };
        assert_eq!(cluster_status(0.9, live), ClusterStatus::Active);
        assert_eq!(cluster_status(0.899, live), ClusterStatus::Degraded);
        assert_eq!(cluster_status(0.3, live), ClusterStatus::Degraded);
        assert_eq!(cluster_status(0.299, live), ClusterStatus::Offline);
        let new = ClusterFlags {
            ever_online: false,
            ..live
        };
        assert_eq!(cluster_status(1.0, new), ClusterStatus::Provisioning);
        let maint = ClusterFlags {
            maintenance: true,
            ..new
        };
        assert_eq!(cluster_status(1.0, maint), ClusterStatus::Maintenance);
        let gone = ClusterFlags {
            decommissioned: true,
            ..maint
        };
        assert_eq!(cluster_status(1.0, gone), ClusterStatus::Decommissioned);
    }

    #[test]
    fn quorum_rule() {
        assert_eq!(quorum(5, 5), QuorumStatus::Healthy);
        assert_eq!(quorum(5, 3), QuorumStatus::PartialPartition);
        assert_eq!(quorum(4, 2), QuorumStatus::MinorityPartition, "2·2 ≤ 4");
        assert_eq!(quorum(4, 3), QuorumStatus::PartialPartition);
        assert_eq!(quorum(0, 0), QuorumStatus::MinorityPartition);
        assert_eq!(quorum(1, 1), QuorumStatus::Healthy);
    }

    proptest! {
        #[test]
        fn score_stays_in_unit_range(kinds in proptest::collection::vec((0usize..7, 0usize..4), 0..50)) {
            let statuses = NodeStatus::ALL;
            let healths = HealthStatus::ALL;
            let nodes: Vec<_> = kinds.iter().map(|&(s, h)| node(statuses[s], healths[h])).collect();
            let b = health_breakdown(&nodes);
            prop_assert!((0.0..=1.0).contains(&b.score));
            prop_assert_eq!(b.counted + b.excluded, u32::try_from(nodes.len()).unwrap_or(u32::MAX));
        }

        #[test]
        fn any_sample_gives_a_health_and_never_panics(c in any::<f64>(), m in any::<f64>(), d in any::<f64>()) {
            let h = health(c, m, d);
            if !(c.is_finite() && m.is_finite() && d.is_finite()) {
                prop_assert_eq!(h, HealthStatus::Unknown);
            }
        }
    }
}
