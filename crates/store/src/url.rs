//! The database URL: which backend, where, and a printable form with the password
//! hidden.

use std::fmt;
use std::path::PathBuf;

/// A parsed `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite:PATH`, `sqlite://PATH` or `sqlite::memory:`.
    Sqlite { path: Option<PathBuf> },
    /// `postgres://…` or `postgresql://…`.
    Postgres { url: String, redacted: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("database URL is empty")]
    Empty,
    #[error("database URL must start with sqlite: or postgres:// (it starts with \"{0}\")")]
    UnknownScheme(String),
    #[error("database URL {0} is malformed: {1}")]
    Malformed(String, String),
    #[error("database URL {0} names no host")]
    NoHost(String),
    #[error("database URL sqlite: names no file")]
    NoPath,
}

impl DatabaseUrl {
    /// The embedded default: `./data/muster.db`.
    #[must_use]
    pub fn default_sqlite() -> Self {
        Self::Sqlite {
            path: Some(PathBuf::from("data/muster.db")),
        }
    }

    /// # Errors
    /// A [`UrlError`] naming what is wrong, without repeating any password.
    pub fn parse(input: &str) -> Result<Self, UrlError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(UrlError::Empty);
        }
        if let Some(rest) = input.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let path = rest.split('?').next().unwrap_or_default();
            return match path {
                "" => Err(UrlError::NoPath),
                ":memory:" => Ok(Self::Sqlite { path: None }),
                p => Ok(Self::Sqlite {
                    path: Some(PathBuf::from(p)),
                }),
            };
        }
        if input.starts_with("postgres://") || input.starts_with("postgresql://") {
            let parsed = ::url::Url::parse(input)
                .map_err(|e| UrlError::Malformed(scheme_only(input), e.to_string()))?;
            let redacted = redact(&parsed);
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(UrlError::NoHost(redacted));
            }
            return Ok(Self::Postgres {
                url: input.to_owned(),
                redacted,
            });
        }
        Err(UrlError::UnknownScheme(scheme_only(input)))
    }

    /// The URL for logs and error messages: the password replaced by `***`.
    #[must_use]
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite { path: Some(p) } => format!("sqlite:{}", p.display()),
            Self::Sqlite { path: None } => "sqlite::memory:".to_owned(),
            Self::Postgres { redacted, .. } => redacted.clone(),
        }
    }
}

fn redact(url: &::url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Setting a password only fails for URLs that cannot have one.
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// The part of a URL before `://` (or the first 20 characters), which never
/// holds a password.
fn scheme_only(input: &str) -> String {
    match input.find("://") {
        Some(i) => format!("{}://…", &input[..i]),
        None => input.chars().take(20).collect(),
    }
}

// Debug must not print the password either (configuration is logged at start).
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_forms() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db"),
            Ok(DatabaseUrl::Sqlite {
                path: Some("data/x.db".into())
            })
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/muster.db?mode=rwc"),
            Ok(DatabaseUrl::Sqlite {
                path: Some("/var/lib/muster.db".into())
            })
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:"),
            Ok(DatabaseUrl::Sqlite { path: None })
        );
        assert_eq!(DatabaseUrl::parse("sqlite:"), Err(UrlError::NoPath));
    }

    #[test]
    fn postgres_passwords_never_show() {
        let url =
            DatabaseUrl::parse("postgres://app:s3cret@db.internal:5432/muster").expect("valid");
        assert_eq!(url.redacted(), "postgres://app:***@db.internal:5432/muster");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(!url.to_string().contains("s3cret"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_the_password() {
        let e = DatabaseUrl::parse("mysql://root:hunter2@localhost/db").expect_err("mysql");
        assert_eq!(
            e.to_string(),
            "database URL must start with sqlite: or postgres:// (it starts with \"mysql://…\")"
        );
        let e = DatabaseUrl::parse("postgres://u:hunter2@:5432/db").expect_err("no host");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = DatabaseUrl::parse("postgres://u:pw@host:notaport/db").expect_err("port");
        assert!(e.to_string().contains("malformed"), "{e}");
        assert!(!e.to_string().contains("pw@"), "{e}");
        assert_eq!(DatabaseUrl::parse("  "), Err(UrlError::Empty));
    }
}
