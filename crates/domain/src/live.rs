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
#[serde(tag = "scope", rename_all = "snake_case")]
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
#[serde(tag = "type", rename_all = "snake_case")]
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
