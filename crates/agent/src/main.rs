//! `muster-agent`: runs on each node and reports its host to a Muster server.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use muster_domain::NodeStatus;
use muster_domain::protocol::{HeartbeatRequest, PROTOCOL_VERSION};

mod collector;
mod operations;
mod run;
mod simulate;
mod spool;

use collector::Collector;

#[derive(Debug, Parser)]
#[command(name = "muster-agent", version, about = "Muster's node agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Join a cluster (once, with a join token) and report this host to the
    /// server every interval until stopped (SIGINT or SIGTERM).
    Run {
        /// The Muster server, e.g. `http://muster.internal:3000`.
        #[arg(long, env = "MUSTER_SERVER")]
        server: String,
        /// A join token from the cluster's admin; needed only the first time.
        #[arg(long, env = "MUSTER_JOIN_TOKEN", hide_env_values = true)]
        join_token: Option<String>,
        /// Instead of a join token: the token of a node an admin added by
        /// hand (shown once when it was added); needed only the first time.
        #[arg(
            long,
            env = "MUSTER_NODE_TOKEN",
            hide_env_values = true,
            conflicts_with = "join_token"
        )]
        node_token: Option<String>,
        /// The node's name in the cluster; the hostname when absent.
        #[arg(long)]
        name: Option<String>,
        /// Where the node's identity and the spool are kept.
        #[arg(long, env = "MUSTER_AGENT_STATE", default_value = "muster-agent-state")]
        state_dir: std::path::PathBuf,
        /// Samples kept while the server is unreachable; beyond it the oldest go.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        spool_size: u32,
        /// Carry out `signal_process` operations from the server (never on
        /// pid 1, the agent itself or kernel threads unless forced).
        #[arg(long, env = "MUSTER_ALLOW_PROCESS_CONTROL")]
        allow_process_control: bool,
    },
    /// Run a fleet of virtual nodes that speak the agent protocol, with
    /// plausible figures and injected faults, until stopped (SIGINT or SIGTERM).
    Simulate(SimulateArgs),
    /// Measure this host once and print the heartbeat the agent would send, as JSON.
    Sample {
        /// How long to measure CPU and network rates over, e.g. 1s or 500ms.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        over: Duration,
    },
}

#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools)]
struct SimulateArgs {
    /// The Muster server, e.g. `http://127.0.0.1:3000`.
    #[arg(long, env = "MUSTER_SERVER")]
    server: String,
    /// A cluster's join token; repeat it (or separate with commas) to spread
    /// the nodes over several clusters.
    #[arg(
        long,
        env = "MUSTER_JOIN_TOKEN",
        hide_env_values = true,
        value_delimiter = ','
    )]
    join_token: Vec<String>,
    /// Instead of join tokens: an admin's API token, with which the simulator
    /// creates `--clusters` clusters and their join tokens.
    #[arg(
        long,
        env = "MUSTER_API_TOKEN",
        hide_env_values = true,
        requires = "clusters",
        conflicts_with = "join_token"
    )]
    api_token: Option<String>,
    /// How many virtual nodes.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    nodes: u32,
    /// How many clusters to create (with `--api-token`); the nodes are split
    /// evenly between them.
    #[arg(long, requires = "api_token", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    clusters: Option<u32>,
    /// The template the created clusters start from.
    #[arg(long, default_value = "production")]
    template: String,
    /// Inject random faults, reproducible from the seed.
    #[arg(long)]
    chaos: bool,
    /// Seeds the figures, random targets and chaos; random when absent (it is printed).
    #[arg(long)]
    seed: Option<u64>,
    /// A scenario file: one `<when> <command>` per line, e.g. `10s fail primary for=2m`.
    #[arg(long)]
    scenario: Option<std::path::PathBuf>,
    /// Where the nodes' identities are kept, so a restart reuses the nodes.
    #[arg(long, env = "MUSTER_SIM_STATE", default_value = "muster-sim-state")]
    state_dir: std::path::PathBuf,
    /// The nodes are named `<prefix>-00001`, … (letters, digits and dashes).
    #[arg(long, default_value = "sim", value_parser = parse_prefix)]
    name_prefix: String,
    /// Requests under way at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_in_flight: u32,
    /// The largest disk a virtual node reports, in GB: a cluster refuses
    /// nodes beyond its `max_storage_gb` in all. With `--api-token` each
    /// node's share of its cluster's limit is used.
    #[arg(long, value_parser = parse_disk_gb)]
    max_disk_gb: Option<f64>,
    /// How often to print the figures, e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = parse_report_every)]
    report_every: Duration,
}

fn parse_prefix(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 20
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !text.starts_with('-');
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} must be 1 to 20 letters, digits or dashes, not starting with a dash"
        ))
    }
}

fn parse_disk_gb(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(gb) if gb.is_finite() && gb >= 1.0 => Ok(gb),
        _ => Err(format!("{text:?} must be a number of GB, at least 1")),
    }
}

fn parse_report_every(text: &str) -> Result<Duration, String> {
    let d = muster_agent::sim::fault::parse_duration(text)?;
    if d < Duration::from_secs(1) {
        return Err(format!("{text} is too short: at least 1s"));
    }
    Ok(d)
}

/// Parses `250ms`, `1s`, `2m` within the sampling window's range.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = muster_agent::sim::fault::parse_duration(text)?;
    if d < collector::MIN_WINDOW || d > Duration::from_mins(10) {
        return Err(format!(
            "{text} is out of range: between {} ms and 10 m",
            collector::MIN_WINDOW.as_millis()
        ));
    }
    Ok(d)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            server,
            join_token,
            node_token,
            name,
            state_dir,
            spool_size,
            allow_process_control,
        } => {
            let server = server.trim_end_matches('/').to_owned();
            if !(server.starts_with("http://") || server.starts_with("https://")) {
                eprintln!("muster-agent: --server must be an http:// or https:// URL");
                return ExitCode::FAILURE;
            }
            let options = run::RunOptions {
                server,
                join_token,
                node_token,
                name,
                state_dir,
                spool_size: spool_size as usize,
                allow_process_control,
            };
            match run_agent(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("muster-agent: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Simulate(args) => {
            let server = args.server.trim_end_matches('/').to_owned();
            if !(server.starts_with("http://") || server.starts_with("https://")) {
                eprintln!("muster-agent: --server must be an http:// or https:// URL");
                return ExitCode::FAILURE;
            }
            let options = simulate::SimulateOptions {
                server,
                join_tokens: args.join_token,
                api_token: args.api_token,
                nodes: args.nodes,
                clusters: args.clusters,
                template: args.template,
                chaos: args.chaos,
                seed: args.seed,
                scenario: args.scenario,
                state_dir: args.state_dir,
                name_prefix: args.name_prefix,
                max_in_flight: args.max_in_flight,
                report_every: args.report_every,
                max_disk_gb: args.max_disk_gb,
            };
            match run_simulator(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("muster-agent: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Sample { over } => match sample(over) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("muster-agent: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run_agent(options: run::RunOptions) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    until_signal(&runtime, |stopped| run::run(options, stopped))
}

fn run_simulator(options: simulate::SimulateOptions) -> Result<(), String> {
    // Two workers: a fleet of thousands is mostly waiting, and the server
    // it drives usually shares the host.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    until_signal(&runtime, |stopped| simulate::simulate(options, stopped))
}

/// Runs `work` on `runtime`; its receiver turns true at SIGINT or SIGTERM.
fn until_signal<F, Fut>(runtime: &tokio::runtime::Runtime, work: F) -> Result<(), String>
where
    F: FnOnce(tokio::sync::watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    runtime.block_on(async move {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop.send(true);
        });
        work(stopped).await
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn sample(over: Duration) -> Result<String, String> {
    let mut collector = Collector::new().map_err(|e| format!("cannot read this host: {e}"))?;
    std::thread::sleep(over);
    let sample = collector.sample();
    let heartbeat = HeartbeatRequest {
        protocol_version: PROTOCOL_VERSION,
        seq: 0,
        status: NodeStatus::Online,
        metrics: sample.metrics,
        system: sample.system,
        processes: sample.processes,
        sampled_at: None,
    };
    serde_json::to_string_pretty(&heartbeat).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_need_a_unit_and_a_sane_range() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_mins(2)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("10ms").is_err());
        assert!(parse_duration("11m").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }
}
