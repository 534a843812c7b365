//! The failover plan before anyone acts: the ordered candidates with the
//! reasons for their order, the nodes that may not lead, "what if this node
//! fails", and (for operators) promotion, with a confirmation step before
//! forcing a node that is not a candidate.

use leptos::prelude::*;
use muster_domain::coordination::{PlanCandidate, PlanExclusion, what_if_fails};
use muster_domain::users::Role;
use muster_domain::{Cluster, NodeId};

use super::{ClusterState, NodeLink, members};
use crate::api::nodes::PromoteToPrimary;
use crate::app::components::feedback::Outcome;

#[component]
pub fn FailoverPanel(state: ClusterState) -> impl IntoView {
    let promote = ServerAction::<PromoteToPrimary>::new();
    Effect::new(move |_| {
        if let Some(Ok(cluster)) = promote.value().get() {
            state.cluster.set(cluster);
        }
    });
    let error = Signal::derive(move || promote.value().get().and_then(Result::err));
    let done = Signal::derive(move || {
        promote
            .value()
            .get()
            .and_then(Result::ok)
            .map(|c| match &c.primary_node_id {
                Some(id) => format!("{} is the primary (term {}).", state.node_name(id), c.term),
                None => "Promoted.".to_owned(),
            })
    });
    let auto = move || state.cluster.with(|c| c.config.auto_failover);
    view! {
        <section id="failover" class="panel" aria-labelledby="failover-heading">
            <h2 id="failover-heading">"Failover plan"</h2>
            <p class="hint">
                {move || {
                    if auto() {
                        "Automatic failover is on: a primary that stops answering, turns critical or is drained is replaced by the first candidate."
                    } else {
                        "Automatic failover is off: a lost primary stays lost until an operator promotes a node."
                    }
                }}
            </p>
            <Outcome error done />
            <div class="panel-grid">
                <Candidates state promote />
                <WhatIfPanel state />
            </div>
        </section>
    }
}

#[component]
fn Candidates(state: ClusterState, promote: ServerAction<PromoteToPrimary>) -> impl IntoView {
    let candidates = Memo::new(move |_| state.plan.with(|p| p.candidates.clone()));
    let excluded = Memo::new(move |_| state.plan.with(|p| p.excluded.clone()));
    view! {
        <div>
            <h3>"Candidates, in order"</h3>
            <Show
                when=move || !candidates.read().is_empty()
                fallback=|| view! { <p class="empty" data-testid="no-candidates">"No node can lead now."</p> }
            >
                <ol class="candidates" aria-label="Failover candidates">
                    <For
                        each=move || candidates.get()
                        key=|c: &PlanCandidate| (c.node_id.clone(), c.rank, c.reason.clone())
                        children=move |c: PlanCandidate| {
                            let id = c.node_id.clone();
                            view! {
                                <li data-node=id.to_string()>
                                    <NodeLink state id=id.clone() />
                                    <span class="reason">{c.reason.clone()}</span>
                                    <PromoteButton state promote id=id.clone() force=false />
                                </li>
                            }
                        }
                    />
                </ol>
            </Show>
            <Show when=move || !excluded.read().is_empty()>
                <h3>"May not lead"</h3>
                <ul class="excluded" aria-label="Nodes that may not lead">
                    <For
                        each=move || excluded.get()
                        key=|x: &PlanExclusion| (x.node_id.clone(), x.reason.clone())
                        children=move |x: PlanExclusion| {
                            let id = x.node_id.clone();
                            view! {
                                <li data-node=id.to_string()>
                                    <NodeLink state id=id.clone() />
                                    <span class="reason">{x.reason.clone()}</span>
                                    <PromoteButton state promote id=id.clone() force=true />
                                </li>
                            }
                        }
                    />
                </ul>
            </Show>
        </div>
    }
}

/// "Make primary" for operators; a node that is not a candidate needs a
/// second, explicit confirmation (the promotion is then forced).
#[component]
fn PromoteButton(
    state: ClusterState,
    promote: ServerAction<PromoteToPrimary>,
    id: NodeId,
    force: bool,
) -> impl IntoView {
    let is_primary = {
        let id = id.clone();
        move || {
            state
                .cluster
                .with(|c| c.primary_node_id.as_ref() == Some(&id))
        }
    };
    let confirming = RwSignal::new(false);
    let name = {
        let id = id.clone();
        move || state.node_name(&id)
    };
    let id = StoredValue::new(id);
    let run = move || {
        confirming.set(false);
        promote.dispatch(PromoteToPrimary {
            id: id.get_value(),
            force,
        });
    };
    state.allows(Role::Operator).then_some(move || {
        if is_primary() {
            return view! { <span class="badge role-primary">"primary"</span> }.into_any();
        }
        if confirming.get() {
            return view! {
                <span class="confirm" role="group" aria-label="Confirm forced promotion">
                    {format!("{} is not a candidate. Promote it anyway? ", name())}
                    <button type="button" class="danger" on:click=move |_| run()>
                        "Promote anyway"
                    </button>
                    <button type="button" on:click=move |_| confirming.set(false)>
                        "Cancel"
                    </button>
                </span>
            }
            .into_any();
        }
        let label = if force {
            "Force promote…"
        } else {
            "Make primary"
        };
        view! {
            <button
                type="button"
                class="small"
                disabled=move || promote.pending().get()
                on:click=move |_| if force { confirming.set(true) } else { run() }
            >
                {label}
            </button>
        }
        .into_any()
    })
}

#[component]
fn WhatIfPanel(state: ClusterState) -> impl IntoView {
    let chosen = RwSignal::new(None::<NodeId>);
    let outcome = Memo::new(move |_| {
        let failed = chosen.get()?;
        let current = state.cluster.with(Cluster::leadership);
        let members = state.nodes.with(|n| members(n));
        members
            .iter()
            .any(|m| m.id == failed)
            .then(|| what_if_fails(&members, &current, &failed))
    });
    let name_or_none =
        move |id: Option<NodeId>| id.map_or_else(|| "nobody".to_owned(), |id| state.node_name(&id));
    view! {
        <div class="what-if">
            <h3>
                <label for="what-if-node">"What if this node fails?"</label>
            </h3>
            <select
                id="what-if-node"
                on:change=move |ev| {
                    let v = event_target_value(&ev);
                    chosen.set(v.parse().ok());
                }
            >
                <option value="" selected=move || chosen.read().is_none()>"Pick a node…"</option>
                <For
                    each=move || state.nodes.get()
                    key=|n| n.id.clone()
                    children=move |n| {
                        let value = n.id.to_string();
                        view! { <option value=value>{n.name.clone()}</option> }
                    }
                />
            </select>
            <div aria-live="polite" data-testid="what-if">
                {move || {
                    outcome
                        .get()
                        .map(|w| {
                            // The domain names nodes by id; the page by name.
                            let summary = state.nodes.with(|list| {
                                list.iter()
                                    .fold(w.summary.clone(), |s, n| s.replace(&n.id.to_string(), &n.name))
                            });
                            view! {
                                <p class="what-if-summary">{summary}</p>
                                <dl class="facts">
                                    <dt>"Primary after"</dt>
                                    <dd class:changes=w.primary_changes>{name_or_none(w.leadership_after.primary.clone())}</dd>
                                    <dt>"Coordinator after"</dt>
                                    <dd class:changes=w.coordinator_changes>{name_or_none(w.leadership_after.coordinator.clone())}</dd>
                                    <dt>"Candidates left"</dt>
                                    <dd>{w.candidates_left}</dd>
                                </dl>
                            }
                        })
                }}
            </div>
        </div>
    }
}
