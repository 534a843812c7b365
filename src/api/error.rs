//! The one error type every door answers with: REST routes, server functions and
//! the live stream. Serialised as `{"error", "message", "fields"}` (DESIGN.md §3).

use std::collections::BTreeMap;

use super::codec::JsonText;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use muster_domain::FieldErrors;
use serde::{Deserialize, Serialize};

/// Machine-readable error codes; each maps to one HTTP status.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Invalid,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorCode {
    #[must_use]
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::Invalid => 422,
            Self::PayloadTooLarge => 413,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
}

/// The body of every error answer: `{"error", "message", "fields"}`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub error: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// What a guarded operation would do (409 `conflict` from
    /// `POST /operations`): run it again with `force` to go ahead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<Box<muster_domain::operations::Impact>>,
    /// With 429: seconds until a retry can succeed (also `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

impl AppError {
    #[must_use]
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error,
            message: message.into(),
            fields: BTreeMap::new(),
            impact: None,
            retry_after_s: None,
        }
    }

    /// A 422 naming each invalid field.
    #[must_use]
    pub fn invalid(fields: FieldErrors) -> Self {
        Self::with_fields(ErrorCode::Invalid, fields)
    }

    #[must_use]
    pub fn with_fields(error: ErrorCode, fields: FieldErrors) -> Self {
        Self {
            error,
            message: fields.to_string(),
            fields: fields.into_map(),
            impact: None,
            retry_after_s: None,
        }
    }

    /// A 429 saying when to try again (`Retry-After` on REST answers).
    #[must_use]
    pub fn rate_limited(message: impl Into<String>, retry_after_s: u64) -> Self {
        Self {
            retry_after_s: Some(retry_after_s),
            ..Self::new(ErrorCode::RateLimited, message)
        }
    }

    /// What clients see for a fault of ours; the cause is logged, never sent.
    #[must_use]
    pub fn internal() -> Self {
        Self::new(
            ErrorCode::Internal,
            "internal error; the server log has the details",
        )
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonText;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::Deserialization(m) => {
                Self::new(ErrorCode::BadRequest, m)
            }
            ServerFnErrorErr::Request(m) | ServerFnErrorErr::Response(m) => Self::new(
                ErrorCode::Unavailable,
                format!("the server could not be reached: {m}"),
            ),
            ServerFnErrorErr::UnsupportedRequestMethod(m) => Self::new(ErrorCode::BadRequest, m),
            other => Self::new(ErrorCode::Internal, other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
mod server {
    use axum::Json;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use muster_store::StoreError;

    use super::{AppError, ErrorCode};

    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            let status = StatusCode::from_u16(self.error.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let retry_after = self.retry_after_s;
            let mut res = (status, Json(self)).into_response();
            if let Some(s) = retry_after {
                res.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, s.into());
            }
            res
        }
    }

    impl From<StoreError> for AppError {
        fn from(e: StoreError) -> Self {
            match e {
                StoreError::NotFound(what) => {
                    Self::new(ErrorCode::NotFound, format!("{what} not found"))
                }
                StoreError::Conflict(what) => {
                    Self::new(ErrorCode::Conflict, format!("{what} already exists"))
                }
                StoreError::Invalid(fields) => Self::invalid(fields),
                StoreError::Rejected(fields) => Self::with_fields(ErrorCode::Conflict, fields),
                StoreError::Unavailable(reason) => {
                    tracing::warn!(%reason, "database unavailable");
                    Self::new(
                        ErrorCode::Unavailable,
                        "the database is unavailable; try again shortly",
                    )
                }
                other => {
                    tracing::error!(error = %other, "store error");
                    Self::internal()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_the_documented_shape() {
        let e = AppError::invalid(FieldErrors::single(
            "max_nodes",
            "max_nodes must be at least 1",
        ));
        let json = serde_json::to_value(&e).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!({
                "error": "invalid",
                "message": "max_nodes must be at least 1",
                "fields": {"max_nodes": "max_nodes must be at least 1"}
            })
        );
        assert_eq!(e.error.http_status(), 422);
        let plain = serde_json::to_value(AppError::new(ErrorCode::NotFound, "cluster not found"))
            .expect("serialise");
        assert!(plain.get("fields").is_none());
    }
}
