//! Admin edits of hubs: their presentation and the departments they cover, versioned and audited.

use crate::TerritoriesError;
use crate::entity::{hub, hub_department};
use crate::model::Hub;
use crate::read::require_departments;
use chrono::Utc;
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::error::FieldPath;
use maillage_core::{Actor, DepartmentCode, HubId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};

/// A change to a hub's presentation: `None` leaves a field as it is; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct HubPatch {
    /// New display name.
    pub name: Option<String>,
    /// New website, or cleared.
    pub website: Option<Option<String>>,
    /// New description, or cleared.
    pub description: Option<Option<String>>,
}

fn admin_only(actor: &Actor) -> Result<(), TerritoriesError> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(TerritoriesError::Forbidden(
            "only admins edit hubs".to_owned(),
        ))
    }
}

/// Bumps the hub's version if it is still `version`; of two concurrent editors, exactly one matches.
async fn bump_version<C: sea_orm::ConnectionTrait>(
    db: &C,
    old: &hub::Model,
    version: i32,
    patch: hub::ActiveModel,
) -> Result<(), TerritoriesError> {
    let stale = || TerritoriesError::StaleVersion {
        id: HubId(old.id),
        expected: version,
        actual: old.version,
    };
    if old.version != version {
        return Err(stale());
    }
    let updated = hub::Entity::update_many()
        .set(patch)
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(hub::Column::Version, Expr::col(hub::Column::Version).add(1))
        .col_expr(hub::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(hub::Column::Id.eq(old.id))
        .filter(hub::Column::Version.eq(version))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(stale());
    }
    Ok(())
}

/// Updates a hub's presentation: admins, and the hub's own coordinators for its website and description (its
/// profile); renaming a hub stays an admin's decision.
#[tracing::instrument(skip_all, fields(hub.id = %id))]
pub async fn update_hub(
    db: &DatabaseConnection,
    actor: &Actor,
    id: HubId,
    version: i32,
    patch: HubPatch,
) -> Result<Hub, TerritoriesError> {
    if patch.name.is_some() {
        admin_only(actor)?;
    } else {
        crate::coordinators::require_profile_editor(actor, Some(id))?;
    }
    if let Some(name) = &patch.name
        && (name.trim().is_empty() || name.len() > 200)
    {
        return Err(TerritoriesError::InvalidInput {
            field: FieldPath::new("input").push("name"),
            message: "a hub name has 1 to 200 characters".to_owned(),
        });
    }
    let txn = maillage_core::db::begin_write(db).await?;
    let old = hub::Entity::find_by_id(id.0)
        .one(&txn)
        .await?
        .ok_or(TerritoriesError::UnknownHub(id))?;
    let mut changes = AuditChanges::new();
    let mut active = hub::ActiveModel::default();
    if let Some(name) = patch.name {
        let name = name.trim().to_owned();
        changes.changed("name", &old.name, &name);
        active.name = Set(name);
    }
    if let Some(website) = patch.website {
        changes.changed("website", &old.website, &website);
        active.website = Set(website);
    }
    if let Some(description) = patch.description {
        changes.changed("description", &old.description, &description);
        active.description = Set(description);
    }
    bump_version(&txn, &old, version, active).await?;
    record(
        &txn,
        actor,
        AuditEntry::new("hub", id.to_string(), "update", changes).hub(Some(id)),
    )
    .await?;
    let hub = hub::Entity::find_by_id(id.0)
        .one(&txn)
        .await?
        .ok_or(TerritoriesError::UnknownHub(id))?;
    txn.commit().await?;
    Ok(hub.into())
}

/// Replaces the departments a hub covers (admins only); every code must be one of the 101 departments.
#[tracing::instrument(skip_all, fields(hub.id = %id))]
pub async fn set_hub_departments(
    db: &DatabaseConnection,
    actor: &Actor,
    id: HubId,
    version: i32,
    departments: &[DepartmentCode],
) -> Result<Hub, TerritoriesError> {
    admin_only(actor)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let old = hub::Entity::find_by_id(id.0)
        .one(&txn)
        .await?
        .ok_or(TerritoriesError::UnknownHub(id))?;
    let mut wanted: Vec<DepartmentCode> = departments.to_vec();
    wanted.sort();
    wanted.dedup();
    require_departments(&txn, &wanted).await?;
    let before: Vec<String> = hub_department::Entity::find()
        .filter(hub_department::Column::HubId.eq(id.0))
        .order_by_asc(hub_department::Column::DepartmentCode)
        .all(&txn)
        .await?
        .into_iter()
        .map(|m| m.department_code)
        .collect();
    bump_version(&txn, &old, version, hub::ActiveModel::default()).await?;
    hub_department::Entity::delete_many()
        .filter(hub_department::Column::HubId.eq(id.0))
        .exec(&txn)
        .await?;
    if !wanted.is_empty() {
        hub_department::Entity::insert_many(wanted.iter().map(|d| hub_department::ActiveModel {
            hub_id: Set(id.0),
            department_code: Set(d.as_str().to_owned()),
        }))
        .exec(&txn)
        .await?;
    }
    let after: Vec<&str> = wanted.iter().map(DepartmentCode::as_str).collect();
    let mut changes = AuditChanges::new();
    changes.changed("departments", &before, &after);
    record(
        &txn,
        actor,
        AuditEntry::new("hub", id.to_string(), "set_departments", changes).hub(Some(id)),
    )
    .await?;
    let hub = hub::Entity::find_by_id(id.0)
        .one(&txn)
        .await?
        .ok_or(TerritoriesError::UnknownHub(id))?;
    txn.commit().await?;
    Ok(hub.into())
}

/// A hub to create, with the departments it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHub {
    /// Stable key (lower-case letters, digits and `-`), unique.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Public website.
    pub website: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Departments covered (each one of the 101 departments).
    pub departments: Vec<DepartmentCode>,
}

/// Creates a hub and its departments inside the caller's transaction, with its audit entry, so that a caller
/// (the AMI decision) can create it atomically with its own changes.
///
/// Admins and BdT reviewers (whose AMI decision creates the laureate's hub) may. The caller must have begun the
/// transaction with `maillage_core::db::begin_write`; a slug already taken is an `invalid_value` on `slug`.
#[tracing::instrument(skip_all, fields(hub.slug = %new.slug))]
pub async fn create_hub_in<C: sea_orm::ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    new: NewHub,
) -> Result<Hub, TerritoriesError> {
    if !matches!(
        actor.role(),
        maillage_core::Role::Admin | maillage_core::Role::BdtReviewer
    ) {
        return Err(TerritoriesError::Forbidden(
            "only admins and BdT reviewers (through an AMI decision) create hubs".to_owned(),
        ));
    }
    let slug = new.slug.trim();
    if slug.is_empty()
        || slug.len() > 100
        || !slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(TerritoriesError::InvalidInput {
            field: FieldPath::new("input").push("slug"),
            message: "a hub slug has 1 to 100 lower-case letters, digits or '-'".to_owned(),
        });
    }
    let name = new.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(TerritoriesError::InvalidInput {
            field: FieldPath::new("input").push("name"),
            message: "a hub name has 1 to 200 characters".to_owned(),
        });
    }
    let mut departments = new.departments.clone();
    departments.sort();
    departments.dedup();
    require_departments(txn, &departments).await?;
    let now = Utc::now();
    let m = sea_orm::ActiveModelTrait::insert(
        hub::ActiveModel {
            slug: Set(slug.to_owned()),
            name: Set(name.to_owned()),
            website: Set(new.website.clone()),
            description: Set(new.description.clone()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        },
        txn,
    )
    .await
    .map_err(|e| {
        if maillage_core::db::is_unique_violation(&e) {
            TerritoriesError::InvalidInput {
                field: FieldPath::new("input").push("slug"),
                message: format!("a hub with slug {slug:?} exists already"),
            }
        } else {
            e.into()
        }
    })?;
    let id = HubId(m.id);
    if !departments.is_empty() {
        hub_department::Entity::insert_many(departments.iter().map(|d| {
            hub_department::ActiveModel {
                hub_id: Set(m.id),
                department_code: Set(d.as_str().to_owned()),
            }
        }))
        .exec(txn)
        .await?;
    }
    let codes: Vec<&str> = departments.iter().map(DepartmentCode::as_str).collect();
    let mut changes = AuditChanges::new();
    changes.created("slug", &m.slug);
    changes.created("name", &m.name);
    changes.created("website", &m.website);
    changes.created("departments", &codes);
    record(
        txn,
        actor,
        AuditEntry::new("hub", id.to_string(), "create", changes).hub(Some(id)),
    )
    .await?;
    Ok(m.into())
}
