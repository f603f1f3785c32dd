//! Grouped statistics of Aidants Connect for dashboards: aidants, organisations and mandates counted per one or two
//! dimensions, filtered like the lists, by one SQL `GROUP BY` each ([`maillage_territories::statistics`]).
//!
//! An aidant is located by the organisations it works for: grouped by department, it counts once in each
//! department where it has an organisation (and once in total, since counts are distinct). Mandates are monthly
//! aggregates per organisation, never usagers: only sums leave.

use crate::AidantsError;
use crate::aidants::{AidantFilter, condition as aidant_condition};
use crate::entity::{aidant, aidant_organisation, mandate_month, organisation};
use crate::model::{AidantStatus, Demarche, MandateDuration, OrganisationKind};
use crate::organisations::{OrganisationFilter, condition as organisation_condition};
use crate::territory::scope_departments;
use maillage_core::error::FieldPath;
use maillage_core::{Code, DepartmentCode, RegionCode};
use maillage_territories::statistics::{self as engine, Axis, Bucket, Grouping, MonthRange};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, JoinType, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{ColumnTrait, ConnectionTrait};

/// What aidants, organisations and mandates can be grouped by (each statistic says which apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AidantsDimension {
    /// The region of the organisation's department.
    Region,
    /// The organisation's department.
    Department,
    /// The hubs covering that department.
    Hub,
    /// Aidants: the month of training; organisations: of creation in Maillage; mandates: the aggregate's month.
    Month,
    /// Aidants: their status.
    Status,
    /// Aidants: the hub that trained them.
    TrainingHub,
    /// Organisations: their kind.
    Kind,
    /// Organisations: France Services label (`true`/`false`).
    FranceServices,
    /// Mandates: the démarche.
    Demarche,
    /// Mandates: the duration.
    Duration,
}

/// Which mandate figure to sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MandateMeasure {
    /// Mandates created in the month.
    #[default]
    Created,
    /// Mandates renewed.
    Renewed,
    /// Mandates revoked.
    Revoked,
    /// Mandates active at the month's end.
    ActiveAtMonthEnd,
}

fn refuse(by: AidantsDimension, what: &str) -> AidantsError {
    AidantsError::InvalidInput {
        field: FieldPath::new("by"),
        message: format!("{what} cannot be grouped by {by:?}"),
        code: Code::InvalidValue,
    }
}

fn check_dimensions(by: &[AidantsDimension]) -> Result<(), AidantsError> {
    if by.is_empty() || by.len() > 2 || (by.len() == 2 && by[0] == by[1]) {
        return Err(AidantsError::InvalidInput {
            field: FieldPath::new("by"),
            message: "group by one or two different dimensions".to_owned(),
            code: Code::InvalidValue,
        });
    }
    Ok(())
}

fn org(c: organisation::Column) -> SimpleExpr {
    Expr::col((Alias::new("stat_org"), c))
}

/// Zero groups: territorial ones in the filter's scope, and the closed lists.
async fn universes<C: ConnectionTrait>(
    db: &C,
    by: &[AidantsDimension],
    scope: Option<Vec<String>>,
    months: Option<&MonthRange>,
) -> Result<Vec<Option<Vec<String>>>, AidantsError> {
    let t = engine::universes(db, scope.as_deref()).await?;
    let keys = |all: &[&str]| Some(all.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    Ok(by
        .iter()
        .map(|d| match d {
            AidantsDimension::Region => Some(t.regions.clone()),
            AidantsDimension::Department => Some(t.departments.clone()),
            AidantsDimension::Hub | AidantsDimension::TrainingHub => Some(t.hubs.clone()),
            AidantsDimension::Month => months.map(MonthRange::keys),
            AidantsDimension::Status => keys(
                &AidantStatus::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
            ),
            AidantsDimension::Kind => keys(
                &OrganisationKind::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
            ),
            AidantsDimension::FranceServices => keys(&["false", "true"]),
            AidantsDimension::Demarche => {
                keys(&Demarche::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            }
            AidantsDimension::Duration => keys(
                &MandateDuration::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
            ),
        })
        .collect())
}

/// Joins the organisation of each row as `stat_org` (through `aidant_organisation` for aidants).
fn join_organisation(select: &mut SelectStatement, organisation_id: SimpleExpr) {
    select.join_as(
        JoinType::InnerJoin,
        organisation::Entity,
        Alias::new("stat_org"),
        Expr::col((Alias::new("stat_org"), organisation::Column::Id)).eq(organisation_id),
    );
}

fn territorial(d: AidantsDimension, dep: SimpleExpr) -> Option<Axis> {
    match d {
        AidantsDimension::Region => Some(Axis::Region(dep)),
        AidantsDimension::Department => Some(Axis::Department(dep)),
        AidantsDimension::Hub => Some(Axis::Hub(dep)),
        _ => None,
    }
}

fn bool_key(e: SimpleExpr) -> SimpleExpr {
    Expr::case(e, "true").finally("false").into()
}

/// Aidants matching `filter` (and, with `trained`, only those with a training date, or without), counted per
/// group of `by` (region, department, hub, month of training, status, training hub). With `include_empty`, groups
/// with nothing are zeros. One statement.
#[tracing::instrument(skip_all)]
pub async fn aidant_statistics<C: ConnectionTrait>(
    db: &C,
    filter: &AidantFilter,
    trained: Option<bool>,
    by: &[AidantsDimension],
    months: Option<&MonthRange>,
    include_empty: bool,
) -> Result<Vec<Bucket>, AidantsError> {
    check_dimensions(by)?;
    let mut select = Query::select();
    select
        .from(aidant::Entity)
        .cond_where(aidant_condition(db, filter).await?);
    match trained {
        Some(true) => {
            select.and_where(aidant::Column::TrainedOn.is_not_null());
        }
        Some(false) => {
            select.and_where(aidant::Column::TrainedOn.is_null());
        }
        None => {}
    }
    let a = |c: aidant::Column| -> SimpleExpr { Expr::col((aidant::Entity, c)) };
    if let Some(m) = months
        && by.contains(&AidantsDimension::Month)
    {
        select.and_where(a(aidant::Column::TrainedOn).gte(Expr::val(m.from)));
        select.and_where(a(aidant::Column::TrainedOn).lt(Expr::val(engine::next_month(m.to))));
    }
    if by
        .iter()
        .any(|d| territorial(*d, org(organisation::Column::DepartmentCode)).is_some())
    {
        select.join_as(
            JoinType::InnerJoin,
            aidant_organisation::Entity,
            Alias::new("stat_link"),
            Expr::col((
                Alias::new("stat_link"),
                aidant_organisation::Column::AidantId,
            ))
            .equals((aidant::Entity, aidant::Column::Id)),
        );
        join_organisation(
            &mut select,
            Expr::col((
                Alias::new("stat_link"),
                aidant_organisation::Column::OrganisationId,
            )),
        );
        // The filter's territory selects aidants having one organisation there; grouped by territory, only
        // their organisations there count.
        let departments = scope_departments(
            db,
            &filter.departments,
            filter.hub.as_deref(),
            filter.region.as_ref(),
        )
        .await?;
        if let Some(deps) = departments {
            select.and_where(org(organisation::Column::DepartmentCode).is_in(deps));
        }
    }
    let mut axes = Vec::new();
    for d in by {
        axes.push(
            match (
                territorial(*d, org(organisation::Column::DepartmentCode)),
                d,
            ) {
                (Some(axis), _) => axis,
                (None, AidantsDimension::Month) => Axis::Month(a(aidant::Column::TrainedOn)),
                (None, AidantsDimension::Status) => Axis::Value(a(aidant::Column::Status)),
                (None, AidantsDimension::TrainingHub) => {
                    Axis::Value(a(aidant::Column::TrainingHubId))
                }
                (None, other) => return Err(refuse(*other, "aidants")),
            },
        );
    }
    let mut buckets = engine::group(
        db,
        Grouping {
            select,
            axes,
            count: Func::count_distinct(a(aidant::Column::Id)).into(),
            sum: None,
        },
    )
    .await?;
    if include_empty {
        let scope = scope_departments(
            db,
            &filter.departments,
            filter.hub.as_deref(),
            filter.region.as_ref(),
        )
        .await?;
        let universes = universes(db, by, scope, months).await?;
        engine::fill_empty(&mut buckets, &universes, false);
    }
    Ok(buckets)
}

/// Organisations matching `filter`, counted per group of `by` (region, department, hub, month of creation, kind,
/// France Services). One statement.
#[tracing::instrument(skip_all)]
pub async fn organisation_statistics<C: ConnectionTrait>(
    db: &C,
    filter: &OrganisationFilter,
    by: &[AidantsDimension],
    months: Option<&MonthRange>,
    include_empty: bool,
) -> Result<Vec<Bucket>, AidantsError> {
    check_dimensions(by)?;
    let scope = scope_departments(
        db,
        &filter.departments,
        filter.hub.as_deref(),
        filter.region.as_ref(),
    )
    .await?;
    let mut select = Query::select();
    select
        .from(organisation::Entity)
        .cond_where(organisation_condition(filter, scope.clone()));
    let o = |c: organisation::Column| -> SimpleExpr { Expr::col((organisation::Entity, c)) };
    if let Some(m) = months
        && by.contains(&AidantsDimension::Month)
    {
        select.and_where(o(organisation::Column::CreatedAt).gte(Expr::val(m.from)));
        select
            .and_where(o(organisation::Column::CreatedAt).lt(Expr::val(engine::next_month(m.to))));
    }
    let mut axes = Vec::new();
    for d in by {
        axes.push(
            match (territorial(*d, o(organisation::Column::DepartmentCode)), d) {
                (Some(axis), _) => axis,
                (None, AidantsDimension::Month) => Axis::Month(o(organisation::Column::CreatedAt)),
                (None, AidantsDimension::Kind) => Axis::Value(o(organisation::Column::Kind)),
                (None, AidantsDimension::FranceServices) => {
                    Axis::Value(bool_key(o(organisation::Column::FranceServices)))
                }
                (None, other) => return Err(refuse(*other, "organisations")),
            },
        );
    }
    let mut buckets = engine::group(
        db,
        Grouping {
            select,
            axes,
            count: Func::count_distinct(o(organisation::Column::Id)).into(),
            sum: None,
        },
    )
    .await?;
    if include_empty {
        let universes = universes(db, by, scope, months).await?;
        engine::fill_empty(&mut buckets, &universes, false);
    }
    Ok(buckets)
}

/// The territory and criteria of a mandate statistic.
#[derive(Debug, Clone, Default)]
pub struct MandateFilter {
    /// Organisations in any of these departments.
    pub departments: Vec<DepartmentCode>,
    /// In the departments of this hub (slug).
    pub hub: Option<String>,
    /// In this region.
    pub region: Option<RegionCode>,
    /// Only this démarche.
    pub demarche: Option<Demarche>,
    /// Only this duration.
    pub duration: Option<MandateDuration>,
}

/// Mandates matching `filter`: the sum of `measure` (and the number of monthly aggregates summed) per group of `by`
/// (region, department, hub, month, démarche, duration). One statement.
#[tracing::instrument(skip_all)]
pub async fn mandate_statistics<C: ConnectionTrait>(
    db: &C,
    filter: &MandateFilter,
    measure: MandateMeasure,
    by: &[AidantsDimension],
    months: Option<&MonthRange>,
    include_empty: bool,
) -> Result<Vec<Bucket>, AidantsError> {
    check_dimensions(by)?;
    let scope = scope_departments(
        db,
        &filter.departments,
        filter.hub.as_deref(),
        filter.region.as_ref(),
    )
    .await?;
    let m = |c: mandate_month::Column| -> SimpleExpr { Expr::col((mandate_month::Entity, c)) };
    let mut select = Query::select();
    select.from(mandate_month::Entity);
    join_organisation(&mut select, m(mandate_month::Column::OrganisationId));
    if let Some(deps) = scope.clone() {
        select.and_where(org(organisation::Column::DepartmentCode).is_in(deps));
    }
    if let Some(d) = filter.demarche {
        select.and_where(mandate_month::Column::Demarche.eq(d.as_str()));
    }
    if let Some(d) = filter.duration {
        select.and_where(mandate_month::Column::Duration.eq(d.as_str()));
    }
    if let Some(range) = months {
        select.and_where(m(mandate_month::Column::Month).gte(engine::month_key(range.from)));
        select.and_where(m(mandate_month::Column::Month).lte(engine::month_key(range.to)));
    }
    let mut axes = Vec::new();
    for d in by {
        axes.push(
            match (
                territorial(*d, org(organisation::Column::DepartmentCode)),
                d,
            ) {
                (Some(axis), _) => axis,
                (None, AidantsDimension::Month) => Axis::Value(m(mandate_month::Column::Month)),
                (None, AidantsDimension::Demarche) => {
                    Axis::Value(m(mandate_month::Column::Demarche))
                }
                (None, AidantsDimension::Duration) => {
                    Axis::Value(m(mandate_month::Column::Duration))
                }
                (None, other) => return Err(refuse(*other, "mandates")),
            },
        );
    }
    let summed = match measure {
        MandateMeasure::Created => mandate_month::Column::Created,
        MandateMeasure::Renewed => mandate_month::Column::Renewed,
        MandateMeasure::Revoked => mandate_month::Column::Revoked,
        MandateMeasure::ActiveAtMonthEnd => mandate_month::Column::ActiveAtMonthEnd,
    };
    let mut buckets = engine::group(
        db,
        Grouping {
            select,
            axes,
            count: Expr::col((mandate_month::Entity, mandate_month::Column::Month)).count(),
            sum: Some(m(summed)),
        },
    )
    .await?;
    if include_empty {
        let universes = universes(db, by, scope, months).await?;
        engine::fill_empty(&mut buckets, &universes, true);
    }
    Ok(buckets)
}
