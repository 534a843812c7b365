//! `/api/v1/tenants` and `/api/v1/templates`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use muster_domain::{ConfigTemplate, Tenant};
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::JsonBody;
use crate::api::AppError;
use crate::server::AppState;
use crate::server::auth::caller::Caller;
use muster_domain::users::Role;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
}

#[utoipa::path(post, path = "/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, body = Tenant), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub async fn create_tenant(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateTenant>,
) -> Result<(StatusCode, Json<Tenant>), AppError> {
    caller.require(Role::Admin)?;
    Tenant::validate_name(&req.name).map_err(AppError::invalid)?;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .create_tenant(&req.name, &caller.actor())
                .await?,
        ),
    ))
}

#[utoipa::path(get, path = "/tenants", tag = "tenants", responses((status = 200, body = Vec<Tenant>)))]
pub async fn list_tenants(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Tenant>>, AppError> {
    let mut tenants = state.store.list_tenants().await?;
    if !caller.user.is_unscoped() {
        tenants.retain(|t| caller.user.tenants.contains(&t.id));
    }
    Ok(Json(tenants))
}

#[utoipa::path(get, path = "/templates", tag = "clusters", responses((status = 200, body = Vec<ConfigTemplate>)))]
pub async fn list_templates(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<ConfigTemplate>>, AppError> {
    Ok(Json(state.store.list_templates().await?))
}
