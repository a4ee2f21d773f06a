//! What the API tests share: an app over a fresh store (SQLite, or PostgreSQL when
//! `BATON_TEST_DATABASE_URL` is set), requests through the real router, and sign-up.
#![allow(dead_code)]

#[path = "../../../store/tests/harness/mod.rs"]
pub mod harness;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use baton_server::auth::token::Keyring;
use baton_server::{AppState, Config};
use serde_json::{Value, json};
use tower::ServiceExt;

pub use harness::TestStore;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct App {
    pub router: Router,
    pub state: AppState,
    /// Stops the app's worker when the app is dropped.
    _worker: tokio::sync::watch::Sender<bool>,
    /// Where the app writes the mail it sends.
    pub outbox: PathBuf,
    _dir: tempfile::TempDir,
}

impl App {
    pub fn on(test: &TestStore) -> App {
        Self::configured(test, |_| {})
    }

    /// An app whose HTTP steps may call this machine (127.0.0.1), for tests with local servers.
    pub fn reaching_localhost(test: &TestStore) -> App {
        Self::with_connectors(
            test,
            baton_connectors::ConnectorSettings {
                http_allow: baton_connectors::AddressPolicy::parse("127.0.0.1").unwrap(),
                ..Default::default()
            },
        )
    }

    /// An app whose connectors have these settings (local fake services, OAuth apps).
    pub fn with_connectors(test: &TestStore, settings: baton_connectors::ConnectorSettings) -> App {
        let runtime = Arc::new(baton_server::runtime_with(
            test.store.clone(),
            Arc::new(baton_connectors::Registry::new(&settings)),
        ));
        Self::build(test, |_| {}, Some(runtime))
    }

    /// An app whose configuration `change` adjusts first, with a worker running its jobs.
    pub fn configured(test: &TestStore, change: impl FnOnce(&mut Config)) -> App {
        Self::build(test, change, None)
    }

    fn build(
        test: &TestStore,
        change: impl FnOnce(&mut Config),
        runtime: Option<Arc<baton_runtime::Runtime>>,
    ) -> App {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let mut config = Config::new("http://baton.test", outbox.clone());
        change(&mut config);
        let mut state = AppState::new(
            test.store.clone(),
            Arc::new(Keyring::ephemeral().unwrap()),
            config,
        );
        if let Some(runtime) = runtime {
            state = state.with_runtime(runtime);
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = baton_runtime::Worker::new(
            state.runtime.clone(),
            baton_runtime::WorkerSettings {
                poll: std::time::Duration::from_millis(50),
                ..baton_runtime::WorkerSettings::named("test")
            },
        );
        tokio::spawn(worker.run(stopped));
        App {
            router: baton_server::router(state.clone()),
            state,
            outbox,
            _worker: stop,
            _dir: dir,
        }
    }

    /// The same app over another state (e.g. a shared limiter).
    pub fn from_state(app: App, state: AppState) -> App {
        App {
            router: baton_server::router(state.clone()),
            state,
            ..app
        }
    }

    /// The mails in the outbox, oldest first.
    pub fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.outbox) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).collect();
        paths.sort();
        paths
            .into_iter()
            .map(|path| std::fs::read_to_string(path).unwrap())
            .collect()
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub cookies: Vec<String>,
    pub headers: axum::http::HeaderMap,
}

impl Reply {
    /// `name=value` of a cookie the response set.
    pub fn cookie(&self, name: &str) -> String {
        self.cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {name} cookie in {:?}", self.cookies))
    }

    /// The access cookie and the refresh cookie, to send back.
    pub fn session(&self) -> [String; 2] {
        [self.cookie("baton_access"), self.cookie("baton_refresh")]
    }
}

/// A request as a browser on the same site sends it (with cookies).
pub async fn send(
    app: &App,
    method: &str,
    path: &str,
    body: Option<Value>,
    cookies: &[&str],
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "baton.test");
    if method != "GET" {
        request = request.header(header::ORIGIN, "http://baton.test");
    }
    if !cookies.is_empty() {
        request = request.header(header::COOKIE, cookies.join("; "));
    }
    dispatch(app, request, body).await
}

/// A request as a program sends it, with `Authorization: Bearer`.
pub async fn send_bearer(
    app: &App,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "baton.test")
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    dispatch(app, request, body).await
}

pub async fn dispatch(
    app: &App,
    request: axum::http::request::Builder,
    body: Option<Value>,
) -> Reply {
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let cookies = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        // Not every answer is JSON (the reference page, event streams): keep others as text.
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        body,
        cookies,
        headers,
    }
}

/// Signs a new person up (with [`PASSWORD`]) and returns the reply with its cookies.
pub async fn sign_up(app: &App, email: &str) -> Reply {
    send(
        app,
        "POST",
        "/api/v1/auth/signup",
        Some(signup_body(email)),
        &[],
    )
    .await
}

pub fn signup_body(email: &str) -> Value {
    json!({"email": email, "password": PASSWORD, "name": "Ann Example", "organization_name": "Acme Ltd"})
}

/// The token in a link of the latest mail to `to`.
pub fn link_token(app: &App, to: &str) -> String {
    let mail = app
        .mails()
        .into_iter()
        .rev()
        .find(|mail| mail.contains(&format!("To: {to}")))
        .unwrap_or_else(|| panic!("no mail to {to} in {:?}", app.mails()));
    let start = mail.find("token=").expect("a link with a token") + "token=".len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Joins `email` to the organization of `owner` with `role`; returns their session and id.
pub async fn join(
    app: &App,
    owner: &[String; 2],
    email: &str,
    role: &str,
) -> ([String; 2], String) {
    let invited = send(
        app,
        "POST",
        "/api/v1/invites",
        Some(json!({"email": email, "role": role})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let joined = send(
        app,
        "POST",
        "/api/v1/invites/accept",
        Some(json!({"token": link_token(app, email), "name": "Joiner", "password": PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    (
        joined.session(),
        joined.body["user"]["id"].as_str().unwrap().to_owned(),
    )
}

/// The organization's executions the signed-in person sees, newest first.
pub async fn executions(app: &App, owner: &[String; 2]) -> Vec<Value> {
    send(app, "GET", "/api/v1/executions", None, &[&owner[0]])
        .await
        .body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("GET /api/v1/executions answered no list"))
        .clone()
}
