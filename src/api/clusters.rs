//! What the cluster pages and the REST API show about a cluster: the cluster,
//! its nodes, its health with the breakdown, recommendations and failover plan.

use leptos::prelude::*;
use muster_domain::coordination::{FailoverPlan, Leadership, WhatIf};
use muster_domain::health::{
    HealthBreakdown, NodeCondition, QuorumStatus, health_breakdown, quorum,
};
use muster_domain::query::{ClusterQuery, Page};
use muster_domain::recommendations::{
    ClusterSnapshot, NodeSnapshot, Recommendation, recommendations,
};
use muster_domain::{
    Cluster, ClusterId, ClusterStatus, ClusterTally, ClusterUpdate, Environment, NewNode, Node,
    SettingsPatch, Tenant,
};
use serde::{Deserialize, Serialize};

use super::AppError;

/// `create_cluster`: a template's limits and settings, adjusted by what is given.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateClusterRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub region: String,
    /// Template to start from; defaults to the environment's template.
    #[serde(default)]
    pub template: Option<String>,
    /// Defaults to the template's environment.
    #[serde(default)]
    pub environment: Option<Environment>,
    #[serde(default)]
    pub max_nodes: Option<u32>,
    #[serde(default)]
    pub max_tenants: Option<u32>,
    #[serde(default)]
    pub max_storage_gb: Option<u64>,
    /// Settings laid over the template's.
    #[serde(default)]
    pub config: Option<SettingsPatch>,
}

/// The failover plan with who leads now and, for each node, what its failure
/// would do.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailoverPlanView {
    pub current: Leadership,
    pub term: u64,
    pub auto_failover: bool,
    pub plan: FailoverPlan,
    pub what_if: Vec<WhatIf>,
}

/// `add_cluster_node`'s answer: the node and its token, shown this once.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddedNode {
    pub node: Node,
    /// The node agent's credential; only its hash is stored.
    pub node_token: String,
}

/// A cluster's health: score with its breakdown, status and quorum.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterHealth {
    pub cluster_id: ClusterId,
    pub name: String,
    pub status: ClusterStatus,
    pub health_score: f64,
    pub breakdown: HealthBreakdown,
    pub quorum: QuorumStatus,
    pub recommendations: Vec<Recommendation>,
}

/// `get_cluster_info`: everything about one cluster.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub cluster: Cluster,
    pub nodes: Vec<Node>,
    pub health: ClusterHealth,
    pub failover_plan: FailoverPlan,
    pub tenants: Vec<Tenant>,
}

/// One row of the clusters list: the cluster and how its nodes stand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterRow {
    pub cluster: Cluster,
    pub tally: ClusterTally,
}

/// Most clusters one `tally_clusters` call counts.
pub const MAX_TALLIED: usize = 200;

#[cfg(feature = "ssr")]
pub use server::{add_node, cluster_info, create, failover_view, tallies};

#[server(prefix = "/fn", endpoint = "create_cluster", input = super::codec::Json, output = super::codec::Json)]
pub async fn create_cluster(request: CreateClusterRequest) -> Result<Cluster, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.require(muster_domain::users::Role::Admin)?;
    create(state.store.as_ref(), request, &caller.actor()).await
}

#[server(prefix = "/fn", endpoint = "list_clusters", input = super::codec::Json, output = super::codec::Json)]
pub async fn list_clusters(query: ClusterQuery) -> Result<Page<Cluster>, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    Ok(state.store.list_clusters_in(&query, caller.scope()).await?)
}

/// A cluster's id and name, for pickers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterName {
    pub id: ClusterId,
    pub name: String,
}

/// The ids and names of the clusters the caller may see (the first
/// thousand, by name).
#[server(prefix = "/fn", endpoint = "cluster_names", input = super::codec::Json, output = super::codec::Json)]
pub async fn cluster_names() -> Result<Vec<ClusterName>, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    let query = ClusterQuery {
        limit: muster_domain::query::MAX_PAGE,
        ..ClusterQuery::default()
    };
    let page = state.store.list_clusters_in(&query, caller.scope()).await?;
    Ok(page
        .items
        .into_iter()
        .map(|c| ClusterName {
            id: c.id,
            name: c.name,
        })
        .collect())
}

/// A page of the clusters list, each cluster with its tally (one query for
/// the page's nodes, one for its tenants).
#[server(prefix = "/fn", endpoint = "list_cluster_rows", input = super::codec::Json, output = super::codec::Json)]
pub async fn list_cluster_rows(query: ClusterQuery) -> Result<Page<ClusterRow>, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    let page = state.store.list_clusters_in(&query, caller.scope()).await?;
    let ids: Vec<ClusterId> = page.items.iter().map(|c| c.id.clone()).collect();
    let tallies = tallies(state.store.as_ref(), &caller.user, &ids).await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .zip(tallies)
            .map(|(cluster, tally)| ClusterRow { cluster, tally })
            .collect(),
        next_cursor: page.next_cursor,
    })
}

/// The tallies of the given clusters the caller may see (others are left
/// out), at most [`MAX_TALLIED`].
#[server(prefix = "/fn", endpoint = "tally_clusters", input = super::codec::Json, output = super::codec::Json)]
pub async fn tally_clusters(ids: Vec<ClusterId>) -> Result<Vec<ClusterTally>, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    if ids.len() > MAX_TALLIED {
        return Err(AppError::invalid(muster_domain::FieldErrors::single(
            "ids",
            format!("ids: at most {MAX_TALLIED} clusters at a time"),
        )));
    }
    let mut ids = ids;
    if !caller.user.is_unscoped() {
        let visible = state.store.clusters_hosting(&caller.user.tenants).await?;
        ids.retain(|id| visible.contains(id));
    }
    tallies(state.store.as_ref(), &caller.user, &ids).await
}

#[server(prefix = "/fn", endpoint = "get_cluster_info", input = super::codec::Json, output = super::codec::Json)]
pub async fn get_cluster_info(id: ClusterId) -> Result<ClusterInfo, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    cluster_info(state.store.as_ref(), &id).await
}

/// Most metrics one `cluster_metric_history` call reads.
pub const MAX_HISTORY_NAMES: usize = 16;

/// Several metrics' histories across a cluster's nodes, in the order of
/// `names`: per minute up to a day and per hour beyond unless `step` says
/// (`1m` or `1h`; raw samples of different nodes do not line up).
#[server(prefix = "/fn", endpoint = "cluster_metric_history", input = super::codec::Json, output = super::codec::Json)]
pub async fn cluster_metric_history(
    id: ClusterId,
    names: Vec<String>,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
    step: Option<muster_domain::metrics::MetricStep>,
) -> Result<Vec<Vec<muster_domain::MetricPoint>>, AppError> {
    use muster_domain::FieldErrors;
    use muster_domain::metrics::{MetricStep, check_history};
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    if names.is_empty() || names.len() > MAX_HISTORY_NAMES {
        return Err(AppError::invalid(FieldErrors::single(
            "names",
            format!("names must hold 1 to {MAX_HISTORY_NAMES} metric names"),
        )));
    }
    for name in &names {
        check_history(name, since, until).map_err(|e| {
            AppError::invalid(match e.get("name") {
                Some(_) => FieldErrors::single("names", format!("{name:?} is not a metric name")),
                None => e,
            })
        })?;
    }
    // The store refuses raw (422 naming `step`): samples of different
    // nodes do not line up.
    let step = step.unwrap_or_else(|| MetricStep::finest_across_nodes(since, until));
    let mut out = Vec::with_capacity(names.len());
    for name in &names {
        out.push(
            state
                .store
                .cluster_metric_history(&id, name, since, until, step)
                .await?,
        );
    }
    Ok(out)
}

#[server(prefix = "/fn", endpoint = "update_cluster", input = super::codec::Json, output = super::codec::Json)]
pub async fn update_cluster(id: ClusterId, update: ClusterUpdate) -> Result<Cluster, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.require(muster_domain::users::Role::Admin)?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    update.validate().map_err(AppError::invalid)?;
    Ok(state
        .store
        .update_cluster(&id, &update, &caller.actor())
        .await?)
}

#[server(prefix = "/fn", endpoint = "decommission_cluster", input = super::codec::Json, output = super::codec::Json)]
pub async fn decommission_cluster(id: ClusterId, force: bool) -> Result<Cluster, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    super::operations::run_plain(
        &state,
        &caller,
        muster_domain::operations::OperationName::DecommissionCluster,
        muster_domain::operations::OperationSubject::Cluster(id.clone()),
        force,
    )
    .await?;
    Ok(state.store.get_cluster(&id).await?)
}

#[server(prefix = "/fn", endpoint = "get_failover_plan", input = super::codec::Json, output = super::codec::Json)]
pub async fn get_failover_plan(id: ClusterId) -> Result<FailoverPlanView, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    failover_view(state.store.as_ref(), &id).await
}

#[server(prefix = "/fn", endpoint = "add_cluster_node", input = super::codec::Json, output = super::codec::Json)]
pub async fn add_cluster_node(id: ClusterId, node: NewNode) -> Result<AddedNode, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.require(muster_domain::users::Role::Admin)?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    add_node(state.store.as_ref(), &id, &node, &caller.actor()).await
}

#[server(prefix = "/fn", endpoint = "create_tenant", input = super::codec::Json, output = super::codec::Json)]
pub async fn create_tenant(name: String) -> Result<Tenant, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.require(muster_domain::users::Role::Admin)?;
    Tenant::validate_name(&name).map_err(AppError::invalid)?;
    Ok(state.store.create_tenant(&name, &caller.actor()).await?)
}

#[server(prefix = "/fn", endpoint = "list_tenants", input = super::codec::Json, output = super::codec::Json)]
pub async fn list_tenants() -> Result<Vec<Tenant>, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    let mut tenants = state.store.list_tenants().await?;
    if !caller.user.is_unscoped() {
        tenants.retain(|t| caller.user.tenants.contains(&t.id));
    }
    Ok(tenants)
}

#[server(prefix = "/fn", endpoint = "place_tenant", input = super::codec::Json, output = super::codec::Json)]
pub async fn place_tenant(id: ClusterId, tenant_id: String) -> Result<Tenant, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.require(muster_domain::users::Role::Admin)?;
    Ok(state
        .store
        .place_tenant(&id, &tenant_id, &caller.actor())
        .await?)
}

#[server(prefix = "/fn", endpoint = "remove_tenant", input = super::codec::Json, output = super::codec::Json)]
pub async fn remove_tenant(id: ClusterId, tenant_id: String) -> Result<(), AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.require(muster_domain::users::Role::Admin)?;
    Ok(state
        .store
        .remove_tenant(&id, &tenant_id, &caller.actor())
        .await?)
}

/// Health of `cluster` judged from `nodes` as they are at `now` (the server's
/// clock, or the browser's when live updates change the nodes).
#[must_use]
pub fn cluster_health(
    cluster: &Cluster,
    nodes: &[Node],
    now: chrono::DateTime<chrono::Utc>,
) -> ClusterHealth {
    let conditions: Vec<NodeCondition> = nodes.iter().map(NodeCondition::from).collect();
    let breakdown = health_breakdown(&conditions);
    let snapshots: Vec<NodeSnapshot> = nodes
        .iter()
        .map(|n| NodeSnapshot {
            id: n.id.clone(),
            status: n.status,
            health: n.health_status,
            is_primary: n.is_primary,
            is_coordinator: n.is_coordinator,
            usage: n.usage,
        })
        .collect();
    let recommendations = recommendations(&ClusterSnapshot {
        nodes: &snapshots,
        max_nodes: cluster.max_nodes,
        now,
        interval_s: cluster.config.health_check_interval_s,
        disk_history: &[],
    });
    ClusterHealth {
        cluster_id: cluster.id.clone(),
        name: cluster.name.clone(),
        status: cluster.status,
        health_score: cluster.health_score,
        breakdown,
        quorum: quorum(breakdown.counted, breakdown.online),
        recommendations,
    }
}

#[cfg(feature = "ssr")]
mod server {
    use muster_domain::coordination::{failover_plan, what_if_fails};
    use muster_domain::{
        Cluster, ClusterId, ClusterTally, FieldErrors, NewCluster, NewNode, NodeStatus,
    };
    use muster_store::{Store, StoreError};

    use super::{AddedNode, ClusterInfo, CreateClusterRequest, FailoverPlanView};
    use crate::api::{AppError, ErrorCode};

    /// The tallies of `ids`, showing a tenant-scoped user only their own
    /// tenants among those a cluster hosts.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn tallies(
        store: &dyn Store,
        user: &muster_domain::users::User,
        ids: &[ClusterId],
    ) -> Result<Vec<ClusterTally>, AppError> {
        let mut tallies = store.tally_clusters(ids).await?;
        if !user.is_unscoped() {
            for tally in &mut tallies {
                tally.tenants.retain(|t| user.tenants.contains(&t.id));
            }
        }
        Ok(tallies)
    }

    /// `create_cluster`: the template (named, or the environment's) with the
    /// request's adjustments laid over it, validated, then stored.
    ///
    /// # Errors
    /// 404 for an unknown template, 409 for a taken name, 422 for invalid fields.
    pub async fn create(
        store: &dyn Store,
        req: CreateClusterRequest,
        actor: &str,
    ) -> Result<Cluster, AppError> {
        let template_name = match (&req.template, req.environment) {
            (Some(t), _) => t.clone(),
            (None, Some(env)) => env.as_str().to_owned(),
            (None, None) => {
                return Err(AppError::invalid(FieldErrors::single(
                    "template",
                    "template: give a template name or an environment",
                )));
            }
        };
        let template = store
            .get_template(&template_name)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => AppError::with_fields(
                    ErrorCode::NotFound,
                    FieldErrors::single(
                        "template",
                        format!("template {template_name:?} does not exist"),
                    ),
                ),
                other => other.into(),
            })?;
        let mut limits = template.limits;
        limits.max_nodes = req.max_nodes.unwrap_or(limits.max_nodes);
        limits.max_tenants = req.max_tenants.unwrap_or(limits.max_tenants);
        limits.max_storage_gb = req.max_storage_gb.unwrap_or(limits.max_storage_gb);
        let new = NewCluster {
            name: req.name,
            description: req.description,
            region: req.region,
            environment: req.environment.unwrap_or(template.environment),
            limits,
            settings: req.config.unwrap_or_default().apply(template.settings),
            template_name: Some(template.name),
        };
        new.validate().map_err(AppError::invalid)?;
        Ok(store.create_cluster(&new, actor).await?)
    }

    /// `add_cluster_node`: stores the node with the hash of a fresh token and
    /// hands the token back once.
    ///
    /// # Errors
    /// 404 for an unknown cluster, 409 past the limits, 422 for invalid fields.
    pub async fn add_node(
        store: &dyn Store,
        id: &ClusterId,
        node: &NewNode,
        actor: &str,
    ) -> Result<AddedNode, AppError> {
        node.validate().map_err(AppError::invalid)?;
        let token = crate::server::tokens::new_token("mnt");
        let hash = crate::server::tokens::hash_token(&token);
        let node = store.add_node(id, node, Some(&hash), actor).await?;
        Ok(AddedNode {
            node,
            node_token: token,
        })
    }

    /// The failover plan, who leads now, and each node's "what if it fails".
    ///
    /// # Errors
    /// 404 for an unknown cluster.
    pub async fn failover_view(
        store: &dyn Store,
        id: &ClusterId,
    ) -> Result<FailoverPlanView, AppError> {
        let (cluster, nodes) = tokio::try_join!(store.get_cluster(id), store.list_nodes(id))?;
        let members: Vec<_> = nodes
            .iter()
            .map(muster_domain::cluster_state::member)
            .collect();
        let current = cluster.leadership();
        let what_if = members
            .iter()
            .filter(|m| m.status != NodeStatus::Decommissioned)
            .map(|m| what_if_fails(&members, &current, &m.id))
            .collect();
        Ok(FailoverPlanView {
            current,
            term: cluster.term,
            auto_failover: cluster.config.auto_failover,
            plan: failover_plan(&members),
            what_if,
        })
    }

    /// Loads and assembles [`ClusterInfo`].
    ///
    /// # Errors
    /// 404 when the cluster does not exist; store errors otherwise.
    pub async fn cluster_info(store: &dyn Store, id: &ClusterId) -> Result<ClusterInfo, AppError> {
        let (cluster, nodes, tenants) = tokio::try_join!(
            store.get_cluster(id),
            store.list_nodes(id),
            store.cluster_tenants(id)
        )?;
        let members: Vec<_> = nodes
            .iter()
            .map(muster_domain::cluster_state::member)
            .collect();
        Ok(ClusterInfo {
            health: super::cluster_health(&cluster, &nodes, muster_store::now()),
            failover_plan: failover_plan(&members),
            cluster,
            nodes,
            tenants,
        })
    }
}
