//! Stored workflows. A workflow is a named container; its definitions are numbered, immutable
//! versions. Every save is a new version, and an execution names the version it ran.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{OrgId, UserId, WorkflowId};

/// A workflow of one organization, with a pointer to its newest version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub id: WorkflowId,
    pub org_id: OrgId,
    /// The DSL document's own `id` (e.g. `wf_email_draft`), unique within the organization.
    pub key: String,
    pub name: String,
    pub current_version: i32,
    /// Whether its schedule and webhook triggers are on.
    pub active: bool,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One immutable definition of a workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowVersion {
    pub workflow_id: WorkflowId,
    pub version: i32,
    /// The DSL document as it was saved.
    pub definition: serde_json::Value,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    /// What the person who saved it said changed, if anything.
    pub note: Option<String>,
}

/// A workflow to create, with its first version.
#[derive(Clone, Debug, PartialEq)]
pub struct NewWorkflow {
    pub org_id: OrgId,
    pub key: String,
    pub name: String,
    pub definition: serde_json::Value,
    pub created_by: Option<UserId>,
}

/// A new version of an existing workflow.
#[derive(Clone, Debug, PartialEq)]
pub struct NewVersion {
    pub org_id: OrgId,
    pub workflow_id: WorkflowId,
    pub name: String,
    pub definition: serde_json::Value,
    pub created_by: Option<UserId>,
    /// The version the change was made from: saved only while it is still the current one
    /// (`StoreError::Conflict` otherwise), so that nobody overwrites a newer save unseen.
    /// `None` saves over whatever is current.
    pub base_version: Option<i32>,
    /// What changed, in the words of the person saving (optional).
    pub note: Option<String>,
}
