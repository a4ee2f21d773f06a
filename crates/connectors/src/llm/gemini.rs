//! Google's Gemini API (`POST {base}/v1beta/models/{model}:generateContent`), in the proto3
//! JSON mapping of `GenerateContentRequest` / `GenerateContentResponse`.

use baton_core::execution::TokenUsage;
use baton_engine::StepError;
use baton_engine::provider::{LlmRequest, TurnRole};
use serde_json::{Value, json};

use super::{Answer, api_key, exchange, tokens};

pub(super) fn body(request: &LlmRequest) -> Value {
    let mut body = json!({
        "contents": request
            .turns
            .iter()
            .map(|turn| {
                let role = match turn.role {
                    TurnRole::User => "user",
                    TurnRole::Assistant => "model",
                };
                json!({"role": role, "parts": [{"text": turn.text}]})
            })
            .chain(std::iter::once(json!({"role": "user", "parts": [{"text": request.prompt}]})))
            .collect::<Vec<_>>(),
    });
    if let Some(system) = &request.system {
        body["systemInstruction"] = json!({"parts": [{"text": system}]});
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
    let text: String = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|part| part["text"].as_str())
        .collect();
    if text.is_empty() && candidate["finishReason"] == "SAFETY" {
        return Err(StepError::permanent(
            "google withheld the answer for safety",
        ));
    }
    Ok(Answer {
        text,
        model: answer["modelVersion"].as_str().unwrap_or(model).to_owned(),
        usage: TokenUsage {
            input_tokens: tokens(answer.pointer("/usageMetadata/promptTokenCount")),
            output_tokens: tokens(answer.pointer("/usageMetadata/candidatesTokenCount")),
        },
    })
}
