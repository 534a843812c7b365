//! The fleet overview shown on the home page.

use leptos::prelude::*;
use muster_domain::{Cluster, ConfigTemplate};
use serde::{Deserialize, Serialize};

use super::AppError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetOverview {
    pub clusters: Vec<Cluster>,
    pub templates: Vec<ConfigTemplate>,
}

/// The clusters and environment templates, for the overview page.
#[server(prefix = "/fn", endpoint = "fleet_overview", output = super::codec::Json)]
pub async fn get_fleet_overview() -> Result<FleetOverview, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    let query = muster_store::ClusterQuery::default();
    let (clusters, templates) = tokio::try_join!(
        state.store.list_clusters_in(&query, caller.scope()),
        state.store.list_templates()
    )?;
    Ok(FleetOverview {
        clusters: clusters.items,
        templates,
    })
}
