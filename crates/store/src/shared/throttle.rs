//! Failed sign-ins, counted per key over a window.

macro_rules! throttle_methods {
    () => {
        fn record_login_failure<'a>(
            &'a self,
            keys: &'a [String],
            at: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreFuture<'a, ()> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                for key in keys {
                    sqlx::query("INSERT INTO login_failures (key, failed_at) VALUES ($1, $2)")
                        .bind(key)
                        .bind(d::time(at))
                        .execute(&mut *tx)
                        .await?;
                    // Nothing looks back further than a day.
                    sqlx::query("DELETE FROM login_failures WHERE key = $1 AND failed_at < $2")
                        .bind(key)
                        .bind(d::time(at - chrono::Duration::days(1)))
                        .execute(&mut *tx)
                        .await?;
                }
                commit(tx).await?;
                Ok(())
            })
        }

        fn login_failures<'a>(
            &'a self,
            key: &'a str,
            since: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreFuture<'a, (u64, Option<chrono::DateTime<chrono::Utc>>)> {
            Box::pin(async move {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n, MIN(failed_at) AS oldest FROM login_failures
                     WHERE key = $1 AND failed_at >= $2",
                )
                .bind(key)
                .bind(d::time(since))
                .fetch_one(&self.pool)
                .await?;
                Ok((
                    int("n", row.try_get("n")?)?,
                    d::get_opt_time(&row, "oldest")?,
                ))
            })
        }
    };
}
