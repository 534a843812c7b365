//! The embedded SQLite store (WAL mode). Times are INTEGER milliseconds.

use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::shared::one_line;
use crate::{Backend, DatabaseUrl, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// What SQLite does differently; the shared queries reach it as `d`.
pub(crate) mod dialect {
    use chrono::{DateTime, Utc};
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use sqlx::Row as _;

    use crate::StoreError;

    pub type Row = sqlx::sqlite::SqliteRow;
    pub type Conn = sqlx::SqliteConnection;
    pub type Db = sqlx::Sqlite;
    pub type Pool = sqlx::SqlitePool;

    /// SQLite has no row-level security: the application's filter is the only one.
    #[allow(clippy::unused_async)]
    pub async fn enter(_conn: &mut Conn, _scope: crate::Scope<'_>) -> Result<(), StoreError> {
        Ok(())
    }

    /// Takes the write lock at once, so a transaction that reads before it
    /// writes never fails to upgrade its lock.
    /// No row locks: a write transaction already holds the database (SQLite).
    pub const FOR_UPDATE: &str = "";

    pub const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

    /// SQLite already commits heartbeat batches with `synchronous = NORMAL`.
    pub const RELAXED_COMMIT: Option<&str> = None;

    /// Whether generated statements number their placeholders. SQLite binds
    /// plain `?` in order; a statement with thousands of `$N` would spend its
    /// time looking each name up (the lookup walks every name).
    pub const NUMBERED_PARAMS: bool = false;

    pub fn time(t: DateTime<Utc>) -> i64 {
        t.timestamp_millis()
    }

    fn from_ms(column: &'static str, v: i64) -> Result<DateTime<Utc>, StoreError> {
        DateTime::from_timestamp_millis(v).ok_or_else(|| StoreError::corrupt(column, v))
    }

    pub fn get_time(row: &Row, column: &'static str) -> Result<DateTime<Utc>, StoreError> {
        from_ms(column, row.try_get(column)?)
    }

    pub fn get_opt_time(
        row: &Row,
        column: &'static str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<i64>, _>(column)?
            .map(|v| from_ms(column, v))
            .transpose()
    }

    /// The start of the minute / hour holding a time column, in the column's type.
    pub fn minute_of(column: &str) -> String {
        format!("(({column} / 60000) * 60000)")
    }

    pub fn hour_of(column: &str) -> String {
        format!("(({column} / 3600000) * 3600000)")
    }

    /// `column` is older than `days` (an SQL integer expression) before `$now`.
    pub fn older_than_days(column: &str, days: &str, now: &str) -> String {
        format!("{column} < {now} - ({days}) * 86400000")
    }

    /// A cluster's retention in days, read from its `config` document.
    pub const RETENTION_DAYS: &str = "CAST(json_extract(c.config, '$.retention_days') AS INTEGER)";

    /// Background jobs need no lock: SQLite has one writer, and one server.
    pub const TRY_JOB_LOCK: Option<&str> = None;

    pub fn json<T: Serialize + ?Sized>(v: &T) -> String {
        // Serialising plain data to a string cannot fail.
        serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
    }

    pub fn get_json<T: DeserializeOwned>(row: &Row, column: &'static str) -> Result<T, StoreError> {
        serde_json::from_str(row.try_get::<&str, _>(column)?)
            .map_err(|e| StoreError::corrupt(column, e))
    }

    pub fn get_opt_json<T: DeserializeOwned>(
        row: &Row,
        column: &'static str,
    ) -> Result<Option<T>, StoreError> {
        row.try_get::<Option<&str>, _>(column)?
            .map(|text| serde_json::from_str(text).map_err(|e| StoreError::corrupt(column, e)))
            .transpose()
    }
}

use dialect as d;

pub struct SqliteStore {
    pool: SqlitePool,
    /// Write transactions take turns on one connection: SQLite lets one
    /// write at a time anyway, waiting here is fair (a busy handler sleeps in
    /// steps of milliseconds), and the connection's page cache stays warm (a
    /// connection drops its cache whenever another one has written).
    writer: SqlitePool,
}

/// How often the checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL frames (pages) beyond which the checkpointer, having copied what it
/// could alongside the writer, holds writers back for the moment it takes to
/// copy the rest so that the next commit starts the WAL over. (Under steady
/// writes a checkpoint alone never catches up with the WAL's end, and the
/// file would grow.) 4 Ki pages are 16 MiB.
const WAL_FRAMES_MAX: i64 = 4_096;

/// Copies committed pages from the WAL into the database every
/// [`CHECKPOINT_EVERY`] on a connection of its own, alongside the writer
/// rather than inside its commits; stops when the store closes.
async fn checkpoint_wal(checkpoints: SqlitePool, writer: SqlitePool) {
    use sqlx::Row as _;
    while !writer.is_closed() {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        let outcome = match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&checkpoints)
            .await
        {
            // Columns: busy, frames in the WAL, frames copied.
            Ok(row) if row.try_get::<i64, _>(1).unwrap_or(0) > WAL_FRAMES_MAX => {
                sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&checkpoints)
                    .await
                    .map(drop)
            }
            other => other.map(drop),
        };
        if let Err(e) = outcome
            && !writer.is_closed()
        {
            tracing::warn!(error = %one_line(&e), "WAL checkpoint failed");
        }
    }
    checkpoints.close().await;
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, switches it to WAL, runs the
    /// migrations and seeds the built-in templates.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] with a one-line reason.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, StoreError> {
        let DatabaseUrl::Sqlite { path } = url else {
            return Err(StoreError::Unavailable(format!(
                "{} is not a SQLite URL",
                url.redacted()
            )));
        };
        let options = SqliteConnectOptions::new()
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let (options, max_connections) = match path {
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot create the database directory {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
                let options = options
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    // 64 MiB of page cache per connection (the default is 2 MiB):
                    // the heartbeat writer touches every node's row each interval.
                    .pragma("cache_size", "-65536")
                    // Statement journals (multi-row statements inside a
                    // transaction) in memory, not in temporary files.
                    .pragma("temp_store", "memory")
                    // Committing transactions never stop to copy the WAL into
                    // the database: the checkpointer does, on its own thread.
                    .pragma("wal_autocheckpoint", "0")
                    // A WAL that grew under a burst shrinks back when it starts over.
                    .pragma("journal_size_limit", "67108864");
                (options, 8)
            }
            None => (options.in_memory(true), 1),
        };
        let open = |connections: u32| {
            SqlitePoolOptions::new()
                .max_connections(connections)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.clone())
        };
        let cannot_open = |e: sqlx::Error| {
            StoreError::Unavailable(format!("cannot open {}: {}", url.redacted(), one_line(&e)))
        };
        let writer = open(1).await.map_err(cannot_open)?;
        MIGRATOR.run(&writer).await.map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot migrate {}: {}",
                url.redacted(),
                one_line(&e)
            ))
        })?;
        seed_templates!(writer).await?;
        // Every connection to :memory: is its own database: there, the one
        // connection reads and writes.
        let pool = if max_connections > 1 {
            let checkpoints = open(1).await.map_err(cannot_open)?;
            tokio::spawn(checkpoint_wal(checkpoints, writer.clone()));
            open(max_connections).await.map_err(cannot_open)?
        } else {
            writer.clone()
        };
        Ok(Self { pool, writer })
    }
}

impl_store!(SqliteStore, Backend::Sqlite);
