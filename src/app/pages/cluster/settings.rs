//! The cluster's configuration: limits and settings as they are, and for
//! admins an editor that checks each field by the domain's rules while
//! typing and sends only what changed; decommissioning asks twice.

use leptos::prelude::*;
use muster_domain::users::Role;
use muster_domain::{Cluster, ClusterLimits, ClusterSettings, ClusterUpdate, FieldErrors};

use super::ClusterState;
use crate::api::clusters::{DecommissionCluster, UpdateCluster};
use crate::app::components::feedback::Outcome;
use crate::app::components::form::{CheckField, FormCheck, FormFooter, TextField, whole};

/// The editor as typed.
#[allow(clippy::struct_excessive_bools)] // one per checkbox of the form
#[derive(Debug, Clone, PartialEq)]
struct SettingsDraft {
    name: String,
    description: String,
    region: String,
    max_nodes: String,
    max_tenants: String,
    max_storage_gb: String,
    health_check_interval_s: String,
    retention_days: String,
    auto_scaling: bool,
    high_availability: bool,
    auto_failover: bool,
    encryption_enabled: bool,
    monitoring_enabled: bool,
}

impl SettingsDraft {
    fn of(c: &Cluster) -> Self {
        Self {
            name: c.name.clone(),
            description: c.description.clone(),
            region: c.region.clone(),
            max_nodes: c.max_nodes.to_string(),
            max_tenants: c.max_tenants.to_string(),
            max_storage_gb: c.max_storage_gb.to_string(),
            health_check_interval_s: c.config.health_check_interval_s.to_string(),
            retention_days: c.config.retention_days.to_string(),
            auto_scaling: c.config.auto_scaling,
            high_availability: c.config.high_availability,
            auto_failover: c.config.auto_failover,
            encryption_enabled: c.config.encryption_enabled,
            monitoring_enabled: c.config.monitoring_enabled,
        }
    }

    /// The update holding what differs from `current`, or every wrong field.
    fn update(&self, current: &Cluster) -> Result<ClusterUpdate, FieldErrors> {
        let mut errors = FieldErrors::new();
        let limits = ClusterLimits {
            max_nodes: whole(&mut errors, "max_nodes", &self.max_nodes),
            max_tenants: whole(&mut errors, "max_tenants", &self.max_tenants),
            max_storage_gb: whole(&mut errors, "max_storage_gb", &self.max_storage_gb),
        };
        let config = ClusterSettings {
            retention_days: whole(&mut errors, "retention_days", &self.retention_days),
            health_check_interval_s: whole(
                &mut errors,
                "health_check_interval_s",
                &self.health_check_interval_s,
            ),
            auto_scaling: self.auto_scaling,
            high_availability: self.high_availability,
            auto_failover: self.auto_failover,
            encryption_enabled: self.encryption_enabled,
            monitoring_enabled: self.monitoring_enabled,
        };
        let changed = |new: &str, old: &str| (new != old).then(|| new.to_owned());
        let update = ClusterUpdate {
            name: changed(self.name.trim(), &current.name),
            description: changed(&self.description, &current.description),
            region: changed(self.region.trim(), &current.region),
            limits: (limits != current.limits()).then_some(limits),
            config: (config != current.config).then_some(config),
        };
        if let Err(rules) = update.validate() {
            errors.merge(rules);
        }
        errors.into_result().map(|()| update)
    }
}

#[component]
pub fn SettingsPanel(state: ClusterState) -> impl IntoView {
    let editing = RwSignal::new(false);
    view! {
        <section id="configuration" class="panel" aria-labelledby="configuration-heading">
            <div class="panel-head">
                <h2 id="configuration-heading">"Configuration"</h2>
                {state.allows(Role::Admin).then(|| view! {
                    <Show when=move || !editing.get()>
                        <button type="button" on:click=move |_| editing.set(true)>
                            "Edit"
                        </button>
                    </Show>
                })}
            </div>
            <Show
                when=move || editing.get()
                fallback=move || view! { <SettingsView state /> }
            >
                <SettingsEditor state close=Callback::new(move |()| editing.set(false)) />
            </Show>
            {state.allows(Role::Admin).then(|| view! { <Decommission state /> })}
        </section>
    }
}

fn yes_no(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

#[component]
fn SettingsView(state: ClusterState) -> impl IntoView {
    let c = move || state.cluster.get();
    view! {
        <dl class="facts" data-testid="configuration">
            <dt>"Template"</dt>
            <dd>{move || c().template_name.unwrap_or_else(|| "none".into())}</dd>
            <dt>"Max nodes"</dt>
            <dd>{move || c().max_nodes}</dd>
            <dt>"Max tenants"</dt>
            <dd>{move || c().max_tenants}</dd>
            <dt>"Max storage"</dt>
            <dd>{move || format!("{} GB", c().max_storage_gb)}</dd>
            <dt>"Heartbeat interval"</dt>
            <dd data-testid="config-interval">{move || format!("{} s", c().config.health_check_interval_s)}</dd>
            <dt>"Metric retention"</dt>
            <dd>{move || format!("{} days", c().config.retention_days)}</dd>
            <dt>"Automatic failover"</dt>
            <dd>{move || yes_no(c().config.auto_failover)}</dd>
            <dt>"High availability"</dt>
            <dd>{move || yes_no(c().config.high_availability)}</dd>
            <dt>"Auto scaling"</dt>
            <dd>{move || yes_no(c().config.auto_scaling)}</dd>
            <dt>"Encryption"</dt>
            <dd>{move || yes_no(c().config.encryption_enabled)}</dd>
            <dt>"Monitoring"</dt>
            <dd>{move || yes_no(c().config.monitoring_enabled)}</dd>
        </dl>
    }
}

#[component]
fn SettingsEditor(state: ClusterState, close: Callback<()>) -> impl IntoView {
    let save = ServerAction::<UpdateCluster>::new();
    let draft = RwSignal::new(state.cluster.with_untracked(SettingsDraft::of));
    let check = FormCheck::new();
    let checked = Memo::new(move |_| draft.with(|d| state.cluster.with(|c| d.update(c))));
    let server_error = Signal::derive(move || save.value().get().and_then(Result::err));
    let errors = check.errors(checked, server_error);
    let touch = check.touch();
    Effect::new(move |_| {
        if let Some(Ok(cluster)) = save.value().get() {
            state.cluster.set(cluster);
            close.run(());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        check.submit();
        if let Ok(update) = checked.get_untracked() {
            save.dispatch(UpdateCluster {
                id: state.id(),
                update,
            });
        }
    };
    let text =
        |name, label, get: fn(&SettingsDraft) -> &String, set: fn(&mut SettingsDraft, String)| {
            view! { <TextField form="settings" name label draft get set errors touch /> }
        };
    let flag = |name, label, get: fn(&SettingsDraft) -> bool, set: fn(&mut SettingsDraft, bool)| {
        view! { <CheckField name label draft get set /> }
    };
    view! {
        <form class="inline-form" on:submit=submit novalidate=true aria-label="Edit the configuration">
            <div class="form-grid">
                {text("name", "Name", |d| &d.name, |d, v| d.name = v)}
                {text("region", "Region", |d| &d.region, |d, v| d.region = v)}
                {text("description", "Description", |d| &d.description, |d, v| d.description = v)}
                {text("max_nodes", "Max nodes", |d| &d.max_nodes, |d, v| d.max_nodes = v)}
                {text("max_tenants", "Max tenants", |d| &d.max_tenants, |d, v| d.max_tenants = v)}
                {text("max_storage_gb", "Max storage (GB)", |d| &d.max_storage_gb, |d, v| d.max_storage_gb = v)}
                {text("health_check_interval_s", "Heartbeat interval (s)", |d| &d.health_check_interval_s, |d, v| d.health_check_interval_s = v)}
                {text("retention_days", "Metric retention (days)", |d| &d.retention_days, |d, v| d.retention_days = v)}
                {flag("auto_failover", "Automatic failover", |d| d.auto_failover, |d, v| d.auto_failover = v)}
                {flag("high_availability", "High availability", |d| d.high_availability, |d, v| d.high_availability = v)}
                {flag("auto_scaling", "Auto scaling", |d| d.auto_scaling, |d, v| d.auto_scaling = v)}
                {flag("encryption_enabled", "Encryption", |d| d.encryption_enabled, |d, v| d.encryption_enabled = v)}
                {flag("monitoring_enabled", "Monitoring", |d| d.monitoring_enabled, |d, v| d.monitoring_enabled = v)}
            </div>
            <p class="field-error" aria-live="polite">{move || errors.run("update")}</p>
            <FormFooter
                server_error
                pending=save.pending().into()
                blocked=Signal::derive(move || check.submitted() && checked.with(Result::is_err))
                close
                close_label="Cancel"
                submit_label="Save"
                busy_label="Saving…"
            />
        </form>
    }
}

/// Decommissioning, asked twice; when nodes or tenants remain the server
/// refuses and says why, and a third, forced step is offered.
#[component]
fn Decommission(state: ClusterState) -> impl IntoView {
    let run = ServerAction::<DecommissionCluster>::new();
    let step = RwSignal::new(0u8);
    let error = Signal::derive(move || run.value().get().and_then(Result::err));
    let done = Signal::derive(move || {
        run.value()
            .get()
            .and_then(Result::ok)
            .map(|c| format!("{} is decommissioned.", c.name))
    });
    Effect::new(move |_| {
        if let Some(Ok(cluster)) = run.value().get() {
            state.cluster.set(cluster);
            step.set(0);
        }
    });
    let retired = move || {
        state
            .cluster
            .with(|c| c.status == muster_domain::ClusterStatus::Decommissioned)
    };
    let go = move |force: bool| {
        run.dispatch(DecommissionCluster {
            id: state.id(),
            force,
        });
        step.set(if force { 0 } else { 2 });
    };
    view! {
        <div class="danger-zone">
            <Outcome error done />
            {move || {
                if retired() {
                    return None;
                }
                Some(match step.get() {
                    0 => view! {
                        <button type="button" class="danger" on:click=move |_| step.set(1)>
                            "Decommission cluster…"
                        </button>
                    }
                        .into_any(),
                    1 => view! {
                        <p role="group" aria-label="Confirm decommissioning">
                            "Decommissioning retires the cluster for good. "
                            <button type="button" class="danger" on:click=move |_| go(false)>
                                "Decommission"
                            </button>
                            " "
                            <button type="button" on:click=move |_| step.set(0)>"Cancel"</button>
                        </p>
                    }
                        .into_any(),
                    _ => view! {
                        <Show when=move || error.get().is_some()>
                            <p role="group" aria-label="Force decommissioning">
                                "Decommission anyway, with what it still holds? "
                                <button type="button" class="danger" on:click=move |_| go(true)>
                                    "Force decommission"
                                </button>
                                " "
                                <button type="button" on:click=move |_| step.set(0)>"Cancel"</button>
                            </p>
                        </Show>
                    }
                        .into_any(),
                })
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let template = muster_domain::builtin_templates()
            .into_iter()
            .find(|t| t.name == "staging")
            .expect("staging");
        Cluster {
            id: "cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8"
                .parse()
                .expect("an id"),
            name: "payments".into(),
            description: String::new(),
            region: "eu-west-1".into(),
            environment: template.environment,
            status: muster_domain::ClusterStatus::Active,
            health_score: 1.0,
            max_nodes: template.limits.max_nodes,
            max_tenants: template.limits.max_tenants,
            max_storage_gb: template.limits.max_storage_gb,
            config: template.settings,
            template_name: Some(template.name),
            primary_node_id: None,
            coordinator_node_id: None,
            term: 0,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn the_editor_sends_only_what_changed_and_names_wrong_fields() {
        let c = cluster();
        let mut d = SettingsDraft::of(&c);
        let nothing = d.update(&c).expect_err("nothing changed");
        assert!(nothing.get("update").is_some());

        d.max_nodes = "8".into();
        d.auto_failover = !c.config.auto_failover;
        let u = d.update(&c).expect("valid");
        assert_eq!(u.name, None);
        assert_eq!(u.limits.map(|l| l.max_nodes), Some(8));
        assert_eq!(
            u.config.map(|s| s.auto_failover),
            Some(!c.config.auto_failover)
        );

        d.health_check_interval_s = "2".into();
        d.max_tenants = "many".into();
        d.name = " ".into();
        let errors = d.update(&c).expect_err("wrong fields");
        assert!(errors.get("health_check_interval_s").is_some());
        assert_eq!(
            errors.get("max_tenants"),
            Some("max_tenants must be a whole number")
        );
        assert!(errors.get("name").is_some());
    }
}
