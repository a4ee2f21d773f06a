//! Executions and step checkpoints on SQLite through an in-thread connection. A statement here
//! runs on the calling thread (tens of microseconds) instead of travelling to a driver thread
//! and back, which on small machines costs more than the statement itself. Values are written
//! exactly as the sqlx side writes them (UUIDs as 16-byte BLOBs, times as RFC 3339 text, JSON
//! as text), so both sides read each other's rows.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use baton_core::execution::{
    Execution, ExecutionFilter, ExecutionUpdate, NewExecution, StepRun, TokenUsage,
};
use baton_core::hook::Hook;
use baton_core::job::{Fence, Job, NewJob};
use baton_core::workflow::Workflow;
use baton_core::{
    ExecutionId, ExecutionState, JobId, OrgId, Page, PageRequest, Usd, UserId, WorkflowId,
};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde_json::Value;
use uuid::Uuid;

use crate::sql::{fetch_limit, id_cursor, now, parse_id_cursor, stored_time};
use crate::{ExecutionStore, Result, StoreError};

pub(super) struct Executions {
    connection: Mutex<Option<Connection>>,
}

impl Executions {
    pub(super) fn open(path: &Path) -> Result<Self> {
        let connection = Connection::open(path).map_err(|error| {
            StoreError::Connect(format!("cannot open {}: {error}", path.display()))
        })?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_handler(Some(wait_while_busy))?;
        Ok(Self {
            connection: Mutex::new(Some(connection)),
        })
    }

    pub(super) fn close(&self) {
        if let Ok(mut connection) = self.connection.lock() {
            connection.take();
        }
    }

    fn with<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = self
            .connection
            .lock()
            .map_err(|_| StoreError::Connect("the connection lock is poisoned".into()))?;
        let connection = guard
            .as_mut()
            .ok_or_else(|| StoreError::Connect("the store is closed".into()))?;
        work(connection)
    }

    /// Runs `work` in one transaction that takes the write lock when it begins. A deferred
    /// transaction that reads before it writes fails at once (SQLITE_BUSY, without waiting)
    /// when another connection committed in between; an immediate one waits for its turn.
    fn write<T>(&self, work: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.with(|connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let done = work(&transaction)?;
            transaction.commit()?;
            Ok(done)
        })
    }
}

/// Waits for another connection's write: a few yields, then 50 µs sleeps, for about ten seconds.
fn wait_while_busy(attempts: i32) -> bool {
    match attempts {
        0..100 => std::thread::yield_now(),
        100..200_000 => std::thread::sleep(Duration::from_micros(50)),
        _ => return false,
    }
    true
}

fn time(value: DateTime<Utc>) -> String {
    stored_time(value).to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn id(uuid: Uuid) -> [u8; 16] {
    *uuid.as_bytes()
}

fn json(value: &Value) -> String {
    value.to_string()
}

fn read_uuid(row: &Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    let bytes: Vec<u8> = row.get(index)?;
    Uuid::from_slice(&bytes).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Blob,
            Box::new(error),
        )
    })
}

fn read_optional_uuid(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Uuid>> {
    match row.get::<_, Option<Vec<u8>>>(index)? {
        Some(bytes) => Uuid::from_slice(&bytes).map(Some).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Blob,
                Box::new(error),
            )
        }),
        None => Ok(None),
    }
}

fn read_time(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get::<_, Option<String>>(index)? {
        Some(text) => DateTime::parse_from_rfc3339(&text)
            .map(|time| Some(time.with_timezone(&Utc)))
            .map_err(|error| {
                rusqlite::Error::FromSqlConversionFailure(
                    index,
                    rusqlite::types::Type::Text,
                    Box::new(error),
                )
            }),
        None => Ok(None),
    }
}

fn read_json(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Value>> {
    match row.get::<_, Option<String>>(index)? {
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        }),
        None => Ok(None),
    }
}

fn corrupt(what: &str, text: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {text:?}"))
}

/// A row of `EXECUTION_COLUMNS`, with the texts to parse.
fn execution_row(row: &Row<'_>) -> rusqlite::Result<(Execution, String, String)> {
    let state: String = row.get(4)?;
    let trigger: String = row.get(5)?;
    let execution = Execution {
        id: ExecutionId::from_uuid(read_uuid(row, 0)?),
        org_id: OrgId::from_uuid(read_uuid(row, 1)?),
        workflow_id: WorkflowId::from_uuid(read_uuid(row, 2)?),
        workflow_version: row.get(3)?,
        state: ExecutionState::Pending,
        trigger: baton_core::execution::TriggerKind::Manual,
        run_as: read_optional_uuid(row, 6)?.map(UserId::from_uuid),
        input: read_json(row, 7)?.unwrap_or(Value::Null),
        output: read_json(row, 8)?,
        error: read_json(row, 9)?,
        usage: TokenUsage {
            input_tokens: row.get(10)?,
            output_tokens: row.get(11)?,
        },
        cost: Usd::from_micros(row.get(12)?),
        created_at: read_time(row, 13)?.unwrap_or_default(),
        started_at: read_time(row, 14)?,
        finished_at: read_time(row, 15)?,
    };
    Ok((execution, state, trigger))
}

fn finish_execution(
    (mut execution, state, trigger): (Execution, String, String),
) -> Result<Execution> {
    execution.state = state
        .parse()
        .map_err(|_| corrupt("execution state", &state))?;
    execution.trigger = trigger
        .parse()
        .map_err(|_| corrupt("trigger kind", &trigger))?;
    Ok(execution)
}

fn step_run_row(row: &Row<'_>) -> rusqlite::Result<(StepRun, String)> {
    let state: String = row.get(2)?;
    let run = StepRun {
        execution_id: ExecutionId::from_uuid(read_uuid(row, 0)?),
        step_key: row.get(1)?,
        state: baton_core::StepState::Pending,
        input: read_json(row, 3)?,
        output: read_json(row, 4)?,
        error: read_json(row, 5)?,
        attempts: row.get(6)?,
        idempotency_key: row.get(7)?,
        usage: TokenUsage {
            input_tokens: row.get(8)?,
            output_tokens: row.get(9)?,
        },
        cost: Usd::from_micros(row.get(10)?),
        started_at: read_time(row, 11)?,
        finished_at: read_time(row, 12)?,
    };
    Ok((run, state))
}

fn job_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: JobId::from_uuid(read_uuid(row, 0)?),
        org_id: OrgId::from_uuid(read_uuid(row, 1)?),
        execution_id: ExecutionId::from_uuid(read_uuid(row, 2)?),
        kind: row.get(3)?,
        payload: read_json(row, 4)?.unwrap_or(Value::Null),
        run_at: read_time(row, 5)?.unwrap_or_default(),
        attempts: row.get(6)?,
        lease_owner: row.get(7)?,
        lease_until: read_time(row, 8)?,
        created_at: read_time(row, 9)?.unwrap_or_default(),
        workflow_id: read_optional_uuid(row, 10)?.map(WorkflowId::from_uuid),
        workflow_limit: row
            .get::<_, Option<i64>>(11)?
            .and_then(|limit| u32::try_from(limit).ok()),
        taken_over: row.get(12)?,
    })
}

/// A constraint violation of the given extended code.
fn violates(error: &rusqlite::Error, code: std::ffi::c_int) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(failure, _) if failure.extended_code == code)
}

const FOREIGN_KEY: std::ffi::c_int = 787;
const PRIMARY_KEY: std::ffi::c_int = 1555;
const UNIQUE: std::ffi::c_int = 2067;

fn insert_execution(connection: &Connection, execution: &NewExecution) -> Result<Execution> {
    let mut statement = connection.prepare_cached(concat!(
        "INSERT INTO executions (id, org_id, workflow_id, workflow_version, state, trigger, run_as, input, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING ", crate::sql::execution_columns!(), ""
    ))?;
    let row = statement
        .query_row(
            params![
                id(execution.id.as_uuid()),
                id(execution.org_id.as_uuid()),
                id(execution.workflow_id.as_uuid()),
                execution.workflow_version,
                ExecutionState::Pending.as_str(),
                execution.trigger.as_str(),
                execution.run_as.map(|user| id(user.as_uuid())),
                json(&execution.input),
                time(now()),
            ],
            execution_row,
        )
        .map_err(|error| {
            if violates(&error, FOREIGN_KEY) {
                StoreError::NotFound("workflow version")
            } else if violates(&error, PRIMARY_KEY) || violates(&error, UNIQUE) {
                StoreError::Conflict("the execution already exists".into())
            } else {
                StoreError::Sqlite(error)
            }
        })?;
    finish_execution(row)
}

fn insert_job(connection: &Connection, job: &NewJob) -> Result<Job> {
    let mut statement = connection.prepare_cached(concat!(
        "INSERT INTO jobs (id, org_id, execution_id, kind, payload, run_at, created_at, \
         workflow_id, workflow_limit) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING ",
        crate::sql::job_columns!(),
        ""
    ))?;
    statement
        .query_row(
            params![
                id(JobId::new().as_uuid()),
                id(job.org_id.as_uuid()),
                id(job.execution_id.as_uuid()),
                job.kind,
                json(&job.payload),
                time(job.run_at),
                time(now()),
                id(job.workflow_id.as_uuid()),
                job.workflow_limit.map(i64::from),
            ],
            job_row,
        )
        .map_err(|error| {
            if violates(&error, FOREIGN_KEY) {
                StoreError::NotFound("execution")
            } else {
                StoreError::Sqlite(error)
            }
        })
}

impl super::SqliteStore {
    /// `HookStore::hook_by_token`, the first read of every webhook delivery.
    pub(super) fn hook_by_token_in_thread(&self, token: &str) -> Result<Option<(Hook, Workflow)>> {
        self.executions.with(|connection| {
            let mut statement = connection.prepare_cached(crate::sql::HOOK_TARGET_SQL)?;
            Ok(statement
                .query_row(params![token], |row| {
                    let workflow = Workflow {
                        id: WorkflowId::from_uuid(read_uuid(row, 0)?),
                        org_id: OrgId::from_uuid(read_uuid(row, 1)?),
                        key: row.get(2)?,
                        name: row.get(3)?,
                        current_version: row.get(4)?,
                        active: row.get(5)?,
                        created_by: read_optional_uuid(row, 6)?.map(UserId::from_uuid),
                        created_at: read_time(row, 7)?.unwrap_or_default(),
                        updated_at: read_time(row, 8)?.unwrap_or_default(),
                    };
                    let hook = Hook {
                        workflow_id: workflow.id,
                        org_id: workflow.org_id,
                        token: row.get(9)?,
                        secret: row.get(10)?,
                        created_at: read_time(row, 11)?.unwrap_or_default(),
                    };
                    Ok((hook, workflow))
                })
                .optional()?)
        })
    }
}

#[async_trait]
impl ExecutionStore for super::SqliteStore {
    async fn create_execution(&self, execution: NewExecution) -> Result<Execution> {
        self.executions
            .with(|connection| insert_execution(connection, &execution))
    }

    async fn create_execution_with_job(
        &self,
        execution: NewExecution,
        job: NewJob,
    ) -> Result<(Execution, Job)> {
        if job.execution_id != execution.id {
            return Err(StoreError::Conflict(
                "the job names another execution than the one created with it".into(),
            ));
        }
        self.executions.write(|transaction| {
            let created = insert_execution(transaction, &execution)?;
            let job = insert_job(transaction, &job)?;
            Ok((created, job))
        })
    }

    async fn create_delivered_execution(
        &self,
        execution: NewExecution,
        job: NewJob,
        delivery: crate::Delivery<'_>,
    ) -> Result<(Execution, bool)> {
        let first = self.executions.write(|transaction| {
            let seen: Option<(Vec<u8>, Option<String>)> = transaction
                .query_row(
                    "SELECT execution_id, fingerprint FROM deliveries WHERE workflow_id = ?1 AND delivery_id = ?2",
                    params![id(execution.workflow_id.as_uuid()), delivery.id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            if let Some((seen, fingerprint)) = seen {
                let uuid = Uuid::from_slice(&seen)
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                let first = ExecutionId::from_uuid(uuid);
                if let (Some(seen), Some(now)) = (fingerprint.as_deref(), delivery.fingerprint)
                    && seen != now
                {
                    return Err(StoreError::DeliveryMismatch(first));
                }
                return Ok(Some(first));
            }
            let created = insert_execution(transaction, &execution)?;
            insert_job(transaction, &job)?;
            transaction.execute(
                "INSERT INTO deliveries (workflow_id, delivery_id, execution_id, created_at, fingerprint) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    id(execution.workflow_id.as_uuid()),
                    delivery.id,
                    id(created.id.as_uuid()),
                    time(now()),
                    delivery.fingerprint
                ],
            )?;
            Ok(None)
        })?;
        match first {
            Some(first) => {
                let found = self
                    .execution(execution.org_id, first)
                    .await?
                    .ok_or(StoreError::NotFound("execution"))?;
                Ok((found, false))
            }
            None => {
                let created = self
                    .execution(execution.org_id, execution.id)
                    .await?
                    .ok_or(StoreError::NotFound("execution"))?;
                Ok((created, true))
            }
        }
    }

    async fn prune_deliveries(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        self.executions.write(|transaction| {
            let pruned = transaction.execute(
                "DELETE FROM deliveries WHERE fingerprint IS NOT NULL AND created_at < ?1",
                params![time(before)],
            )?;
            Ok(pruned as u64)
        })
    }

    async fn execution(&self, org: OrgId, execution: ExecutionId) -> Result<Option<Execution>> {
        self.executions.with(|connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ",
                crate::sql::execution_columns!(),
                " FROM executions WHERE id = ?1 AND org_id = ?2"
            ))?;
            let row = statement
                .query_row(
                    params![id(execution.as_uuid()), id(org.as_uuid())],
                    execution_row,
                )
                .optional()?;
            row.map(finish_execution).transpose()
        })
    }

    async fn transition(&self, update: ExecutionUpdate) -> Result<Execution> {
        update.from.transition(update.to)?;
        let at = time(update.at);
        let started_at = (update.to == ExecutionState::Running).then(|| at.clone());
        let finished = matches!(
            update.to,
            ExecutionState::Completed | ExecutionState::Failed | ExecutionState::Cancelled
        );
        self.executions.write(|connection| {
            if let Some(fence) = update.fence {
                check_fence(connection, fence)?;
            }
            let mut statement = connection.prepare_cached(concat!(
                "UPDATE executions SET state = ?3, output = ?4, error = ?5, \
                 started_at = COALESCE(started_at, ?6), finished_at = ?7, \
                 input_tokens = (SELECT COALESCE(SUM(input_tokens), 0) FROM step_runs WHERE execution_id = ?1), \
                 output_tokens = (SELECT COALESCE(SUM(output_tokens), 0) FROM step_runs WHERE execution_id = ?1), \
                 cost_micros = (SELECT COALESCE(SUM(cost_micros), 0) FROM step_runs WHERE execution_id = ?1) \
                 WHERE id = ?1 AND state = ?2 RETURNING ", crate::sql::execution_columns!(), ""
            ))?;
            let row = statement
                .query_row(
                    params![
                        id(update.id.as_uuid()),
                        update.from.as_str(),
                        update.to.as_str(),
                        update.output.as_ref().map(json),
                        update.error.as_ref().map(json),
                        started_at,
                        finished.then_some(&at),
                    ],
                    execution_row,
                )
                .optional()?;
            match row {
                Some(row) => finish_execution(row),
                None => Err(StoreError::Conflict(format!(
                    "execution {} is not {} (it changed meanwhile, or does not exist)",
                    update.id, update.from
                ))),
            }
        })
    }

    async fn list_executions(
        &self,
        org: OrgId,
        filter: &ExecutionFilter,
        page: PageRequest,
    ) -> Result<Page<Execution>> {
        let after = parse_id_cursor(page.after.as_ref())?;
        self.executions.with(|connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ", crate::sql::execution_columns!(), " FROM executions \
                 WHERE org_id = ?1 AND (?2 IS NULL OR workflow_id = ?2) AND (?3 IS NULL OR state = ?3) \
                 AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5"
            ))?;
            let rows = statement.query_map(
                params![
                    id(org.as_uuid()),
                    filter.workflow_id.map(|workflow| id(workflow.as_uuid())),
                    filter.state.map(|state| state.as_str()),
                    after.map(id),
                    fetch_limit(&page),
                ],
                execution_row,
            )?;
            let executions = rows
                .map(|row| row.map_err(StoreError::from).and_then(finish_execution))
                .collect::<Result<Vec<Execution>>>()?;
            Ok(Page::from_rows(executions, page.limit, |execution| id_cursor(execution.id.as_uuid())))
        })
    }

    async fn save_step_run(&self, run: &StepRun, fence: Option<Fence>) -> Result<()> {
        match fence {
            None => self
                .executions
                .with(|connection| upsert_step_run(connection, run)),
            Some(fence) => self.executions.write(|transaction| {
                check_fence(transaction, fence)?;
                upsert_step_run(transaction, run)
            }),
        }
    }

    async fn step_runs(&self, execution: ExecutionId) -> Result<Vec<StepRun>> {
        self.executions.with(|connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ",
                crate::sql::step_run_columns!(),
                " FROM step_runs WHERE execution_id = ?1 ORDER BY id"
            ))?;
            let rows = statement.query_map(params![id(execution.as_uuid())], step_run_row)?;
            rows.map(|row| {
                let (mut run, state) = row?;
                run.state = state.parse().map_err(|_| corrupt("step state", &state))?;
                Ok(run)
            })
            .collect()
        })
    }

    async fn resume_failed(
        &self,
        execution: ExecutionId,
        version: i32,
        forget: &[String],
    ) -> Result<Execution> {
        self.executions.write(|transaction| {
            for key in forget {
                transaction.execute(
                    "DELETE FROM step_runs WHERE execution_id = ?1 AND (step_key = ?2 OR substr(step_key, 1, length(?2) + 1) = ?2 || '[')",
                    params![id(execution.as_uuid()), key],
                )?;
            }
            let mut statement = transaction.prepare_cached(concat!(
                "UPDATE executions SET state = 'PENDING', workflow_version = ?2, output = NULL, error = NULL, finished_at = NULL, \
                 input_tokens = (SELECT COALESCE(SUM(input_tokens), 0) FROM step_runs WHERE execution_id = ?1), \
                 output_tokens = (SELECT COALESCE(SUM(output_tokens), 0) FROM step_runs WHERE execution_id = ?1), \
                 cost_micros = (SELECT COALESCE(SUM(cost_micros), 0) FROM step_runs WHERE execution_id = ?1) \
                 WHERE id = ?1 AND state = 'FAILED' RETURNING ", crate::sql::execution_columns!(), ""
            ))?;
            let row = statement
                .query_row(params![id(execution.as_uuid()), version], execution_row)
                .optional()?;
            match row {
                Some(row) => finish_execution(row),
                None => Err(StoreError::Conflict(format!(
                    "execution {execution} is not FAILED (it changed meanwhile, or does not exist)"
                ))),
            }
        })
    }

    async fn record_finished_execution(
        &self,
        execution: &Execution,
        steps: &[StepRun],
    ) -> Result<()> {
        crate::check_finished_record(execution, steps)?;
        self.executions.write(|transaction| {
            insert_finished(transaction, execution)?;
            for step in steps {
                upsert_step_run(transaction, step)?;
            }
            Ok(())
        })
    }
}

fn insert_finished(connection: &Connection, execution: &Execution) -> Result<()> {
    let mut statement = connection.prepare_cached(concat!(
        "INSERT INTO executions (",
        crate::sql::execution_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    ))?;
    statement
        .execute(params![
            id(execution.id.as_uuid()),
            id(execution.org_id.as_uuid()),
            id(execution.workflow_id.as_uuid()),
            execution.workflow_version,
            execution.state.as_str(),
            execution.trigger.as_str(),
            execution.run_as.map(|user| id(user.as_uuid())),
            json(&execution.input),
            execution.output.as_ref().map(json),
            execution.error.as_ref().map(json),
            execution.usage.input_tokens,
            execution.usage.output_tokens,
            execution.cost.micros(),
            time(execution.created_at),
            execution.started_at.map(time),
            execution.finished_at.map(time),
        ])
        .map_err(|error| {
            if violates(&error, FOREIGN_KEY) {
                StoreError::NotFound("workflow version")
            } else if violates(&error, PRIMARY_KEY) || violates(&error, UNIQUE) {
                StoreError::Conflict("the execution already exists".into())
            } else {
                StoreError::Sqlite(error)
            }
        })?;
    Ok(())
}

/// [`StoreError::LeaseLost`] unless the fence's lease is the job's latest claim. Called inside
/// the write's transaction, which holds SQLite's write lock: no claim can come in between.
fn check_fence(connection: &Connection, fence: Fence) -> Result<()> {
    let claims: Option<i32> = connection
        .prepare_cached("SELECT attempts FROM jobs WHERE id = ?1")?
        .query_row(params![id(fence.job.as_uuid())], |row| row.get(0))
        .optional()?;
    match claims {
        Some(claims) if claims == fence.generation => Ok(()),
        _ => Err(StoreError::LeaseLost(fence.job)),
    }
}

fn upsert_step_run(connection: &Connection, run: &StepRun) -> Result<()> {
    let mut statement = connection.prepare_cached(
                "INSERT INTO step_runs (id, execution_id, step_key, state, input, output, error, \
                 attempts, idempotency_key, input_tokens, output_tokens, cost_micros, started_at, finished_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
                 ON CONFLICT (execution_id, step_key) DO UPDATE SET state = excluded.state, \
                 input = excluded.input, output = excluded.output, error = excluded.error, \
                 attempts = excluded.attempts, idempotency_key = excluded.idempotency_key, \
                 input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, \
                 cost_micros = excluded.cost_micros, started_at = excluded.started_at, \
                 finished_at = excluded.finished_at",
            )?;
    statement
        .execute(params![
            id(Uuid::now_v7()),
            id(run.execution_id.as_uuid()),
            run.step_key,
            run.state.as_str(),
            run.input.as_ref().map(json),
            run.output.as_ref().map(json),
            run.error.as_ref().map(json),
            run.attempts,
            run.idempotency_key,
            run.usage.input_tokens,
            run.usage.output_tokens,
            run.cost.micros(),
            run.started_at.map(time),
            run.finished_at.map(time),
        ])
        .map_err(|error| {
            if violates(&error, FOREIGN_KEY) {
                StoreError::NotFound("execution")
            } else {
                StoreError::Sqlite(error)
            }
        })?;
    Ok(())
}
