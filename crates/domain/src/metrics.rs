//! Metric names and values, and the time buckets of their rollups
//! (DESIGN.md §4, Events, metrics, processes).
//!
//! Decisions where the design is open:
//! * Percentages must lie in 0–100 and counts and rates must not be negative;
//!   custom metrics may take any finite value.
//! * A batch holds at most [`MAX_METRICS_PER_SAMPLE`] names, so one request cannot
//!   write an unbounded number of rows.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use crate::errors::FieldErrors;

/// The metrics every agent reports.
pub const STANDARD_METRICS: [&str; 7] = [
    "cpu_usage_percent",
    "memory_usage_percent",
    "disk_usage_percent",
    "load_average",
    "network_rx_mbps",
    "network_tx_mbps",
    "process_count",
];

pub const MAX_NAME_LEN: usize = 64;
pub const MAX_METRICS_PER_SAMPLE: usize = 100;
/// How long raw samples are kept before only rollups remain.
pub const RAW_RETENTION_HOURS: i64 = 48;

/// Whether `name` matches `[a-z_][a-z0-9_]{0,63}`.
#[must_use]
pub fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b == b'_')
        && name.len() <= MAX_NAME_LEN
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks one metric; the error names it (`metrics.<name>`).
///
/// # Errors
/// A field-named message when the name or the value is not acceptable.
pub fn check_metric(name: &str, value: f64) -> Result<(), FieldErrors> {
    let shown: String = name.chars().take(MAX_NAME_LEN + 8).collect();
    let field = format!("metrics.{shown}");
    if !is_metric_name(name) {
        return Err(FieldErrors::single(
            field.clone(),
            format!(
                "{field} is not a metric name: use a-z, 0-9 and _, starting with a letter or _, at most 64 characters"
            ),
        ));
    }
    let problem = if !value.is_finite() {
        Some("must be a finite number".to_owned())
    } else if name.ends_with("_percent") && !(0.0..=100.0).contains(&value) {
        Some("must be between 0 and 100".to_owned())
    } else if STANDARD_METRICS.contains(&name) && value < 0.0 {
        Some("must not be negative".to_owned())
    } else {
        None
    };
    match problem {
        Some(p) => Err(FieldErrors::single(field.clone(), format!("{field} {p}"))),
        None => Ok(()),
    }
}

/// Checks a batch of metrics.
///
/// # Errors
/// Every bad metric, named, or a `metrics` error when the batch is empty or too big.
pub fn check_metrics<'a>(
    metrics: impl IntoIterator<Item = (&'a str, f64)>,
) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut count = 0usize;
    for (name, value) in metrics {
        count += 1;
        if let Err(e) = check_metric(name, value) {
            for (f, m) in e.iter() {
                errors.add(f, m);
            }
        }
    }
    if count == 0 {
        errors.add("metrics", "metrics must hold at least one metric");
    } else if count > MAX_METRICS_PER_SAMPLE {
        errors.add(
            "metrics",
            format!("metrics must hold at most {MAX_METRICS_PER_SAMPLE} metrics"),
        );
    }
    errors.into_result()
}

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    /// Resolution of a metric history.
    MetricStep, "step" {
        Raw => "raw",
        Minute => "1m",
        Hour => "1h",
    }
);

impl MetricStep {
    #[must_use]
    pub fn width(self) -> Option<Duration> {
        match self {
            Self::Raw => None,
            Self::Minute => Some(Duration::minutes(1)),
            Self::Hour => Some(Duration::hours(1)),
        }
    }

    /// The step for a chart covering `since` to `now`: raw samples up to two
    /// hours (well inside their 48 h retention), minutes up to a week, hours
    /// beyond, so a chart holds at most a few thousand points.
    #[must_use]
    pub fn finest_for(since: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let span = now - since;
        if span <= Duration::hours(2) {
            Self::Raw
        } else if span <= Duration::days(7) {
            Self::Minute
        } else {
            Self::Hour
        }
    }

    /// The step for a chart of a cluster's nodes together. Their samples
    /// fall at different moments, so they are combined per bucket: minutes
    /// up to a day, hours beyond (a week of a large cluster's minutes is
    /// too much to combine for one chart).
    #[must_use]
    pub fn finest_across_nodes(since: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if now - since <= Duration::days(1) {
            Self::Minute
        } else {
            Self::Hour
        }
    }
}

/// Checks what a history request names: a metric and a window that ends
/// after it starts.
///
/// # Errors
/// `name` or `since`, said in words.
pub fn check_history(
    name: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(), FieldErrors> {
    if !is_metric_name(name) {
        return Err(FieldErrors::single("name", "name is not a metric name"));
    }
    if since >= until {
        return Err(FieldErrors::single("since", "since must be before until"));
    }
    Ok(())
}

/// The start of the bucket of width `step` holding `t`.
#[must_use]
pub fn bucket_start(t: DateTime<Utc>, step: MetricStep) -> DateTime<Utc> {
    match step.width() {
        Some(width) => t.duration_trunc(width).unwrap_or(t),
        None => t,
    }
}

/// Minimum, maximum and mean of the samples in one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: u64,
}

impl Rollup {
    /// The rollup of `values`, or `None` when there are none.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn of(values: &[f64]) -> Option<Self> {
        let (first, rest) = values.split_first()?;
        let (mut min, mut max, mut sum) = (*first, *first, *first);
        for &v in rest {
            min = min.min(v);
            max = max.max(v);
            sum += v;
        }
        Some(Self {
            min,
            max,
            avg: sum / values.len() as f64,
            count: values.len() as u64,
        })
    }

    /// Combines two rollups of the same bucket (e.g. minutes into an hour).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn merge(self, other: Self) -> Self {
        let count = self.count + other.count;
        Self {
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            avg: (self.avg * self.count as f64 + other.avg * other.count as f64) / count as f64,
            count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn names_follow_the_pattern() {
        for ok in [
            "cpu_usage_percent",
            "_private",
            "a",
            "queue_depth_2",
            &"x".repeat(64),
        ] {
            assert!(is_metric_name(ok), "{ok}");
        }
        for bad in [
            "",
            "2fast",
            "CPU",
            "cpu-usage",
            "cpu usage",
            "é",
            &"x".repeat(65),
        ] {
            assert!(!is_metric_name(bad), "{bad}");
        }
    }

    #[test]
    fn values_must_be_finite_and_in_range() {
        assert!(check_metric("cpu_usage_percent", 55.5).is_ok());
        let e = check_metric("cpu_usage_percent", 100.5).expect_err("over 100");
        assert_eq!(
            e.get("metrics.cpu_usage_percent"),
            Some("metrics.cpu_usage_percent must be between 0 and 100")
        );
        let e = check_metric("queue_depth", f64::NAN).expect_err("nan");
        assert_eq!(
            e.get("metrics.queue_depth"),
            Some("metrics.queue_depth must be a finite number")
        );
        assert!(check_metric("network_rx_mbps", -1.0).is_err());
        assert!(
            check_metric("temperature_delta", -3.0).is_ok(),
            "custom metrics may be negative"
        );
        let e = check_metric("Bad-Name", 1.0).expect_err("name");
        assert!(e.get("metrics.Bad-Name").is_some());
    }

    #[test]
    fn batches_are_bounded() {
        assert!(check_metrics([]).is_err());
        let names: Vec<String> = (0..101).map(|i| format!("m{i}")).collect();
        let e = check_metrics(names.iter().map(|n| (n.as_str(), 1.0))).expect_err("too many");
        assert_eq!(
            e.get("metrics"),
            Some("metrics must hold at most 100 metrics")
        );
        assert!(check_metrics(names.iter().take(100).map(|n| (n.as_str(), 1.0))).is_ok());
    }

    #[test]
    fn buckets_and_steps() {
        let t = Utc
            .with_ymd_and_hms(2026, 2, 3, 10, 37, 42)
            .single()
            .expect("t");
        assert_eq!(
            bucket_start(t, MetricStep::Minute),
            Utc.with_ymd_and_hms(2026, 2, 3, 10, 37, 0)
                .single()
                .expect("m")
        );
        assert_eq!(
            bucket_start(t, MetricStep::Hour),
            Utc.with_ymd_and_hms(2026, 2, 3, 10, 0, 0)
                .single()
                .expect("h")
        );
        assert_eq!(bucket_start(t, MetricStep::Raw), t);
        assert_eq!(
            MetricStep::finest_for(t - Duration::minutes(15), t),
            MetricStep::Raw
        );
        assert_eq!(
            MetricStep::finest_for(t - Duration::hours(24), t),
            MetricStep::Minute
        );
        assert_eq!(
            MetricStep::finest_for(t - Duration::days(7), t),
            MetricStep::Minute
        );
        assert_eq!(
            MetricStep::finest_for(t - Duration::days(30), t),
            MetricStep::Hour
        );
        for (span, step) in [
            (Duration::minutes(15), MetricStep::Minute),
            (Duration::hours(24), MetricStep::Minute),
            (Duration::hours(25), MetricStep::Hour),
            (Duration::days(7), MetricStep::Hour),
        ] {
            assert_eq!(MetricStep::finest_across_nodes(t - span, t), step, "{span}");
        }
        assert_eq!("1m".parse::<MetricStep>(), Ok(MetricStep::Minute));
        // JSON names a step as the query string does.
        assert_eq!(
            serde_json::to_string(&MetricStep::Hour).ok().as_deref(),
            Some("\"1h\"")
        );
        assert_eq!(
            serde_json::from_str::<MetricStep>("\"1m\"").ok(),
            Some(MetricStep::Minute)
        );
    }

    #[test]
    fn rollups_combine() {
        let a = Rollup::of(&[1.0, 2.0, 3.0]).expect("a");
        assert_eq!(
            a,
            Rollup {
                min: 1.0,
                max: 3.0,
                avg: 2.0,
                count: 3
            }
        );
        let b = Rollup::of(&[10.0]).expect("b");
        let m = a.merge(b);
        assert_eq!((m.min, m.max, m.count), (1.0, 10.0, 4));
        assert!((m.avg - 4.0).abs() < 1e-12);
        assert_eq!(Rollup::of(&[]), None);
    }

    proptest! {
        #[test]
        fn arbitrary_names_never_panic(name in "\\PC{0,80}", v in any::<f64>()) {
            let _ = check_metric(&name, v);
        }

        #[test]
        fn merging_equals_rolling_up_everything(a in proptest::collection::vec(-1e6f64..1e6, 1..20), b in proptest::collection::vec(-1e6f64..1e6, 1..20)) {
            let all: Vec<f64> = a.iter().chain(&b).copied().collect();
            let merged = Rollup::of(&a).expect("a").merge(Rollup::of(&b).expect("b"));
            let direct = Rollup::of(&all).expect("all");
            prop_assert_eq!((merged.min, merged.max, merged.count), (direct.min, direct.max, direct.count));
            prop_assert!((merged.avg - direct.avg).abs() < 1e-6);
        }
    }
}
