//! Metric samples and their rollups.

macro_rules! metric_fns {
    () => {
        /// Writes one sample of several metrics in a single statement.
        async fn insert_metrics(
            conn: &mut d::Conn,
            cluster_id: &muster_domain::ClusterId,
            node_id: &muster_domain::NodeId,
            metrics: &std::collections::BTreeMap<String, f64>,
            at: chrono::DateTime<chrono::Utc>,
        ) -> Result<u64, $crate::StoreError> {
            if metrics.is_empty() {
                return Ok(0);
            }
            let mut sql = String::from(
                "INSERT INTO cluster_metrics (cluster_id, node_id, name, value, recorded_at) VALUES ",
            );
            for i in 0..metrics.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let n = 3 + 2 * i;
                sql.push_str(&format!("($1, $2, ${}, ${}, $3)", n + 1, n + 2));
            }
            let mut q = sqlx::query(&sql)
                .bind(cluster_id.as_str())
                .bind(node_id.as_str())
                .bind(d::time(at));
            for (name, value) in metrics {
                q = q.bind(name.as_str()).bind(*value);
            }
            Ok(q.execute(&mut *conn).await?.rows_affected())
        }
    };
}

macro_rules! metric_methods {
    () => {
        fn record_metrics<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
            node_id: &'a muster_domain::NodeId,
            metrics: &'a std::collections::BTreeMap<String, f64>,
        ) -> $crate::StoreFuture<'a, u64> {
            Box::pin(async move {
                muster_domain::metrics::check_metrics(metrics.iter().map(|(k, v)| (k.as_str(), *v)))
                    .map_err($crate::StoreError::Invalid)?;
                if !node_id.belongs_to(cluster_id) {
                    return Err($crate::StoreError::Invalid(muster_domain::FieldErrors::single(
                        "node_id",
                        format!("node {node_id} does not belong to cluster {cluster_id}"),
                    )));
                }
                let mut tx = self.pool.begin_with(d::BEGIN_WRITE).await?;
                let node = node_by_id(&mut tx, node_id.as_str()).await?;
                if &node.cluster_id != cluster_id {
                    return Err($crate::StoreError::NotFound("node"));
                }
                let written = insert_metrics(&mut tx, cluster_id, node_id, metrics, $crate::now()).await?;
                tx.commit().await?;
                Ok(written)
            })
        }

        fn metric_history<'a>(
            &'a self,
            node_id: &'a muster_domain::NodeId,
            name: &'a str,
            since: chrono::DateTime<chrono::Utc>,
            until: chrono::DateTime<chrono::Utc>,
            step: muster_domain::metrics::MetricStep,
        ) -> $crate::StoreFuture<'a, Vec<muster_domain::MetricPoint>> {
            Box::pin(async move {
                use muster_domain::metrics::{MetricStep, bucket_start};
                use sqlx::Row as _;
                // Raw samples feed the current buckets until the rollup job has
                // seen them, so a chart never has a gap at its right edge.
                let rows = sqlx::query(
                    "SELECT value, recorded_at FROM cluster_metrics
                     WHERE node_id = $1 AND name = $2 AND recorded_at >= $3 AND recorded_at <= $4
                     ORDER BY recorded_at LIMIT $5",
                )
                .bind(node_id.as_str())
                .bind(name)
                .bind(d::time(since))
                .bind(d::time(until))
                .bind($crate::RAW_POINT_LIMIT)
                .fetch_all(&self.pool)
                .await?;
                let mut raw = Vec::with_capacity(rows.len());
                for row in &rows {
                    raw.push((d::get_time(row, "recorded_at")?, row.try_get::<f64, _>("value")?));
                }
                if step == MetricStep::Raw {
                    return Ok(raw
                        .into_iter()
                        .map(|(at, v)| muster_domain::MetricPoint { at, min: v, max: v, avg: v, count: 1 })
                        .collect());
                }
                let rolled = sqlx::query(
                    "SELECT bucket_start, min_value, max_value, avg_value, sample_count
                     FROM cluster_metric_rollups
                     WHERE node_id = $1 AND name = $2 AND step = $3
                       AND bucket_start >= $4 AND bucket_start <= $5
                     ORDER BY bucket_start",
                )
                .bind(node_id.as_str())
                .bind(name)
                .bind(step.as_str())
                .bind(d::time(bucket_start(since, step)))
                .bind(d::time(until))
                .fetch_all(&self.pool)
                .await?;
                let mut buckets: std::collections::BTreeMap<chrono::DateTime<chrono::Utc>, muster_domain::metrics::Rollup> =
                    std::collections::BTreeMap::new();
                for row in &rolled {
                    buckets.insert(
                        d::get_time(row, "bucket_start")?,
                        muster_domain::metrics::Rollup {
                            min: row.try_get("min_value")?,
                            max: row.try_get("max_value")?,
                            avg: row.try_get("avg_value")?,
                            count: int("sample_count", row.try_get("sample_count")?)?,
                        },
                    );
                }
                let mut pending: std::collections::BTreeMap<chrono::DateTime<chrono::Utc>, Vec<f64>> =
                    std::collections::BTreeMap::new();
                for (at, v) in raw {
                    let b = bucket_start(at, step);
                    if !buckets.contains_key(&b) {
                        pending.entry(b).or_default().push(v);
                    }
                }
                for (b, values) in pending {
                    if let Some(r) = muster_domain::metrics::Rollup::of(&values) {
                        buckets.insert(b, r);
                    }
                }
                Ok(buckets
                    .into_iter()
                    .map(|(at, r)| muster_domain::MetricPoint { at, min: r.min, max: r.max, avg: r.avg, count: r.count })
                    .collect())
            })
        }
    };
}
