//! Connecting to the database from one URL, and the few backend facts the domains need.

use sea_orm::sqlx;
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The URL used when `DATABASE_URL` is not set: an embedded SQLite file in the working directory, created on first
/// use, so that `cargo run` needs no database server.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://maillage.db?mode=rwc";

/// How long a SQLite writer waits for the write lock before failing: longer than the publishing step of a large
/// import, so that small API writes queue behind it rather than fail.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The URL as the driver wants it, from what a person is likely to type.
///
/// `sqlite://FILE` without `mode=` gets `mode=rwc` (create the file when missing: without it the driver only says
/// "unable to open database file"), and a bare path such as `maillage.db` is read as that SQLite file. PostgreSQL
/// URLs, in-memory SQLite and anything else are left as they are (the driver's own error then names the problem).
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    if let Some(rest) = url.strip_prefix("sqlite:") {
        if rest.contains(":memory:") || url.contains("mode=") {
            return url.to_owned();
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        return format!("{url}{sep}mode=rwc");
    }
    if !url.is_empty() && !url.contains("://") && !url.contains(':') {
        return format!("sqlite://{url}?mode=rwc");
    }
    url.to_owned()
}

/// Opens a connection pool for a `sqlite:` or `postgres:` URL (first normalised by [`normalize_url`]).
///
/// An in-memory SQLite database lives in one connection, so its pool is capped at one (otherwise every connection
/// would see its own empty database). `statements` counts every statement run, for tests and metrics.
pub async fn connect(
    url: &str,
    max_connections: u32,
    statements: Option<StatementCounter>,
) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, max_connections, statements, DEFAULT_ACQUIRE_TIMEOUT).await
}

/// How long a command waits for a free connection of its pool (the server sets a shorter one for requests).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// [`connect`] with the longest wait for a free (or new) connection: when the database is down, every operation
/// fails after `acquire_timeout`, so the server keeps it short to answer `unavailable` quickly.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    statements: Option<StatementCounter>,
    acquire_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let mut db = Database::connect(pool_options(url, max_connections, acquire_timeout)).await?;
    if let Some(counter) = statements {
        db.set_metric_callback(move |info| {
            counter.record(info.statement.sql.as_str());
        });
    }
    Ok(db)
}

/// A pooled connection that has been idle at least this long is pinged before it is handed out; a busy one is not.
///
/// Why: the driver's default pings on every acquire, one more round trip before every statement (a one-site query
/// running four statements waited for eight round trips). What the ping guards against, a connection dropped by
/// a firewall, a proxy or the server while it sat idle, happens to idle connections; a connection used a moment
/// ago that breaks fails its statement, and the pool then discards it, as it would after a failed ping.
pub const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(10);

/// The pool's options for a normalised-on-the-way URL (see [`connect_with`]).
fn pool_options(url: &str, max_connections: u32, acquire_timeout: Duration) -> ConnectOptions {
    let url = normalize_url(url);
    let in_memory = url.starts_with("sqlite") && url.contains(":memory:");
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(if in_memory { 1 } else { max_connections.max(1) })
        .min_connections(if in_memory { 1 } else { 0 })
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(acquire_timeout)
        .sqlx_logging(false);
    if in_memory {
        // The database disappears with its last connection: never let the pool close it.
        options
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>);
    } else {
        // WAL lets readers go on while a writer (an import publishing its rows) holds the write lock, and a writer
        // that finds the lock taken waits its turn instead of failing at once with "database is locked".
        // `synchronous = NORMAL` is the documented safe pairing with WAL (a power loss may drop the last commits,
        // never corrupt the file).
        options.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
        });
    }
    options.test_before_acquire_if_idle_for(PING_WHEN_IDLE_FOR);
    options
}

/// Counts SQL statements, to prove in tests that a query does not grow with the data (no N+1).
#[derive(Debug, Clone, Default)]
pub struct StatementCounter {
    count: Arc<AtomicU64>,
    log: Arc<std::sync::Mutex<Option<Vec<String>>>>,
}

impl StatementCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn record(&self, sql: &str) {
        self.count.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut log) = self.log.lock()
            && let Some(log) = log.as_mut()
        {
            log.push(sql.to_owned());
        }
    }

    /// Statements counted so far.
    pub fn get(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Starts keeping the text of each statement (for a test's failure message).
    pub fn start_log(&self) {
        if let Ok(mut log) = self.log.lock() {
            *log = Some(Vec::new());
        }
    }

    /// Returns and clears the statements kept since [`StatementCounter::start_log`].
    pub fn take_log(&self) -> Vec<String> {
        self.log
            .lock()
            .ok()
            .and_then(|mut log| log.as_mut().map(std::mem::take))
            .unwrap_or_default()
    }
}

/// Whether a database error is a unique-constraint violation (two writers raced for the same key).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether a database error is a foreign-key violation (a reference to a row that does not exist).
pub fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

/// Starts a transaction that will write.
///
/// On SQLite it begins `IMMEDIATE`: a deferred transaction that reads first and writes later fails at once with
/// "database is locked" when another writer went first (SQLite cannot wait there without risking a deadlock), while
/// an immediate one waits its turn at `BEGIN`. PostgreSQL ignores the mode and relies on row locks.
pub async fn begin_write<C: TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// The version row `id` of `E` holds now, or `None` once it is gone.
///
/// Why: a conditional `UPDATE … WHERE version = $caller's` that matched no row, after the caller's version was
/// checked, lost a race with a concurrent writer. Its stale-version error reports the version re-read here, not a
/// guess computed from the caller's version (which may be `i32::MAX`); each domain maps `None` to its not-found.
pub async fn stored_version<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    (id_col, version_col): (E::Column, E::Column),
    id: i32,
) -> Result<Option<i32>, DbErr> {
    E::find()
        .select_only()
        .column(version_col)
        .filter(id_col.eq(id))
        .into_tuple()
        .one(db)
        .await
}

/// The value at position `index` of a row, decoded by the driver itself (sqlx), for the decoders that read a
/// statement's columns by position.
///
/// Why not sea-orm's `QueryResult::try_get_by_index`: for every NULL in an optional column it first builds a
/// "null" error holding the index formatted as text, then turns that error into `None`. On the nested lists of
/// issue #16, whose rows are mostly NULL outside the few columns read, that formatting and its allocation were 3 %
/// of the server's CPU (docs/PERFORMANCE.md). Here a NULL is `None` directly; the type check and the decoding are
/// the same sqlx calls sea-orm makes.
///
/// A NULL for a non-optional type is an error, as with sea-orm (sqlx alone would read it as 0 or "" on SQLite), and
/// so is a column whose type `T` cannot decode.
pub fn column<T: Column>(row: &sea_orm::QueryResult, index: usize) -> Result<T, DbErr> {
    T::read(row, index)
}

/// A type [`column`] reads: the column types of Maillage's tables, and their optional forms.
pub trait Column: Sized {
    /// The value at position `index` of `row`.
    fn read(row: &sea_orm::QueryResult, index: usize) -> Result<Self, DbErr>;
}

/// sqlx's decoding of position `index` as `Option<T>` on either backend; `known` is [`Column`]'s memo for `T`.
fn nullable<T>(
    row: &sea_orm::QueryResult,
    index: usize,
    known: &AtomicU32,
) -> Result<Option<T>, DbErr>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>,
{
    use sqlx::Row as _;
    let decoded = if let Some(row) = row.try_as_pg_row() {
        pg_nullable(row, index, known)
    } else if let Some(row) = row.try_as_sqlite_row() {
        row.try_get::<Option<T>, _>(index)
    } else {
        return Err(DbErr::Custom(
            "a row read by position comes from PostgreSQL or SQLite".to_owned(),
        ));
    };
    decoded.map_err(|e| DbErr::Query(sea_orm::RuntimeErr::SqlxError(Arc::new(e))))
}

/// sqlx's `try_get::<Option<T>>` on a PostgreSQL row, with the type check remembered by column type.
///
/// Why: sqlx checks a value's SQL type against the Rust type for every value, and for a `String` that means comparing
/// the column's type with six text types, each comparison resolving both to an OID. On a page of 50 sites those
/// comparisons were about 6 % of the server's instructions (issue #16). Whether a SQL type decodes into `T` depends
/// only on the two types, and a PostgreSQL column's type is fixed by the statement, so the last OID found compatible
/// with `T` is kept in `known` and a value of that OID skips the comparisons. Any other type, or one without an OID,
/// goes through sqlx's own check, and a mismatch is the same error as before. (SQLite is left alone: its types are
/// per value, not per column.)
fn pg_nullable<T>(
    row: &sqlx::postgres::PgRow,
    index: usize,
    known: &AtomicU32,
) -> Result<Option<T>, sqlx::Error>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    use sqlx::{Row as _, TypeInfo as _, ValueRef as _};
    let value = row.try_get_raw(index)?;
    if value.is_null() {
        return Ok(None);
    }
    let ty = value.type_info();
    let oid = ty.oid().map(|oid| oid.0);
    let remembered = oid.is_some_and(|oid| oid != 0 && known.load(Ordering::Relaxed) == oid);
    if !remembered && !ty.is_null() {
        if !<T as sqlx::Type<sqlx::Postgres>>::compatible(&ty) {
            return Err(sqlx::Error::ColumnDecode {
                index: format!("{index:?}"),
                source: sqlx::error::mismatched_types::<sqlx::Postgres, T>(&ty),
            });
        }
        if let Some(oid) = oid {
            known.store(oid, Ordering::Relaxed);
        }
    }
    <T as sqlx::Decode<sqlx::Postgres>>::decode(value)
        .map(Some)
        .map_err(|source| sqlx::Error::ColumnDecode {
            index: format!("{index:?}"),
            source,
        })
}

/// [`Column`] for each type and its `Option`, each type with its own memo of a compatible PostgreSQL type.
macro_rules! column_types {
    ($($t:ty),* $(,)?) => {$(
        impl Column for $t {
            fn read(row: &sea_orm::QueryResult, index: usize) -> Result<Self, DbErr> {
                <Option<$t> as Column>::read(row, index)?.ok_or_else(|| {
                    DbErr::Type(format!("column {index} is NULL, which {} cannot hold", stringify!($t)))
                })
            }
        }
        impl Column for Option<$t> {
            fn read(row: &sea_orm::QueryResult, index: usize) -> Result<Self, DbErr> {
                static KNOWN: AtomicU32 = AtomicU32::new(0);
                nullable(row, index, &KNOWN)
            }
        }
    )*};
}

column_types!(
    bool,
    i32,
    i64,
    f64,
    String,
    chrono::NaiveDate,
    chrono::DateTime<chrono::Utc>,
);

#[cfg(test)]
mod tests {
    use super::{PING_WHEN_IDLE_FOR, normalize_url, pool_options};
    use std::time::Duration;

    #[test]
    fn pooled_connections_are_pinged_only_after_being_idle() {
        for url in [
            "postgres://u@h:5432/db",
            "sqlite://file.db",
            "sqlite::memory:",
        ] {
            let options = pool_options(url, 10, Duration::from_secs(2));
            assert!(!options.get_test_before_acquire(), "{url}");
            assert_eq!(
                options.get_test_before_acquire_if_idle_for(),
                Some(PING_WHEN_IDLE_FOR),
                "{url}"
            );
        }
    }

    #[test]
    fn urls_people_type_are_made_usable() {
        assert_eq!(
            normalize_url("sqlite://file.db"),
            "sqlite://file.db?mode=rwc"
        );
        assert_eq!(
            normalize_url("sqlite://file.db?cache=shared"),
            "sqlite://file.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            normalize_url("sqlite://f.db?mode=ro"),
            "sqlite://f.db?mode=ro"
        );
        assert_eq!(normalize_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(normalize_url("file.db"), "sqlite://file.db?mode=rwc");
        assert_eq!(
            normalize_url("./data/m.db"),
            "sqlite://./data/m.db?mode=rwc"
        );
        assert_eq!(
            normalize_url("postgres://u@h:5432/db"),
            "postgres://u@h:5432/db"
        );
    }
}
