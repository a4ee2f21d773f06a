//! What the command-line tests share: `baton` with a clean environment, `baton serve` started
//! on a free port, signing up, and calling its API with the session cookie.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BATON: &str = env!("CARGO_BIN_EXE_baton");

/// A `baton` command with no `BATON_*` variable inherited from the caller.
pub fn baton(args: &[&str]) -> Command {
    let mut command = Command::new(BATON);
    command.args(args).kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("BATON_") {
            command.env_remove(key);
        }
    }
    command
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: Vec<String>,
    /// What it logged after it began listening.
    pub later: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Starts `baton serve` on a free port and waits for its "listening" line.
pub async fn start(mut command: Command) -> Server {
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn baton");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            log.push(line.clone());
            if let Some(at) = line.find("listening on http://") {
                // Text or JSON: the address ends at a space or the message's closing quote.
                let addr: String = line[at + "listening on ".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                return addr;
            }
        }
        panic!("baton exited before listening: {log:#?}");
    })
    .await
    .expect("baton listens within a minute");
    let later: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let kept = later.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            kept.lock().unwrap().push(line);
        }
    });
    Server {
        child,
        base,
        log,
        later,
    }
}

impl Server {
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = reqwest::get(format!("{}{path}", self.base))
            .await
            .expect("request");
        (
            response.status().as_u16(),
            response.json().await.expect("json body"),
        )
    }

    /// Sends the signal and returns the exit code.
    pub async fn stop(mut self, signal: &str) -> i32 {
        let pid = self.child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("baton stops within 15 s")
            .unwrap();
        status.code().expect("exited, not killed")
    }
}

pub fn serve_in(dir: &Path) -> Command {
    baton(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        dir.to_str().unwrap(),
    ])
}

/// Signs up `ann@example.com` with organization Acme; the access cookie.
pub async fn sign_up_on(base: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&serde_json::json!({
            "email": "ann@example.com",
            "password": "correct horse battery staple",
            "name": "Ann",
            "organization_name": "Acme",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| {
            value
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        })
        .find(|cookie| cookie.starts_with("baton_access="))
        .unwrap()
}

/// Calls the API with the session cookie; the status and the JSON answer (null when none).
pub async fn api(
    base: &str,
    cookie: &str,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .header("cookie", cookie)
        .header("origin", base)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

pub type Seen = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// A service that keeps the `Authorization` header it was last sent (and answers without it).
pub async fn header_keeper() -> (String, Seen) {
    let seen = Seen::default();
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/whoami",
        axum::routing::post(move |headers: axum::http::HeaderMap| async move {
            *kept.lock().unwrap() = headers
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            axum::Json(serde_json::json!({"ok": true}))
        }),
    );
    let addr = serve_locally(app).await;
    (format!("http://{addr}/whoami"), seen)
}

/// Serves `app` on a free port of 127.0.0.1 (a fake of some service) and returns its address.
pub async fn serve_locally(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Runs the saved workflow and returns what the service saw as `Authorization`.
pub async fn authorization_sent(base: &str, cookie: &str, seen: &Seen) -> Option<String> {
    seen.lock().unwrap().take();
    let (status, run) = api(
        base,
        cookie,
        "POST",
        "/api/v1/workflows/wf_crm/runs?wait=20",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["state"], "COMPLETED", "{run}");
    seen.lock().unwrap().clone()
}

/// Signs `ann@example.com` in again; the access cookie.
pub async fn me_cookie_after_login(base: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "ann@example.com", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next().map(str::to_owned))
        .find(|cookie| cookie.starts_with("baton_access="))
        .unwrap()
}

/// A new, empty PostgreSQL database named `PREFIX_...` on the server `BATON_TEST_DATABASE_URL`
/// names; its URL. `None` when the variable is unset (the caller says what it skips).
pub async fn fresh_postgres(prefix: &str) -> Option<String> {
    use sqlx::Connection;
    let url = std::env::var("BATON_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())?;
    let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    Some(format!(
        "postgres://{}@{}:{}/{name}",
        options.get_username(),
        options.get_host(),
        options.get_port()
    ))
}

/// Drops a database [`fresh_postgres`] made, whoever is still connected to it.
pub async fn drop_postgres(url: &str) {
    use sqlx::Connection;
    let admin_url = std::env::var("BATON_TEST_DATABASE_URL").unwrap();
    let name = url.rsplit('/').next().unwrap();
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}
