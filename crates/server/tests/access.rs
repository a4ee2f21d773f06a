//! Members, invitations, ownership, organization deletion, two-factor sign-in and password
//! resets, through the real router, on SQLite and on PostgreSQL when configured.

mod common;

use axum::http::StatusCode;
use common::harness;
use common::{App, PASSWORD, Reply, TestStore, link_token, send, sign_up};
use serde_json::{Value, json};

conformance!(
    an_invited_person_makes_an_account_and_joins_with_the_role,
    an_invitation_for_someone_with_an_account_is_accepted_signed_in,
    invitations_never_make_owners_or_outrank_the_inviter,
    a_resent_invitation_mails_fresh_links_and_the_old_ones_stop,
    roles_change_and_members_leave_within_the_rules,
    the_owner_hands_over_ownership,
    the_owner_deletes_the_organization_after_confirming_its_name,
    two_factor_sign_in_enrols_checks_codes_once_and_turns_off,
    an_organization_can_require_two_factor_sign_in,
    an_owner_sets_how_long_runs_are_kept,
    a_reset_link_works_once_and_ends_every_session,
    asking_for_a_reset_does_not_reveal_whether_the_account_exists,
    a_newer_reset_link_replaces_the_older_and_proves_the_email,
);

fn cookies(reply: &Reply) -> Vec<String> {
    reply.session().to_vec()
}

fn refs(cookies: &[String]) -> Vec<&str> {
    cookies.iter().map(String::as_str).collect()
}

/// Invites `email` with `role` as the signed-in `by`, and returns the reply.
async fn invite(app: &App, by: &[String], email: &str, role: &str) -> Reply {
    send(
        app,
        "POST",
        "/api/v1/invites",
        Some(json!({"email": email, "role": role})),
        &refs(by),
    )
    .await
}

/// An Owner with a second person joined through an invitation with `role`; returns the two
/// sessions and the second person's user id.
async fn owner_and(app: &App, role: &str) -> (Vec<String>, Vec<String>, String) {
    let owner = cookies(&sign_up(app, "owner@example.com").await);
    let email = format!("{role}@example.com");
    let invited = invite(app, &owner, &email, role).await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let joined = send(
        app,
        "POST",
        "/api/v1/invites/accept",
        Some(json!({"token": link_token(app, &email), "name": "Second Person", "password": PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let id = joined.body["user"]["id"].as_str().unwrap().to_owned();
    (owner, cookies(&joined), id)
}

async fn an_invited_person_makes_an_account_and_joins_with_the_role(test: &TestStore) {
    let app = App::on(test);
    let owner = cookies(&sign_up(&app, "owner@example.com").await);
    let invited = invite(&app, &owner, "New.Person@Example.com", "member").await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert_eq!(invited.body["invite"]["email"], "new.person@example.com");
    assert_eq!(invited.body["mailed"], true);
    let mails: Vec<String> = app
        .mails()
        .into_iter()
        .filter(|mail| mail.contains("To: new.person@example.com"))
        .collect();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("Acme Ltd"),
        "the mail names the organization"
    );
    let token = link_token(&app, "new.person@example.com");
    let copied = invited.body["accept_url"]
        .as_str()
        .unwrap()
        .rsplit("token=")
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(copied, token, "the inviter's copy is not the mailed link");
    let by_inviter = send(
        &app,
        "POST",
        "/api/v1/invites/accept",
        Some(json!({"token": copied, "name": "Not Them", "password": "the inviter's own choice"})),
        &[],
    )
    .await;
    assert_eq!(
        by_inviter.status,
        StatusCode::FORBIDDEN,
        "the inviter cannot choose the invitee's password: {}",
        by_inviter.body
    );

    let listed = send(&app, "GET", "/api/v1/invites", None, &refs(&owner)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    let short = send(
        &app,
        "POST",
        "/api/v1/invites/accept",
        Some(json!({"token": token, "name": "", "password": "short"})),
        &[],
    )
    .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<&str> = short.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["$.name", "$.password"]);

    let joined = send(
        &app,
        "POST",
        "/api/v1/invites/accept",
        Some(json!({"token": token, "name": "New Person", "password": PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert_eq!(joined.body["role"], "member");
    let me = send(&app, "GET", "/api/v1/me", None, &refs(&cookies(&joined))).await;
    assert_eq!(me.body["active_organization"]["role"], "member");
    assert_eq!(me.body["organizations"][0]["name"], "Acme Ltd");

    let again = send(
        &app,
        "POST",
        "/api/v1/invites/accept",
        Some(json!({"token": token, "name": "Someone Else", "password": PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "the link works once");

    let members = send(&app, "GET", "/api/v1/members", None, &refs(&owner)).await;
    let mut roles: Vec<(String, String)> = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        [
            ("new.person@example.com".into(), "member".into()),
            ("owner@example.com".into(), "owner".into())
        ]
    );
    let audit = send(&app, "GET", "/api/v1/audit", None, &refs(&owner)).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"invite.created") && actions.contains(&"invite.accepted"),
        "{actions:?}"
    );
}

async fn an_invitation_for_someone_with_an_account_is_accepted_signed_in(test: &TestStore) {
    let app = App::on(test);
    let owner = cookies(&sign_up(&app, "owner@example.com").await);
    let other = cookies(&sign_up(&app, "other@example.com").await);
    let stranger = cookies(&sign_up(&app, "stranger@example.com").await);
    invite(&app, &owner, "other@example.com", "admin").await;
    let token = link_token(&app, "other@example.com");

    let anonymous = send(
        &app,
        "POST",
        "/api/v1/invites/accept",
        Some(json!({"token": token, "name": "X", "password": PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "an existing account signs in first: {}",
        anonymous.body
    );
    let wrong_person = send(
        &app,
        "POST",
        "/api/v1/invites/accept",
        Some(json!({"token": token})),
        &refs(&stranger),
    )
    .await;
    assert_eq!(wrong_person.status, StatusCode::FORBIDDEN);
    let accepted = send(
        &app,
        "POST",
        "/api/v1/invites/accept",
        Some(json!({"token": token})),
        &refs(&other),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["role"], "admin");
    let me = send(&app, "GET", "/api/v1/me", None, &refs(&cookies(&accepted))).await;
    assert_eq!(
        me.body["organizations"].as_array().unwrap().len(),
        2,
        "their own organization and the one they joined"
    );

    let twice = invite(&app, &owner, "other@example.com", "member").await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "already a member");
}

async fn invitations_never_make_owners_or_outrank_the_inviter(test: &TestStore) {
    let app = App::on(test);
    let (owner, admin, _) = owner_and(&app, "admin").await;
    let owner_invite = invite(&app, &owner, "x@example.com", "owner").await;
    assert_eq!(owner_invite.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(owner_invite.body["error"]["details"][0]["path"], "$.role");
    let bad_email = invite(&app, &owner, "not-an-email", "member").await;
    assert_eq!(bad_email.body["error"]["details"][0]["path"], "$.email");
    assert_eq!(
        invite(&app, &admin, "y@example.com", "admin").await.status,
        StatusCode::CREATED,
        "an Admin may invite up to Admin"
    );
    let withdrawn_id = invite(&app, &owner, "z@example.com", "viewer").await.body["invite"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = link_token(&app, "z@example.com");
    let withdrawn = send(
        &app,
        "DELETE",
        &format!("/api/v1/invites/{withdrawn_id}"),
        None,
        &refs(&admin),
    )
    .await;
    assert_eq!(withdrawn.status, StatusCode::NO_CONTENT);
    let late = send(
        &app,
        "POST",
        "/api/v1/invites/accept",
        Some(json!({"token": token, "name": "Z", "password": PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(
        late.status,
        StatusCode::FORBIDDEN,
        "a withdrawn link is dead"
    );
}

async fn roles_change_and_members_leave_within_the_rules(test: &TestStore) {
    let app = App::on(test);
    let (owner, member, member_id) = owner_and(&app, "member").await;
    let owner_id = send(&app, "GET", "/api/v1/me", None, &refs(&owner))
        .await
        .body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch = |who: &[String], id: &str, role: &str| {
        let who = who.to_vec();
        let id = id.to_owned();
        let role = role.to_owned();
        let app = &app;
        async move {
            send(
                app,
                "PATCH",
                &format!("/api/v1/members/{id}"),
                Some(json!({"role": role})),
                &refs(&who),
            )
            .await
        }
    };
    assert_eq!(
        patch(&member, &member_id, "admin").await.status,
        StatusCode::FORBIDDEN,
        "a Member cannot promote themselves"
    );
    assert_eq!(
        patch(&owner, &owner_id, "admin").await.status,
        StatusCode::CONFLICT,
        "the Owner's role changes only by a transfer"
    );
    let to_owner = patch(&owner, &member_id, "owner").await;
    assert_eq!(to_owner.status, StatusCode::UNPROCESSABLE_ENTITY);
    let typo = send(
        &app,
        "PATCH",
        &format!("/api/v1/members/{member_id}"),
        Some(json!({"role": "boss"})),
        &refs(&owner),
    )
    .await;
    assert_eq!(typo.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(typo.body["error"]["details"][0]["path"], "$.role");
    let promoted = patch(&owner, &member_id, "viewer").await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    let me = send(&app, "GET", "/api/v1/me", None, &refs(&member)).await;
    assert_eq!(
        me.body["active_organization"]["role"], "viewer",
        "a role change applies at once, even to a session already open"
    );
    assert_eq!(
        patch(&owner, &uuid::Uuid::now_v7().to_string(), "viewer")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let remove_owner = send(
        &app,
        "DELETE",
        &format!("/api/v1/members/{owner_id}"),
        None,
        &refs(&owner),
    )
    .await;
    assert_eq!(remove_owner.status, StatusCode::CONFLICT);
    let left = send(
        &app,
        "DELETE",
        &format!("/api/v1/members/{member_id}"),
        None,
        &refs(&member),
    )
    .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "anyone may leave");
    let after = send(&app, "GET", "/api/v1/members", None, &refs(&member)).await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "who left has no access any more"
    );
    let audit = send(&app, "GET", "/api/v1/audit", None, &refs(&owner)).await;
    let changed = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.role_changed")
        .expect("the role change is audited");
    assert_eq!(
        changed["details"],
        json!({"from": "member", "to": "viewer"})
    );
    assert_eq!(changed["target"], format!("user:{member_id}"));
}

async fn the_owner_hands_over_ownership(test: &TestStore) {
    let app = App::on(test);
    let (owner, admin, admin_id) = owner_and(&app, "admin").await;
    let by_admin = send(
        &app,
        "POST",
        "/api/v1/organization/transfer",
        Some(json!({"user_id": admin_id})),
        &refs(&admin),
    )
    .await;
    assert_eq!(by_admin.status, StatusCode::FORBIDDEN);
    let stranger = send(
        &app,
        "POST",
        "/api/v1/organization/transfer",
        Some(json!({"user_id": uuid::Uuid::now_v7()})),
        &refs(&owner),
    )
    .await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    let handed = send(
        &app,
        "POST",
        "/api/v1/organization/transfer",
        Some(json!({"user_id": admin_id})),
        &refs(&owner),
    )
    .await;
    assert_eq!(handed.status, StatusCode::OK, "{}", handed.body);
    let role = |who: Vec<String>| {
        let app = &app;
        async move {
            send(app, "GET", "/api/v1/me", None, &refs(&who)).await.body["active_organization"]
                ["role"]
                .clone()
        }
    };
    assert_eq!(role(admin.clone()).await, "owner");
    assert_eq!(role(owner.clone()).await, "admin");
}

async fn the_owner_deletes_the_organization_after_confirming_its_name(test: &TestStore) {
    let app = App::on(test);
    let (owner, admin, _) = owner_and(&app, "admin").await;
    let org_id: baton_core::OrgId = send(&app, "GET", "/api/v1/organization", None, &refs(&owner))
        .await
        .body["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let by_admin = send(
        &app,
        "DELETE",
        "/api/v1/organization",
        Some(json!({"confirm": "Acme Ltd"})),
        &refs(&admin),
    )
    .await;
    assert_eq!(by_admin.status, StatusCode::FORBIDDEN);
    let unconfirmed = send(
        &app,
        "DELETE",
        "/api/v1/organization",
        Some(json!({"confirm": "acme"})),
        &refs(&owner),
    )
    .await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unconfirmed.body["error"]["details"][0]["path"], "$.confirm");
    let deleted = send(
        &app,
        "DELETE",
        "/api/v1/organization",
        Some(json!({"confirm": "Acme Ltd"})),
        &refs(&owner),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    for session in [&owner, &admin] {
        assert_eq!(
            send(&app, "GET", "/api/v1/me", None, &refs(session))
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "nobody acts in a deleted organization"
        );
    }
    let events = test
        .store
        .audit_events(
            org_id,
            &Default::default(),
            baton_core::PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(events.items.is_empty(), "its audit log went with it");
    assert_eq!(
        test.rows_holding(&[org_id.as_uuid()]).await,
        Vec::<String>::new(),
        "no row of it remains"
    );
}

fn now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

/// The code of the app for `secret`, `steps_ahead` steps of 30 s after the time `at`.
fn code(secret: &str, at: u64, steps_ahead: u64) -> String {
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .with_account_name("test")
        .build()
        .unwrap();
    totp.generate(at + 30 * steps_ahead).to_string()
}

async fn login(app: &App, email: &str, totp: Option<&str>) -> Reply {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(code) = totp {
        body["totp_code"] = Value::from(code);
    }
    send(app, "POST", "/api/v1/auth/login", Some(body), &[]).await
}

/// The id of the person signed in with `session`.
async fn sign_in_user(app: &App, session: &[String]) -> baton_core::UserId {
    let me = send(app, "GET", "/api/v1/me", None, &refs(session)).await;
    me.body["user"]["id"].as_str().unwrap().parse().unwrap()
}

/// Turns two-factor sign-in on for the signed-in `session`; returns the secret and the
/// recovery codes.
async fn enrol(app: &App, session: &[String]) -> (String, Vec<String>) {
    let enrolled = send(app, "POST", "/api/v1/auth/mfa/enroll", None, &refs(session)).await;
    assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    let secret = enrolled.body["secret"].as_str().unwrap().to_owned();
    let verified = send(
        app,
        "POST",
        "/api/v1/auth/mfa/verify",
        Some(json!({"code": code(&secret, now(), 0)})),
        &refs(session),
    )
    .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let codes = verified.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

async fn two_factor_sign_in_enrols_checks_codes_once_and_turns_off(test: &TestStore) {
    let app = App::on(test);
    let session = cookies(&sign_up(&app, "ann@example.com").await);
    let enrolled = send(
        &app,
        "POST",
        "/api/v1/auth/mfa/enroll",
        None,
        &refs(&session),
    )
    .await;
    assert_eq!(enrolled.status, StatusCode::CREATED);
    let uri = enrolled.body["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Baton:ann%40example.com?"),
        "{uri}"
    );
    let png = base64_decode(enrolled.body["qr_code_png_base64"].as_str().unwrap());
    assert_eq!(
        &png[..8],
        b"\x89PNG\r\n\x1a\n",
        "the QR code is a PNG image"
    );
    let secret = enrolled.body["secret"].as_str().unwrap();
    // Every code below is made from this one moment, so that the test means the same whichever
    // 30-second step it runs in.
    let t0 = now();

    let pending = login(&app, "ann@example.com", None).await;
    assert_eq!(
        pending.status,
        StatusCode::OK,
        "until a first code confirms it, enrolment asks for nothing"
    );
    let wrong = send(
        &app,
        "POST",
        "/api/v1/auth/mfa/verify",
        Some(json!({"code": "000000"})),
        &refs(&session),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.body["error"]["details"][0]["path"], "$.code");
    let verified = send(
        &app,
        "POST",
        "/api/v1/auth/mfa/verify",
        Some(json!({"code": code(secret, t0, 0)})),
        &refs(&session),
    )
    .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let recovery: Vec<String> = verified.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    let user: baton_core::UserId = sign_in_user(&app, &session).await;
    let stored = app.state.store.totp(user).await.unwrap().unwrap().secret;
    assert!(
        stored.starts_with("sealed:m1:") && !stored.contains(secret),
        "the secret is sealed at rest: {stored}"
    );

    let no_code = login(&app, "ann@example.com", None).await;
    assert_eq!(no_code.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_code.body["error"]["code"], "totp_required");
    let used = login(&app, "ann@example.com", Some(&code(secret, t0, 0))).await;
    assert_eq!(
        used.status,
        StatusCode::UNAUTHORIZED,
        "the code that confirmed enrolment does not work again"
    );
    let next = login(&app, "ann@example.com", Some(&code(secret, t0, 1))).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    let by_recovery = login(&app, "ann@example.com", Some(&recovery[0].to_uppercase())).await;
    assert_eq!(by_recovery.status, StatusCode::OK, "{}", by_recovery.body);
    let recovery_again = login(&app, "ann@example.com", Some(&recovery[0])).await;
    assert_eq!(
        recovery_again.status,
        StatusCode::UNAUTHORIZED,
        "a recovery code works once"
    );

    let disable_stale = send(
        &app,
        "POST",
        "/api/v1/auth/mfa/disable",
        Some(json!({"code": code(secret, t0, 1)})),
        &refs(&session),
    )
    .await;
    assert_eq!(
        disable_stale.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "turning it off takes a fresh code"
    );
    let disabled = send(
        &app,
        "POST",
        "/api/v1/auth/mfa/disable",
        Some(json!({"code": recovery[1]})),
        &refs(&session),
    )
    .await;
    assert_eq!(disabled.status, StatusCode::NO_CONTENT, "{}", disabled.body);
    assert_eq!(
        login(&app, "ann@example.com", None).await.status,
        StatusCode::OK
    );

    let audit = send(&app, "GET", "/api/v1/audit", None, &refs(&session)).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"mfa.enabled") && actions.contains(&"mfa.disabled"),
        "{actions:?}"
    );
}

async fn an_owner_sets_how_long_runs_are_kept(test: &TestStore) {
    let app = App::on(test);
    let (owner, member, _) = owner_and(&app, "member").await;
    let patch = |body: serde_json::Value, who: &Vec<String>| {
        let who = who.clone();
        let app = &app;
        async move {
            send(
                app,
                "PATCH",
                "/api/v1/organization",
                Some(body),
                &refs(&who),
            )
            .await
        }
    };
    let kept = patch(json!({"retention_days": 90}), &owner).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(kept.body["organization"]["retention_days"], 90);
    let wrong = patch(json!({"retention_days": 0}), &owner).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        wrong.body["error"]["details"][0]["path"],
        "$.retention_days"
    );
    let by_member = patch(json!({"retention_days": 1}), &member).await;
    assert_eq!(by_member.status, StatusCode::FORBIDDEN);
    let back = patch(json!({"retention_days": null}), &owner).await;
    assert_eq!(
        back.body["organization"]["retention_days"],
        serde_json::Value::Null,
        "the default again"
    );
}

async fn an_organization_can_require_two_factor_sign_in(test: &TestStore) {
    let app = App::on(test);
    let (owner, member, _) = owner_and(&app, "member").await;
    let premature = send(
        &app,
        "PATCH",
        "/api/v1/organization",
        Some(json!({"require_mfa": true})),
        &refs(&owner),
    )
    .await;
    assert_eq!(
        premature.status,
        StatusCode::CONFLICT,
        "an Owner without two-factor cannot lock everyone out, themselves included"
    );
    enrol(&app, &owner).await;
    let by_member = send(
        &app,
        "PATCH",
        "/api/v1/organization",
        Some(json!({"require_mfa": true})),
        &refs(&member),
    )
    .await;
    assert_eq!(by_member.status, StatusCode::FORBIDDEN);
    let required = send(
        &app,
        "PATCH",
        "/api/v1/organization",
        Some(json!({"require_mfa": true})),
        &refs(&owner),
    )
    .await;
    assert_eq!(required.status, StatusCode::OK, "{}", required.body);
    assert_eq!(required.body["organization"]["require_mfa"], true);

    let blocked = send(&app, "GET", "/api/v1/members", None, &refs(&member)).await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN);
    assert_eq!(blocked.body["error"]["code"], "mfa_required");
    let me = send(&app, "GET", "/api/v1/me", None, &refs(&member)).await;
    assert_eq!(me.status, StatusCode::OK, "who am I still answers");
    enrol(&app, &member).await;
    let allowed = send(&app, "GET", "/api/v1/members", None, &refs(&member)).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    assert_eq!(
        send(&app, "GET", "/api/v1/members", None, &refs(&owner))
            .await
            .status,
        StatusCode::OK
    );
}

async fn a_reset_link_works_once_and_ends_every_session(test: &TestStore) {
    let app = App::on(test);
    let first = cookies(&sign_up(&app, "ann@example.com").await);
    let second = cookies(&login(&app, "ann@example.com", None).await);
    let asked = send(
        &app,
        "POST",
        "/api/v1/auth/password/forgot",
        Some(json!({"email": "ANN@example.com"})),
        &[],
    )
    .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    let mail = app.mails().pop().unwrap();
    assert!(
        mail.contains("http://baton.test/reset-password?token="),
        "{mail}"
    );
    assert!(mail.contains("30 minutes"));
    let token = link_token(&app, "ann@example.com");

    let weak = send(
        &app,
        "POST",
        "/api/v1/auth/password/reset",
        Some(json!({"token": token, "password": "password"})),
        &[],
    )
    .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.body["error"]["details"][0]["path"], "$.password");
    let reset = send(
        &app,
        "POST",
        "/api/v1/auth/password/reset",
        Some(json!({"token": token, "password": "a completely new passphrase"})),
        &[],
    )
    .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    for session in [&first, &second] {
        assert_eq!(
            send(&app, "GET", "/api/v1/me", None, &refs(session))
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "a reset ends every session"
        );
    }
    let twice = send(
        &app,
        "POST",
        "/api/v1/auth/password/reset",
        Some(json!({"token": token, "password": "yet another new passphrase"})),
        &[],
    )
    .await;
    assert_eq!(
        twice.status,
        StatusCode::FORBIDDEN,
        "a used link does not work twice"
    );
    assert_eq!(
        login(&app, "ann@example.com", None).await.status,
        StatusCode::UNAUTHORIZED,
        "the old password is gone"
    );
    let new = send(
        &app,
        "POST",
        "/api/v1/auth/login",
        Some(json!({"email": "ann@example.com", "password": "a completely new passphrase"})),
        &[],
    )
    .await;
    assert_eq!(new.status, StatusCode::OK);
}

async fn asking_for_a_reset_does_not_reveal_whether_the_account_exists(test: &TestStore) {
    let app = App::on(test);
    sign_up(&app, "ann@example.com").await;
    let known = send(
        &app,
        "POST",
        "/api/v1/auth/password/forgot",
        Some(json!({"email": "ann@example.com"})),
        &[],
    )
    .await;
    let unknown = send(
        &app,
        "POST",
        "/api/v1/auth/password/forgot",
        Some(json!({"email": "nobody@example.com"})),
        &[],
    )
    .await;
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    let resets = app
        .mails()
        .into_iter()
        .filter(|mail| mail.contains("reset-password"))
        .count();
    assert_eq!(resets, 1, "only the real account gets a mail");
    let made_up = send(
        &app,
        "POST",
        "/api/v1/auth/password/reset",
        Some(json!({"token": "made-up", "password": "a completely new passphrase"})),
        &[],
    )
    .await;
    assert_eq!(made_up.status, StatusCode::FORBIDDEN);
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim_start_matches("data:image/png;base64,"))
        .unwrap()
}

/// The tokens of the reset links mailed so far, oldest first.
fn reset_tokens(app: &App) -> Vec<String> {
    app.mails()
        .into_iter()
        .filter_map(|mail| {
            let start = mail.find("reset-password?token=")? + "reset-password?token=".len();
            Some(
                mail[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect(),
            )
        })
        .collect()
}

async fn a_newer_reset_link_replaces_the_older_and_proves_the_email(test: &TestStore) {
    let app = App::on(test);
    let session = cookies(&sign_up(&app, "ann@example.com").await);
    for _ in 0..2 {
        let asked = send(
            &app,
            "POST",
            "/api/v1/auth/password/forgot",
            Some(json!({"email": "ann@example.com"})),
            &[],
        )
        .await;
        assert_eq!(asked.status, StatusCode::ACCEPTED);
        // Mail files are named by time: keep them apart.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let tokens = reset_tokens(&app);
    assert_eq!(tokens.len(), 2);
    let (older, newer) = (&tokens[0], &tokens[1]);
    let stale = send(
        &app,
        "POST",
        "/api/v1/auth/password/reset",
        Some(json!({"token": older, "password": "a completely new passphrase"})),
        &[],
    )
    .await;
    assert_eq!(
        stale.status,
        StatusCode::FORBIDDEN,
        "the older link was replaced: {}",
        stale.body
    );
    let me_before = send(&app, "GET", "/api/v1/me", None, &refs(&session)).await;
    assert_eq!(me_before.body["user"]["email_verified"], false);
    let reset = send(
        &app,
        "POST",
        "/api/v1/auth/password/reset",
        Some(json!({"token": newer, "password": "a completely new passphrase"})),
        &[],
    )
    .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    let user = app
        .state
        .store
        .user_by_email("ann@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(
        user.email_verified_at.is_some(),
        "a reset link read from the mailbox proves the address"
    );
}

async fn a_resent_invitation_mails_fresh_links_and_the_old_ones_stop(test: &TestStore) {
    let app = App::on(test);
    let owner = cookies(&sign_up(&app, "owner@example.com").await);
    let invited = invite(&app, &owner, "late@example.com", "viewer").await;
    let old_id = invited.body["invite"]["id"].as_str().unwrap().to_owned();
    let old_token = link_token(&app, "late@example.com");
    let resent = send(
        &app,
        "POST",
        &format!("/api/v1/invites/{old_id}/resend"),
        None,
        &refs(&owner),
    )
    .await;
    assert_eq!(resent.status, StatusCode::CREATED, "{}", resent.body);
    assert_eq!(resent.body["invite"]["role"], "viewer", "the same role");
    let new_token = link_token(&app, "late@example.com");
    assert_ne!(new_token, old_token, "a fresh link is mailed");
    let listed = send(&app, "GET", "/api/v1/invites", None, &refs(&owner)).await;
    let open: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|invite| invite["id"].as_str().unwrap())
        .collect();
    assert_eq!(open.len(), 1, "one invitation stays open: {open:?}");
    assert_ne!(open[0], old_id);
    let accept = |token: String| {
        let app = &app;
        async move {
            send(
                app,
                "POST",
                "/api/v1/invites/accept",
                Some(json!({"token": token, "name": "Late Person", "password": PASSWORD})),
                &[],
            )
            .await
        }
    };
    assert_ne!(
        accept(old_token).await.status,
        StatusCode::OK,
        "the old link stopped working"
    );
    let joined = accept(new_token).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert_eq!(joined.body["role"], "viewer");
    let missing = send(
        &app,
        "POST",
        &format!("/api/v1/invites/{old_id}/resend"),
        None,
        &refs(&owner),
    )
    .await;
    assert_eq!(
        missing.status,
        StatusCode::NOT_FOUND,
        "a used or withdrawn invitation is not resent"
    );
}
