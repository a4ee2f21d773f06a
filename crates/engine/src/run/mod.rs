//! Running an execution. The engine replays the workflow against the execution's checkpoints:
//! a step whose checkpoint says COMPLETED is not run again, its stored output is reused; a step
//! that was in flight when the process died runs again with the same idempotency key. Every
//! step's result is written before the next step starts.

mod agent;
pub mod ask;
mod flow;
mod leaf;
mod sub;
mod test;

pub use sub::{ResolvedWorkflow, StoredWorkflows, WorkflowResolver};
pub use test::StepTest;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_core::execution::{Execution, ExecutionUpdate, StepRun, TokenUsage};
use baton_core::{ExecutionState, OrgId, StepState, Usd};
use baton_store::{ExecutionStore, StoreError};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::breaker::{BreakerSettings, Breakers};
use crate::compile::CompiledWorkflow;
use crate::connector::{Connectors, CredentialSource};
use crate::error::{EngineError, StepError};
use crate::limits::Limits;
use crate::provider::LlmProvider;
use crate::scope::Scope;

/// What the engine calls out to.
pub struct Engine {
    store: Arc<dyn ExecutionStore>,
    llm: Arc<dyn LlmProvider>,
    connectors: Arc<dyn Connectors>,
    limits: Limits,
    breakers: Mutex<Breakers>,
    workflows: Option<Arc<dyn WorkflowResolver>>,
    credentials: Option<Arc<dyn CredentialSource>>,
    /// Counts each organization's calls to the services that declare a rate limit.
    limiter: Arc<dyn crate::throttle::Limiter>,
    /// Gathers calls for the services that take batches.
    batcher: crate::batch::Batcher,
    /// Where circuits are shared with the other processes on the database, and when this
    /// process last read them.
    circuits: Option<Arc<dyn baton_store::CircuitStore>>,
    circuits_read: Mutex<Option<Instant>>,
}

/// How often a process reads the circuits the others opened (only while it makes calls).
const CIRCUITS_READ_EVERY: Duration = Duration::from_secs(1);

/// How much of a service's declared limit an organization has used in the current window.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Quota {
    pub limit: crate::throttle::RateLimit,
    pub used: u32,
    pub remaining: u32,
    pub resets_in_seconds: u64,
}

/// How one run is observed and controlled.
pub struct RunOptions {
    /// The running user and their organization, as `{{user.*}}`.
    pub user: Value,
    pub observer: Arc<dyn Observer>,
    pub cancel: Cancel,
    /// How many sub-workflows deep this run is (0 for a top-level execution).
    pub depth: u32,
    /// What the run shares with the run that started it as a sub-workflow (`None` for a
    /// top-level run, which starts a family of its own).
    pub family: Option<Arc<crate::limits::Family>>,
    /// Whether the process still holds the run's job, asked before every call that acts on
    /// the world: a worker that lost its lease (paused past it, another took the job over)
    /// stops before it sends anything more.
    pub lease: Option<Arc<dyn LeaseCheck>>,
    /// Once set, the run starts no further step: the steps in flight finish and are
    /// checkpointed, and the execution waits to be resumed at once, by whoever claims it (a
    /// worker draining before it stops).
    pub pause: Cancel,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            user: json!({}),
            observer: Arc::new(SilentObserver),
            cancel: Cancel::never(),
            depth: 0,
            family: None,
            pause: Cancel::never(),
            lease: None,
        }
    }
}

/// A write refused because another worker claimed the job stops the run without a verdict:
/// the execution is the new holder's.
fn taken_over(error: StoreError) -> EngineError {
    match error {
        StoreError::LeaseLost(_) => EngineError::Interrupted(error.to_string()),
        other => EngineError::Store(other),
    }
}

/// Answers whether the process still holds the job of the run it is running.
#[async_trait::async_trait]
pub trait LeaseCheck: Send + Sync {
    async fn held(&self) -> bool;
    /// The lease every checkpoint and state change of the run is written under: once another
    /// worker has claimed the job, the store refuses them.
    fn fence(&self) -> Option<baton_core::job::Fence> {
        None
    }
}

/// Sees each step start and finish, e.g. to print progress or stream it to a browser.
pub trait Observer: Send + Sync {
    fn step_started(&self, key: &str, attempt: i32);
    fn step_finished(&self, run: &StepRun, duration: Duration);
}

pub struct SilentObserver;

impl Observer for SilentObserver {
    fn step_started(&self, _: &str, _: i32) {}
    fn step_finished(&self, _: &StepRun, _: Duration) {}
}

/// Asks a run to stop at its next safe point, aborting a call in flight.
#[derive(Clone)]
pub struct Cancel(watch::Receiver<bool>);

/// Cancels the runs holding its [`Cancel`].
pub struct Canceller(watch::Sender<bool>);

impl Cancel {
    pub fn new() -> (Canceller, Cancel) {
        let (sender, receiver) = watch::channel(false);
        (Canceller(sender), Cancel(receiver))
    }

    /// A run that is never cancelled. All such runs share one channel that is never sent on.
    pub fn never() -> Cancel {
        static NEVER: std::sync::OnceLock<watch::Sender<bool>> = std::sync::OnceLock::new();
        Cancel(NEVER.get_or_init(|| watch::channel(false).0).subscribe())
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn cancelled(&self) {
        let mut receiver = self.0.clone();
        if receiver.wait_for(|cancelled| *cancelled).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Canceller {
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

/// Where a run stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Completed,
    Failed,
    /// Waiting for a person or a timer; `resume_at` when a timer will end the wait.
    Waiting {
        step: String,
        resume_at: Option<DateTime<Utc>>,
    },
    Cancelled,
}

/// Why a step list stopped early.
#[derive(Clone, Debug)]
pub(crate) enum Halt {
    Failed {
        error: Value,
    },
    /// The database stayed out of reach: the run stops where it is, the execution untouched
    /// (RUNNING), to be resumed from its checkpoints by whoever holds the job next.
    Interrupted {
        reason: String,
    },
    Waiting {
        step: String,
        resume_at: Option<DateTime<Utc>>,
    },
    Cancelled,
}

/// How long a run keeps trying to save a checkpoint while the database is out of reach.
const CHECKPOINT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

impl Engine {
    pub fn new(
        store: Arc<dyn ExecutionStore>,
        llm: Arc<dyn LlmProvider>,
        connectors: Arc<dyn Connectors>,
        limits: Limits,
    ) -> Self {
        Self {
            store,
            llm,
            connectors,
            limits,
            breakers: Mutex::new(Breakers::new(BreakerSettings::default())),
            workflows: None,
            credentials: None,
            limiter: Arc::new(crate::throttle::MemoryLimiter::default()),
            batcher: crate::batch::Batcher::default(),
            circuits: None,
            circuits_read: Mutex::new(None),
        }
    }

    /// Shares open circuits with the other processes on the database: a service one process
    /// saw fail repeatedly is held back in all of them.
    pub fn with_shared_circuits(mut self, circuits: Arc<dyn baton_store::CircuitStore>) -> Self {
        self.circuits = Some(circuits);
        self
    }

    /// Adopts the circuits other processes opened, at most once a [`CIRCUITS_READ_EVERY`].
    async fn read_shared_circuits(&self) {
        let Some(circuits) = &self.circuits else {
            return;
        };
        {
            let mut read = self.circuits_read.lock().expect("circuits lock");
            if read.is_some_and(|at| at.elapsed() < CIRCUITS_READ_EVERY) {
                return;
            }
            *read = Some(Instant::now());
        }
        let now = Utc::now();
        match circuits.open_circuits(now).await {
            Ok(open) => {
                let mut breakers = self.breakers.lock().expect("breaker lock");
                let here = Instant::now();
                for (org, service, until) in open {
                    let open_for = (until - now).to_std().unwrap_or_default();
                    breakers.adopt(org, &service, open_for, here);
                }
            }
            Err(error) => tracing::warn!(%error, "reading the shared circuits failed"),
        }
    }

    /// Tells the other processes that a circuit opened here (for `open_for`) or closed.
    fn share_circuit(&self, org: OrgId, service: &str, open_for: Option<Duration>) {
        let Some(circuits) = self.circuits.clone() else {
            return;
        };
        let service = service.to_owned();
        tokio::spawn(async move {
            let shared = match open_for {
                Some(open_for) => {
                    let until = Utc::now()
                        + chrono::Duration::from_std(open_for)
                            .unwrap_or(chrono::Duration::seconds(30));
                    circuits.open_circuit(org, &service, until).await
                }
                None => circuits.close_circuit(org, &service).await,
            };
            if let Err(error) = shared {
                tracing::warn!(%error, service, "sharing a circuit failed");
            }
        });
    }

    /// Where calls are counted against the services' limits: a shared store (Redis) when
    /// several processes call the same services for the same organizations.
    pub fn with_limiter(mut self, limiter: Arc<dyn crate::throttle::Limiter>) -> Self {
        self.limiter = limiter;
        self
    }

    /// The organization's use of `service`'s declared limit; `None` when it declares none.
    pub async fn quota(&self, org: baton_core::OrgId, service: &str) -> Option<Quota> {
        let limit = self.connectors.rate_limit(service)?;
        let (used, resets_in) = self
            .limiter
            .usage(&crate::throttle::service_key(org, service), limit.per)
            .await
            .unwrap_or((0, limit.per));
        let used = used.min(limit.requests);
        Some(Quota {
            limit,
            used,
            remaining: limit.requests - used,
            resets_in_seconds: resets_in.as_secs_f64().ceil() as u64,
        })
    }

    /// The OpenAI-compatible servers steps may name as `provider`.
    pub fn compatible_servers(&self) -> Vec<String> {
        self.llm.compatible_servers()
    }

    /// Where integration steps find their credentials.
    pub fn with_credentials(mut self, credentials: Arc<dyn CredentialSource>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Lets `sub_workflow` steps find other workflows.
    pub fn with_workflows(mut self, workflows: Arc<dyn WorkflowResolver>) -> Self {
        self.workflows = Some(workflows);
        self
    }

    pub fn with_breaker_settings(mut self, settings: BreakerSettings) -> Self {
        self.breakers = Mutex::new(Breakers::new(settings));
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs (or resumes) an execution until it completes, fails, waits or is cancelled, and
    /// returns it as stored afterwards.
    pub async fn run(
        &self,
        execution: &Execution,
        workflow: &CompiledWorkflow,
        options: &RunOptions,
    ) -> Result<(Execution, Outcome), EngineError> {
        self.run_on(self.store.as_ref(), execution, workflow, options)
            .await
    }

    /// [`Engine::run`] with the execution and its checkpoints kept in `store` rather than the
    /// engine's own: a [`crate::memory::MemoryExecutions`] runs a pure workflow
    /// ([`CompiledWorkflow::is_pure`]) without a write until the caller stores the result.
    pub async fn run_on(
        &self,
        store: &dyn ExecutionStore,
        execution: &Execution,
        workflow: &CompiledWorkflow,
        options: &RunOptions,
    ) -> Result<(Execution, Outcome), EngineError> {
        let now = Utc::now();
        let fence = options.lease.as_ref().and_then(|lease| lease.fence());
        let state = match execution.state {
            ExecutionState::Pending | ExecutionState::Waiting => {
                let mut start = ExecutionUpdate::new(
                    execution.id,
                    execution.state,
                    ExecutionState::Running,
                    now,
                );
                start.fence = fence;
                store.transition(start).await.map_err(taken_over)?;
                ExecutionState::Running
            }
            ExecutionState::Running => ExecutionState::Running,
            other => return Err(EngineError::NotRunnable(execution.id, other)),
        };
        debug_assert_eq!(state, ExecutionState::Running);
        let memo: HashMap<String, StepRun> = store
            .step_runs(execution.id)
            .await?
            .into_iter()
            .map(|run| (run.step_key.clone(), run))
            .collect();
        let started = execution.started_at.unwrap_or(now);
        let elapsed = (now - started).to_std().unwrap_or_default();
        let remaining = workflow.timeout.saturating_sub(elapsed);
        let run = Run {
            engine: self,
            store,
            workflow,
            execution,
            memo,
            options,
            steps_run: AtomicU32::new(0),
            one_attempt: false,
            family: options
                .family
                .clone()
                .unwrap_or_else(|| Arc::new(crate::limits::Family::new(&self.limits))),
        };
        let mut scope = Scope::new(
            &execution.input,
            &options.user,
            &json!({"id": execution.id, "workflow_id": execution.workflow_id, "version": execution.workflow_version}),
        );
        // The execution's span, the steps' parent: one trace per time the execution runs.
        let span = tracing::trace_span!(
            target: "baton::trace",
            "execution",
            otel.name = "execution",
            execution = %execution.id,
            workflow = %execution.workflow_id,
            version = execution.workflow_version,
            trigger = execution.trigger.as_str(),
        );
        let result = match tokio::time::timeout(
            remaining,
            tracing::Instrument::instrument(run.list(&workflow.steps, &mut scope, "", 0), span),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(Halt::Failed {
                error: json!({"class": "permanent", "message": format!(
                    "the execution ran longer than its limit of {}",
                    baton_core::dsl::DurationSpec::new(workflow.timeout)
                )}),
            }),
        };
        let at = Utc::now();
        let (update, outcome) = match result {
            Err(Halt::Interrupted { reason }) => return Err(EngineError::Interrupted(reason)),
            Ok(output) => {
                let mut update = ExecutionUpdate::new(
                    execution.id,
                    ExecutionState::Running,
                    ExecutionState::Completed,
                    at,
                );
                update.output = Some(output);
                (update, Outcome::Completed)
            }
            Err(Halt::Failed { error, .. }) => {
                let mut update = ExecutionUpdate::new(
                    execution.id,
                    ExecutionState::Running,
                    ExecutionState::Failed,
                    at,
                );
                update.error = Some(error);
                (update, Outcome::Failed)
            }
            Err(Halt::Waiting { step, resume_at }) => (
                ExecutionUpdate::new(
                    execution.id,
                    ExecutionState::Running,
                    ExecutionState::Waiting,
                    at,
                ),
                Outcome::Waiting { step, resume_at },
            ),
            Err(Halt::Cancelled) => (
                ExecutionUpdate::new(
                    execution.id,
                    ExecutionState::Running,
                    ExecutionState::Cancelled,
                    at,
                ),
                Outcome::Cancelled,
            ),
        };
        let stored = store
            .transition(ExecutionUpdate { fence, ..update })
            .await
            .map_err(taken_over)?;
        metrics::counter!(
            "baton_executions_total",
            "state" => stored.state.as_str(),
            "trigger" => stored.trigger.as_str()
        )
        .increment(1);
        if stored.state.is_finished() {
            let took = stored
                .finished_at
                .zip(stored.started_at)
                .map(|(finished, started)| {
                    (finished - started).num_milliseconds().max(0) as f64 / 1000.0
                });
            if let Some(seconds) = took {
                metrics::histogram!("baton_execution_duration_seconds", "state" => stored.state.as_str())
                    .record(seconds);
            }
        }
        Ok((stored, outcome))
    }

    /// Records a person's answer to a waiting approval step; run the execution again to go on.
    pub async fn answer(
        &self,
        execution: &Execution,
        compiled: &CompiledWorkflow,
        step_key: &str,
        answer: Value,
    ) -> Result<(), EngineError> {
        if execution.state != ExecutionState::Waiting {
            return Err(EngineError::Answer(format!(
                "execution {} is not waiting (it is {})",
                execution.id, execution.state
            )));
        }
        // A delay, or a call waiting for its service's limit, waits too; only an approval
        // takes an answer.
        if !compiled.takes_answer(step_key) {
            return Err(EngineError::Answer(format!(
                "step {step_key:?} is not an approval: it cannot be answered"
            )));
        }
        let runs = self.store.step_runs(execution.id).await?;
        let mut run = runs
            .into_iter()
            .find(|run| run.step_key == step_key && run.state == StepState::Waiting)
            .ok_or_else(|| {
                EngineError::Answer(format!("step {step_key:?} is not waiting for an answer"))
            })?;
        run.state = StepState::Completed;
        run.output = Some(answer);
        run.finished_at = Some(Utc::now());
        self.store.save_step_run(&run, None).await?;
        Ok(())
    }

    /// Queues a failed execution again; running it then resumes from the failed step, keeping
    /// the steps that succeeded.
    /// Fix and resume: runs a FAILED execution again on `version` of its workflow (already
    /// compiled as `workflow`), from the step `from` on. The steps before `from` that completed
    /// keep their outputs (not run, not paid again); `from` and every step after it run again,
    /// with whatever they hold; the failed step always runs again.
    pub async fn resume_failed(
        &self,
        execution: &Execution,
        version: i32,
        workflow: &CompiledWorkflow,
        from: &str,
    ) -> Result<Execution, EngineError> {
        if execution.state != ExecutionState::Failed {
            return Err(EngineError::NotRunnable(execution.id, execution.state));
        }
        let forget = workflow
            .steps_from(from)
            .ok_or_else(|| EngineError::NoSuchStep(from.to_owned()))?;
        Ok(self
            .store
            .resume_failed(execution.id, version, &forget)
            .await?)
    }

    pub async fn retry_failed(&self, execution: &Execution) -> Result<Execution, EngineError> {
        if execution.state != ExecutionState::Failed {
            return Err(EngineError::NotRunnable(execution.id, execution.state));
        }
        Ok(self
            .store
            .transition(ExecutionUpdate::new(
                execution.id,
                ExecutionState::Failed,
                ExecutionState::Pending,
                Utc::now(),
            ))
            .await?)
    }
}

/// One run of one execution: what every step needs.
pub(crate) struct Run<'a> {
    engine: &'a Engine,
    /// Where this run's execution and checkpoints live.
    store: &'a dyn ExecutionStore,
    workflow: &'a CompiledWorkflow,
    execution: &'a Execution,
    memo: HashMap<String, StepRun>,
    options: &'a RunOptions,
    steps_run: AtomicU32,
    /// A step test: a failed call is reported at once, not retried.
    one_attempt: bool,
    family: Arc<crate::limits::Family>,
}

impl Run<'_> {
    fn org(&self) -> OrgId {
        self.execution.org_id
    }

    fn idempotency_key(&self, key: &str) -> String {
        format!("{}:{key}", self.execution.id)
    }

    /// Counts a step against the execution's limit.
    fn count_step(&self) -> Result<(), StepError> {
        let count = self.steps_run.fetch_add(1, Ordering::Relaxed) + 1;
        if count > self.engine.limits.max_steps {
            return Err(StepError::permanent(format!(
                "the execution ran more than {} steps, its limit",
                self.engine.limits.max_steps
            )));
        }
        Ok(())
    }

    fn new_run(
        &self,
        key: &str,
        state: StepState,
        input: Option<Value>,
        previous: Option<&StepRun>,
    ) -> StepRun {
        StepRun {
            execution_id: self.execution.id,
            step_key: key.to_owned(),
            state,
            input,
            output: None,
            error: None,
            attempts: previous.map_or(0, |run| {
                if run.state == StepState::Failed {
                    0
                } else {
                    run.attempts
                }
            }),
            idempotency_key: self.idempotency_key(key),
            // What earlier attempts cost stays spent, also when a failed step is run again.
            usage: previous.map_or_else(TokenUsage::default, |run| run.usage),
            cost: previous.map_or(Usd::ZERO, |run| run.cost),
            started_at: previous
                .and_then(|run| run.started_at)
                .or_else(|| Some(Utc::now())),
            finished_at: None,
        }
    }

    /// Saves a step's checkpoint. While the database is out of reach the write is tried again
    /// (0.5 s, doubling to 5 s, for up to [`CHECKPOINT_PATIENCE`]); then the run stops without
    /// failing the execution.
    async fn checkpoint(&self, run: &StepRun) -> Result<(), Halt> {
        let started = std::time::Instant::now();
        let mut wait = std::time::Duration::from_millis(500);
        loop {
            let fence = self.options.lease.as_ref().and_then(|lease| lease.fence());
            match self.store.save_step_run(run, fence).await {
                Ok(()) => return Ok(()),
                Err(error @ StoreError::LeaseLost(_)) => {
                    return Err(Halt::Interrupted {
                        reason: error.to_string(),
                    });
                }
                Err(error) if error.is_unavailable() => {
                    if started.elapsed() >= CHECKPOINT_PATIENCE {
                        return Err(Halt::Interrupted {
                            reason: format!("the database stayed out of reach: {error}"),
                        });
                    }
                    tracing::warn!(%error, step = %run.step_key, "the database is out of reach; the checkpoint is tried again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(5));
                }
                Err(error) => {
                    return Err(Halt::Failed {
                        error: StepError::system(format!(
                            "the checkpoint could not be saved: {error}"
                        ))
                        .to_json(&run.step_key, run.attempts as u32),
                    });
                }
            }
        }
    }

    /// Stores a finished step and tells the observer.
    async fn finish(
        &self,
        run: &mut StepRun,
        state: StepState,
        output: Option<Value>,
        error: Option<Value>,
        started: Instant,
    ) -> Result<(), Halt> {
        run.state = state;
        run.output = output;
        run.error = error;
        run.finished_at = Some(Utc::now());
        self.checkpoint(run).await?;
        self.options.observer.step_finished(run, started.elapsed());
        Ok(())
    }

    /// Stores a step as COMPLETED with `output`, and hands the output back.
    async fn complete(
        &self,
        run: &mut StepRun,
        output: Value,
        started: Instant,
    ) -> Result<Value, Halt> {
        self.finish(
            run,
            StepState::Completed,
            Some(output.clone()),
            None,
            started,
        )
        .await?;
        Ok(output)
    }

    fn check_output_size(&self, output: &Value) -> Result<(), StepError> {
        let limit = self.engine.limits.max_output_bytes;
        let size = serde_json::to_vec(output)
            .map(|bytes| bytes.len())
            .unwrap_or(usize::MAX);
        if size > limit {
            return Err(StepError::permanent(format!(
                "the step's output is {size} bytes; at most {limit} are allowed"
            )));
        }
        Ok(())
    }
}
