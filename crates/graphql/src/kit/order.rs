//! The filter and order convention.
//!
//! A list of `Foo` takes `filter: FooFilter` (an input object; every field optional, fields combined with AND, a
//! list field matches any of its values) and `orderBy: FooOrderBy { field: FooOrderField, direction:
//! OrderDirection }`. Ties are always broken by id, so pages are stable.

use async_graphql::Enum;

/// Sort direction.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default, Debug)]
pub enum OrderDirection {
    /// Ascending.
    #[default]
    Asc,
    /// Descending.
    Desc,
}

impl OrderDirection {
    /// Whether the order is descending.
    pub fn descending(self) -> bool {
        self == Self::Desc
    }
}
