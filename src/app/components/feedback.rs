//! How the pages report failures: a load error with a retry button, and the
//! outcome of an action (its message, or what was done).

use leptos::prelude::*;

use crate::api::AppError;

/// A failed load, with a way to try again.
#[component]
pub fn LoadError(
    what: &'static str,
    error: AppError,
    retry: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="error-panel" role="alert">
            <p>{format!("{what} could not be loaded: ")} {error.message}</p>
            <button type="button" on:click=move |_| retry()>
                "Retry"
            </button>
        </div>
    }
}

/// The error of a field, from the last answer, shown under its input.
#[component]
pub fn FieldError(error: Signal<Option<AppError>>, #[prop(into)] field: String) -> impl IntoView {
    move || {
        error
            .get()
            .and_then(|e| e.fields.get(&field).cloned())
            .map(|text| view! { <span class="field-error">{text}</span> })
    }
}

/// The last answer of an action: what it did, or why it failed.
#[component]
pub fn Outcome(error: Signal<Option<AppError>>, done: Signal<Option<String>>) -> impl IntoView {
    move || match (error.get(), done.get()) {
        (Some(e), _) => {
            Some(view! { <p class="error-panel" role="alert">{e.message}</p> }.into_any())
        }
        (None, Some(text)) => Some(view! { <p class="done" role="status">{text}</p> }.into_any()),
        (None, None) => None,
    }
}
