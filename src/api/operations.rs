//! Operations: run any catalog operation (checked, guarded, rate-limited,
//! audited) and read the operations history. The REST routes call the same
//! functions as the server functions here.

use leptos::prelude::*;
use muster_domain::operations::{Impact, OperationQuery, OperationRecord, OperationRequest};
use muster_domain::query::Page;
use serde::{Deserialize, Serialize};

use super::AppError;

#[cfg(feature = "ssr")]
pub use server::{history, run, run_plain};

/// The answer to an operation request that was not refused.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationAnswer {
    /// Whether this was only a dry run (nothing was done).
    pub dry_run: bool,
    /// What the operation does (or would do) to the cluster.
    pub impact: Impact,
    /// The run as the history keeps it; absent for a dry run. Agent-side
    /// operations are `pending` until their agent reports.
    pub operation: Option<OperationRecord>,
    /// `rotate_node_token`: the new node token, shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_token: Option<String>,
}

#[server(prefix = "/fn", endpoint = "run_operation", input = super::codec::Json, output = super::codec::Json)]
pub async fn run_operation(request: OperationRequest) -> Result<OperationAnswer, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    run(&state, &caller, request).await
}

#[server(prefix = "/fn", endpoint = "list_operations", input = super::codec::Json, output = super::codec::Json)]
pub async fn list_operations(query: OperationQuery) -> Result<Page<OperationRecord>, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    history(state.store.as_ref(), &caller, &query).await
}

#[cfg(feature = "ssr")]
mod server {
    use muster_domain::operations::{
        OperationName, OperationQuery, OperationRecord, OperationRequest, OperationSubject,
        validate_params,
    };
    use muster_domain::query::Page;
    use muster_store::{OperationOutcome, OperationRun, Store};

    use super::OperationAnswer;
    use crate::api::{AppError, ErrorCode};
    use crate::server::AppState;
    use crate::server::auth::caller::Caller;
    use crate::server::tokens::{hash_token, new_token};

    /// Runs one operation for `caller`: 403 below the operation's role, 404
    /// for what they may not see, 422 for a bad subject or parameters, 429
    /// over the rate limit, 409 with the impact while a guard objects and
    /// `force` is not set.
    ///
    /// # Errors
    /// As above, and what the store refuses (409 with the field).
    pub async fn run(
        state: &AppState,
        caller: &Caller,
        request: OperationRequest,
    ) -> Result<OperationAnswer, AppError> {
        let op = request.operation;
        let spec = op.spec();
        caller.require(spec.min_role).map_err(|_| {
            AppError::new(
                ErrorCode::Forbidden,
                format!(
                    "{op} needs the {} role; you are {}",
                    spec.min_role, caller.user.role
                ),
            )
        })?;
        let subject = request.subject().map_err(AppError::invalid)?;
        let store = state.store.as_ref();
        match &subject {
            OperationSubject::Node(id) => {
                caller.see_node(store, id).await?;
            }
            OperationSubject::Cluster(id) => caller.see_cluster(store, id).await?,
        }
        let params =
            validate_params(op, &request.params, muster_store::now()).map_err(AppError::invalid)?;
        let token =
            (op == OperationName::RotateNodeToken && !request.dry_run).then(|| new_token("mnt"));
        let run = OperationRun {
            operation: op,
            subject,
            params,
            force: request.force,
            dry_run: request.dry_run,
            actor: caller.actor(),
            actor_id: caller.user.id.clone(),
            new_token_hash: token.as_deref().map(hash_token),
        };
        match store.run_operation(&run).await? {
            OperationOutcome::Planned(impact) => Ok(OperationAnswer {
                dry_run: true,
                impact,
                operation: None,
                node_token: None,
            }),
            OperationOutcome::Guarded(impact) => {
                let message = format!("{}. Run it with force to go ahead.", impact.summary);
                Err(AppError {
                    impact: Some(Box::new(impact)),
                    ..AppError::with_fields(
                        ErrorCode::Conflict,
                        muster_domain::FieldErrors::single("force", message),
                    )
                })
            }
            OperationOutcome::RateLimited { retry_after_s } => Err(AppError::rate_limited(
                format!(
                    "you may run {} {} operations a minute; try again in {retry_after_s} s",
                    spec.rate_class.per_minute(),
                    spec.rate_class
                ),
                retry_after_s,
            )),
            OperationOutcome::Done { record, impact } => {
                if op == OperationName::RotateNodeToken {
                    state.ingest.forget_node(&record.node_id);
                }
                Ok(OperationAnswer {
                    dry_run: false,
                    impact,
                    operation: Some(*record),
                    node_token: token,
                })
            }
        }
    }

    /// The single-purpose doors (promotion, retirement, decommissioning) run
    /// their operation through [`run`], so the same guards, rate limit and
    /// history apply to them.
    ///
    /// # Errors
    /// As [`run`].
    pub async fn run_plain(
        state: &AppState,
        caller: &Caller,
        operation: OperationName,
        subject: OperationSubject,
        force: bool,
    ) -> Result<OperationAnswer, AppError> {
        let (cluster_id, node_id) = match subject {
            OperationSubject::Node(n) => (None, Some(n)),
            OperationSubject::Cluster(c) => (Some(c), None),
        };
        run(
            state,
            caller,
            OperationRequest {
                operation,
                cluster_id,
                node_id,
                params: serde_json::Map::new(),
                force,
                dry_run: false,
            },
        )
        .await
    }

    /// The history page `query` asks for, among the clusters the caller may see.
    ///
    /// # Errors
    /// 404 for a cluster or node the caller may not see; 422 for a foreign cursor.
    pub async fn history(
        store: &dyn Store,
        caller: &Caller,
        query: &OperationQuery,
    ) -> Result<Page<OperationRecord>, AppError> {
        if let Some(node) = &query.node_id {
            caller.see_node(store, node).await?;
        }
        if let Some(cluster) = &query.cluster_id {
            caller.see_cluster(store, cluster).await?;
        }
        Ok(store.list_operations_in(query, caller.scope()).await?)
    }
}
