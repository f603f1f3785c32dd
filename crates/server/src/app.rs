//! The application as a function: state in, router out, so tests and the binary build the same thing.

use crate::config::ServeConfig;
use crate::http;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use maillage_graphql::{MaillageSchema, build_schema};
use sea_orm::DatabaseConnection;
use tower_http::trace::TraceLayer;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The GraphQL schema.
    pub schema: MaillageSchema,
}

impl AppState {
    /// State over an open, migrated database.
    pub fn new(db: DatabaseConnection, config: &ServeConfig) -> Self {
        Self {
            db,
            schema: build_schema(config.limits()),
        }
    }
}

/// The HTTP application.
pub fn build_app(state: AppState, config: &ServeConfig) -> Router {
    Router::new()
        .route("/graphql", get(http::graphql_get).post(http::graphql_post))
        .route("/graphiql/{file}", get(http::graphiql_asset))
        .route("/schema.graphql", get(http::schema_sdl))
        .route("/healthz", get(http::healthz))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `app` on `listener` until Ctrl-C or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
