//! Sign-in sessions. Each refresh token is one session row, stored only as a hash; refreshing
//! rotates it into a new row of the same family, and presenting a used token again revokes the
//! whole family (it means the token was stolen).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{OrgId, SessionId, UserId};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    /// The first session of the chain of rotations this one belongs to.
    pub family_id: SessionId,
    pub user_id: UserId,
    /// The organization the user is acting in.
    pub org_id: OrgId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When its token was exchanged for the next one.
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Whether its token may still be exchanged at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    pub user_id: UserId,
    pub org_id: OrgId,
    /// The family to join; a new family when absent.
    pub family_id: Option<SessionId>,
    /// SHA-256 of the refresh token.
    pub token_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}
