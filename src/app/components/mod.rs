pub mod chart;
pub mod cluster_picker;
pub mod feedback;
pub mod form;
pub mod new_cluster;
pub mod templates;
pub mod theme;
pub mod user_menu;
