//! `/simulation` (demo mode, admins): the demo clusters as the server judges
//! them beside their simulated nodes' faults, with buttons and a command line
//! that inject faults, so an admin sees what a cluster does about them:
//! health drops, the primary fails over, recommendations appear.

use leptos::prelude::*;
use leptos_router::components::A;
use muster_domain::Node;
use muster_domain::recommendations::Recommendation;

use crate::api::AppError;
use crate::api::simulation::{SimulatedCluster, SimulatedNode, get_simulation, simulate_fault};
use crate::app::components::feedback::LoadError;
use crate::app::pages::clusters::HealthGauge;

/// How often the page asks again while it is open (the demo reports every 5 s).
#[cfg(feature = "hydrate")]
const REFRESH_MS: u64 = 2000;

#[component]
pub fn SimulationPage() -> impl IntoView {
    let simulation = Resource::new(|| (), |()| get_simulation());
    #[cfg(feature = "hydrate")]
    {
        if let Ok(handle) = set_interval_with_handle(
            move || simulation.refetch(),
            std::time::Duration::from_millis(REFRESH_MS),
        ) {
            on_cleanup(move || handle.clear());
        }
    }
    let run = Action::new(|command: &String| {
        let command = command.clone();
        async move {
            simulate_fault(command.clone())
                .await
                .map(|names| (command, names))
        }
    });
    Effect::new(move |_| {
        if run.value().get().is_some() {
            simulation.refetch();
        }
    });
    let send = Callback::new(move |command: String| {
        run.dispatch(command);
    });
    view! {
        <h1>"Simulation"</h1>
        <p class="lede">
            "Every node of the demo clusters is simulated inside this server and reports through the real agent API. "
            "Inject a fault and watch the cluster react: its health drops, a lost primary fails over (two intervals and 5 s after its last heartbeat), recommendations appear."
        </p>
        <CommandLine send result=run.value() pending=run.pending() />
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the simulation…"</p> }>
            {move || {
                simulation
                    .get()
                    .map(|result| match result {
                        Ok(sim) => {
                            sim.clusters
                                .into_iter()
                                .map(|c| view! { <ClusterCard cluster=c send /> })
                                .collect_view()
                                .into_any()
                        }
                        Err(error) => {
                            view! {
                                <LoadError what="The simulation" error retry=move || simulation.refetch() />
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

/// A free command (`fail primary:demo-production for=2m`) and the last result.
/// A command's outcome: the command and the nodes it touched, or why not.
type Ran = Result<(String, Vec<String>), AppError>;

#[component]
fn CommandLine(
    send: Callback<String>,
    result: MappedSignal<Option<Ran>>,
    pending: Memo<bool>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let command = text.get_untracked();
        if !command.trim().is_empty() {
            send.run(command);
        }
    };
    view! {
        <form class="sim-command" on:submit=submit>
            <label for="sim-command">"Command"</label>
            <input
                id="sim-command"
                name="command"
                type="text"
                autocomplete="off"
                spellcheck="false"
                placeholder="fail primary:demo-production for=2m"
                aria-describedby="sim-command-help"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
            />
            <button type="submit" disabled=move || pending.get()>"Run"</button>
            <p id="sim-command-help" class="hint">
                "Actions: fail, partition, degrade [cpu|memory|disk=LEVEL], flap [period=30s], delay by=40s, heal. "
                "Targets: all, primary[:cluster], cluster:NAME, random:N, node names (a,b). "
                "Add for=2m to heal by itself."
            </p>
        </form>
        <p class="sim-result" role="status" aria-live="polite" data-testid="sim-result">
            {move || match result.get() {
                None => String::new(),
                Some(Ok((command, names))) => format!("{command}: {}", names.join(", ")),
                Some(Err(e)) => e.message,
            }}
        </p>
    }
}

#[component]
fn ClusterCard(cluster: SimulatedCluster, send: Callback<String>) -> impl IntoView {
    let info = cluster.info;
    let c = info.cluster.clone();
    let name = c.name.clone();
    let primary = c
        .primary_node_id
        .as_ref()
        .and_then(|id| info.nodes.iter().find(|n| &n.id == id))
        .map_or_else(|| "none".to_owned(), |n| n.name.clone());
    let status = c.status.as_str();
    let fail_primary = format!("fail primary:{name}");
    // Two followers, so the cluster keeps its primary and shows a partition.
    let followers: Vec<String> = cluster
        .nodes
        .iter()
        .filter(|n| c.primary_node_id.as_ref() != Some(&n.node_id))
        .take(2)
        .map(|n| n.name.clone())
        .collect();
    let partition_two = format!("partition {} for=1m", followers.join(","));
    let heal = format!("heal cluster:{name}");
    let servers = info.nodes.clone();
    let rows = cluster
        .nodes
        .into_iter()
        .map(|sim| {
            let node = servers.iter().find(|n| n.id == sim.node_id).cloned();
            view! { <NodeRow sim node send /> }
        })
        .collect_view();
    let recommendations = info.health.recommendations.clone();
    let (label, group) = (format!("Cluster {name}"), format!("Faults for {name}"));
    view! {
        <section class="sim-cluster" aria-label=label data-testid="sim-cluster">
            <header class="sim-cluster-head">
                <h2>
                    <A href=format!("/clusters/{}", c.id)>{name.clone()}</A>
                </h2>
                <span class=format!("badge status-{status}") data-testid="cluster-status">{status}</span>
                <HealthGauge score=c.health_score />
                <span class="sim-facts">
                    {format!("{} · primary ", c.environment.as_str())}
                    <strong data-testid="sim-primary">{primary}</strong>
                    " · term "
                    <strong data-testid="sim-term">{c.term.to_string()}</strong>
                </span>
            </header>
            <div class="sim-actions" role="group" aria-label=group>
                <button type="button" on:click=move |_| send.run(fail_primary.clone())>"Fail the primary"</button>
                <button type="button" on:click=move |_| send.run(partition_two.clone())>"Partition two nodes for 1 min"</button>
                <button type="button" on:click=move |_| send.run(heal.clone())>"Heal the cluster"</button>
            </div>
            <div class="table-wrap">
                <table>
                    <thead>
                        <tr>
                            <th scope="col">"Node"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col">"Health"</th>
                            <th scope="col">"Faults"</th>
                            <th scope="col" class="num">"Waiting"</th>
                            <th scope="col">"Inject"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <Recommendations list=recommendations />
        </section>
    }
}

/// The one-click faults for a node: label and command.
fn node_faults(name: &str) -> [(&'static str, String); 6] {
    [
        ("Fail", format!("fail {name}")),
        ("Partition", format!("partition {name}")),
        ("CPU", format!("degrade {name} cpu=97")),
        ("Disk", format!("degrade {name} disk=97")),
        ("Flap", format!("flap {name} period=20s")),
        ("Delay 40 s", format!("delay {name} by=40s")),
    ]
}

#[component]
fn NodeRow(sim: SimulatedNode, node: Option<Node>, send: Callback<String>) -> impl IntoView {
    let (status, health, primary) = node.as_ref().map_or(("unknown", "unknown", false), |n| {
        (n.status.as_str(), n.health_status.as_str(), n.is_primary)
    });
    let faults = if sim.faults.is_empty() {
        "none".to_owned()
    } else {
        sim.faults.join(", ")
    };
    let heal = format!("heal {}", sim.name);
    let heal_label = format!("Heal {}", sim.name);
    let (name, key, link) = (
        sim.name.clone(),
        sim.name.clone(),
        format!("/nodes/{}", sim.node_id),
    );
    let buttons = node_faults(&sim.name)
        .into_iter()
        .map(|(label, command)| {
            view! {
                <button
                    type="button"
                    class="small"
                    aria-label=format!("{label} {}", sim.name)
                    on:click=move |_| send.run(command.clone())
                >
                    {label}
                </button>
            }
        })
        .collect_view();
    view! {
        <tr data-testid="sim-node" data-node=key>
            <td>
                <A href=link>{name}</A>
                {primary.then(|| view! { <span class="badge sim-primary">"primary"</span> })}
            </td>
            <td>
                <span class=format!("badge status-{status}") data-testid="node-status">{status}</span>
            </td>
            <td>
                <span class=format!("badge health-{health}")>{health}</span>
            </td>
            <td data-testid="sim-faults">{faults}</td>
            <td class="num">{sim.waiting.to_string()}</td>
            <td class="sim-node-actions">
                {buttons}
                <button type="button" class="small" aria-label=heal_label on:click=move |_| send.run(heal.clone())>
                    "Heal"
                </button>
            </td>
        </tr>
    }
}

#[component]
fn Recommendations(list: Vec<Recommendation>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="empty">"No recommendations: every check passes."</p> }.into_any();
    }
    view! {
        <ul class="recommendations" aria-label="Recommendations">
            {list
                .into_iter()
                .map(|r| {
                    view! {
                        <li class=format!("recommendation severity-{}", r.severity.as_str())>
                            <span class=format!("badge severity-{}", r.severity.as_str())>{r.severity.as_str()}</span>
                            " "
                            <span class="message">{r.message}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
