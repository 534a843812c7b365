//! The REST API under `/api/v1`, described by `/api/v1/openapi.json`, which is
//! generated from these handlers.

pub mod agent;
pub mod auth;
pub mod clusters;
pub mod events;
pub mod extract;
pub mod nodes;
pub mod operations;
pub mod processes;
pub mod tenants;
pub mod users;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use muster_domain::ClusterStatus;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::clusters::{ClusterHealth, cluster_health};
use crate::api::{AppError, ErrorCode};
use crate::server::AppState;
use crate::server::auth::caller::Caller;

#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "every cluster's health", body = Vec<ClusterHealth>)))]
pub async fn health_summary(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ClusterHealth>>, AppError> {
    let mut query = muster_store::ClusterQuery {
        limit: muster_store::MAX_PAGE,
        ..muster_store::ClusterQuery::default()
    };
    let mut out = Vec::new();
    loop {
        let page = state.store.list_clusters_in(&query, caller.scope()).await?;
        for cluster in page.items {
            if cluster.status == ClusterStatus::Decommissioned {
                continue;
            }
            let nodes = state.store.list_nodes(&cluster.id).await?;
            out.push(cluster_health(&cluster, &nodes, muster_store::now()));
        }
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    Ok(Json(out))
}

/// The REST routes (relative to `/api/v1`) and the OpenAPI document
/// describing them all.
pub struct Routes {
    /// Everything but the agents' routes.
    pub api: axum::Router<AppState>,
    /// What agents call, with node or join tokens and never a session
    /// (`/agent/...`), kept apart so that they can be served outside the
    /// browser's layers.
    pub agents: axum::Router<AppState>,
    pub doc: OpenApi,
}

/// The REST routes and the OpenAPI document describing them.
pub fn router() -> Routes {
    let (agents, agents_doc) = OpenApiRouter::<AppState>::new()
        .routes(routes!(agent::report_operation))
        .routes(routes!(agent::register))
        .routes(routes!(agent::heartbeat))
        .split_for_parts();
    let (router, mut api) = OpenApiRouter::<AppState>::new()
        .routes(routes!(clusters::create_cluster, clusters::list_clusters))
        .routes(routes!(
            clusters::get_cluster_info,
            clusters::update_cluster
        ))
        .routes(routes!(clusters::decommission_cluster))
        .routes(routes!(clusters::get_cluster_health))
        .routes(routes!(clusters::get_failover_plan))
        .routes(routes!(
            clusters::add_cluster_node,
            clusters::list_cluster_nodes
        ))
        .routes(routes!(
            clusters::record_cluster_metrics,
            clusters::cluster_metrics
        ))
        .routes(routes!(
            clusters::place_tenant,
            clusters::list_cluster_tenants
        ))
        .routes(routes!(clusters::remove_tenant))
        .routes(routes!(nodes::get_node, nodes::remove_node))
        .routes(routes!(nodes::update_node_status))
        .routes(routes!(nodes::promote_to_primary))
        .routes(routes!(nodes::decommission_node))
        .routes(routes!(nodes::node_metrics))
        .routes(routes!(events::get_cluster_events))
        .routes(routes!(processes::list_processes))
        .routes(routes!(
            operations::run_operation,
            operations::list_operations
        ))
        .routes(routes!(events::export_events))
        .routes(routes!(tenants::create_tenant, tenants::list_tenants))
        .routes(routes!(tenants::list_templates))
        .routes(routes!(health_summary))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::create_token, auth::list_tokens))
        .routes(routes!(auth::revoke_token))
        .routes(routes!(users::create_user, users::list_users))
        .routes(routes!(users::change_password))
        .routes(routes!(users::update_user))
        .routes(routes!(users::reset_password))
        .routes(routes!(agent::create_join_token, agent::list_join_tokens))
        .routes(routes!(agent::rotate_join_token))
        .routes(routes!(agent::revoke_join_token))
        .split_for_parts();
    api.merge(agents_doc);
    api.info.title = "Muster API".into();
    api.info.version = env!("CARGO_PKG_VERSION").into();
    api.info.description = Some("Clusters, nodes, health, events and metrics. Errors answer {\"error\", \"message\", \"fields\"}.".into());
    api.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    let doc = api.clone();
    let router = router
        .route(
            "/openapi.json",
            get(move || std::future::ready(Json(doc.clone()))),
        )
        .fallback(|| async { AppError::new(ErrorCode::NotFound, "no such API route") })
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES));
    Routes {
        api: router,
        agents: agents.layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES)),
        doc: api,
    }
}
