//! Who is signed in, asked once per navigation and shared by the header and
//! the pages (which hide what the user may not do; the server refuses it anyway).

use leptos::prelude::*;
use leptos_router::hooks::use_location;
use muster_domain::users::{Role, User};

use crate::api::AppError;
use crate::api::auth::current_user;

#[derive(Clone, Copy)]
pub struct SessionUser(pub Resource<Result<Option<User>, AppError>>);

impl SessionUser {
    /// The signed-in user, once known (read it inside a `Transition`).
    #[must_use]
    pub fn get(&self) -> Option<User> {
        self.0.get().and_then(Result::ok).flatten()
    }

    /// Whether the signed-in user's role includes `role`.
    #[must_use]
    pub fn allows(&self, role: Role) -> bool {
        self.get().is_some_and(|u| u.role.allows(role))
    }
}

/// Provides [`SessionUser`]; call inside the router.
pub fn provide_session_user() {
    // Asked again on each navigation, so signing in or out shows at once.
    let path = use_location().pathname;
    let user = Resource::new(move || path.get(), |_| current_user());
    provide_context(SessionUser(user));
}

/// # Panics
/// Outside the app (a wiring mistake).
#[must_use]
pub fn use_session_user() -> SessionUser {
    use_context::<SessionUser>().expect("SessionUser is provided by the app")
}
