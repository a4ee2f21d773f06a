//! `sub_workflow` steps: another workflow of the organization runs as a child execution, and its
//! output becomes the step's. The child's id is checkpointed before it starts, so a resumed
//! parent resumes the same child instead of starting a second one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use baton_core::execution::{NewExecution, StepRun, TriggerKind};
use baton_core::{ExecutionId, ExecutionState, OrgId, StepState, WorkflowId};
use baton_store::WorkflowStore;
use serde_json::{Value, json};

use super::flow::Failure;
use super::{Halt, Outcome, Run, RunOptions};
use crate::compile::{
    CompileOptions, CompiledKind, CompiledStep, CompiledWorkflow, validate_document,
};
use crate::connector::Connectors;
use crate::error::StepError;
use crate::limits::Limits;
use crate::scope::Scope;

/// Finds the workflow a `sub_workflow` step names.
#[async_trait]
pub trait WorkflowResolver: Send + Sync {
    async fn resolve(&self, org: OrgId, key: &str) -> Result<ResolvedWorkflow, StepError>;
}

pub struct ResolvedWorkflow {
    pub workflow_id: WorkflowId,
    pub version: i32,
    pub compiled: Arc<CompiledWorkflow>,
}

/// Resolves workflows from the store: the current version, compiled once (versions never
/// change, so a compiled one is kept).
pub struct StoredWorkflows {
    store: Arc<dyn WorkflowStore>,
    connectors: Arc<dyn Connectors>,
    limits: Limits,
    /// The OpenAI-compatible servers configured (see [`CompileOptions::extra_providers`]).
    extra_providers: Vec<String>,
    compiled: Mutex<HashMap<(WorkflowId, i32), Arc<CompiledWorkflow>>>,
}

/// The most compiled versions kept; past it the cache starts again.
const COMPILED_KEPT: usize = 1024;

impl StoredWorkflows {
    pub fn new(
        store: Arc<dyn WorkflowStore>,
        connectors: Arc<dyn Connectors>,
        limits: Limits,
        extra_providers: Vec<String>,
    ) -> Self {
        Self {
            store,
            connectors,
            limits,
            extra_providers,
            compiled: Mutex::default(),
        }
    }

    fn kept(&self, workflow: WorkflowId, version: i32) -> Option<Arc<CompiledWorkflow>> {
        self.compiled
            .lock()
            .ok()?
            .get(&(workflow, version))
            .cloned()
    }

    fn keep(&self, workflow: WorkflowId, version: i32, compiled: Arc<CompiledWorkflow>) {
        if let Ok(mut kept) = self.compiled.lock() {
            if kept.len() >= COMPILED_KEPT {
                kept.clear();
            }
            kept.insert((workflow, version), compiled);
        }
    }
}

#[async_trait]
impl WorkflowResolver for StoredWorkflows {
    async fn resolve(&self, org: OrgId, key: &str) -> Result<ResolvedWorkflow, StepError> {
        let workflow = self
            .store
            .workflow_by_key(org, key)
            .await
            .map_err(|error| StepError::system(error.to_string()))?
            .ok_or_else(|| StepError::permanent(format!("there is no workflow {key:?}")))?;
        if let Some(compiled) = self.kept(workflow.id, workflow.current_version) {
            return Ok(ResolvedWorkflow {
                workflow_id: workflow.id,
                version: workflow.current_version,
                compiled,
            });
        }
        let version = self
            .store
            .workflow_version(org, workflow.id, workflow.current_version)
            .await
            .map_err(|error| StepError::system(error.to_string()))?
            .ok_or_else(|| {
                StepError::system(format!(
                    "workflow {key:?} has lost its version {}",
                    workflow.current_version
                ))
            })?;
        let options = CompileOptions {
            limits: &self.limits,
            connectors: self.connectors.as_ref(),
            extra_providers: &self.extra_providers,
        };
        let compiled = validate_document(&version.definition, &options).map_err(|problems| {
            StepError::permanent(format!(
                "workflow {key:?} is invalid: {}",
                problems
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ))
        })?;
        let compiled = Arc::new(compiled);
        self.keep(workflow.id, version.version, compiled.clone());
        Ok(ResolvedWorkflow {
            workflow_id: workflow.id,
            version: version.version,
            compiled,
        })
    }
}

impl Run<'_> {
    pub(super) async fn sub_workflow(
        &self,
        step: &CompiledStep,
        key: &str,
        scope: &Scope,
        previous: Option<&StepRun>,
    ) -> Result<Value, Failure> {
        let CompiledKind::SubWorkflow { workflow, inputs } = &step.kind else {
            unreachable!("sub_workflow() is called for sub_workflow steps")
        };
        let started = Instant::now();
        let mut run = self.new_run(key, StepState::Running, None, previous);
        if let Err(error) = self.count_step() {
            return Err(self.fail(run, error, started).await);
        }
        let Some(resolver) = &self.engine.workflows else {
            return Err(self
                .fail(
                    run,
                    StepError::permanent(
                        "sub_workflow steps need the workflow store to find the other workflow",
                    ),
                    started,
                )
                .await);
        };
        let depth = self.options.depth + 1;
        if depth > self.engine.limits.max_depth {
            let message = format!(
                "sub-workflows nest deeper than {} levels",
                self.engine.limits.max_depth
            );
            return Err(self.fail(run, StepError::permanent(message), started).await);
        }
        let inputs = match self.workflow.templates.render(inputs, scope) {
            Ok(inputs) => inputs,
            Err(error) => return Err(self.fail(run, StepError::permanent(error.0), started).await),
        };
        let resolved = match resolver.resolve(self.org(), workflow).await {
            Ok(resolved) => resolved,
            Err(error) => return Err(self.fail(run, error, started).await),
        };
        let child_id = previous
            .filter(|run| run.state == StepState::Running)
            .and_then(|run| {
                run.input
                    .as_ref()?
                    .get("execution_id")?
                    .as_str()?
                    .parse::<ExecutionId>()
                    .ok()
            })
            .unwrap_or_default();
        run.attempts += 1;
        run.input = Some(json!({"workflow": workflow, "inputs": inputs, "execution_id": child_id}));
        self.checkpoint(&run).await?;
        self.options.observer.step_started(key, run.attempts);

        let store = self.store;
        let existing = store
            .execution(self.org(), child_id)
            .await
            .map_err(|error| store_halt(key, &error))?;
        let child = match existing {
            Some(child) => child,
            None if self
                .family
                .descendants
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                >= self.engine.limits.max_descendants =>
            {
                let message = format!(
                    "the run started more than {} sub-workflow executions, its limit",
                    self.engine.limits.max_descendants
                );
                return Err(self.fail(run, StepError::permanent(message), started).await);
            }
            None => store
                .create_execution(NewExecution {
                    id: child_id,
                    org_id: self.org(),
                    workflow_id: resolved.workflow_id,
                    workflow_version: resolved.version,
                    trigger: TriggerKind::Workflow,
                    run_as: self.execution.run_as,
                    input: inputs,
                })
                .await
                .map_err(|error| store_halt(key, &error))?,
        };
        let (child, outcome) = if matches!(
            child.state,
            ExecutionState::Completed | ExecutionState::Failed | ExecutionState::Cancelled
        ) {
            let outcome = match child.state {
                ExecutionState::Completed => Outcome::Completed,
                ExecutionState::Failed => Outcome::Failed,
                _ => Outcome::Cancelled,
            };
            (child, outcome)
        } else {
            let options = RunOptions {
                user: self.options.user.clone(),
                observer: self.options.observer.clone(),
                cancel: self.options.cancel.clone(),
                depth,
                family: Some(self.family.clone()),
                pause: self.options.pause.clone(),
                lease: self.options.lease.clone(),
            };
            Box::pin(
                self.engine
                    .run_on(self.store, &child, &resolved.compiled, &options),
            )
            .await
            .map_err(|error| match error {
                crate::EngineError::Interrupted(reason) => Halt::Interrupted { reason },
                other => Halt::Failed {
                    error: StepError::system(other.to_string()).to_json(key, 1),
                },
            })?
        };
        match outcome {
            Outcome::Completed => {
                let output = crate::transform::as_output(
                    child.output.clone().unwrap_or(Value::Null),
                    "result",
                );
                run.usage = child.usage;
                run.cost = child.cost;
                Ok(self.complete(&mut run, output, started).await?)
            }
            Outcome::Failed => {
                let reason = child
                    .error
                    .as_ref()
                    .and_then(|error| error.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                Err(self
                    .fail(
                        run,
                        StepError::permanent(format!("sub-workflow {workflow:?} failed: {reason}")),
                        started,
                    )
                    .await)
            }
            Outcome::Waiting { resume_at, .. } => Err(Failure::Halt(Halt::Waiting {
                step: key.to_owned(),
                resume_at,
            })),
            Outcome::Cancelled => Err(Failure::Halt(Halt::Cancelled)),
        }
    }
}

fn store_halt(key: &str, error: &baton_store::StoreError) -> Halt {
    Halt::Failed {
        error: StepError::system(error.to_string()).to_json(key, 1),
    }
}
