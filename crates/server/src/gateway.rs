//! The OpenAI-compatible gateway: an organization's own apps call `POST /v1/chat/completions`
//! and `GET /v1/models` with a Baton API key, as they would call OpenAI, and reach any of the
//! organization's providers by model name (`openai/gpt-4o`, `anthropic/claude-sonnet-4-5`,
//! `local/llama3.2`). Each call goes the way a workflow's `llm` step goes: the organization's
//! credential for the provider, its prices and monthly budget, the provider's circuit, and
//! the fallbacks the request lists; its tokens and cost are recorded against the key.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use baton_core::policy::Action;
use baton_core::price::AiCall;
use baton_engine::provider::{LlmRequest, Turn, TurnRole};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::guard::{Actor, Authenticated};
use crate::error::ApiError;
use crate::request::JsonBody;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/api/v1/ai/usage", get(usage))
}

/// The providers Baton calls itself; configured servers come besides.
const PROVIDERS: [&str; 4] = ["openai", "anthropic", "google", "cohere"];

/// A chat completion request, as OpenAI's `CreateChatCompletionRequest` has it; fields the
/// gateway does not act on (`n`, `tools`, `logprobs`...) are refused rather than ignored when
/// they would change the answer.
#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct ChatRequest {
    /// `provider/model` (`openai/gpt-4o-mini`, `local/llama3.2`), or a model whose provider its
    /// name tells (`gpt-4o-mini`, `claude-sonnet-4-5`).
    model: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    /// `{"type": "json_object"}`, or `{"type": "json_schema", "json_schema": {"schema": ...}}`.
    #[serde(default)]
    response_format: Option<Value>,
    /// Models to ask in turn when the model's provider fails for a passing reason, as a
    /// workflow step's `fallback` (Baton's own field).
    #[serde(default)]
    fallback: Vec<String>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    tools: Option<Value>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct ChatMessage {
    /// `system` (or `developer`), `user` or `assistant`.
    role: String,
    /// Text, or a list of parts of which the `text` ones are read.
    #[serde(default)]
    content: Value,
}

fn invalid(path: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid("the chat request is invalid", path, message)
}

/// The text of a message's content: a string, or its text parts joined.
fn text_of(content: &Value, path: &str) -> Result<String, ApiError> {
    match content {
        Value::String(text) => Ok(text.clone()),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(
                |(index, part)| match (part["type"].as_str(), part["text"].as_str()) {
                    (Some("text"), Some(text)) => Ok(text.to_owned()),
                    _ => Err(invalid(
                        &format!("{path}[{index}]"),
                        "only text parts are taken",
                    )),
                },
            )
            .collect::<Result<Vec<_>, _>>()
            .map(|texts| texts.join("\n")),
        _ => Err(invalid(path, "must be text or a list of text parts")),
    }
}

/// `provider/model` or a model whose provider its name tells, among those configured.
fn route(model: &str, servers: &[String], path: &str) -> Result<(String, String), ApiError> {
    if let Some((provider, name)) = model.split_once('/')
        && (PROVIDERS.contains(&provider) || servers.iter().any(|server| server == provider))
        && !name.is_empty()
    {
        return Ok((provider.to_owned(), name.to_owned()));
    }
    match baton_engine::model::infer_provider(model) {
        Some(provider) => Ok((provider.to_owned(), model.to_owned())),
        None => Err(invalid(
            path,
            format!(
                "unknown model {model:?}: write it as provider/model ({}{})",
                PROVIDERS.join(", "),
                servers
                    .iter()
                    .map(|server| format!(", {server}"))
                    .collect::<String>()
            ),
        )),
    }
}

/// The model request a chat request makes: system messages joined, the last user message as
/// the prompt, those between as turns.
fn request_of(
    body: &ChatRequest,
    org: baton_core::OrgId,
    servers: &[String],
) -> Result<(LlmRequest, Vec<(String, String)>), ApiError> {
    if body.n.is_some_and(|n| n != 1) {
        return Err(invalid("$.n", "the gateway answers one choice"));
    }
    if body.tools.as_ref().is_some_and(|tools| !tools.is_null()) {
        return Err(invalid("$.tools", "the gateway does not pass tools on yet"));
    }
    let (provider, model) = route(&body.model, servers, "$.model")?;
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for (index, message) in body.messages.iter().enumerate() {
        let path = format!("$.messages[{index}]");
        let text = text_of(&message.content, &format!("{path}.content"))?;
        match message.role.as_str() {
            "system" | "developer" => system.push(text),
            "user" => turns.push(Turn::user(text)),
            "assistant" => turns.push(Turn::assistant(text, Vec::new())),
            other => {
                return Err(invalid(
                    &format!("{path}.role"),
                    format!(
                        "{other:?}: the gateway takes system, developer, user and assistant messages"
                    ),
                ));
            }
        }
    }
    let prompt = match turns.pop() {
        Some(Turn {
            role: TurnRole::User,
            text,
            ..
        }) => text,
        _ => {
            return Err(invalid(
                "$.messages",
                "the last message must be the user's (role \"user\")",
            ));
        }
    };
    let (json, schema) = match body
        .response_format
        .as_ref()
        .map(|format| (format["type"].as_str(), format))
    {
        None | Some((Some("text"), _)) => (false, None),
        Some((Some("json_object"), _)) => (true, None),
        Some((Some("json_schema"), format)) => {
            let schema = format
                .pointer("/json_schema/schema")
                .cloned()
                .ok_or_else(|| invalid("$.response_format.json_schema.schema", "is missing"))?;
            (true, Some(schema))
        }
        Some(_) => {
            return Err(invalid(
                "$.response_format.type",
                "must be text, json_object or json_schema",
            ));
        }
    };
    let fallbacks = body
        .fallback
        .iter()
        .enumerate()
        .map(|(index, entry)| route(entry, servers, &format!("$.fallback[{index}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        LlmRequest {
            org_id: org,
            provider,
            model,
            system: (!system.is_empty()).then(|| system.join("\n\n")),
            turns,
            prompt,
            temperature: body.temperature,
            max_tokens: body.max_completion_tokens.or(body.max_tokens),
            json,
            tools: Vec::new(),
            schema,
            idempotency_key: format!("gateway:{}", baton_core::ExecutionId::new()),
            secret: None,
            price: None,
        },
        fallbacks,
    ))
}

/// The API key a gateway call comes with; a person's session is not one.
fn api_key(signed_in: &Authenticated) -> Result<baton_core::ApiKeyId, ApiError> {
    match signed_in.actor {
        Actor::ApiKey { id, .. } => Ok(id),
        Actor::User { .. } => Err(ApiError::ForbiddenBecause(
            "the gateway is called with a Baton API key (Settings → API keys), as an app calls OpenAI with its key",
        )),
    }
}

async fn chat(
    State(state): State<AppState>,
    signed_in: Authenticated,
    JsonBody(body): JsonBody<ChatRequest>,
) -> Result<Response, ApiError> {
    let key = api_key(&signed_in)?;
    // Spending the organization's AI budget is for those who may make workflows, not Viewers.
    signed_in.require(Action::CreateWorkflow)?;
    let servers = state.runtime.engine.compatible_servers();
    let (request, fallbacks) = request_of(&body, signed_in.org, &servers)?;
    let started = std::time::Instant::now();
    let answered = state
        .runtime
        .engine
        .ask_in_turn(&request, &fallbacks, &format!("gateway key {key}"))
        .await
        .map_err(|error| ApiError::ModelFailed {
            message: format!("{}/{}: {}", request.provider, request.model, error.message),
        })?;
    state
        .store
        .record_ai_call(&AiCall {
            org_id: signed_in.org,
            source: "gateway".into(),
            api_key_id: Some(key),
            provider: answered.request.provider.clone(),
            model: answered.response.model.clone(),
            usage: answered.response.usage,
            cost: answered.response.cost,
        })
        .await?;
    tracing::info!(
        key = %key,
        provider = %answered.request.provider,
        model = %answered.response.model,
        input_tokens = answered.response.usage.input_tokens,
        output_tokens = answered.response.usage.output_tokens,
        cost_micros = answered.response.cost.micros(),
        latency_ms = started.elapsed().as_millis() as u64,
        "a gateway call was answered"
    );
    let id = format!(
        "chatcmpl-{}",
        baton_core::ExecutionId::new().as_uuid().simple()
    );
    let created = chrono::Utc::now().timestamp();
    let model = format!("{}/{}", answered.request.provider, answered.response.model);
    let usage = json!({
        "prompt_tokens": answered.response.usage.input_tokens,
        "completion_tokens": answered.response.usage.output_tokens,
        "total_tokens": answered.response.usage.input_tokens + answered.response.usage.output_tokens,
    });
    let mut headers = HeaderMap::new();
    if let Ok(cost) = HeaderValue::from_str(&format!("{:.6}", answered.response.cost.dollars())) {
        headers.insert("x-baton-cost-usd", cost);
    }
    if let Ok(provider) = HeaderValue::from_str(&answered.request.provider) {
        headers.insert("x-baton-provider", provider);
    }
    if body.stream == Some(true) {
        // OpenAI's chunk format: the role, the text, the finish, the usage when asked for.
        // The chunks go once the provider has answered: its own stream is not passed on.
        let chunk = |delta: Value, finish: Value| {
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]})
        };
        let mut chunks = vec![
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"content": answered.response.text}), Value::Null),
            chunk(json!({}), json!("stop")),
        ];
        if body
            .stream_options
            .as_ref()
            .is_some_and(|options| options.include_usage)
        {
            chunks.push(json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                               "choices": [], "usage": usage}));
        }
        let events = chunks
            .into_iter()
            .map(|chunk| Ok::<_, Infallible>(Event::default().data(chunk.to_string())))
            .chain(std::iter::once(Ok(Event::default().data("[DONE]"))));
        return Ok((headers, Sse::new(futures::stream::iter(events))).into_response());
    }
    let answer = json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answered.response.text, "refusal": null},
            "finish_reason": "stop",
            "logprobs": null,
        }],
        "usage": usage,
    });
    Ok((StatusCode::OK, headers, Json(answer)).into_response())
}

/// The models the organization can reach: each priced model (the list's and its own) of each
/// provider it has connected, and each model it priced on a configured server.
async fn models(
    State(state): State<AppState>,
    signed_in: Authenticated,
) -> Result<Json<Value>, ApiError> {
    api_key(&signed_in)?;
    signed_in.require(Action::ViewWorkflows)?;
    let own = state.store.model_prices(signed_in.org).await?;
    let servers = state.runtime.engine.compatible_servers();
    let shipped = baton_connectors::llm::prices::shipped();
    let mut ids = std::collections::BTreeSet::new();
    for provider in PROVIDERS {
        if state
            .store
            .service_credentials(signed_in.org, provider)
            .await?
            .is_empty()
        {
            continue;
        }
        for price in shipped
            .iter()
            .chain(own.iter())
            .filter(|price| price.provider == provider)
        {
            ids.insert(format!("{provider}/{}", price.model));
        }
    }
    for price in own.iter().filter(|price| servers.contains(&price.provider)) {
        ids.insert(format!("{}/{}", price.provider, price.model));
    }
    let data: Vec<Value> = ids
        .into_iter()
        .map(|id| {
            let owner = id.split('/').next().unwrap_or_default().to_owned();
            json!({"id": id, "object": "model", "created": 0, "owned_by": owner})
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct UsageQuery {
    /// How many days back (1 to 366; 30 when absent).
    #[serde(default)]
    days: Option<u32>,
}

/// What each API key's gateway calls used in the last `days` days, with the key's name.
async fn usage(
    State(state): State<AppState>,
    signed_in: Authenticated,
    axum::extract::Query(query): axum::extract::Query<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let days = query.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(ApiError::invalid(
            "the query is invalid",
            "days",
            "must be 1 to 366",
        ));
    }
    let since = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
    let used = state.store.ai_usage_by_key(signed_in.org, since).await?;
    let keys = state
        .store
        .list_api_keys(signed_in.org, baton_core::page::PageRequest::first(1000))
        .await?
        .items;
    let items: Vec<Value> = used
        .into_iter()
        .map(|used| {
            let key = keys.iter().find(|key| key.id == used.api_key_id);
            json!({
                "api_key_id": used.api_key_id,
                "name": key.map(|key| key.name.clone()),
                "prefix": key.map(|key| key.prefix.clone()),
                "revoked": key.is_some_and(|key| key.revoked_at.is_some()),
                "requests": used.requests,
                "input_tokens": used.usage.input_tokens,
                "output_tokens": used.usage.output_tokens,
                "cost_usd": used.cost,
            })
        })
        .collect();
    Ok(Json(json!({"since": since, "days": days, "items": items})))
}
