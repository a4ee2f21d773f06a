//! How people get in: invitations to an organization, password resets, two-factor secrets.
//! Every token here is shown once (in a link or a QR code) and stored only as a hash, except
//! the TOTP secret, which the server needs to check codes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{InviteId, OrgId, UserId};
use crate::organization::Role;

/// An invitation to join an organization with a role. Its link works once, until it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub id: InviteId,
    pub org_id: OrgId,
    /// Lower-case; only the person signed in with this email may accept.
    pub email: String,
    pub role: Role,
    pub invited_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Invite {
    /// Whether it may still be accepted at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInvite {
    pub org_id: OrgId,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<UserId>,
    /// SHA-256 of the token in the link shown to the inviter (it needs the invitee to sign in
    /// as the invited email).
    pub token_hash: Vec<u8>,
    /// SHA-256 of the token in the link mailed to the invitee (it proves the mailbox).
    pub mail_token_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}

/// A user's time-based one-time password set-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Totp {
    /// The shared secret, base32 as authenticator apps show it.
    pub secret: String,
    /// When enrolment was confirmed with a first code; until then it is not asked for.
    pub enabled_at: Option<DateTime<Utc>>,
    /// The last 30-second step a code was accepted for: a code works once.
    pub last_step: i64,
}
