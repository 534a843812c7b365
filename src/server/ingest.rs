//! Heartbeat ingestion: node tokens resolved through a small cache, and a
//! batcher that writes whatever heartbeats are waiting in one transaction and
//! answers each after the commit.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use muster_domain::{ClusterId, NodeId};
use muster_store::{Backend, Change, ChangeSet, HeartbeatAck, HeartbeatWrite, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Most heartbeats written in one transaction.
pub const MAX_BATCH: usize = 512;
/// Heartbeats that may wait for a writer before new ones are turned away.
pub const QUEUE: usize = 20_000;
/// How long a resolved node token is trusted without asking the database,
/// at most; each entry's lifetime is drawn between half of it and all of it
/// (see [`token_lifetime`]).
pub const TOKEN_TTL: Duration = Duration::from_mins(1);
/// Cached tokens at most; the cache starts over beyond it.
const TOKEN_CACHE_MAX: usize = 200_000;

/// Why a heartbeat got no acknowledgement.
#[derive(Debug)]
pub enum IngestError {
    /// Too many heartbeats are waiting; the agent should retry shortly.
    Busy,
    /// The node is gone or retired.
    UnknownNode,
    Store(StoreError),
}

struct Job {
    write: HeartbeatWrite,
    reply: oneshot::Sender<Result<HeartbeatAck, StoreError>>,
}

/// A resolved token: its node and cluster, and when the entry expires.
type TokenEntry = (NodeId, ClusterId, Instant);

/// Shared by every request handler.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::Sender<Job>,
    tokens: Arc<RwLock<HashMap<String, TokenEntry>>>,
}

impl Ingest {
    /// Starts the writer, one per server on either database. It stops when
    /// every handle is dropped.
    ///
    /// On PostgreSQL, too, one writer does best: it takes whatever has
    /// queued while its last batch was written, so batches grow with the
    /// load, and a batch costs the database and the server much the same
    /// few round trips whatever its size. Measured at 5,000 heartbeats/s on
    /// this project's 2-core machine, four writers cost 135 µs of server and
    /// 182 µs of database CPU per heartbeat, two 121 and 157, one 104 and
    /// 124, with the lowest latency. (Replicas each have their own writer.)
    ///
    /// SQLite's writer runs on a thread of its own: a batch is about six
    /// statements, each a hand-off to the connection's thread and back, and
    /// on the request runtime every hand-back would wait behind the HTTP
    /// tasks queued there. (A PostgreSQL connection's socket belongs to the
    /// runtime that opened it, so its writers stay on the request runtime.)
    ///
    /// # Panics
    /// When the operating system refuses a thread or its runtime.
    #[must_use]
    pub fn start(store: &Arc<dyn Store>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        match store.backend() {
            Backend::Sqlite => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the heartbeat writer's runtime");
                let store = store.clone();
                std::thread::Builder::new()
                    .name("muster-ingest".into())
                    .spawn(move || runtime.block_on(write_batches(store, rx)))
                    .expect("the heartbeat writer's thread");
            }
            Backend::Postgres => {
                tokio::spawn(write_batches(store.clone(), rx));
            }
        }
        let ingest = Self {
            queue,
            tokens: Arc::default(),
        };
        tokio::spawn(forget_rotated(store.changes(), ingest.clone()));
        ingest
    }

    /// Forgets the cached tokens of `node`, so that a replaced token stops
    /// working at once.
    pub fn forget_node(&self, node: &Option<NodeId>) {
        if let (Some(node), Ok(mut cache)) = (node, self.tokens.write()) {
            cache.retain(|_, (n, _, _)| n != node);
        }
    }

    fn forget_all(&self) {
        if let Ok(mut cache) = self.tokens.write() {
            cache.clear();
        }
    }

    /// The node a node token belongs to.
    ///
    /// # Errors
    /// The store's, when it cannot be asked.
    pub async fn resolve(
        &self,
        store: &dyn Store,
        token_hash: &str,
    ) -> Result<Option<(NodeId, ClusterId)>, StoreError> {
        if let Ok(cache) = self.tokens.read()
            && let Some((node, cluster, expires)) = cache.get(token_hash)
            && Instant::now() < *expires
        {
            return Ok(Some((node.clone(), cluster.clone())));
        }
        let found = store.node_for_token(token_hash).await?;
        if let (Some((node, cluster)), Ok(mut cache)) = (&found, self.tokens.write()) {
            if cache.len() >= TOKEN_CACHE_MAX {
                cache.clear();
            }
            cache.insert(
                token_hash.to_owned(),
                (
                    node.clone(),
                    cluster.clone(),
                    Instant::now() + token_lifetime(),
                ),
            );
        }
        Ok(found)
    }

    /// Queues a heartbeat and waits for its transaction to commit.
    ///
    /// # Errors
    /// [`IngestError::Busy`] when the queue is full, [`IngestError::UnknownNode`]
    /// when the node is gone (its token is forgotten), or the store's error.
    pub async fn submit(
        &self,
        token_hash: &str,
        write: HeartbeatWrite,
    ) -> Result<HeartbeatAck, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Job { write, reply })
            .map_err(|_| IngestError::Busy)?;
        match answer.await {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(StoreError::NotFound(_))) => {
                if let Ok(mut cache) = self.tokens.write() {
                    cache.remove(token_hash);
                }
                Err(IngestError::UnknownNode)
            }
            Ok(Err(e)) => Err(IngestError::Store(e)),
            Err(_) => Err(IngestError::Busy),
        }
    }
}

/// How long one resolved token stays cached: at random between half of
/// [`TOKEN_TTL`] and all of it. A fleet's agents resolve their tokens
/// together (when the server starts, say); with one lifetime for all, every
/// entry expired in the same second a minute later and the whole fleet's
/// lookups hit the database at once (measured: p99 at 5,000 heartbeats/s
/// rose from 10 to 80–200 ms once a minute). Spread, they come at an even
/// pace.
fn token_lifetime() -> Duration {
    super::in_second_half_of(TOKEN_TTL)
}

/// Forgets the cached token of every node whose token is rotated, on any
/// replica (on PostgreSQL the change feed crosses them); everything when
/// changes may have been missed.
async fn forget_rotated(mut changes: tokio::sync::broadcast::Receiver<ChangeSet>, ingest: Ingest) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match changes.recv().await {
            Ok(set) => {
                for change in set.iter() {
                    match change {
                        Change::Event { event }
                            if event.event_type == muster_store::events::NODE_TOKEN_ROTATED =>
                        {
                            ingest.forget_node(&event.node_id);
                        }
                        Change::Lost => ingest.forget_all(),
                        _ => {}
                    }
                }
            }
            Err(RecvError::Lagged(_)) => ingest.forget_all(),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Takes whatever is waiting (up to [`MAX_BATCH`]), writes it in one
/// transaction and answers each heartbeat; repeats until the queue closes.
async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
            return;
        }
        let (writes, replies): (Vec<_>, Vec<_>) =
            jobs.drain(..).map(|j| (j.write, j.reply)).unzip();
        let results = match store.ingest_heartbeats(&writes).await {
            Ok(results) => results,
            Err(e) if writes.len() == 1 => vec![Err(e)],
            Err(e) => {
                // One heartbeat must not sink the others: write each alone.
                tracing::warn!(error = %e, batch = writes.len(), "heartbeat batch failed; writing one by one");
                let mut each = Vec::with_capacity(writes.len());
                for w in &writes {
                    each.push(
                        match store.ingest_heartbeats(std::slice::from_ref(w)).await {
                            Ok(mut r) => r.pop().unwrap_or(Err(StoreError::NotFound("node"))),
                            Err(e) => Err(e),
                        },
                    );
                }
                each
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}
