//! `GET /api/v1/connectors`: the services Baton can call, as each declares itself (id, name,
//! category, how it authenticates, and its actions with their input schemas and an example),
//! so that the editor can draw forms and people can see what a credential is for.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use baton_core::policy::Action;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::guard::Authenticated;
use crate::error::ApiError;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/connectors", get(list))
}

async fn list(
    State(state): State<AppState>,
    signed_in: Authenticated,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    Ok(Json(json!({"items": state.runtime.connectors.catalog()})))
}
