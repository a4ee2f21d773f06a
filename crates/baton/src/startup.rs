//! The start-up steps commands share: the data dir, and the database, opened and migrated.
//! Each failure names the setting at fault.

use std::path::Path;
use std::sync::Arc;

use baton_store::Store;

use crate::settings::{CommonSettings, SettingError};

/// Creates the data dir if needed and checks that Baton can write in it.
pub fn prepare_data_dir(dir: &Path) -> Result<(), SettingError> {
    let setting = "data dir (BATON_DATA_DIR)";
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .map_err(|error| {
            SettingError::new(setting, format!("cannot create {}: {error}", dir.display()))
        })?;
    // Named per process: two commands starting at once must not remove each other's probe.
    let probe = dir.join(format!(".baton-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"ok")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|error| {
            SettingError::new(
                setting,
                format!("cannot write in {}: {error}", dir.display()),
            )
        })
}

/// Opens the configured database and runs its pending migrations.
pub async fn open_store(settings: &CommonSettings) -> Result<Arc<dyn Store>, SettingError> {
    let setting = "database (BATON_DATABASE_URL)";
    let location = &settings.database;
    let store = baton_store::open(location)
        .await
        .map_err(|error| SettingError::new(setting, format!("{location}: {error}")))?;
    store
        .migrate()
        .await
        .map_err(|error| SettingError::new(setting, format!("{location}: {error}")))?;
    Ok(store)
}
