//! The create-cluster dialog: pick an environment template, adjust its
//! limits and main settings, and see what is wrong while typing (the domain
//! crate's own rules, run in the browser; the server checks again).

use leptos::html;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use muster_domain::{ConfigTemplate, FieldErrors, NewCluster, SettingsPatch};

use crate::api::AppError;
use crate::api::admin::list_templates;
use crate::api::clusters::{CreateCluster, CreateClusterRequest};
use crate::app::components::form::{CheckField, FormCheck, TextField, whole};

/// What the form holds, as typed.
#[derive(Debug, Clone, Default, PartialEq)]
struct Draft {
    template: Option<ConfigTemplate>,
    name: String,
    region: String,
    description: String,
    max_nodes: String,
    max_tenants: String,
    max_storage_gb: String,
    health_check_interval_s: String,
    retention_days: String,
    auto_failover: bool,
}

impl Draft {
    /// Starts from `template`: its limits and settings fill the fields.
    fn pick(&mut self, template: ConfigTemplate) {
        self.max_nodes = template.limits.max_nodes.to_string();
        self.max_tenants = template.limits.max_tenants.to_string();
        self.max_storage_gb = template.limits.max_storage_gb.to_string();
        self.health_check_interval_s = template.settings.health_check_interval_s.to_string();
        self.retention_days = template.settings.retention_days.to_string();
        self.auto_failover = template.settings.auto_failover;
        self.template = Some(template);
    }

    /// The request the form would send, or every field that is wrong.
    fn request(&self) -> Result<CreateClusterRequest, FieldErrors> {
        let mut errors = FieldErrors::new();
        let Some(template) = &self.template else {
            return Err(FieldErrors::single("template", "template: pick one"));
        };
        let max_nodes = whole(&mut errors, "max_nodes", &self.max_nodes);
        let max_tenants = whole(&mut errors, "max_tenants", &self.max_tenants);
        let max_storage_gb = whole(&mut errors, "max_storage_gb", &self.max_storage_gb);
        let interval = whole(
            &mut errors,
            "health_check_interval_s",
            &self.health_check_interval_s,
        );
        let retention = whole(&mut errors, "retention_days", &self.retention_days);
        let config = SettingsPatch {
            health_check_interval_s: Some(interval),
            retention_days: Some(retention),
            auto_failover: Some(self.auto_failover),
            ..SettingsPatch::default()
        };
        let mut limits = template.limits;
        limits.max_nodes = max_nodes;
        limits.max_tenants = max_tenants;
        limits.max_storage_gb = max_storage_gb;
        let candidate = NewCluster {
            name: self.name.clone(),
            description: self.description.clone(),
            region: self.region.clone(),
            environment: template.environment,
            limits,
            settings: config.apply(template.settings),
            template_name: Some(template.name.clone()),
        };
        if let Err(rules) = candidate.validate() {
            errors.merge(rules);
        }
        errors.into_result()?;
        Ok(CreateClusterRequest {
            name: self.name.trim().to_owned(),
            description: self.description.clone(),
            region: self.region.trim().to_owned(),
            template: Some(template.name.clone()),
            environment: None,
            max_nodes: Some(max_nodes),
            max_tenants: Some(max_tenants),
            max_storage_gb: Some(max_storage_gb),
            config: Some(config),
        })
    }
}

/// A modal dialog; `close` is called when it is dismissed. A created cluster
/// opens its page.
#[component]
pub fn NewClusterDialog(close: Callback<()>) -> impl IntoView {
    let create = ServerAction::<CreateCluster>::new();
    let draft = RwSignal::new(Draft::default());
    let check = FormCheck::new();
    let checked = Memo::new(move |_| draft.with(Draft::request));
    let server_error = Signal::derive(move || create.value().get().and_then(Result::err));
    let errors = check.errors(checked, server_error);
    let touch = check.touch();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(cluster)) = create.value().get() {
            close.run(());
            navigate(
                &format!("/clusters/{}", cluster.id),
                leptos_router::NavigateOptions::default(),
            );
        }
    });
    let first = NodeRef::<html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = first.get() {
            let _ = input.focus();
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        check.submit();
        if let Ok(request) = checked.get_untracked() {
            create.dispatch(CreateCluster { request });
        }
    };
    view! {
        <div class="dialog-backdrop" on:click=move |_| close.run(())></div>
        <div
            class="dialog"
            role="dialog"
            aria-modal="true"
            aria-labelledby="new-cluster-title"
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    close.run(());
                }
            }
        >
            <h2 id="new-cluster-title">"New cluster"</h2>
            <form on:submit=submit novalidate=true>
                <TemplateFieldset draft errors touch />
                <DraftFields draft errors touch first />
                {move || {
                    server_error
                        .get()
                        .filter(|e| e.fields.is_empty())
                        .map(|e: AppError| view! { <p class="error-panel" role="alert">{e.message}</p> })
                }}
                <div class="dialog-actions">
                    <button type="button" on:click=move |_| close.run(())>
                        "Cancel"
                    </button>
                    <button
                        type="submit"
                        class="primary"
                        disabled=move || create.pending().get() || (check.submitted() && checked.with(Result::is_err))
                    >
                        {move || if create.pending().get() { "Creating…" } else { "Create cluster" }}
                    </button>
                </div>
            </form>
        </div>
    }
}

/// The template picker, with its own error line.
#[component]
fn TemplateFieldset(
    draft: RwSignal<Draft>,
    errors: Callback<&'static str, Option<String>>,
    touch: Callback<&'static str>,
) -> impl IntoView {
    let templates = Resource::new(|| (), |()| list_templates());
    view! {
        <fieldset class="templates">
            <legend>"Environment template"</legend>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading templates…"</p> }>
                {move || {
                    templates
                        .get()
                        .map(|result| match result {
                            Ok(list) => {
                                view! { <TemplatePicker list draft touch /> }.into_any()
                            }
                            Err(e) => {
                                view! {
                                    <p class="error-panel" role="alert">
                                        "The templates could not be loaded: " {e.message}
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
            <span class="field-error" aria-live="polite">
                {move || errors.run("template")}
            </span>
        </fieldset>
    }
}

/// The form's fields under the template picker.
#[component]
fn DraftFields(
    draft: RwSignal<Draft>,
    errors: Callback<&'static str, Option<String>>,
    touch: Callback<&'static str>,
    first: NodeRef<html::Input>,
) -> impl IntoView {
    let text = move |name, label, get: fn(&Draft) -> &String, set: fn(&mut Draft, String)| {
        view! { <TextField form="new-cluster" name label draft get set errors touch /> }
    };
    view! {
        <div class="form-grid">
            <TextField form="new-cluster" name="name" label="Name" draft get=|d| &d.name set=|d, v| d.name = v errors touch node_ref=first />
            {text("region", "Region", |d| &d.region, |d, v| d.region = v)}
            {text("description", "Description (optional)", |d| &d.description, |d, v| d.description = v)}
            {text("max_nodes", "Max nodes", |d| &d.max_nodes, |d, v| d.max_nodes = v)}
            {text("max_tenants", "Max tenants", |d| &d.max_tenants, |d, v| d.max_tenants = v)}
            {text("max_storage_gb", "Max storage (GB)", |d| &d.max_storage_gb, |d, v| d.max_storage_gb = v)}
            {text("health_check_interval_s", "Heartbeat interval (s)", |d| &d.health_check_interval_s, |d, v| d.health_check_interval_s = v)}
            {text("retention_days", "Metric retention (days)", |d| &d.retention_days, |d, v| d.retention_days = v)}
            <CheckField name="auto_failover" label="Automatic failover" draft get=|d| d.auto_failover set=|d, v| d.auto_failover = v />
        </div>
    }
}

#[component]
fn TemplatePicker(
    list: Vec<ConfigTemplate>,
    draft: RwSignal<Draft>,
    touch: Callback<&'static str>,
) -> impl IntoView {
    list.into_iter()
        .map(|t| {
            let name = t.name.clone();
            let chosen = {
                let name = name.clone();
                move || draft.with(|d| d.template.as_ref().is_some_and(|x| x.name == name))
            };
            let summary = format!(
                "{} · up to {} nodes, {} tenants, {} GB · heartbeat every {} s{}",
                t.environment.as_str(),
                t.limits.max_nodes,
                t.limits.max_tenants,
                t.limits.max_storage_gb,
                t.settings.health_check_interval_s,
                if t.settings.auto_failover {
                    " · automatic failover"
                } else {
                    ""
                },
            );
            let description = t.description.clone();
            let highlighted = chosen.clone();
            view! {
                <label class="template-choice" class:chosen=highlighted>
                    <input
                        type="radio"
                        name="template"
                        value=name.clone()
                        prop:checked=chosen
                        on:change=move |_| {
                            touch.run("template");
                            let t = t.clone();
                            draft.update(|d| d.pick(t));
                        }
                    />
                    <span class="template-name">{name}</span>
                    <span class="desc">{description}</span>
                    <span class="template-summary">{summary}</span>
                </label>
            }
        })
        .collect_view()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> ConfigTemplate {
        muster_domain::builtin_templates()
            .into_iter()
            .find(|t| t.name == "production")
            .expect("built-in production template")
    }

    #[test]
    fn a_template_fills_the_form_and_the_domain_rules_judge_it() {
        let mut d = Draft::default();
        assert!(
            d.request()
                .expect_err("no template")
                .get("template")
                .is_some()
        );
        d.pick(production());
        let errors = d.request().expect_err("no name");
        assert!(errors.get("name").is_some(), "name is required");
        assert!(errors.get("region").is_some(), "region is required");
        assert!(
            errors.get("max_nodes").is_none(),
            "filled from the template"
        );

        d.name = "payments".into();
        d.region = "eu-west-1".into();
        let r = d.request().expect("valid");
        assert_eq!(r.template.as_deref(), Some("production"));
        assert_eq!(r.max_nodes, Some(production().limits.max_nodes));

        d.max_nodes = "ten".into();
        d.health_check_interval_s = "1".into();
        let errors = d.request().expect_err("bad numbers");
        assert_eq!(
            errors.get("max_nodes"),
            Some("max_nodes must be a whole number")
        );
        assert!(
            errors.get("health_check_interval_s").is_some(),
            "below the domain's minimum interval"
        );
    }
}
