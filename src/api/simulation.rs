//! The Simulation page's server functions (demo mode only, admins only): the
//! demo clusters as the server sees them beside their simulated nodes'
//! faults, and fault commands in the simulator's one-line syntax.

use leptos::prelude::*;
use muster_domain::NodeId;
use serde::{Deserialize, Serialize};

use super::AppError;
use super::clusters::ClusterInfo;

/// A simulated node as the simulator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulatedNode {
    pub name: String,
    pub node_id: NodeId,
    /// Active faults, as commands write them (`fail`, `degrade cpu=97`).
    pub faults: Vec<String>,
    /// Samples waiting to be sent (a partition, a delay, a server away).
    pub waiting: usize,
}

/// A demo cluster: the server's view and the simulator's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulatedCluster {
    pub info: ClusterInfo,
    pub nodes: Vec<SimulatedNode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    pub clusters: Vec<SimulatedCluster>,
}

/// Whether this server runs in demo mode (the Simulation page is there for
/// its admins). Anyone may ask: it reads no database and tells nothing else.
#[server(prefix = "/fn", endpoint = "demo_mode", output = super::codec::Json)]
#[allow(clippy::unused_async)] // server functions are async by contract
pub async fn demo_mode() -> Result<bool, AppError> {
    Ok(crate::server::AppState::from_context()?
        .demo
        .get()
        .is_some())
}

#[server(prefix = "/fn", endpoint = "get_simulation", output = super::codec::Json)]
pub async fn get_simulation() -> Result<Simulation, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    let demo = server::demo_for(&state, &caller)?;
    let fleet = demo.nodes();
    let mut clusters = Vec::with_capacity(demo.clusters.len());
    for c in &demo.clusters {
        if !state.store.cluster_visible(&c.id, caller.scope()).await? {
            continue;
        }
        let info = super::clusters::cluster_info(state.store.as_ref(), &c.id).await?;
        let nodes = fleet
            .iter()
            .filter(|n| n.cluster_id == c.id)
            .map(|n| SimulatedNode {
                name: n.name.clone(),
                node_id: n.node_id.clone(),
                faults: n.faults.clone(),
                waiting: n.waiting,
            })
            .collect();
        clusters.push(SimulatedCluster { info, nodes });
    }
    Ok(Simulation { clusters })
}

/// Carries out a fault command (`fail primary:demo-production for=2m`,
/// `heal all`, …); answers the names of the nodes it touched.
#[server(prefix = "/fn", endpoint = "simulate_fault", input = super::codec::Json, output = super::codec::Json)]
pub async fn simulate_fault(command: String) -> Result<Vec<String>, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    let demo = server::demo_for(&state, &caller)?;
    let invalid = |message: String| {
        AppError::invalid(muster_domain::errors::FieldErrors::single(
            "command", message,
        ))
    };
    let parsed: muster_agent::sim::Command = command.trim().parse().map_err(invalid)?;
    demo.apply(&parsed).map_err(invalid)
}

#[cfg(feature = "ssr")]
mod server {
    use std::sync::Arc;

    use muster_domain::users::Role;

    use crate::api::{AppError, ErrorCode};
    use crate::server::AppState;
    use crate::server::auth::caller::Caller;
    use crate::server::demo::Demo;

    /// The running demo, for an admin.
    pub fn demo_for(state: &AppState, caller: &Caller) -> Result<Arc<Demo>, AppError> {
        caller.require(Role::Admin)?;
        state.demo.get().cloned().ok_or_else(|| {
            AppError::new(
                ErrorCode::NotFound,
                "the simulation runs only in demo mode (muster serve --demo)",
            )
        })
    }
}
