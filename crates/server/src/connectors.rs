//! `GET /api/v1/connectors`: the services Baton can call, as each declares itself (id, name,
//! category, how it authenticates, and its actions with their input schemas and an example),
//! so that the editor can draw forms and people can see what a credential is for; and
//! `GET /api/v1/connectors/{service}/quota`, how much of the service's declared rate limit the
//! organization has used in the current window.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use baton_core::policy::Action;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::guard::Authenticated;
use crate::error::ApiError;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/connectors", get(list))
        .route("/api/v1/connectors/{service}/quota", get(quota))
}

async fn quota(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(service): Path<String>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let known = state
        .runtime
        .connectors
        .catalog()
        .iter()
        .any(|declared| declared["id"] == service.as_str());
    if !known {
        return Err(ApiError::NotFound);
    }
    let quota = state.runtime.engine.quota(signed_in.org, &service).await;
    Ok(Json(json!({"service": service, "quota": quota})))
}

async fn list(
    State(state): State<AppState>,
    signed_in: Authenticated,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    Ok(Json(json!({"items": state.runtime.connectors.catalog()})))
}
