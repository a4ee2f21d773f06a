//! `baton validate`, `baton run` and `baton resume` as a user runs them, including a run killed
//! with SIGKILL in the middle of a side-effecting call and resumed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::process::Command;

const BATON: &str = env!("CARGO_BIN_EXE_baton");

fn baton(args: &[&str]) -> Command {
    let mut command = Command::new(BATON);
    command.args(args).kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("BATON_") {
            command.env_remove(key);
        }
    }
    command
}

fn write(dir: &Path, name: &str, document: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(document).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn output(mut command: Command) -> Output {
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("finishes")
        .unwrap();
    Output {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[tokio::test]
async fn validate_reports_each_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.json",
        &json!({"id": "wf_ok", "name": "ok", "steps": [
            {"id": "step_1", "type": "transformation", "action": "set", "inputs": {"a": "{{ trigger.a }}"}}
        ]}),
    );
    let result = output(baton(&["validate", &good])).await;
    assert_eq!(result.code, 0, "{}", result.stderr);

    let bad = write(
        dir.path(),
        "bad.json",
        &json!({"id": "wf_bad", "name": "bad", "steps": [
            {"id": "step_1", "type": "transformation", "action": "set"},
            {"id": "step_1", "type": "llm", "model": "gpt-4o", "prompt": "x"},
            {"id": "step_3", "type": "wait"}
        ]}),
    );
    let result = output(baton(&["validate", &bad])).await;
    assert_eq!(result.code, 1);
    let lines: Vec<&str> = result.stderr.lines().collect();
    assert_eq!(
        lines,
        vec![
            "$.steps[1].id: duplicate step id \"step_1\"",
            "$.steps[2].type: unknown step type \"wait\" (expected one of llm, integration, transformation, conditional, loop, parallel, approval, delay, sub_workflow, agent)",
        ]
    );
    let result = output(baton(&["validate", &bad, "--format", "json"])).await;
    assert_eq!(result.code, 1);
    let report: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(
        report["errors"][0],
        json!({"path": "$.steps[1].id", "message": "duplicate step id \"step_1\""})
    );

    let later = write(
        dir.path(),
        "later.json",
        &json!({"id": "wf_later", "name": "x", "steps": [
            {"id": "a", "type": "transformation", "action": "template", "inputs": {"template": "{{ b.text }} {% if %}"}},
            {"id": "b", "type": "llm", "model": "mystery", "prompt": "x"}
        ]}),
    );
    let result = output(baton(&["validate", &later])).await;
    assert_eq!(result.code, 1);
    assert!(
        result
            .stderr
            .contains("$.steps[0].inputs.template: template syntax error at line 1"),
        "{}",
        result.stderr
    );
    assert!(
        result
            .stderr
            .contains("$.steps[1].model: unknown model \"mystery\""),
        "{}",
        result.stderr
    );

    std::fs::write(dir.path().join("broken.json"), "{\"id\": ").unwrap();
    let result = output(baton(&[
        "validate",
        dir.path().join("broken.json").to_str().unwrap(),
    ]))
    .await;
    assert_eq!(result.code, 1);
    assert!(
        result
            .stderr
            .starts_with("$: invalid JSON: EOF while parsing"),
        "{}",
        result.stderr
    );
}

#[tokio::test]
async fn run_prints_the_execution_and_exits_by_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let workflow = write(
        dir.path(),
        "wf.json",
        &json!({"id": "wf_run", "name": "run", "steps": [
            {"id": "total", "type": "transformation", "action": "calculate", "inputs": {"expression": "trigger.price * trigger.qty"}},
            {"id": "label", "type": "transformation", "action": "template", "inputs": {"template": "{{ user.company }} owes {{ total.result }}"}}
        ]}),
    );
    let result = output(baton(&[
        "run",
        &workflow,
        "--input",
        "{\"price\": 4, \"qty\": 5}",
        "--user",
        "{\"company\": \"Acme\"}",
        "--data-dir",
        data,
        "--output",
        "json",
    ]))
    .await;
    assert_eq!(result.code, 0, "{}", result.stderr);
    let execution: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(execution["state"], "COMPLETED");
    assert_eq!(execution["output"], json!({"text": "Acme owes 20"}));
    assert_eq!(execution["steps"]["total"]["state"], "COMPLETED");
    assert_eq!(execution["steps"]["total"]["output"], json!({"result": 20}));
    assert_eq!(execution["steps"]["label"]["attempts"], 1);
    assert_eq!(execution["cost_usd"], 0.0);
    assert!(
        result.stderr.contains("✓ total COMPLETED"),
        "steps are shown live: {}",
        result.stderr
    );

    let failing = output(baton(&[
        "run",
        &workflow,
        "--input",
        "{\"price\": 4}",
        "--data-dir",
        data,
    ]))
    .await;
    assert_eq!(failing.code, 1);
    assert!(
        failing
            .stderr
            .contains("`{{trigger.qty}}` is missing: trigger has no field \"qty\""),
        "{}",
        failing.stderr
    );

    let bad_input = output(baton(&[
        "run",
        &workflow,
        "--input",
        "{price}",
        "--data-dir",
        data,
    ]))
    .await;
    assert_eq!(bad_input.code, 3);
    assert!(
        bad_input
            .stderr
            .starts_with("--input: invalid JSON: key must be a string"),
        "{}",
        bad_input.stderr
    );

    let invalid = write(
        dir.path(),
        "invalid.json",
        &json!({"id": "wf_invalid", "name": "x", "steps": [{"id": "a", "type": "nope"}]}),
    );
    let result = output(baton(&["run", &invalid, "--data-dir", data])).await;
    assert_eq!(result.code, 3);

    let approval = write(
        dir.path(),
        "approve.json",
        &json!({"id": "wf_approve", "name": "x", "steps": [
            {"id": "ask", "type": "approval", "message": "Ship it?"}
        ]}),
    );
    let result = output(baton(&[
        "run",
        &approval,
        "--data-dir",
        data,
        "--output",
        "json",
    ]))
    .await;
    assert_eq!(result.code, 4, "{}", result.stderr);
    let execution: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(execution["state"], "WAITING");
    assert_eq!(execution["steps"]["ask"]["state"], "WAITING");
}

/// Counts requests per path, and the distinct idempotency keys they carried. The first request
/// for `/effect/2` never gets an answer: it reports itself and hangs.
#[derive(Clone, Default)]
struct Counter {
    requests: Arc<Mutex<HashMap<String, Vec<Option<String>>>>>,
    hang_once: Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
}

async fn counting_server(counter: Counter) -> std::net::SocketAddr {
    let app = Router::new().route(
        "/effect/{n}",
        post(move |UrlPath(n): UrlPath<String>, headers: HeaderMap| {
            let counter = counter.clone();
            async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let first = {
                    let mut requests = counter.requests.lock().unwrap();
                    let seen = requests.entry(n.clone()).or_default();
                    seen.push(key);
                    seen.len() == 1
                };
                if n == "2" && first {
                    if let Some(arrived) = counter.hang_once.lock().unwrap().take() {
                        let _ = arrived.send(());
                    }
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                axum::Json(json!({"effect": n}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn a_run_killed_mid_workflow_resumes_and_acts_once() {
    let (arrived, arrival) = tokio::sync::oneshot::channel();
    let counter = Counter {
        hang_once: Arc::new(Mutex::new(Some(arrived))),
        ..Counter::default()
    };
    let addr = counting_server(counter.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let effect = |n: u32| {
        json!({"id": format!("effect_{n}"), "type": "integration", "service": "http", "action": "request",
        "inputs": {"method": "POST", "url": format!("http://{addr}/effect/{n}"), "json": {"n": n}}})
    };
    let workflow = write(
        dir.path(),
        "wf.json",
        &json!({"id": "wf_effects", "name": "effects", "steps": [
            effect(1),
            effect(2),
            {"id": "between", "type": "transformation", "action": "set", "inputs": {"second": "{{ effect_2.body.effect }}"}},
            effect(3)
        ]}),
    );

    let mut child = baton(&[
        "run",
        &workflow,
        "--data-dir",
        data,
        "--http-allow",
        "127.0.0.1",
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    tokio::time::timeout(Duration::from_secs(60), arrival)
        .await
        .expect("the run reaches effect 2")
        .unwrap();
    child.kill().await.unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), None, "killed by a signal");

    let resumed = output(baton(&[
        "resume",
        "--data-dir",
        data,
        "--http-allow",
        "127.0.0.1",
        "--output",
        "json",
    ]))
    .await;
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let execution: Value = serde_json::from_str(&resumed.stdout).unwrap();
    assert_eq!(execution["state"], "COMPLETED");
    assert_eq!(execution["output"]["body"], json!({"effect": "3"}));
    assert_eq!(
        execution["steps"]["between"]["output"],
        json!({"second": "2"})
    );
    assert_eq!(
        execution["steps"]["effect_2"]["attempts"], 2,
        "the interrupted attempt and the one after it"
    );

    let requests = counter.requests.lock().unwrap().clone();
    assert_eq!(requests["1"].len(), 1, "a finished step is not repeated");
    assert_eq!(requests["3"].len(), 1);
    assert_eq!(
        requests["2"].len(),
        2,
        "the call in flight is repeated once"
    );
    for (path, keys) in &requests {
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(
            distinct.len(),
            1,
            "effect {path} carries one idempotency key: {keys:?}"
        );
        assert!(
            keys[0]
                .as_deref()
                .is_some_and(|key| key.ends_with(&format!(":effect_{path}"))),
            "{keys:?}"
        );
    }
    let again = output(baton(&[
        "resume",
        "--data-dir",
        data,
        "--http-allow",
        "127.0.0.1",
    ]))
    .await;
    assert_eq!((again.code, again.stderr.trim()), (0, "nothing to resume"));
}

#[tokio::test]
async fn credentials_from_a_file_reach_the_call_but_are_never_stored() {
    let app = Router::new().route(
        "/secure",
        post(|headers: HeaderMap| async move {
            let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some("Bearer s3cr3t-token");
            if authorized {
                (axum::http::StatusCode::OK, axum::Json(json!({"ok": true})))
            } else {
                (
                    axum::http::StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error": "no token"})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let workflow = write(
        dir.path(),
        "wf.json",
        &json!({"id": "wf_secure", "name": "secure", "steps": [
            {"id": "call", "type": "integration", "service": "http", "action": "request", "credential": "crm",
             "inputs": {"method": "POST", "url": format!("http://{addr}/secure")}}
        ]}),
    );
    let credentials = write(
        dir.path(),
        "credentials.json",
        &json!({"http/crm": {"bearer": "s3cr3t-token", "hosts": ["127.0.0.1"]}}),
    );
    let result = output(baton(&[
        "run",
        &workflow,
        "--data-dir",
        data,
        "--http-allow",
        "127.0.0.1",
        "--credentials",
        &credentials,
        "--output",
        "json",
    ]))
    .await;
    assert_eq!(result.code, 0, "{}", result.stderr);
    let execution: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(execution["output"]["body"], json!({"ok": true}));
    assert!(!result.stdout.contains("s3cr3t") && !result.stderr.contains("s3cr3t"));
    for entry in std::fs::read_dir(data).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(6).any(|window| window == b"s3cr3t"),
            "a secret reached the data dir"
        );
    }

    let without = output(baton(&[
        "run",
        &workflow,
        "--data-dir",
        data,
        "--http-allow",
        "127.0.0.1",
    ]))
    .await;
    assert_eq!(without.code, 1);
    assert!(
        without
            .stderr
            .contains("there is no http credential named \"crm\""),
        "{}",
        without.stderr
    );
}

#[tokio::test]
async fn the_seed_template_is_valid_as_written_and_actions_are_checked() {
    let seed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/wf_email_draft.json"
    );
    let result = output(baton(&["validate", seed])).await;
    assert_eq!(result.code, 0, "{}", result.stderr);

    let dir = tempfile::tempdir().unwrap();
    let wrong = write(
        dir.path(),
        "wrong.json",
        &json!({"id": "wf_wrong", "name": "x", "steps": [
            {"id": "get", "type": "integration", "service": "http", "action": "fetch", "inputs": {"url": "https://example.com"}}
        ]}),
    );
    let result = output(baton(&["validate", &wrong])).await;
    assert_eq!(result.code, 1);
    assert_eq!(
        result.stderr.trim(),
        "$.steps[0].action: service \"http\" has no action \"fetch\" (it has: request)"
    );
}

#[tokio::test]
async fn an_openai_compatible_server_is_a_provider_once_configured() {
    let dir = tempfile::tempdir().unwrap();
    let local = write(
        dir.path(),
        "local.json",
        &json!({"id": "wf_local", "name": "local", "steps": [
            {"id": "ask", "type": "llm", "provider": "ollama", "model": "llama3.2:3b", "prompt": "Hi"}
        ]}),
    );
    let result = output(baton(&["validate", &local])).await;
    assert_eq!(result.code, 1, "unknown until configured");
    assert!(
        result.stderr.contains("$.steps[0].provider"),
        "{}",
        result.stderr
    );
    let mut configured = baton(&["validate", &local]);
    configured.env("BATON_LLM_SERVERS", "ollama=http://127.0.0.1:11434/v1");
    let result = output(configured).await;
    assert_eq!(result.code, 0, "{}", result.stderr);
    let mut wrong = baton(&["validate", &local]);
    wrong.env("BATON_LLM_SERVERS", "openai=http://127.0.0.1:11434/v1");
    let result = output(wrong).await;
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains("BATON_LLM_SERVERS") && result.stderr.contains("built-in"),
        "{}",
        result.stderr
    );
}
