//! Rows as the database returns them, and their conversion into domain records. Shared by both
//! backends: the derives are generic over the row type.

use baton_core::audit::AuditEvent;
use baton_core::credential::Credential;
use baton_core::execution::{Execution, StepRun, TokenUsage};
use baton_core::job::Job;
use baton_core::workflow::{Workflow, WorkflowVersion};
use baton_core::{
    AuditEventId, CredentialId, ExecutionId, JobId, Membership, OrgId, Organization, Usd, User,
    UserId, WorkflowId,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::StoreError;
use baton_core::api_key::ApiKey;
use baton_core::session::Session;
use baton_core::{ApiKeyId, SessionId};

pub(crate) fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown {what} {text:?}")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct OrganizationRow {
    id: Uuid,
    name: String,
    require_mfa: bool,
    created_at: DateTime<Utc>,
    ai_budget_micros: Option<i64>,
    retention_days: Option<i32>,
}

impl From<OrganizationRow> for Organization {
    fn from(row: OrganizationRow) -> Self {
        Organization {
            id: OrgId::from_uuid(row.id),
            name: row.name,
            require_mfa: row.require_mfa,
            ai_monthly_budget_usd: row.ai_budget_micros.map(baton_core::Usd::from_micros),
            retention_days: row.retention_days.and_then(|days| u32::try_from(days).ok()),
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    password_hash: Option<String>,
    created_at: DateTime<Utc>,
    email_verified_at: Option<DateTime<Utc>>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId::from_uuid(row.id),
            email: row.email,
            name: row.name,
            password_hash: row.password_hash,
            created_at: row.created_at,
            email_verified_at: row.email_verified_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    org_id: Uuid,
    user_id: Uuid,
    role: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;

    fn try_from(row: MembershipRow) -> Result<Self, StoreError> {
        Ok(Membership {
            org_id: OrgId::from_uuid(row.org_id),
            user_id: UserId::from_uuid(row.user_id),
            role: parse("role", &row.role)?,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WorkflowRow {
    id: Uuid,
    org_id: Uuid,
    key: String,
    name: String,
    pub(crate) current_version: i32,
    active: bool,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<WorkflowRow> for Workflow {
    fn from(row: WorkflowRow) -> Self {
        Workflow {
            id: WorkflowId::from_uuid(row.id),
            org_id: OrgId::from_uuid(row.org_id),
            key: row.key,
            name: row.name,
            current_version: row.current_version,
            active: row.active,
            created_by: row.created_by.map(UserId::from_uuid),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct VersionRow {
    workflow_id: Uuid,
    version: i32,
    definition: Json<Value>,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    note: Option<String>,
}

impl From<VersionRow> for WorkflowVersion {
    fn from(row: VersionRow) -> Self {
        WorkflowVersion {
            workflow_id: WorkflowId::from_uuid(row.workflow_id),
            version: row.version,
            definition: row.definition.0,
            created_by: row.created_by.map(UserId::from_uuid),
            created_at: row.created_at,
            note: row.note,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ExecutionRow {
    id: Uuid,
    org_id: Uuid,
    workflow_id: Uuid,
    workflow_version: i32,
    state: String,
    trigger: String,
    run_as: Option<Uuid>,
    input: Json<Value>,
    output: Option<Json<Value>>,
    error: Option<Json<Value>>,
    input_tokens: i64,
    output_tokens: i64,
    cost_micros: i64,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<ExecutionRow> for Execution {
    type Error = StoreError;

    fn try_from(row: ExecutionRow) -> Result<Self, StoreError> {
        Ok(Execution {
            id: ExecutionId::from_uuid(row.id),
            org_id: OrgId::from_uuid(row.org_id),
            workflow_id: WorkflowId::from_uuid(row.workflow_id),
            workflow_version: row.workflow_version,
            state: parse("execution state", &row.state)?,
            trigger: parse("trigger kind", &row.trigger)?,
            run_as: row.run_as.map(UserId::from_uuid),
            input: row.input.0,
            output: row.output.map(|json| json.0),
            error: row.error.map(|json| json.0),
            usage: TokenUsage {
                input_tokens: row.input_tokens,
                output_tokens: row.output_tokens,
            },
            cost: Usd::from_micros(row.cost_micros),
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct StepRunRow {
    execution_id: Uuid,
    step_key: String,
    state: String,
    input: Option<Json<Value>>,
    output: Option<Json<Value>>,
    error: Option<Json<Value>>,
    attempts: i32,
    idempotency_key: String,
    input_tokens: i64,
    output_tokens: i64,
    cost_micros: i64,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<StepRunRow> for StepRun {
    type Error = StoreError;

    fn try_from(row: StepRunRow) -> Result<Self, StoreError> {
        Ok(StepRun {
            execution_id: ExecutionId::from_uuid(row.execution_id),
            step_key: row.step_key,
            state: parse("step state", &row.state)?,
            input: row.input.map(|json| json.0),
            output: row.output.map(|json| json.0),
            error: row.error.map(|json| json.0),
            attempts: row.attempts,
            idempotency_key: row.idempotency_key,
            usage: TokenUsage {
                input_tokens: row.input_tokens,
                output_tokens: row.output_tokens,
            },
            cost: Usd::from_micros(row.cost_micros),
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: Uuid,
    org_id: Uuid,
    execution_id: Uuid,
    kind: String,
    payload: Json<Value>,
    run_at: DateTime<Utc>,
    attempts: i32,
    lease_owner: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    workflow_id: Option<Uuid>,
    workflow_limit: Option<i64>,
    taken_over: bool,
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Self {
        Job {
            id: JobId::from_uuid(row.id),
            org_id: OrgId::from_uuid(row.org_id),
            execution_id: ExecutionId::from_uuid(row.execution_id),
            kind: row.kind,
            payload: row.payload.0,
            run_at: row.run_at,
            attempts: row.attempts,
            lease_owner: row.lease_owner,
            lease_until: row.lease_until,
            created_at: row.created_at,
            workflow_id: row.workflow_id.map(WorkflowId::from_uuid),
            taken_over: row.taken_over,
            workflow_limit: row
                .workflow_limit
                .and_then(|limit| u32::try_from(limit).ok()),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialRow {
    id: Uuid,
    org_id: Uuid,
    service: String,
    name: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    reconnect_reason: Option<String>,
}

impl From<CredentialRow> for Credential {
    fn from(row: CredentialRow) -> Self {
        Credential {
            id: CredentialId::from_uuid(row.id),
            org_id: OrgId::from_uuid(row.org_id),
            service: row.service,
            name: row.name,
            created_by: row.created_by.map(UserId::from_uuid),
            created_at: row.created_at,
            updated_at: row.updated_at,
            reconnect_reason: row.reconnect_reason,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditEventRow {
    id: Uuid,
    org_id: Option<Uuid>,
    actor: Option<Uuid>,
    action: String,
    target: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    details: Json<Value>,
    at: DateTime<Utc>,
}

impl From<AuditEventRow> for AuditEvent {
    fn from(row: AuditEventRow) -> Self {
        AuditEvent {
            id: AuditEventId::from_uuid(row.id),
            org_id: row.org_id.map(OrgId::from_uuid),
            actor: row.actor.map(UserId::from_uuid),
            action: row.action,
            target: row.target,
            ip: row.ip,
            user_agent: row.user_agent,
            details: row.details.0,
            at: row.at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: Uuid,
    family_id: Uuid,
    user_id: Uuid,
    org_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Session {
            id: SessionId::from_uuid(row.id),
            family_id: SessionId::from_uuid(row.family_id),
            user_id: UserId::from_uuid(row.user_id),
            org_id: OrgId::from_uuid(row.org_id),
            created_at: row.created_at,
            expires_at: row.expires_at,
            used_at: row.used_at,
            revoked_at: row.revoked_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    role: String,
    prefix: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(row: ApiKeyRow) -> Result<Self, StoreError> {
        Ok(ApiKey {
            id: ApiKeyId::from_uuid(row.id),
            org_id: OrgId::from_uuid(row.org_id),
            name: row.name,
            role: parse("role", &row.role)?,
            prefix: row.prefix,
            created_by: row.created_by.map(UserId::from_uuid),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct InviteRow {
    id: Uuid,
    org_id: Uuid,
    email: String,
    role: String,
    invited_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<InviteRow> for baton_core::access::Invite {
    type Error = StoreError;

    fn try_from(row: InviteRow) -> Result<Self, StoreError> {
        Ok(baton_core::access::Invite {
            id: baton_core::InviteId::from_uuid(row.id),
            org_id: OrgId::from_uuid(row.org_id),
            email: row.email,
            role: parse("role", &row.role)?,
            invited_by: row.invited_by.map(UserId::from_uuid),
            created_at: row.created_at,
            expires_at: row.expires_at,
            accepted_at: row.accepted_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TotpRow {
    secret: String,
    enabled_at: Option<DateTime<Utc>>,
    last_step: i64,
}

impl From<TotpRow> for baton_core::access::Totp {
    fn from(row: TotpRow) -> Self {
        baton_core::access::Totp {
            secret: row.secret,
            enabled_at: row.enabled_at,
            last_step: row.last_step,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct HookRow {
    workflow_id: Uuid,
    org_id: Uuid,
    token: String,
    secret: Option<String>,
    created_at: DateTime<Utc>,
}

/// A row of `HOOK_TARGET_SQL`: a workflow and its hook.
#[derive(sqlx::FromRow)]
pub(crate) struct HookTargetRow {
    #[sqlx(flatten)]
    workflow: WorkflowRow,
    hook_token: String,
    hook_secret: Option<String>,
    hook_created_at: DateTime<Utc>,
}

impl From<HookTargetRow> for (baton_core::hook::Hook, Workflow) {
    fn from(row: HookTargetRow) -> Self {
        let workflow = Workflow::from(row.workflow);
        let hook = baton_core::hook::Hook {
            workflow_id: workflow.id,
            org_id: workflow.org_id,
            token: row.hook_token,
            secret: row.hook_secret,
            created_at: row.hook_created_at,
        };
        (hook, workflow)
    }
}

impl From<HookRow> for baton_core::hook::Hook {
    fn from(row: HookRow) -> Self {
        baton_core::hook::Hook {
            workflow_id: WorkflowId::from_uuid(row.workflow_id),
            org_id: OrgId::from_uuid(row.org_id),
            token: row.token,
            secret: row.secret,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PollRow {
    cursor: String,
    looked_at: Option<DateTime<Utc>>,
    next_look_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl TryFrom<PollRow> for baton_core::hook::PollState {
    type Error = StoreError;

    fn try_from(row: PollRow) -> Result<Self, StoreError> {
        let cursor: Value = serde_json::from_str(&row.cursor)
            .map_err(|error| StoreError::Corrupt(format!("a trigger cursor: {error}")))?;
        Ok(baton_core::hook::PollState {
            cursor: (!cursor.is_null()).then_some(cursor),
            looked_at: row.looked_at,
            next_look_at: row.next_look_at,
            error: row.last_error,
        })
    }
}
