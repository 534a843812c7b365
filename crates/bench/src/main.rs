//! `muster-bench`: load benchmarks that print figures.
//!
//! `muster-bench heartbeats` starts a real `muster serve` process on SQLite
//! and on PostgreSQL, registers virtual nodes through the agent protocol,
//! and drives heartbeats (7 metrics and 20 processes each) over HTTP: first
//! as fast as a fixed number of connections allows (the sustained maximum),
//! then at a fixed offered rate (latency at that load). The same load against
//! a bare axum endpoint that only parses the same JSON gives the ceiling.
//!
//! `muster-bench live` measures the WebSocket stream's delivery,
//! `muster-bench pages` the server-side rendering of the dashboard's pages
//! with a large fleet in the database, and `muster-bench simulate` what one
//! `muster-agent simulate` process costs to drive a large fleet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};

mod live;
mod load;
mod pages;
mod simulate;
mod target;

#[derive(Debug, Parser)]
#[command(name = "muster-bench", about = "Muster's load benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Database {
    Sqlite,
    Postgres,
    Both,
}

/// Which servers a benchmark starts.
#[derive(Debug, Args)]
struct Servers {
    #[arg(long, value_enum, default_value_t = Database::Both)]
    database: Database,
    /// PostgreSQL server; each run creates and drops its own database.
    #[arg(
        long,
        env = "MUSTER_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// The `muster` server binary (build it in release mode).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

impl Servers {
    /// The databases to run on, in order.
    fn databases(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if matches!(self.database, Database::Sqlite | Database::Both) {
            out.push("sqlite");
        }
        if matches!(self.database, Database::Postgres | Database::Both) {
            out.push("postgres");
        }
        out
    }

    /// The server binary given, or the release build's.
    fn server_bin(&self) -> Result<PathBuf, String> {
        match &self.server_bin {
            Some(p) => Ok(p.clone()),
            None => target::default_server_bin(),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Heartbeat ingestion: sustained heartbeats/s, latency, server CPU and memory.
    Heartbeats {
        /// Virtual nodes (registered through POST /api/v1/agent/register).
        #[arg(long, default_value_t = 5_000)]
        nodes: u32,
        /// Offered heartbeats per second for the latency run.
        #[arg(long, default_value_t = 5_000)]
        rate: u32,
        /// Seconds each run lasts.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Connections (requests in flight) for the saturation run. A fleet
        /// of thousands of agents has as many heartbeats in flight as are
        /// waiting; with only 64 a server that answers after the commit is
        /// held to 64 per commit round, and the machine sits partly idle.
        #[arg(long, default_value_t = 256)]
        connections: usize,
        #[command(flatten)]
        servers: Servers,
    },
    /// Live stream: WebSocket clients following clusters while heartbeats
    /// arrive; delivery latency and server memory per connection.
    Live {
        /// WebSocket clients, spread over the clusters (one cluster each).
        #[arg(long, default_value_t = 1_000)]
        clients: usize,
        /// Virtual nodes, twenty per cluster.
        #[arg(long, default_value_t = 10_000)]
        nodes: u32,
        /// Offered heartbeats per second.
        #[arg(long, default_value_t = 5_000)]
        rate: u32,
        /// Seconds the measured run lasts.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[command(flatten)]
        servers: Servers,
    },
    /// Simulator: one `muster-agent simulate` process drives a large fleet;
    /// its CPU and memory, and the server's.
    Simulate {
        #[arg(long, default_value_t = 10_000)]
        nodes: u32,
        /// Production clusters the simulator creates (20 nodes at most each).
        #[arg(long, default_value_t = 500)]
        clusters: u32,
        /// Seconds of steady state measured.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// The `muster-agent` binary; by default beside the server binary.
        #[arg(long)]
        agent_bin: Option<PathBuf>,
        #[command(flatten)]
        servers: Servers,
    },
    /// Pages: server-side rendering time of the dashboard with a large fleet.
    Pages {
        #[arg(long, default_value_t = 1_000)]
        clusters: u32,
        /// Nodes, spread evenly over the clusters.
        #[arg(long, default_value_t = 50_000)]
        nodes: u32,
        /// Requests per page.
        #[arg(long, default_value_t = 200)]
        requests: u32,
        #[command(flatten)]
        servers: Servers,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("muster-bench: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Heartbeats {
                nodes,
                rate,
                seconds,
                connections,
                servers,
            } => {
                let plan = load::Plan {
                    nodes,
                    rate,
                    duration: Duration::from_secs(seconds.max(1)),
                    connections: connections.max(1),
                };
                heartbeats(&plan, &servers).await
            }
            Command::Live {
                clients,
                nodes,
                rate,
                seconds,
                servers,
            } => {
                let plan = load::Plan {
                    nodes,
                    rate,
                    duration: Duration::from_secs(seconds.max(1)),
                    connections: 64,
                };
                live_stream(&plan, clients.max(1), &servers).await
            }
            Command::Simulate {
                nodes,
                clusters,
                seconds,
                agent_bin,
                servers,
            } => {
                let plan = simulate::SimulatePlan {
                    nodes: nodes.max(1),
                    clusters: clusters.max(1),
                    seconds,
                    agent_bin,
                };
                simulate::simulate(&plan, &servers).await
            }
            Command::Pages {
                clusters,
                nodes,
                requests,
                servers,
            } => {
                let plan = pages::PagesPlan {
                    clusters: clusters.max(1),
                    nodes: nodes.max(1),
                    requests: requests.max(1),
                };
                pages::pages(&plan, &servers).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("muster-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How many windows a target's saturation run is cut into, each after a
/// window of the same load on the bare endpoint: this machine's speed drifts
/// by a third between minutes, and a ceiling measured once, minutes away,
/// moved the ratio as much.
const SATURATION_WINDOWS: u32 = 4;

/// A target's saturation run, in [`SATURATION_WINDOWS`] windows that each
/// follow one of the bare endpoint's: the target's outcome, the server's CPU
/// ticks over its windows, and the bare endpoint's outcome in its windows.
async fn saturate_alternating(
    server: &target::Muster,
    bare: (&str, &Arc<Vec<load::VirtualNode>>),
    nodes: &Arc<Vec<load::VirtualNode>>,
    plan: &load::Plan,
) -> (load::Outcome, u64, load::Outcome) {
    let window = load::Plan {
        duration: plan.duration / SATURATION_WINDOWS,
        ..plan.clone()
    };
    let (mut sat, mut ticks, mut paired) = (load::Outcome::default(), 0, load::Outcome::default());
    for _ in 0..SATURATION_WINDOWS {
        paired.absorb(load::saturate(bare.0, bare.1, &window).await);
        let before = server.usage();
        sat.absorb(load::saturate(&server.heartbeat_url(), nodes, &window).await);
        ticks += server.usage().ticks_since(&before);
    }
    (sat, ticks, paired)
}

#[allow(clippy::cast_precision_loss)]
async fn heartbeats(plan: &load::Plan, servers: &Servers) -> Result<(), String> {
    let server_bin = servers.server_bin()?;
    println!(
        "heartbeats: {} virtual nodes, 7 metrics and 20 processes each; {} s per run; saturation with {} connections; latency at {} offered/s",
        plan.nodes,
        plan.duration.as_secs(),
        plan.connections,
        plan.rate
    );
    println!(
        "machine: {} CPU(s)",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let mut rows = Vec::new();
    let mut onlines = Vec::new();
    let mut costs = Vec::new();

    let bare = target::Bare::start().await?;
    let bare_nodes: Vec<load::VirtualNode> = (0..plan.nodes).map(load::VirtualNode::bare).collect();
    let bare_nodes = Arc::new(bare_nodes);
    let sat = load::saturate(&bare.url, &bare_nodes, plan).await;
    let lat = load::offered(&bare.url, &bare_nodes, plan).await;
    let ceiling = sat.per_second();
    rows.push(load::Row::new(
        "bare axum (parse only)",
        &sat,
        &lat,
        None,
        ceiling,
    ));
    // The bare endpoint keeps serving: each target's maximum is compared
    // with the bare rate measured in windows alternating with its own.
    let mut pairings = Vec::new();

    for db in servers.databases() {
        let server = target::Muster::start(&server_bin, db, &servers.postgres_url).await?;
        eprintln!("{db}: registering {} nodes…", plan.nodes);
        let started = Instant::now();
        let nodes = Arc::new(server.register(plan.nodes).await?.0);
        eprintln!(
            "{db}: registered in {:.1} s; bringing every node online…",
            started.elapsed().as_secs_f64()
        );
        // Every node's first heartbeat changes its status (and its
        // cluster's): measured on its own, so the runs below measure the
        // steady heartbeats of a fleet that is up.
        let mut first = load::once_each(&server.heartbeat_url(), &nodes, plan.connections).await;
        let (p50, p99) = (first.quantile_ms(0.5), first.quantile_ms(0.99));
        onlines.push(format!(
            "{db}: {} nodes came online (their first heartbeats) at {:.0}/s, p50 {p50:.1} ms, p99 {p99:.1} ms, {} errors",
            first.ok,
            first.per_second(),
            first.errors
        ));
        eprintln!("{db}: saturating, in windows alternating with the bare endpoint…");
        let (sat, sat_ticks, paired) =
            saturate_alternating(&server, (&bare.url, &bare_nodes), &nodes, plan).await;
        pairings.push(format!(
            "{db}: saturated in {SATURATION_WINDOWS} windows of {:.0} s, each after one of the bare endpoint: {:.0}/s against the bare {:.0}/s in its windows ({:.0} %)",
            plan.duration.as_secs_f64() / f64::from(SATURATION_WINDOWS),
            sat.per_second(),
            paired.per_second(),
            100.0 * sat.per_second() / paired.per_second().max(1e-9)
        ));
        let mid = server.usage();
        eprintln!("{db}: offered load…");
        // PostgreSQL's own processes, where it runs on this machine.
        let db_before = (db == "postgres").then(target::postgres_cpu_seconds);
        let lat = load::offered(&server.heartbeat_url(), &nodes, plan).await;
        let db_used = db_before.map(|before| target::postgres_cpu_seconds() - before);
        let after = server.usage();
        let usage =
            target::UsageDelta::between((sat_ticks, sat.elapsed), &mid, &after, plan.duration);
        let beats = lat.ok.max(1) as f64;
        let server_us = usage.load_cpu_percent / 100.0 * plan.duration.as_secs_f64() * 1e6 / beats;
        costs.push(if let Some(db_used) = db_used {
            format!(
                "{db}: CPU per heartbeat at {} offered/s: server {server_us:.0} µs, database {:.0} µs (every postgres process on this machine)",
                plan.rate,
                db_used * 1e6 / beats
            )
        } else {
            format!(
                "{db}: CPU per heartbeat at {} offered/s: server {server_us:.0} µs (the database runs inside it)",
                plan.rate
            )
        });
        rows.push(load::Row::new(
            &format!("muster on {db}"),
            &sat,
            &lat,
            Some(usage),
            paired.per_second(),
        ));
        server.stop().await;
    }
    drop(bare);
    load::print(&rows);
    for line in pairings.into_iter().chain(costs).chain(onlines) {
        println!("{line}");
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
async fn live_stream(plan: &load::Plan, clients: usize, servers: &Servers) -> Result<(), String> {
    let server_bin = servers.server_bin()?;
    println!(
        "live: {clients} WebSocket clients, each following one cluster of 20 nodes; {} nodes; {} heartbeats/s offered for {} s",
        plan.nodes,
        plan.rate,
        plan.duration.as_secs()
    );
    println!(
        "machine: {} CPU(s); delivery latency = server received the heartbeat -> client received its metrics_sample",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!(
        "{:<22} {:>9} {:>9} {:>11} {:>11} {:>11} {:>9} {:>8} {:>9} {:>10}",
        "target",
        "hb/s",
        "hb p99",
        "delivered",
        "deliv p50",
        "deliv p99",
        "resyncs",
        "CPU %",
        "RSS MiB",
        "KiB/conn"
    );
    for db in servers.databases() {
        let server = target::Muster::start(&server_bin, db, &servers.postgres_url).await?;
        eprintln!("{db}: registering {} nodes…", plan.nodes);
        let (nodes, clusters) = server.register(plan.nodes).await?;
        let nodes = Arc::new(nodes);
        // Every node's first heartbeat changes its status (and its
        // cluster's); all of them are answered before the clients connect,
        // so the run measures the steady heartbeats of a fleet that is up.
        let first = load::once_each(&server.heartbeat_url(), &nodes, plan.connections).await;
        if first.errors > 0 {
            return Err(format!(
                "{db}: {} of {} nodes could not come online",
                first.errors, plan.nodes
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = server.usage();
        eprintln!("{db}: connecting {clients} clients…");
        let open = live::connect(server.base(), server.token(), &clusters, clients).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let connected = server.usage();
        let per_connection_kib =
            connected.rss_kib().saturating_sub(idle.rss_kib()) as f64 / clients as f64;
        eprintln!("{db}: heartbeats with the clients listening…");
        open.measure();
        let before = server.usage();
        let mut beats = load::offered(&server.heartbeat_url(), &nodes, plan).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = server.usage();
        let mut delivery = open.finish().await;
        let usage = target::UsageDelta::between((0, plan.duration), &before, &after, plan.duration);
        let (p50, p99) = (delivery.quantile_ms(0.50), delivery.quantile_ms(0.99));
        println!(
            "{:<22} {:>9.0} {:>7.1}ms {:>11} {:>9.1}ms {:>9.1}ms {:>9} {:>8.0} {:>9.0} {:>10.1}",
            format!("muster on {db}"),
            beats.per_second(),
            beats.quantile_ms(0.99),
            delivery.samples,
            p50,
            p99,
            delivery.resyncs,
            usage.load_cpu_percent,
            usage.rss_mib,
            per_connection_kib,
        );
        if delivery.closed > 0 {
            println!("  {} client(s) were disconnected", delivery.closed);
        }
        server.stop().await;
    }
    Ok(())
}

/// A counter shared by the load tasks.
pub type Counter = Arc<AtomicU64>;

pub fn bump(c: &Counter) {
    c.fetch_add(1, Ordering::Relaxed);
}
