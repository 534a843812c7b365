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

/// Helpers of the rollup job, generated into each backend module.
macro_rules! rollup_fns {
    () => {
        /// Where the last rollup of `step` stopped, or where the data `first`
        /// (an SQL query for the oldest time, aliased `t`) starts.
        async fn watermark(
            conn: &mut d::Conn,
            step: &str,
            first: &str,
        ) -> Result<Option<chrono::DateTime<chrono::Utc>>, $crate::StoreError> {
            let row = sqlx::query("SELECT up_to FROM metric_rollup_watermarks WHERE step = $1")
                .bind(step)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(row) = row {
                return Ok(Some(d::get_time(&row, "up_to")?));
            }
            let row = sqlx::query(first).fetch_one(&mut *conn).await?;
            d::get_opt_time(&row, "t")
        }

        async fn set_watermark(
            conn: &mut d::Conn,
            step: &str,
            up_to: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), $crate::StoreError> {
            sqlx::query(
                "INSERT INTO metric_rollup_watermarks (step, up_to) VALUES ($1, $2)
                 ON CONFLICT (step) DO UPDATE SET up_to = excluded.up_to",
            )
            .bind(step)
            .bind(d::time(up_to))
            .execute(&mut *conn)
            .await?;
            Ok(())
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
            $crate::changes::recorded(&self.feed, async move {
                muster_domain::metrics::check_metrics(metrics.iter().map(|(k, v)| (k.as_str(), *v)))
                    .map_err($crate::StoreError::Invalid)?;
                if !node_id.belongs_to(cluster_id) {
                    return Err($crate::StoreError::Invalid(muster_domain::FieldErrors::single(
                        "node_id",
                        format!("node {node_id} does not belong to cluster {cluster_id}"),
                    )));
                }
                let mut tx = begin_write(&self.writer).await?;
                let node = node_by_id(&mut tx, node_id.as_str()).await?;
                if &node.cluster_id != cluster_id {
                    return Err($crate::StoreError::NotFound("node"));
                }
                let written = insert_metrics(&mut tx, cluster_id, node_id, metrics, $crate::now()).await?;
                commit(tx).await?;
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
                let mut tx = begin_read(&self.pool, $crate::Scope::All).await?;
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
                .fetch_all(&mut *tx)
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
                .fetch_all(&mut *tx)
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

        fn roll_up_metrics(
            &self,
            now: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreFuture<'_, Option<$crate::RollupReport>> {
            $crate::changes::recorded(&self.feed, async move {
                use muster_domain::metrics::{MetricStep, RAW_RETENTION_HOURS, bucket_start};
                let mut tx = begin_write(&self.writer).await?;
                if let Some(lock) = d::TRY_JOB_LOCK {
                    let got: bool = sqlx::query_scalar(lock)
                        .bind($crate::ROLLUP_JOB_LOCK)
                        .fetch_one(&mut *tx)
                        .await?;
                    if !got {
                        return Ok(None);
                    }
                }
                let mut report = $crate::RollupReport::default();

                // Minutes: from the raw samples of every complete minute not yet rolled up.
                let minute_end = bucket_start(now, MetricStep::Minute);
                let from = watermark(&mut tx, "1m", "SELECT MIN(recorded_at) AS t FROM cluster_metrics").await?;
                if let Some(from) = from.filter(|f| *f < minute_end) {
                    let bucket = d::minute_of("recorded_at");
                    let sql = format!(
                        "INSERT INTO cluster_metric_rollups
                            (cluster_id, node_id, name, step, bucket_start, min_value, max_value, avg_value, sample_count)
                         SELECT cluster_id, node_id, name, '1m', {bucket}, MIN(value), MAX(value), AVG(value), COUNT(*)
                         FROM cluster_metrics WHERE recorded_at >= $1 AND recorded_at < $2
                         GROUP BY cluster_id, node_id, name, {bucket}
                         ON CONFLICT (node_id, name, step, bucket_start) DO UPDATE SET
                            min_value = excluded.min_value, max_value = excluded.max_value,
                            avg_value = excluded.avg_value, sample_count = excluded.sample_count"
                    );
                    report.minutes = sqlx::query(&sql)
                        .bind(d::time(from))
                        .bind(d::time(minute_end))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                set_watermark(&mut tx, "1m", minute_end).await?;

                // Hours: from the minutes of every complete hour not yet rolled up.
                let hour_end = bucket_start(now, MetricStep::Hour);
                let from = watermark(
                    &mut tx,
                    "1h",
                    "SELECT MIN(bucket_start) AS t FROM cluster_metric_rollups WHERE step = '1m'",
                )
                .await?;
                if let Some(from) = from.filter(|f| *f < hour_end) {
                    let bucket = d::hour_of("bucket_start");
                    let sql = format!(
                        "INSERT INTO cluster_metric_rollups
                            (cluster_id, node_id, name, step, bucket_start, min_value, max_value, avg_value, sample_count)
                         SELECT cluster_id, node_id, name, '1h', {bucket}, MIN(min_value), MAX(max_value),
                            SUM(avg_value * sample_count) / SUM(sample_count), SUM(sample_count)
                         FROM cluster_metric_rollups
                         WHERE step = '1m' AND bucket_start >= $1 AND bucket_start < $2
                         GROUP BY cluster_id, node_id, name, {bucket}
                         ON CONFLICT (node_id, name, step, bucket_start) DO UPDATE SET
                            min_value = excluded.min_value, max_value = excluded.max_value,
                            avg_value = excluded.avg_value, sample_count = excluded.sample_count"
                    );
                    report.hours = sqlx::query(&sql)
                        .bind(d::time(bucket_start(from, MetricStep::Hour)))
                        .bind(d::time(hour_end))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                set_watermark(&mut tx, "1h", hour_end).await?;

                // Retention: raw samples for 48 h, rollups for the cluster's retention.
                report.raw_deleted = sqlx::query("DELETE FROM cluster_metrics WHERE recorded_at < $1")
                    .bind(d::time(now - chrono::Duration::hours(RAW_RETENTION_HOURS)))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let expired = d::older_than_days(
                    "cluster_metric_rollups.bucket_start",
                    d::RETENTION_DAYS,
                    "$1",
                );
                let sql = format!(
                    "DELETE FROM cluster_metric_rollups WHERE EXISTS (
                        SELECT 1 FROM clusters c
                        WHERE c.id = cluster_metric_rollups.cluster_id AND {expired})"
                );
                report.rollups_deleted = sqlx::query(&sql)
                    .bind(d::time(now))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                commit(tx).await?;
                Ok(Some(report))
            })
        }
    };
}
