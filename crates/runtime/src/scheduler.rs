//! The scheduler: starts the workflows whose schedule is due. Every `baton serve` runs one;
//! each scheduled time fires once however many run, because a firing is a delivery named
//! `schedule:TIME`, which the store accepts once per workflow.
//!
//! Times missed while no scheduler ran are the workflow's choice (`trigger.missed`): `skip`
//! (the default) starts from now; `run_once` fires the latest missed time once.
//!
//! Poll triggers (`{"type": "poll", "service": "gmail", "event": "new_email"}`) are looked at
//! here too, each every `every` in a task of its own. Servers take turns: a look is claimed in
//! the store, which moves the next one `every` on, so N servers still look once per interval.
//! What the connector finds new since the stored cursor starts one execution per item,
//! delivered under the item's id (so an item found twice, after a crash before the cursor was
//! saved, runs once), and then the cursor moves on. A look that fails keeps its cursor and
//! stores why, for the API to show.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use baton_core::WorkflowId;
use baton_core::dsl::{MissedRuns, Trigger};
use baton_core::execution::TriggerKind;
use baton_engine::schedule::Schedule;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use tokio::sync::watch;

use crate::{NewRun, Runtime};

pub const DELIVERY_PREFIX: &str = "schedule:";
/// The most due times one check fires for one workflow (a clock jump, a long pause).
const MAX_CATCH_UP: usize = 10;

pub struct Scheduler {
    runtime: Arc<Runtime>,
    tick: Duration,
    /// When each poll trigger looks next, and whether a look is under way.
    polls: std::sync::Mutex<HashMap<WorkflowId, Polling>>,
    /// How long a caller's delivery key is remembered.
    retention: Duration,
}

/// How often a poll trigger looks when its workflow does not say.
pub const DEFAULT_POLL_EVERY: Duration = Duration::from_secs(60);
/// How often a server asks the store whether a poll trigger's turn has come: a look asked for
/// now (`POST /api/v1/workflows/{id}/poll`) waits at most this long.
const POLL_CHECK: Duration = Duration::from_secs(2);
/// How long a caller's delivery key (`Idempotency-Key`) is remembered by default.
pub const DEFAULT_DELIVERY_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How often the keys past their retention are forgotten.
/// How often finished executions past their retention are looked for.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// Executions deleted in one statement, and the most statements one sweep makes.
const RETENTION_BATCH: u32 = 500;
const RETENTION_BATCHES: u32 = 200;
const PRUNE_EVERY: Duration = Duration::from_secs(600);

struct Polling {
    next: tokio::time::Instant,
    busy: Arc<tokio::sync::Mutex<()>>,
}

struct Tracked {
    version: i32,
    schedule: Schedule,
    /// Times up to here have been considered.
    checked_until: DateTime<Utc>,
}

/// How a time is named in its delivery id: fixed width, so that ids sort as times.
pub fn delivery_id(time: DateTime<Utc>) -> String {
    format!(
        "{DELIVERY_PREFIX}{}",
        time.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

impl Scheduler {
    pub fn new(runtime: Arc<Runtime>) -> Self {
        Self {
            runtime,
            tick: Duration::from_millis(500),
            polls: std::sync::Mutex::default(),
            retention: DEFAULT_DELIVERY_RETENTION,
        }
    }

    /// Remembers callers' delivery keys this long (`BATON_IDEMPOTENCY_RETENTION`).
    pub fn with_delivery_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Forgets the callers' delivery keys past their retention; any server may do it.
    async fn prune(&self) {
        let before = Utc::now()
            - chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::days(1));
        match self.runtime.store.prune_deliveries(before).await {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, "forgot delivery keys past their retention"),
            Err(error) => tracing::warn!(%error, "forgetting old delivery keys failed"),
        }
    }

    /// Deletes the finished executions past their organization's retention, a batch at a
    /// time with a pause between, so the queue's own writes go on meanwhile; how many went.
    pub async fn forget_old_executions(&self) -> u64 {
        let forgotten = in_batches("executions past their retention", || {
            self.runtime
                .store
                .prune_executions(Utc::now(), RETENTION_BATCH)
        })
        .await;
        let calls = in_batches("model calls past their retention", || {
            self.runtime
                .store
                .prune_ai_calls(Utc::now(), RETENTION_BATCH)
        })
        .await;
        if forgotten + calls > 0 {
            tracing::info!(
                forgotten,
                calls,
                "deleted finished executions and model calls past their organization's retention"
            );
        }
        forgotten
    }

    /// Deletes audit events over a year old (and a day, for clocks that disagree; the database
    /// refuses younger ones), in batches.
    pub async fn forget_old_audit_events(&self) -> u64 {
        let forgotten = in_batches("audit events over a year old", || {
            self.runtime.store.prune_audit_events(
                Utc::now() - chrono::Duration::days(AUDIT_RETENTION_DAYS + 1),
                RETENTION_BATCH,
            )
        })
        .await;
        if forgotten > 0 {
            tracing::info!(forgotten, "deleted audit events over a year old");
        }
        forgotten
    }

    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut tracked: HashMap<WorkflowId, Tracked> = HashMap::new();
        let mut pruned_at: Option<tokio::time::Instant> = None;
        let mut forgot_at: Option<tokio::time::Instant> = None;
        loop {
            if let Err(error) = self.check(&mut tracked, Utc::now()).await {
                tracing::warn!(%error, "checking schedules failed; trying again");
            }
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                self.prune().await;
                pruned_at = Some(tokio::time::Instant::now());
            }
            if forgot_at.is_none_or(|at| at.elapsed() >= RETENTION_EVERY) {
                self.forget_old_executions().await;
                self.forget_old_audit_events().await;
                forgot_at = Some(tokio::time::Instant::now());
            }
            tokio::select! {
                () = tokio::time::sleep(self.tick) => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { return; },
            }
        }
    }

    /// Fires what is due at `now`.
    async fn check(
        &self,
        tracked: &mut HashMap<WorkflowId, Tracked>,
        now: DateTime<Utc>,
    ) -> Result<(), crate::RuntimeError> {
        let active = self.runtime.store.active_workflows().await?;
        tracked.retain(|id, _| active.iter().any(|workflow| workflow.id == *id));
        if let Ok(mut polls) = self.polls.lock() {
            polls.retain(|id, _| active.iter().any(|workflow| workflow.id == *id));
        }
        for workflow in active {
            let compiled = match self
                .runtime
                .compiled(workflow.org_id, workflow.id, workflow.current_version)
                .await
            {
                Ok(compiled) => compiled,
                Err(error) => {
                    tracing::warn!(%error, workflow = %workflow.key, "a scheduled workflow cannot be read");
                    continue;
                }
            };
            if let Some(Trigger::Poll { every, .. }) = &compiled.header.trigger {
                self.poll_if_due(&workflow, compiled.clone(), every.map(|every| every.get()));
            }
            let Some(Trigger::Schedule {
                cron,
                timezone,
                missed,
            }) = &compiled.header.trigger
            else {
                tracked.remove(&workflow.id);
                continue;
            };
            let fresh = tracked
                .get(&workflow.id)
                .is_none_or(|entry| entry.version != workflow.current_version);
            if fresh {
                let Ok(schedule) = Schedule::parse(cron, timezone.as_deref()) else {
                    continue;
                };
                let last = self
                    .runtime
                    .store
                    .latest_delivery(workflow.id, DELIVERY_PREFIX)
                    .await?
                    .and_then(|id| {
                        DateTime::parse_from_rfc3339(&id[DELIVERY_PREFIX.len()..])
                            .ok()
                            .map(|time| time.with_timezone(&Utc))
                    });
                let checked_until = match (missed.unwrap_or(MissedRuns::Skip), last) {
                    // The latest missed time, if any, fires once below.
                    (MissedRuns::RunOnce, Some(last)) => {
                        match schedule
                            .upcoming(last, MAX_CATCH_UP * 100)
                            .into_iter()
                            .take_while(|time| *time <= now)
                            .last()
                        {
                            Some(latest_missed) => {
                                latest_missed - chrono::Duration::milliseconds(1)
                            }
                            None => now,
                        }
                    }
                    _ => tracked
                        .get(&workflow.id)
                        .map_or(now, |entry| entry.checked_until),
                };
                tracked.insert(
                    workflow.id,
                    Tracked {
                        version: workflow.current_version,
                        schedule,
                        checked_until,
                    },
                );
            }
            let Some(entry) = tracked.get_mut(&workflow.id) else {
                continue;
            };
            let due: Vec<DateTime<Utc>> = entry
                .schedule
                .upcoming(entry.checked_until, MAX_CATCH_UP)
                .into_iter()
                .take_while(|time| *time <= now)
                .collect();
            for time in due {
                let run = NewRun {
                    org_id: workflow.org_id,
                    workflow_id: workflow.id,
                    version: workflow.current_version,
                    trigger: TriggerKind::Schedule,
                    run_as: workflow.created_by,
                    input: json!({"scheduled_at": time.to_rfc3339_opts(SecondsFormat::Millis, true)}),
                };
                let (execution, fresh) = self.runtime.deliver(run, &delivery_id(time)).await?;
                if fresh {
                    tracing::info!(workflow = %workflow.key, execution = %execution.id, at = %time, "scheduled run started");
                }
                entry.checked_until = time;
            }
            if entry.checked_until < now {
                entry.checked_until = now;
            }
        }
        Ok(())
    }
}

impl Scheduler {
    /// Starts a look for the workflow's poll trigger when one is due and none is under way.
    fn poll_if_due(
        &self,
        workflow: &baton_core::workflow::Workflow,
        compiled: Arc<baton_engine::CompiledWorkflow>,
        every: Option<Duration>,
    ) {
        let now = tokio::time::Instant::now();
        let busy = {
            let Ok(mut polls) = self.polls.lock() else {
                return;
            };
            let polling = polls.entry(workflow.id).or_insert_with(|| Polling {
                next: now,
                busy: Arc::default(),
            });
            if polling.next > now {
                return;
            }
            polling.next = now + POLL_CHECK;
            polling.busy.clone()
        };
        let Ok(guard) = busy.try_lock_owned() else {
            return;
        };
        let every = every.unwrap_or(DEFAULT_POLL_EVERY);
        let runtime = self.runtime.clone();
        let workflow = workflow.clone();
        tokio::spawn(async move {
            let _one_look_at_a_time = guard;
            let now = Utc::now();
            // Most checks find the next look still ahead: a read says so without taking the
            // database's write lock, which the claim below needs.
            if let Ok(Some(state)) = runtime.store.poll_state(workflow.id).await
                && state.next_look_at.is_some_and(|due| due > now)
            {
                return;
            }
            let next = chrono::Duration::from_std(every)
                .ok()
                .and_then(|every| now.checked_add_signed(every))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            let state = match runtime.store.claim_poll(workflow.id, now, next).await {
                Ok(Some(state)) => state,
                // Not due yet, or another server's turn.
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(workflow = %workflow.key, %error, "a poll trigger's turn cannot be taken");
                    return;
                }
            };
            let looked = look(&runtime, &workflow, &compiled, state.cursor).await;
            if let Err(error) = &looked {
                tracing::warn!(workflow = %workflow.key, %error, "a poll trigger's look failed");
            }
            let outcome = looked.as_ref().map_err(String::as_str);
            if let Err(error) = runtime.store.finish_poll(workflow.id, outcome).await {
                tracing::warn!(workflow = %workflow.key, %error, "a poll trigger's look cannot be recorded");
            }
        });
    }
}

/// One look for what is new from `cursor`: an execution per item. Answers where the look
/// stopped.
async fn look(
    runtime: &Runtime,
    workflow: &baton_core::workflow::Workflow,
    compiled: &baton_engine::CompiledWorkflow,
    cursor: Option<serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let Some(Trigger::Poll {
        service,
        event,
        credential,
        inputs,
        ..
    }) = &compiled.header.trigger
    else {
        return Err("the workflow's trigger is not a poll trigger".into());
    };
    use baton_engine::connector::CredentialSource;
    let secret = runtime
        .credentials
        .credential(workflow.org_id, service, credential.as_deref())
        .await
        .map_err(|error| error.message)?;
    let Some(secret) = secret else {
        return Err(format!(
            "the organization has no {service} credential{}",
            credential
                .as_deref()
                .map(|name| format!(" named {name:?}"))
                .unwrap_or_default()
        ));
    };
    let polled = baton_engine::connector::with_refresh(
        runtime.credentials.as_ref(),
        workflow.org_id,
        service,
        credential.as_deref(),
        secret,
        |secret| {
            runtime.connectors.poll(baton_engine::connector::PollCall {
                org_id: workflow.org_id,
                service: service.clone(),
                event: event.clone(),
                inputs: inputs.clone().unwrap_or(serde_json::Value::Null),
                cursor: cursor.clone(),
                secret: Some(secret),
            })
        },
    )
    .await
    .map_err(|error| error.message)?;
    for (delivery, item) in polled.items {
        let run = NewRun {
            org_id: workflow.org_id,
            workflow_id: workflow.id,
            version: workflow.current_version,
            trigger: TriggerKind::Poll,
            run_as: workflow.created_by,
            input: item,
        };
        let (execution, fresh) = runtime
            .deliver(run, &delivery)
            .await
            .map_err(|error| error.to_string())?;
        if fresh {
            tracing::info!(workflow = %workflow.key, execution = %execution.id, %delivery, "a poll trigger started a run");
        }
    }
    Ok(polled.cursor)
}

/// How long the audit log is kept (the database's own trigger holds it to this too).
pub const AUDIT_RETENTION_DAYS: i64 = 365;

/// Runs `prune` until it deletes less than a batch (or `RETENTION_BATCHES` times), pausing
/// between batches so that the queue's writes go on; how many rows went.
async fn in_batches<F, Fut>(what: &str, prune: F) -> u64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = baton_store::Result<u64>>,
{
    let mut forgotten = 0;
    for _ in 0..RETENTION_BATCHES {
        match prune().await {
            Ok(deleted) => {
                forgotten += deleted;
                if deleted < u64::from(RETENTION_BATCH) {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "deleting {what} failed");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    forgotten
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_sort_as_their_times() {
        let early = DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let late = DateTime::parse_from_rfc3339("2026-12-01T10:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(delivery_id(early) < delivery_id(late));
        assert_eq!(delivery_id(early), "schedule:2026-12-01T09:00:00.000Z");
    }
}
