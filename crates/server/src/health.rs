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
use sea_orm::sea_query::{Alias, Query};
use serde_json::json;
use std::collections::HashSet;
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

/// Middleware of the routes that use the database: refuses at once while the circuit is open, ends a request in
/// flight when the circuit opens (it would only wait for the pool), and checks the database after a server error.
pub async fn circuit_guard(
    State(app): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if app.circuit.is_open() {
        return crate::error::ApiError::database_unavailable().into_response();
    }
    let opened = app.circuit.opened();
    let response = tokio::select! {
        biased;
        response = next.run(request) => response,
        () = opened => return crate::error::ApiError::database_unavailable().into_response(),
    };
    if response.status().is_server_error() && app.circuit.confirm_outage().await {
        return crate::error::ApiError::database_unavailable().into_response();
    }
    response
}
