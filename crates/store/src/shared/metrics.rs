//! Metric samples and their rollups.

/// One finished rollup, read on a reader and written by the writer.
pub(crate) struct RolledUp {
    pub cluster_id: String,
    pub node_id: String,
    pub name: String,
    pub bucket: chrono::DateTime<chrono::Utc>,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: i64,
}

macro_rules! metric_fns {
    () => {
        /// Writes one sample of several metrics as one row: the standard
        /// metrics in their columns, any other names in `extra`.
        async fn insert_metrics(
            conn: &mut d::Conn,
            cluster_id: &muster_domain::ClusterId,
            node_id: &muster_domain::NodeId,
            metrics: &std::collections::BTreeMap<String, f64>,
            at: chrono::DateTime<chrono::Utc>,
        ) -> Result<u64, $crate::StoreError> {
            use muster_domain::metrics::STANDARD_METRICS;
            if metrics.is_empty() {
                return Ok(0);
            }
            let extra: std::collections::BTreeMap<&str, f64> = metrics
                .iter()
                .filter(|(name, _)| !STANDARD_METRICS.contains(&name.as_str()))
                .map(|(name, value)| (name.as_str(), *value))
                .collect();
            let sql = format!(
                "INSERT INTO cluster_metrics (cluster_id, node_id, recorded_at, extra, {}) VALUES {}",
                STANDARD_METRICS.join(", "),
                $crate::shared::value_tuples(d::NUMBERED_PARAMS, 1, 4 + STANDARD_METRICS.len()),
            );
            let mut q = sqlx::query(&sql)
                .bind(cluster_id.as_str())
                .bind(node_id.as_str())
                .bind(d::time(at))
                .bind((!extra.is_empty()).then(|| d::json(&extra)));
            for name in STANDARD_METRICS {
                q = q.bind(metrics.get(name).copied());
            }
            q.execute(&mut *conn).await?;
            Ok(u64::try_from(metrics.len()).unwrap_or(u64::MAX))
        }
    };
}

/// Helpers of the rollup job, generated into each backend module.
macro_rules! rollup_fns {
    () => {
        /// A conflicting rollup is replaced by the one computed.
        const ROLLUP_REPLACES: &str = "min_value = excluded.min_value, max_value = excluded.max_value,
            avg_value = excluded.avg_value, sample_count = excluded.sample_count";

        /// The statement that writes the rollups of `step` an aggregate
        /// query selects (`cluster_id, node_id, name, b, lo, hi, avg, n`),
        /// replacing any already there.
        fn insert_rollups(step: muster_domain::metrics::MetricStep, aggregates: &str) -> String {
            format!(
                "INSERT INTO cluster_metric_rollups
                    (cluster_id, node_id, name, step, bucket_start, min_value, max_value, avg_value, sample_count)
                 SELECT cluster_id, node_id, name, '{}', b, lo, hi, avg, n FROM ({aggregates}) AS a WHERE true
                 ON CONFLICT (node_id, name, step, bucket_start) DO UPDATE SET {ROLLUP_REPLACES}",
                step.as_str()
            )
        }

        /// The query that rolls the raw samples matching `samples` (a
        /// condition on `cluster_metrics`) up into minutes: a row per node,
        /// metric and minute. The standard metrics' columns are aggregated
        /// in one pass over the samples and then turned into a row per
        /// name; names in `extra` are read from the samples that have any.
        fn minute_aggregates(samples: &str) -> String {
            use muster_domain::metrics::STANDARD_METRICS;
            let bucket = d::minute_of("recorded_at");
            let mut aggregates = Vec::with_capacity(STANDARD_METRICS.len());
            let mut names = Vec::with_capacity(STANDARD_METRICS.len());
            for (i, name) in STANDARD_METRICS.iter().enumerate() {
                aggregates.push(format!(
                    "MIN({name}) AS lo{i}, MAX({name}) AS hi{i}, SUM({name}) AS total{i}, COUNT({name}) AS n{i}"
                ));
                names.push(format!("({i}, '{name}')"));
            }
            let pick = |what: &str| {
                let arms: String = (0..STANDARD_METRICS.len()).map(|i| format!(" WHEN {i} THEN g.{what}{i}")).collect();
                format!("CASE k.column1{arms} END")
            };
            format!(
                "SELECT cluster_id, node_id, name, b, lo, hi, total / n AS avg, n FROM (
                    SELECT g.cluster_id, g.node_id, k.column2 AS name, g.b,
                        {} AS lo, {} AS hi, {} AS total, {} AS n
                    FROM (SELECT cluster_id, node_id, {bucket} AS b, {}
                          FROM cluster_metrics WHERE {samples}
                          GROUP BY cluster_id, node_id, {bucket}) AS g
                    CROSS JOIN (VALUES {}) AS k
                    UNION ALL
                    SELECT c.cluster_id, c.node_id, e.key, {}, MIN(CAST(e.value AS DOUBLE PRECISION)),
                        MAX(CAST(e.value AS DOUBLE PRECISION)), SUM(CAST(e.value AS DOUBLE PRECISION)), COUNT(*)
                    FROM (SELECT cluster_id, node_id, recorded_at, extra FROM cluster_metrics
                          WHERE extra IS NOT NULL AND {samples}) AS c, {}
                    GROUP BY c.cluster_id, c.node_id, e.key, {}
                 ) AS u WHERE n > 0",
                pick("lo"),
                pick("hi"),
                pick("total"),
                pick("n"),
                aggregates.join(", "),
                names.join(", "),
                d::minute_of("c.recorded_at"),
                d::json_entries("c.extra", "e"),
                d::minute_of("c.recorded_at"),
            )
        }

        /// The query that rolls the minute rollups matching `minutes` (a
        /// condition on `cluster_metric_rollups`) up into hours.
        fn hour_aggregates(minutes: &str) -> String {
            let bucket = d::hour_of("bucket_start");
            format!(
                "SELECT cluster_id, node_id, name, {bucket} AS b, MIN(min_value) AS lo, MAX(max_value) AS hi,
                    SUM(avg_value * sample_count) / SUM(sample_count) AS avg, CAST(SUM(sample_count) AS BIGINT) AS n
                 FROM cluster_metric_rollups
                 WHERE step = '1m' AND {minutes}
                 GROUP BY cluster_id, node_id, name, {bucket}"
            )
        }

        /// The SQL expression for the value of metric `name` in a row of
        /// `cluster_metrics`: its column, or its entry in `extra`; NULL
        /// where the sample lacks it. Names outside the metric name rules
        /// are refused (they are written into the statement).
        fn metric_value(name: &str) -> Result<String, $crate::StoreError> {
            use muster_domain::metrics::{STANDARD_METRICS, is_metric_name};
            if STANDARD_METRICS.contains(&name) {
                return Ok(name.to_owned());
            }
            if !is_metric_name(name) {
                return Err($crate::StoreError::Invalid(muster_domain::FieldErrors::single(
                    "name",
                    format!("{name:?} is not a metric name"),
                )));
            }
            Ok(format!("CAST(extra ->> '{name}' AS DOUBLE PRECISION)"))
        }

        /// Where the last rollup of `step` stopped, or where the data `first`
        /// (an SQL query for the oldest time, aliased `t`) starts.
        async fn watermark(
            conn: &mut d::Conn,
            step: muster_domain::metrics::MetricStep,
            first: &str,
        ) -> Result<Option<chrono::DateTime<chrono::Utc>>, $crate::StoreError> {
            if let Some(up_to) = rolled_up_to(conn, step).await? {
                return Ok(Some(up_to));
            }
            let row = sqlx::query(first).fetch_one(&mut *conn).await?;
            d::get_opt_time(&row, "t")
        }

        /// Rolls the minutes from `from` to `until` up. Where heartbeats
        /// run side by side with it (PostgreSQL), in `tx`. With one writer
        /// (SQLite), the samples are read and aggregated on a reader
        /// connection, which takes no lock, and only the finished rollups go
        /// through the writer (see [`roll_up_through_reader`]). Samples of
        /// these minutes written meanwhile (replayed by an agent) have their
        /// nodes' minutes rolled up again in the transaction this returns,
        /// which the caller finishes.
        async fn roll_up_minutes(
            (reader, writer): (&d::Pool, &d::Pool),
            mut tx: sqlx::Transaction<'static, d::Db>,
            from: chrono::DateTime<chrono::Utc>,
            until: chrono::DateTime<chrono::Utc>,
        ) -> Result<(u64, sqlx::Transaction<'static, d::Db>), $crate::StoreError> {
            use muster_domain::metrics::MetricStep;
            let between = "recorded_at >= $1 AND recorded_at < $2";
            if d::CONCURRENT_WRITERS {
                let rows = roll_up_in(&mut tx, MetricStep::Minute, &minute_aggregates(between), (from, until)).await?;
                return Ok((rows, tx));
            }
            let written_before: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(rowid), 0) FROM cluster_metrics")
                .fetch_one(&mut *tx)
                .await?;
            commit(tx).await?;
            let rows = roll_up_through_reader(
                (reader, writer),
                MetricStep::Minute,
                ("SELECT MIN(recorded_at) AS t FROM cluster_metrics WHERE recorded_at >= $1 AND recorded_at < $2", &minute_aggregates(between)),
                (from, until),
            )
            .await?;
            let mut tx = begin_write(writer).await?;
            // By row id: only what was written since the job began is read.
            let late: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT node_id FROM cluster_metrics NOT INDEXED
                 WHERE rowid > $1 AND recorded_at >= $2 AND recorded_at < $3",
            )
            .bind(written_before)
            .bind(d::time(from))
            .bind(d::time(until))
            .fetch_all(&mut *tx)
            .await?;
            if !late.is_empty() {
                let nodes = format!("{} AND {between}", d::in_json_list("node_id", "$3"));
                sqlx::query(&insert_rollups(MetricStep::Minute, &minute_aggregates(&nodes)))
                    .bind(d::time(from))
                    .bind(d::time(until))
                    .bind($crate::shared::batch::json_param(&late))
                    .execute(&mut *tx)
                    .await?;
            }
            Ok((rows, tx))
        }

        /// Writes the rollups of `step` that `aggregates` (for a stretch
        /// from `$1` to `$2`) computes from `from` to `until`, in one
        /// statement on `conn`.
        async fn roll_up_in(
            conn: &mut d::Conn,
            step: muster_domain::metrics::MetricStep,
            aggregates: &str,
            (from, until): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
        ) -> Result<u64, $crate::StoreError> {
            Ok(sqlx::query(&insert_rollups(step, aggregates))
                .bind(d::time(from))
                .bind(d::time(until))
                .execute(&mut *conn)
                .await?
                .rows_affected())
        }

        /// Rolls the minutes from `from` to `until` up into hours: in `tx`
        /// where heartbeats run side by side with it (PostgreSQL), or
        /// through a reader (SQLite; see [`roll_up_through_reader`]), after
        /// committing `tx` so that the reader sees its minutes. Returns the
        /// transaction the caller finishes.
        async fn roll_up_hours(
            (reader, writer): (&d::Pool, &d::Pool),
            mut tx: sqlx::Transaction<'static, d::Db>,
            from: chrono::DateTime<chrono::Utc>,
            until: chrono::DateTime<chrono::Utc>,
        ) -> Result<(u64, sqlx::Transaction<'static, d::Db>), $crate::StoreError> {
            use muster_domain::metrics::MetricStep;
            let between = "bucket_start >= $1 AND bucket_start < $2";
            if d::CONCURRENT_WRITERS {
                let rows = roll_up_in(&mut tx, MetricStep::Hour, &hour_aggregates(between), (from, until)).await?;
                return Ok((rows, tx));
            }
            commit(tx).await?;
            let rows = roll_up_through_reader(
                (reader, writer),
                MetricStep::Hour,
                (
                    "SELECT MIN(bucket_start) AS t FROM cluster_metric_rollups
                     WHERE step = '1m' AND bucket_start >= $1 AND bucket_start < $2",
                    &hour_aggregates(between),
                ),
                (from, until),
            )
            .await?;
            Ok((rows, begin_write(writer).await?))
        }

        /// Rolls what lies between `from` and `until` up into buckets of
        /// `step`, a bucket at a time, with one writer (SQLite): `next` (an
        /// SQL query for the first source time from `$1` to before `$2`,
        /// aliased `t`) finds the next bucket with data, so empty stretches
        /// cost nothing, and `aggregates` (for a bucket from `$1` to `$2`)
        /// is read on a reader connection, which takes no lock. The writer,
        /// which every heartbeat waits for, only writes the finished rollups,
        /// [`ROLLUPS_PER_WRITE`](crate::ROLLUPS_PER_WRITE) per transaction.
        /// (Aggregating in write transactions held the writer for as long
        /// as the reading took, a second or more at 5,000 nodes.) Each
        /// bucket is complete when written, so a run that stops half way is
        /// simply done again.
        async fn roll_up_through_reader(
            (reader, writer): (&d::Pool, &d::Pool),
            step: muster_domain::metrics::MetricStep,
            (next, aggregates): (&str, &str),
            (from, until): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
        ) -> Result<u64, $crate::StoreError> {
            use futures::TryStreamExt as _;
            use muster_domain::metrics::bucket_start;
            use sqlx::Row as _;
            let width = step.width().unwrap_or(chrono::Duration::minutes(1));
            let mut conn = reader.acquire().await?;
            let mut written = 0;
            let mut start = from;
            let mut batch: Vec<$crate::shared::metrics::RolledUp> = Vec::with_capacity($crate::ROLLUPS_PER_WRITE);
            loop {
                let row = sqlx::query(next)
                    .bind(d::time(start))
                    .bind(d::time(until))
                    .fetch_one(&mut *conn)
                    .await?;
                let Some(first) = d::get_opt_time(&row, "t")? else {
                    break;
                };
                let bucket = bucket_start(first, step);
                let end = (bucket + width).min(until);
                let mut rows = sqlx::query(aggregates)
                    .bind(d::time(bucket))
                    .bind(d::time(end))
                    .fetch(&mut *conn);
                while let Some(row) = rows.try_next().await? {
                    batch.push($crate::shared::metrics::RolledUp {
                        cluster_id: row.try_get("cluster_id")?,
                        node_id: row.try_get("node_id")?,
                        name: row.try_get("name")?,
                        bucket: d::get_time(&row, "b")?,
                        min: row.try_get("lo")?,
                        max: row.try_get("hi")?,
                        avg: row.try_get("avg")?,
                        count: row.try_get("n")?,
                    });
                    if batch.len() == $crate::ROLLUPS_PER_WRITE {
                        written += write_rollups(writer, step, &batch).await?;
                        batch.clear();
                    }
                }
                drop(rows);
                start = end;
            }
            if !batch.is_empty() {
                written += write_rollups(writer, step, &batch).await?;
            }
            Ok(written)
        }

        /// Writes finished rollups of `step` in one write transaction,
        /// replacing any already there.
        async fn write_rollups(
            writer: &d::Pool,
            step: muster_domain::metrics::MetricStep,
            rows: &[$crate::shared::metrics::RolledUp],
        ) -> Result<u64, $crate::StoreError> {
            let values = $crate::shared::value_tuples(d::NUMBERED_PARAMS, rows.len(), 8);
            let sql = insert_rollups(
                step,
                &format!(
                    "SELECT column1 AS cluster_id, column2 AS node_id, column3 AS name, column4 AS b,
                        column5 AS lo, column6 AS hi, column7 AS avg, column8 AS n
                     FROM (VALUES {values}) AS v"
                ),
            );
            let mut q = sqlx::query(&sql).persistent(rows.len() == $crate::ROLLUPS_PER_WRITE);
            for r in rows {
                q = q
                    .bind(&r.cluster_id)
                    .bind(&r.node_id)
                    .bind(&r.name)
                    .bind(d::time(r.bucket))
                    .bind(r.min)
                    .bind(r.max)
                    .bind(r.avg)
                    .bind(r.count);
            }
            let mut tx = begin_write(writer).await?;
            let written = q.execute(&mut *tx).await?.rows_affected();
            commit(tx).await?;
            Ok(written)
        }

        /// Deletes the rows of `table` that `whole` deletes, in `tx`; or with
        /// one writer (SQLite), `DELETES_PER_WRITE` per transaction, those
        /// `doomed` selects the row ids of (up to `$2` a time), for the same
        /// reason. `$1` is `at`. Returns how many, and the transaction the
        /// caller finishes.
        async fn delete_in_pieces(
            writer: &d::Pool,
            mut tx: sqlx::Transaction<'static, d::Db>,
            table: &str,
            (whole, doomed): (&str, &str),
            at: d::Time,
        ) -> Result<(u64, sqlx::Transaction<'static, d::Db>), $crate::StoreError> {
            if d::CONCURRENT_WRITERS {
                let deleted = sqlx::query(whole).bind(at).execute(&mut *tx).await?.rows_affected();
                return Ok((deleted, tx));
            }
            let piece = format!("DELETE FROM {table} WHERE rowid IN ({doomed})");
            let mut total = 0;
            loop {
                let deleted = sqlx::query(&piece)
                    .bind(at)
                    .bind($crate::shared::big($crate::DELETES_PER_WRITE))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                total += deleted;
                if deleted < $crate::DELETES_PER_WRITE {
                    return Ok((total, tx));
                }
                commit(tx).await?;
                tx = begin_write(writer).await?;
            }
        }

        /// Where the rollups of `step` stop: buckets before it are final.
        async fn rolled_up_to(
            conn: &mut d::Conn,
            step: muster_domain::metrics::MetricStep,
        ) -> Result<Option<chrono::DateTime<chrono::Utc>>, $crate::StoreError> {
            let row = sqlx::query("SELECT up_to FROM metric_rollup_watermarks WHERE step = $1")
                .bind(step.as_str())
                .fetch_optional(&mut *conn)
                .await?;
            row.map(|row| d::get_time(&row, "up_to")).transpose()
        }

        /// A metric's history in buckets of `step` (a minute or an hour),
        /// each combining every sample of the subject's nodes in it. Each
        /// stretch of time is read from one source: the rollups of `step`
        /// up to their watermark, then minute rollups (for hours), then the
        /// raw samples the job has not rolled up yet, grouped by the database.
        async fn history_in_buckets(
            conn: &mut d::Conn,
            subject: $crate::MetricSubject<'_>,
            name: &str,
            since: chrono::DateTime<chrono::Utc>,
            until: chrono::DateTime<chrono::Utc>,
            step: muster_domain::metrics::MetricStep,
        ) -> Result<Vec<muster_domain::MetricPoint>, $crate::StoreError> {
            use muster_domain::metrics::{MetricStep, Rollup, bucket_start};
            use sqlx::Row as _;
            let first = bucket_start(since, step);
            let minutes_to = rolled_up_to(conn, MetricStep::Minute).await?.unwrap_or(first);
            let steps_to = match step {
                MetricStep::Hour => rolled_up_to(conn, MetricStep::Hour).await?.unwrap_or(first),
                _ => minutes_to,
            };
            let bucket_of_raw = match step {
                MetricStep::Hour => d::hour_of("recorded_at"),
                _ => d::minute_of("recorded_at"),
            };
            let within = subject.clause();
            // Rollups of one step, regrouped into buckets of `bucket`.
            let rolled = |bucket: &str| {
                format!(
                    "SELECT {bucket} AS b, MIN(min_value) AS lo, MAX(max_value) AS hi,
                        SUM(avg_value * sample_count) AS total, CAST(SUM(sample_count) AS BIGINT) AS n
                     FROM cluster_metric_rollups
                     WHERE {within} AND name = $2 AND step = $5 AND bucket_start >= $3 AND bucket_start < $4
                     GROUP BY {bucket}"
                )
            };
            let mut sources = vec![(rolled("bucket_start"), step.as_str(), first, steps_to)];
            if step == MetricStep::Hour {
                sources.push((rolled(&d::hour_of("bucket_start")), MetricStep::Minute.as_str(), steps_to.max(first), minutes_to));
            }
            let raw_from = minutes_to.max(since);
            let mut points: std::collections::BTreeMap<chrono::DateTime<chrono::Utc>, Rollup> =
                std::collections::BTreeMap::new();
            let mut add = |rows: &[d::Row]| -> Result<(), $crate::StoreError> {
                for row in rows {
                    let n = int("n", row.try_get("n")?)?;
                    if n == 0 {
                        continue;
                    }
                    #[allow(clippy::cast_precision_loss)]
                    let r = Rollup {
                        min: row.try_get("lo")?,
                        max: row.try_get("hi")?,
                        avg: row.try_get::<f64, _>("total")? / n as f64,
                        count: n,
                    };
                    let at = d::get_time(row, "b")?;
                    let merged = points.get(&at).map_or(r, |p| p.merge(r));
                    points.insert(at, merged);
                }
                Ok(())
            };
            for (sql, source_step, from, to) in &sources {
                if from >= to || *from > until {
                    continue;
                }
                let rows = sqlx::query(sql)
                    .bind(subject.id())
                    .bind(name)
                    .bind(d::time(*from))
                    .bind(d::time((*to).min(until + chrono::Duration::milliseconds(1))))
                    .bind(*source_step)
                    .fetch_all(&mut *conn)
                    .await?;
                add(&rows)?;
            }
            if raw_from <= until {
                let value = metric_value(name)?;
                let sql = format!(
                    "SELECT {bucket_of_raw} AS b, MIN({value}) AS lo, MAX({value}) AS hi,
                        SUM({value}) AS total, COUNT({value}) AS n
                     FROM cluster_metrics
                     WHERE {within} AND recorded_at >= $2 AND recorded_at <= $3
                     GROUP BY {bucket_of_raw}"
                );
                let rows = sqlx::query(&sql)
                    .bind(subject.id())
                    .bind(d::time(raw_from))
                    .bind(d::time(until))
                    .fetch_all(&mut *conn)
                    .await?;
                add(&rows)?;
            }
            Ok(points
                .into_iter()
                .map(|(at, r)| muster_domain::MetricPoint::rolled(at, r))
                .collect())
        }

        async fn set_watermark(
            conn: &mut d::Conn,
            step: muster_domain::metrics::MetricStep,
            up_to: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), $crate::StoreError> {
            sqlx::query(
                "INSERT INTO metric_rollup_watermarks (step, up_to) VALUES ($1, $2)
                 ON CONFLICT (step) DO UPDATE SET up_to = excluded.up_to",
            )
            .bind(step.as_str())
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
                use sqlx::Row as _;
                let mut tx = begin_read(&self.pool, $crate::Scope::All).await?;
                if step != muster_domain::metrics::MetricStep::Raw {
                    let subject = $crate::MetricSubject::Node(node_id.as_str());
                    return history_in_buckets(&mut tx, subject, name, since, until, step).await;
                }
                let value = metric_value(name)?;
                let sql = format!(
                    "SELECT value, recorded_at FROM (SELECT {value} AS value, recorded_at FROM cluster_metrics
                        WHERE node_id = $1 AND recorded_at >= $2 AND recorded_at <= $3) AS s
                     WHERE value IS NOT NULL ORDER BY recorded_at LIMIT $4"
                );
                let rows = sqlx::query(&sql)
                .bind(node_id.as_str())
                .bind(d::time(since))
                .bind(d::time(until))
                .bind($crate::RAW_POINT_LIMIT)
                .fetch_all(&mut *tx)
                .await?;
                let mut points = Vec::with_capacity(rows.len());
                for row in &rows {
                    points.push(muster_domain::MetricPoint::sample(
                        d::get_time(row, "recorded_at")?,
                        row.try_get("value")?,
                    ));
                }
                Ok(points)
            })
        }

        fn cluster_metric_history<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
            name: &'a str,
            since: chrono::DateTime<chrono::Utc>,
            until: chrono::DateTime<chrono::Utc>,
            step: muster_domain::metrics::MetricStep,
        ) -> $crate::StoreFuture<'a, Vec<muster_domain::MetricPoint>> {
            Box::pin(async move {
                if step == muster_domain::metrics::MetricStep::Raw {
                    return Err($crate::StoreError::Invalid(muster_domain::FieldErrors::single(
                        "step",
                        "a cluster's history combines its nodes per minute (1m) or hour (1h), not raw",
                    )));
                }
                let mut tx = begin_read(&self.pool, $crate::Scope::All).await?;
                let subject = $crate::MetricSubject::Cluster(cluster_id.as_str());
                history_in_buckets(&mut tx, subject, name, since, until, step).await
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
                if let Some(settings) = d::JOB_SETTINGS {
                    sqlx::query(settings).execute(&mut *tx).await?;
                }
                let mut report = $crate::RollupReport::default();

                // Minutes: from the raw samples of every complete minute not yet rolled up.
                let minute_end = bucket_start(now, MetricStep::Minute);
                let from = watermark(&mut tx, MetricStep::Minute, "SELECT MIN(recorded_at) AS t FROM cluster_metrics").await?;
                if let Some(from) = from.filter(|f| *f < minute_end) {
                    let (minutes, open) = roll_up_minutes((&self.pool, &self.writer), tx, from, minute_end).await?;
                    report.minutes = minutes;
                    tx = open;
                }
                set_watermark(&mut tx, MetricStep::Minute, minute_end).await?;

                // Hours: from the minutes of every complete hour not yet rolled up.
                let hour_end = bucket_start(now, MetricStep::Hour);
                let from = watermark(
                    &mut tx,
                    MetricStep::Hour,
                    "SELECT MIN(bucket_start) AS t FROM cluster_metric_rollups WHERE step = '1m'",
                )
                .await?;
                if let Some(from) = from.filter(|f| *f < hour_end) {
                    let from = bucket_start(from, MetricStep::Hour);
                    let (hours, open) = roll_up_hours((&self.pool, &self.writer), tx, from, hour_end).await?;
                    report.hours = hours;
                    tx = open;
                }
                set_watermark(&mut tx, MetricStep::Hour, hour_end).await?;

                // Retention: raw samples for 48 h, rollups for the cluster's retention.
                let raw_expired = d::time(now - chrono::Duration::hours(RAW_RETENTION_HOURS));
                let (deleted, open) = delete_in_pieces(
                    &self.writer,
                    tx,
                    "cluster_metrics",
                    (
                        "DELETE FROM cluster_metrics WHERE recorded_at < $1",
                        "SELECT rowid FROM cluster_metrics WHERE recorded_at < $1 LIMIT $2",
                    ),
                    raw_expired,
                )
                .await?;
                report.raw_deleted = deleted;
                // Each cluster's expired rollups, found by cluster and time.
                let expired = d::older_than_days("r.bucket_start", d::RETENTION_DAYS, "$1");
                let (deleted, open) = delete_in_pieces(
                    &self.writer,
                    open,
                    "cluster_metric_rollups",
                    (
                        &format!("DELETE FROM cluster_metric_rollups AS r USING clusters AS c WHERE r.cluster_id = c.id AND {expired}"),
                        &format!(
                            "SELECT r.rowid FROM clusters AS c CROSS JOIN cluster_metric_rollups AS r
                             WHERE r.cluster_id = c.id AND {expired} LIMIT $2"
                        ),
                    ),
                    d::time(now),
                )
                .await?;
                report.rollups_deleted = deleted;
                tx = open;
                commit(tx).await?;
                Ok(Some(report))
            })
        }
    };
}
