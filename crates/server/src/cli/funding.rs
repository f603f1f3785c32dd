//! `maillage funding import grants|pass FILE`: historical grants (with their real decision, signature and closing
//! dates) and Pass numérique programmes, all or nothing, with a per-row report.
//!
//! Grants are checked exactly as through the API: their beneficiary through the same directory (host structures,
//! hubs, AMI dossiers, collectivités in their own domains) and a host structure's amount against the rule in force
//! at its decision date. Columns: see `maillage_funding::import`.

use crate::config::DbConfig;
use crate::db::open_for_command;
use clap::{Subcommand, ValueEnum};
use maillage_core::{Actor, ErrorCode};
use maillage_funding::import::{ImportSummary, ReportLine, import_grants, import_pass};
use maillage_graphql::funding::beneficiaries::Directory;
use std::path::PathBuf;
use std::process::ExitCode;

/// The two funding files.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum FileArg {
    /// Grants (conventions) with their decision, signature and closing dates.
    Grants,
    /// Pass numérique programmes, committed in the PASS envelope (or the one named) at their signature date.
    Pass,
}

/// `maillage funding …`.
#[derive(Debug, Subcommand)]
pub(crate) enum FundingAction {
    /// Import a CSV file (`,` or `;`, UTF-8, header row): every row is checked, then all are stored or none.
    Import {
        /// Which file it is.
        #[arg(value_enum)]
        kind: FileArg,
        /// The CSV file.
        file: PathBuf,
        /// Where to write the per-row report (default: `funding-import-report-KIND.csv`).
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

/// Runs `maillage funding …` as the operator (`Actor::cli`, an admin).
pub(crate) async fn run(
    db_config: &DbConfig,
    metrics_textfile: Option<&std::path::Path>,
    action: FundingAction,
) -> Result<ExitCode, String> {
    let db = open_for_command(
        db_config.database_url.expose_secret(),
        db_config.max_connections,
    )
    .await?;
    let actor = Actor::cli();
    let FundingAction::Import { kind, file, report } = action;
    let name = match kind {
        FileArg::Grants => "grants",
        FileArg::Pass => "pass",
    };
    let report_path =
        report.unwrap_or_else(|| PathBuf::from(format!("funding-import-report-{name}.csv")));
    let mut lines: Vec<ReportLine> = Vec::new();
    let mut collect = |l: &ReportLine| lines.push(l.clone());
    let result = match kind {
        FileArg::Grants => {
            let directory = Directory {
                db: &db,
                actor: &actor,
            };
            import_grants(&db, &actor, &directory, &file, &mut collect).await
        }
        FileArg::Pass => import_pass(&db, &actor, &file, &mut collect).await,
    };
    // The report is written whatever the outcome: a refused file is fixed from it.
    write_report(&report_path, &lines)
        .map_err(|e| format!("cannot write the report {}: {e}", report_path.display()))?;
    let summary: ImportSummary = match result {
        Ok(summary) => summary,
        Err(e) => {
            for l in lines.iter().filter(|l| l.outcome == "rejected") {
                eprintln!("line {}: {}: {}", l.line, l.field, l.reason);
            }
            return Err(format!(
                "{e}\nnothing was imported [{}]; report: {} ({} lines)",
                e.code(),
                report_path.display(),
                lines.len()
            ));
        }
    };
    crate::cli::record_import(
        metrics_textfile,
        &format!("funding_{name}"),
        summary.created,
        0,
        0,
        summary.rejected,
    );
    println!(
        "{file}: {rows} rows read ({name})\n  created:   {created}\n  rejected:  {rejected}\n  report:    {report} ({lines} lines)",
        file = file.display(),
        rows = summary.rows,
        created = summary.created,
        rejected = summary.rejected,
        report = report_path.display(),
        lines = lines.len(),
    );
    Ok(ExitCode::SUCCESS)
}

fn write_report(path: &PathBuf, lines: &[ReportLine]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(["line", "key", "outcome", "field", "reason"])?;
    for l in lines {
        w.write_record([
            l.line.to_string(),
            l.key.clone().unwrap_or_default(),
            l.outcome.to_owned(),
            l.field.clone(),
            l.reason.clone(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
