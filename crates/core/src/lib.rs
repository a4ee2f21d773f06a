//! Baton's domain: typed ids, the records the platform keeps, roles, execution and step states
//! with their allowed transitions, error classes and money. Pure data and rules: no I/O, no async.

pub mod access;
pub mod api_key;
pub mod audit;
pub mod credential;
pub mod dsl;
pub mod error_class;
pub mod execution;
pub mod hook;
pub mod id;
pub mod job;
pub mod money;
pub mod organization;
pub mod page;
pub mod policy;
pub mod price;
pub mod session;
pub mod workflow;

pub use error_class::ErrorClass;
pub use execution::{ExecutionState, StepState, TransitionError};
pub use id::{
    ApiKeyId, AuditEventId, CredentialId, ExecutionId, InviteId, JobId, OrgId, SessionId, UserId,
    WorkflowId,
};
pub use money::Usd;
pub use organization::{Membership, Organization, Role, User};
pub use page::{Cursor, Page, PageRequest};
