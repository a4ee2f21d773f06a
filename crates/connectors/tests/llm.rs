//! The AI providers against local fakes that speak their wire formats. The OpenAI fake checks
//! every request against `CreateChatCompletionRequest` from OpenAI's own OpenAPI document (the
//! part kept in `tests/contracts/openai-chat.json`), and its answers are checked against
//! `CreateChatCompletionResponse`, so neither side can drift from the published format.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use baton_connectors::llm::{ProviderSettings, Providers};
use baton_core::ErrorClass;
use baton_core::OrgId;
use baton_core::Usd;
use baton_engine::connector::Secret;
use baton_engine::provider::{LlmProvider, LlmRequest};
use serde_json::{Value, json};

fn contract(schema: &str) -> jsonschema::Validator {
    let file: Value =
        serde_json::from_str(include_str!("contracts/openai-chat.json")).expect("contract JSON");
    jsonschema::validator_for(&json!({
        "$ref": format!("#/components/schemas/{schema}"),
        "components": file["components"],
    }))
    .expect("the contract compiles")
}

fn problems(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

/// What the fake answers next, and what it was sent.
#[derive(Clone, Default)]
struct Fake {
    replies: Arc<Mutex<Vec<Response>>>,
    seen: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl Fake {
    fn reply(&self, response: Response) {
        self.replies.lock().unwrap().insert(0, response);
    }

    fn seen(&self) -> Vec<(HeaderMap, Value)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(route: &str, fake: Fake, check: fn(&Value) -> Vec<String>) -> String {
    let app = axum::Router::new()
        .route(
            route,
            axum::routing::post(
                move |State(fake): State<Fake>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    let wrong = check(&body);
                    fake.seen.lock().unwrap().push((headers, body));
                    if !wrong.is_empty() {
                        return (StatusCode::IM_A_TEAPOT, wrong.join("; ")).into_response();
                    }
                    fake.replies
                        .lock()
                        .unwrap()
                        .pop()
                        .unwrap_or_else(|| (StatusCode::GONE, "no reply left").into_response())
                },
            ),
        )
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn check_openai(body: &Value) -> Vec<String> {
    problems(&contract("CreateChatCompletionRequest"), body)
}

fn no_check(_: &Value) -> Vec<String> {
    Vec::new()
}

fn request(provider: &str, model: &str, key: Option<&str>) -> LlmRequest {
    LlmRequest {
        org_id: OrgId::new(),
        provider: provider.into(),
        model: model.into(),
        system: Some("You answer support email.".into()),
        turns: Vec::new(),
        prompt: "Draft a reply to: where is my order?".into(),
        temperature: Some(0.2),
        max_tokens: Some(300),
        json: false,
        tools: Vec::new(),
        schema: None,
        idempotency_key: "exec:step_2".into(),
        secret: key.map(|key| Secret(json!({"api_key": key}))),
        price: None,
    }
}

fn completion(text: &str, model: &str) -> Value {
    json!({
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1_764_590_000,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}
    })
}

fn openai_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": kind, "param": null, "code": kind}})),
    )
        .into_response()
}

/// Providers whose one provider (set by `set`) is a fake at `route`, checked by nothing.
async fn provider_at(route: &str, set: fn(&mut ProviderSettings, String)) -> (Providers, Fake) {
    let fake = Fake::default();
    let base = serve(route, fake.clone(), no_check).await;
    let mut settings = ProviderSettings::default();
    set(&mut settings, base);
    (Providers::new(settings), fake)
}

async fn openai() -> (Providers, Fake) {
    let fake = Fake::default();
    let base = serve("/v1/chat/completions", fake.clone(), check_openai).await;
    let providers = Providers::new(ProviderSettings {
        openai_base_url: format!("{base}/v1"),
        ..ProviderSettings::default()
    });
    (providers, fake)
}

#[test]
fn the_fakes_answers_follow_openais_published_format() {
    let response = contract("CreateChatCompletionResponse");
    assert_eq!(
        problems(&response, &completion("Hi", "gpt-4o-mini-2024-07-18")),
        Vec::<String>::new()
    );
    let error = contract("ErrorResponse");
    let (_, body) = (
        (),
        json!({"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
    );
    assert_eq!(problems(&error, &body), Vec::<String>::new());
    // And the contract is not a rubber stamp.
    assert!(!problems(&response, &json!({"choices": "none"})).is_empty());
}

#[tokio::test]
async fn openai_answers_with_its_text_tokens_and_cost() {
    let (providers, fake) = openai().await;
    fake.reply(
        Json(completion(
            "Your order ships today.",
            "gpt-4o-mini-2024-07-18",
        ))
        .into_response(),
    );
    let answer = providers
        .complete(request("openai", "gpt-4o-mini", Some("sk-test-1")))
        .await
        .unwrap();
    assert_eq!(answer.text, "Your order ships today.");
    assert_eq!(answer.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(
        (answer.usage.input_tokens, answer.usage.output_tokens),
        (1200, 300)
    );
    // 1,200 × $0.15/M + 300 × $0.60/M = $0.00018 + $0.00018
    assert_eq!(answer.cost, Usd::from_micros(360));
    let (headers, body) = fake.seen().pop().unwrap();
    assert_eq!(headers["authorization"], "Bearer sk-test-1");
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You answer support email."})
    );
    assert_eq!(body["messages"][1]["role"], "user");
    assert_eq!(body["max_completion_tokens"], 300);
    assert!(body.get("response_format").is_none());
}

#[tokio::test]
async fn openai_is_asked_for_json_when_the_step_wants_json() {
    let (providers, fake) = openai().await;
    fake.reply(Json(completion("{\"draft\": \"Hello\"}", "gpt-4o")).into_response());
    let mut asked = request("openai", "gpt-4o", Some("sk-test-1"));
    asked.json = true;
    asked.system = None;
    asked.temperature = None;
    asked.max_tokens = None;
    let answer = providers.complete(asked).await.unwrap();
    assert_eq!(answer.text, "{\"draft\": \"Hello\"}");
    let (_, body) = fake.seen().pop().unwrap();
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(
        body["messages"].as_array().unwrap().len(),
        1,
        "no system message"
    );
}

fn draft_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"draft": {"type": "string"}, "urgent": {"type": "boolean"}},
        "required": ["draft", "urgent"]
    })
}

fn structured(provider: &str, model: &str, key: Option<&str>) -> LlmRequest {
    let mut asked = request(provider, model, key);
    asked.json = true;
    asked.schema = Some(draft_schema());
    asked
}

#[tokio::test]
async fn each_provider_is_asked_for_the_output_schema_in_its_own_way() {
    // OpenAI: `json_schema`, strict, checked against its published request format.
    let (providers, fake) = openai().await;
    fake.reply(
        Json(completion(
            "{\"draft\": \"Hello\", \"urgent\": false}",
            "gpt-4o",
        ))
        .into_response(),
    );
    let answer = providers
        .complete(structured("openai", "gpt-4o", Some("sk-test-1")))
        .await
        .unwrap();
    assert_eq!(answer.text, "{\"draft\": \"Hello\", \"urgent\": false}");
    let (_, body) = fake.seen().pop().unwrap();
    let format = &body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["strict"], true);
    assert_eq!(
        format["json_schema"]["schema"]["additionalProperties"],
        false
    );
    assert_eq!(
        format["json_schema"]["schema"]["required"],
        json!(["draft", "urgent"])
    );

    // Anthropic: the one tool the model must use, whose input is the answer.
    let (providers, fake) = provider_at("/v1/messages", |settings, base| {
        settings.anthropic_base_url = base
    })
    .await;
    fake.reply(
        Json(json!({
            "id": "msg_02", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "tool_use", "id": "toolu_01", "name": "answer", "input": {"draft": "Hello", "urgent": true}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 500, "output_tokens": 40}
        }))
        .into_response(),
    );
    let answer = providers
        .complete(structured(
            "anthropic",
            "claude-sonnet-4-5",
            Some("sk-ant-1"),
        ))
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&answer.text).unwrap(),
        json!({"draft": "Hello", "urgent": true})
    );
    let (_, body) = fake.seen().pop().unwrap();
    assert_eq!(body["tools"][0]["name"], "answer");
    assert_eq!(body["tools"][0]["input_schema"], draft_schema());
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "answer"})
    );
    assert_eq!(
        body["system"], "You answer support email.",
        "no JSON instruction added"
    );

    // Gemini: `responseJsonSchema` with the JSON MIME type.
    let (providers, fake) = provider_at("/v1beta/models/{call}", |settings, base| {
        settings.gemini_base_url = base
    })
    .await;
    fake.reply(
        Json(json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "{\"draft\": \"Hi\", \"urgent\": false}"}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
            "modelVersion": "gemini-2.5-flash"
        }))
        .into_response(),
    );
    providers
        .complete(structured("google", "gemini-2.5-flash", Some("AIza-1")))
        .await
        .unwrap();
    let (_, body) = fake.seen().pop().unwrap();
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(
        body["generationConfig"]["responseJsonSchema"],
        draft_schema()
    );
    assert!(
        body["generationConfig"].get("responseSchema").is_none(),
        "only one of the two may be set"
    );

    // Cohere: `json_object` with `json_schema`.
    let (providers, fake) =
        provider_at("/v2/chat", |settings, base| settings.cohere_base_url = base).await;
    fake.reply(
        Json(json!({
            "id": "c-2", "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "{\"draft\": \"Hi\", \"urgent\": false}"}]},
            "usage": {"tokens": {"input_tokens": 10, "output_tokens": 5}}
        }))
        .into_response(),
    );
    providers
        .complete(structured("cohere", "command-r-plus", Some("co-1")))
        .await
        .unwrap();
    let (_, body) = fake.seen().pop().unwrap();
    assert_eq!(
        body["response_format"],
        json!({"type": "json_object", "json_schema": draft_schema()})
    );

    // A compatible server: JSON mode with the schema beside it (llama.cpp holds the answer to
    // it), and the schema in the system message for the servers that do not.
    let local = Fake::default();
    let local_base = serve("/v1/chat/completions", local.clone(), check_openai).await;
    let providers = Providers::new(ProviderSettings {
        compatible: [("local".to_owned(), format!("{local_base}/v1"))].into(),
        ..ProviderSettings::default()
    });
    local.reply(
        Json(completion(
            "{\"draft\": \"Hi\", \"urgent\": false}",
            "smollm2",
        ))
        .into_response(),
    );
    providers
        .complete(structured("local", "smollm2", None))
        .await
        .unwrap();
    let (_, body) = local.seen().pop().unwrap();
    assert_eq!(
        body["response_format"],
        json!({"type": "json_object", "schema": draft_schema()})
    );
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("You answer support email.\n\nAnswer with one JSON object only"),
        "{system}"
    );
    assert!(
        system.contains("\"required\":[\"draft\",\"urgent\"]"),
        "{system}"
    );
}

#[tokio::test]
async fn openai_failures_are_classified_for_the_retry_policy() {
    let (providers, fake) = openai().await;
    let mut limited = openai_error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
        "Rate limit reached for gpt-4o",
    );
    limited
        .headers_mut()
        .insert("retry-after", "7".parse().unwrap());
    fake.reply(limited);
    let error = providers
        .complete(request("openai", "gpt-4o", Some("sk")))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Transient);
    assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
    assert!(
        error.message.contains("Rate limit reached for gpt-4o"),
        "{}",
        error.message
    );

    fake.reply(openai_error(
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
        "Incorrect API key provided",
    ));
    let error = providers
        .complete(request("openai", "gpt-4o", Some("sk")))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error.message.contains("check the openai credential"),
        "{}",
        error.message
    );

    fake.reply(openai_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "The server had an error",
    ));
    let error = providers
        .complete(request("openai", "gpt-4o", Some("sk")))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Transient);

    fake.reply(openai_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "max_completion_tokens is too large",
    ));
    let error = providers
        .complete(request("openai", "gpt-4o", Some("sk")))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(error.message.contains("max_completion_tokens is too large"));

    fake.reply((StatusCode::OK, "<html>proxy error</html>").into_response());
    let error = providers
        .complete(request("openai", "gpt-4o", Some("sk")))
        .await
        .unwrap_err();
    assert_eq!(
        error.class,
        ErrorClass::Transient,
        "a malformed answer: {}",
        error.message
    );

    let error = providers
        .complete(request("openai", "gpt-4o", None))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error.message.contains("there is no openai credential"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn anthropic_answers_through_the_messages_api() {
    let (providers, fake) = provider_at("/v1/messages", |settings, base| {
        settings.anthropic_base_url = base
    })
    .await;
    fake.reply(
        Json(json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "Your order ships "}, {"type": "text", "text": "today."}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 1000, "output_tokens": 100}
        }))
        .into_response(),
    );
    let answer = providers
        .complete(request("anthropic", "claude-sonnet-4-5", Some("sk-ant-1")))
        .await
        .unwrap();
    assert_eq!(answer.text, "Your order ships today.");
    // 1,000 × $3/M + 100 × $15/M
    assert_eq!(answer.cost, Usd::from_micros(4_500));
    let (headers, body) = fake.seen().pop().unwrap();
    assert_eq!(headers["x-api-key"], "sk-ant-1");
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["system"], "You answer support email.");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Draft a reply to: where is my order?"}])
    );

    fake.reply(
        (
            StatusCode::from_u16(529).unwrap(),
            Json(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_1"})),
        )
            .into_response(),
    );
    let error = providers
        .complete(request("anthropic", "claude-sonnet-4-5", Some("sk-ant-1")))
        .await
        .unwrap_err();
    assert_eq!(
        error.class,
        ErrorClass::Transient,
        "529 overloaded is worth retrying"
    );
    assert!(error.message.contains("Overloaded"));
}

#[tokio::test]
async fn gemini_answers_through_generate_content() {
    let (providers, fake) = provider_at("/v1beta/models/{call}", |settings, base| {
        settings.gemini_base_url = base
    })
    .await;
    fake.reply(
        Json(json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Ships "}, {"text": "today."}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 200, "totalTokenCount": 1200},
            "modelVersion": "gemini-2.5-flash"
        }))
        .into_response(),
    );
    let mut asked = request("google", "gemini-2.5-flash", Some("AIza-1"));
    asked.json = true;
    let answer = providers.complete(asked).await.unwrap();
    assert_eq!(answer.text, "Ships today.");
    // 1,000 × $0.30/M + 200 × $2.50/M
    assert_eq!(answer.cost, Usd::from_micros(800));
    let (headers, body) = fake.seen().pop().unwrap();
    assert_eq!(headers["x-goog-api-key"], "AIza-1");
    assert_eq!(
        body["contents"][0]["parts"][0]["text"],
        "Draft a reply to: where is my order?"
    );
    assert_eq!(
        body["systemInstruction"]["parts"][0]["text"],
        "You answer support email."
    );
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 300);
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );

    fake.reply(
        (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}})),
        )
            .into_response(),
    );
    let error = providers
        .complete(request("google", "gemini-2.5-flash", Some("AIza-1")))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Transient);
    assert!(error.message.contains("Resource has been exhausted"));
}

#[tokio::test]
async fn cohere_answers_through_chat_v2() {
    let (providers, fake) =
        provider_at("/v2/chat", |settings, base| settings.cohere_base_url = base).await;
    fake.reply(
        Json(json!({
            "id": "c-1", "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "It ships today."}]},
            "usage": {"billed_units": {"input_tokens": 1000, "output_tokens": 100},
                      "tokens": {"input_tokens": 1010, "output_tokens": 100}}
        }))
        .into_response(),
    );
    let answer = providers
        .complete(request("cohere", "command-r-plus", Some("co-1")))
        .await
        .unwrap();
    assert_eq!(answer.text, "It ships today.");
    assert_eq!(
        (answer.usage.input_tokens, answer.usage.output_tokens),
        (1010, 100)
    );
    let (headers, body) = fake.seen().pop().unwrap();
    assert_eq!(headers["authorization"], "Bearer co-1");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["max_tokens"], 300);

    fake.reply(
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"id": "e-1", "message": "invalid api token"})),
        )
            .into_response(),
    );
    let error = providers
        .complete(request("cohere", "command-r-plus", Some("co-1")))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error.message.contains("invalid api token"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn an_openai_compatible_server_is_called_by_the_id_it_was_given() {
    let local = Fake::default();
    let local_base = serve("/v1/chat/completions", local.clone(), check_openai).await;
    let hosted = Fake::default();
    let hosted_base = serve("/openai/v1/chat/completions", hosted.clone(), check_openai).await;
    let providers = Providers::new(ProviderSettings {
        compatible: [
            ("ollama".to_owned(), format!("{local_base}/v1")),
            ("groq".to_owned(), format!("{hosted_base}/openai/v1")),
        ]
        .into(),
        ..ProviderSettings::default()
    });
    assert_eq!(providers.compatible_servers(), ["groq", "ollama"]);

    local.reply(Json(completion("Hallo!", "llama3.2:3b")).into_response());
    let answer = providers
        .complete(request("ollama", "llama3.2:3b", None))
        .await
        .unwrap();
    assert_eq!(answer.text, "Hallo!");
    assert_eq!(answer.usage.input_tokens, 1200);
    let (headers, body) = local.seen().pop().unwrap();
    assert_eq!(body["model"], "llama3.2:3b");
    // Compatible servers read the answer's length from `max_tokens` (they ignore OpenAI's
    // `max_completion_tokens`).
    assert_eq!(body["max_tokens"], 300);
    assert!(body.get("max_completion_tokens").is_none(), "{body}");
    assert!(
        headers.get("authorization").is_none(),
        "a local server gets no key"
    );

    hosted.reply(Json(completion("Hi", "llama-3.3-70b-versatile")).into_response());
    providers
        .complete(request("groq", "llama-3.3-70b-versatile", Some("gsk_test")))
        .await
        .unwrap();
    let (headers, _) = hosted.seen().pop().unwrap();
    assert_eq!(headers["authorization"], "Bearer gsk_test");

    hosted.reply(openai_error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
        "Rate limit reached",
    ));
    let error = providers
        .complete(request("groq", "llama-3.3-70b-versatile", Some("gsk_test")))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Transient);
    assert!(error.message.contains("groq"), "{}", error.message);

    let unknown = providers
        .complete(request("vllm", "qwen", None))
        .await
        .unwrap_err();
    assert!(
        unknown.message.contains("groq, ollama"),
        "{}",
        unknown.message
    );
}

/// A fake provider that lists its models at `route` to a request carrying `header: value`,
/// and refuses any other with the provider's 401.
async fn models_server(
    route: &'static str,
    header: &'static str,
    value: &'static str,
    list: Value,
) -> String {
    let app = axum::Router::new().route(
        route,
        axum::routing::get(move |headers: HeaderMap| async move {
            if headers.get(header).and_then(|v| v.to_str().ok()) == Some(value) {
                Json(list).into_response()
            } else {
                openai_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_api_key",
                    "Incorrect API key provided",
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn key(value: &str) -> Secret {
    Secret(json!({"api_key": value}))
}

#[tokio::test]
async fn each_providers_key_is_checked_by_listing_its_models() {
    let openai_list = json!({"object": "list", "data": [
        {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"},
        {"id": "gpt-4o", "object": "model", "created": 1_715_367_049, "owned_by": "system"}
    ]});
    assert_eq!(
        problems(&contract("ListModelsResponse"), &openai_list),
        Vec::<String>::new(),
        "the fake lists models as OpenAI publishes"
    );
    let openai = models_server("/v1/models", "authorization", "Bearer sk-good", openai_list).await;
    let anthropic = models_server(
        "/v1/models",
        "x-api-key",
        "sk-ant-good",
        json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"}],
               "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"}),
    )
    .await;
    let gemini = models_server(
        "/v1beta/models",
        "x-goog-api-key",
        "AIza-good",
        json!({"models": [{"name": "models/gemini-2.5-flash"}, {"name": "models/gemini-2.5-pro"}, {"name": "models/embedding-001"}]}),
    )
    .await;
    let cohere = models_server(
        "/v1/models",
        "authorization",
        "Bearer co-good",
        json!({"models": [{"name": "command-a-03-2025"}]}),
    )
    .await;
    let providers = Providers::new(ProviderSettings {
        openai_base_url: format!("{openai}/v1"),
        anthropic_base_url: anthropic,
        gemini_base_url: gemini,
        cohere_base_url: cohere,
        ..ProviderSettings::default()
    });
    for (provider, good, models) in [
        ("openai", "sk-good", 2),
        ("anthropic", "sk-ant-good", 1),
        ("google", "AIza-good", 3),
        ("cohere", "co-good", 1),
    ] {
        let checked = providers.check_key(provider, &key(good)).await.unwrap();
        assert_eq!(checked["models"], models, "{provider}: {checked}");
        let refused = providers
            .check_key(provider, &key("wrong"))
            .await
            .unwrap_err();
        assert_eq!(refused.class, ErrorClass::Permanent, "{provider}");
        assert!(
            refused.message.contains("401")
                && refused
                    .message
                    .contains(&format!("check the {provider} credential")),
            "{provider}: {}",
            refused.message
        );
    }
    let unknown = providers.check_key("mistral", &key("x")).await.unwrap_err();
    assert!(
        unknown.message.contains("no provider"),
        "{}",
        unknown.message
    );
}

#[tokio::test]
async fn a_conversation_reaches_each_provider_in_order_in_its_own_roles() {
    use baton_engine::provider::Turn;
    let conversation = |provider: &str, model: &str, key: &str| {
        let mut asked = request(provider, model, Some(key));
        asked.turns = vec![
            Turn::user("Do you bake on Sundays?"),
            Turn::assistant("Yes, until noon.", Vec::new()),
        ];
        asked.prompt = "And on Mondays?".into();
        asked
    };
    let (providers, fake) = openai().await;
    fake.reply(Json(completion("Closed.", "gpt-4o")).into_response());
    providers
        .complete(conversation("openai", "gpt-4o", "sk-test-1"))
        .await
        .unwrap();
    let (_, body) = fake.seen().pop().unwrap();
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You answer support email."},
            {"role": "user", "content": "Do you bake on Sundays?"},
            {"role": "assistant", "content": "Yes, until noon."},
            {"role": "user", "content": "And on Mondays?"}
        ])
    );

    let (providers, fake) = provider_at("/v1/messages", |settings, base| {
        settings.anthropic_base_url = base
    })
    .await;
    fake.reply(
        Json(json!({
            "id": "msg_03", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Closed."}], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 20, "output_tokens": 2}
        }))
        .into_response(),
    );
    providers
        .complete(conversation("anthropic", "claude-sonnet-4-5", "sk-ant-1"))
        .await
        .unwrap();
    let (_, body) = fake.seen().pop().unwrap();
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Do you bake on Sundays?"},
            {"role": "assistant", "content": "Yes, until noon."},
            {"role": "user", "content": "And on Mondays?"}
        ])
    );

    let (providers, fake) = provider_at("/v1beta/models/{call}", |settings, base| {
        settings.gemini_base_url = base
    })
    .await;
    fake.reply(
        Json(json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Closed."}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 2, "totalTokenCount": 22}
        }))
        .into_response(),
    );
    providers
        .complete(conversation("google", "gemini-2.5-flash", "AIza-1"))
        .await
        .unwrap();
    let (_, body) = fake.seen().pop().unwrap();
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Do you bake on Sundays?"}]},
            {"role": "model", "parts": [{"text": "Yes, until noon."}]},
            {"role": "user", "parts": [{"text": "And on Mondays?"}]}
        ])
    );
}

#[tokio::test]
async fn tools_and_their_results_go_to_each_provider_in_its_native_format() {
    use baton_engine::provider::{ToolCall, ToolResult, ToolSpec, Turn};
    let with_tools = |provider: &str, model: &str, key: &str| {
        let mut asked = request(provider, model, Some(key));
        asked.tools = vec![ToolSpec {
            name: "find_company".into(),
            description: "Looks a contact up".into(),
            parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
        }];
        asked.turns = vec![
            Turn::user("Is ann@cafe.example a lead?"),
            Turn::assistant(
                "",
                vec![ToolCall {
                    id: "call_1".into(),
                    name: "find_company".into(),
                    arguments: json!({"query": "ann"}),
                }],
            ),
            Turn::tool(ToolResult {
                call_id: "call_1".into(),
                name: "find_company".into(),
                content: json!({"company": "Café Ann"}),
            }),
        ];
        asked.prompt = String::new();
        asked
    };

    // OpenAI: `tools` of functions, the call's arguments as JSON text, a `tool` message; the
    // request checked against OpenAI's published format.
    let (providers, fake) = openai().await;
    let mut answer = completion("", "gpt-4o");
    answer["choices"][0]["message"] = json!({"role": "assistant", "content": null, "refusal": null,
        "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": "find_company", "arguments": "{\"query\":\"cafe\"}"}}]});
    answer["choices"][0]["finish_reason"] = json!("tool_calls");
    assert!(problems(&contract("CreateChatCompletionResponse"), &answer).is_empty());
    fake.reply(Json(answer).into_response());
    let answered = providers
        .complete(with_tools("openai", "gpt-4o", "sk-test-1"))
        .await
        .unwrap();
    assert_eq!(
        answered.tool_calls,
        vec![ToolCall {
            id: "call_2".into(),
            name: "find_company".into(),
            arguments: json!({"query": "cafe"})
        }]
    );
    let (_, body) = fake.seen().pop().unwrap();
    assert_eq!(body["tools"][0]["function"]["name"], "find_company");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(
        messages.len(),
        4,
        "system, goal, call, result: no empty prompt after them"
    );
    assert_eq!(
        messages[2]["tool_calls"][0]["function"]["arguments"],
        "{\"query\":\"ann\"}"
    );
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "{\"company\":\"Café Ann\"}"})
    );

    // Anthropic: tools with `input_schema`; `tool_use` blocks, and the result as a user's
    // `tool_result` block.
    let (providers, fake) = provider_at("/v1/messages", |settings, base| {
        settings.anthropic_base_url = base
    })
    .await;
    fake.reply(
        Json(json!({
            "id": "msg_04", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Looking."}, {"type": "tool_use", "id": "toolu_2", "name": "find_company", "input": {"query": "cafe"}}],
            "stop_reason": "tool_use", "stop_sequence": null, "usage": {"input_tokens": 30, "output_tokens": 8}
        }))
        .into_response(),
    );
    let answered = providers
        .complete(with_tools("anthropic", "claude-sonnet-4-5", "sk-ant-1"))
        .await
        .unwrap();
    assert_eq!(answered.tool_calls[0].id, "toolu_2");
    assert_eq!(answered.text, "Looking.");
    let (_, body) = fake.seen().pop().unwrap();
    assert_eq!(
        body["tools"][0]["input_schema"]["required"],
        json!(["query"])
    );
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Is ann@cafe.example a lead?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "find_company", "input": {"query": "ann"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "{\"company\":\"Café Ann\"}"}]}
        ])
    );

    // Gemini: `functionDeclarations` with a JSON Schema; `functionCall` and `functionResponse`.
    let (providers, fake) = provider_at("/v1beta/models/{call}", |settings, base| {
        settings.gemini_base_url = base
    })
    .await;
    fake.reply(
        Json(json!({
            "candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": "find_company", "args": {"query": "cafe"}}}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 5, "totalTokenCount": 35}
        }))
        .into_response(),
    );
    let answered = providers
        .complete(with_tools("google", "gemini-2.5-flash", "AIza-1"))
        .await
        .unwrap();
    assert_eq!(answered.tool_calls[0].name, "find_company");
    assert_eq!(answered.tool_calls[0].arguments, json!({"query": "cafe"}));
    let (_, body) = fake.seen().pop().unwrap();
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["type"],
        "object"
    );
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Is ann@cafe.example a lead?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "find_company", "args": {"query": "ann"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "find_company", "response": {"result": {"company": "Café Ann"}}}}]}
        ])
    );
}
