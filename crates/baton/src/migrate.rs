//! `baton migrate`: bring the schema up to date and exit.

use crate::cli::CommonArgs;
use crate::settings::CommonSettings;
use crate::{logging, startup};

pub async fn run(args: CommonArgs) -> anyhow::Result<()> {
    let (settings, _) = CommonSettings::resolve(&args)?;
    logging::init(
        settings.log_format,
        settings.log_or(crate::settings::DEFAULT_LOG),
    );
    startup::prepare_data_dir(&settings.data_dir)?;
    let store = startup::open_store(&settings).await?;
    store.close().await;
    tracing::info!(database = %settings.database, "the database schema is up to date");
    Ok(())
}
