#![doc = include_str!("../README.md")]

use maillage_core::db::{StatementCounter, connect};
use maillage_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// The environment variable that switches the suite to PostgreSQL.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// A fresh, migrated database for one test.
pub struct TestDb {
    /// The connection pool to the fresh database.
    pub db: DatabaseConnection,
    /// The URL of the fresh database (for tests that start a server or the CLI on it).
    pub url: String,
    statements: StatementCounter,
    cleanup: Option<(String, String)>,
    /// Keeps a file-backed SQLite database alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Creates and migrates a fresh database: SQLite in memory, or a new PostgreSQL database when
    /// `TEST_DATABASE_URL` is set.
    ///
    /// # Panics
    /// When the database cannot be created: a test cannot proceed without it, and a clear panic is its failure.
    pub async fn new() -> Self {
        match Self::try_new().await {
            Ok(db) => db,
            Err(e) => panic!("cannot create the test database: {e}"),
        }
    }

    /// Like [`TestDb::new`], but on SQLite the database is a temporary file, so that another process (the
    /// `maillage` binary under test) can open it through [`TestDb::url`]. On PostgreSQL it is the same as `new`.
    ///
    /// # Panics
    /// When the database cannot be created.
    pub async fn new_shared() -> Self {
        match Self::create(true).await {
            Ok(db) => db,
            Err(e) => panic!("cannot create the test database: {e}"),
        }
    }

    /// Like [`TestDb::new`], returning the error.
    pub async fn try_new() -> Result<Self, DbErr> {
        Self::create(false).await
    }

    async fn create(shared: bool) -> Result<Self, DbErr> {
        let mut dir = None;
        let statements = StatementCounter::new();
        let (url, cleanup) = match std::env::var(TEST_DATABASE_URL) {
            Ok(admin_url) if admin_url.starts_with("postgres") => {
                let name = format!(
                    "maillage_test_{}_{}_{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::SeqCst),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.subsec_nanos())
                        .unwrap_or_default()
                );
                let admin = connect(&admin_url, 1, None).await?;
                admin
                    .execute_raw(Statement::from_string(
                        admin.get_database_backend(),
                        format!("CREATE DATABASE \"{name}\""),
                    ))
                    .await?;
                admin.close().await?;
                (with_database(&admin_url, &name), Some((admin_url, name)))
            }
            Ok(other) if !other.is_empty() => {
                return Err(DbErr::Custom(format!(
                    "{TEST_DATABASE_URL} must be a postgres:// URL, got {other:?}"
                )));
            }
            _ if shared => {
                let tmp = tempfile::tempdir().map_err(|e| DbErr::Custom(e.to_string()))?;
                let url = format!("sqlite://{}?mode=rwc", tmp.path().join("test.db").display());
                dir = Some(tmp);
                (url, None)
            }
            _ => ("sqlite::memory:".to_owned(), None),
        };
        let db = connect(&url, 4, Some(statements.clone())).await?;
        Migrator::up(&db, None).await?;
        Ok(Self {
            db,
            url,
            statements,
            cleanup,
            _dir: dir,
        })
    }

    /// Number of SQL statements run on this database so far.
    pub fn statements(&self) -> u64 {
        self.statements.get()
    }

    /// The counter itself, to log statement texts around one operation.
    pub fn statement_counter(&self) -> &StatementCounter {
        &self.statements
    }

    /// Whether this test runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.cleanup.is_some()
    }
}

/// Replaces the database name in a PostgreSQL URL (the path), keeping host, user and query.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    // After "postgres://", the first '/' starts the database name.
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.cleanup.take() else {
            return;
        };
        // Dropping needs async work: run it on a separate thread with its own runtime, because the test's runtime may
        // be blocked in this very drop. `WITH (FORCE)` ends the test pool's connections without touching them from
        // the wrong runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = connect(&admin_url, 1, None).await {
                    let _ = admin
                        .execute_raw(Statement::from_string(
                            admin.get_database_backend(),
                            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_database_name() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
