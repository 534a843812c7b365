//! `GET /api/v1/processes`: the top processes each node last reported, across
//! a cluster or for one node.

use axum::Json;
use axum::extract::{RawQuery, State};
use muster_domain::processes::{ProcessQuery, ProcessRow};
use muster_store::Page;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::QueryParams;
use crate::api::AppError;
use crate::server::AppState;
use crate::server::auth::caller::Caller;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessPage {
    pub items: Vec<ProcessRow>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/processes", tag = "processes",
    params(
        ("cluster_id" = Option<String>, Query, description = "the cluster whose nodes' processes to list; this or node_id is required"),
        ("node_id" = Option<String>, Query),
        ("q" = Option<String>, Query, description = "part of the process name or user, any case"),
        ("sort" = Option<String>, Query, description = "cpu (default) or memory, highest first; name, pid or node"),
        ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1 to 1000, default 50"),
    ),
    responses((status = 200, body = ProcessPage), (status = 400, body = AppError), (status = 401, body = AppError),
        (status = 404, body = AppError)))]
pub async fn list_processes(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<ProcessRow>>, AppError> {
    let q = QueryParams::parse(
        query.as_deref(),
        &["cluster_id", "node_id", "q", "sort", "cursor", "limit"],
    )?;
    let query = ProcessQuery {
        cluster_id: q.get("cluster_id")?,
        node_id: q.get("node_id")?,
        q: q.text("q").map(str::to_owned),
        sort: q.get("sort")?,
        cursor: q.text("cursor").map(str::to_owned),
        limit: muster_store::page_size(q.get("limit")?),
    };
    let page = crate::api::processes::processes(state.store.as_ref(), &caller, &query).await?;
    Ok(Json(page))
}
