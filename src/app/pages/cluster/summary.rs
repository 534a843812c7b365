//! The cluster's header and key figures, the partition banner and the
//! topology: every node as a tile coloured by its health, with the primary
//! and coordinator marked.

use leptos::prelude::*;
use muster_domain::Node;
use muster_domain::health::{NodeCondition, QuorumStatus};

use super::ClusterState;
use crate::app::pages::operations::operations_href;

#[component]
pub fn ClusterHeader(state: ClusterState) -> impl IntoView {
    let c = move || state.cluster.get();
    let online = move || {
        state.health.with(|h| {
            format!(
                "{} / {}",
                h.breakdown.online,
                h.breakdown.counted + h.breakdown.excluded
            )
        })
    };
    let primary = move || {
        c().primary_node_id
            .map_or_else(|| "none".to_owned(), |id| state.node_name(&id))
    };
    view! {
        <header class="page-header">
            <p class="crumbs">
                <a href="/clusters">"Clusters"</a>
                " / "
            </p>
            <h1>{move || c().name}</h1>
            <p class="id">{move || c().id.to_string()}</p>
            {move || {
                let d = c().description;
                (!d.is_empty()).then(|| view! { <p class="desc">{d}</p> })
            }}
            <ClusterOperations state />
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
                <span class="stat-value" data-testid="cluster-online">{online}</span>
                <span class="stat-label">"Nodes online"</span>
            </div>
            <div class="stat">
                <span class="stat-value" data-testid="cluster-primary">{primary}</span>
                <span class="stat-label">"Primary"</span>
            </div>
            <div class="stat">
                <span class="stat-value" data-testid="cluster-term">{move || c().term}</span>
                <span class="stat-label">"Term"</span>
            </div>
            <div class="stat">
                <span class="stat-value">{move || c().environment.as_str()}</span>
                <span class="stat-label">{move || c().region}</span>
            </div>
        </section>
    }
}

/// Links to the operations page for this cluster: its history for everyone,
/// the cluster-wide operations for admins (the server checks the role again).
#[component]
fn ClusterOperations(state: ClusterState) -> impl IntoView {
    use muster_domain::operations::OperationName;
    use muster_domain::users::Role;
    let id = state.id();
    let link = |op| operations_href(op, Some(id.clone()), None);
    let history = link(None);
    let operator = state.allows(Role::Operator).then(|| {
        view! { <a class="button small" href=link(Some(OperationName::SetCoordinator))>"Set the coordinator…"</a> }
    });
    let admin = state.allows(Role::Admin).then(|| {
        view! { <a class="button small" href=link(Some(OperationName::ApplyTemplate))>"Apply a template…"</a> }
    });
    view! {
        <nav class="page-actions" aria-label="Operations on this cluster">
            <a class="button small" href=history>"Operations history"</a>
            {operator}
            {admin}
        </nav>
    }
}

/// Shown while fewer nodes are online than are counted: how many, and
/// whether this side still holds a majority.
#[component]
pub fn PartitionBanner(state: ClusterState) -> impl IntoView {
    move || {
        state.health.with(|h| {
            let b = h.breakdown;
            let text = match h.quorum {
                _ if b.counted == 0 => return None,
                QuorumStatus::Healthy => return None,
                QuorumStatus::PartialPartition => format!(
                    "Partial partition: {} of {} counted nodes are online. The cluster keeps its majority.",
                    b.online, b.counted
                ),
                QuorumStatus::MinorityPartition => format!(
                    "Minority partition: only {} of {} counted nodes are online. No majority: coordination is at risk.",
                    b.online, b.counted
                ),
            };
            let class = format!("banner quorum-{}", h.quorum.as_str());
            Some(view! {
                <p class=class role="alert" data-testid="partition-banner">
                    {text}
                </p>
            })
        })
    }
}

/// The tile's text for screen readers and its title.
fn describe(n: &Node) -> String {
    let mut parts = vec![
        n.name.clone(),
        n.status.as_str().to_owned(),
        format!("health {}", n.health_status.as_str()),
    ];
    if n.is_primary {
        parts.push("primary".into());
    }
    if n.is_coordinator {
        parts.push("coordinator".into());
    }
    if n.cordoned {
        parts.push("cordoned".into());
    }
    parts.join(", ")
}

#[component]
pub fn Topology(state: ClusterState) -> impl IntoView {
    view! {
        <section id="topology" class="panel" aria-labelledby="topology-heading">
            <h2 id="topology-heading">"Topology"</h2>
            <Show
                when=move || !state.nodes.read().is_empty()
                fallback=|| view! { <p class="empty">"No nodes yet: add one below or register an agent with a join token."</p> }
            >
                <ul class="topology" aria-label="Nodes by health">
                    <For
                        each=move || state.nodes.get()
                        key=|n| (n.id.clone(), n.updated_at, n.status, n.health_status, n.is_primary, n.is_coordinator)
                        children=move |n: Node| {
                            // Counted but not up: weighs nothing in the score.
                            let condition = NodeCondition::from(&n);
                            let down = condition.is_counted() && !condition.is_up();
                            let class = format!(
                                "tile health-{}{}",
                                n.health_status.as_str(),
                                if down { " down" } else { "" },
                            );
                            let label = describe(&n);
                            view! {
                                <li>
                                    <a class=class href=format!("/nodes/{}", n.id) title=label.clone() aria-label=label>
                                        <span class="tile-name">{n.name.clone()}</span>
                                        <span class="tile-status">{n.status.as_str()}</span>
                                        <span class="tile-marks" aria-hidden="true">
                                            {n.is_primary.then_some(view! { <span class="mark" title="primary">"P"</span> })}
                                            {n.is_coordinator.then_some(view! { <span class="mark" title="coordinator">"C"</span> })}
                                        </span>
                                    </a>
                                </li>
                            }
                        }
                    />
                </ul>
                <p class="legend" aria-hidden="true">
                    <span class="swatch health-healthy"></span>"healthy "
                    <span class="swatch health-warning"></span>"warning "
                    <span class="swatch health-critical"></span>"critical "
                    <span class="swatch health-unknown"></span>"unknown · "
                    <span class="mark">"P"</span>" primary "
                    <span class="mark">"C"</span>" coordinator"
                </p>
            </Show>
        </section>
    }
}
