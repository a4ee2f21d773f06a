//! OpenAI's Chat Completions (`POST {base}/chat/completions`), which OpenAI-compatible servers
//! (Ollama, vLLM, LM Studio, llama.cpp, Groq, Together) speak too.

use baton_core::execution::TokenUsage;
use baton_engine::StepError;
use baton_engine::provider::LlmRequest;
use serde_json::Value;

use super::{Answer, api_key, chat_body, exchange, tokens};

/// How OpenAI's own API takes the answer's length (`max_tokens` is deprecated there, and
/// refused by its reasoning models).
const MAX_TOKENS_OPENAI: &str = "max_completion_tokens";
/// How OpenAI-compatible servers take it: llama.cpp, vLLM, Ollama, Groq and the like ignore
/// `max_completion_tokens`.
const MAX_TOKENS_COMPATIBLE: &str = "max_tokens";

pub(super) async fn complete(
    client: &reqwest::Client,
    base: &str,
    request: &LlmRequest,
) -> Result<Answer, StepError> {
    let key = api_key(request, "openai")?;
    chat(
        client,
        "openai",
        base,
        Some(key),
        request,
        MAX_TOKENS_OPENAI,
    )
    .await
}

/// An OpenAI-compatible server the operator named `provider`: its key is the provider's
/// credential when the organization stored one (Groq, Together); local servers (Ollama, vLLM)
/// take none.
pub(super) async fn complete_compatible(
    client: &reqwest::Client,
    provider: &str,
    base: &str,
    request: &LlmRequest,
) -> Result<Answer, StepError> {
    let key = request
        .secret
        .as_ref()
        .and_then(|secret| secret.text("api_key"));
    chat(client, provider, base, key, request, MAX_TOKENS_COMPATIBLE).await
}

async fn chat(
    client: &reqwest::Client,
    provider: &str,
    base: &str,
    key: Option<&str>,
    request: &LlmRequest,
    max_tokens_field: &str,
) -> Result<Answer, StepError> {
    // The request body, as `CreateChatCompletionRequest` describes it.
    let mut call = client
        .post(format!("{}/chat/completions", base.trim_end_matches('/')))
        .json(&chat_body(request, max_tokens_field));
    if let Some(key) = key {
        call = call.bearer_auth(key);
    }
    let answer = exchange(provider, call).await?;
    let text = answer
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            match answer
                .pointer("/choices/0/message/refusal")
                .and_then(Value::as_str)
            {
                Some(refusal) => StepError::permanent(format!("the model refused: {refusal}")),
                None => StepError::transient(format!("{provider}'s answer has no message content")),
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
