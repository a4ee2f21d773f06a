//! `baton probe [URL]`: one request to a running server's `/readyz`, for a container's
//! `HEALTHCHECK` (the image has no shell and no curl).

use std::time::Duration;

use crate::cli::ProbeArgs;
use crate::exit;

pub async fn run(args: ProbeArgs) -> anyhow::Result<u8> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    match client.get(&args.url).send().await {
        Ok(response) if response.status().is_success() => Ok(exit::SUCCESS),
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            eprintln!("baton: {} answered {status}: {}", args.url, body.trim());
            Ok(exit::FAILURE)
        }
        Err(error) => {
            eprintln!("baton: {} did not answer: {error}", args.url);
            Ok(exit::FAILURE)
        }
    }
}
