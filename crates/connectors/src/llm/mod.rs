//! The `llm` step's real back ends: one module per provider's wire format, behind one
//! [`LlmProvider`] that picks the provider the step names. Each call carries the
//! organization's credential for the provider (`{"api_key": "..."}`, resolved by the engine),
//! reads the token counts from the provider's own answer and prices them from the list
//! ([`prices`]). A provider's transient failures (429 with its `Retry-After`, 5xx, 529
//! overloaded, timeouts) are marked transient, so the engine's retries and circuit breakers
//! apply; a refused key or a bad request is permanent.

mod anthropic;
mod cohere;
mod gemini;
mod openai;
pub mod prices;

use std::time::Duration;

use async_trait::async_trait;
use baton_core::execution::TokenUsage;
use baton_engine::StepError;
use baton_engine::provider::{LlmProvider, LlmRequest, LlmResponse};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The providers as connectors: `llm` steps call them (by model), credentials name them.
pub static DECLARATIONS: std::sync::LazyLock<Vec<crate::Declaration>> =
    std::sync::LazyLock::new(|| {
        [
            ("anthropic", "Anthropic"),
            ("cohere", "Cohere"),
            ("google", "Google Gemini"),
            ("openai", "OpenAI"),
        ]
        .into_iter()
        .map(|(id, name)| crate::Declaration {
            id,
            name,
            category: crate::Category::Ai,
            auth: crate::AuthKind::ApiKey,
            actions: Vec::new(),
            triggers: Vec::new(),
            rate_limit: None,
        })
        .collect()
    });

/// The most a provider may take to answer.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Where each provider is reached: its public API unless the operator points elsewhere
/// (a proxy, a regional endpoint, a test server).
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    /// `BATON_OPENAI_BASE_URL` or `OPENAI_BASE_URL`, e.g. `https://api.openai.com/v1`.
    pub openai_base_url: String,
    /// `BATON_ANTHROPIC_BASE_URL` or `ANTHROPIC_BASE_URL`, e.g. `https://api.anthropic.com`.
    pub anthropic_base_url: String,
    /// `BATON_GEMINI_BASE_URL`, e.g. `https://generativelanguage.googleapis.com`.
    pub gemini_base_url: String,
    /// `BATON_COHERE_BASE_URL`, e.g. `https://api.cohere.com`.
    pub cohere_base_url: String,
    /// OpenAI-compatible servers by the id steps name as `provider` (`BATON_LLM_SERVERS`, e.g.
    /// `ollama=http://127.0.0.1:11434/v1`): Ollama, vLLM, LM Studio, llama.cpp, Groq, Together.
    pub compatible: std::collections::BTreeMap<String, String>,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            openai_base_url: "https://api.openai.com/v1".into(),
            anthropic_base_url: "https://api.anthropic.com".into(),
            gemini_base_url: "https://generativelanguage.googleapis.com".into(),
            cohere_base_url: "https://api.cohere.com".into(),
            compatible: Default::default(),
        }
    }
}

/// What a provider answered, before pricing.
struct Answer {
    text: String,
    tool_calls: Vec<baton_engine::provider::ToolCall>,
    model: String,
    usage: TokenUsage,
}

pub struct Providers {
    client: reqwest::Client,
    settings: ProviderSettings,
}

impl Providers {
    pub fn new(settings: ProviderSettings) -> Self {
        Self {
            client: crate::api_client(TIMEOUT),
            settings,
        }
    }
}

/// The API key of the credential the engine resolved for the provider.
fn api_key<'a>(request: &'a LlmRequest, provider: &str) -> Result<&'a str, StepError> {
    request
        .secret
        .as_ref()
        .and_then(|secret| secret.0.get("api_key"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            StepError::permanent(format!(
                "there is no {provider} credential: store one with `api_key` (POST /api/v1/credentials \
                 {{\"service\": \"{provider}\", \"name\": ..., \"secret\": {{\"api_key\": ...}}}})"
            ))
        })
}

/// Sends a provider's request and returns its JSON answer, or the failure classified.
async fn exchange(provider: &str, request: reqwest::RequestBuilder) -> Result<Value, StepError> {
    let response = request.send().await.map_err(|error| {
        if error.is_timeout() {
            StepError::transient(format!(
                "{provider} did not answer within {} s",
                TIMEOUT.as_secs()
            ))
        } else {
            StepError::transient(format!("{provider} could not be reached: {error}"))
        }
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.map_err(|error| {
        StepError::transient(format!("{provider}'s answer was cut off: {error}"))
    })?;
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    if status.is_success() {
        return body.ok_or_else(|| {
            StepError::transient(format!(
                "{provider} answered {status} with a body that is not JSON"
            ))
        });
    }
    Err(failure(provider, status, &headers, body.as_ref(), &bytes))
}

/// A provider's refusal as the engine's retry policy needs it.
fn failure(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: Option<&Value>,
    bytes: &[u8],
) -> StepError {
    // OpenAI, Anthropic and Google put the reason at `error.message`, Cohere at `message`.
    let reason = body
        .and_then(|body| {
            body.pointer("/error/message")
                .or_else(|| body.get("message"))
        })
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).chars().take(200).collect());
    let message = format!("{provider} answered HTTP {}: {reason}", status.as_u16());
    let error = match status.as_u16() {
        401 | 403 => StepError::permanent(format!("{message} (check the {provider} credential)")),
        408 | 409 | 429 | 500.. => StepError::transient(message),
        _ => StepError::permanent(message),
    };
    match crate::retry_after(headers) {
        Some(wait) => error.with_retry_after(wait),
        None => error,
    }
}

/// Whose rules a chat request in OpenAI's shape follows for JSON answers.
#[derive(Clone, Copy, PartialEq)]
enum Dialect {
    /// OpenAI's own API: `json_schema`, strict when the schema allows it.
    OpenAi,
    /// OpenAI-compatible servers: `json_object` with the schema beside it (llama.cpp and its
    /// Python server hold the answer to it; the others ignore it), and the schema in the
    /// system message for every server.
    Compatible,
    /// Cohere's v2 chat: `json_object` with `json_schema`.
    Cohere,
}

/// A chat request in the shape OpenAI and Cohere share: the system and user messages, the
/// temperature, the answer's length under `max_tokens_field`, and JSON mode or the schema.
fn chat_body(request: &LlmRequest, max_tokens_field: &str, dialect: Dialect) -> Value {
    let mut messages = Vec::new();
    let mut system = request.system.clone();
    if let (Some(schema), Dialect::Compatible) = (&request.schema, dialect) {
        let instructions = schema_instructions(schema);
        system = Some(match system {
            Some(system) => format!("{system}\n\n{instructions}"),
            None => instructions,
        });
    }
    if let Some(system) = &system {
        messages.push(serde_json::json!({"role": "system", "content": system}));
    }
    for turn in &request.turns {
        messages.push(openai::message_of(turn));
    }
    if has_prompt(request) {
        messages.push(serde_json::json!({"role": "user", "content": request.prompt}));
    }
    let mut body = serde_json::json!({"model": request.model, "messages": messages});
    if let Some(temperature) = request.temperature {
        body["temperature"] = serde_json::json!(temperature);
    }
    if let Some(max_tokens) = request.max_tokens {
        body[max_tokens_field] = serde_json::json!(max_tokens);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                serde_json::json!({"type": "function", "function": {
                    "name": tool.name, "description": tool.description, "parameters": tool.parameters}})
            })
            .collect();
    }
    body["response_format"] = match (&request.schema, dialect) {
        (Some(schema), Dialect::OpenAi) => openai::json_schema_format(schema),
        (Some(schema), Dialect::Compatible) => {
            serde_json::json!({"type": "json_object", "schema": schema})
        }
        (Some(schema), Dialect::Cohere) => {
            serde_json::json!({"type": "json_object", "json_schema": schema})
        }
        (None, _) if request.json => serde_json::json!({"type": "json_object"}),
        (None, _) => return body,
    };
    body
}

/// Whether the prompt ends the conversation as the user's message: it does unless it is empty
/// after turns (an agent's conversation ends with its tools' results).
fn has_prompt(request: &LlmRequest) -> bool {
    !request.prompt.is_empty() || request.turns.is_empty()
}

/// The schema in words, for a model no API holds to it.
fn schema_instructions(schema: &Value) -> String {
    format!(
        "Answer with one JSON object only, and nothing else, matching this JSON Schema:\n{}",
        serde_json::to_string(schema).unwrap_or_default()
    )
}

fn tokens(value: Option<&Value>) -> i64 {
    value.and_then(Value::as_i64).unwrap_or(0)
}

/// Answers assumed when a step sets no `max_tokens`, for estimates.
const ESTIMATED_ANSWER_TOKENS: i64 = 1_000;

#[async_trait]
impl LlmProvider for Providers {
    fn compatible_servers(&self) -> Vec<String> {
        self.settings.compatible.keys().cloned().collect()
    }

    async fn check_key(
        &self,
        provider: &str,
        secret: &baton_engine::connector::Secret,
    ) -> Result<Value, StepError> {
        let key = secret
            .0
            .get("api_key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let base = |url: &str| url.trim_end_matches('/').to_owned();
        // Each provider's model list: free, and refused without a good key.
        let call = match provider {
            "openai" => self
                .client
                .get(format!("{}/models", base(&self.settings.openai_base_url)))
                .bearer_auth(key),
            "anthropic" => self
                .client
                .get(format!(
                    "{}/v1/models",
                    base(&self.settings.anthropic_base_url)
                ))
                .header("x-api-key", key)
                .header("anthropic-version", anthropic::VERSION),
            "google" => self
                .client
                .get(format!(
                    "{}/v1beta/models",
                    base(&self.settings.gemini_base_url)
                ))
                .header("x-goog-api-key", key),
            "cohere" => self
                .client
                .get(format!(
                    "{}/v1/models",
                    base(&self.settings.cohere_base_url)
                ))
                .bearer_auth(key),
            other => match self.settings.compatible.get(other) {
                Some(url) => {
                    let call = self.client.get(format!("{}/models", base(url)));
                    if key.is_empty() {
                        call
                    } else {
                        call.bearer_auth(key)
                    }
                }
                None => {
                    return Err(StepError::permanent(format!(
                        "there is no provider {other:?}"
                    )));
                }
            },
        };
        let answer = exchange(provider, call.timeout(Duration::from_secs(20))).await?;
        // OpenAI and the compatible servers list under `data`, Anthropic too; Gemini and
        // Cohere under `models`.
        let models = answer
            .get("data")
            .or_else(|| answer.get("models"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        Ok(serde_json::json!({"provider": provider, "models": models}))
    }

    fn estimate(&self, request: &LlmRequest) -> Option<baton_core::Usd> {
        let price = request
            .price
            .or_else(|| prices::list_price(&request.provider, &request.model))?;
        // About four characters a token, for the languages these prompts are written in.
        let prompt = request.prompt.len()
            + request.system.as_ref().map_or(0, String::len)
            + request
                .turns
                .iter()
                .map(|turn| turn.text.len())
                .sum::<usize>();
        Some(
            price.cost(TokenUsage {
                input_tokens: prompt.div_ceil(4) as i64,
                output_tokens: request
                    .max_tokens
                    .map_or(ESTIMATED_ANSWER_TOKENS, i64::from),
            }),
        )
    }

    async fn complete(&self, request: LlmRequest) -> Result<LlmResponse, StepError> {
        let answer = match request.provider.as_str() {
            "openai" => {
                openai::complete(&self.client, &self.settings.openai_base_url, &request).await?
            }
            "anthropic" => {
                anthropic::complete(&self.client, &self.settings.anthropic_base_url, &request)
                    .await?
            }
            "google" => {
                gemini::complete(&self.client, &self.settings.gemini_base_url, &request).await?
            }
            "cohere" => {
                cohere::complete(&self.client, &self.settings.cohere_base_url, &request).await?
            }
            other => match self.settings.compatible.get(other) {
                Some(base) => {
                    openai::complete_compatible(&self.client, other, base, &request).await?
                }
                None => {
                    return Err(StepError::permanent(format!(
                        "there is no provider {other:?} (Baton calls openai, anthropic, google, cohere{})",
                        self.settings
                            .compatible
                            .keys()
                            .map(|id| format!(", {id}"))
                            .collect::<String>()
                    )));
                }
            },
        };
        let cost = match request
            .price
            .or_else(|| prices::list_price(&request.provider, &answer.model))
            .or_else(|| prices::list_price(&request.provider, &request.model))
        {
            Some(price) => price.cost(answer.usage),
            None => {
                tracing::warn!(provider = %request.provider, model = %answer.model, "no list price for this model; its cost is recorded as 0");
                baton_core::Usd::ZERO
            }
        };
        Ok(LlmResponse {
            text: answer.text,
            tool_calls: answer.tool_calls,
            model: answer.model,
            usage: answer.usage,
            cost,
        })
    }
}
