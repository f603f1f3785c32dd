//! Readiness: whether this instance should receive traffic.
//!
//! `/healthz` (in `crate::http`) only says the process answers, so an orchestrator restarts a hung process but not
//! one whose database is away; `/readyz` says the database answers and carries every migration this binary knows,
//! so a load balancer sends no traffic to an instance that would fail it. Both are checked on each call, with no
//! cached state: an instance becomes ready again as soon as its database comes back, without a restart.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maillage_core::Code;
use maillage_migrations::{Migrator, MigratorTrait};
use sea_orm::ConnectionTrait;
use sea_orm::DatabaseConnection;
use sea_orm::sea_query::{Alias, Query};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Longest a readiness check waits for the database: probes time out after a few seconds, and a pool waiting for
/// a connection that will never come would otherwise hold the probe until the pool's own acquire timeout.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(3);

/// Why an instance is not ready.
#[derive(Debug)]
enum NotReady {
    Unreachable(String),
    PendingMigrations(Vec<String>),
    TimedOut,
}

async fn check(app: &AppState) -> Result<(), NotReady> {
    let check = async {
        app.db
            .ping()
            .await
            .map_err(|e| NotReady::Unreachable(e.to_string()))?;
        let pending = pending_migrations(&app.db).await;
        if pending.is_empty() {
            Ok(())
        } else {
            Err(NotReady::PendingMigrations(pending))
        }
    };
    tokio::time::timeout(READINESS_TIMEOUT, check)
        .await
        .unwrap_or(Err(NotReady::TimedOut))
}

/// The migrations this binary knows that the database lacks.
///
/// Read-only, unlike `Migrator::get_pending_migrations` (which creates the migration table first). Migrations the
/// database has and this binary does not know are fine: during a rolling deploy the new version migrates first,
/// and the instances of the old one must stay ready (migrations only add what the old code ignores). A migration
/// table that cannot be read (absent on a fresh database) means everything is pending.
async fn pending_migrations(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let query = Query::select()
        .column(Alias::new("version"))
        .from(Migrator::migration_table_name())
        .to_owned();
    let applied: HashSet<String> = match db
        .query_all_raw(db.get_database_backend().build(&query))
        .await
    {
        Ok(rows) => rows
            .iter()
            .filter_map(|row| row.try_get::<String>("", "version").ok())
            .collect(),
        Err(e) => {
            tracing::debug!(error = %e, "the migration table cannot be read");
            HashSet::new()
        }
    };
    Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .filter(|name| !applied.contains(name))
        .collect()
}

/// `GET /readyz`: 200 when the database answers and is fully migrated, else 503 with a reason code.
pub async fn readyz(State(app): State<AppState>) -> Response {
    match check(&app).await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "status": "ready" }))).into_response(),
        Err(reason) => {
            let (reason, detail) = match reason {
                NotReady::Unreachable(e) => (Code::DatabaseUnreachable, json!(e)),
                NotReady::PendingMigrations(names) => (Code::MigrationsPending, json!(names)),
                NotReady::TimedOut => (
                    Code::DatabaseTimeout,
                    json!(format!(
                        "no answer within {} s",
                        READINESS_TIMEOUT.as_secs()
                    )),
                ),
            };
            // The detail (a driver message, migration names) goes to the log only: the endpoint may be public.
            tracing::warn!(reason = reason.as_str(), %detail, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "unavailable", "reason": reason.as_str() })),
            )
                .into_response()
        }
    }
}

/// How long the circuit's probe waits for a new database connection: a database that is up answers within
/// milliseconds, and the probe runs while a request waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// How often an open circuit probes the database, and the `Retry-After` it answers with.
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
        crate::metrics::global().error("database_circuit_open");
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

/// The answer while the database is unreachable: the same for every caller, anonymous or not.
pub fn unavailable() -> crate::error::ApiError {
    crate::error::ApiError::new(
        Code::Unavailable,
        "the database is unreachable; retry in a few seconds",
    )
    .retry_after(RETRY_AFTER_SECS)
}

/// Middleware of the routes that use the database: refuses at once while the circuit is open, ends a request in
/// flight when the circuit opens (it would only wait for the pool), and checks the database after a server error.
pub async fn circuit_guard(
    State(app): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if app.circuit.is_open() {
        return unavailable().into_response();
    }
    let opened = app.circuit.opened();
    let response = tokio::select! {
        biased;
        response = next.run(request) => response,
        () = opened => return unavailable().into_response(),
    };
    if response.status().is_server_error() && app.circuit.confirm_outage().await {
        return unavailable().into_response();
    }
    response
}
