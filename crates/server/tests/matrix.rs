//! Every role against every endpoint that acts inside an organization, checked against the
//! seed's permission matrix; and every object endpoint with ids of another organization, which
//! must answer 404 as if the object did not exist. On SQLite, and on PostgreSQL when configured.

mod common;

use axum::http::StatusCode;
use common::harness;
use common::{App, Reply, TestStore, join, send, send_bearer, sign_up};
use serde_json::{Value, json};

conformance!(
    every_role_meets_the_seeds_matrix_at_every_endpoint,
    ids_of_another_organization_answer_404_everywhere,
    an_api_key_cannot_outrank_its_maker,
);

const ROLES: [&str; 4] = ["owner", "admin", "member", "viewer"];

fn random_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// One row of the test: a request, and for Owner, Admin, Member, Viewer whether it is allowed.
struct Row {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    allowed: [bool; 4],
}

async fn every_role_meets_the_seeds_matrix_at_every_endpoint(test: &TestStore) {
    let app = App::on(test);
    for (index, role) in ROLES.iter().enumerate() {
        // A fresh organization per role, so that one role's changes do not meet another's.
        let owner = sign_up(&app, &format!("owner-{role}@example.com"))
            .await
            .session();
        let (actor, _) = if *role == "owner" {
            (owner.clone(), String::new())
        } else {
            join(&app, &owner, &format!("{role}@example.com"), role).await
        };
        let (_, viewer_id) = join(
            &app,
            &owner,
            &format!("target-{role}@example.com"),
            "viewer",
        )
        .await;
        // A workflow the Owner made: Members may not touch it, only view it.
        let workflow = json!({"id": "wf_owners", "name": "Owner's", "steps": [
            {"id": "a", "type": "transformation", "action": "set", "inputs": {"x": 1}}
        ]});
        let made = send(
            &app,
            "POST",
            "/api/v1/workflows",
            Some(workflow.clone()),
            &[&owner[0]],
        )
        .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        let ran = send(
            &app,
            "POST",
            "/api/v1/workflows/wf_owners/runs",
            None,
            &[&owner[0]],
        )
        .await;
        let execution = ran.body["id"].as_str().unwrap().to_owned();
        let mut own = workflow.clone();
        own["id"] = json!(format!("wf_{role}"));
        let everyone = [true, true, true, true];
        let creators = [true, true, true, false];
        let owner_and_admin = [true, true, false, false];
        let owner_only = [true, false, false, false];
        let rows = [
            Row {
                name: "make another organization",
                method: "POST",
                path: "/api/v1/organizations".into(),
                body: Some(json!({"name": format!("Side project of {role}")})),
                allowed: everyone,
            },
            Row {
                name: "enrol in two-factor sign-in",
                method: "POST",
                path: "/api/v1/auth/mfa/enroll".into(),
                body: None,
                allowed: everyone,
            },
            Row {
                name: "list workflows (view)",
                method: "GET",
                path: "/api/v1/workflows".into(),
                body: None,
                allowed: everyone,
            },
            Row {
                name: "read a workflow (view)",
                method: "GET",
                path: "/api/v1/workflows/wf_owners".into(),
                body: None,
                allowed: everyone,
            },
            Row {
                name: "read an execution (view)",
                method: "GET",
                path: format!("/api/v1/executions/{execution}"),
                body: None,
                allowed: everyone,
            },
            Row {
                name: "list executions (view)",
                method: "GET",
                path: "/api/v1/executions".into(),
                body: None,
                allowed: everyone,
            },
            Row {
                name: "create a workflow",
                method: "POST",
                path: "/api/v1/workflows".into(),
                body: Some(own),
                allowed: creators,
            },
            Row {
                name: "edit someone else's workflow",
                method: "PUT",
                path: "/api/v1/workflows/wf_owners".into(),
                body: Some(workflow.clone()),
                allowed: owner_and_admin,
            },
            Row {
                name: "run someone else's workflow",
                method: "POST",
                path: "/api/v1/workflows/wf_owners/runs".into(),
                body: Some(json!({})),
                allowed: owner_and_admin,
            },
            Row {
                name: "activate someone else's workflow",
                method: "POST",
                path: "/api/v1/workflows/wf_owners/activate".into(),
                body: None,
                allowed: owner_and_admin,
            },
            Row {
                name: "retry an execution of someone else's workflow",
                method: "POST",
                path: format!("/api/v1/executions/{execution}/retry"),
                body: None,
                allowed: owner_and_admin,
            },
            Row {
                name: "delete someone else's workflow",
                method: "DELETE",
                path: "/api/v1/workflows/wf_owners".into(),
                body: None,
                allowed: owner_and_admin,
            },
            Row {
                name: "who am I",
                method: "GET",
                path: "/api/v1/me".into(),
                body: None,
                allowed: everyone,
            },
            Row {
                name: "list members (view)",
                method: "GET",
                path: "/api/v1/members".into(),
                body: None,
                allowed: everyone,
            },
            Row {
                name: "read the organization",
                method: "GET",
                path: "/api/v1/organization".into(),
                body: None,
                allowed: everyone,
            },
            Row {
                name: "invite (invite users)",
                method: "POST",
                path: "/api/v1/invites".into(),
                body: Some(json!({"email": format!("new-{role}@example.com"), "role": "viewer"})),
                allowed: owner_and_admin,
            },
            Row {
                name: "list invites (invite users)",
                method: "GET",
                path: "/api/v1/invites".into(),
                body: None,
                allowed: owner_and_admin,
            },
            Row {
                name: "withdraw an invite (invite users)",
                method: "DELETE",
                path: format!("/api/v1/invites/{}", random_id()),
                body: None,
                allowed: owner_and_admin,
            },
            Row {
                name: "change a role (invite users)",
                method: "PATCH",
                path: format!("/api/v1/members/{viewer_id}"),
                body: Some(json!({"role": "viewer"})),
                allowed: owner_and_admin,
            },
            Row {
                name: "remove a member (invite users)",
                method: "DELETE",
                path: format!("/api/v1/members/{}", random_id()),
                body: None,
                allowed: owner_and_admin,
            },
            Row {
                name: "list API keys (integrations)",
                method: "GET",
                path: "/api/v1/api-keys".into(),
                body: None,
                allowed: owner_and_admin,
            },
            Row {
                name: "make an API key (integrations)",
                method: "POST",
                path: "/api/v1/api-keys".into(),
                body: Some(json!({"name": "k", "role": "viewer"})),
                allowed: owner_and_admin,
            },
            Row {
                name: "revoke an API key (integrations)",
                method: "DELETE",
                path: format!("/api/v1/api-keys/{}", random_id()),
                body: None,
                allowed: owner_and_admin,
            },
            Row {
                name: "list credentials (their names only)",
                method: "GET",
                path: "/api/v1/credentials".into(),
                body: None,
                allowed: everyone,
            },
            Row {
                name: "store a credential (integrations)",
                method: "POST",
                path: "/api/v1/credentials".into(),
                body: Some(
                    json!({"service": "http", "name": format!("by-{role}"), "secret": {"bearer": "t", "hosts": ["crm.example"]}}),
                ),
                allowed: owner_and_admin,
            },
            Row {
                name: "replace a credential's secret (integrations)",
                method: "PUT",
                path: format!("/api/v1/credentials/{}/secret", random_id()),
                body: Some(json!({"secret": {"bearer": "t2", "hosts": ["crm.example"]}})),
                allowed: owner_and_admin,
            },
            Row {
                name: "remove a credential (integrations)",
                method: "DELETE",
                path: format!("/api/v1/credentials/{}", random_id()),
                body: None,
                allowed: owner_and_admin,
            },
            Row {
                name: "see the model prices",
                method: "GET",
                path: "/api/v1/ai/prices".into(),
                body: None,
                allowed: everyone,
            },
            Row {
                name: "set a model price (settings)",
                method: "PUT",
                path: "/api/v1/ai/prices/openai/gpt-4o".into(),
                body: Some(json!({"input_per_million_usd": 2.0, "output_per_million_usd": 8.0})),
                allowed: owner_and_admin,
            },
            Row {
                name: "read the audit log",
                method: "GET",
                path: "/api/v1/audit".into(),
                body: None,
                allowed: owner_and_admin,
            },
            Row {
                name: "change settings",
                method: "PATCH",
                path: "/api/v1/organization".into(),
                body: Some(json!({})),
                allowed: owner_and_admin,
            },
            Row {
                name: "hand over ownership",
                method: "POST",
                path: "/api/v1/organization/transfer".into(),
                body: Some(json!({"user_id": random_id()})),
                allowed: owner_only,
            },
            Row {
                name: "delete the organization",
                method: "DELETE",
                path: "/api/v1/organization".into(),
                body: Some(json!({"confirm": "not the name"})),
                allowed: owner_only,
            },
        ];
        for row in rows {
            let reply = send(&app, row.method, &row.path, row.body.clone(), &[&actor[0]]).await;
            let allowed = row.allowed[index];
            if allowed {
                assert!(
                    reply.status != StatusCode::FORBIDDEN
                        && reply.status != StatusCode::UNAUTHORIZED
                        && !reply.status.is_server_error(),
                    "{role} may {}: {} {}",
                    row.name,
                    reply.status,
                    reply.body
                );
            } else {
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{role} may not {}: {}",
                    row.name,
                    reply.body
                );
                assert_eq!(reply.body["error"]["code"], "forbidden");
            }
        }
    }
}

fn status(reply: &Reply) -> StatusCode {
    reply.status
}

async fn ids_of_another_organization_answer_404_everywhere(test: &TestStore) {
    let app = App::on(test);
    let ours = sign_up(&app, "ours@example.com").await.session();
    let theirs = sign_up(&app, "theirs@example.com").await.session();
    let their_org = send(&app, "GET", "/api/v1/organization", None, &[&theirs[0]])
        .await
        .body["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, their_member) = join(&app, &theirs, "their-member@example.com", "member").await;
    let their_key = send(
        &app,
        "POST",
        "/api/v1/api-keys",
        Some(json!({"name": "theirs", "role": "viewer"})),
        &[&theirs[0]],
    )
    .await;
    let their_key_id = their_key.body["api_key"]["id"].as_str().unwrap().to_owned();
    let their_key_secret = their_key.body["key"].as_str().unwrap().to_owned();
    let their_invite = send(
        &app,
        "POST",
        "/api/v1/invites",
        Some(json!({"email": "pending@example.com", "role": "member"})),
        &[&theirs[0]],
    )
    .await
    .body["invite"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let their_credential = send(
        &app,
        "POST",
        "/api/v1/credentials",
        Some(json!({"service": "http", "name": "theirs", "secret": {"bearer": "their-token", "hosts": ["crm.example"]}})),
        &[&theirs[0]],
    )
    .await;
    assert_eq!(
        their_credential.status,
        StatusCode::CREATED,
        "{}",
        their_credential.body
    );
    let their_credential = their_credential.body["id"].as_str().unwrap().to_owned();
    let attempts = [
        ("DELETE", format!("/api/v1/api-keys/{their_key_id}"), None),
        (
            "GET",
            format!("/api/v1/credentials/{their_credential}"),
            None,
        ),
        (
            "DELETE",
            format!("/api/v1/credentials/{their_credential}"),
            None,
        ),
        (
            "PUT",
            format!("/api/v1/credentials/{their_credential}/secret"),
            Some(json!({"secret": {"bearer": "mine now"}})),
        ),
        ("DELETE", format!("/api/v1/invites/{their_invite}"), None),
        (
            "PATCH",
            format!("/api/v1/members/{their_member}"),
            Some(json!({"role": "viewer"})),
        ),
        ("DELETE", format!("/api/v1/members/{their_member}"), None),
        (
            "POST",
            "/api/v1/organization/transfer".to_owned(),
            Some(json!({"user_id": their_member})),
        ),
        (
            "POST",
            "/api/v1/auth/switch".to_owned(),
            Some(json!({"organization_id": their_org})),
        ),
        ("DELETE", "/api/v1/api-keys/not-even-an-id".to_owned(), None),
    ];
    for (method, path, body) in attempts {
        let reply = send(&app, method, &path, body, &[&ours[0]]).await;
        assert_eq!(
            status(&reply),
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.body
        );
        assert_eq!(reply.body["error"]["code"], "not_found");
    }
    // One attempt from a known address, to see it in the log.
    let from_address = axum::http::Request::builder()
        .method("GET")
        .uri(format!("/api/v1/credentials/{their_credential}"))
        .header(axum::http::header::HOST, "baton.test")
        .header(axum::http::header::COOKIE, &ours[0])
        .extension(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [198, 51, 100, 5],
            40000,
        ))));
    let reply = common::dispatch(&app, from_address, None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // Their Owner sees the attempts in their audit log.
    let audit = send(
        &app,
        "GET",
        "/api/v1/audit?action=access.cross_organization_denied",
        None,
        &[&theirs[0]],
    )
    .await;
    let targets: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["target"].as_str())
        .collect();
    assert!(
        targets.contains(&format!("credential:{their_credential}").as_str())
            && targets.contains(&format!("organization:{their_org}").as_str()),
        "{targets:?}"
    );
    assert!(
        audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|event| event["ip"] == "198.51.100.5"),
        "the address is kept: {}",
        audit.body
    );
    // Nothing of theirs changed.
    assert_eq!(
        send_bearer(&app, "GET", "/api/v1/me", None, &their_key_secret)
            .await
            .status,
        StatusCode::OK,
        "their key still works"
    );
    let invites = send(&app, "GET", "/api/v1/invites", None, &[&theirs[0]]).await;
    assert_eq!(invites.body["items"].as_array().unwrap().len(), 1);
    let members = send(&app, "GET", "/api/v1/members", None, &[&theirs[0]]).await;
    let roles: Vec<&str> = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert!(
        roles.contains(&"member") && roles.contains(&"owner"),
        "{roles:?}"
    );
    // And an API key of theirs sees only their organization.
    let seen = send_bearer(&app, "GET", "/api/v1/members", None, &their_key_secret).await;
    assert!(
        seen.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["user"]["email"] != "ours@example.com")
    );
}

async fn an_api_key_cannot_outrank_its_maker(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let (admin, _) = join(&app, &owner, "admin@example.com", "admin").await;
    let too_high = send(
        &app,
        "POST",
        "/api/v1/api-keys",
        Some(json!({"name": "sneaky", "role": "owner"})),
        &[&admin[0]],
    )
    .await;
    assert_eq!(too_high.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_high.body["error"]["details"][0]["path"], "$.role");
    let admin_key = send(
        &app,
        "POST",
        "/api/v1/api-keys",
        Some(json!({"name": "ci", "role": "admin"})),
        &[&admin[0]],
    )
    .await;
    assert_eq!(admin_key.status, StatusCode::CREATED);
    let key = admin_key.body["key"].as_str().unwrap();
    let deletion = send_bearer(
        &app,
        "DELETE",
        "/api/v1/organization",
        Some(json!({"confirm": "Acme Ltd"})),
        key,
    )
    .await;
    assert_eq!(
        deletion.status,
        StatusCode::FORBIDDEN,
        "an Admin's key cannot do what only the Owner may"
    );
}
