//! The store contract: one story, run against every backend. SQLite always;
//! PostgreSQL when `MUSTER_TEST_POSTGRES_URL` is set (each run creates and drops
//! its own database there).

// Each story reads top to bottom as one scenario; splitting them by line count
// would scatter the scenario, not simplify it.
#![allow(clippy::too_many_lines)]

use muster_domain::ClusterUpdate;
use muster_domain::metrics::MetricStep;
use muster_domain::{
    Cluster, ClusterStatus, Environment, EventCategory, HealthStatus, NewCluster, NewEvent,
    NewNode, NodeStatus, NodeStatusUpdate, Severity,
};
use muster_store::{ClusterQuery, ClusterSort, EventQuery, Store, StoreError, testing};
use sqlx::Connection as _;

fn events_of(cluster: &Cluster, limit: u32) -> EventQuery {
    EventQuery {
        cluster_id: Some(cluster.id.clone()),
        limit,
        ..EventQuery::default()
    }
}

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
    listings(store).await;
    configuration_and_tenants(store, &staging).await;
    metrics(store, &dev, &staging).await;
    retirement(store, &staging).await;
    users(store).await;
}

/// Users: names normalised and unique, tenants checked, passwords replaced.
async fn users(store: &dyn Store) {
    use muster_domain::users::Role;
    use muster_store::NewUser;
    assert_eq!(store.count_users().await.expect("count"), 0);
    let tenant = store
        .create_tenant("Umbrella", "system")
        .await
        .expect("tenant");
    let viewer = store
        .create_user(
            &NewUser {
                username: " Vera ".into(),
                password_hash: "h1".into(),
                role: Role::Viewer,
                tenants: vec![tenant.id.clone()],
            },
            "system",
        )
        .await
        .expect("create");
    assert_eq!(
        (
            viewer.username.as_str(),
            viewer.role,
            viewer.tenants.clone()
        ),
        ("vera", Role::Viewer, vec![tenant.id.clone()])
    );
    assert!(!viewer.is_unscoped() && !viewer.disabled);
    let dup = NewUser {
        username: "VERA".into(),
        password_hash: "h".into(),
        role: Role::Admin,
        tenants: vec![],
    };
    assert!(
        matches!(store.create_user(&dup, "system").await, Err(StoreError::Conflict(w)) if w == "username")
    );
    let bad = NewUser {
        username: "no spaces".into(),
        password_hash: "h".into(),
        role: Role::Admin,
        tenants: vec![],
    };
    assert!(
        matches!(store.create_user(&bad, "system").await, Err(StoreError::Invalid(e)) if e.get("username").is_some())
    );
    let ghost = NewUser {
        username: "ghost".into(),
        password_hash: "h".into(),
        role: Role::Viewer,
        tenants: vec!["tenant-nope".into()],
    };
    assert!(matches!(
        store.create_user(&ghost, "system").await,
        Err(StoreError::NotFound("tenant"))
    ));
    assert!(
        store
            .user_credentials("ghost")
            .await
            .expect("lookup")
            .is_none(),
        "a refused user leaves nothing"
    );

    let (found, hash) = store
        .user_credentials("Vera")
        .await
        .expect("lookup")
        .expect("exists");
    assert_eq!((found, hash.as_str()), (viewer.clone(), "h1"));
    store
        .set_password("vera", "h2", "user:vera")
        .await
        .expect("set");
    assert_eq!(
        store
            .user_credentials("vera")
            .await
            .expect("lookup")
            .expect("exists")
            .1,
        "h2"
    );
    assert!(matches!(
        store.set_password("nobody", "h", "x").await,
        Err(StoreError::NotFound("user"))
    ));
    assert!(
        store
            .user_credentials("not a name!")
            .await
            .expect("lookup")
            .is_none()
    );
    assert_eq!(store.count_users().await.expect("count"), 1);
    assert_eq!(
        store.list_users().await.expect("list"),
        std::slice::from_ref(&viewer)
    );
    let security = EventQuery {
        category: Some(EventCategory::Security),
        limit: 10,
        ..EventQuery::default()
    };
    let types: Vec<String> = store
        .list_events(&security)
        .await
        .expect("events")
        .items
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, ["password_changed", "user_created", "login_failed"]);
    sessions(store, &viewer).await;
}

/// Sessions: created once per id, saved, loaded until they expire, ended one
/// by one or all of a user's but one.
async fn sessions(store: &dyn Store, user: &muster_domain::users::User) {
    use muster_store::SessionRecord;
    let now = muster_store::now();
    let record = |id: &str, minutes: i64| SessionRecord {
        id: id.into(),
        user_id: Some(user.id.clone()),
        data: format!("{{\"n\":\"{id}\"}}"),
        expires_at: now + chrono::Duration::minutes(minutes),
    };
    assert!(
        store
            .session_create(&record("s1", 30))
            .await
            .expect("create")
    );
    assert!(
        !store
            .session_create(&record("s1", 30))
            .await
            .expect("create"),
        "ids are never reused"
    );
    assert!(
        store
            .session_create(&record("s2", 30))
            .await
            .expect("create")
    );
    assert!(
        store
            .session_create(&record("s3", -1))
            .await
            .expect("create")
    );
    let mut s1 = record("s1", 60);
    s1.data = "{\"n\":\"changed\"}".into();
    store.session_save(&s1).await.expect("save");
    assert_eq!(store.session_load("s1", now).await.expect("load"), Some(s1));
    assert_eq!(
        store.session_load("s3", now).await.expect("load"),
        None,
        "expired"
    );
    assert_eq!(store.sessions_prune(now).await.expect("prune"), 1);
    assert_eq!(
        store
            .sessions_end_for_user(&user.id, Some("s1"))
            .await
            .expect("end"),
        1
    );
    assert!(store.session_load("s2", now).await.expect("load").is_none());
    assert!(store.session_load("s1", now).await.expect("load").is_some());
    store.session_delete("s1").await.expect("delete");
    assert!(store.session_load("s1", now).await.expect("load").is_none());
    assert_eq!(
        store.get_user(&user.id).await.expect("user").username,
        user.username
    );
    assert!(matches!(
        store.get_user("user-nope").await,
        Err(StoreError::NotFound("user"))
    ));
}

/// Every cluster `q` matches, following `next_cursor` page by page.
async fn every_cluster(store: &dyn Store, q: &mut ClusterQuery) -> Vec<Cluster> {
    let mut all = Vec::new();
    loop {
        let page = store.list_clusters(q).await.expect("page");
        assert!(page.items.len() <= q.limit as usize);
        all.extend(page.items);
        let Some(next) = page.next_cursor else { break };
        q.cursor = Some(next);
    }
    all
}

/// Filters, sort orders and keyset pages of clusters and events.
async fn listings(store: &dyn Store) {
    let prod = store.get_template("production").await.expect("production");
    for (i, region) in [
        "us-east-1",
        "us-west-2",
        "us-east-1",
        "eu-central-1",
        "us-east-1",
    ]
    .iter()
    .enumerate()
    {
        let mut c = cluster_from_template(
            &prod,
            &format!("Prod {i} {}", if i % 2 == 0 { "Alpha" } else { "Beta" }),
        );
        c.region = (*region).into();
        store
            .create_cluster(&c, "user:admin")
            .await
            .expect("prod cluster");
    }
    let q = ClusterQuery {
        environment: Some(Environment::Production),
        ..ClusterQuery::default()
    };
    assert_eq!(store.list_clusters(&q).await.expect("prod").items.len(), 5);
    let q = ClusterQuery {
        region: Some("us-east-1".into()),
        environment: Some(Environment::Production),
        ..ClusterQuery::default()
    };
    assert_eq!(
        store.list_clusters(&q).await.expect("region").items.len(),
        3
    );
    let q = ClusterQuery {
        name: Some("ALPHA".into()),
        ..ClusterQuery::default()
    };
    let alpha = store.list_clusters(&q).await.expect("name").items;
    assert_eq!(alpha.len(), 3, "case-insensitive substring");
    let q = ClusterQuery {
        name: Some("%".into()),
        ..ClusterQuery::default()
    };
    assert!(
        store
            .list_clusters(&q)
            .await
            .expect("wildcard")
            .items
            .is_empty(),
        "% is literal"
    );
    let q = ClusterQuery {
        status: Some(ClusterStatus::Degraded),
        ..ClusterQuery::default()
    };
    assert_eq!(
        store.list_clusters(&q).await.expect("status").items.len(),
        2,
        "dev and staging"
    );

    // Pages of 2 by name ascending walk every cluster exactly once, in order.
    let mut seen = Vec::new();
    let mut q = ClusterQuery {
        sort: ClusterSort::Name,
        descending: false,
        limit: 2,
        ..ClusterQuery::default()
    };
    for c in every_cluster(store, &mut q).await {
        seen.push(c.name);
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    assert_eq!(seen.len(), 7);
    for sort in [ClusterSort::CreatedAt, ClusterSort::HealthScore] {
        let mut q = ClusterQuery {
            sort,
            limit: 3,
            ..ClusterQuery::default()
        };
        let ids: Vec<_> = every_cluster(store, &mut q)
            .await
            .into_iter()
            .map(|c| c.id)
            .collect();
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!((ids.len(), unique.len()), (7, 7), "{sort}");
    }
    let wrong = ClusterQuery {
        cursor: Some("not-a-cursor".into()),
        ..ClusterQuery::default()
    };
    assert!(
        matches!(store.list_clusters(&wrong).await, Err(StoreError::Invalid(e)) if e.get("cursor").is_some())
    );

    // Events: filters and pages.
    let created = EventQuery {
        event_type: Some("cluster_created".into()),
        limit: 1000,
        ..EventQuery::default()
    };
    assert_eq!(
        store
            .list_events(&created)
            .await
            .expect("created")
            .items
            .len(),
        7
    );
    // Text: part of the message, any case, with LIKE's wildcards taken literally.
    let all = store
        .list_events(&EventQuery {
            limit: 1000,
            ..EventQuery::default()
        })
        .await
        .expect("events")
        .items;
    let sample = all.first().expect("an event").message.clone();
    let needle: String = sample
        .chars()
        .skip(2)
        .take(6)
        .collect::<String>()
        .to_uppercase();
    let found = store
        .list_events(&EventQuery {
            text: Some(needle.clone()),
            limit: 1000,
            ..EventQuery::default()
        })
        .await
        .expect("text")
        .items;
    assert!(
        found.iter().any(|e| e.message == sample),
        "{needle:?} finds {sample:?}"
    );
    assert!(
        found
            .iter()
            .all(|e| e.message.to_lowercase().contains(&needle.to_lowercase()))
    );
    let wildcard = EventQuery {
        text: Some("%_%".into()),
        limit: 1000,
        ..EventQuery::default()
    };
    assert!(
        store
            .list_events(&wildcard)
            .await
            .expect("wildcards")
            .items
            .iter()
            .all(|e| e.message.contains("%_%")),
        "% and _ are not wildcards"
    );
    let q = EventQuery {
        category: Some(EventCategory::Coordination),
        limit: 1000,
        ..EventQuery::default()
    };
    let coordination = store.list_events(&q).await.expect("coordination").items;
    assert!(
        !coordination.is_empty()
            && coordination
                .iter()
                .all(|e| e.category == EventCategory::Coordination)
    );
    let q = EventQuery {
        severity: Some(Severity::Error),
        limit: 1000,
        ..EventQuery::default()
    };
    assert!(
        store
            .list_events(&q)
            .await
            .expect("errors")
            .items
            .iter()
            .all(|e| e.severity == Severity::Error)
    );
    let mut q = EventQuery {
        limit: 4,
        ..EventQuery::default()
    };
    let mut ids = Vec::new();
    loop {
        let page = store.list_events(&q).await.expect("page");
        assert!(page.items.len() <= 4);
        ids.extend(page.items.iter().map(|e| e.id));
        let Some(next) = page.next_cursor else { break };
        q.cursor = Some(next);
    }
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );
    let all = store
        .list_events(&EventQuery {
            limit: 1000,
            ..EventQuery::default()
        })
        .await
        .expect("all")
        .items;
    assert_eq!(ids.len(), all.len());
    let newest = all[0].created_at;
    let q = EventQuery {
        since: Some(newest),
        limit: 1000,
        ..EventQuery::default()
    };
    assert!(
        store
            .list_events(&q)
            .await
            .expect("since")
            .items
            .iter()
            .all(|e| e.created_at >= newest)
    );
    let q = EventQuery {
        until: Some(all[all.len() - 1].created_at),
        limit: 1000,
        ..EventQuery::default()
    };
    assert!(store.list_events(&q).await.expect("until").items.is_empty());
}

/// Configuration changes against holdings, and tenants against `max_tenants`.
async fn configuration_and_tenants(store: &dyn Store, staging: &Cluster) {
    let mut limits = staging.limits();
    limits.max_nodes = 1;
    let lower = ClusterUpdate {
        limits: Some(limits),
        ..ClusterUpdate::default()
    };
    match store
        .update_cluster(&staging.id, &lower, "user:admin")
        .await
    {
        Err(StoreError::Rejected(e)) => assert_eq!(
            e.get("max_nodes"),
            Some("max_nodes must be at least 2 (the cluster holds 2 node(s))")
        ),
        other => panic!("lowering below holdings gave {other:?}"),
    }
    limits.max_nodes = 2;
    limits.max_tenants = 2;
    let update = ClusterUpdate {
        limits: Some(limits),
        description: Some("two tenants".into()),
        ..ClusterUpdate::default()
    };
    let c = store
        .update_cluster(&staging.id, &update, "user:admin")
        .await
        .expect("update");
    assert_eq!(
        (c.max_nodes, c.max_tenants, c.description.as_str()),
        (2, 2, "two tenants")
    );
    let last = store
        .list_events(&events_of(staging, 1))
        .await
        .expect("events")
        .items;
    assert_eq!(last[0].event_type, "cluster_config_updated");
    assert_eq!(last[0].details["max_nodes"]["to"], 2);

    let acme = store
        .create_tenant("Acme", "user:admin")
        .await
        .expect("tenant");
    let globex = store
        .create_tenant("Globex", "user:admin")
        .await
        .expect("tenant");
    let initech = store
        .create_tenant("Initech", "user:admin")
        .await
        .expect("tenant");
    assert!(
        matches!(store.create_tenant("Acme", "user:admin").await, Err(StoreError::Conflict(w)) if w == "tenant name")
    );
    assert!(matches!(
        store.create_tenant("", "user:admin").await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.list_tenants().await.expect("tenants").len(), 3);
    store
        .place_tenant(&staging.id, &acme.id, "user:admin")
        .await
        .expect("place");
    assert!(matches!(
        store
            .place_tenant(&staging.id, &acme.id, "user:admin")
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .place_tenant(&staging.id, &globex.id, "user:admin")
        .await
        .expect("place");
    match store
        .place_tenant(&staging.id, &initech.id, "user:admin")
        .await
    {
        Err(StoreError::Rejected(e)) => assert!(
            e.get("tenant_id")
                .is_some_and(|m| m.contains("max_tenants limit is 2"))
        ),
        other => panic!("third tenant gave {other:?}"),
    }
    assert!(matches!(
        store
            .place_tenant(&staging.id, "tenant-nope", "user:admin")
            .await,
        Err(StoreError::NotFound("tenant"))
    ));
    scopes(store, staging, &acme.id, &initech.id).await;
    let hosted = store.cluster_tenants(&staging.id).await.expect("hosted");
    assert_eq!(
        hosted.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["Acme", "Globex"]
    );
    tallies(store, staging).await;
    let mut fewer = limits;
    fewer.max_tenants = 1;
    let lower = ClusterUpdate {
        limits: Some(fewer),
        ..ClusterUpdate::default()
    };
    assert!(
        matches!(store.update_cluster(&staging.id, &lower, "user:admin").await, Err(StoreError::Rejected(e)) if e.get("max_tenants").is_some())
    );
    store
        .remove_tenant(&staging.id, &globex.id, "user:admin")
        .await
        .expect("remove");
    assert!(matches!(
        store
            .remove_tenant(&staging.id, &globex.id, "user:admin")
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store
            .cluster_tenants(&staging.id)
            .await
            .expect("hosted")
            .len(),
        1
    );
}

/// A page of clusters tallied in one call agrees with their nodes and
/// tenants read one cluster at a time.
async fn tallies(store: &dyn Store, staging: &Cluster) {
    let clusters = store
        .list_clusters(&ClusterQuery::default())
        .await
        .expect("clusters")
        .items;
    let mut ids: Vec<_> = clusters.iter().map(|c| c.id.clone()).collect();
    ids.reverse();
    let tallies = store.tally_clusters(&ids).await.expect("tallies");
    assert_eq!(
        tallies.iter().map(|t| &t.cluster_id).collect::<Vec<_>>(),
        ids.iter().collect::<Vec<_>>(),
        "in the order asked"
    );
    for tally in &tallies {
        let nodes = store.list_nodes(&tally.cluster_id).await.expect("nodes");
        let live = |n: &&muster_domain::Node| n.status != NodeStatus::Decommissioned;
        let counted = |n: &&muster_domain::Node| {
            !matches!(
                n.status,
                NodeStatus::Decommissioned | NodeStatus::Maintenance
            )
        };
        let tenants = store
            .cluster_tenants(&tally.cluster_id)
            .await
            .expect("tenants");
        let expected = muster_domain::ClusterTally {
            cluster_id: tally.cluster_id.clone(),
            nodes: u32::try_from(nodes.iter().filter(live).count()).expect("count"),
            counted: u32::try_from(nodes.iter().filter(counted).count()).expect("count"),
            online: u32::try_from(
                nodes
                    .iter()
                    .filter(|n| n.status == NodeStatus::Online)
                    .count(),
            )
            .expect("count"),
            primary_name: nodes.iter().find(|n| n.is_primary).map(|n| n.name.clone()),
            tenants,
        };
        assert_eq!(tally, &expected);
    }
    let mine = tallies
        .iter()
        .find(|t| t.cluster_id == staging.id)
        .expect("staging tallied");
    assert_eq!(
        mine.tenants
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["Acme", "Globex"]
    );
    assert!(
        tallies
            .iter()
            .any(|t| t.online > 0 && t.primary_name.is_some()),
        "some cluster has an online primary: {tallies:?}"
    );
    assert!(store.tally_clusters(&[]).await.expect("none").is_empty());
}

/// A tenant-scoped caller sees only the clusters hosting their tenants, and
/// only those clusters' events.
async fn scopes(store: &dyn Store, staging: &Cluster, hosted: &str, not_hosted: &str) {
    use muster_store::Scope;
    let q = ClusterQuery {
        limit: 100,
        ..ClusterQuery::default()
    };
    let mine = [hosted.to_owned()];
    let seen = store
        .list_clusters_in(&q, Scope::Tenants(&mine))
        .await
        .expect("scoped")
        .items;
    assert_eq!(
        seen.iter().map(|c| &c.id).collect::<Vec<_>>(),
        [&staging.id]
    );
    let everyone = store
        .list_clusters_in(&q, Scope::All)
        .await
        .expect("all")
        .items;
    assert!(everyone.len() > 1);
    let other = [not_hosted.to_owned()];
    assert!(
        store
            .list_clusters_in(&q, Scope::Tenants(&other))
            .await
            .expect("other")
            .items
            .is_empty()
    );
    assert!(
        store
            .list_clusters_in(&q, Scope::Tenants(&[]))
            .await
            .expect("none")
            .items
            .is_empty()
    );
    let both = [not_hosted.to_owned(), hosted.to_owned()];
    assert_eq!(
        store
            .list_clusters_in(&q, Scope::Tenants(&both))
            .await
            .expect("both")
            .items
            .len(),
        1
    );
    // Keyset pages work under a scope too.
    let paged = ClusterQuery {
        limit: 1,
        sort: ClusterSort::Name,
        descending: false,
        ..ClusterQuery::default()
    };
    let page = store
        .list_clusters_in(&paged, Scope::Tenants(&mine))
        .await
        .expect("page");
    assert_eq!((page.items.len(), page.next_cursor), (1, None));

    assert!(
        store
            .cluster_visible(&staging.id, Scope::Tenants(&mine))
            .await
            .expect("visible")
    );
    assert!(
        !store
            .cluster_visible(&staging.id, Scope::Tenants(&other))
            .await
            .expect("hidden")
    );
    let other_cluster = everyone
        .iter()
        .find(|c| c.id != staging.id)
        .expect("another cluster");
    assert!(
        !store
            .cluster_visible(&other_cluster.id, Scope::Tenants(&mine))
            .await
            .expect("hidden")
    );
    assert!(
        store
            .cluster_visible(&other_cluster.id, Scope::All)
            .await
            .expect("visible")
    );

    let events = EventQuery {
        limit: 1000,
        ..EventQuery::default()
    };
    let scoped = store
        .list_events_in(&events, Scope::Tenants(&mine))
        .await
        .expect("events")
        .items;
    assert!(!scoped.is_empty());
    assert!(
        scoped
            .iter()
            .all(|e| e.cluster_id.as_ref() == Some(&staging.id)),
        "only the hosting cluster's events"
    );
    let all = store
        .list_events_in(&events, Scope::All)
        .await
        .expect("events")
        .items;
    assert!(all.len() > scoped.len());
    assert!(
        store
            .list_events_in(&events, Scope::Tenants(&other))
            .await
            .expect("events")
            .items
            .is_empty()
    );
}

/// Metric samples are validated, written in one batch and read back per step.
async fn metrics(store: &dyn Store, dev: &Cluster, staging: &Cluster) {
    let node = &store.list_nodes(&dev.id).await.expect("nodes")[1];
    let sample: std::collections::BTreeMap<String, f64> = [
        ("cpu_usage_percent".to_owned(), 42.0),
        ("queue_depth".to_owned(), 3.0),
    ]
    .into();
    assert_eq!(
        store
            .record_metrics(&dev.id, &node.id, &sample)
            .await
            .expect("record"),
        2
    );
    let bad: std::collections::BTreeMap<String, f64> =
        [("cpu_usage_percent".to_owned(), f64::NAN)].into();
    assert!(
        matches!(store.record_metrics(&dev.id, &node.id, &bad).await, Err(StoreError::Invalid(e)) if e.get("metrics.cpu_usage_percent").is_some())
    );
    let staging_like =
        muster_domain::ClusterId::parse("cluster-zzzzzzzz-2020-01-01-00-00-00-zzzzzzzz")
            .expect("id");
    assert!(
        matches!(store.record_metrics(&staging_like, &node.id, &sample).await, Err(StoreError::Invalid(e)) if e.get("node_id").is_some())
    );

    let now = muster_store::now();
    let since = now - chrono::Duration::hours(1);
    let until = now + chrono::Duration::minutes(1);
    let raw = store
        .metric_history(&node.id, "cpu_usage_percent", since, until, MetricStep::Raw)
        .await
        .expect("raw");
    // Two samples: one from the status update in no_failover (10 %) and this one (42 %).
    let values: Vec<f64> = raw.iter().map(|p| p.avg).collect();
    assert_eq!(values, [10.0, 42.0]);
    // A name of the node's own is kept beside the standard ones: 7 from the
    // status update, 3 from this sample.
    let queue_depth = async |step, until| {
        let points = store
            .metric_history(&node.id, "queue_depth", since, until, step)
            .await
            .expect("custom metric");
        let count: u64 = points.iter().map(|p| p.count).sum();
        let lowest = points.iter().map(|p| p.min).fold(f64::MAX, f64::min);
        let highest = points.iter().map(|p| p.max).fold(f64::MIN, f64::max);
        (count, lowest, highest)
    };
    let raw_depths = store
        .metric_history(&node.id, "queue_depth", since, until, MetricStep::Raw)
        .await
        .expect("custom metric");
    let values: Vec<f64> = raw_depths.iter().map(|p| p.avg).collect();
    assert_eq!(values, [7.0, 3.0]);
    assert_eq!(queue_depth(MetricStep::Minute, until).await, (2, 3.0, 7.0));
    let minutes = store
        .metric_history(
            &node.id,
            "cpu_usage_percent",
            since,
            until,
            MetricStep::Minute,
        )
        .await
        .expect("1m");
    let total: u64 = minutes.iter().map(|p| p.count).sum();
    assert_eq!(total, 2);
    assert!(minutes.iter().all(|p| p.min <= p.avg && p.avg <= p.max));
    // A cluster's history combines its nodes' samples in each bucket.
    let other = &store.list_nodes(&dev.id).await.expect("nodes")[0];
    store
        .record_metrics(
            &dev.id,
            &other.id,
            &[("cpu_usage_percent".to_owned(), 80.0)].into(),
        )
        .await
        .expect("record");
    let per_node = async |step| {
        let mut all = Vec::new();
        for n in store.list_nodes(&dev.id).await.expect("nodes") {
            all.extend(
                store
                    .metric_history(
                        &n.id,
                        "cpu_usage_percent",
                        since,
                        until + chrono::Duration::hours(3),
                        step,
                    )
                    .await
                    .expect("node history"),
            );
        }
        all
    };
    let combined_matches = async |step| {
        let nodes: Vec<muster_domain::MetricPoint> = per_node(step).await;
        let combined = store
            .cluster_metric_history(
                &dev.id,
                "cpu_usage_percent",
                since,
                until + chrono::Duration::hours(3),
                step,
            )
            .await
            .expect("cluster history");
        assert!(!combined.is_empty());
        for p in &combined {
            let same: Vec<_> = nodes.iter().filter(|q| q.at == p.at).collect();
            assert_eq!(p.count, same.iter().map(|q| q.count).sum::<u64>(), "{p:?}");
            // Lowest and highest are samples themselves, not sums: exact.
            let lowest = same.iter().map(|q| q.min).fold(f64::MAX, f64::min);
            let highest = same.iter().map(|q| q.max).fold(f64::MIN, f64::max);
            assert_eq!((p.min, p.max), (lowest, highest));
            #[allow(clippy::cast_precision_loss)]
            let mean = same.iter().map(|q| q.avg * q.count as f64).sum::<f64>() / p.count as f64;
            assert!((p.avg - mean).abs() < 1e-9, "{p:?} against {mean}");
        }
        let total: u64 = combined.iter().map(|p| p.count).sum();
        assert_eq!(total, nodes.iter().map(|q| q.count).sum::<u64>());
        combined
    };
    let combined = combined_matches(MetricStep::Minute).await;
    assert!(combined.iter().map(|p| p.count).sum::<u64>() >= 3);
    assert!(combined.iter().any(|p| p.max >= 80.0) && combined.iter().any(|p| p.min <= 10.0));
    assert!(matches!(
        store
            .cluster_metric_history(&dev.id, "cpu_usage_percent", since, until, MetricStep::Raw)
            .await,
        Err(StoreError::Invalid(e)) if e.get("step").is_some()
    ));

    let missing = store
        .metric_history(&node.id, "no_such_metric", since, until, MetricStep::Hour)
        .await
        .expect("none");
    assert!(missing.is_empty());

    // The job rolls complete minutes and hours up, once.
    let later = now + chrono::Duration::hours(2);
    let report = store
        .roll_up_metrics(later)
        .await
        .expect("job")
        .expect("lock free");
    assert!(report.minutes >= 2 && report.hours >= 2, "{report:?}");
    let again = store
        .roll_up_metrics(later)
        .await
        .expect("job")
        .expect("lock free");
    assert_eq!(
        (again.minutes, again.hours),
        (0, 0),
        "watermarks stop double work"
    );
    let wide_until = later + chrono::Duration::hours(1);
    let cpu_history =
        |step| store.metric_history(&node.id, "cpu_usage_percent", since, wide_until, step);
    let hours = cpu_history(MetricStep::Hour).await.expect("1h");
    let h: u64 = hours.iter().map(|p| p.count).sum();
    assert_eq!(h, 2, "{hours:?}");
    let (lo, hi) = (
        hours.iter().map(|p| p.min).fold(f64::MAX, f64::min),
        hours.iter().map(|p| p.max).fold(f64::MIN, f64::max),
    );
    assert_eq!((lo, hi), (10.0, 42.0));
    for step in [MetricStep::Minute, MetricStep::Hour] {
        assert_eq!(
            queue_depth(step, wide_until).await,
            (2, 3.0, 7.0),
            "{step:?}"
        );
    }
    // After the job, from the rollups: the same figures per minute and per hour.
    combined_matches(MetricStep::Minute).await;
    let hourly = combined_matches(MetricStep::Hour).await;
    assert!(hourly.iter().map(|p| p.count).sum::<u64>() >= 3);

    // Raw samples go after 48 h; the rollups stay for the retention (7 days).
    let report = store
        .roll_up_metrics(now + chrono::Duration::hours(49))
        .await
        .expect("job")
        .expect("lock");
    assert!(report.raw_deleted >= 3, "{report:?}");
    let raw = cpu_history(MetricStep::Raw).await.expect("raw");
    assert!(raw.is_empty());
    let kept = cpu_history(MetricStep::Minute).await.expect("1m");
    assert_eq!(kept.iter().map(|p| p.count).sum::<u64>(), 2);
    let report = store
        .roll_up_metrics(now + chrono::Duration::days(8))
        .await
        .expect("job")
        .expect("lock");
    assert!(report.rollups_deleted >= 4, "{report:?}");
    let gone = cpu_history(MetricStep::Minute).await.expect("1m");
    assert!(gone.is_empty());
    // Staging keeps its rollups for 14 days.
    let staging_cpu = store
        .cluster_metric_history(
            &staging.id,
            "cpu_usage_percent",
            since,
            wide_until,
            MetricStep::Minute,
        )
        .await
        .expect("staging 1m");
    assert!(
        !staging_cpu.is_empty(),
        "a cluster's rollups go after its own retention"
    );
}

/// Decommissioning and removing nodes fails leadership over; a cluster with
/// nodes or tenants is only decommissioned by force.
async fn retirement(store: &dyn Store, staging: &Cluster) {
    let nodes = store.list_nodes(&staging.id).await.expect("nodes");
    let primary = nodes
        .iter()
        .find(|n| n.is_primary)
        .expect("a primary")
        .clone();
    let other = nodes
        .iter()
        .find(|n| !n.is_primary)
        .expect("another")
        .clone();
    store
        .update_node_status(&other.id, &online_with(5.0), "user:ops")
        .await
        .expect("other online");
    store
        .retire_node(&primary.id, false, "user:admin")
        .await
        .expect("decommission");
    let c = store.get_cluster(&staging.id).await.expect("cluster");
    assert_eq!(
        c.primary_node_id.as_ref(),
        Some(&other.id),
        "failover after decommissioning the primary"
    );
    assert_eq!(
        store.get_node(&primary.id).await.expect("kept").status,
        NodeStatus::Decommissioned
    );
    assert!(matches!(
        store.retire_node(&primary.id, false, "x").await,
        Err(StoreError::Rejected(_))
    ));

    match store
        .decommission_cluster(&staging.id, false, "user:admin")
        .await
    {
        Err(StoreError::Rejected(e)) => {
            assert!(
                e.get("force").is_some_and(|m| m.starts_with("1 node(s)")),
                "{e}"
            );
            assert!(e.get("tenants").is_some(), "{e}");
        }
        other => panic!("decommissioning a live cluster gave {other:?}"),
    }
    store
        .retire_node(&other.id, true, "user:admin")
        .await
        .expect("remove");
    assert!(matches!(
        store.get_node(&other.id).await,
        Err(StoreError::NotFound("node"))
    ));
    let c = store
        .decommission_cluster(&staging.id, true, "user:admin")
        .await
        .expect("forced");
    assert_eq!(c.status, ClusterStatus::Decommissioned);
    assert!(
        store
            .cluster_tenants(&staging.id)
            .await
            .expect("none")
            .is_empty()
    );
    assert!(matches!(
        store.decommission_cluster(&staging.id, true, "x").await,
        Err(StoreError::Rejected(_))
    ));
    let live = store
        .list_clusters(&ClusterQuery {
            limit: 100,
            ..ClusterQuery::default()
        })
        .await
        .expect("live")
        .items;
    assert!(
        live.iter().all(|x| x.id != staging.id),
        "decommissioned clusters are hidden by default"
    );
    let all = ClusterQuery {
        include_decommissioned: true,
        limit: 100,
        ..ClusterQuery::default()
    };
    assert!(
        store
            .list_clusters(&all)
            .await
            .expect("all")
            .items
            .iter()
            .any(|x| x.id == staging.id)
    );
    let types: Vec<String> = store
        .list_events(&events_of(staging, 3))
        .await
        .expect("events")
        .items
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types[0], "cluster_decommissioned");
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
        .list_events(&events_of(staging, 4))
        .await
        .expect("events")
        .items;
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
    let listed = store
        .list_clusters(&ClusterQuery::default())
        .await
        .expect("list")
        .items;
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
        .list_events(&events_of(created, 100))
        .await
        .expect("events")
        .items;
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
    let latest = store
        .list_events(&EventQuery {
            limit: 1,
            ..EventQuery::default()
        })
        .await
        .expect("latest")
        .items;
    assert_eq!(latest, [recorded]);
    assert_eq!(
        store
            .list_events(&EventQuery {
                limit: 5000,
                ..EventQuery::default()
            })
            .await
            .expect("all")
            .items
            .len(),
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
    assert_eq!(
        again
            .list_clusters(&ClusterQuery::default())
            .await
            .expect("list")
            .items
            .len(),
        6
    );
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
    assert_eq!(
        again
            .list_clusters(&ClusterQuery::default())
            .await
            .expect("list")
            .items
            .len(),
        6
    );
    again.close().await;
    db.drop().await;
}

#[tokio::test]
async fn row_level_security_on_postgres() {
    let Some(db) = testing::PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping PostgreSQL row-level security");
        return;
    };
    let store = db.connect().await;
    row_security(store.as_ref(), &db).await;
    store.close().await;
    refuses_roles_that_bypass(&db).await;
    checks_inline(&db).await;
    db.drop().await;
}

/// The policies' check is inlined into each query's plan: as a function
/// called per row it was most of what a heartbeat cost the database.
async fn checks_inline(db: &testing::PgDb) {
    let mut conn = db.raw_connection().await;
    sqlx::query(&format!("SET ROLE {}", muster_store::DEFAULT_REQUEST_ROLE))
        .execute(&mut conn)
        .await
        .expect("set role");
    for statement in [
        "SELECT id FROM cluster_nodes WHERE id = 'x'",
        "UPDATE cluster_nodes SET last_seq = 1 WHERE id = 'x'",
        "SELECT node_id FROM cluster_metrics WHERE node_id = 'x'",
    ] {
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN (VERBOSE) {statement}"))
            .fetch_all(&mut conn)
            .await
            .expect("explain");
        let plan = plan.join("\n");
        assert!(plan.contains("current_setting('muster.scope'"), "{plan}");
        assert!(!plan.contains("muster_may_see"), "{plan}");
    }
}

/// What one table shows a raw query with no filter of its own, run as the
/// request role with `scope` as the row-level security context: the cluster
/// ids of its rows.
async fn rows_seen(db: &testing::PgDb, scope: &str, table: &str) -> Vec<String> {
    let mut conn = db.raw_connection().await;
    sqlx::query(&format!("SET ROLE {}", muster_store::DEFAULT_REQUEST_ROLE))
        .execute(&mut conn)
        .await
        .expect("set role");
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("SELECT set_config('muster.scope', $1, true)")
        .bind(scope)
        .execute(&mut *tx)
        .await
        .expect("scope");
    let column = if table == "clusters" {
        "id"
    } else {
        "cluster_id"
    };
    let mut ids: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT DISTINCT COALESCE({column}, '') FROM {table}"
    ))
    .fetch_all(&mut *tx)
    .await
    .expect("select");
    ids.sort();
    ids
}

/// PostgreSQL hides other tenants' rows by itself: queries with the
/// application's filter left out, run as the request role, see only the
/// clusters the context's tenants are hosted on, and cannot write elsewhere.
async fn row_security(store: &dyn Store, db: &testing::PgDb) {
    let template = store.get_template("development").await.expect("template");
    let ours = store
        .create_cluster(&cluster_from_template(&template, "rls-ours"), "user:admin")
        .await
        .expect("ours");
    let theirs = store
        .create_cluster(
            &cluster_from_template(&template, "rls-theirs"),
            "user:admin",
        )
        .await
        .expect("theirs");
    let tenant_ours = store
        .create_tenant("RLS ours", "user:admin")
        .await
        .expect("tenant");
    let tenant_theirs = store
        .create_tenant("RLS theirs", "user:admin")
        .await
        .expect("tenant");
    store
        .place_tenant(&ours.id, &tenant_ours.id, "user:admin")
        .await
        .expect("place");
    store
        .place_tenant(&theirs.id, &tenant_theirs.id, "user:admin")
        .await
        .expect("place");
    let sample: std::collections::BTreeMap<String, f64> =
        [("cpu_usage_percent".to_owned(), 5.0)].into();
    let recorded = muster_store::now();
    for cluster in [&ours, &theirs] {
        let node = store
            .add_node(&cluster.id, &node("rls", 10.0), None, "user:admin")
            .await
            .expect("node");
        store
            .create_join_token(
                &cluster.id,
                "rls",
                &format!("rls-{}", cluster.id),
                None,
                "user:admin",
            )
            .await
            .expect("join token");
        store
            .record_metrics(&cluster.id, &node.id, &sample)
            .await
            .expect("metrics");
    }
    store
        .roll_up_metrics(recorded + chrono::Duration::minutes(2))
        .await
        .expect("roll up");

    let ours_only = vec![ours.id.to_string()];
    for table in [
        "clusters",
        "cluster_nodes",
        "cluster_events",
        "cluster_metrics",
        "cluster_metric_rollups",
        "cluster_join_tokens",
    ] {
        let everything = rows_seen(db, "*", table).await;
        assert!(
            everything.contains(&ours.id.to_string())
                && everything.contains(&theirs.id.to_string()),
            "{table}: '*' sees both clusters"
        );
        assert_eq!(
            rows_seen(db, &tenant_ours.id, table).await,
            ours_only,
            "{table}"
        );
        let two = rows_seen(
            db,
            &format!("{},{}", tenant_ours.id, tenant_theirs.id),
            table,
        )
        .await;
        assert!(
            two.contains(&ours.id.to_string())
                && two.contains(&theirs.id.to_string())
                && !two.contains(&String::new()),
            "{table}: two tenants see both clusters and no cluster-less rows"
        );
        assert!(
            rows_seen(db, "", table).await.is_empty(),
            "{table}: no scope, no rows"
        );
        assert!(
            rows_seen(db, "tnt-unknown", table).await.is_empty(),
            "{table}: unknown tenant"
        );
    }

    // Writes outside the scope are refused, not silently dropped.
    let mut conn = db.raw_connection().await;
    sqlx::query(&format!("SET ROLE {}", muster_store::DEFAULT_REQUEST_ROLE))
        .execute(&mut conn)
        .await
        .expect("set role");
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("SELECT set_config('muster.scope', $1, true)")
        .bind(&tenant_ours.id)
        .execute(&mut *tx)
        .await
        .expect("scope");
    let written = sqlx::query(
        "INSERT INTO cluster_events (cluster_id, event_type, category, severity, message, actor, created_at)
         VALUES ($1, 'probe', 'system', 'info', 'probe', 'system', now())",
    )
    .bind(theirs.id.as_str())
    .execute(&mut *tx)
    .await;
    assert!(
        written.is_err_and(|e| e.to_string().contains("row-level security")),
        "writing another tenant's event is refused"
    );
    drop(tx);
    // Without a context the request role updates nothing.
    let updated = sqlx::query("UPDATE clusters SET description = 'x'")
        .execute(&mut conn)
        .await
        .expect("update");
    assert_eq!(updated.rows_affected(), 0);
    conn.close().await.ok();
}

/// The server will not serve requests through a role row-level security does
/// not hold back.
async fn refuses_roles_that_bypass(db: &testing::PgDb) {
    let url = db.url();
    let Err(StoreError::Unavailable(why)) = muster_store::connect_as(url, "postgres").await else {
        panic!("a superuser request role is refused");
    };
    assert!(why.contains("superuser"), "{why}");
    assert!(!why.contains('\n'), "{why}");

    let mut conn = db.raw_connection().await;
    // Roles are shared by every database of the server: create it once.
    let _ = sqlx::query("CREATE ROLE muster_test_bypass NOLOGIN BYPASSRLS")
        .execute(&mut conn)
        .await;
    conn.close().await.ok();
    let Err(StoreError::Unavailable(why)) =
        muster_store::connect_as(url, "muster_test_bypass").await
    else {
        panic!("a BYPASSRLS request role is refused");
    };
    assert!(why.contains("BYPASSRLS"), "{why}");
    let Err(StoreError::Unavailable(why)) = muster_store::connect_as(url, "Robert'); --").await
    else {
        panic!("a malformed role name is refused");
    };
    assert!(why.contains("not a role name"), "{why}");
}

fn host() -> muster_domain::protocol::SystemInfo {
    muster_domain::protocol::SystemInfo {
        hostname: "edge-7".into(),
        os: "Debian GNU/Linux 13".into(),
        kernel: "6.12.0".into(),
        uptime_s: 3600,
        cpu_cores: 4,
        memory_total_gb: 8.0,
        disk_total_gb: 100.0,
    }
}

/// Join tokens: created, listed, traded for nodes, rotated, revoked, expired.
async fn join_tokens(store: &dyn Store) {
    let template = store.get_template("development").await.expect("template");
    let cluster = store
        .create_cluster(&cluster_from_template(&template, "joining"), "user:admin")
        .await
        .expect("cluster");
    let token = store
        .create_join_token(&cluster.id, " rack 4 ", "hash-1", None, "user:admin")
        .await
        .expect("create");
    assert_eq!((token.name.as_str(), token.uses), ("rack 4", 0));
    assert!(matches!(
        store.create_join_token(&cluster.id, " ", "hash-x", None, "user:admin").await,
        Err(StoreError::Invalid(e)) if e.get("name").is_some()
    ));

    let joined = store
        .register_node("hash-1", &node("edge-7", 10.0), &host(), "node-hash-1")
        .await
        .expect("register");
    assert_eq!(joined.cluster_id, cluster.id);
    assert_eq!(
        joined.system.as_ref().map(|s| s.hostname.as_str()),
        Some("edge-7")
    );
    let listed = store.list_join_tokens(&cluster.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].uses, 1);
    assert!(listed[0].last_used_at.is_some());
    assert!(matches!(
        store
            .register_node("no-such-hash", &node("x", 1.0), &host(), "node-hash-2")
            .await,
        Err(StoreError::NotFound("join token"))
    ));

    // Rotation: the old secret stops working, the new one works.
    let rotated = store
        .rotate_join_token(&cluster.id, &token.id, "hash-2", "user:admin")
        .await
        .expect("rotate");
    assert_ne!(rotated.id, token.id);
    assert_eq!(rotated.name, "rack 4");
    assert!(matches!(
        store
            .register_node("hash-1", &node("late", 1.0), &host(), "node-hash-3")
            .await,
        Err(StoreError::NotFound("join token"))
    ));
    store
        .register_node("hash-2", &node("edge-8", 1.0), &host(), "node-hash-4")
        .await
        .expect("register with the rotated token");
    assert!(
        matches!(
            store
                .rotate_join_token(&cluster.id, &token.id, "hash-9", "user:admin")
                .await,
            Err(StoreError::NotFound("join token"))
        ),
        "a revoked token cannot be rotated"
    );

    store
        .revoke_join_token(&cluster.id, &rotated.id, "user:admin")
        .await
        .expect("revoke");
    assert!(matches!(
        store
            .register_node("hash-2", &node("later", 1.0), &host(), "node-hash-5")
            .await,
        Err(StoreError::NotFound("join token"))
    ));
    assert!(matches!(
        store
            .revoke_join_token(&cluster.id, &rotated.id, "user:admin")
            .await,
        Err(StoreError::NotFound("join token"))
    ));

    // An expired token registers nothing.
    let past = muster_store::now() - chrono::Duration::minutes(1);
    store
        .create_join_token(
            &cluster.id,
            "short-lived",
            "hash-3",
            Some(past),
            "user:admin",
        )
        .await
        .expect("create");
    assert!(matches!(
        store
            .register_node("hash-3", &node("too-late", 1.0), &host(), "node-hash-6")
            .await,
        Err(StoreError::NotFound("join token"))
    ));

    let types: Vec<String> = store
        .list_events(&events_of(&cluster, 100))
        .await
        .expect("events")
        .items
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    for t in [
        "join_token_created",
        "join_token_rotated",
        "join_token_revoked",
        "node_added",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
    }

    // A decommissioned cluster takes no new tokens.
    store
        .decommission_cluster(&cluster.id, true, "user:admin")
        .await
        .expect("decommission");
    assert!(matches!(
        store
            .create_join_token(&cluster.id, "after", "hash-4", None, "user:admin")
            .await,
        Err(StoreError::NotFound("cluster"))
    ));
}

#[tokio::test]
async fn join_tokens_on_sqlite() {
    let db = testing::SqliteDb::new();
    join_tokens(db.connect().await.as_ref()).await;
}

#[tokio::test]
async fn join_tokens_on_postgres() {
    let Some(db) = testing::PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping PostgreSQL join tokens");
        return;
    };
    let store = db.connect().await;
    join_tokens(store.as_ref()).await;
    store.close().await;
    db.drop().await;
}

fn beat(
    node: &muster_domain::Node,
    seq: u64,
    cpu: f64,
    status: NodeStatus,
    at: chrono::DateTime<chrono::Utc>,
) -> muster_store::HeartbeatWrite {
    use muster_domain::protocol::{HeartbeatRequest, HostMetrics, ProcessSample};
    muster_store::HeartbeatWrite {
        node_id: node.id.clone(),
        cluster_id: node.cluster_id.clone(),
        request: HeartbeatRequest {
            protocol_version: 1,
            seq,
            status,
            metrics: HostMetrics {
                cpu_usage_percent: cpu,
                memory_usage_percent: 30.0,
                disk_usage_percent: 40.0,
                load_average: 0.5,
                network_rx_mbps: 1.0,
                network_tx_mbps: 0.5,
                process_count: 120,
            },
            system: host(),
            processes: (1..=20)
                .map(|pid| ProcessSample {
                    pid,
                    name: format!("proc-{pid}"),
                    user: "root".into(),
                    cpu_percent: f64::from(pid),
                    memory_bytes: u64::from(pid) * 1024,
                })
                .collect(),
            sampled_at: None,
        },
        received_at: at,
    }
}

/// Heartbeats: batched, idempotent by sequence number, driving liveness,
/// health and leadership; the sweep marks silent nodes unreachable then
/// offline (never inside the start-up grace window) and fails over.
async fn heartbeats(store: &dyn Store) {
    let template = store.get_template("staging").await.expect("template");
    let cluster = store
        .create_cluster(&cluster_from_template(&template, "beating"), "user:admin")
        .await
        .expect("cluster");
    let interval = i64::from(cluster.config.health_check_interval_s);
    let mut nodes = Vec::new();
    for (i, name) in ["n1", "n2", "n3"].iter().enumerate() {
        let n = store
            .add_node(
                &cluster.id,
                &node(name, 10.0),
                Some(&format!("token-{i}")),
                "user:admin",
            )
            .await
            .expect("node");
        nodes.push(n);
    }
    assert_eq!(
        store.node_for_token("token-1").await.expect("lookup"),
        Some((nodes[1].id.clone(), cluster.id.clone()))
    );
    assert_eq!(store.node_for_token("nope").await.expect("lookup"), None);

    let t0 = muster_store::now();
    let first: Vec<_> = nodes
        .iter()
        .map(|n| beat(n, 1, 10.0, NodeStatus::Online, t0))
        .collect();
    let acks = store.ingest_heartbeats(&first).await.expect("batch");
    assert_eq!(acks.len(), 3);
    let acks: Vec<_> = acks.into_iter().map(|a| a.expect("ack")).collect();
    assert!(acks.iter().all(|a| a.ack_seq == 1 && a.interval_s == 30));

    // Each node's reported processes read back, for the cluster or one node.
    let reports = store
        .node_processes(muster_store::ProcessesOf::Cluster(&cluster.id))
        .await
        .expect("processes");
    assert_eq!(
        reports.iter().map(|r| &r.node_id).collect::<Vec<_>>(),
        nodes.iter().map(|n| &n.id).collect::<Vec<_>>(),
        "in node order"
    );
    assert!(
        reports
            .iter()
            .all(|r| r.processes.len() == 20 && r.reported_at.is_some())
    );
    assert_eq!(reports[1].node_name, "n2");
    assert_eq!(reports[0].processes[4].name, "proc-5");
    let one = store
        .node_processes(muster_store::ProcessesOf::Node(&nodes[2].id))
        .await
        .expect("processes");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].node_id, nodes[2].id);
    assert_eq!(
        acks.iter().filter(|a| a.role.is_primary).count(),
        1,
        "{acks:?}"
    );
    let term = acks[0].term;
    assert!(term >= 1);
    let primary = nodes[acks
        .iter()
        .position(|a| a.role.is_primary)
        .expect("primary")]
    .clone();
    let after = store.get_cluster(&cluster.id).await.expect("cluster");
    assert_eq!(after.status, ClusterStatus::Active);
    let n0 = store.get_node(&nodes[0].id).await.expect("node");
    assert_eq!(
        (n0.status, n0.health_status),
        (NodeStatus::Online, HealthStatus::Healthy)
    );
    assert_eq!(n0.last_heartbeat_at, Some(t0));
    assert_eq!(n0.system.as_ref().map(|s| s.cpu_cores), Some(4));

    // The same sequence number again writes nothing.
    let cpu_points = |id: muster_domain::NodeId| async move {
        store
            .metric_history(
                &id,
                "cpu_usage_percent",
                t0 - chrono::Duration::hours(1),
                t0 + chrono::Duration::hours(1),
                MetricStep::Raw,
            )
            .await
            .expect("history")
            .len()
    };
    assert_eq!(cpu_points(nodes[0].id.clone()).await, 1);
    let again = store
        .ingest_heartbeats(&[beat(&nodes[0], 1, 99.0, NodeStatus::Online, t0)])
        .await
        .expect("batch");
    assert_eq!(again[0].as_ref().map(|a| a.ack_seq).ok(), Some(1));
    assert_eq!(cpu_points(nodes[0].id.clone()).await, 1);
    assert_eq!(
        store
            .get_node(&nodes[0].id)
            .await
            .expect("node")
            .health_status,
        HealthStatus::Healthy
    );

    // A hot node turns critical; a stopping agent's node goes offline at once.
    let t1 = t0 + chrono::Duration::seconds(interval);
    let others: Vec<_> = nodes
        .iter()
        .filter(|n| n.id != primary.id)
        .cloned()
        .collect();
    let batch = vec![
        beat(&others[0], 2, 95.0, NodeStatus::Online, t1),
        beat(&primary, 2, 10.0, NodeStatus::Online, t1),
        beat(&others[1], 2, 10.0, NodeStatus::Offline, t1),
    ];
    let acks = store.ingest_heartbeats(&batch).await.expect("batch");
    assert!(acks.iter().all(Result::is_ok), "{acks:?}");
    assert_eq!(
        store
            .get_node(&others[0].id)
            .await
            .expect("node")
            .health_status,
        HealthStatus::Critical
    );
    assert_eq!(
        store.get_node(&others[1].id).await.expect("node").status,
        NodeStatus::Offline
    );

    // Within the start-up grace window nothing is declared dead.
    let late = t1 + chrono::Duration::seconds(6 * interval);
    let report = store
        .sweep_liveness(late, late - chrono::Duration::seconds(1))
        .await
        .expect("sweep")
        .expect("lock");
    assert_eq!((report.unreachable, report.offline), (0, 0));

    // The primary falls silent while the hot node keeps reporting.
    let long_ago = t0 - chrono::Duration::days(1);
    let t2 = t1 + chrono::Duration::seconds(2 * interval);
    store
        .ingest_heartbeats(&[beat(&others[0], 3, 20.0, NodeStatus::Online, t2)])
        .await
        .expect("batch");
    let unreachable_at =
        t1 + muster_domain::liveness::unreachable_after(30) + chrono::Duration::seconds(1);
    let report = store
        .sweep_liveness(unreachable_at, long_ago)
        .await
        .expect("sweep")
        .expect("lock");
    assert_eq!(report.unreachable, 1, "{report:?}");
    assert_eq!(
        store.get_node(&primary.id).await.expect("node").status,
        NodeStatus::Unreachable
    );
    let t3 = t1 + chrono::Duration::seconds(4 * interval);
    store
        .ingest_heartbeats(&[beat(&others[0], 4, 20.0, NodeStatus::Online, t3)])
        .await
        .expect("batch");
    // A heartbeat that changes neither status nor health still writes its sample.
    let steady = store.get_node(&others[0].id).await.expect("node");
    assert_eq!(steady.last_heartbeat_at, Some(t3));
    assert_eq!(
        steady.usage.map(|u| (u.cpu_percent, u.at)),
        Some((20.0, t3))
    );
    let offline_at = t1 + muster_domain::liveness::offline_after(30) + chrono::Duration::seconds(1);
    let report = store
        .sweep_liveness(offline_at, long_ago)
        .await
        .expect("sweep")
        .expect("lock");
    assert_eq!(report.offline, 1, "{report:?}");
    let failed_over = store.get_cluster(&cluster.id).await.expect("cluster");
    assert_eq!(
        failed_over.primary_node_id.as_ref(),
        Some(&others[0].id),
        "automatic failover"
    );
    assert!(failed_over.term > term);
    let events: Vec<_> = store
        .list_events(&events_of(&cluster, 200))
        .await
        .expect("events")
        .items;
    let status_changes: Vec<&str> = events
        .iter()
        .filter(|e| {
            e.node_id.as_ref() == Some(&primary.id) && e.event_type == "node_status_changed"
        })
        .map(|e| e.message.as_str())
        .collect();
    assert!(
        status_changes.iter().any(|m| m.contains("unreachable")),
        "{status_changes:?}"
    );
    assert!(
        status_changes.iter().any(|m| m.contains("offline")),
        "{status_changes:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.category == EventCategory::Coordination
                && e.event_type == "node_promotion"
                && e.message.contains(others[0].id.as_str())
                && e.message.contains("unreachable")),
        "the failover says who leads now: {:?}",
        events
            .iter()
            .filter(|e| e.category == EventCategory::Coordination)
            .map(|e| (&e.event_type, &e.message))
            .collect::<Vec<_>>()
    );

    // Two heartbeats of one node in a batch: the first brings the offline node
    // back, the second changes nothing more; the row keeps the first's change.
    let back = t3 + chrono::Duration::seconds(1);
    let acks = store
        .ingest_heartbeats(&[
            beat(&primary, 3, 10.0, NodeStatus::Online, back),
            beat(&primary, 4, 12.0, NodeStatus::Online, back),
        ])
        .await
        .expect("batch");
    assert!(acks.iter().all(Result::is_ok), "{acks:?}");
    let returned = store.get_node(&primary.id).await.expect("node");
    assert_eq!(
        (returned.status, returned.health_status),
        (NodeStatus::Online, HealthStatus::Healthy)
    );
    assert_eq!(returned.usage.map(|u| u.cpu_percent), Some(12.0));

    // A heartbeat for a retired node is refused; the rest of its batch lands.
    store
        .retire_node(&others[1].id, false, "user:admin")
        .await
        .expect("retire");
    let acks = store
        .ingest_heartbeats(&[
            beat(&others[1], 9, 10.0, NodeStatus::Online, t3),
            beat(&others[0], 5, 10.0, NodeStatus::Online, t3),
        ])
        .await
        .expect("batch");
    assert!(matches!(acks[0], Err(StoreError::NotFound("node"))));
    assert_eq!(acks[1].as_ref().map(|a| a.ack_seq).ok(), Some(5));
    assert_eq!(store.node_for_token("token-2").await.expect("lookup"), None);

    // A sample replayed from an agent's spool keeps its own time, and lands
    // in rollups the job has already written.
    let job_at = t3 + chrono::Duration::hours(2);
    store
        .roll_up_metrics(job_at)
        .await
        .expect("job")
        .expect("lock");
    let minute_of_t0 = || {
        let id = others[0].id.clone();
        async move {
            store
                .metric_history(
                    &id,
                    "cpu_usage_percent",
                    t0 - chrono::Duration::minutes(1),
                    t0 + chrono::Duration::minutes(1),
                    MetricStep::Minute,
                )
                .await
                .expect("history")
                .iter()
                .map(|p| p.count)
                .sum::<u64>()
        }
    };
    let before = minute_of_t0().await;
    let mut replayed = beat(&others[0], 6, 33.0, NodeStatus::Online, job_at);
    replayed.request.sampled_at = Some(t0);
    store.ingest_heartbeats(&[replayed]).await.expect("batch");
    assert_eq!(
        minute_of_t0().await,
        before + 1,
        "folded into the written minute"
    );
}

#[tokio::test]
async fn heartbeats_on_sqlite() {
    let db = testing::SqliteDb::new();
    heartbeats(db.connect().await.as_ref()).await;
}

/// SQLite's commits leave the WAL alone (`wal_autocheckpoint = 0`); the
/// store's checkpointer copies it into the database file beside them.
#[tokio::test]
async fn sqlite_wal_reaches_the_database_file() {
    let db = testing::SqliteDb::new();
    let store = db.connect().await;
    let template = store.get_template("staging").await.expect("template");
    for i in 0..50 {
        store
            .create_cluster(
                &cluster_from_template(&template, &format!("wal-{i}")),
                "user:admin",
            )
            .await
            .expect("cluster");
    }
    let muster_store::DatabaseUrl::Sqlite { path: Some(path) } = db.url() else {
        panic!("a file database");
    };
    // The database as readers see it (WAL included), in bytes.
    let mut reader = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
        .await
        .expect("reader");
    let logical: i64 = sqlx::query_scalar(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    )
    .fetch_one(&mut reader)
    .await
    .expect("size");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let on_disk = loop {
        let on_disk = std::fs::metadata(&path).expect("database file").len();
        if i64::try_from(on_disk).expect("size") >= logical || std::time::Instant::now() > deadline
        {
            break on_disk;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        i64::try_from(on_disk).expect("size") >= logical,
        "the database file holds {on_disk} of {logical} bytes: the WAL was never copied in"
    );
    reader.close().await.expect("close reader");
    store.close().await;
}

#[tokio::test]
async fn heartbeats_on_postgres() {
    let Some(db) = testing::PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping PostgreSQL heartbeats");
        return;
    };
    let store = db.connect().await;
    heartbeats(store.as_ref()).await;
    store.close().await;
    db.drop().await;
}

/// On PostgreSQL a heartbeat that changes no status waits on no lock: while
/// another transaction holds the node's cluster (as the liveness sweep or an
/// operation does) it is committed all the same, and a heartbeat for a node
/// that transaction holds is written once it ends, without a deadlock.
#[tokio::test]
async fn heartbeats_wait_for_no_cluster_lock_on_postgres() {
    let Some(db) = testing::PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping PostgreSQL heartbeat locking");
        return;
    };
    let store = db.connect().await;
    let template = store.get_template("staging").await.expect("template");
    let cluster = store
        .create_cluster(&cluster_from_template(&template, "locked"), "user:admin")
        .await
        .expect("cluster");
    let mut nodes = Vec::new();
    for name in ["free", "held"] {
        let n = store
            .add_node(&cluster.id, &node(name, 10.0), None, "user:admin")
            .await
            .expect("node");
        nodes.push(n);
    }
    let t0 = muster_store::now();
    let first: Vec<_> = nodes
        .iter()
        .map(|n| beat(n, 1, 10.0, NodeStatus::Online, t0))
        .collect();
    for ack in store.ingest_heartbeats(&first).await.expect("first batch") {
        assert_eq!(ack.expect("ack").ack_seq, 1);
    }

    let mut holder = db.raw_connection().await;
    let mut tx = holder.begin().await.expect("begin");
    sqlx::query("SELECT id FROM clusters WHERE id = $1 FOR UPDATE")
        .bind(cluster.id.as_str())
        .execute(&mut *tx)
        .await
        .expect("lock the cluster");
    sqlx::query("SELECT id FROM cluster_nodes WHERE id = $1 FOR UPDATE")
        .bind(nodes[1].id.as_str())
        .execute(&mut *tx)
        .await
        .expect("lock a node");

    let t1 = t0 + chrono::Duration::seconds(5);
    let second: Vec<_> = nodes
        .iter()
        .map(|n| beat(n, 2, 12.0, NodeStatus::Online, t1))
        .collect();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { store.ingest_heartbeats(&second).await })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let free = store.get_node(&nodes[0].id).await.expect("node");
        if free.last_heartbeat_at == Some(t1) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a steady heartbeat waited for another transaction's cluster lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let held = store.get_node(&nodes[1].id).await.expect("node");
    assert_eq!(
        held.last_heartbeat_at,
        Some(t0),
        "the held node's row was written under its lock"
    );
    // The holder goes on to write the node the batch wrote first: no deadlock.
    sqlx::query("UPDATE cluster_nodes SET updated_at = updated_at WHERE id = $1")
        .bind(nodes[0].id.as_str())
        .execute(&mut *tx)
        .await
        .expect("the holder writes the first node");
    tx.commit().await.expect("commit");

    let acks = writer.await.expect("join").expect("second batch");
    for ack in acks {
        assert_eq!(ack.expect("ack").ack_seq, 2);
    }
    let held = store.get_node(&nodes[1].id).await.expect("node");
    assert_eq!(held.last_heartbeat_at, Some(t1));
    store.close().await;
    db.drop().await;
}

/// The next change set `feed` receives, within a few seconds.
async fn next_set(
    feed: &mut tokio::sync::broadcast::Receiver<muster_store::ChangeSet>,
) -> muster_store::ChangeSet {
    tokio::time::timeout(std::time::Duration::from_secs(5), feed.recv())
        .await
        .expect("a change set within 5 s")
        .expect("the feed is open and this subscriber kept up")
}

/// The change feed: each committed write publishes the rows it changed as
/// committed, its events and samples, to every subscriber (on PostgreSQL to
/// every store on the database, `other` being a second replica's); a write
/// that fails publishes nothing.
async fn change_feed(store: &dyn Store, other: &dyn Store) {
    use muster_store::Change;
    let mut feeds = [store.changes(), other.changes()];
    let template = store.get_template("staging").await.expect("template");
    let cluster = store
        .create_cluster(&cluster_from_template(&template, "watched"), "user:admin")
        .await
        .expect("cluster");
    for feed in &mut feeds {
        let set = next_set(feed).await;
        assert!(
            matches!(&set[..], [Change::Cluster { cluster: c }, Change::Event { event }]
                if c == &cluster && event.event_type == "cluster_created"),
            "{set:?}"
        );
    }

    let added = store
        .add_node(&cluster.id, &node("w1", 10.0), None, "user:admin")
        .await
        .expect("node");
    for feed in &mut feeds {
        let set = next_set(feed).await;
        assert!(
            set.contains(&Change::Node {
                node: added.clone()
            }),
            "{set:?}"
        );
        assert!(
            set.iter()
                .any(|c| matches!(c, Change::Event { event } if event.event_type == "node_added"))
        );
    }

    // A heartbeat that brings the node online: its sample, the node and
    // cluster as committed, the status event.
    let t0 = muster_store::now();
    let acks = store
        .ingest_heartbeats(&[beat(&added, 1, 15.0, NodeStatus::Online, t0)])
        .await
        .expect("ingest");
    assert!(acks[0].is_ok());
    for feed in &mut feeds {
        let set = next_set(feed).await;
        let node = set
            .iter()
            .find_map(|c| match c {
                Change::Node { node } => Some(node),
                _ => None,
            })
            .expect("the node changed");
        assert_eq!(node.status, NodeStatus::Online);
        assert_eq!(node.last_heartbeat_at, Some(t0));
        assert!(
            set.iter()
                .any(|c| matches!(c, Change::Cluster { cluster: c } if c.id == cluster.id))
        );
        assert!(set.iter().any(
            |c| matches!(c, Change::Event { event } if event.event_type == "node_status_changed")
        ));
        let sample = set
            .iter()
            .find_map(|c| match c {
                Change::Sample { sample } => Some(sample),
                _ => None,
            })
            .expect("the sample");
        assert_eq!(sample.node_id, added.id);
        assert_eq!(sample.cluster_id, cluster.id);
        assert!((sample.metrics.cpu_usage_percent - 15.0).abs() < f64::EPSILON);
    }

    // A steady heartbeat changes no row worth sending: only its sample.
    let t1 = t0 + chrono::Duration::seconds(5);
    store
        .ingest_heartbeats(&[beat(&added, 2, 16.0, NodeStatus::Online, t1)])
        .await
        .expect("ingest");
    for feed in &mut feeds {
        let set = next_set(feed).await;
        assert!(
            matches!(&set[..], [Change::Sample { sample }] if sample.recorded_at == t1),
            "{set:?}"
        );
    }

    // A refused write publishes nothing: the next set is the write after it.
    let refused = store
        .decommission_cluster(&cluster.id, false, "user:admin")
        .await;
    assert!(
        refused.is_err(),
        "a cluster with live nodes is not decommissioned without force"
    );
    let tenant = store
        .create_tenant("watchers", "user:admin")
        .await
        .expect("tenant");
    for feed in &mut feeds {
        let set = next_set(feed).await;
        assert!(
            set.iter().any(
                |c| matches!(c, Change::Event { event } if event.event_type == "tenant_created")
            ),
            "{set:?}"
        );
        assert!(
            !set.contains(&Change::Access),
            "creating a tenant changes nobody's access"
        );
    }
    store
        .place_tenant(&cluster.id, &tenant.id, "user:admin")
        .await
        .expect("place");
    for feed in &mut feeds {
        let set = next_set(feed).await;
        assert_eq!(set.last(), Some(&Change::Access), "{set:?}");
    }
    assert_eq!(
        other
            .clusters_hosting(std::slice::from_ref(&tenant.id))
            .await
            .expect("hosting"),
        std::slice::from_ref(&cluster.id)
    );
    assert!(
        store
            .clusters_hosting(&["nobody".into()])
            .await
            .expect("hosting")
            .is_empty()
    );

    // Ending a session is an access change too (streams signed in with it stop).
    let session = muster_store::SessionRecord {
        id: "feed-session".into(),
        user_id: None,
        data: "{}".into(),
        expires_at: t0 + chrono::Duration::minutes(30),
    };
    assert!(store.session_create(&session).await.expect("session"));
    store.session_delete(&session.id).await.expect("delete");
    for feed in &mut feeds {
        assert_eq!(&next_set(feed).await[..], [Change::Access]);
    }

    // A removed node is announced as removed.
    store
        .retire_node(&added.id, true, "user:admin")
        .await
        .expect("remove");
    for feed in &mut feeds {
        let set = next_set(feed).await;
        assert!(
            set.contains(&Change::NodeRemoved {
                node_id: added.id.clone(),
                cluster_id: cluster.id.clone()
            }),
            "{set:?}"
        );
    }
}

#[tokio::test]
async fn change_feed_on_sqlite() {
    let db = testing::SqliteDb::new();
    let store = db.connect().await;
    change_feed(store.as_ref(), store.as_ref()).await;
    store.close().await;
}

#[tokio::test]
async fn change_feed_across_replicas_on_postgres() {
    let Some(db) = testing::PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping the PostgreSQL change feed");
        return;
    };
    let store = db.connect().await;
    let replica = db.connect().await;
    change_feed(store.as_ref(), replica.as_ref()).await;
    store.close().await;
    replica.close().await;
    db.drop().await;
}

/// Catalog operations: dry runs change nothing, guards hold until forced,
/// every run (refusals included) lands in the history with its event, the
/// rate limit counts per user and class, agent-side runs are delivered once
/// in a heartbeat answer, reported on, or time out, and maintenance ends at
/// its expiry.
async fn operations(store: &dyn Store) {
    use muster_domain::operations::{
        Guard, OperationName as Op, OperationQuery, OperationReport, OperationStatus,
        OperationSubject,
    };
    use muster_store::{OperationOutcome, OperationRun};
    use serde_json::json;

    let user = store
        .create_user(
            &muster_store::NewUser {
                username: "operator-ops".into(),
                password_hash: "x".into(),
                role: muster_domain::users::Role::Admin,
                tenants: vec![],
            },
            "system",
        )
        .await
        .expect("user");
    let template = store.get_template("staging").await.expect("template");
    let cluster = store
        .create_cluster(&cluster_from_template(&template, "operated"), "user:admin")
        .await
        .expect("cluster");
    let mut nodes = Vec::new();
    for (i, name) in ["o1", "o2", "o3"].iter().enumerate() {
        let n = store
            .add_node(
                &cluster.id,
                &node(name, 10.0),
                Some(&format!("op-token-{i}")),
                "user:admin",
            )
            .await
            .expect("node");
        nodes.push(n);
    }
    let t0 = muster_store::now();
    let first: Vec<_> = nodes
        .iter()
        .map(|n| beat(n, 1, 10.0, NodeStatus::Online, t0))
        .collect();
    store.ingest_heartbeats(&first).await.expect("online");
    let cluster = store.get_cluster(&cluster.id).await.expect("cluster");
    let primary = cluster.primary_node_id.clone().expect("a primary");
    assert_eq!(primary, nodes[0].id);
    let run = |operation, subject: OperationSubject, params: serde_json::Value| OperationRun {
        operation,
        subject,
        params: match params {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        },
        force: false,
        dry_run: false,
        actor: "user:operator-ops".into(),
        actor_id: user.id.clone(),
        new_token_hash: None,
    };
    let on = |i: usize| OperationSubject::Node(nodes[i].id.clone());
    let history = |q: OperationQuery| async move {
        store
            .list_operations_in(&q, muster_store::Scope::All)
            .await
            .expect("history")
            .items
    };
    let of_cluster = OperationQuery {
        cluster_id: Some(cluster.id.clone()),
        ..OperationQuery::default()
    };

    // A dry run judges, and changes nothing.
    let dry = OperationRun {
        dry_run: true,
        ..run(Op::Drain, on(0), json!({}))
    };
    let OperationOutcome::Planned(impact) = store.run_operation(&dry).await.expect("dry run")
    else {
        panic!("a dry run plans");
    };
    assert_eq!(impact.guards, [Guard::Primary, Guard::Coordinator]);
    assert_eq!(impact.leadership_after.primary, Some(nodes[1].id.clone()));
    assert_eq!(
        store.get_node(&nodes[0].id).await.expect("node").status,
        NodeStatus::Online
    );
    assert!(history(of_cluster.clone()).await.is_empty());

    // Guarded until forced.
    let drain = run(Op::Drain, on(0), json!({"reason": "kernel upgrade"}));
    assert!(matches!(
        store.run_operation(&drain).await.expect("guarded"),
        OperationOutcome::Guarded(i) if i.needs_force()
    ));
    assert!(
        history(of_cluster.clone()).await.is_empty(),
        "a refusal by a guard is no run"
    );
    let forced = OperationRun {
        force: true,
        ..drain.clone()
    };
    let OperationOutcome::Done { record, .. } = store.run_operation(&forced).await.expect("drain")
    else {
        panic!("forced drain runs");
    };
    assert_eq!(record.status, OperationStatus::Succeeded);
    assert!(record.forced && record.duration_ms.is_some());
    assert_eq!(record.params.get("reason"), Some(&json!("kernel upgrade")));
    let after = store.get_cluster(&cluster.id).await.expect("cluster");
    assert_eq!(after.primary_node_id, Some(nodes[1].id.clone()), "failover");
    assert_eq!(after.term, cluster.term + 1);
    assert_eq!(
        store.get_node(&nodes[0].id).await.expect("node").status,
        NodeStatus::Draining
    );
    let events = store
        .list_events(&events_of(&cluster, 10))
        .await
        .expect("events")
        .items;
    let executed = events
        .iter()
        .find(|e| e.event_type == "operation_executed")
        .expect("operation_executed");
    assert_eq!(executed.details["operation_id"], json!(record.id));
    assert_eq!(executed.severity, Severity::Warning, "forced");
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "node_status_changed" && e.message.contains("kernel upgrade"))
    );

    // A run the cluster refuses is in the history as failed.
    let again = store.run_operation(&forced).await;
    assert!(
        matches!(&again, Err(StoreError::Rejected(e)) if e.get("node_id").is_some()),
        "{again:?}"
    );
    let failed = history(OperationQuery {
        status: Some(OperationStatus::Failed),
        ..of_cluster.clone()
    })
    .await;
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].result.contains("draining already"),
        "{}",
        failed[0].result
    );

    // Uncordoning ends the drain; cordoning guards nothing but is refused twice.
    let OperationOutcome::Done { record, .. } = store
        .run_operation(&run(Op::Uncordon, on(0), json!({})))
        .await
        .expect("uncordon")
    else {
        panic!("uncordon runs");
    };
    assert!(
        record.result.contains("no longer draining"),
        "{}",
        record.result
    );
    assert_eq!(
        store.get_node(&nodes[0].id).await.expect("node").status,
        NodeStatus::Online
    );
    store
        .run_operation(&run(Op::Cordon, on(2), json!({})))
        .await
        .expect("cordon");
    assert!(store.get_node(&nodes[2].id).await.expect("node").cordoned);
    assert!(
        store
            .run_operation(&run(Op::Cordon, on(2), json!({})))
            .await
            .is_err()
    );

    // Promoting a cordoned node is guarded; choosing a coordinator moves the term.
    assert!(matches!(
        store.run_operation(&run(Op::PromotePrimary, on(2), json!({}))).await.expect("guarded"),
        OperationOutcome::Guarded(i) if i.guards == [Guard::NotCandidate]
    ));
    let before = store.get_cluster(&cluster.id).await.expect("cluster");
    store
        .run_operation(&run(Op::SetCoordinator, on(0), json!({})))
        .await
        .expect("coordinator");
    let after = store.get_cluster(&cluster.id).await.expect("cluster");
    assert_eq!(after.coordinator_node_id, Some(nodes[0].id.clone()));
    assert_eq!(after.primary_node_id, before.primary_node_id);
    assert_eq!(after.term, before.term + 1);

    // Maintenance with an expiry ends by itself at the sweep after it.
    let soon = (muster_store::now() + chrono::Duration::seconds(1)).to_rfc3339();
    store
        .run_operation(&run(
            Op::MaintenanceOn,
            on(2),
            json!({"reason": "disk swap", "expires_at": soon}),
        ))
        .await
        .expect("maintenance");
    assert_eq!(
        store.get_node(&nodes[2].id).await.expect("node").status,
        NodeStatus::Maintenance
    );
    let report = store
        .sweep_liveness(muster_store::now() + chrono::Duration::seconds(2), t0)
        .await
        .expect("sweep")
        .expect("swept");
    assert_eq!(report.maintenance_ended, 1);
    assert_eq!(
        store.get_node(&nodes[2].id).await.expect("node").status,
        NodeStatus::Online
    );

    // Agent-side: queued with the term, delivered once, reported on.
    let OperationOutcome::Done { record: queued, .. } = store
        .run_operation(&run(Op::CollectNow, on(1), json!({})))
        .await
        .expect("collect_now")
    else {
        panic!("queued");
    };
    let term = store.get_cluster(&cluster.id).await.expect("cluster").term;
    assert_eq!(
        (queued.status, queued.term),
        (OperationStatus::Pending, Some(term))
    );
    assert!(queued.expires_at.is_some());
    let acks = store
        .ingest_heartbeats(&[beat(
            &nodes[1],
            2,
            10.0,
            NodeStatus::Online,
            muster_store::now(),
        )])
        .await
        .expect("beat");
    let ack = acks[0].as_ref().expect("ack");
    assert_eq!(ack.operations.len(), 1);
    assert_eq!(ack.operations[0].id, queued.id.to_string());
    assert_eq!(ack.operations[0].operation, Op::CollectNow);
    let acks = store
        .ingest_heartbeats(&[beat(
            &nodes[1],
            3,
            10.0,
            NodeStatus::Online,
            muster_store::now(),
        )])
        .await
        .expect("beat");
    assert!(
        acks[0].as_ref().expect("ack").operations.is_empty(),
        "delivered once"
    );
    let done = OperationReport {
        ok: true,
        message: "heartbeat sent".into(),
        output: json!({"seq": 4}),
    };
    assert!(
        matches!(
            store.report_operation(&nodes[0].id, queued.id, &done).await,
            Err(StoreError::NotFound("operation"))
        ),
        "another node's operation"
    );
    let finished = store
        .report_operation(&nodes[1].id, queued.id, &done)
        .await
        .expect("report");
    assert_eq!(finished.status, OperationStatus::Succeeded);
    assert!(finished.delivered_at.is_some() && finished.finished_at.is_some());
    assert!(
        store
            .report_operation(&nodes[1].id, queued.id, &done)
            .await
            .is_err(),
        "once"
    );

    // An operation its node never picks up times out, with an event.
    let OperationOutcome::Done { record: lost, .. } = store
        .run_operation(&run(
            Op::SignalProcess,
            on(0),
            json!({"pid": 4242, "signal": "TERM"}),
        ))
        .await
        .expect("signal")
    else {
        panic!("queued");
    };
    let report = store
        .sweep_liveness(muster_store::now() + chrono::Duration::minutes(10), t0)
        .await
        .expect("sweep")
        .expect("swept");
    assert_eq!(report.operations_timed_out, 1);
    let timed_out = history(OperationQuery {
        status: Some(OperationStatus::TimedOut),
        ..of_cluster.clone()
    })
    .await;
    assert_eq!(timed_out.len(), 1);
    assert_eq!(timed_out[0].id, lost.id);
    assert!(timed_out[0].result.contains("never picked it up"));
    let timeouts = store
        .list_events(&EventQuery {
            event_type: Some("operation_timed_out".into()),
            ..events_of(&cluster, 10)
        })
        .await
        .expect("events")
        .items;
    assert_eq!(timeouts.len(), 1);

    // A new node token replaces the old one at once.
    let rotate = OperationRun {
        new_token_hash: Some("op-token-new".into()),
        ..run(Op::RotateNodeToken, on(1), json!({}))
    };
    store.run_operation(&rotate).await.expect("rotate");
    assert_eq!(
        store.node_for_token("op-token-1").await.expect("lookup"),
        None
    );
    assert!(
        store
            .node_for_token("op-token-new")
            .await
            .expect("lookup")
            .is_some()
    );

    // The rate limit: disruptive runs (drain twice, coordinator, maintenance,
    // signal, rotation so far) stop at ten a minute per user.
    for _ in 0..4 {
        store.run_operation(&rotate).await.expect("rotate");
    }
    let limited = store.run_operation(&rotate).await.expect("limited");
    assert!(
        matches!(limited, OperationOutcome::RateLimited { retry_after_s } if (1..=60).contains(&retry_after_s)),
        "{limited:?}"
    );
    let other = OperationRun {
        actor_id: "someone-else".into(),
        ..rotate.clone()
    };
    assert!(matches!(
        store.run_operation(&other).await.expect("another user"),
        OperationOutcome::Done { .. }
    ));

    // Cluster operations: templates from the cluster's environment only.
    let apply = |name: &str| {
        run(
            Op::ApplyTemplate,
            OperationSubject::Cluster(cluster.id.clone()),
            json!({"template": name}),
        )
    };
    assert!(matches!(
        store.run_operation(&apply("production")).await,
        Err(StoreError::Invalid(e)) if e.get("params.template").is_some()
    ));
    assert!(matches!(
        store.run_operation(&apply("nonesuch")).await,
        Err(StoreError::Invalid(e)) if e.get("params.template").is_some()
    ));
    store.run_operation(&apply("staging")).await.expect("apply");
    let decommission = run(
        Op::DecommissionCluster,
        OperationSubject::Cluster(cluster.id.clone()),
        json!({}),
    );
    assert!(matches!(
        store.run_operation(&decommission).await.expect("guarded"),
        OperationOutcome::Guarded(i) if i.guards == [Guard::LiveNodes]
    ));

    // The history: filters, scope and pages.
    let all = history(OperationQuery {
        limit: 1000,
        ..of_cluster.clone()
    })
    .await;
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let of_node = history(OperationQuery {
        node_id: Some(nodes[1].id.clone()),
        operation: Some(Op::CollectNow),
        ..OperationQuery::default()
    })
    .await;
    assert_eq!(of_node.len(), 1);
    let hidden = store
        .list_operations_in(
            &of_cluster,
            muster_store::Scope::Tenants(&["tnt-nobody".into()]),
        )
        .await
        .expect("scoped");
    assert!(hidden.items.is_empty());
    let page = store
        .list_operations_in(
            &OperationQuery {
                limit: 2,
                ..of_cluster.clone()
            },
            muster_store::Scope::All,
        )
        .await
        .expect("page");
    let next = store
        .list_operations_in(
            &OperationQuery {
                limit: 2,
                cursor: page.next_cursor.clone(),
                ..of_cluster.clone()
            },
            muster_store::Scope::All,
        )
        .await
        .expect("next page");
    assert_eq!(next.items[0].id, all[2].id);
}

#[tokio::test]
async fn operations_on_sqlite() {
    let db = testing::SqliteDb::new();
    let store = db.connect().await;
    operations(store.as_ref()).await;
    store.close().await;
}

#[tokio::test]
async fn operations_on_postgres() {
    let Some(db) = testing::PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping PostgreSQL operations");
        return;
    };
    let store = db.connect().await;
    operations(store.as_ref()).await;
    store.close().await;
    db.drop().await;
}

/// The metrics job rolls every node's samples up, however many (SQLite goes
/// a slice of time per transaction and merges the slices of a minute), and
/// deletes every expired sample however many (SQLite: a slice per
/// transaction).
async fn rollups_of_many_nodes(store: &dyn Store) {
    const NODES: usize = 150;
    let production = store.get_template("production").await.expect("template");
    let mut wanted = cluster_from_template(&production, "Fleet");
    wanted.limits.max_nodes = 200;
    wanted.limits.max_storage_gb = 100_000;
    let cluster = store
        .create_cluster(&wanted, "user:admin")
        .await
        .expect("cluster");
    let mut ids = Vec::new();
    for i in 0..NODES {
        let n = store
            .add_node(
                &cluster.id,
                &node(&format!("fleet-{i:03}"), 10.0),
                None,
                "user:admin",
            )
            .await
            .expect("node");
        ids.push(n.id);
    }
    // Two samples a node, further apart than one slice of the job.
    let record = async |offset: f64| {
        for (i, id) in ids.iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let metrics = [("queue_depth".to_owned(), i as f64 + offset)].into();
            store
                .record_metrics(&cluster.id, id, &metrics)
                .await
                .expect("record");
        }
    };
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    record(0.0).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    record(1000.0).await;
    let now = chrono::Utc::now();
    let until = now + chrono::Duration::hours(1);
    let report = store
        .roll_up_metrics(now + chrono::Duration::minutes(2))
        .await
        .expect("job")
        .expect("lock free");
    assert!(report.minutes >= NODES as u64, "{report:?}");
    // Every node's minutes come from the rollups now, with both its samples.
    for (i, id) in ids.iter().enumerate() {
        let minutes = store
            .metric_history(id, "queue_depth", since, until, MetricStep::Minute)
            .await
            .expect("1m");
        #[allow(clippy::cast_precision_loss)]
        let own = i as f64;
        let count: u64 = minutes.iter().map(|p| p.count).sum();
        let lowest = minutes.iter().map(|p| p.min).fold(f64::MAX, f64::min);
        let highest = minutes.iter().map(|p| p.max).fold(f64::MIN, f64::max);
        assert_eq!(
            (count, lowest, highest),
            (2, own, own + 1000.0),
            "node {i}: {minutes:?}"
        );
        #[allow(clippy::cast_precision_loss)]
        let mean = minutes.iter().map(|p| p.avg * p.count as f64).sum::<f64>() / 2.0;
        assert!((mean - (own + 500.0)).abs() < 1e-9, "node {i}: {minutes:?}");
    }
    let combined = store
        .cluster_metric_history(&cluster.id, "queue_depth", since, until, MetricStep::Minute)
        .await
        .expect("cluster 1m");
    assert_eq!(
        combined.iter().map(|p| p.count).sum::<u64>(),
        2 * NODES as u64
    );

    let report = store
        .roll_up_metrics(now + chrono::Duration::hours(49))
        .await
        .expect("job")
        .expect("lock free");
    assert!(report.raw_deleted >= 2 * NODES as u64, "{report:?}");
    for id in &ids {
        let raw = store
            .metric_history(id, "queue_depth", since, until, MetricStep::Raw)
            .await
            .expect("raw");
        assert!(raw.is_empty());
    }
}

#[tokio::test]
async fn rollups_of_many_nodes_on_sqlite() {
    let db = testing::SqliteDb::new();
    rollups_of_many_nodes(db.connect().await.as_ref()).await;
}

#[tokio::test]
async fn rollups_of_many_nodes_on_postgres() {
    let Some(db) = testing::PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping PostgreSQL rollups");
        return;
    };
    let store = db.connect().await;
    rollups_of_many_nodes(store.as_ref()).await;
    store.close().await;
    db.drop().await;
}
