//! The Gmail connector against a local fake of the Gmail API whose rules come from Google's
//! discovery document (five methods kept in `tests/contracts/gmail-v1.json`): request bodies
//! must match the method's request schema, query parameters must be ones the method declares,
//! and the fake's answers match the response schemas.

mod common;
#[path = "common/discovery.rs"]
mod discovery;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use baton_connectors::{ConnectorSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::connector::{ActionCall, Connectors, PollCall, Secret};
use discovery::Discovery;
use serde_json::{Map, Value, json};

static CONTRACT: std::sync::LazyLock<Discovery> =
    std::sync::LazyLock::new(|| Discovery::new(include_str!("contracts/gmail-v1.json")));

fn problems(schema: &str, value: &Value) -> Vec<String> {
    CONTRACT.problems(schema, value)
}

fn undeclared(method: &str, query: &Map<String, Value>) -> Vec<String> {
    CONTRACT.undeclared(method, query)
}

fn encode(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn original_message() -> Value {
    json!({
        "id": "18c2f0a1b2c3d4e5", "threadId": "18c2f0a1b2c3d4e5", "labelIds": ["INBOX", "UNREAD"],
        "snippet": "Where is my invoice?", "historyId": "4242", "internalDate": "1764590000000", "sizeEstimate": 2048,
        "payload": {
            "partId": "", "mimeType": "multipart/alternative", "filename": "",
            "headers": [
                {"name": "From", "value": "Ann Example <ann@customer.com>"},
                {"name": "To", "value": "support@acme.test"},
                {"name": "Subject", "value": "Invoice 42"},
                {"name": "Message-ID", "value": "<CAB123@mail.customer.com>"}
            ],
            "body": {"size": 0},
            "parts": [
                {"partId": "0", "mimeType": "text/plain", "filename": "", "headers": [], "body": {"size": 21, "data": encode("Where is my invoice?\n")}},
                {"partId": "1", "mimeType": "text/html", "filename": "", "headers": [], "body": {"size": 30, "data": encode("<p>Where is my invoice?</p>")}}
            ]
        }
    })
}

#[derive(Clone, Default)]
struct Fake {
    drafts: Arc<Mutex<Vec<Value>>>,
    /// The messages sent (`messages.send` bodies).
    sent: Arc<Mutex<Vec<Value>>>,
    fail_next: Arc<Mutex<Option<Response>>>,
    /// The mailbox's history: (history id, message added).
    history: Arc<Mutex<Vec<(u64, Value)>>>,
    /// How many parts each batch request carried.
    batches: Arc<Mutex<Vec<usize>>>,
}

/// Gmail's batch endpoint: `multipart/mixed` parts, each an HTTP request, answered in kind.
async fn batch(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"code": 401, "message": "Invalid Credentials", "status": "UNAUTHENTICATED"}}))).into_response();
    }
    let content_type = headers["content-type"].to_str().unwrap();
    let Some(boundary) = content_type.strip_prefix("multipart/mixed; boundary=") else {
        return (StatusCode::BAD_REQUEST, "not multipart/mixed").into_response();
    };
    let mut answer = String::new();
    let mut parts = 0;
    for part in body.split(&format!("--{boundary}")).skip(1) {
        if part.starts_with("--") {
            continue;
        }
        parts += 1;
        let (outer, request) = part.trim_start().split_once("\r\n\r\n").unwrap();
        assert!(outer.contains("Content-Type: application/http"), "{outer}");
        let id = outer
            .split("<item-")
            .nth(1)
            .unwrap()
            .trim_end_matches('>')
            .trim();
        let line = request.lines().next().unwrap();
        let target = line.strip_prefix("GET ").unwrap();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query: Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        let wrong = undeclared("messages.get", &query);
        let message_id = path
            .strip_prefix("/gmail/v1/users/me/messages/")
            .unwrap_or("?");
        let (status, json) = if !wrong.is_empty() {
            (
                "400 Bad Request",
                json!({"error": {"code": 400, "message": wrong.join("; ")}}),
            )
        } else if message_id == "18c2f0a1b2c3d4e5" {
            ("200 OK", original_message())
        } else {
            (
                "404 Not Found",
                json!({"error": {"code": 404, "message": "Requested entity was not found."}}),
            )
        };
        answer.push_str(&format!(
            "--batch_answer\r\nContent-Type: application/http\r\nContent-ID: <response-item-{id}>\r\n\r\nHTTP/1.1 {status}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{json}\r\n"
        ));
    }
    answer.push_str("--batch_answer--\r\n");
    fake.batches.lock().unwrap().push(parts);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "multipart/mixed; boundary=batch_answer",
        )],
        answer,
    )
        .into_response()
}

/// The oldest history id the fake keeps, and where the mailbox starts.
const HISTORY_START: u64 = 1000;

impl Fake {
    fn arrive(&self, id: &str, labels: &[&str]) {
        let mut history = self.history.lock().unwrap();
        let next = HISTORY_START + history.len() as u64 + 1;
        history.push((
            next,
            json!({"id": id, "threadId": format!("t-{id}"), "labelIds": labels}),
        ));
    }

    fn history_id(&self) -> u64 {
        HISTORY_START + self.history.lock().unwrap().len() as u64
    }
}

async fn profile(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let answer = json!({"emailAddress": "support@acme.test", "messagesTotal": 3, "threadsTotal": 3,
        "historyId": fake.history_id().to_string()});
    if let Some(wrong) = refused(problems("Profile", &answer)) {
        return wrong;
    }
    Json(answer).into_response()
}

/// `history.list`, two records a page, filtered by label as Gmail does.
async fn history(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Query(query): Query<Map<String, Value>>,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Some(wrong) = refused(undeclared("history.list", &query)) {
        return wrong;
    }
    let text = |name: &str| query.get(name).and_then(Value::as_str).unwrap_or_default();
    let start: u64 = text("startHistoryId").parse().unwrap_or(0);
    if start < HISTORY_START {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}})),
        )
            .into_response();
    }
    let offset: usize = text("pageToken").parse().unwrap_or(0);
    let label = text("labelId").to_owned();
    let matching: Vec<Value> = fake
        .history
        .lock()
        .unwrap()
        .iter()
        .filter(|(id, message)| {
            *id > start && message["labelIds"].as_array().unwrap().iter().any(|l| *l == label)
        })
        .map(|(id, message)| {
            json!({"id": id.to_string(), "messages": [message], "messagesAdded": [{"message": message}]})
        })
        .collect();
    let page: Vec<Value> = matching.iter().skip(offset).take(2).cloned().collect();
    let mut answer = json!({"history": page, "historyId": fake.history_id().to_string()});
    if offset + 2 < matching.len() {
        answer["nextPageToken"] = json!((offset + 2).to_string());
    }
    if let Some(wrong) = refused(problems("ListHistoryResponse", &answer)) {
        return wrong;
    }
    Json(answer).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        == Some("Bearer ya29.test")
}

fn refused(wrong: Vec<String>) -> Option<Response> {
    (!wrong.is_empty()).then(|| (StatusCode::IM_A_TEAPOT, wrong.join("; ")).into_response())
}

async fn get_message(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<Map<String, Value>>,
) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"code": 401, "message": "Invalid Credentials", "status": "UNAUTHENTICATED"}}))).into_response();
    }
    if let Some(error) = fake.fail_next.lock().unwrap().take() {
        return error;
    }
    if let Some(wrong) = refused(undeclared("messages.get", &query)) {
        return wrong;
    }
    if id != "18c2f0a1b2c3d4e5" {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"code": 404, "message": "Requested entity was not found."}})),
        )
            .into_response();
    }
    Json(original_message()).into_response()
}

async fn list_messages(headers: HeaderMap, Query(query): Query<Map<String, Value>>) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Some(wrong) = refused(undeclared("messages.list", &query)) {
        return wrong;
    }
    Json(json!({"messages": [{"id": "18c2f0a1b2c3d4e5", "threadId": "18c2f0a1b2c3d4e5"}], "resultSizeEstimate": 1})).into_response()
}

async fn create_draft(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Some(wrong) = refused(problems("Draft", &body)) {
        return wrong;
    }
    fake.drafts.lock().unwrap().push(body.clone());
    Json(json!({"id": "r-123", "message": {"id": "m-456", "threadId": body["message"]["threadId"].as_str().unwrap_or("t-new"), "labelIds": ["DRAFT"]}})).into_response()
}

async fn send_message(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Some(wrong) = refused(problems("Message", &body)) {
        return wrong;
    }
    fake.sent.lock().unwrap().push(body.clone());
    let answer = json!({"id": "m-789", "threadId": body["threadId"].as_str().unwrap_or("t-new"), "labelIds": ["SENT"]});
    assert_eq!(problems("Message", &answer), Vec::<String>::new());
    Json(answer).into_response()
}

async fn modify(headers: HeaderMap, Path(id): Path<String>, Json(body): Json<Value>) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Some(wrong) = refused(problems("ModifyMessageRequest", &body)) {
        return wrong;
    }
    Json(json!({"id": id, "threadId": id, "labelIds": ["INBOX", "STARRED"]})).into_response()
}

async fn gmail() -> (Registry, Fake) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route(
            "/gmail/v1/users/me/messages/{id}",
            axum::routing::get(get_message),
        )
        .route(
            "/gmail/v1/users/me/messages",
            axum::routing::get(list_messages),
        )
        .route(
            "/gmail/v1/users/me/drafts",
            axum::routing::post(create_draft),
        )
        .route(
            "/gmail/v1/users/me/messages/send",
            axum::routing::post(send_message),
        )
        .route(
            "/gmail/v1/users/me/messages/{id}/modify",
            axum::routing::post(modify),
        )
        .route("/gmail/v1/users/me/profile", axum::routing::get(profile))
        .route(
            &format!("/{}", CONTRACT.0["batchPath"].as_str().unwrap()),
            axum::routing::post(batch),
        )
        .route("/gmail/v1/users/me/history", axum::routing::get(history))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let registry = Registry::new(&ConnectorSettings {
        gmail_base_url: Some(format!("http://{addr}")),
        ..Default::default()
    });
    (registry, fake)
}

fn call(action: &str, inputs: Value) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: "gmail".into(),
        action: action.into(),
        inputs,
        credential: None,
        idempotency_key: "exec:step".into(),
        secret: Some(Secret(json!({"access_token": "ya29.test"}))),
    }
}

#[test]
fn the_fakes_message_follows_googles_schema() {
    assert_eq!(
        problems("Message", &original_message()),
        Vec::<String>::new()
    );
    assert!(
        !problems("Draft", &json!({"message": {"raw": 12}})).is_empty(),
        "the contract bites"
    );
}

#[tokio::test]
async fn a_message_is_read_decoded() {
    let (gmail, _) = gmail().await;
    let read = gmail
        .call(call("read_email", json!({"email_id": "18c2f0a1b2c3d4e5"})))
        .await
        .unwrap();
    assert_eq!(read["from"], "Ann Example <ann@customer.com>");
    assert_eq!(read["subject"], "Invoice 42");
    assert_eq!(
        read["body"], "Where is my invoice?\n",
        "the text part, decoded"
    );
    assert_eq!(read["thread_id"], "18c2f0a1b2c3d4e5");
    common::assert_declared_output(&gmail, "gmail", "read_email", &read);
    let found = gmail
        .call(call("search", json!({"query": "is:unread", "limit": 5})))
        .await
        .unwrap();
    assert_eq!(found["messages"][0]["id"], "18c2f0a1b2c3d4e5");
    common::assert_declared_output(&gmail, "gmail", "search", &found);
}

#[tokio::test]
async fn a_reply_draft_is_threaded_under_the_message() {
    let (gmail, fake) = gmail().await;
    let saved = gmail
        .call(call(
            "save_draft",
            json!({"to": "ann@customer.com", "subject": "Re: Invoice 42 — über", "body": "Dear Ann, attached.", "reply_to": "18c2f0a1b2c3d4e5"}),
        ))
        .await
        .unwrap();
    assert_eq!(saved["draft_id"], "r-123");
    assert_eq!(saved["thread_id"], "18c2f0a1b2c3d4e5");
    common::assert_declared_output(&gmail, "gmail", "save_draft", &saved);
    let draft = fake.drafts.lock().unwrap()[0].clone();
    assert_eq!(draft["message"]["threadId"], "18c2f0a1b2c3d4e5");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(draft["message"]["raw"].as_str().unwrap())
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.contains("To: ann@customer.com\r\n"), "{raw}");
    assert!(
        raw.contains("In-Reply-To: <CAB123@mail.customer.com>\r\n"),
        "{raw}"
    );
    assert!(
        raw.contains("References: <CAB123@mail.customer.com>\r\n"),
        "{raw}"
    );
    assert!(
        raw.contains("Subject: =?UTF-8?B?"),
        "a non-ASCII subject is encoded: {raw}"
    );
    let body = raw.split("\r\n\r\n").nth(1).unwrap().replace("\r\n", "");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap(),
        b"Dear Ann, attached."
    );

    let injected = gmail
        .call(call(
            "save_draft",
            json!({"to": "ann@customer.com\r\nBcc: all@acme.test", "subject": "x", "body": "y"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(injected.class, ErrorClass::Permanent);
    assert!(injected.message.contains("one line"));
}

#[tokio::test]
async fn a_reply_is_sent_in_the_messages_thread() {
    let (gmail, fake) = gmail().await;
    let sent = gmail
        .call(call(
            "send",
            json!({"to": "ann@customer.com", "subject": "Re: Invoice 42", "body": "It ships today.", "reply_to": "18c2f0a1b2c3d4e5"}),
        ))
        .await
        .unwrap();
    common::assert_declared_output(&gmail, "gmail", "send", &sent);
    let message = fake.sent.lock().unwrap()[0].clone();
    assert_eq!(
        message["threadId"], "18c2f0a1b2c3d4e5",
        "a reply goes into the thread"
    );
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(message["raw"].as_str().unwrap())
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.contains("To: ann@customer.com\r\n"), "{raw}");
    assert!(
        raw.contains("In-Reply-To: <CAB123@mail.customer.com>\r\n"),
        "{raw}"
    );
    assert!(fake.drafts.lock().unwrap().is_empty(), "sent, not drafted");
}

#[tokio::test]
async fn labels_change_and_failures_are_sorted() {
    let (gmail, fake) = gmail().await;
    let labelled = gmail
        .call(call(
            "label",
            json!({"email_id": "18c2f0a1b2c3d4e5", "add": ["STARRED"], "remove": ["UNREAD"]}),
        ))
        .await
        .unwrap();
    assert_eq!(labelled["labels"], json!(["INBOX", "STARRED"]));
    common::assert_declared_output(&gmail, "gmail", "label", &labelled);

    *fake.fail_next.lock().unwrap() = Some(
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "12")],
            Json(json!({"error": {"code": 429, "message": "User-rate limit exceeded", "errors": [{"reason": "userRateLimitExceeded"}]}})),
        )
            .into_response(),
    );
    let error = gmail
        .call(call("read_email", json!({"email_id": "18c2f0a1b2c3d4e5"})))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Transient);
    assert_eq!(error.retry_after, Some(std::time::Duration::from_secs(12)));

    let missing = gmail
        .call(call("read_email", json!({"email_id": "nope"})))
        .await
        .unwrap_err();
    assert_eq!(missing.class, ErrorClass::Permanent);
    assert!(missing.message.contains("Requested entity was not found"));

    let mut expired = call("read_email", json!({"email_id": "18c2f0a1b2c3d4e5"}));
    expired.secret = Some(Secret(json!({"access_token": "ya29.expired"})));
    let error = gmail.call(expired).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error.message.contains("reconnect needed"),
        "{}",
        error.message
    );
}

fn look(cursor: Option<Value>) -> PollCall {
    PollCall {
        org_id: OrgId::new(),
        service: "gmail".into(),
        event: "new_email".into(),
        inputs: Value::Null,
        cursor,
        secret: Some(Secret(json!({"access_token": "ya29.test"}))),
    }
}

#[tokio::test]
async fn new_email_is_found_through_the_history_once() {
    let (gmail, fake) = gmail().await;
    let first = gmail.poll(look(None)).await.unwrap();
    assert!(
        first.items.is_empty(),
        "the first look only marks where to start"
    );
    assert_eq!(first.cursor, json!({"history_id": "1000"}));

    fake.arrive("m1", &["INBOX", "UNREAD"]);
    fake.arrive("s1", &["SENT", "INBOX"]);
    fake.arrive("a1", &["CATEGORY_PROMOTIONS"]);
    fake.arrive("m2", &["INBOX"]);
    fake.arrive("m3", &["INBOX", "IMPORTANT"]);
    let second = gmail.poll(look(Some(first.cursor))).await.unwrap();
    let ids: Vec<&str> = second.items.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["gmail:m1", "gmail:m2", "gmail:m3"],
        "inbox messages over two pages; not one's own sent mail, not other labels"
    );
    assert_eq!(second.items[0].1["email_id"], "m1");
    assert_eq!(second.items[0].1["thread_id"], "t-m1");
    assert_eq!(second.cursor, json!({"history_id": "1005"}));

    let third = gmail.poll(look(Some(second.cursor.clone()))).await.unwrap();
    assert!(third.items.is_empty(), "nothing twice");
    assert_eq!(third.cursor, second.cursor);

    let promotions = PollCall {
        inputs: json!({"label": "CATEGORY_PROMOTIONS"}),
        ..look(Some(json!({"history_id": "1000"})))
    };
    let found = gmail.poll(promotions).await.unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].0, "gmail:a1");

    // A history id Gmail no longer keeps: start again from now rather than fail forever.
    let stale = gmail
        .poll(look(Some(json!({"history_id": "7"}))))
        .await
        .unwrap();
    assert!(stale.items.is_empty());
    assert_eq!(stale.cursor, json!({"history_id": "1005"}));

    let wrong = PollCall {
        inputs: json!({"labels": "INBOX"}),
        ..look(Some(json!({"history_id": "1000"})))
    };
    let error = gmail.poll(wrong).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(error.message.contains("labels"), "{}", error.message);
    assert_eq!(gmail.trigger_problem("gmail", "new_email"), None);
    assert!(
        gmail
            .trigger_problem("gmail", "new_mail")
            .unwrap()
            .contains("new_email"),
        "the problem names what there is"
    );
    assert!(gmail.trigger_problem("slack", "new_email").is_some());
}

#[tokio::test]
async fn a_credential_is_checked_with_the_profile() {
    let (gmail, _) = gmail().await;
    let account = gmail
        .authenticate("gmail", &Secret(json!({"access_token": "ya29.test"})))
        .await
        .unwrap();
    assert_eq!(account["account"], "support@acme.test");
    let refused = gmail
        .authenticate("gmail", &Secret(json!({"access_token": "ya29.old"})))
        .await
        .unwrap_err();
    assert_eq!(
        refused.auth,
        Some(baton_engine::error::AuthProblem::Refused)
    );
}

#[tokio::test]
async fn many_messages_are_read_in_one_batch_request() {
    let (gmail, fake) = gmail().await;
    assert_eq!(gmail.batch_size("gmail", "read_email"), 50);
    assert_eq!(
        gmail.batch_size("gmail", "send"),
        1,
        "sending is one by one"
    );
    let calls = vec![
        call("read_email", json!({"email_id": "18c2f0a1b2c3d4e5"})),
        call("read_email", json!({"email_id": "gone-1"})),
        call("read_email", json!({"mail": "no id"})),
        call("read_email", json!({"email_id": "18c2f0a1b2c3d4e5"})),
    ];
    let results = gmail.batch(calls).await;
    assert_eq!(results.len(), 4);
    assert_eq!(
        fake.batches.lock().unwrap().clone(),
        [3],
        "one request for the three valid ones"
    );
    assert_eq!(results[0].as_ref().unwrap()["subject"], "Invoice 42");
    assert_eq!(
        results[0].as_ref().unwrap()["body"],
        "Where is my invoice?\n"
    );
    let gone = results[1].as_ref().unwrap_err();
    assert_eq!(gone.class, ErrorClass::Permanent);
    assert!(gone.message.contains("404"), "{}", gone.message);
    let bad = results[2].as_ref().unwrap_err();
    assert!(
        bad.message.contains("mail"),
        "the bad input is named: {}",
        bad.message
    );
    assert_eq!(
        results[3].as_ref().unwrap()["thread_id"],
        "18c2f0a1b2c3d4e5"
    );

    // A refused token refuses every call of the batch, as a refresh may help.
    let mut stale = vec![
        call("read_email", json!({"email_id": "18c2f0a1b2c3d4e5"})),
        call("read_email", json!({"email_id": "18c2f0a1b2c3d4e5"})),
    ];
    for one in &mut stale {
        one.secret = Some(Secret(json!({"access_token": "ya29.old"})));
    }
    let refused = gmail.batch(stale).await;
    assert!(
        refused
            .iter()
            .all(|result| result.as_ref().unwrap_err().auth
                == Some(baton_engine::error::AuthProblem::Refused))
    );
}

#[test]
fn inputs_are_checked_when_the_workflow_is_saved_but_not_templates() {
    let registry = Registry::new(&ConnectorSettings::default());
    let problems = |action: &str, inputs: Value| registry.input_problems("gmail", action, &inputs);
    assert_eq!(
        problems(
            "save_draft",
            json!({"to": "{{ step_1.from }}", "subject": "Re: {{ step_1.subject }}", "body": "{{ step_2.response }}"})
        ),
        Vec::<(String, String)>::new(),
        "templates are known when the step runs"
    );
    let missing = problems(
        "save_draft",
        json!({"to": "ann@customer.com", "subject": "Hi"}),
    );
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0].0, "");
    assert!(missing[0].1.contains("\"body\""), "{missing:?}");
    let unknown = problems("read_email", json!({"email_id": "x", "format": "raw"}));
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(unknown[0].1.contains("format"), "{unknown:?}");
    let typed = problems("label", json!({"email_id": "x", "add": "STARRED"}));
    assert_eq!(typed[0].0, ".add", "{typed:?}");
    assert_eq!(
        problems(
            "label",
            json!({"email_id": "x", "add": "{{ trigger.labels }}"})
        ),
        Vec::<(String, String)>::new()
    );
    assert_eq!(
        registry.input_problems("unknown_service", "x", &json!({"a": 1})),
        Vec::<(String, String)>::new()
    );
}
