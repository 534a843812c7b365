//! `/admin/users`, `/admin/tenants`, `/admin/templates` and `/admin/tokens`.
//! Users and tenants are for admins (others see the server's refusal); every
//! signed-in user manages their own API tokens.

use leptos::prelude::*;
use muster_domain::Tenant;
use muster_domain::users::{ApiToken, Role, User};

use crate::api::AppError;
use crate::api::admin::{
    ChangeUser, CreateApiToken, CreateUser, NewUserRequest, ResetPassword, RevokeApiToken,
    UpdateUser, list_api_tokens, list_templates, list_users,
};
use crate::api::clusters::{CreateTenant, list_tenants};
use crate::app::components::feedback::{FieldError, LoadError, Outcome};
use crate::app::components::templates::TemplateTable;
use crate::app::pages::when;

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let reset = ServerAction::<ResetPassword>::new();
    let fields = NewUserFields::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            fields.username.set(String::new());
            fields.password.set(String::new());
            fields.chosen.set(Vec::new());
        }
    });
    let data = Resource::new(
        move || (create.version().get(), update.version().get()),
        |_| async move {
            let users = list_users().await?;
            let tenants = list_tenants().await?;
            Ok::<_, AppError>((users, tenants))
        },
    );
    // The table's two actions share one outcome line; whichever answered last is shown.
    let row_outcome = RwSignal::new(None::<Result<String, AppError>>);
    Effect::new(move |_| {
        if let Some(answer) = update.value().get() {
            row_outcome.set(Some(answer.map(|u| format!("Saved {}.", u.username))));
        }
    });
    Effect::new(move |_| {
        if let Some(answer) = reset.value().get() {
            row_outcome.set(Some(
                answer.map(|()| "Password set; the user's sessions have ended.".to_owned()),
            ));
        }
    });
    let row_error = Signal::derive(move || row_outcome.get().and_then(Result::err));
    let row_done = Signal::derive(move || row_outcome.get().and_then(Result::ok));
    view! {
        <h1>"Users"</h1>
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading users…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok((users, tenants)) => {
                            view! {
                                <Outcome error=row_error done=row_done />
                                <UserTable users tenants=tenants.clone() update reset />
                                <NewUserForm tenants create fields />
                            }
                                .into_any()
                        }
                        Err(error) => {
                            view! {
                                <LoadError what="The users" error retry=move || data.refetch() />
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

fn tenant_names(ids: &[String], tenants: &[Tenant]) -> String {
    if ids.is_empty() {
        return "every cluster".to_owned();
    }
    ids.iter()
        .map(|id| {
            tenants
                .iter()
                .find(|t| &t.id == id)
                .map_or_else(|| id.clone(), |t| t.name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[component]
fn UserTable(
    users: Vec<User>,
    tenants: Vec<Tenant>,
    update: ServerAction<UpdateUser>,
    reset: ServerAction<ResetPassword>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table aria-label="Users">
                <thead>
                    <tr>
                        <th scope="col">"User"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Sees"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {users
                        .into_iter()
                        .map(|u| view! { <UserRow user=u tenants=tenants.clone() update reset /> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn UserRow(
    user: User,
    tenants: Vec<Tenant>,
    update: ServerAction<UpdateUser>,
    reset: ServerAction<ResetPassword>,
) -> impl IntoView {
    let id = user.id.clone();
    let role_id = id.clone();
    let on_role = move |ev: leptos::ev::Event| {
        if let Ok(role) = event_target_value(&ev).parse::<Role>() {
            update.dispatch(UpdateUser {
                id: role_id.clone(),
                change: ChangeUser {
                    role: Some(role),
                    ..ChangeUser::default()
                },
            });
        }
    };
    let toggle_id = id.clone();
    let disabled = user.disabled;
    let on_toggle = move |_| {
        update.dispatch(UpdateUser {
            id: toggle_id.clone(),
            change: ChangeUser {
                disabled: Some(!disabled),
                ..ChangeUser::default()
            },
        });
    };
    let scope = RwSignal::new(user.tenants.clone());
    let scope_id = id.clone();
    let on_scope = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        update.dispatch(UpdateUser {
            id: scope_id.clone(),
            change: ChangeUser {
                tenants: Some(scope.get_untracked()),
                ..ChangeUser::default()
            },
        });
    };
    let password = RwSignal::new(String::new());
    let reset_id = id;
    let on_reset = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        reset.dispatch(ResetPassword {
            id: reset_id.clone(),
            password: password.get_untracked(),
        });
        password.set(String::new());
    };
    let sees = tenant_names(&user.tenants, &tenants);
    let name = user.username.clone();
    view! {
        <tr data-user=user.username.clone()>
            <td>
                <span class="name">{user.username.clone()}</span>
                <span class="id">{user.id.clone()}</span>
            </td>
            <td>
                <select aria-label=format!("Role of {name}") on:change=on_role>
                    {Role::ALL
                        .iter()
                        .map(|r| {
                            view! {
                                <option value=r.as_str() selected=*r == user.role>
                                    {r.as_str()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </td>
            <td>
                <details class="inline-edit">
                    <summary>{sees}</summary>
                    <form on:submit=on_scope>
                        <fieldset>
                            <legend>"Tenants (none: every cluster)"</legend>
                            <TenantChoice tenants=tenants.clone() chosen=scope />
                        </fieldset>
                        <button type="submit">"Save scope"</button>
                    </form>
                </details>
            </td>
            <td>
                {if disabled {
                    view! { <span class="badge status-offline">"disabled"</span> }.into_any()
                } else {
                    view! { <span class="badge status-active">"active"</span> }.into_any()
                }}
            </td>
            <td>{when(user.created_at)}</td>
            <td class="actions">
                <button type="button" on:click=on_toggle>
                    {if disabled { "Enable" } else { "Disable" }}
                </button>
                <details class="inline-edit">
                    <summary>"Reset password"</summary>
                    <form on:submit=on_reset>
                        <label>
                            "New password"
                            <input
                                type="password"
                                autocomplete="new-password"
                                minlength="12"
                                required
                                prop:value=move || password.get()
                                on:input=move |ev| password.set(event_target_value(&ev))
                            />
                        </label>
                        <button type="submit">"Set password"</button>
                    </form>
                </details>
            </td>
        </tr>
    }
}

/// Checkboxes for choosing tenants.
#[component]
fn TenantChoice(tenants: Vec<Tenant>, chosen: RwSignal<Vec<String>>) -> impl IntoView {
    if tenants.is_empty() {
        return view! { <p class="empty">"No tenants yet."</p> }.into_any();
    }
    tenants
        .into_iter()
        .map(|t| {
            let id = t.id.clone();
            let checked_id = t.id.clone();
            view! {
                <label class="check">
                    <input
                        type="checkbox"
                        prop:checked=move || chosen.with(|c| c.contains(&checked_id))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            chosen
                                .update(|c| {
                                    c.retain(|x| x != &id);
                                    if on {
                                        c.push(id.clone());
                                    }
                                });
                        }
                    />
                    {t.name}
                </label>
            }
        })
        .collect_view()
        .into_any()
}

/// What the new-user form holds; it lives with the page, so reloading the
/// user list (after any answer) does not wipe what was typed.
#[derive(Clone, Copy)]
struct NewUserFields {
    username: RwSignal<String>,
    password: RwSignal<String>,
    role: RwSignal<Role>,
    chosen: RwSignal<Vec<String>>,
}

impl NewUserFields {
    fn new() -> Self {
        Self {
            username: RwSignal::new(String::new()),
            password: RwSignal::new(String::new()),
            role: RwSignal::new(Role::Viewer),
            chosen: RwSignal::new(Vec::new()),
        }
    }
}

#[component]
fn NewUserForm(
    tenants: Vec<Tenant>,
    create: ServerAction<CreateUser>,
    fields: NewUserFields,
) -> impl IntoView {
    let NewUserFields {
        username,
        password,
        role,
        chosen,
    } = fields;
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    let done = Signal::derive(move || {
        create
            .value()
            .get()
            .and_then(Result::ok)
            .map(|u| format!("Created {} ({}).", u.username, u.role))
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateUser {
            request: NewUserRequest {
                username: username.get_untracked(),
                password: password.get_untracked(),
                role: role.get_untracked(),
                tenants: chosen.get_untracked(),
            },
        });
    };
    view! {
        <section aria-labelledby="new-user-heading">
            <h2 id="new-user-heading">"Add a user"</h2>
            <form class="panel-form" on:submit=on_submit>
                <label>
                    "Username"
                    <input
                        type="text"
                        name="username"
                        autocomplete="off"
                        required
                        prop:value=move || username.get()
                        on:input=move |ev| username.set(event_target_value(&ev))
                    />
                    <FieldError error field="username" />
                </label>
                <label>
                    "Password (at least 12 characters)"
                    <input
                        type="password"
                        name="password"
                        autocomplete="new-password"
                        required
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                    <FieldError error field="password" />
                </label>
                <label>
                    "Role"
                    <select
                        name="role"
                        on:change=move |ev| {
                            if let Ok(r) = event_target_value(&ev).parse() {
                                role.set(r);
                            }
                        }
                    >
                        {Role::ALL
                            .iter()
                            .map(|r| {
                                view! {
                                    <option value=r.as_str() selected=move || role.get() == *r>
                                        {r.as_str()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <fieldset>
                    <legend>"Tenants (none: every cluster)"</legend>
                    <TenantChoice tenants chosen />
                    <FieldError error field="tenants" />
                </fieldset>
                <button type="submit" class="primary" disabled=move || create.pending().get()>
                    "Add user"
                </button>
            </form>
            <Outcome error done />
        </section>
    }
}

#[component]
pub fn TenantsPage() -> impl IntoView {
    let create = ServerAction::<CreateTenant>::new();
    let tenants = Resource::new(move || create.version().get(), |_| list_tenants());
    let name = RwSignal::new(String::new());
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    let done = Signal::derive(move || {
        create
            .value()
            .get()
            .and_then(Result::ok)
            .map(|t| format!("Created tenant {}.", t.name))
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            name.set(String::new());
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateTenant {
            name: name.get_untracked(),
        });
    };
    view! {
        <h1>"Tenants"</h1>
        <p class="hint">
            "Clusters host tenants; a user scoped to tenants sees only the clusters hosting them."
        </p>
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading tenants…"</p> }>
            {move || {
                tenants
                    .get()
                    .map(|result| match result {
                        Ok(list) if list.is_empty() => {
                            view! { <p class="empty">"No tenants yet."</p> }.into_any()
                        }
                        Ok(list) => view! { <TenantTable tenants=list /> }.into_any(),
                        Err(error) => {
                            view! {
                                <LoadError what="The tenants" error retry=move || tenants.refetch() />
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
        <section aria-labelledby="new-tenant-heading">
            <h2 id="new-tenant-heading">"Add a tenant"</h2>
            <form class="panel-form inline" on:submit=on_submit>
                <label>
                    "Name"
                    <input
                        type="text"
                        name="name"
                        required
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <FieldError error field="name" />
                </label>
                <button type="submit" class="primary" disabled=move || create.pending().get()>
                    "Add tenant"
                </button>
            </form>
            <Outcome error done />
        </section>
    }
}

#[component]
fn TenantTable(tenants: Vec<Tenant>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table aria-label="Tenants">
                <thead>
                    <tr>
                        <th scope="col">"Tenant"</th>
                        <th scope="col">"Created"</th>
                    </tr>
                </thead>
                <tbody>
                    {tenants
                        .into_iter()
                        .map(|t| {
                            view! {
                                <tr>
                                    <td>
                                        <span class="name">{t.name}</span>
                                        <span class="id">{t.id}</span>
                                    </td>
                                    <td>{when(t.created_at)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn TemplatesPage() -> impl IntoView {
    let templates = Resource::new(|| (), |()| list_templates());
    view! {
        <h1>"Environment templates"</h1>
        <p class="hint">
            "New clusters start from a template's limits and settings; each can be adjusted at creation."
        </p>
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading templates…"</p> }>
            {move || {
                templates
                    .get()
                    .map(|result| match result {
                        Ok(list) => view! { <TemplateTable templates=list /> }.into_any(),
                        Err(error) => {
                            view! {
                                <LoadError
                                    what="The templates"
                                    error
                                    retry=move || templates.refetch()
                                />
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_tokens(),
    );
    let name = RwSignal::new(String::new());
    let error = Signal::derive(move || {
        create
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| revoke.value().get().and_then(Result::err))
    });
    let no_news = Signal::derive(|| None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateApiToken {
            name: name.get_untracked(),
        });
        name.set(String::new());
    };
    view! {
        <h1>"API tokens"</h1>
        <p class="hint">
            "A token acts as you, with your role and tenant scope: send it as "
            <code>"Authorization: Bearer <token>"</code> "."
        </p>
        {move || {
            create
                .value()
                .get()
                .and_then(Result::ok)
                .map(|created| {
                    view! {
                        <div class="secret" role="status">
                            <p>"Copy this token now; it is not shown again."</p>
                            <code data-token>{created.token}</code>
                        </div>
                    }
                })
        }}
        <Outcome error done=no_news />
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading tokens…"</p> }>
            {move || {
                tokens
                    .get()
                    .map(|result| match result {
                        Ok(list) if list.is_empty() => {
                            view! { <p class="empty">"No tokens yet."</p> }.into_any()
                        }
                        Ok(list) => view! { <TokenTable tokens=list revoke /> }.into_any(),
                        Err(error) => {
                            view! {
                                <LoadError what="Your tokens" error retry=move || tokens.refetch() />
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
        <section aria-labelledby="new-token-heading">
            <h2 id="new-token-heading">"Create a token"</h2>
            <form class="panel-form inline" on:submit=on_submit>
                <label>
                    "Name"
                    <input
                        type="text"
                        name="name"
                        placeholder="e.g. deploy script"
                        required
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <FieldError error field="name" />
                </label>
                <button type="submit" class="primary" disabled=move || create.pending().get()>
                    "Create token"
                </button>
            </form>
        </section>
    }
}

#[component]
fn TokenTable(tokens: Vec<ApiToken>, revoke: ServerAction<RevokeApiToken>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table aria-label="API tokens">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {tokens
                        .into_iter()
                        .map(|t| {
                            let id = t.id.clone();
                            let name = t.name.clone();
                            let row = t.name.clone();
                            view! {
                                <tr data-token-name=row>
                                    <td>
                                        <span class="name">{t.name}</span>
                                        <span class="id">{t.id}</span>
                                    </td>
                                    <td>{when(t.created_at)}</td>
                                    <td>{t.last_used_at.map_or_else(|| "never".to_owned(), when)}</td>
                                    <td>
                                        {match t.revoked_at {
                                            Some(at) => {
                                                view! {
                                                    <span class="badge status-decommissioned">
                                                        {format!("revoked {}", when(at))}
                                                    </span>
                                                }
                                                    .into_any()
                                            }
                                            None => {
                                                view! {
                                                    <span class="badge status-active">"active"</span>
                                                }
                                                    .into_any()
                                            }
                                        }}
                                    </td>
                                    <td>
                                        {t
                                            .revoked_at
                                            .is_none()
                                            .then(|| {
                                                view! {
                                                    <button
                                                        type="button"
                                                        aria-label=format!("Revoke {name}")
                                                        on:click=move |_| {
                                                            revoke.dispatch(RevokeApiToken { id: id.clone() });
                                                        }
                                                    >
                                                        "Revoke"
                                                    </button>
                                                }
                                            })}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
