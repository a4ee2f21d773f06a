//! Money. Costs are kept as whole micro-dollars (millionths of a US dollar) so that summing the
//! cost of a million steps loses nothing to floating point.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount in US dollars, held as micro-dollars. Serialized as a decimal number of dollars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(i64);

impl Usd {
    pub const ZERO: Usd = Usd(0);

    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Rounds to the nearest micro-dollar.
    pub fn from_dollars(dollars: f64) -> Self {
        Self((dollars * 1_000_000.0).round() as i64)
    }

    pub fn dollars(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }
}

impl Add for Usd {
    type Output = Usd;

    fn add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, other: Usd) {
        *self = *self + other;
    }
}

impl Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, Add::add)
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let micros = self.0.unsigned_abs();
        write!(
            formatter,
            "{sign}${}.{:06}",
            micros / 1_000_000,
            micros % 1_000_000
        )
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.dollars())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(Usd::from_dollars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_tiny_costs_add_up_exactly() {
        let total: Usd = (0..1_000_000).map(|_| Usd::from_micros(3)).sum();
        assert_eq!(total, Usd::from_dollars(3.0));
    }

    #[test]
    fn displays_as_dollars_with_micro_precision() {
        assert_eq!(Usd::from_micros(1_234_567).to_string(), "$1.234567");
        assert_eq!(Usd::from_micros(-5).to_string(), "-$0.000005");
    }

    #[test]
    fn serializes_as_a_number_of_dollars() {
        let json = serde_json::to_string(&Usd::from_micros(1_500)).unwrap();
        assert_eq!(json, "0.0015");
        assert_eq!(
            serde_json::from_str::<Usd>("0.0015").unwrap(),
            Usd::from_micros(1_500)
        );
    }
}
