//! The one connection type: Relay `edges { cursor node }`, `nodes`, `pageInfo`, and `totalCount` counted only when
//! the query selects it.
//!
//! A list field takes `first`/`after` (forward) and `last`/`before` (backward), validates them with [`page_request`]
//! (which also decides whether to count), asks its domain service for a [`Page`], and returns
//! [`connection`]`(page, Wrapper)`. The GraphQL type names follow the node: `SiteConnection`, `SiteEdge`. The
//! conventions test checks that every connection field takes the four arguments.

use crate::kit::error::IntoGql;
use async_graphql::connection::{Edge, EmptyFields};
use async_graphql::{Context, Object};
use maillage_core::pagination::{Page, PageRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

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
