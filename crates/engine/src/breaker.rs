//! Circuit breakers per (organization, service): after N consecutive transient failures the
//! circuit opens and calls are held back with a message a person understands (the runner parks
//! the step until the cool-down ends, using none of its attempts); after a cool-down one probe
//! call is let through, and its result closes or re-opens the circuit. A probe that never
//! reports (cancelled, timed out, its process gone) is given up after a deadline, and another
//! call may probe. A service that
//! said how long to wait (a 429 with `Retry-After`) is held for that long for the whole
//! organization, so its other runs do not spend their attempts on calls bound to be refused.
//! Pure: the caller passes the time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use baton_core::OrgId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failure_threshold: u32,
    pub cool_down: Duration,
    /// How long a probe may go unreported before another call may probe.
    pub probe_deadline: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
            probe_deadline: Duration::from_secs(150),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Circuit {
    Closed {
        failures: u32,
    },
    Open {
        since: Instant,
    },
    /// One probe is in flight since then; everyone else is held back until it reports or its
    /// deadline passes.
    Probing {
        since: Instant,
    },
}

/// Whether a call may go ahead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Permit {
    Allowed,
    /// Refused, with the message to show and when to try again.
    Refused {
        message: String,
        retry_in: Duration,
    },
}

#[derive(Debug, Default)]
pub struct Breakers {
    settings: BreakerSettings,
    circuits: HashMap<(OrgId, String), Circuit>,
    /// Until when a service asked the organization's calls to wait.
    held: HashMap<(OrgId, String), Instant>,
}

impl Breakers {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            circuits: HashMap::new(),
            held: HashMap::new(),
        }
    }

    pub fn permit(&mut self, org: OrgId, service: &str, now: Instant) -> Permit {
        let key = (org, service.to_owned());
        if let Some(until) = self.held.get(&key).copied() {
            if now < until {
                let wait = until - now;
                return Permit::Refused {
                    message: format!(
                        "{service} asked Baton to slow down; the next call goes in {} s ({})",
                        wait.as_secs().max(1),
                        clock(wait)
                    ),
                    retry_in: wait,
                };
            }
            self.held.remove(&key);
        }
        let circuit = self
            .circuits
            .entry((org, service.to_owned()))
            .or_insert(Circuit::Closed { failures: 0 });
        let settings = self.settings;
        match *circuit {
            Circuit::Closed { .. } => Permit::Allowed,
            Circuit::Open { since } if now.duration_since(since) >= settings.cool_down => {
                *circuit = Circuit::Probing { since: now };
                Permit::Allowed
            }
            Circuit::Probing { since } if now.duration_since(since) >= settings.probe_deadline => {
                *circuit = Circuit::Probing { since: now };
                Permit::Allowed
            }
            refused => Self::refusal(&settings, refused, service, now).map_or(
                Permit::Allowed,
                |(message, retry_in)| Permit::Refused { message, retry_in },
            ),
        }
    }

    /// Whether calls to `service` are held back now, with why and for how long, changing
    /// nothing (a probe is only let through by [`Breakers::permit`]).
    pub fn held_back(&self, org: OrgId, service: &str, now: Instant) -> Option<(String, Duration)> {
        let key = (org, service.to_owned());
        if let Some(until) = self.held.get(&key).copied()
            && now < until
        {
            let wait = until - now;
            return Some((
                format!(
                    "{service} asked Baton to slow down; the next call goes in {} s ({})",
                    wait.as_secs().max(1),
                    clock(wait)
                ),
                wait,
            ));
        }
        let circuit = self.circuits.get(&key).copied()?;
        Self::refusal(&self.settings, circuit, service, now)
    }

    fn refusal(
        settings: &BreakerSettings,
        circuit: Circuit,
        service: &str,
        now: Instant,
    ) -> Option<(String, Duration)> {
        match circuit {
            Circuit::Open { since } if now.duration_since(since) < settings.cool_down => {
                let left = settings.cool_down.saturating_sub(now.duration_since(since));
                Some((
                    format!(
                        "{service} has failed {} times in a row, so Baton is pausing calls to it (circuit open until {}); it will try again in {} s",
                        settings.failure_threshold,
                        clock(left),
                        left.as_secs().max(1)
                    ),
                    left,
                ))
            }
            Circuit::Probing { since } if now.duration_since(since) < settings.probe_deadline => {
                let left = settings
                    .probe_deadline
                    .saturating_sub(now.duration_since(since))
                    .min(settings.cool_down);
                Some((
                    format!(
                        "{service} is being checked after repeated failures (circuit open); the next call goes in {} s at most ({})",
                        left.as_secs().max(1),
                        clock(left)
                    ),
                    left,
                ))
            }
            _ => None,
        }
    }

    /// Records a call's result. Only transient failures count against the circuit.
    /// Holds the organization's calls to `service` until `until` (its `Retry-After`).
    pub fn hold(&mut self, org: OrgId, service: &str, until: Instant) {
        let held = self.held.entry((org, service.to_owned())).or_insert(until);
        *held = (*held).max(until);
    }

    pub fn record(&mut self, org: OrgId, service: &str, transient_failure: bool, now: Instant) {
        let threshold = self.settings.failure_threshold;
        let circuit = self
            .circuits
            .entry((org, service.to_owned()))
            .or_insert(Circuit::Closed { failures: 0 });
        *circuit = match (*circuit, transient_failure) {
            (_, false) => Circuit::Closed { failures: 0 },
            (Circuit::Closed { failures }, true) if failures + 1 >= threshold => {
                Circuit::Open { since: now }
            }
            (Circuit::Closed { failures }, true) => Circuit::Closed {
                failures: failures + 1,
            },
            (Circuit::Probing { .. } | Circuit::Open { .. }, true) => Circuit::Open { since: now },
        };
    }

    /// Opens the circuit for `service` until `open_for` from `now`, as another process that
    /// shares the database saw it open; a circuit this process already holds open or is
    /// probing is left as it is.
    pub fn adopt(&mut self, org: OrgId, service: &str, open_for: Duration, now: Instant) {
        let circuit = self
            .circuits
            .entry((org, service.to_owned()))
            .or_insert(Circuit::Closed { failures: 0 });
        if let Circuit::Closed { .. } = circuit {
            let opened_ago = self.settings.cool_down.saturating_sub(open_for);
            *circuit = Circuit::Open {
                since: now.checked_sub(opened_ago).unwrap_or(now),
            };
        }
    }

    pub fn cool_down(&self) -> Duration {
        self.settings.cool_down
    }

    /// Whether the circuit is open (or being probed) for `service`.
    pub fn is_open(&self, org: OrgId, service: &str) -> bool {
        matches!(
            self.circuits.get(&(org, service.to_owned())),
            Some(Circuit::Open { .. } | Circuit::Probing { .. })
        )
    }
}

/// The wall-clock time `wait` from now, as a person reads it in a step's record: `10:42:05 UTC`.
fn clock(wait: Duration) -> String {
    let at = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
    at.format("%H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod adopted_tests {
    use super::*;

    #[test]
    fn a_circuit_another_process_opened_holds_calls_back_until_its_time() {
        let mut breakers = Breakers::new(BreakerSettings::default());
        let org = OrgId::new();
        let now = Instant::now();
        breakers.adopt(org, "slack", Duration::from_secs(12), now);
        let (message, wait) = breakers.held_back(org, "slack", now).expect("held back");
        assert!(message.contains("circuit open"), "{message}");
        assert_eq!(wait, Duration::from_secs(12));
        assert_eq!(breakers.permit(org, "hubspot", now), Permit::Allowed);
        assert_eq!(
            breakers.permit(org, "slack", now + Duration::from_secs(12)),
            Permit::Allowed,
            "this process probes once the time has come"
        );
        breakers.adopt(org, "slack", Duration::from_secs(30), now);
        assert!(
            breakers
                .held_back(org, "slack", now + Duration::from_secs(12))
                .is_some_and(|(message, _)| message.contains("being checked")),
            "a probe in flight here is not reset by what others saw"
        );
    }
}

#[cfg(test)]
mod held_tests {
    use super::*;

    #[test]
    fn a_service_that_asked_to_wait_is_held_for_the_organization_only() {
        let mut breakers = Breakers::new(BreakerSettings::default());
        let (org, other) = (OrgId::new(), OrgId::new());
        let now = Instant::now();
        breakers.hold(org, "slack", now + Duration::from_secs(30));
        match breakers.permit(org, "slack", now + Duration::from_secs(10)) {
            Permit::Refused { message, retry_in } => {
                assert_eq!(retry_in, Duration::from_secs(20));
                assert!(message.contains("slow down"), "{message}");
            }
            Permit::Allowed => panic!("held"),
        }
        assert_eq!(
            breakers.permit(other, "slack", now),
            Permit::Allowed,
            "another organization"
        );
        assert_eq!(
            breakers.permit(org, "hubspot", now),
            Permit::Allowed,
            "another service"
        );
        assert_eq!(
            breakers.permit(org, "slack", now + Duration::from_secs(30)),
            Permit::Allowed,
            "free again once the time has come"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_probes_after_the_cool_down() {
        let mut breakers = Breakers::new(BreakerSettings {
            failure_threshold: 3,
            cool_down: Duration::from_secs(30),
            ..BreakerSettings::default()
        });
        let org = OrgId::new();
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(breakers.permit(org, "slack", start), Permit::Allowed);
            breakers.record(org, "slack", true, start);
        }
        match breakers.permit(org, "slack", start + Duration::from_secs(10)) {
            Permit::Refused { message, retry_in } => {
                assert!(
                    message.starts_with("slack has failed 3 times in a row"),
                    "{message}"
                );
                assert_eq!(retry_in, Duration::from_secs(20));
            }
            Permit::Allowed => panic!("an open circuit lets a call through"),
        }
        assert_eq!(
            breakers.permit(OrgId::new(), "slack", start),
            Permit::Allowed,
            "other organizations are unaffected"
        );
        assert_eq!(
            breakers.permit(org, "gmail", start),
            Permit::Allowed,
            "other services are unaffected"
        );

        let later = start + Duration::from_secs(31);
        assert_eq!(
            breakers.permit(org, "slack", later),
            Permit::Allowed,
            "one probe"
        );
        assert!(
            matches!(breakers.permit(org, "slack", later), Permit::Refused { .. }),
            "only one"
        );
        breakers.record(org, "slack", false, later);
        assert_eq!(
            breakers.permit(org, "slack", later),
            Permit::Allowed,
            "a good probe closes it"
        );
    }

    #[test]
    fn a_failed_probe_reopens_and_successes_reset_the_count() {
        let mut breakers = Breakers::new(BreakerSettings {
            failure_threshold: 2,
            cool_down: Duration::from_secs(5),
            ..BreakerSettings::default()
        });
        let org = OrgId::new();
        let now = Instant::now();
        breakers.record(org, "hubspot", true, now);
        breakers.record(org, "hubspot", false, now);
        breakers.record(org, "hubspot", true, now);
        assert_eq!(
            breakers.permit(org, "hubspot", now),
            Permit::Allowed,
            "the count restarted"
        );
        breakers.record(org, "hubspot", true, now);
        let probe_time = now + Duration::from_secs(6);
        assert_eq!(breakers.permit(org, "hubspot", probe_time), Permit::Allowed);
        breakers.record(org, "hubspot", true, probe_time);
        assert!(matches!(
            breakers.permit(org, "hubspot", probe_time + Duration::from_secs(1)),
            Permit::Refused { .. }
        ));
    }

    #[test]
    fn a_probe_that_never_reports_is_given_up_after_its_deadline() {
        let settings = BreakerSettings {
            failure_threshold: 1,
            cool_down: Duration::from_secs(5),
            probe_deadline: Duration::from_secs(60),
        };
        let mut breakers = Breakers::new(settings);
        let org = OrgId::new();
        let now = Instant::now();
        breakers.record(org, "crm", true, now);
        let probe = now + Duration::from_secs(6);
        assert_eq!(breakers.permit(org, "crm", probe), Permit::Allowed);
        // The probe was cancelled: nothing is recorded.
        let (message, _) = breakers
            .held_back(org, "crm", probe + Duration::from_secs(30))
            .expect("held back while the probe may still report");
        assert!(message.contains("circuit open"), "{message}");
        assert_eq!(
            breakers.permit(org, "crm", probe + Duration::from_secs(61)),
            Permit::Allowed,
            "past its deadline, another call probes"
        );
    }
}
