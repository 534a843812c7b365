//! Light and dark themes: the system's choice by default, or the user's, kept in
//! `localStorage` and applied as `data-theme` on the root element.

use leptos::prelude::*;

/// Runs in `<head>` before the body is painted.
pub const THEME_BOOT_SCRIPT: &str = "try{var t=localStorage.getItem('muster-theme');\
if(t==='light'||t==='dark'){document.documentElement.dataset.theme=t}}catch(e){}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    System,
    Light,
    Dark,
}

impl Theme {
    fn next(self) -> Self {
        match self {
            Self::System => Self::Light,
            Self::Light => Self::Dark,
            Self::Dark => Self::System,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::System => "System",
            Self::Light => "Light",
            Self::Dark => "Dark",
        }
    }

    #[cfg(feature = "hydrate")]
    fn stored(self) -> Option<&'static str> {
        match self {
            Self::System => None,
            Self::Light => Some("light"),
            Self::Dark => Some("dark"),
        }
    }
}

/// A button that cycles System → Light → Dark.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let theme = RwSignal::new(Theme::System);
    // After hydration, adopt what the boot script applied, then keep the page and
    // the saved choice in step with the signal.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        theme.set(browser::saved());
    });
    let toggle = move |_| {
        let next = theme.get_untracked().next();
        theme.set(next);
        #[cfg(feature = "hydrate")]
        browser::apply(next.stored());
    };
    view! {
        <button
            type="button"
            class="theme-toggle"
            on:click=toggle
            aria-label=move || format!("Colour theme: {}. Change theme", theme.get().label())
            title="Change colour theme"
        >
            <span aria-hidden="true">
                {move || match theme.get() {
                    Theme::System => "◐",
                    Theme::Light => "☀",
                    Theme::Dark => "☾",
                }}
            </span>
            " "
            {move || theme.get().label()}
        </button>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::Theme;

    /// The key the boot script reads too.
    const STORAGE_KEY: &str = "muster-theme";

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    pub fn saved() -> Theme {
        match storage()
            .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
            .as_deref()
        {
            Some("light") => Theme::Light,
            Some("dark") => Theme::Dark,
            _ => Theme::System,
        }
    }

    pub fn apply(value: Option<&str>) {
        let root = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element());
        if let Some(root) = root {
            let _ = match value {
                Some(v) => root.set_attribute("data-theme", v),
                None => root.remove_attribute("data-theme"),
            };
        }
        if let Some(storage) = storage() {
            let _ = match value {
                Some(v) => storage.set_item(STORAGE_KEY, v),
                None => storage.remove_item(STORAGE_KEY),
            };
        }
    }
}
