//! Strings with a NUL character (U+0000), or too long for a query, are refused at the edge, the same way on both
//! backends.
//!
//! PostgreSQL cannot store U+0000 in `text` (the statement fails, which surfaced as an anonymous `internal_error`)
//! while SQLite stores it: the same request must not mean two things. Every string in the document's arguments
//! (inline, in fragments and directives) and in the variables is checked once, after parsing and before anything
//! runs, so no resolver and no domain service ever sees one. The error is `invalid_value`, with the path of the
//! offending argument or variable in `extensions.field`.
//!
//! A document without a mutation (a read) takes strings of at most [`MAX_QUERY_STRING_CHARS`] characters: a
//! search text is a `LIKE` pattern, which SQLite refuses beyond 50 000 bytes (an `internal_error` on one backend
//! only), and no filter needs more. Mutations are bounded by the request body and the domains' own rules.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::OperationType;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, Positioned, ServerError, ServerResult, Value, Variables};
use maillage_core::Code;
use std::sync::Arc;

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
                && let Some(found) = find(&constant, format!("{}({})", $at, name.node), $max)
            {
                return Err(refusal(found, Some(value.pos)));
            }
        }
    };
}

/// The extension factory to register on a schema (`.extension(RefuseNul)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RefuseNul;

impl ExtensionFactory for RefuseNul {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RefuseNul)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for RefuseNul {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        for (name, value) in variables.iter() {
            if let Some(found) = find(value, format!("${name}"), None) {
                return Err(refusal(found, None));
            }
        }
        let doc = next.run(ctx, query, variables).await?;
        let reads_only = doc
            .operations
            .iter()
            .all(|(_, op)| op.node.ty != OperationType::Mutation);
        let max = reads_only.then_some(MAX_QUERY_STRING_CHARS);
        if max.is_some() {
            for (name, value) in variables.iter() {
                if let Some(found) = find(value, format!("${name}"), max) {
                    return Err(refusal(found, None));
                }
            }
        }
        for (_, op) in doc.operations.iter() {
            for d in &op.node.directives {
                check_args!(&d.node.arguments, format!("@{}", d.node.name.node), max);
            }
            check_set(&op.node.selection_set, "", max)?;
        }
        for (name, fragment) in &doc.fragments {
            check_set(&fragment.node.selection_set, &format!("...{name}."), max)?;
        }
        Ok(doc)
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

fn check_set(set: &Positioned<SelectionSet>, prefix: &str, max: Option<usize>) -> ServerResult<()> {
    for item in &set.node.items {
        match &item.node {
            Selection::Field(field) => {
                let f = &field.node;
                let at = format!("{prefix}{}", f.response_key().node);
                check_args!(&f.arguments, at, max);
                for d in &f.directives {
                    check_args!(
                        &d.node.arguments,
                        format!("{at}.@{}", d.node.name.node),
                        max
                    );
                }
                check_set(&f.selection_set, &format!("{at}."), max)?;
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
