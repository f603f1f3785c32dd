//! `maillage ami export applications|scores`: the AMI's CSV exports, as the operator (an admin) sees them.
//!
//! The same files as `GET /ami/export/…` (which reviewers use with their token), for scripts on the server.

use crate::config::DbConfig;
use crate::db::open_for_command;
use clap::{Subcommand, ValueEnum};
use maillage_ami::{ApplicationFilter, Status};
use maillage_core::{Actor, DepartmentCode, ErrorCode, RegionCode};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The two AMI exports.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ExportArg {
    /// One line per dossier, with its score summary.
    Applications,
    /// One line per score of every score sheet.
    Scores,
}

/// `maillage ami …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AmiAction {
    /// Export dossiers or scores as CSV (UTF-8, `,`, header row; amounts in euros).
    Export {
        /// Which export.
        #[arg(value_enum)]
        what: ExportArg,
        /// Only this campaign (code, e.g. AMI-HUBS-2020).
        #[arg(long)]
        campaign: Option<String>,
        /// Only these statuses (comma-separated: draft, submitted, under_review, changes_requested, resubmitted,
        /// selected, rejected, withdrawn).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Only dossiers covering these departments (INSEE codes, comma-separated).
        #[arg(long, value_delimiter = ',')]
        department: Vec<String>,
        /// Only dossiers covering departments of these regions (INSEE codes, comma-separated).
        #[arg(long, value_delimiter = ',')]
        region: Vec<String>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Runs `maillage ami …` as the operator (`Actor::cli`, an admin).
pub(crate) async fn run(db_config: &DbConfig, action: AmiAction) -> Result<ExitCode, String> {
    let AmiAction::Export {
        what,
        campaign,
        status,
        department,
        region,
        output,
    } = action;
    let db = open_for_command(
        db_config.database_url.expose_secret(),
        db_config.max_connections,
    )
    .await?;
    let campaign = match campaign {
        Some(code) => Some(
            maillage_ami::campaign_by_code(&db, &code)
                .await
                .map_err(|e| format!("{e} [{}]", e.code()))?
                .ok_or_else(|| format!("no campaign with code {code:?}"))?
                .id,
        ),
        None => None,
    };
    let statuses = status
        .iter()
        .map(|s| Status::parse(s).ok_or_else(|| format!("unknown status {s:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let departments = department
        .iter()
        .map(|d| DepartmentCode::parse(d).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let regions = region
        .iter()
        .map(|r| RegionCode::parse(r).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let filter = ApplicationFilter {
        campaign,
        statuses: non_empty(statuses),
        regions: non_empty(regions),
        departments: non_empty(departments),
        qpv: None,
        acv: None,
    };
    let actor = Actor::cli();
    let csv = match what {
        ExportArg::Applications => {
            maillage_ami::export_applications_csv(&db, &actor, &filter).await
        }
        ExportArg::Scores => maillage_ami::export_scores_csv(&db, &actor, &filter).await,
    }
    .map_err(|e| format!("{e} [{}]", e.code()))?;
    match &output {
        Some(path) => std::fs::write(path, &csv)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => super::stdout()
            .write_all(csv.as_bytes())
            .map_err(|e| e.to_string())?,
    }
    eprintln!("exported {} lines", csv.lines().count().saturating_sub(1));
    Ok(ExitCode::SUCCESS)
}
