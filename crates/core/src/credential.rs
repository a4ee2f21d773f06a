//! Stored credentials. The store only ever sees ciphertext: encryption happens before a
//! credential reaches it, and the listing type has no field that could carry the secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{CredentialId, OrgId, UserId};

/// What may be shown about a credential: never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    pub id: CredentialId,
    pub org_id: OrgId,
    /// The connector's service id, e.g. `gmail`.
    pub service: String,
    pub name: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why the service has to be connected again (its grant was revoked); `None` while the
    /// credential works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_reason: Option<String>,
}

/// The encrypted secret of a credential, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// Which key sealed it, so that keys can be rotated.
    pub key_id: String,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SealedSecret")
            .field("key_id", &self.key_id)
            .field(
                "ciphertext",
                &format_args!("<{} bytes>", self.ciphertext.len()),
            )
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewCredential {
    pub org_id: OrgId,
    pub service: String,
    pub name: String,
    pub secret: SealedSecret,
    pub created_by: Option<UserId>,
}
