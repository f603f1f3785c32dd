//! `maillage dedup run|report`: cross-source duplicate matching on demand, and its report as CSV.

use crate::config::DbConfig;
use crate::db::open_for_command;
use clap::Subcommand;
use maillage_core::ErrorCode;
use maillage_sites::dedup::{MatchOptions, dedup_report, match_sites, write_report_csv};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `maillage dedup …`.
#[derive(Debug, Subcommand)]
pub(crate) enum DedupAction {
    /// Match every source record against the others and store the candidate pairs (decided pairs stay decided).
    Run {
        /// Confirm pairs scoring at least `--threshold` without review (audit-logged as the actor `dedup`).
        #[arg(long)]
        auto_confirm: bool,
        /// The auto-confirmation threshold, in [0, 1].
        #[arg(long, default_value_t = MatchOptions::RECOMMENDED_THRESHOLD)]
        threshold: f64,
    },
    /// Write per hub, per source and per origin: rows, candidates, confirmed, auto-confirmed, rejected, pending.
    Report {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn failed(e: &maillage_sites::SitesError) -> String {
    format!("{e} [{}]", e.code())
}

/// Runs `maillage dedup …` as the operator.
pub(crate) async fn run(db_config: &DbConfig, action: DedupAction) -> Result<ExitCode, String> {
    let db = open_for_command(
        db_config.database_url.expose_secret(),
        db_config.max_connections,
    )
    .await?;
    match action {
        DedupAction::Run {
            auto_confirm,
            threshold,
        } => {
            if !(0.0..=1.0).contains(&threshold) {
                return Err(format!("--threshold {threshold} is not within [0, 1]"));
            }
            let options = MatchOptions {
                auto_confirm_at: auto_confirm.then_some(threshold),
            };
            let started = std::time::Instant::now();
            let s = match_sites(&db, &options).await.map_err(|e| failed(&e))?;
            println!(
                "{records} source records compared, {candidates} candidate pairs (matching {matching} ms, total {total} ms)\n  new pending: {created}\n  updated:     {updated}\n  auto-confirmed: {auto}\n  already decided: {decided}\n  withdrawn:   {withdrawn}",
                records = s.records,
                candidates = s.candidates,
                matching = s.matching_ms,
                total = started.elapsed().as_millis(),
                created = s.created,
                updated = s.updated,
                auto = s.auto_confirmed,
                decided = s.already_decided,
                withdrawn = s.withdrawn,
            );
        }
        DedupAction::Report { output } => {
            let lines = dedup_report(&db).await.map_err(|e| failed(&e))?;
            let mut buffer = Vec::new();
            write_report_csv(&lines, &mut buffer).map_err(|e| failed(&e))?;
            match output {
                Some(path) => std::fs::write(&path, buffer)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
                None => super::stdout()
                    .write_all(&buffer)
                    .map_err(|e| e.to_string())?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Matches what an import just created or changed (`maillage import` calls it after its commit); returns a line
/// for the import's summary.
pub(crate) async fn after_import(
    db: &sea_orm::DatabaseConnection,
    source: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<String, String> {
    let s = maillage_sites::dedup::match_after_import(db, source, since, &MatchOptions::default())
        .await
        .map_err(|e| {
            format!(
                "the import is stored, but matching its rows failed: {}",
                failed(&e)
            )
        })?;
    Ok(format!(
        "{} candidate pairs for the changed rows ({} new, run `maillage dedup report` for the totals)",
        s.candidates, s.created
    ))
}
