//! Engine overhead, printed as a table: time per step in memory and with durable SQLite
//! checkpoints, and checkpointed 4-step executions per second.
//!
//! Run with `cargo bench -p baton-engine --bench engine`. Targets on a 2-core machine: at most
//! 20 µs of engine time per step in memory, at most 0.5 ms per step with a SQLite checkpoint,
//! and at least 2,000 checkpointed 4-step executions per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_core::execution::{NewExecution, TriggerKind};
use baton_core::organization::NewUser;
use baton_core::workflow::NewWorkflow;
use baton_core::{ExecutionId, OrgId, WorkflowId};
use baton_engine::compile::CompileOptions;
use baton_engine::connector::NoConnectors;
use baton_engine::memory::MemoryExecutions;
use baton_engine::provider::NoProvider;
use baton_engine::run::RunOptions;
use baton_engine::{CompiledWorkflow, Engine, Limits, Outcome, validate_document};
use baton_store::{AccountStore, ExecutionStore, SqliteStore, Store, WorkflowStore};
use serde_json::{Value, json};

/// A workflow of `steps` transformation steps, each reading the previous one's output.
fn chain(steps: usize) -> Value {
    let mut list = vec![
        json!({"id": "s0", "type": "transformation", "action": "set", "inputs": {"n": "{{ trigger.n }}", "label": "start"}}),
    ];
    for index in 1..steps {
        list.push(json!({"id": format!("s{index}"), "type": "transformation", "action": "set",
            "inputs": {"n": format!("{{{{ s{}.n + 1 }}}}", index - 1), "label": format!("step {index} of {{{{ trigger.name }}}}")}}));
    }
    json!({"id": format!("wf_chain_{steps}"), "name": "chain", "steps": list})
}

fn compile(document: &Value) -> CompiledWorkflow {
    let limits = Limits::default();
    validate_document(
        document,
        &CompileOptions {
            limits: &limits,
            connectors: &NoConnectors,
            extra_providers: &[],
        },
    )
    .expect("valid")
}

struct Target {
    engine: Engine,
    store: Arc<dyn ExecutionStore>,
    org: OrgId,
    workflow: WorkflowId,
}

impl Target {
    async fn run_one(&self, compiled: &CompiledWorkflow, options: &RunOptions) {
        let execution = self
            .store
            .create_execution(NewExecution {
                id: ExecutionId::new(),
                org_id: self.org,
                workflow_id: self.workflow,
                workflow_version: 1,
                trigger: TriggerKind::Manual,
                run_as: None,
                input: json!({"n": 1, "name": "bench"}),
            })
            .await
            .expect("create");
        let (_, outcome) = self
            .engine
            .run(&execution, compiled, options)
            .await
            .expect("run");
        assert_eq!(outcome, Outcome::Completed);
    }
}

fn memory_target() -> Target {
    let store: Arc<dyn ExecutionStore> = Arc::new(MemoryExecutions::new());
    let engine = Engine::new(
        store.clone(),
        Arc::new(NoProvider),
        Arc::new(NoConnectors),
        Limits::default(),
    );
    Target {
        engine,
        store,
        org: OrgId::new(),
        workflow: WorkflowId::new(),
    }
}

async fn sqlite_target(dir: &std::path::Path, document: &Value) -> Target {
    let store = Arc::new(
        SqliteStore::open(&dir.join("bench.db"))
            .await
            .expect("open"),
    );
    store.migrate().await.expect("migrate");
    let user = store
        .create_user(NewUser {
            email: format!("{}@bench", uuid_like()),
            name: "b".into(),
            password_hash: None,
        })
        .await
        .expect("user");
    let org = store
        .create_organization("bench", user.id)
        .await
        .expect("org")
        .id;
    let (workflow, _) = store
        .create_workflow(NewWorkflow {
            org_id: org,
            key: document["id"].as_str().unwrap().into(),
            name: "b".into(),
            definition: document.clone(),
            created_by: None,
        })
        .await
        .expect("workflow");
    let executions: Arc<dyn ExecutionStore> = store;
    let engine = Engine::new(
        executions.clone(),
        Arc::new(NoProvider),
        Arc::new(NoConnectors),
        Limits::default(),
    );
    Target {
        engine,
        store: executions,
        org,
        workflow: workflow.id,
    }
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        Instant::now().elapsed().as_nanos() ^ std::process::id() as u128 ^ rand_seed()
    )
}

fn rand_seed() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// Runs `count` executions, `concurrency` at a time, and returns the elapsed time.
async fn measure(
    target: Arc<Target>,
    compiled: Arc<CompiledWorkflow>,
    count: usize,
    concurrency: usize,
) -> Duration {
    let started = Instant::now();
    let per_task = count / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let target = target.clone();
            let compiled = compiled.clone();
            tokio::spawn(async move {
                let options = RunOptions::default();
                for _ in 0..per_task {
                    target.run_one(&compiled, &options).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    started.elapsed()
}

fn row(name: &str, value: String, target: &str, met: bool) {
    println!(
        "| {name:<52} | {value:>14} | {target:>12} | {:<4} |",
        if met { "ok" } else { "MISS" }
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::var_os("BATON_BENCH_QUICK").is_some();
    let scale = if quick { 10 } else { 1 };
    println!(
        "| measurement                                          |          value |       target | met  |"
    );
    println!(
        "|------------------------------------------------------|----------------|--------------|------|"
    );

    // In memory: engine time per step, on a 100-step chain.
    let long = chain(100);
    let compiled = Arc::new(compile(&long));
    let memory = Arc::new(memory_target());
    measure(memory.clone(), compiled.clone(), 20, 1).await;
    let runs = 400 / scale;
    let elapsed = measure(memory.clone(), compiled.clone(), runs, 1).await;
    let per_step = elapsed.as_secs_f64() * 1e6 / (runs * 100) as f64;
    row(
        "engine time per step, in memory (100-step chain)",
        format!("{per_step:.2} µs"),
        "≤ 20 µs",
        per_step <= 20.0,
    );

    // In memory: 4-step executions per second.
    let four = chain(4);
    let compiled_four = Arc::new(compile(&four));
    let runs = 20_000 / scale;
    let elapsed = measure(memory.clone(), compiled_four.clone(), runs, 2).await;
    let rate = runs as f64 / elapsed.as_secs_f64();
    row(
        "4-step executions per second, in memory",
        format!("{rate:.0} /s"),
        "-",
        true,
    );

    // SQLite, durable checkpoints.
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = Arc::new(sqlite_target(dir.path(), &four).await);
    measure(sqlite.clone(), compiled_four.clone(), 100, 1).await;
    {
        // One checkpoint write on its own: the floor under the per-step figure.
        let execution = sqlite
            .store
            .create_execution(NewExecution {
                id: ExecutionId::new(),
                org_id: sqlite.org,
                workflow_id: sqlite.workflow,
                workflow_version: 1,
                trigger: TriggerKind::Manual,
                run_as: None,
                input: json!({}),
            })
            .await
            .unwrap();
        let mut run = baton_core::execution::StepRun {
            execution_id: execution.id,
            step_key: "x".into(),
            state: baton_core::StepState::Running,
            input: None,
            output: Some(json!({"n": 1})),
            error: None,
            attempts: 1,
            idempotency_key: "k".into(),
            usage: Default::default(),
            cost: baton_core::Usd::ZERO,
            started_at: None,
            finished_at: None,
        };
        let started = Instant::now();
        for index in 0..2000 {
            run.step_key = format!("s{index}");
            sqlite.store.save_step_run(&run, None).await.unwrap();
        }
        let micros = started.elapsed().as_secs_f64() * 1e6 / 2000.0;
        row(
            "one SQLite checkpoint write (save_step_run)",
            format!("{micros:.1} µs"),
            "-",
            true,
        );
    }
    let runs = 4_000 / scale;
    let elapsed = measure(sqlite.clone(), compiled_four.clone(), runs, 1).await;
    let per_step = elapsed.as_secs_f64() * 1e3 / (runs * 4) as f64;
    row(
        "time per step with a SQLite checkpoint (sequential)",
        format!("{per_step:.3} ms"),
        "≤ 0.5 ms",
        per_step <= 0.5,
    );
    let runs = 8_000 / scale;
    let elapsed = measure(sqlite.clone(), compiled_four.clone(), runs, 8).await;
    let rate = runs as f64 / elapsed.as_secs_f64();
    row(
        "checkpointed 4-step executions per second (SQLite, 8 at once)",
        format!("{rate:.0} /s"),
        "≥ 2000 /s",
        rate >= 2000.0,
    );
}
