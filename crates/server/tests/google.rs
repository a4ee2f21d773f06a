//! Sign in with Google, against a local OpenID provider that signs real ID tokens with its own
//! RSA key: on SQLite, and on PostgreSQL when configured.

mod common;
#[path = "common/oidc.rs"]
mod oidc;

use axum::http::{StatusCode, header};
use baton_server::auth::oidc::Provider;
use common::harness;
use common::{App, PASSWORD, Reply, TestStore, link_token, send, sign_up};
use oidc::{CLIENT_ID, CLIENT_SECRET, FakeProvider, Fault, Person};

conformance!(
    a_new_person_gets_an_account_and_the_next_sign_in_finds_it,
    a_verified_google_email_links_to_the_existing_account,
    an_account_that_never_proved_its_email_is_never_linked_and_gives_it_up,
    forged_replayed_or_misdirected_id_tokens_are_refused,
    a_callback_without_its_flow_or_with_another_state_is_refused,
    with_two_factor_on_a_google_sign_in_still_asks_for_the_code,
);

async fn app_with_google(test: &TestStore) -> (App, FakeProvider) {
    let fake = FakeProvider::start().await;
    let issuer = fake.issuer.clone();
    let app = App::configured(test, |config| {
        config.google =
            Some(Provider::new(&issuer, CLIENT_ID, CLIENT_SECRET, "http://baton.test").unwrap());
    });
    (app, fake)
}

fn person(subject: &str, email: &str) -> Person {
    Person {
        subject: subject.into(),
        email: email.into(),
        email_verified: true,
        name: "Grace Hopper".into(),
    }
}

/// What a browser does: start, follow the provider's consent back, and land on the callback
/// with the flow cookie. Returns the callback's reply.
async fn sign_in(app: &App) -> Reply {
    let started = send(app, "GET", "/api/v1/auth/google/start", None, &[]).await;
    assert_eq!(started.status, StatusCode::FOUND, "{}", started.body);
    let flow = started.cookie("baton_oidc");
    let authorize = started.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let back = provider_redirect(&authorize).await;
    let path = back
        .strip_prefix("http://baton.test")
        .unwrap_or_else(|| panic!("the provider sent the browser to {back}"));
    send(app, "GET", path, None, &[&flow]).await
}

async fn provider_redirect(url: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 302, "{:?}", response.text().await);
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn me(app: &App, reply: &Reply) -> serde_json::Value {
    let session = reply.session();
    let me = send(app, "GET", "/api/v1/me", None, &[&session[0]]).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    me.body
}

async fn a_new_person_gets_an_account_and_the_next_sign_in_finds_it(test: &TestStore) {
    let (app, fake) = app_with_google(test).await;
    let providers = send(&app, "GET", "/api/v1/auth/providers", None, &[]).await;
    assert_eq!(providers.body["google"], true);
    fake.sign_in_as(person("google-sub-1", "Grace@Example.com"));
    let first = sign_in(&app).await;
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.body);
    assert_eq!(first.headers[header::LOCATION], "http://baton.test/");
    let who = me(&app, &first).await;
    assert_eq!(who["user"]["email"], "grace@example.com");
    assert_eq!(who["user"]["name"], "Grace Hopper");
    assert_eq!(who["active_organization"]["role"], "owner");
    assert_eq!(
        who["organizations"][0]["name"],
        "Grace Hopper's organization"
    );

    let second = sign_in(&app).await;
    assert_eq!(second.status, StatusCode::FOUND);
    let again = me(&app, &second).await;
    assert_eq!(again["user"]["id"], who["user"]["id"], "the same account");
    assert_eq!(again["organizations"].as_array().unwrap().len(), 1);
    assert!(
        test.store
            .user_by_email("grace@example.com")
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .is_none(),
        "an account made through Google has no password"
    );
}

async fn a_verified_google_email_links_to_the_existing_account(test: &TestStore) {
    let (app, fake) = app_with_google(test).await;
    let signed_up = sign_up(&app, "ann@example.com").await;
    let ann = me(&app, &signed_up).await;

    let mut unverified = person("google-sub-ann", "ann@example.com");
    unverified.email_verified = false;
    fake.sign_in_as(unverified);
    let refused = sign_in(&app).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "an unverified email takes over nobody's account"
    );

    // Ann proves her address with the link mailed at sign-up.
    let confirmed = send(
        &app,
        "POST",
        "/api/v1/auth/email/verify",
        Some(serde_json::json!({"token": link_token(&app, "ann@example.com")})),
        &[],
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(me(&app, &signed_up).await["user"]["email_verified"], true);

    fake.sign_in_as(person("google-sub-ann", "ann@example.com"));
    let linked = sign_in(&app).await;
    assert_eq!(linked.status, StatusCode::FOUND, "{}", linked.body);
    assert_eq!(me(&app, &linked).await["user"]["id"], ann["user"]["id"]);
    // Once linked, the subject finds the account even if the Google email changes.
    fake.sign_in_as(person("google-sub-ann", "ann.new@example.com"));
    let renamed = sign_in(&app).await;
    assert_eq!(me(&app, &renamed).await["user"]["id"], ann["user"]["id"]);
}

async fn forged_replayed_or_misdirected_id_tokens_are_refused(test: &TestStore) {
    let (app, fake) = app_with_google(test).await;
    fake.sign_in_as(person("google-sub-2", "mallory@example.com"));
    for fault in [Fault::ForeignKey, Fault::WrongNonce, Fault::WrongAudience] {
        fake.fail_with(fault);
        let reply = sign_in(&app).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{fault:?}: {}",
            reply.body
        );
        assert!(
            reply
                .cookies
                .iter()
                .all(|c| !c.starts_with("baton_access=")),
            "{fault:?} signs nobody in"
        );
    }
    assert!(
        test.store
            .user_by_email("mallory@example.com")
            .await
            .unwrap()
            .is_none(),
        "no account was made"
    );
    fake.fail_with(Fault::None);
    assert_eq!(sign_in(&app).await.status, StatusCode::FOUND);
}

async fn a_callback_without_its_flow_or_with_another_state_is_refused(test: &TestStore) {
    let (app, fake) = app_with_google(test).await;
    fake.sign_in_as(person("google-sub-3", "eve@example.com"));
    let started = send(&app, "GET", "/api/v1/auth/google/start", None, &[]).await;
    let flow = started.cookie("baton_oidc");
    let back = provider_redirect(started.headers[header::LOCATION].to_str().unwrap()).await;
    let path = back.strip_prefix("http://baton.test").unwrap().to_owned();

    let no_cookie = send(&app, "GET", &path, None, &[]).await;
    assert_eq!(no_cookie.status, StatusCode::UNAUTHORIZED);
    let (before_state, _) = path.split_once("&state=").unwrap();
    let forged = send(
        &app,
        "GET",
        &format!("{before_state}&state=forged"),
        None,
        &[&flow],
    )
    .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{}", forged.body);

    let test_without = App::on(test);
    let off = send(&test_without, "GET", "/api/v1/auth/google/start", None, &[]).await;
    assert_eq!(
        off.status,
        StatusCode::FORBIDDEN,
        "not set up: {}",
        off.body
    );
}

fn totp_code(secret: &str, at: u64) -> String {
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .with_account_name("test")
        .build()
        .unwrap()
        .generate(at)
        .to_string()
}

async fn with_two_factor_on_a_google_sign_in_still_asks_for_the_code(test: &TestStore) {
    let (app, fake) = app_with_google(test).await;
    fake.sign_in_as(person("google-sub-mfa", "careful@example.com"));
    let first = sign_in(&app).await;
    let session = first.session();
    let enrolled = send(
        &app,
        "POST",
        "/api/v1/auth/mfa/enroll",
        None,
        &[&session[0]],
    )
    .await;
    let secret = enrolled.body["secret"].as_str().unwrap().to_owned();
    let t0 = chrono::Utc::now().timestamp() as u64;
    let verified = send(
        &app,
        "POST",
        "/api/v1/auth/mfa/verify",
        Some(serde_json::json!({"code": totp_code(&secret, t0)})),
        &[&session[0]],
    )
    .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);

    let halfway = sign_in(&app).await;
    assert_eq!(halfway.status, StatusCode::FOUND);
    assert_eq!(
        halfway.headers[header::LOCATION],
        "http://baton.test/sign-in/two-factor"
    );
    assert!(
        halfway
            .cookies
            .iter()
            .all(|c| !c.starts_with("baton_access=")),
        "no session before the second factor"
    );
    let pending = halfway.cookie("baton_mfa_pending");
    let pending_as_access = pending.replace("baton_mfa_pending=", "baton_access=");
    assert_eq!(
        send(&app, "GET", "/api/v1/me", None, &[&pending_as_access])
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "the proof of a first factor is no access token"
    );
    let wrong = send(
        &app,
        "POST",
        "/api/v1/auth/mfa/complete",
        Some(serde_json::json!({"code": "000000"})),
        &[&pending],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let without = send(
        &app,
        "POST",
        "/api/v1/auth/mfa/complete",
        Some(serde_json::json!({"code": totp_code(&secret, t0 + 30)})),
        &[],
    )
    .await;
    assert_eq!(
        without.status,
        StatusCode::UNAUTHORIZED,
        "the code alone is not enough"
    );
    let done = send(
        &app,
        "POST",
        "/api/v1/auth/mfa/complete",
        Some(serde_json::json!({"code": totp_code(&secret, t0 + 30)})),
        &[&pending],
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let who = me(&app, &done).await;
    assert_eq!(who["user"]["email"], "careful@example.com");
}

/// The pre-account takeover: someone signs up with Ann's address before she ever uses Baton.
async fn an_account_that_never_proved_its_email_is_never_linked_and_gives_it_up(test: &TestStore) {
    let (app, fake) = app_with_google(test).await;
    let squatter = sign_up(&app, "ann@example.com").await;
    let squatter_me = me(&app, &squatter).await;
    assert_eq!(squatter_me["user"]["email_verified"], false);

    fake.sign_in_as(person("google-sub-ann", "ann@example.com"));
    let ann = sign_in(&app).await;
    assert_eq!(ann.status, StatusCode::FOUND, "{}", ann.body);
    let ann_me = me(&app, &ann).await;
    assert_ne!(
        ann_me["user"]["id"], squatter_me["user"]["id"],
        "Ann is not signed in to the account someone else made"
    );
    assert_eq!(ann_me["user"]["email"], "ann@example.com");
    assert_eq!(ann_me["user"]["email_verified"], true);

    let with_squatters_password = send(
        &app,
        "POST",
        "/api/v1/auth/login",
        Some(serde_json::json!({"email": "ann@example.com", "password": PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(
        with_squatters_password.status,
        StatusCode::UNAUTHORIZED,
        "the squatter's password opens nothing of Ann's"
    );
    let old_session = send(
        &app,
        "GET",
        "/api/v1/me",
        None,
        &[&squatter.cookie("baton_access")],
    )
    .await;
    assert_eq!(
        old_session.status,
        StatusCode::UNAUTHORIZED,
        "the squatter's session ended"
    );
    // The confirmation link mailed to Ann for the squatter's account confirms nothing now.
    let stale = send(
        &app,
        "POST",
        "/api/v1/auth/email/verify",
        Some(serde_json::json!({"token": link_token(&app, "ann@example.com")})),
        &[],
    )
    .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "{}", stale.body);
}
