//! The cluster's nodes, each linked to its page, with the latest usage the
//! stream delivered; admins add a node by hand here (its agent token is
//! shown once).

use leptos::prelude::*;
use muster_domain::live::NodeSample;
use muster_domain::users::Role;
use muster_domain::{FieldErrors, NewNode, Node};

use super::ClusterState;
use crate::api::clusters::{AddClusterNode, AddedNode};
use crate::app::components::form::{FormCheck, FormFooter, TextField, number, whole};

/// A usage figure, or a dash when there is none.
pub fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1} %"))
}

pub fn role(n: &Node) -> String {
    match (n.is_primary, n.is_coordinator) {
        (true, true) => "primary · coordinator".into(),
        (true, false) => "primary".into(),
        (false, true) => "coordinator".into(),
        (false, false) if n.cordoned => "replica · cordoned".into(),
        (false, false) => "replica".into(),
    }
}

#[component]
pub fn NodesPanel(state: ClusterState) -> impl IntoView {
    let adding = RwSignal::new(false);
    view! {
        <section id="nodes" class="panel" aria-labelledby="nodes-heading">
            <div class="panel-head">
                <h2 id="nodes-heading">"Nodes"</h2>
                {state.allows(Role::Admin).then(|| view! {
                    <button
                        type="button"
                        aria-expanded=move || adding.get().to_string()
                        on:click=move |_| adding.update(|a| *a = !*a)
                    >
                        "Add node"
                    </button>
                })}
            </div>
            <Show when=move || adding.get()>
                <AddNodeForm state close=Callback::new(move |()| adding.set(false)) />
            </Show>
            <NodeTable state />
        </section>
    }
}

#[component]
fn NodeTable(state: ClusterState) -> impl IntoView {
    view! {
        <Show
            when=move || !state.nodes.read().is_empty()
            fallback=|| view! { <p class="empty">"No nodes yet."</p> }
        >
            <div class="table-wrap">
                <table aria-label="Nodes">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col">"Health"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col" class="num">"Priority"</th>
                            <th scope="col" class="num">"CPU"</th>
                            <th scope="col" class="num">"Memory"</th>
                            <th scope="col" class="num">"Disk"</th>
                            <th scope="col">"Last heartbeat (UTC)"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || state.nodes.get()
                            key=|n| n.id.clone()
                            children=move |n: Node| view! { <NodeRow state node=n /> }
                        />
                    </tbody>
                </table>
            </div>
        </Show>
    }
}

#[component]
fn NodeRow(state: ClusterState, node: Node) -> impl IntoView {
    let id = node.id.clone();
    let row = {
        let id = id.clone();
        Memo::new(move |_| state.nodes.read().iter().find(|x| x.id == id).cloned())
    };
    let sample = {
        let id = id.clone();
        Memo::new(move |_| state.samples.read().get(&id).cloned())
    };
    let field = move |f: fn(&Node) -> String| move || row.get().map(|n| f(&n)).unwrap_or_default();
    let usage = move |pick: fn(&NodeSample) -> f64, stored: fn(&Node) -> Option<f64>| {
        move || {
            percent(
                sample
                    .get()
                    .map(|s| pick(&s))
                    .or_else(|| row.get().and_then(|n| stored(&n))),
            )
        }
    };
    let last_seen = move || {
        sample
            .get()
            .map(|s| s.recorded_at)
            .or_else(|| row.get().and_then(|n| n.last_heartbeat_at))
            .map_or_else(|| "never".to_owned(), |t| t.format("%H:%M:%S").to_string())
    };
    let status = field(|n| n.status.as_str().to_owned());
    let health = field(|n| n.health_status.as_str().to_owned());
    view! {
        <tr data-node=id.to_string()>
            <td>
                <a class="name" href=format!("/nodes/{id}")>{field(|n| n.name.clone())}</a>
                <span class="id">{id.to_string()}</span>
            </td>
            <td>
                <span class=move || format!("badge status-{}", status()) data-testid="node-status">
                    {status}
                </span>
            </td>
            <td>
                <span class=move || format!("badge health-{}", health()) data-testid="node-health">
                    {health}
                </span>
            </td>
            <td>{field(role)}</td>
            <td class="num">{field(|n| n.priority.to_string())}</td>
            <td class="num">{usage(|s| s.metrics.cpu_usage_percent, |n| n.usage.map(|u| u.cpu_percent))}</td>
            <td class="num">{usage(|s| s.metrics.memory_usage_percent, |n| n.usage.map(|u| u.memory_percent))}</td>
            <td class="num">{usage(|s| s.metrics.disk_usage_percent, |n| n.usage.map(|u| u.disk_percent))}</td>
            <td>{last_seen}</td>
        </tr>
    }
}

/// The add-node form as typed.
#[derive(Debug, Clone, PartialEq)]
struct NodeDraft {
    name: String,
    hostname: String,
    availability_zone: String,
    priority: String,
    roles: String,
    capacity_cpu: String,
    capacity_memory_gb: String,
    capacity_storage_gb: String,
}

impl Default for NodeDraft {
    fn default() -> Self {
        Self {
            name: String::new(),
            hostname: String::new(),
            availability_zone: String::new(),
            priority: NewNode::default_priority().to_string(),
            roles: String::new(),
            capacity_cpu: "4".into(),
            capacity_memory_gb: "16".into(),
            capacity_storage_gb: "100".into(),
        }
    }
}

impl NodeDraft {
    /// The node the form would add in `region`, or every field that is wrong.
    fn request(&self, region: &str) -> Result<NewNode, FieldErrors> {
        let mut errors = FieldErrors::new();
        let node = NewNode {
            name: self.name.trim().to_owned(),
            hostname: self.hostname.trim().to_owned(),
            region: region.to_owned(),
            availability_zone: self.availability_zone.trim().to_owned(),
            priority: whole(&mut errors, "priority", &self.priority),
            roles: self
                .roles
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            capacity_cpu: number(&mut errors, "capacity_cpu", &self.capacity_cpu),
            capacity_memory_gb: number(&mut errors, "capacity_memory_gb", &self.capacity_memory_gb),
            capacity_storage_gb: number(
                &mut errors,
                "capacity_storage_gb",
                &self.capacity_storage_gb,
            ),
            capacity_network_mbps: 0.0,
        };
        if let Err(rules) = node.validate() {
            errors.merge(rules);
        }
        errors.into_result().map(|()| node)
    }
}

#[component]
fn AddNodeForm(state: ClusterState, close: Callback<()>) -> impl IntoView {
    let add = ServerAction::<AddClusterNode>::new();
    let draft = RwSignal::new(NodeDraft::default());
    let check = FormCheck::new();
    let region = move || state.cluster.with(|c| c.region.clone());
    let checked = Memo::new(move |_| draft.with(|d| d.request(&region())));
    let server_error = Signal::derive(move || add.value().get().and_then(Result::err));
    let errors = check.errors(checked, server_error);
    let touch = check.touch();
    let added = Signal::derive(move || add.value().get().and_then(Result::ok));
    Effect::new(move |_| {
        if let Some(AddedNode { node, .. }) = added.get() {
            state.nodes.update(|list| {
                if !list.iter().any(|n| n.id == node.id) {
                    list.push(node);
                }
            });
            draft.set(NodeDraft::default());
            check.reset();
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        check.submit();
        if let Ok(node) = checked.get_untracked() {
            add.dispatch(AddClusterNode {
                id: state.id(),
                node,
            });
        }
    };
    let text = |name, label, get: fn(&NodeDraft) -> &String, set: fn(&mut NodeDraft, String)| {
        view! { <TextField form="add-node" name label draft get set errors touch /> }
    };
    view! {
        <form class="inline-form" on:submit=submit novalidate=true aria-label="Add a node">
            <div class="form-grid">
                {text("name", "Name", |d| &d.name, |d, v| d.name = v)}
                {text("hostname", "Hostname (optional)", |d| &d.hostname, |d, v| d.hostname = v)}
                {text("availability_zone", "Zone (optional)", |d| &d.availability_zone, |d, v| d.availability_zone = v)}
                {text("priority", "Priority (0–1000)", |d| &d.priority, |d, v| d.priority = v)}
                {text("roles", "Roles (comma-separated)", |d| &d.roles, |d, v| d.roles = v)}
                {text("capacity_cpu", "CPU cores", |d| &d.capacity_cpu, |d, v| d.capacity_cpu = v)}
                {text("capacity_memory_gb", "Memory (GB)", |d| &d.capacity_memory_gb, |d, v| d.capacity_memory_gb = v)}
                {text("capacity_storage_gb", "Storage (GB)", |d| &d.capacity_storage_gb, |d, v| d.capacity_storage_gb = v)}
            </div>
            {move || added.get().map(|a| view! { <NodeTokenNotice added=a /> })}
            <FormFooter
                server_error
                pending=add.pending().into()
                blocked=Signal::derive(move || check.submitted() && checked.with(Result::is_err))
                close
                close_label="Close"
                submit_label="Add node"
                busy_label="Adding…"
            />
        </form>
    }
}

/// The new node's agent token, shown this once, with the command that
/// starts its agent.
#[component]
fn NodeTokenNotice(added: AddedNode) -> impl IntoView {
    let command = format!(
        "muster-agent run --server {} --node-token {}",
        crate::app::server_url(),
        added.node_token
    );
    view! {
        <div class="secret" role="status">
            <p>
                {format!(
                    "Added {}. Its node token is shown this once; start the node's agent with it:",
                    added.node.name,
                )}
            </p>
            <code class="token" data-testid="node-token">{added.node_token}</code>
            <pre class="command">{command}</pre>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_add_node_form_reads_numbers_and_roles_and_applies_the_rules() {
        let mut d = NodeDraft::default();
        let errors = d.request("eu-west-1").expect_err("no name");
        assert!(errors.get("name").is_some());
        d.name = "db-1".into();
        d.roles = " coordinator , ,storage ".into();
        let node = d.request("eu-west-1").expect("valid");
        assert_eq!(node.roles, vec!["coordinator", "storage"]);
        assert_eq!(node.region, "eu-west-1");
        assert_eq!(node.priority, NewNode::default_priority());

        d.capacity_cpu = "lots".into();
        d.priority = "5000".into();
        let errors = d.request("eu-west-1").expect_err("bad fields");
        assert_eq!(
            errors.get("capacity_cpu"),
            Some("capacity_cpu must be a number")
        );
        assert!(errors.get("priority").is_some(), "priority is out of range");
    }
}
