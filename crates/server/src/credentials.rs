//! `/api/v1/credentials`: the organization's secrets for the services its workflows call, such
//! as `{"bearer": "..."}` for `http` or `{"api_key": "..."}` for a provider. A secret is sealed
//! (see `baton_store::vault`) before it reaches the store and is never shown again: the API
//! answers with the credential's service and name only. Owners and Admins make, replace and
//! remove credentials; every member may list them, to name one in a workflow's `credential`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use baton_core::credential::{Credential, NewCredential};
use baton_core::policy::Action;
use baton_core::{CredentialId, PageRequest};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::audit::{self, Event};
use crate::auth::guard::Authenticated;
use crate::error::{ApiError, Detail};
use crate::request::{Client, JsonBody};

/// The most a secret may weigh, as JSON.
const MAX_SECRET_BYTES: usize = 64 * 1024;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/credentials", get(list).post(create))
        .route(
            "/api/v1/credentials/{id}",
            get(show).patch(rename).delete(remove),
        )
        .route("/api/v1/credentials/{id}/secret", put(replace_secret))
        .route("/api/v1/credentials/{id}/test", post(test))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCredentialBody {
    /// The connector's service id, e.g. `http`, `openai`, `gmail`.
    service: String,
    /// Unique per service in the organization; steps name it in `credential`.
    name: String,
    /// The secret itself, a JSON object (e.g. `{"bearer": "..."}`); never shown again.
    secret: Map<String, Value>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretBody {
    /// The new secret, a JSON object; never shown again.
    secret: Map<String, Value>,
}

fn invalid(path: &str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        message: "the credential is invalid".into(),
        details: vec![Detail {
            path: path.into(),
            message: message.into(),
        }],
    }
}

/// The secret as it is sealed: its JSON text, after the checks (the service's own among them:
/// an `http` credential names the hosts it may go to).
fn secret_bytes(
    state: &AppState,
    service: &str,
    secret: &Map<String, Value>,
) -> Result<Vec<u8>, ApiError> {
    if secret.is_empty() {
        return Err(invalid("$.secret", "must hold at least one field"));
    }
    if let Some((path, message)) = state
        .runtime
        .connectors
        .secret_problem(service, &Value::Object(secret.clone()))
    {
        return Err(invalid(&format!("$.secret{path}"), message));
    }
    let bytes =
        serde_json::to_vec(secret).map_err(|error| ApiError::Internal(error.to_string()))?;
    if bytes.len() > MAX_SECRET_BYTES {
        return Err(invalid(
            "$.secret",
            format!(
                "is {} bytes; at most {MAX_SECRET_BYTES} are allowed",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

fn shown(credential: &Credential) -> Value {
    json!({
        "id": credential.id,
        "service": credential.service,
        "name": credential.name,
        "created_by": credential.created_by,
        "created_at": credential.created_at,
        "updated_at": credential.updated_at,
        "status": if credential.reconnect_reason.is_some() { "reconnect_needed" } else { "connected" },
        "reconnect_reason": credential.reconnect_reason,
    })
}

async fn create(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    JsonBody(body): JsonBody<NewCredentialBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    signed_in.require(Action::ManageIntegrations)?;
    let service = body.service.trim();
    if service.is_empty()
        || service.len() > 64
        || !service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(invalid(
            "$.service",
            "must be a service id: 1 to 64 lower-case letters, digits, - or _",
        ));
    }
    let name = body.name.trim();
    if let Some(problem) = crate::auth::account::name_problem(name) {
        return Err(invalid("$.name", problem));
    }
    let sealed = state
        .runtime
        .vault
        .seal(signed_in.org, &secret_bytes(&state, service, &body.secret)?)
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let credential = state
        .store
        .create_credential(NewCredential {
            org_id: signed_in.org,
            service: service.to_owned(),
            name: name.to_owned(),
            secret: sealed,
            created_by: signed_in.user(),
        })
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "credential.created")
            .target(format!("credential:{}", credential.id))
            .details(json!({"service": credential.service, "name": credential.name})),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown(&credential))))
}

async fn list(
    State(state): State<AppState>,
    signed_in: Authenticated,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let page = state
        .store
        .list_credentials(signed_in.org, PageRequest::first(500))
        .await?;
    let items: Vec<Value> = page.items.iter().map(shown).collect();
    Ok(Json(
        json!({"items": items, "next_cursor": page.next_cursor}),
    ))
}

async fn find(
    state: &AppState,
    signed_in: &Authenticated,
    id: &str,
) -> Result<Credential, ApiError> {
    let id: CredentialId = id.parse().map_err(|_| ApiError::NotFound)?;
    match state.store.credential(signed_in.org, id).await? {
        Some(credential) => Ok(credential),
        None => Err(crate::audit::not_found_here(
            state,
            signed_in,
            baton_store::ObjectRef::Credential(id),
            format!("credential:{id}"),
        )
        .await),
    }
}

async fn show(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    Ok(Json(shown(&find(&state, &signed_in, &id).await?)))
}

async fn replace_secret(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SecretBody>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ManageIntegrations)?;
    let credential = find(&state, &signed_in, &id).await?;
    let sealed = state
        .runtime
        .vault
        .seal(
            signed_in.org,
            &secret_bytes(&state, &credential.service, &body.secret)?,
        )
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    state
        .store
        .update_secret(signed_in.org, credential.id, sealed)
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "credential.secret_replaced")
            .target(format!("credential:{}", credential.id)),
    )
    .await;
    Ok(Json(shown(&find(&state, &signed_in, &id).await?)))
}

/// Checks that the credential works, with the service's cheapest call: `{"ok": true,
/// "account": ...}`, or `{"ok": false, "error": ..., "reconnect_needed": ...}`.
async fn test(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ManageIntegrations)?;
    let credential = find(&state, &signed_in, &id).await?;
    let credentials = &state.runtime.credentials;
    let checked = match credentials.secret(signed_in.org, &credential).await {
        Ok(secret) => {
            state
                .runtime
                .check_credential(&credential.service, &secret)
                .await
        }
        Err(error) => Err(error),
    };
    let shown_now = shown(&find(&state, &signed_in, &id).await?);
    Ok(Json(match checked {
        Ok(account) => json!({"ok": true, "account": account, "credential": shown_now}),
        Err(error) => json!({
            "ok": false,
            "error": error.message,
            "reconnect_needed": error.auth.is_some(),
            "credential": shown_now,
        }),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenameBody {
    /// The new name, 1 to 100 characters; workflows naming the old one must be changed too.
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RenameBody>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ManageIntegrations)?;
    let credential = find(&state, &signed_in, &id).await?;
    let name = body.name.trim();
    if let Some(problem) = crate::auth::account::name_problem(name) {
        return Err(invalid("$.name", problem));
    }
    let renamed = state
        .store
        .rename_credential(signed_in.org, credential.id, name)
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "credential.renamed")
            .target(format!("credential:{}", credential.id))
            .details(
                json!({"service": credential.service, "from": credential.name, "to": renamed.name}),
            ),
    )
    .await;
    Ok(Json(shown(&renamed)))
}

async fn remove(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    signed_in.require(Action::ManageIntegrations)?;
    let credential = find(&state, &signed_in, &id).await?;
    state
        .store
        .delete_credential(signed_in.org, credential.id)
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "credential.deleted")
            .target(format!("credential:{}", credential.id))
            .details(json!({"service": credential.service, "name": credential.name})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
