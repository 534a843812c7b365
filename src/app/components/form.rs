//! Forms that judge what is typed by the domain crate's rules while the user
//! types: a field's error shows once it was left (or after a submit), and
//! the server's answer names the fields it refused.

use leptos::prelude::*;
use muster_domain::FieldErrors;

use crate::api::AppError;

/// Which fields were touched and whether a submit was tried.
#[derive(Clone, Copy)]
pub struct FormCheck {
    touched: RwSignal<Vec<&'static str>>,
    submitted: RwSignal<bool>,
}

impl FormCheck {
    #[must_use]
    pub fn new() -> Self {
        Self {
            touched: RwSignal::new(Vec::new()),
            submitted: RwSignal::new(false),
        }
    }

    /// Marks `field` as left by the user: its error shows from now on.
    #[must_use]
    pub fn touch(self) -> Callback<&'static str> {
        Callback::new(move |field: &'static str| {
            self.touched.update(|t| {
                if !t.contains(&field) {
                    t.push(field);
                }
            });
        })
    }

    /// A submit was tried: every error shows.
    pub fn submit(self) {
        self.submitted.set(true);
    }

    #[must_use]
    pub fn submitted(self) -> bool {
        self.submitted.get()
    }

    /// Starts again (after a successful submit).
    pub fn reset(self) {
        self.touched.set(Vec::new());
        self.submitted.set(false);
    }

    /// The error to show under each field: the local rules' once the field
    /// was touched, else the server's last word on it.
    #[must_use]
    pub fn errors<T>(
        self,
        checked: Memo<Result<T, FieldErrors>>,
        server: Signal<Option<AppError>>,
    ) -> Callback<&'static str, Option<String>>
    where
        T: Send + Sync + PartialEq + 'static,
    {
        Callback::new(move |field: &'static str| {
            let shown = self.submitted.get() || self.touched.read().contains(&field);
            let local = checked
                .with(|c| {
                    c.as_ref()
                        .err()
                        .and_then(|e| e.get(field).map(str::to_owned))
                })
                .filter(|_| shown);
            local.or_else(|| server.get().and_then(|e| e.fields.get(field).cloned()))
        })
    }
}

impl Default for FormCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// A labelled text input bound to one string of a draft, with its error
/// line; its id is `{form}-{name}` and the error's `{form}-{name}-error`.
#[component]
pub fn TextField<D>(
    form: &'static str,
    name: &'static str,
    label: &'static str,
    draft: RwSignal<D>,
    get: fn(&D) -> &String,
    set: fn(&mut D, String),
    errors: Callback<&'static str, Option<String>>,
    touch: Callback<&'static str>,
    #[prop(optional)] node_ref: Option<NodeRef<leptos::html::Input>>,
    #[prop(default = "text")] kind: &'static str,
) -> impl IntoView
where
    D: Send + Sync + 'static,
{
    let input_id = format!("{form}-{name}");
    let error_id = format!("{input_id}-error");
    let node_ref = node_ref.unwrap_or_default();
    view! {
        <div class="field">
            <label for=input_id.clone()>{label}</label>
            <input
                node_ref=node_ref
                id=input_id
                name=name
                type=kind
                autocomplete="off"
                aria-invalid=move || errors.run(name).is_some().to_string()
                aria-describedby=error_id.clone()
                prop:value=move || draft.with(|d| get(d).clone())
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    draft.update(|d| set(d, v));
                }
                on:blur=move |_| touch.run(name)
            />
            <span class="field-error" id=error_id aria-live="polite">
                {move || errors.run(name)}
            </span>
        </div>
    }
}

/// A labelled checkbox bound to one flag of a draft.
#[component]
pub fn CheckField<D>(
    name: &'static str,
    label: &'static str,
    draft: RwSignal<D>,
    get: fn(&D) -> bool,
    set: fn(&mut D, bool),
) -> impl IntoView
where
    D: Send + Sync + 'static,
{
    view! {
        <label class="check">
            <input
                type="checkbox"
                name=name
                prop:checked=move || draft.with(get)
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    draft.update(|d| set(d, on));
                }
            />
            " "
            {label}
        </label>
    }
}

/// The end of a form: the server's refusal when it names no field, then
/// the buttons to leave and to submit.
#[component]
pub fn FormFooter(
    server_error: Signal<Option<AppError>>,
    pending: Signal<bool>,
    /// A submit was tried and fields are still wrong.
    blocked: Signal<bool>,
    close: Callback<()>,
    close_label: &'static str,
    submit_label: &'static str,
    busy_label: &'static str,
) -> impl IntoView {
    view! {
        {move || {
            server_error
                .get()
                .filter(|e| e.fields.is_empty())
                .map(|e| view! { <p class="error-panel" role="alert">{e.message}</p> })
        }}
        <div class="form-actions">
            <button type="button" on:click=move |_| close.run(())>{close_label}</button>
            <button type="submit" class="primary" disabled=move || pending.get() || blocked.get()>
                {move || if pending.get() { busy_label } else { submit_label }}
            </button>
        </div>
    }
}

/// Reads a whole number typed into `field`, noting an error when it is not.
pub fn whole<N: std::str::FromStr + Default>(
    errors: &mut FieldErrors,
    field: &'static str,
    text: &str,
) -> N {
    text.trim().parse::<N>().unwrap_or_else(|_| {
        errors.add(field, format!("{field} must be a whole number"));
        N::default()
    })
}

/// Reads a number typed into `field`, noting an error when it is not one.
pub fn number(errors: &mut FieldErrors, field: &'static str, text: &str) -> f64 {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => v,
        _ => {
            errors.add(field, format!("{field} must be a number"));
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_or_named_as_wrong() {
        let mut errors = FieldErrors::new();
        assert_eq!(whole::<u32>(&mut errors, "max_nodes", " 12 "), 12);
        assert_eq!(whole::<u32>(&mut errors, "max_tenants", "-1"), 0);
        assert!((number(&mut errors, "capacity_cpu", "2.5") - 2.5).abs() < f64::EPSILON);
        assert!(number(&mut errors, "capacity_memory_gb", "NaN").abs() < f64::EPSILON);
        assert_eq!(
            errors.get("max_tenants"),
            Some("max_tenants must be a whole number")
        );
        assert_eq!(
            errors.get("capacity_memory_gb"),
            Some("capacity_memory_gb must be a number")
        );
        assert_eq!(errors.get("max_nodes"), None);

        let mut rules = FieldErrors::new();
        rules.add("max_tenants", "max_tenants must be at least 1");
        rules.add("name", "name must not be empty");
        errors.merge(rules);
        assert_eq!(
            errors.get("max_tenants"),
            Some("max_tenants must be a whole number"),
            "the parse error stays"
        );
        assert_eq!(errors.get("name"), Some("name must not be empty"));
    }
}
