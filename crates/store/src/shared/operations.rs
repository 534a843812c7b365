//! Catalog operations: each run judged, guarded, rate-limited and carried out
//! in one transaction with its history row and events; agent-side runs
//! queued for the node's next heartbeat, delivered, reported on, or timed out.

/// The helpers every operation shares, and the changes the older single-purpose
/// methods (promotion, retirement, decommissioning) also make.
macro_rules! operation_fns {
    () => {
        fn operation_from_row(
            row: &d::Row,
        ) -> Result<muster_domain::operations::OperationRecord, $crate::StoreError> {
            use sqlx::Row as _;
            let term: Option<i64> = row.try_get("term")?;
            Ok(muster_domain::operations::OperationRecord {
                id: row.try_get("id")?,
                operation: parse("operation", row.try_get::<&str, _>("operation")?)?,
                cluster_id: parse("cluster_id", row.try_get::<&str, _>("cluster_id")?)?,
                node_id: text_id(row, "node_id")?,
                params: d::get_json(row, "params")?,
                forced: row.try_get("forced")?,
                actor: row.try_get("actor")?,
                status: parse("status", row.try_get::<&str, _>("status")?)?,
                result: row.try_get("result")?,
                output: d::get_json(row, "output")?,
                term: term.map(|t| int("term", t)).transpose()?,
                created_at: d::get_time(row, "created_at")?,
                delivered_at: d::get_opt_time(row, "delivered_at")?,
                expires_at: d::get_opt_time(row, "expires_at")?,
                finished_at: d::get_opt_time(row, "finished_at")?,
                duration_ms: row.try_get("duration_ms")?,
            })
        }

        /// A run as it is first written.
        struct NewRun<'a> {
            run: &'a $crate::OperationRun,
            cluster_id: &'a str,
            status: muster_domain::operations::OperationStatus,
            result: &'a str,
            output: &'a serde_json::Value,
            term: Option<u64>,
            expires_at: Option<chrono::DateTime<chrono::Utc>>,
            created_at: chrono::DateTime<chrono::Utc>,
        }

        async fn insert_operation(
            conn: &mut d::Conn,
            new: &NewRun<'_>,
        ) -> Result<muster_domain::operations::OperationRecord, $crate::StoreError> {
            let finished = new.status.is_finished().then(|| $crate::now());
            let node_id = match &new.run.subject {
                muster_domain::operations::OperationSubject::Node(id) => Some(id.as_str()),
                muster_domain::operations::OperationSubject::Cluster(_) => None,
            };
            let row = sqlx::query(
                "INSERT INTO operations (operation, cluster_id, node_id, params, forced, actor,
                    actor_id, rate_class, status, result, output, term, created_at, expires_at,
                    finished_at, duration_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                 RETURNING *",
            )
            .bind(new.run.operation.as_str())
            .bind(new.cluster_id)
            .bind(node_id)
            .bind(d::json(&new.run.params))
            .bind(new.run.force)
            .bind(new.run.actor.as_str())
            .bind(new.run.actor_id.as_str())
            .bind(new.run.operation.spec().rate_class.as_str())
            .bind(new.status.as_str())
            .bind(new.result)
            .bind(d::json(new.output))
            .bind(new.term.map($crate::shared::big))
            .bind(d::time(new.created_at))
            .bind(new.expires_at.map(d::time))
            .bind(finished.map(d::time))
            .bind(finished.map(|f| (f - new.created_at).num_milliseconds()))
            .fetch_one(&mut *conn)
            .await?;
            let record = operation_from_row(&row)?;
            insert_event(&mut *conn, &$crate::events::operation_event(&record, None)).await?;
            Ok(record)
        }

        /// How many runs of `class` the user started in the minute before
        /// `now`, and when the oldest of them started.
        async fn recent_runs(
            conn: &mut d::Conn,
            actor_id: &str,
            class: muster_domain::operations::RateClass,
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<(u32, Option<chrono::DateTime<chrono::Utc>>), $crate::StoreError> {
            use sqlx::Row as _;
            // One user's runs take turns (PostgreSQL runs writers side by side).
            sqlx::query(&format!("SELECT id FROM users WHERE id = $1{}", d::FOR_UPDATE))
                .bind(actor_id)
                .fetch_optional(&mut *conn)
                .await?;
            let row = sqlx::query(
                "SELECT COUNT(*) AS runs, MIN(created_at) AS oldest FROM operations
                 WHERE actor_id = $1 AND rate_class = $2 AND created_at > $3",
            )
            .bind(actor_id)
            .bind(class.as_str())
            .bind(d::time(now - chrono::Duration::minutes(1)))
            .fetch_one(&mut *conn)
            .await?;
            Ok((int("runs", row.try_get("runs")?)?, d::get_opt_time(&row, "oldest")?))
        }

        /// Sets a node's status (with its event, and `why` in it).
        async fn set_node_status(
            conn: &mut d::Conn,
            node: &muster_domain::Node,
            status: muster_domain::NodeStatus,
            actor: &str,
            why: Option<&str>,
        ) -> Result<muster_domain::Node, $crate::StoreError> {
            let row = sqlx::query(
                "UPDATE cluster_nodes SET status = $2, updated_at = $3,
                    status_changed_at = CASE WHEN status = $2 THEN status_changed_at ELSE $3 END
                 WHERE id = $1 RETURNING *",
            )
            .bind(node.id.as_str())
            .bind(status.as_str())
            .bind(d::time($crate::now()))
            .fetch_one(&mut *conn)
            .await?;
            let after = node_from_row(&row)?;
            if node.status != status {
                let e = muster_domain::cluster_state::node_status_event(&after, node.status, status, actor, why);
                insert_event(&mut *conn, &e).await?;
            }
            Ok(after)
        }

        /// When the node last told anyone how it is: its agent's heartbeat,
        /// or else an operator's status report with figures.
        fn last_report(node: &muster_domain::Node) -> Option<chrono::DateTime<chrono::Utc>> {
            node.last_heartbeat_at.or(node.usage.map(|u| u.at))
        }

        /// A node back from a drain or maintenance: the age of its last
        /// report decides its status again.
        async fn return_to_service(
            conn: &mut d::Conn,
            node: &muster_domain::Node,
            interval_s: u32,
            actor: &str,
            why: &str,
        ) -> Result<muster_domain::Node, $crate::StoreError> {
            let status = muster_domain::liveness::status_on_return(last_report(node), $crate::now(), interval_s);
            set_node_status(&mut *conn, node, status, actor, Some(why)).await
        }

        /// Ends a node's maintenance window (by request or at its expiry).
        async fn end_maintenance(
            conn: &mut d::Conn,
            node: &muster_domain::Node,
            interval_s: u32,
            actor: &str,
            why: &str,
        ) -> Result<muster_domain::Node, $crate::StoreError> {
            sqlx::query(
                "UPDATE cluster_nodes SET maintenance_reason = NULL, maintenance_until = NULL
                 WHERE id = $1",
            )
            .bind(node.id.as_str())
            .execute(&mut *conn)
            .await?;
            return_to_service(conn, node, interval_s, actor, why).await
        }

        /// `promote_to_primary`: the node leads, its priority is raised, the
        /// term increments. No reconcile: a forced promotion is an operator's
        /// explicit decision and stands until the next change is judged.
        async fn promote_in(
            conn: &mut d::Conn,
            cluster: &muster_domain::Cluster,
            members: &[muster_domain::coordination::Member],
            node: &muster_domain::Node,
            force: bool,
            actor: &str,
        ) -> Result<muster_domain::Cluster, $crate::StoreError> {
            use muster_domain::coordination::{PromotionError, promote};
            let current = cluster.leadership();
            let promotion = promote(members, &current, cluster.term, &node.id, force).map_err(|e| {
                let field = if matches!(e, PromotionError::NotCandidate { .. }) { "force" } else { "node_id" };
                refuse(field, e.to_string())
            })?;
            sqlx::query("UPDATE cluster_nodes SET priority = $2, updated_at = $3 WHERE id = $1")
                .bind(node.id.as_str())
                .bind(i64::from(promotion.priority))
                .bind(d::time($crate::now()))
                .execute(&mut *conn)
                .await?;
            let after = set_leadership(&mut *conn, cluster, &promotion.change).await?;
            let event = $crate::events::node_promoted(cluster, node, &current, &promotion, force, actor);
            insert_event(&mut *conn, &event).await?;
            Ok(after)
        }

        /// Writes a new leadership and term on the cluster and its nodes.
        async fn set_leadership(
            conn: &mut d::Conn,
            cluster: &muster_domain::Cluster,
            change: &muster_domain::coordination::LeadershipChange,
        ) -> Result<muster_domain::Cluster, $crate::StoreError> {
            let leadership = &change.leadership;
            let row = sqlx::query(
                "UPDATE clusters SET primary_node_id = $2, coordinator_node_id = $3, term = $4
                 WHERE id = $1 RETURNING *",
            )
            .bind(cluster.id.as_str())
            .bind(leadership.primary.as_ref().map(muster_domain::NodeId::as_str))
            .bind(leadership.coordinator.as_ref().map(muster_domain::NodeId::as_str))
            .bind($crate::shared::big(change.term))
            .fetch_one(&mut *conn)
            .await?;
            mark_leaders(&mut *conn, &cluster.id, leadership).await?;
            cluster_from_row(&row)
        }

        /// Decommissions (`remove` false: the row stays, retired) or deletes a node.
        async fn retire_in(
            conn: &mut d::Conn,
            node: &muster_domain::Node,
            remove: bool,
            actor: &str,
        ) -> Result<(), $crate::StoreError> {
            if !remove && node.status == muster_domain::NodeStatus::Decommissioned {
                return Err(refuse("node_id", "the node is already decommissioned"));
            }
            let now = d::time($crate::now());
            if remove {
                sqlx::query("DELETE FROM cluster_nodes WHERE id = $1")
                    .bind(node.id.as_str())
                    .execute(&mut *conn)
                    .await?;
            } else {
                sqlx::query(
                    "UPDATE cluster_nodes SET status = 'decommissioned', token_hash = NULL,
                        is_primary = $2, is_coordinator = $2, updated_at = $3, status_changed_at = $3
                     WHERE id = $1",
                )
                .bind(node.id.as_str())
                .bind(false)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            insert_event(&mut *conn, &$crate::events::node_retired(node, remove, actor)).await?;
            Ok(())
        }

        /// Retires a cluster; refused while nodes are not decommissioned or
        /// tenants are hosted, unless `force` (which decommissions the nodes
        /// and moves the tenants off).
        async fn decommission_in(
            conn: &mut d::Conn,
            cluster: &muster_domain::Cluster,
            force: bool,
            actor: &str,
        ) -> Result<muster_domain::Cluster, $crate::StoreError> {
            let id = cluster.id.as_str();
            let usage = usage_of(&mut *conn, id).await?;
            if !force && (usage.nodes > 0 || usage.tenants > 0) {
                let mut e = muster_domain::FieldErrors::new();
                if usage.nodes > 0 {
                    e.add("force", format!(
                        "{} node(s) are not decommissioned; decommission them first or pass force",
                        usage.nodes
                    ));
                }
                if usage.tenants > 0 {
                    e.add("tenants", format!(
                        "the cluster hosts {} tenant(s); move them first or pass force",
                        usage.tenants
                    ));
                }
                return Err($crate::StoreError::Rejected(e));
            }
            let now = d::time($crate::now());
            sqlx::query(
                "UPDATE cluster_nodes SET status = 'decommissioned', is_primary = $2,
                    is_coordinator = $2, token_hash = NULL, updated_at = $3, status_changed_at = $3
                 WHERE cluster_id = $1 AND status <> 'decommissioned'",
            )
            .bind(id)
            .bind(false)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM cluster_tenants WHERE cluster_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            let row = sqlx::query(
                "UPDATE clusters SET status = 'decommissioned', decommissioned_at = $2,
                    primary_node_id = NULL, coordinator_node_id = NULL, health_score = 0,
                    updated_at = $2
                 WHERE id = $1 RETURNING *",
            )
            .bind(id)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
            let after = cluster_from_row(&row)?;
            let event = $crate::events::cluster_decommissioned(&after, &usage, force, actor);
            insert_event(&mut *conn, &event).await?;
            $crate::changes::note_access();
            Ok(after)
        }

        fn refuse(field: &str, message: impl Into<String>) -> $crate::StoreError {
            $crate::StoreError::Rejected(muster_domain::FieldErrors::single(field, message))
        }

        /// What carrying out an operation did.
        struct Applied {
            result: String,
            output: serde_json::Value,
            /// Agent-side: queued with this term, until this time.
            queued: Option<(u64, chrono::DateTime<chrono::Utc>)>,
        }

        impl Applied {
            fn done(result: String, output: serde_json::Value) -> Self {
                Self { result, output, queued: None }
            }
        }

        /// Carries out a node operation; the cluster is locked.
        #[allow(clippy::too_many_lines)]
        async fn apply_to_node(
            conn: &mut d::Conn,
            run: &$crate::OperationRun,
            cluster: &muster_domain::Cluster,
            members: &[muster_domain::coordination::Member],
            node: &muster_domain::Node,
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<Applied, $crate::StoreError> {
            use muster_domain::NodeStatus;
            use muster_domain::operations::OperationName as Op;
            let actor = run.actor.as_str();
            let name = node.name.as_str();
            let reason = run.params.get("reason").and_then(serde_json::Value::as_str);
            if node.status == NodeStatus::Decommissioned && run.operation != Op::RemoveNode {
                return Err(refuse("node_id", format!("{name} is decommissioned")));
            }
            let interval = cluster.config.health_check_interval_s;
            Ok(match run.operation {
                Op::Cordon | Op::Uncordon => {
                    let cordon = run.operation == Op::Cordon;
                    let draining = node.status == NodeStatus::Draining;
                    if node.cordoned == cordon && (cordon || !draining) {
                        return Err(refuse("node_id", format!(
                            "{name} is {}cordoned already", if cordon { "" } else { "not " }
                        )));
                    }
                    sqlx::query("UPDATE cluster_nodes SET cordoned = $2, updated_at = $3 WHERE id = $1")
                        .bind(node.id.as_str())
                        .bind(cordon)
                        .bind(d::time(now))
                        .execute(&mut *conn)
                        .await?;
                    let mut result = format!("{name} {}", if cordon { "is cordoned" } else { "is uncordoned" });
                    if !cordon && draining {
                        let after = return_to_service(&mut *conn, node, interval, actor, "drain ended (uncordoned)").await?;
                        result = format!("{name} is uncordoned and no longer draining ({})", after.status);
                    }
                    Applied::done(result, serde_json::json!({"cordoned": cordon}))
                }
                Op::Drain => {
                    if matches!(node.status, NodeStatus::Draining | NodeStatus::Maintenance) {
                        return Err(refuse("node_id", format!("{name} is {} already", node.status)));
                    }
                    set_node_status(&mut *conn, node, NodeStatus::Draining, actor, reason).await?;
                    Applied::done(format!("{name} is draining"), serde_json::json!({"previous_status": node.status}))
                }
                Op::MaintenanceOn => {
                    if node.status == NodeStatus::Maintenance {
                        return Err(refuse("node_id", format!("{name} is in maintenance already")));
                    }
                    let until = run
                        .params
                        .get("expires_at")
                        .and_then(serde_json::Value::as_str)
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.with_timezone(&chrono::Utc));
                    sqlx::query(
                        "UPDATE cluster_nodes SET maintenance_reason = $2, maintenance_until = $3 WHERE id = $1",
                    )
                    .bind(node.id.as_str())
                    .bind(reason)
                    .bind(until.map(d::time))
                    .execute(&mut *conn)
                    .await?;
                    set_node_status(&mut *conn, node, NodeStatus::Maintenance, actor, reason).await?;
                    let result = match until {
                        Some(t) => format!("{name} is in maintenance until {}", t.to_rfc3339()),
                        None => format!("{name} is in maintenance until it is ended"),
                    };
                    Applied::done(result, serde_json::json!({"previous_status": node.status, "expires_at": until}))
                }
                Op::MaintenanceOff => {
                    if node.status != NodeStatus::Maintenance {
                        return Err(refuse("node_id", format!("{name} is not in maintenance")));
                    }
                    let after = end_maintenance(&mut *conn, node, interval, actor, "maintenance ended by request").await?;
                    Applied::done(
                        format!("{name} is out of maintenance ({})", after.status),
                        serde_json::json!({"status": after.status}),
                    )
                }
                Op::PromotePrimary => {
                    let after = promote_in(&mut *conn, cluster, members, node, true, actor).await?;
                    Applied::done(
                        format!("{name} is the primary (term {})", after.term),
                        serde_json::json!({"primary": after.primary_node_id, "coordinator": after.coordinator_node_id, "term": after.term}),
                    )
                }
                Op::SetCoordinator => {
                    let current = cluster.leadership();
                    let change = muster_domain::coordination::appoint_coordinator(members, &current, cluster.term, &node.id, true)
                        .map_err(|e| refuse("node_id", e.to_string()))?;
                    let after = set_leadership(&mut *conn, cluster, &change).await?;
                    insert_event(&mut *conn, &$crate::events::coordinator_appointed(&after, node, &current, &change, run.force, actor)).await?;
                    Applied::done(
                        format!("{name} is the coordinator (term {})", after.term),
                        serde_json::json!({"primary": after.primary_node_id, "coordinator": after.coordinator_node_id, "term": after.term}),
                    )
                }
                Op::DecommissionNode | Op::RemoveNode => {
                    let remove = run.operation == Op::RemoveNode;
                    retire_in(&mut *conn, node, remove, actor).await?;
                    Applied::done(
                        format!("{name} is {}", if remove { "removed from the inventory" } else { "decommissioned" }),
                        serde_json::json!({"was_primary": node.is_primary, "was_coordinator": node.is_coordinator}),
                    )
                }
                Op::RotateNodeToken => {
                    let hash = run.new_token_hash.as_deref().ok_or_else(|| {
                        $crate::StoreError::corrupt("token_hash", "rotate_node_token without a new token")
                    })?;
                    sqlx::query("UPDATE cluster_nodes SET token_hash = $2, updated_at = $3 WHERE id = $1")
                        .bind(node.id.as_str())
                        .bind(hash)
                        .bind(d::time(now))
                        .execute(&mut *conn)
                        .await?;
                    insert_event(&mut *conn, &$crate::events::node_token_rotated(node, actor)).await?;
                    Applied::done(
                        format!("{name} has a new node token; the old one no longer works"),
                        serde_json::json!({}),
                    )
                }
                Op::CollectNow | Op::SignalProcess => Applied {
                    result: format!("waiting for {name}'s agent to pick it up"),
                    output: serde_json::json!({}),
                    queued: Some((cluster.term, now + muster_domain::operations::agent_timeout(interval))),
                },
                Op::ApplyTemplate | Op::DecommissionCluster => {
                    return Err(refuse("operation", format!("{} acts on a cluster", run.operation)));
                }
            })
        }

        /// Carries out a cluster operation; the cluster is locked.
        async fn apply_to_cluster(
            conn: &mut d::Conn,
            run: &$crate::OperationRun,
            cluster: &muster_domain::Cluster,
        ) -> Result<Applied, $crate::StoreError> {
            use muster_domain::operations::OperationName as Op;
            let actor = run.actor.as_str();
            match run.operation {
                Op::DecommissionCluster => {
                    decommission_in(&mut *conn, cluster, run.force, actor).await?;
                    Ok(Applied::done(format!("{} is decommissioned", cluster.name), serde_json::json!({})))
                }
                Op::ApplyTemplate => {
                    let name = run.params.get("template").and_then(serde_json::Value::as_str).unwrap_or_default();
                    let row = sqlx::query("SELECT * FROM cluster_config_templates WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&mut *conn)
                        .await?
                        .ok_or_else(|| $crate::StoreError::Invalid(muster_domain::FieldErrors::single(
                            "params.template",
                            format!("params.template: there is no template named {name}"),
                        )))?;
                    let template = template_from_row(&row)?;
                    if template.environment != cluster.environment {
                        return Err($crate::StoreError::Invalid(muster_domain::FieldErrors::single(
                            "params.template",
                            format!(
                                "params.template: {name} is a {} template and {} is a {} cluster",
                                template.environment, cluster.name, cluster.environment
                            ),
                        )));
                    }
                    let usage = usage_of(&mut *conn, cluster.id.as_str()).await?;
                    template.limits.check_usage(&usage).map_err($crate::StoreError::Rejected)?;
                    let row = sqlx::query(
                        "UPDATE clusters SET max_nodes = $2, max_tenants = $3, max_storage_gb = $4,
                            config = $5, template_name = $6, updated_at = $7
                         WHERE id = $1 RETURNING *",
                    )
                    .bind(cluster.id.as_str())
                    .bind(i64::from(template.limits.max_nodes))
                    .bind(i64::from(template.limits.max_tenants))
                    .bind($crate::shared::big(template.limits.max_storage_gb))
                    .bind(d::json(&template.settings))
                    .bind(template.name.as_str())
                    .bind(d::time($crate::now()))
                    .fetch_one(&mut *conn)
                    .await?;
                    let after = cluster_from_row(&row)?;
                    insert_event(&mut *conn, &$crate::events::cluster_updated(cluster, &after, actor)).await?;
                    Ok(Applied::done(
                        format!("{} now follows template {name}", cluster.name),
                        serde_json::json!({"template": name, "max_nodes": after.max_nodes,
                            "max_tenants": after.max_tenants, "max_storage_gb": after.max_storage_gb}),
                    ))
                }
                other => Err(refuse("operation", format!("{other} acts on a node"))),
            }
        }

        /// The agent-side operations a heartbeat batch marked delivered
        /// (the rows of [`deliver_pending`](crate::shared::batch::deliver_pending)),
        /// by node, oldest first, for the nodes' answers.
        fn delivered_from_rows(
            rows: &[d::Row],
        ) -> Result<std::collections::HashMap<String, Vec<muster_domain::protocol::PendingOperation>>, $crate::StoreError> {
            use sqlx::Row as _;
            let mut out: std::collections::HashMap<String, Vec<muster_domain::protocol::PendingOperation>> =
                std::collections::HashMap::new();
            let mut found = Vec::with_capacity(rows.len());
            for row in rows {
                found.push((row.try_get::<i64, _>("id")?, row));
            }
            // Oldest first, as they were queued.
            found.sort_by_key(|(id, _)| *id);
            for (id, row) in found {
                let term: Option<i64> = row.try_get("term")?;
                out.entry(row.try_get::<String, _>("node_id")?)
                    .or_default()
                    .push(muster_domain::protocol::PendingOperation {
                        id: id.to_string(),
                        operation: parse("operation", row.try_get::<&str, _>("operation")?)?,
                        params: d::get_json(row, "params")?,
                        force: row.try_get("forced")?,
                        term: term.map_or(Ok(0), |t| int("term", t))?,
                    });
            }
            Ok(out)
        }

        /// Times out agent-side operations past their expiry; how many.
        async fn expire_operations(
            conn: &mut d::Conn,
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<u64, $crate::StoreError> {
            let rows = sqlx::query(
                "SELECT * FROM operations
                 WHERE status IN ('pending', 'delivered') AND expires_at < $1 ORDER BY id",
            )
            .bind(d::time(now))
            .fetch_all(&mut *conn)
            .await?;
            let mut count = 0;
            for row in &rows {
                let op = operation_from_row(row)?;
                let result = if op.status == muster_domain::operations::OperationStatus::Pending {
                    "timed out: the node never picked it up (it sent no heartbeat in time)"
                } else {
                    "timed out: delivered, but the agent never reported a result"
                };
                let row = sqlx::query(
                    "UPDATE operations SET status = 'timed_out', result = $2, finished_at = $3, duration_ms = $4
                     WHERE id = $1 RETURNING *",
                )
                .bind(op.id)
                .bind(result)
                .bind(d::time(now))
                .bind((now - op.created_at).num_milliseconds())
                .fetch_one(&mut *conn)
                .await?;
                let after = operation_from_row(&row)?;
                insert_event(&mut *conn, &$crate::events::operation_event(&after, Some(&op))).await?;
                count += 1;
            }
            Ok(count)
        }

        /// Rows of `id` and `cluster_id` (nodes), grouped by cluster in id order.
        fn nodes_by_cluster(
            rows: &[d::Row],
        ) -> Result<std::collections::BTreeMap<String, Vec<String>>, $crate::StoreError> {
            use sqlx::Row as _;
            let mut by_cluster: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
            for r in rows {
                by_cluster.entry(r.try_get("cluster_id")?).or_default().push(r.try_get("id")?);
            }
            Ok(by_cluster)
        }

        /// Ends maintenance windows past their expiry; how many.
        async fn expire_maintenance(
            conn: &mut d::Conn,
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<u64, $crate::StoreError> {
            let rows = sqlx::query(
                "SELECT id, cluster_id FROM cluster_nodes
                 WHERE status = 'maintenance' AND maintenance_until IS NOT NULL AND maintenance_until <= $1
                 ORDER BY cluster_id, id",
            )
            .bind(d::time(now))
            .fetch_all(&mut *conn)
            .await?;
            let mut count = 0;
            for (cluster_id, ids) in nodes_by_cluster(&rows)? {
                let (cluster, maintenance, ever_online) = lock_cluster(&mut *conn, &cluster_id).await?;
                for id in ids {
                    let node = node_by_id(&mut *conn, &id).await?;
                    end_maintenance(&mut *conn, &node, cluster.config.health_check_interval_s, "system", "the maintenance window expired").await?;
                    count += 1;
                }
                reconcile_cluster(&mut *conn, &cluster, maintenance, ever_online, "system").await?;
            }
            Ok(count)
        }
    };
}

macro_rules! operation_methods {
    () => {
        // One transaction's steps in order: judge, answer a dry run, limit,
        // guard, act, record.
        #[allow(clippy::too_many_lines)]
        fn run_operation<'a>(
            &'a self,
            run: &'a $crate::OperationRun,
        ) -> $crate::StoreFuture<'a, $crate::OperationOutcome> {
            $crate::changes::recorded(&self.feed, async move {
                use muster_domain::operations::{
                    GuardContext, OperationStatus, OperationSubject, assess,
                };
                let now = $crate::now();
                let mut tx = begin_write(&self.writer).await?;
                let node = match &run.subject {
                    OperationSubject::Node(id) => Some(node_by_id(&mut tx, id.as_str()).await?),
                    OperationSubject::Cluster(_) => None,
                };
                let cluster_id = match (&run.subject, &node) {
                    (_, Some(n)) => n.cluster_id.to_string(),
                    (OperationSubject::Cluster(c), None) => c.to_string(),
                    (OperationSubject::Node(_), None) => {
                        return Err($crate::StoreError::NotFound("node"));
                    }
                };
                let (cluster, maintenance, ever_online) =
                    lock_cluster(&mut tx, &cluster_id).await?;
                if cluster.status == muster_domain::ClusterStatus::Decommissioned {
                    return Err(decommissioned());
                }
                let nodes = nodes_of(&mut tx, &cluster_id).await?;
                let members: Vec<_> = nodes
                    .iter()
                    .map(muster_domain::cluster_state::member)
                    .collect();
                let leadership = cluster.leadership();
                let hosted_tenants = usage_of(&mut tx, &cluster_id).await?.tenants;
                let impact = assess(
                    run.operation,
                    node.as_ref().map(|n| &n.id),
                    &GuardContext {
                        members: &members,
                        leadership: &leadership,
                        auto_failover: cluster.config.auto_failover,
                        hosted_tenants,
                    },
                );
                if run.dry_run {
                    return Ok($crate::OperationOutcome::Planned(impact));
                }
                let class = run.operation.spec().rate_class;
                let (runs, oldest) = recent_runs(&mut tx, &run.actor_id, class, now).await?;
                if runs >= class.per_minute() {
                    let free_at = oldest.unwrap_or(now) + chrono::Duration::minutes(1);
                    let wait_ms = u64::try_from((free_at - now).num_milliseconds())
                        .unwrap_or(0)
                        .max(1);
                    return Ok($crate::OperationOutcome::RateLimited {
                        retry_after_s: wait_ms.div_ceil(1000),
                    });
                }
                if impact.needs_force() && !run.force {
                    return Ok($crate::OperationOutcome::Guarded(impact));
                }
                let applied = match &node {
                    Some(n) => apply_to_node(&mut tx, run, &cluster, &members, n, now).await,
                    None => apply_to_cluster(&mut tx, run, &cluster).await,
                };
                let applied = match applied {
                    Ok(a) => a,
                    // Bad parameters (an unknown template) are the request's
                    // fault, answered 422 and not kept; a refusal by the
                    // cluster as it stands is a run that failed.
                    Err(e @ $crate::StoreError::Rejected(_)) => {
                        drop(tx);
                        // The refusal is part of the history too.
                        let mut tx = begin_write(&self.writer).await?;
                        let message = e.to_string();
                        insert_operation(
                            &mut tx,
                            &NewRun {
                                run,
                                cluster_id: &cluster_id,
                                status: OperationStatus::Failed,
                                result: &message,
                                output: &serde_json::json!({}),
                                term: None,
                                expires_at: None,
                                created_at: now,
                            },
                        )
                        .await?;
                        commit(tx).await?;
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                };
                let acts_on_nodes = node.is_some()
                    && applied.queued.is_none()
                    && run.operation != muster_domain::operations::OperationName::PromotePrimary;
                if acts_on_nodes
                    || run.operation == muster_domain::operations::OperationName::ApplyTemplate
                {
                    let (current, _, _) = lock_cluster(&mut tx, &cluster_id).await?;
                    reconcile_cluster(&mut tx, &current, maintenance, ever_online, &run.actor)
                        .await?;
                }
                let record = insert_operation(
                    &mut tx,
                    &NewRun {
                        run,
                        cluster_id: &cluster_id,
                        status: if applied.queued.is_some() {
                            OperationStatus::Pending
                        } else {
                            OperationStatus::Succeeded
                        },
                        result: &applied.result,
                        output: &applied.output,
                        term: applied.queued.map(|(t, _)| t),
                        expires_at: applied.queued.map(|(_, e)| e),
                        created_at: now,
                    },
                )
                .await?;
                commit(tx).await?;
                Ok($crate::OperationOutcome::Done {
                    record: Box::new(record),
                    impact,
                })
            })
        }

        fn list_operations_in<'a>(
            &'a self,
            q: &'a muster_domain::operations::OperationQuery,
            scope: $crate::Scope<'a>,
        ) -> $crate::StoreFuture<'a, $crate::Page<muster_domain::operations::OperationRecord>> {
            Box::pin(async move {
                let before = $crate::query::before_id(q.cursor.as_deref(), "operations")?;
                let limit = $crate::page_size(Some(q.limit));
                let sql = format!(
                    "SELECT * FROM operations
                     WHERE (CAST($1 AS TEXT) IS NULL OR cluster_id = $1)
                       AND (CAST($2 AS TEXT) IS NULL OR node_id = $2)
                       AND (CAST($3 AS TEXT) IS NULL OR operation = $3)
                       AND (CAST($4 AS TEXT) IS NULL OR status = $4)
                       AND (CAST($5 AS TEXT) IS NULL OR actor = $5)
                       AND ($6 IS NULL OR created_at >= $6)
                       AND ($7 IS NULL OR created_at < $7)
                       AND ($8 IS NULL OR id < $8){}
                     ORDER BY id DESC LIMIT $9",
                    scope.clause("cluster_id", 10)
                );
                let mut query = sqlx::query(&sql)
                    .bind(q.cluster_id.as_ref().map(muster_domain::ClusterId::as_str))
                    .bind(q.node_id.as_ref().map(muster_domain::NodeId::as_str))
                    .bind(q.operation.map(|o| o.as_str()))
                    .bind(q.status.map(|s| s.as_str()))
                    .bind(q.actor.as_deref())
                    .bind(q.since.map(d::time))
                    .bind(q.until.map(d::time))
                    .bind(before)
                    .bind(i64::from(limit) + 1);
                for t in scope.tenant_ids() {
                    query = query.bind(t.as_str());
                }
                let mut tx = begin_read(&self.pool, scope).await?;
                let rows = query.fetch_all(&mut *tx).await?;
                let mut items = rows
                    .iter()
                    .map(operation_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                let next_cursor = if items.len() > limit as usize {
                    items.truncate(limit as usize);
                    items
                        .last()
                        .map(|o| $crate::query::after_id("operations", o.id))
                } else {
                    None
                };
                Ok($crate::Page { items, next_cursor })
            })
        }

        fn report_operation<'a>(
            &'a self,
            node_id: &'a muster_domain::NodeId,
            id: i64,
            report: &'a muster_domain::operations::OperationReport,
        ) -> $crate::StoreFuture<'a, muster_domain::operations::OperationRecord> {
            $crate::changes::recorded(&self.feed, async move {
                report.validate().map_err($crate::StoreError::Invalid)?;
                let now = $crate::now();
                let mut tx = begin_write(&self.writer).await?;
                let row = sqlx::query(&format!(
                    "SELECT * FROM operations WHERE id = $1 AND node_id = $2{}",
                    d::FOR_UPDATE
                ))
                .bind(id)
                .bind(node_id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or($crate::StoreError::NotFound("operation"))?;
                let before = operation_from_row(&row)?;
                if before.status.is_finished() {
                    return Err(refuse(
                        "status",
                        format!("operation {id} has already finished ({})", before.status),
                    ));
                }
                let status = if report.ok {
                    muster_domain::operations::OperationStatus::Succeeded
                } else {
                    muster_domain::operations::OperationStatus::Failed
                };
                let row = sqlx::query(
                    "UPDATE operations SET status = $2, result = $3, output = $4, finished_at = $5,
                        duration_ms = $6, delivered_at = COALESCE(delivered_at, $5)
                     WHERE id = $1 RETURNING *",
                )
                .bind(id)
                .bind(status.as_str())
                .bind(report.message.as_str())
                .bind(d::json(&report.output))
                .bind(d::time(now))
                .bind((now - before.created_at).num_milliseconds())
                .fetch_one(&mut *tx)
                .await?;
                let after = operation_from_row(&row)?;
                insert_event(
                    &mut tx,
                    &$crate::events::operation_event(&after, Some(&before)),
                )
                .await?;
                commit(tx).await?;
                Ok(after)
            })
        }
    };
}
