//! The signed-in caller of a request: who they are, what their role allows,
//! and which clusters their tenant scope lets them see.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use muster_domain::users::{Role, User};
use muster_domain::{ClusterId, Node, NodeId};
use muster_store::{Scope, Store};

use super::sessions::MaybeUser;
use crate::api::{AppError, ErrorCode};
use crate::server::AppState;

#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
}

impl Caller {
    /// The clusters this caller may see.
    #[must_use]
    pub fn scope(&self) -> Scope<'_> {
        if self.user.is_unscoped() {
            Scope::All
        } else {
            Scope::Tenants(&self.user.tenants)
        }
    }

    /// The event log's name for this caller.
    #[must_use]
    pub fn actor(&self) -> String {
        muster_domain::Actor::User(self.user.username.clone()).to_string()
    }

    /// # Errors
    /// 403 when the caller's role does not include `role`.
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        if self.user.role.allows(role) {
            Ok(())
        } else {
            Err(AppError::new(
                ErrorCode::Forbidden,
                format!("this needs the {role} role; you are {}", self.user.role),
            ))
        }
    }

    /// # Errors
    /// 404 when the cluster does not exist or is outside the caller's scope
    /// (the two are answered alike, so scope hides existence too).
    pub async fn see_cluster(&self, store: &dyn Store, id: &ClusterId) -> Result<(), AppError> {
        if store.cluster_visible(id, self.scope()).await? {
            Ok(())
        } else {
            Err(AppError::new(ErrorCode::NotFound, "cluster not found"))
        }
    }

    /// The node, when the caller may see its cluster.
    ///
    /// # Errors
    /// 404 when the node does not exist or is outside the caller's scope.
    pub async fn see_node(&self, store: &dyn Store, id: &NodeId) -> Result<Node, AppError> {
        let node = store.get_node(id).await?;
        self.see_cluster(store, &node.cluster_id)
            .await
            .map_err(|_| AppError::new(ErrorCode::NotFound, "node not found"))?;
        Ok(node)
    }
}

impl Caller {
    /// The caller of the current server function.
    ///
    /// # Errors
    /// 401 when nobody is signed in.
    pub async fn from_context() -> Result<Self, AppError> {
        let (state, mut parts) = crate::server::request_context()?;
        Self::from_request_parts(&mut parts, &state).await
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = MaybeUser::from_request_parts(parts, state)
            .await?
            .required()?;
        Ok(Self { user })
    }
}
