//! `/nodes/{id}`: one node — its status, health and place in the cluster,
//! the host its agent reports, capacity, roles and priority, its liveness
//! history, charts of its metrics over 15 min / 1 h / 24 h / 7 d (from the
//! rollups beyond two hours) and its top processes. The live stream keeps
//! the figures and the short charts current.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use muster_domain::live::{LiveMessage, Subscription};
use muster_domain::operations::OperationName;
use muster_domain::processes::ProcessRow;
use muster_domain::{Event, MetricPoint, Node, NodeId};

use crate::api::nodes::{NodeInfo, get_node_info, node_metric_history};
use crate::app::components::charts::{ChartSource, ChartsPanel, chart_names, metric_value};
use crate::app::components::feedback::LoadError;
use crate::app::live::{StaleNotice, use_live};
use crate::app::pages::cluster::{EventList, percent, role};
use crate::app::pages::operations::operations_href;

#[component]
pub fn NodePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let info = Resource::new(id, |id| async move { get_node_info(parse_id(&id)?).await });
    // Every resource of the page is made here, once: one made inside the
    // view below would be made again each time the server renders it, and
    // the browser, which makes it once, would then read another's value.
    let charts = ChartSource::new(id, load_history);
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the node…"</p> }>
            {move || {
                info.get()
                    .map(|result| match result {
                        Ok(data) => view! { <NodeView data charts /> }.into_any(),
                        Err(error) => {
                            view! { <LoadError what="The node" error retry=move || info.refetch() /> }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

fn parse_id(id: &str) -> Result<NodeId, crate::api::AppError> {
    id.parse()
        .map_err(|_| crate::api::AppError::new(crate::api::ErrorCode::NotFound, "node not found"))
}

/// The page's state: the node as the stream says it is, and the latest
/// samples the stream delivered (for the short charts).
#[derive(Clone, Copy)]
struct NodeState {
    node: RwSignal<Node>,
    live_points: RwSignal<Vec<(DateTime<Utc>, muster_domain::protocol::HostMetrics)>>,
    liveness: RwSignal<Vec<Event>>,
}

/// Most live samples kept for the charts (an hour at a 1 s interval).
const LIVE_POINTS: usize = 3600;

#[component]
fn NodeView(data: NodeInfo, charts: ChartSource) -> impl IntoView {
    let NodeInfo {
        node,
        cluster,
        processes,
        liveness,
    } = data;
    let node_id = node.id.clone();
    let actions_node = node.id.clone();
    let state = NodeState {
        node: RwSignal::new(node),
        live_points: RwSignal::new(Vec::new()),
        liveness: RwSignal::new(liveness),
    };
    let live = use_live();
    live.follow(Subscription::Node {
        node_id: node_id.clone(),
    });
    live.on_message(move |m| apply(m, &node_id, state));
    let n = move || state.node.get();
    view! {
        <StaleNotice />
        <div class="live-data node-page" class:stale=move || live.is_stale()>
            <header class="page-header">
                <p class="crumbs">
                    <a href="/clusters">"Clusters"</a>
                    " / "
                    <a href=format!("/clusters/{}", cluster.id)>{cluster.name.clone()}</a>
                    " / "
                </p>
                <h1>{move || n().name}</h1>
                <p class="id">{move || n().id.to_string()}</p>
                <NodeActions cluster=cluster.id.clone() node=actions_node />
            </header>
            <NodeStats state />
            <div class="panel-grid">
                <HostFacts state />
                <LivenessHistory state />
            </div>
            <Charts state source=charts />
            <Processes list=processes />
        </div>
    }
}

/// Links to the operations page with this node chosen, for operators.
#[component]
fn NodeActions(cluster: muster_domain::ClusterId, node: NodeId) -> impl IntoView {
    let user = crate::app::session::use_session_user();
    let links = [
        (OperationName::Drain, "Drain…"),
        (OperationName::MaintenanceOn, "Maintenance…"),
        (OperationName::Cordon, "Cordon…"),
        (OperationName::CollectNow, "Collect now…"),
    ]
    .map(|(op, label)| {
        let href = operations_href(Some(op), Some(cluster.clone()), Some(node.clone()));
        (href, label)
    });
    // Read under the page's own Transition, which waits for the user too.
    move || {
        user.allows(muster_domain::users::Role::Operator).then(|| {
            view! {
                <nav class="page-actions" aria-label="Operations on this node">
                    {links.iter().map(|(href, label)| view! { <a class="button small" href=href.clone()>{*label}</a> }).collect_view()}
                </nav>
            }
        })
    }
}

fn apply(m: &LiveMessage, node_id: &NodeId, state: NodeState) {
    match m {
        LiveMessage::NodeUpdated { node } if &node.id == node_id => state.node.set(node.clone()),
        LiveMessage::MetricsSample { sample } if &sample.node_id == node_id => {
            state.live_points.update(|p| {
                p.push((sample.recorded_at, sample.metrics));
                if p.len() > LIVE_POINTS {
                    p.remove(0);
                }
            });
        }
        LiveMessage::EventCreated { event }
            if event.node_id.as_ref() == Some(node_id)
                && event.event_type == "node_status_changed" =>
        {
            state.liveness.update(|l| {
                if !l.iter().any(|e| e.id == event.id) {
                    l.insert(0, event.clone());
                }
            });
        }
        LiveMessage::Resync {
            subscription: Subscription::Node { node_id: id },
            snapshot,
            ..
        } if id == node_id => {
            if let Some(fresh) = snapshot.nodes.iter().find(|n| &n.id == node_id) {
                state.node.set(fresh.clone());
            }
        }
        _ => {}
    }
}

#[component]
fn NodeStats(state: NodeState) -> impl IntoView {
    let n = move || state.node.get();
    let latest = move || state.live_points.with(|p| p.last().map(|(_, m)| *m));
    let usage = move |pick: fn(&muster_domain::protocol::HostMetrics) -> f64,
                      stored: fn(&Node) -> Option<f64>| {
        move || percent(latest().map(|m| pick(&m)).or_else(|| stored(&n())))
    };
    let seen = move || {
        n().last_heartbeat_at.map_or_else(
            || "never".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
    };
    view! {
        <section class="stats" aria-label="Node summary">
            <div class="stat">
                <span class="stat-value">
                    <span class=move || format!("badge status-{}", n().status.as_str()) data-testid="node-status">
                        {move || n().status.as_str()}
                    </span>
                </span>
                <span class="stat-label">"Status"</span>
            </div>
            <div class="stat">
                <span class="stat-value">
                    <span class=move || format!("badge health-{}", n().health_status.as_str()) data-testid="node-health">
                        {move || n().health_status.as_str()}
                    </span>
                </span>
                <span class="stat-label">"Health"</span>
            </div>
            <div class="stat">
                <span class="stat-value stat-small" data-testid="node-role">{move || role(&n())}</span>
                <span class="stat-label">{move || format!("Priority {}", n().priority)}</span>
            </div>
            <div class="stat">
                <span class="stat-value" data-testid="node-cpu">
                    {usage(|m| m.cpu_usage_percent, |n| n.usage.map(|u| u.cpu_percent))}
                </span>
                <span class="stat-label">"CPU"</span>
            </div>
            <div class="stat">
                <span class="stat-value">{usage(|m| m.memory_usage_percent, |n| n.usage.map(|u| u.memory_percent))}</span>
                <span class="stat-label">"Memory"</span>
            </div>
            <div class="stat">
                <span class="stat-value">{usage(|m| m.disk_usage_percent, |n| n.usage.map(|u| u.disk_percent))}</span>
                <span class="stat-label">"Disk"</span>
            </div>
            <div class="stat">
                <span class="stat-value stat-small">{seen}</span>
                <span class="stat-label">"Last heartbeat"</span>
            </div>
        </section>
    }
}

fn uptime(s: u64) -> String {
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else {
        format!("{h} h {m} min")
    }
}

#[component]
fn HostFacts(state: NodeState) -> impl IntoView {
    let n = move || state.node.get();
    let text = |v: &str| {
        if v.is_empty() {
            "—".to_owned()
        } else {
            v.to_owned()
        }
    };
    view! {
        <section class="panel" aria-labelledby="host-heading">
            <h2 id="host-heading">"Host and capacity"</h2>
            <dl class="facts" data-testid="host-facts">
                {move || match n().system {
                    Some(s) => view! {
                        <dt>"Hostname"</dt><dd>{s.hostname.clone()}</dd>
                        <dt>"Operating system"</dt><dd>{s.os.clone()}</dd>
                        <dt>"Kernel"</dt><dd>{s.kernel.clone()}</dd>
                        <dt>"Up for"</dt><dd>{uptime(s.uptime_s)}</dd>
                        <dt>"Host cores"</dt><dd>{s.cpu_cores}</dd>
                        <dt>"Host memory"</dt><dd>{format!("{:.1} GB", s.memory_total_gb)}</dd>
                        <dt>"Host disk"</dt><dd>{format!("{:.0} GB", s.disk_total_gb)}</dd>
                    }
                        .into_any(),
                    None => view! { <dt>"Host"</dt><dd>"no agent has reported yet"</dd> }.into_any(),
                }}
                <dt>"Capacity"</dt>
                <dd>
                    {move || {
                        let n = n();
                        format!(
                            "{} cores · {} GB memory · {} GB storage · {} Mb/s",
                            n.capacity_cpu, n.capacity_memory_gb, n.capacity_storage_gb, n.capacity_network_mbps
                        )
                    }}
                </dd>
                <dt>"Roles"</dt>
                <dd>{move || if n().roles.is_empty() { "none".to_owned() } else { n().roles.join(", ") }}</dd>
                <dt>"Cordoned"</dt>
                <dd>{move || if n().cordoned { "yes" } else { "no" }}</dd>
                <dt>"Region / zone"</dt>
                <dd>{move || format!("{} / {}", text(&n().region), text(&n().availability_zone))}</dd>
            </dl>
        </section>
    }
}

#[component]
fn LivenessHistory(state: NodeState) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="liveness-heading">
            <h2 id="liveness-heading">"Liveness history"</h2>
            <EventList
                list=state.liveness
                label="Status changes"
                empty="Its status has not changed yet."
                detailed=false
            />
        </section>
    }
}

/// The stored history of every chart, one request per metric.
async fn load_history(
    id: String,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Vec<MetricPoint>>, crate::api::AppError> {
    let id = parse_id(&id)?;
    let mut out = Vec::new();
    for name in chart_names() {
        out.push(node_metric_history(id.clone(), name, since, until, None).await?);
    }
    Ok(out)
}

/// The node's charts; live samples extend the short periods as they come.
#[component]
fn Charts(state: NodeState, source: ChartSource) -> impl IntoView {
    let live = Callback::new(move |(name, last): (&'static str, Option<DateTime<Utc>>)| {
        state.live_points.with(|live| {
            live.iter()
                .filter(|(at, _)| last.is_none_or(|l| *at > l))
                .filter_map(|(at, m)| metric_value(m, name).map(|v| MetricPoint::sample(*at, v)))
                .collect()
        })
    });
    let latest = Signal::derive(move || state.live_points.with(|p| p.last().map(|(at, _)| *at)));
    view! { <ChartsPanel source live latest heading="Metrics" /> }
}

#[component]
fn Processes(list: Vec<ProcessRow>) -> impl IntoView {
    let total = list.len();
    let node = list.first().map(|p| p.node_id.clone());
    view! {
        <section class="panel" aria-labelledby="processes-heading">
            <div class="panel-head">
                <h2 id="processes-heading">"Top processes"</h2>
                {node.map(|n| view! { <a href=format!("/processes?node_id={n}")>"Search and sort them"</a> })}
            </div>
            {if total == 0 {
                view! { <p class="empty">"No processes reported yet."</p> }.into_any()
            } else {
                view! {
                    <p class="hint">
                        {list.first().and_then(|p| p.reported_at).map(|t| format!("As reported at {} UTC.", t.format("%H:%M:%S")))}
                    </p>
                    <crate::app::pages::processes::ProcessTable rows=list show_node=false />
                }
                    .into_any()
            }}
        </section>
    }
}
