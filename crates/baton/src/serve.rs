//! `baton serve`: the HTTP API, until SIGTERM or SIGINT.

use anyhow::Context;
use baton_server::AppState;

use crate::cli::ServeArgs;
use crate::settings::{ServeSettings, SettingError};
use crate::{logging, startup};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = ServeSettings::resolve(&args)?;
    logging::init(settings.common.log_format, &settings.common.log);
    startup::prepare_data_dir(&settings.common.data_dir)?;
    let store = startup::open_store(&settings.common).await?;
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .map_err(|error| {
            SettingError::new(
                "listen address (BATON_ADDR)",
                format!("cannot listen on {}: {error}", settings.addr),
            )
        })?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    tracing::info!(
        database = %settings.common.database,
        data_dir = %settings.common.data_dir.display(),
        "listening on http://{addr}"
    );
    let app = baton_server::router(AppState::new(store.clone()));
    baton_server::serve(listener, app, stop_signal(), settings.shutdown_timeout)
        .await
        .context("serving HTTP")?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
async fn stop_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
