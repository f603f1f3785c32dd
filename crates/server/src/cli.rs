//! The `maillage` command line.

use crate::app::{build_app, serve};
use crate::config::{DbConfig, ServeConfig, TelemetryConfig};
use crate::db::open_for_command;
use crate::state::AppState;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use maillage_core::{Actor, DepartmentCode, ErrorCode};
use maillage_migrations::{Migrator, MigratorTrait};
use maillage_sites::StandardVersion;
use maillage_sites::export::{ExportScope, export_v1};
use maillage_sites::import::{FileFormat, ImportOptions, ReportLine, import_file};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

mod aidants;
mod ami;
mod counsellors;
mod dedup;
mod feeds;
mod funding;
mod mapping;

/// Maillage: the GraphQL data hub of the hubs territoriaux pour un numérique inclusif.
#[derive(Debug, Parser)]
#[command(name = "maillage", version, about)]
pub struct Cli {
    #[command(flatten)]
    db: DbConfig,

    #[command(flatten)]
    telemetry: TelemetryConfig,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (default): GraphQL on /graphql, GraphiQL in a browser at the same address.
    Serve(ServeConfig),
    /// Apply or roll back database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Import a hub's file of "lieux de médiation numérique" (CSV, JSON or .xlsx; the standard v0.1 or v1, or another
    /// layout through --mapping).
    Import(ImportArgs),
    /// Export sites as CSV in the national standard v1.0.2.
    Export(ExportArgs),
    /// Print the GraphQL schema (SDL) on standard output.
    Schema,
    /// Create, list or revoke API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Import or export host structures, their posts and conseillers numériques (CSV).
    Counsellors {
        #[command(subcommand)]
        action: counsellors::CounsellorsAction,
    },
    /// Import or export Aidants Connect organisations, aidants and monthly mandate aggregates (CSV).
    Aidants {
        #[command(subcommand)]
        action: aidants::AidantsAction,
    },
    /// Create, list or change feeds (named sources of sites with their mapping and policy).
    Feed {
        #[command(subcommand)]
        action: feeds::FeedAction,
    },
    /// List the built-in mappings, or show what a mapping does to a file (nothing written).
    Mapping {
        #[command(subcommand)]
        action: mapping::MappingAction,
    },
    /// Export AMI dossiers or their scores (CSV).
    Ami {
        #[command(subcommand)]
        action: ami::AmiAction,
    },
    /// Find duplicate sites across sources, or report on them (CSV).
    Dedup {
        #[command(subcommand)]
        action: dedup::DedupAction,
    },
    /// Import historical grants or Pass numérique programmes (CSV, all or nothing).
    Funding {
        #[command(subcommand)]
        action: funding::FundingAction,
    },
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Create a token and print its secret (shown once, never stored).
    Create {
        /// Role: partner, hub_coordinator, bdt_reviewer, ami_applicant or admin.
        #[arg(long)]
        role: String,
        /// Hub slug: required for hub_coordinator tokens, optional for partner tokens (a hub's partner).
        #[arg(long)]
        hub: Option<String>,
        /// Who or what uses the token (appears in the audit log).
        #[arg(long)]
        name: String,
        /// Last day the token works (YYYY-MM-DD, inclusive, UTC); a past day is refused.
        #[arg(long)]
        expires: Option<chrono::NaiveDate>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token at once.
    Revoke {
        /// The token's id (from `token list`).
        id: i32,
    },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Apply all pending migrations.
    Up,
    /// Roll back the last migrations.
    Down {
        /// How many migrations to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether they are applied.
    Status,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Csv,
    Json,
    Xlsx,
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The file to import.
    file: PathBuf,
    /// Name of the source (e.g. hinaura): with each row's id, the identity of a site.
    #[arg(long, required_unless_present = "feed", conflicts_with = "feed")]
    source: Option<String>,
    /// Import as a job of this feed (slug), with its source, mapping and policy: as `POST /feeds/{feed}/imports`.
    #[arg(long, conflicts_with_all = ["format", "standard", "mapping", "encoding", "sheet"])]
    feed: Option<String>,
    /// File format, when the extension does not tell.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Standard version (v0.1 or v1), when the columns do not tell.
    #[arg(long)]
    standard: Option<String>,
    /// The file's layout: a built-in mapping (`maillage mapping list`) or a mapping file (TOML). Default: the
    /// national standard's own columns.
    #[arg(long)]
    mapping: Option<String>,
    /// A CSV file's encoding (utf-8, latin-1, windows-1252); detected when not given.
    #[arg(long)]
    encoding: Option<String>,
    /// The spreadsheet's sheet (.xlsx; default: the first).
    #[arg(long)]
    sheet: Option<String>,
    /// Where to write the report of rejected and corrected rows (CSV).
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// Standard version of the export; only v1 (1.0.2) is written.
    #[arg(long, default_value = "v1")]
    standard: String,
    /// Only the departments of this hub (slug).
    #[arg(long)]
    hub: Option<String>,
    /// Only this department (INSEE code).
    #[arg(long)]
    department: Option<String>,
    /// Include e-mail addresses (they may be personal data).
    #[arg(long)]
    with_emails: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

impl Cli {
    /// The configuration from the process's arguments and environment: the one place they are read.
    ///
    /// No subcommand means `serve`: the arguments are then parsed as `serve`'s, so its flags and `MAILLAGE_*`
    /// variables apply. Exits with clap's message on invalid input, as `Parser::parse` does.
    pub fn from_args() -> Self {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let cli = Self::parse_from(&args);
        if cli.command.is_some() {
            return cli;
        }
        Self::parse_from(args.into_iter().chain(["serve".into()]))
    }

    /// The log filter when `MAILLAGE_LOG` is unset: the server's, or the quieter one of batch commands.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            None | Some(Command::Serve(_)) => crate::config::SERVER_LOG_FILTER,
            Some(_) => crate::config::BATCH_LOG_FILTER,
        }
    }

    /// Logs and traces settings, read before the command runs (they set up the subscriber).
    pub fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

/// Set when the reader of standard output went away (`maillage export | head`).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Standard output for a command's data. A closed pipe still fails the write (so the command stops at once), but
/// is remembered, and [`run`] then exits 0 without a message, as `cat` or `grep` do when `head` has had enough.
pub(crate) fn stdout() -> PipeOut {
    PipeOut(std::io::stdout().lock())
}

/// See [`stdout`].
pub(crate) struct PipeOut(std::io::StdoutLock<'static>);

impl PipeOut {
    fn note(result: std::io::Result<usize>) -> std::io::Result<usize> {
        if let Err(e) = &result
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        result
    }
}

impl Write for PipeOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Self::note(self.0.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Self::note(self.0.flush().map(|()| 0)).map(|_| ())
    }
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match dispatch(cli).await {
        Ok(code) => code,
        Err(_) if STDOUT_CLOSED.load(std::sync::atomic::Ordering::SeqCst) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Counts an import's rows in the process metrics, logs them, and writes the metrics textfile when configured.
pub(crate) fn record_import(
    metrics_textfile: Option<&std::path::Path>,
    kind: &str,
    created: u64,
    updated: u64,
    unchanged: u64,
    rejected: u64,
) {
    let metrics = crate::metrics::global();
    for (outcome, rows) in [
        ("created", created),
        ("updated", updated),
        ("unchanged", unchanged),
        ("rejected", rejected),
    ] {
        metrics.import_rows(kind, outcome, rows);
    }
    tracing::info!(
        kind,
        created,
        updated,
        unchanged,
        rejected,
        "import finished"
    );
    if let Some(path) = metrics_textfile
        && let Err(e) = metrics.write_textfile(path)
    {
        // The import itself succeeded: a missing metrics file must not turn it into a failure.
        tracing::warn!(path = %path.display(), error = %e, "cannot write the metrics textfile");
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode, String> {
    let db_config = cli.db;
    let metrics_textfile = cli.telemetry.metrics_textfile.clone();
    let metrics_textfile = metrics_textfile.as_deref();
    // `Cli::from_args` already turned "no subcommand" into `serve`; the default only serves a `Cli` built otherwise.
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(ServeConfig::default()));
    // A batch command is one trace: its statements are children of this span instead of a trace each. The server
    // gets none, so that each request is a trace of its own.
    let name = match &command {
        Command::Serve(_) | Command::Schema => None,
        Command::Migrate { .. } => Some("migrate"),
        Command::Import(_) => Some("import"),
        Command::Export(_) => Some("export"),
        Command::Token { .. } => Some("token"),
        Command::Counsellors { .. } => Some("counsellors"),
        Command::Aidants { .. } => Some("aidants"),
        Command::Ami { .. } => Some("ami"),
        Command::Feed { .. } => Some("feed"),
        Command::Dedup { .. } => Some("dedup"),
        Command::Funding { .. } => Some("funding"),
        Command::Mapping { .. } => Some("mapping"),
    };
    let span = name.map_or_else(tracing::Span::none, |name| {
        tracing::info_span!("maillage.command", otel.name = %format!("maillage {name}"), command = name)
    });
    tracing::Instrument::instrument(execute(command, &db_config, metrics_textfile), span).await
}

async fn execute(
    command: Command,
    db_config: &DbConfig,
    metrics_textfile: Option<&std::path::Path>,
) -> Result<ExitCode, String> {
    match command {
        Command::Schema => {
            let mut out = stdout();
            writeln!(out, "{}", maillage_graphql::sdl().trim_end()).map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(config) => {
            tracing::info!(database = %db_config.database_url, "opening the database");
            let db = crate::db::open_for_serving(
                db_config.database_url.expose_secret(),
                db_config.max_connections,
                std::time::Duration::from_millis(config.db_acquire_timeout_ms),
            )
            .await?;
            if config.webhooks.enabled {
                crate::webhooks::spawn_worker(db.clone(), (&config.webhooks).into());
            }
            maillage_sites::jobs::fail_interrupted_jobs(&db)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(maillage_sites::jobs::watch_interrupted_jobs(db.clone()));
            let state = AppState::new(db, &config);
            state.warm_up().await;
            if let Some(metrics_addr) = config.metrics_listen {
                let listener = tokio::net::TcpListener::bind(metrics_addr)
                    .await
                    .map_err(|e| format!("cannot listen on {metrics_addr} for metrics: {e}"))?;
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                tracing::info!("metrics on http://{addr}/metrics");
                let metrics = crate::app::metrics_app(state.clone());
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, metrics).await {
                        tracing::error!(error = %e, "the metrics listener stopped");
                    }
                });
            }
            let app = build_app(state, &config);
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(
                "GraphQL API on http://{addr}/graphql (open it in a browser for GraphiQL)"
            );
            serve(
                listener,
                app,
                std::time::Duration::from_secs(config.shutdown_timeout_secs),
            )
            .await
            .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { action } => {
            crate::db::probe(&maillage_core::db::normalize_url(
                db_config.database_url.expose_secret(),
            ))
            .await?;
            let db = maillage_core::db::connect(db_config.database_url.expose_secret(), 1, None)
                .await
                .map_err(|e| format!("cannot open the database: {e}"))?;
            match action {
                MigrateAction::Up => {
                    Migrator::up(&db, None).await.map_err(|e| e.to_string())?;
                    maillage_territories::seed_reference_data(&db)
                        .await
                        .map_err(|e| e.to_string())?;
                    println!("migrations applied, reference data seeded");
                }
                MigrateAction::Down { steps } => {
                    Migrator::down(&db, Some(steps))
                        .await
                        .map_err(|e| e.to_string())?;
                    println!("rolled back {steps} migration(s)");
                }
                MigrateAction::Status => {
                    let applied = Migrator::get_applied_migrations(&db)
                        .await
                        .map_err(|e| e.to_string())?;
                    let pending = Migrator::get_pending_migrations(&db)
                        .await
                        .map_err(|e| e.to_string())?;
                    for m in applied {
                        println!("applied  {}", m.name());
                    }
                    for m in pending {
                        println!("pending  {}", m.name());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(args) => import(db_config, metrics_textfile, args).await,
        Command::Token { action } => token(db_config, action).await,
        Command::Export(args) => export(db_config, args).await,
        Command::Aidants { action } => aidants::run(db_config, metrics_textfile, action).await,
        Command::Counsellors { action } => {
            counsellors::run(db_config, metrics_textfile, action).await
        }
        Command::Ami { action } => ami::run(db_config, action).await,
        Command::Feed { action } => feeds::run(db_config, action).await,
        Command::Dedup { action } => dedup::run(db_config, action).await,
        Command::Funding { action } => funding::run(db_config, metrics_textfile, action).await,
        Command::Mapping { action } => mapping::run(action),
    }
}

async fn import(
    db_config: &DbConfig,
    metrics_textfile: Option<&std::path::Path>,
    args: ImportArgs,
) -> Result<ExitCode, String> {
    let source = match (args.source.clone(), &args.feed) {
        (_, Some(feed)) => {
            return feeds::import_with_feed(
                db_config,
                metrics_textfile,
                &args.file,
                feed,
                args.report,
            )
            .await;
        }
        (Some(source), None) => source,
        (None, None) => return Err("pass --source NAME or --feed SLUG".to_owned()),
    };
    let version = args
        .standard
        .as_deref()
        .map(|s| {
            StandardVersion::parse(s).ok_or_else(|| {
                format!("unknown standard version {s:?}: use v0.1 (0.1.1) or v1 (1.0.2)")
            })
        })
        .transpose()?;
    let mapping_arg = args
        .mapping
        .as_deref()
        .map(|m| {
            maillage_sites::mapping::Mapping::load(m)
                .map(std::sync::Arc::new)
                .map_err(|e| format!("{e} [{}]", e.code()))
        })
        .transpose()?;
    let options = ImportOptions {
        source: source.clone(),
        format: args.format.map(|f| match f {
            FormatArg::Csv => FileFormat::Csv,
            FormatArg::Json => FileFormat::Json,
            FormatArg::Xlsx => FileFormat::Xlsx,
        }),
        version,
        encoding: mapping::encoding_arg(args.encoding.as_deref())?,
        sheet: args.sheet.clone(),
        mapping: mapping_arg,
        ..ImportOptions::default()
    };
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("import-report-{source}.csv")));
    let db = open_for_command(
        db_config.database_url.expose_secret(),
        db_config.max_connections,
    )
    .await?;

    // The report goes to a temporary file first: a refused import must not leave a report that looks real.
    let mut lines: Vec<ReportLine> = Vec::new();
    let bar = import_bar(std::io::stderr().is_terminal());
    let options = ImportOptions {
        progress: Some(import_progress(bar.clone())),
        ..options
    };
    let progress = |_: u64| {};
    let result = import_file(
        &db,
        &Actor::cli(),
        &args.file,
        &options,
        &mut |line: &ReportLine| lines.push(line.clone()),
        &progress,
    )
    .await;
    bar.finish_and_clear();
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            let detail = if e.is_internal() {
                format!("{e} (nothing was imported)")
            } else {
                e.to_string()
            };
            return Err(format!("{detail}\nnothing was imported [{}]", e.code()));
        }
    };
    write_report(&report_path, &lines)
        .map_err(|e| format!("cannot write the report {}: {e}", report_path.display()))?;
    let matched = dedup::after_import(&db, &source).await?;
    record_import(
        metrics_textfile,
        "sites",
        summary.created,
        summary.updated,
        summary.unchanged,
        summary.rejected,
    );
    println!(
        "{file}: {rows} rows read ({format}, standard {version})\n  stored:    {stored} (created {created}, updated {updated}, unchanged {unchanged})\n  rejected:  {rejected}\n  corrected: {corrected} stored rows had fields corrected or dropped\n  changes:   {changes}\n  report:    {report} ({lines} lines)",
        file = args.file.display(),
        rows = summary.rows,
        format = summary.format,
        version = summary.version,
        stored = summary.stored(),
        created = summary.created,
        updated = summary.updated,
        unchanged = summary.unchanged,
        rejected = summary.rejected,
        corrected = summary.corrected,
        changes = summary.changes(),
        report = report_path.display(),
        lines = lines.len(),
    );
    println!("  duplicates: {matched}");
    if !summary.untranslated.is_empty() {
        println!(
            "  untranslated values (kept raw), by column (mapping {}):",
            summary.mapping
        );
        for ((column, value), count) in &summary.untranslated {
            println!("    {column}: {value:?} × {count}");
        }
    }
    if !summary.unknown_columns.is_empty() {
        println!(
            "  columns not read (neither in the mapping nor dropped by it): {}",
            summary.unknown_columns.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The progress of `maillage import` on stderr: a bar of the file's rows with the percentage and the time left when
/// stderr is a terminal, nothing otherwise (a hidden bar ignores every update), so that scripts, logs and pipes get
/// only the summary.
fn import_bar(terminal: bool) -> ProgressBar {
    if !terminal {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{wide_bar} {human_pos}/{human_len} rows ({percent}%) · {per_sec} · {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Feeds `bar` from the import's (rows done, rows in the file) callback. Once every row is read, what is left
/// (writing them all in one transaction, then matching duplicates) has no row count: the bar becomes a spinner
/// that says so, rather than sitting at 100 % while the longest step runs.
fn import_progress(bar: ProgressBar) -> maillage_sites::import::Progress {
    maillage_sites::import::Progress::new(move |done, total| {
        if total > 0 && bar.length() != Some(total) {
            bar.set_length(total);
        }
        bar.set_position(done);
        if total > 0 && done >= total && !bar.is_hidden() {
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(format!("{total} rows read; publishing them"));
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        }
        std::ops::ControlFlow::Continue(())
    })
}

fn write_report(path: &PathBuf, lines: &[ReportLine]) -> Result<(), csv::Error> {
    let mut w = maillage_core::csv::Writer::from_path(path)?;
    w.write_record(["location", "id", "outcome", "field", "reason"])?;
    for l in lines {
        w.write_record([
            l.location.to_string(),
            l.source_id.clone().unwrap_or_default(),
            l.kind.to_string(),
            l.field.clone(),
            l.reason.clone(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

async fn token(db_config: &DbConfig, action: TokenAction) -> Result<ExitCode, String> {
    let db = open_for_command(
        db_config.database_url.expose_secret(),
        db_config.max_connections,
    )
    .await?;
    let actor = Actor::cli();
    let fail = |e: maillage_access::AccessError| format!("{e} [{}]", e.code());
    match action {
        TokenAction::Create {
            role,
            hub,
            name,
            expires,
        } => {
            let role = maillage_core::Role::parse(&role).ok_or_else(|| {
                format!("unknown role {role:?}: use partner, hub_coordinator, bdt_reviewer, ami_applicant or admin")
            })?;
            let hub = match hub {
                Some(slug) => Some(
                    maillage_territories::hub_by_slug(&db, &slug)
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("no hub with slug {slug:?}"))?
                        .id,
                ),
                None => None,
            };
            let expires_at = expires
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc());
            let (token, secret) = maillage_access::create_token(
                &db,
                &actor,
                maillage_access::NewToken {
                    name,
                    role,
                    hub,
                    expires_at,
                },
            )
            .await
            .map_err(fail)?;
            eprintln!(
                "token {} created for {:?} (role {}); its secret is shown once, below:",
                token.id, token.name, token.role
            );
            println!("{secret}");
        }
        TokenAction::List => {
            let tokens = maillage_access::list_tokens(&db, &actor)
                .await
                .map_err(fail)?;
            let hubs: std::collections::HashMap<maillage_core::HubId, String> =
                maillage_territories::list_hubs(&db)
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|h| (h.id, h.slug))
                    .collect();
            let now = chrono::Utc::now();
            println!("id\tname\trole\thub\tprefix\tstatus\tcreated\texpires\trevoked");
            for t in tokens {
                let when = |d: Option<chrono::DateTime<chrono::Utc>>| {
                    d.map(|d| d.to_rfc3339()).unwrap_or_default()
                };
                let status = match (t.revoked_at, t.is_invitation(), t.is_expired(now)) {
                    (Some(_), true, _) => "invitation-used",
                    (Some(_), false, _) => "revoked",
                    (None, _, true) => "EXPIRED",
                    (None, true, false) => "invitation",
                    (None, false, false) => "active",
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}…\t{}\t{}\t{}\t{}",
                    t.id,
                    t.name,
                    t.role,
                    t.hub
                        .map(|h| hubs.get(&h).cloned().unwrap_or_else(|| h.to_string()))
                        .unwrap_or_default(),
                    t.prefix,
                    status,
                    t.created_at.to_rfc3339(),
                    when(t.expires_at),
                    when(t.revoked_at),
                );
            }
        }
        TokenAction::Revoke { id } => {
            let t = maillage_access::revoke_token(&db, &actor, id)
                .await
                .map_err(fail)?;
            println!("token {} ({}) revoked", t.id, t.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(db_config: &DbConfig, args: ExportArgs) -> Result<ExitCode, String> {
    if StandardVersion::parse(&args.standard) != Some(StandardVersion::V1_0) {
        return Err(format!(
            "unknown or unsupported export standard {:?}: only v1 (1.0.2) is written",
            args.standard
        ));
    }
    let department = args
        .department
        .as_deref()
        .map(DepartmentCode::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    let scope = ExportScope {
        hub: args.hub,
        department,
    };
    let db = open_for_command(
        db_config.database_url.expose_secret(),
        db_config.max_connections,
    )
    .await?;
    let actor = Actor::cli();
    let count = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            export_v1(
                &db,
                &actor,
                &scope,
                args.with_emails,
                std::io::BufWriter::new(file),
            )
            .await
        }
        None => export_v1(&db, &actor, &scope, args.with_emails, stdout()).await,
    }
    .map_err(|e| format!("{e} [{}]", e.code()))?;
    eprintln!("exported {count} sites");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::Cli;
    use clap::CommandFactory;
    use std::collections::BTreeMap;

    /// Every environment variable the command line reads, with its default (`None`: unset by default), from clap's
    /// own model of the configuration: what the binary really does, not what a grep guesses.
    fn variables() -> BTreeMap<String, Option<String>> {
        fn walk(cmd: &clap::Command, out: &mut BTreeMap<String, Option<String>>) {
            for arg in cmd.get_arguments() {
                if let Some(env) = arg.get_env() {
                    let default = arg
                        .get_default_values()
                        .first()
                        .map(|v| v.to_string_lossy().into_owned());
                    out.insert(env.to_string_lossy().into_owned(), default);
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, out);
            }
        }
        let mut out = BTreeMap::new();
        walk(&Cli::command(), &mut out);
        out
    }

    fn repo_file(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The README's configuration table lists exactly the variables the code reads, with their real defaults.
    #[test]
    fn readme_configuration_table_matches_the_code() {
        let readme = repo_file("README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .expect("README has a Configuration section");
        let section = section.split("\n## ").next().unwrap_or_default();
        let mut table = BTreeMap::new();
        for line in section.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_owned();
            let default = match cells[2] {
                "(unset)" => None,
                other => Some(other.trim_matches('`').to_owned()),
            };
            assert!(
                table.insert(name.clone(), default).is_none(),
                "{name} twice in the table"
            );
        }
        let code = variables();
        assert!(code.len() > 20, "clap's model lost variables: {code:?}");
        for (name, default) in &code {
            match table.get(name) {
                None => panic!("{name} is read by the code but missing from the README table"),
                Some(documented) => assert_eq!(
                    documented, default,
                    "README default of {name} differs from the code's"
                ),
            }
        }
        for name in table.keys() {
            assert!(
                code.contains_key(name),
                "the README table documents {name}, which the code does not read"
            );
        }
    }

    /// `.env.example` names every variable (commented out when unset by default), and the values it sets are the
    /// defaults: copying it changes nothing until an operator edits it.
    #[test]
    fn env_example_matches_the_code() {
        let example = repo_file(".env.example");
        let mut listed = BTreeMap::new();
        for line in example.lines() {
            let line = line.trim();
            let (commented, assignment) = match line.strip_prefix("# ") {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let Some((name, value)) = assignment.split_once('=') else {
                continue;
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                continue;
            }
            listed.insert(name.to_owned(), (commented, value.to_owned()));
        }
        let code = variables();
        for (name, default) in &code {
            let (commented, value) = listed.get(name).unwrap_or_else(|| {
                panic!("{name} is read by the code but missing from .env.example")
            });
            match default {
                Some(default) if !commented => {
                    assert_eq!(
                        value, default,
                        ".env.example sets {name} to a non-default value"
                    );
                }
                Some(_) => {}
                None => assert!(
                    commented,
                    "{name} is unset by default: .env.example must leave it commented out"
                ),
            }
        }
        for name in listed.keys() {
            assert!(
                code.contains_key(name),
                ".env.example lists {name}, which the code does not read"
            );
        }
    }

    /// clap is the only reader of the environment in the application's code: a `std::env::var` elsewhere would
    /// escape the table above.
    #[test]
    fn no_environment_read_outside_the_typed_configuration() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut offenders = Vec::new();
        let mut stack = vec![root.join("crates"), root.join("migrations")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    // Test and bench code (testkit, tests/, benches/) reads TEST_DATABASE_URL and the like: not
                    // configuration.
                    let name = path.file_name().unwrap_or_default();
                    if name != "tests" && name != "testkit" && name != "benches" && name != "target"
                    {
                        stack.push(path);
                    }
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                    if code.contains("env::var(") || code.contains("env::var_os(") {
                        offenders.push(path.display().to_string());
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "environment read outside clap: {offenders:?}"
        );
    }
}
