//! Rate limits (in this process, and shared through a real Redis when one answers), HSTS and
//! Secure cookies behind TLS, client addresses through a real socket, and mail through an SMTP
//! server on a real socket.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use baton_server::rate_limit::RedisLimiter;
use common::{App, PASSWORD, Reply, TestStore, dispatch, send, send_bearer, sign_up};
use serde_json::json;

/// A sign-in from the client address `ip`.
async fn login_from(app: &App, ip: &str, email: &str) -> Reply {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/auth/login")
        .header(header::HOST, "baton.test")
        .extension(ConnectInfo(SocketAddr::new(ip.parse().unwrap(), 40000)));
    dispatch(
        app,
        request,
        Some(json!({"email": email, "password": "not the password at all"})),
    )
    .await
}

#[tokio::test]
async fn each_user_gets_their_limit_a_minute_then_429_with_retry_after() {
    let test = TestStore::sqlite().await;
    let app = App::configured(&test, |config| config.limits.per_user = 5);
    let ann = sign_up(&app, "ann@example.com").await.session();
    let bob = sign_up(&app, "bob@example.com").await.session();
    for _ in 0..5 {
        let me = send(&app, "GET", "/api/v1/me", None, &[&ann[0]]).await;
        assert_eq!(me.status, StatusCode::OK);
    }
    let limited = send(&app, "GET", "/api/v1/me", None, &[&ann[0]]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["error"]["code"], "rate_limited");
    let retry: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        send(&app, "GET", "/api/v1/me", None, &[&bob[0]])
            .await
            .status,
        StatusCode::OK,
        "another user has their own count"
    );

    let key = send(
        &app,
        "POST",
        "/api/v1/api-keys",
        Some(json!({"name": "CI", "role": "viewer"})),
        &[&bob[0]],
    )
    .await;
    let key = key.body["key"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            send_bearer(&app, "GET", "/api/v1/me", None, &key)
                .await
                .status,
        );
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        5,
        "an API key is limited too: {statuses:?}"
    );
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_client_address() {
    let test = TestStore::sqlite().await;
    let app = App::configured(&test, |config| config.limits.per_address_sign_in = 3);
    let mut statuses = Vec::new();
    for n in 0..4 {
        // Different accounts each time: the per-account throttle does not come into it.
        statuses.push(
            login_from(&app, "192.0.2.7", &format!("user{n}@example.com"))
                .await
                .status,
        );
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(
        login_from(&app, "192.0.2.8", "user9@example.com")
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "another address is not held back"
    );
}

/// The shared-count tests' Redis, or `None` (said as SKIPPED) when none answers.
async fn redis_url() -> Option<String> {
    common::harness::skip::redis_url("the Redis rate-limit tests").await
}

async fn redis_limiter(url: &str, prefix: &str) -> Arc<RedisLimiter> {
    let client = redis::Client::open(url).unwrap();
    let connection = redis::aio::ConnectionManager::new(client)
        .await
        .unwrap_or_else(|error| panic!("Redis at {url}: {error}"));
    Arc::new(RedisLimiter::with_prefix(connection, prefix))
}

#[tokio::test]
async fn two_servers_sharing_redis_share_the_counts() {
    let Some(url) = redis_url().await else {
        return;
    };
    let test = TestStore::sqlite().await;
    let prefix = format!("baton:test:{}:", uuid::Uuid::now_v7().simple());
    let limited = |app: App, limiter: Arc<RedisLimiter>| {
        let state = app.state.clone().with_limiter(limiter);
        App::from_state(app, state)
    };
    let first = limited(
        App::configured(&test, |config| config.limits.per_address_sign_in = 4),
        redis_limiter(&url, &prefix).await,
    );
    let second = limited(
        App::configured(&test, |config| config.limits.per_address_sign_in = 4),
        redis_limiter(&url, &prefix).await,
    );
    let mut statuses = Vec::new();
    for n in 0..3 {
        statuses.push(
            login_from(&first, "198.51.100.1", &format!("a{n}@example.com"))
                .await
                .status,
        );
        statuses.push(
            login_from(&second, "198.51.100.1", &format!("b{n}@example.com"))
                .await
                .status,
        );
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        2,
        "4 allowed across both servers, then refused: {statuses:?}"
    );
    // The window's key expires with the window.
    let mut connection = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}ip:login:198.51.100.1"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "PTTL {ttl}");
}

#[tokio::test]
async fn behind_tls_cookies_are_secure_and_responses_carry_hsts() {
    let test = TestStore::sqlite().await;
    let tls = App::configured(&test, |config| {
        config.public_url = "https://baton.example.com".into();
    });
    let reply = sign_up(&tls, "ann@example.com").await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert!(
        reply.cookies.iter().all(|c| c.contains("; Secure")),
        "{:?}",
        reply.cookies
    );
    assert_eq!(
        reply.headers[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000; includeSubDomains"
    );
    let access = reply
        .cookies
        .iter()
        .find(|c| c.starts_with("__Host-baton_access="))
        .unwrap_or_else(|| panic!("a __Host- access cookie: {:?}", reply.cookies));
    assert!(
        access.contains("; Path=/;") && !access.contains("Domain"),
        "{access}"
    );
    assert!(
        reply
            .cookies
            .iter()
            .any(|c| c.starts_with("__Secure-baton_refresh=")),
        "{:?}",
        reply.cookies
    );
    // The prefixed cookie is the one that signs the person in.
    let token = access.split(';').next().unwrap();
    let me = common::send(&tls, "GET", "/api/v1/me", None, &[token]).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let unprefixed = token.replace("__Host-", "");
    let planted = common::send(&tls, "GET", "/api/v1/me", None, &[&unprefixed]).await;
    assert_eq!(
        planted.status,
        StatusCode::UNAUTHORIZED,
        "an unprefixed cookie is not read over https"
    );

    let plain = App::on(&test);
    let reply = sign_up(&plain, "bob@example.com").await;
    assert!(reply.cookies.iter().all(|c| !c.contains("Secure")));
    assert!(
        !reply
            .headers
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    );
}

/// An SMTP server in the test process: it speaks the part of SMTP (RFC 5321) a client needs
/// to hand over a message (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) over a real socket,
/// and keeps each message as it came.
struct SmtpServer {
    port: u16,
    messages: Arc<std::sync::Mutex<Vec<String>>>,
}

impl SmtpServer {
    async fn start() -> SmtpServer {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let kept = messages.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let (reader, mut writer) = socket.into_split();
                    let mut lines = BufReader::new(reader).lines();
                    let _ = writer.write_all(b"220 sink.test ESMTP\r\n").await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_ascii_uppercase();
                        let answer: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-sink.test\r\n250 8BITMIME\r\n",
                            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                            "DATA" => {
                                let _ = writer.write_all(b"354 end with .\r\n").await;
                                let mut message = String::new();
                                while let Ok(Some(data)) = lines.next_line().await {
                                    if data == "." {
                                        break;
                                    }
                                    // A leading dot is doubled on the wire (RFC 5321 4.5.2).
                                    let data = data
                                        .strip_prefix('.')
                                        .filter(|_| data.starts_with(".."))
                                        .unwrap_or(&data);
                                    message.push_str(data);
                                    message.push('\n');
                                }
                                kept.lock().unwrap().push(message);
                                b"250 queued\r\n"
                            }
                            "QUIT" => {
                                let _ = writer.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"502 not implemented\r\n",
                        };
                        if writer.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        SmtpServer { port, messages }
    }

    /// The messages received so far.
    fn received(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn reset_mail_goes_through_a_real_smtp_server() {
    let smtp = SmtpServer::start().await;
    let test = TestStore::sqlite().await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = App::configured(&test, |config| {
        config.mailer =
            baton_server::mail::Mailer::smtp(&url, "Baton <baton@example.com>").unwrap();
    });
    sign_up(&app, "ann@example.com").await;
    let asked = send(
        &app,
        "POST",
        "/api/v1/auth/password/forgot",
        Some(json!({"email": "ann@example.com"})),
        &[],
    )
    .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    // The sign-up's confirmation mail went first; the reset mail is the one to read.
    let mut received = Vec::new();
    for _ in 0..100 {
        received = smtp
            .received()
            .into_iter()
            .filter(|mail| mail.contains("Subject: Choose a new Baton password"))
            .collect();
        if !received.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(received.len(), 1, "one reset mail reached the SMTP server");
    let mail = &received[0];
    assert!(mail.contains("To: ann@example.com"), "{mail}");
    assert!(mail.contains("From: Baton <baton@example.com>"), "{mail}");
    assert!(app.mails().is_empty(), "nothing went to the outbox");
    // Undo the transport encoding (quoted-printable) to read the link as a person would.
    let text = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start =
        text.find("reset-password?token=").expect("the link") + "reset-password?token=".len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let reset = send(
        &app,
        "POST",
        "/api/v1/auth/password/reset",
        Some(json!({"token": token, "password": "a new passphrase from the mail"})),
        &[],
    )
    .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    let old = send(
        &app,
        "POST",
        "/api/v1/auth/login",
        Some(json!({"email": "ann@example.com", "password": PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn redis_reports_a_windows_use_for_the_quota() {
    use baton_server::rate_limit::{Decision, Limiter};
    let Some(url) = redis_url().await else {
        return;
    };
    let prefix = format!("baton:test:{}:", uuid::Uuid::now_v7().simple());
    let limiter = redis_limiter(&url, &prefix).await;
    let window = std::time::Duration::from_secs(60);
    assert_eq!(
        limiter.usage("service:org:slack", window).await.unwrap(),
        (0, window),
        "an unused window is whole"
    );
    for _ in 0..3 {
        assert_eq!(
            limiter.hit("service:org:slack", 5, window).await.unwrap(),
            Decision::Allowed
        );
    }
    let (used, resets_in) = limiter.usage("service:org:slack", window).await.unwrap();
    assert_eq!(used, 3);
    assert!(resets_in <= window && resets_in > std::time::Duration::from_secs(50));
}

/// Serves `app` on a real socket at 127.0.0.1; the base URL.
async fn listening(app: &App) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(baton_server::serve(
        listener,
        router,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    format!("http://{addr}")
}

/// The address the sign-up of the organization in `reply` was audited with.
async fn signup_address(app: &App, reply: serde_json::Value) -> Option<String> {
    let org: baton_core::OrgId = reply["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let filter = baton_core::audit::AuditFilter {
        action: Some("auth.signup".into()),
        actor: None,
    };
    let page = app
        .state
        .store
        .audit_events(org, &filter, baton_core::page::PageRequest::first(10))
        .await
        .unwrap();
    page.items[0].ip.clone()
}

async fn signup_over_socket(base: &str, email: &str, forwarded: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&common::signup_body(email));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn through_a_real_socket_the_limits_count_the_peer_address() {
    let test = TestStore::sqlite().await;
    let app = App::configured(&test, |config| config.limits.per_address_sign_in = 3);
    let base = listening(&app).await;
    let mut statuses = Vec::new();
    let mut first = None;
    for n in 0..5 {
        // A client naming other addresses for itself changes nothing: no proxy is trusted.
        let forwarded = format!("203.0.113.{n}");
        let response =
            signup_over_socket(&base, &format!("p{n}@example.com"), Some(&forwarded)).await;
        statuses.push(response.status().as_u16());
        if n == 0 {
            first = Some(response.json::<serde_json::Value>().await.unwrap());
        }
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429]);
    assert_eq!(
        signup_address(&app, first.unwrap()).await.as_deref(),
        Some("127.0.0.1")
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_counted() {
    let test = TestStore::sqlite().await;
    let app = App::configured(&test, |config| {
        config.limits.per_address_sign_in = 2;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    });
    let base = listening(&app).await;
    let mut statuses = Vec::new();
    let mut last = None;
    for (n, forwarded) in [
        "198.51.100.7",
        "198.51.100.7",
        "198.51.100.7",
        "198.51.100.8",
    ]
    .iter()
    .enumerate()
    {
        // What the client claims (the left) is ignored; the proxy's hop (the right) counts.
        let chain = format!("10.9.9.{n}, {forwarded}");
        let response = signup_over_socket(&base, &format!("q{n}@example.com"), Some(&chain)).await;
        statuses.push(response.status().as_u16());
        if response.status().is_success() {
            last = Some(response.json::<serde_json::Value>().await.unwrap());
        }
    }
    assert_eq!(statuses, [201, 201, 429, 201]);
    assert_eq!(
        signup_address(&app, last.unwrap()).await.as_deref(),
        Some("198.51.100.8")
    );
}

/// A sign-in from the client address `ip` with `password`.
async fn login_with(app: &App, ip: &str, email: &str, password: &str) -> Reply {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/auth/login")
        .header(header::HOST, "baton.test")
        .extension(ConnectInfo(SocketAddr::new(ip.parse().unwrap(), 40000)));
    dispatch(
        app,
        request,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

#[tokio::test]
async fn nobody_can_lock_the_owner_out_with_wrong_passwords() {
    let test = TestStore::sqlite().await;
    let app = App::on(&test);
    sign_up(&app, "ann@example.com").await;
    let home = "192.0.2.10";
    assert_eq!(
        login_with(&app, home, "ann@example.com", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    // Guessers from many addresses, until the account itself is slowed down.
    let mut slowed = false;
    for n in 0..40 {
        let reply = login_from(&app, &format!("203.0.113.{n}"), "ann@example.com").await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            slowed = true;
            break;
        }
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert!(slowed, "a distributed guess slows the account down");
    let elsewhere = login_with(&app, "192.0.2.99", "ann@example.com", PASSWORD).await;
    assert_eq!(elsewhere.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = elsewhere.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        wait <= 30,
        "a new address waits at most 30 s, never 15 minutes: {wait}"
    );
    let owner = login_with(&app, home, "ann@example.com", PASSWORD).await;
    assert_eq!(
        owner.status,
        StatusCode::OK,
        "the owner signs in from where they did before: {}",
        owner.body
    );
}

#[tokio::test]
async fn guessing_api_keys_and_hook_urls_is_slowed_per_address() {
    let test = TestStore::sqlite().await;
    let app = App::on(&test);
    let from = |ip: &str, method: &str, path: &str, key: Option<&str>| {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "baton.test")
            .extension(ConnectInfo(SocketAddr::new(ip.parse().unwrap(), 40000)));
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        request
    };
    let mut statuses = Vec::new();
    for n in 0..21 {
        let key = format!("baton_guess{n:020}");
        let reply = dispatch(
            &app,
            from("203.0.113.7", "GET", "/api/v1/workflows", Some(&key)),
            None,
        )
        .await;
        statuses.push(reply.status);
    }
    assert!(
        statuses[..20]
            .iter()
            .all(|status| *status == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[20], StatusCode::TOO_MANY_REQUESTS);
    let other = dispatch(
        &app,
        from(
            "203.0.113.8",
            "GET",
            "/api/v1/workflows",
            Some("baton_guess"),
        ),
        None,
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::UNAUTHORIZED,
        "another address is not held back"
    );

    let mut statuses = Vec::new();
    for n in 0..21 {
        let path = format!("/hooks/guess{n:030}");
        let reply = dispatch(
            &app,
            from("203.0.113.9", "POST", &path, None),
            Some(json!({})),
        )
        .await;
        statuses.push(reply.status);
    }
    assert!(
        statuses[..20]
            .iter()
            .all(|status| *status == StatusCode::NOT_FOUND),
        "{statuses:?}"
    );
    assert_eq!(statuses[20], StatusCode::TOO_MANY_REQUESTS);
}
