//! Heartbeats from node agents, written a batch per transaction, and the
//! liveness sweep that marks silent nodes unreachable and then offline.

macro_rules! ingest_methods {
    () => {
        fn node_for_token<'a>(
            &'a self,
            token_hash: &'a str,
        ) -> $crate::StoreFuture<'a, Option<(muster_domain::NodeId, muster_domain::ClusterId)>> {
            Box::pin(async move {
                use sqlx::Row as _;
                let mut tx = begin_read(&self.pool, $crate::Scope::All).await?;
                let row = sqlx::query(
                    "SELECT id, cluster_id FROM cluster_nodes
                     WHERE token_hash = $1 AND status <> 'decommissioned'",
                )
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                row.map(|r| {
                    Ok((
                        parse("id", r.try_get::<&str, _>("id")?)?,
                        parse("cluster_id", r.try_get::<&str, _>("cluster_id")?)?,
                    ))
                })
                .transpose()
            })
        }

        fn ingest_heartbeats<'a>(
            &'a self,
            batch: &'a [$crate::HeartbeatWrite],
        ) -> $crate::StoreFuture<'a, Vec<Result<$crate::HeartbeatAck, $crate::StoreError>>> {
            $crate::changes::recorded(&self.feed, async move {
                let mut results: Vec<Option<Result<$crate::HeartbeatAck, $crate::StoreError>>> =
                    batch.iter().map(|_| None).collect();
                let mut pending: Vec<usize> = (0..batch.len()).collect();
                // Where writers run side by side, a first pass writes the
                // heartbeats that change no status without waiting on any
                // lock; the rest follow in a pass that locks their clusters.
                let mut exclusive = !d::CONCURRENT_WRITERS;
                let mut conn = self.heartbeats.acquire().await?;
                while !pending.is_empty() {
                    match write_heartbeats(&mut conn, batch, &pending, exclusive, &mut results).await {
                        Ok(left) => pending = left,
                        Err(e) => {
                            if e.lost_connection() {
                                conn.close_on_drop();
                            }
                            return Err(e);
                        }
                    }
                    exclusive = true;
                }
                drop(conn);
                self.after_batch().await;
                Ok(results
                    .into_iter()
                    .map(|r| r.unwrap_or(Err($crate::StoreError::NotFound("node"))))
                    .collect())
            })
        }

        fn sweep_liveness(
            &self,
            now: chrono::DateTime<chrono::Utc>,
            server_started_at: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreFuture<'_, Option<$crate::SweepReport>> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                if let Some(lock) = d::TRY_JOB_LOCK {
                    let got: bool = sqlx::query_scalar(lock)
                        .bind($crate::SWEEP_JOB_LOCK)
                        .fetch_one(&mut *tx)
                        .await?;
                    if !got {
                        return Ok(None);
                    }
                }
                let mut report = $crate::SweepReport {
                    operations_timed_out: expire_operations(&mut tx, now).await?,
                    maintenance_ended: expire_maintenance(&mut tx, now).await?,
                    ..$crate::SweepReport::default()
                };
                // Only nodes silent for longer than the shortest interval allows
                // can change; the exact rule runs below, per cluster interval.
                let shortest = muster_domain::ClusterSettings::MIN_HEALTH_CHECK_S;
                let cutoff = now
                    - muster_domain::liveness::unreachable_after(shortest).min(chrono::Duration::seconds(
                        muster_domain::health::STALE_AFTER_INTERVALS * i64::from(shortest),
                    ));
                let rows = sqlx::query(
                    "SELECT n.id, n.cluster_id FROM cluster_nodes n JOIN clusters c ON c.id = n.cluster_id
                     WHERE c.decommissioned_at IS NULL
                       AND ((n.status IN ('online', 'unreachable')
                             AND (n.last_heartbeat_at IS NULL OR n.last_heartbeat_at < $1))
                         OR (n.health_status <> 'unknown' AND n.last_sample_at < $1))
                     ORDER BY n.cluster_id, n.id",
                )
                .bind(d::time(cutoff))
                .fetch_all(&mut *tx)
                .await?;
                for (cluster_id, nodes) in nodes_by_cluster(&rows)? {
                    let (cluster, maintenance, ever_online) = lock_cluster(&mut tx, &cluster_id).await?;
                    let interval = cluster.config.health_check_interval_s;
                    let mut changed = false;
                    for id in nodes {
                        changed |= sweep_node(&mut tx, &id, interval, now, server_started_at, &mut report).await?;
                    }
                    if changed {
                        reconcile_cluster(&mut tx, &cluster, maintenance, ever_online, "system").await?;
                    }
                }
                commit(tx).await?;
                Ok(Some(report))
            })
        }
    };
}

macro_rules! ingest_fns {
    () => {
        /// Judges one node's liveness and health by the clock; whether it changed.
        async fn sweep_node(
            conn: &mut d::Conn,
            id: &str,
            interval: u32,
            now: chrono::DateTime<chrono::Utc>,
            server_started_at: chrono::DateTime<chrono::Utc>,
            report: &mut $crate::SweepReport,
        ) -> Result<bool, $crate::StoreError> {
            use muster_domain::cluster_state::{node_health_event, node_status_event};
            use muster_domain::liveness::{LivenessInput, swept_status};
            let node = node_by_id(&mut *conn, id).await?;
            let status = swept_status(&LivenessInput {
                status: node.status,
                last_heartbeat_at: node.last_heartbeat_at,
                now,
                interval_s: interval,
                server_started_at,
            });
            let health = match node.status {
                muster_domain::NodeStatus::Online
                | muster_domain::NodeStatus::Unreachable
                | muster_domain::NodeStatus::Draining
                | muster_domain::NodeStatus::Maintenance
                | muster_domain::NodeStatus::Offline => {
                    // A sample taken before the server started counts as
                    // taken at the start, as heartbeats do.
                    let usage = node.usage.map(|u| muster_domain::health::UsageSample {
                        at: u.at.max(server_started_at),
                        ..u
                    });
                    // Time only ever makes health unknown; a fresh judgement
                    // (or an operator's override) comes with a sample.
                    match muster_domain::health::node_health(usage.as_ref(), now, interval) {
                        muster_domain::HealthStatus::Unknown => muster_domain::HealthStatus::Unknown,
                        _ => node.health_status,
                    }
                }
                _ => node.health_status,
            };
            if status == node.status && health == node.health_status {
                return Ok(false);
            }
            let row = sqlx::query(
                "UPDATE cluster_nodes SET status = $2, health_status = $3, updated_at = $4,
                    status_changed_at = CASE WHEN status = $2 THEN status_changed_at ELSE $4 END
                 WHERE id = $1 RETURNING *",
            )
            .bind(id)
            .bind(status.as_str())
            .bind(health.as_str())
            .bind(d::time(now))
            .fetch_one(&mut *conn)
            .await?;
            let after = node_from_row(&row)?;
            if status != node.status {
                let silent = node
                    .last_heartbeat_at
                    .map_or_else(|| "never reported".to_owned(), |t| format!("no heartbeat for {} s", (now - t).num_seconds()));
                insert_event(&mut *conn, &node_status_event(&after, node.status, status, "system", Some(&silent))).await?;
                match status {
                    muster_domain::NodeStatus::Unreachable => report.unreachable += 1,
                    muster_domain::NodeStatus::Offline => report.offline += 1,
                    _ => {}
                }
            }
            if health != node.health_status {
                insert_event(&mut *conn, &node_health_event(&after, node.health_status, health, "system", now)).await?;
                report.health_changed += 1;
            }
            Ok(true)
        }

        /// A heartbeat that changes its node's status or health, for its events.
        struct Judged<'a> {
            hb: &'a $crate::HeartbeatWrite,
            status: (muster_domain::NodeStatus, muster_domain::NodeStatus),
            health: (muster_domain::HealthStatus, muster_domain::HealthStatus),
        }

        /// One transaction of a heartbeat batch: writes the heartbeats at
        /// `indices`, records their results, and returns those it left for a
        /// pass that locks clusters. Only a pass that is not `exclusive`
        /// leaves any: heartbeats that change their node's status or health
        /// (the cluster is judged again), and nodes another transaction holds.
        #[allow(clippy::too_many_lines)]
        async fn write_heartbeats(
            conn: &mut d::Conn,
            batch: &[$crate::HeartbeatWrite],
            indices: &[usize],
            exclusive: bool,
            results: &mut [Option<Result<$crate::HeartbeatAck, $crate::StoreError>>],
        ) -> Result<Vec<usize>, $crate::StoreError> {
            use muster_domain::cluster_state::{node_health_event, node_status_event};
            use muster_domain::NodeStatus;
            use $crate::shared::batch::{NodeRow, SampleRow};
            let mut tx = begin_write_on(conn).await?;
            let cluster_ids: std::collections::BTreeSet<&str> =
                indices.iter().map(|&i| batch[i].cluster_id.as_str()).collect();
            let node_ids: std::collections::BTreeSet<&str> =
                indices.iter().map(|&i| batch[i].node_id.as_str()).collect();
            let (mut clusters, mut nodes) = batch_states(&mut tx, &cluster_ids, &node_ids, exclusive).await?;

            let mut deferred = Vec::new();
            let mut deferred_nodes = std::collections::HashSet::new();
            let mut acked: Vec<(usize, u64)> = Vec::with_capacity(indices.len());
            let mut rows: Vec<(NodeRow<'_, _>, bool)> = Vec::with_capacity(indices.len());
            let mut row_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::with_capacity(indices.len());
            let mut samples = Vec::with_capacity(indices.len());
            let mut late = Vec::new();
            let mut judged: Vec<Judged<'_>> = Vec::new();
            let mut touched = std::collections::BTreeSet::new();
            for &i in indices {
                let hb = &batch[i];
                let node_id = hb.node_id.as_str();
                if deferred_nodes.contains(node_id) {
                    // A node's heartbeats are written in order.
                    deferred.push(i);
                    continue;
                }
                let Some(cluster) = clusters.get(hb.cluster_id.as_str()) else {
                    results[i] = Some(Err($crate::StoreError::NotFound("node")));
                    continue;
                };
                let Some(node) = nodes.get_mut(node_id) else {
                    if exclusive {
                        results[i] = Some(Err($crate::StoreError::NotFound("node")));
                    } else {
                        deferred_nodes.insert(node_id);
                        deferred.push(i);
                    }
                    continue;
                };
                let (before_status, before_health) = (node.status, node.health);
                if node.cluster_id != hb.cluster_id.as_str() || before_status == NodeStatus::Decommissioned {
                    results[i] = Some(Err($crate::StoreError::NotFound("node")));
                    continue;
                }
                let last_seq = node.last_seq.map_or(0, |s| u64::try_from(s).unwrap_or(0));
                if last_seq > 0 && hb.request.seq <= last_seq {
                    // Already committed (a retry after a lost answer): nothing
                    // is written twice.
                    acked.push((i, last_seq));
                    continue;
                }
                let at = hb.received_at;
                // A replayed sample keeps its own time (never later than now).
                let sampled = hb.request.sampled_at.map_or(at, |t| t.min(at));
                let status = muster_domain::liveness::status_after_heartbeat(before_status, hb.request.status);
                let usage = hb.request.metrics.usage(sampled);
                let health = muster_domain::health::node_health(Some(&usage), at, cluster.interval_s);
                let changes = before_status != status || before_health != health;
                if changes && !exclusive {
                    deferred_nodes.insert(node_id);
                    deferred.push(i);
                    continue;
                }
                // One older than raw samples are kept is acknowledged unrecorded.
                let keep_from = at - chrono::Duration::hours(muster_domain::metrics::RAW_RETENTION_HOURS - 1);
                if sampled >= keep_from {
                    samples.push(SampleRow {
                        cluster: hb.cluster_id.as_str(),
                        node: node_id,
                        at: d::time(sampled),
                        metrics: hb.request.metrics.named(),
                    });
                    $crate::changes::note_sample(muster_domain::live::NodeSample {
                        node_id: hb.node_id.clone(),
                        cluster_id: hb.cluster_id.clone(),
                        recorded_at: sampled,
                        metrics: hb.request.metrics,
                    });
                    // Only a sample from before the current minute can belong
                    // to a bucket the rollup job has written.
                    if sampled < muster_domain::metrics::bucket_start(at, muster_domain::metrics::MetricStep::Minute) {
                        late.push((hb.node_id.clone(), sampled));
                    }
                }
                if changes {
                    touched.insert(hb.cluster_id.to_string());
                    judged.push(Judged {
                        hb,
                        status: (before_status, status),
                        health: (before_health, health),
                    });
                }
                node.status = status;
                node.health = health;
                node.last_seq = Some($crate::shared::big(hb.request.seq));
                let row = NodeRow {
                    id: node_id,
                    at: d::time(at),
                    seq: $crate::shared::big(hb.request.seq),
                    cpu: usage.cpu_percent,
                    mem: usage.memory_percent,
                    disk: usage.disk_percent,
                    sampled: d::time(usage.at),
                    system: &hb.request.system,
                    processes: &hb.request.processes,
                    status: status.as_str(),
                    health: health.as_str(),
                };
                // A node's later heartbeat in the same batch carries everything
                // its earlier one did: one row write each.
                match row_of.entry(node_id) {
                    std::collections::hash_map::Entry::Occupied(e) => {
                        let earlier = &mut rows[*e.get()];
                        *earlier = (row, earlier.1 || changes);
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(rows.len());
                        rows.push((row, changes));
                    }
                }
                acked.push((i, hb.request.seq));
            }
            let answered: std::collections::BTreeSet<&str> =
                acked.iter().map(|&(i, _)| batch[i].node_id.as_str()).collect();
            let handed = d::write_batch(&mut tx, &rows, &samples, &answered, d::time($crate::now())).await?;
            let mut delivered = delivered_from_rows(&handed)?;
            if !judged.is_empty() {
                let ids: std::collections::BTreeSet<&str> = judged.iter().map(|j| j.hb.node_id.as_str()).collect();
                let full: std::collections::HashMap<String, muster_domain::Node> =
                    rows_by_ids(&mut tx, "cluster_nodes", &ids, node_from_row)
                        .await?
                        .into_iter()
                        .map(|n| (n.id.to_string(), n))
                        .collect();
                for j in &judged {
                    let Some(node) = full.get(j.hb.node_id.as_str()) else { continue };
                    let actor = muster_domain::Actor::Node(node.id.clone()).to_string();
                    if j.status.0 != j.status.1 {
                        let why = (j.status.1 == NodeStatus::Offline).then_some("the agent reported it is stopping");
                        insert_event(&mut *tx, &node_status_event(node, j.status.0, j.status.1, &actor, why)).await?;
                    }
                    if j.health.0 != j.health.1 {
                        insert_event(&mut *tx, &node_health_event(node, j.health.0, j.health.1, &actor, j.hb.received_at)).await?;
                    }
                }
            }
            for (node_id, at) in late {
                fold_late_sample(&mut tx, &node_id, at).await?;
            }
            if !touched.is_empty() {
                let ids: Vec<String> = touched.into_iter().collect();
                for (id, (cluster, maintenance, ever_online)) in lock_clusters(&mut tx, &ids).await? {
                    let after = reconcile_cluster(&mut tx, &cluster, maintenance, ever_online, "system").await?;
                    if let Some(state) = clusters.get_mut(id.as_str()) {
                        state.term = after.term;
                        state.primary = after.primary_node_id.map(|n| n.to_string());
                        state.coordinator = after.coordinator_node_id.map(|n| n.to_string());
                    }
                }
            }
            commit(tx).await?;
            for (i, ack_seq) in acked {
                let hb = &batch[i];
                let Some(cluster) = clusters.get(hb.cluster_id.as_str()) else {
                    results[i] = Some(Err($crate::StoreError::NotFound("node")));
                    continue;
                };
                let node_id = Some(hb.node_id.as_str());
                results[i] = Some(Ok($crate::HeartbeatAck {
                    ack_seq,
                    role: muster_domain::protocol::NodeRole {
                        is_primary: cluster.primary.as_deref() == node_id,
                        is_coordinator: cluster.coordinator.as_deref() == node_id,
                    },
                    term: cluster.term,
                    interval_s: cluster.interval_s,
                    operations: delivered.remove(hb.node_id.as_str()).unwrap_or_default(),
                }));
            }
            Ok(deferred)
        }

        /// What heartbeats need of their clusters and nodes, by id, in one
        /// statement. `exclusive` locks the clusters (in id order) until the
        /// transaction ends; a pass that is not locks the node rows it can
        /// at once and leaves out those another transaction holds.
        #[allow(clippy::type_complexity)]
        async fn batch_states(
            conn: &mut d::Conn,
            cluster_ids: &std::collections::BTreeSet<&str>,
            node_ids: &std::collections::BTreeSet<&str>,
            exclusive: bool,
        ) -> Result<
            (
                std::collections::HashMap<String, $crate::shared::batch::ClusterState>,
                std::collections::HashMap<String, $crate::shared::batch::NodeState>,
            ),
            $crate::StoreError,
        > {
            use sqlx::Row as _;
            use $crate::shared::batch::{ClusterState, NodeState, json_param, parse_states};
            let cluster_columns = format!("id, term, primary_node_id, coordinator_node_id, {} AS interval_s", d::HEALTH_INTERVAL_S);
            let clusters = slim_rows(
                "clusters",
                (&cluster_columns, "id, term, primary_node_id, coordinator_node_id, interval_s"),
                "$1",
                if exclusive { d::FOR_UPDATE } else { "" },
            );
            let node_columns = "id, cluster_id, status, health_status, last_seq";
            let nodes = slim_rows(
                "cluster_nodes",
                (node_columns, node_columns),
                "$2",
                if exclusive { "" } else { d::LOCK_NOW_OR_SKIP },
            );
            // Clusters first: locks are taken clusters before nodes, as
            // everywhere else.
            let row = sqlx::query(&format!("SELECT ({clusters}) AS clusters, ({nodes}) AS nodes"))
                .bind(json_param(cluster_ids))
                .bind(json_param(node_ids))
                .fetch_one(&mut *conn)
                .await?;
            let clusters: Vec<ClusterState> = parse_states("clusters", row.try_get::<&str, _>("clusters")?)?;
            let nodes: Vec<NodeState> = parse_states("cluster_nodes", row.try_get::<&str, _>("nodes")?)?;
            Ok((
                clusters.into_iter().map(|c| (c.id.clone(), c)).collect(),
                nodes.into_iter().map(|n| (n.id.clone(), n)).collect(),
            ))
        }

        /// A query for the rows of `table` whose id is in the JSON list
        /// `param` (in id order, with `lock` appended to their selection):
        /// the selected `columns`, known by `names`, of each row, as one
        /// JSON array of arrays rather than a row each.
        fn slim_rows(table: &str, (columns, names): (&str, &str), param: &str, lock: &str) -> String {
            format!(
                "SELECT {} FROM (SELECT {columns} FROM {table} WHERE {} ORDER BY id{lock}) t",
                d::json_agg(names),
                d::in_json_list("id", param),
            )
        }

        /// Locks the clusters (in id order) and reads them with their
        /// maintenance and ever-online flags.
        #[allow(clippy::type_complexity)]
        async fn lock_clusters(
            conn: &mut d::Conn,
            ids: &[String],
        ) -> Result<Vec<(String, (muster_domain::Cluster, bool, bool))>, $crate::StoreError> {
            use sqlx::Row as _;
            let sql = format!(
                "SELECT * FROM clusters WHERE {} ORDER BY id{}",
                d::in_json_list("id", "$1"),
                d::FOR_UPDATE
            );
            let mut out = Vec::with_capacity(ids.len());
            for row in sqlx::query(&sql).bind($crate::shared::batch::json_param(ids)).fetch_all(&mut *conn).await? {
                let cluster = cluster_from_row(&row)?;
                out.push((
                    cluster.id.to_string(),
                    (cluster, row.try_get("maintenance")?, row.try_get("ever_online")?),
                ));
            }
            Ok(out)
        }

        /// A sample for a minute (or hour) the rollup job has already passed
        /// is folded into that bucket now, so rollups never miss a replayed
        /// sample.
        async fn fold_late_sample(
            conn: &mut d::Conn,
            node_id: &muster_domain::NodeId,
            at: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), $crate::StoreError> {
            use muster_domain::metrics::{MetricStep, bucket_start};
            let marks = sqlx::query("SELECT step, up_to FROM metric_rollup_watermarks")
                .fetch_all(&mut *conn)
                .await?;
            let passed = |step: &str| -> Result<bool, $crate::StoreError> {
                use sqlx::Row as _;
                for row in &marks {
                    if row.try_get::<&str, _>("step")? == step {
                        return Ok(at < d::get_time(row, "up_to")?);
                    }
                }
                Ok(false)
            };
            if !passed("1m")? {
                return Ok(());
            }
            let minute = bucket_start(at, MetricStep::Minute);
            let sql = insert_rollups(
                MetricStep::Minute,
                &minute_aggregates("node_id = $1 AND recorded_at >= $2 AND recorded_at < $3"),
            );
            sqlx::query(&sql)
                .bind(node_id.as_str())
                .bind(d::time(minute))
                .bind(d::time(minute + chrono::Duration::minutes(1)))
                .execute(&mut *conn)
                .await?;
            if !passed("1h")? {
                return Ok(());
            }
            let hour = bucket_start(at, MetricStep::Hour);
            let sql = insert_rollups(
                MetricStep::Hour,
                &hour_aggregates("node_id = $1 AND bucket_start >= $2 AND bucket_start < $3"),
            );
            sqlx::query(&sql)
            .bind(node_id.as_str())
            .bind(d::time(hour))
            .bind(d::time(hour + chrono::Duration::hours(1)))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
    };
}
