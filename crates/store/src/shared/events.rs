//! The audit trail.

macro_rules! event_methods {
    () => {
        fn record_event<'a>(
            &'a self,
            event: &'a muster_domain::NewEvent,
        ) -> $crate::StoreFuture<'a, muster_domain::Event> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                let event = insert_event(&mut tx, event).await?;
                commit(tx).await?;
                Ok(event)
            })
        }

        fn list_events_in<'a>(
            &'a self,
            q: &'a $crate::EventQuery,
            scope: $crate::Scope<'a>,
        ) -> $crate::StoreFuture<'a, $crate::Page<muster_domain::Event>> {
            Box::pin(async move {
                let before = $crate::query::before_id(q.cursor.as_deref(), "events")?;
                let limit = $crate::page_size(Some(q.limit));
                let sql = format!(
                    "SELECT * FROM cluster_events
                     WHERE (CAST($1 AS TEXT) IS NULL OR cluster_id = $1)
                       AND (CAST($2 AS TEXT) IS NULL OR node_id = $2)
                       AND (CAST($3 AS TEXT) IS NULL OR severity = $3)
                       AND (CAST($4 AS TEXT) IS NULL OR category = $4)
                       AND (CAST($5 AS TEXT) IS NULL OR event_type = $5)
                       AND ($6 IS NULL OR created_at >= $6)
                       AND ($7 IS NULL OR created_at < $7)
                       AND ($8 IS NULL OR id < $8)
                       AND (CAST($9 AS TEXT) IS NULL OR LOWER(message) LIKE $9 ESCAPE '\\'){}
                     ORDER BY id DESC LIMIT $10",
                    scope.clause("cluster_id", 11)
                );
                let mut query = sqlx::query(&sql)
                    .bind(q.cluster_id.as_ref().map(muster_domain::ClusterId::as_str))
                    .bind(q.node_id.as_ref().map(muster_domain::NodeId::as_str))
                    .bind(q.severity.map(|s| s.as_str()))
                    .bind(q.category.map(|c| c.as_str()))
                    .bind(q.event_type.as_deref())
                    .bind(q.since.map(d::time))
                    .bind(q.until.map(d::time))
                    .bind(before)
                    .bind(q.text.as_deref().map($crate::query::contains_pattern))
                    .bind(i64::from(limit) + 1);
                for t in scope.tenant_ids() {
                    query = query.bind(t.as_str());
                }
                let mut tx = begin_read(&self.pool, scope).await?;
                let rows = query.fetch_all(&mut *tx).await?;
                let mut items = rows
                    .iter()
                    .map(event_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                let next_cursor = if items.len() > limit as usize {
                    items.truncate(limit as usize);
                    items
                        .last()
                        .map(|e| $crate::query::after_id("events", e.id))
                } else {
                    None
                };
                Ok($crate::Page { items, next_cursor })
            })
        }
    };
}
