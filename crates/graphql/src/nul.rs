//! Strings with a NUL character (U+0000), or too long for a query, are refused at the edge, the same way on both
//! backends.
//!
//! PostgreSQL cannot store U+0000 in `text` (the statement fails, which surfaced as an anonymous `internal_error`)
//! while SQLite stores it: the same request must not mean two things. Every string in the document's arguments
//! (inline, in fragments and directives) and in the variables is checked once, after parsing and before anything
//! runs, so no resolver and no domain service ever sees one. The error is `invalid_value`, with the path of the
//! offending argument or variable in `extensions.field`. [`crate::engine::Engine`] runs these checks on every request,
//! on the document it parsed once.
//!
//! A document without a mutation (a read) takes strings of at most [`MAX_QUERY_STRING_CHARS`] characters: a
//! search text is a `LIKE` pattern, which SQLite refuses beyond 50 000 bytes (an `internal_error` on one backend
//! only), and no filter needs more. Mutations are bounded by the request body and the domains' own rules.

use async_graphql::parser::types::OperationType;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, Positioned, ServerError, ServerResult, Value, Variables};
use maillage_core::Code;

/// The longest string a document without a mutation may carry in its arguments or variables, in characters: a
/// filter's text, folded and escaped, stays under SQLite's 50 000-byte `LIKE` pattern limit even in 4-byte
/// characters.
pub const MAX_QUERY_STRING_CHARS: usize = 10_000;

/// What is wrong with a string.
enum Problem {
    /// It holds U+0000.
    Nul,
    /// It is longer than the limit (its length in characters).
    TooLong(usize),
}

/// Checks a list of arguments (a field's or a directive's). A macro, because the document's value type is not
/// nameable from outside the parser crate; its literals are turned into constants (variables as null: they are
/// checked on their own) and walked like variables.
macro_rules! check_args {
    ($args:expr, $at:expr, $max:expr) => {
        for (name, value) in $args {
            let constant = value
                .node
                .clone()
                .into_const_with(|_| Ok::<_, std::convert::Infallible>(Value::Null));
            if let Ok(constant) = constant
                && !clean(&constant, $max)
                && let Some(found) = find(&constant, format!("{}({})", $at, name.node), $max)
            {
                return Err(refusal(found, Some(value.pos)));
            }
        }
    };
}

/// The refusal of a request whose variables hold a NUL, checked before the document is even parsed (a NUL is
/// refused whatever the operation; the length limit needs the document, see [`check_document`]).
pub(crate) fn check_variables(variables: &Variables) -> ServerResult<()> {
    for (name, value) in variables.iter() {
        if !clean(value, None)
            && let Some(found) = find(value, format!("${name}"), None)
        {
            return Err(refusal(found, None));
        }
    }
    Ok(())
}

/// The refusal of a parsed document (or of its variables, once the document says it only reads) carrying a NUL or,
/// without a mutation, a string longer than [`MAX_QUERY_STRING_CHARS`].
pub(crate) fn check_document(doc: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
    let reads_only = doc
        .operations
        .iter()
        .all(|(_, op)| op.node.ty != OperationType::Mutation);
    let max = reads_only.then_some(MAX_QUERY_STRING_CHARS);
    if max.is_some() {
        for (name, value) in variables.iter() {
            if !clean(value, max)
                && let Some(found) = find(value, format!("${name}"), max)
            {
                return Err(refusal(found, None));
            }
        }
    }
    for (_, op) in doc.operations.iter() {
        for d in &op.node.directives {
            check_args!(&d.node.arguments, format!("@{}", d.node.name.node), max);
        }
        check_set(&op.node.selection_set, At::Top(""), max)?;
    }
    for (name, fragment) in &doc.fragments {
        check_set(&fragment.node.selection_set, At::Fragment(name), max)?;
    }
    Ok(())
}

/// Where a selection set is in its document, written out only for an error.
///
/// Why: the paths were written for every field of every request, two strings each, though they serve only the rare
/// refusal; on a page of 50 sites that was 3 % of the instructions (issue #16).
#[derive(Clone, Copy)]
enum At<'a> {
    /// The top of an operation (`""`).
    Top(&'a str),
    /// The top of a fragment (`...Name.`).
    Fragment(&'a str),
    /// The selection of a field: its response key, below its own selection set.
    Field(&'a At<'a>, &'a str),
}

impl std::fmt::Display for At<'_> {
    /// The prefix of the paths of the fields of the set: `""`, `...Name.`, or the field's path and a dot.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Top(prefix) => f.write_str(prefix),
            At::Fragment(name) => write!(f, "...{name}."),
            At::Field(parent, key) => write!(f, "{parent}{key}."),
        }
    }
}

/// The `invalid_value` error naming the offending argument or variable.
fn refusal((path, problem): (String, Problem), pos: Option<Pos>) -> ServerError {
    let message = match problem {
        Problem::Nul => format!(
            "{path} contains a NUL character (U+0000), which Maillage does not store: remove it"
        ),
        Problem::TooLong(chars) => format!(
            "{path} is {chars} characters long; strings in a query are at most {MAX_QUERY_STRING_CHARS}"
        ),
    };
    let coded = crate::kit::error::coded(&message, Code::InvalidValue, Some(path));
    let mut error = ServerError::new(coded.message, pos);
    error.extensions = coded.extensions;
    error
}

fn check_set(
    set: &Positioned<SelectionSet>,
    prefix: At<'_>,
    max: Option<usize>,
) -> ServerResult<()> {
    for item in &set.node.items {
        match &item.node {
            Selection::Field(field) => {
                let f = &field.node;
                let key = f.response_key().node.as_str();
                // `check_args!` writes its path argument only for an error.
                check_args!(&f.arguments, format!("{prefix}{key}"), max);
                for d in &f.directives {
                    check_args!(
                        &d.node.arguments,
                        format!("{prefix}{key}.@{}", d.node.name.node),
                        max
                    );
                }
                check_set(&f.selection_set, At::Field(&prefix, key), max)?;
            }
            Selection::FragmentSpread(spread) => {
                for d in &spread.node.directives {
                    check_args!(
                        &d.node.arguments,
                        format!("{prefix}@{}", d.node.name.node),
                        max
                    );
                }
            }
            Selection::InlineFragment(inline) => {
                for d in &inline.node.directives {
                    check_args!(
                        &d.node.arguments,
                        format!("{prefix}@{}", d.node.name.node),
                        max
                    );
                }
                check_set(&inline.node.selection_set, prefix, max)?;
            }
        }
    }
    Ok(())
}

/// Whether no string inside `value` (object keys included) holds a NUL or is longer than `max` characters: the
/// common case, answered without writing the paths [`find`] writes.
fn clean(value: &Value, max: Option<usize>) -> bool {
    match value {
        Value::String(s) => {
            // A string of at most `max` bytes has at most `max` characters: counted only beyond.
            !s.contains('\0') && max.is_none_or(|max| s.len() <= max || s.chars().count() <= max)
        }
        Value::List(items) => items.iter().all(|v| clean(v, max)),
        Value::Object(fields) => fields
            .iter()
            .all(|(k, v)| !k.contains('\0') && clean(v, max)),
        _ => true,
    }
}

/// The path of the first string holding a NUL (object keys included), or longer than `max` characters, inside a
/// value, with what is wrong with it.
fn find(value: &Value, path: String, max: Option<usize>) -> Option<(String, Problem)> {
    match value {
        Value::String(s) if s.contains('\0') => Some((path, Problem::Nul)),
        Value::String(s) => {
            let chars = s.chars().count();
            max.filter(|max| chars > *max)
                .map(|_| (path, Problem::TooLong(chars)))
        }
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find(v, format!("{path}[{i}]"), max)),
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some((format!("{path} (a key)"), Problem::Nul))
            } else {
                find(v, format!("{path}.{k}"), max)
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The refusal of `query` with `variables` (`{"v": …}`), as code, `extensions.field` and message; `None` when
    /// accepted. The variables are checked first, as `crate::engine` does, then the document.
    fn refusal_of(
        query: &str,
        variable: Option<serde_json::Value>,
    ) -> Option<(String, String, String)> {
        let variables = Variables::from_json(serde_json::json!({ "v": variable }));
        let doc = async_graphql::parser::parse_query(query).unwrap();
        let error = check_variables(&variables)
            .and_then(|()| check_document(&doc, &variables))
            .err()?;
        let ext = error.extensions.unwrap();
        let text = |key: &str| match ext.get(key) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        Some((text("code"), text("field"), error.message))
    }

    #[test]
    fn nul_characters_are_refused_wherever_they_are() {
        let cases = [
            ("{ echo(s: \"a\\u0000b\") }", None, "echo(s)"),
            ("{ x: echo(s: \"\\u0000\") }", None, "x(s)"),
            (
                "{ ...F } fragment F on Query { echo(s: \"\\u0000\") }",
                None,
                "...F.echo(s)",
            ),
            (
                "{ a { ... on A { echo(s: [\"\\u0000\"]) } } }",
                None,
                "a.echo(s)[0]",
            ),
            (
                "{ echo(s: \"a\") @include(if: true) @skip(s: \"\\u0000\") }",
                None,
                "echo.@skip(s)",
            ),
            (
                "query @log(s: {k: \"\\u0000\"}) { echo }",
                None,
                "@log(s).k",
            ),
            (
                "query($v: String) { echo(s: $v) }",
                Some("a\u{0}".into()),
                "$v",
            ),
            (
                "mutation($v: String!) { store(s: $v) }",
                Some("\u{0}".into()),
                "$v",
            ),
            (
                "query($v: J) { echo(s: $v) }",
                Some(serde_json::json!({ "k\u{0}": 1 })),
                "$v (a key)",
            ),
        ];
        for (query, variable, field) in cases {
            let (code, at, message) = refusal_of(query, variable).unwrap();
            assert_eq!(
                (code.as_str(), at.as_str()),
                ("invalid_value", field),
                "{query}"
            );
            assert!(message.contains("NUL character"), "{message}");
        }
        assert_eq!(refusal_of("{ echo(s: \"ok\") }", Some("fine".into())), None);
    }

    #[test]
    fn reads_take_strings_of_bounded_length() {
        let long = "é".repeat(MAX_QUERY_STRING_CHARS + 1);
        let at_limit = "é".repeat(MAX_QUERY_STRING_CHARS);
        let read = "query($v: String) { echo(s: $v) }";
        let (code, field, message) = refusal_of(read, Some(long.clone().into())).unwrap();
        assert_eq!((code.as_str(), field.as_str()), ("invalid_value", "$v"));
        assert!(
            message.contains(&format!("{} characters", MAX_QUERY_STRING_CHARS + 1)),
            "{message}"
        );
        let inline = format!("{{ echo(s: \"{long}\") }}");
        assert_eq!(refusal_of(&inline, None).unwrap().1, "echo(s)");
        assert_eq!(refusal_of(read, Some(at_limit.into())), None);
        // A document with a mutation is bounded by the request body, not by this limit.
        let write = "mutation($v: String!) { store(s: $v) }";
        assert_eq!(refusal_of(write, Some(long.into())), None);
    }
}
