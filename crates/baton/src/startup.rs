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

/// Binds `--metrics-addr` when given and serves `/metrics` there until `stop`; the task.
pub async fn metrics_apart(
    addr: Option<&str>,
    store: std::sync::Arc<dyn baton_store::Store>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, crate::settings::SettingError> {
    let setting = "metrics address (BATON_METRICS_ADDR)";
    let Some(addr) = addr.filter(|addr| !addr.is_empty()) else {
        return Ok(None);
    };
    let addr: std::net::SocketAddr = addr.parse().map_err(|_| {
        crate::settings::SettingError::new(setting, format!("{addr:?} is not IP:PORT"))
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|error| {
        crate::settings::SettingError::new(setting, format!("cannot listen on {addr}: {error}"))
    })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!("metrics on http://{bound}/metrics");
    Ok(Some(tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        if let Err(error) = baton_server::metrics::serve_apart(listener, store, stopped).await {
            tracing::warn!(%error, "serving metrics failed");
        }
    })))
}
