//! The pager of a keyset listing (events, operations, processes): back to the
//! first page from a later one, and on to the next page while there is one.

use leptos::prelude::*;

/// `to` gets the cursor to show: `None` for the first page.
#[component]
pub fn KeysetPager(
    /// Whether this is a page after the first.
    later: bool,
    next: Option<String>,
    first_label: &'static str,
    next_label: &'static str,
    to: Callback<Option<String>>,
) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            {later.then(|| view! {
                <button type="button" on:click=move |_| to.run(None)>{first_label}</button>
            })}
            {next.map(|cursor| view! {
                <button type="button" on:click=move |_| to.run(Some(cursor.clone()))>{next_label}</button>
            })}
        </nav>
    }
}
