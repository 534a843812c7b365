//! Listings shared by every door: filters, sort orders and pages. The store
//! turns them into keyset-paginated queries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Environment;
use crate::ids::{ClusterId, NodeId};
use crate::model::{ClusterStatus, EventCategory, Severity};

/// Largest page any listing returns.
pub const MAX_PAGE: u32 = 1000;

/// One page of a listing; `next_cursor` fetches the next one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Clamps a requested page size to 1..=[`MAX_PAGE`], 50 by default.
#[must_use]
pub fn page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(50).clamp(1, MAX_PAGE)
}

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    /// What clusters are ordered by.
    ClusterSort, "sort" {
        Name => "name",
        CreatedAt => "created_at",
        HealthScore => "health_score",
    }
);

impl ClusterSort {
    /// Reads an order as addresses write it: the key, `-` first for
    /// descending (`-health_score`). Returns the key and whether descending.
    ///
    /// # Errors
    /// The key is not one of the sort keys (the message lists them).
    pub fn parse_signed(text: &str) -> Result<(Self, bool), String> {
        let (key, descending) = text.strip_prefix('-').map_or((text, false), |k| (k, true));
        Ok((key.parse()?, descending))
    }

    /// The order as [`ClusterSort::parse_signed`] reads it.
    #[must_use]
    pub fn signed(self, descending: bool) -> String {
        format!("{}{}", if descending { "-" } else { "" }, self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EventQuery {
    pub cluster_id: Option<ClusterId>,
    pub node_id: Option<NodeId>,
    pub severity: Option<Severity>,
    pub category: Option<EventCategory>,
    pub event_type: Option<String>,
    /// Part of the message, any case.
    pub text: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_clamped() {
        assert_eq!(page_size(None), 50);
        assert_eq!(page_size(Some(0)), 1);
        assert_eq!(page_size(Some(5000)), 1000);
    }

    #[test]
    fn orders_read_back_what_they_write() {
        for &sort in ClusterSort::ALL {
            for descending in [false, true] {
                assert_eq!(
                    ClusterSort::parse_signed(&sort.signed(descending)),
                    Ok((sort, descending))
                );
            }
        }
        assert_eq!(
            ClusterSort::parse_signed("-health_score"),
            Ok((ClusterSort::HealthScore, true))
        );
        assert!(ClusterSort::parse_signed("--name").is_err());
        assert!(ClusterSort::parse_signed("colour").is_err());
    }
}
