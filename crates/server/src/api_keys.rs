//! `/api/v1/api-keys`: keys for programs, made by Owners and Admins. A key is shown once, when
//! it is made; the store keeps its hash. A key's role is at most its maker's.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use base64::Engine;
use baton_core::api_key::NewApiKey;
use baton_core::policy::Action;
use baton_core::{ApiKeyId, PageRequest, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::audit::{self, Event};
use crate::auth::guard::{API_KEY_PREFIX, Authenticated};
use crate::auth::session::hash;
use crate::error::{ApiError, Detail};
use crate::request::{Client, JsonBody};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/api-keys", get(list).post(create))
        .route("/api/v1/api-keys/{id}", delete(revoke))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    name: String,
    role: Role,
}

async fn create(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<impl IntoResponse, ApiError> {
    signed_in.require(Action::ManageApiKeys)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::Invalid {
            message: "the key is invalid".into(),
            details: vec![Detail {
                path: "$.name".into(),
                message: "must have 1 to 100 characters".into(),
            }],
        });
    }
    if !signed_in.role.covers(body.role) {
        return Err(ApiError::Invalid {
            message: "the key is invalid".into(),
            details: vec![Detail {
                path: "$.role".into(),
                message: format!(
                    "a key cannot have more rights than its maker ({})",
                    signed_in.role
                ),
            }],
        });
    }
    let secret: [u8; 32] = rand::random();
    let key = format!(
        "{API_KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let prefix: String = key.chars().take(12).collect();
    let stored = state
        .store
        .create_api_key(NewApiKey {
            org_id: signed_in.org,
            name: name.to_owned(),
            role: body.role,
            key_hash: hash(&key),
            prefix,
            created_by: signed_in.user(),
        })
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "api_key.created")
            .target(format!("api_key:{}", stored.id))
            .details(json!({"role": stored.role})),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": key, "api_key": stored})),
    ))
}

async fn list(
    State(state): State<AppState>,
    signed_in: Authenticated,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ManageApiKeys)?;
    let page = state
        .store
        .list_api_keys(signed_in.org, PageRequest::first(500))
        .await?;
    Ok(Json(
        json!({"items": page.items, "next_cursor": page.next_cursor}),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    signed_in.require(Action::ManageApiKeys)?;
    let id: ApiKeyId = id.parse().map_err(|_| ApiError::NotFound)?;
    state.store.revoke_api_key(signed_in.org, id).await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "api_key.revoked").target(format!("api_key:{id}")),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
