//! `/clusters/{id}`: one cluster on one page — its summary and topology, the
//! health score with its breakdown and recommendations, the failover plan
//! with "what if a node fails", the nodes, metric charts across the nodes,
//! the configuration, tenants, join tokens and events. The live stream keeps
//! it current without reloading; health and the plan are judged again in the
//! browser by the domain crate's own rules whenever a node changes.

mod events;
mod failover;
mod health;
mod join_tokens;
mod metrics;
mod nodes;
mod settings;
mod summary;
mod tenants;

pub use events::EventList;
pub use nodes::{percent, role};

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use muster_domain::coordination::{FailoverPlan, Member, failover_plan};
use muster_domain::live::{LiveMessage, NodeSample, Subscription};
use muster_domain::users::Role;
use muster_domain::{Cluster, ClusterId, Event, Node, NodeId, Tenant};

use muster_domain::protocol::JoinToken;
use muster_domain::query::EventQuery;

use crate::api::auth::current_user;
use crate::api::clusters::{
    ClusterHealth, ClusterInfo, cluster_health, get_cluster_info, list_tenants,
};
use crate::api::events::get_cluster_events;
use crate::api::join_tokens::list_join_tokens;
use crate::app::components::charts::ChartSource;
use crate::app::components::feedback::LoadError;
use crate::app::live::{StaleNotice, use_live};

/// Most events kept on the page.
const RECENT_EVENTS: usize = 20;

#[component]
pub fn ClusterPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    // Everything but the charts comes in this one load.
    let info = Resource::new(id, |id| async move { PageData::load(parse_id(&id)?).await });
    // The charts load on their own, made here for the reason the node page
    // gives: a resource made inside the view below would be made twice by
    // the server.
    let charts = ChartSource::new(id, metrics::load_history);
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the cluster…"</p> }>
            {move || {
                info.get()
                    .map(|result| match result {
                        Ok(data) => view! { <ClusterView data charts /> }.into_any(),
                        Err(error) => {
                            view! { <LoadError what="The cluster" error retry=move || info.refetch() /> }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

/// The cluster id in the page's address; an id that cannot be one is a
/// cluster not found.
fn parse_id(id: &str) -> Result<ClusterId, crate::api::AppError> {
    id.parse().map_err(|_| {
        crate::api::AppError::new(crate::api::ErrorCode::NotFound, "cluster not found")
    })
}

/// What the page loads: the cluster, who is looking, its latest events,
/// and for admins every tenant (to place one) and the join tokens.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PageData {
    pub info: ClusterInfo,
    pub role: Role,
    pub events: Vec<Event>,
    pub all_tenants: Vec<Tenant>,
    pub join_tokens: Vec<JoinToken>,
}

impl PageData {
    async fn load(id: ClusterId) -> Result<Self, crate::api::AppError> {
        let role = current_user().await?.map(|u| u.role).ok_or_else(|| {
            crate::api::AppError::new(crate::api::ErrorCode::Unauthorized, "sign in first")
        })?;
        let info = get_cluster_info(id.clone()).await?;
        let events = get_cluster_events(EventQuery {
            cluster_id: Some(id.clone()),
            limit: u32::try_from(RECENT_EVENTS).unwrap_or(u32::MAX),
            ..EventQuery::default()
        })
        .await?
        .items;
        let (all_tenants, join_tokens) = if role.allows(Role::Admin) {
            (list_tenants().await?, list_join_tokens(id).await?)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Self {
            info,
            role,
            events,
            all_tenants,
            join_tokens,
        })
    }
}

/// What the page shows, shared by its sections: the cluster and its nodes as
/// first loaded, then as the stream says they are.
#[derive(Clone, Copy)]
pub struct ClusterState {
    pub cluster: RwSignal<Cluster>,
    pub nodes: RwSignal<Vec<Node>>,
    pub samples: RwSignal<BTreeMap<NodeId, NodeSample>>,
    /// The live samples combined per minute, for the charts.
    pub live_minutes: RwSignal<metrics::LiveMinutes>,
    pub tenants: RwSignal<Vec<Tenant>>,
    /// As the server judged it for the first render; judged again in the
    /// browser once the stream changes the cluster or a node.
    pub health: Memo<ClusterHealth>,
    pub plan: Memo<FailoverPlan>,
    /// The viewer's role: what controls the page offers (the server checks
    /// again).
    pub role: Role,
}

impl ClusterState {
    fn new(data: ClusterInfo, role: Role) -> (Self, RwSignal<bool>) {
        let first = data.health;
        let changed = RwSignal::new(false);
        let cluster = RwSignal::new(data.cluster);
        let nodes = RwSignal::new(data.nodes);
        let health = Memo::new(move |_| {
            if changed.get() {
                cluster.with(|c| nodes.with(|n| cluster_health(c, n, crate::app::now())))
            } else {
                first.clone()
            }
        });
        let plan = Memo::new(move |_| nodes.with(|n| failover_plan(&members(n))));
        let state = Self {
            cluster,
            nodes,
            samples: RwSignal::new(BTreeMap::new()),
            live_minutes: RwSignal::new(BTreeMap::new()),
            tenants: RwSignal::new(data.tenants),
            health,
            plan,
            role,
        };
        (state, changed)
    }

    /// Whether the viewer's role includes `role`.
    pub fn allows(&self, role: Role) -> bool {
        self.role.allows(role)
    }

    pub fn id(&self) -> ClusterId {
        self.cluster.with_untracked(|c| c.id.clone())
    }

    /// The node's name, or its id when it is not (or no longer) in the cluster.
    pub fn node_name(&self, id: &NodeId) -> String {
        self.nodes.with(|list| {
            list.iter()
                .find(|n| &n.id == id)
                .map_or_else(|| id.to_string(), |n| n.name.clone())
        })
    }
}

/// The nodes as the coordination rules see them.
pub fn members(nodes: &[Node]) -> Vec<Member> {
    nodes
        .iter()
        .map(muster_domain::cluster_state::member)
        .collect()
}

/// A link to a node's page, named.
#[component]
pub fn NodeLink(state: ClusterState, id: NodeId) -> impl IntoView {
    let href = format!("/nodes/{id}");
    view! { <a href=href>{move || state.node_name(&id)}</a> }
}

#[component]
fn ClusterView(data: PageData, charts: ChartSource) -> impl IntoView {
    let PageData {
        info,
        role,
        events: loaded,
        all_tenants,
        join_tokens,
    } = data;
    let cluster_id = info.cluster.id.clone();
    let (state, changed) = ClusterState::new(info, role);
    let events = RwSignal::new(Vec::<Event>::new());
    let admin = state.allows(Role::Admin);

    let live = use_live();
    live.follow(Subscription::Cluster {
        cluster_id: cluster_id.clone(),
    });
    live.on_message(move |m| {
        if apply(m, &cluster_id, state, events) {
            changed.set(true);
        }
    });

    view! {
        <StaleNotice />
        <div class="live-data cluster-page" class:stale=move || live.is_stale()>
            <summary::ClusterHeader state />
            <summary::PartitionBanner state />
            <nav class="section-nav" aria-label="On this page">
                <a href="#topology">"Topology"</a>
                <a href="#health">"Health"</a>
                <a href="#failover">"Failover plan"</a>
                <a href="#nodes">"Nodes"</a>
                <a href="#metrics">"Metrics"</a>
                <a href="#configuration">"Configuration"</a>
                <a href="#tenants">"Tenants"</a>
                {admin.then(|| view! { <a href="#join-tokens">"Join tokens"</a> })}
                <a href="#events">"Events"</a>
            </nav>
            <div class="panel-grid">
                <summary::Topology state />
                <health::HealthPanel state />
            </div>
            <failover::FailoverPanel state />
            <nodes::NodesPanel state />
            <metrics::MetricsPanel state source=charts />
            <settings::SettingsPanel state />
            <tenants::TenantsPanel state all_tenants />
            {admin.then(|| view! { <join_tokens::JoinTokensPanel cluster_id=state.id() tokens=join_tokens /> })}
            <events::EventsPanel href=format!("/events?cluster_id={}", state.id()) loaded live=events />
        </div>
    }
}

/// Applies one live message to the page's state; true when the cluster or
/// its nodes changed (so health is judged again).
fn apply(
    m: &LiveMessage,
    cluster_id: &ClusterId,
    state: ClusterState,
    events: RwSignal<Vec<Event>>,
) -> bool {
    match m {
        LiveMessage::ClusterUpdated { cluster: c } if &c.id == cluster_id => {
            state.cluster.set(c.clone());
            true
        }
        LiveMessage::NodeUpdated { node } if &node.cluster_id == cluster_id => {
            state
                .nodes
                .update(|list| match list.iter_mut().find(|n| n.id == node.id) {
                    Some(shown) => *shown = node.clone(),
                    None => list.push(node.clone()),
                });
            true
        }
        LiveMessage::NodeRemoved {
            node_id,
            cluster_id: c,
        } if c == cluster_id => {
            state.nodes.update(|list| list.retain(|n| &n.id != node_id));
            state.samples.update(|s| {
                s.remove(node_id);
            });
            true
        }
        LiveMessage::MetricsSample { sample } if &sample.cluster_id == cluster_id => {
            state.samples.update(|s| {
                s.insert(sample.node_id.clone(), sample.clone());
            });
            state.live_minutes.update(|m| metrics::fold(m, sample));
            false
        }
        LiveMessage::EventCreated { event } if event.cluster_id.as_ref() == Some(cluster_id) => {
            events.update(|list| {
                if !list.iter().any(|e| e.id == event.id) {
                    list.insert(0, event.clone());
                    list.truncate(RECENT_EVENTS);
                }
            });
            false
        }
        LiveMessage::Resync {
            subscription: Subscription::Cluster { cluster_id: c },
            snapshot,
            ..
        } if c == cluster_id => {
            if let Some(fresh) = snapshot.clusters.iter().find(|x| &x.id == cluster_id) {
                state.cluster.set(fresh.clone());
            }
            state.nodes.set(snapshot.nodes.clone());
            true
        }
        _ => false,
    }
}
