//! Credentials through the real router: stored sealed, never shown again, used by the steps
//! that name them, and audited; on SQLite, and on PostgreSQL when configured.

mod common;

use axum::http::StatusCode;
use common::harness;
use common::{App, TestStore, join, send, sign_up};
use serde_json::{Value, json};

conformance!(
    a_credential_is_stored_once_and_never_shown_again,
    bad_credentials_are_refused_with_the_field_named,
    a_step_uses_the_credential_it_names_and_keeps_none_of_it,
    the_connectors_declare_their_auth_and_actions,
    model_prices_are_checked_set_and_removed,
    a_slack_app_removed_from_the_workspace_needs_reconnecting,
);

const TOKEN: &str = "tok-live-93bd11f0a2c4";

async fn a_credential_is_stored_once_and_never_shown_again(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let created = send(
        &app,
        "POST",
        "/api/v1/credentials",
        Some(
            json!({"service": "http", "name": "crm", "secret": {"bearer": TOKEN, "hosts": ["api.crm.example"]}}),
        ),
        &[&owner[0]],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["service"], "http");
    assert_eq!(created.body["name"], "crm");
    assert!(!created.body.to_string().contains(TOKEN));
    let id = created.body["id"].as_str().unwrap().to_owned();

    let again = send(
        &app,
        "POST",
        "/api/v1/credentials",
        Some(
            json!({"service": "http", "name": "crm", "secret": {"bearer": "other", "hosts": ["api.crm.example"]}}),
        ),
        &[&owner[0]],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "one name per service");

    let member = join(&app, &owner, "member@example.com", "member").await.0;
    let listed = send(&app, "GET", "/api/v1/credentials", None, &[&member[0]]).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        listed.body["items"][0]["name"], "crm",
        "members see the names"
    );
    assert!(!listed.body.to_string().contains(TOKEN));
    let shown = send(
        &app,
        "GET",
        &format!("/api/v1/credentials/{id}"),
        None,
        &[&member[0]],
    )
    .await;
    assert_eq!(shown.body["id"], id.as_str());
    assert!(!shown.body.to_string().contains(TOKEN));

    let replaced = send(
        &app,
        "PUT",
        &format!("/api/v1/credentials/{id}/secret"),
        Some(json!({"secret": {"bearer": "tok-rotated", "hosts": ["api.crm.example"]}})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert!(!replaced.body.to_string().contains("tok-rotated"));

    let path = format!("/api/v1/credentials/{id}");
    let rename = |name: &'static str, who: String| {
        let (app, path) = (&app, path.clone());
        async move { send(app, "PATCH", &path, Some(json!({"name": name})), &[&who]).await }
    };
    let renamed = rename(" crm live ", owner[0].clone()).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "crm live");
    assert_eq!(
        rename("x", member[0].clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let blank = rename("", owner[0].clone()).await;
    assert_eq!(blank.body["error"]["details"][0]["path"], "$.name");
    send(
        &app,
        "POST",
        "/api/v1/credentials",
        Some(json!({"service": "http", "name": "crm old", "secret": {"bearer": "b", "hosts": ["api.crm.example"]}})),
        &[&owner[0]],
    )
    .await;
    let taken = rename("crm old", owner[0].clone()).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);

    let removed = send(
        &app,
        "DELETE",
        &format!("/api/v1/credentials/{id}"),
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = send(
        &app,
        "GET",
        &format!("/api/v1/credentials/{id}"),
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    let audit = send(&app, "GET", "/api/v1/audit", None, &[&owner[0]]).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["action"].as_str())
        .filter(|action| action.starts_with("credential."))
        .collect();
    assert_eq!(
        actions,
        [
            "credential.deleted",
            "credential.created",
            "credential.renamed",
            "credential.secret_replaced",
            "credential.created"
        ]
    );
    assert!(
        !audit.body.to_string().contains(TOKEN),
        "the audit log keeps no secret"
    );
}

async fn bad_credentials_are_refused_with_the_field_named(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    for (body, path) in [
        (
            json!({"service": "Not A Service", "name": "x", "secret": {"k": "v"}}),
            "$.service",
        ),
        (
            json!({"service": "http", "name": " ", "secret": {"k": "v"}}),
            "$.name",
        ),
        (
            json!({"service": "http", "name": "x", "secret": {}}),
            "$.secret",
        ),
        (
            json!({"service": "http", "name": "x", "secret": {"k": "v".repeat(70_000)}}),
            "$.secret",
        ),
        (
            json!({"service": "http", "name": "x", "secret": {"bearer": "t"}}),
            "$.secret.hosts",
        ),
        (
            json!({"service": "http", "name": "x", "secret": {"bearer": "t", "hosts": ["https://crm.example/api"]}}),
            "$.secret.hosts",
        ),
        (
            json!({"service": "http", "name": "x", "secret": {"header": {"name": "X Key", "value": "v"}, "hosts": ["crm.example"]}}),
            "$.secret.header.name",
        ),
        (
            json!({"service": "email", "name": "x", "secret": {"email": "ann@acme.test", "password": "p", "imap_host": "imap.acme.test", "smtp_host": "https://smtp.acme.test"}}),
            "$.secret.smtp_host",
        ),
    ] {
        let refused = send(
            &app,
            "POST",
            "/api/v1/credentials",
            Some(body),
            &[&owner[0]],
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.body
        );
        assert_eq!(
            refused.body["error"]["details"][0]["path"], path,
            "{}",
            refused.body
        );
    }
    let not_an_object = send(
        &app,
        "POST",
        "/api/v1/credentials",
        Some(json!({"service": "http", "name": "x", "secret": "plain"})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        not_an_object.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        not_an_object.body
    );
    assert_eq!(
        not_an_object.body["error"]["details"][0]["path"],
        "$.secret"
    );
}

async fn a_step_uses_the_credential_it_names_and_keeps_none_of_it(test: &TestStore) {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let kept = seen.clone();
    let service = axum::Router::new().route(
        "/crm",
        axum::routing::post(move |headers: axum::http::HeaderMap| async move {
            kept.lock().unwrap().push(
                headers
                    .get("authorization")
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned),
            );
            // A header dump, as some services answer.
            axum::Json(json!({"ok": true, "headers": {"authorization": headers.get("authorization").and_then(|value| value.to_str().ok())}}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    let app = App::reaching_localhost(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    for (name, token, host) in [
        ("crm", TOKEN, "127.0.0.1"),
        ("other", "tok-other", "127.0.0.1"),
        ("elsewhere", "tok-elsewhere", "api.crm.example"),
    ] {
        let created = send(
            &app,
            "POST",
            "/api/v1/credentials",
            Some(json!({"service": "http", "name": name, "secret": {"bearer": token, "hosts": [host]}})),
            &[&owner[0]],
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    let workflow = |credential: Option<&str>| {
        let mut step = json!({"id": "call", "type": "integration", "service": "http", "action": "request",
            "inputs": {"method": "POST", "url": format!("http://{addr}/crm")}});
        if let Some(name) = credential {
            step["credential"] = json!(name);
        }
        json!({"id": "wf_crm", "name": "CRM", "steps": [step]})
    };
    let saved = send(
        &app,
        "POST",
        "/api/v1/workflows",
        Some(workflow(Some("crm"))),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    let run = send(
        &app,
        "POST",
        "/api/v1/workflows/wf_crm/runs?wait=20",
        Some(json!({})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(run.body["state"], "COMPLETED", "{}", run.body);
    assert_eq!(
        seen.lock().unwrap().last().cloned().flatten(),
        Some(format!("Bearer {TOKEN}"))
    );
    let id = run.body["id"].as_str().unwrap();
    let stored = send(
        &app,
        "GET",
        &format!("/api/v1/executions/{id}"),
        None,
        &[&owner[0]],
    )
    .await;
    assert!(!stored.body.to_string().contains(TOKEN), "{}", stored.body);
    let run = send(
        &app,
        "POST",
        "/api/v1/workflows/wf_crm/runs?wait=20",
        Some(json!({})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(run.body["state"], "COMPLETED");
    let audit = send(
        &app,
        "GET",
        "/api/v1/audit?action=credential.used",
        None,
        &[&owner[0]],
    )
    .await;
    let used = audit.body["items"].as_array().unwrap();
    assert_eq!(
        used.len(),
        1,
        "two runs, one audit row within the hour: {}",
        audit.body
    );
    assert_eq!(
        used[0]["details"],
        json!({"service": "http", "name": "crm"})
    );

    assert_eq!(
        stored.body["steps"][0]["output"]["body"]["headers"]["authorization"], "Bearer [redacted]",
        "what the service echoed of the secret is not kept: {}",
        stored.body
    );

    // A credential bound to other hosts is not sent here: the step fails before any call.
    let saved = send(
        &app,
        "PUT",
        "/api/v1/workflows/wf_crm",
        Some(workflow(Some("elsewhere"))),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let run = send(
        &app,
        "POST",
        "/api/v1/workflows/wf_crm/runs?wait=20",
        Some(json!({})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(run.body["state"], "FAILED", "{}", run.body);
    let message = run.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("may be sent only to api.crm.example") && message.contains("127.0.0.1"),
        "{message}"
    );
    assert_eq!(seen.lock().unwrap().len(), 2, "nothing more was called");

    // No credential named: an http step sends none, however many the organization has.
    let saved = send(
        &app,
        "PUT",
        "/api/v1/workflows/wf_crm",
        Some(workflow(None)),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let run = send(
        &app,
        "POST",
        "/api/v1/workflows/wf_crm/runs?wait=20",
        Some(json!({})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(run.body["state"], "COMPLETED", "{}", run.body);
    assert_eq!(seen.lock().unwrap().last().cloned(), Some(None));
}

async fn the_connectors_declare_their_auth_and_actions(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let viewer = join(&app, &owner, "viewer@example.com", "viewer").await.0;
    let listed = send(&app, "GET", "/api/v1/connectors", None, &[&viewer[0]]).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let items = listed.body["items"].as_array().unwrap();
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|item| item["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "asana",
            "calendly",
            "email",
            "gmail",
            "google_calendar",
            "http",
            "hubspot",
            "make",
            "notion",
            "resend",
            "slack",
            "stripe",
            "zapier",
            "anthropic",
            "cohere",
            "google",
            "openai"
        ]
    );
    // A connector connected with a form of fields describes each, for the web app to build it.
    let email = items.iter().find(|item| item["id"] == "email").unwrap();
    assert_eq!(email["auth"]["kind"], "fields");
    let fields: Vec<(&str, &str)> = email["auth"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| {
            (
                field["id"].as_str().unwrap(),
                field["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(fields.contains(&("password", "password")), "{fields:?}");
    assert!(fields.contains(&("imap_security", "choice")), "{fields:?}");
    assert_eq!(
        email["auth"]["fields"][0],
        json!({"id": "email", "label": "Email address", "kind": "text", "required": true, "hint": "The address mail is sent from."})
    );
    let http = items.iter().find(|item| item["id"] == "http").unwrap();
    assert_eq!(http["category"], "utility");
    assert_eq!(http["actions"][0]["id"], "request");
    // Each action's example satisfies its own input schema.
    let schema = jsonschema::validator_for(&http["actions"][0]["input_schema"]).unwrap();
    assert!(schema.is_valid(&http["actions"][0]["example"]));
    assert!(
        !schema.is_valid(&json!({"method": "GET"})),
        "the url is required"
    );
    let openai = items.iter().find(|item| item["id"] == "openai").unwrap();
    assert_eq!(openai["category"], "ai");
    assert_eq!(openai["auth"]["kind"], "api_key");
    let gmail = items.iter().find(|item| item["id"] == "gmail").unwrap();
    assert_eq!(gmail["base_url"], "https://gmail.googleapis.com");
    assert_eq!(gmail["auth"]["kind"], "oauth2");
    assert_eq!(
        gmail["auth"]["token_url"],
        "https://oauth2.googleapis.com/token"
    );
    assert_eq!(gmail["auth"]["configured"], false, "no OAuth app here");
    assert_eq!(
        gmail["rate_limit"],
        json!({"requests": 50, "per_seconds": 1})
    );
    assert_eq!(gmail["triggers"][0]["id"], "new_email");
    let schema = jsonschema::validator_for(&gmail["triggers"][0]["input_schema"]).unwrap();
    assert!(schema.is_valid(&json!({"label": "INBOX"})));
    assert!(!schema.is_valid(&json!({"labels": "INBOX"})));

    let quota = send(
        &app,
        "GET",
        "/api/v1/connectors/slack/quota",
        None,
        &[&viewer[0]],
    )
    .await;
    assert_eq!(quota.status, StatusCode::OK, "{}", quota.body);
    assert_eq!(quota.body["quota"]["limit"]["requests"], 50);
    assert_eq!(quota.body["quota"]["used"], 0);
    assert_eq!(quota.body["quota"]["remaining"], 50);
    let unlimited = send(
        &app,
        "GET",
        "/api/v1/connectors/http/quota",
        None,
        &[&viewer[0]],
    )
    .await;
    assert_eq!(
        unlimited.body["quota"],
        Value::Null,
        "http declares no limit"
    );
    let unknown = send(
        &app,
        "GET",
        "/api/v1/connectors/fax/quota",
        None,
        &[&viewer[0]],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn model_prices_are_checked_set_and_removed(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let price = json!({"input_per_million_usd": 0.5, "output_per_million_usd": 1.5});
    let unknown = send(
        &app,
        "PUT",
        "/api/v1/ai/prices/acme-ai/model-1",
        Some(price.clone()),
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    assert_eq!(unknown.body["error"]["details"][0]["path"], "provider");
    let negative = send(
        &app,
        "PUT",
        "/api/v1/ai/prices/openai/gpt-4o",
        Some(json!({"input_per_million_usd": -1.0, "output_per_million_usd": 1.0})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(negative.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        negative.body["error"]["details"][0]["path"],
        "$.input_per_million_usd"
    );
    let set = send(
        &app,
        "PUT",
        "/api/v1/ai/prices/openai/GPT-4o",
        Some(price),
        &[&owner[0]],
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["model"], "gpt-4o", "model ids are kept lower-case");
    let listed = send(&app, "GET", "/api/v1/ai/prices", None, &[&owner[0]]).await;
    assert_eq!(listed.body["organization"].as_array().unwrap().len(), 1);
    let removed = send(
        &app,
        "DELETE",
        "/api/v1/ai/prices/openai/gpt-4o",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let again = send(
        &app,
        "DELETE",
        "/api/v1/ai/prices/openai/gpt-4o",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

/// A fake Slack Web API whose token was revoked (the app was removed): `chat.postMessage`
/// answers HTTP 200 with `{"ok": false, "error": "token_revoked"}`, as Slack does, until the
/// token is the one given after reconnecting.
async fn a_slack_app_removed_from_the_workspace_needs_reconnecting(test: &TestStore) {
    use std::sync::{Arc, Mutex};
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = calls.clone();
    let slack = axum::Router::new().route(
        "/api/chat.postMessage",
        axum::routing::post(move |headers: axum::http::HeaderMap| async move {
            let token = headers
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            kept.lock().unwrap().push(token.clone());
            if token == "Bearer xoxb-reinstalled" {
                axum::Json(
                    json!({"ok": true, "channel": "C024BE91L", "ts": "1503435956.000247",
                    "message": {"type": "message", "text": "Hot lead", "ts": "1503435956.000247"}}),
                )
            } else {
                axum::Json(json!({"ok": false, "error": "token_revoked"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, slack).await.unwrap() });
    let app = App::with_connectors(
        test,
        baton_connectors::ConnectorSettings {
            slack_base_url: Some(format!("http://{addr}/api")),
            ..Default::default()
        },
    );
    let owner = sign_up(&app, "owner@example.com").await.session();
    let created = send(
        &app,
        "POST",
        "/api/v1/credentials",
        Some(json!({"service": "slack", "name": "sales", "secret": {"bot_token": "xoxb-removed"}})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let credential = format!(
        "/api/v1/credentials/{}",
        created.body["id"].as_str().unwrap()
    );
    let saved = send(
        &app,
        "POST",
        "/api/v1/workflows",
        Some(json!({"id": "wf_leads", "name": "Leads", "steps": [{"id": "post", "type": "integration",
            "service": "slack", "action": "post_message", "inputs": {"channel": "C024BE91L", "text": "Hot lead"}}]})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    let run = || async {
        send(
            &app,
            "POST",
            "/api/v1/workflows/wf_leads/runs?wait=20",
            Some(json!({})),
            &[&owner[0]],
        )
        .await
        .body
    };

    let first = run().await;
    assert_eq!(first["state"], "FAILED", "{first}");
    let message = first["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("token_revoked"), "{message}");
    let shown = send(&app, "GET", &credential, None, &[&owner[0]]).await;
    assert_eq!(shown.body["status"], "reconnect_needed", "{}", shown.body);
    // From now on the step fails at once, saying so, without asking Slack.
    let second = run().await;
    assert_eq!(second["state"], "FAILED", "{second}");
    let message = second["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("needs to be connected again"), "{message}");
    assert_eq!(calls.lock().unwrap().len(), 1, "Slack was asked once");

    // Reinstalled: the new token clears the mark and the step posts.
    let replaced = send(
        &app,
        "PUT",
        &format!("{credential}/secret"),
        Some(json!({"secret": {"bot_token": "xoxb-reinstalled"}})),
        &[&owner[0]],
    )
    .await;
    assert!(replaced.status.is_success(), "{}", replaced.body);
    let shown = send(&app, "GET", &credential, None, &[&owner[0]]).await;
    assert_ne!(shown.body["status"], "reconnect_needed", "{}", shown.body);
    let third = run().await;
    assert_eq!(third["state"], "COMPLETED", "{third}");
    assert_eq!(calls.lock().unwrap().len(), 2);
}
