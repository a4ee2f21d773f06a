//! Authentication: sign-up, sign-in, sessions with rotating refresh tokens, the access-token
//! guard every protected handler takes, the password policy and hashing, and signing keys.

pub(crate) mod account;
pub mod guard;
pub mod mfa;
pub mod oidc;
pub mod password;
pub(crate) mod reset;
pub(crate) mod routes;
pub mod session;
pub mod throttle;
pub mod token;
pub(crate) mod verify;
