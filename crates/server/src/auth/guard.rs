//! Who is asking: every handler that needs a signed-in user takes [`Authenticated`], which
//! reads the access token (cookie or `Authorization: Bearer`), checks its signature, expiry and
//! session, and the user's role in the token's organization. Cross-site requests that change
//! state with cookies are refused by [`refuse_cross_site`].

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use baton_core::{OrgId, Role, SessionId, UserId};
use chrono::Utc;

use super::session::{ACCESS_COOKIE, cookie};
use crate::AppState;
use crate::error::ApiError;

/// A signed-in user acting in one organization, with their role there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub user: UserId,
    pub org: OrgId,
    pub role: Role,
    pub session: SessionId,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let token = bearer
            .or_else(|| cookie(&parts.headers, ACCESS_COOKIE))
            .ok_or(ApiError::Unauthorized)?;
        let claims = state
            .keys
            .verify(token.trim(), Utc::now())
            .map_err(|_| ApiError::Unauthorized)?;
        if !state.store.family_is_live(claims.sid).await? {
            return Err(ApiError::Unauthorized);
        }
        let membership = state
            .store
            .membership(claims.org, claims.sub)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(Self {
            user: claims.sub,
            org: claims.org,
            role: membership.role,
            session: claims.sid,
        })
    }
}

/// `Option<Authenticated>`: `None` for a request that is not signed in.
impl axum::extract::OptionalFromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        match <Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(signed_in) => Ok(Some(signed_in)),
            Err(ApiError::Unauthorized) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

/// Refuses a state-changing request sent by another site: when it carries an `Origin` (or,
/// failing that, a `Referer`) whose host is not this server's, or carries cookies and neither.
pub async fn refuse_cross_site(
    State(_): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|value| value.to_str().ok())
        .map(|origin| {
            origin
                .split("://")
                .nth(1)
                .unwrap_or(origin)
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        });
    let has_cookies = headers.contains_key(header::COOKIE);
    let allowed = match (origin, host) {
        (Some(origin), Some(host)) => origin.eq_ignore_ascii_case(host),
        (Some(_), None) => false,
        (None, _) => !has_cookies,
    };
    if allowed {
        next.run(request).await
    } else {
        ApiError::Forbidden.into_response()
    }
}
