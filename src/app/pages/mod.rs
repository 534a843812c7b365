pub mod login;
pub mod overview;
