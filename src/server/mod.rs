//! The server: configuration, shared state, HTTP routes and start-up.

pub mod assets;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod fn_status;
pub mod guard;
pub mod health;
pub mod ingest;
pub mod jobs;
pub mod live;
pub mod origin;
// Handlers list their error answers in their OpenAPI `responses`.
#[allow(clippy::missing_errors_doc)]
pub mod rest;
pub mod state;
pub mod tokens;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;

pub use config::{DatabaseArgs, ServeArgs};
pub use state::{AppState, request_context};

use crate::app::{App, shell};

/// Builds the whole HTTP application for `state`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let rest::Routes { api, agents, .. } = rest::router();
    let context_state = state.clone();
    let provide_state = move || provide_context(context_state.clone());
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/live", get(live::socket::live))
        .route("/pkg/{file}", get(assets::serve))
        .nest("/api/v1", api)
        .leptos_routes_with_context(&state, routes, provide_state.clone(), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(provide_state, shell))
        .layer(axum::middleware::from_fn(fn_status::status_from_error))
        .layer(axum::middleware::from_fn(origin::refuse_cross_site))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::require_sign_in,
        ))
        .layer(auth::sessions::layer(
            state.store.clone(),
            state.secure_cookies,
        ))
        .layer(CompressionLayer::new())
        // Agents authenticate with node and join tokens, never a session:
        // their routes, added after the layers, skip the browser's (sessions,
        // sign-in, same-origin, compression), which cost more than parsing a
        // heartbeat.
        .merge(Router::new().nest("/api/v1", agents))
        .with_state(state)
}

/// Opens the database named by `args`, then serves until SIGINT or SIGTERM.
///
/// # Errors
/// A one-line description of what stopped the server from starting.
pub async fn serve(args: ServeArgs) -> Result<(), String> {
    let store = args.db.connect().await?;
    let state = AppState::serving(store.clone(), args.leptos_options(), args.secure_cookies);
    auth::ensure_first_admin(
        store.as_ref(),
        &state.hasher,
        args.admin_password.as_deref(),
    )
    .await?;
    let addr: SocketAddr = args.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!("Muster is listening on http://{local}");
    state.assets.prepare();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let metrics_job = jobs::spawn_metrics_job(store.clone(), stopped.clone());
    let sweeper = jobs::spawn_liveness_sweeper(store.clone(), state.started_at, stopped);
    let live = state.live.clone();
    let demo_slot = state.demo.clone();
    let demo = args.demo.then(|| {
        let store = store.clone();
        let slot = demo_slot.clone();
        let server = own_url(local);
        let dir = args.demo_state.clone();
        tokio::spawn(async move {
            match demo::Demo::start(store.as_ref(), server, dir).await {
                Ok(d) => {
                    let _ = slot.set(d);
                }
                Err(e) => tracing::error!("demo mode could not start: {e}"),
            }
        })
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Pages stream in several writes: without TCP_NODELAY the later ones
    // wait for the client's delayed ACK (measured: about 40 ms a page).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown({
            let demo_slot = demo_slot.clone();
            async move {
                shutdown_signal().await;
                // The simulated fleet stops while the server still answers it.
                if let Some(d) = demo_slot.get() {
                    d.stop().await;
                }
                live.shut_down();
            }
        })
        .await
        .map_err(|e| format!("server error: {e}"));
    if let Some(starting) = demo {
        starting.abort();
    }
    let _ = stop.send(true);
    let _ = metrics_job.await;
    let _ = sweeper.await;
    store.close().await;
    served
}

/// A duration drawn at random between half of `period` and all of it. Timers
/// and cache lifetimes that would otherwise start together (a fleet's
/// tokens resolved as it comes up, browsers reconnecting after a restart)
/// use it so that they come due at an even pace rather than in one moment.
#[must_use]
pub fn in_second_half_of(period: std::time::Duration) -> std::time::Duration {
    period.mul_f64(rand::random_range(0.5..=1.0))
}

/// How this process reaches itself: loopback when it listens everywhere.
fn own_url(local: SocketAddr) -> String {
    let ip = match local.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, local.port()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn draws_are_spread_over_the_second_half_of_the_period() {
        let period = Duration::from_mins(1);
        let draws: Vec<Duration> = (0..1000)
            .map(|_| super::in_second_half_of(period))
            .collect();
        let shortest = draws.iter().min().copied().unwrap_or_default();
        let longest = draws.iter().max().copied().unwrap_or_default();
        assert!(shortest >= period / 2, "{shortest:?}");
        assert!(longest <= period, "{longest:?}");
        // Spread across the range, not bunched at one value.
        assert!(
            longest.saturating_sub(shortest) > period / 3,
            "{shortest:?}..{longest:?}"
        );
    }
}
