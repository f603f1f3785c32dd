//! Incremental sync, shared by every list: `updatedSince` and the `(updated_at, id)` order.
//!
//! Every table a list serves has Maillage's own `updated_at`, set by the server on every write (a site's `date_maj`
//! is the source's and says nothing of Maillage's writes). Ordered by `(updated_at, id)`, a row written while a client
//! pages moves to the end of the list instead of slipping behind the client's cursor, so a paged pull never skips it.

use crate::pagination::{Cursor, PaginationError};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, Order, QueryOrder};

/// How a list is read for incremental sync, besides its own filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Only rows Maillage wrote at or after this instant.
    pub updated_since: Option<DateTime<Utc>>,
    /// Order by `(updated_at, id)` instead of `id` (cursors then carry both).
    pub by_updated_at: bool,
    /// Newest (or highest id) first. A mirror reads oldest first; dashboards want the latest writes on top.
    pub descending: bool,
}

/// An instant as a fixed-width UTC string (nanoseconds): string order is time order.
fn key(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

impl SyncOptions {
    /// The options to scan the list for `page`: the order reversed for a backward page (`last`/`before`), so that
    /// [`SyncOptions::after`], [`SyncOptions::order`], [`SyncOptions::is_after`] and [`SyncOptions::sort`] read from
    /// the cursor towards the start. Cursors are the same in both directions.
    #[must_use]
    pub fn scan(&self, page: &crate::pagination::PageRequest) -> Self {
        Self {
            descending: self.descending != page.backward,
            ..*self
        }
    }

    /// The `updated_since` condition on `updated_at`.
    pub fn condition<C: ColumnTrait>(&self, updated_at: C) -> Condition {
        match self.updated_since {
            Some(since) => Condition::all().add(updated_at.gte(since)),
            None => Condition::all(),
        }
    }

    /// Rows after `after`, a cursor made by [`SyncOptions::cursor`] with the same options.
    pub fn after<C: ColumnTrait>(
        &self,
        updated_at: C,
        id: C,
        after: &Cursor,
    ) -> Result<Condition, PaginationError> {
        if !self.by_updated_at {
            let last: i32 = after.decode()?;
            let past = if self.descending {
                id.lt(last)
            } else {
                id.gt(last)
            };
            return Ok(Condition::all().add(past));
        }
        let (at, last): (String, i32) = after.decode()?;
        let at = DateTime::parse_from_rfc3339(&at)
            .map_err(|_| PaginationError::InvalidCursor)?
            .with_timezone(&Utc);
        let (later, past) = if self.descending {
            (updated_at.lt(at), id.lt(last))
        } else {
            (updated_at.gt(at), id.gt(last))
        };
        Ok(Condition::any()
            .add(later)
            .add(Condition::all().add(updated_at.eq(at)).add(past)))
    }

    /// Whether a row keyed `(updated_at, id)` comes after the cursor `after` in this order (for lists sorted in
    /// memory, e.g. AMI dossiers whose visibility is decided row by row).
    pub fn is_after(
        &self,
        updated_at: DateTime<Utc>,
        id: i32,
        after: &Cursor,
    ) -> Result<bool, PaginationError> {
        let ordering = if self.by_updated_at {
            let (at, last): (String, i32) = after.decode()?;
            let at = DateTime::parse_from_rfc3339(&at)
                .map_err(|_| PaginationError::InvalidCursor)?
                .with_timezone(&Utc);
            (updated_at, id).cmp(&(at, last))
        } else {
            let last: i32 = after.decode()?;
            id.cmp(&last)
        };
        Ok(if self.descending {
            ordering.is_lt()
        } else {
            ordering.is_gt()
        })
    }

    /// Sorts rows keyed `(updated_at, id)` in this order, in memory.
    pub fn sort<T>(&self, rows: &mut [T], key: impl Fn(&T) -> (DateTime<Utc>, i32)) {
        if self.by_updated_at {
            rows.sort_by_key(|r| key(r));
        } else {
            rows.sort_by_key(|r| key(r).1);
        }
        if self.descending {
            rows.reverse();
        }
    }

    /// The list's order.
    pub fn order<Q: QueryOrder, C: ColumnTrait>(&self, query: Q, updated_at: C, id: C) -> Q {
        let direction = if self.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        let query = if self.by_updated_at {
            query.order_by(updated_at, direction.clone())
        } else {
            query
        };
        query.order_by(id, direction)
    }

    /// The cursor of a row (the id alone when ordered by id, as lists always did).
    pub fn cursor(&self, updated_at: DateTime<Utc>, id: i32) -> Cursor {
        if self.by_updated_at {
            Cursor::encode(&(key(updated_at), id))
        } else {
            Cursor::encode(&id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_the_other_order() {
        let at = DateTime::parse_from_rfc3339("2026-12-04T10:00:00.123456789Z")
            .unwrap_or_else(|e| panic!("{e}"))
            .with_timezone(&Utc);
        let by_time = SyncOptions {
            by_updated_at: true,
            ..SyncOptions::default()
        };
        let c = by_time.cursor(at, 7);
        let (s, id): (String, i32) = c.decode().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.as_str(), id), ("2026-12-04T10:00:00.123456789Z", 7));
        assert!(SyncOptions::default().cursor(at, 7).decode::<i32>().is_ok());
        assert!(c.decode::<i32>().is_err());
    }

    #[test]
    fn is_after_and_sort_follow_the_direction() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .unwrap_or_else(|e| panic!("{e}"))
                .with_timezone(&Utc)
        };
        let early = t("2026-12-04T10:00:00Z");
        let late = t("2026-12-04T11:00:00Z");
        let asc = SyncOptions {
            by_updated_at: true,
            ..SyncOptions::default()
        };
        let desc = SyncOptions {
            descending: true,
            ..asc
        };
        let c = asc.cursor(early, 5);
        assert_eq!(asc.is_after(late, 1, &c).ok(), Some(true));
        assert_eq!(asc.is_after(early, 5, &c).ok(), Some(false));
        assert_eq!(asc.is_after(early, 6, &c).ok(), Some(true));
        assert_eq!(desc.is_after(late, 1, &c).ok(), Some(false));
        assert_eq!(desc.is_after(early, 4, &c).ok(), Some(true));
        let mut rows = vec![(late, 1), (early, 9), (early, 2)];
        asc.sort(&mut rows, |r| *r);
        assert_eq!(rows, vec![(early, 2), (early, 9), (late, 1)]);
        desc.sort(&mut rows, |r| *r);
        assert_eq!(rows, vec![(late, 1), (early, 9), (early, 2)]);
        SyncOptions::default().sort(&mut rows, |r| *r);
        assert_eq!(rows, vec![(late, 1), (early, 2), (early, 9)]);
    }
}
