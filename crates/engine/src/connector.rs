//! The boundary to external services for `integration` steps. The connectors crate implements
//! [`Connectors`] with one module per service; the engine only needs to call an action.

use async_trait::async_trait;
use baton_core::OrgId;
use serde_json::Value;

use crate::error::StepError;

/// One action call.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionCall {
    pub org_id: OrgId,
    pub service: String,
    pub action: String,
    pub inputs: Value,
    pub credential: Option<String>,
    /// Stable across retries and resumes of the same step: providers that accept an
    /// `Idempotency-Key` header get it, so a re-run step does not act twice.
    pub idempotency_key: String,
    /// The credential, resolved just before the call; never stored with the step.
    pub secret: Option<Secret>,
}

/// A credential's secret content. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq)]
pub struct Secret(pub Value);

impl std::fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Secret(<redacted>)")
    }
}

/// Where the engine finds the credential an `integration` step uses.
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// The credential for `service`, by name when the step names one; `None` when there is none.
    async fn credential(
        &self,
        org: OrgId,
        service: &str,
        name: Option<&str>,
    ) -> Result<Option<Secret>, StepError>;
}

#[async_trait]
pub trait Connectors: Send + Sync {
    /// What is wrong with naming this action of this service, checked when a workflow is
    /// validated: `None` when the action exists, or when the service is not one this
    /// installation knows (then the call fails when it runs, saying so).
    fn action_problem(&self, service: &str, action: &str) -> Option<String>;
    async fn call(&self, call: ActionCall) -> Result<Value, StepError>;
    /// What each service declares of itself (id, name, category, auth, actions with their
    /// input schemas), for the API and the editor's forms.
    fn catalog(&self) -> Vec<Value> {
        Vec::new()
    }
}

/// No connectors at all: validation accepts any action, and calls fail with a clear message.
pub struct NoConnectors;

#[async_trait]
impl Connectors for NoConnectors {
    fn action_problem(&self, _: &str, _: &str) -> Option<String> {
        None
    }

    async fn call(&self, call: ActionCall) -> Result<Value, StepError> {
        Err(StepError::permanent(format!(
            "no connector for service {:?} is available",
            call.service
        )))
    }
}
