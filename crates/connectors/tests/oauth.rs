//! OAuth2 as Slack speaks it (`oauth.v2.access`): scopes joined with commas on the consent
//! page, a bot token answered with `"token_type": "bot"`, and refusals answered as HTTP 200
//! with `{"ok": false, "error": CODE}`. The success answer is the example of Slack's published
//! Web API description, with token rotation's `refresh_token` and `expires_in`.

use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::{Json, Router};
use base64::Engine;
use baton_connectors::oauth::OAuthApp;
use baton_connectors::{AuthKind, ConnectorSettings, OAuthClientSettings, Registry};
use baton_engine::connector::Secret;
use baton_engine::error::AuthProblem;
use serde_json::json;

/// A form as it was posted: its fields in order.
type Fields = Vec<(String, String)>;

#[derive(Clone, Default)]
struct Fake {
    forms: Arc<Mutex<Vec<Fields>>>,
}

async fn access(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> axum::response::Response {
    fake.forms.lock().unwrap().push(form.clone());
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let basic = base64::engine::general_purpose::STANDARD.encode("1234.5678:slack-secret");
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Basic {basic}"))
    {
        return Json(json!({"ok": false, "error": "invalid_client_id"})).into_response();
    }
    let refused = |code: &str| Json(json!({"ok": false, "error": code})).into_response();
    match field("grant_type") {
        Some("authorization_code") if field("code") == Some("1234.abcd") => Json(json!({
            "access_token": "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
            "app_id": "A0KRD7HC3",
            "authed_user": {"access_token": "xoxp-1234", "id": "U1234", "scope": "chat:write", "token_type": "user"},
            "bot_user_id": "U0KRQLJ9H",
            "enterprise": {"id": "E12345678", "name": "slack-sports"},
            "ok": true,
            "scope": "chat:write,channels:read",
            "team": {"id": "T9TK3CUKW", "name": "Slack Softball Team"},
            "token_type": "bot",
            "refresh_token": "xoxe-1-refresh",
            "expires_in": 43200
        }))
        .into_response(),
        Some("authorization_code") => refused("invalid_code"),
        Some("refresh_token") if field("refresh_token") == Some("xoxe-1-refresh") => Json(json!({
            "ok": true, "access_token": "xoxe.xoxb-rotated", "token_type": "bot",
            "refresh_token": "xoxe-1-next", "expires_in": 43200
        }))
        .into_response(),
        Some("refresh_token") => refused("invalid_refresh_token"),
        _ => refused("unsupported_grant_type"),
    }
}

async fn slack_app() -> (OAuthApp, Fake) {
    let fake = Fake::default();
    let routes = Router::new()
        .route("/api/oauth.v2.access", axum::routing::post(access))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    let registry = Registry::new(&ConnectorSettings::default());
    let declaration = registry
        .declarations()
        .find(|declaration| declaration.id == "slack")
        .unwrap();
    let AuthKind::OAuth2(endpoints) = &declaration.auth else {
        panic!("slack connects with OAuth2");
    };
    let app = OAuthApp::new(
        "slack",
        endpoints,
        &OAuthClientSettings {
            client_id: "1234.5678".into(),
            client_secret: "slack-secret".into(),
            authorize_url: None,
            token_url: Some(format!("http://{addr}/api/oauth.v2.access")),
        },
        Some("https://baton.example.com/api/v1/credentials/oauth/callback"),
    )
    .unwrap();
    (app, fake)
}

#[tokio::test]
async fn slack_is_connected_and_its_rotating_token_refreshed() {
    let (app, fake) = slack_app().await;
    let consent = url::Url::parse(&app.authorization("state-1", &"v".repeat(43))).unwrap();
    assert_eq!(consent.host_str(), Some("slack.com"));
    assert_eq!(consent.path(), "/oauth/v2/authorize");
    let query: std::collections::HashMap<String, String> =
        consent.query_pairs().into_owned().collect();
    assert!(
        query["scope"].starts_with("chat:write,channels:read"),
        "Slack joins scopes with commas: {}",
        query["scope"]
    );
    assert!(!query.contains_key("access_type"), "that is Google's");
    assert_eq!(query["state"], "state-1");

    let secret = app.exchange("1234.abcd", &"v".repeat(43)).await.unwrap();
    assert_eq!(
        secret.text("access_token"),
        Some("xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy")
    );
    assert_eq!(secret.text("refresh_token"), Some("xoxe-1-refresh"));
    let expires_at = secret.0["expires_at"].as_i64().unwrap();
    assert!((expires_at - chrono::Utc::now().timestamp() - 43200).abs() < 10);
    let sent = fake.forms.lock().unwrap()[0].clone();
    assert!(sent.contains(&("code".into(), "1234.abcd".into())));
    assert!(sent.contains(&(
        "redirect_uri".into(),
        "https://baton.example.com/api/v1/credentials/oauth/callback".into()
    )));

    let refreshed = app.refresh(&secret).await.unwrap();
    assert_eq!(refreshed.text("access_token"), Some("xoxe.xoxb-rotated"));
    assert_eq!(
        refreshed.text("refresh_token"),
        Some("xoxe-1-next"),
        "a rotated refresh token replaces the old one"
    );

    let wrong_code = app.exchange("used-already", "v").await.unwrap_err();
    assert_eq!(wrong_code.auth, Some(AuthProblem::Revoked));
    assert!(
        wrong_code.message.contains("invalid_code"),
        "{}",
        wrong_code.message
    );
    let revoked = app
        .refresh(&Secret(
            json!({"access_token": "x", "refresh_token": "xoxe-1-old"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(revoked.auth, Some(AuthProblem::Revoked));
    assert!(
        revoked.message.contains("connect slack again"),
        "{}",
        revoked.message
    );
    let no_refresh = app
        .refresh(&Secret(json!({"access_token": "x"})))
        .await
        .unwrap_err();
    assert_eq!(no_refresh.auth, Some(AuthProblem::Revoked));
}
