//! The Leptos application: the HTML shell, the router and the pages.

pub mod components;
pub mod live;
pub mod pages;
pub mod session;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
#[cfg(not(debug_assertions))]
use leptos_router::{Lazy, LazyRoute, lazy_route};
use leptos_router::{ParamSegment, StaticSegment};

use components::theme::{THEME_BOOT_SCRIPT, ThemeToggle};
use components::user_menu::UserMenu;
use muster_domain::users::Role;
use pages::admin::{TemplatesPage, TenantsPage, TokensPage, UsersPage};
use pages::cluster::ClusterPage;
use pages::clusters::ClustersPage;
use pages::events::EventsPage;
use pages::login::LoginPage;
use pages::node::NodePage;
use pages::operations::OperationsPage;
use pages::overview::OverviewPage;
use pages::processes::ProcessesPage;
use pages::simulation::SimulationPage;

/// The current time: the server's clock while rendering, the page's in the
/// browser (chrono reads no clock there).
#[must_use]
pub fn now() -> chrono::DateTime<chrono::Utc> {
    #[cfg(feature = "hydrate")]
    {
        #[allow(clippy::cast_possible_truncation)]
        let millis = js_sys::Date::now() as i64;
        chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        chrono::Utc::now()
    }
}

/// This server's address as the browser reached it, for the commands the
/// pages suggest (`URL` while rendering on the server).
#[must_use]
pub fn server_url() -> String {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_else(|| "URL".to_owned())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        "URL".to_owned()
    }
}

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                // Applies a saved theme before first paint, so the page never flashes.
                <script inner_html=THEME_BOOT_SCRIPT></script>
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, after hydration: the attribute tells tests
    // (and curious users) that the WASM is live.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Stylesheet id="leptos" href="/pkg/muster.css" />
        <Title text="Muster" />
        <Router>
            <div class="app" data-hydrated=move || hydrated.get().to_string()>
                <Frame />
            </div>
        </Router>
    }
}

/// The header and the routed page, inside the router.
#[component]
fn Frame() -> impl IntoView {
    session::provide_session_user();
    let user = session::use_session_user();
    live::provide_live(move || user.get().is_some());
    // The Simulation page exists for admins in demo mode only. Demo mode
    // does not change while the server runs: asked once, not per navigation.
    let demo = Resource::new(
        || (),
        |()| async { crate::api::simulation::demo_mode().await.unwrap_or(false) },
    );
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                " Muster"
            </A>
            <nav aria-label="Main">
                <A href="/">"Overview"</A>
                <A href="/clusters">"Clusters"</A>
                <A href="/processes">"Processes"</A>
                <A href="/events">"Events"</A>
                <A href="/operations">"Operations"</A>
                <Transition fallback=|| ()>
                    {move || {
                        user.allows(Role::Admin)
                            .then(|| {
                                view! {
                                    <A href="/admin/users">"Users"</A>
                                    <A href="/admin/tenants">"Tenants"</A>
                                    <A href="/admin/templates">"Templates"</A>
                                }
                            })
                    }}
                    {move || {
                        (user.allows(Role::Admin) && demo.get().unwrap_or(false))
                            .then(|| view! { <A href="/simulation">"Simulation"</A> })
                    }}
                </Transition>
            </nav>
            <Transition fallback=|| ()>
                {move || user.get().map(|_| view! { <live::LiveIndicator /> })}
            </Transition>
            <UserMenu />
            <ThemeToggle />
        </header>
        <main id="main">
            <Routes fallback=|| view! { <NotFound /> }>
                <Route path=StaticSegment("") view=OverviewPage />
                <Route path=StaticSegment("login") view=LoginPage />
                <Route path=StaticSegment("clusters") view=ClustersRoute() />
                <Route path=(StaticSegment("clusters"), ParamSegment("id")) view=ClusterRoute() />
                <Route path=(StaticSegment("nodes"), ParamSegment("id")) view=NodeRoute() />
                <Route path=StaticSegment("processes") view=ProcessesRoute() />
                <Route path=StaticSegment("events") view=EventsRoute() />
                <Route path=StaticSegment("operations") view=OperationsRoute() />
                <Route path=StaticSegment("simulation") view=SimulationRoute() />
                <Route path=(StaticSegment("admin"), StaticSegment("users")) view=UsersRoute() />
                <Route path=(StaticSegment("admin"), StaticSegment("tenants")) view=TenantsRoute() />
                <Route path=(StaticSegment("admin"), StaticSegment("templates")) view=TemplatesRoute() />
                <Route path=(StaticSegment("admin"), StaticSegment("tokens")) view=TokensRoute() />
            </Routes>
        </main>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="empty">
            <h1>"Page not found"</h1>
            <p>
                "There is nothing at this address. "
                <A href="/">"Back to the overview"</A>
            </p>
        </section>
    }
}

/// Routes to pages whose code the browser loads when a page is first shown:
/// in a release build (`cargo leptos build --release --split`) each is a WASM
/// module of its own. Debug builds, which are not split (cargo-leptos'
/// splitting breaks their WASM), route to the pages directly.
macro_rules! lazy_pages {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        // Braced, so the type leaves the value's name to the function below.
        #[cfg(not(debug_assertions))]
        struct $route {}

        #[cfg(not(debug_assertions))]
        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self {}
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> }.into_any()
            }
        }

        #[cfg(not(debug_assertions))]
        #[allow(non_snake_case)]
        fn $route() -> Lazy<$route> {
            Lazy::new()
        }

        #[cfg(debug_assertions)]
        #[allow(non_snake_case)]
        fn $route() -> impl Fn() -> AnyView + Clone + Send + 'static {
            || view! { <$page /> }.into_any()
        }
    )*};
}

// The overview stays in the main module with sign-in: it is where signing in
// leads, so its code is fetched with the rest of the first page's instead of
// as modules of its own (and what it shares with other pages is not split
// into chunks the browser fetches one by one).
lazy_pages! {
    ClustersRoute => ClustersPage,
    ClusterRoute => ClusterPage,
    NodeRoute => NodePage,
    ProcessesRoute => ProcessesPage,
    EventsRoute => EventsPage,
    OperationsRoute => OperationsPage,
    SimulationRoute => SimulationPage,
    UsersRoute => UsersPage,
    TenantsRoute => TenantsPage,
    TemplatesRoute => TemplatesPage,
    TokensRoute => TokensPage,
}
