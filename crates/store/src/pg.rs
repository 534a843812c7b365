//! The PostgreSQL store, for production and several server replicas.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    use crate::shared::batch::{NodeRow, SampleRow, deliver_pending, json_param, stored_processes};

    pub type Row = sqlx::postgres::PgRow;
    pub type Conn = sqlx::PgConnection;
    pub type Db = sqlx::Postgres;
    pub type Pool = sqlx::PgPool;

    /// Tells row-level security what the rest of the transaction's caller may
    /// see (`muster_may_see` in the migrations reads it).
    pub async fn enter(conn: &mut Conn, scope: crate::Scope<'_>) -> Result<(), StoreError> {
        sqlx::query("SELECT set_config('muster.scope', $1, true)")
            .bind(scope.setting())
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Row locks for a read that precedes a write (PostgreSQL).
    pub const FOR_UPDATE: &str = " FOR UPDATE";

    /// Begins a write transaction and tells row-level security it may see
    /// everything, in one round trip.
    pub const BEGIN_WRITE: &str = "BEGIN; SELECT set_config('muster.scope', '*', true)";

    /// Whether generated statements number their placeholders (`$N`).
    pub const NUMBERED_PARAMS: bool = true;

    /// How times are bound.
    pub type Time = DateTime<Utc>;

    pub fn time(t: DateTime<Utc>) -> Time {
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

    /// Settings for the metrics job's transaction. Its aggregate of a
    /// minute's samples (a group per node) sorted on disk at the default
    /// `work_mem` and took twice as long (measured: 400 against 190 ms at
    /// 5,000 nodes); and it stays on one core, leaving the other to
    /// heartbeats rather than planning parallel workers.
    pub const JOB_SETTINGS: Option<&str> = Some(
        "SELECT set_config('work_mem', '64MB', true), set_config('max_parallel_workers_per_gather', '0', true)",
    );

    /// Replicas share the database: one runs a background job at a time.
    pub const TRY_JOB_LOCK: Option<&str> = Some("SELECT pg_try_advisory_xact_lock($1)");

    /// Whether write transactions run side by side. They do: a heartbeat
    /// batch first writes, without waiting on any lock, the heartbeats that
    /// change no status, and then the rest under their clusters' locks.
    pub const CONCURRENT_WRITERS: bool = true;

    /// Locks a heartbeat batch's node rows without waiting: a row another
    /// transaction holds is skipped (and its heartbeat written in the pass
    /// that takes cluster locks), so that pass never waits and never
    /// deadlocks with writers that lock a cluster before its nodes.
    pub const LOCK_NOW_OR_SKIP: &str = " FOR UPDATE SKIP LOCKED";

    /// A cluster's health check interval in seconds, read from its `config`.
    pub const HEALTH_INTERVAL_S: &str = "(config->>'health_check_interval_s')::bigint";

    /// `column` is one of the elements of the JSON array parameter `param`.
    /// As `= ANY` of an array, not `IN` of a subquery: a plan made while the
    /// table was small (a prepared statement keeps it) then still looks the
    /// ids up in the index instead of reading the whole table as it grows.
    pub fn in_json_list(column: &str, param: &str) -> String {
        format!("{column} = ANY (ARRAY(SELECT json_array_elements_text({param}::json)))")
    }

    /// The entries of the JSON object `expr` as a table `alias(key, value)`,
    /// values as text.
    pub fn json_entries(expr: &str, alias: &str) -> String {
        format!("jsonb_each_text({expr}) AS {alias}")
    }

    /// An aggregate: each row's `exprs` as a JSON array, every row's in one
    /// JSON array (text; `[]` for none).
    pub fn json_agg(exprs: &str) -> String {
        format!("COALESCE(json_agg(json_build_array({exprs}))::text, '[]')")
    }

    /// Commits, then hands the changes to this process's subscribers and
    /// leaves them for this replica's publisher, which sends them with
    /// `NOTIFY` to the other replicas' listeners. Not inside the transaction:
    /// a transaction that notifies holds a database-wide lock through its
    /// commit, and heartbeat batches would commit one at a time.
    pub async fn commit_and_publish(
        tx: sqlx::Transaction<'_, Db>,
        feed: &crate::changes::Feed,
        changes: Vec<crate::changes::Change>,
    ) -> Result<(), StoreError> {
        tx.commit().await?;
        publish_now(feed, changes).await;
        Ok(())
    }

    /// Publishes changes made outside a transaction.
    #[allow(clippy::unused_async)]
    pub async fn publish_now(feed: &crate::changes::Feed, changes: Vec<crate::changes::Change>) {
        let set: crate::changes::ChangeSet = changes.into();
        feed.publish(set.clone());
        feed.send_out(set);
    }

    pub(crate) async fn notify(conn: &mut Conn, payloads: &[String]) -> Result<(), StoreError> {
        if !payloads.is_empty() {
            sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
                .bind(crate::changes::CHANNEL)
                .bind(payloads)
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// Writes a heartbeat batch's node rows and samples, and marks the
    /// pending operations of the `answered` nodes delivered, in one
    /// statement (each a column of arrays, one statement whatever the
    /// batch's size): the operations' rows, for
    /// [`delivered_from_rows`](super). A statement costs PostgreSQL more than
    /// the rows it writes (locks, executor start-up, a round trip), so a
    /// batch is four: begin, read the states, this, commit.
    ///
    /// A row that keeps its status and health sets them to what they are;
    /// PostgreSQL sees the indexed columns unchanged, and the update stays
    /// HOT.
    pub async fn write_batch(
        conn: &mut Conn,
        rows: &[(NodeRow<'_, Time>, bool)],
        samples: &[SampleRow<'_, Time>],
        answered: &std::collections::BTreeSet<&str>,
        now: Time,
    ) -> Result<Vec<Row>, StoreError> {
        use muster_domain::metrics::STANDARD_METRICS;
        if rows.is_empty() && samples.is_empty() && answered.is_empty() {
            return Ok(Vec::new());
        }
        let metrics = STANDARD_METRICS.join(", ");
        let metric_arrays: Vec<String> = (0..STANDARD_METRICS.len())
            .map(|k| format!("${}::float8[]", 15 + k))
            .collect();
        let sql = format!(
            "WITH v AS (
                SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int8[], $4::float8[], $5::float8[],
                    $6::float8[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::text[])
                  AS v(id, at, seq, cpu, mem, disk, sampled, system_info, processes, status, health)
             ), nodes AS (
                UPDATE cluster_nodes n SET updated_at = v.at, last_heartbeat_at = v.at, last_seq = v.seq,
                    last_cpu_percent = v.cpu, last_memory_percent = v.mem, last_disk_percent = v.disk,
                    last_sample_at = v.sampled, system_info = v.system_info, processes = v.processes,
                    status = COALESCE(v.status, n.status),
                    health_status = COALESCE(v.health, n.health_status),
                    status_changed_at = CASE WHEN v.status IS NULL OR n.status = v.status
                        THEN n.status_changed_at ELSE v.at END
                FROM v WHERE n.id = v.id
             ), samples AS (
                INSERT INTO cluster_metrics (cluster_id, node_id, recorded_at, {metrics})
                SELECT * FROM unnest($12::text[], $13::text[], $14::timestamptz[], {})
             )
             {}",
            metric_arrays.join(", "),
            deliver_pending("$22", "node_id = ANY ($23::text[])"),
        );
        let mut q = sqlx::query(&sql)
            .bind(rows.iter().map(|(r, _)| r.id).collect::<Vec<_>>())
            .bind(rows.iter().map(|(r, _)| r.at).collect::<Vec<_>>())
            .bind(rows.iter().map(|(r, _)| r.seq).collect::<Vec<_>>())
            .bind(rows.iter().map(|(r, _)| r.cpu).collect::<Vec<_>>())
            .bind(rows.iter().map(|(r, _)| r.mem).collect::<Vec<_>>())
            .bind(rows.iter().map(|(r, _)| r.disk).collect::<Vec<_>>())
            .bind(rows.iter().map(|(r, _)| r.sampled).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|(r, _)| json_param(r.system))
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|(r, _)| stored_processes(r.processes))
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|(r, j)| j.then_some(r.status))
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|(r, j)| j.then_some(r.health))
                    .collect::<Vec<_>>(),
            )
            .bind(samples.iter().map(|s| s.cluster).collect::<Vec<_>>())
            .bind(samples.iter().map(|s| s.node).collect::<Vec<_>>())
            .bind(samples.iter().map(|s| s.at).collect::<Vec<_>>());
        for name in STANDARD_METRICS {
            q = q.bind(
                samples
                    .iter()
                    .map(|s| s.metrics.iter().find(|(n, _)| *n == name).map(|&(_, v)| v))
                    .collect::<Vec<_>>(),
            );
        }
        Ok(q.bind(now)
            .bind(answered.iter().copied().collect::<Vec<_>>())
            .fetch_all(conn)
            .await?)
    }

    /// How JSON documents are bound.
    pub type JsonValue = Json<serde_json::Value>;

    pub fn json<T: Serialize + ?Sized>(v: &T) -> JsonValue {
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
    /// Write transactions share the one pool on PostgreSQL…
    writer: PgPool,
    /// …except heartbeat batches, which have a connection of their own.
    heartbeats: HeartbeatLine,
    /// Committed changes: this replica's own, and the others' as its
    /// listener receives them.
    feed: crate::changes::Feed,
    /// The listener's and the publisher's tasks, stopped when the store
    /// closes (the listener holds a connection the pool would wait for).
    listener: tokio::task::AbortHandle,
    publisher: tokio::task::AbortHandle,
}

/// The role requests run as when none is configured; the migrations create it.
pub const DEFAULT_REQUEST_ROLE: &str = "muster_request";

/// Tables whose rows row-level security filters by the caller's scope.
const SCOPED_TABLES: [&str; 6] = [
    "clusters",
    "cluster_nodes",
    "cluster_events",
    "cluster_metrics",
    "cluster_metric_rollups",
    "cluster_join_tokens",
];

impl PgStore {
    fn stop_feed(&self) {
        self.listener.abort();
        self.publisher.abort();
    }

    /// Nothing to do between heartbeat batches on PostgreSQL.
    #[allow(clippy::unused_async)]
    async fn after_batch(&self) {}

    /// Connects, runs the migrations as the URL's user (under sqlx's advisory
    /// lock, so replicas starting together migrate once), seeds the built-in
    /// templates, and opens the request pool, whose connections switch to
    /// `request_role` so that row-level security applies to every request.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] with a one-line reason and no password,
    /// including when `request_role` could bypass row-level security.
    pub async fn connect(url: &DatabaseUrl, request_role: &str) -> Result<Self, StoreError> {
        let DatabaseUrl::Postgres { url: raw, .. } = url else {
            return Err(StoreError::Unavailable(format!(
                "{} is not a PostgreSQL URL",
                url.redacted()
            )));
        };
        let shown = url.redacted();
        if request_role.is_empty()
            || !request_role
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(StoreError::Unavailable(format!(
                "request role {request_role:?} is not a role name (lowercase letters, digits and _)"
            )));
        }
        let options = PgConnectOptions::from_str(raw).map_err(|e| {
            StoreError::Unavailable(format!(
                "database URL {shown} is malformed: {}",
                one_line(&e)
            ))
        })?;
        // One direct connection first, as the URL's user: the pool would retry a
        // refused connection until its timeout and then report only that it
        // timed out. It runs the migrations, which need the tables' owner.
        let mut owner = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
            Ok(Ok(conn)) => conn,
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
        };
        let migrated = MIGRATOR.run(&mut owner).await;
        let _ = owner.close().await;
        migrated.map_err(|e| {
            StoreError::Unavailable(format!("cannot migrate {shown}: {}", one_line(&e)))
        })?;
        let set_role = format!("SET ROLE {request_role}");
        let heartbeat_role = set_role.clone();
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // No ping before each use: a heartbeat batch is a handful of
            // round trips, and a connection the server dropped fails its
            // first statement anyway (the batch's agents retry).
            .test_before_acquire(false)
            .acquire_timeout(CONNECT_TIMEOUT)
            .after_connect(move |conn, _| {
                let set_role = set_role.clone();
                Box::pin(async move {
                    sqlx::query(&set_role).execute(&mut *conn).await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot connect to {shown} as request role {request_role}: {}",
                    one_line(&e)
                ))
            })?;
        if let Some(problem) = request_role_problem(&pool).await? {
            pool.close().await;
            return Err(StoreError::Unavailable(format!(
                "refusing to serve {shown}: {problem}"
            )));
        }
        seed_templates!(pool).await?;
        let (feed, outbox) = crate::changes::Feed::with_outbox();
        let origin: Arc<str> = crate::changes::new_origin().into();
        let listener = listen_for_changes(pool.clone(), feed.clone(), origin.clone()).await?;
        let publisher = tokio::spawn(publish_changes(pool.clone(), feed.clone(), outbox, origin))
            .abort_handle();
        let heartbeats = HeartbeatLine::new(options, heartbeat_role);
        Ok(Self {
            writer: pool.clone(),
            heartbeats,
            pool,
            feed,
            listener,
            publisher,
        })
    }
}

/// The connection heartbeat batches are written on: one, kept open, as the
/// request role, that never waits for the WAL flush (a batch may lose its
/// last fraction of a second to a database crash, as SQLite's
/// `synchronous = NORMAL` may to a power cut; never a torn batch). The
/// server writes one batch at a time. Held here rather than taken from a
/// pool: a pooled connection goes back to its pool in a task of its own,
/// which under load waits its turn behind the HTTP requests, and the next
/// batch waited for it (about 0.6 ms of a 3 ms batch); from the shared pool
/// the batches went round all sixteen backends, each with cold caches.
struct HeartbeatLine {
    options: PgConnectOptions,
    set_role: String,
    conn: tokio::sync::Mutex<Option<sqlx::PgConnection>>,
    /// Set when a batch failed: the connection is replaced before the next.
    broken: AtomicBool,
}

/// The heartbeat connection, held for one batch.
struct HeldLine<'a> {
    conn: tokio::sync::MappedMutexGuard<'a, sqlx::PgConnection>,
    broken: &'a AtomicBool,
}

impl std::ops::Deref for HeldLine<'_> {
    type Target = sqlx::PgConnection;
    fn deref(&self) -> &sqlx::PgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for HeldLine<'_> {
    fn deref_mut(&mut self) -> &mut sqlx::PgConnection {
        &mut self.conn
    }
}

impl HeldLine<'_> {
    /// Opens a new connection for the next batch (as a pooled
    /// connection's `close_on_drop` does).
    fn close_on_drop(&mut self) {
        self.broken.store(true, Ordering::Relaxed);
    }
}

impl HeartbeatLine {
    fn new(options: PgConnectOptions, set_role: String) -> Self {
        Self {
            options,
            set_role,
            conn: tokio::sync::Mutex::new(None),
            broken: AtomicBool::new(false),
        }
    }

    /// The connection, opened first where there is none (or the last
    /// batch failed); waits while another batch holds it.
    async fn acquire(&self) -> Result<HeldLine<'_>, sqlx::Error> {
        let mut slot = self.conn.lock().await;
        if self.broken.swap(false, Ordering::Relaxed)
            && let Some(old) = slot.take()
        {
            let _ = old.close().await;
        }
        if slot.is_none() {
            let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, self.options.connect())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)??;
            sqlx::query(&self.set_role).execute(&mut conn).await?;
            sqlx::query("SET synchronous_commit = off")
                .execute(&mut conn)
                .await?;
            *slot = Some(conn);
        }
        let conn = tokio::sync::MutexGuard::try_map(slot, Option::as_mut)
            .map_err(|_| sqlx::Error::PoolClosed)?;
        Ok(HeldLine {
            conn,
            broken: &self.broken,
        })
    }

    async fn close(&self) {
        if let Some(conn) = self.conn.lock().await.take() {
            let _ = conn.close().await;
        }
    }
}

/// Most changes one publishing statement carries.
const PUBLISH_MAX: usize = 20_000;

/// Sends this replica's committed changes with `NOTIFY`, tagged with
/// `origin`, in the order they were committed, in as few statements as they
/// allow: whatever waits in the outbox goes in one. Its connection does not
/// wait for the WAL flush (a notification is not data to keep). Changes it
/// could not send are followed by [`Change::Lost`](crate::Change::Lost).
async fn publish_changes(
    pool: PgPool,
    feed: crate::changes::Feed,
    mut outbox: tokio::sync::mpsc::Receiver<crate::changes::ChangeSet>,
    origin: Arc<str>,
) {
    let mut conn: Option<sqlx::PgConnection> = None;
    let mut lost = false;
    while let Some(first) = outbox.recv().await {
        let mut count = first.len();
        let mut sets = vec![first];
        while count < PUBLISH_MAX {
            match outbox.try_recv() {
                Ok(more) => {
                    count += more.len();
                    sets.push(more);
                }
                Err(_) => break,
            }
        }
        let missed =
            (std::mem::take(&mut lost) | feed.take_overflow()).then_some(&crate::Change::Lost);
        let payloads =
            crate::changes::payloads(&origin, sets.iter().flat_map(|s| s.iter()).chain(missed));
        let sent = async {
            if conn.is_none() {
                let mut fresh = pool.acquire().await?.detach();
                sqlx::query("SET synchronous_commit = off")
                    .execute(&mut fresh)
                    .await?;
                conn = Some(fresh);
            }
            match conn.as_mut() {
                Some(c) => dialect::notify(c, &payloads).await,
                None => Ok(()),
            }
        };
        if let Err(e) = sent.await {
            tracing::warn!(error = %one_line(&e), "cannot publish changes; listeners will resync");
            conn = None;
            lost = true;
            tokio::time::sleep(LISTEN_RETRY).await;
        }
    }
}

/// How long the listener waits before connecting again after losing its
/// connection.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Starts the task that receives the other replicas' change notifications
/// (those tagged `origin` are this one's own, already delivered) and hands
/// them to `feed`'s subscribers. It is listening when this returns, so
/// no change committed afterwards is missed. After losing its connection it
/// connects again and publishes [`Change::Lost`](crate::Change::Lost): what
/// was committed in between was not received.
async fn listen_for_changes(
    pool: PgPool,
    feed: crate::changes::Feed,
    origin: Arc<str>,
) -> Result<tokio::task::AbortHandle, StoreError> {
    use sqlx::postgres::PgListener;
    async fn listening(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(crate::changes::CHANNEL).await?;
        Ok(listener)
    }
    let first = listening(&pool).await.map_err(|e| {
        StoreError::Unavailable(format!("cannot listen for changes: {}", one_line(&e)))
    })?;
    let task = tokio::spawn(async move {
        let mut listener = Some(first);
        loop {
            let Some(mut current) = listener.take() else {
                tokio::time::sleep(LISTEN_RETRY).await;
                match listening(&pool).await {
                    Ok(l) => {
                        feed.publish(Arc::from([crate::Change::Lost]));
                        listener = Some(l);
                    }
                    Err(e) => tracing::warn!(error = %one_line(&e), "cannot listen for changes"),
                }
                continue;
            };
            match current.try_recv().await {
                Ok(Some(n)) => {
                    if let Some(set) = crate::changes::from_payload(&origin, n.payload()) {
                        feed.publish(set);
                    }
                    listener = Some(current);
                }
                Ok(None) => {
                    tracing::warn!("lost the change listener's connection; reconnecting");
                }
                Err(e) => {
                    tracing::warn!(error = %one_line(&e), "change listener failed; reconnecting");
                }
            }
        }
    });
    Ok(task.abort_handle())
}

/// Why the pool's role would not be held back by row-level security, if it
/// would not: it is a superuser, has BYPASSRLS, owns a scoped table, or a
/// scoped table's security is off.
async fn request_role_problem(pool: &PgPool) -> Result<Option<String>, StoreError> {
    let (role, superuser, bypass): (String, bool, bool) = sqlx::query_as(
        "SELECT rolname::TEXT, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    if superuser || bypass {
        let what = if superuser {
            "a superuser"
        } else {
            "BYPASSRLS"
        };
        return Ok(Some(format!(
            "the request role {role} is {what}, so row-level security would not apply to requests"
        )));
    }
    let tables: Vec<(String, bool, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::TEXT, c.relrowsecurity, c.relforcerowsecurity,
                pg_has_role(current_user, c.relowner, 'USAGE')
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY($1)",
    )
    .bind(&SCOPED_TABLES[..])
    .fetch_all(pool)
    .await?;
    for name in SCOPED_TABLES {
        match tables.iter().find(|t| t.0 == name) {
            None => return Ok(Some(format!("table {name} is missing"))),
            Some((_, _, _, true)) => {
                return Ok(Some(format!(
                    "the request role {role} owns table {name}; requests must run as a role that does not"
                )));
            }
            Some((_, secure, forced, _)) if !secure || !forced => {
                return Ok(Some(format!(
                    "row-level security is not enabled and forced on table {name}"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

impl_store!(PgStore, Backend::Postgres);
