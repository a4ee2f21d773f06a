//! Step lists and control flow: sequences, `conditional`, `loop`, `parallel`, and what a
//! failed step's `on_error` does.

use std::time::Instant;
use tracing::Instrument;

use baton_core::StepState;
use baton_core::execution::StepRun;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use super::{Halt, Run};
use crate::compile::{CompiledKind, CompiledOnError, CompiledStep};
use crate::error::StepError;
use crate::scope::Scope;

/// How a step ended when it did not succeed.
pub(crate) enum Failure {
    /// The step failed; `run` is its stored record, which `on_error` may still change.
    Step {
        error: StepError,
        run: Box<StepRun>,
    },
    Halt(Halt),
}

impl From<Halt> for Failure {
    fn from(halt: Halt) -> Self {
        Failure::Halt(halt)
    }
}

impl<'a> Run<'a> {
    /// Runs steps in order; the last one's output is the list's.
    pub(crate) fn list<'s>(
        &'s self,
        steps: &'s [CompiledStep],
        scope: &'s mut Scope,
        prefix: &'s str,
        depth: u32,
    ) -> BoxFuture<'s, Result<Value, Halt>> {
        Box::pin(async move {
            let mut last = Value::Null;
            for step in steps {
                last = self.step(step, scope, prefix, depth).await?;
            }
            Ok(last)
        })
    }

    async fn step(
        &self,
        step: &CompiledStep,
        scope: &mut Scope,
        prefix: &str,
        depth: u32,
    ) -> Result<Value, Halt> {
        if self.options.cancel.is_cancelled() {
            return Err(Halt::Cancelled);
        }
        let key = format!("{prefix}{}", step.id);
        let previous = self.memo.get(&key);
        if let Some(done) = previous.filter(|run| run.state == StepState::Completed) {
            let output = done.output.clone().unwrap_or(Value::Null);
            scope.set_json(&step.id, &output);
            return Ok(output);
        }
        if self.options.pause.is_cancelled() {
            // Draining: this step starts later, wherever the execution is claimed next.
            return Err(Halt::Waiting {
                step: key,
                resume_at: Some(chrono::Utc::now()),
            });
        }
        // One span per step (and per attempt's step inside loops and branches), exported by
        // OTLP when traces are on: ids and kinds only, never the step's data.
        let span = tracing::trace_span!(
            target: "baton::trace",
            "step",
            otel.name = %format!("step {key}"),
            step = %key,
            kind = step.kind.type_name(),
            service = tracing::field::Empty,
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        if let CompiledKind::Integration { service, .. } = &step.kind {
            span.record("service", service.as_str());
        }
        let outcome = async {
            let result = match &step.kind {
                CompiledKind::Conditional { .. }
                | CompiledKind::Loop { .. }
                | CompiledKind::Parallel { .. } => {
                    self.control(step, &key, scope, prefix, depth, previous)
                        .await
                }
                CompiledKind::Agent(_) => self.agent(step, &key, scope, depth, previous).await,
                _ => self.leaf(step, &key, scope, previous).await,
            };
            match result {
                Ok(output) => Ok(output),
                Err(Failure::Halt(halt)) => Err(halt),
                Err(Failure::Step { error, run }) => {
                    self.recover(step, &key, error, *run, scope, prefix, depth)
                        .await
                }
            }
        }
        .instrument(span.clone())
        .await;
        span.record(
            "outcome",
            match &outcome {
                Ok(_) => "completed",
                Err(Halt::Waiting { .. }) => "waiting",
                Err(Halt::Cancelled) => "cancelled",
                Err(_) => "failed",
            },
        );
        if matches!(outcome, Err(Halt::Failed { .. })) {
            span.record("otel.status_code", "ERROR");
        }
        let output = outcome?;
        scope.set_json(&step.id, &output);
        Ok(output)
    }

    /// Applies `on_error` to a step that failed for good.
    #[allow(clippy::too_many_arguments)]
    async fn recover(
        &self,
        step: &CompiledStep,
        key: &str,
        error: StepError,
        mut run: StepRun,
        scope: &mut Scope,
        prefix: &str,
        depth: u32,
    ) -> Result<Value, Halt> {
        let error_json = error.to_json(key, run.attempts.max(0) as u32);
        match &step.on_error {
            CompiledOnError::Fail => Err(Halt::Failed { error: error_json }),
            CompiledOnError::Continue => {
                let output = json!({"error": error_json});
                let started = Instant::now();
                self.finish(
                    &mut run,
                    StepState::Completed,
                    Some(output.clone()),
                    Some(error_json),
                    started,
                )
                .await?;
                Ok(output)
            }
            CompiledOnError::Fallback(steps) => {
                let output = self.list(steps, scope, prefix, depth + 1).await?;
                let started = Instant::now();
                self.finish(
                    &mut run,
                    StepState::Completed,
                    Some(output.clone()),
                    Some(error_json),
                    started,
                )
                .await?;
                Ok(output)
            }
        }
    }

    /// Conditionals, loops and parallels: checkpointed as RUNNING while their steps run, then
    /// COMPLETED with their output.
    async fn control(
        &self,
        step: &CompiledStep,
        key: &str,
        scope: &mut Scope,
        prefix: &str,
        depth: u32,
        previous: Option<&StepRun>,
    ) -> Result<Value, Failure> {
        let mut run = self.new_run(key, StepState::Running, None, previous);
        run.attempts += 1;
        let started = Instant::now();
        if let Err(error) = self.count_step() {
            return Err(self.fail(run, error, started).await);
        }
        self.checkpoint(&run).await?;
        self.options.observer.step_started(key, run.attempts);
        let result = match &step.kind {
            CompiledKind::Conditional {
                condition,
                then,
                otherwise,
            } => match self.workflow.templates.truth(condition, scope) {
                Ok(true) => self
                    .list(then, scope, prefix, depth + 1)
                    .await
                    .map(|output| json!({"branch": "then", "output": output})),
                Ok(false) => self
                    .list(otherwise, scope, prefix, depth + 1)
                    .await
                    .map(|output| json!({"branch": "else", "output": output})),
                Err(error) => {
                    return Err(self
                        .fail(
                            run,
                            StepError::permanent(format!("the condition failed: {error}")),
                            started,
                        )
                        .await);
                }
            },
            CompiledKind::Loop {
                items,
                item_name,
                concurrency,
                max_items,
                steps,
            } => {
                let items = match self.workflow.templates.render(items, scope) {
                    Ok(Value::Array(items)) => items,
                    Ok(other) => {
                        let kind = match other {
                            Value::Null => "nothing",
                            Value::Object(_) => "an object",
                            Value::String(_) => "text",
                            _ => "a single value",
                        };
                        return Err(self
                            .fail(
                                run,
                                StepError::permanent(format!(
                                    "the loop's items must be a list, but they are {kind}"
                                )),
                                started,
                            )
                            .await);
                    }
                    Err(error) => {
                        return Err(self.fail(run, StepError::permanent(error.0), started).await);
                    }
                };
                if items.len() > *max_items {
                    let message = format!(
                        "the loop got {} items; at most {max_items} are allowed",
                        items.len()
                    );
                    return Err(self.fail(run, StepError::permanent(message), started).await);
                }
                let count = items.len();
                futures::stream::iter(items.into_iter().enumerate())
                    .map(|(index, item)| {
                        let mut item_scope = scope.clone();
                        item_scope.set_json(item_name, &item);
                        item_scope.set_json(
                            "loop",
                            &json!({"index": index, "number": index + 1, "length": count}),
                        );
                        let item_prefix = format!("{key}[{index}].");
                        async move {
                            self.list(steps, &mut item_scope, &item_prefix, depth + 1)
                                .await
                        }
                    })
                    .buffered(*concurrency)
                    .try_collect::<Vec<Value>>()
                    .await
                    .map(Value::Array)
            }
            CompiledKind::Parallel {
                fail_fast,
                branches,
            } => {
                self.parallel(branches, *fail_fast, scope, prefix, depth)
                    .await
            }
            _ => unreachable!("control() is called for control-flow steps only"),
        };
        match result {
            Ok(output) => {
                if let Err(error) = self.check_output_size(&output) {
                    return Err(self.fail(run, error, started).await);
                }
                Ok(self.complete(&mut run, output, started).await?)
            }
            Err(Halt::Failed { error }) => {
                // A step inside failed: so did this one, with the same error, so that its row
                // does not stay RUNNING in a run that has ended.
                self.finish(
                    &mut run,
                    StepState::Failed,
                    None,
                    Some(error.clone()),
                    started,
                )
                .await?;
                Err(Failure::Halt(Halt::Failed { error }))
            }
            Err(halt) => Err(Failure::Halt(halt)),
        }
    }

    /// Runs the branches at the same time. A failure wins over a wait: with `fail_fast` the
    /// first failure stops the other branches at once; a branch that waits (an approval, a
    /// delay) lets the others go on, and the parallel waits once they are done.
    async fn parallel(
        &self,
        branches: &[Vec<CompiledStep>],
        fail_fast: bool,
        scope: &mut Scope,
        prefix: &str,
        depth: u32,
    ) -> Result<Value, Halt> {
        let at_once = self.engine.limits.max_concurrency.max(1) as usize;
        // Made at once, run at most `at_once` at a time: a future does nothing until polled.
        let branch_runs: Vec<_> = branches
            .iter()
            .enumerate()
            .map(|(index, branch)| {
                let mut branch_scope = scope.clone();
                async move {
                    let result = self
                        .list(branch, &mut branch_scope, prefix, depth + 1)
                        .await;
                    (index, result.map(|output| (output, branch_scope)))
                }
            })
            .collect();
        let mut running = futures::stream::iter(branch_runs).buffer_unordered(at_once);
        let mut finished: Vec<Option<(Value, Scope)>> = branches.iter().map(|_| None).collect();
        let mut stopped: Option<Halt> = None;
        while let Some((index, result)) = running.next().await {
            match result {
                Ok(done) => finished[index] = Some(done),
                Err(halt @ (Halt::Failed { .. } | Halt::Cancelled)) if fail_fast => {
                    return Err(halt);
                }
                Err(halt) => {
                    let replaces = matches!(
                        (&stopped, &halt),
                        (None, _)
                            | (
                                Some(Halt::Waiting { .. }),
                                Halt::Failed { .. } | Halt::Cancelled
                            )
                    );
                    if replaces {
                        stopped = Some(halt);
                    }
                }
            }
        }
        if let Some(halt) = stopped {
            return Err(halt);
        }
        let mut outputs = Vec::new();
        for (done, branch) in finished.into_iter().zip(branches) {
            let (output, branch_scope) = done.expect("every branch finished");
            for step in branch {
                if let Some(value) = branch_scope.get(&step.id) {
                    scope.set(&step.id, value.clone());
                }
            }
            outputs.push(output);
        }
        Ok(Value::Array(outputs))
    }

    /// Stores a failure and hands it to `on_error`.
    pub(crate) async fn fail(
        &self,
        mut run: StepRun,
        error: StepError,
        started: Instant,
    ) -> Failure {
        let error_json = error.to_json(&run.step_key, run.attempts.max(0) as u32);
        if let Err(halt) = self
            .finish(&mut run, StepState::Failed, None, Some(error_json), started)
            .await
        {
            return Failure::Halt(halt);
        }
        Failure::Step {
            error,
            run: Box::new(run),
        }
    }
}
