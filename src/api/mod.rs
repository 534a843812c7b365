//! What the browser and the server share: data transfer objects, the error type,
//! and the server functions (thin wrappers over the store and the domain crate).

pub mod admin;
pub mod auth;
pub mod clusters;
pub mod codec;
pub mod error;
pub mod events;
pub mod fleet;
pub mod join_tokens;
pub mod nodes;
pub mod operations;
pub mod processes;
pub mod simulation;

pub use error::{AppError, ErrorCode};
