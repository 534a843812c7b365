//! `muster-agent run`: registers once (or reuses its saved identity), then
//! reports this host every interval. While the server cannot be reached the
//! samples wait in a bounded spool on disk and are replayed in order; a
//! graceful stop reports `offline`.

use std::path::PathBuf;
use std::time::Duration;

use muster_domain::NodeStatus;
use muster_domain::protocol::{
    HeartbeatRequest, HeartbeatResponse, PROTOCOL_VERSION, RegisterRequest, RegisterResponse,
};
use serde::{Deserialize, Serialize};

use muster_agent::http::{Answer, backoff, post};

use crate::collector::Collector;
use crate::operations::Operations;
use crate::spool::Spool;

/// How the agent was started.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub server: String,
    pub join_token: Option<String>,
    /// A node added by hand: report as it without registering.
    pub node_token: Option<String>,
    pub name: Option<String>,
    pub state_dir: PathBuf,
    pub spool_size: usize,
    /// Carry out `signal_process` operations (within the guards).
    pub allow_process_control: bool,
}

/// Who this agent is, saved after registering so a restart keeps the node.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Identity {
    server: String,
    /// Unknown for a node added by hand (its token says who it is).
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    cluster_id: Option<String>,
    node_token: String,
    interval_s: u32,
}

/// The interval before the server has named one (a node added by hand).
const FIRST_INTERVAL_S: u32 = 10;

/// Longest wait between registration attempts while the server is failing.
const MAX_BACKOFF: Duration = Duration::from_mins(1);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the agent stopped for good.
pub type Fatal = String;

fn identity_path(dir: &std::path::Path) -> PathBuf {
    dir.join("node.json")
}

fn load_identity(opts: &RunOptions) -> Result<Option<Identity>, Fatal> {
    let path = identity_path(&opts.state_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id: Identity = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not an agent identity: {e}", path.display()))?;
            if id.server != opts.server {
                return Err(format!(
                    "{} belongs to {}, not {}; use another --state-dir",
                    path.display(),
                    id.server,
                    opts.server
                ));
            }
            Ok(Some(id))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn save_identity(dir: &std::path::Path, id: &Identity) -> Result<(), Fatal> {
    let text = serde_json::to_string_pretty(id).map_err(|e| e.to_string())?;
    muster_agent::write_private(&identity_path(dir), &text)
}

/// Takes on a node an admin added by hand: its token is the identity; the
/// first heartbeat's answer sets the interval.
fn adopt(opts: &RunOptions, token: &str) -> Result<Identity, Fatal> {
    let id = Identity {
        server: opts.server.clone(),
        node_id: None,
        cluster_id: None,
        node_token: token.trim().to_owned(),
        interval_s: FIRST_INTERVAL_S,
    };
    save_identity(&opts.state_dir, &id)?;
    eprintln!("muster-agent: reporting with the node token given");
    Ok(id)
}

async fn register(
    http: &reqwest::Client,
    opts: &RunOptions,
    collector: &mut Collector,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<Option<Identity>, Fatal> {
    let Some(join_token) = &opts.join_token else {
        return Err(format!(
            "no saved identity in {} and no --join-token to register with",
            opts.state_dir.display()
        ));
    };
    let url = format!("{}/api/v1/agent/register", opts.server);
    let mut failures = 0;
    loop {
        let sample = collector.sample();
        let body = RegisterRequest {
            protocol_version: PROTOCOL_VERSION,
            join_token: join_token.clone(),
            name: opts.name.clone(),
            system: sample.system,
        };
        match post::<_, RegisterResponse>(http, &url, None, &body).await {
            Answer::Ok(r) => {
                let id = Identity {
                    server: opts.server.clone(),
                    node_id: Some(r.node_id.to_string()),
                    cluster_id: Some(r.cluster_id.to_string()),
                    node_token: r.node_token,
                    interval_s: r.interval_s,
                };
                save_identity(&opts.state_dir, &id)?;
                eprintln!(
                    "muster-agent: registered as {} in {}",
                    r.node_id, r.cluster_id
                );
                return Ok(Some(id));
            }
            Answer::Refused(status, message) => {
                return Err(format!(
                    "the server refused to register this node ({status}): {message}"
                ));
            }
            Answer::Retry(why) => {
                failures += 1;
                let wait = backoff(Duration::from_secs(1), failures, MAX_BACKOFF);
                eprintln!("muster-agent: {why}; retrying in {} ms", wait.as_millis());
                if wait_or_stop(wait, stop).await {
                    return Ok(None);
                }
            }
        }
    }
}

/// Sleeps; `true` when asked to stop meanwhile.
async fn wait_or_stop(d: Duration, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Runs until `stop` turns true (then reports `offline`) or the server
/// refuses the node for good.
///
/// # Errors
/// A one-line reason the agent cannot go on.
pub async fn run(
    opts: RunOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), Fatal> {
    std::fs::create_dir_all(&opts.state_dir)
        .map_err(|e| format!("cannot create {}: {e}", opts.state_dir.display()))?;
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
    let mut collector = Collector::new().map_err(|e| format!("cannot read this host: {e}"))?;
    tokio::time::sleep(crate::collector::MIN_WINDOW).await;
    let id = match (load_identity(&opts)?, &opts.node_token) {
        (Some(id), _) => id,
        (None, Some(token)) => adopt(&opts, token)?,
        (None, None) => match register(&http, &opts, &mut collector, &mut stop).await? {
            Some(id) => id,
            None => return Ok(()),
        },
    };
    let mut spool = Spool::open(&opts.state_dir.join("spool.jsonl"), opts.spool_size)
        .map_err(|e| format!("cannot open the spool: {e}"))?;
    let url = format!("{}/api/v1/agent/heartbeat", opts.server);
    let mut interval = Duration::from_secs(u64::from(id.interval_s.max(1)));
    let mut failures: u32 = 0;
    let mut next_sample = tokio::time::Instant::now();
    let mut next_send = tokio::time::Instant::now();
    let mut operations = Operations::new(opts.allow_process_control);
    // The sample taken for a `collect_now`, once its heartbeat is taken.
    let mut collect_seq: Option<u64> = None;
    loop {
        let now = tokio::time::Instant::now();
        if now >= next_sample {
            if operations.is_collecting() && collect_seq.is_none() {
                collect_seq = Some(spool.next_seq());
            }
            spool_sample(&mut collector, &mut spool, opts.spool_size)?;
            next_sample = now + interval;
        }
        if now >= next_send {
            let link = Link {
                http: &http,
                url: &url,
                id: &id,
            };
            match flush(
                &link,
                &mut spool,
                &opts,
                interval,
                &mut failures,
                &mut operations,
            )
            .await?
            {
                Flushed::Done { next, collect } => {
                    if next != interval {
                        interval = next;
                        next_sample = tokio::time::Instant::now() + interval;
                    }
                    if let Some(seq) = collect_seq.take() {
                        operations.collected(seq);
                    }
                    if collect {
                        next_sample = tokio::time::Instant::now();
                    }
                    next_send = next_sample;
                }
                Flushed::RetryIn(wait) => next_send = tokio::time::Instant::now() + wait,
            }
            operations
                .send_reports(&http, &opts.server, &id.node_token)
                .await;
        }
        let until = next_sample.min(next_send);
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    say_goodbye(&http, &url, &id, &mut spool, &mut collector).await;
    Ok(())
}

/// Measures the host and queues the sample for sending.
fn spool_sample(
    collector: &mut Collector,
    spool: &mut Spool,
    spool_size: usize,
) -> Result<(), Fatal> {
    let sample = collector.sample();
    let heartbeat = HeartbeatRequest {
        protocol_version: PROTOCOL_VERSION,
        seq: spool.next_seq(),
        status: NodeStatus::Online,
        metrics: sample.metrics,
        system: sample.system,
        processes: sample.processes,
        sampled_at: Some(chrono::Utc::now()),
    };
    let dropped = spool
        .push(heartbeat)
        .map_err(|e| format!("cannot write the spool: {e}"))?;
    if dropped > 0 {
        eprintln!(
            "muster-agent: the spool is full ({spool_size} samples): dropped the oldest; {} dropped so far",
            spool.dropped()
        );
    }
    Ok(())
}

/// How a flush of the spool ended.
enum Flushed {
    /// Everything was sent: the server's next interval, and whether an
    /// operation asked for a heartbeat at once.
    Done { next: Duration, collect: bool },
    /// The server is failing: try again after this.
    RetryIn(Duration),
}

/// Where heartbeats go, and as whom.
struct Link<'a> {
    http: &'a reqwest::Client,
    url: &'a str,
    id: &'a Identity,
}

/// Replays the spool in order, oldest first, until it is empty or the server
/// stops answering; hands the operations the answers carry to `operations`.
async fn flush(
    link: &Link<'_>,
    spool: &mut Spool,
    opts: &RunOptions,
    interval: Duration,
    failures: &mut u32,
    operations: &mut Operations,
) -> Result<Flushed, Fatal> {
    let mut next = interval;
    let mut collect = false;
    while let Some(hb) = spool.front() {
        match post::<_, HeartbeatResponse>(link.http, link.url, Some(&link.id.node_token), hb).await
        {
            Answer::Ok(ack) => {
                *failures = 0;
                spool
                    .ack(ack.ack_seq)
                    .map_err(|e| format!("cannot write the spool: {e}"))?;
                next = Duration::from_secs(u64::from(ack.next_interval_s.max(1)));
                collect |= operations.receive(ack.term, &ack.pending_operations);
            }
            Answer::Refused(401, message) => {
                return Err(format!(
                    "the server no longer accepts this node ({message}); to join again, remove {} and start with --join-token",
                    identity_path(&opts.state_dir).display()
                ));
            }
            Answer::Refused(status, message) => {
                // The server will never take this sample: skip it.
                let seq = hb.seq;
                eprintln!("muster-agent: sample {seq} refused ({status}): {message}");
                spool
                    .ack(seq)
                    .map_err(|e| format!("cannot write the spool: {e}"))?;
            }
            Answer::Retry(why) => {
                *failures += 1;
                // Never longer than an interval: a node that retries less
                // often would be declared unreachable once the server is back.
                let wait = backoff(Duration::from_millis(500), *failures, interval);
                eprintln!(
                    "muster-agent: {why}; {} sample(s) kept; retrying in {} ms",
                    spool.len(),
                    wait.as_millis()
                );
                return Ok(Flushed::RetryIn(wait));
            }
        }
    }
    Ok(Flushed::Done { next, collect })
}

/// A graceful stop: says so, once, without waiting long (unsent samples stay
/// in the spool for the next start).
async fn say_goodbye(
    http: &reqwest::Client,
    url: &str,
    id: &Identity,
    spool: &mut Spool,
    collector: &mut Collector,
) {
    if !spool.is_empty() {
        eprintln!(
            "muster-agent: stopping with {} unsent sample(s) kept in the spool",
            spool.len()
        );
        return;
    }
    let Ok(seq) = spool.reserve_seq() else {
        eprintln!("muster-agent: cannot write the spool; stopping without reporting offline");
        return;
    };
    let sample = collector.sample();
    let goodbye = HeartbeatRequest {
        protocol_version: PROTOCOL_VERSION,
        seq,
        status: NodeStatus::Offline,
        metrics: sample.metrics,
        system: sample.system,
        processes: sample.processes,
        sampled_at: None,
    };
    match post::<_, HeartbeatResponse>(http, url, Some(&id.node_token), &goodbye).await {
        Answer::Ok(_) => eprintln!("muster-agent: reported offline; stopping"),
        Answer::Refused(_, why) | Answer::Retry(why) => {
            eprintln!("muster-agent: could not report offline ({why}); stopping");
        }
    }
}
