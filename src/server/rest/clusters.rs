//! `/api/v1/clusters`: create, list, read, change and retire clusters; their
//! health, failover plan, nodes, metrics and tenants.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use muster_domain::{Cluster, ClusterUpdate, FieldErrors, NewNode, Node, Tenant};
use muster_store::{ClusterQuery, ClusterSort, Page};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{ClusterPath, JsonBody, QueryParams};
use crate::api::clusters::{
    AddedNode, ClusterHealth, ClusterInfo, CreateClusterRequest, FailoverPlanView, add_node,
    cluster_info, create, failover_view,
};
use crate::api::{AppError, ErrorCode};
use crate::server::AppState;
use crate::server::auth::caller::Caller;
use muster_domain::users::Role;

#[utoipa::path(post, path = "/clusters", tag = "clusters", request_body = CreateClusterRequest,
    responses((status = 201, body = Cluster), (status = 404, description = "template not found", body = AppError),
        (status = 409, body = AppError), (status = 422, body = AppError)))]
pub async fn create_cluster(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateClusterRequest>,
) -> Result<(StatusCode, Json<Cluster>), AppError> {
    caller.require(Role::Admin)?;
    let cluster = create(state.store.as_ref(), req, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(cluster)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterPage {
    pub items: Vec<Cluster>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/clusters", tag = "clusters",
    params(
        ("status" = Option<String>, Query, description = "provisioning, active, degraded, offline, maintenance or decommissioned"),
        ("environment" = Option<String>, Query, description = "development, staging or production"),
        ("region" = Option<String>, Query),
        ("name" = Option<String>, Query, description = "case-insensitive part of the name"),
        ("sort" = Option<String>, Query, description = "name, created_at or health_score; prefix - for descending (default -created_at)"),
        ("cursor" = Option<String>, Query),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 50"),
    ),
    responses((status = 200, body = ClusterPage), (status = 400, body = AppError)))]
pub async fn list_clusters(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<Cluster>>, AppError> {
    let q = QueryParams::parse(
        query.as_deref(),
        &[
            "status",
            "environment",
            "region",
            "name",
            "sort",
            "cursor",
            "limit",
        ],
    )?;
    let (sort, descending) = match q.text("sort") {
        None => (ClusterSort::CreatedAt, true),
        Some(s) => ClusterSort::parse_signed(s).map_err(|e| {
            AppError::with_fields(ErrorCode::BadRequest, FieldErrors::single("sort", e))
        })?,
    };
    let query = ClusterQuery {
        status: q.get("status")?,
        environment: q.get("environment")?,
        region: q.text("region").map(str::to_owned),
        name: q.text("name").map(str::to_owned),
        sort,
        descending,
        include_decommissioned: q.get("status")?
            == Some(muster_domain::ClusterStatus::Decommissioned),
        cursor: q.text("cursor").map(str::to_owned),
        limit: muster_store::page_size(q.get("limit")?),
    };
    Ok(Json(
        state.store.list_clusters_in(&query, caller.scope()).await?,
    ))
}

#[utoipa::path(get, path = "/clusters/{id}", tag = "clusters",
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 200, body = ClusterInfo), (status = 400, body = AppError), (status = 404, body = AppError)))]
pub async fn get_cluster_info(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
) -> Result<Json<ClusterInfo>, AppError> {
    caller.see_cluster(state.store.as_ref(), &id).await?;
    Ok(Json(cluster_info(state.store.as_ref(), &id).await?))
}

#[utoipa::path(patch, path = "/clusters/{id}", tag = "clusters", request_body = ClusterUpdate,
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 200, body = Cluster), (status = 404, body = AppError), (status = 409, body = AppError),
        (status = 422, body = AppError)))]
pub async fn update_cluster(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
    JsonBody(update): JsonBody<ClusterUpdate>,
) -> Result<Json<Cluster>, AppError> {
    caller.require(Role::Admin)?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    update.validate().map_err(AppError::invalid)?;
    Ok(Json(
        state
            .store
            .update_cluster(&id, &update, &caller.actor())
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForceFlag {
    #[serde(default)]
    pub force: bool,
}

#[utoipa::path(post, path = "/clusters/{id}/decommission", tag = "clusters", request_body = ForceFlag,
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 200, body = Cluster), (status = 404, body = AppError),
        (status = 409, description = "nodes or tenants remain; pass force", body = AppError)))]
pub async fn decommission_cluster(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
    JsonBody(flag): JsonBody<ForceFlag>,
) -> Result<Json<Cluster>, AppError> {
    use muster_domain::operations::{OperationName, OperationSubject};
    crate::api::operations::run_plain(
        &state,
        &caller,
        OperationName::DecommissionCluster,
        OperationSubject::Cluster(id.clone()),
        flag.force,
    )
    .await?;
    Ok(Json(state.store.get_cluster(&id).await?))
}

#[utoipa::path(get, path = "/clusters/{id}/health", tag = "health",
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 200, body = ClusterHealth), (status = 404, body = AppError)))]
pub async fn get_cluster_health(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
) -> Result<Json<ClusterHealth>, AppError> {
    caller.see_cluster(state.store.as_ref(), &id).await?;
    let (cluster, nodes) =
        tokio::try_join!(state.store.get_cluster(&id), state.store.list_nodes(&id))?;
    Ok(Json(crate::api::clusters::cluster_health(
        &cluster,
        &nodes,
        muster_store::now(),
    )))
}

#[utoipa::path(get, path = "/clusters/{id}/failover-plan", tag = "clusters",
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 200, body = FailoverPlanView), (status = 404, body = AppError)))]
pub async fn get_failover_plan(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
) -> Result<Json<FailoverPlanView>, AppError> {
    caller.see_cluster(state.store.as_ref(), &id).await?;
    Ok(Json(failover_view(state.store.as_ref(), &id).await?))
}

#[utoipa::path(post, path = "/clusters/{id}/nodes", tag = "nodes", request_body = NewNode,
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 201, body = AddedNode), (status = 404, body = AppError),
        (status = 409, description = "max_nodes or max_storage_gb reached", body = AppError), (status = 422, body = AppError)))]
pub async fn add_cluster_node(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
    JsonBody(node): JsonBody<NewNode>,
) -> Result<(StatusCode, Json<AddedNode>), AppError> {
    caller.require(Role::Admin)?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(add_node(state.store.as_ref(), &id, &node, &caller.actor()).await?),
    ))
}

#[utoipa::path(get, path = "/clusters/{id}/nodes", tag = "nodes",
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 200, body = Vec<Node>), (status = 404, body = AppError)))]
pub async fn list_cluster_nodes(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
) -> Result<Json<Vec<Node>>, AppError> {
    caller.see_cluster(state.store.as_ref(), &id).await?;
    Ok(Json(state.store.list_nodes(&id).await?))
}

/// `record_cluster_metrics`: one sample of a node's metrics.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordMetrics {
    pub node_id: muster_domain::NodeId,
    pub metrics: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recorded {
    pub recorded: u64,
}

#[utoipa::path(post, path = "/clusters/{id}/metrics", tag = "metrics", request_body = RecordMetrics,
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 201, body = Recorded), (status = 404, body = AppError), (status = 422, body = AppError)))]
pub async fn record_cluster_metrics(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
    JsonBody(req): JsonBody<RecordMetrics>,
) -> Result<(StatusCode, Json<Recorded>), AppError> {
    caller.require(Role::Operator)?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    muster_domain::metrics::check_metrics(req.metrics.iter().map(|(k, v)| (k.as_str(), *v)))
        .map_err(AppError::invalid)?;
    let recorded = state
        .store
        .record_metrics(&id, &req.node_id, &req.metrics)
        .await?;
    Ok((StatusCode::CREATED, Json(Recorded { recorded })))
}

#[utoipa::path(get, path = "/clusters/{id}/metrics", tag = "metrics",
    params(("id" = String, Path, description = "cluster id"),
        ("name" = String, Query, description = "metric name, e.g. cpu_usage_percent"),
        ("since" = Option<String>, Query, description = "RFC 3339; default one hour ago"),
        ("until" = Option<String>, Query, description = "RFC 3339, inclusive; default now"),
        ("step" = Option<String>, Query, description = "1m or 1h; default 1m up to a day, 1h beyond")),
    responses((status = 200, description = "per bucket: the lowest and highest sample of any of the cluster's nodes, and the mean of all",
        body = Vec<muster_domain::MetricPoint>), (status = 400, body = AppError), (status = 404, body = AppError)))]
pub async fn cluster_metrics(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<muster_domain::MetricPoint>>, AppError> {
    use muster_domain::metrics::MetricStep;
    let h = super::nodes::HistoryQuery::parse(query.as_deref())?;
    let step = match h.step {
        Some(MetricStep::Raw) => {
            return Err(AppError::with_fields(
                ErrorCode::BadRequest,
                FieldErrors::single(
                    "step",
                    "a cluster's history is per minute (1m) or hour (1h)",
                ),
            ));
        }
        Some(step) => step,
        None => MetricStep::finest_across_nodes(h.since, h.until),
    };
    caller.see_cluster(state.store.as_ref(), &id).await?;
    Ok(Json(
        state
            .store
            .cluster_metric_history(&id, &h.name, h.since, h.until, step)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceTenant {
    pub tenant_id: String,
}

#[utoipa::path(post, path = "/clusters/{id}/tenants", tag = "tenants", request_body = PlaceTenant,
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 201, body = Tenant), (status = 404, body = AppError),
        (status = 409, description = "already hosted, or max_tenants reached", body = AppError)))]
pub async fn place_tenant(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
    JsonBody(req): JsonBody<PlaceTenant>,
) -> Result<(StatusCode, Json<Tenant>), AppError> {
    caller.require(Role::Admin)?;
    let tenant = state
        .store
        .place_tenant(&id, &req.tenant_id, &caller.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

#[utoipa::path(get, path = "/clusters/{id}/tenants", tag = "tenants",
    params(("id" = String, Path, description = "cluster id")),
    responses((status = 200, body = Vec<Tenant>), (status = 404, body = AppError)))]
pub async fn list_cluster_tenants(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
) -> Result<Json<Vec<Tenant>>, AppError> {
    caller.see_cluster(state.store.as_ref(), &id).await?;
    Ok(Json(state.store.cluster_tenants(&id).await?))
}

#[utoipa::path(delete, path = "/clusters/{id}/tenants/{tenant_id}", tag = "tenants",
    params(("id" = String, Path, description = "cluster id"), ("tenant_id" = String, Path)),
    responses((status = 204), (status = 404, body = AppError)))]
pub async fn remove_tenant(
    State(state): State<AppState>,
    caller: Caller,
    ClusterPath(id): ClusterPath,
    axum::extract::Path((_, tenant_id)): axum::extract::Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    caller.require(Role::Admin)?;
    state
        .store
        .remove_tenant(&id, &tenant_id, &caller.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
