//! `/api/v1/workflows`: the organization's workflows as DSL documents, addressed by the
//! document's own `id` (e.g. `wf_email_draft`). Every save is a new immutable version; running
//! one queues an execution of its current version.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use baton_core::dsl::Problem;
use baton_core::execution::TriggerKind;
use baton_core::policy::Action;
use baton_core::workflow::{NewVersion, NewWorkflow, Workflow, WorkflowVersion};
use baton_runtime::NewRun;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::audit::{self, Event};
use crate::auth::guard::Authenticated;
use crate::error::{ApiError, Detail};
use crate::request::{Client, JsonBody, bad_query, page, query};

/// The longest `?wait=` a run request may ask for.
pub const MAX_WAIT_SECONDS: u64 = 300;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/workflows", get(list).post(create))
        .route("/api/v1/workflows/validate", post(validate))
        .route(
            "/api/v1/workflows/{id}",
            get(read).put(replace).delete(remove),
        )
        .route("/api/v1/workflows/{id}/versions", get(versions))
        .route("/api/v1/workflows/{id}/versions/{version}", get(version))
        .route(
            "/api/v1/workflows/{id}/versions/{version}/restore",
            post(restore),
        )
        .route("/api/v1/workflows/{id}/activate", post(activate))
        .route("/api/v1/workflows/{id}/deactivate", post(deactivate))
        .route("/api/v1/workflows/{id}/runs", post(start_run))
        .route("/api/v1/workflows/{id}/test-step", post(test_step))
        .route("/api/v1/workflows/{id}/schedule", get(schedule))
        .route("/api/v1/workflows/{id}/poll", get(poll).post(poll_now))
}

/// The workflow named in a path, in the caller's organization.
pub(crate) async fn find(
    state: &AppState,
    signed_in: &Authenticated,
    key: &str,
) -> Result<Workflow, ApiError> {
    state
        .store
        .workflow_by_key(signed_in.org, key)
        .await?
        .ok_or(ApiError::NotFound)
}

fn problems(message: &str, problems: Vec<Problem>) -> ApiError {
    ApiError::Invalid {
        message: message.to_owned(),
        details: problems
            .into_iter()
            .map(|problem| Detail {
                path: problem.path,
                message: problem.message,
            })
            .collect(),
    }
}

fn summary(workflow: &Workflow) -> Value {
    json!({
        "id": workflow.key,
        "name": workflow.name,
        "version": workflow.current_version,
        "active": workflow.active,
        "created_by": workflow.created_by,
        "created_at": workflow.created_at,
        "updated_at": workflow.updated_at,
    })
}

fn with_definition(workflow: &Workflow, version: &WorkflowVersion) -> Value {
    let mut shown = summary(workflow);
    shown["definition"] = version.definition.clone();
    shown["note"] = json!(version.note);
    shown
}

/// A key not yet taken in the organization: the document's own, else `KEY_2`, `KEY_3`, ...
async fn free_key(
    state: &AppState,
    signed_in: &Authenticated,
    wanted: &str,
) -> Result<String, ApiError> {
    if state
        .store
        .workflow_by_key(signed_in.org, wanted)
        .await?
        .is_none()
    {
        return Ok(wanted.to_owned());
    }
    for n in 2..1000 {
        let candidate = format!("{wanted}_{n}");
        if state
            .store
            .workflow_by_key(signed_in.org, &candidate)
            .await?
            .is_none()
        {
            return Ok(candidate);
        }
    }
    Ok(format!("{wanted}_{}", &uuid_suffix()))
}

fn uuid_suffix() -> String {
    baton_core::WorkflowId::new().to_string().replace('-', "")[20..].to_owned()
}

/// Where a document names a stored credential: `(path, service, name)` of every integration
/// step and poll trigger with a `credential`.
fn named_credentials(value: &Value, path: &str, found: &mut Vec<(String, String, String)>) {
    match value {
        Value::Object(fields) => {
            let kind = fields.get("type").and_then(Value::as_str);
            if matches!(kind, Some("integration" | "poll"))
                && let (Some(service), Some(name)) = (
                    fields.get("service").and_then(Value::as_str),
                    fields.get("credential").and_then(Value::as_str),
                )
            {
                found.push((
                    format!("{path}.credential"),
                    service.to_owned(),
                    name.to_owned(),
                ));
            }
            for (key, inner) in fields {
                if key != "inputs" {
                    named_credentials(inner, &format!("{path}.{key}"), found);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                named_credentials(item, &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

/// Refuses a document whose steps name credentials the organization does not have, each at
/// its path.
async fn check_credentials(
    state: &AppState,
    org: baton_core::OrgId,
    document: &Value,
) -> Result<(), ApiError> {
    let mut named = Vec::new();
    named_credentials(document, "$", &mut named);
    let mut details = Vec::new();
    for (path, service, name) in named {
        let stored = state.store.service_credentials(org, &service).await?;
        if !stored.iter().any(|credential| credential.name == name) {
            details.push(crate::error::Detail {
                path,
                message: format!(
                    "the organization has no {service} credential named {name:?}; add it under Credentials first"
                ),
            });
        }
    }
    if details.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            message: "the workflow names credentials the organization does not have".into(),
            details,
        })
    }
}

async fn create(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    JsonBody(document): JsonBody<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let body = save_new(&state, &signed_in, &client, document, "workflow.created").await?;
    Ok((StatusCode::CREATED, Json(body)))
}

/// Checks and saves a new workflow (under its own id, or the next free one), gives it its hook
/// when it has one, and audits it as `action`; the workflow as the API shows it.
pub(crate) async fn save_new(
    state: &AppState,
    signed_in: &Authenticated,
    client: &Client,
    mut document: Value,
    action: &str,
) -> Result<Value, ApiError> {
    signed_in.require(Action::CreateWorkflow)?;
    let compiled = state
        .runtime
        .validate(&document)
        .map_err(|found| problems("the workflow is invalid", found))?;
    check_credentials(state, signed_in.org, &document).await?;
    let key = free_key(state, signed_in, &compiled.header.id).await?;
    if key != compiled.header.id {
        document["id"] = Value::from(key.clone());
    }
    let (workflow, version) = state
        .store
        .create_workflow(NewWorkflow {
            org_id: signed_in.org,
            key,
            name: compiled.header.name.clone(),
            definition: document,
            created_by: signed_in.user(),
        })
        .await?;
    crate::hooks::ensure_for(
        state,
        signed_in.org,
        workflow.id,
        compiled.header.trigger.as_ref(),
    )
    .await?;
    audit::record(
        state,
        client,
        Event::by(signed_in, action).target(format!("workflow:{}", workflow.key)),
    )
    .await;
    let mut body = with_definition(&workflow, &version);
    body["version"] = Value::from(version.version);
    Ok(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    signed_in: Authenticated,
    listing: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let listing = query(listing)?;
    let workflows = state
        .store
        .list_workflows(signed_in.org, page(listing.cursor, listing.limit))
        .await?;
    let week_ago = chrono::Utc::now() - chrono::Duration::days(7);
    let activity = state
        .store
        .workflow_activity(signed_in.org, week_ago)
        .await?;
    let mut items = Vec::with_capacity(workflows.items.len());
    for workflow in &workflows.items {
        let mut shown = summary(workflow);
        let version = state
            .store
            .workflow_version(signed_in.org, workflow.id, workflow.current_version)
            .await?;
        shown["trigger"] = version
            .and_then(|version| version.definition.get("trigger").cloned())
            .unwrap_or_else(|| json!({"type": "manual"}));
        let ran = activity.iter().find(|ran| ran.workflow_id == workflow.id);
        shown["runs_this_week"] = json!(ran.map_or(0, |ran| ran.runs));
        shown["success_rate"] = json!(ran.and_then(|ran| {
            let finished = ran.completed + ran.failed;
            (finished > 0).then(|| (100 * ran.completed + finished / 2) / finished)
        }));
        shown["last_run"] = json!(ran.map(|ran| json!({
            "at": ran.last_run_at,
            "state": ran.last_state.as_str(),
        })));
        items.push(shown);
    }
    Ok(Json(json!({
        "items": items,
        "next_cursor": workflows.next_cursor,
    })))
}

async fn read(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let workflow = find(&state, &signed_in, &id).await?;
    let version = state
        .store
        .workflow_version(signed_in.org, workflow.id, workflow.current_version)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(with_definition(&workflow, &version)))
}

/// How a save is made: the audit action, the version it was made from (see
/// [`NewVersion::base_version`]) and the saver's note.
struct Saving {
    action: &'static str,
    base_version: Option<i32>,
    note: Option<String>,
}

/// Saves `document` as the workflow's next version.
async fn save(
    state: &AppState,
    signed_in: &Authenticated,
    client: &Client,
    workflow: &Workflow,
    mut document: Value,
    Saving {
        action,
        base_version,
        note,
    }: Saving,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::EditWorkflow {
        creator: workflow.created_by,
    })?;
    match document.get("id") {
        None => document["id"] = Value::from(workflow.key.clone()),
        Some(id) if id != workflow.key.as_str() => {
            return Err(ApiError::invalid(
                "the workflow is invalid",
                "$.id",
                format!(
                    "must be {:?}, the id of the workflow being saved (to copy it, POST it to /api/v1/workflows)",
                    workflow.key
                ),
            ));
        }
        Some(_) => {}
    }
    let compiled = state
        .runtime
        .validate(&document)
        .map_err(|found| problems("the workflow is invalid", found))?;
    check_credentials(state, signed_in.org, &document).await?;
    let (saved, version) = state
        .store
        .save_version(NewVersion {
            org_id: signed_in.org,
            workflow_id: workflow.id,
            name: compiled.header.name.clone(),
            definition: document,
            created_by: signed_in.user(),
            base_version,
            note,
        })
        .await?;
    crate::hooks::ensure_for(
        state,
        signed_in.org,
        saved.id,
        compiled.header.trigger.as_ref(),
    )
    .await?;
    audit::record(
        state,
        client,
        Event::by(signed_in, action)
            .target(format!("workflow:{}", saved.key))
            .details(json!({"version": version.version})),
    )
    .await;
    Ok(Json(with_definition(&saved, &version)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceQuery {
    /// The version the change was made from: the save is refused (409) when another was saved
    /// since.
    base_version: Option<i32>,
    /// What changed, in the saver's words (at most 500 characters).
    note: Option<String>,
}

/// The longest note a saved version keeps.
const MAX_NOTE: usize = 500;

async fn replace(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
    asked: Result<Query<ReplaceQuery>, QueryRejection>,
    JsonBody(document): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let asked = query(asked)?;
    let note = asked
        .note
        .map(|note| note.trim().to_owned())
        .filter(|note| !note.is_empty());
    if note
        .as_ref()
        .is_some_and(|note| note.chars().count() > MAX_NOTE)
    {
        return Err(bad_query(
            "note",
            format!("must be at most {MAX_NOTE} characters"),
        ));
    }
    let workflow = find(&state, &signed_in, &id).await?;
    save(
        &state,
        &signed_in,
        &client,
        &workflow,
        document,
        Saving {
            action: "workflow.changed",
            base_version: asked.base_version,
            note,
        },
    )
    .await
}

async fn remove(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let workflow = find(&state, &signed_in, &id).await?;
    signed_in.require(Action::DeleteWorkflow {
        creator: workflow.created_by,
    })?;
    state
        .store
        .delete_workflow(signed_in.org, workflow.id)
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "workflow.deleted").target(format!("workflow:{}", workflow.key)),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn versions(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
    listing: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let listing = query(listing)?;
    let workflow = find(&state, &signed_in, &id).await?;
    let versions = state
        .store
        .list_versions(
            signed_in.org,
            workflow.id,
            page(listing.cursor, listing.limit),
        )
        .await?;
    Ok(Json(json!({
        "items": versions.items.iter().map(|version| json!({
            "version": version.version,
            "created_by": version.created_by,
            "created_at": version.created_at,
            "note": version.note,
            "current": version.version == workflow.current_version,
        })).collect::<Vec<_>>(),
        "next_cursor": versions.next_cursor,
    })))
}

async fn stored_version(
    state: &AppState,
    signed_in: &Authenticated,
    workflow: &Workflow,
    number: &str,
) -> Result<WorkflowVersion, ApiError> {
    let number: i32 = number.parse().map_err(|_| ApiError::NotFound)?;
    state
        .store
        .workflow_version(signed_in.org, workflow.id, number)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn version(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path((id, number)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let workflow = find(&state, &signed_in, &id).await?;
    let version = stored_version(&state, &signed_in, &workflow, &number).await?;
    Ok(Json(json!({
        "id": workflow.key,
        "version": version.version,
        "definition": version.definition,
        "created_by": version.created_by,
        "created_at": version.created_at,
        "note": version.note,
    })))
}

/// Saves an older version's definition as the newest version.
async fn restore(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path((id, number)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let workflow = find(&state, &signed_in, &id).await?;
    let old = stored_version(&state, &signed_in, &workflow, &number).await?;
    save(
        &state,
        &signed_in,
        &client,
        &workflow,
        old.definition,
        Saving {
            action: "workflow.restored",
            base_version: None,
            note: Some(format!("Restored version {}", old.version)),
        },
    )
    .await
}

async fn set_active(
    state: &AppState,
    signed_in: &Authenticated,
    client: &Client,
    key: &str,
    active: bool,
) -> Result<Json<Value>, ApiError> {
    let workflow = find(state, signed_in, key).await?;
    signed_in.require(Action::EditWorkflow {
        creator: workflow.created_by,
    })?;
    let changed = state
        .store
        .set_active(signed_in.org, workflow.id, active)
        .await?;
    if active && !workflow.active {
        // A poll trigger turned back on starts from now, as on its first activation, instead
        // of running once for everything that arrived while it was off.
        state.store.forget_poll(workflow.id).await?;
    }
    audit::record(
        state,
        client,
        Event::by(
            signed_in,
            if active {
                "workflow.activated"
            } else {
                "workflow.deactivated"
            },
        )
        .target(format!("workflow:{key}")),
    )
    .await;
    Ok(Json(summary(&changed)))
}

async fn activate(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_active(&state, &signed_in, &client, &id, true).await
}

async fn deactivate(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_active(&state, &signed_in, &client, &id, false).await
}

/// Checks a definition without saving it.
async fn validate(
    State(state): State<AppState>,
    signed_in: Authenticated,
    JsonBody(document): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    state
        .runtime
        .validate(&document)
        .map_err(|found| problems("the workflow is invalid", found))?;
    Ok(Json(json!({"valid": true})))
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    #[serde(default)]
    input: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitQuery {
    wait: Option<u64>,
}

/// Queues a run of the current version: 202 with the execution at once, or with `?wait=N` the
/// execution as it is when it finishes or N seconds have passed (200 when finished).
async fn start_run(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
    waiting: Result<Query<WaitQuery>, QueryRejection>,
    headers: axum::http::HeaderMap,
    body: Option<JsonBody<RunRequest>>,
) -> Result<impl IntoResponse, ApiError> {
    let waiting = query(waiting)?;
    let workflow = find(&state, &signed_in, &id).await?;
    signed_in.require(Action::EditWorkflow {
        creator: workflow.created_by,
    })?;
    if let Some(seconds) = waiting.wait
        && seconds > MAX_WAIT_SECONDS
    {
        return Err(bad_query(
            "wait",
            format!("must be at most {MAX_WAIT_SECONDS} seconds"),
        ));
    }
    let input = body
        .and_then(|JsonBody(body)| body.input)
        .unwrap_or_else(|| json!({}));
    if !input.is_object() {
        return Err(ApiError::invalid(
            "the run is invalid",
            "$.input",
            "must be a JSON object (the trigger's fields)",
        ));
    }
    let key = crate::request::idempotency_key(&headers, &["idempotency-key"])?;
    let fingerprint = key
        .as_ref()
        .map(|_| crate::request::fingerprint(input.to_string().as_bytes()));
    let run = NewRun {
        org_id: signed_in.org,
        workflow_id: workflow.id,
        version: workflow.current_version,
        trigger: TriggerKind::Manual,
        run_as: signed_in.user(),
        input,
    };
    // The same key from the organization (within the retention, 24 h by default) answers the
    // first execution; with another input it is refused.
    let execution = match &key {
        Some(key) => state
            .runtime
            .deliver(
                run,
                baton_store::Delivery {
                    id: &format!("api:{key}"),
                    fingerprint: fingerprint.as_deref(),
                },
            )
            .await
            .map(|(execution, _)| execution),
        None => state.runtime.start(run).await,
    }
    .map_err(crate::executions::runtime_error)?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "workflow.run")
            .target(format!("workflow:{}", workflow.key))
            .details(json!({"execution": execution.id})),
    )
    .await;
    let execution = match waiting.wait {
        Some(seconds) if seconds > 0 => state
            .runtime
            .wait(
                signed_in.org,
                execution.id,
                std::time::Duration::from_secs(seconds),
            )
            .await
            .map_err(crate::executions::runtime_error)?,
        _ => execution,
    };
    let status = if execution.state.is_finished() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let steps = state.store.step_runs(execution.id).await?;
    Ok((
        status,
        Json(baton_runtime::execution_json(
            &execution,
            &workflow.key,
            &steps,
        )),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepTestRequest {
    /// The id of the step to test.
    step: String,
    /// The workflow as it is being edited (unsaved); the current version when absent.
    #[serde(default)]
    #[schemars(with = "Option<Value>")]
    definition: Option<Value>,
    /// A run of this workflow whose trigger data and step outputs the step reads.
    #[serde(default)]
    from_execution: Option<String>,
    /// The trigger's data, over the run's.
    #[serde(default)]
    #[schemars(with = "Option<Value>")]
    input: Option<Value>,
    /// Values the step reads by name (an earlier step's output by its id, a loop's `item`),
    /// over the run's.
    #[serde(default)]
    #[schemars(with = "Option<Value>")]
    values: Option<Value>,
    /// Preview, rather than make, a call that sends, posts or writes.
    #[serde(default)]
    safe: bool,
}

/// "Test this step": runs one step alone, reading the trigger data and earlier outputs of a
/// run of the workflow (`from_execution`) and/or values typed in. It runs once, without
/// retries; with `safe`, a call that would change something outside Baton answers the request
/// it would send instead of sending it. A step that ran is kept as a `step_test` execution, so
/// what it cost is counted.
async fn test_step(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<StepTestRequest>,
) -> Result<Json<Value>, ApiError> {
    let workflow = find(&state, &signed_in, &id).await?;
    signed_in.require(Action::EditWorkflow {
        creator: workflow.created_by,
    })?;
    let invalid =
        |path: &str, message: String| ApiError::invalid("the step test is invalid", path, message);
    let compiled = match &request.definition {
        Some(definition) => std::sync::Arc::new(
            state
                .runtime
                .validate(definition)
                .map_err(|found| problems("the workflow is invalid", found))?,
        ),
        None => current(&state, &signed_in, &workflow).await?,
    };
    let mut input = json!({});
    let mut values = serde_json::Map::new();
    let mut source = json!({"kind": "sample"});
    if let Some(execution) = &request.from_execution {
        let run = match execution.parse::<baton_core::ExecutionId>() {
            Ok(run) => state.store.execution(signed_in.org, run).await?,
            Err(_) => None,
        }
        .filter(|run| run.workflow_id == workflow.id)
        .ok_or_else(|| {
            invalid(
                "$.from_execution",
                format!("this workflow has no run {execution:?}"),
            )
        })?;
        input = run.input.clone();
        // The outputs of the steps that completed outside loops (a loop item's steps are
        // `each[2].send`): what a step after them reads by id.
        for step in state.store.step_runs(run.id).await? {
            if step.state == baton_core::StepState::Completed
                && !step.step_key.contains('[')
                && let Some(output) = step.output
            {
                values.insert(step.step_key, output);
            }
        }
        source = json!({"kind": "run", "execution": run.id, "started_at": run.created_at, "trigger": run.trigger});
    }
    match request.input {
        None => {}
        Some(given @ Value::Object(_)) => {
            input = given;
            if source["kind"] == "run" {
                source["input"] = json!("typed in");
            }
        }
        Some(_) => {
            return Err(invalid(
                "$.input",
                "must be a JSON object (the trigger's fields)".into(),
            ));
        }
    }
    match request.values {
        None => {}
        Some(Value::Object(given)) => {
            if !given.is_empty() {
                source["values_typed_in"] = json!(given.keys().collect::<Vec<_>>());
            }
            values.extend(given);
        }
        Some(_) => {
            return Err(invalid(
                "$.values",
                "must be a JSON object of values by name (an earlier step's id)".into(),
            ));
        }
    }
    let run = NewRun {
        org_id: signed_in.org,
        workflow_id: workflow.id,
        version: workflow.current_version,
        trigger: TriggerKind::StepTest,
        run_as: signed_in.user(),
        input,
    };
    let (execution, tested) = state
        .runtime
        .test_step(run, &compiled, &request.step, &values, request.safe)
        .await
        .map_err(|error| match error {
            baton_runtime::RuntimeError::Engine(baton_engine::EngineError::NoSuchStep(step)) => {
                invalid("$.step", format!("the workflow has no step {step:?}"))
            }
            baton_runtime::RuntimeError::Engine(baton_engine::EngineError::Answer(why)) => {
                invalid("$.step", why)
            }
            other => crate::executions::runtime_error(other),
        })?;
    if let Some(execution) = &execution {
        audit::record(
            &state,
            &client,
            Event::by(&signed_in, "workflow.step_tested")
                .target(format!("workflow:{}", workflow.key))
                .details(json!({"step": request.step, "execution": execution.id})),
        )
        .await;
    }
    let mut shown = match &tested.run {
        Some(run) => baton_runtime::step_json(run),
        None => json!({"state": "PREVIEW", "input": tested.preview}),
    };
    shown["id"] = json!(request.step);
    shown["source"] = source;
    shown["execution"] = json!(execution.as_ref().map(|execution| execution.id));
    if let Some(why) = tested.stopped {
        shown["stopped"] = json!(why);
    }
    Ok(Json(shown))
}

/// The workflow's schedule and its next run times (in UTC and in the schedule's zone).
async fn schedule(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let workflow = find(&state, &signed_in, &id).await?;
    let compiled = current(&state, &signed_in, &workflow).await?;
    let Some(baton_core::dsl::Trigger::Schedule {
        cron,
        timezone,
        missed,
    }) = &compiled.header.trigger
    else {
        return Err(ApiError::Conflict(
            "this workflow has no schedule trigger".into(),
        ));
    };
    let schedule = baton_engine::schedule::Schedule::parse(cron, timezone.as_deref())
        .map_err(|problem| ApiError::Internal(format!("{problem:?}")))?;
    let next: Vec<String> = schedule
        .upcoming(chrono::Utc::now(), 5)
        .into_iter()
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .collect();
    Ok(Json(json!({
        "cron": cron,
        "timezone": timezone.clone().unwrap_or_else(|| "UTC".into()),
        "missed": missed.unwrap_or(baton_core::dsl::MissedRuns::Skip),
        "active": workflow.active,
        "next_runs": next,
    })))
}

/// The workflow's poll trigger and how its looks go.
async fn poll(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let workflow = find(&state, &signed_in, &id).await?;
    let (service, event, every) = poll_trigger(&state, &signed_in, &workflow).await?;
    let polled = state
        .store
        .poll_state(workflow.id)
        .await?
        .unwrap_or_default();
    let time = |time: Option<chrono::DateTime<chrono::Utc>>| {
        time.map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    Ok(Json(json!({
        "service": service,
        "event": event,
        "every_seconds": every.as_secs(),
        "active": workflow.active,
        "looked_at": time(polled.looked_at),
        "next_look_at": time(polled.next_look_at),
        "error": polled.error,
    })))
}

/// Makes the poll trigger look at once (within a couple of seconds), as a person testing a
/// workflow expects, instead of at its next interval.
async fn poll_now(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let workflow = find(&state, &signed_in, &id).await?;
    signed_in.require(Action::EditWorkflow {
        creator: workflow.created_by,
    })?;
    poll_trigger(&state, &signed_in, &workflow).await?;
    if !workflow.active {
        return Err(ApiError::Conflict(
            "the workflow is not active: activate it to let its trigger look".into(),
        ));
    }
    state.store.poll_now(workflow.id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"looking": true}))))
}

/// The service, event and interval of the workflow's poll trigger.
async fn poll_trigger(
    state: &AppState,
    signed_in: &Authenticated,
    workflow: &Workflow,
) -> Result<(String, String, std::time::Duration), ApiError> {
    let compiled = current(state, signed_in, workflow).await?;
    let Some(baton_core::dsl::Trigger::Poll {
        service,
        event,
        every,
        ..
    }) = &compiled.header.trigger
    else {
        return Err(ApiError::Conflict(
            "this workflow has no poll trigger".into(),
        ));
    };
    Ok((
        service.clone(),
        event.clone(),
        every.map_or(baton_runtime::scheduler::DEFAULT_POLL_EVERY, |every| {
            every.get()
        }),
    ))
}

/// The workflow's current version, compiled.
async fn current(
    state: &AppState,
    signed_in: &Authenticated,
    workflow: &Workflow,
) -> Result<std::sync::Arc<baton_engine::CompiledWorkflow>, ApiError> {
    state
        .runtime
        .compiled(signed_in.org, workflow.id, workflow.current_version)
        .await
        .map_err(crate::executions::runtime_error)
}
