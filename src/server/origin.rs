//! Cross-site request refusal: a state-changing request that a browser sent
//! from another site carries an `Origin` that is not this server's; it gets a
//! 403. Requests without `Origin` (scripts, agents, curl) are not browser
//! cross-site requests and pass.

use axum::extract::Request;
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::{AppError, ErrorCode};

fn changes_state(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether `origin` names the host the request was sent to.
pub fn same_origin(headers: &HeaderMap) -> Option<bool> {
    let origin = headers.get(ORIGIN)?.to_str().ok();
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    Some(match (origin, host) {
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host)
        }),
        _ => false,
    })
}

pub async fn refuse_cross_site(req: Request, next: Next) -> Response {
    if changes_state(req.method()) && same_origin(req.headers()) == Some(false) {
        let origin = req
            .headers()
            .get(ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("?")
            .chars()
            .take(100)
            .collect::<String>();
        return AppError::new(
            ErrorCode::Forbidden,
            format!("cross-site request refused: origin {origin} is not this server"),
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HOST, host.parse().expect("host"));
        if let Some(o) = origin {
            h.insert(ORIGIN, o.parse().expect("origin"));
        }
        h
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        assert_eq!(
            same_origin(&headers(None, "muster:3000")),
            None,
            "no Origin: not a browser cross-site request"
        );
        assert_eq!(
            same_origin(&headers(Some("http://muster:3000"), "muster:3000")),
            Some(true)
        );
        assert_eq!(
            same_origin(&headers(Some("https://MUSTER:3000"), "muster:3000")),
            Some(true)
        );
        assert_eq!(
            same_origin(&headers(Some("http://evil.example"), "muster:3000")),
            Some(false)
        );
        assert_eq!(
            same_origin(&headers(Some("http://muster:3001"), "muster:3000")),
            Some(false)
        );
        assert_eq!(
            same_origin(&headers(Some("null"), "muster:3000")),
            Some(false)
        );
        assert!(
            changes_state(&Method::POST)
                && changes_state(&Method::DELETE)
                && !changes_state(&Method::GET)
        );
    }
}
