//! Who is asking: every handler that needs a signed-in user takes [`Authenticated`], which
//! reads the access token (cookie or `Authorization: Bearer`), checks its signature, expiry and
//! session, and the user's role in the token's organization; or an API key
//! (`Authorization: Bearer baton_...`), which carries its organization and role. Cross-site requests that change
//! state with cookies are refused by [`refuse_cross_site`].

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use baton_core::{ApiKeyId, OrgId, Role, SessionId, UserId};
use chrono::Utc;

use super::session::cookie;
use crate::AppState;
use crate::error::ApiError;

/// Who is acting: a signed-in person, or a program with an API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    User {
        id: UserId,
        session: SessionId,
    },
    ApiKey {
        id: ApiKeyId,
        created_by: Option<UserId>,
    },
}

/// Someone acting in one organization, with their role there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub actor: Actor,
    pub org: OrgId,
    pub role: Role,
    /// Where the request came from, as far as the server can tell (for the audit log).
    pub ip: Option<std::net::IpAddr>,
}

impl Authenticated {
    /// The person acting, or who made the API key that is.
    pub fn user(&self) -> Option<UserId> {
        match self.actor {
            Actor::User { id, .. } => Some(id),
            Actor::ApiKey { created_by, .. } => created_by,
        }
    }

    /// 403 unless the policy allows `action` to this role (and, for "own" rules, this user).
    pub fn require(&self, action: baton_core::policy::Action) -> Result<(), ApiError> {
        if baton_core::policy::allows(self.role, self.user(), action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// API keys are recognisable by their prefix.
pub const API_KEY_PREFIX: &str = "baton_";

/// Signed in, whether or not the organization's two-factor requirement is met: for the few
/// endpoints a person needs to meet it (enrolling, who am I, switching, signing out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedIn(pub Authenticated);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state).await.map(SignedIn)
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        match authenticate(parts, state).await {
            Ok(signed_in) => Ok(Some(SignedIn(signed_in))),
            Err(ApiError::Unauthorized) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    /// Also refuses a person acting in an organization that requires two-factor sign-in
    /// when they have not turned it on.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let signed_in = authenticate(parts, state).await?;
        if let Actor::User { id, .. } = signed_in.actor {
            let required = state
                .store
                .organization(signed_in.org)
                .await?
                .is_some_and(|organization| organization.require_mfa);
            if required && !super::mfa::is_enabled(state, id).await? {
                return Err(ApiError::MfaRequired);
            }
        }
        Ok(signed_in)
    }
}

async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Authenticated, ApiError> {
    {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if let Some(key) = bearer.filter(|token| token.starts_with(API_KEY_PREFIX)) {
            // Guessing keys from one address is slowed down like guessing passwords.
            let client = crate::request::Client::of(parts, state);
            let address = client.ip.as_deref();
            let now = std::time::Instant::now();
            if let Some(wait) = state.sign_in_failures.probe_wait("api_key", address, now) {
                return Err(ApiError::TooManyRequests {
                    retry_after_seconds: wait.as_secs().max(1),
                });
            }
            let Some(found) = state
                .store
                .use_api_key(&super::session::hash(key.trim()))
                .await?
            else {
                state.sign_in_failures.probe_failed("api_key", address, now);
                return Err(ApiError::Unauthorized);
            };
            // A key acts for its maker: never above the maker's role today, and not at all
            // once the maker has left the organization.
            let maker = match found.created_by {
                Some(maker) => state.store.membership(found.org_id, maker).await?,
                None => None,
            };
            let Some(maker) = maker else {
                return Err(ApiError::Unauthorized);
            };
            let role = if maker.role.covers(found.role) {
                found.role
            } else {
                maker.role
            };
            return Ok(Authenticated {
                ip: client.ip.as_deref().and_then(|ip| ip.parse().ok()),
                actor: Actor::ApiKey {
                    id: found.id,
                    created_by: found.created_by,
                },
                org: found.org_id,
                role,
            });
        }
        let claims = match parts.extensions.get::<super::token::Claims>() {
            // Verified moments ago by the rate limiter, which saw the same request.
            Some(claims) => claims.clone(),
            None => {
                let token = bearer
                    .or_else(|| cookie(&parts.headers, super::session::access_cookie(state)))
                    .ok_or(ApiError::Unauthorized)?;
                state
                    .keys
                    .verify(token.trim(), Utc::now())
                    .map_err(|_| ApiError::Unauthorized)?
            }
        };
        if !state.store.family_is_live(claims.sid).await? {
            return Err(ApiError::Unauthorized);
        }
        let membership = state
            .store
            .membership(claims.org, claims.sub)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let client = crate::request::Client::of(parts, state);
        Ok(Authenticated {
            ip: client.ip.as_deref().and_then(|ip| ip.parse().ok()),
            actor: Actor::User {
                id: claims.sub,
                session: claims.sid,
            },
            org: claims.org,
            role: membership.role,
        })
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
    let refusal = match (origin, host) {
        (Some(origin), Some(host)) if origin.eq_ignore_ascii_case(host) => None,
        (Some(_), _) => Some(
            "the request comes from another site (its Origin or Referer is not this server), so nothing was changed",
        ),
        (None, _) if has_cookies => Some(
            "the request's origin could not be checked: a signed-in browser request that changes something must carry an Origin or Referer header (scripts should use an API key)",
        ),
        (None, _) => None,
    };
    match refusal {
        None => next.run(request).await,
        Some(reason) => ApiError::ForbiddenBecause(reason).into_response(),
    }
}
