//! `baton run FILE` and `baton resume`: executions on the local store, with each step shown
//! live on stderr. A run killed at any point leaves its checkpoints behind; `baton resume`
//! finishes it, re-running only the step that was in flight, with the same idempotency key.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use baton_core::execution::{Execution, ExecutionFilter, NewExecution, StepRun, TriggerKind};
use baton_core::workflow::{NewVersion, NewWorkflow};
use baton_core::{ExecutionId, ExecutionState, OrgId, PageRequest, StepState};
use baton_engine::run::{Cancel, Observer, Outcome, RunOptions, StoredWorkflows};
use baton_engine::{CompiledWorkflow, Engine, Limits};
use baton_store::Store;
use serde_json::{Map, Value, json};

use crate::cli::{ExecutionArgs, OutputFormat, ResumeArgs, RunArgs};
use crate::credentials_file::FileCredentials;
use crate::settings::CommonSettings;
use crate::{connectors, exit, logging, startup, workflow_file};

/// The organization `baton run` keeps its executions in, with its one user.
const LOCAL_EMAIL: &str = "local@baton.localhost";
const LOCAL_ORGANIZATION: &str = "Local";

pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let document = match workflow_file::load(&args.file) {
        Ok(document) => document,
        Err(problems) => return Ok(invalid(problems.iter().map(ToString::to_string))),
    };
    let connectors = connectors::registry(&Default::default());
    let servers = workflow_file::llm_servers(args.execution.common.llm_servers.as_deref())?;
    let compiled = match workflow_file::compile(
        &document,
        connectors.as_ref(),
        &Limits::default(),
        &servers,
    ) {
        Ok(compiled) => compiled,
        Err(problems) => return Ok(invalid(problems.iter().map(ToString::to_string))),
    };
    let input = match workflow_file::json_argument("--input", args.input.as_deref()) {
        Ok(input) => input,
        Err(error) => return Ok(invalid([error])),
    };
    let (local, user) = match Local::prepare(&args.execution).await? {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let (workflow_id, version) = local.save_workflow(&compiled, &document).await?;
    let execution = local
        .store
        .create_execution(NewExecution {
            id: ExecutionId::new(),
            org_id: local.org,
            workflow_id,
            workflow_version: version,
            trigger: TriggerKind::Manual,
            run_as: None,
            input,
        })
        .await?;
    eprintln!(
        "execution {} of {} (version {version})",
        execution.id, compiled.header.id
    );
    let (execution, outcome) = local.drive(execution, &compiled, user).await?;
    local
        .report(&execution, &outcome, args.execution.output)
        .await
}

pub async fn resume(args: ResumeArgs) -> anyhow::Result<u8> {
    let (local, user) = match Local::prepare(&args.execution).await? {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let executions = match &args.execution_id {
        Some(id) => {
            let id: ExecutionId = match id.parse() {
                Ok(id) => id,
                Err(_) => return Ok(invalid([format!("{id:?} is not an execution id")])),
            };
            match local.store.execution(local.org, id).await? {
                Some(execution) => vec![execution],
                None => {
                    return Ok(invalid([format!(
                        "there is no execution {id} in {}",
                        local.data_dir()
                    )]));
                }
            }
        }
        None => local.unfinished().await?,
    };
    if executions.is_empty() {
        eprintln!("nothing to resume");
        return Ok(exit::SUCCESS);
    }
    let mut code = exit::SUCCESS;
    for execution in executions {
        let Some(version) = local
            .store
            .workflow_version(local.org, execution.workflow_id, execution.workflow_version)
            .await?
        else {
            eprintln!("execution {}: its workflow version is gone", execution.id);
            code = exit::FAILURE;
            continue;
        };
        let servers: Vec<String> = local
            .settings
            .providers
            .compatible
            .keys()
            .cloned()
            .collect();
        let compiled = match workflow_file::compile(
            &version.definition,
            local.connectors.as_ref(),
            &local.limits,
            &servers,
        ) {
            Ok(compiled) => compiled,
            Err(problems) => {
                eprintln!(
                    "execution {}: its workflow no longer compiles: {}",
                    execution.id, problems[0]
                );
                code = exit::INVALID;
                continue;
            }
        };
        eprintln!(
            "resuming execution {} of {} ({})",
            execution.id, compiled.header.id, execution.state
        );
        let execution = match execution.state {
            ExecutionState::Failed => local.engine.retry_failed(&execution).await?,
            _ => execution,
        };
        let (execution, outcome) = local.drive(execution, &compiled, user.clone()).await?;
        let result = local
            .report(&execution, &outcome, args.execution.output)
            .await?;
        if code == exit::SUCCESS {
            code = result;
        }
    }
    Ok(code)
}

fn invalid(lines: impl IntoIterator<Item = String>) -> u8 {
    for line in lines {
        eprintln!("{line}");
    }
    exit::INVALID
}

/// The local store, organization and engine.
struct Local {
    store: Arc<dyn Store>,
    engine: Engine,
    connectors: Arc<dyn baton_engine::connector::Connectors>,
    limits: Limits,
    org: OrgId,
    settings: CommonSettings,
}

impl Local {
    /// Reads `--user` and `--credentials` and opens the local store; a bad argument gives the
    /// exit code to return, its message already printed.
    async fn prepare(args: &ExecutionArgs) -> anyhow::Result<Result<(Self, Value), u8>> {
        let user = match workflow_file::json_argument("--user", args.user.as_deref()) {
            Ok(user) => user,
            Err(error) => return Ok(Err(invalid([error]))),
        };
        let credentials = match args
            .credentials
            .as_deref()
            .map(FileCredentials::load)
            .transpose()
        {
            Ok(credentials) => credentials,
            Err(error) => return Ok(Err(invalid([error]))),
        };
        Ok(Ok((Self::open(&args.common, credentials).await?, user)))
    }

    async fn open(
        args: &crate::cli::CommonArgs,
        credentials: Option<FileCredentials>,
    ) -> anyhow::Result<Self> {
        let (settings, _) = CommonSettings::resolve(args)?;
        logging::init(settings.log_format, settings.log_or("warn"));
        startup::prepare_data_dir(&settings.data_dir)?;
        let store = startup::open_store(&settings).await?;
        let org = local_organization(store.as_ref()).await?;
        let connectors = connectors::registry(&settings.connectors);
        let limits = settings.limits.clone();
        let resolver = Arc::new(StoredWorkflows::new(
            store.clone(),
            connectors.clone(),
            limits.clone(),
            settings.providers.compatible.keys().cloned().collect(),
        ));
        let credentials = credentials.unwrap_or_default().with_environment();
        let engine = Engine::new(
            store.clone(),
            Arc::new(baton_connectors::llm::Providers::new(
                settings.providers.clone(),
            )),
            connectors.clone(),
            limits.clone(),
        )
        .with_workflows(resolver)
        .with_credentials(Arc::new(credentials));
        Ok(Self {
            store,
            engine,
            connectors,
            limits,
            org,
            settings,
        })
    }

    fn data_dir(&self) -> String {
        self.settings.data_dir.display().to_string()
    }

    /// Saves the document as the workflow's next version when it changed.
    async fn save_workflow(
        &self,
        compiled: &CompiledWorkflow,
        document: &Value,
    ) -> anyhow::Result<(baton_core::WorkflowId, i32)> {
        let key = &compiled.header.id;
        let name = compiled.header.name.clone();
        match self.store.workflow_by_key(self.org, key).await? {
            None => {
                let (workflow, version) = self
                    .store
                    .create_workflow(NewWorkflow {
                        org_id: self.org,
                        key: key.clone(),
                        name,
                        definition: document.clone(),
                        created_by: None,
                    })
                    .await?;
                Ok((workflow.id, version.version))
            }
            Some(workflow) => {
                let current = self
                    .store
                    .workflow_version(self.org, workflow.id, workflow.current_version)
                    .await?;
                if current.is_some_and(|current| &current.definition == document) {
                    return Ok((workflow.id, workflow.current_version));
                }
                let (workflow, version) = self
                    .store
                    .save_version(NewVersion {
                        org_id: self.org,
                        workflow_id: workflow.id,
                        name,
                        definition: document.clone(),
                        created_by: None,
                        base_version: None,
                        note: None,
                    })
                    .await?;
                Ok((workflow.id, version.version))
            }
        }
    }

    /// Every execution that has not finished, oldest first.
    async fn unfinished(&self) -> anyhow::Result<Vec<Execution>> {
        let mut found = Vec::new();
        for state in [
            ExecutionState::Pending,
            ExecutionState::Running,
            ExecutionState::Waiting,
        ] {
            let filter = ExecutionFilter {
                workflow_id: None,
                state: Some(state),
            };
            let mut page = PageRequest::first(500);
            loop {
                let listed = self.store.list_executions(self.org, &filter, page).await?;
                found.extend(listed.items);
                match listed.next_cursor {
                    Some(cursor) => page = PageRequest::after(500, cursor),
                    None => break,
                }
            }
        }
        found.sort_by_key(|execution| execution.id);
        Ok(found)
    }

    /// Runs until the execution finishes, waits for a person, or is cancelled with Ctrl-C;
    /// timed waits (delays, approval time limits) are slept through.
    async fn drive(
        &self,
        mut execution: Execution,
        compiled: &CompiledWorkflow,
        user: Value,
    ) -> anyhow::Result<(Execution, Outcome)> {
        let (canceller, cancel) = Cancel::new();
        let interrupt = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("cancelling: stopping at the next safe point");
                canceller.cancel();
            }
        });
        let options = RunOptions {
            user,
            observer: Arc::new(Progress),
            cancel: cancel.clone(),
            ..RunOptions::default()
        };
        let result = loop {
            let (stored, outcome) = self
                .engine
                .run(&execution, compiled, &options)
                .await
                .context("running the workflow")?;
            execution = stored;
            match &outcome {
                Outcome::Waiting {
                    step,
                    resume_at: Some(at),
                } => {
                    let wait = (*at - chrono::Utc::now()).to_std().unwrap_or_default();
                    eprintln!(
                        "  … {step} waits until {} ({:.1} s)",
                        at.to_rfc3339(),
                        wait.as_secs_f64()
                    );
                    tokio::select! {
                        () = tokio::time::sleep(wait + Duration::from_millis(5)) => continue,
                        () = cancel.cancelled() => {
                            let update = baton_core::execution::ExecutionUpdate::new(execution.id, ExecutionState::Waiting, ExecutionState::Cancelled, chrono::Utc::now());
                            execution = self.store.transition(update).await?;
                            break (execution, Outcome::Cancelled);
                        }
                    }
                }
                _ => break (execution, outcome),
            }
        };
        interrupt.abort();
        Ok(result)
    }

    async fn report(
        &self,
        execution: &Execution,
        outcome: &Outcome,
        format: OutputFormat,
    ) -> anyhow::Result<u8> {
        let steps = self.store.step_runs(execution.id).await?;
        match format {
            OutputFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(&execution_json(execution, &steps))?
            ),
            OutputFormat::Text => {
                if let Some(output) = &execution.output {
                    println!("{}", serde_json::to_string_pretty(output)?);
                }
            }
        }
        let tokens = execution.usage.input_tokens + execution.usage.output_tokens;
        let summary = format!("{} · {tokens} tokens · {}", execution.state, execution.cost);
        Ok(match outcome {
            Outcome::Completed => {
                eprintln!("{summary}");
                exit::SUCCESS
            }
            Outcome::Failed => {
                let message = execution
                    .error
                    .as_ref()
                    .and_then(|error| error.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                eprintln!("{summary}: {message}");
                eprintln!(
                    "fix the cause, then `baton resume {}` retries from the failed step",
                    execution.id
                );
                exit::FAILURE
            }
            Outcome::Waiting { step, .. } => {
                eprintln!(
                    "{summary}: step {step} waits for an answer; resume with `baton resume {}`",
                    execution.id
                );
                exit::WAITING
            }
            Outcome::Cancelled => {
                eprintln!("{summary}");
                exit::CANCELLED
            }
        })
    }
}

/// The execution as `baton run --output json` prints it.
fn execution_json(execution: &Execution, steps: &[StepRun]) -> Value {
    let mut by_id = Map::new();
    for step in steps {
        by_id.insert(step.step_key.clone(), baton_runtime::step_json(step));
    }
    json!({
        "id": execution.id,
        "workflow_id": execution.workflow_id,
        "workflow_version": execution.workflow_version,
        "state": execution.state,
        "steps": by_id,
        "output": execution.output,
        "error": execution.error,
        "usage": execution.usage,
        "cost_usd": execution.cost,
        "started_at": execution.started_at,
        "finished_at": execution.finished_at,
    })
}

async fn local_organization(store: &dyn Store) -> anyhow::Result<OrgId> {
    let user = match store.user_by_email(LOCAL_EMAIL).await? {
        Some(user) => user,
        None => {
            let new = baton_core::organization::NewUser {
                email: LOCAL_EMAIL.into(),
                name: "Local user".into(),
                password_hash: None,
            };
            match store.create_user(new).await {
                Ok(user) => user,
                // Two runs starting at once: the other one made it.
                Err(baton_store::StoreError::Conflict(_)) => store
                    .user_by_email(LOCAL_EMAIL)
                    .await?
                    .context("the local user")?,
                Err(error) => return Err(error.into()),
            }
        }
    };
    if let Some(membership) = store.memberships_of(user.id).await?.first() {
        return Ok(membership.org_id);
    }
    Ok(store
        .create_organization(LOCAL_ORGANIZATION, user.id)
        .await?
        .id)
}

/// Shows each step on stderr as it starts and ends.
struct Progress;

impl Observer for Progress {
    fn step_started(&self, key: &str, attempt: i32) {
        if attempt > 1 {
            eprintln!("  ↻ {key}: attempt {attempt}");
        } else {
            eprintln!("  ▶ {key}");
        }
    }

    fn step_finished(&self, run: &StepRun, duration: Duration) {
        let mark = match run.state {
            StepState::Completed if run.error.is_some() => "!",
            StepState::Completed => "✓",
            StepState::Failed => "✗",
            _ => "·",
        };
        let mut line = format!(
            "  {mark} {} {} {} ms",
            run.step_key,
            run.state,
            duration.as_millis()
        );
        let tokens = run.usage.input_tokens + run.usage.output_tokens;
        if tokens > 0 {
            line.push_str(&format!(" · {tokens} tokens · {}", run.cost));
        }
        if let Some(message) = run
            .error
            .as_ref()
            .and_then(|error| error.get("message"))
            .and_then(Value::as_str)
        {
            line.push_str(&format!(" · {message}"));
        }
        eprintln!("{line}");
    }
}
