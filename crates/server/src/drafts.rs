//! `POST /api/v1/workflows/draft`: describe a workflow in words, get one. The organization's
//! model is asked to write the DSL document, with the connector catalogue and the DSL's JSON
//! Schema as context; the answer is checked by the real parser and compiler, and the model is
//! asked once more with the problems when it is not valid. Nothing is saved: the draft comes
//! back with what is still to set up (connections the organization lacks), for the builder to
//! show as a proposal.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use baton_core::policy::Action;
use baton_core::price::AiCall;
use baton_engine::provider::{LlmRequest, LlmResponse};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::guard::Authenticated;
use crate::error::{ApiError, Detail};
use crate::request::JsonBody;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/workflows/draft", post(draft))
}

/// The longest description taken, in characters.
const MAX_DESCRIPTION: usize = 4_000;
/// The most an answer may run to, in tokens: a workflow of a dozen steps fits.
const MAX_ANSWER_TOKENS: u32 = 4_000;

/// The model each provider drafts with when the request names none: a small, cheap one.
const DEFAULT_MODELS: [(&str, &str); 4] = [
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("google", "gemini-2.5-flash"),
    ("cohere", "command-r-plus"),
];

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DraftRequest {
    /// What the workflow should do, in words, e.g. "when a support email arrives, draft a
    /// reply with AI and save it as a Gmail draft".
    description: String,
    /// The model to write it: `provider/model` or a model whose provider its name tells; the
    /// first AI provider the organization has connected when absent (OpenAI, Anthropic,
    /// Google, Cohere, in that order, with its small model).
    #[serde(default)]
    model: Option<String>,
    /// The longest the model's answer may be, in tokens (4,000 when absent: a dozen steps
    /// fit); lower for a local model with a small context.
    #[serde(default)]
    #[schemars(range(min = 100, max = 32000))]
    max_tokens: Option<u32>,
}

async fn draft(
    State(state): State<AppState>,
    signed_in: Authenticated,
    JsonBody(body): JsonBody<DraftRequest>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::CreateWorkflow)?;
    let description = body.description.trim();
    if description.is_empty() || description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::invalid(
            "the description is invalid",
            "$.description",
            format!("must have 1 to {MAX_DESCRIPTION} characters"),
        ));
    }
    let max_tokens = body.max_tokens.unwrap_or(MAX_ANSWER_TOKENS);
    if !(100..=32_000).contains(&max_tokens) {
        return Err(ApiError::invalid(
            "the request is invalid",
            "$.max_tokens",
            "must be 100 to 32000",
        ));
    }
    let (provider, model) = choose_model(&state, signed_in.org, body.model.as_deref()).await?;
    let catalog = state.runtime.connectors.catalog();
    let system = instructions(&catalog);
    let prompt = format!("Write the workflow for this:\n\n{description}");
    let request = LlmRequest {
        org_id: signed_in.org,
        provider,
        model,
        system: Some(system),
        turns: Vec::new(),
        prompt: prompt.clone(),
        temperature: Some(0.2),
        max_tokens: Some(max_tokens),
        json: true,
        tools: Vec::new(),
        schema: None,
        idempotency_key: format!("draft:{}", baton_core::ExecutionId::new()),
        secret: None,
        price: None,
    };
    let first = ask(&state, &request).await?;
    let mut spent = (first.usage, first.cost);
    let (document, repaired, answer) = match checked(&state, &first.text) {
        Ok(document) => (document, None, first),
        Err(problems) => {
            let again = LlmRequest {
                prompt: repair_prompt(&prompt, &first.text, &problems),
                ..request.clone()
            };
            let second = ask(&state, &again).await?;
            spent.0 += second.usage;
            spent.1 += second.cost;
            match checked(&state, &second.text) {
                Ok(document) => (document, Some(problems), second),
                Err(still) => {
                    return Err(ApiError::Invalid {
                        message: format!(
                            "{} could not write a valid workflow from the description, also when asked again with the problems; describe it in other words or with more detail",
                            request.model
                        ),
                        details: still,
                    });
                }
            }
        }
    };
    let to_configure = to_configure(&state, signed_in.org, &document).await?;
    Ok(Json(json!({
        "workflow": document,
        "to_configure": to_configure,
        "provider": request.provider,
        "model": answer.model,
        "usage": {"input_tokens": spent.0.input_tokens, "output_tokens": spent.0.output_tokens},
        "cost_usd": spent.1,
        "repaired": repaired.map(|problems| problems.into_iter().map(|problem| format!("{}: {}", problem.path, problem.message)).collect::<Vec<_>>()),
    })))
}

/// The provider and model to draft with: the one asked for, else the first AI provider the
/// organization has connected.
async fn choose_model(
    state: &AppState,
    org: baton_core::OrgId,
    asked: Option<&str>,
) -> Result<(String, String), ApiError> {
    let servers = state.runtime.engine.compatible_servers();
    if let Some(asked) = asked.map(str::trim).filter(|asked| !asked.is_empty()) {
        let named = asked.split_once('/').filter(|(provider, _)| {
            DEFAULT_MODELS.iter().any(|(known, _)| known == provider)
                || servers.iter().any(|server| server == provider)
        });
        return match named {
            Some((provider, model)) => Ok((provider.to_owned(), model.to_owned())),
            None => match baton_engine::model::infer_provider(asked) {
                Some(provider) => Ok((provider.to_owned(), asked.to_owned())),
                None => Err(ApiError::invalid(
                    "the model is unknown",
                    "$.model",
                    format!(
                        "{asked:?}: write it as provider/model (openai, anthropic, google, cohere{})",
                        servers
                            .iter()
                            .map(|server| format!(", {server}"))
                            .collect::<String>()
                    ),
                )),
            },
        };
    }
    for (provider, model) in DEFAULT_MODELS {
        if !state
            .store
            .service_credentials(org, provider)
            .await?
            .is_empty()
        {
            return Ok((provider.to_owned(), model.to_owned()));
        }
    }
    Err(ApiError::invalid(
        "no AI model to write the workflow",
        "$.model",
        "connect an AI provider under Integrations (OpenAI, Anthropic, Google Gemini or Cohere), or name a model",
    ))
}

/// Asks the model through the engine (the organization's key, its budget and prices, the
/// provider's circuit), and counts what it cost in the organization's spend.
async fn ask(state: &AppState, request: &LlmRequest) -> Result<LlmResponse, ApiError> {
    let (request, response) =
        state
            .runtime
            .engine
            .ask(request.clone())
            .await
            .map_err(|(request, error)| ApiError::ModelFailed {
                message: format!(
                    "{}/{} could not draft the workflow: {}",
                    request.provider, request.model, error.message
                ),
            })?;
    state
        .store
        .record_ai_call(&AiCall {
            org_id: request.org_id,
            source: "draft".into(),
            api_key_id: None,
            provider: request.provider.clone(),
            model: response.model.clone(),
            usage: response.usage,
            cost: response.cost,
        })
        .await?;
    Ok(response)
}

/// The workflow an answer holds when the parser and compiler take it; else their problems.
fn checked(state: &AppState, answer: &str) -> Result<Value, Vec<Detail>> {
    let document = match baton_engine::transform::extract_json(answer) {
        Ok(document) if document.get("steps").is_some() => document,
        Ok(_) => {
            return Err(vec![Detail {
                path: "$".into(),
                message: "the answer is JSON but not a workflow: it has no `steps`".into(),
            }]);
        }
        Err(error) => {
            return Err(vec![Detail {
                path: "$".into(),
                message: error.message,
            }]);
        }
    };
    state
        .runtime
        .validate(&document)
        .map(|_| document)
        .map_err(|problems| {
            problems
                .into_iter()
                .map(|problem| Detail {
                    path: problem.path,
                    message: problem.message,
                })
                .collect()
        })
}

fn repair_prompt(prompt: &str, answer: &str, problems: &[Detail]) -> String {
    let listed: Vec<String> = problems
        .iter()
        .take(20)
        .map(|problem| format!("{}: {}", problem.path, problem.message))
        .collect();
    baton_engine::structured::repair_prompt(prompt, answer, &listed)
}

/// What the model is told: what a workflow is, its JSON Schema, and what each service can do.
fn instructions(catalog: &[Value]) -> String {
    let schema = baton_core::dsl::schema::workflow_schema();
    format!(
        "You write workflows for Baton, an automation platform, as one JSON document that follows \
         the JSON Schema below. Use only the services, actions and triggers listed. Give every step \
         a short snake_case id; later steps read earlier ones as {{{{step_id.field}}}} and the trigger as \
         {{{{trigger.field}}}}. Leave out `credential`: the person connects the services afterwards. \
         For an AI step use type `llm` with a model such as gpt-4o-mini and, when later steps read \
         its answer, an `output_schema` naming the fields. Answer with the JSON document only.\n\n\
         JSON Schema of a workflow:\n{}\n\nServices (id: actions with their inputs, * required; triggers):\n{}",
        serde_json::to_string(&schema).unwrap_or_default(),
        catalogue(catalog)
    )
}

/// The connector catalogue in a few lines a model reads cheaply.
fn catalogue(catalog: &[Value]) -> String {
    let names = |schema: &Value| -> String {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        schema["properties"]
            .as_object()
            .map(|properties| {
                properties
                    .keys()
                    .map(|name| {
                        if required.contains(&name.as_str()) {
                            format!("{name}*")
                        } else {
                            name.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    catalog
        .iter()
        .map(|service| {
            let actions: Vec<String> = service["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|action| {
                    format!(
                        "{}({}): {}",
                        action["id"].as_str().unwrap_or_default(),
                        names(&action["input_schema"]),
                        action["description"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            let triggers: Vec<String> = service["triggers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|trigger| {
                    format!(
                        "poll event {}({}): {}",
                        trigger["id"].as_str().unwrap_or_default(),
                        names(&trigger["input_schema"]),
                        trigger["description"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            format!(
                "- {} ({}): {}{}",
                service["id"].as_str().unwrap_or_default(),
                service["name"].as_str().unwrap_or_default(),
                if actions.is_empty() {
                    "called by llm steps".to_owned()
                } else {
                    actions.join("; ")
                },
                if triggers.is_empty() {
                    String::new()
                } else {
                    format!("; triggers: {}", triggers.join("; "))
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The connections the draft needs that the organization does not have yet.
async fn to_configure(
    state: &AppState,
    org: baton_core::OrgId,
    document: &Value,
) -> Result<Vec<Value>, ApiError> {
    let mut services = std::collections::BTreeSet::new();
    services_of(document, &mut services);
    let catalog = state.runtime.connectors.catalog();
    let mut missing = Vec::new();
    for service in services {
        let declared = catalog.iter().find(|known| known["id"] == service.as_str());
        // Services that need no connection (a hook, the built-in HTTP call) have nothing to set.
        let needs = declared.is_some_and(|known| known["auth"]["kind"] != "none");
        if needs
            && state
                .store
                .service_credentials(org, &service)
                .await?
                .is_empty()
        {
            let name = declared
                .and_then(|known| known["name"].as_str())
                .unwrap_or(&service)
                .to_owned();
            missing.push(json!({
                "service": service,
                "name": name,
                "message": format!("Connect {name}: the workflow uses it and there is no connection yet"),
            }));
        }
    }
    Ok(missing)
}

/// Every service a workflow calls: its steps' (in branches and loops too), its AI steps'
/// providers, and its trigger's.
fn services_of(value: &Value, found: &mut std::collections::BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            let kind = fields.get("type").and_then(Value::as_str);
            if let Some(service) = fields.get("service").and_then(Value::as_str)
                && matches!(kind, Some("integration" | "poll" | "webhook") | None)
            {
                found.insert(service.to_owned());
            }
            if kind == Some("llm") {
                let model = fields
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Some(provider) = fields
                    .get("provider")
                    .and_then(Value::as_str)
                    .or_else(|| baton_engine::model::infer_provider(model))
                {
                    found.insert(provider.to_owned());
                }
            }
            for child in fields.values() {
                services_of(child, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| services_of(item, found)),
        _ => {}
    }
}
