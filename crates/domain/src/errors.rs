use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Validation failures keyed by the field they concern, so every layer (REST,
/// server functions, the browser form) can point at the field that is wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An error set holding a single field's message.
    #[must_use]
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    /// Records a message for `field`; the first message for a field wins, since
    /// it is the most basic thing wrong with it.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }

    /// Adds every message of `other`.
    pub fn merge(&mut self, other: FieldErrors) {
        for (field, message) in other.0 {
            self.add(field, message);
        }
    }

    /// Adds every message of `other`, each field prefixed with `prefix.`.
    pub fn merge_prefixed(&mut self, prefix: &str, other: FieldErrors) {
        for (field, message) in other.0 {
            self.add(format!("{prefix}.{field}"), message);
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[must_use]
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    #[must_use]
    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }

    /// `Ok(())` when nothing was recorded, otherwise the errors.
    ///
    /// # Errors
    /// Returns `self` when at least one field failed validation.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for message in self.0.values() {
            if !first {
                f.write_str("; ")?;
            }
            f.write_str(message)?;
            first = false;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

/// Checks a free-text field's length in characters (after trimming), recording
/// `"<field> must be between 1 and <max> characters"`-style messages.
pub(crate) fn check_text(
    errors: &mut FieldErrors,
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) {
    let len = value.trim().chars().count();
    if len < min {
        if min == 1 {
            errors.add(field, format!("{field} must not be empty"));
        } else {
            errors.add(field, format!("{field} must be at least {min} characters"));
        }
    } else if value.chars().count() > max {
        errors.add(field, format!("{field} must be at most {max} characters"));
    } else if value.chars().any(char::is_control) {
        errors.add(
            field,
            format!("{field} must not contain control characters"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_message_per_field_wins_and_display_joins_all() {
        let mut e = FieldErrors::new();
        e.add("name", "name must not be empty");
        e.add("name", "second");
        e.add("max_nodes", "max_nodes must be at least 1");
        assert_eq!(e.get("name"), Some("name must not be empty"));
        assert_eq!(
            e.to_string(),
            "max_nodes must be at least 1; name must not be empty"
        );
        assert!(e.into_result().is_err());
        assert!(FieldErrors::new().into_result().is_ok());
    }

    #[test]
    fn text_checks_trim_count_characters_and_reject_controls() {
        let mut e = FieldErrors::new();
        check_text(&mut e, "name", "   ", 1, 10);
        assert_eq!(e.get("name"), Some("name must not be empty"));

        let mut e = FieldErrors::new();
        check_text(&mut e, "name", "ééééé", 1, 5);
        assert!(e.is_empty(), "five characters fit a limit of five");
        check_text(&mut e, "name", "ééééééé", 1, 5);
        assert_eq!(e.get("name"), Some("name must be at most 5 characters"));

        let mut e = FieldErrors::new();
        check_text(&mut e, "region", "us\u{0}east", 1, 50);
        assert_eq!(
            e.get("region"),
            Some("region must not contain control characters")
        );
    }
}
