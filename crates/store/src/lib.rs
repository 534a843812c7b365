//! Muster's persistence: one [`Store`] trait with a SQLite and a PostgreSQL
//! implementation, chosen once at start-up from the database URL.

mod error;
mod pg;
mod sqlite;
pub mod testing;
mod url;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use muster_domain::{
    Cluster, ClusterId, ConfigTemplate, Event, NewCluster, NewEvent, NewNode, Node,
};

pub use error::StoreError;
pub use pg::PgStore;
pub use sqlite::SqliteStore;
pub use url::{DatabaseUrl, UrlError};

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Everything Muster reads and writes. Each mutation writes its audit event in the
/// same transaction as the change it records.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn list_templates(&self) -> Result<Vec<ConfigTemplate>, StoreError>;
    async fn get_template(&self, name: &str) -> Result<ConfigTemplate, StoreError>;

    /// Creates a cluster with a fresh id and records `cluster_created`.
    async fn create_cluster(&self, new: &NewCluster, actor: &str) -> Result<Cluster, StoreError>;
    async fn get_cluster(&self, id: &ClusterId) -> Result<Cluster, StoreError>;
    /// Clusters that are not decommissioned, newest first.
    async fn list_clusters(&self) -> Result<Vec<Cluster>, StoreError>;

    /// Adds a node with the cluster's next sequence number and records
    /// `node_added`; refused beyond `max_nodes` or `max_storage_gb`.
    async fn add_node(
        &self,
        cluster_id: &ClusterId,
        node: &NewNode,
        token_hash: Option<&str>,
        actor: &str,
    ) -> Result<Node, StoreError>;
    /// A cluster's nodes in sequence order.
    async fn list_nodes(&self, cluster_id: &ClusterId) -> Result<Vec<Node>, StoreError>;

    /// Writes an event on its own (changes write theirs inside their transaction).
    async fn record_event(&self, event: &NewEvent) -> Result<Event, StoreError>;
    /// The newest events first, optionally for one cluster.
    async fn list_events(
        &self,
        cluster_id: Option<&ClusterId>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;

    /// Closes the pool, waiting for connections in use to be returned.
    async fn close(&self);
}

/// Connects to the database `url` names, runs its migrations and seeds the
/// built-in templates.
///
/// # Errors
/// [`StoreError::Unavailable`] when the database cannot be reached or migrated,
/// with a one-line message that never contains the password.
pub async fn connect(url: &DatabaseUrl) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match url {
        DatabaseUrl::Sqlite { .. } => Arc::new(SqliteStore::connect(url).await?),
        DatabaseUrl::Postgres { .. } => Arc::new(PgStore::connect(url).await?),
    })
}

/// The current time at the precision both backends keep (milliseconds), so a
/// value written and read back compares equal on either.
#[must_use]
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// How many times a freshly generated id is retried after a collision.
const ID_ATTEMPTS: usize = 5;
/// Largest page any listing returns.
pub const MAX_PAGE: u32 = 1000;

pub(crate) fn event_for_cluster_created(cluster: &Cluster, actor: &str) -> NewEvent {
    NewEvent {
        cluster_id: Some(cluster.id.clone()),
        node_id: None,
        event_type: "cluster_created".into(),
        category: muster_domain::EventCategory::Lifecycle,
        severity: muster_domain::Severity::Info,
        message: format!(
            "Cluster {} created in {} ({})",
            cluster.name, cluster.region, cluster.environment
        ),
        details: serde_json::json!({
            "template": cluster.template_name,
            "max_nodes": cluster.max_nodes,
            "max_tenants": cluster.max_tenants,
            "max_storage_gb": cluster.max_storage_gb,
        }),
        actor: actor.to_owned(),
    }
}

pub(crate) fn event_for_node_added(node: &Node, actor: &str) -> NewEvent {
    NewEvent {
        cluster_id: Some(node.cluster_id.clone()),
        node_id: Some(node.id.clone()),
        event_type: "node_added".into(),
        category: muster_domain::EventCategory::Lifecycle,
        severity: muster_domain::Severity::Info,
        message: format!("Node {} added (sequence {})", node.name, node.id.sequence()),
        details: serde_json::json!({
            "roles": node.roles,
            "priority": node.priority,
            "capacity_cpu": node.capacity_cpu,
            "capacity_memory_gb": node.capacity_memory_gb,
            "capacity_storage_gb": node.capacity_storage_gb,
        }),
        actor: actor.to_owned(),
    }
}
