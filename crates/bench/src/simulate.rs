//! `muster-bench simulate`: one `muster-agent simulate` process drives a
//! large virtual fleet against a release server; reports how long the fleet
//! took to register and come online, then, in steady state, the heartbeats it
//! sent, their latency, and the CPU and memory of the simulator and of the
//! server.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::target::{Muster, Usage, cpu_percent, usage_of};

pub struct SimulatePlan {
    pub nodes: u32,
    pub clusters: u32,
    /// The steady-state window.
    pub seconds: u64,
    pub agent_bin: Option<PathBuf>,
}

/// One of the simulator's figure lines, read back.
#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    rate: f64,
    p99_ms: f64,
    errors: u64,
}

fn parse_figures(line: &str) -> Option<Figures> {
    let number_before = |marker: &str| -> Option<f64> {
        let end = line.find(marker)?;
        line[..end].split_whitespace().last()?.parse().ok()
    };
    let p99 = line
        .split("p99 ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(Figures {
        rate: number_before(" heartbeats/s")?,
        p99_ms: p99,
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        errors: number_before(" errors")? as u64,
    })
}

fn agent_bin(plan: &SimulatePlan, server_bin: &Path) -> Result<PathBuf, String> {
    let bin = match &plan.agent_bin {
        Some(p) => p.clone(),
        None => server_bin.with_file_name("muster-agent"),
    };
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: build it with cargo build --release -p muster-agent",
            bin.display()
        ))
    }
}

/// Runs the fleet against one server and prints its row.
#[allow(clippy::too_many_lines)]
pub async fn run_one(
    plan: &SimulatePlan,
    db: &str,
    server: &Muster,
    agent: &Path,
) -> Result<(), String> {
    let state = std::env::temp_dir().join(format!("muster-bench-sim-{}-{db}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let started = Instant::now();
    let mut child = Command::new(agent)
        .args([
            "simulate",
            "--server",
            server.base(),
            "--api-token",
            server.token(),
        ])
        .args([
            "--clusters",
            &plan.clusters.to_string(),
            "--nodes",
            &plan.nodes.to_string(),
        ])
        .args(["--seed", "1", "--report-every", "5s", "--state-dir"])
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", agent.display()))?;
    let pid = child.id();
    let ready: Arc<Mutex<Option<Duration>>> = Arc::default();
    let figures: Arc<Mutex<Vec<(Instant, Figures)>>> = Arc::default();
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let reader = {
        let (ready, figures) = (ready.clone(), figures.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("nodes ready in") {
                    if let Ok(mut r) = ready.lock() {
                        *r = Some(started.elapsed());
                    }
                } else if let Some(f) = parse_figures(&line) {
                    if let Ok(mut v) = figures.lock() {
                        v.push((Instant::now(), f));
                    }
                } else {
                    eprintln!("{line}");
                }
            }
        })
    };
    let registered = loop {
        if let Some(d) = ready.lock().ok().and_then(|r| *r) {
            break d;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the simulator stopped while registering ({status})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "{db}: {} nodes registered in {:.1} s; waiting for every node's first heartbeat…",
        plan.nodes,
        registered.as_secs_f64()
    );
    // Every node's first heartbeat brings it online (a status change, the
    // slow path); the steady state starts when the server counts them all.
    let online_in = loop {
        if server.online_nodes().await? >= u64::from(plan.nodes) {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_mins(30) {
            return Err("the fleet was not online within 30 minutes".into());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    eprintln!(
        "{db}: every node online {:.0} s after the start",
        online_in.as_secs_f64()
    );
    let (sim_before, server_before): (Usage, Usage) = (usage_of(pid), server.usage());
    let window_start = Instant::now();
    tokio::time::sleep(Duration::from_secs(plan.seconds.max(5))).await;
    let window = window_start.elapsed();
    let (sim_after, server_after) = (usage_of(pid), server.usage());
    let steady: Vec<Figures> = figures
        .lock()
        .map(|v| {
            v.iter()
                .filter(|(at, _)| *at > window_start)
                .map(|(_, f)| *f)
                .collect()
        })
        .unwrap_or_default();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let _ = reader.join();
    let _ = std::fs::remove_dir_all(&state);
    #[allow(clippy::cast_precision_loss)]
    let rate = steady.iter().map(|f| f.rate).sum::<f64>() / steady.len().max(1) as f64;
    let mut p99s: Vec<f64> = steady.iter().map(|f| f.p99_ms).collect();
    p99s.sort_by(f64::total_cmp);
    let p99 = p99s.last().copied().unwrap_or_default();
    let typical = p99s.get(p99s.len() / 2).copied().unwrap_or_default();
    let errors: u64 = steady.iter().map(|f| f.errors).sum();
    #[allow(clippy::cast_precision_loss)]
    let mib = |u: &Usage| u.rss_kib() as f64 / 1024.0;
    println!(
        "| {db} | {} | {} | {:.1} s | {:.0} s | {rate:.0} | {typical:.1} / {p99:.1} | {errors} | {:.0} % | {:.0} MiB | {:.0} % | {:.0} MiB |",
        plan.nodes,
        plan.clusters,
        registered.as_secs_f64(),
        online_in.as_secs_f64(),
        cpu_percent(&sim_before, &sim_after, window),
        mib(&sim_after),
        cpu_percent(&server_before, &server_after, window),
        mib(&server_after),
    );
    Ok(())
}

pub async fn simulate(plan: &SimulatePlan, servers: &crate::Servers) -> Result<(), String> {
    let server_bin = servers.server_bin()?;
    let agent = agent_bin(plan, &server_bin)?;
    println!(
        "One muster-agent simulate process, {} virtual nodes in {} production clusters (15 s interval); steady state over {} s once the server counts every node online. CPU: one core = 100 %.",
        plan.nodes, plan.clusters, plan.seconds
    );
    println!();
    println!(
        "| database | nodes | clusters | registered in | heartbeats/s | p99 ms per 5 s window: median / worst | errors | simulator CPU | simulator RSS | server CPU | server RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for db in servers.databases() {
        let server = Muster::start(&server_bin, db, &servers.postgres_url).await?;
        let outcome = run_one(plan, db, &server, &agent).await;
        server.stop().await;
        outcome?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_figures;

    #[test]
    fn figure_lines_read_back() {
        let f = parse_figures("muster-agent simulate: 10000 nodes, 0 faulted | 667 heartbeats/s, p50 2.1 ms, p99 14.5 ms, 3 errors, 0 dropped | CPU 21 % of one core, RSS 80 MiB")
            .expect("figures");
        assert!((f.rate - 667.0).abs() < 1e-9 && (f.p99_ms - 14.5).abs() < 1e-9 && f.errors == 3);
        assert!(parse_figures("muster-agent simulate: stopping").is_none());
    }
}
