//! Live updates: the hub turns the store's committed changes into the stream's
//! messages once, and every WebSocket connection ([`socket`]) picks out what
//! its user may see and has subscribed to.
//!
//! Frames are routed: the fleet channel carries what every connection may
//! need (status changes, events, access changes, resyncs — not samples), and
//! each followed cluster has a channel of its own carrying everything about
//! it, so a connection wakes for its cluster's samples and not for every
//! other cluster's.
//!
//! Memory stays bounded whatever the clients do: frames sit in broadcast
//! rings of [`FRAME_BUFFER`] shared by the connections on them; a connection
//! that falls behind a ring loses its place and is sent a fresh snapshot
//! instead, and one that stops reading is dropped.

pub mod socket;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
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

/// The channels of the clusters someone follows.
type ClusterChannels = Arc<Mutex<HashMap<ClusterId, broadcast::Sender<Frame>>>>;

/// Fans committed changes out to the live connections.
#[derive(Clone)]
pub struct LiveHub {
    fleet: broadcast::Sender<Frame>,
    clusters: ClusterChannels,
    /// Set once the server is stopping: connections close with 1001.
    stopping: watch::Sender<bool>,
}

impl LiveHub {
    /// Starts the hub's task, which runs until the store's feed closes.
    #[must_use]
    pub fn start(store: &Arc<dyn Store>) -> Self {
        let hub = Self {
            fleet: broadcast::channel(FRAME_BUFFER).0,
            clusters: ClusterChannels::default(),
            stopping: watch::channel(false).0,
        };
        tokio::spawn(relay(
            store.changes(),
            hub.fleet.clone(),
            hub.clusters.clone(),
        ));
        hub
    }

    /// The fleet channel: every message but samples, and the hub's notices.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Frame> {
        self.fleet.subscribe()
    }

    /// Everything about one cluster, samples included.
    #[must_use]
    pub fn follow_cluster(&self, id: &ClusterId) -> broadcast::Receiver<Frame> {
        let mut channels = self.clusters.lock().unwrap_or_else(PoisonError::into_inner);
        channels
            .entry(id.clone())
            .or_insert_with(|| broadcast::channel(FRAME_BUFFER).0)
            .subscribe()
    }

    /// Closes every live connection (the server is shutting down).
    pub fn shut_down(&self) {
        self.stopping.send_replace(true);
    }

    #[must_use]
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
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

/// A change set as the stream's items. Samples go only to the channels of
/// followed clusters, so those of clusters nobody follows are left out here,
/// before they are serialised.
fn items(
    set: &ChangeSet,
    samples: &mut Coalescer,
    now: Instant,
    followed: impl Fn(&ClusterId) -> bool,
) -> Vec<Item> {
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
            Change::Sample { sample } if followed(&sample.cluster_id) => {
                if let Some(sample) = samples.offer(sample.clone(), now) {
                    out.push(sample_item(sample));
                }
            }
            Change::Sample { .. } => {}
            Change::Access => out.push(Item::AccessChanged),
            Change::Lost => out.push(Item::Resync(ResyncReason::Interrupted)),
        }
    }
    out
}

/// Sends `items` on the fleet channel (all but samples) and on the channels
/// of the clusters they concern that someone follows.
fn route(items: Vec<Item>, fleet: &broadcast::Sender<Frame>, clusters: &ClusterChannels) {
    if items.is_empty() {
        return;
    }
    let mut by_cluster: HashMap<ClusterId, Vec<Item>> = HashMap::new();
    {
        let channels = clusters.lock().unwrap_or_else(PoisonError::into_inner);
        if !channels.is_empty() {
            for item in &items {
                if let Item::Message(Routed {
                    cluster_id: Some(id),
                    ..
                }) = item
                    && channels.contains_key(id)
                {
                    by_cluster.entry(id.clone()).or_default().push(item.clone());
                }
            }
        }
        for (id, frame) in by_cluster {
            if let Some(channel) = channels.get(&id) {
                // No receiver left is not an error: the channel goes below.
                let _ = channel.send(frame.into());
            }
        }
    }
    let general: Vec<Item> = items
        .into_iter()
        .filter(|i| !matches!(i, Item::Message(Routed { sample: true, .. })))
        .collect();
    if !general.is_empty() {
        // No connection is not an error: nobody is watching.
        let _ = fleet.send(general.into());
    }
}

/// The hub's task: change sets in, frames out, plus the held samples as
/// their seconds pass; channels nobody follows any more are let go.
async fn relay(
    mut changes: broadcast::Receiver<ChangeSet>,
    fleet: broadcast::Sender<Frame>,
    clusters: ClusterChannels,
) {
    let mut samples = Coalescer::default();
    let mut flush = tokio::time::interval(SAMPLE_FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let out: Vec<Item> = tokio::select! {
            received = changes.recv() => match received {
                Ok(set) => {
                    let channels = clusters.lock().unwrap_or_else(PoisonError::into_inner);
                    items(&set, &mut samples, Instant::now(), |id| channels.contains_key(id))
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the live hub fell behind the store's changes");
                    vec![Item::Resync(ResyncReason::Interrupted)]
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = flush.tick() => {
                clusters
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .retain(|_, channel| channel.receiver_count() > 0);
                samples.due(Instant::now()).into_iter().map(sample_item).collect()
            }
        };
        route(out, &fleet, &clusters);
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
