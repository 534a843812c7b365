//! After any change to a cluster's nodes: its new score, status and leadership,
//! and the events that record what changed. The store runs this inside the
//! transaction of the change, so the cluster row never disagrees with its nodes.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::coordination::{Leadership, LeadershipChange, Member, reconcile};
use crate::health::{
    ClusterFlags, HealthBreakdown, NodeCondition, cluster_status, health_breakdown,
};
use crate::model::{Cluster, ClusterStatus, EventCategory, NewEvent, Node, Severity};
use crate::node::NodeStatus;

/// What the cluster row should become.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterPlan {
    pub breakdown: HealthBreakdown,
    pub status: ClusterStatus,
    pub ever_online: bool,
    /// `Some` when the primary or coordinator changes (with the new term).
    pub leadership: Option<LeadershipChange>,
    pub events: Vec<NewEvent>,
}

impl ClusterPlan {
    /// Whether anything on the cluster row changes.
    #[must_use]
    pub fn changes(&self, cluster: &Cluster, ever_online_before: bool) -> bool {
        self.leadership.is_some()
            || self.status != cluster.status
            || self.ever_online != ever_online_before
            || (self.breakdown.score - cluster.health_score).abs() > f64::EPSILON
    }
}

/// The coordination view of a node.
#[must_use]
pub fn member(node: &Node) -> Member {
    Member {
        id: node.id.clone(),
        status: node.status,
        health: node.health_status,
        cordoned: node.cordoned,
        priority: node.priority,
        roles: node.roles.clone(),
    }
}

/// Plans the cluster's state from its nodes as they now are. `maintenance` and
/// `ever_online` are the cluster's flags before the change; `actor` is written
/// on the events (the change's actor, or `system`).
#[must_use]
pub fn plan(
    cluster: &Cluster,
    nodes: &[Node],
    maintenance: bool,
    ever_online: bool,
    actor: &str,
) -> ClusterPlan {
    let conditions: Vec<NodeCondition> = nodes.iter().map(NodeCondition::from).collect();
    let breakdown = health_breakdown(&conditions);
    let ever_online = ever_online || nodes.iter().any(|n| n.status == NodeStatus::Online);
    let decommissioned = cluster.status == ClusterStatus::Decommissioned;
    let status = cluster_status(
        breakdown.score,
        ClusterFlags {
            decommissioned,
            maintenance,
            ever_online,
        },
    );
    let members: Vec<Member> = nodes.iter().map(member).collect();
    let current = cluster.leadership();
    let leadership = if decommissioned {
        None
    } else {
        reconcile(
            &current,
            cluster.term,
            &members,
            cluster.config.auto_failover,
        )
    };

    let mut events = leadership
        .as_ref()
        .map(|change| leadership_events(cluster, &current, change, actor))
        .unwrap_or_default();
    if status != cluster.status {
        events.push(NewEvent {
            cluster_id: Some(cluster.id.clone()),
            node_id: None,
            event_type: "cluster_status_changed".into(),
            category: EventCategory::Health,
            severity: match status {
                ClusterStatus::Offline => Severity::Error,
                ClusterStatus::Degraded => Severity::Warning,
                _ => Severity::Info,
            },
            message: format!(
                "Cluster {} is {} (was {}, health score {:.2})",
                cluster.name, status, cluster.status, breakdown.score
            ),
            details: json!({
                "previous_status": cluster.status,
                "status": status,
                "health_score": breakdown.score,
            }),
            actor: actor.to_owned(),
        });
    }
    ClusterPlan {
        breakdown,
        status,
        ever_online,
        leadership,
        events,
    }
}

fn leadership_events(
    cluster: &Cluster,
    current: &Leadership,
    change: &LeadershipChange,
    actor: &str,
) -> Vec<NewEvent> {
    let mut events = Vec::new();
    if change.leadership.primary != current.primary {
        events.push(NewEvent {
            cluster_id: Some(cluster.id.clone()),
            node_id: change.leadership.primary.clone(),
            event_type: "node_promotion".into(),
            category: EventCategory::Coordination,
            severity: if current.primary.is_some() {
                Severity::Warning
            } else {
                Severity::Info
            },
            message: reason_for(change, "primary").unwrap_or_else(|| "Primary changed".into()),
            details: json!({
                "previous_primary": current.primary,
                "primary": change.leadership.primary,
                "term": change.term,
                "automatic": true,
            }),
            actor: actor.to_owned(),
        });
    }
    if change.leadership.coordinator != current.coordinator {
        events.push(NewEvent {
            cluster_id: Some(cluster.id.clone()),
            node_id: change.leadership.coordinator.clone(),
            event_type: "coordinator_elected".into(),
            category: EventCategory::Coordination,
            severity: Severity::Info,
            message: reason_for(change, "coordinator")
                .unwrap_or_else(|| "Coordinator changed".into()),
            details: json!({
                "previous_coordinator": current.coordinator,
                "coordinator": change.leadership.coordinator,
                "term": change.term,
            }),
            actor: actor.to_owned(),
        });
    }
    events
}

fn reason_for(change: &LeadershipChange, role: &str) -> Option<String> {
    change.reasons.iter().find(|r| r.contains(role)).cloned()
}

/// The event for a node's status changing from `from` to `to`.
#[must_use]
pub fn node_status_event(
    node: &Node,
    from: NodeStatus,
    to: NodeStatus,
    actor: &str,
    why: Option<&str>,
) -> NewEvent {
    NewEvent {
        cluster_id: Some(node.cluster_id.clone()),
        node_id: Some(node.id.clone()),
        event_type: "node_status_changed".into(),
        category: EventCategory::Health,
        severity: match to {
            NodeStatus::Offline => Severity::Error,
            NodeStatus::Unreachable => Severity::Warning,
            _ => Severity::Info,
        },
        message: match why {
            Some(why) => format!("Node {} is {to} (was {from}): {why}", node.name),
            None => format!("Node {} is {to} (was {from})", node.name),
        },
        details: json!({"previous_status": from, "status": to}),
        actor: actor.to_owned(),
    }
}

/// The event for a node's health changing.
#[must_use]
pub fn node_health_event(
    node: &Node,
    from: crate::node::HealthStatus,
    to: crate::node::HealthStatus,
    actor: &str,
    at: DateTime<Utc>,
) -> NewEvent {
    use crate::node::HealthStatus;
    NewEvent {
        cluster_id: Some(node.cluster_id.clone()),
        node_id: Some(node.id.clone()),
        event_type: "node_health_changed".into(),
        category: EventCategory::Health,
        severity: match to {
            HealthStatus::Critical => Severity::Error,
            HealthStatus::Warning | HealthStatus::Unknown => Severity::Warning,
            HealthStatus::Healthy => Severity::Info,
        },
        message: format!("Node {} health is {to} (was {from})", node.name),
        details: json!({"previous_health": from, "health": to, "at": at}),
        actor: actor.to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::builtin_templates;
    use crate::ids::{ClusterId, NodeId};
    use crate::node::HealthStatus;
    use chrono::TimeZone;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    pub(crate) fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0)
            .single()
            .expect("t")
    }

    pub(crate) fn cluster() -> Cluster {
        let [_, staging, _] = builtin_templates();
        Cluster {
            id: ClusterId::parse("cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8").expect("id"),
            name: "Staging".into(),
            description: String::new(),
            region: "eu-west-1".into(),
            environment: staging.environment,
            status: ClusterStatus::Provisioning,
            health_score: 0.0,
            max_nodes: 5,
            max_tenants: 50,
            max_storage_gb: 500,
            config: staging.settings,
            template_name: Some("staging".into()),
            primary_node_id: None,
            coordinator_node_id: None,
            term: 0,
            created_at: t(),
            updated_at: t(),
        }
    }

    pub(crate) fn node(c: &Cluster, seq: u32, status: NodeStatus) -> Node {
        Node {
            id: NodeId::generate(&c.id, seq, &mut StdRng::seed_from_u64(u64::from(seq))),
            cluster_id: c.id.clone(),
            name: format!("n{seq}"),
            hostname: String::new(),
            region: String::new(),
            availability_zone: String::new(),
            status,
            health_status: HealthStatus::Healthy,
            is_primary: false,
            is_coordinator: false,
            cordoned: false,
            priority: 50,
            roles: vec![],
            capacity_cpu: 4.0,
            capacity_memory_gb: 8.0,
            capacity_storage_gb: 10.0,
            capacity_network_mbps: 0.0,
            last_heartbeat_at: None,
            usage: None,
            system: None,
            created_at: t(),
            updated_at: t(),
        }
    }

    #[test]
    fn first_node_online_activates_the_cluster_and_elects_leaders() {
        let c = cluster();
        let nodes = [
            node(&c, 1, NodeStatus::Online),
            node(&c, 2, NodeStatus::Provisioning),
        ];
        let p = plan(&c, &nodes, false, false, "system");
        assert!(p.ever_online);
        assert!((p.breakdown.score - 0.5).abs() < 1e-12);
        assert_eq!(p.status, ClusterStatus::Degraded);
        let change = p.leadership.clone().expect("leaders elected");
        assert_eq!(change.leadership.primary, Some(nodes[0].id.clone()));
        assert_eq!(change.term, 1);
        let types: Vec<&str> = p.events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(
            types,
            [
                "node_promotion",
                "coordinator_elected",
                "cluster_status_changed"
            ]
        );
        assert!(p.changes(&c, false));
    }

    #[test]
    fn a_failed_primary_is_replaced_with_an_event_saying_why() {
        let mut c = cluster();
        let mut nodes = vec![
            node(&c, 1, NodeStatus::Online),
            node(&c, 2, NodeStatus::Online),
        ];
        c.primary_node_id = Some(nodes[0].id.clone());
        c.coordinator_node_id = Some(nodes[1].id.clone());
        c.status = ClusterStatus::Active;
        c.health_score = 1.0;
        c.term = 3;
        nodes[0].status = NodeStatus::Unreachable;
        let p = plan(&c, &nodes, false, true, "system");
        let change = p.leadership.clone().expect("failover");
        assert_eq!(change.term, 4);
        let promotion = &p.events[0];
        assert_eq!(promotion.event_type, "node_promotion");
        assert_eq!(promotion.severity, Severity::Warning);
        assert!(
            promotion.message.contains("became unreachable"),
            "{}",
            promotion.message
        );
        assert_eq!(promotion.details["term"], 4);
        assert_eq!(p.status, ClusterStatus::Degraded);
    }

    #[test]
    fn a_settled_cluster_plans_no_change() {
        let mut c = cluster();
        let nodes = vec![
            node(&c, 1, NodeStatus::Online),
            node(&c, 2, NodeStatus::Online),
        ];
        c.primary_node_id = Some(nodes[0].id.clone());
        c.coordinator_node_id = Some(nodes[1].id.clone());
        c.status = ClusterStatus::Active;
        c.health_score = 1.0;
        let p = plan(&c, &nodes, false, true, "system");
        assert!(p.events.is_empty() && p.leadership.is_none());
        assert!(!p.changes(&c, true));
    }

    #[test]
    fn maintenance_and_decommissioned_clusters() {
        let mut c = cluster();
        let nodes = vec![node(&c, 1, NodeStatus::Online)];
        assert_eq!(
            plan(&c, &nodes, true, true, "system").status,
            ClusterStatus::Maintenance
        );
        c.status = ClusterStatus::Decommissioned;
        let p = plan(&c, &nodes, false, true, "system");
        assert_eq!(p.status, ClusterStatus::Decommissioned);
        assert!(
            p.leadership.is_none(),
            "no elections in a decommissioned cluster"
        );
    }
}
