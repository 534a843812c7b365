//! The live stream over real `WebSocket` connections: a scoped viewer never receives
//! another tenant's messages and loses the stream when her access goes; a
//! client that stops reading is resynced with memory flat; a reconnect starts
//! from a fresh snapshot; two server processes on one PostgreSQL deliver each
//! other's heartbeats.

// Each test reads top to bottom as one scenario.
#![allow(clippy::too_many_lines)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use muster_domain::live::{LiveMessage, ResyncReason, Subscription, close};
use muster_domain::users::Role;
use muster_domain::{Cluster, NewCluster, NewNode, Node, NodeStatus, NodeStatusUpdate};
use muster_store::testing::{PgDb, SqliteDb};
use muster_store::{NewUser, Store, UserUpdate};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

async fn cluster(store: &dyn Store, name: &str) -> Cluster {
    let template = store.get_template("staging").await.expect("template");
    store
        .create_cluster(
            &NewCluster {
                name: name.into(),
                description: "live test".into(),
                region: "eu-west-1".into(),
                environment: template.environment,
                limits: template.limits,
                settings: template.settings,
                template_name: Some(template.name.clone()),
            },
            "user:admin",
        )
        .await
        .expect("cluster")
}

/// A node with a node token, returned beside it.
async fn node(store: &dyn Store, cluster: &Cluster, name: &str) -> (Node, String) {
    let token = muster::server::tokens::new_token("mnt");
    let node = store
        .add_node(
            &cluster.id,
            &NewNode {
                name: name.into(),
                hostname: format!("{name}.example.internal"),
                region: "eu-west-1".into(),
                availability_zone: "eu-west-1a".into(),
                priority: 50,
                roles: vec!["worker".into()],
                capacity_cpu: 2.0,
                capacity_memory_gb: 4.0,
                capacity_storage_gb: 10.0,
                capacity_network_mbps: 1000.0,
            },
            Some(&muster::server::tokens::hash_token(&token)),
            "user:admin",
        )
        .await
        .expect("node");
    (node, token)
}

/// A user with an API token; returns the user's id and `Bearer …`.
async fn user_with_token(
    store: &dyn Store,
    name: &str,
    role: Role,
    tenants: Vec<String>,
) -> (String, String) {
    let user = store
        .create_user(
            &NewUser {
                username: name.into(),
                password_hash: "not used: signs in with a token".into(),
                role,
                tenants,
            },
            "test",
        )
        .await
        .expect("user");
    let token = muster::server::tokens::new_token("mst");
    store
        .create_api_token(
            &user.id,
            "live",
            &muster::server::tokens::hash_token(&token),
        )
        .await
        .expect("token");
    (user.id, format!("Bearer {token}"))
}

fn status(status: NodeStatus) -> NodeStatusUpdate {
    NodeStatusUpdate {
        status,
        health_status: None,
        metrics: None,
    }
}

/// Opens the stream at `query` (`""` for everything) with `auth`.
async fn open(base: &str, auth: &str, query: &str) -> Result<Socket, u16> {
    let url = format!("{}/api/v1/live{query}", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("authorization", auth.parse().expect("header"));
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("connect: {e}"),
    }
}

/// What arrived next: a message (with its text), or the close code.
#[allow(clippy::large_enum_variant)] // a test's values, one at a time
enum Got {
    Message(LiveMessage, String),
    Closed(Option<u16>),
}

async fn next(socket: &mut Socket) -> Got {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("something within the wait");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let message = serde_json::from_str(text.as_str()).expect("a live message");
                return Got::Message(message, text.to_string());
            }
            Some(Ok(Message::Close(frame))) => return Got::Closed(frame.map(|f| f.code.into())),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Got::Closed(None),
        }
    }
}

async fn message(socket: &mut Socket) -> (LiveMessage, String) {
    match next(socket).await {
        Got::Message(m, text) => (m, text),
        Got::Closed(code) => panic!("closed ({code:?}) while a message was expected"),
    }
}

/// Reads until `want` matches, returning every text read on the way.
async fn until(socket: &mut Socket, want: impl Fn(&LiveMessage) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let (m, text) = message(socket).await;
        seen.push(text);
        if want(&m) {
            return seen;
        }
    }
}

async fn closed_with(socket: &mut Socket) -> Option<u16> {
    loop {
        if let Got::Closed(code) = next(socket).await {
            return code;
        }
    }
}

fn resync(m: &LiveMessage) -> Option<(ResyncReason, &muster_domain::live::Snapshot)> {
    match m {
        LiveMessage::Resync {
            reason, snapshot, ..
        } => Some((*reason, snapshot)),
        _ => None,
    }
}

fn node_status_is(node: &Node, s: NodeStatus) -> impl Fn(&LiveMessage) -> bool {
    let id = node.id.clone();
    move |m| matches!(m, LiveMessage::NodeUpdated { node } if node.id == id && node.status == s)
}

async fn scoped_viewer(store: Arc<dyn Store>) {
    let base = common::serve(store.clone()).await;
    let seen = cluster(store.as_ref(), "seen").await;
    let hidden = cluster(store.as_ref(), "hidden").await;
    let (seen_node, _) = node(store.as_ref(), &seen, "s1").await;
    let (hidden_node, _) = node(store.as_ref(), &hidden, "h1").await;
    let tenant = store
        .create_tenant("Scoped Co", "user:admin")
        .await
        .expect("tenant");
    store
        .place_tenant(&seen.id, &tenant.id, "user:admin")
        .await
        .expect("place");
    let (sally, as_sally) = user_with_token(
        store.as_ref(),
        "sally",
        Role::Viewer,
        vec![tenant.id.clone()],
    )
    .await;
    let (_, as_admin) = user_with_token(store.as_ref(), "root", Role::Admin, vec![]).await;

    // Bad requests are refused before the upgrade, the field named.
    assert_eq!(open(&base, "Bearer nope", "").await.err(), Some(401));
    assert_eq!(
        open(&base, &as_sally, "?cluster_id=x").await.err(),
        Some(400)
    );
    assert_eq!(
        open(&base, &as_sally, &format!("?cluster_id={}", hidden.id))
            .await
            .err(),
        Some(404),
        "another tenant's cluster is answered as if it did not exist"
    );
    assert_eq!(
        open(&base, &as_sally, &format!("?node_id={}", hidden_node.id))
            .await
            .err(),
        Some(404)
    );

    let mut everything = open(&base, &as_sally, "").await.expect("open");
    let (first, _) = message(&mut everything).await;
    let (reason, snapshot) = resync(&first).expect("a resync first");
    assert_eq!(reason, ResyncReason::Subscribed);
    let ids: Vec<_> = snapshot.clusters.iter().map(|c| c.id.clone()).collect();
    assert_eq!(
        ids,
        std::slice::from_ref(&seen.id),
        "the snapshot holds only her tenant's cluster"
    );
    let mut one_cluster = open(&base, &as_sally, &format!("?cluster_id={}", seen.id))
        .await
        .expect("open");
    let (first, _) = message(&mut one_cluster).await;
    let (_, snapshot) = resync(&first).expect("resync");
    assert_eq!(snapshot.nodes.len(), 1);
    let mut admin = open(&base, &as_admin, "").await.expect("admin");
    let _ = message(&mut admin).await;

    // The hidden cluster changes first, then hers: she gets hers, and
    // nothing of the hidden one ever came before it.
    store
        .update_node_status(
            &hidden_node.id,
            &status(NodeStatus::Maintenance),
            "user:admin",
        )
        .await
        .expect("hidden change");
    store
        .update_node_status(
            &seen_node.id,
            &status(NodeStatus::Maintenance),
            "user:admin",
        )
        .await
        .expect("seen change");
    let admin_saw = until(
        &mut admin,
        node_status_is(&seen_node, NodeStatus::Maintenance),
    )
    .await;
    assert!(
        admin_saw.iter().any(|t| t.contains(hidden.id.as_str())),
        "the admin sees the hidden cluster's change (so the check below can fail)"
    );
    for socket in [&mut everything, &mut one_cluster] {
        let texts = until(socket, node_status_is(&seen_node, NodeStatus::Maintenance)).await;
        for text in &texts {
            assert!(!text.contains(hidden.id.as_str()), "leaked: {text}");
        }
    }
    let texts = until(&mut one_cluster, |m| {
        matches!(m, LiveMessage::EventCreated { event } if event.node_id.as_ref() == Some(&seen_node.id))
    })
    .await;
    assert!(texts.iter().all(|t| !t.contains(hidden.id.as_str())));

    // Subscribing to the hidden cluster over the open stream is refused.
    everything
        .send(Message::text(
            json!({"type": "subscribe", "scope": "cluster", "cluster_id": hidden.id}).to_string(),
        ))
        .await
        .expect("send");
    until(
        &mut everything,
        |m| matches!(m, LiveMessage::Error { error, .. } if error == "not_found"),
    )
    .await;
    everything
        .send(Message::text("{\"type\":\"nonsense\"}"))
        .await
        .expect("send");
    until(
        &mut everything,
        |m| matches!(m, LiveMessage::Error { error, .. } if error == "bad_request"),
    )
    .await;

    // Her tenant leaves the cluster: the whole-fleet stream starts over
    // without it, the cluster's stream ends.
    store
        .remove_tenant(&seen.id, &tenant.id, "user:admin")
        .await
        .expect("remove tenant");
    let texts = until(
        &mut everything,
        |m| matches!(resync(m), Some((ResyncReason::AccessChanged, s)) if s.clusters.is_empty()),
    )
    .await;
    assert!(!texts.is_empty());
    assert_eq!(
        closed_with(&mut one_cluster).await,
        Some(close::NOT_VISIBLE)
    );
    store
        .update_node_status(&seen_node.id, &status(NodeStatus::Online), "user:admin")
        .await
        .expect("change after revocation");
    until(&mut admin, node_status_is(&seen_node, NodeStatus::Online)).await;

    // Disabled: the stream ends.
    store
        .update_user(
            &sally,
            &UserUpdate {
                disabled: Some(true),
                ..UserUpdate::default()
            },
            "user:admin",
        )
        .await
        .expect("disable");
    let texts = {
        let mut texts = Vec::new();
        let code = loop {
            match next(&mut everything).await {
                Got::Message(_, text) => texts.push(text),
                Got::Closed(code) => break code,
            }
        };
        assert_eq!(code, Some(close::SIGNED_OUT));
        texts
    };
    for text in &texts {
        assert!(
            !text.contains(seen_node.id.as_str()),
            "sent after revocation: {text}"
        );
    }
    assert_eq!(open(&base, &as_sally, "").await.err(), Some(401));
}

#[tokio::test]
async fn a_scoped_viewer_sees_only_her_tenants_on_sqlite() {
    let db = SqliteDb::new();
    scoped_viewer(db.connect().await).await;
}

#[tokio::test]
async fn a_scoped_viewer_sees_only_her_tenants_on_postgres() {
    let Some(db) = PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping");
        return;
    };
    scoped_viewer(db.connect().await).await;
    db.drop().await;
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A client that stops reading while far more than the buffer goes by is
/// sent a `resync` when it reads again (or dropped), and the server's memory
/// does not grow with what it missed.
#[tokio::test]
async fn a_slow_consumer_is_resynced_with_flat_memory() {
    let db = SqliteDb::new();
    let store = db.connect().await;
    let base = common::serve(store.clone()).await;
    let watched = cluster(store.as_ref(), "busy").await;
    let (_, as_admin) = user_with_token(store.as_ref(), "root", Role::Admin, vec![]).await;
    let big = "x".repeat(20_000);
    let write = |count: usize| {
        let store = store.clone();
        let cluster_id = watched.id.clone();
        let big = big.clone();
        async move {
            for i in 0..count {
                store
                    .record_event(&muster_domain::NewEvent {
                        cluster_id: Some(cluster_id.clone()),
                        node_id: None,
                        event_type: "load_test".into(),
                        category: muster_domain::EventCategory::System,
                        severity: muster_domain::Severity::Info,
                        message: format!("{i} {big}"),
                        details: json!({}),
                        actor: "system".into(),
                    })
                    .await
                    .expect("event");
            }
        }
    };
    // First with nobody watching, so that the database's page cache (64 MiB)
    // and the allocator have grown to what this load needs anyway.
    write(4000).await;
    let before = resident_kib();

    // Then 2,000 events of 20 KB, 40 MB of messages (eight times the buffer),
    // to a client that reads nothing.
    let mut slow = open(&base, &as_admin, "").await.expect("open");
    let _ = message(&mut slow).await;
    write(2000).await;
    let grown_mib = resident_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 16,
        "memory grew by {grown_mib} MiB while 40 MB went to a client that did not read"
    );

    let mut events = 0;
    let mut resynced = false;
    let mut dropped = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(2), slow.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                match serde_json::from_str::<LiveMessage>(text.as_str()).expect("message") {
                    LiveMessage::EventCreated { .. } => events += 1,
                    LiveMessage::Resync {
                        reason: ResyncReason::Lagged,
                        ..
                    } => resynced = true,
                    _ => {}
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                dropped = Some(frame.map(|f| u16::from(f.code)));
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => {
                dropped = Some(None);
                break;
            }
            Err(_) => break,
        }
    }
    assert!(
        resynced || dropped.is_some(),
        "the slow client was neither resynced nor dropped ({events} events)"
    );
    assert!(events < 2000, "every message was kept for the slow client");
}

/// A reconnecting client starts from a snapshot holding what changed while
/// it was away.
#[tokio::test]
async fn a_reconnect_resyncs() {
    let db = SqliteDb::new();
    let store = db.connect().await;
    let base = common::serve(store.clone()).await;
    let c = cluster(store.as_ref(), "flappy").await;
    let (n, _) = node(store.as_ref(), &c, "f1").await;
    let (_, as_admin) = user_with_token(store.as_ref(), "root", Role::Admin, vec![]).await;
    let query = format!("?node_id={}", n.id);
    let mut socket = open(&base, &as_admin, &query).await.expect("open");
    let (first, _) = message(&mut socket).await;
    assert_eq!(resync(&first).expect("resync").1.nodes[0].status, n.status);
    socket.close(None).await.expect("close");
    drop(socket);

    store
        .update_node_status(&n.id, &status(NodeStatus::Maintenance), "user:admin")
        .await
        .expect("change while away");
    let mut socket = open(&base, &as_admin, &query).await.expect("reopen");
    let (first, _) = message(&mut socket).await;
    let LiveMessage::Resync {
        reason,
        subscription,
        snapshot,
    } = first
    else {
        panic!("a resync first");
    };
    assert_eq!(reason, ResyncReason::Subscribed);
    assert_eq!(
        subscription,
        Subscription::Node {
            node_id: n.id.clone()
        }
    );
    assert_eq!(snapshot.nodes[0].status, NodeStatus::Maintenance);
    assert_eq!(snapshot.clusters[0].id, c.id);
}

/// A `muster serve` process, killed on drop.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const ADMIN_PASSWORD: &str = "live test admin password";

/// Starts `muster serve` on `database_url` and waits until it is ready.
async fn serve_process(database_url: &str, http: &reqwest::Client) -> (Process, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .current_dir(std::env::temp_dir())
        .env("DATABASE_URL", database_url)
        .env("MUSTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start muster");
    let process = Process(child);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (process, base);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "muster never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two `muster serve` processes on one PostgreSQL database: a client of the
/// second sees a heartbeat the first ingested.
#[tokio::test]
async fn two_server_processes_on_one_postgres_deliver_across() {
    let Some(db) = PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping");
        return;
    };
    let url = match db.url() {
        muster_store::DatabaseUrl::Postgres { url, .. } => url.clone(),
        other @ muster_store::DatabaseUrl::Sqlite { .. } => panic!("not PostgreSQL: {other}"),
    };
    let http = reqwest::Client::new();
    let (a, base_a) = serve_process(&url, &http).await;
    let (b, base_b) = serve_process(&url, &http).await;

    // As the admin, on A: an API token, a cluster and a node.
    let post = |path: String, token: Option<String>, body: serde_json::Value| {
        let mut req = http.post(format!("{base_a}/api/v1{path}")).json(&body);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        async move {
            let res = req.send().await.expect("request");
            let status = res.status();
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            assert!(status.is_success(), "{status}: {body}");
            body
        }
    };
    let login = http
        .post(format!("{base_a}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login");
    assert!(login.status().is_success());
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_owned();
    let token: serde_json::Value = http
        .post(format!("{base_a}/api/v1/tokens"))
        .header("cookie", cookie)
        .json(&json!({"name": "live test"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    let token = token["token"].as_str().expect("token").to_owned();
    let cluster = post(
        "/clusters".into(),
        Some(token.clone()),
        json!({"name": "replicated", "region": "eu-west-1", "template": "staging"}),
    )
    .await;
    let cluster_id = cluster["id"].as_str().expect("cluster id").to_owned();
    let added = post(
        format!("/clusters/{cluster_id}/nodes"),
        Some(token.clone()),
        json!({"name": "r1", "capacity_cpu": 2.0, "capacity_memory_gb": 4.0, "capacity_storage_gb": 10.0}),
    )
    .await;
    let node_id = added["node"]["id"].as_str().expect("node id").to_owned();
    let node_token = added["node_token"].as_str().expect("node token").to_owned();

    let mut on_b = open(
        &base_b,
        &format!("Bearer {token}"),
        &format!("?cluster_id={cluster_id}"),
    )
    .await
    .expect("open on B");
    let _ = message(&mut on_b).await;
    post(
        "/agent/heartbeat".into(),
        Some(node_token),
        json!({
            "protocol_version": 1, "seq": 1, "status": "online",
            "metrics": {"cpu_usage_percent": 42.5, "memory_usage_percent": 40.0, "disk_usage_percent": 50.0,
                "load_average": 0.5, "network_rx_mbps": 1.0, "network_tx_mbps": 0.5, "process_count": 99},
            "system": {"hostname": "r1", "os": "Debian", "kernel": "6.12", "uptime_s": 60,
                "cpu_cores": 2, "memory_total_gb": 4.0, "disk_total_gb": 10.0},
            "processes": []
        }),
    )
    .await;

    let mut sample = false;
    let mut online = false;
    while !(sample && online) {
        match message(&mut on_b).await.0 {
            LiveMessage::MetricsSample { sample: s } if s.node_id.as_str() == node_id => {
                assert!((s.metrics.cpu_usage_percent - 42.5).abs() < f64::EPSILON);
                sample = true;
            }
            LiveMessage::NodeUpdated { node } if node.id.as_str() == node_id => {
                online |= node.status == NodeStatus::Online;
            }
            _ => {}
        }
    }
    drop(on_b);
    drop((a, b));
    db.drop().await;
}
