//! The cluster's metric charts: its nodes' samples combined per minute (per
//! hour beyond a day) — the mean of all of them, in the band from the
//! lowest to the highest. Live samples are combined the same way, per
//! minute, after the stored ones.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use muster_domain::live::NodeSample;
use muster_domain::metrics::{MetricStep, Rollup, bucket_start};
use muster_domain::{ClusterId, MetricPoint};

use super::ClusterState;
use crate::api::clusters::cluster_metric_history;
use crate::app::components::charts::{CHARTS, ChartSource, ChartsPanel, chart_names, metric_value};

/// Live samples combined per minute and chart metric.
pub type LiveMinutes = BTreeMap<DateTime<Utc>, BTreeMap<&'static str, Rollup>>;

/// Minutes of live samples kept: the longest live period, and the minute
/// under way.
const LIVE_MINUTES: usize = 61;

/// Adds a heartbeat's sample to the minute it was taken in.
pub fn fold(minutes: &mut LiveMinutes, sample: &NodeSample) {
    let minute = bucket_start(sample.recorded_at, MetricStep::Minute);
    let bucket = minutes.entry(minute).or_default();
    for (name, ..) in CHARTS {
        let Some(one) = metric_value(&sample.metrics, name).and_then(|v| Rollup::of(&[v])) else {
            continue;
        };
        let merged = bucket.get(name).map_or(one, |r| r.merge(one));
        bucket.insert(name, merged);
    }
    while minutes.len() > LIVE_MINUTES {
        minutes.pop_first();
    }
}

/// The stored history of every chart, in one request.
pub async fn load_history(
    id: String,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Vec<MetricPoint>>, crate::api::AppError> {
    let id: ClusterId = id.parse().map_err(|_| {
        crate::api::AppError::new(crate::api::ErrorCode::NotFound, "cluster not found")
    })?;
    cluster_metric_history(id, chart_names(), since, until, None).await
}

#[component]
pub fn MetricsPanel(state: ClusterState, source: ChartSource) -> impl IntoView {
    let minutes = state.live_minutes;
    // The minute of the last stored point may still be filling: live
    // samples start with the next one, so none is counted twice.
    let live = Callback::new(move |(name, last): (&'static str, Option<DateTime<Utc>>)| {
        minutes.with(|m| {
            m.iter()
                .filter(|(at, _)| last.is_none_or(|l| **at > l))
                .filter_map(|(at, per_name)| {
                    per_name.get(name).map(|r| MetricPoint {
                        at: *at,
                        min: r.min,
                        max: r.max,
                        avg: r.avg,
                        count: r.count,
                    })
                })
                .collect()
        })
    });
    let latest = Signal::derive(move || {
        state
            .samples
            .with(|s| s.values().map(|sample| sample.recorded_at).max())
    });
    view! {
        <ChartsPanel
            source
            live
            latest
            heading="Metrics across nodes"
            hint="Each point combines every node's samples of that minute (of that hour beyond a day): the line is their mean, the band runs from the lowest to the highest."
        />
    }
}
