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
            Box::pin(async move {
                let mut tx = begin_write(&self.writer).await?;
                if let Some(relax) = d::RELAXED_COMMIT {
                    sqlx::query(relax).execute(&mut *tx).await?;
                }
                // Clusters are locked in one order, so concurrent batches on
                // PostgreSQL cannot deadlock on them.
                let mut clusters = std::collections::BTreeMap::new();
                for hb in batch {
                    clusters.entry(hb.cluster_id.to_string()).or_insert(None);
                }
                let ids: Vec<String> = clusters.keys().cloned().collect();
                let mut locked = lock_clusters(&mut tx, &ids).await?;
                for (id, slot) in &mut clusters {
                    *slot = locked.remove(id);
                }
                let mut nodes = nodes_of_batch(&mut tx, batch).await?;
                let mut results: Vec<Result<(muster_domain::NodeId, u64), $crate::StoreError>> =
                    Vec::with_capacity(batch.len());
                let mut touched = std::collections::BTreeSet::new();
                let mut metrics = Vec::with_capacity(batch.len() * 7);
                let mut late = Vec::new();
                let mut updates: Vec<NodeUpdate<'_>> = Vec::with_capacity(batch.len());
                let mut update_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::with_capacity(batch.len());
                for hb in batch {
                    let Some((cluster, _, _)) = clusters.get(hb.cluster_id.as_str()).and_then(Option::as_ref) else {
                        results.push(Err($crate::StoreError::NotFound("node")));
                        continue;
                    };
                    let Some(known) = nodes.get_mut(hb.node_id.as_str()) else {
                        results.push(Err($crate::StoreError::NotFound("node")));
                        continue;
                    };
                    match apply_heartbeat(&mut tx, cluster, hb, known, &mut metrics, &mut late).await? {
                        Ok(Some(update)) => {
                            let seq = hb.request.seq;
                            if update.judged {
                                touched.insert(cluster.id.to_string());
                            }
                            // A node's later heartbeat in the same batch carries
                            // everything its earlier one did: one row write each.
                            match update_of.entry(hb.node_id.as_str()) {
                                std::collections::hash_map::Entry::Occupied(e) => {
                                    let earlier = &mut updates[*e.get()];
                                    let judged = earlier.judged || update.judged;
                                    *earlier = NodeUpdate { judged, ..update };
                                }
                                std::collections::hash_map::Entry::Vacant(e) => {
                                    e.insert(updates.len());
                                    updates.push(update);
                                }
                            }
                            results.push(Ok((hb.node_id.clone(), seq)));
                        }
                        Ok(None) => results.push(Err($crate::StoreError::NotFound("node"))),
                        Err(duplicate) => results.push(Ok((hb.node_id.clone(), duplicate))),
                    }
                }
                update_node_rows(&mut tx, &updates).await?;
                insert_metric_rows(&mut tx, &metrics).await?;
                for (node_id, at) in late {
                    fold_late_sample(&mut tx, &node_id, at).await?;
                }
                let mut after = std::collections::BTreeMap::new();
                for (id, locked) in &clusters {
                    let Some((cluster, maintenance, ever_online)) = locked else { continue };
                    let cluster = if touched.contains(id) {
                        reconcile_cluster(&mut tx, cluster, *maintenance, *ever_online, "system").await?
                    } else {
                        cluster.clone()
                    };
                    after.insert(id.clone(), cluster);
                }
                tx.commit().await?;
                Ok(batch
                    .iter()
                    .zip(results)
                    .map(|(hb, r)| {
                        let (node_id, ack_seq) = r?;
                        let cluster = after
                            .get(hb.cluster_id.as_str())
                            .ok_or($crate::StoreError::NotFound("node"))?;
                        Ok($crate::HeartbeatAck {
                            ack_seq,
                            role: muster_domain::protocol::NodeRole {
                                is_primary: cluster.primary_node_id.as_ref() == Some(&node_id),
                                is_coordinator: cluster.coordinator_node_id.as_ref() == Some(&node_id),
                            },
                            term: cluster.term,
                            interval_s: cluster.config.health_check_interval_s,
                        })
                    })
                    .collect())
            })
        }

        fn sweep_liveness(
            &self,
            now: chrono::DateTime<chrono::Utc>,
            server_started_at: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreFuture<'_, Option<$crate::SweepReport>> {
            Box::pin(async move {
                use sqlx::Row as _;
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
                let mut by_cluster: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
                for r in &rows {
                    by_cluster
                        .entry(r.try_get::<String, _>("cluster_id")?)
                        .or_default()
                        .push(r.try_get::<String, _>("id")?);
                }
                let mut report = $crate::SweepReport::default();
                for (cluster_id, nodes) in by_cluster {
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
                tx.commit().await?;
                Ok(Some(report))
            })
        }
    };
}

macro_rules! ingest_fns {
    () => {
        /// A node row as one heartbeat leaves it.
        struct NodeUpdate<'a> {
            hb: &'a $crate::HeartbeatWrite,
            status: muster_domain::NodeStatus,
            health: muster_domain::HealthStatus,
            /// The sample, at its own time.
            usage: muster_domain::health::UsageSample,
            /// Whether this heartbeat changed the node's status or health (its
            /// cluster must be judged again); only then are those (indexed)
            /// columns written.
            judged: bool,
        }

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

        /// Locks the clusters (in id order, up to 128 per statement) and reads
        /// them with their maintenance and ever-online flags.
        #[allow(clippy::type_complexity)]
        async fn lock_clusters(
            conn: &mut d::Conn,
            ids: &[String],
        ) -> Result<std::collections::HashMap<String, (muster_domain::Cluster, bool, bool)>, $crate::StoreError> {
            use sqlx::Row as _;
            let mut out = std::collections::HashMap::with_capacity(ids.len());
            for chunk in $crate::shared::pieces(ids) {
                let sql = format!(
                    "SELECT * FROM clusters WHERE id IN {} ORDER BY id{}",
                    $crate::shared::in_list(d::NUMBERED_PARAMS, chunk.len()),
                    d::FOR_UPDATE
                );
                let mut q = sqlx::query(&sql);
                for id in chunk {
                    q = q.bind(id.as_str());
                }
                for row in q.fetch_all(&mut *conn).await? {
                    let cluster = cluster_from_row(&row)?;
                    out.insert(
                        cluster.id.to_string(),
                        (cluster, row.try_get("maintenance")?, row.try_get("ever_online")?),
                    );
                }
            }
            Ok(out)
        }

        /// The batch's nodes, each with the last sequence number committed for
        /// it, read in a few statements.
        async fn nodes_of_batch(
            conn: &mut d::Conn,
            batch: &[$crate::HeartbeatWrite],
        ) -> Result<std::collections::HashMap<String, (muster_domain::Node, u64)>, $crate::StoreError> {
            use sqlx::Row as _;
            let mut ids: Vec<&str> = batch.iter().map(|hb| hb.node_id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            let mut nodes = std::collections::HashMap::with_capacity(ids.len());
            for chunk in $crate::shared::pieces(&ids) {
                let sql = format!(
                    "SELECT * FROM cluster_nodes WHERE id IN {}",
                    $crate::shared::in_list(d::NUMBERED_PARAMS, chunk.len())
                );
                let mut q = sqlx::query(&sql);
                for id in chunk {
                    q = q.bind(*id);
                }
                for row in q.fetch_all(&mut *conn).await? {
                    let node = node_from_row(&row)?;
                    let last_seq = row
                        .try_get::<Option<i64>, _>("last_seq")?
                        .map_or(0, |s| u64::try_from(s).unwrap_or(0));
                    nodes.insert(node.id.to_string(), (node, last_seq));
                }
            }
            Ok(nodes)
        }

        /// Writes one heartbeat's events and says how its node row is to be
        /// written; its metrics are gathered into `metrics` (and `late` when
        /// they may belong to written rollups) for one insert per batch.
        /// `Ok(Some(update))` when applied, `Ok(None)` when the node is gone or retired,
        /// `Err(last_seq)` when the sequence number was already committed
        /// (nothing written).
        #[allow(clippy::type_complexity)]
        async fn apply_heartbeat<'a>(
            conn: &mut d::Conn,
            cluster: &muster_domain::Cluster,
            hb: &'a $crate::HeartbeatWrite,
            known: &mut (muster_domain::Node, u64),
            metrics: &mut Vec<(muster_domain::ClusterId, muster_domain::NodeId, &'static str, f64, chrono::DateTime<chrono::Utc>)>,
            late: &mut Vec<(muster_domain::NodeId, chrono::DateTime<chrono::Utc>)>,
        ) -> Result<Result<Option<NodeUpdate<'a>>, u64>, $crate::StoreError> {
            use muster_domain::cluster_state::{node_health_event, node_status_event};
            let (before, last_seq) = (&known.0, known.1);
            if before.cluster_id != cluster.id || before.status == muster_domain::NodeStatus::Decommissioned {
                return Ok(Ok(None));
            }
            if last_seq > 0 && hb.request.seq <= last_seq {
                // Already committed (a retry after a lost answer): nothing
                // is written twice.
                return Ok(Err(last_seq));
            }
            let at = hb.received_at;
            // A replayed sample keeps its own time (never later than now);
            // one older than raw samples are kept is acknowledged unrecorded.
            let sampled = hb.request.sampled_at.map_or(at, |t| t.min(at));
            let keep_from = at - chrono::Duration::hours(muster_domain::metrics::RAW_RETENTION_HOURS - 1);
            if sampled >= keep_from {
                let m = &hb.request.metrics;
                #[allow(clippy::cast_precision_loss)] // process counts are far below 2^52
                let processes = m.process_count as f64;
                for (name, value) in [
                    ("cpu_usage_percent", m.cpu_usage_percent),
                    ("memory_usage_percent", m.memory_usage_percent),
                    ("disk_usage_percent", m.disk_usage_percent),
                    ("load_average", m.load_average),
                    ("network_rx_mbps", m.network_rx_mbps),
                    ("network_tx_mbps", m.network_tx_mbps),
                    ("process_count", processes),
                ] {
                    metrics.push((cluster.id.clone(), hb.node_id.clone(), name, value, sampled));
                }
                // Only a sample from before the current minute can belong to
                // a bucket the rollup job has written.
                if sampled < muster_domain::metrics::bucket_start(at, muster_domain::metrics::MetricStep::Minute) {
                    late.push((hb.node_id.clone(), sampled));
                }
            }
            let status = muster_domain::liveness::status_after_heartbeat(before.status, hb.request.status);
            let usage = hb.request.metrics.usage(sampled);
            let health = muster_domain::health::node_health(
                Some(&usage),
                at,
                cluster.config.health_check_interval_s,
            );
            let judged = before.status != status || before.health_status != health;
            let update = NodeUpdate { hb, status, health, usage, judged };
            let mut node = before.clone();
            node.status = status;
            node.health_status = health;
            node.last_heartbeat_at = Some(at);
            node.usage = Some(usage);
            node.system = Some(hb.request.system.clone());
            node.updated_at = at;
            let actor = muster_domain::Actor::Node(node.id.clone()).to_string();
            if before.status != node.status {
                let why = (node.status == muster_domain::NodeStatus::Offline)
                    .then_some("the agent reported it is stopping");
                insert_event(&mut *conn, &node_status_event(&node, before.status, node.status, &actor, why)).await?;
            }
            if before.health_status != node.health_status {
                insert_event(&mut *conn, &node_health_event(&node, before.health_status, node.health_status, &actor, at)).await?;
            }
            *known = (node, hb.request.seq);
            Ok(Ok(Some(update)))
        }

        /// Writes the batch's node rows, up to 128 per statement. Rows whose
        /// status and health stay as they were leave those columns alone, so
        /// their indexes are not rewritten on every heartbeat.
        async fn update_node_rows(conn: &mut d::Conn, updates: &[NodeUpdate<'_>]) -> Result<(), $crate::StoreError> {
            // VALUES columns are named column1… on both databases.
            const SAMPLE: &str = "updated_at = v.column2, last_heartbeat_at = v.column2, last_seq = v.column3,
                last_cpu_percent = v.column4, last_memory_percent = v.column5, last_disk_percent = v.column6,
                last_sample_at = v.column7, system_info = v.column8, processes = v.column9";
            const JUDGED: &str = ", status = v.column10, health_status = v.column11,
                status_changed_at = CASE WHEN cluster_nodes.status = v.column10
                    THEN cluster_nodes.status_changed_at ELSE v.column2 END";
            let (judged, steady): (Vec<&NodeUpdate<'_>>, Vec<&NodeUpdate<'_>>) = updates.iter().partition(|u| u.judged);
            for (rows, with_status) in [(steady, false), (judged, true)] {
                let (width, set) = if with_status { (11, JUDGED) } else { (9, "") };
                for piece in $crate::shared::pieces(&rows) {
                    let sql = format!(
                        "UPDATE cluster_nodes SET {SAMPLE}{set} FROM (VALUES {}) AS v WHERE cluster_nodes.id = v.column1",
                        $crate::shared::value_tuples(d::NUMBERED_PARAMS, piece.len(), width)
                    );
                    let mut q = sqlx::query(&sql);
                    for u in piece {
                        q = q
                            .bind(u.hb.node_id.as_str())
                            .bind(d::time(u.hb.received_at))
                            .bind($crate::shared::big(u.hb.request.seq))
                            .bind(u.usage.cpu_percent)
                            .bind(u.usage.memory_percent)
                            .bind(u.usage.disk_percent)
                            .bind(d::time(u.usage.at))
                            .bind(d::json(&u.hb.request.system))
                            .bind(d::json(&u.hb.request.processes));
                        if with_status {
                            q = q.bind(u.status.as_str()).bind(u.health.as_str());
                        }
                    }
                    q.execute(&mut *conn).await?;
                }
            }
            Ok(())
        }

        /// Inserts a batch's metric samples, up to 128 rows per statement.
        async fn insert_metric_rows(
            conn: &mut d::Conn,
            rows: &[(muster_domain::ClusterId, muster_domain::NodeId, &'static str, f64, chrono::DateTime<chrono::Utc>)],
        ) -> Result<(), $crate::StoreError> {
            for chunk in $crate::shared::pieces(rows) {
                let sql = format!(
                    "INSERT INTO cluster_metrics (cluster_id, node_id, name, value, recorded_at) VALUES {}",
                    $crate::shared::value_tuples(d::NUMBERED_PARAMS, chunk.len(), 5)
                );
                let mut q = sqlx::query(&sql);
                for (cluster, node, name, value, at) in chunk {
                    q = q
                        .bind(cluster.as_str())
                        .bind(node.as_str())
                        .bind(*name)
                        .bind(*value)
                        .bind(d::time(*at));
                }
                q.execute(&mut *conn).await?;
            }
            Ok(())
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
            sqlx::query(
                "INSERT INTO cluster_metric_rollups
                    (cluster_id, node_id, name, step, bucket_start, min_value, max_value, avg_value, sample_count)
                 SELECT cluster_id, node_id, name, '1m', $2, MIN(value), MAX(value), AVG(value), COUNT(*)
                 FROM cluster_metrics WHERE node_id = $1 AND recorded_at >= $2 AND recorded_at < $3
                 GROUP BY cluster_id, node_id, name
                 ON CONFLICT (node_id, name, step, bucket_start) DO UPDATE SET
                    min_value = excluded.min_value, max_value = excluded.max_value,
                    avg_value = excluded.avg_value, sample_count = excluded.sample_count",
            )
            .bind(node_id.as_str())
            .bind(d::time(minute))
            .bind(d::time(minute + chrono::Duration::minutes(1)))
            .execute(&mut *conn)
            .await?;
            if !passed("1h")? {
                return Ok(());
            }
            let hour = bucket_start(at, MetricStep::Hour);
            sqlx::query(
                "INSERT INTO cluster_metric_rollups
                    (cluster_id, node_id, name, step, bucket_start, min_value, max_value, avg_value, sample_count)
                 SELECT cluster_id, node_id, name, '1h', $2, MIN(min_value), MAX(max_value),
                    SUM(avg_value * sample_count) / SUM(sample_count), SUM(sample_count)
                 FROM cluster_metric_rollups
                 WHERE node_id = $1 AND step = '1m' AND bucket_start >= $2 AND bucket_start < $3
                 GROUP BY cluster_id, node_id, name
                 ON CONFLICT (node_id, name, step, bucket_start) DO UPDATE SET
                    min_value = excluded.min_value, max_value = excluded.max_value,
                    avg_value = excluded.avg_value, sample_count = excluded.sample_count",
            )
            .bind(node_id.as_str())
            .bind(d::time(hour))
            .bind(d::time(hour + chrono::Duration::hours(1)))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
    };
}
