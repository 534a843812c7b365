pub mod admin;
pub mod login;
pub mod overview;
