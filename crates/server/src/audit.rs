//! `GET /api/v1/audit`: the organization's audit log, newest first, for Owners and Admins.
//! Nothing in the API changes or removes an event.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use baton_core::audit::{AuditFilter, NewAuditEvent};
use baton_core::policy::Action;
use baton_core::{OrgId, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::guard::Authenticated;
use crate::error::{ApiError, Detail};
use crate::request::Client;

/// One sensitive action, for [`record`].
pub(crate) struct Event<'a> {
    pub org: Option<OrgId>,
    pub actor: Option<UserId>,
    pub action: &'a str,
    /// What it was done to: `user:ID`, `api_key:ID`, `invite:ID`, ...
    pub target: Option<String>,
    pub details: Value,
}

impl<'a> Event<'a> {
    pub fn new(org: Option<OrgId>, actor: Option<UserId>, action: &'a str) -> Self {
        Self {
            org,
            actor,
            action,
            target: None,
            details: json!({}),
        }
    }

    /// What `signed_in` did in its organization.
    pub fn by(signed_in: &Authenticated, action: &'a str) -> Self {
        Self::new(Some(signed_in.org), signed_in.user(), action)
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// Appends an event with the client's address and user agent. A failure to record is logged,
/// not shown to the person acting: the action itself has happened.
pub(crate) async fn record(state: &AppState, client: &Client, event: Event<'_>) {
    let action = event.action;
    let event = NewAuditEvent {
        org_id: event.org,
        actor: event.actor,
        action: action.to_owned(),
        target: event.target,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        details: event.details,
    };
    if let Err(error) = state.store.record(event).await {
        tracing::error!(%error, action, "the audit event could not be recorded");
    }
}

/// An object of another organization asked for by id: the caller gets the 404 any missing
/// object gets, and both organizations' logs get `access.cross_organization_denied`.
pub(crate) async fn not_found_here(
    state: &AppState,
    signed_in: &Authenticated,
    object: baton_store::ObjectRef,
    target: String,
) -> crate::error::ApiError {
    if let Ok(Some(owner)) = state.store.owner_of(object).await
        && owner != signed_in.org
    {
        let client = Client {
            ip: signed_in.ip.map(|ip| ip.to_string()),
            user_agent: None,
        };
        cross_organization_denied(
            state,
            &client,
            signed_in.user(),
            signed_in.org,
            owner,
            target,
        )
        .await;
    }
    crate::error::ApiError::NotFound
}

/// Records in both organizations that someone acting in `from` asked for `target` of `owner`.
pub(crate) async fn cross_organization_denied(
    state: &AppState,
    client: &Client,
    actor: Option<UserId>,
    from: OrgId,
    owner: OrgId,
    target: String,
) {
    for org in [from, owner] {
        record(
            state,
            client,
            Event::new(Some(org), actor, "access.cross_organization_denied")
                .target(target.clone())
                .details(json!({"from_organization": from, "organization": owner})),
        )
        .await;
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/audit", get(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    action: Option<String>,
    actor: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    signed_in: Authenticated,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewAuditLog)?;
    let query = crate::request::query(query)?;
    let actor = match &query.actor {
        Some(actor) => Some(actor.parse::<UserId>().map_err(|_| ApiError::BadRequest {
            message: "invalid filter".into(),
            details: vec![Detail {
                path: "actor".into(),
                message: format!("{actor:?} is not a user id"),
            }],
        })?),
        None => None,
    };
    let page = crate::request::page(query.cursor, query.limit);
    let filter = AuditFilter {
        action: query.action,
        actor,
    };
    let events = state
        .store
        .audit_events(signed_in.org, &filter, page)
        .await?;
    Ok(Json(
        json!({"items": events.items, "next_cursor": events.next_cursor}),
    ))
}
