//! `sqlx::migrate!` embeds the migrations at compile time but does not notice a new file; this makes a new
//! migration rebuild the host.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
