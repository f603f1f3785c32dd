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
}

/// An instant as a fixed-width UTC string (nanoseconds): string order is time order.
fn key(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

impl SyncOptions {
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
            return Ok(Condition::all().add(id.gt(last)));
        }
        let (at, last): (String, i32) = after.decode()?;
        let at = DateTime::parse_from_rfc3339(&at)
            .map_err(|_| PaginationError::InvalidCursor)?
            .with_timezone(&Utc);
        Ok(Condition::any()
            .add(updated_at.gt(at))
            .add(Condition::all().add(updated_at.eq(at)).add(id.gt(last))))
    }

    /// The list's order.
    pub fn order<Q: QueryOrder, C: ColumnTrait>(&self, query: Q, updated_at: C, id: C) -> Q {
        let query = if self.by_updated_at {
            query.order_by(updated_at, Order::Asc)
        } else {
            query
        };
        query.order_by(id, Order::Asc)
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
}
