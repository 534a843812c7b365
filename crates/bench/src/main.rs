//! `muster-bench`: load benchmarks that print figures.
//!
//! `muster-bench heartbeats` starts a real `muster serve` process on SQLite
//! and on PostgreSQL, registers virtual nodes through the agent protocol,
//! and drives heartbeats (7 metrics and 20 processes each) over HTTP: first
//! as fast as a fixed number of connections allows (the sustained maximum),
//! then at a fixed offered rate (latency at that load). The same load against
//! a bare axum endpoint that only parses the same JSON gives the ceiling.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};

mod load;
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
        /// Connections (requests in flight) for the saturation run.
        #[arg(long, default_value_t = 64)]
        connections: usize,
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
                database,
                postgres_url,
                server_bin,
            } => {
                let plan = load::Plan {
                    nodes,
                    rate,
                    duration: Duration::from_secs(seconds.max(1)),
                    connections: connections.max(1),
                };
                heartbeats(&plan, database, &postgres_url, server_bin).await
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

async fn heartbeats(
    plan: &load::Plan,
    database: Database,
    postgres_url: &str,
    server_bin: Option<PathBuf>,
) -> Result<(), String> {
    let server_bin = match server_bin {
        Some(p) => p,
        None => target::default_server_bin()?,
    };
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

    let bare = target::Bare::start().await?;
    let nodes: Vec<load::VirtualNode> = (0..plan.nodes).map(load::VirtualNode::bare).collect();
    let nodes = Arc::new(nodes);
    let sat = load::saturate(&bare.url, &nodes, plan).await;
    let lat = load::offered(&bare.url, &nodes, plan).await;
    rows.push(load::Row::new("bare axum (parse only)", &sat, &lat, None));
    let ceiling = sat.per_second();
    drop(bare);

    let mut databases = Vec::new();
    if matches!(database, Database::Sqlite | Database::Both) {
        databases.push("sqlite");
    }
    if matches!(database, Database::Postgres | Database::Both) {
        databases.push("postgres");
    }
    for db in databases {
        let server = target::Muster::start(&server_bin, db, postgres_url).await?;
        eprintln!("{db}: registering {} nodes…", plan.nodes);
        let started = Instant::now();
        let nodes = Arc::new(server.register(plan.nodes).await?);
        eprintln!(
            "{db}: registered in {:.1} s; saturating…",
            started.elapsed().as_secs_f64()
        );
        let before = server.usage();
        let sat = load::saturate(&server.heartbeat_url(), &nodes, plan).await;
        let mid = server.usage();
        eprintln!("{db}: offered load…");
        let lat = load::offered(&server.heartbeat_url(), &nodes, plan).await;
        let after = server.usage();
        let usage = target::UsageDelta::between(&before, &mid, &after, plan.duration);
        rows.push(load::Row::new(
            &format!("muster on {db}"),
            &sat,
            &lat,
            Some(usage),
        ));
        server.stop().await;
    }
    load::print(&rows, ceiling);
    Ok(())
}

/// A counter shared by the load tasks.
pub type Counter = Arc<AtomicU64>;

pub fn bump(c: &Counter) {
    c.fetch_add(1, Ordering::Relaxed);
}
