//! Cohere's Chat API v2 (`POST {base}/v2/chat`).

use baton_core::execution::TokenUsage;
use baton_engine::StepError;
use baton_engine::provider::LlmRequest;
use serde_json::Value;

use super::{Answer, Dialect, api_key, chat_body, exchange, tokens};

pub(super) fn body(request: &LlmRequest) -> Value {
    chat_body(request, "max_tokens", Dialect::Cohere)
}

pub(super) async fn complete(
    client: &reqwest::Client,
    base: &str,
    request: &LlmRequest,
) -> Result<Answer, StepError> {
    if !request.tools.is_empty() {
        return Err(StepError::permanent(
            "Baton does not give Cohere's models tools yet: use an OpenAI, Anthropic or Google model for an agent step",
        ));
    }
    let key = api_key(request, "cohere")?;
    let answer = exchange(
        "cohere",
        client
            .post(format!("{}/v2/chat", base.trim_end_matches('/')))
            .bearer_auth(key)
            .json(&body(request)),
    )
    .await?;
    let parts = answer
        .pointer("/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| StepError::transient("cohere's answer has no message content"))?;
    let text: String = parts
        .iter()
        .filter(|part| part["type"] == "text")
        .filter_map(|part| part["text"].as_str())
        .collect();
    let usage = answer
        .pointer("/usage/tokens")
        .or_else(|| answer.pointer("/usage/billed_units"));
    Ok(Answer {
        text,
        tool_calls: Vec::new(),
        model: request.model.clone(),
        usage: TokenUsage {
            input_tokens: tokens(usage.and_then(|usage| usage.get("input_tokens"))),
            output_tokens: tokens(usage.and_then(|usage| usage.get("output_tokens"))),
        },
    })
}
