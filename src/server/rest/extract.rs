//! Request parsing that answers bad input with a 4xx naming the field: JSON
//! bodies, ids in paths, and query strings (unknown parameters are refused).

use std::collections::BTreeMap;
use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use muster_domain::{ClusterId, FieldErrors, NodeId};
use serde::de::DeserializeOwned;

use crate::api::{AppError, ErrorCode};

/// Largest JSON body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A JSON body. Wrong content type, bad syntax and oversized bodies are 400 /
/// 413; a well-formed body of the wrong shape is 422 naming the field.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !is_json {
            return Err(AppError::with_fields(
                ErrorCode::BadRequest,
                FieldErrors::single(
                    "body",
                    "the body must be JSON sent with Content-Type: application/json",
                ),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the body is larger than {} KiB", MAX_BODY_BYTES / 1024),
                )
            } else {
                AppError::new(ErrorCode::BadRequest, "the body could not be read")
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as `T`, naming the field that is wrong.
///
/// # Errors
/// 400 for malformed JSON, 422 for a body of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Most bodies are right: read them without tracking where the reader is
    // (the tracking keeps every key it passes, a heartbeat's hundred and
    // more), and read again with it only to name what is wrong.
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return Err(AppError::with_fields(
                    ErrorCode::BadRequest,
                    FieldErrors::single("body", format!("the body is not valid JSON: {inner}")),
                ));
            }
            let message = inner.to_string();
            let field = field_of(&path, &message);
            let text = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            Err(AppError::with_fields(
                ErrorCode::Invalid,
                FieldErrors::single(field.clone(), format!("{field}: {text}")),
            ))
        }
    }
}

/// The dotted field a serde error is about: the path, plus the field named in
/// "missing field `x`" / "unknown field `x`" messages.
fn field_of(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    // A top-level array where an object belongs is the body's fault, not an
    // element's: serde reads structs from arrays, so the path would be "[0]".
    if path.starts_with('[') {
        return "body".to_owned();
    }
    let base = if path == "." { "" } else { path };
    match (named, message.starts_with("unknown field")) {
        // For an unknown field serde's path already ends at that field.
        (Some(_), true) if !base.is_empty() => base.to_owned(),
        (Some(n), _) if base.is_empty() => n.to_owned(),
        (Some(n), _) => format!("{base}.{n}"),
        (None, _) if base.is_empty() => "body".to_owned(),
        (None, _) => base.to_owned(),
    }
}

fn parse_id<T: FromStr>(raw: &str, field: &str) -> Result<T, AppError>
where
    T::Err: std::fmt::Display,
{
    raw.parse::<T>().map_err(|e| {
        AppError::with_fields(
            ErrorCode::BadRequest,
            FieldErrors::single(field, format!("{field}: {e}")),
        )
    })
}

/// The single path parameter, which must be a cluster id.
pub struct ClusterPath(pub ClusterId);
/// The single path parameter, which must be a node id.
pub struct NodePath(pub NodeId);

async fn path_params(parts: &mut Parts) -> Result<Vec<(String, String)>, AppError> {
    axum::extract::RawPathParams::from_request_parts(parts, &())
        .await
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .map_err(|_| AppError::new(ErrorCode::BadRequest, "the path could not be read"))
}

/// The `id` path parameter parsed as `T`, errors naming `field`.
async fn id_param<T: FromStr>(parts: &mut Parts, field: &str) -> Result<T, AppError>
where
    T::Err: std::fmt::Display,
{
    let params = path_params(parts).await?;
    let raw = params
        .iter()
        .find(|(k, _)| k == "id")
        .map_or("", |(_, v)| v.as_str());
    parse_id(raw, field)
}

impl<S: Send + Sync> FromRequestParts<S> for ClusterPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        id_param(parts, "cluster_id").await.map(ClusterPath)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for NodePath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        id_param(parts, "node_id").await.map(NodePath)
    }
}

/// A query string with known parameter names; anything else is a 400.
pub struct QueryParams(BTreeMap<String, String>);

impl QueryParams {
    /// # Errors
    /// 400 naming a parameter that is not in `allowed` or is repeated.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self, AppError> {
        let mut map = BTreeMap::new();
        let mut errors = FieldErrors::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                let shown: String = k.chars().take(40).collect();
                errors.add(
                    shown.clone(),
                    format!(
                        "{shown} is not a parameter here (known: {})",
                        allowed.join(", ")
                    ),
                );
            } else if v.chars().any(char::is_control) {
                errors.add(
                    k.to_string(),
                    format!("{k} must not contain control characters"),
                );
            } else if map.insert(k.to_string(), v.to_string()).is_some() {
                errors.add(k.to_string(), format!("{k} is given more than once"));
            }
        }
        errors
            .into_result()
            .map(|()| Self(map))
            .map_err(|e| AppError::with_fields(ErrorCode::BadRequest, e))
    }

    /// The parameter parsed as `T`; absent or empty is `None`.
    ///
    /// # Errors
    /// 400 naming the parameter when it does not parse.
    pub fn get<T: FromStr>(&self, name: &str) -> Result<Option<T>, AppError>
    where
        T::Err: std::fmt::Display,
    {
        match self.0.get(name).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(raw) => raw.parse::<T>().map(Some).map_err(|e| {
                AppError::with_fields(
                    ErrorCode::BadRequest,
                    FieldErrors::single(name, format!("{name}: {e}")),
                )
            }),
        }
    }

    #[must_use]
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        max_nodes: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        limits: Inner,
    }

    fn field(body: &str) -> (ErrorCode, Vec<String>) {
        let e = parse_json::<Body>(body.as_bytes()).expect_err("bad body");
        (e.error, e.fields.keys().cloned().collect())
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field(r#"{"name": 5, "limits": {"max_nodes": 1}}"#),
            (ErrorCode::Invalid, vec!["name".into()])
        );
        assert_eq!(
            field(r#"{"name": "x", "limits": {"max_nodes": -1}}"#),
            (ErrorCode::Invalid, vec!["limits.max_nodes".into()])
        );
        assert_eq!(
            field(r#"{"name": "x", "limits": {}}"#),
            (ErrorCode::Invalid, vec!["limits.max_nodes".into()])
        );
        assert_eq!(
            field(r#"{"limits": {"max_nodes": 1}}"#),
            (ErrorCode::Invalid, vec!["name".into()])
        );
        assert_eq!(
            field(r#"{"name": "x", "limits": {"max_nodes": 1}, "nmae": 1}"#),
            (ErrorCode::Invalid, vec!["nmae".into()])
        );
        assert_eq!(
            field(r#"{"name": "x", "limits": {"max_nodes": 1, "extra": 2}}"#),
            (ErrorCode::Invalid, vec!["limits.extra".into()])
        );
        assert_eq!(
            field(r#"{"name": "x""#),
            (ErrorCode::BadRequest, vec!["body".into()])
        );
        assert_eq!(field("[1,2]"), (ErrorCode::Invalid, vec!["body".into()]));
        assert_eq!(
            field(r#"{"name": "x", "limits": {"max_nodes": 1e400}}"#).0,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn query_parameters_are_checked() {
        let q =
            QueryParams::parse(Some("limit=5&status=active"), &["limit", "status"]).expect("ok");
        assert_eq!(q.get::<u32>("limit").expect("limit"), Some(5));
        assert!(q.get::<u32>("status").is_err());
        let e = QueryParams::parse(Some("limt=5"), &["limit"])
            .err()
            .expect("unknown");
        assert!(e.fields.contains_key("limt"));
        assert!(QueryParams::parse(Some("limit=1&limit=2"), &["limit"]).is_err());
    }
}
