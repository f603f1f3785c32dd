//! The contract between domain errors and their callers (GraphQL, CLI).

use crate::Code;
use std::fmt;

/// An error that carries one of the API's stable codes.
///
/// Every domain error enum implements it; the GraphQL layer copies `code()` into `extensions.code`, the HTTP routes
/// take their status from it and the CLI prints it, so clients can branch on it without parsing messages. The codes
/// are the table of [`Code`].
pub trait ErrorCode: std::error::Error {
    /// The stable code, e.g. [`Code::InvalidCursor`].
    fn code(&self) -> Code;

    /// The input field at fault, when there is one (e.g. `filter.departments[2]`).
    fn field(&self) -> Option<&FieldPath> {
        None
    }

    /// Whether this error hides an internal failure whose message must not reach a client.
    fn is_internal(&self) -> bool {
        false
    }

    /// Whether this is a business error the caller can fix by changing its input (GraphQL `userErrors` of a
    /// mutation payload), as opposed to an authentication, permission or internal error (GraphQL errors).
    fn is_user_error(&self) -> bool {
        false
    }

    /// Every broken input rule, when the error is a refused draft: the API lists them all in `userErrors`, an
    /// import report lists them all for the line, instead of the first one only.
    fn field_problems(&self) -> Option<&crate::draft::FieldProblems> {
        None
    }
}

/// A path to an input field, e.g. `["input", "postalCode"]` or `["filter", "departments", "2"]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldPath(pub Vec<String>);

impl FieldPath {
    /// A path made of one segment.
    pub fn new(segment: impl Into<String>) -> Self {
        Self(vec![segment.into()])
    }

    /// This path with one more segment.
    #[must_use]
    pub fn push(mut self, segment: impl Into<String>) -> Self {
        self.0.push(segment.into());
        self
    }

    /// This path with a list index as the next segment.
    #[must_use]
    pub fn index(self, index: usize) -> Self {
        self.push(index.to_string())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if segment.chars().all(|c| c.is_ascii_digit()) && i > 0 {
                write!(f, "[{segment}]")?;
            } else {
                if i > 0 {
                    f.write_str(".")?;
                }
                f.write_str(segment)?;
            }
        }
        Ok(())
    }
}

/// Why a value could not be parsed into one of the core value types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason} (got {value:?})")]
pub struct InvalidValue {
    /// The kind of value expected, e.g. `postal code`.
    pub what: &'static str,
    /// Why it was refused, in plain words.
    pub reason: &'static str,
    /// The offending input, truncated to 100 characters.
    pub value: String,
}

impl InvalidValue {
    /// Builds the error, truncating the echoed input so that a huge value never floods a report or a response.
    pub fn new(what: &'static str, reason: &'static str, value: &str) -> Self {
        Self {
            what,
            reason,
            value: value.chars().take(100).collect(),
        }
    }
}

impl ErrorCode for InvalidValue {
    fn code(&self) -> Code {
        Code::InvalidValue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_path_renders_indices_as_brackets() {
        let path = FieldPath::new("filter").push("departments").index(2);
        assert_eq!(path.to_string(), "filter.departments[2]");
    }
}
