//! Connecting to the database from one URL, and the few backend facts the domains need.

use sea_orm::sqlx;
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect, QueryTrait, SqlErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
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

    pub(crate) fn record(&self, sql: &str) {
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

/// `statement` with each `LIMIT $n` whose bound value is an integer written as that integer, on PostgreSQL (other
/// backends get it back unchanged). A parameter left unused at the end of the list is dropped; one in the middle
/// stays bound (its type is declared, so PostgreSQL accepts it unused).
///
/// Why: PostgreSQL plans a prepared statement again on every execution while it judges the plan for its values
/// better than the generic one, and a generic plan with an unknown `LIMIT` expects a tenth of the table, so a page
/// read (`… ORDER BY sort_name, id LIMIT $1`) was planned on every request: 0.15 ms of planning for 0.17 ms of
/// execution on a department's page of 50 sites, half of PostgreSQL's CPU on it (issue #16). With the page size
/// written out, such a statement has no parameter left or a plan that no longer depends on the ones it has, and
/// PostgreSQL keeps its plan. The page size is a number the server computed, never text from a caller, and a page
/// size is one of a few values, so the prepared-statement cache holds one statement per size in use.
pub fn literal_limits(mut statement: sea_orm::Statement) -> sea_orm::Statement {
    const MARK: &str = " LIMIT $";
    if statement.db_backend != sea_orm::DbBackend::Postgres || !statement.sql.contains(MARK) {
        return statement;
    }
    let Some(values) = statement.values.as_mut() else {
        return statement;
    };
    let mut sql = String::with_capacity(statement.sql.len());
    let mut rest = statement.sql.as_str();
    let mut written: Vec<usize> = Vec::new();
    while let Some(at) = rest.find(MARK) {
        let (before, after) = rest.split_at(at + MARK.len());
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let literal = after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| Some((i, integer_literal(values.0.get(i)?)?)));
        match literal {
            Some((i, literal)) => {
                sql.push_str(&before[..before.len() - 1]);
                sql.push_str(&literal);
                written.push(i);
            }
            None => {
                sql.push_str(before);
                sql.push_str(&after[..digits]);
            }
        }
        rest = &after[digits..];
    }
    sql.push_str(rest);
    statement.sql = sql;
    // Parameters written out and last in the list go; each `$n` appears once in a built statement.
    while values
        .0
        .len()
        .checked_sub(1)
        .is_some_and(|last| written.contains(&last))
    {
        values.0.pop();
    }
    if values.0.is_empty() {
        statement.values = None;
    }
    statement
}

/// The rows of `select`, as `select.all(db)` returns them, read through [`literal_limits`].
///
/// Why: every paged list ends in `LIMIT first + 1`; sent as a parameter, PostgreSQL plans such a statement again on
/// every request (see [`literal_limits`]). One call for every list keeps them alike.
pub async fn page_rows<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    select: sea_orm::Select<E>,
) -> Result<Vec<E::Model>, DbErr> {
    let statement = literal_limits(select.build(db.get_database_backend()));
    E::find().from_raw_sql(statement).all(db).await
}

/// An integer value as SQL text.
fn integer_literal(value: &sea_orm::Value) -> Option<String> {
    use sea_orm::Value;
    match value {
        Value::BigUnsigned(Some(n)) => Some(n.to_string()),
        Value::Unsigned(Some(n)) => Some(n.to_string()),
        Value::BigInt(Some(n)) => Some(n.to_string()),
        Value::Int(Some(n)) => Some(n.to_string()),
        _ => None,
    }
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
    fn limits_are_written_out_on_postgresql_only() {
        use super::literal_limits;
        use sea_orm::{DbBackend, Statement, Value};
        let stmt = |backend, sql: &str, values: Vec<Value>| {
            Statement::from_sql_and_values(backend, sql, values)
        };
        // The usual page: the limit is the last parameter, and goes.
        let s = literal_limits(stmt(
            DbBackend::Postgres,
            "SELECT a FROM t WHERE b = $1 ORDER BY a LIMIT $2",
            vec![Value::from("x"), Value::BigUnsigned(Some(51))],
        ));
        assert_eq!(s.sql, "SELECT a FROM t WHERE b = $1 ORDER BY a LIMIT 51");
        assert_eq!(s.values.map(|v| v.0), Some(vec![Value::from("x")]));
        // No parameter left: no values at all.
        let s = literal_limits(stmt(
            DbBackend::Postgres,
            "SELECT * FROM (VALUES ('69')) AS asked(code) CROSS JOIN LATERAL (SELECT a FROM t LIMIT $1) AS l",
            vec![Value::BigUnsigned(Some(21))],
        ));
        assert!(
            s.sql.ends_with("(SELECT a FROM t LIMIT 21) AS l"),
            "{}",
            s.sql
        );
        assert!(s.values.is_none());
        // A limit before other parameters is written out and stays bound, unused; `$1` is not `$12`.
        let mut values: Vec<Value> = (1..=12).map(|i| Value::Int(Some(i))).collect();
        values[0] = Value::BigUnsigned(Some(3));
        let sql = "SELECT (SELECT a FROM t LIMIT $1), b FROM u WHERE c IN ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11) LIMIT $12";
        let s = literal_limits(stmt(DbBackend::Postgres, sql, values.clone()));
        assert_eq!(
            s.sql,
            "SELECT (SELECT a FROM t LIMIT 3), b FROM u WHERE c IN ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11) LIMIT 12"
        );
        assert_eq!(s.values.map(|v| v.0), Some(values[..11].to_vec()));
        // Not an integer: left as a parameter.
        let s = literal_limits(stmt(
            DbBackend::Postgres,
            "SELECT a FROM t LIMIT $1",
            vec![Value::from("3")],
        ));
        assert_eq!(s.sql, "SELECT a FROM t LIMIT $1");
        // SQLite plans each statement once anyway: unchanged.
        let s = literal_limits(stmt(
            DbBackend::Sqlite,
            "SELECT a FROM t LIMIT ?",
            vec![Value::BigUnsigned(Some(3))],
        ));
        assert_eq!(s.sql, "SELECT a FROM t LIMIT ?");
        assert_eq!(s.values.map(|v| v.0.len()), Some(1));
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
