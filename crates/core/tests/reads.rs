//! The reads' kept connections (`maillage_core::reads`) on a real database: a fresh PostgreSQL database per test
//! when `TEST_DATABASE_URL` is set, where connections are kept; SQLite otherwise, where every read runs on the pool.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use maillage_core::reads::{KEEP_IDLE_FOR, KeptStatus, Reads};
use maillage_testkit::TestDb;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use std::time::Duration;

fn statement(db: &TestDb, sql: &str) -> Statement {
    Statement::from_string(db.db.get_database_backend(), sql.to_owned())
}

/// The number `SELECT CAST(expr AS BIGINT) …rest` answers, read through `reads`.
async fn number(reads: &Reads, db: &TestDb, expr: &str) -> Result<i64, DbErr> {
    let sql = match expr.split_once(" FROM ") {
        Some((value, rest)) => format!("SELECT CAST({value} AS BIGINT) FROM {rest}"),
        None => format!("SELECT CAST({expr} AS BIGINT)"),
    };
    let row = reads
        .query_one_raw(statement(db, &sql))
        .await?
        .expect("a row");
    row.try_get_by_index::<i64>(0)
}

/// The pool underneath's own count of connections it holds idle, and of all it has open.
fn pool_counts(db: &TestDb) -> (usize, u32) {
    let pool = db.db.get_postgres_connection_pool();
    (pool.num_idle(), pool.size())
}

#[tokio::test]
async fn reads_keep_their_connection_instead_of_giving_it_back() {
    let db = TestDb::new().await;
    let reads = Reads::new(&db.db, true).counting(db.statement_counter().clone());
    if db.db.get_database_backend() != DbBackend::Postgres {
        // SQLite: nothing kept, every read on the pool (counted by the pool's callback), the same answers.
        assert_eq!(reads.kept(), None);
        let before = db.statements();
        for i in 0..5 {
            assert_eq!(number(&reads, &db, &i.to_string()).await.unwrap(), i);
        }
        assert_eq!(db.statements() - before, 5);
        return;
    }
    // The test pool has 4 connections: reads hold at most 3, one is left to writes.
    // Once the migrations' connections are back (each given back after its ping, on a task of its own).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while pool_counts(&db).0 < pool_counts(&db).1 as usize {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            pool_counts(&db)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (idle, open) = pool_counts(&db);
    let before = db.statements();
    let mut backends = Vec::new();
    for _ in 0..20 {
        backends.push(number(&reads, &db, "pg_backend_pid()").await.unwrap());
    }
    // One connection served every statement, one after the other, and stayed with the reads between them: it
    // never went back to sqlx's pool (whose release pings it): the pool has one idle connection fewer (the migrations
    // opened some), opened no other, and the reads hold that one.
    backends.dedup();
    assert_eq!(backends.len(), 1, "{backends:?}");
    assert_eq!(
        reads.kept(),
        Some(KeptStatus {
            held: 1,
            idle: 1,
            max: 3
        })
    );
    assert!(idle >= 1, "{idle} idle of {open}");
    assert_eq!(pool_counts(&db), (idle - 1, open));
    // Counted by the reads (the pool's callback never saw them).
    assert_eq!(db.statements() - before, 20);
}

#[tokio::test]
async fn a_read_cancelled_midway_gives_its_connection_back_to_the_pool_which_cleans_it() {
    let db = TestDb::new().await;
    let reads = Reads::new(&db.db, true);
    let is_pg = db.db.get_database_backend() == DbBackend::Postgres;
    let slow = if is_pg {
        "7 FROM pg_sleep(3)"
    } else {
        // SQLite has no sleep: a long recursive count.
        "7 FROM (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3000000) SELECT n FROM c) \
         LIMIT 1 OFFSET 2999999"
    };
    // The request's future is dropped while its statement runs (a client gone, the execution timeout).
    let cancelled =
        tokio::time::timeout(Duration::from_millis(300), number(&reads, &db, slow)).await;
    if is_pg {
        assert!(cancelled.is_err(), "the slow read finished: {cancelled:?}");
        // Out of the kept pool at once: sqlx has it, pings it (reading what the cancelled statement left) and keeps
        // it, or closes it.
        assert_eq!(reads.kept().unwrap().held, 0);
    }
    // The next reads get their own answers, not the cancelled statement's row.
    for i in 0..5 {
        assert_eq!(number(&reads, &db, &i.to_string()).await.unwrap(), i);
    }
}

#[tokio::test]
async fn a_failed_read_gives_its_connection_back_and_the_next_reads_work() {
    let db = TestDb::new().await;
    let reads = Reads::new(&db.db, true);
    let is_pg = db.db.get_database_backend() == DbBackend::Postgres;
    assert_eq!(number(&reads, &db, "1").await.unwrap(), 1);
    let failed = number(&reads, &db, "id FROM no_such_table").await;
    let Err(DbErr::Query(e)) = failed else {
        panic!("expected a query error, got {failed:?}");
    };
    assert!(e.to_string().contains("no_such_table"), "{e}");
    if is_pg {
        assert_eq!(reads.kept().unwrap().held, 0);
    }
    assert_eq!(number(&reads, &db, "2").await.unwrap(), 2);
}

#[tokio::test]
async fn busy_reads_leave_a_connection_to_writes() {
    let db = TestDb::new().await;
    let reads = Reads::new(&db.db, true);
    if db.db.get_database_backend() != DbBackend::Postgres {
        assert_eq!(reads.kept(), None);
        return;
    }
    // Five slow reads at once on a pool of four: three run on kept connections, two wait for one of those.
    let mut running = Vec::new();
    for _ in 0..5 {
        let reads = reads.clone();
        let sql = statement(&db, "SELECT 1::bigint FROM pg_sleep(2)");
        running.push(tokio::spawn(async move { reads.query_all_raw(sql).await }));
    }
    while reads.kept().unwrap().held < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A write takes its connection from the pool meanwhile, long before the reads are done.
    let write = tokio::time::timeout(
        Duration::from_millis(1_500),
        db.db
            .execute_unprepared("CREATE TABLE written_meanwhile (id integer)"),
    )
    .await;
    assert!(matches!(write, Ok(Ok(_))), "{write:?}");
    assert_eq!(reads.kept().unwrap().held, 3);
    for r in running {
        assert_eq!(r.await.unwrap().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn kept_connections_unused_for_a_while_go_back_to_the_pool() {
    let db = TestDb::new().await;
    let reads = Reads::new(&db.db, true);
    if db.db.get_database_backend() != DbBackend::Postgres {
        assert_eq!(reads.kept(), None);
        return;
    }
    assert_eq!(number(&reads, &db, "1").await.unwrap(), 1);
    assert_eq!(reads.kept().unwrap().held, 1);
    let deadline = tokio::time::Instant::now() + KEEP_IDLE_FOR * 5;
    while reads.kept().unwrap().held > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still kept: {:?}",
            reads.kept()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // sqlx has it idle again (after its ping), for anyone.
    while pool_counts(&db).0 < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not back in the pool: {:?}",
            pool_counts(&db)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(number(&reads, &db, "3").await.unwrap(), 3);
}

#[tokio::test]
async fn keeping_can_be_turned_off() {
    let db = TestDb::new().await;
    let reads = Reads::new(&db.db, false);
    assert_eq!(reads.kept(), None);
    let before = db.statements();
    assert_eq!(number(&reads, &db, "4").await.unwrap(), 4);
    // On the pool, counted by its callback.
    assert_eq!(db.statements() - before, 1);
}
