//! The SQL both backends share, written once, as `&'static str` built with `concat!`. `impl_store!` expands the store traits for a
//! concrete store type (whose `pool` field is a sqlx pool); the statements use `$N` parameters,
//! which SQLite and PostgreSQL both accept. A statement whose dialects differ is passed in.

use baton_core::Cursor;
use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use crate::StoreError;

macro_rules! organization_columns {
    () => {
        "id, name, require_mfa, created_at, ai_budget_micros, retention_days"
    };
}
pub(crate) use organization_columns;
macro_rules! user_columns {
    () => {
        "id, email, name, password_hash, created_at, email_verified_at"
    };
}
pub(crate) use user_columns;
macro_rules! membership_columns {
    () => {
        "org_id, user_id, role, created_at"
    };
}
pub(crate) use membership_columns;
macro_rules! workflow_columns {
    () => {
        "id, org_id, key, name, current_version, active, created_by, created_at, updated_at"
    };
}
pub(crate) use workflow_columns;
macro_rules! version_columns {
    () => {
        "workflow_id, version, definition, created_by, created_at, note"
    };
}
pub(crate) use version_columns;
macro_rules! execution_columns {
    () => {
        "id, org_id, workflow_id, workflow_version, state, \
    trigger, run_as, input, output, error, input_tokens, output_tokens, cost_micros, created_at, \
    started_at, finished_at"
    };
}
pub(crate) use execution_columns;
macro_rules! step_run_columns {
    () => {
        "execution_id, step_key, state, input, output, error, \
    attempts, idempotency_key, input_tokens, output_tokens, cost_micros, started_at, finished_at"
    };
}
pub(crate) use step_run_columns;
macro_rules! job_columns {
    () => {
        "id, org_id, execution_id, kind, payload, run_at, attempts, \
    lease_owner, lease_until, created_at, workflow_id, workflow_limit, taken_over"
    };
}
pub(crate) use job_columns;
/// The claim's condition on a candidate job `j`: its workflow has fewer jobs leased (at `$3`)
/// than the workflow's `concurrency`, when it has one.
macro_rules! under_workflow_limit {
    () => {
        "(j.workflow_limit IS NULL OR (SELECT count(*) FROM jobs r WHERE r.workflow_id = j.workflow_id \
         AND r.workflow_limit IS NOT NULL AND r.lease_until >= $3) < j.workflow_limit)"
    };
}
pub(crate) use under_workflow_limit;
macro_rules! credential_columns {
    () => {
        "id, org_id, service, name, created_by, created_at, updated_at, reconnect_reason"
    };
}
pub(crate) use credential_columns;
macro_rules! session_columns {
    () => {
        "id, family_id, user_id, org_id, created_at, expires_at, used_at, revoked_at"
    };
}
pub(crate) use session_columns;
macro_rules! api_key_columns {
    () => {
        "id, org_id, name, role, prefix, created_by, created_at, last_used_at, revoked_at"
    };
}
pub(crate) use api_key_columns;
macro_rules! invite_columns {
    () => {
        "id, org_id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at"
    };
}
pub(crate) use invite_columns;
macro_rules! hook_columns {
    () => {
        "workflow_id, org_id, token, secret, created_at"
    };
}
pub(crate) use hook_columns;
macro_rules! audit_columns {
    () => {
        "id, org_id, actor, action, target, ip, user_agent, details, at"
    };
}
pub(crate) use audit_columns;

/// Times are stored to the microsecond, PostgreSQL's precision, so both backends read back
/// exactly what they were given.
pub(crate) fn stored_time(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(6)
}

pub(crate) fn now() -> DateTime<Utc> {
    stored_time(Utc::now())
}

pub(crate) fn id_cursor(id: Uuid) -> Cursor {
    Cursor::new(id.simple().to_string())
}

pub(crate) fn parse_id_cursor(cursor: Option<&Cursor>) -> Result<Option<Uuid>, StoreError> {
    cursor
        .map(|cursor| {
            Uuid::try_parse(cursor.as_str())
                .map_err(|_| StoreError::InvalidCursor(cursor.as_str().to_owned()))
        })
        .transpose()
}

pub(crate) fn parse_version_cursor(cursor: Option<&Cursor>) -> Result<Option<i32>, StoreError> {
    cursor
        .map(|cursor| {
            cursor
                .as_str()
                .parse::<i32>()
                .map_err(|_| StoreError::InvalidCursor(cursor.as_str().to_owned()))
        })
        .transpose()
}

/// Fetch one more row than the page holds, to know whether another page follows.
pub(crate) fn fetch_limit(page: &baton_core::PageRequest) -> i64 {
    i64::from(page.limit) + 1
}

/// The hook with a token and its workflow (not deleted), in one read: what a delivery needs.
/// Shared by both drivers (SQLite reads `$1` as the first parameter too).
pub(crate) const HOOK_TARGET_SQL: &str = "SELECT w.id, w.org_id, w.key, w.name, w.current_version, \
     w.active, w.created_by, w.created_at, w.updated_at, \
     h.token AS hook_token, h.secret AS hook_secret, h.created_at AS hook_created_at \
     FROM hooks h JOIN workflows w ON w.id = h.workflow_id AND w.org_id = h.org_id \
     WHERE h.token = $1 AND w.deleted_at IS NULL";

/// `HookStore::hook_by_token` through the pool (`pooled`) or the store's in-thread connection
/// (`in_thread`, SQLite: the webhook path, see ADR 0005).
macro_rules! hook_by_token {
    (pooled, $store:expr, $token:expr) => {{
        let row: Option<HookTargetRow> = sqlx::query_as($crate::sql::HOOK_TARGET_SQL)
            .bind($token)
            .fetch_optional(&$store.pool)
            .await?;
        Ok(row.map(Into::into))
    }};
    (in_thread, $store:expr, $token:expr) => {
        $store.hook_by_token_in_thread($token)
    };
}
pub(crate) use hook_by_token;

macro_rules! impl_store {
    (
        $store:ty,
        claim_sql = $claim_sql:expr,
        lock_workflow_sql = $lock_workflow_sql:expr,
        hook_by_token = $hook_by_token:ident
    ) => {
        use async_trait::async_trait;
        use baton_core::audit::{AuditEvent, AuditFilter, NewAuditEvent};
        use baton_core::credential::{Credential, NewCredential, SealedSecret};
        use baton_core::job::{Claim, Job, NewJob};
        use baton_core::organization::NewUser;
        use baton_core::api_key::{ApiKey, NewApiKey};
        use baton_core::session::{NewSession, Session};
        use baton_core::workflow::{NewVersion, NewWorkflow, Workflow, WorkflowVersion};
        use baton_core::{
            ApiKeyId, AuditEventId, CredentialId, JobId, Membership, OrgId, Organization, Page, SessionId,
            PageRequest, Role, User, UserId, WorkflowId,
        };
        use chrono::{DateTime, Utc};
        use sqlx::types::Json;

        use $crate::rows::*;
        use $crate::sql::*;
        use $crate::{
            AccountStore, AuditLog, CredentialStore, JobQueue, Result, StoreError,
            WorkflowStore,
        };

        impl $store {
            /// Deletes up to `limit` rows that `sql` picks (its `$1` a retention in days, `$2`
            /// the cutoff, `$3` the batch) for each retention in use (there are few), each a
            /// bounded batch, so the queue's writes are never held up for long. Nothing of the
            /// current month (UTC) goes: the month's AI spend is summed from it.
            async fn prune_by_retention(&self, now: DateTime<Utc>, limit: u32, sql: &'static str) -> Result<u64> {
                let kept: Vec<(i32,)> = sqlx::query_as(
                    "SELECT DISTINCT COALESCE(retention_days, 30) FROM organizations",
                )
                .fetch_all(&self.pool)
                .await?;
                let month = chrono::TimeZone::with_ymd_and_hms(
                    &Utc,
                    chrono::Datelike::year(&now),
                    chrono::Datelike::month(&now),
                    1,
                    0,
                    0,
                    0,
                )
                .single()
                .unwrap_or(now);
                let mut deleted = 0;
                for (days,) in kept {
                    if deleted >= u64::from(limit) {
                        break;
                    }
                    let before = (now - chrono::Duration::days(i64::from(days))).min(month);
                    let done = sqlx::query(sql)
                        .bind(days)
                        .bind(stored_time(before))
                        .bind(i64::from(limit) - deleted as i64)
                        .execute(&self.pool)
                        .await?;
                    deleted += done.rows_affected();
                }
                Ok(deleted)
            }
        }

        #[async_trait]
        impl AccountStore for $store {
            async fn create_organization(&self, name: &str, owner: UserId) -> Result<Organization> {
                let now = now();
                let id = OrgId::new();
                let mut transaction = self.pool.begin().await?;
                let row: OrganizationRow = sqlx::query_as(concat!(
                    "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3) \
                     RETURNING ", $crate::sql::organization_columns!(), ""
                ))
                .bind(id.as_uuid())
                .bind(name)
                .bind(now)
                .fetch_one(&mut *transaction)
                .await?;
                sqlx::query(
                    "INSERT INTO memberships (org_id, user_id, role, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(id.as_uuid())
                .bind(owner.as_uuid())
                .bind(Role::Owner.as_str())
                .bind(now)
                .execute(&mut *transaction)
                .await
                .map_err(|error| StoreError::on_missing(error, "user"))?;
                transaction.commit().await?;
                Ok(row.into())
            }

            async fn organization(&self, id: OrgId) -> Result<Option<Organization>> {
                let row: Option<OrganizationRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::organization_columns!(), " FROM organizations WHERE id = $1"
                ))
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn delete_organization(&self, id: OrgId) -> Result<()> {
                let mut transaction = self.pool.begin().await?;
                // Executions point at workflow versions; remove them first so that the cascade
                // from the organization to its workflows meets no reference.
                sqlx::query("DELETE FROM executions WHERE org_id = $1")
                    .bind(id.as_uuid())
                    .execute(&mut *transaction)
                    .await?;
                let deleted = sqlx::query("DELETE FROM organizations WHERE id = $1")
                    .bind(id.as_uuid())
                    .execute(&mut *transaction)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound("organization"));
                }
                // Allowed now that the organization is gone (the log's trigger checks).
                sqlx::query("DELETE FROM audit_events WHERE org_id = $1")
                    .bind(id.as_uuid())
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn create_user(&self, user: NewUser) -> Result<User> {
                let email = user.email.trim().to_lowercase();
                let row: UserRow = sqlx::query_as(concat!(
                    "INSERT INTO users (id, email, name, password_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING ", $crate::sql::user_columns!(), ""
                ))
                .bind(UserId::new().as_uuid())
                .bind(&email)
                .bind(&user.name)
                .bind(&user.password_hash)
                .bind(now())
                .fetch_one(&self.pool)
                .await
                .map_err(|error| {
                    StoreError::on_unique(error, || "a user with this email already exists".into())
                })?;
                Ok(row.into())
            }

            async fn user(&self, id: UserId) -> Result<Option<User>> {
                let row: Option<UserRow> =
                    sqlx::query_as(concat!("SELECT ", $crate::sql::user_columns!(), " FROM users WHERE id = $1"))
                        .bind(id.as_uuid())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn rename_user(&self, user: UserId, name: &str) -> Result<User> {
                let row: Option<UserRow> = sqlx::query_as(concat!(
                    "UPDATE users SET name = $2 WHERE id = $1 RETURNING ",
                    $crate::sql::user_columns!()
                ))
                .bind(user.as_uuid())
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.ok_or(StoreError::NotFound("user"))?.into())
            }

            async fn change_password(&self, user: UserId, password_hash: &str) -> Result<()> {
                let now = now();
                let mut transaction = self.pool.begin().await?;
                let changed = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                    .bind(user.as_uuid())
                    .bind(password_hash)
                    .execute(&mut *transaction)
                    .await?;
                if changed.rows_affected() == 0 {
                    return Err(StoreError::NotFound("user"));
                }
                sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                    .bind(user.as_uuid())
                    .bind(now)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
                let row: Option<UserRow> =
                    sqlx::query_as(concat!("SELECT ", $crate::sql::user_columns!(), " FROM users WHERE email = $1"))
                        .bind(email.trim().to_lowercase())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn add_member(&self, org: OrgId, user: UserId, role: Role) -> Result<Membership> {
                let row: MembershipRow = sqlx::query_as(concat!(
                    "INSERT INTO memberships (org_id, user_id, role, created_at) \
                     VALUES ($1, $2, $3, $4) RETURNING ", $crate::sql::membership_columns!(), ""
                ))
                .bind(org.as_uuid())
                .bind(user.as_uuid())
                .bind(role.as_str())
                .bind(now())
                .fetch_one(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing_or_unique(error, "organization or user", || {
                        "the user is already a member of this organization".into()
                    }))?;
                row.try_into()
            }

            async fn set_role(&self, org: OrgId, user: UserId, role: Role) -> Result<Membership> {
                let row: Option<MembershipRow> = sqlx::query_as(concat!(
                    "UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2 \
                     RETURNING ", $crate::sql::membership_columns!(), ""
                ))
                .bind(org.as_uuid())
                .bind(user.as_uuid())
                .bind(role.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.ok_or(StoreError::NotFound("membership"))?.try_into()
            }

            async fn remove_member(&self, org: OrgId, user: UserId) -> Result<()> {
                let deleted =
                    sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
                        .bind(org.as_uuid())
                        .bind(user.as_uuid())
                        .execute(&self.pool)
                        .await?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound("membership"));
                }
                Ok(())
            }

            async fn membership(&self, org: OrgId, user: UserId) -> Result<Option<Membership>> {
                let row: Option<MembershipRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::membership_columns!(), " FROM memberships WHERE org_id = $1 AND user_id = $2"
                ))
                .bind(org.as_uuid())
                .bind(user.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>> {
                let rows: Vec<MembershipRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::membership_columns!(), " FROM memberships WHERE user_id = $1 \
                     ORDER BY created_at, org_id"
                ))
                .bind(user.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn members(&self, org: OrgId, page: PageRequest) -> Result<Page<Membership>> {
                let after = parse_id_cursor(page.after.as_ref())?;
                let rows: Vec<MembershipRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::membership_columns!(), " FROM memberships \
                     WHERE org_id = $1 AND ($2 IS NULL OR user_id > $2) ORDER BY user_id LIMIT $3"
                ))
                .bind(org.as_uuid())
                .bind(after)
                .bind(fetch_limit(&page))
                .fetch_all(&self.pool)
                .await?;
                let members = rows
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<Result<Vec<Membership>>>()?;
                Ok(Page::from_rows(members, page.limit, |member| {
                    id_cursor(member.user_id.as_uuid())
                }))
            }

            async fn transfer_ownership(&self, org: OrgId, from: UserId, to: UserId) -> Result<()> {
                let mut transaction = self.pool.begin().await?;
                let promoted = sqlx::query(
                    "UPDATE memberships SET role = 'owner' WHERE org_id = $1 AND user_id = $2",
                )
                .bind(org.as_uuid())
                .bind(to.as_uuid())
                .execute(&mut *transaction)
                .await?;
                if promoted.rows_affected() == 0 {
                    return Err(StoreError::NotFound("membership"));
                }
                let demoted = sqlx::query(
                    "UPDATE memberships SET role = 'admin' \
                     WHERE org_id = $1 AND user_id = $2 AND role = 'owner'",
                )
                .bind(org.as_uuid())
                .bind(from.as_uuid())
                .execute(&mut *transaction)
                .await?;
                if demoted.rows_affected() == 0 {
                    return Err(StoreError::Conflict("only an Owner can hand over ownership".into()));
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn set_ai_budget(&self, org: OrgId, budget: Option<baton_core::Usd>) -> Result<Organization> {
                let row: Option<OrganizationRow> = sqlx::query_as(concat!(
                    "UPDATE organizations SET ai_budget_micros = $2 WHERE id = $1 RETURNING ",
                    $crate::sql::organization_columns!()
                ))
                .bind(org.as_uuid())
                .bind(budget.map(baton_core::Usd::micros))
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.ok_or(StoreError::NotFound("organization"))?.into())
            }

            async fn set_retention(&self, org: OrgId, days: Option<u32>) -> Result<Organization> {
                let row: Option<OrganizationRow> = sqlx::query_as(concat!(
                    "UPDATE organizations SET retention_days = $2 WHERE id = $1 RETURNING ",
                    $crate::sql::organization_columns!()
                ))
                .bind(org.as_uuid())
                .bind(days.map(|days| days as i32))
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.ok_or(StoreError::NotFound("organization"))?.into())
            }

            async fn prune_audit_events(&self, before: DateTime<Utc>, limit: u32) -> Result<u64> {
                let done = sqlx::query(
                    "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < $1 LIMIT $2)",
                )
                .bind(stored_time(before))
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn delete_user(&self, user: UserId) -> Result<()> {
                let gone = sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(user.as_uuid())
                    .execute(&self.pool)
                    .await?;
                if gone.rows_affected() == 0 {
                    return Err(StoreError::NotFound("user"));
                }
                Ok(())
            }

            async fn prune_executions(&self, now: DateTime<Utc>, limit: u32) -> Result<u64> {
                self.prune_by_retention(
                    now,
                    limit,
                    "DELETE FROM executions WHERE id IN (SELECT e.id FROM executions e \
                     JOIN organizations o ON o.id = e.org_id \
                     WHERE COALESCE(o.retention_days, 30) = $1 \
                     AND e.state IN ('COMPLETED', 'FAILED', 'CANCELLED') \
                     AND e.finished_at < $2 LIMIT $3)",
                )
                .await
            }

            async fn prune_ai_calls(&self, now: DateTime<Utc>, limit: u32) -> Result<u64> {
                self.prune_by_retention(
                    now,
                    limit,
                    "DELETE FROM ai_calls WHERE id IN (SELECT a.id FROM ai_calls a \
                     JOIN organizations o ON o.id = a.org_id \
                     WHERE COALESCE(o.retention_days, 30) = $1 AND a.created_at < $2 LIMIT $3)",
                )
                .await
            }

            async fn model_prices(&self, org: OrgId) -> Result<Vec<baton_core::price::ModelPrice>> {
                let rows: Vec<(String, String, f64, f64)> = sqlx::query_as(
                    "SELECT provider, model, input_usd, output_usd FROM model_prices \
                     WHERE org_id = $1 ORDER BY provider, model",
                )
                .bind(org.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(provider, model, input, output)| baton_core::price::ModelPrice {
                        provider,
                        model,
                        price: baton_core::price::Price { input, output },
                    })
                    .collect())
            }

            async fn set_model_price(&self, org: OrgId, price: &baton_core::price::ModelPrice) -> Result<()> {
                sqlx::query(
                    "INSERT INTO model_prices (org_id, provider, model, input_usd, output_usd, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, provider, model) \
                     DO UPDATE SET input_usd = excluded.input_usd, output_usd = excluded.output_usd, \
                     updated_at = excluded.updated_at",
                )
                .bind(org.as_uuid())
                .bind(&price.provider)
                .bind(&price.model)
                .bind(price.price.input)
                .bind(price.price.output)
                .bind(now())
                .execute(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing(error, "organization"))?;
                Ok(())
            }

            async fn delete_model_price(&self, org: OrgId, provider: &str, model: &str) -> Result<()> {
                let deleted = sqlx::query(
                    "DELETE FROM model_prices WHERE org_id = $1 AND provider = $2 AND model = $3",
                )
                .bind(org.as_uuid())
                .bind(provider)
                .bind(model)
                .execute(&self.pool)
                .await?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound("model price"));
                }
                Ok(())
            }

            async fn record_ai_call(&self, call: &baton_core::price::AiCall) -> Result<()> {
                sqlx::query(
                    "INSERT INTO ai_calls (id, org_id, source, api_key_id, provider, model, \
                     input_tokens, output_tokens, cost_micros, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(call.org_id.as_uuid())
                .bind(&call.source)
                .bind(call.api_key_id.map(|id| id.as_uuid()))
                .bind(&call.provider)
                .bind(&call.model)
                .bind(call.usage.input_tokens)
                .bind(call.usage.output_tokens)
                .bind(call.cost.micros())
                .bind(now())
                .execute(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing(error, "organization"))?;
                Ok(())
            }

            async fn ai_usage_by_key(
                &self,
                org: OrgId,
                since: DateTime<Utc>,
            ) -> Result<Vec<baton_core::price::KeyUsage>> {
                let rows: Vec<(uuid::Uuid, i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT api_key_id, CAST(COUNT(*) AS BIGINT), CAST(SUM(input_tokens) AS BIGINT), \
                     CAST(SUM(output_tokens) AS BIGINT), CAST(SUM(cost_micros) AS BIGINT) FROM ai_calls \
                     WHERE org_id = $1 AND api_key_id IS NOT NULL AND created_at >= $2 \
                     GROUP BY api_key_id ORDER BY 5 DESC, 2 DESC",
                )
                .bind(org.as_uuid())
                .bind(stored_time(since))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(key, requests, input_tokens, output_tokens, micros)| {
                        baton_core::price::KeyUsage {
                            api_key_id: baton_core::ApiKeyId::from_uuid(key),
                            requests,
                            usage: baton_core::execution::TokenUsage {
                                input_tokens,
                                output_tokens,
                            },
                            cost: baton_core::Usd::from_micros(micros),
                        }
                    })
                    .collect())
            }

            async fn ai_spend_since(&self, org: OrgId, since: DateTime<Utc>) -> Result<baton_core::Usd> {
                let (micros,): (i64,) = sqlx::query_as(
                    "SELECT CAST(COALESCE((SELECT SUM(s.cost_micros) FROM step_runs s \
                     JOIN executions e ON e.id = s.execution_id \
                     WHERE e.org_id = $1 AND s.cost_micros > 0 AND s.started_at >= $2), 0) \
                     + COALESCE((SELECT SUM(cost_micros) FROM ai_calls \
                     WHERE org_id = $1 AND created_at >= $2), 0) AS BIGINT)",
                )
                .bind(org.as_uuid())
                .bind(stored_time(since))
                .fetch_one(&self.pool)
                .await?;
                Ok(baton_core::Usd::from_micros(micros))
            }

            async fn rename_organization(&self, org: OrgId, name: &str) -> Result<Organization> {
                let row: Option<OrganizationRow> = sqlx::query_as(concat!(
                    "UPDATE organizations SET name = $2 WHERE id = $1 RETURNING ",
                    $crate::sql::organization_columns!()
                ))
                .bind(org.as_uuid())
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.ok_or(StoreError::NotFound("organization"))?.into())
            }

            async fn set_require_mfa(&self, org: OrgId, required: bool) -> Result<Organization> {
                let row: Option<OrganizationRow> = sqlx::query_as(concat!(
                    "UPDATE organizations SET require_mfa = $2 WHERE id = $1 RETURNING ",
                    $crate::sql::organization_columns!()
                ))
                .bind(org.as_uuid())
                .bind(required)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.ok_or(StoreError::NotFound("organization"))?.into())
            }
        }

        #[async_trait]
        impl WorkflowStore for $store {
            async fn create_workflow(
                &self,
                workflow: NewWorkflow,
            ) -> Result<(Workflow, WorkflowVersion)> {
                let now = now();
                let id = WorkflowId::new();
                let mut transaction = self.pool.begin().await?;
                let row: WorkflowRow = sqlx::query_as(concat!(
                    "INSERT INTO workflows \
                     (id, org_id, key, name, current_version, active, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $7) RETURNING ", $crate::sql::workflow_columns!(), ""
                ))
                .bind(id.as_uuid())
                .bind(workflow.org_id.as_uuid())
                .bind(&workflow.key)
                .bind(&workflow.name)
                .bind(false)
                .bind(workflow.created_by.map(|user| user.as_uuid()))
                .bind(now)
                .fetch_one(&mut *transaction)
                .await
                .map_err(|error| {
                    StoreError::on_unique(error, || {
                        format!("a workflow with id {:?} already exists", workflow.key)
                    })
                })?;
                let version: VersionRow = sqlx::query_as(concat!(
                    "INSERT INTO workflow_versions (workflow_id, version, definition, created_by, created_at) \
                     VALUES ($1, 1, $2, $3, $4) RETURNING ", $crate::sql::version_columns!(), ""
                ))
                .bind(id.as_uuid())
                .bind(Json(&workflow.definition))
                .bind(workflow.created_by.map(|user| user.as_uuid()))
                .bind(now)
                .fetch_one(&mut *transaction)
                .await?;
                transaction.commit().await?;
                Ok((row.into(), version.into()))
            }

            async fn save_version(&self, version: NewVersion) -> Result<(Workflow, WorkflowVersion)> {
                let now = now();
                let mut transaction = self.pool.begin().await?;
                // The update takes the row's write lock first, so concurrent saves number their
                // versions one after another.
                let row: Option<WorkflowRow> = sqlx::query_as(concat!(
                    "UPDATE workflows SET current_version = current_version + 1, name = $3, updated_at = $4 \
                     WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL \
                     AND ($5 IS NULL OR current_version = $5) RETURNING ", $crate::sql::workflow_columns!(), ""
                ))
                .bind(version.workflow_id.as_uuid())
                .bind(version.org_id.as_uuid())
                .bind(&version.name)
                .bind(now)
                .bind(version.base_version)
                .fetch_optional(&mut *transaction)
                .await?;
                let Some(row) = row else {
                    if let Some(base) = version.base_version
                        && self.workflow(version.org_id, version.workflow_id).await?.is_some()
                    {
                        return Err(StoreError::Conflict(format!(
                            "the workflow changed since version {base}: someone saved a newer version"
                        )));
                    }
                    return Err(StoreError::NotFound("workflow"));
                };
                let saved: VersionRow = sqlx::query_as(concat!(
                    "INSERT INTO workflow_versions (workflow_id, version, definition, created_by, created_at, note) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ", $crate::sql::version_columns!(), ""
                ))
                .bind(version.workflow_id.as_uuid())
                .bind(row.current_version)
                .bind(Json(&version.definition))
                .bind(version.created_by.map(|user| user.as_uuid()))
                .bind(now)
                .bind(version.note.as_deref())
                .fetch_one(&mut *transaction)
                .await?;
                transaction.commit().await?;
                Ok((row.into(), saved.into()))
            }

            async fn workflow(&self, org: OrgId, id: WorkflowId) -> Result<Option<Workflow>> {
                let row: Option<WorkflowRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::workflow_columns!(), " FROM workflows \
                     WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL"
                ))
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn workflow_by_key(&self, org: OrgId, key: &str) -> Result<Option<Workflow>> {
                let row: Option<WorkflowRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::workflow_columns!(), " FROM workflows \
                     WHERE org_id = $1 AND key = $2 AND deleted_at IS NULL"
                ))
                .bind(org.as_uuid())
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn workflow_version(
                &self,
                org: OrgId,
                id: WorkflowId,
                version: i32,
            ) -> Result<Option<WorkflowVersion>> {
                let row: Option<VersionRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::version_columns!(), " FROM workflow_versions \
                     WHERE workflow_id = $1 AND version = $2 \
                     AND EXISTS (SELECT 1 FROM workflows WHERE id = $1 AND org_id = $3)"
                ))
                .bind(id.as_uuid())
                .bind(version)
                .bind(org.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn list_workflows(&self, org: OrgId, page: PageRequest) -> Result<Page<Workflow>> {
                let after = parse_id_cursor(page.after.as_ref())?;
                let rows: Vec<WorkflowRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::workflow_columns!(), " FROM workflows \
                     WHERE org_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR id < $2) \
                     ORDER BY id DESC LIMIT $3"
                ))
                .bind(org.as_uuid())
                .bind(after)
                .bind(fetch_limit(&page))
                .fetch_all(&self.pool)
                .await?;
                let workflows = rows.into_iter().map(Workflow::from).collect();
                Ok(Page::from_rows(workflows, page.limit, |workflow| id_cursor(workflow.id.as_uuid())))
            }

            async fn workflow_activity(
                &self,
                org: OrgId,
                since: DateTime<Utc>,
            ) -> Result<Vec<baton_core::execution::WorkflowActivity>> {
                let rows: Vec<(uuid::Uuid, i64, i64, i64, DateTime<Utc>, String)> = sqlx::query_as(
                    "SELECT a.workflow_id, a.runs, a.completed, a.failed, a.last_at, \
                     (SELECT e.state FROM executions e WHERE e.workflow_id = a.workflow_id \
                      AND e.created_at = a.last_at AND e.trigger <> 'step_test' \
                      ORDER BY e.id DESC LIMIT 1) \
                     FROM (SELECT workflow_id, \
                           CAST(SUM(CASE WHEN created_at >= $2 THEN 1 ELSE 0 END) AS BIGINT) AS runs, \
                           CAST(SUM(CASE WHEN created_at >= $2 AND state = 'COMPLETED' THEN 1 ELSE 0 END) AS BIGINT) AS completed, \
                           CAST(SUM(CASE WHEN created_at >= $2 AND state = 'FAILED' THEN 1 ELSE 0 END) AS BIGINT) AS failed, \
                           MAX(created_at) AS last_at \
                           FROM executions WHERE org_id = $1 AND trigger <> 'step_test' \
                           GROUP BY workflow_id) a",
                )
                .bind(org.as_uuid())
                .bind(stored_time(since))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(workflow, runs, completed, failed, last_run_at, state)| {
                        Ok(baton_core::execution::WorkflowActivity {
                            workflow_id: WorkflowId::from_uuid(workflow),
                            runs,
                            completed,
                            failed,
                            last_run_at,
                            last_state: $crate::rows::parse("execution state", &state)?,
                        })
                    })
                    .collect()
            }

            async fn list_versions(
                &self,
                org: OrgId,
                id: WorkflowId,
                page: PageRequest,
            ) -> Result<Page<WorkflowVersion>> {
                let before = parse_version_cursor(page.after.as_ref())?;
                let rows: Vec<VersionRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::version_columns!(), " FROM workflow_versions \
                     WHERE workflow_id = $1 AND ($2 IS NULL OR version < $2) \
                     AND EXISTS (SELECT 1 FROM workflows WHERE id = $1 AND org_id = $3 AND deleted_at IS NULL) \
                     ORDER BY version DESC LIMIT $4"
                ))
                .bind(id.as_uuid())
                .bind(before)
                .bind(org.as_uuid())
                .bind(fetch_limit(&page))
                .fetch_all(&self.pool)
                .await?;
                let versions = rows.into_iter().map(WorkflowVersion::from).collect();
                Ok(Page::from_rows(versions, page.limit, |version: &WorkflowVersion| {
                    baton_core::Cursor::new(version.version.to_string())
                }))
            }

            async fn set_active(&self, org: OrgId, id: WorkflowId, active: bool) -> Result<Workflow> {
                let row: Option<WorkflowRow> = sqlx::query_as(concat!(
                    "UPDATE workflows SET active = $3, updated_at = $4 \
                     WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL RETURNING ", $crate::sql::workflow_columns!(), ""
                ))
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .bind(active)
                .bind(now())
                .fetch_optional(&self.pool)
                .await?;
                row.map(Into::into).ok_or(StoreError::NotFound("workflow"))
            }

            async fn active_workflows(&self) -> Result<Vec<Workflow>> {
                let rows: Vec<WorkflowRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::workflow_columns!(), " FROM workflows \
                     WHERE active = $1 AND deleted_at IS NULL ORDER BY id"
                ))
                .bind(true)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn delete_workflow(&self, org: OrgId, id: WorkflowId) -> Result<()> {
                let deleted = sqlx::query(
                    "UPDATE workflows SET deleted_at = $3, active = $4 \
                     WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL",
                )
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .bind(now())
                .bind(false)
                .execute(&self.pool)
                .await?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound("workflow"));
                }
                Ok(())
            }
        }

        impl $store {
            async fn claim_once<'c, E>(executor: E, claim: &Claim) -> Result<Option<Job>>
            where
                E: sqlx::Executor<'c, Database = <$store as $crate::sql::HasDatabase>::Database>,
            {
                let now = stored_time(claim.now);
                let row: Option<JobRow> = sqlx::query_as($claim_sql)
                    .bind(&claim.worker)
                    .bind(now + claim.lease)
                    .bind(now)
                    .bind(i64::from(claim.per_organization))
                    .fetch_optional(executor)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn insert_job<'c, E>(executor: E, job: &NewJob) -> Result<Job>
            where
                E: sqlx::Executor<'c, Database = <$store as $crate::sql::HasDatabase>::Database>,
            {
                let row: JobRow = sqlx::query_as(concat!(
                    "INSERT INTO jobs (id, org_id, execution_id, kind, payload, run_at, created_at, \
                     workflow_id, workflow_limit) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ", $crate::sql::job_columns!(), ""
                ))
                .bind(JobId::new().as_uuid())
                .bind(job.org_id.as_uuid())
                .bind(job.execution_id.as_uuid())
                .bind(&job.kind)
                .bind(Json(&job.payload))
                .bind(stored_time(job.run_at))
                .bind(now())
                .bind(job.workflow_id.as_uuid())
                .bind(job.workflow_limit.map(i64::from))
                .fetch_one(executor)
                .await
                .map_err(|error| StoreError::on_missing(error, "execution"))?;
                Ok(row.into())
            }
        }

        #[async_trait]
        impl JobQueue for $store {
            async fn enqueue(&self, job: NewJob) -> Result<Job> {
                Self::insert_job(&self.pool, &job).await
            }

            async fn claim(&self, claim: &Claim) -> Result<Option<Job>> {
                let lock_workflow: Option<&str> = $lock_workflow_sql;
                let Some(lock_workflow) = lock_workflow else {
                    // One statement under the database's single writer: the limits are exact.
                    return Self::claim_once(&self.pool, claim).await;
                };
                // Claimers running at once can each see a workflow under its limit. One that
                // took a job of a limited workflow counts again holding the workflow's lock,
                // and gives the job back when that makes one too many.
                for _ in 0..3 {
                    let mut transaction = self.pool.begin().await?;
                    let Some(job) = Self::claim_once(&mut *transaction, claim).await? else {
                        return Ok(None);
                    };
                    if let (Some(workflow), Some(limit)) = (job.workflow_id, job.workflow_limit) {
                        sqlx::query(lock_workflow)
                            .bind(workflow.as_uuid())
                            .execute(&mut *transaction)
                            .await?;
                        let (others,): (i64,) = sqlx::query_as(
                            "SELECT count(*) FROM jobs WHERE workflow_id = $1 \
                             AND workflow_limit IS NOT NULL AND lease_until >= $2 AND id <> $3",
                        )
                        .bind(workflow.as_uuid())
                        .bind(stored_time(claim.now))
                        .bind(job.id.as_uuid())
                        .fetch_one(&mut *transaction)
                        .await?;
                        if others >= i64::from(limit) {
                            transaction.rollback().await?;
                            continue;
                        }
                    }
                    transaction.commit().await?;
                    return Ok(Some(job));
                }
                Ok(None)
            }

            async fn queue_depth(&self, now: DateTime<Utc>) -> Result<(i64, Option<DateTime<Utc>>)> {
                let now = stored_time(now);
                let (waiting,): (i64,) = sqlx::query_as(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM jobs \
                     WHERE run_at <= $1 AND (lease_until IS NULL OR lease_until < $1)",
                )
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                let oldest: Option<(DateTime<Utc>,)> = sqlx::query_as(
                    "SELECT run_at FROM jobs WHERE run_at <= $1 \
                     AND (lease_until IS NULL OR lease_until < $1) ORDER BY run_at LIMIT 1",
                )
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok((waiting, oldest.map(|(at,)| at)))
            }

            async fn claim_job(&self, job: JobId, claim: &Claim) -> Result<Option<Job>> {
                let now = stored_time(claim.now);
                let row: Option<JobRow> = sqlx::query_as(concat!(
                    "UPDATE jobs SET taken_over = (lease_owner IS NOT NULL), lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
                     WHERE id = $4 AND (lease_until IS NULL OR lease_until < $3) RETURNING ",
                    $crate::sql::job_columns!()
                ))
                .bind(&claim.worker)
                .bind(now + claim.lease)
                .bind(now)
                .bind(job.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn request_cancel(&self, org: OrgId, execution: baton_core::ExecutionId) -> Result<bool> {
                let marked = sqlx::query(
                    "UPDATE jobs SET cancel_requested = $3 WHERE execution_id = $1 AND org_id = $2",
                )
                .bind(execution.as_uuid())
                .bind(org.as_uuid())
                .bind(true)
                .execute(&self.pool)
                .await?;
                Ok(marked.rows_affected() > 0)
            }

            async fn cancel_requested(&self, job: JobId) -> Result<bool> {
                let row: Option<(bool,)> = sqlx::query_as("SELECT cancel_requested FROM jobs WHERE id = $1")
                    .bind(job.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some_and(|(requested,)| requested))
            }

            async fn renew(&self, job: JobId, worker: &str, until: DateTime<Utc>) -> Result<bool> {
                let renewed =
                    sqlx::query("UPDATE jobs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2")
                        .bind(job.as_uuid())
                        .bind(worker)
                        .bind(stored_time(until))
                        .execute(&self.pool)
                        .await?;
                Ok(renewed.rows_affected() == 1)
            }

            async fn complete(&self, job: JobId, worker: &str) -> Result<bool> {
                let deleted = sqlx::query("DELETE FROM jobs WHERE id = $1 AND lease_owner = $2")
                    .bind(job.as_uuid())
                    .bind(worker)
                    .execute(&self.pool)
                    .await?;
                Ok(deleted.rows_affected() == 1)
            }

            async fn release(&self, job: JobId, worker: &str, run_at: DateTime<Utc>) -> Result<bool> {
                let released = sqlx::query(
                    "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, run_at = $3 \
                     WHERE id = $1 AND lease_owner = $2",
                )
                .bind(job.as_uuid())
                .bind(worker)
                .bind(stored_time(run_at))
                .execute(&self.pool)
                .await?;
                Ok(released.rows_affected() == 1)
            }

            async fn release_every_lease(&self) -> Result<u64> {
                let released = sqlx::query(
                    "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL",
                )
                .execute(&self.pool)
                .await?;
                Ok(released.rows_affected())
            }
        }

        #[async_trait]
        impl $crate::KeyStore for $store {
            async fn data_key(&self, org: OrgId) -> Result<Option<$crate::WrappedKey>> {
                let row: Option<(String, String, Vec<u8>)> = sqlx::query_as(
                    "SELECT key_id, master_key_id, wrapped FROM data_keys WHERE org_id = $1",
                )
                .bind(org.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(id, master_key_id, wrapped)| $crate::WrappedKey { id, master_key_id, wrapped }))
            }

            async fn add_data_key(&self, org: OrgId, key: $crate::WrappedKey) -> Result<$crate::WrappedKey> {
                sqlx::query(
                    "INSERT INTO data_keys (org_id, key_id, master_key_id, wrapped, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id) DO NOTHING",
                )
                .bind(org.as_uuid())
                .bind(&key.id)
                .bind(&key.master_key_id)
                .bind(&key.wrapped)
                .bind(now())
                .execute(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing(error, "organization"))?;
                self.data_key(org).await?.ok_or(StoreError::NotFound("organization"))
            }

            async fn data_keys_not_wrapped_by(
                &self,
                master_key_id: &str,
            ) -> Result<Vec<(OrgId, $crate::WrappedKey)>> {
                let rows: Vec<(uuid::Uuid, String, String, Vec<u8>)> = sqlx::query_as(
                    "SELECT org_id, key_id, master_key_id, wrapped FROM data_keys \
                     WHERE master_key_id <> $1 ORDER BY org_id",
                )
                .bind(master_key_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(org, id, master_key_id, wrapped)| {
                        (OrgId::from_uuid(org), $crate::WrappedKey { id, master_key_id, wrapped })
                    })
                    .collect())
            }

            async fn rewrap_data_key(
                &self,
                org: OrgId,
                from_master: &str,
                key: $crate::WrappedKey,
            ) -> Result<bool> {
                let updated = sqlx::query(
                    "UPDATE data_keys SET master_key_id = $3, wrapped = $4 \
                     WHERE org_id = $1 AND master_key_id = $2 AND key_id = $5",
                )
                .bind(org.as_uuid())
                .bind(from_master)
                .bind(&key.master_key_id)
                .bind(&key.wrapped)
                .bind(&key.id)
                .execute(&self.pool)
                .await?;
                Ok(updated.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl CredentialStore for $store {
            async fn create_credential(&self, credential: NewCredential) -> Result<Credential> {
                let now = now();
                let row: CredentialRow = sqlx::query_as(concat!(
                    "INSERT INTO credentials \
                     (id, org_id, service, name, key_id, ciphertext, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ", $crate::sql::credential_columns!(), ""
                ))
                .bind(CredentialId::new().as_uuid())
                .bind(credential.org_id.as_uuid())
                .bind(&credential.service)
                .bind(&credential.name)
                .bind(&credential.secret.key_id)
                .bind(&credential.secret.ciphertext)
                .bind(credential.created_by.map(|user| user.as_uuid()))
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(|error| {
                    StoreError::on_unique(error, || {
                        format!(
                            "a {} credential named {:?} already exists",
                            credential.service, credential.name
                        )
                    })
                })?;
                Ok(row.into())
            }

            async fn credential(&self, org: OrgId, id: CredentialId) -> Result<Option<Credential>> {
                let row: Option<CredentialRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::credential_columns!(), " FROM credentials WHERE id = $1 AND org_id = $2"
                ))
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn list_credentials(&self, org: OrgId, page: PageRequest) -> Result<Page<Credential>> {
                let after = parse_id_cursor(page.after.as_ref())?;
                let rows: Vec<CredentialRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::credential_columns!(), " FROM credentials \
                     WHERE org_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
                ))
                .bind(org.as_uuid())
                .bind(after)
                .bind(fetch_limit(&page))
                .fetch_all(&self.pool)
                .await?;
                let credentials = rows.into_iter().map(Credential::from).collect();
                Ok(Page::from_rows(credentials, page.limit, |credential| {
                    id_cursor(credential.id.as_uuid())
                }))
            }

            async fn sealed_secret(&self, org: OrgId, id: CredentialId) -> Result<Option<SealedSecret>> {
                let row: Option<(String, Vec<u8>)> = sqlx::query_as(
                    "SELECT key_id, ciphertext FROM credentials WHERE id = $1 AND org_id = $2",
                )
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(key_id, ciphertext)| SealedSecret { key_id, ciphertext }))
            }

            async fn update_secret(&self, org: OrgId, id: CredentialId, secret: SealedSecret) -> Result<()> {
                let updated = sqlx::query(
                    "UPDATE credentials SET key_id = $3, ciphertext = $4, updated_at = $5, \
                     reconnect_reason = NULL, refresh_until = NULL WHERE id = $1 AND org_id = $2",
                )
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .bind(&secret.key_id)
                .bind(&secret.ciphertext)
                .bind(now())
                .execute(&self.pool)
                .await?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::NotFound("credential"));
                }
                Ok(())
            }

            async fn needs_reconnect(&self, org: OrgId, id: CredentialId, reason: &str) -> Result<()> {
                let updated = sqlx::query(
                    "UPDATE credentials SET reconnect_reason = $3, updated_at = $4 WHERE id = $1 AND org_id = $2",
                )
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .bind(reason)
                .bind(now())
                .execute(&self.pool)
                .await?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::NotFound("credential"));
                }
                Ok(())
            }

            async fn service_credentials(&self, org: OrgId, service: &str) -> Result<Vec<Credential>> {
                let rows: Vec<CredentialRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::credential_columns!(), " FROM credentials \
                     WHERE org_id = $1 AND service = $2 ORDER BY id"
                ))
                .bind(org.as_uuid())
                .bind(service)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Credential::from).collect())
            }

            async fn claim_refresh(
                &self,
                org: OrgId,
                id: CredentialId,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool> {
                let claimed = sqlx::query(
                    "UPDATE credentials SET refresh_until = $3 WHERE id = $1 AND org_id = $2 \
                     AND (refresh_until IS NULL OR refresh_until <= $4)",
                )
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .bind($crate::sql::stored_time(until))
                .bind($crate::sql::stored_time(now))
                .execute(&self.pool)
                .await?;
                Ok(claimed.rows_affected() == 1)
            }

            async fn release_refresh(&self, org: OrgId, id: CredentialId) -> Result<()> {
                sqlx::query("UPDATE credentials SET refresh_until = NULL WHERE id = $1 AND org_id = $2")
                    .bind(id.as_uuid())
                    .bind(org.as_uuid())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn rename_credential(&self, org: OrgId, id: CredentialId, name: &str) -> Result<Credential> {
                let row: Option<CredentialRow> = sqlx::query_as(concat!(
                    "UPDATE credentials SET name = $3 WHERE id = $1 AND org_id = $2 RETURNING ",
                    $crate::sql::credential_columns!()
                ))
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(|error| {
                    StoreError::on_unique(error, || format!("another credential of this service is named {name:?}"))
                })?;
                Ok(row.ok_or(StoreError::NotFound("credential"))?.into())
            }

            async fn delete_credential(&self, org: OrgId, id: CredentialId) -> Result<()> {
                let deleted = sqlx::query("DELETE FROM credentials WHERE id = $1 AND org_id = $2")
                    .bind(id.as_uuid())
                    .bind(org.as_uuid())
                    .execute(&self.pool)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound("credential"));
                }
                Ok(())
            }
        }

        #[async_trait]
        impl $crate::CircuitStore for $store {
            async fn open_circuit(
                &self,
                org: OrgId,
                service: &str,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO circuits (org_id, service, open_until) VALUES ($1, $2, $3) \
                     ON CONFLICT (org_id, service) DO UPDATE SET open_until = CASE \
                     WHEN excluded.open_until > circuits.open_until THEN excluded.open_until \
                     ELSE circuits.open_until END",
                )
                .bind(org.as_uuid())
                .bind(service)
                .bind($crate::sql::stored_time(until))
                .execute(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing(error, "organization"))?;
                Ok(())
            }

            async fn close_circuit(&self, org: OrgId, service: &str) -> Result<()> {
                sqlx::query("DELETE FROM circuits WHERE org_id = $1 AND service = $2")
                    .bind(org.as_uuid())
                    .bind(service)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn open_circuits(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<(OrgId, String, chrono::DateTime<chrono::Utc>)>> {
                let rows: Vec<(uuid::Uuid, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
                    "SELECT org_id, service, open_until FROM circuits WHERE open_until > $1",
                )
                .bind($crate::sql::stored_time(now))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(org, service, until)| (OrgId::from_uuid(org), service, until))
                    .collect())
            }
        }

        #[async_trait]
        impl $crate::InsightStore for $store {
            async fn add_feedback(&self, feedback: &$crate::Feedback) -> Result<()> {
                sqlx::query(
                    "INSERT INTO feedback (id, org_id, user_id, kind, score, comment, page, last_error, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(feedback.id)
                .bind(feedback.org_id.as_uuid())
                .bind(feedback.user_id.map(|user| user.as_uuid()))
                .bind(&feedback.kind)
                .bind(feedback.score.map(i32::from))
                .bind(&feedback.comment)
                .bind(&feedback.page)
                .bind(&feedback.last_error)
                .bind($crate::sql::stored_time(feedback.created_at))
                .execute(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing(error, "organization"))?;
                Ok(())
            }

            async fn list_feedback(&self, org: OrgId, limit: u32) -> Result<Vec<$crate::Feedback>> {
                type FeedbackRow = (uuid::Uuid, Option<uuid::Uuid>, String, Option<i32>, String, Option<String>, Option<String>, DateTime<Utc>);
                let rows: Vec<FeedbackRow> = sqlx::query_as(
                    "SELECT id, user_id, kind, score, comment, page, last_error, created_at FROM feedback \
                     WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(org.as_uuid())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, user, kind, score, comment, page, last_error, created_at)| $crate::Feedback {
                        id,
                        org_id: org,
                        user_id: user.map(UserId::from_uuid),
                        kind,
                        score: score.and_then(|score| u8::try_from(score).ok()),
                        comment,
                        page,
                        last_error,
                        created_at,
                    })
                    .collect())
            }

            async fn usage(&self, org: OrgId, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<$crate::Usage> {
                let from = $crate::sql::stored_time(since);
                let mut days: std::collections::BTreeMap<chrono::NaiveDate, $crate::UsageDay> = std::collections::BTreeMap::new();
                let mut day = since.date_naive();
                while day <= now.date_naive() {
                    days.insert(day, $crate::UsageDay { day, ..Default::default() });
                    day = day.succ_opt().unwrap_or(day);
                    if days.len() > 400 {
                        break;
                    }
                }
                let created: Vec<(DateTime<Utc>,)> = sqlx::query_as(
                    "SELECT created_at FROM workflows WHERE org_id = $1 AND created_at >= $2",
                )
                .bind(org.as_uuid())
                .bind(from)
                .fetch_all(&self.pool)
                .await?;
                for (at,) in created {
                    if let Some(day) = days.get_mut(&at.date_naive()) {
                        day.workflows_created += 1;
                    }
                }
                let runs: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT state, finished_at FROM executions WHERE org_id = $1 AND finished_at >= $2 \
                     AND state IN ('COMPLETED', 'FAILED')",
                )
                .bind(org.as_uuid())
                .bind(from)
                .fetch_all(&self.pool)
                .await?;
                for (state, at) in runs {
                    if let Some(day) = days.get_mut(&at.date_naive()) {
                        if state == "COMPLETED" {
                            day.runs_completed += 1;
                        } else {
                            day.runs_failed += 1;
                        }
                    }
                }
                let actors: Vec<(uuid::Uuid, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT actor, at FROM audit_events WHERE org_id = $1 AND at >= $2 AND actor IS NOT NULL",
                )
                .bind(org.as_uuid())
                .bind(from)
                .fetch_all(&self.pool)
                .await?;
                let mut seen: std::collections::HashSet<(chrono::NaiveDate, uuid::Uuid)> = std::collections::HashSet::new();
                for (actor, at) in actors {
                    if seen.insert((at.date_naive(), actor))
                        && let Some(day) = days.get_mut(&at.date_naive())
                    {
                        day.active_people += 1;
                    }
                }
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                let templates: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT template_id, COUNT(*) FROM template_uses WHERE org_id = $1 AND used_at >= $2 \
                     GROUP BY template_id ORDER BY COUNT(*) DESC, template_id",
                )
                .bind(org.as_uuid())
                .bind(from)
                .fetch_all(&self.pool)
                .await?;
                let services: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT service, COUNT(*) FROM credentials WHERE org_id = $1 \
                     GROUP BY service ORDER BY COUNT(*) DESC, service",
                )
                .bind(org.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                Ok($crate::Usage {
                    days: days.into_values().collect(),
                    templates: templates.into_iter().map(|(id, n)| (id, count(n))).collect(),
                    services: services.into_iter().map(|(service, n)| (service, count(n))).collect(),
                })
            }
        }

        #[async_trait]
        impl $crate::NoticeStore for $store {
            async fn unclaimed_events(
                &self,
                since: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<$crate::NoticeEvent>> {
                type EventRow = (uuid::Uuid, uuid::Uuid, uuid::Uuid, String, Option<Json<serde_json::Value>>, DateTime<Utc>);
                let since = $crate::sql::stored_time(since);
                let failed: Vec<EventRow> = sqlx::query_as(
                    "SELECT e.org_id, e.workflow_id, e.id, 'failed', e.error, e.finished_at FROM executions e \
                     WHERE e.state = 'FAILED' AND e.finished_at >= $1 AND NOT EXISTS (SELECT 1 FROM notices n \
                     WHERE n.execution_id = e.id AND n.event = 'failed' AND n.recipient = '') \
                     ORDER BY e.finished_at LIMIT $2",
                )
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                let waiting: Vec<EventRow> = sqlx::query_as(
                    "SELECT e.org_id, e.workflow_id, e.id, 'approval:' || s.step_key, s.input, s.started_at \
                     FROM executions e JOIN step_runs s ON s.execution_id = e.id \
                     WHERE e.state = 'WAITING' AND s.state = 'WAITING' AND s.started_at >= $1 \
                     AND CAST(s.input AS TEXT) LIKE '%\"approvers\"%' AND NOT EXISTS (SELECT 1 FROM notices n \
                     WHERE n.execution_id = e.id AND n.event = 'approval:' || s.step_key AND n.recipient = '') \
                     ORDER BY s.started_at LIMIT $2",
                )
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                let mut events: Vec<$crate::NoticeEvent> = failed
                    .into_iter()
                    .chain(waiting)
                    .filter(|(_, _, _, event, detail, _)| {
                        event == "failed"
                            || detail.as_ref().is_some_and(|input| input.0.get("approvers").is_some())
                    })
                    .map(|(org, workflow, execution, event, detail, at)| $crate::NoticeEvent {
                        org_id: OrgId::from_uuid(org),
                        workflow_id: WorkflowId::from_uuid(workflow),
                        execution_id: baton_core::ExecutionId::from_uuid(execution),
                        event,
                        detail: detail.map(|detail| detail.0).unwrap_or(serde_json::Value::Null),
                        at,
                    })
                    .collect();
                events.sort_by_key(|event| event.at);
                events.truncate(limit as usize);
                Ok(events)
            }

            async fn claim_event(&self, event: &$crate::NoticeEvent, now: DateTime<Utc>) -> Result<bool> {
                let now = $crate::sql::stored_time(now);
                let claimed = sqlx::query(
                    "INSERT INTO notices (id, org_id, workflow_id, execution_id, event, recipient, detail, due_at, sent_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, '', '', $6, $6, $6) ON CONFLICT (execution_id, event, recipient) DO NOTHING",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(event.org_id.as_uuid())
                .bind(event.workflow_id.as_uuid())
                .bind(event.execution_id.as_uuid())
                .bind(&event.event)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing(error, "organization"))?;
                Ok(claimed.rows_affected() == 1)
            }

            async fn add_notice(&self, notice: &$crate::Notice) -> Result<()> {
                sqlx::query(
                    "INSERT INTO notices (id, org_id, workflow_id, execution_id, event, recipient, detail, due_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (execution_id, event, recipient) DO NOTHING",
                )
                .bind(notice.id)
                .bind(notice.org_id.as_uuid())
                .bind(notice.workflow_id.as_uuid())
                .bind(notice.execution_id.as_uuid())
                .bind(&notice.event)
                .bind(&notice.recipient)
                .bind(&notice.detail)
                .bind($crate::sql::stored_time(notice.due_at))
                .bind($crate::sql::stored_time(notice.created_at))
                .execute(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing(error, "organization"))?;
                Ok(())
            }

            async fn last_notice_sent(&self, workflow: WorkflowId, recipient: &str) -> Result<Option<DateTime<Utc>>> {
                let row: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(
                    "SELECT MAX(sent_at) FROM notices WHERE workflow_id = $1 AND recipient = $2",
                )
                .bind(workflow.as_uuid())
                .bind(recipient)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.and_then(|(at,)| at))
            }

            async fn next_notice_due(&self, workflow: WorkflowId, recipient: &str) -> Result<Option<DateTime<Utc>>> {
                let row: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(
                    "SELECT MIN(due_at) FROM notices WHERE workflow_id = $1 AND recipient = $2 AND sent_at IS NULL",
                )
                .bind(workflow.as_uuid())
                .bind(recipient)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.and_then(|(at,)| at))
            }

            async fn take_due_notices(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<$crate::Notice>> {
                type NoticeRow = (uuid::Uuid, uuid::Uuid, uuid::Uuid, uuid::Uuid, String, String, String, DateTime<Utc>, DateTime<Utc>);
                // `sent_at IS NULL` again outside the subquery: PostgreSQL checks it anew on a
                // row another notifier took meanwhile, and skips it.
                let mut rows: Vec<NoticeRow> = sqlx::query_as(
                    "UPDATE notices SET sent_at = $1 WHERE sent_at IS NULL AND id IN (SELECT id FROM notices \
                     WHERE sent_at IS NULL AND due_at <= $1 ORDER BY created_at, id LIMIT $2) \
                     RETURNING id, org_id, workflow_id, execution_id, event, recipient, detail, due_at, created_at",
                )
                .bind($crate::sql::stored_time(now))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.sort_by_key(|row| (row.8, row.0));
                Ok(rows
                    .into_iter()
                    .map(|(id, org, workflow, execution, event, recipient, detail, due_at, created_at)| $crate::Notice {
                        id,
                        org_id: OrgId::from_uuid(org),
                        workflow_id: WorkflowId::from_uuid(workflow),
                        execution_id: baton_core::ExecutionId::from_uuid(execution),
                        event,
                        recipient,
                        detail,
                        due_at,
                        created_at,
                    })
                    .collect())
            }

            async fn release_notices(&self, ids: &[uuid::Uuid]) -> Result<()> {
                let mut transaction = self.pool.begin().await?;
                for id in ids {
                    sqlx::query("UPDATE notices SET sent_at = NULL WHERE id = $1")
                        .bind(id)
                        .execute(&mut *transaction)
                        .await?;
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn forget_notices(&self, before: DateTime<Utc>) -> Result<u64> {
                let gone = sqlx::query("DELETE FROM notices WHERE sent_at IS NOT NULL AND sent_at < $1")
                    .bind($crate::sql::stored_time(before))
                    .execute(&self.pool)
                    .await?;
                Ok(gone.rows_affected())
            }

            async fn user_notify(&self, user: UserId) -> Result<String> {
                let row: Option<(String,)> = sqlx::query_as("SELECT notify FROM users WHERE id = $1")
                    .bind(user.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|(notify,)| notify).ok_or(StoreError::NotFound("user"))
            }

            async fn set_user_notify(&self, user: UserId, notify: &str) -> Result<()> {
                let updated = sqlx::query("UPDATE users SET notify = $1 WHERE id = $2")
                    .bind(notify)
                    .bind(user.as_uuid())
                    .execute(&self.pool)
                    .await?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::NotFound("user"));
                }
                Ok(())
            }
        }

        #[async_trait]
        impl $crate::TemplateStore for $store {
            async fn record_template_use(
                &self,
                org: OrgId,
                template: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<()> {
                sqlx::query("INSERT INTO template_uses (template_id, org_id, used_at) VALUES ($1, $2, $3)")
                    .bind(template)
                    .bind(org.as_uuid())
                    .bind($crate::sql::stored_time(at))
                    .execute(&self.pool)
                    .await
                    .map_err(|error| StoreError::on_missing(error, "organization"))?;
                Ok(())
            }

            async fn rate_template(
                &self,
                user: UserId,
                template: &str,
                stars: u8,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO template_ratings (template_id, user_id, stars, rated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (template_id, user_id) DO UPDATE SET stars = excluded.stars, rated_at = excluded.rated_at",
                )
                .bind(template)
                .bind(user.as_uuid())
                .bind(i32::from(stars))
                .bind($crate::sql::stored_time(at))
                .execute(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing(error, "user"))?;
                Ok(())
            }

            async fn template_stats(&self) -> Result<Vec<$crate::TemplateStats>> {
                let uses: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT template_id, COUNT(*) FROM template_uses GROUP BY template_id",
                )
                .fetch_all(&self.pool)
                .await?;
                let ratings: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT template_id, COUNT(*), CAST(SUM(stars) AS BIGINT) FROM template_ratings GROUP BY template_id",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut stats: std::collections::BTreeMap<String, $crate::TemplateStats> =
                    std::collections::BTreeMap::new();
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                for (template_id, used) in uses {
                    stats.entry(template_id.clone()).or_insert_with(|| $crate::TemplateStats {
                        template_id,
                        ..Default::default()
                    }).uses = count(used);
                }
                for (template_id, rated, stars) in ratings {
                    let entry = stats.entry(template_id.clone()).or_insert_with(|| $crate::TemplateStats {
                        template_id,
                        ..Default::default()
                    });
                    entry.ratings = count(rated);
                    entry.stars = count(stars);
                }
                Ok(stats.into_values().collect())
            }

            async fn add_org_template(
                &self,
                org: OrgId,
                template: &str,
                document: &serde_json::Value,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO org_templates (org_id, template_id, document, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(org.as_uuid())
                .bind(template)
                .bind(sqlx::types::Json(document))
                .bind($crate::sql::stored_time(at))
                .execute(&self.pool)
                .await
                .map_err(|error| {
                    StoreError::on_missing_or_unique(error, "organization", || {
                        format!("the organization already has a template {template:?}")
                    })
                })?;
                Ok(())
            }

            async fn org_templates(&self, org: OrgId) -> Result<Vec<serde_json::Value>> {
                let rows: Vec<(sqlx::types::Json<serde_json::Value>,)> = sqlx::query_as(
                    "SELECT document FROM org_templates WHERE org_id = $1 ORDER BY created_at, template_id",
                )
                .bind(org.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(document,)| document.0).collect())
            }

            async fn delete_org_template(&self, org: OrgId, template: &str) -> Result<()> {
                let deleted = sqlx::query("DELETE FROM org_templates WHERE org_id = $1 AND template_id = $2")
                    .bind(org.as_uuid())
                    .bind(template)
                    .execute(&self.pool)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound("template"));
                }
                Ok(())
            }

            async fn template_rating(&self, user: UserId, template: &str) -> Result<Option<u8>> {
                let stars: Option<(i32,)> = sqlx::query_as(
                    "SELECT stars FROM template_ratings WHERE template_id = $1 AND user_id = $2",
                )
                .bind(template)
                .bind(user.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                Ok(stars.and_then(|(stars,)| u8::try_from(stars).ok()))
            }
        }

        #[async_trait]
        impl AuditLog for $store {
            async fn record(&self, event: NewAuditEvent) -> Result<AuditEvent> {
                let row: AuditEventRow = sqlx::query_as(concat!(
                    "INSERT INTO audit_events (id, org_id, actor, action, target, ip, user_agent, details, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ", $crate::sql::audit_columns!(), ""
                ))
                .bind(AuditEventId::new().as_uuid())
                .bind(event.org_id.map(|org| org.as_uuid()))
                .bind(event.actor.map(|user| user.as_uuid()))
                .bind(&event.action)
                .bind(&event.target)
                .bind(&event.ip)
                .bind(&event.user_agent)
                .bind(Json(&event.details))
                .bind(now())
                .fetch_one(&self.pool)
                .await?;
                Ok(row.into())
            }

            async fn owner_of(&self, object: $crate::ObjectRef) -> Result<Option<OrgId>> {
                let row: Option<(uuid::Uuid,)> = match object {
                    $crate::ObjectRef::Execution(id) => {
                        sqlx::query_as("SELECT org_id FROM executions WHERE id = $1")
                            .bind(id.as_uuid())
                            .fetch_optional(&self.pool)
                            .await?
                    }
                    $crate::ObjectRef::Credential(id) => {
                        sqlx::query_as("SELECT org_id FROM credentials WHERE id = $1")
                            .bind(id.as_uuid())
                            .fetch_optional(&self.pool)
                            .await?
                    }
                };
                Ok(row.map(|(org,)| OrgId::from_uuid(org)))
            }

            async fn audit_events(
                &self,
                org: OrgId,
                filter: &AuditFilter,
                page: PageRequest,
            ) -> Result<Page<AuditEvent>> {
                let after = parse_id_cursor(page.after.as_ref())?;
                let rows: Vec<AuditEventRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::audit_columns!(), " FROM audit_events \
                     WHERE org_id = $1 AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR actor = $3) \
                     AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
                ))
                .bind(org.as_uuid())
                .bind(filter.action.as_deref())
                .bind(filter.actor.map(|user| user.as_uuid()))
                .bind(after)
                .bind(fetch_limit(&page))
                .fetch_all(&self.pool)
                .await?;
                let events = rows.into_iter().map(AuditEvent::from).collect();
                Ok(Page::from_rows(events, page.limit, |event| id_cursor(event.id.as_uuid())))
            }
        }

        impl $store {
            async fn insert_session<'c, E>(executor: E, session: &NewSession) -> Result<Session>
            where
                E: sqlx::Executor<'c, Database = <$store as $crate::sql::HasDatabase>::Database>,
            {
                let id = SessionId::new();
                let row: SessionRow = sqlx::query_as(concat!(
                    "INSERT INTO sessions (id, family_id, user_id, org_id, token_hash, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
                    $crate::sql::session_columns!()
                ))
                .bind(id.as_uuid())
                .bind(session.family_id.unwrap_or(id).as_uuid())
                .bind(session.user_id.as_uuid())
                .bind(session.org_id.as_uuid())
                .bind(&session.token_hash)
                .bind(now())
                .bind(stored_time(session.expires_at))
                .fetch_one(executor)
                .await
                .map_err(|error| StoreError::on_missing_or_unique(error, "user or organization", || "the session token already exists".into()))?;
                Ok(row.into())
            }
        }

        #[async_trait]
        impl $crate::SessionStore for $store {
            async fn create_session(&self, session: NewSession) -> Result<Session> {
                Self::insert_session(&self.pool, &session).await
            }

            async fn session_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<Session>> {
                let row: Option<SessionRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::session_columns!(), " FROM sessions WHERE token_hash = $1"
                ))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn rotate_session(&self, old: SessionId, next: NewSession) -> Result<Session> {
                let mut transaction = self.pool.begin().await?;
                let used = sqlx::query(
                    "UPDATE sessions SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
                )
                .bind(old.as_uuid())
                .bind(now())
                .execute(&mut *transaction)
                .await?;
                if used.rows_affected() == 0 {
                    return Err(StoreError::Conflict("the session was already used or revoked".into()));
                }
                let session = Self::insert_session(&mut *transaction, &next).await?;
                transaction.commit().await?;
                Ok(session)
            }

            async fn revoke_family(&self, family: SessionId) -> Result<()> {
                sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                    .bind(family.as_uuid())
                    .bind(now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn family_is_live(&self, family: SessionId) -> Result<bool> {
                let live: Option<(i32,)> = sqlx::query_as(
                    "SELECT 1 FROM sessions WHERE family_id = $1 AND revoked_at IS NULL AND expires_at > $2 LIMIT 1",
                )
                .bind(family.as_uuid())
                .bind(now())
                .fetch_optional(&self.pool)
                .await?;
                Ok(live.is_some())
            }

            async fn revoke_user_sessions(&self, user: UserId) -> Result<()> {
                sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                    .bind(user.as_uuid())
                    .bind(now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl $crate::AccessStore for $store {
            async fn create_invite(&self, invite: baton_core::access::NewInvite) -> Result<baton_core::access::Invite> {
                let row: InviteRow = sqlx::query_as(concat!(
                    "INSERT INTO invites (id, org_id, email, role, token_hash, invited_by, created_at, expires_at, mail_token_hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
                    $crate::sql::invite_columns!()
                ))
                .bind(baton_core::InviteId::new().as_uuid())
                .bind(invite.org_id.as_uuid())
                .bind(invite.email.trim().to_lowercase())
                .bind(invite.role.as_str())
                .bind(&invite.token_hash)
                .bind(invite.invited_by.map(|user| user.as_uuid()))
                .bind(now())
                .bind(stored_time(invite.expires_at))
                .bind(&invite.mail_token_hash)
                .fetch_one(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing_or_unique(error, "organization", || "the invite token already exists".into()))?;
                row.try_into()
            }

            async fn invite_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<baton_core::access::Invite>> {
                let row: Option<InviteRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::invite_columns!(), " FROM invites WHERE token_hash = $1"
                ))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn invite_by_mail_token_hash(&self, token_hash: &[u8]) -> Result<Option<baton_core::access::Invite>> {
                let row: Option<InviteRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::invite_columns!(), " FROM invites WHERE mail_token_hash = $1"
                ))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn create_email_verification(
                &self,
                user: UserId,
                email: &str,
                token_hash: &[u8],
                expires_at: DateTime<Utc>,
            ) -> Result<()> {
                let mut transaction = self.pool.begin().await?;
                // A newer link replaces the older ones.
                sqlx::query("DELETE FROM email_verifications WHERE user_id = $1 AND used_at IS NULL")
                    .bind(user.as_uuid())
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query(
                    "INSERT INTO email_verifications (token_hash, user_id, email, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(user.as_uuid())
                .bind(email)
                .bind(now())
                .bind(stored_time(expires_at))
                .execute(&mut *transaction)
                .await
                .map_err(|error| StoreError::on_missing(error, "user"))?;
                transaction.commit().await?;
                Ok(())
            }

            async fn verify_email(&self, token_hash: &[u8]) -> Result<Option<UserId>> {
                let now = now();
                let mut transaction = self.pool.begin().await?;
                let used: Option<(uuid::Uuid, String)> = sqlx::query_as(
                    "UPDATE email_verifications SET used_at = $2 \
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id, email",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *transaction)
                .await?;
                let Some((user, email)) = used else {
                    return Ok(None);
                };
                // The link proves the address it was sent to, and only while it is the account's.
                sqlx::query(
                    "UPDATE users SET email_verified_at = $3 WHERE id = $1 AND email = $2 AND email_verified_at IS NULL",
                )
                .bind(user)
                .bind(&email)
                .bind(now)
                .execute(&mut *transaction)
                .await?;
                transaction.commit().await?;
                Ok(Some(UserId::from_uuid(user)))
            }

            async fn mark_email_verified(&self, user: UserId) -> Result<()> {
                sqlx::query("UPDATE users SET email_verified_at = $2 WHERE id = $1 AND email_verified_at IS NULL")
                    .bind(user.as_uuid())
                    .bind(now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn release_email(&self, user: UserId, placeholder: &str) -> Result<bool> {
                let now = now();
                let mut transaction = self.pool.begin().await?;
                let released = sqlx::query(
                    "UPDATE users SET email = $2 WHERE id = $1 AND email_verified_at IS NULL",
                )
                .bind(user.as_uuid())
                .bind(placeholder)
                .execute(&mut *transaction)
                .await?;
                if released.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                    .bind(user.as_uuid())
                    .bind(now)
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query("DELETE FROM email_verifications WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query("DELETE FROM password_resets WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(true)
            }

            async fn open_invites(&self, org: OrgId, page: PageRequest) -> Result<Page<baton_core::access::Invite>> {
                let after = parse_id_cursor(page.after.as_ref())?;
                let rows: Vec<InviteRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::invite_columns!(), " FROM invites \
                     WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
                     AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
                ))
                .bind(org.as_uuid())
                .bind(now())
                .bind(after)
                .bind(fetch_limit(&page))
                .fetch_all(&self.pool)
                .await?;
                let invites = rows
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<Result<Vec<baton_core::access::Invite>>>()?;
                Ok(Page::from_rows(invites, page.limit, |invite| id_cursor(invite.id.as_uuid())))
            }

            async fn revoke_invite(&self, org: OrgId, id: baton_core::InviteId) -> Result<()> {
                let revoked = sqlx::query(
                    "UPDATE invites SET revoked_at = $3 \
                     WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL AND accepted_at IS NULL",
                )
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .bind(now())
                .execute(&self.pool)
                .await?;
                if revoked.rows_affected() == 0 {
                    return Err(StoreError::NotFound("invite"));
                }
                Ok(())
            }

            async fn accept_invite(&self, id: baton_core::InviteId, user: UserId) -> Result<Membership> {
                let now = now();
                let mut transaction = self.pool.begin().await?;
                let accepted: Option<(uuid::Uuid, String)> = sqlx::query_as(
                    "UPDATE invites SET accepted_at = $2 \
                     WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
                     RETURNING org_id, role",
                )
                .bind(id.as_uuid())
                .bind(now)
                .fetch_optional(&mut *transaction)
                .await?;
                let Some((org, role)) = accepted else {
                    return Err(StoreError::Conflict(
                        "the invitation was already used, was withdrawn or has expired".into(),
                    ));
                };
                let row: MembershipRow = sqlx::query_as(concat!(
                    "INSERT INTO memberships (org_id, user_id, role, created_at) \
                     VALUES ($1, $2, $3, $4) RETURNING ", $crate::sql::membership_columns!(), ""
                ))
                .bind(org)
                .bind(user.as_uuid())
                .bind(role)
                .bind(now)
                .fetch_one(&mut *transaction)
                .await
                .map_err(|error| {
                    StoreError::on_unique(error, || "you are already a member of this organization".into())
                })?;
                transaction.commit().await?;
                row.try_into()
            }

            async fn create_password_reset(
                &self,
                user: UserId,
                token_hash: &[u8],
                expires_at: DateTime<Utc>,
            ) -> Result<()> {
                let mut transaction = self.pool.begin().await?;
                // A newer link replaces the older ones, as its mail says.
                sqlx::query("UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
                    .bind(user.as_uuid())
                    .bind(now())
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query(
                    "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(token_hash)
                .bind(user.as_uuid())
                .bind(now())
                .bind(stored_time(expires_at))
                .execute(&mut *transaction)
                .await
                .map_err(|error| StoreError::on_unique(error, || "the reset token already exists".into()))?;
                transaction.commit().await?;
                Ok(())
            }

            async fn password_reset_user(&self, token_hash: &[u8]) -> Result<Option<User>> {
                let row: Option<UserRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::user_columns!(), " FROM users WHERE id = \
                     (SELECT user_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2)"
                ))
                .bind(token_hash)
                .bind(now())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn reset_password(&self, token_hash: &[u8], password_hash: &str) -> Result<Option<UserId>> {
                let now = now();
                let mut transaction = self.pool.begin().await?;
                let used: Option<(uuid::Uuid,)> = sqlx::query_as(
                    "UPDATE password_resets SET used_at = $2 \
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *transaction)
                .await?;
                let Some((user,)) = used else {
                    return Ok(None);
                };
                // The mailed link proved the mailbox too.
                sqlx::query("UPDATE users SET password_hash = $2, email_verified_at = COALESCE(email_verified_at, $3) WHERE id = $1")
                    .bind(user)
                    .bind(password_hash)
                    .bind(now)
                    .execute(&mut *transaction)
                    .await?;
                // The other links sent to this person stop working too.
                sqlx::query("UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
                    .bind(user)
                    .bind(now)
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                    .bind(user)
                    .bind(now)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(Some(UserId::from_uuid(user)))
            }

            async fn totp(&self, user: UserId) -> Result<Option<baton_core::access::Totp>> {
                let row: Option<TotpRow> =
                    sqlx::query_as("SELECT secret, enabled_at, last_step FROM totp WHERE user_id = $1")
                        .bind(user.as_uuid())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn begin_totp(&self, user: UserId, secret: &str) -> Result<()> {
                let mut transaction = self.pool.begin().await?;
                sqlx::query("DELETE FROM totp WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query("INSERT INTO totp (user_id, secret) VALUES ($1, $2)")
                    .bind(user.as_uuid())
                    .bind(secret)
                    .execute(&mut *transaction)
                    .await
                    .map_err(|error| StoreError::on_missing(error, "user"))?;
                transaction.commit().await?;
                Ok(())
            }

            async fn enable_totp(&self, user: UserId, recovery_code_hashes: &[Vec<u8>]) -> Result<()> {
                let mut transaction = self.pool.begin().await?;
                let enabled = sqlx::query("UPDATE totp SET enabled_at = $2 WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .bind(now())
                    .execute(&mut *transaction)
                    .await?;
                if enabled.rows_affected() == 0 {
                    return Err(StoreError::NotFound("two-factor enrolment"));
                }
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .execute(&mut *transaction)
                    .await?;
                for code in recovery_code_hashes {
                    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                        .bind(user.as_uuid())
                        .bind(code)
                        .execute(&mut *transaction)
                        .await?;
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn disable_totp(&self, user: UserId) -> Result<()> {
                let mut transaction = self.pool.begin().await?;
                sqlx::query("DELETE FROM totp WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn totp_secrets(&self) -> Result<Vec<(UserId, String)>> {
                let rows: Vec<(uuid::Uuid, String)> =
                    sqlx::query_as("SELECT user_id, secret FROM totp")
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|(user, secret)| (UserId::from_uuid(user), secret))
                    .collect())
            }

            async fn replace_totp_secret(&self, user: UserId, stored: &str, sealed: &str) -> Result<bool> {
                let replaced = sqlx::query("UPDATE totp SET secret = $3 WHERE user_id = $1 AND secret = $2")
                    .bind(user.as_uuid())
                    .bind(stored)
                    .bind(sealed)
                    .execute(&self.pool)
                    .await?;
                Ok(replaced.rows_affected() == 1)
            }

            async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
                let used = sqlx::query("UPDATE totp SET last_step = $2 WHERE user_id = $1 AND last_step < $2")
                    .bind(user.as_uuid())
                    .bind(step)
                    .execute(&self.pool)
                    .await?;
                Ok(used.rows_affected() == 1)
            }

            async fn use_recovery_code(&self, user: UserId, code_hash: &[u8]) -> Result<bool> {
                let used = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $3 \
                     WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                )
                .bind(user.as_uuid())
                .bind(code_hash)
                .bind(now())
                .execute(&self.pool)
                .await?;
                Ok(used.rows_affected() == 1)
            }

            async fn link_identity(&self, provider: &str, subject: &str, user: UserId) -> Result<()> {
                sqlx::query(
                    "INSERT INTO identities (provider, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(provider)
                .bind(subject)
                .bind(user.as_uuid())
                .bind(now())
                .execute(&self.pool)
                .await
                .map_err(|error| {
                    StoreError::on_unique(error, || "this identity is already linked to an account".into())
                })?;
                Ok(())
            }

            async fn user_by_identity(&self, provider: &str, subject: &str) -> Result<Option<User>> {
                let row: Option<UserRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::user_columns!(),
                    " FROM users WHERE id = (SELECT user_id FROM identities WHERE provider = $1 AND subject = $2)"
                ))
                .bind(provider)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }
        }

        #[async_trait]
        impl $crate::HookStore for $store {
            async fn ensure_hook(&self, org: OrgId, workflow: WorkflowId, token: &str) -> Result<baton_core::hook::Hook> {
                sqlx::query(
                    "INSERT INTO hooks (workflow_id, org_id, token, created_at) \
                     SELECT id, org_id, $3, $4 FROM workflows WHERE id = $1 AND org_id = $2 \
                     ON CONFLICT (workflow_id) DO NOTHING",
                )
                .bind(workflow.as_uuid())
                .bind(org.as_uuid())
                .bind(token)
                .bind(now())
                .execute(&self.pool)
                .await?;
                self.hook(org, workflow).await?.ok_or(StoreError::NotFound("workflow"))
            }

            async fn hook(&self, org: OrgId, workflow: WorkflowId) -> Result<Option<baton_core::hook::Hook>> {
                let row: Option<HookRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::hook_columns!(), " FROM hooks WHERE workflow_id = $1 AND org_id = $2"
                ))
                .bind(workflow.as_uuid())
                .bind(org.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn hook_by_token(
                &self,
                token: &str,
            ) -> Result<Option<(baton_core::hook::Hook, Workflow)>> {
                $crate::sql::hook_by_token!($hook_by_token, self, token)
            }

            async fn latest_delivery(&self, workflow: WorkflowId, prefix: &str) -> Result<Option<String>> {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT delivery_id FROM deliveries WHERE workflow_id = $1 AND delivery_id LIKE $2 ESCAPE '!' \
                     ORDER BY delivery_id DESC LIMIT 1",
                )
                .bind(workflow.as_uuid())
                .bind(format!(
                    "{}%",
                    prefix.replace('!', "!!").replace('%', "!%").replace('_', "!_")
                ))
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(id,)| id))
            }

            async fn poll_state(&self, workflow: WorkflowId) -> Result<Option<baton_core::hook::PollState>> {
                let row: Option<PollRow> = sqlx::query_as(
                    "SELECT cursor, looked_at, next_look_at, last_error FROM trigger_cursors WHERE workflow_id = $1",
                )
                .bind(workflow.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn claim_poll(
                &self,
                workflow: WorkflowId,
                now: chrono::DateTime<chrono::Utc>,
                next: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<baton_core::hook::PollState>> {
                // One statement: of servers claiming at once, the first moves the due time and
                // the others then find it in the future.
                let row: Option<PollRow> = sqlx::query_as(
                    "INSERT INTO trigger_cursors (workflow_id, cursor, updated_at, next_look_at) \
                     VALUES ($1, 'null', $2, $3) \
                     ON CONFLICT (workflow_id) DO UPDATE SET next_look_at = excluded.next_look_at \
                     WHERE trigger_cursors.next_look_at IS NULL OR trigger_cursors.next_look_at <= $2 \
                     RETURNING cursor, looked_at, next_look_at, last_error",
                )
                .bind(workflow.as_uuid())
                .bind($crate::sql::stored_time(now))
                .bind($crate::sql::stored_time(next))
                .fetch_optional(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing(error, "workflow"))?;
                row.map(TryInto::try_into).transpose()
            }

            async fn finish_poll(
                &self,
                workflow: WorkflowId,
                outcome: std::result::Result<&serde_json::Value, &str>,
            ) -> Result<()> {
                let now = now();
                let (cursor, error) = match outcome {
                    Ok(cursor) => (Some(cursor.to_string()), None),
                    Err(error) => (None, Some(error)),
                };
                sqlx::query(
                    "INSERT INTO trigger_cursors (workflow_id, cursor, updated_at, looked_at, last_error) \
                     VALUES ($1, COALESCE($2, 'null'), $3, $3, $4) \
                     ON CONFLICT (workflow_id) DO UPDATE SET \
                     cursor = COALESCE($2, trigger_cursors.cursor), updated_at = $3, looked_at = $3, last_error = $4",
                )
                .bind(workflow.as_uuid())
                .bind(cursor)
                .bind(now)
                .bind(error)
                .execute(&self.pool)
                .await
                .map_err(|error| StoreError::on_missing(error, "workflow"))?;
                Ok(())
            }

            async fn poll_now(&self, workflow: WorkflowId) -> Result<()> {
                sqlx::query("UPDATE trigger_cursors SET next_look_at = NULL WHERE workflow_id = $1")
                    .bind(workflow.as_uuid())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn forget_poll(&self, workflow: WorkflowId) -> Result<()> {
                sqlx::query("DELETE FROM trigger_cursors WHERE workflow_id = $1")
                    .bind(workflow.as_uuid())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_hook_secret(
                &self,
                org: OrgId,
                workflow: WorkflowId,
                secret: Option<&str>,
            ) -> Result<baton_core::hook::Hook> {
                let row: Option<HookRow> = sqlx::query_as(concat!(
                    "UPDATE hooks SET secret = $3 WHERE workflow_id = $1 AND org_id = $2 RETURNING ",
                    $crate::sql::hook_columns!()
                ))
                .bind(workflow.as_uuid())
                .bind(org.as_uuid())
                .bind(secret)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.ok_or(StoreError::NotFound("hook"))?.into())
            }
        }

        #[async_trait]
        impl $crate::ApiKeyStore for $store {
            async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey> {
                let row: ApiKeyRow = sqlx::query_as(concat!(
                    "INSERT INTO api_keys (id, org_id, name, role, key_hash, prefix, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
                    $crate::sql::api_key_columns!()
                ))
                .bind(ApiKeyId::new().as_uuid())
                .bind(key.org_id.as_uuid())
                .bind(&key.name)
                .bind(key.role.as_str())
                .bind(&key.key_hash)
                .bind(&key.prefix)
                .bind(key.created_by.map(|user| user.as_uuid()))
                .bind(now())
                .fetch_one(&self.pool)
                .await
                .map_err(|error| StoreError::on_unique(error, || "the key already exists".into()))?;
                row.try_into()
            }

            async fn list_api_keys(&self, org: OrgId, page: PageRequest) -> Result<Page<ApiKey>> {
                let after = parse_id_cursor(page.after.as_ref())?;
                let rows: Vec<ApiKeyRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::api_key_columns!(), " FROM api_keys \
                     WHERE org_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
                ))
                .bind(org.as_uuid())
                .bind(after)
                .bind(fetch_limit(&page))
                .fetch_all(&self.pool)
                .await?;
                let keys = rows.into_iter().map(TryInto::try_into).collect::<Result<Vec<ApiKey>>>()?;
                Ok(Page::from_rows(keys, page.limit, |key| id_cursor(key.id.as_uuid())))
            }

            async fn use_api_key(&self, key_hash: &[u8]) -> Result<Option<ApiKey>> {
                let row: Option<ApiKeyRow> = sqlx::query_as(concat!(
                    "UPDATE api_keys SET last_used_at = $2 WHERE key_hash = $1 AND revoked_at IS NULL RETURNING ",
                    $crate::sql::api_key_columns!()
                ))
                .bind(key_hash)
                .bind(now())
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn revoke_api_key(&self, org: OrgId, id: ApiKeyId) -> Result<()> {
                let revoked = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL",
                )
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .bind(now())
                .execute(&self.pool)
                .await?;
                if revoked.rows_affected() == 0 {
                    return Err(StoreError::NotFound("API key"));
                }
                Ok(())
            }
        }
    };
}

/// The [`ExecutionStore`](crate::ExecutionStore) over sqlx, for a store `impl_store!` was
/// expanded for (PostgreSQL; SQLite has its own, see `sqlite::executions`).
macro_rules! impl_execution_store {
    ($store:ty) => {
        use baton_core::ExecutionId;
        use baton_core::execution::{Execution, ExecutionFilter, ExecutionUpdate, NewExecution, StepRun};
        use $crate::ExecutionStore;

        impl $store {
            async fn insert_execution<'c, E>(executor: E, execution: &NewExecution) -> Result<Execution>
            where
                E: sqlx::Executor<'c, Database = <$store as $crate::sql::HasDatabase>::Database>,
            {
                let row: ExecutionRow = sqlx::query_as(concat!(
                    "INSERT INTO executions \
                     (id, org_id, workflow_id, workflow_version, state, trigger, run_as, input, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ", $crate::sql::execution_columns!(), ""
                ))
                .bind(execution.id.as_uuid())
                .bind(execution.org_id.as_uuid())
                .bind(execution.workflow_id.as_uuid())
                .bind(execution.workflow_version)
                .bind(baton_core::ExecutionState::Pending.as_str())
                .bind(execution.trigger.as_str())
                .bind(execution.run_as.map(|user| user.as_uuid()))
                .bind(Json(&execution.input))
                .bind(now())
                .fetch_one(executor)
                .await
                .map_err(|error| StoreError::on_missing_or_unique(error, "workflow version", || "the execution already exists".into()))?;
                row.try_into()
            }
        }

        #[async_trait]
        impl ExecutionStore for $store {
            async fn create_execution(&self, execution: NewExecution) -> Result<Execution> {
                Self::insert_execution(&self.pool, &execution).await
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
                let mut transaction = self.pool.begin().await?;
                let created = Self::insert_execution(&mut *transaction, &execution).await?;
                let job = Self::insert_job(&mut *transaction, &job).await?;
                transaction.commit().await?;
                Ok((created, job))
            }

            async fn create_delivered_execution(
                &self,
                execution: NewExecution,
                job: NewJob,
                delivery: $crate::Delivery<'_>,
            ) -> Result<(Execution, bool)> {
                let mut transaction = self.pool.begin().await?;
                // The delivery row goes first: a concurrent twin waits on its key, then sees it.
                let claimed = sqlx::query(
                    "INSERT INTO deliveries (workflow_id, delivery_id, execution_id, created_at, fingerprint) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workflow_id, delivery_id) DO NOTHING",
                )
                .bind(execution.workflow_id.as_uuid())
                .bind(delivery.id)
                .bind(execution.id.as_uuid())
                .bind(now())
                .bind(delivery.fingerprint)
                .execute(&mut *transaction)
                .await?;
                if claimed.rows_affected() == 0 {
                    transaction.rollback().await?;
                    let (first, fingerprint): (uuid::Uuid, Option<String>) = sqlx::query_as(
                        "SELECT execution_id, fingerprint FROM deliveries WHERE workflow_id = $1 AND delivery_id = $2",
                    )
                    .bind(execution.workflow_id.as_uuid())
                    .bind(delivery.id)
                    .fetch_one(&self.pool)
                    .await?;
                    let first = ExecutionId::from_uuid(first);
                    if let (Some(seen), Some(now)) = (fingerprint.as_deref(), delivery.fingerprint)
                        && seen != now
                    {
                        return Err(StoreError::DeliveryMismatch(first));
                    }
                    let found = self
                        .execution(execution.org_id, first)
                        .await?
                        .ok_or(StoreError::NotFound("execution"))?;
                    return Ok((found, false));
                }
                let created = Self::insert_execution(&mut *transaction, &execution).await?;
                Self::insert_job(&mut *transaction, &job).await?;
                transaction.commit().await?;
                Ok((created, true))
            }

            async fn prune_deliveries(&self, before: DateTime<Utc>) -> Result<u64> {
                let pruned = sqlx::query(
                    "DELETE FROM deliveries WHERE fingerprint IS NOT NULL AND created_at < $1",
                )
                .bind(stored_time(before))
                .execute(&self.pool)
                .await?;
                Ok(pruned.rows_affected())
            }

            async fn execution(&self, org: OrgId, id: ExecutionId) -> Result<Option<Execution>> {
                let row: Option<ExecutionRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::execution_columns!(), " FROM executions WHERE id = $1 AND org_id = $2"
                ))
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn transition(&self, update: ExecutionUpdate) -> Result<Execution> {
                update.from.transition(update.to)?;
                let at = stored_time(update.at);
                let started_at = (update.to == baton_core::ExecutionState::Running).then_some(at);
                let finished = matches!(
                    update.to,
                    baton_core::ExecutionState::Completed
                        | baton_core::ExecutionState::Failed
                        | baton_core::ExecutionState::Cancelled
                );
                // The fence is one more condition of the same statement; the job's row is
                // share-locked as it is read, so a concurrent claim waits for this write.
                let row: Option<ExecutionRow> = sqlx::query_as(concat!(
                    "UPDATE executions SET state = $3, output = $4, error = $5, \
                     started_at = COALESCE(started_at, $6), finished_at = $7, \
                     input_tokens = (SELECT COALESCE(SUM(input_tokens), 0) FROM step_runs WHERE execution_id = $1), \
                     output_tokens = (SELECT COALESCE(SUM(output_tokens), 0) FROM step_runs WHERE execution_id = $1), \
                     cost_micros = (SELECT COALESCE(SUM(cost_micros), 0) FROM step_runs WHERE execution_id = $1) \
                     WHERE id = $1 AND state = $2 AND ($8 IS NULL OR EXISTS \
                     (SELECT 1 FROM jobs WHERE id = $8 AND attempts = $9 FOR SHARE)) \
                     RETURNING ", $crate::sql::execution_columns!(), ""
                ))
                .bind(update.id.as_uuid())
                .bind(update.from.as_str())
                .bind(update.to.as_str())
                .bind(update.output.as_ref().map(Json))
                .bind(update.error.as_ref().map(Json))
                .bind(started_at)
                .bind(finished.then_some(at))
                .bind(update.fence.map(|fence| fence.job.as_uuid()))
                .bind(update.fence.map(|fence| fence.generation))
                .fetch_optional(&self.pool)
                .await?;
                if let (None, Some(fence)) = (&row, update.fence) {
                    Self::check_fence(&self.pool, fence).await?;
                }
                match row {
                    Some(row) => row.try_into(),
                    None => Err(StoreError::Conflict(format!(
                        "execution {} is not {} (it changed meanwhile, or does not exist)",
                        update.id, update.from
                    ))),
                }
            }

            async fn resume_failed(
                &self,
                id: ExecutionId,
                version: i32,
                forget: &[String],
            ) -> Result<Execution> {
                let mut transaction = self.pool.begin().await?;
                for key in forget {
                    sqlx::query("DELETE FROM step_runs WHERE execution_id = $1 AND (step_key = $2 OR substr(step_key, 1, length($2) + 1) = $2 || '[')")
                        .bind(id.as_uuid())
                        .bind(key)
                        .execute(&mut *transaction)
                        .await?;
                }
                let row: Option<ExecutionRow> = sqlx::query_as(concat!(
                    "UPDATE executions SET state = 'PENDING', workflow_version = $2, output = NULL, error = NULL, finished_at = NULL, \
                 input_tokens = (SELECT COALESCE(SUM(input_tokens), 0) FROM step_runs WHERE execution_id = $1), \
                 output_tokens = (SELECT COALESCE(SUM(output_tokens), 0) FROM step_runs WHERE execution_id = $1), \
                 cost_micros = (SELECT COALESCE(SUM(cost_micros), 0) FROM step_runs WHERE execution_id = $1) \
                 WHERE id = $1 AND state = 'FAILED' RETURNING ", $crate::sql::execution_columns!(), ""
                ))
                .bind(id.as_uuid())
                .bind(version)
                .fetch_optional(&mut *transaction)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::Conflict(format!(
                        "execution {id} is not FAILED (it changed meanwhile, or does not exist)"
                    )));
                };
                transaction.commit().await?;
                row.try_into()
            }

            async fn list_executions(
                &self,
                org: OrgId,
                filter: &ExecutionFilter,
                page: PageRequest,
            ) -> Result<Page<Execution>> {
                let after = parse_id_cursor(page.after.as_ref())?;
                let rows: Vec<ExecutionRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::execution_columns!(), " FROM executions \
                     WHERE org_id = $1 AND ($2 IS NULL OR workflow_id = $2) AND ($3 IS NULL OR state = $3) \
                     AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
                ))
                .bind(org.as_uuid())
                .bind(filter.workflow_id.map(|id| id.as_uuid()))
                .bind(filter.state.map(|state| state.as_str()))
                .bind(after)
                .bind(fetch_limit(&page))
                .fetch_all(&self.pool)
                .await?;
                let executions = rows
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<Result<Vec<Execution>>>()?;
                Ok(Page::from_rows(executions, page.limit, |execution| {
                    id_cursor(execution.id.as_uuid())
                }))
            }

            async fn save_step_run(
                &self,
                run: &StepRun,
                fence: Option<baton_core::job::Fence>,
            ) -> Result<()> {
                let Some(fence) = fence else {
                    return Self::upsert_step_run(&self.pool, run).await;
                };
                let mut transaction = self.pool.begin().await?;
                Self::check_fence(&mut *transaction, fence).await?;
                Self::upsert_step_run(&mut *transaction, run).await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn step_runs(&self, execution: ExecutionId) -> Result<Vec<StepRun>> {
                let rows: Vec<StepRunRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::sql::step_run_columns!(), " FROM step_runs WHERE execution_id = $1 ORDER BY id"
                ))
                .bind(execution.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn record_finished_execution(
                &self,
                execution: &Execution,
                steps: &[StepRun],
            ) -> Result<()> {
                $crate::check_finished_record(execution, steps)?;
                let mut transaction = self.pool.begin().await?;
                sqlx::query(concat!(
                    "INSERT INTO executions (", $crate::sql::execution_columns!(), ") \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                ))
                .bind(execution.id.as_uuid())
                .bind(execution.org_id.as_uuid())
                .bind(execution.workflow_id.as_uuid())
                .bind(execution.workflow_version)
                .bind(execution.state.as_str())
                .bind(execution.trigger.as_str())
                .bind(execution.run_as.map(|user| user.as_uuid()))
                .bind(Json(&execution.input))
                .bind(execution.output.as_ref().map(Json))
                .bind(execution.error.as_ref().map(Json))
                .bind(execution.usage.input_tokens)
                .bind(execution.usage.output_tokens)
                .bind(execution.cost.micros())
                .bind(stored_time(execution.created_at))
                .bind(execution.started_at.map(stored_time))
                .bind(execution.finished_at.map(stored_time))
                .execute(&mut *transaction)
                .await
                .map_err(|error| StoreError::on_missing_or_unique(error, "workflow version", || "the execution already exists".into()))?;
                for step in steps {
                    Self::upsert_step_run(&mut *transaction, step).await?;
                }
                transaction.commit().await?;
                Ok(())
            }
        }

        impl $store {
            /// [`StoreError::LeaseLost`] unless the fence's lease is the job's latest claim. The
            /// job's row stays share-locked until the caller's transaction ends, so a claim
            /// waits for the write and then sees it (or the write sees the claim and is refused).
            async fn check_fence<'c, E>(executor: E, fence: baton_core::job::Fence) -> Result<()>
            where
                E: sqlx::Executor<'c, Database = <$store as $crate::sql::HasDatabase>::Database>,
            {
                let claims: Option<i32> =
                    sqlx::query_scalar("SELECT attempts FROM jobs WHERE id = $1 FOR SHARE")
                        .bind(fence.job.as_uuid())
                        .fetch_optional(executor)
                        .await?;
                match claims {
                    Some(claims) if claims == fence.generation => Ok(()),
                    _ => Err(StoreError::LeaseLost(fence.job)),
                }
            }

            async fn upsert_step_run<'c, E>(executor: E, run: &StepRun) -> Result<()>
            where
                E: sqlx::Executor<'c, Database = <$store as $crate::sql::HasDatabase>::Database>,
            {
                sqlx::query(
                    "INSERT INTO step_runs (id, execution_id, step_key, state, input, output, error, \
                     attempts, idempotency_key, input_tokens, output_tokens, cost_micros, started_at, finished_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     ON CONFLICT (execution_id, step_key) DO UPDATE SET state = excluded.state, \
                     input = excluded.input, output = excluded.output, error = excluded.error, \
                     attempts = excluded.attempts, idempotency_key = excluded.idempotency_key, \
                     input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, \
                     cost_micros = excluded.cost_micros, started_at = excluded.started_at, \
                     finished_at = excluded.finished_at",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(run.execution_id.as_uuid())
                .bind(&run.step_key)
                .bind(run.state.as_str())
                .bind(run.input.as_ref().map(Json))
                .bind(run.output.as_ref().map(Json))
                .bind(run.error.as_ref().map(Json))
                .bind(run.attempts)
                .bind(&run.idempotency_key)
                .bind(run.usage.input_tokens)
                .bind(run.usage.output_tokens)
                .bind(run.cost.micros())
                .bind(run.started_at.map(stored_time))
                .bind(run.finished_at.map(stored_time))
                .execute(executor)
                .await
                .map_err(|error| StoreError::on_missing(error, "execution"))?;
                Ok(())
            }
        }

    };
}

pub(crate) use impl_execution_store;

/// Names the sqlx database a store type runs on.
pub(crate) trait HasDatabase {
    type Database: sqlx::Database;
}

pub(crate) use impl_store;
