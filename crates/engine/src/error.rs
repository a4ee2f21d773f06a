//! Errors: a step's failure, classified for the retry policy, and the engine's own errors.

use std::time::Duration;

use baton_core::ErrorClass;
use serde::Serialize;
use serde_json::{Value, json};

/// Why a step failed, in words a person understands, and whether trying again may help.
#[derive(Clone, Debug, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub class: ErrorClass,
    pub message: String,
    /// When the provider said how long to wait before trying again.
    #[serde(skip_serializing_if = "Option::is_none", with = "optional_seconds")]
    pub retry_after: Option<Duration>,
    /// When the provider refused the credential itself, which decides whether a refreshed
    /// token may help.
    #[serde(skip)]
    pub auth: Option<AuthProblem>,
    /// What the attempt cost before it failed (a model that answered, but not as asked): it
    /// is billed all the same, so the step's record counts it.
    #[serde(skip)]
    pub spent: Option<(baton_core::execution::TokenUsage, baton_core::Usd)>,
}

/// How a provider refused a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthProblem {
    /// The token was not accepted (HTTP 401, an expired token): a refreshed one may be.
    Refused,
    /// The grant behind it is gone (revoked, expired refresh token): only connecting the
    /// service again helps.
    Revoked,
}

impl StepError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Transient,
            message: message.into(),
            retry_after: None,
            auth: None,
            spent: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Permanent,
            message: message.into(),
            retry_after: None,
            auth: None,
            spent: None,
        }
    }

    pub fn system(message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::System,
            message: message.into(),
            retry_after: None,
            auth: None,
            spent: None,
        }
    }

    /// The provider did not accept the credential's token (permanent unless a refresh helps).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            auth: Some(AuthProblem::Refused),
            ..Self::permanent(message)
        }
    }

    /// The credential's grant is gone: the service has to be connected again.
    pub fn revoked(message: impl Into<String>) -> Self {
        Self {
            auth: Some(AuthProblem::Revoked),
            ..Self::permanent(message)
        }
    }

    /// Records what the failed attempt cost.
    pub fn with_spent(
        mut self,
        usage: baton_core::execution::TokenUsage,
        cost: baton_core::Usd,
    ) -> Self {
        self.spent = Some((usage, cost));
        self
    }

    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// The error as stored in a step run and shown in an execution.
    pub fn to_json(&self, step: &str, attempts: u32) -> Value {
        json!({"step": step, "class": self.class, "message": self.message, "attempts": attempts})
    }
}

mod optional_seconds {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_f64(duration.as_secs_f64()),
            None => serializer.serialize_none(),
        }
    }
}

/// Failures of the engine itself, as opposed to a step's.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the workflow is invalid:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<baton_core::dsl::Problem>),
    #[error(transparent)]
    Store(#[from] baton_store::StoreError),
    #[error("execution {0} cannot be run from state {1}")]
    NotRunnable(baton_core::ExecutionId, baton_core::ExecutionState),
    #[error("{0}")]
    Answer(String),
    #[error("the workflow has no step {0:?}")]
    NoSuchStep(String),
    /// The run stopped without a verdict (the database out of reach); it resumes from its
    /// checkpoints.
    #[error("the run was interrupted: {0}")]
    Interrupted(String),
}
