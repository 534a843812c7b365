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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, Utc};
use muster_domain::live::{LiveMessage, NodeSample, ResyncReason};
use muster_domain::{ClusterId, NodeId};
use muster_store::{Change, ChangeSet, Store};
use tokio::sync::{broadcast, watch};

/// Frames kept for connections that are behind.
pub const FRAME_BUFFER: usize = 256;
/// The least time between the recording of two `metrics_sample`s of a node
/// (see [`Coalescer`]): a second, less a quarter for reports a little early.
const SAMPLE_GAP: Duration = Duration::from_millis(750);
/// How long the hub remembers a node's last sample: one arriving later that
/// is older than it is dropped rather than sent after it.
const SAMPLE_MEMORY: Duration = Duration::from_secs(10);
/// How often channels nobody follows any more are let go.
const CHANNEL_SWEEP: Duration = Duration::from_secs(1);

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

/// Samples held back so that each node sends about one a second.
///
/// A sample goes at once when it was recorded at least [`SAMPLE_GAP`] after
/// the node's last one sent; otherwise it waits until that long after the
/// last one, and a later sample takes its place meanwhile. A node therefore
/// sends one sample per report when it reports once a second (a little early
/// or late), and at most four in three seconds however fast it reports.
///
/// Judging by when samples were recorded rather than when they reach the
/// hub keeps a delay from repeating: when a slow commit holds a second's
/// heartbeats back, the next on-time sample is still a second younger than
/// the late ones and goes at once.
#[derive(Default)]
struct Coalescer {
    /// What each node sent last; forgotten once it is long past.
    last: HashMap<NodeId, Sent>,
    waiting: HashMap<NodeId, Held>,
    /// When each waiting node's sample may go, earliest first; an entry
    /// whose time is not its node's present one is stale.
    due: BinaryHeap<Reverse<(Instant, NodeId)>>,
}

struct Sent {
    /// When it was recorded, or when its slot began if it waited for it.
    recorded_at: DateTime<Utc>,
    at: Instant,
}

struct Held {
    sample: NodeSample,
    due: Instant,
    /// [`SAMPLE_GAP`] after the last sent one's recording: the time the
    /// next is measured from once this goes, so a node reporting fast still
    /// sends one sample per gap.
    slot: DateTime<Utc>,
}

impl Coalescer {
    /// The sample, if it may go now; otherwise it waits or, when the node
    /// has already sent or holds a newer one, is dropped.
    fn offer(&mut self, sample: NodeSample, now: Instant) -> Option<NodeSample> {
        let id = &sample.node_id;
        let since_last = self
            .last
            .get(id)
            .map(|last| sample.recorded_at - last.recorded_at);
        // How long it must wait; none when it is no newer than the last.
        let wait = since_last.map(|d| {
            d.to_std()
                .ok()
                .filter(|since| !since.is_zero())
                .map(|since| SAMPLE_GAP.saturating_sub(since))
        });
        match wait {
            // Older than (or as old as) what went: the client has newer.
            Some(None) => None,
            Some(Some(wait)) if !wait.is_zero() => {
                match self.waiting.get_mut(id) {
                    Some(held) if held.sample.recorded_at < sample.recorded_at => {
                        held.sample = sample;
                    }
                    Some(_) => {}
                    None => {
                        let due = now + wait;
                        let slot = sample.recorded_at + wait;
                        self.due.push(Reverse((due, id.clone())));
                        self.waiting.insert(id.clone(), Held { sample, due, slot });
                    }
                }
                None
            }
            _ => {
                // Anything still waiting is older than this.
                self.waiting.remove(id);
                self.sent(sample.node_id.clone(), sample.recorded_at, now);
                Some(sample)
            }
        }
    }

    fn sent(&mut self, id: NodeId, recorded_at: DateTime<Utc>, now: Instant) {
        self.last.insert(
            id,
            Sent {
                recorded_at,
                at: now,
            },
        );
    }

    /// When the earliest waiting sample may go.
    fn next_due(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse((at, _))| *at)
    }

    /// Waiting samples that may go now.
    fn take_due(&mut self, now: Instant) -> Vec<NodeSample> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _))) = self.due.peek()
            && *at <= now
        {
            let Some(Reverse((at, id))) = self.due.pop() else {
                break;
            };
            if self.waiting.get(&id).is_some_and(|held| held.due == at)
                && let Some(held) = self.waiting.remove(&id)
            {
                self.sent(id, held.slot, now);
                out.push(held.sample);
            }
        }
        if self.last.len() > 2 * self.waiting.len() + 1024 {
            self.last
                .retain(|_, sent| now.duration_since(sent.at) < SAMPLE_MEMORY);
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
    let mut sweep = tokio::time::interval(CHANNEL_SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Held samples go when they may; with none held, nothing to wake for.
        let next_due = samples.next_due();
        let held = async {
            match next_due {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
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
            () = held => samples.take_due(Instant::now()).into_iter().map(sample_item).collect(),
            _ = sweep.tick() => {
                clusters
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .retain(|_, channel| channel.receiver_count() > 0);
                Vec::new()
            }
        };
        route(out, &fleet, &clusters);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_domain::protocol::HostMetrics;

    const A: &str = "node-a1b2c3d4-2026-01-21-1-1i2j3k4l";
    const B: &str = "node-a1b2c3d4-2026-01-21-2-1i2j3k4l";

    /// The hub's clock and the recording clock, both from one start.
    struct Clock {
        hub: Instant,
        recorded: DateTime<Utc>,
    }

    impl Clock {
        fn new() -> Self {
            Self {
                hub: Instant::now(),
                recorded: Utc::now(),
            }
        }

        fn at(&self, ms: u64) -> Instant {
            self.hub + Duration::from_millis(ms)
        }

        /// A sample of `node` recorded `ms` after the start.
        fn sample(&self, node: &str, ms: i64, cpu: f64) -> NodeSample {
            NodeSample {
                node_id: node.parse().expect("node id"),
                cluster_id: "cluster-a1b2c3d4-2026-01-21-10-00-00-e5f6g7h8"
                    .parse()
                    .expect("cluster id"),
                recorded_at: self.recorded + chrono::Duration::milliseconds(ms),
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
    }

    fn cpu(samples: &[NodeSample]) -> Vec<f64> {
        samples
            .iter()
            .map(|s| s.metrics.cpu_usage_percent)
            .collect()
    }

    #[test]
    fn a_node_sends_one_sample_a_second_and_the_latest_waits() {
        let (k, mut c) = (Clock::new(), Coalescer::default());
        assert!(c.offer(k.sample(A, 0, 1.0), k.at(0)).is_some());
        assert!(
            c.offer(k.sample(B, 0, 1.0), k.at(0)).is_some(),
            "nodes are apart"
        );
        assert!(c.offer(k.sample(A, 300, 2.0), k.at(300)).is_none());
        assert!(c.offer(k.sample(A, 310, 3.0), k.at(310)).is_none());
        assert!(c.take_due(k.at(310)).is_empty(), "its time has not come");
        assert_eq!(c.next_due(), Some(k.at(750)));
        assert_eq!(cpu(&c.take_due(k.at(750))), [3.0], "the latest, once");
        assert!(c.take_due(k.at(750)).is_empty());
        assert_eq!(c.next_due(), None);
        // The next is measured from the slot the held one went in (750).
        assert!(c.offer(k.sample(A, 800, 4.0), k.at(800)).is_none());
        assert_eq!(c.next_due(), Some(k.at(1_500)));
    }

    #[test]
    fn a_node_reporting_each_second_with_jitter_is_never_held() {
        let (k, mut c) = (Clock::new(), Coalescer::default());
        // Each report lands up to 200 ms either side of its second.
        let jitter = [0, 180, 20, 200, 0, 150, 40, 190, 10, 120];
        for (n, early) in (0i64..200).zip(jitter.iter().cycle()) {
            let recorded = 1_000 * n + 200 - early;
            let hub = u64::try_from(recorded + 5).expect("positive");
            assert!(
                c.offer(k.sample(A, recorded, 1.0), k.at(hub)).is_some(),
                "report {n} was held"
            );
        }
    }

    #[test]
    fn heartbeats_committed_late_hold_none_after_them() {
        let (k, mut c) = (Clock::new(), Coalescer::default());
        for n in 0..10u64 {
            // The fourth second's heartbeats wait 900 ms for their commit.
            let late = if n == 3 { 900 } else { 5 };
            let recorded = i64::try_from(1_000 * n).expect("small");
            assert!(
                c.offer(k.sample(A, recorded, 1.0), k.at(1_000 * n + late))
                    .is_some(),
                "report {n} was held"
            );
        }
    }

    #[test]
    fn a_fast_node_sends_at_most_four_in_three_seconds() {
        let (k, mut c) = (Clock::new(), Coalescer::default());
        let mut sent = Vec::new();
        // Ten reports a second for a minute, the hub looking every 10 ms.
        for tick in 0u64..6_000 {
            let now = k.at(10 * tick);
            let recorded = i64::try_from(10 * tick).expect("small");
            if tick % 10 == 0 && c.offer(k.sample(A, recorded, 1.0), now).is_some() {
                sent.push(now);
            }
            sent.extend(c.take_due(now).iter().map(|_| now));
        }
        assert!((60..=81).contains(&sent.len()), "{} sent", sent.len());
        for pair in sent.windows(2) {
            assert!(pair[1] - pair[0] >= SAMPLE_GAP);
        }
    }

    #[test]
    fn an_older_sample_never_follows_a_newer_one() {
        let (k, mut c) = (Clock::new(), Coalescer::default());
        assert!(c.offer(k.sample(A, 1_000, 1.0), k.at(0)).is_some());
        assert!(c.offer(k.sample(A, 500, 2.0), k.at(10)).is_none());
        assert!(c.offer(k.sample(A, 1_000, 3.0), k.at(10)).is_none());
        assert_eq!(c.next_due(), None, "nothing waits");
        assert!(c.offer(k.sample(A, 1_300, 4.0), k.at(20)).is_none());
        assert!(c.offer(k.sample(A, 1_200, 5.0), k.at(30)).is_none());
        assert_eq!(cpu(&c.take_due(k.at(1_000))), [4.0]);
    }

    #[test]
    fn a_sample_that_goes_at_once_drops_the_one_held_and_its_place() {
        let (k, mut c) = (Clock::new(), Coalescer::default());
        assert!(c.offer(k.sample(A, 0, 1.0), k.at(0)).is_some());
        assert!(c.offer(k.sample(A, 300, 2.0), k.at(300)).is_none());
        assert!(c.offer(k.sample(A, 800, 3.0), k.at(800)).is_some());
        assert!(c.offer(k.sample(A, 900, 4.0), k.at(900)).is_none());
        assert!(
            c.take_due(k.at(1_000)).is_empty(),
            "the first hold's time is past, but it was let go"
        );
        assert_eq!(cpu(&c.take_due(k.at(1_550))), [4.0]);
    }
}
