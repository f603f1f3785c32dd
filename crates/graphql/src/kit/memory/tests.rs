//! Tests of [`super`]: the kept hashes, and fragments against async-graphql's tree.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::kit::connection::MemoryConnection;
use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};

/// An object of the test schema: `name`, `n` and `inner` in memory, `slow` and `fails` through resolvers.
struct Place {
    name: String,
    n: i32,
    inner: Option<Box<Place>>,
}

crate::object_from_memory!(
    /// The test object's resolvers.
    struct PlaceFields for Place
);

impl FromMemory for Place {
    fn field_from_memory(&self, name: &str) -> Option<Answer<'_>> {
        match name {
            "name" => Some(text(&self.name)),
            "n" => Some(scalar(&self.n)),
            _ => None,
        }
    }

    fn object_from_memory(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Out<'_>,
    ) -> bool {
        field.node.name.node == "inner" && object_in_memory(ctx, field, self.inner.as_deref(), out)
    }
}

#[Object(name = "Place")]
impl PlaceFields {
    async fn name(&self) -> &str {
        &self.name
    }
    async fn n(&self) -> i32 {
        self.n
    }
    async fn inner(&self) -> Option<&Place> {
        self.inner.as_deref()
    }
    async fn slow(&self) -> String {
        tokio::task::yield_now().await;
        format!("slow {}", self.name)
    }
    async fn fails(&self) -> async_graphql::Result<Option<i32>> {
        Err("no".into())
    }
    async fn echo(&self, x: i32) -> i32 {
        x
    }
}

struct Query;

fn places() -> Vec<Place> {
    let place = |name: &str, n, inner| Place {
        name: name.to_owned(),
        n,
        inner,
    };
    let lyon = place("Lyon \"2\"\n\u{1}é", 2, None);
    vec![
        place("Rhône", 69, Some(Box::new(lyon))),
        place("Ain", 1, None),
    ]
}

#[Object]
impl Query {
    async fn places(&self) -> Vec<Place> {
        places()
    }

    /// The places as a connection, or none of them.
    async fn page(&self, empty: Option<bool>) -> MemoryConnection<Place> {
        let items = if empty == Some(true) {
            Vec::new()
        } else {
            places()
        };
        let page = maillage_core::pagination::Page {
            items: items
                .into_iter()
                .map(|p| (maillage_core::pagination::Cursor::encode(&p.n), p))
                .collect(),
            has_next_page: true,
            has_previous_page: false,
            total_count: Some(7),
        };
        MemoryConnection(crate::kit::connection::connection(page, |p| p))
    }
}

/// The response's `data` and errors run with fragments and without, written out, with their actual costs.
async fn both_ways(query: &str) -> [(Vec<u8>, String, u64, usize); 2] {
    let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
    let mut out = Vec::new();
    for fragments in [true, false] {
        let mut request = Request::new(query);
        let doc = async_graphql::parser::parse_query(query).unwrap();
        if fragments && json::writes_fragments(&doc) {
            request = request.data(JsonFragments);
        }
        let response = schema.execute(request).await;
        let mut data = Vec::new();
        json::write_data(&mut data, &response.data);
        let binaries = match &response.data {
            Value::Object(map) => match map.get("places").or_else(|| map.get("page")) {
                Some(Value::List(items)) => items
                    .iter()
                    .filter(|v| matches!(v, Value::Binary(_)))
                    .count(),
                Some(Value::Binary(_)) => 1,
                _ => 0,
            },
            _ => 0,
        };
        let errors = serde_json::to_string(&response.errors).unwrap();
        out.push((data, errors, json::actual_cost(&response.data), binaries));
    }
    out.try_into().unwrap()
}

/// With fragments, objects whose selection is all in memory are written as JSON, and the response reads
/// exactly as async-graphql's tree of the same request: the same bytes, errors and actual cost.
#[tokio::test]
async fn fragments_read_as_the_tree() {
    let written = [
        ("{ places { name n } }", 2),
        (
            "{ places { __typename b: name a: n inner { name inner { n } } } }",
            2,
        ),
        // Ain's `inner` is null, which needs no resolver; Rhône's needs `slow`'s.
        ("{ places { name inner { slow } } }", 1),
        // async-graphql takes `@include` and `@skip` out of the document once it has applied them.
        (
            "{ places { name n @include(if: true) s: n @skip(if: true) } }",
            2,
        ),
    ];
    // A connection is written whole: its nodes, edges, cursors, page info and count.
    let connections = [
        ("{ page { nodes { name n } } }", 1),
        (
            "{ page { __typename totalCount t: totalCount pageInfo { __typename hasNextPage \
             hasPreviousPage startCursor endCursor } edges { __typename cursor node { name \
             inner { name __typename } } } nodes { n } } }",
            1,
        ),
        (
            "{ page(empty: true) { nodes { n } pageInfo { startCursor endCursor } } }",
            1,
        ),
        // Not all in memory: resolved by async-graphql, each place then written as its own fragment.
        ("{ page { nodes { name slow } } }", 0),
        ("{ page { totalCount nodes { ... on Place { n } } } }", 0),
        ("{ page { edges { node { n } } e: edges { cursor } } }", 1),
        // Two fields under one key, which async-graphql merges.
        ("{ page { nodes { n } nodes { name } } }", 0),
    ];
    let objects = written.map(|(query, n)| (query, n, "places written as fragments"));
    let pages = connections.map(|(query, n)| (query, n, "the connection written whole"));
    for (query, written, what) in objects.into_iter().chain(pages) {
        let [fragments, tree] = both_ways(query).await;
        assert_eq!(fragments.3, written, "{query}: {what}");
        assert_eq!(tree.3, 0, "{query}: no fragment without JsonFragments");
        assert_eq!(
            String::from_utf8(fragments.0.clone()).unwrap(),
            String::from_utf8(tree.0.clone()).unwrap(),
            "{query}"
        );
        assert_eq!(fragments.1, tree.1, "{query}");
        assert_eq!(fragments.2, tree.2, "{query}");
    }
    // Not all in memory, or not reproduced by the fragment path: the tree either way.
    let resolved = [
        "{ places { name slow } }",
        "{ places { name fails } }",
        "{ places { name echo(x: 3) } }",
        "{ places { ... on Place { name } } }",
        "{ places { name name } }",
    ];
    for query in resolved {
        let [fragments, tree] = both_ways(query).await;
        assert_eq!(fragments.3, 0, "{query}: not written as fragments");
        assert_eq!(fragments.0, tree.0, "{query}");
        assert_eq!(fragments.1, tree.1, "{query}");
        assert_eq!(fragments.2, tree.2, "{query}");
    }
}

/// The map [`object`] builds from `keys`, with the hashes [`KeyHashes`] gives.
fn built(hashes: &mut KeyHashes, keys: &[Name]) -> IndexMap<Name, Value> {
    let mut map = IndexMap::with_hasher(hashes.state.clone());
    for (i, key) in keys.iter().enumerate() {
        let hash = hashes.hash(key);
        if let RawEntryMut::Vacant(entry) = map.raw_entry_mut_v1().from_hash(hash, |k| k == key) {
            entry.insert_hashed_nocheck(hash, key.clone(), Value::from(i32::try_from(i).unwrap()));
        }
    }
    map
}

/// Keys met again, at the same address or another, in another order, nested, past the number kept: every hash
/// is the hasher's own, so the maps find their keys as maps built by `insert` do.
#[test]
fn kept_hashes_are_the_hashers_own() {
    let mut hashes = KeyHashes {
        state: RandomState::new(),
        keys: Vec::new(),
        next: 0,
    };
    let site = ["sourceId", "name", "commune", "department"].map(Name::new);
    let department = ["code", "name", "region"].map(Name::new);
    let region = [Name::new("name")];
    let many: Vec<Name> = (0..KEPT_HASHES + 10)
        .map(|i| Name::new(format!("f{i}")))
        .collect();
    let mut shapes: Vec<Vec<Name>> = Vec::new();
    for _ in 0..3 {
        shapes.extend([region.to_vec(), department.to_vec(), site.to_vec()]);
    }
    shapes.push(site.iter().rev().cloned().collect());
    shapes.push(many.clone());
    shapes.extend([region.to_vec(), site.to_vec()]);
    shapes.push(site.iter().map(|k| Name::new(k.as_str())).collect());
    for keys in &shapes {
        let map = built(&mut hashes, keys);
        let mut expected = IndexMap::new();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(hashes.hash(key), hashes.state.hash_one(key), "{key}");
            expected.insert(key.clone(), Value::from(i32::try_from(i).unwrap()));
            assert_eq!(map.get(key.as_str()), expected.get(key.as_str()), "{key}");
        }
        assert_eq!(map, expected);
        assert_eq!(expected, map);
    }
}
