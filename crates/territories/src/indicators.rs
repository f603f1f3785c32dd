//! Reported indicators: figures a hub (or the network of all hubs) declares, e.g. "lieux recensés 6 200, 17 Nov
//! 2020, Banque des Territoires", kept beside what Maillage measures. Every version is kept as a revision, so a
//! dashboard can show how a reported figure moved; the hub's coordinators and admins edit them (admins alone for
//! the network's), audited.

use crate::TerritoriesError;
use crate::coordinators::require_profile_editor;
use crate::entity::{hub, hub_indicator, hub_indicator_revision};
use chrono::{DateTime, NaiveDate, Utc};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::error::FieldPath;
use maillage_core::{Actor, HubId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TryInsertResult,
};
use serde::Deserialize;

/// Identifier of a reported indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HubIndicatorId(pub i32);

/// A reported indicator as it stands now.
#[derive(Debug, Clone, PartialEq)]
pub struct HubIndicator {
    /// Identifier, stable across its revisions.
    pub id: HubIndicatorId,
    /// The hub reporting it; `None` for the network of all hubs.
    pub hub: Option<HubId>,
    /// Stable key (e.g. `sites_mapped`), so a dashboard can match it with a measure whatever its wording.
    pub code: String,
    /// Label, e.g. "Lieux de médiation numérique recensés".
    pub name: String,
    /// The figure.
    pub value: f64,
    /// Its unit, e.g. `lieux`, `aidants`, `€`.
    pub unit: String,
    /// The date the figure describes.
    pub observed_on: NaiveDate,
    /// Who published it (and where).
    pub source: String,
    /// Optimistic-locking version, also the number of its latest revision.
    pub version: i32,
}

/// One version of an indicator (the current one included).
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorRevision {
    /// The indicator.
    pub indicator: HubIndicatorId,
    /// Version number, 1 for the first value reported.
    pub version: i32,
    /// Label at that version.
    pub name: String,
    /// The figure at that version.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The date the figure described.
    pub observed_on: NaiveDate,
    /// Its source.
    pub source: String,
    /// When this version was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl From<hub_indicator::Model> for HubIndicator {
    fn from(m: hub_indicator::Model) -> Self {
        Self {
            id: HubIndicatorId(m.id),
            hub: m.hub_id.map(HubId),
            code: m.code,
            name: m.name,
            value: m.value,
            unit: m.unit,
            observed_on: m.observed_on,
            source: m.source,
            version: m.version,
        }
    }
}

/// An indicator to report.
#[derive(Debug, Clone)]
pub struct NewHubIndicator {
    /// The hub; `None` for the network of all hubs (admins).
    pub hub: Option<HubId>,
    /// Stable key: lower-case letters, digits and `_`, unique per hub.
    pub code: String,
    /// Label.
    pub name: String,
    /// The figure (finite).
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The date it describes.
    pub observed_on: NaiveDate,
    /// Who published it.
    pub source: String,
}

/// A new version of an indicator: `None` keeps a field as it is.
#[derive(Debug, Clone, Default)]
pub struct HubIndicatorPatch {
    /// New label.
    pub name: Option<String>,
    /// New figure.
    pub value: Option<f64>,
    /// New unit.
    pub unit: Option<String>,
    /// New date.
    pub observed_on: Option<NaiveDate>,
    /// New source.
    pub source: Option<String>,
}

fn invalid(field: &str, message: impl Into<String>) -> TerritoriesError {
    TerritoriesError::InvalidInput {
        field: FieldPath::new("input").push(field),
        message: message.into(),
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<String, TerritoriesError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(invalid(field, format!("{field} has 1 to {max} characters")));
    }
    Ok(v.to_owned())
}

fn finite(value: f64) -> Result<f64, TerritoriesError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(invalid("value", "the value must be a finite number"))
    }
}

fn code(value: &str) -> Result<String, TerritoriesError> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.len() <= 100
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(v.to_owned())
    } else {
        Err(invalid(
            "code",
            "a code has 1 to 100 lower-case letters, digits or '_'",
        ))
    }
}

/// The current indicators of these hubs, by hub then code (one statement).
pub async fn indicators_of_hubs(
    db: &DatabaseConnection,
    hubs: &[HubId],
) -> Result<Vec<HubIndicator>, TerritoriesError> {
    Ok(hub_indicator::Entity::find()
        .filter(hub_indicator::Column::HubId.is_in(hubs.iter().map(|h| h.0)))
        .order_by_asc(hub_indicator::Column::HubId)
        .order_by_asc(hub_indicator::Column::Code)
        .all(db)
        .await?
        .into_iter()
        .map(HubIndicator::from)
        .collect())
}

/// The indicators of the network of all hubs (the national figures), by code.
pub async fn network_indicators(
    db: &DatabaseConnection,
) -> Result<Vec<HubIndicator>, TerritoriesError> {
    Ok(hub_indicator::Entity::find()
        .filter(hub_indicator::Column::HubId.is_null())
        .order_by_asc(hub_indicator::Column::Code)
        .all(db)
        .await?
        .into_iter()
        .map(HubIndicator::from)
        .collect())
}

/// The indicators with these ids (for `node`); absent ids are left out.
pub async fn indicators_by_ids(
    db: &DatabaseConnection,
    ids: &[HubIndicatorId],
) -> Result<Vec<HubIndicator>, TerritoriesError> {
    Ok(hub_indicator::Entity::find()
        .filter(hub_indicator::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .all(db)
        .await?
        .into_iter()
        .map(HubIndicator::from)
        .collect())
}

/// Every revision of these indicators, newest first within each (one statement).
pub async fn indicator_revisions(
    db: &DatabaseConnection,
    ids: &[HubIndicatorId],
) -> Result<Vec<IndicatorRevision>, TerritoriesError> {
    Ok(hub_indicator_revision::Entity::find()
        .filter(hub_indicator_revision::Column::IndicatorId.is_in(ids.iter().map(|i| i.0)))
        .order_by_asc(hub_indicator_revision::Column::IndicatorId)
        .order_by_desc(hub_indicator_revision::Column::Version)
        .all(db)
        .await?
        .into_iter()
        .map(|m| IndicatorRevision {
            indicator: HubIndicatorId(m.indicator_id),
            version: m.version,
            name: m.name,
            value: m.value,
            unit: m.unit,
            observed_on: m.observed_on,
            source: m.source,
            recorded_at: m.recorded_at,
        })
        .collect())
}

/// Appends the revision holding the indicator's values as they now stand.
async fn append_revision<C: ConnectionTrait>(
    db: &C,
    m: &hub_indicator::Model,
) -> Result<(), TerritoriesError> {
    hub_indicator_revision::ActiveModel {
        indicator_id: Set(m.id),
        name: Set(m.name.clone()),
        value: Set(m.value),
        unit: Set(m.unit.clone()),
        observed_on: Set(m.observed_on),
        source: Set(m.source.clone()),
        version: Set(m.version),
        recorded_at: Set(m.updated_at),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Inserts an indicator and its first revision unless the hub reports its code already (`None` then); the caller
/// checked the input and holds a write transaction. The unique index decides, so two concurrent writers of the same
/// code cannot both insert.
async fn insert_indicator<C: ConnectionTrait>(
    db: &C,
    new: &NewHubIndicator,
) -> Result<Option<hub_indicator::Model>, TerritoriesError> {
    let now = Utc::now();
    let inserted = hub_indicator::Entity::insert(hub_indicator::ActiveModel {
        hub_id: Set(new.hub.map(|h| h.0)),
        hub_key: Set(new.hub.map_or(0, |h| h.0)),
        code: Set(new.code.clone()),
        name: Set(new.name.clone()),
        value: Set(new.value),
        unit: Set(new.unit.clone()),
        observed_on: Set(new.observed_on),
        source: Set(new.source.clone()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([hub_indicator::Column::HubKey, hub_indicator::Column::Code])
    .exec(db)
    .await?;
    let id = match inserted {
        TryInsertResult::Inserted(r) => r.last_insert_id,
        TryInsertResult::Empty | TryInsertResult::Conflicted => return Ok(None),
    };
    let m =
        hub_indicator::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or(TerritoriesError::NotFound {
                what: "hub indicator",
                id,
            })?;
    append_revision(db, &m).await?;
    Ok(Some(m))
}

/// Records each field's value before (`None` on creation) and after.
fn audit_values(
    changes: &mut AuditChanges,
    before: Option<&hub_indicator::Model>,
    after: &hub_indicator::Model,
) {
    changes.changed("code", &before.map(|m| &m.code), &after.code);
    changes.changed("name", &before.map(|m| &m.name), &after.name);
    changes.changed("value", &before.map(|m| m.value), &after.value);
    changes.changed("unit", &before.map(|m| &m.unit), &after.unit);
    changes.changed(
        "observedOn",
        &before.map(|m| m.observed_on.to_string()),
        &after.observed_on.to_string(),
    );
    changes.changed("source", &before.map(|m| &m.source), &after.source);
}

/// Reports a new indicator (the hub's coordinators and admins; admins for the network's), audited. A code the hub
/// already reports is an `invalid_value` on `code`: update that indicator instead, so its history stays one.
#[tracing::instrument(skip_all, fields(indicator.code = %new.code))]
pub async fn create_hub_indicator(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewHubIndicator,
) -> Result<HubIndicator, TerritoriesError> {
    require_profile_editor(actor, new.hub)?;
    let new = NewHubIndicator {
        hub: new.hub,
        code: code(&new.code)?,
        name: text("name", &new.name, 200)?,
        value: finite(new.value)?,
        unit: text("unit", &new.unit, 100)?,
        observed_on: new.observed_on,
        source: text("source", &new.source, 500)?,
    };
    let txn = maillage_core::db::begin_write(db).await?;
    if let Some(h) = new.hub {
        hub::Entity::find_by_id(h.0)
            .one(&txn)
            .await?
            .ok_or(TerritoriesError::UnknownHub(h))?;
    }
    let Some(m) = insert_indicator(&txn, &new).await? else {
        return Err(invalid(
            "code",
            format!("this hub already reports {:?}: update it instead", new.code),
        ));
    };
    let mut changes = AuditChanges::new();
    audit_values(&mut changes, None, &m);
    record(
        &txn,
        actor,
        AuditEntry::new("hub_indicator", m.id.to_string(), "create", changes).hub(new.hub),
    )
    .await?;
    txn.commit().await?;
    Ok(m.into())
}

/// Records a new version of an indicator if it is still at `version` (the hub's coordinators and admins), audited;
/// the previous values stay readable as revisions.
#[tracing::instrument(skip_all, fields(indicator.id = id.0))]
pub async fn update_hub_indicator(
    db: &DatabaseConnection,
    actor: &Actor,
    id: HubIndicatorId,
    version: i32,
    patch: HubIndicatorPatch,
) -> Result<HubIndicator, TerritoriesError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let not_found = TerritoriesError::NotFound {
        what: "hub indicator",
        id: id.0,
    };
    let old = hub_indicator::Entity::find_by_id(id.0)
        .one(&txn)
        .await?
        .ok_or(not_found)?;
    require_profile_editor(actor, old.hub_id.map(HubId))?;
    let stale = || TerritoriesError::StaleVersion {
        id: HubId(old.hub_id.unwrap_or_default()),
        expected: version,
        actual: old.version,
    };
    if old.version != version {
        return Err(stale());
    }
    let mut active = <hub_indicator::ActiveModel as Default>::default();
    if let Some(name) = &patch.name {
        active.name = Set(text("name", name, 200)?);
    }
    if let Some(value) = patch.value {
        active.value = Set(finite(value)?);
    }
    if let Some(unit) = &patch.unit {
        active.unit = Set(text("unit", unit, 100)?);
    }
    if let Some(observed_on) = patch.observed_on {
        active.observed_on = Set(observed_on);
    }
    if let Some(source) = &patch.source {
        active.source = Set(text("source", source, 500)?);
    }
    let updated = hub_indicator::Entity::update_many()
        .set(active)
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            hub_indicator::Column::Version,
            Expr::col(hub_indicator::Column::Version).add(1),
        )
        .col_expr(hub_indicator::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(hub_indicator::Column::Id.eq(id.0))
        .filter(hub_indicator::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(stale());
    }
    let m = hub_indicator::Entity::find_by_id(id.0)
        .one(&txn)
        .await?
        .ok_or(TerritoriesError::NotFound {
            what: "hub indicator",
            id: id.0,
        })?;
    append_revision(&txn, &m).await?;
    let mut changes = AuditChanges::new();
    audit_values(&mut changes, Some(&old), &m);
    record(
        &txn,
        actor,
        AuditEntry::new("hub_indicator", m.id.to_string(), "update", changes)
            .hub(m.hub_id.map(HubId)),
    )
    .await?;
    txn.commit().await?;
    Ok(m.into())
}

const INDICATORS_CSV: &str = include_str!("../data/hub_indicators.csv");

#[derive(Deserialize)]
struct IndicatorRecord {
    hub: String,
    code: String,
    name: String,
    value: f64,
    unit: String,
    observed_on: String,
    source: String,
}

/// The figures of `data/hub_indicators.csv`, parsed and checked (unit-tested, so a bad edit fails the tests).
pub(crate) fn seed_indicators() -> Result<Vec<(String, NewHubIndicator)>, TerritoriesError> {
    const F: &str = "hub_indicators.csv";
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(INDICATORS_CSV.as_bytes());
    let mut out = Vec::new();
    for (i, row) in reader.deserialize::<IndicatorRecord>().enumerate() {
        let bad = |reason: String| TerritoriesError::InvalidSeedData {
            file: F,
            line: i as u64 + 2,
            reason,
        };
        let r = row.map_err(|e| bad(e.to_string()))?;
        let new = NewHubIndicator {
            hub: None,
            code: code(&r.code).map_err(|e| bad(e.to_string()))?,
            name: text("name", &r.name, 200).map_err(|e| bad(e.to_string()))?,
            value: finite(r.value).map_err(|e| bad(e.to_string()))?,
            unit: text("unit", &r.unit, 100).map_err(|e| bad(e.to_string()))?,
            observed_on: NaiveDate::parse_from_str(&r.observed_on, "%Y-%m-%d")
                .map_err(|e| bad(e.to_string()))?,
            source: text("source", &r.source, 500).map_err(|e| bad(e.to_string()))?,
        };
        out.push((r.hub, new));
    }
    Ok(out)
}

/// Inserts the seeded figures whose (hub, code) is absent, so admin edits survive restarts (like hubs); returns how
/// many were inserted. A row naming a hub slug that does not exist (deleted by an admin) is skipped.
pub(crate) async fn seed_hub_indicators<C: ConnectionTrait>(
    db: &C,
) -> Result<u64, TerritoriesError> {
    let mut inserted = 0;
    for (slug, mut new) in seed_indicators()? {
        if !slug.is_empty() {
            let Some(h) = hub::Entity::find()
                .filter(hub::Column::Slug.eq(slug.as_str()))
                .one(db)
                .await?
            else {
                continue;
            };
            new.hub = Some(HubId(h.id));
        }
        if insert_indicator(db, &new).await?.is_some() {
            inserted += 1;
        }
    }
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeded_figures_parse_with_their_source() {
        let rows = seed_indicators().unwrap_or_else(|e| panic!("{e}"));
        let lieux = rows
            .iter()
            .find(|(_, n)| n.code == "sites_mapped")
            .unwrap_or_else(|| panic!("no sites_mapped"));
        assert_eq!(lieux.1.value, 6200.0);
        assert!(lieux.1.source.contains("Banque des Territoires"));
        assert!(rows.iter().all(|(_, n)| !n.source.is_empty()));
    }

    #[test]
    fn codes_and_values_are_checked() {
        assert!(code("sites_mapped").is_ok());
        assert!(code("Sites mapped").is_err());
        assert!(finite(f64::NAN).is_err());
    }
}
