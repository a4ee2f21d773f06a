//! OpenAI's Chat Completions (`POST {base}/chat/completions`), which OpenAI-compatible servers
//! (Ollama, vLLM, LM Studio, llama.cpp, Groq, Together) speak too.

use baton_core::execution::TokenUsage;
use baton_engine::StepError;
use baton_engine::provider::LlmRequest;
use serde_json::Value;

use super::{Answer, Dialect, api_key, chat_body, exchange, tokens};

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
        (MAX_TOKENS_OPENAI, Dialect::OpenAi),
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
    chat(
        client,
        provider,
        base,
        key,
        request,
        (MAX_TOKENS_COMPATIBLE, Dialect::Compatible),
    )
    .await
}

async fn chat(
    client: &reqwest::Client,
    provider: &str,
    base: &str,
    key: Option<&str>,
    request: &LlmRequest,
    (max_tokens_field, dialect): (&str, Dialect),
) -> Result<Answer, StepError> {
    // The request body, as `CreateChatCompletionRequest` describes it.
    let mut call = client
        .post(format!("{}/chat/completions", base.trim_end_matches('/')))
        .json(&chat_body(request, max_tokens_field, dialect));
    if let Some(key) = key {
        call = call.bearer_auth(key);
    }
    let answer = exchange(provider, call).await?;
    let tool_calls = tool_calls_of(&answer);
    let text = answer
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .or_else(|| (!tool_calls.is_empty()).then_some(""))
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
        tool_calls,
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

/// A turn of the conversation as a Chat Completions message: a tool call's result is a `tool`
/// message, an assistant's calls its `tool_calls` (their arguments as JSON text).
pub(super) fn message_of(turn: &baton_engine::provider::Turn) -> Value {
    use baton_engine::provider::TurnRole;
    match (turn.role, &turn.result) {
        (TurnRole::Tool, Some(result)) => serde_json::json!({
            "role": "tool", "tool_call_id": result.call_id, "content": result.content.to_string()}),
        (TurnRole::Assistant, _) if !turn.calls.is_empty() => serde_json::json!({
            "role": "assistant",
            "content": if turn.text.is_empty() { Value::Null } else { Value::String(turn.text.clone()) },
            "tool_calls": turn.calls.iter().map(|call| serde_json::json!({
                "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments.to_string()}})).collect::<Vec<_>>(),
        }),
        (role, _) => serde_json::json!({"role": role, "content": turn.text}),
    }
}

/// The tools a Chat Completions answer called, their arguments read from their JSON text.
fn tool_calls_of(answer: &Value) -> Vec<baton_engine::provider::ToolCall> {
    answer
        .pointer("/choices/0/message/tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|call| call["type"] == "function")
        .map(|call| baton_engine::provider::ToolCall {
            id: call["id"].as_str().unwrap_or_default().to_owned(),
            name: call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            arguments: call
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or(Value::Object(Default::default())),
        })
        .collect()
}

/// OpenAI's `response_format` for a schema: `json_schema`, strict (the answer held to the
/// schema exactly) when the schema is one strict mode takes: every object closed
/// (`additionalProperties` false, which is added where unsaid) with all its properties
/// required. Otherwise the schema guides the model and Baton's own check holds it.
pub(super) fn json_schema_format(schema: &Value) -> Value {
    let mut closed = schema.clone();
    let strict = close_objects(&mut closed);
    serde_json::json!({
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "schema": if strict { closed } else { schema.clone() },
            "strict": strict,
        }
    })
}

/// Closes every object in a schema that does not say otherwise; whether strict mode takes it.
fn close_objects(schema: &mut Value) -> bool {
    let Value::Object(fields) = schema else {
        return true;
    };
    let mut strict = true;
    if fields.get("type") == Some(&Value::String("object".into()))
        || fields.contains_key("properties")
    {
        match fields.get("additionalProperties") {
            None => {
                fields.insert("additionalProperties".into(), Value::Bool(false));
            }
            Some(Value::Bool(false)) => {}
            Some(_) => strict = false,
        }
        let required: Vec<&str> = fields
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(properties) = fields.get("properties").and_then(Value::as_object)
            && properties
                .keys()
                .any(|name| !required.contains(&name.as_str()))
        {
            strict = false;
        }
    }
    // Every child is closed, whether or not an earlier one already made it not strict.
    for (name, value) in fields.iter_mut() {
        let children: Vec<&mut Value> = match (name.as_str(), value) {
            ("properties" | "$defs" | "definitions", Value::Object(children)) => {
                children.values_mut().collect()
            }
            ("items", child) => vec![child],
            ("anyOf" | "allOf" | "oneOf" | "prefixItems", Value::Array(children)) => {
                children.iter_mut().collect()
            }
            _ => Vec::new(),
        };
        for child in children {
            strict &= close_objects(child);
        }
    }
    strict
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schema_with_every_field_required_is_sent_strict_and_closed() {
        let format = json_schema_format(&json!({
            "type": "object",
            "properties": {
                "draft": {"type": "string"},
                "lines": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}
            },
            "required": ["draft", "lines"]
        }));
        assert_eq!(format["json_schema"]["strict"], true);
        let schema = &format["json_schema"]["schema"];
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["lines"]["items"]["additionalProperties"],
            false
        );
    }

    #[test]
    fn a_schema_with_optional_fields_is_sent_as_written_and_not_strict() {
        let schema = json!({"type": "object", "properties": {"draft": {"type": "string"}, "note": {"type": "string"}}, "required": ["draft"]});
        let format = json_schema_format(&schema);
        assert_eq!(format["json_schema"]["strict"], false);
        assert_eq!(format["json_schema"]["schema"], schema);
    }
}
