//! `/api/v1/users` (admins) and `/api/v1/auth/password` (everyone, for
//! themselves).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use muster_domain::FieldErrors;
use muster_domain::users::{Role, User, check_password, normalize_username};
use muster_store::NewUser;
use serde::Deserialize;
use tower_sessions::Session;
use utoipa::ToSchema;

use super::extract::JsonBody;
use crate::api::{AppError, ErrorCode};
use crate::server::AppState;
use crate::server::auth::sessions::MaybeUser;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    pub role: Role,
    /// Tenant ids the user is scoped to; empty or absent: every cluster.
    #[serde(default)]
    pub tenants: Vec<String>,
}

fn hashing_failed(e: &crate::server::auth::passwords::HashError) -> AppError {
    tracing::error!(error = %e, "password hashing failed");
    AppError::new(
        ErrorCode::Unavailable,
        "password hashing is unavailable; try again shortly",
    )
}

#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 401, body = AppError), (status = 403, body = AppError),
        (status = 404, description = "a tenant does not exist", body = AppError), (status = 409, body = AppError),
        (status = 422, body = AppError)))]
pub async fn create_user(
    State(state): State<AppState>,
    user: MaybeUser,
    JsonBody(req): JsonBody<CreateUser>,
) -> Result<(StatusCode, Json<User>), AppError> {
    let admin = user.with_role(Role::Admin)?;
    let mut errors = FieldErrors::new();
    if let Err(e) = normalize_username(&req.username) {
        errors.add("username", e.get("username").unwrap_or_default());
    }
    if let Err(e) = check_password(&req.password) {
        errors.add("password", e.get("password").unwrap_or_default());
    }
    errors.into_result().map_err(AppError::invalid)?;
    let hash = state
        .hasher
        .hash(&req.password)
        .await
        .map_err(|e| hashing_failed(&e))?;
    let new = NewUser {
        username: req.username,
        password_hash: hash,
        role: req.role,
        tenants: req.tenants,
    };
    let created = state
        .store
        .create_user(&new, &format!("user:{}", admin.username))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/users", tag = "users",
    responses((status = 200, body = Vec<User>), (status = 401, body = AppError), (status = 403, body = AppError)))]
pub async fn list_users(
    State(state): State<AppState>,
    user: MaybeUser,
) -> Result<Json<Vec<User>>, AppError> {
    user.with_role(Role::Admin)?;
    Ok(Json(state.store.list_users().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = ChangePassword,
    responses((status = 204, description = "changed; the user's other sessions are ended"),
        (status = 401, body = AppError), (status = 422, body = AppError)))]
pub async fn change_password(
    State(state): State<AppState>,
    user: MaybeUser,
    session: Session,
    JsonBody(req): JsonBody<ChangePassword>,
) -> Result<StatusCode, AppError> {
    let user = user.required()?;
    check_password(&req.new_password).map_err(|e| {
        AppError::invalid(FieldErrors::single(
            "new_password",
            e.get("password").unwrap_or_default(),
        ))
    })?;
    let (_, hash) = state
        .store
        .user_credentials(&user.username)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::Unauthorized, "not signed in"))?;
    let matches = state
        .hasher
        .verify(&req.current_password, &hash)
        .await
        .map_err(|e| hashing_failed(&e))?;
    if !matches {
        return Err(AppError::invalid(FieldErrors::single(
            "current_password",
            "current_password is not the user's password",
        )));
    }
    let new_hash = state
        .hasher
        .hash(&req.new_password)
        .await
        .map_err(|e| hashing_failed(&e))?;
    state
        .store
        .set_password(
            &user.username,
            &new_hash,
            &format!("user:{}", user.username),
        )
        .await?;
    let keep = session.id().map(|id| id.to_string());
    state
        .store
        .sessions_end_for_user(&user.id, keep.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes to a user; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
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

#[utoipa::path(patch, path = "/users/{id}", tag = "users", request_body = ChangeUser,
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = User), (status = 401, body = AppError), (status = 403, body = AppError),
        (status = 404, body = AppError), (status = 409, description = "an admin cannot disable or demote themselves", body = AppError)))]
pub async fn update_user(
    State(state): State<AppState>,
    user: MaybeUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    JsonBody(req): JsonBody<ChangeUser>,
) -> Result<Json<User>, AppError> {
    let admin = user.with_role(Role::Admin)?;
    if admin.id == id && (req.disabled == Some(true) || req.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(AppError::with_fields(
            ErrorCode::Conflict,
            FieldErrors::single("id", "an admin cannot disable or demote themselves"),
        ));
    }
    let update = muster_store::UserUpdate {
        role: req.role,
        tenants: req.tenants,
        disabled: req.disabled,
    };
    Ok(Json(
        state
            .store
            .update_user(&id, &update, &format!("user:{}", admin.username))
            .await?,
    ))
}
