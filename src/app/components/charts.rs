//! A panel of the standard metric charts over a period the user picks
//! (15 min, 1 h, 24 h, 7 d): the stored history of the period, extended by
//! what the live stream brings while a short period is shown. The node page
//! shows one node's samples; the cluster page its nodes' samples combined.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use leptos::prelude::*;
use muster_domain::MetricPoint;
use muster_domain::protocol::HostMetrics;

use crate::api::AppError;
use crate::app::components::chart::MetricChart;
use crate::app::components::feedback::LoadError;

/// The charts: metric name, title, unit, fixed axis top.
pub const CHARTS: [(&str, &str, &str, Option<f64>); 6] = [
    ("cpu_usage_percent", "CPU", " %", Some(100.0)),
    ("memory_usage_percent", "Memory", " %", Some(100.0)),
    ("disk_usage_percent", "Disk", " %", Some(100.0)),
    ("load_average", "Load average", "", None),
    ("network_rx_mbps", "Network in", " Mb/s", None),
    ("network_tx_mbps", "Network out", " Mb/s", None),
];

/// The charts' metric names, in order.
#[must_use]
pub fn chart_names() -> Vec<String> {
    CHARTS.iter().map(|(name, ..)| (*name).to_owned()).collect()
}

/// The value of the chart metric `name` in a heartbeat's sample.
#[must_use]
pub fn metric_value(m: &HostMetrics, name: &str) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    let v = match name {
        "cpu_usage_percent" => m.cpu_usage_percent,
        "memory_usage_percent" => m.memory_usage_percent,
        "disk_usage_percent" => m.disk_usage_percent,
        "load_average" => m.load_average,
        "network_rx_mbps" => m.network_rx_mbps,
        "network_tx_mbps" => m.network_tx_mbps,
        "process_count" => m.process_count as f64,
        _ => return None,
    };
    Some(v)
}

/// The periods a chart can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Minutes15,
    Hour,
    Day,
    Week,
}

impl Period {
    pub const ALL: [Self; 4] = [Self::Minutes15, Self::Hour, Self::Day, Self::Week];

    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Minutes15 => "15 min",
            Self::Hour => "1 h",
            Self::Day => "24 h",
            Self::Week => "7 d",
        }
    }

    #[must_use]
    pub fn span(self) -> Duration {
        match self {
            Self::Minutes15 => Duration::minutes(15),
            Self::Hour => Duration::hours(1),
            Self::Day => Duration::hours(24),
            Self::Week => Duration::days(7),
        }
    }

    /// Whether live samples are added to the chart.
    #[must_use]
    pub fn live(self) -> bool {
        matches!(self, Self::Minutes15 | Self::Hour)
    }
}

/// The stored series of every chart, in the order of [`CHARTS`].
pub type History = Resource<Result<Vec<Vec<MetricPoint>>, AppError>>;

/// The charts' period, its window and the stored series for that window.
///
/// Make it where the page makes its other resources, outside any view that
/// waits: the server renders such views more than once, and a resource made
/// in one would be made again there while the browser makes it once.
#[derive(Clone, Copy)]
pub struct ChartSource {
    pub period: RwSignal<Period>,
    pub window: Memo<(DateTime<Utc>, DateTime<Utc>)>,
    pub history: History,
}

impl ChartSource {
    /// `load` reads every chart's series of the subject `key` names for a window.
    pub fn new<L, F>(key: impl Fn() -> String + Send + Sync + 'static, load: L) -> Self
    where
        L: Fn(String, DateTime<Utc>, DateTime<Utc>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Vec<Vec<MetricPoint>>, AppError>> + Send + 'static,
    {
        let period = RwSignal::new(Period::Hour);
        // The window is fixed when the period is picked; live points move its end.
        let window = Memo::new(move |_| {
            let until = crate::app::now();
            (until - period.get().span(), until)
        });
        let history = Resource::new(
            move || (key(), window.get()),
            move |(key, (since, until))| load(key, since, until),
        );
        Self {
            period,
            window,
            history,
        }
    }
}

/// What the live stream adds to the stored series: for a chart's metric
/// name and the time of its last stored point, the points that come after.
pub type LivePoints = Callback<(&'static str, Option<DateTime<Utc>>), Vec<MetricPoint>>;

/// The period buttons and one chart per metric.
#[component]
pub fn ChartsPanel(
    source: ChartSource,
    /// Points the live stream brought, added while a short period is shown.
    live: LivePoints,
    /// When the newest live sample was taken: the short charts end there.
    latest: Signal<Option<DateTime<Utc>>>,
    heading: &'static str,
    /// How to read the charts, under the heading.
    #[prop(optional)]
    hint: Option<&'static str>,
) -> impl IntoView {
    let ChartSource {
        period,
        window,
        history,
    } = source;
    let until = Signal::derive(move || {
        let (_, until) = window.get();
        match latest.get() {
            Some(at) if period.get().live() => until.max(at),
            _ => until,
        }
    });
    let since = Signal::derive(move || until.get() - period.get().span());
    view! {
        <section class="panel" id="metrics" aria-labelledby="charts-heading">
            <div class="panel-head">
                <h2 id="charts-heading">{heading}</h2>
                <div class="segmented" role="group" aria-label="Period">
                    {Period::ALL
                        .into_iter()
                        .map(|p| {
                            view! {
                                <button
                                    type="button"
                                    aria-pressed=move || (period.get() == p).to_string()
                                    on:click=move |_| period.set(p)
                                >
                                    {p.label()}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
            </div>
            {hint.map(|h| view! { <p class="hint">{h}</p> })}
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading metrics…"</p> }>
                {move || {
                    history
                        .get()
                        .map(|result| match result {
                            Ok(series) => {
                                view! {
                                    <div class="charts">
                                        {CHARTS
                                            .into_iter()
                                            .zip(series)
                                            .map(|((name, title, unit, fixed_top), stored)| {
                                                let points = Signal::derive(move || {
                                                    let mut all = stored.clone();
                                                    if period.get().live() {
                                                        let last = all.last().map(|p| p.at);
                                                        all.extend(live.run((name, last)));
                                                    }
                                                    all
                                                });
                                                view! { <MetricChart title unit fixed_top points since until /> }
                                            })
                                            .collect_view()}
                                    </div>
                                }
                                    .into_any()
                            }
                            Err(error) => {
                                view! { <LoadError what="The metrics" error retry=move || history.refetch() /> }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </section>
    }
}
