//! Data portability and erasure through the real router: an Owner's zip of the whole
//! organization (no secret in it), a person's own data and the deletion of their account, and an
//! organization deleted down to its last row; on SQLite, and on PostgreSQL when configured.

mod common;

use std::io::Read;

use axum::http::StatusCode;
use common::harness;
use common::{App, PASSWORD, TestStore, join, send, sign_up};
use serde_json::{Value, json};

conformance!(
    an_owner_downloads_the_whole_organization_and_no_secret_is_in_it,
    a_person_downloads_their_data_and_deletes_their_account,
    a_deleted_organization_leaves_no_row_behind,
);

const TOKEN: &str = "tok-export-5be0c9d13a";

/// An organization with a credential, a workflow of two versions, a finished run of it and an
/// API key; the owner's session and the ids made.
async fn busy_organization(app: &App) -> ([String; 2], Vec<uuid::Uuid>, String) {
    let owner = sign_up(app, "owner@example.com").await.session();
    let credential = send(
        app,
        "POST",
        "/api/v1/credentials",
        Some(json!({"service": "http", "name": "crm", "secret": {"bearer": TOKEN, "hosts": ["crm.example"]}})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        credential.status,
        StatusCode::CREATED,
        "{}",
        credential.body
    );
    let workflow = |label: &str| {
        json!({"id": "wf_totals", "name": "Totals", "steps": [
            {"id": "sum", "type": "transformation", "action": "calculate",
             "inputs": {"expression": "trigger.price * 2"}},
            {"id": "say", "type": "transformation", "action": "set", "inputs": {"label": label}}
        ]})
    };
    let saved = send(
        app,
        "POST",
        "/api/v1/workflows",
        Some(workflow("first")),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    let changed = send(
        app,
        "PUT",
        "/api/v1/workflows/wf_totals?base_version=1",
        Some(workflow("second")),
        &[&owner[0]],
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let run = send(
        app,
        "POST",
        "/api/v1/workflows/wf_totals/runs?wait=20",
        Some(json!({"input": {"price": 21}})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(run.body["state"], "COMPLETED", "{}", run.body);
    let key = send(
        app,
        "POST",
        "/api/v1/api-keys",
        Some(json!({"name": "Zapier", "role": "member"})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let organization = send(app, "GET", "/api/v1/organization", None, &[&owner[0]]).await;
    let id = |value: &Value| value.as_str().unwrap().parse::<uuid::Uuid>().unwrap();
    let ids = vec![
        id(&organization.body["organization"]["id"]),
        id(&credential.body["id"]),
        id(&run.body["id"]),
        id(&key.body["api_key"]["id"]),
    ];
    let key = key.body["key"].as_str().unwrap().to_owned();
    (owner, ids, key)
}

/// The files of a zip, by name.
fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut files = std::collections::BTreeMap::new();
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        files.insert(file.name().unwrap().to_string(), text);
    }
    files
}

/// The raw bytes of a download.
async fn download(
    app: &App,
    path: &str,
    cookie: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .method("GET")
        .uri(path)
        .header("host", "baton.test")
        .header("cookie", cookie)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    (status, headers, bytes.to_vec())
}

async fn an_owner_downloads_the_whole_organization_and_no_secret_is_in_it(test: &TestStore) {
    let app = App::on(test);
    let (owner, _, api_key) = busy_organization(&app).await;
    let (admin, _) = join(&app, &owner, "admin@example.com", "admin").await;
    let (status, _, _) = download(&app, "/api/v1/organization/export", &admin[0]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only the Owner exports");

    let (status, headers, bytes) = download(&app, "/api/v1/organization/export", &owner[0]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/zip");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"baton-acme-ltd-")
            && disposition.ends_with(".zip\""),
        "{disposition}"
    );
    let files = unzip(&bytes);
    assert_eq!(
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "README.txt",
            "api_keys.json",
            "audit_log.json",
            "credentials.json",
            "executions.jsonl",
            "members.json",
            "organization.json",
            "templates.json",
            "workflows.json",
        ]
    );
    for (name, text) in &files {
        assert!(
            !text.contains(TOKEN),
            "{name} holds the credential's secret"
        );
        assert!(!text.contains(&api_key), "{name} holds the API key");
    }
    let json = |name: &str| serde_json::from_str::<Value>(&files[name]).unwrap();
    let members = json("members.json");
    let mut emails: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["email"].as_str().unwrap())
        .collect();
    emails.sort();
    assert_eq!(emails, ["admin@example.com", "owner@example.com"]);
    let workflows = json("workflows.json");
    assert_eq!(workflows[0]["key"], "wf_totals");
    assert_eq!(workflows[0]["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        workflows[0]["versions"][0]["definition"]["steps"][1]["inputs"]["label"], "second",
        "newest first, each definition whole"
    );
    let runs: Vec<Value> = files["executions.jsonl"]
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "COMPLETED");
    assert_eq!(runs[0]["output"]["label"], "second");
    let sum = runs[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["id"] == "sum")
        .unwrap();
    assert_eq!(sum["output"]["result"], 42, "each step's output: {sum}");
    assert_eq!(json("credentials.json")[0]["service"], "http");
    assert_eq!(json("credentials.json")[0]["name"], "crm");
    assert_eq!(json("api_keys.json")[0]["name"], "Zapier");
    let log = json("audit_log.json");
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"credential.created"), "{actions:?}");
    // The export itself is in the audit log.
    let log = send(&app, "GET", "/api/v1/audit", None, &[&owner[0]]).await;
    assert_eq!(
        log.body["items"][0]["action"], "organization.exported",
        "{}",
        log.body
    );
}

async fn a_person_downloads_their_data_and_deletes_their_account(test: &TestStore) {
    let app = App::on(test);
    let (owner, ids, _) = busy_organization(&app).await;
    let (member, member_id) = join(&app, &owner, "member@example.com", "member").await;
    let made = send(
        &app,
        "POST",
        "/api/v1/workflows",
        Some(json!({"id": "wf_mine", "name": "Mine", "steps": [
            {"id": "a", "type": "transformation", "action": "set", "inputs": {"ok": true}}]})),
        &[&member[0]],
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);

    let (status, headers, bytes) = download(&app, "/api/v1/me/export", &member[0]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("baton-my-data.json")
    );
    let mine: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(mine["user"]["email"], "member@example.com");
    assert_eq!(mine["organizations"][0]["name"], "Acme Ltd");
    assert_eq!(mine["organizations"][0]["role"], "member");
    assert_eq!(
        mine["organizations"][0]["workflows_made"][0]["key"],
        "wf_mine"
    );
    assert!(
        mine["organizations"][0]["audit_log"]
            .as_array()
            .unwrap()
            .iter()
            .all(|event| event["actor"] == member_id.as_str()),
        "only what they did: {mine}"
    );
    assert!(
        !mine.to_string().contains("owner@example.com"),
        "nobody else's data"
    );

    // The Owner of an organization with others hands it over first.
    let refused = send(
        &app,
        "DELETE",
        "/api/v1/me",
        Some(json!({"confirm": PASSWORD})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("make one of them its Owner"),
        "{}",
        refused.body
    );
    let unconfirmed = send(
        &app,
        "DELETE",
        "/api/v1/me",
        Some(json!({"confirm": "not my password"})),
        &[&member[0]],
    )
    .await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unconfirmed.body["error"]["details"][0]["path"], "$.confirm");

    let gone = send(
        &app,
        "DELETE",
        "/api/v1/me",
        Some(json!({"confirm": PASSWORD})),
        &[&member[0]],
    )
    .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    assert_eq!(
        send(&app, "GET", "/api/v1/me", None, &[&member[0]])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let sign_in = send(
        &app,
        "POST",
        "/api/v1/auth/login",
        Some(json!({"email": "member@example.com", "password": PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(sign_in.status, StatusCode::UNAUTHORIZED);
    let team = send(&app, "GET", "/api/v1/members", None, &[&owner[0]]).await;
    assert!(
        !team.body.to_string().contains("member@example.com"),
        "{}",
        team.body
    );
    let kept = send(&app, "GET", "/api/v1/workflows/wf_mine", None, &[&owner[0]]).await;
    assert_eq!(
        kept.status,
        StatusCode::OK,
        "what they made stays with the organization"
    );

    // Alone in it now, the Owner's account takes the organization with it.
    let last = send(
        &app,
        "DELETE",
        "/api/v1/me",
        Some(json!({"confirm": PASSWORD})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(last.status, StatusCode::NO_CONTENT, "{}", last.body);
    assert_eq!(test.rows_holding(&ids).await, Vec::<String>::new());
}

async fn a_deleted_organization_leaves_no_row_behind(test: &TestStore) {
    let app = App::on(test);
    let (owner, ids, _) = busy_organization(&app).await;
    join(&app, &owner, "admin@example.com", "admin").await;
    let held = test.rows_holding(&ids).await;
    for table in [
        "organizations.id",
        "credentials.id",
        "executions.id",
        "api_keys.id",
        "audit_events.org_id",
    ] {
        assert!(
            held.iter().any(|row| row.starts_with(&format!("{table}:"))),
            "{table} in {held:?}"
        );
    }
    let deleted = send(
        &app,
        "DELETE",
        "/api/v1/organization",
        Some(json!({"confirm": "Acme Ltd"})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(
        test.rows_holding(&ids).await,
        Vec::<String>::new(),
        "no row of it remains"
    );
}
