//! `/api/v1/users` (admins) and `/api/v1/auth/password` (everyone, for
//! themselves).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use muster_domain::FieldErrors;
use muster_domain::users::User;
use tower_sessions::Session;

use super::extract::JsonBody;
use crate::api::admin::{ChangePassword, ChangeUser, NewUserRequest, PasswordReset, ops};
use crate::api::{AppError, ErrorCode};
use crate::server::AppState;
use crate::server::auth::caller::Caller;

#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUserRequest,
    responses((status = 201, body = User), (status = 401, body = AppError), (status = 403, body = AppError),
        (status = 404, description = "a tenant does not exist", body = AppError), (status = 409, body = AppError),
        (status = 422, body = AppError)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewUserRequest>,
) -> Result<(StatusCode, Json<User>), AppError> {
    let created = ops::create_user(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/users", tag = "users",
    responses((status = 200, body = Vec<User>), (status = 401, body = AppError), (status = 403, body = AppError)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<User>>, AppError> {
    Ok(Json(ops::list_users(&state, &caller).await?))
}

#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = ChangePassword,
    responses((status = 204, description = "changed; the user's other sessions are ended"),
        (status = 401, body = AppError), (status = 422, body = AppError)))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    session: Session,
    JsonBody(req): JsonBody<ChangePassword>,
) -> Result<StatusCode, AppError> {
    let user = caller.user;
    let new_hash = ops::hash_new_password(&state, "new_password", &req.new_password).await?;
    let (_, hash) = state
        .store
        .user_credentials(&user.username)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::Unauthorized, "not signed in"))?;
    if !ops::verify_password(&state, &req.current_password, &hash).await? {
        return Err(AppError::invalid(FieldErrors::single(
            "current_password",
            "current_password is not the user's password",
        )));
    }
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

#[utoipa::path(patch, path = "/users/{id}", tag = "users", request_body = ChangeUser,
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = User), (status = 401, body = AppError), (status = 403, body = AppError),
        (status = 404, body = AppError), (status = 409, description = "an admin cannot disable or demote themselves", body = AppError)))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
    JsonBody(req): JsonBody<ChangeUser>,
) -> Result<Json<User>, AppError> {
    Ok(Json(ops::update_user(&state, &caller, &id, req).await?))
}

#[utoipa::path(post, path = "/users/{id}/password", tag = "users", request_body = PasswordReset,
    params(("id" = String, Path, description = "user id")),
    responses((status = 204, description = "set; the user's sessions are ended"), (status = 401, body = AppError),
        (status = 403, body = AppError), (status = 404, body = AppError),
        (status = 409, description = "admins change their own password with the current one", body = AppError),
        (status = 422, body = AppError)))]
pub async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
    JsonBody(req): JsonBody<PasswordReset>,
) -> Result<StatusCode, AppError> {
    ops::reset_password(&state, &caller, &id, &req.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
