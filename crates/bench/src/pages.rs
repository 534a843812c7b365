//! `muster-bench pages`: how long the dashboard's pages take to render on
//! the server with a large fleet in the database. A real `muster serve`
//! process gets the clusters and nodes through the API and the agent
//! protocol (the nodes of the cluster whose pages are measured report, so
//! they have metrics, processes and events; the rest stay provisioning),
//! then a signed-in client fetches each page one request at a time and the
//! whole body's time is recorded.

use std::sync::Arc;
use std::time::Instant;

use crate::{Servers, load, target};

/// What a run measures.
pub struct PagesPlan {
    pub clusters: u32,
    pub nodes: u32,
    pub requests: u32,
}

/// One page's figures.
struct PageRow {
    path: String,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    kib: f64,
}

/// Fetches `path` `requests` times (after two warm-up fetches) and sums it up.
#[allow(clippy::cast_precision_loss)]
async fn measure(server: &target::Muster, path: &str, requests: u32) -> Result<PageRow, String> {
    for _ in 0..2 {
        server.page(path).await?;
    }
    let mut micros = Vec::with_capacity(requests as usize);
    let mut bytes = 0;
    for _ in 0..requests {
        let (status, size, took) = server.page(path).await?;
        if status != 200 {
            return Err(format!("{path} answered {status}"));
        }
        bytes = size;
        micros.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
    }
    Ok(PageRow {
        path: path.to_owned(),
        p50_ms: load::quantile_ms(&mut micros, 0.50),
        p99_ms: load::quantile_ms(&mut micros, 0.99),
        max_ms: load::quantile_ms(&mut micros, 1.0),
        kib: bytes as f64 / 1024.0,
    })
}

/// The pages to time: lists, `cluster`, one of its nodes, its processes.
async fn paths(server: &target::Muster, cluster: &str) -> Result<Vec<String>, String> {
    let nodes = server
        .api_get(&format!("/api/v1/clusters/{cluster}/nodes"))
        .await?;
    let node = nodes
        .as_array()
        .and_then(|n| n.get(n.len() / 2))
        .and_then(|n| n["id"].as_str())
        .ok_or("the cluster has no nodes")?
        .to_owned();
    Ok(vec![
        "/".into(),
        "/clusters".into(),
        "/clusters?sort=-health_score".into(),
        format!("/clusters/{cluster}"),
        format!("/nodes/{node}"),
        "/events".into(),
        format!("/events?cluster_id={cluster}"),
        format!("/processes?cluster_id={cluster}"),
        "/admin/users".into(),
    ])
}

pub async fn pages(plan: &PagesPlan, servers: &Servers) -> Result<(), String> {
    let server_bin = servers.server_bin()?;
    let per_cluster = plan.nodes.div_ceil(plan.clusters.max(1));
    println!(
        "pages: {} clusters of {per_cluster} nodes ({} nodes; those of the measured cluster reported once); {} requests per page, one at a time, signed in as an admin",
        plan.nodes.div_ceil(per_cluster.max(1)),
        plan.nodes,
        plan.requests
    );
    println!(
        "machine: {} CPU(s); time = request sent -> whole server-rendered body received",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    for db in servers.databases() {
        let server = target::Muster::start(&server_bin, db, &servers.postgres_url).await?;
        eprintln!("{db}: registering {} nodes…", plan.nodes);
        let started = Instant::now();
        let (nodes, clusters) = server.register_in(plan.nodes, per_cluster).await?;
        eprintln!(
            "{db}: registered in {:.0} s; the measured cluster's nodes report…",
            started.elapsed().as_secs_f64()
        );
        // The nodes come cluster by cluster; registration went round the
        // clusters, so the first `nodes % clusters` have one more.
        let middle = clusters.len() / 2;
        let cluster = clusters.get(middle).ok_or("no cluster was created")?;
        let (each, extra) = (nodes.len() / clusters.len(), nodes.len() % clusters.len());
        let from = middle * each + middle.min(extra);
        let reporting: Vec<load::VirtualNode> = nodes
            .iter()
            .skip(from)
            .take(each + usize::from(middle < extra))
            .map(|n| load::VirtualNode::new(n.token.clone()))
            .collect();
        let first = load::once_each(&server.heartbeat_url(), &Arc::new(reporting), 8).await;
        if first.errors > 0 {
            return Err(format!("{db}: {} heartbeats failed", first.errors));
        }
        println!("{db}:");
        println!(
            "  {:<58} {:>9} {:>9} {:>9} {:>9}",
            "page", "p50 ms", "p99 ms", "max ms", "KiB"
        );
        for path in paths(&server, cluster).await? {
            let row = measure(&server, &path, plan.requests).await?;
            let shown: String = row.path.chars().take(58).collect();
            println!(
                "  {shown:<58} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                row.p50_ms, row.p99_ms, row.max_ms, row.kib
            );
        }
        server.stop().await;
    }
    Ok(())
}
