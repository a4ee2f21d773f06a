//! What Google's APIs share: their error answers (`{"error": {code, message, errors: [{reason}]}}`)
//! sorted for the retry policy, and the OAuth access token a credential holds.

use std::time::Duration;

use baton_engine::StepError;
use baton_engine::connector::Secret;
use serde_json::Value;

/// What a Google API answered, or the failure classified for the retry policy: rate limits
/// (429, or a 403 whose reason is `rateLimitExceeded` / `userRateLimitExceeded`) and server
/// errors are worth retrying; a refused token needs the connection made again.
pub(crate) fn answered(
    service: &str,
    what: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: Value,
) -> Result<Value, StepError> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let reason = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("no reason given");
    let message = format!("{service} answered HTTP {status} to {what}: {reason}");
    let rate_limited = status == 429
        || body
            .pointer("/error/errors/0/reason")
            .and_then(Value::as_str)
            .is_some_and(|reason| reason.to_ascii_lowercase().ends_with("ratelimitexceeded"));
    let error = match status {
        _ if rate_limited => StepError::transient(message),
        401 => StepError::unauthorized(format!(
            "{message} (reconnect needed: the Google access token is no longer valid)"
        )),
        500.. => StepError::transient(message),
        _ => StepError::permanent(message),
    };
    Err(match retry_after {
        Some(wait) => error.with_retry_after(wait),
        None => error,
    })
}

/// The OAuth access token of a Google credential; `scope` says which one it needs.
pub(crate) fn token<'a>(
    service: &str,
    secret: Option<&'a Secret>,
    scope: &str,
) -> Result<&'a str, StepError> {
    secret
        .and_then(|secret| secret.text("access_token"))
        .ok_or_else(|| {
            StepError::permanent(format!(
                "there is no {service} credential: store one with `access_token` (an OAuth token with the {scope} scope)"
            ))
        })
}
