//! People who sign in: their names, roles and tenant scope (DESIGN.md §5).
//!
//! Decisions where the design is open:
//! * Usernames are 1–64 characters of `a-z 0-9 . _ -`, starting with a letter or
//!   digit, and compared in lower case (`Admin` and `admin` are one user).
//! * Passwords are 12–1024 characters; length is the rule that matters, so
//!   there are no composition rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::errors::FieldErrors;
pub use crate::operations::Role;

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A user as every layer sees it; the password hash stays in the store.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    /// Tenant ids; empty means unscoped (sees every cluster).
    pub tenants: Vec<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl User {
    /// Whether the user sees every cluster rather than only their tenants'.
    #[must_use]
    pub fn is_unscoped(&self) -> bool {
        self.tenants.is_empty()
    }
}

/// An API token as its owner sees it; the secret is shown once, at creation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The canonical form of a username, or why it is not one.
///
/// # Errors
/// A `username` message.
pub fn normalize_username(raw: &str) -> Result<String, FieldErrors> {
    let name = raw.trim().to_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(name)
    } else {
        Err(FieldErrors::single(
            "username",
            "username must be 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
        ))
    }
}

/// # Errors
/// A `password` message when it is too short or too long.
pub fn check_password(password: &str) -> Result<(), FieldErrors> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Err(FieldErrors::single(
            "password",
            format!("password must be at least {MIN_PASSWORD_CHARS} characters"),
        ))
    } else if n > MAX_PASSWORD_CHARS {
        Err(FieldErrors::single(
            "password",
            format!("password must be at most {MAX_PASSWORD_CHARS} characters"),
        ))
    } else {
        Ok(())
    }
}

/// A limit on failed sign-ins: at most `limit` in any `window_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRule {
    pub limit: u64,
    pub window_s: i64,
}

/// Per account: at most 100 failures an hour get through (DESIGN.md §5).
pub const ACCOUNT_THROTTLE: ThrottleRule = ThrottleRule {
    limit: 100,
    window_s: 3600,
};
/// Per client address: at most 30 failures in ten minutes, whatever the account.
pub const ADDRESS_THROTTLE: ThrottleRule = ThrottleRule {
    limit: 30,
    window_s: 600,
};

impl ThrottleRule {
    /// With `count` failures in the window, the oldest at `oldest`: how many
    /// seconds until another attempt may be made, or `None` when it may now.
    #[must_use]
    pub fn retry_after(
        self,
        count: u64,
        oldest: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<i64> {
        if count < self.limit {
            return None;
        }
        let frees_at = oldest? + chrono::Duration::seconds(self.window_s);
        Some((frees_at - now).num_seconds().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usernames_are_lower_cased_and_checked() {
        assert_eq!(normalize_username(" Admin "), Ok("admin".into()));
        assert_eq!(
            normalize_username("ops.team-1_b"),
            Ok("ops.team-1_b".into())
        );
        for bad in [
            "",
            " ",
            "-dash",
            ".dot",
            "has space",
            "émile",
            &"a".repeat(65),
        ] {
            assert!(normalize_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_have_a_length_rule() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(11)).is_err());
        assert!(check_password(&"x".repeat(12)).is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
        assert_eq!(
            check_password("").expect_err("empty").get("password"),
            Some("password must be at least 12 characters")
        );
    }

    #[test]
    fn throttles_open_when_the_oldest_failure_ages_out() {
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(1);
        let oldest = Some(now - chrono::Duration::minutes(20));
        assert_eq!(ACCOUNT_THROTTLE.retry_after(99, oldest, now), None);
        assert_eq!(
            ACCOUNT_THROTTLE.retry_after(100, oldest, now),
            Some(40 * 60)
        );
        assert_eq!(ADDRESS_THROTTLE.retry_after(29, oldest, now), None);
        let recent = Some(now - chrono::Duration::minutes(3));
        assert_eq!(ADDRESS_THROTTLE.retry_after(30, recent, now), Some(7 * 60));
        assert_eq!(
            ADDRESS_THROTTLE.retry_after(30, Some(now - chrono::Duration::minutes(11)), now),
            Some(1)
        );
    }

    proptest! {
        #[test]
        fn any_text_is_a_username_or_a_named_error(s in "\\PC{0,80}") {
            match normalize_username(&s) {
                Ok(n) => prop_assert_eq!(normalize_username(&n), Ok(n.clone())),
                Err(e) => prop_assert!(e.get("username").is_some()),
            }
        }
    }
}
