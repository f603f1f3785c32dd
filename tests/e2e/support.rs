//! The test harness: a server on a fresh database, a GraphQL client, the CLI, and the shared real data.

use maillage_server::config::ServeConfig;
use maillage_server::{AppState, build_app};
use maillage_testkit::TestDb;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A running server over its own database.
pub struct TestApp {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    /// The test database (shared with the server: same pool, same statement counter).
    pub db: TestDb,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// A working directory for CLI runs and files.
    pub dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts a server on a fresh, migrated and seeded database.
    pub async fn spawn() -> Self {
        Self::spawn_with(ServeConfig::default()).await
    }

    /// Same, with settings; AMI attachments always go to the test's own directory, never the working tree.
    pub async fn spawn_with(mut config: ServeConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        config.attachments_dir = dir.path().join("attachments");
        config.imports_dir = dir.path().join("imports");
        let db = TestDb::new_shared().await;
        maillage_server::db::make_ready(&db.db)
            .await
            .expect("migrate and seed");
        // Warmed as `maillage serve` warms it, so statement counts see requests alone.
        let state = AppState::new(db.db.clone(), &config);
        // Statements the reads run on their kept connections (PostgreSQL) are counted by the reads themselves.
        let reads = state.reads.clone().counting(db.statement_counter().clone());
        let state = state.with_reads(reads);
        state.warm_up().await;
        let app = build_app(state, &config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            // With the peer address, as `maillage serve` runs it: anonymous budgets are keyed by it.
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://{addr}"),
            db,
            client: reqwest::Client::new(),
            dir,
        }
    }

    /// POSTs a GraphQL query as `application/json` and returns the status and body.
    pub async fn post(&self, query: &str, variables: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("content-type", "application/json")
            .header(
                "accept",
                "application/graphql-response+json, application/json;q=0.9",
            )
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Runs a query that must succeed and returns its `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(query, variables).await;
        assert_eq!(status, 200, "{body:#}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// Runs a query that must fail and returns its first error.
    pub async fn first_error(&self, query: &str, variables: Value) -> Value {
        let (_, body) = self.post(query, variables).await;
        body["errors"][0].clone()
    }

    /// Runs the `maillage` binary on this app's database, in this app's directory.
    ///
    /// Async, not `std::process::Command::output`: this app's server runs on the test's runtime, and blocking the
    /// test's thread stops it, possibly in the middle of a write transaction whose lock the command then waits for
    /// until SQLite's busy timeout (`node_resolves_every_type_with_an_id` failed so, now and then, under load).
    pub async fn cli(&self, args: &[&str]) -> Output {
        tokio::process::Command::from(cli_command(&self.db.url, self.dir.path(), args))
            .output()
            .await
            .expect("run maillage")
    }

    /// Imports a file with the CLI and checks it succeeded.
    pub async fn import(&self, file: &Path, source: &str) -> String {
        self.import_with(file, source, &[]).await
    }

    /// Imports a file with extra CLI arguments and checks it succeeded.
    pub async fn import_with(&self, file: &Path, source: &str, extra: &[&str]) -> String {
        let mut args = vec!["import", file.to_str().unwrap(), "--source", source];
        args.extend_from_slice(extra);
        let out = self.cli(&args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "import failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Number of sites stored.
    pub async fn site_count(&self) -> u64 {
        self.data("{ sites(first: 0) { totalCount } }", json!({}))
            .await["sites"]["totalCount"]
            .as_u64()
            .unwrap()
    }
}

/// Runs the `maillage` binary with `DATABASE_URL` set, blocking: only where no server of the test runs on the
/// test's runtime (else [`TestApp::cli`]).
pub fn run_cli(database_url: &str, dir: &Path, args: &[&str]) -> Output {
    cli_command(database_url, dir, args)
        .output()
        .expect("run maillage")
}

/// The `maillage` binary with `args`, `DATABASE_URL` set, in `dir`.
fn cli_command(database_url: &str, dir: &Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_maillage"));
    command
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", database_url)
        .env("MAILLAGE_LOG", "warn");
    command
}

/// A fixture file of this suite (`tests/fixtures/`).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

/// The real hub data beside the checkout, or `None` (with a visible notice) when it is absent.
///
/// A user's fresh clone has no `../shared`; CI sets `MAILLAGE_REQUIRE_SHARED_DATA=1`, which turns its absence into a
/// failure so those tests never skip silently there.
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("MAILLAGE_REQUIRE_SHARED_DATA").is_ok_and(|v| !v.is_empty()) {
        panic!(
            "{} is missing and MAILLAGE_REQUIRE_SHARED_DATA is set",
            path.display()
        );
    }
    eprintln!(
        "skipped: {} not found (set MAILLAGE_REQUIRE_SHARED_DATA=1 to fail instead)",
        path.display()
    );
    None
}

/// Parses a line `  label: N …` of the import summary.
pub fn summary_number(stdout: &str, label: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{label}:")))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in summary:\n{stdout}"))
}

impl TestApp {
    /// Creates an API token for `role` (and `hub` slug, for hub coordinators) and returns its secret.
    pub async fn token(&self, role: &str, hub: Option<&str>) -> String {
        let role = maillage_core::Role::parse(role).expect("role");
        let hub = match hub {
            Some(slug) => Some(
                maillage_territories::hub_by_slug(&self.db.db, slug)
                    .await
                    .unwrap()
                    .expect("hub")
                    .id,
            ),
            None => None,
        };
        let (_, secret) = maillage_access::create_token(
            &self.db.db,
            &maillage_core::Actor::cli(),
            maillage_access::NewToken {
                name: format!("test {role}"),
                role,
                hub,
                expires_at: None,
            },
        )
        .await
        .unwrap();
        secret
    }

    /// POSTs a GraphQL query with a bearer token (or none) and returns the status and body.
    pub async fn post_as(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("content-type", "application/json")
            .header(
                "accept",
                "application/graphql-response+json, application/json;q=0.9",
            );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}
