//! The simulator against a real server: a scenario fails the primary, and the
//! server goes through what DESIGN.md promises, on time: the node becomes
//! unreachable two intervals and 5 s after its last heartbeat, a new primary
//! takes over at once with the term one higher, and the node is offline five
//! intervals after its last heartbeat.

// Each scenario reads top to bottom as one story; splitting it would scatter it.
#![allow(clippy::too_many_lines)]

use muster_agent::sim::{Enrolment, Fleet, FleetOptions, scenario};
use muster_domain::NodeStatus;
use muster_domain::liveness::{offline_after, unreachable_after};
use muster_store::EventQuery;
use muster_store::testing::SqliteDb;

mod common;
use common::{eventually, fast_cluster, free_addr, start_server};

/// The heartbeat interval of `fast_cluster`'s clusters.
const INTERVAL_S: u32 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_fails_the_primary_and_the_cluster_fails_over_on_time() {
    let db = SqliteDb::new();
    let store = db.connect().await;
    let (cluster, secret) = fast_cluster(store.as_ref(), "Simulated").await;
    let addr = free_addr();
    let server = start_server(store.clone(), addr).await;
    let fleet = Fleet::start(
        FleetOptions {
            server: format!("http://{addr}"),
            seed: 7,
            state_dir: None,
            max_in_flight: 16,
        },
        vec![Enrolment {
            join_token: secret,
            cluster_name: Some("Simulated".into()),
            names: (1..=4).map(|i| format!("sim-{i}")).collect(),
            max_disk_gb: Some(2500.0),
        }],
    )
    .await
    .expect("the fleet registers");
    let s = store.as_ref();

    // The fleet comes online and learns who leads from the heartbeat answers.
    eventually(30, "four simulated nodes online with a primary", || async {
        let nodes = s.list_nodes(&cluster.id).await.unwrap_or_default();
        nodes.len() == 4
            && nodes.iter().all(|n| n.status == NodeStatus::Online)
            && fleet.nodes().iter().any(|n| n.is_primary)
    })
    .await;
    let before = s.get_cluster(&cluster.id).await.expect("cluster");
    let primary = before.primary_node_id.clone().expect("a primary");
    for n in s.list_nodes(&cluster.id).await.expect("nodes") {
        let cpu = s
            .metric_history(
                &n.id,
                "cpu_usage_percent",
                muster_store::now() - chrono::Duration::minutes(5),
                muster_store::now() + chrono::Duration::minutes(1),
                muster_domain::metrics::MetricStep::Raw,
            )
            .await
            .expect("samples");
        assert!(!cpu.is_empty(), "{} reported figures", n.name);
    }

    // The scenario: fail the primary, now.
    let steps = scenario::parse("0s fail primary").expect("scenario");
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let said = std::sync::Mutex::new(Vec::new());
    scenario::play(&fleet, &steps, stop, |line| {
        said.lock().expect("log").push(line);
    })
    .await;
    let victim = fleet
        .nodes()
        .into_iter()
        .find(|n| n.faults == ["fail"])
        .expect("one node failed");
    assert_eq!(
        victim.node_id, primary,
        "the scenario failed the primary: {said:?}"
    );

    // Unreachable, a new primary with the next term, then offline.
    eventually(60, "the failed primary offline", || async {
        s.get_node(&primary)
            .await
            .is_ok_and(|n| n.status == NodeStatus::Offline)
    })
    .await;
    let node = s.get_node(&primary).await.expect("node");
    let last = node.last_heartbeat_at.expect("it reported before failing");
    let events = s
        .list_events(&EventQuery {
            cluster_id: Some(cluster.id.clone()),
            since: Some(last),
            limit: 100,
            ..EventQuery::default()
        })
        .await
        .expect("events")
        .items;
    let at = |kind: &str, text: &str| {
        events
            .iter()
            .filter(|e| e.event_type == kind && e.message.contains(text))
            .map(|e| e.created_at)
            .min()
            .unwrap_or_else(|| panic!("no {kind} event saying {text:?}: {events:#?}"))
    };
    let unreachable = at("node_status_changed", "unreachable");
    let promoted = at("node_promotion", "unreachable");
    let offline = at("node_status_changed", "offline");
    // The sweeper runs every second; allow it two rounds.
    let within = |what: &str, when: chrono::DateTime<chrono::Utc>, due: chrono::Duration| {
        let late = when - (last + due);
        assert!(
            late >= chrono::Duration::zero() && late <= chrono::Duration::seconds(2),
            "{what} {} ms after it was due",
            late.num_milliseconds()
        );
    };
    within("unreachable", unreachable, unreachable_after(INTERVAL_S));
    within("the promotion", promoted, unreachable_after(INTERVAL_S));
    within("offline", offline, offline_after(INTERVAL_S));
    assert!(unreachable <= promoted && promoted < offline);
    let after = s.get_cluster(&cluster.id).await.expect("cluster");
    assert_eq!(after.term, before.term + 1, "the failover bumped the term");
    let new_primary = after.primary_node_id.expect("a new primary");
    assert_ne!(new_primary, primary);

    // The simulated fleet hears of its new primary in the next answers.
    eventually(15, "the fleet knows the new primary", || async {
        fleet
            .nodes()
            .iter()
            .any(|n| n.is_primary && n.node_id == new_primary)
    })
    .await;
    // The silent old primary still believes it leads; `primary` means the
    // one the server named last.
    let again = fleet
        .apply(&"fail primary".parse().expect("command"))
        .expect("a primary");
    let new_name = fleet
        .nodes()
        .into_iter()
        .find(|n| n.node_id == new_primary)
        .map(|n| n.name)
        .expect("the new primary is simulated");
    assert_eq!(again, [new_name]);
    fleet
        .apply(&"heal all".parse().expect("command"))
        .expect("healed");
    fleet.stop(true).await;
    eventually(10, "the stopped fleet offline", || async {
        s.list_nodes(&cluster.id)
            .await
            .is_ok_and(|nodes| nodes.iter().all(|n| n.status == NodeStatus::Offline))
    })
    .await;
    server.stop().await;
}

/// Demo mode creates its three clusters from the templates once, and a
/// restart reuses its nodes and its join tokens instead of piling them up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_builds_its_clusters_once_and_takes_faults() {
    let db = SqliteDb::new();
    let store = db.connect().await;
    let addr = free_addr();
    let server = start_server(store.clone(), addr).await;
    let state = std::env::temp_dir().join(format!("muster-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let s = store.as_ref();

    let demo = muster::server::demo::Demo::start(s, format!("http://{addr}"), state.clone())
        .await
        .expect("demo starts");
    let environments: Vec<&str> = demo
        .clusters
        .iter()
        .map(|c| c.environment.as_str())
        .collect();
    assert_eq!(environments, ["production", "staging", "development"]);
    eventually(30, "13 demo nodes online", || async {
        let mut online = 0;
        for c in &demo.clusters {
            online += s
                .list_nodes(&c.id)
                .await
                .unwrap_or_default()
                .iter()
                .filter(|n| n.status == NodeStatus::Online)
                .count();
        }
        online == 13
    })
    .await;
    let production = demo.clusters[0].clone();
    let touched = demo
        .apply(&"degrade prod-2 cpu=98".parse().expect("command"))
        .expect("applied");
    assert_eq!(touched, ["prod-2"]);
    assert!(
        demo.apply(&"fail ghost-9".parse().expect("command"))
            .is_err()
    );
    eventually(20, "prod-2 critical", || async {
        s.list_nodes(&production.id).await.is_ok_and(|nodes| {
            nodes.iter().any(|n| {
                n.name == "prod-2" && n.health_status == muster_domain::HealthStatus::Critical
            })
        })
    })
    .await;
    demo.stop().await;

    // Restart: the same clusters, the same 13 nodes, one join token each.
    let again = muster::server::demo::Demo::start(s, format!("http://{addr}"), state.clone())
        .await
        .expect("demo restarts");
    assert_eq!(again.clusters, demo.clusters);
    for c in &again.clusters {
        let nodes = s.list_nodes(&c.id).await.expect("nodes");
        let expected = match c.environment {
            muster_domain::Environment::Production => 6,
            muster_domain::Environment::Staging => 4,
            muster_domain::Environment::Development => 3,
        };
        assert_eq!(nodes.len(), expected, "{} keeps its nodes", c.name);
        let tokens = s.list_join_tokens(&c.id).await.expect("tokens");
        assert_eq!(tokens.len(), 1, "{} keeps one join token", c.name);
    }
    again.stop().await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&state);
}

/// `muster-agent simulate` itself: it registers its nodes with a join token,
/// plays its scenario, reports `offline` for every node on SIGTERM, and a
/// second run reuses the saved nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulate_command_runs_a_scenario_and_stops_cleanly() {
    let db = SqliteDb::new();
    let store = db.connect().await;
    let (cluster, secret) = fast_cluster(store.as_ref(), "Command").await;
    let addr = free_addr();
    let server = start_server(store.clone(), addr).await;
    let scratch = std::env::temp_dir().join(format!("muster-simulate-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch");
    let scenario = scratch.join("hot.txt");
    std::fs::write(
        &scenario,
        "# one node runs hot\n0s degrade hot-00001 cpu=98\n",
    )
    .expect("scenario");
    let run = || {
        let mut child = std::process::Command::new(common::agent_binary());
        child
            .args([
                "simulate",
                "--server",
                &format!("http://{addr}"),
                "--nodes",
                "3",
            ])
            .args([
                "--join-token",
                &secret,
                "--name-prefix",
                "hot",
                "--seed",
                "11",
            ])
            .args(["--report-every", "5s", "--scenario"])
            .arg(&scenario)
            .arg("--state-dir")
            .arg(scratch.join("state"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        common::ChildGuard(child.spawn().expect("start the simulator"))
    };
    let s = store.as_ref();
    let mut first = run();
    eventually(
        30,
        "three simulated nodes online, hot-00001 critical",
        || async {
            s.list_nodes(&cluster.id).await.is_ok_and(|nodes| {
                nodes.len() == 3
                    && nodes.iter().all(|n| n.status == NodeStatus::Online)
                    && nodes.iter().any(|n| {
                        n.name == "hot-00001"
                            && n.health_status == muster_domain::HealthStatus::Critical
                    })
            })
        },
    )
    .await;
    first.terminate().await;
    let nodes = s.list_nodes(&cluster.id).await.expect("nodes");
    assert!(
        nodes.iter().all(|n| n.status == NodeStatus::Offline),
        "a stopped simulator reports offline: {:?}",
        nodes
            .iter()
            .map(|n| (&n.name, n.status))
            .collect::<Vec<_>>()
    );

    let mut second = run();
    eventually(30, "the same three nodes online again", || async {
        s.list_nodes(&cluster.id).await.is_ok_and(|nodes| {
            nodes.len() == 3 && nodes.iter().all(|n| n.status == NodeStatus::Online)
        })
    })
    .await;
    second.terminate().await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
}
