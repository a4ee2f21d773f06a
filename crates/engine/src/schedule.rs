//! Schedule triggers: a cron expression of 5 fields (minute to weekday) or 6 (seconds first),
//! read in an IANA time zone.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    zone: Tz,
}

impl Schedule {
    /// `zone` is UTC when absent. Errors say what is wrong, for `$.trigger.cron` or
    /// `$.trigger.timezone`.
    pub fn parse(cron: &str, zone: Option<&str>) -> Result<Schedule, ScheduleProblem> {
        let fields = cron.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(ScheduleProblem::Cron(format!(
                "{cron:?} has {fields} fields; a cron expression has 5 (minute hour day month weekday) or 6 (seconds first)"
            )));
        }
        let parsed = Cron::from_str(cron).map_err(|error| {
            ScheduleProblem::Cron(format!("{cron:?} is not a valid cron expression: {error}"))
        })?;
        let zone = match zone {
            Some(name) => Tz::from_str(name).map_err(|_| {
                ScheduleProblem::Timezone(format!(
                    "{name:?} is not an IANA time zone (e.g. \"Europe/Berlin\")"
                ))
            })?,
            None => Tz::UTC,
        };
        Ok(Schedule { cron: parsed, zone })
    }

    /// The first time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.zone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|next| next.with_timezone(&Utc))
    }

    /// The shortest time between two of the next `count` runs after `after`.
    pub fn shortest_gap(&self, after: DateTime<Utc>, count: usize) -> Option<std::time::Duration> {
        self.upcoming(after, count)
            .windows(2)
            .filter_map(|pair| (pair[1] - pair[0]).to_std().ok())
            .min()
    }

    /// The next `count` times after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut times = Vec::with_capacity(count);
        let mut cursor = after;
        while times.len() < count {
            match self.next_after(cursor) {
                Some(next) => {
                    times.push(next);
                    cursor = next;
                }
                None => break,
            }
        }
        times
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScheduleProblem {
    Cron(String),
    Timezone(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn five_fields_run_on_minutes_in_their_time_zone() {
        let weekdays_at_nine = Schedule::parse("0 9 * * MON-FRI", Some("Europe/Berlin")).unwrap();
        // Friday 2026-12-04 10:00 Berlin has passed; the next is Monday 09:00 Berlin (08:00 UTC).
        assert_eq!(
            weekdays_at_nine.next_after(at("2026-12-04T09:30:00Z")),
            Some(at("2026-12-07T08:00:00Z"))
        );
        let every_minute = Schedule::parse("* * * * *", None).unwrap();
        assert_eq!(
            every_minute.upcoming(at("2026-12-01T12:00:30Z"), 2),
            vec![at("2026-12-01T12:01:00Z"), at("2026-12-01T12:02:00Z")]
        );
    }

    #[test]
    fn six_fields_start_with_seconds() {
        let every_ten_seconds = Schedule::parse("*/10 * * * * *", None).unwrap();
        assert_eq!(
            every_ten_seconds.next_after(at("2026-12-01T12:00:01Z")),
            Some(at("2026-12-01T12:00:10Z"))
        );
    }

    #[test]
    fn bad_expressions_and_zones_say_what_is_wrong() {
        assert!(matches!(
            Schedule::parse("* * *", None),
            Err(ScheduleProblem::Cron(message)) if message.contains("3 fields")
        ));
        assert!(matches!(
            Schedule::parse("61 * * * *", None),
            Err(ScheduleProblem::Cron(_))
        ));
        assert!(matches!(
            Schedule::parse("* * * * *", Some("Mars/Olympus")),
            Err(ScheduleProblem::Timezone(_))
        ));
    }
}
