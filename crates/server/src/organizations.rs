//! `/api/v1/organizations` and `/api/v1/auth/switch`: a person may belong to several
//! organizations, make new ones, and choose which one they act in.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use baton_core::OrgId;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::guard::{Actor, Authenticated, SignedIn};
use crate::auth::session;
use crate::error::{ApiError, Detail};
use crate::request::JsonBody;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/organizations", post(create))
        .route("/api/v1/auth/switch", post(switch))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewOrganization {
    name: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Switch {
    organization_id: OrgId,
}

/// A person (not an API key) acting.
fn person(signed_in: &Authenticated) -> Result<baton_core::UserId, ApiError> {
    match signed_in.actor {
        Actor::User { id, .. } => Ok(id),
        Actor::ApiKey { .. } => Err(ApiError::Forbidden),
    }
}

async fn create(
    State(state): State<AppState>,
    signed_in: Authenticated,
    JsonBody(body): JsonBody<NewOrganization>,
) -> Result<impl IntoResponse, ApiError> {
    let user = person(&signed_in)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::Invalid {
            message: "the organization is invalid".into(),
            details: vec![Detail {
                path: "$.name".into(),
                message: "must have 1 to 100 characters".into(),
            }],
        });
    }
    let organization = state.store.create_organization(name, user).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": organization.id, "name": organization.name, "role": "owner"})),
    ))
}

/// Starts a session acting in another of the person's organizations; an organization they do
/// not belong to answers 404, as if it did not exist.
async fn switch(
    State(state): State<AppState>,
    client: crate::request::Client,
    SignedIn(signed_in): SignedIn,
    JsonBody(body): JsonBody<Switch>,
) -> Result<impl IntoResponse, ApiError> {
    let user = person(&signed_in)?;
    let Some(membership) = state.store.membership(body.organization_id, user).await? else {
        if state
            .store
            .organization(body.organization_id)
            .await?
            .is_some()
        {
            crate::audit::cross_organization_denied(
                &state,
                &client,
                Some(user),
                signed_in.org,
                body.organization_id,
                format!("organization:{}", body.organization_id),
            )
            .await;
        }
        return Err(ApiError::NotFound);
    };
    if let Actor::User {
        session: family, ..
    } = signed_in.actor
    {
        state.store.revoke_family(family).await?;
    }
    let issued = session::start(&state, user, membership.org_id).await?;
    Ok((
        issued.cookies,
        Json(json!({"organization_id": membership.org_id, "role": membership.role})),
    ))
}
