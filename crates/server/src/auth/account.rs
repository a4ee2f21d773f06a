//! `PATCH /api/v1/me` and `POST /api/v1/me/password`: a person changes their own name and
//! password. A new password ends every session (a stolen one does not outlive the change) and
//! starts a fresh one for the browser that made the change.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::guard::{Actor, SignedIn};
use super::{password, session};
use crate::AppState;
use crate::audit::{self, Event};
use crate::error::ApiError;
use crate::request::{Client, JsonBody};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", patch(rename).delete(crate::export::delete_me))
        .route("/api/v1/me/password", post(change_password))
}

/// A name as people give it: 1 to 100 characters once trimmed.
pub(crate) fn name_problem(name: &str) -> Option<&'static str> {
    let length = name.trim().chars().count();
    (length == 0 || length > 100).then_some("must have 1 to 100 characters")
}

pub(crate) fn person(
    signed_in: &crate::auth::guard::Authenticated,
) -> Result<baton_core::UserId, ApiError> {
    match signed_in.actor {
        Actor::User { id, .. } => Ok(id),
        Actor::ApiKey { .. } => Err(ApiError::ForbiddenBecause(
            "an API key has no account of its own; sign in as the person",
        )),
    }
}

/// What a person may change of their own account: their name, and how soon Baton tells them
/// that a workflow of theirs failed or waits for an approval.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rename {
    name: Option<String>,
    /// `immediately`, `hourly` (one digest an hour) or `never`.
    notify: Option<baton_core::dsl::NotifyWhen>,
}

async fn rename(
    State(state): State<AppState>,
    SignedIn(signed_in): SignedIn,
    JsonBody(body): JsonBody<Rename>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let user = person(&signed_in)?;
    if body.name.is_none() && body.notify.is_none() {
        return Err(ApiError::invalid(
            "nothing to change",
            "$",
            "give `name`, `notify` or both",
        ));
    }
    if let Some(name) = &body.name
        && let Some(problem) = name_problem(name)
    {
        return Err(ApiError::invalid(
            "the name is not accepted",
            "$.name",
            problem,
        ));
    }
    if let Some(notify) = body.notify {
        state.store.set_user_notify(user, notify.as_str()).await?;
    }
    let user = match &body.name {
        Some(name) => state.store.rename_user(user, name.trim()).await?,
        None => state
            .store
            .user(user)
            .await?
            .ok_or(ApiError::Unauthorized)?,
    };
    let notify = state.store.user_notify(user.id).await?;
    Ok(Json(
        json!({"user": {"id": user.id, "email": user.email, "name": user.name, "notify": notify}}),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    SignedIn(signed_in): SignedIn,
    client: Client,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<impl IntoResponse, ApiError> {
    let id = person(&signed_in)?;
    // Guessing the current password from a borrowed session is held to the sign-in limit.
    crate::rate_limit::per_address(&state, &client, "password").await?;
    let user = state.store.user(id).await?.ok_or(ApiError::Unauthorized)?;
    let Some(stored) = user.password_hash.clone() else {
        return Err(ApiError::Conflict(
            "this account signs in with Google and has no password; use \"Forgot your password?\" to set one".into(),
        ));
    };
    let candidate = body.current_password;
    let right = tokio::task::spawn_blocking(move || password::verify(&candidate, &stored))
        .await
        .unwrap_or(false);
    if !right {
        return Err(ApiError::invalid(
            "the password was not changed",
            "$.current_password",
            "is not your current password",
        ));
    }
    if let Err(problem) = password::check_new(&body.new_password, &user.email) {
        return Err(ApiError::invalid(
            "the new password is not accepted",
            "$.new_password",
            problem.to_string(),
        ));
    }
    let hash = password::hash_blocking(body.new_password).await?;
    state.store.change_password(id, &hash).await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "auth.password_changed").target(format!("user:{id}")),
    )
    .await;
    let issued = session::start(&state, id, signed_in.org).await?;
    Ok((axum::http::StatusCode::NO_CONTENT, issued.cookies))
}
