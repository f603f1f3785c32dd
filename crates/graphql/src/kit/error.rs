//! Domain errors to GraphQL errors, keeping their codes; and a code on every error async-graphql itself produces.
//!
//! async-graphql converts anything `Display` into an error without extensions; going through [`IntoGql`] instead
//! keeps the stable `extensions.code` (and `extensions.field`) of every domain error, and masks internal failures.
//! Errors raised by async-graphql (syntax, validation, limits, argument values) get theirs from [`ErrorCodes`], an
//! extension that classifies them by the phase that produced them and by their position in the document, never by
//! their text. Every code is a [`Code`] of the table in `maillage_core::codes`.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextResolve,
    NextValidation, ResolveInfo,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    ErrorExtensionValues, ErrorExtensions, Response, ServerError, ServerResult, ValidationResult,
    Value, Variables,
};
use maillage_core::{Code, ErrorCode};
use std::sync::Arc;

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
            Code::InternalError,
            None,
        );
    }
    coded(&e.to_string(), e.code(), e.field().map(ToString::to_string))
}

/// An error with a code (and its classification) and, optionally, the input field at fault.
pub fn coded(message: &str, code: Code, field: Option<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| {
        set_code(ext, code);
        if let Some(field) = &field {
            ext.set("field", field.as_str());
        }
    })
}

fn set_code(ext: &mut ErrorExtensionValues, code: Code) {
    ext.set("code", code.as_str());
    ext.set("classification", code.classification().as_str());
}

/// Gives `error` the code `code` unless it has one; adds the classification of its code when missing.
fn ensure_code(error: &mut ServerError, code: Code) {
    let ext = error.extensions.get_or_insert_with(Default::default);
    let existing = match ext.get("code") {
        Some(Value::String(s)) => Code::parse(s),
        _ => None,
    };
    match existing {
        Some(existing) if ext.get("classification").is_none() => set_code(ext, existing),
        Some(_) => {}
        None => set_code(ext, code),
    }
}

/// Whether `error` already carries a code.
fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some())
}

/// The extension factory to register on a schema (`.extension(ErrorCodes)`): every error of a response gets an
/// `extensions.code` and an `extensions.classification`.
///
/// | Where async-graphql fails | Code |
/// |---|---|
/// | parsing: a document the parser refuses | `graphql_validation_failed` |
/// | parsing: a document that parses but nests deeper than the recursion limit | `query_too_deep` |
/// | validation: a rule broken at a position of the document | `graphql_validation_failed` |
/// | validation: the depth or complexity limit (no position) | `query_too_deep` / `query_too_complex` |
/// | resolving: an argument value that does not convert (the error points at the argument) | `invalid_value` |
/// | resolving: anything else without a code | `internal_error` |
/// | before execution, outside these phases (e.g. an unknown operation name) | `graphql_validation_failed` |
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

/// async-graphql's text for its two validation limits, the only errors it produces without a kind, a source or a
/// position. Both limits yield an error with no position, so position tells them from rule errors; only which of
/// the two it is needs the text (a unit test provokes both, so an upgrade that rewords them fails it).
const TOO_COMPLEX: &str = "Query is too complex.";

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for error in &mut response.errors {
            // What no inner hook coded: an error with a path failed while resolving, one without a path refused
            // the request before execution (e.g. an unknown operation name).
            let code = if error.path.is_empty() {
                Code::GraphqlValidationFailed
            } else {
                Code::InternalError
            };
            ensure_code(error, code);
        }
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|mut error| {
            // After the parser, async-graphql checks the recursion depth (and a directive count this schema does
            // not limit): a document the parser accepts was refused by that check.
            let code = if async_graphql::parser::parse_query(query).is_ok() {
                Code::QueryTooDeep
            } else {
                Code::GraphqlValidationFailed
            };
            ensure_code(&mut error, code);
            error
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            for error in &mut errors {
                let code = if !error.locations.is_empty() {
                    Code::GraphqlValidationFailed
                } else if error.message == TOO_COMPLEX {
                    Code::QueryTooComplex
                } else {
                    Code::QueryTooDeep
                };
                ensure_code(error, code);
            }
            errors
        })
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let arguments: Vec<_> = info
            .field
            .arguments
            .iter()
            .map(|(_, value)| value.pos)
            .collect();
        next.run(ctx, info).await.map_err(|mut error| {
            // async-graphql converts arguments inside the resolver (some checks, e.g. an Int beyond 32 bits, only
            // then): such an error points at the argument's value, where a resolver's own error points at the
            // field. The caller's input is at fault.
            if !has_code(&error) && error.locations.iter().any(|pos| arguments.contains(pos)) {
                ensure_code(&mut error, Code::InvalidValue);
            }
            error
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    struct Query;

    #[Object]
    impl Query {
        async fn value(&self, n: i32) -> i32 {
            n
        }

        async fn nested(&self) -> Query {
            Query
        }

        async fn failing(&self) -> async_graphql::Result<i32> {
            Err(async_graphql::Error::new("boom"))
        }

        async fn refused(&self) -> async_graphql::Result<i32> {
            Err(coded("no", Code::Forbidden, None))
        }
    }

    async fn code_of(
        schema: &Schema<Query, EmptyMutation, EmptySubscription>,
        query: &str,
    ) -> (String, String) {
        let response = schema.execute(query).await;
        let json = serde_json::to_value(&response).unwrap();
        let ext = &json["errors"][0]["extensions"];
        (
            ext["code"].as_str().unwrap_or_default().to_owned(),
            ext["classification"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    fn schema(
        depth: usize,
        complexity: usize,
        recursion: usize,
    ) -> Schema<Query, EmptyMutation, EmptySubscription> {
        Schema::build(Query, EmptyMutation, EmptySubscription)
            .limit_depth(depth)
            .limit_complexity(complexity)
            .limit_recursive_depth(recursion)
            .extension(ErrorCodes)
            .finish()
    }

    #[tokio::test]
    async fn every_error_of_async_graphql_gets_its_code() {
        let s = schema(3, 5, 32);
        let cases = [
            ("{ value(n: 1", "graphql_validation_failed", "BAD_REQUEST"),
            ("{ nope }", "graphql_validation_failed", "BAD_REQUEST"),
            (
                "{ nested { nested { nested { value(n: 1) } } } }",
                "query_too_deep",
                "BAD_REQUEST",
            ),
            (
                "{ a: value(n: 1) b: value(n: 1) c: value(n: 1) d: value(n: 1) e: value(n: 1) f: value(n: 1) }",
                "query_too_complex",
                "BAD_REQUEST",
            ),
            ("{ value(n: 99999999999) }", "invalid_value", "BAD_REQUEST"),
            ("{ failing }", "internal_error", "INTERNAL_ERROR"),
            ("{ refused }", "forbidden", "FORBIDDEN"),
        ];
        for (query, code, class) in cases {
            assert_eq!(
                code_of(&s, query).await,
                (code.to_owned(), class.to_owned()),
                "{query}"
            );
        }
        let deep = schema(100, 1000, 2);
        assert_eq!(
            code_of(&deep, "{ nested { nested { nested { value(n: 1) } } } }")
                .await
                .0,
            "query_too_deep"
        );
        let response = s
            .execute(async_graphql::Request::new("query A { value(n: 1) }").operation_name("B"))
            .await;
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(
            json["errors"][0]["extensions"]["code"],
            "graphql_validation_failed"
        );
    }
}
