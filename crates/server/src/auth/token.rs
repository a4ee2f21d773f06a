//! Signed access tokens (HS256 JWTs of 15 minutes) and the keys that sign them. The keys live in
//! the data dir (`auth-keys.json`, mode 0600), made on first start. Rotating adds a new key that
//! signs from then on while the older ones still verify, so nobody is logged out at once.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use baton_core::{OrgId, SessionId, UserId};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::minutes(15);
/// How long a person who passed the first factor has to give the second.
pub const PENDING_LIFETIME: Duration = Duration::minutes(5);

/// The `typ` of an access token, and of a token that only proves a first factor passed.
const ACCESS_TYPE: &str = "JWT";
const PENDING_TYPE: &str = "baton-mfa-pending+jwt";

/// What an access token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: UserId,
    /// The organization the user is acting in.
    pub org: OrgId,
    /// The session family the token was issued for; ending it ends the token.
    pub sid: SessionId,
    /// Expiry and issue time, seconds since the epoch.
    pub exp: i64,
    pub iat: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is invalid or expired")]
    Invalid,
    #[error("the signing keys cannot be used: {0}")]
    Keys(String),
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    current: String,
    /// Key id → secret, hex-encoded.
    keys: BTreeMap<String, String>,
}

/// The signing keys: one signs, all verify.
pub struct Keyring {
    current: String,
    keys: BTreeMap<String, (EncodingKey, DecodingKey)>,
    path: Option<PathBuf>,
    file: KeyFile,
}

impl Keyring {
    /// Loads `auth-keys.json` from the data dir, creating it with one key when absent.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, TokenError> {
        let path = data_dir.join("auth-keys.json");
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|error| TokenError::Keys(format!("{}: {error}", path.display())))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let file = KeyFile {
                    current: String::new(),
                    keys: BTreeMap::new(),
                };
                let mut ring = Self::from_file(file, Some(path.clone()))?;
                ring.rotate()?;
                return Ok(ring);
            }
            Err(error) => return Err(TokenError::Keys(format!("{}: {error}", path.display()))),
        };
        Self::from_file(file, Some(path))
    }

    /// A keyring with one fresh key, kept only in memory.
    pub fn ephemeral() -> Result<Self, TokenError> {
        let mut ring = Self::from_file(
            KeyFile {
                current: String::new(),
                keys: BTreeMap::new(),
            },
            None,
        )?;
        ring.rotate()?;
        Ok(ring)
    }

    fn from_file(file: KeyFile, path: Option<PathBuf>) -> Result<Self, TokenError> {
        let mut keys = BTreeMap::new();
        for (id, secret) in &file.keys {
            let bytes = decode_hex(secret)
                .ok_or_else(|| TokenError::Keys(format!("key {id:?} is not hex")))?;
            keys.insert(id.clone(), key_pair(&bytes)?);
        }
        if !file.keys.is_empty() && !keys.contains_key(&file.current) {
            return Err(TokenError::Keys(format!(
                "the current key {:?} is missing",
                file.current
            )));
        }
        Ok(Self {
            current: file.current.clone(),
            keys,
            path,
            file,
        })
    }

    /// The id of the key that signs.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Adds a new signing key; the old ones keep verifying.
    pub fn rotate(&mut self) -> Result<(), TokenError> {
        let secret: [u8; 32] = rand::random();
        let id = format!("k{}", self.file.keys.len() + 1);
        self.keys.insert(id.clone(), key_pair(&secret)?);
        self.file.keys.insert(id.clone(), encode_hex(&secret));
        self.file.current = id.clone();
        self.current = id;
        self.save()
    }

    fn save(&self) -> Result<(), TokenError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let text = serde_json::to_string_pretty(&self.file)
            .map_err(|error| TokenError::Keys(error.to_string()))?;
        let temporary = path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&temporary)
            .and_then(|mut out| out.write_all(text.as_bytes()))
            .and_then(|()| std::fs::rename(&temporary, path));
        written.map_err(|error| TokenError::Keys(format!("{}: {error}", path.display())))
    }

    /// A signed access token for `user` acting in `org` within a session family, valid from
    /// `now` for 15 minutes.
    pub fn issue(
        &self,
        user: UserId,
        org: OrgId,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        self.sign(
            ACCESS_TYPE,
            user,
            org,
            session,
            now + ACCESS_TOKEN_LIFETIME,
            now,
        )
    }

    /// A token saying that `user` passed their first factor (a sign-in with Google) and may
    /// finish signing in to `org` with a two-factor code within five minutes. It is not an
    /// access token: [`Keyring::verify`] refuses it.
    pub fn issue_pending(
        &self,
        user: UserId,
        org: OrgId,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        self.sign(
            PENDING_TYPE,
            user,
            org,
            SessionId::new(),
            now + PENDING_LIFETIME,
            now,
        )
    }

    fn sign(
        &self,
        kind: &str,
        user: UserId,
        org: OrgId,
        session: SessionId,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            sub: user,
            org,
            sid: session,
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(kind.to_owned());
        header.kid = Some(self.current.clone());
        let (encoding, _) = &self.keys[&self.current];
        jsonwebtoken::encode(&header, &claims, encoding)
            .map_err(|error| TokenError::Keys(error.to_string()))
    }

    /// The claims of an access token signed by one of the keys, with HS256, not expired at
    /// `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        self.check(ACCESS_TYPE, token, now)
    }

    /// The claims of a pending two-factor token (see [`Keyring::issue_pending`]).
    pub fn verify_pending(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        self.check(PENDING_TYPE, token, now)
    }

    fn check(&self, kind: &str, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some(kind) {
            return Err(TokenError::Invalid);
        }
        let (_, decoding) = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(TokenError::Invalid)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp".to_owned()].into_iter().collect();
        let claims = jsonwebtoken::decode::<Claims>(token, decoding, &validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

fn key_pair(secret: &[u8]) -> Result<(EncodingKey, DecodingKey), TokenError> {
    let encoding =
        EncodingKey::from_secret(secret).map_err(|error| TokenError::Keys(error.to_string()))?;
    let decoding =
        DecodingKey::from_secret(secret).map_err(|error| TokenError::Keys(error.to_string()))?;
    Ok((encoding, decoding))
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Hex text to bytes; `None` when it is not hex.
pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    (text.len().is_multiple_of(2))
        .then(|| {
            (0..text.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let ring = Keyring::ephemeral().unwrap();
        let (user, org, now) = (UserId::new(), OrgId::new(), Utc::now());
        let token = ring.issue(user, org, SessionId::new(), now).unwrap();
        let claims = ring.verify(&token, now + Duration::minutes(14)).unwrap();
        assert_eq!((claims.sub, claims.org), (user, org));
        assert!(
            ring.verify(&token, now + Duration::minutes(15)).is_err(),
            "expired at 15 minutes"
        );
    }

    #[test]
    fn a_pending_two_factor_token_is_no_access_token_and_lasts_five_minutes() {
        let ring = Keyring::ephemeral().unwrap();
        let (user, org, now) = (UserId::new(), OrgId::new(), Utc::now());
        let pending = ring.issue_pending(user, org, now).unwrap();
        assert!(ring.verify(&pending, now).is_err(), "not an access token");
        let claims = ring
            .verify_pending(&pending, now + Duration::minutes(4))
            .unwrap();
        assert_eq!((claims.sub, claims.org), (user, org));
        assert!(
            ring.verify_pending(&pending, now + Duration::minutes(5))
                .is_err()
        );
        let access = ring.issue(user, org, SessionId::new(), now).unwrap();
        assert!(
            ring.verify_pending(&access, now).is_err(),
            "an access token does not stand in for a second factor"
        );
    }

    #[test]
    fn tampered_foreign_and_unsigned_tokens_are_refused() {
        let ring = Keyring::ephemeral().unwrap();
        let now = Utc::now();
        let token = ring
            .issue(UserId::new(), OrgId::new(), SessionId::new(), now)
            .unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = Claims {
            sub: UserId::new(),
            org: OrgId::new(),
            sid: SessionId::new(),
            iat: now.timestamp(),
            exp: now.timestamp() + 3600,
        };
        parts[1] = b64(&serde_json::to_vec(&forged).unwrap());
        assert!(
            ring.verify(&parts.join("."), now).is_err(),
            "tampered payload"
        );

        let unsigned = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
            parts[1]
        );
        assert!(ring.verify(&unsigned, now).is_err(), "alg none");

        let other = Keyring::ephemeral().unwrap();
        assert!(
            ring.verify(
                &other
                    .issue(UserId::new(), OrgId::new(), SessionId::new(), now)
                    .unwrap(),
                now
            )
            .is_err(),
            "another key"
        );
        assert!(ring.verify("not.a.token", now).is_err());
    }

    #[test]
    fn keys_persist_with_private_permissions_and_rotate_without_logging_out() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let mut ring = Keyring::load_or_create(dir.path()).unwrap();
        let before = ring
            .issue(UserId::new(), OrgId::new(), SessionId::new(), now)
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("auth-keys.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        ring.rotate().unwrap();
        let after = ring
            .issue(UserId::new(), OrgId::new(), SessionId::new(), now)
            .unwrap();
        let reloaded = Keyring::load_or_create(dir.path()).unwrap();
        assert!(
            reloaded.verify(&before, now).is_ok(),
            "a token of the old key still verifies"
        );
        assert!(reloaded.verify(&after, now).is_ok());
        assert_ne!(
            jsonwebtoken::decode_header(&before).unwrap().kid,
            jsonwebtoken::decode_header(&after).unwrap().kid
        );
    }
}
