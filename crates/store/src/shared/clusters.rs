//! Clusters.

macro_rules! cluster_methods {
    () => {
        fn create_cluster<'a>(
            &'a self,
            new: &'a muster_domain::NewCluster,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Cluster> {
            Box::pin(async move {
                new.validate().map_err($crate::StoreError::Invalid)?;
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let created = $crate::now();
                    let id = muster_domain::ClusterId::generate(created, &mut rand::rng());
                    let mut tx = self.pool.begin_with(d::BEGIN_WRITE).await?;
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
                    tx.commit().await?;
                    return Ok(cluster);
                }
            })
        }

        fn get_cluster<'a>(
            &'a self,
            id: &'a muster_domain::ClusterId,
        ) -> $crate::StoreFuture<'a, muster_domain::Cluster> {
            Box::pin(async move {
                let row = sqlx::query("SELECT * FROM clusters WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or($crate::StoreError::NotFound("cluster"))?;
                cluster_from_row(&row)
            })
        }

        fn list_clusters(&self) -> $crate::StoreFuture<'_, Vec<muster_domain::Cluster>> {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT * FROM clusters WHERE decommissioned_at IS NULL
                     ORDER BY created_at DESC, id DESC LIMIT $1",
                )
                .bind(i64::from($crate::MAX_PAGE))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(cluster_from_row).collect()
            })
        }
    };
}
