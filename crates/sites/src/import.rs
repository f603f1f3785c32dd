//! Importing a file of the national standard: two streaming passes, one transaction.
//!
//! Pass 1 reads the whole file once without storing anything: it checks the syntax (JSON or CSV), collects the
//! columns, detects the standard version and checks required columns. A file that is not readable as a whole is
//! refused before any write, so bad input never leaves a half-imported source behind. Pass 2 streams the rows from
//! a reading thread to the database, validating each row, inside a single transaction: the import is all or
//! nothing, and importing the same file again changes nothing.

use crate::SitesError;
use crate::mapping::{Mapping, MappingReport};
use crate::model::{NewSite, StandardVersion};
use crate::read::{self, FileInfo, Input, ReadOptions};
use crate::standard::parse::{RawRow, RowIssue, RowOutcome, detect_version, parse_row};
use crate::write::{StoreOutcome, can_write_site, existing_by_source_ids, store};
use maillage_core::{Actor, Role};
use sea_orm::DatabaseConnection;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Rows handled per round trip: bounds memory and lets the existing rows of a batch load in two statements.
const BATCH: usize = 500;

pub use crate::read::{Encoding, FileFormat, Location};

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
}

/// Whether a report line rejected its row or only corrected a field of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueKind {
    /// The row was not stored.
    Rejected,
    /// The row was stored without this field's value (or with a note about it).
    Corrected,
}

impl fmt::Display for IssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rejected => "rejected",
            Self::Corrected => "corrected",
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
    /// Rows that changed an existing site.
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
}

impl ImportSummary {
    /// Rows stored (created, updated or unchanged): with `rejected`, every row of the file.
    pub fn stored(&self) -> u64 {
        self.created + self.updated + self.unchanged
    }

    /// Rows that changed the database.
    pub fn changes(&self) -> u64 {
        self.created + self.updated
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
    let file_name = input.display_name();
    let prepared = prepare(input.clone(), options).await?;
    let Prepared {
        info,
        mapping,
        unknown_columns,
    } = prepared;
    let version = mapping.version();
    let format = info.format;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Location, RawRow)>(BATCH);
    let reader_mapping = Arc::clone(&mapping);
    let (notes_tx, mut notes_rx) =
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
    };
    let txn = maillage_core::db::begin_write(db).await?;
    lock_source(&txn, &options.source).await?;
    let mut seen: HashMap<String, Location> = HashMap::new();
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
                    });
                }
            }
            let rows = std::mem::take(&mut batch);
            summary.rows += rows.len() as u64;
            import_batch(
                &txn,
                actor,
                options,
                version,
                rows,
                &mut seen,
                &mut summary,
                on_report,
            )
            .await?;
            on_progress(summary.rows);
        }
        if done {
            break;
        }
    }
    summary.untranslated = reader
        .await
        .map_err(|e| SitesError::InvalidFile(format!("reading the file failed: {e}")))??
        .untranslated;
    let mut changes = maillage_access::AuditChanges::new();
    changes.note("file", &file_name);
    changes.note("rows", &summary.rows);
    changes.note("created", &summary.created);
    changes.note("updated", &summary.updated);
    changes.note("unchanged", &summary.unchanged);
    changes.note("rejected", &summary.rejected);
    maillage_access::record(
        &txn,
        actor,
        maillage_access::AuditEntry::new("site_import", options.source.clone(), "import", changes),
    )
    .await?;
    txn.commit().await?;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
async fn import_batch<C: sea_orm::ConnectionTrait>(
    db: &C,
    actor: &Actor,
    options: &ImportOptions,
    version: StandardVersion,
    rows: Vec<(Location, RawRow)>,
    seen: &mut HashMap<String, Location>,
    summary: &mut ImportSummary,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
) -> Result<(), SitesError> {
    let mut valid: Vec<(Location, NewSite, Vec<RowIssue>)> = Vec::with_capacity(rows.len());
    for (location, row) in rows {
        let source_id = row.get("id").cloned();
        let mut report = |kind: IssueKind, issue: &RowIssue| {
            on_report(&ReportLine {
                location,
                source_id: source_id.clone(),
                kind,
                field: issue.field.clone(),
                reason: issue.reason.clone(),
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
                if let Some(first) = seen.get(&site.source_id) {
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
                seen.insert(site.source_id.clone(), location);
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
    let existing = existing_by_source_ids(db, &options.source, &ids).await?;
    for (location, site, corrections) in valid {
        let old = existing.get(&site.source_id);
        if let Some(old) = old
            && !can_write_site(actor, old.department_code.as_ref())
        {
            summary.rejected += 1;
            on_report(&ReportLine {
                location,
                source_id: Some(site.source_id.clone()),
                kind: IssueKind::Rejected,
                field: "id".to_owned(),
                reason: "the stored site with this id is outside the departments you may edit"
                    .to_owned(),
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
            });
        }
        match store(db, actor, "import", &options.source, &site, old).await? {
            StoreOutcome::Created(_) => summary.created += 1,
            StoreOutcome::Updated(_) => summary.updated += 1,
            StoreOutcome::Unchanged(_) => summary.unchanged += 1,
        }
    }
    Ok(())
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
                return Err(SitesError::InvalidFile(
                    "cannot tell which version of the national standard this file follows from its columns: pass \
                     --standard v0.1 or --standard v1, or --mapping for another layout (maillage mapping list)"
                        .to_owned(),
                ));
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
    let ok = !source.is_empty()
        && source.len() <= 64
        && source
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(SitesError::InvalidFile(format!(
            "invalid source name {source:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}
