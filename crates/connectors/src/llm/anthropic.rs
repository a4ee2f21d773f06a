//! Anthropic's Messages API (`POST {base}/v1/messages`).

use baton_core::execution::TokenUsage;
use baton_engine::StepError;
use baton_engine::provider::LlmRequest;
use serde_json::{Value, json};

use super::{Answer, api_key, exchange, tokens};

pub(super) const VERSION: &str = "2023-06-01";
/// The tool whose input is a structured answer.
const ANSWER_TOOL: &str = "answer";
/// Anthropic requires `max_tokens`; this is used when the step sets none.
const DEFAULT_MAX_TOKENS: u32 = 4096;

pub(super) fn body(request: &LlmRequest) -> Value {
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": request
            .turns
            .iter()
            .map(|turn| json!({"role": turn.role, "content": turn.text}))
            .chain(std::iter::once(json!({"role": "user", "content": request.prompt})))
            .collect::<Vec<_>>(),
    });
    let mut system = request.system.clone().unwrap_or_default();
    if let Some(schema) = &request.schema {
        // The Messages API holds a tool's input to its schema: the answer is the input of
        // the one tool the model must use.
        body["tools"] = json!([{
            "name": ANSWER_TOOL,
            "description": "Give your answer, in the shape asked for.",
            "input_schema": schema,
        }]);
        body["tool_choice"] = json!({"type": "tool", "name": ANSWER_TOOL});
    } else if request.json {
        // The Messages API has no JSON switch: ask for it.
        if !system.is_empty() {
            system.push_str("\n\n");
        }
        system.push_str("Answer with one JSON value only, and nothing else.");
    }
    if !system.is_empty() {
        body["system"] = json!(system);
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    body
}

pub(super) async fn complete(
    client: &reqwest::Client,
    base: &str,
    request: &LlmRequest,
) -> Result<Answer, StepError> {
    let key = api_key(request, "anthropic")?;
    let answer = exchange(
        "anthropic",
        client
            .post(format!("{}/v1/messages", base.trim_end_matches('/')))
            .header("x-api-key", key)
            .header("anthropic-version", VERSION)
            .json(&body(request)),
    )
    .await?;
    let blocks = answer["content"]
        .as_array()
        .ok_or_else(|| StepError::transient("anthropic's answer has no content"))?;
    let answered = blocks
        .iter()
        .find(|block| block["type"] == "tool_use" && block["name"] == ANSWER_TOOL)
        .filter(|_| request.schema.is_some());
    let text: String = match answered {
        Some(block) => block["input"].to_string(),
        None => blocks
            .iter()
            .filter(|block| block["type"] == "text")
            .filter_map(|block| block["text"].as_str())
            .collect(),
    };
    Ok(Answer {
        text,
        model: answer["model"]
            .as_str()
            .unwrap_or(&request.model)
            .to_owned(),
        usage: TokenUsage {
            input_tokens: tokens(answer.pointer("/usage/input_tokens")),
            output_tokens: tokens(answer.pointer("/usage/output_tokens")),
        },
    })
}
