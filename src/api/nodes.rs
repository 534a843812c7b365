//! Server functions for nodes: status reports, promotion, retirement and
//! metric history. The REST routes call the same store operations.

use leptos::prelude::*;
use muster_domain::metrics::MetricStep;
use muster_domain::{Cluster, MetricPoint, Node, NodeId, NodeStatusUpdate};

use super::AppError;

#[server(prefix = "/fn", endpoint = "get_node", input = leptos::server_fn::codec::Json)]
pub async fn get_node(id: NodeId) -> Result<Node, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.see_node(state.store.as_ref(), &id).await
}

#[server(prefix = "/fn", endpoint = "update_node_status", input = leptos::server_fn::codec::Json)]
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

#[server(prefix = "/fn", endpoint = "promote_to_primary", input = leptos::server_fn::codec::Json)]
pub async fn promote_to_primary(id: NodeId, force: bool) -> Result<Cluster, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.require(muster_domain::users::Role::Operator)?;
    caller.see_node(state.store.as_ref(), &id).await?;
    Ok(state
        .store
        .promote_node(&id, force, &caller.actor())
        .await?)
}

/// Decommissions the node (`remove` false) or deletes it from the inventory.
#[server(prefix = "/fn", endpoint = "retire_node", input = leptos::server_fn::codec::Json)]
pub async fn retire_node(id: NodeId, remove: bool) -> Result<(), AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.require(muster_domain::users::Role::Admin)?;
    caller.see_node(state.store.as_ref(), &id).await?;
    Ok(state
        .store
        .retire_node(&id, remove, &caller.actor())
        .await?)
}

#[server(prefix = "/fn", endpoint = "node_metric_history", input = leptos::server_fn::codec::Json)]
pub async fn node_metric_history(
    id: NodeId,
    name: String,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
    step: Option<MetricStep>,
) -> Result<Vec<MetricPoint>, AppError> {
    use muster_domain::FieldErrors;
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.see_node(state.store.as_ref(), &id).await?;
    if !muster_domain::metrics::is_metric_name(&name) {
        return Err(AppError::invalid(FieldErrors::single(
            "name",
            "name is not a metric name",
        )));
    }
    if since >= until {
        return Err(AppError::invalid(FieldErrors::single(
            "since",
            "since must be before until",
        )));
    }
    let step = step.unwrap_or_else(|| MetricStep::finest_for(since, until));
    Ok(state
        .store
        .metric_history(&id, &name, since, until, step)
        .await?)
}
