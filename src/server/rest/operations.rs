//! `/api/v1/operations`: run a catalog operation, and the operations history.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use muster_domain::operations::{OperationQuery, OperationRecord, OperationRequest};
use muster_store::Page;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{JsonBody, QueryParams};
use crate::api::AppError;
use crate::api::operations::{OperationAnswer, history, run};
use crate::server::AppState;
use crate::server::auth::caller::Caller;

#[derive(Debug, Serialize, ToSchema)]
pub struct OperationPage {
    pub items: Vec<OperationRecord>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/operations", tag = "operations", request_body = OperationRequest,
    description = "Runs one operation of the catalog (cordon, uncordon, drain, maintenance_on, maintenance_off, promote_primary, set_coordinator, decommission_node, remove_node, rotate_node_token, apply_template, decommission_cluster, collect_now, signal_process). `dry_run` returns the impact without acting; a guarded operation answers 409 with the impact until it is sent with `force`.",
    responses(
        (status = 200, description = "done, or the dry run's impact", body = OperationAnswer),
        (status = 202, description = "an agent-side operation, queued for the node's next heartbeat", body = OperationAnswer),
        (status = 403, description = "the operation needs a higher role", body = AppError),
        (status = 404, body = AppError),
        (status = 409, description = "a guard objects (the answer's impact says what would happen; send force) or the cluster refuses", body = AppError),
        (status = 422, description = "a parameter, the operation or its subject is wrong (fields name it)", body = AppError),
        (status = 429, description = "over the operation's rate limit; see Retry-After", body = AppError)))]
pub async fn run_operation(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<OperationRequest>,
) -> Result<(StatusCode, Json<OperationAnswer>), AppError> {
    let answer = run(&state, &caller, request).await?;
    let queued = answer
        .operation
        .as_ref()
        .is_some_and(|o| !o.status.is_finished());
    let status = if queued {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(answer)))
}

#[utoipa::path(get, path = "/operations", tag = "operations",
    params(
        ("cluster_id" = Option<String>, Query), ("node_id" = Option<String>, Query),
        ("operation" = Option<String>, Query, description = "e.g. drain"),
        ("status" = Option<String>, Query, description = "pending, delivered, succeeded, failed or timed_out"),
        ("actor" = Option<String>, Query, description = "who ran it, e.g. user:admin"),
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1 to 1000, default 50"),
    ),
    responses((status = 200, body = OperationPage), (status = 400, body = AppError), (status = 404, body = AppError)))]
pub async fn list_operations(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<OperationRecord>>, AppError> {
    let q = QueryParams::parse(
        query.as_deref(),
        &[
            "cluster_id",
            "node_id",
            "operation",
            "status",
            "actor",
            "since",
            "until",
            "cursor",
            "limit",
        ],
    )?;
    let query = OperationQuery {
        cluster_id: q.get("cluster_id")?,
        node_id: q.get("node_id")?,
        operation: q.get("operation")?,
        status: q.get("status")?,
        actor: q.text("actor").map(|t| t.chars().take(200).collect()),
        since: q.get("since")?,
        until: q.get("until")?,
        cursor: q.text("cursor").map(str::to_owned),
        limit: muster_store::page_size(q.get("limit")?),
    };
    Ok(Json(history(state.store.as_ref(), &caller, &query).await?))
}
