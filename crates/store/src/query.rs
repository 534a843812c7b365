//! Listings: filters, sort orders, keyset cursors and pages.

use chrono::{DateTime, Utc};
use muster_domain::{
    ClusterId, ClusterStatus, Environment, EventCategory, FieldErrors, NodeId, Severity,
};
use serde::{Deserialize, Serialize};

use crate::{MAX_PAGE, StoreError};

/// One page of a listing; `next_cursor` fetches the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Where the previous page ended: the sort key of its last row and that row's
/// id, tagged with the listing so a cursor cannot be replayed on another one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cursor {
    pub listing: String,
    pub key: serde_json::Value,
    pub id: String,
}

impl Cursor {
    pub(crate) fn encode(&self) -> String {
        use std::fmt::Write as _;
        let json = serde_json::to_vec(self).unwrap_or_default();
        json.iter()
            .fold(String::with_capacity(json.len() * 2), |mut out, b| {
                let _ = write!(out, "{b:02x}");
                out
            })
    }

    /// # Errors
    /// `cursor` when the text is not a cursor of `listing`.
    pub(crate) fn decode(text: &str, listing: &str) -> Result<Self, StoreError> {
        let bad = || {
            StoreError::Invalid(FieldErrors::single(
                "cursor",
                "cursor is not a cursor of this listing (use next_cursor from the previous page)",
            ))
        };
        if text.len() > 2048 || !text.len().is_multiple_of(2) {
            return Err(bad());
        }
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        let cursor: Cursor = serde_json::from_slice(&bytes.ok_or_else(bad)?).map_err(|_| bad())?;
        if cursor.listing == listing {
            Ok(cursor)
        } else {
            Err(bad())
        }
    }
}

/// Clamps a requested page size to 1..=[`MAX_PAGE`], 50 by default.
#[must_use]
pub fn page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(50).clamp(1, MAX_PAGE)
}

muster_domain::text_enum!(
    /// What clusters are ordered by.
    ClusterSort, "sort" {
        Name => "name",
        CreatedAt => "created_at",
        HealthScore => "health_score",
    }
);

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterQuery {
    pub status: Option<ClusterStatus>,
    pub environment: Option<Environment>,
    pub region: Option<String>,
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
    pub sort: ClusterSort,
    pub descending: bool,
    pub include_decommissioned: bool,
    pub cursor: Option<String>,
    pub limit: u32,
}

impl Default for ClusterQuery {
    fn default() -> Self {
        Self {
            status: None,
            environment: None,
            region: None,
            name: None,
            sort: ClusterSort::CreatedAt,
            descending: true,
            include_decommissioned: false,
            cursor: None,
            limit: 50,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventQuery {
    pub cluster_id: Option<ClusterId>,
    pub node_id: Option<NodeId>,
    pub severity: Option<Severity>,
    pub category: Option<EventCategory>,
    pub event_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    pub limit: u32,
}

/// A `LIKE` pattern matching `text` anywhere, lower-cased, with `%`, `_` and
/// `\` escaped (the queries say `ESCAPE '\'`).
#[must_use]
pub fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_others() {
        let c = Cursor {
            listing: "clusters:name".into(),
            key: serde_json::json!("alpha"),
            id: "x".into(),
        };
        let text = c.encode();
        assert_eq!(Cursor::decode(&text, "clusters:name").expect("decodes"), c);
        assert!(
            Cursor::decode(&text, "clusters:created_at").is_err(),
            "other listing"
        );
        for junk in [
            "",
            "zz",
            "abc",
            "'; DROP TABLE clusters; --",
            &"00".repeat(2000),
        ] {
            assert!(Cursor::decode(junk, "clusters:name").is_err(), "{junk}");
        }
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("Prod_1%"), "%prod\\_1\\%%");
        assert_eq!(page_size(None), 50);
        assert_eq!(page_size(Some(0)), 1);
        assert_eq!(page_size(Some(5000)), 1000);
    }
}
