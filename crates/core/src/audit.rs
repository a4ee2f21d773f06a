//! The audit log: an append-only record of sensitive actions. Nothing edits or deletes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{AuditEventId, OrgId, UserId};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: AuditEventId,
    /// Absent for actions outside any organization (e.g. a failed sign-in).
    pub org_id: Option<OrgId>,
    pub actor: Option<UserId>,
    /// A stable dotted name, e.g. `auth.login_failed`, `workflow.updated`.
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewAuditEvent {
    pub org_id: Option<OrgId>,
    pub actor: Option<UserId>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
}

/// Which audit events to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<UserId>,
}
