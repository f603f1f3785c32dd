//! Statistics of sites for dashboards: counts grouped by one or two dimensions, filtered like the list, computed
//! by the database (`GROUP BY` through [`maillage_territories::statistics`]).
//!
//! Multi-valued fields (services, publics, labels…) are joined from `site_value`: a site offering three services
//! counts once under each; a site counts once per group (`COUNT(DISTINCT site.id)`), whatever the joins. Labels are
//! the v1.0.2 ones (v0.1 values are mapped on import); a value the vocabulary did not know is grouped under no key.

use crate::SitesError;
use crate::entity::{site, site_value};
use crate::model::ValueKind;
use crate::query::{SiteFilter, filter_condition};
use crate::standard::vocabulary::v1_labels;
use maillage_core::error::FieldPath;
use maillage_territories::statistics::{self as engine, Axis, Bucket, Grouping, MonthRange};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, IntoTableRef, JoinType, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseBackend};

/// What sites can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SiteDimension {
    /// The region of the site's department.
    Region,
    /// The site's department.
    Department,
    /// The hubs covering the site's department (a site counts in each).
    Hub,
    /// The month Maillage first recorded the site (`created_at`: first seen in a feed or written).
    Month,
    /// Its services.
    Service,
    /// The publics it addresses and its specific supports.
    Public,
    /// Its national programmes and training labels.
    Label,
    /// Its typology codes.
    Typology,
    /// Its fees.
    Fee,
    /// Its access modes.
    AccessMode,
    /// The import source (feed) it came from.
    Source,
}

impl SiteDimension {
    /// The `site_value` kinds a multi-valued dimension reads; empty for the others.
    fn kinds(self) -> &'static [ValueKind] {
        match self {
            Self::Service => &[ValueKind::Service],
            Self::Public => &[ValueKind::Public, ValueKind::SpecificSupport],
            Self::Label => &[ValueKind::NationalProgramme, ValueKind::TrainingLabel],
            Self::Typology => &[ValueKind::Typology],
            Self::Fee => &[ValueKind::Fee],
            Self::AccessMode => &[ValueKind::AccessMode],
            _ => &[],
        }
    }
}

fn col(c: site::Column) -> SimpleExpr {
    Expr::col((site::Entity, c))
}

/// Checks a grouping's dimensions: one or two, not twice the same.
fn check_dimensions<T: PartialEq>(by: &[T]) -> Result<(), SitesError> {
    if by.is_empty() || by.len() > 2 || (by.len() == 2 && by[0] == by[1]) {
        return Err(SitesError::InvalidInput {
            field: FieldPath::new("by"),
            message: "group by one or two different dimensions".to_owned(),
            code: maillage_core::Code::InvalidValue,
        });
    }
    Ok(())
}

/// Sites matching `filter`, counted per group of `by` (one or two dimensions). With `include_empty`, groups with
/// no site are listed with zeros: every department, region or hub of the filter's territory (the whole country
/// without one), every v1.0.2 label of a vocabulary, every month of `months`. `months` also bounds a `Month`
/// dimension. One `GROUP BY` statement, plus the filter's and the reference lists' small reads.
#[tracing::instrument(skip_all)]
pub async fn site_statistics<C: ConnectionTrait>(
    db: &C,
    filter: &SiteFilter,
    by: &[SiteDimension],
    months: Option<&MonthRange>,
    include_empty: bool,
) -> Result<Vec<Bucket>, SitesError> {
    check_dimensions(by)?;
    let cond = filter_condition(db, filter, false).await?;
    let mut select = Query::select();
    select.from(site::Entity).cond_where(cond);
    if let Some(m) = months
        && by.contains(&SiteDimension::Month)
    {
        select.and_where(col(site::Column::CreatedAt).gte(Expr::val(m.from)));
        select.and_where(col(site::Column::CreatedAt).lt(Expr::val(engine::next_month(m.to))));
    }
    let dep = col(site::Column::DepartmentCode);
    // The counted sites drive the join, each looking up its values of the kind in `(site_id, kind, value)`, read
    // from the index alone. SQLite's planner, which has no statistics, preferred the other way round: walking every
    // value of the kind in the country (the covering `(kind, value, site_id)` index) and fetching each value's site
    // to test the filter, nine times the rows for a hub's dashboard. A `CROSS JOIN` is how SQLite is told to keep
    // the left table outer (an inner join in that order; its condition goes to the `WHERE`, since a cross join has
    // no `ON`), so the filtered sites come first, whatever the filter.
    let sqlite = db.get_database_backend() == DatabaseBackend::Sqlite;
    let mut axes = Vec::new();
    for (i, d) in by.iter().enumerate() {
        axes.push(match d {
            SiteDimension::Region => Axis::Region(dep.clone()),
            SiteDimension::Department => Axis::Department(dep.clone()),
            SiteDimension::Hub => Axis::Hub(dep.clone()),
            SiteDimension::Month => Axis::Month(col(site::Column::CreatedAt)),
            SiteDimension::Source => Axis::Value(col(site::Column::Source)),
            multi => {
                let alias = Alias::new(format!("stat_value{i}"));
                let kinds = multi.kinds().iter().map(|k| k.as_str());
                let on = Expr::col((alias.clone(), site_value::Column::SiteId))
                    .equals((site::Entity, site::Column::Id))
                    .and(Expr::col((alias.clone(), site_value::Column::Kind)).is_in(kinds));
                if sqlite {
                    select.cross_join(site_value::Entity.into_table_ref().alias(alias.clone()));
                    select.and_where(on);
                } else {
                    select.join_as(JoinType::InnerJoin, site_value::Entity, alias.clone(), on);
                }
                Axis::Value(Expr::col((alias, site_value::Column::Value)))
            }
        });
    }
    let mut buckets = engine::group(
        db,
        Grouping {
            select,
            axes,
            count: Func::count_distinct(col(site::Column::Id)).into(),
            sum: None,
        },
    )
    .await?;
    if include_empty {
        let universes = universes(db, filter, by, months).await?;
        engine::fill_empty(&mut buckets, &universes, false);
    }
    Ok(buckets)
}

/// The keys each dimension can take, for zero groups: `None` where they are only the ones found.
async fn universes<C: ConnectionTrait>(
    db: &C,
    filter: &SiteFilter,
    by: &[SiteDimension],
    months: Option<&MonthRange>,
) -> Result<Vec<Option<Vec<String>>>, SitesError> {
    let departments: Option<Vec<String>> = filter
        .departments
        .as_ref()
        .map(|d| d.iter().map(|c| c.as_str().to_owned()).collect());
    let scope = engine::scope_of(
        db,
        departments.as_deref(),
        filter.hub.as_deref(),
        filter.region.as_ref().map(|r| r.as_str()),
    )
    .await?;
    let territory = engine::universes(db, scope.as_deref()).await?;
    Ok(by
        .iter()
        .map(|d| match d {
            SiteDimension::Region => Some(territory.regions.clone()),
            SiteDimension::Department => Some(territory.departments.clone()),
            SiteDimension::Hub => Some(territory.hubs.clone()),
            SiteDimension::Month => months.map(MonthRange::keys),
            SiteDimension::Source | SiteDimension::Typology => None,
            multi => {
                let labels: Vec<String> = multi
                    .kinds()
                    .iter()
                    .filter_map(|k| v1_labels(*k))
                    .flatten()
                    .map(|l| (*l).to_owned())
                    .collect();
                Some(labels)
            }
        })
        .collect())
}

/// How many sites matching `filter` existed during each month of `months`: recorded by Maillage before the month
/// ended (`created_at`, the first time a feed or a caller brought it) and not archived before it began
/// (`archived_at`). `other` optionally splits each month by a second, single-valued dimension (region,
/// department, hub, source). One statement.
#[tracing::instrument(skip_all)]
pub async fn sites_per_month<C: ConnectionTrait>(
    db: &C,
    filter: &SiteFilter,
    months: &MonthRange,
    other: Option<SiteDimension>,
) -> Result<Vec<Bucket>, SitesError> {
    let cond = filter_condition(db, filter, true).await?;
    let mut select = Query::select();
    select.from(site::Entity).cond_where(cond);
    let dep = col(site::Column::DepartmentCode);
    let other = match other {
        None => None,
        Some(SiteDimension::Region) => Some(Axis::Region(dep)),
        Some(SiteDimension::Department) => Some(Axis::Department(dep)),
        Some(SiteDimension::Hub) => Some(Axis::Hub(dep)),
        Some(SiteDimension::Source) => Some(Axis::Value(col(site::Column::Source))),
        Some(_) => {
            return Err(SitesError::InvalidInput {
                field: FieldPath::new("by"),
                message: "a series of sites per month splits by REGION, DEPARTMENT, HUB or SOURCE"
                    .to_owned(),
                code: maillage_core::Code::InvalidValue,
            });
        }
    };
    Ok(engine::per_month(
        db,
        select,
        col(site::Column::Id),
        col(site::Column::CreatedAt),
        col(site::Column::ArchivedAt),
        months,
        other,
    )
    .await?)
}
