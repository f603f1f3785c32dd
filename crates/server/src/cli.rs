//! The `maillage` command line.

use crate::app::{AppState, build_app, serve};
use crate::config::{DbConfig, ServeConfig};
use crate::db::{open_ready, redact};
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

/// Maillage: the GraphQL data hub of the hubs territoriaux pour un numérique inclusif.
#[derive(Debug, Parser)]
#[command(name = "maillage", version, about)]
pub struct Cli {
    #[command(flatten)]
    db: DbConfig,

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
    /// Import a file of the national standard "lieux de médiation numérique" (CSV or JSON, v0.1 or v1).
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
    /// Export AMI dossiers or their scores (CSV).
    Ami {
        #[command(subcommand)]
        action: ami::AmiAction,
    },
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Create a token and print its secret (shown once, never stored).
    Create {
        /// Role: partner, hub_coordinator, bdt_reviewer, ami_applicant or admin.
        #[arg(long)]
        role: String,
        /// Hub slug, for hub_coordinator tokens.
        #[arg(long)]
        hub: Option<String>,
        /// Who or what uses the token (appears in the audit log).
        #[arg(long)]
        name: String,
        /// Last day the token works (YYYY-MM-DD, inclusive, UTC).
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
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The file to import.
    file: PathBuf,
    /// Name of the source (e.g. hinaura): with each row's id, the identity of a site.
    #[arg(long)]
    source: String,
    /// File format, when the extension does not tell.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Standard version (v0.1 or v1), when the columns do not tell.
    #[arg(long)]
    standard: Option<String>,
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

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match dispatch(cli).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode, String> {
    let db_config = cli.db;
    let command = match cli.command {
        Some(command) => command,
        // No subcommand means `serve`: parse again with it, so its flags and MAILLAGE_* variables apply.
        None => Cli::parse_from(std::env::args().chain(["serve".to_owned()]))
            .command
            .unwrap_or(Command::Serve(ServeConfig::default())),
    };
    match command {
        Command::Schema => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", maillage_graphql::sdl().trim_end()).map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(config) => {
            tracing::info!(database = %redact(&db_config.database_url), "opening the database");
            let db = open_ready(&db_config.database_url, db_config.max_connections)
                .await
                .map_err(|e| format!("cannot open the database: {e}"))?;
            let app = build_app(AppState::new(db, &config), &config);
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(
                "GraphQL API on http://{addr}/graphql (open it in a browser for GraphiQL)"
            );
            serve(listener, app).await.map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { action } => {
            let db = maillage_core::db::connect(&db_config.database_url, 1, None)
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
        Command::Import(args) => import(&db_config, args).await,
        Command::Token { action } => token(&db_config, action).await,
        Command::Export(args) => export(&db_config, args).await,
        Command::Aidants { action } => aidants::run(&db_config, action).await,
        Command::Counsellors { action } => counsellors::run(&db_config, action).await,
        Command::Ami { action } => ami::run(&db_config, action).await,
    }
}

async fn import(db_config: &DbConfig, args: ImportArgs) -> Result<ExitCode, String> {
    let version = args
        .standard
        .as_deref()
        .map(|s| {
            StandardVersion::parse(s).ok_or_else(|| {
                format!("unknown standard version {s:?}: use v0.1 (0.1.1) or v1 (1.0.2)")
            })
        })
        .transpose()?;
    let options = ImportOptions {
        source: args.source.clone(),
        format: args.format.map(|f| match f {
            FormatArg::Csv => FileFormat::Csv,
            FormatArg::Json => FileFormat::Json,
        }),
        version,
    };
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("import-report-{}.csv", args.source)));
    let db = open_ready(&db_config.database_url, db_config.max_connections)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;

    // The report goes to a temporary file first: a refused import must not leave a report that looks real.
    let mut lines: Vec<ReportLine> = Vec::new();
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos} rows imported ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Some(bar)
    } else {
        None
    };
    let progress = |n: u64| {
        if let Some(bar) = &bar {
            bar.set_position(n);
        }
    };
    let result = import_file(
        &db,
        &Actor::cli(),
        &args.file,
        &options,
        &mut |line: &ReportLine| lines.push(line.clone()),
        &progress,
    )
    .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
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
    if !summary.unknown_columns.is_empty() {
        println!(
            "  ignored columns (not in the standard): {}",
            summary.unknown_columns.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn write_report(path: &PathBuf, lines: &[ReportLine]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_path(path)?;
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
    let db = open_ready(&db_config.database_url, db_config.max_connections)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
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
            println!("id\tname\trole\thub\tprefix\tcreated\texpires\trevoked");
            for t in tokens {
                let when = |d: Option<chrono::DateTime<chrono::Utc>>| {
                    d.map(|d| d.to_rfc3339()).unwrap_or_default()
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}…\t{}\t{}\t{}",
                    t.id,
                    t.name,
                    t.role,
                    t.hub.map(|h| h.to_string()).unwrap_or_default(),
                    t.prefix,
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
    let db = open_ready(&db_config.database_url, db_config.max_connections)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
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
        None => {
            export_v1(
                &db,
                &actor,
                &scope,
                args.with_emails,
                std::io::stdout().lock(),
            )
            .await
        }
    }
    .map_err(|e| format!("{e} [{}]", e.code()))?;
    eprintln!("exported {count} sites");
    Ok(ExitCode::SUCCESS)
}
