//! A credential shared by several processes (a `serve` and its `worker`s, or several servers):
//! an expired token whose provider rotates refresh tokens, as Slack does (each refresh token
//! is taken once, then revoked), is refreshed once, and every process gets the new token,
//! instead of the second refresh losing the grant. On SQLite, and on PostgreSQL when
//! configured.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, State};
use axum::{Json, Router};
use baton_core::credential::NewCredential;
use baton_engine::connector::{CredentialSource, Secret};
use baton_runtime::StoredCredentials;
use baton_store::vault::{MasterKey, MasterKeys, Vault};
use common::harness;
use common::{TestStore, saved_workflow};
use serde_json::{Value, json};

conformance!(
    two_processes_refresh_a_rotating_token_once,
    a_refresh_turn_left_by_a_dead_process_lapses,
);

/// Slack's `oauth.v2.access` for `grant_type=refresh_token` with rotation on: the refresh
/// token given is revoked at once and a new pair answered (after a moment, as over a real
/// network); a revoked one gets HTTP 200 with `{"ok": false, "error": "invalid_refresh_token"}`.
#[derive(Default)]
struct Slack {
    refresh_token: String,
    generation: u32,
    refreshes: u32,
    refused: u32,
}

type Shared = Arc<Mutex<Slack>>;

async fn access(
    State(slack): State<Shared>,
    Form(form): Form<Vec<(String, String)>>,
) -> Json<Value> {
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    assert_eq!(field("grant_type").as_deref(), Some("refresh_token"));
    let generation = {
        let mut slack = slack.lock().unwrap();
        if field("refresh_token").as_deref() != Some(slack.refresh_token.as_str()) {
            slack.refused += 1;
            return Json(json!({"ok": false, "error": "invalid_refresh_token"}));
        }
        slack.generation += 1;
        slack.refreshes += 1;
        slack.refresh_token = format!("xoxe-1-r{}", slack.generation);
        slack.generation
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    Json(json!({
        "ok": true, "access_token": format!("xoxe.xoxb-{generation}"), "token_type": "bot",
        "scope": "chat:write,channels:read", "refresh_token": format!("xoxe-1-r{generation}"),
        "expires_in": 43200
    }))
}

struct Setup {
    store: Arc<dyn baton_store::Store>,
    org: baton_core::OrgId,
    credential: baton_core::CredentialId,
    slack: Shared,
    /// A process's view of the credentials: its own caches and locks, the shared store.
    process: Box<dyn Fn() -> StoredCredentials>,
}

/// A Slack credential whose access token expired ten seconds ago.
async fn setup(test: &TestStore) -> Setup {
    let slack: Shared = Arc::new(Mutex::new(Slack {
        refresh_token: "xoxe-1-r0".into(),
        ..Default::default()
    }));
    let routes = Router::new()
        .route("/api/oauth.v2.access", axum::routing::post(access))
        .with_state(slack.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    let mut settings = baton_connectors::ConnectorSettings::default();
    settings.oauth.insert(
        "slack".into(),
        baton_connectors::OAuthClientSettings {
            client_id: "1234.5678".into(),
            client_secret: "slack-secret".into(),
            authorize_url: None,
            token_url: Some(format!("http://{addr}/api/oauth.v2.access")),
        },
    );
    let connectors: Arc<dyn baton_engine::connector::Connectors> =
        Arc::new(baton_connectors::Registry::new(&settings));
    let store = test.store.clone();
    let vault = Arc::new(Vault::new(
        store.clone(),
        MasterKeys::new(MasterKey::generate(), vec![]),
    ));
    let (org, _) = saved_workflow(test, json!({"id": "wf_any", "name": "Any", "steps": []})).await;
    let secret = json!({"access_token": "xoxe.xoxb-0", "refresh_token": "xoxe-1-r0",
        "token_type": "bot", "expires_at": chrono::Utc::now().timestamp() - 10});
    let sealed = vault
        .seal(org, &serde_json::to_vec(&secret).unwrap())
        .await
        .unwrap();
    let credential = store
        .create_credential(NewCredential {
            org_id: org,
            service: "slack".into(),
            name: "sales".into(),
            secret: sealed,
            created_by: None,
        })
        .await
        .unwrap()
        .id;
    let process = {
        let store = store.clone();
        Box::new(move || StoredCredentials::new(store.clone(), vault.clone(), connectors.clone()))
    };
    Setup {
        store,
        org,
        credential,
        slack,
        process,
    }
}

fn access_token(secret: &Result<Option<Secret>, baton_engine::StepError>) -> String {
    match secret {
        Ok(Some(secret)) => secret.text("access_token").unwrap_or_default().to_owned(),
        other => panic!("no token: {other:?}"),
    }
}

async fn two_processes_refresh_a_rotating_token_once(test: &TestStore) {
    let setup = setup(test).await;
    let (first, second) = ((setup.process)(), (setup.process)());
    let (a, b) = tokio::join!(
        first.credential(setup.org, "slack", None),
        second.credential(setup.org, "slack", None)
    );
    assert_eq!(access_token(&a), "xoxe.xoxb-1");
    assert_eq!(access_token(&b), "xoxe.xoxb-1", "the other process's token");
    {
        let slack = setup.slack.lock().unwrap();
        assert_eq!(slack.refreshes, 1, "one refresh for both");
        assert_eq!(slack.refused, 0, "no refresh with a spent token");
    }
    let stored = setup
        .store
        .credential(setup.org, setup.credential)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.reconnect_reason, None, "the grant was kept");

    // The new token lasts twelve hours: a third process uses it as it is.
    let third = (setup.process)().credential(setup.org, "slack", None).await;
    assert_eq!(access_token(&third), "xoxe.xoxb-1");
    assert_eq!(setup.slack.lock().unwrap().refreshes, 1);
}

async fn a_refresh_turn_left_by_a_dead_process_lapses(test: &TestStore) {
    let setup = setup(test).await;
    // A process took the turn a second long, then died before refreshing.
    let now = chrono::Utc::now();
    assert!(
        setup
            .store
            .claim_refresh(
                setup.org,
                setup.credential,
                now,
                now + chrono::Duration::seconds(1)
            )
            .await
            .unwrap()
    );
    assert!(
        !setup
            .store
            .claim_refresh(setup.org, setup.credential, now, now)
            .await
            .unwrap(),
        "the turn is held"
    );
    let started = std::time::Instant::now();
    let secret = (setup.process)().credential(setup.org, "slack", None).await;
    assert_eq!(access_token(&secret), "xoxe.xoxb-1");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it waited for the turn to lapse"
    );
    assert_eq!(setup.slack.lock().unwrap().refreshes, 1);
}
