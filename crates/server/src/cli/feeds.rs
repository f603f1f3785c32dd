//! `maillage feed create|list|update`, and `maillage import --feed`: feeds as the operator (an admin) manages them,
//! and a file imported as a job of its feed, through the same service as the HTTP upload.

use crate::config::DbConfig;
use crate::db::open_for_command;
use clap::Subcommand;
use maillage_core::{Actor, ErrorCode, HubId};
use maillage_sites::SitesError;
use maillage_sites::feeds::{self, Feed, FeedPatch, NewFeed};
use maillage_sites::jobs::{self, JobStatus};
use sea_orm::DatabaseConnection;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `maillage feed …`.
#[derive(Debug, Subcommand)]
pub(crate) enum FeedAction {
    /// Create a feed: a named source of sites, owned by a hub (or national without `--hub`).
    Create {
        /// Stable key in URLs and on the command line (lower-case letters, digits, `-`).
        slug: String,
        /// Display name (default: the slug).
        #[arg(long, default_value = "")]
        name: String,
        /// The `source` of the sites it stores (default: the slug); never changes afterwards.
        #[arg(long)]
        source: Option<String>,
        /// The owning hub (slug); none for a national feed.
        #[arg(long)]
        hub: Option<String>,
        /// A built-in mapping's name.
        #[arg(long, conflicts_with = "mapping_file")]
        mapping: Option<String>,
        /// A mapping file (TOML) stored on the feed.
        #[arg(long)]
        mapping_file: Option<PathBuf>,
        /// Each file is the whole feed: sites absent from it are archived.
        #[arg(long)]
        complete: bool,
        /// The feed's values win over edits made through the API.
        #[arg(long)]
        feed_wins: bool,
        /// Largest share (0 to 1) of a complete feed that one file may archive unless forced.
        #[arg(long)]
        max_archive_share: Option<f64>,
    },
    /// List feeds.
    List,
    /// Change a feed's name, mapping or policy.
    Update {
        /// The feed's slug.
        slug: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// Use this built-in mapping.
        #[arg(long, conflicts_with_all = ["mapping_file", "no_mapping"])]
        mapping: Option<String>,
        /// Store this mapping file (TOML) on the feed.
        #[arg(long, conflicts_with = "no_mapping")]
        mapping_file: Option<PathBuf>,
        /// Remove the feed's mapping (files in the national standard's own layout).
        #[arg(long)]
        no_mapping: bool,
        /// Complete (`true`) or partial (`false`) files.
        #[arg(long)]
        complete: Option<bool>,
        /// Whether the feed's values win over API edits.
        #[arg(long)]
        feed_wins: Option<bool>,
        /// Largest share (0 to 1) one file may archive unless forced.
        #[arg(long)]
        max_archive_share: Option<f64>,
    },
}

fn fail(e: &SitesError) -> String {
    format!("{e} [{}]", e.code())
}

fn read_mapping(path: Option<&Path>) -> Result<Option<String>, String> {
    path.map(|p| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    })
    .transpose()
}

async fn hub_id(db: &DatabaseConnection, slug: &str) -> Result<HubId, String> {
    maillage_territories::hub_by_slug(db, slug)
        .await
        .map_err(|e| e.to_string())?
        .map(|h| h.id)
        .ok_or_else(|| format!("no hub with slug {slug:?}"))
}

async fn describe(db: &DatabaseConnection, feed: &Feed) -> Result<String, String> {
    let owner = match feed.hub {
        Some(id) => maillage_territories::list_hubs(db)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|h| h.id == id)
            .map_or_else(|| id.to_string(), |h| h.slug),
        None => "(national)".to_owned(),
    };
    let mapping = match (&feed.mapping, &feed.mapping_toml) {
        (Some(name), _) => name.clone(),
        (None, Some(text)) => format!("(own, {} bytes)", text.len()),
        (None, None) => "(national standard)".to_owned(),
    };
    Ok(format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        feed.slug,
        feed.name,
        feed.source,
        owner,
        mapping,
        if feed.complete { "complete" } else { "partial" },
        if feed.feed_wins {
            "feed_wins"
        } else {
            "edits_win"
        },
        feed.max_archive_share,
    ))
}

const HEADER: &str = "slug\tname\tsource\thub\tmapping\tfiles\tprecedence\tmax_archive_share";

/// Runs `maillage feed …` as the operator.
pub(crate) async fn run(db_config: &DbConfig, action: FeedAction) -> Result<ExitCode, String> {
    let db = open_for_command(
        db_config.database_url.expose_secret(),
        db_config.max_connections,
    )
    .await?;
    let actor = Actor::cli();
    match action {
        FeedAction::Create {
            slug,
            name,
            source,
            hub,
            mapping,
            mapping_file,
            complete,
            feed_wins,
            max_archive_share,
        } => {
            let hub = match hub {
                Some(slug) => Some(hub_id(&db, &slug).await?),
                None => None,
            };
            let feed = feeds::create_feed(
                &db,
                &actor,
                NewFeed {
                    slug,
                    name,
                    source,
                    hub,
                    mapping,
                    mapping_toml: read_mapping(mapping_file.as_deref())?,
                    complete,
                    feed_wins,
                    max_archive_share,
                },
            )
            .await
            .map_err(|e| fail(&e))?;
            println!("{HEADER}\n{}", describe(&db, &feed).await?);
        }
        FeedAction::List => {
            println!("{HEADER}");
            for feed in feeds::list_feeds(&db, &actor).await.map_err(|e| fail(&e))? {
                println!("{}", describe(&db, &feed).await?);
            }
        }
        FeedAction::Update {
            slug,
            name,
            mapping,
            mapping_file,
            no_mapping,
            complete,
            feed_wins,
            max_archive_share,
        } => {
            let current = feeds::get_feed(&db, &actor, &slug)
                .await
                .map_err(|e| fail(&e))?;
            let toml = read_mapping(mapping_file.as_deref())?;
            // A new mapping of one kind replaces one of the other kind.
            let (mapping, mapping_toml) = match (no_mapping, mapping, toml) {
                (true, _, _) => (Some(None), Some(None)),
                (false, Some(m), _) => (Some(Some(m)), Some(None)),
                (false, None, Some(t)) => (Some(None), Some(Some(t))),
                (false, None, None) => (None, None),
            };
            let feed = feeds::update_feed(
                &db,
                &actor,
                &slug,
                current.version,
                FeedPatch {
                    name,
                    mapping,
                    mapping_toml,
                    complete,
                    feed_wins,
                    max_archive_share,
                },
            )
            .await
            .map_err(|e| fail(&e))?;
            println!("{HEADER}\n{}", describe(&db, &feed).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `maillage import FILE --feed SLUG`: a job of the feed, run here and now with the feed's settings; the report is
/// written to `report`. Exits 1 when the job fails (nothing stored).
pub(crate) async fn import_with_feed(
    db_config: &DbConfig,
    metrics_textfile: Option<&Path>,
    file: &Path,
    feed_slug: &str,
    report: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let db = open_for_command(
        db_config.database_url.expose_secret(),
        db_config.max_connections,
    )
    .await?;
    let actor = Actor::cli();
    let path =
        std::fs::canonicalize(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (feed, job) = jobs::create_job(&db, &actor, feed_slug, &file_name, &path)
        .await
        .map_err(|e| fail(&e))?;
    let job = jobs::run_job(&db, &actor, job.id)
        .await
        .map_err(|e| fail(&e))?;
    if job.status != JobStatus::Succeeded {
        return Err(format!(
            "import job {} of feed {:?} failed: {}\nnothing was imported",
            job.id,
            feed.slug,
            job.error.unwrap_or_default()
        ));
    }
    let (_, csv) = jobs::job_report_csv(&db, &actor, job.id)
        .await
        .map_err(|e| fail(&e))?;
    let report =
        report.unwrap_or_else(|| PathBuf::from(format!("import-report-{}.csv", feed.slug)));
    std::fs::write(&report, &csv)
        .map_err(|e| format!("cannot write the report {}: {e}", report.display()))?;
    let c = job.counts;
    crate::cli::record_import(
        metrics_textfile,
        "sites",
        c.created,
        c.updated,
        c.unchanged,
        c.rejected,
    );
    println!(
        "{file}: {rows} rows read (feed {feed}, source {source}, job {job})\n  stored:    {stored} (created {created}, updated {updated}, unchanged {unchanged})\n  rejected:  {rejected}\n  corrected: {corrected} stored rows had fields corrected or dropped\n  changes:   {changes}\n  report:    {report}",
        file = file.display(),
        rows = job.rows_done,
        feed = feed.slug,
        source = feed.source,
        job = job.id,
        stored = c.stored(),
        created = c.created,
        updated = c.updated,
        unchanged = c.unchanged,
        rejected = c.rejected,
        corrected = c.corrected,
        changes = c.created + c.updated,
        report = report.display(),
    );
    Ok(ExitCode::SUCCESS)
}
