//! Testing one step alone (the builder's "Test this step"): the step runs once, with the
//! values it reads (the trigger, earlier steps' outputs, a loop's `item`) given rather than
//! produced by a run. With `safe`, a call that would change something outside Baton (send a
//! mail, post a message) is not made: the request it would send comes back instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

use baton_core::ExecutionState;
use baton_core::execution::{Execution, ExecutionUpdate, StepRun};
use baton_store::ExecutionStore;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::flow::Failure;
use super::leaf::Prepared;
use super::{Engine, Halt, Run, RunOptions};
use crate::compile::{CompiledKind, CompiledWorkflow};
use crate::error::EngineError;
use crate::scope::Scope;

/// What testing a step did.
#[derive(Clone, Debug)]
pub struct StepTest {
    /// The step's record when it ran (input, output or error, tokens, cost); `None` for a
    /// safe test's preview, which runs nothing.
    pub run: Option<StepRun>,
    /// A safe test's preview: the call the step would make, its inputs rendered.
    pub preview: Option<Value>,
    /// Why the step did not finish when it neither completed nor failed (a service's limit
    /// reached, a wait): in words.
    pub stopped: Option<String>,
}

impl Engine {
    /// Runs step `id` of `workflow` once, as part of `execution` (PENDING, in `store`), with
    /// `values` in reach besides the trigger (the execution's input): earlier steps' outputs
    /// by id, a loop's `item`. A failed call is not retried. The execution ends COMPLETED or
    /// FAILED with the step's result, so what the step cost is counted like any run's.
    ///
    /// Only steps that do one thing are tested alone (a model, a service, a transformation);
    /// people, waits, sub-workflows and control flow are tried in a test run.
    #[allow(clippy::too_many_arguments)]
    pub async fn test_step(
        &self,
        store: &dyn ExecutionStore,
        execution: &Execution,
        workflow: &CompiledWorkflow,
        id: &str,
        values: &Map<String, Value>,
        safe: bool,
        options: &RunOptions,
    ) -> Result<StepTest, EngineError> {
        let step = workflow
            .step_by_key(id)
            .filter(|step| step.id == id)
            .ok_or_else(|| EngineError::NoSuchStep(id.to_owned()))?;
        if !matches!(
            step.kind,
            CompiledKind::Llm { .. }
                | CompiledKind::Integration { .. }
                | CompiledKind::Transformation { .. }
        ) {
            return Err(EngineError::Answer(format!(
                "step {id:?} is not tested alone: approvals, waits, sub-workflows, conditions, \
                 loops and parallel branches are tried in a test run of the whole workflow"
            )));
        }
        let run = Run {
            engine: self,
            store,
            workflow,
            execution,
            memo: HashMap::new(),
            options,
            steps_run: AtomicU32::new(0),
            one_attempt: true,
            family: Arc::new(crate::limits::Family::new(&self.limits)),
        };
        let mut scope = Scope::new(
            &execution.input,
            &options.user,
            &json!({"id": execution.id, "workflow_id": execution.workflow_id, "version": execution.workflow_version}),
        );
        for (name, value) in values {
            scope.set_json(name, value);
        }
        if safe && let CompiledKind::Integration { .. } = step.kind {
            match run.prepare(step, id, &scope) {
                Ok((Prepared::Integration(call), input))
                    if self
                        .connectors
                        .writes(&call.service, &call.action, &call.inputs) =>
                {
                    return Ok(StepTest {
                        run: None,
                        preview: Some(input),
                        stopped: None,
                    });
                }
                // A call that only reads runs for real; a template that does not render
                // fails below as it would in a run.
                _ => {}
            }
        }
        let now = Utc::now();
        store
            .transition(ExecutionUpdate::new(
                execution.id,
                ExecutionState::Pending,
                ExecutionState::Running,
                now,
            ))
            .await?;
        let started = Instant::now();
        let result = run.leaf(step, id, &mut scope, None).await;
        let (update, stopped) = match result {
            Ok(output) => {
                let mut update = ExecutionUpdate::new(
                    execution.id,
                    ExecutionState::Running,
                    ExecutionState::Completed,
                    Utc::now(),
                );
                update.output = Some(output);
                (update, None)
            }
            Err(failure) => {
                let (error, stopped) = match failure {
                    Failure::Step { error, run } => (error.to_json(id, run.attempts as u32), None),
                    Failure::Halt(Halt::Failed { error }) => (error, None),
                    Failure::Halt(Halt::Interrupted { reason }) => {
                        return Err(EngineError::Interrupted(reason));
                    }
                    Failure::Halt(Halt::Waiting { resume_at, .. }) => {
                        let why = match resume_at {
                            Some(at) => format!(
                                "the step would wait until {} (the service's limit is reached); try again then",
                                at.format("%H:%M:%S UTC")
                            ),
                            None => "the step waits for something a test does not give".into(),
                        };
                        (
                            json!({"step": id, "class": "transient", "message": why}),
                            Some(why),
                        )
                    }
                    Failure::Halt(Halt::Cancelled) => {
                        let why = "the test was cancelled".to_owned();
                        (
                            json!({"step": id, "class": "permanent", "message": why}),
                            Some(why),
                        )
                    }
                };
                let mut update = ExecutionUpdate::new(
                    execution.id,
                    ExecutionState::Running,
                    ExecutionState::Failed,
                    Utc::now(),
                );
                update.error = Some(error);
                (update, stopped)
            }
        };
        tracing::debug!(step = id, elapsed = ?started.elapsed(), "step tested");
        store.transition(update).await?;
        let run = store
            .step_runs(execution.id)
            .await?
            .into_iter()
            .find(|run| run.step_key == id);
        Ok(StepTest {
            run,
            preview: None,
            stopped,
        })
    }
}
