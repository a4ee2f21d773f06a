//! Authentication. So far: the password policy and hashing, and the signed access tokens with
//! their rotating keys, that sign-up, sign-in and sessions are built on.

pub mod password;
pub mod token;
