//! The connection the API's reads run on: on PostgreSQL, connections kept between statements, without sqlx's ping of
//! every connection given back to its pool.
//!
//! Why: sqlx 0.9 (`sqlx-core`, `Floating::return_to_pool`) spawns a task for every pooled connection given back, and
//! that task sends a `Sync` to PostgreSQL and waits for its answer before anyone can take the connection again: one
//! more round trip per statement, off the request's path but not off the CPU of either side. No option of sqlx turns
//! it off. On the GraphQL bench it was the largest single cost left (issue #16, docs/PERFORMANCE.md: a build without
//! it served one site with its relations, two statements, about a fifth faster). The ping is how sqlx cleans a
//! connection whose statement was cancelled midway (a client gone, the execution timeout); a statement that ran to
//! its end leaves its connection ready for the next one (sqlx has read PostgreSQL's `ReadyForQuery`), with nothing
//! to clean.
//!
//! So [`Reads`] takes its PostgreSQL connections from a small pool of its own (deadpool, last in first out), filled
//! from sqlx's pool, whose connections it holds as sqlx's own `PoolConnection`s:
//! - a connection whose statement ran to its end goes back to that small pool at once, unpinged;
//! - one whose statement failed, or whose future was dropped before the end, is given back to sqlx, which pings it
//!   as it always did (and closes it if broken);
//! - one that sat unused [`PING_WHEN_IDLE_FOR`] is pinged before its next statement, as sqlx's acquire does;
//! - one unused for [`KEEP_IDLE_FOR`] is given back to sqlx (then its idle timeout, lifetime and pings apply again);
//! - it holds at most the pool's size minus [`reserve`], so that writes, transactions and imports, which take their
//!   connections from sqlx's pool as before, always find some.
//!
//! Everything but plain reads (writes, transactions, streams) and every statement on SQLite (whose ping is a message
//! to its worker thread, not a round trip) runs on sea-orm's pool as before. Each statement is counted by the
//! [`StatementCounter`] given to [`Reads::counting`] and has the span sea-orm gives its statements (same name,
//! fields and target prefix, so the filters and traces that see sea-orm's statements see these).

use crate::db::{PING_WHEN_IDLE_FOR, StatementCounter};
use deadpool::managed::{
    self, Metrics, Object, Pool, PoolError, QueueMode, RecycleError, TimeoutType,
};
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgPool, Postgres};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult,
    RuntimeErr, Statement,
};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

/// A kept connection unused this long goes back to sqlx's pool: under load connections are reused within
/// milliseconds, and one second later the load has gone, so writes and sqlx's own upkeep (idle timeout, lifetime)
/// get it back.
pub const KEEP_IDLE_FOR: Duration = Duration::from_secs(1);

/// How often the connections unused for [`KEEP_IDLE_FOR`] are given back.
const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// Pools smaller than this keep nothing: the reserve left to writes would leave too few to reads.
const SMALLEST_KEEPING_POOL: u32 = 4;

/// How many of a pool of `size` connections reads never hold, left to writes, transactions and imports: a fifth,
/// at least one.
pub fn reserve(size: u32) -> u32 {
    (size / 5).max(1)
}

/// Fills the kept pool from sqlx's, and checks a kept connection before it is used again.
#[derive(Debug)]
struct Keeper {
    pool: PgPool,
}

impl managed::Manager for Keeper {
    type Type = PoolConnection<Postgres>;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        self.pool.acquire().await
    }

    async fn recycle(
        &self,
        conn: &mut Self::Type,
        metrics: &Metrics,
    ) -> managed::RecycleResult<Self::Error> {
        // What sqlx's acquire does for a connection idle that long (`test_before_acquire_if_idle_for`): a
        // connection left idle may have been dropped by a firewall, a proxy or the server. A failed ping drops it
        // (given back to sqlx, which closes it) and the pool takes another.
        if metrics.last_used() >= PING_WHEN_IDLE_FOR {
            conn.ping().await.map_err(RecycleError::Backend)?;
        }
        Ok(())
    }
}

/// The connection the API's reads run on (see the module's documentation): a [`ConnectionTrait`] that runs plain
/// reads on kept PostgreSQL connections and everything else on sea-orm's pool.
#[derive(Clone)]
pub struct Reads {
    db: DatabaseConnection,
    kept: Option<Pool<Keeper>>,
    counter: Option<StatementCounter>,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads")
            .field("kept", &self.kept.as_ref().map(Pool::status))
            .finish_non_exhaustive()
    }
}

impl Reads {
    /// Reads over the pool `db`: keeping connections when `keep` is set, the database is PostgreSQL and the pool
    /// has at least four connections; otherwise every statement runs on `db`.
    ///
    /// Called from a Tokio runtime, it starts the task that gives back connections unused for [`KEEP_IDLE_FOR`]
    /// (it ends with the last clone of these reads).
    pub fn new(db: &DatabaseConnection, keep: bool) -> Self {
        let kept = if keep && db.get_database_backend() == DbBackend::Postgres {
            kept_pool(db.get_postgres_connection_pool())
        } else {
            None
        };
        Self {
            db: db.clone(),
            kept,
            counter: None,
        }
    }

    /// These reads, counting the statements they run on kept connections in `counter` (the others are counted by
    /// the pool's own callback, [`crate::db::connect`]).
    #[must_use]
    pub fn counting(mut self, counter: StatementCounter) -> Self {
        self.counter = Some(counter);
        self
    }

    /// The pool underneath, for what is not a plain read.
    pub fn pool(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Whether reads keep connections, and how many they hold now (busy and idle) out of how many at most.
    pub fn kept(&self) -> Option<KeptStatus> {
        self.kept.as_ref().map(|p| {
            let s = p.status();
            KeptStatus {
                held: s.size,
                idle: s.available,
                max: s.max_size,
            }
        })
    }

    /// Runs `stmt` on a kept connection and returns every row; the connection goes back unpinged only when the
    /// statement ran to its end.
    async fn kept_query(
        &self,
        kept: &Pool<Keeper>,
        stmt: &Statement,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let values = stmt
            .values
            .clone()
            .unwrap_or_else(|| sea_orm::sea_query::Values(Vec::new()));
        let query = sqlx::query_with(
            sqlx::AssertSqlSafe(stmt.sql.as_str()),
            sea_query_sqlx::SqlxValues(values),
        );
        // The two futures awaited here are boxed: unboxed, sqlx's `fetch_all` future (kilobytes) was part of this
        // future's state, which was copied whole into `read`'s and with it into the boxed future of `query_all_raw`,
        // for every statement. Boxed, Q4 runs 22 % fewer instructions, Q3 7 %, Q1 4 % (`bench/callgrind.sh`, issue
        // #16), for one allocation each.
        let mut lease = Lease(Some(Box::pin(kept.get()).await.map_err(acquire_error)?));
        let rows = match lease.0.as_mut() {
            Some(conn) => Box::pin(query.fetch_all(&mut ***conn)).await,
            None => return Err(DbErr::Custom("kept connection missing".to_owned())),
        };
        let Some(conn) = lease.0.take() else {
            return Err(DbErr::Custom("kept connection missing".to_owned()));
        };
        match rows {
            Ok(rows) if !conn.is_in_transaction() => {
                Ok(rows.into_iter().map(QueryResult::from).collect())
            }
            Ok(_) => {
                // A read that opened a transaction (none does): not a connection to hand on as it is.
                drop(Object::take(conn));
                Err(DbErr::Custom(
                    "a read statement left its connection inside a transaction".to_owned(),
                ))
            }
            Err(e) => {
                // Whatever the error, sqlx decides whether the connection is still good (its ping).
                drop(Object::take(conn));
                Err(DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))))
            }
        }
    }

    /// Runs `stmt` as a read, counted and in its span.
    async fn read(&self, name: &'static str, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let Some(kept) = &self.kept else {
            return self.db.query_all_raw(stmt).await;
        };
        let span = statement_span(name, &stmt.sql);
        let result = self.kept_query(kept, &stmt).instrument(span.clone()).await;
        match &result {
            Ok(_) => span.record("otel.status_code", "OK"),
            Err(e) => span
                .record("otel.status_code", "ERROR")
                .record("exception.message", tracing::field::display(e)),
        };
        if let Some(counter) = &self.counter {
            counter.record(&stmt.sql);
        }
        result
    }
}

/// The kept pool's state, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeptStatus {
    /// Connections the reads hold, busy or idle.
    pub held: usize,
    /// Of those, idle ones.
    pub idle: usize,
    /// The most they may hold.
    pub max: usize,
}

/// The kept pool over sqlx's `pool`, or none for a pool too small to keep from.
fn kept_pool(pool: &PgPool) -> Option<Pool<Keeper>> {
    let size = pool.options().get_max_connections();
    if size < SMALLEST_KEEPING_POOL {
        return None;
    }
    let max = usize::try_from(size - reserve(size)).ok()?;
    let wait = pool.options().get_acquire_timeout();
    let kept = Pool::builder(Keeper { pool: pool.clone() })
        .max_size(max)
        .queue_mode(QueueMode::Lifo)
        .wait_timeout(Some(wait))
        .create_timeout(Some(wait))
        .recycle_timeout(Some(wait))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .ok()?;
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let weak = kept.weak();
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                let Some(kept) = weak.upgrade() else {
                    return;
                };
                // Dropped here, outside the pool's lock: sqlx pings them and takes them back.
                let given_back = kept.retain(|_, m| m.last_used() < KEEP_IDLE_FOR);
                drop(given_back);
            }
        });
    }
    Some(kept)
}

/// A kept connection lent to one statement. Dropped while it still holds it (the statement's future dropped
/// midway), it takes the connection out of the kept pool, so that it is not handed on mid-statement: sqlx's pool gets
/// it back, pings it (which reads what the cancelled statement left) and closes it if that fails.
struct Lease(Option<Object<Keeper>>);

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(Object::take(conn));
        }
    }
}

/// sea-orm's span for a statement (`tracing-spans`): same name, fields and a target under `sea_orm`.
fn statement_span(name: &'static str, sql: &str) -> tracing::Span {
    let operation = sql
        .split_whitespace()
        .next()
        .map(str::to_ascii_uppercase)
        .filter(|w| matches!(w.as_str(), "SELECT" | "INSERT" | "UPDATE" | "DELETE"))
        .unwrap_or_else(|| "EXECUTE".to_owned());
    // tracing takes a span's name as a literal: one expansion per name, the fields written once.
    macro_rules! span {
        ($name:literal) => {
            tracing::info_span!(
                target: "sea_orm::reads",
                $name,
                otel.kind = "client",
                db.system = "postgresql",
                db.operation = %operation,
                db.statement = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
                exception.message = tracing::field::Empty,
            )
        };
    }
    let span = match name {
        "sea_orm.query_one" => span!("sea_orm.query_one"),
        _ => span!("sea_orm.query_all"),
    };
    span.record("db.statement", sql);
    span
}

/// A kept pool's refusal as sea-orm words a pool's: a timeout is `ConnectionAcquire(Timeout)`, as callers expect.
fn acquire_error(e: PoolError<sqlx::Error>) -> DbErr {
    match e {
        PoolError::Timeout(TimeoutType::Wait | TimeoutType::Create | TimeoutType::Recycle) => {
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)
        }
        PoolError::Backend(sqlx::Error::PoolTimedOut) => {
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)
        }
        PoolError::Backend(sqlx::Error::PoolClosed) | PoolError::Closed => {
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)
        }
        PoolError::Backend(e) => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))),
        other => DbErr::Conn(RuntimeErr::Internal(other.to_string())),
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Reads {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.db.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.db.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if self.kept.is_none() {
            return self.db.query_one_raw(stmt).await;
        }
        // All rows, so that the statement runs to its end and its connection can be kept (sea-orm's `one` asks for
        // one row with `LIMIT 1` already).
        Ok(self
            .read("sea_orm.query_one", stmt)
            .await?
            .into_iter()
            .next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.read("sea_orm.query_all", stmt).await
    }

    fn support_returning(&self) -> bool {
        self.db.support_returning()
    }
}
