//! `/api/v1/events`: the audit trail, filtered, newest first, page by page.

use axum::Json;
use axum::extract::{RawQuery, State};
use muster_domain::Event;
use muster_store::{EventQuery, Page};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::QueryParams;
use crate::api::AppError;
use crate::server::AppState;
use crate::server::auth::caller::Caller;

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/events", tag = "events",
    params(
        ("cluster_id" = Option<String>, Query), ("node_id" = Option<String>, Query),
        ("severity" = Option<String>, Query, description = "debug, info, warning, error or critical"),
        ("category" = Option<String>, Query, description = "system, health, coordination, security, lifecycle or configuration"),
        ("type" = Option<String>, Query, description = "event type, e.g. node_promotion"),
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1 to 1000, default 50"),
    ),
    responses((status = 200, body = EventPage), (status = 400, body = AppError)))]
pub async fn get_cluster_events(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<Event>>, AppError> {
    let q = QueryParams::parse(
        query.as_deref(),
        &[
            "cluster_id",
            "node_id",
            "severity",
            "category",
            "type",
            "since",
            "until",
            "cursor",
            "limit",
        ],
    )?;
    let query = EventQuery {
        cluster_id: q.get("cluster_id")?,
        node_id: q.get("node_id")?,
        severity: q.get("severity")?,
        category: q.get("category")?,
        event_type: q.text("type").map(|t| t.chars().take(100).collect()),
        since: q.get("since")?,
        until: q.get("until")?,
        cursor: q.text("cursor").map(str::to_owned),
        limit: muster_store::page_size(q.get("limit")?),
    };
    Ok(Json(
        state.store.list_events_in(&query, caller.scope()).await?,
    ))
}
