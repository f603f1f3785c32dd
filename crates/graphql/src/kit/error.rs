//! Domain errors to GraphQL errors, keeping their codes; and a code on every error async-graphql itself produces.
//!
//! async-graphql converts anything `Display` into an error without extensions; going through [`IntoGql`] instead
//! keeps the stable `extensions.code` (and `extensions.field`) of every domain error, and masks internal failures.
//! Errors raised by async-graphql (syntax, validation, limits, argument values) get theirs from [`ErrorCodes`], which
//! classifies them by the phase that produced them and by their position in the document, never by their text (but
//! for telling its two limits apart). [`crate::engine::Engine`] applies it to every response. Every code is a
//! [`Code`] of the table in `maillage_core::codes`.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ErrorExtensions, Pos, Positioned, ServerError, Value};
use maillage_core::{Code, ErrorCode};

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

/// The codes of the errors async-graphql raises, learnt from the document before it runs: every error of a
/// response gets an `extensions.code` and an `extensions.classification`.
///
/// | Where async-graphql fails | Code |
/// |---|---|
/// | parsing: a document the parser refuses ([`ErrorCodes::parse_error`]) | `graphql_validation_failed` |
/// | parsing: a document that parses but nests deeper than the recursion limit | `query_too_deep` |
/// | validation: a rule broken at a position of the document | `graphql_validation_failed` |
/// | validation: the depth or complexity limit (no position) | `query_too_deep` / `query_too_complex` |
/// | resolving: an argument value that does not convert (the error points at the argument) | `invalid_value` |
/// | resolving: anything else without a code | `internal_error` |
/// | before execution, outside these phases (e.g. an unknown operation name) | `graphql_validation_failed` |
///
/// A post-processing of the response rather than an async-graphql extension: with any extension registered,
/// async-graphql sends every field and list item through the extension chain (12 % of a simple query's CPU). The
/// phase an error comes from is told by what it carries: a path (it was raised while resolving), a position (a
/// validation rule) or neither (a limit, or an unknown operation).
#[derive(Debug, Clone, Default)]
pub struct ErrorCodes {
    /// Positions of every field argument's value in the document, sorted: async-graphql converts arguments inside
    /// the resolver (some checks, e.g. an Int beyond 32 bits, only then), and such an error points at the
    /// argument's value where a resolver's own error points at the field.
    arguments: Vec<Pos>,
    /// The document nests deeper than async-graphql's recursion limit: it refuses it right after parsing.
    too_deep: bool,
}

/// async-graphql's text for its two validation limits, the only errors it produces before execution without a
/// position. Both yield an error with no position, so position tells them from rule errors; only which of the two
/// it is needs the text (a unit test provokes both, so an upgrade that rewords them fails it).
const TOO_COMPLEX: &str = "Query is too complex.";

/// See [`TOO_COMPLEX`].
const TOO_DEEP: &str = "Query is nested too deep.";

impl ErrorCodes {
    /// What the codes of `doc`'s errors depend on, under async-graphql's recursion limit `recursion_limit`.
    pub fn new(doc: &ExecutableDocument, recursion_limit: usize) -> Self {
        if nests_deeper(doc, recursion_limit) {
            return Self {
                arguments: Vec::new(),
                too_deep: true,
            };
        }
        let mut arguments = Vec::new();
        for (_, op) in doc.operations.iter() {
            argument_positions(&op.node.selection_set.node, &mut arguments);
        }
        for fragment in doc.fragments.values() {
            argument_positions(&fragment.node.selection_set.node, &mut arguments);
        }
        arguments.sort_unstable();
        Self {
            arguments,
            too_deep: false,
        }
    }

    /// Whether async-graphql refuses the document right after parsing, as nested too deep: nothing else of it is
    /// checked then.
    pub fn too_deep(&self) -> bool {
        self.too_deep
    }

    /// A document that does not parse: its error is the client's.
    pub fn parse_error(mut error: ServerError) -> ServerError {
        ensure_code(&mut error, Code::GraphqlValidationFailed);
        error
    }

    /// Gives every error of a response the code of the table above, unless it has one.
    pub fn apply(&self, errors: &mut [ServerError]) {
        for error in errors {
            let code = if has_code(error) {
                // Only completed with its classification; a code outside the table is replaced as if missing.
                if error.path.is_empty() {
                    Code::GraphqlValidationFailed
                } else {
                    Code::InternalError
                }
            } else if self.too_deep {
                Code::QueryTooDeep
            } else if !error.path.is_empty() {
                // Raised while resolving: the caller's input is at fault when the error points at an argument.
                let at_argument = error
                    .locations
                    .iter()
                    .any(|pos| self.arguments.binary_search(pos).is_ok());
                if at_argument {
                    Code::InvalidValue
                } else {
                    Code::InternalError
                }
            } else if !error.locations.is_empty() {
                Code::GraphqlValidationFailed
            } else if error.message == TOO_COMPLEX {
                Code::QueryTooComplex
            } else if error.message == TOO_DEEP {
                Code::QueryTooDeep
            } else {
                // Refused before execution outside validation, e.g. an unknown operation name.
                Code::GraphqlValidationFailed
            };
            ensure_code(error, code);
        }
    }
}

/// Collects the positions of the field arguments' values of `set`, inline fragments included (named fragments are
/// walked on their own).
fn argument_positions(set: &SelectionSet, out: &mut Vec<Pos>) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                out.extend(field.node.arguments.iter().map(|(_, value)| value.pos));
                argument_positions(&field.node.selection_set.node, out);
            }
            Selection::InlineFragment(inline) => {
                argument_positions(&inline.node.selection_set.node, out);
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// Whether `doc` nests deeper than `limit` selection sets, counted as async-graphql's recursion check counts them
/// (fragment spreads and inline fragments add a level); it stops at the limit, so fragment cycles end.
fn nests_deeper(doc: &ExecutableDocument, limit: usize) -> bool {
    fn walk(
        doc: &ExecutableDocument,
        set: &Positioned<SelectionSet>,
        depth: usize,
        limit: usize,
    ) -> bool {
        if depth > limit {
            return true;
        }
        set.node.items.iter().any(|item| match &item.node {
            Selection::Field(field) => {
                !field.node.selection_set.node.items.is_empty()
                    && walk(doc, &field.node.selection_set, depth + 1, limit)
            }
            Selection::FragmentSpread(spread) => doc
                .fragments
                .get(&spread.node.fragment_name.node)
                .is_some_and(|fragment| walk(doc, &fragment.node.selection_set, depth + 1, limit)),
            Selection::InlineFragment(inline) => {
                walk(doc, &inline.node.selection_set, depth + 1, limit)
            }
        })
    }
    doc.operations
        .iter()
        .any(|(_, op)| walk(doc, &op.node.selection_set, 0, limit))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Response, Schema};

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

        async fn foreign(&self) -> async_graphql::Result<i32> {
            Err(async_graphql::Error::new("odd").extend_with(|_, ext| ext.set("code", "odd")))
        }
    }

    type TestSchema = Schema<Query, EmptyMutation, EmptySubscription>;

    fn schema(depth: usize, complexity: usize, recursion: usize) -> TestSchema {
        Schema::build(Query, EmptyMutation, EmptySubscription)
            .limit_depth(depth)
            .limit_complexity(complexity)
            .limit_recursive_depth(recursion)
            .finish()
    }

    /// `request` on `schema` (no extension), its errors coded the way `crate::engine` codes them.
    async fn run(schema: &TestSchema, recursion: usize, request: impl Into<Request>) -> Response {
        let mut request = request.into();
        let codes = match request.parsed_query() {
            Ok(doc) => ErrorCodes::new(doc, recursion),
            Err(error) => return Response::from_errors(vec![ErrorCodes::parse_error(error)]),
        };
        let mut response = schema.execute(request).await;
        codes.apply(&mut response.errors);
        response
    }

    async fn code_of(
        schema: &TestSchema,
        recursion: usize,
        request: impl Into<Request>,
    ) -> (String, String) {
        let response = run(schema, recursion, request).await;
        let json = serde_json::to_value(&response).unwrap();
        let ext = &json["errors"][0]["extensions"];
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        (text(&ext["code"]), text(&ext["classification"]))
    }

    #[tokio::test]
    async fn every_error_of_async_graphql_gets_its_code() {
        let s = schema(3, 5, 32);
        let cases = [
            ("{ value(n: 1", "graphql_validation_failed", "BAD_REQUEST"),
            ("{ nope }", "graphql_validation_failed", "BAD_REQUEST"),
            (
                "{ value(n: \"x\") }",
                "graphql_validation_failed",
                "BAD_REQUEST",
            ),
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
            (
                "{ ...F } fragment F on Query { nested { ... on Query { value(n: 99999999999) } } }",
                "invalid_value",
                "BAD_REQUEST",
            ),
            ("{ failing }", "internal_error", "INTERNAL_ERROR"),
            ("{ foreign }", "internal_error", "INTERNAL_ERROR"),
            ("{ refused }", "forbidden", "FORBIDDEN"),
        ];
        for (query, code, class) in cases {
            assert_eq!(
                code_of(&s, 32, query).await,
                (code.to_owned(), class.to_owned()),
                "{query}"
            );
        }
        let deep = schema(100, 1000, 2);
        assert_eq!(
            code_of(&deep, 2, "{ nested { nested { nested { value(n: 1) } } } }")
                .await
                .0,
            "query_too_deep"
        );
        let unknown = Request::new("query A { value(n: 1) }").operation_name("B");
        assert_eq!(
            code_of(&s, 32, unknown).await.0,
            "graphql_validation_failed"
        );
        let ambiguous = "query A { value(n: 1) } query B { value(n: 2) }";
        assert_eq!(
            code_of(&s, 32, ambiguous).await.0,
            "graphql_validation_failed"
        );
        // Without the codes, async-graphql's errors have none.
        assert!(
            s.execute("{ failing }").await.errors[0]
                .extensions
                .is_none()
        );
    }

    /// `nests_deeper` says what async-graphql's own recursion check says, at its boundary, through fragments.
    #[tokio::test]
    async fn the_recursion_check_is_async_graphqls() {
        let limit = 4;
        let schema = schema(100, 1000, limit);
        let nested = |levels: usize| {
            format!(
                "{}value(n: 1){}",
                "nested { ".repeat(levels),
                " }".repeat(levels)
            )
        };
        let mut documents = Vec::new();
        for levels in 2..7 {
            documents.push(format!("{{ {} }}", nested(levels)));
            documents.push(format!(
                "{{ ...F }} fragment F on Query {{ {} }}",
                nested(levels)
            ));
            documents.push(format!(
                "{{ value(n: 1) ... on Query {{ {} }} }}",
                nested(levels)
            ));
        }
        let mut refused = 0;
        for document in documents {
            let response = schema.execute(document.as_str()).await;
            let by_async_graphql = response
                .errors
                .iter()
                .any(|e| e.message.starts_with("The recursion depth"));
            let doc = async_graphql::parser::parse_query(&document).unwrap();
            assert_eq!(nests_deeper(&doc, limit), by_async_graphql, "{document}");
            refused += usize::from(by_async_graphql);
        }
        assert!(
            refused > 0 && refused < 15,
            "both sides of the boundary: {refused}"
        );
    }
}
