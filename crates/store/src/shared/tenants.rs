//! Tenants and where they are hosted.

macro_rules! tenant_methods {
    () => {
        fn create_tenant<'a>(
            &'a self,
            name: &'a str,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Tenant> {
            $crate::changes::recorded(&self.feed, async move {
                use rand::Rng as _;
                muster_domain::Tenant::validate_name(name).map_err($crate::StoreError::Invalid)?;
                let id = format!("tenant-{:016x}", rand::rng().random::<u64>());
                let now = $crate::now();
                let mut tx = begin_write(&self.writer).await?;
                let row = sqlx::query(
                    "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) RETURNING *",
                )
                .bind(&id)
                .bind(name.trim())
                .bind(d::time(now))
                .fetch_one(&mut *tx)
                .await?;
                let tenant = tenant_from_row(&row)?;
                let message = format!("Tenant {} created", tenant.name);
                let event = $crate::events::tenant_event(None, &tenant, "tenant_created", message, actor);
                insert_event(&mut tx, &event).await?;
                commit(tx).await?;
                Ok(tenant)
            })
        }

        fn list_tenants(&self) -> $crate::StoreFuture<'_, Vec<muster_domain::Tenant>> {
            Box::pin(async move {
                let rows = sqlx::query("SELECT * FROM tenants ORDER BY name LIMIT $1")
                    .bind(i64::from($crate::MAX_PAGE))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(tenant_from_row).collect()
            })
        }

        fn cluster_tenants<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
        ) -> $crate::StoreFuture<'a, Vec<muster_domain::Tenant>> {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT t.* FROM tenants t JOIN cluster_tenants ct ON ct.tenant_id = t.id
                     WHERE ct.cluster_id = $1 ORDER BY t.name",
                )
                .bind(cluster_id.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(tenant_from_row).collect()
            })
        }

        fn place_tenant<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
            tenant_id: &'a str,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::Tenant> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                let (cluster, _, _) = lock_cluster(&mut tx, cluster_id.as_str()).await?;
                if cluster.status == muster_domain::ClusterStatus::Decommissioned {
                    return Err(decommissioned());
                }
                let tenant = sqlx::query("SELECT * FROM tenants WHERE id = $1")
                    .bind(tenant_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or($crate::StoreError::NotFound("tenant"))?;
                let tenant = tenant_from_row(&tenant)?;
                let usage = usage_of(&mut tx, cluster_id.as_str()).await?;
                if usage.tenants >= cluster.max_tenants {
                    return Err($crate::StoreError::Rejected(muster_domain::FieldErrors::single(
                        "tenant_id",
                        format!(
                            "the cluster already hosts {} tenant(s), its max_tenants limit is {}",
                            usage.tenants, cluster.max_tenants
                        ),
                    )));
                }
                let inserted = sqlx::query(
                    "INSERT INTO cluster_tenants (cluster_id, tenant_id, created_at) VALUES ($1, $2, $3)",
                )
                .bind(cluster_id.as_str())
                .bind(tenant_id)
                .bind(d::time($crate::now()))
                .execute(&mut *tx)
                .await;
                if let Err(e) = inserted {
                    return Err(match $crate::StoreError::from(e) {
                        $crate::StoreError::Conflict(_) => {
                            $crate::StoreError::Conflict("tenant placement".into())
                        }
                        other => other,
                    });
                }
                let message = format!("Tenant {} placed on cluster {}", tenant.name, cluster.name);
                let event = $crate::events::tenant_event(Some(&cluster), &tenant, "tenant_placed", message, actor);
                insert_event(&mut tx, &event).await?;
                $crate::changes::note_access();
                commit(tx).await?;
                Ok(tenant)
            })
        }

        fn remove_tenant<'a>(
            &'a self,
            cluster_id: &'a muster_domain::ClusterId,
            tenant_id: &'a str,
            actor: &'a str,
        ) -> $crate::StoreFuture<'a, ()> {
            $crate::changes::recorded(&self.feed, async move {
                let mut tx = begin_write(&self.writer).await?;
                let (cluster, _, _) = lock_cluster(&mut tx, cluster_id.as_str()).await?;
                let row = sqlx::query(
                    "SELECT t.* FROM tenants t JOIN cluster_tenants ct ON ct.tenant_id = t.id
                     WHERE ct.cluster_id = $1 AND t.id = $2",
                )
                .bind(cluster_id.as_str())
                .bind(tenant_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or($crate::StoreError::NotFound("tenant placement"))?;
                let tenant = tenant_from_row(&row)?;
                sqlx::query("DELETE FROM cluster_tenants WHERE cluster_id = $1 AND tenant_id = $2")
                    .bind(cluster_id.as_str())
                    .bind(tenant_id)
                    .execute(&mut *tx)
                    .await?;
                let message = format!("Tenant {} removed from cluster {}", tenant.name, cluster.name);
                let event = $crate::events::tenant_event(Some(&cluster), &tenant, "tenant_removed", message, actor);
                insert_event(&mut tx, &event).await?;
                $crate::changes::note_access();
                commit(tx).await?;
                Ok(())
            })
        }
    };
}
