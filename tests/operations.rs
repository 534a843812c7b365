//! Operations over HTTP: every catalog operation run through
//! `POST /api/v1/operations`, each kind of refusal (validation 422, role 403,
//! guards 409 with the impact, rate limit 429 with Retry-After), and every run
//! in the history and the event log — on SQLite and PostgreSQL. Then a real
//! agent: operations delivered in its heartbeat answers and reported on, a
//! stale-term operation refused, and an undelivered one timing out.

// Each test reads top to bottom as one scenario.
#![allow(clippy::too_many_lines)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use muster_domain::users::Role;
use muster_domain::{ClusterId, NodeId, NodeStatus, NodeStatusUpdate, SettingsPatch};
use muster_store::testing::{PgDb, SqliteDb};
use muster_store::{NewUser, Store};
use reqwest::Client;
use serde_json::{Value, json};

use common::{ChildGuard, agent_binary, cluster_from, eventually, fast_cluster, free_addr};

/// A user with an API token; returns the token.
async fn user(store: &dyn Store, name: &str, role: Role) -> String {
    let user = store
        .create_user(
            &NewUser {
                username: name.into(),
                password_hash: "not used".into(),
                role,
                tenants: vec![],
            },
            "system",
        )
        .await
        .expect("user");
    let secret = muster::server::tokens::new_token("mat");
    store
        .create_api_token(
            &user.id,
            "test",
            &muster::server::tokens::hash_token(&secret),
        )
        .await
        .expect("token");
    secret
}

struct Api {
    http: Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value, Option<String>) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let retry = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        (status, body, retry)
    }

    async fn run(&self, token: &str, body: Value) -> (u16, Value) {
        let (status, body, _) = self
            .call(
                token,
                reqwest::Method::POST,
                "/api/v1/operations",
                Some(&body),
            )
            .await;
        (status, body)
    }

    async fn get(&self, token: &str, path: &str) -> Value {
        let (status, body, _) = self.call(token, reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// `count` nodes reporting healthy figures, by id.
async fn online_nodes(store: &dyn Store, cluster: &ClusterId, names: &[&str]) -> Vec<NodeId> {
    let mut out = Vec::new();
    for name in names {
        let node = store
            .add_node(
                cluster,
                &muster_domain::NewNode {
                    name: (*name).into(),
                    hostname: String::new(),
                    region: String::new(),
                    availability_zone: String::new(),
                    priority: 50,
                    roles: vec![],
                    capacity_cpu: 4.0,
                    capacity_memory_gb: 8.0,
                    capacity_storage_gb: 10.0,
                    capacity_network_mbps: 0.0,
                },
                None,
                "system",
            )
            .await
            .expect("node");
        store
            .update_node_status(
                &node.id,
                &NodeStatusUpdate {
                    status: NodeStatus::Online,
                    health_status: None,
                    metrics: Some(BTreeMap::from([
                        ("cpu_usage_percent".into(), 10.0),
                        ("memory_usage_percent".into(), 20.0),
                        ("disk_usage_percent".into(), 30.0),
                    ])),
                },
                "system",
            )
            .await
            .expect("online");
        out.push(node.id);
    }
    out
}

fn field<'a>(body: &'a Value, name: &str) -> &'a str {
    body["fields"][name].as_str().unwrap_or_default()
}

async fn through_the_api(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let admin = user(s, "op-admin", Role::Admin).await;
    let operator = user(s, "op-operator", Role::Operator).await;
    let viewer = user(s, "op-viewer", Role::Viewer).await;
    let hasty = user(s, "op-hasty", Role::Admin).await;
    let cluster = cluster_from(s, "staging", "operated", SettingsPatch::default()).await;
    let n = online_nodes(s, &cluster.id, &["s1", "s2", "s3"]).await;
    let api = Api {
        http: Client::new(),
        base: common::serve(store.clone()).await,
    };
    let primary = s
        .get_cluster(&cluster.id)
        .await
        .expect("cluster")
        .primary_node_id
        .expect("primary");
    assert_eq!(primary, n[0]);

    // Validation: each kind of mistake is named.
    let (status, body) = api
        .run(&operator, json!({"operation": "reboot", "node_id": n[1]}))
        .await;
    assert_eq!(
        (status, field(&body, "operation").is_empty()),
        (422, false),
        "{body}"
    );
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "cordon", "node_id": n[1], "colour": "red"}),
        )
        .await;
    assert_eq!(
        (status, field(&body, "colour").is_empty()),
        (422, false),
        "{body}"
    );
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "cordon", "cluster_id": cluster.id}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        field(&body, "node_id"),
        "node_id is required: cordon acts on a node"
    );
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "cordon", "node_id": "node-nope"}),
        )
        .await;
    assert_eq!(
        (status, field(&body, "node_id").is_empty()),
        (422, false),
        "{body}"
    );
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "cordon", "node_id": n[1], "params": {"reasn": "typo"}}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        field(&body, "params.reasn"),
        "params.reasn is not a parameter of cordon (it takes reason)"
    );
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "maintenance_on", "node_id": n[1]}),
        )
        .await;
    assert_eq!(
        (status, field(&body, "params.reason")),
        (422, "params.reason is required")
    );
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "signal_process", "node_id": n[1], "params": {"pid": "x"}}),
        )
        .await;
    assert_eq!(
        (status, field(&body, "params.pid")),
        (422, "params.pid must be a whole number")
    );
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "maintenance_on", "node_id": n[1],
        "params": {"reason": "r", "expires_at": "2001-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(
        (status, field(&body, "params.expires_at")),
        (422, "params.expires_at must be in the future")
    );
    let (status, body) = api.run(&admin, json!({"operation": "apply_template", "cluster_id": cluster.id, "params": {"template": "nonesuch"}})).await;
    assert_eq!(status, 422, "{body}");
    assert!(field(&body, "params.template").contains("no template named nonesuch"));
    let (status, _, _) = api
        .call(&operator, reqwest::Method::POST, "/api/v1/operations", None)
        .await;
    assert_eq!(status, 400, "no body");

    // Roles and visibility.
    let (status, body) = api
        .run(&viewer, json!({"operation": "cordon", "node_id": n[1]}))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "decommission_node", "node_id": n[2]}),
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("needs the admin role")
    );
    let ghost = NodeId::generate(&cluster.id, 99, &mut rand::rng());
    let (status, _) = api
        .run(&operator, json!({"operation": "cordon", "node_id": ghost}))
        .await;
    assert_eq!(status, 404);

    // A dry run shows the impact and changes nothing; the guard holds until forced.
    let (status, dry) = api
        .run(
            &operator,
            json!({"operation": "drain", "node_id": n[0], "dry_run": true}),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], json!(true));
    assert_eq!(dry["impact"]["guards"], json!(["primary", "coordinator"]));
    assert_eq!(dry["impact"]["leadership_after"]["primary"], json!(n[1]));
    assert!(dry["operation"].is_null());
    let (status, refused) = api
        .run(
            &operator,
            json!({"operation": "drain", "node_id": n[0], "params": {"reason": "patching"}}),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["impact"]["guards"],
        json!(["primary", "coordinator"])
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("with force")
    );
    assert_eq!(
        s.get_node(&n[0]).await.expect("node").status,
        NodeStatus::Online
    );
    let (status, drained) = api.run(&operator, json!({"operation": "drain", "node_id": n[0], "params": {"reason": "patching"}, "force": true})).await;
    assert_eq!(status, 200, "{drained}");
    assert_eq!(drained["operation"]["status"], json!("succeeded"));
    assert_eq!(drained["operation"]["forced"], json!(true));
    let after = s.get_cluster(&cluster.id).await.expect("cluster");
    assert_eq!(after.primary_node_id.as_ref(), Some(&n[1]), "failed over");
    assert_eq!(
        s.get_node(&n[0]).await.expect("node").status,
        NodeStatus::Draining
    );

    // The cluster's refusal: 409 naming the field, kept as a failed run.
    let (status, again) = api
        .run(
            &operator,
            json!({"operation": "drain", "node_id": n[0], "force": true}),
        )
        .await;
    assert_eq!(
        (
            status,
            field(&again, "node_id").contains("draining already")
        ),
        (409, true),
        "{again}"
    );

    // Each node operation.
    let (status, body) = api
        .run(&operator, json!({"operation": "uncordon", "node_id": n[0]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        s.get_node(&n[0]).await.expect("node").status,
        NodeStatus::Online
    );
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "cordon", "node_id": n[2], "params": {"reason": "flaky NIC"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(s.get_node(&n[2]).await.expect("node").cordoned);
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "promote_primary", "node_id": n[2]}),
        )
        .await;
    assert_eq!(
        (status, &body["impact"]["guards"]),
        (409, &json!(["not_candidate"])),
        "{body}"
    );
    let (status, body) = api
        .run(&operator, json!({"operation": "uncordon", "node_id": n[2]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let term = s.get_cluster(&cluster.id).await.expect("cluster").term;
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "promote_primary", "node_id": n[2]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = s.get_cluster(&cluster.id).await.expect("cluster");
    assert_eq!(
        (after.primary_node_id.as_ref(), after.term),
        (Some(&n[2]), term + 1)
    );
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "set_coordinator", "node_id": n[1]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = s.get_cluster(&cluster.id).await.expect("cluster");
    assert_eq!(
        (after.coordinator_node_id.as_ref(), after.term),
        (Some(&n[1]), term + 2)
    );
    let (status, body) = api.run(&operator, json!({"operation": "maintenance_on", "node_id": n[0], "params": {"reason": "RAM swap"}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        s.get_node(&n[0]).await.expect("node").status,
        NodeStatus::Maintenance
    );
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "maintenance_off", "node_id": n[0]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        s.get_node(&n[0]).await.expect("node").status,
        NodeStatus::Online
    );
    let (status, queued) = api
        .run(
            &operator,
            json!({"operation": "collect_now", "node_id": n[0]}),
        )
        .await;
    assert_eq!(
        (status, &queued["operation"]["status"]),
        (202, &json!("pending")),
        "{queued}"
    );
    let (status, queued) = api
        .run(
            &operator,
            json!({"operation": "signal_process", "node_id": n[0], "params": {"pid": 4242}}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(
        queued["operation"]["params"],
        json!({"pid": 4242, "signal": "TERM"}),
        "default filled in"
    );
    let (status, rotated) = api
        .run(
            &admin,
            json!({"operation": "rotate_node_token", "node_id": n[0]}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let token = rotated["node_token"].as_str().expect("the new token, once");
    assert_eq!(
        s.node_for_token(&muster::server::tokens::hash_token(token))
            .await
            .expect("lookup")
            .map(|(id, _)| id),
        Some(n[0].clone())
    );
    let (status, body) = api
        .run(
            &admin,
            json!({"operation": "decommission_node", "node_id": n[0]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        s.get_node(&n[0]).await.expect("node").status,
        NodeStatus::Decommissioned
    );
    let (status, body) = api
        .run(&admin, json!({"operation": "remove_node", "node_id": n[0]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(s.get_node(&n[0]).await.is_err(), "removed");

    // Cluster operations.
    let (status, body) = api.run(&admin, json!({"operation": "apply_template", "cluster_id": cluster.id, "params": {"template": "staging"}})).await;
    assert_eq!(status, 200, "{body}");
    let tenant = s
        .create_tenant("Ops Tenant", "system")
        .await
        .expect("tenant");
    s.place_tenant(&cluster.id, &tenant.id, "system")
        .await
        .expect("place");
    let (status, body) = api
        .run(
            &admin,
            json!({"operation": "decommission_cluster", "cluster_id": cluster.id}),
        )
        .await;
    assert_eq!(
        (status, &body["impact"]["guards"]),
        (409, &json!(["live_nodes", "hosts_tenants"])),
        "{body}"
    );
    let (status, body) = api
        .run(
            &admin,
            json!({"operation": "decommission_cluster", "cluster_id": cluster.id, "force": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        s.get_cluster(&cluster.id).await.expect("cluster").status,
        muster_domain::ClusterStatus::Decommissioned
    );

    // The last online node and the quorum.
    let solo = cluster_from(s, "development", "solo", SettingsPatch::default()).await;
    let only = online_nodes(s, &solo.id, &["only"]).await;
    // (A draining node still runs and counts for the quorum; one in
    // maintenance does not.)
    let (status, body) = api
        .run(
            &operator,
            json!({"operation": "maintenance_on", "node_id": only[0],
            "params": {"reason": "firmware"}, "dry_run": true}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["impact"]["guards"],
        json!(["primary", "coordinator", "last_online_node", "quorum"])
    );

    // Every run is in the history, newest first, with its event.
    let history = api
        .get(
            &viewer,
            &format!("/api/v1/operations?cluster_id={}&limit=100", cluster.id),
        )
        .await;
    let runs = history["items"].as_array().expect("items");
    let names: Vec<&str> = runs
        .iter()
        .rev()
        .map(|r| r["operation"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "drain",
            "drain",
            "uncordon",
            "cordon",
            "uncordon",
            "promote_primary",
            "set_coordinator",
            "maintenance_on",
            "maintenance_off",
            "collect_now",
            "signal_process",
            "rotate_node_token",
            "decommission_node",
            "remove_node",
            "apply_template",
            "decommission_cluster",
        ],
        "dry runs, guarded refusals and bad requests are not runs"
    );
    assert_eq!(
        runs[runs.len() - 2]["status"],
        json!("failed"),
        "the second drain"
    );
    assert!(runs.iter().all(|r| {
        r["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("user:op-"))
    }));
    let events = api
        .get(
            &admin,
            &format!("/api/v1/events?cluster_id={}&limit=500", cluster.id),
        )
        .await;
    let mut with_event: Vec<i64> = events["items"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| {
            e["event_type"]
                .as_str()
                .is_some_and(|t| t.starts_with("operation_"))
        })
        .filter_map(|e| e["details"]["operation_id"].as_i64())
        .collect();
    with_event.sort_unstable();
    let mut ids: Vec<i64> = runs.iter().filter_map(|r| r["id"].as_i64()).collect();
    ids.sort_unstable();
    assert_eq!(with_event, ids, "one event per run");
    let failed = api
        .get(
            &viewer,
            &format!("/api/v1/operations?cluster_id={}&status=failed", cluster.id),
        )
        .await;
    assert_eq!(failed["items"].as_array().map(Vec::len), Some(1));
    let (status, body, _) = api
        .call(
            &viewer,
            reqwest::Method::GET,
            "/api/v1/operations?status=exploded",
            None,
        )
        .await;
    assert_eq!(
        (status, field(&body, "status").is_empty()),
        (400, false),
        "{body}"
    );

    // The rate limit: ten disruptive runs a minute per user, then 429.
    let fresh = cluster_from(s, "staging", "hasty", SettingsPatch::default()).await;
    let nodes = online_nodes(s, &fresh.id, &["h1"]).await;
    for i in 0..10 {
        let (status, body) = api
            .run(
                &hasty,
                json!({"operation": "rotate_node_token", "node_id": nodes[0]}),
            )
            .await;
        assert_eq!(status, 200, "run {i}: {body}");
    }
    let (status, body, retry) = api
        .call(
            &hasty,
            reqwest::Method::POST,
            "/api/v1/operations",
            Some(&json!({"operation": "rotate_node_token", "node_id": nodes[0]})),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    let seconds: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&seconds));
    assert_eq!(body["retry_after_s"], json!(seconds));
    let (status, _) = api
        .run(
            &hasty,
            json!({"operation": "rotate_node_token", "node_id": nodes[0], "dry_run": true}),
        )
        .await;
    assert_eq!(status, 200, "dry runs are not limited");
    let (status, _) = api
        .run(
            &admin,
            json!({"operation": "rotate_node_token", "node_id": nodes[0]}),
        )
        .await;
    assert_eq!(status, 200, "the limit is per user");
}

#[tokio::test]
async fn operations_through_the_api_on_sqlite() {
    let db = SqliteDb::new();
    through_the_api(db.connect().await).await;
}

#[tokio::test]
async fn operations_through_the_api_on_postgres() {
    let Some(db) = PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping");
        return;
    };
    through_the_api(db.connect().await).await;
    db.drop().await;
}

/// The run with this id, as the history shows it.
async fn run_of(api: &Api, token: &str, node: &NodeId, id: i64) -> Value {
    let page = api
        .get(
            token,
            &format!("/api/v1/operations?node_id={node}&limit=100"),
        )
        .await;
    page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|r| r["id"].as_i64() == Some(id)).cloned())
        .unwrap_or(Value::Null)
}

async fn finished(api: &Api, token: &str, node: &NodeId, id: i64, secs: u64) -> Value {
    let mut last = Value::Null;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        last = run_of(api, token, node, id).await;
        if matches!(
            last["status"].as_str(),
            Some("succeeded" | "failed" | "timed_out")
        ) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("operation {id} did not finish within {secs} s: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agent_carries_out_operations() {
    let db = SqliteDb::new();
    let store = db.connect().await;
    let s = store.as_ref();
    let operator = user(s, "agent-operator", Role::Operator).await;
    let (cluster, secret) = fast_cluster(s, "operated-live").await;
    let addr = free_addr();
    let server = common::start_server(store.clone(), addr).await;
    let api = Api {
        http: Client::new(),
        base: format!("http://{addr}"),
    };
    // A node that never reports: what is queued for it times out.
    let silent = s
        .add_node(
            &cluster.id,
            &muster_domain::NewNode {
                name: "silent".into(),
                hostname: String::new(),
                region: String::new(),
                availability_zone: String::new(),
                priority: 10,
                roles: vec![],
                capacity_cpu: 1.0,
                capacity_memory_gb: 1.0,
                capacity_storage_gb: 1.0,
                capacity_network_mbps: 0.0,
            },
            None,
            "system",
        )
        .await
        .expect("silent node");
    let (status, lost) = api
        .run(
            &operator,
            json!({"operation": "collect_now", "node_id": silent.id}),
        )
        .await;
    assert_eq!(status, 202, "{lost}");
    let lost_id = lost["operation"]["id"].as_i64().expect("id");

    let state = std::env::temp_dir().join(format!("muster-agent-ops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let _agent = ChildGuard(
        std::process::Command::new(agent_binary())
            .args([
                "run",
                "--server",
                &format!("http://{addr}"),
                "--join-token",
                &secret,
            ])
            .args(["--name", "worker", "--allow-process-control", "--state-dir"])
            .arg(&state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start the agent"),
    );
    let worker = || async {
        s.list_nodes(&cluster.id)
            .await
            .ok()
            .and_then(|nodes| nodes.into_iter().find(|n| n.name == "worker"))
    };
    eventually(30, "the agent's node online", || async {
        worker()
            .await
            .is_some_and(|n| n.status == NodeStatus::Online)
    })
    .await;
    let node = worker().await.expect("node").id;

    // collect_now: a heartbeat at once, reported with its sequence number.
    let (status, queued) = api
        .run(
            &operator,
            json!({"operation": "collect_now", "node_id": node}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let run = finished(
        &api,
        &operator,
        &node,
        queued["operation"]["id"].as_i64().expect("id"),
        20,
    )
    .await;
    assert_eq!(run["status"], json!("succeeded"), "{run}");
    assert!(run["output"]["seq"].as_u64().is_some(), "{run}");
    assert!(run["delivered_at"].is_string() && run["duration_ms"].as_i64().is_some());

    // signal_process: a process of ours is killed; pid 1 is refused.
    let mut victim = ChildGuard(
        std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .expect("sleep"),
    );
    let (status, queued) = api
        .run(
            &operator,
            json!({"operation": "signal_process", "node_id": node,
            "params": {"pid": victim.0.id(), "signal": "KILL"}}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let run = finished(
        &api,
        &operator,
        &node,
        queued["operation"]["id"].as_i64().expect("id"),
        20,
    )
    .await;
    assert_eq!(run["status"], json!("succeeded"), "{run}");
    let exit = victim.0.wait().expect("wait");
    assert!(!exit.success(), "the process was killed");
    let (_, queued) = api
        .run(
            &operator,
            json!({"operation": "signal_process", "node_id": node, "params": {"pid": 1}}),
        )
        .await;
    let run = finished(
        &api,
        &operator,
        &node,
        queued["operation"]["id"].as_i64().expect("id"),
        20,
    )
    .await;
    assert_eq!(run["status"], json!("failed"), "{run}");
    assert!(
        run["result"]
            .as_str()
            .unwrap_or_default()
            .contains("init process"),
        "{run}"
    );

    // An operation from an older term is refused by the agent: the term
    // moves (a forced promotion of the silent node) before it is delivered.
    // Should a heartbeat slip in between, the operation runs; try again.
    let mut refused = None;
    for _ in 0..5 {
        let (_, queued) = api
            .run(
                &operator,
                json!({"operation": "collect_now", "node_id": node}),
            )
            .await;
        let id = queued["operation"]["id"].as_i64().expect("id");
        let (status, body) = api
            .run(
                &operator,
                json!({"operation": "promote_primary", "node_id": silent.id, "force": true}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let run = finished(&api, &operator, &node, id, 20).await;
        if run["status"] == json!("failed") {
            refused = Some(run);
            break;
        }
    }
    let refused = refused.expect("a stale-term operation refused");
    assert!(
        refused["result"]
            .as_str()
            .unwrap_or_default()
            .starts_with("refused: issued in term"),
        "{refused}"
    );

    // The operation for the silent node timed out, visibly.
    let run = finished(&api, &operator, &silent.id, lost_id, 40).await;
    assert_eq!(run["status"], json!("timed_out"), "{run}");
    assert!(
        run["result"]
            .as_str()
            .unwrap_or_default()
            .contains("never picked it up")
    );
    let events = api
        .get(
            &operator,
            &format!(
                "/api/v1/events?cluster_id={}&type=operation_timed_out",
                cluster.id
            ),
        )
        .await;
    assert_eq!(
        events["items"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&state);
}
