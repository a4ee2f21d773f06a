//! The `zapier` and `make` connectors against local stand-ins of a Zap's Catch Hook and a Make
//! scenario's Custom webhook, answering as those do: Zapier with `{attempt, id, request_id,
//! status: "success"}`, Make with the text `Accepted`.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use baton_connectors::{ConnectorSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::connector::{ActionCall, Connectors, Secret};
use serde_json::{Value, json};

/// What the hooks were sent: path, Make's key header, body.
type Seen = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

async fn hooks() -> (Registry, String, Seen) {
    let seen = Seen::default();
    let kept = seen.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                let key = headers
                    .get("x-make-apikey")
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned);
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                kept.lock()
                    .unwrap()
                    .push((uri.path().to_owned(), key.clone(), body));
                match uri.path() {
                    "/hooks/catch/123456/abcdef/" => axum::Json(json!({
                        "attempt": "0192a5f4-1b2c-7d3e-8f40-5a6b7c8d9e0f",
                        "id": "0192a5f4-1b2c-7d3e-8f40-5a6b7c8d9e0f",
                        "request_id": "0192a5f4-1b2c-7d3e-8f40-5a6b7c8d9e0f",
                        "status": "success"
                    }))
                    .into_response(),
                    "/abc123def456" => "Accepted".into_response(),
                    "/keyed" if key.as_deref() == Some("make-key") => "Accepted".into_response(),
                    "/keyed" => (StatusCode::UNAUTHORIZED, "Unauthorized").into_response(),
                    "/busy" => (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "3")],
                        "Too many requests",
                    )
                        .into_response(),
                    _ => (
                        StatusCode::GONE,
                        axum::Json(
                            json!({"status": "error", "message": "This hook has been deleted."}),
                        ),
                    )
                        .into_response(),
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let registry = Registry::new(&ConnectorSettings {
        zapier_base_url: Some(base.clone()),
        make_base_url: Some(base.clone()),
        ..Default::default()
    });
    (registry, base, seen)
}

fn call(service: &str, action: &str, inputs: Value, secret: Option<Value>) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: service.into(),
        action: action.into(),
        inputs,
        credential: None,
        idempotency_key: "exec-1:hand_over".into(),
        secret: secret.map(Secret),
    }
}

#[tokio::test]
async fn a_zap_and_a_scenario_get_the_fields_as_json() {
    let (registry, base, seen) = hooks().await;
    let data = json!({"name": "Ann", "email": "ann@customer.com", "score": 92});
    let zap = registry
        .call(call(
            "zapier",
            "send_to_zap",
            json!({"hook_url": format!("{base}/hooks/catch/123456/abcdef/"), "data": data}),
            None,
        ))
        .await
        .unwrap();
    common::assert_declared_output(&registry, "zapier", "send_to_zap", &zap);
    assert_eq!(zap["status"], 200);
    assert_eq!(zap["response"]["status"], "success");
    let scenario = registry
        .call(call(
            "make",
            "send_to_scenario",
            json!({"hook_url": format!("{base}/abc123def456"), "data": data}),
            None,
        ))
        .await
        .unwrap();
    common::assert_declared_output(&registry, "make", "send_to_scenario", &scenario);
    assert_eq!(scenario["response"], "Accepted");
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].2, data, "the fields arrive as one JSON object");
    assert_eq!(seen[1].2, data);
    assert_eq!(seen[1].1, None, "no key without a make credential");
}

#[tokio::test]
async fn a_make_hook_with_a_key_gets_it_and_failures_say_what_to_do() {
    let (registry, base, seen) = hooks().await;
    let send = |path: &str, secret: Option<Value>| {
        call(
            "make",
            "send_to_scenario",
            json!({"hook_url": format!("{base}{path}"), "data": {"a": 1}}),
            secret,
        )
    };
    let keyed = registry
        .call(send("/keyed", Some(json!({"api_key": "make-key"}))))
        .await
        .unwrap();
    assert_eq!(keyed["response"], "Accepted");
    assert_eq!(seen.lock().unwrap()[0].1.as_deref(), Some("make-key"));
    let refused = registry.call(send("/keyed", None)).await.unwrap_err();
    assert!(
        refused.message.contains("store it as the make credential"),
        "{}",
        refused.message
    );
    let busy = registry.call(send("/busy", None)).await.unwrap_err();
    assert_eq!(busy.class, ErrorClass::Transient);
    assert_eq!(busy.retry_after, Some(std::time::Duration::from_secs(3)));
    let gone = registry.call(send("/deleted", None)).await.unwrap_err();
    assert_eq!(gone.class, ErrorClass::Permanent);
    assert!(
        gone.message.contains("the hook is gone"),
        "{}",
        gone.message
    );
    assert!(
        gone.message.contains("This hook has been deleted."),
        "{}",
        gone.message
    );
}

#[tokio::test]
async fn a_url_that_is_not_the_tools_hook_is_refused_before_any_call() {
    let (registry, _, seen) = hooks().await;
    let elsewhere = registry
        .call(call(
            "zapier",
            "send_to_zap",
            json!({"hook_url": "http://127.0.0.1:9/internal", "data": {}}),
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(elsewhere.class, ErrorClass::Permanent);
    assert!(
        elsewhere.message.contains("must start with"),
        "{}",
        elsewhere.message
    );
    let defaults = Registry::new(&ConnectorSettings::default());
    let refused = defaults
        .call(call(
            "zapier",
            "send_to_zap",
            json!({"hook_url": "https://hooks.zapier.com.evil.test/x", "data": {}}),
            None,
        ))
        .await
        .unwrap_err();
    assert!(
        refused.message.contains("is not a Zapier hook URL"),
        "{}",
        refused.message
    );
    assert!(seen.lock().unwrap().is_empty());
}
