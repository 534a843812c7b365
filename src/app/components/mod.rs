pub mod feedback;
pub mod templates;
pub mod theme;
pub mod user_menu;
