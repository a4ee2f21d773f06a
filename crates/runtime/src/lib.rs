//! Baton's runtime: what turns a stored workflow and a trigger into a finished execution.
//!
//! [`Runtime::start`] stores an execution and the job that will run it in one transaction, so
//! an accepted trigger is never lost. [`Worker`]s claim jobs with a lease they renew while they
//! work; a worker that dies loses its lease and another takes the job over, the engine resuming
//! from the last checkpoint. Any number of workers, in one process or many, share one store.

mod budget;
mod credentials;
pub mod scheduler;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_core::dsl::Problem;
use baton_core::execution::{Execution, NewExecution, TriggerKind};
use baton_core::job::NewJob;
use baton_core::{ExecutionId, OrgId, UserId, WorkflowId};
use baton_engine::connector::Connectors;
use baton_engine::memory::MemoryExecutions;
use baton_engine::{
    CompileOptions, CompiledWorkflow, Engine, Limits, RunOptions, validate_document,
};
use baton_store::vault::Vault;
use baton_store::{ExecutionStore, Store, StoreError};
use chrono::Utc;
use serde_json::Value;
use tokio::sync::Notify;

pub use budget::Budgeted;
pub use credentials::StoredCredentials;
pub use scheduler::Scheduler;
pub use worker::{Worker, WorkerSettings};

/// The job kind that runs (or resumes) an execution.
pub const RUN_JOB: &str = "run";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the workflow version is invalid: {}", .0.first().map(ToString::to_string).unwrap_or_default())]
    Invalid(Vec<Problem>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Engine(#[from] baton_engine::EngineError),
}

/// A run to start.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub org_id: OrgId,
    pub workflow_id: WorkflowId,
    pub version: i32,
    pub trigger: TriggerKind,
    pub run_as: Option<UserId>,
    pub input: Value,
}

/// How [`Runtime::assemble_with`] sets up the engine.
pub struct Assembly {
    /// What one execution may use.
    pub limits: Limits,
    /// Where calls are counted against the services' limits: one every process shares (Redis)
    /// when several run.
    pub limiter: Arc<dyn baton_engine::throttle::Limiter>,
}

impl Default for Assembly {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            limiter: Arc::new(baton_engine::throttle::MemoryLimiter::default()),
        }
    }
}

/// What the API, the triggers and the workers share.
pub struct Runtime {
    pub store: Arc<dyn Store>,
    pub engine: Arc<Engine>,
    pub connectors: Arc<dyn Connectors>,
    pub limits: Limits,
    /// Seals and opens the organizations' secrets (credentials).
    pub vault: Arc<Vault>,
    /// The organizations' stored credentials, opened and refreshed.
    pub credentials: Arc<StoredCredentials>,
    /// The AI providers, for checking their keys (steps reach them through the engine).
    llm: Option<Arc<dyn baton_engine::provider::LlmProvider>>,
    compiled: Mutex<HashMap<(WorkflowId, i32), Arc<CompiledWorkflow>>>,
    /// The versions whose text mentions `user` (and so may read `{{user.*}}`).
    mentions_user: Mutex<std::collections::HashSet<(WorkflowId, i32)>>,
    /// Wakes this process's workers when a job is queued here.
    pub(crate) work: Notify,
    /// Wakes those waiting in this process for an execution to change (a step finished, a run
    /// ended).
    pub(crate) changed: Arc<Notify>,
    /// How this process runs the jobs it runs itself ([`Runtime::run_here`]).
    inline: WorkerSettings,
}

impl Runtime {
    /// The usual assembly: an engine over the store that finds sub-workflows in it, and opens
    /// the organization's stored credentials for integration steps with `vault`.
    pub fn assemble(
        store: Arc<dyn Store>,
        connectors: Arc<dyn Connectors>,
        llm: Arc<dyn baton_engine::provider::LlmProvider>,
        vault: Arc<Vault>,
    ) -> Self {
        Self::assemble_with(store, connectors, llm, vault, Assembly::default())
    }

    /// [`Runtime::assemble`] with the process's own limits and call counter.
    pub fn assemble_with(
        store: Arc<dyn Store>,
        connectors: Arc<dyn Connectors>,
        llm: Arc<dyn baton_engine::provider::LlmProvider>,
        vault: Arc<Vault>,
        assembly: Assembly,
    ) -> Self {
        let Assembly { limits, limiter } = assembly;
        let servers = llm.compatible_servers();
        let providers = llm.clone();
        let llm = Arc::new(Budgeted::new(llm, store.clone()));
        let credentials = Arc::new(StoredCredentials::new(
            store.clone(),
            vault.clone(),
            connectors.clone(),
        ));
        let engine = Engine::new(store.clone(), llm, connectors.clone(), limits.clone())
            .with_workflows(Arc::new(baton_engine::run::StoredWorkflows::new(
                store.clone(),
                connectors.clone(),
                limits.clone(),
                servers,
            )))
            .with_credentials(credentials.clone())
            .with_limiter(limiter)
            .with_shared_circuits(store.clone() as Arc<dyn baton_store::CircuitStore>);
        Self {
            credentials,
            llm: Some(providers),
            ..Self::new(store, Arc::new(engine), connectors, limits, vault)
        }
    }

    pub fn new(
        store: Arc<dyn Store>,
        engine: Arc<Engine>,
        connectors: Arc<dyn Connectors>,
        limits: Limits,
        vault: Arc<Vault>,
    ) -> Self {
        Self {
            credentials: Arc::new(StoredCredentials::new(
                store.clone(),
                vault.clone(),
                connectors.clone(),
            )),
            store,
            engine,
            connectors,
            limits,
            vault,
            llm: None,
            compiled: Mutex::default(),
            mentions_user: Mutex::default(),
            work: Notify::new(),
            changed: Arc::new(Notify::new()),
            inline: WorkerSettings::named("inline"),
        }
    }

    /// Checks a stored credential's secret with the service's cheapest call: an AI provider's
    /// key by listing its models, another service's through its connector.
    pub async fn check_credential(
        &self,
        service: &str,
        secret: &baton_engine::connector::Secret,
    ) -> Result<Value, baton_engine::error::StepError> {
        match &self.llm {
            Some(llm)
                if baton_engine::model::PROVIDERS.contains(&service)
                    || llm.compatible_servers().iter().any(|id| id == service) =>
            {
                llm.check_key(service, secret).await
            }
            _ => self.connectors.authenticate(service, secret).await,
        }
    }

    /// Checks a workflow document as saving or running it would.
    pub fn validate(&self, document: &Value) -> Result<CompiledWorkflow, Vec<Problem>> {
        validate_document(
            document,
            &CompileOptions {
                limits: &self.limits,
                connectors: self.connectors.as_ref(),
                extra_providers: &self.engine.compatible_servers(),
            },
        )
    }

    /// A stored version, compiled once per process: versions never change.
    pub async fn compiled(
        &self,
        org: OrgId,
        workflow: WorkflowId,
        version: i32,
    ) -> Result<Arc<CompiledWorkflow>, RuntimeError> {
        if let Some(found) = self
            .compiled
            .lock()
            .ok()
            .and_then(|cache| cache.get(&(workflow, version)).cloned())
        {
            return Ok(found);
        }
        let stored = self
            .store
            .workflow_version(org, workflow, version)
            .await?
            .ok_or(RuntimeError::NotFound("workflow version"))?;
        let compiled = Arc::new(
            self.validate(&stored.definition)
                .map_err(RuntimeError::Invalid)?,
        );
        if stored.definition.to_string().contains("user")
            && let Ok(mut mentions) = self.mentions_user.lock()
        {
            mentions.insert((workflow, version));
        }
        if let Ok(mut cache) = self.compiled.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert((workflow, version), compiled.clone());
        }
        Ok(compiled)
    }

    /// Whether a version may read `{{user.*}}` (known once it was compiled here).
    pub(crate) fn reads_user(&self, workflow: WorkflowId, version: i32) -> bool {
        self.mentions_user
            .lock()
            .map(|mentions| mentions.contains(&(workflow, version)))
            .unwrap_or(true)
    }

    /// The workflow's `concurrency`, which its jobs carry.
    async fn workflow_limit(
        &self,
        org: OrgId,
        workflow: WorkflowId,
        version: i32,
    ) -> Result<Option<u32>, RuntimeError> {
        Ok(self
            .compiled(org, workflow, version)
            .await?
            .header
            .concurrency
            .map(std::num::NonZeroU32::get))
    }

    /// Stores the execution and its job together, and wakes a worker.
    pub async fn start(&self, run: NewRun) -> Result<Execution, RuntimeError> {
        let limit = self
            .workflow_limit(run.org_id, run.workflow_id, run.version)
            .await?;
        let (execution, job) = queued(run, limit);
        let (execution, _) = self.store.create_execution_with_job(execution, job).await?;
        self.work.notify_waiters();
        Ok(execution)
    }

    /// Starts the run and runs it here and now, for a caller that waits for the result
    /// (a webhook in respond mode). The execution and its job are stored first, as by
    /// [`Runtime::start`]; this process then leases the job itself rather than waiting for a
    /// worker to find it. If the process dies, the job's lease runs out and a worker resumes it.
    ///
    /// A pure workflow ([`CompiledWorkflow::is_pure`]: it calls nothing and waits for nothing)
    /// runs in memory instead, and is stored once, finished, with its steps, before the caller
    /// hears the result. Should the process die first, nothing happened that the caller's
    /// failed request does not already tell them; running it again gives the same result.
    ///
    /// A workflow with a `concurrency` limit takes its turn in the queue like any other run.
    pub async fn run_here(&self, run: NewRun) -> Result<Execution, RuntimeError> {
        let compiled = self
            .compiled(run.org_id, run.workflow_id, run.version)
            .await?;
        if compiled.header.concurrency.is_some() {
            let (org, started) = (run.org_id, self.start(run).await?);
            return self.wait(org, started.id, Duration::from_secs(30)).await;
        }
        if compiled.is_pure() {
            return self.run_in_memory(run, &compiled).await;
        }
        let (execution, job) = queued(run, None);
        let (execution, job) = self.store.create_execution_with_job(execution, job).await?;
        let settings = &self.inline;
        let claim = baton_core::job::Claim {
            worker: settings.name.clone(),
            now: Utc::now(),
            lease: chrono::Duration::from_std(settings.lease)
                .unwrap_or(chrono::Duration::seconds(30)),
            per_organization: settings.per_organization,
        };
        match self.store.claim_job(job.id, &claim).await? {
            Some(job) => {
                worker::process(self, settings, job, worker::Stop::never()).await;
                Ok(self
                    .store
                    .execution(execution.org_id, execution.id)
                    .await?
                    .ok_or(RuntimeError::NotFound("execution"))?)
            }
            // A worker was quicker: wait for it.
            None => {
                self.wait(execution.org_id, execution.id, Duration::from_secs(30))
                    .await
            }
        }
    }

    async fn run_in_memory(
        &self,
        run: NewRun,
        compiled: &CompiledWorkflow,
    ) -> Result<Execution, RuntimeError> {
        let (execution, _) = queued(run, None);
        let memory = MemoryExecutions::new();
        let execution = memory.create_execution(execution).await?;
        let options = RunOptions {
            user: if self.reads_user(execution.workflow_id, execution.workflow_version) {
                worker::running_user(self, &execution).await
            } else {
                Value::Object(Default::default())
            },
            ..RunOptions::default()
        };
        self.engine
            .run_on(&memory, &execution, compiled, &options)
            .await?;
        let (finished, steps) = memory
            .take(execution.id)
            .ok_or(RuntimeError::NotFound("execution"))?;
        self.store
            .record_finished_execution(&finished, &steps)
            .await?;
        Ok(finished)
    }

    /// Tests one step of `compiled` (a stored version, or the builder's unsaved draft) alone:
    /// see [`baton_engine::Engine::test_step`]. It runs in memory; when it ran (not a safe
    /// test's preview) the execution is stored once, finished, as a `step_test` run of the
    /// workflow's `run.version`, so that what it cost counts against the month's AI spend.
    pub async fn test_step(
        &self,
        run: NewRun,
        compiled: &CompiledWorkflow,
        step: &str,
        values: &serde_json::Map<String, Value>,
        safe: bool,
    ) -> Result<(Option<Execution>, baton_engine::StepTest), RuntimeError> {
        let (execution, _) = queued(run, None);
        let memory = MemoryExecutions::new();
        let execution = memory.create_execution(execution).await?;
        let options = RunOptions {
            user: worker::running_user(self, &execution).await,
            ..RunOptions::default()
        };
        let tested = self
            .engine
            .test_step(&memory, &execution, compiled, step, values, safe, &options)
            .await?;
        if tested.run.is_none() {
            return Ok((None, tested));
        }
        let (finished, steps) = memory
            .take(execution.id)
            .ok_or(RuntimeError::NotFound("execution"))?;
        self.store
            .record_finished_execution(&finished, &steps)
            .await?;
        Ok((Some(finished), tested))
    }

    /// Like [`Runtime::start`], once per delivery id: a repeated delivery starts nothing and
    /// returns the first one's execution, with `false`.
    pub async fn deliver(
        &self,
        run: NewRun,
        delivery: impl Into<baton_store::Delivery<'_>>,
    ) -> Result<(Execution, bool), RuntimeError> {
        let limit = self
            .workflow_limit(run.org_id, run.workflow_id, run.version)
            .await?;
        let (execution, job) = queued(run, limit);
        let (execution, fresh) = self
            .store
            .create_delivered_execution(execution, job, delivery.into())
            .await?;
        if fresh {
            self.work.notify_waiters();
        }
        Ok((execution, fresh))
    }

    /// Queues an existing execution again (after an approval, a retry).
    pub async fn requeue(&self, execution: &Execution) -> Result<(), RuntimeError> {
        let workflow_limit = self
            .workflow_limit(
                execution.org_id,
                execution.workflow_id,
                execution.workflow_version,
            )
            .await?;
        self.store
            .enqueue(NewJob {
                org_id: execution.org_id,
                execution_id: execution.id,
                kind: RUN_JOB.to_owned(),
                payload: Value::Object(Default::default()),
                run_at: Utc::now(),
                workflow_id: execution.workflow_id,
                workflow_limit,
            })
            .await?;
        self.work.notify_waiters();
        Ok(())
    }

    /// Resolves when something may have changed in an execution run by this process (a
    /// step finished, a run ended); runs in other processes are seen only by looking.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// The execution once it has finished, or as it is after `timeout`.
    pub async fn wait(
        &self,
        org: OrgId,
        id: ExecutionId,
        timeout: Duration,
    ) -> Result<Execution, RuntimeError> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Workers in this process say when something changed; workers elsewhere are polled.
        let mut poll = Duration::from_millis(5);
        loop {
            let changed = self.changed.notified();
            let execution = self
                .store
                .execution(org, id)
                .await?
                .ok_or(RuntimeError::NotFound("execution"))?;
            if execution.state.is_finished() || tokio::time::Instant::now() >= deadline {
                return Ok(execution);
            }
            let _ =
                tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + poll), changed)
                    .await;
            poll = (poll * 2).min(Duration::from_millis(200));
        }
    }
}

/// The execution a run creates, and the job that runs it now (within the workflow's limit).
fn queued(run: NewRun, workflow_limit: Option<u32>) -> (NewExecution, NewJob) {
    let id = ExecutionId::new();
    let job = NewJob {
        org_id: run.org_id,
        execution_id: id,
        kind: RUN_JOB.to_owned(),
        payload: Value::Object(Default::default()),
        run_at: Utc::now(),
        workflow_id: run.workflow_id,
        workflow_limit,
    };
    let execution = NewExecution {
        id,
        org_id: run.org_id,
        workflow_id: run.workflow_id,
        workflow_version: run.version,
        trigger: run.trigger,
        run_as: run.run_as,
        input: run.input,
    };
    (execution, job)
}

/// A step's checkpoint as the API and `baton run --output json` show it.
pub fn step_json(step: &baton_core::execution::StepRun) -> Value {
    let duration_ms = match (step.started_at, step.finished_at) {
        (Some(started), Some(finished)) => Some((finished - started).num_milliseconds()),
        _ => None,
    };
    serde_json::json!({
        "state": step.state,
        "input": step.input,
        "output": step.output,
        "error": step.error,
        "attempts": step.attempts,
        "started_at": step.started_at,
        "finished_at": step.finished_at,
        "duration_ms": duration_ms,
        "usage": step.usage,
        "cost_usd": step.cost,
    })
}

/// An execution with its steps, in the order they first ran, each with its `id`.
pub fn execution_json(
    execution: &Execution,
    workflow_key: &str,
    steps: &[baton_core::execution::StepRun],
) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .map(|step| {
            let mut shown = step_json(step);
            shown["id"] = Value::from(step.step_key.clone());
            shown
        })
        .collect();
    serde_json::json!({
        "id": execution.id,
        "workflow_id": workflow_key,
        "workflow_version": execution.workflow_version,
        "state": execution.state,
        "trigger": execution.trigger,
        "input": execution.input,
        "output": execution.output,
        "error": execution.error,
        "usage": execution.usage,
        "cost_usd": execution.cost,
        "created_at": execution.created_at,
        "started_at": execution.started_at,
        "finished_at": execution.finished_at,
        "steps": steps,
    })
}
