//! Tests of the cost model.

#![allow(clippy::unwrap_used)]
use super::*;

fn analyze(query: &str) -> Analysis {
    let model = CostModel::from_sdl(&crate::schema::sdl());
    let doc = async_graphql::parser::parse_query(query).unwrap();
    model.analyze(&doc, None, &Variables::default())
}

#[test]
fn connections_multiply_their_selection() {
    // sites: 10 × (nodes 1 + name 1) + 1; the `nodes` list inside the connection is not multiplied again.
    assert_eq!(analyze("{ sites(first: 10) { nodes { name } } }").cost, 21);
    assert_eq!(analyze("{ sites { totalCount } }").cost, 21);
    assert_eq!(analyze("{ sites(first: 1000) { totalCount } }").cost, 101);
    assert_eq!(analyze("{ sites(first: 1) { nodes { name } } }").depth, 3);
}

#[test]
fn lists_use_their_argument_or_estimate() {
    assert_eq!(analyze(r#"{ nodes(ids: ["a", "b", "c"]) { id } }"#).cost, 4);
    assert_eq!(analyze("{ regions { name } }").cost, 19);
    assert_eq!(
        analyze("{ hubs { slug departments { code } } }").cost,
        20 * (1 + 16) + 1
    );
    // Scalars lists cost 1.
    assert_eq!(analyze(r#"{ site(id: "x") { services } }"#).cost, 2);
}

#[test]
fn one_hundred_cubed_is_a_million() {
    let q = "{ sites(first: 100) { nodes { department { sites(first: 100) { nodes { department { sites(first: 100) { nodes { name } } } } } } } } }";
    let a = analyze(q);
    assert!(a.cost > 1_000_000, "{a:?}");
}

#[test]
fn fragments_are_memoized_and_counted() {
    let mut q = String::from("{ ...F0 }\n");
    for i in 0..40 {
        q.push_str(&format!(
            "fragment F{i} on QueryRoot {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    q.push_str("fragment F40 on QueryRoot { regions { name } }");
    let a = analyze(&q);
    assert_eq!(a.cost, 19u64 << 40);
    assert_eq!(a.depth, 2);
}

#[test]
fn variables_and_defaults_count() {
    let model = CostModel::from_sdl(&crate::schema::sdl());
    let doc = async_graphql::parser::parse_query(
        "query($n: Int = 5) { sites(first: $n) { totalCount } }",
    )
    .unwrap();
    assert_eq!(model.analyze(&doc, None, &Variables::default()).cost, 6);
    let vars = Variables::from_json(serde_json::json!({ "n": 50 }));
    assert_eq!(model.analyze(&doc, None, &vars).cost, 51);
}

#[test]
fn aliases_and_directives_are_counted() {
    let a = analyze(
        "query Q @a { x: hubs @skip(if: true) { y: slug } ... @include(if: true) { regions { code } } }",
    );
    assert_eq!(a.aliases, 2);
    assert_eq!(a.directives, 3);
}

#[test]
fn introspection_amplification_is_expensive() {
    let graphiql = analyze(
        "{ __schema { types { name fields { name args { name type { name ofType { name } } } } } } }",
    );
    assert!(graphiql.cost < 100, "{graphiql:?}");
    let amplified = analyze(
        "{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }",
    );
    assert!(amplified.cost > graphiql.cost * 10, "{amplified:?}");
}

#[test]
fn nesting_ignores_strings_and_comments() {
    assert_eq!(nesting_depth(r#"{ a(b: "{{{{") { c } } # {{{{"#), 2);
    assert_eq!(nesting_depth(r#"{ a(b: """ {{{ \""" {{ """) }"#), 2);
    assert_eq!(nesting_depth(&"{".repeat(10_000)), 10_000);
}

#[test]
fn actual_counts_fields_present() {
    let data = async_graphql::Value::from_json(serde_json::json!({
        "sites": { "totalCount": 3, "nodes": [{ "name": "a" }, { "name": "b" }] }
    }))
    .unwrap();
    assert_eq!(actual_cost(&data), 5);
    assert_eq!(actual_cost(&async_graphql::Value::Null), 0);
}

#[test]
fn lists_of_a_dossier_are_priced() {
    let model = CostModel::from_sdl(&crate::schema::sdl());
    let cost = |q: &str| {
        let doc = async_graphql::parser::parse_query(q).unwrap();
        model
            .analyze(&doc, None, &async_graphql::Variables::default())
            .cost
    };
    // 10 dossiers × (nodes 1 + attachments (10 × 1 + 1)) + 1.
    assert_eq!(
        cost("{ amiApplications(first: 10) { nodes { attachments { id } } } }"),
        10 * (1 + 11) + 1
    );
    assert_eq!(
        cost("{ amiCampaigns { criteria { code } } }"),
        10 * (10 + 1) + 1
    );
}

#[test]
fn site_filters_are_priced_by_what_they_cost() {
    let plain = analyze("{ sites(first: 10) { nodes { name } } }").cost;
    let text =
        analyze(r#"{ sites(first: 10, filter: { text: "mediatheque" }) { nodes { name } } }"#).cost;
    assert_eq!(text, plain + 10);
    let all = analyze(
        r#"{ sites(filter: { text: "x", openAt: "2025-01-01T10:00:00Z", near: { commune: "69123", radiusKm: 5 } })
           { totalCount } }"#,
    )
    .cost;
    assert_eq!(all, 21 + 10 + 10 + 2);
    // Indexed filters cost nothing extra; a null filter is no filter.
    let indexed = analyze(
        r#"{ sites(first: 10, filter: { departments: ["69"], text: null }) { nodes { name } } }"#,
    );
    assert_eq!(indexed.cost, plain);
}
