//! Durations as people write them: `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`, or a number of
//! seconds.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationSpec(Duration);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {0:?}: expected a number and a unit, e.g. \"500ms\", \"30s\", \"5m\", \"2h\", \"1d\""
)]
pub struct DurationError(pub String);

impl DurationSpec {
    pub const fn new(duration: Duration) -> Self {
        Self(duration)
    }

    pub const fn get(self) -> Duration {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let number: f64 = number.parse().map_err(|_| DurationError(text.to_owned()))?;
        let seconds = match unit.trim() {
            "ms" => number / 1000.0,
            "" | "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            "d" => number * 86_400.0,
            _ => return Err(DurationError(text.to_owned())),
        };
        Duration::try_from_secs_f64(seconds)
            .map(Self)
            .map_err(|_| DurationError(text.to_owned()))
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if !millis.is_multiple_of(1000) {
            write!(formatter, "{millis}ms")
        } else {
            let seconds = millis / 1000;
            match seconds {
                s if s != 0 && s.is_multiple_of(86_400) => write!(formatter, "{}d", s / 86_400),
                s if s != 0 && s.is_multiple_of(3600) => write!(formatter, "{}h", s / 3600),
                s if s != 0 && s.is_multiple_of(60) => write!(formatter, "{}m", s / 60),
                s => write!(formatter, "{s}s"),
            }
        }
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(f64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Seconds(seconds) => Duration::try_from_secs_f64(seconds)
                .map(Self)
                .map_err(|_| serde::de::Error::custom(DurationError(seconds.to_string()))),
            Raw::Text(text) => Self::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

impl JsonSchema for DurationSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: a number of seconds, or a number and a unit (ms, s, m, h, d), e.g. \"30s\".",
            "oneOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*(ms|s|m|h|d)?\\s*$"}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_units_people_write() {
        let cases = [
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
            ("1.5s", 1_500),
            ("45", 45_000),
        ];
        for (text, millis) in cases {
            assert_eq!(
                DurationSpec::parse(text).unwrap().get(),
                Duration::from_millis(millis),
                "{text}"
            );
        }
        for bad in ["", "s", "5 weeks", "-3s", "abc"] {
            assert!(DurationSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips_through_json() {
        let spec: DurationSpec = serde_json::from_str("\"90s\"").unwrap();
        assert_eq!(serde_json::to_string(&spec).unwrap(), "\"90s\"");
        let spec: DurationSpec = serde_json::from_str("120").unwrap();
        assert_eq!(spec.to_string(), "2m");
    }
}
