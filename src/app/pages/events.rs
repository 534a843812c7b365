//! `/events`: the audit log, newest first — filtered by cluster, node,
//! severity, category, type, time range and text, a page at a time (keyset
//! pages), and exported whole as CSV or JSON with the same filters. The view
//! lives in the address.

use chrono::{DateTime, NaiveDateTime, Utc};
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use muster_domain::query::EventQuery;
use muster_domain::{ClusterId, Event, EventCategory, NodeId, Severity};

use crate::api::events::get_cluster_events;
use crate::app::components::cluster_picker::{ClusterPicker, cluster_names_resource};
use crate::app::components::feedback::LoadError;
use crate::app::components::pager::KeysetPager;
use crate::app::pages::clusters::{FilterSelect, address, encode};

/// Rows on a page.
const PAGE_ROWS: u32 = 50;

/// The list's state, as the address holds it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Filters {
    cluster_id: Option<ClusterId>,
    node_id: Option<NodeId>,
    severity: Option<Severity>,
    category: Option<EventCategory>,
    event_type: String,
    text: String,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    cursor: Option<String>,
}

impl Filters {
    fn from_query(q: &ParamsMap) -> Self {
        let time = |name: &str| {
            q.get(name)
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        Self {
            cluster_id: q.get("cluster_id").and_then(|c| c.parse().ok()),
            node_id: q.get("node_id").and_then(|n| n.parse().ok()),
            severity: q.get("severity").and_then(|s| s.parse().ok()),
            category: q.get("category").and_then(|s| s.parse().ok()),
            event_type: q.get("type").unwrap_or_default(),
            text: q.get("q").unwrap_or_default(),
            since: time("since"),
            until: time("until"),
            cursor: q.get("cursor").filter(|c| !c.is_empty()),
        }
    }

    /// The filters as query parameters (the REST API's names), without the cursor.
    fn params(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if let Some(c) = &self.cluster_id {
            parts.push(format!("cluster_id={c}"));
        }
        if let Some(n) = &self.node_id {
            parts.push(format!("node_id={n}"));
        }
        if let Some(s) = self.severity {
            parts.push(format!("severity={}", s.as_str()));
        }
        if let Some(c) = self.category {
            parts.push(format!("category={}", c.as_str()));
        }
        if !self.event_type.trim().is_empty() {
            parts.push(format!("type={}", encode(self.event_type.trim())));
        }
        if !self.text.trim().is_empty() {
            parts.push(format!("q={}", encode(self.text.trim())));
        }
        for (name, t) in [("since", self.since), ("until", self.until)] {
            if let Some(t) = t {
                parts.push(format!("{name}={}", encode(&t.to_rfc3339())));
            }
        }
        parts
    }

    fn href(&self) -> String {
        let mut parts = self.params();
        if let Some(c) = &self.cursor {
            parts.push(format!("cursor={}", encode(c)));
        }
        address("/events", &parts)
    }

    /// Every matching event as a file, in `format` (`csv` or `json`).
    fn export(&self, format: &str) -> String {
        let mut parts = self.params();
        parts.push(format!("format={format}"));
        format!("/api/v1/events/export?{}", parts.join("&"))
    }

    fn query(&self) -> EventQuery {
        EventQuery {
            cluster_id: self.cluster_id.clone(),
            node_id: self.node_id.clone(),
            severity: self.severity,
            category: self.category,
            event_type: Some(self.event_type.trim().to_owned()).filter(|t| !t.is_empty()),
            text: Some(self.text.trim().to_owned()).filter(|t| !t.is_empty()),
            since: self.since,
            until: self.until,
            cursor: self.cursor.clone(),
            limit: PAGE_ROWS,
        }
    }
}

/// A `datetime-local` input's value (UTC) and back.
fn from_local(v: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .ok()
        .map(|t| t.and_utc())
}

fn to_local(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

#[component]
pub fn EventsPage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| Filters::from_query(&query.read()));
    let cluster_names = cluster_names_resource();
    let navigate = use_navigate();
    let go = Callback::new(move |mut f: Filters| {
        f.cursor = None;
        navigate(
            &f.href(),
            NavigateOptions {
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    });
    let edit = move |change: fn(&mut Filters, String)| {
        move |ev: leptos::ev::Event| {
            let mut f = filters.get_untracked();
            change(&mut f, event_target_value(&ev));
            go.run(f);
        }
    };
    let pick = move |change: fn(&mut Filters, Option<String>)| {
        Callback::new(move |v: Option<String>| {
            let mut f = filters.get_untracked();
            change(&mut f, v);
            go.run(f);
        })
    };
    let severities: Vec<&'static str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    let categories: Vec<&'static str> = EventCategory::ALL.iter().map(|c| c.as_str()).collect();
    view! {
        <header class="page-header with-actions">
            <h1>"Events"</h1>
            <div class="export" role="group" aria-label="Export">
                <a class="button" href=move || filters.read().export("csv") download="events.csv">"Export CSV"</a>
                <a class="button" href=move || filters.read().export("json") download="events.json">"Export JSON"</a>
            </div>
        </header>
        <div class="toolbar" role="search">
            <ClusterPicker
                clusters=cluster_names
                current=Signal::derive(move || filters.read().cluster_id.clone())
                pick=Callback::new(move |cluster_id| {
                    go.run(Filters { cluster_id, node_id: None, ..filters.get_untracked() });
                })
                none_label="Any"
            />
            <FilterSelect
                label="Severity"
                name="severity"
                options=severities
                current=Signal::derive(move || filters.read().severity.map(Severity::as_str))
                pick=pick(|f, v| f.severity = v.and_then(|v| v.parse().ok()))
            />
            <FilterSelect
                label="Category"
                name="category"
                options=categories
                current=Signal::derive(move || filters.read().category.map(EventCategory::as_str))
                pick=pick(|f, v| f.category = v.and_then(|v| v.parse().ok()))
            />
            <label class="field">
                "Type"
                <input type="text" placeholder="e.g. node_promotion" prop:value=move || filters.read().event_type.clone() on:change=edit(|f, v| f.event_type = v) />
            </label>
            <label class="field">
                "From (UTC)"
                <input type="datetime-local" prop:value=move || to_local(filters.read().since) on:change=edit(|f, v| f.since = from_local(&v)) />
            </label>
            <label class="field">
                "Until (UTC)"
                <input type="datetime-local" prop:value=move || to_local(filters.read().until) on:change=edit(|f, v| f.until = from_local(&v)) />
            </label>
            <label class="field grow">
                "Message"
                <input type="search" placeholder="words in the message" prop:value=move || filters.read().text.clone() on:change=edit(|f, v| f.text = v) />
            </label>
            {move || filters.read().node_id.clone().map(|n| view! {
                <span class="chip">
                    {format!("Node {n}")}
                    <button type="button" class="small" on:click=move |_| {
                        let mut f = filters.get_untracked();
                        f.node_id = None;
                        go.run(f);
                    }>"Any node"</button>
                </span>
            })}
        </div>
        <EventResults filters />
    }
}

#[component]
fn EventResults(filters: Memo<Filters>) -> impl IntoView {
    let events = Resource::new(move || filters.get().query(), get_cluster_events);
    let navigate = use_navigate();
    let to = Callback::new(move |f: Filters| {
        navigate(
            &f.href(),
            NavigateOptions {
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    });
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading events…"</p> }>
            {move || {
                events.get().map(|result| match result {
                    Ok(page) if page.items.is_empty() => {
                        view! { <p class="empty">"No event matches."</p> }.into_any()
                    }
                    Ok(page) => {
                        let next = page.next_cursor.clone();
                        let later = filters.read_untracked().cursor.is_some();
                        view! {
                            <EventTable rows=page.items />
                            <KeysetPager later next first_label="Newest" next_label="Older"
                                to=Callback::new(move |cursor| to.run(Filters { cursor, ..filters.get_untracked() })) />
                        }
                            .into_any()
                    }
                    Err(error) => {
                        view! { <LoadError what="The events" error retry=move || events.refetch() /> }.into_any()
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn EventTable(rows: Vec<Event>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table aria-label="Events">
                <thead>
                    <tr>
                        <th scope="col">"Time (UTC)"</th>
                        <th scope="col">"Severity"</th>
                        <th scope="col">"Category"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Message"</th>
                        <th scope="col">"Where"</th>
                        <th scope="col">"Actor"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|e| {
                            let place = match (&e.cluster_id, &e.node_id) {
                                (_, Some(n)) => view! { <a href=format!("/nodes/{n}")>"node"</a> }.into_any(),
                                (Some(c), None) => view! { <a href=format!("/clusters/{c}")>"cluster"</a> }.into_any(),
                                (None, None) => view! { <span class="muted">"fleet"</span> }.into_any(),
                            };
                            view! {
                                <tr data-event=e.id>
                                    <td class="nowrap">
                                        <time datetime=e.created_at.to_rfc3339()>{e.created_at.format("%Y-%m-%d %H:%M:%S").to_string()}</time>
                                    </td>
                                    <td><span class=format!("badge severity-{}", e.severity.as_str())>{e.severity.as_str()}</span></td>
                                    <td>{e.category.as_str()}</td>
                                    <td class="mono">{e.event_type.clone()}</td>
                                    <td>{e.message.clone()}</td>
                                    <td>{place}</td>
                                    <td>{e.actor.clone()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_round_trips_and_exports_with_the_same_filters() {
        let f = Filters {
            cluster_id: Some(
                "cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8"
                    .parse()
                    .expect("id"),
            ),
            severity: Some(Severity::Warning),
            category: Some(EventCategory::Coordination),
            event_type: "node_promotion".into(),
            text: "db 1".into(),
            since: from_local("2026-01-21T12:00"),
            cursor: Some("abc".into()),
            ..Filters::default()
        };
        let href = f.href();
        let query = href.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let map: ParamsMap = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| {
                (
                    k.to_owned(),
                    v.replace("%20", " ")
                        .replace("%3A", ":")
                        .replace("%2B", "+"),
                )
            })
            .collect();
        assert_eq!(Filters::from_query(&map), f);
        let export = f.export("csv");
        assert!(export.starts_with("/api/v1/events/export?cluster_id="));
        assert!(export.contains("&q=db%201&") && export.ends_with("&format=csv"));
        assert!(
            !export.contains("cursor"),
            "an export is every matching event"
        );
        assert_eq!(to_local(f.since), "2026-01-21T12:00");
        assert_eq!(from_local("yesterday"), None);
    }
}
