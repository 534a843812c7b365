//! What the HTTP-level tests share: a real server on a random port (with its
//! liveness sweeper when the test needs one), clusters from templates, waiting.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use muster_domain::SettingsPatch;
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

/// A cluster named `name` from `template`, its settings adjusted by `patch`.
pub async fn cluster_from(
    store: &dyn Store,
    template: &str,
    name: &str,
    patch: SettingsPatch,
) -> muster_domain::Cluster {
    let template = store.get_template(template).await.expect("template");
    store
        .create_cluster(
            &muster_domain::NewCluster {
                name: name.into(),
                description: String::new(),
                region: "local".into(),
                environment: template.environment,
                limits: template.limits,
                settings: patch.apply(template.settings),
                template_name: Some(template.name.clone()),
            },
            "system",
        )
        .await
        .expect("cluster")
}

/// An address on this host that nothing listens on now.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// A server on `addr` with its liveness sweeper, until `stop` is sent.
pub struct Server {
    stop: tokio::sync::watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

pub async fn start_server(store: Arc<dyn Store>, addr: SocketAddr) -> Server {
    let options = leptos::config::LeptosOptions::builder()
        .output_name("muster")
        .build();
    let state = muster::server::AppState::new(store.clone(), options);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let sweeper =
        muster::server::jobs::spawn_liveness_sweeper(store, state.started_at, stopped.clone());
    let app = muster::server::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let mut listener = None;
    for _ in 0..50 {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                listener = Some(l);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let listener = listener.expect("bind");
    let mut until = stopped;
    let done = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = until.changed().await;
            })
            .await;
        let _ = sweeper.await;
    });
    Server { stop, done }
}

impl Server {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.done).await;
    }
}

/// Waits up to `secs` for `check` to hold.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// The agent binary, built by `cargo test --workspace` next to this test's
/// directory.
pub fn agent_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("muster-agent");
    assert!(
        bin.exists(),
        "{} is missing: build it with cargo build -p muster-agent",
        bin.display()
    );
    bin
}

/// A production cluster named `name` whose nodes report every 5 s, and the
/// secret of a join token for it.
pub async fn fast_cluster(store: &dyn Store, name: &str) -> (muster_domain::Cluster, String) {
    let fast = SettingsPatch {
        health_check_interval_s: Some(5),
        ..SettingsPatch::default()
    };
    let cluster = cluster_from(store, "production", name, fast).await;
    let secret = muster::server::tokens::new_token("mjt");
    store
        .create_join_token(
            &cluster.id,
            "test",
            &muster::server::tokens::hash_token(&secret),
            None,
            "system",
        )
        .await
        .expect("join token");
    (cluster, secret)
}

/// A child process (an agent, a simulator) that is killed if the test ends or
/// panics while it runs, so none outlives its test.
pub struct ChildGuard(pub std::process::Child);

impl std::ops::Deref for ChildGuard {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl ChildGuard {
    /// Asks for a graceful stop (SIGTERM) without waiting for it.
    pub fn signal_term(&self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
    }

    /// SIGTERM (a graceful stop), then waits up to 10 s for the exit.
    pub async fn terminate(&mut self) {
        self.signal_term();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "process {} did not stop within 10 s of SIGTERM",
            self.0.id()
        );
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
