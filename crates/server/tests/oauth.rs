//! Connecting Gmail with OAuth2 through the real router, against a local fake of Google's
//! consent and token endpoints (RFC 6749 and RFC 7636 as Google speaks them) and of the Gmail
//! API: the consent page carries a sealed state and a PKCE challenge, the callback's code is
//! exchanged with the verifier, tokens are refreshed after a 401 and before they expire, and a
//! revoked grant shows as "reconnect needed" without more calls to Google.

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use common::harness;
use common::{App, TestStore, executions, join, send, sign_up};
use serde_json::{Value, json};
use sha2::Digest;

conformance!(
    gmail_is_connected_with_oauth_and_its_token_kept_fresh,
    the_consent_flow_refuses_what_it_should,
    new_gmail_messages_start_one_run_each,
);

const CLIENT_ID: &str = "client-1.apps.googleusercontent.com";
const CLIENT_SECRET: &str = "GOCSPX-secret-1";
const CALLBACK: &str = "http://baton.test/api/v1/credentials/oauth/callback";

#[derive(Default)]
struct Google {
    /// The challenge of the consent page last shown, and the code it gives.
    challenge: Option<String>,
    /// The access token the Gmail API takes now.
    valid: Option<String>,
    issued: u32,
    revoked: bool,
    /// Seconds the next refreshed token lasts.
    next_lifetime: u64,
    refreshes: u32,
    code_exchanges: u32,
    api_calls: u32,
    refused: u32,
    /// The tokens the Gmail API was called with, in order.
    seen: Vec<String>,
    /// Messages that arrived in the inbox, in order (history ids from 9002).
    arrived: Vec<String>,
    /// `history.list` calls answered, and whether it answers 503 now.
    history_calls: u32,
    history_down: bool,
}

const FIRST_HISTORY_ID: usize = 9001;

type Shared = Arc<Mutex<Google>>;

fn token_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

async fn token(
    State(google): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Basic {basic}"))
    {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    }
    let mut google = google.lock().unwrap();
    match field("grant_type").as_deref() {
        Some("authorization_code") => {
            google.code_exchanges += 1;
            let verifier = field("code_verifier").unwrap_or_default();
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            if field("code").as_deref() != Some("code-4/0AeanS0b")
                || google.challenge.as_deref() != Some(challenge.as_str())
                || field("redirect_uri").as_deref() != Some(CALLBACK)
            {
                return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
            }
            google.revoked = false;
            google.issued += 1;
            let access = format!("ya29.access-{}", google.issued);
            google.valid = Some(access.clone());
            Json(json!({
                "access_token": access,
                "expires_in": 3599,
                "refresh_token": "1//0refresh",
                "scope": "https://www.googleapis.com/auth/gmail.modify https://www.googleapis.com/auth/gmail.compose",
                "token_type": "Bearer",
            }))
            .into_response()
        }
        Some("refresh_token") => {
            google.refreshes += 1;
            if google.revoked || field("refresh_token").as_deref() != Some("1//0refresh") {
                return token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            }
            google.issued += 1;
            let access = format!("ya29.access-{}", google.issued);
            google.valid = Some(access.clone());
            let lifetime = std::mem::replace(&mut google.next_lifetime, 3599);
            // Google sends no new refresh token on a refresh.
            Json(
                json!({"access_token": access, "expires_in": lifetime, "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/gmail.modify"}),
            )
            .into_response()
        }
        _ => token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type",
        ),
    }
}

/// The Gmail API's answer to a bearer token it does not take.
fn unauthenticated() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": {"code": 401, "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "status": "UNAUTHENTICATED"}})),
    )
        .into_response()
}

fn bearer_ok(google: &mut Google, headers: &HeaderMap) -> bool {
    google.api_calls += 1;
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    google.seen.push(given.clone());
    let ok = google.valid.as_deref() == Some(given.as_str());
    if !ok {
        google.refused += 1;
    }
    ok
}

async fn profile(State(google): State<Shared>, headers: HeaderMap) -> Response {
    if !bearer_ok(&mut google.lock().unwrap(), &headers) {
        return unauthenticated();
    }
    let history_id = (FIRST_HISTORY_ID + google.lock().unwrap().arrived.len()).to_string();
    Json(json!({"emailAddress": "support@example.com", "messagesTotal": 42, "threadsTotal": 40, "historyId": history_id})).into_response()
}

async fn history(
    State(google): State<Shared>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let mut google = google.lock().unwrap();
    if !bearer_ok(&mut google, &headers) {
        return unauthenticated();
    }
    google.history_calls += 1;
    if google.history_down {
        // Google's error shape for an overloaded backend.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"error": {"code": 503, "message": "The service is currently unavailable.",
                "errors": [{"message": "The service is currently unavailable.", "domain": "global",
                "reason": "backendError"}], "status": "UNAVAILABLE"}}),
            ),
        )
            .into_response();
    }
    let start: usize = query["startHistoryId"].parse().unwrap();
    let records: Vec<Value> = google
        .arrived
        .iter()
        .enumerate()
        .map(|(index, id)| (FIRST_HISTORY_ID + index + 1, id))
        .filter(|(history_id, _)| *history_id > start)
        .map(|(history_id, id)| {
            let message = json!({"id": id, "threadId": id, "labelIds": ["INBOX", "UNREAD"]});
            json!({"id": history_id.to_string(), "messages": [message], "messagesAdded": [{"message": message}]})
        })
        .collect();
    let latest = (FIRST_HISTORY_ID + google.arrived.len()).to_string();
    Json(json!({"history": records, "historyId": latest})).into_response()
}

async fn message(
    State(google): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !bearer_ok(&mut google.lock().unwrap(), &headers) {
        return unauthenticated();
    }
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("Where is my order?");
    Json(json!({
        "id": id, "threadId": "t-1", "labelIds": ["INBOX"], "snippet": "Where is my order?",
        "payload": {"mimeType": "text/plain", "headers": [
            {"name": "From", "value": "Ann <ann@customer.com>"},
            {"name": "Subject", "value": "Order 42"}],
            "body": {"size": 18, "data": body}},
    }))
    .into_response()
}

async fn fake_google() -> (String, Shared) {
    let google: Shared = Arc::default();
    let routes = Router::new()
        .route("/token", post(token))
        .route("/gmail/v1/users/me/profile", get(profile))
        .route("/gmail/v1/users/me/messages/{id}", get(message))
        .route("/gmail/v1/users/me/history", get(history))
        .with_state(google.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    (format!("http://{addr}"), google)
}

fn app_with_gmail(test: &TestStore, google: &str) -> App {
    let mut settings = baton_connectors::ConnectorSettings {
        gmail_base_url: Some(google.to_owned()),
        oauth_redirect_url: Some(CALLBACK.to_owned()),
        ..Default::default()
    };
    settings.oauth.insert(
        "gmail".into(),
        baton_connectors::OAuthClientSettings {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            authorize_url: Some("https://accounts.example.test/o/oauth2/v2/auth".into()),
            token_url: Some(format!("{google}/token")),
        },
    );
    App::with_connectors(test, settings)
}

/// Starts connecting and plays the consent page's part: the challenge it carries is what the
/// fake will check the verifier against. The callback's path and query.
async fn consent(app: &App, owner: &[String; 2], google: &Shared, name: &str) -> String {
    let started = send(
        app,
        "POST",
        "/api/v1/credentials/oauth/gmail/start",
        Some(json!({"name": name})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let url = url::Url::parse(started.body["authorize_url"].as_str().unwrap()).unwrap();
    assert_eq!(url.host_str(), Some("accounts.example.test"));
    assert_eq!(url.path(), "/o/oauth2/v2/auth");
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], CALLBACK);
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(
        query["access_type"], "offline",
        "else Google gives no refresh token"
    );
    assert!(query["scope"].contains("https://www.googleapis.com/auth/gmail.modify"));
    let state = &query["state"];
    assert!(!state.contains("verifier"), "the state is sealed: {state}");
    google.lock().unwrap().challenge = Some(query["code_challenge"].clone());
    format!(
        "{}?state={}&code=code-4/0AeanS0b&scope=gmail.modify",
        baton_connectors::OAUTH_CALLBACK_PATH,
        url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
    )
}

async fn read_email(app: &App, owner: &[String; 2]) -> Value {
    send(
        app,
        "POST",
        "/api/v1/workflows/wf_read/runs?wait=20",
        Some(json!({"input": {"email_id": "18c2f0a1b2c3d4e5"}})),
        &[&owner[0]],
    )
    .await
    .body
}

async fn gmail_is_connected_with_oauth_and_its_token_kept_fresh(test: &TestStore) {
    let (google_url, google) = fake_google().await;
    let app = app_with_gmail(test, &google_url);
    let owner = sign_up(&app, "owner@example.com").await.session();

    let callback = consent(&app, &owner, &google, "support").await;
    let landed = send(&app, "GET", &callback, None, &[]).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(
        landed.body.as_str().unwrap().contains("gmail is connected"),
        "{}",
        landed.body
    );
    assert_eq!(google.lock().unwrap().code_exchanges, 1);

    let listed = send(&app, "GET", "/api/v1/credentials", None, &[&owner[0]]).await;
    let credential = &listed.body["items"][0];
    assert_eq!(credential["service"], "gmail");
    assert_eq!(credential["name"], "support");
    assert_eq!(credential["status"], "connected");
    assert!(
        !listed.body.to_string().contains("ya29"),
        "no token is shown"
    );
    assert!(!listed.body.to_string().contains("1//0refresh"));
    let id = credential["id"].as_str().unwrap().to_owned();

    let tested = send(
        &app,
        "POST",
        &format!("/api/v1/credentials/{id}/test"),
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(tested.body["ok"], true, "{}", tested.body);
    assert_eq!(tested.body["account"]["account"], "support@example.com");

    let misspelt = send(
        &app,
        "POST",
        "/api/v1/workflows",
        Some(json!({"id": "wf_read", "name": "Read", "steps": [{"id": "read", "type": "integration",
            "service": "gmail", "action": "read_email", "inputs": {"emailid": "{{trigger.email_id}}"}}]})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        misspelt.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        misspelt.body
    );
    let text = misspelt.body.to_string();
    assert!(
        text.contains("$.steps[0].inputs") && text.contains("email_id"),
        "{text}"
    );
    let saved = send(
        &app,
        "POST",
        "/api/v1/workflows",
        Some(json!({"id": "wf_read", "name": "Read", "steps": [{"id": "read", "type": "integration",
            "service": "gmail", "action": "read_email", "inputs": {"email_id": "{{trigger.email_id}}"}}]})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);

    // Google stops taking the token early (it may): the step refreshes it and tries once more.
    {
        let mut google = google.lock().unwrap();
        google.valid = None;
        google.next_lifetime = 30;
    }
    let run = read_email(&app, &owner).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    {
        let google = google.lock().unwrap();
        assert_eq!(google.refreshes, 1);
        assert_eq!(
            google.refused, 1,
            "one refused call, then the refreshed token"
        );
        assert_eq!(
            google.seen.last().map(String::as_str),
            Some("ya29.access-2")
        );
    }
    let id_of_run = run["id"].as_str().unwrap();
    let stored = send(
        &app,
        "GET",
        &format!("/api/v1/executions/{id_of_run}"),
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        stored.body["steps"][0]["output"]["subject"], "Order 42",
        "{}",
        stored.body
    );
    assert!(
        !stored.body.to_string().contains("ya29"),
        "no token in the execution"
    );

    // The refreshed token lasts 30 s, under the minute of margin: the next run refreshes it
    // before calling, so Google refuses nothing.
    let run = read_email(&app, &owner).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    {
        let google = google.lock().unwrap();
        assert_eq!(google.refreshes, 2, "refreshed ahead of its expiry");
        assert_eq!(google.refused, 1, "no call with the expiring token");
        assert_eq!(
            google.seen.last().map(String::as_str),
            Some("ya29.access-3")
        );
    }

    // The person revokes Baton's access in their Google account.
    {
        let mut google = google.lock().unwrap();
        google.revoked = true;
        google.valid = None;
    }
    let run = read_email(&app, &owner).await;
    assert_eq!(run["state"], "FAILED", "{run}");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connect gmail again"),
        "{run}"
    );
    let shown = send(
        &app,
        "GET",
        &format!("/api/v1/credentials/{id}"),
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(shown.body["status"], "reconnect_needed", "{}", shown.body);
    assert!(
        shown.body["reconnect_reason"]
            .as_str()
            .unwrap()
            .contains("invalid_grant")
    );
    let calls = {
        let google = google.lock().unwrap();
        (google.api_calls, google.refreshes)
    };
    let run = read_email(&app, &owner).await;
    assert_eq!(run["state"], "FAILED");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("needs to be connected again"),
        "{run}"
    );
    {
        let google = google.lock().unwrap();
        assert_eq!(
            (google.api_calls, google.refreshes),
            calls,
            "no more calls to Google"
        );
    }
    let tested = send(
        &app,
        "POST",
        &format!("/api/v1/credentials/{id}/test"),
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(tested.body["ok"], false);
    assert_eq!(tested.body["reconnect_needed"], true, "{}", tested.body);
    let audit = send(
        &app,
        "GET",
        "/api/v1/audit?action=credential.reconnect_needed",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        audit.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        audit.body
    );

    // Connecting again under the same name brings the same credential back.
    let callback = consent(&app, &owner, &google, "support").await;
    let landed = send(&app, "GET", &callback, None, &[]).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let listed = send(&app, "GET", "/api/v1/credentials", None, &[&owner[0]]).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["id"], id.as_str());
    assert_eq!(listed.body["items"][0]["status"], "connected");
    let run = read_email(&app, &owner).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    let audit = send(
        &app,
        "GET",
        "/api/v1/audit?action=credential.connected",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        audit.body["items"].as_array().map(Vec::len),
        Some(2),
        "{}",
        audit.body
    );
}

async fn the_consent_flow_refuses_what_it_should(test: &TestStore) {
    let (google_url, google) = fake_google().await;
    let app = app_with_gmail(test, &google_url);
    let owner = sign_up(&app, "owner@example.com").await.session();

    let member = join(&app, &owner, "member@example.com", "member").await.0;
    let started = send(
        &app,
        "POST",
        "/api/v1/credentials/oauth/gmail/start",
        Some(json!({})),
        &[&member[0]],
    )
    .await;
    assert_eq!(started.status, StatusCode::FORBIDDEN);

    let slack = send(
        &app,
        "POST",
        "/api/v1/credentials/oauth/slack/start",
        Some(json!({})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(slack.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        slack.body.to_string().contains("BATON_SLACK_CLIENT_ID"),
        "{}",
        slack.body
    );
    let http = send(
        &app,
        "POST",
        "/api/v1/credentials/oauth/http/start",
        Some(json!({})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        http.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        http.body
    );

    let callback = consent(&app, &owner, &google, "gmail").await;
    // An altered state does not open.
    let altered = callback.replacen("state=", "state=0", 1);
    let landed = send(&app, "GET", &altered, None, &[]).await;
    assert_eq!(landed.status, StatusCode::BAD_REQUEST);
    let forged = format!(
        "{}?state={}.sealed:v1:k:AAAA&code=x",
        baton_connectors::OAUTH_CALLBACK_PATH,
        baton_core::OrgId::new()
    );
    let landed = send(&app, "GET", &forged, None, &[]).await;
    assert_eq!(landed.status, StatusCode::BAD_REQUEST);
    // The person said no at Google.
    let denied = callback.replace("code=code-4/0AeanS0b", "error=access_denied");
    let landed = send(&app, "GET", &denied, None, &[]).await;
    assert_eq!(landed.status, StatusCode::BAD_REQUEST);
    assert!(
        landed.body.as_str().unwrap().contains("access_denied"),
        "{}",
        landed.body
    );
    // A code Google does not take.
    let wrong = callback.replace("code=code-4/0AeanS0b", "code=other");
    let landed = send(&app, "GET", &wrong, None, &[]).await;
    assert_eq!(landed.status, StatusCode::BAD_REQUEST);
    assert!(
        landed.body.as_str().unwrap().contains("invalid_grant"),
        "{}",
        landed.body
    );
    assert_eq!(
        google.lock().unwrap().code_exchanges,
        1,
        "the bad states reached no provider"
    );

    let listed = send(&app, "GET", "/api/v1/credentials", None, &[&owner[0]]).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was stored");
    // Markup in what the provider says is shown as text.
    let injected = callback.replace(
        "code=code-4/0AeanS0b",
        "error=%3Cscript%3Ealert(1)%3C/script%3E",
    );
    let landed = send(&app, "GET", &injected, None, &[]).await;
    assert!(
        !landed.body.as_str().unwrap().contains("<script>"),
        "{}",
        landed.body
    );
}

async fn new_gmail_messages_start_one_run_each(test: &TestStore) {
    let (google_url, google) = fake_google().await;
    let app = app_with_gmail(test, &google_url);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let callback = consent(&app, &owner, &google, "gmail").await;
    assert_eq!(
        send(&app, "GET", &callback, None, &[]).await.status,
        StatusCode::OK
    );

    let workflow = |event: &str| {
        json!({"id": "wf_inbox", "name": "Inbox", "trigger": {"type": "poll", "service": "gmail",
            "event": event, "every": "10s"},
            "steps": [{"id": "read", "type": "integration", "service": "gmail", "action": "read_email",
                "inputs": {"email_id": "{{trigger.email_id}}"}}]})
    };
    let wrong = send(
        &app,
        "POST",
        "/api/v1/workflows",
        Some(workflow("new_mail")),
        &[&owner[0]],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.body.to_string().contains("$.trigger.event"),
        "{}",
        wrong.body
    );
    let saved = send(
        &app,
        "POST",
        "/api/v1/workflows",
        Some(workflow("new_email")),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    let activated = send(
        &app,
        "POST",
        "/api/v1/workflows/wf_inbox/activate",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
    let store = app.state.store.clone();
    let id = store
        .active_workflows()
        .await
        .unwrap()
        .into_iter()
        .find(|workflow| workflow.key == "wf_inbox")
        .unwrap()
        .id;
    let cursor_at = |history_id: &'static str| {
        let store = store.clone();
        async move {
            for _ in 0..100 {
                let state = store.poll_state(id).await.unwrap();
                if state.and_then(|state| state.cursor) == Some(json!({"history_id": history_id})) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the cursor never reached {history_id}");
        }
    };
    let look_now = || async {
        let asked = send(
            &app,
            "POST",
            "/api/v1/workflows/wf_inbox/poll",
            None,
            &[&owner[0]],
        )
        .await;
        assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);
    };
    let status = || async {
        let shown = send(
            &app,
            "GET",
            "/api/v1/workflows/wf_inbox/poll",
            None,
            &[&owner[0]],
        )
        .await;
        assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
        shown.body
    };

    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(baton_runtime::Scheduler::new(app.state.runtime.clone()).run(stopped.clone()));
    cursor_at("9001").await;
    assert!(
        executions(&app, &owner).await.is_empty(),
        "the first look starts nothing"
    );

    google
        .lock()
        .unwrap()
        .arrived
        .extend(["m-1".to_owned(), "m-2".to_owned()]);
    // A second server's scheduler runs too; asked to look now, one of the two looks.
    tokio::spawn(baton_runtime::Scheduler::new(app.state.runtime.clone()).run(stopped.clone()));
    look_now().await;
    cursor_at("9003").await;
    // Both schedulers have checked again since; the next look is 10 s away for both.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        google.lock().unwrap().history_calls,
        1,
        "two servers, one look per interval"
    );
    let mut finished = Vec::new();
    for _ in 0..40 {
        finished = executions(&app, &owner).await;
        if finished.len() == 2 && finished.iter().all(|run| run["state"] == "COMPLETED") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(finished.len(), 2, "{finished:?}");
    assert!(
        finished
            .iter()
            .all(|run| run["state"] == "COMPLETED" && run["trigger"] == "poll"),
        "{finished:?}"
    );
    let shown = status().await;
    assert_eq!(shown["service"], "gmail");
    assert_eq!(shown["event"], "new_email");
    assert_eq!(shown["every_seconds"], 10);
    assert_eq!(shown["active"], true);
    assert_eq!(shown["error"], Value::Null);
    assert!(shown["looked_at"].is_string(), "{shown}");
    assert!(
        shown["next_look_at"].as_str().unwrap() > shown["looked_at"].as_str().unwrap(),
        "{shown}"
    );

    // A failing look says why, and keeps its place.
    google.lock().unwrap().history_down = true;
    look_now().await;
    let mut failed = Value::Null;
    for _ in 0..100 {
        failed = status().await;
        if failed["error"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("503"), "{failed}");
    assert_eq!(
        store.poll_state(id).await.unwrap().unwrap().cursor,
        Some(json!({"history_id": "9003"}))
    );
    google.lock().unwrap().history_down = false;

    // A look whose cursor was lost (a crash before it was saved) finds both again: they do not
    // run twice. The look that succeeds clears the error.
    store
        .finish_poll(id, Ok(&json!({"history_id": "9001"})))
        .await
        .unwrap();
    look_now().await;
    cursor_at("9003").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(executions(&app, &owner).await.len(), 2);
    assert_eq!(status().await["error"], Value::Null);

    // Turned off while mail arrives, then on again: it starts from now, as the first time.
    send(
        &app,
        "POST",
        "/api/v1/workflows/wf_inbox/deactivate",
        None,
        &[&owner[0]],
    )
    .await;
    let inactive = send(
        &app,
        "POST",
        "/api/v1/workflows/wf_inbox/poll",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(inactive.status, StatusCode::CONFLICT, "{}", inactive.body);
    google.lock().unwrap().arrived.push("m-3".to_owned());
    send(
        &app,
        "POST",
        "/api/v1/workflows/wf_inbox/activate",
        None,
        &[&owner[0]],
    )
    .await;
    cursor_at("9004").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        executions(&app, &owner).await.len(),
        2,
        "what came while it was off does not run"
    );

    // Access revoked in the Google account: the look's 401, then the refused refresh, mark
    // the connection, and the trigger says what to do.
    {
        let mut google = google.lock().unwrap();
        google.revoked = true;
        google.valid = None;
    }
    look_now().await;
    let mut revoked = Value::Null;
    for _ in 0..100 {
        revoked = status().await;
        if revoked["error"]
            .as_str()
            .is_some_and(|error| error.contains("connect"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        revoked["error"]
            .as_str()
            .unwrap_or_default()
            .contains("connect gmail again"),
        "{revoked}"
    );
    let credentials = send(&app, "GET", "/api/v1/credentials", None, &[&owner[0]]).await;
    assert_eq!(
        credentials.body["items"][0]["status"], "reconnect_needed",
        "{}",
        credentials.body
    );

    let manual = send(
        &app,
        "POST",
        "/api/v1/workflows",
        Some(json!({"id": "wf_manual", "name": "Manual", "steps": [{"id": "noop", "type": "transformation", "action": "set", "inputs": {"a": 1}}]})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(manual.status, StatusCode::CREATED, "{}", manual.body);
    let no_poll = send(
        &app,
        "GET",
        "/api/v1/workflows/wf_manual/poll",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(no_poll.status, StatusCode::CONFLICT);
    assert!(
        no_poll.body.to_string().contains("no poll trigger"),
        "{}",
        no_poll.body
    );
    let _ = stop.send(true);
}
