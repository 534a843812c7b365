pub mod admin;
pub mod cluster;
pub mod clusters;
pub mod login;
pub mod overview;
