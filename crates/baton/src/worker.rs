//! `baton worker`: runs workflows from the queue until SIGTERM or SIGINT. A stopped worker
//! hands its jobs back; whoever claims them next resumes from their checkpoints.

use std::sync::Arc;

use baton_connectors::llm::Providers;
use baton_runtime::{Assembly, Runtime, Worker, WorkerSettings};
use baton_store::Store;

use crate::cli::WorkerArgs;
use crate::settings::CommonSettings;
use crate::{connectors, logging, startup};

/// The runtime the API and the workers share, with the connectors the settings allow and the
/// operator's master key.
/// `limiter` counts the calls against the services' limits (the server's Redis when it has
/// one; this process otherwise).
pub async fn runtime(
    store: Arc<dyn Store>,
    settings: &CommonSettings,
    limiter: Option<Arc<dyn baton_engine::throttle::Limiter>>,
) -> Result<Arc<Runtime>, crate::settings::SettingError> {
    let masters = crate::master_key::load(settings)?;
    let vault = crate::master_key::vault(store.clone(), masters).await?;
    let mut assembly = Assembly {
        limits: settings.limits.clone(),
        ..Assembly::default()
    };
    if let Some(limiter) = limiter {
        assembly.limiter = limiter;
    }
    Ok(Arc::new(Runtime::assemble_with(
        store,
        connectors::registry(&settings.connectors),
        Arc::new(Providers::new(settings.providers.clone())),
        vault,
        assembly,
    )))
}

/// The counter that processes share when `BATON_REDIS_URL` is set: the API's rate limits and
/// each organization's calls to a service then hold across every server and worker.
pub async fn shared_limiter(
    settings: &CommonSettings,
) -> Result<Option<Arc<dyn baton_engine::throttle::Limiter>>, crate::settings::SettingError> {
    let Some(url) = &settings.redis_url else {
        return Ok(None);
    };
    let limiter = baton_server::rate_limit::RedisLimiter::connect(url)
        .await
        .map_err(|error| {
            crate::settings::SettingError::new(
                "Redis URL (BATON_REDIS_URL)",
                format!("cannot connect: {error}"),
            )
        })?;
    Ok(Some(Arc::new(limiter)))
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let (settings, _) = CommonSettings::resolve(&args.common)?;
    logging::init(
        settings.log_format,
        settings.log_or(crate::settings::DEFAULT_LOG),
    );
    startup::prepare_data_dir(&settings.data_dir)?;
    let store = startup::open_store(&settings).await?;
    let limiter = shared_limiter(&settings).await?;
    let runtime = runtime(store.clone(), &settings, limiter).await?;
    let mut worker_settings = WorkerSettings::named("worker");
    if let Some(concurrency) = args.concurrency {
        worker_settings.concurrency = concurrency.max(1);
    }
    if let Some(limit) = args.org_concurrency {
        worker_settings.per_organization = limit.max(1);
    }
    if let Some(seconds) = args.lease_seconds {
        worker_settings.lease = std::time::Duration::from_secs(seconds.max(1));
    }
    worker_settings.drain = std::time::Duration::from_secs(
        args.shutdown_timeout
            .unwrap_or(crate::settings::DEFAULT_SHUTDOWN_TIMEOUT_SECONDS),
    );
    let stop = crate::serve::stop_signal()?;
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let metrics = startup::metrics_apart(
        args.metrics_addr.as_deref(),
        store.clone(),
        stopping.subscribe(),
    )
    .await?;
    tracing::info!(database = %settings.database, worker = %worker_settings.name, "running workflows from the queue");
    let worker = tokio::spawn(Worker::new(runtime, worker_settings).run(stopped));
    stop.await;
    let _ = stopping.send(true);
    let _ = worker.await;
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
