//! The audit trail.

macro_rules! event_methods {
    () => {
        fn record_event<'a>(
            &'a self,
            event: &'a muster_domain::NewEvent,
        ) -> $crate::StoreFuture<'a, muster_domain::Event> {
            Box::pin(async move {
                let mut conn = self.pool.acquire().await?;
                insert_event(&mut conn, event).await
            })
        }

        fn list_events<'a>(
            &'a self,
            cluster_id: Option<&'a muster_domain::ClusterId>,
            limit: u32,
        ) -> $crate::StoreFuture<'a, Vec<muster_domain::Event>> {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT * FROM cluster_events
                     WHERE (CAST($1 AS TEXT) IS NULL OR cluster_id = $1)
                     ORDER BY id DESC LIMIT $2",
                )
                .bind(cluster_id.map(muster_domain::ClusterId::as_str))
                .bind(i64::from(limit.min($crate::MAX_PAGE)))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(event_from_row).collect()
            })
        }
    };
}
