//! Google's Gemini API (`POST {base}/v1beta/models/{model}:generateContent`), in the proto3
//! JSON mapping of `GenerateContentRequest` / `GenerateContentResponse`.

use baton_core::execution::TokenUsage;
use baton_engine::StepError;
use baton_engine::provider::{LlmRequest, TurnRole};
use serde_json::{Value, json};

use super::{Answer, api_key, exchange, tokens};

/// The conversation as contents: the model's calls are `functionCall` parts, and the results
/// that answer them one `user` content of `functionResponse` parts.
fn contents(request: &LlmRequest) -> Vec<Value> {
    let mut contents: Vec<Value> = Vec::new();
    for turn in &request.turns {
        match (turn.role, &turn.result) {
            (TurnRole::Tool, Some(result)) => {
                let part = json!({"functionResponse": {"name": result.name, "response": {"result": result.content}}});
                match contents.last_mut() {
                    Some(last)
                        if last["role"] == "user"
                            && last["parts"][0].get("functionResponse").is_some() =>
                    {
                        if let Some(parts) = last["parts"].as_array_mut() {
                            parts.push(part);
                        }
                    }
                    _ => contents.push(json!({"role": "user", "parts": [part]})),
                }
            }
            (TurnRole::Assistant, _) => {
                let mut parts = Vec::new();
                if !turn.text.is_empty() {
                    parts.push(json!({"text": turn.text}));
                }
                parts.extend(turn.calls.iter().map(
                    |call| json!({"functionCall": {"name": call.name, "args": call.arguments}}),
                ));
                contents.push(json!({"role": "model", "parts": parts}));
            }
            _ => contents.push(json!({"role": "user", "parts": [{"text": turn.text}]})),
        }
    }
    if super::has_prompt(request) {
        contents.push(json!({"role": "user", "parts": [{"text": request.prompt}]}));
    }
    contents
}

pub(super) fn body(request: &LlmRequest) -> Value {
    let mut body = json!({
        "contents": contents(request),
    });
    if let Some(system) = &request.system {
        body["systemInstruction"] = json!({"parts": [{"text": system}]});
    }
    if !request.tools.is_empty() {
        body["tools"] = json!([{"functionDeclarations": request.tools.iter().map(|tool| json!({
            "name": tool.name, "description": tool.description, "parametersJsonSchema": tool.parameters})).collect::<Vec<_>>()}]);
    }
    let mut config = serde_json::Map::new();
    if let Some(temperature) = request.temperature {
        config.insert("temperature".into(), json!(temperature));
    }
    if let Some(max_tokens) = request.max_tokens {
        config.insert("maxOutputTokens".into(), json!(max_tokens));
    }
    if request.json {
        config.insert("responseMimeType".into(), json!("application/json"));
    }
    if let Some(schema) = &request.schema {
        // JSON Schema as it is (the `Schema` of `responseSchema` is OpenAPI's subset).
        config.insert("responseJsonSchema".into(), schema.clone());
    }
    if !config.is_empty() {
        body["generationConfig"] = Value::Object(config);
    }
    body
}

pub(super) async fn complete(
    client: &reqwest::Client,
    base: &str,
    request: &LlmRequest,
) -> Result<Answer, StepError> {
    let key = api_key(request, "google")?;
    let model = request.model.trim_start_matches("models/");
    let answer = exchange(
        "google",
        client
            .post(format!(
                "{}/v1beta/models/{model}:generateContent",
                base.trim_end_matches('/')
            ))
            .header("x-goog-api-key", key)
            .json(&body(request)),
    )
    .await?;
    let candidate = answer.pointer("/candidates/0").ok_or_else(|| {
        match answer
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
        {
            Some(reason) => StepError::permanent(format!("google blocked the prompt ({reason})")),
            None => StepError::transient("google's answer has no candidate"),
        }
    })?;
    let parts = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let text: String = parts
        .iter()
        .filter_map(|part| part["text"].as_str())
        .collect();
    let tool_calls = parts
        .iter()
        .filter_map(|part| part.get("functionCall"))
        .enumerate()
        .map(|(index, call)| baton_engine::provider::ToolCall {
            id: call["id"]
                .as_str()
                .map_or_else(|| format!("call_{}", index + 1), str::to_owned),
            name: call["name"].as_str().unwrap_or_default().to_owned(),
            arguments: call.get("args").cloned().unwrap_or(json!({})),
        })
        .collect::<Vec<_>>();
    if text.is_empty() && tool_calls.is_empty() && candidate["finishReason"] == "SAFETY" {
        return Err(StepError::permanent(
            "google withheld the answer for safety",
        ));
    }
    Ok(Answer {
        text,
        tool_calls,
        model: answer["modelVersion"].as_str().unwrap_or(model).to_owned(),
        usage: TokenUsage {
            input_tokens: tokens(answer.pointer("/usageMetadata/promptTokenCount")),
            output_tokens: tokens(answer.pointer("/usageMetadata/candidatesTokenCount")),
        },
    })
}
