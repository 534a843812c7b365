//! Joining nodes: admins manage each cluster's join tokens, and an agent trades
//! one for a node of its own and a node token (`POST /api/v1/agent/register`),
//! then reports with it (`POST /api/v1/agent/heartbeat`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use muster_domain::operations::{OperationRecord, OperationReport};
use muster_domain::protocol::{
    HeartbeatRequest, HeartbeatResponse, JoinToken, PROTOCOL_VERSION, RegisterRequest,
    RegisterResponse, check_protocol_version,
};
use muster_domain::users::Role;
use muster_domain::{FieldErrors, NewNode};

use super::extract::{ClusterPath, JsonBody};
use crate::api::join_tokens::{self, CreatedJoinToken, NewJoinToken};
use crate::api::{AppError, ErrorCode};
use crate::server::AppState;
use crate::server::auth::caller::Caller;
use crate::server::tokens::{hash_token, new_token};

fn created(c: CreatedJoinToken) -> (StatusCode, Json<CreatedJoinToken>) {
    (StatusCode::CREATED, Json(c))
}

#[utoipa::path(post, path = "/clusters/{id}/join-tokens", tag = "agents", request_body = NewJoinToken,
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 201, body = CreatedJoinToken), (status = 401, body = AppError), (status = 403, body = AppError),
        (status = 404, body = AppError), (status = 422, body = AppError)))]
pub async fn create_join_token(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
    JsonBody(req): JsonBody<NewJoinToken>,
) -> Result<(StatusCode, Json<CreatedJoinToken>), AppError> {
    join_tokens::create(state.store.as_ref(), &caller, &id, &req)
        .await
        .map(created)
}

#[utoipa::path(get, path = "/clusters/{id}/join-tokens", tag = "agents",
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 200, body = Vec<JoinToken>), (status = 401, body = AppError), (status = 403, body = AppError),
        (status = 404, body = AppError)))]
pub async fn list_join_tokens(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
) -> Result<Json<Vec<JoinToken>>, AppError> {
    caller.require(Role::Admin)?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    Ok(Json(state.store.list_join_tokens(&id).await?))
}

#[utoipa::path(post, path = "/clusters/{id}/join-tokens/{token_id}/rotate", tag = "agents",
    params(("id" = String, Path, description = "cluster id"), ("token_id" = String, Path)),
    responses((status = 201, description = "the old secret stops working; the new one is shown once", body = CreatedJoinToken),
        (status = 401, body = AppError), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn rotate_join_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, token_id)): Path<(String, String)>,
    ClusterPath(id): ClusterPath,
) -> Result<(StatusCode, Json<CreatedJoinToken>), AppError> {
    join_tokens::rotate(state.store.as_ref(), &caller, &id, &token_id)
        .await
        .map(created)
}

#[utoipa::path(delete, path = "/clusters/{id}/join-tokens/{token_id}", tag = "agents",
    params(("id" = String, Path, description = "cluster id"), ("token_id" = String, Path)),
    responses((status = 204), (status = 401, body = AppError), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn revoke_join_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, token_id)): Path<(String, String)>,
    ClusterPath(id): ClusterPath,
) -> Result<StatusCode, AppError> {
    caller.require(Role::Admin)?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    state
        .store
        .revoke_join_token(&id, &token_id, &caller.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/agent/register", tag = "agents", request_body = RegisterRequest,
    responses((status = 201, description = "the node token is shown this once", body = RegisterResponse),
        (status = 401, description = "the join token is unknown, revoked or expired", body = AppError),
        (status = 409, description = "the cluster is full", body = AppError), (status = 422, body = AppError)))]
pub async fn register(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), AppError> {
    let mut errors = FieldErrors::new();
    if let Err(e) = check_protocol_version(req.protocol_version) {
        errors.merge(e);
    }
    if let Err(e) = req.system.validate() {
        errors.merge(e);
    }
    errors.into_result().map_err(AppError::invalid)?;
    let system = req.system;
    let node = NewNode {
        name: req.name.unwrap_or_else(|| system.hostname.clone()),
        hostname: system.hostname.clone(),
        region: String::new(),
        availability_zone: String::new(),
        priority: NewNode::default_priority(),
        roles: Vec::new(),
        capacity_cpu: f64::from(system.cpu_cores),
        capacity_memory_gb: system.memory_total_gb,
        capacity_storage_gb: system.disk_total_gb,
        capacity_network_mbps: 0.0,
    };
    let node_token = new_token("mnt");
    let added = match state
        .store
        .register_node(
            &hash_token(&req.join_token),
            &node,
            &system,
            &hash_token(&node_token),
        )
        .await
    {
        Err(muster_store::StoreError::NotFound("join token")) => {
            return Err(AppError::new(
                ErrorCode::Unauthorized,
                "the join token is not valid (unknown, revoked or expired)",
            ));
        }
        other => other?,
    };
    let cluster = state.store.get_cluster(&added.cluster_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse {
            protocol_version: PROTOCOL_VERSION,
            cluster_id: added.cluster_id,
            node_id: added.id,
            node_token,
            interval_s: cluster.config.health_check_interval_s,
        }),
    ))
}

/// The node token of an agent's request.
fn node_token(headers: &HeaderMap) -> Result<&str, AppError> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::Unauthorized,
                "send the node token as Authorization: Bearer <token>",
            )
        })
}

fn bad_node_token() -> AppError {
    AppError::new(
        ErrorCode::Unauthorized,
        "the node token is not valid (unknown, or its node was retired)",
    )
}

#[utoipa::path(post, path = "/agent/heartbeat", tag = "agents", request_body = HeartbeatRequest,
    description = "Authenticated by the node token: `Authorization: Bearer <node token>`.",
    responses((status = 200, description = "committed; the node's role, the term, pending operations and the next interval", body = HeartbeatResponse),
        (status = 401, body = AppError), (status = 422, body = AppError),
        (status = 503, description = "too many heartbeats are waiting; retry shortly", body = AppError)))]
/// One heartbeat: answered after it is committed, together with whatever
/// other heartbeats were waiting.
pub async fn heartbeat(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, AppError> {
    use crate::server::ingest::IngestError;
    let token_hash = hash_token(node_token(&headers)?);
    req.validate().map_err(AppError::invalid)?;
    let (node_id, cluster_id) = state
        .ingest
        .resolve(state.store.as_ref(), &token_hash)
        .await?
        .ok_or_else(bad_node_token)?;
    let write = muster_store::HeartbeatWrite {
        node_id,
        cluster_id,
        request: req,
        received_at: muster_store::now(),
    };
    let ack = match state.ingest.submit(&token_hash, write).await {
        Ok(ack) => ack,
        Err(IngestError::UnknownNode) => return Err(bad_node_token()),
        Err(IngestError::Busy) => {
            return Err(AppError::new(
                ErrorCode::Unavailable,
                "too many heartbeats are waiting; retry shortly",
            ));
        }
        Err(IngestError::Store(e)) => return Err(e.into()),
    };
    Ok(Json(HeartbeatResponse {
        protocol_version: PROTOCOL_VERSION,
        ack_seq: ack.ack_seq,
        role: ack.role,
        term: ack.term,
        pending_operations: ack.operations,
        next_interval_s: ack.interval_s,
    }))
}

#[utoipa::path(post, path = "/agent/operations/{id}/result", tag = "agents", request_body = OperationReport,
    description = "An agent's report on an operation delivered in a heartbeat answer. Authenticated by the node token: `Authorization: Bearer <node token>`; a node reports only on its own operations.",
    params(("id" = i64, Path, description = "the operation's id, as delivered")),
    responses((status = 200, description = "the run, finished", body = OperationRecord),
        (status = 400, body = AppError), (status = 401, body = AppError), (status = 404, body = AppError),
        (status = 409, description = "the run has already finished (reported, or timed out)", body = AppError),
        (status = 422, body = AppError)))]
pub async fn report_operation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(report): JsonBody<OperationReport>,
) -> Result<Json<OperationRecord>, AppError> {
    let id: i64 = id.parse().map_err(|_| {
        AppError::with_fields(
            ErrorCode::BadRequest,
            FieldErrors::single("id", "id must be an operation id (a whole number)"),
        )
    })?;
    let token_hash = hash_token(node_token(&headers)?);
    report.validate().map_err(AppError::invalid)?;
    let (node_id, _) = state
        .ingest
        .resolve(state.store.as_ref(), &token_hash)
        .await?
        .ok_or_else(bad_node_token)?;
    Ok(Json(
        state.store.report_operation(&node_id, id, &report).await?,
    ))
}
