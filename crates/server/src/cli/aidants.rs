//! `maillage aidants import|export`: the Aidants Connect files (organisations, aidants, monthly mandate aggregates).

use crate::config::DbConfig;
use crate::db::open_for_command;
use clap::{Subcommand, ValueEnum};
use maillage_aidants::Territory;
use maillage_aidants::export::{export_aidants, export_mandates, export_organisations};
use maillage_aidants::import::{ImportKind, ReportLine, import_file};
use maillage_core::{Actor, DepartmentCode, ErrorCode, RegionCode};
use std::path::PathBuf;
use std::process::ExitCode;

/// The three Aidants Connect files.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum KindArg {
    /// Organisations (identity: SIRET).
    Organisations,
    /// Aidants (identity: professional e-mail).
    Aidants,
    /// Monthly mandate aggregates (identity: SIRET, démarche, month, duration).
    Mandates,
}

impl From<KindArg> for ImportKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Organisations => Self::Organisations,
            KindArg::Aidants => Self::Aidants,
            KindArg::Mandates => Self::Mandates,
        }
    }
}

/// `maillage aidants …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AidantsAction {
    /// Import a CSV file; columns outside the file type's allow-list refuse the whole file.
    Import {
        /// Which file it is.
        #[arg(value_enum)]
        kind: KindArg,
        /// The CSV file (`,` or `;`, UTF-8, header row).
        file: PathBuf,
        /// Where to write the report of rejected rows (default: `aidants-import-report-KIND.csv`).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Export a list as CSV, with the columns of its import.
    Export {
        /// Which list.
        #[arg(value_enum)]
        kind: KindArg,
        /// Only the departments of this hub (slug).
        #[arg(long)]
        hub: Option<String>,
        /// Only this department (INSEE code).
        #[arg(long)]
        department: Option<String>,
        /// Only this region (INSEE code).
        #[arg(long)]
        region: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Runs `maillage aidants …` as the operator (`Actor::cli`).
pub(crate) async fn run(
    db_config: &DbConfig,
    metrics_textfile: Option<&std::path::Path>,
    action: AidantsAction,
) -> Result<ExitCode, String> {
    let db = open_for_command(
        db_config.database_url.expose_secret(),
        db_config.max_connections,
    )
    .await?;
    let actor = Actor::cli();
    match action {
        AidantsAction::Import { kind, file, report } => {
            let kind = ImportKind::from(kind);
            let report = report
                .unwrap_or_else(|| PathBuf::from(format!("aidants-import-report-{kind}.csv")));
            let mut lines: Vec<ReportLine> = Vec::new();
            let summary = import_file(&db, &actor, kind, &file, &mut |l| lines.push(l.clone()))
                .await
                .map_err(|e| format!("{e}\nnothing was imported [{}]", e.code()))?;
            write_report(&report, &lines)
                .map_err(|e| format!("cannot write the report {}: {e}", report.display()))?;
            crate::cli::record_import(
                metrics_textfile,
                &format!("aidants_{kind}"),
                summary.created,
                summary.updated,
                summary.unchanged,
                summary.rejected,
            );
            println!(
                "{file}: {rows} rows read ({kind})\n  stored:    {stored} (created {created}, updated {updated}, unchanged {unchanged})\n  rejected:  {rejected}\n  changes:   {changes}\n  report:    {report} ({lines} lines)",
                file = file.display(),
                rows = summary.rows,
                stored = summary.created + summary.updated + summary.unchanged,
                created = summary.created,
                updated = summary.updated,
                unchanged = summary.unchanged,
                rejected = summary.rejected,
                changes = summary.changes(),
                report = report.display(),
                lines = lines.len(),
            );
            Ok(ExitCode::SUCCESS)
        }
        AidantsAction::Export {
            kind,
            hub,
            department,
            region,
            output,
        } => {
            let territory = match (department, hub, region) {
                (None, None, None) => Territory::National,
                (Some(d), None, None) => {
                    Territory::Department(DepartmentCode::parse(&d).map_err(|e| e.to_string())?)
                }
                (None, Some(h), None) => Territory::Hub(h),
                (None, None, Some(r)) => {
                    Territory::Region(RegionCode::parse(&r).map_err(|e| e.to_string())?)
                }
                _ => return Err("give at most one of --department, --hub or --region".to_owned()),
            };
            let out: Box<dyn std::io::Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
                )),
                None => Box::new(super::stdout()),
            };
            let count = match kind {
                KindArg::Organisations => export_organisations(&db, &territory, out).await,
                KindArg::Aidants => export_aidants(&db, &actor, &territory, out).await,
                KindArg::Mandates => export_mandates(&db, &territory, out).await,
            }
            .map_err(|e| format!("{e} [{}]", e.code()))?;
            eprintln!("exported {count} rows");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_report(path: &PathBuf, lines: &[ReportLine]) -> Result<(), csv::Error> {
    let mut w = maillage_core::csv::Writer::from_path(path)?;
    w.write_record(["line", "key", "outcome", "field", "reason"])?;
    for l in lines {
        w.write_record([
            l.line.to_string(),
            l.key.clone().unwrap_or_default(),
            "rejected".to_owned(),
            l.field.clone(),
            l.reason.clone(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
