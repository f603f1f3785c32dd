//! The selection sets a JSON fragment writes, checked once and their keys written once, for all the objects of a
//! list.
//!
//! `crate::kit::memory` writes an object's selection straight to JSON only when the selection is one it reproduces
//! exactly (fields only, no directive, no argument but on `__typename`, one field per response key). A page of 50
//! sites with their departments and regions checked that, and wrote each response key with its quotes and colon,
//! for every object: 150 times per request the same three selection sets, with their key comparisons (issue #16,
//! docs/PERFORMANCE.md). [`Checked`] keeps, for the fragment of a list being written, each selection set's verdict
//! and its keys already written as JSON. A fragment of one object checks its fields as it writes them ([`field`]):
//! keeping them would cost more allocations than it saves (measured: 3 % more instructions on the bench's Q5, whose
//! counsellors are objects of their own).
//!
//! A selection set is known by the address and length of its list of selections: the document outlives the
//! fragment (both live within one resolver call), so while a fragment is written, one address is one selection set.

use async_graphql::Positioned;
use async_graphql::parser::types::Selection;

/// The selection sets checked while writing one fragment: at most one per selection set of the document (whose size
/// the request limits bound), so nothing is ever evicted, and a number [`Checked::find`] gave stays valid while
/// the selection sets below it are checked.
#[derive(Default)]
pub(crate) struct Checked {
    sets: Vec<CheckedSet>,
}

/// One selection set checked: its address, and its fields when the selection is one the fragment reproduces.
struct CheckedSet {
    at: (usize, usize),
    fields: Option<Box<[CheckedField]>>,
}

/// One field of a checked selection set.
pub(crate) struct CheckedField {
    /// The text that comes before the field's value: `{"key":` for the first field, `,"key":` for the others.
    pub(crate) key: Box<[u8]>,
    /// Its position in the selection set.
    pub(crate) index: usize,
    /// Whether it is `__typename`.
    pub(crate) typename: bool,
}

impl Checked {
    /// The number of `items`' checked set, checking it now if it was not: the number stays valid for the life of
    /// the fragment, whatever is checked after it.
    pub(crate) fn find(&mut self, items: &[Positioned<Selection>]) -> usize {
        let at = (items.as_ptr() as usize, items.len());
        if let Some(found) = self.sets.iter().position(|set| set.at == at) {
            return found;
        }
        self.sets.push(CheckedSet {
            at,
            fields: check(items),
        });
        self.sets.len() - 1
    }

    /// The fields of the checked set `set` ([`Checked::find`]), `None` when the fragment does not reproduce it.
    #[inline]
    pub(crate) fn fields(&self, set: usize) -> Option<&[CheckedField]> {
        self.sets.get(set)?.fields.as_deref()
    }
}

/// The fields of `items` with their keys written, or `None` when the selection is one a fragment does not
/// reproduce ([`field`]).
fn check(items: &[Positioned<Selection>]) -> Option<Box<[CheckedField]>> {
    let mut fields: Vec<CheckedField> = Vec::with_capacity(items.len());
    for index in 0..items.len() {
        let (key, typename) = field(items, index)?;
        // A response key is a GraphQL name, which never needs an escape (`crate::kit::json::write_key`).
        let mut text = Vec::with_capacity(key.len() + 4);
        text.push(if index == 0 { b'{' } else { b',' });
        crate::kit::json::write_key(&mut text, key);
        fields.push(CheckedField {
            key: text.into_boxed_slice(),
            index,
            typename,
        });
    }
    Some(fields.into_boxed_slice())
}

/// The response key of the selection at `index` of `items`, and whether it is `__typename`; `None` when a fragment
/// does not reproduce it: a fragment (inline or spread), a directive, an argument (but on `__typename`, which has
/// none to use), or a response key an earlier field has (async-graphql merges the two).
pub(crate) fn field(items: &[Positioned<Selection>], index: usize) -> Option<(&str, bool)> {
    let Selection::Field(field) = &items.get(index)?.node else {
        return None;
    };
    let node = &field.node;
    if !node.directives.is_empty() {
        return None;
    }
    let key = node.response_key().node.as_str();
    let repeated = items.get(..index)?.iter().any(|seen| match &seen.node {
        Selection::Field(seen) => seen.node.response_key().node == key,
        _ => false,
    });
    let typename = node.name.node == "__typename";
    if repeated || (!typename && !node.arguments.is_empty()) {
        return None;
    }
    Some((key, typename))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::{Checked, check};
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::{DocumentOperations, Selection, SelectionSet};

    /// The selection set of the document's only operation, and the one of its first field.
    fn sets(query: &str) -> (SelectionSet, SelectionSet) {
        let doc = parse_query(query).unwrap();
        let DocumentOperations::Single(operation) = doc.operations else {
            panic!("one operation");
        };
        let root = operation.node.selection_set.node;
        let Selection::Field(field) = &root.items[0].node else {
            panic!("a field first");
        };
        let below = field.node.selection_set.node.clone();
        (root, below)
    }

    fn keys(query: &str) -> Option<Vec<String>> {
        let (_, below) = sets(query);
        check(&below.items).map(|fields| {
            fields
                .iter()
                .map(|f| String::from_utf8(f.key.to_vec()).unwrap())
                .collect()
        })
    }

    #[test]
    fn keys_are_written_once_with_what_comes_before_them() {
        assert_eq!(
            keys("{ sites { sourceId nom: name __typename } }").unwrap(),
            [r#"{"sourceId":"#, r#","nom":"#, r#","__typename":"#]
        );
    }

    #[test]
    fn selections_a_fragment_does_not_reproduce_are_refused() {
        for query in [
            "{ sites { name name } }",
            "{ sites { name other: sourceId name: commune } }",
            "{ sites { name @include(if: true) } }",
            "{ sites { sites(first: 1) { totalCount } } }",
            "{ sites { ... on Site { name } } }",
            "{ sites { ...F } } fragment F on Site { name }",
        ] {
            assert!(keys(query).is_none(), "{query}");
        }
        // `__typename` takes no argument to use: the fragment writes it as async-graphql does.
        assert!(keys("{ sites { __typename name } }").is_some());
    }

    #[test]
    fn a_selection_set_is_checked_once_and_found_again_by_its_address() {
        let (root, below) = sets("{ sites { name } hubs { slug } }");
        let mut checked = Checked::default();
        let first = checked.find(&below.items);
        let other = checked.find(&root.items);
        assert_ne!(first, other);
        assert_eq!(checked.find(&below.items), first);
        assert_eq!(checked.sets.len(), 2);
        assert_eq!(checked.fields(first).map(<[_]>::len), Some(1));
    }
}
