//! Configuration templates.

macro_rules! template_methods {
    () => {
        fn list_templates(&self) -> $crate::StoreFuture<'_, Vec<muster_domain::ConfigTemplate>> {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT * FROM cluster_config_templates ORDER BY builtin DESC, max_nodes, name",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(template_from_row).collect()
            })
        }

        fn get_template<'a>(
            &'a self,
            name: &'a str,
        ) -> $crate::StoreFuture<'a, muster_domain::ConfigTemplate> {
            Box::pin(async move {
                let row = sqlx::query("SELECT * FROM cluster_config_templates WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or($crate::StoreError::NotFound("template"))?;
                template_from_row(&row)
            })
        }
    };
}

/// Seeds the built-in templates, leaving any an admin has edited alone.
macro_rules! seed_templates {
    ($pool:expr) => {
        async {
            let mut tx = begin_write(&$pool).await?;
            let at = d::time($crate::now());
            for t in muster_domain::builtin_templates() {
                sqlx::query(
                    "INSERT INTO cluster_config_templates
                        (name, environment, description, max_nodes, max_tenants, max_storage_gb,
                         config, builtin, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(&t.name)
                .bind(t.environment.as_str())
                .bind(&t.description)
                .bind(i64::from(t.limits.max_nodes))
                .bind(i64::from(t.limits.max_tenants))
                .bind($crate::shared::big(t.limits.max_storage_gb))
                .bind(d::json(&t.settings))
                .bind(true)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<(), $crate::StoreError>(())
        }
    };
}
