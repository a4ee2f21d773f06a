//! Every official template, end to end through `baton serve`: an organization connects the apps
//! it needs, makes the workflow with the template's example configuration, and runs it with the
//! template's sample trigger data; every service it calls is a local stand-in answering in the
//! service's own wire format (the email template's mailbox is a real dovecot and postfix when
//! this machine has them). One test per file in `templates/`, written by the build script.

#[path = "../../store/tests/harness/skip.rs"]
mod skip;

#[path = "../../connectors/tests/common/mail_server.rs"]
mod mail_server;

mod common;

use common::api;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

include!(concat!(env!("OUT_DIR"), "/template_tests.rs"));

/// What the stand-ins were asked: service, method, path and body.
type Calls = Arc<Mutex<Vec<(String, String, String, Value)>>>;

/// Every field the templates' AI steps read from a model's JSON answer.
fn model_answer() -> Value {
    json!({
        "reply": "Thank you for writing: your order left today.",
        "urgent": true, "why": "The order is missing.", "summary": "Order 42 has not arrived.",
        "text": "Thanks, we read your message about the tap and will call you by noon.",
        "sentiment": "negative", "topic": "delivery", "score": 91, "reason": "A café wanting daily deliveries.",
        "linkedin": "Our stollen is back.", "instagram": "Stollen season! #bakery", "x": "Stollen is back.",
        "name": "Call Ann about the order", "notes": "She asked where order 42 is.",
        "supplier": "Flour & Co", "total": 42.5, "currency": "EUR", "date": "2026-12-01"
    })
}

/// The answer to a request: held to its schema's fields when it gives one, as OpenAI's
/// structured outputs are.
fn model_answer_for(request: &Value) -> Value {
    let answer = model_answer();
    match request
        .pointer("/response_format/json_schema/schema/properties")
        .and_then(Value::as_object)
    {
        Some(properties) => properties
            .keys()
            .map(|name| (name.clone(), answer[name].clone()))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        None => answer,
    }
}

fn gmail_message(id: &str) -> Value {
    use base64::Engine;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode("Hello, my order 42 has not arrived yet.");
    json!({
        "id": id, "threadId": "t1", "labelIds": ["INBOX", "UNREAD"], "snippet": "Hello, my order 42",
        "historyId": "1001", "internalDate": "1764590000000", "sizeEstimate": 812,
        "payload": {"partId": "", "mimeType": "text/plain", "filename": "", "headers": [
            {"name": "From", "value": "Ann Lee <ann@customer.example>"},
            {"name": "To", "value": "support@shop.example"},
            {"name": "Subject", "value": "Where is my order?"},
            {"name": "Date", "value": "Fri, 04 Dec 2026 09:12:00 +0000"},
            {"name": "Message-ID", "value": "<order-42@customer.example>"}
        ], "body": {"size": 39, "data": text}}
    })
}

fn stripe_invoice(id: &str, status: &str) -> Value {
    json!({
        "id": id, "object": "invoice", "status": status, "number": "A-0042", "customer": "cus_1",
        "customer_email": "ann@customer.com", "customer_name": "Ann Lee", "currency": "eur",
        "amount_due": 4900, "amount_paid": 0, "amount_remaining": 4900, "total": 4900,
        "created": 1764000000, "due_date": 1764500000,
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test", "invoice_pdf": "https://pay.stripe.com/invoice/acct_1/test/pdf"
    })
}

fn hubspot_object(id: &str, properties: Value) -> Value {
    json!({"id": id, "properties": properties, "createdAt": "2026-12-04T09:00:00.000Z", "updatedAt": "2026-12-04T09:00:00.000Z", "archived": false})
}

fn notion_page(id: &str) -> Value {
    json!({
        "object": "page", "id": id, "url": format!("https://www.notion.so/{id}"),
        "created_time": "2026-12-04T10:00:00.000Z", "last_edited_time": "2026-12-04T10:00:00.000Z", "in_trash": false,
        "properties": {"Name": {"type": "title", "title": [{"plain_text": "Row", "text": {"content": "Row"}}]}}
    })
}

fn calendar_event(id: &str) -> Value {
    json!({
        "kind": "calendar#event", "id": id, "status": "confirmed", "summary": "Fitting: Ann Lee",
        "htmlLink": format!("https://www.google.com/calendar/event?eid={id}"),
        "created": "2026-12-04T09:00:00.000Z", "updated": "2026-12-04T09:00:00.000Z",
        "start": {"dateTime": "2026-12-08T10:00:00+01:00"}, "end": {"dateTime": "2026-12-08T11:00:00+01:00"},
        "organizer": {"email": "owner@acme.com"}, "attendees": [{"email": "ann@customer.com", "responseStatus": "needsAction"}]
    })
}

/// One stand-in for every service, told apart by the first segment of the path (each service's
/// base URL points at its own segment).
async fn answer(calls: Calls, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default().to_owned();
    let rest = format!("/{}", parts.next().unwrap_or_default());
    let sent: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    calls.lock().unwrap().push((
        service.clone(),
        method.to_string(),
        rest.clone(),
        sent.clone(),
    ));
    let ok = |value: Value| Json(value).into_response();
    let m = method.as_str();
    match (service.as_str(), m, rest.as_str()) {
        ("openai", "POST", "/v1/chat/completions") => ok(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1764590000, "model": sent["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": model_answer_for(&sent).to_string(), "refusal": null}, "finish_reason": "stop", "logprobs": null}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
        })),
        ("gmail", "GET", path) if path.starts_with("/gmail/v1/users/me/messages/") => {
            ok(gmail_message(path.rsplit('/').next().unwrap_or("m1")))
        }
        ("gmail", "POST", "/gmail/v1/users/me/drafts") => ok(
            json!({"id": "r-1", "message": {"id": "d1", "threadId": "t1", "labelIds": ["DRAFT"]}}),
        ),
        ("gmail", "POST", "/gmail/v1/users/me/messages/send") => {
            ok(json!({"id": "s1", "threadId": "t1", "labelIds": ["SENT"]}))
        }
        ("gmail", "POST", path) if path.ends_with("/modify") => {
            ok(json!({"id": "m1", "threadId": "t1", "labelIds": ["INBOX", "STARRED", "IMPORTANT"]}))
        }
        ("slack", "POST", "/chat.postMessage") => ok(
            json!({"ok": true, "channel": "C0123456789", "ts": "1764590000.000100", "message": {"type": "message", "text": sent["text"], "ts": "1764590000.000100"}}),
        ),
        ("hubspot", "POST", "/crm/v3/objects/contacts/batch/upsert") => {
            ok(json!({"status": "COMPLETE", "results": [
            {"id": "101", "new": true, "properties": {"email": "ann@customer.com"}, "createdAt": "2026-12-04T09:00:00.000Z", "updatedAt": "2026-12-04T09:00:00.000Z", "archived": false}
        ], "startedAt": "2026-12-04T09:00:00.000Z", "completedAt": "2026-12-04T09:00:00.100Z"}))
        }
        ("hubspot", "POST", "/crm/v3/objects/notes") => {
            ok(hubspot_object("501", json!({"hs_note_body": "note"})))
        }
        ("hubspot", "POST", "/crm/v3/objects/tasks") => {
            ok(hubspot_object("601", json!({"hs_task_subject": "task"})))
        }
        ("hubspot", "POST", "/crm/v3/objects/deals/search") => ok(json!({"total": 1, "results": [
            hubspot_object("9001", json!({"dealname": "Lee Café bread", "amount": "1200", "closedate": "2026-12-03T00:00:00Z"}))
        ]})),
        ("stripe", "GET", "/v1/invoices") => ok(
            json!({"object": "list", "data": [stripe_invoice("in_1", "open")], "has_more": false, "url": "/v1/invoices"}),
        ),
        ("stripe", "POST", path) if path.ends_with("/send") || path.ends_with("/finalize") => {
            let id = path.split('/').nth(3).unwrap_or("in_1");
            ok(stripe_invoice(id, "open"))
        }
        ("stripe", "POST", "/v1/invoices") => ok(stripe_invoice("in_2", "draft")),
        ("stripe", "POST", "/v1/invoiceitems") => ok(
            json!({"id": "ii_1", "object": "invoiceitem", "invoice": "in_2", "amount": 9500, "currency": "gbp"}),
        ),
        ("stripe", "POST", "/v1/customers") => ok(
            json!({"id": "cus_1", "object": "customer", "email": "ann@customer.com", "name": "Ann Lee", "created": 1764000000, "metadata": {}}),
        ),
        ("stripe", "POST", "/v1/refunds") => ok(
            json!({"id": "re_1", "object": "refund", "amount": 7500, "currency": "eur", "status": "succeeded", "charge": "ch_3MmlLrLkdIwHu7ix0snN0B15", "payment_intent": null, "reason": "requested_by_customer", "created": 1764000000}),
        ),
        ("notion", "GET", path) if path.starts_with("/v1/databases/") => ok(
            json!({"object": "database", "id": "db1", "data_sources": [{"id": "ds1", "name": "Rows"}]}),
        ),
        ("notion", "GET", path) if path.starts_with("/v1/data_sources/") => {
            ok(json!({"object": "data_source", "id": "ds1", "properties": {
                "Name": {"type": "title"}, "Email": {"type": "email"}, "Sentiment": {"type": "select"}, "Topic": {"type": "select"},
                "When": {"type": "date"}, "Amount": {"type": "number"}, "Currency": {"type": "select"}, "Date": {"type": "date"}, "Status": {"type": "status"}
            }}))
        }
        ("notion", "POST", path) if path.ends_with("/query") => ok(
            json!({"object": "list", "results": [notion_page("p1")], "has_more": false, "next_cursor": null}),
        ),
        ("notion", "POST", "/v1/pages") => ok(notion_page("p2")),
        ("notion", "PATCH", path) if path.starts_with("/v1/blocks/") => {
            ok(json!({"object": "list", "results": [], "has_more": false, "next_cursor": null}))
        }
        ("asana", "GET", path) if path.ends_with("/tasks") => ok(json!({"data": [
            {"gid": "1204000000000042", "name": "Order flour", "completed": false, "due_on": "2026-12-07", "notes": "", "assignee": {"gid": "1", "name": "Bob"}, "permalink_url": "https://app.asana.com/0/1/42", "created_at": "2026-12-01T09:00:00.000Z", "modified_at": "2026-12-01T09:00:00.000Z"}
        ]})),
        ("asana", "POST", "/tasks") => ok(
            json!({"data": {"gid": "1204000000000043", "name": "Call Ann about the order", "completed": false, "due_on": null, "notes": "", "assignee": null, "permalink_url": "https://app.asana.com/0/1/43", "created_at": "2026-12-04T09:00:00.000Z", "modified_at": "2026-12-04T09:00:00.000Z"}}),
        ),
        ("calendar", "GET", path) if path.ends_with("/events") => {
            ok(json!({"kind": "calendar#events", "items": [calendar_event("e1")]}))
        }
        ("calendar", "POST", path) if path.ends_with("/events") => ok(calendar_event("e2")),
        ("resend", "POST", "/emails") => ok(json!({"id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"})),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("the stand-in has no {m} {rest} for {service}")})),
        )
            .into_response(),
    }
}

/// `baton serve` with every service's base URL at its segment of the stand-in.
async fn start_with_stand_ins(fake: &str, data: &std::path::Path) -> common::Server {
    let mut command = common::serve_in(data);
    for (variable, segment) in [
        ("BATON_OPENAI_BASE_URL", "openai/v1"),
        ("BATON_GMAIL_BASE_URL", "gmail"),
        ("BATON_SLACK_BASE_URL", "slack"),
        ("BATON_HUBSPOT_BASE_URL", "hubspot"),
        ("BATON_STRIPE_BASE_URL", "stripe"),
        ("BATON_NOTION_BASE_URL", "notion"),
        ("BATON_ASANA_BASE_URL", "asana"),
        ("BATON_GOOGLE_CALENDAR_BASE_URL", "calendar"),
        ("BATON_RESEND_BASE_URL", "resend"),
        ("BATON_CALENDLY_BASE_URL", "calendly"),
    ] {
        command.env(variable, format!("{fake}/{segment}"));
    }
    command
        .env("BATON_HTTP_ALLOW", "127.0.0.1")
        .env("BATON_RATE_LIMIT", "1000");
    common::start(command).await
}

/// A connection each service takes (the stand-ins accept any token).
fn secret_for(service: &str) -> Value {
    match service {
        "slack" => json!({"bot_token": "xoxb-test"}),
        "stripe" | "resend" | "openai" => json!({"api_key": "sk_test_key"}),
        _ => json!({"access_token": "test-token"}),
    }
}

async fn runs_end_to_end(id: &str) {
    let template = baton_server::templates::library()
        .get(id)
        .unwrap_or_else(|| panic!("no template {id}"));
    let mail = if template
        .integrations
        .required
        .iter()
        .any(|app| app == "email")
    {
        match mail_server::MailServer::start("the email template's run") {
            Some(mail) => Some(mail),
            None => return,
        }
    } else {
        None
    };
    let calls: Calls = Arc::default();
    let kept = calls.clone();
    let fake = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
        let calls = kept.clone();
        async move { answer(calls, method, uri, body).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, fake).await.unwrap() });
    let data = tempfile::tempdir().unwrap();
    let server = start_with_stand_ins(&fake_base, data.path()).await;
    let cookie = common::sign_up_on(&server.base).await;
    for app in &template.integrations.required {
        let (service, secret) = match (app.as_str(), &mail) {
            ("ai", _) => ("openai", secret_for("openai")),
            ("email", Some(mail)) => ("email", mail.account("ann", "tls")),
            (other, _) => (other, secret_for(other)),
        };
        let (status, body) = api(
            &server.base,
            &cookie,
            "POST",
            "/api/v1/credentials",
            json!({"service": service, "name": service, "secret": secret}),
        )
        .await;
        assert_eq!(status, 201, "{id}: connecting {service}: {body}");
    }
    // A wait the template takes as a setting ("3d") is shortened to a second, to see what
    // follows it.
    let mut config = template.example_config.clone();
    for value in config.as_object_mut().unwrap().values_mut() {
        let is_wait = value.as_str().is_some_and(|text| {
            text.len() >= 2
                && text[..text.len() - 1].chars().all(|c| c.is_ascii_digit())
                && text.ends_with(['s', 'm', 'h', 'd', 'w'])
        });
        if is_wait {
            *value = json!("1s");
        }
    }
    let (status, made) = api(
        &server.base,
        &cookie,
        "POST",
        &format!("/api/v1/templates/{id}/instantiate"),
        json!({"config": config}),
    )
    .await;
    assert_eq!(status, 201, "{id}: {made}");
    let workflow = made["id"].as_str().unwrap().to_owned();
    let mut input = template.sample_input.clone();
    if mail.is_some() {
        // The customer writing in is another mailbox of the test server, to see the answer land.
        input["from"] = json!("bob@acme.test");
    }
    let (status, run) = api(
        &server.base,
        &cookie,
        "POST",
        &format!("/api/v1/workflows/{workflow}/runs?wait=60"),
        json!({"input": input}),
    )
    .await;
    assert!(status == 200 || status == 202, "{id}: {run}");
    let mut run = run;
    let waits_for_approval = template.workflow.to_string().contains("\"approval\"");
    if run["state"] != "COMPLETED" && run["state"] != "FAILED" {
        let execution = run["id"].as_str().unwrap().to_owned();
        if waits_for_approval {
            // The refund over the limit waits for an admin: the owner approves it.
            let (status, body) = api(
                &server.base,
                &cookie,
                "POST",
                &format!("/api/v1/executions/{execution}/steps/ask/answer"),
                json!({"approved": true}),
            )
            .await;
            assert!(status < 300, "{id}: answering: {body}");
        }
        for _ in 0..100 {
            let (_, now) = api(
                &server.base,
                &cookie,
                "GET",
                &format!("/api/v1/executions/{execution}"),
                json!({}),
            )
            .await;
            run = now;
            if run["state"] != "WAITING"
                && run["state"] != "RUNNING"
                && run["state"] != "PENDING"
                && run["state"] != "QUEUED"
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let called: Vec<String> = calls
        .lock()
        .unwrap()
        .iter()
        .map(|(service, method, path, _)| format!("{service} {method} {path}"))
        .collect();
    assert_eq!(run["state"], "COMPLETED", "{id}: {run}\ncalls: {called:#?}");
    // The workflow's last step acted on its service (or, for the mailbox, on the mail server).
    if let Some(mail) = &mail {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while mail.inbox_count("bob") == 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let answers = mail.inbox_messages("bob");
        assert_eq!(answers.len(), 1, "{id}: {}", mail.logs());
        assert!(
            answers[0].contains("In-Reply-To: <CAF=1x2y3z@mail.customer.com>"),
            "{}",
            answers[0]
        );
    } else {
        // Every app the workflow's steps name was called, and the AI model when it has AI
        // steps (a trigger's app is not called by a run started with its data).
        let text = template.workflow["steps"].to_string();
        let mut named: Vec<&str> = [
            "gmail",
            "slack",
            "hubspot",
            "stripe",
            "notion",
            "asana",
            "google_calendar",
            "resend",
        ]
        .into_iter()
        .filter(|service| text.contains(&format!("\"service\":\"{service}\"")))
        .collect();
        if text.contains("\"type\":\"llm\"") {
            named.push("openai");
        }
        for service in named {
            let segment = if service == "google_calendar" {
                "calendar"
            } else {
                service
            };
            assert!(
                called
                    .iter()
                    .any(|call| call.starts_with(&format!("{segment} "))),
                "{id}: {service} was never called: {called:#?}"
            );
        }
    }
}
