//! `/api/v1/nodes/{id}`: a node's record, status reports, promotion,
//! retirement and metric history.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use muster_domain::metrics::MetricStep;
use muster_domain::{Cluster, FieldErrors, MetricPoint, Node, NodeStatusUpdate};

use super::clusters::ForceFlag;
use super::extract::{JsonBody, NodePath, QueryParams};
use crate::api::{AppError, ErrorCode};
use crate::server::AppState;
use crate::server::auth::caller::Caller;
use muster_domain::operations::{OperationName, OperationSubject};
use muster_domain::users::Role;

#[utoipa::path(get, path = "/nodes/{id}", tag = "nodes",
    params(("id" = String, Path, description = "node id")),
    responses((status = 200, body = Node), (status = 400, body = AppError), (status = 404, body = AppError)))]
pub async fn get_node(
    State(state): State<AppState>,
    caller: Caller,
    NodePath(id): NodePath,
) -> Result<Json<Node>, AppError> {
    Ok(Json(caller.see_node(state.store.as_ref(), &id).await?))
}

#[utoipa::path(post, path = "/nodes/{id}/status", tag = "nodes", request_body = NodeStatusUpdate,
    params(("id" = String, Path, description = "node id")),
    responses((status = 200, body = Node), (status = 404, body = AppError), (status = 409, body = AppError),
        (status = 422, body = AppError)))]
pub async fn update_node_status(
    State(state): State<AppState>,
    caller: Caller,
    NodePath(id): NodePath,
    JsonBody(update): JsonBody<NodeStatusUpdate>,
) -> Result<Json<Node>, AppError> {
    caller.require(Role::Operator)?;
    caller.see_node(state.store.as_ref(), &id).await?;
    update.validate().map_err(AppError::invalid)?;
    Ok(Json(
        state
            .store
            .update_node_status(&id, &update, &caller.actor())
            .await?,
    ))
}

#[utoipa::path(post, path = "/nodes/{id}/promote", tag = "nodes", request_body = ForceFlag,
    params(("id" = String, Path, description = "node id")),
    responses((status = 200, description = "the cluster with its new primary and term", body = Cluster),
        (status = 404, body = AppError), (status = 409, description = "not a candidate; pass force", body = AppError)))]
pub async fn promote_to_primary(
    State(state): State<AppState>,
    caller: Caller,
    NodePath(id): NodePath,
    JsonBody(flag): JsonBody<ForceFlag>,
) -> Result<Json<Cluster>, AppError> {
    let node = caller.see_node(state.store.as_ref(), &id).await?;
    crate::api::operations::run_plain(
        &state,
        &caller,
        OperationName::PromotePrimary,
        OperationSubject::Node(id),
        flag.force,
    )
    .await?;
    Ok(Json(state.store.get_cluster(&node.cluster_id).await?))
}

/// Decommissions (`remove` false) or removes a node: admins only.
async fn retire(
    state: &AppState,
    caller: &Caller,
    id: &muster_domain::NodeId,
    remove: bool,
) -> Result<StatusCode, AppError> {
    let operation = if remove {
        OperationName::RemoveNode
    } else {
        OperationName::DecommissionNode
    };
    crate::api::operations::run_plain(
        state,
        caller,
        operation,
        OperationSubject::Node(id.clone()),
        false,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/nodes/{id}/decommission", tag = "nodes",
    params(("id" = String, Path, description = "node id")),
    responses((status = 204), (status = 404, body = AppError), (status = 409, body = AppError)))]
pub async fn decommission_node(
    State(state): State<AppState>,
    caller: Caller,
    NodePath(id): NodePath,
) -> Result<StatusCode, AppError> {
    retire(&state, &caller, &id, false).await
}

#[utoipa::path(delete, path = "/nodes/{id}", tag = "nodes",
    params(("id" = String, Path, description = "node id")),
    responses((status = 204), (status = 404, body = AppError)))]
pub async fn remove_node(
    State(state): State<AppState>,
    caller: Caller,
    NodePath(id): NodePath,
) -> Result<StatusCode, AppError> {
    retire(&state, &caller, &id, true).await
}

#[utoipa::path(get, path = "/nodes/{id}/metrics", tag = "metrics",
    params(("id" = String, Path, description = "node id"),
        ("name" = String, Query, description = "metric name, e.g. cpu_usage_percent"),
        ("since" = Option<String>, Query, description = "RFC 3339; default one hour ago"),
        ("until" = Option<String>, Query, description = "RFC 3339, inclusive; default now"),
        ("step" = Option<String>, Query, description = "raw, 1m or 1h; default chosen from the span")),
    responses((status = 200, body = Vec<MetricPoint>), (status = 400, body = AppError), (status = 404, body = AppError)))]
pub async fn node_metrics(
    State(state): State<AppState>,
    caller: Caller,
    NodePath(id): NodePath,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<MetricPoint>>, AppError> {
    let h = HistoryQuery::parse(query.as_deref())?;
    let step = h
        .step
        .unwrap_or_else(|| MetricStep::finest_for(h.since, h.until));
    caller.see_node(state.store.as_ref(), &id).await?;
    Ok(Json(
        state
            .store
            .metric_history(&id, &h.name, h.since, h.until, step)
            .await?,
    ))
}

/// The query of a metric history: `name`, `since` (default an hour before
/// `until`), `until` (default now) and an optional `step`.
pub(super) struct HistoryQuery {
    pub name: String,
    pub since: chrono::DateTime<chrono::Utc>,
    pub until: chrono::DateTime<chrono::Utc>,
    pub step: Option<MetricStep>,
}

impl HistoryQuery {
    pub fn parse(query: Option<&str>) -> Result<Self, AppError> {
        let q = QueryParams::parse(query, &["name", "since", "until", "step"])?;
        let name = q.text("name").ok_or_else(|| {
            AppError::with_fields(
                ErrorCode::BadRequest,
                FieldErrors::single("name", "name is required"),
            )
        })?;
        let until = q
            .get::<chrono::DateTime<chrono::Utc>>("until")?
            .unwrap_or_else(muster_store::now);
        let since = q
            .get::<chrono::DateTime<chrono::Utc>>("since")?
            .unwrap_or(until - chrono::Duration::hours(1));
        muster_domain::metrics::check_history(name, since, until)
            .map_err(|e| AppError::with_fields(ErrorCode::BadRequest, e))?;
        Ok(Self {
            name: name.to_owned(),
            since,
            until,
            step: q.get::<MetricStep>("step")?,
        })
    }
}
