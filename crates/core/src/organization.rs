//! Organizations, users and the roles that join them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::execution::UnknownState;
use crate::id::{OrgId, UserId};

/// A workspace: the unit of tenancy. Every object but a user belongs to exactly one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    /// Whether members must have two-factor sign-in turned on to act in it.
    pub require_mfa: bool,
    /// What its `llm` steps may spend in a calendar month (UTC); unlimited when absent.
    pub ai_monthly_budget_usd: Option<crate::Usd>,
    /// How many days its finished executions are kept ([`DEFAULT_RETENTION_DAYS`] when unset).
    pub retention_days: Option<u32>,
    pub created_at: DateTime<Utc>,
}

/// How many days finished executions are kept when the organization sets nothing.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// The most days an organization may keep its executions.
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// A person who can sign in. Emails are kept lower-case and are unique.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    /// An Argon2id PHC string; absent for users who only sign in through an identity provider.
    #[serde(skip_serializing)]
    pub password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the person proved they read mail at `email` (a mailed link, or a provider that
    /// vouches for it); `None` until then.
    pub email_verified_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
}

/// The seed's four roles, from most to least powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Self::Owner, Self::Admin, Self::Member, Self::Viewer];

    /// How much the role may do: Owner 3, Admin 2, Member 1, Viewer 0.
    pub const fn rank(self) -> u8 {
        match self {
            Self::Owner => 3,
            Self::Admin => 2,
            Self::Member => 1,
            Self::Viewer => 0,
        }
    }

    /// Whether this role may do at least what `other` may.
    pub const fn covers(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownState;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownState(text.to_owned()))
    }
}

/// A user's place in an organization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("superuser".parse::<Role>().is_err());
    }

    #[test]
    fn a_serialized_user_never_carries_its_password_hash() {
        let user = User {
            id: UserId::new(),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            password_hash: Some("$argon2id$v=19$secret".into()),
            created_at: Utc::now(),
            email_verified_at: None,
        };
        let json = serde_json::to_string(&user).unwrap();
        assert!(!json.contains("argon2id"), "{json}");
    }
}
