//! Telling people about failed runs and waiting approvals: the mail in the outbox, the message
//! at a fake Slack (its Web API's wire format), once an hour at most while a workflow keeps
//! failing, as each person chose; on SQLite, and on PostgreSQL when configured.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use baton_server::notices::{Notifier, Round};
use chrono::{TimeDelta, Utc};
use common::harness;
use common::{App, TestStore, send, sign_up};
use serde_json::{Value, json};

conformance!(
    a_failed_run_mails_its_owner_and_posts_in_slack_and_then_once_an_hour,
    each_person_chooses_immediately_an_hourly_digest_or_nothing,
    an_approval_that_waits_is_announced_to_the_owner,
);

type Posts = Arc<Mutex<Vec<Value>>>;

/// A fake Slack Web API that keeps what `chat.postMessage` was sent, and a service that
/// answers 404, for a step that fails.
async fn fakes() -> (String, String, Posts) {
    let posts = Posts::default();
    let kept = posts.clone();
    let app = axum::Router::new()
        .route(
            "/api/chat.postMessage",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| async move {
                    assert_eq!(
                        headers.get("authorization").unwrap(),
                        "Bearer xoxb-alerts",
                        "posted with the named connection"
                    );
                    kept.lock().unwrap().push(body.clone());
                    axum::Json(json!({"ok": true, "channel": "C0OPS", "ts": "1764590000.000100",
                        "message": {"type": "message", "text": body["text"], "ts": "1764590000.000100"}}))
                },
            ),
        )
        .route(
            "/crm/contacts",
            axum::routing::post(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"error": "no such list"})),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        format!("http://{addr}/api"),
        format!("http://{addr}/crm/contacts"),
        posts,
    )
}

fn app_with(test: &TestStore, slack: &str) -> App {
    App::with_connectors(
        test,
        baton_connectors::ConnectorSettings {
            slack_base_url: Some(slack.to_owned()),
            http_allow: baton_connectors::AddressPolicy::parse("127.0.0.1").unwrap(),
            ..Default::default()
        },
    )
}

fn failing(crm: &str, notify: Value) -> Value {
    json!({"id": "wf_sync", "name": "CRM sync", "notify": notify, "steps": [
        {"id": "push", "type": "integration", "service": "http", "action": "request",
         "inputs": {"method": "POST", "url": crm}}
    ]})
}

async fn save(app: &App, cookie: &str, workflow: Value) {
    let saved = send(app, "POST", "/api/v1/workflows", Some(workflow), &[cookie]).await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
}

/// Runs the workflow to its end; its id and state.
async fn run(app: &App, cookie: &str, workflow: &str) -> (String, String) {
    let run = send(
        app,
        "POST",
        &format!("/api/v1/workflows/{workflow}/runs?wait=20"),
        Some(json!({})),
        &[cookie],
    )
    .await;
    (
        run.body["id"].as_str().unwrap().to_owned(),
        run.body["state"].as_str().unwrap().to_owned(),
    )
}

/// The mails to `to` in the outbox that tell of runs (not the sign-up's own), oldest first.
fn notices_to(app: &App, to: &str) -> Vec<String> {
    app.mails()
        .into_iter()
        .filter(|mail| mail.contains(&format!("To: {to}")) && mail.contains("/executions/"))
        .collect()
}

async fn a_failed_run_mails_its_owner_and_posts_in_slack_and_then_once_an_hour(test: &TestStore) {
    let (slack, crm, posts) = fakes().await;
    let app = app_with(test, &slack);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let connected = send(
        &app,
        "POST",
        "/api/v1/credentials",
        Some(json!({"service": "slack", "name": "alerts", "secret": {"bot_token": "xoxb-alerts"}})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    save(
        &app,
        &owner[0],
        failing(
            &crm,
            json!({"emails": ["ops@example.com"], "slack_channel": "#ops", "slack_credential": "alerts"}),
        ),
    )
    .await;
    let (first, state) = run(&app, &owner[0], "wf_sync").await;
    assert_eq!(state, "FAILED");

    // Two servers look at once: the event is claimed, and told, once.
    let now = Utc::now();
    let (one, other) = (
        Notifier::new(app.state.clone()),
        Notifier::new(app.state.clone()),
    );
    let (a, b) = tokio::join!(one.round(now), other.round(now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.claimed + b.claimed, 1, "{a:?} {b:?}");
    assert_eq!(a.sent + b.sent, 3, "the owner, ops@ and #ops: {a:?} {b:?}");

    let to_owner = notices_to(&app, "owner@example.com");
    assert_eq!(to_owner.len(), 1, "{to_owner:#?}");
    let mail = &to_owner[0];
    assert!(mail.contains("Subject: \"CRM sync\" failed"), "{mail}");
    assert!(
        mail.contains("the step \"push\" failed") && mail.contains("404"),
        "the error in plain words: {mail}"
    );
    assert!(
        mail.contains(&format!("http://baton.test/executions/{first}")),
        "a link to the run: {mail}"
    );
    assert!(mail.contains("http://baton.test/settings"), "{mail}");
    assert_eq!(notices_to(&app, "ops@example.com").len(), 1);
    {
        let posts = posts.lock().unwrap();
        assert_eq!(posts.len(), 1, "{posts:?}");
        assert_eq!(posts[0]["channel"], "#ops");
        let text = posts[0]["text"].as_str().unwrap();
        assert!(
            text.contains("\"CRM sync\" failed")
                && text.contains(&format!(
                    "<http://baton.test/executions/{first}|See the run>"
                )),
            "{text}"
        );
    }

    // It keeps failing: nothing more within the hour...
    let (second, _) = run(&app, &owner[0], "wf_sync").await;
    let (third, _) = run(&app, &owner[0], "wf_sync").await;
    let notifier = Notifier::new(app.state.clone());
    assert_eq!(
        notifier.round(now + TimeDelta::minutes(5)).await.unwrap(),
        Round {
            claimed: 2,
            sent: 0
        }
    );
    assert_eq!(
        notifier.round(now + TimeDelta::minutes(59)).await.unwrap(),
        Round::default()
    );
    assert_eq!(notices_to(&app, "owner@example.com").len(), 1);
    assert_eq!(posts.lock().unwrap().len(), 1);

    // ...and then one message for both, to each.
    assert_eq!(
        notifier
            .round(now + TimeDelta::minutes(61))
            .await
            .unwrap()
            .sent,
        3
    );
    let to_owner = notices_to(&app, "owner@example.com");
    assert_eq!(to_owner.len(), 2, "{to_owner:#?}");
    let digest = &to_owner[1];
    assert!(
        digest.contains("Subject: Baton: 2 runs need your attention"),
        "{digest}"
    );
    assert!(
        digest.contains(&second) && digest.contains(&third),
        "{digest}"
    );
    let digest = posts.lock().unwrap().clone();
    assert_eq!(digest.len(), 2);
    assert_eq!(
        digest[1]["text"].as_str().unwrap().lines().count(),
        2,
        "{:?}",
        digest[1]
    );
    assert_eq!(
        notifier.round(now + TimeDelta::minutes(62)).await.unwrap(),
        Round::default(),
        "nothing is told twice"
    );
}

/// Runs `wf_sync` to its failure: the event is claimed, and nothing is sent, even hours later.
async fn fails_unheard(app: &App, cookie: &str, notifier: &Notifier) {
    let (_, state) = run(app, cookie, "wf_sync").await;
    assert_eq!(state, "FAILED");
    let now = Utc::now();
    assert_eq!(notifier.round(now).await.unwrap().claimed, 1);
    let later = notifier.round(now + TimeDelta::hours(2)).await.unwrap();
    assert_eq!(later.sent, 0);
}

async fn each_person_chooses_immediately_an_hourly_digest_or_nothing(test: &TestStore) {
    let (slack, crm, _) = fakes().await;
    let app = app_with(test, &slack);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let me = send(&app, "GET", "/api/v1/me", None, &[&owner[0]]).await;
    assert_eq!(me.body["user"]["notify"], "immediately", "{}", me.body);
    let wrong = send(
        &app,
        "PATCH",
        "/api/v1/me",
        Some(json!({"notify": "sometimes"})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert!(
        wrong.body.to_string().contains("$.notify"),
        "{}",
        wrong.body
    );
    let chosen = send(
        &app,
        "PATCH",
        "/api/v1/me",
        Some(json!({"notify": "hourly"})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(chosen.status, StatusCode::OK, "{}", chosen.body);
    assert_eq!(chosen.body["user"]["notify"], "hourly");
    assert_eq!(
        chosen.body["user"]["name"], "Ann Example",
        "the name is kept"
    );
    save(&app, &owner[0], failing(&crm, json!({}))).await;
    run(&app, &owner[0], "wf_sync").await;
    run(&app, &owner[0], "wf_sync").await;
    let notifier = Notifier::new(app.state.clone());
    let now = Utc::now();
    assert_eq!(
        notifier.round(now).await.unwrap().sent,
        0,
        "not before the hour"
    );
    let on_the_hour = now
        .date_naive()
        .and_hms_opt(now.format("%H").to_string().parse().unwrap(), 0, 0)
        .unwrap()
        .and_utc()
        + TimeDelta::hours(1);
    assert_eq!(notifier.round(on_the_hour).await.unwrap().sent, 1);
    let to_owner = notices_to(&app, "owner@example.com");
    assert_eq!(to_owner.len(), 1, "one digest: {to_owner:#?}");
    assert!(to_owner[0].contains("2 runs need your attention"));

    // Never: the owner hears nothing; a workflow that says never tells nobody.
    let quiet = send(
        &app,
        "PATCH",
        "/api/v1/me",
        Some(json!({"notify": "never"})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(quiet.status, StatusCode::OK);
    fails_unheard(&app, &owner[0], &notifier).await;
    send(
        &app,
        "PATCH",
        "/api/v1/me",
        Some(json!({"notify": "immediately"})),
        &[&owner[0]],
    )
    .await;
    let stored = send(&app, "GET", "/api/v1/workflows/wf_sync", None, &[&owner[0]]).await;
    let version = stored.body["version"].as_i64().unwrap();
    let silenced = send(
        &app,
        "PUT",
        &format!("/api/v1/workflows/wf_sync?base_version={version}"),
        Some(failing(
            &crm,
            json!({"when": "never", "emails": ["ops@example.com"]}),
        )),
        &[&owner[0]],
    )
    .await;
    assert_eq!(silenced.status, StatusCode::OK, "{}", silenced.body);
    fails_unheard(&app, &owner[0], &notifier).await;
    assert_eq!(notices_to(&app, "owner@example.com").len(), 1);
    assert!(notices_to(&app, "ops@example.com").is_empty());

    // A workflow's notify settings are checked when it is saved, at their path.
    let refused = send(
        &app,
        "POST",
        "/api/v1/workflows",
        Some(json!({"id": "wf_bad", "name": "Bad", "notify": {"emails": ["nobody"]},
            "steps": [{"id": "a", "type": "transformation", "action": "set", "inputs": {"ok": true}}]})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body["error"]["details"]
            == json!([{"path": "$.notify.emails[0]",
                "message": "\"nobody\" is not an e-mail address such as ops@example.com"}]),
        "{}",
        refused.body
    );
}

async fn an_approval_that_waits_is_announced_to_the_owner(test: &TestStore) {
    let (slack, _, _) = fakes().await;
    let app = app_with(test, &slack);
    let owner = sign_up(&app, "owner@example.com").await.session();
    save(
        &app,
        &owner[0],
        json!({"id": "wf_refund", "name": "Refunds", "steps": [
            {"id": "ask", "type": "approval", "message": "Refund $40 to Ann?",
             "approvers": {"role": "admin"}, "timeout": "3d"}
        ]}),
    )
    .await;
    let started = send(
        &app,
        "POST",
        "/api/v1/workflows/wf_refund/runs",
        Some(json!({})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let id = started.body["id"].as_str().unwrap().to_owned();
    let notifier = Notifier::new(app.state.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut told = Round::default();
    while told.claimed == 0 {
        assert!(std::time::Instant::now() < deadline, "the approval waits");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        told = notifier.round(Utc::now()).await.unwrap();
    }
    assert_eq!(
        told,
        Round {
            claimed: 1,
            sent: 1
        }
    );
    let mails = notices_to(&app, "owner@example.com");
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(
        mails[0].contains("Subject: \"Refunds\" waits for an approval"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains("It asks: Refund $40 to Ann?"),
        "{}",
        mails[0]
    );
    assert!(mails[0].contains(&format!("/executions/{id}")));
}
