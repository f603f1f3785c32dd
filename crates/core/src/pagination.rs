//! Relay-style pagination shared by every list: a bounded page size and opaque cursors.

use crate::error::{ErrorCode, FieldPath};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{ColumnTrait, Condition, Order};
use serde::{Serialize, de::DeserializeOwned};

/// The largest page a client may ask for; larger requests are refused rather than silently truncated, so a client
/// never believes it has everything when it has not.
pub const MAX_PAGE_SIZE: u32 = 100;
/// The page size when the client does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// An opaque position in an ordered list.
///
/// It encodes the sort key of the last item seen (keyset pagination), never an offset, so pages stay stable while
/// rows are inserted. Clients must treat it as opaque: its encoding may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    /// Encodes a sort key.
    pub fn encode<T: Serialize>(key: &T) -> Self {
        // Serialising plain keys (strings, numbers, tuples) cannot fail; an empty cursor would only restart a list.
        let json = serde_json::to_vec(key).unwrap_or_default();
        Self(URL_SAFE_NO_PAD.encode(json))
    }

    /// Wraps a cursor received from a client, without decoding it yet.
    pub fn from_client(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    /// Decodes the sort key, or reports `invalid_cursor` for anything a client forged or mangled.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, PaginationError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(self.0.trim_end_matches('='))
            .map_err(|_| PaginationError::InvalidCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| PaginationError::InvalidCursor)
    }

    /// The encoded form handed to clients.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The encoded form, moved out (a connection hands each edge its own string).
    pub fn into_string(self) -> String {
        self.0
    }

    /// The cursor of an item in a page whose client selected no cursor (neither `edges { cursor }` nor
    /// `pageInfo { startCursor endCursor }`): empty, and refused as `invalid_cursor` if it ever came back.
    ///
    /// Why it exists: computing a cursor costs a sort key, its JSON and its base64 for every item; on a nested list
    /// of 1 300 sites that asks for none, that was per-site CPU spent on nothing (issue #16).
    pub fn unselected() -> Self {
        Self(String::new())
    }

    /// Whether this is [`Cursor::unselected`].
    pub fn is_unselected(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a client asked for: how many items, from which end and past which cursor, and whether it wants the total.
///
/// A list is read forward (`first`/`after`) or backward (`last`/`before`). Backward, the domain scans its order in
/// reverse from the cursor ([`PageRequest::order`], [`PageRequest::past`], [`crate::sync::SyncOptions::scan`]) and
/// [`Page::from_rows`] puts the page back in the list's order, so both directions hand out the same cursors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Number of items, 0 to [`MAX_PAGE_SIZE`]: the client's `first`, or its `last` when [`Self::backward`].
    pub first: u32,
    /// The position to read past, in scan order: the client's `after`, or its `before` when [`Self::backward`].
    pub after: Option<Cursor>,
    /// Count the matching items, only when the client selected `totalCount`. How is each list's own: site lists
    /// count in their page's statement, at no extra round trip.
    pub with_total: bool,
    /// The client asked for `last`/`before`: the page ends at the cursor (or at the end of the list).
    pub backward: bool,
}

impl PageRequest {
    /// Validates a client's `first` and `after` (a forward page).
    pub fn new(first: Option<i32>, after: Option<&str>) -> Result<Self, PaginationError> {
        Ok(Self {
            first: page_size(first)?,
            after: after.map(Cursor::from_client),
            with_total: false,
            backward: false,
        })
    }

    /// Validates a client's Relay arguments: `first`/`after` read forward, `last`/`before` backward.
    ///
    /// Mixing the two directions is refused: the Relay specification allows it but discourages it, and no client
    /// needs a page bounded on both sides.
    pub fn relay(
        first: Option<i32>,
        after: Option<&str>,
        last: Option<i32>,
        before: Option<&str>,
    ) -> Result<Self, PaginationError> {
        if last.is_none() && before.is_none() {
            return Self::new(first, after);
        }
        if first.is_some() || after.is_some() {
            return Err(PaginationError::MixedDirections);
        }
        Ok(Self {
            first: page_size(last)?,
            after: before.map(Cursor::from_client),
            with_total: false,
            backward: true,
        })
    }

    /// The same request, also asking for the total count.
    #[must_use]
    pub fn with_total(mut self, with_total: bool) -> Self {
        self.with_total = with_total;
        self
    }

    /// The SQL order to scan a key whose list order is `ascending`: reversed for a backward page.
    pub fn order(&self, ascending: bool) -> Order {
        if ascending != self.backward {
            Order::Asc
        } else {
            Order::Desc
        }
    }

    /// The rows past `key` (the cursor's value of `column`) in scan order, for a key whose list order is
    /// `ascending`.
    pub fn past<C: ColumnTrait, V: Into<sea_orm::Value>>(
        &self,
        column: C,
        ascending: bool,
        key: V,
    ) -> Condition {
        Condition::all().add(if ascending != self.backward {
            column.gt(key)
        } else {
            column.lt(key)
        })
    }
}

fn page_size(n: Option<i32>) -> Result<u32, PaginationError> {
    match n {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if n >= 0 && n.unsigned_abs() <= MAX_PAGE_SIZE => Ok(n.unsigned_abs()),
        Some(n) => Err(PaginationError::PageSizeOutOfRange(n)),
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items with their cursors, in order.
    pub items: Vec<(Cursor, T)>,
    /// Whether more items follow the last one (backward, known only as "a `before` cursor was given").
    pub has_next_page: bool,
    /// Whether items precede the first one (forward, known only as "an `after` cursor was given").
    pub has_previous_page: bool,
    /// The number of items matching the filter, when asked for.
    pub total_count: Option<u64>,
}

impl<T> Page<T> {
    /// Builds a page from up to `first + 1` rows fetched in scan order: the extra row only tells that more exist
    /// beyond the page. A backward page was scanned in reverse and is put back in the list's order.
    pub fn from_rows(
        mut rows: Vec<T>,
        request: &PageRequest,
        total_count: Option<u64>,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> Self {
        let first = request.first as usize;
        let more = rows.len() > first;
        rows.truncate(first);
        let cursor_given = request.after.is_some();
        if request.backward {
            rows.reverse();
        }
        Self {
            items: rows.into_iter().map(|row| (cursor_of(&row), row)).collect(),
            has_next_page: if request.backward { cursor_given } else { more },
            has_previous_page: if request.backward { more } else { cursor_given },
            total_count,
        }
    }

    /// Converts the items, keeping cursors and page info.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(|(c, t)| (c, f(t))).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            total_count: self.total_count,
        }
    }
}

/// One page of a list already held in memory (a batched nested list: every parent's items read in one statement),
/// with the same cursors and both directions as a list paged in SQL. `items` may come in any order: they are
/// sorted by `key`, which is also what the cursors carry.
pub fn page_in_memory<T, K: Ord + Serialize + DeserializeOwned>(
    mut items: Vec<T>,
    request: &PageRequest,
    key: impl Fn(&T) -> K,
) -> Result<Page<T>, PaginationError> {
    let total = request.with_total.then_some(items.len() as u64);
    items.sort_by_key(|item| key(item));
    if request.backward {
        items.reverse();
    }
    if let Some(after) = &request.after {
        let after: K = after.decode()?;
        items.retain(|item| {
            let k = key(item);
            if request.backward {
                k < after
            } else {
                k > after
            }
        });
    }
    items.truncate(request.first as usize + 1);
    Ok(Page::from_rows(items, request, total, |item| {
        Cursor::encode(&key(item))
    }))
}

/// Errors in a client's pagination arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaginationError {
    /// `after` is not a cursor this API produced.
    #[error("the cursor is not valid: use a cursor returned by this API")]
    InvalidCursor,
    /// `first` or `last` is negative or above the maximum.
    #[error("first and last must be between 0 and {MAX_PAGE_SIZE}, got {0}")]
    PageSizeOutOfRange(i32),
    /// `first`/`after` given together with `last`/`before`.
    #[error("page forward (first, after) or backward (last, before), not both")]
    MixedDirections,
}

impl ErrorCode for PaginationError {
    fn code(&self) -> crate::Code {
        match self {
            Self::InvalidCursor => crate::Code::InvalidCursor,
            Self::PageSizeOutOfRange(_) => crate::Code::PageSizeOutOfRange,
            Self::MixedDirections => crate::Code::InvalidValue,
        }
    }

    fn field(&self) -> Option<&FieldPath> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = Cursor::encode(&("Médiathèque", 42));
        let back: (String, i32) = c.decode().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, ("Médiathèque".to_owned(), 42));
        assert_eq!(
            Cursor::from_client("%%%").decode::<(String, i32)>(),
            Err(PaginationError::InvalidCursor)
        );
        assert_eq!(
            Cursor::encode(&"x").decode::<(String, i32)>(),
            Err(PaginationError::InvalidCursor)
        );
        // An unselected cursor handed back by mistake restarts nothing: it is refused.
        assert!(Cursor::unselected().is_unselected());
        assert!(!c.is_unselected());
        assert_eq!(
            Cursor::unselected().decode::<(String, i32)>(),
            Err(PaginationError::InvalidCursor)
        );
        assert_eq!(c.clone().into_string(), c.as_str());
    }

    #[test]
    fn page_size_bounds() {
        assert_eq!(PageRequest::new(None, None).map(|p| p.first), Ok(20));
        assert!(PageRequest::new(Some(100), None).is_ok());
        assert!(PageRequest::new(Some(101), None).is_err());
        assert!(PageRequest::new(Some(-1), None).is_err());
    }

    #[test]
    fn page_from_rows() {
        let request = PageRequest::new(Some(2), None).unwrap_or_else(|e| panic!("{e}"));
        let page = Page::from_rows(vec![1, 2, 3], &request, None, Cursor::encode);
        assert!(page.has_next_page);
        assert_eq!(page.items.len(), 2);
    }

    #[test]
    fn backward_page_is_put_back_in_order() {
        let last =
            PageRequest::relay(None, None, Some(2), Some("x")).unwrap_or_else(|e| panic!("{e}"));
        assert!(last.backward);
        assert_eq!(last.order(true), Order::Desc);
        // Scanned in reverse from the cursor: 9, 8, then 7 only says more precede.
        let page = Page::from_rows(vec![9, 8, 7], &last, None, Cursor::encode);
        let got: Vec<i32> = page.items.iter().map(|(_, n)| *n).collect();
        assert_eq!(got, vec![8, 9]);
        assert!(page.has_previous_page);
        assert!(page.has_next_page);
        let end = PageRequest::relay(None, None, Some(5), None).unwrap_or_else(|e| panic!("{e}"));
        let page = Page::from_rows(vec![3, 2, 1], &end, None, Cursor::encode);
        assert!(!page.has_previous_page && !page.has_next_page);
        assert_eq!(
            PageRequest::relay(Some(1), None, Some(1), None),
            Err(PaginationError::MixedDirections)
        );
        assert_eq!(
            PageRequest::relay(None, Some("a"), None, Some("b")),
            Err(PaginationError::MixedDirections)
        );
        assert!(PageRequest::relay(None, None, Some(101), None).is_err());
    }

    #[test]
    fn in_memory_pages_walk_both_ways_with_the_same_cursors() {
        let items = vec![5, 1, 4, 2, 3];
        let first2 = PageRequest::new(Some(2), None).unwrap_or_else(|e| panic!("{e}"));
        let page = page_in_memory(items.clone(), &first2, |n| *n).unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<i32> = page.items.iter().map(|(_, n)| *n).collect();
        assert_eq!(got, vec![1, 2]);
        assert!(page.has_next_page && !page.has_previous_page);
        let before = page.items[1].0.as_str().to_owned();
        // Back from 2: only 1 precedes it.
        let back = PageRequest::relay(None, None, Some(2), Some(&before))
            .unwrap_or_else(|e| panic!("{e}"));
        let page = page_in_memory(items.clone(), &back, |n| *n).unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<i32> = page.items.iter().map(|(_, n)| *n).collect();
        assert_eq!(got, vec![1]);
        assert!(!page.has_previous_page && page.has_next_page);
        let last2 = PageRequest::relay(None, None, Some(2), None).unwrap_or_else(|e| panic!("{e}"));
        let page = page_in_memory(items, &last2, |n| *n).unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<i32> = page.items.iter().map(|(_, n)| *n).collect();
        assert_eq!(got, vec![4, 5]);
        assert!(page.has_previous_page && !page.has_next_page);
    }
}
