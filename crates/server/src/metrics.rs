//! Prometheus metrics, served as text on `/metrics`.
//!
//! One registry per process: the HTTP middleware, the GraphQL pipeline, the pool and the import commands all count
//! into it. Each instance exposes its own counts; Prometheus sums the instances, so nothing here needs to be shared
//! between them. Label values are bounded: routes are templates, operation names are capped
//! ([`MAX_OPERATION_NAMES`]), error codes are the server's own.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use sea_orm::DatabaseConnection;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Distinct GraphQL operation names given their own series; later ones are counted as `other`, so a client that
/// invents names cannot grow the registry without bound.
pub const MAX_OPERATION_NAMES: usize = 200;

/// Latency buckets, in seconds: from a cached lookup to the execution timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's metrics.
pub struct Metrics {
    inner: Option<Inner>,
    operation_names: Mutex<HashSet<String>>,
}

struct Inner {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    operation_duration: HistogramVec,
    errors: IntCounterVec,
    pool: IntGaugeVec,
    import_rows: IntCounterVec,
}

impl Inner {
    fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "maillage_http_requests_total",
                "HTTP requests answered, by method, route template and status.",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "maillage_http_request_duration_seconds",
                "Time from receiving an HTTP request to its response, by method and route template.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )?;
        let operation_duration = HistogramVec::new(
            HistogramOpts::new(
                "maillage_graphql_operation_duration_seconds",
                "Execution time of GraphQL operations (its _count is the number of operations), by operation \
                 name and type.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["operation", "type"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "maillage_graphql_errors_total",
                "GraphQL errors returned (request refusals and field errors), by extensions.code.",
            ),
            &["code"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "maillage_db_pool_connections",
                "Database pool connections: state=in_use, idle, max (the configured size), or kept (held by the \
                 API's reads between statements, busy or idle; idle ones are counted in idle).",
            ),
            &["state"],
        )?;
        let import_rows = IntCounterVec::new(
            Opts::new(
                "maillage_import_rows_total",
                "Rows processed by imports in this process, by kind of file and outcome.",
            ),
            &["kind", "outcome"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(operation_duration.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        registry.register(Box::new(import_rows.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            operation_duration,
            errors,
            pool,
            import_rows,
        })
    }
}

/// The metrics of this process.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let inner = match Inner::new() {
            Ok(inner) => Some(inner),
            Err(e) => {
                // The names are constants, so this cannot happen short of a bug; metrics then stay empty.
                tracing::error!(error = %e, "metrics unavailable");
                None
            }
        };
        Metrics {
            inner,
            operation_names: Mutex::new(HashSet::new()),
        }
    })
}

impl Metrics {
    /// Counts one HTTP response.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        if let Some(m) = &self.inner {
            m.http_requests
                .with_label_values(&[method, route, &status.to_string()])
                .inc();
            m.http_duration
                .with_label_values(&[method, route])
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Counts one executed GraphQL operation (`name` `None`: anonymous).
    pub fn observe_operation(&self, name: Option<&str>, ty: &str, elapsed: Duration) {
        if let Some(m) = &self.inner {
            let name = self.operation_label(name);
            m.operation_duration
                .with_label_values(&[name.as_str(), ty])
                .observe(elapsed.as_secs_f64());
        }
    }

    fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "anonymous".to_owned();
        };
        let Ok(mut names) = self.operation_names.lock() else {
            return "other".to_owned();
        };
        if names.contains(name) || names.len() < MAX_OPERATION_NAMES {
            names.insert(name.to_owned());
            name.to_owned()
        } else {
            "other".to_owned()
        }
    }

    /// Counts one GraphQL error by its `extensions.code`.
    pub fn error(&self, code: &str) {
        if let Some(m) = &self.inner {
            m.errors.with_label_values(&[code]).inc();
        }
    }

    /// Counts rows an import processed.
    pub fn import_rows(&self, kind: &str, outcome: &str, rows: u64) {
        if let Some(m) = &self.inner {
            m.import_rows
                .with_label_values(&[kind, outcome])
                .inc_by(rows);
        }
    }

    /// The registry in Prometheus text format, the pool gauges read from `db` and the reads' `kept` connections
    /// first.
    pub fn render(
        &self,
        db: Option<&DatabaseConnection>,
        kept: Option<maillage_core::reads::KeptStatus>,
    ) -> String {
        let Some(m) = &self.inner else {
            return String::new();
        };
        if let Some(db) = db {
            let (size, idle, max) = pool_usage(db);
            // The pool counts the connections the reads keep as taken; those waiting for the next read are idle.
            let (held, kept_idle) = kept.map_or((0, 0), |k| {
                (
                    i64::try_from(k.held).unwrap_or(i64::MAX),
                    i64::try_from(k.idle).unwrap_or(i64::MAX),
                )
            });
            let idle = i64::from(idle).saturating_add(kept_idle);
            m.pool
                .with_label_values(&["in_use"])
                .set((i64::from(size) - idle).max(0));
            m.pool.with_label_values(&["idle"]).set(idle);
            m.pool.with_label_values(&["kept"]).set(held);
            m.pool.with_label_values(&["max"]).set(i64::from(max));
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Writes the registry to `path` (atomically: a temporary file, then a rename), for Prometheus's textfile
    /// collector (node_exporter): a batch command such as `maillage import` ends before any scrape could reach it.
    pub fn write_textfile(&self, path: &std::path::Path) -> std::io::Result<()> {
        let tmp = path.with_extension("prom.tmp");
        std::fs::write(&tmp, self.render(None, None))?;
        std::fs::rename(&tmp, path)
    }
}

/// Connections open, idle, and the configured maximum of the pool.
fn pool_usage(db: &DatabaseConnection) -> (u32, u32, u32) {
    // The backend decides the pool type (only the SQLite and PostgreSQL drivers are compiled in), so the getters
    // below cannot meet the other kind.
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                pool.options().get_max_connections(),
            )
        }
        sea_orm::DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                pool.options().get_max_connections(),
            )
        }
        _ => (0, 0, 0),
    }
}

/// `GET /metrics`.
pub async fn handler(
    axum::extract::State(app): axum::extract::State<crate::state::AppState>,
) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        global().render(Some(&app.db), app.reads.kept()),
    )
}
