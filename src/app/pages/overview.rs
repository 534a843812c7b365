//! `/`: the fleet at a glance.

use leptos::prelude::*;
use muster_domain::live::{LiveMessage, Subscription};
use muster_domain::{Cluster, ClusterStatus};

use crate::api::fleet::{FleetOverview, get_fleet_overview};
use crate::app::components::feedback::LoadError;
use crate::app::components::templates::TemplateTable;
use crate::app::live::{StaleNotice, use_live};
use crate::app::pages::clusters::ClusterCells;

#[component]
pub fn OverviewPage() -> impl IntoView {
    let overview = Resource::new(|| (), |()| get_fleet_overview());
    view! {
        <h1>"Fleet overview"</h1>
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the fleet…"</p> }>
            {move || {
                overview
                    .get()
                    .map(|result| match result {
                        Ok(data) => view! { <Overview data /> }.into_any(),
                        Err(error) => {
                            view! { <LoadError what="The fleet" error retry=move || overview.refetch() /> }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

#[component]
fn Overview(data: FleetOverview) -> impl IntoView {
    let clusters = RwSignal::new(data.clusters);
    let live = use_live();
    live.on_message(move |m| match m {
        LiveMessage::ClusterUpdated { cluster } => {
            clusters.update(|list| match list.iter_mut().find(|c| c.id == cluster.id) {
                Some(shown) => *shown = cluster.clone(),
                None => list.push(cluster.clone()),
            });
        }
        LiveMessage::Resync {
            subscription: Subscription::All,
            snapshot,
            ..
        } => clusters.set(snapshot.clusters.clone()),
        _ => {}
    });
    let templates = data.templates.len().to_string();
    let count = move |f: fn(&Cluster) -> bool| {
        move || clusters.read().iter().filter(|c| f(c)).count().to_string()
    };
    view! {
        <StaleNotice />
        <section class="stats" aria-label="Fleet summary">
            <Stat label="Clusters" value=count(|_| true) />
            <Stat label="Active" value=count(|c| c.status == ClusterStatus::Active) />
            <Stat
                label="Need attention"
                value=count(|c| matches!(c.status, ClusterStatus::Degraded | ClusterStatus::Offline))
            />
            <Stat label="Templates" value=move || templates.clone() />
        </section>
        <section aria-labelledby="clusters-heading" class="live-data" class:stale=move || live.is_stale()>
            <h2 id="clusters-heading">"Clusters"</h2>
            <ClusterTable clusters />
        </section>
        <section aria-labelledby="templates-heading">
            <h2 id="templates-heading">"Environment templates"</h2>
            <TemplateTable templates=data.templates />
        </section>
    }
}

#[component]
fn Stat(label: &'static str, value: impl Fn() -> String + Send + Sync + 'static) -> impl IntoView {
    view! {
        <div class="stat">
            <span class="stat-value">{value}</span>
            <span class="stat-label">{label}</span>
        </div>
    }
}

#[component]
fn ClusterTable(clusters: RwSignal<Vec<Cluster>>) -> impl IntoView {
    view! {
        <Show
            when=move || !clusters.read().is_empty()
            fallback=|| {
                view! {
                    <p class="empty">
                        "No clusters yet. Create one from an environment template through the API."
                    </p>
                }
            }
        >
            <div class="table-wrap">
                <table>
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Environment"</th>
                            <th scope="col">"Region"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col" class="num">"Health"</th>
                            <th scope="col" class="num">"Max nodes"</th>
                            <th scope="col" class="num">"Term"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || clusters.get()
                            key=|c| (c.id.clone(), c.updated_at, c.term)
                            children=|c: Cluster| {
                                let (id, score, max_nodes, term) = (
                                    c.id.to_string(),
                                    c.health_score,
                                    c.max_nodes,
                                    c.term,
                                );
                                view! {
                                    <tr data-cluster=id>
                                        <ClusterCells cluster=c />
                                        <td class="num">{format!("{score:.2}")}</td>
                                        <td class="num">{max_nodes}</td>
                                        <td class="num">{term}</td>
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
