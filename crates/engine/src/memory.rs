//! Executions kept in memory: the checkpoint store for runs that need no durability (the
//! engine's benchmarks, previews). It follows the same rules as the database stores.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use baton_core::execution::{
    Execution, ExecutionFilter, ExecutionUpdate, NewExecution, StepRun, TokenUsage,
};
use baton_core::job::{Job, NewJob};
use baton_core::{ExecutionId, ExecutionState, OrgId, Page, PageRequest, Usd};
use baton_store::{ExecutionStore, Result, StoreError};

#[derive(Default)]
pub struct MemoryExecutions {
    executions: Mutex<HashMap<ExecutionId, Execution>>,
    steps: Mutex<HashMap<ExecutionId, Vec<StepRun>>>,
}

impl MemoryExecutions {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ExecutionStore for MemoryExecutions {
    async fn create_execution(&self, new: NewExecution) -> Result<Execution> {
        let execution = Execution {
            id: new.id,
            org_id: new.org_id,
            workflow_id: new.workflow_id,
            workflow_version: new.workflow_version,
            state: ExecutionState::Pending,
            trigger: new.trigger,
            run_as: new.run_as,
            input: new.input,
            output: None,
            error: None,
            usage: TokenUsage::default(),
            cost: Usd::ZERO,
            created_at: chrono::Utc::now(),
            started_at: None,
            finished_at: None,
        };
        let mut executions = self.executions.lock().expect("executions lock");
        if executions.contains_key(&execution.id) {
            return Err(StoreError::Conflict("the execution already exists".into()));
        }
        executions.insert(execution.id, execution.clone());
        Ok(execution)
    }

    async fn create_execution_with_job(
        &self,
        _: NewExecution,
        _: NewJob,
    ) -> Result<(Execution, Job)> {
        Err(StoreError::Conflict(
            "the in-memory store has no job queue".into(),
        ))
    }

    async fn create_delivered_execution(
        &self,
        _: NewExecution,
        _: NewJob,
        _: baton_store::Delivery<'_>,
    ) -> Result<(Execution, bool)> {
        Err(StoreError::Conflict(
            "the in-memory store has no job queue".into(),
        ))
    }

    async fn prune_deliveries(&self, _: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        Ok(0)
    }

    async fn execution(&self, org: OrgId, id: ExecutionId) -> Result<Option<Execution>> {
        let executions = self.executions.lock().expect("executions lock");
        Ok(executions
            .get(&id)
            .filter(|execution| execution.org_id == org)
            .cloned())
    }

    async fn transition(&self, update: ExecutionUpdate) -> Result<Execution> {
        update.from.transition(update.to)?;
        let (usage, cost) = {
            let steps = self.steps.lock().expect("steps lock");
            let runs = steps.get(&update.id).map(Vec::as_slice).unwrap_or_default();
            let mut usage = TokenUsage::default();
            for run in runs {
                usage += run.usage;
            }
            (usage, runs.iter().map(|run| run.cost).sum())
        };
        let mut executions = self.executions.lock().expect("executions lock");
        let execution = executions
            .get_mut(&update.id)
            .filter(|execution| execution.state == update.from)
            .ok_or_else(|| {
                StoreError::Conflict(format!("execution {} is not {}", update.id, update.from))
            })?;
        execution.state = update.to;
        execution.output = update.output;
        execution.error = update.error;
        execution.usage = usage;
        execution.cost = cost;
        if update.to == ExecutionState::Running && execution.started_at.is_none() {
            execution.started_at = Some(update.at);
        }
        execution.finished_at = matches!(
            update.to,
            ExecutionState::Completed | ExecutionState::Failed | ExecutionState::Cancelled
        )
        .then_some(update.at);
        Ok(execution.clone())
    }

    async fn list_executions(
        &self,
        org: OrgId,
        filter: &ExecutionFilter,
        page: PageRequest,
    ) -> Result<Page<Execution>> {
        let executions = self.executions.lock().expect("executions lock");
        let mut matching: Vec<Execution> = executions
            .values()
            .filter(|execution| execution.org_id == org)
            .filter(|execution| {
                filter
                    .workflow_id
                    .is_none_or(|id| execution.workflow_id == id)
            })
            .filter(|execution| filter.state.is_none_or(|state| execution.state == state))
            .cloned()
            .collect();
        matching.sort_by_key(|execution| std::cmp::Reverse(execution.id));
        if let Some(after) = &page.after {
            let after: ExecutionId = after
                .as_str()
                .parse()
                .map_err(|_| StoreError::InvalidCursor(after.as_str().to_owned()))?;
            matching.retain(|execution| execution.id < after);
        }
        matching.truncate(page.limit as usize + 1);
        Ok(Page::from_rows(matching, page.limit, |execution| {
            baton_core::Cursor::new(execution.id.to_string())
        }))
    }

    /// Memory runs have no jobs, so no fence to check.
    async fn save_step_run(
        &self,
        run: &StepRun,
        _fence: Option<baton_core::job::Fence>,
    ) -> Result<()> {
        if !self
            .executions
            .lock()
            .expect("executions lock")
            .contains_key(&run.execution_id)
        {
            return Err(StoreError::NotFound("execution"));
        }
        let mut steps = self.steps.lock().expect("steps lock");
        let runs = steps.entry(run.execution_id).or_default();
        match runs
            .iter_mut()
            .find(|existing| existing.step_key == run.step_key)
        {
            Some(existing) => *existing = run.clone(),
            None => runs.push(run.clone()),
        }
        Ok(())
    }

    async fn step_runs(&self, execution: ExecutionId) -> Result<Vec<StepRun>> {
        Ok(self
            .steps
            .lock()
            .expect("steps lock")
            .get(&execution)
            .cloned()
            .unwrap_or_default())
    }

    async fn resume_failed(
        &self,
        id: ExecutionId,
        version: i32,
        forget: &[String],
    ) -> Result<Execution> {
        let mut executions = self.executions.lock().expect("executions lock");
        let execution = executions
            .get_mut(&id)
            .filter(|execution| execution.state == ExecutionState::Failed)
            .ok_or_else(|| StoreError::Conflict(format!("execution {id} is not FAILED")))?;
        let mut steps = self.steps.lock().expect("steps lock");
        let runs = steps.entry(id).or_default();
        runs.retain(|run| {
            !forget
                .iter()
                .any(|key| run.step_key == *key || run.step_key.starts_with(&format!("{key}[")))
        });
        execution.state = ExecutionState::Pending;
        execution.workflow_version = version;
        execution.output = None;
        execution.error = None;
        execution.finished_at = None;
        execution.usage = TokenUsage {
            input_tokens: runs.iter().map(|run| run.usage.input_tokens).sum(),
            output_tokens: runs.iter().map(|run| run.usage.output_tokens).sum(),
        };
        execution.cost = runs.iter().fold(Usd::ZERO, |total, run| total + run.cost);
        Ok(execution.clone())
    }

    async fn record_finished_execution(
        &self,
        execution: &Execution,
        steps: &[StepRun],
    ) -> Result<()> {
        baton_store::check_finished_record(execution, steps)?;
        let mut executions = self.executions.lock().expect("executions lock");
        if executions.contains_key(&execution.id) {
            return Err(StoreError::Conflict("the execution already exists".into()));
        }
        executions.insert(execution.id, execution.clone());
        self.steps
            .lock()
            .expect("steps lock")
            .insert(execution.id, steps.to_vec());
        Ok(())
    }
}

impl MemoryExecutions {
    /// Takes an execution and its step runs out of memory, e.g. to store them elsewhere.
    pub fn take(&self, id: ExecutionId) -> Option<(Execution, Vec<StepRun>)> {
        let execution = self
            .executions
            .lock()
            .expect("executions lock")
            .remove(&id)?;
        let steps = self
            .steps
            .lock()
            .expect("steps lock")
            .remove(&id)
            .unwrap_or_default();
        Some((execution, steps))
    }
}
