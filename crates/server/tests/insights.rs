//! Feedback and usage, self-hosted: feedback is kept and listed for Owners and Admins (and
//! mailed to the operator when an address is set), and the usage page counts what the
//! organization's own tables hold; on SQLite, and on PostgreSQL when configured.

mod common;

use axum::http::StatusCode;
use common::harness;
use common::{App, TestStore, join, send, sign_up};
use serde_json::json;

conformance!(
    feedback_is_kept_for_the_owners_and_mailed_to_the_operator,
    the_usage_page_counts_workflows_runs_and_people_by_day,
);

async fn feedback_is_kept_for_the_owners_and_mailed_to_the_operator(test: &TestStore) {
    let app = App::configured(test, |config| {
        config.feedback_email = Some("operator@baton.example".into());
    });
    let owner = sign_up(&app, "owner@example.com").await.session();
    let (member, _) = join(&app, &owner, "member@example.com", "member").await;
    let feedback = |body: serde_json::Value| {
        let app = &app;
        let cookie = member[0].clone();
        async move { send(app, "POST", "/api/v1/feedback", Some(body), &[&cookie]).await }
    };
    for (body, path) in [
        (json!({"kind": "nps"}), "$.score"),
        (json!({"kind": "nps", "score": 11}), "$.score"),
        (json!({"kind": "bug", "comment": "  "}), "$.comment"),
        (
            json!({"kind": "idea", "comment": "x".repeat(4001)}),
            "$.comment",
        ),
    ] {
        let refused = feedback(body.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            refused.body["error"]["details"][0]["path"], path,
            "{}",
            refused.body
        );
    }
    let unknown = feedback(json!({"kind": "praise", "comment": "hi"})).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(
        feedback(json!({"kind": "nps", "score": 9, "comment": "Saves me an hour a day"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        feedback(json!({"kind": "bug", "comment": "The run page stays blank",
            "page": "/executions/123", "last_error": "Baton cannot be reached."}))
        .await
        .status,
        StatusCode::CREATED
    );
    let mails: Vec<String> = app
        .mails()
        .into_iter()
        .filter(|mail| mail.contains("To: operator@baton.example"))
        .collect();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert!(mails[0].contains("Subject: Baton feedback from Acme Ltd: 9 out of 10"));
    assert!(mails[1].contains("Subject: Baton feedback from Acme Ltd: a problem"));
    assert!(
        mails[1].contains("Page: /executions/123")
            && mails[1].contains("Last error shown: Baton cannot be reached."),
        "{}",
        mails[1]
    );

    let hidden = send(&app, "GET", "/api/v1/feedback", None, &[&member[0]]).await;
    assert_eq!(hidden.status, StatusCode::FORBIDDEN);
    let listed = send(&app, "GET", "/api/v1/feedback", None, &[&owner[0]]).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["kind"], "bug", "newest first");
    assert_eq!(items[0]["from"], "member@example.com");
    assert_eq!(items[0]["last_error"], "Baton cannot be reached.");
    assert_eq!(items[1]["score"], 9);
    assert_eq!(listed.body["nps"], json!({"responses": 1, "score": 100}));
}

async fn the_usage_page_counts_workflows_runs_and_people_by_day(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let (member, _) = join(&app, &owner, "member@example.com", "member").await;
    for (key, expression) in [("wf_ok", "2 * 21"), ("wf_broken", "trigger.missing * 2")] {
        let saved = send(
            &app,
            "POST",
            "/api/v1/workflows",
            Some(json!({"id": key, "name": key, "steps": [
                {"id": "sum", "type": "transformation", "action": "calculate",
                 "inputs": {"expression": expression}}]})),
            &[&member[0]],
        )
        .await;
        assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
        send(
            &app,
            "POST",
            &format!("/api/v1/workflows/{key}/runs?wait=20"),
            Some(json!({})),
            &[&member[0]],
        )
        .await;
    }
    let connected = send(
        &app,
        "POST",
        "/api/v1/credentials",
        Some(json!({"service": "http", "name": "crm", "secret": {"bearer": "t", "hosts": ["crm.example"]}})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED);

    let hidden = send(&app, "GET", "/api/v1/insights", None, &[&member[0]]).await;
    assert_eq!(hidden.status, StatusCode::FORBIDDEN);
    let wrong = send(&app, "GET", "/api/v1/insights?days=0", None, &[&owner[0]]).await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    let usage = send(&app, "GET", "/api/v1/insights?days=7", None, &[&owner[0]]).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    let body = &usage.body;
    assert_eq!(
        body["totals"],
        json!({"workflows_created": 2, "runs_completed": 1, "runs_failed": 1, "success_rate_percent": 50.0}),
        "{body}"
    );
    let days = body["days"].as_array().unwrap();
    assert_eq!(days.len(), 7, "a row for every day of the window");
    let today = days.last().unwrap();
    assert_eq!(today["day"], chrono::Utc::now().date_naive().to_string());
    assert_eq!(today["workflows_created"], 2);
    assert_eq!(
        today["active_people"], 2,
        "the owner and the member both did something today: {today}"
    );
    assert!(days[..6].iter().all(|day| day["runs_completed"] == 0));
    assert_eq!(
        body["services"],
        json!([{"service": "http", "connections": 1}])
    );
}
