pub mod admin;
pub mod cluster;
pub mod clusters;
pub mod events;
pub mod login;
pub mod node;
pub mod overview;
pub mod processes;
