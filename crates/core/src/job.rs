//! Jobs of the durable queue. A job is claimed with a lease; a worker that stops renewing it
//! loses the job to another worker, which resumes the execution from its last checkpoint.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{ExecutionId, JobId, OrgId, WorkflowId};

/// The lease a write is made under: the job, and how many times it had been claimed when this
/// worker claimed it. A write carrying a fence is refused once another worker has claimed the
/// job since (its claim count moved on), so a worker that was paused past its lease cannot
/// overwrite what the new holder wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fence {
    pub job: JobId,
    pub generation: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub org_id: OrgId,
    pub execution_id: ExecutionId,
    /// What to do, e.g. `run` or `resume`.
    pub kind: String,
    pub payload: serde_json::Value,
    /// Not claimed before this time (delays, retry backoff).
    pub run_at: DateTime<Utc>,
    /// How many times a worker has claimed it.
    pub attempts: i32,
    /// The worker holding the lease, while one does.
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The execution's workflow (absent only on jobs queued before limits existed).
    pub workflow_id: Option<WorkflowId>,
    /// The most jobs of that workflow leased at once, as its version said when this was queued.
    pub workflow_limit: Option<u32>,
    /// Whether its last claim took it over from a worker whose lease had run out.
    pub taken_over: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    pub org_id: OrgId,
    pub execution_id: ExecutionId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_at: DateTime<Utc>,
    pub workflow_id: WorkflowId,
    /// The workflow's `concurrency`: no more of its jobs than this leased at once.
    pub workflow_limit: Option<u32>,
}

/// A worker's request for a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// A name unique to the claiming worker process.
    pub worker: String,
    pub now: DateTime<Utc>,
    pub lease: chrono::Duration,
    /// The most jobs one organization may have leased at once; its other jobs wait. Among
    /// organizations under the limit, the one with the fewest running goes first, so that one
    /// organization's flood does not starve the others.
    pub per_organization: u32,
}

/// The default of [`Claim::per_organization`].
pub const DEFAULT_PER_ORGANIZATION: u32 = 32;
