//! Statistics of counsellors and funded posts for dashboards: counts (and posts granted) grouped by one or two
//! dimensions, filtered like the lists, computed by the database; and counsellors per month from their dated status
//! periods ([`crate::history`]).
//!
//! Counts only: public aggregates, readable by anyone (no personal data leaves in a count).

use crate::CounsellorsError;
use crate::entity::{counsellor, post, status_period, structure};
use crate::model::CounsellorStatus;
use crate::query::{CounsellorFilter, allowed_departments, counsellor_condition};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_territories::statistics::{self as engine, Axis, Bucket, Grouping, MonthRange};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Query, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait};

/// What counsellors can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounsellorDimension {
    /// The region of the host structure's department.
    Region,
    /// The host structure's department.
    Department,
    /// The hubs covering that department.
    Hub,
    /// The month of recruitment (`recruited_on`; counsellors without one are grouped under no key).
    Month,
    /// The current status.
    Status,
    /// The host structure's kind (commune, EPCI, association…).
    HostKind,
}

/// What funded posts (requests for posts) can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostDimension {
    /// The region of the host structure's department.
    Region,
    /// The host structure's department.
    Department,
    /// The hubs covering that department.
    Hub,
    /// The month of the committee's decision.
    Month,
    /// The committee's decision.
    Decision,
    /// The host structure's kind.
    HostKind,
}

fn invalid(field: &str, message: impl Into<String>) -> CounsellorsError {
    CounsellorsError::input(FieldPath::new(field), Code::InvalidValue, message.into())
}

fn check_dimensions<T: PartialEq>(by: &[T]) -> Result<(), CounsellorsError> {
    if by.is_empty() || by.len() > 2 || (by.len() == 2 && by[0] == by[1]) {
        return Err(invalid("by", "group by one or two different dimensions"));
    }
    Ok(())
}

fn c(col: counsellor::Column) -> SimpleExpr {
    Expr::col((counsellor::Entity, col))
}

/// Joins the host structure (for its kind) once.
fn join_structure(select: &mut sea_orm::sea_query::SelectStatement, structure_id: SimpleExpr) {
    select.join_as(
        JoinType::InnerJoin,
        structure::Entity,
        Alias::new("stat_structure"),
        Expr::col((Alias::new("stat_structure"), structure::Column::Id)).eq(structure_id),
    );
}

fn structure_kind() -> SimpleExpr {
    Expr::col((Alias::new("stat_structure"), structure::Column::Kind))
}

/// Zero groups of the territorial and closed dimensions, in the scope of the filter's departments and hub.
async fn territory<C: ConnectionTrait>(
    db: &C,
    filter: &CounsellorFilter,
) -> Result<engine::Universes, CounsellorsError> {
    let scope = allowed_departments(db, filter.departments.as_ref(), filter.hub.as_deref()).await?;
    Ok(engine::universes(db, scope.as_deref()).await?)
}

/// Counsellors matching `filter`, counted per group of `by`; with `include_empty`, groups with nothing are zeros
/// (departments, regions and hubs of the filter's scope, every status and host kind, every month of `months`).
/// `months` also bounds a `Month` dimension. One `GROUP BY` statement.
#[tracing::instrument(skip_all)]
pub async fn counsellor_statistics<C: ConnectionTrait>(
    db: &C,
    filter: &CounsellorFilter,
    by: &[CounsellorDimension],
    months: Option<&MonthRange>,
    include_empty: bool,
) -> Result<Vec<Bucket>, CounsellorsError> {
    check_dimensions(by)?;
    let mut select = Query::select();
    select
        .from(counsellor::Entity)
        .cond_where(counsellor_condition(db, filter).await?);
    if let Some(m) = months
        && by.contains(&CounsellorDimension::Month)
    {
        select.and_where(counsellor::Column::RecruitedOn.gte(m.from));
        select.and_where(counsellor::Column::RecruitedOn.lt(engine::next_month(m.to)));
    }
    if by.contains(&CounsellorDimension::HostKind) {
        join_structure(&mut select, c(counsellor::Column::StructureId));
    }
    let dep = c(counsellor::Column::DepartmentCode);
    let axes = by
        .iter()
        .map(|d| match d {
            CounsellorDimension::Region => Axis::Region(dep.clone()),
            CounsellorDimension::Department => Axis::Department(dep.clone()),
            CounsellorDimension::Hub => Axis::Hub(dep.clone()),
            CounsellorDimension::Month => Axis::Month(c(counsellor::Column::RecruitedOn)),
            CounsellorDimension::Status => Axis::Value(c(counsellor::Column::Status)),
            CounsellorDimension::HostKind => Axis::Value(structure_kind()),
        })
        .collect();
    let mut buckets = engine::group(
        db,
        Grouping {
            select,
            axes,
            count: Func::count_distinct(c(counsellor::Column::Id)).into(),
            sum: None,
        },
    )
    .await?;
    if include_empty {
        let t = territory(db, filter).await?;
        let universes: Vec<Option<Vec<String>>> = by
            .iter()
            .map(|d| match d {
                CounsellorDimension::Region => Some(t.regions.clone()),
                CounsellorDimension::Department => Some(t.departments.clone()),
                CounsellorDimension::Hub => Some(t.hubs.clone()),
                CounsellorDimension::Month => months.map(MonthRange::keys),
                CounsellorDimension::Status => Some(
                    CounsellorStatus::ALL
                        .iter()
                        .map(|s| s.as_str().to_owned())
                        .collect(),
                ),
                CounsellorDimension::HostKind => Some(
                    crate::model::StructureKind::ALL
                        .iter()
                        .map(|s| s.as_str().to_owned())
                        .collect(),
                ),
            })
            .collect();
        engine::fill_empty(&mut buckets, &universes, false);
    }
    Ok(buckets)
}

/// How many counsellors matching `filter` were in `status` during each month of `months` (at least one day of the
/// month), from their dated status periods; `other` optionally splits each month by a territorial dimension, status
/// or host kind (not `Month`). One statement; months with nobody are zeros.
///
/// The filter's `statuses` (the *current* status) still applies: "counsellors now gone who were active in 2021"
/// is `statuses: [ContractEnded]` with `status: Active`.
#[tracing::instrument(skip_all)]
pub async fn counsellors_per_month<C: ConnectionTrait>(
    db: &C,
    filter: &CounsellorFilter,
    status: CounsellorStatus,
    months: &MonthRange,
    other: Option<CounsellorDimension>,
) -> Result<Vec<Bucket>, CounsellorsError> {
    let p = |col: status_period::Column| -> SimpleExpr { Expr::col((status_period::Entity, col)) };
    let mut select = Query::select();
    select
        .from(status_period::Entity)
        .join(
            JoinType::InnerJoin,
            counsellor::Entity,
            Expr::col((counsellor::Entity, counsellor::Column::Id))
                .equals((status_period::Entity, status_period::Column::CounsellorId)),
        )
        .cond_where(counsellor_condition(db, filter).await?)
        .and_where(status_period::Column::Status.eq(status.as_str()));
    let dep = c(counsellor::Column::DepartmentCode);
    let other = match other {
        None => None,
        Some(CounsellorDimension::Region) => Some(Axis::Region(dep)),
        Some(CounsellorDimension::Department) => Some(Axis::Department(dep)),
        Some(CounsellorDimension::Hub) => Some(Axis::Hub(dep)),
        Some(CounsellorDimension::Status) => Some(Axis::Value(c(counsellor::Column::Status))),
        Some(CounsellorDimension::HostKind) => {
            join_structure(&mut select, c(counsellor::Column::StructureId));
            Some(Axis::Value(structure_kind()))
        }
        Some(CounsellorDimension::Month) => {
            return Err(invalid(
                "by",
                "a series per month is already split by month",
            ));
        }
    };
    Ok(engine::per_month(
        db,
        select,
        p(status_period::Column::CounsellorId),
        p(status_period::Column::StartedOn),
        p(status_period::Column::EndedOn),
        months,
        other,
    )
    .await?)
}

/// Requests for funded posts in the filter's departments, hub and host kinds (its other criteria are about
/// counsellors and do not apply), per group of `by`: the count of requests and the sum of posts granted. With
/// `include_empty`, groups with nothing are zeros. One `GROUP BY` statement.
#[tracing::instrument(skip_all)]
pub async fn post_statistics<C: ConnectionTrait>(
    db: &C,
    filter: &CounsellorFilter,
    by: &[PostDimension],
    months: Option<&MonthRange>,
    include_empty: bool,
) -> Result<Vec<Bucket>, CounsellorsError> {
    check_dimensions(by)?;
    let mut select = Query::select();
    select.from(post::Entity);
    join_structure(
        &mut select,
        Expr::col((post::Entity, post::Column::StructureId)),
    );
    let dep: SimpleExpr = Expr::col((
        Alias::new("stat_structure"),
        structure::Column::DepartmentCode,
    ));
    if let Some(deps) =
        allowed_departments(db, filter.departments.as_ref(), filter.hub.as_deref()).await?
    {
        select.and_where(dep.clone().is_in(deps));
    }
    if !filter.structure_kinds.is_empty() {
        select.and_where(structure_kind().is_in(filter.structure_kinds.iter().map(|k| k.as_str())));
    }
    if let Some(s) = filter.structure {
        select.and_where(post::Column::StructureId.eq(s.0));
    }
    let committee: SimpleExpr = Expr::col((post::Entity, post::Column::CommitteeDate));
    if let Some(m) = months
        && by.contains(&PostDimension::Month)
    {
        select.and_where(committee.clone().gte(Expr::val(m.from)));
        select.and_where(committee.clone().lt(Expr::val(engine::next_month(m.to))));
    }
    let axes = by
        .iter()
        .map(|d| match d {
            PostDimension::Region => Axis::Region(dep.clone()),
            PostDimension::Department => Axis::Department(dep.clone()),
            PostDimension::Hub => Axis::Hub(dep.clone()),
            PostDimension::Month => Axis::Month(committee.clone()),
            PostDimension::Decision => {
                Axis::Value(Expr::col((post::Entity, post::Column::CommitteeDecision)))
            }
            PostDimension::HostKind => Axis::Value(structure_kind()),
        })
        .collect();
    let mut buckets = engine::group(
        db,
        Grouping {
            select,
            axes,
            count: Func::count_distinct(Expr::col((post::Entity, post::Column::Id))).into(),
            sum: Some(Expr::col((post::Entity, post::Column::Granted))),
        },
    )
    .await?;
    if include_empty {
        let t = territory(db, filter).await?;
        let universes: Vec<Option<Vec<String>>> = by
            .iter()
            .map(|d| match d {
                PostDimension::Region => Some(t.regions.clone()),
                PostDimension::Department => Some(t.departments.clone()),
                PostDimension::Hub => Some(t.hubs.clone()),
                PostDimension::Month => months.map(MonthRange::keys),
                PostDimension::Decision => Some(
                    crate::model::CommitteeDecision::ALL
                        .iter()
                        .map(|s| s.as_str().to_owned())
                        .collect(),
                ),
                PostDimension::HostKind => Some(
                    crate::model::StructureKind::ALL
                        .iter()
                        .map(|s| s.as_str().to_owned())
                        .collect(),
                ),
            })
            .collect();
        engine::fill_empty(&mut buckets, &universes, true);
    }
    Ok(buckets)
}
