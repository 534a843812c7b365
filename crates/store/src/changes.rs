//! The feed of committed changes that the live stream is built from.
//!
//! Every write transaction notes what it changed: the events it wrote (every
//! change to a cluster or node writes one), the samples a heartbeat batch
//! brought, and whether who-may-see-what changed. At commit the store turns
//! those notes into [`Change`]s carrying the rows as committed. SQLite hands
//! them to an in-process broadcast after the commit; on PostgreSQL a
//! publisher task sends them after the commit with `NOTIFY`, batching what
//! waits, and every replica's listener — this one's included — feeds its own
//! broadcast. (Notifying inside each transaction would make PostgreSQL
//! commit them one at a time: a notifying commit holds a database-wide lock.)

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
    Sample {
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
    /// every replica (PostgreSQL).
    outbox: Option<tokio::sync::mpsc::Sender<Vec<Change>>>,
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
    pub(crate) fn with_outbox() -> (Self, tokio::sync::mpsc::Receiver<Vec<Change>>) {
        let (sender, receiver) = tokio::sync::mpsc::channel(OUTBOX_CAPACITY);
        let feed = Self {
            outbox: Some(sender),
            ..Self::new()
        };
        (feed, receiver)
    }

    /// Leaves committed changes for the publisher; if it is that far behind,
    /// they are dropped and [`Change::Lost`] goes out in their place.
    pub(crate) fn send_out(&self, changes: Vec<Change>) {
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

/// `changes` as `NOTIFY` payloads: JSON arrays of at most [`PAYLOAD_MAX`]
/// bytes, in order. A change too large for a payload of its own goes as
/// [`Change::Lost`], so listeners read the state again rather than miss it.
pub(crate) fn payloads(changes: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::from("[");
    for change in changes {
        let mut text = serde_json::to_string(change).unwrap_or_default();
        if text.is_empty() || text.len() + 2 > PAYLOAD_MAX {
            tracing::warn!(
                bytes = text.len(),
                "a change is too large to notify; listeners will resync"
            );
            r#"{"k":"lost"}"#.clone_into(&mut text);
        }
        if current.len() + text.len() + 1 > PAYLOAD_MAX {
            current.push(']');
            out.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(&text);
    }
    if current.len() > 1 {
        current.push(']');
        out.push(current);
    }
    out
}

/// A payload received from `NOTIFY`, or [`Change::Lost`] when it cannot be
/// read (a newer server's format, say).
pub(crate) fn from_payload(text: &str) -> ChangeSet {
    match serde_json::from_str::<Vec<Change>>(text) {
        Ok(changes) => changes.into(),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable change notification; listeners will resync");
            Arc::from([Change::Lost])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let texts = payloads(&changes);
        assert!(texts.len() > 1, "2,000 changes do not fit one payload");
        let mut back = Vec::new();
        for t in &texts {
            assert!(t.len() <= PAYLOAD_MAX, "{} bytes", t.len());
            back.extend(from_payload(t).iter().cloned());
        }
        assert_eq!(back, changes);
        assert!(payloads(&[]).is_empty());
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
        let texts = payloads(&[Change::Access, Change::Event { event }]);
        let back: Vec<Change> = texts
            .iter()
            .flat_map(|t| from_payload(t).to_vec())
            .collect();
        assert_eq!(back, [Change::Access, Change::Lost]);
        assert_eq!(&*from_payload("not json"), &[Change::Lost]);
    }
}
