//! Passwords: a policy for new ones (length, not a well-known password, not one character or a
//! plain sequence), Argon2id hashing with OWASP's parameters (19 MiB, 2 passes, 1 lane), and a
//! verification that takes as long for an unknown account as for a known one.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

pub const MIN_LENGTH: usize = 12;
/// Longer inputs are refused before hashing, so a huge password cannot tie up a core.
pub const MAX_LENGTH: usize = 256;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// Why a new password is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("the password must have at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("the password must have at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("this password is too common; choose one that others are unlikely to use")]
    Common,
    #[error("the password must not contain your email address")]
    ContainsEmail,
}

/// Checks a new password against the policy.
pub fn check_new(password: &str, email: &str) -> Result<(), PasswordProblem> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(PasswordProblem::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(PasswordProblem::TooLong);
    }
    let lowered = password.to_lowercase();
    if COMMON.contains(lowered.as_str()) || is_trivial(&lowered) {
        return Err(PasswordProblem::Common);
    }
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if local.len() >= 4 && lowered.contains(&local) {
        return Err(PasswordProblem::ContainsEmail);
    }
    Ok(())
}

/// Two characters or fewer repeated, or a run along a sequence people type without thinking:
/// digits (`123456789012`, wrapping round), the alphabet, or a keyboard row, either way.
fn is_trivial(password: &str) -> bool {
    let distinct: HashSet<char> = password.chars().collect();
    if distinct.len() <= 2 {
        return true;
    }
    const SEQUENCES: [&str; 3] = [
        "0123456789",
        "abcdefghijklmnopqrstuvwxyz",
        "qwertyuiopasdfghjklzxcvbnm",
    ];
    SEQUENCES.iter().any(|sequence| {
        let cycle = sequence.repeat(password.len() / sequence.len() + 2);
        let backwards: String = cycle.chars().rev().collect();
        cycle.contains(password) || backwards.contains(password)
    })
}

/// The PHC string of an Argon2id hash of `password`.
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

/// Whether `password` matches the stored hash.
/// [`hash`] on a blocking thread: Argon2 takes tens of milliseconds of CPU.
pub async fn hash_blocking(password: String) -> Result<String, crate::ApiError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|error| crate::ApiError::Internal(error.to_string()))?
        .map_err(|error| crate::ApiError::Internal(error.to_string()))
}

pub fn verify(password: &str, phc: &str) -> bool {
    password.chars().count() <= MAX_LENGTH
        && Argon2::default()
            .verify_password(password.as_bytes(), phc)
            .is_ok()
}

/// Spends the time of one verification, for sign-ins to accounts that do not exist, so that
/// the answer's timing does not reveal whether the email is registered.
pub fn verify_nothing(password: &str) {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash("a password nobody has, to spend time").unwrap_or_default());
    let _ = verify(password, &DUMMY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_passwords_follow_the_policy() {
        assert_eq!(
            check_new("short", "ann@example.com"),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(
            check_new(&"x1".repeat(200), "ann@example.com"),
            Err(PasswordProblem::TooLong)
        );
        for common in [
            "password1234",
            "Password1234",
            "qwerty123456",
            "aaaaaaaaaaaaaaaa",
            "123456789012345",
            "abcdefghijklmnop",
            "ababababababab",
        ] {
            assert_eq!(
                check_new(common, "ann@example.com"),
                Err(PasswordProblem::Common),
                "{common}"
            );
        }
        assert_eq!(
            check_new("annabelle-rocks-99", "annabelle@example.com"),
            Err(PasswordProblem::ContainsEmail)
        );
        assert_eq!(
            check_new("correct horse battery staple", "ann@example.com"),
            Ok(())
        );
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let phc = hash("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery staple", &phc));
        assert!(!verify("correct horse battery stapler", &phc));
        assert!(!verify("anything", "not a hash"));
        assert_ne!(
            hash("same").unwrap(),
            hash("same").unwrap(),
            "each hash has its own salt"
        );
    }
}
