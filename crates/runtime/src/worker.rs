//! A worker: claims due jobs, runs their executions, and keeps its lease while it does.
//!
//! A lease is renewed every third of its length. A worker that can no longer renew (it was
//! paused, or another took the job after the lease ran out), or that is stopping, drops the run
//! where it is: the execution stays RUNNING in the store, and whoever claims the job next
//! resumes it from its checkpoints, the step that was in flight running again with the same
//! idempotency key. (Cancelling the run instead would mark the execution CANCELLED.)

use std::sync::Arc;
use std::time::Duration;

use baton_core::ExecutionState;
use baton_core::job::{Claim, Job};
use baton_engine::{Cancel, Outcome, RunOptions};
use chrono::Utc;
use serde_json::json;
use tokio::sync::{Semaphore, watch};

use crate::Runtime;

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Unique to this worker process, e.g. `host-pid-random`.
    pub name: String,
    /// Executions run at once.
    pub concurrency: usize,
    pub lease: Duration,
    /// How often to look for due jobs when nothing wakes the worker (timers, other processes).
    pub poll: Duration,
    /// Jobs one organization may have running at once, across all workers.
    pub per_organization: u32,
    /// How long, once told to stop, the steps in flight get to finish before their jobs are
    /// handed back as they are.
    pub drain: Duration,
    /// How far this process's clock is off (zero on a healthy machine; tests set it to play a
    /// machine whose clock is wrong). Leases are judged by the database's clock regardless.
    pub clock_skew: chrono::Duration,
}

impl WorkerSettings {
    pub fn named(prefix: &str) -> Self {
        Self {
            name: format!(
                "{prefix}-{}-{}",
                std::process::id(),
                &uuid::Uuid::now_v7().simple().to_string()[20..]
            ),
            concurrency: 16,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            per_organization: baton_core::job::DEFAULT_PER_ORGANIZATION,
            drain: Duration::from_secs(30),
            clock_skew: chrono::Duration::zero(),
        }
    }
}

/// The database's time as this worker reckons it: its own clock corrected by the offset it
/// last measured against the database, so that leases mean the same to every worker however
/// wrong their clocks are.
#[derive(Clone)]
pub(crate) struct DatabaseClock {
    offset: Arc<std::sync::Mutex<(chrono::Duration, Option<tokio::time::Instant>)>>,
    skew: chrono::Duration,
}

/// How often the offset to the database's clock is measured again.
const CLOCK_CHECK: Duration = Duration::from_secs(60);

impl DatabaseClock {
    pub fn new(skew: chrono::Duration) -> Self {
        Self {
            offset: Arc::new(std::sync::Mutex::new((chrono::Duration::zero(), None))),
            skew,
        }
    }

    fn local(&self) -> chrono::DateTime<Utc> {
        Utc::now() + self.skew
    }

    /// Measures the offset again when it is due; a failed measurement keeps the last one.
    async fn refresh(&self, store: &dyn baton_store::Store) {
        let due = self
            .offset
            .lock()
            .map(|offset| offset.1.is_none_or(|at| at.elapsed() >= CLOCK_CHECK))
            .unwrap_or(false);
        if !due {
            return;
        }
        let asked = self.local();
        if let Ok(database) = store.clock().await {
            let answered = self.local();
            // The database read its clock about halfway through the round trip.
            let local = asked + (answered - asked) / 2;
            if let Ok(mut offset) = self.offset.lock() {
                *offset = (database - local, Some(tokio::time::Instant::now()));
            }
        }
    }

    pub fn now(&self) -> chrono::DateTime<Utc> {
        let offset = self
            .offset
            .lock()
            .map(|offset| offset.0)
            .unwrap_or_else(|_| chrono::Duration::zero());
        self.local() + offset
    }
}

/// A job this worker holds: renewed by the run's keeper, and asked before every call.
struct HeldLease {
    store: Arc<dyn baton_store::Store>,
    job: baton_core::JobId,
    /// The job's claim count when this worker claimed it: the run's writes are fenced by it.
    generation: i32,
    worker: String,
    lease: chrono::Duration,
    clock: DatabaseClock,
    /// When the store last said the lease was ours.
    confirmed: std::sync::Mutex<tokio::time::Instant>,
    lost: std::sync::atomic::AtomicBool,
}

impl HeldLease {
    /// Extends the lease; false (and remembered) when another worker holds the job now.
    async fn renew(&self) -> Result<bool, baton_store::StoreError> {
        let ours = self
            .store
            .renew(self.job, &self.worker, self.clock.now() + self.lease)
            .await?;
        if ours {
            if let Ok(mut confirmed) = self.confirmed.lock() {
                *confirmed = tokio::time::Instant::now();
            }
        } else {
            self.lost.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(ours)
    }
}

#[async_trait::async_trait]
impl baton_engine::LeaseCheck for HeldLease {
    /// Confirmed within half a lease: ours without asking. Longer ago (the process was paused,
    /// or the keeper is late): the store is asked, and the lease extended, before the call.
    async fn held(&self) -> bool {
        if self.lost.load(std::sync::atomic::Ordering::SeqCst) {
            return false;
        }
        let fresh = self.confirmed.lock().is_ok_and(|confirmed| {
            chrono::Duration::from_std(confirmed.elapsed()).is_ok_and(|age| age < self.lease / 2)
        });
        if fresh {
            return true;
        }
        // A store that does not answer cannot say another holds the job; the keeper decides.
        self.renew().await.unwrap_or(true)
    }

    fn fence(&self) -> Option<baton_core::job::Fence> {
        Some(baton_core::job::Fence {
            job: self.job,
            generation: self.generation,
        })
    }
}

/// How often a worker that lost its database listener tries to listen again.
const RELISTEN_EVERY: Duration = Duration::from_secs(5);

/// How often a running job looks for a person's cancel.
const CANCEL_CHECK: Duration = Duration::from_secs(1);

pub struct Worker {
    runtime: Arc<Runtime>,
    settings: WorkerSettings,
}

impl Worker {
    pub fn new(runtime: Arc<Runtime>, settings: WorkerSettings) -> Self {
        Self { runtime, settings }
    }

    /// Runs until `stop` turns true, then drains: it claims nothing more, the steps in flight
    /// finish and are checkpointed and their executions handed back to be resumed at once; what
    /// has not finished within [`WorkerSettings::drain`] is handed back as it is.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut running = tokio::task::JoinSet::new();
        let (stopping, stopped) = Cancel::new();
        let (pausing, paused) = Cancel::new();
        let clock = DatabaseClock::new(self.settings.clock_skew);
        tracing::info!(worker = %self.settings.name, "worker started");
        // Other processes' new jobs arrive as signals (PostgreSQL LISTEN); this process's own
        // through the runtime; timers and anything missed through the poll.
        let mut signal = match self.runtime.store.job_signal().await {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for new jobs; polling instead");
                None
            }
        };
        let mut listen_tried = tokio::time::Instant::now();
        loop {
            if *stop.borrow() {
                break;
            }
            // Listening stopped (the database restarted): try again now and then, so that the
            // worker does not poll for good.
            if signal.is_none() && listen_tried.elapsed() >= RELISTEN_EVERY {
                listen_tried = tokio::time::Instant::now();
                if let Ok(Some(listening)) = self.runtime.store.job_signal().await {
                    tracing::info!("listening for new jobs again");
                    signal = Some(listening);
                }
            }
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let woken = self.runtime.work.notified();
            clock.refresh(self.runtime.store.as_ref()).await;
            let claim = Claim {
                worker: self.settings.name.clone(),
                now: clock.now(),
                lease: chrono::Duration::from_std(self.settings.lease)
                    .unwrap_or(chrono::Duration::seconds(30)),
                per_organization: self.settings.per_organization,
            };
            match self.runtime.store.claim(&claim).await {
                Ok(Some(job)) => {
                    if job.taken_over {
                        // Its worker died or stalled past its lease: this one resumes it.
                        metrics::counter!("baton_lease_takeovers_total").increment(1);
                        tracing::info!(job = %job.id, execution = %job.execution_id, "took over a job whose lease ran out");
                    }
                    let runtime = self.runtime.clone();
                    let settings = self.settings.clone();
                    let stopped = stopped.clone();
                    let paused = paused.clone();
                    let clock = clock.clone();
                    running.spawn(async move {
                        let stop = Stop {
                            stopped,
                            paused,
                            clock,
                        };
                        process(&runtime, &settings, job, stop).await;
                        drop(slot);
                    });
                    continue;
                }
                Ok(None) => drop(slot),
                Err(error) => {
                    drop(slot);
                    tracing::warn!(%error, "claiming a job failed; trying again");
                }
            }
            while running.try_join_next().is_some() {}
            // Without a listener, wake in time to listen again.
            let nap = if signal.is_some() {
                self.settings.poll
            } else {
                self.settings.poll.min(RELISTEN_EVERY)
            };
            let heard = async {
                match signal.as_mut() {
                    Some(signal) => signal.wait().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = woken => {}
                result = heard => {
                    if let Err(error) = result {
                        tracing::warn!(%error, "listening for new jobs failed; polling instead");
                        signal = None;
                    }
                }
                () = tokio::time::sleep(nap) => {}
                changed = stop.changed() => {
                    // A dropped sender means stop too.
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        pausing.cancel();
        let drained = tokio::time::timeout(self.settings.drain, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(worker = %self.settings.name, drain = ?self.settings.drain, "steps still in flight at the end of the drain are handed back as they are");
        }
        stopping.cancel();
        while running.join_next().await.is_some() {}
        tracing::info!(worker = %self.settings.name, "worker stopped");
    }
}

/// Runs one job's execution and settles the job: done, or back in the queue for later.
/// How a run is told its worker is stopping: `paused` first (start no more steps), then
/// `stopped` (hand the job back now).
pub(crate) struct Stop {
    pub stopped: Cancel,
    pub paused: Cancel,
    /// The database's time, for the lease's renewals.
    pub clock: DatabaseClock,
}

impl Stop {
    pub fn never() -> Self {
        Self {
            stopped: Cancel::never(),
            paused: Cancel::never(),
            clock: DatabaseClock::new(chrono::Duration::zero()),
        }
    }
}

pub(crate) async fn process(runtime: &Runtime, settings: &WorkerSettings, job: Job, stop: Stop) {
    let Stop {
        stopped: stopping,
        paused,
        clock,
    } = stop;
    let store = &runtime.store;
    let execution = match store.execution(job.org_id, job.execution_id).await {
        Ok(Some(execution)) => execution,
        Ok(None) => {
            let _ = store.complete(job.id, &settings.name).await;
            return;
        }
        Err(error) => {
            tracing::warn!(%error, job = %job.id, "reading the execution failed");
            return release_later(runtime, settings, &job).await;
        }
    };
    if execution.state.is_finished() {
        let _ = store.complete(job.id, &settings.name).await;
        return;
    }
    let workflow = match runtime
        .compiled(
            execution.org_id,
            execution.workflow_id,
            execution.workflow_version,
        )
        .await
    {
        Ok(workflow) => workflow,
        Err(error) => {
            tracing::error!(%error, execution = %execution.id, "the execution's workflow cannot run");
            fail(runtime, &execution, &error.to_string()).await;
            let _ = store.complete(job.id, &settings.name).await;
            return;
        }
    };
    let lease = chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::seconds(30));
    // A person's cancel arrives through the store (the API may run in another process); the
    // keeper looks every second and cancels the run, which then stops at its next safe point.
    let (cancel_run, cancel) = Cancel::new();
    let held = Arc::new(HeldLease {
        store: store.clone(),
        job: job.id,
        generation: job.attempts,
        worker: settings.name.clone(),
        lease,
        clock: clock.clone(),
        confirmed: std::sync::Mutex::new(tokio::time::Instant::now()),
        lost: std::sync::atomic::AtomicBool::new(false),
    });
    let keeper = {
        let store = store.clone();
        let every = settings.lease / 3;
        let job_id = job.id;
        let held = held.clone();
        async move {
            let mut renewed = tokio::time::Instant::now();
            let mut cancelled = false;
            loop {
                tokio::select! {
                    () = tokio::time::sleep(CANCEL_CHECK.min(every)) => {}
                    () = stopping.cancelled() => return true,
                }
                if !cancelled && store.cancel_requested(job_id).await.unwrap_or(false) {
                    cancelled = true;
                    cancel_run.cancel();
                }
                if renewed.elapsed() >= every {
                    renewed = tokio::time::Instant::now();
                    match held.renew().await {
                        Ok(true) => {}
                        Ok(false) => return false,
                        Err(error) => tracing::warn!(%error, "renewing a lease failed"),
                    }
                }
            }
        }
    };
    let options = RunOptions {
        user: if runtime.reads_user(execution.workflow_id, execution.workflow_version) {
            running_user(runtime, &execution).await
        } else {
            json!({})
        },
        observer: Arc::new(Progress(runtime.changed.clone())),
        cancel,
        pause: paused,
        lease: Some(held),
        ..RunOptions::default()
    };
    let run = runtime.engine.run(&execution, &workflow, &options);
    let result = tokio::select! {
        result = run => result,
        still_ours = keeper => {
            if still_ours {
                // Stopping: hand the job back at once for another worker.
                let _ = store.release(job.id, &settings.name, clock.now()).await;
            } else {
                tracing::warn!(execution = %execution.id, "the lease was lost; another worker takes over");
            }
            runtime.changed.notify_waiters();
            return;
        }
    };
    runtime.changed.notify_waiters();
    match result {
        Ok((
            _,
            Outcome::Waiting {
                resume_at: Some(at),
                ..
            },
        )) => {
            let _ = store.release(job.id, &settings.name, at).await;
        }
        Ok(_) => {
            let _ = store.complete(job.id, &settings.name).await;
            if job.workflow_limit.is_some() {
                // The workflow's next job, held back by its limit, may go now.
                runtime.work.notify_waiters();
            }
        }
        Err(error) => {
            tracing::warn!(%error, execution = %execution.id, "the run failed; it will be tried again");
            release_later(runtime, settings, &job).await;
        }
    }
}

/// `{{user.*}}`: the person the execution runs as (who started it, or who made the workflow),
/// with their organization's name as `company`.
pub(crate) async fn running_user(
    runtime: &Runtime,
    execution: &baton_core::execution::Execution,
) -> serde_json::Value {
    let company = match runtime.store.organization(execution.org_id).await {
        Ok(Some(organization)) => serde_json::Value::from(organization.name),
        _ => serde_json::Value::Null,
    };
    let person = match execution.run_as {
        Some(id) => runtime.store.user(id).await.ok().flatten(),
        None => None,
    };
    match person {
        Some(user) => {
            json!({"id": user.id, "email": user.email, "name": user.name, "company": company})
        }
        None => json!({"company": company}),
    }
}

async fn release_later(runtime: &Runtime, settings: &WorkerSettings, job: &Job) {
    let backoff = chrono::Duration::seconds(i64::from(job.attempts.clamp(1, 60)));
    let _ = runtime
        .store
        .release(job.id, &settings.name, Utc::now() + backoff)
        .await;
}

async fn fail(runtime: &Runtime, execution: &baton_core::execution::Execution, message: &str) {
    let mut update = baton_core::execution::ExecutionUpdate::new(
        execution.id,
        execution.state,
        ExecutionState::Failed,
        Utc::now(),
    );
    update.error = Some(json!({"class": "permanent", "message": message}));
    if execution.state == ExecutionState::Pending {
        // PENDING cannot fail directly; it starts and fails at once.
        let started = baton_core::execution::ExecutionUpdate::new(
            execution.id,
            ExecutionState::Pending,
            ExecutionState::Running,
            Utc::now(),
        );
        if runtime.store.transition(started).await.is_err() {
            return;
        }
        update.from = ExecutionState::Running;
    }
    if let Err(error) = runtime.store.transition(update).await {
        tracing::warn!(%error, "recording the failure failed");
    }
}

/// Tells those watching in this process (live events, waiting callers) that a step moved.
struct Progress(Arc<tokio::sync::Notify>);

impl baton_engine::Observer for Progress {
    fn step_started(&self, _: &str, _: i32) {
        self.0.notify_waiters();
    }

    fn step_finished(&self, _: &baton_core::execution::StepRun, _: Duration) {
        self.0.notify_waiters();
    }
}
