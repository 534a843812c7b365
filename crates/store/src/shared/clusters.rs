//! Clusters.

macro_rules! cluster_methods {
    () => {
        fn create_cluster<'a>(
            &'a self,
            new: &'a muster_domain::NewCluster,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Cluster> {
            $crate::changes::recorded(&self.feed, async move {
                new.validate().map_err($crate::StoreError::Invalid)?;
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let created = $crate::now();
                    let id = muster_domain::ClusterId::generate(created, &mut rand::rng());
                    let mut tx = begin_write(&self.writer).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO clusters
                            (id, name, description, region, environment, status, max_nodes,
                             max_tenants, max_storage_gb, config, template_name, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, 'provisioning', $6, $7, $8, $9, $10, $11, $11)
                         RETURNING *",
                    )
                    .bind(id.as_str())
                    .bind(new.name.trim())
                    .bind(&new.description)
                    .bind(new.region.trim())
                    .bind(new.environment.as_str())
                    .bind(i64::from(new.limits.max_nodes))
                    .bind(i64::from(new.limits.max_tenants))
                    .bind($crate::shared::big(new.limits.max_storage_gb))
                    .bind(d::json(&new.settings))
                    .bind(new.template_name.as_deref())
                    .bind(d::time(created))
                    .fetch_one(&mut *tx)
                    .await;
                    let row = match inserted.map_err($crate::StoreError::from) {
                        Ok(row) => row,
                        // A colliding random id is retried, never surfaced.
                        Err($crate::StoreError::Conflict(what))
                            if what == "cluster id" && attempt < $crate::ID_ATTEMPTS =>
                        {
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let cluster = cluster_from_row(&row)?;
                    insert_event(&mut tx, &$crate::events::cluster_created(&cluster, actor)).await?;
                    commit(tx).await?;
                    return Ok(cluster);
                }
            })
        }

        fn get_cluster<'a>(
            &'a self,
            id: &'a muster_domain::ClusterId,
        ) -> $crate::StoreFuture<'a, muster_domain::Cluster> {
            Box::pin(async move {
                let mut tx = begin_read(&self.pool, $crate::Scope::All).await?;
                let row = sqlx::query("SELECT * FROM clusters WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or($crate::StoreError::NotFound("cluster"))?;
                cluster_from_row(&row)
            })
        }

        fn tally_clusters<'a>(
            &'a self,
            ids: &'a [muster_domain::ClusterId],
        ) -> $crate::StoreFuture<'a, Vec<muster_domain::ClusterTally>> {
            Box::pin(async move {
                use sqlx::Row as _;
                use std::collections::{BTreeSet, HashMap};
                let mut out: Vec<muster_domain::ClusterTally> =
                    ids.iter().cloned().map(muster_domain::ClusterTally::empty).collect();
                if ids.is_empty() {
                    return Ok(out);
                }
                let at: HashMap<&str, usize> =
                    ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
                let wanted: BTreeSet<&str> = at.keys().copied().collect();
                let param = $crate::shared::batch::json_param(&wanted);
                let mut tx = begin_read(&self.pool, $crate::Scope::All).await?;
                let counts = format!(
                    "SELECT cluster_id,
                        SUM(CASE WHEN status <> 'decommissioned' THEN 1 ELSE 0 END) AS nodes,
                        SUM(CASE WHEN status NOT IN ('decommissioned', 'maintenance') THEN 1 ELSE 0 END) AS counted,
                        SUM(CASE WHEN status = 'online' THEN 1 ELSE 0 END) AS online,
                        MAX(CASE WHEN is_primary THEN name END) AS primary_name
                     FROM cluster_nodes WHERE {} GROUP BY cluster_id",
                    d::in_json_list("cluster_id", "$1")
                );
                for row in sqlx::query(&counts).bind(&param).fetch_all(&mut *tx).await? {
                    let id: String = row.try_get("cluster_id")?;
                    let Some(&i) = at.get(id.as_str()) else { continue };
                    let tally = &mut out[i];
                    tally.nodes = $crate::shared::int("nodes", row.try_get::<i64, _>("nodes")?)?;
                    tally.counted = $crate::shared::int("counted", row.try_get::<i64, _>("counted")?)?;
                    tally.online = $crate::shared::int("online", row.try_get::<i64, _>("online")?)?;
                    tally.primary_name = row.try_get("primary_name")?;
                }
                let tenants = format!(
                    "SELECT ct.cluster_id, t.* FROM cluster_tenants ct
                     JOIN tenants t ON t.id = ct.tenant_id
                     WHERE {} ORDER BY t.name",
                    d::in_json_list("ct.cluster_id", "$1")
                );
                for row in sqlx::query(&tenants).bind(&param).fetch_all(&mut *tx).await? {
                    let id: String = row.try_get("cluster_id")?;
                    if let Some(&i) = at.get(id.as_str()) {
                        out[i].tenants.push(tenant_from_row(&row)?);
                    }
                }
                Ok(out)
            })
        }

        fn cluster_visible<'a>(
            &'a self,
            id: &'a muster_domain::ClusterId,
            scope: $crate::Scope<'a>,
        ) -> $crate::StoreFuture<'a, bool> {
            Box::pin(async move {
                let sql = format!("SELECT COUNT(*) FROM clusters WHERE id = $1{}", scope.clause("id", 2));
                let mut q = sqlx::query_scalar::<_, i64>(&sql).bind(id.as_str());
                for t in scope.tenant_ids() {
                    q = q.bind(t.as_str());
                }
                let mut tx = begin_read(&self.pool, scope).await?;
                Ok(q.fetch_one(&mut *tx).await? > 0)
            })
        }

        fn list_clusters_in<'a>(
            &'a self,
            q: &'a $crate::ClusterQuery,
            scope: $crate::Scope<'a>,
        ) -> $crate::StoreFuture<'a, $crate::Page<muster_domain::Cluster>> {
            Box::pin(async move {
                use $crate::ClusterSort;
                let listing = format!("clusters:{}:{}", q.sort, q.descending);
                let cursor = q
                    .cursor
                    .as_deref()
                    .map(|c| $crate::query::Cursor::decode(c, &listing))
                    .transpose()?;
                let column = q.sort.as_str();
                let (cmp, dir) = if q.descending { ("<", "DESC") } else { (">", "ASC") };
                let mut sql = String::from(
                    "SELECT * FROM clusters
                     WHERE (CAST($1 AS TEXT) IS NULL OR status = $1)
                       AND (CAST($2 AS TEXT) IS NULL OR environment = $2)
                       AND (CAST($3 AS TEXT) IS NULL OR region = $3)
                       AND (CAST($4 AS TEXT) IS NULL OR LOWER(name) LIKE $4 ESCAPE '\\')
                       AND ($5 OR decommissioned_at IS NULL)",
                );
                if cursor.is_some() {
                    sql.push_str(&format!(
                        " AND ({column} {cmp} $7 OR ({column} = $7 AND id {cmp} $8))"
                    ));
                }
                // Scope parameters come after every other one ($7 and $8 are
                // the cursor's, bound or not).
                let first_scope = if cursor.is_some() { 9 } else { 7 };
                sql.push_str(&scope.clause("id", first_scope));
                sql.push_str(&format!(" ORDER BY {column} {dir}, id {dir} LIMIT $6"));
                let limit = $crate::page_size(Some(q.limit));
                let mut query = sqlx::query(&sql)
                    .bind(q.status.map(|s| s.as_str()))
                    .bind(q.environment.map(|e| e.as_str()))
                    .bind(q.region.as_deref())
                    .bind(q.name.as_deref().map($crate::query::contains_pattern))
                    .bind(q.include_decommissioned)
                    .bind(i64::from(limit) + 1);
                if let Some(c) = &cursor {
                    let bad = || $crate::StoreError::Invalid(muster_domain::FieldErrors::single(
                        "cursor",
                        "cursor is not a cursor of this listing (use next_cursor from the previous page)",
                    ));
                    query = match q.sort {
                        ClusterSort::Name => query.bind(c.key.as_str().ok_or_else(bad)?.to_owned()),
                        ClusterSort::CreatedAt => {
                            let ms = c.key.as_i64().ok_or_else(bad)?;
                            let t = chrono::DateTime::from_timestamp_millis(ms).ok_or_else(bad)?;
                            query.bind(d::time(t))
                        }
                        ClusterSort::HealthScore => query.bind(c.key.as_f64().ok_or_else(bad)?),
                    }
                    .bind(c.id.clone());
                }
                for t in scope.tenant_ids() {
                    query = query.bind(t.as_str());
                }
                let mut tx = begin_read(&self.pool, scope).await?;
                let rows = query.fetch_all(&mut *tx).await?;
                let mut items = rows.iter().map(cluster_from_row).collect::<Result<Vec<_>, _>>()?;
                let next_cursor = if items.len() > limit as usize {
                    items.truncate(limit as usize);
                    items.last().map(|last| {
                        let key = match q.sort {
                            ClusterSort::Name => serde_json::json!(last.name),
                            ClusterSort::CreatedAt => serde_json::json!(last.created_at.timestamp_millis()),
                            ClusterSort::HealthScore => serde_json::json!(last.health_score),
                        };
                        $crate::query::Cursor { listing, key, id: last.id.to_string() }.encode()
                    })
                } else {
                    None
                };
                Ok($crate::Page { items, next_cursor })
            })
        }

        fn update_cluster<'a>(
            &'a self,
            id: &'a muster_domain::ClusterId,
            update: &'a muster_domain::ClusterUpdate,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Cluster> {
            $crate::changes::recorded(&self.feed, async move {
                update.validate().map_err($crate::StoreError::Invalid)?;
                let mut tx = begin_write(&self.writer).await?;
                let (cluster, maintenance, ever_online) = lock_cluster(&mut tx, id.as_str()).await?;
                if cluster.status == muster_domain::ClusterStatus::Decommissioned {
                    return Err(decommissioned());
                }
                let limits = update.limits.unwrap_or_else(|| cluster.limits());
                let usage = usage_of(&mut tx, id.as_str()).await?;
                limits.check_usage(&usage).map_err($crate::StoreError::Rejected)?;
                let config = update.config.unwrap_or(cluster.config);
                let row = sqlx::query(
                    "UPDATE clusters SET name = $2, description = $3, region = $4, max_nodes = $5,
                        max_tenants = $6, max_storage_gb = $7, config = $8, updated_at = $9
                     WHERE id = $1 RETURNING *",
                )
                .bind(id.as_str())
                .bind(update.name.as_deref().map_or(cluster.name.as_str(), str::trim))
                .bind(update.description.as_deref().unwrap_or(&cluster.description))
                .bind(update.region.as_deref().map_or(cluster.region.as_str(), str::trim))
                .bind(i64::from(limits.max_nodes))
                .bind(i64::from(limits.max_tenants))
                .bind($crate::shared::big(limits.max_storage_gb))
                .bind(d::json(&config))
                .bind(d::time($crate::now()))
                .fetch_one(&mut *tx)
                .await?;
                let after = cluster_from_row(&row)?;
                insert_event(&mut tx, &$crate::events::cluster_updated(&cluster, &after, actor)).await?;
                // auto_failover may have been switched on: judge leadership again.
                let after = reconcile_cluster(&mut tx, &after, maintenance, ever_online, actor).await?;
                commit(tx).await?;
                Ok(after)
            })
        }

        fn decommission_cluster<'a>(
            &'a self,
            id: &'a muster_domain::ClusterId,
            force: bool,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Cluster> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                let (cluster, _, _) = lock_cluster(&mut tx, id.as_str()).await?;
                if cluster.status == muster_domain::ClusterStatus::Decommissioned {
                    return Err(decommissioned());
                }
                let after = decommission_in(&mut tx, &cluster, force, actor).await?;
                commit(tx).await?;
                Ok(after)
            })
        }
    };
}
