//! Typed configuration, read once from the command line and the environment.
//!
//! Every setting has a sane default so that `cargo run` works on a fresh machine; production sets `DATABASE_URL`
//! and a few `MAILLAGE_*` variables (documented in `.env.example` and the README).

use clap::Args;
use std::net::SocketAddr;

/// Settings shared by every subcommand that touches the database.
#[derive(Debug, Clone, Args)]
pub struct DbConfig {
    /// Database URL: `sqlite://FILE?mode=rwc` (embedded, default) or `postgres://user@host:port/db`.
    #[arg(long = "database-url", env = "DATABASE_URL", default_value = maillage_core::db::DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,

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

    /// Maximum depth of a GraphQL query.
    #[arg(long, env = "MAILLAGE_MAX_QUERY_DEPTH", default_value_t = 15)]
    pub max_query_depth: usize,

    /// Maximum complexity of a GraphQL query (a connection costs its page size times its children's cost).
    #[arg(long, env = "MAILLAGE_MAX_QUERY_COMPLEXITY", default_value_t = 100_000)]
    pub max_query_complexity: usize,

    /// Maximum size of a request body, in bytes.
    #[arg(long, env = "MAILLAGE_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_query_depth: 15,
            max_query_complexity: 100_000,
            max_body_bytes: 1_048_576,
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
