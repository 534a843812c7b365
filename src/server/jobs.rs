//! Background work: the liveness sweep, the metrics rollup and retention job,
//! and pruning of expired sessions. Each runs on a timer until shutdown; on PostgreSQL the
//! store makes sure only one replica rolls metrics up at a time.

use std::sync::Arc;
use std::time::Duration;

use muster_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the metrics job runs.
pub const ROLLUP_EVERY: Duration = Duration::from_mins(1);

/// Starts the periodic jobs; they stop when `stop` turns true.
pub fn spawn_metrics_job(store: Arc<dyn Store>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ROLLUP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            let began = std::time::Instant::now();
            match store.roll_up_metrics(muster_store::now()).await {
                Ok(Some(r)) if r != muster_store::RollupReport::default() => tracing::debug!(
                    ms = began.elapsed().as_millis(),
                    minutes = r.minutes,
                    hours = r.hours,
                    raw_deleted = r.raw_deleted,
                    rollups_deleted = r.rollups_deleted,
                    "metrics rolled up"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "metrics rollup failed; retrying next minute"),
            }
            // Deleting expired rows is idempotent, so every replica may do it.
            if let Err(e) = store.sessions_prune(muster_store::now()).await {
                tracing::warn!(error = %e, "pruning expired sessions failed");
            }
        }
    })
}

/// How often the liveness sweep runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Starts the liveness sweep: silent nodes become unreachable, then offline,
/// counted from `started_at` at the earliest (the start-up grace window).
pub fn spawn_liveness_sweeper(
    store: Arc<dyn Store>,
    started_at: chrono::DateTime<chrono::Utc>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            match store.sweep_liveness(muster_store::now(), started_at).await {
                Ok(Some(r)) if r != muster_store::SweepReport::default() => tracing::info!(
                    unreachable = r.unreachable,
                    offline = r.offline,
                    health_changed = r.health_changed,
                    "liveness sweep"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "liveness sweep failed; retrying"),
            }
        }
    })
}
