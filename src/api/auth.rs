//! Signing in and out from the dashboard.

use leptos::prelude::*;
use muster_domain::users::User;

use super::AppError;

#[server(prefix = "/fn", endpoint = "sign_in", output = super::codec::Json)]
pub async fn sign_in(username: String, password: String) -> Result<User, AppError> {
    use crate::server::rest::auth::{ClientAddr, SignIn, authenticate};
    use axum::extract::FromRequestParts as _;
    let (state, mut parts) = crate::server::request_context()?;
    let session = tower_sessions::Session::from_request_parts(&mut parts, &state)
        .await
        .map_err(|_| AppError::new(super::ErrorCode::Unavailable, "sessions are unavailable"))?;
    let Ok(ClientAddr(addr)) = ClientAddr::from_request_parts(&mut parts, &state).await;
    match authenticate(&state, addr, &session, &username, &password).await? {
        SignIn::Done(user) => Ok(user),
        SignIn::Throttled(seconds) => Err(AppError::new(
            super::ErrorCode::RateLimited,
            format!("too many failed sign-ins; try again in {seconds} s"),
        )),
    }
}

#[server(prefix = "/fn", endpoint = "sign_out", output = super::codec::Json)]
pub async fn sign_out() -> Result<(), AppError> {
    use axum::extract::FromRequestParts as _;
    let (state, mut parts) = crate::server::request_context()?;
    if let Ok(session) = tower_sessions::Session::from_request_parts(&mut parts, &state).await {
        crate::server::auth::sessions::sign_out(&session).await?;
    }
    Ok(())
}

/// Who is signed in, if anyone.
#[server(prefix = "/fn", endpoint = "current_user", input = super::codec::Json, output = super::codec::Json)]
pub async fn current_user() -> Result<Option<User>, AppError> {
    use axum::extract::FromRequestParts as _;
    let (state, mut parts) = crate::server::request_context()?;
    let user =
        crate::server::auth::sessions::MaybeUser::from_request_parts(&mut parts, &state).await?;
    Ok(user.0)
}
