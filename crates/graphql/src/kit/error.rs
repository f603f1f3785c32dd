//! Domain errors to GraphQL errors, keeping their codes.
//!
//! async-graphql converts anything `Display` into an error without extensions; going through [`IntoGql`] instead
//! keeps the stable `extensions.code` (and `extensions.field`) of every domain error, and masks internal failures.

use async_graphql::ErrorExtensions;
use maillage_core::ErrorCode;

/// Converts a domain result into a GraphQL result with `extensions.code`.
pub trait IntoGql<T> {
    /// The conversion; internal errors are logged and replaced by a generic `internal_error`.
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: ErrorCode> IntoGql<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| to_gql(&e))
    }
}

/// Builds the GraphQL error for a domain error.
pub fn to_gql<E: ErrorCode + ?Sized>(e: &E) -> async_graphql::Error {
    if e.is_internal() {
        tracing::error!(error = %e, "internal error");
        return coded(
            "internal error; the incident is logged",
            "internal_error",
            None,
        );
    }
    coded(&e.to_string(), e.code(), e.field().map(ToString::to_string))
}

/// An error with a code and, optionally, the input field at fault.
pub fn coded(message: &str, code: &'static str, field: Option<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| {
        ext.set("code", code);
        if let Some(field) = &field {
            ext.set("field", field.as_str());
        }
    })
}
