//! The virtual fleet: registers its nodes through the real agent API (or
//! reuses the identities it saved), then every node reports on its own
//! schedule, its figures from its [`NodeModel`] and its behaviour from its
//! faults. Commands change the faults while it runs.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use muster_domain::operations::{OperationName, OperationReport};
use muster_domain::protocol::{
    HeartbeatRequest, HeartbeatResponse, NodeRole, PROTOCOL_VERSION, PendingOperation,
    RegisterRequest, RegisterResponse,
};
use muster_domain::{ClusterId, NodeId, NodeStatus};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};

use super::fault::{Action, Command, NodeFaults, Target};
use super::model::NodeModel;
use crate::http::{Answer, backoff, post, send};

/// Samples a node keeps while it cannot report; beyond it the oldest go.
pub const MAX_BACKLOG: usize = 360;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Registrations under way at once.
const REGISTERING_AT_ONCE: usize = 16;

/// How the fleet runs.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// The server, e.g. `http://127.0.0.1:3000`.
    pub server: String,
    /// Seeds every node's figures, `random:N` targets and chaos.
    pub seed: u64,
    /// Where node identities are kept so that a restart reuses the nodes.
    pub state_dir: Option<PathBuf>,
    /// Requests under way at once.
    pub max_in_flight: usize,
}

/// Nodes to join one cluster with one join token.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub join_token: String,
    /// The cluster's name, when known (targets may use it).
    pub cluster_name: Option<String>,
    /// The nodes' names; each is registered unless a saved identity has it.
    pub names: Vec<String>,
    /// Largest disk a node may report (the cluster caps its total storage).
    pub max_disk_gb: Option<f64>,
}

/// A node's identity as saved in the state directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Identity {
    name: String,
    cluster_id: ClusterId,
    node_id: NodeId,
    node_token: String,
    interval_s: u32,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    server: String,
    nodes: Vec<Identity>,
    #[serde(default)]
    cluster_names: Vec<(ClusterId, String)>,
}

/// A sample waiting to be sent.
struct Pending {
    seq: u64,
    body: Vec<u8>,
    /// On the fleet's clock: not sent before (a delayed heartbeat).
    ready_at: Duration,
}

struct NodeState {
    model: NodeModel,
    faults: NodeFaults,
    seq: u64,
    role: NodeRole,
    interval: Duration,
    backlog: VecDeque<Pending>,
    last_sample: Option<DateTime<Utc>>,
    last_ack: Option<DateTime<Utc>>,
    /// The server refused the node for good: it stops.
    refused: Option<String>,
    /// After a failed send, nothing goes before this (fleet clock).
    hold_until: Duration,
    failures: u32,
}

/// One virtual node.
pub struct SimNode {
    pub name: String,
    pub cluster_id: ClusterId,
    pub node_id: NodeId,
    token: String,
    state: Mutex<NodeState>,
}

/// Locks `m`; a panic while it was held leaves plain data behind: go on with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SimNode {
    fn state(&self) -> MutexGuard<'_, NodeState> {
        lock(&self.state)
    }
}

impl NodeState {
    /// Whether the node may send now: up, reachable, not refused.
    fn can_send(&self, clock: Duration) -> bool {
        let c = self.faults.condition(clock);
        !(c.down || c.cut_off || self.refused.is_some())
    }

    /// The next heartbeat, sampled at `now`, `elapsed_s` after the last one.
    fn heartbeat(
        &mut self,
        now: DateTime<Utc>,
        elapsed_s: f64,
        pressure: super::model::Pressure,
        status: NodeStatus,
        sampled_at: Option<DateTime<Utc>>,
    ) -> HeartbeatRequest {
        let (metrics, processes) = self.model.sample(now, elapsed_s, pressure);
        self.seq += 1;
        HeartbeatRequest {
            protocol_version: PROTOCOL_VERSION,
            seq: self.seq,
            status,
            metrics,
            system: self.model.system(now),
            processes,
            sampled_at,
        }
    }

    /// The sample `seq` is settled (sent or refused for good): it leaves the backlog.
    fn settle(&mut self, seq: u64) {
        if self.backlog.front().is_some_and(|p| p.seq == seq) {
            self.backlog.pop_front();
        }
    }
}

/// A node as the Simulation panel shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    pub name: String,
    pub cluster_id: ClusterId,
    pub node_id: NodeId,
    pub is_primary: bool,
    pub faults: Vec<String>,
    /// Samples waiting to be sent.
    pub waiting: usize,
    pub last_ack: Option<DateTime<Utc>>,
    pub refused: Option<String>,
}

/// Counters since the previous report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub nodes: usize,
    pub faulted: usize,
    pub sent: u64,
    pub errors: u64,
    pub dropped: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub over: Duration,
}

#[derive(Default)]
struct Stats {
    sent: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
    last_report: Mutex<Option<Instant>>,
}

struct Inner {
    heartbeat_url: String,
    /// `{server}/api/v1/agent/operations`, where results of operations go.
    operations_url: String,
    http: reqwest::Client,
    nodes: Vec<SimNode>,
    cluster_names: Vec<(ClusterId, String)>,
    started: Instant,
    rng: Mutex<StdRng>,
    permits: Semaphore,
    stats: Stats,
}

/// A running virtual fleet. Dropping it does not stop it: call [`Fleet::stop`].
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
    stop: Arc<watch::Sender<bool>>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

/// Mixes the fleet's seed with a node's name into the node's own seed.
fn node_seed(seed: u64, name: &str) -> u64 {
    // FNV-1a: stable across builds, unlike the standard hasher.
    name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn load(dir: &Path, server: &str) -> Result<Saved, String> {
    let path = dir.join("fleet.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let saved: Saved = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a saved fleet: {e}", path.display()))?;
            if saved.server == server {
                Ok(saved)
            } else {
                Err(format!(
                    "{} belongs to {}, not {server}; use another --state-dir",
                    path.display(),
                    saved.server
                ))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Saved {
            server: server.to_owned(),
            ..Saved::default()
        }),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn save(dir: &Path, saved: &Saved) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let text = serde_json::to_string(saved).map_err(|e| e.to_string())?;
    crate::write_private(&dir.join("fleet.json"), &text)
}

/// The names of the nodes saved in `dir` for `server`: these need no join
/// token to start again.
#[must_use]
pub fn saved_names(dir: &Path, server: &str) -> Vec<String> {
    load(dir, server.trim_end_matches('/'))
        .map(|s| s.nodes.into_iter().map(|n| n.name).collect())
        .unwrap_or_default()
}

/// Registers one node, retrying while the server is busy or away.
async fn register(
    http: &reqwest::Client,
    server: &str,
    join_token: &str,
    name: &str,
    model: &NodeModel,
) -> Result<Identity, String> {
    let url = format!("{server}/api/v1/agent/register");
    let mut failures = 0;
    loop {
        let body = RegisterRequest {
            protocol_version: PROTOCOL_VERSION,
            join_token: join_token.to_owned(),
            name: Some(name.to_owned()),
            system: model.system(Utc::now()),
        };
        match post::<_, RegisterResponse>(http, &url, None, &body).await {
            Answer::Ok(r) => {
                return Ok(Identity {
                    name: name.to_owned(),
                    cluster_id: r.cluster_id,
                    node_id: r.node_id,
                    node_token: r.node_token,
                    interval_s: r.interval_s,
                });
            }
            Answer::Refused(status, message) => {
                return Err(format!(
                    "the server refused to register {name} ({status}): {message}"
                ));
            }
            Answer::Retry(why) => {
                failures += 1;
                if failures > 8 {
                    return Err(format!("cannot register {name}: {why}"));
                }
                tokio::time::sleep(backoff(
                    Duration::from_millis(500),
                    failures,
                    Duration::from_secs(15),
                ))
                .await;
            }
        }
    }
}

impl Fleet {
    /// Registers the enrolments' nodes that the state directory does not
    /// know yet, saves them, and starts every node reporting.
    ///
    /// # Errors
    /// A one-line reason: a refused registration, an unreadable state file.
    pub async fn start(options: FleetOptions, enrolments: Vec<Enrolment>) -> Result<Self, String> {
        let server = options.server.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(options.max_in_flight.max(1))
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
        let mut saved = match &options.state_dir {
            Some(dir) => load(dir, &server)?,
            None => Saved {
                server: server.clone(),
                ..Saved::default()
            },
        };
        let now = Utc::now();
        let registered =
            register_missing(&http, &server, &enrolments, &mut saved, &options, now).await;
        if let Some(dir) = &options.state_dir {
            save(dir, &saved)?;
        }
        registered?;

        let mut nodes = Vec::new();
        // Where in the interval each node first reports, from its seed.
        let mut phases = Vec::new();
        for e in &enrolments {
            for name in &e.names {
                let Some(id) = saved.nodes.iter().find(|n| &n.name == name) else {
                    continue;
                };
                let seed = node_seed(options.seed, name);
                phases.push(f64::from(u32::try_from(seed % 1000).unwrap_or(0)) / 1000.0);
                // Hosts have been up for a while when the fleet starts.
                let booted =
                    now - chrono::Duration::seconds(i64::try_from(seed % 2_000_000).unwrap_or(0));
                nodes.push(SimNode {
                    name: name.clone(),
                    cluster_id: id.cluster_id.clone(),
                    node_id: id.node_id.clone(),
                    token: id.node_token.clone(),
                    state: Mutex::new(NodeState {
                        model: NodeModel::new(seed, name, booted, e.max_disk_gb),
                        faults: NodeFaults::default(),
                        seq: 0,
                        role: NodeRole {
                            is_primary: false,
                            is_coordinator: false,
                        },
                        interval: Duration::from_secs(u64::from(id.interval_s.max(1))),
                        backlog: VecDeque::new(),
                        last_sample: None,
                        last_ack: None,
                        refused: None,
                        hold_until: Duration::ZERO,
                        failures: 0,
                    }),
                });
            }
        }
        let (stop, _) = watch::channel(false);
        let fleet = Fleet {
            inner: Arc::new(Inner {
                heartbeat_url: format!("{server}/api/v1/agent/heartbeat"),
                operations_url: format!("{server}/api/v1/agent/operations"),
                http,
                nodes,
                cluster_names: saved.cluster_names,
                started: Instant::now(),
                rng: Mutex::new(StdRng::seed_from_u64(options.seed)),
                permits: Semaphore::new(options.max_in_flight.max(1)),
                stats: Stats::default(),
            }),
            stop: Arc::new(stop),
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        let handles: Vec<_> = phases
            .into_iter()
            .enumerate()
            .map(|(i, phase)| {
                tokio::spawn(drive(fleet.inner.clone(), i, phase, fleet.stop.subscribe()))
            })
            .collect();
        *lock(&fleet.tasks) = handles;
        Ok(fleet)
    }

    /// The fleet's clock: time since it started.
    fn clock(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// The nodes' names, in fleet order.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        self.inner.nodes.iter().map(|n| n.name.clone()).collect()
    }

    fn cluster_matches(&self, cluster: &ClusterId, key: &str) -> bool {
        cluster.as_str() == key
            || self
                .inner
                .cluster_names
                .iter()
                .any(|(id, name)| id == cluster && name == key)
    }

    /// The nodes a target names, in fleet order.
    ///
    /// # Errors
    /// When the target names nothing the fleet has.
    pub fn resolve(&self, target: &Target) -> Result<Vec<usize>, String> {
        let nodes = &self.inner.nodes;
        let picked: Vec<usize> = match target {
            Target::All => (0..nodes.len()).collect(),
            Target::Primary(cluster) => {
                // A node that was primary and then went silent still thinks
                // it is; the one the server told so last is the primary.
                let mut latest: Vec<(ClusterId, usize, Option<DateTime<Utc>>)> = Vec::new();
                for (i, n) in nodes.iter().enumerate() {
                    let s = n.state();
                    let wanted = cluster
                        .as_ref()
                        .is_none_or(|c| self.cluster_matches(&n.cluster_id, c));
                    if !s.role.is_primary || !wanted {
                        continue;
                    }
                    match latest.iter_mut().find(|(c, _, _)| c == &n.cluster_id) {
                        Some(entry) if s.last_ack > entry.2 => {
                            *entry = (n.cluster_id.clone(), i, s.last_ack);
                        }
                        Some(_) => {}
                        None => latest.push((n.cluster_id.clone(), i, s.last_ack)),
                    }
                }
                let mut v: Vec<usize> = latest.into_iter().map(|(_, i, _)| i).collect();
                v.sort_unstable();
                v
            }
            Target::Cluster(c) => (0..nodes.len())
                .filter(|&i| self.cluster_matches(&nodes[i].cluster_id, c))
                .collect(),
            Target::Random(n) => {
                let mut rng = lock(&self.inner.rng);
                let mut v = rand::seq::index::sample(&mut *rng, nodes.len(), (*n).min(nodes.len()))
                    .into_vec();
                v.sort_unstable();
                v
            }
            Target::Nodes(names) => {
                let mut v = Vec::with_capacity(names.len());
                for name in names {
                    let i = nodes
                        .iter()
                        .position(|n| &n.name == name || n.node_id.as_str() == name)
                        .ok_or_else(|| format!("no simulated node is named {name}"))?;
                    v.push(i);
                }
                v
            }
        };
        if picked.is_empty() {
            return Err(match target {
                Target::Primary(_) => {
                    "no simulated node is a primary yet (it is known after a heartbeat)".into()
                }
                other => format!("{other} names no simulated node"),
            });
        }
        Ok(picked)
    }

    /// Carries out a command; answers the names of the nodes it touched.
    ///
    /// # Errors
    /// When its target names no node of the fleet.
    pub fn apply(&self, command: &Command) -> Result<Vec<String>, String> {
        let picked = self.resolve(&command.target)?;
        let clock = self.clock();
        let now = Utc::now();
        let for_ = command.for_ms.map(Duration::from_millis);
        for &i in &picked {
            let mut s = self.inner.nodes[i].state();
            match command.action {
                Action::Heal => {
                    if s.faults.heal() {
                        s.model.reboot(now);
                    }
                }
                Action::Inject(fault) => s.faults.inject(fault, clock, for_),
            }
        }
        Ok(picked
            .into_iter()
            .map(|i| self.inner.nodes[i].name.clone())
            .collect())
    }

    /// Every node as it stands.
    #[must_use]
    pub fn nodes(&self) -> Vec<NodeView> {
        self.inner
            .nodes
            .iter()
            .map(|n| {
                let s = n.state();
                NodeView {
                    name: n.name.clone(),
                    cluster_id: n.cluster_id.clone(),
                    node_id: n.node_id.clone(),
                    is_primary: s.role.is_primary,
                    faults: s.faults.describe(),
                    waiting: s.backlog.len(),
                    last_ack: s.last_ack,
                    refused: s.refused.clone(),
                }
            })
            .collect()
    }

    /// Counters since the previous report (or the start).
    #[must_use]
    pub fn report(&self) -> Report {
        let stats = &self.inner.stats;
        let mut latencies = std::mem::take(&mut *lock(&stats.latencies_us));
        latencies.sort_unstable();
        let q = |q: f64| {
            if latencies.is_empty() {
                return 0.0;
            }
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            f64::from(latencies[i]) / 1000.0
        };
        let mut last = lock(&stats.last_report);
        let since = last.unwrap_or(self.inner.started);
        *last = Some(Instant::now());
        Report {
            nodes: self.inner.nodes.len(),
            faulted: self
                .inner
                .nodes
                .iter()
                .filter(|n| !n.state().faults.is_empty())
                .count(),
            sent: stats.sent.swap(0, Ordering::Relaxed),
            errors: stats.errors.swap(0, Ordering::Relaxed),
            dropped: stats.dropped.swap(0, Ordering::Relaxed),
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            over: since.elapsed(),
        }
    }

    /// Stops every node; with `say_offline`, each node that is up reports
    /// `offline` first, as a stopping agent does.
    pub async fn stop(&self, say_offline: bool) {
        let _ = self.stop.send(true);
        let handles = std::mem::take(&mut *lock(&self.tasks));
        for h in handles {
            let _ = h.await;
        }
        if !say_offline {
            return;
        }
        let clock = self.clock();
        let mut goodbyes = tokio::task::JoinSet::new();
        for i in 0..self.inner.nodes.len() {
            let inner = self.inner.clone();
            goodbyes.spawn(async move {
                let node = &inner.nodes[i];
                let body = {
                    let mut s = node.state();
                    if !s.can_send(clock) {
                        return;
                    }
                    let pressure = s.faults.condition(clock).pressure;
                    let hb = s.heartbeat(Utc::now(), 0.0, pressure, NodeStatus::Offline, None);
                    serde_json::to_vec(&hb)
                };
                let Ok(body) = body else { return };
                let _permit = inner.permits.acquire().await;
                let _ = send::<HeartbeatResponse>(inner.request(node, body)).await;
            });
        }
        while goodbyes.join_next().await.is_some() {}
    }
}

async fn register_missing(
    http: &reqwest::Client,
    server: &str,
    enrolments: &[Enrolment],
    saved: &mut Saved,
    options: &FleetOptions,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let mut todo = Vec::new();
    for e in enrolments {
        for name in &e.names {
            if !saved.nodes.iter().any(|n| &n.name == name) {
                todo.push((e.join_token.clone(), name.clone(), e.max_disk_gb));
            }
        }
    }
    let permits = Arc::new(Semaphore::new(REGISTERING_AT_ONCE));
    let mut running = tokio::task::JoinSet::new();
    for (token, name, max_disk_gb) in todo {
        let http = http.clone();
        let server = server.to_owned();
        let permits = permits.clone();
        let model = NodeModel::new(node_seed(options.seed, &name), &name, now, max_disk_gb);
        running.spawn(async move {
            let _permit = permits.acquire().await;
            register(&http, &server, &token, &name, &model).await
        });
    }
    let mut first_error = None;
    while let Some(done) = running.join_next().await {
        match done {
            Ok(Ok(id)) => saved.nodes.push(id),
            Ok(Err(e)) => {
                if first_error.is_none() {
                    first_error = Some(e);
                    running.abort_all();
                }
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => first_error = first_error.or(Some(format!("a registration failed: {e}"))),
        }
    }
    for e in enrolments {
        let Some(name) = &e.cluster_name else {
            continue;
        };
        let ids: Vec<ClusterId> = saved
            .nodes
            .iter()
            .filter(|n| e.names.contains(&n.name))
            .map(|n| n.cluster_id.clone())
            .collect();
        for id in ids {
            if !saved.cluster_names.iter().any(|(c, _)| c == &id) {
                saved.cluster_names.push((id, name.clone()));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

impl Inner {
    fn request(&self, node: &SimNode, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.http
            .post(&self.heartbeat_url)
            .bearer_auth(&node.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
    }

    /// Takes this moment's sample, if the host is up.
    fn tick(&self, node: &SimNode, clock: Duration) {
        let now = Utc::now();
        let mut s = node.state();
        if s.faults.expire(clock) {
            s.model.reboot(now);
        }
        let c = s.faults.condition(clock);
        if c.down || s.refused.is_some() {
            return;
        }
        let elapsed = s.last_sample.map_or(0.0, |t| (now - t).as_seconds_f64());
        s.last_sample = Some(now);
        let hb = s.heartbeat(now, elapsed, c.pressure, NodeStatus::Online, Some(now));
        let Ok(body) = serde_json::to_vec(&hb) else {
            return;
        };
        s.backlog.push_back(Pending {
            seq: hb.seq,
            body,
            ready_at: clock + c.delay,
        });
        if s.backlog.len() > MAX_BACKLOG {
            s.backlog.pop_front();
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The next waiting sample that may go now, oldest first.
    fn ready(node: &SimNode, clock: Duration) -> Option<(u64, Vec<u8>)> {
        let s = node.state();
        if !s.can_send(clock) || clock < s.hold_until {
            return None;
        }
        s.backlog
            .front()
            .filter(|p| p.ready_at <= clock)
            .map(|p| (p.seq, p.body.clone()))
    }

    /// When the oldest waiting sample may go (after its delay, or after a
    /// retry's wait); none while the node cannot send at all.
    fn next_ready(node: &SimNode, clock: Duration) -> Option<Duration> {
        let s = node.state();
        if !s.can_send(clock) {
            return None;
        }
        s.backlog.front().map(|p| p.ready_at.max(s.hold_until))
    }

    /// Sends what may go, in order, until the server stops answering.
    async fn flush(&self, node: &SimNode) {
        while let Some((seq, body)) = Self::ready(node, self.started.elapsed()) {
            let permit = self.permits.acquire().await;
            let sent_at = Instant::now();
            let answer = send::<HeartbeatResponse>(self.request(node, body)).await;
            drop(permit);
            let (reports, go_on) = self.take_answer(node, seq, sent_at, answer);
            for (id, report) in reports {
                let url = format!("{}/{id}/result", self.operations_url);
                let _ = post::<_, serde_json::Value>(&self.http, &url, Some(&node.token), &report)
                    .await;
            }
            if !go_on {
                return;
            }
        }
    }

    /// Takes a heartbeat's answer into the node's state: the results of the
    /// operations it carried, and whether sending may go on.
    fn take_answer(
        &self,
        node: &SimNode,
        seq: u64,
        sent_at: Instant,
        answer: Answer<HeartbeatResponse>,
    ) -> (Vec<(String, OperationReport)>, bool) {
        let mut s = node.state();
        match answer {
            Answer::Ok(ack) => {
                let took = u32::try_from(sent_at.elapsed().as_micros()).unwrap_or(u32::MAX);
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                lock(&self.stats.latencies_us).push(took);
                s.settle(seq);
                s.role = ack.role;
                s.interval = Duration::from_secs(u64::from(ack.next_interval_s.max(1)));
                s.last_ack = Some(Utc::now());
                s.failures = 0;
                let reports = ack
                    .pending_operations
                    .iter()
                    .map(|op| (op.id.clone(), simulated_result(ack.term, op)))
                    .collect();
                (reports, true)
            }
            Answer::Refused(401, message) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                s.refused = Some(message);
                s.backlog.clear();
                (Vec::new(), false)
            }
            Answer::Refused(_, _) => {
                // The server will never take this sample: skip it.
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                s.settle(seq);
                (Vec::new(), true)
            }
            Answer::Retry(_) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                // Never longer than an interval, as the real agent.
                s.failures += 1;
                let wait = backoff(Duration::from_millis(500), s.failures, s.interval);
                s.hold_until = self.started.elapsed() + wait;
                (Vec::new(), false)
            }
        }
    }
}

/// What a virtual node answers to an operation: a sample at once is what it
/// sends anyway; it has no processes to signal; one from an older term is
/// refused, as a real agent refuses it.
fn simulated_result(term: u64, op: &PendingOperation) -> OperationReport {
    if let Some(refused) = crate::refuse_stale(term, op) {
        return refused;
    }
    let (ok, message) = if op.operation == OperationName::CollectNow {
        (true, "simulated node: sample sent".to_owned())
    } else {
        (
            false,
            format!("simulated node: {} has nothing to act on", op.operation),
        )
    };
    OperationReport {
        ok,
        message,
        output: serde_json::Value::Object(serde_json::Map::new()),
    }
}

/// One node's life: sample every interval, send what may go.
async fn drive(inner: Arc<Inner>, i: usize, phase: f64, mut stop: watch::Receiver<bool>) {
    let node = &inner.nodes[i];
    let interval = node.state().interval;
    // Nodes start spread over one interval, as real fleets are.
    let mut next_sample = tokio::time::Instant::now() + interval.mul_f64(phase);
    loop {
        let until = match Inner::next_ready(node, inner.started.elapsed()) {
            Some(ready) => {
                let at = inner.started + ready;
                next_sample.min(tokio::time::Instant::from_std(at).max(tokio::time::Instant::now()))
            }
            None => next_sample,
        };
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let now = tokio::time::Instant::now();
        if now >= next_sample {
            inner.tick(node, inner.started.elapsed());
            let interval = node.state().interval;
            next_sample += interval;
            if next_sample <= now {
                next_sample = now + interval;
            }
        }
        inner.flush(node).await;
        if node.state().refused.is_some() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::node_seed;

    #[test]
    fn node_seeds_are_stable_and_differ() {
        assert_eq!(node_seed(1, "sim-00001"), node_seed(1, "sim-00001"));
        assert_ne!(node_seed(1, "sim-00001"), node_seed(1, "sim-00002"));
        assert_ne!(node_seed(1, "sim-00001"), node_seed(2, "sim-00001"));
        // Pinned: a saved fleet keeps its hosts from one build to the next.
        assert_eq!(node_seed(0, "a"), 0xaf63_dc4c_8601_ec8c);
    }
}
