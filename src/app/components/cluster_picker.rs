//! A drop-down of the clusters the user may see (their first thousand, by
//! name), for pages that narrow what they show to one cluster.

use leptos::prelude::*;
use muster_domain::ClusterId;

use crate::api::clusters::{ClusterName, cluster_names};

/// The names a [`ClusterPicker`] offers. The page makes it where it makes
/// its other resources, outside any view that waits: the server renders such
/// a view more than once, and a resource made in it each time would leave the
/// browser reading another rendering's value.
pub type ClusterNames = Resource<Result<Vec<ClusterName>, crate::api::AppError>>;

/// Loads the names for a [`ClusterPicker`].
#[must_use]
pub fn cluster_names_resource() -> ClusterNames {
    Resource::new(|| (), |()| cluster_names())
}

/// `current` is the chosen cluster; `pick` gets the new choice (`None` for
/// `none_label`, the first option).
#[component]
pub fn ClusterPicker(
    clusters: ClusterNames,
    current: Signal<Option<ClusterId>>,
    pick: Callback<Option<ClusterId>>,
    none_label: &'static str,
) -> impl IntoView {
    view! {
        <label class="field">
            "Cluster"
            <Transition fallback=|| view! { <select disabled=true><option>"Loading…"</option></select> }>
                {move || {
                    clusters
                        .get()
                        .map(|r| {
                            let list = r.unwrap_or_default();
                            view! {
                                <select
                                    prop:value=move || current.get().as_ref().map(ToString::to_string).unwrap_or_default()
                                    on:change=move |ev| pick.run(event_target_value(&ev).parse().ok())
                                >
                                    <option value="">{none_label}</option>
                                    {list
                                        .into_iter()
                                        .map(|c| view! { <option value=c.id.to_string()>{c.name}</option> })
                                        .collect_view()}
                                </select>
                            }
                        })
                }}
            </Transition>
        </label>
    }
}
