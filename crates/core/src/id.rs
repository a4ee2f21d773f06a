//! Typed ids. Every id is a UUIDv7, so ids sort by creation time; lists page by id (keyset)
//! and a time filter can be turned into an id range.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id for a record created now.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "format": "uuid"})
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(formatter)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }
    };
}

define_id!(
    /// An organization (workspace): the unit of tenancy and billing.
    OrgId
);
define_id!(
    /// A person who signs in.
    UserId
);
define_id!(
    /// A workflow; its definitions live in numbered, immutable versions.
    WorkflowId
);
define_id!(
    /// One run of one workflow version.
    ExecutionId
);
define_id!(
    /// A unit of work in the durable queue.
    JobId
);
define_id!(
    /// A stored, encrypted credential for an external service.
    CredentialId
);
define_id!(
    /// An entry in the append-only audit log.
    AuditEventId
);
define_id!(
    /// A key a program authenticates with.
    ApiKeyId
);
define_id!(
    /// A sign-in session: one refresh token, or the family of rotations it started.
    SessionId
);
define_id!(
    /// An invitation to join an organization.
    InviteId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_later_sort_after_earlier_ones() {
        let first = ExecutionId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = ExecutionId::new();
        assert!(first < second);
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = WorkflowId::new();
        assert_eq!(id.to_string().parse::<WorkflowId>().unwrap(), id);
        assert!("not-a-uuid".parse::<WorkflowId>().is_err());
    }
}
