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

        fn get_node<'a>(
            &'a self,
            id: &'a muster_domain::NodeId,
        ) -> $crate::StoreFuture<'a, muster_domain::Node> {
            Box::pin(async move {
                let mut conn = self.pool.acquire().await?;
                node_by_id(&mut conn, id.as_str()).await
            })
        }

        fn update_node_status<'a>(
            &'a self,
            id: &'a muster_domain::NodeId,
            update: &'a muster_domain::NodeStatusUpdate,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Node> {
            Box::pin(async move {
                use muster_domain::cluster_state::{node_health_event, node_status_event};
                update.validate().map_err($crate::StoreError::Invalid)?;
                let now = $crate::now();
                let mut tx = self.pool.begin_with(d::BEGIN_WRITE).await?;
                let before = node_by_id(&mut tx, id.as_str()).await?;
                let (cluster, maintenance, ever_online) =
                    lock_cluster(&mut tx, before.cluster_id.as_str()).await?;
                if before.status == muster_domain::NodeStatus::Decommissioned {
                    return Err($crate::StoreError::Rejected(muster_domain::FieldErrors::single(
                        "status",
                        "the node is decommissioned; its status can no longer change",
                    )));
                }
                if let Some(metrics) = &update.metrics {
                    insert_metrics(&mut tx, &before.cluster_id, id, metrics, now).await?;
                }
                let sample = update.usage_sample(now).or(before.usage);
                let health = update.health_status.unwrap_or_else(|| {
                    muster_domain::health::node_health(
                        sample.as_ref(),
                        now,
                        cluster.config.health_check_interval_s,
                    )
                });
                let fresh = update.usage_sample(now);
                let row = sqlx::query(
                    "UPDATE cluster_nodes SET status = $2, health_status = $3, updated_at = $4,
                        status_changed_at = CASE WHEN status = $2 THEN status_changed_at ELSE $4 END,
                        last_cpu_percent = COALESCE($5, last_cpu_percent),
                        last_memory_percent = COALESCE($6, last_memory_percent),
                        last_disk_percent = COALESCE($7, last_disk_percent),
                        last_sample_at = COALESCE($8, last_sample_at)
                     WHERE id = $1 RETURNING *",
                )
                .bind(id.as_str())
                .bind(update.status.as_str())
                .bind(health.as_str())
                .bind(d::time(now))
                .bind(fresh.map(|s| s.cpu_percent))
                .bind(fresh.map(|s| s.memory_percent))
                .bind(fresh.map(|s| s.disk_percent))
                .bind(fresh.map(|s| d::time(s.at)))
                .fetch_one(&mut *tx)
                .await?;
                let node = node_from_row(&row)?;
                if before.status != node.status {
                    let e = node_status_event(&node, before.status, node.status, actor, None);
                    insert_event(&mut tx, &e).await?;
                }
                if before.health_status != node.health_status {
                    let e = node_health_event(&node, before.health_status, node.health_status, actor, now);
                    insert_event(&mut tx, &e).await?;
                }
                reconcile_cluster(&mut tx, &cluster, maintenance, ever_online, actor).await?;
                let node = node_by_id(&mut tx, id.as_str()).await?;
                tx.commit().await?;
                Ok(node)
            })
        }

        fn promote_node<'a>(
            &'a self,
            id: &'a muster_domain::NodeId,
            force: bool,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Cluster> {
            Box::pin(async move {
                use muster_domain::coordination::{Leadership, PromotionError, promote};
                let mut tx = self.pool.begin_with(d::BEGIN_WRITE).await?;
                let node = node_by_id(&mut tx, id.as_str()).await?;
                let (cluster, _, _) = lock_cluster(&mut tx, node.cluster_id.as_str()).await?;
                let nodes = nodes_of(&mut tx, cluster.id.as_str()).await?;
                let members: Vec<_> = nodes.iter().map(muster_domain::cluster_state::member).collect();
                let current = Leadership {
                    primary: cluster.primary_node_id.clone(),
                    coordinator: cluster.coordinator_node_id.clone(),
                };
                let promotion = promote(&members, &current, cluster.term, id, force).map_err(|e| {
                    let field = if matches!(e, PromotionError::NotCandidate { .. }) { "force" } else { "node_id" };
                    $crate::StoreError::Rejected(muster_domain::FieldErrors::single(field, e.to_string()))
                })?;
                let leadership = &promotion.change.leadership;
                sqlx::query("UPDATE cluster_nodes SET priority = $2, updated_at = $3 WHERE id = $1")
                    .bind(id.as_str())
                    .bind(i64::from(promotion.priority))
                    .bind(d::time($crate::now()))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE clusters SET primary_node_id = $2, coordinator_node_id = $3, term = $4
                     WHERE id = $1",
                )
                .bind(cluster.id.as_str())
                .bind(leadership.primary.as_ref().map(muster_domain::NodeId::as_str))
                .bind(leadership.coordinator.as_ref().map(muster_domain::NodeId::as_str))
                .bind($crate::shared::big(promotion.change.term))
                .execute(&mut *tx)
                .await?;
                mark_leaders(&mut tx, &cluster.id, leadership).await?;
                let event = $crate::events::node_promoted(&cluster, &node, &current, &promotion, force, actor);
                insert_event(&mut tx, &event).await?;
                // No reconcile here: a forced promotion is an operator's explicit
                // decision and stands until the next change is judged.
                let (cluster, _, _) = lock_cluster(&mut tx, cluster.id.as_str()).await?;
                tx.commit().await?;
                Ok(cluster)
            })
        }

        fn retire_node<'a>(
            &'a self,
            id: &'a muster_domain::NodeId,
            remove: bool,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, ()> {
            Box::pin(async move {
                let mut tx = self.pool.begin_with(d::BEGIN_WRITE).await?;
                let node = node_by_id(&mut tx, id.as_str()).await?;
                let (cluster, maintenance, ever_online) =
                    lock_cluster(&mut tx, node.cluster_id.as_str()).await?;
                if !remove && node.status == muster_domain::NodeStatus::Decommissioned {
                    return Err($crate::StoreError::Rejected(muster_domain::FieldErrors::single(
                        "node_id",
                        "the node is already decommissioned",
                    )));
                }
                let now = d::time($crate::now());
                if remove {
                    sqlx::query("DELETE FROM cluster_nodes WHERE id = $1")
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                } else {
                    sqlx::query(
                        "UPDATE cluster_nodes SET status = 'decommissioned', token_hash = NULL,
                            is_primary = $2, is_coordinator = $2, updated_at = $3, status_changed_at = $3
                         WHERE id = $1",
                    )
                    .bind(id.as_str())
                    .bind(false)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                insert_event(&mut tx, &$crate::events::node_retired(&node, remove, actor)).await?;
                reconcile_cluster(&mut tx, &cluster, maintenance, ever_online, actor).await?;
                tx.commit().await?;
                Ok(())
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
