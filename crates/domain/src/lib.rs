//! Muster's domain rules as pure functions and types.
//!
//! Nothing here performs I/O or reads a clock: callers pass the current time and a
//! random source in. That keeps every rule testable without a database or a
//! browser, and lets the browser reuse the same validation (this crate compiles
//! for `wasm32-unknown-unknown`).

#[macro_use]
mod macros;
pub mod cluster_state;
pub mod config;
pub mod coordination;
pub mod errors;
pub mod health;
pub mod ids;
pub mod live;
pub mod liveness;
pub mod metrics;
pub mod model;
pub mod node;
pub mod operations;
pub mod processes;
pub mod protocol;
pub mod query;
pub mod recommendations;
pub mod users;

pub use config::{
    ClusterLimits, ClusterSettings, ClusterUsage, ConfigTemplate, Environment, SettingsPatch,
    builtin_templates,
};
pub use errors::FieldErrors;
pub use ids::{ClusterId, IdError, NodeId};
pub use model::{
    Actor, Cluster, ClusterStatus, ClusterTally, ClusterUpdate, Event, EventCategory, MetricPoint,
    NewCluster, NewEvent, Node, NodeStatusUpdate, Severity, Tenant,
};
pub use node::{HealthStatus, NewNode, NodeStatus};
