//! Users and their tenant scope.

macro_rules! user_methods {
    () => {
        fn count_users(&self) -> $crate::StoreFuture<'_, u64> {
            Box::pin(async move {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?;
                int("users", n)
            })
        }

        fn create_user<'a>(
            &'a self,
            new: &'a $crate::NewUser,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::users::User> {
            $crate::changes::recorded(&self.feed, async move {
                use rand::Rng as _;
                let username = muster_domain::users::normalize_username(&new.username)
                    .map_err($crate::StoreError::Invalid)?;
                let id = format!("user-{:016x}", rand::rng().random::<u64>());
                let now = d::time($crate::now());
                let mut tx = begin_write(&self.writer).await?;
                sqlx::query(
                    "INSERT INTO users (id, username, password_hash, role, disabled, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(&id)
                .bind(&username)
                .bind(&new.password_hash)
                .bind(new.role.as_str())
                .bind(false)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                for tenant in &new.tenants {
                    let known: Option<String> = sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1")
                        .bind(tenant)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if known.is_none() {
                        return Err($crate::StoreError::NotFound("tenant"));
                    }
                    sqlx::query("INSERT INTO user_tenants (user_id, tenant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(&id)
                        .bind(tenant)
                        .execute(&mut *tx)
                        .await?;
                }
                let user = user_by_name(&mut tx, &username).await?.ok_or($crate::StoreError::NotFound("user"))?.0;
                insert_event(&mut tx, &$crate::events::user_changed(&user, "user_created", "created", actor)).await?;
                commit(tx).await?;
                Ok(user)
            })
        }

        fn user_credentials<'a>(
            &'a self,
            username: &'a str,
        ) -> $crate::StoreFuture<'a, Option<(muster_domain::users::User, String)>> {
            Box::pin(async move {
                let Ok(name) = muster_domain::users::normalize_username(username) else {
                    return Ok(None);
                };
                let mut conn = self.pool.acquire().await?;
                user_by_name(&mut conn, &name).await
            })
        }

        fn set_password<'a>(
            &'a self,
            username: &'a str,
            password_hash: &'a str,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::users::User> {
            $crate::changes::recorded(&self.feed, async move {
                let name = muster_domain::users::normalize_username(username)
                    .map_err($crate::StoreError::Invalid)?;
                let mut tx = begin_write(&self.writer).await?;
                let changed = sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE username = $1")
                    .bind(&name)
                    .bind(password_hash)
                    .bind(d::time($crate::now()))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if changed == 0 {
                    return Err($crate::StoreError::NotFound("user"));
                }
                let user = user_by_name(&mut tx, &name).await?.ok_or($crate::StoreError::NotFound("user"))?.0;
                insert_event(&mut tx, &$crate::events::user_changed(&user, "password_changed", "changed password", actor)).await?;
                commit(tx).await?;
                Ok(user)
            })
        }

        fn update_user<'a>(
            &'a self,
            id: &'a str,
            update: &'a $crate::UserUpdate,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::users::User> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                let before = user_by_id(&mut tx, id).await?;
                let role = update.role.unwrap_or(before.role);
                let disabled = update.disabled.unwrap_or(before.disabled);
                sqlx::query("UPDATE users SET role = $2, disabled = $3, updated_at = $4 WHERE id = $1")
                    .bind(id)
                    .bind(role.as_str())
                    .bind(disabled)
                    .bind(d::time($crate::now()))
                    .execute(&mut *tx)
                    .await?;
                if let Some(tenants) = &update.tenants {
                    sqlx::query("DELETE FROM user_tenants WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                    for tenant in tenants {
                        let known: Option<String> = sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1")
                            .bind(tenant)
                            .fetch_optional(&mut *tx)
                            .await?;
                        if known.is_none() {
                            return Err($crate::StoreError::NotFound("tenant"));
                        }
                        sqlx::query("INSERT INTO user_tenants (user_id, tenant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                            .bind(id)
                            .bind(tenant)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                if disabled && !before.disabled {
                    // A disabled user's sessions end at once; tokens stop working
                    // because token lookups refuse disabled users.
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                }
                let after = user_by_id(&mut tx, id).await?;
                let what = format!(
                    "changed: role {} → {}, disabled {} → {}, tenants {} → {}",
                    before.role, after.role, before.disabled, after.disabled, before.tenants.len(), after.tenants.len()
                );
                insert_event(&mut tx, &$crate::events::user_changed(&after, "user_updated", &what, actor)).await?;
                $crate::changes::note_access();
                commit(tx).await?;
                Ok(after)
            })
        }

        fn list_users(&self) -> $crate::StoreFuture<'_, Vec<muster_domain::users::User>> {
            Box::pin(async move {
                use sqlx::Row as _;
                let mut conn = self.pool.acquire().await?;
                let links = sqlx::query("SELECT user_id, tenant_id FROM user_tenants ORDER BY tenant_id")
                    .fetch_all(&mut *conn)
                    .await?;
                let mut tenants: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
                for row in &links {
                    tenants.entry(row.try_get("user_id")?).or_default().push(row.try_get("tenant_id")?);
                }
                let rows = sqlx::query("SELECT * FROM users ORDER BY username LIMIT $1")
                    .bind(i64::from($crate::MAX_PAGE))
                    .fetch_all(&mut *conn)
                    .await?;
                rows.iter()
                    .map(|row| {
                        let id: String = row.try_get("id")?;
                        user_from_row(row, tenants.remove(&id).unwrap_or_default())
                    })
                    .collect()
            })
        }
    };
}

macro_rules! user_fns {
    () => {
        fn user_from_row(
            row: &d::Row,
            tenants: Vec<String>,
        ) -> Result<muster_domain::users::User, $crate::StoreError> {
            use sqlx::Row as _;
            Ok(muster_domain::users::User {
                id: row.try_get("id")?,
                username: row.try_get("username")?,
                role: parse("role", row.try_get::<&str, _>("role")?)?,
                tenants,
                disabled: row.try_get("disabled")?,
                created_at: d::get_time(row, "created_at")?,
            })
        }

        /// A user with their password hash, by canonical username.
        async fn user_by_name(
            conn: &mut d::Conn,
            username: &str,
        ) -> Result<Option<(muster_domain::users::User, String)>, $crate::StoreError> {
            use sqlx::Row as _;
            let Some(row) = sqlx::query("SELECT * FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&mut *conn)
                .await?
            else {
                return Ok(None);
            };
            let id: String = row.try_get("id")?;
            let tenants: Vec<String> = sqlx::query_scalar(
                "SELECT tenant_id FROM user_tenants WHERE user_id = $1 ORDER BY tenant_id",
            )
            .bind(&id)
            .fetch_all(&mut *conn)
            .await?;
            let hash: String = row.try_get("password_hash")?;
            Ok(Some((user_from_row(&row, tenants)?, hash)))
        }
    };
}
