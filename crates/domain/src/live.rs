//! The live stream (`GET /api/v1/live`): what the server pushes to a browser
//! or script, and what a client may ask of it. JSON text frames, tagged by
//! `type`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::protocol::HostMetrics;
use crate::{Cluster, ClusterId, Event, Node, NodeId};

/// What a connection follows: everything its user may see, one cluster, or
/// one node. `metrics_sample` messages come only with a cluster or a node:
/// the whole fleet's samples are more than a browser wants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(
    tag = "scope",
    rename_all = "snake_case",
    try_from = "wire::SubscriptionFields"
)]
pub enum Subscription {
    #[default]
    All,
    Cluster {
        cluster_id: ClusterId,
    },
    Node {
        node_id: NodeId,
    },
}

/// One sample of a node's standard metrics as its heartbeat brought it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSample {
    pub node_id: NodeId,
    pub cluster_id: ClusterId,
    pub recorded_at: DateTime<Utc>,
    pub metrics: HostMetrics,
}

/// The state a client starts from (after subscribing, reconnecting, or
/// falling behind): the subscription's clusters and nodes as they are now.
/// For [`Subscription::All`] the visible clusters (at most
/// [`SNAPSHOT_CLUSTERS`], by name) and no nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Snapshot {
    pub clusters: Vec<Cluster>,
    pub nodes: Vec<Node>,
    pub taken_at: DateTime<Utc>,
}

/// Most clusters a snapshot of everything carries.
pub const SNAPSHOT_CLUSTERS: u32 = 1000;

/// Why a client is sent a fresh snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// It subscribed (or connected).
    Subscribed,
    /// It fell behind and messages were dropped for it.
    Lagged,
    /// The server may have missed changes (its database feed reconnected).
    Interrupted,
    /// What its user may see changed.
    AccessChanged,
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    try_from = "wire::MessageFields"
)]
pub enum LiveMessage {
    ClusterUpdated {
        cluster: Cluster,
    },
    NodeUpdated {
        node: Node,
    },
    /// A node was removed from its cluster (not merely decommissioned).
    NodeRemoved {
        node_id: NodeId,
        cluster_id: ClusterId,
    },
    EventCreated {
        event: Event,
    },
    /// About one per node per second: a sample recorded less than 750 ms
    /// after the node's last one sent waits until then, and a later sample
    /// replaces it meanwhile.
    MetricsSample {
        sample: NodeSample,
    },
    /// Replace what is shown with this; messages that follow apply to it.
    Resync {
        reason: ResyncReason,
        subscription: Subscription,
        snapshot: Snapshot,
    },
    /// A request the server could not follow; the connection stays open.
    Error {
        error: String,
        message: String,
    },
}

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveRequest {
    /// Follow something else from now on; answered with a `resync`.
    Subscribe {
        #[serde(flatten)]
        subscription: Subscription,
    },
}

/// The written forms read back: each type's fields side by side, so that a
/// reader parses every field straight into its type. Serde's derived reader
/// for a tagged enum first buffers the whole message to find the tag, and
/// then reads each field a second way (from the buffer); in the browser's
/// WASM that is another copy of every cluster, node and event reader.
mod wire {
    use serde::Deserialize;

    use super::{NodeSample, ResyncReason, Snapshot};
    use crate::{Cluster, ClusterId, Event, Node, NodeId};

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Scope {
        All,
        Cluster,
        Node,
    }

    #[derive(Deserialize)]
    pub(super) struct SubscriptionFields {
        scope: Scope,
        cluster_id: Option<ClusterId>,
        node_id: Option<NodeId>,
    }

    impl TryFrom<SubscriptionFields> for super::Subscription {
        type Error = String;

        fn try_from(w: SubscriptionFields) -> Result<Self, String> {
            Ok(match w.scope {
                Scope::All => Self::All,
                Scope::Cluster => Self::Cluster {
                    cluster_id: w
                        .cluster_id
                        .ok_or_else(|| missing("cluster", "cluster_id"))?,
                },
                Scope::Node => Self::Node {
                    node_id: w.node_id.ok_or_else(|| missing("node", "node_id"))?,
                },
            })
        }
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        ClusterUpdated,
        NodeUpdated,
        NodeRemoved,
        EventCreated,
        MetricsSample,
        Resync,
        Error,
    }

    #[derive(Deserialize)]
    pub(super) struct MessageFields {
        #[serde(rename = "type")]
        kind: Kind,
        cluster: Option<Cluster>,
        node: Option<Node>,
        node_id: Option<NodeId>,
        cluster_id: Option<ClusterId>,
        event: Option<Event>,
        sample: Option<NodeSample>,
        reason: Option<ResyncReason>,
        subscription: Option<super::Subscription>,
        snapshot: Option<Snapshot>,
        error: Option<String>,
        message: Option<String>,
    }

    impl TryFrom<MessageFields> for super::LiveMessage {
        type Error = String;

        fn try_from(w: MessageFields) -> Result<Self, String> {
            use super::LiveMessage as M;
            Ok(match w.kind {
                Kind::ClusterUpdated => M::ClusterUpdated {
                    cluster: w
                        .cluster
                        .ok_or_else(|| missing("cluster_updated", "cluster"))?,
                },
                Kind::NodeUpdated => M::NodeUpdated {
                    node: w.node.ok_or_else(|| missing("node_updated", "node"))?,
                },
                Kind::NodeRemoved => M::NodeRemoved {
                    node_id: w
                        .node_id
                        .ok_or_else(|| missing("node_removed", "node_id"))?,
                    cluster_id: w
                        .cluster_id
                        .ok_or_else(|| missing("node_removed", "cluster_id"))?,
                },
                Kind::EventCreated => M::EventCreated {
                    event: w.event.ok_or_else(|| missing("event_created", "event"))?,
                },
                Kind::MetricsSample => M::MetricsSample {
                    sample: w
                        .sample
                        .ok_or_else(|| missing("metrics_sample", "sample"))?,
                },
                Kind::Resync => M::Resync {
                    reason: w.reason.ok_or_else(|| missing("resync", "reason"))?,
                    subscription: w
                        .subscription
                        .ok_or_else(|| missing("resync", "subscription"))?,
                    snapshot: w.snapshot.ok_or_else(|| missing("resync", "snapshot"))?,
                },
                Kind::Error => M::Error {
                    error: w.error.ok_or_else(|| missing("error", "error"))?,
                    message: w.message.ok_or_else(|| missing("error", "message"))?,
                },
            })
        }
    }

    fn missing(kind: &str, field: &str) -> String {
        format!("a `{kind}` needs the field `{field}`")
    }
}

/// WebSocket close codes the server ends a stream with (4000–4999 are the
/// application's).
pub mod close {
    /// The session or token is no longer valid, or the user was disabled.
    pub const SIGNED_OUT: u16 = 4401;
    /// The subscribed cluster or node is no longer visible (or gone).
    pub const NOT_VISIBLE: u16 = 4404;
    /// The client kept falling behind.
    pub const TOO_SLOW: u16 = 4408;
    /// The server is shutting down; reconnect.
    pub const GOING_AWAY: u16 = 1001;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_their_scope_flat() {
        let all: LiveRequest =
            serde_json::from_str(r#"{"type":"subscribe","scope":"all"}"#).expect("all");
        assert_eq!(
            all,
            LiveRequest::Subscribe {
                subscription: Subscription::All
            }
        );
        let node_id = "node-a1b2c3d4-2026-01-21-1-1i2j3k4l";
        let text = format!(r#"{{"type":"subscribe","scope":"node","node_id":"{node_id}"}}"#);
        match serde_json::from_str::<LiveRequest>(&text) {
            Ok(LiveRequest::Subscribe {
                subscription: Subscription::Node { node_id: id },
            }) => assert_eq!(id.as_str(), node_id),
            other => panic!("unexpected {other:?}"),
        }
        assert!(serde_json::from_str::<LiveRequest>(r#"{"type":"subscribe"}"#).is_err());
        assert!(
            serde_json::from_str::<LiveRequest>(r#"{"type":"subscribe","scope":"galaxy"}"#)
                .is_err()
        );
    }

    #[test]
    fn every_message_reads_back_as_written() {
        use crate::cluster_state::tests::{cluster, node, t};
        use crate::{EventCategory, NodeStatus, Severity};
        let c = cluster();
        let n = node(&c, 1, NodeStatus::Online);
        let metrics = HostMetrics {
            cpu_usage_percent: 12.5,
            memory_usage_percent: 40.0,
            disk_usage_percent: 70.25,
            load_average: 0.5,
            network_rx_mbps: 1.0,
            network_tx_mbps: 2.0,
            process_count: 120,
        };
        let messages = [
            LiveMessage::ClusterUpdated { cluster: c.clone() },
            LiveMessage::NodeUpdated { node: n.clone() },
            LiveMessage::NodeRemoved {
                node_id: n.id.clone(),
                cluster_id: c.id.clone(),
            },
            LiveMessage::EventCreated {
                event: Event {
                    id: 7,
                    cluster_id: Some(c.id.clone()),
                    node_id: None,
                    event_type: "cluster.created".into(),
                    category: EventCategory::Lifecycle,
                    severity: Severity::Info,
                    message: "created".into(),
                    details: serde_json::json!({"template": "staging"}),
                    actor: "admin".into(),
                    created_at: t(),
                },
            },
            LiveMessage::MetricsSample {
                sample: NodeSample {
                    node_id: n.id.clone(),
                    cluster_id: c.id.clone(),
                    recorded_at: t(),
                    metrics,
                },
            },
            LiveMessage::Resync {
                reason: ResyncReason::Lagged,
                subscription: Subscription::Node {
                    node_id: n.id.clone(),
                },
                snapshot: Snapshot {
                    clusters: vec![c.clone()],
                    nodes: vec![n],
                    taken_at: t(),
                },
            },
            LiveMessage::Resync {
                reason: ResyncReason::Subscribed,
                subscription: Subscription::Cluster { cluster_id: c.id },
                snapshot: Snapshot::default(),
            },
        ];
        for m in messages {
            let text = serde_json::to_string(&m).expect("json");
            assert_eq!(serde_json::from_str::<LiveMessage>(&text).expect(&text), m);
        }
    }

    #[test]
    fn a_message_without_its_fields_names_the_missing_one() {
        let err = serde_json::from_str::<LiveMessage>(r#"{"type":"cluster_updated"}"#)
            .expect_err("no cluster");
        assert!(err.to_string().contains("`cluster`"), "{err}");
        let err = serde_json::from_str::<LiveMessage>(
            r#"{"type":"resync","reason":"lagged","snapshot":{"clusters":[],"nodes":[],"taken_at":"2026-04-01T00:00:00Z"},"subscription":{"scope":"node"}}"#,
        )
        .expect_err("no node id");
        assert!(err.to_string().contains("`node_id`"), "{err}");
        assert!(serde_json::from_str::<LiveMessage>(r#"{"type":"gossip"}"#).is_err());
        assert!(serde_json::from_str::<LiveMessage>(r#"{"cluster":null}"#).is_err());
    }

    #[test]
    fn messages_are_tagged_by_type() {
        let m = LiveMessage::Error {
            error: "bad_request".into(),
            message: "no".into(),
        };
        let text = serde_json::to_string(&m).expect("json");
        assert!(text.starts_with(r#"{"type":"error""#), "{text}");
        assert_eq!(serde_json::from_str::<LiveMessage>(&text).expect("back"), m);
    }
}
