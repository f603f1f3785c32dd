//! Importing a file of the national standard: two streaming passes, one transaction.
//!
//! Pass 1 reads the whole file once without storing anything: it checks the syntax (JSON or CSV), collects the
//! columns, detects the standard version and checks required columns. A file that is not readable as a whole is
//! refused before any write, so bad input never leaves a half-imported source behind. Pass 2 streams the rows from
//! a reading thread to the database, validating each row, inside a single transaction: the import is all or
//! nothing, and importing the same file again changes nothing.

use crate::SitesError;
use crate::model::{NewSite, StandardVersion};
use crate::standard::parse::{
    RawRow, RowIssue, RowOutcome, detect_version, known_columns, parse_row,
};
use crate::write::{StoreOutcome, can_write_site, existing_by_source_ids, store};
use maillage_core::{Actor, Role};
use sea_orm::DatabaseConnection;
use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Rows handled per round trip: bounds memory and lets the existing rows of a batch load in two statements.
const BATCH: usize = 500;

/// A file format the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Comma- (or semicolon-) separated values with a header row, UTF-8.
    Csv,
    /// A JSON array of objects, one per row.
    Json,
}

impl FileFormat {
    /// Parses `csv` or `json`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// Guesses from the file name's extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(Self::parse)
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Csv => "csv",
            Self::Json => "json",
        })
    }
}

/// How to read the file; `None` fields are detected.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The source name: with each row's `id`, the identity of a site.
    pub source: String,
    /// Force the format instead of guessing it from the extension.
    pub format: Option<FileFormat>,
    /// Force the standard version instead of detecting it from the columns.
    pub version: Option<StandardVersion>,
}

/// Where a row is in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A CSV line number (1 is the header).
    Line(u64),
    /// A 0-based index in a JSON array.
    Index(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line(n) => write!(f, "line {n}"),
            Self::Index(n) => write!(f, "index {n}"),
        }
    }
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
    /// Columns the standard does not define (ignored).
    pub unknown_columns: Vec<String>,
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

/// What pass 1 learnt about the file.
struct Scan {
    columns: Vec<String>,
    csv_delimiter: u8,
}

/// Imports a file into the sites of `options.source`.
///
/// `on_report` receives one line per rejected row issue and per corrected field; `on_progress` the number of rows
/// handled so far. Refused as a whole (nothing written) when the caller may not write sites, the file cannot be
/// read, its JSON or CSV syntax is broken anywhere, required columns are missing, or its version is unknown.
#[tracing::instrument(skip_all, fields(source = %options.source, path = %path.display()))]
pub async fn import_file(
    db: &DatabaseConnection,
    actor: &Actor,
    path: &Path,
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
    let format = match options.format.or_else(|| FileFormat::from_path(path)) {
        Some(f) => f,
        None => {
            return Err(SitesError::InvalidFile(format!(
                "cannot tell the format of {}: use a .csv or .json file, or pass --format csv|json",
                path.display()
            )));
        }
    };
    let scan_path = path.to_owned();
    let scan = tokio::task::spawn_blocking(move || scan_file(&scan_path, format))
        .await
        .map_err(|e| SitesError::InvalidFile(format!("reading the file failed: {e}")))??;
    let column_refs: Vec<&str> = scan.columns.iter().map(String::as_str).collect();
    let version = match options.version.or_else(|| detect_version(&column_refs)) {
        Some(v) => v,
        None => {
            return Err(SitesError::InvalidFile(
                "cannot tell which version of the national standard this file follows from its columns: pass \
                 --standard v0.1 or --standard v1"
                    .to_owned(),
            ));
        }
    };
    let known = known_columns(version);
    if format == FileFormat::Csv {
        let mut required = vec![
            "id",
            "pivot",
            "nom",
            "commune",
            "code_postal",
            "adresse",
            "date_maj",
        ];
        if version == StandardVersion::V0_1 {
            required.push("services");
        }
        let missing: Vec<&str> = required
            .into_iter()
            .filter(|c| !scan.columns.iter().any(|h| h == c))
            .collect();
        if !missing.is_empty() {
            return Err(SitesError::InvalidFile(format!(
                "missing required column(s) for standard {version}: {}",
                missing.join(", ")
            )));
        }
    }
    let unknown_columns: Vec<String> = scan
        .columns
        .iter()
        .filter(|c| !known.contains(&c.as_str()))
        .cloned()
        .collect();

    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Location, RawRow)>(BATCH);
    let read_path = path.to_owned();
    let delimiter = scan.csv_delimiter;
    let separator = version.separator();
    let reader = tokio::task::spawn_blocking(move || {
        read_rows(&read_path, format, delimiter, separator, &mut |loc, row| {
            tx.blocking_send((loc, row)).is_ok()
        })
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
    reader
        .await
        .map_err(|e| SitesError::InvalidFile(format!("reading the file failed: {e}")))??;
    let mut changes = maillage_access::AuditChanges::new();
    changes.note("file", &path.display().to_string());
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

fn open(path: &Path) -> Result<BufReader<std::fs::File>, SitesError> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|source| SitesError::Io {
            path: path.display().to_string(),
            source,
        })
}

/// Pass 1: syntax of the whole file, its columns, and (CSV) its delimiter.
fn scan_file(path: &Path, format: FileFormat) -> Result<Scan, SitesError> {
    match format {
        FileFormat::Json => {
            let mut columns = BTreeSet::new();
            for_each_json_row(open(path)?, &mut |_, row| {
                columns.extend(row.keys().cloned());
                true
            })?;
            Ok(Scan {
                columns: columns.into_iter().collect(),
                csv_delimiter: b',',
            })
        }
        FileFormat::Csv => {
            let mut file = open(path)?;
            let delimiter = sniff_delimiter(&mut file).map_err(|source| SitesError::Io {
                path: path.display().to_string(),
                source,
            })?;
            let mut reader = csv_reader(file, delimiter);
            let columns = csv_headers(&mut reader)?;
            let mut record = csv::ByteRecord::new();
            loop {
                match reader.read_byte_record(&mut record) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => return Err(csv_error(&e)),
                }
                if std::str::from_utf8(record.as_slice()).is_err() {
                    let line = record.position().map_or(0, csv::Position::line);
                    return Err(SitesError::InvalidFile(format!(
                        "line {line} is not valid UTF-8: save the file as UTF-8"
                    )));
                }
            }
            Ok(Scan {
                columns,
                csv_delimiter: delimiter,
            })
        }
    }
}

/// Pass 2: hands each row to `sink` until it returns false.
fn read_rows(
    path: &Path,
    format: FileFormat,
    delimiter: u8,
    separator: char,
    sink: &mut dyn FnMut(Location, RawRow) -> bool,
) -> Result<(), SitesError> {
    match format {
        FileFormat::Json => for_each_json_row(open(path)?, &mut |i, object| {
            let row = object
                .into_iter()
                .filter_map(|(k, v)| json_to_text(v, separator).map(|v| (k, v)))
                .collect();
            sink(Location::Index(i), row)
        }),
        FileFormat::Csv => {
            let mut reader = csv_reader(open(path)?, delimiter);
            let headers = csv_headers(&mut reader)?;
            for record in reader.records() {
                let record = record.map_err(|e| csv_error(&e))?;
                let line = record.position().map_or(0, csv::Position::line);
                let row = headers
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, v)| !v.trim().is_empty())
                    .map(|(h, v)| (h.clone(), v.to_owned()))
                    .collect();
                if !sink(Location::Line(line), row) {
                    break;
                }
            }
            Ok(())
        }
    }
}

fn csv_reader<R: Read>(reader: R, delimiter: u8) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(reader)
}

fn csv_headers<R: Read>(reader: &mut csv::Reader<R>) -> Result<Vec<String>, SitesError> {
    let headers = reader.headers().map_err(|e| csv_error(&e))?;
    Ok(headers
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
        .collect())
}

fn csv_error(e: &csv::Error) -> SitesError {
    let at = e
        .position()
        .map(|p| format!(" at line {}", p.line()))
        .unwrap_or_default();
    SitesError::InvalidFile(format!("invalid CSV{at}: {e}"))
}

/// French spreadsheets often export with `;`: take whichever of `,` and `;` is more frequent in the header line.
fn sniff_delimiter<R: BufRead>(reader: &mut R) -> std::io::Result<u8> {
    let buf = reader.fill_buf()?;
    let first_line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    let commas = first_line.iter().filter(|b| **b == b',').count();
    let semicolons = first_line.iter().filter(|b| **b == b';').count();
    Ok(if semicolons > commas { b';' } else { b',' })
}

/// A JSON value as the text the standard's CSV form would carry; `None` for null.
fn json_to_text(value: Value, separator: char) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => Some(
            items
                .into_iter()
                .filter_map(|v| json_to_text(v, separator))
                .collect::<Vec<_>>()
                .join(&separator.to_string()),
        ),
        Value::Object(_) => Some(value.to_string()),
    }
}

type JsonObject = serde_json::Map<String, Value>;

/// Streams the objects of a top-level JSON array to `sink` without holding the array in memory.
fn for_each_json_row<R: Read>(
    reader: R,
    sink: &mut dyn FnMut(u64, JsonObject) -> bool,
) -> Result<(), SitesError> {
    struct Rows<'a> {
        sink: &'a mut dyn FnMut(u64, JsonObject) -> bool,
    }
    impl<'de> Visitor<'de> for Rows<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of objects, one per site")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0u64;
            loop {
                let element: Option<Value> = seq.next_element()?;
                let Some(element) = element else { break };
                let Value::Object(object) = element else {
                    return Err(A::Error::custom(format!(
                        "element {index} of the array is not an object"
                    )));
                };
                if !(self.sink)(index, object) {
                    // The consumer stopped (its side failed): drain without work.
                    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    break;
                }
                index += 1;
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Rows<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    Rows { sink }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| SitesError::InvalidFile(format!("invalid JSON: {e}")))
}
