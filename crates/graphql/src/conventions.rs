//! The schema's conventions as a test: every type and field a change adds must speak the same dialect.
//!
//! Checked on the SDL, so it sees the contract as clients do:
//! - a mutation returns `<Mutation>Payload` with `userErrors: [UserError!]!` (the few shared payloads older than this
//!   rule are listed in [`SHARED_PAYLOADS`]; the list may only shrink);
//! - a filter input is named `<Type>Filter`, an order input `<Type>OrderBy { field, direction }`, the order
//!   enum `<Type>OrderField`;
//! - every object type with `id: ID!` implements `Node`;
//! - every type, field and argument of our own has a description, and so does every custom scalar.

use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};

/// Mutations whose payload type is shared with other mutations of the same object, from before this convention.
/// Renaming them is a breaking change planned with the other schema changes; new mutations get their own payload.
pub const SHARED_PAYLOADS: &[(&str, &str)] = &[];

/// Object types with an `id` that `node(id:)` does not resolve yet, merged on 2026-12-04 (feeds, tokens, dedup,
/// sync) before `Node` was added to them. The list may only shrink: the test fails when one of them gains `Node`
/// and is still listed, and when any other type breaks the rule.
pub const NODE_DEBT: &[&str] = &[];

/// Filter inputs named against the `<Type>Filter` rule, merged on 2026-12-04; the list may only shrink.
pub const FILTER_NAME_DEBT: &[&str] = &["ChangeFilterInput"];

/// Types that come from async-graphql itself (their descriptions are the library's).
const LIBRARY_TYPES: &[&str] = &["PageInfo", "Boolean", "Int", "Float", "String", "ID"];

fn base_name(ty: &async_graphql::parser::types::Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

/// Every breach of the conventions in `sdl`, one line each; empty when the schema complies.
pub fn check(sdl: &str) -> Vec<String> {
    let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
        return vec!["the SDL does not parse".to_owned()];
    };
    let mut problems = Vec::new();
    let types: Vec<_> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            TypeSystemDefinition::Type(t) => Some(&t.node),
            _ => None,
        })
        .collect();
    let find = |name: &str| types.iter().find(|t| t.name.node.as_str() == name);
    for t in &types {
        let name = t.name.node.as_str();
        if name == "MutationRoot" {
            let TypeKind::Object(o) = &t.kind else {
                continue;
            };
            for f in &o.fields {
                let field = f.node.name.node.as_str();
                let payload = base_name(&f.node.ty.node);
                let mut expected = field[..1].to_uppercase();
                expected.push_str(&field[1..]);
                expected.push_str("Payload");
                let shared = SHARED_PAYLOADS.contains(&(field, payload));
                if payload != expected && !shared {
                    problems.push(format!(
                        "mutation {field} returns {payload}: name it {expected}"
                    ));
                }
                let has_user_errors = find(payload).is_some_and(|p| match &p.kind {
                    TypeKind::Object(o) => o.fields.iter().any(|f| {
                        f.node.name.node.as_str() == "userErrors"
                            && f.node.ty.node.to_string() == "[UserError!]!"
                    }),
                    _ => false,
                });
                if !has_user_errors {
                    problems.push(format!(
                        "payload {payload} of {field} lacks userErrors: [UserError!]!"
                    ));
                }
            }
        }
    }
    for t in &types {
        let name = t.name.node.as_str();
        // Connections and edges are the kit's (`kit::connection`), the same for every node.
        let generated = name.ends_with("Connection") || name.ends_with("Edge");
        if LIBRARY_TYPES.contains(&name) || name.starts_with("__") || generated {
            continue;
        }
        if t.description.is_none() {
            problems.push(format!("type {name} has no description"));
        }
        match &t.kind {
            TypeKind::Scalar => {}
            TypeKind::Object(o) => {
                let has_id = o.fields.iter().any(|f| {
                    f.node.name.node.as_str() == "id" && f.node.ty.node.to_string() == "ID!"
                });
                let is_node = o.implements.iter().any(|i| i.node.as_str() == "Node");
                if has_id && !is_node && !NODE_DEBT.contains(&name) {
                    problems.push(format!("{name} has an id but does not implement Node"));
                }
                for f in &o.fields {
                    let field = f.node.name.node.as_str();
                    if f.node.description.is_none() {
                        problems.push(format!("{name}.{field} has no description"));
                    }
                }
            }
            TypeKind::InputObject(i) => {
                if name.contains("Filter")
                    && !name.ends_with("Filter")
                    && !FILTER_NAME_DEBT.contains(&name)
                {
                    problems.push(format!("filter {name}: name it <Type>Filter"));
                }
                if name.contains("Order") && !name.ends_with("OrderBy") {
                    problems.push(format!("order {name}: name it <Type>OrderBy"));
                }
                if name.ends_with("OrderBy") {
                    let fields: Vec<_> =
                        i.fields.iter().map(|f| f.node.name.node.as_str()).collect();
                    if fields != ["field", "direction"] {
                        problems.push(format!("order {name} must be {{ field, direction }}"));
                    }
                }
                for f in &i.fields {
                    if f.node.description.is_none() {
                        problems.push(format!("{name}.{} has no description", f.node.name.node));
                    }
                }
            }
            TypeKind::Enum(e) if name.contains("Order") && !name.ends_with("OrderField") => {
                if name != "OrderDirection" {
                    problems.push(format!(
                        "enum {name}: orders are input objects <Type>OrderBy {{ field: <Type>OrderField, direction }}"
                    ));
                }
                let _ = e;
            }
            _ => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_speaks_one_dialect() {
        let problems = check(&crate::schema::sdl());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn a_payload_named_result_is_refused() {
        let sdl = "
            \"\"\"Root.\"\"\" type MutationRoot { \"\"\"Does foo.\"\"\" foo(input: FooInput!): FooResult! }
            \"\"\"In.\"\"\" input FooInput { \"\"\"A.\"\"\" a: Int }
            \"\"\"Out.\"\"\" type FooResult { \"\"\"Errors.\"\"\" userErrors: [UserError!]! }
            \"\"\"Error.\"\"\" type UserError { \"\"\"Code.\"\"\" code: String! }
        ";
        assert_eq!(
            check(sdl),
            ["mutation foo returns FooResult: name it FooPayload"]
        );
    }

    #[test]
    fn the_debt_lists_only_list_real_breaches() {
        let sdl = crate::schema::sdl();
        for name in NODE_DEBT {
            assert!(
                sdl.contains(&format!("type {name} {{")),
                "{name} now implements Node (or is gone): remove it from NODE_DEBT"
            );
        }
        for name in FILTER_NAME_DEBT {
            assert!(
                sdl.contains(&format!("input {name} {{")),
                "{name} is gone: remove it from FILTER_NAME_DEBT"
            );
        }
    }

    #[test]
    fn the_shared_payload_list_only_lists_real_breaches() {
        let sdl = crate::schema::sdl();
        for (mutation, payload) in SHARED_PAYLOADS {
            assert!(
                sdl.contains(&format!("\t{mutation}(input: "))
                    && sdl.contains(&format!("): {payload}!")),
                "{mutation} no longer returns {payload}: remove it from SHARED_PAYLOADS"
            );
        }
    }
}
