//! Join tokens (admins only): the tokens an agent trades for a node of this
//! cluster. A new or rotated secret is shown once, with the agent's command.

use leptos::prelude::*;
use muster_domain::protocol::JoinToken;
use muster_domain::{ClusterId, FieldErrors};

use crate::api::join_tokens::{
    CreateJoinToken, CreatedJoinToken, NewJoinToken, RevokeJoinToken, RotateJoinToken,
};
use crate::app::components::feedback::Outcome;
use crate::app::components::form::{FormCheck, TextField, whole};
use crate::app::pages::when;

/// The new-token form as typed.
#[derive(Debug, Clone, Default, PartialEq)]
struct TokenDraft {
    name: String,
    /// Empty: until revoked.
    expires_in_hours: String,
}

impl TokenDraft {
    fn request(&self) -> Result<NewJoinToken, FieldErrors> {
        let mut errors = FieldErrors::new();
        let hours = self.expires_in_hours.trim();
        let request = NewJoinToken {
            name: self.name.trim().to_owned(),
            expires_in_hours: (!hours.is_empty())
                .then(|| whole(&mut errors, "expires_in_hours", hours)),
        };
        if let Err(rules) = request.validate() {
            errors.merge(rules);
        }
        errors.into_result().map(|()| request)
    }
}

#[component]
pub fn JoinTokensPanel(cluster_id: ClusterId, tokens: Vec<JoinToken>) -> impl IntoView {
    let create = ServerAction::<CreateJoinToken>::new();
    let rotate = ServerAction::<RotateJoinToken>::new();
    let revoke = ServerAction::<RevokeJoinToken>::new();
    let tokens = RwSignal::new(tokens);
    // The token a rotation or revocation is about, marked revoked once the
    // server agrees.
    let retiring = RwSignal::new(None::<String>);
    let retire = move || {
        if let Some(old) = retiring.get_untracked() {
            let now = crate::app::now();
            tokens.update(|list| {
                for t in list.iter_mut().filter(|t| t.id == old) {
                    t.revoked_at = Some(now);
                }
            });
        }
    };
    // The latest secret, from a creation or a rotation, shown once.
    let secret = RwSignal::new(None::<CreatedJoinToken>);
    let arrived = move |created: CreatedJoinToken| {
        tokens.update(|list| list.insert(0, created.join_token.clone()));
        secret.set(Some(created));
    };
    Effect::new(move |_| {
        if let Some(Ok(created)) = create.value().get() {
            arrived(created);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(created)) = rotate.value().get() {
            retire();
            arrived(created);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = revoke.value().get() {
            retire();
        }
    });
    let error = Signal::derive(move || {
        rotate
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| revoke.value().get().and_then(Result::err))
    });
    let done = Signal::derive(move || {
        revoke
            .value()
            .get()
            .and_then(Result::ok)
            .map(|()| "Token revoked: it registers no more nodes.".to_owned())
    });
    view! {
        <section id="join-tokens" class="panel" aria-labelledby="join-tokens-heading">
            <h2 id="join-tokens-heading">"Join tokens"</h2>
            <p class="hint">"An agent started with a join token registers as a new node of this cluster."</p>
            <NewTokenForm create cluster_id />
            {move || secret.get().map(|s| view! { <SecretNotice created=s /> })}
            <Outcome error done />
            <Show
                when=move || !tokens.read().is_empty()
                fallback=|| view! { <p class="empty">"No join tokens yet."</p> }
            >
                <TokenTable tokens rotate revoke retiring />
            </Show>
        </section>
    }
}

#[component]
fn NewTokenForm(create: ServerAction<CreateJoinToken>, cluster_id: ClusterId) -> impl IntoView {
    let draft = RwSignal::new(TokenDraft::default());
    let check = FormCheck::new();
    let checked = Memo::new(move |_| draft.with(TokenDraft::request));
    let server_error = Signal::derive(move || create.value().get().and_then(Result::err));
    let errors = check.errors(checked, server_error);
    let touch = check.touch();
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            draft.set(TokenDraft::default());
            check.reset();
        }
    });
    let id = StoredValue::new(cluster_id);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        check.submit();
        if let Ok(request) = checked.get_untracked() {
            create.dispatch(CreateJoinToken {
                id: id.get_value(),
                request,
            });
        }
    };
    view! {
        <form class="row-form" on:submit=submit novalidate=true aria-label="New join token">
            <TextField form="join-token" name="name" label="What it is for" draft get=|d| &d.name set=|d, v| d.name = v errors touch />
            <TextField
                form="join-token"
                name="expires_in_hours"
                label="Expires in hours (empty: never)"
                draft
                get=|d| &d.expires_in_hours
                set=|d, v| d.expires_in_hours = v
                errors
                touch
            />
            <button type="submit" class="primary" disabled=move || create.pending().get()>
                "Create join token"
            </button>
        </form>
    }
}

/// The secret of a new or rotated token, shown this once.
#[component]
fn SecretNotice(created: CreatedJoinToken) -> impl IntoView {
    let command = format!(
        "muster-agent run --server {} --join-token {}",
        crate::app::server_url(),
        created.token
    );
    view! {
        <div class="secret" role="status">
            <p>{format!("The secret of \u{201c}{}\u{201d} is shown this once. On each host:", created.join_token.name)}</p>
            <code class="token" data-testid="join-token-secret">{created.token}</code>
            <pre class="command">{command}</pre>
        </div>
    }
}

#[component]
fn TokenTable(
    tokens: RwSignal<Vec<JoinToken>>,
    rotate: ServerAction<RotateJoinToken>,
    revoke: ServerAction<RevokeJoinToken>,
    retiring: RwSignal<Option<String>>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table aria-label="Join tokens">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Valid"</th>
                        <th scope="col" class="num">"Nodes joined"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || tokens.get()
                        key=|t| (t.id.clone(), t.revoked_at)
                        children=move |t: JoinToken| view! { <TokenRow t rotate revoke retiring /> }
                    />
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn TokenRow(
    t: JoinToken,
    rotate: ServerAction<RotateJoinToken>,
    revoke: ServerAction<RevokeJoinToken>,
    retiring: RwSignal<Option<String>>,
) -> impl IntoView {
    let now = crate::app::now();
    let state = match (t.revoked_at, t.expires_at) {
        (Some(at), _) => format!("revoked {}", when(at)),
        (None, Some(at)) if at <= now => format!("expired {}", when(at)),
        (None, Some(at)) => format!("until {}", when(at)),
        (None, None) => "until revoked".to_owned(),
    };
    let live = t.revoked_at.is_none() && t.expires_at.is_none_or(|at| at > now);
    let token = StoredValue::new((t.cluster_id.clone(), t.id.clone()));
    let busy = move || rotate.pending().get() || revoke.pending().get();
    view! {
        <tr data-token=t.id.clone()>
            <td>{t.name.clone()}</td>
            <td>{when(t.created_at)}</td>
            <td>{state}</td>
            <td class="num">{t.uses}</td>
            <td>{t.last_used_at.map_or_else(|| "never".to_owned(), when)}</td>
            <td class="actions">
                {live.then(|| view! {
                    <button
                        type="button"
                        class="small"
                        disabled=busy
                        on:click=move |_| {
                            let (id, token_id) = token.get_value();
                            retiring.set(Some(token_id.clone()));
                            rotate.dispatch(RotateJoinToken { id, token_id });
                        }
                    >
                        "Rotate"
                    </button>
                    <button
                        type="button"
                        class="small danger"
                        disabled=busy
                        on:click=move |_| {
                            let (id, token_id) = token.get_value();
                            retiring.set(Some(token_id.clone()));
                            revoke.dispatch(RevokeJoinToken { id, token_id });
                        }
                    >
                        "Revoke"
                    </button>
                })}
            </td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_lifetime_means_until_revoked() {
        let mut d = TokenDraft {
            name: "rack 4".into(),
            expires_in_hours: String::new(),
        };
        assert_eq!(d.request().expect("valid").expires_in_hours, None);
        d.expires_in_hours = "48".into();
        assert_eq!(d.request().expect("valid").expires_in_hours, Some(48));
        d.expires_in_hours = "soon".into();
        assert_eq!(
            d.request()
                .expect_err("not a number")
                .get("expires_in_hours"),
            Some("expires_in_hours must be a whole number")
        );
    }
}
