//! The store contract: one story, run against every backend. SQLite always;
//! PostgreSQL when `MUSTER_TEST_POSTGRES_URL` is set (each run creates and drops
//! its own database there).

use muster_domain::{
    Cluster, ClusterStatus, Environment, EventCategory, HealthStatus, NewCluster, NewEvent,
    NewNode, NodeStatus, NodeStatusUpdate, Severity,
};
use muster_store::{Store, StoreError, testing};

fn cluster_from_template(store_template: &muster_domain::ConfigTemplate, name: &str) -> NewCluster {
    NewCluster {
        name: name.into(),
        description: "contract test".into(),
        region: "eu-west-1".into(),
        environment: store_template.environment,
        limits: store_template.limits,
        settings: store_template.settings,
        template_name: Some(store_template.name.clone()),
    }
}

fn node(name: &str, storage_gb: f64) -> NewNode {
    NewNode {
        name: name.into(),
        hostname: format!("{name}.example.internal"),
        region: "eu-west-1".into(),
        availability_zone: "eu-west-1a".into(),
        priority: 60,
        roles: vec!["worker".into(), "coordinator".into()],
        capacity_cpu: 4.0,
        capacity_memory_gb: 16.0,
        capacity_storage_gb: storage_gb,
        capacity_network_mbps: 1000.0,
    }
}

async fn story(store: &dyn Store) {
    store.ping().await.expect("ping");
    let (dev, staging) = clusters(store).await;
    let dev_nodes = nodes(store, &dev, &staging).await;
    events(store, &dev, &dev_nodes).await;
    failover(store, &staging).await;
    no_failover(store, &dev).await;
}

fn online_with(cpu: f64) -> NodeStatusUpdate {
    NodeStatusUpdate {
        status: NodeStatus::Online,
        health_status: None,
        metrics: Some(
            [
                ("cpu_usage_percent".to_owned(), cpu),
                ("memory_usage_percent".to_owned(), 30.0),
                ("disk_usage_percent".to_owned(), 40.0),
                ("queue_depth".to_owned(), 7.0),
            ]
            .into(),
        ),
    }
}

/// Status updates drive health, the cluster's score and status, elections,
/// automatic failover (staging has it) and promotion.
async fn failover(store: &dyn Store, staging: &Cluster) {
    let stg = store.list_nodes(&staging.id).await.expect("staging nodes");
    let (s1, s2) = (&stg[0], &stg[1]);

    let n = store
        .update_node_status(&s1.id, &online_with(20.0), "user:ops")
        .await
        .expect("s1 online");
    assert_eq!(
        (n.status, n.health_status),
        (NodeStatus::Online, HealthStatus::Healthy)
    );
    assert!(n.is_primary && n.is_coordinator, "the only candidate leads");
    let usage = n.usage.expect("usage recorded");
    assert!((usage.cpu_percent - 20.0).abs() < 1e-9);
    let c = store.get_cluster(&staging.id).await.expect("staging");
    assert_eq!((c.status, c.term), (ClusterStatus::Degraded, 1));
    assert!(
        (c.health_score - 0.5).abs() < 1e-9,
        "one healthy, one provisioning"
    );
    assert_eq!(c.primary_node_id.as_ref(), Some(&s1.id));

    let n = store
        .update_node_status(&s2.id, &online_with(75.0), "user:ops")
        .await
        .expect("s2 online");
    assert_eq!(n.health_status, HealthStatus::Warning, "CPU above 70 %");
    let c = store.get_cluster(&staging.id).await.expect("staging");
    assert!((c.health_score - 0.8).abs() < 1e-9);
    assert_eq!(c.term, 1, "healthy leaders are kept");

    // The primary becomes unreachable: automatic failover to s2, one new term.
    let down = NodeStatusUpdate {
        status: NodeStatus::Unreachable,
        health_status: None,
        metrics: None,
    };
    store
        .update_node_status(&s1.id, &down, "user:ops")
        .await
        .expect("s1 unreachable");
    let c = store.get_cluster(&staging.id).await.expect("staging");
    assert_eq!(
        (
            c.primary_node_id.as_ref(),
            c.coordinator_node_id.as_ref(),
            c.term
        ),
        (Some(&s2.id), Some(&s2.id), 2)
    );
    let nodes = store.list_nodes(&staging.id).await.expect("nodes");
    assert!(!nodes[0].is_primary && nodes[1].is_primary && nodes[1].is_coordinator);
    let events = store
        .list_events(Some(&staging.id), 4)
        .await
        .expect("events");
    let promotion = events
        .iter()
        .find(|e| e.event_type == "node_promotion")
        .expect("promotion event");
    assert!(
        promotion.message.contains("became unreachable"),
        "{}",
        promotion.message
    );
    assert_eq!(promotion.details["term"], 2);
    assert_eq!(promotion.category, EventCategory::Coordination);

    // Promoting the unreachable node needs force; forced, it leads until the
    // next change is judged, which fails it over again.
    match store.promote_node(&s1.id, false, "user:ops").await {
        Err(StoreError::Rejected(e)) => assert!(
            e.get("force").is_some_and(|m| m.contains("unreachable")),
            "{e}"
        ),
        other => panic!("promoting an unreachable node gave {other:?}"),
    }
    let c = store
        .promote_node(&s1.id, true, "user:ops")
        .await
        .expect("forced");
    assert_eq!((c.primary_node_id.as_ref(), c.term), (Some(&s1.id), 3));
    assert_eq!(store.get_node(&s1.id).await.expect("s1").priority, 100);
    store
        .update_node_status(&s2.id, &online_with(10.0), "user:ops")
        .await
        .expect("s2 report");
    let c = store.get_cluster(&staging.id).await.expect("staging");
    assert_eq!((c.primary_node_id.as_ref(), c.term), (Some(&s2.id), 4));
}

/// Development has no automatic failover: an offline primary stays primary.
async fn no_failover(store: &dyn Store, dev: &Cluster) {
    let devs = store.list_nodes(&dev.id).await.expect("dev nodes");
    for n in &devs[..2] {
        store
            .update_node_status(&n.id, &online_with(10.0), "user:admin")
            .await
            .expect("online");
    }
    let c = store.get_cluster(&dev.id).await.expect("dev");
    assert_eq!(c.primary_node_id.as_ref(), Some(&devs[0].id));
    let offline = NodeStatusUpdate {
        status: NodeStatus::Offline,
        health_status: None,
        metrics: None,
    };
    store
        .update_node_status(&devs[0].id, &offline, "user:admin")
        .await
        .expect("offline");
    let c = store.get_cluster(&dev.id).await.expect("dev");
    assert_eq!((c.primary_node_id.as_ref(), c.term), (Some(&devs[0].id), 1));
    assert_eq!(c.status, ClusterStatus::Degraded, "(0 + 1 + 0) / 3 = 0.33");
    let c = store
        .promote_node(&devs[1].id, false, "user:admin")
        .await
        .expect("promote candidate");
    assert_eq!((c.primary_node_id.as_ref(), c.term), (Some(&devs[1].id), 2));

    // Bad reports are refused by field; unknown nodes are NotFound.
    let bad = NodeStatusUpdate {
        status: NodeStatus::Decommissioned,
        health_status: None,
        metrics: None,
    };
    assert!(matches!(
        store.update_node_status(&devs[2].id, &bad, "x").await,
        Err(StoreError::Invalid(_))
    ));
    let ghost = muster_domain::NodeId::generate(&dev.id, 99, &mut rand::rng());
    assert!(matches!(
        store.get_node(&ghost).await,
        Err(StoreError::NotFound("node"))
    ));
    assert!(matches!(
        store.promote_node(&ghost, true, "x").await,
        Err(StoreError::NotFound("node"))
    ));
}

/// Templates and clusters, with every refusal; returns a development and a
/// staging cluster.
async fn clusters(store: &dyn Store) -> (muster_domain::Cluster, muster_domain::Cluster) {
    // The three environment templates are seeded with the design's values.
    let templates = store.list_templates().await.expect("templates");
    let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["development", "staging", "production"]);
    assert_eq!(templates, muster_domain::builtin_templates().to_vec());
    let dev = store
        .get_template("development")
        .await
        .expect("dev template");
    assert_eq!(dev.limits.max_nodes, 3);
    assert!(matches!(
        store.get_template("nope").await,
        Err(StoreError::NotFound("template"))
    ));

    // Create a cluster: fresh id, provisioning, event in the same transaction.
    let created = store
        .create_cluster(&cluster_from_template(&dev, "Dev EU"), "user:admin")
        .await
        .expect("create cluster");
    assert_eq!(created.status, ClusterStatus::Provisioning);
    assert_eq!(created.environment, Environment::Development);
    assert_eq!(created.term, 0);
    assert_eq!(created.config, dev.settings);
    assert_eq!(store.get_cluster(&created.id).await.expect("get"), created);

    // Names are unique among live clusters; invalid input is refused by field.
    match store
        .create_cluster(&cluster_from_template(&dev, "Dev EU"), "user:admin")
        .await
    {
        Err(StoreError::Conflict(what)) => assert_eq!(what, "cluster name"),
        other => panic!("duplicate name gave {other:?}"),
    }
    let mut bad = cluster_from_template(&dev, "");
    bad.limits.max_nodes = 0;
    match store.create_cluster(&bad, "user:admin").await {
        Err(StoreError::Invalid(e)) => {
            assert_eq!(e.get("max_nodes"), Some("max_nodes must be at least 1"));
            assert_eq!(e.get("name"), Some("name must not be empty"));
        }
        other => panic!("invalid cluster gave {other:?}"),
    }

    let staging = store.get_template("staging").await.expect("staging");
    let second = store
        .create_cluster(&cluster_from_template(&staging, "Staging EU"), "user:ops")
        .await
        .expect("second cluster");
    let listed = store.list_clusters().await.expect("list");
    let ids: Vec<_> = listed.iter().map(|c| c.id.clone()).collect();
    assert!(ids.contains(&created.id) && ids.contains(&second.id));

    (created, second)
}

/// Nodes and the limits on them; returns the development cluster's nodes.
async fn nodes(
    store: &dyn Store,
    created: &muster_domain::Cluster,
    second: &muster_domain::Cluster,
) -> Vec<muster_domain::Node> {
    // Nodes get sequences 1, 2, 3 and ids that belong to their cluster.
    let mut nodes = Vec::new();
    for (i, storage) in [(1, 30.0), (2, 30.0), (3, 40.0)] {
        let n = store
            .add_node(
                &created.id,
                &node(&format!("dev-{i}"), storage),
                Some(&format!("hash-{i}")),
                "user:admin",
            )
            .await
            .expect("add node");
        assert_eq!(n.id.sequence(), i);
        assert!(n.id.belongs_to(&created.id));
        assert_eq!(n.status, NodeStatus::Provisioning);
        assert_eq!(n.health_status, HealthStatus::Unknown);
        assert_eq!(n.roles, ["worker", "coordinator"]);
        nodes.push(n);
    }
    assert_eq!(store.list_nodes(&created.id).await.expect("nodes"), nodes);

    // The development template allows three nodes: a fourth is refused and the
    // refused attempt leaves nothing behind.
    match store
        .add_node(&created.id, &node("dev-4", 0.0), None, "user:admin")
        .await
    {
        Err(StoreError::Rejected(e)) => assert_eq!(
            e.get("max_nodes"),
            Some("the cluster already holds 3 node(s), its max_nodes limit is 3")
        ),
        other => panic!("fourth node gave {other:?}"),
    }
    assert_eq!(store.list_nodes(&created.id).await.expect("nodes").len(), 3);

    // Storage is limited too (staging: 500 GB).
    store
        .add_node(&second.id, &node("stg-1", 450.0), None, "user:ops")
        .await
        .expect("fits");
    match store
        .add_node(&second.id, &node("stg-2", 60.0), None, "user:ops")
        .await
    {
        Err(StoreError::Rejected(e)) => assert!(e.get("capacity_storage_gb").is_some(), "{e}"),
        other => panic!("storage overflow gave {other:?}"),
    }
    // A refused node does not burn a name either; a duplicate name does conflict.
    match store
        .add_node(&second.id, &node("stg-1", 1.0), None, "user:ops")
        .await
    {
        Err(StoreError::Conflict(what)) => assert_eq!(what, "node name"),
        other => panic!("duplicate node name gave {other:?}"),
    }
    let stg2 = store
        .add_node(&second.id, &node("stg-2", 50.0), None, "user:ops")
        .await
        .expect("fits");
    assert_eq!(
        stg2.id.sequence(),
        2,
        "refused additions roll back whole and consume no sequence"
    );

    // Unknown clusters are NotFound.
    let ghost = muster_domain::ClusterId::parse("cluster-zzzzzzzz-2020-01-01-00-00-00-zzzzzzzz")
        .expect("id");
    assert!(matches!(
        store.get_cluster(&ghost).await,
        Err(StoreError::NotFound("cluster"))
    ));
    assert!(matches!(
        store
            .add_node(&ghost, &node("x", 1.0), None, "user:admin")
            .await,
        Err(StoreError::NotFound("cluster"))
    ));

    nodes
}

async fn events(
    store: &dyn Store,
    created: &muster_domain::Cluster,
    nodes: &[muster_domain::Node],
) {
    // Every change left its event, newest first, with the actor who made it.
    let events = store
        .list_events(Some(&created.id), 100)
        .await
        .expect("events");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["node_added", "node_added", "node_added", "cluster_created"]
    );
    assert!(
        events
            .iter()
            .all(|e| e.actor == "user:admin" && e.category == EventCategory::Lifecycle)
    );
    assert_eq!(events[0].node_id.as_ref(), Some(&nodes[2].id));
    assert_eq!(events[3].details["max_nodes"], 3);

    let recorded = store
        .record_event(&NewEvent {
            cluster_id: Some(created.id.clone()),
            node_id: None,
            event_type: "login_failed".into(),
            category: EventCategory::Security,
            severity: Severity::Warning,
            message: "Failed login for admin".into(),
            details: serde_json::json!({"address": "127.0.0.1"}),
            actor: "system".into(),
        })
        .await
        .expect("record");
    let latest = store.list_events(None, 1).await.expect("latest");
    assert_eq!(latest, [recorded]);
    assert_eq!(
        store.list_events(None, 5000).await.expect("all").len(),
        2 + 3 + 2 + 1
    );
}

#[tokio::test]
async fn contract_on_sqlite() {
    let db = testing::SqliteDb::new();
    let store = db.connect().await;
    story(store.as_ref()).await;
    store.close().await;

    // Reopening the same file runs no migration twice and keeps the data.
    let again = db.connect().await;
    assert_eq!(again.list_clusters().await.expect("list").len(), 2);
    again.close().await;
}

#[tokio::test]
async fn contract_on_postgres() {
    let Some(db) = testing::PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping the PostgreSQL contract");
        return;
    };
    let store = db.connect().await;
    story(store.as_ref()).await;
    store.close().await;
    let again = db.connect().await;
    assert_eq!(again.list_clusters().await.expect("list").len(), 2);
    again.close().await;
    db.drop().await;
}
