//! Organisations: reads for every caller (they are public structures with a SIRET), writes for admins and the hub
//! coordinators of their department, each with an audit entry in the same transaction.

use crate::AidantsError;
use crate::entity::organisation;
use crate::model::{
    NewOrganisation, Organisation, OrganisationId, OrganisationKind, OrganisationPatch,
};
use crate::territory::scope_departments;
use chrono::Utc;
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Code;
use maillage_core::db::stored_version;
use maillage_core::error::FieldPath;
use maillage_core::pagination::{Page, PageRequest};
use maillage_core::sync::SyncOptions;
use maillage_core::{Actor, DepartmentCode, RegionCode, Role, Siret, SiteId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// What storing one record did (imports report it, and re-importing a file must give only `Unchanged`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// A new record.
    Created(i32),
    /// An existing record whose content changed.
    Updated(i32),
    /// An existing record with exactly this content: nothing written.
    Unchanged(i32),
}

impl StoreOutcome {
    /// The record's id, whatever happened.
    pub fn id(self) -> i32 {
        match self {
            Self::Created(id) | Self::Updated(id) | Self::Unchanged(id) => id,
        }
    }
}

/// Criteria on organisations (all given must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OrganisationFilter {
    /// Located in one of these departments.
    pub departments: Vec<DepartmentCode>,
    /// Located in the departments of this hub (slug).
    pub hub: Option<String>,
    /// Located in this region.
    pub region: Option<RegionCode>,
    /// Active or not.
    pub active: Option<bool>,
    /// With or without the France Services label.
    pub france_services: Option<bool>,
    /// Of this type.
    pub kind: Option<OrganisationKind>,
    /// Running this site.
    pub site: Option<SiteId>,
}

/// Whether `actor` may write organisations and aidants located in `department`: admins anywhere, a hub
/// coordinator within its hub's departments, nobody else.
pub fn can_write_in(actor: &Actor, department: Option<&DepartmentCode>) -> bool {
    match actor.role() {
        Role::Admin => true,
        Role::HubCoordinator => actor.covers_department(department),
        _ => false,
    }
}

pub(crate) fn forbid_outside(
    actor: &Actor,
    department: Option<&DepartmentCode>,
) -> Result<(), AidantsError> {
    if can_write_in(actor, department) {
        return Ok(());
    }
    Err(AidantsError::Forbidden(match actor.role() {
        Role::HubCoordinator => format!(
            "department {} is outside the departments of your hub",
            department.map_or("(none)", DepartmentCode::as_str)
        ),
        role => format!("the role {role} may not write organisations or aidants"),
    }))
}

pub(crate) fn from_model(m: organisation::Model) -> Result<Organisation, AidantsError> {
    let corrupt = AidantsError::corrupt("aidants_organisation", m.id);
    Ok(Organisation {
        id: OrganisationId(m.id),
        data: NewOrganisation {
            name: m.name,
            siret: Siret::parse(&m.siret).map_err(&corrupt)?,
            kind: OrganisationKind::parse(&m.kind).map_err(&corrupt)?,
            address: m.address,
            postal_code: m.postal_code,
            commune: m.commune,
            department: DepartmentCode::parse(&m.department_code).map_err(&corrupt)?,
            france_services: m.france_services,
            site: m.site_id.map(SiteId),
        },
        active: m.active,
        version: m.version,
        updated_at: m.updated_at,
    })
}

pub(crate) fn condition(
    filter: &OrganisationFilter,
    departments: Option<Vec<String>>,
) -> Condition {
    let mut cond = Condition::all();
    if let Some(deps) = departments {
        cond = cond.add(organisation::Column::DepartmentCode.is_in(deps));
    }
    if let Some(v) = filter.active {
        cond = cond.add(organisation::Column::Active.eq(v));
    }
    if let Some(v) = filter.france_services {
        cond = cond.add(organisation::Column::FranceServices.eq(v));
    }
    if let Some(v) = filter.kind {
        cond = cond.add(organisation::Column::Kind.eq(v.as_str()));
    }
    if let Some(v) = filter.site {
        cond = cond.add(organisation::Column::SiteId.eq(v.0));
    }
    cond
}

/// Organisations matching `filter`, by id (keyset pagination). One statement, two with the total.
#[tracing::instrument(skip_all)]
pub async fn list_organisations<C: ConnectionTrait>(
    db: &C,
    filter: &OrganisationFilter,
    page: &PageRequest,
) -> Result<Page<Organisation>, AidantsError> {
    list_organisations_synced(db, filter, &SyncOptions::default(), page).await
}

/// Organisations matching `filter` and `sync` (`updatedSince`, `(updated_at, id)` order).
#[tracing::instrument(skip_all)]
pub async fn list_organisations_synced<C: ConnectionTrait>(
    db: &C,
    filter: &OrganisationFilter,
    sync: &SyncOptions,
    page: &PageRequest,
) -> Result<Page<Organisation>, AidantsError> {
    let departments = scope_departments(
        db,
        &filter.departments,
        filter.hub.as_deref(),
        filter.region.as_ref(),
    )
    .await?;
    let cond = condition(filter, departments).add(sync.condition(organisation::Column::UpdatedAt));
    let mut query = organisation::Entity::find().filter(cond.clone());
    let scan = sync.scan(page);
    if let Some(after) = &page.after {
        query = query.filter(scan.after(
            organisation::Column::UpdatedAt,
            organisation::Column::Id,
            after,
        )?);
    }
    let rows = maillage_core::db::page_rows(
        db,
        scan.order(
            query,
            organisation::Column::UpdatedAt,
            organisation::Column::Id,
        )
        .limit(u64::from(page.first) + 1),
    )
    .await?;
    let total = if page.with_total {
        Some(organisation::Entity::find().filter(cond).count(db).await?)
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(from_model)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(items, page, total, |o| {
        sync.cursor(o.updated_at, o.id.0)
    }))
}

/// The organisations of these departments matching `filter` (its territorial criteria aside), ordered by
/// department then id: the batch behind nested `department { aidantsOrganisations }`. One statement.
#[tracing::instrument(skip_all, fields(keys = departments.len()))]
pub async fn organisations_by_departments<C: ConnectionTrait>(
    db: &C,
    departments: &[DepartmentCode],
    filter: &OrganisationFilter,
) -> Result<Vec<Organisation>, AidantsError> {
    if departments.is_empty() {
        return Ok(Vec::new());
    }
    let deps = departments.iter().map(|d| d.as_str().to_owned()).collect();
    organisation::Entity::find()
        .filter(condition(filter, Some(deps)))
        .order_by_asc(organisation::Column::DepartmentCode)
        .order_by_asc(organisation::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(from_model)
        .collect()
}

/// Organisations by id, in id order; unknown ids are skipped. One statement.
pub async fn organisations_by_ids<C: ConnectionTrait>(
    db: &C,
    ids: &[OrganisationId],
) -> Result<Vec<Organisation>, AidantsError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    organisation::Entity::find()
        .filter(organisation::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .order_by_asc(organisation::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(from_model)
        .collect()
}

/// One organisation by id.
pub async fn get_organisation<C: ConnectionTrait>(
    db: &C,
    id: OrganisationId,
) -> Result<Option<Organisation>, AidantsError> {
    organisation::Entity::find_by_id(id.0)
        .one(db)
        .await?
        .map(from_model)
        .transpose()
}

/// Organisations by SIRET, for imports. One statement.
pub(crate) async fn organisations_by_sirets<C: ConnectionTrait>(
    db: &C,
    sirets: &[String],
) -> Result<Vec<Organisation>, AidantsError> {
    if sirets.is_empty() {
        return Ok(Vec::new());
    }
    organisation::Entity::find()
        .filter(organisation::Column::Siret.is_in(sirets.iter().cloned()))
        .all(db)
        .await?
        .into_iter()
        .map(from_model)
        .collect()
}

fn content_columns(new: &NewOrganisation, active: bool) -> organisation::ActiveModel {
    organisation::ActiveModel {
        name: Set(new.name.clone()),
        siret: Set(new.siret.as_str().to_owned()),
        kind: Set(new.kind.as_str().to_owned()),
        address: Set(new.address.clone()),
        postal_code: Set(new.postal_code.clone()),
        commune: Set(new.commune.clone()),
        department_code: Set(new.department.as_str().to_owned()),
        france_services: Set(new.france_services),
        active: Set(active),
        site_id: Set(new.site.map(|s| s.0)),
        ..Default::default()
    }
}

fn diff(
    before: Option<(&NewOrganisation, bool)>,
    after: &NewOrganisation,
    active: bool,
) -> AuditChanges {
    let mut c = AuditChanges::new();
    macro_rules! field {
        ($name:literal, $get:expr) => {{
            let get = $get;
            match before {
                Some((b, _)) => c.changed($name, &get(b), &get(after)),
                None => c.created($name, &get(after)),
            }
        }};
    }
    field!("name", |o: &NewOrganisation| o.name.clone());
    field!("siret", |o: &NewOrganisation| o.siret.as_str().to_owned());
    field!("kind", |o: &NewOrganisation| o.kind.as_str());
    field!("address", |o: &NewOrganisation| o.address.clone());
    field!("postal_code", |o: &NewOrganisation| o.postal_code.clone());
    field!("commune", |o: &NewOrganisation| o.commune.clone());
    field!("department", |o: &NewOrganisation| o
        .department
        .as_str()
        .to_owned());
    field!("france_services", |o: &NewOrganisation| o.france_services);
    field!("site", |o: &NewOrganisation| o.site.map(|s| s.0));
    match before {
        Some((_, was)) => c.changed("active", &was, &active),
        None => c.created("active", &active),
    }
    c
}

/// Checks the department exists in the reference data (an unknown one is the caller's input error).
async fn require_department<C: ConnectionTrait>(
    db: &C,
    department: &DepartmentCode,
) -> Result<(), AidantsError> {
    maillage_territories::require_departments(db, std::slice::from_ref(department))
        .await
        .map_err(|e| match e {
            maillage_territories::TerritoriesError::UnknownDepartment(code) => AidantsError::input(
                FieldPath::new("input").push("department"),
                Code::UnknownValue,
                format!("unknown department {code}"),
            ),
            e => e.into(),
        })?;
    Ok(())
}

fn siret_taken(siret: &Siret) -> AidantsError {
    AidantsError::AlreadyExists(format!(
        "an organisation with SIRET {} exists already",
        siret.as_str()
    ))
}

/// Inserts `new` or updates `existing` (same SIRET) when the content differs, with its audit entry. Runs inside
/// the caller's transaction; `via` names the channel in the audit trail (`import`, `api`).
pub(crate) async fn store_organisation<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    via: &'static str,
    new: &NewOrganisation,
    active: bool,
    existing: Option<&Organisation>,
) -> Result<StoreOutcome, AidantsError> {
    // Every way in reaches this point with a checked value; checking again keeps a new caller honest.
    let new = &new.clone().checked()?;
    if let Some(old) = existing
        && old.data == *new
        && old.active == active
    {
        return Ok(StoreOutcome::Unchanged(old.id.0));
    }
    let now = Utc::now();
    let mut model = content_columns(new, active);
    model.updated_at = Set(now);
    let (id, outcome, action) = match existing {
        Some(old) => {
            model.id = Set(old.id.0);
            model.version = Set(old.version + 1);
            model.update(db).await?;
            (old.id.0, StoreOutcome::Updated(old.id.0), "update")
        }
        None => {
            model.version = Set(1);
            model.created_at = Set(now);
            let inserted = model.insert(db).await.map_err(|e| {
                if maillage_core::db::is_unique_violation(&e) {
                    siret_taken(&new.siret)
                } else {
                    e.into()
                }
            })?;
            (inserted.id, StoreOutcome::Created(inserted.id), "create")
        }
    };
    let mut changes = diff(existing.map(|o| (&o.data, o.active)), new, active);
    changes.note("via", via);
    record(
        db,
        actor,
        AuditEntry::new("aidants_organisation", id.to_string(), action, changes)
            .department(Some(new.department.clone())),
    )
    .await?;
    Ok(outcome)
}

/// Creates an organisation (active). Refused outside the caller's departments, or if the SIRET is taken.
#[tracing::instrument(skip_all)]
pub async fn create_organisation(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewOrganisation,
) -> Result<Organisation, AidantsError> {
    let new = new.checked()?;
    forbid_outside(actor, Some(&new.department))?;
    let txn = maillage_core::db::begin_write(db).await?;
    require_department(&txn, &new.department).await?;
    let outcome = store_organisation(&txn, actor, "api", &new, true, None).await?;
    let org = get_organisation(&txn, OrganisationId(outcome.id()))
        .await?
        .ok_or(AidantsError::OrganisationNotFound(OrganisationId(
            outcome.id(),
        )))?;
    txn.commit().await?;
    Ok(org)
}

impl OrganisationPatch {
    fn apply(self, mut d: NewOrganisation, mut active: bool) -> (NewOrganisation, bool) {
        if let Some(v) = self.name {
            d.name = v;
        }
        if let Some(v) = self.kind {
            d.kind = v;
        }
        if let Some(v) = self.address {
            d.address = v;
        }
        if let Some(v) = self.postal_code {
            d.postal_code = v;
        }
        if let Some(v) = self.commune {
            d.commune = v;
        }
        if let Some(v) = self.department {
            d.department = v;
        }
        if let Some(v) = self.france_services {
            d.france_services = v;
        }
        if let Some(v) = self.site {
            d.site = v;
        }
        if let Some(v) = self.active {
            active = v;
        }
        (d, active)
    }
}

/// Updates an organisation if `version` is still its version; the caller must be allowed where it is and where the
/// change would put it. The version check is part of the `UPDATE`: of two concurrent writers, exactly one wins.
#[tracing::instrument(skip_all, fields(organisation.id = %id))]
pub async fn update_organisation(
    db: &DatabaseConnection,
    actor: &Actor,
    id: OrganisationId,
    version: i32,
    patch: OrganisationPatch,
) -> Result<Organisation, AidantsError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let old = get_organisation(&txn, id)
        .await?
        .ok_or(AidantsError::OrganisationNotFound(id))?;
    forbid_outside(actor, Some(&old.data.department))?;
    if old.version != version {
        return Err(AidantsError::StaleVersion {
            entity: "organisation",
            id: id.0,
            expected: version,
            actual: old.version,
        });
    }
    let (new, active) = patch.apply(old.data.clone(), old.active);
    let new = new.checked()?;
    forbid_outside(actor, Some(&new.department))?;
    if new.department != old.data.department {
        require_department(&txn, &new.department).await?;
    }
    let mut model = content_columns(&new, active);
    model.updated_at = Set(Utc::now());
    let updated = organisation::Entity::update_many()
        .set(model)
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            organisation::Column::Version,
            Expr::col(organisation::Column::Version).add(1),
        )
        .filter(organisation::Column::Id.eq(id.0))
        .filter(organisation::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        let actual = stored_version::<organisation::Entity, _>(
            &txn,
            (organisation::Column::Id, organisation::Column::Version),
            id.0,
        )
        .await?
        .ok_or(AidantsError::OrganisationNotFound(id))?;
        return Err(AidantsError::StaleVersion {
            entity: "organisation",
            id: id.0,
            expected: version,
            actual,
        });
    }
    let mut changes = diff(Some((&old.data, old.active)), &new, active);
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("aidants_organisation", id.to_string(), "update", changes)
            .department(Some(new.department.clone())),
    )
    .await?;
    let org = get_organisation(&txn, id)
        .await?
        .ok_or(AidantsError::OrganisationNotFound(id))?;
    txn.commit().await?;
    Ok(org)
}
