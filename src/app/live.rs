//! The tab's one live connection (`/api/v1/live`). Pages register a handler
//! for the messages and say what they follow; the connection reconnects
//! after a loss with exponential backoff and full jitter, starting again
//! from the snapshot the server sends, and its state is shown in the header
//! so that data shown while it is down can be marked stale.

#[cfg(feature = "hydrate")]
use std::rc::Rc;

use leptos::prelude::*;
use muster_domain::live::{LiveMessage, Subscription};

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Opening, before the first snapshot.
    Connecting,
    /// Open and current.
    Live,
    /// Lost; the next attempt is due in this many seconds.
    Reconnecting { in_s: u32 },
    /// The session ended: nothing more will come until the user signs in.
    SignedOut,
}

impl LinkState {
    #[must_use]
    pub fn label(self) -> String {
        match self {
            Self::Connecting => "Connecting…".into(),
            Self::Live => "Live".into(),
            Self::Reconnecting { in_s: 0 } => "Reconnecting…".into(),
            Self::Reconnecting { in_s } => format!("Offline · retrying in {in_s} s"),
            Self::SignedOut => "Signed out".into(),
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Reconnecting { .. } => "reconnecting",
            Self::SignedOut => "signed-out",
        }
    }
}

#[cfg(feature = "hydrate")]
type Handler = Rc<dyn Fn(&LiveMessage)>;

/// The live connection, provided to every page.
#[derive(Clone, Copy)]
pub struct Live {
    pub state: RwSignal<LinkState>,
    /// When the shown data was last known current (the last message), as
    /// the server's clock wrote it in the latest snapshot or the browser's.
    pub as_of: RwSignal<Option<chrono::DateTime<chrono::Utc>>>,
    following: StoredValue<Subscription>,
    // The browser's side only: server rendering runs on many threads and
    // never connects.
    #[cfg(feature = "hydrate")]
    handlers: StoredValue<Vec<(u64, Handler)>, LocalStorage>,
    #[cfg(feature = "hydrate")]
    next_handler: StoredValue<u64, LocalStorage>,
    #[cfg(feature = "hydrate")]
    link: StoredValue<link::Link, LocalStorage>,
}

impl Live {
    fn new() -> Self {
        Self {
            state: RwSignal::new(LinkState::Connecting),
            as_of: RwSignal::new(None),
            following: StoredValue::new(Subscription::All),
            #[cfg(feature = "hydrate")]
            handlers: StoredValue::new_local(Vec::new()),
            #[cfg(feature = "hydrate")]
            next_handler: StoredValue::new_local(0),
            #[cfg(feature = "hydrate")]
            link: StoredValue::new_local(link::Link::default()),
        }
    }

    /// Whether what the page shows may be out of date: the connection was
    /// lost (not while it first opens: the page was just rendered).
    #[must_use]
    pub fn is_stale(&self) -> bool {
        matches!(
            self.state.get(),
            LinkState::Reconnecting { .. } | LinkState::SignedOut
        )
    }

    /// Calls `handler` with every message while the calling component lives
    /// (in the browser; the server sends no messages while it renders).
    #[cfg_attr(not(feature = "hydrate"), allow(clippy::unused_self))]
    pub fn on_message(&self, handler: impl Fn(&LiveMessage) + 'static) {
        #[cfg(not(feature = "hydrate"))]
        drop(handler);
        #[cfg(feature = "hydrate")]
        self.register(handler);
    }

    #[cfg(feature = "hydrate")]
    fn register(&self, handler: impl Fn(&LiveMessage) + 'static) {
        let id = self.next_handler.get_value();
        self.next_handler.set_value(id + 1);
        let handler: Handler = Rc::new(handler);
        self.handlers.update_value(|h| h.push((id, handler)));
        let handlers = self.handlers;
        on_cleanup(move || {
            handlers.try_update_value(|h| h.retain(|(i, _)| *i != id));
        });
    }

    /// Follows `subscription` while the calling component lives, then
    /// everything again.
    pub fn follow(&self, subscription: Subscription) {
        self.set_following(subscription);
        let live = *self;
        on_cleanup(move || live.set_following(Subscription::All));
    }

    fn set_following(&self, subscription: Subscription) {
        if self.following.try_get_value().as_ref() == Some(&subscription) {
            return;
        }
        self.following.try_set_value(subscription);
        #[cfg(feature = "hydrate")]
        link::send_following(*self);
    }

    #[cfg(feature = "hydrate")]
    fn dispatch(&self, message: &LiveMessage) {
        let handlers: Vec<Handler> = self
            .handlers
            .with_value(|h| h.iter().map(|(_, f)| f.clone()).collect());
        for handler in handlers {
            handler(message);
        }
    }
}

/// Provides the tab's [`Live`] connection, open while someone is signed in.
pub fn provide_live(signed_in: impl Fn() -> bool + Send + Sync + 'static) {
    let live = Live::new();
    provide_context(live);
    // Effects run only in the browser.
    Effect::new(move |_| {
        if signed_in() {
            #[cfg(feature = "hydrate")]
            link::start(live);
        } else {
            #[cfg(feature = "hydrate")]
            link::stop(live);
        }
    });
}

/// # Panics
/// Outside the app (a wiring mistake).
#[must_use]
pub fn use_live() -> Live {
    use_context::<Live>().expect("Live is provided by the app")
}

/// The connection's state, for the header.
#[component]
pub fn LiveIndicator() -> impl IntoView {
    let live = use_live();
    view! {
        <span
            class="live-indicator"
            data-state=move || live.state.get().slug()
            role="status"
            aria-live="polite"
            title="Live updates"
        >
            <span class="live-dot" aria-hidden="true"></span>
            {move || live.state.get().label()}
        </span>
    }
}

/// A notice over data that may be out of date, shown while the connection is
/// down.
#[component]
pub fn StaleNotice() -> impl IntoView {
    let live = use_live();
    move || {
        live.is_stale().then(|| {
            let since = live
                .as_of
                .get()
                .map_or_else(String::new, |t| format!(" as of {} UTC", t.format("%H:%M:%S")));
            view! {
                <p class="stale-notice" role="status">
                    {format!("Live updates are paused: showing data{since}, which may be out of date.")}
                </p>
            }
        })
    }
}

#[cfg(feature = "hydrate")]
mod link {
    //! The WebSocket itself (browser only).

    use wasm_bindgen::JsCast as _;
    use wasm_bindgen::closure::Closure;
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    use super::{LinkState, Live, LiveMessage, Subscription};
    use leptos::prelude::*;
    use muster_domain::live::{LiveRequest, close};

    /// First retry delay's ceiling, and the largest.
    const BASE_MS: f64 = 500.0;
    const CAP_MS: f64 = 30_000.0;

    #[derive(Default)]
    pub struct Link {
        socket: Option<WebSocket>,
        /// Failed attempts since the last snapshot.
        attempt: u32,
        running: bool,
        /// Bumped on every start and stop, so a stale timer does nothing.
        generation: u64,
    }

    fn url(following: &Subscription) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        let query = match following {
            Subscription::All => String::new(),
            Subscription::Cluster { cluster_id } => format!("?cluster_id={cluster_id}"),
            Subscription::Node { node_id } => format!("?node_id={node_id}"),
        };
        Some(format!(
            "{scheme}://{}/api/v1/live{query}",
            location.host().ok()?
        ))
    }

    pub fn start(live: Live) {
        let started = live.link.try_update_value(|l| {
            if l.running {
                return false;
            }
            l.running = true;
            l.attempt = 0;
            l.generation += 1;
            true
        });
        if started == Some(true) {
            connect(live);
        }
    }

    pub fn stop(live: Live) {
        let socket = live.link.try_update_value(|l| {
            l.running = false;
            l.generation += 1;
            l.socket.take()
        });
        if let Some(Some(socket)) = socket {
            let _ = socket.close();
        }
    }

    /// Tells the server what the page follows now, if the socket is open;
    /// otherwise the next connection asks for it.
    pub fn send_following(live: Live) {
        let Some(following) = live.following.try_get_value() else {
            return;
        };
        let socket = live.link.try_with_value(|l| l.socket.clone()).flatten();
        if let Some(socket) = socket.filter(|s| s.ready_state() == WebSocket::OPEN) {
            let request = LiveRequest::Subscribe {
                subscription: following,
            };
            if let Ok(text) = serde_json::to_string(&request) {
                let _ = socket.send_with_str(&text);
            }
        }
    }

    fn connect(live: Live) {
        let Some(following) = live.following.try_get_value() else {
            return;
        };
        let Some(url) = url(&following) else { return };
        let Ok(socket) = WebSocket::new(&url) else {
            retry(live);
            return;
        };
        // A reconnection stays "reconnecting" (and the data stale) until
        // the snapshot arrives.
        if live.state.get_untracked() != LinkState::Live {
            live.state.set(match live.state.get_untracked() {
                LinkState::Reconnecting { .. } => LinkState::Reconnecting { in_s: 0 },
                _ => LinkState::Connecting,
            });
        }
        let generation = live.link.with_value(|l| l.generation);

        let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |e: MessageEvent| {
            let Some(text) = e.data().as_string() else {
                return;
            };
            let Ok(message) = serde_json::from_str::<LiveMessage>(&text) else {
                return;
            };
            if let LiveMessage::Resync {
                subscription,
                snapshot,
                ..
            } = &message
            {
                live.link.update_value(|l| l.attempt = 0);
                live.state.set(LinkState::Live);
                live.as_of.set(Some(snapshot.taken_at));
                // The page moved on while this was on its way.
                if live.following.try_get_value().as_ref() != Some(subscription) {
                    send_following(live);
                }
            } else {
                live.as_of.set(Some(crate::app::now()));
            }
            live.dispatch(&message);
        });
        let on_close = Closure::<dyn Fn(CloseEvent)>::new(move |e: CloseEvent| {
            let current = live
                .link
                .try_with_value(|l| l.running && l.generation == generation);
            if current != Some(true) {
                return;
            }
            live.link.update_value(|l| l.socket = None);
            match e.code() {
                close::SIGNED_OUT => {
                    live.link.update_value(|l| l.running = false);
                    live.state.set(LinkState::SignedOut);
                }
                close::NOT_VISIBLE => {
                    // What the page followed went away: follow everything.
                    live.following.set_value(Subscription::All);
                    retry(live);
                }
                _ => retry(live),
            }
        });
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The socket holds them for as long as it lives.
        on_message.forget();
        on_close.forget();
        live.link.update_value(|l| l.socket = Some(socket));
    }

    /// Connects again after a random delay below an exponentially growing
    /// ceiling (full jitter), counting down in the header.
    fn retry(live: Live) {
        let Some((attempt, generation)) = live.link.try_update_value(|l| {
            l.attempt = l.attempt.saturating_add(1);
            (l.attempt, l.generation)
        }) else {
            return;
        };
        let ceiling =
            (BASE_MS * 2f64.powi(i32::try_from(attempt.min(16)).unwrap_or(16))).min(CAP_MS);
        let delay_ms = js_sys::Math::random() * ceiling;
        countdown(live, generation, delay_ms);
    }

    /// Shows the seconds left, then connects.
    fn countdown(live: Live, generation: u64, left_ms: f64) {
        let current = live
            .link
            .try_with_value(|l| l.running && l.generation == generation);
        if current != Some(true) {
            return;
        }
        if left_ms <= 0.0 {
            connect(live);
            return;
        }
        // Whole seconds, rounded up, for the label.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let in_s = (left_ms / 1000.0).ceil() as u32;
        live.state.set(LinkState::Reconnecting { in_s });
        let step = left_ms.min(1000.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let wait = std::time::Duration::from_millis(step.ceil() as u64);
        set_timeout(move || countdown(live, generation, left_ms - step), wait);
    }
}
