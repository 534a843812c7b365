//! `muster-agent simulate`: enrols the virtual nodes (with join tokens, or
//! with an admin's API token that creates the clusters first), runs them with
//! the scenario and chaos asked for, and prints a line of figures every
//! report period, with this process's own CPU use.

use std::path::PathBuf;
use std::time::Duration;

use muster_agent::http::{Answer, post, send};
use muster_agent::sim::{Enrolment, Fleet, FleetOptions, chaos, saved_names, scenario};
use serde_json::{Value, json};

/// How the simulator was started (already checked by the command line).
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub server: String,
    pub join_tokens: Vec<String>,
    pub api_token: Option<String>,
    pub nodes: u32,
    pub clusters: Option<u32>,
    pub template: String,
    pub chaos: bool,
    pub seed: Option<u64>,
    pub scenario: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub name_prefix: String,
    pub max_in_flight: u32,
    pub report_every: Duration,
    pub max_disk_gb: Option<f64>,
}

/// `count` names split into `groups` consecutive blocks, as even as can be.
fn blocks(prefix: &str, count: u32, groups: u32) -> Vec<Vec<String>> {
    let groups = groups.max(1);
    (0..groups)
        .map(|g| {
            let from = u64::from(count) * u64::from(g) / u64::from(groups);
            let to = u64::from(count) * u64::from(g + 1) / u64::from(groups);
            (from..to)
                .map(|k| format!("{prefix}-{:05}", k + 1))
                .collect()
        })
        .collect()
}

/// Creates (or finds) cluster `name` and a join token for it, as the admin
/// whose API token this is; answers the token and the cluster's storage limit.
async fn cluster_join_token(
    http: &reqwest::Client,
    server: &str,
    api_token: &str,
    name: &str,
    template: &str,
) -> Result<(String, Option<f64>), String> {
    let created = post::<_, Value>(
        http,
        &format!("{server}/api/v1/clusters"),
        Some(api_token),
        &json!({"name": name, "region": "sim", "template": template,
                "description": "created by muster-agent simulate"}),
    )
    .await;
    let cluster = match created {
        Answer::Ok(c) => Some(c),
        Answer::Refused(409, _) => {
            let url = format!("{server}/api/v1/clusters?name={name}&limit=100");
            match send::<Value>(http.get(url).bearer_auth(api_token)).await {
                Answer::Ok(list) => list["items"]
                    .as_array()
                    .and_then(|items| items.iter().find(|c| c["name"] == name).cloned()),
                Answer::Refused(s, m) => return Err(format!("cannot list clusters ({s}): {m}")),
                Answer::Retry(m) => return Err(format!("cannot list clusters: {m}")),
            }
        }
        Answer::Refused(s, m) => return Err(format!("cannot create cluster {name} ({s}): {m}")),
        Answer::Retry(m) => return Err(format!("cannot create cluster {name}: {m}")),
    };
    let cluster = cluster.unwrap_or_default();
    let id = cluster["id"]
        .as_str()
        .ok_or_else(|| format!("the server did not say cluster {name}'s id"))?;
    let storage = cluster["max_storage_gb"].as_f64();
    match post::<_, Value>(
        http,
        &format!("{server}/api/v1/clusters/{id}/join-tokens"),
        Some(api_token),
        &json!({"name": "muster-agent simulate", "expires_in_hours": 24}),
    )
    .await
    {
        Answer::Ok(t) => t["token"]
            .as_str()
            .map(|t| (t.to_owned(), storage))
            .ok_or_else(|| "the server sent no join token".into()),
        Answer::Refused(s, m) => Err(format!("cannot create a join token for {name} ({s}): {m}")),
        Answer::Retry(m) => Err(format!("cannot create a join token for {name}: {m}")),
    }
}

/// Which join token enrols which nodes.
async fn enrolments(opts: &SimulateOptions) -> Result<Vec<Enrolment>, String> {
    if let (Some(api_token), Some(clusters)) = (&opts.api_token, opts.clusters) {
        let saved = saved_names(&opts.state_dir, &opts.server);
        let http = reqwest::Client::new();
        let mut out = Vec::new();
        for (g, names) in blocks(&opts.name_prefix, opts.nodes, clusters)
            .into_iter()
            .enumerate()
        {
            let cluster = format!("{}-c{:04}", opts.name_prefix, g + 1);
            // A restart with every node saved needs no new join token.
            let known = names.iter().all(|n| saved.contains(n));
            let (join_token, storage) = if known {
                (String::new(), None)
            } else {
                cluster_join_token(&http, &opts.server, api_token, &cluster, &opts.template).await?
            };
            // Each node's disk fits its share of the cluster's storage limit.
            #[allow(clippy::cast_precision_loss)] // a handful of nodes
            let share = storage.map(|s| (s / names.len().max(1) as f64).floor());
            out.push(Enrolment {
                join_token,
                cluster_name: Some(cluster),
                names,
                max_disk_gb: opts.max_disk_gb.or(share),
            });
        }
        return Ok(out);
    }
    if opts.join_tokens.is_empty() {
        return Err("give --join-token (one per cluster), or --api-token with --clusters".into());
    }
    let groups = u32::try_from(opts.join_tokens.len()).unwrap_or(u32::MAX);
    Ok(opts
        .join_tokens
        .iter()
        .zip(blocks(&opts.name_prefix, opts.nodes, groups))
        .map(|(t, names)| Enrolment {
            join_token: t.trim().to_owned(),
            cluster_name: None,
            names,
            max_disk_gb: opts.max_disk_gb,
        })
        .collect())
}

/// This process's CPU time so far, where the platform tells it.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at state.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, 100 per second on every platform it runs on.
    Some(Duration::from_millis(ticks * 10))
}

fn rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Runs the simulator until SIGINT or SIGTERM.
///
/// # Errors
/// A one-line reason.
pub async fn simulate(
    opts: SimulateOptions,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let steps = match &opts.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Some(scenario::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let seed = opts.seed.unwrap_or_else(rand::random);
    let enrol = enrolments(&opts).await?;
    let started = std::time::Instant::now();
    let fleet = Fleet::start(
        FleetOptions {
            server: opts.server.clone(),
            seed,
            state_dir: Some(opts.state_dir.clone()),
            max_in_flight: opts.max_in_flight as usize,
        },
        enrol,
    )
    .await?;
    eprintln!(
        "muster-agent simulate: {} nodes ready in {:.1} s; reporting (seed {seed}: --seed {seed} replays this fleet)",
        fleet.names().len(),
        started.elapsed().as_secs_f64()
    );
    let log = |line: String| eprintln!("muster-agent simulate: {line}");
    let mut side = tokio::task::JoinSet::new();
    if let Some(steps) = steps {
        let (fleet, stop) = (fleet.clone(), stopped.clone());
        side.spawn(async move { scenario::play(&fleet, &steps, stop, log).await });
    }
    if opts.chaos {
        let (fleet, stop) = (fleet.clone(), stopped.clone());
        side.spawn(async move { chaos::unleash(&fleet, seed, stop, log).await });
    }
    let mut cpu_before = cpu_time();
    let mut ticker = tokio::time::interval(opts.report_every);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => break,
        }
        let r = fleet.report();
        let cpu_now = cpu_time();
        let cpu = match (cpu_before, cpu_now) {
            (Some(a), Some(b)) => format!(
                "{:.0} %",
                b.saturating_sub(a).as_secs_f64() / r.over.as_secs_f64() * 100.0
            ),
            _ => "n/a".into(),
        };
        cpu_before = cpu_now;
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let rate = r.sent as f64 / r.over.as_secs_f64();
        eprintln!(
            "muster-agent simulate: {} nodes, {} faulted | {:.0} heartbeats/s, p50 {:.1} ms, p99 {:.1} ms, {} errors, {} dropped | CPU {cpu} of one core, RSS {} MiB",
            r.nodes,
            r.faulted,
            rate,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            r.dropped,
            rss_mib().map_or_else(|| "n/a".into(), |m| m.to_string()),
        );
    }
    side.abort_all();
    eprintln!("muster-agent simulate: stopping; the nodes report offline");
    fleet.stop(true).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_split_into_even_consecutive_blocks() {
        let b = blocks("sim", 10, 3);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 4]);
        assert_eq!(b[0][0], "sim-00001");
        assert_eq!(b[2][3], "sim-00010");
        assert_eq!(blocks("x", 2, 4).concat().len(), 2);
        #[cfg(target_os = "linux")]
        assert!(cpu_time().is_some(), "Linux reports CPU time");
    }
}
