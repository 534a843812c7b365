//! Pages are for signed-in users: a signed-out visitor asking for a page is
//! sent to `/login`, with where they were going kept in `next`.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use super::auth::sessions::MaybeUser;

/// Paths anyone may fetch: the sign-in page, the APIs (which answer 401 on
/// their own), the site's assets and the probes.
fn is_public(path: &str) -> bool {
    path == "/login"
        || path == "/healthz"
        || path == "/readyz"
        || path == "/favicon.svg"
        || ["/api/", "/fn/", "/pkg/"]
            .iter()
            .any(|p| path.starts_with(p))
}

pub async fn require_sign_in(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET || is_public(req.uri().path()) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    match MaybeUser::from_request_parts(&mut parts, &state).await {
        Ok(MaybeUser(Some(_))) => next.run(Request::from_parts(parts, body)).await,
        Ok(MaybeUser(None)) => {
            let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let next: String = form_urlencoded::byte_serialize(target.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next}")).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn only_the_sign_in_page_assets_apis_and_probes_are_public() {
        for p in [
            "/login",
            "/healthz",
            "/readyz",
            "/pkg/muster.wasm",
            "/api/v1/clusters",
            "/fn/sign_in",
            "/favicon.svg",
        ] {
            assert!(is_public(p), "{p}");
        }
        for p in ["/", "/clusters", "/events", "/login/x", "/apiv1"] {
            assert!(!is_public(p), "{p}");
        }
    }
}
