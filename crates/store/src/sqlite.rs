//! The embedded SQLite store (WAL mode). Times are stored as INTEGER milliseconds.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use muster_domain::{
    Cluster, ClusterId, ClusterSettings, ClusterUsage, ConfigTemplate, Event, NewCluster, NewEvent,
    NewNode, Node, NodeId, builtin_templates,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use crate::{
    Backend, DatabaseUrl, ID_ATTEMPTS, MAX_PAGE, Store, StoreError, event_for_cluster_created,
    event_for_node_added, now,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(column: &'static str, v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| StoreError::corrupt(column, v))
}

fn parse<T: FromStr>(column: &'static str, v: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| StoreError::corrupt(column, e))
}

fn json<T: serde::de::DeserializeOwned>(column: &'static str, v: &str) -> Result<T, StoreError> {
    serde_json::from_str(v).map_err(|e| StoreError::corrupt(column, e))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Serialising plain data structs to a string cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

fn int<T: TryFrom<i64>>(column: &'static str, v: i64) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::corrupt(column, v))
}

fn template_from_row(row: &SqliteRow) -> Result<ConfigTemplate, StoreError> {
    Ok(ConfigTemplate {
        name: row.try_get("name")?,
        environment: parse("environment", row.try_get::<&str, _>("environment")?)?,
        description: row.try_get("description")?,
        limits: muster_domain::ClusterLimits {
            max_nodes: int("max_nodes", row.try_get("max_nodes")?)?,
            max_tenants: int("max_tenants", row.try_get("max_tenants")?)?,
            max_storage_gb: int("max_storage_gb", row.try_get("max_storage_gb")?)?,
        },
        settings: json("config", row.try_get::<&str, _>("config")?)?,
    })
}

fn cluster_from_row(row: &SqliteRow) -> Result<Cluster, StoreError> {
    let node_id = |column: &'static str| -> Result<Option<NodeId>, StoreError> {
        row.try_get::<Option<&str>, _>(column)?
            .map(|s| parse(column, s))
            .transpose()
    };
    Ok(Cluster {
        id: parse("id", row.try_get::<&str, _>("id")?)?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        region: row.try_get("region")?,
        environment: parse("environment", row.try_get::<&str, _>("environment")?)?,
        status: parse("status", row.try_get::<&str, _>("status")?)?,
        health_score: row.try_get("health_score")?,
        max_nodes: int("max_nodes", row.try_get("max_nodes")?)?,
        max_tenants: int("max_tenants", row.try_get("max_tenants")?)?,
        max_storage_gb: int("max_storage_gb", row.try_get("max_storage_gb")?)?,
        config: json::<ClusterSettings>("config", row.try_get::<&str, _>("config")?)?,
        template_name: row.try_get("template_name")?,
        primary_node_id: node_id("primary_node_id")?,
        coordinator_node_id: node_id("coordinator_node_id")?,
        term: int("term", row.try_get("term")?)?,
        created_at: from_ms("created_at", row.try_get("created_at")?)?,
        updated_at: from_ms("updated_at", row.try_get("updated_at")?)?,
    })
}

fn node_from_row(row: &SqliteRow) -> Result<Node, StoreError> {
    Ok(Node {
        id: parse("id", row.try_get::<&str, _>("id")?)?,
        cluster_id: parse("cluster_id", row.try_get::<&str, _>("cluster_id")?)?,
        name: row.try_get("name")?,
        hostname: row.try_get("hostname")?,
        region: row.try_get("region")?,
        availability_zone: row.try_get("availability_zone")?,
        status: parse("status", row.try_get::<&str, _>("status")?)?,
        health_status: parse("health_status", row.try_get::<&str, _>("health_status")?)?,
        is_primary: row.try_get("is_primary")?,
        is_coordinator: row.try_get("is_coordinator")?,
        cordoned: row.try_get("cordoned")?,
        priority: row.try_get("priority")?,
        roles: json("roles", row.try_get::<&str, _>("roles")?)?,
        capacity_cpu: row.try_get("capacity_cpu")?,
        capacity_memory_gb: row.try_get("capacity_memory_gb")?,
        capacity_storage_gb: row.try_get("capacity_storage_gb")?,
        capacity_network_mbps: row.try_get("capacity_network_mbps")?,
        last_heartbeat_at: row
            .try_get::<Option<i64>, _>("last_heartbeat_at")?
            .map(|v| from_ms("last_heartbeat_at", v))
            .transpose()?,
        created_at: from_ms("created_at", row.try_get("created_at")?)?,
        updated_at: from_ms("updated_at", row.try_get("updated_at")?)?,
    })
}

fn event_from_row(row: &SqliteRow) -> Result<Event, StoreError> {
    Ok(Event {
        id: row.try_get("id")?,
        cluster_id: row
            .try_get::<Option<&str>, _>("cluster_id")?
            .map(|s| parse("cluster_id", s))
            .transpose()?,
        node_id: row
            .try_get::<Option<&str>, _>("node_id")?
            .map(|s| parse("node_id", s))
            .transpose()?,
        event_type: row.try_get("event_type")?,
        category: parse("category", row.try_get::<&str, _>("category")?)?,
        severity: parse("severity", row.try_get::<&str, _>("severity")?)?,
        message: row.try_get("message")?,
        details: json("details", row.try_get::<&str, _>("details")?)?,
        actor: row.try_get("actor")?,
        created_at: from_ms("created_at", row.try_get("created_at")?)?,
    })
}

async fn insert_event(conn: &mut SqliteConnection, e: &NewEvent) -> Result<Event, StoreError> {
    let row = sqlx::query(
        "INSERT INTO cluster_events
            (cluster_id, node_id, event_type, category, severity, message, details, actor, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         RETURNING *",
    )
    .bind(e.cluster_id.as_ref().map(ClusterId::as_str))
    .bind(e.node_id.as_ref().map(NodeId::as_str))
    .bind(&e.event_type)
    .bind(e.category.as_str())
    .bind(e.severity.as_str())
    .bind(&e.message)
    .bind(to_json(&e.details))
    .bind(&e.actor)
    .bind(ms(now()))
    .fetch_one(conn)
    .await?;
    event_from_row(&row)
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
                    .synchronous(SqliteSynchronous::Normal);
                (options, 8)
            }
            // One connection: every connection to :memory: is its own database.
            None => (options.in_memory(true), 1),
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot open {}: {}", url.redacted(), one_line(&e)))
            })?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot migrate {}: {}",
                url.redacted(),
                one_line(&e)
            ))
        })?;
        let store = Self { pool };
        store.seed_templates().await?;
        Ok(store)
    }

    async fn seed_templates(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let at = ms(now());
        for t in builtin_templates() {
            sqlx::query(
                "INSERT INTO cluster_config_templates
                    (name, environment, description, max_nodes, max_tenants, max_storage_gb,
                     config, builtin, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(&t.name)
            .bind(t.environment.as_str())
            .bind(&t.description)
            .bind(i64::from(t.limits.max_nodes))
            .bind(i64::from(t.limits.max_tenants))
            .bind(i64::try_from(t.limits.max_storage_gb).unwrap_or(i64::MAX))
            .bind(to_json(&t.settings))
            .bind(at)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

pub(crate) fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn list_templates(&self) -> Result<Vec<ConfigTemplate>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM cluster_config_templates ORDER BY builtin DESC, max_nodes, name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(template_from_row).collect()
    }

    async fn get_template(&self, name: &str) -> Result<ConfigTemplate, StoreError> {
        let row = sqlx::query("SELECT * FROM cluster_config_templates WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("template"))?;
        template_from_row(&row)
    }

    async fn create_cluster(&self, new: &NewCluster, actor: &str) -> Result<Cluster, StoreError> {
        new.validate().map_err(StoreError::Invalid)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let created = now();
            let id = ClusterId::generate(created, &mut rand::rng());
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let inserted = sqlx::query(
                "INSERT INTO clusters
                    (id, name, description, region, environment, status, max_nodes, max_tenants,
                     max_storage_gb, config, template_name, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, 'provisioning', ?, ?, ?, ?, ?, ?, ?)
                 RETURNING *",
            )
            .bind(id.as_str())
            .bind(new.name.trim())
            .bind(&new.description)
            .bind(new.region.trim())
            .bind(new.environment.as_str())
            .bind(i64::from(new.limits.max_nodes))
            .bind(i64::from(new.limits.max_tenants))
            .bind(i64::try_from(new.limits.max_storage_gb).unwrap_or(i64::MAX))
            .bind(to_json(&new.settings))
            .bind(new.template_name.as_deref())
            .bind(ms(created))
            .bind(ms(created))
            .fetch_one(&mut *tx)
            .await;
            let row = match inserted.map_err(StoreError::from) {
                Ok(row) => row,
                Err(StoreError::Conflict(what))
                    if what == "cluster id" && attempt < ID_ATTEMPTS =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let cluster = cluster_from_row(&row)?;
            insert_event(&mut tx, &event_for_cluster_created(&cluster, actor)).await?;
            tx.commit().await?;
            return Ok(cluster);
        }
    }

    async fn get_cluster(&self, id: &ClusterId) -> Result<Cluster, StoreError> {
        let row = sqlx::query("SELECT * FROM clusters WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("cluster"))?;
        cluster_from_row(&row)
    }

    async fn list_clusters(&self) -> Result<Vec<Cluster>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM clusters WHERE decommissioned_at IS NULL
             ORDER BY created_at DESC, id DESC LIMIT ?",
        )
        .bind(i64::from(MAX_PAGE))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cluster_from_row).collect()
    }

    async fn add_node(
        &self,
        cluster_id: &ClusterId,
        node: &NewNode,
        token_hash: Option<&str>,
        actor: &str,
    ) -> Result<Node, StoreError> {
        node.validate().map_err(StoreError::Invalid)?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Taking the sequence first also takes the write lock for the checks below.
        let row = sqlx::query(
            "UPDATE clusters SET next_node_seq = next_node_seq + 1
             WHERE id = ? AND decommissioned_at IS NULL
             RETURNING next_node_seq - 1 AS seq, max_nodes, max_tenants, max_storage_gb",
        )
        .bind(cluster_id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("cluster"))?;
        let seq: u32 = int("next_node_seq", row.try_get("seq")?)?;
        let limits = muster_domain::ClusterLimits {
            max_nodes: int("max_nodes", row.try_get("max_nodes")?)?,
            max_tenants: int("max_tenants", row.try_get("max_tenants")?)?,
            max_storage_gb: int("max_storage_gb", row.try_get("max_storage_gb")?)?,
        };
        let usage = sqlx::query(
            "SELECT COUNT(*) AS nodes, COALESCE(SUM(capacity_storage_gb), 0.0) AS storage
             FROM cluster_nodes WHERE cluster_id = ? AND status <> 'decommissioned'",
        )
        .bind(cluster_id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let usage = ClusterUsage {
            nodes: int("nodes", usage.try_get("nodes")?)?,
            tenants: 0,
            storage_gb: usage.try_get("storage")?,
        };
        limits
            .check_new_node(&usage, node.capacity_storage_gb)
            .map_err(StoreError::Rejected)?;

        let id = NodeId::generate(cluster_id, seq, &mut rand::rng());
        let at = ms(now());
        let row = sqlx::query(
            "INSERT INTO cluster_nodes
                (id, cluster_id, seq, name, hostname, region, availability_zone, priority, roles,
                 capacity_cpu, capacity_memory_gb, capacity_storage_gb, capacity_network_mbps,
                 token_hash, created_at, updated_at, status_changed_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             RETURNING *",
        )
        .bind(id.as_str())
        .bind(cluster_id.as_str())
        .bind(i64::from(seq))
        .bind(node.name.trim())
        .bind(node.hostname.trim())
        .bind(node.region.trim())
        .bind(node.availability_zone.trim())
        .bind(node.priority)
        .bind(to_json(&node.roles))
        .bind(node.capacity_cpu)
        .bind(node.capacity_memory_gb)
        .bind(node.capacity_storage_gb)
        .bind(node.capacity_network_mbps)
        .bind(token_hash)
        .bind(at)
        .bind(at)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let node = node_from_row(&row)?;
        insert_event(&mut tx, &event_for_node_added(&node, actor)).await?;
        sqlx::query("UPDATE clusters SET updated_at = ? WHERE id = ?")
            .bind(at)
            .bind(cluster_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(node)
    }

    async fn list_nodes(&self, cluster_id: &ClusterId) -> Result<Vec<Node>, StoreError> {
        let rows = sqlx::query("SELECT * FROM cluster_nodes WHERE cluster_id = ? ORDER BY seq")
            .bind(cluster_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(node_from_row).collect()
    }

    async fn record_event(&self, event: &NewEvent) -> Result<Event, StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_event(&mut conn, event).await
    }

    async fn list_events(
        &self,
        cluster_id: Option<&ClusterId>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM cluster_events WHERE (?1 IS NULL OR cluster_id = ?1)
             ORDER BY id DESC LIMIT ?2",
        )
        .bind(cluster_id.map(ClusterId::as_str))
        .bind(i64::from(limit.min(MAX_PAGE)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
