//! Server functions answer every error with 500. This layer reads the error
//! (always an `AppError` in JSON) and gives the response the status its code
//! stands for, so bad input through this door is a 4xx like everywhere else.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::api::AppError;

/// Server functions' URL prefix.
pub const PREFIX: &str = "/fn/";
/// Error bodies are small; anything larger is left as it is.
const MAX_ERROR_BYTES: usize = 64 * 1024;

pub async fn status_from_error(req: Request, next: Next) -> Response {
    let is_fn = req.uri().path().starts_with(PREFIX);
    let res = next.run(req).await;
    if !is_fn || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BYTES).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(error.error.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, Body::from(bytes))
}
