//! `baton rotate-keys`: a new signing key for sign-in tokens in the data dir. Tokens signed
//! with the older keys keep verifying until they expire, so nobody is signed out.

use crate::cli::CommonArgs;
use crate::settings::{CommonSettings, SettingError};
use crate::startup;

pub fn rotate(args: CommonArgs) -> anyhow::Result<()> {
    let (settings, _) = CommonSettings::resolve(&args)?;
    startup::prepare_data_dir(&settings.data_dir)?;
    let mut keys = baton_server::auth::token::Keyring::load_or_create(&settings.data_dir)
        .map_err(|error| SettingError::new("data dir (BATON_DATA_DIR)", error.to_string()))?;
    keys.rotate()
        .map_err(|error| SettingError::new("data dir (BATON_DATA_DIR)", error.to_string()))?;
    println!(
        "a new signing key ({}) signs from the next start of baton serve; the older keys still verify",
        keys.current_id()
    );
    Ok(())
}
