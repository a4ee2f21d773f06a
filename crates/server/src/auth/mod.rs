//! Authentication. So far: the password policy and hashing that sign-up, sign-in and resets use.

pub mod password;
