//! `/clusters/{id}`: one cluster and its nodes, kept current by the live
//! stream (status, health, roles, the latest samples and new events) without
//! reloading.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use muster_domain::live::{LiveMessage, NodeSample, Subscription};
use muster_domain::{Cluster, ClusterId, Event, Node, NodeId};

use crate::api::clusters::{ClusterInfo, get_cluster_info};
use crate::app::components::feedback::LoadError;
use crate::app::live::{StaleNotice, use_live};

/// Most events of this visit kept on the page.
const RECENT_EVENTS: usize = 20;

#[component]
pub fn ClusterPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let info = Resource::new(id, |id| async move {
        let id: ClusterId = id.parse().map_err(|_| {
            crate::api::AppError::new(crate::api::ErrorCode::NotFound, "cluster not found")
        })?;
        get_cluster_info(id).await
    });
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the cluster…"</p> }>
            {move || {
                info.get()
                    .map(|result| match result {
                        Ok(data) => view! { <ClusterView data /> }.into_any(),
                        Err(error) => {
                            view! { <LoadError what="The cluster" error retry=move || info.refetch() /> }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

/// The cluster as first loaded, then as the stream says it is.
#[component]
fn ClusterView(data: ClusterInfo) -> impl IntoView {
    let cluster_id = data.cluster.id.clone();
    let cluster = RwSignal::new(data.cluster);
    let nodes = RwSignal::new(data.nodes);
    let samples = RwSignal::new(BTreeMap::<NodeId, NodeSample>::new());
    let events = RwSignal::new(Vec::<Event>::new());

    let live = use_live();
    live.follow(Subscription::Cluster {
        cluster_id: cluster_id.clone(),
    });
    live.on_message(move |m| apply(m, &cluster_id, cluster, nodes, samples, events));

    view! {
        <StaleNotice />
        <div class="live-data" class:stale=move || live.is_stale()>
            <ClusterHeader cluster />
            <section aria-labelledby="nodes-heading">
                <h2 id="nodes-heading">"Nodes"</h2>
                <NodeTable nodes samples />
            </section>
            <section aria-labelledby="activity-heading">
                <h2 id="activity-heading">"Activity since you opened this page"</h2>
                <EventList events />
            </section>
        </div>
    }
}

/// Applies one live message to the page's state.
fn apply(
    m: &LiveMessage,
    cluster_id: &ClusterId,
    cluster: RwSignal<Cluster>,
    nodes: RwSignal<Vec<Node>>,
    samples: RwSignal<BTreeMap<NodeId, NodeSample>>,
    events: RwSignal<Vec<Event>>,
) {
    match m {
        LiveMessage::ClusterUpdated { cluster: c } if &c.id == cluster_id => cluster.set(c.clone()),
        LiveMessage::NodeUpdated { node } if &node.cluster_id == cluster_id => {
            nodes.update(|list| match list.iter_mut().find(|n| n.id == node.id) {
                Some(shown) => *shown = node.clone(),
                None => list.push(node.clone()),
            });
        }
        LiveMessage::NodeRemoved {
            node_id,
            cluster_id: c,
        } if c == cluster_id => nodes.update(|list| list.retain(|n| &n.id != node_id)),
        LiveMessage::MetricsSample { sample } if &sample.cluster_id == cluster_id => {
            samples.update(|s| {
                s.insert(sample.node_id.clone(), sample.clone());
            });
        }
        LiveMessage::EventCreated { event } if event.cluster_id.as_ref() == Some(cluster_id) => {
            events.update(|list| {
                list.insert(0, event.clone());
                list.truncate(RECENT_EVENTS);
            });
        }
        LiveMessage::Resync {
            subscription: Subscription::Cluster { cluster_id: c },
            snapshot,
            ..
        } if c == cluster_id => {
            if let Some(fresh) = snapshot.clusters.iter().find(|x| &x.id == cluster_id) {
                cluster.set(fresh.clone());
            }
            nodes.set(snapshot.nodes.clone());
        }
        _ => {}
    }
}

#[component]
fn ClusterHeader(cluster: RwSignal<Cluster>) -> impl IntoView {
    let c = move || cluster.get();
    view! {
        <header class="page-header">
            <h1>{move || c().name}</h1>
            <p class="id">{move || c().id.to_string()}</p>
        </header>
        <section class="stats" aria-label="Cluster summary">
            <div class="stat">
                <span class="stat-value">
                    <span
                        class=move || format!("badge status-{}", c().status.as_str())
                        data-testid="cluster-status"
                    >
                        {move || c().status.as_str()}
                    </span>
                </span>
                <span class="stat-label">"Status"</span>
            </div>
            <div class="stat">
                <span class="stat-value" data-testid="cluster-health">
                    {move || format!("{:.2}", c().health_score)}
                </span>
                <span class="stat-label">"Health score"</span>
            </div>
            <div class="stat">
                <span class="stat-value">{move || c().term}</span>
                <span class="stat-label">"Term"</span>
            </div>
            <div class="stat">
                <span class="stat-value">{move || c().environment.as_str()}</span>
                <span class="stat-label">{move || c().region}</span>
            </div>
        </section>
    }
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1} %"))
}

#[component]
fn NodeTable(
    nodes: RwSignal<Vec<Node>>,
    samples: RwSignal<BTreeMap<NodeId, NodeSample>>,
) -> impl IntoView {
    view! {
        <Show
            when=move || !nodes.read().is_empty()
            fallback=|| view! { <p class="empty">"No nodes yet."</p> }
        >
            <div class="table-wrap">
                <table aria-label="Nodes">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col">"Health"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col" class="num">"CPU"</th>
                            <th scope="col" class="num">"Memory"</th>
                            <th scope="col" class="num">"Disk"</th>
                            <th scope="col">"Last heartbeat (UTC)"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || nodes.get()
                            key=|n| n.id.clone()
                            children=move |n: Node| {
                                let id = n.id.clone();
                                let row = {
                                    let id = id.clone();
                                    Memo::new(move |_| {
                                        nodes.read().iter().find(|x| x.id == id).cloned()
                                    })
                                };
                                let sample = {
                                    let id = id.clone();
                                    Memo::new(move |_| samples.read().get(&id).cloned())
                                };
                                let field = move |f: fn(&Node) -> String| {
                                    move || row.get().map(|n| f(&n)).unwrap_or_default()
                                };
                                let usage = move |pick: fn(&NodeSample) -> f64, stored: fn(&Node) -> Option<f64>| {
                                    move || percent(
                                        sample.get().map(|s| pick(&s)).or_else(|| row.get().and_then(|n| stored(&n))),
                                    )
                                };
                                let last_seen = {
                                    move || {
                                        sample
                                            .get()
                                            .map(|s| s.recorded_at)
                                            .or_else(|| row.get().and_then(|n| n.last_heartbeat_at))
                                            .map_or_else(|| "never".to_owned(), |t| t.format("%H:%M:%S").to_string())
                                    }
                                };
                                view! {
                                    <tr data-node=id.to_string()>
                                        <td>
                                            <span class="name">{n.name.clone()}</span>
                                            <span class="id">{id.to_string()}</span>
                                        </td>
                                        <td>
                                            <span
                                                class=move || format!("badge status-{}", field(|n| n.status.as_str().to_owned())())
                                                data-testid="node-status"
                                            >
                                                {field(|n| n.status.as_str().to_owned())}
                                            </span>
                                        </td>
                                        <td>
                                            <span
                                                class=move || format!("badge health-{}", field(|n| n.health_status.as_str().to_owned())())
                                                data-testid="node-health"
                                            >
                                                {field(|n| n.health_status.as_str().to_owned())}
                                            </span>
                                        </td>
                                        <td>{field(role)}</td>
                                        <td class="num">{usage(|s| s.metrics.cpu_usage_percent, |n| n.usage.map(|u| u.cpu_percent))}</td>
                                        <td class="num">{usage(|s| s.metrics.memory_usage_percent, |n| n.usage.map(|u| u.memory_percent))}</td>
                                        <td class="num">{usage(|s| s.metrics.disk_usage_percent, |n| n.usage.map(|u| u.disk_percent))}</td>
                                        <td>{last_seen}</td>
                                    </tr>
                                }
                            }
                        />
                    </tbody>
                </table>
            </div>
        </Show>
    }
}

fn role(n: &Node) -> String {
    match (n.is_primary, n.is_coordinator) {
        (true, true) => "primary · coordinator".into(),
        (true, false) => "primary".into(),
        (false, true) => "coordinator".into(),
        (false, false) => "replica".into(),
    }
}

#[component]
fn EventList(events: RwSignal<Vec<Event>>) -> impl IntoView {
    view! {
        <Show
            when=move || !events.read().is_empty()
            fallback=|| view! { <p class="empty">"Nothing has happened since."</p> }
        >
            <ol class="event-list" aria-label="Recent events">
                <For
                    each=move || events.get()
                    key=|e| e.id
                    children=|e: Event| {
                        view! {
                            <li class=format!("event severity-{}", e.severity.as_str())>
                                <time>{e.created_at.format("%H:%M:%S").to_string()}</time>
                                " "
                                <span class="event-type">{e.event_type}</span>
                                " "
                                <span>{e.message}</span>
                            </li>
                        }
                    }
                />
            </ol>
        </Show>
    }
}
