//! The database circuit: open while the database is unreachable, so that every request is answered 503
//! `unavailable` with `Retry-After` at once, the same for every caller, instead of waiting for the pool.
//!
//! Below the state (`AppState::circuit`), the routes and the error type: it imports none of them (the refusal it
//! implies is `ApiError::database_unavailable`). `crate::health::circuit_guard` is the middleware that applies it to
//! the routes that use the database.

use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;

/// How long the circuit's probe waits for a new database connection: a database that is up answers within
/// milliseconds, and the probe runs while a request waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// How often an open circuit probes the database.
const REPROBE_EVERY: Duration = Duration::from_millis(500);

/// `Retry-After` of the answers given while the circuit is open, in seconds.
pub const RETRY_AFTER_SECS: u64 = 2;

/// The database circuit: open while the database is unreachable, so that every request gets 503 `unavailable` at
/// once, instead of each waiting for the pool's acquire timeout.
///
/// It opens when a request fails with a server error and a probe (a new connection outside the pool, like the
/// one `/readyz` needs) fails too: a failing request alone proves nothing (a bug is not an outage), and a busy pool
/// is not an outage either, so the probe does not wait for the pool. While open, one background task probes every
/// [`REPROBE_EVERY`] and closes it as soon as the database answers; requests then go through the pool again.
pub struct Circuit {
    db: DatabaseConnection,
    open: tokio::sync::watch::Sender<bool>,
}

impl Circuit {
    /// A closed circuit over the pool `db` (its connect options are reused by the probe).
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            open: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Whether requests are refused at once.
    pub fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    /// Resolves when the circuit opens (at once if it is open).
    pub fn opened(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut watch = self.open.subscribe();
        async move {
            if watch.wait_for(|open| *open).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// After a server error: probes the database and opens the circuit when it is unreachable. Returns whether the
    /// circuit is open, i.e. whether the error should be answered as `unavailable`.
    pub async fn confirm_outage(self: &Arc<Self>) -> bool {
        if self.is_open() {
            return true;
        }
        if reachable(&self.db).await {
            return false;
        }
        // Only the caller that opens the circuit starts the task that closes it.
        if self.open.send_replace(true) {
            return true;
        }
        tracing::error!(
            "the database is unreachable: requests are answered 503 unavailable until it is back"
        );
        let circuit = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REPROBE_EVERY).await;
                if reachable(&circuit.db).await {
                    circuit.open.send_replace(false);
                    tracing::warn!("the database answers again: requests go through");
                    return;
                }
            }
        });
        true
    }
}

/// Whether a new connection to the pool's database opens within [`PROBE_TIMEOUT`].
async fn reachable(db: &DatabaseConnection) -> bool {
    use sea_orm::DbBackend;
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
    let attempt = async {
        match db.get_database_backend() {
            DbBackend::Postgres => {
                let options = db.get_postgres_connection_pool().connect_options();
                let connection = options.connect().await.ok()?;
                let _ = connection.close().await;
                Some(())
            }
            DbBackend::Sqlite => {
                let options = db.get_sqlite_connection_pool().connect_options();
                let connection = options.connect().await.ok()?;
                let _ = connection.close().await;
                Some(())
            }
            // No other backend is compiled in; treat it as reachable rather than refuse everything.
            _ => Some(()),
        }
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, attempt).await,
        Ok(Some(()))
    )
}
