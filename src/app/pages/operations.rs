//! `/operations`: run a catalog operation — a form built from the operation's
//! parameter schema, a dry-run preview of its impact, a second, explicit
//! confirmation when a guard objects, and the result — above the operations
//! history, filtered by cluster, operation and status (the filters and the
//! form's subject live in the address, so other pages link to them).

use chrono::NaiveDateTime;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use muster_domain::operations::{
    Impact, OperationName, OperationQuery, OperationRecord, OperationRequest, OperationStatus,
    OperationTarget, ParamKind, ParamSpec, catalog,
};
use muster_domain::users::Role;
use muster_domain::{ClusterId, Node, NodeId};
use serde_json::{Map, Value};

use crate::api::AppError;
use crate::api::clusters::get_cluster_info;
use crate::api::operations::{OperationAnswer, list_operations, run_operation};
use crate::app::components::cluster_picker::{ClusterNames, ClusterPicker, cluster_names_resource};
use crate::app::components::feedback::{FieldError, LoadError};
use crate::app::components::pager::KeysetPager;
use crate::app::pages::clusters::{FilterSelect, address, encode};
use crate::app::session::use_session_user;

/// Rows on a page of the history.
const PAGE_ROWS: u32 = 50;

/// The page's state, as the address holds it: the form's subject and the
/// history's filters.
#[derive(Debug, Clone, Default, PartialEq)]
struct View {
    operation: Option<OperationName>,
    cluster_id: Option<ClusterId>,
    node_id: Option<NodeId>,
    status: Option<OperationStatus>,
    filter_operation: Option<OperationName>,
    cursor: Option<String>,
}

impl View {
    fn from_query(q: &ParamsMap) -> Self {
        Self {
            operation: q.get("operation").and_then(|o| o.parse().ok()),
            cluster_id: q.get("cluster_id").and_then(|c| c.parse().ok()),
            node_id: q.get("node_id").and_then(|n| n.parse().ok()),
            status: q.get("status").and_then(|s| s.parse().ok()),
            filter_operation: q.get("history").and_then(|o| o.parse().ok()),
            cursor: q.get("cursor").filter(|c| !c.is_empty()),
        }
    }

    fn href(&self) -> String {
        let mut parts = Vec::new();
        if let Some(o) = self.operation {
            parts.push(format!("operation={}", o.as_str()));
        }
        if let Some(c) = &self.cluster_id {
            parts.push(format!("cluster_id={c}"));
        }
        if let Some(n) = &self.node_id {
            parts.push(format!("node_id={n}"));
        }
        if let Some(s) = self.status {
            parts.push(format!("status={}", s.as_str()));
        }
        if let Some(o) = self.filter_operation {
            parts.push(format!("history={}", o.as_str()));
        }
        if let Some(c) = &self.cursor {
            parts.push(format!("cursor={}", encode(c)));
        }
        address("/operations", &parts)
    }

    /// The history the filters ask for (the form's cluster narrows it too).
    fn query(&self) -> OperationQuery {
        OperationQuery {
            cluster_id: self.cluster_id.clone(),
            status: self.status,
            operation: self.filter_operation,
            cursor: self.cursor.clone(),
            limit: PAGE_ROWS,
            ..OperationQuery::default()
        }
    }
}

/// The operations page's address with `operation` and its subject chosen
/// (either may be left out), for links from the cluster and node pages.
#[must_use]
pub fn operations_href(
    operation: Option<OperationName>,
    cluster_id: Option<ClusterId>,
    node_id: Option<NodeId>,
) -> String {
    View {
        operation,
        cluster_id,
        node_id,
        ..View::default()
    }
    .href()
}

#[component]
pub fn OperationsPage() -> impl IntoView {
    let query = use_query_map();
    let view_state = Memo::new(move |_| View::from_query(&query.read()));
    let cluster_names = cluster_names_resource();
    let navigate = use_navigate();
    let go = Callback::new(move |v: View| {
        navigate(
            &v.href(),
            NavigateOptions {
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    });
    let user = use_session_user();
    // Bumped after each run, so the history shows it.
    let runs = RwSignal::new(0u32);
    // The form's resources are made here, once, not inside the view that
    // waits for the user: the server renders that view more than once, and
    // the browser would read another rendering's values.
    let cluster_nodes = Resource::new(
        move || view_state.read().cluster_id.clone(),
        |cluster| async move {
            match cluster {
                Some(id) => get_cluster_info(id).await.map(|i| i.nodes),
                None => Ok(Vec::new()),
            }
        },
    );
    // A link that names only the node: its cluster is looked up.
    let node_cluster = Resource::new(
        move || {
            let v = view_state.read();
            v.node_id.clone().filter(|_| v.cluster_id.is_none())
        },
        |node| async move {
            match node {
                Some(id) => crate::api::nodes::get_node(id)
                    .await
                    .ok()
                    .map(|n| n.cluster_id),
                None => None,
            }
        },
    );
    view! {
        <header class="page-header">
            <h1>"Operations"</h1>
            <p class="desc">
                "Cordon, drain, maintenance, leadership, retirement and agent actions — previewed before they run, guarded, rate-limited and kept in the history below."
            </p>
        </header>
        <Transition fallback=|| ()>
            {move || {
                user.get()
                    .filter(|u| u.role.allows(Role::Operator))
                    .map(|u| view! { <OperationForm view_state go role=u.role runs cluster_nodes node_cluster cluster_names /> })
            }}
        </Transition>
        <section class="panel" aria-labelledby="history-title">
            <div class="panel-head">
                <h2 id="history-title">"History"</h2>
            </div>
            <div class="toolbar" role="search">
                <FilterSelect
                    label="Operation"
                    name="history"
                    options=OperationName::ALL.iter().map(|o| o.as_str()).collect()
                    current=Signal::derive(move || view_state.read().filter_operation.map(OperationName::as_str))
                    pick=Callback::new(move |v: Option<String>| {
                        go.run(View { filter_operation: v.and_then(|v| v.parse().ok()), cursor: None, ..view_state.get_untracked() });
                    })
                />
                <FilterSelect
                    label="Status"
                    name="status"
                    options=OperationStatus::ALL.iter().map(|s| s.as_str()).collect()
                    current=Signal::derive(move || view_state.read().status.map(OperationStatus::as_str))
                    pick=Callback::new(move |v: Option<String>| {
                        go.run(View { status: v.and_then(|v| v.parse().ok()), cursor: None, ..view_state.get_untracked() });
                    })
                />
            </div>
            <History view_state go runs />
        </section>
    }
}

/// The parameters typed so far, by name, as the inputs hold them (text).
type Inputs = RwSignal<Vec<(String, String)>>;

fn input_of(inputs: Inputs, name: &str) -> String {
    inputs
        .read()
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn set_input(inputs: Inputs, name: &str, value: String) {
    inputs.update(|all| match all.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value,
        None => all.push((name.to_owned(), value)),
    });
}

/// The JSON parameters from the inputs: empty ones are left out (the server
/// fills defaults in and names what is missing); numbers and times are
/// converted, and what cannot be is sent as typed for the server to name.
fn params_of(spec: &[ParamSpec], inputs: &[(String, String)]) -> Map<String, Value> {
    let mut out = Map::new();
    for p in spec {
        let Some((_, raw)) = inputs.iter().find(|(n, _)| n == p.name) else {
            continue;
        };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let value = match p.kind {
            ParamKind::Integer { .. } => raw
                .parse::<i64>()
                .map_or_else(|_| Value::String(raw.to_owned()), Value::from),
            ParamKind::FutureTime => NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
                .map_or_else(
                    |_| Value::String(raw.to_owned()),
                    |t| Value::String(t.and_utc().to_rfc3339()),
                ),
            ParamKind::Text { .. } | ParamKind::Choice { .. } => Value::String(raw.to_owned()),
        };
        out.insert(p.name.to_owned(), value);
    }
    out
}

/// Where a run stands on the form.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Idle,
    /// A dry run's impact.
    Previewed(Impact),
    /// A guard objected: the impact, waiting for an explicit "run anyway".
    Guarded(Impact),
    Done(Box<OperationAnswer>),
    Failed(AppError),
}

#[component]
fn OperationForm(
    view_state: Memo<View>,
    go: Callback<View>,
    role: Role,
    runs: RwSignal<u32>,
    cluster_nodes: Resource<Result<Vec<Node>, AppError>>,
    node_cluster: Resource<Option<ClusterId>>,
    cluster_names: ClusterNames,
) -> impl IntoView {
    let inputs: Inputs = RwSignal::new(Vec::new());
    let step = RwSignal::new(Step::Idle);
    let confirmed = RwSignal::new(false);
    let allowed: Vec<OperationName> = catalog()
        .iter()
        .filter(|s| role.allows(s.min_role))
        .map(|s| s.name)
        .collect();
    let operation = Memo::new(move |_| view_state.read().operation.unwrap_or(OperationName::Drain));
    Effect::new(move |_| {
        if let Some(Some(cluster_id)) = node_cluster.get() {
            go.run(View {
                cluster_id: Some(cluster_id),
                ..view_state.get_untracked()
            });
        }
    });
    // What is shown belongs to the subject it was asked about.
    Effect::new(move |_| {
        let _ = (operation.get(), view_state.read().node_id.clone());
        step.set(Step::Idle);
        confirmed.set(false);
    });
    let request = move |dry_run: bool, force: bool| {
        let v = view_state.get_untracked();
        let op = operation.get_untracked();
        let on_node = op.spec().target == OperationTarget::Node;
        OperationRequest {
            operation: op,
            cluster_id: v.cluster_id.clone(),
            node_id: if on_node { v.node_id.clone() } else { None },
            params: params_of(op.spec().params, &inputs.read_untracked()),
            force,
            dry_run,
        }
    };
    let act = Action::new(move |req: &OperationRequest| {
        let req = req.clone();
        async move { (req.dry_run, run_operation(req).await) }
    });
    Effect::new(move |_| {
        if let Some((dry_run, answer)) = act.value().get() {
            step.set(match answer {
                Ok(a) if dry_run => Step::Previewed(a.impact),
                Ok(a) => {
                    runs.update(|n| *n += 1);
                    Step::Done(Box::new(a))
                }
                Err(e) => match e.impact.clone() {
                    Some(impact) => Step::Guarded(*impact),
                    None => Step::Failed(e),
                },
            });
            confirmed.set(false);
        }
    });
    let failed = Signal::derive(move || match step.get() {
        Step::Failed(e) => Some(e),
        _ => None,
    });
    view! {
        <section class="panel" aria-labelledby="run-title">
            <h2 id="run-title">"Run an operation"</h2>
            <form class="form-grid operation-form" on:submit=move |ev| {
                ev.prevent_default();
                act.dispatch(request(true, false));
            }>
                <div class="field">
                    <label for="op-operation">"Operation"</label>
                    <select id="op-operation" name="operation" on:change=move |ev| {
                        let op = event_target_value(&ev).parse().ok();
                        inputs.set(Vec::new());
                        go.run(View { operation: op, ..view_state.get_untracked() });
                    }>
                        {allowed
                            .iter()
                            .map(|o| {
                                let o = *o;
                                view! {
                                    <option value=o.as_str() selected=move || operation.get() == o>
                                        {o.spec().title}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    <span class="hint-inline">{move || operation.get().spec().description}</span>
                    <FieldError error=failed field="operation" />
                </div>
                <div class="field">
                    <ClusterPicker
                        clusters=cluster_names
                        current=Signal::derive(move || view_state.read().cluster_id.clone())
                        pick=Callback::new(move |cluster_id| {
                            go.run(View { cluster_id, node_id: None, cursor: None, ..view_state.get_untracked() });
                        })
                        none_label="Choose a cluster"
                    />
                    <FieldError error=failed field="cluster_id" />
                </div>
                <Show when=move || operation.get().spec().target == OperationTarget::Node>
                    <div class="field">
                        <label for="op-node">"Node"</label>
                        <Transition fallback=|| view! { <select disabled=true><option>"Loading…"</option></select> }>
                            {move || cluster_nodes.get().map(|nodes| {
                                let nodes = nodes.unwrap_or_default();
                                view! {
                                    <select id="op-node" name="node_id"
                                        prop:value=move || view_state.read().node_id.as_ref().map(ToString::to_string).unwrap_or_default()
                                        on:change=move |ev| {
                                            let node_id = event_target_value(&ev).parse().ok();
                                            go.run(View { node_id, ..view_state.get_untracked() });
                                        }
                                    >
                                        <option value="">"Choose a node"</option>
                                        {nodes.into_iter().map(|n| {
                                            let label = format!("{} ({}{})", n.name, n.status.as_str(),
                                                if n.is_primary { ", primary" } else if n.is_coordinator { ", coordinator" } else { "" });
                                            view! { <option value=n.id.to_string()>{label}</option> }
                                        }).collect_view()}
                                    </select>
                                }
                            })}
                        </Transition>
                        <FieldError error=failed field="node_id" />
                    </div>
                </Show>
                {move || {
                    operation.get().spec().params.iter().map(|p| {
                        let p = *p;
                        let id = format!("op-param-{}", p.name);
                        let field = format!("params.{}", p.name);
                        let control = match p.kind {
                            ParamKind::Choice { values } => view! {
                                <select id=id.clone() on:change=move |ev| set_input(inputs, p.name, event_target_value(&ev))>
                                    {values.iter().map(|v| view! {
                                        <option value=*v selected=p.default.is_some_and(|d| d.trim_matches('"') == *v)>{*v}</option>
                                    }).collect_view()}
                                </select>
                            }.into_any(),
                            ParamKind::Integer { min, max } => view! {
                                <input id=id.clone() type="number" min=min max=max inputmode="numeric"
                                    prop:value=move || input_of(inputs, p.name)
                                    on:input=move |ev| set_input(inputs, p.name, event_target_value(&ev)) />
                            }.into_any(),
                            ParamKind::FutureTime => view! {
                                <input id=id.clone() type="datetime-local"
                                    prop:value=move || input_of(inputs, p.name)
                                    on:input=move |ev| set_input(inputs, p.name, event_target_value(&ev)) />
                            }.into_any(),
                            ParamKind::Text { max_chars } => view! {
                                <input id=id.clone() type="text" maxlength=max_chars
                                    prop:value=move || input_of(inputs, p.name)
                                    on:input=move |ev| set_input(inputs, p.name, event_target_value(&ev)) />
                            }.into_any(),
                        };
                        let label = format!(
                            "{}{}{}",
                            p.description,
                            if matches!(p.kind, ParamKind::FutureTime) { " (UTC)" } else { "" },
                            if p.required { "" } else { " — optional" }
                        );
                        view! {
                            <div class="field">
                                <label for=id>{label}</label>
                                {control}
                                <FieldError error=failed field />
                            </div>
                        }
                    }).collect_view()
                }}
                <div class="form-actions">
                    <button type="submit" disabled=move || act.pending().get()>"Preview (dry run)"</button>
                    <button type="button" class="primary" disabled=move || act.pending().get()
                        on:click=move |_| { act.dispatch(request(false, false)); }>
                        "Run"
                    </button>
                </div>
            </form>
            <div aria-live="polite">
                {move || match step.get() {
                    Step::Idle => None,
                    Step::Previewed(impact) => Some(view! {
                        <div class="impact" data-step="preview">
                            <h3>"Dry run: nothing was done"</h3>
                            <ImpactView impact />
                        </div>
                    }.into_any()),
                    Step::Guarded(impact) => Some(view! {
                        <div class="impact guarded" role="alert" data-step="guarded">
                            <h3>"This operation is guarded"</h3>
                            <ImpactView impact />
                            <label class="confirm-check">
                                <input type="checkbox" prop:checked=move || confirmed.get()
                                    on:change=move |ev| confirmed.set(event_target_checked(&ev)) />
                                "I have read the impact and want to run it anyway"
                            </label>
                            <button type="button" class="danger"
                                disabled=move || !confirmed.get() || act.pending().get()
                                on:click=move |_| { act.dispatch(request(false, true)); }>
                                "Run anyway (force)"
                            </button>
                        </div>
                    }.into_any()),
                    Step::Done(answer) => Some(view! { <Result answer=*answer /> }.into_any()),
                    Step::Failed(e) => Some(view! { <p class="error-panel" role="alert">{e.message}</p> }.into_any()),
                }}
            </div>
        </section>
    }
}

#[component]
fn ImpactView(impact: Impact) -> impl IntoView {
    let leaders = |id: Option<NodeId>| id.map_or_else(|| "nobody".to_owned(), |i| i.to_string());
    view! {
        <p class="impact-summary">{impact.summary.clone()}</p>
        {(!impact.guards.is_empty()).then(|| view! {
            <p class="guards">
                "Guards: "
                {impact.guards.iter().map(|g| view! { <span class="badge guard">{g.as_str()}</span> " " }).collect_view()}
            </p>
        })}
        <dl class="facts">
            <dt>"Primary after"</dt>
            <dd class="mono">{leaders(impact.leadership_after.primary.clone())}</dd>
            <dt>"Coordinator after"</dt>
            <dd class="mono">{leaders(impact.leadership_after.coordinator.clone())}</dd>
            <dt>"Quorum"</dt>
            <dd>{format!("{} → {}", impact.quorum_before.as_str(), impact.quorum_after.as_str())}</dd>
        </dl>
    }
}

#[component]
fn Result(answer: OperationAnswer) -> impl IntoView {
    let record = answer.operation.clone();
    view! {
        <div class="done" role="status" data-step="done">
            {record.map(|r| {
                let waiting = !r.status.is_finished();
                view! {
                    <p>
                        <span class=format!("badge op-{}", r.status.as_str())>{r.status.as_str()}</span>
                        " " {r.result.clone()}
                    </p>
                    {waiting.then(|| view! { <p class="hint-inline">"The node's agent picks it up with its next heartbeat; the history below shows how it ends."</p> })}
                }
            })}
            {answer.node_token.map(|t| view! {
                <p>"The new node token, shown this once: " <code class="secret">{t}</code></p>
            })}
        </div>
    }
}

#[component]
fn History(view_state: Memo<View>, go: Callback<View>, runs: RwSignal<u32>) -> impl IntoView {
    let history = Resource::new(
        move || (view_state.get().query(), runs.get()),
        |(q, _)| list_operations(q),
    );
    // While a run waits for its agent, look again every few seconds.
    Effect::new(move |_| {
        let waiting = history
            .get()
            .and_then(Result::ok)
            .is_some_and(|p| p.items.iter().any(|r| !r.status.is_finished()));
        if waiting {
            set_timeout(
                move || runs.update(|n| *n += 1),
                std::time::Duration::from_secs(3),
            );
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the history…"</p> }>
            {move || history.get().map(|result| match result {
                Ok(page) if page.items.is_empty() => view! { <p class="empty">"No operation has run here yet."</p> }.into_any(),
                Ok(page) => {
                    let next = page.next_cursor.clone();
                    let later = view_state.read_untracked().cursor.is_some();
                    view! {
                        <HistoryTable rows=page.items />
                        <KeysetPager later next first_label="Newest" next_label="Older"
                            to=Callback::new(move |cursor| go.run(View { cursor, ..view_state.get_untracked() })) />
                    }.into_any()
                }
                Err(error) => view! { <LoadError what="The history" error retry=move || history.refetch() /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn HistoryTable(rows: Vec<OperationRecord>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table aria-label="Operations history">
                <thead>
                    <tr>
                        <th scope="col">"Time (UTC)"</th>
                        <th scope="col">"Operation"</th>
                        <th scope="col">"On"</th>
                        <th scope="col">"Parameters"</th>
                        <th scope="col">"By"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Result"</th>
                        <th scope="col" class="num">"Took"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|r| {
                        let subject = match &r.node_id {
                            Some(n) => view! { <a class="mono" href=format!("/nodes/{n}")>{n.to_string()}</a> }.into_any(),
                            None => view! { <a class="mono" href=format!("/clusters/{}", r.cluster_id)>{r.cluster_id.to_string()}</a> }.into_any(),
                        };
                        let params = if r.params.is_empty() {
                            String::new()
                        } else {
                            r.params.iter().map(|(k, v)| match v {
                                Value::String(s) => format!("{k}={s}"),
                                other => format!("{k}={other}"),
                            }).collect::<Vec<_>>().join(", ")
                        };
                        let took = r.duration_ms.map(|ms| if ms < 1000 { format!("{ms} ms") } else { format!("{}.{} s", ms / 1000, ms % 1000 / 100) }).unwrap_or_default();
                        view! {
                            <tr data-operation=r.id>
                                <td class="nowrap"><time datetime=r.created_at.to_rfc3339()>{r.created_at.format("%Y-%m-%d %H:%M:%S").to_string()}</time></td>
                                <td>{r.operation.spec().title}{r.forced.then(|| view! { " " <span class="badge guard">"forced"</span> })}</td>
                                <td>{subject}</td>
                                <td class="mono small">{params}</td>
                                <td>{r.actor.clone()}</td>
                                <td><span class=format!("badge op-{}", r.status.as_str())>{r.status.as_str()}</span></td>
                                <td>{r.result.clone()}</td>
                                <td class="num">{took}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_round_trips() {
        let cluster: ClusterId = "cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8"
            .parse()
            .expect("cluster");
        let node = NodeId::generate(&cluster, 3, &mut rand::rng());
        let v = View {
            operation: Some(OperationName::MaintenanceOn),
            cluster_id: Some(cluster),
            node_id: Some(node.clone()),
            status: Some(OperationStatus::Failed),
            filter_operation: Some(OperationName::Drain),
            cursor: None,
        };
        let href = v.href();
        let map: ParamsMap = href
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(View::from_query(&map), v);
    }

    #[test]
    fn parameters_are_typed_and_empty_ones_left_out() {
        let spec = OperationName::SignalProcess.spec().params;
        let p = params_of(
            spec,
            &[
                ("pid".into(), " 42 ".into()),
                ("signal".into(), String::new()),
            ],
        );
        assert_eq!(Value::Object(p), serde_json::json!({"pid": 42}));
        let p = params_of(spec, &[("pid".into(), "forty".into())]);
        assert_eq!(
            p.get("pid"),
            Some(&Value::String("forty".into())),
            "the server names it"
        );
        let spec = OperationName::MaintenanceOn.spec().params;
        let p = params_of(spec, &[("expires_at".into(), "2026-05-01T18:30".into())]);
        assert_eq!(
            p.get("expires_at"),
            Some(&Value::String("2026-05-01T18:30:00+00:00".into()))
        );
    }
}
