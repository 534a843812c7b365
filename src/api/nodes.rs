//! Server functions for nodes: status reports, promotion, retirement and
//! metric history. The REST routes call the same store operations.

use leptos::prelude::*;
use muster_domain::metrics::MetricStep;
use muster_domain::{Cluster, MetricPoint, Node, NodeId, NodeStatusUpdate};

use super::AppError;

/// `get_node_info`: a node with its cluster, its top processes and its
/// latest status changes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NodeInfo {
    pub node: Node,
    pub cluster: Cluster,
    /// As its latest heartbeat reported them, busiest first.
    pub processes: Vec<muster_domain::processes::ProcessRow>,
    /// Status changes, newest first.
    pub liveness: Vec<muster_domain::Event>,
}

/// Most status changes [`NodeInfo`] carries.
pub const LIVENESS_EVENTS: u32 = 20;

#[server(prefix = "/fn", endpoint = "get_node_info", input = super::codec::Json, output = super::codec::Json)]
pub async fn get_node_info(id: NodeId) -> Result<NodeInfo, AppError> {
    use muster_domain::processes::{ProcessQuery, process_page};
    use muster_domain::query::EventQuery;
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    let node = caller.see_node(state.store.as_ref(), &id).await?;
    let liveness = EventQuery {
        node_id: Some(id.clone()),
        event_type: Some("node_status_changed".into()),
        limit: LIVENESS_EVENTS,
        ..EventQuery::default()
    };
    let (cluster, reports, liveness) = tokio::try_join!(
        state.store.get_cluster(&node.cluster_id),
        state
            .store
            .node_processes(muster_store::ProcessesOf::Node(&id)),
        state.store.list_events_in(&liveness, caller.scope()),
    )?;
    let processes = process_page(
        reports,
        &ProcessQuery {
            node_id: Some(id),
            limit: 100,
            ..ProcessQuery::default()
        },
    )
    .map_err(AppError::invalid)?
    .items;
    Ok(NodeInfo {
        node,
        cluster,
        processes,
        liveness: liveness.items,
    })
}

#[server(prefix = "/fn", endpoint = "get_node", input = super::codec::Json, output = super::codec::Json)]
pub async fn get_node(id: NodeId) -> Result<Node, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.see_node(state.store.as_ref(), &id).await
}

#[server(prefix = "/fn", endpoint = "update_node_status", input = super::codec::Json, output = super::codec::Json)]
pub async fn update_node_status(id: NodeId, update: NodeStatusUpdate) -> Result<Node, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.require(muster_domain::users::Role::Operator)?;
    caller.see_node(state.store.as_ref(), &id).await?;
    update.validate().map_err(AppError::invalid)?;
    Ok(state
        .store
        .update_node_status(&id, &update, &caller.actor())
        .await?)
}

#[server(prefix = "/fn", endpoint = "promote_to_primary", input = super::codec::Json, output = super::codec::Json)]
pub async fn promote_to_primary(id: NodeId, force: bool) -> Result<Cluster, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    let node = caller.see_node(state.store.as_ref(), &id).await?;
    super::operations::run_plain(
        &state,
        &caller,
        muster_domain::operations::OperationName::PromotePrimary,
        muster_domain::operations::OperationSubject::Node(id),
        force,
    )
    .await?;
    Ok(state.store.get_cluster(&node.cluster_id).await?)
}

/// Decommissions the node (`remove` false) or deletes it from the inventory.
#[server(prefix = "/fn", endpoint = "retire_node", input = super::codec::Json, output = super::codec::Json)]
pub async fn retire_node(id: NodeId, remove: bool) -> Result<(), AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    let operation = if remove {
        muster_domain::operations::OperationName::RemoveNode
    } else {
        muster_domain::operations::OperationName::DecommissionNode
    };
    super::operations::run_plain(
        &state,
        &caller,
        operation,
        muster_domain::operations::OperationSubject::Node(id),
        false,
    )
    .await?;
    Ok(())
}

#[server(prefix = "/fn", endpoint = "node_metric_history", input = super::codec::Json, output = super::codec::Json)]
pub async fn node_metric_history(
    id: NodeId,
    name: String,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
    step: Option<MetricStep>,
) -> Result<Vec<MetricPoint>, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.see_node(state.store.as_ref(), &id).await?;
    muster_domain::metrics::check_history(&name, since, until).map_err(AppError::invalid)?;
    let step = step.unwrap_or_else(|| MetricStep::finest_for(since, until));
    Ok(state
        .store
        .metric_history(&id, &name, since, until, step)
        .await?)
}
