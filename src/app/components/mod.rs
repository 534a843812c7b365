pub mod theme;
pub mod user_menu;
