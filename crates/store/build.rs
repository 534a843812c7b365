//! Rebuilds the store when a migration is added or changed: `sqlx::migrate!`
//! embeds the migrations at compile time, and on stable Rust cargo does not
//! otherwise see a new file in their folder.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
