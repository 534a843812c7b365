//! `/api/v1/tenants` and `/api/v1/templates`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use muster_domain::{ConfigTemplate, Tenant};
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::JsonBody;
use crate::api::AppError;
use crate::api::clusters::ACTOR;
use crate::server::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
}

#[utoipa::path(post, path = "/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, body = Tenant), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub async fn create_tenant(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<CreateTenant>,
) -> Result<(StatusCode, Json<Tenant>), AppError> {
    Tenant::validate_name(&req.name).map_err(AppError::invalid)?;
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_tenant(&req.name, ACTOR).await?),
    ))
}

#[utoipa::path(get, path = "/tenants", tag = "tenants", responses((status = 200, body = Vec<Tenant>)))]
pub async fn list_tenants(State(state): State<AppState>) -> Result<Json<Vec<Tenant>>, AppError> {
    Ok(Json(state.store.list_tenants().await?))
}

#[utoipa::path(get, path = "/templates", tag = "clusters", responses((status = 200, body = Vec<ConfigTemplate>)))]
pub async fn list_templates(
    State(state): State<AppState>,
) -> Result<Json<Vec<ConfigTemplate>>, AppError> {
    Ok(Json(state.store.list_templates().await?))
}
