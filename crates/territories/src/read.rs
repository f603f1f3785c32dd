//! Read services: lists for the public API, and batch lookups for GraphQL DataLoaders.
//!
//! Every batch function runs exactly one SQL statement whatever the number of keys (an `IN (…)`, joined when a
//! relation is involved), and none for an empty key list. Results are ordered so that responses are stable.

use crate::entity::{department, hub, hub_department, region};
use crate::error::TerritoriesError;
use crate::model::{Department, Hub, Region};
use maillage_core::actor::HubScope;
use maillage_core::{DepartmentCode, HubId, RegionCode};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use std::cmp::Ordering;
use std::collections::BTreeSet;

fn region_keys(codes: &[RegionCode]) -> Vec<String> {
    let unique: BTreeSet<&str> = codes.iter().map(RegionCode::as_str).collect();
    unique.into_iter().map(str::to_owned).collect()
}

fn department_keys(codes: &[DepartmentCode]) -> Vec<String> {
    let unique: BTreeSet<&str> = codes.iter().map(DepartmentCode::as_str).collect();
    unique.into_iter().map(str::to_owned).collect()
}

fn hub_keys(ids: &[HubId]) -> Vec<i32> {
    let unique: BTreeSet<i32> = ids.iter().map(|id| id.0).collect();
    unique.into_iter().collect()
}

fn regions_from(rows: Vec<region::Model>) -> Result<Vec<Region>, TerritoriesError> {
    rows.into_iter().map(Region::try_from).collect()
}

fn departments_from(rows: Vec<department::Model>) -> Result<Vec<Department>, TerritoriesError> {
    rows.into_iter().map(Department::try_from).collect()
}

/// All regions, ordered by code: small and fixed, so no pagination.
#[tracing::instrument(skip_all)]
pub async fn list_regions<C: ConnectionTrait>(db: &C) -> Result<Vec<Region>, TerritoriesError> {
    let rows = region::Entity::find()
        .order_by_asc(region::Column::Code)
        .all(db)
        .await?;
    regions_from(rows)
}

/// All departments, or those of one region (an unknown region gives an empty list, as any filter would), ordered by
/// code as a string: `2A`/`2B` come after `29`, overseas `97x` last.
#[tracing::instrument(skip_all)]
pub async fn list_departments<C: ConnectionTrait>(
    db: &C,
    region: Option<&RegionCode>,
) -> Result<Vec<Department>, TerritoriesError> {
    let mut query = department::Entity::find();
    if let Some(region) = region {
        query = query.filter(department::Column::RegionCode.eq(region.as_str()));
    }
    let rows = query.order_by_asc(department::Column::Code).all(db).await?;
    departments_from(rows)
}

/// The regions with these codes, ordered by code; unknown codes are skipped (a DataLoader maps the missing ones to
/// `null`). One statement.
#[tracing::instrument(skip_all, fields(keys = codes.len()))]
pub async fn regions_by_codes<C: ConnectionTrait>(
    db: &C,
    codes: &[RegionCode],
) -> Result<Vec<Region>, TerritoriesError> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let rows = region::Entity::find()
        .filter(region::Column::Code.is_in(region_keys(codes)))
        .order_by_asc(region::Column::Code)
        .all(db)
        .await?;
    regions_from(rows)
}

/// The departments with these codes, ordered by code; unknown codes are skipped. One statement.
#[tracing::instrument(skip_all, fields(keys = codes.len()))]
pub async fn departments_by_codes<C: ConnectionTrait>(
    db: &C,
    codes: &[DepartmentCode],
) -> Result<Vec<Department>, TerritoriesError> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let rows = department::Entity::find()
        .filter(department::Column::Code.is_in(department_keys(codes)))
        .order_by_asc(department::Column::Code)
        .all(db)
        .await?;
    departments_from(rows)
}

/// The departments with these codes, failing with `unknown_department` on the first code that does not exist.
///
/// For writes that store department codes (sites, applications): the caller maps the error to the input field.
/// One statement.
#[tracing::instrument(skip_all, fields(keys = codes.len()))]
pub async fn require_departments<C: ConnectionTrait>(
    db: &C,
    codes: &[DepartmentCode],
) -> Result<Vec<Department>, TerritoriesError> {
    let found = departments_by_codes(db, codes).await?;
    if let Some(missing) = codes.iter().find(|c| !found.iter().any(|d| &d.code == *c)) {
        return Err(TerritoriesError::UnknownDepartment(missing.clone()));
    }
    Ok(found)
}

/// The departments of these regions, ordered by region then code. One statement.
#[tracing::instrument(skip_all, fields(keys = codes.len()))]
pub async fn departments_of_regions<C: ConnectionTrait>(
    db: &C,
    codes: &[RegionCode],
) -> Result<Vec<Department>, TerritoriesError> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let rows = department::Entity::find()
        .filter(department::Column::RegionCode.is_in(region_keys(codes)))
        .order_by_asc(department::Column::RegionCode)
        .order_by_asc(department::Column::Code)
        .all(db)
        .await?;
    departments_from(rows)
}

/// The order of hubs in every list: by name ignoring case, then by id.
///
/// Sorted in Rust rather than by `ORDER BY name`, because database collations disagree (SQLite compares bytes, so
/// `Hub du Sud` comes after `Hub Ultra Numérique`; PostgreSQL's locale ignores case and spaces) and the API must
/// answer the same on both.
fn hub_order(a: &Hub, b: &Hub) -> Ordering {
    a.name
        .to_lowercase()
        .cmp(&b.name.to_lowercase())
        .then(a.id.cmp(&b.id))
}

/// All hubs, ordered by name ignoring case (then id, should two share a name): a handful of rows, so no pagination.
#[tracing::instrument(skip_all)]
pub async fn list_hubs<C: ConnectionTrait>(db: &C) -> Result<Vec<Hub>, TerritoriesError> {
    let rows = hub::Entity::find().all(db).await?;
    let mut hubs: Vec<Hub> = rows.into_iter().map(Hub::from).collect();
    hubs.sort_by(hub_order);
    Ok(hubs)
}

/// The hub with this slug, if any: slugs are the stable public key of hubs (URLs, seed data).
#[tracing::instrument(skip_all, fields(hub.slug = %slug))]
pub async fn hub_by_slug<C: ConnectionTrait>(
    db: &C,
    slug: &str,
) -> Result<Option<Hub>, TerritoriesError> {
    let row = hub::Entity::find()
        .filter(hub::Column::Slug.eq(slug))
        .one(db)
        .await?;
    Ok(row.map(Hub::from))
}

/// The hubs with these ids, ordered by id; unknown ids are skipped. One statement.
#[tracing::instrument(skip_all, fields(keys = ids.len()))]
pub async fn hubs_by_ids<C: ConnectionTrait>(
    db: &C,
    ids: &[HubId],
) -> Result<Vec<Hub>, TerritoriesError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = hub::Entity::find()
        .filter(hub::Column::Id.is_in(hub_keys(ids)))
        .order_by_asc(hub::Column::Id)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(Hub::from).collect())
}

/// Each hub with the codes of the departments it covers, ordered by code as a string (`2A` after `29`), the hubs in
/// the order of [`list_hubs`].
fn hubs_with_codes(
    rows: Vec<(hub::Model, Vec<hub_department::Model>)>,
) -> Result<Vec<(Hub, Vec<DepartmentCode>)>, TerritoriesError> {
    let mut hubs = rows
        .into_iter()
        .map(|(row, links)| {
            let mut codes = links
                .into_iter()
                .map(|link| {
                    DepartmentCode::parse(&link.department_code)
                        .map_err(TerritoriesError::corrupt("hub_department"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            codes.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            Ok((Hub::from(row), codes))
        })
        .collect::<Result<Vec<_>, TerritoriesError>>()?;
    hubs.sort_by(|(a, _), (b, _)| hub_order(a, b));
    Ok(hubs)
}

/// All hubs as [`list_hubs`] orders them, each with the codes of the departments it covers (ordered by code), for a
/// caller that shows both: one statement (`hub` left-joined to `hub_department`) where [`list_hubs`] then
/// [`departments_of_hubs`] take two. The departments themselves are reference data: resolve the codes with
/// [`crate::ReferenceTerritories::resolve_department_codes`].
#[tracing::instrument(skip_all)]
pub async fn list_hubs_with_department_codes<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<(Hub, Vec<DepartmentCode>)>, TerritoriesError> {
    let rows = hub::Entity::find()
        .find_with_related(hub_department::Entity)
        .all(db)
        .await?;
    hubs_with_codes(rows)
}

/// The hub with this slug, if any, with the codes of the departments it covers (ordered by code): one statement
/// (`hub` left-joined to `hub_department`), as [`list_hubs_with_department_codes`] for one hub.
#[tracing::instrument(skip_all, fields(hub.slug = %slug))]
pub async fn hub_by_slug_with_department_codes<C: ConnectionTrait>(
    db: &C,
    slug: &str,
) -> Result<Option<(Hub, Vec<DepartmentCode>)>, TerritoriesError> {
    let rows = hub::Entity::find()
        .filter(hub::Column::Slug.eq(slug))
        .find_with_related(hub_department::Entity)
        .all(db)
        .await?;
    Ok(hubs_with_codes(rows)?.into_iter().next())
}

/// The codes of the departments each of these hubs covers, as `(hub, code)` pairs ordered by hub id then code: what
/// [`departments_of_hubs`] reads, without joining `department`, for a caller that holds the departments in memory
/// ([`crate::ReferenceTerritories::departments_of_hubs`]). One statement, on `hub_department` alone.
#[tracing::instrument(skip_all, fields(keys = ids.len()))]
pub async fn department_codes_of_hubs<C: ConnectionTrait>(
    db: &C,
    ids: &[HubId],
) -> Result<Vec<(HubId, DepartmentCode)>, TerritoriesError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = hub_department::Entity::find()
        .filter(hub_department::Column::HubId.is_in(hub_keys(ids)))
        .order_by_asc(hub_department::Column::HubId)
        .order_by_asc(hub_department::Column::DepartmentCode)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|link| {
            let code = DepartmentCode::parse(&link.department_code)
                .map_err(TerritoriesError::corrupt("hub_department"))?;
            Ok((HubId(link.hub_id), code))
        })
        .collect()
}

/// The departments each of these hubs covers, as `(hub, department)` pairs ordered by hub id then department code.
/// One statement (`hub_department` joined to `department`).
#[tracing::instrument(skip_all, fields(keys = ids.len()))]
pub async fn departments_of_hubs<C: ConnectionTrait>(
    db: &C,
    ids: &[HubId],
) -> Result<Vec<(HubId, Department)>, TerritoriesError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = hub_department::Entity::find()
        .find_both_related(department::Entity)
        .filter(hub_department::Column::HubId.is_in(hub_keys(ids)))
        .order_by_asc(hub_department::Column::HubId)
        .order_by_asc(department::Column::Code)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(link, dep)| Ok((HubId(link.hub_id), Department::try_from(dep)?)))
        .collect()
}

/// The hubs covering each of these departments, as `(department, hub)` pairs ordered by department code then hub
/// name (ignoring case). A department may have no hub, or (the schema allows it) several. One statement.
#[tracing::instrument(skip_all, fields(keys = codes.len()))]
pub async fn hubs_of_departments<C: ConnectionTrait>(
    db: &C,
    codes: &[DepartmentCode],
) -> Result<Vec<(DepartmentCode, Hub)>, TerritoriesError> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    hub_department_pairs(db, Some(codes)).await
}

/// The hubs covering every department that has one, as `(department, hub)` pairs ordered as
/// [`hubs_of_departments`] orders them: what [`crate::DepartmentHubs`] keeps. One statement.
#[tracing::instrument(skip_all)]
pub async fn hubs_of_all_departments<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<(DepartmentCode, Hub)>, TerritoriesError> {
    hub_department_pairs(db, None).await
}

/// `hub_department` joined to `hub`, for these departments or all of them, ordered by department code then hub.
async fn hub_department_pairs<C: ConnectionTrait>(
    db: &C,
    codes: Option<&[DepartmentCode]>,
) -> Result<Vec<(DepartmentCode, Hub)>, TerritoriesError> {
    let mut find = hub_department::Entity::find().find_both_related(hub::Entity);
    if let Some(codes) = codes {
        find = find.filter(hub_department::Column::DepartmentCode.is_in(department_keys(codes)));
    }
    let rows = find.all(db).await?;
    let mut pairs = rows
        .into_iter()
        .map(|(link, hub)| {
            let code = DepartmentCode::parse(&link.department_code)
                .map_err(TerritoriesError::corrupt("hub_department"))?;
            Ok((code, Hub::from(hub)))
        })
        .collect::<Result<Vec<_>, TerritoriesError>>()?;
    pairs.sort_by(|(a_code, a_hub), (b_code, b_hub)| {
        a_code.cmp(b_code).then_with(|| hub_order(a_hub, b_hub))
    });
    Ok(pairs)
}

/// The territory of a hub, to build a hub coordinator's [`maillage_core::Actor`] once per request so permission
/// checks need no query. Fails with `unknown_hub` when the hub does not exist; a hub covering no department gets an
/// empty scope. One statement (`hub` left-joined to `hub_department`).
#[tracing::instrument(skip_all, fields(hub.id = %hub))]
pub async fn hub_scope<C: ConnectionTrait>(
    db: &C,
    hub: HubId,
) -> Result<HubScope, TerritoriesError> {
    let rows = hub::Entity::find_by_id(hub.0)
        .find_with_related(hub_department::Entity)
        .all(db)
        .await?;
    let Some((_, links)) = rows.into_iter().next() else {
        return Err(TerritoriesError::UnknownHub(hub));
    };
    let mut departments = links
        .into_iter()
        .map(|link| {
            DepartmentCode::parse(&link.department_code)
                .map_err(TerritoriesError::corrupt("hub_department"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    departments.sort();
    Ok(HubScope { hub, departments })
}
