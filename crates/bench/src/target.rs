//! What the benchmark drives: a bare axum endpoint (the ceiling), or a real
//! `muster serve` process on SQLite or PostgreSQL, whose CPU time and memory
//! are read from /proc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use muster_domain::protocol::{HeartbeatRequest, HeartbeatResponse, NodeRole, PROTOCOL_VERSION};
use serde_json::{Value, json};

use crate::load::VirtualNode;

/// `$CARGO_TARGET_DIR/release/muster`, or `target/release/muster`.
pub fn default_server_bin() -> Result<PathBuf, String> {
    let dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let bin = dir.join("release").join("muster");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: build the server with `cargo build --release -p muster --features ssr` or pass --server-bin",
            bin.display()
        ))
    }
}

/// An endpoint that parses a heartbeat and answers, touching nothing else.
pub struct Bare {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Bare {
    pub async fn start() -> Result<Self, String> {
        async fn beat(
            axum::Json(h): axum::Json<HeartbeatRequest>,
        ) -> axum::Json<HeartbeatResponse> {
            axum::Json(HeartbeatResponse {
                protocol_version: PROTOCOL_VERSION,
                ack_seq: h.seq,
                role: NodeRole {
                    is_primary: false,
                    is_coordinator: false,
                },
                term: 1,
                pending_operations: Vec::new(),
                next_interval_s: 10,
            })
        }
        let app = axum::Router::new().route("/api/v1/agent/heartbeat", axum::routing::post(beat));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://{addr}/api/v1/agent/heartbeat"),
            task,
        })
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// CPU time and memory of a process at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    cpu_ticks: u64,
    rss_kib: u64,
    peak_kib: u64,
}

impl Usage {
    pub fn rss_kib(&self) -> u64 {
        self.rss_kib
    }

    /// CPU ticks used since the reading `earlier`.
    pub fn ticks_since(&self, earlier: &Self) -> u64 {
        self.cpu_ticks.saturating_sub(earlier.cpu_ticks)
    }
}

/// The server's share of a core over each run, and its memory at the end.
#[derive(Debug, Clone, Copy)]
pub struct UsageDelta {
    pub saturation_cpu_percent: f64,
    pub load_cpu_percent: f64,
    pub rss_mib: f64,
    pub peak_mib: f64,
}

impl UsageDelta {
    /// From the CPU ticks of the saturation runs (`saturated` ticks over
    /// `saturated_for`), and the readings before and after the run of
    /// `run` at the offered load.
    #[allow(clippy::cast_precision_loss)]
    pub fn between(
        (saturated, saturated_for): (u64, Duration),
        mid: &Usage,
        after: &Usage,
        run: Duration,
    ) -> Self {
        Self {
            saturation_cpu_percent: ticks_percent(saturated, saturated_for),
            load_cpu_percent: cpu_percent(mid, after, run),
            rss_mib: after.rss_kib as f64 / 1024.0,
            peak_mib: after.peak_kib as f64 / 1024.0,
        }
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// The CPU `pid` used between two readings, as a share of one core.
pub fn cpu_percent(before: &Usage, after: &Usage, over: Duration) -> f64 {
    ticks_percent(after.ticks_since(before), over)
}

/// `ticks` of CPU time over `over`, as a share of one core.
#[allow(clippy::cast_precision_loss)]
fn ticks_percent(ticks: u64, over: Duration) -> f64 {
    ticks as f64 / clock_ticks() / over.as_secs_f64().max(1e-9) * 100.0
}

/// Seconds of CPU time every process of a PostgreSQL server on this machine
/// has used so far (backends, WAL writer, checkpointer, and backends that
/// have ended, through the postmaster's account of its children); 0 where
/// none runs here.
#[allow(clippy::cast_precision_loss)]
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let ticks: u64 = dir
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(|pid| {
            let (own, children) = cpu_ticks(pid);
            own + children
        })
        .sum();
    ticks as f64 / clock_ticks()
}

/// Clock ticks process `pid` has used, and its ended children.
fn cpu_ticks(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ")".
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime, stime, cutime and cstime are fields 14 to 17 of the whole
    // line: 11 to 14 here.
    (field(11) + field(12), field(13) + field(14))
}

/// CPU time and memory of process `pid` now.
pub fn usage_of(pid: u32) -> Usage {
    read_usage(pid)
}

fn read_usage(pid: u32) -> Usage {
    let (cpu_ticks, _) = cpu_ticks(pid);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Usage {
        cpu_ticks,
        rss_kib: kib("VmRSS:"),
        peak_kib: kib("VmHWM:"),
    }
}

/// A `muster serve` process on a scratch database.
pub struct Muster {
    child: Child,
    base: String,
    http: reqwest::Client,
    token: String,
    dir: PathBuf,
    pg: Option<muster_store::testing::PgDb>,
}

const ADMIN_PASSWORD: &str = "benchmark admin password";

impl Muster {
    pub async fn start(bin: &Path, db: &str, postgres_url: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("muster-bench-{}-{db}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let (url, pg) = if db == "postgres" {
            let pg = muster_store::testing::PgDb::create_at(postgres_url).await?;
            let url = match pg.url() {
                muster_store::DatabaseUrl::Postgres { url, .. } => url.clone(),
                muster_store::DatabaseUrl::Sqlite { .. } => {
                    return Err("not a PostgreSQL URL".into());
                }
            };
            (url, Some(pg))
        } else {
            (format!("sqlite:{}", dir.join("muster.db").display()), None)
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let server_log = std::env::var("MUSTER_BENCH_SERVER_LOG").ok();
        let child = Command::new(bin)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .current_dir(&dir)
            .env("DATABASE_URL", &url)
            .env("MUSTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            // The server logs (to its stdout) nothing but warnings, unless
            // MUSTER_BENCH_SERVER_LOG names a log filter: then everything it
            // lets through is shown beside the benchmark's own output.
            .env("RUST_LOG", server_log.as_deref().unwrap_or("warn"))
            .stdout(if server_log.is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .map_err(|e| e.to_string())?;
        let mut server = Self {
            child,
            base,
            http,
            token: String::new(),
            dir,
            pg,
        };
        let started = Instant::now();
        loop {
            if server
                .http
                .get(format!("{}/readyz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err("the server did not become ready within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
            .post(
                "/api/v1/auth/login",
                &json!({"username": "admin", "password": ADMIN_PASSWORD}),
            )
            .await?;
        let created = server
            .post("/api/v1/tokens", &json!({"name": "bench"}))
            .await?;
        created["token"]
            .as_str()
            .unwrap_or_default()
            .clone_into(&mut server.token);
        Ok(server)
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        let res = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = res.status();
        let value: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!("{path}: {status}: {value}"))
        }
    }

    /// Registers `n` nodes, twenty per production cluster, through the agent
    /// protocol; returns them and the clusters' ids.
    pub async fn register(&self, n: u32) -> Result<(Vec<VirtualNode>, Vec<String>), String> {
        self.register_in(n, 20).await
    }

    /// Registers `n` nodes, `per_cluster` per production cluster (whose node
    /// limit is raised to fit), going round the clusters; returns the nodes
    /// cluster by cluster, in the order of the clusters' ids.
    pub async fn register_in(
        &self,
        n: u32,
        per_cluster: u32,
    ) -> Result<(Vec<VirtualNode>, Vec<String>), String> {
        let per_cluster = per_cluster.max(1);
        let mut joins = Vec::new();
        let mut clusters = Vec::new();
        for c in 0..n.div_ceil(per_cluster) {
            let cluster = self
                .post(
                    "/api/v1/clusters",
                    &json!({"name": format!("bench-{c:05}"), "region": "bench", "template": "production",
                        "max_nodes": per_cluster.max(20), "max_storage_gb": u64::from(per_cluster.max(20)) * 1000,
                        "config": {"health_check_interval_s": 30}}),
                )
                .await?;
            let id = cluster["id"].as_str().unwrap_or_default().to_owned();
            clusters.push(id.clone());
            let join = self
                .post(
                    &format!("/api/v1/clusters/{id}/join-tokens"),
                    &json!({"name": "bench"}),
                )
                .await?;
            joins.push(join["token"].as_str().unwrap_or_default().to_owned());
        }
        // Consecutive registrations go to different clusters, so the
        // workers do not queue on one cluster's lock.
        let cluster_count = u32::try_from(joins.len()).unwrap_or(u32::MAX).max(1);
        let joins = Arc::new(joins);
        let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let mut workers = Vec::new();
        for _ in 0..16 {
            let (http, base, joins, next) = (
                self.http.clone(),
                self.base.clone(),
                joins.clone(),
                next.clone(),
            );
            workers.push(tokio::spawn(async move {
                let mut tokens = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return Ok::<_, String>(tokens);
                    }
                    let (cluster, k) = (i % cluster_count, i / cluster_count);
                    let join = &joins[cluster as usize];
                    let hb = crate::load::heartbeat(0, 0);
                    let res = http
                        .post(format!("{base}/api/v1/agent/register"))
                        .json(&json!({"protocol_version": 1, "join_token": join, "name": format!("node-{i:05}"),
                            "system": hb.system}))
                        .send()
                        .await
                        .map_err(|e| format!("register: {e}"))?;
                    let status = res.status();
                    let body: Value = res.json().await.unwrap_or(Value::Null);
                    if !status.is_success() {
                        return Err(format!("register: {status}: {body}"));
                    }
                    let token = body["node_token"].as_str().unwrap_or_default().to_owned();
                    tokens.push(((cluster, k), token));
                }
            }));
        }
        let mut tokens = Vec::new();
        for w in workers {
            tokens.extend(w.await.map_err(|e| e.to_string())??);
        }
        // Cluster by cluster, as `clusters` lists them.
        tokens.sort_unstable_by_key(|(at, _)| *at);
        let nodes = tokens
            .into_iter()
            .map(|(_, token)| VirtualNode::new(token))
            .collect();
        Ok((nodes, clusters))
    }

    /// A signed-in browser's GET of `path` (the session cookie from the
    /// start-up sign-in): the status, the body's size and how long the whole
    /// body took.
    pub async fn page(&self, path: &str) -> Result<(u16, usize, Duration), String> {
        let started = Instant::now();
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = res.status().as_u16();
        let body = res.bytes().await.map_err(|e| format!("{path}: {e}"))?;
        Ok((status, body.len(), started.elapsed()))
    }

    /// A REST read with the admin's API token.
    pub async fn api_get(&self, path: &str) -> Result<Value, String> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = res.status();
        let value: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!("{path}: {status}: {value}"))
        }
    }

    /// How many nodes the server counts online, over every cluster.
    pub async fn online_nodes(&self) -> Result<u64, String> {
        let mut online = 0;
        let mut cursor = Value::Null;
        loop {
            let page = self
                .post(
                    "/fn/list_cluster_rows",
                    &json!({"query": {"limit": 1000, "cursor": cursor}}),
                )
                .await?;
            for row in page["items"].as_array().ok_or("no rows")? {
                online += row["tally"]["online"].as_u64().unwrap_or(0);
            }
            cursor = page["next_cursor"].clone();
            if cursor.is_null() {
                return Ok(online);
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The admin's API token.
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn heartbeat_url(&self) -> String {
        format!("{}/api/v1/agent/heartbeat", self.base)
    }

    pub fn usage(&self) -> Usage {
        read_usage(self.child.id())
    }

    pub async fn stop(self) {
        let Self {
            mut child, dir, pg, ..
        } = self;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        let _ = std::fs::remove_dir_all(&dir);
        if let Some(pg) = pg {
            pg.drop().await;
        }
    }
}
