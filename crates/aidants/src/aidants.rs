//! Aidants: lists readable by everyone with personal data masked per caller ([`Aidant::person_for`]), writes for
//! admins and hub coordinators of the aidant's departments, each with an audit entry in the same transaction.

use crate::AidantsError;
use crate::entity::{aidant, aidant_organisation, organisation};
use crate::model::{
    Aidant, AidantId, AidantPatch, AidantPerson, AidantStatus, CounsellorRef, NewAidant,
    OrganisationId,
};
use crate::organisations::{StoreOutcome, forbid_outside};
use crate::territory::scope_departments;
use chrono::Utc;
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Code;
use maillage_core::db::stored_version;
use maillage_core::error::FieldPath;
use maillage_core::pagination::{Page, PageRequest};
use maillage_core::sync::SyncOptions;
use maillage_core::{Actor, DepartmentCode, Email, HubId, RegionCode};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    JoinType, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationDef, Set,
};
use std::collections::{BTreeSet, HashMap};

/// Criteria on aidants (all given must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AidantFilter {
    /// Working for an organisation in one of these departments.
    pub departments: Vec<DepartmentCode>,
    /// Working for an organisation in the departments of this hub (slug).
    pub hub: Option<String>,
    /// Working for an organisation in this region.
    pub region: Option<RegionCode>,
    /// With one of these statuses (empty: any).
    pub statuses: Vec<AidantStatus>,
    /// Working for this organisation.
    pub organisation: Option<OrganisationId>,
    /// Trained by this hub.
    pub training_hub: Option<HubId>,
}

/// `aidant_organisation` → `aidants_organisation`, declared here rather than on the entities so they stay plain.
fn link_to_organisation() -> RelationDef {
    aidant_organisation::Entity::belongs_to(organisation::Entity)
        .from(aidant_organisation::Column::OrganisationId)
        .to(organisation::Column::Id)
        .into()
}

/// Hydrates aidant rows with their organisations and those organisations' departments. One statement.
async fn hydrate<C: ConnectionTrait>(
    db: &C,
    rows: Vec<aidant::Model>,
) -> Result<Vec<Aidant>, AidantsError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let links: Vec<(i32, i32, String)> = aidant_organisation::Entity::find()
        .select_only()
        .column(aidant_organisation::Column::AidantId)
        .column(aidant_organisation::Column::OrganisationId)
        .column(organisation::Column::DepartmentCode)
        .join(JoinType::InnerJoin, link_to_organisation())
        .filter(aidant_organisation::Column::AidantId.is_in(rows.iter().map(|r| r.id)))
        .into_tuple()
        .all(db)
        .await?;
    let mut by_aidant: HashMap<i32, (Vec<OrganisationId>, BTreeSet<String>)> = HashMap::new();
    for (aidant, org, dep) in links {
        let entry = by_aidant.entry(aidant).or_default();
        entry.0.push(OrganisationId(org));
        entry.1.insert(dep);
    }
    rows.into_iter()
        .map(|m| {
            let (mut orgs, deps) = by_aidant.remove(&m.id).unwrap_or_default();
            orgs.sort();
            from_model(m, orgs, deps)
        })
        .collect()
}

fn from_model(
    m: aidant::Model,
    organisations: Vec<OrganisationId>,
    departments: BTreeSet<String>,
) -> Result<Aidant, AidantsError> {
    let corrupt = AidantsError::corrupt("aidant", m.id);
    Ok(Aidant {
        id: AidantId(m.id),
        data: NewAidant {
            person: AidantPerson {
                first_name: m.first_name,
                last_name: m.last_name,
                email: Email::parse(&m.email).map_err(&corrupt)?,
                profession: m.profession,
            },
            organisations,
            status: AidantStatus::parse(&m.status).map_err(&corrupt)?,
            requested_on: m.requested_on,
            trained_on: m.trained_on,
            training_hub: m.training_hub_id.map(HubId),
            authorised_on: m.authorised_on,
            revoked_on: m.revoked_on,
            counsellor: m.counsellor_id.map(CounsellorRef),
        },
        departments: departments
            .iter()
            .map(|d| DepartmentCode::parse(d).map_err(&corrupt))
            .collect::<Result<_, _>>()?,
        version: m.version,
        updated_at: m.updated_at,
    })
}

pub(crate) async fn condition<C: ConnectionTrait>(
    db: &C,
    filter: &AidantFilter,
) -> Result<Condition, AidantsError> {
    let mut cond = Condition::all();
    if !filter.statuses.is_empty() {
        cond = cond.add(aidant::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(hub) = filter.training_hub {
        cond = cond.add(aidant::Column::TrainingHubId.eq(hub.0));
    }
    if let Some(org) = filter.organisation {
        cond = cond.add(
            aidant::Column::Id.in_subquery(
                Query::select()
                    .column(aidant_organisation::Column::AidantId)
                    .from(aidant_organisation::Entity)
                    .and_where(aidant_organisation::Column::OrganisationId.eq(org.0))
                    .to_owned(),
            ),
        );
    }
    let departments = scope_departments(
        db,
        &filter.departments,
        filter.hub.as_deref(),
        filter.region.as_ref(),
    )
    .await?;
    if let Some(deps) = departments {
        cond = cond.add(
            aidant::Column::Id.in_subquery(
                Query::select()
                    .column(aidant_organisation::Column::AidantId)
                    .from(aidant_organisation::Entity)
                    .inner_join(
                        organisation::Entity,
                        Expr::col((organisation::Entity, organisation::Column::Id)).equals((
                            aidant_organisation::Entity,
                            aidant_organisation::Column::OrganisationId,
                        )),
                    )
                    .and_where(organisation::Column::DepartmentCode.is_in(deps))
                    .to_owned(),
            ),
        );
    }
    Ok(cond)
}

/// Aidants matching `filter`, by id (keyset pagination). Two statements, three with the total.
#[tracing::instrument(skip_all)]
pub async fn list_aidants<C: ConnectionTrait>(
    db: &C,
    filter: &AidantFilter,
    page: &PageRequest,
) -> Result<Page<Aidant>, AidantsError> {
    list_aidants_synced(db, filter, &SyncOptions::default(), page).await
}

/// Aidants matching `filter` and `sync` (`updatedSince`, `(updated_at, id)` order); mask with
/// [`Aidant::person_for`] as for [`list_aidants`].
#[tracing::instrument(skip_all)]
pub async fn list_aidants_synced<C: ConnectionTrait>(
    db: &C,
    filter: &AidantFilter,
    sync: &SyncOptions,
    page: &PageRequest,
) -> Result<Page<Aidant>, AidantsError> {
    let cond = condition(db, filter)
        .await?
        .add(sync.condition(aidant::Column::UpdatedAt));
    let mut query = aidant::Entity::find().filter(cond.clone());
    let scan = sync.scan(page);
    if let Some(after) = &page.after {
        query = query.filter(scan.after(aidant::Column::UpdatedAt, aidant::Column::Id, after)?);
    }
    let rows = maillage_core::db::page_rows(
        db,
        scan.order(query, aidant::Column::UpdatedAt, aidant::Column::Id)
            .limit(u64::from(page.first) + 1),
    )
    .await?;
    let total = if page.with_total {
        Some(aidant::Entity::find().filter(cond).count(db).await?)
    } else {
        None
    };
    let items = hydrate(db, rows).await?;
    Ok(Page::from_rows(items, page, total, |a| {
        sync.cursor(a.updated_at, a.id.0)
    }))
}

/// The aidants of each of these organisations matching `filter` (its organisation criterion aside), as
/// `(organisation, aidant)` pairs ordered by organisation then aidant id: the batch behind nested
/// `organisation { aidants }`. Three statements whatever the number of organisations.
#[tracing::instrument(skip_all, fields(keys = organisations.len()))]
pub async fn aidants_by_organisations<C: ConnectionTrait>(
    db: &C,
    organisations: &[OrganisationId],
    filter: &AidantFilter,
) -> Result<Vec<(OrganisationId, Aidant)>, AidantsError> {
    if organisations.is_empty() {
        return Ok(Vec::new());
    }
    let links = aidant_organisation::Entity::find()
        .filter(
            aidant_organisation::Column::OrganisationId.is_in(organisations.iter().map(|o| o.0)),
        )
        .all(db)
        .await?;
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let filter = AidantFilter {
        organisation: None,
        ..filter.clone()
    };
    let rows = aidant::Entity::find()
        .filter(condition(db, &filter).await?)
        .filter(aidant::Column::Id.is_in(links.iter().map(|l| l.aidant_id)))
        .order_by_asc(aidant::Column::Id)
        .all(db)
        .await?;
    let aidants: HashMap<i32, Aidant> = hydrate(db, rows)
        .await?
        .into_iter()
        .map(|a| (a.id.0, a))
        .collect();
    let mut pairs: Vec<(OrganisationId, Aidant)> = links
        .into_iter()
        .filter_map(|l| {
            aidants
                .get(&l.aidant_id)
                .map(|a| (OrganisationId(l.organisation_id), a.clone()))
        })
        .collect();
    pairs.sort_by_key(|(o, a)| (*o, a.id));
    Ok(pairs)
}

/// One aidant by id. Two statements.
pub async fn get_aidant<C: ConnectionTrait>(
    db: &C,
    id: AidantId,
) -> Result<Option<Aidant>, AidantsError> {
    let rows = aidant::Entity::find_by_id(id.0).all(db).await?;
    Ok(hydrate(db, rows).await?.into_iter().next())
}

/// Aidants by professional e-mail, for imports. Two statements.
pub(crate) async fn aidants_by_emails<C: ConnectionTrait>(
    db: &C,
    emails: &[String],
) -> Result<Vec<Aidant>, AidantsError> {
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let rows = aidant::Entity::find()
        .filter(aidant::Column::Email.is_in(emails.iter().cloned()))
        .all(db)
        .await?;
    hydrate(db, rows).await
}

fn content_columns(new: &NewAidant) -> aidant::ActiveModel {
    aidant::ActiveModel {
        first_name: Set(new.person.first_name.clone()),
        last_name: Set(new.person.last_name.clone()),
        email: Set(new.person.email.as_str().to_owned()),
        profession: Set(new.person.profession.clone()),
        status: Set(new.status.as_str().to_owned()),
        requested_on: Set(new.requested_on),
        trained_on: Set(new.trained_on),
        training_hub_id: Set(new.training_hub.map(|h| h.0)),
        authorised_on: Set(new.authorised_on),
        revoked_on: Set(new.revoked_on),
        counsellor_id: Set(new.counsellor.map(|c| c.0)),
        ..Default::default()
    }
}

/// The audit changes. Personal data (names, e-mail, profession) is recorded as "changed", never with its values:
/// the audit log is readable more widely and longer than the record itself.
fn diff(before: Option<&NewAidant>, after: &NewAidant) -> AuditChanges {
    let mut c = AuditChanges::new();
    if before.is_none_or(|b| b.person != after.person) {
        c.note("personal_data", "changed (values not logged)");
    }
    macro_rules! field {
        ($name:literal, $get:expr) => {{
            let get = $get;
            match before {
                Some(b) => c.changed($name, &get(b), &get(after)),
                None => c.created($name, &get(after)),
            }
        }};
    }
    field!("organisations", |a: &NewAidant| a
        .organisations
        .iter()
        .map(|o| o.0)
        .collect::<Vec<_>>());
    field!("status", |a: &NewAidant| a.status.as_str());
    field!("requested_on", |a: &NewAidant| a.requested_on);
    field!("trained_on", |a: &NewAidant| a.trained_on);
    field!("training_hub", |a: &NewAidant| a.training_hub.map(|h| h.0));
    field!("authorised_on", |a: &NewAidant| a.authorised_on);
    field!("revoked_on", |a: &NewAidant| a.revoked_on);
    field!("counsellor", |a: &NewAidant| a.counsellor.map(|c| c.0));
    c
}

/// The departments of these organisations, checking they all exist (an unknown one is an input error on `field`).
/// That there is at least one is a rule of the value ([`NewAidant::checked`]).
pub(crate) async fn departments_of_organisations<C: ConnectionTrait>(
    db: &C,
    ids: &[OrganisationId],
    field: &FieldPath,
) -> Result<Vec<DepartmentCode>, AidantsError> {
    let orgs = crate::organisations::organisations_by_ids(db, ids).await?;
    if let Some((i, missing)) = ids
        .iter()
        .enumerate()
        .find(|(_, id)| !orgs.iter().any(|o| o.id == **id))
    {
        return Err(AidantsError::input(
            field.clone().index(i),
            Code::NotFound,
            format!("no organisation with id {missing}"),
        ));
    }
    let mut deps: Vec<DepartmentCode> = orgs.into_iter().map(|o| o.data.department).collect();
    deps.sort();
    deps.dedup();
    Ok(deps)
}

/// Checks the training hub exists.
async fn check_hub<C: ConnectionTrait>(db: &C, hub: Option<HubId>) -> Result<(), AidantsError> {
    if let Some(hub) = hub
        && maillage_territories::hubs_by_ids(db, &[hub])
            .await?
            .is_empty()
    {
        return Err(AidantsError::input(
            FieldPath::new("input").push("trainingHub"),
            Code::NotFound,
            format!("no hub with id {hub}"),
        ));
    }
    Ok(())
}

/// A hub coordinator may write an aidant when every one of its organisations is in the hub's departments: the
/// aidant's personal data is then readable by nobody else's coordinator, so nobody edits what they cannot see.
fn forbid_any_outside(actor: &Actor, departments: &[DepartmentCode]) -> Result<(), AidantsError> {
    if departments.is_empty() {
        return forbid_outside(actor, None);
    }
    for d in departments {
        forbid_outside(actor, Some(d))?;
    }
    Ok(())
}

fn email_taken(email: &Email) -> AidantsError {
    AidantsError::AlreadyExists(format!(
        "an aidant with e-mail {} exists already",
        email.as_str()
    ))
}

async fn replace_links<C: ConnectionTrait>(
    db: &C,
    id: i32,
    organisations: &[OrganisationId],
) -> Result<(), AidantsError> {
    aidant_organisation::Entity::delete_many()
        .filter(aidant_organisation::Column::AidantId.eq(id))
        .exec(db)
        .await?;
    if !organisations.is_empty() {
        aidant_organisation::Entity::insert_many(organisations.iter().map(|o| {
            aidant_organisation::ActiveModel {
                aidant_id: Set(id),
                organisation_id: Set(o.0),
            }
        }))
        .exec(db)
        .await?;
    }
    Ok(())
}

/// Inserts `new` or updates `existing` (same e-mail) when the content differs, with its audit entry, inside the
/// caller's transaction. `departments` are those of `new.organisations`, already checked.
pub(crate) async fn store_aidant<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    via: &'static str,
    new: &NewAidant,
    departments: &[DepartmentCode],
    existing: Option<&Aidant>,
) -> Result<StoreOutcome, AidantsError> {
    // Every way in reaches this point with a checked value; checking again keeps a new caller honest.
    let new = &new.clone().checked()?;
    if let Some(old) = existing
        && old.data == *new
    {
        return Ok(StoreOutcome::Unchanged(old.id.0));
    }
    let now = Utc::now();
    let mut model = content_columns(new);
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
                    email_taken(&new.person.email)
                } else {
                    e.into()
                }
            })?;
            (inserted.id, StoreOutcome::Created(inserted.id), "create")
        }
    };
    if existing.is_none_or(|old| old.data.organisations != new.organisations) {
        replace_links(db, id, &new.organisations).await?;
    }
    let mut changes = diff(existing.map(|a| &a.data), new);
    changes.note("via", via);
    record(
        db,
        actor,
        AuditEntry::new("aidant", id.to_string(), action, changes)
            .department(departments.first().cloned()),
    )
    .await?;
    Ok(outcome)
}

/// Creates an aidant. Refused when one of its organisations is outside the caller's departments, when an
/// organisation or the training hub does not exist, or when the e-mail is taken.
#[tracing::instrument(skip_all)]
pub async fn create_aidant(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewAidant,
) -> Result<Aidant, AidantsError> {
    let new = new.checked()?;
    let txn = maillage_core::db::begin_write(db).await?;
    let deps = departments_of_organisations(
        &txn,
        &new.organisations,
        &FieldPath::new("input").push("organisations"),
    )
    .await?;
    forbid_any_outside(actor, &deps)?;
    check_hub(&txn, new.training_hub).await?;
    let outcome = store_aidant(&txn, actor, "api", &new, &deps, None).await?;
    let aidant = get_aidant(&txn, AidantId(outcome.id()))
        .await?
        .ok_or(AidantsError::AidantNotFound(AidantId(outcome.id())))?;
    txn.commit().await?;
    Ok(aidant)
}

/// Updates an aidant if `version` is still its version. The caller must be allowed for every organisation of the
/// aidant, before and after the change. The version check is part of the `UPDATE`.
#[tracing::instrument(skip_all, fields(aidant.id = %id))]
pub async fn update_aidant(
    db: &DatabaseConnection,
    actor: &Actor,
    id: AidantId,
    version: i32,
    patch: AidantPatch,
) -> Result<Aidant, AidantsError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let old = get_aidant(&txn, id)
        .await?
        .ok_or(AidantsError::AidantNotFound(id))?;
    forbid_any_outside(actor, &old.departments)?;
    if old.version != version {
        return Err(AidantsError::StaleVersion {
            entity: "aidant",
            id: id.0,
            expected: version,
            actual: old.version,
        });
    }
    let hub_changed = patch.training_hub.is_some();
    let new = patch.apply(old.data.clone()).checked()?;
    let deps = departments_of_organisations(
        &txn,
        &new.organisations,
        &FieldPath::new("input").push("organisations"),
    )
    .await?;
    forbid_any_outside(actor, &deps)?;
    if hub_changed {
        check_hub(&txn, new.training_hub).await?;
    }
    let mut model = content_columns(&new);
    model.updated_at = Set(Utc::now());
    let updated = aidant::Entity::update_many()
        .set(model)
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            aidant::Column::Version,
            Expr::col(aidant::Column::Version).add(1),
        )
        .filter(aidant::Column::Id.eq(id.0))
        .filter(aidant::Column::Version.eq(version))
        .exec(&txn)
        .await
        .map_err(|e| {
            if maillage_core::db::is_unique_violation(&e) {
                email_taken(&new.person.email)
            } else {
                e.into()
            }
        })?;
    if updated.rows_affected == 0 {
        let actual = stored_version::<aidant::Entity, _>(
            &txn,
            (aidant::Column::Id, aidant::Column::Version),
            id.0,
        )
        .await?
        .ok_or(AidantsError::AidantNotFound(id))?;
        return Err(AidantsError::StaleVersion {
            entity: "aidant",
            id: id.0,
            expected: version,
            actual,
        });
    }
    if old.data.organisations != new.organisations {
        replace_links(&txn, id.0, &new.organisations).await?;
    }
    let mut changes = diff(Some(&old.data), &new);
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("aidant", id.to_string(), "update", changes)
            .department(deps.first().cloned()),
    )
    .await?;
    let aidant = get_aidant(&txn, id)
        .await?
        .ok_or(AidantsError::AidantNotFound(id))?;
    txn.commit().await?;
    Ok(aidant)
}
