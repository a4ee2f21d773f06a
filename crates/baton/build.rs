//! One test per official template (`tests/templates.rs` includes what this writes), so that a
//! template added to `templates/` is run end to end without anyone writing its test.
use std::fmt::Write;

fn main() {
    let folder = std::path::Path::new("../../templates");
    println!("cargo:rerun-if-changed=../../templates");
    let mut ids: Vec<String> = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
                .filter(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    let mut tests = String::new();
    for id in ids {
        writeln!(
            tests,
            "#[tokio::test]\nasync fn {id}() {{\n    runs_end_to_end(\"{id}\").await;\n}}\n"
        )
        .unwrap();
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("template_tests.rs");
    std::fs::write(out, tests).unwrap();
}
