//! The `Date` scalar: a calendar day as clients write it, without the Rust type's name leaking into the schema.
//!
//! async-graphql names its `chrono::NaiveDate` scalar `NaiveDate`; the contract says `Date`, so the GraphQL layer
//! carries this newtype and converts at the edge. The domains keep `NaiveDate`.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

/// A calendar day without time or zone: ISO 8601 `YYYY-MM-DD` (RFC 3339 `full-date`), e.g. `2026-12-05`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

/// The wire format, shared by parsing and printing.
const FORMAT: &str = "%Y-%m-%d";

#[Scalar(
    name = "Date",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339#section-5.6"
)]
/// A calendar day without time or zone: ISO 8601 `YYYY-MM-DD` (RFC 3339 `full-date`), e.g. `2026-12-05`.
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, FORMAT).map(Date).map_err(|_| {
                InputValueError::custom(format!("expected a date YYYY-MM-DD, got {s:?}"))
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format(FORMAT).to_string())
    }
}

impl From<NaiveDate> for Date {
    fn from(value: NaiveDate) -> Self {
        Self(value)
    }
}

impl From<Date> for NaiveDate {
    fn from(value: Date) -> Self {
        value.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly")]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_iso_days_only() {
        let d = Date::parse(Value::String("2026-12-05".into())).unwrap();
        assert_eq!(d.to_value(), Value::String("2026-12-05".into()));
        assert!(Date::parse(Value::String("05/12/2026".into())).is_err());
        assert!(Date::parse(Value::String("2026-02-30".into())).is_err());
        assert!(Date::parse(Value::Number(20261205.into())).is_err());
    }
}
