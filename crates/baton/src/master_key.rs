//! The master key that wraps every organization's data key (see `baton_store::vault`). It comes
//! from `BATON_MASTER_KEY` (base64 keys, comma-separated, the first current), or else from a
//! key file (one key per line, the first current): `BATON_MASTER_KEY_FILE`, or by default
//! `DATA_DIR/master.key`, which the first start makes with mode 0600 (and warns about: a copy of
//! the data folder would then carry its key). Without it the stored credentials cannot be opened: back it up apart from the
//! database.
//!
//! `baton rotate-master-key` puts a new key first in the file and rewraps every data key with
//! it; the older keys stay in the file, since a server still running with them may wrap one
//! more data key before it restarts (each start rewraps those too). With `BATON_MASTER_KEY`, the
//! command prints a new key to put first in the variable instead.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use baton_store::Store;
use baton_store::vault::{MasterKey, MasterKeys, Vault};

use crate::cli::CommonArgs;
use crate::settings::{CommonSettings, SettingError};
use crate::startup;

const SETTING: &str = "master key (BATON_MASTER_KEY)";

/// The key file: `BATON_MASTER_KEY_FILE`, else `DATA_DIR/master.key`.
fn key_file(settings: &CommonSettings) -> PathBuf {
    settings
        .master_key_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("master.key"))
}

/// Whether `file` lies inside `folder` (both as they resolve on disk, when they exist).
fn is_inside(file: &Path, folder: &Path) -> bool {
    let resolve = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let file = match (file.parent(), file.file_name()) {
        (Some(parent), Some(name)) => resolve(parent).join(name),
        _ => resolve(file),
    };
    file.starts_with(resolve(folder))
}

/// The master keys from the environment, or the key file (made now if missing).
pub fn load(settings: &CommonSettings) -> Result<MasterKeys, SettingError> {
    if let Some(keys) = &settings.master_key {
        return MasterKeys::parse(keys)
            .map_err(|error| SettingError::new(SETTING, error.to_string()));
    }
    let path = key_file(settings);
    if is_inside(&path, &settings.data_dir) {
        tracing::warn!(
            file = %path.display(),
            "the master key is kept inside the data folder, so a copy of the folder opens every stored credential; keep it elsewhere (BATON_MASTER_KEY, or BATON_MASTER_KEY_FILE outside the folder)"
        );
    }
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            if let Ok(metadata) = std::fs::metadata(&path)
                && metadata.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(file = %path.display(), "the master key file is readable by others than its owner; chmod 600 it");
            }
            MasterKeys::parse(&text)
                .map_err(|error| SettingError::new(SETTING, format!("{}: {error}", path.display())))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let keys = MasterKeys::new(MasterKey::generate(), Vec::new());
            write_key_file(&path, &keys, true)?;
            tracing::info!(file = %path.display(), key = keys.current().id(), "made a master key; back it up apart from the database");
            Ok(keys)
        }
        Err(error) => Err(SettingError::new(
            SETTING,
            format!("cannot read {}: {error}", path.display()),
        )),
    }
}

/// Writes the keys, the current first, with mode 0600: into a new file when `fresh`, else
/// through a temporary file renamed over the old one.
fn write_key_file(path: &Path, keys: &MasterKeys, fresh: bool) -> Result<(), SettingError> {
    let text: String = keys
        .all()
        .iter()
        .map(|key| format!("{}\n", key.to_base64()))
        .collect();
    let target = if fresh {
        path.to_path_buf()
    } else {
        path.with_extension("key.new")
    };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(fresh)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&target)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| {
            if fresh {
                Ok(())
            } else {
                std::fs::rename(&target, path)
            }
        });
    written.map_err(|error| {
        SettingError::new(SETTING, format!("cannot write {}: {error}", path.display()))
    })
}

/// The vault over `store`, after rewrapping any data key an older master key still wraps.
pub async fn vault(store: Arc<dyn Store>, masters: MasterKeys) -> Result<Arc<Vault>, SettingError> {
    let vault = Vault::new(store.clone(), masters);
    let rewrapped = vault
        .rewrap()
        .await
        .map_err(|error| SettingError::new(SETTING, error.to_string()))?;
    if rewrapped > 0 {
        tracing::info!(
            rewrapped,
            key = vault.masters().current().id(),
            "rewrapped data keys with the current master key"
        );
    }
    // Two-factor secrets are sealed by the master key itself: those in clear (stored before
    // they were sealed) or sealed by an older key are sealed again by the current one.
    let failed = |error: baton_store::StoreError| SettingError::new(SETTING, error.to_string());
    let mut resealed = 0;
    for (user, stored) in store.totp_secrets().await.map_err(failed)? {
        if !vault.needs_sealing_again(&stored) {
            continue;
        }
        let context = baton_server::auth::mfa::sealing_context(user);
        let secret = vault
            .open_for(&context, &stored)
            .map_err(|error| SettingError::new(SETTING, error.to_string()))?;
        let sealed = vault.seal_for(&context, &secret);
        if store
            .replace_totp_secret(user, &stored, &sealed)
            .await
            .map_err(failed)?
        {
            resealed += 1;
        }
    }
    if resealed > 0 {
        tracing::info!(
            resealed,
            "sealed two-factor secrets with the current master key"
        );
    }
    Ok(Arc::new(vault))
}

/// `baton rotate-master-key`.
pub async fn rotate(args: CommonArgs) -> anyhow::Result<()> {
    let (settings, _) = CommonSettings::resolve(&args)?;
    startup::prepare_data_dir(&settings.data_dir)?;
    let fresh = MasterKey::generate();
    if let Some(keys) = &settings.master_key {
        let keys = MasterKeys::parse(keys)
            .map_err(|error| SettingError::new(SETTING, error.to_string()))?;
        let older: Vec<String> = keys.all().iter().map(MasterKey::to_base64).collect();
        println!(
            "a new master key ({}). Set BATON_MASTER_KEY to this list, new key first, and restart \
             every baton serve and baton worker; each start rewraps the data keys with it:\n{},{}",
            fresh.id(),
            fresh.to_base64(),
            older.join(",")
        );
        return Ok(());
    }
    let path = key_file(&settings);
    let current = load(&settings)?;
    let keys = MasterKeys::new(fresh, current.all().to_vec());
    // The file first: once it holds both keys, nothing the database says can be unreadable.
    write_key_file(&path, &keys, false)?;
    let store = startup::open_store(&settings).await?;
    let vault = vault(store.clone(), keys).await;
    store.close().await;
    let vault = vault?;
    println!(
        "the master key is now {}; every data key is wrapped by it (older keys stay in {} until \
         you remove them, once no running server uses them)",
        vault.masters().current().id(),
        path.display()
    );
    Ok(())
}
