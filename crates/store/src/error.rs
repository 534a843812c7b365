use muster_domain::FieldErrors;

/// What can go wrong in the store, in terms the layers above can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist (the string says what: "cluster").
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was broken; the string names what is taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// The input itself is invalid (checked again here so no caller can skip it).
    #[error("{0}")]
    Invalid(FieldErrors),
    /// The input is valid but the stored state refuses it (a limit reached, say).
    #[error("{0}")]
    Rejected(FieldErrors),
    /// The database cannot be reached or set up; the message is one line and
    /// never contains a password.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else; logged by the server, never shown to clients.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
    /// A stored value could not be read back as its type.
    #[error("corrupt stored value in {column}: {message}")]
    Corrupt {
        column: &'static str,
        message: String,
    },
}

impl StoreError {
    pub(crate) fn corrupt(column: &'static str, message: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            column,
            message: message.to_string(),
        }
    }

    /// Whether the connection the error came from may be unusable (and
    /// should be replaced rather than used again).
    pub(crate) fn lost_connection(&self) -> bool {
        matches!(
            self,
            Self::Other(
                sqlx::Error::Io(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Self::NotFound("row"),
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                Self::Conflict(conflict_subject(db.constraint(), db.message()))
            }
            // PostgreSQL refuses NUL characters in text (SQLite stores them);
            // that is bad input, not a fault of ours.
            sqlx::Error::Database(ref db)
                if matches!(db.code().as_deref(), Some("22021" | "22P05")) =>
            {
                Self::Invalid(FieldErrors::single(
                    "input",
                    "text must not contain NUL (0x00) characters",
                ))
            }
            sqlx::Error::PoolTimedOut => {
                Self::Unavailable("timed out waiting for a database connection".into())
            }
            other => Self::Other(other),
        }
    }
}

/// Names what a unique violation was about, from the constraint (PostgreSQL) or
/// the message (SQLite, which names the columns instead).
fn conflict_subject(constraint: Option<&str>, message: &str) -> String {
    let known = [
        ("clusters_pkey", "cluster id"),
        ("clusters_name_key", "cluster name"),
        ("clusters.name", "cluster name"),
        ("clusters.id", "cluster id"),
        ("cluster_nodes_pkey", "node id"),
        ("cluster_nodes.id", "node id"),
        ("cluster_nodes_name_key", "node name"),
        ("cluster_nodes.cluster_id, cluster_nodes.name", "node name"),
        ("cluster_nodes_seq_key", "node sequence"),
        ("cluster_config_templates_pkey", "template name"),
        ("cluster_config_templates.name", "template name"),
        ("tenants_name_key", "tenant name"),
        ("tenants.name", "tenant name"),
        ("users_username_key", "username"),
        ("users.username", "username"),
    ];
    let hay = constraint.unwrap_or(message);
    known
        .iter()
        .find(|(key, _)| constraint.map_or_else(|| hay.ends_with(key), |c| c == *key))
        .map_or_else(|| "record".to_owned(), |(_, what)| (*what).to_owned())
}

#[cfg(test)]
mod tests {
    use super::conflict_subject;

    #[test]
    fn conflicts_are_named_from_either_backend() {
        assert_eq!(
            conflict_subject(Some("clusters_name_key"), ""),
            "cluster name"
        );
        assert_eq!(
            conflict_subject(None, "UNIQUE constraint failed: clusters.name"),
            "cluster name"
        );
        assert_eq!(
            conflict_subject(
                None,
                "UNIQUE constraint failed: cluster_nodes.cluster_id, cluster_nodes.name"
            ),
            "node name"
        );
        assert_eq!(conflict_subject(Some("something_else"), ""), "record");
    }
}
