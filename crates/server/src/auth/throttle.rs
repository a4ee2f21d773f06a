//! Slowing down guessing without locking anyone out (OWASP: no hard lockout an attacker can use
//! to deny the owner). Failed tries are counted under several keys, each with its own rule:
//! past its free tries, each further try waits twice as long as the last (1 s, 2 s, 4 s, ...) up
//! to the rule's longest wait, and the count is forgotten after [`FORGET_AFTER`] without a
//! failure.
//!
//! - an account from one address: 3 free tries, then up to 5 minutes (the guesser's own
//!   address pays);
//! - one address over any accounts (a password spray): 10 free, then up to 5 minutes;
//! - an account from any address (a distributed attack): 10 free, then at most 30 seconds, and
//!   never for an address the account signed in from before (a known-good context), so the
//!   owner's right password is never refused for long;
//! - probes for secrets in URLs and headers (hook tokens, API keys) from one address: 20
//!   free, then up to 5 minutes.
//!
//! Pure: the caller passes the time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a key's failures are remembered after its last one.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// How long a successful sign-in keeps its address known-good for the account.
pub const KNOWN_GOOD_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_KEYS: usize = 100_000;

/// Free tries, and the longest wait after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub free: u32,
    pub longest: Duration,
}

pub const ACCOUNT_FROM_ADDRESS: Rule = Rule {
    free: 3,
    longest: Duration::from_secs(300),
};
pub const ADDRESS: Rule = Rule {
    free: 10,
    longest: Duration::from_secs(300),
};
pub const ACCOUNT: Rule = Rule {
    free: 10,
    longest: Duration::from_secs(30),
};
pub const PROBES: Rule = Rule {
    free: 20,
    longest: Duration::from_secs(300),
};

#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    last: Instant,
}

/// Failed tries by key, and the addresses each account signed in from.
#[derive(Debug, Default)]
pub struct Throttle {
    records: Mutex<HashMap<String, Record>>,
    known_good: Mutex<HashMap<String, Instant>>,
}

fn pair(account: &str, address: Option<&str>) -> String {
    format!("{account}|{}", address.unwrap_or("-"))
}

impl Throttle {
    /// How long a sign-in to `account` from `address` must still wait; `None` when it may try.
    pub fn sign_in_wait(
        &self,
        account: &str,
        address: Option<&str>,
        now: Instant,
    ) -> Option<Duration> {
        let mut waits = vec![self.wait(
            &format!("pair:{}", pair(account, address)),
            ACCOUNT_FROM_ADDRESS,
            now,
        )];
        if let Some(address) = address {
            waits.push(self.wait(&format!("ip:{address}"), ADDRESS, now));
        }
        if !self.is_known_good(account, address, now) {
            waits.push(self.wait(&format!("account:{account}"), ACCOUNT, now));
        }
        waits.into_iter().flatten().max()
    }

    pub fn sign_in_failed(&self, account: &str, address: Option<&str>, now: Instant) {
        self.failed(&format!("pair:{}", pair(account, address)), now);
        self.failed(&format!("account:{account}"), now);
        if let Some(address) = address {
            self.failed(&format!("ip:{address}"), now);
        }
    }

    /// A right password (and code): the pair's count is cleared and the address becomes
    /// known-good for the account. The account's and the address's counts stay: a success on
    /// one account says nothing of a spray over others.
    pub fn sign_in_succeeded(&self, account: &str, address: Option<&str>, now: Instant) {
        let key = pair(account, address);
        if let Ok(mut records) = self.records.lock() {
            records.remove(&format!("pair:{key}"));
        }
        if address.is_some()
            && let Ok(mut known) = self.known_good.lock()
        {
            if known.len() >= MAX_KEYS {
                known.retain(|_, at| now.duration_since(*at) < KNOWN_GOOD_FOR);
            }
            known.insert(key, now);
        }
    }

    fn is_known_good(&self, account: &str, address: Option<&str>, now: Instant) -> bool {
        address.is_some()
            && self.known_good.lock().is_ok_and(|known| {
                known
                    .get(&pair(account, address))
                    .is_some_and(|at| now.duration_since(*at) < KNOWN_GOOD_FOR)
            })
    }

    /// How long an address probing for `what` (`hook`, `api_key`) must wait.
    pub fn probe_wait(&self, what: &str, address: Option<&str>, now: Instant) -> Option<Duration> {
        let address = address?;
        self.wait(&format!("probe:{what}:{address}"), PROBES, now)
    }

    pub fn probe_failed(&self, what: &str, address: Option<&str>, now: Instant) {
        if let Some(address) = address {
            self.failed(&format!("probe:{what}:{address}"), now);
        }
    }

    fn wait(&self, key: &str, rule: Rule, now: Instant) -> Option<Duration> {
        let records = self.records.lock().ok()?;
        let record = records.get(key)?;
        if now.duration_since(record.last) > FORGET_AFTER || record.failures < rule.free {
            return None;
        }
        let doublings = (record.failures - rule.free).min(16);
        let delay = Duration::from_secs(1 << doublings).min(rule.longest);
        (record.last + delay)
            .checked_duration_since(now)
            .filter(|left| !left.is_zero())
    }

    fn failed(&self, key: &str, now: Instant) {
        if let Ok(mut records) = self.records.lock() {
            // Many distinct keys (a spray over emails) must not grow the map without bound.
            if records.len() >= MAX_KEYS {
                records.retain(|_, record| now.duration_since(record.last) < FORGET_AFTER);
            }
            let record = records.entry(key.to_owned()).or_insert(Record {
                failures: 0,
                last: now,
            });
            if now.duration_since(record.last) > FORGET_AFTER {
                record.failures = 0;
            }
            record.failures = record.failures.saturating_add(1);
            record.last = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANN: &str = "ann@example.com";

    #[test]
    fn a_guesser_waits_longer_each_time_from_their_own_address() {
        let throttle = Throttle::default();
        let start = Instant::now();
        let guesser = Some("203.0.113.9");
        for _ in 0..ACCOUNT_FROM_ADDRESS.free {
            assert_eq!(throttle.sign_in_wait(ANN, guesser, start), None);
            throttle.sign_in_failed(ANN, guesser, start);
        }
        assert_eq!(
            throttle.sign_in_wait(ANN, guesser, start),
            Some(Duration::from_secs(1))
        );
        throttle.sign_in_failed(ANN, guesser, start + Duration::from_secs(1));
        assert_eq!(
            throttle.sign_in_wait(ANN, guesser, start + Duration::from_secs(1)),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            throttle.sign_in_wait(ANN, Some("198.51.100.1"), start),
            None,
            "another address is not held back by a few failures"
        );
        for _ in 0..30 {
            throttle.sign_in_failed(ANN, guesser, start + Duration::from_secs(2));
        }
        assert_eq!(
            throttle.sign_in_wait(ANN, guesser, start + Duration::from_secs(2)),
            Some(ACCOUNT_FROM_ADDRESS.longest),
            "the wait stops growing at its longest: no lockout"
        );
    }

    #[test]
    fn a_distributed_attack_never_locks_the_owner_out() {
        let throttle = Throttle::default();
        let start = Instant::now();
        let home = Some("192.0.2.10");
        throttle.sign_in_succeeded(ANN, home, start);
        for n in 0..200 {
            let attacker = format!("203.0.113.{}", n % 250);
            throttle.sign_in_failed(ANN, Some(&attacker), start);
        }
        assert_eq!(
            throttle.sign_in_wait(ANN, home, start),
            None,
            "the owner's known address is not held back"
        );
        assert_eq!(
            throttle.sign_in_wait(ANN, Some("198.51.100.1"), start),
            Some(ACCOUNT.longest),
            "a new address waits at most the account's longest wait"
        );
    }

    #[test]
    fn probing_and_old_failures() {
        let throttle = Throttle::default();
        let start = Instant::now();
        let prober = Some("203.0.113.5");
        for _ in 0..PROBES.free {
            assert_eq!(throttle.probe_wait("hook", prober, start), None);
            throttle.probe_failed("hook", prober, start);
        }
        assert!(throttle.probe_wait("hook", prober, start).is_some());
        assert_eq!(throttle.probe_wait("api_key", prober, start), None);
        let later = start + FORGET_AFTER + Duration::from_secs(1);
        assert_eq!(throttle.probe_wait("hook", prober, later), None);
    }
}
