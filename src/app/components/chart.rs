//! A metric over time as an SVG: the average as a line inside the band from
//! minimum to maximum (rollups carry all three; a raw sample is all three at
//! once). The box keeps its size whatever the data, so nothing shifts when
//! points arrive.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use muster_domain::MetricPoint;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 140.0;

/// The drawing of `points` between `since` and `until`, with the value axis
/// from 0 to `top`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub line: String,
    pub band: String,
    pub top: f64,
    /// Where the latest point is, marked so that a few points at the edge
    /// of a long period still show.
    pub last: Option<(f64, f64)>,
}

/// The value axis' top: `fixed` (e.g. 100 for percentages), else a round
/// number above the highest point.
#[must_use]
pub fn axis_top(points: &[MetricPoint], fixed: Option<f64>) -> f64 {
    if let Some(top) = fixed {
        return top;
    }
    let high = points.iter().map(|p| p.max).fold(0.0_f64, f64::max);
    if high <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(high.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&v| v >= high)
        .unwrap_or(high)
}

/// Where each point goes.
#[must_use]
#[allow(clippy::cast_precision_loss)] // milliseconds to pixels
pub fn plot(points: &[MetricPoint], since: DateTime<Utc>, until: DateTime<Utc>, top: f64) -> Plot {
    let span = (until - since).num_milliseconds().max(1) as f64;
    let x =
        |t: DateTime<Utc>| ((t - since).num_milliseconds() as f64 / span * WIDTH).clamp(0.0, WIDTH);
    let y = |v: f64| HEIGHT - (v / top).clamp(0.0, 1.0) * HEIGHT;
    let mut inside: Vec<&MetricPoint> = points
        .iter()
        .filter(|p| p.at >= since && p.at <= until)
        .collect();
    inside.sort_by_key(|p| p.at);
    let line = inside
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.at), y(p.avg)))
        .collect::<Vec<_>>()
        .join(" ");
    let upper = inside
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.at), y(p.max)));
    let lower = inside
        .iter()
        .rev()
        .map(|p| format!("{:.1},{:.1}", x(p.at), y(p.min)));
    let band = upper.chain(lower).collect::<Vec<_>>().join(" ");
    let last = inside.last().map(|p| (x(p.at), y(p.avg)));
    Plot {
        line,
        band,
        top,
        last,
    }
}

fn figure(v: f64, unit: &str) -> String {
    if v.abs() >= 100.0 || v == 0.0 {
        format!("{v:.0}{unit}")
    } else {
        format!("{v:.1}{unit}")
    }
}

/// One metric's chart, with its title, latest value and a text summary for
/// screen readers.
#[component]
pub fn MetricChart(
    title: &'static str,
    /// Put after figures, e.g. " %".
    unit: &'static str,
    /// A fixed axis top (100 for percentages); else from the data.
    #[prop(default = None)]
    fixed_top: Option<f64>,
    points: Signal<Vec<MetricPoint>>,
    since: Signal<DateTime<Utc>>,
    until: Signal<DateTime<Utc>>,
) -> impl IntoView {
    let drawn = Memo::new(move |_| {
        points.with(|p| {
            let top = axis_top(p, fixed_top);
            plot(p, since.get(), until.get(), top)
        })
    });
    let latest = move || {
        points.with(|p| {
            p.iter()
                .max_by_key(|p| p.at)
                .map_or_else(|| "no data".to_owned(), |p| figure(p.avg, unit))
        })
    };
    let summary = move || {
        points.with(|p| {
            if p.is_empty() {
                return format!("{title}: no data in this period");
            }
            let low = p.iter().map(|p| p.min).fold(f64::INFINITY, f64::min);
            let high = p.iter().map(|p| p.max).fold(f64::NEG_INFINITY, f64::max);
            format!(
                "{title}: latest {}, between {} and {} in this period",
                latest(),
                figure(low, unit),
                figure(high, unit)
            )
        })
    };
    view! {
        <figure class="chart">
            <figcaption>
                <span class="chart-title">{title}</span>
                <span class="chart-latest">{latest}</span>
            </figcaption>
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                preserveAspectRatio="none"
                role="img"
                aria-label=summary
            >
                <line class="grid" x1="0" y1=HEIGHT / 2.0 x2=WIDTH y2=HEIGHT / 2.0></line>
                <polygon class="band" points=move || drawn.with(|d| d.band.clone())></polygon>
                <polyline class="line" points=move || drawn.with(|d| d.line.clone())></polyline>
                {move || {
                    drawn
                        .with(|d| d.last)
                        .map(|(cx, cy)| view! { <circle class="dot" cx=cx cy=cy r="3"></circle> })
                }}
            </svg>
            <div class="chart-axis" aria-hidden="true">
                <span>{move || since.get().format("%m-%d %H:%M").to_string()}</span>
                <span>{move || format!("0 – {}", figure(drawn.with(|d| d.top), unit))}</span>
                <span>{move || until.get().format("%m-%d %H:%M").to_string()}</span>
            </div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(minute: i64, min: f64, avg: f64, max: f64) -> MetricPoint {
        MetricPoint {
            at: DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).expect("a time"),
            min,
            max,
            avg,
            count: 1,
        }
    }

    #[test]
    fn the_axis_rounds_up_and_points_land_inside_the_box() {
        assert!((axis_top(&[point(0, 0.0, 1.0, 3.7)], None) - 5.0).abs() < 1e-9);
        assert!((axis_top(&[point(0, 0.0, 1.0, 120.0)], None) - 200.0).abs() < 1e-9);
        assert!((axis_top(&[], None) - 1.0).abs() < 1e-9);
        assert!((axis_top(&[point(0, 0.0, 1.0, 3.7)], Some(100.0)) - 100.0).abs() < 1e-9);

        let since = point(0, 0.0, 0.0, 0.0).at;
        let until = point(10, 0.0, 0.0, 0.0).at;
        let points = [
            point(10, 40.0, 50.0, 60.0),
            point(0, 0.0, 0.0, 100.0),
            point(20, 1.0, 1.0, 1.0),
        ];
        let p = plot(&points, since, until, 100.0);
        assert_eq!(
            p.line, "0.0,140.0 600.0,70.0",
            "in time order; the point after `until` is left out"
        );
        assert_eq!(p.band, "0.0,0.0 600.0,56.0 600.0,84.0 0.0,140.0");
        assert_eq!(p.last, Some((600.0, 70.0)), "the latest point is marked");
    }
}
