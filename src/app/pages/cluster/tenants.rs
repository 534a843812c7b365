//! The tenants the cluster hosts (a scoped viewer sees only their own);
//! admins place another tenant here or move one away.

use leptos::prelude::*;
use muster_domain::Tenant;
use muster_domain::users::Role;

use super::ClusterState;
use crate::api::clusters::{PlaceTenant, RemoveTenant, list_tenants};
use crate::app::components::feedback::{Outcome, WhenAllowed};

#[component]
pub fn TenantsPanel(state: ClusterState) -> impl IntoView {
    let place = ServerAction::<PlaceTenant>::new();
    let remove = ServerAction::<RemoveTenant>::new();
    let outcome = RwSignal::new(None::<Result<String, crate::api::AppError>>);
    // The tenant being moved away, dropped from the list once the server agrees.
    let removing = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(answer) = place.value().get() {
            outcome.set(Some(answer.map(|t| {
                state.tenants.update(|list| {
                    if !list.iter().any(|x| x.id == t.id) {
                        list.push(t.clone());
                    }
                });
                format!("{} is hosted here now.", t.name)
            })));
        }
    });
    Effect::new(move |_| {
        if let Some(answer) = remove.value().get() {
            outcome.set(Some(answer.map(|()| {
                if let Some(gone) = removing.get_untracked() {
                    state.tenants.update(|l| l.retain(|x| x.id != gone));
                }
                "Tenant moved away.".to_owned()
            })));
        }
    });
    let error = Signal::derive(move || outcome.get().and_then(Result::err));
    let done = Signal::derive(move || outcome.get().and_then(Result::ok));
    let limit = move || state.cluster.with(|c| c.max_tenants);
    view! {
        <section id="tenants" class="panel" aria-labelledby="tenants-heading">
            <h2 id="tenants-heading">
                "Tenants "
                <span class="count">
                    {move || format!("{} of at most {}", state.tenants.read().len(), limit())}
                </span>
            </h2>
            <Outcome error done />
            <Show
                when=move || !state.tenants.read().is_empty()
                fallback=|| view! { <p class="empty">"This cluster hosts no tenants."</p> }
            >
                <ul class="tenants" aria-label="Hosted tenants">
                    <For
                        each=move || state.tenants.get()
                        key=|t| t.id.clone()
                        children=move |t: Tenant| {
                            let tenant_id = StoredValue::new(t.id.clone());
                            view! {
                                <li>
                                    <span class="name">{t.name.clone()}</span>
                                    <WhenAllowed role=Role::Admin>
                                        <button
                                            type="button"
                                            class="small"
                                            disabled=move || remove.pending().get()
                                            on:click=move |_| {
                                                removing.set(Some(tenant_id.get_value()));
                                                remove.dispatch(RemoveTenant {
                                                    id: state.id(),
                                                    tenant_id: tenant_id.get_value(),
                                                });
                                            }
                                        >
                                            "Remove"
                                        </button>
                                    </WhenAllowed>
                                </li>
                            }
                        }
                    />
                </ul>
            </Show>
            <WhenAllowed role=Role::Admin>
                <PlaceTenantForm state place />
            </WhenAllowed>
        </section>
    }
}

/// A picker of the tenants not hosted here yet.
#[component]
fn PlaceTenantForm(state: ClusterState, place: ServerAction<PlaceTenant>) -> impl IntoView {
    let all = Resource::new(|| (), |()| list_tenants());
    let chosen = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let tenant_id = chosen.get_untracked();
        if !tenant_id.is_empty() {
            place.dispatch(PlaceTenant {
                id: state.id(),
                tenant_id,
            });
            chosen.set(String::new());
        }
    };
    view! {
        <Transition fallback=|| ()>
            {move || {
                all.get()
                    .and_then(Result::ok)
                    .map(|list| {
                        let hosted = state.tenants.get();
                        let free: Vec<Tenant> = list
                            .into_iter()
                            .filter(|t| !hosted.iter().any(|h| h.id == t.id))
                            .collect();
                        if free.is_empty() {
                            return view! { <p class="hint">"Every tenant is hosted here."</p> }.into_any();
                        }
                        view! {
                            <form class="row-form" on:submit=submit aria-label="Place a tenant">
                                <label for="place-tenant">"Host a tenant"</label>
                                <select
                                    id="place-tenant"
                                    prop:value=move || chosen.get()
                                    on:change=move |ev| chosen.set(event_target_value(&ev))
                                >
                                    <option value="">"Pick a tenant…"</option>
                                    {free
                                        .into_iter()
                                        .map(|t| view! { <option value=t.id.clone()>{t.name}</option> })
                                        .collect_view()}
                                </select>
                                <button type="submit" disabled=move || place.pending().get() || chosen.read().is_empty()>
                                    "Host"
                                </button>
                            </form>
                        }
                            .into_any()
                    })
            }}
        </Transition>
    }
}
