//! Rate limits as counts in fixed windows: how many calls under a key a window allows. The API
//! limits requests with it, and the engine keeps each organization's calls to a service under
//! what the service's connector declares. Counted in this process ([`MemoryLimiter`]), or in a
//! store every process shares (the server's Redis limiter). Fixed windows: simple, and the same
//! in both.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// Whether one more call under a key fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Limited { retry_after: Duration },
}

#[async_trait]
pub trait Limiter: Send + Sync {
    /// Counts a call under `key` in the current window of `window`, allowing `limit`.
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, String>;

    /// How many calls the current window of `key` counted, and when it ends.
    async fn usage(&self, key: &str, window: Duration) -> Result<(u32, Duration), String>;
}

/// Counts in this process.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

const MAX_KEYS: usize = 100_000;

#[async_trait]
impl Limiter for MemoryLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, String> {
        let now = Instant::now();
        let mut windows = self.windows.lock().map_err(|error| error.to_string())?;
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        Ok(if entry.1 <= limit {
            Decision::Allowed
        } else {
            Decision::Limited {
                retry_after: window.saturating_sub(now.duration_since(entry.0)),
            }
        })
    }

    async fn usage(&self, key: &str, window: Duration) -> Result<(u32, Duration), String> {
        let now = Instant::now();
        let windows = self.windows.lock().map_err(|error| error.to_string())?;
        Ok(match windows.get(key) {
            Some((start, count)) if now.duration_since(*start) < window => {
                (*count, window - now.duration_since(*start))
            }
            _ => (0, window),
        })
    }
}

/// A service's declared limit: at most `requests` calls per `per`, per organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RateLimit {
    pub requests: u32,
    #[serde(rename = "per_seconds", serialize_with = "seconds")]
    pub per: Duration,
}

fn seconds<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(value.as_secs())
}

/// The key an organization's calls to a service are counted under.
pub fn service_key(org: baton_core::OrgId, service: &str) -> String {
    format!("service:{org}:{service}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_window_allows_its_limit_then_says_when_it_ends() {
        let limiter = MemoryLimiter::default();
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(
                limiter.hit("k", 3, window).await.unwrap(),
                Decision::Allowed
            );
        }
        let Decision::Limited { retry_after } = limiter.hit("k", 3, window).await.unwrap() else {
            panic!("the fourth call is over the limit");
        };
        assert!(retry_after <= window && retry_after > Duration::from_secs(59));
        let (count, resets_in) = limiter.usage("k", window).await.unwrap();
        assert_eq!(count, 4);
        assert!(resets_in <= window);
        assert_eq!(limiter.usage("other", window).await.unwrap(), (0, window));
    }
}
