//! The retry policy, as a pure decision: given the attempt that failed and its error, retry
//! after how long, or give up.

use std::time::Duration;

use baton_core::dsl::RetryPolicy;

use crate::error::StepError;

pub const DEFAULT_MAX_RETRIES: u32 = 3;
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_secs(1);
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(300);

/// A step's policy with its defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    RetryAfter(Duration),
    GiveUp,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRIES,
            base: DEFAULT_BASE_DELAY,
            cap: DEFAULT_MAX_DELAY,
        }
    }
}

impl Backoff {
    pub fn from_policy(policy: Option<&RetryPolicy>) -> Self {
        let defaults = Self::default();
        let Some(policy) = policy else {
            return defaults;
        };
        Self {
            max_retries: policy.max_retries.unwrap_or(defaults.max_retries),
            base: policy.base_delay.map_or(defaults.base, |spec| spec.get()),
            cap: policy.max_delay.map_or(defaults.cap, |spec| spec.get()),
        }
    }

    /// After `attempt` (1-based) failed with `error`: retry only transient errors, while retries
    /// remain. The wait is `base * 2^(attempt-1)`, capped, with up to 20% jitter taken off so that
    /// many failing executions do not retry in step; a provider's Retry-After wins when longer.
    /// `jitter` is a number in `[0, 1)`.
    pub fn decide(&self, attempt: u32, error: &StepError, jitter: f64) -> Decision {
        if !error.class.is_retryable() || attempt > self.max_retries {
            return Decision::GiveUp;
        }
        let exponent = attempt.saturating_sub(1).min(30);
        let exponential = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        let jittered = exponential.mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0));
        let wait = match error.retry_after {
            Some(after) if after > jittered => after,
            _ => jittered,
        };
        Decision::RetryAfter(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_back_off_exponentially_by_default() {
        let backoff = Backoff::default();
        let error = StepError::transient("timeout");
        let waits: Vec<Decision> = (1..=4)
            .map(|attempt| backoff.decide(attempt, &error, 0.0))
            .collect();
        assert_eq!(
            waits,
            vec![
                Decision::RetryAfter(Duration::from_secs(1)),
                Decision::RetryAfter(Duration::from_secs(2)),
                Decision::RetryAfter(Duration::from_secs(4)),
                Decision::GiveUp,
            ]
        );
    }

    #[test]
    fn permanent_and_system_errors_are_not_retried() {
        let backoff = Backoff::default();
        assert_eq!(
            backoff.decide(1, &StepError::permanent("bad key"), 0.0),
            Decision::GiveUp
        );
        assert_eq!(
            backoff.decide(1, &StepError::system("db down"), 0.0),
            Decision::GiveUp
        );
    }

    #[test]
    fn jitter_shortens_by_at_most_a_fifth_and_the_cap_holds() {
        let backoff = Backoff {
            max_retries: 20,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(10),
        };
        let error = StepError::transient("busy");
        assert_eq!(
            backoff.decide(2, &error, 0.999),
            Decision::RetryAfter(Duration::from_secs(2).mul_f64(1.0 - 0.2 * 0.999))
        );
        assert_eq!(
            backoff.decide(15, &error, 0.0),
            Decision::RetryAfter(Duration::from_secs(10))
        );
    }

    #[test]
    fn a_longer_retry_after_is_honoured() {
        let backoff = Backoff::default();
        let limited = StepError::transient("429").with_retry_after(Duration::from_secs(30));
        assert_eq!(
            backoff.decide(1, &limited, 0.5),
            Decision::RetryAfter(Duration::from_secs(30))
        );
        let short = StepError::transient("429").with_retry_after(Duration::from_millis(10));
        assert_eq!(
            backoff.decide(1, &short, 0.0),
            Decision::RetryAfter(Duration::from_secs(1))
        );
    }
}
