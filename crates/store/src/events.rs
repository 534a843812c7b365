//! The events each change writes, in one place so every backend words them alike.

use muster_domain::coordination::{Leadership, Promotion};
use muster_domain::{Cluster, EventCategory, NewEvent, Node, Severity};

pub(crate) fn cluster_created(cluster: &Cluster, actor: &str) -> NewEvent {
    NewEvent {
        cluster_id: Some(cluster.id.clone()),
        node_id: None,
        event_type: "cluster_created".into(),
        category: EventCategory::Lifecycle,
        severity: Severity::Info,
        message: format!(
            "Cluster {} created in {} ({})",
            cluster.name, cluster.region, cluster.environment
        ),
        details: serde_json::json!({
            "template": cluster.template_name,
            "max_nodes": cluster.max_nodes,
            "max_tenants": cluster.max_tenants,
            "max_storage_gb": cluster.max_storage_gb,
        }),
        actor: actor.to_owned(),
    }
}

pub(crate) fn node_added(node: &Node, actor: &str) -> NewEvent {
    NewEvent {
        cluster_id: Some(node.cluster_id.clone()),
        node_id: Some(node.id.clone()),
        event_type: "node_added".into(),
        category: EventCategory::Lifecycle,
        severity: Severity::Info,
        message: format!("Node {} added (sequence {})", node.name, node.id.sequence()),
        details: serde_json::json!({
            "roles": node.roles,
            "priority": node.priority,
            "capacity_cpu": node.capacity_cpu,
            "capacity_memory_gb": node.capacity_memory_gb,
            "capacity_storage_gb": node.capacity_storage_gb,
        }),
        actor: actor.to_owned(),
    }
}

pub(crate) fn node_promoted(
    cluster: &Cluster,
    node: &Node,
    before: &Leadership,
    promotion: &Promotion,
    forced: bool,
    actor: &str,
) -> NewEvent {
    NewEvent {
        cluster_id: Some(cluster.id.clone()),
        node_id: Some(node.id.clone()),
        event_type: "node_promotion".into(),
        category: EventCategory::Coordination,
        severity: if forced {
            Severity::Warning
        } else {
            Severity::Info
        },
        message: promotion.change.reasons.join("; "),
        details: serde_json::json!({
            "previous_primary": before.primary,
            "primary": promotion.change.leadership.primary,
            "coordinator": promotion.change.leadership.coordinator,
            "term": promotion.change.term,
            "priority": promotion.priority,
            "forced": forced,
            "automatic": false,
        }),
        actor: actor.to_owned(),
    }
}
