//! `/api/v1/executions`: what ran, what it cost, and the few things a person can do to an
//! execution: cancel it, retry it from the failed step, answer its approval step.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use baton_core::execution::{Execution, ExecutionFilter, ExecutionUpdate};
use baton_core::policy::Action;
use baton_core::{Cursor, ExecutionId, ExecutionState, PageRequest, Role, StepState};
use baton_runtime::RuntimeError;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::audit::{self, Event};
use crate::auth::guard::Authenticated;
use crate::error::ApiError;
use crate::request::{Client, JsonBody, bad_query, query};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/executions", get(list))
        .route("/api/v1/executions/{id}", get(read))
        .route("/api/v1/executions/{id}/events", get(events))
        .route("/api/v1/executions/{id}/cancel", post(cancel))
        .route("/api/v1/executions/{id}/retry", post(retry))
        .route("/api/v1/executions/{id}/steps/{step}/answer", post(answer))
        .route("/api/v1/approvals", get(approvals))
}

/// How many waiting executions the approvals inbox looks through.
const INBOX_DEPTH: u32 = 200;

/// The approval steps waiting for an answer the caller may give, oldest first: the inbox.
async fn approvals(
    State(state): State<AppState>,
    signed_in: Authenticated,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let filter = ExecutionFilter {
        workflow_id: None,
        state: Some(ExecutionState::Waiting),
    };
    let waiting = state
        .store
        .list_executions(signed_in.org, &filter, PageRequest::first(INBOX_DEPTH))
        .await?;
    let email = match signed_in.user() {
        Some(user) => state.store.user(user).await?.map(|user| user.email),
        None => None,
    };
    let mut items = Vec::new();
    for execution in waiting.items {
        let key = workflow_key(&state, &execution).await?;
        for run in state.store.step_runs(execution.id).await? {
            let Some(input) = run
                .input
                .as_ref()
                .filter(|_| run.state == StepState::Waiting)
            else {
                continue;
            };
            let Some(approvers) = input.get("approvers") else {
                continue;
            };
            if !may_approve(approvers, signed_in.role, email.as_deref()) {
                continue;
            }
            items.push(json!({
                "execution_id": execution.id,
                "workflow_id": key,
                "step": run.step_key,
                "message": input.get("message").cloned().unwrap_or(Value::Null),
                "waiting_since": run.started_at,
            }));
        }
    }
    items.reverse();
    Ok(Json(json!({"items": items})))
}

pub(crate) fn runtime_error(error: RuntimeError) -> ApiError {
    match error {
        RuntimeError::Store(error) => error.into(),
        RuntimeError::NotFound(_) => ApiError::NotFound,
        other => ApiError::Internal(other.to_string()),
    }
}

async fn find(
    state: &AppState,
    signed_in: &Authenticated,
    id: &str,
) -> Result<Execution, ApiError> {
    let id: ExecutionId = id.parse().map_err(|_| ApiError::NotFound)?;
    match state.store.execution(signed_in.org, id).await? {
        Some(execution) => Ok(execution),
        None => Err(crate::audit::not_found_here(
            state,
            signed_in,
            baton_store::ObjectRef::Execution(id),
            format!("execution:{id}"),
        )
        .await),
    }
}

/// The key of the workflow an execution ran (deleted workflows keep theirs in the version).
async fn workflow_key(state: &AppState, execution: &Execution) -> Result<String, ApiError> {
    if let Some(workflow) = state
        .store
        .workflow(execution.org_id, execution.workflow_id)
        .await?
    {
        return Ok(workflow.key);
    }
    Ok(state
        .store
        .workflow_version(
            execution.org_id,
            execution.workflow_id,
            execution.workflow_version,
        )
        .await?
        .and_then(|version| version.definition["id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| execution.workflow_id.to_string()))
}

pub(crate) async fn shown(state: &AppState, execution: &Execution) -> Result<Value, ApiError> {
    let key = workflow_key(state, execution).await?;
    let steps = state.store.step_runs(execution.id).await?;
    Ok(baton_runtime::execution_json(execution, &key, &steps))
}

async fn read(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let execution = find(&state, &signed_in, &id).await?;
    Ok(Json(shown(&state, &execution).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// A workflow's id (its key).
    workflow: Option<String>,
    state: Option<String>,
    /// Only executions created at or after this time (RFC 3339).
    since: Option<String>,
    /// Only executions created before this time (RFC 3339).
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn time(field: &str, text: Option<&str>) -> Result<Option<chrono::DateTime<Utc>>, ApiError> {
    text.map(|text| {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|_| bad_query(field, format!("{text:?} is not an RFC 3339 time")))
    })
    .transpose()
}

/// Newest first. `since` and `until` narrow the pages the store returns by creation time.
async fn list(
    State(state): State<AppState>,
    signed_in: Authenticated,
    listing: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let listing = query(listing)?;
    let workflow_id = match &listing.workflow {
        Some(key) => match state.store.workflow_by_key(signed_in.org, key).await? {
            Some(workflow) => Some(workflow.id),
            None => return Ok(Json(json!({"items": [], "next_cursor": null}))),
        },
        None => None,
    };
    let execution_state = listing
        .state
        .as_deref()
        .map(|text| {
            text.to_uppercase().parse::<ExecutionState>().map_err(|_| {
                bad_query(
                    "state",
                    format!("{text:?} is not one of PENDING, RUNNING, WAITING, COMPLETED, FAILED, CANCELLED"),
                )
            })
        })
        .transpose()?;
    let since = time("since", listing.since.as_deref())?;
    let until = time("until", listing.until.as_deref())?;
    let limit = listing.limit.unwrap_or(50).clamp(1, 500);
    let mut request = match listing.cursor {
        Some(cursor) => PageRequest::after(limit, Cursor::new(cursor)),
        None => PageRequest::first(limit),
    };
    let filter = ExecutionFilter {
        workflow_id,
        state: execution_state,
    };
    // Time bounds filter the newest-first pages; a page may come back short, with a cursor.
    let mut items = Vec::new();
    let next = loop {
        let page = state
            .store
            .list_executions(signed_in.org, &filter, request)
            .await?;
        let mut older_than_since = false;
        for execution in page.items {
            if until.is_some_and(|until| execution.created_at >= until) {
                continue;
            }
            if since.is_some_and(|since| execution.created_at < since) {
                older_than_since = true;
                break;
            }
            let key = workflow_key(&state, &execution).await?;
            items.push(json!({
                "id": execution.id,
                "workflow_id": key,
                "workflow_version": execution.workflow_version,
                "state": execution.state,
                "trigger": execution.trigger,
                "cost_usd": execution.cost,
                "created_at": execution.created_at,
                "started_at": execution.started_at,
                "finished_at": execution.finished_at,
            }));
        }
        match page.next_cursor {
            Some(cursor) if !older_than_since && items.len() < limit as usize => {
                request = PageRequest::after(limit, cursor);
            }
            Some(cursor) if !older_than_since => break Some(cursor),
            _ => break None,
        }
    };
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

/// The creator of the execution's workflow, for the policy's "own workflows" rule.
async fn may_edit(
    state: &AppState,
    signed_in: &Authenticated,
    execution: &Execution,
) -> Result<(), ApiError> {
    let creator = state
        .store
        .workflow(execution.org_id, execution.workflow_id)
        .await?
        .and_then(|workflow| workflow.created_by);
    signed_in.require(Action::EditWorkflow { creator })
}

/// Cancels an execution that has not started or is waiting at once; asks the worker running a
/// running one to stop it at its next safe point (the answer then still says RUNNING, with
/// `cancel_requested`).
async fn cancel(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let execution = find(&state, &signed_in, &id).await?;
    may_edit(&state, &signed_in, &execution).await?;
    match execution.state {
        ExecutionState::Pending | ExecutionState::Waiting => {}
        ExecutionState::Running => {
            // Its worker, wherever it runs, stops it at the next safe point (within a second
            // or so; a call in flight is abandoned).
            if !state
                .store
                .request_cancel(signed_in.org, execution.id)
                .await?
            {
                return Err(ApiError::Conflict(
                    "the execution is running but has no job to stop; try again".into(),
                ));
            }
            audit::record(
                &state,
                &client,
                Event::by(&signed_in, "execution.cancel_requested")
                    .target(format!("execution:{}", execution.id)),
            )
            .await;
            let mut body = shown(&state, &execution).await?;
            body["cancel_requested"] = Value::Bool(true);
            return Ok(Json(body));
        }
        finished => {
            return Err(ApiError::Conflict(format!(
                "the execution has already finished ({finished})"
            )));
        }
    }
    let cancelled = state
        .store
        .transition(ExecutionUpdate::new(
            execution.id,
            execution.state,
            ExecutionState::Cancelled,
            Utc::now(),
        ))
        .await?;
    // A step that was waiting (an approval, a delay) or about to run ends with its execution.
    let now = Utc::now();
    for mut run in state.store.step_runs(execution.id).await? {
        if matches!(
            run.state,
            StepState::Waiting | StepState::Running | StepState::Pending
        ) {
            run.state = StepState::Cancelled;
            run.finished_at = Some(now);
            state.store.save_step_run(&run, None).await?;
        }
    }
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "execution.cancelled").target(format!("execution:{}", execution.id)),
    )
    .await;
    Ok(Json(shown(&state, &cancelled).await?))
}

/// Runs a failed execution again from its failed step; the steps that succeeded are kept.
/// What a retry may change: the version to run (`"latest"` or a number; the execution's own
/// when absent) and the step to run again from (the failed step when absent).
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryRequest {
    #[serde(default)]
    from_step: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<Value>")]
    version: Option<Value>,
}

/// Retries a FAILED execution: from its failed step on the version it ran, or (fix and resume)
/// from any step on another version. Completed steps before that step keep their outputs.
async fn retry(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
    body: Option<JsonBody<RetryRequest>>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let request = body.map(|JsonBody(request)| request).unwrap_or_default();
    let execution = find(&state, &signed_in, &id).await?;
    may_edit(&state, &signed_in, &execution).await?;
    if execution.state != ExecutionState::Failed {
        return Err(ApiError::Conflict(format!(
            "only a FAILED execution can be retried; this one is {}",
            execution.state
        )));
    }
    let pending = if request.from_step.is_none() && request.version.is_none() {
        state.runtime.engine.retry_failed(&execution).await
    } else {
        let version = match &request.version {
            None => execution.workflow_version,
            Some(Value::String(latest)) if latest == "latest" => {
                state
                    .store
                    .workflow(signed_in.org, execution.workflow_id)
                    .await?
                    .ok_or(ApiError::NotFoundBecause(
                        "the workflow of this run was deleted",
                    ))?
                    .current_version
            }
            Some(number) => number
                .as_i64()
                .and_then(|number| i32::try_from(number).ok())
                .filter(|number| *number >= 1)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "the retry is invalid",
                        "$.version",
                        "must be a version number or \"latest\"",
                    )
                })?,
        };
        let workflow = state
            .runtime
            .compiled(signed_in.org, execution.workflow_id, version)
            .await
            .map_err(|_| {
                ApiError::invalid(
                    "the retry is invalid",
                    "$.version",
                    format!("the workflow has no version {version}"),
                )
            })?;
        let from = match request.from_step {
            Some(step) => step,
            None => failed_step(&state, &execution).await?,
        };
        if workflow.steps_from(&from).is_none() {
            return Err(ApiError::invalid(
                "the retry is invalid",
                "$.from_step",
                format!("version {version} has no step {from:?}"),
            ));
        }
        state
            .runtime
            .engine
            .resume_failed(&execution, version, &workflow, &from)
            .await
    }
    .map_err(|error| ApiError::Conflict(error.to_string()))?;
    state
        .runtime
        .requeue(&pending)
        .await
        .map_err(runtime_error)?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "execution.retried").target(format!("execution:{}", execution.id)),
    )
    .await;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(shown(&state, &pending).await?),
    ))
}

/// The id of the step an execution failed at: the top-level id of `each[3].send` is `each`
/// unless `send` is the step (loop items' steps keep their own ids).
async fn failed_step(state: &AppState, execution: &Execution) -> Result<String, ApiError> {
    let key = execution
        .error
        .as_ref()
        .and_then(|error| error.get("step"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let key = match key {
        Some(key) => key,
        None => state
            .store
            .step_runs(execution.id)
            .await?
            .into_iter()
            .find(|run| run.state == StepState::Failed)
            .map(|run| run.step_key)
            .ok_or(ApiError::Conflict(
                "this run failed before any step: name the step to run again from".into(),
            ))?,
    };
    // `each[3].send` → `send`: the innermost step is the one that failed.
    Ok(key.rsplit('.').next().unwrap_or(&key).to_owned())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Answer {
    approved: bool,
    #[serde(default)]
    comment: Option<String>,
}

/// Answers a waiting approval step, as one of the approvers it names (any Owner or Admin when
/// it names none), and queues the execution to go on.
async fn answer(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path((id, step)): Path<(String, String)>,
    JsonBody(body): JsonBody<Answer>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let execution = find(&state, &signed_in, &id).await?;
    let runs = state.store.step_runs(execution.id).await?;
    let run = runs
        .iter()
        .find(|run| run.step_key == step)
        .ok_or(ApiError::NotFound)?;
    if run.state != StepState::Waiting || execution.state != ExecutionState::Waiting {
        return Err(ApiError::Conflict(format!(
            "this step is not waiting for an answer: it is {} in an execution that is {} (it was answered already, or the execution ended)",
            run.state, execution.state
        )));
    }
    let waiting = run;
    let approvers = waiting
        .input
        .as_ref()
        .and_then(|input| input.get("approvers"))
        .cloned()
        .unwrap_or(Value::Null);
    let email = match signed_in.user() {
        Some(user) => state.store.user(user).await?.map(|user| user.email),
        None => None,
    };
    if !may_approve(&approvers, signed_in.role, email.as_deref()) {
        return Err(ApiError::ForbiddenBecause(
            "you are not one of the approvers this step names",
        ));
    }
    let answer = json!({
        "approved": body.approved,
        "comment": body.comment,
        "by": email,
        "at": Utc::now(),
    });
    let compiled = state
        .runtime
        .compiled(
            execution.org_id,
            execution.workflow_id,
            execution.workflow_version,
        )
        .await
        .map_err(runtime_error)?;
    state
        .runtime
        .engine
        .answer(&execution, &compiled, &step, answer)
        .await
        .map_err(|error| ApiError::Conflict(error.to_string()))?;
    state
        .runtime
        .requeue(&execution)
        .await
        .map_err(runtime_error)?;
    audit::record(
        &state,
        &client,
        Event::by(
            &signed_in,
            if body.approved {
                "execution.approved"
            } else {
                "execution.rejected"
            },
        )
        .target(format!("execution:{}", execution.id))
        .details(json!({"step": step})),
    )
    .await;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(shown(&state, &execution).await?),
    ))
}

/// Whether someone with `role` and `email` is among `approvers` (`{"role", "users"}`).
fn may_approve(approvers: &Value, role: Role, email: Option<&str>) -> bool {
    let users: Vec<&str> = approvers["users"]
        .as_array()
        .map(|users| users.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let named_role = approvers["role"]
        .as_str()
        .and_then(|role| serde_json::from_value::<Role>(Value::from(role)).ok());
    if let Some(email) = email
        && users.iter().any(|user| user.eq_ignore_ascii_case(email))
    {
        return true;
    }
    match named_role {
        Some(needed) => role.covers(needed),
        None if users.is_empty() => role.covers(Role::Admin),
        None => false,
    }
}

/// How often live events look at the store when nothing in this process said it changed.
const EVENTS_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// `GET /api/v1/executions/{id}/events`: Server-Sent Events, one `step` event each time a step
/// starts, retries or finishes (its id, state, attempts, output or error, timings, cost), an
/// `execution` event each time the stream sees the execution's state change (a state shorter
/// than a look, a quarter second at most, may pass unseen), and a last `done` event with the
/// whole execution once it has finished. A client that connects late gets the story so far
/// first.
async fn events(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
) -> Result<
    axum::response::sse::Sse<
        impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};

    signed_in.require(Action::ViewWorkflows)?;
    let execution = find(&state, &signed_in, &id).await?;
    struct Watch {
        state: AppState,
        org: baton_core::OrgId,
        id: ExecutionId,
        seen_steps: std::collections::HashMap<String, Value>,
        seen_state: Option<ExecutionState>,
        pending: std::collections::VecDeque<Event>,
        done: bool,
    }
    let watch = Watch {
        state,
        org: signed_in.org,
        id: execution.id,
        seen_steps: Default::default(),
        seen_state: None,
        pending: Default::default(),
        done: false,
    };
    let stream = futures::stream::unfold(watch, |mut watch| async move {
        loop {
            if let Some(event) = watch.pending.pop_front() {
                return Some((Ok(event), watch));
            }
            if watch.done {
                return None;
            }
            let changed = watch.state.runtime.changed();
            let Ok(Some(execution)) = watch.state.store.execution(watch.org, watch.id).await else {
                return None;
            };
            let steps = watch
                .state
                .store
                .step_runs(watch.id)
                .await
                .unwrap_or_default();
            for step in &steps {
                let mut shown = baton_runtime::step_json(step);
                shown["id"] = Value::from(step.step_key.clone());
                if watch.seen_steps.get(&step.step_key) != Some(&shown) {
                    watch
                        .seen_steps
                        .insert(step.step_key.clone(), shown.clone());
                    watch
                        .pending
                        .push_back(Event::default().event("step").data(shown.to_string()));
                }
            }
            if watch.seen_state != Some(execution.state) {
                watch.seen_state = Some(execution.state);
                watch.pending.push_back(
                    Event::default()
                        .event("execution")
                        .data(json!({"id": execution.id, "state": execution.state}).to_string()),
                );
            }
            if execution.state.is_finished() {
                let whole = shown(&watch.state, &execution)
                    .await
                    .unwrap_or_else(|_| json!({"id": execution.id, "state": execution.state}));
                watch
                    .pending
                    .push_back(Event::default().event("done").data(whole.to_string()));
                watch.done = true;
                continue;
            }
            if watch.pending.is_empty() {
                let _ = tokio::time::timeout(EVENTS_POLL, changed).await;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvers_are_a_role_or_named_people_and_default_to_admins() {
        assert!(may_approve(&Value::Null, Role::Admin, None));
        assert!(!may_approve(&Value::Null, Role::Member, None));
        let members = json!({"role": "member"});
        assert!(may_approve(&members, Role::Member, None));
        assert!(!may_approve(&members, Role::Viewer, None));
        let named = json!({"users": ["Boss@Example.com"]});
        assert!(may_approve(&named, Role::Viewer, Some("boss@example.com")));
        assert!(!may_approve(&named, Role::Owner, Some("owner@example.com")));
    }
}
