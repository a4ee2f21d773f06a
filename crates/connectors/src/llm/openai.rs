//! OpenAI's Chat Completions (`POST {base}/chat/completions`), which OpenAI-compatible servers
//! (Ollama, vLLM, LM Studio, llama.cpp, Groq, Together) speak too.

use baton_core::execution::TokenUsage;
use baton_engine::StepError;
use baton_engine::provider::LlmRequest;
use serde_json::Value;

use super::{Answer, api_key, chat_body, exchange, tokens};

/// The request body, as `CreateChatCompletionRequest` describes it.
pub(super) fn body(request: &LlmRequest) -> Value {
    chat_body(request, "max_completion_tokens")
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
