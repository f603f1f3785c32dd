//! Storing structures, posts, counsellors and assignments: by identity from imports, one by one from the API,
//! always authorised here and always with an audit entry in the same transaction.

use crate::CounsellorsError;
use crate::entity::{assignment, counsellor, post, structure};
use crate::model::{
    CommitteeDecision, Counsellor, CounsellorId, NewCounsellor, NewPost, NewStructure, Post,
    PostId, Structure, StructureId,
};
use crate::query::{
    counsellor_from_model, get_counsellor, get_structure, post_from_model, posts_by_ids,
    structure_from_model,
};
use chrono::{NaiveDate, Utc};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{Actor, DepartmentCode, Role, SiteId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde_json::{Value, json};
use std::collections::HashSet;

/// What storing one entity did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// A new entity, with its id.
    Created(i32),
    /// An existing entity whose content changed.
    Updated(i32),
    /// An existing entity with exactly this content: nothing written.
    Unchanged(i32),
}

impl StoreOutcome {
    /// The entity's id, whatever happened.
    pub fn id(self) -> i32 {
        match self {
            Self::Created(id) | Self::Updated(id) | Self::Unchanged(id) => id,
        }
    }
}

/// Whether `actor` may write structures, posts and counsellors located in `department`.
///
/// Admins may write anywhere; a hub coordinator only within its hub's departments; nobody else (the BdT reviews
/// funding, it does not manage counsellors).
pub fn can_write(actor: &Actor, department: &DepartmentCode) -> bool {
    match actor.role() {
        Role::Admin => true,
        Role::HubCoordinator => actor.covers_department(Some(department)),
        _ => false,
    }
}

pub(crate) fn forbid_outside(
    actor: &Actor,
    department: &DepartmentCode,
) -> Result<(), CounsellorsError> {
    if can_write(actor, department) {
        return Ok(());
    }
    Err(CounsellorsError::Forbidden(match actor.role() {
        Role::HubCoordinator => {
            format!("department {department} is outside the departments of your hub")
        }
        role => format!("the role {role} may not write counsellors, structures or posts"),
    }))
}

fn input(field: &str) -> FieldPath {
    FieldPath::new("input").push(field)
}

fn now() -> chrono::DateTime<Utc> {
    Utc::now()
}

/// Records in `c` every field of `after` that differs from `before` (all of them for a creation).
fn diff(c: &mut AuditChanges, before: Option<&[(&'static str, Value)]>, after: &[(&str, Value)]) {
    for (i, (name, value)) in after.iter().enumerate() {
        match before.and_then(|b| b.get(i)) {
            Some((_, old)) => c.changed(name, old, value),
            None => c.created(name, value),
        }
    }
}

fn structure_fields(s: &NewStructure) -> Vec<(&'static str, Value)> {
    vec![
        ("siret", json!(s.siret.as_str())),
        ("name", json!(s.name)),
        ("kind", json!(s.kind.as_str())),
        ("address", json!(s.address)),
        (
            "postal_code",
            json!(s.postal_code.as_ref().map(|p| p.as_str())),
        ),
        ("commune", json!(s.commune)),
        ("department", json!(s.department.as_str())),
        ("france_services", json!(s.france_services)),
        ("zrr", json!(s.zrr)),
        ("qpv", json!(s.qpv)),
    ]
}

fn post_fields(p: &NewPost) -> Vec<(&'static str, Value)> {
    vec![
        ("renewal", json!(p.renewal)),
        ("requested", json!(p.requested)),
        ("granted", json!(p.granted)),
        ("decision", json!(p.decision.as_str())),
        ("committee_date", json!(p.committee_date)),
        ("agreement_start", json!(p.agreement_start)),
        ("agreement_end", json!(p.agreement_end)),
    ]
}

/// The audited fields of a counsellor. Personal data is not copied into the audit trail (it outlives the
/// counsellor's record): only the fact that it changed.
fn counsellor_fields(c: &NewCounsellor) -> Vec<(&'static str, Value)> {
    let p = &c.personal;
    let personal = format!(
        "{}|{}|{:?}|{:?}|{:?}",
        p.first_name, p.last_name, p.email, p.personal_email, p.phone
    );
    vec![
        ("external_id", json!(c.external_id)),
        ("structure_id", json!(c.structure_id.0)),
        ("post_id", json!(c.post_id.map(|p| p.0))),
        ("personal_data_fingerprint", json!(fingerprint(&personal))),
        ("status", json!(c.status.as_str())),
        ("recruited_on", json!(c.recruited_on)),
        ("training_started_on", json!(c.training_started_on)),
        ("active_since", json!(c.active_since)),
        ("ended_on", json!(c.ended_on)),
        ("contract_type", json!(c.contract_type.map(|t| t.as_str()))),
        ("contract_start", json!(c.contract_start)),
        ("contract_end", json!(c.contract_end)),
        ("training_completed_on", json!(c.training_completed_on)),
        ("pix_certified", json!(c.pix_certified)),
        ("host_share", json!(c.host_share)),
        ("is_coordinator", json!(c.is_coordinator)),
        ("coordinator_id", json!(c.coordinator_id.map(|i| i.0))),
    ]
}

/// A short non-reversible tag, so the audit trail shows *that* personal data changed without holding it.
fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:04x}", hash >> 48)
}

// ------------------------------------------------------------------------------------------------------------
// Structures
// ------------------------------------------------------------------------------------------------------------

fn structure_columns(new: &NewStructure) -> structure::ActiveModel {
    structure::ActiveModel {
        siret: Set(new.siret.as_str().to_owned()),
        name: Set(new.name.clone()),
        kind: Set(new.kind.as_str().to_owned()),
        address: Set(new.address.clone()),
        postal_code: Set(new.postal_code.as_ref().map(|p| p.as_str().to_owned())),
        commune: Set(new.commune.clone()),
        department_code: Set(new.department.as_str().to_owned()),
        france_services: Set(new.france_services),
        zrr: Set(new.zrr),
        qpv: Set(new.qpv),
        ..Default::default()
    }
}

/// Existing structure by SIRET.
pub(crate) async fn structure_by_siret<C: ConnectionTrait>(
    db: &C,
    siret: &str,
) -> Result<Option<Structure>, CounsellorsError> {
    structure::Entity::find()
        .filter(structure::Column::Siret.eq(siret))
        .one(db)
        .await?
        .map(structure_from_model)
        .transpose()
}

/// Inserts `new` or updates `existing` (same SIRET) when its content differs, with its audit entry; a move to
/// another department moves its counsellors with it. Meant to run inside the caller's transaction.
pub(crate) async fn store_structure<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    via: &'static str,
    new: &NewStructure,
    existing: Option<&Structure>,
) -> Result<StoreOutcome, CounsellorsError> {
    // Every way in reaches this point with a checked value; checking again keeps a new caller honest.
    let new = &new.clone().checked()?;
    if let Some(old) = existing
        && old.data == *new
    {
        return Ok(StoreOutcome::Unchanged(old.id.0));
    }
    let mut model = structure_columns(new);
    model.updated_at = Set(now());
    let (outcome, action) = match existing {
        Some(old) => {
            model.id = Set(old.id.0);
            model.version = Set(old.version + 1);
            model.update(db).await?;
            if old.data.department != new.department {
                counsellor::Entity::update_many()
                    .col_expr(
                        counsellor::Column::DepartmentCode,
                        Expr::value(new.department.as_str()),
                    )
                    .filter(counsellor::Column::StructureId.eq(old.id.0))
                    .exec(db)
                    .await?;
            }
            (StoreOutcome::Updated(old.id.0), "update")
        }
        None => {
            model.version = Set(1);
            model.created_at = Set(now());
            let inserted = model.insert(db).await.map_err(|e| {
                if maillage_core::db::is_unique_violation(&e) {
                    CounsellorsError::AlreadyExists(format!(
                        "a structure with SIRET {} exists already",
                        new.siret
                    ))
                } else {
                    e.into()
                }
            })?;
            (StoreOutcome::Created(inserted.id), "create")
        }
    };
    let mut changes = AuditChanges::new();
    let before = existing.map(|s| structure_fields(&s.data));
    diff(&mut changes, before.as_deref(), &structure_fields(new));
    changes.note("via", via);
    record(
        db,
        actor,
        AuditEntry::new("host_structure", outcome.id().to_string(), action, changes)
            .department(Some(new.department.clone())),
    )
    .await?;
    Ok(outcome)
}

/// Creates a host structure. Refused outside the caller's departments, or if the SIRET exists.
#[tracing::instrument(skip_all, fields(structure.siret = %new.siret))]
pub async fn create_structure(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewStructure,
) -> Result<Structure, CounsellorsError> {
    let new = new.checked()?;
    forbid_outside(actor, &new.department)?;
    let txn = maillage_core::db::begin_write(db).await?;
    if structure_by_siret(&txn, new.siret.as_str())
        .await?
        .is_some()
    {
        return Err(CounsellorsError::AlreadyExists(format!(
            "a structure with SIRET {} exists already",
            new.siret
        )));
    }
    let id = store_structure(&txn, actor, "api", &new, None).await?.id();
    let structure = get_structure(&txn, StructureId(id))
        .await?
        .ok_or_else(|| not_found("structure", id, "id"))?;
    txn.commit().await?;
    Ok(structure)
}

fn not_found(what: &'static str, id: i32, field: &str) -> CounsellorsError {
    CounsellorsError::NotFound {
        what,
        id,
        field: input(field),
    }
}

/// A change to a structure: `None` leaves a field as it is; `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct StructurePatch {
    /// New name.
    pub name: Option<String>,
    /// New kind (changes the funding kind).
    pub kind: Option<crate::model::StructureKind>,
    /// New address, or cleared.
    pub address: Option<Option<String>>,
    /// New postal code, or cleared.
    pub postal_code: Option<Option<maillage_core::PostalCode>>,
    /// New commune, or cleared.
    pub commune: Option<Option<String>>,
    /// New department: the caller must be allowed to write in both.
    pub department: Option<DepartmentCode>,
    /// France Services label.
    pub france_services: Option<bool>,
    /// ZRR flag.
    pub zrr: Option<bool>,
    /// QPV flag.
    pub qpv: Option<bool>,
}

impl StructurePatch {
    fn apply(self, mut d: NewStructure) -> NewStructure {
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
        if let Some(v) = self.zrr {
            d.zrr = v;
        }
        if let Some(v) = self.qpv {
            d.qpv = v;
        }
        d
    }
}

/// Bumps `table`'s version from `version` to the next on row `id`, or reports a stale version. Run first in a
/// write transaction, it also locks the row on PostgreSQL, so concurrent writers of one entity queue up.
async fn bump_version<C: ConnectionTrait, E: EntityTrait>(
    db: &C,
    what: &'static str,
    id_col: E::Column,
    version_col: E::Column,
    id: i32,
    version: i32,
) -> Result<(), CounsellorsError> {
    let updated = E::update_many()
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(version_col, Expr::col(version_col).add(1))
        .filter(id_col.eq(id))
        .filter(version_col.eq(version))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(CounsellorsError::StaleVersion {
            what,
            id,
            expected: version,
        });
    }
    Ok(())
}

/// Updates a structure if `version` is still its version.
#[tracing::instrument(skip_all, fields(structure.id = %id))]
pub async fn update_structure(
    db: &DatabaseConnection,
    actor: &Actor,
    id: StructureId,
    version: i32,
    patch: StructurePatch,
) -> Result<Structure, CounsellorsError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let old = get_structure(&txn, id)
        .await?
        .ok_or_else(|| not_found("structure", id.0, "id"))?;
    forbid_outside(actor, &old.data.department)?;
    let new = patch.apply(old.data.clone()).checked()?;
    forbid_outside(actor, &new.department)?;
    bump_version::<_, structure::Entity>(
        &txn,
        "structure",
        structure::Column::Id,
        structure::Column::Version,
        id.0,
        version,
    )
    .await?;
    let mut model = structure_columns(&new);
    if old.data != new {
        model.id = Set(id.0);
        model.updated_at = Set(now());
        model.update(&txn).await?;
        if old.data.department != new.department {
            counsellor::Entity::update_many()
                .col_expr(
                    counsellor::Column::DepartmentCode,
                    Expr::value(new.department.as_str()),
                )
                .filter(counsellor::Column::StructureId.eq(id.0))
                .exec(&txn)
                .await?;
        }
    }
    let mut changes = AuditChanges::new();
    diff(
        &mut changes,
        Some(&structure_fields(&old.data)),
        &structure_fields(&new),
    );
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("host_structure", id.to_string(), "update", changes)
            .department(Some(new.department.clone())),
    )
    .await?;
    let structure = get_structure(&txn, id)
        .await?
        .ok_or_else(|| not_found("structure", id.0, "id"))?;
    txn.commit().await?;
    Ok(structure)
}

// ------------------------------------------------------------------------------------------------------------
// Posts
// ------------------------------------------------------------------------------------------------------------

fn post_columns(structure: StructureId, p: &NewPost) -> post::ActiveModel {
    post::ActiveModel {
        structure_id: Set(structure.0),
        renewal: Set(p.renewal),
        requested: Set(p.requested),
        granted: Set(p.granted),
        committee_decision: Set(p.decision.as_str().to_owned()),
        committee_date: Set(p.committee_date),
        agreement_start: Set(p.agreement_start),
        agreement_end: Set(p.agreement_end),
        ..Default::default()
    }
}

/// The post of a structure that is (or is not) a renewal.
pub(crate) async fn post_of_structure<C: ConnectionTrait>(
    db: &C,
    structure: StructureId,
    renewal: bool,
) -> Result<Option<Post>, CounsellorsError> {
    post::Entity::find()
        .filter(post::Column::StructureId.eq(structure.0))
        .filter(post::Column::Renewal.eq(renewal))
        .one(db)
        .await?
        .map(post_from_model)
        .transpose()
}

/// Inserts or updates (by structure and renewal flag) a post with its audit entry; unchanged content writes nothing.
pub(crate) async fn store_post<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    via: &'static str,
    structure: &Structure,
    new: &NewPost,
    existing: Option<&Post>,
) -> Result<StoreOutcome, CounsellorsError> {
    // Every way in reaches this point with a checked value; checking again keeps a new caller honest.
    let new = &new.clone().checked()?;
    if let Some(old) = existing
        && old.data == *new
    {
        return Ok(StoreOutcome::Unchanged(old.id.0));
    }
    let mut model = post_columns(structure.id, new);
    model.updated_at = Set(now());
    let (outcome, action) = match existing {
        Some(old) => {
            model.id = Set(old.id.0);
            model.version = Set(old.version + 1);
            model.update(db).await?;
            (StoreOutcome::Updated(old.id.0), "update")
        }
        None => {
            model.version = Set(1);
            model.created_at = Set(now());
            let inserted = model.insert(db).await.map_err(|e| {
                if maillage_core::db::is_unique_violation(&e) {
                    CounsellorsError::AlreadyExists(format!(
                        "structure {} has a {} post already",
                        structure.id,
                        if new.renewal { "renewal" } else { "first" }
                    ))
                } else {
                    e.into()
                }
            })?;
            (StoreOutcome::Created(inserted.id), "create")
        }
    };
    let mut changes = AuditChanges::new();
    let before = existing.map(|p| post_fields(&p.data));
    diff(&mut changes, before.as_deref(), &post_fields(new));
    changes.note("via", via);
    changes.note("structure_id", &structure.id.0);
    record(
        db,
        actor,
        AuditEntry::new("funded_post", outcome.id().to_string(), action, changes)
            .department(Some(structure.data.department.clone())),
    )
    .await?;
    Ok(outcome)
}

/// Records a request for posts of a structure (its first agreement or its renewal).
#[tracing::instrument(skip_all, fields(structure.id = %structure_id))]
pub async fn create_post(
    db: &DatabaseConnection,
    actor: &Actor,
    structure_id: StructureId,
    new: NewPost,
) -> Result<Post, CounsellorsError> {
    let new = new.checked()?;
    let txn = maillage_core::db::begin_write(db).await?;
    let structure = get_structure(&txn, structure_id)
        .await?
        .ok_or_else(|| not_found("structure", structure_id.0, "structureId"))?;
    forbid_outside(actor, &structure.data.department)?;
    if post_of_structure(&txn, structure_id, new.renewal)
        .await?
        .is_some()
    {
        return Err(CounsellorsError::AlreadyExists(format!(
            "structure {structure_id} has a {} post already: update it",
            if new.renewal { "renewal" } else { "first" }
        )));
    }
    let id = store_post(&txn, actor, "api", &structure, &new, None)
        .await?
        .id();
    let post = posts_by_ids(&txn, &[PostId(id)])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_found("post", id, "id"))?;
    txn.commit().await?;
    Ok(post)
}

/// A change to a post; `None` leaves a field as it is, `Some(None)` clears a date.
#[derive(Debug, Clone, Default)]
pub struct PostPatch {
    /// Posts requested.
    pub requested: Option<i32>,
    /// Posts granted.
    pub granted: Option<i32>,
    /// Committee decision.
    pub decision: Option<CommitteeDecision>,
    /// Committee date.
    pub committee_date: Option<Option<NaiveDate>>,
    /// Agreement start.
    pub agreement_start: Option<Option<NaiveDate>>,
    /// Agreement end.
    pub agreement_end: Option<Option<NaiveDate>>,
}

/// Updates a post (e.g. the committee's decision) if `version` is still its version.
#[tracing::instrument(skip_all, fields(post.id = %id))]
pub async fn update_post(
    db: &DatabaseConnection,
    actor: &Actor,
    id: PostId,
    version: i32,
    patch: PostPatch,
) -> Result<Post, CounsellorsError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let old = posts_by_ids(&txn, &[id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_found("post", id.0, "id"))?;
    let structure = get_structure(&txn, old.structure_id)
        .await?
        .ok_or_else(|| not_found("structure", old.structure_id.0, "id"))?;
    forbid_outside(actor, &structure.data.department)?;
    let mut new = old.data.clone();
    if let Some(v) = patch.requested {
        new.requested = v;
    }
    if let Some(v) = patch.granted {
        new.granted = v;
    }
    if let Some(v) = patch.decision {
        new.decision = v;
    }
    if let Some(v) = patch.committee_date {
        new.committee_date = v;
    }
    if let Some(v) = patch.agreement_start {
        new.agreement_start = v;
    }
    if let Some(v) = patch.agreement_end {
        new.agreement_end = v;
    }
    let new = new.checked()?;
    bump_version::<_, post::Entity>(
        &txn,
        "post",
        post::Column::Id,
        post::Column::Version,
        id.0,
        version,
    )
    .await?;
    let mut model = post_columns(structure.id, &new);
    model.id = Set(id.0);
    model.updated_at = Set(now());
    model.update(&txn).await?;
    let mut changes = AuditChanges::new();
    diff(
        &mut changes,
        Some(&post_fields(&old.data)),
        &post_fields(&new),
    );
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("funded_post", id.to_string(), "update", changes)
            .department(Some(structure.data.department.clone())),
    )
    .await?;
    let post = posts_by_ids(&txn, &[id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_found("post", id.0, "id"))?;
    txn.commit().await?;
    Ok(post)
}

// ------------------------------------------------------------------------------------------------------------
// Counsellors
// ------------------------------------------------------------------------------------------------------------

fn counsellor_columns(department: &DepartmentCode, c: &NewCounsellor) -> counsellor::ActiveModel {
    let p = &c.personal;
    counsellor::ActiveModel {
        external_id: Set(c.external_id.clone()),
        structure_id: Set(c.structure_id.0),
        post_id: Set(c.post_id.map(|p| p.0)),
        department_code: Set(department.as_str().to_owned()),
        first_name: Set(p.first_name.clone()),
        last_name: Set(p.last_name.clone()),
        email: Set(p.email.as_ref().map(|e| e.as_str().to_owned())),
        personal_email: Set(p.personal_email.as_ref().map(|e| e.as_str().to_owned())),
        phone: Set(p.phone.clone()),
        status: Set(c.status.as_str().to_owned()),
        recruited_on: Set(c.recruited_on),
        training_started_on: Set(c.training_started_on),
        active_since: Set(c.active_since),
        ended_on: Set(c.ended_on),
        contract_type: Set(c.contract_type.map(|t| t.as_str().to_owned())),
        contract_start: Set(c.contract_start),
        contract_end: Set(c.contract_end),
        training_completed_on: Set(c.training_completed_on),
        pix_certified: Set(c.pix_certified),
        host_share: Set(c.host_share),
        is_coordinator: Set(c.is_coordinator),
        coordinator_id: Set(c.coordinator_id.map(|i| i.0)),
        ..Default::default()
    }
}

/// Existing counsellor by external id.
pub(crate) async fn counsellor_by_external_id<C: ConnectionTrait>(
    db: &C,
    external_id: &str,
) -> Result<Option<Counsellor>, CounsellorsError> {
    counsellor::Entity::find()
        .filter(counsellor::Column::ExternalId.eq(external_id))
        .one(db)
        .await?
        .map(counsellor_from_model)
        .transpose()
}

/// Sum of the site shares of a counsellor.
async fn site_shares<C: ConnectionTrait>(
    db: &C,
    id: CounsellorId,
) -> Result<i32, CounsellorsError> {
    Ok(assignment::Entity::find()
        .filter(assignment::Column::CounsellorId.eq(id.0))
        .all(db)
        .await?
        .iter()
        .map(|a| a.share)
        .sum())
}

/// Checks what a counsellor refers to and returns its host structure: the structure exists and the caller may
/// write there, the post belongs to it, the coordinator is a coordinator (and not the counsellor itself), and the
/// host share fits with the site shares already assigned. The value's own rules are [`NewCounsellor::checked`]'s.
pub(crate) async fn check_counsellor<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: Option<CounsellorId>,
    c: &NewCounsellor,
) -> Result<Structure, CounsellorsError> {
    let structure = get_structure(db, c.structure_id)
        .await?
        .ok_or_else(|| not_found("structure", c.structure_id.0, "structureId"))?;
    forbid_outside(actor, &structure.data.department)?;
    if let Some(post_id) = c.post_id {
        let post = posts_by_ids(db, &[post_id]).await?.into_iter().next();
        if post.is_none_or(|p| p.structure_id != c.structure_id) {
            return Err(CounsellorsError::input(
                input("postId"),
                Code::InvalidValue,
                format!(
                    "post {post_id} is not a post of structure {}",
                    c.structure_id
                ),
            ));
        }
    }
    if let Some(coordinator) = c.coordinator_id {
        if Some(coordinator) == id {
            return Err(CounsellorsError::input(
                input("coordinatorId"),
                Code::InvalidValue,
                "a counsellor cannot coordinate itself",
            ));
        }
        match get_counsellor(db, coordinator).await? {
            Some(k) if k.data.is_coordinator => {}
            Some(_) => {
                return Err(CounsellorsError::input(
                    input("coordinatorId"),
                    Code::InvalidValue,
                    format!("counsellor {coordinator} is not a coordinator"),
                ));
            }
            None => return Err(not_found("counsellor", coordinator.0, "coordinatorId")),
        }
    }
    if let Some(id) = id {
        let total = c.host_share + site_shares(db, id).await?;
        if total > 100 {
            return Err(CounsellorsError::TimeShareExceeded {
                counsellor: id.0,
                total,
            });
        }
    }
    Ok(structure)
}

/// Inserts or updates (by external id) a counsellor with its audit entry; unchanged content writes nothing.
/// The caller has run [`check_counsellor`] in the same transaction.
pub(crate) async fn store_counsellor<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    via: &'static str,
    structure: &Structure,
    new: &NewCounsellor,
    existing: Option<&Counsellor>,
) -> Result<StoreOutcome, CounsellorsError> {
    // Every way in reaches this point with a checked value; checking again keeps a new caller honest.
    let new = &new.clone().checked()?;
    if let Some(old) = existing
        && old.data == *new
    {
        return Ok(StoreOutcome::Unchanged(old.id.0));
    }
    let mut model = counsellor_columns(&structure.data.department, new);
    model.updated_at = Set(now());
    let (outcome, action) = match existing {
        Some(old) => {
            model.id = Set(old.id.0);
            model.version = Set(old.version + 1);
            model.update(db).await?;
            (StoreOutcome::Updated(old.id.0), "update")
        }
        None => {
            model.version = Set(1);
            model.created_at = Set(now());
            let inserted = model.insert(db).await.map_err(|e| {
                if maillage_core::db::is_unique_violation(&e) {
                    CounsellorsError::AlreadyExists(format!(
                        "a counsellor with id {:?} exists already",
                        new.external_id
                    ))
                } else {
                    e.into()
                }
            })?;
            (StoreOutcome::Created(inserted.id), "create")
        }
    };
    crate::history::record_status(
        db,
        CounsellorId(outcome.id()),
        existing.map(|c| &c.data),
        new,
    )
    .await?;
    let mut changes = AuditChanges::new();
    let before = existing.map(|c| counsellor_fields(&c.data));
    diff(&mut changes, before.as_deref(), &counsellor_fields(new));
    changes.note("via", via);
    record(
        db,
        actor,
        AuditEntry::new("counsellor", outcome.id().to_string(), action, changes)
            .department(Some(structure.data.department.clone())),
    )
    .await?;
    Ok(outcome)
}

/// Creates a counsellor in a structure of the caller's departments.
#[tracing::instrument(skip_all, fields(structure.id = %new.structure_id))]
pub async fn create_counsellor(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewCounsellor,
) -> Result<Counsellor, CounsellorsError> {
    let new = new.checked()?;
    let txn = maillage_core::db::begin_write(db).await?;
    let structure = check_counsellor(&txn, actor, None, &new).await?;
    if counsellor_by_external_id(&txn, &new.external_id)
        .await?
        .is_some()
    {
        return Err(CounsellorsError::AlreadyExists(format!(
            "a counsellor with id {:?} exists already",
            new.external_id
        )));
    }
    let id = store_counsellor(&txn, actor, "api", &structure, &new, None)
        .await?
        .id();
    let c = get_counsellor(&txn, CounsellorId(id))
        .await?
        .ok_or_else(|| not_found("counsellor", id, "id"))?;
    txn.commit().await?;
    Ok(c)
}

/// Updates a counsellor if `version` is still its version; `change` edits a copy of its current content. The
/// caller must be allowed to write both where the counsellor is and where the change puts it.
#[tracing::instrument(skip_all, fields(counsellor.id = %id))]
pub async fn update_counsellor(
    db: &DatabaseConnection,
    actor: &Actor,
    id: CounsellorId,
    version: i32,
    change: impl FnOnce(&mut NewCounsellor) + Send,
) -> Result<Counsellor, CounsellorsError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let old = get_counsellor(&txn, id)
        .await?
        .ok_or_else(|| not_found("counsellor", id.0, "id"))?;
    forbid_outside(actor, &old.department)?;
    bump_version::<_, counsellor::Entity>(
        &txn,
        "counsellor",
        counsellor::Column::Id,
        counsellor::Column::Version,
        id.0,
        version,
    )
    .await?;
    let mut new = old.data.clone();
    change(&mut new);
    let new = new.checked()?;
    let structure = check_counsellor(&txn, actor, Some(id), &new).await?;
    if new.is_coordinator != old.data.is_coordinator && !new.is_coordinator {
        let coordinated = crate::query::coordinated_by(&txn, &[id]).await?;
        if !coordinated.is_empty() {
            return Err(CounsellorsError::input(
                input("isCoordinator"),
                Code::InvalidValue,
                format!(
                    "counsellor {id} still coordinates {} counsellor(s): reassign them first",
                    coordinated.len()
                ),
            ));
        }
    }
    let mut model = counsellor_columns(&structure.data.department, &new);
    model.id = Set(id.0);
    model.updated_at = Set(now());
    model.update(&txn).await?;
    crate::history::record_status(&txn, id, Some(&old.data), &new).await?;
    let mut changes = AuditChanges::new();
    diff(
        &mut changes,
        Some(&counsellor_fields(&old.data)),
        &counsellor_fields(&new),
    );
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("counsellor", id.to_string(), "update", changes)
            .department(Some(structure.data.department.clone())),
    )
    .await?;
    let c = get_counsellor(&txn, id)
        .await?
        .ok_or_else(|| not_found("counsellor", id.0, "id"))?;
    txn.commit().await?;
    Ok(c)
}

/// Replaces a counsellor's host share and site assignments, if `version` is still its version.
///
/// The rule "host share + site shares ≤ 100 %" is checked inside the write transaction, after the version bump
/// has locked the counsellor's row: two concurrent calls cannot both pass the check on the same old state (the
/// second one finds a newer version and is refused as stale). Each site share is 1 to 100; a site appears once.
/// The sites are not checked here (the sites domain is not this crate's business): callers resolve them.
#[tracing::instrument(skip_all, fields(counsellor.id = %id))]
pub async fn set_assignments(
    db: &DatabaseConnection,
    actor: &Actor,
    id: CounsellorId,
    version: i32,
    host_share: i32,
    sites: &[(SiteId, i32)],
) -> Result<Counsellor, CounsellorsError> {
    // The host share's rule is the counsellor's own; every problem of the input is reported at once.
    let mut problems = maillage_core::FieldProblems::new();
    crate::draft::rule::host_share(&mut problems, host_share);
    let mut seen = HashSet::new();
    for (i, (site, share)) in sites.iter().enumerate() {
        let field = FieldPath::new("assignments").index(i);
        if !(1..=100).contains(share) {
            problems.push(
                field.clone().push("share"),
                Code::InvalidValue,
                "a site share is a percentage, 1 to 100",
            );
        }
        if !seen.insert(*site) {
            problems.push(
                field.push("siteId"),
                Code::InvalidValue,
                format!("site {site} is listed twice"),
            );
        }
    }
    problems.finish(|| Some(()))?;
    let txn = maillage_core::db::begin_write(db).await?;
    let old = get_counsellor(&txn, id)
        .await?
        .ok_or_else(|| not_found("counsellor", id.0, "counsellorId"))?;
    forbid_outside(actor, &old.department)?;
    bump_version::<_, counsellor::Entity>(
        &txn,
        "counsellor",
        counsellor::Column::Id,
        counsellor::Column::Version,
        id.0,
        version,
    )
    .await?;
    let total = host_share + sites.iter().map(|(_, s)| *s).sum::<i32>();
    if total > 100 {
        return Err(CounsellorsError::TimeShareExceeded {
            counsellor: id.0,
            total,
        });
    }
    let before = crate::query::assignments_of_counsellors(&txn, &[id]).await?;
    assignment::Entity::delete_many()
        .filter(assignment::Column::CounsellorId.eq(id.0))
        .exec(&txn)
        .await?;
    if !sites.is_empty() {
        assignment::Entity::insert_many(sites.iter().map(|(site, share)| {
            assignment::ActiveModel {
                counsellor_id: Set(id.0),
                site_id: Set(site.0),
                share: Set(*share),
            }
        }))
        .exec(&txn)
        .await?;
    }
    counsellor::Entity::update_many()
        .col_expr(counsellor::Column::HostShare, Expr::value(host_share))
        .col_expr(counsellor::Column::UpdatedAt, Expr::value(now()))
        .filter(counsellor::Column::Id.eq(id.0))
        .exec(&txn)
        .await?;
    let as_json = |list: Vec<(i32, i32)>| -> Value {
        list.into_iter()
            .map(|(site, share)| json!({ "site_id": site, "share": share }))
            .collect()
    };
    let mut changes = AuditChanges::new();
    changes.changed("host_share", &old.data.host_share, &host_share);
    changes.changed(
        "assignments",
        &as_json(before.iter().map(|a| (a.site_id.0, a.share)).collect()),
        &as_json({
            let mut v: Vec<(i32, i32)> = sites.iter().map(|(s, p)| (s.0, *p)).collect();
            v.sort_unstable();
            v
        }),
    );
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("counsellor", id.to_string(), "assign", changes)
            .department(Some(old.department.clone())),
    )
    .await?;
    let c = get_counsellor(&txn, id)
        .await?
        .ok_or_else(|| not_found("counsellor", id.0, "counsellorId"))?;
    txn.commit().await?;
    Ok(c)
}
