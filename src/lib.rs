//! Muster's web application: the Leptos app rendered on the server and hydrated in
//! the browser, its server functions, and (with the `ssr` feature) the server.

// Components return views that the framework always uses; marking each one
// `#[must_use]` would add noise, not safety.
#![allow(clippy::must_use_candidate)]

pub mod api;
pub mod app;
#[cfg(feature = "ssr")]
pub mod server;

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[allow(unsafe_code)] // the wasm_bindgen attribute expands to an exported extern fn
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
