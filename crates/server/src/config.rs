//! Typed configuration, read once from the command line and the environment.
//!
//! Every setting has a sane default so that `cargo run` works on a fresh machine; production sets `DATABASE_URL`
//! and a few `MAILLAGE_*` variables (documented in `.env.example` and the README). clap reads each variable once,
//! when `main` parses the command line; nothing else in the process reads the environment (the OpenTelemetry SDK's
//! own `OTEL_*` tuning variables aside, which are the SDK's contract). `scripts/check-config-table.sh` compares the
//! variables named here with the README table and `.env.example`.

use clap::{Args, ValueEnum};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// A database URL, which may carry a password: its `Debug` and `Display` hide the password, so a config printed
/// with `{:?}` or a log line never shows it. Only [`DatabaseUrl::expose_secret`] gives the real URL, to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL with its password, for the driver only: never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl From<&str> for DatabaseUrl {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::db::redact(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line, with the fields of the enclosing spans (request id, trace id): for log shippers.
    Json,
}

/// Logs and traces: read by every subcommand, before anything else runs.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logs and traces")]
pub struct TelemetryConfig {
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info,maillage_server=debug`). Unset: `info,sqlx=warn,sea_orm=warn`
    /// for the server, `warn` for batch commands (their own output is what a person reads).
    #[arg(long = "log", env = "MAILLAGE_LOG", global = true)]
    pub log_filter: Option<String>,

    /// Log format on stderr.
    #[arg(
        long = "log-format",
        env = "MAILLAGE_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,

    /// OTLP/HTTP collector base URL (e.g. `http://otel-collector:4318`): when set, traces are exported there
    /// (`/v1/traces`); when unset, nothing is exported and no exporter runs.
    #[arg(
        long = "otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        global = true
    )]
    pub otlp_endpoint: Option<String>,

    /// A file where import commands write their metrics (Prometheus text) when they finish, for node_exporter's
    /// textfile collector: a batch command ends before Prometheus could scrape it. Unset: not written.
    #[arg(
        long = "metrics-textfile",
        env = "MAILLAGE_METRICS_TEXTFILE",
        global = true
    )]
    pub metrics_textfile: Option<std::path::PathBuf>,

    /// The `service.name` of exported traces.
    #[arg(
        long = "service-name",
        env = "OTEL_SERVICE_NAME",
        default_value = "maillage",
        global = true
    )]
    pub service_name: String,
}

/// The log filter of the server when `MAILLAGE_LOG` is unset.
pub const SERVER_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// The log filter of batch commands when `MAILLAGE_LOG` is unset: warnings and errors only, so that log lines do
/// not interleave with the command's own output.
pub const BATCH_LOG_FILTER: &str = "warn";

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_filter: None,
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            metrics_textfile: None,
            service_name: "maillage".to_owned(),
        }
    }
}

/// Settings shared by every subcommand that touches the database.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DbConfig {
    /// Database URL: `sqlite://FILE?mode=rwc` (embedded, default) or `postgres://user@host:port/db`.
    #[arg(long = "database-url", env = "DATABASE_URL", default_value = maillage_core::db::DEFAULT_DATABASE_URL, global = true, hide_env_values = true)]
    pub database_url: DatabaseUrl,

    /// Maximum connections in the pool.
    #[arg(
        long = "db-max-connections",
        env = "MAILLAGE_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub max_connections: u32,
}

/// Settings of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address and port to listen on.
    #[arg(long, env = "MAILLAGE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// A separate address for `GET /metrics` (e.g. `0.0.0.0:9090` on the internal network). When set, the public
    /// address no longer serves `/metrics`; unset, it does.
    #[arg(long, env = "MAILLAGE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Maximum depth of a GraphQL query.
    #[arg(long, env = "MAILLAGE_MAX_QUERY_DEPTH", default_value_t = 15)]
    pub max_query_depth: usize,

    /// Maximum complexity of a GraphQL query (a connection costs its page size times its children's cost).
    #[arg(long, env = "MAILLAGE_MAX_QUERY_COMPLEXITY", default_value_t = 100_000)]
    pub max_query_complexity: usize,

    /// Maximum size of a request body, in bytes.
    #[arg(long, env = "MAILLAGE_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// Longest a request waits for a database connection, in milliseconds. When the database is down, requests
    /// fail after this long (503 `unavailable`) instead of hanging; batch commands keep a 30 s wait.
    #[arg(long, env = "MAILLAGE_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub db_acquire_timeout_ms: u64,

    /// On PostgreSQL, whether the API's reads keep their connections between statements instead of giving each
    /// back to the pool, which pings it (one more round trip per statement); see `maillage_core::reads`. `false`
    /// puts every statement through the pool, as before; for comparing, or if a proxy between the server and
    /// PostgreSQL objects to connections held while idle.
    #[arg(long, env = "MAILLAGE_DB_KEEP_READ_CONNECTIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub db_keep_read_connections: bool,

    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C (the listener closes at once); past that
    /// the process exits with an error.
    #[arg(long, env = "MAILLAGE_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,

    /// Directory of the AMI dossiers' PDF attachments (created on first upload). Instances behind one load balancer
    /// must share it (a network volume), since any instance may serve a download.
    #[arg(long, env = "MAILLAGE_ATTACHMENTS_DIR", default_value = maillage_ami::DEFAULT_ATTACHMENT_DIR)]
    pub attachments_dir: std::path::PathBuf,

    /// Directory where files sent to `POST /feeds/{feed}/imports` wait for their import job (created on first
    /// upload; each file is removed when its job ends).
    #[arg(long, env = "MAILLAGE_IMPORTS_DIR", default_value = "./data/imports")]
    pub imports_dir: std::path::PathBuf,

    /// Largest file accepted by `POST /feeds/{feed}/imports`, in bytes.
    #[arg(long, env = "MAILLAGE_MAX_IMPORT_BYTES", default_value_t = 104_857_600)]
    pub max_import_bytes: u64,

    /// Cost, rate, request and persisted-query limits.
    #[command(flatten)]
    pub protection: ProtectionConfig,

    /// Webhook delivery.
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookConfig,
}

/// Limits that protect the server from expensive or abusive requests (see `crate::protection`).
///
/// Defaults are generous enough that the quick start, GraphiQL and the test suite never meet them; a public
/// deployment tunes the budget and the request rate to its partners.
#[derive(Debug, Clone, Args)]
pub struct ProtectionConfig {
    /// Most aliased fields in one document (aliases multiply work at no extra depth).
    #[arg(long, env = "MAILLAGE_MAX_ALIASES", default_value_t = 30)]
    pub max_aliases: usize,

    /// Most directive uses in one document.
    #[arg(long, env = "MAILLAGE_MAX_DIRECTIVES", default_value_t = 30)]
    pub max_directives: usize,

    /// Longest execution of one operation, in milliseconds (0: no limit).
    #[arg(long, env = "MAILLAGE_EXECUTION_TIMEOUT_MS", default_value_t = 30_000)]
    pub execution_timeout_ms: u64,

    /// Operations executed at the same time by this instance, all callers together (0: no bound). Others wait
    /// their turn, within the execution timeout. The bound counts operations of static cost 1 024 or more; a
    /// cheaper one takes a share of a turn in proportion to its cost, down to an eighth (one site), so up to
    /// eight times as many cheap operations run at once. Memory grows with the operations in flight (a nested page of
    /// sites is a few megabytes until it is written out), not with open connections. The default, measured on two
    /// cores, keeps them busy while holding under 200 MB at 64 connections (docs/PERFORMANCE.md, "Memory"); a
    /// fixed number rather than one per core, so that a deployment's memory does not depend on the machine's size.
    #[arg(long, env = "MAILLAGE_MAX_CONCURRENT_OPERATIONS", default_value_t = 8)]
    pub max_concurrent_operations: usize,

    /// Cost points a caller may spend in a burst (0: no budget). Refilled continuously.
    #[arg(long, env = "MAILLAGE_COST_BUDGET", default_value_t = 1_000_000)]
    pub cost_budget: u64,

    /// Cost points given back to each caller per second.
    #[arg(long, env = "MAILLAGE_COST_REFILL_PER_SECOND", default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub cost_refill_per_second: u64,

    /// Requests a caller may make per minute, on average (0: no limit).
    #[arg(long, env = "MAILLAGE_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u64,

    /// Requests a caller may make in a burst, above the average rate.
    #[arg(long, env = "MAILLAGE_RATE_LIMIT_BURST", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_burst: u64,

    /// Failed authentications (an unknown, revoked or expired token) an address may make per minute, on average
    /// (0: not limited). Once spent, requests with credentials from that address get 429 before any look-up.
    #[arg(long, env = "MAILLAGE_AUTH_FAILURES_PER_MINUTE", default_value_t = 10)]
    pub auth_failures_per_minute: u64,

    /// Failed authentications an address may make in a burst: far fewer than requests, so guessing tokens is slow.
    #[arg(long, env = "MAILLAGE_AUTH_FAILURE_BURST", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub auth_failure_burst: u64,

    /// Key anonymous callers by the last address of `X-Forwarded-For` (only behind a proxy that sets it).
    #[arg(long, env = "MAILLAGE_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Automatic persisted queries kept in memory (0: automatic persisted queries disabled).
    #[arg(long, env = "MAILLAGE_APQ_CACHE_SIZE", default_value_t = 1000)]
    pub apq_cache_size: usize,

    /// Bytes of document text whose parsed form is kept, so that a document sent again is not parsed again
    /// (0: every document is parsed on every request). A parsed document takes a few times its text.
    #[arg(long, env = "MAILLAGE_DOCUMENT_CACHE_BYTES", default_value_t = 1 << 20)]
    pub document_cache_bytes: usize,

    /// A JSON manifest `{ "<sha256 of the document>": "<document>" }`: when set, only these documents run.
    #[arg(long, env = "MAILLAGE_TRUSTED_DOCUMENTS", value_parser = crate::persisted::TrustedDocuments::load)]
    pub trusted_documents: Option<crate::persisted::TrustedDocuments>,
}

impl Default for ProtectionConfig {
    fn default() -> Self {
        Self {
            max_aliases: 30,
            max_directives: 30,
            execution_timeout_ms: 30_000,
            max_concurrent_operations: 8,
            cost_budget: 1_000_000,
            cost_refill_per_second: 20_000,
            rate_limit_per_minute: 600,
            rate_limit_burst: 100,
            auth_failures_per_minute: 10,
            auth_failure_burst: 10,
            trust_forwarded_for: false,
            apq_cache_size: 1000,
            document_cache_bytes: 1 << 20,
            trusted_documents: None,
        }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            max_query_depth: 15,
            max_query_complexity: 100_000,
            max_body_bytes: 1_048_576,
            shutdown_timeout_secs: 30,
            db_acquire_timeout_ms: 2_000,
            db_keep_read_connections: true,
            attachments_dir: std::path::PathBuf::from(maillage_ami::DEFAULT_ATTACHMENT_DIR),
            imports_dir: std::path::PathBuf::from("./data/imports"),
            max_import_bytes: 104_857_600,
            protection: ProtectionConfig::default(),
            webhooks: crate::webhooks::WebhookConfig::default(),
        }
    }
}

impl ServeConfig {
    /// The GraphQL limits these settings describe.
    pub fn limits(&self) -> maillage_graphql::SchemaLimits {
        maillage_graphql::SchemaLimits {
            max_depth: self.max_query_depth,
            max_complexity: self.max_query_complexity,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::DatabaseUrl;

    #[test]
    fn the_database_password_never_shows_in_debug_or_display() {
        let url: DatabaseUrl = "postgres://maillage:hunter2@db:5432/maillage"
            .parse()
            .unwrap();
        assert_eq!(url.to_string(), "postgres://maillage:***@db:5432/maillage");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(
            url.expose_secret(),
            "postgres://maillage:hunter2@db:5432/maillage"
        );
        // The whole command line, as a `{:?}` of the parsed configuration would print it.
        let cli = <crate::cli::Cli as clap::Parser>::parse_from([
            "maillage",
            "--database-url",
            "postgres://maillage:hunter2@db:5432/maillage",
            "schema",
        ]);
        assert!(!format!("{cli:?}").contains("hunter2"));
    }
}
