//! Connecting a service with OAuth2 (authorization code with PKCE): an Owner or Admin asks for
//! the provider's consent page (`POST /api/v1/credentials/oauth/{service}/start`), agrees
//! there, and the provider sends the browser back to `GET /api/v1/credentials/oauth/callback`,
//! which exchanges the code and stores the tokens as the credential's sealed secret. Connecting
//! again under the same name replaces the tokens (and clears "reconnect needed").
//!
//! The `state` that travels through the browser is the organization's id and, sealed with its
//! data key (AES-256-GCM: forged or altered, it does not open), who asked, for which service
//! and credential name, until when, and the PKCE verifier. No server-side session is needed,
//! so the callback may land on any node.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use baton_core::credential::NewCredential;
use baton_core::policy::Action;
use baton_core::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::audit::{self, Event};
use crate::auth::guard::Authenticated;
use crate::error::ApiError;
use crate::request::{Client, JsonBody};

/// How long the person has to agree at the provider.
const FLOW_SECONDS: i64 = 600;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/credentials/oauth/{service}/start", post(start))
        .route(baton_connectors::OAUTH_CALLBACK_PATH, get(callback))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartBody {
    /// The credential's name (steps name it in `credential`); the service's id when absent.
    /// An existing credential of that name is reconnected.
    #[serde(default)]
    name: Option<String>,
}

/// What the sealed state carries.
#[derive(Serialize, Deserialize)]
struct Flow {
    user: Option<UserId>,
    service: String,
    name: String,
    /// Unix seconds.
    expires_at: i64,
    verifier: String,
}

async fn start(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(service): Path<String>,
    JsonBody(body): JsonBody<StartBody>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ManageIntegrations)?;
    let name = body.name.as_deref().unwrap_or(&service).trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid(
            "the credential is invalid",
            "$.name",
            "must have 1 to 100 characters",
        ));
    }
    let expires_at = chrono::Utc::now().timestamp() + FLOW_SECONDS;
    let flow = Flow {
        user: signed_in.user(),
        service: service.clone(),
        name,
        expires_at,
        verifier: baton_connectors::oauth::new_verifier(),
    };
    let sealed = state
        .runtime
        .vault
        .seal_text(
            signed_in.org,
            &serde_json::to_string(&flow).map_err(|error| ApiError::Internal(error.to_string()))?,
        )
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let consent_url = state
        .runtime
        .connectors
        .authorization(
            &service,
            &format!("{}.{sealed}", signed_in.org),
            &flow.verifier,
        )
        .map_err(|problem| {
            ApiError::invalid("the service cannot be connected", "$.service", problem)
        })?;
    Ok(Json(json!({
        "authorize_url": consent_url,
        "expires_at": chrono::DateTime::from_timestamp(expires_at, 0),
    })))
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// A small page for the browser tab the provider sent back.
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>",
        title = escape(title),
        text = escape(text),
    );
    (status, Html(html)).into_response()
}

fn refused(text: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "The service was not connected",
        text,
    )
}

async fn callback(
    State(state): State<AppState>,
    client: Client,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some((org, sealed)) = query.state.as_deref().and_then(|text| text.split_once('.')) else {
        return refused("The link has no valid state. Start connecting again from Baton.");
    };
    let Ok(org) = org.parse::<OrgId>() else {
        return refused("The link has no valid state. Start connecting again from Baton.");
    };
    let flow: Flow = match state.runtime.vault.open_text(org, sealed).await {
        Ok(text) if sealed.starts_with("sealed:") => match serde_json::from_str(&text) {
            Ok(flow) => flow,
            Err(_) => return refused("The link's state is not Baton's. Start connecting again."),
        },
        _ => return refused("The link's state is not Baton's. Start connecting again."),
    };
    if flow.expires_at < chrono::Utc::now().timestamp() {
        return refused("The link expired (it lasts ten minutes). Start connecting again.");
    }
    if let Some(error) = &query.error {
        let reason = query.error_description.as_deref().unwrap_or(error);
        return refused(&format!("{} answered: {reason}.", flow.service));
    }
    let Some(code) = &query.code else {
        return refused("The provider sent no authorization code.");
    };
    let secret = match state
        .runtime
        .connectors
        .authorize(&flow.service, code, &flow.verifier)
        .await
    {
        Ok(secret) => secret,
        Err(error) => return refused(&error.message),
    };
    match store_tokens(&state, org, &flow, &secret.0).await {
        Ok((id, replaced)) => {
            audit::record(
                &state,
                &client,
                Event::new(Some(org), flow.user, "credential.connected")
                    .target(format!("credential:{id}"))
                    .details(json!({"service": flow.service, "name": flow.name, "reconnected": replaced})),
            )
            .await;
            page(
                StatusCode::OK,
                &format!("{} is connected", flow.service),
                &format!(
                    "Baton stored the credential \"{}\". You can close this tab.",
                    flow.name
                ),
            )
        }
        Err(error) => {
            tracing::error!(%error, "storing an OAuth credential failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The service was not connected",
                "Baton could not store the credential; try again.",
            )
        }
    }
}

/// Stores the tokens under the flow's name: a new credential, or the existing one's secret
/// replaced. Whether one was replaced.
async fn store_tokens(
    state: &AppState,
    org: OrgId,
    flow: &Flow,
    secret: &Value,
) -> Result<(baton_core::CredentialId, bool), String> {
    let bytes = serde_json::to_vec(secret).map_err(|error| error.to_string())?;
    let sealed = state
        .runtime
        .vault
        .seal(org, &bytes)
        .await
        .map_err(|error| error.to_string())?;
    let existing = state
        .store
        .service_credentials(org, &flow.service)
        .await
        .map_err(|error| error.to_string())?
        .into_iter()
        .find(|credential| credential.name == flow.name);
    if let Some(existing) = existing {
        state
            .store
            .update_secret(org, existing.id, sealed)
            .await
            .map_err(|error| error.to_string())?;
        return Ok((existing.id, true));
    }
    let created = state
        .store
        .create_credential(NewCredential {
            org_id: org,
            service: flow.service.clone(),
            name: flow.name.clone(),
            secret: sealed,
            created_by: flow.user,
        })
        .await
        .map_err(|error| error.to_string())?;
    Ok((created.id, false))
}
