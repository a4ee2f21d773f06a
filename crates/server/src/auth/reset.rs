//! Password reset by emailed link: `forgot` mails a link that works once for 30 minutes (and
//! answers the same whether or not the email has an account); `reset` sets the new password and
//! ends every session of the account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{password, session};
use crate::AppState;
use crate::audit::{self, Event};
use crate::error::ApiError;
use crate::mail::Mail;
use crate::request::{Client, JsonBody};

pub const RESET_LIFETIME: Duration = Duration::minutes(30);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/password/forgot", post(forgot))
        .route("/api/v1/auth/password/reset", post(reset))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Forgot {
    email: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reset {
    token: String,
    password: String,
}

/// The one answer, account or not.
const SENT: &str = "if an account has this email, a link to choose a new password is on its way";

async fn forgot(
    State(state): State<AppState>,
    client: Client,
    JsonBody(body): JsonBody<Forgot>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    crate::rate_limit::per_address(&state, &client, "reset").await?;
    let answer = (StatusCode::ACCEPTED, Json(json!({"message": SENT})));
    let Some(user) = state.store.user_by_email(&body.email).await? else {
        return Ok(answer);
    };
    let (token, token_hash) = session::new_token();
    state
        .store
        .create_password_reset(user.id, &token_hash, Utc::now() + RESET_LIFETIME)
        .await?;
    let link = format!("{}/reset-password?token={token}", state.config.public_url);
    let mail = Mail {
        to: user.email.clone(),
        subject: "Choose a new Baton password".into(),
        body: format!(
            "Someone asked to reset the password of your Baton account.\n\nChoose a new one within 30 minutes: {link}\n\nThe link works once. If you did not ask, ignore this mail: your password stays as it is.\n"
        ),
    };
    if let Err(error) = state.config.mailer.send(mail).await {
        tracing::error!(%error, "the password reset mail could not be sent");
    }
    audit::record(
        &state,
        &client,
        Event::new(None, Some(user.id), "auth.password_reset_requested"),
    )
    .await;
    Ok(answer)
}

async fn reset(
    State(state): State<AppState>,
    client: Client,
    JsonBody(body): JsonBody<Reset>,
) -> Result<StatusCode, ApiError> {
    crate::rate_limit::per_address(&state, &client, "reset").await?;
    let token_hash = session::hash(body.token.trim());
    // The password is checked against the email it belongs to, so the token is looked at first.
    let Some(user) = state.store.password_reset_user(&token_hash).await? else {
        return Err(invalid_link());
    };
    if let Err(problem) = password::check_new(&body.password, &user.email) {
        return Err(ApiError::invalid(
            "the new password is not accepted",
            "$.password",
            problem.to_string(),
        ));
    }
    let hash = password::hash_blocking(body.password).await?;
    let Some(user_id) = state.store.reset_password(&token_hash, &hash).await? else {
        return Err(invalid_link());
    };
    for membership in state.store.memberships_of(user_id).await? {
        audit::record(
            &state,
            &client,
            Event::new(
                Some(membership.org_id),
                Some(user_id),
                "auth.password_reset",
            ),
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

fn invalid_link() -> ApiError {
    ApiError::ForbiddenBecause(
        "this reset link is not valid: it was used, has expired, or a newer one replaced it; ask for a new one",
    )
}
