//! API tokens: stored as hashes, found by hash, revocable.

macro_rules! token_methods {
    () => {
        fn create_api_token<'a>(
            &'a self,
            user_id: &'a str,
            name: &'a str,
            token_hash: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::users::ApiToken> {
            $crate::changes::recorded(&self.feed, async move {
                use rand::Rng as _;
                let mut errors = muster_domain::FieldErrors::new();
                if name.trim().is_empty() || name.chars().count() > 100 {
                    errors.add("name", "name must be 1 to 100 characters");
                    return Err($crate::StoreError::Invalid(errors));
                }
                let id = format!("token-{:016x}", rand::rng().random::<u64>());
                let mut tx = begin_write(&self.writer).await?;
                let row = sqlx::query(
                    "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING *",
                )
                .bind(&id)
                .bind(user_id)
                .bind(name.trim())
                .bind(token_hash)
                .bind(d::time($crate::now()))
                .fetch_one(&mut *tx)
                .await?;
                let token = token_from_row(&row)?;
                let user = user_by_id(&mut tx, user_id).await?;
                let what = format!("created API token {}", token.name);
                insert_event(&mut tx, &$crate::events::user_changed(&user, "api_token_created", &what, &format!("user:{}", user.username))).await?;
                commit(tx).await?;
                Ok(token)
            })
        }

        fn list_api_tokens<'a>(&'a self, user_id: &'a str) -> $crate::StoreFuture<'a, Vec<muster_domain::users::ApiToken>> {
            Box::pin(async move {
                let rows = sqlx::query("SELECT * FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id")
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(token_from_row).collect()
            })
        }

        fn revoke_api_token<'a>(&'a self, user_id: &'a str, id: &'a str) -> $crate::StoreFuture<'a, ()> {
            $crate::changes::recorded(&self.feed, async move {
                let now = d::time($crate::now());
                let mut tx = begin_write(&self.writer).await?;
                let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound("API token"));
                }
                let user = user_by_id(&mut tx, user_id).await?;
                let what = format!("revoked API token {id}");
                insert_event(&mut tx, &$crate::events::user_changed(&user, "api_token_revoked", &what, &format!("user:{}", user.username))).await?;
                $crate::changes::note_access();
                commit(tx).await?;
                Ok(())
            })
        }

        fn user_for_token<'a>(&'a self, token_hash: &'a str) -> $crate::StoreFuture<'a, Option<muster_domain::users::User>> {
            Box::pin(async move {
                let mut conn = self.pool.acquire().await?;
                let user_id: Option<String> = sqlx::query_scalar(
                    "SELECT user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                )
                .bind(token_hash)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(user_id) = user_id else { return Ok(None) };
                sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1")
                    .bind(token_hash)
                    .bind(d::time($crate::now()))
                    .execute(&mut *conn)
                    .await?;
                let user = user_by_id(&mut conn, &user_id).await?;
                Ok((!user.disabled).then_some(user))
            })
        }
    };
}

macro_rules! token_fns {
    () => {
        fn token_from_row(
            row: &d::Row,
        ) -> Result<muster_domain::users::ApiToken, $crate::StoreError> {
            use sqlx::Row as _;
            Ok(muster_domain::users::ApiToken {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                created_at: d::get_time(row, "created_at")?,
                last_used_at: d::get_opt_time(row, "last_used_at")?,
                revoked_at: d::get_opt_time(row, "revoked_at")?,
            })
        }

        async fn user_by_id(
            conn: &mut d::Conn,
            id: &str,
        ) -> Result<muster_domain::users::User, $crate::StoreError> {
            let username: Option<String> =
                sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
            let username = username.ok_or($crate::StoreError::NotFound("user"))?;
            Ok(user_by_name(&mut *conn, &username)
                .await?
                .ok_or($crate::StoreError::NotFound("user"))?
                .0)
        }
    };
}
