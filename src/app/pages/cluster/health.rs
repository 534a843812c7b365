//! The health score with its breakdown (how many nodes count at which
//! weight) and the recommendations, each linked to the nodes it concerns.

use leptos::prelude::*;
use muster_domain::health::HealthBreakdown;
use muster_domain::recommendations::Recommendation;

use super::{ClusterState, NodeLink};

/// The breakdown's parts: label, class, count.
fn parts(b: &HealthBreakdown) -> [(&'static str, &'static str, u32); 5] {
    [
        ("healthy", "healthy", b.healthy),
        ("warning", "warning", b.warning),
        ("unknown", "unknown", b.unknown),
        ("critical", "critical", b.critical),
        ("down", "down", b.down),
    ]
}

#[component]
pub fn HealthPanel(state: ClusterState) -> impl IntoView {
    let breakdown = Memo::new(move |_| state.health.with(|h| h.breakdown));
    view! {
        <section id="health" class="panel" aria-labelledby="health-heading">
            <h2 id="health-heading">"Health"</h2>
            <p class="score-line">
                <span class="score" data-testid="health-score">
                    {move || format!("{:.2}", breakdown.get().score)}
                </span>
                {move || {
                    let b = breakdown.get();
                    format!(
                        " from {} counted node{} ({} excluded: maintenance or decommissioned)",
                        b.counted,
                        if b.counted == 1 { "" } else { "s" },
                        b.excluded
                    )
                }}
            </p>
            <div class="breakdown-bar" aria-hidden="true">
                {move || {
                    let b = breakdown.get();
                    parts(&b)
                        .into_iter()
                        .filter(|(_, _, n)| *n > 0)
                        .map(|(_, class, n)| {
                            let grow = format!("flex-grow: {n}");
                            view! { <span class=format!("segment health-{class}") style=grow></span> }
                        })
                        .collect_view()
                }}
            </div>
            <dl class="breakdown" aria-label="Counted nodes by health">
                {move || {
                    let b = breakdown.get();
                    parts(&b)
                        .into_iter()
                        .map(|(label, class, n)| {
                            view! {
                                <div class=format!("part health-{class}")>
                                    <dt>{label}</dt>
                                    <dd data-testid=format!("breakdown-{class}")>{n}</dd>
                                </div>
                            }
                        })
                        .collect_view()
                }}
            </dl>
            <h3>"Recommendations"</h3>
            <Recommendations state />
        </section>
    }
}

#[component]
fn Recommendations(state: ClusterState) -> impl IntoView {
    let list = Memo::new(move |_| state.health.with(|h| h.recommendations.clone()));
    view! {
        <Show
            when=move || !list.read().is_empty()
            fallback=|| view! { <p class="empty" data-testid="no-recommendations">"Nothing to do: every check passes."</p> }
        >
            <ul class="recommendations" aria-label="Recommendations">
                <For
                    each=move || list.get()
                    key=|r: &Recommendation| (r.kind, r.message.clone())
                    children=move |r: Recommendation| {
                        let nodes = r.node_ids.clone();
                        view! {
                            <li class=format!("recommendation severity-{}", r.severity.as_str())>
                                <span class=format!("badge severity-{}", r.severity.as_str())>
                                    {r.severity.as_str()}
                                </span>
                                " "
                                <span class="message">{r.message.clone()}</span>
                                {(!nodes.is_empty()).then(|| {
                                    view! {
                                        <span class="concerns">
                                            " — "
                                            {nodes
                                                .into_iter()
                                                .map(|id| view! { <NodeLink state id /> " " })
                                                .collect_view()}
                                        </span>
                                    }
                                })}
                            </li>
                        }
                    }
                />
            </ul>
        </Show>
    }
}
