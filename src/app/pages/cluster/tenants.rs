//! The tenants the cluster hosts (a scoped viewer sees only their own);
//! admins place another tenant here or move one away.

use leptos::prelude::*;
use muster_domain::Tenant;
use muster_domain::users::Role;

use super::ClusterState;
use crate::api::clusters::{PlaceTenant, RemoveTenant};
use crate::app::components::feedback::Outcome;

#[component]
pub fn TenantsPanel(state: ClusterState, all_tenants: Vec<Tenant>) -> impl IntoView {
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
                                    {state.allows(Role::Admin).then(|| view! {
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
                                    })}
                                </li>
                            }
                        }
                    />
                </ul>
            </Show>
            {state.allows(Role::Admin).then(|| view! { <PlaceTenantForm state place all=all_tenants /> })}
        </section>
    }
}

/// A picker of the tenants not hosted here yet.
#[component]
fn PlaceTenantForm(
    state: ClusterState,
    place: ServerAction<PlaceTenant>,
    all: Vec<Tenant>,
) -> impl IntoView {
    let chosen = RwSignal::new(String::new());
    let all = StoredValue::new(all);
    let free = Memo::new(move |_| {
        state.tenants.with(|hosted| {
            all.with_value(|all| {
                all.iter()
                    .filter(|t| !hosted.iter().any(|h| h.id == t.id))
                    .cloned()
                    .collect::<Vec<_>>()
            })
        })
    });
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
        <Show
            when=move || !free.read().is_empty()
            fallback=move || {
                let none = all.with_value(Vec::is_empty);
                view! {
                    <p class="hint">
                        {if none {
                            "No tenants exist yet: an admin creates them under Tenants."
                        } else {
                            "Every tenant is hosted here."
                        }}
                    </p>
                }
            }
        >
            <form class="row-form" on:submit=submit aria-label="Place a tenant">
                <label for="place-tenant">"Host a tenant"</label>
                <select
                    id="place-tenant"
                    prop:value=move || chosen.get()
                    on:change=move |ev| chosen.set(event_target_value(&ev))
                >
                    <option value="">"Pick a tenant…"</option>
                    <For
                        each=move || free.get()
                        key=|t| t.id.clone()
                        children=|t: Tenant| view! { <option value=t.id.clone()>{t.name}</option> }
                    />
                </select>
                <button type="submit" disabled=move || place.pending().get() || chosen.read().is_empty()>
                    "Host"
                </button>
            </form>
        </Show>
    }
}
