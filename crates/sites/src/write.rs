//! Storing sites: by identity from imports, and one by one from the API, always with an audit entry in the same
//! transaction.

use crate::SitesError;
use crate::entity::{site, site_value};
use crate::hours::parse_hours;
use crate::model::{NewSite, TaggedValue, ValueKind};
use crate::query::{Site, from_model, load_values, sort_name};
use chrono::{NaiveDate, Utc};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::error::FieldPath;
use maillage_core::{
    Actor, DepartmentCode, Email, FieldProblems, InseeCode, PostalCode, Role, SiteId,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect, Set, TryIntoModel,
};
use std::collections::HashMap;

/// What storing one site did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// A new site.
    Created(SiteId),
    /// An existing site whose content changed.
    Updated(SiteId),
    /// An existing site with exactly this content: nothing written.
    Unchanged(SiteId),
}

/// Whether `actor` may write sites located in `department` (`None`: outside the 101 departments).
///
/// Admins may write anywhere; a hub coordinator only within its hub's departments; nobody else.
pub fn can_write_site(actor: &Actor, department: Option<&DepartmentCode>) -> bool {
    match actor.role() {
        Role::Admin => true,
        Role::HubCoordinator => actor.covers_department(department),
        _ => false,
    }
}

fn forbid_outside(actor: &Actor, department: Option<&DepartmentCode>) -> Result<(), SitesError> {
    if can_write_site(actor, department) {
        return Ok(());
    }
    Err(SitesError::Forbidden(match actor.role() {
        Role::HubCoordinator => format!(
            "department {} is outside the departments of your hub",
            department.map_or("(none)", DepartmentCode::as_str)
        ),
        role => format!("the role {role} may not write sites"),
    }))
}

/// Existing sites of one source with these source ids, keyed by source id (two statements).
pub(crate) async fn existing_by_source_ids<C: ConnectionTrait>(
    db: &C,
    source: &str,
    source_ids: &[String],
) -> Result<HashMap<String, Site>, SitesError> {
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
            from_model(row, v).map(|s| (key, s))
        })
        .collect()
}

/// The columns of a site's row derived from its content (everything but id, version and timestamps).
pub(crate) fn content_columns(source: &str, new: &NewSite) -> site::ActiveModel {
    let emails = (!new.emails.is_empty()).then(|| {
        new.emails
            .iter()
            .map(Email::as_str)
            .collect::<Vec<_>>()
            .join("|")
    });
    site::ActiveModel {
        source: Set(source.to_owned()),
        source_id: Set(new.source_id.clone()),
        standard_version: Set(new.standard_version.as_str().to_owned()),
        pivot: Set(new.pivot.as_str().to_owned()),
        name: Set(new.name.clone()),
        commune: Set(new.commune.clone()),
        postal_code: Set(new.postal_code.as_str().to_owned()),
        insee_code: Set(new.insee_code.as_ref().map(|c| c.as_str().to_owned())),
        department_code: Set(new.department_code().map(|d| d.as_str().to_owned())),
        address: Set(new.address.clone()),
        address_complement: Set(new.address_complement.clone()),
        latitude: Set(new.latitude),
        longitude: Set(new.longitude),
        ban_key: Set(new.ban_key.clone()),
        phone: Set(new.phone.clone()),
        emails: Set(emails),
        website: Set(new.website.clone()),
        opening_hours: Set(new.opening_hours.clone()),
        opening_hours_valid: Set(new.opening_hours.as_deref().map(|h| parse_hours(h).is_ok())),
        opening_week: Set(crate::search::opening_week(new)),
        summary: Set(new.summary.clone()),
        description: Set(new.description.clone()),
        source_label: Set(new.source_label.clone()),
        parent_structure: Set(new.parent_structure.clone()),
        updated_on: Set(new.updated_on),
        other_labels: Set(new.other_labels.clone()),
        accessibility_url: Set(new.accessibility_url.clone()),
        booking_url: Set(new.booking_url.clone()),
        search_text: Set(crate::search::document(new)),
        sort_name: Set(sort_name(&new.name)),
        ..Default::default()
    }
}

async fn replace_values<C: ConnectionTrait>(
    db: &C,
    id: i32,
    values: &[TaggedValue],
) -> Result<(), SitesError> {
    site_value::Entity::delete_many()
        .filter(site_value::Column::SiteId.eq(id))
        .exec(db)
        .await?;
    if !values.is_empty() {
        let rows = values
            .iter()
            .enumerate()
            .map(|(i, v)| site_value::ActiveModel {
                site_id: Set(id),
                kind: Set(v.kind.as_str().to_owned()),
                position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
                value: Set(v.value.clone()),
                raw: Set(v.raw.clone()),
            });
        site_value::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

fn values_json(values: &[TaggedValue], kind: ValueKind) -> Vec<&str> {
    values
        .iter()
        .filter(|v| v.kind == kind)
        .map(|v| v.raw.as_str())
        .collect()
}

/// Refuses a site that breaks an input rule. Imports apply their policy (reject the row, or drop the value with a
/// report line) before they get here, so this only catches a path that forgot to: nothing stored breaks a rule.
fn refuse_broken(new: &NewSite) -> Result<(), SitesError> {
    let problems = new.problems();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into())
    }
}

/// The complete row of a site with this content (an import stages it, then writes it in a multi-row statement).
pub(crate) fn site_row(
    source: &str,
    new: &NewSite,
    id: i32,
    version: i32,
    created_at: chrono::DateTime<Utc>,
    updated_at: chrono::DateTime<Utc>,
) -> Result<site::Model, SitesError> {
    refuse_broken(new)?;
    let mut model = content_columns(source, new);
    model.id = Set(id);
    model.version = Set(version);
    model.created_at = Set(created_at);
    model.updated_at = Set(updated_at);
    model.archived_at = Set(None);
    model.archive_origin = Set(None);
    // Never written by an import's upsert (not in its updated columns): a merge decision stays as it is.
    model.merged_into = Set(None);
    Ok(model.try_into_model()?)
}

/// The fields that differ between `before` (none for a creation) and `after`, for the audit trail.
pub(crate) fn diff(before: Option<&NewSite>, after: &NewSite) -> AuditChanges {
    let mut c = AuditChanges::new();
    macro_rules! field {
        ($name:literal, $get:expr) => {{
            let get = $get;
            match before {
                Some(b) => c.changed($name, &get(b), &get(after)),
                None => c.created($name, &get(after)),
            }
        }};
    }
    field!("source_id", |s: &NewSite| s.source_id.clone());
    field!("pivot", |s: &NewSite| s.pivot.as_str().to_owned());
    field!("name", |s: &NewSite| s.name.clone());
    field!("commune", |s: &NewSite| s.commune.clone());
    field!("postal_code", |s: &NewSite| s
        .postal_code
        .as_str()
        .to_owned());
    field!("insee_code", |s: &NewSite| s
        .insee_code
        .as_ref()
        .map(|c| c.as_str().to_owned()));
    field!("address", |s: &NewSite| s.address.clone());
    field!("address_complement", |s: &NewSite| s
        .address_complement
        .clone());
    field!("latitude", |s: &NewSite| s.latitude);
    field!("longitude", |s: &NewSite| s.longitude);
    field!("phone", |s: &NewSite| s.phone.clone());
    field!("emails", |s: &NewSite| s
        .emails
        .iter()
        .map(|e| e.as_str().to_owned())
        .collect::<Vec<_>>());
    field!("website", |s: &NewSite| s.website.clone());
    field!("opening_hours", |s: &NewSite| s.opening_hours.clone());
    field!("summary", |s: &NewSite| s.summary.clone());
    field!("description", |s: &NewSite| s.description.clone());
    field!("source_label", |s: &NewSite| s.source_label.clone());
    field!("parent_structure", |s: &NewSite| s.parent_structure.clone());
    field!("updated_on", |s: &NewSite| s.updated_on.to_string());
    field!("other_labels", |s: &NewSite| s.other_labels.clone());
    field!("accessibility_url", |s: &NewSite| s
        .accessibility_url
        .clone());
    field!("booking_url", |s: &NewSite| s.booking_url.clone());
    for kind in ValueKind::ALL {
        let key = kind.as_str();
        match before {
            Some(b) => c.changed(
                key,
                &values_json(&b.values, kind),
                &values_json(&after.values, kind),
            ),
            None => {
                let v = values_json(&after.values, kind);
                if !v.is_empty() {
                    c.created(key, &v);
                }
            }
        }
    }
    c
}

/// Inserts `new` or updates `existing` (same identity) when the content differs, with its audit entry.
///
/// Meant to run inside the caller's transaction: the row, its values and the audit entry change together or not at
/// all. `via` names the channel in the audit trail (`import`, `api`).
pub(crate) async fn store<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    via: &'static str,
    source: &str,
    new: &NewSite,
    existing: Option<&Site>,
) -> Result<StoreOutcome, SitesError> {
    refuse_broken(new)?;
    if let Some(old) = existing
        && *old.data == *new
    {
        return Ok(StoreOutcome::Unchanged(old.id));
    }
    let now = Utc::now();
    let mut model = content_columns(source, new);
    model.updated_at = Set(now);
    let (id, outcome, action) = match existing {
        Some(old) => {
            model.id = Set(old.id.0);
            model.version = Set(old.version + 1);
            model.update(db).await?;
            (old.id.0, StoreOutcome::Updated(old.id), "update")
        }
        None => {
            model.version = Set(1);
            model.created_at = Set(now);
            // A unique-index violation here means a concurrent writer inserted the same identity first.
            let inserted = model.insert(db).await.map_err(|e| {
                if maillage_core::db::is_unique_violation(&e) {
                    SitesError::Conflict {
                        site_source: source.to_owned(),
                        source_id: new.source_id.clone(),
                    }
                } else {
                    e.into()
                }
            })?;
            (
                inserted.id,
                StoreOutcome::Created(SiteId(inserted.id)),
                "create",
            )
        }
    };
    replace_values(db, id, &new.values).await?;
    let mut changes = diff(existing.map(|s| &*s.data), new);
    changes.note("via", via);
    changes.note("source", source);
    record(
        db,
        actor,
        AuditEntry::new("site", id.to_string(), action, changes).department(new.department_code()),
    )
    .await?;
    Ok(outcome)
}

/// Creates one site (API). Refused if the caller may not write in its department, or if (source, id) exists.
#[tracing::instrument(skip_all, fields(site.source = %source))]
pub async fn create_site(
    db: &DatabaseConnection,
    actor: &Actor,
    source: &str,
    new: NewSite,
) -> Result<Site, SitesError> {
    // The same rules as every draft: a caller that built `new` by hand cannot store what the API would refuse.
    let mut problems = FieldProblems::new();
    crate::draft::check_source(&mut problems, FieldPath::new("source"), source);
    for x in new.problems() {
        problems.push(x.field, x.code, x.message);
    }
    if !problems.is_empty() {
        return Err(problems.into());
    }
    forbid_outside(actor, new.department_code().as_ref())?;
    crate::dedup::refuse_canonical_source(source)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let exists = existing_by_source_ids(&txn, source, std::slice::from_ref(&new.source_id)).await?;
    if !exists.is_empty() {
        return Err(SitesError::AlreadyExists {
            site_source: source.to_owned(),
            source_id: new.source_id,
        });
    }
    let outcome = store(&txn, actor, "api", source, &new, None)
        .await
        .map_err(|e| match e {
            SitesError::Conflict {
                site_source,
                source_id,
            } => SitesError::AlreadyExists {
                site_source,
                source_id,
            },
            e => e,
        })?;
    let id = match outcome {
        StoreOutcome::Created(id) | StoreOutcome::Updated(id) | StoreOutcome::Unchanged(id) => id,
    };
    // Every field of a site created through the API was set by that edit: a feed that later lists the same id
    // does not overwrite them silently.
    let fields: Vec<&str> = crate::provenance::fields().collect();
    crate::provenance::record_api_edit(&txn, id.0, &fields, actor).await?;
    let site = crate::query::get_record(&txn, id)
        .await?
        .ok_or(SitesError::NotFound(id))?;
    txn.commit().await?;
    Ok(site)
}

/// A change to a site: `None` leaves a field as it is; `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct SitePatch {
    /// New name.
    pub name: Option<String>,
    /// New commune.
    pub commune: Option<String>,
    /// New postal code (moves the site if the department changes).
    pub postal_code: Option<PostalCode>,
    /// New INSEE code, or cleared.
    pub insee_code: Option<Option<InseeCode>>,
    /// New address.
    pub address: Option<String>,
    /// New address complement, or cleared.
    pub address_complement: Option<Option<String>>,
    /// New coordinates (latitude, longitude), or cleared.
    pub coordinates: Option<Option<(f64, f64)>>,
    /// New phone, or cleared.
    pub phone: Option<Option<String>>,
    /// New e-mail list.
    pub emails: Option<Vec<Email>>,
    /// New website, or cleared.
    pub website: Option<Option<String>>,
    /// New opening hours, or cleared.
    pub opening_hours: Option<Option<String>>,
    /// New summary, or cleared.
    pub summary: Option<Option<String>>,
    /// New description, or cleared.
    pub description: Option<Option<String>>,
    /// New date of last update by the source; defaults to today when anything changes.
    pub updated_on: Option<NaiveDate>,
    /// New values of whole multi-valued fields (v1.0.2 labels), field by field.
    pub values: Vec<(ValueKind, Vec<String>)>,
}

impl SitePatch {
    fn apply(self, mut data: NewSite) -> NewSite {
        if let Some(v) = self.name {
            data.name = v;
        }
        if let Some(v) = self.commune {
            data.commune = v;
        }
        if let Some(v) = self.postal_code {
            data.postal_code = v;
        }
        if let Some(v) = self.insee_code {
            data.insee_code = v;
        }
        if let Some(v) = self.address {
            data.address = v;
        }
        if let Some(v) = self.address_complement {
            data.address_complement = v;
        }
        if let Some(v) = self.coordinates {
            data.latitude = v.map(|c| c.0);
            data.longitude = v.map(|c| c.1);
        }
        if let Some(v) = self.phone {
            data.phone = v;
        }
        if let Some(v) = self.emails {
            data.emails = v;
        }
        if let Some(v) = self.website {
            data.website = v;
        }
        if let Some(v) = self.opening_hours {
            data.opening_hours = v;
        }
        if let Some(v) = self.summary {
            data.summary = v;
        }
        if let Some(v) = self.description {
            data.description = v;
        }
        for (kind, labels) in self.values {
            data.values.retain(|v| v.kind != kind);
            data.values
                .extend(labels.into_iter().map(|label| TaggedValue {
                    kind,
                    value: Some(label.clone()),
                    raw: label,
                }));
        }
        data.updated_on = self.updated_on.unwrap_or_else(|| Utc::now().date_naive());
        data
    }
}

/// Updates one site if `version` is still its version; the caller must be allowed to write both where the site
/// is and where the change would put it.
#[tracing::instrument(skip_all, fields(site.id = %id))]
pub async fn update_site(
    db: &DatabaseConnection,
    actor: &Actor,
    id: SiteId,
    version: i32,
    patch: SitePatch,
) -> Result<Site, SitesError> {
    let problems = patch.problems();
    if !problems.is_empty() {
        return Err(problems.into());
    }
    let txn = maillage_core::db::begin_write(db).await?;
    let old = crate::query::get_record(&txn, id)
        .await?
        .ok_or(SitesError::NotFound(id))?;
    forbid_outside(actor, old.department_code.as_ref())?;
    crate::dedup::refuse_canonical_source(&old.source)?;
    if old.version != version {
        return Err(SitesError::StaleVersion {
            id,
            expected: version,
            actual: old.version,
        });
    }
    let new = patch.apply((*old.data).clone());
    forbid_outside(actor, new.department_code().as_ref())?;
    let mut model = content_columns(&old.source, &new);
    model.updated_at = Set(Utc::now());
    // The version check is in the UPDATE itself: of two concurrent writers with the same version, exactly one
    // matches a row.
    let updated = site::Entity::update_many()
        .set(model)
        // The database adds one to the stored version (equal to the caller's, by the filter): no arithmetic on a
        // version a client sent, which may be `i32::MAX`.
        .col_expr(
            site::Column::Version,
            Expr::col(site::Column::Version).add(1),
        )
        .filter(site::Column::Id.eq(id.0))
        .filter(site::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(raced(&txn, id, version).await?);
    }
    replace_values(&txn, id.0, &new.values).await?;
    let edited = crate::provenance::changed_fields(&old.data, &new);
    crate::provenance::record_api_edit(&txn, id.0, &edited, actor).await?;
    let mut changes = diff(Some(&old.data), &new);
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("site", id.to_string(), "update", changes)
            .department(new.department_code()),
    )
    .await?;
    crate::dedup::refresh_canonical_in(&txn, &[id]).await?;
    let site = crate::query::get_record(&txn, id)
        .await?
        .ok_or(SitesError::NotFound(id))?;
    txn.commit().await?;
    Ok(site)
}

/// The error for a conditional `UPDATE` of site `id` at `version` that matched no row: the stale version with the
/// version stored now (re-read, since a concurrent writer may have moved it after the caller's version was checked),
/// or not found when the site is gone or archived meanwhile.
async fn raced<C: ConnectionTrait>(db: &C, id: SiteId, version: i32) -> Result<SitesError, DbErr> {
    let stored: Option<i32> = site::Entity::find()
        .select_only()
        .column(site::Column::Version)
        .filter(site::Column::Id.eq(id.0))
        .filter(site::Column::ArchivedAt.is_null())
        .into_tuple()
        .one(db)
        .await?;
    Ok(match stored {
        Some(actual) => SitesError::StaleVersion {
            id,
            expected: version,
            actual,
        },
        None => SitesError::NotFound(id),
    })
}

/// Archives a site: it disappears from every list and lookup but stays stored, and the audit trail keeps its
/// content. Refused on a stale version.
#[tracing::instrument(skip_all, fields(site.id = %id))]
pub async fn archive_site(
    db: &DatabaseConnection,
    actor: &Actor,
    id: SiteId,
    version: i32,
) -> Result<(), SitesError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let old = crate::query::get_record(&txn, id)
        .await?
        .ok_or(SitesError::NotFound(id))?;
    forbid_outside(actor, old.department_code.as_ref())?;
    let updated = site::Entity::update_many()
        .col_expr(site::Column::ArchivedAt, Expr::value(Utc::now()))
        .col_expr(
            site::Column::ArchiveOrigin,
            Expr::value(crate::bulk::ARCHIVED_BY_API),
        )
        .col_expr(
            site::Column::Version,
            Expr::col(site::Column::Version).add(1),
        )
        .col_expr(site::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(site::Column::Id.eq(id.0))
        .filter(site::Column::Version.eq(version))
        .filter(site::Column::ArchivedAt.is_null())
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(raced(&txn, id, version).await?);
    }
    // The row itself is kept: its content stays readable in the database, so only the state change is recorded.
    let mut changes = AuditChanges::new();
    changes.changed("archived", &false, &true);
    record(
        &txn,
        actor,
        AuditEntry::new("site", id.to_string(), "archive", changes)
            .department(old.department_code.clone()),
    )
    .await?;
    crate::dedup::refresh_canonical_in(&txn, &[id]).await?;
    txn.commit().await?;
    Ok(())
}
