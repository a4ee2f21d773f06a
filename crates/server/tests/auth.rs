//! Sign-up, sign-in, sessions and their refusals, through the real router, on SQLite and on
//! PostgreSQL when `BATON_TEST_DATABASE_URL` is set.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::harness;
use common::{App, TestStore, join, send, send_bearer, sign_up};
use serde_json::json;
use tower::ServiceExt;

conformance!(
    signing_up_makes_an_owner_and_signs_them_in,
    bad_sign_ups_say_what_is_wrong_and_where,
    sign_in_failures_do_not_reveal_whether_the_account_exists,
    refresh_tokens_rotate_and_a_reused_one_ends_the_family,
    logging_out_ends_the_session_and_its_tokens,
    garbage_tokens_and_cross_site_requests_are_refused,
    repeated_failures_are_slowed_down_with_retry_after,
    owners_read_the_audit_of_their_sign_ins,
    api_keys_are_shown_once_act_with_their_role_and_can_be_revoked,
    an_api_key_never_outranks_its_maker_and_ends_when_they_leave,
    a_person_can_make_another_organization_and_switch_to_it,
    people_rename_themselves_and_their_company_and_change_their_password,
);

async fn signing_up_makes_an_owner_and_signs_them_in(test: &TestStore) {
    let app = App::on(test);
    let reply = sign_up(&app, "Ann@Example.com").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["user"]["email"], "ann@example.com");
    assert_eq!(reply.body["role"], "owner");
    let access = reply
        .cookies
        .iter()
        .find(|c| c.starts_with("baton_access="))
        .unwrap();
    assert!(
        access.contains("HttpOnly")
            && access.contains("SameSite=Lax")
            && access.contains("Max-Age=900"),
        "{access}"
    );
    let refresh = reply
        .cookies
        .iter()
        .find(|c| c.starts_with("baton_refresh="))
        .unwrap();
    assert!(
        refresh.contains("Path=/api/v1/auth") && refresh.contains("HttpOnly"),
        "{refresh}"
    );

    let me = send(
        &app,
        "GET",
        "/api/v1/me",
        None,
        &[&reply.cookie("baton_access")],
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"]["name"], "Ann Example");
    assert_eq!(me.body["organizations"][0]["name"], "Acme Ltd");
    assert_eq!(me.body["active_organization"]["role"], "owner");

    let again = sign_up(&app, "ann@example.com").await;
    assert_eq!(
        (again.status, again.body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
}

async fn bad_sign_ups_say_what_is_wrong_and_where(test: &TestStore) {
    let app = App::on(test);
    let reply = send(&app, "POST", "/api/v1/auth/signup", Some(json!({"email": "not-an-email", "password": "password1234", "name": "", "organization_name": "Acme"})), &[]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let details: Vec<(String, String)> = reply.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_owned(),
                d["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        details.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        vec!["$.email", "$.password", "$.name"]
    );
    assert!(details[1].1.contains("too common"), "{details:?}");

    let missing = send(
        &app,
        "POST",
        "/api/v1/auth/signup",
        Some(json!({"email": "a@b.co"})),
        &[],
    )
    .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing.body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("missing field"),
        "{}",
        missing.body
    );

    let request = Request::post("/api/v1/auth/signup")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"email\": "))
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

async fn sign_in_failures_do_not_reveal_whether_the_account_exists(test: &TestStore) {
    let app = App::on(test);
    sign_up(&app, "ann@example.com").await;
    let wrong = send(
        &app,
        "POST",
        "/api/v1/auth/login",
        Some(json!({"email": "ann@example.com", "password": "wrong horse battery staple"})),
        &[],
    )
    .await;
    let unknown = send(
        &app,
        "POST",
        "/api/v1/auth/login",
        Some(json!({"email": "bob@example.com", "password": "wrong horse battery staple"})),
        &[],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body, "the same answer either way");
    assert_eq!(
        wrong.body["error"]["message"],
        "the email or the password is not right"
    );

    let right = send(
        &app,
        "POST",
        "/api/v1/auth/login",
        Some(json!({"email": "ANN@example.com", "password": "correct horse battery staple"})),
        &[],
    )
    .await;
    assert_eq!(right.status, StatusCode::OK);
    let me = send(
        &app,
        "GET",
        "/api/v1/me",
        None,
        &[&right.cookie("baton_access")],
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
}

async fn refresh_tokens_rotate_and_a_reused_one_ends_the_family(test: &TestStore) {
    let app = App::on(test);
    let signed_up = sign_up(&app, "ann@example.com").await;
    let first_refresh = signed_up.cookie("baton_refresh");
    let rotated = send(
        &app,
        "POST",
        "/api/v1/auth/refresh",
        None,
        &[&first_refresh],
    )
    .await;
    assert_eq!(rotated.status, StatusCode::NO_CONTENT);
    let second_refresh = rotated.cookie("baton_refresh");
    let second_access = rotated.cookie("baton_access");
    assert_ne!(first_refresh, second_refresh);
    assert_eq!(
        send(&app, "GET", "/api/v1/me", None, &[&second_access])
            .await
            .status,
        StatusCode::OK
    );

    let reused = send(
        &app,
        "POST",
        "/api/v1/auth/refresh",
        None,
        &[&first_refresh],
    )
    .await;
    assert_eq!(
        reused.status,
        StatusCode::UNAUTHORIZED,
        "a used token is refused"
    );
    assert_eq!(
        send(
            &app,
            "POST",
            "/api/v1/auth/refresh",
            None,
            &[&second_refresh]
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED,
        "the whole family is revoked"
    );
    assert_eq!(
        send(&app, "GET", "/api/v1/me", None, &[&second_access])
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "its access tokens too"
    );
}

async fn logging_out_ends_the_session_and_its_tokens(test: &TestStore) {
    let app = App::on(test);
    let signed_up = sign_up(&app, "ann@example.com").await;
    let access = signed_up.cookie("baton_access");
    let refresh = signed_up.cookie("baton_refresh");
    let out = send(
        &app,
        "POST",
        "/api/v1/auth/logout",
        None,
        &[&access, &refresh],
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(
        out.cookies.iter().all(|c| c.contains("Max-Age=0")),
        "{:?}",
        out.cookies
    );
    assert_eq!(
        send(&app, "GET", "/api/v1/me", None, &[&access])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, "POST", "/api/v1/auth/refresh", None, &[&refresh])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

async fn garbage_tokens_and_cross_site_requests_are_refused(test: &TestStore) {
    let app = App::on(test);
    assert_eq!(
        send(&app, "GET", "/api/v1/me", None, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(
            &app,
            "GET",
            "/api/v1/me",
            None,
            &["baton_access=not.a.token"]
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    let request = Request::get("/api/v1/me")
        .header(header::AUTHORIZATION, "Bearer eyJhbGciOiJub25lIn0.e30.")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.router.clone().oneshot(request).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let signed_up = sign_up(&app, "ann@example.com").await;
    let request = Request::post("/api/v1/auth/logout")
        .header(header::HOST, "baton.test")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, signed_up.cookie("baton_access"))
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "another site cannot sign the user out"
    );
    let request = Request::post("/api/v1/auth/logout")
        .header(header::HOST, "baton.test")
        .header(header::COOKIE, signed_up.cookie("baton_access"))
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "cookies without an origin"
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("the request's origin could not be checked"),
        "says why, not that the role is missing: {body}"
    );
    assert_eq!(
        send(
            &app,
            "GET",
            "/api/v1/me",
            None,
            &[&signed_up.cookie("baton_access")]
        )
        .await
        .status,
        StatusCode::OK,
        "still signed in"
    );
}

async fn repeated_failures_are_slowed_down_with_retry_after(test: &TestStore) {
    let app = App::on(test);
    sign_up(&app, "ann@example.com").await;
    let wrong = json!({"email": "ann@example.com", "password": "wrong horse battery staple"});
    for _ in 0..3 {
        assert_eq!(
            send(&app, "POST", "/api/v1/auth/login", Some(wrong.clone()), &[])
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let request = Request::post("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"email": "ann@example.com", "password": "correct horse battery staple"})
                .to_string(),
        ))
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits its turn"
    );
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
}

async fn owners_read_the_audit_of_their_sign_ins(test: &TestStore) {
    let app = App::on(test);
    let signed_up = sign_up(&app, "ann@example.com").await;
    let access = signed_up.cookie("baton_access");
    send(
        &app,
        "POST",
        "/api/v1/auth/login",
        Some(json!({"email": "ann@example.com", "password": "correct horse battery staple"})),
        &[],
    )
    .await;
    let audit = send(&app, "GET", "/api/v1/audit", None, &[&access]).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["auth.login", "auth.signup"]);
    let logins = send(
        &app,
        "GET",
        "/api/v1/audit?action=auth.login",
        None,
        &[&access],
    )
    .await;
    assert_eq!(logins.body["items"].as_array().unwrap().len(), 1);
    let bad = send(&app, "GET", "/api/v1/audit?actor=nobody", None, &[&access]).await;
    assert_eq!(
        (bad.status, bad.body["error"]["details"][0]["path"].as_str()),
        (StatusCode::BAD_REQUEST, Some("actor"))
    );
    let unknown = send(&app, "GET", "/api/v1/audit?colour=red", None, &[&access]).await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    assert_eq!(
        send(&app, "GET", "/api/v1/audit", None, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn api_keys_are_shown_once_act_with_their_role_and_can_be_revoked(test: &TestStore) {
    let app = App::on(test);
    let signed_up = sign_up(&app, "ann@example.com").await;
    let access = signed_up.cookie("baton_access");
    let created = send(
        &app,
        "POST",
        "/api/v1/api-keys",
        Some(json!({"name": "CI", "role": "viewer"})),
        &[&access],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("baton_"));
    assert_eq!(created.body["api_key"]["role"], "viewer");

    let listed = send(&app, "GET", "/api/v1/api-keys", None, &[&access]).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert!(
        !listed.body.to_string().contains(&key),
        "a key is never shown again"
    );

    let with_key = |path: &str| {
        Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap()
    };
    let me = app
        .router
        .clone()
        .oneshot(with_key("/api/v1/me"))
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let audit = app
        .router
        .clone()
        .oneshot(with_key("/api/v1/audit"))
        .await
        .unwrap();
    assert_eq!(
        audit.status(),
        StatusCode::FORBIDDEN,
        "a viewer key cannot read the audit log"
    );
    let listed = send(&app, "GET", "/api/v1/api-keys", None, &[&access]).await;
    assert!(
        listed.body["items"][0]["last_used_at"].is_string(),
        "its use is recorded: {}",
        listed.body
    );

    let id = created.body["api_key"]["id"].as_str().unwrap();
    assert_eq!(
        send(
            &app,
            "DELETE",
            &format!("/api/v1/api-keys/{id}"),
            None,
            &[&access]
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.router
            .clone()
            .oneshot(with_key("/api/v1/me"))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
    assert_eq!(
        send(
            &app,
            "DELETE",
            &format!("/api/v1/api-keys/{id}"),
            None,
            &[&access]
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

async fn a_person_can_make_another_organization_and_switch_to_it(test: &TestStore) {
    let app = App::on(test);
    let ann = sign_up(&app, "ann@example.com").await;
    let access = ann.cookie("baton_access");
    let created = send(
        &app,
        "POST",
        "/api/v1/organizations",
        Some(json!({"name": "Side Project"})),
        &[&access],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let second = created.body["id"].as_str().unwrap().to_owned();

    let switched = send(
        &app,
        "POST",
        "/api/v1/auth/switch",
        Some(json!({"organization_id": second})),
        &[&access],
    )
    .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.body);
    let me = send(
        &app,
        "GET",
        "/api/v1/me",
        None,
        &[&switched.cookie("baton_access")],
    )
    .await;
    assert_eq!(me.body["active_organization"]["id"], second.as_str());
    assert_eq!(me.body["organizations"].as_array().unwrap().len(), 2);
    assert_eq!(
        send(&app, "GET", "/api/v1/me", None, &[&access])
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "the old session ended"
    );

    let bob = sign_up(&app, "bob@example.com").await;
    let refused = send(
        &app,
        "POST",
        "/api/v1/auth/switch",
        Some(json!({"organization_id": second})),
        &[&bob.cookie("baton_access")],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::NOT_FOUND,
        "another person's organization reads as absent"
    );
}

async fn an_api_key_never_outranks_its_maker_and_ends_when_they_leave(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let (admin, admin_id) = join(&app, &owner, "admin@example.com", "admin").await;
    let created = send(
        &app,
        "POST",
        "/api/v1/api-keys",
        Some(json!({"name": "sync", "role": "admin"})),
        &[&admin[0]],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let audit = |key: String| {
        let app = &app;
        async move {
            send_bearer(app, "GET", "/api/v1/audit", None, &key)
                .await
                .status
        }
    };
    assert_eq!(
        audit(key.clone()).await,
        StatusCode::OK,
        "an Admin's key reads the audit"
    );

    let demoted = send(
        &app,
        "PATCH",
        &format!("/api/v1/members/{admin_id}"),
        Some(json!({"role": "member"})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    assert_eq!(
        audit(key.clone()).await,
        StatusCode::FORBIDDEN,
        "the key now acts as the Member its maker is"
    );
    let workflows = send_bearer(&app, "GET", "/api/v1/workflows", None, &key).await;
    assert_eq!(
        workflows.status,
        StatusCode::OK,
        "a Member may still list workflows"
    );

    let removed = send(
        &app,
        "DELETE",
        &format!("/api/v1/members/{admin_id}"),
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    let gone = send_bearer(&app, "GET", "/api/v1/workflows", None, &key).await;
    assert_eq!(
        gone.status,
        StatusCode::UNAUTHORIZED,
        "the maker left: the key stops"
    );
}

async fn people_rename_themselves_and_their_company_and_change_their_password(test: &TestStore) {
    let app = App::on(test);
    let signed_up = sign_up(&app, "ann@example.com").await;
    let session = signed_up.session();
    let cookies = [session[0].as_str(), session[1].as_str()];

    let renamed = send(
        &app,
        "PATCH",
        "/api/v1/me",
        Some(json!({"name": "  Ann B. Owner "})),
        &cookies,
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let me = send(&app, "GET", "/api/v1/me", None, &cookies).await;
    assert_eq!(me.body["user"]["name"], "Ann B. Owner");
    assert_eq!(me.body["user"]["two_factor"], false);
    let blank = send(
        &app,
        "PATCH",
        "/api/v1/me",
        Some(json!({"name": " "})),
        &cookies,
    )
    .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(blank.body["error"]["details"][0]["path"], "$.name");

    let company = send(
        &app,
        "PATCH",
        "/api/v1/organization",
        Some(json!({"name": "Acme Bakery"})),
        &cookies,
    )
    .await;
    assert_eq!(company.status, StatusCode::OK, "{}", company.body);
    assert_eq!(company.body["organization"]["name"], "Acme Bakery");

    let wrong = send(
        &app,
        "POST",
        "/api/v1/me/password",
        Some(
            json!({"current_password": "not it at all", "new_password": "a brand new passphrase"}),
        ),
        &cookies,
    )
    .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert_eq!(
        wrong.body["error"]["details"][0]["path"],
        "$.current_password"
    );
    let weak = send(
        &app,
        "POST",
        "/api/v1/me/password",
        Some(json!({"current_password": "correct horse battery staple", "new_password": "short"})),
        &cookies,
    )
    .await;
    assert_eq!(
        weak.body["error"]["details"][0]["path"], "$.new_password",
        "{}",
        weak.body
    );

    let changed = send(
        &app,
        "POST",
        "/api/v1/me/password",
        Some(json!({"current_password": "correct horse battery staple", "new_password": "a brand new passphrase"})),
        &cookies,
    )
    .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    let fresh = changed.session();
    let old_refresh = send(&app, "POST", "/api/v1/auth/refresh", None, &[&session[1]]).await;
    assert_eq!(
        old_refresh.status,
        StatusCode::UNAUTHORIZED,
        "the old session ended"
    );
    let new_me = send(&app, "GET", "/api/v1/me", None, &[&fresh[0]]).await;
    assert_eq!(
        new_me.status,
        StatusCode::OK,
        "the browser that changed it stays signed in"
    );
    let login = |password: &str| json!({"email": "ann@example.com", "password": password});
    let old = send(
        &app,
        "POST",
        "/api/v1/auth/login",
        Some(login("correct horse battery staple")),
        &[],
    )
    .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = send(
        &app,
        "POST",
        "/api/v1/auth/login",
        Some(login("a brand new passphrase")),
        &[],
    )
    .await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
}
