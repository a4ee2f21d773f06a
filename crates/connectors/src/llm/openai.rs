//! OpenAI's Chat Completions (`POST {base}/chat/completions`), which OpenAI-compatible servers
//! (Ollama, vLLM, LM Studio, llama.cpp, Groq, Together) speak too.

use baton_core::execution::TokenUsage;
use baton_engine::StepError;
use baton_engine::provider::LlmRequest;
use serde_json::{Value, json};

use super::{Answer, api_key, exchange, tokens};

/// The request body, as `CreateChatCompletionRequest` describes it.
pub(super) fn body(request: &LlmRequest) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &request.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": request.prompt}));
    let mut body = json!({"model": request.model, "messages": messages});
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(max_tokens) = request.max_tokens {
        body["max_completion_tokens"] = json!(max_tokens);
    }
    if request.json {
        body["response_format"] = json!({"type": "json_object"});
    }
    body
}

pub(super) async fn complete(
    client: &reqwest::Client,
    base: &str,
    request: &LlmRequest,
) -> Result<Answer, StepError> {
    let key = api_key(request, "openai")?;
    let answer = exchange(
        "openai",
        client
            .post(format!("{}/chat/completions", base.trim_end_matches('/')))
            .bearer_auth(key)
            .json(&body(request)),
    )
    .await?;
    let text = answer
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            match answer
                .pointer("/choices/0/message/refusal")
                .and_then(Value::as_str)
            {
                Some(refusal) => StepError::permanent(format!("the model refused: {refusal}")),
                None => StepError::transient("openai's answer has no message content"),
            }
        })?;
    Ok(Answer {
        text: text.to_owned(),
        model: answer["model"]
            .as_str()
            .unwrap_or(&request.model)
            .to_owned(),
        usage: TokenUsage {
            input_tokens: tokens(answer.pointer("/usage/prompt_tokens")),
            output_tokens: tokens(answer.pointer("/usage/completion_tokens")),
        },
    })
}
