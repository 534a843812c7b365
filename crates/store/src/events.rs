//! The events each change writes, in one place so every backend words them alike.

use muster_domain::coordination::{Leadership, LeadershipChange, Promotion};
use muster_domain::operations::OperationRecord;
use muster_domain::{Cluster, ClusterUsage, EventCategory, NewEvent, Node, Severity, Tenant};

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

pub(crate) fn cluster_updated(before: &Cluster, after: &Cluster, actor: &str) -> NewEvent {
    let mut changed = serde_json::Map::new();
    let mut note = |field: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            changed.insert(
                field.to_owned(),
                serde_json::json!({"from": from, "to": to}),
            );
        }
    };
    note(
        "name",
        before.name.clone().into(),
        after.name.clone().into(),
    );
    note(
        "description",
        before.description.clone().into(),
        after.description.clone().into(),
    );
    note(
        "region",
        before.region.clone().into(),
        after.region.clone().into(),
    );
    note("max_nodes", before.max_nodes.into(), after.max_nodes.into());
    note(
        "max_tenants",
        before.max_tenants.into(),
        after.max_tenants.into(),
    );
    note(
        "max_storage_gb",
        before.max_storage_gb.into(),
        after.max_storage_gb.into(),
    );
    note(
        "config",
        serde_json::to_value(before.config).unwrap_or_default(),
        serde_json::to_value(after.config).unwrap_or_default(),
    );
    let fields: Vec<&str> = changed.keys().map(String::as_str).collect();
    NewEvent {
        cluster_id: Some(after.id.clone()),
        node_id: None,
        event_type: "cluster_config_updated".into(),
        category: EventCategory::Configuration,
        severity: Severity::Info,
        message: if fields.is_empty() {
            format!("Cluster {} configuration saved without changes", after.name)
        } else {
            format!(
                "Cluster {} configuration changed: {}",
                after.name,
                fields.join(", ")
            )
        },
        details: serde_json::Value::Object(changed),
        actor: actor.to_owned(),
    }
}

pub(crate) fn cluster_decommissioned(
    cluster: &Cluster,
    usage: &ClusterUsage,
    forced: bool,
    actor: &str,
) -> NewEvent {
    NewEvent {
        cluster_id: Some(cluster.id.clone()),
        node_id: None,
        event_type: "cluster_decommissioned".into(),
        category: EventCategory::Lifecycle,
        severity: Severity::Warning,
        message: if forced && (usage.nodes > 0 || usage.tenants > 0) {
            format!(
                "Cluster {} decommissioned by force with {} node(s) and {} tenant(s)",
                cluster.name, usage.nodes, usage.tenants
            )
        } else {
            format!("Cluster {} decommissioned", cluster.name)
        },
        details: serde_json::json!({"forced": forced, "nodes": usage.nodes, "tenants": usage.tenants}),
        actor: actor.to_owned(),
    }
}

pub(crate) fn tenant_event(
    cluster: Option<&Cluster>,
    tenant: &Tenant,
    event_type: &str,
    message: String,
    actor: &str,
) -> NewEvent {
    NewEvent {
        cluster_id: cluster.map(|c| c.id.clone()),
        node_id: None,
        event_type: event_type.to_owned(),
        category: EventCategory::Configuration,
        severity: Severity::Info,
        message,
        details: serde_json::json!({"tenant_id": tenant.id, "tenant": tenant.name}),
        actor: actor.to_owned(),
    }
}

pub(crate) fn node_retired(node: &Node, removed: bool, actor: &str) -> NewEvent {
    NewEvent {
        cluster_id: Some(node.cluster_id.clone()),
        node_id: Some(node.id.clone()),
        event_type: if removed {
            "node_removed"
        } else {
            "node_decommissioned"
        }
        .into(),
        category: EventCategory::Lifecycle,
        severity: Severity::Warning,
        message: if removed {
            format!("Node {} removed from the inventory", node.name)
        } else {
            format!("Node {} decommissioned", node.name)
        },
        details: serde_json::json!({"sequence": node.id.sequence(), "was_primary": node.is_primary,
            "was_coordinator": node.is_coordinator}),
        actor: actor.to_owned(),
    }
}

pub(crate) fn user_changed(
    user: &muster_domain::users::User,
    event_type: &str,
    what: &str,
    actor: &str,
) -> NewEvent {
    NewEvent {
        cluster_id: None,
        node_id: None,
        event_type: event_type.to_owned(),
        category: EventCategory::Security,
        severity: Severity::Info,
        message: format!("User {} {what}", user.username),
        details: serde_json::json!({"user_id": user.id, "username": user.username, "role": user.role}),
        actor: actor.to_owned(),
    }
}

pub(crate) fn join_token(
    token: &muster_domain::protocol::JoinToken,
    event_type: &str,
    what: &str,
    actor: &str,
) -> NewEvent {
    NewEvent {
        cluster_id: Some(token.cluster_id.clone()),
        node_id: None,
        event_type: event_type.into(),
        category: EventCategory::Security,
        severity: Severity::Info,
        message: format!("Join token {} {what}", token.name),
        details: serde_json::json!({
            "token_id": token.id,
            "expires_at": token.expires_at,
        }),
        actor: actor.to_owned(),
    }
}

pub(crate) fn coordinator_appointed(
    cluster: &Cluster,
    node: &Node,
    before: &Leadership,
    change: &LeadershipChange,
    forced: bool,
    actor: &str,
) -> NewEvent {
    NewEvent {
        cluster_id: Some(cluster.id.clone()),
        node_id: Some(node.id.clone()),
        event_type: "coordinator_elected".into(),
        category: EventCategory::Coordination,
        severity: if forced {
            Severity::Warning
        } else {
            Severity::Info
        },
        message: change.reasons.join("; "),
        details: serde_json::json!({
            "previous_coordinator": before.coordinator,
            "primary": change.leadership.primary,
            "coordinator": change.leadership.coordinator,
            "term": change.term,
            "forced": forced,
            "automatic": false,
        }),
        actor: actor.to_owned(),
    }
}

/// The event type of a node token rotation; the server's token cache
/// forgets the node's old token when it sees one.
pub const NODE_TOKEN_ROTATED: &str = "node_token_rotated";

pub(crate) fn node_token_rotated(node: &Node, actor: &str) -> NewEvent {
    NewEvent {
        cluster_id: Some(node.cluster_id.clone()),
        node_id: Some(node.id.clone()),
        event_type: NODE_TOKEN_ROTATED.into(),
        category: EventCategory::Security,
        severity: Severity::Warning,
        message: format!(
            "Node {} has a new node token; the old one no longer works",
            node.name
        ),
        details: serde_json::json!({}),
        actor: actor.to_owned(),
    }
}

/// The event of a run: queued (agent-side), carried out, refused, reported
/// on by the agent (`before` is the run as it was), or timed out.
pub(crate) fn operation_event(
    record: &OperationRecord,
    before: Option<&OperationRecord>,
) -> NewEvent {
    use muster_domain::operations::{OperationName as Op, OperationStatus as S};
    let title = record.operation.spec().title;
    let (event_type, severity, message) = match record.status {
        S::Pending | S::Delivered => (
            "operation_queued",
            Severity::Info,
            format!("{title} queued: {}", record.result),
        ),
        S::Succeeded => (
            "operation_executed",
            if record.forced {
                Severity::Warning
            } else {
                Severity::Info
            },
            format!("{title}: {}", record.result),
        ),
        S::Failed => (
            "operation_executed",
            Severity::Warning,
            format!("{title} failed: {}", record.result),
        ),
        S::TimedOut => (
            "operation_timed_out",
            Severity::Warning,
            format!("{title} {}", record.result),
        ),
    };
    let category = match record.operation {
        Op::PromotePrimary | Op::SetCoordinator => EventCategory::Coordination,
        Op::RotateNodeToken => EventCategory::Security,
        Op::ApplyTemplate => EventCategory::Configuration,
        _ => EventCategory::Lifecycle,
    };
    NewEvent {
        cluster_id: Some(record.cluster_id.clone()),
        node_id: record.node_id.clone(),
        event_type: event_type.into(),
        category,
        severity,
        message,
        details: serde_json::json!({
            "operation_id": record.id,
            "operation": record.operation,
            "params": record.params,
            "forced": record.forced,
            "status": record.status,
            "previous_status": before.map(|b| b.status),
            "result": record.result,
            "output": record.output,
            "term": record.term,
            "duration_ms": record.duration_ms,
            "run_by": record.actor,
        }),
        // The agent's report is the node's word; everything else is the caller's.
        actor: match (before, &record.node_id) {
            (Some(_), Some(node)) if record.status != S::TimedOut => {
                muster_domain::Actor::Node(node.clone()).to_string()
            }
            (Some(_), _) => "system".to_owned(),
            (None, _) => record.actor.clone(),
        },
    }
}
