//! `/clusters`: every cluster the user may see, a page at a time, searchable,
//! filterable and sortable, with how each one's nodes stand; admins create
//! clusters here from an environment template. The list's state lives in the
//! address, so a view can be shared and survives a reload.

use std::fmt::Write as _;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use muster_domain::health::QuorumStatus;
use muster_domain::live::LiveMessage;
use muster_domain::query::{ClusterQuery, ClusterSort, Page};
use muster_domain::users::Role;
use muster_domain::{Cluster, ClusterStatus, ClusterTally, Environment};

use crate::api::clusters::{ClusterRow, list_cluster_rows, tally_clusters};
use crate::app::components::feedback::LoadError;
use crate::app::components::new_cluster::NewClusterDialog;
use crate::app::live::{StaleNotice, use_live};
use crate::app::session::use_session_user;

/// Rows on a page.
const PAGE_ROWS: u32 = 25;

/// How long typing in the search box waits before searching.
const SEARCH_DELAY: std::time::Duration = std::time::Duration::from_millis(300);

/// How often, at most, the node counts of the shown clusters are read again
/// while their nodes change.
const TALLY_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The list's state, as the address holds it.
#[derive(Debug, Clone, PartialEq)]
struct Filters {
    name: String,
    status: Option<ClusterStatus>,
    environment: Option<Environment>,
    sort: ClusterSort,
    descending: bool,
    cursor: Option<String>,
}

impl Default for Filters {
    fn default() -> Self {
        Self {
            name: String::new(),
            status: None,
            environment: None,
            sort: ClusterSort::Name,
            descending: false,
            cursor: None,
        }
    }
}

impl Filters {
    /// Reads the address's query; what it cannot read is left at its default.
    fn from_query(q: &ParamsMap) -> Self {
        let mut f = Self::default();
        if let Some(name) = q.get("q") {
            f.name = name;
        }
        f.status = q.get("status").and_then(|s| s.parse().ok());
        f.environment = q.get("environment").and_then(|s| s.parse().ok());
        if let Some(Ok((sort, descending))) = q.get("sort").map(|s| ClusterSort::parse_signed(&s)) {
            f.sort = sort;
            f.descending = descending;
        }
        f.cursor = q.get("cursor").filter(|c| !c.is_empty());
        f
    }

    /// The address of this view of the list.
    fn href(&self) -> String {
        let mut parts = Vec::new();
        if !self.name.is_empty() {
            parts.push(format!("q={}", encode(&self.name)));
        }
        if let Some(s) = self.status {
            parts.push(format!("status={}", s.as_str()));
        }
        if let Some(e) = self.environment {
            parts.push(format!("environment={}", e.as_str()));
        }
        if (self.sort, self.descending) != (ClusterSort::Name, false) {
            parts.push(format!("sort={}", self.sort.signed(self.descending)));
        }
        if let Some(c) = &self.cursor {
            parts.push(format!("cursor={}", encode(c)));
        }
        address("/clusters", &parts)
    }

    fn query(&self) -> ClusterQuery {
        ClusterQuery {
            status: self.status,
            environment: self.environment,
            name: Some(self.name.trim().to_owned()).filter(|n| !n.is_empty()),
            sort: self.sort,
            descending: self.descending,
            cursor: self.cursor.clone(),
            limit: PAGE_ROWS,
            ..ClusterQuery::default()
        }
    }
}

/// `path` with the query `parts` (already encoded), if any.
pub fn address(path: &str, parts: &[String]) -> String {
    if parts.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", parts.join("&"))
    }
}

/// Percent-encodes `text` for a query string.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[component]
pub fn ClustersPage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| Filters::from_query(&query.read()));
    let rows = Resource::new(move || filters.get().query(), list_cluster_rows);
    let user = use_session_user();
    let creating = RwSignal::new(false);
    // Cursors of the pages before this one, for "Previous".
    let earlier = RwSignal::new(Vec::<Option<String>>::new());
    let navigate = use_navigate();
    let go = Callback::new(move |f: Filters| {
        navigate(
            &f.href(),
            NavigateOptions {
                replace: true,
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    });
    // A new search, filter or order starts from the first page.
    let refine = Callback::new(move |change: Box<dyn FnOnce(&mut Filters) + Send + Sync>| {
        let mut f = filters.get_untracked();
        change(&mut f);
        f.cursor = None;
        earlier.set(Vec::new());
        go.run(f);
    });
    view! {
        <header class="page-header with-actions">
            <h1>"Clusters"</h1>
            <Transition fallback=|| ()>
                {move || {
                    user.allows(Role::Admin)
                        .then(|| {
                            view! {
                                <button
                                    type="button"
                                    class="primary"
                                    aria-haspopup="dialog"
                                    on:click=move |_| creating.set(true)
                                >
                                    "New cluster"
                                </button>
                            }
                        })
                }}
            </Transition>
        </header>
        <Toolbar filters refine />
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading clusters…"</p> }>
            {move || {
                rows.get()
                    .map(|result| match result {
                        Ok(page) => {
                            view! { <ClusterList page filters earlier go /> }.into_any()
                        }
                        Err(error) => {
                            view! { <LoadError what="The clusters" error retry=move || rows.refetch() /> }
                                .into_any()
                        }
                    })
            }}
        </Transition>
        <Show when=move || creating.get()>
            <NewClusterDialog close=Callback::new(move |()| creating.set(false)) />
        </Show>
    }
}

type Refine = Callback<Box<dyn FnOnce(&mut Filters) + Send + Sync>>;

#[component]
fn Toolbar(filters: Memo<Filters>, refine: Refine) -> impl IntoView {
    let typed = RwSignal::new(filters.get_untracked().name);
    let pending = StoredValue::new(None::<TimeoutHandle>);
    // A search still waiting when the page goes is dropped with it.
    on_cleanup(move || {
        if let Some(Some(h)) = pending.try_get_value() {
            h.clear();
        }
    });
    let search = move |text: String| {
        typed.set(text.clone());
        if let Some(h) = pending.get_value() {
            h.clear();
        }
        let handle = set_timeout_with_handle(
            move || refine.run(Box::new(move |f| f.name = text)),
            SEARCH_DELAY,
        )
        .ok();
        pending.set_value(handle);
    };
    let sort_value = move || filters.with(|f| f.sort.signed(f.descending));
    view! {
        <form class="toolbar" role="search" on:submit=move |ev| ev.prevent_default()>
            <label class="field grow">
                <span>"Search by name"</span>
                <input
                    type="search"
                    name="q"
                    placeholder="Name contains…"
                    prop:value=move || typed.get()
                    on:input=move |ev| search(event_target_value(&ev))
                />
            </label>
            <FilterSelect
                label="Status"
                name="status"
                options=ClusterStatus::ALL
                    .iter()
                    .filter(|s| **s != ClusterStatus::Decommissioned)
                    .map(|s| s.as_str())
                    .collect()
                current=Signal::derive(move || filters.with(|f| f.status.map(ClusterStatus::as_str)))
                pick=Callback::new(move |v: Option<String>| {
                    let v = v.and_then(|t| t.parse().ok());
                    refine.run(Box::new(move |f| f.status = v));
                })
            />
            <FilterSelect
                label="Environment"
                name="environment"
                options=Environment::ALL.iter().map(|e| e.as_str()).collect()
                current=Signal::derive(move || filters.with(|f| f.environment.map(Environment::as_str)))
                pick=Callback::new(move |v: Option<String>| {
                    let v = v.and_then(|t| t.parse().ok());
                    refine.run(Box::new(move |f| f.environment = v));
                })
            />
            <label class="field">
                <span>"Order"</span>
                <select
                    name="sort"
                    prop:value=sort_value
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        refine.run(Box::new(move |f| {
                            if let Ok((sort, descending)) = ClusterSort::parse_signed(&v) {
                                f.sort = sort;
                                f.descending = descending;
                            }
                        }));
                    }
                >
                    <option value="name">"Name, A to Z"</option>
                    <option value="-name">"Name, Z to A"</option>
                    <option value="health_score">"Health, worst first"</option>
                    <option value="-health_score">"Health, best first"</option>
                    <option value="-created_at">"Newest first"</option>
                    <option value="created_at">"Oldest first"</option>
                </select>
            </label>
        </form>
    }
}

/// A filter's drop-down: "Any", then `options`; choosing calls `pick` with
/// the option (`None` for "Any").
#[component]
pub fn FilterSelect(
    label: &'static str,
    name: &'static str,
    options: Vec<&'static str>,
    current: Signal<Option<&'static str>>,
    pick: Callback<Option<String>>,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <select
                name=name
                on:change=move |ev| {
                    let v = event_target_value(&ev);
                    pick.run(Some(v).filter(|v| !v.is_empty()));
                }
            >
                <option value="" selected=move || current.get().is_none()>
                    "Any"
                </option>
                {options
                    .into_iter()
                    .map(|o| {
                        view! {
                            <option value=o selected=move || current.get() == Some(o)>
                                {o}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </label>
    }
}

/// A page of clusters, kept current: clusters as the stream sends them, node
/// counts read again (at most every [`TALLY_EVERY`]) while their nodes change.
#[component]
fn ClusterList(
    page: Page<ClusterRow>,
    filters: Memo<Filters>,
    earlier: RwSignal<Vec<Option<String>>>,
    go: Callback<Filters>,
) -> impl IntoView {
    let next = page.next_cursor;
    let rows = RwSignal::new(page.items);
    let recount = StoredValue::new(false);
    let live = use_live();
    let shown = move |id: &muster_domain::ClusterId| {
        rows.read_untracked().iter().any(|r| &r.cluster.id == id)
    };
    // The timer may fire after the list is gone (a new search replaced it):
    // then it does nothing.
    let schedule_recount = move || {
        if recount.try_get_value() != Some(false) {
            return;
        }
        recount.set_value(true);
        set_timeout(
            move || {
                if recount.try_set_value(false).is_some() {
                    return;
                }
                let Some(ids) = rows.try_with_untracked(|list| {
                    list.iter()
                        .map(|r| r.cluster.id.clone())
                        .collect::<Vec<_>>()
                }) else {
                    return;
                };
                leptos::task::spawn_local(async move {
                    if let Ok(tallies) = tally_clusters(ids).await {
                        rows.try_update(|list| {
                            for row in list.iter_mut() {
                                if let Some(t) =
                                    tallies.iter().find(|t| t.cluster_id == row.cluster.id)
                                {
                                    row.tally = t.clone();
                                }
                            }
                        });
                    }
                });
            },
            TALLY_EVERY,
        );
    };
    live.on_message(move |m| match m {
        LiveMessage::ClusterUpdated { cluster } if shown(&cluster.id) => {
            rows.update(|list| {
                if let Some(row) = list.iter_mut().find(|r| r.cluster.id == cluster.id) {
                    row.cluster = cluster.clone();
                }
            });
        }
        LiveMessage::NodeUpdated { node } if shown(&node.cluster_id) => schedule_recount(),
        LiveMessage::NodeRemoved { cluster_id, .. } if shown(cluster_id) => schedule_recount(),
        LiveMessage::Resync { snapshot, .. } => {
            rows.update(|list| {
                for row in list.iter_mut() {
                    if let Some(c) = snapshot.clusters.iter().find(|c| c.id == row.cluster.id) {
                        row.cluster = c.clone();
                    }
                }
            });
            schedule_recount();
        }
        _ => {}
    });
    let is_empty = rows.read_untracked().is_empty();
    let filtered = {
        let f = filters.get_untracked();
        !f.name.is_empty() || f.status.is_some() || f.environment.is_some()
    };
    let has_previous = move || !earlier.read().is_empty() || filters.read().cursor.is_some();
    let previous = move |_| {
        let mut f = filters.get_untracked();
        let mut stack = earlier.get_untracked();
        f.cursor = stack.pop().flatten();
        earlier.set(stack);
        go.run(f);
    };
    let next_page = {
        let next = next.clone();
        move |_| {
            let mut f = filters.get_untracked();
            earlier.update(|s| s.push(f.cursor.clone()));
            f.cursor.clone_from(&next);
            go.run(f);
        }
    };
    view! {
        <StaleNotice />
        {if is_empty {
            let text = if filtered {
                "No cluster matches. Clear the search or a filter to see more."
            } else {
                "No clusters yet. An admin creates one from an environment template."
            };
            view! { <p class="empty">{text}</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap live-data" class:stale=move || live.is_stale()>
                    <table aria-label="Clusters" class="clusters">
                        <thead>
                            <tr>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Environment"</th>
                                <th scope="col">"Region"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"Health"</th>
                                <th scope="col" class="num">"Nodes online"</th>
                                <th scope="col">"Primary"</th>
                                <th scope="col">"Quorum"</th>
                                <th scope="col">"Tenants"</th>
                            </tr>
                        </thead>
                        <tbody>
                            <For
                                each=move || rows.get()
                                key=row_key
                                children=|r: ClusterRow| view! { <ClusterLine row=r /> }
                            />
                        </tbody>
                    </table>
                </div>
            }
                .into_any()
        }}
        <nav class="pager" aria-label="Pages">
            <button type="button" disabled=move || !has_previous() on:click=previous>
                "Previous"
            </button>
            <button type="button" disabled=next.is_none() on:click=next_page>
                "Next"
            </button>
        </nav>
    }
}

/// What a row shows changes when this does.
fn row_key(r: &ClusterRow) -> (String, i64, u32, u32, u32, Option<String>, Vec<String>) {
    (
        r.cluster.id.to_string(),
        r.cluster.updated_at.timestamp_micros(),
        r.tally.nodes,
        r.tally.counted,
        r.tally.online,
        r.tally.primary_name.clone(),
        r.tally.tenants.iter().map(|t| t.id.clone()).collect(),
    )
}

#[component]
fn ClusterLine(row: ClusterRow) -> impl IntoView {
    let ClusterRow { cluster, tally } = row;
    let (id, score) = (cluster.id.to_string(), cluster.health_score);
    view! {
        <tr data-cluster=id>
            <ClusterCells cluster />
            <td>
                <HealthGauge score />
            </td>
            <td class="num" data-testid="nodes-online">
                {format!("{} / {}", tally.online, tally.nodes)}
            </td>
            <td>{tally.primary_name.clone().unwrap_or_else(|| "none".to_owned())}</td>
            <td>
                <QuorumBadge tally=tally.clone() />
            </td>
            <td class="tenants">
                {if tally.tenants.is_empty() {
                    "—".to_owned()
                } else {
                    tally.tenants.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                }}
            </td>
        </tr>
    }
}

/// The cells that say which cluster a row is: its name (a link to its page)
/// and id, environment, region and status.
#[component]
pub fn ClusterCells(cluster: Cluster) -> impl IntoView {
    let status = cluster.status.as_str();
    view! {
        <td>
            <A href=format!("/clusters/{}", cluster.id) attr:class="name">
                {cluster.name}
            </A>
            <span class="id">{cluster.id.to_string()}</span>
        </td>
        <td>{cluster.environment.as_str()}</td>
        <td>{cluster.region}</td>
        <td>
            <span class=format!("badge status-{status}") data-testid="cluster-status">
                {status}
            </span>
        </td>
    }
}

/// A health score from 0 to 1 as a bar with its figure.
#[component]
pub fn HealthGauge(score: f64) -> impl IntoView {
    let score = score.clamp(0.0, 1.0);
    let band = if score >= 0.9 {
        "good"
    } else if score >= 0.3 {
        "fair"
    } else {
        "poor"
    };
    view! {
        <span class="gauge-wrap">
            <span
                class=format!("gauge gauge-{band}")
                role="meter"
                aria-label="Health score"
                aria-valuemin="0"
                aria-valuemax="1"
                aria-valuenow=format!("{score:.2}")
            >
                <span class="gauge-fill" style=format!("width: {:.0}%", score * 100.0)></span>
            </span>
            <span class="gauge-figure">{format!("{score:.2}")}</span>
        </span>
    }
}

#[component]
fn QuorumBadge(tally: ClusterTally) -> impl IntoView {
    let (class, text) = match tally.quorum() {
        None => ("quorum-none", "no nodes"),
        Some(QuorumStatus::Healthy) => ("quorum-healthy", "healthy"),
        Some(QuorumStatus::PartialPartition) => ("quorum-partial", "partial"),
        Some(QuorumStatus::MinorityPartition) => ("quorum-minority", "minority"),
    };
    view! { <span class=format!("badge {class}")>{text}</span> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_through_the_address() {
        let f = Filters {
            name: "eu west & co".into(),
            status: Some(ClusterStatus::Degraded),
            environment: Some(Environment::Production),
            sort: ClusterSort::HealthScore,
            descending: true,
            cursor: Some("abc=".into()),
        };
        let href = f.href();
        assert_eq!(
            href,
            "/clusters?q=eu%20west%20%26%20co&status=degraded&environment=production&sort=-health_score&cursor=abc%3D"
        );
        let query = href.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let map: ParamsMap = query
            .split('&')
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_owned(), decode(v)))
            })
            .collect();
        assert_eq!(Filters::from_query(&map), f);
        assert_eq!(Filters::default().href(), "/clusters");
    }

    #[test]
    fn unreadable_parameters_fall_back_to_defaults() {
        let map: ParamsMap = [
            ("status".to_owned(), "sleepy".to_owned()),
            ("sort".to_owned(), "-colour".to_owned()),
            ("cursor".to_owned(), String::new()),
        ]
        .into_iter()
        .collect();
        assert_eq!(Filters::from_query(&map), Filters::default());
    }

    fn decode(v: &str) -> String {
        let bytes = v.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).expect("utf-8")
    }
}
