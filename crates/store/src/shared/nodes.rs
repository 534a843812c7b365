//! Nodes.

macro_rules! node_methods {
    () => {
        fn add_node<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
            node: &'a muster_domain::NewNode,
            token_hash: Option<&'a str>,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Node> {
            Box::pin(async move {
                use sqlx::Row as _;
                node.validate().map_err($crate::StoreError::Invalid)?;
                let at = $crate::now();
                let mut tx = self.pool.begin_with(d::BEGIN_WRITE).await?;
                // Taking the sequence first locks the cluster row (and, on SQLite,
                // the database) for the checks below.
                let row = sqlx::query(
                    "UPDATE clusters SET next_node_seq = next_node_seq + 1, updated_at = $2
                     WHERE id = $1 AND decommissioned_at IS NULL
                     RETURNING next_node_seq - 1 AS seq, max_nodes, max_tenants, max_storage_gb",
                )
                .bind(cluster_id.as_str())
                .bind(d::time(at))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or($crate::StoreError::NotFound("cluster"))?;
                let seq: u32 = int("next_node_seq", row.try_get("seq")?)?;
                let limits = muster_domain::ClusterLimits {
                    max_nodes: int("max_nodes", row.try_get("max_nodes")?)?,
                    max_tenants: int("max_tenants", row.try_get("max_tenants")?)?,
                    max_storage_gb: int("max_storage_gb", row.try_get("max_storage_gb")?)?,
                };
                let usage = sqlx::query(
                    "SELECT COUNT(*) AS nodes, COALESCE(SUM(capacity_storage_gb), 0.0) AS storage
                     FROM cluster_nodes WHERE cluster_id = $1 AND status <> 'decommissioned'",
                )
                .bind(cluster_id.as_str())
                .fetch_one(&mut *tx)
                .await?;
                let usage = muster_domain::ClusterUsage {
                    nodes: int("nodes", usage.try_get("nodes")?)?,
                    tenants: 0,
                    storage_gb: usage.try_get("storage")?,
                };
                limits
                    .check_new_node(&usage, node.capacity_storage_gb)
                    .map_err($crate::StoreError::Rejected)?;

                let id = muster_domain::NodeId::generate(cluster_id, seq, &mut rand::rng());
                let row = sqlx::query(
                    "INSERT INTO cluster_nodes
                        (id, cluster_id, seq, name, hostname, region, availability_zone, priority,
                         roles, capacity_cpu, capacity_memory_gb, capacity_storage_gb,
                         capacity_network_mbps, token_hash, created_at, updated_at, status_changed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $15)
                     RETURNING *",
                )
                .bind(id.as_str())
                .bind(cluster_id.as_str())
                .bind(i64::from(seq))
                .bind(node.name.trim())
                .bind(node.hostname.trim())
                .bind(node.region.trim())
                .bind(node.availability_zone.trim())
                .bind(i64::from(node.priority))
                .bind(d::json(&node.roles))
                .bind(node.capacity_cpu)
                .bind(node.capacity_memory_gb)
                .bind(node.capacity_storage_gb)
                .bind(node.capacity_network_mbps)
                .bind(token_hash)
                .bind(d::time(at))
                .fetch_one(&mut *tx)
                .await?;
                let node = node_from_row(&row)?;
                insert_event(&mut tx, &$crate::events::node_added(&node, actor)).await?;
                tx.commit().await?;
                Ok(node)
            })
        }

        fn list_nodes<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
        ) -> $crate::StoreFuture<'a, Vec<muster_domain::Node>> {
            Box::pin(async move {
                let rows =
                    sqlx::query("SELECT * FROM cluster_nodes WHERE cluster_id = $1 ORDER BY seq")
                        .bind(cluster_id.as_str())
                        .fetch_all(&self.pool)
                        .await?;
                rows.iter().map(node_from_row).collect()
            })
        }
    };
}
