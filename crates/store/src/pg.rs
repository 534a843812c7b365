//! The PostgreSQL store, for production and several server replicas.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::shared::one_line;
use crate::{Backend, DatabaseUrl, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What PostgreSQL does differently; the shared queries reach it as `d`.
pub(crate) mod dialect {
    use chrono::{DateTime, Utc};
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use sqlx::Row as _;
    use sqlx::types::Json;

    use crate::StoreError;

    pub type Row = sqlx::postgres::PgRow;
    pub type Conn = sqlx::PgConnection;

    pub const BEGIN_WRITE: &str = "BEGIN";

    pub fn time(t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }

    pub fn get_time(row: &Row, column: &'static str) -> Result<DateTime<Utc>, StoreError> {
        Ok(row.try_get(column)?)
    }

    pub fn get_opt_time(
        row: &Row,
        column: &'static str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(row.try_get(column)?)
    }

    /// The start of the minute / hour holding a time column, in UTC whatever
    /// the session's time zone.
    pub fn minute_of(column: &str) -> String {
        format!("(date_trunc('minute', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')")
    }

    pub fn hour_of(column: &str) -> String {
        format!("(date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')")
    }

    /// `column` is older than `days` (an SQL integer expression) before `$now`.
    pub fn older_than_days(column: &str, days: &str, now: &str) -> String {
        format!("{column} < {now} - make_interval(days => CAST({days} AS INTEGER))")
    }

    /// A cluster's retention in days, read from its `config` document.
    pub const RETENTION_DAYS: &str = "CAST(c.config->>'retention_days' AS INTEGER)";

    /// Replicas share the database: one runs a background job at a time.
    pub const TRY_JOB_LOCK: Option<&str> = Some("SELECT pg_try_advisory_xact_lock($1)");

    pub fn json<T: Serialize + ?Sized>(v: &T) -> Json<serde_json::Value> {
        Json(serde_json::to_value(v).unwrap_or(serde_json::Value::Null))
    }

    pub fn get_json<T: DeserializeOwned>(row: &Row, column: &'static str) -> Result<T, StoreError> {
        let value: Json<serde_json::Value> = row.try_get(column)?;
        serde_json::from_value(value.0).map_err(|e| StoreError::corrupt(column, e))
    }
}

use dialect as d;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects, runs the migrations (under sqlx's advisory lock, so replicas
    /// starting together migrate once) and seeds the built-in templates.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] with a one-line reason and no password.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, StoreError> {
        let DatabaseUrl::Postgres { url: raw, .. } = url else {
            return Err(StoreError::Unavailable(format!(
                "{} is not a PostgreSQL URL",
                url.redacted()
            )));
        };
        let shown = url.redacted();
        let options = PgConnectOptions::from_str(raw).map_err(|e| {
            StoreError::Unavailable(format!(
                "database URL {shown} is malformed: {}",
                one_line(&e)
            ))
        })?;
        // One direct connection first: the pool would retry a refused connection
        // until its timeout and then report only that it timed out.
        match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(e)) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to {shown}: {}",
                    one_line(&e)
                )));
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to {shown}: no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to {shown}: {}", one_line(&e)))
            })?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            StoreError::Unavailable(format!("cannot migrate {shown}: {}", one_line(&e)))
        })?;
        seed_templates!(pool).await?;
        Ok(Self { pool })
    }
}

impl_store!(PgStore, Backend::Postgres);
