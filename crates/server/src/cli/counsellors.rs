//! `maillage counsellors import|export`: host structures (with their posts) and conseillers numériques as CSV.

use crate::config::DbConfig;
use crate::db::open_for_command;
use clap::{Subcommand, ValueEnum};
use maillage_core::{Actor, DepartmentCode, ErrorCode};
use maillage_counsellors::export::{
    CounsellorList, ExportScope, export_counsellors, export_structures,
};
use maillage_counsellors::import::{ReportLine, import_counsellors, import_structures};
use std::path::PathBuf;
use std::process::ExitCode;

/// The two files of the counsellors domain.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum FileArg {
    /// Host structures, each row optionally with one post request (identity: SIRET).
    Structures,
    /// Counsellors (identity: the national platform's id); their structures must be imported first.
    Counsellors,
}

/// The lists a hub exports.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ListArg {
    /// Every counsellor of the territory.
    Territory,
    /// Counsellors under contract with no site.
    WithoutSite,
    /// Host structures and their posts.
    Structures,
}

/// `maillage counsellors …`.
#[derive(Debug, Subcommand)]
pub(crate) enum CounsellorsAction {
    /// Import a CSV file (columns: see the counsellors crate's README); every row is stored or reported.
    Import {
        /// Which file it is.
        #[arg(value_enum)]
        kind: FileArg,
        /// The CSV file (`,` or `;`, UTF-8, header row).
        file: PathBuf,
        /// Where to write the report of rejected rows (default: `counsellors-import-report-KIND.csv`).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Export a list as CSV (counsellor lists use the import's columns, so they can be imported back).
    Export {
        /// Which list.
        #[arg(value_enum)]
        list: ListArg,
        /// Only the departments of this hub (slug).
        #[arg(long)]
        hub: Option<String>,
        /// Only this department (INSEE code).
        #[arg(long)]
        department: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Runs one `counsellors` subcommand as the CLI operator (an admin).
pub(crate) async fn run(
    db_config: &DbConfig,
    metrics_textfile: Option<&std::path::Path>,
    action: CounsellorsAction,
) -> Result<ExitCode, String> {
    let db = open_for_command(
        db_config.database_url.expose_secret(),
        db_config.max_connections,
    )
    .await?;
    let actor = Actor::cli();
    match action {
        CounsellorsAction::Import { kind, file, report } => {
            let mut lines: Vec<ReportLine> = Vec::new();
            let mut collect = |l: &ReportLine| lines.push(l.clone());
            let (name, result) = match kind {
                FileArg::Structures => (
                    "structures",
                    import_structures(&db, &actor, &file, &mut collect).await,
                ),
                FileArg::Counsellors => (
                    "counsellors",
                    import_counsellors(&db, &actor, &file, &mut collect).await,
                ),
            };
            let summary =
                result.map_err(|e| format!("{e}\nnothing was imported [{}]", e.code()))?;
            let report_path = report
                .unwrap_or_else(|| PathBuf::from(format!("counsellors-import-report-{name}.csv")));
            write_report(&report_path, &lines)
                .map_err(|e| format!("cannot write the report {}: {e}", report_path.display()))?;
            crate::cli::record_import(
                metrics_textfile,
                name,
                summary.created,
                summary.updated,
                summary.unchanged,
                summary.rejected,
            );
            println!(
                "{file}: {rows} rows read ({name})\n  stored:    {stored} (created {created}, updated {updated}, unchanged {unchanged})\n  rejected:  {rejected}\n  changes:   {changes}\n  report:    {report} ({lines} lines)",
                file = file.display(),
                rows = summary.rows,
                stored = summary.stored(),
                created = summary.created,
                updated = summary.updated,
                unchanged = summary.unchanged,
                rejected = summary.rejected,
                changes = summary.changes(),
                report = report_path.display(),
                lines = lines.len(),
            );
            if !summary.unknown_columns.is_empty() {
                println!("  ignored columns: {}", summary.unknown_columns.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        CounsellorsAction::Export {
            list,
            hub,
            department,
            output,
        } => {
            let department = department
                .as_deref()
                .map(DepartmentCode::parse)
                .transpose()
                .map_err(|e| e.to_string())?;
            let scope = ExportScope { hub, department };
            let out: Box<dyn std::io::Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
                )),
                None => Box::new(super::stdout()),
            };
            let count = match list {
                ListArg::Territory => {
                    export_counsellors(&db, &actor, CounsellorList::Territory, &scope, out).await
                }
                ListArg::WithoutSite => {
                    export_counsellors(&db, &actor, CounsellorList::WithoutSite, &scope, out).await
                }
                ListArg::Structures => export_structures(&db, &actor, &scope, out).await,
            }
            .map_err(|e| format!("{e} [{}]", e.code()))?;
            eprintln!("exported {count} rows");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_report(path: &PathBuf, lines: &[ReportLine]) -> Result<(), csv::Error> {
    let mut w = maillage_core::csv::Writer::from_path(path)?;
    w.write_record(["line", "id", "field", "reason"])?;
    for l in lines {
        w.write_record([
            l.line.to_string(),
            l.id.clone().unwrap_or_default(),
            l.field.clone(),
            l.reason.clone(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
