//! Suites that need a service this machine may not have (PostgreSQL, Redis) say so on a line of
//! their own when it is missing, `SKIPPED ... (set X to run)`, written past the test harness's
//! capture so it shows in a plain `make test`. With `BATON_TEST_REQUIRE_SERVICES=1` (as CI sets
//! it) a missing service fails the test instead.
#![allow(dead_code)]

use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;

/// Says once per test binary that `suite` was skipped for want of `variable`; panics instead
/// when services are required.
pub fn skipped(suite: &str, variable: &str) {
    if std::env::var("BATON_TEST_REQUIRE_SERVICES").is_ok_and(|value| value == "1") {
        panic!("{suite}: set {variable}; BATON_TEST_REQUIRE_SERVICES=1 does not allow skipping it");
    }
    static SAID: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if said
        .get_or_insert_with(HashSet::new)
        .insert(suite.to_owned())
    {
        let _ = writeln!(std::io::stderr(), "SKIPPED {suite} (set {variable} to run)");
    }
}

/// The Redis the tests use (`BATON_TEST_REDIS_URL`, else the local default) when it answers.
pub async fn redis_url(suite: &str) -> Option<String> {
    let url = std::env::var("BATON_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let address = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_owned();
    let reachable = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        tokio::net::TcpStream::connect(address),
    )
    .await
    .is_ok_and(|connected| connected.is_ok());
    if reachable {
        Some(url)
    } else {
        skipped(suite, "BATON_TEST_REDIS_URL to a running Redis");
        None
    }
}
