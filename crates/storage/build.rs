//! `embed_migrations!` reads `migrations/` at compile time; without this, a new migration folder
//! would not rebuild the crate and the binaries would carry the old list.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
