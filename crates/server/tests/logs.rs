//! What reaches the logs during a full sign-up, sign-in, refresh, sign-out and password reset:
//! no password, email address or token. This test has its binary to itself: a thread-local
//! log subscriber misses events when other tests in the same process register the same
//! callsites at the same moment.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{App, TestStore, send, sign_up};
use serde_json::json;

/// A log sink for one test.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_password_email_or_token_reaches_the_logs() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let test = TestStore::sqlite().await;
    let app = App::on(&test);
    let signed_up = sign_up(&app, "secret.person@example.com").await;
    send(&app, "POST", "/api/v1/auth/login", Some(json!({"email": "secret.person@example.com", "password": "a wrong guess of a password"})), &[]).await;
    send(&app, "POST", "/api/v1/auth/login", Some(json!({"email": "secret.person@example.com", "password": "correct horse battery staple"})), &[]).await;
    let refreshed = send(
        &app,
        "POST",
        "/api/v1/auth/refresh",
        None,
        &[&signed_up.cookie("baton_refresh")],
    )
    .await;
    send(
        &app,
        "POST",
        "/api/v1/auth/logout",
        None,
        &[
            &refreshed.cookie("baton_access"),
            &refreshed.cookie("baton_refresh"),
        ],
    )
    .await;

    send(
        &app,
        "POST",
        "/api/v1/auth/password/forgot",
        Some(json!({"email": "secret.person@example.com"})),
        &[],
    )
    .await;
    let reset_token = common::link_token(&app, "secret.person@example.com");
    let reset = send(
        &app,
        "POST",
        "/api/v1/auth/password/reset",
        Some(json!({"token": reset_token, "password": "a brand new passphrase here"})),
        &[],
    )
    .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);

    // A hook's token and an OAuth callback's code and state travel in the URL.
    send(
        &app,
        "POST",
        "/hooks/hook-token-that-stays-secret",
        Some(json!({})),
        &[],
    )
    .await;
    let callback = send(
        &app,
        "GET",
        &format!(
            "{}?code=one-time-code-from-google&state=the-sealed-state",
            baton_connectors::OAUTH_CALLBACK_PATH
        ),
        None,
        &[],
    )
    .await;
    assert_eq!(callback.status, StatusCode::BAD_REQUEST);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("/api/v1/auth/login")
            && logs.contains("/hooks/{token}")
            && logs.contains("outbox"),
        "the requests and the mail were logged: {logs}"
    );
    let secrets = [
        "correct horse battery staple".to_owned(),
        "a wrong guess".to_owned(),
        "a brand new passphrase".to_owned(),
        "hook-token-that-stays-secret".to_owned(),
        "one-time-code-from-google".to_owned(),
        "the-sealed-state".to_owned(),
        "secret.person".to_owned(),
        reset_token.clone(),
        signed_up
            .cookie("baton_access")
            .split_once('=')
            .unwrap()
            .1
            .to_owned(),
        signed_up
            .cookie("baton_refresh")
            .split_once('=')
            .unwrap()
            .1
            .to_owned(),
        refreshed
            .cookie("baton_refresh")
            .split_once('=')
            .unwrap()
            .1
            .to_owned(),
    ];
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "{secret:?} reached the logs"
        );
    }
}
