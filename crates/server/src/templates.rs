//! `/api/v1/templates`: the template library. Each official template is a file in
//! `templates/` (metadata beside its workflow), built into the binary. A template's workflow
//! reads the choices a person makes when setting it up as `{{config.NAME}}`; making a workflow
//! from it ("instantiating") checks the apps it needs are connected, checks the choices against
//! the template's configuration schema, puts them in, and saves the workflow switched off.
//! Every organization's uses count towards a template's popularity; each person rates a
//! template once (a new rating replaces theirs).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use baton_core::policy::Action;
use baton_store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::guard::Authenticated;
use crate::error::{ApiError, Detail};
use crate::request::{Client, JsonBody, query};

#[derive(rust_embed::Embed)]
#[folder = "../../templates"]
struct Files;

/// What kind of work a template does.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Marketing,
    Sales,
    Operations,
    CustomerSupport,
    Admin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Difficulty {
    Beginner,
    Intermediate,
    Advanced,
}

/// The apps a template calls, by connector id; `ai` is any AI model provider.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integrations {
    pub required: Vec<String>,
    #[serde(default)]
    pub optional: Vec<String>,
}

/// A situation the template serves, and how to set it up for it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub use_case: String,
    pub setup: String,
}

/// One template, as its file holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Stable, snake_case; the file is `templates/<id>.json`.
    pub id: String,
    pub name: String,
    /// What it does, in one sentence.
    pub description: String,
    pub category: Category,
    pub tags: Vec<String>,
    pub difficulty: Difficulty,
    /// The time it saves, in words (`2 hours/week`).
    pub time_saved: String,
    pub integrations: Integrations,
    /// What a person chooses when setting it up (a JSON Schema object: each property with a
    /// `title`, a `description` and usually a `default`).
    pub configuration_schema: Value,
    /// Choices that make it run, for the tests and as the wizard's starting point.
    pub example_config: Value,
    /// A trigger payload like the real one, for a test run from the wizard.
    pub sample_input: Value,
    /// What it does, step by step, in plain words.
    pub steps_in_words: Vec<String>,
    pub examples: Vec<Example>,
    /// `official`, `community`, or an organization's name.
    pub author: String,
    /// The workflow, reading the choices as `{{config.NAME}}`.
    pub workflow: Value,
}

/// The AI model providers, any of which satisfies a template's `ai`.
const AI: &str = "ai";

/// Every template in `templates/`, by id; a file that does not parse is left out and logged
/// (the tests refuse it).
pub fn library() -> &'static BTreeMap<String, Template> {
    static LIBRARY: LazyLock<BTreeMap<String, Template>> = LazyLock::new(|| {
        let mut templates = BTreeMap::new();
        for path in Files::iter().filter(|path| path.ends_with(".json")) {
            let Some(file) = Files::get(&path) else {
                continue;
            };
            match serde_json::from_slice::<Template>(&file.data) {
                Ok(template) => {
                    templates.insert(template.id.clone(), template);
                }
                Err(error) => tracing::error!(%path, %error, "a template file does not parse"),
            }
        }
        templates
    });
    &LIBRARY
}

/// The names `{{config.NAME}}` refers to in `text`.
fn config_names(text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find("{{") {
        let start = from + start;
        let Some(length) = text[start..].find("}}") else {
            break;
        };
        let end = start + length + 2;
        let inner = text[start + 2..end - 2].trim();
        if let Some(name) = inner.strip_prefix("config.")
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            found.push((start..end, name.to_owned()));
        }
        from = end;
    }
    found
}

/// `value` with every `{{config.NAME}}` replaced by the choice: a string that is only the
/// reference takes the choice's own type (a number stays a number); inside text, the choice as
/// text. A name with no choice is an error naming it.
pub fn put_config(value: &Value, config: &Map<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => {
            let names = config_names(text);
            if names.is_empty() {
                return Ok(value.clone());
            }
            let chosen = |name: &str| {
                config.get(name).ok_or_else(|| {
                    format!("the workflow reads config.{name}, which is not configured")
                })
            };
            if let [(range, name)] = names.as_slice()
                && range.start == 0
                && range.end == text.len()
            {
                return chosen(name).cloned();
            }
            let mut out = String::with_capacity(text.len());
            let mut last = 0;
            for (range, name) in &names {
                out.push_str(&text[last..range.start]);
                match chosen(name)? {
                    Value::String(choice) => out.push_str(choice),
                    Value::Null => {}
                    other => out.push_str(&other.to_string()),
                }
                last = range.end;
            }
            out.push_str(&text[last..]);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| put_config(item, config))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, item)| Ok((key.clone(), put_config(item, config)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The choices with the schema's defaults filled in where a choice was left out.
fn with_defaults(schema: &Value, given: &Map<String, Value>) -> Map<String, Value> {
    let mut config = given.clone();
    if let Some(properties) = schema["properties"].as_object() {
        for (name, property) in properties {
            if let (false, Some(default)) = (config.contains_key(name), property.get("default")) {
                config.insert(name.clone(), default.clone());
            }
        }
    }
    config
}

/// What is wrong with the choices, each at its path under `$.config`.
fn config_problems(schema: &Value, config: &Value) -> Vec<Detail> {
    let validator = match jsonschema::validator_for(schema) {
        Ok(validator) => validator,
        Err(error) => {
            return vec![Detail {
                path: "$.config".into(),
                message: format!("the template's configuration schema is broken: {error}"),
            }];
        }
    };
    validator
        .iter_errors(config)
        .map(|error| {
            let pointer = error.instance_path().to_string();
            let path = pointer
                .split('/')
                .skip(1)
                .fold("$.config".to_owned(), |path, part| format!("{path}.{part}"));
            Detail {
                path,
                message: error.to_string(),
            }
        })
        .collect()
}

/// Sets `credential` on every step and trigger of `service` (in branches and loops too).
fn use_credentials(value: &mut Value, chosen: &BTreeMap<String, String>) {
    match value {
        Value::Object(fields) => {
            let service = fields
                .get("service")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Some(name) = service.and_then(|service| chosen.get(&service)) {
                fields.insert("credential".into(), Value::String(name.clone()));
            }
            for item in fields.values_mut() {
                use_credentials(item, chosen);
            }
        }
        Value::Array(items) => {
            for item in items {
                use_credentials(item, chosen);
            }
        }
        _ => {}
    }
}

/// The workflow a template makes with these choices and connections: the template's workflow
/// with the choices put in (defaults for the rest) and each service's chosen connection.
pub fn workflow_for(
    template: &Template,
    given: &Map<String, Value>,
    credentials: &BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    let config = with_defaults(&template.configuration_schema, given);
    let problems = config_problems(
        &template.configuration_schema,
        &Value::Object(config.clone()),
    );
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            message: "the configuration does not fit the template".into(),
            details: problems,
        });
    }
    let mut workflow = put_config(&template.workflow, &config)
        .map_err(|problem| ApiError::Internal(format!("template {}: {problem}", template.id)))?;
    use_credentials(&mut workflow, credentials);
    Ok(workflow)
}

/// The services this organization has a connection to.
async fn connected(state: &AppState, org: baton_core::OrgId) -> Result<BTreeSet<String>, ApiError> {
    let credentials = state
        .store
        .list_credentials(org, baton_core::PageRequest::first(500))
        .await?;
    Ok(credentials
        .items
        .into_iter()
        .map(|credential| credential.service)
        .collect())
}

/// The catalog's AI providers and each connector's display name.
fn catalog(state: &AppState) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let mut ai = BTreeSet::new();
    let mut names = BTreeMap::new();
    for declared in state.runtime.connectors.catalog() {
        let Some(id) = declared["id"].as_str() else {
            continue;
        };
        if declared["category"] == "ai" {
            ai.insert(id.to_owned());
        }
        let name = declared["name"].as_str().unwrap_or(id);
        names.insert(id.to_owned(), name.to_owned());
    }
    names.insert(
        AI.into(),
        "an AI model (OpenAI, Anthropic, Google Gemini or Cohere)".into(),
    );
    (ai, names)
}

/// The required apps the organization has not connected; a service that needs no connection
/// (`http`, `zapier`) is never missing.
fn missing(
    template: &Template,
    connected: &BTreeSet<String>,
    ai: &BTreeSet<String>,
    state: &AppState,
) -> Vec<String> {
    template
        .integrations
        .required
        .iter()
        .filter(|service| {
            if service.as_str() == AI {
                return !connected.iter().any(|have| ai.contains(have));
            }
            state.runtime.connectors.implicit_credential(service) && !connected.contains(*service)
        })
        .cloned()
        .collect()
}

fn rating(stats: Option<&baton_store::TemplateStats>) -> Value {
    match stats.filter(|stats| stats.ratings > 0) {
        Some(stats) => json!({
            "average": (stats.stars as f64 / stats.ratings as f64 * 10.0).round() / 10.0,
            "count": stats.ratings,
        }),
        None => json!({"average": null, "count": 0}),
    }
}

fn summary(
    template: &Template,
    stats: Option<&baton_store::TemplateStats>,
    missing: Vec<String>,
    own: bool,
) -> Value {
    json!({
        "own": own,
        "id": template.id,
        "name": template.name,
        "description": template.description,
        "category": template.category,
        "tags": template.tags,
        "difficulty": template.difficulty,
        "time_saved": template.time_saved,
        "integrations": template.integrations,
        "author": template.author,
        "uses": stats.map_or(0, |stats| stats.uses),
        "rating": rating(stats),
        "missing": missing,
    })
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/templates", get(list).post(share))
        .route("/api/v1/templates/{id}", get(read).delete(remove))
        .route("/api/v1/templates/{id}/instantiate", post(instantiate))
        .route("/api/v1/templates/{id}/rating", put(rate))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Words in the name, description or tags.
    q: Option<String>,
    category: Option<Category>,
    tag: Option<String>,
    difficulty: Option<Difficulty>,
    /// Only templates whose required apps are all connected.
    #[serde(default)]
    connected_only: bool,
}

async fn list(
    State(state): State<AppState>,
    signed_in: Authenticated,
    listing: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let listing = query(listing)?;
    let connected = connected(&state, signed_in.org).await?;
    let (ai, _) = catalog(&state);
    let stats = state.store.template_stats().await?;
    let words: Vec<String> = listing
        .q
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let own = own_templates(&state, signed_in.org).await?;
    let all = library()
        .values()
        .map(|template| (template, false))
        .chain(own.iter().map(|template| (template, true)));
    let mut items = Vec::new();
    for (template, is_own) in all {
        let text = format!(
            "{} {} {}",
            template.name,
            template.description,
            template.tags.join(" ")
        )
        .to_lowercase();
        let fits = words.iter().all(|word| text.contains(word))
            && listing
                .category
                .is_none_or(|category| category == template.category)
            && listing.tag.as_deref().is_none_or(|tag| {
                template
                    .tags
                    .iter()
                    .any(|has| has.eq_ignore_ascii_case(tag))
            })
            && listing
                .difficulty
                .is_none_or(|difficulty| difficulty == template.difficulty);
        if !fits {
            continue;
        }
        let missing = missing(template, &connected, &ai, &state);
        if listing.connected_only && !missing.is_empty() {
            continue;
        }
        let stats = stats.iter().find(|stats| stats.template_id == template.id);
        items.push(summary(template, stats, missing, is_own));
    }
    // The most used first, then by name.
    items.sort_by(|a, b| {
        b["uses"]
            .as_u64()
            .cmp(&a["uses"].as_u64())
            .then_with(|| a["name"].as_str().cmp(&b["name"].as_str()))
    });
    Ok(Json(json!({"items": items})))
}

/// The organization's own templates, as stored.
async fn own_templates(
    state: &AppState,
    org: baton_core::OrgId,
) -> Result<Vec<Template>, ApiError> {
    Ok(state
        .store
        .org_templates(org)
        .await?
        .into_iter()
        .filter_map(|document| match serde_json::from_value(document) {
            Ok(template) => Some(template),
            Err(error) => {
                tracing::error!(%error, "an organization's template does not parse");
                None
            }
        })
        .collect())
}

/// An official template, or one of the organization's own; whether it is its own.
async fn find(
    state: &AppState,
    org: baton_core::OrgId,
    id: &str,
) -> Result<(Template, bool), ApiError> {
    if let Some(template) = library().get(id) {
        return Ok((template.clone(), false));
    }
    own_templates(state, org)
        .await?
        .into_iter()
        .find(|template| template.id == id)
        .map(|template| (template, true))
        .ok_or(ApiError::NotFoundBecause(
            "there is no template with this id",
        ))
}

async fn read(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let (template, own) = find(&state, signed_in.org, &id).await?;
    let template = &template;
    let connected = connected(&state, signed_in.org).await?;
    let (ai, names) = catalog(&state);
    let stats = state.store.template_stats().await?;
    let stats = stats.iter().find(|stats| stats.template_id == template.id);
    let missing = missing(template, &connected, &ai, &state);
    let mut shown = summary(template, stats, missing, own);
    shown["configuration_schema"] = template.configuration_schema.clone();
    shown["example_config"] = template.example_config.clone();
    shown["sample_input"] = template.sample_input.clone();
    shown["steps_in_words"] = json!(template.steps_in_words);
    shown["examples"] = json!(template.examples);
    shown["workflow"] = template.workflow.clone();
    shown["app_names"] = json!(
        names
            .iter()
            .filter(|(id, _)| template.integrations.required.contains(id)
                || template.integrations.optional.contains(id))
            .collect::<BTreeMap<_, _>>()
    );
    shown["my_rating"] = json!(match signed_in.user() {
        Some(user) => state.store.template_rating(user, &template.id).await?,
        None => None,
    });
    Ok(Json(shown))
}

/// `POST .../instantiate`: the choices, and which connection each service uses (its name);
/// a service left out uses the organization's only connection to it.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Instantiate {
    #[serde(default)]
    config: Map<String, Value>,
    #[serde(default)]
    credentials: BTreeMap<String, String>,
    /// The new workflow's name; the template's when absent.
    #[serde(default)]
    name: Option<String>,
}

async fn instantiate(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<impl IntoResponse, ApiError> {
    signed_in.require(Action::CreateWorkflow)?;
    let (template, _) = find(&state, signed_in.org, &id).await?;
    let template = &template;
    let asked: Instantiate = serde_json::from_value(body).map_err(|error| ApiError::Invalid {
        message: "the request does not fit".into(),
        details: vec![Detail {
            path: "$".into(),
            message: error.to_string(),
        }],
    })?;
    let connected = connected(&state, signed_in.org).await?;
    let (ai, names) = catalog(&state);
    let missing = missing(template, &connected, &ai, &state);
    if !missing.is_empty() {
        return Err(ApiError::Invalid {
            message: "connect the apps this template needs first".into(),
            details: missing
                .iter()
                .map(|service| Detail {
                    path: format!("$.credentials.{service}"),
                    message: format!(
                        "{} is not connected: connect it under Integrations",
                        names.get(service).map_or(service.as_str(), String::as_str)
                    ),
                })
                .collect(),
        });
    }
    let mut workflow = workflow_for(template, &asked.config, &asked.credentials)?;
    if let Some(name) = asked
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        workflow["name"] = Value::String(name.to_owned());
    }
    let body = crate::workflows::save_new(
        &state,
        &signed_in,
        &client,
        workflow,
        "workflow.created_from_template",
    )
    .await?;
    state
        .store
        .record_template_use(signed_in.org, &template.id, chrono::Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rate {
    /// 1 to 5.
    stars: u8,
}

async fn rate(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let (template, _) = find(&state, signed_in.org, &id).await?;
    let stars = serde_json::from_value::<Rate>(body)
        .ok()
        .map(|rate| rate.stars)
        .filter(|stars| (1..=5).contains(stars))
        .ok_or_else(|| ApiError::Invalid {
            message: "the rating is invalid".into(),
            details: vec![Detail {
                path: "$.stars".into(),
                message: "must be a whole number of stars from 1 to 5".into(),
            }],
        })?;
    let Some(user) = signed_in.user() else {
        return Err(ApiError::Forbidden);
    };
    state
        .store
        .rate_template(user, &template.id, stars, chrono::Utc::now())
        .await?;
    let stats = state.store.template_stats().await?;
    let stats = stats.iter().find(|stats| stats.template_id == template.id);
    Ok(Json(json!({"rating": rating(stats), "my_rating": stars})))
}

/// `POST /api/v1/templates`: one of the organization's workflows offered to its members as a
/// template (its current version, with no choices to make).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Share {
    /// The workflow's id, e.g. `wf_quotes`.
    workflow_id: String,
    name: String,
    /// What it does, in one sentence.
    description: String,
    category: Category,
    #[serde(default)]
    time_saved: Option<String>,
}

/// What a step does, in plain words, for a template made from a workflow.
fn in_words(step: &Value, names: &BTreeMap<String, String>) -> String {
    match step["type"].as_str().unwrap_or_default() {
        "integration" => {
            let service = step["service"].as_str().unwrap_or_default();
            let name = names.get(service).map_or(service, String::as_str);
            let action = step["action"]
                .as_str()
                .unwrap_or_default()
                .replace('_', " ");
            format!("{name}: {action}")
        }
        "llm" => "Ask an AI model".into(),
        "conditional" => "Check a condition and take one of two ways".into(),
        "loop" => "Repeat steps for each item".into(),
        "parallel" => "Run branches at once".into(),
        "approval" => "Wait for a person's approval".into(),
        "delay" => "Wait".into(),
        "sub_workflow" => "Run another workflow".into(),
        "agent" => "Let an AI agent work with tools".into(),
        _ => "Transform the data".into(),
    }
}

/// The apps a workflow calls: each service its steps and trigger name, and `ai` for AI steps.
fn apps_of(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            if let Some(service) = fields.get("service").and_then(Value::as_str) {
                found.insert(service.to_owned());
            }
            if matches!(
                fields.get("type").and_then(Value::as_str),
                Some("llm" | "agent")
            ) {
                found.insert(AI.into());
            }
            fields.values().for_each(|item| apps_of(item, found));
        }
        Value::Array(items) => items.iter().for_each(|item| apps_of(item, found)),
        _ => {}
    }
}

fn invalid(path: &str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        message: "the template is invalid".into(),
        details: vec![Detail {
            path: path.into(),
            message: message.into(),
        }],
    }
}

async fn share(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    JsonBody(body): JsonBody<Value>,
) -> Result<impl IntoResponse, ApiError> {
    signed_in.require(Action::CreateWorkflow)?;
    let asked: Share =
        serde_json::from_value(body).map_err(|error| invalid("$", error.to_string()))?;
    let name = asked.name.trim();
    if name.is_empty() {
        return Err(invalid("$.name", "must not be empty"));
    }
    let description = asked.description.trim();
    if description.is_empty() {
        return Err(invalid(
            "$.description",
            "must say what it does in a sentence",
        ));
    }
    let workflow = state
        .store
        .workflow_by_key(signed_in.org, &asked.workflow_id)
        .await?
        .ok_or_else(|| {
            invalid(
                "$.workflow_id",
                "the organization has no workflow with this id",
            )
        })?;
    let version = state
        .store
        .workflow_version(signed_in.org, workflow.id, workflow.current_version)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut definition = version.definition;
    // The connections stay the organization's: each member chooses theirs when using it.
    strip_credentials(&mut definition);
    let organization = state
        .store
        .organization(signed_in.org)
        .await?
        .ok_or(ApiError::NotFound)?;
    let (_, names) = catalog(&state);
    let mut apps = BTreeSet::new();
    apps_of(&definition, &mut apps);
    let key = workflow.key.trim_start_matches("wf_");
    let org_mark = signed_in.org.as_uuid().simple().to_string();
    let id = format!("own_{key}_{}", &org_mark[..8]);
    let steps_in_words = definition["steps"]
        .as_array()
        .map(|steps| steps.iter().map(|step| in_words(step, &names)).collect())
        .unwrap_or_default();
    let template = Template {
        id: id.clone(),
        name: name.to_owned(),
        description: description.to_owned(),
        category: asked.category,
        tags: vec![],
        difficulty: Difficulty::Beginner,
        time_saved: asked.time_saved.unwrap_or_default().trim().to_owned(),
        integrations: Integrations {
            required: apps.into_iter().collect(),
            optional: vec![],
        },
        configuration_schema: json!({"type": "object", "additionalProperties": false, "properties": {}}),
        example_config: json!({}),
        sample_input: json!({}),
        steps_in_words,
        examples: vec![],
        author: organization.name,
        workflow: definition,
    };
    let document =
        serde_json::to_value(&template).map_err(|error| ApiError::Internal(error.to_string()))?;
    state
        .store
        .add_org_template(signed_in.org, &id, &document, chrono::Utc::now())
        .await
        .map_err(|error| match error {
            StoreError::Conflict(_) => ApiError::Invalid {
                message: "this workflow is a template already".into(),
                details: vec![Detail {
                    path: "$.workflow_id".into(),
                    message: format!("the template {id:?} was made from it; remove that one first"),
                }],
            },
            other => other.into(),
        })?;
    crate::audit::record(
        &state,
        &client,
        crate::audit::Event::by(&signed_in, "template.shared").target(format!("template:{id}")),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(summary(&template, None, vec![], true)),
    ))
}

/// Takes out every step's and trigger's `credential`.
fn strip_credentials(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.remove("credential");
            fields.values_mut().for_each(strip_credentials);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_credentials),
        _ => {}
    }
}

async fn remove(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    signed_in.require(Action::CreateWorkflow)?;
    if library().contains_key(&id) {
        return Err(ApiError::Invalid {
            message: "official templates cannot be removed".into(),
            details: vec![],
        });
    }
    state
        .store
        .delete_org_template(signed_in.org, &id)
        .await
        .map_err(|error| match error {
            StoreError::NotFound(_) => {
                ApiError::NotFoundBecause("there is no template with this id")
            }
            other => other.into(),
        })?;
    crate::audit::record(
        &state,
        &client,
        crate::audit::Event::by(&signed_in, "template.removed").target(format!("template:{id}")),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
