//! Who is signed in, and signing out.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::api::auth::SignOut;
use crate::app::session::use_session_user;

#[component]
pub fn UserMenu() -> impl IntoView {
    let user = use_session_user();
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
                    .map(|u| {
                        view! {
                            <span class="user" title=format!("role: {}", u.role)>
                                {u.username}
                            </span>
                            <A href="/admin/tokens" attr:class="tokens-link">"API tokens"</A>
                            <ActionForm action=sign_out>
                                <button type="submit" class="sign-out">"Sign out"</button>
                            </ActionForm>
                        }
                    })
            }}
        </Transition>
    }
}
