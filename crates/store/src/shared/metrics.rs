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
