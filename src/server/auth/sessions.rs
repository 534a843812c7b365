//! tower-sessions backed by Muster's own store (both databases), and the
//! signed-in user of a request.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};
use muster_domain::users::User;
use muster_store::{SessionRecord, Store};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::api::{AppError, ErrorCode};
use crate::server::AppState;

/// Sessions end after this long without a request…
pub const IDLE_TIMEOUT_MINUTES: i64 = 30;
/// …and this long after signing in, whatever happens.
pub const ABSOLUTE_TIMEOUT_HOURS: i64 = 12;
/// The cookie's name.
pub const COOKIE: &str = "muster_session";

const USER_KEY: &str = "user_id";
const SIGNED_IN_KEY: &str = "signed_in_at";
const SEEN_KEY: &str = "seen_at";

/// Session records in the `sessions` table.
#[derive(Clone)]
pub struct DbSessionStore {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbSessionStore")
    }
}

impl DbSessionStore {
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

fn to_chrono(t: time::OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_else(Utc::now)
}

fn to_time(t: DateTime<Utc>) -> Result<time::OffsetDateTime, session_store::Error> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp())
        .map_err(|e| session_store::Error::Decode(e.to_string()))
}

fn backend(e: &muster_store::StoreError) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn to_row(record: &Record) -> Result<SessionRecord, session_store::Error> {
    Ok(SessionRecord {
        id: record.id.to_string(),
        user_id: record
            .data
            .get(USER_KEY)
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        data: serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?,
        expires_at: to_chrono(record.expiry_date),
    })
}

#[async_trait::async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A colliding id (2^-128 odds) draws a new one rather than overwrite.
        loop {
            if self
                .store
                .session_create(&to_row(record)?)
                .await
                .map_err(|e| backend(&e))?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store
            .session_save(&to_row(record)?)
            .await
            .map_err(|e| backend(&e))
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(row) = self
            .store
            .session_load(&id.to_string(), muster_store::now())
            .await
            .map_err(|e| backend(&e))?
        else {
            return Ok(None);
        };
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&row.data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: to_time(row.expires_at)?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store
            .session_delete(&id.to_string())
            .await
            .map_err(|e| backend(&e))
    }
}

/// The session layer: `HttpOnly`, `SameSite=Lax`, `Secure` when `secure`, 30 min idle.
#[must_use]
pub fn layer(store: Arc<dyn Store>, secure: bool) -> SessionManagerLayer<DbSessionStore> {
    SessionManagerLayer::new(DbSessionStore::new(store))
        .with_name(COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            IDLE_TIMEOUT_MINUTES,
        )))
}

/// Starts a signed-in session for `user` under a new session id.
///
/// # Errors
/// 503 when the session cannot be stored.
pub async fn sign_in(session: &Session, user: &User) -> Result<(), AppError> {
    let now = muster_store::now();
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(USER_KEY, &user.id)
        .await
        .map_err(session_error)?;
    session
        .insert(SIGNED_IN_KEY, now)
        .await
        .map_err(session_error)?;
    session.insert(SEEN_KEY, now).await.map_err(session_error)?;
    Ok(())
}

/// Ends the session here and in the database.
///
/// # Errors
/// 503 when the session cannot be deleted.
pub async fn sign_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_error)
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(session_error)`
fn session_error(e: tower_sessions::session::Error) -> AppError {
    tracing::warn!(error = %e, "session store error");
    AppError::new(
        ErrorCode::Unavailable,
        "sessions are unavailable; try again shortly",
    )
}

/// The signed-in user of a request, if any: an enabled user whose session is
/// within both the idle and the absolute limit.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<User>);

impl MaybeUser {
    /// The user, if their role includes `role`.
    ///
    /// # Errors
    /// 401 when nobody is signed in, 403 when the role is not enough.
    pub fn with_role(self, role: muster_domain::users::Role) -> Result<User, AppError> {
        let user = self.required()?;
        if user.role.allows(role) {
            Ok(user)
        } else {
            Err(AppError::new(
                ErrorCode::Forbidden,
                format!("this needs the {role} role; you are {}", user.role),
            ))
        }
    }

    /// The user, or a 401 for an anonymous request.
    ///
    /// # Errors
    /// 401 when nobody is signed in.
    pub fn required(self) -> Result<User, AppError> {
        self.0
            .ok_or_else(|| AppError::new(ErrorCode::Unauthorized, "not signed in"))
    }

    /// Who a change is attributed to in the event log.
    #[must_use]
    pub fn actor(&self) -> String {
        match &self.0 {
            Some(u) => muster_domain::Actor::User(u.username.clone()).to_string(),
            None => "user:anonymous".to_owned(),
        }
    }
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // An API token, when one is presented, decides alone: a bad token is
        // a 401, never a fall-back to the session.
        if let Some(token) = bearer_token(&parts.headers)? {
            let hash = crate::server::tokens::hash_token(token);
            return match state.store.user_for_token(&hash).await? {
                Some(user) => Ok(Self(Some(user))),
                None => Err(AppError::new(
                    ErrorCode::Unauthorized,
                    "the API token is unknown or revoked",
                )),
            };
        }
        let Ok(session) = Session::from_request_parts(parts, state).await else {
            return Ok(Self(None));
        };
        current_user(&session, state.store.as_ref()).await.map(Self)
    }
}

/// The API token in `Authorization: Bearer …`, if the header is there.
///
/// # Errors
/// 401 when the header is there but holds no bearer token.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Result<Option<&str>, AppError> {
    let Some(header) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Some)
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::Unauthorized,
                "Authorization must be \"Bearer <API token>\"",
            )
        })
}

/// The session's user, checked against the limits; refreshes the idle timer
/// at most once a minute.
///
/// # Errors
/// 503 when the session or the store cannot be read.
pub async fn current_user(session: &Session, store: &dyn Store) -> Result<Option<User>, AppError> {
    let Some(user_id) = session
        .get::<String>(USER_KEY)
        .await
        .map_err(session_error)?
    else {
        return Ok(None);
    };
    let now = muster_store::now();
    let signed_in = session
        .get::<DateTime<Utc>>(SIGNED_IN_KEY)
        .await
        .map_err(session_error)?;
    if signed_in.is_none_or(|t| now - t > Duration::hours(ABSOLUTE_TIMEOUT_HOURS)) {
        sign_out(session).await?;
        return Ok(None);
    }
    let user = match store.get_user(&user_id).await {
        Ok(u) if !u.disabled => u,
        Ok(_) | Err(muster_store::StoreError::NotFound(_)) => {
            sign_out(session).await?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let seen = session
        .get::<DateTime<Utc>>(SEEN_KEY)
        .await
        .map_err(session_error)?;
    if seen.is_none_or(|t| now - t > Duration::minutes(1)) {
        session.insert(SEEN_KEY, now).await.map_err(session_error)?;
    }
    Ok(Some(user))
}
