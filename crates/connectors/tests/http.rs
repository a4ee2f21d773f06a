//! The `http` connector against a real local server: bodies, statuses, idempotency keys and
//! the internal-address guard.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{any, get};
use baton_connectors::{AddressPolicy, ConnectorSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::connector::{ActionCall, Connectors};
use serde_json::{Value, json};

/// A request as the server saw it: method, idempotency key, body.
type Request = (String, Option<String>, String);

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Request>>>);

async fn server(seen: Seen) -> std::net::SocketAddr {
    let app = Router::new()
        .route("/json", get(|| async { axum::Json(json!({"ok": true, "items": [1, 2]})) }))
        .route("/text", get(|| async { "plain words" }))
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "no such thing") }))
        .route("/broken", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "oops") }))
        .route("/limited", get(|| async { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")], "slow down") }))
        .route("/redirect-inside", get(|| async { Redirect::temporary("http://127.0.0.1:9/secret") }))
        .route(
            "/echo",
            any(move |method: axum::http::Method, headers: HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    seen.0.lock().unwrap().push((method.to_string(), key, body.clone()));
                    axum::Json(json!({"method": method.to_string(), "body": body, "type": headers.get("content-type").and_then(|v| v.to_str().ok())})).into_response()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn registry(allow: &str) -> Registry {
    Registry::new(&ConnectorSettings {
        http_allow: AddressPolicy::parse(allow).unwrap(),
        ..Default::default()
    })
}

fn call(inputs: Value) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: "http".into(),
        action: "request".into(),
        inputs,
        credential: None,
        idempotency_key: "exec-1:step_2".into(),
        secret: None,
    }
}

#[tokio::test]
async fn responses_are_parsed_by_content_type() {
    let addr = server(Seen::default()).await;
    let http = registry("127.0.0.1");
    let json_response = http
        .call(call(json!({"url": format!("http://{addr}/json")})))
        .await
        .unwrap();
    assert_eq!(json_response["status"], 200);
    assert_eq!(json_response["body"], json!({"ok": true, "items": [1, 2]}));
    common::assert_declared_output(&http, "http", "request", &json_response);
    let text = http
        .call(call(
            json!({"url": format!("http://{addr}/text"), "query": {"q": "a b", "n": 3}}),
        ))
        .await
        .unwrap();
    assert_eq!(text["body"], "plain words");
}

#[tokio::test]
async fn bodies_are_sent_with_an_idempotency_key_on_writes() {
    let seen = Seen::default();
    let addr = server(seen.clone()).await;
    let http = registry("127.0.0.1");
    let posted = http
        .call(call(
            json!({"method": "post", "url": format!("http://{addr}/echo"), "json": {"a": 1}}),
        ))
        .await
        .unwrap();
    assert_eq!(posted["body"]["type"], "application/json");
    assert_eq!(posted["body"]["body"], "{\"a\":1}");
    let form = http
        .call(call(
            json!({"method": "PUT", "url": format!("http://{addr}/echo"), "form": {"x": "1 2"}}),
        ))
        .await
        .unwrap();
    assert_eq!(form["body"]["body"], "x=1+2");
    http.call(call(json!({"url": format!("http://{addr}/echo")})))
        .await
        .unwrap();
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(seen[0].1.as_deref(), Some("exec-1:step_2"));
    assert_eq!(
        seen[2],
        ("GET".to_owned(), None, String::new()),
        "reads carry no idempotency key"
    );
    let both = http.call(call(json!({"method": "POST", "url": format!("http://{addr}/echo"), "json": {}, "body": "x"}))).await.unwrap_err();
    assert_eq!(
        both.message,
        "give at most one of `json`, `form` and `body`"
    );
}

#[tokio::test]
async fn statuses_become_transient_or_permanent_errors() {
    let addr = server(Seen::default()).await;
    let http = registry("127.0.0.1");
    let missing = http
        .call(call(json!({"url": format!("http://{addr}/missing")})))
        .await
        .unwrap_err();
    assert_eq!(
        (missing.class, missing.message.as_str()),
        (ErrorClass::Permanent, "HTTP 404 Not Found: no such thing")
    );
    let broken = http
        .call(call(json!({"url": format!("http://{addr}/broken")})))
        .await
        .unwrap_err();
    assert_eq!(broken.class, ErrorClass::Transient);
    let limited = http
        .call(call(json!({"url": format!("http://{addr}/limited")})))
        .await
        .unwrap_err();
    assert_eq!(
        (limited.class, limited.retry_after),
        (
            ErrorClass::Transient,
            Some(std::time::Duration::from_secs(7))
        )
    );
    let tolerated = http
        .call(call(
            json!({"url": format!("http://{addr}/missing"), "fail_on_status": false}),
        ))
        .await
        .unwrap();
    assert_eq!(tolerated["status"], 404);
    let refused = http
        .call(call(json!({"url": "http://127.0.0.1:9/nothing-listens"})))
        .await
        .unwrap_err();
    assert_eq!(refused.class, ErrorClass::Transient, "{}", refused.message);
}

#[tokio::test]
async fn internal_addresses_are_refused_in_every_spelling() {
    let addr = server(Seen::default()).await;
    let port = addr.port();
    let http = registry("");
    for url in [
        format!("http://127.0.0.1:{port}/json"),
        format!("http://2130706433:{port}/json"),
        format!("http://0177.0.0.1:{port}/json"),
        format!("http://0x7f.1:{port}/json"),
        format!("http://[::ffff:127.0.0.1]:{port}/json"),
        format!("http://[::1]:{port}/json"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        format!("http://localhost:{port}/json"),
        format!("http://[64:ff9b::7f00:1]:{port}/json"),
        format!("http://[2002:7f00:1::1]:{port}/json"),
        format!("http://[::ffff:0:7f00:1]:{port}/json"),
        format!("http://[fec0::1]:{port}/json"),
        "http://198.18.0.1/".to_owned(),
    ] {
        let error = http.call(call(json!({"url": url}))).await.unwrap_err();
        assert_eq!(
            error.class,
            ErrorClass::Permanent,
            "{url}: {}",
            error.message
        );
        assert!(
            error.message.contains("internal address"),
            "{url}: {}",
            error.message
        );
    }
    let error = http
        .call(call(json!({"url": "file:///etc/passwd"})))
        .await
        .unwrap_err();
    assert!(
        error.message.contains("only http and https"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_redirect_into_the_internal_network_is_refused() {
    let addr = server(Seen::default()).await;
    // The server itself is allowed by name; where it redirects to is not.
    let http = registry("localhost");
    let error = http
        .call(call(
            json!({"url": format!("http://localhost:{}/redirect-inside", addr.port())}),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error.message.contains("127.0.0.1 is an internal address"),
        "{}",
        error.message
    );
}

/// A server that dumps the headers it got at `/headers`, and redirects there from `/same`
/// (same origin) and from `/away` (the same server under another name: another origin).
async fn header_dump() -> u16 {
    let app = Router::new()
        .route(
            "/headers",
            any(|headers: HeaderMap| async move {
                let dump: serde_json::Map<String, Value> = headers
                    .iter()
                    .map(|(name, value)| (name.to_string(), json!(value.to_str().unwrap_or(""))))
                    .collect();
                axum::Json(Value::Object(dump))
            }),
        )
        .route("/same", any(|| async { Redirect::temporary("/headers") }))
        .route(
            "/away",
            any(|headers: HeaderMap| async move {
                let host = headers["host"].to_str().unwrap().to_owned();
                let port = host.rsplit(':').next().unwrap().to_owned();
                Redirect::temporary(&format!("http://127.0.0.1:{port}/headers"))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

#[tokio::test]
async fn a_credential_goes_only_to_its_hosts_and_never_across_a_redirect() {
    use baton_engine::connector::Secret;
    let port = header_dump().await;
    let http = registry("localhost,127.0.0.1");
    let with_key = |path: &str| ActionCall {
        credential: Some("crm".into()),
        secret: Some(Secret(
            json!({"header": {"name": "X-Api-Key", "value": "key-123456"}, "hosts": ["localhost"]}),
        )),
        ..call(json!({"url": format!("http://localhost:{port}{path}"),
                      "headers": {"X-Session-Token": "tok-abc", "Accept": "application/json"}}))
    };
    let same = http.call(with_key("/same")).await.unwrap();
    assert_eq!(same["body"]["x-api-key"], "key-123456", "{same}");
    assert_eq!(same["body"]["x-session-token"], "tok-abc");

    let away = http.call(with_key("/away")).await.unwrap();
    assert_eq!(away["body"]["host"], format!("127.0.0.1:{port}"), "{away}");
    assert!(away["body"].get("x-api-key").is_none(), "{away}");
    assert!(away["body"].get("x-session-token").is_none(), "{away}");
    assert_eq!(away["body"]["accept"], "application/json");

    let mut elsewhere = with_key("/headers");
    elsewhere.inputs["url"] = json!(format!("http://127.0.0.1:{port}/headers"));
    let refused = http.call(elsewhere).await.unwrap_err();
    assert_eq!(refused.class, ErrorClass::Permanent);
    assert!(
        refused
            .message
            .contains("may be sent only to localhost; this step calls 127.0.0.1"),
        "{}",
        refused.message
    );
}

#[test]
fn every_action_declares_a_schema_that_accepts_its_example() {
    let registry = registry("");
    for declaration in registry.declarations() {
        assert!(
            declaration
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'),
            "{}",
            declaration.id
        );
        for action in &declaration.actions {
            assert!(!action.description.is_empty());
            let validator = jsonschema::validator_for(&action.input_schema).unwrap();
            assert!(
                validator.is_valid(&action.example),
                "{}.{} rejects its example",
                declaration.id,
                action.id
            );
            assert!(
                !validator.is_valid(&json!({"nonsense": true})),
                "{}.{} accepts anything",
                declaration.id,
                action.id
            );
        }
    }
}

#[test]
fn what_sends_or_writes_is_known_for_a_safe_test() {
    let registry = registry("");
    let writes =
        |service: &str, action: &str, inputs: Value| registry.writes(service, action, &inputs);
    assert!(!writes("gmail", "read_email", json!({"email_id": "1"})));
    assert!(!writes("gmail", "search", json!({})));
    assert!(writes("gmail", "save_draft", json!({})));
    assert!(writes("gmail", "send", json!({})));
    assert!(writes("slack", "post_message", json!({})));
    assert!(!writes("slack", "list_channels", json!({})));
    // HTTP by its method: reading is safe, anything else (or a method not yet known) may write.
    assert!(!writes("http", "request", json!({"url": "https://x.test"})));
    assert!(!writes(
        "http",
        "request",
        json!({"method": "get", "url": "https://x.test"})
    ));
    assert!(writes(
        "http",
        "request",
        json!({"method": "DELETE", "url": "https://x.test"})
    ));
    assert!(writes(
        "http",
        "request",
        json!({"method": "{{ trigger.method }}", "url": "https://x.test"})
    ));
    // A service or action Baton does not know is taken to write.
    assert!(writes("stripe", "refund", json!({})));
    assert!(writes("gmail", "no_such_action", json!({})));
}

/// Every action of every connector has a contract test: one that checks the output the
/// connector made from its service's (fake's) answer against the action's declared output
/// schema (`common::assert_declared_output`).
#[test]
fn every_action_has_a_contract_test() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut text = String::new();
    for entry in std::fs::read_dir(&tests).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    // `assert_declared_output(&registry, "service", "action", ...)`, however it is wrapped.
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let registry = registry("");
    let mut missing = Vec::new();
    for declaration in registry.declarations() {
        for action in &declaration.actions {
            let checked = format!("\"{}\", \"{}\", &", declaration.id, action.id);
            if !text.contains(&checked) {
                missing.push(format!("{}.{}", declaration.id, action.id));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "actions without a contract test: {missing:?}"
    );
}
