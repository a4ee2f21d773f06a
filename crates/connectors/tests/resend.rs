//! The Resend connector against a local fake of Resend's API. The fake takes its rules from
//! Resend's own OpenAPI description (the schemas kept in `tests/contracts/resend.json`): every
//! request body must fit `SendEmailRequest` (a batch: each of its items), and every answer the
//! fake gives is checked against the operation's response schema before it is sent. Errors are
//! Resend's `{statusCode, name, message}`.

mod common;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use baton_connectors::{ConnectorSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::connector::{ActionCall, Connectors, IncomingWebhook, Secret, WebhookOutcome};
use baton_engine::error::AuthProblem;
use serde_json::{Value, json};

/// Fails with every way `value` breaks the contract's schema `name`.
fn check(name: &str, value: &Value) -> Result<(), String> {
    let contract: Value =
        serde_json::from_str(include_str!("contracts/resend.json")).expect("contract JSON");
    let schema = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": contract["components"],
    });
    let validator = jsonschema::validator_for(&schema).expect("the contract compiles");
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}: {problems:?} in {value}"))
    }
}

/// What the fake was sent: method and path, Idempotency-Key, body.
type Seen = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

fn error(status: StatusCode, name: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"statusCode": status.as_u16(), "name": name, "message": message})),
    )
        .into_response()
}

/// An answer checked against its documented schema first.
fn documented(schema: &str, answer: Value) -> Response {
    check(schema, &answer).expect("the fake answers as Resend documents");
    Json(answer).into_response()
}

async fn emails(State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(refused) = refused_key(&headers) {
        return refused;
    }
    if let Err(problem) = check("SendEmailRequest", &body) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            &problem,
        );
    }
    let key = header(&headers, "idempotency-key");
    seen.lock()
        .unwrap()
        .push(("POST /emails".into(), key, body.clone()));
    match body["subject"].as_str() {
        Some("over quota") => error(
            StatusCode::TOO_MANY_REQUESTS,
            "daily_quota_exceeded",
            "You have reached your daily email sending quota.",
        ),
        Some("too fast") => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "2")],
            Json(json!({"statusCode": 429, "name": "rate_limit_exceeded", "message": "Too many requests. You can only make 2 requests per second."})),
        )
            .into_response(),
        Some("server trouble") => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "An unexpected error occurred.",
        ),
        _ => documented(
            "SendEmailResponse",
            json!({"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}),
        ),
    }
}

async fn batch(State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(refused) = refused_key(&headers) {
        return refused;
    }
    let items = body.as_array().cloned().unwrap_or_default();
    for item in &items {
        if let Err(problem) = check("SendEmailRequest", item) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                &problem,
            );
        }
    }
    seen.lock().unwrap().push((
        "POST /emails/batch".into(),
        header(&headers, "idempotency-key"),
        body,
    ));
    let data: Vec<Value> = (0..items.len())
        .map(|index| json!({"id": format!("batch-{index}")}))
        .collect();
    documented("CreateBatchEmailsResponse", json!({"data": data}))
}

async fn email(headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(refused) = refused_key(&headers) {
        return refused;
    }
    if id != "4ef9a417-02e9-4d39-ad75-9611e0fcc33c" {
        return error(StatusCode::NOT_FOUND, "not_found", "Email not found");
    }
    documented(
        "Email",
        json!({
            "object": "email",
            "id": id,
            "to": ["delivered@resend.dev"],
            "from": "Acme <onboarding@resend.dev>",
            "created_at": "2023-04-03 22:13:42.674981+00",
            "subject": "Hello World",
            "html": "Congrats on sending your <strong>first email</strong>!",
            "bcc": [],
            "cc": [],
            "reply_to": [],
            "last_event": "delivered"
        }),
    )
}

async fn domains(headers: HeaderMap) -> Response {
    match header(&headers, "authorization").as_deref() {
        Some("Bearer re_sending_only") => error(
            StatusCode::UNAUTHORIZED,
            "restricted_api_key",
            "This API key is restricted to only send emails.",
        ),
        _ => refused_key(&headers).unwrap_or_else(|| {
            Json(json!({"object": "list", "data": [{"id": "d91cd9bd-1176-453e-8fc1-35364d380206", "name": "acme.com", "status": "verified"}]}))
                .into_response()
        }),
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn refused_key(headers: &HeaderMap) -> Option<Response> {
    (header(headers, "authorization").as_deref() != Some("Bearer re_test")).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "API key is invalid",
        )
    })
}

async fn resend() -> (Registry, Seen) {
    let seen = Seen::default();
    let app = axum::Router::new()
        .route("/emails", axum::routing::post(emails))
        .route("/emails/batch", axum::routing::post(batch))
        .route("/emails/{id}", axum::routing::get(email))
        .route("/domains", axum::routing::get(domains))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let registry = Registry::new(&ConnectorSettings {
        resend_base_url: Some(format!("http://{addr}")),
        ..Default::default()
    });
    (registry, seen)
}

fn call(action: &str, inputs: Value) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: "resend".into(),
        action: action.into(),
        inputs,
        credential: None,
        idempotency_key: "exec-1:send".into(),
        secret: Some(Secret(json!({"api_key": "re_test"}))),
    }
}

#[tokio::test]
async fn an_email_is_sent_as_resend_documents_it_once_per_step() {
    let (registry, seen) = resend().await;
    let example = registry
        .declarations()
        .find(|declaration| declaration.id == "resend")
        .unwrap()
        .actions[0]
        .example
        .clone();
    let sent = registry.call(call("send_email", example)).await.unwrap();
    common::assert_declared_output(&registry, "resend", "send_email", &sent);
    assert_eq!(sent["id"], "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794");
    let with_lists = registry
        .call(call(
            "send_email",
            json!({"from": "Acme <a@acme.com>", "to": ["ann@x.test", "bob@x.test"], "cc": "boss@acme.com", "reply_to": ["help@acme.com"], "subject": "Hi", "text": "Hello"}),
        ))
        .await
        .unwrap();
    assert_eq!(with_lists["id"], sent["id"]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].1.as_deref(),
        Some("exec-1:send"),
        "the step's idempotency key goes as Resend's Idempotency-Key"
    );
    assert_eq!(
        seen[0].2["attachments"],
        json!([{"filename": "invoice-42.pdf", "path": "https://files.acme.com/invoice-42.pdf"}])
    );
    assert_eq!(seen[1].2["to"], json!(["ann@x.test", "bob@x.test"]));
}

#[tokio::test]
async fn a_batch_goes_in_one_request_and_what_batches_cannot_carry_is_refused() {
    let (registry, seen) = resend().await;
    let emails: Vec<Value> = (0..3)
        .map(|n| json!({"from": "Acme <news@acme.com>", "to": format!("reader{n}@x.test"), "subject": "News", "text": "Hello"}))
        .collect();
    let sent = registry
        .call(call("send_batch", json!({"emails": emails})))
        .await
        .unwrap();
    common::assert_declared_output(&registry, "resend", "send_batch", &sent);
    assert_eq!(sent["ids"], json!(["batch-0", "batch-1", "batch-2"]));
    assert_eq!(seen.lock().unwrap().len(), 1, "one request for the batch");

    let with_file = json!({"emails": [
        {"from": "a@acme.com", "to": "b@x.test", "subject": "s", "text": "t"},
        {"from": "a@acme.com", "to": "c@x.test", "subject": "s", "text": "t", "attachments": [{"filename": "f.pdf", "path": "https://x.test/f.pdf"}]}
    ]});
    let refused = registry
        .call(call("send_batch", with_file))
        .await
        .unwrap_err();
    assert_eq!(refused.class, ErrorClass::Permanent);
    assert!(
        refused.message.contains("emails[1] has attachments"),
        "{}",
        refused.message
    );
    let too_many: Vec<Value> = (0..101).map(|_| emails[0].clone()).collect();
    let refused = registry
        .call(call("send_batch", json!({"emails": too_many})))
        .await
        .unwrap_err();
    assert!(
        refused.message.contains("101 messages"),
        "{}",
        refused.message
    );
    let empty = registry
        .call(call(
            "send_email",
            json!({"from": "a@acme.com", "to": "b@x.test", "subject": "s"}),
        ))
        .await
        .unwrap_err();
    assert!(
        empty.message.contains("`html` or `text`"),
        "{}",
        empty.message
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "nothing refused here reached Resend"
    );
}

#[tokio::test]
async fn a_sent_email_is_read_with_its_last_event() {
    let (registry, _) = resend().await;
    let email = registry
        .call(call(
            "get_email",
            json!({"email_id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"}),
        ))
        .await
        .unwrap();
    common::assert_declared_output(&registry, "resend", "get_email", &email);
    assert_eq!(email["last_event"], "delivered");
    assert_eq!(email["to"], json!(["delivered@resend.dev"]));
    let missing = registry
        .call(call("get_email", json!({"email_id": "nope"})))
        .await
        .unwrap_err();
    assert_eq!(missing.class, ErrorClass::Permanent);
    assert!(missing.message.contains("404"), "{}", missing.message);
}

#[tokio::test]
async fn resends_errors_are_sorted_for_the_retry_policy() {
    let (registry, _) = resend().await;
    let sending = |subject: &str| {
        call(
            "send_email",
            json!({"from": "a@acme.com", "to": "b@x.test", "subject": subject, "text": "t"}),
        )
    };
    let quota = registry.call(sending("over quota")).await.unwrap_err();
    assert_eq!(
        quota.class,
        ErrorClass::Permanent,
        "a spent quota is not retried"
    );
    assert!(
        quota.message.contains("quota is spent"),
        "{}",
        quota.message
    );
    let limited = registry.call(sending("too fast")).await.unwrap_err();
    assert_eq!(limited.class, ErrorClass::Transient);
    assert_eq!(limited.retry_after, Some(std::time::Duration::from_secs(2)));
    let down = registry.call(sending("server trouble")).await.unwrap_err();
    assert_eq!(down.class, ErrorClass::Transient);
    let mut bad_key = sending("hello");
    bad_key.secret = Some(Secret(json!({"api_key": "re_revoked"})));
    let refused = registry.call(bad_key).await.unwrap_err();
    assert_eq!(refused.auth, Some(AuthProblem::Refused));
    assert!(
        refused.message.contains("invalid_api_key"),
        "{}",
        refused.message
    );
    let invalid = registry
        .call(call(
            "send_email",
            json!({"from": "a@acme.com", "to": "b@x.test", "subject": "s", "text": "t", "tags": [{"name": "kind"}]}),
        ))
        .await
        .unwrap_err();
    assert_eq!(invalid.class, ErrorClass::Permanent);
}

#[tokio::test]
async fn a_key_is_checked_and_a_sending_only_key_counts_as_live() {
    let (registry, _) = resend().await;
    let full = registry
        .authenticate("resend", &Secret(json!({"api_key": "re_test"})))
        .await
        .unwrap();
    assert_eq!(full, json!({"access": "full", "domains": 1}));
    let sending = registry
        .authenticate("resend", &Secret(json!({"api_key": "re_sending_only"})))
        .await
        .unwrap();
    assert_eq!(sending["access"], "sending only");
    let revoked = registry
        .authenticate("resend", &Secret(json!({"api_key": "re_revoked"})))
        .await
        .unwrap_err();
    assert_eq!(revoked.auth, Some(AuthProblem::Refused));
}

#[test]
fn svix_signed_events_are_checked_with_their_timestamp() {
    let registry = Registry::new(&ConnectorSettings::default());
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = br#"{"type": "email.delivered", "created_at": "2024-02-22T23:41:12.126Z", "data": {"email_id": "56761188-7520-42d8-8898-ff6fc54ce618", "created_at": "2024-02-22T23:41:11.894719+00:00", "from": "Acme <onboarding@resend.dev>", "to": ["delivered@resend.dev"], "subject": "Sending this example"}}"#;
    check(
        "EmailDeliveredEvent",
        &serde_json::from_slice(body).unwrap(),
    )
    .expect("the event is Resend's documented shape");
    let hook = |id: &str, timestamp: i64, key: &str| {
        let signature = baton_connectors::webhook::standard_signature(key, id, timestamp, body);
        // Svix may send several signatures (a rotated secret): one of them has to match.
        let headers = [
            ("svix-id".to_owned(), id.to_owned()),
            ("svix-timestamp".to_owned(), timestamp.to_string()),
            (
                "svix-signature".to_owned(),
                format!("v1,bm90IGl0 {signature}"),
            ),
        ];
        let incoming = IncomingWebhook {
            method: "POST",
            url: "https://baton.example/hooks/abc",
            headers: &headers,
            body,
            secret: Some(secret),
        };
        registry.webhook("resend", &incoming)
    };
    let now = chrono::Utc::now().timestamp();
    assert!(matches!(
        hook("msg_1", now, secret),
        Ok(WebhookOutcome::Run { delivery_id: Some(id) }) if id == "resend:msg_1"
    ));
    let forged = hook("msg_1", now, "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldA==").unwrap_err();
    assert!(forged.contains("svix-signature"), "{forged}");
    let late = hook("msg_1", now - 400, secret).unwrap_err();
    assert!(late.contains("five minutes"), "{late}");
}
