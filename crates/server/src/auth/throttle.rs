//! Slowing down password guessing: failed sign-ins are counted per account and per client
//! address; after [`FREE_FAILURES`] within the window each further try must wait, and past
//! [`LOCK_AFTER`] the key is locked for [`LOCK_FOR`]. A success clears the account's count.
//! Pure: the caller passes the time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const FREE_FAILURES: u32 = 3;
pub const LOCK_AFTER: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const LOCK_FOR: Duration = Duration::from_secs(15 * 60);
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    first: Instant,
    last: Instant,
}

/// Failed sign-ins by key (`account:EMAIL`, `ip:ADDRESS`).
#[derive(Debug, Default)]
pub struct Throttle {
    records: Mutex<HashMap<String, Record>>,
}

impl Throttle {
    /// How long `key` must still wait before its next try; `None` when it may try now.
    pub fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        let records = self.records.lock().ok()?;
        let record = records.get(key)?;
        if now.duration_since(record.first) > WINDOW && now.duration_since(record.last) > LOCK_FOR {
            return None;
        }
        let delay = if record.failures >= LOCK_AFTER {
            LOCK_FOR
        } else if record.failures >= FREE_FAILURES {
            // 1 s, 2 s, 4 s, ... after the free tries.
            Duration::from_secs(1 << (record.failures - FREE_FAILURES).min(8))
        } else {
            return None;
        };
        (record.last + delay)
            .checked_duration_since(now)
            .filter(|left| !left.is_zero())
    }

    pub fn failed(&self, key: &str, now: Instant) {
        if let Ok(mut records) = self.records.lock() {
            // Many distinct keys (a spray over emails) must not grow the map without bound.
            if records.len() >= MAX_KEYS {
                records.retain(|_, record| now.duration_since(record.last) < WINDOW.max(LOCK_FOR));
            }
            let record = records.entry(key.to_owned()).or_insert(Record {
                failures: 0,
                first: now,
                last: now,
            });
            if now.duration_since(record.first) > WINDOW && record.failures < LOCK_AFTER {
                *record = Record {
                    failures: 0,
                    first: now,
                    last: now,
                };
            }
            record.failures += 1;
            record.last = now;
        }
    }

    pub fn succeeded(&self, key: &str) {
        if let Ok(mut records) = self.records.lock() {
            records.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_slow_down_then_lock_and_a_success_clears_them() {
        let throttle = Throttle::default();
        let start = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.wait("account:ann", start), None);
            throttle.failed("account:ann", start);
        }
        assert_eq!(
            throttle.wait("account:ann", start),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            throttle.wait("account:ann", start + Duration::from_secs(1)),
            None
        );
        throttle.failed("account:ann", start + Duration::from_secs(1));
        assert_eq!(
            throttle.wait("account:ann", start + Duration::from_secs(1)),
            Some(Duration::from_secs(2))
        );
        for _ in 0..LOCK_AFTER {
            throttle.failed("account:ann", start + Duration::from_secs(2));
        }
        assert_eq!(
            throttle.wait("account:ann", start + Duration::from_secs(62)),
            Some(LOCK_FOR - Duration::from_secs(60))
        );
        assert_eq!(
            throttle.wait("account:bob", start),
            None,
            "other keys are unaffected"
        );
        throttle.succeeded("account:ann");
        assert_eq!(
            throttle.wait("account:ann", start + Duration::from_secs(62)),
            None
        );
    }

    #[test]
    fn old_failures_are_forgotten() {
        let throttle = Throttle::default();
        let start = Instant::now();
        for _ in 0..5 {
            throttle.failed("ip:10.0.0.1", start);
        }
        let later = start + WINDOW + LOCK_FOR + Duration::from_secs(1);
        assert_eq!(throttle.wait("ip:10.0.0.1", later), None);
    }
}
