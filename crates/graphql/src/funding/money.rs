//! Money: the `Cents` scalar and the `Money` object (also used by the AMI module).

use async_graphql::{InputValueError, InputValueResult, Object, Scalar, ScalarType, Value};
use maillage_funding::Money;

/// An amount in euro cents, as a JSON integer (a string of digits is accepted too). Cents, never floats, so that
/// sums and comparisons are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cents(pub i64);

/// An amount in euro cents (integer); `2500000000` is 25 000 000,00 €.
#[Scalar(name = "Cents")]
impl ScalarType for Cents {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n
                .as_i64()
                .map(Cents)
                .ok_or_else(|| InputValueError::custom("Cents must be an integer number of cents")),
            Value::String(s) => {
                s.trim().parse::<i64>().map(Cents).map_err(|_| {
                    InputValueError::custom("Cents must be an integer number of cents")
                })
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

/// An amount of money: exact cents, and the same in euros for display.
pub struct MoneyNode(pub Money);

/// An amount of money: exact cents, and the same in euros for display.
#[Object(name = "Money")]
impl MoneyNode {
    /// The amount in cents (exact).
    async fn cents(&self) -> Cents {
        Cents(self.0.cents())
    }
    /// The amount in euros, French notation (e.g. `67 500,00 €`).
    async fn euros(&self) -> String {
        self.0.to_string()
    }
}
