//! Drafts: what a caller typed, before the domain's input rules turn it into a value the domain stores.
//!
//! Every way in (the GraphQL API, file imports, the CLI) hands the domain the same draft, and the domain parses it
//! once with the same rules (`TryFrom<SiteDraft> for NewSite` and the like), so no path can store what another
//! would refuse. The rules collect **every** problem of a draft rather than stopping at the first: an API client
//! fixes its input in one round trip, an import report lists every faulty column of a line.
//!
//! Paths in a [`FieldProblems`] are relative to the draft (`postalCode`, `emails[2]`); the caller places them
//! (the API under `input`, an import under its file line and column).

use crate::Code;
use crate::error::{ErrorCode, FieldPath};
use std::fmt;

/// One broken input rule: which field, which code, and why in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field at fault, relative to the draft.
    pub field: FieldPath,
    /// Stable code, usually [`Code::InvalidValue`] or [`Code::UnknownValue`].
    pub code: Code,
    /// Explanation for a human.
    pub message: String,
}

/// Every broken input rule of one draft; empty when the draft is acceptable.
///
/// It is also the error a draft's parsing returns, so it carries a code ([`ErrorCode`]) like every domain error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldProblems(Vec<FieldProblem>);

impl FieldProblems {
    /// No problem yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem at `field`.
    pub fn push(&mut self, field: FieldPath, code: Code, message: impl Into<String>) {
        self.0.push(FieldProblem {
            field,
            code,
            message: message.into(),
        });
    }

    /// The value of `r`, or `None` with an `invalid_value` problem at `field` carrying the error's message.
    pub fn parse<T, E: fmt::Display>(&mut self, field: FieldPath, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, Code::InvalidValue, e.to_string());
                None
            }
        }
    }

    /// A required text: trimmed, 1 to `max` characters.
    pub fn text(&mut self, field: FieldPath, value: &str, max: usize) -> Option<String> {
        let v = value.trim();
        let count = v.chars().count();
        if count == 0 || count > max {
            let message = if count == 0 {
                format!("{field} must not be blank")
            } else {
                format!("{field} must have at most {max} characters (it has {count})")
            };
            self.push(field, Code::InvalidValue, message);
            return None;
        }
        Some(v.to_owned())
    }

    /// An optional text: trimmed, blank is absent, at most `max` characters.
    ///
    /// A text over the limit is a problem (and `None`): truncating it silently would lose what the caller wrote.
    pub fn opt_text(
        &mut self,
        field: FieldPath,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        let v = value.map(str::trim).filter(|v| !v.is_empty())?;
        let count = v.chars().count();
        if count > max {
            self.push(
                field.clone(),
                Code::InvalidValue,
                format!("{field} must have at most {max} characters (it has {count})"),
            );
            return None;
        }
        Some(v.to_owned())
    }

    /// Whether no rule was broken.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many rules were broken.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &FieldProblem> {
        self.0.iter()
    }

    /// Whether `field` (exactly) has a problem: an import uses it to drop only the faulty optional fields.
    pub fn concerns(&self, field: &FieldPath) -> bool {
        self.0.iter().any(|p| &p.field == field)
    }

    /// The same problems with every path placed under `root` (e.g. `input` for a mutation).
    #[must_use]
    pub fn under(self, root: &FieldPath) -> Self {
        Self(
            self.0
                .into_iter()
                .map(|p| FieldProblem {
                    field: FieldPath(root.0.iter().chain(p.field.0.iter()).cloned().collect()),
                    ..p
                })
                .collect(),
        )
    }

    /// `Ok(value)` when no rule was broken, else these problems. `value` is computed only when it is needed,
    /// since building it usually unwraps the fields the rules checked.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, Self> {
        if !self.is_empty() {
            return Err(self);
        }
        match value() {
            Some(v) => Ok(v),
            // A rule returned None without recording why: a bug in the rules, reported rather than hidden.
            None => Err(Self(vec![FieldProblem {
                field: FieldPath::default(),
                code: Code::InvalidValue,
                message: "the input is incomplete".to_owned(),
            }])),
        }
    }
}

impl IntoIterator for FieldProblems {
    type Item = FieldProblem;
    type IntoIter = std::vec::IntoIter<FieldProblem>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for FieldProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if p.field.0.is_empty() {
                write!(f, "{}", p.message)?;
            } else {
                write!(f, "{}: {}", p.field, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for FieldProblems {}

impl ErrorCode for FieldProblems {
    fn code(&self) -> Code {
        self.0.first().map_or(Code::InvalidValue, |p| p.code)
    }

    fn field(&self) -> Option<&FieldPath> {
        self.0.first().map(|p| &p.field)
    }

    fn is_user_error(&self) -> bool {
        true
    }

    fn field_problems(&self) -> Option<&FieldProblems> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn path(s: &str) -> FieldPath {
        FieldPath::new(s)
    }

    #[test]
    fn every_broken_rule_is_collected_in_order() {
        let mut p = FieldProblems::new();
        assert_eq!(p.text(path("name"), "  Médiathèque  ", 10), None);
        assert_eq!(p.text(path("commune"), "   ", 10), None);
        assert_eq!(
            p.text(path("address"), " 1 rue ", 10).as_deref(),
            Some("1 rue")
        );
        assert_eq!(p.len(), 2);
        let fields: Vec<String> = p.iter().map(|x| x.field.to_string()).collect();
        assert_eq!(fields, ["name", "commune"]);
        assert!(p.to_string().contains("at most 10 characters (it has 11)"));
        assert!(p.to_string().contains("commune must not be blank"));
        assert!(p.concerns(&path("commune")));
        assert!(!p.concerns(&path("address")));
    }

    #[test]
    fn optional_text_is_absent_when_blank_and_refused_when_too_long() {
        let mut p = FieldProblems::new();
        assert_eq!(p.opt_text(path("summary"), Some("  "), 5), None);
        assert_eq!(p.opt_text(path("summary"), None, 5), None);
        assert!(p.is_empty());
        assert_eq!(p.opt_text(path("summary"), Some("abcdef"), 5), None);
        assert_eq!(p.code(), Code::InvalidValue);
        assert_eq!(
            p.field().map(ToString::to_string).as_deref(),
            Some("summary")
        );
    }

    #[test]
    fn finish_refuses_when_any_rule_broke_and_places_paths_under_a_root() {
        let mut p = FieldProblems::new();
        let n: Option<u32> = p.parse(path("count"), "x".parse::<u32>());
        let err = p
            .finish(|| n)
            .expect_err("a broken rule must refuse the draft")
            .under(&path("input"));
        assert_eq!(
            err.field().map(ToString::to_string).as_deref(),
            Some("input.count")
        );
        assert!(err.is_user_error());
        assert_eq!(FieldProblems::new().finish(|| Some(3)), Ok(3));
        let incomplete = FieldProblems::new().finish(|| None::<u32>);
        assert!(incomplete.is_err(), "a silent None must not pass as valid");
    }
}
