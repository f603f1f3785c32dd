//! The grouping engine behind every domain's statistics: one SQL `GROUP BY` over the domain's own rows, with the
//! territorial dimensions (department, region, hub) joined from this crate's tables and months cut from dates.
//!
//! A domain builds the `SELECT … FROM its_table WHERE its_filter` (and the joins of its own multi-valued
//! dimensions), names its axes and measures, and [`group`] adds the keys, the `GROUP BY` and runs it: the database
//! counts, Rust only reads one row per group. [`fill_empty`] then adds the groups with nothing to count (every
//! department of the scope, every month of the range…) from reference lists, never from the data.
//!
//! Keys are text on both backends (`CAST(… AS TEXT)`), so a hub id, a department code and a month compare and sort
//! alike; a month is `YYYY-MM`, cut from the ISO text of a date or an instant (both backends write dates as ISO
//! 8601 text when cast).

use crate::TerritoriesError;
use crate::entity::{department, hub, hub_department, region};
use chrono::{Datelike, NaiveDate};
use maillage_core::error::FieldPath;
use sea_orm::sea_query::{
    Alias, CaseStatement, Expr, ExprTrait, Func, JoinType, Order, SelectStatement, SimpleExpr,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{BTreeMap, BTreeSet};

/// The most months a time series may span (twenty years): each month is one column of the statement.
pub const MAX_MONTHS: usize = 240;

/// One axis of a grouping, as SQL over the domain's rows.
#[derive(Debug, Clone)]
pub enum Axis {
    /// The department of the row: `0` is the expression of its department code.
    Department(SimpleExpr),
    /// The region of the row's department.
    Region(SimpleExpr),
    /// The hubs covering the row's department (a row counts in each; none: a group with no key).
    Hub(SimpleExpr),
    /// The hub the row names itself (`0`, an integer), else the hubs covering its department (`1`).
    OwnHubOr(SimpleExpr, SimpleExpr),
    /// The month (`YYYY-MM`) of a date or instant.
    Month(SimpleExpr),
    /// A domain value, as text (a status, a kind, a joined multi-valued field…).
    Value(SimpleExpr),
}

/// One group: its keys (in the order of the axes; `None` where the row has no value, e.g. a site without a
/// department, or no hub covers it) and its measures.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bucket {
    /// The keys, one per axis.
    pub keys: Vec<Option<String>>,
    /// How many rows (or distinct entities) are in the group.
    pub count: i64,
    /// The sum of the measured amount (cents, posts…), when the grouping sums one.
    pub sum: Option<i64>,
}

/// A grouping to run: the domain's `SELECT` (FROM, its joins and WHERE set, no columns), its axes, what to count
/// (e.g. `COUNT(DISTINCT site.id)`, distinct because joins may repeat a row) and what to sum.
#[derive(Debug, Clone)]
pub struct Grouping {
    /// The domain's rows.
    pub select: SelectStatement,
    /// One or two axes.
    pub axes: Vec<Axis>,
    /// The count expression.
    pub count: SimpleExpr,
    /// The summed expression, if any (an integer column).
    pub sum: Option<SimpleExpr>,
}

/// An inclusive range of months, `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthRange {
    /// First day of the first month.
    pub from: NaiveDate,
    /// First day of the last month.
    pub to: NaiveDate,
}

impl MonthRange {
    /// The months `from` to `to` (`YYYY-MM` each), refused when reversed or longer than [`MAX_MONTHS`]; `field` is
    /// where the range was given, for the error.
    pub fn parse(from: &str, to: &str, field: &FieldPath) -> Result<Self, TerritoriesError> {
        let month = |raw: &str, name: &str| {
            NaiveDate::parse_from_str(&format!("{}-01", raw.trim()), "%Y-%m-%d").map_err(|_| {
                TerritoriesError::InvalidInput {
                    field: field.clone().push(name),
                    message: format!("{raw:?} is not a month: write YYYY-MM, e.g. 2021-03"),
                }
            })
        };
        let range = Self {
            from: month(from, "from")?,
            to: month(to, "to")?,
        };
        if range.to < range.from {
            return Err(TerritoriesError::InvalidInput {
                field: field.clone().push("to"),
                message: "the last month comes before the first".to_owned(),
            });
        }
        if range.months().len() > MAX_MONTHS {
            return Err(TerritoriesError::InvalidInput {
                field: field.clone(),
                message: format!("a series spans at most {MAX_MONTHS} months"),
            });
        }
        Ok(range)
    }

    /// The first day of every month of the range, in order (stops at [`MAX_MONTHS`] + 1).
    pub fn months(&self) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut m = self.from;
        while m <= self.to && out.len() <= MAX_MONTHS {
            out.push(m);
            m = next_month(m);
        }
        out
    }

    /// The months' keys, `YYYY-MM`.
    pub fn keys(&self) -> Vec<String> {
        self.months().into_iter().map(month_key).collect()
    }
}

/// The first day of the month after `m`'s.
pub fn next_month(m: NaiveDate) -> NaiveDate {
    let (y, mo) = if m.month() == 12 {
        (m.year() + 1, 1)
    } else {
        (m.year(), m.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, mo, 1).unwrap_or(m)
}

/// `YYYY-MM` of a day.
pub fn month_key(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// `CAST(e AS TEXT)`, the same on both backends.
pub fn as_text(e: SimpleExpr) -> SimpleExpr {
    Func::cast_as(e, Alias::new("TEXT")).into()
}

/// The month of a date or instant: the first seven characters of its ISO text.
pub fn month_of(e: SimpleExpr) -> SimpleExpr {
    Func::cust(Alias::new("SUBSTR"))
        .arg(as_text(e))
        .arg(1)
        .arg(7)
        .into()
}

/// `CAST(SUM(e) AS BIGINT)`: PostgreSQL sums a `BIGINT` into a `NUMERIC`, which does not read back as an integer.
fn sum_of(e: SimpleExpr) -> SimpleExpr {
    Func::cast_as(Func::sum(e), Alias::new("BIGINT")).into()
}

/// Adds to `select` the joins an axis needs and returns its key expression; `i` makes the join aliases unique.
fn key_of(select: &mut SelectStatement, axis: &Axis, i: usize) -> SimpleExpr {
    match axis {
        Axis::Department(dep) | Axis::Value(dep) => as_text(dep.clone()),
        Axis::Month(e) => month_of(e.clone()),
        Axis::Region(dep) => {
            let alias = Alias::new(format!("stat_dep{i}"));
            select.join_as(
                JoinType::LeftJoin,
                department::Entity,
                alias.clone(),
                Expr::col((alias.clone(), department::Column::Code)).eq(dep.clone()),
            );
            as_text(Expr::col((alias, department::Column::RegionCode)))
        }
        Axis::Hub(dep) => {
            let alias = Alias::new(format!("stat_hub{i}"));
            select.join_as(
                JoinType::LeftJoin,
                hub_department::Entity,
                alias.clone(),
                Expr::col((alias.clone(), hub_department::Column::DepartmentCode)).eq(dep.clone()),
            );
            as_text(Expr::col((alias, hub_department::Column::HubId)))
        }
        Axis::OwnHubOr(own, dep) => {
            let alias = Alias::new(format!("stat_hub{i}"));
            select.join_as(
                JoinType::LeftJoin,
                hub_department::Entity,
                alias.clone(),
                Expr::col((alias.clone(), hub_department::Column::DepartmentCode))
                    .eq(dep.clone())
                    .and(own.clone().is_null()),
            );
            as_text(
                Func::coalesce([
                    own.clone(),
                    Expr::col((alias, hub_department::Column::HubId)),
                ])
                .into(),
            )
        }
    }
}

/// Runs a grouping: one statement, one row per group, ordered by keys.
#[tracing::instrument(skip_all, fields(axes = grouping.axes.len()))]
pub async fn group<C: ConnectionTrait>(
    db: &C,
    grouping: Grouping,
) -> Result<Vec<Bucket>, TerritoriesError> {
    let Grouping {
        mut select,
        axes,
        count,
        sum,
    } = grouping;
    for (i, axis) in axes.iter().enumerate() {
        let key = key_of(&mut select, axis, i);
        let alias = Alias::new(format!("k{i}"));
        select.expr_as(key, alias.clone());
        // By the output alias, not the expression: a key's literals (`SUBSTR(…, 1, 7)`, `CASE … 'true'`) are bound
        // parameters, and PostgreSQL does not see `$1` and `$3` as the same expression.
        select.add_group_by([Expr::col(alias.clone())]);
        select.order_by(alias.clone(), Order::Asc);
    }
    select.expr_as(count, Alias::new("n"));
    let with_sum = sum.is_some();
    if let Some(s) = sum {
        select.expr_as(sum_of(s), Alias::new("s"));
    }
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(backend.build(&select)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut k = Vec::with_capacity(axes.len());
        for i in 0..axes.len() {
            k.push(row.try_get::<Option<String>>("", &format!("k{i}"))?);
        }
        out.push(Bucket {
            keys: k,
            count: row.try_get::<i64>("", "n")?,
            sum: if with_sum {
                Some(row.try_get::<Option<i64>>("", "s")?.unwrap_or_default())
            } else {
                None
            },
        });
    }
    Ok(out)
}

/// How many distinct entities were in a state during each month of `months`: a state lasts from `start`
/// (included) to `end` (excluded; `NULL`: still in it), so an entity counts in every month it touched. `other` is an
/// optional second axis. One statement: one `COUNT(DISTINCT CASE …)` column per month, so the months come from the
/// range, not from the data; months with nothing are zeros. Keys: `[month, other?]`.
#[tracing::instrument(skip_all, fields(months = months.months().len()))]
pub async fn per_month<C: ConnectionTrait>(
    db: &C,
    mut select: SelectStatement,
    id: SimpleExpr,
    start: SimpleExpr,
    end: SimpleExpr,
    months: &MonthRange,
    other: Option<Axis>,
) -> Result<Vec<Bucket>, TerritoriesError> {
    let days = months.months();
    let other_key = other.as_ref().map(|axis| key_of(&mut select, axis, 1));
    if let Some(key) = &other_key {
        select.expr_as(key.clone(), Alias::new("k1"));
        select.add_group_by([Expr::col(Alias::new("k1"))]);
        select.order_by(Alias::new("k1"), Order::Asc);
    }
    for (i, first) in days.iter().enumerate() {
        let next = next_month(*first);
        let during = start
            .clone()
            .lt(Expr::val(next))
            .and(end.clone().is_null().or(end.clone().gt(Expr::val(*first))));
        let case: SimpleExpr = CaseStatement::new().case(during, id.clone()).into();
        select.expr_as(Func::count_distinct(case), Alias::new(format!("m{i}")));
    }
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(backend.build(&select)).await?;
    let mut out = Vec::new();
    for row in rows {
        let k1 = match other_key {
            Some(_) => Some(row.try_get::<Option<String>>("", "k1")?),
            None => None,
        };
        for (i, first) in days.iter().enumerate() {
            let mut keys = vec![Some(month_key(*first))];
            if let Some(k) = &k1 {
                keys.push(k.clone());
            }
            out.push(Bucket {
                keys,
                count: row.try_get::<i64>("", &format!("m{i}"))?,
                sum: None,
            });
        }
    }
    // Without a second axis and with no row at all, the statement still returns its one aggregate row; with one,
    // an empty table has no group: the caller's `fill_empty` adds them.
    out.sort();
    Ok(out)
}

/// Adds a zero group for every combination of the `universes` (one per axis; `None`: that axis's keys are only the
/// ones found) that the buckets lack, and sorts them by keys.
pub fn fill_empty(buckets: &mut Vec<Bucket>, universes: &[Option<Vec<String>>], with_sum: bool) {
    let mut domains: Vec<BTreeSet<Option<String>>> = Vec::new();
    for (i, universe) in universes.iter().enumerate() {
        let mut keys: BTreeSet<Option<String>> = buckets
            .iter()
            .filter_map(|b| b.keys.get(i).cloned())
            .collect();
        if let Some(u) = universe {
            keys.extend(u.iter().cloned().map(Some));
        }
        domains.push(keys);
    }
    if universes.iter().all(Option::is_none) {
        buckets.sort();
        return;
    }
    let present: BTreeSet<Vec<Option<String>>> = buckets.iter().map(|b| b.keys.clone()).collect();
    let mut combos: Vec<Vec<Option<String>>> = vec![Vec::new()];
    for domain in &domains {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                domain.iter().map(move |k| {
                    let mut c = c.clone();
                    c.push(k.clone());
                    c
                })
            })
            .collect();
    }
    for keys in combos {
        if !present.contains(&keys) {
            buckets.push(Bucket {
                keys,
                count: 0,
                sum: with_sum.then_some(0),
            });
        }
    }
    buckets.sort();
}

/// The territorial scope of a statistic, for its zero groups: which departments, regions and hubs it may show.
#[derive(Debug, Clone, Default)]
pub struct Universes {
    /// Department codes.
    pub departments: Vec<String>,
    /// Region codes.
    pub regions: Vec<String>,
    /// Hub ids, as text.
    pub hubs: Vec<String>,
}

/// The departments, regions and hubs of the whole country, or of `scope` (department codes) when given: the hubs
/// covering one of them, the regions holding one. Three small reference reads.
pub async fn universes<C: ConnectionTrait>(
    db: &C,
    scope: Option<&[String]>,
) -> Result<Universes, TerritoriesError> {
    let deps: Vec<(String, String)> = department::Entity::find()
        .select_only()
        .column(department::Column::Code)
        .column(department::Column::RegionCode)
        .order_by_asc(department::Column::Code)
        .into_tuple()
        .all(db)
        .await?;
    let deps: Vec<(String, String)> = deps
        .into_iter()
        .filter(|(code, _)| scope.is_none_or(|s| s.contains(code)))
        .collect();
    let links: Vec<(i32, String)> = hub_department::Entity::find()
        .select_only()
        .column(hub_department::Column::HubId)
        .column(hub_department::Column::DepartmentCode)
        .into_tuple()
        .all(db)
        .await?;
    let hubs: BTreeSet<i32> = match scope {
        None => hub::Entity::find()
            .select_only()
            .column(hub::Column::Id)
            .into_tuple::<i32>()
            .all(db)
            .await?
            .into_iter()
            .collect(),
        Some(_) => links
            .iter()
            .filter(|(_, d)| deps.iter().any(|(code, _)| code == d))
            .map(|(h, _)| *h)
            .collect(),
    };
    let regions: BTreeSet<String> = match scope {
        None => region::Entity::find()
            .select_only()
            .column(region::Column::Code)
            .into_tuple::<String>()
            .all(db)
            .await?
            .into_iter()
            .collect(),
        Some(_) => deps.iter().map(|(_, r)| r.clone()).collect(),
    };
    Ok(Universes {
        departments: deps.into_iter().map(|(c, _)| c).collect(),
        regions: regions.into_iter().collect(),
        hubs: hubs.into_iter().map(|h| h.to_string()).collect(),
    })
}

/// The department codes a territorial filter names: `departments`, and those of a hub (slug) and of a region, all
/// of which must hold; `None` when nothing restricts.
pub async fn scope_of<C: ConnectionTrait>(
    db: &C,
    departments: Option<&[String]>,
    hub_slug: Option<&str>,
    region_code: Option<&str>,
) -> Result<Option<Vec<String>>, TerritoriesError> {
    let mut scope: Option<BTreeSet<String>> = departments.map(|d| d.iter().cloned().collect());
    let mut narrow = |found: BTreeSet<String>| {
        scope = Some(match scope.take() {
            Some(s) => s.intersection(&found).cloned().collect(),
            None => found,
        });
    };
    if let Some(slug) = hub_slug {
        let found: BTreeSet<String> = match crate::hub_by_slug(db, slug).await? {
            Some(h) => crate::departments_of_hubs(db, &[h.id])
                .await?
                .into_iter()
                .map(|(_, d)| d.code.as_str().to_owned())
                .collect(),
            None => BTreeSet::new(),
        };
        narrow(found);
    }
    if let Some(r) = region_code {
        let found: BTreeSet<String> = department::Entity::find()
            .select_only()
            .column(department::Column::Code)
            .filter(department::Column::RegionCode.eq(r))
            .into_tuple::<String>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        narrow(found);
    }
    Ok(scope.map(|s| s.into_iter().collect()))
}

/// Names of the keys of territorial axes, for display: department and region names, hub names; keyed by the
/// key text.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Department code → name.
    pub departments: BTreeMap<String, String>,
    /// Region code → name.
    pub regions: BTreeMap<String, String>,
    /// Hub id (text) → (slug, name).
    pub hubs: BTreeMap<String, (String, String)>,
}

/// Every department's, region's and hub's name (three small reference reads).
pub async fn names<C: ConnectionTrait>(db: &C) -> Result<Names, TerritoriesError> {
    let departments = department::Entity::find()
        .select_only()
        .column(department::Column::Code)
        .column(department::Column::Name)
        .into_tuple::<(String, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let regions = region::Entity::find()
        .select_only()
        .column(region::Column::Code)
        .column(region::Column::Name)
        .into_tuple::<(String, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let hubs = hub::Entity::find()
        .select_only()
        .column(hub::Column::Id)
        .column(hub::Column::Slug)
        .column(hub::Column::Name)
        .into_tuple::<(i32, String, String)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(id, slug, name)| (id.to_string(), (slug, name)))
        .collect();
    Ok(Names {
        departments,
        regions,
        hubs,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn b(keys: &[&str], count: i64) -> Bucket {
        Bucket {
            keys: keys.iter().map(|k| Some((*k).to_owned())).collect(),
            count,
            sum: None,
        }
    }

    #[test]
    fn empty_groups_are_the_missing_combinations() {
        let mut buckets = vec![b(&["69", "a"], 3)];
        fill_empty(
            &mut buckets,
            &[Some(vec!["01".into(), "69".into()]), None],
            false,
        );
        assert_eq!(buckets, vec![b(&["01", "a"], 0), b(&["69", "a"], 3)]);
    }

    #[test]
    fn a_month_range_is_checked_and_listed() {
        let f = FieldPath::new("months");
        let r = MonthRange::parse("2021-11", "2022-02", &f).unwrap();
        assert_eq!(r.keys(), ["2021-11", "2021-12", "2022-01", "2022-02"]);
        assert!(MonthRange::parse("2022-02", "2021-11", &f).is_err());
        assert!(MonthRange::parse("2022-13", "2023-01", &f).is_err());
        assert!(MonthRange::parse("2000-01", "2030-01", &f).is_err());
    }
}
