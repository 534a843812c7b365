//! Keyset cursors and search patterns for the listings of `muster_domain::query`.

use crate::StoreError;
use muster_domain::FieldErrors;
use serde::{Deserialize, Serialize};

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

/// The id a listing ordered by descending id resumes below, from the cursor
/// of its previous page.
///
/// # Errors
/// `cursor` when the text is not a cursor of `listing`.
pub(crate) fn before_id(cursor: Option<&str>, listing: &str) -> Result<Option<i64>, StoreError> {
    cursor
        .map(|text| {
            Cursor::decode(text, listing)?.key.as_i64().ok_or_else(|| {
                StoreError::Invalid(FieldErrors::single(
                    "cursor",
                    "cursor is not a cursor of this listing (use next_cursor from the previous page)",
                ))
            })
        })
        .transpose()
}

/// The cursor of a page of a listing ordered by descending id that ended at `last_id`.
pub(crate) fn after_id(listing: &str, last_id: i64) -> String {
    Cursor {
        listing: listing.to_owned(),
        key: serde_json::json!(last_id),
        id: String::new(),
    }
    .encode()
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
    }
}
