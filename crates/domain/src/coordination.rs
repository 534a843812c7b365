//! Coordination: who may lead, who leads, the failover plan, "what if node X
//! fails", automatic failover and manual promotion (DESIGN.md §4).
//!
//! Decisions where the design is open:
//! * A healthy primary is kept even when a better candidate appears: leadership
//!   changes only when the leader fails or is missing, so it never flaps.
//! * The first primary and coordinator are elected as soon as a candidate
//!   exists, whatever `auto_failover` says; `auto_failover` governs replacing
//!   a leader that failed. The coordinator is replaced on the same terms.
//! * Both leaders changing in one decision is one new term (+1, not +2).
//! * A critical candidate is chosen to lead only when no other candidate can,
//!   since automatic failover would replace it at once; so elections skip it
//!   when they can and a failed leader is only replaced by a leader that is fine.

use serde::{Deserialize, Serialize};

use crate::health::health_rank;
use crate::ids::NodeId;
use crate::node::{HealthStatus, NodeStatus};

/// The role that makes a node the preferred coordinator.
pub const COORDINATOR_ROLE: &str = "coordinator";
/// A manually promoted node gets at least this priority.
pub const PROMOTED_PRIORITY: i32 = 100;

/// What coordination needs to know about a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
    pub status: NodeStatus,
    pub health: HealthStatus,
    pub cordoned: bool,
    pub priority: i32,
    pub roles: Vec<String>,
}

impl Member {
    /// Why this node may not lead, or `None` when it is a candidate.
    #[must_use]
    pub fn exclusion(&self) -> Option<&'static str> {
        match self.status {
            NodeStatus::Online if self.cordoned => Some("cordoned"),
            NodeStatus::Online => None,
            NodeStatus::Provisioning => Some("has never reported"),
            NodeStatus::Unreachable => Some("unreachable"),
            NodeStatus::Offline => Some("offline"),
            NodeStatus::Draining => Some("draining"),
            NodeStatus::Maintenance => Some("in maintenance"),
            NodeStatus::Decommissioned => Some("decommissioned"),
        }
    }

    #[must_use]
    pub fn is_candidate(&self) -> bool {
        self.exclusion().is_none()
    }

    fn has_coordinator_role(&self) -> bool {
        self.roles.iter().any(|r| r == COORDINATOR_ROLE)
    }

    /// Why a node leading now should be replaced, if it should.
    #[must_use]
    pub fn leader_failure(&self) -> Option<String> {
        let why = match self.status {
            NodeStatus::Unreachable => "became unreachable",
            NodeStatus::Offline => "went offline",
            NodeStatus::Draining => "is draining",
            NodeStatus::Maintenance => "entered maintenance",
            NodeStatus::Decommissioned => "was decommissioned",
            NodeStatus::Provisioning => "has never reported",
            NodeStatus::Online if self.health == HealthStatus::Critical => "is critical",
            NodeStatus::Online => return None,
        };
        Some(format!("{} {why}", self.id))
    }
}

/// Candidates in leadership order: health (healthy, warning, unknown,
/// critical), then priority (high first), then node sequence (low first).
#[must_use]
pub fn ordered_candidates(members: &[Member]) -> Vec<&Member> {
    let mut candidates: Vec<&Member> = members.iter().filter(|m| m.is_candidate()).collect();
    candidates.sort_by(|a, b| {
        health_rank(a.health)
            .cmp(&health_rank(b.health))
            .then(b.priority.cmp(&a.priority))
            .then(a.id.sequence().cmp(&b.id.sequence()))
    });
    candidates
}

/// The candidates fit to lead now: those that would not be replaced at once,
/// or every candidate when none is.
fn electable<'a>(candidates: &[&'a Member]) -> Vec<&'a Member> {
    let fine: Vec<&Member> = candidates
        .iter()
        .copied()
        .filter(|m| m.leader_failure().is_none())
        .collect();
    if fine.is_empty() {
        candidates.to_vec()
    } else {
        fine
    }
}

/// Candidates that could replace a failed leader: fine ones only.
fn replacements<'a>(candidates: &[&'a Member], except: Option<&NodeId>) -> Vec<&'a Member> {
    candidates
        .iter()
        .copied()
        .filter(|m| m.leader_failure().is_none() && Some(&m.id) != except)
        .collect()
}

/// Who leads: a primary and a coordinator, either possibly absent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Leadership {
    pub primary: Option<NodeId>,
    pub coordinator: Option<NodeId>,
}

fn pick_coordinator<'a>(candidates: &[&'a Member], primary: Option<&NodeId>) -> Option<&'a Member> {
    candidates
        .iter()
        .find(|m| m.has_coordinator_role())
        .or_else(|| candidates.iter().find(|m| Some(&m.id) != primary))
        .or_else(|| candidates.first())
        .copied()
}

/// Leadership chosen from scratch: primary = first candidate; coordinator =
/// first candidate with the coordinator role, else the first candidate that is
/// not the primary, else the primary.
#[must_use]
pub fn elect(members: &[Member]) -> Leadership {
    let candidates = electable(&ordered_candidates(members));
    let primary = candidates.first().map(|m| m.id.clone());
    let coordinator = pick_coordinator(&candidates, primary.as_ref()).map(|m| m.id.clone());
    Leadership {
        primary,
        coordinator,
    }
}

/// One candidate in the failover plan.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanCandidate {
    pub node_id: NodeId,
    pub rank: u32,
    pub reason: String,
}

/// A node that may not lead, and why.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanExclusion {
    pub node_id: NodeId,
    pub reason: String,
}

/// The ordered candidates with the reasons for their order, who would lead
/// if chosen from scratch now, and who may not lead.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailoverPlan {
    pub candidates: Vec<PlanCandidate>,
    pub excluded: Vec<PlanExclusion>,
    pub next_primary: Option<NodeId>,
    pub next_coordinator: Option<NodeId>,
}

#[must_use]
pub fn failover_plan(members: &[Member]) -> FailoverPlan {
    let candidates = ordered_candidates(members);
    let leadership = elect(members);
    FailoverPlan {
        candidates: candidates
            .iter()
            .zip(1u32..)
            .map(|(m, rank)| PlanCandidate {
                node_id: m.id.clone(),
                rank,
                reason: format!(
                    "{}, priority {}, node #{}{}",
                    m.health,
                    m.priority,
                    m.id.sequence(),
                    if m.has_coordinator_role() {
                        ", coordinator role"
                    } else {
                        ""
                    }
                ),
            })
            .collect(),
        excluded: members
            .iter()
            .filter_map(|m| {
                m.exclusion().map(|why| PlanExclusion {
                    node_id: m.id.clone(),
                    reason: why.to_owned(),
                })
            })
            .collect(),
        next_primary: leadership.primary,
        next_coordinator: leadership.coordinator,
    }
}

/// What happens if a node fails: who would lead afterwards.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    pub failed: NodeId,
    pub leadership_after: Leadership,
    pub primary_changes: bool,
    pub coordinator_changes: bool,
    /// Candidates left after the failure.
    pub candidates_left: u32,
    pub summary: String,
}

/// The outcome of `node` failing (going offline) under the leadership
/// `current`, with automatic failover on.
#[must_use]
pub fn what_if_fails(members: &[Member], current: &Leadership, node: &NodeId) -> WhatIf {
    let after: Vec<Member> = members
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if &m.id == node {
                m.status = NodeStatus::Offline;
            }
            m
        })
        .collect();
    let leadership_after = match reconcile(current, 0, &after, true) {
        Some(change) => change.leadership,
        None => current.clone(),
    };
    let primary_changes = leadership_after.primary != current.primary;
    let coordinator_changes = leadership_after.coordinator != current.coordinator;
    let candidates_left = u32::try_from(ordered_candidates(&after).len()).unwrap_or(u32::MAX);
    let summary = match (&leadership_after.primary, primary_changes) {
        (_, false) if current.primary.as_ref() == Some(node) => {
            format!("{node} is the primary and no candidate could replace it")
        }
        (Some(p), true) => format!("{p} would become primary"),
        (None, true) => "the cluster would have no primary".to_owned(),
        (_, false) if coordinator_changes => format!(
            "the primary stays; {} would become coordinator",
            leadership_after
                .coordinator
                .as_ref()
                .map_or_else(|| "no node".to_owned(), ToString::to_string)
        ),
        _ => "leadership would not change".to_owned(),
    };
    WhatIf {
        failed: node.clone(),
        leadership_after,
        primary_changes,
        coordinator_changes,
        candidates_left,
        summary,
    }
}

/// A change of leadership to apply, with the new term and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadershipChange {
    pub leadership: Leadership,
    pub term: u64,
    pub reasons: Vec<String>,
}

/// Keeps leadership as it is while the leaders are fine; fills a missing leader;
/// with `auto_failover`, replaces a leader that failed by the plan's first
/// candidate. `None` when nothing changes.
#[must_use]
pub fn reconcile(
    current: &Leadership,
    term: u64,
    members: &[Member],
    auto_failover: bool,
) -> Option<LeadershipChange> {
    let find = |id: &Option<NodeId>| id.as_ref().map(|id| members.iter().find(|m| &m.id == id));
    let mut reasons = Vec::new();
    let candidates = ordered_candidates(members);

    let primary = match find(&current.primary) {
        None => electable(&candidates).first().map(|m| {
            reasons.push(format!("{} elected primary (there was none)", m.id));
            m.id.clone()
        }),
        Some(None) if auto_failover => {
            let gone = current
                .primary
                .clone()
                .map(|id| format!("{id} was removed"));
            match (replacements(&candidates, None).first(), gone) {
                (Some(next), Some(why)) => {
                    reasons.push(format!("{} promoted to primary: {why}", next.id));
                    Some(next.id.clone())
                }
                _ => current.primary.clone(),
            }
        }
        Some(Some(p)) if auto_failover => match (
            p.leader_failure(),
            replacements(&candidates, Some(&p.id)).first(),
        ) {
            (Some(why), Some(next)) => {
                reasons.push(format!("{} promoted to primary: {why}", next.id));
                Some(next.id.clone())
            }
            _ => current.primary.clone(),
        },
        Some(_) => current.primary.clone(),
    };

    let coordinator = match find(&current.coordinator) {
        None => pick_coordinator(&electable(&candidates), primary.as_ref()).map(|m| {
            reasons.push(format!("{} elected coordinator (there was none)", m.id));
            m.id.clone()
        }),
        Some(maybe) if auto_failover => {
            let failure = match maybe {
                None => current
                    .coordinator
                    .as_ref()
                    .map(|id| format!("{id} was removed")),
                Some(c) => c.leader_failure(),
            };
            let others = replacements(&candidates, current.coordinator.as_ref());
            match (failure, pick_coordinator(&others, primary.as_ref())) {
                (Some(why), Some(next)) => {
                    reasons.push(format!("{} elected coordinator: {why}", next.id));
                    Some(next.id.clone())
                }
                _ => current.coordinator.clone(),
            }
        }
        Some(_) => current.coordinator.clone(),
    };

    let leadership = Leadership {
        primary,
        coordinator,
    };
    if &leadership == current {
        None
    } else {
        Some(LeadershipChange {
            leadership,
            term: term + 1,
            reasons,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromotionError {
    #[error("node not found in this cluster")]
    UnknownNode,
    #[error("{node} is not a candidate ({reason}); pass force to override")]
    NotCandidate { node: NodeId, reason: &'static str },
    #[error("{0} is already the primary")]
    AlreadyPrimary(NodeId),
    #[error("{0} is already the coordinator")]
    AlreadyCoordinator(NodeId),
}

/// The result of a manual promotion: the new leadership, term and the
/// promoted node's new priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    pub change: LeadershipChange,
    pub priority: i32,
}

/// Manual `promote_to_primary`: refuses a non-candidate unless `force`; raises
/// the node's priority to at least [`PROMOTED_PRIORITY`]. The coordinator is
/// kept; if it no longer exists it is chosen again by the rule.
///
/// # Errors
/// [`PromotionError`] saying why the promotion is refused.
pub fn promote(
    members: &[Member],
    current: &Leadership,
    term: u64,
    target: &NodeId,
    force: bool,
) -> Result<Promotion, PromotionError> {
    let node = members
        .iter()
        .find(|m| &m.id == target)
        .ok_or(PromotionError::UnknownNode)?;
    if current.primary.as_ref() == Some(target) {
        return Err(PromotionError::AlreadyPrimary(target.clone()));
    }
    if let Some(reason) = node.exclusion()
        && !force
    {
        return Err(PromotionError::NotCandidate {
            node: target.clone(),
            reason,
        });
    }
    let coordinator = match &current.coordinator {
        Some(c) if members.iter().any(|m| &m.id == c) => Some(c.clone()),
        _ => pick_coordinator(&ordered_candidates(members), Some(target)).map(|m| m.id.clone()),
    };
    let mut reasons = vec![format!("{target} promoted to primary by request")];
    if force && node.exclusion().is_some() {
        reasons.push(format!(
            "forced although {target} is {}",
            node.exclusion().unwrap_or_default()
        ));
    }
    Ok(Promotion {
        change: LeadershipChange {
            leadership: Leadership {
                primary: Some(target.clone()),
                coordinator,
            },
            term: term + 1,
            reasons,
        },
        priority: node.priority.max(PROMOTED_PRIORITY),
    })
}

/// Manual `set_coordinator`: refuses a non-candidate unless `force`; the
/// primary stays. The term increments.
///
/// # Errors
/// [`PromotionError`] saying why the appointment is refused.
pub fn appoint_coordinator(
    members: &[Member],
    current: &Leadership,
    term: u64,
    target: &NodeId,
    force: bool,
) -> Result<LeadershipChange, PromotionError> {
    let node = members
        .iter()
        .find(|m| &m.id == target)
        .ok_or(PromotionError::UnknownNode)?;
    if current.coordinator.as_ref() == Some(target) {
        return Err(PromotionError::AlreadyCoordinator(target.clone()));
    }
    let exclusion = node.exclusion();
    if let Some(reason) = exclusion
        && !force
    {
        return Err(PromotionError::NotCandidate {
            node: target.clone(),
            reason,
        });
    }
    let mut reasons = vec![format!("{target} made coordinator by request")];
    if let Some(reason) = exclusion {
        reasons.push(format!("forced although {target} is {reason}"));
    }
    Ok(LeadershipChange {
        leadership: Leadership {
            primary: current.primary.clone(),
            coordinator: Some(target.clone()),
        },
        term: term + 1,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClusterId;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn cluster() -> ClusterId {
        ClusterId::parse("cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8").expect("id")
    }

    fn id(seq: u32) -> NodeId {
        NodeId::generate(&cluster(), seq, &mut StdRng::seed_from_u64(u64::from(seq)))
    }

    fn member(seq: u32, health: HealthStatus, priority: i32) -> Member {
        Member {
            id: id(seq),
            status: NodeStatus::Online,
            health,
            cordoned: false,
            priority,
            roles: vec!["worker".into()],
        }
    }

    fn seqs(ms: &[&Member]) -> Vec<u32> {
        ms.iter().map(|m| m.id.sequence()).collect()
    }

    #[test]
    fn candidates_order_by_health_then_priority_then_sequence() {
        use HealthStatus::*;
        let members = [
            member(1, Critical, 100),
            member(2, Unknown, 100),
            member(3, Warning, 10),
            member(4, Healthy, 10),
            member(5, Healthy, 90),
            member(6, Healthy, 90),
        ];
        assert_eq!(seqs(&ordered_candidates(&members)), [5, 6, 4, 3, 2, 1]);
    }

    #[test]
    fn non_candidates_are_excluded_with_reasons() {
        let mut members: Vec<Member> = (1..=7)
            .map(|s| member(s, HealthStatus::Healthy, 50))
            .collect();
        members[0].status = NodeStatus::Unreachable;
        members[1].status = NodeStatus::Draining;
        members[2].status = NodeStatus::Maintenance;
        members[3].cordoned = true;
        members[4].status = NodeStatus::Provisioning;
        members[5].status = NodeStatus::Offline;
        let plan = failover_plan(&members);
        assert_eq!(plan.candidates.len(), 1);
        assert_eq!(plan.candidates[0].node_id.sequence(), 7);
        let reasons: Vec<&str> = plan.excluded.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "unreachable",
                "draining",
                "in maintenance",
                "cordoned",
                "has never reported",
                "offline"
            ]
        );
    }

    #[test]
    fn coordinator_prefers_the_role_then_a_second_node_then_the_primary() {
        let mut members = vec![
            member(1, HealthStatus::Healthy, 50),
            member(2, HealthStatus::Healthy, 40),
        ];
        let l = elect(&members);
        assert_eq!(
            (l.primary.clone(), l.coordinator.clone()),
            (Some(id(1)), Some(id(2)))
        );
        members.push(member(3, HealthStatus::Warning, 1));
        members[2].roles.push(COORDINATOR_ROLE.into());
        assert_eq!(elect(&members).coordinator, Some(id(3)));
        members[0].roles.push(COORDINATOR_ROLE.into());
        assert_eq!(
            elect(&members).coordinator,
            Some(id(1)),
            "the primary may hold the role"
        );
        let alone = [member(1, HealthStatus::Healthy, 50)];
        assert_eq!(elect(&alone).coordinator, Some(id(1)));
        assert_eq!(elect(&[]), Leadership::default());
    }

    #[test]
    fn plan_reasons_explain_the_order() {
        let mut m = member(2, HealthStatus::Healthy, 80);
        m.roles.push(COORDINATOR_ROLE.into());
        let plan = failover_plan(&[m, member(1, HealthStatus::Warning, 90)]);
        assert_eq!(
            plan.candidates[0].reason,
            "healthy, priority 80, node #2, coordinator role"
        );
        assert_eq!(plan.candidates[1].reason, "warning, priority 90, node #1");
        assert_eq!(plan.candidates[1].rank, 2);
    }

    fn led(p: u32, c: u32) -> Leadership {
        Leadership {
            primary: Some(id(p)),
            coordinator: Some(id(c)),
        }
    }

    #[test]
    fn healthy_leaders_are_kept_and_missing_ones_elected() {
        let members = vec![
            member(1, HealthStatus::Warning, 10),
            member(2, HealthStatus::Healthy, 90),
        ];
        // Node 2 is a better candidate, but node 1 leads and is fine: no change.
        assert_eq!(reconcile(&led(1, 2), 4, &members, true), None);
        let first = reconcile(&Leadership::default(), 0, &members, false).expect("elected");
        assert_eq!(first.leadership, led(2, 1));
        assert_eq!(first.term, 1, "two leaders elected together are one term");
        assert_eq!(first.reasons.len(), 2);
    }

    #[test]
    fn auto_failover_replaces_a_failed_primary_and_says_why() {
        use NodeStatus::*;
        for (status, health, why) in [
            (Unreachable, HealthStatus::Healthy, "became unreachable"),
            (Offline, HealthStatus::Healthy, "went offline"),
            (Online, HealthStatus::Critical, "is critical"),
            (Draining, HealthStatus::Healthy, "is draining"),
            (Maintenance, HealthStatus::Healthy, "entered maintenance"),
        ] {
            let mut members = vec![
                member(1, HealthStatus::Healthy, 90),
                member(2, HealthStatus::Healthy, 50),
                member(3, HealthStatus::Healthy, 40),
            ];
            members[0].status = status;
            members[0].health = health;
            let change = reconcile(&led(1, 2), 7, &members, true).expect("failover");
            assert_eq!(change.leadership, led(2, 2), "{why}");
            assert_eq!(change.term, 8);
            assert_eq!(
                change.reasons,
                [format!("{} promoted to primary: {} {why}", id(2), id(1))]
            );
            assert_eq!(
                reconcile(&led(1, 2), 7, &members, false),
                None,
                "auto_failover off"
            );
        }
    }

    #[test]
    fn a_failed_coordinator_is_replaced_too() {
        let mut members = vec![
            member(1, HealthStatus::Healthy, 90),
            member(2, HealthStatus::Healthy, 50),
            member(3, HealthStatus::Healthy, 40),
        ];
        members[1].status = NodeStatus::Offline;
        let change = reconcile(&led(1, 2), 1, &members, true).expect("new coordinator");
        assert_eq!(change.leadership, led(1, 3));
        assert_eq!(change.term, 2);
    }

    #[test]
    fn critical_nodes_lead_only_when_nothing_else_can() {
        let members = vec![
            member(1, HealthStatus::Healthy, 10),
            member(2, HealthStatus::Critical, 90),
        ];
        assert_eq!(
            elect(&members),
            led(1, 1),
            "the critical node is not made coordinator"
        );
        let all_critical = vec![
            member(1, HealthStatus::Critical, 10),
            member(2, HealthStatus::Critical, 90),
        ];
        assert_eq!(elect(&all_critical), led(2, 1));
        assert_eq!(
            reconcile(&led(2, 1), 3, &all_critical, true),
            None,
            "no fine replacement"
        );
    }

    #[test]
    fn no_candidate_means_no_change() {
        let mut members = vec![member(1, HealthStatus::Healthy, 90)];
        members[0].status = NodeStatus::Offline;
        assert_eq!(reconcile(&led(1, 1), 3, &members, true), None);
    }

    #[test]
    fn what_if_shows_the_successor() {
        let members = vec![
            member(1, HealthStatus::Healthy, 90),
            member(2, HealthStatus::Healthy, 50),
            member(3, HealthStatus::Healthy, 40),
        ];
        let w = what_if_fails(&members, &led(1, 2), &id(1));
        assert!(w.primary_changes && !w.coordinator_changes);
        assert_eq!(w.leadership_after, led(2, 2));
        assert_eq!(w.candidates_left, 2);
        assert_eq!(w.summary, format!("{} would become primary", id(2)));
        let w = what_if_fails(&members, &led(1, 2), &id(3));
        assert_eq!(w.summary, "leadership would not change");
        let alone = vec![member(1, HealthStatus::Healthy, 90)];
        let w = what_if_fails(&alone, &led(1, 1), &id(1));
        assert_eq!(
            w.summary,
            format!("{} is the primary and no candidate could replace it", id(1))
        );
    }

    #[test]
    fn promotion_needs_a_candidate_unless_forced_and_raises_priority() {
        let mut members = vec![
            member(1, HealthStatus::Healthy, 90),
            member(2, HealthStatus::Healthy, 30),
        ];
        let p = promote(&members, &led(1, 2), 5, &id(2), false).expect("promote");
        assert_eq!(p.change.leadership.primary, Some(id(2)));
        assert_eq!(p.change.term, 6);
        assert_eq!(p.priority, 100);
        members[1].priority = 250;
        assert_eq!(
            promote(&members, &led(1, 2), 5, &id(2), false)
                .expect("ok")
                .priority,
            250
        );
        members[1].cordoned = true;
        assert_eq!(
            promote(&members, &led(1, 2), 5, &id(2), false),
            Err(PromotionError::NotCandidate {
                node: id(2),
                reason: "cordoned"
            })
        );
        let forced = promote(&members, &led(1, 2), 5, &id(2), true).expect("forced");
        assert_eq!(forced.change.reasons.len(), 2);
        assert_eq!(
            promote(&members, &led(1, 2), 5, &id(1), false),
            Err(PromotionError::AlreadyPrimary(id(1)))
        );
        assert_eq!(
            promote(&members, &led(1, 2), 5, &id(9), true),
            Err(PromotionError::UnknownNode)
        );
    }

    proptest! {
        #[test]
        fn reconcile_settles(states in proptest::collection::vec((0usize..7, 0usize..4, 0i32..200, any::<bool>()), 1..12)) {
            let members: Vec<Member> = states.iter().enumerate().map(|(i, &(s, h, p, c))| Member {
                id: id(u32::try_from(i).unwrap_or(0) + 1),
                status: NodeStatus::ALL[s],
                health: HealthStatus::ALL[h],
                cordoned: c,
                priority: p,
                roles: vec![],
            }).collect();
            let first = reconcile(&Leadership::default(), 0, &members, true);
            let settled = first.as_ref().map_or_else(Leadership::default, |c| c.leadership.clone());
            // Leaders are always candidates when chosen, and a second pass changes nothing.
            for leader in [&settled.primary, &settled.coordinator].into_iter().flatten() {
                let m = members.iter().find(|m| &m.id == leader).expect("member");
                prop_assert!(m.is_candidate());
            }
            prop_assert_eq!(reconcile(&settled, 1, &members, true), None);
        }
    }
}
