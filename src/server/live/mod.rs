//! Live updates: the hub turns the store's committed changes into the stream's
//! messages once, and every WebSocket connection ([`socket`]) picks out what
//! its user may see and has subscribed to.
//!
//! Memory stays bounded whatever the clients do: the hub's frames sit in one
//! broadcast ring of [`FRAME_BUFFER`] shared by every connection; a
//! connection that falls behind the ring loses its place and is sent a fresh
//! snapshot instead, and one that stops reading is dropped.

pub mod socket;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use muster_domain::live::{LiveMessage, NodeSample, ResyncReason};
use muster_domain::{ClusterId, NodeId};
use muster_store::{Change, ChangeSet, Store};
use tokio::sync::{broadcast, watch};

/// Frames kept for connections that are behind.
pub const FRAME_BUFFER: usize = 256;
/// At most one `metrics_sample` per node per this long.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How often samples held back by [`SAMPLE_EVERY`] are looked at.
const SAMPLE_FLUSH: Duration = Duration::from_millis(200);

/// One message, serialised once, with what connections filter it by.
#[derive(Debug, Clone)]
pub struct Routed {
    /// The cluster it concerns; `None` for events about users and tenants.
    pub cluster_id: Option<ClusterId>,
    pub node_id: Option<NodeId>,
    /// A `metrics_sample` (sent only to cluster and node subscriptions).
    pub sample: bool,
    pub text: Utf8Bytes,
}

/// What the hub passes to every connection.
#[derive(Debug, Clone)]
pub enum Item {
    Message(Routed),
    /// Who may see what may have changed: check the caller again.
    AccessChanged,
    /// Changes may have been missed: every connection starts over.
    Resync(ResyncReason),
}

/// The items of one committed change set (or one flush of held samples).
pub type Frame = Arc<[Item]>;

/// Fans committed changes out to the live connections.
#[derive(Clone)]
pub struct LiveHub {
    frames: broadcast::Sender<Frame>,
    /// Set once the server is stopping: connections close with 1001.
    stopping: watch::Sender<bool>,
}

impl LiveHub {
    /// Starts the hub's task, which runs until the store's feed closes.
    #[must_use]
    pub fn start(store: &Arc<dyn Store>) -> Self {
        let (frames, _) = broadcast::channel(FRAME_BUFFER);
        let hub = Self {
            frames,
            stopping: watch::channel(false).0,
        };
        tokio::spawn(relay(store.changes(), hub.frames.clone()));
        hub
    }

    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Frame> {
        self.frames.subscribe()
    }

    /// Closes every live connection (the server is shutting down).
    pub fn shut_down(&self) {
        self.stopping.send_replace(true);
    }

    #[must_use]
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Connections open now.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.frames.receiver_count()
    }
}

/// Serialises a message (plain data: it cannot fail).
#[must_use]
pub fn text(message: &LiveMessage) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(message).unwrap_or_default())
}

/// Samples held back so that each node sends at most one per
/// [`SAMPLE_EVERY`]; the latest one waiting replaces an earlier one.
#[derive(Default)]
struct Coalescer {
    last_sent: HashMap<NodeId, Instant>,
    waiting: HashMap<NodeId, NodeSample>,
    /// Nodes with a waiting sample, in the order they started waiting.
    queue: VecDeque<NodeId>,
}

impl Coalescer {
    /// The sample, if it may go now; otherwise it waits.
    fn offer(&mut self, sample: NodeSample, now: Instant) -> Option<NodeSample> {
        match self.last_sent.get(&sample.node_id) {
            Some(at) if now.duration_since(*at) < SAMPLE_EVERY => {
                let id = sample.node_id.clone();
                if self.waiting.insert(id.clone(), sample).is_none() {
                    self.queue.push_back(id);
                }
                None
            }
            _ => {
                self.last_sent.insert(sample.node_id.clone(), now);
                Some(sample)
            }
        }
    }

    /// Waiting samples whose node's second has passed.
    fn due(&mut self, now: Instant) -> Vec<NodeSample> {
        let mut out = Vec::new();
        while let Some(id) = self.queue.front() {
            let ready = self
                .last_sent
                .get(id)
                .is_none_or(|at| now.duration_since(*at) >= SAMPLE_EVERY);
            if !ready {
                break;
            }
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            if let Some(sample) = self.waiting.remove(&id) {
                self.last_sent.insert(id, now);
                out.push(sample);
            }
        }
        // Nodes that have not sent for a while need no memory of it.
        if self.last_sent.len() > 2 * self.waiting.len() + 1024 {
            self.last_sent
                .retain(|_, at| now.duration_since(*at) < SAMPLE_EVERY);
        }
        out
    }
}

fn sample_item(sample: NodeSample) -> Item {
    Item::Message(Routed {
        cluster_id: Some(sample.cluster_id.clone()),
        node_id: Some(sample.node_id.clone()),
        sample: true,
        text: text(&LiveMessage::MetricsSample { sample }),
    })
}

fn message(cluster_id: Option<&ClusterId>, node_id: Option<&NodeId>, m: &LiveMessage) -> Item {
    Item::Message(Routed {
        cluster_id: cluster_id.cloned(),
        node_id: node_id.cloned(),
        sample: false,
        text: text(m),
    })
}

/// A change set as the stream's items.
fn items(set: &ChangeSet, samples: &mut Coalescer, now: Instant) -> Vec<Item> {
    let mut out = Vec::with_capacity(set.len());
    for change in set.iter() {
        match change {
            Change::Cluster { cluster } => out.push(message(
                Some(&cluster.id),
                None,
                &LiveMessage::ClusterUpdated {
                    cluster: cluster.clone(),
                },
            )),
            Change::Node { node } => out.push(message(
                Some(&node.cluster_id),
                Some(&node.id),
                &LiveMessage::NodeUpdated { node: node.clone() },
            )),
            Change::NodeRemoved {
                node_id,
                cluster_id,
            } => out.push(message(
                Some(cluster_id),
                Some(node_id),
                &LiveMessage::NodeRemoved {
                    node_id: node_id.clone(),
                    cluster_id: cluster_id.clone(),
                },
            )),
            Change::Event { event } => out.push(message(
                event.cluster_id.as_ref(),
                event.node_id.as_ref(),
                &LiveMessage::EventCreated {
                    event: event.clone(),
                },
            )),
            Change::Sample { sample } => {
                if let Some(sample) = samples.offer(sample.clone(), now) {
                    out.push(sample_item(sample));
                }
            }
            Change::Access => out.push(Item::AccessChanged),
            Change::Lost => out.push(Item::Resync(ResyncReason::Interrupted)),
        }
    }
    out
}

/// The hub's task: change sets in, frames out, plus the held samples as
/// their seconds pass.
async fn relay(mut changes: broadcast::Receiver<ChangeSet>, frames: broadcast::Sender<Frame>) {
    let mut samples = Coalescer::default();
    let mut flush = tokio::time::interval(SAMPLE_FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let out: Vec<Item> = tokio::select! {
            received = changes.recv() => match received {
                Ok(set) => items(&set, &mut samples, Instant::now()),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the live hub fell behind the store's changes");
                    vec![Item::Resync(ResyncReason::Interrupted)]
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = flush.tick() => samples.due(Instant::now()).into_iter().map(sample_item).collect(),
        };
        if !out.is_empty() {
            // No connection is not an error: nobody is watching.
            let _ = frames.send(out.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_domain::protocol::HostMetrics;

    fn sample(node: &str, cpu: f64) -> NodeSample {
        NodeSample {
            node_id: node.parse().expect("node id"),
            cluster_id: "cluster-a1b2c3d4-2026-01-21-10-00-00-e5f6g7h8"
                .parse()
                .expect("cluster id"),
            recorded_at: chrono::Utc::now(),
            metrics: HostMetrics {
                cpu_usage_percent: cpu,
                memory_usage_percent: 0.0,
                disk_usage_percent: 0.0,
                load_average: 0.0,
                network_rx_mbps: 0.0,
                network_tx_mbps: 0.0,
                process_count: 0,
            },
        }
    }

    #[test]
    fn a_node_sends_one_sample_a_second_and_the_latest_waits() {
        let a = "node-a1b2c3d4-2026-01-21-1-1i2j3k4l";
        let b = "node-a1b2c3d4-2026-01-21-2-1i2j3k4l";
        let mut c = Coalescer::default();
        let t0 = Instant::now();
        assert!(c.offer(sample(a, 1.0), t0).is_some());
        assert!(c.offer(sample(b, 1.0), t0).is_some(), "nodes are apart");
        let soon = t0 + Duration::from_millis(300);
        assert!(c.offer(sample(a, 2.0), soon).is_none());
        assert!(c.offer(sample(a, 3.0), soon).is_none());
        assert!(c.due(soon).is_empty(), "its second has not passed");
        let later = t0 + SAMPLE_EVERY;
        let due = c.due(later);
        assert_eq!(due.len(), 1, "one sample for the node, not two");
        assert!((due[0].metrics.cpu_usage_percent - 3.0).abs() < f64::EPSILON);
        assert!(c.due(later).is_empty());
        assert!(
            c.offer(sample(a, 4.0), later + Duration::from_millis(10))
                .is_none(),
            "a flushed sample starts the node's next second"
        );
    }
}
