//! Import jobs: one file sent to a feed, imported outside the request that sent it, with its status, progress,
//! counts and row report kept as rows.
//!
//! A job is created `queued` (by the HTTP upload or `maillage import --feed`), then [`run_job`] moves it to
//! `running`, imports the file with the feed's settings through [`crate::import::import_file`] (the one import path)
//! and ends it `succeeded` with its counts and report, or `failed` with the reason. The import itself is all or
//! nothing, so a job that fails, or a process that dies under it, leaves the sites as they were;
//! [`fail_interrupted_jobs`] (run by the server at start) marks the jobs a dead process left `queued` or `running`
//! as failed.
//!
//! Several server instances may share one database: the process running a job renews the job's heartbeat every
//! second, and a job is declared interrupted only once its heartbeat is older than [`LEASE`] (a starting instance,
//! or [`watch_interrupted_jobs`] in every running one, never fails a job that another live instance is running).

use crate::SitesError;
use crate::entity::{feed, import_job, import_job_line};
use crate::feeds::{Feed, FeedId, can_manage_feed, feed_by_id, get_feed};
use crate::import::{FeedPolicy, ImportOptions, ImportSummary, Progress, ReportLine, import_file};
use crate::mapping::Mapping;
use chrono::{DateTime, Utc};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Code;
use maillage_core::pagination::{Cursor, Page, PageRequest};
use maillage_core::{Actor, ErrorCode, HubId, Role};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionSession,
    TransactionTrait,
};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Report lines written per statement.
const LINE_BATCH: usize = 500;

/// How often a running job's progress and heartbeat are written.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// How long a running job's heartbeat stays valid: a job whose heartbeat is older was interrupted (its process
/// stopped). Much longer than [`PROGRESS_EVERY`], so that a heartbeat delayed by a busy database is not mistaken
/// for a dead process.
pub const LEASE: Duration = Duration::from_secs(30);

/// How often [`watch_interrupted_jobs`] looks for interrupted jobs.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Staged rows of a command-line import (no job, hence no heartbeat) older than this belong to a dead process.
const STALE_RUN: Duration = Duration::from_secs(6 * 3600);

/// The jobs this process is running: its own sweeps never fail them, whatever their heartbeat says.
static RUNNING_HERE: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Removes a job from [`RUNNING_HERE`] when the run ends, however it ends.
struct RunningHere(i32);

impl RunningHere {
    fn new(id: JobId) -> Self {
        if let Ok(mut ids) = RUNNING_HERE.lock() {
            ids.push(id.0);
        }
        Self(id.0)
    }
}

impl Drop for RunningHere {
    fn drop(&mut self) {
        if let Ok(mut ids) = RUNNING_HERE.lock() {
            ids.retain(|i| *i != self.0);
        }
    }
}

fn running_here() -> Vec<i32> {
    RUNNING_HERE
        .lock()
        .map(|ids| ids.clone())
        .unwrap_or_default()
}

/// The error a job interrupted by a stopped process ends with.
pub const INTERRUPTED: &str =
    "interrupted: the server stopped during the import; nothing of this file was stored";

/// An import job's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub i32);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting to start.
    Queued,
    /// Importing.
    Running,
    /// Imported: the counts and the report are final.
    Succeeded,
    /// Nothing stored: the file was refused, the import failed, or the process running it stopped.
    Failed,
}

impl JobStatus {
    /// The stable name (`queued`, `running`, `succeeded`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// Whether the job is over.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job's rows became.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// New sites.
    pub created: u64,
    /// Sites whose content changed.
    pub updated: u64,
    /// Rows identical to what was stored.
    pub unchanged: u64,
    /// Rows not stored (each has report lines), including rows outside the caller's departments.
    pub rejected: u64,
    /// Stored rows with at least one corrected field.
    pub corrected: u64,
}

impl JobCounts {
    /// Rows stored (created, updated or unchanged).
    pub fn stored(&self) -> u64 {
        self.created + self.updated + self.unchanged
    }
}

/// An import job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJob {
    /// Database id.
    pub id: JobId,
    /// The feed imported into.
    pub feed: FeedId,
    /// The file's name as sent.
    pub file_name: String,
    /// Status.
    pub status: JobStatus,
    /// Rows handled so far.
    pub rows_done: u64,
    /// Rows in the file, once known.
    pub rows_total: Option<u64>,
    /// What the rows became (final once succeeded).
    pub counts: JobCounts,
    /// Why it failed.
    pub error: Option<String>,
    /// Who sent the file (the actor's label).
    pub created_by: String,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
    /// When the import started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

fn stored_count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl TryFrom<import_job::Model> for ImportJob {
    type Error = SitesError;

    fn try_from(m: import_job::Model) -> Result<Self, SitesError> {
        let status = JobStatus::parse(&m.status).ok_or_else(|| SitesError::CorruptRow {
            id: m.id,
            detail: format!("import job status {:?}", m.status),
        })?;
        Ok(Self {
            id: JobId(m.id),
            feed: FeedId(m.feed_id),
            file_name: m.file_name,
            status,
            rows_done: count(m.rows_done),
            rows_total: m.rows_total.map(count),
            counts: JobCounts {
                created: count(m.created),
                updated: count(m.updated),
                unchanged: count(m.unchanged),
                rejected: count(m.rejected),
                corrected: count(m.corrected),
            },
            error: m.error,
            created_by: m.created_by,
            created_at: m.created_at,
            started_at: m.started_at,
            finished_at: m.finished_at,
        })
    }
}

/// One line of a job's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLine {
    /// Sequence number within the database (increasing in report order).
    pub id: i32,
    /// Where the row is in the file (`line 3` for CSV, `index 2` for JSON).
    pub location: String,
    /// The row's id in its source, when it has one.
    pub source_id: Option<String>,
    /// What happened (`rejected`, `corrected`, …).
    pub outcome: String,
    /// The field concerned.
    pub field: String,
    /// Why, in plain words.
    pub reason: String,
    /// The values concerned, when the line has them (JSON).
    pub detail: Option<String>,
}

impl From<import_job_line::Model> for JobLine {
    fn from(m: import_job_line::Model) -> Self {
        Self {
            id: m.id,
            location: m.location,
            source_id: m.source_id,
            outcome: m.outcome,
            field: m.field,
            reason: m.reason,
            detail: m.detail,
        }
    }
}

/// Whether `actor` may send files to `feed`: whoever manages it.
fn may_import(actor: &Actor, feed: &Feed) -> bool {
    can_manage_feed(actor, feed.hub)
}

/// Creates a `queued` job for the file at `file_path` (already stored by the caller) sent to the feed `feed_slug`.
/// Refused unless the caller manages the feed.
#[tracing::instrument(skip_all, fields(feed.slug = %feed_slug))]
pub async fn create_job<C: TransactionTrait>(
    db: &C,
    actor: &Actor,
    feed_slug: &str,
    file_name: &str,
    file_path: &Path,
) -> Result<(Feed, ImportJob), SitesError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let feed = get_feed(&txn, actor, feed_slug).await?;
    if !may_import(actor, &feed) {
        return Err(SitesError::UnknownFeed(feed_slug.to_owned()));
    }
    let file_name: String = file_name.trim().chars().take(255).collect();
    let model = import_job::ActiveModel {
        feed_id: Set(feed.id.0),
        file_name: Set(file_name),
        file_path: Set(file_path.display().to_string()),
        status: Set(JobStatus::Queued.as_str().to_owned()),
        rows_done: Set(0),
        rows_total: Set(None),
        created: Set(0),
        updated: Set(0),
        unchanged: Set(0),
        rejected: Set(0),
        corrected: Set(0),
        error: Set(None),
        created_by: Set(actor.label().to_owned()),
        created_at: Set(Utc::now()),
        started_at: Set(None),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let job = ImportJob::try_from(model)?;
    let mut changes = AuditChanges::new();
    changes.created("feed", &feed.slug);
    changes.created("file_name", &job.file_name);
    record(
        &txn,
        actor,
        AuditEntry::new("import_job", job.id.to_string(), "create", changes).hub(feed.hub),
    )
    .await?;
    txn.commit().await?;
    Ok((feed, job))
}

/// The actor an import of `feed` runs as: the sender, held to the feed's territory. An admin sending a hub's file
/// imports within that hub's departments only, like the hub's coordinator would.
async fn import_actor<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    feed: &Feed,
) -> Result<Actor, SitesError> {
    match (actor.role(), feed.hub) {
        (Role::Admin, Some(hub)) => {
            let scope = maillage_territories::hub_scope(db, hub).await?;
            let scoped = Actor::hub_coordinator(scope, actor.label());
            Ok(match actor.request_id() {
                Some(r) => scoped.with_request_id(r),
                None => scoped,
            })
        }
        _ => Ok(actor.clone()),
    }
}

/// The options an import of `feed` runs with: its source, and its mapping (a built-in one by name, or its own
/// TOML text; neither: the national standard's own columns, version detected).
fn options_of(feed: &Feed) -> Result<ImportOptions, SitesError> {
    let mapping = match (&feed.mapping, &feed.mapping_toml) {
        (Some(name), _) => Some(Mapping::built_in(name).ok_or_else(|| {
            SitesError::InvalidFile(format!(
                "feed {:?} names the mapping {name:?}, which this server does not have",
                feed.slug
            ))
        })?),
        (None, Some(text)) => Some(Mapping::parse(&feed.slug, text)?),
        (None, None) => None,
    };
    Ok(ImportOptions {
        source: feed.source.clone(),
        format: None,
        version: None,
        encoding: None,
        sheet: None,
        mapping: mapping.map(Arc::new),
        // The feed's own policy: complete feeds archive what a file no longer has, and an API edit stands unless
        // the feed was told to win. A file over the archive share is refused (never forced from a job).
        policy: FeedPolicy {
            complete: feed.complete,
            feed_wins: feed.feed_wins,
            max_archive_share: feed.max_archive_share,
            force: false,
        },
        feed_id: Some(feed.id.0),
        ..ImportOptions::default()
    })
}

/// Writes a running job's progress (rows done, rows in the file) and renews its heartbeat every
/// [`PROGRESS_EVERY`] until `done` fires. Each write is its own short statement, outside the import's
/// transactions; on SQLite it waits for the write lock between the import's short transactions.
async fn write_progress(
    db: DatabaseConnection,
    job: JobId,
    rows: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    mut done: tokio::sync::oneshot::Receiver<()>,
) {
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tokio::select! {
            _ = &mut done => return,
            _ = tick.tick() => {}
        }
        let mut update = import_job::Entity::update_many()
            .col_expr(
                import_job::Column::RowsDone,
                Expr::value(stored_count(rows.load(Ordering::Relaxed))),
            )
            .col_expr(import_job::Column::HeartbeatAt, Expr::value(Utc::now()));
        let total = total.load(Ordering::Relaxed);
        if total > 0 {
            update = update.col_expr(
                import_job::Column::RowsTotal,
                Expr::value(stored_count(total)),
            );
        }
        let result = update
            .filter(import_job::Column::Id.eq(job.0))
            .filter(import_job::Column::Status.eq(JobStatus::Running.as_str()))
            .exec(&db)
            .await;
        if let Err(e) = result {
            tracing::debug!(job = %job, error = %e, "progress not written this time");
        }
    }
}

/// Runs a `queued` job to its end and returns it: `succeeded` with its counts and report, or `failed` with the
/// reason (the file refused, or the import failed: nothing stored). An `Err` means the job's own row could not be
/// written; the job is then left for [`fail_interrupted_jobs`].
#[tracing::instrument(skip_all, fields(job.id = %id))]
pub async fn run_job(
    db: &DatabaseConnection,
    actor: &Actor,
    id: JobId,
) -> Result<ImportJob, SitesError> {
    let model = import_job::Entity::find_by_id(id.0)
        .one(db)
        .await?
        .ok_or(SitesError::UnknownJob(id.0))?;
    let feed = feed_by_id(db, FeedId(model.feed_id)).await?;
    if !may_import(actor, &feed) {
        return Err(SitesError::UnknownJob(id.0));
    }
    let started = import_job::Entity::update_many()
        .col_expr(
            import_job::Column::Status,
            Expr::value(JobStatus::Running.as_str()),
        )
        .col_expr(import_job::Column::StartedAt, Expr::value(Utc::now()))
        .col_expr(import_job::Column::HeartbeatAt, Expr::value(Utc::now()))
        .filter(import_job::Column::Id.eq(id.0))
        .filter(import_job::Column::Status.eq(JobStatus::Queued.as_str()))
        .exec(db)
        .await?;
    if started.rows_affected == 0 {
        return Err(SitesError::InvalidInput {
            field: maillage_core::error::FieldPath::new("job"),
            message: format!("import job {id} is not queued: it ran already"),
            code: Code::InvalidState,
        });
    }
    let _here = RunningHere::new(id);
    let rows = Arc::new(AtomicU64::new(0));
    let total = Arc::new(AtomicU64::new(0));
    let (stop, done) = tokio::sync::oneshot::channel();
    let progress = tokio::spawn(write_progress(
        db.clone(),
        id,
        rows.clone(),
        total.clone(),
        done,
    ));
    let mut lines: Vec<ReportLine> = Vec::new();
    let result = match (options_of(&feed), import_actor(db, actor, &feed).await) {
        (Ok(mut options), Ok(import_as)) => {
            options.import_job_id = Some(id.0);
            options.file_name = Some(model.file_name.clone());
            let (seen, of) = (rows.clone(), total.clone());
            options.progress = Some(Progress::new(move |done, all| {
                seen.store(done, Ordering::Relaxed);
                of.store(all, Ordering::Relaxed);
                std::ops::ControlFlow::Continue(())
            }));
            let on_progress = |n: u64| rows.store(n, Ordering::Relaxed);
            import_file(
                db,
                &import_as,
                Path::new(&model.file_path),
                &options,
                &mut |line: &ReportLine| lines.push(line.clone()),
                &on_progress,
            )
            .await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let _ = stop.send(());
    let _ = progress.await;
    match result {
        Ok(summary) => {
            let job = finish_succeeded(db, actor, &feed, id, &summary, &lines).await?;
            // The one place for what follows a succeeded import of a feed (HTTP upload and `maillage import
            // --feed` alike), after its sites are published and the job is final: add further steps here.
            Ok(job)
        }
        Err(e) => finish_failed(db, actor, &feed, id, &e).await,
    }
}

async fn finish_succeeded(
    db: &DatabaseConnection,
    actor: &Actor,
    feed: &Feed,
    id: JobId,
    summary: &ImportSummary,
    lines: &[ReportLine],
) -> Result<ImportJob, SitesError> {
    let txn = maillage_core::db::begin_write(db).await?;
    for chunk in lines.chunks(LINE_BATCH) {
        let rows = chunk.iter().map(|l| import_job_line::ActiveModel {
            job_id: Set(id.0),
            location: Set(l.location.to_string()),
            source_id: Set(l.source_id.clone()),
            outcome: Set(l.kind.to_string()),
            field: Set(l.field.clone()),
            reason: Set(l.reason.clone()),
            detail: Set(None),
            ..Default::default()
        });
        import_job_line::Entity::insert_many(rows)
            .exec(&txn)
            .await?;
    }
    // Values no translation of the mapping covers were kept raw: counted per column and value, so that the hub can
    // extend its mapping.
    let untranslated: Vec<_> = summary.untranslated.iter().collect();
    for chunk in untranslated.chunks(LINE_BATCH) {
        let rows = chunk
            .iter()
            .map(|((column, value), n)| import_job_line::ActiveModel {
                job_id: Set(id.0),
                location: Set("file".to_owned()),
                source_id: Set(None),
                outcome: Set("untranslated".to_owned()),
                field: Set(column.clone()),
                reason: Set(format!(
                    "value {value:?} kept raw: no translation of the mapping covers it"
                )),
                detail: Set(Some(
                    serde_json::json!({ "value": value, "rows": n }).to_string(),
                )),
                ..Default::default()
            });
        import_job_line::Entity::insert_many(rows)
            .exec(&txn)
            .await?;
    }
    import_job::Entity::update_many()
        .col_expr(
            import_job::Column::Status,
            Expr::value(JobStatus::Succeeded.as_str()),
        )
        .col_expr(
            import_job::Column::RowsDone,
            Expr::value(stored_count(summary.rows)),
        )
        .col_expr(
            import_job::Column::RowsTotal,
            Expr::value(stored_count(summary.rows)),
        )
        .col_expr(
            import_job::Column::Created,
            Expr::value(stored_count(summary.created)),
        )
        .col_expr(
            import_job::Column::Updated,
            Expr::value(stored_count(summary.updated)),
        )
        .col_expr(
            import_job::Column::Unchanged,
            Expr::value(stored_count(summary.unchanged)),
        )
        .col_expr(
            import_job::Column::Rejected,
            Expr::value(stored_count(summary.rejected)),
        )
        .col_expr(
            import_job::Column::Corrected,
            Expr::value(stored_count(summary.corrected)),
        )
        .col_expr(import_job::Column::FinishedAt, Expr::value(Utc::now()))
        .filter(import_job::Column::Id.eq(id.0))
        .exec(&txn)
        .await?;
    let mut changes = AuditChanges::new();
    changes.changed("status", "running", "succeeded");
    changes.note("rows", &summary.rows);
    changes.note("created", &summary.created);
    changes.note("updated", &summary.updated);
    changes.note("unchanged", &summary.unchanged);
    changes.note("rejected", &summary.rejected);
    record(
        &txn,
        actor,
        AuditEntry::new("import_job", id.to_string(), "finish", changes).hub(feed.hub),
    )
    .await?;
    let job = load(&txn, id).await?;
    txn.commit().await?;
    Ok(job)
}

async fn finish_failed(
    db: &DatabaseConnection,
    actor: &Actor,
    feed: &Feed,
    id: JobId,
    error: &SitesError,
) -> Result<ImportJob, SitesError> {
    let message = if error.is_internal() {
        tracing::error!(job = %id, error = %error, "import job failed");
        "internal error; the incident is logged. Nothing of this file was stored".to_owned()
    } else {
        format!("{error} [{}]", error.code())
    };
    let txn = maillage_core::db::begin_write(db).await?;
    import_job::Entity::update_many()
        .col_expr(
            import_job::Column::Status,
            Expr::value(JobStatus::Failed.as_str()),
        )
        .col_expr(import_job::Column::Error, Expr::value(message.clone()))
        .col_expr(import_job::Column::FinishedAt, Expr::value(Utc::now()))
        .filter(import_job::Column::Id.eq(id.0))
        .exec(&txn)
        .await?;
    let mut changes = AuditChanges::new();
    changes.changed("status", "running", "failed");
    changes.note("error", &message);
    record(
        &txn,
        actor,
        AuditEntry::new("import_job", id.to_string(), "finish", changes).hub(feed.hub),
    )
    .await?;
    let job = load(&txn, id).await?;
    txn.commit().await?;
    Ok(job)
}

async fn load<C: ConnectionTrait>(db: &C, id: JobId) -> Result<ImportJob, SitesError> {
    import_job::Entity::find_by_id(id.0)
        .one(db)
        .await?
        .ok_or(SitesError::UnknownJob(id.0))
        .and_then(ImportJob::try_from)
}

/// Marks as failed the jobs no live process runs any more, and discards their staged rows: `running` jobs whose
/// heartbeat is older than [`LEASE`] (their process stopped; their import was rolled back with it) and `queued`
/// jobs older than the lease (the instance that took the upload starts them at once). Jobs this process runs are
/// never touched, nor jobs another live instance keeps renewing. Staged rows of command-line imports older than
/// a few hours go too. Run by the server at start (before it accepts uploads) and then every few seconds by
/// [`watch_interrupted_jobs`]. Returns how many jobs it failed.
pub async fn fail_interrupted_jobs<C: ConnectionTrait>(db: &C) -> Result<u64, SitesError> {
    let now = Utc::now();
    let expired = now - chrono::Duration::from_std(LEASE).unwrap_or_default();
    let dead = Condition::any()
        .add(
            Condition::all()
                .add(import_job::Column::Status.eq(JobStatus::Running.as_str()))
                .add(
                    Condition::any()
                        .add(import_job::Column::HeartbeatAt.is_null())
                        .add(import_job::Column::HeartbeatAt.lt(expired)),
                ),
        )
        .add(
            Condition::all()
                .add(import_job::Column::Status.eq(JobStatus::Queued.as_str()))
                .add(import_job::Column::CreatedAt.lt(expired)),
        );
    let ids: Vec<i32> = import_job::Entity::find()
        .select_only()
        .column(import_job::Column::Id)
        .filter(dead.clone())
        .filter(import_job::Column::Id.is_not_in(running_here()))
        .into_tuple()
        .all(db)
        .await?;
    let mut failed = 0;
    for chunk in ids.chunks(500) {
        let result = import_job::Entity::update_many()
            .col_expr(
                import_job::Column::Status,
                Expr::value(JobStatus::Failed.as_str()),
            )
            .col_expr(import_job::Column::Error, Expr::value(INTERRUPTED))
            .col_expr(import_job::Column::FinishedAt, Expr::value(now))
            .filter(import_job::Column::Id.is_in(chunk.iter().copied()))
            // Still dead now: a job that renewed its heartbeat meanwhile is alive.
            .filter(dead.clone())
            .exec(db)
            .await?;
        failed += result.rows_affected;
    }
    for id in &ids {
        crate::bulk::discard_job_staging(db, *id).await?;
    }
    let stale_run = now - chrono::Duration::from_std(STALE_RUN).unwrap_or_default();
    crate::bulk::discard_stale_runs(db, stale_run).await?;
    if failed > 0 {
        tracing::warn!(
            jobs = failed,
            "import jobs interrupted by a stopped process marked failed"
        );
    }
    Ok(failed)
}

/// Runs [`fail_interrupted_jobs`] every few seconds, for as long as the server runs: a job whose process died
/// while this instance was up (another instance, or this one's previous life when it restarted within the lease)
/// ends `failed` soon after its lease expires. Errors are logged and the next round tries again.
pub async fn watch_interrupted_jobs(db: DatabaseConnection) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = fail_interrupted_jobs(&db).await {
            tracing::warn!(error = %e, "could not look for interrupted import jobs");
        }
    }
}

/// A job the caller may see: admins every job, a hub coordinator the jobs of its hub's feeds. Others get
/// `not_found`, as for a job that does not exist.
pub async fn get_job<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: JobId,
) -> Result<ImportJob, SitesError> {
    let job = load(db, id).await?;
    let feed = feed_by_id(db, job.feed).await?;
    if !may_import(actor, &feed) {
        return Err(SitesError::UnknownJob(id.0));
    }
    Ok(job)
}

/// Which jobs to list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this feed's jobs (slug).
    pub feed: Option<String>,
    /// Only jobs with this status.
    pub status: Option<JobStatus>,
}

/// Jobs the caller may see, newest first.
pub async fn list_jobs<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    filter: &JobFilter,
    page: &PageRequest,
) -> Result<Page<ImportJob>, SitesError> {
    let mut cond = Condition::all();
    match actor.role() {
        Role::Admin => {}
        Role::HubCoordinator => {
            let hub = actor.hub_scope().map_or(HubId(-1), |s| s.hub);
            let feeds: Vec<i32> = feed::Entity::find()
                .select_only()
                .column(feed::Column::Id)
                .filter(feed::Column::HubId.eq(hub.0))
                .into_tuple()
                .all(db)
                .await?;
            cond = cond.add(import_job::Column::FeedId.is_in(feeds));
        }
        role => {
            return Err(SitesError::Forbidden(format!(
                "import jobs are visible to admins and hub coordinators, not to the role {role}"
            )));
        }
    }
    if let Some(slug) = &filter.feed {
        let feed = get_feed(db, actor, slug).await?;
        cond = cond.add(import_job::Column::FeedId.eq(feed.id.0));
    }
    if let Some(status) = filter.status {
        cond = cond.add(import_job::Column::Status.eq(status.as_str()));
    }
    // Newest first (id descending); `page.order`/`page.past` turn the scan round for `last`/`before`.
    let mut query = import_job::Entity::find().filter(cond.clone());
    if let Some(after) = &page.after {
        let id: i32 = after.decode()?;
        query = query.filter(page.past(import_job::Column::Id, false, id));
    }
    let rows = maillage_core::db::page_rows(
        db,
        query
            .order_by(import_job::Column::Id, page.order(false))
            .limit(u64::from(page.first) + 1),
    )
    .await?;
    let total = if page.with_total {
        Some(import_job::Entity::find().filter(cond).count(db).await?)
    } else {
        None
    };
    let jobs = rows
        .into_iter()
        .map(ImportJob::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(jobs, page, total, |j| {
        Cursor::encode(&j.id.0)
    }))
}

/// A page of a job's report, in file order, for a caller who may see the job.
pub async fn job_lines<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: JobId,
    page: &PageRequest,
) -> Result<Page<JobLine>, SitesError> {
    get_job(db, actor, id).await?;
    let cond = import_job_line::Column::JobId.eq(id.0);
    let mut query = import_job_line::Entity::find().filter(cond.clone());
    // File order (id ascending), scanned in reverse for `last`/`before`.
    if let Some(after) = &page.after {
        let after: i32 = after.decode()?;
        query = query.filter(page.past(import_job_line::Column::Id, true, after));
    }
    let rows = maillage_core::db::page_rows(
        db,
        query
            .order_by(import_job_line::Column::Id, page.order(true))
            .limit(u64::from(page.first) + 1),
    )
    .await?;
    let total = if page.with_total {
        Some(
            import_job_line::Entity::find()
                .filter(cond)
                .count(db)
                .await?,
        )
    } else {
        None
    };
    let lines = rows.into_iter().map(JobLine::from).collect();
    Ok(Page::from_rows(lines, page, total, |l| {
        Cursor::encode(&l.id)
    }))
}

/// A job's whole report as CSV (`location,id,outcome,field,reason,detail`), for a caller who may see the job.
pub async fn job_report_csv<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: JobId,
) -> Result<(ImportJob, Vec<u8>), SitesError> {
    let job = get_job(db, actor, id).await?;
    let rows = import_job_line::Entity::find()
        .filter(import_job_line::Column::JobId.eq(id.0))
        .order_by_asc(import_job_line::Column::Id)
        .all(db)
        .await?;
    // Report cells carry the file's own values: neutralised like every export (a spreadsheet opens this file).
    let mut w = maillage_core::csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| SitesError::InvalidFile(format!("writing the report: {e}"));
    w.write_record(["location", "id", "outcome", "field", "reason", "detail"])
        .map_err(csv_error)?;
    for l in rows {
        w.write_record([
            l.location,
            l.source_id.unwrap_or_default(),
            l.outcome,
            l.field,
            l.reason,
            l.detail.unwrap_or_default(),
        ])
        .map_err(csv_error)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| SitesError::InvalidFile(format!("writing the report: {e}")))?;
    Ok((job, bytes))
}
