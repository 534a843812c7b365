//! Sign-in sessions: opaque JSON records with an expiry and their user.

macro_rules! session_methods {
    () => {
        fn session_create<'a>(
            &'a self,
            session: &'a $crate::SessionRecord,
        ) -> $crate::StoreFuture<'a, bool> {
            Box::pin(async move {
                let inserted = sqlx::query(
                    "INSERT INTO sessions (id, user_id, data, expiry_date) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(&session.id)
                .bind(session.user_id.as_deref())
                .bind(&session.data)
                .bind(d::time(session.expires_at))
                .execute(&self.pool)
                .await?;
                Ok(inserted.rows_affected() == 1)
            })
        }

        fn session_save<'a>(&'a self, session: &'a $crate::SessionRecord) -> $crate::StoreFuture<'a, ()> {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, data, expiry_date) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, data = excluded.data,
                        expiry_date = excluded.expiry_date",
                )
                .bind(&session.id)
                .bind(session.user_id.as_deref())
                .bind(&session.data)
                .bind(d::time(session.expires_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            })
        }

        fn session_load<'a>(
            &'a self,
            id: &'a str,
            now: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreFuture<'a, Option<$crate::SessionRecord>> {
            Box::pin(async move {
                use sqlx::Row as _;
                let row = sqlx::query("SELECT * FROM sessions WHERE id = $1 AND expiry_date > $2")
                    .bind(id)
                    .bind(d::time(now))
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| {
                    Ok($crate::SessionRecord {
                        id: row.try_get("id")?,
                        user_id: row.try_get("user_id")?,
                        data: row.try_get("data")?,
                        expires_at: d::get_time(&row, "expiry_date")?,
                    })
                })
                .transpose()
            })
        }

        fn session_delete<'a>(&'a self, id: &'a str) -> $crate::StoreFuture<'a, ()> {
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(&self.pool).await?;
                if done.rows_affected() > 0 {
                    // Live streams signed in with it must end.
                    d::publish_now(&self.feed, vec![$crate::Change::Access]).await;
                }
                Ok(())
            })
        }

        fn sessions_end_for_user<'a>(
            &'a self,
            user_id: &'a str,
            except: Option<&'a str>,
        ) -> $crate::StoreFuture<'a, u64> {
            Box::pin(async move {
                let done = sqlx::query(
                    "DELETE FROM sessions WHERE user_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id <> $2)",
                )
                .bind(user_id)
                .bind(except)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() > 0 {
                    d::publish_now(&self.feed, vec![$crate::Change::Access]).await;
                }
                Ok(done.rows_affected())
            })
        }

        fn sessions_prune(&self, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreFuture<'_, u64> {
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM sessions WHERE expiry_date <= $1")
                    .bind(d::time(now))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            })
        }

        fn get_user<'a>(&'a self, id: &'a str) -> $crate::StoreFuture<'a, muster_domain::users::User> {
            Box::pin(async move {
                let mut conn = self.pool.acquire().await?;
                user_by_id(&mut conn, id).await
            })
        }
    };
}
