//! Relay-style pagination shared by every list: a bounded page size and opaque cursors.

use crate::error::{ErrorCode, FieldPath};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
}

/// What a client asked for: how many items, after which cursor, and whether it wants the total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Number of items, 1 to [`MAX_PAGE_SIZE`].
    pub first: u32,
    /// Start after this position.
    pub after: Option<Cursor>,
    /// Count the matching items (an extra statement), only when the client selected `totalCount`.
    pub with_total: bool,
}

impl PageRequest {
    /// Validates a client's `first` and `after`.
    pub fn new(first: Option<i32>, after: Option<&str>) -> Result<Self, PaginationError> {
        let first = match first {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if n >= 0 && n.unsigned_abs() <= MAX_PAGE_SIZE => n.unsigned_abs(),
            Some(n) => return Err(PaginationError::PageSizeOutOfRange(n)),
        };
        Ok(Self {
            first,
            after: after.map(Cursor::from_client),
            with_total: false,
        })
    }

    /// The same request, also asking for the total count.
    #[must_use]
    pub fn with_total(mut self, with_total: bool) -> Self {
        self.with_total = with_total;
        self
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items with their cursors, in order.
    pub items: Vec<(Cursor, T)>,
    /// Whether more items follow the last one.
    pub has_next_page: bool,
    /// Whether items precede the first one (known only as "a cursor was given").
    pub has_previous_page: bool,
    /// The number of items matching the filter, when asked for.
    pub total_count: Option<u64>,
}

impl<T> Page<T> {
    /// Builds a page from up to `first + 1` fetched rows: the extra row only tells that a next page exists.
    pub fn from_rows(
        mut rows: Vec<T>,
        request: &PageRequest,
        total_count: Option<u64>,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> Self {
        let first = request.first as usize;
        let has_next_page = rows.len() > first;
        rows.truncate(first);
        Self {
            items: rows.into_iter().map(|row| (cursor_of(&row), row)).collect(),
            has_next_page,
            has_previous_page: request.after.is_some(),
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

/// Errors in a client's pagination arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaginationError {
    /// `after` is not a cursor this API produced.
    #[error("the cursor is not valid: use a cursor returned by this API")]
    InvalidCursor,
    /// `first` is negative or above the maximum.
    #[error("first must be between 0 and {MAX_PAGE_SIZE}, got {0}")]
    PageSizeOutOfRange(i32),
}

impl ErrorCode for PaginationError {
    fn code(&self) -> crate::Code {
        match self {
            Self::InvalidCursor => crate::Code::InvalidCursor,
            Self::PageSizeOutOfRange(_) => crate::Code::PageSizeOutOfRange,
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
}
