//! Node liveness (DESIGN.md §4, Node liveness and health): what a node's status
//! becomes as time passes without heartbeats, and when a heartbeat arrives.
//!
//! Decisions where the design is open:
//! * "No heartbeat for T" means `now - last >= T`: at exactly T the node is late.
//! * The sweeper only ever makes a live status worse (online → unreachable →
//!   offline); only a heartbeat brings a node back.
//! * `provisioning` (never reported), `draining`, `maintenance` and
//!   `decommissioned` are not liveness states: the sweeper leaves them alone and a
//!   heartbeat does not clear the admin-set ones.
//! * The start-up grace window is the unreachable threshold, counted from the
//!   server's start: a heartbeat older than the start counts as if it arrived at
//!   the start, so a restart never declares the fleet dead.

use chrono::{DateTime, Duration, Utc};

use crate::node::NodeStatus;

/// Slack added to two intervals before a node is unreachable, so one delayed
/// heartbeat does not flap the node.
pub const UNREACHABLE_SLACK_S: i64 = 5;
/// Intervals without a heartbeat before a node is unreachable (plus the slack).
pub const UNREACHABLE_INTERVALS: i64 = 2;
/// Intervals without a heartbeat before a node is offline.
pub const OFFLINE_INTERVALS: i64 = 5;

/// How long a node may be silent before it is unreachable.
#[must_use]
pub fn unreachable_after(interval_s: u32) -> Duration {
    Duration::seconds(UNREACHABLE_INTERVALS * i64::from(interval_s) + UNREACHABLE_SLACK_S)
}

/// How long a node may be silent before it is offline.
#[must_use]
pub fn offline_after(interval_s: u32) -> Duration {
    Duration::seconds(OFFLINE_INTERVALS * i64::from(interval_s))
}

/// Everything the liveness rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessInput {
    pub status: NodeStatus,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    /// The cluster's `health_check_interval_s`, the agents' heartbeat interval.
    pub interval_s: u32,
    pub server_started_at: DateTime<Utc>,
}

/// The status a node should have now, judged by the age of its last heartbeat.
#[must_use]
pub fn swept_status(input: &LivenessInput) -> NodeStatus {
    let current = input.status;
    if !matches!(
        current,
        NodeStatus::Online | NodeStatus::Unreachable | NodeStatus::Offline
    ) {
        return current;
    }
    let Some(last) = input.last_heartbeat_at else {
        // A live status without any heartbeat can only come from an operator's
        // manual update; judge it from the server's start like a stale one.
        return worse(
            current,
            by_age(input.now - input.server_started_at, input.interval_s),
        );
    };
    let reference = last.max(input.server_started_at);
    worse(current, by_age(input.now - reference, input.interval_s))
}

fn by_age(age: Duration, interval_s: u32) -> NodeStatus {
    if age >= offline_after(interval_s) {
        NodeStatus::Offline
    } else if age >= unreachable_after(interval_s) {
        NodeStatus::Unreachable
    } else {
        NodeStatus::Online
    }
}

fn rank(status: NodeStatus) -> u8 {
    match status {
        NodeStatus::Online => 0,
        NodeStatus::Unreachable => 1,
        _ => 2,
    }
}

fn worse(a: NodeStatus, b: NodeStatus) -> NodeStatus {
    if rank(b) > rank(a) { b } else { a }
}

/// The status after a heartbeat in which the agent reported `reported`
/// (`online`, or `offline` when it is stopping).
#[must_use]
pub fn status_after_heartbeat(current: NodeStatus, reported: NodeStatus) -> NodeStatus {
    match current {
        NodeStatus::Draining | NodeStatus::Maintenance | NodeStatus::Decommissioned => current,
        _ if reported == NodeStatus::Offline => NodeStatus::Offline,
        _ => NodeStatus::Online,
    }
}

/// The status of a node coming back from maintenance or a drain: what the age
/// of its last report says now (`provisioning` when it never reported). No grace
/// window: the server has been judging its heartbeats all along.
#[must_use]
pub fn status_on_return(
    last_report_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    interval_s: u32,
) -> NodeStatus {
    match last_report_at {
        None => NodeStatus::Provisioning,
        Some(last) => by_age(now - last, interval_s),
    }
}

/// When the sweeper should next look at a node in `status` whose last
/// heartbeat was at `reference` (the later of the heartbeat and the server
/// start); `None` when time alone will not change it.
#[must_use]
pub fn next_transition_at(
    status: NodeStatus,
    reference: DateTime<Utc>,
    interval_s: u32,
) -> Option<DateTime<Utc>> {
    match status {
        NodeStatus::Online => Some(reference + unreachable_after(interval_s)),
        NodeStatus::Unreachable => Some(reference + offline_after(interval_s)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returning_node_is_judged_by_its_last_heartbeat() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        assert_eq!(status_on_return(None, now, 10), NodeStatus::Provisioning);
        let ago = |s| Some(now - Duration::seconds(s));
        assert_eq!(status_on_return(ago(3), now, 10), NodeStatus::Online);
        assert_eq!(status_on_return(ago(25), now, 10), NodeStatus::Unreachable);
        assert_eq!(status_on_return(ago(50), now, 10), NodeStatus::Offline);
    }
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time")
    }

    fn input(status: NodeStatus, silent_s: i64, started_ago_s: i64) -> LivenessInput {
        let now = t0() + Duration::hours(1);
        LivenessInput {
            status,
            last_heartbeat_at: Some(now - Duration::seconds(silent_s)),
            now,
            interval_s: 10,
            server_started_at: now - Duration::seconds(started_ago_s),
        }
    }

    #[test]
    fn thresholds_are_two_intervals_plus_five_seconds_and_five_intervals() {
        // interval 10 s: unreachable at 25 s of silence, offline at 50 s.
        let day = 86_400;
        assert_eq!(
            swept_status(&input(NodeStatus::Online, 24, day)),
            NodeStatus::Online
        );
        assert_eq!(
            swept_status(&input(NodeStatus::Online, 25, day)),
            NodeStatus::Unreachable
        );
        assert_eq!(
            swept_status(&input(NodeStatus::Online, 49, day)),
            NodeStatus::Unreachable
        );
        assert_eq!(
            swept_status(&input(NodeStatus::Online, 50, day)),
            NodeStatus::Offline
        );
        assert_eq!(unreachable_after(60), Duration::seconds(125));
        assert_eq!(offline_after(60), Duration::seconds(300));
    }

    #[test]
    fn a_restart_grants_a_grace_window() {
        // Silent for an hour, but the server started 10 s ago: still online.
        assert_eq!(
            swept_status(&input(NodeStatus::Online, 3600, 10)),
            NodeStatus::Online
        );
        // One full unreachable window after the start, it is unreachable...
        assert_eq!(
            swept_status(&input(NodeStatus::Online, 3600, 25)),
            NodeStatus::Unreachable
        );
        // ...and offline five intervals after the start.
        assert_eq!(
            swept_status(&input(NodeStatus::Online, 3600, 50)),
            NodeStatus::Offline
        );
    }

    #[test]
    fn the_sweeper_never_improves_a_status() {
        assert_eq!(
            swept_status(&input(NodeStatus::Offline, 1, 86_400)),
            NodeStatus::Offline
        );
        assert_eq!(
            swept_status(&input(NodeStatus::Unreachable, 1, 86_400)),
            NodeStatus::Unreachable
        );
    }

    #[test]
    fn admin_states_and_provisioning_are_left_alone() {
        for s in [
            NodeStatus::Provisioning,
            NodeStatus::Draining,
            NodeStatus::Maintenance,
            NodeStatus::Decommissioned,
        ] {
            assert_eq!(swept_status(&input(s, 100_000, 100_000)), s);
        }
    }

    #[test]
    fn heartbeats_bring_nodes_back_but_keep_admin_states() {
        use NodeStatus::*;
        for current in [Provisioning, Online, Unreachable, Offline] {
            assert_eq!(status_after_heartbeat(current, Online), Online);
            assert_eq!(
                status_after_heartbeat(current, Offline),
                Offline,
                "agent stopping"
            );
        }
        for current in [Draining, Maintenance, Decommissioned] {
            assert_eq!(status_after_heartbeat(current, Online), current);
            assert_eq!(status_after_heartbeat(current, Offline), current);
        }
    }

    #[test]
    fn next_transition_times() {
        let r = t0();
        assert_eq!(
            next_transition_at(NodeStatus::Online, r, 10),
            Some(r + Duration::seconds(25))
        );
        assert_eq!(
            next_transition_at(NodeStatus::Unreachable, r, 10),
            Some(r + Duration::seconds(50))
        );
        assert_eq!(next_transition_at(NodeStatus::Offline, r, 10), None);
    }

    proptest! {
        #[test]
        fn status_only_worsens_with_silence(interval in 5u32..3600, a in 0i64..100_000, b in 0i64..100_000) {
            let (short, long) = if a <= b { (a, b) } else { (b, a) };
            let mut i = input(NodeStatus::Online, short, 1_000_000);
            i.interval_s = interval;
            let s1 = swept_status(&i);
            i.last_heartbeat_at = Some(i.now - Duration::seconds(long));
            let s2 = swept_status(&i);
            prop_assert!(rank(s2) >= rank(s1));
        }
    }
}
