//! The write side of an import: rows are *staged* in short committed chunks, then *published* in one transaction of
//! multi-row statements.
//!
//! Staging does the slow part (reading, validating, comparing with what is stored, deciding what each row does)
//! while holding the database's write lock only for one multi-row `INSERT` per chunk, so the API keeps reading and
//! writing during a long import. Publishing applies the staged rows with a fixed number of statements per chunk
//! (sites, their values, their provenance, their audit entries) and deletes them, all in one transaction: an import
//! is still all or nothing. Rows left in the staging table belong to an import that did not finish (a crash, a
//! cancelled job); [`discard_unfinished_staging`] removes them.

use crate::SitesError;
use crate::entity::{site, site_import_stage as stage, site_value};
use crate::import::{IssueKind, Location, ReportLine};
use crate::model::TaggedValue;
use crate::provenance::{self, ImportOrigin};
use crate::query::{Site, from_model, load_values};
use chrono::{DateTime, Utc};
use maillage_access::{AuditChanges, AuditEntry, record_many};
use maillage_core::{Actor, DepartmentCode};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait,
    IntoActiveModel, NotSet, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// `site.archive_origin` of a site a complete feed archived (the only archived sites a feed restores).
pub(crate) const ARCHIVED_BY_IMPORT: &str = "import";
/// `site.archive_origin` of a site archived through the API.
pub(crate) const ARCHIVED_BY_API: &str = "api";

/// Rows published per round of statements. Sites have 38 columns: 400 rows stay under SQLite's limit of 32 766
/// bound values per statement.
const PUBLISH_CHUNK: usize = 400;
/// Values per multi-row statement (5 bound values each).
const VALUES_PER_STATEMENT: usize = 4_000;
/// Staged rows per `INSERT` (4 bound values each).
const STAGE_PER_STATEMENT: usize = 2_000;

/// What a staged row does when published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Action {
    /// Insert a new site.
    Create,
    /// Replace the content of a live site.
    Update,
    /// Bring back a site a complete feed archived (its content may change too).
    Restore,
    /// Archive a site a complete feed no longer lists.
    Archive,
}

/// [`Location`], as staged.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum StagedLocation {
    Line(u64),
    Index(u64),
}

impl From<Location> for StagedLocation {
    fn from(l: Location) -> Self {
        match l {
            Location::Line(n) => Self::Line(n),
            Location::Index(n) => Self::Index(n),
        }
    }
}

impl From<StagedLocation> for Location {
    fn from(l: StagedLocation) -> Self {
        match l {
            StagedLocation::Line(n) => Self::Line(n),
            StagedLocation::Index(n) => Self::Index(n),
        }
    }
}

/// One row of an import, decided and ready to publish.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Staged {
    pub(crate) action: Action,
    /// The stored site, for every action but `Create`.
    pub(crate) site_id: Option<i32>,
    /// The version the decision was taken on: publishing skips the row if the site changed since.
    pub(crate) base_version: Option<i32>,
    pub(crate) source_id: String,
    /// Where the row is in the file (none for an archived site, absent from it).
    pub(crate) location: Option<StagedLocation>,
    pub(crate) department: Option<String>,
    /// The complete row to write (`Create`, `Update`, `Restore`).
    pub(crate) row: Option<site::Model>,
    /// The multi-valued fields to write (`Create`, `Update`, `Restore`).
    pub(crate) values: Vec<(String, Option<String>, String)>,
    /// The audit trail's `{ field: { before, after } }`.
    pub(crate) changes: serde_json::Value,
    /// Fields an API edit had set and the feed now overrides: their own provenance rows go.
    pub(crate) forget: Vec<String>,
}

impl Staged {
    pub(crate) fn values_of(values: &[TaggedValue]) -> Vec<(String, Option<String>, String)> {
        values
            .iter()
            .map(|v| (v.kind.as_str().to_owned(), v.value.clone(), v.raw.clone()))
            .collect()
    }
}

/// A stored site as an import sees it: its content, and whether and by whom it is archived.
pub(crate) struct Existing {
    pub(crate) site: Site,
    pub(crate) archived: bool,
    pub(crate) archive_origin: Option<String>,
}

/// The stored sites (live or archived) of one source with these source ids, keyed by source id (two statements).
pub(crate) async fn existing<C: ConnectionTrait>(
    db: &C,
    source: &str,
    source_ids: &[String],
) -> Result<HashMap<String, Existing>, SitesError> {
    if source_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = site::Entity::find()
        .filter(site::Column::Source.eq(source))
        .filter(site::Column::SourceId.is_in(source_ids.iter().cloned()))
        .all(db)
        .await?;
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let mut values = load_values(db, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let v = values.remove(&row.id).unwrap_or_default();
            let key = row.source_id.clone();
            let archived = row.archived_at.is_some();
            let archive_origin = row.archive_origin.clone();
            from_model(row, v).map(|site| {
                (
                    key,
                    Existing {
                        site,
                        archived,
                        archive_origin,
                    },
                )
            })
        })
        .collect()
}

/// A live site of a source, as a complete feed checks for absence.
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub(crate) struct LiveSite {
    pub(crate) id: i32,
    pub(crate) source_id: String,
    pub(crate) version: i32,
    pub(crate) department_code: Option<String>,
}

/// Every live site of `source` (one statement; four small columns each).
pub(crate) async fn live_sites<C: ConnectionTrait>(
    db: &C,
    source: &str,
) -> Result<Vec<LiveSite>, SitesError> {
    Ok(site::Entity::find()
        .select_only()
        .column(site::Column::Id)
        .column(site::Column::SourceId)
        .column(site::Column::Version)
        .column(site::Column::DepartmentCode)
        .filter(site::Column::Source.eq(source))
        .filter(site::Column::ArchivedAt.is_null())
        .into_model::<LiveSite>()
        .all(db)
        .await?)
}

/// A new key for one import's staged rows: unique across processes and restarts.
pub(crate) fn new_job_key(import_job_id: Option<i32>) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    match import_job_id {
        Some(job) => format!("job-{job}-{nanos}-{n}"),
        None => format!("run-{}-{nanos}-{n}", std::process::id()),
    }
}

/// Appends rows to an import's staging area, in one short committed transaction.
pub(crate) async fn stage(
    db: &DatabaseConnection,
    job_key: &str,
    first_seq: i32,
    rows: &[Staged],
) -> Result<(), SitesError> {
    if rows.is_empty() {
        return Ok(());
    }
    if db.get_database_backend() == DatabaseBackend::Postgres {
        return stage_copy(db, job_key, first_seq, rows).await;
    }
    let now = Utc::now();
    let mut models = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let payload = payload_of(row)?;
        models.push(stage::ActiveModel {
            job_key: Set(job_key.to_owned()),
            seq: Set(first_seq + i32::try_from(i).unwrap_or(i32::MAX)),
            payload: Set(payload),
            created_at: Set(now),
        });
    }
    let txn = maillage_core::db::begin_write(db).await?;
    let mut models = models.into_iter();
    loop {
        let chunk: Vec<_> = models.by_ref().take(STAGE_PER_STATEMENT).collect();
        if chunk.is_empty() {
            break;
        }
        stage::Entity::insert_many(chunk)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

fn payload_of(row: &Staged) -> Result<String, SitesError> {
    serde_json::to_string(row).map_err(|e| {
        SitesError::Database(sea_orm::DbErr::Custom(format!("cannot stage a row: {e}")))
    })
}

fn copy_error(e: sea_orm::sqlx::Error) -> SitesError {
    SitesError::Database(sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(
        std::sync::Arc::new(e),
    )))
}

/// [`stage`] on PostgreSQL: one `COPY … FROM STDIN` per chunk, the cheapest way in (autocommitted: the staged rows
/// are invisible to readers until published, and unlogged, so a crash empties the table).
async fn stage_copy(
    db: &DatabaseConnection,
    job_key: &str,
    first_seq: i32,
    rows: &[Staged],
) -> Result<(), SitesError> {
    use sea_orm::sqlx::postgres::PgPoolCopyExt;
    use std::fmt::Write as _;
    let now = Utc::now().to_rfc3339();
    let mut data = String::with_capacity(rows.len() * 2_048);
    for (i, row) in rows.iter().enumerate() {
        let payload = payload_of(row)?;
        let seq = first_seq.saturating_add(i32::try_from(i).unwrap_or(i32::MAX));
        // COPY's text format escapes backslashes; compact JSON has no raw tab or line break, and the job key and
        // timestamp are plain ASCII.
        let _ = write!(data, "{job_key}\t{seq}\t");
        data.push_str(&payload.replace('\\', "\\\\"));
        let _ = writeln!(data, "\t{now}");
    }
    let pool = db.get_postgres_connection_pool();
    let mut copy = pool
        .copy_in_raw(
            "COPY site_import_stage (job_key, seq, payload, created_at) FROM STDIN (FORMAT text)",
        )
        .await
        .map_err(copy_error)?;
    copy.send(data.into_bytes()).await.map_err(copy_error)?;
    copy.finish().await.map_err(copy_error)?;
    Ok(())
}

/// Deletes the staged rows of one import (after a failure or a cancellation).
pub(crate) async fn discard<C: ConnectionTrait>(db: &C, job_key: &str) -> Result<u64, SitesError> {
    Ok(stage::Entity::delete_many()
        .filter(stage::Column::JobKey.eq(job_key))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes the staged rows of the import job `job` (a job declared interrupted).
pub(crate) async fn discard_job_staging<C: ConnectionTrait>(
    db: &C,
    job: i32,
) -> Result<u64, SitesError> {
    Ok(stage::Entity::delete_many()
        .filter(stage::Column::JobKey.starts_with(format!("job-{job}-")))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes the staged rows of command-line imports (no job) whose newest row is older than `before`: their process
/// stopped long ago.
pub(crate) async fn discard_stale_runs<C: ConnectionTrait>(
    db: &C,
    before: DateTime<Utc>,
) -> Result<u64, SitesError> {
    let live: Vec<String> = stage::Entity::find()
        .select_only()
        .column(stage::Column::JobKey)
        .filter(stage::Column::JobKey.starts_with("run-"))
        .filter(stage::Column::CreatedAt.gte(before))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    Ok(stage::Entity::delete_many()
        .filter(stage::Column::JobKey.starts_with("run-"))
        .filter(stage::Column::JobKey.is_not_in(live))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes every staged row: the imports they belong to did not finish (the process stopped). Call it at startup,
/// before any import runs; an import whose rows were discarded while it ran fails rather than publish a part.
pub async fn discard_unfinished_staging<C: ConnectionTrait>(db: &C) -> Result<u64, SitesError> {
    Ok(stage::Entity::delete_many().exec(db).await?.rows_affected)
}

/// What publishing did, for the summary.
#[derive(Debug, Default)]
pub(crate) struct Published {
    /// Staged rows whose site changed after it was staged (an API edit during the import): not written.
    pub(crate) skipped: Vec<Staged>,
}

/// Publishes the `count` staged rows of `job_key` (rows of `source`) inside the caller's transaction, then deletes
/// them.
pub(crate) async fn publish<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    source: &str,
    job_key: &str,
    count: i32,
    origin: &ImportOrigin,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
) -> Result<Published, SitesError> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        return publish_pg(txn, actor, source, job_key, count, origin, on_report).await;
    }
    let mut published = Published::default();
    let chunk_len = i32::try_from(PUBLISH_CHUNK).unwrap_or(i32::MAX);
    let mut from = 0;
    while from < count {
        let to = Ord::min(from.saturating_add(chunk_len), count);
        let rows = stage::Entity::find()
            .filter(stage::Column::JobKey.eq(job_key))
            .filter(stage::Column::Seq.gte(from))
            .filter(stage::Column::Seq.lt(to))
            .order_by_asc(stage::Column::Seq)
            .all(txn)
            .await?;
        if rows.len() != usize::try_from(to - from).unwrap_or(usize::MAX) {
            return Err(SitesError::StagingLost(job_key.to_owned()));
        }
        let staged = rows
            .into_iter()
            .map(|r| {
                serde_json::from_str::<Staged>(&r.payload).map_err(|e| {
                    SitesError::Database(sea_orm::DbErr::Custom(format!(
                        "staged row {} of {job_key} is unreadable: {e}",
                        r.seq
                    )))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        publish_chunk(txn, actor, staged, origin, &mut published, on_report).await?;
        from = to;
    }
    discard(txn, job_key).await?;
    Ok(published)
}

fn pg(sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    sea_orm::Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)
}

/// [`publish`] on PostgreSQL: a fixed number of set-based statements for the whole import, whatever its size. The
/// staging table's payload is `jsonb` there (parsed once, by the `COPY` that staged it), and every write is an
/// `INSERT … SELECT`, `UPDATE … FROM` or `DELETE … USING` over it: no row travels back to the client, except the
/// rare rows whose site an API edit changed since they were staged.
async fn publish_pg<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    source: &str,
    job_key: &str,
    count: i32,
    origin: &ImportOrigin,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
) -> Result<Published, SitesError> {
    let mut published = Published::default();
    let now = Utc::now();
    let key = || -> sea_orm::Value { job_key.into() };
    let staged = txn
        .query_one_raw(pg(
            "SELECT count(*) AS n FROM site_import_stage WHERE job_key = $1",
            vec![key()],
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or_default();
    if staged != i64::from(count) {
        return Err(SitesError::StagingLost(job_key.to_owned()));
    }
    // The stored sites the import changes, locked (in id order, as every writer does).
    txn.execute_raw(pg(
        "CREATE TEMP TABLE import_touched ON COMMIT DROP AS \
         SELECT st.seq, (st.payload->>'site_id')::int AS site_id, (st.payload->>'base_version')::int AS base, \
                st.payload->>'action' AS action \
         FROM site_import_stage st WHERE st.job_key = $1 AND st.payload->>'site_id' IS NOT NULL",
        vec![key()],
    ))
    .await?;
    txn.execute_raw(pg(
        "SELECT count(*) FROM (SELECT id FROM site WHERE id IN (SELECT site_id FROM import_touched) \
         ORDER BY id FOR UPDATE) locked",
        vec![],
    ))
    .await?;
    // Rows whose site changed since the row was decided are set aside: an API edit made while the file was
    // staging stands.
    let stale = txn
        .query_all_raw(pg(
            "SELECT st.seq, st.payload::text AS payload FROM import_touched t \
             JOIN site_import_stage st ON st.job_key = $1 AND st.seq = t.seq \
             LEFT JOIN site s ON s.id = t.site_id \
             WHERE s.id IS NULL OR s.version <> t.base OR (t.action = 'Archive' AND s.archived_at IS NOT NULL) \
             ORDER BY st.seq",
            vec![key()],
        ))
        .await?;
    let mut stale_seqs = Vec::with_capacity(stale.len());
    for r in stale {
        stale_seqs.push(r.try_get::<i32>("", "seq")?);
        let payload: String = r.try_get("", "payload")?;
        let s = serde_json::from_str::<Staged>(&payload).map_err(|e| {
            SitesError::Database(sea_orm::DbErr::Custom(format!(
                "a staged row of {job_key} is unreadable: {e}"
            )))
        })?;
        report_stale(&s, on_report);
        published.skipped.push(s);
    }
    if !stale_seqs.is_empty() {
        txn.execute_raw(pg(
            "DELETE FROM site_import_stage WHERE job_key = $1 AND seq = ANY($2)",
            vec![key(), stale_seqs.into()],
        ))
        .await?;
    }

    // New sites: every column but the id (and merges, which only dedup sets).
    let list = INSERTED_COLUMNS.join(", ");
    let select = INSERTED_COLUMNS
        .iter()
        .map(|c| format!("r.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    txn.execute_raw(pg(
        &format!(
            "INSERT INTO site ({list}) SELECT {select} FROM site_import_stage st \
             CROSS JOIN LATERAL jsonb_populate_record(NULL::site, st.payload->'row') r \
             WHERE st.job_key = $1 AND st.payload->>'action' = 'Create' ORDER BY st.seq"
        ),
        vec![key()],
    ))
    .await
    .map_err(|e| {
        if maillage_core::db::is_unique_violation(&e) {
            SitesError::Conflict {
                site_source: source.to_owned(),
                source_id: "(one of a batch)".to_owned(),
            }
        } else {
            e.into()
        }
    })?;
    // Changed and restored sites: every content column.
    let set = UPDATED_COLUMNS
        .iter()
        .map(|c| {
            let c = sea_orm::IdenStatic::as_str(c);
            format!("{c} = r.{c}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    txn.execute_raw(pg(
        &format!(
            "UPDATE site SET {set} FROM site_import_stage st \
             CROSS JOIN LATERAL jsonb_populate_record(NULL::site, st.payload->'row') r \
             WHERE st.job_key = $1 AND st.payload->>'action' IN ('Update', 'Restore') \
               AND site.id = (st.payload->>'site_id')::int"
        ),
        vec![key()],
    ))
    .await?;
    txn.execute_raw(pg(
        "UPDATE site SET archived_at = $2, archive_origin = $3, version = version + 1, updated_at = $2 \
         WHERE id IN (SELECT (payload->>'site_id')::int FROM site_import_stage \
                      WHERE job_key = $1 AND payload->>'action' = 'Archive') \
           AND archived_at IS NULL",
        vec![key(), now.into(), ARCHIVED_BY_IMPORT.into()],
    ))
    .await?;
    // The site of every published row, new ones included, for their values, provenance and audit entries.
    txn.execute_raw(pg(
        "CREATE TEMP TABLE import_published ON COMMIT DROP AS \
         SELECT st.seq, s.id AS site_id, st.payload->>'action' AS action FROM site_import_stage st \
         JOIN site s ON s.source = $2 AND s.source_id = st.payload->>'source_id' WHERE st.job_key = $1",
        vec![key(), source.into()],
    ))
    .await?;
    txn.execute_raw(pg("ANALYZE import_published", vec![]))
        .await?;
    txn.execute_raw(pg(
        "DELETE FROM site_value WHERE site_id IN \
           (SELECT site_id FROM import_published WHERE action IN ('Update', 'Restore'))",
        vec![],
    ))
    .await?;
    txn.execute_raw(pg(
        "INSERT INTO site_value (site_id, kind, position, value, raw) \
         SELECT t.site_id, v.e->>0, (v.n - 1)::int, v.e->>1, v.e->>2 FROM import_published t \
         JOIN site_import_stage st ON st.job_key = $1 AND st.seq = t.seq \
         CROSS JOIN LATERAL jsonb_array_elements(st.payload->'values') WITH ORDINALITY AS v(e, n) \
         WHERE t.action <> 'Archive'",
        vec![key()],
    ))
    .await?;
    txn.execute_raw(pg(
        "INSERT INTO site_field_provenance \
           (site_id, field, origin, feed_id, import_job_id, file_name, file_date, record_site_id, actor, at) \
         SELECT site_id, $1, $2, $3, $4, $5, $6, NULL, $7, $8 FROM import_published \
         WHERE action <> 'Archive' \
         ON CONFLICT (site_id, field) DO UPDATE SET origin = EXCLUDED.origin, feed_id = EXCLUDED.feed_id, \
           import_job_id = EXCLUDED.import_job_id, file_name = EXCLUDED.file_name, \
           file_date = EXCLUDED.file_date, record_site_id = EXCLUDED.record_site_id, \
           actor = EXCLUDED.actor, at = EXCLUDED.at",
        vec![
            provenance::ALL_FIELDS.into(),
            provenance::Origin::Import.as_str().into(),
            origin.feed_id.into(),
            origin.import_job_id.into(),
            origin.file_name.clone().into(),
            origin.file_date.into(),
            origin.actor.clone().into(),
            now.into(),
        ],
    ))
    .await?;
    txn.execute_raw(pg(
        "DELETE FROM site_field_provenance f USING import_published t \
         JOIN site_import_stage st ON st.job_key = $1 AND st.seq = t.seq \
         CROSS JOIN LATERAL jsonb_array_elements_text(st.payload->'forget') AS g(field) \
         WHERE t.action IN ('Update', 'Restore') AND f.site_id = t.site_id AND f.field = g.field",
        vec![key()],
    ))
    .await?;
    txn.execute_raw(pg(
        "INSERT INTO audit_log (occurred_at, actor_label, actor_role, request_id, entity_type, entity_id, action, \
           changes, department_code) \
         SELECT $2, $3, $4, $5, 'site', t.site_id::text, \
           CASE t.action WHEN 'Create' THEN 'create' WHEN 'Update' THEN 'update' WHEN 'Restore' THEN 'restore' \
             ELSE 'archive' END, \
           (st.payload->'changes')::text, st.payload->>'department' \
         FROM import_published t JOIN site_import_stage st ON st.job_key = $1 AND st.seq = t.seq \
         ORDER BY t.seq",
        vec![
            key(),
            now.into(),
            actor.label().into(),
            actor.role().as_str().into(),
            actor.request_id().map(str::to_owned).into(),
        ],
    ))
    .await?;
    discard(txn, job_key).await?;
    Ok(published)
}

/// Reports a staged row that was not applied because its site changed after the row was decided.
fn report_stale(s: &Staged, on_report: &mut (dyn FnMut(&ReportLine) + Send)) {
    if let Some(location) = s.location {
        on_report(&ReportLine {
            location: location.into(),
            source_id: Some(s.source_id.clone()),
            kind: IssueKind::EditedDuringImport,
            field: "id".to_owned(),
            reason: "the site was changed through the API while the file was being imported: that change \
                     stands, import the file again to apply it"
                .to_owned(),
            stored_value: None,
            file_value: None,
        });
    }
}

#[derive(sea_orm::FromQueryResult)]
struct Current {
    id: i32,
    version: i32,
    archived_at: Option<DateTime<Utc>>,
}

async fn publish_chunk<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    staged: Vec<Staged>,
    origin: &ImportOrigin,
    published: &mut Published,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
) -> Result<(), SitesError> {
    let now = Utc::now();
    // A site changed since its row was decided (an API edit while the import was staging) keeps that change: the
    // row is skipped and reported, and the next import decides again on the new state.
    let ids: Vec<i32> = staged.iter().filter_map(|s| s.site_id).collect();
    let current: HashMap<i32, Current> = if ids.is_empty() {
        HashMap::new()
    } else {
        let mut q = site::Entity::find()
            .select_only()
            .column(site::Column::Id)
            .column(site::Column::Version)
            .column(site::Column::ArchivedAt)
            .filter(site::Column::Id.is_in(ids));
        if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            q = q.lock_exclusive();
        }
        q.into_model::<Current>()
            .all(txn)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect()
    };
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    let mut archives = Vec::new();
    for s in staged {
        let fresh = match (s.site_id, s.base_version) {
            (Some(id), Some(base)) => current.get(&id).is_some_and(|c| {
                c.version == base && (s.action != Action::Archive || c.archived_at.is_none())
            }),
            _ => s.action == Action::Create,
        };
        if !fresh {
            report_stale(&s, on_report);
            published.skipped.push(s);
            continue;
        }
        match s.action {
            Action::Create => creates.push(s),
            Action::Update | Action::Restore => updates.push(s),
            Action::Archive => archives.push(s),
        }
    }

    let mut entries = Vec::with_capacity(creates.len() + updates.len() + archives.len());
    let mut values: Vec<site_value::ActiveModel> = Vec::new();
    let mut provenance_rows = Vec::new();
    let mut forget = Vec::new();

    if !creates.is_empty() {
        let models: Vec<site::ActiveModel> = creates
            .iter()
            .filter_map(|s| s.row.clone())
            .map(|m| {
                let mut a = m.into_active_model();
                a.id = NotSet;
                a
            })
            .collect();
        // Only the new ids come back (not every column of every row), keyed by source id since a multi-row
        // INSERT does not promise to return them in order.
        let mut insert = site::Entity::insert_many(models).into_query();
        insert.returning(
            sea_orm::sea_query::Query::returning()
                .columns([site::Column::Id, site::Column::SourceId]),
        );
        let inserted = txn
            .query_all(&insert)
            .await
            .and_then(|rows| {
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get::<String>("", "source_id")?,
                            r.try_get::<i32>("", "id")?,
                        ))
                    })
                    .collect::<Result<HashMap<String, i32>, sea_orm::DbErr>>()
            })
            .map_err(|e| {
                if maillage_core::db::is_unique_violation(&e) {
                    SitesError::Conflict {
                        site_source: creates
                            .first()
                            .and_then(|s| s.row.as_ref())
                            .map(|r| r.source.clone())
                            .unwrap_or_default(),
                        source_id: "(one of a batch)".to_owned(),
                    }
                } else {
                    e.into()
                }
            })?;
        for s in &creates {
            let Some(&id) = inserted.get(&s.source_id) else {
                return Err(SitesError::StagingLost(format!(
                    "site {:?} was not inserted",
                    s.source_id
                )));
            };
            push_values(&mut values, id, &s.values);
            provenance_rows.push(provenance::import_row(id, origin, now));
            entries.push(entry(id, "create", s));
        }
    }

    if !updates.is_empty() {
        let models: Vec<site::ActiveModel> = updates
            .iter()
            .filter_map(|s| s.row.clone())
            .map(IntoActiveModel::into_active_model)
            .collect();
        let ids: Vec<i32> = updates.iter().filter_map(|s| s.site_id).collect();
        // One multi-row upsert on the primary key replaces every content column of every updated site.
        site::Entity::insert_many(models)
            .on_conflict(
                OnConflict::column(site::Column::Id)
                    .update_columns(UPDATED_COLUMNS)
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        site_value::Entity::delete_many()
            .filter(site_value::Column::SiteId.is_in(ids))
            .exec(txn)
            .await?;
        for s in &updates {
            let Some(id) = s.site_id else { continue };
            push_values(&mut values, id, &s.values);
            provenance_rows.push(provenance::import_row(id, origin, now));
            forget.extend(s.forget.iter().map(|f| (id, f.clone())));
            let action = if s.action == Action::Restore {
                "restore"
            } else {
                "update"
            };
            entries.push(entry(id, action, s));
        }
    }

    if !archives.is_empty() {
        let ids: Vec<i32> = archives.iter().filter_map(|s| s.site_id).collect();
        site::Entity::update_many()
            .col_expr(site::Column::ArchivedAt, Expr::value(now))
            .col_expr(site::Column::ArchiveOrigin, Expr::value(ARCHIVED_BY_IMPORT))
            .col_expr(
                site::Column::Version,
                Expr::col(site::Column::Version).add(1),
            )
            .col_expr(site::Column::UpdatedAt, Expr::value(now))
            .filter(site::Column::Id.is_in(ids))
            .filter(site::Column::ArchivedAt.is_null())
            .exec(txn)
            .await?;
        for s in &archives {
            if let Some(id) = s.site_id {
                entries.push(entry(id, "archive", s));
            }
        }
    }

    let mut values = values.into_iter();
    loop {
        let chunk: Vec<_> = values.by_ref().take(VALUES_PER_STATEMENT).collect();
        if chunk.is_empty() {
            break;
        }
        site_value::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
    provenance::upsert(txn, provenance_rows).await?;
    provenance::forget(txn, &forget).await?;
    record_many(txn, actor, entries).await?;
    Ok(())
}

/// Every column an import writes for a new site (all but its id and `merged_into`), by name.
const INSERTED_COLUMNS: [&str; 35] = [
    "source",
    "source_id",
    "standard_version",
    "pivot",
    "name",
    "commune",
    "postal_code",
    "insee_code",
    "department_code",
    "address",
    "address_complement",
    "latitude",
    "longitude",
    "ban_key",
    "phone",
    "emails",
    "website",
    "opening_hours",
    "opening_hours_valid",
    "opening_week",
    "summary",
    "description",
    "source_label",
    "parent_structure",
    "updated_on",
    "other_labels",
    "accessibility_url",
    "booking_url",
    "search_text",
    "sort_name",
    "version",
    "created_at",
    "updated_at",
    "archived_at",
    "archive_origin",
];

/// Every column an import may change on a stored site (all but its id and creation time).
const UPDATED_COLUMNS: [site::Column; 34] = [
    site::Column::Source,
    site::Column::SourceId,
    site::Column::StandardVersion,
    site::Column::Pivot,
    site::Column::Name,
    site::Column::Commune,
    site::Column::PostalCode,
    site::Column::InseeCode,
    site::Column::DepartmentCode,
    site::Column::Address,
    site::Column::AddressComplement,
    site::Column::Latitude,
    site::Column::Longitude,
    site::Column::BanKey,
    site::Column::Phone,
    site::Column::Emails,
    site::Column::Website,
    site::Column::OpeningHours,
    site::Column::OpeningHoursValid,
    site::Column::OpeningWeek,
    site::Column::Summary,
    site::Column::Description,
    site::Column::SourceLabel,
    site::Column::ParentStructure,
    site::Column::UpdatedOn,
    site::Column::OtherLabels,
    site::Column::AccessibilityUrl,
    site::Column::BookingUrl,
    site::Column::SearchText,
    site::Column::SortName,
    site::Column::Version,
    site::Column::UpdatedAt,
    site::Column::ArchivedAt,
    site::Column::ArchiveOrigin,
];

fn push_values(
    out: &mut Vec<site_value::ActiveModel>,
    site: i32,
    values: &[(String, Option<String>, String)],
) {
    out.extend(
        values
            .iter()
            .enumerate()
            .map(|(i, (kind, value, raw))| site_value::ActiveModel {
                site_id: Set(site),
                kind: Set(kind.clone()),
                position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
                value: Set(value.clone()),
                raw: Set(raw.clone()),
            }),
    );
}

fn entry(id: i32, action: &'static str, s: &Staged) -> AuditEntry {
    let mut changes = AuditChanges::new();
    if let serde_json::Value::Object(map) = &s.changes {
        for (k, v) in map {
            changes.note(k, v);
        }
    }
    AuditEntry::new("site", id.to_string(), action, changes).department(
        s.department
            .as_deref()
            .and_then(|d| DepartmentCode::parse(d).ok()),
    )
}
