//! Rate limits: requests per user (or API key) a minute across the API, and per client address
//! on the endpoints that sign people in or up. Counted in this process by default
//! ([`MemoryLimiter`]), or in Redis when several servers share the load ([`RedisLimiter`]).
//! Fixed one-minute windows: simple, and the same in both.

use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::AppState;
use crate::auth::guard::API_KEY_PREFIX;
use crate::auth::session::{cookie, hash};
use crate::error::ApiError;
use crate::request::Client;

pub const WINDOW: Duration = Duration::from_secs(60);

/// How many requests a minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Each signed-in user or API key, across the API.
    pub per_user: u32,
    /// Each client address, on sign-up, sign-in, password reset and accepting an invitation.
    pub per_address_sign_in: u32,
    /// Each webhook URL.
    pub per_hook: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_user: 100,
            per_address_sign_in: 20,
            per_hook: 60_000,
        }
    }
}

pub use baton_engine::throttle::{Decision, Limiter, MemoryLimiter};

/// Counts in Redis, shared by every server that uses the same Redis: one key per window,
/// incremented and given its expiry atomically by a script.
pub struct RedisLimiter {
    connection: redis::aio::ConnectionManager,
    script: redis::Script,
    prefix: String,
}

impl RedisLimiter {
    pub async fn connect(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|error| error.to_string())?;
        let connection = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(|error| error.to_string())?;
        Ok(Self::with_prefix(connection, "baton:rate:"))
    }

    /// Keys start with `prefix` (tests use their own).
    pub fn with_prefix(connection: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self {
            connection,
            script: redis::Script::new(
                r"
                local count = redis.call('INCR', KEYS[1])
                if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
                return {count, redis.call('PTTL', KEYS[1])}
                ",
            ),
            prefix: prefix.to_owned(),
        }
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, String> {
        let mut connection = self.connection.clone();
        let (count, ttl_ms): (u64, i64) = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(window.as_millis() as u64)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| error.to_string())?;
        Ok(if count <= u64::from(limit) {
            Decision::Allowed
        } else {
            Decision::Limited {
                retry_after: Duration::from_millis(ttl_ms.max(0) as u64),
            }
        })
    }

    async fn usage(&self, key: &str, window: Duration) -> Result<(u32, Duration), String> {
        let mut connection = self.connection.clone();
        let key = format!("{}{key}", self.prefix);
        let (count, ttl_ms): (Option<u64>, i64) = redis::pipe()
            .get(&key)
            .pttl(&key)
            .query_async(&mut connection)
            .await
            .map_err(|error| error.to_string())?;
        let resets_in = if ttl_ms > 0 {
            Duration::from_millis(ttl_ms as u64)
        } else {
            window
        };
        Ok((
            u32::try_from(count.unwrap_or(0)).unwrap_or(u32::MAX),
            resets_in,
        ))
    }
}

/// Counts a request; a limiter that fails (Redis down) lets the request through and says so in
/// the log: the limits protect the service, they must not take it down.
pub async fn check(state: &AppState, key: &str, limit: u32) -> Result<(), ApiError> {
    match state.limiter.hit(key, limit, WINDOW).await {
        Ok(Decision::Allowed) => Ok(()),
        Ok(Decision::Limited { retry_after }) => Err(ApiError::TooManyRequests {
            retry_after_seconds: retry_after.as_secs_f64().ceil().max(1.0) as u64,
        }),
        Err(error) => {
            tracing::warn!(%error, "the rate limiter failed; the request is let through");
            Ok(())
        }
    }
}

/// The per-address limit of a sign-in endpoint (`what`: `login`, `signup`, ...).
pub async fn per_address(state: &AppState, client: &Client, what: &str) -> Result<(), ApiError> {
    match &client.ip {
        Some(ip) => {
            check(
                state,
                &format!("ip:{what}:{ip}"),
                state.config.limits.per_address_sign_in,
            )
            .await
        }
        None => Ok(()),
    }
}

/// The per-user limit, for every request that names a user (an access token) or an API key.
/// Requests that name nobody are limited where they matter, per address.
pub async fn per_user(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let key = match bearer {
        Some(key) if key.starts_with(API_KEY_PREFIX) => {
            let digest = hash(key);
            Some(format!(
                "key:{}",
                digest[..12]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ))
        }
        other => {
            let claims = other
                .or_else(|| cookie(headers, crate::auth::session::access_cookie(&state)))
                .and_then(|token| state.keys.verify(token.trim(), Utc::now()).ok());
            let key = claims.as_ref().map(|claims| format!("user:{}", claims.sub));
            // The guard reads the verified token from here instead of checking it again.
            if let Some(claims) = claims {
                request.extensions_mut().insert(claims);
            }
            key
        }
    };
    if let Some(key) = key
        && let Err(limited) = check(&state, &key, state.config.limits.per_user).await
    {
        return limited.into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_limiter_allows_the_limit_then_says_when_to_come_back() {
        let limiter = MemoryLimiter::default();
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.hit("a", 3, window).await, Ok(Decision::Allowed));
        }
        let Ok(Decision::Limited { retry_after }) = limiter.hit("a", 3, window).await else {
            panic!("the fourth request must be limited");
        };
        assert!(retry_after > Duration::from_secs(58) && retry_after <= window);
        assert_eq!(
            limiter.hit("b", 3, window).await,
            Ok(Decision::Allowed),
            "keys are counted apart"
        );
    }

    #[tokio::test]
    async fn a_new_window_starts_a_new_count() {
        let limiter = MemoryLimiter::default();
        let window = Duration::from_millis(50);
        assert_eq!(limiter.hit("a", 1, window).await, Ok(Decision::Allowed));
        assert!(matches!(
            limiter.hit("a", 1, window).await,
            Ok(Decision::Limited { .. })
        ));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(limiter.hit("a", 1, window).await, Ok(Decision::Allowed));
    }
}
