//! The application as a function: state in, router out, so tests and the binary build the same thing.

use crate::config::ServeConfig;
use crate::http;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use std::net::SocketAddr;
use std::time::Duration;
use tower::ServiceBuilder;

/// The HTTP application.
pub fn build_app(state: AppState, config: &ServeConfig) -> Router {
    // The routes that use the database, behind its circuit: 503 at once while it is unreachable.
    let data = Router::new()
        .route("/graphql", get(http::graphql_get).post(http::graphql_post))
        .route("/graphql/ws", get(crate::ws::graphql_ws))
        .route(
            "/federation/graphql",
            get(http::federation_get).post(http::federation_post),
        )
        .merge(crate::ami::routes(crate::ami::AttachmentStore::local(
            config.attachments_dir.clone(),
        )))
        .merge(crate::uploads::routes(crate::uploads::ImportUploads {
            dir: config.imports_dir.clone(),
            max_bytes: config.max_import_bytes,
        }))
        .merge(crate::exports::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::health::circuit_guard,
        ));
    let mut app = Router::new()
        .merge(data)
        .route("/graphiql/{file}", get(http::graphiql_asset))
        .route("/dashboard", get(http::dashboard_page))
        .route("/dashboard/{file}", get(http::dashboard_asset))
        .route("/schema.graphql", get(http::schema_sdl))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(crate::health::readyz));
    // With an address of its own (the internal network), `/metrics` is not served to the public.
    if config.metrics_listen.is_none() {
        app = app.route("/metrics", get(crate::metrics::handler));
    }
    // One `layer` call for the whole stack, not one per layer: axum boxes a route's service and its future at every
    // `Router::layer`, and five calls cost five boxed futures moved per request (about 4 % of a page of 50 sites,
    // issue #16). Applied to each route as before, so `observe` still reads the route (`MatchedPath`).
    // From the outermost: the request id, span, access log line and HTTP metrics of `observe` cover every response,
    // errors included; CORS; compression; the body limit; innermost, a panicking handler answers a 500 that still
    // gets the CORS headers (a browser client can read it).
    app.layer(
        ServiceBuilder::new()
            .layer(axum::middleware::from_fn(crate::telemetry::observe))
            .layer(axum::middleware::from_fn(crate::browser::cross_origin))
            .layer(crate::browser::compression())
            .layer(DefaultBodyLimit::max(config.max_body_bytes))
            .layer(crate::panic::catch_panic()),
    )
    .with_state(state)
}

/// `GET /metrics` alone, for `MAILLAGE_METRICS_LISTEN`: the address Prometheus scrapes on the internal network.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(crate::metrics::handler))
        .with_state(state)
}

/// Serves `app` on `listener` until Ctrl-C or SIGTERM, then stops accepting connections and lets in-flight requests
/// finish, for at most `shutdown_timeout`. Connections carry their peer address: anonymous callers' budgets are
/// keyed by it.
///
/// Returns an error when requests were still running at the deadline (they are cut), so the exit status tells.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown_timeout: Duration,
) -> std::io::Result<()> {
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = signalled_tx.send(());
    });
    let deadline = async move {
        if signalled_rx.await.is_ok() {
            tokio::time::sleep(shutdown_timeout).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => {
            tracing::info!("stopped");
            result
        }
        () = deadline => {
            tracing::error!(
                timeout_secs = shutdown_timeout.as_secs(),
                "requests still running at the shutdown deadline were cut"
            );
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "in-flight requests did not finish within MAILLAGE_SHUTDOWN_TIMEOUT_SECS",
            ))
        }
    }
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
    tracing::info!("shutting down: no new connections; waiting for requests in flight");
}
