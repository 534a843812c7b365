//! The cluster's metric charts: its nodes' samples combined per minute (per
//! hour beyond a day) — the mean of all of them, in the band from the
//! lowest to the highest. Live samples are combined the same way, per
//! minute, after the stored ones.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use muster_domain::MetricPoint;
use muster_domain::live::NodeSample;
use muster_domain::metrics::{MetricStep, Rollup, bucket_start};

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

/// The live points of `name` in the minutes after `last` (the newest stored
/// bucket, which may still have been filling when it was read: the live
/// samples of that minute are left out rather than counted twice).
pub fn points_after(
    minutes: &LiveMinutes,
    name: &str,
    last: Option<DateTime<Utc>>,
) -> Vec<MetricPoint> {
    minutes
        .iter()
        .filter(|(at, _)| last.is_none_or(|l| **at > l))
        .filter_map(|(at, per_name)| per_name.get(name).map(|r| MetricPoint::rolled(*at, *r)))
        .collect()
}

/// The stored history of every chart, in one request.
pub async fn load_history(
    id: String,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Vec<MetricPoint>>, crate::api::AppError> {
    cluster_metric_history(super::parse_id(&id)?, chart_names(), since, until, None).await
}

#[component]
pub fn MetricsPanel(state: ClusterState, source: ChartSource) -> impl IntoView {
    let minutes = state.live_minutes;
    // The minute of the last stored point may still be filling: live
    // samples start with the next one, so none is counted twice.
    let live = Callback::new(move |(name, last): (&'static str, Option<DateTime<Utc>>)| {
        minutes.with(|m| points_after(m, name, last))
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use muster_domain::ClusterId;
    use muster_domain::protocol::HostMetrics;

    fn sample(node: usize, at: DateTime<Utc>, cpu: f64) -> NodeSample {
        let cluster: ClusterId = "cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8"
            .parse()
            .expect("cluster id");
        NodeSample {
            node_id: format!("node-a1b2c3d4-2026-01-21-{node}-1i2j3k4l")
                .parse()
                .expect("node id"),
            cluster_id: cluster,
            recorded_at: at,
            metrics: HostMetrics {
                cpu_usage_percent: cpu,
                memory_usage_percent: 50.0,
                disk_usage_percent: 10.0,
                load_average: 1.0,
                network_rx_mbps: 2.0,
                network_tx_mbps: 3.0,
                process_count: 100,
            },
        }
    }

    #[test]
    fn samples_combine_per_minute_after_the_stored_ones() {
        let t = |m: u32, s: u32| {
            Utc.with_ymd_and_hms(2026, 3, 1, 10, m, s)
                .single()
                .expect("time")
        };
        let mut minutes = LiveMinutes::new();
        for (node, at, cpu) in [
            (1, t(0, 5), 20.0),
            (2, t(0, 40), 60.0),
            (1, t(1, 5), 30.0),
            (2, t(2, 0), 90.0),
        ] {
            fold(&mut minutes, &sample(node, at, cpu));
        }
        let cpu = points_after(&minutes, "cpu_usage_percent", None);
        let seen: Vec<(DateTime<Utc>, f64, f64, f64, u64)> = cpu
            .iter()
            .map(|p| (p.at, p.min, p.avg, p.max, p.count))
            .collect();
        assert_eq!(
            seen,
            [
                (t(0, 0), 20.0, 40.0, 60.0, 2),
                (t(1, 0), 30.0, 30.0, 30.0, 1),
                (t(2, 0), 90.0, 90.0, 90.0, 1)
            ]
        );
        // The stored history ends with minute 1: live points start after it.
        let after = points_after(&minutes, "network_tx_mbps", Some(t(1, 0)));
        assert_eq!(
            after.iter().map(|p| (p.at, p.avg)).collect::<Vec<_>>(),
            [(t(2, 0), 3.0)]
        );
        assert!(points_after(&minutes, "no_such_chart", None).is_empty());
    }

    #[test]
    fn only_the_last_hour_of_minutes_is_kept() {
        let start = Utc
            .with_ymd_and_hms(2026, 3, 1, 10, 0, 0)
            .single()
            .expect("time");
        let mut minutes = LiveMinutes::new();
        for m in 0..90 {
            fold(
                &mut minutes,
                &sample(1, start + chrono::Duration::minutes(m), 1.0),
            );
        }
        assert_eq!(minutes.len(), LIVE_MINUTES);
        assert_eq!(
            minutes.keys().next(),
            Some(&(start + chrono::Duration::minutes(29)))
        );
    }
}
