//! A cluster's join tokens: admins create, list, rotate and revoke them; the
//! secret is shown once and only its hash is stored. The REST routes and the
//! cluster page share these rules.

use leptos::prelude::*;
use muster_domain::protocol::JoinToken;
use muster_domain::{ClusterId, FieldErrors};
use serde::{Deserialize, Serialize};

use super::AppError;

/// The longest a join token may live: a year.
pub const MAX_EXPIRY_HOURS: u32 = 24 * 366;

/// What a new join token is for and how long it lives.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJoinToken {
    /// What the token is for, e.g. "rack 4".
    pub name: String,
    /// Hours until it stops registering nodes (1 to 8784); absent: until revoked.
    #[serde(default)]
    pub expires_in_hours: Option<u32>,
}

impl NewJoinToken {
    /// # Errors
    /// Each wrong field, named.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = self.name.trim();
        if name.is_empty() {
            errors.add("name", "name must not be empty");
        } else if name.chars().count() > 100 {
            errors.add("name", "name must be at most 100 characters");
        }
        if let Some(h) = self.expires_in_hours
            && !(1..=MAX_EXPIRY_HOURS).contains(&h)
        {
            errors.add(
                "expires_in_hours",
                format!("expires_in_hours must be 1 to {MAX_EXPIRY_HOURS}"),
            );
        }
        errors.into_result()
    }
}

/// A join token's secret, shown this once.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedJoinToken {
    pub id: String,
    pub token: String,
    pub join_token: JoinToken,
}

#[cfg(feature = "ssr")]
pub use server::{create, rotate};

#[server(prefix = "/fn", endpoint = "list_join_tokens", input = super::codec::Json, output = super::codec::Json)]
pub async fn list_join_tokens(id: ClusterId) -> Result<Vec<JoinToken>, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.require(muster_domain::users::Role::Admin)?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    Ok(state.store.list_join_tokens(&id).await?)
}

#[server(prefix = "/fn", endpoint = "create_join_token", input = super::codec::Json, output = super::codec::Json)]
pub async fn create_join_token(
    id: ClusterId,
    request: NewJoinToken,
) -> Result<CreatedJoinToken, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    create(state.store.as_ref(), &caller, &id, &request).await
}

#[server(prefix = "/fn", endpoint = "rotate_join_token", input = super::codec::Json, output = super::codec::Json)]
pub async fn rotate_join_token(
    id: ClusterId,
    token_id: String,
) -> Result<CreatedJoinToken, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    rotate(state.store.as_ref(), &caller, &id, &token_id).await
}

#[server(prefix = "/fn", endpoint = "revoke_join_token", input = super::codec::Json, output = super::codec::Json)]
pub async fn revoke_join_token(id: ClusterId, token_id: String) -> Result<(), AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    caller.require(muster_domain::users::Role::Admin)?;
    caller.see_cluster(state.store.as_ref(), &id).await?;
    state
        .store
        .revoke_join_token(&id, &token_id, &caller.actor())
        .await?;
    Ok(())
}

#[cfg(feature = "ssr")]
mod server {
    use muster_domain::ClusterId;
    use muster_domain::users::Role;
    use muster_store::Store;

    use super::{CreatedJoinToken, NewJoinToken};
    use crate::api::AppError;
    use crate::server::auth::caller::Caller;
    use crate::server::tokens::{hash_token, new_token};

    /// Checks and stores a new join token for `id`; the secret comes back once.
    ///
    /// # Errors
    /// 403 for a non-admin, 404 for a cluster the caller cannot see, 422 for
    /// a wrong field.
    pub async fn create(
        store: &dyn Store,
        caller: &Caller,
        id: &ClusterId,
        req: &NewJoinToken,
    ) -> Result<CreatedJoinToken, AppError> {
        caller.require(Role::Admin)?;
        caller.see_cluster(store, id).await?;
        req.validate().map_err(AppError::invalid)?;
        let expires_at = req
            .expires_in_hours
            .map(|h| muster_store::now() + chrono::Duration::hours(i64::from(h)));
        let token = new_token("mjt");
        let join = store
            .create_join_token(
                id,
                req.name.trim(),
                &hash_token(&token),
                expires_at,
                &caller.actor(),
            )
            .await?;
        Ok(CreatedJoinToken {
            id: join.id.clone(),
            token,
            join_token: join,
        })
    }

    /// Replaces the secret of `token_id` (same name and lifetime); the old one
    /// stops working and the new one comes back once.
    ///
    /// # Errors
    /// 403 for a non-admin, 404 for an unknown or revoked token.
    pub async fn rotate(
        store: &dyn Store,
        caller: &Caller,
        id: &ClusterId,
        token_id: &str,
    ) -> Result<CreatedJoinToken, AppError> {
        caller.require(Role::Admin)?;
        caller.see_cluster(store, id).await?;
        let token = new_token("mjt");
        let join = store
            .rotate_join_token(id, token_id, &hash_token(&token), &caller.actor())
            .await?;
        Ok(CreatedJoinToken {
            id: join.id.clone(),
            token,
            join_token: join,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_token_needs_a_name_and_a_lifetime_within_a_year() {
        let ok = NewJoinToken {
            name: "rack 4".into(),
            expires_in_hours: Some(24),
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = NewJoinToken {
            name: "  ".into(),
            expires_in_hours: Some(MAX_EXPIRY_HOURS + 1),
        };
        let errors = bad.validate().expect_err("both fields are wrong");
        assert_eq!(errors.get("name"), Some("name must not be empty"));
        assert_eq!(
            errors.get("expires_in_hours"),
            Some("expires_in_hours must be 1 to 8784")
        );
        let zero = NewJoinToken {
            name: "x".into(),
            expires_in_hours: Some(0),
        };
        assert!(
            zero.validate().is_err(),
            "a token must live at least an hour"
        );
    }
}
