//! Proving an email address by a mailed link. Sign-up mails a link (`PUBLIC_URL/verify-email
//! ?token=`, 24 hours, works once, a newer one replaces it); following it marks the address
//! verified. An unverified account can sign in, but a sign-in provider is never linked to it,
//! and a later person who proves the address (with the provider, or a password reset link) is
//! not kept out by it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use baton_core::organization::User;
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::{Actor, SignedIn};
use super::session;
use crate::AppState;
use crate::audit::{self, Event};
use crate::error::ApiError;
use crate::mail::Mail;
use crate::request::{Client, JsonBody};

pub const VERIFICATION_LIFETIME: Duration = Duration::hours(24);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/email/verify", post(verify))
        .route("/api/v1/auth/email/resend", post(resend))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Verification {
    token: String,
}

/// Mails `user` a link that proves their address. A mail that cannot be sent is logged: the
/// account works meanwhile, and the person can ask again.
pub async fn send_link(state: &AppState, user: &User) -> Result<(), ApiError> {
    let (token, token_hash) = session::new_token();
    state
        .store
        .create_email_verification(
            user.id,
            &user.email,
            &token_hash,
            Utc::now() + VERIFICATION_LIFETIME,
        )
        .await?;
    let link = format!("{}/verify-email?token={token}", state.config.public_url);
    let mail = Mail {
        to: user.email.clone(),
        subject: "Confirm your email for Baton".into(),
        body: format!(
            "Confirm that this is your address within 24 hours: {link}\n\nIf you did not make a Baton account, ignore this mail: nobody can link your address to a sign-in with Google or take it from you without it.\n"
        ),
    };
    if let Err(error) = state.config.mailer.send(mail).await {
        tracing::error!(%error, "the email confirmation mail could not be sent");
    }
    Ok(())
}

async fn verify(
    State(state): State<AppState>,
    client: Client,
    JsonBody(body): JsonBody<Verification>,
) -> Result<Json<Value>, ApiError> {
    crate::rate_limit::per_address(&state, &client, "verify").await?;
    let Some(user) = state
        .store
        .verify_email(&session::hash(body.token.trim()))
        .await?
    else {
        return Err(ApiError::ForbiddenBecause(
            "this confirmation link is not valid: it was used, has expired, or a newer one replaced it; ask for a new one",
        ));
    };
    let verified = state
        .store
        .user(user)
        .await?
        .is_some_and(|user| user.email_verified_at.is_some());
    audit::record(
        &state,
        &client,
        Event::new(None, Some(user), "auth.email_verified"),
    )
    .await;
    Ok(Json(json!({"email_verified": verified})))
}

/// Mails the signed-in person a new link.
async fn resend(
    State(state): State<AppState>,
    client: Client,
    SignedIn(signed_in): SignedIn,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    crate::rate_limit::per_address(&state, &client, "verify").await?;
    let Actor::User { id, .. } = signed_in.actor else {
        return Err(ApiError::ForbiddenBecause(
            "an API key has no email to confirm",
        ));
    };
    let user = state.store.user(id).await?.ok_or(ApiError::Unauthorized)?;
    if user.email_verified_at.is_some() {
        return Ok((StatusCode::OK, Json(json!({"email_verified": true}))));
    }
    send_link(&state, &user).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"email_verified": false, "message": format!("a confirmation link is on its way to {}", user.email)}),
        ),
    ))
}
