//! The one connection type: Relay `edges { cursor node }`, `nodes`, `pageInfo`, and `totalCount` counted only when
//! the query selects it.
//!
//! A list field takes `first`/`after` (forward) and `last`/`before` (backward), validates them with [`page_request`]
//! (which also decides whether to count), asks its domain service for a [`Page`], and returns
//! [`connection`]`(page, Wrapper)`. The GraphQL type names follow the node: `SiteConnection`, `SiteEdge`. The
//! conventions test checks that every connection field takes the four arguments.

use crate::kit::error::IntoGql;
use crate::kit::json::{self, Fragment, JsonFragments};
use crate::kit::memory::{Answer, FRAGMENT_CAPACITY, FromMemory, write_object, write_selection};
use async_graphql::connection::{Edge, EmptyFields, PageInfo};
use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, Object, OutputType, Positioned, ServerResult, Value,
};
use maillage_core::pagination::{Page, PageRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::io::Write as _;

/// A page of `N` (Relay connection).
pub type Connection<N> = async_graphql::connection::Connection<String, N, TotalCount, EmptyFields>;

/// The connection's `totalCount`.
pub struct TotalCount(Option<u64>);

impl TotalCount {
    /// The value of `totalCount`: 0 when it was not counted, `i32::MAX` beyond.
    pub(crate) fn value(&self) -> i32 {
        self.0.map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX))
    }
}

/// The connection's `totalCount`.
#[Object]
impl TotalCount {
    /// Number of items matching the filter, all pages together (counted only when selected).
    async fn total_count(&self) -> i32 {
        self.value()
    }
}

/// The Relay arguments of a connection field: `first`/`after` page forward, `last`/`before` backward.
#[derive(Debug, Default, Clone)]
pub struct PageArgs {
    /// Page size reading forward.
    pub first: Option<i32>,
    /// Cursor to read forward from.
    pub after: Option<String>,
    /// Page size reading backward.
    pub last: Option<i32>,
    /// Cursor to read backward from.
    pub before: Option<String>,
}

impl PageArgs {
    /// The four arguments as given.
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }
}

/// The cost of a connection field for `#[graphql(complexity = …)]`: its page size (`first` or `last`) times its
/// children, the same measure as the document cost (`crate::cost`).
#[macro_export]
macro_rules! page_cost {
    () => {
        "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    };
}

/// Validates the Relay arguments and asks for the total only when `totalCount` is selected.
pub fn page_request(ctx: &Context<'_>, args: PageArgs) -> async_graphql::Result<PageRequest> {
    Ok(PageRequest::relay(
        args.first,
        args.after.as_deref(),
        args.last,
        args.before.as_deref(),
    )
    .gql()?
    .with_total(ctx.look_ahead().field("totalCount").exists()))
}

/// Whether the connection's selection reads a cursor: `edges { cursor }` or `pageInfo { startCursor endCursor }`
/// (through fragments and aliases too; a field skipped by a directive still counts, which only computes a cursor
/// for nothing). A list computes its items' cursors only then (`maillage_core::pagination::Cursor::unselected`).
pub fn selects_cursors(ctx: &Context<'_>) -> bool {
    let look = ctx.look_ahead();
    let page_info = look.field("pageInfo");
    look.field("edges").field("cursor").exists()
        || page_info.field("startCursor").exists()
        || page_info.field("endCursor").exists()
}

/// [`page_request`], also rejecting a forged cursor up front (with `invalid_cursor`) rather than deep inside a
/// batched load: `K` is the list's sort key.
pub fn keyed_page_request<K: DeserializeOwned>(
    ctx: &Context<'_>,
    args: PageArgs,
) -> async_graphql::Result<PageRequest> {
    let page = page_request(ctx, args)?;
    if let Some(after) = &page.after {
        after.decode::<K>().gql()?;
    }
    Ok(page)
}

/// A domain page as a connection, each item wrapped by `node`.
pub fn connection<T, N: async_graphql::OutputType>(
    page: Page<T>,
    mut node: impl FnMut(T) -> N,
) -> Connection<N> {
    let mut out = Connection::with_additional_fields(
        page.has_previous_page,
        page.has_next_page,
        TotalCount(page.total_count),
    );
    out.edges = page
        .items
        .into_iter()
        .map(|(cursor, item)| Edge::new(cursor.into_string(), node(item)))
        .collect();
    out
}

/// A connection over a list a batched loader read whole for every parent at once (a nested list such as
/// `HostStructure.counsellors`), paged in memory by `key` with the same arguments and cursors as any other.
pub fn in_memory<T, K, N>(
    ctx: &Context<'_>,
    args: PageArgs,
    items: Vec<T>,
    key: impl Fn(&T) -> K,
    node: impl FnMut(T) -> N,
) -> async_graphql::Result<Connection<N>>
where
    K: Ord + Serialize + DeserializeOwned,
    N: async_graphql::OutputType,
{
    let request = page_request(ctx, args)?;
    let page = maillage_core::pagination::page_in_memory(items, &request, key).gql()?;
    Ok(connection(page, node))
}

/// A connection of objects that give their fields from memory ([`FromMemory`]): the same GraphQL type as
/// [`Connection<N>`], written whole as one JSON fragment ([`crate::kit::json`]) when the request asks for fragments and all it
/// selects is in memory (its nodes' fields, `totalCount`, `pageInfo`, the edges' cursors), else resolved as
/// [`Connection<N>`] resolves.
///
/// Why: async-graphql resolves a list item by item, each item a future (in a `FuturesOrdered` beyond 30 items),
/// and the connection as an object of its own; on a page of 50 sites whose fields were all written from memory,
/// that machinery was about 6 % of the request (issue #16).
pub struct MemoryConnection<N: OutputType>(pub Connection<N>);

impl<N: FromMemory> OutputType for MemoryConnection<N> {
    fn type_name() -> Cow<'static, str> {
        <Connection<N> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Connection<N> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Connection<N> as OutputType>::create_type_info(registry)
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        if ctx.data_opt::<JsonFragments>().is_some() {
            let capacity = FRAGMENT_CAPACITY.saturating_mul(self.0.edges.len().max(1));
            let mut fragment = Fragment::for_list(capacity);
            if write_connection(ctx, &self.0, &mut fragment) {
                return Ok(fragment.finish());
            }
        }
        self.0.resolve(ctx, field).await
    }
}

/// Writes `connection` for the selection `ctx` into `fragment`, as async-graphql's `Connection` resolves it;
/// `false` when something selected is not in memory or not reproduced here (see [`MemoryConnection`]).
fn write_connection<N: FromMemory>(
    ctx: &ContextSelectionSet<'_>,
    connection: &Connection<N>,
    fragment: &mut Fragment,
) -> bool {
    let type_name = || connection.introspection_type_name();
    write_selection(ctx, fragment, &type_name, |fragment, field| {
        let node = &field.node;
        let leaf = node.selection_set.node.items.is_empty();
        let ctx_field = ctx.with_field(field);
        let below = ctx_field.with_selection_set(&node.selection_set);
        match (node.name.node.as_str(), leaf) {
            ("totalCount", true) => {
                // A `Vec` takes every byte.
                let _ = write!(fragment.text(), "{}", connection.additional_fields.value());
                true
            }
            ("nodes", false) => write_list(fragment, &connection.edges, |fragment, i, edge| {
                write_object(&below.with_index(i), &edge.node, fragment)
            }),
            ("edges", false) => write_list(fragment, &connection.edges, |fragment, i, edge| {
                let ctx_edge = below.with_index(i);
                let type_name = || edge.introspection_type_name();
                write_selection(&ctx_edge, fragment, &type_name, |fragment, field| {
                    let node = &field.node;
                    match (
                        node.name.node.as_str(),
                        node.selection_set.node.items.is_empty(),
                    ) {
                        ("cursor", true) => {
                            json::write_str(fragment.text(), &edge.cursor);
                            true
                        }
                        ("node", false) => {
                            let ctx_field = ctx_edge.with_field(field);
                            let ctx_node = ctx_field.with_selection_set(&node.selection_set);
                            write_object(&ctx_node, &edge.node, fragment)
                        }
                        _ => false,
                    }
                })
            }),
            ("pageInfo", false) => {
                let type_name = || <PageInfo as OutputType>::type_name();
                fn cursor<N: OutputType>(
                    edge: Option<&Edge<String, N, EmptyFields>>,
                ) -> Answer<'_> {
                    match edge {
                        Some(edge) => Answer::Text(&edge.cursor),
                        None => Answer::Value(Value::Null),
                    }
                }
                write_selection(&below, fragment, &type_name, |fragment, field| {
                    let node = &field.node;
                    if !node.selection_set.node.items.is_empty() {
                        return false;
                    }
                    let answer = match node.name.node.as_str() {
                        "hasPreviousPage" => {
                            Answer::Value(Value::Boolean(connection.has_previous_page))
                        }
                        "hasNextPage" => Answer::Value(Value::Boolean(connection.has_next_page)),
                        "startCursor" => cursor(connection.edges.first()),
                        "endCursor" => cursor(connection.edges.last()),
                        _ => return false,
                    };
                    answer.write(fragment.text());
                    true
                })
            }
            _ => false,
        }
    })
}

/// Writes `items` as a JSON list, each item by `item` (given its index); `false` as soon as one cannot be written.
fn write_list<I>(
    fragment: &mut Fragment,
    items: &[I],
    mut item: impl FnMut(&mut Fragment, usize, &I) -> bool,
) -> bool {
    fragment.text().push(b'[');
    for (i, one) in items.iter().enumerate() {
        if i > 0 {
            fragment.text().push(b',');
        }
        if !item(fragment, i, one) {
            return false;
        }
    }
    fragment.text().push(b']');
    true
}
