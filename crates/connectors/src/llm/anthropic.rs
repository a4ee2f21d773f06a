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

/// The conversation as Messages: an assistant's calls are `tool_use` blocks, and the results
/// that answer them one `user` message of `tool_result` blocks.
fn messages(request: &LlmRequest) -> Vec<Value> {
    use baton_engine::provider::TurnRole;
    let mut messages: Vec<Value> = Vec::new();
    for turn in &request.turns {
        match (turn.role, &turn.result) {
            (TurnRole::Tool, Some(result)) => {
                let block = json!({"type": "tool_result", "tool_use_id": result.call_id, "content": result.content.to_string()});
                match messages.last_mut() {
                    Some(last) if last["role"] == "user" && last["content"].is_array() => {
                        if let Some(blocks) = last["content"].as_array_mut() {
                            blocks.push(block);
                        }
                    }
                    _ => messages.push(json!({"role": "user", "content": [block]})),
                }
            }
            (TurnRole::Assistant, _) if !turn.calls.is_empty() => {
                let mut blocks = Vec::new();
                if !turn.text.is_empty() {
                    blocks.push(json!({"type": "text", "text": turn.text}));
                }
                blocks.extend(turn.calls.iter().map(|call| {
                    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
                }));
                messages.push(json!({"role": "assistant", "content": blocks}));
            }
            (TurnRole::Assistant, _) => {
                messages.push(json!({"role": "assistant", "content": turn.text}))
            }
            _ => messages.push(json!({"role": "user", "content": turn.text})),
        }
    }
    if super::has_prompt(request) {
        messages.push(json!({"role": "user", "content": request.prompt}));
    }
    messages
}

pub(super) fn body(request: &LlmRequest) -> Value {
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages(request),
    });
    let mut system = request.system.clone().unwrap_or_default();
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.parameters}))
            .collect();
    }
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
    let tool_calls = blocks
        .iter()
        .filter(|block| {
            block["type"] == "tool_use"
                && request
                    .tools
                    .iter()
                    .any(|tool| block["name"] == tool.name.as_str())
        })
        .map(|block| baton_engine::provider::ToolCall {
            id: block["id"].as_str().unwrap_or_default().to_owned(),
            name: block["name"].as_str().unwrap_or_default().to_owned(),
            arguments: block["input"].clone(),
        })
        .collect();
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
        tool_calls,
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
