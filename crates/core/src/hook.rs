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

/// Where a workflow's poll trigger stands. Servers take turns through it: the one that moves
/// `next_look_at` on looks, the others wait for the next time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PollState {
    /// Where the last look that succeeded stopped; none before the first.
    pub cursor: Option<serde_json::Value>,
    /// When the last look ended, well or not.
    pub looked_at: Option<DateTime<Utc>>,
    /// When the next look is due; none means now.
    pub next_look_at: Option<DateTime<Utc>>,
    /// Why the last look failed; none after a look that succeeded.
    pub error: Option<String>,
}
