//! `/login`: signing in, then back to where the visitor was going.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::auth::SignIn;

/// Where to go after signing in: a path on this site, never another site.
fn local_target(next: Option<String>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") => p,
        _ => "/".to_owned(),
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            let target = local_target(query.read_untracked().get("next"));
            navigate(&target, NavigateOptions::default());
        }
    });
    view! {
        <section class="login" aria-labelledby="login-heading">
            <h1 id="login-heading">"Sign in to Muster"</h1>
            <ActionForm action=action attr:class="login-form">
                <label>
                    "Username"
                    <input type="text" name="username" autocomplete="username" required />
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required />
                </label>
                <button type="submit" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
            {move || {
                action
                    .value()
                    .get()
                    .and_then(Result::err)
                    .map(|e| view! { <p class="error-panel" role="alert">{e.message}</p> })
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::local_target;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_target(Some("/clusters?x=1".into())), "/clusters?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "clusters",
        ] {
            assert_eq!(local_target(Some(bad.into())), "/", "{bad}");
        }
        assert_eq!(local_target(None), "/");
    }
}
