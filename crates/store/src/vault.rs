//! Secrets at rest, sealed by envelope encryption. Every organization has its own data key, made
//! on first use; a secret is sealed under it with AES-256-GCM, bound to the organization, so a
//! sealed value copied into another organization's rows does not open. Data keys are stored only
//! wrapped (AES-256-GCM again) by a master key that the operator keeps outside the database
//! (`BATON_MASTER_KEY`, or a key file in the data dir). Rotating the master key rewraps the data
//! keys; sealed secrets stay as they are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use baton_core::OrgId;
use baton_core::credential::SealedSecret;
use sha2::{Digest, Sha256};

use crate::{KeyStore, StoreError, WrappedKey};

const NONCE_BYTES: usize = 12;
/// How [`Vault::seal_text`] marks what it sealed.
const SEALED_TEXT: &str = "sealed:v1:";
/// How [`Vault::seal_for`] marks what it sealed under a master key.
const MASTER_SEALED_TEXT: &str = "sealed:m1:";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a master key must be 32 bytes in base64 (make one with `baton master-key new`): {0}")]
    BadMasterKey(String),
    #[error(
        "stored data keys are wrapped by master key {0}, which is not among the keys given: give \
         that key (first in BATON_MASTER_KEY or DATA_DIR/master.key; every server sharing a \
         database needs the same)"
    )]
    UnknownMasterKey(String),
    #[error("a sealed value does not open: wrong key or changed bytes")]
    Tampered,
}

/// The key that wraps the organizations' data keys. Its `Debug` shows only its id.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        Self::from_bytes(rand::random())
    }

    fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::digest(key);
        let id = digest[..6]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>();
        Self {
            id: format!("mk_{id}"),
            key,
        }
    }

    /// Reads a key written by [`MasterKey::to_base64`] (standard or URL-safe base64).
    pub fn from_base64(text: &str) -> Result<Self, VaultError> {
        key_from_base64(text)
            .map(Self::from_bytes)
            .map_err(VaultError::BadMasterKey)
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key)
    }

    /// A short name for the key that reveals nothing of it, e.g. `mk_3f2a9c01b7de`.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A 32-byte key in standard or URL-safe base64, surrounding blanks ignored; else what is wrong.
pub(crate) fn key_from_base64(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
        .map_err(|error| error.to_string())?;
    bytes
        .try_into()
        .map_err(|bytes: Vec<u8>| format!("{} bytes", bytes.len()))
}

/// The master keys an installation knows: the first wraps, every one unwraps (the others are
/// kept through a rotation until no data key needs them).
#[derive(Clone, Debug)]
pub struct MasterKeys(Vec<MasterKey>);

impl MasterKeys {
    /// `current` first, then older keys.
    pub fn new(current: MasterKey, older: Vec<MasterKey>) -> Self {
        let mut keys = vec![current];
        for key in older {
            if keys.iter().all(|known| known.id != key.id) {
                keys.push(key);
            }
        }
        Self(keys)
    }

    /// Keys in base64, separated by commas or lines; the first is current.
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let mut keys = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|part| !part.is_empty() && !part.starts_with('#'))
            .map(MasterKey::from_base64);
        let current = keys
            .next()
            .ok_or_else(|| VaultError::BadMasterKey("no key given".into()))??;
        Ok(Self::new(current, keys.collect::<Result<_, _>>()?))
    }

    pub fn current(&self) -> &MasterKey {
        &self.0[0]
    }

    pub fn all(&self) -> &[MasterKey] {
        &self.0
    }

    fn by_id(&self, id: &str) -> Option<&MasterKey> {
        self.0.iter().find(|key| key.id == id)
    }
}

/// An organization's data key, unwrapped, with the id its sealed values name.
struct DataKey {
    id: String,
    cipher: Aes256Gcm,
}

pub struct Vault {
    store: Arc<dyn KeyStore>,
    masters: MasterKeys,
    open_keys: Mutex<HashMap<OrgId, Arc<DataKey>>>,
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

fn seal_bytes(cipher: &Aes256Gcm, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_BYTES] = rand::random();
    let sealed = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM seals any message under 64 GiB");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

fn open_bytes(cipher: &Aes256Gcm, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
    if sealed.len() < NONCE_BYTES {
        return Err(VaultError::Tampered);
    }
    let (nonce, body) = sealed.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| VaultError::Tampered)?;
    cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: body, aad })
        .map_err(|_| VaultError::Tampered)
}

/// What a wrapped data key is bound to: its organization and its own id.
fn wrap_aad(org: OrgId, key_id: &str) -> Vec<u8> {
    let mut aad = org.as_uuid().as_bytes().to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

impl Vault {
    pub fn new(store: Arc<dyn KeyStore>, masters: MasterKeys) -> Self {
        Self {
            store,
            masters,
            open_keys: Mutex::default(),
        }
    }

    pub fn masters(&self) -> &MasterKeys {
        &self.masters
    }

    /// Seals `plaintext` under the organization's data key (made now if it has none).
    pub async fn seal(&self, org: OrgId, plaintext: &[u8]) -> Result<SealedSecret, VaultError> {
        let key = self.data_key(org).await?;
        Ok(SealedSecret {
            key_id: key.id.clone(),
            ciphertext: seal_bytes(&key.cipher, plaintext, org.as_uuid().as_bytes()),
        })
    }

    pub async fn open(&self, org: OrgId, sealed: &SealedSecret) -> Result<Vec<u8>, VaultError> {
        let key = self.data_key(org).await?;
        if key.id != sealed.key_id {
            return Err(VaultError::Tampered);
        }
        open_bytes(&key.cipher, &sealed.ciphertext, org.as_uuid().as_bytes())
    }

    /// Seals a short secret into one line of text (`sealed:v1:KEY_ID:BASE64`), for columns that
    /// hold text, such as a webhook's signing secret.
    pub async fn seal_text(&self, org: OrgId, secret: &str) -> Result<String, VaultError> {
        let sealed = self.seal(org, secret.as_bytes()).await?;
        Ok(format!(
            "{SEALED_TEXT}{}:{}",
            sealed.key_id,
            base64::engine::general_purpose::STANDARD.encode(sealed.ciphertext)
        ))
    }

    /// Opens what [`Vault::seal_text`] made. Text without its prefix was stored before secrets
    /// were sealed, and is returned as it is.
    pub async fn open_text(&self, org: OrgId, stored: &str) -> Result<String, VaultError> {
        let Some(sealed) = stored.strip_prefix(SEALED_TEXT) else {
            return Ok(stored.to_owned());
        };
        let (key_id, body) = sealed.split_once(':').ok_or(VaultError::Tampered)?;
        let ciphertext = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| VaultError::Tampered)?;
        let opened = self
            .open(
                org,
                &SealedSecret {
                    key_id: key_id.to_owned(),
                    ciphertext,
                },
            )
            .await?;
        String::from_utf8(opened).map_err(|_| VaultError::Tampered)
    }

    async fn data_key(&self, org: OrgId) -> Result<Arc<DataKey>, VaultError> {
        if let Some(key) = self
            .open_keys
            .lock()
            .ok()
            .and_then(|keys| keys.get(&org).cloned())
        {
            return Ok(key);
        }
        let wrapped = match self.store.data_key(org).await? {
            Some(wrapped) => wrapped,
            None => {
                let fresh: [u8; 32] = rand::random();
                let id = format!("dk_{}", uuid::Uuid::now_v7().simple());
                let master = self.masters.current();
                let candidate = WrappedKey {
                    wrapped: seal_bytes(&cipher(&master.key), &fresh, &wrap_aad(org, &id)),
                    id,
                    master_key_id: master.id.clone(),
                };
                // Two processes may make one at once: the first stored wins, both use it.
                self.store.add_data_key(org, candidate).await?
            }
        };
        let key = Arc::new(self.unwrap(org, &wrapped)?);
        if let Ok(mut keys) = self.open_keys.lock() {
            keys.insert(org, key.clone());
        }
        Ok(key)
    }

    fn unwrap(&self, org: OrgId, wrapped: &WrappedKey) -> Result<DataKey, VaultError> {
        Ok(DataKey {
            id: wrapped.id.clone(),
            cipher: cipher(&self.unwrap_bytes(org, wrapped)?),
        })
    }

    fn unwrap_bytes(&self, org: OrgId, wrapped: &WrappedKey) -> Result<[u8; 32], VaultError> {
        let master = self
            .masters
            .by_id(&wrapped.master_key_id)
            .ok_or_else(|| VaultError::UnknownMasterKey(wrapped.master_key_id.clone()))?;
        let bytes = open_bytes(
            &cipher(&master.key),
            &wrapped.wrapped,
            &wrap_aad(org, &wrapped.id),
        )?;
        bytes.try_into().map_err(|_| VaultError::Tampered)
    }

    /// Seals a short secret that belongs to no organization (a person's two-factor secret)
    /// under the current master key, bound to `context` (e.g. `totp:` and the user's id):
    /// `sealed:m1:MASTER_KEY_ID:BASE64`.
    pub fn seal_for(&self, context: &[u8], secret: &str) -> String {
        let master = self.masters.current();
        format!(
            "{MASTER_SEALED_TEXT}{}:{}",
            master.id,
            base64::engine::general_purpose::STANDARD.encode(seal_bytes(
                &cipher(&master.key),
                secret.as_bytes(),
                context
            ))
        )
    }

    /// Opens what [`Vault::seal_for`] made with any known master key. Text without its prefix
    /// was stored before such secrets were sealed, and is returned as it is.
    pub fn open_for(&self, context: &[u8], stored: &str) -> Result<String, VaultError> {
        let Some(sealed) = stored.strip_prefix(MASTER_SEALED_TEXT) else {
            return Ok(stored.to_owned());
        };
        let (master_id, body) = sealed.split_once(':').ok_or(VaultError::Tampered)?;
        let master = self
            .masters
            .by_id(master_id)
            .ok_or_else(|| VaultError::UnknownMasterKey(master_id.to_owned()))?;
        let ciphertext = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| VaultError::Tampered)?;
        let opened = open_bytes(&cipher(&master.key), &ciphertext, context)?;
        String::from_utf8(opened).map_err(|_| VaultError::Tampered)
    }

    /// Whether a value of [`Vault::seal_for`] should be sealed again: it is in clear, or sealed
    /// by a master key other than the current one.
    pub fn needs_sealing_again(&self, stored: &str) -> bool {
        match stored.strip_prefix(MASTER_SEALED_TEXT) {
            None => true,
            Some(sealed) => !sealed.starts_with(&format!("{}:", self.masters.current().id)),
        }
    }

    /// Rewraps with the current master key every data key wrapped by an older one; returns how
    /// many. Run at start and by `baton rotate-master-key`; after it, the older keys may go.
    pub async fn rewrap(&self) -> Result<usize, VaultError> {
        let current = self.masters.current();
        let mut count = 0;
        for (org, wrapped) in self.store.data_keys_not_wrapped_by(&current.id).await? {
            let bytes = self.unwrap_bytes(org, &wrapped)?;
            let rewrapped = WrappedKey {
                wrapped: seal_bytes(&cipher(&current.key), &bytes, &wrap_aad(org, &wrapped.id)),
                id: wrapped.id.clone(),
                master_key_id: current.id.clone(),
            };
            if self
                .store
                .rewrap_data_key(org, &wrapped.master_key_id, rewrapped)
                .await?
            {
                count += 1;
            }
        }
        Ok(count)
    }
}
