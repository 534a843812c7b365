//! The feed of committed changes that the live stream is built from.
//!
//! Every write transaction notes what it changed: the events it wrote (every
//! change to a cluster or node writes one), the samples a heartbeat batch
//! brought, and whether who-may-see-what changed. At commit the store turns
//! those notes into [`Change`]s carrying the rows as committed and hands them
//! to the process's broadcast after the commit. On PostgreSQL a publisher
//! task also sends them with `NOTIFY`, batching what waits, and every other
//! replica's listener feeds them to its broadcast (a replica skips its own,
//! which it has already delivered). Notifying inside each transaction would
//! make PostgreSQL commit them one at a time: a notifying commit holds a
//! database-wide lock.

use std::cell::RefCell;
use std::sync::Arc;

use muster_domain::live::NodeSample;
use muster_domain::{Cluster, ClusterId, Event, Node, NodeId};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// One committed change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Change {
    Cluster {
        cluster: Cluster,
    },
    Node {
        node: Node,
    },
    /// An event's node is no longer stored (it was removed).
    NodeRemoved {
        node_id: NodeId,
        cluster_id: ClusterId,
    },
    Event {
        event: Event,
    },
    /// Samples are nearly all of the feed's volume: they cross replicas as
    /// arrays rather than objects.
    #[serde(rename = "s")]
    Sample {
        #[serde(rename = "v", with = "compact_sample")]
        sample: NodeSample,
    },
    /// Users, tenants, tokens or sessions changed: who may see what, or
    /// whether a session or token is still good, may differ now.
    Access,
    /// Changes may have been missed (the feed's connection was lost, or a
    /// change was too large to send): whoever shows state should read it
    /// again.
    Lost,
}

/// The changes one transaction committed, in the order it made them.
pub type ChangeSet = Arc<[Change]>;

/// Change sets kept for subscribers that fall behind; beyond it they see
/// `Lagged` and must start over from a fresh read.
const FEED_CAPACITY: usize = 4096;

/// Where a store's committed changes go out to its subscribers.
#[derive(Clone)]
pub(crate) struct Feed {
    sender: broadcast::Sender<ChangeSet>,
    /// Commit and publish in one step, so subscribers see change sets in
    /// commit order (SQLite).
    ordered: Arc<tokio::sync::Mutex<()>>,
    /// Where committed changes wait for the publisher that sends them to
    /// the other replicas (PostgreSQL).
    outbox: Option<tokio::sync::mpsc::Sender<ChangeSet>>,
    /// Set when the outbox was full and changes were dropped: the publisher
    /// then sends [`Change::Lost`].
    overflowed: Arc<std::sync::atomic::AtomicBool>,
}

/// Change sets waiting for the publisher (PostgreSQL).
const OUTBOX_CAPACITY: usize = 4096;

impl Feed {
    pub(crate) fn new() -> Self {
        Self {
            sender: broadcast::channel(FEED_CAPACITY).0,
            ordered: Arc::new(tokio::sync::Mutex::new(())),
            outbox: None,
            overflowed: Arc::default(),
        }
    }

    /// A feed whose committed changes go through an outbox, and the outbox's
    /// receiving end for the publisher.
    pub(crate) fn with_outbox() -> (Self, tokio::sync::mpsc::Receiver<ChangeSet>) {
        let (sender, receiver) = tokio::sync::mpsc::channel(OUTBOX_CAPACITY);
        let feed = Self {
            outbox: Some(sender),
            ..Self::new()
        };
        (feed, receiver)
    }

    /// Leaves committed changes for the publisher; if it is that far behind,
    /// they are dropped and [`Change::Lost`] goes out in their place.
    pub(crate) fn send_out(&self, changes: ChangeSet) {
        if let Some(outbox) = &self.outbox
            && outbox.try_send(changes).is_err()
        {
            self.overflowed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Whether changes were dropped since the last call.
    pub(crate) fn take_overflow(&self) -> bool {
        self.overflowed
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ChangeSet> {
        self.sender.subscribe()
    }

    pub(crate) fn publish(&self, changes: ChangeSet) {
        // No subscriber is not an error: nobody is watching.
        let _ = self.sender.send(changes);
    }

    pub(crate) async fn in_order(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.ordered.lock().await
    }
}

/// What a write transaction has noted so far.
#[derive(Default)]
pub(crate) struct Notes {
    pub events: Vec<Event>,
    pub samples: Vec<NodeSample>,
    pub access: bool,
}

impl Notes {
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty() && self.samples.is_empty() && !self.access
    }
}

/// A store method's notes and where its commits publish them.
pub(crate) struct Recorder {
    pub feed: Feed,
    notes: RefCell<Notes>,
}

tokio::task_local! {
    static RECORDER: Recorder;
}

/// Runs a store method with a recorder, so the transactions it commits
/// publish what they changed.
pub(crate) fn recorded<'a, T>(
    feed: &Feed,
    work: impl Future<Output = Result<T, crate::StoreError>> + Send + 'a,
) -> crate::StoreFuture<'a, T> {
    let recorder = Recorder {
        feed: feed.clone(),
        notes: RefCell::new(Notes::default()),
    };
    Box::pin(RECORDER.scope(recorder, work))
}

fn note(f: impl FnOnce(&mut Notes)) {
    let noted = RECORDER.try_with(|r| f(&mut r.notes.borrow_mut()));
    debug_assert!(
        noted.is_ok(),
        "a store write ran outside `recorded`: its changes would not be published"
    );
}

pub(crate) fn note_event(event: &Event) {
    note(|n| n.events.push(event.clone()));
}

pub(crate) fn note_sample(sample: NodeSample) {
    note(|n| n.samples.push(sample));
}

pub(crate) fn note_access() {
    note(|n| n.access = true);
}

/// Takes the notes of the transaction about to commit (and forgets those of
/// one that was abandoned, when a new one begins), with the feed to publish
/// them on; `None` outside a recorded method.
pub(crate) fn take_notes() -> Option<(Notes, Feed)> {
    RECORDER
        .try_with(|r| (std::mem::take(&mut *r.notes.borrow_mut()), r.feed.clone()))
        .ok()
}

/// The changes behind `notes`, given the committed rows of the clusters and
/// nodes their events concern: each cluster and node once, then the events,
/// then the samples, then `Access`.
pub(crate) fn assemble(
    notes: Notes,
    clusters: Vec<Cluster>,
    node_rows: &[Node],
    removed: Vec<(NodeId, ClusterId)>,
) -> Vec<Change> {
    let mut out = Vec::with_capacity(
        clusters.len() + node_rows.len() + notes.events.len() + notes.samples.len() + 1,
    );
    out.extend(
        clusters
            .into_iter()
            .map(|cluster| Change::Cluster { cluster }),
    );
    out.extend(
        node_rows
            .iter()
            .map(|node| Change::Node { node: node.clone() }),
    );
    out.extend(
        removed
            .into_iter()
            .map(|(node_id, cluster_id)| Change::NodeRemoved {
                node_id,
                cluster_id,
            }),
    );
    out.extend(
        notes
            .events
            .into_iter()
            .map(|event| Change::Event { event }),
    );
    out.extend(
        notes
            .samples
            .into_iter()
            .map(|sample| Change::Sample { sample }),
    );
    if notes.access {
        out.push(Change::Access);
    }
    out
}

/// Most events one transaction publishes change by change; beyond it, the
/// transaction publishes [`Change::Lost`] instead.
pub(crate) const SET_MAX: usize = 2000;

/// PostgreSQL's `NOTIFY` channel for change sets.
pub(crate) const CHANNEL: &str = "muster_changes";

/// Largest `NOTIFY` payload sent (PostgreSQL refuses 8000 bytes and more).
pub(crate) const PAYLOAD_MAX: usize = 7900;

/// Length of a replica's origin tag, which begins each of its payloads.
const ORIGIN_LEN: usize = 16;

/// A tag for this replica's payloads, so that its listener can skip them.
pub(crate) fn new_origin() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// `changes` as `NOTIFY` payloads: `origin` then a JSON array, at most
/// [`PAYLOAD_MAX`] bytes each, in order. A change too large for a payload of
/// its own goes as [`Change::Lost`], so listeners read the state again
/// rather than miss it.
pub(crate) fn payloads<'a>(
    origin: &str,
    changes: impl IntoIterator<Item = &'a Change>,
) -> Vec<String> {
    debug_assert_eq!(origin.len(), ORIGIN_LEN);
    let fresh = || {
        let mut s = String::with_capacity(PAYLOAD_MAX);
        s.push_str(origin);
        s.push('[');
        s
    };
    let empty = ORIGIN_LEN + 1;
    let mut out = Vec::new();
    let mut current = fresh();
    for change in changes {
        let mut text = serde_json::to_string(change).unwrap_or_default();
        if text.is_empty() || empty + text.len() + 1 > PAYLOAD_MAX {
            tracing::warn!(
                bytes = text.len(),
                "a change is too large to notify; listeners will resync"
            );
            r#"{"k":"lost"}"#.clone_into(&mut text);
        }
        if current.len() + text.len() + 2 > PAYLOAD_MAX {
            current.push(']');
            out.push(std::mem::replace(&mut current, fresh()));
        }
        if current.len() > empty {
            current.push(',');
        }
        current.push_str(&text);
    }
    if current.len() > empty {
        current.push(']');
        out.push(current);
    }
    out
}

/// A payload received from `NOTIFY`: `None` when it is `own`'s (already
/// delivered), [`Change::Lost`] when it cannot be read (a newer server's
/// format, say).
pub(crate) fn from_payload(own: &str, text: &str) -> Option<ChangeSet> {
    let (origin, body) = text.split_at_checked(ORIGIN_LEN).unwrap_or(("", text));
    if origin == own {
        return None;
    }
    Some(match serde_json::from_str::<Vec<Change>>(body) {
        Ok(changes) => changes.into(),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable change notification; listeners will resync");
            Arc::from([Change::Lost])
        }
    })
}

/// A sample as `[node_id, cluster_id, recorded_at (µs since the epoch), cpu,
/// memory, disk, load, network rx, network tx, processes]`.
mod compact_sample {
    use muster_domain::live::NodeSample;
    use muster_domain::protocol::HostMetrics;
    use muster_domain::{ClusterId, NodeId};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    type Wire = (NodeId, ClusterId, i64, f64, f64, f64, f64, f64, f64, u64);

    pub fn serialize<S: Serializer>(sample: &NodeSample, ser: S) -> Result<S::Ok, S::Error> {
        let HostMetrics {
            cpu_usage_percent,
            memory_usage_percent,
            disk_usage_percent,
            load_average,
            network_rx_mbps,
            network_tx_mbps,
            process_count,
        } = sample.metrics;
        (
            &sample.node_id,
            &sample.cluster_id,
            sample.recorded_at.timestamp_micros(),
            cpu_usage_percent,
            memory_usage_percent,
            disk_usage_percent,
            load_average,
            network_rx_mbps,
            network_tx_mbps,
            process_count,
        )
            .serialize(ser)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<NodeSample, D::Error> {
        let (node_id, cluster_id, micros, cpu, memory, disk, load, rx, tx, processes): Wire =
            Deserialize::deserialize(de)?;
        let recorded_at = chrono::DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| D::Error::custom("sample time out of range"))?;
        Ok(NodeSample {
            node_id,
            cluster_id,
            recorded_at,
            metrics: HostMetrics {
                cpu_usage_percent: cpu,
                memory_usage_percent: memory,
                disk_usage_percent: disk,
                load_average: load,
                network_rx_mbps: rx,
                network_tx_mbps: tx,
                process_count: processes,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "00000000000000aa";
    const OTHER: &str = "00000000000000bb";

    #[test]
    fn samples_cross_compactly_and_come_back_whole() {
        let sample = NodeSample {
            node_id: "node-a1b2c3d4-2026-01-21-1-1i2j3k4l"
                .parse()
                .expect("node id"),
            cluster_id: "cluster-a1b2c3d4-2026-01-21-10-00-00-zz9y8x7w"
                .parse()
                .expect("cluster id"),
            recorded_at: chrono::DateTime::from_timestamp_micros(1_790_000_000_123_456)
                .expect("time"),
            metrics: muster_domain::protocol::HostMetrics {
                cpu_usage_percent: 12.5,
                memory_usage_percent: 40.125,
                disk_usage_percent: 63.0,
                load_average: 0.7,
                network_rx_mbps: 1.2,
                network_tx_mbps: 0.4,
                process_count: 212,
            },
        };
        let change = Change::Sample { sample };
        let text = serde_json::to_string(&change).expect("serialises");
        assert!(text.len() < 170, "{} bytes: {text}", text.len());
        let texts = payloads(ORIGIN, [&change]);
        let back = from_payload(OTHER, &texts[0]).expect("another's");
        assert_eq!(&*back, &[change]);
    }

    #[test]
    fn payloads_stay_under_the_limit_and_keep_order() {
        let changes: Vec<Change> = (0..2000)
            .map(|i| {
                if i % 100 == 99 {
                    Change::Access
                } else {
                    Change::Lost
                }
            })
            .collect();
        let texts = payloads(ORIGIN, &changes);
        assert!(texts.len() > 1, "2,000 changes do not fit one payload");
        let mut back = Vec::new();
        for t in &texts {
            assert!(t.len() <= PAYLOAD_MAX, "{} bytes", t.len());
            back.extend(from_payload(OTHER, t).expect("another's").iter().cloned());
            assert!(
                from_payload(ORIGIN, t).is_none(),
                "its own payload is skipped"
            );
        }
        assert_eq!(back, changes);
        assert!(payloads(ORIGIN, &[]).is_empty());
    }

    #[test]
    fn a_change_too_large_goes_as_lost() {
        let event = Event {
            id: 1,
            cluster_id: None,
            node_id: None,
            event_type: "x".into(),
            category: muster_domain::EventCategory::System,
            severity: muster_domain::Severity::Info,
            message: "m".repeat(PAYLOAD_MAX),
            details: serde_json::Value::Null,
            actor: "system".into(),
            created_at: chrono::Utc::now(),
        };
        let texts = payloads(ORIGIN, &[Change::Access, Change::Event { event }]);
        let back: Vec<Change> = texts
            .iter()
            .flat_map(|t| from_payload(OTHER, t).expect("another's").to_vec())
            .collect();
        assert_eq!(back, [Change::Access, Change::Lost]);
        assert_eq!(
            from_payload(OTHER, "not json").as_deref(),
            Some(&[Change::Lost][..])
        );
    }
}
