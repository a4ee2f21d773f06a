//! Webhook triggers: a workflow with a `webhook` trigger gets an unguessable URL
//! (`/hooks/{token}`), and optionally a secret that callers sign their bodies with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{OrgId, WorkflowId};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    pub workflow_id: WorkflowId,
    pub org_id: OrgId,
    pub token: String,
    /// The HMAC-SHA256 key callers sign bodies with; unsigned calls are accepted when absent.
    #[serde(skip_serializing)]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
}
