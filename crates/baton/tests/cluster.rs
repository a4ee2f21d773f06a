//! Baton as a cluster on one PostgreSQL: `baton serve --no-worker` takes 1,000 webhook calls,
//! two `baton worker` processes run them, and one worker is killed with SIGKILL in the middle.
//! Every execution completes, none twice, and the counting endpoint the workflow calls sees
//! each of the 1,000 effects exactly once (a step re-run after the crash carries the same
//! idempotency key). Two nodes fire a schedule once per minute, and a worker counts its calls
//! to a service in the server's Redis.

#[path = "../../store/tests/harness/skip.rs"]
mod skip;

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BATON: &str = env!("CARGO_BIN_EXE_baton");
const EXECUTIONS: usize = 1000;

fn baton(args: &[&str], database_url: &str) -> Command {
    let mut command = Command::new(BATON);
    command.args(args).kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("BATON_") {
            command.env_remove(key);
        }
    }
    command
        .env("BATON_DATABASE_URL", database_url)
        .env("BATON_HTTP_ALLOW", "127.0.0.1")
        .env("BATON_LOG", "warn")
        .stdout(Stdio::null());
    command
}

/// What the counting endpoint saw: per `n`, the idempotency keys of its calls.
#[derive(Clone, Default)]
struct Effects(Arc<Mutex<HashMap<u64, Vec<String>>>>);

impl Effects {
    fn calls(&self) -> usize {
        self.0.lock().unwrap().values().map(Vec::len).sum()
    }
}

async fn counting_endpoint(effects: Effects) -> String {
    let app = Router::new().route(
        "/effect",
        post(
            move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
                let effects = effects.clone();
                async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let n = body["n"].as_u64().unwrap_or(u64::MAX);
                    // Long enough that the kill lands on calls in flight.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    effects.0.lock().unwrap().entry(n).or_default().push(key);
                    axum::Json(json!({"ok": true}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Starts `baton serve` and returns it with its base URL.
async fn serve(mut command: Command) -> (Child, String) {
    command.stderr(Stdio::piped());
    command.env("BATON_LOG", "info");
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("listening on http://") {
                let addr = line[at + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap();
                return addr.trim_end_matches('"').to_owned();
            }
        }
        panic!("baton serve exited before listening");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

async fn states(database_url: &str) -> HashMap<String, i64> {
    let mut connection = sqlx::PgConnection::connect(database_url).await.unwrap();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM executions GROUP BY state")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    connection.close().await.ok();
    rows.into_iter().collect()
}

/// A new, migrated database on the test server, dropped by [`Database::drop_it`].
struct Database {
    url: String,
}

impl Database {
    async fn create() -> Option<Database> {
        let Some(url) = common::fresh_postgres("baton_cluster").await else {
            skip::skipped("the cluster tests (PostgreSQL)", "BATON_TEST_DATABASE_URL");
            return None;
        };
        let scratch = tempfile::tempdir().unwrap();
        let migrated = baton(
            &["migrate", "--data-dir", scratch.path().to_str().unwrap()],
            &url,
        )
        .status()
        .await
        .unwrap();
        assert!(migrated.success());
        Some(Database { url })
    }

    async fn drop_it(self) {
        common::drop_postgres(&self.url).await;
    }
}

/// Signs a person up on `base` and returns their access cookie.
async fn sign_up(client: &reqwest::Client, base: &str) -> String {
    let signed_up = client
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": "ops@example.com", "password": "correct horse battery staple", "name": "Ops", "organization_name": "Ops Ltd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 201);
    signed_up
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_and_a_crash_run_a_thousand_webhooks_exactly_once() {
    let Some(database) = Database::create().await else {
        return;
    };
    let database_url = database.url.clone();

    let effects = Effects::default();
    let endpoint = counting_endpoint(effects.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (mut server, base) = serve(baton(
        &[
            "serve",
            "--no-worker",
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ],
        &database_url,
    ))
    .await;
    let worker = |concurrency: &str| {
        let mut command = baton(
            &[
                "worker",
                "--concurrency",
                concurrency,
                "--lease-seconds",
                "3",
                "--data-dir",
                data,
            ],
            &database_url,
        );
        command.stderr(Stdio::null());
        command.spawn().unwrap()
    };
    let mut doomed = worker("8");
    let mut survivor = {
        // The survivor's metrics, on an address of their own: it has no HTTP API.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let mut command = baton(
            &[
                "worker",
                "--concurrency",
                "8",
                "--lease-seconds",
                "3",
                "--data-dir",
                data,
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
            ],
            &database_url,
        );
        command.stderr(Stdio::null());
        (command.spawn().unwrap(), port)
    };

    let client = reqwest::Client::new();
    let cookie = sign_up(&client, &base).await;
    let api = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}{path}"))
            .header("cookie", &cookie)
            .header("origin", &base)
    };
    let workflow = json!({"id": "wf_count", "name": "Count", "trigger": {"type": "webhook"}, "steps": [
        {"id": "effect", "type": "integration", "service": "http", "action": "request",
         "inputs": {"method": "POST", "url": format!("{endpoint}/effect"), "json": {"n": "{{ trigger.body.n }}"}}}
    ]});
    let created = api(reqwest::Method::POST, "/api/v1/workflows")
        .json(&workflow)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let activated = api(reqwest::Method::POST, "/api/v1/workflows/wf_count/activate")
        .send()
        .await
        .unwrap();
    assert_eq!(activated.status(), 200);
    let hook: Value = api(reqwest::Method::GET, "/api/v1/workflows/wf_count/hook")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook_url = hook["url"].as_str().unwrap().to_owned();

    // 1,000 deliveries, 32 at a time; one worker dies when about a third have had their effect.
    let started = Instant::now();
    let sender = {
        let client = client.clone();
        let hook_url = hook_url.clone();
        tokio::spawn(async move {
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let mut senders = Vec::new();
            for _ in 0..32 {
                let client = client.clone();
                let hook_url = hook_url.clone();
                let next = next.clone();
                senders.push(tokio::spawn(async move {
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if n >= EXECUTIONS {
                            return;
                        }
                        let response = client
                            .post(&hook_url)
                            .json(&json!({"n": n}))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(response.status(), 202, "delivery {n}");
                    }
                }));
            }
            for sender in senders {
                sender.await.unwrap();
            }
        })
    };
    while effects.calls() < EXECUTIONS / 3 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the workers made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    doomed.start_kill().unwrap();
    doomed.wait().await.unwrap();
    let killed_at = effects.calls();
    sender.await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(180);
    let finished = loop {
        let states = states(&database_url).await;
        if states.get("COMPLETED").copied().unwrap_or(0) as usize == EXECUTIONS {
            break states;
        }
        assert!(
            Instant::now() < deadline,
            "not everything completed: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(finished.len(), 1, "every execution COMPLETED: {finished:?}");
    let seen = effects.0.lock().unwrap().clone();
    assert_eq!(seen.len(), EXECUTIONS, "every delivery had its effect");
    let distinct: HashSet<&String> = seen.values().flatten().collect();
    assert_eq!(
        distinct.len(),
        EXECUTIONS,
        "1,000 distinct effects: none acted twice"
    );
    for (n, keys) in &seen {
        let keys: HashSet<&String> = keys.iter().collect();
        assert_eq!(keys.len(), 1, "delivery {n} ran as one execution");
    }
    let repeats = effects.calls() - EXECUTIONS;
    eprintln!(
        "1,000 executions in {:.1} s; worker killed after {killed_at} effects; {repeats} calls repeated with the same idempotency key after the crash",
        started.elapsed().as_secs_f64()
    );

    // The survivor took the dead worker's leased jobs over, and says so.
    let scraped = client
        .get(format!("http://127.0.0.1:{}/metrics", survivor.1))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let takeovers: f64 = scraped
        .lines()
        .find_map(|line| line.strip_prefix("baton_lease_takeovers_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_default();
    assert!(
        takeovers >= 1.0,
        "the jobs the killed worker held were taken over: {scraped}"
    );
    survivor.0.start_kill().ok();
    server.start_kill().ok();
    let _ = survivor.0.wait().await;
    let _ = server.wait().await;
    database.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_due_every_minute_fires_once_a_minute_with_two_nodes() {
    let Some(database) = Database::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let node = || {
        serve(baton(
            &["serve", "--addr", "127.0.0.1:0", "--data-dir", data],
            &database.url,
        ))
    };
    let (mut first, base) = node().await;
    let (mut second, _) = node().await;
    let client = reqwest::Client::new();
    let cookie = sign_up(&client, &base).await;
    let workflow = json!({"id": "wf_minutely", "name": "Minutely", "trigger": {"type": "schedule", "cron": "* * * * *"}, "steps": [
        {"id": "at", "type": "transformation", "action": "set", "inputs": {"at": "{{ trigger.scheduled_at }}"}}
    ]});
    for (path, body) in [
        ("/api/v1/workflows", Some(workflow)),
        ("/api/v1/workflows/wf_minutely/activate", None),
    ] {
        let mut request = client
            .post(format!("{base}{path}"))
            .header("cookie", &cookie)
            .header("origin", &base);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {:?}",
            response.text().await
        );
    }
    let mut connection = sqlx::PgConnection::connect(&database.url).await.unwrap();
    // Two minute boundaries: at most two minutes and a little.
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let runs = fired(&mut connection).await;
        if runs.len() >= 2 && runs.iter().all(|(_, state)| state == "COMPLETED") {
            break;
        }
        assert!(Instant::now() < deadline, "two minutes passed: {runs:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Both nodes had every chance to fire each time again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs = fired(&mut connection).await;
    assert_eq!(
        runs.len(),
        2,
        "each minute fired once across two nodes: {runs:?}"
    );
    let times: Vec<chrono::DateTime<chrono::Utc>> = runs
        .iter()
        .map(|(at, _)| {
            chrono::DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&chrono::Utc)
        })
        .collect();
    assert_eq!(times[1] - times[0], chrono::Duration::minutes(1));
    assert_eq!(times[0].timestamp() % 60, 0, "on the minute");
    connection.close().await.ok();
    first.start_kill().ok();
    second.start_kill().ok();
    let _ = first.wait().await;
    let _ = second.wait().await;
    database.drop_it().await;
}

/// The scheduled times of the executions, and their states.
async fn fired(connection: &mut sqlx::PgConnection) -> Vec<(String, String)> {
    sqlx::query_as("SELECT input->>'scheduled_at', state FROM executions ORDER BY 1")
        .fetch_all(connection)
        .await
        .unwrap()
}

/// A fake Slack Web API that answers `chat.postMessage` as Slack does, counting the calls.
async fn counting_slack(calls: Arc<Mutex<usize>>) -> String {
    let app = Router::new().route(
        "/api/chat.postMessage",
        post(move || {
            let calls = calls.clone();
            async move {
                *calls.lock().unwrap() += 1;
                axum::Json(
                    json!({"ok": true, "channel": "C024BE91L", "ts": "1503435956.000247",
                    "message": {"type": "message", "text": "Hot lead", "ts": "1503435956.000247"}}),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/api")
}

/// With `BATON_REDIS_URL`, a `baton worker` counts an organization's calls to a service where
/// the server does: the limit holds across processes, and the server's quota shows the
/// worker's calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_counts_service_calls_in_the_shared_redis() {
    let Some(redis_url) = skip::redis_url("the shared-Redis worker test").await else {
        return;
    };
    let Some(database) = Database::create().await else {
        return;
    };
    let calls = Arc::new(Mutex::new(0));
    let slack = counting_slack(calls.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let with_slack_and_redis = |mut command: Command| {
        command
            .env("BATON_REDIS_URL", &redis_url)
            .env("BATON_SLACK_BASE_URL", &slack);
        command
    };
    let (mut server, base) = serve(with_slack_and_redis(baton(
        &[
            "serve",
            "--no-worker",
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ],
        &database.url,
    )))
    .await;
    let mut worker = with_slack_and_redis(baton(&["worker", "--data-dir", data], &database.url));
    worker.stderr(Stdio::null());
    let mut worker = worker.spawn().unwrap();

    let client = reqwest::Client::new();
    let cookie = sign_up(&client, &base).await;
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .header("cookie", &cookie)
            .header("origin", &base)
            .json(&body)
            .send()
    };
    let created = post(
        "/api/v1/credentials",
        json!({"service": "slack", "name": "sales", "secret": {"bot_token": "xoxb-1"}}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let workflow = json!({"id": "wf_leads", "name": "Leads", "steps": [{"id": "post", "type": "integration",
        "service": "slack", "action": "post_message", "inputs": {"channel": "C024BE91L", "text": "Hot lead"}}]});
    assert_eq!(
        post("/api/v1/workflows", workflow).await.unwrap().status(),
        201
    );
    // Counts are kept per minute: a run whose count fell into the minute before the look is
    // run again.
    let mut quota = Value::Null;
    for _ in 0..3 {
        let run: Value = post("/api/v1/workflows/wf_leads/runs?wait=60", json!({}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(run["state"], "COMPLETED", "{run}");
        quota = client
            .get(format!("{base}/api/v1/connectors/slack/quota"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if quota["quota"]["used"].as_u64().unwrap_or_default() > 0 {
            break;
        }
    }
    let posted = *calls.lock().unwrap();
    assert!(posted >= 1, "the worker posted");
    let used = quota["quota"]["used"].as_u64().unwrap_or_default();
    assert!(
        used >= 1 && used <= posted as u64,
        "the server sees the worker's calls ({posted} made): {quota}"
    );
    assert_eq!(
        quota["quota"]["limit"],
        json!({"requests": 50, "per_seconds": 60}),
        "{quota}"
    );

    worker.start_kill().ok();
    server.start_kill().ok();
    let _ = worker.wait().await;
    let _ = server.wait().await;
    database.drop_it().await;
}
