//! `/processes`: the top processes every node of a cluster last reported, in
//! one list — filtered by node and by name or user, ordered by CPU, memory,
//! name, pid or node, a page at a time. The view lives in the address.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use muster_domain::processes::{ProcessQuery, ProcessRow, ProcessSort};
use muster_domain::{ClusterId, NodeId};

use crate::api::processes::list_processes;
use crate::app::components::cluster_picker::{ClusterPicker, cluster_names_resource};
use crate::app::components::feedback::LoadError;
use crate::app::components::pager::KeysetPager;
use crate::app::pages::clusters::{address, encode};

/// Rows on a page.
const PAGE_ROWS: u32 = 50;

/// The list's state, as the address holds it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Filters {
    cluster_id: Option<ClusterId>,
    node_id: Option<NodeId>,
    q: String,
    sort: Option<ProcessSort>,
    cursor: Option<String>,
}

impl Filters {
    fn from_query(q: &ParamsMap) -> Self {
        Self {
            cluster_id: q.get("cluster_id").and_then(|c| c.parse().ok()),
            node_id: q.get("node_id").and_then(|n| n.parse().ok()),
            q: q.get("q").unwrap_or_default(),
            sort: q.get("sort").and_then(|s| s.parse().ok()),
            cursor: q.get("cursor").filter(|c| !c.is_empty()),
        }
    }

    fn href(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.cluster_id {
            parts.push(format!("cluster_id={c}"));
        }
        if let Some(n) = &self.node_id {
            parts.push(format!("node_id={n}"));
        }
        if !self.q.is_empty() {
            parts.push(format!("q={}", encode(&self.q)));
        }
        if let Some(s) = self.sort {
            parts.push(format!("sort={}", s.as_str()));
        }
        if let Some(c) = &self.cursor {
            parts.push(format!("cursor={}", encode(c)));
        }
        address("/processes", &parts)
    }

    /// The query to run, when a cluster or node is chosen.
    fn query(&self) -> Option<ProcessQuery> {
        (self.cluster_id.is_some() || self.node_id.is_some()).then(|| ProcessQuery {
            cluster_id: self.cluster_id.clone(),
            node_id: self.node_id.clone(),
            q: Some(self.q.trim().to_owned()).filter(|q| !q.is_empty()),
            sort: self.sort,
            cursor: self.cursor.clone(),
            limit: PAGE_ROWS,
        })
    }
}

#[component]
pub fn ProcessesPage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| Filters::from_query(&query.read()));
    let cluster_names = cluster_names_resource();
    let navigate = use_navigate();
    let go = Callback::new(move |f: Filters| {
        navigate(
            &f.href(),
            NavigateOptions {
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    });
    // Any change of filter starts again from the first page.
    let change = move |edit: fn(&mut Filters, String)| {
        move |ev: leptos::ev::Event| {
            let mut f = filters.get_untracked();
            edit(&mut f, event_target_value(&ev));
            f.cursor = None;
            go.run(f);
        }
    };
    view! {
        <header class="page-header">
            <h1>"Processes"</h1>
        </header>
        <div class="toolbar" role="search">
            <ClusterPicker
                clusters=cluster_names
                current=Signal::derive(move || filters.read().cluster_id.clone())
                pick=Callback::new(move |cluster_id| {
                    go.run(Filters { cluster_id, node_id: None, cursor: None, ..filters.get_untracked() });
                })
                none_label="Pick a cluster…"
            />
            <label class="field grow">
                "Name or user"
                <input
                    type="search"
                    prop:value=move || filters.read().q.clone()
                    on:change=change(|f, v| f.q = v)
                    placeholder="e.g. postgres"
                />
            </label>
            <label class="field">
                "Order"
                <select prop:value=move || filters.read().sort.unwrap_or(ProcessSort::Cpu).as_str() on:change=change(|f, v| f.sort = v.parse().ok())>
                    <option value="cpu">"CPU, highest first"</option>
                    <option value="memory">"Memory, highest first"</option>
                    <option value="name">"Name"</option>
                    <option value="pid">"PID"</option>
                    <option value="node">"Node"</option>
                </select>
            </label>
            {move || {
                filters.read().node_id.clone().map(|n| {
                    view! {
                        <span class="chip">
                            {format!("Node {n}")}
                            <button
                                type="button"
                                class="small"
                                on:click=move |_| {
                                    let mut f = filters.get_untracked();
                                    f.node_id = None;
                                    f.cursor = None;
                                    go.run(f);
                                }
                            >
                                "All nodes"
                            </button>
                        </span>
                    }
                })
            }}
        </div>
        <Results filters go />
    }
}

/// The page of processes the filters ask for, with its pager.
#[component]
fn Results(filters: Memo<Filters>, go: Callback<Filters>) -> impl IntoView {
    let rows = Resource::new(
        move || filters.get().query(),
        |q| async move {
            match q {
                Some(q) => list_processes(q).await.map(Some),
                None => Ok(None),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading processes…"</p> }>
            {move || {
                rows.get()
                    .map(|result| match result {
                        Ok(None) => view! { <p class="empty">"Pick a cluster to list its processes."</p> }.into_any(),
                        Ok(Some(page)) if page.items.is_empty() => {
                            view! { <p class="empty">"No process matches."</p> }.into_any()
                        }
                        Ok(Some(page)) => {
                            let next = page.next_cursor.clone();
                            let first = filters.read_untracked().cursor.is_some();
                            view! {
                                <ProcessTable rows=page.items show_node=true />
                                <KeysetPager later=first next first_label="First page" next_label="Next"
                                    to=Callback::new(move |cursor| {
                                        let mut f = filters.get_untracked();
                                        f.cursor = cursor;
                                        go.run(f);
                                    }) />
                            }
                                .into_any()
                        }
                        Err(error) => {
                            view! { <LoadError what="The processes" error retry=move || rows.refetch() /> }.into_any()
                        }
                    })
            }}
        </Transition>
    }
}

fn mebibytes(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / (1024.0 * 1024.0);
    format!("{mib:.1} MiB")
}

/// Processes as a table; `show_node` adds the node that runs each.
#[component]
pub fn ProcessTable(rows: Vec<ProcessRow>, show_node: bool) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table aria-label="Processes">
                <thead>
                    <tr>
                        {show_node.then(|| view! { <th scope="col">"Node"</th> })}
                        <th scope="col" class="num">"PID"</th>
                        <th scope="col">"Name"</th>
                        <th scope="col">"User"</th>
                        <th scope="col" class="num">"CPU"</th>
                        <th scope="col" class="num">"Memory"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|p| {
                            view! {
                                <tr>
                                    {show_node.then(|| view! {
                                        <td><a href=format!("/nodes/{}", p.node_id)>{p.node_name.clone()}</a></td>
                                    })}
                                    <td class="num">{p.pid}</td>
                                    <td>{p.name.clone()}</td>
                                    <td>{p.user.clone()}</td>
                                    <td class="num">{format!("{:.1} %", p.cpu_percent)}</td>
                                    <td class="num">{mebibytes(p.memory_bytes)}</td>
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
    fn the_view_round_trips_through_the_address() {
        let f = Filters {
            cluster_id: Some(
                "cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8"
                    .parse()
                    .expect("id"),
            ),
            node_id: None,
            q: "post gres".into(),
            sort: Some(ProcessSort::Memory),
            cursor: Some("7b22".into()),
        };
        let href = f.href();
        assert_eq!(
            href,
            "/processes?cluster_id=cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8&q=post%20gres&sort=memory&cursor=7b22"
        );
        let query = href.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let map: ParamsMap = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.replace("%20", " ")))
            .collect();
        assert_eq!(Filters::from_query(&map), f);
        assert_eq!(
            Filters::default().query(),
            None,
            "nothing to list without a cluster"
        );
    }
}
