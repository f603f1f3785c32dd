//! The schema's conventions as a test: every type and field a change adds must speak the same dialect.
//!
//! Checked on the SDL, so it sees the contract as clients do:
//! - a mutation returns `<Mutation>Payload` with `userErrors: [UserError!]!` (the few shared payloads older than this
//!   rule are listed in [`SHARED_PAYLOADS`]; the list may only shrink);
//! - a filter input is named `<Type>Filter`, an order input `<Type>OrderBy { field, direction }`, the order
//!   enum `<Type>OrderField`;
//! - every object type with `id: ID!` implements `Node`;
//! - a list of such objects that can exceed a page is a connection: a field returning `[T!]` of a `Node` type fails
//!   unless [`BOUNDED_LISTS`] says why it cannot grow past a page; every connection field takes `first`, `after`,
//!   `last` and `before` (except [`FORWARD_ONLY`]);
//! - every type, field and argument of our own has a description, and so does every custom scalar, which says its
//!   format without naming a Rust type;
//! - no source file of the crate is over [`MAX_FILE_LINES`] lines, no two top-level modules import each other
//!   (directly or through others), and the kit depends on no domain module.

use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};

/// Mutations whose payload type is shared with other mutations of the same object, from before this convention.
/// Renaming them is a breaking change planned with the other schema changes; new mutations get their own payload.
pub const SHARED_PAYLOADS: &[(&str, &str)] = &[];

/// Object types with an `id` that `node(id:)` does not resolve yet, merged on 2026-12-04 (feeds, tokens, dedup,
/// sync) before `Node` was added to them. The list may only shrink: the test fails when one of them gains `Node`
/// and is still listed, and when any other type breaks the rule.
pub const NODE_DEBT: &[&str] = &[];

/// Filter inputs named against the `<Type>Filter` rule, merged on 2026-12-04; the list may only shrink.
pub const FILTER_NAME_DEBT: &[&str] = &[];

/// Plain lists of `Node` objects, as `Type.field`, with why each stays below a page (100 items) and so needs no
/// connection. A new list of objects with an `id` is a connection unless it joins this list with a reason the
/// reviewer accepts.
pub const BOUNDED_LISTS: &[(&str, &str)] = &[
    (
        "Aidant.organisations",
        "an aidant works for one organisation, rarely a few",
    ),
    (
        "AmiApplication.departments",
        "the departments a dossier covers: a few",
    ),
    (
        "AmiApplication.attachments",
        "the files of one dossier, capped by the AMI form",
    ),
    (
        "AmiApplication.scoreSheets",
        "one sheet per reviewer of the dossier",
    ),
    ("AmiCampaign.priorityRegions", "at most the 18 regions"),
    (
        "Counsellor.coordinated",
        "the team of one coordinator: tens at most",
    ),
    (
        "Counsellor.sites",
        "the sites one counsellor works at: a few",
    ),
    (
        "Department.hubs",
        "the hubs covering one department: usually one",
    ),
    (
        "Envelope.children",
        "an envelope's direct sub-envelopes: a few",
    ),
    (
        "Grant.disbursements",
        "the payments of one grant: a few instalments",
    ),
    (
        "HostStructure.posts",
        "one structure's requests for posts: one per call for applications",
    ),
    ("Hub.coordinators", "the people coordinating one hub: a few"),
    (
        "Hub.reportedIndicators",
        "the figures one hub reports: tens at most, one per code",
    ),
    (
        "Hub.departments",
        "the departments of one hub: at most a region's 13",
    ),
    ("Region.departments", "at most 13 departments in a region"),
    (
        "QueryRoot.regions",
        "the 18 regions: a fixed reference list",
    ),
    (
        "QueryRoot.departments",
        "the 101 departments: a fixed reference list, one page and one item",
    ),
    ("QueryRoot.hubs", "about 40 hubs, one per territory"),
    (
        "QueryRoot.hubNetworkIndicators",
        "the figures of the network of hubs: tens at most, one per code",
    ),
    (
        "QueryRoot.envelopes",
        "the roots of the funding tree: one per programme",
    ),
    (
        "QueryRoot.fundingRules",
        "the rules of the funding programmes: tens",
    ),
    (
        "QueryRoot.passProgrammes",
        "Pass numérique programmes: tens",
    ),
    (
        "QueryRoot.amiCampaigns",
        "one call for applications per year or two",
    ),
    (
        "QueryRoot.siteSourceRecords",
        "the source records merged into one site: a few",
    ),
    ("QueryRoot.feeds", "the feeds of the caller's hub: a few"),
    ("QueryRoot.apiTokens", "the caller's own tokens"),
    (
        "QueryRoot.hubInvitations",
        "the invitations of the caller's hub that are still open",
    ),
    (
        "Site.hubs",
        "the hubs covering the site's department: usually one",
    ),
    (
        "Site.counsellors",
        "the counsellors working at one site: a few",
    ),
    (
        "Site.sourceRecords",
        "the source records merged into this site: a few",
    ),
];

/// Connection fields that do not page backward yet (`last`/`before`), as `Type.field`. Empty: every connection
/// pages both ways; the list may only shrink.
pub const FORWARD_ONLY: &[&str] = &[];

/// Types that come from async-graphql itself (their descriptions are the library's).
const LIBRARY_TYPES: &[&str] = &["PageInfo", "Boolean", "Int", "Float", "String", "ID"];

fn base_name(ty: &async_graphql::parser::types::Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

/// Words that betray a Rust type in a scalar's description (async-graphql's defaults say "Implement the
/// DateTime<Utc> scalar"; its date scalar is named `NaiveDate`).
const RUST_WORDS: &[&str] = &["Implement the", "<Utc>", "Naive", "chrono", "::"];

/// Why a custom scalar's documentation breaks the rule, if it does: it must say its format for a client, either
/// with an example in backticks or a `@specifiedBy` URL, without naming a Rust type.
fn scalar_problem(t: &async_graphql::parser::types::TypeDefinition) -> Option<String> {
    let name = t.name.node.as_str();
    let desc = t
        .description
        .as_ref()
        .map(|d| d.node.as_str())
        .unwrap_or("");
    let named_in = |text: &str| RUST_WORDS.iter().find(|w| text.contains(**w)).copied();
    if let Some(word) = named_in(name).or_else(|| named_in(desc)) {
        return Some(format!(
            "scalar {name} names a Rust type ({word}): name and describe it for clients"
        ));
    }
    let specified = t
        .directives
        .iter()
        .any(|d| d.node.name.node.as_str() == "specifiedBy");
    let example = desc.matches('`').count() >= 2;
    if !specified && !example {
        return Some(format!(
            "scalar {name} does not say its format: give an example in backticks or a @specifiedBy URL"
        ));
    }
    None
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
    let is_node = |name: &str| {
        find(name).is_some_and(|t| match &t.kind {
            TypeKind::Object(o) => o.implements.iter().any(|i| i.node.as_str() == "Node"),
            _ => false,
        })
    };
    for t in &types {
        let TypeKind::Object(o) = &t.kind else {
            continue;
        };
        let name = t.name.node.as_str();
        // The connection's own `nodes`/`edges` lists are the page.
        if name.ends_with("Connection") || name.ends_with("Edge") {
            continue;
        }
        for f in &o.fields {
            let field = format!("{name}.{}", f.node.name.node);
            let ty = &f.node.ty.node;
            let item = base_name(ty);
            if matches!(ty.base, BaseType::List(_))
                && is_node(item)
                && !BOUNDED_LISTS.iter().any(|(f, _)| *f == field)
            {
                problems.push(format!(
                    "{field} is a plain list of {item}: make it an {item}Connection, or list it in BOUNDED_LISTS with why it stays below a page"
                ));
            }
            if item.ends_with("Connection") && !FORWARD_ONLY.contains(&field.as_str()) {
                let args: Vec<&str> = f
                    .node
                    .arguments
                    .iter()
                    .map(|a| a.node.name.node.as_str())
                    .collect();
                for needed in ["first", "after", "last", "before"] {
                    if !args.contains(&needed) {
                        problems.push(format!("connection {field} lacks the argument {needed}"));
                    }
                }
            }
        }
    }
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
            TypeKind::Scalar => {
                if let Some(problem) = scalar_problem(t) {
                    problems.push(problem);
                }
            }
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

mod sources;
pub use sources::{MAX_FILE_LINES, import_problems, long_files, module_graph};

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on a broken fixture"
)]
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
    fn a_plain_list_of_nodes_and_a_forward_only_connection_are_refused() {
        let sdl = "
            \"\"\"Root.\"\"\" type QueryRoot {
              \"\"\"All.\"\"\" things: [Thing!]!
              \"\"\"Paged.\"\"\" pages(first: Int, after: String): ThingConnection!
            }
            \"\"\"A node.\"\"\" interface Node { \"\"\"ID.\"\"\" id: ID! }
            \"\"\"A thing.\"\"\" type Thing implements Node { \"\"\"ID.\"\"\" id: ID! }
            type ThingConnection { nodes: [Thing!]! }
        ";
        assert_eq!(
            check(sdl),
            [
                "QueryRoot.things is a plain list of Thing: make it an ThingConnection, or list it in BOUNDED_LISTS with why it stays below a page",
                "connection QueryRoot.pages lacks the argument last",
                "connection QueryRoot.pages lacks the argument before",
            ]
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
        for (field, _) in BOUNDED_LISTS {
            let (ty, name) = field.split_once('.').unwrap();
            let block = sdl.split(&format!("type {ty} ")).nth(1).unwrap_or("");
            let block = &block[..block.find("\n}").unwrap_or(block.len())];
            let exists = block.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with(&format!("{name}:")) || l.starts_with(&format!("{name}("))
            });
            assert!(exists, "{field} is gone: remove it from BOUNDED_LISTS");
        }
        for field in FORWARD_ONLY {
            let (_, name) = field.split_once('.').unwrap();
            assert!(
                sdl.contains(&format!("\t{name}(")),
                "{field} is gone: remove it from FORWARD_ONLY"
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

    fn src() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
    }

    #[test]
    fn no_file_is_over_about_600_lines() {
        let long = long_files(&src());
        assert!(long.is_empty(), "{}", long.join("\n"));
    }

    #[test]
    fn no_import_circle_between_modules_and_the_kit_depends_on_no_domain() {
        let problems = import_problems(&src());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn an_import_circle_and_a_long_file_are_found() {
        let dir = std::env::temp_dir().join(format!("maillage-conventions-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("kit")).unwrap();
        std::fs::create_dir_all(dir.join("sites")).unwrap();
        std::fs::write(dir.join("kit/mod.rs"), "use crate::telemetry;\n").unwrap();
        std::fs::write(
            dir.join("sites/mod.rs"),
            "use crate::{kit, counsellors::X};\n",
        )
        .unwrap();
        std::fs::write(dir.join("counsellors.rs"), "fn f() { crate::sites::g() }\n").unwrap();
        std::fs::write(dir.join("long.rs"), "//\n".repeat(MAX_FILE_LINES + 1)).unwrap();
        assert_eq!(
            import_problems(&dir),
            ["import circle: counsellors -> sites -> counsellors"]
        );
        assert_eq!(
            long_files(&dir),
            [format!(
                "long.rs: {} lines (over {MAX_FILE_LINES}): split it",
                MAX_FILE_LINES + 1
            )]
        );
        std::fs::write(dir.join("kit/mod.rs"), "use crate::sites::S;\n").unwrap();
        assert_eq!(
            import_problems(&dir),
            [
                "import circle: counsellors -> sites -> counsellors",
                "import circle: kit -> sites -> kit",
                "the kit depends on the module sites: move what it needs into the kit",
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_scalar_without_a_documented_format_is_refused() {
        let sdl = "
            \"\"\"Implement the NaiveDate scalar\"\"\" scalar NaiveDate
            \"\"\"A foo.\"\"\" scalar Foo
            scalar Bare
            \"\"\"A day, e.g. `2026-12-05`.\"\"\" scalar Day
            \"\"\"An instant.\"\"\" scalar Instant @specifiedBy(url: \"https://datatracker.ietf.org/doc/html/rfc3339\")
        ";
        assert_eq!(
            check(sdl),
            [
                "scalar NaiveDate names a Rust type (Naive): name and describe it for clients",
                "scalar Foo does not say its format: give an example in backticks or a @specifiedBy URL",
                "type Bare has no description",
                "scalar Bare does not say its format: give an example in backticks or a @specifiedBy URL",
            ]
        );
    }
}
