//! How a failure should be handled: the seed's three classes of error.

use serde::{Deserialize, Serialize};

/// The class of an error decides whether the engine retries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Retryable: network timeouts, rate limits, a service that is briefly unavailable.
    Transient,
    /// Not retryable: invalid credentials, a resource that does not exist, invalid input.
    Permanent,
    /// Escalated to the operator: the database is unreachable, memory is exhausted.
    System,
}

impl ErrorClass {
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::Transient)
    }
}
