//! The language-model boundary: the `llm` step asks an [`LlmProvider`]; the connectors supply
//! the real ones (OpenAI, Anthropic, Gemini, Cohere, OpenAI-compatible servers).

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use baton_core::execution::TokenUsage;
use baton_core::{OrgId, Usd};
use serde::Serialize;

use crate::error::StepError;

/// One call to a model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlmRequest {
    /// The organization the run belongs to (its rate limits, its budget).
    pub org_id: OrgId,
    pub provider: String,
    pub model: String,
    pub system: Option<String>,
    /// The conversation before the prompt, oldest first (a chat's history through the
    /// gateway); steps send none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<Turn>,
    pub prompt: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub json: bool,
    /// Tools the model may call instead of answering (an agent step's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// The JSON Schema the answer must match (the step's `output_schema`), asked of the
    /// provider in its own way; `json` is set with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// Stable across retries and resumes of the same step.
    pub idempotency_key: String,
    /// The organization's credential for the provider (`{"api_key": ...}`), resolved just
    /// before the call; never stored with the step.
    #[serde(skip)]
    pub secret: Option<crate::connector::Secret>,
    /// The organization's own price for this model, when it set one over the list price.
    pub price: Option<baton_core::price::Price>,
}

/// One message of a conversation before the prompt.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Turn {
    pub role: TurnRole,
    pub text: String,
    /// The tools an assistant's turn called.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<ToolCall>,
    /// A tool's result, in a `Tool` turn: the call it answers, and what it gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ToolResult>,
}

impl Turn {
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: TurnRole::User,
            text: text.into(),
            calls: Vec::new(),
            result: None,
        }
    }

    pub fn assistant(text: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            role: TurnRole::Assistant,
            text: text.into(),
            calls,
            result: None,
        }
    }

    pub fn tool(result: ToolResult) -> Self {
        Self {
            role: TurnRole::Tool,
            text: String::new(),
            calls: Vec::new(),
            result: Some(result),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnRole {
    User,
    Assistant,
    Tool,
}

/// A tool a model may call: its name, what it does, and its arguments' JSON Schema.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// A model's call of a tool.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (made up where the provider gives none).
    pub id: String,
    pub name: String,
    pub arguments: serde_json::Value,
}

/// What a tool call gave, for the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolResult {
    pub call_id: String,
    pub name: String,
    pub content: serde_json::Value,
}

/// What a model answered, with the tokens its provider counted.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmResponse {
    pub text: String,
    /// The tools the model called, when it was given some and chose to.
    pub tool_calls: Vec<ToolCall>,
    pub model: String,
    pub usage: TokenUsage,
    pub cost: Usd,
}

#[async_trait]
pub trait LlmProvider: Send + Sync {
    async fn complete(&self, request: LlmRequest) -> Result<LlmResponse, StepError>;
    /// What the call may cost at most, when the provider can tell before making it (its
    /// prompt's tokens, roughly, and `max_tokens` of answer at the model's list price).
    fn estimate(&self, _request: &LlmRequest) -> Option<Usd> {
        None
    }
    /// The ids of the OpenAI-compatible servers configured, which steps may name as their
    /// `provider` besides the built-in ones.
    fn compatible_servers(&self) -> Vec<String> {
        Vec::new()
    }
    /// Checks an API key for `provider` with its cheapest call (listing its models); what the
    /// provider says of it.
    async fn check_key(
        &self,
        provider: &str,
        _secret: &crate::connector::Secret,
    ) -> Result<serde_json::Value, StepError> {
        Err(StepError::permanent(format!(
            "{provider} has no way to check a key here"
        )))
    }
}

/// A provider that answers from a script, in order: for tests and offline runs.
#[derive(Default)]
pub struct ScriptedProvider {
    answers: Mutex<VecDeque<Result<LlmResponse, StepError>>>,
    requests: Mutex<Vec<LlmRequest>>,
}

impl ScriptedProvider {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues an answer with the given text and token counts, costing one micro-dollar a token.
    pub fn answer(&self, text: &str, input_tokens: i64, output_tokens: i64) -> &Self {
        self.push(Ok(LlmResponse {
            text: text.to_owned(),
            tool_calls: Vec::new(),
            model: String::new(),
            usage: TokenUsage {
                input_tokens,
                output_tokens,
            },
            cost: Usd::from_micros(input_tokens + output_tokens),
        }))
    }

    /// Queues an answer that calls tools, costing one micro-dollar a token.
    pub fn call_tools(&self, calls: Vec<ToolCall>, input_tokens: i64, output_tokens: i64) -> &Self {
        self.push(Ok(LlmResponse {
            text: String::new(),
            tool_calls: calls,
            model: String::new(),
            usage: TokenUsage {
                input_tokens,
                output_tokens,
            },
            cost: Usd::from_micros(input_tokens + output_tokens),
        }))
    }

    pub fn fail(&self, error: StepError) -> &Self {
        self.push(Err(error))
    }

    fn push(&self, answer: Result<LlmResponse, StepError>) -> &Self {
        self.answers.lock().expect("script lock").push_back(answer);
        self
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<LlmRequest> {
        self.requests.lock().expect("requests lock").clone()
    }
}

#[async_trait]
impl LlmProvider for ScriptedProvider {
    async fn complete(&self, request: LlmRequest) -> Result<LlmResponse, StepError> {
        let model = request.model.clone();
        self.requests.lock().expect("requests lock").push(request);
        let answer = self.answers.lock().expect("script lock").pop_front();
        match answer {
            Some(Ok(mut response)) => {
                if response.model.is_empty() {
                    response.model = model;
                }
                Ok(response)
            }
            Some(Err(error)) => Err(error),
            None => Err(StepError::permanent(
                "the scripted provider has no answer left",
            )),
        }
    }
}

/// Used when no provider is configured: every call fails with a message saying so.
pub struct NoProvider;

#[async_trait]
impl LlmProvider for NoProvider {
    async fn complete(&self, request: LlmRequest) -> Result<LlmResponse, StepError> {
        Err(StepError::permanent(format!(
            "no connection to {} is configured for model {:?}",
            request.provider, request.model
        )))
    }
}
