//! The mutation convention: one `input` object, a `<Mutation>Payload { <object>, userErrors }`.
//!
//! Authentication and permission errors are GraphQL errors (`unauthenticated`, `forbidden`); everything the caller
//! can fix by changing its input (invalid values, unknown ids, stale versions) is a [`UserError`] with the path of
//! the input field at fault, and then nothing was written.

use crate::kit::error::{coded, to_gql};
use crate::kit::state;
use async_graphql::{Context, MaybeUndefined, SimpleObject};
use maillage_core::error::FieldPath;
use maillage_core::{Actor, Code, ErrorCode, Role};

/// A business error of a mutation: nothing was written; the caller can fix its input and retry.
#[derive(SimpleObject, Debug, Clone)]
pub struct UserError {
    /// Path to the input field at fault, e.g. `["input", "postalCode"]`; empty when no single field is at fault.
    pub field: Vec<String>,
    /// Stable code: `invalid_value`, `unknown_value`, `not_found`, `stale_version`, `already_exists`, …
    pub code: String,
    /// Explanation for a human.
    pub message: String,
}

/// A user error at `field`.
pub fn user_error(field: FieldPath, code: Code, message: impl Into<String>) -> UserError {
    UserError {
        field: field.0,
        code: code.as_str().to_owned(),
        message: message.into(),
    }
}

/// The path `input.<field>`.
pub fn input(field: &str) -> FieldPath {
    FieldPath::new("input").push(field)
}

/// Splits a domain error into a user error (payload) or a GraphQL error (permission, internal).
///
/// A refused draft (domain input rules) gives one user error per broken rule, under `input`.
pub fn classify<E: ErrorCode>(e: &E) -> async_graphql::Result<Vec<UserError>> {
    if let Some(problems) = e.field_problems() {
        return Ok(draft_errors(problems.clone()));
    }
    if e.is_user_error() {
        Ok(vec![UserError {
            field: e.field().map(|f| f.0.clone()).unwrap_or_default(),
            code: e.code().as_str().to_owned(),
            message: e.to_string(),
        }])
    } else {
        Err(to_gql(e))
    }
}

/// The broken input rules of a draft as user errors, their paths under `input`.
pub fn draft_errors(problems: maillage_core::FieldProblems) -> Vec<UserError> {
    problems
        .under(&FieldPath::new("input"))
        .into_iter()
        .map(|p| user_error(p.field, p.code, p.message))
        .collect()
}

/// The caller, refused with `unauthenticated` when anonymous: writes always need a token.
pub fn writer(ctx: &Context<'_>) -> async_graphql::Result<Actor> {
    let s = state(ctx)?;
    if s.actor.role() == Role::Anonymous {
        return Err(coded(
            "this operation needs an API token (Authorization: Bearer …)",
            Code::Unauthenticated,
            None,
        ));
    }
    Ok(s.actor.clone().with_request_id(s.request_id.clone()))
}

/// Collects every input problem at once, so a client fixes them in one round trip.
///
/// Domain-specific checks are extension traits on it in the domain's `inputs.rs`.
#[derive(Default)]
pub struct Checks(pub Vec<UserError>);

impl Checks {
    /// Records `problem` at `input.<field>` with code `invalid_value` when `r` failed.
    pub fn parse<T, E: std::fmt::Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        self.parse_at(input(field), r)
    }

    /// Like [`Checks::parse`], at any path.
    pub fn parse_at<T, E: std::fmt::Display>(
        &mut self,
        field: FieldPath,
        r: Result<T, E>,
    ) -> Option<T> {
        r.map_err(|e| {
            self.0
                .push(user_error(field, Code::InvalidValue, e.to_string()))
        })
        .ok()
    }

    /// A trimmed text of 1 to `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        let v = value.trim();
        if v.is_empty() || v.chars().count() > max {
            self.0.push(user_error(
                input(field),
                Code::InvalidValue,
                format!("{field} must have 1 to {max} characters"),
            ));
            return None;
        }
        Some(v.to_owned())
    }

    /// A decoded ID, or an `invalid_id` error at `input.<field>`.
    pub fn id<T>(&mut self, field: &str, r: async_graphql::Result<T>) -> Option<T> {
        self.id_at(input(field), r)
    }

    /// A decoded ID, or an `invalid_id` error at `field`.
    pub fn id_at<T>(&mut self, field: FieldPath, r: async_graphql::Result<T>) -> Option<T> {
        r.map_err(|e| self.0.push(user_error(field, Code::InvalidId, e.message)))
            .ok()
    }

    /// Records a problem.
    pub fn push(&mut self, error: UserError) {
        self.0.push(error);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A trimmed optional text; blank is absent.
pub fn opt_text(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A field of an update: absent leaves it (`None`), `null` clears it (`Some(None)`), a value sets it.
pub fn maybe<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> Option<U>) -> Option<Option<U>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(f(v)),
    }
}

/// An optional text field of an update: absent leaves it, `null` or blank clears it.
pub fn maybe_text(v: MaybeUndefined<String>) -> Option<Option<String>> {
    maybe(v, |s| opt_text(Some(s)))
}

/// Declares one `<Mutation>Payload` per mutation that returns the same object, each a copy of `$base`'s fields
/// (converted with `From<$base>`), so that every mutation has a payload of its own name and can grow its own
/// fields later without breaking the others.
///
/// ```ignore
/// payloads! {
///     GrantPayload {
///         /// The grant, unless there were user errors.
///         grant: Option<GrantNode>,
///     }
///     /// Result of `signGrant`.
///     SignGrantPayload,
///     /// Result of `closeGrant`.
///     CloseGrantPayload,
/// }
/// ```
#[macro_export]
macro_rules! payloads {
    (
        @one $base:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),+ $(,)? }
        $(#[$meta:meta])* $name:ident
    ) => {
        $(#[$meta])*
        #[derive(async_graphql::SimpleObject)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)+
            /// Business errors; empty on success (and when not empty, nothing was written).
            pub user_errors: Vec<$crate::kit::payload::UserError>,
        }

        impl From<$base> for $name {
            fn from(p: $base) -> Self {
                Self {
                    $($field: p.$field,)+
                    user_errors: p.user_errors,
                }
            }
        }
    };
    ($base:ident $fields:tt $($(#[$meta:meta])* $name:ident),+ $(,)?) => {
        $($crate::payloads!(@one $base $fields $(#[$meta])* $name);)+
    };
}
