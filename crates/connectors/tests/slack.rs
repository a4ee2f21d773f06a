//! The Slack connector against a local fake of Slack's Web API. The fake takes its rules from
//! Slack's own OpenAPI description (the four operations kept in `tests/contracts/slack-web.json`):
//! a request may carry only the parameters the operation declares and must carry the required
//! ones; the fake answers with the operation's documented example, which is itself checked
//! against the operation's success schema.

mod common;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use baton_connectors::{ConnectorSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::connector::{ActionCall, Connectors, Secret};
use serde_json::{Map, Value, json};

fn contract() -> Value {
    serde_json::from_str(include_str!("contracts/slack-web.json")).expect("contract JSON")
}

/// What the operation at `path` says is wrong with these parameters.
fn wrong_parameters(path: &str, given: &Map<String, Value>) -> Vec<String> {
    let contract = contract();
    let operation = contract["paths"][path]
        .as_object()
        .and_then(|methods| methods.values().next())
        .cloned()
        .unwrap_or(Value::Null);
    let declared: Vec<(String, bool)> = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|parameter| parameter["name"] != "token")
        .map(|parameter| {
            (
                parameter["name"].as_str().unwrap_or_default().to_owned(),
                parameter["required"] == true,
            )
        })
        .collect();
    let mut wrong = Vec::new();
    for name in given.keys() {
        if !declared.iter().any(|(known, _)| known == name) {
            wrong.push(format!("{path} has no parameter {name:?}"));
        }
    }
    for (name, required) in &declared {
        if *required && !given.contains_key(name) {
            wrong.push(format!("{path} needs {name:?}"));
        }
    }
    wrong
}

fn documented_answer(path: &str) -> Value {
    let contract = contract();
    let operation = contract["paths"][path]
        .as_object()
        .and_then(|methods| methods.values().next())
        .cloned()
        .unwrap();
    let mut answer = operation["responses"]["200"]["examples"]["application/json"].clone();
    if path == "/chat.postMessage"
        && let Some(message) = answer["message"].as_object_mut()
    {
        // Slack's example gives its attachment a `text` that Slack's own schema forbids.
        message.remove("attachments");
    }
    answer
}

/// The Web API methods called, with their parameters.
type Calls = Arc<Mutex<Vec<(String, Map<String, Value>)>>>;

#[derive(Clone, Default)]
struct Fake {
    seen: Calls,
    next_error: Arc<Mutex<Option<Response>>>,
}

async fn handle(
    State(fake): State<Fake>,
    Path(method): Path<String>,
    verb: Method,
    headers: HeaderMap,
    Query(query): Query<Map<String, Value>>,
    body: axum::body::Bytes,
) -> Response {
    if headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        != Some("Bearer xoxb-test")
    {
        return Json(json!({"ok": false, "error": "not_authed"})).into_response();
    }
    let given = if verb == Method::POST {
        serde_json::from_slice::<Map<String, Value>>(&body).unwrap_or_default()
    } else {
        query
    };
    let path = format!("/{method}");
    let wrong = wrong_parameters(&path, &given);
    fake.seen.lock().unwrap().push((method, given));
    if !wrong.is_empty() {
        return (StatusCode::IM_A_TEAPOT, wrong.join("; ")).into_response();
    }
    if let Some(error) = fake.next_error.lock().unwrap().take() {
        return error;
    }
    Json(documented_answer(&path)).into_response()
}

async fn slack() -> (Registry, Fake) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route("/api/{method}", axum::routing::any(handle))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let registry = Registry::new(&ConnectorSettings {
        slack_base_url: Some(format!("http://{addr}/api")),
        ..Default::default()
    });
    (registry, fake)
}

fn call(action: &str, inputs: Value, token: Option<&str>) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: "slack".into(),
        action: action.into(),
        inputs,
        credential: None,
        idempotency_key: "exec:notify".into(),
        secret: token.map(|token| Secret(json!({"bot_token": token}))),
    }
}

#[test]
fn the_documented_answers_meet_slacks_own_schemas() {
    let contract = contract();
    for path in [
        "/chat.postMessage",
        "/conversations.list",
        "/users.info",
        "/users.lookupByEmail",
    ] {
        let operation = contract["paths"][path]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        // Swagger 2.0 schemas are JSON Schema draft 4 (`items` may be a list).
        let schema = json!({
            "$schema": "http://json-schema.org/draft-04/schema#",
            "$ref": "#/x/schema",
            "x": {"schema": operation["responses"]["200"]["schema"]},
            "definitions": contract["definitions"],
        });
        let validator = jsonschema::validator_for(&schema).unwrap();
        let example = &documented_answer(path);
        let errors: Vec<String> = validator
            .iter_errors(example)
            .map(|error| error.to_string())
            .collect();
        assert!(errors.is_empty(), "{path}: {errors:?}");
    }
}

#[tokio::test]
async fn messages_are_posted_and_replied_to_in_threads() {
    let (slack, fake) = slack().await;
    let posted = slack
        .call(call(
            "post_message",
            json!({"channel": "#sales", "text": "New hot lead: *Ann*"}),
            Some("xoxb-test"),
        ))
        .await
        .unwrap();
    assert_eq!(posted["channel"], "C1H9RESGL");
    assert_eq!(posted["ts"], "1503435956.000247");
    common::assert_declared_output(&slack, "slack", "post_message", &posted);
    let replied = slack
        .call(call(
            "reply_in_thread",
            json!({"channel": "C1H9RESGL", "thread_ts": "1503435956.000247", "text": "Called her.", "broadcast": true}),
            Some("xoxb-test"),
        ))
        .await
        .unwrap();
    assert_eq!(replied["ts"], "1503435956.000247");
    common::assert_declared_output(&slack, "slack", "reply_in_thread", &replied);
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, "chat.postMessage");
    assert_eq!(seen[0].1["text"], "New hot lead: *Ann*");
    assert_eq!(seen[1].1["thread_ts"], "1503435956.000247");
    assert_eq!(seen[1].1["reply_broadcast"], true);
}

#[tokio::test]
async fn channels_are_listed_and_people_looked_up() {
    let (slack, fake) = slack().await;
    let listed = slack
        .call(call(
            "list_channels",
            json!({"limit": 5000}),
            Some("xoxb-test"),
        ))
        .await
        .unwrap();
    assert!(listed["channels"].is_array(), "{listed}");
    common::assert_declared_output(&slack, "slack", "list_channels", &listed);
    let by_email = slack
        .call(call(
            "lookup_user",
            json!({"email": "ann@example.com"}),
            Some("xoxb-test"),
        ))
        .await
        .unwrap();
    assert!(by_email["user"]["id"].is_string(), "{by_email}");
    common::assert_declared_output(&slack, "slack", "lookup_user", &by_email);
    slack
        .call(call(
            "lookup_user",
            json!({"user": "W012A3CDE"}),
            Some("xoxb-test"),
        ))
        .await
        .unwrap();
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(
        seen[0].1["limit"], "1000",
        "the limit is kept within Slack's"
    );
    assert_eq!(seen[1].0, "users.lookupByEmail");
    assert_eq!(seen[2].0, "users.info");
    let neither = slack
        .call(call("lookup_user", json!({}), Some("xoxb-test")))
        .await
        .unwrap_err();
    assert_eq!(neither.class, ErrorClass::Permanent);
}

#[tokio::test]
async fn slacks_refusals_are_sorted_for_the_retry_policy() {
    let (slack, fake) = slack().await;
    let post = || {
        call(
            "post_message",
            json!({"channel": "#sales", "text": "hi"}),
            Some("xoxb-test"),
        )
    };

    let mut limited = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"ok": false, "error": "ratelimited"})),
    )
        .into_response();
    limited
        .headers_mut()
        .insert("retry-after", "30".parse().unwrap());
    *fake.next_error.lock().unwrap() = Some(limited);
    let error = slack.call(post()).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Transient);
    assert_eq!(error.retry_after, Some(std::time::Duration::from_secs(30)));

    *fake.next_error.lock().unwrap() =
        Some(Json(json!({"ok": false, "error": "channel_not_found"})).into_response());
    let error = slack.call(post()).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(error.message.contains("channel_not_found"));

    *fake.next_error.lock().unwrap() =
        Some(Json(json!({"ok": false, "error": "token_revoked"})).into_response());
    let error = slack.call(post()).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error.message.contains("reconnect needed"),
        "{}",
        error.message
    );

    *fake.next_error.lock().unwrap() =
        Some((StatusCode::SERVICE_UNAVAILABLE, "down").into_response());
    assert_eq!(
        slack.call(post()).await.unwrap_err().class,
        ErrorClass::Transient
    );

    let error = slack
        .call(call(
            "post_message",
            json!({"channel": "#sales", "text": "hi"}),
            Some("xoxb-wrong"),
        ))
        .await
        .unwrap_err();
    assert!(error.message.contains("not_authed"), "{}", error.message);
    let error = slack
        .call(call(
            "post_message",
            json!({"channel": "#sales", "text": "hi"}),
            None,
        ))
        .await
        .unwrap_err();
    assert!(error.message.contains("there is no slack credential"));
    let error = slack
        .call(call(
            "post_message",
            json!({"text": "no channel"}),
            Some("xoxb-test"),
        ))
        .await
        .unwrap_err();
    assert!(error.message.contains("channel"), "{}", error.message);
}

#[test]
fn slack_declares_itself_with_its_scopes() {
    let registry = Registry::new(&ConnectorSettings::default());
    let catalog = registry.catalog();
    let slack = catalog
        .iter()
        .find(|item| item["id"] == "slack")
        .unwrap_or_else(|| panic!("{catalog:?}"));
    assert_eq!(slack["auth"]["kind"], "oauth2");
    assert!(
        slack["auth"]["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|scope| scope == "chat:write")
    );
    let ids: Vec<&str> = slack["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|action| action["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "post_message",
            "reply_in_thread",
            "list_channels",
            "lookup_user"
        ]
    );
}
