//! Starting, refreshing and ending sign-in sessions, and the cookies that carry them: a
//! 15-minute access token (`baton_access`) and a 30-day refresh token (`baton_refresh`, sent only
//! to `/api/v1/auth`), both httpOnly and SameSite=Lax.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use baton_core::session::{NewSession, Session};
use baton_core::{OrgId, UserId};
use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

pub const ACCESS_COOKIE: &str = "baton_access";
pub const REFRESH_COOKIE: &str = "baton_refresh";

/// The access cookie's name: behind TLS `__Host-baton_access`, which browsers accept only from
/// this host, over https, for every path, so no subdomain or plain-http page can plant one.
pub fn access_cookie(state: &AppState) -> &'static str {
    if state.config.is_tls() {
        "__Host-baton_access"
    } else {
        ACCESS_COOKIE
    }
}

/// The refresh cookie's name: behind TLS `__Secure-baton_refresh` (it keeps its narrow path,
/// which `__Host-` does not allow).
pub fn refresh_cookie(state: &AppState) -> &'static str {
    if state.config.is_tls() {
        "__Secure-baton_refresh"
    } else {
        REFRESH_COOKIE
    }
}
pub const REFRESH_LIFETIME: Duration = Duration::days(30);

/// A new secret token (a refresh token, a link's token), once: the client keeps it, the store
/// keeps its hash.
pub fn new_token() -> (String, Vec<u8>) {
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The cookies of a fresh pair of tokens.
pub struct Issued {
    pub cookies: HeaderMap,
    pub session: Session,
}

/// Starts a new session family for `user` acting in `org`.
pub async fn start(state: &AppState, user: UserId, org: OrgId) -> Result<Issued, ApiError> {
    let (token, token_hash) = new_token();
    let session = state
        .store
        .create_session(NewSession {
            user_id: user,
            org_id: org,
            family_id: None,
            token_hash,
            expires_at: Utc::now() + REFRESH_LIFETIME,
        })
        .await?;
    issue(state, session, &token)
}

/// Exchanges a live session's refresh token for the next one of its family.
pub async fn rotate(state: &AppState, old: &Session) -> Result<Issued, ApiError> {
    let (token, token_hash) = new_token();
    let next = NewSession {
        user_id: old.user_id,
        org_id: old.org_id,
        family_id: Some(old.family_id),
        token_hash,
        expires_at: Utc::now() + REFRESH_LIFETIME,
    };
    let session = state
        .store
        .rotate_session(old.id, next)
        .await
        .map_err(|error| match error {
            baton_store::StoreError::Conflict(_) => ApiError::Unauthorized,
            other => other.into(),
        })?;
    issue(state, session, &token)
}

fn issue(state: &AppState, session: Session, refresh_token: &str) -> Result<Issued, ApiError> {
    let access = state
        .keys
        .issue(
            session.user_id,
            session.org_id,
            session.family_id,
            Utc::now(),
        )
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let secure = secure(state);
    let (access_name, refresh_name) = (access_cookie(state), refresh_cookie(state));
    let mut cookies = HeaderMap::new();
    append(
        &mut cookies,
        &format!("{access_name}={access}; Path=/; HttpOnly; SameSite=Lax{secure}; Max-Age=900"),
    );
    append(
        &mut cookies,
        &format!(
            "{refresh_name}={refresh_token}; Path=/api/v1/auth; HttpOnly; SameSite=Lax{secure}; Max-Age={}",
            REFRESH_LIFETIME.num_seconds()
        ),
    );
    Ok(Issued { cookies, session })
}

/// `; Secure` when the server is reached over TLS.
pub fn secure(state: &AppState) -> &'static str {
    if state.config.is_tls() {
        "; Secure"
    } else {
        ""
    }
}

/// Cookies that clear both tokens.
pub fn cleared(state: &AppState) -> HeaderMap {
    let secure = secure(state);
    let (access_name, refresh_name) = (access_cookie(state), refresh_cookie(state));
    let mut cookies = HeaderMap::new();
    append(
        &mut cookies,
        &format!("{access_name}=; Path=/; HttpOnly; SameSite=Lax{secure}; Max-Age=0"),
    );
    append(
        &mut cookies,
        &format!("{refresh_name}=; Path=/api/v1/auth; HttpOnly; SameSite=Lax{secure}; Max-Age=0"),
    );
    cookies
}

pub fn append(cookies: &mut HeaderMap, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        cookies.append(header::SET_COOKIE, value);
    }
}

/// The value of a cookie in a request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}
