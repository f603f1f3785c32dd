//! Running matching against the database: load the narrow columns, find candidates, store them.
//!
//! One transaction per run. A pair is stored once, ever (`uq_site_match_pair`): a pending pair gets its score and
//! reasons refreshed, a decided pair (confirmed, rejected, auto-confirmed) is left as decided, so a rejected pair
//! never comes back for the same two records. Pending pairs that are no longer candidates (a record changed) are
//! withdrawn.

use super::canonical::{dedup_actor, join};
use super::entity::site_match;
use super::matching::{CELL_LAT, CELL_LON, Candidate, MatchInput, find_candidates};
use super::{CANONICAL_SOURCE, MatchStatus};
use crate::SitesError;
use crate::entity::site;
use chrono::{DateTime, Utc};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::{DepartmentCode, SiteId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, QueryFilter, QuerySelect, Set,
};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// How a run decides on its own.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MatchOptions {
    /// Confirm pairs scoring at least this much without review (as the actor `dedup`); `None`: never.
    ///
    /// 0.9 needs, for example, the same name, the same address and coordinates within 30 m, or the same real
    /// pivot with the same address and close coordinates.
    pub auto_confirm_at: Option<f64>,
}

impl MatchOptions {
    /// The recommended auto-confirmation threshold.
    pub const RECOMMENDED_THRESHOLD: f64 = 0.9;
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchSummary {
    /// Source records compared.
    pub records: usize,
    /// Candidate pairs found.
    pub candidates: usize,
    /// New pending pairs.
    pub created: usize,
    /// Pending pairs whose score or reasons changed.
    pub updated: usize,
    /// Pairs confirmed by this run.
    pub auto_confirmed: usize,
    /// Candidates already decided (left as they are).
    pub already_decided: usize,
    /// Pending pairs withdrawn because they are no longer candidates.
    pub withdrawn: usize,
    /// Time spent finding candidates (blocking and scoring), in milliseconds.
    pub matching_ms: u128,
}

#[derive(FromQueryResult)]
struct Row {
    id: i32,
    source: String,
    source_label: Option<String>,
    pivot: String,
    name: String,
    commune: String,
    insee_code: Option<String>,
    department_code: Option<String>,
    address: String,
    latitude: Option<f64>,
    longitude: Option<f64>,
    phone: Option<String>,
    emails: Option<String>,
    website: Option<String>,
    merged_into: Option<i32>,
}

async fn load<C: ConnectionTrait>(db: &C, cond: Condition) -> Result<Vec<Row>, SitesError> {
    Ok(site::Entity::find()
        .select_only()
        .columns([
            site::Column::Id,
            site::Column::Source,
            site::Column::SourceLabel,
            site::Column::Pivot,
            site::Column::Name,
            site::Column::Commune,
            site::Column::InseeCode,
            site::Column::DepartmentCode,
            site::Column::Address,
            site::Column::Latitude,
            site::Column::Longitude,
            site::Column::Phone,
            site::Column::Emails,
            site::Column::Website,
            site::Column::MergedInto,
        ])
        .filter(site::Column::Source.ne(CANONICAL_SOURCE))
        .filter(site::Column::ArchivedAt.is_null())
        .filter(cond)
        .into_model::<Row>()
        .all(db)
        .await?)
}

/// Matches every source record against every other (through blocking) and stores the candidates.
#[tracing::instrument(skip_all)]
pub async fn match_sites(
    db: &DatabaseConnection,
    options: &MatchOptions,
) -> Result<MatchSummary, SitesError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let summary = run_in(&txn, None, options).await?;
    txn.commit().await?;
    Ok(summary)
}

/// Matches the records `changed` (just imported or edited) against the records of their departments, in the
/// caller's transaction, and refreshes the canonical sites they belong to.
///
/// Pairs across departments are found by a full run ([`match_sites`], `maillage dedup run`).
#[tracing::instrument(skip_all, fields(changed = changed.len()))]
pub async fn match_sites_in<C: ConnectionTrait>(
    db: &C,
    changed: &[SiteId],
    options: &MatchOptions,
) -> Result<MatchSummary, SitesError> {
    if changed.is_empty() {
        return Ok(MatchSummary::default());
    }
    super::refresh_canonical_in(db, changed).await?;
    run_in(db, Some(changed), options).await
}

async fn run_in<C: ConnectionTrait>(
    db: &C,
    changed: Option<&[SiteId]>,
    options: &MatchOptions,
) -> Result<MatchSummary, SitesError> {
    let only: Option<HashSet<i32>> = changed.map(|c| c.iter().map(|i| i.0).collect());
    let rows = match &only {
        None => load(db, Condition::all()).await?,
        Some(ids) => neighbourhood(db, ids).await?,
    };
    let merged: HashMap<i32, Option<i32>> = rows.iter().map(|r| (r.id, r.merged_into)).collect();
    let departments: HashMap<i32, Option<String>> = rows
        .iter()
        .map(|r| (r.id, r.department_code.clone()))
        .collect();
    let inputs: Vec<MatchInput> = rows
        .into_iter()
        .map(|r| MatchInput {
            id: r.id,
            source: r.source,
            source_label: r.source_label,
            pivot: r.pivot,
            name: r.name,
            commune: r.commune,
            insee_code: r.insee_code,
            department_code: r.department_code,
            address: r.address,
            latitude: r.latitude,
            longitude: r.longitude,
            phone: r.phone,
            emails: r.emails,
            website: r.website,
        })
        .collect();
    let started = Instant::now();
    let candidates = find_candidates(&inputs, only.as_ref());
    let mut summary = MatchSummary {
        records: inputs.len(),
        candidates: candidates.len(),
        matching_ms: started.elapsed().as_millis(),
        ..MatchSummary::default()
    };
    drop(inputs);

    let existing = existing_pairs(db, only.as_ref()).await?;
    let found: HashSet<(i32, i32)> = candidates.iter().map(|c| (c.a, c.b)).collect();
    let now = Utc::now();
    let mut inserts = Vec::new();
    let mut to_confirm: Vec<(i32, i32, i32, f64)> = Vec::new();
    let sure = |c: &Candidate| options.auto_confirm_at.is_some_and(|t| c.score >= t);
    for c in &candidates {
        let reasons = serde_json::to_string(&c.reasons).unwrap_or_else(|_| "[]".to_owned());
        match existing.get(&(c.a, c.b)) {
            Some(old) if old.status == MatchStatus::Pending.as_str() => {
                if (old.score - c.score).abs() > f64::EPSILON || old.reasons != reasons {
                    site_match::Entity::update_many()
                        .col_expr(site_match::Column::Score, c.score.into())
                        .col_expr(site_match::Column::Reasons, reasons.clone().into())
                        .col_expr(site_match::Column::UpdatedAt, now.into())
                        .filter(site_match::Column::Id.eq(old.id))
                        .exec(db)
                        .await?;
                    summary.updated += 1;
                }
                if sure(c) {
                    to_confirm.push((old.id, c.a, c.b, c.score));
                }
            }
            Some(_) => summary.already_decided += 1,
            None => {
                let ma = merged.get(&c.a).copied().flatten();
                if ma.is_some() && ma == merged.get(&c.b).copied().flatten() {
                    // Already one canonical site through other confirmed pairs: nothing to review.
                    continue;
                }
                let model = site_match::ActiveModel {
                    site_a: Set(c.a),
                    site_b: Set(c.b),
                    score: Set(c.score),
                    reasons: Set(reasons),
                    status: Set(MatchStatus::Pending.as_str().to_owned()),
                    department_a: Set(departments.get(&c.a).cloned().flatten()),
                    department_b: Set(departments.get(&c.b).cloned().flatten()),
                    decided_by: Set(None),
                    decided_at: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                };
                if sure(c) {
                    let inserted = model.insert(db).await?;
                    to_confirm.push((inserted.id, c.a, c.b, c.score));
                } else {
                    inserts.push(model);
                }
                summary.created += 1;
            }
        }
    }
    for chunk in inserts.chunks(500) {
        site_match::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    let stale: Vec<i32> = existing
        .values()
        .filter(|m| {
            m.status == MatchStatus::Pending.as_str() && !found.contains(&(m.site_a, m.site_b))
        })
        .map(|m| m.id)
        .collect();
    for chunk in stale.chunks(500) {
        site_match::Entity::delete_many()
            .filter(site_match::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    summary.withdrawn = stale.len();
    let actor = dedup_actor();
    for (id, a, b, score) in to_confirm {
        site_match::Entity::update_many()
            .col_expr(
                site_match::Column::Status,
                MatchStatus::AutoConfirmed.as_str().into(),
            )
            .col_expr(site_match::Column::DecidedBy, actor.label().into())
            .col_expr(site_match::Column::DecidedAt, now.into())
            .col_expr(site_match::Column::UpdatedAt, now.into())
            .filter(site_match::Column::Id.eq(id))
            .exec(db)
            .await?;
        let canonical = join(db, &actor, a, b).await?;
        let mut changes = AuditChanges::new();
        changes.note("site_a", &a);
        changes.note("site_b", &b);
        changes.note("score", &score);
        changes.note("canonical", &canonical.0);
        changes.changed("status", "pending", MatchStatus::AutoConfirmed.as_str());
        let department = departments
            .get(&a)
            .cloned()
            .flatten()
            .and_then(|d| DepartmentCode::parse(&d).ok());
        record(
            db,
            &actor,
            AuditEntry::new("site_match", id.to_string(), "auto_confirm", changes)
                .department(department),
        )
        .await?;
        summary.auto_confirmed += 1;
    }
    Ok(summary)
}

/// The records an incremental run compares: the changed records, the records of their departments, and the
/// records of any department that share a real pivot with one of them or lie in a grid cell next to one of them
/// (so that a lieu on a department border, or a structure known by its SIRET in two departments, is matched).
async fn neighbourhood<C: ConnectionTrait>(
    db: &C,
    ids: &HashSet<i32>,
) -> Result<Vec<Row>, SitesError> {
    let mut own = Vec::new();
    let list: Vec<i32> = ids.iter().copied().collect();
    for chunk in list.chunks(500) {
        own.extend(
            load(
                db,
                Condition::all().add(site::Column::Id.is_in(chunk.iter().copied())),
            )
            .await?,
        );
    }
    let departments: HashSet<String> = own
        .iter()
        .filter_map(|r| r.department_code.clone())
        .collect();
    let pivots: Vec<String> = own
        .iter()
        .map(|r| r.pivot.trim().to_owned())
        .filter(|p| !p.is_empty() && !p.chars().all(|c| c == '0'))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // The changed records' coordinates, by tile of about 25 km: each tile's box, widened by two grid cells (the
    // blocking compares a cell with its neighbours), is one range condition on the indexed-free coordinates.
    const TILE: f64 = 0.25;
    let mut tiles: HashMap<(i64, i64), (f64, f64, f64, f64)> = HashMap::new();
    for r in &own {
        let (Some(lat), Some(lon)) = (r.latitude, r.longitude) else {
            continue;
        };
        if !lat.is_finite() || !lon.is_finite() {
            continue;
        }
        // Saturating float-to-int casts: coordinates are small, the tile index cannot lose meaning.
        let key = ((lat / TILE).floor() as i64, (lon / TILE).floor() as i64);
        let b = tiles.entry(key).or_insert((lat, lat, lon, lon));
        *b = (b.0.min(lat), b.1.max(lat), b.2.min(lon), b.3.max(lon));
    }
    let (dlat, dlon) = (2.0 * CELL_LAT, 2.0 * CELL_LON);
    let boxes: Vec<Condition> = tiles
        .into_values()
        .map(|(min_lat, max_lat, min_lon, max_lon)| {
            Condition::all()
                .add(site::Column::Latitude.between(min_lat - dlat, max_lat + dlat))
                .add(site::Column::Longitude.between(min_lon - dlon, max_lon + dlon))
        })
        .collect();

    let mut rows: HashMap<i32, Row> = own.into_iter().map(|r| (r.id, r)).collect();
    let mut add = |found: Vec<Row>| {
        for r in found {
            rows.entry(r.id).or_insert(r);
        }
    };
    if !departments.is_empty() {
        add(load(
            db,
            Condition::all().add(site::Column::DepartmentCode.is_in(departments)),
        )
        .await?);
    }
    for chunk in pivots.chunks(500) {
        add(load(
            db,
            Condition::all().add(site::Column::Pivot.is_in(chunk.iter().cloned())),
        )
        .await?);
    }
    for chunk in boxes.chunks(100) {
        let any = chunk
            .iter()
            .cloned()
            .fold(Condition::any(), |c, b| c.add(b));
        add(load(db, any).await?);
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    // Matching breaks ties by input order: keep it stable from one run to the next.
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Stored pairs in the scope of a run: all of them, or those touching the changed records.
async fn existing_pairs<C: ConnectionTrait>(
    db: &C,
    only: Option<&HashSet<i32>>,
) -> Result<HashMap<(i32, i32), site_match::Model>, SitesError> {
    let mut rows = Vec::new();
    match only {
        None => rows = site_match::Entity::find().all(db).await?,
        Some(ids) => {
            let list: Vec<i32> = ids.iter().copied().collect();
            for chunk in list.chunks(500) {
                rows.extend(
                    site_match::Entity::find()
                        .filter(
                            Condition::any()
                                .add(site_match::Column::SiteA.is_in(chunk.iter().copied()))
                                .add(site_match::Column::SiteB.is_in(chunk.iter().copied())),
                        )
                        .all(db)
                        .await?,
                );
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|m| ((m.site_a, m.site_b), m))
        .collect())
}

/// After an import of `source` that started at `since`: matches the records it created or changed and refreshes
/// their canonical sites, in one transaction.
///
/// For callers that do not collect the changed ids themselves (the command-line import); the rows are found by
/// `updated_at`, which every created or changed row carries.
#[tracing::instrument(skip_all, fields(site.source = %source))]
pub async fn match_after_import(
    db: &DatabaseConnection,
    source: &str,
    since: chrono::DateTime<Utc>,
    options: &MatchOptions,
) -> Result<MatchSummary, SitesError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let ids: Vec<i32> = site::Entity::find()
        .select_only()
        .column(site::Column::Id)
        .filter(site::Column::Source.eq(source))
        .filter(site::Column::UpdatedAt.gte(since))
        .into_tuple()
        .all(&txn)
        .await?;
    let ids: Vec<SiteId> = ids.into_iter().map(SiteId).collect();
    let summary = match_sites_in(&txn, &ids, options).await?;
    txn.commit().await?;
    Ok(summary)
}

/// The matching step of every import (`maillage import`, `import --feed`, HTTP import jobs): matches the records
/// the import of `source` created or changed since `since` (its start), once the import has committed, and
/// refreshes the canonical sites they belong to.
///
/// The import is stored whatever happens here: a failure is logged, not returned, and `maillage dedup run` finds
/// the same pairs later.
pub async fn match_imported_rows(db: &DatabaseConnection, source: &str, since: DateTime<Utc>) {
    match match_after_import(db, source, since, &MatchOptions::default()).await {
        Ok(s) => tracing::info!(
            site.source = %source,
            records = s.records,
            candidates = s.candidates,
            created = s.created,
            withdrawn = s.withdrawn,
            matching_ms = u64::try_from(s.matching_ms).unwrap_or(u64::MAX),
            "matched the imported rows"
        ),
        Err(e) => tracing::error!(
            site.source = %source,
            error = %e,
            "the import is stored, but matching its rows failed; run `maillage dedup run`"
        ),
    }
}
