//! Webhook triggers through the real router with a worker: on SQLite, and on PostgreSQL when
//! configured.

mod common;

use axum::http::{Request, StatusCode, header};
use common::harness;
use common::{App, Reply, TestStore, executions, send, sign_up};
use serde_json::{Value, json};

/// The documented limit of a hook body: 1 MiB.
const HOOK_BODY_LIMIT: usize = 1 << 20;

conformance!(
    an_active_hook_starts_the_workflow_with_the_request,
    a_hook_in_respond_mode_answers_with_the_output,
    a_hook_in_respond_mode_that_calls_out_runs_durably,
    a_signed_hook_refuses_unsigned_and_wrongly_signed_calls,
    a_repeated_delivery_runs_once,
    standard_webhooks_are_timed_and_their_signed_id_runs_once,
    a_hook_url_is_made_when_the_workflow_is_saved_not_when_it_is_read,
    oversized_unknown_and_inactive_hooks_are_refused,
    slack_events_are_verified_challenged_and_run_once,
    resend_events_are_verified_by_svix_and_run_once,
    stripe_events_are_verified_and_each_event_runs_once,
    asanas_handshake_sets_the_secret_once_and_signed_events_run_once,
    hubspot_events_are_verified_over_the_called_url_and_run_once,
    calendly_bookings_are_verified_and_each_runs_once,
    zapier_and_make_start_runs_with_what_they_send,
);

fn echo(respond: bool) -> Value {
    json!({"id": "wf_echo", "name": "Echo", "trigger": {"type": "webhook", "respond": respond}, "steps": [
        {"id": "shape", "type": "transformation", "action": "set", "inputs": {
            "greeting": "hello {{ trigger.body.name }}",
            "source": "{{ trigger.query.source }}",
            "method": "{{ trigger.method }}"
        }}
    ]})
}

/// An Owner with `workflow` saved and active; returns the session and the hook's path.
async fn hooked(app: &App, workflow: Value) -> ([String; 2], String) {
    let owner = sign_up(app, "owner@example.com").await.session();
    let created = send(
        app,
        "POST",
        "/api/v1/workflows",
        Some(workflow),
        &[&owner[0]],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let activated = send(
        app,
        "POST",
        "/api/v1/workflows/wf_echo/activate",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(activated.status, StatusCode::OK);
    let hook = send(
        app,
        "GET",
        "/api/v1/workflows/wf_echo/hook",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(hook.status, StatusCode::OK, "{}", hook.body);
    let url = hook.body["url"].as_str().unwrap();
    let path = url.strip_prefix("http://baton.test").unwrap().to_owned();
    assert!(
        path.starts_with("/hooks/") && path.len() > "/hooks/".len() + 30,
        "unguessable: {path}"
    );
    (owner, path)
}

async fn call(app: &App, path: &str, kind: &str, body: &[u8], extra: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::HOST, "baton.test")
        .header(header::CONTENT_TYPE, kind);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let request = request.body(axum::body::Body::from(body.to_vec())).unwrap();
    let response = tower::ServiceExt::oneshot(app.router.clone(), request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        cookies: Vec::new(),
        headers: Default::default(),
    }
}

async fn finished(app: &App, owner: &[String; 2], id: &str) -> Value {
    for _ in 0..200 {
        let reply = send(
            app,
            "GET",
            &format!("/api/v1/executions/{id}"),
            None,
            &[&owner[0]],
        )
        .await;
        if reply.body["state"] == "COMPLETED" || reply.body["state"] == "FAILED" {
            return reply.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("execution {id} did not finish");
}

async fn an_active_hook_starts_the_workflow_with_the_request(test: &TestStore) {
    let app = App::on(test);
    let (owner, path) = hooked(&app, echo(false)).await;
    let accepted = call(
        &app,
        &format!("{path}?source=crm"),
        "application/json",
        br#"{"name": "Ann"}"#,
        &[],
    )
    .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    let id = accepted.body["execution_id"].as_str().unwrap();
    let done = finished(&app, &owner, id).await;
    assert_eq!(done["trigger"], "webhook");
    assert_eq!(
        done["output"],
        json!({"greeting": "hello Ann", "source": "crm", "method": "POST"})
    );

    let form = call(
        &app,
        &format!("{path}?source=form"),
        "application/x-www-form-urlencoded",
        b"name=Bob&x=1",
        &[],
    )
    .await;
    let done = finished(&app, &owner, form.body["execution_id"].as_str().unwrap()).await;
    assert_eq!(done["output"]["greeting"], "hello Bob");
    assert_eq!(done["input"]["body"], json!({"name": "Bob", "x": "1"}));

    let raw = call(
        &app,
        &path,
        "text/plain",
        b"just text",
        &[
            ("authorization", "Bearer secret"),
            ("x-api-key", "key-123"),
            ("cookie", "session=abc"),
            ("x-auth-token", "tok"),
            ("x-request-id", "req-9"),
        ],
    )
    .await;
    let done = finished(&app, &owner, raw.body["execution_id"].as_str().unwrap()).await;
    assert_eq!(done["input"]["body"], "just text");
    for name in ["authorization", "x-api-key", "cookie", "x-auth-token"] {
        assert!(
            done["input"]["headers"].get(name).is_none(),
            "credentials are not passed on: {name}"
        );
    }
    assert_eq!(done["input"]["headers"]["x-request-id"], "req-9");
    assert_eq!(done["input"]["headers"]["content-type"], "text/plain");

    let broken = call(&app, &path, "application/json", b"{not json", &[]).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
}

async fn a_hook_in_respond_mode_answers_with_the_output(test: &TestStore) {
    let app = App::on(test);
    let (owner, path) = hooked(&app, echo(true)).await;
    let answered = call(
        &app,
        &format!("{path}?source=web"),
        "application/json",
        br#"{"name": "Cy"}"#,
        &[],
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    assert_eq!(
        answered.body,
        json!({"greeting": "hello Cy", "source": "web", "method": "POST"})
    );
    // Answered means stored: the execution is there, finished, with its step.
    let listed = send(&app, "GET", "/api/v1/executions", None, &[&owner[0]]).await;
    let stored = &listed.body["items"][0];
    assert_eq!(stored["state"], "COMPLETED", "{}", listed.body);
    assert_eq!(stored["trigger"], "webhook");
    let detail = finished(&app, &owner, stored["id"].as_str().unwrap()).await;
    assert_eq!(detail["output"], answered.body);
    assert_eq!(detail["input"]["body"], json!({"name": "Cy"}));
    assert_eq!(detail["steps"][0]["id"], "shape");
    assert_eq!(detail["steps"][0]["state"], "COMPLETED");
    assert_eq!(detail["steps"][0]["output"], answered.body);
    assert!(detail["started_at"].is_string() && detail["finished_at"].is_string());

    let mut failing = echo(true);
    failing["steps"][0] = json!({"id": "boom", "type": "transformation", "action": "calculate", "inputs": {"expression": "trigger.body.missing * 2"}});
    let saved = send(
        &app,
        "PUT",
        "/api/v1/workflows/wf_echo",
        Some(failing),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let failed = call(&app, &path, "application/json", b"{}", &[]).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);
    assert_eq!(failed.body["error"]["code"], "workflow_failed");
    assert!(
        failed.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing")
    );
    let listed = send(
        &app,
        "GET",
        "/api/v1/executions?state=FAILED",
        None,
        &[&owner[0]],
    )
    .await;
    let stored = finished(
        &app,
        &owner,
        listed.body["items"][0]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(stored["steps"][0]["id"], "boom");
    assert_eq!(stored["steps"][0]["state"], "FAILED");
    assert_eq!(stored["error"]["step"], "boom", "{stored}");
}

async fn a_hook_in_respond_mode_that_calls_out_runs_durably(test: &TestStore) {
    // A step that calls another service: stored and checkpointed before the call, as any run.
    let service = axum::Router::new().route(
        "/score",
        axum::routing::post(|| async { axum::Json(json!({"score": 87})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    let app = App::reaching_localhost(test);
    let workflow = json!({"id": "wf_echo", "name": "Score", "trigger": {"type": "webhook", "respond": true}, "steps": [
        {"id": "score", "type": "integration", "service": "http", "action": "request",
         "inputs": {"method": "POST", "url": format!("http://{addr}/score"), "json": "{{ trigger.body }}"}},
        {"id": "answer", "type": "transformation", "action": "set", "inputs": {
            "name": "{{ trigger.body.name }}", "score": "{{ score.body.score }}"}}
    ]});
    let (owner, path) = hooked(&app, workflow).await;
    let answered = call(&app, &path, "application/json", br#"{"name": "Cy"}"#, &[]).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    assert_eq!(answered.body, json!({"name": "Cy", "score": 87}));
    let listed = send(&app, "GET", "/api/v1/executions", None, &[&owner[0]]).await;
    let stored = finished(
        &app,
        &owner,
        listed.body["items"][0]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(stored["state"], "COMPLETED");
    let steps: Vec<&str> = stored["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["id"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["score", "answer"]);
    assert_eq!(stored["steps"][0]["attempts"], 1, "the call ran once");
}

/// HMAC-SHA256 of `signed` under `secret`, in hex.
fn hmac_hex(secret: &str, signed: &[u8]) -> String {
    baton_connectors::webhook::hex_signature(secret, signed)
}

fn signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(secret, body))
}

async fn a_signed_hook_refuses_unsigned_and_wrongly_signed_calls(test: &TestStore) {
    let app = App::on(test);
    let (owner, path) = hooked(&app, echo(false)).await;
    let made = send(
        &app,
        "POST",
        "/api/v1/workflows/wf_echo/hook/secret",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert_eq!(made.body["signed"], true);
    let secret = made.body["secret"].as_str().unwrap().to_owned();
    let shown = send(
        &app,
        "GET",
        "/api/v1/workflows/wf_echo/hook",
        None,
        &[&owner[0]],
    )
    .await;
    assert!(
        shown.body.get("secret").is_none(),
        "the secret is shown once"
    );
    let token = path.strip_prefix("/hooks/").unwrap();
    let (stored, _) = test.store.hook_by_token(token).await.unwrap().unwrap();
    let stored = stored.secret.unwrap();
    assert!(
        stored.starts_with("sealed:v1:") && !stored.contains(&secret),
        "the store keeps the secret sealed: {stored}"
    );

    let body = br#"{"name": "Dee"}"#;
    let unsigned = call(&app, &path, "application/json", body, &[]).await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    let wrong = call(
        &app,
        &path,
        "application/json",
        body,
        &[("x-baton-signature", &signature("not-it", body))],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let tampered = call(
        &app,
        &path,
        "application/json",
        br#"{"name": "Eve"}"#,
        &[("x-baton-signature", &signature(&secret, body))],
    )
    .await;
    assert_eq!(tampered.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        executions(&app, &owner).await.len(),
        0,
        "a refused call runs nothing"
    );
    let good = call(
        &app,
        &path,
        "application/json",
        body,
        &[("x-baton-signature", &signature(&secret, body))],
    )
    .await;
    assert_eq!(good.status, StatusCode::ACCEPTED, "{}", good.body);
    assert_eq!(executions(&app, &owner).await.len(), 1);

    let dropped = send(
        &app,
        "DELETE",
        "/api/v1/workflows/wf_echo/hook/secret",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(dropped.body["signed"], false);
    assert_eq!(
        call(&app, &path, "application/json", body, &[])
            .await
            .status,
        StatusCode::ACCEPTED
    );
}

async fn a_repeated_delivery_runs_once(test: &TestStore) {
    let app = App::on(test);
    let (owner, path) = hooked(&app, echo(false)).await;
    let first = call(
        &app,
        &path,
        "application/json",
        br#"{"name": "Fay"}"#,
        &[("idempotency-key", "order-77")],
    )
    .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let again = call(
        &app,
        &path,
        "application/json",
        br#"{"name": "Fay"}"#,
        &[("idempotency-key", "order-77")],
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["execution_id"], first.body["execution_id"]);
    assert_eq!(again.body["repeated"], true);
    let by_delivery_id = call(
        &app,
        &path,
        "application/json",
        br#"{"name": "Fay"}"#,
        &[("x-delivery-id", "order-77")],
    )
    .await;
    assert_eq!(
        by_delivery_id.body["execution_id"],
        first.body["execution_id"]
    );
    let another_body = call(
        &app,
        &path,
        "application/json",
        br#"{"name": "Gil"}"#,
        &[("idempotency-key", "order-77")],
    )
    .await;
    assert_eq!(
        another_body.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the same key with another body is refused: {}",
        another_body.body
    );
    let other = call(
        &app,
        &path,
        "application/json",
        b"{}",
        &[("x-delivery-id", "order-78")],
    )
    .await;
    assert_eq!(other.status, StatusCode::ACCEPTED, "{}", other.body);
    assert_ne!(other.body["execution_id"], first.body["execution_id"]);
    assert_eq!(executions(&app, &owner).await.len(), 2);
}

async fn oversized_unknown_and_inactive_hooks_are_refused(test: &TestStore) {
    let app = App::on(test);
    let (owner, path) = hooked(&app, echo(false)).await;
    let big = vec![b'a'; HOOK_BODY_LIMIT + 1];
    let too_big = call(&app, &path, "text/plain", &big, &[]).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_big.body["error"]["code"], "too_large");
    assert_eq!(
        call(
            &app,
            "/hooks/not-a-real-token",
            "application/json",
            b"{}",
            &[]
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    send(
        &app,
        "POST",
        "/api/v1/workflows/wf_echo/deactivate",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        call(&app, &path, "application/json", b"{}", &[])
            .await
            .status,
        StatusCode::NOT_FOUND,
        "an inactive workflow's hook is off"
    );
    assert_eq!(executions(&app, &owner).await.len(), 0);
}

fn slack_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("v0:{timestamp}:").into_bytes();
    signed.extend_from_slice(body);
    format!("v0={}", hmac_hex(secret, &signed))
}

async fn slack_events_are_verified_challenged_and_run_once(test: &TestStore) {
    let app = App::on(test);
    let mut workflow = echo(false);
    workflow["trigger"] = json!({"type": "webhook", "verify": "slack"});
    workflow["steps"][0] = json!({"id": "shape", "type": "transformation", "action": "set", "inputs": {"text": "{{ trigger.body.event.text }}"}});
    let (owner, path) = hooked(&app, workflow).await;
    let now = chrono::Utc::now().timestamp();
    let now_text = now.to_string();
    let challenge = br#"{"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}"#;

    let unsecured = call(&app, &path, "application/json", challenge, &[]).await;
    refused_saying(&unsecured, "no signing secret");

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    let set = save_hook_secret(&app, &owner, SECRET).await;
    assert_eq!(set.body["signed"], true);

    let signature = slack_signature(SECRET, now, challenge);
    let answered = call(
        &app,
        &path,
        "application/json",
        challenge,
        &[
            ("x-slack-request-timestamp", &now_text),
            ("x-slack-signature", &signature),
        ],
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    assert_eq!(
        answered.body,
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
    assert_eq!(
        executions(&app, &owner).await.len(),
        0,
        "the URL check runs nothing"
    );

    let event = br#"{"type": "event_callback", "event_id": "Ev0PV52K21", "event": {"type": "message", "text": "hello from Slack"}}"#;
    let signature = slack_signature(SECRET, now, event);
    let headers = [
        ("x-slack-request-timestamp", now_text.as_str()),
        ("x-slack-signature", signature.as_str()),
    ];
    let first = call(&app, &path, "application/json", event, &headers).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let retried = call(
        &app,
        &path,
        "application/json",
        event,
        &[headers[0], headers[1], ("x-slack-retry-num", "1")],
    )
    .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(
        retried.body["execution_id"], first.body["execution_id"],
        "Slack's retry runs nothing new"
    );
    let with_own_key = call(
        &app,
        &path,
        "application/json",
        event,
        &[
            headers[0],
            headers[1],
            ("idempotency-key", "not-signed-by-slack"),
        ],
    )
    .await;
    assert_eq!(
        with_own_key.body["execution_id"], first.body["execution_id"],
        "an unsigned key does not override Slack's signed event id"
    );
    let done = finished(&app, &owner, first.body["execution_id"].as_str().unwrap()).await;
    assert_eq!(done["output"], json!({"text": "hello from Slack"}));
    assert_eq!(executions(&app, &owner).await.len(), 1);

    let forged = call(
        &app,
        &path,
        "application/json",
        event,
        &[
            ("x-slack-request-timestamp", &now_text),
            (
                "x-slack-signature",
                &slack_signature("another secret", now, event),
            ),
        ],
    )
    .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    let old = now - 600;
    let replayed = call(
        &app,
        &path,
        "application/json",
        event,
        &[
            ("x-slack-request-timestamp", &old.to_string()),
            ("x-slack-signature", &slack_signature(SECRET, old, event)),
        ],
    )
    .await;
    refused_saying(&replayed, "five minutes");
    assert_eq!(executions(&app, &owner).await.len(), 1);
}

/// Standard Webhooks headers for a call signed with `secret` at `timestamp`.
fn standard(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
    [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            baton_connectors::webhook::standard_signature(secret, id, timestamp, body),
        ),
    ]
}

async fn call_signed(
    app: &App,
    path: &str,
    body: &[u8],
    headers: &[(&'static str, String)],
) -> Reply {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    call(app, path, "application/json", body, &headers).await
}

async fn standard_webhooks_are_timed_and_their_signed_id_runs_once(test: &TestStore) {
    let app = App::on(test);
    let (owner, path) = hooked(&app, echo(false)).await;
    let made = send(
        &app,
        "POST",
        "/api/v1/workflows/wf_echo/hook/secret",
        None,
        &[&owner[0]],
    )
    .await;
    let secret = made.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(made.body["signature_scheme"], "standard_webhooks");
    let body = br#"{"name": "Gus"}"#;
    let now = chrono::Utc::now().timestamp();

    let first = call_signed(&app, &path, body, &standard(&secret, "msg_1", now, body)).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);

    // The same capture sent again, even with a fresh unsigned key of its own: the signed id wins.
    let mut replay = standard(&secret, "msg_1", now, body).to_vec();
    replay.push(("idempotency-key", "fresh-key".to_owned()));
    let again = call_signed(&app, &path, body, &replay).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["execution_id"], first.body["execution_id"]);

    // A capture replayed later than the tolerance is refused.
    let stale = call_signed(
        &app,
        &path,
        body,
        &standard(&secret, "msg_2", now - 301, body),
    )
    .await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED, "{}", stale.body);
    assert!(
        stale.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("five minutes")
    );
    // A signature over another id or time does not carry over.
    let mut moved = standard(&secret, "msg_3", now, body).to_vec();
    moved[1].1 = (now + 1).to_string();
    let moved = call_signed(&app, &path, body, &moved).await;
    assert_eq!(moved.status, StatusCode::UNAUTHORIZED);
    let wrong = call_signed(
        &app,
        &path,
        body,
        &standard("whsec_bm90LWl0", "msg_4", now, body),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    // The deprecated body signature still opens the hook.
    let legacy = call(
        &app,
        &path,
        "application/json",
        body,
        &[("x-baton-signature", &signature(&secret, body))],
    )
    .await;
    assert_eq!(legacy.status, StatusCode::ACCEPTED, "{}", legacy.body);
    assert_eq!(executions(&app, &owner).await.len(), 2);

    // A caller's key too long to keep is refused, not ignored.
    let long_key = "k".repeat(201);
    let refused = call(
        &app,
        &path,
        "application/json",
        body,
        &[
            ("x-baton-signature", &signature(&secret, body)),
            ("idempotency-key", &long_key),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(
        refused.body["error"]["details"][0]["path"],
        "idempotency-key"
    );
}

async fn a_hook_url_is_made_when_the_workflow_is_saved_not_when_it_is_read(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let manual = json!({"id": "wf_manual", "name": "Manual", "steps": [
        {"id": "a", "type": "transformation", "action": "set", "inputs": {}}
    ]});
    let created = send(
        &app,
        "POST",
        "/api/v1/workflows",
        Some(manual),
        &[&owner[0]],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    for _ in 0..2 {
        let shown = send(
            &app,
            "GET",
            "/api/v1/workflows/wf_manual/hook",
            None,
            &[&owner[0]],
        )
        .await;
        assert_eq!(
            shown.status,
            StatusCode::NOT_FOUND,
            "reading makes nothing: {}",
            shown.body
        );
    }
    let mut hooked = echo(false);
    hooked["id"] = json!("wf_manual");
    let saved = send(
        &app,
        "PUT",
        "/api/v1/workflows/wf_manual",
        Some(hooked),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let shown = send(
        &app,
        "GET",
        "/api/v1/workflows/wf_manual/hook",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let again = send(
        &app,
        "GET",
        "/api/v1/workflows/wf_manual/hook",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(again.body["url"], shown.body["url"]);
}

/// Svix's headers (Resend's webhooks): Standard Webhooks under `svix-*` names.
fn svix(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
    let [(_, id), (_, timestamp), (_, signature)] = standard(secret, id, timestamp, body);
    [
        ("svix-id", id),
        ("svix-timestamp", timestamp),
        ("svix-signature", signature),
    ]
}

async fn resend_events_are_verified_by_svix_and_run_once(test: &TestStore) {
    let app = App::on(test);
    let mut workflow = echo(false);
    workflow["trigger"] = json!({"type": "webhook", "verify": "resend"});
    workflow["steps"][0] = json!({"id": "shape", "type": "transformation", "action": "set", "inputs": {"bounced": "{{ trigger.body.data.to[0] }}", "kind": "{{ trigger.body.type }}"}});
    let (owner, path) = hooked(&app, workflow).await;
    // Resend's own example of a bounce (the spec's EmailBouncedEvent).
    let event = br#"{"type": "email.bounced", "created_at": "2024-11-22T23:41:12.126Z", "data": {"email_id": "56761188-7520-42d8-8898-ff6fc54ce618", "created_at": "2024-11-22T23:41:11.894719+00:00", "from": "Acme <onboarding@resend.dev>", "to": ["delivered@resend.dev"], "subject": "Sending this example", "bounce": {"message": "The recipient's email provider sent a hard bounce message.", "subType": "Suppressed", "type": "Permanent"}}}"#;
    let now = chrono::Utc::now().timestamp();
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    let unsecured = call(&app, &path, "application/json", event, &[]).await;
    refused_saying(&unsecured, "no signing secret");
    save_hook_secret(&app, &owner, SECRET).await;

    let signed = svix(SECRET, "msg_2pTCwXgJbYwY3mJ3sMqLQZ8ZXR5", now, event);
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let first = call(&app, &path, "application/json", event, &headers).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let retried = call_signed(&app, &path, event, &signed).await;
    assert_eq!(
        retried.body["execution_id"], first.body["execution_id"],
        "Svix's retry of a delivery runs nothing new"
    );
    let done = finished(&app, &owner, first.body["execution_id"].as_str().unwrap()).await;
    assert_eq!(
        done["output"],
        json!({"bounced": "delivered@resend.dev", "kind": "email.bounced"})
    );

    let forged = svix(
        "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldA==",
        "msg_forged",
        now,
        event,
    );
    let forged: Vec<(&str, &str)> = forged
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let refused = call(&app, &path, "application/json", event, &forged).await;
    refused_saying(&refused, "svix-signature");
    let old = svix(SECRET, "msg_old", now - 600, event);
    let old: Vec<(&str, &str)> = old
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let replayed = call(&app, &path, "application/json", event, &old).await;
    refused_saying(&replayed, "five minutes");
    assert_eq!(
        executions(&app, &owner).await.len(),
        1,
        "only the genuine delivery ran, once"
    );
}

/// "Receive from Zapier or Make": a Baton webhook trigger takes what Webhooks by Zapier (POST,
/// as form fields or JSON) and Make's HTTP module (JSON) send.
async fn zapier_and_make_start_runs_with_what_they_send(test: &TestStore) {
    let app = App::on(test);
    let mut workflow = echo(false);
    workflow["steps"][0] = json!({"id": "shape", "type": "transformation", "action": "set", "inputs": {"who": "{{ trigger.body.name }} <{{ trigger.body.email }}>", "from": "{{ trigger.headers['user-agent'] }}"}});
    let (owner, path) = hooked(&app, workflow).await;
    let sent = [
        // Webhooks by Zapier, Payload Type "form".
        (
            "application/x-www-form-urlencoded",
            &b"name=Ann+Example&email=ann%40customer.com"[..],
            "Zapier",
        ),
        // Webhooks by Zapier, Payload Type "json".
        (
            "application/json",
            &br#"{"name": "Ann Example", "email": "ann@customer.com"}"#[..],
            "Zapier",
        ),
        // Make, HTTP "Make a request" with a JSON body.
        (
            "application/json; charset=utf-8",
            &br#"{"name":"Ann Example","email":"ann@customer.com","score":92}"#[..],
            "Make/production",
        ),
    ];
    for (kind, body, agent) in sent {
        let started = call(&app, &path, kind, body, &[("user-agent", agent)]).await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
        let done = finished(&app, &owner, started.body["execution_id"].as_str().unwrap()).await;
        assert_eq!(
            done["output"],
            json!({"who": "Ann Example <ann@customer.com>", "from": agent}),
            "{kind} from {agent}"
        );
    }

    // Neither tool can sign, but both can send a header: with `verify: header` the hook takes
    // only calls carrying its secret in X-Baton-Secret (kept out of `trigger.headers`).
    let mut guarded = echo(false);
    guarded["trigger"] = json!({"type": "webhook", "verify": "header"});
    guarded["steps"][0] = json!({"id": "shape", "type": "transformation", "action": "set", "inputs": {"email": "{{ trigger.body.email }}", "secret_seen": "{{ 'x-baton-secret' in trigger.headers }}"}});
    let saved = send(
        &app,
        "PUT",
        "/api/v1/workflows/wf_echo",
        Some(guarded),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let body = &br#"{"email": "ann@customer.com"}"#[..];
    let without = call(&app, &path, "application/json", body, &[]).await;
    assert_eq!(without.status, StatusCode::UNAUTHORIZED);
    assert!(
        without.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has no secret"),
        "{}",
        without.body
    );
    let made = send(
        &app,
        "POST",
        "/api/v1/workflows/wf_echo/hook/secret",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        (
            made.body["signature_scheme"].as_str(),
            made.body["signature_header"].as_str()
        ),
        (Some("header_secret"), Some("x-baton-secret")),
        "the hook says how a call proves it knows the secret"
    );
    let secret = made.body["secret"].as_str().unwrap().to_owned();
    let wrong = call(
        &app,
        &path,
        "application/json",
        body,
        &[("x-baton-secret", "guess")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-Baton-Secret"),
        "{}",
        wrong.body
    );
    let right = call(
        &app,
        &path,
        "application/json",
        body,
        &[("x-baton-secret", &secret), ("user-agent", "Zapier")],
    )
    .await;
    assert_eq!(right.status, StatusCode::ACCEPTED, "{}", right.body);
    let done = finished(&app, &owner, right.body["execution_id"].as_str().unwrap()).await;
    assert_eq!(done["output"]["email"], "ann@customer.com");
    assert_eq!(
        done["output"]["secret_seen"], false,
        "the secret never reaches the run: {done}"
    );
}

/// Stripe's `Stripe-Signature` for `body` at `timestamp`.
fn stripe_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("t={timestamp},v1={}", hmac_hex(secret, &signed))
}

async fn stripe_events_are_verified_and_each_event_runs_once(test: &TestStore) {
    let app = App::on(test);
    let mut workflow = echo(false);
    workflow["trigger"] = json!({"type": "webhook", "verify": "stripe"});
    workflow["steps"][0] = json!({"id": "shape", "type": "transformation", "action": "set", "inputs": {
        "kind": "{{ trigger.body.type }}",
        "email": "{{ trigger.body.data.object.customer_email }}",
        "paid": "{{ trigger.body.data.object.amount_paid }}"
    }});
    let (owner, path) = hooked(&app, workflow).await;
    const SECRET: &str = "whsec_7Qm2dWk9Tb3Yx8Lr";
    let event = br#"{"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event", "api_version": "2023-08-16", "created": 1686089970, "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": "invoice.paid", "data": {"object": {"id": "in_1NG8Dt2eZvKYlo2C", "object": "invoice", "customer_email": "ann@customer.com", "amount_paid": 4500, "currency": "eur", "status": "paid"}}}"#;
    let now = chrono::Utc::now().timestamp();
    let hook = send(
        &app,
        "GET",
        "/api/v1/workflows/wf_echo/hook",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(hook.body["signature_scheme"], "stripe", "{}", hook.body);
    assert_eq!(hook.body["signature_header"], "stripe-signature");

    let unsecured = call(&app, &path, "application/json", event, &[]).await;
    refused_saying(&unsecured, "no signing secret");
    save_hook_secret(&app, &owner, SECRET).await;

    let signed = stripe_signature(SECRET, now, event);
    let first = call(
        &app,
        &path,
        "application/json",
        event,
        &[("stripe-signature", &signed)],
    )
    .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    // Stripe sends an event again when it saw no 2xx in time, signed afresh.
    let resigned = stripe_signature(SECRET, now + 1, event);
    let again = call(
        &app,
        &path,
        "application/json",
        event,
        &[("stripe-signature", &resigned)],
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["repeated"], true);
    assert_eq!(
        again.body["execution_id"], first.body["execution_id"],
        "the same event runs once"
    );
    let done = finished(&app, &owner, first.body["execution_id"].as_str().unwrap()).await;
    assert_eq!(
        done["output"],
        json!({"kind": "invoice.paid", "email": "ann@customer.com", "paid": 4500})
    );

    let forged = stripe_signature("whsec_someone_else", now, event);
    let refused = call(
        &app,
        &path,
        "application/json",
        event,
        &[("stripe-signature", &forged)],
    )
    .await;
    refused_saying(&refused, "Stripe-Signature");
    let old = stripe_signature(SECRET, now - 600, event);
    let replayed = call(
        &app,
        &path,
        "application/json",
        event,
        &[("stripe-signature", &old)],
    )
    .await;
    refused_saying(&replayed, "5 minutes");
    assert_eq!(
        executions(&app, &owner).await.len(),
        1,
        "only the genuine event ran, once"
    );
}

/// Saves `secret` as wf_echo's hook secret (another system's signing secret).
async fn save_hook_secret(app: &App, owner: &[String; 2], secret: &str) -> Reply {
    let set = send(
        app,
        "PUT",
        "/api/v1/workflows/wf_echo/hook/secret",
        Some(json!({"secret": secret})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    set
}

/// Fails unless the hook refused the call (401) saying `reason`.
fn refused_saying(reply: &Reply, reason: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(reason), "{message}");
}

async fn asanas_handshake_sets_the_secret_once_and_signed_events_run_once(test: &TestStore) {
    let app = App::on(test);
    let mut workflow = echo(false);
    workflow["trigger"] = json!({"type": "webhook", "verify": "asana"});
    workflow["steps"][0] = json!({"id": "shape", "type": "transformation", "action": "set", "inputs": {
        "action": "{{ trigger.body.events[0].action }}",
        "task": "{{ trigger.body.events[0].resource.gid }}"
    }});
    let (owner, path) = hooked(&app, workflow).await;
    let event = br#"{"events": [{"user": {"gid": "1200000000000001", "resource_type": "user"}, "created_at": "2026-12-04T10:00:00.000Z", "action": "added", "resource": {"gid": "1204000000000040", "resource_type": "task"}, "parent": {"gid": "1204000000000001", "resource_type": "project"}}]}"#;
    let early = call(
        &app,
        &path,
        "application/json",
        event,
        &[("x-hook-signature", "00")],
    )
    .await;
    refused_saying(&early, "no Asana secret yet");

    // Asana's handshake: the secret comes back in the same header, and is kept.
    const SECRET: &str = "7f0e2e64d8b14b6ca1f0b9f2d2a7c3e1";
    let request = Request::builder()
        .method("POST")
        .uri(&path)
        .header(header::HOST, "baton.test")
        .header("x-hook-secret", SECRET)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-hook-secret"], SECRET);
    let shown = send(
        &app,
        "GET",
        "/api/v1/workflows/wf_echo/hook",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(shown.body["signed"], true, "{}", shown.body);
    assert_eq!(shown.body["signature_scheme"], "asana");
    // Someone else's handshake cannot replace it.
    let hijack = call(
        &app,
        &path,
        "application/json",
        b"",
        &[("x-hook-secret", "attacker-secret-123")],
    )
    .await;
    refused_saying(&hijack, "already has an Asana secret");

    let signature = hmac_hex(SECRET, event);
    let first = call(
        &app,
        &path,
        "application/json",
        event,
        &[("x-hook-signature", &signature)],
    )
    .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let again = call(
        &app,
        &path,
        "application/json",
        event,
        &[("x-hook-signature", &signature)],
    )
    .await;
    assert_eq!(
        again.body["execution_id"], first.body["execution_id"],
        "a delivery sent again runs once"
    );
    let done = finished(&app, &owner, first.body["execution_id"].as_str().unwrap()).await;
    assert_eq!(
        done["output"],
        json!({"action": "added", "task": "1204000000000040"})
    );
    let heartbeat = br#"{"events": []}"#;
    let beat = call(
        &app,
        &path,
        "application/json",
        heartbeat,
        &[("x-hook-signature", &hmac_hex(SECRET, heartbeat))],
    )
    .await;
    assert_eq!(
        beat.status,
        StatusCode::OK,
        "a heartbeat is answered: {}",
        beat.body
    );
    let forged = call(
        &app,
        &path,
        "application/json",
        event,
        &[("x-hook-signature", &hmac_hex("someone-else", event))],
    )
    .await;
    refused_saying(&forged, "X-Hook-Signature");
    assert_eq!(
        executions(&app, &owner).await.len(),
        1,
        "only the genuine event ran, once"
    );
}

/// HubSpot's `X-HubSpot-Signature-v3` for a POST of `body` to `url` at `timestamp` (ms).
fn hubspot_signature(secret: &str, url: &str, body: &[u8], timestamp: i64) -> String {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("POST{url}").as_bytes());
    mac.update(body);
    mac.update(timestamp.to_string().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn hubspot_events_are_verified_over_the_called_url_and_run_once(test: &TestStore) {
    let app = App::on(test);
    let mut workflow = echo(false);
    workflow["trigger"] = json!({"type": "webhook", "verify": "hubspot"});
    workflow["steps"][0] = json!({"id": "shape", "type": "transformation", "action": "set", "inputs": {
        "kind": "{{ trigger.body[0].subscriptionType }}", "contact": "{{ trigger.body[0].objectId }}"
    }});
    let (owner, path) = hooked(&app, workflow).await;
    const SECRET: &str = "0f5e2b1c-9d8a-4b7c-8e6f-5a4b3c2d1e0f";
    save_hook_secret(&app, &owner, SECRET).await;
    let shown = send(
        &app,
        "GET",
        "/api/v1/workflows/wf_echo/hook",
        None,
        &[&owner[0]],
    )
    .await;
    let url = shown.body["url"].as_str().unwrap().to_owned();
    assert_eq!(shown.body["signature_header"], "x-hubspot-signature-v3");
    let body = br#"[{"eventId": 1, "subscriptionId": 2, "portalId": 3, "occurredAt": 1764840000000, "subscriptionType": "contact.creation", "attemptNumber": 0, "objectId": 101, "changeSource": "CRM"}]"#;
    let now = chrono::Utc::now().timestamp_millis();
    let now_text = now.to_string();
    let signature = hubspot_signature(SECRET, &url, body, now);
    let headers = [
        ("x-hubspot-signature-v3", signature.as_str()),
        ("x-hubspot-request-timestamp", now_text.as_str()),
    ];
    let first = call(&app, &path, "application/json", body, &headers).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let again = call(&app, &path, "application/json", body, &headers).await;
    assert_eq!(
        again.body["execution_id"], first.body["execution_id"],
        "a delivery sent again runs once"
    );
    let done = finished(&app, &owner, first.body["execution_id"].as_str().unwrap()).await;
    assert_eq!(
        done["output"],
        json!({"kind": "contact.creation", "contact": 101})
    );
    let elsewhere = hubspot_signature(SECRET, "https://elsewhere.example/hooks/x", body, now);
    let forged = call(
        &app,
        &path,
        "application/json",
        body,
        &[
            ("x-hubspot-signature-v3", elsewhere.as_str()),
            ("x-hubspot-request-timestamp", now_text.as_str()),
        ],
    )
    .await;
    refused_saying(&forged, "X-HubSpot-Signature-v3");
    let old = now - 10 * 60 * 1000;
    let old_text = old.to_string();
    let stale = hubspot_signature(SECRET, &url, body, old);
    let replayed = call(
        &app,
        &path,
        "application/json",
        body,
        &[
            ("x-hubspot-signature-v3", stale.as_str()),
            ("x-hubspot-request-timestamp", old_text.as_str()),
        ],
    )
    .await;
    refused_saying(&replayed, "five minutes");
    assert_eq!(
        executions(&app, &owner).await.len(),
        1,
        "only the genuine delivery ran, once"
    );
}

async fn calendly_bookings_are_verified_and_each_runs_once(test: &TestStore) {
    let app = App::on(test);
    let mut workflow = echo(false);
    workflow["trigger"] = json!({"type": "webhook", "verify": "calendly"});
    workflow["steps"][0] = json!({"id": "shape", "type": "transformation", "action": "set", "inputs": {
        "kind": "{{ trigger.body.event }}", "who": "{{ trigger.body.payload.email }}"
    }});
    let (owner, path) = hooked(&app, workflow).await;
    let body = br#"{"event": "invitee.canceled", "created_at": "2026-12-04T10:00:00.000000Z", "payload": {"uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/DDDDDDDDDDDDDDDD", "email": "bob@customer.com", "status": "canceled"}}"#;
    let sign = |key: &str, timestamp: i64| {
        let mut signed = format!("{timestamp}.").into_bytes();
        signed.extend_from_slice(body);
        format!("t={timestamp},v1={}", hmac_hex(key, &signed))
    };
    let now = chrono::Utc::now().timestamp();
    let unsecured = call(
        &app,
        &path,
        "application/json",
        body,
        &[("calendly-webhook-signature", &sign("x", now))],
    )
    .await;
    refused_saying(&unsecured, "no signing key");
    const KEY: &str = "calendly-signing-key-123";
    save_hook_secret(&app, &owner, KEY).await;
    let first = call(
        &app,
        &path,
        "application/json",
        body,
        &[("calendly-webhook-signature", &sign(KEY, now))],
    )
    .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let again = call(
        &app,
        &path,
        "application/json",
        body,
        &[("calendly-webhook-signature", &sign(KEY, now + 30))],
    )
    .await;
    assert_eq!(
        again.body["execution_id"], first.body["execution_id"],
        "the same cancellation runs once"
    );
    let done = finished(&app, &owner, first.body["execution_id"].as_str().unwrap()).await;
    assert_eq!(
        done["output"],
        json!({"kind": "invitee.canceled", "who": "bob@customer.com"})
    );
    let forged = call(
        &app,
        &path,
        "application/json",
        body,
        &[("calendly-webhook-signature", &sign("someone-else", now))],
    )
    .await;
    refused_saying(&forged, "Calendly-Webhook-Signature");
    let stale = call(
        &app,
        &path,
        "application/json",
        body,
        &[("calendly-webhook-signature", &sign(KEY, now - 900))],
    )
    .await;
    refused_saying(&stale, "minutes from now");
    assert_eq!(
        executions(&app, &owner).await.len(),
        1,
        "only the genuine event ran, once"
    );
}
