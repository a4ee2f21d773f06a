//! Liveness and readiness probes for process supervisors and load balancers.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;

/// How long readiness waits for the database before calling it unreachable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(live))
        .route("/readyz", get(ready))
}

/// Answers while the process lives.
async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 only when the database answers; 503 otherwise.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let backend = state.store.backend();
    match tokio::time::timeout(READINESS_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "database": backend})),
        ),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check: the database did not answer");
            unavailable(backend)
        }
        Err(_) => {
            tracing::warn!(timeout = ?READINESS_TIMEOUT, "readiness check: the database timed out");
            unavailable(backend)
        }
    }
}

fn unavailable(backend: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(
            json!({"status": "unavailable", "database": backend, "error": "database unreachable"}),
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use baton_store::{SqliteStore, Store};
    use tower::ServiceExt;

    use super::*;

    async fn get_json(app: Router, path: &str) -> (StatusCode, Value) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    async fn sqlite_app() -> (tempfile::TempDir, Arc<dyn Store>, Router) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("baton.db"))
                .await
                .unwrap(),
        );
        store.migrate().await.unwrap();
        let keys = Arc::new(crate::auth::token::Keyring::ephemeral().unwrap());
        let config = crate::Config::new("http://127.0.0.1", dir.path().join("outbox"));
        let app = crate::router(AppState::new(store.clone(), keys, config));
        (dir, store, app)
    }

    #[tokio::test]
    async fn every_response_carries_the_security_headers_and_unknown_routes_answer_404() {
        let (_dir, _store, app) = sqlite_app().await;
        for path in ["/healthz", "/readyz", "/api/v1/no/such/route", "/sign-in"] {
            let response = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let headers = response.headers();
            assert_eq!(
                headers["content-security-policy"],
                crate::security::CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert!(
                headers["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .contains("frame-ancestors 'none'")
            );
            assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(
                headers["referrer-policy"], "strict-origin-when-cross-origin",
                "{path}"
            );
            assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        }
        let (status, body) = get_json(app, "/api/v1/no/such/route").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
    }

    #[tokio::test]
    async fn liveness_answers_ok() {
        let (_dir, _store, app) = sqlite_app().await;
        assert_eq!(
            get_json(app, "/healthz").await,
            (StatusCode::OK, json!({"status": "ok"}))
        );
    }

    #[tokio::test]
    async fn readiness_follows_the_database() {
        let (_dir, store, app) = sqlite_app().await;
        let (status, body) = get_json(app.clone(), "/readyz").await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("ready"))
        );
        assert_eq!(body["database"], "sqlite");

        store.close().await;
        let (status, body) = get_json(app.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"], "database unreachable");
        assert_eq!(
            get_json(app, "/healthz").await.0,
            StatusCode::OK,
            "liveness does not depend on it"
        );
    }
}
