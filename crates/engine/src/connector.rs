//! The boundary to external services for `integration` steps. The connectors crate implements
//! [`Connectors`] with one module per service; the engine only needs to call an action.

use std::time::Duration;

use async_trait::async_trait;
use baton_core::OrgId;
use serde_json::Value;

use crate::error::{AuthProblem, StepError};

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

/// One look at a service for what is new since `cursor`.
#[derive(Clone, Debug, PartialEq)]
pub struct PollCall {
    pub org_id: OrgId,
    pub service: String,
    pub event: String,
    pub inputs: Value,
    /// Where the last look ended; `None` the first time (which only marks where to start).
    pub cursor: Option<Value>,
    pub secret: Option<Secret>,
}

/// What a look found.
#[derive(Clone, Debug, PartialEq)]
pub struct Polled {
    /// Each new item with the id it is delivered under (a workflow runs once per id).
    pub items: Vec<(String, Value)>,
    /// Where the next look starts.
    pub cursor: Value,
}

/// A call a service made to a workflow's hook URL, for its connector to check.
#[derive(Clone, Copy, Debug)]
pub struct IncomingWebhook<'a> {
    /// `POST`, `GET`, ...
    pub method: &'a str,
    /// The URL the service called, as it saw it (the server's public URL, the hook's path and
    /// its query): HubSpot signs it.
    pub url: &'a str,
    /// Header names in lower case.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// The hook's signing secret, opened.
    pub secret: Option<&'a str>,
}

impl IncomingWebhook<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(found, _)| found.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What a checked webhook call does.
#[derive(Clone, Debug, PartialEq)]
pub enum WebhookOutcome {
    /// Answer the service with this and run nothing (a URL check's challenge).
    Answer(Value),
    /// Run the workflow, once per delivery id when the service names its events.
    Run { delivery_id: Option<String> },
    /// Keep `secret`, which the service offers in a handshake, as the hook's secret and
    /// answer with it in the header `echo_header` (Asana's `X-Hook-Secret`); run nothing.
    Adopt {
        secret: String,
        echo_header: &'static str,
    },
}

/// A credential's secret content. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq)]
pub struct Secret(pub Value);

impl Secret {
    /// A field of the secret as text.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.0.get(field).and_then(Value::as_str)
    }

    /// Whether the secret is an OAuth token that expires within `margin` of `now` (unix
    /// seconds in `expires_at`) and can be refreshed (it has a `refresh_token`).
    pub fn expires_within(&self, now: chrono::DateTime<chrono::Utc>, margin: Duration) -> bool {
        let Some(expires_at) = self.0.get("expires_at").and_then(Value::as_i64) else {
            return false;
        };
        self.text("refresh_token").is_some()
            && expires_at <= now.timestamp() + i64::try_from(margin.as_secs()).unwrap_or(i64::MAX)
    }
}

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

    /// The same credential after the provider refused its token: refreshed when it can be,
    /// `None` when it cannot (then the refusal stands).
    async fn refreshed(
        &self,
        _org: OrgId,
        _service: &str,
        _name: Option<&str>,
    ) -> Result<Option<Secret>, StepError> {
        Ok(None)
    }

    /// The provider will not take the credential again: its grant is gone (`Revoked`), or it
    /// refused a token that cannot be refreshed. The source may mark it for reconnecting.
    async fn lost(&self, _org: OrgId, _service: &str, _name: Option<&str>, _why: &StepError) {}
}

/// Makes a call with the credential's secret (`attempt` gets the secret to use). When the
/// provider refuses the token, the call is made once more with a refreshed one; when the
/// refusal stands or the grant is gone, the source hears of it, so that the credential shows
/// "reconnect needed" instead of failing every run the same way.
pub async fn with_refresh<T, F, Fut>(
    source: &dyn CredentialSource,
    org: OrgId,
    service: &str,
    name: Option<&str>,
    secret: Secret,
    mut attempt: F,
) -> Result<T, StepError>
where
    F: FnMut(Secret) -> Fut,
    Fut: std::future::Future<Output = Result<T, StepError>>,
{
    let mut result = attempt(secret).await;
    let mut refreshed = false;
    if let Err(error) = &result
        && error.auth == Some(AuthProblem::Refused)
        && let Some(fresh) = source.refreshed(org, service, name).await?
    {
        refreshed = true;
        result = attempt(fresh).await;
    }
    if let Err(error) = &result {
        let lost = match error.auth {
            Some(AuthProblem::Revoked) => true,
            // A token refused right after its refresh points elsewhere (a scope, the account).
            Some(AuthProblem::Refused) => !refreshed,
            None => false,
        };
        if lost {
            source.lost(org, service, name, error).await;
        }
    }
    result
}

#[async_trait]
pub trait Connectors: Send + Sync {
    /// What is wrong with naming this action of this service, checked when a workflow is
    /// validated: `None` when the action exists, or when the service is not one this
    /// installation knows (then the call fails when it runs, saying so).
    fn action_problem(&self, service: &str, action: &str) -> Option<String>;
    /// What is wrong with these inputs of the action, checked when a workflow is validated:
    /// `(path under the step's inputs, e.g. ".to" or "", message)`. Values that are
    /// templates are only known when the step runs, so they are not checked here.
    fn input_problems(
        &self,
        _service: &str,
        _action: &str,
        _inputs: &Value,
    ) -> Vec<(String, String)> {
        Vec::new()
    }

    async fn call(&self, call: ActionCall) -> Result<Value, StepError>;

    /// What is wrong with a secret stored for `service`, checked when it is stored: `(path
    /// under the secret, e.g. ".hosts", message)`.
    fn secret_problem(&self, _service: &str, _secret: &Value) -> Option<(String, String)> {
        None
    }

    /// Whether a step of `service` that names no credential gets the organization's only one.
    /// A service that calls whatever URL a workflow gives (`http`) gets none unless named.
    fn implicit_credential(&self, _service: &str) -> bool {
        true
    }

    /// What each service declares of itself (id, name, category, auth, actions with their
    /// input schemas), for the API and the editor's forms.
    fn catalog(&self) -> Vec<Value> {
        Vec::new()
    }

    /// How many calls of this action the service takes in one request; 1 when it takes no
    /// batches. Above 1, calls made at about the same time go through [`Connectors::batch`].
    fn batch_size(&self, _service: &str, _action: &str) -> usize {
        1
    }

    /// Whether this call changes something outside Baton (sends mail, posts, writes a record):
    /// a "safe test" of the step previews the request instead of making it. Unknown services
    /// and actions are taken to write.
    fn writes(&self, _service: &str, _action: &str, _inputs: &Value) -> bool {
        true
    }

    /// Several calls of one action, with one credential, each with its own result, in order.
    async fn batch(&self, calls: Vec<ActionCall>) -> Vec<Result<Value, StepError>> {
        let mut results = Vec::with_capacity(calls.len());
        for call in calls {
            results.push(self.call(call).await);
        }
        results
    }

    /// Checks a call `service` made to a hook (its signature scheme) and says what it does;
    /// the refusal, in words for the service's log, when it is not genuine.
    fn webhook(
        &self,
        service: &str,
        _incoming: &IncomingWebhook<'_>,
    ) -> Result<WebhookOutcome, String> {
        Err(format!("{service} sends no webhooks Baton can check"))
    }

    /// The most calls per window one organization may make to `service`, as its connector
    /// declares; the engine waits or defers a step rather than go over it.
    fn rate_limit(&self, _service: &str) -> Option<crate::throttle::RateLimit> {
        None
    }

    /// What is wrong with watching this event of this service, checked when a workflow is
    /// validated; `None` when it exists or the service is unknown here.
    fn trigger_problem(&self, _service: &str, _event: &str) -> Option<String> {
        None
    }

    /// Looks for what is new (a poll trigger's one check).
    async fn poll(&self, call: PollCall) -> Result<Polled, StepError> {
        Err(StepError::permanent(format!(
            "{} has no event {:?} to watch",
            call.service, call.event
        )))
    }

    /// The provider's consent page for connecting `service` through OAuth2, carrying `state`
    /// and the PKCE challenge of `verifier`; an error that says what to configure when the
    /// service has no OAuth app here.
    fn authorization(
        &self,
        service: &str,
        _state: &str,
        _verifier: &str,
    ) -> Result<String, String> {
        Err(format!("{service} cannot be connected with OAuth here"))
    }

    /// The secret (tokens) the provider gives for the callback's `code`.
    async fn authorize(
        &self,
        service: &str,
        _code: &str,
        _verifier: &str,
    ) -> Result<Secret, StepError> {
        Err(StepError::permanent(format!(
            "{service} cannot be connected with OAuth here"
        )))
    }

    /// The secret with a fresh access token. [`StepError::revoked`] when the grant is gone.
    async fn refresh(&self, service: &str, _secret: &Secret) -> Result<Secret, StepError> {
        Err(StepError::permanent(format!(
            "a {service} token cannot be refreshed here"
        )))
    }

    /// Checks that a credential works, with the cheapest call the service has; what the
    /// service says about whose credential it is.
    async fn authenticate(&self, service: &str, _secret: &Secret) -> Result<Value, StepError> {
        Err(StepError::permanent(format!(
            "{service} has no way to check a credential"
        )))
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
