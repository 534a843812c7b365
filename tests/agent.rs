//! The real agent binary against a real server: it joins with a join token and
//! reports real host metrics; while the server is down it spools samples and
//! replays them when the server returns (a restart declares no node dead);
//! a graceful stop reports offline; a node that falls silent becomes
//! unreachable, then offline, and its cluster fails over.

// The scenario reads top to bottom as one story; splitting it would scatter it.
#![allow(clippy::too_many_lines)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use muster_domain::metrics::MetricStep;
use muster_domain::{ClusterId, NodeStatus, SettingsPatch};
use muster_store::testing::SqliteDb;
use muster_store::{EventQuery, Store};

mod common;
use common::{
    ChildGuard, agent_binary, cluster_from, eventually, fast_cluster, free_addr, start_server,
};

fn spawn_agent(addr: SocketAddr, join_token: &str, state: &Path, name: &str) -> ChildGuard {
    spawn_agent_with(addr, ["--join-token", join_token], state, name)
}

/// An agent given `credential` (`--join-token T` or `--node-token T`).
fn spawn_agent_with(
    addr: SocketAddr,
    credential: [&str; 2],
    state: &Path,
    name: &str,
) -> ChildGuard {
    ChildGuard(
        Command::new(agent_binary())
            .args(["run", "--server", &format!("http://{addr}")])
            .args(credential)
            .args(["--name", name, "--state-dir"])
            .arg(state)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the agent"),
    )
}

async fn node_named(
    store: &dyn Store,
    cluster: &ClusterId,
    name: &str,
) -> Option<muster_domain::Node> {
    store
        .list_nodes(cluster)
        .await
        .ok()?
        .into_iter()
        .find(|n| n.name == name)
}

async fn cpu_samples(
    store: &dyn Store,
    node: &muster_domain::NodeId,
) -> Vec<muster_domain::MetricPoint> {
    let now = muster_store::now();
    store
        .metric_history(
            node,
            "cpu_usage_percent",
            now - chrono::Duration::hours(1),
            now + chrono::Duration::minutes(1),
            MetricStep::Raw,
        )
        .await
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reports_for_a_node_added_by_hand_with_its_node_token() {
    let db = SqliteDb::new();
    let store = db.connect().await;
    let cluster = cluster_from(
        store.as_ref(),
        "development",
        "By hand",
        SettingsPatch::default(),
    )
    .await;
    let added = muster::api::clusters::add_node(
        store.as_ref(),
        &cluster.id,
        &muster_domain::NewNode {
            name: "manual".into(),
            hostname: String::new(),
            region: String::new(),
            availability_zone: String::new(),
            priority: muster_domain::NewNode::default_priority(),
            roles: Vec::new(),
            capacity_cpu: 4.0,
            capacity_memory_gb: 8.0,
            capacity_storage_gb: 100.0,
            capacity_network_mbps: 0.0,
        },
        "user:admin",
    )
    .await
    .expect("node");
    let addr = free_addr();
    let server = start_server(store.clone(), addr).await;
    let state = std::env::temp_dir().join(format!("muster-agent-manual-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);

    let agent = spawn_agent_with(addr, ["--node-token", &added.node_token], &state, "ignored");
    let s = store.as_ref();
    eventually(20, "the hand-added node online with host facts", || async {
        s.get_node(&added.node.id)
            .await
            .is_ok_and(|n| n.status == NodeStatus::Online && n.system.is_some())
    })
    .await;
    let nodes = s.list_nodes(&cluster.id).await.expect("nodes");
    assert_eq!(nodes.len(), 1, "no second node was registered");
    assert!(!cpu_samples(s, &added.node.id).await.is_empty());

    agent.signal_term();
    eventually(10, "offline after a graceful stop", || async {
        s.get_node(&added.node.id)
            .await
            .is_ok_and(|n| n.status == NodeStatus::Offline)
    })
    .await;
    drop(agent);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agent_joins_reports_spools_and_stops() {
    let db = SqliteDb::new();
    let store = db.connect().await;
    let (cluster, secret) = fast_cluster(store.as_ref(), "Agents").await;
    let addr = free_addr();
    let server = start_server(store.clone(), addr).await;
    let scratch = std::env::temp_dir().join(format!("muster-agent-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);

    // Two agents join; each node goes online with this host's real figures.
    let mut alpha = spawn_agent(addr, &secret, &scratch.join("alpha"), "alpha");
    let mut beta = spawn_agent(addr, &secret, &scratch.join("beta"), "beta");
    let mut gamma = spawn_agent(addr, &secret, &scratch.join("gamma"), "gamma");
    let s = store.as_ref();
    eventually(20, "three nodes online", || async {
        let mut online = 0;
        for name in ["alpha", "beta", "gamma"] {
            if node_named(s, &cluster.id, name)
                .await
                .is_some_and(|n| n.status == NodeStatus::Online)
            {
                online += 1;
            }
        }
        online == 3
    })
    .await;
    let a = node_named(s, &cluster.id, "alpha").await.expect("alpha");
    let system = a.system.clone().expect("host facts");
    assert!(
        system.cpu_cores >= 1 && system.memory_total_gb > 0.0,
        "{system:?}"
    );
    assert!(!system.hostname.is_empty());
    let usage = a.usage.expect("a usage sample");
    assert!((0.0..=100.0).contains(&usage.memory_percent) && usage.memory_percent > 0.0);
    assert!(
        !cpu_samples(s, &a.id).await.is_empty(),
        "real metrics were recorded"
    );

    // The server goes away for longer than the unreachable threshold (15 s):
    // samples pile up in the agents' spools.
    server.stop().await;
    let outage_from = muster_store::now();
    tokio::time::sleep(Duration::from_secs(17)).await;
    let outage_to = muster_store::now();
    let server = start_server(store.clone(), addr).await;
    // The agents replay what they kept; samples taken during the outage land
    // with their own times, and nobody was declared unreachable.
    // Every agent is back in touch before the next step: beta in particular may
    // still be waiting out its retry backoff.
    for name in ["alpha", "beta", "gamma"] {
        let node = node_named(s, &cluster.id, name).await.expect("node");
        eventually(30, &format!("{name}'s spooled samples"), || async {
            cpu_samples(s, &node.id)
                .await
                .iter()
                .filter(|p| p.at > outage_from && p.at < outage_to)
                .count()
                >= 2
        })
        .await;
    }
    let events = store
        .list_events(&EventQuery {
            cluster_id: Some(cluster.id.clone()),
            event_type: Some("node_status_changed".into()),
            limit: 100,
            ..EventQuery::default()
        })
        .await
        .expect("events")
        .items;
    assert!(
        !events.iter().any(|e| e.message.contains("unreachable")),
        "a restart declares no node dead: {events:?}"
    );

    // A graceful stop reports offline at once.
    beta.signal_term();
    let status = tokio::task::spawn_blocking(move || beta.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "the agent stops cleanly: {status}");
    eventually(5, "beta offline", || async {
        node_named(s, &cluster.id, "beta")
            .await
            .is_some_and(|n| n.status == NodeStatus::Offline)
    })
    .await;

    // Alpha leads, then is killed without a word: it becomes unreachable, the
    // cluster fails over to gamma, and alpha goes offline.
    if store
        .get_cluster(&cluster.id)
        .await
        .expect("cluster")
        .primary_node_id
        .as_ref()
        != Some(&a.id)
    {
        store
            .promote_node(&a.id, false, "user:test")
            .await
            .expect("promote alpha");
    }
    let term = store.get_cluster(&cluster.id).await.expect("cluster").term;
    let _ = alpha.kill();
    let _ = alpha.wait();
    // Gamma is a failover candidate only while it is online and not critical;
    // its health comes from this host's real load, so a busy machine can rule
    // it out. Watch it while alpha goes quiet.
    let mut gamma_eligible = true;
    let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
    let mut seen_unreachable = false;
    loop {
        let alpha_now = node_named(s, &cluster.id, "alpha").await.expect("alpha");
        let gamma_now = node_named(s, &cluster.id, "gamma").await.expect("gamma");
        gamma_eligible &= gamma_now.status == NodeStatus::Online
            && gamma_now.health_status != muster_domain::HealthStatus::Critical;
        seen_unreachable |= alpha_now.status == NodeStatus::Unreachable;
        if alpha_now.status == NodeStatus::Offline {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for alpha to go unreachable, then offline (now {:?})",
            alpha_now.status
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(seen_unreachable, "alpha was unreachable before offline");
    let after = store.get_cluster(&cluster.id).await.expect("cluster");
    let g = node_named(s, &cluster.id, "gamma").await.expect("gamma");
    if !gamma_eligible && after.primary_node_id.as_ref() != Some(&g.id) {
        eprintln!("gamma was critical under this host's load: no failover to check");
    } else {
        assert_eq!(
            after.primary_node_id.as_ref(),
            Some(&g.id),
            "failed over to gamma"
        );
        assert!(after.term > term);
        let promotions = store
            .list_events(&EventQuery {
                cluster_id: Some(cluster.id.clone()),
                event_type: Some("node_promotion".into()),
                limit: 100,
                ..EventQuery::default()
            })
            .await
            .expect("events")
            .items;
        assert!(
            promotions
                .iter()
                .any(|e| e.message.contains(g.id.as_str()) && e.message.contains("unreachable")),
            "the failover says why: {promotions:?}"
        );
    }
    gamma.signal_term();
    let _ = tokio::task::spawn_blocking(move || gamma.wait()).await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
}
