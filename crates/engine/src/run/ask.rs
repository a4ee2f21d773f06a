//! Asking a model for an organization, inside a run or outside one (a drafted workflow, the
//! gateway): the organization's credential for the provider, the provider's circuit, the
//! step's fallbacks in turn after a passing failure, and what happened said in words.

use std::time::Instant;

use serde_json::{Value, json};

use super::Engine;
use crate::breaker::Permit;
use crate::error::StepError;
use crate::provider::{LlmRequest, LlmResponse};

/// A model's answer, and how it came.
pub struct Answered {
    /// The request that was answered (the fallback's, when one answered).
    pub request: LlmRequest,
    pub response: LlmResponse,
    /// Each model that failed before, as `{provider, model, error}`.
    pub tried: Vec<Value>,
}

impl Answered {
    /// What happened, in words: each model that failed and which answered; nothing when the
    /// first answered.
    pub fn notes(&self) -> Vec<Value> {
        if self.tried.is_empty() {
            return Vec::new();
        }
        let mut notes: Vec<Value> = self
            .tried
            .iter()
            .map(|failed| {
                json!(format!(
                    "{}/{}: {}",
                    failed["provider"].as_str().unwrap_or_default(),
                    failed["model"].as_str().unwrap_or_default(),
                    failed["error"].as_str().unwrap_or_default()
                ))
            })
            .collect();
        notes.push(json!(format!(
            "answered by {}/{}",
            self.request.provider, self.response.model
        )));
        notes
    }
}

impl Engine {
    /// Asks `first`'s model, then each of `fallbacks` (`(provider, model)`) in turn while the
    /// one before failed for a passing reason (a rate limit, an outage, its circuit open).
    /// `context` names what asked, for the log.
    pub async fn ask_in_turn(
        &self,
        first: &LlmRequest,
        fallbacks: &[(String, String)],
        context: &str,
    ) -> Result<Answered, StepError> {
        let mut tried = Vec::new();
        let candidates =
            std::iter::once(first.clone()).chain(fallbacks.iter().map(|(provider, model)| {
                LlmRequest {
                    provider: provider.clone(),
                    model: model.clone(),
                    ..first.clone()
                }
            }));
        for (index, request) in candidates.enumerate() {
            let last = index == fallbacks.len();
            match self.ask(request).await {
                Ok((request, response)) => {
                    return Ok(Answered {
                        request,
                        response,
                        tried,
                    });
                }
                Err((request, error))
                    if !last && error.class == baton_core::ErrorClass::Transient =>
                {
                    let (next_provider, next_model) = &fallbacks[index];
                    tracing::warn!(
                        context,
                        provider = %request.provider,
                        model = %request.model,
                        error = %error.message,
                        next = %format!("{next_provider}/{next_model}"),
                        "a model failed for a passing reason: asking the next in the fallback list"
                    );
                    tried.push(json!({"provider": request.provider, "model": request.model, "error": error.message}));
                }
                Err((_, error)) => return Err(error),
            }
        }
        Err(StepError::system("no model was asked"))
    }

    /// One model's answer, with the organization's credential for its provider, its breaker
    /// and record; the request comes back with a failure. What the model says is cleared of
    /// the key the call carried.
    pub async fn ask(
        &self,
        mut request: LlmRequest,
    ) -> Result<(LlmRequest, LlmResponse), (LlmRequest, StepError)> {
        let org = request.org_id;
        self.read_shared_circuits().await;
        if let Err(error) = self.permit(org, &request.provider) {
            return Err((request, error));
        }
        if let Some(credentials) = &self.credentials {
            match credentials.credential(org, &request.provider, None).await {
                Ok(secret) => request.secret = secret,
                Err(error) => return Err((request, error)),
            }
        }
        let redactor = crate::redact::Redactor::of(request.secret.as_ref());
        let result = self
            .llm
            .complete(request.clone())
            .await
            .map(|mut response| {
                response.text = redactor.text(&response.text);
                response
            })
            .map_err(|error| redactor.error(error));
        self.record(org, &request.provider, &result);
        match &result {
            Ok(response) => {
                let (provider, model) = (request.provider.clone(), response.model.clone());
                metrics::counter!("baton_ai_tokens_total", "provider" => provider.clone(), "model" => model.clone(), "direction" => "input")
                    .increment(response.usage.input_tokens.max(0) as u64);
                metrics::counter!("baton_ai_tokens_total", "provider" => provider.clone(), "model" => model.clone(), "direction" => "output")
                    .increment(response.usage.output_tokens.max(0) as u64);
                metrics::counter!("baton_ai_cost_microdollars_total", "provider" => provider, "model" => model)
                    .increment(response.cost.micros().max(0) as u64);
            }
            Err(_) => {
                metrics::counter!("baton_ai_failures_total", "provider" => request.provider.clone())
                    .increment(1);
            }
        }
        match result {
            Ok(response) => Ok((request, response)),
            Err(error) => Err((request, error)),
        }
    }

    /// Whether a call to `service` may go now for `org`, or why not and for how long.
    pub(super) fn permit(&self, org: baton_core::OrgId, service: &str) -> Result<(), StepError> {
        let mut breakers = self.breakers.lock().expect("breaker lock");
        match breakers.permit(org, service, Instant::now()) {
            Permit::Allowed => Ok(()),
            Permit::Refused { message, retry_in } => {
                Err(StepError::transient(message).with_retry_after(retry_in))
            }
        }
    }

    /// Counts a call's result against `service`'s circuit for `org`, and keeps a `Retry-After`.
    pub(super) fn record<T>(
        &self,
        org: baton_core::OrgId,
        service: &str,
        result: &Result<T, StepError>,
    ) {
        let transient =
            matches!(result, Err(error) if error.class == baton_core::ErrorClass::Transient);
        let now = Instant::now();
        let mut breakers = self.breakers.lock().expect("breaker lock");
        let was_open = breakers.is_open(org, service);
        breakers.record(org, service, transient, now);
        match (was_open, breakers.is_open(org, service)) {
            (false, true) => {
                metrics::counter!("baton_circuits_opened_total", "service" => service.to_owned())
                    .increment(1);
                tracing::warn!(%org, service, "circuit open: the service failed repeatedly; its calls wait for the cool-down");
                self.share_circuit(org, service, Some(breakers.cool_down()));
            }
            (true, false) => {
                tracing::info!(%org, service, "circuit closed: the service answers again");
                self.share_circuit(org, service, None);
            }
            _ => {}
        }
        if let Err(StepError {
            retry_after: Some(wait),
            ..
        }) = result
        {
            breakers.hold(org, service, now + *wait);
        }
    }
}
