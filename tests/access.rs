//! Who may use which door: every REST route and every server function, tried by
//! an anonymous visitor, a viewer scoped to one tenant, an unscoped viewer, an
//! operator and an admin, on SQLite and on PostgreSQL. Each answer's status is
//! checked against the table below, and nothing the scoped viewer receives —
//! listings, details, exports, server-function results — names a cluster, node
//! or tenant outside her scope.

// The door table reads top to bottom as one list; splitting it would scatter it.
#![allow(clippy::too_many_lines)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use muster_domain::users::Role;
use muster_domain::{ClusterId, NewEvent, NodeStatusUpdate};
use muster_store::testing::{PgDb, SqliteDb};
use muster_store::{NewUser, Store};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    ScopedViewer,
    Viewer,
    Operator,
    Admin,
}

const CALLERS: [Who; 5] = [
    Who::Anonymous,
    Who::ScopedViewer,
    Who::Viewer,
    Who::Operator,
    Who::Admin,
];

const PASSWORD: &str = "matrix password one";

/// The expected status for each caller, in [`CALLERS`] order.
type Expect = [u16; 5];

/// Any signed-in caller; `ok` is the success status.
const fn read(ok: u16) -> Expect {
    [401, ok, ok, ok, ok]
}
/// A read of the cluster outside the scoped viewer's tenant.
const HIDDEN: Expect = [401, 404, 200, 200, 200];
/// Operators and admins.
const fn operate(ok: u16) -> Expect {
    [401, 403, 403, ok, ok]
}
/// Admins only.
const fn admin(ok: u16) -> Expect {
    [401, 403, 403, 403, ok]
}
/// Anyone, signed in or not.
const fn public(ok: u16) -> Expect {
    [ok; 5]
}

enum Body {
    None,
    Json(Value),
    Form(String),
}

struct Door {
    method: Method,
    /// The route as documented (`/api/v1/clusters/{id}`) or `/fn/NAME`.
    route: &'static str,
    /// The concrete path; `{spare}` (here and in a JSON body) becomes the id of
    /// the caller's first spare API token, `{spare2}` of the second, and
    /// `{caller}` the caller's name.
    path: String,
    body: Body,
    expect: Expect,
}

fn door(method: Method, route: &'static str, path: String, body: Body, expect: Expect) -> Door {
    Door {
        method,
        route,
        path,
        body,
        expect,
    }
}

/// A server function: `POST /fn/NAME` with JSON arguments.
fn function(name: &'static str, args: Value, expect: Expect) -> Door {
    Door {
        method: Method::POST,
        route: name,
        path: format!("/fn/{name}"),
        body: Body::Json(args),
        expect,
    }
}

struct Fleet {
    /// Hosts tenant X: the scoped viewer sees it.
    seen: String,
    seen_nodes: Vec<String>,
    /// Hosts tenant Y only.
    hidden: String,
    hidden_nodes: Vec<String>,
    tenant_x: String,
    tenant_y: String,
    /// A third tenant, for placing and removing.
    tenant_z: String,
    /// An empty cluster to decommission.
    empty: String,
    /// Nodes of `seen` to decommission and remove.
    retire_rest: String,
    retire_fn: String,
    remove_rest: String,
    remove_fn: String,
    /// Join tokens of `seen` to rotate and revoke, and the secret of one to
    /// register with.
    join_rotate: String,
    join_revoke: String,
    join_secret: String,
    join_fn_rotate: String,
    join_fn_revoke: String,
    /// A user for admins to change.
    spare_user: String,
    /// Every caller's API token, and a second one to revoke.
    bearer: BTreeMap<Who, String>,
    spare_token: BTreeMap<Who, Vec<String>>,
}

fn online(cpu: f64) -> NodeStatusUpdate {
    serde_json::from_value(json!({
        "status": "online",
        "metrics": {"cpu_usage_percent": cpu, "memory_usage_percent": 40.0, "disk_usage_percent": 30.0}
    }))
    .expect("status update")
}

async fn cluster(store: &dyn Store, name: &str) -> ClusterId {
    let template = store.get_template("development").await.expect("template");
    let new = muster_domain::NewCluster {
        name: name.into(),
        description: String::new(),
        region: "eu-west-1".into(),
        environment: template.environment,
        limits: muster_domain::ClusterLimits {
            max_nodes: 20,
            ..template.limits
        },
        settings: template.settings,
        template_name: Some(template.name),
    };
    store
        .create_cluster(&new, "system")
        .await
        .expect("cluster")
        .id
}

async fn nodes(store: &dyn Store, cluster: &ClusterId, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        let new: muster_domain::NewNode = serde_json::from_value(json!({
            "name": name, "capacity_cpu": 2.0, "capacity_memory_gb": 4.0, "capacity_storage_gb": 10.0
        }))
        .expect("node");
        let node = store
            .add_node(cluster, &new, None, "system")
            .await
            .expect("node");
        store
            .update_node_status(&node.id, &online(10.0), "system")
            .await
            .expect("online");
        ids.push(node.id.to_string());
    }
    ids
}

async fn fleet(store: &dyn Store) -> Fleet {
    let hasher = muster::server::auth::passwords::PasswordHasher::new();
    let seen = cluster(store, "Seen A").await;
    let hidden = cluster(store, "Hidden B").await;
    let empty = cluster(store, "Empty C").await;
    let seen_nodes = nodes(
        store,
        &seen,
        &[
            "a1",
            "a2",
            "a3",
            "retire-rest",
            "retire-fn",
            "remove-rest",
            "remove-fn",
        ],
    )
    .await;
    let hidden_nodes = nodes(store, &hidden, &["b1", "b2"]).await;
    let x = store
        .create_tenant("Tenant Xanadu", "system")
        .await
        .expect("x");
    let y = store
        .create_tenant("Tenant Yonder", "system")
        .await
        .expect("y");
    let z = store
        .create_tenant("Tenant Zenith", "system")
        .await
        .expect("z");
    store
        .place_tenant(&seen, &x.id, "system")
        .await
        .expect("place");
    store
        .place_tenant(&hidden, &y.id, "system")
        .await
        .expect("place");
    // A security event with no cluster, which only unscoped callers may read.
    store
        .record_event(&NewEvent {
            cluster_id: None,
            node_id: None,
            event_type: "login_failed".into(),
            category: muster_domain::EventCategory::Security,
            severity: muster_domain::Severity::Warning,
            message: "failed sign-in as Tenant Yonder's admin".into(),
            details: json!({}),
            actor: "system".into(),
        })
        .await
        .expect("event");

    let mut join = Vec::new();
    for name in ["rotate", "revoke", "register", "fn-rotate", "fn-revoke"] {
        let secret = muster::server::tokens::new_token("mjt");
        let token = store
            .create_join_token(
                &seen,
                name,
                &muster::server::tokens::hash_token(&secret),
                None,
                "system",
            )
            .await
            .expect("join token");
        join.push((token.id, secret));
    }
    let mut bearer = BTreeMap::new();
    let mut spare_token = BTreeMap::new();
    let mut spare_user = String::new();
    for (who, name, role, tenants) in [
        (Who::ScopedViewer, "sally", Role::Viewer, vec![x.id.clone()]),
        (Who::Viewer, "victor", Role::Viewer, vec![]),
        (Who::Operator, "otto", Role::Operator, vec![]),
        (Who::Admin, "ada", Role::Admin, vec![]),
        (Who::Anonymous, "spare", Role::Viewer, vec![]),
    ] {
        let user = store
            .create_user(
                &NewUser {
                    username: name.into(),
                    password_hash: hasher.hash(PASSWORD).await.expect("hash"),
                    role,
                    tenants,
                },
                "system",
            )
            .await
            .expect("user");
        if who == Who::Anonymous {
            spare_user = user.id;
            continue;
        }
        let mut spares = Vec::new();
        for label in ["main", "spare", "spare2"] {
            let secret = muster::server::tokens::new_token("mst");
            let token = store
                .create_api_token(
                    &user.id,
                    label,
                    &muster::server::tokens::hash_token(&secret),
                )
                .await
                .expect("token");
            if label == "main" {
                bearer.insert(who, secret);
            } else {
                spares.push(token.id);
            }
        }
        spare_token.insert(who, spares);
    }
    Fleet {
        seen: seen.to_string(),
        hidden: hidden.to_string(),
        empty: empty.to_string(),
        retire_rest: seen_nodes[3].clone(),
        retire_fn: seen_nodes[4].clone(),
        remove_rest: seen_nodes[5].clone(),
        remove_fn: seen_nodes[6].clone(),
        seen_nodes,
        hidden_nodes,
        tenant_x: x.id,
        tenant_y: y.id,
        tenant_z: z.id,
        join_rotate: join[0].0.clone(),
        join_revoke: join[1].0.clone(),
        join_secret: join[2].1.clone(),
        join_fn_rotate: join[3].0.clone(),
        join_fn_revoke: join[4].0.clone(),
        spare_user,
        bearer,
        spare_token,
    }
}

/// Every door, in the order they are tried (each by every caller in turn, so a
/// change only an admin may make happens once, last).
fn doors(f: &Fleet) -> Vec<Door> {
    use Body::{Form, Json as J, None as No};
    let (a, b) = (&f.seen, &f.hidden);
    let (na, nb) = (&f.seen_nodes[0], &f.hidden_nodes[0]);
    let new_node = json!({"name": "added", "capacity_cpu": 1.0, "capacity_memory_gb": 1.0, "capacity_storage_gb": 1.0});
    let status = json!({"status": "online", "metrics": {"cpu_usage_percent": 20.0}});
    let history = "name=cpu_usage_percent&since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00Z";
    let get = Method::GET;
    let post = Method::POST;
    vec![
        // Public doors.
        door(
            get.clone(),
            "/api/v1/openapi.json",
            "/api/v1/openapi.json".into(),
            No,
            public(200),
        ),
        door(get.clone(), "/healthz", "/healthz".into(), No, public(200)),
        door(get.clone(), "/readyz", "/readyz".into(), No, public(200)),
        door(
            post.clone(),
            "/api/v1/auth/login",
            "/api/v1/auth/login".into(),
            J(json!({"username": "victor", "password": PASSWORD})),
            public(200),
        ),
        door(
            post.clone(),
            "sign_in",
            "/fn/sign_in".into(),
            Form(format!(
                "username=victor&password={}",
                PASSWORD.replace(' ', "+")
            )),
            public(200),
        ),
        // Reads.
        door(
            get.clone(),
            "/api/v1/auth/me",
            "/api/v1/auth/me".into(),
            No,
            read(200),
        ),
        function("current_user", json!({}), public(200)),
        door(
            get.clone(),
            "/api/v1/templates",
            "/api/v1/templates".into(),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/tenants",
            "/api/v1/tenants".into(),
            No,
            read(200),
        ),
        function("list_tenants", json!({}), read(200)),
        function("list_templates", json!({}), read(200)),
        door(
            get.clone(),
            "/api/v1/clusters",
            "/api/v1/clusters?limit=1000".into(),
            No,
            read(200),
        ),
        function(
            "list_clusters",
            json!({"query": {"limit": 1000}}),
            read(200),
        ),
        function(
            "list_cluster_rows",
            json!({"query": {"limit": 1000}}),
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/health",
            "/api/v1/health".into(),
            No,
            read(200),
        ),
        function("fleet_overview", json!({}), read(200)),
        // This server is not in demo mode: admins learn the page is not there.
        function("demo_mode", json!({}), public(200)),
        function("get_simulation", json!({}), admin(404)),
        function("simulate_fault", json!({"command": "heal all"}), admin(404)),
        door(
            get.clone(),
            "/api/v1/events",
            "/api/v1/events?limit=1000".into(),
            No,
            read(200),
        ),
        function(
            "get_cluster_events",
            json!({"query": {"limit": 1000}}),
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/events/export",
            "/api/v1/events/export?format=csv".into(),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/events/export",
            "/api/v1/events/export?format=json".into(),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/events",
            format!("/api/v1/events?cluster_id={b}"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/events/export",
            format!("/api/v1/events/export?node_id={nb}"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/tokens",
            "/api/v1/tokens".into(),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/users",
            "/api/v1/users".into(),
            No,
            admin(200),
        ),
        // One cluster and its nodes: seen, then hidden.
        door(
            get.clone(),
            "/api/v1/clusters/{id}",
            format!("/api/v1/clusters/{a}"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/clusters/{id}",
            format!("/api/v1/clusters/{b}"),
            No,
            HIDDEN,
        ),
        function("get_cluster_info", json!({"id": a}), read(200)),
        function("get_cluster_info", json!({"id": b}), HIDDEN),
        // Tallies of clusters the caller may not see are left out.
        function("tally_clusters", json!({"ids": [a, b]}), read(200)),
        function("cluster_names", json!({}), read(200)),
        door(
            get.clone(),
            "/api/v1/clusters/{id}/health",
            format!("/api/v1/clusters/{a}/health"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/clusters/{id}/health",
            format!("/api/v1/clusters/{b}/health"),
            No,
            HIDDEN,
        ),
        door(
            get.clone(),
            "/api/v1/clusters/{id}/failover-plan",
            format!("/api/v1/clusters/{a}/failover-plan"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/clusters/{id}/failover-plan",
            format!("/api/v1/clusters/{b}/failover-plan"),
            No,
            HIDDEN,
        ),
        function("get_node_info", json!({"id": na}), read(200)),
        function("get_node_info", json!({"id": nb}), HIDDEN),
        function(
            "list_processes",
            json!({"query": {"cluster_id": a}}),
            read(200),
        ),
        function(
            "list_processes",
            json!({"query": {"cluster_id": b}}),
            HIDDEN,
        ),
        function("list_processes", json!({"query": {"node_id": nb}}), HIDDEN),
        door(
            get.clone(),
            "/api/v1/processes",
            format!("/api/v1/processes?cluster_id={a}&sort=memory"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/processes",
            format!("/api/v1/processes?cluster_id={b}"),
            No,
            HIDDEN,
        ),
        door(
            get.clone(),
            "/api/v1/processes",
            format!("/api/v1/processes?node_id={nb}"),
            No,
            HIDDEN,
        ),
        function("get_failover_plan", json!({"id": a}), read(200)),
        function("get_failover_plan", json!({"id": b}), HIDDEN),
        door(
            get.clone(),
            "/api/v1/clusters/{id}/metrics",
            format!("/api/v1/clusters/{a}/metrics?{history}"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/clusters/{id}/metrics",
            format!("/api/v1/clusters/{b}/metrics?{history}"),
            No,
            HIDDEN,
        ),
        function(
            "cluster_metric_history",
            json!({"id": a, "names": ["cpu_usage_percent"],
            "since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z", "step": "1h"}),
            read(200),
        ),
        function(
            "cluster_metric_history",
            json!({"id": b, "names": ["cpu_usage_percent"],
            "since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z", "step": "1h"}),
            HIDDEN,
        ),
        // Operations: node operations for operators, and their history for
        // anyone who may see the cluster.
        door(
            post.clone(),
            "/api/v1/operations",
            "/api/v1/operations".into(),
            J(json!({"operation": "collect_now", "node_id": na})),
            operate(202),
        ),
        door(
            post.clone(),
            "/api/v1/operations",
            "/api/v1/operations".into(),
            J(json!({"operation": "drain", "node_id": na, "dry_run": true})),
            operate(200),
        ),
        door(
            post.clone(),
            "/api/v1/operations",
            "/api/v1/operations".into(),
            J(json!({"operation": "decommission_node", "node_id": na, "dry_run": true})),
            admin(200),
        ),
        function(
            "run_operation",
            json!({"request": {"operation": "cordon", "node_id": na, "dry_run": true}}),
            operate(200),
        ),
        door(
            get.clone(),
            "/api/v1/operations",
            format!("/api/v1/operations?cluster_id={a}"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/operations",
            format!("/api/v1/operations?cluster_id={b}"),
            No,
            HIDDEN,
        ),
        function(
            "list_operations",
            json!({"query": {"cluster_id": a}}),
            read(200),
        ),
        function("list_operations", json!({"query": {"node_id": nb}}), HIDDEN),
        // A user's API token is not a node token.
        door(
            post.clone(),
            "/api/v1/agent/operations/{id}/result",
            "/api/v1/agent/operations/1/result".into(),
            J(json!({"ok": true, "message": "done"})),
            public(401),
        ),
        door(
            get.clone(),
            "/api/v1/clusters/{id}/nodes",
            format!("/api/v1/clusters/{a}/nodes"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/clusters/{id}/nodes",
            format!("/api/v1/clusters/{b}/nodes"),
            No,
            HIDDEN,
        ),
        door(
            get.clone(),
            "/api/v1/clusters/{id}/tenants",
            format!("/api/v1/clusters/{a}/tenants"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/clusters/{id}/tenants",
            format!("/api/v1/clusters/{b}/tenants"),
            No,
            HIDDEN,
        ),
        door(
            get.clone(),
            "/api/v1/nodes/{id}",
            format!("/api/v1/nodes/{na}"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/nodes/{id}",
            format!("/api/v1/nodes/{nb}"),
            No,
            HIDDEN,
        ),
        function("get_node", json!({"id": na}), read(200)),
        function("get_node", json!({"id": nb}), HIDDEN),
        door(
            get.clone(),
            "/api/v1/nodes/{id}/metrics",
            format!("/api/v1/nodes/{na}/metrics?{history}"),
            No,
            read(200),
        ),
        door(
            get.clone(),
            "/api/v1/nodes/{id}/metrics",
            format!("/api/v1/nodes/{nb}/metrics?{history}"),
            No,
            HIDDEN,
        ),
        function(
            "node_metric_history",
            json!({"id": na, "name": "cpu_usage_percent",
            "since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z", "step": "raw"}),
            read(200),
        ),
        function(
            "node_metric_history",
            json!({"id": nb, "name": "cpu_usage_percent",
            "since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z", "step": "raw"}),
            HIDDEN,
        ),
        // Every caller's own account.
        door(
            post.clone(),
            "/api/v1/tokens",
            "/api/v1/tokens".into(),
            J(json!({"name": "matrix"})),
            read(201),
        ),
        function("list_api_tokens", json!({}), read(200)),
        function("create_api_token", json!({"name": "matrix fn"}), read(200)),
        function("revoke_api_token", json!({"id": "{spare2}"}), read(200)),
        door(
            Method::DELETE,
            "/api/v1/tokens/{id}",
            "/api/v1/tokens/{spare}".into(),
            No,
            read(204),
        ),
        door(
            post.clone(),
            "/api/v1/auth/password",
            "/api/v1/auth/password".into(),
            J(json!({"current_password": PASSWORD, "new_password": "matrix password two"})),
            read(204),
        ),
        // Node operations: operators and admins, in any cluster they can see.
        door(
            post.clone(),
            "/api/v1/nodes/{id}/status",
            format!("/api/v1/nodes/{na}/status"),
            J(status.clone()),
            operate(200),
        ),
        door(
            post.clone(),
            "/api/v1/nodes/{id}/status",
            format!("/api/v1/nodes/{nb}/status"),
            J(status.clone()),
            operate(200),
        ),
        function(
            "update_node_status",
            json!({"id": na, "update": status}),
            operate(200),
        ),
        door(
            post.clone(),
            "/api/v1/clusters/{id}/metrics",
            format!("/api/v1/clusters/{a}/metrics"),
            J(json!({"node_id": na, "metrics": {"queue_depth": 3.0}})),
            operate(201),
        ),
        // The operator promotes; the admin, let through too, finds the node
        // already primary.
        door(
            post.clone(),
            "/api/v1/nodes/{id}/promote",
            format!("/api/v1/nodes/{}/promote", f.seen_nodes[1]),
            J(json!({"force": false})),
            [401, 403, 403, 200, 409],
        ),
        function(
            "promote_to_primary",
            json!({"id": f.seen_nodes[2], "force": false}),
            [401, 403, 403, 200, 409],
        ),
        // Administration.
        door(
            post.clone(),
            "/api/v1/clusters",
            "/api/v1/clusters".into(),
            J(json!({"name": "Matrix New", "region": "r", "environment": "development"})),
            admin(201),
        ),
        function(
            "create_cluster",
            json!({"request": {"name": "Matrix Fn", "region": "r", "environment": "development"}}),
            admin(200),
        ),
        door(
            Method::PATCH,
            "/api/v1/clusters/{id}",
            format!("/api/v1/clusters/{a}"),
            J(json!({"description": "changed"})),
            admin(200),
        ),
        function(
            "update_cluster",
            json!({"id": a, "update": {"description": "changed again"}}),
            admin(200),
        ),
        door(
            post.clone(),
            "/api/v1/clusters/{id}/nodes",
            format!("/api/v1/clusters/{a}/nodes"),
            J(new_node.clone()),
            admin(201),
        ),
        function(
            "add_cluster_node",
            json!({"id": a, "node": {"name": "added-fn", "capacity_cpu": 1.0,
            "capacity_memory_gb": 1.0, "capacity_storage_gb": 1.0}}),
            admin(200),
        ),
        door(
            post.clone(),
            "/api/v1/tenants",
            "/api/v1/tenants".into(),
            J(json!({"name": "Matrix Tenant"})),
            admin(201),
        ),
        function(
            "create_tenant",
            json!({"name": "Matrix Fn Tenant"}),
            admin(200),
        ),
        door(
            post.clone(),
            "/api/v1/clusters/{id}/tenants",
            format!("/api/v1/clusters/{a}/tenants"),
            J(json!({"tenant_id": f.tenant_z})),
            admin(201),
        ),
        door(
            Method::DELETE,
            "/api/v1/clusters/{id}/tenants/{tenant_id}",
            format!("/api/v1/clusters/{a}/tenants/{}", f.tenant_z),
            No,
            admin(204),
        ),
        function(
            "place_tenant",
            json!({"id": a, "tenant_id": f.tenant_z}),
            admin(200),
        ),
        function(
            "remove_tenant",
            json!({"id": a, "tenant_id": f.tenant_z}),
            admin(200),
        ),
        door(
            post.clone(),
            "/api/v1/nodes/{id}/decommission",
            format!("/api/v1/nodes/{}/decommission", f.retire_rest),
            No,
            admin(204),
        ),
        function(
            "retire_node",
            json!({"id": f.retire_fn, "remove": false}),
            admin(200),
        ),
        door(
            Method::DELETE,
            "/api/v1/nodes/{id}",
            format!("/api/v1/nodes/{}", f.remove_rest),
            No,
            admin(204),
        ),
        function(
            "retire_node",
            json!({"id": f.remove_fn, "remove": true}),
            admin(200),
        ),
        door(
            post.clone(),
            "/api/v1/users",
            "/api/v1/users".into(),
            J(
                json!({"username": "newcomer", "password": PASSWORD, "role": "viewer", "tenants": []}),
            ),
            admin(201),
        ),
        door(
            post.clone(),
            "/api/v1/users/{id}/password",
            format!("/api/v1/users/{}/password", f.spare_user),
            J(json!({"password": "a new password for spare"})),
            admin(204),
        ),
        function(
            "reset_password",
            json!({"id": f.spare_user, "password": "another password for spare"}),
            admin(200),
        ),
        function("list_users", json!({}), admin(200)),
        function(
            "create_user",
            json!({"request": {"username": "newcomer-fn", "password": PASSWORD, "role": "viewer"}}),
            admin(200),
        ),
        function(
            "update_user",
            json!({"id": f.spare_user, "change": {"disabled": true}}),
            admin(200),
        ),
        door(
            Method::PATCH,
            "/api/v1/users/{id}",
            format!("/api/v1/users/{}", f.spare_user),
            J(json!({"role": "operator"})),
            admin(200),
        ),
        door(
            post.clone(),
            "/api/v1/clusters/{id}/decommission",
            format!("/api/v1/clusters/{}/decommission", f.empty),
            J(json!({"force": false})),
            admin(200),
        ),
        // Already decommissioned through REST just above: the admin gets past
        // the role check to the conflict.
        function(
            "decommission_cluster",
            json!({"id": f.empty, "force": false}),
            [401, 403, 403, 403, 409],
        ),
        // Joining nodes: admins manage join tokens; an agent with a live one
        // registers whoever it is.
        door(
            post.clone(),
            "/api/v1/clusters/{id}/join-tokens",
            format!("/api/v1/clusters/{a}/join-tokens"),
            J(json!({"name": "matrix"})),
            admin(201),
        ),
        door(
            get.clone(),
            "/api/v1/clusters/{id}/join-tokens",
            format!("/api/v1/clusters/{a}/join-tokens"),
            No,
            admin(200),
        ),
        door(
            post.clone(),
            "/api/v1/clusters/{id}/join-tokens/{token_id}/rotate",
            format!("/api/v1/clusters/{a}/join-tokens/{}/rotate", f.join_rotate),
            No,
            admin(201),
        ),
        door(
            Method::DELETE,
            "/api/v1/clusters/{id}/join-tokens/{token_id}",
            format!("/api/v1/clusters/{a}/join-tokens/{}", f.join_revoke),
            No,
            admin(204),
        ),
        function("list_join_tokens", json!({"id": a}), admin(200)),
        function("list_join_tokens", json!({"id": b}), admin(200)),
        function(
            "create_join_token",
            json!({"id": a, "request": {"name": "matrix fn"}}),
            admin(200),
        ),
        function(
            "rotate_join_token",
            json!({"id": a, "token_id": f.join_fn_rotate}),
            admin(200),
        ),
        function(
            "revoke_join_token",
            json!({"id": a, "token_id": f.join_fn_revoke}),
            admin(200),
        ),
        door(
            post.clone(),
            "/api/v1/agent/register",
            "/api/v1/agent/register".into(),
            J(
                json!({"protocol_version": 1, "join_token": f.join_secret, "system": {
                "hostname": "host-{caller}", "os": "linux", "kernel": "6", "uptime_s": 1,
                "cpu_cores": 1, "memory_total_gb": 1.0, "disk_total_gb": 1.0}}),
            ),
            public(201),
        ),
        // A user's API token is not a node token.
        door(
            post.clone(),
            "/api/v1/agent/heartbeat",
            "/api/v1/agent/heartbeat".into(),
            J(json!({"protocol_version": 1, "seq": 1, "status": "online",
                "metrics": {"cpu_usage_percent": 1.0, "memory_usage_percent": 1.0, "disk_usage_percent": 1.0,
                    "load_average": 0.0, "network_rx_mbps": 0.0, "network_tx_mbps": 0.0, "process_count": 1},
                "system": {"hostname": "h", "os": "linux", "kernel": "6", "uptime_s": 1,
                    "cpu_cores": 1, "memory_total_gb": 1.0, "disk_total_gb": 1.0}})),
            public(401),
        ),
        // Signing out, last: a Bearer caller has no session to end.
        door(
            post.clone(),
            "/api/v1/auth/logout",
            "/api/v1/auth/logout".into(),
            No,
            public(204),
        ),
        door(
            post,
            "sign_out",
            "/fn/sign_out".into(),
            Form(String::new()),
            public(200),
        ),
    ]
}

/// What the scoped viewer must never receive.
fn forbidden(f: &Fleet) -> Vec<String> {
    let mut out = vec![
        f.hidden.clone(),
        f.tenant_y.clone(),
        "Hidden B".into(),
        "Tenant Yonder".into(),
        "Tenant Zenith".into(),
    ];
    out.extend(f.hidden_nodes.iter().cloned());
    out
}

async fn matrix(store: Arc<dyn Store>) {
    let f = fleet(store.as_ref()).await;
    let base = common::serve(store.clone()).await;
    let http = Client::new();
    let doors = doors(&f);
    let hidden_texts = forbidden(&f);
    let mut failures = Vec::new();
    let mut seen_by_scoped = String::new();
    for d in &doors {
        for (i, who) in CALLERS.iter().enumerate() {
            let spares = f.spare_token.get(who).cloned().unwrap_or_default();
            let fill = |text: &str| {
                text.replace("{caller}", &format!("{who:?}").to_lowercase())
                    .replace("{spare}", spares.first().map_or("none", String::as_str))
                    .replace("{spare2}", spares.get(1).map_or("none", String::as_str))
            };
            let path = fill(&d.path);
            let mut req = http.request(d.method.clone(), format!("{base}{path}"));
            if let Some(token) = f.bearer.get(who) {
                req = req.header("authorization", format!("Bearer {token}"));
            }
            req = match &d.body {
                Body::None => req,
                Body::Json(v) => req
                    .header("content-type", "application/json")
                    .body(fill(&v.to_string())),
                Body::Form(text) => req
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(text.clone()),
            };
            let res = req.send().await.expect("request");
            let status = res.status().as_u16();
            let text = res.text().await.expect("body");
            if status != d.expect[i] {
                failures.push(format!(
                    "{} {path} as {who:?}: {status}, expected {}: {}",
                    d.method,
                    d.expect[i],
                    text.chars().take(200).collect::<String>()
                ));
            }
            if *who == Who::ScopedViewer {
                for secret in &hidden_texts {
                    if text.contains(secret.as_str()) {
                        failures.push(format!(
                            "{} {path} gave the scoped viewer {secret:?}",
                            d.method
                        ));
                    }
                }
                seen_by_scoped.push_str(&text);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The scoped viewer did see her own cluster, its nodes and its tenant:
    // the checks above are not passing because she saw nothing.
    for mine in [&f.seen, &f.seen_nodes[0], &f.tenant_x] {
        assert!(seen_by_scoped.contains(mine.as_str()), "{mine} was shown");
    }

    // Every documented route and every server function is in the table.
    let tried: BTreeSet<(String, String)> = doors
        .iter()
        .map(|d| (d.method.to_string(), d.route.to_owned()))
        .collect();
    let doc: Value = http
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("methods").keys() {
            let key = (method.to_uppercase(), format!("/api/v1{path}"));
            assert!(tried.contains(&key), "{key:?} is not in the access table");
        }
    }
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        let name = path.trim_start_matches("/fn/").to_owned();
        assert!(
            tried.contains(&(method.to_string(), name.clone())),
            "server function {name} is not in the access table"
        );
    }
}

/// The export of an unscoped caller holds the rows the scoped viewer's lacks,
/// so the export check above compares against something.
async fn exports_differ_by_scope(store: Arc<dyn Store>) {
    let f = fleet(store.as_ref()).await;
    let base = common::serve(store).await;
    let http = Client::new();
    let export = |who: Who| {
        let req = http
            .get(format!("{base}/api/v1/events/export?format=csv"))
            .header("authorization", format!("Bearer {}", f.bearer[&who]));
        async move {
            let res = req.send().await.expect("export");
            assert_eq!(res.status(), StatusCode::OK);
            res.text().await.expect("csv")
        }
    };
    let everything = export(Who::Viewer).await;
    let mine = export(Who::ScopedViewer).await;
    assert!(everything.contains(&f.hidden) && everything.contains("login_failed"));
    assert!(mine.contains(&f.seen));
    assert!(!mine.contains(&f.hidden) && !mine.contains("login_failed"));
    let rows = |csv: &str| csv.split_terminator("\r\n").count() - 1;
    assert!(rows(&mine) > 0 && rows(&mine) < rows(&everything));
}

#[tokio::test]
async fn access_matrix_on_sqlite() {
    let db = SqliteDb::new();
    matrix(db.connect().await).await;
    let db = SqliteDb::new();
    exports_differ_by_scope(db.connect().await).await;
}

#[tokio::test]
async fn access_matrix_on_postgres() {
    let Some(db) = PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping");
        return;
    };
    matrix(db.connect().await).await;
    db.drop().await;
    let Some(db) = PgDb::create().await else {
        return;
    };
    exports_differ_by_scope(db.connect().await).await;
    db.drop().await;
}
