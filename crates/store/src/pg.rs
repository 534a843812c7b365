//! The PostgreSQL store, for production and several server replicas.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use muster_domain::{
    Cluster, ClusterId, ClusterLimits, ClusterSettings, ClusterUsage, ConfigTemplate, Event,
    NewCluster, NewEvent, NewNode, Node, NodeId, builtin_templates,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{ConnectOptions, Connection, PgConnection, Row};

use crate::sqlite::one_line;
use crate::{
    Backend, DatabaseUrl, ID_ATTEMPTS, MAX_PAGE, Store, StoreError, event_for_cluster_created,
    event_for_node_added, now,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PgStore {
    pool: PgPool,
}

fn parse<T: FromStr>(column: &'static str, v: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| StoreError::corrupt(column, e))
}

fn int<T: TryFrom<i64>>(column: &'static str, v: i64) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::corrupt(column, v))
}

fn text_id<T: FromStr>(row: &PgRow, column: &'static str) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    row.try_get::<Option<&str>, _>(column)?
        .map(|s| parse(column, s))
        .transpose()
}

fn template_from_row(row: &PgRow) -> Result<ConfigTemplate, StoreError> {
    Ok(ConfigTemplate {
        name: row.try_get("name")?,
        environment: parse("environment", row.try_get::<&str, _>("environment")?)?,
        description: row.try_get("description")?,
        limits: ClusterLimits {
            max_nodes: int("max_nodes", i64::from(row.try_get::<i32, _>("max_nodes")?))?,
            max_tenants: int(
                "max_tenants",
                i64::from(row.try_get::<i32, _>("max_tenants")?),
            )?,
            max_storage_gb: int("max_storage_gb", row.try_get("max_storage_gb")?)?,
        },
        settings: row.try_get::<Json<ClusterSettings>, _>("config")?.0,
    })
}

fn cluster_from_row(row: &PgRow) -> Result<Cluster, StoreError> {
    Ok(Cluster {
        id: parse("id", row.try_get::<&str, _>("id")?)?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        region: row.try_get("region")?,
        environment: parse("environment", row.try_get::<&str, _>("environment")?)?,
        status: parse("status", row.try_get::<&str, _>("status")?)?,
        health_score: row.try_get("health_score")?,
        max_nodes: int("max_nodes", i64::from(row.try_get::<i32, _>("max_nodes")?))?,
        max_tenants: int(
            "max_tenants",
            i64::from(row.try_get::<i32, _>("max_tenants")?),
        )?,
        max_storage_gb: int("max_storage_gb", row.try_get("max_storage_gb")?)?,
        config: row.try_get::<Json<ClusterSettings>, _>("config")?.0,
        template_name: row.try_get("template_name")?,
        primary_node_id: text_id(row, "primary_node_id")?,
        coordinator_node_id: text_id(row, "coordinator_node_id")?,
        term: int("term", row.try_get("term")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn node_from_row(row: &PgRow) -> Result<Node, StoreError> {
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
        roles: row.try_get::<Json<Vec<String>>, _>("roles")?.0,
        capacity_cpu: row.try_get("capacity_cpu")?,
        capacity_memory_gb: row.try_get("capacity_memory_gb")?,
        capacity_storage_gb: row.try_get("capacity_storage_gb")?,
        capacity_network_mbps: row.try_get("capacity_network_mbps")?,
        last_heartbeat_at: row.try_get("last_heartbeat_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn event_from_row(row: &PgRow) -> Result<Event, StoreError> {
    Ok(Event {
        id: row.try_get("id")?,
        cluster_id: text_id(row, "cluster_id")?,
        node_id: text_id(row, "node_id")?,
        event_type: row.try_get("event_type")?,
        category: parse("category", row.try_get::<&str, _>("category")?)?,
        severity: parse("severity", row.try_get::<&str, _>("severity")?)?,
        message: row.try_get("message")?,
        details: row.try_get::<Json<serde_json::Value>, _>("details")?.0,
        actor: row.try_get("actor")?,
        created_at: row.try_get::<DateTime<Utc>, _>("created_at")?,
    })
}

async fn insert_event(conn: &mut PgConnection, e: &NewEvent) -> Result<Event, StoreError> {
    let row = sqlx::query(
        "INSERT INTO cluster_events
            (cluster_id, node_id, event_type, category, severity, message, details, actor, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING *",
    )
    .bind(e.cluster_id.as_ref().map(ClusterId::as_str))
    .bind(e.node_id.as_ref().map(NodeId::as_str))
    .bind(&e.event_type)
    .bind(e.category.as_str())
    .bind(e.severity.as_str())
    .bind(&e.message)
    .bind(Json(&e.details))
    .bind(&e.actor)
    .bind(now())
    .fetch_one(conn)
    .await?;
    event_from_row(&row)
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
        let first = tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await;
        match first {
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
        let store = Self { pool };
        store.seed_templates().await?;
        Ok(store)
    }

    async fn seed_templates(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let at = now();
        for t in builtin_templates() {
            sqlx::query(
                "INSERT INTO cluster_config_templates
                    (name, environment, description, max_nodes, max_tenants, max_storage_gb,
                     config, builtin, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $8)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(&t.name)
            .bind(t.environment.as_str())
            .bind(&t.description)
            .bind(i32::try_from(t.limits.max_nodes).unwrap_or(i32::MAX))
            .bind(i32::try_from(t.limits.max_tenants).unwrap_or(i32::MAX))
            .bind(i64::try_from(t.limits.max_storage_gb).unwrap_or(i64::MAX))
            .bind(Json(&t.settings))
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
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
        let row = sqlx::query("SELECT * FROM cluster_config_templates WHERE name = $1")
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
            let mut tx = self.pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO clusters
                    (id, name, description, region, environment, status, max_nodes, max_tenants,
                     max_storage_gb, config, template_name, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'provisioning', $6, $7, $8, $9, $10, $11, $11)
                 RETURNING *",
            )
            .bind(id.as_str())
            .bind(new.name.trim())
            .bind(&new.description)
            .bind(new.region.trim())
            .bind(new.environment.as_str())
            .bind(i32::try_from(new.limits.max_nodes).unwrap_or(i32::MAX))
            .bind(i32::try_from(new.limits.max_tenants).unwrap_or(i32::MAX))
            .bind(i64::try_from(new.limits.max_storage_gb).unwrap_or(i64::MAX))
            .bind(Json(&new.settings))
            .bind(new.template_name.as_deref())
            .bind(created)
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
        let row = sqlx::query("SELECT * FROM clusters WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("cluster"))?;
        cluster_from_row(&row)
    }

    async fn list_clusters(&self) -> Result<Vec<Cluster>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM clusters WHERE decommissioned_at IS NULL
             ORDER BY created_at DESC, id DESC LIMIT $1",
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
        let mut tx = self.pool.begin().await?;
        // The UPDATE locks the cluster row, serialising concurrent adds to it.
        let row = sqlx::query(
            "UPDATE clusters SET next_node_seq = next_node_seq + 1, updated_at = $2
             WHERE id = $1 AND decommissioned_at IS NULL
             RETURNING next_node_seq - 1 AS seq, max_nodes, max_tenants, max_storage_gb",
        )
        .bind(cluster_id.as_str())
        .bind(now())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("cluster"))?;
        let seq: u32 = int("next_node_seq", i64::from(row.try_get::<i32, _>("seq")?))?;
        let limits = ClusterLimits {
            max_nodes: int("max_nodes", i64::from(row.try_get::<i32, _>("max_nodes")?))?,
            max_tenants: int(
                "max_tenants",
                i64::from(row.try_get::<i32, _>("max_tenants")?),
            )?,
            max_storage_gb: int("max_storage_gb", row.try_get("max_storage_gb")?)?,
        };
        let usage = sqlx::query(
            "SELECT COUNT(*) AS nodes, COALESCE(SUM(capacity_storage_gb), 0) AS storage
             FROM cluster_nodes WHERE cluster_id = $1 AND status <> 'decommissioned'",
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
        let at = now();
        let row = sqlx::query(
            "INSERT INTO cluster_nodes
                (id, cluster_id, seq, name, hostname, region, availability_zone, priority, roles,
                 capacity_cpu, capacity_memory_gb, capacity_storage_gb, capacity_network_mbps,
                 token_hash, created_at, updated_at, status_changed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $15)
             RETURNING *",
        )
        .bind(id.as_str())
        .bind(cluster_id.as_str())
        .bind(i32::try_from(seq).unwrap_or(i32::MAX))
        .bind(node.name.trim())
        .bind(node.hostname.trim())
        .bind(node.region.trim())
        .bind(node.availability_zone.trim())
        .bind(node.priority)
        .bind(Json(&node.roles))
        .bind(node.capacity_cpu)
        .bind(node.capacity_memory_gb)
        .bind(node.capacity_storage_gb)
        .bind(node.capacity_network_mbps)
        .bind(token_hash)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let node = node_from_row(&row)?;
        insert_event(&mut tx, &event_for_node_added(&node, actor)).await?;
        tx.commit().await?;
        Ok(node)
    }

    async fn list_nodes(&self, cluster_id: &ClusterId) -> Result<Vec<Node>, StoreError> {
        let rows = sqlx::query("SELECT * FROM cluster_nodes WHERE cluster_id = $1 ORDER BY seq")
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
            "SELECT * FROM cluster_events WHERE ($1::text IS NULL OR cluster_id = $1)
             ORDER BY id DESC LIMIT $2",
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
