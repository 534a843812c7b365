pub mod admin;
pub mod cluster;
pub mod login;
pub mod overview;
