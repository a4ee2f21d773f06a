//! The web app's build (`web/dist`) and the template library (`templates/`) are embedded into
//! this crate: rebuild it when either changes (a file added included).
fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
    println!("cargo:rerun-if-changed=../../templates");
}
