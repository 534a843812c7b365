//! The embedded SQLite store (WAL mode). Times are INTEGER milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    use crate::shared::batch::{
        NodeRow, SampleRow, deliver_pending, json_param, sample_columns, stored_processes,
    };

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

    /// Whether generated statements number their placeholders. SQLite binds
    /// plain `?` in order; a statement with thousands of `$N` would spend its
    /// time looking each name up (the lookup walks every name).
    pub const NUMBERED_PARAMS: bool = false;

    /// How times are bound.
    pub type Time = i64;

    pub fn time(t: DateTime<Utc>) -> Time {
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

    /// The metrics job's transaction needs no settings of its own.
    pub const JOB_SETTINGS: Option<&str> = None;

    /// Background jobs need no lock: SQLite has one writer, and one server.
    pub const TRY_JOB_LOCK: Option<&str> = None;

    /// Whether write transactions run side by side. SQLite's take turns, so
    /// a heartbeat batch judges and writes everything in one pass.
    pub const CONCURRENT_WRITERS: bool = false;

    /// Row locks a heartbeat batch takes on its nodes without waiting: none
    /// needed, the transaction holds the database.
    pub const LOCK_NOW_OR_SKIP: &str = "";

    /// A cluster's health check interval in seconds, read from its `config`.
    pub const HEALTH_INTERVAL_S: &str = "json_extract(config, '$.health_check_interval_s')";

    /// `column` is one of the elements of the JSON array parameter `param`.
    pub fn in_json_list(column: &str, param: &str) -> String {
        format!("{column} IN (SELECT value FROM json_each({param}))")
    }

    /// The JSON array of objects in parameter `param` as a table `alias`
    /// whose columns are the objects' keys.
    pub fn json_rows(param: &str, alias: &str, cols: &[&str]) -> String {
        let cols: Vec<String> = cols
            .iter()
            // Every value is read as the SQL value it holds.
            .map(|name| format!("j ->> '{name}' AS {name}"))
            .collect();
        // Each element is read once (the LIMIT keeps the inner query from
        // being merged into the outer, which would read it per column).
        format!(
            "(SELECT {} FROM (SELECT value AS j FROM json_each({param}) LIMIT -1)) AS {alias}",
            cols.join(", ")
        )
    }

    /// The entries of the JSON object `expr` as a table `alias(key, value)`.
    pub fn json_entries(expr: &str, alias: &str) -> String {
        format!("json_each({expr}) AS {alias}")
    }

    /// An aggregate: each row's `exprs` as a JSON array, every row's in one
    /// JSON array (text; `[]` for none).
    pub fn json_agg(exprs: &str) -> String {
        format!("json_group_array(json_array({exprs}))")
    }

    /// Commits, then hands the changes to this process's subscribers (the
    /// only ones there are: one server owns a SQLite database).
    pub async fn commit_and_publish(
        tx: sqlx::Transaction<'_, Db>,
        feed: &crate::changes::Feed,
        changes: Vec<crate::changes::Change>,
    ) -> Result<(), StoreError> {
        let _in_order = feed.in_order().await;
        tx.commit().await?;
        feed.publish(changes.into());
        Ok(())
    }

    /// Publishes changes made outside a transaction.
    pub async fn publish_now(feed: &crate::changes::Feed, changes: Vec<crate::changes::Change>) {
        let _in_order = feed.in_order().await;
        feed.publish(changes.into());
    }

    /// Writes a heartbeat batch's node rows and samples, and marks the
    /// pending operations of the `answered` nodes delivered: the operations'
    /// rows, for [`delivered_from_rows`](super).
    pub async fn write_batch(
        conn: &mut Conn,
        rows: &[(NodeRow<'_, Time>, bool)],
        samples: &[SampleRow<'_, Time>],
        answered: &std::collections::BTreeSet<&str>,
        now: Time,
    ) -> Result<Vec<Row>, StoreError> {
        update_node_rows(conn, rows).await?;
        insert_samples(conn, samples).await?;
        if answered.is_empty() {
            return Ok(Vec::new());
        }
        let sql = deliver_pending("$1", &in_json_list("node_id", "$2"));
        Ok(sqlx::query(&sql)
            .bind(now)
            .bind(json_param(answered))
            .fetch_all(conn)
            .await?)
    }

    /// Writes the batch's node rows, up to 128 per statement (bound values:
    /// rows of kilobytes cost SQLite far more to read from JSON). Rows whose
    /// status and health stay as they were leave those columns out of the
    /// statement, so their indexes are not rewritten on every heartbeat.
    async fn update_node_rows(
        conn: &mut Conn,
        rows: &[(NodeRow<'_, Time>, bool)],
    ) -> Result<(), StoreError> {
        // VALUES columns are named column1….
        const SAMPLE: &str = "updated_at = v.column2, last_heartbeat_at = v.column2, last_seq = v.column3,
            last_cpu_percent = v.column4, last_memory_percent = v.column5, last_disk_percent = v.column6,
            last_sample_at = v.column7, system_info = v.column8, processes = v.column9";
        const JUDGED: &str = ", status = v.column10, health_status = v.column11,
            status_changed_at = CASE WHEN cluster_nodes.status = v.column10
                THEN cluster_nodes.status_changed_at ELSE v.column2 END";
        let (judged, steady): (Vec<_>, Vec<_>) = rows.iter().partition(|(_, judged)| *judged);
        for (rows, with_status) in [(steady, false), (judged, true)] {
            let (width, set) = if with_status { (11, JUDGED) } else { (9, "") };
            for (piece, size) in crate::shared::pieces(&rows) {
                let sql = format!(
                    "UPDATE cluster_nodes SET {SAMPLE}{set} FROM (VALUES {}) AS v WHERE cluster_nodes.id = v.column1",
                    crate::shared::value_tuples(NUMBERED_PARAMS, size, width)
                );
                let mut q = sqlx::query(&sql);
                for (row, _) in piece {
                    q = q
                        .bind(Some(row.id))
                        .bind(row.at)
                        .bind(row.seq)
                        .bind(row.cpu)
                        .bind(row.mem)
                        .bind(row.disk)
                        .bind(row.sampled)
                        .bind(json_param(row.system))
                        .bind(stored_processes(row.processes));
                    if with_status {
                        q = q.bind(row.status).bind(row.health);
                    }
                }
                if let Some((pad, _)) = piece.first() {
                    // Rows with no id update nothing.
                    for _ in piece.len()..size {
                        q = q
                            .bind(None::<&str>)
                            .bind(pad.at)
                            .bind(pad.seq)
                            .bind(pad.cpu)
                            .bind(pad.mem)
                            .bind(pad.disk)
                            .bind(pad.sampled)
                            .bind(None::<String>)
                            .bind(None::<String>);
                        if with_status {
                            q = q.bind(pad.status).bind(pad.health);
                        }
                    }
                }
                q.execute(&mut *conn).await?;
            }
        }
        Ok(())
    }

    /// Inserts a batch's metric samples in one statement, a row each.
    async fn insert_samples(
        conn: &mut Conn,
        rows: &[SampleRow<'_, Time>],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let metrics = muster_domain::metrics::STANDARD_METRICS.join(", ");
        let sql = format!(
            "INSERT INTO cluster_metrics (cluster_id, node_id, recorded_at, {metrics})
             SELECT v.cluster, v.node, v.at, {metrics} FROM {}",
            json_rows("$1", "v", &sample_columns()),
        );
        sqlx::query(&sql)
            .bind(json_param(rows))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// How JSON documents are bound.
    pub type JsonValue = String;

    pub fn json<T: Serialize + ?Sized>(v: &T) -> JsonValue {
        // Serialising plain data to a string cannot fail.
        serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
    }

    pub fn get_json<T: DeserializeOwned>(row: &Row, column: &'static str) -> Result<T, StoreError> {
        serde_json::from_str(row.try_get::<&str, _>(column)?)
            .map_err(|e| StoreError::corrupt(column, e))
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
    /// Heartbeat batches are written on the writer's connection too.
    heartbeats: SqlitePool,
    /// Set by the checkpointer when the WAL should start over; the writer
    /// does that between two heartbeat batches (see [`checkpoint_wal`]).
    restart_due: Arc<AtomicBool>,
    /// Committed changes, to this process's subscribers.
    feed: crate::changes::Feed,
}

/// How long a statement waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL frames (pages) beyond which the WAL is made to start over. It
/// normally does so by itself: the first write after a checkpoint that copied
/// every frame starts at the WAL's beginning. Under steady writes the writer
/// is nearly always inside a transaction when a checkpoint ends, so it may
/// not. Each restart holds the writer for a sync of the database, which took
/// from 5 to 130 ms here; at 5,000 heartbeats/s (about 18,000 frames/s) the
/// earlier 16 Ki frames brought one every second and that sync set the p99.
/// 128 Ki pages are 512 MiB (PostgreSQL's own default `max_wal_size` is
/// 1 GiB), below the 1 GiB `journal_size_limit`, so a restart leaves the
/// file's size alone.
const WAL_FRAMES_MAX: i64 = 131_072;
/// A restart is asked for once a checkpoint pass copied fewer frames than
/// this: the checkpointer has caught up with the writer, so the restart
/// itself (which holds the writer) has little left to copy and sync.
const RESTART_BELOW: i64 = 256;
/// Checkpoint passes run back to back, at most, to catch up before a restart.
const CATCH_UP_PASSES: u32 = 8;

/// What one checkpoint did.
struct Checkpointed {
    /// False when it could not finish (a lock was held, or a reader).
    finished: bool,
    /// Frames in the WAL.
    frames: i64,
    /// Frames of the WAL copied into the database so far.
    copied: i64,
}

/// One checkpoint in `mode`.
async fn checkpoint<'c>(
    conn: impl sqlx::SqliteExecutor<'c>,
    mode: &str,
) -> Result<Checkpointed, sqlx::Error> {
    use sqlx::Row as _;
    let row = sqlx::query(&format!("PRAGMA wal_checkpoint({mode})"))
        .fetch_one(conn)
        .await?;
    // Columns: busy, frames in the WAL, frames copied.
    let (busy, frames, copied): (i64, i64, i64) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    Ok(Checkpointed {
        finished: busy == 0,
        frames,
        copied,
    })
}

/// Copies committed pages from the WAL into the database every
/// [`CHECKPOINT_EVERY`] on a connection of its own, alongside the writer
/// rather than inside its commits; stops when the store closes.
///
/// When the WAL is long it catches up with the writer (passes back to back
/// until one copies little) and then asks for a restart, which the writer
/// connection runs between two heartbeat batches. The restart holds the
/// writer while it copies and syncs what is left, so it comes when little is:
/// asked for after a routine pass, it found a few thousand frames written
/// meanwhile and held heartbeats for about 90 ms. (A `RESTART` from this
/// connection would hold the write lock while the writer sleeps in its busy
/// handler, in steps of up to 100 ms.)
async fn checkpoint_wal(checkpoints: SqlitePool, writer: SqlitePool, restart_due: Arc<AtomicBool>) {
    // Frames copied by the previous pass, when the WAL has not started over since.
    let mut copied_before = 0;
    while !writer.is_closed() {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        for pass in 1..=CATCH_UP_PASSES {
            match checkpoint(&checkpoints, "PASSIVE").await {
                Ok(c) => {
                    let this_pass = if c.copied >= copied_before {
                        c.copied - copied_before
                    } else {
                        c.copied
                    };
                    copied_before = c.copied;
                    if c.frames <= WAL_FRAMES_MAX || !c.finished {
                        break;
                    }
                    if this_pass < RESTART_BELOW || pass == CATCH_UP_PASSES {
                        restart_due.store(true, Ordering::Relaxed);
                        break;
                    }
                }
                Err(e) => {
                    if !writer.is_closed() {
                        tracing::warn!(error = %one_line(&e), "WAL checkpoint failed");
                    }
                    break;
                }
            }
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
            .busy_timeout(BUSY_TIMEOUT);
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
                    // A WAL that grew under a burst shrinks back when it starts
                    // over; one that restarts at WAL_FRAMES_MAX (512 MiB) is left
                    // alone, as cutting it back held the writer for ~20 ms.
                    .pragma("journal_size_limit", "1073741824");
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
        let restart_due = Arc::new(AtomicBool::new(false));
        let pool = if max_connections > 1 {
            let checkpoints = open(1).await.map_err(cannot_open)?;
            tokio::spawn(checkpoint_wal(
                checkpoints,
                writer.clone(),
                restart_due.clone(),
            ));
            open(max_connections).await.map_err(cannot_open)?
        } else {
            writer.clone()
        };
        Ok(Self {
            pool,
            heartbeats: writer.clone(),
            writer,
            restart_due,
            feed: crate::changes::Feed::new(),
        })
    }

    /// Nothing runs for the feed on SQLite: commits publish directly.
    #[allow(clippy::unused_self)]
    fn stop_feed(&self) {}

    /// Starts the WAL over on the writer connection, between heartbeat
    /// batches, when the checkpointer asked for it. It does not wait: while
    /// the checkpointer is copying (it holds the checkpoint lock for tens of
    /// milliseconds) or a reader holds an old snapshot, the restart is left
    /// for a later batch.
    async fn after_batch(&self) {
        if !self.restart_due.swap(false, Ordering::Relaxed) {
            return;
        }
        let restarted = async {
            let mut conn = self.writer.acquire().await?;
            sqlx::query("PRAGMA busy_timeout = 0")
                .execute(&mut *conn)
                .await?;
            let outcome = checkpoint(&mut *conn, "RESTART").await;
            let timeout = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
            sqlx::query(&timeout).execute(&mut *conn).await?;
            Ok::<_, sqlx::Error>(outcome.is_ok_and(|c| c.finished))
        };
        match restarted.await {
            Ok(true) => {}
            Ok(false) => self.restart_due.store(true, Ordering::Relaxed),
            Err(e) => tracing::warn!(error = %one_line(&e), "WAL restart failed"),
        }
    }
}

impl_store!(SqliteStore, Backend::Sqlite);
