//! Reading rows into the domain's records, and writing events.

/// Generates, in the invoking backend module, the row readers and `insert_event`.
macro_rules! rows {
    () => {
        use $crate::shared::{int, parse};

        /// Begins a write transaction that may touch every row, telling
        /// row-level security (where there is any) so in the same round trip.
        async fn begin_write(
            pool: &d::Pool,
        ) -> Result<sqlx::Transaction<'static, d::Db>, $crate::StoreError> {
            let tx = pool.begin_with(d::BEGIN_WRITE).await?;
            // What an abandoned transaction noted never happened.
            let _ = $crate::changes::take_notes();
            Ok(tx)
        }

        /// [`begin_write`] on a connection the caller holds.
        async fn begin_write_on(
            conn: &mut d::Conn,
        ) -> Result<sqlx::Transaction<'_, d::Db>, $crate::StoreError> {
            let tx = sqlx::Connection::begin_with(conn, d::BEGIN_WRITE).await?;
            let _ = $crate::changes::take_notes();
            Ok(tx)
        }

        /// Begins a read transaction that sees only what `scope` may see (on
        /// PostgreSQL row-level security enforces it a second time).
        async fn begin_read(
            pool: &d::Pool,
            scope: $crate::Scope<'_>,
        ) -> Result<sqlx::Transaction<'static, d::Db>, $crate::StoreError> {
            let mut tx = pool.begin().await?;
            d::enter(&mut tx, scope).await?;
            Ok(tx)
        }

        fn text_id<T: std::str::FromStr>(
            row: &d::Row,
            column: &'static str,
        ) -> Result<Option<T>, $crate::StoreError>
        where
            T::Err: std::fmt::Display,
        {
            use sqlx::Row as _;
            row.try_get::<Option<&str>, _>(column)?
                .map(|s| parse(column, s))
                .transpose()
        }

        fn template_from_row(
            row: &d::Row,
        ) -> Result<muster_domain::ConfigTemplate, $crate::StoreError> {
            use sqlx::Row as _;
            Ok(muster_domain::ConfigTemplate {
                name: row.try_get("name")?,
                environment: parse("environment", row.try_get::<&str, _>("environment")?)?,
                description: row.try_get("description")?,
                limits: muster_domain::ClusterLimits {
                    max_nodes: int("max_nodes", row.try_get("max_nodes")?)?,
                    max_tenants: int("max_tenants", row.try_get("max_tenants")?)?,
                    max_storage_gb: int("max_storage_gb", row.try_get("max_storage_gb")?)?,
                },
                settings: d::get_json(row, "config")?,
            })
        }

        fn cluster_from_row(row: &d::Row) -> Result<muster_domain::Cluster, $crate::StoreError> {
            use sqlx::Row as _;
            Ok(muster_domain::Cluster {
                id: parse("id", row.try_get::<&str, _>("id")?)?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                region: row.try_get("region")?,
                environment: parse("environment", row.try_get::<&str, _>("environment")?)?,
                status: parse("status", row.try_get::<&str, _>("status")?)?,
                health_score: row.try_get("health_score")?,
                max_nodes: int("max_nodes", row.try_get("max_nodes")?)?,
                max_tenants: int("max_tenants", row.try_get("max_tenants")?)?,
                max_storage_gb: int("max_storage_gb", row.try_get("max_storage_gb")?)?,
                config: d::get_json(row, "config")?,
                template_name: row.try_get("template_name")?,
                primary_node_id: text_id(row, "primary_node_id")?,
                coordinator_node_id: text_id(row, "coordinator_node_id")?,
                term: int("term", row.try_get("term")?)?,
                created_at: d::get_time(row, "created_at")?,
                updated_at: d::get_time(row, "updated_at")?,
            })
        }

        fn node_from_row(row: &d::Row) -> Result<muster_domain::Node, $crate::StoreError> {
            use sqlx::Row as _;
            Ok(muster_domain::Node {
                id: parse("id", row.try_get::<&str, _>("id")?)?,
                cluster_id: parse("cluster_id", row.try_get::<&str, _>("cluster_id")?)?,
                name: row.try_get("name")?,
                hostname: row.try_get("hostname")?,
                region: row.try_get("region")?,
                availability_zone: row.try_get("availability_zone")?,
                status: parse("status", row.try_get::<&str, _>("status")?)?,
                health_status: parse("health_status", row.try_get::<&str, _>("health_status")?)?,
                is_primary: row.try_get("is_primary")?,
                is_coordinator: row.try_get("is_coordinator")?,
                cordoned: row.try_get("cordoned")?,
                priority: int("priority", row.try_get("priority")?)?,
                roles: d::get_json(row, "roles")?,
                capacity_cpu: row.try_get("capacity_cpu")?,
                capacity_memory_gb: row.try_get("capacity_memory_gb")?,
                capacity_storage_gb: row.try_get("capacity_storage_gb")?,
                capacity_network_mbps: row.try_get("capacity_network_mbps")?,
                last_heartbeat_at: d::get_opt_time(row, "last_heartbeat_at")?,
                usage: match d::get_opt_time(row, "last_sample_at")? {
                    Some(at) => Some(muster_domain::health::UsageSample {
                        cpu_percent: row.try_get::<Option<f64>, _>("last_cpu_percent")?.unwrap_or(0.0),
                        memory_percent: row.try_get::<Option<f64>, _>("last_memory_percent")?.unwrap_or(0.0),
                        disk_percent: row.try_get::<Option<f64>, _>("last_disk_percent")?.unwrap_or(0.0),
                        at,
                    }),
                    None => None,
                },
                // JSON text on both databases, read only here.
                system: row
                    .try_get::<Option<&str>, _>("system_info")?
                    .map(|text| serde_json::from_str(text).map_err(|e| $crate::StoreError::corrupt("system_info", e)))
                    .transpose()?,
                created_at: d::get_time(row, "created_at")?,
                updated_at: d::get_time(row, "updated_at")?,
            })
        }

        fn event_from_row(row: &d::Row) -> Result<muster_domain::Event, $crate::StoreError> {
            use sqlx::Row as _;
            Ok(muster_domain::Event {
                id: row.try_get("id")?,
                cluster_id: text_id(row, "cluster_id")?,
                node_id: text_id(row, "node_id")?,
                event_type: row.try_get("event_type")?,
                category: parse("category", row.try_get::<&str, _>("category")?)?,
                severity: parse("severity", row.try_get::<&str, _>("severity")?)?,
                message: row.try_get("message")?,
                details: d::get_json(row, "details")?,
                actor: row.try_get("actor")?,
                created_at: d::get_time(row, "created_at")?,
            })
        }

        fn tenant_from_row(row: &d::Row) -> Result<muster_domain::Tenant, $crate::StoreError> {
            use sqlx::Row as _;
            Ok(muster_domain::Tenant {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                created_at: d::get_time(row, "created_at")?,
            })
        }

        /// Writes `e` on `conn`, inside the caller's transaction.
        async fn insert_event(
            conn: &mut d::Conn,
            e: &muster_domain::NewEvent,
        ) -> Result<muster_domain::Event, $crate::StoreError> {
            let row = sqlx::query(
                "INSERT INTO cluster_events
                    (cluster_id, node_id, event_type, category, severity, message, details, actor, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 RETURNING *",
            )
            .bind(e.cluster_id.as_ref().map(muster_domain::ClusterId::as_str))
            .bind(e.node_id.as_ref().map(muster_domain::NodeId::as_str))
            .bind(&e.event_type)
            .bind(e.category.as_str())
            .bind(e.severity.as_str())
            .bind(&e.message)
            .bind(d::json(&e.details))
            .bind(&e.actor)
            .bind(d::time($crate::now()))
            .fetch_one(conn)
            .await?;
            let event = event_from_row(&row)?;
            $crate::changes::note_event(&event);
            Ok(event)
        }

        /// Commits a write transaction and publishes what it changed: the
        /// clusters and nodes its events concern (as committed), the events,
        /// its samples, and whether access changed.
        async fn commit(
            mut tx: sqlx::Transaction<'_, d::Db>,
        ) -> Result<(), $crate::StoreError> {
            let Some((notes, feed)) = $crate::changes::take_notes().filter(|(n, _)| !n.is_empty()) else {
                tx.commit().await?;
                return Ok(());
            };
            let changes = if notes.events.len() > $crate::changes::SET_MAX {
                // A change this wide (a whole fleet going offline) is cheaper
                // to read again than to send piece by piece.
                vec![$crate::changes::Change::Lost]
            } else {
                let mut cluster_ids = std::collections::BTreeSet::new();
                let mut node_ids = std::collections::BTreeSet::new();
                for e in &notes.events {
                    if let Some(id) = &e.cluster_id {
                        cluster_ids.insert(id.as_str());
                    }
                    if let Some(id) = &e.node_id {
                        node_ids.insert(id.as_str());
                    }
                }
                let clusters = rows_by_ids(&mut tx, "clusters", &cluster_ids, cluster_from_row).await?;
                let nodes = rows_by_ids(&mut tx, "cluster_nodes", &node_ids, node_from_row).await?;
                let mut removed = Vec::new();
                for e in &notes.events {
                    if let (Some(node), Some(cluster)) = (&e.node_id, &e.cluster_id) {
                        if !nodes.iter().any(|n| &n.id == node) && !removed.iter().any(|(n, _)| n == node) {
                            removed.push((node.clone(), cluster.clone()));
                        }
                    }
                }
                $crate::changes::assemble(notes, clusters, &nodes, removed)
            };
            d::commit_and_publish(tx, &feed, changes).await
        }

        /// The rows of `table` whose id is in `ids`, read by `read`.
        async fn rows_by_ids<T>(
            conn: &mut d::Conn,
            table: &'static str,
            ids: &std::collections::BTreeSet<&str>,
            read: fn(&d::Row) -> Result<T, $crate::StoreError>,
        ) -> Result<Vec<T>, $crate::StoreError> {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!("SELECT * FROM {table} WHERE {} ORDER BY id", d::in_json_list("id", "$1"));
            sqlx::query(&sql)
                .bind($crate::shared::batch::json_param(ids))
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(read)
                .collect()
        }
    };
}
