//! Reading structures, posts and counsellors: Relay pages with filters, and the batch lookups behind the GraphQL
//! DataLoaders (one statement per call, whatever the number of keys).

use crate::CounsellorsError;
use crate::entity::{assignment, counsellor, post, structure};
use crate::model::{
    Assignment, CommitteeDecision, ContractType, Counsellor, CounsellorId, CounsellorParts,
    CounsellorStatus, DepartmentCounts, NewCounsellor, NewPost, NewStructure, PersonalData, Post,
    PostId, Structure, StructureId, StructureKind,
};
use maillage_core::Code;
use maillage_core::db::column;
use maillage_core::error::FieldPath;
use maillage_core::pagination::{Page, PageRequest};
use maillage_core::sync::SyncOptions;
use maillage_core::{DepartmentCode, Email, PostalCode, Siret, SiteId};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, RelationDef, RelationTrait,
};
use std::collections::BTreeMap;

/// Criteria on host structures; all given criteria must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StructureFilter {
    /// Structures in any of these departments.
    pub departments: Option<Vec<DepartmentCode>>,
    /// Structures in the departments of this hub (slug).
    pub hub: Option<String>,
    /// Structures of any of these kinds (empty: all).
    pub kinds: Vec<StructureKind>,
}

/// Criteria on counsellors; all given criteria must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounsellorFilter {
    /// Counsellors whose host structure is in any of these departments.
    pub departments: Option<Vec<DepartmentCode>>,
    /// Counsellors in the departments of this hub (slug).
    pub hub: Option<String>,
    /// Counsellors with any of these statuses (empty: all).
    pub statuses: Vec<CounsellorStatus>,
    /// Counsellors whose host structure is of any of these kinds (empty: all).
    pub structure_kinds: Vec<StructureKind>,
    /// Only counsellors still under contract with no site assignment at all.
    pub without_site: bool,
    /// Only the counsellors of this structure.
    pub structure: Option<StructureId>,
}

pub(crate) fn structure_from_model(m: structure::Model) -> Result<Structure, CounsellorsError> {
    let bad = |detail: String| CounsellorsError::corrupt("host_structure", m.id, detail);
    let data = NewStructure {
        siret: Siret::parse(&m.siret).map_err(|e| bad(e.to_string()))?,
        name: m.name.clone(),
        kind: StructureKind::parse(&m.kind).ok_or_else(|| bad(format!("kind {:?}", m.kind)))?,
        address: m.address.clone(),
        postal_code: m
            .postal_code
            .as_deref()
            .map(PostalCode::parse)
            .transpose()
            .map_err(|e| bad(e.to_string()))?,
        commune: m.commune.clone(),
        department: DepartmentCode::parse(&m.department_code).map_err(|e| bad(e.to_string()))?,
        france_services: m.france_services,
        zrr: m.zrr,
        qpv: m.qpv,
    };
    Ok(Structure {
        id: StructureId(m.id),
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
        data,
    })
}

pub(crate) fn post_from_model(m: post::Model) -> Result<Post, CounsellorsError> {
    let decision = CommitteeDecision::parse(&m.committee_decision).ok_or_else(|| {
        CounsellorsError::corrupt(
            "funded_post",
            m.id,
            format!("decision {:?}", m.committee_decision),
        )
    })?;
    Ok(Post {
        id: PostId(m.id),
        structure_id: StructureId(m.structure_id),
        version: m.version,
        data: NewPost {
            renewal: m.renewal,
            requested: m.requested,
            granted: m.granted,
            decision,
            committee_date: m.committee_date,
            agreement_start: m.agreement_start,
            agreement_end: m.agreement_end,
        },
    })
}

pub(crate) fn counsellor_from_model(m: counsellor::Model) -> Result<Counsellor, CounsellorsError> {
    let id = m.id;
    let bad = |detail: String| CounsellorsError::corrupt("counsellor", id, detail);
    let email = |v: Option<String>| {
        v.as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|e| bad(e.to_string()))
    };
    let data = NewCounsellor {
        external_id: m.external_id,
        structure_id: StructureId(m.structure_id),
        post_id: m.post_id.map(PostId),
        personal: PersonalData {
            first_name: m.first_name,
            last_name: m.last_name,
            email: email(m.email)?,
            personal_email: email(m.personal_email)?,
            phone: m.phone,
        },
        status: CounsellorStatus::parse(&m.status)
            .ok_or_else(|| bad(format!("status {:?}", m.status)))?,
        recruited_on: m.recruited_on,
        training_started_on: m.training_started_on,
        active_since: m.active_since,
        ended_on: m.ended_on,
        contract_type: m
            .contract_type
            .as_deref()
            .map(|c| ContractType::parse(c).ok_or_else(|| bad(format!("contract type {c:?}"))))
            .transpose()?,
        contract_start: m.contract_start,
        contract_end: m.contract_end,
        training_completed_on: m.training_completed_on,
        pix_certified: m.pix_certified,
        host_share: m.host_share,
        is_coordinator: m.is_coordinator,
        coordinator_id: m.coordinator_id.map(CounsellorId),
    };
    Ok(Counsellor {
        id: CounsellorId(id),
        department: DepartmentCode::parse(&m.department_code).map_err(|e| bad(e.to_string()))?,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
        data,
        parts: CounsellorParts::Whole,
    })
}

fn collect<M, T>(
    rows: Vec<M>,
    f: impl Fn(M) -> Result<T, CounsellorsError>,
) -> Result<Vec<T>, CounsellorsError> {
    // Allocated once: `collect::<Result<Vec<_>, _>>()` cannot know the length (it may stop at an error), so it grows
    // from four by doubling, copying every counsellor (a few hundred bytes) at each step (issue #16).
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(f(row)?);
    }
    Ok(out)
}

/// The departments a filter's `departments` and `hub` allow (`None`: all); an unknown hub is a user error.
pub(crate) async fn allowed_departments<C: ConnectionTrait>(
    db: &C,
    departments: Option<&Vec<DepartmentCode>>,
    hub: Option<&str>,
) -> Result<Option<Vec<String>>, CounsellorsError> {
    let mut allowed: Option<Vec<String>> =
        departments.map(|d| d.iter().map(|c| c.as_str().to_owned()).collect());
    if let Some(slug) = hub {
        let Some(hub) = maillage_territories::hub_by_slug(db, slug).await? else {
            return Err(CounsellorsError::input(
                FieldPath::new("filter").push("hub"),
                Code::UnknownValue,
                format!("no hub with slug {slug:?}"),
            ));
        };
        let of_hub: Vec<String> = maillage_territories::departments_of_hubs(db, &[hub.id])
            .await?
            .into_iter()
            .map(|(_, d)| d.code.as_str().to_owned())
            .collect();
        allowed = Some(match allowed {
            Some(list) => list.into_iter().filter(|d| of_hub.contains(d)).collect(),
            None => of_hub,
        });
    }
    Ok(allowed)
}

/// Host structures matching `filter`, by id.
pub async fn list_structures<C: ConnectionTrait>(
    db: &C,
    filter: &StructureFilter,
    page: &PageRequest,
) -> Result<Page<Structure>, CounsellorsError> {
    list_structures_synced(db, filter, &SyncOptions::default(), page).await
}

/// Host structures matching `filter` and `sync` (`updatedSince`, `(updated_at, id)` order).
pub async fn list_structures_synced<C: ConnectionTrait>(
    db: &C,
    filter: &StructureFilter,
    sync: &SyncOptions,
    page: &PageRequest,
) -> Result<Page<Structure>, CounsellorsError> {
    let mut cond = sync.condition(structure::Column::UpdatedAt);
    if let Some(deps) =
        allowed_departments(db, filter.departments.as_ref(), filter.hub.as_deref()).await?
    {
        cond = cond.add(structure::Column::DepartmentCode.is_in(deps));
    }
    if !filter.kinds.is_empty() {
        cond = cond.add(structure::Column::Kind.is_in(filter.kinds.iter().map(|k| k.as_str())));
    }
    let mut query = structure::Entity::find().filter(cond.clone());
    let scan = sync.scan(page);
    if let Some(after) = &page.after {
        query =
            query.filter(scan.after(structure::Column::UpdatedAt, structure::Column::Id, after)?);
    }
    let rows = maillage_core::db::page_rows(
        db,
        scan.order(query, structure::Column::UpdatedAt, structure::Column::Id)
            .limit(u64::from(page.first) + 1),
    )
    .await?;
    let total = if page.with_total {
        Some(structure::Entity::find().filter(cond).count(db).await?)
    } else {
        None
    };
    let items = collect(rows, structure_from_model)?;
    Ok(Page::from_rows(items, page, total, |s| {
        sync.cursor(s.updated_at, s.id.0)
    }))
}

pub(crate) async fn counsellor_condition<C: ConnectionTrait>(
    db: &C,
    filter: &CounsellorFilter,
) -> Result<Condition, CounsellorsError> {
    let mut cond = Condition::all();
    if let Some(deps) =
        allowed_departments(db, filter.departments.as_ref(), filter.hub.as_deref()).await?
    {
        cond = cond.add(counsellor::Column::DepartmentCode.is_in(deps));
    }
    if !filter.statuses.is_empty() {
        cond =
            cond.add(counsellor::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
    }
    if !filter.structure_kinds.is_empty() {
        cond = cond.add(
            counsellor::Column::StructureId.in_subquery(
                Query::select()
                    .column(structure::Column::Id)
                    .from(structure::Entity)
                    .and_where(
                        structure::Column::Kind
                            .is_in(filter.structure_kinds.iter().map(|k| k.as_str())),
                    )
                    .to_owned(),
            ),
        );
    }
    if filter.without_site {
        cond = cond
            .add(counsellor::Column::Status.ne(CounsellorStatus::ContractEnded.as_str()))
            .add(
                counsellor::Column::Id.not_in_subquery(
                    Query::select()
                        .column(assignment::Column::CounsellorId)
                        .from(assignment::Entity)
                        .to_owned(),
                ),
            );
    }
    if let Some(structure) = filter.structure {
        cond = cond.add(counsellor::Column::StructureId.eq(structure.0));
    }
    Ok(cond)
}

/// Counsellors matching `filter`, by id. Personal data is in the result: callers mask it with
/// [`Counsellor::personal_for`].
pub async fn list_counsellors<C: ConnectionTrait>(
    db: &C,
    filter: &CounsellorFilter,
    page: &PageRequest,
) -> Result<Page<Counsellor>, CounsellorsError> {
    list_counsellors_synced(db, filter, &SyncOptions::default(), page).await
}

/// Counsellors matching `filter` and `sync` (`updatedSince`, `(updated_at, id)` order); personal data unmasked, as
/// in [`list_counsellors`].
pub async fn list_counsellors_synced<C: ConnectionTrait>(
    db: &C,
    filter: &CounsellorFilter,
    sync: &SyncOptions,
    page: &PageRequest,
) -> Result<Page<Counsellor>, CounsellorsError> {
    let cond = counsellor_condition(db, filter)
        .await?
        .add(sync.condition(counsellor::Column::UpdatedAt));
    let mut query = counsellor::Entity::find().filter(cond.clone());
    let scan = sync.scan(page);
    if let Some(after) = &page.after {
        query = query.filter(scan.after(
            counsellor::Column::UpdatedAt,
            counsellor::Column::Id,
            after,
        )?);
    }
    let rows = maillage_core::db::page_rows(
        db,
        scan.order(query, counsellor::Column::UpdatedAt, counsellor::Column::Id)
            .limit(u64::from(page.first) + 1),
    )
    .await?;
    let total = if page.with_total {
        Some(counsellor::Entity::find().filter(cond).count(db).await?)
    } else {
        None
    };
    let items = collect(rows, counsellor_from_model)?;
    Ok(Page::from_rows(items, page, total, |c| {
        sync.cursor(c.updated_at, c.id.0)
    }))
}

/// Every counsellor matching `filter`, by id (for exports; a programme has a few thousand).
pub async fn all_counsellors<C: ConnectionTrait>(
    db: &C,
    filter: &CounsellorFilter,
) -> Result<Vec<Counsellor>, CounsellorsError> {
    let cond = counsellor_condition(db, filter).await?;
    let rows = counsellor::Entity::find()
        .filter(cond)
        .order_by_asc(counsellor::Column::Id)
        .all(db)
        .await?;
    collect(rows, counsellor_from_model)
}

/// Every structure matching `filter`, by id (for exports).
pub async fn all_structures<C: ConnectionTrait>(
    db: &C,
    filter: &StructureFilter,
) -> Result<Vec<Structure>, CounsellorsError> {
    let mut query = structure::Entity::find();
    if let Some(deps) =
        allowed_departments(db, filter.departments.as_ref(), filter.hub.as_deref()).await?
    {
        query = query.filter(structure::Column::DepartmentCode.is_in(deps));
    }
    if !filter.kinds.is_empty() {
        query =
            query.filter(structure::Column::Kind.is_in(filter.kinds.iter().map(|k| k.as_str())));
    }
    let rows = query.order_by_asc(structure::Column::Id).all(db).await?;
    collect(rows, structure_from_model)
}

/// Structures by id (one statement); unknown ids are absent.
pub async fn structures_by_ids<C: ConnectionTrait>(
    db: &C,
    ids: &[StructureId],
) -> Result<Vec<Structure>, CounsellorsError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = structure::Entity::find()
        .filter(structure::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .all(db)
        .await?;
    collect(rows, structure_from_model)
}

/// One structure.
pub async fn get_structure<C: ConnectionTrait>(
    db: &C,
    id: StructureId,
) -> Result<Option<Structure>, CounsellorsError> {
    Ok(structures_by_ids(db, &[id]).await?.into_iter().next())
}

/// The posts of these structures (one statement), first agreements before renewals.
pub async fn posts_of_structures<C: ConnectionTrait>(
    db: &C,
    ids: &[StructureId],
) -> Result<Vec<Post>, CounsellorsError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = post::Entity::find()
        .filter(post::Column::StructureId.is_in(ids.iter().map(|i| i.0)))
        .order_by_asc(post::Column::StructureId)
        .order_by_asc(post::Column::Renewal)
        .all(db)
        .await?;
    collect(rows, post_from_model)
}

/// Posts by id (one statement).
pub async fn posts_by_ids<C: ConnectionTrait>(
    db: &C,
    ids: &[PostId],
) -> Result<Vec<Post>, CounsellorsError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = post::Entity::find()
        .filter(post::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .all(db)
        .await?;
    collect(rows, post_from_model)
}

/// Counsellors by id (one statement).
pub async fn counsellors_by_ids<C: ConnectionTrait>(
    db: &C,
    ids: &[CounsellorId],
) -> Result<Vec<Counsellor>, CounsellorsError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = counsellor::Entity::find()
        .filter(counsellor::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .all(db)
        .await?;
    collect(rows, counsellor_from_model)
}

/// One counsellor.
pub async fn get_counsellor<C: ConnectionTrait>(
    db: &C,
    id: CounsellorId,
) -> Result<Option<Counsellor>, CounsellorsError> {
    Ok(counsellors_by_ids(db, &[id]).await?.into_iter().next())
}

/// The counsellors of these structures (one statement), by id.
pub async fn counsellors_of_structures<C: ConnectionTrait>(
    db: &C,
    ids: &[StructureId],
) -> Result<Vec<Counsellor>, CounsellorsError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = counsellor::Entity::find()
        .filter(counsellor::Column::StructureId.is_in(ids.iter().map(|i| i.0)))
        .order_by_asc(counsellor::Column::Id)
        .all(db)
        .await?;
    collect(rows, counsellor_from_model)
}

/// The counsellors coordinated by these coordinators (one statement), by id.
pub async fn coordinated_by<C: ConnectionTrait>(
    db: &C,
    coordinators: &[CounsellorId],
) -> Result<Vec<Counsellor>, CounsellorsError> {
    if coordinators.is_empty() {
        return Ok(Vec::new());
    }
    let rows = counsellor::Entity::find()
        .filter(counsellor::Column::CoordinatorId.is_in(coordinators.iter().map(|i| i.0)))
        .order_by_asc(counsellor::Column::Id)
        .all(db)
        .await?;
    collect(rows, counsellor_from_model)
}

/// The assignments of these counsellors (one statement), by counsellor then site.
pub async fn assignments_of_counsellors<C: ConnectionTrait>(
    db: &C,
    ids: &[CounsellorId],
) -> Result<Vec<Assignment>, CounsellorsError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = assignment::Entity::find()
        .filter(assignment::Column::CounsellorId.is_in(ids.iter().map(|i| i.0)))
        .order_by_asc(assignment::Column::CounsellorId)
        .order_by_asc(assignment::Column::SiteId)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(assignment_from_model).collect())
}

pub(crate) fn assignment_from_model(m: assignment::Model) -> Assignment {
    Assignment {
        counsellor_id: CounsellorId(m.counsellor_id),
        site_id: SiteId(m.site_id),
        share: m.share,
    }
}

/// The counsellors working at these sites, with their assignment, by site then counsellor: one statement whatever
/// the number of sites, the assignments joined with their counsellors (a second statement for the counsellors by
/// id was one more round trip on every `Site.counsellors` level, issue #16). A counsellor listed at several sites
/// is decoded once per site, as it comes in each row. `parts` says what is read of each counsellor: a brief read
/// ([`CounsellorParts::Brief`]) selects 10 of the 26 columns.
pub async fn counsellors_of_sites<C: ConnectionTrait>(
    db: &C,
    sites: &[SiteId],
    parts: CounsellorParts,
) -> Result<Vec<(Assignment, Counsellor)>, CounsellorsError> {
    if sites.is_empty() {
        return Ok(Vec::new());
    }
    let select = assignment::Entity::find()
        .select_only()
        .columns(AssignedRow::ASSIGNMENT);
    let select = match parts {
        CounsellorParts::Whole => select.columns(AssignedRow::COUNSELLOR),
        CounsellorParts::Brief => select.columns(BriefAssignedRow::COUNSELLOR),
    }
    .join(JoinType::InnerJoin, assignment_counsellor())
    .filter(assignment::Column::SiteId.is_in(sites.iter().map(|s| s.0)))
    .order_by_asc(assignment::Column::SiteId)
    .order_by_asc(assignment::Column::CounsellorId);
    let rows = match parts {
        CounsellorParts::Whole => {
            let rows = select.into_model::<AssignedRow>().all(db).await?;
            rows.into_iter()
                .map(|AssignedRow(a, c)| (a, c))
                .collect::<Vec<_>>()
        }
        CounsellorParts::Brief => {
            let rows = select.into_model::<BriefAssignedRow>().all(db).await?;
            rows.into_iter()
                .map(|BriefAssignedRow(a, c)| (a, c))
                .collect::<Vec<_>>()
        }
    };
    collect(rows, |(a, c)| {
        let mut counsellor = counsellor_from_model(c)?;
        counsellor.parts = parts;
        Ok((assignment_from_model(a), counsellor))
    })
}

/// An assignment and its counsellor from one joined row, decoded by position.
///
/// Why not sea-orm's `select_also`: its derived models find every column by a prefixed name (a `format!` and a
/// look-up per column and per row). On the bench's Q5 (1 300 sites, one counsellor each) that decoding was 23 % of
/// the server's CPU samples (docs/PERFORMANCE.md); by position it is a plain read of each value.
struct AssignedRow(assignment::Model, counsellor::Model);

impl AssignedRow {
    /// The assignment's columns, first in the row, in the order [`FromQueryResult`] below reads them.
    const ASSIGNMENT: [assignment::Column; 3] = [
        assignment::Column::CounsellorId,
        assignment::Column::SiteId,
        assignment::Column::Share,
    ];
    /// The counsellor's columns, after the assignment's, in the order [`FromQueryResult`] below reads them.
    const COUNSELLOR: [counsellor::Column; 26] = [
        counsellor::Column::Id,
        counsellor::Column::ExternalId,
        counsellor::Column::StructureId,
        counsellor::Column::PostId,
        counsellor::Column::DepartmentCode,
        counsellor::Column::FirstName,
        counsellor::Column::LastName,
        counsellor::Column::Email,
        counsellor::Column::PersonalEmail,
        counsellor::Column::Phone,
        counsellor::Column::Status,
        counsellor::Column::RecruitedOn,
        counsellor::Column::TrainingStartedOn,
        counsellor::Column::ActiveSince,
        counsellor::Column::EndedOn,
        counsellor::Column::ContractType,
        counsellor::Column::ContractStart,
        counsellor::Column::ContractEnd,
        counsellor::Column::TrainingCompletedOn,
        counsellor::Column::PixCertified,
        counsellor::Column::HostShare,
        counsellor::Column::IsCoordinator,
        counsellor::Column::CoordinatorId,
        counsellor::Column::Version,
        counsellor::Column::CreatedAt,
        counsellor::Column::UpdatedAt,
    ];
}

/// The assignment's columns of a joined row, first in it: shared by [`AssignedRow`] and [`BriefAssignedRow`].
fn assignment_by_position(res: &QueryResult) -> Result<assignment::Model, DbErr> {
    Ok(assignment::Model {
        counsellor_id: column(res, 0)?,
        site_id: column(res, 1)?,
        share: column(res, 2)?,
    })
}

/// An assignment and the brief columns of its counsellor ([`CounsellorParts::Brief`]), decoded by position; the
/// model's other fields hold the neutral values that variant documents.
struct BriefAssignedRow(assignment::Model, counsellor::Model);

impl BriefAssignedRow {
    /// The counsellor's brief columns, after [`AssignedRow::ASSIGNMENT`], in the order [`FromQueryResult`] below
    /// reads them.
    const COUNSELLOR: [counsellor::Column; 10] = [
        counsellor::Column::Id,
        counsellor::Column::ExternalId,
        counsellor::Column::StructureId,
        counsellor::Column::PostId,
        counsellor::Column::DepartmentCode,
        counsellor::Column::Status,
        counsellor::Column::IsCoordinator,
        counsellor::Column::CoordinatorId,
        counsellor::Column::Version,
        counsellor::Column::UpdatedAt,
    ];
}

/// By position: the statement's columns are [`AssignedRow::ASSIGNMENT`] then [`BriefAssignedRow::COUNSELLOR`].
impl FromQueryResult for BriefAssignedRow {
    fn from_query_result(res: &QueryResult, _pre: &str) -> Result<Self, DbErr> {
        let counsellor = counsellor::Model {
            id: column(res, 3)?,
            external_id: column(res, 4)?,
            structure_id: column(res, 5)?,
            post_id: column(res, 6)?,
            department_code: column(res, 7)?,
            first_name: String::new(),
            last_name: String::new(),
            email: None,
            personal_email: None,
            phone: None,
            status: column(res, 8)?,
            recruited_on: None,
            training_started_on: None,
            active_since: None,
            ended_on: None,
            contract_type: None,
            contract_start: None,
            contract_end: None,
            training_completed_on: None,
            pix_certified: false,
            host_share: 0,
            is_coordinator: column(res, 9)?,
            coordinator_id: column(res, 10)?,
            version: column(res, 11)?,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: column(res, 12)?,
        };
        Ok(Self(assignment_by_position(res)?, counsellor))
    }
}

/// By position: the statement's columns are [`AssignedRow::ASSIGNMENT`] then [`AssignedRow::COUNSELLOR`].
impl FromQueryResult for AssignedRow {
    fn from_query_result(res: &QueryResult, _pre: &str) -> Result<Self, DbErr> {
        let counsellor = counsellor::Model {
            id: column(res, 3)?,
            external_id: column(res, 4)?,
            structure_id: column(res, 5)?,
            post_id: column(res, 6)?,
            department_code: column(res, 7)?,
            first_name: column(res, 8)?,
            last_name: column(res, 9)?,
            email: column(res, 10)?,
            personal_email: column(res, 11)?,
            phone: column(res, 12)?,
            status: column(res, 13)?,
            recruited_on: column(res, 14)?,
            training_started_on: column(res, 15)?,
            active_since: column(res, 16)?,
            ended_on: column(res, 17)?,
            contract_type: column(res, 18)?,
            contract_start: column(res, 19)?,
            contract_end: column(res, 20)?,
            training_completed_on: column(res, 21)?,
            pix_certified: column(res, 22)?,
            host_share: column(res, 23)?,
            is_coordinator: column(res, 24)?,
            coordinator_id: column(res, 25)?,
            version: column(res, 26)?,
            created_at: column(res, 27)?,
            updated_at: column(res, 28)?,
        };
        Ok(Self(assignment_by_position(res)?, counsellor))
    }
}

/// An assignment's counsellor, for joins (the entities declare no relation: the other reads need none).
fn assignment_counsellor() -> RelationDef {
    assignment::Entity::belongs_to(counsellor::Entity)
        .from(assignment::Column::CounsellorId)
        .to(counsellor::Column::Id)
        .into()
}

/// Public counts per department (four grouped statements): posts granted, counsellors active, in training, and
/// without any site. Departments with nothing are absent.
pub async fn statistics_by_department<C: ConnectionTrait>(
    db: &C,
) -> Result<BTreeMap<DepartmentCode, DepartmentCounts>, CounsellorsError> {
    let mut out: BTreeMap<DepartmentCode, DepartmentCounts> = BTreeMap::new();
    let dep = |raw: &str| {
        DepartmentCode::parse(raw).map_err(|e| CounsellorsError::corrupt("counsellor", 0, e))
    };
    let granted: Vec<(String, Option<i64>)> = post::Entity::find()
        .select_only()
        .column(structure::Column::DepartmentCode)
        .column_as(
            Expr::col((post::Entity, post::Column::Granted)).sum(),
            "granted",
        )
        .join(
            sea_orm::JoinType::InnerJoin,
            post::Relation::Structure.def(),
        )
        .filter(post::Column::CommitteeDecision.eq(CommitteeDecision::Accepted.as_str()))
        .group_by(structure::Column::DepartmentCode)
        .into_tuple()
        .all(db)
        .await?;
    for (code, granted) in granted {
        out.entry(dep(&code)?).or_default().posts_granted = granted.unwrap_or(0);
    }
    let by_status: Vec<(String, String, i64)> = counsellor::Entity::find()
        .select_only()
        .column(counsellor::Column::DepartmentCode)
        .column(counsellor::Column::Status)
        .column_as(Expr::col(counsellor::Column::Id).count(), "n")
        .group_by(counsellor::Column::DepartmentCode)
        .group_by(counsellor::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    for (code, status, n) in by_status {
        let entry = out.entry(dep(&code)?).or_default();
        match CounsellorStatus::parse(&status) {
            Some(CounsellorStatus::Active) => entry.active += n,
            Some(CounsellorStatus::InTraining) => entry.in_training += n,
            _ => {}
        }
    }
    let without = counsellor_condition(
        db,
        &CounsellorFilter {
            without_site: true,
            ..CounsellorFilter::default()
        },
    )
    .await?;
    let without_site: Vec<(String, i64)> = counsellor::Entity::find()
        .select_only()
        .column(counsellor::Column::DepartmentCode)
        .column_as(Expr::col(counsellor::Column::Id).count(), "n")
        .filter(without)
        .group_by(counsellor::Column::DepartmentCode)
        .into_tuple()
        .all(db)
        .await?;
    for (code, n) in without_site {
        out.entry(dep(&code)?).or_default().without_site = n;
    }
    Ok(out)
}

#[cfg(test)]
mod assigned_row_tests {
    use super::{AssignedRow, assignment, counsellor};
    use sea_orm::{IdenStatic, Iterable};

    /// The positional read covers every column of both tables, in their declaration order (the struct literals of
    /// `AssignedRow`'s decoder name every field, so a new field fails to compile until it is read; this catches a
    /// column list out of step with it).
    #[test]
    fn the_positional_columns_are_every_column_in_declaration_order() {
        let names = |cols: &mut dyn Iterator<Item = &'static str>| cols.collect::<Vec<_>>();
        assert_eq!(
            names(&mut AssignedRow::ASSIGNMENT.iter().map(|c| c.as_str())),
            names(&mut assignment::Column::iter().map(|c| c.as_str()))
        );
        assert_eq!(
            names(&mut AssignedRow::COUNSELLOR.iter().map(|c| c.as_str())),
            names(&mut counsellor::Column::iter().map(|c| c.as_str()))
        );
    }
}
