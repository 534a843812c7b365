//! Muster's persistence: one [`Store`] trait with a SQLite and a PostgreSQL
//! implementation, chosen once at start-up from the database URL.

pub mod changes;
mod error;
pub mod events;
#[macro_use]
mod shared;
mod pg;
mod query;
mod sqlite;
pub mod testing;
mod url;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use muster_domain::metrics::MetricStep;
use muster_domain::operations::{
    Impact, OperationName, OperationQuery, OperationRecord, OperationReport, OperationSubject,
};
use muster_domain::protocol::{
    HeartbeatRequest, JoinToken, NodeRole, PendingOperation, SystemInfo,
};
use muster_domain::users::{ApiToken, Role, User};
use muster_domain::{
    Cluster, ClusterId, ClusterTally, ClusterUpdate, ConfigTemplate, Event, MetricPoint,
    NewCluster, NewEvent, NewNode, Node, NodeId, NodeStatusUpdate, Tenant,
};

pub use changes::{Change, ChangeSet};
pub use error::StoreError;
pub use muster_domain::query::{ClusterQuery, ClusterSort, EventQuery, MAX_PAGE, Page, page_size};
pub use pg::{DEFAULT_REQUEST_ROLE, PgStore};
pub use sqlite::SqliteStore;
pub use url::{DatabaseUrl, UrlError};

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What a store method returns: a boxed future, so the trait can be used as
/// `dyn Store` with the backend chosen at run time.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Everything Muster reads and writes. Each mutation writes its audit event in the
/// same transaction as the change it records.
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Checks that the database answers.
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// Closes the pool, waiting for connections in use to be returned.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;

    /// Committed changes from now on, one set per transaction in commit
    /// order — on PostgreSQL every replica's, on SQLite this process's. A
    /// subscriber that falls behind gets `Lagged` and should read the state
    /// again; so should one that receives [`Change::Lost`].
    fn changes(&self) -> tokio::sync::broadcast::Receiver<ChangeSet>;

    /// The clusters hosting any of `tenants`.
    fn clusters_hosting<'a>(&'a self, tenants: &'a [String]) -> StoreFuture<'a, Vec<ClusterId>>;

    fn list_templates(&self) -> StoreFuture<'_, Vec<ConfigTemplate>>;
    fn get_template<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ConfigTemplate>;

    /// Creates a cluster with a fresh id and records `cluster_created`.
    fn create_cluster<'a>(
        &'a self,
        new: &'a NewCluster,
        actor: &'a str,
    ) -> StoreFuture<'a, Cluster>;
    fn get_cluster<'a>(&'a self, id: &'a ClusterId) -> StoreFuture<'a, Cluster>;
    /// Clusters matching `q`, one page at a time.
    fn list_clusters<'a>(&'a self, q: &'a ClusterQuery) -> StoreFuture<'a, Page<Cluster>> {
        self.list_clusters_in(q, Scope::All)
    }
    /// Clusters matching `q` among those `scope` may see.
    fn list_clusters_in<'a>(
        &'a self,
        q: &'a ClusterQuery,
        scope: Scope<'a>,
    ) -> StoreFuture<'a, Page<Cluster>>;
    /// How the nodes of each of `ids` stand and which tenants each hosts, in
    /// the order of `ids` (a cluster that does not exist counts nothing).
    fn tally_clusters<'a>(&'a self, ids: &'a [ClusterId]) -> StoreFuture<'a, Vec<ClusterTally>>;
    /// Whether the cluster exists and `scope` may see it.
    fn cluster_visible<'a>(&'a self, id: &'a ClusterId, scope: Scope<'a>) -> StoreFuture<'a, bool>;
    /// Changes a cluster's description or configuration; limits may not drop
    /// below what the cluster holds. Records `cluster_config_updated`.
    fn update_cluster<'a>(
        &'a self,
        id: &'a ClusterId,
        update: &'a ClusterUpdate,
        actor: &'a str,
    ) -> StoreFuture<'a, Cluster>;
    /// Retires a cluster; refused while nodes are not decommissioned or tenants
    /// are hosted, unless `force` (which decommissions the nodes and moves the
    /// tenants off).
    fn decommission_cluster<'a>(
        &'a self,
        id: &'a ClusterId,
        force: bool,
        actor: &'a str,
    ) -> StoreFuture<'a, Cluster>;

    /// Adds a node with the cluster's next sequence number and records
    /// `node_added`; refused beyond `max_nodes` or `max_storage_gb`.
    fn add_node<'a>(
        &'a self,
        cluster_id: &'a ClusterId,
        node: &'a NewNode,
        token_hash: Option<&'a str>,
        actor: &'a str,
    ) -> StoreFuture<'a, Node>;
    fn get_node<'a>(&'a self, id: &'a NodeId) -> StoreFuture<'a, Node>;
    /// Applies an operator's status report (status, health override, metrics),
    /// records what changed and updates the cluster (score, status, failover).
    fn update_node_status<'a>(
        &'a self,
        id: &'a NodeId,
        update: &'a NodeStatusUpdate,
        actor: &'a str,
    ) -> StoreFuture<'a, Node>;
    /// Makes a node the primary (DESIGN.md rules: a candidate unless `force`;
    /// priority raised to at least 100; the term increments).
    fn promote_node<'a>(
        &'a self,
        id: &'a NodeId,
        force: bool,
        actor: &'a str,
    ) -> StoreFuture<'a, Cluster>;
    /// Decommissions (`remove` false: the row stays, retired) or removes a node,
    /// and updates the cluster (failover included).
    fn retire_node<'a>(
        &'a self,
        id: &'a NodeId,
        remove: bool,
        actor: &'a str,
    ) -> StoreFuture<'a, ()>;
    /// A cluster's nodes in sequence order.
    fn list_nodes<'a>(&'a self, cluster_id: &'a ClusterId) -> StoreFuture<'a, Vec<Node>>;

    /// Each node's latest report of its top processes (nodes that never
    /// reported are left out), in node order.
    fn node_processes<'a>(
        &'a self,
        of: ProcessesOf<'a>,
    ) -> StoreFuture<'a, Vec<muster_domain::processes::NodeProcesses>>;

    /// Writes an event on its own (changes write theirs inside their transaction).
    fn record_event<'a>(&'a self, event: &'a NewEvent) -> StoreFuture<'a, Event>;
    /// Events matching `q`, newest first, one page at a time.
    fn list_events<'a>(&'a self, q: &'a EventQuery) -> StoreFuture<'a, Page<Event>> {
        self.list_events_in(q, Scope::All)
    }
    /// Events matching `q` among those `scope` may see: a tenant-scoped caller
    /// sees only events of clusters hosting their tenants.
    fn list_events_in<'a>(
        &'a self,
        q: &'a EventQuery,
        scope: Scope<'a>,
    ) -> StoreFuture<'a, Page<Event>>;

    /// Records one sample of several metrics of a node (batched in one statement).
    fn record_metrics<'a>(
        &'a self,
        cluster_id: &'a ClusterId,
        node_id: &'a NodeId,
        metrics: &'a BTreeMap<String, f64>,
    ) -> StoreFuture<'a, u64>;
    /// A metric's history for a node between `since` and `until` at `step`.
    fn metric_history<'a>(
        &'a self,
        node_id: &'a NodeId,
        name: &'a str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        step: MetricStep,
    ) -> StoreFuture<'a, Vec<MetricPoint>>;

    /// A metric's history across a cluster's nodes between `since` and
    /// `until`, per minute or hour: each bucket's lowest and highest sample
    /// of any node and the mean of all of them. `Invalid` (`step`) for raw.
    fn cluster_metric_history<'a>(
        &'a self,
        cluster_id: &'a ClusterId,
        name: &'a str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        step: MetricStep,
    ) -> StoreFuture<'a, Vec<MetricPoint>>;

    /// One run of the metrics job: roll complete minutes and hours up, then
    /// drop raw samples past 48 h and rollups past their cluster's retention.
    /// `None` when another replica holds the job's lock.
    fn roll_up_metrics(&self, now: DateTime<Utc>) -> StoreFuture<'_, Option<RollupReport>>;

    fn count_users(&self) -> StoreFuture<'_, u64>;
    /// Creates a user (username normalised, tenants checked) and records
    /// `user_created`.
    fn create_user<'a>(&'a self, new: &'a NewUser, actor: &'a str) -> StoreFuture<'a, User>;
    /// A user and their password hash, for signing in; `None` when unknown.
    fn user_credentials<'a>(&'a self, username: &'a str)
    -> StoreFuture<'a, Option<(User, String)>>;
    /// Replaces a user's password hash and records `password_changed`.
    fn set_password<'a>(
        &'a self,
        username: &'a str,
        password_hash: &'a str,
        actor: &'a str,
    ) -> StoreFuture<'a, User>;
    fn list_users(&self) -> StoreFuture<'_, Vec<User>>;
    /// Changes a user's role, tenants or disabled flag; disabling ends their
    /// sessions. Records `user_updated`.
    fn update_user<'a>(
        &'a self,
        id: &'a str,
        update: &'a UserUpdate,
        actor: &'a str,
    ) -> StoreFuture<'a, User>;
    fn get_user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, User>;

    /// Creates an API token for a user from the hash of its secret.
    fn create_api_token<'a>(
        &'a self,
        user_id: &'a str,
        name: &'a str,
        token_hash: &'a str,
    ) -> StoreFuture<'a, ApiToken>;
    fn list_api_tokens<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<ApiToken>>;
    /// Revokes one of a user's tokens; `NotFound` when it is not theirs or is revoked.
    fn revoke_api_token<'a>(&'a self, user_id: &'a str, id: &'a str) -> StoreFuture<'a, ()>;
    /// The enabled user a live token belongs to (and notes its use).
    fn user_for_token<'a>(&'a self, token_hash: &'a str) -> StoreFuture<'a, Option<User>>;

    /// Stores a new session; `false` when the id is taken (the caller draws
    /// another).
    fn session_create<'a>(&'a self, session: &'a SessionRecord) -> StoreFuture<'a, bool>;
    fn session_save<'a>(&'a self, session: &'a SessionRecord) -> StoreFuture<'a, ()>;
    /// A session that has not expired by `now`.
    fn session_load<'a>(
        &'a self,
        id: &'a str,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Option<SessionRecord>>;
    fn session_delete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;
    /// Ends a user's sessions, but `except` (the caller's own); how many ended.
    fn sessions_end_for_user<'a>(
        &'a self,
        user_id: &'a str,
        except: Option<&'a str>,
    ) -> StoreFuture<'a, u64>;
    /// Counts a failed sign-in against each of `keys`.
    fn record_login_failure<'a>(
        &'a self,
        keys: &'a [String],
        at: DateTime<Utc>,
    ) -> StoreFuture<'a, ()>;
    /// Failed sign-ins of `key` since `since`: how many, and the oldest.
    fn login_failures<'a>(
        &'a self,
        key: &'a str,
        since: DateTime<Utc>,
    ) -> StoreFuture<'a, (u64, Option<DateTime<Utc>>)>;
    /// Deletes expired sessions; how many.
    fn sessions_prune(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64>;

    /// Creates a join token for a cluster that is not decommissioned and
    /// records `join_token_created`.
    fn create_join_token<'a>(
        &'a self,
        cluster_id: &'a ClusterId,
        name: &'a str,
        token_hash: &'a str,
        expires_at: Option<DateTime<Utc>>,
        actor: &'a str,
    ) -> StoreFuture<'a, JoinToken>;
    /// A cluster's join tokens, newest first, revoked ones included.
    fn list_join_tokens<'a>(&'a self, cluster_id: &'a ClusterId)
    -> StoreFuture<'a, Vec<JoinToken>>;
    /// Revokes a live join token; `NotFound` when it is not the cluster's or
    /// already revoked.
    fn revoke_join_token<'a>(
        &'a self,
        cluster_id: &'a ClusterId,
        id: &'a str,
        actor: &'a str,
    ) -> StoreFuture<'a, JoinToken>;
    /// Revokes a live join token and creates its replacement (same name, same
    /// lifetime) in one transaction.
    fn rotate_join_token<'a>(
        &'a self,
        cluster_id: &'a ClusterId,
        id: &'a str,
        token_hash: &'a str,
        actor: &'a str,
    ) -> StoreFuture<'a, JoinToken>;
    /// Trades a live join token for a new node of its cluster holding
    /// `node_token_hash`; `NotFound("join token")` when the token is unknown,
    /// revoked or expired.
    fn register_node<'a>(
        &'a self,
        join_token_hash: &'a str,
        node: &'a NewNode,
        system: &'a SystemInfo,
        node_token_hash: &'a str,
    ) -> StoreFuture<'a, Node>;

    /// The live node a node token belongs to, and its cluster.
    fn node_for_token<'a>(
        &'a self,
        token_hash: &'a str,
    ) -> StoreFuture<'a, Option<(NodeId, ClusterId)>>;
    /// Writes a batch of heartbeats in one transaction: metrics, liveness,
    /// health, host facts, processes and events per node, then each touched
    /// cluster's score, status and leadership once. On PostgreSQL, where
    /// writers run side by side, heartbeats that change a node's status or
    /// health (and those for nodes another transaction holds) follow in a
    /// second transaction that locks their clusters. A heartbeat whose
    /// sequence number was already committed writes nothing. One answer per
    /// heartbeat, in order; after an error for the whole batch some of it may
    /// have been written, and writing it again is safe.
    fn ingest_heartbeats<'a>(
        &'a self,
        batch: &'a [HeartbeatWrite],
    ) -> StoreFuture<'a, Vec<Result<HeartbeatAck, StoreError>>>;
    /// Marks silent nodes unreachable, then offline, and stale samples'
    /// health unknown (DESIGN.md liveness, with the start-up grace window),
    /// with events and failover. `None` when another replica is sweeping.
    fn sweep_liveness(
        &self,
        now: DateTime<Utc>,
        server_started_at: DateTime<Utc>,
    ) -> StoreFuture<'_, Option<SweepReport>>;

    fn create_tenant<'a>(&'a self, name: &'a str, actor: &'a str) -> StoreFuture<'a, Tenant>;
    fn list_tenants(&self) -> StoreFuture<'_, Vec<Tenant>>;
    fn cluster_tenants<'a>(&'a self, cluster_id: &'a ClusterId) -> StoreFuture<'a, Vec<Tenant>>;
    /// Hosts a tenant on a cluster (at most `max_tenants`).
    fn place_tenant<'a>(
        &'a self,
        cluster_id: &'a ClusterId,
        tenant_id: &'a str,
        actor: &'a str,
    ) -> StoreFuture<'a, Tenant>;
    fn remove_tenant<'a>(
        &'a self,
        cluster_id: &'a ClusterId,
        tenant_id: &'a str,
        actor: &'a str,
    ) -> StoreFuture<'a, ()>;

    /// Runs a catalog operation in one transaction with its history row and
    /// events: judges its impact on the cluster as it stands (a dry run stops
    /// there), refuses it while a guard objects and `force` is not set or the
    /// caller is over the operation's rate limit, then acts. Agent-side
    /// operations are queued for the node's next heartbeat. A run the cluster
    /// refuses (the node is already cordoned, say) is kept in the history as
    /// failed and returned as the error; bad parameters are only returned.
    fn run_operation<'a>(&'a self, run: &'a OperationRun) -> StoreFuture<'a, OperationOutcome>;
    /// The operations history matching `q` among the clusters `scope` may
    /// see, newest first.
    fn list_operations_in<'a>(
        &'a self,
        q: &'a OperationQuery,
        scope: Scope<'a>,
    ) -> StoreFuture<'a, Page<OperationRecord>>;
    /// An agent's report on an operation delivered to its node: finishes the
    /// run and records `operation_executed`. `NotFound` when the operation is
    /// not this node's; `Rejected` when it has already finished.
    fn report_operation<'a>(
        &'a self,
        node_id: &'a NodeId,
        id: i64,
        report: &'a OperationReport,
    ) -> StoreFuture<'a, OperationRecord>;
}

/// One operation to run, its request already checked against the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationRun {
    pub operation: OperationName,
    pub subject: OperationSubject,
    /// Validated, defaults filled in.
    pub params: serde_json::Map<String, serde_json::Value>,
    pub force: bool,
    pub dry_run: bool,
    /// `user:<name>`, as events name the caller.
    pub actor: String,
    /// The caller's user id, which the rate limit counts by.
    pub actor_id: String,
    /// The hash of the new node token (`rotate_node_token`).
    pub new_token_hash: Option<String>,
}

/// How a run went.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationOutcome {
    /// A dry run: what would happen.
    Planned(Impact),
    /// A guard objects and `force` was not set; nothing was done.
    Guarded(Impact),
    /// The caller ran too many operations of this class in the last minute.
    RateLimited { retry_after_s: u64 },
    /// Carried out (or, agent-side, queued).
    Done {
        record: Box<OperationRecord>,
        impact: Impact,
    },
}

/// Connects to the database `url` names, runs its migrations and seeds the
/// built-in templates.
///
/// # Errors
/// [`StoreError::Unavailable`] when the database cannot be reached or migrated,
/// with a one-line message that never contains the password.
pub async fn connect(url: &DatabaseUrl) -> Result<Arc<dyn Store>, StoreError> {
    connect_as(url, pg::DEFAULT_REQUEST_ROLE).await
}

/// [`connect`], serving requests on PostgreSQL as `request_role` (which must
/// be subject to row-level security; ignored on SQLite).
///
/// # Errors
/// As [`connect`], and when the role could bypass row-level security.
pub async fn connect_as(
    url: &DatabaseUrl,
    request_role: &str,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match url {
        DatabaseUrl::Sqlite { .. } => Arc::new(SqliteStore::connect(url).await?),
        DatabaseUrl::Postgres { .. } => Arc::new(PgStore::connect(url, request_role).await?),
    })
}

/// The current time at the precision both backends keep (milliseconds), so a
/// value written and read back compares equal on either.
#[must_use]
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Whose processes [`Store::node_processes`] reads.
#[derive(Debug, Clone, Copy)]
pub enum ProcessesOf<'a> {
    Cluster(&'a ClusterId),
    Node(&'a NodeId),
}

/// Changes to a user; absent fields stay.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserUpdate {
    pub role: Option<Role>,
    /// Tenant ids; an empty list makes the user unscoped.
    pub tenants: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

/// A user to create; the password is already hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub tenants: Vec<String>,
}

/// What a caller may see: everything, or the clusters hosting these tenants
/// (and only their nodes, events and metrics). It is a separate argument, never
/// part of a query a client sends, so a client cannot widen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    All,
    Tenants(&'a [String]),
}

impl Scope<'_> {
    /// SQL restricting `column` (a cluster id) to the scope, with tenant ids
    /// bound from `$first` on; empty for [`Scope::All`].
    pub(crate) fn clause(&self, column: &str, first: usize) -> String {
        match self {
            Scope::All => String::new(),
            Scope::Tenants([]) => " AND 1 = 0".to_owned(),
            Scope::Tenants(ids) => {
                let params: Vec<String> = (first..first + ids.len())
                    .map(|i| format!("${i}"))
                    .collect();
                format!(
                    " AND {column} IN (SELECT cluster_id FROM cluster_tenants WHERE tenant_id IN ({}))",
                    params.join(", ")
                )
            }
        }
    }

    /// The scope as PostgreSQL's row-level security reads it: `*` for
    /// everything, otherwise the tenant ids joined by commas (ids never contain
    /// one; an id that did would match nothing).
    pub(crate) fn setting(&self) -> String {
        match self {
            Scope::All => "*".to_owned(),
            Scope::Tenants(ids) => ids.join(","),
        }
    }

    pub(crate) fn tenant_ids(&self) -> &[String] {
        match self {
            Scope::All => &[],
            Scope::Tenants(ids) => ids,
        }
    }
}

/// A stored session: an opaque JSON document, its user and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: Option<String>,
    pub data: String,
    pub expires_at: DateTime<Utc>,
}

/// One heartbeat to write, from an authenticated node.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatWrite {
    pub node_id: NodeId,
    pub cluster_id: ClusterId,
    pub request: HeartbeatRequest,
    pub received_at: DateTime<Utc>,
}

/// What the agent is told after its heartbeat was committed.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatAck {
    /// The highest sequence number committed for the node.
    pub ack_seq: u64,
    pub role: NodeRole,
    pub term: u64,
    pub interval_s: u32,
    /// Agent-side operations delivered with this answer (marked delivered in
    /// the heartbeat's transaction).
    pub operations: Vec<PendingOperation>,
}

/// What one liveness sweep changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub unreachable: u64,
    pub offline: u64,
    pub health_changed: u64,
    /// Maintenance windows that reached their expiry.
    pub maintenance_ended: u64,
    /// Agent-side operations whose node never picked them up or reported.
    pub operations_timed_out: u64,
}

/// Advisory lock key of the liveness sweep on PostgreSQL ("muster-s").
const SWEEP_JOB_LOCK: i64 = 0x6d75_7374_6572_2d73;

/// What one run of the metrics job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupReport {
    pub minutes: u64,
    pub hours: u64,
    pub raw_deleted: u64,
    pub rollups_deleted: u64,
}

/// Finished rollups a single transaction of the metrics job writes on
/// SQLite, where heartbeats wait for it (a few milliseconds' work).
const ROLLUPS_PER_WRITE: usize = 1_000;
/// Expired samples or rollups a single transaction of the metrics job deletes on SQLite.
const DELETES_PER_WRITE: u64 = 10_000;

/// Advisory lock key of the metrics job on PostgreSQL ("muster-m").
const ROLLUP_JOB_LOCK: i64 = 0x6d75_7374_6572_2d6d;

/// How many times a freshly generated id is retried after a collision.
const ID_ATTEMPTS: usize = 5;
/// Whose samples a metric history combines.
#[derive(Debug, Clone, Copy)]
enum MetricSubject<'a> {
    Node(&'a str),
    /// The nodes the cluster has now.
    Cluster(&'a str),
}

impl<'a> MetricSubject<'a> {
    /// The SQL condition on `node_id`, with the id as `$1`.
    fn clause(self) -> &'static str {
        match self {
            Self::Node(_) => "node_id = $1",
            Self::Cluster(_) => "node_id IN (SELECT id FROM cluster_nodes WHERE cluster_id = $1)",
        }
    }

    fn id(self) -> &'a str {
        match self {
            Self::Node(id) | Self::Cluster(id) => id,
        }
    }
}

/// Most raw samples one history query reads (two hours at one per second).
const RAW_POINT_LIMIT: i64 = 7200;
