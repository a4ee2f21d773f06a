//! The container image and the compose file: the Dockerfile passes hadolint (when
//! `BATON_TEST_HADOLINT` names it), builds as the README says, names only real settings, and its
//! health check (`baton probe`) tells a ready server from a stopped one.

#[path = "../../store/tests/harness/skip.rs"]
mod skip;

mod common;

use common::{baton, serve_in, start};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn read(file: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{file}"))
        .unwrap_or_else(|error| panic!("{file}: {error}"))
}

#[tokio::test]
async fn the_dockerfile_passes_hadolint() {
    let Some(hadolint) = std::env::var("BATON_TEST_HADOLINT")
        .ok()
        .filter(|path| !path.is_empty())
    else {
        skip::skipped("the Dockerfile lint", "BATON_TEST_HADOLINT");
        return;
    };
    let linted = std::process::Command::new(hadolint)
        .arg(format!("{ROOT}/Dockerfile"))
        .output()
        .expect("hadolint runs");
    assert!(
        linted.status.success(),
        "{}{}",
        String::from_utf8_lossy(&linted.stdout),
        String::from_utf8_lossy(&linted.stderr)
    );
}

#[tokio::test]
async fn the_image_builds_as_the_readme_says_and_names_only_real_settings() {
    let dockerfile = read("Dockerfile");
    let readme = read("README.md");
    let build = "cargo build --release --locked -p baton";
    assert!(
        dockerfile.contains(build),
        "the Dockerfile builds with `{build}`"
    );
    assert!(
        readme.contains(build),
        "the README shows the same build: `{build}`"
    );
    assert!(
        read("Makefile").contains("run --release --locked -p baton"),
        "make run builds the same way"
    );
    assert!(dockerfile.contains("USER 65532:65532"), "not root");
    assert!(
        dockerfile
            .contains(r#"CMD ["/usr/local/bin/baton", "probe", "http://127.0.0.1:8080/readyz"]"#),
        "the health check asks /readyz"
    );
    let compose = read("docker-compose.yml");
    for needed in [
        "postgres:",
        "redis:",
        r#"command: ["worker"]"#,
        "replicas: 2",
        "BATON_MASTER_KEY_FILE: /run/secrets/baton_master_key",
    ] {
        assert!(compose.contains(needed), "docker-compose.yml has {needed}");
    }
    let help = baton(&["serve", "--help"]).output().await.unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let worker_help = baton(&["worker", "--help"]).output().await.unwrap();
    // Wrapped lines joined, so that `[env:` and the name meet again.
    let help = (help + &String::from_utf8_lossy(&worker_help.stdout))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let settings = regex::Regex::new(r"BATON_[A-Z_]+").unwrap();
    for text in [&dockerfile, &compose] {
        for setting in settings.find_iter(text) {
            assert!(
                help.contains(&format!("[env: {}", setting.as_str())),
                "{} is a setting of baton serve or baton worker",
                setting.as_str()
            );
        }
    }
}

#[tokio::test]
async fn the_health_check_tells_a_ready_server_from_a_stopped_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(serve_in(dir.path())).await;
    let url = format!("{}/readyz", server.base);
    let ready = baton(&["probe", &url]).output().await.unwrap();
    assert_eq!(ready.status.code(), Some(0), "{ready:?}");
    assert_eq!(server.stop("TERM").await, 0);
    let gone = baton(&["probe", &url]).output().await.unwrap();
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("did not answer"),
        "{gone:?}"
    );
}
