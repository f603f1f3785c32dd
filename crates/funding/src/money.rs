//! Money as integer cents.
//!
//! Amounts are added and compared to decide whether an envelope can take one more grant: a float would make
//! "exactly full" depend on rounding. Cents in an `i64` hold any public budget exactly; display is in euros.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of euros, stored and computed as whole cents.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct Money(pub i64);

impl Money {
    /// Zero euros, the neutral element of sums.
    pub const ZERO: Money = Money(0);

    /// Whole euros, for seeds and tests written the way the sources write them.
    pub const fn euros(euros: i64) -> Self {
        Money(euros * 100)
    }

    /// The amount in cents, as stored.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// Addition that reports overflow instead of wrapping, so a corrupt sum can never look like room.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// Multiplication by a count (posts, vouchers), reporting overflow.
    pub fn checked_mul(self, n: i64) -> Option<Money> {
        self.0.checked_mul(n).map(Money)
    }

    /// Parses a euro amount written by a human or a CSV: `50000`, `297.23`, `4 805,00`, `67500 €`.
    ///
    /// At most two decimals: a third would be a fraction of a cent, which no budget line has.
    pub fn parse_euros(raw: &str) -> Result<Money, String> {
        let cleaned: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '€' && *c != '\u{a0}' && *c != '\u{202f}')
            .map(|c| if c == ',' { '.' } else { c })
            .collect();
        let bad = || format!("{raw:?} is not an amount in euros (e.g. 50000 or 297.23)");
        let (negative, digits) = match cleaned.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, cleaned.as_str()),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 2
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let frac: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
            _ => frac.parse().map_err(|_| bad())?,
        };
        let cents = whole
            .checked_mul(100)
            .and_then(|c| c.checked_add(frac))
            .ok_or_else(bad)?;
        Ok(Money(if negative { -cents } else { cents }))
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0.saturating_sub(rhs.0))
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}

impl fmt::Display for Money {
    /// French notation, as the sources write it: `50 000,00 €`, `297,23 €`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = (abs / 100).to_string();
        let mut grouped = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push(' ');
            }
            grouped.push(c);
        }
        write!(f, "{sign}{grouped},{:02} €", abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        assert_eq!(Money::parse_euros("297.23"), Ok(Money(29_723)));
        assert_eq!(Money::parse_euros("4 805,00 €"), Ok(Money(480_500)));
        assert_eq!(Money::parse_euros("326.6"), Ok(Money(32_660)));
        assert_eq!(
            Money::parse_euros("250000000"),
            Ok(Money::euros(250_000_000))
        );
        assert!(Money::parse_euros("1.234").is_err());
        assert!(Money::parse_euros("abc").is_err());
        assert!(Money::parse_euros("").is_err());
        assert_eq!(Money(29_723).to_string(), "297,23 €");
        assert_eq!(Money::euros(250_000_000).to_string(), "250 000 000,00 €");
        assert_eq!(Money::euros(67_500).to_string(), "67 500,00 €");
        assert_eq!(Money(-5).to_string(), "-0,05 €");
    }
}
