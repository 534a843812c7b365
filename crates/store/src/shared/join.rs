//! Joining nodes: per-cluster join tokens (stored hashed) that an agent
//! trades for a node of its own and a node token.

/// Free functions: adding a node inside a caller's transaction, and reading
/// join tokens.
macro_rules! join_fns {
    () => {
        /// Adds a node with the cluster's next sequence number inside `conn`'s
        /// transaction, within the cluster's limits, and records `node_added`.
        async fn insert_node(
            conn: &mut d::Conn,
            cluster_id: &muster_domain::ClusterId,
            node: &muster_domain::NewNode,
            token_hash: Option<&str>,
            actor: &str,
        ) -> Result<muster_domain::Node, $crate::StoreError> {
            use sqlx::Row as _;
            let at = $crate::now();
            // Taking the sequence first locks the cluster row (and, on SQLite,
            // the database) for the checks below.
            let row = sqlx::query(
                "UPDATE clusters SET next_node_seq = next_node_seq + 1, updated_at = $2
                 WHERE id = $1 AND decommissioned_at IS NULL
                 RETURNING next_node_seq - 1 AS seq, max_nodes, max_tenants, max_storage_gb",
            )
            .bind(cluster_id.as_str())
            .bind(d::time(at))
            .fetch_optional(&mut *conn)
            .await?
            .ok_or($crate::StoreError::NotFound("cluster"))?;
            let seq: u32 = int("next_node_seq", row.try_get("seq")?)?;
            let limits = muster_domain::ClusterLimits {
                max_nodes: int("max_nodes", row.try_get("max_nodes")?)?,
                max_tenants: int("max_tenants", row.try_get("max_tenants")?)?,
                max_storage_gb: int("max_storage_gb", row.try_get("max_storage_gb")?)?,
            };
            let usage = sqlx::query(
                "SELECT COUNT(*) AS nodes, COALESCE(SUM(capacity_storage_gb), 0.0) AS storage
                 FROM cluster_nodes WHERE cluster_id = $1 AND status <> 'decommissioned'",
            )
            .bind(cluster_id.as_str())
            .fetch_one(&mut *conn)
            .await?;
            let usage = muster_domain::ClusterUsage {
                nodes: int("nodes", usage.try_get("nodes")?)?,
                tenants: 0,
                storage_gb: usage.try_get("storage")?,
            };
            limits
                .check_new_node(&usage, node.capacity_storage_gb)
                .map_err($crate::StoreError::Rejected)?;

            let id = muster_domain::NodeId::generate(cluster_id, seq, &mut rand::rng());
            let row = sqlx::query(
                "INSERT INTO cluster_nodes
                    (id, cluster_id, seq, name, hostname, region, availability_zone, priority,
                     roles, capacity_cpu, capacity_memory_gb, capacity_storage_gb,
                     capacity_network_mbps, token_hash, created_at, updated_at, status_changed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $15)
                 RETURNING *",
            )
            .bind(id.as_str())
            .bind(cluster_id.as_str())
            .bind(i64::from(seq))
            .bind(node.name.trim())
            .bind(node.hostname.trim())
            .bind(node.region.trim())
            .bind(node.availability_zone.trim())
            .bind(i64::from(node.priority))
            .bind(d::json(&node.roles))
            .bind(node.capacity_cpu)
            .bind(node.capacity_memory_gb)
            .bind(node.capacity_storage_gb)
            .bind(node.capacity_network_mbps)
            .bind(token_hash)
            .bind(d::time(at))
            .fetch_one(&mut *conn)
            .await?;
            let node = node_from_row(&row)?;
            insert_event(conn, &$crate::events::node_added(&node, actor)).await?;
            Ok(node)
        }

        fn join_token_from_row(
            row: &d::Row,
        ) -> Result<muster_domain::protocol::JoinToken, $crate::StoreError> {
            use sqlx::Row as _;
            Ok(muster_domain::protocol::JoinToken {
                id: row.try_get("id")?,
                cluster_id: parse("cluster_id", row.try_get::<&str, _>("cluster_id")?)?,
                name: row.try_get("name")?,
                created_at: d::get_time(row, "created_at")?,
                expires_at: d::get_opt_time(row, "expires_at")?,
                last_used_at: d::get_opt_time(row, "last_used_at")?,
                uses: int("uses", row.try_get("uses")?)?,
                revoked_at: d::get_opt_time(row, "revoked_at")?,
            })
        }
    };
}

macro_rules! join_methods {
    () => {
        fn create_join_token<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
            name: &'a str,
            token_hash: &'a str,
            expires_at: Option<chrono::DateTime<chrono::Utc>>,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::protocol::JoinToken> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                let token =
                    insert_join_token(&mut tx, cluster_id, name, token_hash, expires_at).await?;
                insert_event(
                    &mut tx,
                    &$crate::events::join_token(&token, "join_token_created", "created", actor),
                )
                .await?;
                commit(tx).await?;
                Ok(token)
            })
        }

        fn list_join_tokens<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
        ) -> $crate::StoreFuture<'a, Vec<muster_domain::protocol::JoinToken>> {
            Box::pin(async move {
                let mut tx = begin_read(&self.pool, $crate::Scope::All).await?;
                let rows = sqlx::query(
                    "SELECT * FROM cluster_join_tokens WHERE cluster_id = $1
                     ORDER BY created_at DESC, id LIMIT $2",
                )
                .bind(cluster_id.as_str())
                .bind(i64::from($crate::MAX_PAGE))
                .fetch_all(&mut *tx)
                .await?;
                rows.iter().map(join_token_from_row).collect()
            })
        }

        fn revoke_join_token<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
            id: &'a str,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::protocol::JoinToken> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                let token = revoke_join(&mut tx, cluster_id, id).await?;
                insert_event(
                    &mut tx,
                    &$crate::events::join_token(&token, "join_token_revoked", "revoked", actor),
                )
                .await?;
                commit(tx).await?;
                Ok(token)
            })
        }

        fn rotate_join_token<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
            id: &'a str,
            token_hash: &'a str,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::protocol::JoinToken> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                let old = revoke_join(&mut tx, cluster_id, id).await?;
                // The new secret lives as long as the old one was meant to.
                let expires_at = old.expires_at.map(|e| $crate::now() + (e - old.created_at));
                let token =
                    insert_join_token(&mut tx, cluster_id, &old.name, token_hash, expires_at)
                        .await?;
                let what = format!("rotated (replacing {})", old.id);
                insert_event(
                    &mut tx,
                    &$crate::events::join_token(&token, "join_token_rotated", &what, actor),
                )
                .await?;
                commit(tx).await?;
                Ok(token)
            })
        }

        fn register_node<'a>(
            &'a self,
            join_token_hash: &'a str,
            node: &'a muster_domain::NewNode,
            system: &'a muster_domain::protocol::SystemInfo,
            node_token_hash: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Node> {
            $crate::changes::recorded(&self.feed, async move {
                node.validate().map_err($crate::StoreError::Invalid)?;
                let now = $crate::now();
                let mut tx = begin_write(&self.writer).await?;
                let row = sqlx::query(
                    "UPDATE cluster_join_tokens SET uses = uses + 1, last_used_at = $2
                     WHERE token_hash = $1 AND revoked_at IS NULL
                       AND (expires_at IS NULL OR expires_at > $2)
                     RETURNING *",
                )
                .bind(join_token_hash)
                .bind(d::time(now))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or($crate::StoreError::NotFound("join token"))?;
                let token = join_token_from_row(&row)?;
                let actor = format!("join-token:{}", token.name);
                let added = insert_node(
                    &mut tx,
                    &token.cluster_id,
                    node,
                    Some(node_token_hash),
                    &actor,
                )
                .await?;
                sqlx::query("UPDATE cluster_nodes SET system_info = $2 WHERE id = $1")
                    .bind(added.id.as_str())
                    .bind($crate::shared::batch::json_param(system))
                    .execute(&mut *tx)
                    .await?;
                let added = node_by_id(&mut tx, added.id.as_str()).await?;
                commit(tx).await?;
                Ok(added)
            })
        }
    };
}

/// Free functions behind the join-token methods.
macro_rules! join_token_fns {
    () => {
        async fn insert_join_token(
            conn: &mut d::Conn,
            cluster_id: &muster_domain::ClusterId,
            name: &str,
            token_hash: &str,
            expires_at: Option<chrono::DateTime<chrono::Utc>>,
        ) -> Result<muster_domain::protocol::JoinToken, $crate::StoreError> {
            use rand::Rng as _;
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                return Err($crate::StoreError::Invalid(muster_domain::FieldErrors::single(
                    "name",
                    "name must be 1 to 100 characters",
                )));
            }
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM clusters WHERE id = $1 AND decommissioned_at IS NULL",
            )
            .bind(cluster_id.as_str())
            .fetch_one(&mut *conn)
            .await?;
            if open == 0 {
                return Err($crate::StoreError::NotFound("cluster"));
            }
            let id = format!("join-{:016x}", rand::rng().random::<u64>());
            let row = sqlx::query(
                "INSERT INTO cluster_join_tokens (id, cluster_id, name, token_hash, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
            )
            .bind(&id)
            .bind(cluster_id.as_str())
            .bind(name)
            .bind(token_hash)
            .bind(d::time($crate::now()))
            .bind(expires_at.map(d::time))
            .fetch_one(&mut *conn)
            .await?;
            join_token_from_row(&row)
        }

        /// Revokes a live token of the cluster; `NotFound` when there is none.
        async fn revoke_join(
            conn: &mut d::Conn,
            cluster_id: &muster_domain::ClusterId,
            id: &str,
        ) -> Result<muster_domain::protocol::JoinToken, $crate::StoreError> {
            let row = sqlx::query(
                "UPDATE cluster_join_tokens SET revoked_at = $3
                 WHERE id = $1 AND cluster_id = $2 AND revoked_at IS NULL RETURNING *",
            )
            .bind(id)
            .bind(cluster_id.as_str())
            .bind(d::time($crate::now()))
            .fetch_optional(&mut *conn)
            .await?
            .ok_or($crate::StoreError::NotFound("join token"))?;
            join_token_from_row(&row)
        }
    };
}
