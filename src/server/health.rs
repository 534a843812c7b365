//! Liveness and readiness probes for load balancers and orchestrators.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use crate::api::{AppError, ErrorCode};

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers within two seconds.
///
/// # Errors
/// 503 when the database does not answer in time.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let backend = match state.store.backend() {
        muster_store::Backend::Sqlite => "sqlite",
        muster_store::Backend::Postgres => "postgres",
    };
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(json!({"status": "ready", "database": backend}))),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(AppError::new(
                ErrorCode::Unavailable,
                "the database is not answering",
            ))
        }
        Err(_) => Err(AppError::new(
            ErrorCode::Unavailable,
            "the database did not answer within 2 s",
        )),
    }
}
