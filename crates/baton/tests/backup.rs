//! `baton backup` while runs are in flight, and `baton restore` into an empty database: every
//! run that had finished is there, the ones in flight finish, and the stored credential still
//! opens with the master key. On SQLite, and on PostgreSQL when `BATON_TEST_DATABASE_URL` is set.

#[path = "../../store/tests/harness/skip.rs"]
mod skip;

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{
    api, authorization_sent, baton, fresh_postgres, header_keeper, me_cookie_after_login, serve_in,
    serve_locally, sign_up_on, start,
};
use tokio::process::Command;

const TOKEN: &str = "tok-backup-9c1d44e0a2";

/// `baton serve` on `dir`, on `database` when given (else SQLite in `dir`), with the master key
/// from `master`.
fn serve_on(dir: &Path, database: Option<&str>, master: &Path) -> Command {
    let mut command = serve_in(dir);
    command
        .env("BATON_HTTP_ALLOW", "127.0.0.1")
        .env("BATON_MASTER_KEY_FILE", master);
    if let Some(url) = database {
        command.env("BATON_DATABASE_URL", url);
    }
    command
}

/// `baton backup|restore FILE` on `dir` (and `database`), with the key file `key`.
async fn backup_command(
    verb: &str,
    file: &Path,
    key: &Path,
    dir: &Path,
    database: Option<&str>,
) -> std::process::Output {
    let mut command = baton(&[
        verb,
        file.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    if let Some(url) = database {
        command.env("BATON_DATABASE_URL", url);
    }
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("finishes within two minutes")
        .unwrap()
}

async fn executions(base: &str, cookie: &str) -> Vec<serde_json::Value> {
    let (status, page) = api(
        base,
        cookie,
        "GET",
        "/api/v1/executions?limit=100",
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

fn with_state<'a>(runs: &'a [serde_json::Value], workflow: &str, state: &str) -> Vec<&'a str> {
    let mut ids: Vec<&str> = runs
        .iter()
        .filter(|run| run["workflow_id"] == workflow && run["state"] == state)
        .map(|run| run["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids
}

async fn a_backup_taken_while_runs_are_in_flight_restores_everything(
    source: Option<String>,
    target: Option<String>,
) {
    let home = tempfile::tempdir().unwrap();
    let (from, into) = (home.path().join("from"), home.path().join("into"));
    // The master key lives apart from both data folders, as the operations guide says.
    let master = home.path().join("master.key");
    let key = home.path().join("backup.key");
    let file = home.path().join("acme.baton-backup");

    let (whoami, seen) = header_keeper().await;
    // A slow service, so that runs are in flight while the backup is taken.
    let slow = serve_locally(axum::Router::new().route(
        "/slow",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            axum::Json(serde_json::json!({"slow": true}))
        }),
    ))
    .await;

    let server = start(serve_on(&from, source.as_deref(), &master)).await;
    let base = server.base.clone();
    let cookie = sign_up_on(&base).await;
    let (status, created) = api(
        &base,
        &cookie,
        "POST",
        "/api/v1/credentials",
        serde_json::json!({"service": "http", "name": "crm", "secret": {"bearer": TOKEN, "hosts": ["127.0.0.1"]}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    for workflow in [
        serde_json::json!({"id": "wf_crm", "name": "CRM", "steps": [
            {"id": "call", "type": "integration", "service": "http", "action": "request",
             "credential": "crm", "inputs": {"method": "POST", "url": whoami}}
        ]}),
        serde_json::json!({"id": "wf_slow", "name": "Slow", "steps": [
            {"id": "wait", "type": "integration", "service": "http", "action": "request",
             "inputs": {"method": "POST", "url": format!("http://{slow}/slow")}}
        ]}),
    ] {
        let (status, body) = api(&base, &cookie, "POST", "/api/v1/workflows", workflow).await;
        assert_eq!(status, 201, "{body}");
    }
    for _ in 0..3 {
        assert_eq!(
            authorization_sent(&base, &cookie, &seen).await,
            Some(format!("Bearer {TOKEN}"))
        );
    }
    for _ in 0..4 {
        let (status, body) = api(
            &base,
            &cookie,
            "POST",
            "/api/v1/workflows/wf_slow/runs",
            serde_json::json!({}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    let before = executions(&base, &cookie).await;
    let finished = with_state(&before, "wf_crm", "COMPLETED");
    assert_eq!(finished.len(), 3);
    assert!(
        with_state(&before, "wf_slow", "COMPLETED").is_empty(),
        "the slow runs are still in flight: {before:#?}"
    );

    let made = backup_command("backup", &file, &key, &from, source.as_deref()).await;
    let said = String::from_utf8_lossy(&made.stdout);
    assert!(made.status.success(), "{made:?}");
    assert!(said.contains("backed up"), "{said}");
    assert!(
        String::from_utf8_lossy(&made.stderr).contains("made backup key bk_"),
        "{made:?}"
    );
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600,
        "the backup key is its owner's alone"
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let sealed = std::fs::read(&file).unwrap();
    for clear in [
        b"SQLite format 3".as_slice(),
        b"PGDMP",
        b"ann@example.com",
        b"wf_slow",
    ] {
        assert!(
            !sealed.windows(clear.len()).any(|window| window == clear),
            "the backup shows {:?} in clear",
            String::from_utf8_lossy(clear)
        );
    }
    // Serving went on through the backup.
    assert_eq!(
        authorization_sent(&base, &cookie, &seen).await,
        Some(format!("Bearer {TOKEN}"))
    );
    assert_eq!(server.stop("TERM").await, 0);

    // With another key, or into a database of another kind, nothing is restored.
    let wrong = home.path().join("other.key");
    std::fs::write(&wrong, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    let refused = backup_command("restore", &file, &wrong, &into, target.as_deref()).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("sealed with backup key bk_") && stderr.contains("not the key given"),
        "{stderr}"
    );
    let other_kind = match &target {
        Some(_) => backup_command("restore", &file, &key, &into, None).await,
        None => {
            backup_command(
                "restore",
                &file,
                &key,
                &into,
                Some("postgres://nobody@127.0.0.1:1/none"),
            )
            .await
        }
    };
    let stderr = String::from_utf8_lossy(&other_kind.stderr);
    assert!(!other_kind.status.success());
    assert!(stderr.contains("of the same kind"), "{stderr}");
    assert!(!into.join("baton.db").exists());

    let restored = backup_command("restore", &file, &key, &into, target.as_deref()).await;
    assert!(restored.status.success(), "{restored:?}");
    assert!(String::from_utf8_lossy(&restored.stdout).contains("restored"));
    // A second restore would overwrite: refused.
    let again = backup_command("restore", &file, &key, &into, target.as_deref()).await;
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(stderr.contains("already holds data"), "{stderr}");

    let server = start(serve_on(&into, target.as_deref(), &master)).await;
    let base = server.base.clone();
    let cookie = me_cookie_after_login(&base).await;
    let after = executions(&base, &cookie).await;
    let completed = with_state(&after, "wf_crm", "COMPLETED");
    assert!(
        finished.iter().all(|id| completed.contains(id)),
        "every run finished before the backup is there: {finished:?} in {completed:?}"
    );
    assert_eq!(
        after
            .iter()
            .filter(|run| run["workflow_id"] == "wf_slow")
            .count(),
        4,
        "the runs in flight are there too"
    );
    // The credential opens with the master key the data was made with.
    assert_eq!(
        authorization_sent(&base, &cookie, &seen).await,
        Some(format!("Bearer {TOKEN}"))
    );
    // And the runs that were in flight finish on the restored server.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let runs = executions(&base, &cookie).await;
        if with_state(&runs, "wf_slow", "COMPLETED").len() == 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the in-flight runs finish after the restore: {runs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(server.stop("TERM").await, 0);
}

#[tokio::test]
async fn a_sqlite_backup_taken_while_serving_restores_into_a_new_data_folder() {
    a_backup_taken_while_runs_are_in_flight_restores_everything(None, None).await;
}

#[tokio::test]
async fn a_postgres_backup_taken_while_serving_restores_into_a_new_database() {
    let (Some(source), Some(target)) = (
        fresh_postgres("baton_backup_from").await,
        fresh_postgres("baton_backup_into").await,
    ) else {
        skip::skipped(
            "backup and restore on PostgreSQL",
            "BATON_TEST_DATABASE_URL",
        );
        return;
    };
    a_backup_taken_while_runs_are_in_flight_restores_everything(
        Some(source.clone()),
        Some(target.clone()),
    )
    .await;
    common::drop_postgres(&source).await;
    common::drop_postgres(&target).await;
}

#[tokio::test]
async fn a_backup_needs_a_key_and_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.baton-backup");
    let output = baton(&[
        "backup",
        file.to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--key-file FILE"), "{stderr}");
    let key = dir.path().join("k");
    let output = backup_command("backup", &file, &key, &dir.path().join("empty"), None).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("there is no database at"), "{stderr}");
    assert!(!file.exists(), "no half-written backup is left");
    let output = backup_command("restore", &dir.path().join("none"), &key, dir.path(), None).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cannot read"), "{stderr}");
}
