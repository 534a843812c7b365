//! Server function for the audit trail.

use leptos::prelude::*;
use muster_domain::Event;
use muster_domain::query::{EventQuery, Page};

use super::AppError;

#[server(prefix = "/fn", endpoint = "get_cluster_events", input = super::codec::Json, output = super::codec::Json)]
pub async fn get_cluster_events(query: EventQuery) -> Result<Page<Event>, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    Ok(state.store.list_events_in(&query, caller.scope()).await?)
}
