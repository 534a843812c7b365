//! The dashboard's pages.

pub mod admin;
pub mod cluster;
pub mod clusters;
pub mod events;
pub mod login;
pub mod node;
pub mod operations;
pub mod overview;
pub mod processes;
pub mod simulation;

/// A time as the tables show it.
#[must_use]
pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}
