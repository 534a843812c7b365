//! The process list: the top processes each node last reported, across a
//! cluster or for one node, filtered, ordered and paged.

use leptos::prelude::*;
use muster_domain::processes::{ProcessQuery, ProcessRow};
use muster_domain::query::Page;

use super::AppError;

#[cfg(feature = "ssr")]
pub use server::processes;

#[server(prefix = "/fn", endpoint = "list_processes", input = super::codec::Json, output = super::codec::Json)]
pub async fn list_processes(query: ProcessQuery) -> Result<Page<ProcessRow>, AppError> {
    let state = crate::server::AppState::from_context()?;
    let caller = crate::server::auth::caller::Caller::from_context().await?;
    processes(state.store.as_ref(), &caller, &query).await
}

#[cfg(feature = "ssr")]
mod server {
    use muster_domain::FieldErrors;
    use muster_domain::processes::{ProcessQuery, ProcessRow, SCOPE_REQUIRED, process_page};
    use muster_domain::query::Page;
    use muster_store::{ProcessesOf, Store};

    use crate::api::{AppError, ErrorCode};
    use crate::server::auth::caller::Caller;

    /// The page of processes `query` asks for, of a cluster or node the
    /// caller may see.
    ///
    /// # Errors
    /// 400 without a cluster or node or with a foreign cursor, 404 for what
    /// the caller may not see.
    pub async fn processes(
        store: &dyn Store,
        caller: &Caller,
        query: &ProcessQuery,
    ) -> Result<Page<ProcessRow>, AppError> {
        let bad = |fields| AppError::with_fields(ErrorCode::BadRequest, fields);
        query.validate().map_err(bad)?;
        let reports = match (&query.node_id, &query.cluster_id) {
            (Some(node), cluster) => {
                let node = caller.see_node(store, node).await?;
                if cluster.as_ref().is_some_and(|c| c != &node.cluster_id) {
                    return Ok(Page {
                        items: Vec::new(),
                        next_cursor: None,
                    });
                }
                store.node_processes(ProcessesOf::Node(&node.id)).await?
            }
            (None, Some(cluster)) => {
                caller.see_cluster(store, cluster).await?;
                store.node_processes(ProcessesOf::Cluster(cluster)).await?
            }
            (None, None) => {
                return Err(bad(FieldErrors::single("cluster_id", SCOPE_REQUIRED)));
            }
        };
        process_page(reports, query).map_err(bad)
    }
}
