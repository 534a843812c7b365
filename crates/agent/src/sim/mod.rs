//! `muster-agent simulate`: a fleet of virtual nodes speaking the real agent
//! protocol, with plausible figures and injected faults.

pub mod chaos;
pub mod fault;
pub mod fleet;
pub mod model;
pub mod scenario;

pub use fault::{Action, Command, Fault, Target};
pub use fleet::{Enrolment, Fleet, FleetOptions, NodeView, Report, saved_names};
