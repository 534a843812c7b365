//! `/api/v1/auth`: sign in, sign out, and who am I.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use muster_domain::users::User;
use muster_domain::users::{ACCOUNT_THROTTLE, ADDRESS_THROTTLE, ThrottleRule};
use muster_domain::{EventCategory, NewEvent, Severity};
use serde::Deserialize;
use tower_sessions::Session;
use utoipa::ToSchema;

use super::extract::JsonBody;
use crate::api::admin::{CreatedToken, NewToken, ops};
use crate::api::{AppError, ErrorCode};
use crate::server::AppState;
use crate::server::auth::caller::Caller;
use crate::server::auth::sessions::{MaybeUser, sign_in, sign_out};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// A hash that matches no password, verified when the user is unknown so an
/// unknown name takes as long to refuse as a wrong password.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3l7g3ZLmHjQPy0r5G5Q1vVJ0R1m3R0qTnl0tM3bJm0Y";

/// The client's address as the server sees the connection (no proxy headers
/// are trusted); `None` when the server was started without it.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Seconds to wait when either throttle is closed for these keys.
async fn throttled(
    state: &AppState,
    keys: &[(String, ThrottleRule)],
) -> Result<Option<i64>, AppError> {
    let now = muster_store::now();
    let mut wait = None;
    for (key, rule) in keys {
        let since = now - chrono::Duration::seconds(rule.window_s);
        let (count, oldest) = state.store.login_failures(key, since).await?;
        if let Some(s) = rule.retry_after(count, oldest, now) {
            wait = Some(wait.map_or(s, |w: i64| w.max(s)));
        }
    }
    Ok(wait)
}

fn too_many(seconds: i64) -> Response {
    AppError::rate_limited(
        format!("too many failed sign-ins; try again in {seconds} s"),
        u64::try_from(seconds).unwrap_or(1),
    )
    .into_response()
}

fn refused() -> AppError {
    AppError::new(ErrorCode::Unauthorized, "invalid username or password")
}

async fn security_event(
    state: &AppState,
    event_type: &str,
    severity: Severity,
    message: String,
    username: &str,
) {
    let event = NewEvent {
        cluster_id: None,
        node_id: None,
        event_type: event_type.to_owned(),
        category: EventCategory::Security,
        severity,
        message,
        details: serde_json::json!({"username": username.chars().take(64).collect::<String>()}),
        actor: "system".to_owned(),
    };
    if let Err(e) = state.store.record_event(&event).await {
        tracing::warn!(error = %e, "could not record a security event");
    }
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, description = "signed in; the session cookie is set", body = User),
        (status = 401, body = AppError), (status = 422, body = AppError),
        (status = 429, description = "too many failed sign-ins; see Retry-After", body = AppError)))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    session: Session,
    JsonBody(creds): JsonBody<Credentials>,
) -> Result<Response, AppError> {
    match authenticate(&state, addr, &session, &creds.username, &creds.password).await? {
        SignIn::Done(user) => Ok(Json(user).into_response()),
        SignIn::Throttled(seconds) => Ok(too_many(seconds)),
    }
}

/// The outcome of a sign-in that was judged.
pub enum SignIn {
    Done(User),
    /// Too many failures; try again after this many seconds.
    Throttled(i64),
}

/// Checks the credentials (throttled per account and address, refusals alike
/// and recorded) and, when they hold, starts a session under a new id.
///
/// # Errors
/// 401 for wrong credentials or a disabled user; 503 when hashing or the
/// session store is unavailable.
pub async fn authenticate(
    state: &AppState,
    addr: Option<std::net::IpAddr>,
    session: &Session,
    username: &str,
    password: &str,
) -> Result<SignIn, AppError> {
    let account = muster_domain::users::normalize_username(username)
        .unwrap_or_else(|_| username.chars().take(64).collect());
    let mut keys = vec![(format!("user:{account}"), ACCOUNT_THROTTLE)];
    if let Some(ip) = addr {
        keys.push((format!("addr:{ip}"), ADDRESS_THROTTLE));
    }
    if let Some(seconds) = throttled(state, &keys).await? {
        return Ok(SignIn::Throttled(seconds));
    }
    let found = state.store.user_credentials(username).await?;
    let hash = found.as_ref().map_or(DECOY_HASH, |(_, h)| h.as_str());
    let matches = state.hasher.verify(password, hash).await.map_err(|_| {
        AppError::new(
            ErrorCode::Unavailable,
            "sign-in is unavailable; try again shortly",
        )
    })?;
    match found {
        Some((user, _)) if matches && !user.disabled => {
            sign_in(session, &user).await?;
            let message = format!("User {} signed in", user.username);
            security_event(
                state,
                "login_succeeded",
                Severity::Info,
                message,
                &user.username,
            )
            .await;
            Ok(SignIn::Done(user))
        }
        Some((user, _)) if matches => {
            record_failure(state, &keys).await;
            let message = format!("Sign-in refused: user {} is disabled", user.username);
            security_event(
                state,
                "login_failed",
                Severity::Warning,
                message,
                &user.username,
            )
            .await;
            Err(refused())
        }
        _ => {
            record_failure(state, &keys).await;
            let message = "Sign-in failed: wrong username or password".to_owned();
            security_event(state, "login_failed", Severity::Warning, message, username).await;
            Err(refused())
        }
    }
}

async fn record_failure(state: &AppState, keys: &[(String, ThrottleRule)]) {
    let keys: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    if let Err(e) = state
        .store
        .record_login_failure(&keys, muster_store::now())
        .await
    {
        tracing::warn!(error = %e, "could not count a failed sign-in");
    }
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(session: Session) -> Result<StatusCode, AppError> {
    sign_out(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, body = User), (status = 401, body = AppError)))]
pub async fn me(user: MaybeUser) -> Result<Json<User>, AppError> {
    user.required().map(Json)
}

#[utoipa::path(post, path = "/tokens", tag = "auth", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 401, body = AppError), (status = 422, body = AppError)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(ops::create_token(&state, &caller, &req.name).await?),
    ))
}

#[utoipa::path(get, path = "/tokens", tag = "auth",
    responses((status = 200, body = Vec<muster_domain::users::ApiToken>), (status = 401, body = AppError)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<muster_domain::users::ApiToken>>, AppError> {
    Ok(Json(ops::list_tokens(&state, &caller).await?))
}

#[utoipa::path(delete, path = "/tokens/{id}", tag = "auth", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = AppError), (status = 404, body = AppError)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, AppError> {
    ops::revoke_token(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::DECOY_HASH;

    #[tokio::test]
    async fn the_decoy_hash_is_well_formed_and_matches_nothing_typed() {
        let h = crate::server::auth::passwords::PasswordHasher::new();
        assert!(argon2::password_hash::PasswordHash::new(DECOY_HASH).is_ok());
        assert!(!h.verify("", DECOY_HASH).await.expect("verify"));
        assert!(!h.verify("admin", DECOY_HASH).await.expect("verify"));
    }
}
