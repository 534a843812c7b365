//! The load generator: virtual nodes sending heartbeats, closed-loop (as fast
//! as N connections allow) or open-loop (a fixed offered rate), with every
//! request's latency recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use muster_domain::NodeStatus;
use muster_domain::protocol::{
    HeartbeatRequest, HostMetrics, PROTOCOL_VERSION, ProcessSample, SystemInfo,
};

use crate::target::UsageDelta;

#[derive(Debug, Clone)]
pub struct Plan {
    pub nodes: u32,
    pub rate: u32,
    pub duration: Duration,
    pub connections: usize,
}

/// One node the generator speaks for.
pub struct VirtualNode {
    pub token: String,
    seq: AtomicU64,
}

impl VirtualNode {
    pub fn new(token: String) -> Self {
        Self {
            token,
            seq: AtomicU64::new(0),
        }
    }

    /// A node for the bare endpoint, which checks no token.
    pub fn bare(i: u32) -> Self {
        Self::new(format!("bare-{i}"))
    }

    fn next_body(&self, n: u64) -> Vec<u8> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        serde_json::to_vec(&heartbeat(seq, n)).unwrap_or_default()
    }
}

/// A realistic heartbeat: the seven standard metrics and twenty processes.
pub fn heartbeat(seq: u64, salt: u64) -> HeartbeatRequest {
    #[allow(clippy::cast_precision_loss)]
    let wave = (salt % 100) as f64;
    HeartbeatRequest {
        protocol_version: PROTOCOL_VERSION,
        seq,
        status: NodeStatus::Online,
        metrics: HostMetrics {
            cpu_usage_percent: 20.0 + wave * 0.3,
            memory_usage_percent: 45.0,
            disk_usage_percent: 61.5,
            load_average: 0.8,
            network_rx_mbps: 12.5,
            network_tx_mbps: 3.25,
            process_count: 231,
        },
        system: SystemInfo {
            hostname: "bench-node".into(),
            os: "Debian GNU/Linux 13".into(),
            kernel: "6.12.48+deb13-amd64".into(),
            uptime_s: 86_400 + seq,
            cpu_cores: 8,
            memory_total_gb: 31.3,
            disk_total_gb: 10.0,
        },
        processes: (1..=20)
            .map(|i| ProcessSample {
                pid: 1000 + i,
                name: format!("worker-{i}"),
                user: "app".into(),
                cpu_percent: f64::from(i) * 0.7,
                memory_bytes: u64::from(i) * 48 * 1024 * 1024,
            })
            .collect(),
        sampled_at: None,
    }
}

/// What one run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ok: u64,
    pub errors: u64,
    /// Requests the generator could not start in time (open loop only).
    pub behind: u64,
    pub elapsed: Duration,
    pub latencies_us: Vec<u32>,
}

impl Outcome {
    #[allow(clippy::cast_precision_loss)]
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile of latency in milliseconds.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        quantile_ms(&mut self.latencies_us, q)
    }

    /// Adds another run's requests and time to this one's.
    pub fn absorb(&mut self, other: Self) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.behind += other.behind;
        self.elapsed += other.elapsed;
        self.latencies_us.extend(other.latencies_us);
    }
}

/// The `q` quantile of latencies in microseconds, in milliseconds (NaN for
/// none); sorts them.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub fn quantile_ms(latencies_us: &mut [u32], q: f64) -> f64 {
    if latencies_us.is_empty() {
        return f64::NAN;
    }
    latencies_us.sort_unstable();
    let i = ((latencies_us.len() - 1) as f64 * q).round() as usize;
    f64::from(latencies_us[i]) / 1000.0
}

fn client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

async fn send(http: &reqwest::Client, url: &str, node: &VirtualNode, n: u64) -> (bool, u32) {
    let body = node.next_body(n);
    let started = Instant::now();
    let ok = match http
        .post(url)
        .bearer_auth(&node.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(res) => {
            let good = res.status().is_success();
            let _ = res.bytes().await;
            good
        }
        Err(_) => false,
    };
    let us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
    (ok, us)
}

/// As many heartbeats as `connections` requests in flight allow.
pub async fn saturate(url: &str, nodes: &Arc<Vec<VirtualNode>>, plan: &Plan) -> Outcome {
    let deadline = Instant::now() + plan.duration;
    closed_loop(url, nodes, plan.connections, move |i, count| {
        (Instant::now() < deadline).then_some(i % count)
    })
    .await
}

/// One heartbeat from every node, `connections` in flight: for freshly
/// registered nodes, each one a status change (provisioning to online).
pub async fn once_each(url: &str, nodes: &Arc<Vec<VirtualNode>>, connections: usize) -> Outcome {
    closed_loop(url, nodes, connections, |i, count| (i < count).then_some(i)).await
}

/// `connections` workers, each sending its next heartbeat when the last is
/// answered: the `i`-th request goes from the node `pick(i, nodes)` names,
/// until it names none.
async fn closed_loop(
    url: &str,
    nodes: &Arc<Vec<VirtualNode>>,
    connections: usize,
    pick: impl Fn(usize, usize) -> Option<usize> + Copy + Send + 'static,
) -> Outcome {
    let http = client(connections);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (http, url, nodes, next) = (http.clone(), url.to_owned(), nodes.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(node) = pick(i, nodes.len()).and_then(|n| nodes.get(n)) else {
                    break;
                };
                let (ok, us) = send(&http, &url, node, i as u64).await;
                if ok {
                    out.ok += 1;
                    out.latencies_us.push(us);
                } else {
                    out.errors += 1;
                }
            }
            out
        }));
    }
    let mut total = Outcome::default();
    for w in workers {
        if let Ok(o) = w.await {
            total.ok += o.ok;
            total.errors += o.errors;
            total.latencies_us.extend(o.latencies_us);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// `plan.rate` heartbeats a second, whatever the answers' pace (open loop).
pub async fn offered(url: &str, nodes: &Arc<Vec<VirtualNode>>, plan: &Plan) -> Outcome {
    const MAX_IN_FLIGHT: usize = 4096;
    let http = client(MAX_IN_FLIGHT);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(std::sync::Mutex::new(Outcome::default()));
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent: u64 = 0;
    let mut behind: u64 = 0;
    let mut tasks = tokio::task::JoinSet::new();
    while started.elapsed() < plan.duration {
        tick.tick().await;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let due = (started.elapsed().as_secs_f64() * f64::from(plan.rate)) as u64;
        while sent < due {
            let i = sent;
            sent += 1;
            if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
                behind += 1;
                continue;
            }
            in_flight.fetch_add(1, Ordering::Relaxed);
            let (http, url, nodes, in_flight, results) = (
                http.clone(),
                url.to_owned(),
                nodes.clone(),
                in_flight.clone(),
                results.clone(),
            );
            tasks.spawn(async move {
                #[allow(clippy::cast_possible_truncation)]
                let node = &nodes[(i as usize) % nodes.len()];
                let (ok, us) = send(&http, &url, node, i).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
                if let Ok(mut r) = results.lock() {
                    if ok {
                        r.ok += 1;
                        r.latencies_us.push(us);
                    } else {
                        r.errors += 1;
                    }
                }
            });
        }
        while tasks.try_join_next().is_some() {}
    }
    let elapsed = started.elapsed();
    while tasks.join_next().await.is_some() {}
    let mut out = results
        .lock()
        .map(|mut r| std::mem::take(&mut *r))
        .unwrap_or_default();
    out.behind = behind;
    out.elapsed = elapsed;
    out
}

/// One line of the report.
pub struct Row {
    name: String,
    sat_rate: f64,
    sat_p50: f64,
    sat_p99: f64,
    sat_errors: u64,
    lat_rate: f64,
    lat_p50: f64,
    lat_p99: f64,
    lat_errors: u64,
    behind: u64,
    usage: Option<UsageDelta>,
    /// The bare endpoint's rate this row's maximum is compared with.
    ceiling: f64,
}

impl Row {
    /// A row whose maximum is compared with `ceiling` heartbeats/s.
    pub fn new(
        name: &str,
        sat: &Outcome,
        lat: &Outcome,
        usage: Option<UsageDelta>,
        ceiling: f64,
    ) -> Self {
        let (mut sat_l, mut lat_l) = (
            Outcome {
                latencies_us: sat.latencies_us.clone(),
                ..Outcome::default()
            },
            Outcome {
                latencies_us: lat.latencies_us.clone(),
                ..Outcome::default()
            },
        );
        Self {
            name: name.to_owned(),
            sat_rate: sat.per_second(),
            sat_p50: sat_l.quantile_ms(0.5),
            sat_p99: sat_l.quantile_ms(0.99),
            sat_errors: sat.errors,
            lat_rate: lat.per_second(),
            lat_p50: lat_l.quantile_ms(0.5),
            lat_p99: lat_l.quantile_ms(0.99),
            lat_errors: lat.errors,
            behind: lat.behind,
            usage,
            ceiling,
        }
    }
}

pub fn print(rows: &[Row]) {
    println!();
    println!(
        "{:<24} {:>12} {:>8} {:>8} {:>7} | {:>12} {:>8} {:>8} {:>7} {:>7} | {:>8} {:>8} {:>9} {:>9} | {:>8}",
        "target",
        "max hb/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "offered→ok/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "behind",
        "CPU sat",
        "CPU load",
        "RSS MiB",
        "peak MiB",
        "of bare"
    );
    for r in rows {
        let (cpu_saturated, cpu_loaded, rss, peak) = r.usage.as_ref().map_or(
            (
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
            ),
            |u| {
                (
                    format!("{:.0} %", u.saturation_cpu_percent),
                    format!("{:.0} %", u.load_cpu_percent),
                    format!("{:.0}", u.rss_mib),
                    format!("{:.0}", u.peak_mib),
                )
            },
        );
        println!(
            "{:<24} {:>12.0} {:>8.2} {:>8.2} {:>7} | {:>12.0} {:>8.2} {:>8.2} {:>7} {:>7} | {:>8} {:>8} {:>9} {:>9} | {:>7.0} %",
            r.name,
            r.sat_rate,
            r.sat_p50,
            r.sat_p99,
            r.sat_errors,
            r.lat_rate,
            r.lat_p50,
            r.lat_p99,
            r.lat_errors,
            r.behind,
            cpu_saturated,
            cpu_loaded,
            rss,
            peak,
            100.0 * r.sat_rate / r.ceiling.max(1e-9)
        );
    }
    println!();
    println!(
        "CPU: the server process's CPU time over the run, as a share of one core (200 % = both cores of this machine)."
    );
    println!("The load generator runs on the same machine and competes with the server for CPU.");
}
