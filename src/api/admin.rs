//! Administration: users (admins only) and each user's own API tokens. The
//! REST handlers and the server functions both call the plain functions in
//! [`ops`], so the rules live in one place.

use leptos::prelude::*;
use muster_domain::ConfigTemplate;
use muster_domain::users::{ApiToken, Role, User};
use serde::{Deserialize, Serialize};

use super::AppError;

/// A user to create.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub username: String,
    pub password: String,
    pub role: Role,
    /// Tenant ids the user is scoped to; empty or absent: every cluster.
    #[serde(default)]
    pub tenants: Vec<String>,
}

/// Changes to a user; absent fields stay.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeUser {
    #[serde(default)]
    pub role: Option<Role>,
    /// Tenant ids; an empty list makes the user unscoped (every cluster).
    #[serde(default)]
    pub tenants: Option<Vec<String>>,
    /// A disabled user cannot sign in; their sessions end and their API
    /// tokens stop working at once.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// A user changing their own password.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// An admin setting another user's password.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub password: String,
}

/// A token to create for oneself.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
}

/// A new API token; `token` is shown this once.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub id: String,
    pub token: String,
}

#[cfg(feature = "ssr")]
pub mod ops {
    use muster_domain::FieldErrors;
    use muster_domain::users::{ApiToken, Role, User, check_password, normalize_username};
    use muster_store::{NewUser, UserUpdate};

    use super::{ChangeUser, CreatedToken, NewUserRequest};
    use crate::api::{AppError, ErrorCode};
    use crate::server::AppState;
    use crate::server::auth::caller::Caller;

    fn hashing_failed(e: &crate::server::auth::passwords::HashError) -> AppError {
        tracing::error!(error = %e, "password hashing failed");
        AppError::new(
            ErrorCode::Unavailable,
            "password hashing is unavailable; try again shortly",
        )
    }

    /// Hashes a new password after checking it, naming `field` when it is
    /// refused.
    ///
    /// # Errors
    /// 422 naming `field`; 503 when hashing fails.
    pub async fn hash_new_password(
        state: &AppState,
        field: &str,
        password: &str,
    ) -> Result<String, AppError> {
        check_password(password).map_err(|e| {
            AppError::invalid(FieldErrors::single(
                field,
                e.get("password").unwrap_or_default(),
            ))
        })?;
        state
            .hasher
            .hash(password)
            .await
            .map_err(|e| hashing_failed(&e))
    }

    /// Whether `password` is `user`'s.
    ///
    /// # Errors
    /// 503 when hashing fails.
    pub async fn verify_password(
        state: &AppState,
        password: &str,
        hash: &str,
    ) -> Result<bool, AppError> {
        state
            .hasher
            .verify(password, hash)
            .await
            .map_err(|e| hashing_failed(&e))
    }

    /// # Errors
    /// 403 for non-admins; 422 naming the field; 404 for an unknown tenant; 409
    /// for a taken username.
    pub async fn create_user(
        state: &AppState,
        caller: &Caller,
        req: NewUserRequest,
    ) -> Result<User, AppError> {
        caller.require(Role::Admin)?;
        let mut errors = FieldErrors::new();
        if let Err(e) = normalize_username(&req.username) {
            errors.add("username", e.get("username").unwrap_or_default());
        }
        if let Err(e) = check_password(&req.password) {
            errors.add("password", e.get("password").unwrap_or_default());
        }
        errors.into_result().map_err(AppError::invalid)?;
        let hash = hash_new_password(state, "password", &req.password).await?;
        let new = NewUser {
            username: req.username,
            password_hash: hash,
            role: req.role,
            tenants: req.tenants,
        };
        Ok(state.store.create_user(&new, &caller.actor()).await?)
    }

    /// # Errors
    /// 403 for non-admins.
    pub async fn list_users(state: &AppState, caller: &Caller) -> Result<Vec<User>, AppError> {
        caller.require(Role::Admin)?;
        Ok(state.store.list_users().await?)
    }

    /// # Errors
    /// 403 for non-admins; 404 for an unknown user or tenant; 409 when an admin
    /// would disable or demote themselves.
    pub async fn update_user(
        state: &AppState,
        caller: &Caller,
        id: &str,
        req: ChangeUser,
    ) -> Result<User, AppError> {
        caller.require(Role::Admin)?;
        if caller.user.id == id
            && (req.disabled == Some(true) || req.role.is_some_and(|r| r != Role::Admin))
        {
            return Err(AppError::with_fields(
                ErrorCode::Conflict,
                FieldErrors::single("id", "an admin cannot disable or demote themselves"),
            ));
        }
        let update = UserUpdate {
            role: req.role,
            tenants: req.tenants,
            disabled: req.disabled,
        };
        Ok(state
            .store
            .update_user(id, &update, &caller.actor())
            .await?)
    }

    /// Sets another user's password and ends their sessions (an admin's own
    /// password changes through `change_password`, which needs the current one).
    ///
    /// # Errors
    /// 403 for non-admins; 404 for an unknown user; 409 for the caller
    /// themselves; 422 naming `password`.
    pub async fn reset_password(
        state: &AppState,
        caller: &Caller,
        id: &str,
        password: &str,
    ) -> Result<(), AppError> {
        caller.require(Role::Admin)?;
        if caller.user.id == id {
            return Err(AppError::with_fields(
                ErrorCode::Conflict,
                FieldErrors::single(
                    "id",
                    "change your own password with your current one (POST /api/v1/auth/password)",
                ),
            ));
        }
        let user = state.store.get_user(id).await?;
        let hash = hash_new_password(state, "password", password).await?;
        state
            .store
            .set_password(&user.username, &hash, &caller.actor())
            .await?;
        state.store.sessions_end_for_user(&user.id, None).await?;
        Ok(())
    }

    /// # Errors
    /// 422 naming `name` when it is empty or longer than 100 characters.
    pub async fn create_token(
        state: &AppState,
        caller: &Caller,
        name: &str,
    ) -> Result<CreatedToken, AppError> {
        let token = crate::server::tokens::new_token("mst");
        let hash = crate::server::tokens::hash_token(&token);
        let created = state
            .store
            .create_api_token(&caller.user.id, name, &hash)
            .await?;
        Ok(CreatedToken {
            id: created.id,
            token,
        })
    }

    /// # Errors
    /// Only the store's.
    pub async fn list_tokens(state: &AppState, caller: &Caller) -> Result<Vec<ApiToken>, AppError> {
        Ok(state.store.list_api_tokens(&caller.user.id).await?)
    }

    /// # Errors
    /// 404 when the token is not the caller's or is already revoked.
    pub async fn revoke_token(state: &AppState, caller: &Caller, id: &str) -> Result<(), AppError> {
        Ok(state.store.revoke_api_token(&caller.user.id, id).await?)
    }
}

#[cfg(feature = "ssr")]
async fn context()
-> Result<(crate::server::AppState, crate::server::auth::caller::Caller), AppError> {
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    Ok((crate::server::AppState::from_context()?, caller))
}

/// Every user (admins only).
#[server(prefix = "/fn", endpoint = "list_users", input = super::codec::Json, output = super::codec::Json)]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    let (state, caller) = context().await?;
    ops::list_users(&state, &caller).await
}

#[server(prefix = "/fn", endpoint = "create_user", input = super::codec::Json, output = super::codec::Json)]
pub async fn create_user(request: NewUserRequest) -> Result<User, AppError> {
    let (state, caller) = context().await?;
    ops::create_user(&state, &caller, request).await
}

#[server(prefix = "/fn", endpoint = "update_user", input = super::codec::Json, output = super::codec::Json)]
pub async fn update_user(id: String, change: ChangeUser) -> Result<User, AppError> {
    let (state, caller) = context().await?;
    ops::update_user(&state, &caller, &id, change).await
}

#[server(prefix = "/fn", endpoint = "reset_password", input = super::codec::Json, output = super::codec::Json)]
pub async fn reset_password(id: String, password: String) -> Result<(), AppError> {
    let (state, caller) = context().await?;
    ops::reset_password(&state, &caller, &id, &password).await
}

/// The caller's own API tokens, revoked ones included.
#[server(prefix = "/fn", endpoint = "list_api_tokens", input = super::codec::Json, output = super::codec::Json)]
pub async fn list_api_tokens() -> Result<Vec<ApiToken>, AppError> {
    let (state, caller) = context().await?;
    ops::list_tokens(&state, &caller).await
}

#[server(prefix = "/fn", endpoint = "create_api_token", input = super::codec::Json, output = super::codec::Json)]
pub async fn create_api_token(name: String) -> Result<CreatedToken, AppError> {
    let (state, caller) = context().await?;
    ops::create_token(&state, &caller, &name).await
}

#[server(prefix = "/fn", endpoint = "revoke_api_token", input = super::codec::Json, output = super::codec::Json)]
pub async fn revoke_api_token(id: String) -> Result<(), AppError> {
    let (state, caller) = context().await?;
    ops::revoke_token(&state, &caller, &id).await
}

/// The environment templates clusters start from.
#[server(prefix = "/fn", endpoint = "list_templates", input = super::codec::Json, output = super::codec::Json)]
pub async fn list_templates() -> Result<Vec<ConfigTemplate>, AppError> {
    let (state, _caller) = context().await?;
    Ok(state.store.list_templates().await?)
}
