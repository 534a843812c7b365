//! `/`: the fleet at a glance.

use leptos::prelude::*;
use muster_domain::{Cluster, ClusterStatus};

use crate::api::fleet::{FleetOverview, get_fleet_overview};
use crate::app::components::templates::TemplateTable;

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
                        Err(e) => {
                            view! {
                                <div class="error-panel" role="alert">
                                    <p>"The fleet could not be loaded: " {e.message}</p>
                                    <button type="button" on:click=move |_| overview.refetch()>
                                        "Retry"
                                    </button>
                                </div>
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

#[component]
fn Overview(data: FleetOverview) -> impl IntoView {
    let total = data.clusters.len();
    let active = data
        .clusters
        .iter()
        .filter(|c| c.status == ClusterStatus::Active)
        .count();
    let attention = data
        .clusters
        .iter()
        .filter(|c| matches!(c.status, ClusterStatus::Degraded | ClusterStatus::Offline))
        .count();
    view! {
        <section class="stats" aria-label="Fleet summary">
            <Stat label="Clusters" value=total.to_string() />
            <Stat label="Active" value=active.to_string() />
            <Stat label="Need attention" value=attention.to_string() />
            <Stat label="Templates" value=data.templates.len().to_string() />
        </section>
        <section aria-labelledby="clusters-heading">
            <h2 id="clusters-heading">"Clusters"</h2>
            <ClusterTable clusters=data.clusters />
        </section>
        <section aria-labelledby="templates-heading">
            <h2 id="templates-heading">"Environment templates"</h2>
            <TemplateTable templates=data.templates />
        </section>
    }
}

#[component]
fn Stat(label: &'static str, value: String) -> impl IntoView {
    view! {
        <div class="stat">
            <span class="stat-value">{value}</span>
            <span class="stat-label">{label}</span>
        </div>
    }
}

#[component]
fn ClusterTable(clusters: Vec<Cluster>) -> impl IntoView {
    if clusters.is_empty() {
        return view! {
            <p class="empty">
                "No clusters yet. Create one from an environment template through the API."
            </p>
        }
        .into_any();
    }
    view! {
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
                    {clusters
                        .into_iter()
                        .map(|c| {
                            let status = c.status.as_str();
                            view! {
                                <tr>
                                    <td>
                                        <span class="name">{c.name}</span>
                                        <span class="id">{c.id.to_string()}</span>
                                    </td>
                                    <td>{c.environment.as_str()}</td>
                                    <td>{c.region}</td>
                                    <td>
                                        <span class=format!("badge status-{status}")>{status}</span>
                                    </td>
                                    <td class="num">{format!("{:.2}", c.health_score)}</td>
                                    <td class="num">{c.max_nodes}</td>
                                    <td class="num">{c.term}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
