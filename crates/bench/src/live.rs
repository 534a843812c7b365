//! The live stream under load: WebSocket clients each following one cluster
//! while heartbeats arrive at a fixed rate. Delivery latency is the time from
//! the server receiving a heartbeat (the sample's `recorded_at`, on the same
//! machine's clock) to a client receiving its `metrics_sample`: it includes
//! the commit, so it bounds "committed → received" from above.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use muster_domain::live::LiveMessage;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// What the clients saw during the measured run.
#[derive(Debug, Default)]
pub struct Delivery {
    pub samples: u64,
    pub other: u64,
    pub resyncs: u64,
    pub closed: u64,
    pub latencies_us: Vec<u32>,
}

impl Delivery {
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        crate::load::quantile_ms(&mut self.latencies_us, q)
    }
}

/// Open clients; each counts and times what arrives while `measuring` is set.
pub struct Clients {
    tasks: Vec<tokio::task::JoinHandle<Delivery>>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

/// Opens `n` clients against `base` (`http://host:port`), client `i`
/// following `clusters[i % clusters.len()]`; returns once all have their
/// first snapshot.
pub async fn connect(
    base: &str,
    token: &str,
    clusters: &[String],
    n: usize,
) -> Result<Clients, String> {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(n);
    let ws_base = base.replacen("http://", "ws://", 1);
    for i in 0..n {
        let cluster = clusters
            .get(i % clusters.len().max(1))
            .ok_or("no clusters to follow")?;
        let url = format!("{ws_base}/api/v1/live?cluster_id={cluster}");
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .map_err(|_| "bad token".to_owned())?,
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| format!("client {i}: {e}"))?;
        // The first message is the snapshot.
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => {}
            other => return Err(format!("client {i}: no snapshot ({other:?})")),
        }
        let (measuring, stop) = (measuring.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Delivery::default();
            while !stop.load(Ordering::Relaxed) {
                let Ok(frame) =
                    tokio::time::timeout(Duration::from_millis(200), socket.next()).await
                else {
                    continue;
                };
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => {
                        out.closed += 1;
                        break;
                    }
                };
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                match serde_json::from_str::<LiveMessage>(text.as_str()) {
                    Ok(LiveMessage::MetricsSample { sample }) => {
                        out.samples += 1;
                        let now = chrono::Utc::now();
                        let us = (now - sample.recorded_at).num_microseconds().unwrap_or(0);
                        out.latencies_us
                            .push(u32::try_from(us.max(0)).unwrap_or(u32::MAX));
                    }
                    Ok(LiveMessage::Resync { .. }) => out.resyncs += 1,
                    _ => out.other += 1,
                }
            }
            out
        }));
    }
    Ok(Clients {
        tasks,
        measuring,
        stop,
    })
}

impl Clients {
    pub fn measure(&self) {
        self.measuring.store(true, Ordering::Relaxed);
    }

    /// Stops the clients and sums what they saw.
    pub async fn finish(self) -> Delivery {
        self.measuring.store(false, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Delivery::default();
        for t in self.tasks {
            if let Ok(d) = t.await {
                total.samples += d.samples;
                total.other += d.other;
                total.resyncs += d.resyncs;
                total.closed += d.closed;
                total.latencies_us.extend(d.latencies_us);
            }
        }
        total
    }
}
