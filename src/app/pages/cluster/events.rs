//! The cluster's latest events: the newest from the audit log when the page
//! opened, then each new one as the stream delivers it.

use leptos::prelude::*;
use muster_domain::Event;

use super::RECENT_EVENTS;

/// The newest events of both lists, newest first, each once.
fn merged(live: &[Event], loaded: &[Event]) -> Vec<Event> {
    let mut all: Vec<Event> = live.iter().chain(loaded).cloned().collect();
    all.sort_by_key(|e| std::cmp::Reverse(e.id));
    all.dedup_by_key(|e| e.id);
    all.truncate(RECENT_EVENTS);
    all
}

#[component]
pub fn EventsPanel(
    /// The full log of this cluster.
    href: String,
    loaded: Vec<Event>,
    live: RwSignal<Vec<Event>>,
) -> impl IntoView {
    let list = Memo::new(move |_| live.with(|l| merged(l, &loaded)));
    view! {
        <section id="events" class="panel" aria-labelledby="events-heading">
            <div class="panel-head">
                <h2 id="events-heading">"Events"</h2>
                <a href=href>"All events of this cluster"</a>
            </div>
            <EventList list label="Recent events" empty="Nothing has happened yet." detailed=true />
        </section>
    }
}

/// Events, newest first: each one's time and message, with its type and
/// actor when `detailed`; `empty` says why there is none.
#[component]
pub fn EventList(
    #[prop(into)] list: Signal<Vec<Event>>,
    label: &'static str,
    empty: &'static str,
    detailed: bool,
) -> impl IntoView {
    view! {
        <Show
            when=move || !list.read().is_empty()
            fallback=move || view! { <p class="empty">{empty}</p> }
        >
            <ol class="event-list" aria-label=label>
                <For
                    each=move || list.get()
                    key=|e| e.id
                    children=move |e: Event| {
                        view! {
                            <li class=format!("event severity-{}", e.severity.as_str())>
                                <time datetime=e.created_at.to_rfc3339()>
                                    {e.created_at.format("%Y-%m-%d %H:%M:%S").to_string()}
                                </time>
                                " "
                                {detailed.then(|| view! { <span class="event-type">{e.event_type}</span> " " })}
                                <span>{e.message}</span>
                                {detailed.then(|| view! { " " <span class="actor">{e.actor}</span> })}
                            </li>
                        }
                    }
                />
            </ol>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64) -> Event {
        Event {
            id,
            cluster_id: None,
            node_id: None,
            event_type: "node_added".into(),
            category: muster_domain::EventCategory::Lifecycle,
            severity: muster_domain::Severity::Info,
            message: format!("event {id}"),
            details: serde_json::Value::Null,
            actor: "system".into(),
            created_at: chrono::DateTime::from_timestamp(1_800_000_000 + id, 0).expect("a time"),
        }
    }

    #[test]
    fn live_and_loaded_events_merge_newest_first_without_repeats() {
        let live = vec![event(12), event(11)];
        let loaded: Vec<Event> = (1..=11).rev().map(event).collect();
        let ids: Vec<i64> = merged(&live, &loaded).iter().map(|e| e.id).collect();
        assert_eq!(ids, (1..=12).rev().collect::<Vec<_>>());
        let many: Vec<Event> = (1..=40).map(event).collect();
        assert_eq!(merged(&[], &many).len(), RECENT_EVENTS);
        assert_eq!(merged(&[], &many)[0].id, 40);
    }
}
