//! Who is signed in, and signing out.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};

use crate::api::auth::{SignOut, current_user};

#[component]
pub fn UserMenu() -> impl IntoView {
    // Asked again on each navigation, so signing in or out shows at once.
    let path = use_location().pathname;
    let user = Resource::new(move || path.get(), |_| current_user());
    let sign_out = ServerAction::<SignOut>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_out.value().get() {
            navigate("/login", NavigateOptions::default());
        }
    });
    view! {
        <Transition fallback=|| ()>
            {move || {
                user.get()
                    .and_then(Result::ok)
                    .flatten()
                    .map(|u| {
                        view! {
                            <span class="user" title=format!("role: {}", u.role)>
                                {u.username}
                            </span>
                            <ActionForm action=sign_out>
                                <button type="submit" class="sign-out">"Sign out"</button>
                            </ActionForm>
                        }
                    })
            }}
        </Transition>
    }
}
