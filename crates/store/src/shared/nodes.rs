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
            $crate::changes::recorded(&self.feed, async move {
                node.validate().map_err($crate::StoreError::Invalid)?;
                let mut tx = begin_write(&self.writer).await?;
                let node = insert_node(&mut tx, cluster_id, node, token_hash, actor).await?;
                commit(tx).await?;
                Ok(node)
            })
        }

        fn get_node<'a>(
            &'a self,
            id: &'a muster_domain::NodeId,
        ) -> $crate::StoreFuture<'a, muster_domain::Node> {
            Box::pin(async move {
                let mut tx = begin_read(&self.pool, $crate::Scope::All).await?;
                node_by_id(&mut tx, id.as_str()).await
            })
        }

        fn update_node_status<'a>(
            &'a self,
            id: &'a muster_domain::NodeId,
            update: &'a muster_domain::NodeStatusUpdate,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Node> {
            $crate::changes::recorded(&self.feed, async move {
                use muster_domain::cluster_state::{node_health_event, node_status_event};
                update.validate().map_err($crate::StoreError::Invalid)?;
                let now = $crate::now();
                let mut tx = begin_write(&self.writer).await?;
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
                commit(tx).await?;
                Ok(node)
            })
        }

        fn promote_node<'a>(
            &'a self,
            id: &'a muster_domain::NodeId,
            force: bool,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Cluster> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                let node = node_by_id(&mut tx, id.as_str()).await?;
                let (cluster, _, _) = lock_cluster(&mut tx, node.cluster_id.as_str()).await?;
                let nodes = nodes_of(&mut tx, cluster.id.as_str()).await?;
                let members: Vec<_> = nodes.iter().map(muster_domain::cluster_state::member).collect();
                let cluster = promote_in(&mut tx, &cluster, &members, &node, force, actor).await?;
                commit(tx).await?;
                Ok(cluster)
            })
        }

        fn retire_node<'a>(
            &'a self,
            id: &'a muster_domain::NodeId,
            remove: bool,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, ()> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                let node = node_by_id(&mut tx, id.as_str()).await?;
                let (cluster, maintenance, ever_online) =
                    lock_cluster(&mut tx, node.cluster_id.as_str()).await?;
                retire_in(&mut tx, &node, remove, actor).await?;
                reconcile_cluster(&mut tx, &cluster, maintenance, ever_online, actor).await?;
                commit(tx).await?;
                Ok(())
            })
        }

        fn list_nodes<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
        ) -> $crate::StoreFuture<'a, Vec<muster_domain::Node>> {
            Box::pin(async move {
                let mut tx = begin_read(&self.pool, $crate::Scope::All).await?;
                let rows =
                    sqlx::query("SELECT * FROM cluster_nodes WHERE cluster_id = $1 ORDER BY seq")
                        .bind(cluster_id.as_str())
                        .fetch_all(&mut *tx)
                        .await?;
                rows.iter().map(node_from_row).collect()
            })
        }

        fn node_processes<'a>(
            &'a self,
            of: $crate::ProcessesOf<'a>,
        ) -> $crate::StoreFuture<'a, Vec<muster_domain::processes::NodeProcesses>> {
            Box::pin(async move {
                use sqlx::Row as _;
                let (filter, id) = match of {
                    $crate::ProcessesOf::Cluster(c) => ("cluster_id", c.as_str()),
                    $crate::ProcessesOf::Node(n) => ("id", n.as_str()),
                };
                let sql = format!(
                    "SELECT id, name, cluster_id, last_sample_at, processes FROM cluster_nodes
                     WHERE {filter} = $1 AND processes IS NOT NULL ORDER BY seq"
                );
                let mut tx = begin_read(&self.pool, $crate::Scope::All).await?;
                let rows = sqlx::query(&sql).bind(id).fetch_all(&mut *tx).await?;
                rows.iter()
                    .map(|row| {
                        Ok(muster_domain::processes::NodeProcesses {
                            node_id: parse("id", row.try_get::<&str, _>("id")?)?,
                            node_name: row.try_get("name")?,
                            cluster_id: parse("cluster_id", row.try_get::<&str, _>("cluster_id")?)?,
                            reported_at: d::get_opt_time(row, "last_sample_at")?,
                            processes: row
                                .try_get::<Option<&str>, _>("processes")?
                                .map($crate::shared::batch::parse_processes)
                                .transpose()?
                                .unwrap_or_default(),
                        })
                    })
                    .collect()
            })
        }
    };
}
