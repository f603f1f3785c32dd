//! Importing a file of the national standard: two streaming passes, then one publishing transaction.
//!
//! Pass 1 reads the whole file once without storing anything: it checks the syntax (JSON or CSV), collects the
//! columns, detects the standard version and checks required columns. A file that is not readable as a whole is
//! refused before any write, so bad input never leaves a half-imported source behind. Pass 2 streams the rows from
//! a reading thread, validates each row, compares it with what is stored (keeping what an API edit set, see
//! [`FeedPolicy`]) and stages what it will write in short committed chunks ([`crate::bulk`]), so the API keeps
//! working during a long import. The staged rows are then published in one transaction of multi-row statements:
//! the import is all or nothing, and importing the same file again changes nothing.

use crate::SitesError;
use crate::bulk::{self, Action, Staged};
use crate::mapping::{Mapping, MappingReport};
use crate::model::{NewSite, StandardVersion};
use crate::provenance::{self, ImportOrigin};
use crate::read::{self, FileInfo, Input, ReadOptions};
use crate::standard::parse::{RawRow, RowIssue, RowOutcome, detect_version, parse_row};
use crate::write::{can_write_site, diff, site_row};
use chrono::{NaiveDate, Utc};
use maillage_core::{Actor, DepartmentCode, Role};
use sea_orm::DatabaseConnection;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

/// Rows handled per round trip: bounds memory, lets the existing rows of a batch load in a few statements, and is
/// the unit of staging (one short write transaction each).
const BATCH: usize = 500;

pub use crate::read::{Encoding, FileFormat, Location};

/// How a feed's file relates to what is stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeedPolicy {
    /// The file lists every site of the source: stored sites absent from it are archived (and restored when they
    /// come back). A partial file only adds and updates.
    pub complete: bool,
    /// The file's values replace values set through the API. By default an API edit stands and the report says
    /// `kept_edit`.
    pub feed_wins: bool,
    /// A complete file that would archive more than this share (0–1) of the source's live sites is refused: a
    /// truncated file must not empty a hub.
    pub max_archive_share: f64,
    /// Accept a complete file even above `max_archive_share`.
    pub force: bool,
}

impl Default for FeedPolicy {
    fn default() -> Self {
        Self {
            complete: false,
            feed_wins: false,
            max_archive_share: 0.2,
            force: false,
        }
    }
}

/// Called after each chunk of rows with (rows done, total rows); returning `Break` cancels the import, which then
/// writes nothing.
#[derive(Clone)]
pub struct Progress(Arc<dyn Fn(u64, u64) -> ControlFlow<()> + Send + Sync>);

impl Progress {
    /// Wraps a callback.
    pub fn new(f: impl Fn(u64, u64) -> ControlFlow<()> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    fn call(&self, done: u64, total: u64) -> ControlFlow<()> {
        (self.0)(done, total)
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// How to read the file and which mapping to apply; `None` fields are detected.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The source name: with each row's `id`, the identity of a site.
    pub source: String,
    /// Force the format instead of guessing it from the extension.
    pub format: Option<FileFormat>,
    /// Force the standard version instead of detecting it from the columns (identity mapping of that version).
    pub version: Option<StandardVersion>,
    /// Force a CSV file's encoding instead of detecting it.
    pub encoding: Option<Encoding>,
    /// The spreadsheet's sheet (default: the first).
    pub sheet: Option<String>,
    /// The mapping from the file's layout to the standard (default: the identity mapping of the detected version).
    pub mapping: Option<Arc<Mapping>>,
    /// Complete or partial file, precedence of API edits, archiving guard.
    pub policy: FeedPolicy,
    /// The feed the file came from, recorded as the provenance of the values it sets.
    pub feed_id: Option<i32>,
    /// The import job, recorded as provenance.
    pub import_job_id: Option<i32>,
    /// The file's name as its sender gave it (defaults to the path's file name).
    pub file_name: Option<String>,
    /// The file's date (when the hub produced it), recorded as provenance.
    pub file_date: Option<NaiveDate>,
    /// Progress and cancellation, for a job runner.
    pub progress: Option<Progress>,
}

/// What a report line says about its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueKind {
    /// The row was not stored.
    Rejected,
    /// The row was stored without this field's value (or with a note about it).
    Corrected,
    /// The row was stored but this field keeps the value an API edit set (`stored_value`), not the file's
    /// (`file_value`).
    KeptEdit,
    /// The row's site was archived through the API: the file does not bring it back.
    KeptArchived,
    /// The row's site changed through the API during the import: that change stands, the row was not applied.
    EditedDuringImport,
}

impl fmt::Display for IssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rejected => "rejected",
            Self::Corrected => "corrected",
            Self::KeptEdit => "kept_edit",
            Self::KeptArchived => "kept_archived",
            Self::EditedDuringImport => "edited_during_import",
        })
    }
}

/// One line of the import report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// Where the row is.
    pub location: Location,
    /// The row's `id`, when it has one.
    pub source_id: Option<String>,
    /// Rejected or corrected.
    pub kind: IssueKind,
    /// The field concerned (standard column name).
    pub field: String,
    /// Why, in plain words.
    pub reason: String,
    /// `kept_edit`: the stored value (set through the API), as JSON text.
    pub stored_value: Option<String>,
    /// `kept_edit`: the file's value, as JSON text.
    pub file_value: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// The format read.
    pub format: FileFormat,
    /// The standard version applied.
    pub version: StandardVersion,
    /// Rows in the file.
    pub rows: u64,
    /// Rows stored as new sites.
    pub created: u64,
    /// Rows that changed an existing site (restored ones included).
    pub updated: u64,
    /// Rows identical to what was stored.
    pub unchanged: u64,
    /// Rows not stored (each has report lines).
    pub rejected: u64,
    /// Stored rows with at least one corrected field.
    pub corrected: u64,
    /// Columns the mapping neither reads nor drops (ignored).
    pub unknown_columns: Vec<String>,
    /// The mapping applied.
    pub mapping: String,
    /// (source column, value) → rows in which no translation of the mapping covered the value (kept raw).
    pub untranslated: BTreeMap<(String, String), u64>,
    /// Fields that kept the value of an API edit instead of the file's (one `kept_edit` report line each).
    pub kept_edits: u64,
    /// Source ids of the sites a complete file no longer lists, archived by this import.
    pub archived: Vec<String>,
    /// Source ids of sites a complete feed had archived and this file lists again, restored.
    pub restored: Vec<String>,
}

impl ImportSummary {
    /// Rows stored (created, updated or unchanged): with `rejected`, every row of the file.
    pub fn stored(&self) -> u64 {
        self.created + self.updated + self.unchanged
    }

    /// Sites the import changed (created, updated, restored or archived).
    pub fn changes(&self) -> u64 {
        self.created + self.updated + self.archived.len() as u64
    }
}

/// Imports a file into the sites of `options.source`.
///
/// `on_report` receives one line per rejected row issue and per corrected field; `on_progress` the number of rows
/// handled so far. Refused as a whole (nothing written) when the caller may not write sites, the file cannot be
/// read, its JSON or CSV syntax is broken anywhere, required columns are missing, or its version is unknown.
pub async fn import_file(
    db: &DatabaseConnection,
    actor: &Actor,
    path: &Path,
    options: &ImportOptions,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<ImportSummary, SitesError> {
    import_input(
        db,
        actor,
        Input::Path(path.to_owned()),
        options,
        on_report,
        on_progress,
    )
    .await
}

/// [`import_file`] for a file on disk or in memory (an upload).
#[tracing::instrument(skip_all, fields(source = %options.source, file = %input.display_name()))]
pub async fn import_input(
    db: &DatabaseConnection,
    actor: &Actor,
    input: Input,
    options: &ImportOptions,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<ImportSummary, SitesError> {
    if !matches!(actor.role(), Role::Admin | Role::HubCoordinator) {
        return Err(SitesError::Forbidden(
            "only admins and hub coordinators may import sites".to_owned(),
        ));
    }
    validate_source_name(&options.source)?;
    crate::dedup::refuse_canonical_source(&options.source)?;
    let started = Utc::now();
    let file_name = input.display_name();
    let prepared = prepare(input.clone(), options).await?;
    let Prepared {
        info,
        mapping,
        unknown_columns,
    } = prepared;
    let version = mapping.version();
    let format = info.format;
    let info_rows = info.rows;

    let (tx, rx) = tokio::sync::mpsc::channel::<(Location, RawRow)>(BATCH);
    let reader_mapping = Arc::clone(&mapping);
    let (notes_tx, notes_rx) =
        tokio::sync::mpsc::unbounded_channel::<(Location, Option<String>, Vec<RowIssue>)>();
    let reader = tokio::task::spawn_blocking(move || {
        let mut report = MappingReport::default();
        read::for_each_row(&input, &info, &mut |row| {
            let mapped = reader_mapping.apply(&row);
            report.merge(mapped.report);
            if !mapped.notes.is_empty() {
                // Notes travel apart so that the write stage keeps its (location, row) batches.
                let _ = notes_tx.send((row.location, mapped.row.get("id").cloned(), mapped.notes));
            }
            tx.blocking_send((row.location, mapped.row)).is_ok()
        })
        .map(|()| report)
    });

    let mut summary = ImportSummary {
        format,
        version,
        rows: 0,
        created: 0,
        updated: 0,
        unchanged: 0,
        rejected: 0,
        corrected: 0,
        unknown_columns,
        mapping: mapping.name().to_owned(),
        untranslated: BTreeMap::new(),
        kept_edits: 0,
        archived: Vec::new(),
        restored: Vec::new(),
    };
    let origin = ImportOrigin {
        feed_id: options.feed_id,
        import_job_id: options.import_job_id,
        file_name: options.file_name.clone().or_else(|| {
            Path::new(&file_name)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        }),
        file_date: options.file_date,
        actor: Some(actor.label().to_owned()),
    };
    let job_key = bulk::new_job_key(options.import_job_id);
    let mut state = Staging {
        job_key: &job_key,
        staged: 0,
        seen: HashMap::new(),
        present: HashSet::new(),
        total: info_rows,
    };
    let staged = stage_rows(
        db,
        actor,
        options,
        version,
        rx,
        notes_rx,
        &mut state,
        &mut summary,
        on_report,
        on_progress,
    )
    .await;
    let read = reader
        .await
        .map_err(|e| SitesError::InvalidFile(format!("reading the file failed: {e}")))
        .and_then(|r| r)
        .map(|report| summary.untranslated = report.untranslated);
    let result = match (staged, read) {
        (Ok(()), Ok(())) => {
            finish(
                db,
                actor,
                &file_name,
                options,
                &mut state,
                &origin,
                &mut summary,
                on_report,
            )
            .await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    if let Err(e) = result {
        // The staged rows are invisible to every reader; removing them now keeps the table small (a crash leaves
        // them to `discard_unfinished_staging` at the next start).
        if let Err(cleanup) = bulk::discard(db, &job_key).await {
            tracing::warn!(error = %cleanup, "could not discard the staged rows of a failed import");
        }
        return Err(e);
    }
    crate::dedup::match_imported_rows(db, &options.source, started).await;
    Ok(summary)
}

/// What the staging pass keeps across batches.
struct Staging<'a> {
    job_key: &'a str,
    /// Rows staged so far (the next row's sequence number).
    staged: i32,
    /// Where each valid row's id was first seen, to reject duplicates.
    seen: HashMap<String, Location>,
    /// Every id the file lists, valid or not: a complete feed does not archive a site whose row was rejected.
    present: HashSet<String>,
    /// Rows in the file (from pass 1).
    total: u64,
}

/// Pass 2: validates, decides and stages the rows, chunk by chunk, each chunk committed on its own.
#[allow(clippy::too_many_arguments)]
async fn stage_rows(
    db: &DatabaseConnection,
    actor: &Actor,
    options: &ImportOptions,
    version: StandardVersion,
    mut rx: tokio::sync::mpsc::Receiver<(Location, RawRow)>,
    mut notes_rx: tokio::sync::mpsc::UnboundedReceiver<(Location, Option<String>, Vec<RowIssue>)>,
    state: &mut Staging<'_>,
    summary: &mut ImportSummary,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<(), SitesError> {
    let mut batch: Vec<(Location, RawRow)> = Vec::with_capacity(BATCH);
    loop {
        let next = rx.recv().await;
        let done = next.is_none();
        if let Some(item) = next {
            batch.push(item);
        }
        if batch.len() >= BATCH || (done && !batch.is_empty()) {
            while let Ok((location, source_id, notes)) = notes_rx.try_recv() {
                for note in notes {
                    on_report(&ReportLine {
                        location,
                        source_id: source_id.clone(),
                        kind: IssueKind::Corrected,
                        field: note.field,
                        reason: note.reason,
                        stored_value: None,
                        file_value: None,
                    });
                }
            }
            let rows = std::mem::take(&mut batch);
            summary.rows += rows.len() as u64;
            let staged =
                import_batch(db, actor, options, version, rows, state, summary, on_report).await?;
            bulk::stage(db, state.job_key, state.staged, &staged).await?;
            state.staged += i32::try_from(staged.len()).unwrap_or(i32::MAX);
            on_progress(summary.rows);
            if let Some(progress) = &options.progress
                && progress.call(summary.rows, state.total).is_break()
            {
                return Err(SitesError::Cancelled);
            }
        }
        if done {
            return Ok(());
        }
    }
}

/// After the last row: stages what a complete feed archives (or refuses the file), then publishes everything in
/// one transaction.
#[allow(clippy::too_many_arguments)]
async fn finish(
    db: &DatabaseConnection,
    actor: &Actor,
    file_name: &str,
    options: &ImportOptions,
    state: &mut Staging<'_>,
    origin: &ImportOrigin,
    summary: &mut ImportSummary,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
) -> Result<(), SitesError> {
    if options.policy.complete {
        let live = bulk::live_sites(db, &options.source).await?;
        let absent: Vec<&bulk::LiveSite> = live
            .iter()
            .filter(|s| !state.present.contains(&s.source_id))
            .collect();
        let (absent_n, live_n) = (absent.len() as u64, live.len() as u64);
        #[allow(clippy::cast_precision_loss)]
        let too_many = absent_n as f64 > options.policy.max_archive_share * live_n as f64;
        if absent_n > 0 && too_many && !options.policy.force {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let max_percent = (options.policy.max_archive_share * 100.0).round() as u32;
            return Err(SitesError::ArchiveShareExceeded {
                site_source: options.source.clone(),
                would_archive: absent_n,
                live: live_n,
                max_percent,
            });
        }
        let mut changes = maillage_access::AuditChanges::new();
        changes.changed("archived", &false, &true);
        changes.note("via", "import");
        changes.note("source", &options.source);
        let changes = changes.into_json();
        let archives: Vec<Staged> = absent
            .into_iter()
            .filter_map(|s| {
                let department = s
                    .department_code
                    .as_deref()
                    .and_then(|d| DepartmentCode::parse(d).ok());
                can_write_site(actor, department.as_ref()).then(|| Staged {
                    action: Action::Archive,
                    site_id: Some(s.id),
                    base_version: Some(s.version),
                    source_id: s.source_id.clone(),
                    location: None,
                    department: s.department_code.clone(),
                    row: None,
                    values: Vec::new(),
                    changes: changes.clone(),
                    forget: Vec::new(),
                })
            })
            .collect();
        bulk::stage(db, state.job_key, state.staged, &archives).await?;
        state.staged += i32::try_from(archives.len()).unwrap_or(i32::MAX);
        summary.archived = archives.into_iter().map(|s| s.source_id).collect();
    }

    let publishing = std::time::Instant::now();
    let txn = maillage_core::db::begin_write(db).await?;
    lock_source(&txn, &options.source).await?;
    let published = bulk::publish(
        &txn,
        actor,
        &options.source,
        state.job_key,
        state.staged,
        origin,
        on_report,
    )
    .await?;
    // Rows whose site an API edit changed while the file was staging were not applied: they changed nothing.
    for s in published.skipped {
        match s.action {
            Action::Update | Action::Restore => {
                summary.updated -= 1;
                summary.unchanged += 1;
                summary.restored.retain(|id| *id != s.source_id);
            }
            Action::Archive => summary.archived.retain(|id| *id != s.source_id),
            Action::Create => {}
        }
    }
    let mut changes = maillage_access::AuditChanges::new();
    changes.note("file", file_name);
    changes.note("rows", &summary.rows);
    changes.note("created", &summary.created);
    changes.note("updated", &summary.updated);
    changes.note("unchanged", &summary.unchanged);
    changes.note("rejected", &summary.rejected);
    changes.note("kept_edits", &summary.kept_edits);
    changes.note("archived", &summary.archived.len());
    changes.note("restored", &summary.restored.len());
    if let Some(feed) = options.feed_id {
        changes.note("feed_id", &feed);
    }
    if let Some(job) = options.import_job_id {
        changes.note("import_job_id", &job);
    }
    maillage_access::record(
        &txn,
        actor,
        maillage_access::AuditEntry::new("site_import", options.source.clone(), "import", changes),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(
        rows = state.staged,
        elapsed_ms = u64::try_from(publishing.elapsed().as_millis()).unwrap_or(u64::MAX),
        "import published"
    );
    Ok(())
}

/// Validates a batch of rows and decides what each does, reading (never writing) the stored sites of the batch.
#[allow(clippy::too_many_arguments)]
async fn import_batch(
    db: &DatabaseConnection,
    actor: &Actor,
    options: &ImportOptions,
    version: StandardVersion,
    rows: Vec<(Location, RawRow)>,
    state: &mut Staging<'_>,
    summary: &mut ImportSummary,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
) -> Result<Vec<Staged>, SitesError> {
    let mut valid: Vec<(Location, NewSite, Vec<RowIssue>)> = Vec::with_capacity(rows.len());
    for (location, row) in rows {
        let source_id = row.get("id").cloned();
        if let Some(id) = &source_id {
            state.present.insert(id.trim().to_owned());
        }
        let mut report = |kind: IssueKind, issue: &RowIssue| {
            on_report(&ReportLine {
                location,
                source_id: source_id.clone(),
                kind,
                field: issue.field.clone(),
                reason: issue.reason.clone(),
                stored_value: None,
                file_value: None,
            });
        };
        match parse_row(version, &row) {
            RowOutcome::Rejected { issues } => {
                summary.rejected += 1;
                for issue in &issues {
                    report(IssueKind::Rejected, issue);
                }
            }
            RowOutcome::Valid { site, corrections } => {
                if let Some(first) = state.seen.get(&site.source_id) {
                    summary.rejected += 1;
                    report(
                        IssueKind::Rejected,
                        &RowIssue {
                            field: "id".to_owned(),
                            reason: format!(
                                "duplicate id {:?}: already used at {first} of this file",
                                site.source_id
                            ),
                        },
                    );
                    continue;
                }
                state.seen.insert(site.source_id.clone(), location);
                state.present.insert(site.source_id.clone());
                if !can_write_site(actor, site.department_code().as_ref()) {
                    summary.rejected += 1;
                    report(
                        IssueKind::Rejected,
                        &RowIssue {
                            field: "code_postal".to_owned(),
                            reason: "this site is outside the departments you may edit".to_owned(),
                        },
                    );
                    continue;
                }
                valid.push((location, site, corrections));
            }
        }
    }
    let ids: Vec<String> = valid.iter().map(|(_, s, _)| s.source_id.clone()).collect();
    let existing = bulk::existing(db, &options.source, &ids).await?;
    let stored_ids: Vec<i32> = existing.values().map(|e| e.site.id.0).collect();
    let edited = provenance::edited_fields(db, &stored_ids).await?;
    let now = Utc::now();
    let mut staged = Vec::with_capacity(valid.len());
    for (location, site, corrections) in valid {
        let old = existing.get(&site.source_id);
        if let Some(old) = old
            && !can_write_site(actor, old.site.department_code.as_ref())
        {
            summary.rejected += 1;
            on_report(&ReportLine {
                location,
                source_id: Some(site.source_id.clone()),
                kind: IssueKind::Rejected,
                field: "id".to_owned(),
                reason: "the stored site with this id is outside the departments you may edit"
                    .to_owned(),
                stored_value: None,
                file_value: None,
            });
            continue;
        }
        // Corrections are reported only for rows that are stored: a rejected row has nothing "corrected".
        if !corrections.is_empty() {
            summary.corrected += 1;
        }
        for issue in &corrections {
            on_report(&ReportLine {
                location,
                source_id: Some(site.source_id.clone()),
                kind: IssueKind::Corrected,
                field: issue.field.clone(),
                reason: issue.reason.clone(),
                stored_value: None,
                file_value: None,
            });
        }
        let department = site.department_code().map(|d| d.as_str().to_owned());
        let Some(old) = old else {
            summary.created += 1;
            let mut changes = diff(None, &site);
            changes.note("via", "import");
            changes.note("source", &options.source);
            staged.push(Staged {
                action: Action::Create,
                site_id: None,
                base_version: None,
                source_id: site.source_id.clone(),
                location: Some(location.into()),
                department,
                row: Some(site_row(&options.source, &site, 0, 1, now, now)?),
                values: Staged::values_of(&site.values),
                changes: changes.into_json(),
                forget: Vec::new(),
            });
            continue;
        };
        if old.archived && old.archive_origin.as_deref() != Some(bulk::ARCHIVED_BY_IMPORT) {
            summary.unchanged += 1;
            on_report(&ReportLine {
                location,
                source_id: Some(site.source_id.clone()),
                kind: IssueKind::KeptArchived,
                field: "id".to_owned(),
                reason: "this site was archived through the API: the file does not bring it back"
                    .to_owned(),
                stored_value: None,
                file_value: None,
            });
            continue;
        }
        let mut merged = site;
        let mut forget = Vec::new();
        if let Some(fields) = edited.get(&old.site.id.0) {
            let mut fields: Vec<&String> = fields.iter().collect();
            fields.sort();
            for field in fields {
                if provenance::same_field(&old.site.data, &merged, field) {
                    continue;
                }
                if options.policy.feed_wins {
                    forget.push(field.clone());
                    continue;
                }
                let stored = provenance::field_value(&old.site.data, field);
                let file = provenance::field_value(&merged, field);
                on_report(&ReportLine {
                    location,
                    source_id: Some(merged.source_id.clone()),
                    kind: IssueKind::KeptEdit,
                    field: field.clone(),
                    reason: format!(
                        "kept the value set through the API ({}) instead of the file's ({})",
                        stored.as_ref().map_or_else(String::new, Value::to_string),
                        file.as_ref().map_or_else(String::new, Value::to_string),
                    ),
                    stored_value: stored.map(|v| v.to_string()),
                    file_value: file.map(|v| v.to_string()),
                });
                summary.kept_edits += 1;
                provenance::copy_field(&old.site.data, &mut merged, field);
            }
        }
        let restoring = old.archived;
        if !restoring && provenance::same_content(&old.site.data, &merged) {
            summary.unchanged += 1;
            continue;
        }
        summary.updated += 1;
        let mut changes = diff(Some(&old.site.data), &merged);
        if restoring {
            summary.restored.push(merged.source_id.clone());
            changes.changed("archived", &true, &false);
        }
        changes.note("via", "import");
        changes.note("source", &options.source);
        staged.push(Staged {
            action: if restoring {
                Action::Restore
            } else {
                Action::Update
            },
            site_id: Some(old.site.id.0),
            base_version: Some(old.site.version),
            source_id: merged.source_id.clone(),
            location: Some(location.into()),
            department: merged.department_code().map(|d| d.as_str().to_owned()),
            row: Some(site_row(
                &options.source,
                &merged,
                old.site.id.0,
                old.site.version + 1,
                old.site.created_at,
                now,
            )?),
            values: Staged::values_of(&merged.values),
            changes: changes.into_json(),
            forget,
        });
    }
    Ok(staged)
}

/// What pass 1 and the mapping tell before anything is written.
pub struct Prepared {
    /// The file, as scanned.
    pub info: FileInfo,
    /// The mapping to apply.
    pub mapping: Arc<Mapping>,
    /// Columns the mapping neither reads nor drops.
    pub unknown_columns: Vec<String>,
}

/// Pass 1: scans the file (refusing it if it cannot be read as a whole), picks the mapping (the identity mapping
/// of the version its columns show, when none is given), and refuses a file that lacks a column the mapping needs
/// for a required field of the standard.
pub async fn prepare(input: Input, options: &ImportOptions) -> Result<Prepared, SitesError> {
    let read_options = ReadOptions {
        format: options.format,
        encoding: options.encoding,
        sheet: options.sheet.clone(),
        // Set once the mapping (hence the version) is known, below.
        array_separator: None,
    };
    let info = tokio::task::spawn_blocking(move || read::scan(&input, &read_options))
        .await
        .map_err(|e| SitesError::InvalidFile(format!("reading the file failed: {e}")))??;
    let mapping = match (&options.mapping, options.version) {
        (Some(mapping), _) => Arc::clone(mapping),
        (None, Some(version)) => Arc::new(Mapping::standard(version)),
        (None, None) => {
            let columns: Vec<&str> = info.columns.iter().map(String::as_str).collect();
            let Some(version) = detect_version(&columns) else {
                // Name what each version would miss: a file that lacks required columns is the usual cause.
                let lacks = |v: StandardVersion| {
                    let missing = Mapping::standard(v).missing_columns(&info.columns);
                    if missing.is_empty() {
                        format!("as {v} it has every required column")
                    } else {
                        format!("as {v} it lacks {}", missing.join(", "))
                    }
                };
                return Err(SitesError::InvalidFile(format!(
                    "cannot tell which version of the national standard this file follows from its columns ({}; {}): \
                     pass --standard v0.1 or --standard v1, or --mapping for another layout (maillage mapping list)",
                    lacks(StandardVersion::V1_0),
                    lacks(StandardVersion::V0_1),
                )));
            };
            Arc::new(Mapping::standard(version))
        }
    };
    // JSON objects may omit keys they have no value for: only tabular files must have every column.
    if info.format != FileFormat::Json {
        let missing = mapping.missing_columns(&info.columns);
        if !missing.is_empty() {
            return Err(SitesError::InvalidFile(format!(
                "missing required column(s) for mapping {} (standard {}): {}",
                mapping.name(),
                mapping.version(),
                missing.join(", ")
            )));
        }
    }
    let unknown_columns = mapping.unused_columns(&info.columns);
    let mut info = info;
    info.set_array_separator(mapping.version().separator());
    Ok(Prepared {
        info,
        mapping,
        unknown_columns,
    })
}

/// Serialises imports of one source: two concurrent imports would both see a site as new and race to insert it.
///
/// On PostgreSQL a transaction-scoped advisory lock makes the second import wait, then find the first one's rows
/// (unchanged). SQLite needs nothing: it admits one writing transaction at a time.
async fn lock_source<C: sea_orm::ConnectionTrait>(db: &C, source: &str) -> Result<(), SitesError> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    // FNV-1a: a stable 64-bit key across processes and releases (std's hasher is not guaranteed stable).
    let key = format!("maillage:site-import:{source}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let key = i64::from_ne_bytes(key.to_ne_bytes());
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DatabaseBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [key.into()],
    ))
    .await?;
    Ok(())
}

fn validate_source_name(source: &str) -> Result<(), SitesError> {
    // The sites' one source rule, as `createSite` applies it; a whole file is refused for it, not a row.
    let mut problems = maillage_core::FieldProblems::new();
    if crate::draft::check_source(
        &mut problems,
        maillage_core::FieldPath::new("source"),
        source,
    ) {
        Ok(())
    } else {
        Err(SitesError::InvalidFile(
            problems
                .iter()
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        ))
    }
}
