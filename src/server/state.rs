use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::*;
use muster_store::Store;

use crate::api::{AppError, ErrorCode};

/// Everything a request handler or server function needs, shared: each
/// request's extractors clone it, and a clone is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub leptos_options: LeptosOptions,
    pub hasher: super::auth::passwords::PasswordHasher,
    /// Session cookies carry `Secure` (behind TLS).
    pub secure_cookies: bool,
    /// Heartbeat ingestion (token cache and batch writers).
    pub ingest: super::ingest::Ingest,
    /// When this server started: the liveness grace window counts from here.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Live updates to WebSocket clients.
    pub live: super::live::LiveHub,
    /// The simulated fleet, in demo mode once it has started.
    pub demo: Arc<std::sync::OnceLock<Arc<super::demo::Demo>>>,
    /// The site's WASM, JS and CSS, compressed once.
    pub assets: super::assets::Assets,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    #[must_use]
    pub fn new(store: Arc<dyn Store>, leptos_options: LeptosOptions) -> Self {
        Self::serving(store, leptos_options, false)
    }

    /// The state of a server whose session cookies carry `Secure` when
    /// `secure_cookies` (behind TLS).
    #[must_use]
    pub fn serving(
        store: Arc<dyn Store>,
        leptos_options: LeptosOptions,
        secure_cookies: bool,
    ) -> Self {
        let ingest = super::ingest::Ingest::start(&store);
        let live = super::live::LiveHub::start(&store);
        let assets = super::assets::Assets::new(
            std::path::Path::new(&*leptos_options.site_root).join(&*leptos_options.site_pkg_dir),
        );
        Self(Arc::new(Shared {
            assets,
            live,
            store,
            leptos_options,
            hasher: super::auth::passwords::PasswordHasher::new(),
            secure_cookies,
            ingest,
            started_at: muster_store::now(),
            demo: Arc::default(),
        }))
    }

    /// The state provided to server functions and SSR through Leptos' context.
    ///
    /// # Errors
    /// An internal error if called outside a request (a wiring mistake).
    pub fn from_context() -> Result<Self, AppError> {
        use_context::<Self>().ok_or_else(|| {
            tracing::error!("AppState missing from the Leptos context");
            AppError::new(ErrorCode::Internal, "server state unavailable")
        })
    }
}

/// The state and the request's parts inside a server function, for the
/// extractors (session, caller, client address) that need them.
///
/// # Errors
/// An internal error if called outside a request (a wiring mistake).
pub fn request_context() -> Result<(AppState, axum::http::request::Parts), AppError> {
    let state = AppState::from_context()?;
    let parts = use_context::<axum::http::request::Parts>()
        .ok_or_else(|| AppError::new(ErrorCode::Internal, "request parts missing"))?;
    Ok((state, parts))
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
