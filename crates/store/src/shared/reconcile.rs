//! Keeping the cluster row in step with its nodes, inside the caller's
//! transaction.

macro_rules! reconcile_fns {
    () => {
        /// Locks and reads a cluster inside a write transaction.
        async fn lock_cluster(
            conn: &mut d::Conn,
            id: &str,
        ) -> Result<(muster_domain::Cluster, bool, bool), $crate::StoreError> {
            use sqlx::Row as _;
            let row = sqlx::query(
                "UPDATE clusters SET updated_at = $2 WHERE id = $1 RETURNING *",
            )
            .bind(id)
            .bind(d::time($crate::now()))
            .fetch_optional(&mut *conn)
            .await?
            .ok_or($crate::StoreError::NotFound("cluster"))?;
            Ok((cluster_from_row(&row)?, row.try_get("maintenance")?, row.try_get("ever_online")?))
        }

        fn decommissioned() -> $crate::StoreError {
            $crate::StoreError::Rejected(muster_domain::FieldErrors::single(
                "cluster_id",
                "the cluster is decommissioned and can no longer change",
            ))
        }

        /// What a cluster holds now: live nodes, their storage, and tenants.
        async fn usage_of(
            conn: &mut d::Conn,
            cluster_id: &str,
        ) -> Result<muster_domain::ClusterUsage, $crate::StoreError> {
            use sqlx::Row as _;
            let row = sqlx::query(
                "SELECT
                    (SELECT COUNT(*) FROM cluster_nodes
                      WHERE cluster_id = $1 AND status <> 'decommissioned') AS nodes,
                    (SELECT COALESCE(SUM(capacity_storage_gb), 0.0) FROM cluster_nodes
                      WHERE cluster_id = $1 AND status <> 'decommissioned') AS storage,
                    (SELECT COUNT(*) FROM cluster_tenants WHERE cluster_id = $1) AS tenants",
            )
            .bind(cluster_id)
            .fetch_one(&mut *conn)
            .await?;
            Ok(muster_domain::ClusterUsage {
                nodes: int("nodes", row.try_get("nodes")?)?,
                tenants: int("tenants", row.try_get("tenants")?)?,
                storage_gb: row.try_get("storage")?,
            })
        }

        async fn nodes_of(
            conn: &mut d::Conn,
            cluster_id: &str,
        ) -> Result<Vec<muster_domain::Node>, $crate::StoreError> {
            let rows = sqlx::query("SELECT * FROM cluster_nodes WHERE cluster_id = $1 ORDER BY seq")
                .bind(cluster_id)
                .fetch_all(&mut *conn)
                .await?;
            rows.iter().map(node_from_row).collect()
        }

        async fn node_by_id(
            conn: &mut d::Conn,
            id: &str,
        ) -> Result<muster_domain::Node, $crate::StoreError> {
            let row = sqlx::query("SELECT * FROM cluster_nodes WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or($crate::StoreError::NotFound("node"))?;
            node_from_row(&row)
        }

        /// Sets each node's `is_primary` / `is_coordinator` flag from `leaders`.
        async fn mark_leaders(
            conn: &mut d::Conn,
            cluster_id: &muster_domain::ClusterId,
            leaders: &muster_domain::coordination::Leadership,
        ) -> Result<(), $crate::StoreError> {
            sqlx::query(
                "UPDATE cluster_nodes SET
                    is_primary = (id = COALESCE(CAST($2 AS TEXT), '')),
                    is_coordinator = (id = COALESCE(CAST($3 AS TEXT), ''))
                 WHERE cluster_id = $1",
            )
            .bind(cluster_id.as_str())
            .bind(leaders.primary.as_ref().map(muster_domain::NodeId::as_str))
            .bind(leaders.coordinator.as_ref().map(muster_domain::NodeId::as_str))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Recomputes score, status and leadership from the cluster's nodes and
        /// writes whatever changed, with its events. Returns the cluster as stored.
        async fn reconcile_cluster(
            conn: &mut d::Conn,
            cluster: &muster_domain::Cluster,
            maintenance: bool,
            ever_online: bool,
            actor: &str,
        ) -> Result<muster_domain::Cluster, $crate::StoreError> {
            let nodes = nodes_of(&mut *conn, cluster.id.as_str()).await?;
            let plan = muster_domain::cluster_state::plan(cluster, &nodes, maintenance, ever_online, actor);
            if !plan.changes(cluster, ever_online) {
                return Ok(cluster.clone());
            }
            let (primary, coordinator, term) = match &plan.leadership {
                Some(change) => (
                    change.leadership.primary.clone(),
                    change.leadership.coordinator.clone(),
                    change.term,
                ),
                None => (
                    cluster.primary_node_id.clone(),
                    cluster.coordinator_node_id.clone(),
                    cluster.term,
                ),
            };
            let row = sqlx::query(
                "UPDATE clusters SET health_score = $2, status = $3, ever_online = $4,
                    primary_node_id = $5, coordinator_node_id = $6, term = $7, updated_at = $8
                 WHERE id = $1 RETURNING *",
            )
            .bind(cluster.id.as_str())
            .bind(plan.breakdown.score)
            .bind(plan.status.as_str())
            .bind(plan.ever_online)
            .bind(primary.as_ref().map(muster_domain::NodeId::as_str))
            .bind(coordinator.as_ref().map(muster_domain::NodeId::as_str))
            .bind($crate::shared::big(term))
            .bind(d::time($crate::now()))
            .fetch_one(&mut *conn)
            .await?;
            if let Some(change) = &plan.leadership {
                mark_leaders(&mut *conn, &cluster.id, &change.leadership).await?;
            }
            for event in &plan.events {
                insert_event(&mut *conn, event).await?;
            }
            cluster_from_row(&row)
        }
    };
}
