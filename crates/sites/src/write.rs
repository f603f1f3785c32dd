//! Storing normalised sites: insert or update by identity (source, source id), values replaced as a whole.

use crate::SitesError;
use crate::entity::{site, site_value};
use crate::hours::parse_hours;
use crate::model::NewSite;
use crate::query::{Site, from_model, load_values, sort_name};
use chrono::Utc;
use maillage_core::{Actor, Role, SiteId};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
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
pub fn can_write_site(actor: &Actor, department: Option<&maillage_core::DepartmentCode>) -> bool {
    match actor.role() {
        Role::Admin => true,
        Role::HubCoordinator => actor.covers_department(department),
        _ => false,
    }
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

/// Inserts `new` or updates `existing` (same identity) when the content differs.
///
/// Meant to run inside the caller's transaction: the row and its values change together or not at all.
pub(crate) async fn store<C: ConnectionTrait>(
    db: &C,
    source: &str,
    new: &NewSite,
    existing: Option<&Site>,
) -> Result<StoreOutcome, SitesError> {
    if let Some(old) = existing
        && old.data == *new
    {
        return Ok(StoreOutcome::Unchanged(old.id));
    }
    let now = Utc::now();
    let department = new.department_code().map(|d| d.as_str().to_owned());
    let hours_valid = new.opening_hours.as_deref().map(|h| parse_hours(h).is_ok());
    let emails = (!new.emails.is_empty()).then(|| {
        new.emails
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join("|")
    });
    let search_text = maillage_core::text::fold(&format!("{} {}", new.name, new.commune));
    let mut model = site::ActiveModel {
        source: Set(source.to_owned()),
        source_id: Set(new.source_id.clone()),
        standard_version: Set(new.standard_version.as_str().to_owned()),
        pivot: Set(new.pivot.as_str().to_owned()),
        name: Set(new.name.clone()),
        commune: Set(new.commune.clone()),
        postal_code: Set(new.postal_code.as_str().to_owned()),
        insee_code: Set(new.insee_code.as_ref().map(|c| c.as_str().to_owned())),
        department_code: Set(department),
        address: Set(new.address.clone()),
        address_complement: Set(new.address_complement.clone()),
        latitude: Set(new.latitude),
        longitude: Set(new.longitude),
        ban_key: Set(new.ban_key.clone()),
        phone: Set(new.phone.clone()),
        emails: Set(emails),
        website: Set(new.website.clone()),
        opening_hours: Set(new.opening_hours.clone()),
        opening_hours_valid: Set(hours_valid),
        summary: Set(new.summary.clone()),
        description: Set(new.description.clone()),
        source_label: Set(new.source_label.clone()),
        parent_structure: Set(new.parent_structure.clone()),
        updated_on: Set(new.updated_on),
        other_labels: Set(new.other_labels.clone()),
        accessibility_url: Set(new.accessibility_url.clone()),
        booking_url: Set(new.booking_url.clone()),
        search_text: Set(search_text),
        sort_name: Set(sort_name(&new.name)),
        updated_at: Set(now),
        ..Default::default()
    };
    let (id, outcome) = match existing {
        Some(old) => {
            model.id = Set(old.id.0);
            model.version = Set(old.version + 1);
            model.update(db).await?;
            site_value::Entity::delete_many()
                .filter(site_value::Column::SiteId.eq(old.id.0))
                .exec(db)
                .await?;
            (old.id.0, StoreOutcome::Updated(old.id))
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
            (inserted.id, StoreOutcome::Created(SiteId(inserted.id)))
        }
    };
    if !new.values.is_empty() {
        let rows = new
            .values
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
    Ok(outcome)
}
