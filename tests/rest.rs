//! The REST API over real HTTP against a real server, on SQLite and on
//! PostgreSQL: every route's success, its refusals, and a sweep of bad input
//! over every route in the OpenAPI document that must never produce a 500.

// Each scenario reads top to bottom; splitting by line count would scatter it.
#![allow(clippy::too_many_lines)]

mod common;

use std::sync::Arc;

use muster_domain::users::Role;
use muster_store::testing::{PgDb, SqliteDb};
use muster_store::{NewUser, Store};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

struct Api {
    base: String,
    http: Client,
    /// `Authorization` sent by `call` and `raw`: an admin's API token.
    auth: Option<String>,
}

impl Api {
    async fn start(store: Arc<dyn Store>) -> Self {
        Self {
            base: format!("{}/api/v1", common::serve(store).await),
            http: Client::new(),
            auth: None,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(auth) = &self.auth {
            req = req.header("authorization", auth);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body);
        if let Some(auth) = &self.auth {
            req = req.header("authorization", auth);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// A 4xx answer in the documented shape naming `field`.
fn assert_field_error(got: &(StatusCode, Value), status: u16, field: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    assert!(
        got.1["error"].is_string() && got.1["message"].is_string(),
        "{}",
        got.1
    );
    assert!(
        got.1["fields"].get(field).is_some(),
        "field {field} missing in {}",
        got.1
    );
}

async fn clusters_and_nodes(api: &Api) -> (String, Vec<String>) {
    let (s, templates) = api.get("/templates").await;
    assert_eq!(
        (s, templates.as_array().map(Vec::len)),
        (StatusCode::OK, Some(3))
    );

    let (s, cluster) = api
        .post(
            "/clusters",
            json!({"name": "Staging EU", "region": "eu-west-1", "template": "staging",
            "config": {"auto_scaling": true}, "max_nodes": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{cluster}");
    assert_eq!(
        (
            cluster["max_nodes"].as_u64(),
            cluster["config"]["auto_scaling"].as_bool()
        ),
        (Some(3), Some(true))
    );
    assert_eq!(
        cluster["config"]["retention_days"], 14,
        "the rest comes from the template"
    );
    let id = cluster["id"].as_str().expect("id").to_owned();

    // Refusals name the field.
    let dup = api
        .post(
            "/clusters",
            json!({"name": "Staging EU", "region": "x", "template": "staging"}),
        )
        .await;
    assert_eq!(
        (dup.0, dup.1["error"].as_str()),
        (StatusCode::CONFLICT, Some("conflict")),
        "{}",
        dup.1
    );
    for (body, status, field) in [
        (
            json!({"name": "B", "region": "x", "template": "nope"}),
            404,
            "template",
        ),
        (json!({"name": "B", "region": "x"}), 422, "template"),
        (
            json!({"name": "B", "region": "x", "environment": "production", "max_nodes": 0}),
            422,
            "max_nodes",
        ),
        (json!({"name": 7, "region": "x"}), 422, "name"),
        (
            json!({"name": "B", "region": "x", "environment": "prod"}),
            422,
            "environment",
        ),
        (
            json!({"name": "B", "region": "x", "environment": "staging", "colour": 1}),
            422,
            "colour",
        ),
        (
            json!({"name": "B", "region": "x", "environment": "staging", "config": {"retention_days": 0}}),
            422,
            "retention_days",
        ),
        (
            json!({"name": "x".repeat(101), "region": "x", "environment": "staging"}),
            422,
            "name",
        ),
    ] {
        assert_field_error(&api.post("/clusters", body).await, status, field);
    }
    assert_field_error(
        &api.raw(
            Method::POST,
            "/clusters",
            Some("application/json"),
            b"{\"name\":".to_vec(),
        )
        .await,
        400,
        "body",
    );
    assert_field_error(
        &api.raw(
            Method::POST,
            "/clusters",
            Some("text/plain"),
            b"{}".to_vec(),
        )
        .await,
        400,
        "body",
    );
    assert_field_error(
        &api.raw(
            Method::POST,
            "/clusters",
            Some("application/json"),
            br#"{"name":"B","region":"x","environment":"staging","max_nodes":1e400}"#.to_vec(),
        )
        .await,
        400,
        "body",
    );
    let huge = api
        .raw(
            Method::POST,
            "/clusters",
            Some("application/json"),
            vec![b' '; 300 * 1024],
        )
        .await;
    assert_eq!(huge.0, StatusCode::PAYLOAD_TOO_LARGE, "{}", huge.1);

    let (s, page) = api
        .get("/clusters?environment=staging&sort=name&limit=10")
        .await;
    assert_eq!(
        (s, page["items"][0]["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    assert_field_error(
        &api.get("/clusters?enviroment=staging").await,
        400,
        "enviroment",
    );
    assert_field_error(&api.get("/clusters?sort=colour").await, 400, "sort");
    assert_field_error(&api.get("/clusters?limit=-1").await, 400, "limit");
    assert_field_error(&api.get("/clusters?status=busy").await, 400, "status");
    assert_field_error(&api.get("/clusters?cursor=zz").await, 422, "cursor");
    for path in [
        "/clusters?region=%00",
        "/clusters?name=a%00b",
        "/events?type=%00",
    ] {
        let (status, body) = api.get(path).await;
        assert!(status.is_client_error(), "{path} gave {status}: {body}");
    }

    let (s, patched) = api
        .call(
            Method::PATCH,
            &format!("/clusters/{id}"),
            Some(json!({"description": "EU staging"})),
        )
        .await;
    assert_eq!(
        (s, patched["description"].as_str()),
        (StatusCode::OK, Some("EU staging"))
    );
    assert_field_error(
        &api.call(Method::PATCH, &format!("/clusters/{id}"), Some(json!({})))
            .await,
        422,
        "update",
    );

    // Nodes: the token is returned once; limits hold.
    let mut nodes = Vec::new();
    for i in 1..=3 {
        let (s, added) = api
            .post(&format!("/clusters/{id}/nodes"), json!({"name": format!("stg-{i}"), "capacity_cpu": 4.0,
                "capacity_memory_gb": 16.0, "capacity_storage_gb": 100.0, "roles": ["worker"], "priority": 90 - i}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{added}");
        assert!(
            added["node_token"]
                .as_str()
                .is_some_and(|t| t.starts_with("mnt_"))
        );
        assert!(added["node"].get("token_hash").is_none());
        nodes.push(added["node"]["id"].as_str().expect("node id").to_owned());
    }
    let full = api.post(&format!("/clusters/{id}/nodes"), json!({"name": "stg-4", "capacity_cpu": 1.0, "capacity_memory_gb": 1.0, "capacity_storage_gb": 1.0})).await;
    assert_field_error(&full, 409, "max_nodes");
    assert_field_error(&api.post(&format!("/clusters/{id}/nodes"), json!({"name": "n", "capacity_cpu": -1.0, "capacity_memory_gb": 1.0, "capacity_storage_gb": 1.0})).await, 422, "capacity_cpu");
    assert_field_error(&api.get("/clusters/cluster-nope").await, 400, "cluster_id");
    let ghost = "cluster-zzzzzzzz-2020-01-01-00-00-00-zzzzzzzz";
    assert_eq!(
        api.get(&format!("/clusters/{ghost}")).await.0,
        StatusCode::NOT_FOUND
    );
    (id, nodes)
}

async fn status_health_and_coordination(api: &Api, id: &str, nodes: &[String]) {
    for (node, cpu) in nodes.iter().zip([20.0, 50.0, 95.0]) {
        let (s, n) = api
            .post(
                &format!("/nodes/{node}/status"),
                json!({"status": "online", "metrics": {"cpu_usage_percent": cpu,
                "memory_usage_percent": 40.0, "disk_usage_percent": 30.0}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{n}");
    }
    let (_, critical) = api.get(&format!("/nodes/{}", nodes[2])).await;
    assert_eq!(critical["health_status"], "critical");
    assert_field_error(
        &api.post(
            &format!("/nodes/{}/status", nodes[0]),
            json!({"status": "asleep"}),
        )
        .await,
        422,
        "status",
    );
    assert_field_error(
        &api.post(
            &format!("/nodes/{}/status", nodes[0]),
            json!({"status": "online", "metrics": {"CPU!": 1}}),
        )
        .await,
        422,
        "metrics.CPU!",
    );
    assert_field_error(
        &api.post("/nodes/node-bad/status", json!({"status": "online"}))
            .await,
        400,
        "node_id",
    );

    let (s, info) = api.get(&format!("/clusters/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(info["nodes"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        info["cluster"]["primary_node_id"].as_str(),
        Some(nodes[0].as_str())
    );
    let b = &info["health"]["breakdown"];
    assert_eq!(
        (
            b["healthy"].as_u64(),
            b["critical"].as_u64(),
            b["counted"].as_u64()
        ),
        (Some(2), Some(1), Some(3))
    );
    let score = (1.0 + 1.0 + 0.2) / 3.0;
    assert!((info["health"]["health_score"].as_f64().unwrap_or(0.0) - score).abs() < 1e-9);
    assert_eq!(info["health"]["quorum"], "healthy");
    let recs = info["health"]["recommendations"]
        .as_array()
        .expect("recommendations");
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "high_cpu" && r["node_ids"][0] == nodes[2].as_str()),
        "{recs:?}"
    );

    let (s, all) = api.get("/health").await;
    assert_eq!((s, all.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let (s, health) = api.get(&format!("/clusters/{id}/health")).await;
    assert_eq!(
        (s, health["cluster_id"].as_str()),
        (StatusCode::OK, Some(id))
    );

    let (s, plan) = api.get(&format!("/clusters/{id}/failover-plan")).await;
    assert_eq!(s, StatusCode::OK);
    let order: Vec<&str> = plan["plan"]["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter_map(|c| c["node_id"].as_str())
        .collect();
    assert_eq!(
        order,
        [nodes[0].as_str(), nodes[1].as_str(), nodes[2].as_str()],
        "critical last"
    );
    assert_eq!(plan["what_if"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        plan["what_if"][0]["leadership_after"]["primary"].as_str(),
        Some(nodes[1].as_str())
    );

    // Promotion: a candidate needs no force; the term moves on.
    let term = plan["term"].as_u64().expect("term");
    let (s, c) = api
        .post(&format!("/nodes/{}/promote", nodes[1]), json!({}))
        .await;
    assert_eq!(
        (s, c["primary_node_id"].as_str(), c["term"].as_u64()),
        (StatusCode::OK, Some(nodes[1].as_str()), Some(term + 1))
    );
    let off = api
        .post(
            &format!("/nodes/{}/status", nodes[0]),
            json!({"status": "offline"}),
        )
        .await;
    assert_eq!(off.0, StatusCode::OK);
    assert_field_error(
        &api.post(&format!("/nodes/{}/promote", nodes[0]), json!({}))
            .await,
        409,
        "force",
    );
    assert_eq!(
        api.post(
            &format!("/nodes/{}/promote", nodes[0]),
            json!({"force": true})
        )
        .await
        .0,
        StatusCode::OK
    );

    // Metrics in and out.
    let (s, rec) = api
        .post(
            &format!("/clusters/{id}/metrics"),
            json!({"node_id": nodes[1], "metrics": {"cpu_usage_percent": 33.0, "queue_depth": 4}}),
        )
        .await;
    assert_eq!(
        (s, rec["recorded"].as_u64()),
        (StatusCode::CREATED, Some(2))
    );
    let (s, points) = api
        .get(&format!(
            "/nodes/{}/metrics?name=cpu_usage_percent&step=raw",
            nodes[1]
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let values: Vec<f64> = points
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["avg"].as_f64())
        .collect();
    assert_eq!(values, [50.0, 33.0]);
    assert_field_error(
        &api.get(&format!("/nodes/{}/metrics", nodes[1])).await,
        400,
        "name",
    );
    assert_field_error(
        &api.get(&format!(
            "/nodes/{}/metrics?name=cpu&since=yesterday",
            nodes[1]
        ))
        .await,
        400,
        "since",
    );
    assert_field_error(
        &api.post(
            &format!("/clusters/{id}/metrics"),
            json!({"node_id": nodes[1], "metrics": {}}),
        )
        .await,
        422,
        "metrics",
    );

    // The cluster's history combines every node's samples per minute.
    let mut raw = Vec::new();
    for node in nodes {
        let (s, points) = api
            .get(&format!(
                "/nodes/{node}/metrics?name=cpu_usage_percent&step=raw"
            ))
            .await;
        assert_eq!(s, StatusCode::OK);
        raw.extend(
            points
                .as_array()
                .expect("points")
                .iter()
                .filter_map(|p| p["avg"].as_f64()),
        );
    }
    let (s, combined) = api
        .get(&format!("/clusters/{id}/metrics?name=cpu_usage_percent"))
        .await;
    assert_eq!(s, StatusCode::OK, "{combined}");
    let combined = combined.as_array().expect("points");
    let count: u64 = combined.iter().filter_map(|p| p["count"].as_u64()).sum();
    assert_eq!(usize::try_from(count).expect("count"), raw.len());
    let extremes = |points: &[f64]| {
        points
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)))
    };
    let lows: Vec<f64> = combined.iter().filter_map(|p| p["min"].as_f64()).collect();
    let highs: Vec<f64> = combined.iter().filter_map(|p| p["max"].as_f64()).collect();
    assert_eq!((extremes(&lows).0, extremes(&highs).1), extremes(&raw));
    assert_field_error(
        &api.get(&format!(
            "/clusters/{id}/metrics?name=cpu_usage_percent&step=raw"
        ))
        .await,
        400,
        "step",
    );
    assert_field_error(
        &api.get(&format!("/clusters/{id}/metrics")).await,
        400,
        "name",
    );
}

async fn events_tenants_and_retirement(api: &Api, id: &str, nodes: &[String]) {
    let (s, page) = api
        .get(&format!(
            "/events?cluster_id={id}&category=coordination&limit=100"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let items = page["items"].as_array().expect("items");
    assert!(items.iter().any(|e| e["event_type"] == "node_promotion"));
    assert!(items.iter().all(|e| e["category"] == "coordination"));
    let (_, first) = api.get("/events?limit=2").await;
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let (_, second) = api.get(&format!("/events?limit=2&cursor={cursor}")).await;
    assert!(second["items"][0]["id"].as_i64() < first["items"][1]["id"].as_i64());
    assert_field_error(&api.get("/events?severity=loud").await, 400, "severity");
    assert_field_error(&api.get("/events?since=2026-13-01").await, 400, "since");
    assert_field_error(&api.get("/events?cluster_id=abc").await, 400, "cluster_id");

    // The export holds every matching event, newest first, as JSON or CSV.
    let (_, listed) = api
        .get(&format!("/events?cluster_id={id}&limit=1000"))
        .await;
    let listed = listed["items"].as_array().expect("items").clone();
    let (s, exported) = api
        .get(&format!("/events/export?cluster_id={id}&format=json"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(exported.as_array(), Some(&listed));
    let res = api
        .http
        .get(format!("{}/events/export?cluster_id={id}", api.base))
        .header("authorization", api.auth.clone().expect("token"))
        .send()
        .await
        .expect("export");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .is_ok_and(
                |v| v.starts_with("attachment; filename=\"muster-events-") && v.ends_with(".csv\"")
            )
    );
    let csv = res.text().await.expect("csv");
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(
        lines.first().copied(),
        Some("id,created_at,cluster_id,node_id,severity,category,type,actor,message,details")
    );
    assert_eq!(lines.len(), listed.len() + 1);
    assert!(lines[1].starts_with(&format!("{},", listed[0]["id"])));
    // Compressed, the export still ends cleanly (the compressor polls the
    // finished stream once more).
    let res = api
        .http
        .get(format!("{}/events/export?cluster_id={id}", api.base))
        .header("authorization", api.auth.clone().expect("token"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("compressed export");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let gz = res.bytes().await.expect("the whole compressed export");
    assert!(gz.starts_with(&[0x1f, 0x8b]) && gz.len() > 20, "{gz:?}");
    assert_field_error(&api.get("/events/export?format=xml").await, 400, "format");
    assert_eq!(
        api.get("/events/export?limit=5").await.0,
        StatusCode::BAD_REQUEST
    );

    let (s, tenant) = api.post("/tenants", json!({"name": "Acme"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let tid = tenant["id"].as_str().expect("tenant id");
    assert_eq!(
        api.post("/tenants", json!({"name": "Acme"})).await.0,
        StatusCode::CONFLICT
    );
    assert_field_error(
        &api.post("/tenants", json!({"name": ""})).await,
        422,
        "name",
    );
    assert_eq!(
        api.post(
            &format!("/clusters/{id}/tenants"),
            json!({"tenant_id": tid})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        api.post(
            &format!("/clusters/{id}/tenants"),
            json!({"tenant_id": tid})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let (_, hosted) = api.get(&format!("/clusters/{id}/tenants")).await;
    assert_eq!(hosted.as_array().map(Vec::len), Some(1));
    assert_eq!(
        api.get("/tenants").await.1.as_array().map(Vec::len),
        Some(1)
    );

    assert_field_error(
        &api.post(&format!("/clusters/{id}/decommission"), json!({}))
            .await,
        409,
        "force",
    );
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/clusters/{id}/tenants/{tid}"),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/clusters/{id}/tenants/{tid}"),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // The single-purpose door takes the operations' guards: retiring
    // nodes[2] would cost the cluster a leader or its quorum, and the
    // guarded answer says which; an operation sent with force goes ahead.
    let guarded = api
        .post(&format!("/nodes/{}/decommission", nodes[2]), json!(null))
        .await;
    assert_field_error(&guarded, 409, "force");
    assert!(
        guarded.1["impact"]["guards"]
            .as_array()
            .is_some_and(|g| !g.is_empty()),
        "{}",
        guarded.1
    );
    assert_eq!(
        api.post(
            "/operations",
            json!({"operation": "decommission_node", "node_id": nodes[2], "force": true})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("/nodes/{}", nodes[2]), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get(&format!("/nodes/{}", nodes[2])).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, gone) = api
        .post(
            &format!("/clusters/{id}/decommission"),
            json!({"force": true}),
        )
        .await;
    assert_eq!(
        (s, gone["status"].as_str()),
        (StatusCode::OK, Some("decommissioned"))
    );
    let (_, listed) = api.get("/clusters").await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(0));
    let (_, listed) = api.get("/clusters?status=decommissioned").await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
}

/// Every documented route and method, with junk ids, junk bodies and junk
/// query strings: never a 5xx, always the documented error shape for 4xx.
async fn bad_input_sweep(api: &Api) {
    let (_, doc) = api.get("/openapi.json").await;
    let paths = doc["paths"].as_object().expect("paths");
    let ids = [
        "x",
        "cluster-zzzzzzzz-2020-01-01-00-00-00-zzzzzzzz",
        "node-zzzzzzzz-2020-01-01-1-zzzzzzzz",
        "%00",
        "a%2Fb",
        &"a".repeat(5000),
    ];
    let bodies: [&[u8]; 7] = [
        b"",
        b"null",
        b"[]",
        b"{}",
        b"{\"force\":\"yes\"}",
        b"{\"name\":{\"$gt\":1}}",
        b"\xff\xfe",
    ];
    let mut requests = 0;
    for (path, item) in paths {
        for method in ["get", "post", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            for id in ids {
                let concrete = path.replace("{id}", id).replace("{tenant_id}", id);
                for body in bodies {
                    let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                    let target = format!("{concrete}?limit=abc&junk=%ff&name=%00&region=%00");
                    let (status, value) = api
                        .raw(m, &target, Some("application/json"), body.to_vec())
                        .await;
                    requests += 1;
                    assert!(
                        !status.is_server_error(),
                        "{method} {target} {body:?} gave {status}: {value}"
                    );
                    if status.is_client_error() {
                        assert!(value["error"].is_string(), "{method} {target}: {value}");
                    }
                }
            }
        }
    }
    assert!(requests > 500, "the sweep covered {requests} requests");

    // Every server function, with the same junk bodies.
    let root = api.base.trim_end_matches("/api/v1");
    let fns: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    assert!(fns.len() >= 18, "{fns:?}");
    for path in fns {
        for body in bodies {
            let res = api
                .http
                .post(format!("{root}{path}"))
                .header("authorization", api.auth.clone().unwrap_or_default())
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .expect("send");
            let status = res.status();
            let text = res.text().await.expect("body");
            assert!(
                !status.is_server_error(),
                "{path} {body:?} gave {status}: {text}"
            );
        }
    }
}

async fn openapi_lists_every_route(api: &Api) {
    let (s, doc) = api.get("/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    let expected = [
        ("/clusters", "post"),
        ("/clusters", "get"),
        ("/clusters/{id}", "get"),
        ("/clusters/{id}", "patch"),
        ("/clusters/{id}/decommission", "post"),
        ("/clusters/{id}/nodes", "post"),
        ("/clusters/{id}/nodes", "get"),
        ("/clusters/{id}/health", "get"),
        ("/health", "get"),
        ("/clusters/{id}/failover-plan", "get"),
        ("/clusters/{id}/metrics", "post"),
        ("/clusters/{id}/metrics", "get"),
        ("/clusters/{id}/tenants", "post"),
        ("/clusters/{id}/tenants", "get"),
        ("/clusters/{id}/tenants/{tenant_id}", "delete"),
        ("/nodes/{id}", "get"),
        ("/nodes/{id}", "delete"),
        ("/nodes/{id}/status", "post"),
        ("/nodes/{id}/promote", "post"),
        ("/nodes/{id}/decommission", "post"),
        ("/nodes/{id}/metrics", "get"),
        ("/events", "get"),
        ("/events/export", "get"),
        ("/tenants", "post"),
        ("/tenants", "get"),
        ("/templates", "get"),
        ("/auth/login", "post"),
        ("/auth/logout", "post"),
        ("/auth/me", "get"),
        ("/tokens", "post"),
        ("/tokens", "get"),
        ("/tokens/{id}", "delete"),
        ("/users", "post"),
        ("/users", "get"),
        ("/auth/password", "post"),
        ("/users/{id}", "patch"),
        ("/users/{id}/password", "post"),
        ("/clusters/{id}/join-tokens", "post"),
        ("/clusters/{id}/join-tokens", "get"),
        ("/clusters/{id}/join-tokens/{token_id}/rotate", "post"),
        ("/clusters/{id}/join-tokens/{token_id}", "delete"),
        ("/agent/register", "post"),
        ("/agent/heartbeat", "post"),
        ("/processes", "get"),
        ("/operations", "post"),
        ("/operations", "get"),
        ("/agent/operations/{id}/result", "post"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let documented: usize = paths
        .values()
        .map(|p| p.as_object().map_or(0, serde_json::Map::len))
        .sum();
    assert_eq!(
        documented,
        expected.len(),
        "every documented route is tested above"
    );
    // Every $ref resolves.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap_or_default();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "unresolved schema {name}"
        );
    }
    assert_eq!(api.get("/no/such/route").await.0, StatusCode::NOT_FOUND);
}

/// The same operations through the server functions the dashboard calls.
async fn server_functions(api: &Api) {
    let root = api.base.trim_end_matches("/api/v1");
    let call = |name: &str, args: Value| {
        let url = format!("{root}/fn/{name}");
        let http = api.http.clone();
        let auth = api.auth.clone().unwrap_or_default();
        async move {
            let res = http
                .post(url)
                .header("authorization", auth)
                .json(&args)
                .send()
                .await
                .expect("server fn");
            let status = res.status();
            let text = res.text().await.expect("body");
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
            )
        }
    };
    let (s, c) = call(
        "create_cluster",
        json!({"request": {"name": "Fn Dev", "region": "local", "environment": "development"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let id = c["id"].as_str().expect("id").to_owned();
    assert_field_error(
        &call(
            "create_cluster",
            json!({"request": {"name": "", "region": "x", "environment": "staging"}}),
        )
        .await,
        422,
        "name",
    );
    let dup = call(
        "create_cluster",
        json!({"request": {"name": "Fn Dev", "region": "local", "environment": "development"}}),
    )
    .await;
    assert_eq!(
        (dup.0, dup.1["error"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let garbage = api
        .http
        .post(format!("{root}/fn/create_cluster"))
        .header("authorization", api.auth.clone().unwrap_or_default())
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .expect("send");
    assert!(garbage.status().is_client_error(), "{}", garbage.status());

    let (s, added) = call("add_cluster_node", json!({"id": id, "node": {"name": "d1", "capacity_cpu": 2.0, "capacity_memory_gb": 4.0, "capacity_storage_gb": 10.0}})).await;
    assert_eq!(s, StatusCode::OK, "{added}");
    let node = added["node"]["id"].as_str().expect("node").to_owned();
    let (s, n) = call(
        "update_node_status",
        json!({"id": node, "update": {"status": "online", "metrics": {"cpu_usage_percent": 12.0}}}),
    )
    .await;
    assert_eq!((s, n["status"].as_str()), (StatusCode::OK, Some("online")));
    let (s, info) = call("get_cluster_info", json!({"id": id})).await;
    assert_eq!(
        (s, info["cluster"]["primary_node_id"].as_str()),
        (StatusCode::OK, Some(node.as_str()))
    );
    let missing = call(
        "get_cluster_info",
        json!({"id": "cluster-zzzzzzzz-2020-01-01-00-00-00-zzzzzzzz"}),
    )
    .await;
    assert_eq!(missing.0, StatusCode::NOT_FOUND, "{}", missing.1);
    let bad = call("get_cluster_info", json!({"id": "nope"})).await;
    assert!(bad.0.is_client_error(), "{} {}", bad.0, bad.1);
    let (s, plan) = call("get_failover_plan", json!({"id": id})).await;
    assert_eq!(
        (s, plan["plan"]["candidates"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    assert_field_error(
        &call("promote_to_primary", json!({"id": node, "force": false})).await,
        409,
        "node_id",
    );
    let (s, page) = call(
        "list_clusters",
        json!({"query": {"environment": "development", "limit": 10}}),
    )
    .await;
    assert_eq!(
        (s, page["items"][0]["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let (s, events) = call(
        "get_cluster_events",
        json!({"query": {"cluster_id": id, "limit": 5}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(events["items"].as_array().is_some_and(|e| !e.is_empty()));
    let now = chrono::Utc::now();
    let (s, points) = call("node_metric_history", json!({"id": node, "name": "cpu_usage_percent",
        "since": now - chrono::Duration::hours(1), "until": now + chrono::Duration::minutes(1), "step": "raw"})).await;
    assert_eq!(
        (s, points.as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let (s, series) = call(
        "cluster_metric_history",
        json!({"id": id,
        "names": ["cpu_usage_percent", "memory_usage_percent"],
        "since": now - chrono::Duration::hours(1), "until": now + chrono::Duration::minutes(1)}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{series}");
    let series = series.as_array().expect("one series per name");
    assert_eq!(series.len(), 2);
    assert_eq!(series[0][0]["count"].as_u64(), Some(1), "{series:?}");
    let (s, refused) = call(
        "cluster_metric_history",
        json!({"id": id, "names": ["CPU!"],
        "since": now - chrono::Duration::hours(1), "until": now}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused["fields"]["names"].is_string(), "{refused}");
    let (s, refused) = call(
        "cluster_metric_history",
        json!({"id": id, "names": ["cpu_usage_percent"],
        "since": now - chrono::Duration::hours(1), "until": now, "step": "raw"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused["fields"]["step"].is_string(), "{refused}");
    let (s, t) = call("create_tenant", json!({"name": "Fn Tenant"})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        call("place_tenant", json!({"id": id, "tenant_id": t["id"]}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call("remove_tenant", json!({"id": id, "tenant_id": t["id"]}))
            .await
            .0,
        StatusCode::OK
    );
    // The node leads its cluster alone: retiring it is guarded (the
    // single-purpose door goes through the operations' guards), and goes
    // ahead as an operation sent with force.
    assert_field_error(
        &call("retire_node", json!({"id": node, "remove": false})).await,
        409,
        "force",
    );
    let (s, retired) = call(
        "run_operation",
        json!({"request": {"operation": "decommission_node", "node_id": node, "force": true}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{retired}");
    let (s, gone) = call("decommission_cluster", json!({"id": id, "force": false})).await;
    assert_eq!(
        (s, gone["status"].as_str()),
        (StatusCode::OK, Some("decommissioned"))
    );
}

/// The session cookie a response sets, as `name=value`.
fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.starts_with("muster_session=").then(|| {
                assert!(
                    v.contains("HttpOnly") && v.contains("SameSite=Lax") && v.contains("Path=/"),
                    "{v}"
                );
                v.split(';').next().unwrap_or_default().to_owned()
            })
        })
}

/// Sessions end after 30 idle minutes and 12 hours after sign-in, and each
/// request (at most once a minute) pushes the idle deadline on. The clock is
/// moved by rewriting the stored session, as time passing would leave it.
async fn session_expiry(api: &Api, store: &dyn Store) {
    let login = || async {
        let res = api
            .http
            .post(format!("{}/auth/login", api.base))
            .json(&json!({"username": "admin", "password": "the admin password"}))
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), StatusCode::OK);
        session_cookie(&res).expect("cookie")
    };
    let me = |cookie: String| async move {
        api.http
            .get(format!("{}/auth/me", api.base))
            .header("cookie", cookie)
            .send()
            .await
            .expect("me")
            .status()
    };
    let record = |cookie: &str| {
        let id = cookie.trim_start_matches("muster_session=").to_owned();
        async move {
            store
                .session_load(&id, muster_store::now())
                .await
                .expect("load")
                .expect("the session is stored")
        }
    };
    let seconds_left = |r: &muster_store::SessionRecord| {
        (r.expires_at - muster_store::now()).num_milliseconds() / 1000
    };

    // Idle: a session whose deadline passed is gone.
    let cookie = login().await;
    let mut r = record(&cookie).await;
    assert!((29 * 60..=30 * 60).contains(&seconds_left(&r)), "{r:?}");
    r.expires_at = muster_store::now() - chrono::Duration::seconds(1);
    store.session_save(&r).await.expect("save");
    assert_eq!(me(cookie).await, StatusCode::UNAUTHORIZED);

    // Activity: a request after two quiet minutes moves the deadline to 30
    // minutes from now.
    let cookie = login().await;
    let mut r = record(&cookie).await;
    let mut data: serde_json::Map<String, Value> = serde_json::from_str(&r.data).expect("data");
    data.insert(
        "seen_at".into(),
        json!(muster_store::now() - chrono::Duration::minutes(2)),
    );
    r.data = Value::Object(data).to_string();
    r.expires_at = muster_store::now() + chrono::Duration::minutes(5);
    store.session_save(&r).await.expect("save");
    assert_eq!(me(cookie.clone()).await, StatusCode::OK);
    assert!(seconds_left(&record(&cookie).await) > 29 * 60);

    // Absolute: 12 hours after sign-in the session ends, however busy.
    let mut r = record(&cookie).await;
    let mut data: serde_json::Map<String, Value> = serde_json::from_str(&r.data).expect("data");
    data.insert(
        "signed_in_at".into(),
        json!(muster_store::now() - chrono::Duration::hours(12) - chrono::Duration::minutes(1)),
    );
    r.data = Value::Object(data).to_string();
    store.session_save(&r).await.expect("save");
    assert_eq!(me(cookie.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(cookie).await,
        StatusCode::UNAUTHORIZED,
        "and stays ended"
    );
}

/// Join tokens and agent registration: a token buys a node with the host's
/// facts and a node token; rotation and revocation stop the old secret.
async fn join_and_register(api: &Api) {
    let (_, cluster) = api
        .post(
            "/clusters",
            json!({"name": "Joinable", "region": "r", "environment": "development", "max_nodes": 2}),
        )
        .await;
    let id = cluster["id"].as_str().expect("id").to_owned();
    let path = format!("/clusters/{id}/join-tokens");
    assert_field_error(
        &api.post(&path, json!({"name": "rack", "expires_in_hours": 0}))
            .await,
        422,
        "expires_in_hours",
    );
    assert_field_error(&api.post(&path, json!({"name": " "})).await, 422, "name");
    let (s, created) = api
        .post(&path, json!({"name": "rack 4", "expires_in_hours": 24}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().expect("token").to_owned();
    let token_id = created["id"].as_str().expect("id").to_owned();
    assert!(token.starts_with("mjt_"));
    assert!(created["join_token"]["expires_at"].is_string());
    let (s, listed) = api.get(&path).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(
        !listed.to_string().contains(&token),
        "the secret is shown once"
    );

    let system = json!({"hostname": "edge-7", "os": "Debian GNU/Linux 13", "kernel": "6.12.0",
        "uptime_s": 3600, "cpu_cores": 4, "memory_total_gb": 8.0, "disk_total_gb": 20.0});
    let register = |join: &str, extra: Value| {
        let mut body = json!({"protocol_version": 1, "join_token": join, "system": system});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let req = api
            .http
            .post(format!("{}/agent/register", api.base))
            .json(&body);
        async move {
            let res = req.send().await.expect("register");
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, joined) = register(&token, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{joined}");
    assert!(
        joined["node_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("mnt_"))
    );
    assert_eq!(joined["cluster_id"], id.as_str());
    assert!(joined["interval_s"].as_u64().is_some_and(|i| i > 0));
    let (_, node) = api
        .get(&format!(
            "/nodes/{}",
            joined["node_id"].as_str().expect("node id")
        ))
        .await;
    assert_eq!(
        (
            node["name"].as_str(),
            node["system"]["kernel"].as_str(),
            node["capacity_cpu"].as_f64()
        ),
        (Some("edge-7"), Some("6.12.0"), Some(4.0))
    );
    assert_eq!(
        register("mjt_nope", json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );

    // The node reports with its token; a repeat of a committed sequence
    // number is acknowledged without being written again.
    let node_id = joined["node_id"].as_str().expect("node id").to_owned();
    let node_token = joined["node_token"].as_str().expect("token").to_owned();
    let heartbeat = |token: Option<String>, seq: u64, cpu: Value| {
        let mut req = api.http.post(format!("{}/agent/heartbeat", api.base)).json(&json!({
            "protocol_version": 1, "seq": seq, "status": "online",
            "metrics": {"cpu_usage_percent": cpu, "memory_usage_percent": 40.1, "disk_usage_percent": 63.0,
                "load_average": 0.7, "network_rx_mbps": 1.2, "network_tx_mbps": 0.4, "process_count": 212},
            "system": system,
            "processes": [{"pid": 1, "name": "init", "user": "root", "cpu_percent": 0.1, "memory_bytes": 4096}]
        }));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        async move {
            let res = req.send().await.expect("heartbeat");
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, ack) = heartbeat(Some(node_token.clone()), 1, json!(12.5)).await;
    assert_eq!(s, StatusCode::OK, "{ack}");
    assert_eq!(
        (ack["ack_seq"].as_u64(), ack["protocol_version"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        ack["role"]["is_primary"], true,
        "the only node leads: {ack}"
    );
    assert!(ack["term"].as_u64().is_some_and(|t| t >= 1));
    assert!(ack["next_interval_s"].as_u64().is_some_and(|i| i > 0));
    assert_eq!(
        heartbeat(Some(node_token.clone()), 1, json!(90.0)).await.1["ack_seq"],
        1
    );
    // Agents' routes are served outside the browser's layers: a foreign
    // Origin, refused on the rest of the API, does not stop a heartbeat.
    let foreign = |path: &str, token: &str| {
        api.http
            .post(format!("{}{path}", api.base))
            .header("origin", "https://elsewhere.example")
            .header("authorization", format!("Bearer {token}"))
            .json(&json!({}))
            .send()
    };
    let res = foreign("/agent/heartbeat", &node_token)
        .await
        .expect("heartbeat");
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "judged by the heartbeat's own rules"
    );
    assert!(res.headers().get("set-cookie").is_none());
    let res = foreign("/clusters", "any").await.expect("create cluster");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "the browser's layers");
    let (_, node) = api.get(&format!("/nodes/{node_id}")).await;
    assert_eq!(
        (node["status"].as_str(), node["health_status"].as_str()),
        (Some("online"), Some("healthy"))
    );
    let (_, points) = api
        .get(&format!(
            "/nodes/{node_id}/metrics?name=process_count&since=2020-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(
        points.as_array().map(Vec::len),
        Some(1),
        "one sample, not two: {points}"
    );

    // The reported processes, listed for the cluster or the node.
    let (s, page) = api.get(&format!("/processes?cluster_id={id}")).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["items"][0]["name"], "init");
    assert_eq!(page["items"][0]["node_name"], "edge-7");
    assert_eq!(page["items"][0]["node_id"], node_id.as_str());
    let (_, page) = api
        .get(&format!("/processes?node_id={node_id}&q=nothing-like-it"))
        .await;
    assert_eq!(page["items"], json!([]));
    assert_field_error(&api.get("/processes").await, 400, "cluster_id");
    assert_field_error(
        &api.get(&format!("/processes?cluster_id={id}&sort=heat"))
            .await,
        400,
        "sort",
    );
    assert_field_error(
        &api.get(&format!("/processes?cluster_id={id}&cursor=zz"))
            .await,
        400,
        "cursor",
    );
    assert_eq!(
        heartbeat(None, 2, json!(1.0)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        heartbeat(Some("mnt_nope".into()), 2, json!(1.0)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let api_token = api
        .auth
        .clone()
        .unwrap_or_default()
        .trim_start_matches("Bearer ")
        .to_owned();
    assert_eq!(
        heartbeat(Some(api_token), 2, json!(1.0)).await.0,
        StatusCode::UNAUTHORIZED,
        "an API token is not a node token"
    );
    assert_field_error(
        &heartbeat(Some(node_token.clone()), 2, json!(250.0)).await,
        422,
        "metrics.cpu_usage_percent",
    );
    assert_field_error(
        &register(&token, json!({"protocol_version": 2})).await,
        422,
        "protocol_version",
    );

    let (s, rotated) = api
        .post(&format!("{path}/{token_id}/rotate"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rotated}");
    let new_token = rotated["token"].as_str().expect("token").to_owned();
    assert_eq!(
        register(&token, json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, second) = register(&new_token, json!({"name": "edge-8"})).await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    assert_eq!(
        register(&new_token, json!({"name": "edge-9"})).await.0,
        StatusCode::CONFLICT,
        "the cluster is full"
    );
    let new_id = rotated["id"].as_str().expect("id");
    assert_eq!(
        api.call(Method::DELETE, &format!("{path}/{new_id}"), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        register(&new_token, json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("{path}/{new_id}"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

/// Signing in and out: refusals are alike and recorded, the session id changes
/// at each sign-in, and signing out ends the session on the server.
async fn sign_in_and_out(api: &Api) {
    let login = |username: &str, password: &str| {
        let body = json!({"username": username, "password": password});
        api.http
            .post(format!("{}/auth/login", api.base))
            .json(&body)
            .send()
    };
    let me = |cookie: Option<String>| {
        let mut req = api.http.get(format!("{}/auth/me", api.base));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    for (user, password) in [
        ("admin", "wrong password!"),
        ("nobody", "whatever password"),
    ] {
        let res = login(user, password).await.expect("login");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(session_cookie(&res).is_none());
        let body: Value = res.json().await.expect("json");
        assert_eq!(
            body["message"], "invalid username or password",
            "the same answer either way"
        );
    }
    let (_, failed) = api.get("/events?type=login_failed").await;
    assert_eq!(failed["items"].as_array().map(Vec::len), Some(2));

    // A browser on another site cannot sign in (or change anything) here.
    let host = api
        .base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let forged = api
        .http
        .post(format!("{}/auth/login", api.base))
        .header("origin", "http://evil.example")
        .json(&json!({"username": "admin", "password": "the admin password"}))
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&forged).is_none());
    let forged_change = api
        .http
        .post(format!("{}/tenants", api.base))
        .header("origin", "https://evil.example")
        .json(&json!({"name": "Forged"}))
        .send()
        .await
        .expect("forged");
    assert_eq!(forged_change.status(), StatusCode::FORBIDDEN);
    let same_site = api
        .http
        .post(format!("{}/auth/login", api.base))
        .header("origin", format!("http://{host}"))
        .json(&json!({"username": "admin", "password": "the admin password"}))
        .send()
        .await
        .expect("same site");
    assert_eq!(
        same_site.status(),
        StatusCode::OK,
        "the server's own pages may post"
    );

    let res = login("Admin", "the admin password").await.expect("login");
    assert_eq!(res.status(), StatusCode::OK);
    let first = session_cookie(&res).expect("session cookie");
    let user: Value = res.json().await.expect("user");
    assert_eq!(
        (user["username"].as_str(), user["role"].as_str()),
        (Some("admin"), Some("admin"))
    );
    assert_eq!(
        me(Some(first.clone())).await.expect("me").status(),
        StatusCode::OK
    );
    assert_eq!(
        me(None).await.expect("me").status(),
        StatusCode::UNAUTHORIZED
    );

    // Signing in again from the same browser gives a new session id.
    let again = api
        .http
        .post(format!("{}/auth/login", api.base))
        .header("cookie", first.clone())
        .json(&json!({"username": "admin", "password": "the admin password"}))
        .send()
        .await
        .expect("login");
    let second = session_cookie(&again).expect("new cookie");
    assert_ne!(first, second, "the session id is cycled at sign-in");
    assert_eq!(
        me(Some(first)).await.expect("me").status(),
        StatusCode::UNAUTHORIZED,
        "the old id is dead"
    );

    // API tokens: created by a signed-in user, shown once, usable as Bearer.
    let created = api
        .http
        .post(format!("{}/tokens", api.base))
        .header("cookie", second.clone())
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .expect("token");
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    let token = created["token"].as_str().expect("token").to_owned();
    let bearer = |t: &str| {
        api.http
            .get(format!("{}/auth/me", api.base))
            .header("authorization", format!("Bearer {t}"))
            .send()
    };
    let who: Value = bearer(&token)
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(who["username"], "admin");
    assert_eq!(
        bearer("mst_wrong").await.expect("me").status(),
        StatusCode::UNAUTHORIZED
    );
    let basic = api
        .http
        .get(format!("{}/auth/me", api.base))
        .header("authorization", "Basic abc")
        .send()
        .await
        .expect("me");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let anon = api
        .http
        .post(format!("{}/tokens", api.base))
        .json(&json!({"name": "anon"}))
        .send()
        .await
        .expect("anon");
    assert_eq!(
        anon.status(),
        StatusCode::UNAUTHORIZED,
        "anonymous users get no tokens"
    );
    let listed = api
        .http
        .get(format!("{}/tokens", api.base))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("list");
    let listed: Value = listed.json().await.expect("json");
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(2),
        "this one and the test harness's"
    );
    assert!(
        listed[1].get("token").is_none() && listed[1].get("token_hash").is_none(),
        "the secret is never listed"
    );
    let id = created["id"].as_str().expect("id");
    let revoke = api
        .http
        .delete(format!("{}/tokens/{id}", api.base))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        bearer(&token).await.expect("me").status(),
        StatusCode::UNAUTHORIZED,
        "revoked at once"
    );

    let out = api
        .http
        .post(format!("{}/auth/logout", api.base))
        .header("cookie", second.clone())
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me(Some(second)).await.expect("me").status(),
        StatusCode::UNAUTHORIZED,
        "ended on the server"
    );
    let (_, ok) = api.get("/events?type=login_succeeded").await;
    assert_eq!(ok["items"].as_array().map(Vec::len), Some(3));
}

/// Guessing is throttled per client address and per account, across replicas
/// (the counts live in the database); refusals carry Retry-After.
async fn throttling(api: &Api, store: &dyn Store) {
    let now = muster_store::now();
    let try_login = |username: &'static str, password: &'static str| {
        api.http
            .post(format!("{}/auth/login", api.base))
            .json(&json!({"username": username, "password": password}))
            .send()
    };
    let retry_after = |res: &reqwest::Response| -> i64 {
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After")
    };

    // An account closes after 100 failures in an hour, even to the right password.
    let account = vec!["user:admin".to_owned()];
    let (earlier, _) = store
        .login_failures(&account[0], now - chrono::Duration::hours(1))
        .await
        .expect("count");
    for _ in earlier..100 {
        store
            .record_login_failure(&account, now)
            .await
            .expect("seed");
    }
    let res = try_login("ADMIN", "the admin password")
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!((3500..=3600).contains(&retry_after(&res)));

    // 29 failures from this address (the earlier scenarios' wrong passwords
    // included): the 30th attempt is still judged, the 31st is not.
    let addr = vec!["addr:127.0.0.1".to_owned()];
    let (earlier, _) = store
        .login_failures(&addr[0], now - chrono::Duration::minutes(10))
        .await
        .expect("count");
    assert!(earlier >= 2, "the wrong passwords tried above were counted");
    for _ in earlier..29 {
        store.record_login_failure(&addr, now).await.expect("seed");
    }
    assert_eq!(
        try_login("someone", "still wrong!!")
            .await
            .expect("login")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let res = try_login("someone", "still wrong!!").await.expect("login");
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "30 failures in 10 min close the address"
    );
    assert!((540..=600).contains(&retry_after(&res)));
    let (n, _) = store
        .login_failures(&addr[0], now - chrono::Duration::minutes(10))
        .await
        .expect("count");
    assert_eq!(n, 30, "refused attempts are not counted again");
}

/// Signs in and returns the session cookie.
async fn sign_in(api: &Api, username: &str, password: &str) -> String {
    let res = api
        .http
        .post(format!("{}/auth/login", api.base))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::OK, "{username} signs in");
    session_cookie(&res).expect("session cookie")
}

/// Admins create users; everyone changes their own password, which ends
/// their other sessions.
async fn users_and_passwords(api: &Api) {
    let admin = sign_in(api, "admin", "the admin password").await;
    let as_user = |cookie: &str, method: Method, path: &str, body: Option<Value>| {
        let mut req = api
            .http
            .request(method, format!("{}{path}", api.base))
            .header("cookie", cookie.to_owned());
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let vic = json!({"username": "Vic", "password": "vics password 1", "role": "viewer"});
    let anon = api
        .http
        .post(format!("{}/users", api.base))
        .json(&vic)
        .send()
        .await
        .expect("anon");
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let created = as_user(&admin, Method::POST, "/users", Some(vic.clone()))
        .await
        .expect("create");
    assert_eq!(created.status(), StatusCode::CREATED);
    let short = json!({"username": "x", "password": "short", "role": "viewer"});
    let res = as_user(&admin, Method::POST, "/users", Some(short))
        .await
        .expect("create");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("json");
    assert!(body["fields"]["password"].is_string());
    let bad_role = json!({"username": "y", "password": "long enough pw", "role": "root"});
    assert_eq!(
        as_user(&admin, Method::POST, "/users", Some(bad_role))
            .await
            .expect("create")
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        as_user(&admin, Method::POST, "/users", Some(vic))
            .await
            .expect("dup")
            .status(),
        StatusCode::CONFLICT
    );

    let vic_a = sign_in(api, "vic", "vics password 1").await;
    let vic_b = sign_in(api, "vic", "vics password 1").await;
    let denied = as_user(
        &vic_a,
        Method::POST,
        "/users",
        Some(json!({"username": "z", "password": "long enough pw", "role": "admin"})),
    )
    .await
    .expect("create");
    assert_eq!(
        denied.status(),
        StatusCode::FORBIDDEN,
        "viewers create no users"
    );
    assert_eq!(
        as_user(&vic_a, Method::GET, "/users", None)
            .await
            .expect("list")
            .status(),
        StatusCode::FORBIDDEN
    );
    let listed: Value = as_user(&admin, Method::GET, "/users", None)
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(2));

    let wrong = json!({"current_password": "not it at all", "new_password": "vics password 2"});
    let res = as_user(&vic_a, Method::POST, "/auth/password", Some(wrong))
        .await
        .expect("change");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let change = json!({"current_password": "vics password 1", "new_password": "vics password 2"});
    assert_eq!(
        as_user(&vic_a, Method::POST, "/auth/password", Some(change))
            .await
            .expect("change")
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        as_user(&vic_b, Method::GET, "/auth/me", None)
            .await
            .expect("me")
            .status(),
        StatusCode::UNAUTHORIZED,
        "other sessions end"
    );
    assert_eq!(
        as_user(&vic_a, Method::GET, "/auth/me", None)
            .await
            .expect("me")
            .status(),
        StatusCode::OK,
        "this one stays"
    );
    sign_in(api, "vic", "vics password 2").await;

    // Admins change roles, scopes and the disabled flag; disabling ends the
    // user's sessions and refuses new ones.
    let vic_id = listed
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "vic")
        .expect("vic")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // An admin sets a forgotten password: the old one stops working and the
    // user's sessions end.
    let vic_before = sign_in(api, "vic", "vics password 2").await;
    let reset = |id: &str, password: &str| {
        as_user(
            &admin,
            Method::POST,
            &format!("/users/{id}/password"),
            Some(json!({ "password": password })),
        )
    };
    let res = reset(&vic_id, "short").await.expect("reset");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("json");
    assert!(body["fields"]["password"].is_string(), "{body}");
    assert_eq!(
        reset("user-nope", "vics password 3")
            .await
            .expect("reset")
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reset(&vic_id, "vics password 3")
            .await
            .expect("reset")
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        as_user(&vic_before, Method::GET, "/auth/me", None)
            .await
            .expect("me")
            .status(),
        StatusCode::UNAUTHORIZED,
        "a reset ends the user's sessions"
    );
    let old = api
        .http
        .post(format!("{}/auth/login", api.base))
        .json(&json!({"username": "vic", "password": "vics password 2"}))
        .send()
        .await
        .expect("login");
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let vic_session = sign_in(api, "vic", "vics password 3").await;
    assert_eq!(
        as_user(
            &vic_session,
            Method::POST,
            &format!("/users/{vic_id}/password"),
            Some(json!({"password": "vics password 4"}))
        )
        .await
        .expect("reset")
        .status(),
        StatusCode::FORBIDDEN,
        "only admins reset passwords"
    );
    let res = as_user(
        &admin,
        Method::PATCH,
        &format!("/users/{vic_id}"),
        Some(json!({"role": "operator"})),
    )
    .await
    .expect("patch");
    let changed: Value = res.json().await.expect("json");
    assert_eq!(changed["role"], "operator");
    let denied = as_user(
        &vic_session,
        Method::PATCH,
        &format!("/users/{vic_id}"),
        Some(json!({"role": "admin"})),
    )
    .await
    .expect("patch");
    assert_eq!(
        denied.status(),
        StatusCode::FORBIDDEN,
        "no one raises their own role"
    );
    let ghost = as_user(
        &admin,
        Method::PATCH,
        "/users/user-nope",
        Some(json!({"disabled": true})),
    )
    .await
    .expect("patch");
    assert_eq!(ghost.status(), StatusCode::NOT_FOUND);
    let me_admin: Value = as_user(&admin, Method::GET, "/auth/me", None)
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    let admin_id = me_admin["id"].as_str().expect("id");
    let itself = as_user(
        &admin,
        Method::PATCH,
        &format!("/users/{admin_id}"),
        Some(json!({"disabled": true})),
    )
    .await
    .expect("patch");
    assert_eq!(
        itself.status(),
        StatusCode::CONFLICT,
        "an admin does not lock themselves out"
    );
    assert_eq!(
        reset(admin_id, "admins new password")
            .await
            .expect("reset")
            .status(),
        StatusCode::CONFLICT,
        "an admin's own password changes with the current one"
    );
    let off = as_user(
        &admin,
        Method::PATCH,
        &format!("/users/{vic_id}"),
        Some(json!({"disabled": true})),
    )
    .await
    .expect("patch");
    assert_eq!(off.status(), StatusCode::OK);
    assert_eq!(
        as_user(&vic_session, Method::GET, "/auth/me", None)
            .await
            .expect("me")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let refused = api
        .http
        .post(format!("{}/auth/login", api.base))
        .json(&json!({"username": "vic", "password": "vics password 3"}))
        .send()
        .await
        .expect("login");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

/// Roles and tenant scope on the REST routes: anonymous callers are refused,
/// viewers only read, operators act on nodes, and a tenant-scoped viewer sees
/// only the clusters hosting their tenants (others answer 404, as if absent).
async fn roles_and_scopes(api: &Api, store: &dyn Store) {
    let anon = api
        .http
        .get(format!("{}/clusters", api.base))
        .send()
        .await
        .expect("anon");
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let (_, seen) = api
        .post(
            "/clusters",
            json!({"name": "Seen", "region": "r", "environment": "development"}),
        )
        .await;
    let (_, hidden) = api
        .post(
            "/clusters",
            json!({"name": "Hidden", "region": "r", "environment": "development"}),
        )
        .await;
    let (seen, hidden) = (
        seen["id"].as_str().expect("id").to_owned(),
        hidden["id"].as_str().expect("id").to_owned(),
    );
    let (_, tenant) = api.post("/tenants", json!({"name": "Scoped Co"})).await;
    let tenant = tenant["id"].as_str().expect("tenant").to_owned();
    assert_eq!(
        api.post(
            &format!("/clusters/{seen}/tenants"),
            json!({"tenant_id": tenant})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let (_, node) = api.post(&format!("/clusters/{hidden}/nodes"), json!({"name": "h1", "capacity_cpu": 1.0, "capacity_memory_gb": 1.0, "capacity_storage_gb": 1.0})).await;
    let hidden_node = node["node"]["id"].as_str().expect("node").to_owned();

    let hasher = muster::server::auth::passwords::PasswordHasher::new();
    let mut bearer = std::collections::HashMap::new();
    for (name, role, tenants) in [
        ("sally", Role::Viewer, vec![tenant.clone()]),
        ("otto", Role::Operator, vec![]),
    ] {
        let hash = hasher.hash("a password for tests").await.expect("hash");
        let user = store
            .create_user(
                &NewUser {
                    username: name.into(),
                    password_hash: hash,
                    role,
                    tenants,
                },
                "test",
            )
            .await
            .expect("user");
        let token = muster::server::tokens::new_token("mst");
        store
            .create_api_token(&user.id, "t", &muster::server::tokens::hash_token(&token))
            .await
            .expect("token");
        bearer.insert(name, format!("Bearer {token}"));
    }
    let as_ = |who: &str, method: Method, path: String, body: Option<Value>| {
        let mut req = api
            .http
            .request(method, format!("{}{path}", api.base))
            .header("authorization", bearer[who].clone());
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await.expect("request");
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // The scoped viewer: only the cluster hosting her tenant, read-only.
    let (s, page) = as_("sally", Method::GET, "/clusters?limit=100".into(), None).await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!((s, ids), (StatusCode::OK, vec![seen.as_str()]));
    assert_eq!(
        as_("sally", Method::GET, format!("/clusters/{seen}"), None)
            .await
            .0,
        StatusCode::OK
    );
    for path in [
        format!("/clusters/{hidden}"),
        format!("/clusters/{hidden}/health"),
        format!("/clusters/{hidden}/nodes"),
        format!("/clusters/{hidden}/failover-plan"),
        format!("/nodes/{hidden_node}"),
        format!("/nodes/{hidden_node}/metrics?name=cpu_usage_percent"),
    ] {
        assert_eq!(
            as_("sally", Method::GET, path.clone(), None).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let (_, events) = as_("sally", Method::GET, "/events?limit=1000".into(), None).await;
    let events = events["items"].as_array().expect("events");
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e["cluster_id"] == seen.as_str()),
        "only her cluster's events"
    );
    let (_, health) = as_("sally", Method::GET, "/health".into(), None).await;
    assert_eq!(health.as_array().map(Vec::len), Some(1));
    let (_, tenants) = as_("sally", Method::GET, "/tenants".into(), None).await;
    assert_eq!(tenants.as_array().map(Vec::len), Some(1));
    for (method, path, body) in [
        (
            Method::POST,
            "/clusters".to_owned(),
            json!({"name": "No", "region": "r", "environment": "staging"}),
        ),
        (
            Method::PATCH,
            format!("/clusters/{seen}"),
            json!({"description": "no"}),
        ),
        (
            Method::POST,
            format!("/clusters/{seen}/decommission"),
            json!({"force": true}),
        ),
        (Method::POST, "/tenants".to_owned(), json!({"name": "No"})),
    ] {
        assert_eq!(
            as_("sally", method, path.clone(), Some(body)).await.0,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }

    // The dashboard's door is held to the same rules.
    let root = api.base.trim_end_matches("/api/v1").to_owned();
    let fn_call = |who: Option<&str>, name: &str, args: Value| {
        let mut req = api.http.post(format!("{root}/fn/{name}")).json(&args);
        if let Some(w) = who {
            req = req.header("authorization", bearer[w].clone());
        }
        async move {
            let res = req.send().await.expect("server fn");
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(
        fn_call(None, "list_clusters", json!({"query": {}})).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        fn_call(None, "fleet_overview", json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, page) = fn_call(
        Some("sally"),
        "list_clusters",
        json!({"query": {"limit": 100}}),
    )
    .await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!((s, ids), (StatusCode::OK, vec![seen.as_str()]));
    assert_eq!(
        fn_call(Some("sally"), "get_cluster_info", json!({"id": hidden}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let no = json!({"request": {"name": "No", "region": "r", "environment": "staging"}});
    assert_eq!(
        fn_call(Some("sally"), "create_cluster", no).await.0,
        StatusCode::FORBIDDEN
    );

    // The operator acts on nodes, not on clusters; the event names him.
    let (s, _) = as_(
        "otto",
        Method::POST,
        format!("/nodes/{hidden_node}/status"),
        Some(json!({"status": "online"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, last) = api
        .get(&format!(
            "/events?node_id={hidden_node}&type=node_status_changed"
        ))
        .await;
    assert_eq!(last["items"][0]["actor"], "user:otto");
    assert_eq!(
        as_(
            "otto",
            Method::POST,
            "/clusters".into(),
            Some(json!({"name": "No", "region": "r", "environment": "staging"}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        as_(
            "otto",
            Method::DELETE,
            format!("/nodes/{hidden_node}"),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
}

async fn run(store: Arc<dyn Store>) {
    let hasher = muster::server::auth::passwords::PasswordHasher::new();
    muster::server::auth::ensure_first_admin(store.as_ref(), &hasher, Some("the admin password"))
        .await
        .expect("admin");
    let mut api = Api::start(store.clone()).await;
    let admin = store
        .user_credentials("admin")
        .await
        .expect("admin")
        .expect("admin exists")
        .0;
    let token = muster::server::tokens::new_token("mst");
    store
        .create_api_token(
            &admin.id,
            "tests",
            &muster::server::tokens::hash_token(&token),
        )
        .await
        .expect("token");
    api.auth = Some(format!("Bearer {token}"));
    sign_in_and_out(&api).await;
    users_and_passwords(&api).await;
    openapi_lists_every_route(&api).await;
    let (id, nodes) = clusters_and_nodes(&api).await;
    status_health_and_coordination(&api, &id, &nodes).await;
    events_tenants_and_retirement(&api, &id, &nodes).await;
    roles_and_scopes(&api, store.as_ref()).await;
    server_functions(&api).await;
    bad_input_sweep(&api).await;
    join_and_register(&api).await;
    session_expiry(&api, store.as_ref()).await;
    throttling(&api, store.as_ref()).await;
}

#[tokio::test]
async fn rest_api_on_sqlite() {
    let db = SqliteDb::new();
    run(db.connect().await).await;
}

#[tokio::test]
async fn rest_api_on_postgres() {
    let Some(db) = PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping");
        return;
    };
    run(db.connect().await).await;
    db.drop().await;
}
