//! `baton serve`: the HTTP API, until SIGTERM or SIGINT.

use anyhow::Context;
use baton_server::AppState;

use crate::cli::ServeArgs;
use crate::settings::{ServeSettings, SettingError};
use crate::{logging, startup};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = ServeSettings::resolve(&args)?;
    logging::init(
        settings.common.log_format,
        settings.common.log_or(crate::settings::DEFAULT_LOG),
    );
    startup::prepare_data_dir(&settings.common.data_dir)?;
    let store = startup::open_store(&settings.common).await?;
    let keys = baton_server::auth::token::Keyring::load_or_create(&settings.common.data_dir)
        .map_err(|error| SettingError::new("data dir (BATON_DATA_DIR)", error.to_string()))?;
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
    let state = AppState::new(
        store.clone(),
        std::sync::Arc::new(keys),
        server_config(&settings, addr).await?,
    );
    let shared_limiter = crate::worker::shared_limiter(&settings.common).await?;
    let state = match &shared_limiter {
        Some(limiter) => state.with_limiter(limiter.clone()),
        None => state,
    };
    // Last of the checks: the master key, which a first start makes (and says so).
    let mut common = settings.common.clone();
    common.connectors.oauth_redirect_url = Some(format!(
        "{}{}",
        public_url(&settings, addr),
        baton_connectors::OAUTH_CALLBACK_PATH
    ));
    let runtime = crate::worker::runtime(store.clone(), &common, shared_limiter).await?;
    let state = state.with_runtime(runtime.clone());
    // One process on its SQLite file: jobs leased before a crash were ours, and nobody else
    // will take them; they are resumed at once instead of after their lease runs out.
    if matches!(
        settings.common.database,
        baton_store::DatabaseUrl::Sqlite(_)
    ) && !args.no_worker
    {
        let resumed = store.release_every_lease().await?;
        if resumed > 0 {
            tracing::info!(
                resumed,
                "resuming the jobs that were running when Baton stopped"
            );
        }
    }
    let stop = stop_signal()?;
    let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
    let worker = (!args.no_worker).then(|| {
        let mut worker_settings = baton_runtime::WorkerSettings::named("serve");
        worker_settings.drain = settings.shutdown_timeout;
        if let Some(concurrency) = args.concurrency {
            worker_settings.concurrency = concurrency.max(1);
        }
        if let Some(limit) = args.org_concurrency {
            worker_settings.per_organization = limit.max(1);
        }
        tokio::spawn(
            baton_runtime::Worker::new(runtime.clone(), worker_settings).run(worker_stopped),
        )
    });
    let scheduler = tokio::spawn(
        baton_runtime::Scheduler::new(runtime.clone())
            .with_delivery_retention(settings.idempotency_retention)
            .run(stop_worker.subscribe()),
    );
    let metrics = startup::metrics_apart(
        args.metrics_addr.as_deref(),
        store.clone(),
        stop_worker.subscribe(),
    )
    .await?;
    // Tells owners of failed runs and waiting approvals (one server claims each event).
    let notifier = tokio::spawn(
        baton_server::notices::Notifier::new(state.clone())
            .run(std::time::Duration::from_secs(5), stop_worker.subscribe()),
    );
    tracing::info!(
        database = %settings.common.database,
        data_dir = %settings.common.data_dir.display(),
        worker = worker.is_some(),
        "listening on http://{addr}"
    );
    let app = baton_server::router(state);
    // The signal stops the worker and the scheduler at once, so that the worker's steps in
    // flight drain while the HTTP requests in flight finish.
    let stop = async move {
        stop.await;
        let _ = stop_worker.send(true);
    };
    baton_server::serve(listener, app, stop, settings.shutdown_timeout)
        .await
        .context("serving HTTP")?;
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    let _ = scheduler.await;
    let _ = notifier.await;
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Where people reach the server: as configured, else the address it listens on.
fn public_url(settings: &ServeSettings, addr: std::net::SocketAddr) -> String {
    settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
}

/// The server's set-up from the settings: where mail goes, the limits, Google sign-in.
async fn server_config(
    settings: &ServeSettings,
    addr: std::net::SocketAddr,
) -> Result<baton_server::Config, SettingError> {
    let public_url = public_url(settings, addr);
    let mut config =
        baton_server::Config::new(&public_url, settings.common.data_dir.join("outbox"));
    config.limits = settings.limits;
    config.trusted_proxies = settings.trusted_proxies.clone();
    config.metrics_token = settings.metrics_token.clone();
    config.feedback_email = settings.feedback_email.clone();
    if let Some(google) = &settings.google {
        config.google = Some(
            baton_server::auth::oidc::Provider::new(
                &google.issuer,
                &google.client_id,
                &google.client_secret,
                &public_url,
            )
            .map_err(|error| {
                SettingError::new("Google sign-in (BATON_GOOGLE_ISSUER)", error.to_string())
            })?,
        );
    }
    config.mailer = match &settings.smtp_url {
        Some(url) => baton_server::mail::Mailer::smtp(url, &settings.mail_from)
            .map_err(|error| SettingError::new("SMTP URL (BATON_SMTP_URL)", error.to_string()))?,
        None => baton_server::mail::Mailer::outbox(
            settings.common.data_dir.join("outbox"),
            &settings.mail_from,
        )
        .map_err(|error| SettingError::new("mail sender (BATON_MAIL_FROM)", error.to_string()))?,
    };
    Ok(config)
}

/// Installs the SIGTERM and SIGINT handlers at once (so that a signal arriving right after
/// start-up is not lost to the default action), and returns a future that completes on either.
pub(crate) fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}
