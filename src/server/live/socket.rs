//! `GET /api/v1/live`: one WebSocket connection, authenticated like any API
//! request (session cookie or `Authorization: Bearer`), subscribed to
//! everything its user may see, one cluster (`?cluster_id=`) or one node
//! (`?node_id=`), and re-subscribed by `{"type":"subscribe",…}` messages.
//!
//! What it sends is filtered when it is sent, by what the user may see then:
//! the caller is checked again whenever access changes anywhere (and every
//! [`RECHECK_EVERY`]), and the stream ends when their session or token no
//! longer holds or the user is disabled.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt as _, StreamExt as _};
use muster_domain::live::{
    LiveMessage, LiveRequest, ResyncReason, SNAPSHOT_CLUSTERS, Snapshot, Subscription, close,
};
use muster_domain::users::User;
use muster_domain::{ClusterId, NodeId};
use muster_store::{ClusterQuery, ClusterSort, Store, StoreError};
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tower_sessions::Session;

use super::{Item, Routed, text};
use crate::api::{AppError, ErrorCode};
use crate::server::AppState;

/// How often a connection checks its caller again even when nothing
/// announced an access change (a session may simply expire).
pub const RECHECK_EVERY: Duration = Duration::from_secs(30);
/// A client that has not taken a write within this long is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Falling behind this many times within [`LAG_WINDOW`] closes the stream.
const LAGS_ALLOWED: usize = 3;
const LAG_WINDOW: Duration = Duration::from_mins(1);
/// Largest message a client may send.
const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// What a connection reads from its socket at a time. Clients send only
/// small subscription requests; the default (128 KiB) was most of a
/// connection's memory.
const READ_BUFFER_BYTES: usize = 4 * 1024;

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    cluster_id: Option<String>,
    node_id: Option<String>,
}

/// How the connection's caller proved who they are, to be checked again.
enum Credentials {
    Session { id: String, user_id: String },
    Token { hash: String },
}

/// What the caller may see.
#[derive(Debug, PartialEq, Eq)]
enum Visible {
    All,
    Clusters(HashSet<ClusterId>),
}

impl Visible {
    fn of(user: &User, hosting: Vec<ClusterId>) -> Self {
        if user.is_unscoped() {
            Self::All
        } else {
            Self::Clusters(hosting.into_iter().collect())
        }
    }

    /// Whether a message about `cluster` (none: about users or tenants) may go.
    fn allows(&self, cluster: Option<&ClusterId>) -> bool {
        match (self, cluster) {
            (Self::All, _) => true,
            (Self::Clusters(ids), Some(id)) => ids.contains(id),
            (Self::Clusters(_), None) => false,
        }
    }
}

/// A subscription resolved: a node's cluster is known.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    All,
    Cluster(ClusterId),
    Node { node: NodeId, cluster: ClusterId },
}

impl Target {
    /// The cluster whose channel it follows.
    fn cluster(&self) -> Option<&ClusterId> {
        match self {
            Self::All => None,
            Self::Cluster(id) | Self::Node { cluster: id, .. } => Some(id),
        }
    }

    fn subscription(&self) -> Subscription {
        match self {
            Self::All => Subscription::All,
            Self::Cluster(id) => Subscription::Cluster {
                cluster_id: id.clone(),
            },
            Self::Node { node, .. } => Subscription::Node {
                node_id: node.clone(),
            },
        }
    }

    fn wants(&self, visible: &Visible, m: &Routed) -> bool {
        match self {
            Self::All => !m.sample && visible.allows(m.cluster_id.as_ref()),
            Self::Cluster(id) => m.cluster_id.as_ref() == Some(id),
            Self::Node { node, cluster } => match &m.node_id {
                Some(n) => n == node,
                None => m.cluster_id.as_ref() == Some(cluster),
            },
        }
    }
}

async fn visible_to(store: &dyn Store, user: &User) -> Result<Visible, StoreError> {
    let hosting = if user.is_unscoped() {
        Vec::new()
    } else {
        store.clusters_hosting(&user.tenants).await?
    };
    Ok(Visible::of(user, hosting))
}

/// The subscription's target, if it exists and the caller may see it.
async fn resolve(
    store: &dyn Store,
    visible: &Visible,
    subscription: &Subscription,
) -> Result<Option<Target>, StoreError> {
    let target = match subscription {
        Subscription::All => return Ok(Some(Target::All)),
        Subscription::Cluster { cluster_id } => match store.get_cluster(cluster_id).await {
            Ok(c) => Target::Cluster(c.id),
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        },
        Subscription::Node { node_id } => match store.get_node(node_id).await {
            Ok(n) => Target::Node {
                node: n.id,
                cluster: n.cluster_id,
            },
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        },
    };
    let cluster = match &target {
        Target::Cluster(id) | Target::Node { cluster: id, .. } => id,
        Target::All => return Ok(Some(target)),
    };
    Ok(visible.allows(Some(cluster)).then_some(target))
}

/// What a client following `target` starts from.
async fn snapshot(store: &dyn Store, user: &User, target: &Target) -> Result<Snapshot, StoreError> {
    let taken_at = muster_store::now();
    Ok(match target {
        Target::All => {
            let query = ClusterQuery {
                limit: SNAPSHOT_CLUSTERS,
                sort: ClusterSort::Name,
                ..ClusterQuery::default()
            };
            let scope = if user.is_unscoped() {
                muster_store::Scope::All
            } else {
                muster_store::Scope::Tenants(&user.tenants)
            };
            Snapshot {
                clusters: store.list_clusters_in(&query, scope).await?.items,
                nodes: Vec::new(),
                taken_at,
            }
        }
        Target::Cluster(id) => {
            let (cluster, nodes) = tokio::try_join!(store.get_cluster(id), store.list_nodes(id))?;
            Snapshot {
                clusters: vec![cluster],
                nodes,
                taken_at,
            }
        }
        Target::Node { node, cluster } => {
            let (cluster, node) =
                tokio::try_join!(store.get_cluster(cluster), store.get_node(node))?;
            Snapshot {
                clusters: vec![cluster],
                nodes: vec![node],
                taken_at,
            }
        }
    })
}

fn bad_request(field: &str, message: impl Into<String>) -> AppError {
    AppError::with_fields(
        ErrorCode::BadRequest,
        muster_domain::FieldErrors::single(field, message),
    )
}

/// The subscription a connection asks for in its query string.
fn requested(q: &LiveQuery) -> Result<Subscription, AppError> {
    match (&q.cluster_id, &q.node_id) {
        (Some(_), Some(_)) => Err(bad_request(
            "node_id",
            "subscribe to a cluster or to a node, not both",
        )),
        (Some(id), None) => id
            .parse()
            .map(|cluster_id| Subscription::Cluster { cluster_id })
            .map_err(|e| bad_request("cluster_id", format!("cluster_id is not a cluster id: {e}"))),
        (None, Some(id)) => id
            .parse()
            .map(|node_id| Subscription::Node { node_id })
            .map_err(|e| bad_request("node_id", format!("node_id is not a node id: {e}"))),
        (None, None) => Ok(Subscription::All),
    }
}

/// Who is calling, and how to check them again later.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
) -> Result<(User, Credentials), AppError> {
    if let Some(token) = crate::server::auth::sessions::bearer_token(headers)? {
        let hash = crate::server::tokens::hash_token(token);
        let user = state.store.user_for_token(&hash).await?.ok_or_else(|| {
            AppError::new(
                ErrorCode::Unauthorized,
                "the API token is unknown or revoked",
            )
        })?;
        return Ok((user, Credentials::Token { hash }));
    }
    let user = crate::server::auth::sessions::current_user(session, state.store.as_ref())
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::Unauthorized, "not signed in"))?;
    let id = session
        .id()
        .ok_or_else(|| AppError::new(ErrorCode::Unauthorized, "not signed in"))?;
    Ok((
        user.clone(),
        Credentials::Session {
            id: id.to_string(),
            user_id: user.id,
        },
    ))
}

/// The caller as they stand now; `None` when their session or token no
/// longer holds or they were disabled.
/// How long after opening a connection first checks its caller again: at
/// random within the second half of [`RECHECK_EVERY`]. Connections opened
/// together (every browser reconnecting after a restart, say) would
/// otherwise all ask the database in the same moment every period, each
/// forwarding nothing until its answer comes.
fn first_recheck() -> Duration {
    crate::server::in_second_half_of(RECHECK_EVERY)
}

async fn recheck(store: &dyn Store, credentials: &Credentials) -> Result<Option<User>, StoreError> {
    match credentials {
        Credentials::Token { hash } => store.user_for_token(hash).await,
        Credentials::Session { id, user_id } => {
            let Some(record) = store.session_load(id, muster_store::now()).await? else {
                return Ok(None);
            };
            if record.user_id.as_deref() != Some(user_id.as_str()) {
                return Ok(None);
            }
            match store.get_user(user_id).await {
                Ok(user) if !user.disabled => Ok(Some(user)),
                Ok(_) | Err(StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        }
    }
}

/// Upgrades to the live stream once the caller, the origin and the
/// subscription are good: 401, 403, 400 (field named) or 404 otherwise.
pub async fn live(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Query(q): Query<LiveQuery>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match prepare(&state, &headers, &session, &q).await {
        Ok(connection) => match upgrade {
            Ok(upgrade) => upgrade
                .max_message_size(MAX_REQUEST_BYTES)
                .read_buffer_size(READ_BUFFER_BYTES)
                .on_upgrade(move |socket| connection.run(state, socket))
                .into_response(),
            Err(rejection) => rejection.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    q: &LiveQuery,
) -> Result<Connection, AppError> {
    let (user, credentials) = authenticate(state, headers, session).await?;
    // A page of another site must not open a stream with this site's cookie.
    if crate::server::origin::same_origin(headers) == Some(false) {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "cross-site WebSocket refused: the origin is not this server",
        ));
    }
    let subscription = requested(q)?;
    let visible = visible_to(state.store.as_ref(), &user).await?;
    let target = resolve(state.store.as_ref(), &visible, &subscription)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "no such cluster or node"))?;
    Ok(Connection {
        user,
        credentials,
        visible,
        target,
        lags: Vec::new(),
        cluster_frames: None,
    })
}

/// The next frame of a cluster channel; never, without one.
async fn next_frame(
    channel: Option<&mut broadcast::Receiver<super::Frame>>,
) -> Result<super::Frame, RecvError> {
    match channel {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Why a connection ends.
enum End {
    Close(u16, &'static str),
    /// The peer left or stopped reading: nothing more can be said to it.
    Gone,
}

struct Connection {
    user: User,
    credentials: Credentials,
    visible: Visible,
    target: Target,
    /// When it fell behind lately.
    lags: Vec<Instant>,
    /// The followed cluster's channel (samples and all), when it follows one.
    cluster_frames: Option<broadcast::Receiver<super::Frame>>,
}

impl Connection {
    async fn run(mut self, state: AppState, mut socket: WebSocket) {
        let hub = state.live.clone();
        let mut frames = hub.subscribe();
        let mut stopping = hub.stopping();
        let store = state.store.clone();
        self.cluster_frames = self.target.cluster().map(|id| hub.follow_cluster(id));
        let mut recheck_timer =
            tokio::time::interval_at(tokio::time::Instant::now() + first_recheck(), RECHECK_EVERY);
        let first = self
            .resync(store.as_ref(), &mut socket, ResyncReason::Subscribed)
            .await;
        let end = match first {
            Err(end) => end,
            Ok(()) => loop {
                let step = tokio::select! {
                    frame = frames.recv() => self.forward(store.as_ref(), &mut socket, frame, false).await,
                    frame = next_frame(self.cluster_frames.as_mut()) => {
                        self.forward(store.as_ref(), &mut socket, frame, true).await
                    }
                    request = socket.next() => self.answer(&hub, store.as_ref(), &mut socket, request).await,
                    _ = recheck_timer.tick() => self.recheck(store.as_ref(), &mut socket).await,
                    () = async { drop(stopping.wait_for(|s| *s).await); } => Err(End::Close(close::GOING_AWAY, "the server is shutting down")),
                };
                if let Err(end) = step {
                    break end;
                }
            },
        };
        if let End::Close(code, reason) = end {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ =
                tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
        }
    }

    async fn send_now(socket: &mut WebSocket, message: &LiveMessage) -> Result<(), End> {
        match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text(message)))).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    async fn resync(
        &mut self,
        store: &dyn Store,
        socket: &mut WebSocket,
        reason: ResyncReason,
    ) -> Result<(), End> {
        let snapshot = snapshot(store, &self.user, &self.target)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "live snapshot failed");
                End::Close(1011, "the server could not read the current state")
            })?;
        let message = LiveMessage::Resync {
            reason,
            subscription: self.target.subscription(),
            snapshot,
        };
        Self::send_now(socket, &message).await
    }

    /// Sends what `frame` holds for this connection: from the fleet channel
    /// the hub's notices, and messages only when it follows everything; from
    /// its cluster's channel the messages its target wants.
    async fn forward(
        &mut self,
        store: &dyn Store,
        socket: &mut WebSocket,
        frame: Result<super::Frame, RecvError>,
        from_cluster: bool,
    ) -> Result<(), End> {
        let messages_here = from_cluster == (self.target != Target::All);
        let frame = match frame {
            Ok(frame) => frame,
            Err(RecvError::Lagged(_)) => {
                let now = Instant::now();
                self.lags.retain(|t| now.duration_since(*t) < LAG_WINDOW);
                self.lags.push(now);
                if self.lags.len() > LAGS_ALLOWED {
                    return Err(End::Close(
                        close::TOO_SLOW,
                        "the client keeps falling behind",
                    ));
                }
                return self.resync(store, socket, ResyncReason::Lagged).await;
            }
            Err(RecvError::Closed) => {
                return Err(End::Close(close::GOING_AWAY, "the server is shutting down"));
            }
        };
        let mut queued = 0;
        for item in frame.iter() {
            match item {
                Item::Message(m) if messages_here && self.target.wants(&self.visible, m) => {
                    let sent = tokio::time::timeout(
                        SEND_TIMEOUT,
                        socket.feed(Message::Text(m.text.clone())),
                    );
                    if !matches!(sent.await, Ok(Ok(()))) {
                        return Err(End::Gone);
                    }
                    queued += 1;
                }
                Item::AccessChanged if !from_cluster => self.recheck(store, socket).await?,
                Item::Resync(reason) if !from_cluster => {
                    self.resync(store, socket, *reason).await?;
                }
                // Not for this connection, or not from this channel.
                Item::Message(_) | Item::AccessChanged | Item::Resync(_) => {}
            }
        }
        if queued > 0
            && !matches!(
                tokio::time::timeout(SEND_TIMEOUT, socket.flush()).await,
                Ok(Ok(()))
            )
        {
            return Err(End::Gone);
        }
        Ok(())
    }

    /// Checks the caller again: the stream ends if they may no longer use
    /// it or see what it follows, and starts over if what they see changed.
    async fn recheck(&mut self, store: &dyn Store, socket: &mut WebSocket) -> Result<(), End> {
        let checked = async {
            let Some(user) = recheck(store, &self.credentials).await? else {
                return Ok(None);
            };
            let visible = visible_to(store, &user).await?;
            Ok::<_, StoreError>(Some((user, visible)))
        };
        let (user, visible) = match checked.await {
            Ok(Some(found)) => found,
            Ok(None) => return Err(End::Close(close::SIGNED_OUT, "signed out")),
            Err(e) => {
                // The database is briefly unreachable: keep the last answer.
                tracing::warn!(error = %e, "live connection could not check its caller");
                return Ok(());
            }
        };
        let target_cluster = match &self.target {
            Target::All => None,
            Target::Cluster(id) | Target::Node { cluster: id, .. } => Some(id.clone()),
        };
        if target_cluster.is_some() && !visible.allows(target_cluster.as_ref()) {
            return Err(End::Close(close::NOT_VISIBLE, "no longer visible"));
        }
        let changed = visible != self.visible || user.tenants != self.user.tenants;
        self.user = user;
        self.visible = visible;
        if changed {
            self.resync(store, socket, ResyncReason::AccessChanged)
                .await?;
        }
        Ok(())
    }

    async fn answer(
        &mut self,
        hub: &super::LiveHub,
        store: &dyn Store,
        socket: &mut WebSocket,
        request: Option<Result<Message, axum::Error>>,
    ) -> Result<(), End> {
        let text = match request {
            None | Some(Err(_) | Ok(Message::Close(_))) => return Err(End::Gone),
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Ok(()),
            Some(Ok(Message::Binary(_))) => {
                return Self::refuse(socket, "bad_request", "send JSON text messages".into()).await;
            }
        };
        let subscription = match serde_json::from_str::<LiveRequest>(text.as_str()) {
            Ok(LiveRequest::Subscribe { subscription }) => subscription,
            Err(e) => {
                return Self::refuse(
                    socket,
                    "bad_request",
                    format!("not a live request ({e}); send {{\"type\":\"subscribe\",\"scope\":\"all\"|\"cluster\"|\"node\",…}}"),
                )
                .await;
            }
        };
        match resolve(store, &self.visible, &subscription).await {
            Ok(Some(target)) => {
                // Listening before the snapshot is read, so nothing falls
                // between the two.
                self.cluster_frames = target.cluster().map(|id| hub.follow_cluster(id));
                self.target = target;
                self.resync(store, socket, ResyncReason::Subscribed).await
            }
            Ok(None) => Self::refuse(socket, "not_found", "no such cluster or node".into()).await,
            Err(e) => {
                tracing::warn!(error = %e, "live subscription failed");
                Self::refuse(
                    socket,
                    "unavailable",
                    "the server could not read the subscription; try again".into(),
                )
                .await
            }
        }
    }

    async fn refuse(socket: &mut WebSocket, error: &str, message: String) -> Result<(), End> {
        Self::send_now(
            socket,
            &LiveMessage::Error {
                error: error.to_owned(),
                message,
            },
        )
        .await
    }
}
