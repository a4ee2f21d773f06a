//! The web app's build (`web/dist`) is embedded into this crate: rebuild it when that changes.
fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
