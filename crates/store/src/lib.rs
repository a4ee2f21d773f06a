//! Baton's storage: narrow traits for each kind of record the platform keeps, and their two
//! implementations, SQLite (the zero set-up default) and PostgreSQL (production and scale-out).
//!
//! Both implementations are generated from one body of SQL (see [`sql`]), so they cannot drift
//! apart; the few statements whose dialects differ are given per backend. SQL lives only in this
//! crate, and every value reaches the database as a bound parameter.

pub mod backup;
mod error;
mod postgres;
mod rows;
mod sql;
mod sqlite;
mod url;
pub mod vault;

use std::sync::Arc;

use async_trait::async_trait;
use baton_core::access::{Invite, NewInvite, Totp};
use baton_core::api_key::{ApiKey, NewApiKey};
use baton_core::audit::{AuditEvent, AuditFilter, NewAuditEvent};
use baton_core::credential::{Credential, NewCredential, SealedSecret};
use baton_core::execution::{Execution, ExecutionFilter, ExecutionUpdate, NewExecution, StepRun};
use baton_core::hook::{Hook, PollState};
use baton_core::job::{Claim, Fence, Job, NewJob};
use baton_core::organization::NewUser;
use baton_core::session::{NewSession, Session};
use baton_core::workflow::{NewVersion, NewWorkflow, Workflow, WorkflowVersion};
use baton_core::{
    ApiKeyId, CredentialId, ExecutionId, InviteId, JobId, Membership, OrgId, Organization, Page,
    PageRequest, Role, SessionId, User, UserId, WorkflowId,
};

pub use error::StoreError;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use url::{DatabaseUrl, UrlError};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What [`ExecutionStore::record_finished_execution`] accepts: a finished execution and step
/// runs of that execution only.
pub fn check_finished_record(execution: &Execution, steps: &[StepRun]) -> Result<()> {
    if !execution.state.is_finished() {
        return Err(StoreError::Conflict(format!(
            "execution {} is {}; only a finished execution is recorded whole",
            execution.id, execution.state
        )));
    }
    if let Some(stray) = steps.iter().find(|step| step.execution_id != execution.id) {
        return Err(StoreError::Conflict(format!(
            "step run {:?} belongs to execution {}, not {}",
            stray.step_key, stray.execution_id, execution.id
        )));
    }
    Ok(())
}

/// Organizations, users and their memberships.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an organization with `owner` as its Owner, in one transaction.
    async fn create_organization(&self, name: &str, owner: UserId) -> Result<Organization>;
    async fn organization(&self, id: OrgId) -> Result<Option<Organization>>;
    /// Deletes an organization and everything of it (members, workflows and their versions,
    /// executions, credentials, keys, hooks, its audit log), in one transaction.
    async fn delete_organization(&self, id: OrgId) -> Result<()>;

    /// Fails with [`StoreError::Conflict`] when the email (compared case-insensitively) is taken.
    async fn create_user(&self, user: NewUser) -> Result<User>;
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    async fn user_by_email(&self, email: &str) -> Result<Option<User>>;
    async fn rename_user(&self, user: UserId, name: &str) -> Result<User>;
    /// Sets a new password and ends every session of the user, in one transaction (a stolen
    /// session does not outlive the change).
    async fn change_password(&self, user: UserId, password_hash: &str) -> Result<()>;

    async fn add_member(&self, org: OrgId, user: UserId, role: Role) -> Result<Membership>;
    async fn set_role(&self, org: OrgId, user: UserId, role: Role) -> Result<Membership>;
    async fn remove_member(&self, org: OrgId, user: UserId) -> Result<()>;
    async fn membership(&self, org: OrgId, user: UserId) -> Result<Option<Membership>>;
    /// Every organization the user belongs to, oldest membership first.
    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>>;
    /// An organization's members, by user id.
    async fn members(&self, org: OrgId, page: PageRequest) -> Result<Page<Membership>>;
    /// Makes `to` (already a member) the Owner and `from` an Admin, in one transaction.
    async fn transfer_ownership(&self, org: OrgId, from: UserId, to: UserId) -> Result<()>;
    async fn set_require_mfa(&self, org: OrgId, required: bool) -> Result<Organization>;
    async fn rename_organization(&self, org: OrgId, name: &str) -> Result<Organization>;
    /// Sets or clears the monthly AI budget.
    async fn set_ai_budget(
        &self,
        org: OrgId,
        budget: Option<baton_core::Usd>,
    ) -> Result<Organization>;
    /// Sets (or clears, back to the default) how many days finished executions are kept.
    async fn set_retention(&self, org: OrgId, days: Option<u32>) -> Result<Organization>;
    /// Deletes up to `limit` finished executions (their steps with them) older than their
    /// organization's retention at `now`; how many went.
    async fn prune_executions(&self, now: chrono::DateTime<chrono::Utc>, limit: u32)
    -> Result<u64>;
    /// Deletes up to `limit` model calls made outside runs (drafts, the gateway) older than
    /// their organization's retention at `now`, never one of the current month; how many went.
    async fn prune_ai_calls(&self, now: chrono::DateTime<chrono::Utc>, limit: u32) -> Result<u64>;
    /// Deletes up to `limit` audit events from before `before` (the audit log's retention:
    /// the database refuses any younger than a year); how many went.
    async fn prune_audit_events(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<u64>;
    /// Deletes a person's account (their sessions, sign-in factors and memberships with it);
    /// what they made stays with its organization, no longer naming them.
    async fn delete_user(&self, user: UserId) -> Result<()>;
    /// The prices the organization set over the shipped list, by provider and model.
    async fn model_prices(&self, org: OrgId) -> Result<Vec<baton_core::price::ModelPrice>>;
    /// Sets (or replaces) the organization's price for a provider's model prefix.
    async fn set_model_price(
        &self,
        org: OrgId,
        price: &baton_core::price::ModelPrice,
    ) -> Result<()>;
    /// Removes one, going back to the shipped list price.
    async fn delete_model_price(&self, org: OrgId, provider: &str, model: &str) -> Result<()>;
    /// Records a model call made outside a run, which counts in the organization's spend.
    async fn record_ai_call(&self, call: &baton_core::price::AiCall) -> Result<()>;
    /// What each API key's gateway calls used since `since`, most costly first.
    async fn ai_usage_by_key(
        &self,
        org: OrgId,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<baton_core::price::KeyUsage>>;
    /// What the organization's steps, drafts and gateway calls have cost since `since`.
    async fn ai_spend_since(
        &self,
        org: OrgId,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<baton_core::Usd>;
}

/// How people get in: invitations, password resets, two-factor sign-in, and identities from
/// providers such as Google.
#[async_trait]
pub trait AccessStore: Send + Sync {
    async fn create_invite(&self, invite: NewInvite) -> Result<Invite>;
    async fn invite_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<Invite>>;
    /// The invitation whose mailed link carries this token.
    async fn invite_by_mail_token_hash(&self, token_hash: &[u8]) -> Result<Option<Invite>>;
    /// Stores a link proving `email` for `user` (the older open ones stop working).
    async fn create_email_verification(
        &self,
        user: UserId,
        email: &str,
        token_hash: &[u8],
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()>;
    /// Uses a live verification link: the user's email is verified if it is still the address
    /// the link was mailed to. `None` when the link is unknown, used or expired.
    async fn verify_email(&self, token_hash: &[u8]) -> Result<Option<UserId>>;
    /// Marks the user's email verified (a provider or a mailed link vouched for it elsewhere).
    async fn mark_email_verified(&self, user: UserId) -> Result<()>;
    /// Gives up an unverified account's email to its proven owner: the account's email becomes
    /// `placeholder` and its sessions and open links end. False when the email is verified.
    async fn release_email(&self, user: UserId, placeholder: &str) -> Result<bool>;
    /// The invitations still open, newest first.
    async fn open_invites(&self, org: OrgId, page: PageRequest) -> Result<Page<Invite>>;
    async fn revoke_invite(&self, org: OrgId, id: InviteId) -> Result<()>;
    /// Marks the invitation accepted and makes `user` a member with its role, in one
    /// transaction. [`StoreError::Conflict`] when it was used, revoked or has expired, or the
    /// user is already a member.
    async fn accept_invite(&self, id: InviteId, user: UserId) -> Result<Membership>;

    async fn create_password_reset(
        &self,
        user: UserId,
        token_hash: &[u8],
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()>;
    /// The user a live (unused, unexpired) reset token is for.
    async fn password_reset_user(&self, token_hash: &[u8]) -> Result<Option<User>>;
    /// Uses a live reset token: sets the new password, marks the token used (and every other
    /// of the user's), marks the email verified (the link proved the mailbox) and ends every
    /// session of the user, in one transaction. `None` when the token is unknown, used or
    /// expired.
    async fn reset_password(
        &self,
        token_hash: &[u8],
        password_hash: &str,
    ) -> Result<Option<UserId>>;

    async fn totp(&self, user: UserId) -> Result<Option<Totp>>;
    /// Starts (or restarts) enrolment with a new secret, not yet enabled.
    async fn begin_totp(&self, user: UserId, secret: &str) -> Result<()>;
    /// Enables the pending secret and replaces the recovery codes.
    async fn enable_totp(&self, user: UserId, recovery_code_hashes: &[Vec<u8>]) -> Result<()>;
    /// Removes the secret and the recovery codes.
    async fn disable_totp(&self, user: UserId) -> Result<()>;
    /// Records that a code of `step` was accepted; false when a code of this step or a later
    /// one was already used (a replay).
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool>;
    /// Uses a recovery code once; false when it is unknown or used.
    async fn use_recovery_code(&self, user: UserId, code_hash: &[u8]) -> Result<bool>;
    /// Every stored two-factor secret as stored (sealed, or in clear from before sealing), for
    /// sealing them again under the current master key.
    async fn totp_secrets(&self) -> Result<Vec<(UserId, String)>>;
    /// Replaces a two-factor secret if it is still `stored`; false when it changed meanwhile.
    async fn replace_totp_secret(&self, user: UserId, stored: &str, sealed: &str) -> Result<bool>;

    async fn link_identity(&self, provider: &str, subject: &str, user: UserId) -> Result<()>;
    async fn user_by_identity(&self, provider: &str, subject: &str) -> Result<Option<User>>;
}

/// Workflows and their immutable versions. Every read is scoped to an organization: an id of
/// another organization reads as absent.
#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// Creates the workflow and its version 1. [`StoreError::Conflict`] when the key is taken.
    async fn create_workflow(&self, workflow: NewWorkflow) -> Result<(Workflow, WorkflowVersion)>;
    /// Saves a new version (the current one plus one) and makes it current.
    async fn save_version(&self, version: NewVersion) -> Result<(Workflow, WorkflowVersion)>;
    async fn workflow(&self, org: OrgId, id: WorkflowId) -> Result<Option<Workflow>>;
    async fn workflow_by_key(&self, org: OrgId, key: &str) -> Result<Option<Workflow>>;
    async fn workflow_version(
        &self,
        org: OrgId,
        id: WorkflowId,
        version: i32,
    ) -> Result<Option<WorkflowVersion>>;
    /// Newest first.
    async fn list_workflows(&self, org: OrgId, page: PageRequest) -> Result<Page<Workflow>>;
    /// Newest version first.
    async fn list_versions(
        &self,
        org: OrgId,
        id: WorkflowId,
        page: PageRequest,
    ) -> Result<Page<WorkflowVersion>>;
    async fn set_active(&self, org: OrgId, id: WorkflowId, active: bool) -> Result<Workflow>;
    /// Every active workflow of every organization (for the scheduler), oldest first.
    async fn active_workflows(&self) -> Result<Vec<Workflow>>;
    /// Removes the workflow from lists and lookups; its versions stay for the executions that
    /// ran them, and its key becomes free.
    async fn delete_workflow(&self, org: OrgId, id: WorkflowId) -> Result<()>;
    /// For each workflow of the organization that has run: its runs since `since` (with how
    /// many completed and failed) and its latest run, in one pass over the executions. Step
    /// tests (trigger `step_test`) are not runs of the workflow and are left out.
    async fn workflow_activity(
        &self,
        org: OrgId,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<baton_core::execution::WorkflowActivity>>;
}

/// Executions and the checkpoints of their steps.
#[async_trait]
pub trait ExecutionStore: Send + Sync {
    async fn create_execution(&self, execution: NewExecution) -> Result<Execution>;
    /// Creates an execution and the job that will run it (`job.execution_id` names
    /// `execution.id`) in one transaction: an accepted trigger is never lost, and a job never
    /// points at nothing.
    async fn create_execution_with_job(
        &self,
        execution: NewExecution,
        job: NewJob,
    ) -> Result<(Execution, Job)>;
    /// Like [`ExecutionStore::create_execution_with_job`], once per `(workflow, delivery id)`:
    /// a delivery seen before creates nothing and returns the execution it created, with
    /// `false`.
    /// [`StoreError::DeliveryMismatch`] when the delivery was seen with another fingerprint.
    async fn create_delivered_execution(
        &self,
        execution: NewExecution,
        job: NewJob,
        delivery: Delivery<'_>,
    ) -> Result<(Execution, bool)>;
    /// Forgets the caller-chosen delivery keys (those with a fingerprint) older than `before`;
    /// how many.
    async fn prune_deliveries(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64>;
    async fn execution(&self, org: OrgId, id: ExecutionId) -> Result<Option<Execution>>;
    /// Applies an allowed transition if the execution is still in `update.from` (and, with
    /// `update.fence`, while that lease is the job's latest), and refreshes its token and cost
    /// totals from its step runs.
    async fn transition(&self, update: ExecutionUpdate) -> Result<Execution>;
    /// Newest first.
    async fn list_executions(
        &self,
        org: OrgId,
        filter: &ExecutionFilter,
        page: PageRequest,
    ) -> Result<Page<Execution>>;
    /// Writes a step's checkpoint, replacing the previous one for the same step key. With a
    /// fence, only while that lease is the job's latest ([`StoreError::LeaseLost`] otherwise).
    async fn save_step_run(&self, run: &StepRun, fence: Option<Fence>) -> Result<()>;
    /// In the order the steps were first checkpointed.
    async fn step_runs(&self, execution: ExecutionId) -> Result<Vec<StepRun>>;
    /// Makes a FAILED execution PENDING again to run `version` of its workflow, forgetting the
    /// checkpoints of the steps in `forget` (and of everything inside them, `key[...`) so that
    /// they run again while the others' outputs are reused; in one transaction.
    /// [`StoreError::Conflict`] when the execution is not FAILED (any more).
    async fn resume_failed(
        &self,
        id: ExecutionId,
        version: i32,
        forget: &[String],
    ) -> Result<Execution>;
    /// Stores, in one transaction, an execution that has already run to its end outside the
    /// store (a pure workflow run in memory for a caller who waits), with its step runs in
    /// their order. Its state must be a finished one.
    async fn record_finished_execution(
        &self,
        execution: &Execution,
        steps: &[StepRun],
    ) -> Result<()>;
}

/// The durable job queue.
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, job: NewJob) -> Result<Job>;
    /// Leases the earliest due job that nobody holds (or whose lease has run out).
    async fn claim(&self, claim: &Claim) -> Result<Option<Job>>;
    /// Leases one job by its id, when nobody holds it (the process that just queued it runs
    /// it itself).
    async fn claim_job(&self, job: JobId, claim: &Claim) -> Result<Option<Job>>;
    /// The jobs due at `now` that nobody holds, and when the oldest of them came due.
    async fn queue_depth(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(i64, Option<chrono::DateTime<chrono::Utc>>)>;
    /// Asks the worker running the execution's job to cancel it; false when it has no job.
    async fn request_cancel(&self, org: OrgId, execution: ExecutionId) -> Result<bool>;
    /// Whether someone asked to cancel the job's execution.
    async fn cancel_requested(&self, job: JobId) -> Result<bool>;
    /// Extends a lease; false when the worker no longer holds it.
    async fn renew(
        &self,
        job: JobId,
        worker: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool>;
    /// Removes a finished job; false when the worker no longer holds it.
    async fn complete(&self, job: JobId, worker: &str) -> Result<bool>;
    /// Gives a job back, to be claimed again at `run_at`; false when the worker no longer holds it.
    async fn release(
        &self,
        job: JobId,
        worker: &str,
        run_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool>;
    /// Ends every lease, so that jobs held by a process that died are claimed at once; how
    /// many. Only for a process alone on its database (SQLite), at start.
    async fn release_every_lease(&self) -> Result<u64>;
}

/// Circuits open for an organization's calls to a service, shared by every process on the
/// database, so that one process's lesson (the service keeps failing) holds back the others.
#[async_trait]
pub trait CircuitStore: Send + Sync {
    /// Holds calls to `service` back until `until` (a later time already stored stands).
    async fn open_circuit(
        &self,
        org: OrgId,
        service: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<()>;
    /// Forgets the circuit: the service answers again.
    async fn close_circuit(&self, org: OrgId, service: &str) -> Result<()>;
    /// The circuits still open at `now`, each with when calls may go again.
    async fn open_circuits(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(OrgId, String, chrono::DateTime<chrono::Utc>)>>;
}

/// How often each template was used and how people rated it, over every organization.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateStats {
    pub template_id: String,
    /// Workflows made from it.
    pub uses: u64,
    /// People who rated it, and their stars added up.
    pub ratings: u64,
    pub stars: u64,
}

/// Templates' popularity and ratings.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Counts a workflow `org` made from `template`.
    async fn record_template_use(
        &self,
        org: OrgId,
        template: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()>;
    /// Keeps `user`'s rating of `template` (1 to 5 stars), replacing theirs from before.
    async fn rate_template(
        &self,
        user: UserId,
        template: &str,
        stars: u8,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()>;
    /// Every template used or rated at least once.
    async fn template_stats(&self) -> Result<Vec<TemplateStats>>;
    /// The stars `user` gave `template`, if any.
    async fn template_rating(&self, user: UserId, template: &str) -> Result<Option<u8>>;
    /// Keeps a template an organization made; [`StoreError::Conflict`] when it has one with
    /// this id.
    async fn add_org_template(
        &self,
        org: OrgId,
        template: &str,
        document: &serde_json::Value,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()>;
    /// The organization's own templates, oldest first.
    async fn org_templates(&self, org: OrgId) -> Result<Vec<serde_json::Value>>;
    /// Removes one of the organization's templates ([`StoreError::NotFound`] when it has none).
    async fn delete_org_template(&self, org: OrgId, template: &str) -> Result<()>;
}

/// Something that happened to a run that people may be told about.
#[derive(Clone, Debug, PartialEq)]
pub struct NoticeEvent {
    pub org_id: OrgId,
    pub workflow_id: baton_core::WorkflowId,
    pub execution_id: ExecutionId,
    /// `failed`, or `approval:STEP` for an approval step that waits.
    pub event: String,
    /// The run's error, or the waiting step's input (its message and approvers).
    pub detail: serde_json::Value,
    /// When the run failed, or the step began to wait.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// One message owed to one recipient (`email:ADDRESS`, or `slack:CHANNEL` with
/// `slack:CREDENTIAL:CHANNEL` when a connection is named).
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub id: uuid::Uuid,
    pub org_id: OrgId,
    pub workflow_id: baton_core::WorkflowId,
    pub execution_id: ExecutionId,
    pub event: String,
    pub recipient: String,
    /// What to say, in plain words.
    pub detail: String,
    /// When it may be sent: at once, or when its digest is.
    pub due_at: chrono::DateTime<chrono::Utc>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// What people are told about runs that failed or wait for them.
#[async_trait]
pub trait NoticeStore: Send + Sync {
    /// Runs that failed since `since`, and approval steps that began waiting since then, that
    /// no notifier has claimed; oldest first, at most `limit`.
    async fn unclaimed_events(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<NoticeEvent>>;
    /// Claims the event for this notifier; false when another one has.
    async fn claim_event(
        &self,
        event: &NoticeEvent,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool>;
    /// Keeps a message owed (nothing when the same one is kept already).
    async fn add_notice(&self, notice: &Notice) -> Result<()>;
    /// When `recipient` was last sent a message about `workflow`.
    async fn last_notice_sent(
        &self,
        workflow: baton_core::WorkflowId,
        recipient: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>>;
    /// When `recipient`'s earliest unsent message about `workflow` is due.
    async fn next_notice_due(
        &self,
        workflow: baton_core::WorkflowId,
        recipient: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>>;
    /// Takes the unsent messages due at `now`, oldest first, at most `limit`: each is marked
    /// sent as it is taken, so that no two notifiers send it (a notifier that dies before
    /// sending loses it, rather than two sending it twice).
    async fn take_due_notices(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<Notice>>;
    /// Gives back messages taken but not sent, to be taken again.
    async fn release_notices(&self, ids: &[uuid::Uuid]) -> Result<()>;
    /// Forgets what was sent (and the claims made) before `before`; how many rows went.
    async fn forget_notices(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64>;
    /// How soon `user` wants to hear: `immediately`, `hourly` or `never`.
    async fn user_notify(&self, user: UserId) -> Result<String>;
    async fn set_user_notify(&self, user: UserId, notify: &str) -> Result<()>;
}

/// What a person told the organization's Owners from the app.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Feedback {
    pub id: uuid::Uuid,
    #[serde(skip)]
    pub org_id: OrgId,
    pub user_id: Option<UserId>,
    /// `nps`, `bug` or `idea`.
    pub kind: String,
    /// 0 to 10, for `nps`.
    pub score: Option<u8>,
    pub comment: String,
    /// Where in the app it was sent from.
    pub page: Option<String>,
    /// The last error the app showed before a bug report.
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One UTC day of an organization's use of Baton.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct UsageDay {
    pub day: chrono::NaiveDate,
    pub workflows_created: u64,
    pub runs_completed: u64,
    pub runs_failed: u64,
    /// People who did anything the audit log records (signing in counts).
    pub active_people: u64,
}

/// How an organization has used Baton, counted from what its own tables hold: nothing is
/// tracked apart, and nothing leaves the server.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    /// Every day of the window, oldest first.
    pub days: Vec<UsageDay>,
    /// Workflows made from each template in the window, most used first.
    pub templates: Vec<(String, u64)>,
    /// Connections to each service, most first.
    pub services: Vec<(String, u64)>,
}

/// Feedback and usage, kept on the server.
#[async_trait]
pub trait InsightStore: Send + Sync {
    async fn add_feedback(&self, feedback: &Feedback) -> Result<()>;
    /// The organization's feedback, newest first, at most `limit`.
    async fn list_feedback(&self, org: OrgId, limit: u32) -> Result<Vec<Feedback>>;
    /// The organization's use of Baton from `since` to `now`, day by day (UTC).
    async fn usage(
        &self,
        org: OrgId,
        since: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Usage>;
}

/// Webhook triggers.
#[async_trait]
pub trait HookStore: Send + Sync {
    /// Gives the workflow a hook with `token`, or returns the one it has.
    async fn ensure_hook(&self, org: OrgId, workflow: WorkflowId, token: &str) -> Result<Hook>;
    async fn hook(&self, org: OrgId, workflow: WorkflowId) -> Result<Option<Hook>>;
    /// The hook with this token and its workflow (unless deleted), in one read: what a
    /// delivery needs.
    async fn hook_by_token(&self, token: &str) -> Result<Option<(Hook, Workflow)>>;
    /// The newest delivery id of the workflow that starts with `prefix` (e.g. `schedule:`).
    async fn latest_delivery(&self, workflow: WorkflowId, prefix: &str) -> Result<Option<String>>;
    /// Where the workflow's poll trigger stands; none before anything looked.
    async fn poll_state(&self, workflow: WorkflowId) -> Result<Option<PollState>>;
    /// Takes the workflow's next poll look when it is due at `now`, making the one after due
    /// at `next`; none when it is not due (another server took it).
    async fn claim_poll(
        &self,
        workflow: WorkflowId,
        now: chrono::DateTime<chrono::Utc>,
        next: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<PollState>>;
    /// Records how a look ended: where it stopped, or why it failed (the cursor then stays).
    async fn finish_poll(
        &self,
        workflow: WorkflowId,
        outcome: std::result::Result<&serde_json::Value, &str>,
    ) -> Result<()>;
    /// Makes the next look due now.
    async fn poll_now(&self, workflow: WorkflowId) -> Result<()>;
    /// Forgets where the poll trigger stood, so that its next look starts from now.
    async fn forget_poll(&self, workflow: WorkflowId) -> Result<()>;
    /// Sets or clears the signing secret.
    async fn set_hook_secret(
        &self,
        org: OrgId,
        workflow: WorkflowId,
        secret: Option<&str>,
    ) -> Result<Hook>;
}

/// A wake-up call for workers when a job becomes claimable in another process.
#[async_trait]
pub trait JobSignal: Send {
    /// Returns when a job may have become claimable (or the connection needs a look).
    async fn wait(&mut self) -> Result<()>;
}

/// Where workers of several processes hear about new jobs.
#[async_trait]
pub trait JobSignals: Send + Sync {
    /// `None` when the store has no signal across processes (SQLite: one process).
    async fn job_signal(&self) -> Result<Option<Box<dyn JobSignal>>>;
}

/// Credentials, stored sealed.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn create_credential(&self, credential: NewCredential) -> Result<Credential>;
    async fn credential(&self, org: OrgId, id: CredentialId) -> Result<Option<Credential>>;
    async fn list_credentials(&self, org: OrgId, page: PageRequest) -> Result<Page<Credential>>;
    async fn sealed_secret(&self, org: OrgId, id: CredentialId) -> Result<Option<SealedSecret>>;
    /// Replaces the secret (a refreshed token, a re-sealed key, a reconnection), which
    /// clears a reconnect reason.
    async fn update_secret(&self, org: OrgId, id: CredentialId, secret: SealedSecret)
    -> Result<()>;
    async fn delete_credential(&self, org: OrgId, id: CredentialId) -> Result<()>;
    /// [`StoreError::Conflict`] when the service has another credential of that name.
    async fn rename_credential(
        &self,
        org: OrgId,
        id: CredentialId,
        name: &str,
    ) -> Result<Credential>;
    /// Marks the credential as one to connect again, and why.
    async fn needs_reconnect(&self, org: OrgId, id: CredentialId, reason: &str) -> Result<()>;
    /// The organization's credentials for `service`, oldest first.
    async fn service_credentials(&self, org: OrgId, service: &str) -> Result<Vec<Credential>>;
    /// Takes the turn to refresh the credential's token until `until`, unless another process
    /// holds it at `now`: providers that rotate refresh tokens (Slack) take each one once, so
    /// two refreshing at once would lose the grant. Replacing the secret ends the turn.
    async fn claim_refresh(
        &self,
        org: OrgId,
        id: CredentialId,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool>;
    /// Ends a refresh turn that did not replace the secret.
    async fn release_refresh(&self, org: OrgId, id: CredentialId) -> Result<()>;
}

/// An organization's data key as stored: wrapped by a master key (see [`vault`]).
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// What sealed values name as their `key_id`.
    pub id: String,
    pub master_key_id: String,
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WrappedKey")
            .field("id", &self.id)
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}

/// The organizations' wrapped data keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn data_key(&self, org: OrgId) -> Result<Option<WrappedKey>>;
    /// Stores the organization's data key unless it has one already; returns the one it has.
    async fn add_data_key(&self, org: OrgId, key: WrappedKey) -> Result<WrappedKey>;
    /// Every data key wrapped by another master key than `master_key_id`.
    async fn data_keys_not_wrapped_by(
        &self,
        master_key_id: &str,
    ) -> Result<Vec<(OrgId, WrappedKey)>>;
    /// Replaces a data key's wrapping, if it is still wrapped by `from_master`.
    async fn rewrap_data_key(&self, org: OrgId, from_master: &str, key: WrappedKey)
    -> Result<bool>;
}

/// A delivery of a run: its id (a caller's key, a service's event id, a schedule's time) and,
/// for ids a caller chose, a fingerprint of the request, so that the same id with another
/// request is told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub id: &'a str,
    pub fingerprint: Option<&'a str>,
}

impl<'a> From<&'a str> for Delivery<'a> {
    fn from(id: &'a str) -> Self {
        Self {
            id,
            fingerprint: None,
        }
    }
}

impl<'a> From<&'a String> for Delivery<'a> {
    fn from(id: &'a String) -> Self {
        id.as_str().into()
    }
}

/// An object asked for by id, to find which organization it belongs to when the caller's does
/// not hold it (a denied cross-organization call is audited in both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectRef {
    Execution(baton_core::ExecutionId),
    Credential(baton_core::CredentialId),
}

/// The append-only audit log: there is no way to change or remove an event.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, event: NewAuditEvent) -> Result<AuditEvent>;
    /// The organization an object belongs to, whoever asks.
    async fn owner_of(&self, object: ObjectRef) -> Result<Option<OrgId>>;
    /// Newest first.
    async fn audit_events(
        &self,
        org: OrgId,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>>;
}

/// Sign-in sessions (refresh tokens, stored as hashes).
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: NewSession) -> Result<Session>;
    async fn session_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<Session>>;
    /// Marks `old` used and creates its successor in the same family, in one transaction;
    /// [`StoreError::Conflict`] when `old` was already used or revoked.
    async fn rotate_session(&self, old: SessionId, next: NewSession) -> Result<Session>;
    async fn revoke_family(&self, family: SessionId) -> Result<()>;
    /// Ends every session of a user (after a password reset).
    async fn revoke_user_sessions(&self, user: UserId) -> Result<()>;
    /// Whether a family still has an unrevoked, unexpired session: access tokens name their
    /// family, so a logout or a detected token theft ends them at once.
    async fn family_is_live(&self, family: SessionId) -> Result<bool>;
}

/// API keys, stored as hashes.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey>;
    /// Newest first.
    async fn list_api_keys(&self, org: OrgId, page: PageRequest) -> Result<Page<ApiKey>>;
    /// The live key with this hash, its last use set to now.
    async fn use_api_key(&self, key_hash: &[u8]) -> Result<Option<ApiKey>>;
    async fn revoke_api_key(&self, org: OrgId, id: ApiKeyId) -> Result<()>;
}

/// Everything the platform stores, behind one handle.
#[async_trait]
pub trait Store:
    AccountStore
    + AccessStore
    + WorkflowStore
    + ExecutionStore
    + JobQueue
    + CredentialStore
    + AuditLog
    + SessionStore
    + ApiKeyStore
    + HookStore
    + KeyStore
    + JobSignals
    + CircuitStore
    + TemplateStore
    + NoticeStore
    + InsightStore
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Runs the migrations that have not run yet.
    async fn migrate(&self) -> Result<()>;
    /// Succeeds when the database answers a query.
    async fn ping(&self) -> Result<()>;
    /// Closes the pool; later calls fail.
    async fn close(&self);
    /// The database's clock, which judges every lease when several processes share the
    /// database (each worker corrects its own clock by it). One process on its file: its own.
    async fn clock(&self) -> Result<chrono::DateTime<chrono::Utc>> {
        Ok(chrono::Utc::now())
    }
}

/// Opens the database a URL names (without migrating it).
pub async fn open(url: &DatabaseUrl) -> Result<Arc<dyn Store>> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        DatabaseUrl::Postgres(options, _) => {
            Arc::new(PostgresStore::connect((**options).clone()).await?)
        }
    })
}
