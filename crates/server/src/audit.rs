//! `GET /api/v1/audit`: the organization's audit log, newest first, for Owners and Admins.
//! Nothing in the API changes or removes an event.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use baton_core::audit::AuditFilter;
use baton_core::policy::{Action, allows};
use baton_core::{Cursor, PageRequest, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::guard::Authenticated;
use crate::error::{ApiError, Detail};

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
    if !allows(signed_in.role, signed_in.user(), Action::ViewAuditLog) {
        return Err(ApiError::Forbidden);
    }
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest {
        message: "invalid query".into(),
        details: vec![Detail {
            path: "query".into(),
            message: rejection.body_text(),
        }],
    })?;
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
    let limit = query.limit.unwrap_or(50);
    let page = match query.cursor {
        Some(cursor) => PageRequest::after(limit, Cursor::new(cursor)),
        None => PageRequest::first(limit),
    };
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
