//! A real SQLite store, a scripted model and fake connectors, for running workflows in tests.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use baton_core::execution::{Execution, NewExecution, TriggerKind};
use baton_core::organization::NewUser;
use baton_core::workflow::NewWorkflow;
use baton_core::{ExecutionId, OrgId};
use baton_engine::compile::CompileOptions;
use baton_engine::connector::{ActionCall, Connectors};
use baton_engine::provider::ScriptedProvider;
use baton_engine::run::{Outcome, RunOptions, StoredWorkflows};
use baton_engine::{CompiledWorkflow, Engine, Limits, StepError, validate_document};
use baton_store::{SqliteStore, Store};
use serde_json::Value;

type Handler = dyn Fn(&ActionCall, usize) -> Result<Value, StepError> + Send + Sync;

/// Connectors answering from a closure, counting calls; optionally slow.
pub struct FakeConnectors {
    pub calls: Mutex<Vec<ActionCall>>,
    /// When each call came in.
    pub times: Mutex<Vec<std::time::Instant>>,
    handler: Box<Handler>,
    delay: Duration,
    rate_limit: Option<baton_engine::throttle::RateLimit>,
    /// Calls of `read` one batch takes (1: no batches).
    pub batch_size: usize,
    /// The size of each batch made, in order.
    pub batches: Mutex<Vec<usize>>,
    /// Calls in flight now, and the most ever at once.
    in_flight: std::sync::atomic::AtomicUsize,
    pub most_in_flight: std::sync::atomic::AtomicUsize,
}

impl FakeConnectors {
    fn unlimited(handler: Box<Handler>) -> Self {
        Self {
            calls: Mutex::new(Vec::new()),
            times: Mutex::new(Vec::new()),
            handler,
            delay: Duration::ZERO,
            rate_limit: None,
            batch_size: 1,
            batches: Mutex::new(Vec::new()),
            in_flight: Default::default(),
            most_in_flight: Default::default(),
        }
    }

    pub fn new(
        handler: impl Fn(&ActionCall, usize) -> Result<Value, StepError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self::unlimited(Box::new(handler)))
    }

    /// Connectors that take batches of `size` calls of the action `read`.
    pub fn batching(
        size: usize,
        handler: impl Fn(&ActionCall, usize) -> Result<Value, StepError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            batch_size: size,
            ..Self::unlimited(Box::new(handler))
        })
    }

    /// Connectors whose every service declares `limit`.
    pub fn limited(
        limit: baton_engine::throttle::RateLimit,
        handler: impl Fn(&ActionCall, usize) -> Result<Value, StepError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            rate_limit: Some(limit),
            ..Self::unlimited(Box::new(handler))
        })
    }

    pub fn slow(
        delay: Duration,
        handler: impl Fn(&ActionCall, usize) -> Result<Value, StepError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            delay,
            ..Self::unlimited(Box::new(handler))
        })
    }

    pub fn calls(&self) -> Vec<ActionCall> {
        self.calls.lock().unwrap().clone()
    }

    pub fn count(&self, action: &str) -> usize {
        self.calls()
            .iter()
            .filter(|call| call.action == action)
            .count()
    }
}

#[async_trait]
impl Connectors for FakeConnectors {
    fn action_problem(&self, service: &str, action: &str) -> Option<String> {
        (action == "nonexistent").then(|| format!("service {service:?} has no action {action:?}"))
    }

    fn rate_limit(&self, _service: &str) -> Option<baton_engine::throttle::RateLimit> {
        self.rate_limit
    }

    fn batch_size(&self, _service: &str, action: &str) -> usize {
        if action == "read" { self.batch_size } else { 1 }
    }

    async fn batch(&self, calls: Vec<ActionCall>) -> Vec<Result<Value, StepError>> {
        self.batches.lock().unwrap().push(calls.len());
        let mut results = Vec::new();
        for call in calls {
            results.push(self.call(call).await);
        }
        results
    }

    async fn call(&self, call: ActionCall) -> Result<Value, StepError> {
        self.times.lock().unwrap().push(std::time::Instant::now());
        let index = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(call.clone());
            calls.len()
        };
        use std::sync::atomic::Ordering;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        (self.handler)(&call, index)
    }
}

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    pub llm: Arc<ScriptedProvider>,
    pub connectors: Arc<FakeConnectors>,
    pub org: OrgId,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn new(connectors: Arc<FakeConnectors>) -> Self {
        Self::with_limits(connectors, Limits::default()).await
    }

    pub async fn with_limits(connectors: Arc<FakeConnectors>, limits: Limits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("baton.db"))
                .await
                .unwrap(),
        );
        store.migrate().await.unwrap();
        let owner = store
            .create_user(NewUser {
                email: "owner@example.com".into(),
                name: "Owner".into(),
                password_hash: None,
            })
            .await
            .unwrap();
        let org = store
            .create_organization("Acme", owner.id)
            .await
            .unwrap()
            .id;
        let llm = Arc::new(ScriptedProvider::new());
        let resolver = Arc::new(StoredWorkflows::new(
            store.clone(),
            connectors.clone(),
            limits.clone(),
            Vec::new(),
        ));
        let engine = Engine::new(store.clone(), llm.clone(), connectors.clone(), limits)
            .with_workflows(resolver);
        Self {
            store,
            engine,
            llm,
            connectors,
            org,
            _dir: dir,
        }
    }

    pub fn compile(&self, document: &Value) -> CompiledWorkflow {
        let limits = self.engine.limits().clone();
        let options = CompileOptions {
            limits: &limits,
            connectors: self.connectors.as_ref(),
            extra_providers: &[],
        };
        validate_document(document, &options)
            .unwrap_or_else(|problems| panic!("invalid workflow: {problems:#?}"))
    }

    /// Saves the workflow and creates a pending execution of it.
    pub async fn execution(&self, document: &Value, input: Value) -> (Execution, CompiledWorkflow) {
        let compiled = self.compile(document);
        let key = document["id"].as_str().unwrap().to_owned();
        let workflow = match self.store.workflow_by_key(self.org, &key).await.unwrap() {
            Some(workflow) => workflow,
            None => {
                self.store
                    .create_workflow(NewWorkflow {
                        org_id: self.org,
                        key,
                        name: "Test".into(),
                        definition: document.clone(),
                        created_by: None,
                    })
                    .await
                    .unwrap()
                    .0
            }
        };
        let execution = self
            .store
            .create_execution(NewExecution {
                id: ExecutionId::new(),
                org_id: self.org,
                workflow_id: workflow.id,
                workflow_version: workflow.current_version,
                trigger: TriggerKind::Manual,
                run_as: None,
                input,
            })
            .await
            .unwrap();
        (execution, compiled)
    }

    pub async fn run(
        &self,
        execution: &Execution,
        compiled: &CompiledWorkflow,
    ) -> (Execution, Outcome) {
        self.engine
            .run(
                execution,
                compiled,
                &RunOptions {
                    user: serde_json::json!({"company": "Acme Ltd", "name": "Ann"}),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
    }

    /// Creates and runs an execution.
    pub async fn start(&self, document: &Value, input: Value) -> (Execution, Outcome) {
        let (execution, compiled) = self.execution(document, input).await;
        self.run(&execution, &compiled).await
    }

    pub async fn steps(&self, execution: &Execution) -> Vec<baton_core::execution::StepRun> {
        self.store.step_runs(execution.id).await.unwrap()
    }
}
