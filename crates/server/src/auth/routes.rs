//! `/api/v1/auth/*` and `/api/v1/me`: sign up, sign in, refresh, sign out, and who am I.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use baton_core::organization::NewUser;
use baton_core::{OrgId, UserId};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::{Actor, Authenticated, SignedIn};
use super::session::{self, cookie};
use super::{mfa, password};
use crate::AppState;
use crate::error::{ApiError, Detail};
use crate::request::{Client, JsonBody, email_problem};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/signup", post(signup))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", get(me))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Signup {
    email: String,
    password: String,
    name: String,
    organization_name: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    email: String,
    password: String,
    /// A code of the authenticator app, or a recovery code, for those who turned it on.
    #[serde(default)]
    totp_code: Option<String>,
}

/// The one answer to every failed sign-in: it does not tell whether the email exists.
const WRONG_CREDENTIALS: &str = "the email or the password is not right";

fn invalid(path: &str, message: impl Into<String>) -> Detail {
    Detail {
        path: path.to_owned(),
        message: message.into(),
    }
}

async fn signup(
    State(state): State<AppState>,
    client: Client,
    JsonBody(body): JsonBody<Signup>,
) -> Result<impl IntoResponse, ApiError> {
    crate::rate_limit::per_address(&state, &client, "signup").await?;
    let email = body.email.trim().to_lowercase();
    let mut details = Vec::new();
    if let Some(problem) = email_problem(&email) {
        details.push(invalid("$.email", problem));
    }
    if let Err(problem) = password::check_new(&body.password, &email) {
        details.push(invalid("$.password", problem.to_string()));
    }
    for (path, value) in [
        ("$.name", &body.name),
        ("$.organization_name", &body.organization_name),
    ] {
        if let Some(problem) = super::account::name_problem(value) {
            details.push(invalid(path, problem));
        }
    }
    if !details.is_empty() {
        return Err(ApiError::Invalid {
            message: "the sign-up is invalid".into(),
            details,
        });
    }
    let hash = password::hash_blocking(body.password).await?;
    let user = state
        .store
        .create_user(NewUser {
            email,
            name: body.name.trim().to_owned(),
            password_hash: Some(hash),
        })
        .await
        .map_err(|error| match error {
            baton_store::StoreError::Conflict(_) => ApiError::Conflict(
                "an account with this email already exists; sign in instead".into(),
            ),
            other => other.into(),
        })?;
    let organization = state
        .store
        .create_organization(body.organization_name.trim(), user.id)
        .await?;
    audit(
        &state,
        Some(organization.id),
        Some(user.id),
        "auth.signup",
        &client,
    )
    .await;
    super::verify::send_link(&state, &user).await?;
    let issued = session::start(&state, user.id, organization.id).await?;
    let body = json!({
        "user": {"id": user.id, "email": user.email, "name": user.name, "email_verified": false},
        "organization": {"id": organization.id, "name": organization.name},
        "role": "owner",
    });
    Ok((StatusCode::CREATED, issued.cookies, Json(body)))
}

async fn login(
    State(state): State<AppState>,
    client: Client,
    JsonBody(body): JsonBody<Login>,
) -> Result<impl IntoResponse, ApiError> {
    crate::rate_limit::per_address(&state, &client, "login").await?;
    let account = body.email.trim().to_lowercase();
    let address = client.ip.as_deref();
    let now = std::time::Instant::now();
    if let Some(wait) = state.sign_in_failures.sign_in_wait(&account, address, now) {
        return Err(ApiError::TooManyRequests {
            retry_after_seconds: wait.as_secs().max(1),
        });
    }
    let user = state.store.user_by_email(&body.email).await?;
    let candidate = body.password;
    let verified = match user.as_ref().and_then(|user| user.password_hash.clone()) {
        Some(phc) => tokio::task::spawn_blocking(move || password::verify(&candidate, &phc))
            .await
            .unwrap_or(false),
        None => {
            tokio::task::spawn_blocking(move || password::verify_nothing(&candidate))
                .await
                .ok();
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        state
            .sign_in_failures
            .sign_in_failed(&account, address, std::time::Instant::now());
        audit(&state, None, None, "auth.login_failed", &client).await;
        return Err(ApiError::Unauthorized.with_message(WRONG_CREDENTIALS));
    };
    if mfa::is_enabled(&state, user.id).await? {
        let Some(code) = body
            .totp_code
            .as_deref()
            .filter(|code| !code.trim().is_empty())
        else {
            return Err(ApiError::TotpRequired);
        };
        let Some(factor) = mfa::check(&state, user.id, &user.email, code).await? else {
            state
                .sign_in_failures
                .sign_in_failed(&account, address, std::time::Instant::now());
            crate::audit::record(
                &state,
                &client,
                crate::audit::Event::new(None, Some(user.id), "auth.login_failed")
                    .details(json!({"reason": "two-factor code"})),
            )
            .await;
            return Err(ApiError::UnauthorizedBecause(
                "the two-factor code is not right, or was already used",
            ));
        };
        if factor == mfa::Factor::RecoveryCode {
            crate::audit::record(
                &state,
                &client,
                crate::audit::Event::new(None, Some(user.id), "mfa.recovery_code_used"),
            )
            .await;
        }
    }
    state
        .sign_in_failures
        .sign_in_succeeded(&account, address, std::time::Instant::now());
    let Some(membership) = state
        .store
        .memberships_of(user.id)
        .await?
        .into_iter()
        .next()
    else {
        return Err(ApiError::Forbidden);
    };
    audit(
        &state,
        Some(membership.org_id),
        Some(user.id),
        "auth.login",
        &client,
    )
    .await;
    let issued = session::start(&state, user.id, membership.org_id).await?;
    Ok((
        issued.cookies,
        Json(
            json!({"user": {"id": user.id, "email": user.email, "name": user.name}, "organization_id": membership.org_id, "role": membership.role}),
        ),
    ))
}

async fn refresh(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let token = cookie(&headers, session::refresh_cookie(&state)).ok_or(ApiError::Unauthorized)?;
    let found = state
        .store
        .session_by_token_hash(&session::hash(token))
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if found.used_at.is_some() && found.revoked_at.is_none() {
        // A token used twice was copied: end every session descended from it.
        state.store.revoke_family(found.family_id).await?;
        audit(
            &state,
            Some(found.org_id),
            Some(found.user_id),
            "auth.refresh_reused",
            &client,
        )
        .await;
        return Err(ApiError::Unauthorized);
    }
    if !found.is_live(Utc::now()) {
        return Err(ApiError::Unauthorized);
    }
    let issued = session::rotate(&state, &found).await?;
    Ok((issued.cookies, StatusCode::NO_CONTENT))
}

async fn logout(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    signed_in: Option<SignedIn>,
) -> Result<impl IntoResponse, ApiError> {
    let family = match (signed_in, cookie(&headers, session::refresh_cookie(&state))) {
        (
            Some(SignedIn(Authenticated {
                actor: Actor::User { id, session },
                org,
                ..
            })),
            _,
        ) => Some((session, org, id)),
        (_, Some(token)) => state
            .store
            .session_by_token_hash(&session::hash(token))
            .await?
            .map(|found| (found.family_id, found.org_id, found.user_id)),
        _ => None,
    };
    if let Some((family, org, user)) = family {
        state.store.revoke_family(family).await?;
        audit(&state, Some(org), Some(user), "auth.logout", &client).await;
    }
    Ok((session::cleared(&state), StatusCode::NO_CONTENT))
}

async fn me(
    State(state): State<AppState>,
    SignedIn(signed_in): SignedIn,
) -> Result<Json<Value>, ApiError> {
    let Actor::User { id, .. } = signed_in.actor else {
        return Ok(Json(
            json!({"api_key": {"organization_id": signed_in.org, "role": signed_in.role}}),
        ));
    };
    let user = state.store.user(id).await?.ok_or(ApiError::Unauthorized)?;
    let mut organizations = Vec::new();
    for membership in state.store.memberships_of(user.id).await? {
        if let Some(organization) = state.store.organization(membership.org_id).await? {
            organizations.push(
                json!({"id": organization.id, "name": organization.name, "role": membership.role}),
            );
        }
    }
    let two_factor = mfa::is_enabled(&state, user.id).await?;
    let notify = state.store.user_notify(user.id).await?;
    Ok(Json(json!({
        "user": {"id": user.id, "email": user.email, "name": user.name, "email_verified": user.email_verified_at.is_some(),
                 "two_factor": two_factor, "has_password": user.password_hash.is_some(), "notify": notify},
        "organizations": organizations,
        "active_organization": {"id": signed_in.org, "role": signed_in.role},
    })))
}

/// Records a sign-in event.
async fn audit(
    state: &AppState,
    org: Option<OrgId>,
    actor: Option<UserId>,
    action: &str,
    client: &Client,
) {
    crate::audit::record(state, client, crate::audit::Event::new(org, actor, action)).await;
}
