//! Strings with a NUL character (U+0000) are refused at the edge, the same way on both backends.
//!
//! PostgreSQL cannot store U+0000 in `text` (the statement fails, which surfaced as an anonymous `internal_error`)
//! while SQLite stores it: the same request must not mean two things. Every string in the document's arguments
//! (inline, in fragments and directives) and in the variables is checked once, after parsing and before anything
//! runs, so no resolver and no domain service ever sees one. The error is `invalid_value`, with the path of the
//! offending argument or variable in `extensions.field`.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{
    ErrorExtensionValues, Pos, Positioned, ServerError, ServerResult, Value, Variables,
};
use std::sync::Arc;

/// Checks a list of arguments (a field's or a directive's). A macro, because the document's value type is not
/// nameable from outside the parser crate; its literals are turned into constants (variables as null: they are
/// checked on their own) and walked like variables.
macro_rules! check_args {
    ($args:expr, $at:expr) => {
        for (name, value) in $args {
            let constant = value
                .node
                .clone()
                .into_const_with(|_| Ok::<_, std::convert::Infallible>(Value::Null));
            if let Ok(constant) = constant
                && let Some(path) = nul_in_const(&constant, format!("{}({})", $at, name.node))
            {
                return Err(refusal(path, Some(value.pos)));
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
            if let Some(path) = nul_in_const(value, format!("${name}")) {
                return Err(refusal(path, None));
            }
        }
        let doc = next.run(ctx, query, variables).await?;
        for (_, op) in doc.operations.iter() {
            for d in &op.node.directives {
                check_args!(&d.node.arguments, format!("@{}", d.node.name.node));
            }
            check_set(&op.node.selection_set, "")?;
        }
        for (name, fragment) in &doc.fragments {
            check_set(&fragment.node.selection_set, &format!("...{name}."))?;
        }
        Ok(doc)
    }
}

fn refusal(path: String, pos: Option<Pos>) -> ServerError {
    let mut error = ServerError::new(
        format!(
            "{path} contains a NUL character (U+0000), which Maillage does not store: remove it"
        ),
        pos,
    );
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", "invalid_value");
    ext.set("field", path);
    error.extensions = Some(ext);
    error
}

fn check_set(set: &Positioned<SelectionSet>, prefix: &str) -> ServerResult<()> {
    for item in &set.node.items {
        match &item.node {
            Selection::Field(field) => {
                let f = &field.node;
                let at = format!("{prefix}{}", f.response_key().node);
                check_args!(&f.arguments, at);
                for d in &f.directives {
                    check_args!(&d.node.arguments, format!("{at}.@{}", d.node.name.node));
                }
                check_set(&f.selection_set, &format!("{at}."))?;
            }
            Selection::FragmentSpread(spread) => {
                for d in &spread.node.directives {
                    check_args!(&d.node.arguments, format!("{prefix}@{}", d.node.name.node));
                }
            }
            Selection::InlineFragment(inline) => {
                for d in &inline.node.directives {
                    check_args!(&d.node.arguments, format!("{prefix}@{}", d.node.name.node));
                }
                check_set(&inline.node.selection_set, prefix)?;
            }
        }
    }
    Ok(())
}

/// The path of the first string holding a NUL inside a variable's value (object keys included).
fn nul_in_const(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(s) if s.contains('\0') => Some(path),
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in_const(v, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(format!("{path} (a key)"))
            } else {
                nul_in_const(v, format!("{path}.{k}"))
            }
        }),
        _ => None,
    }
}
