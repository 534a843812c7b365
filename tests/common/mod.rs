//! What the HTTP-level tests share: a real server on a random port.

use std::sync::Arc;

use muster_store::Store;

/// Serves the whole application (REST, server functions, pages) over `store`
/// on a random loopback port; returns `http://127.0.0.1:PORT`.
pub async fn serve(store: Arc<dyn Store>) -> String {
    let options = leptos::config::LeptosOptions::builder()
        .output_name("muster")
        .build();
    let app = muster::server::router(muster::server::AppState::new(store, options));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app).await.expect("serve");
    });
    format!("http://{addr}")
}
