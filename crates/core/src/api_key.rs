//! API keys: how programs call the API. Each belongs to one organization and carries a role;
//! the key itself is shown once at creation and stored only as a hash.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{ApiKeyId, OrgId, UserId};
use crate::organization::Role;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub name: String,
    pub role: Role,
    /// The key's first characters, to tell keys apart in a list.
    pub prefix: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApiKey {
    pub org_id: OrgId,
    pub name: String,
    pub role: Role,
    /// SHA-256 of the key.
    pub key_hash: Vec<u8>,
    pub prefix: String,
    pub created_by: Option<UserId>,
}
