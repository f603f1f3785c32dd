//! Reading sites: filters, stable ordering, keyset pagination, and batched reads for nested GraphQL lists.
//!
//! Every function here runs a fixed number of SQL statements whatever the number of keys or rows, because the
//! GraphQL layer calls them from DataLoaders: a nested list costs one statement per level, not one per parent.

use crate::SitesError;
use crate::brief::{BriefRow, NamesRow, from_brief, from_names};
use crate::entity::{site, site_value};
use crate::hours::{OVERSEAS_ZONES, minute_of_week, parse_hours, timezone_for_department};
use crate::model::{NewSite, StandardVersion, TaggedValue, ValueKind};
use crate::search::TextQuery;
use crate::standard::vocabulary;
use chrono::{DateTime, NaiveDate, Utc};
use maillage_core::Code;
use maillage_core::db::column;
use maillage_core::error::FieldPath;
use maillage_core::pagination::{Cursor, Page, PageRequest, PaginationError};
use maillage_core::{
    Actor, DepartmentCode, Email, InseeCode, Pivot, PostalCode, RegionCode, SiteId,
};
use rustc_hash::FxHashMap;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, JoinType, Order, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, Select, Statement,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{LazyLock, Mutex, PoisonError};

/// A stored site.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// Maillage's identifier.
    pub id: SiteId,
    /// The import source it came from (`hinaura`, …): with `data.source_id`, its identity.
    pub source: String,
    /// The department, derived from `code_insee` or `code_postal`; `None` outside the 101 departments.
    pub department_code: Option<DepartmentCode>,
    /// Whether `horaires` parsed as OpenStreetMap opening_hours (`None` when there are none).
    pub opening_hours_valid: Option<bool>,
    /// Optimistic-concurrency version, incremented by every change.
    pub version: i32,
    /// When Maillage first stored it.
    pub created_at: DateTime<Utc>,
    /// When Maillage last changed it (server clock; not the source's `date_maj`).
    pub updated_at: DateTime<Utc>,
    /// The canonical site this source record is merged into (served instead of it), if any.
    pub merged_into: Option<SiteId>,
    /// When it was archived: listed only with `include_archived`, as a tombstone a mirror removes.
    pub archived_at: Option<DateTime<Utc>>,
    /// The normalised content, boxed: a page of sites moves through iterators, sorts and loaders by value, and
    /// a `Site` holding it inline weighed about a kilobyte (copying them was a third of `memcpy`'s 9–10 % of the
    /// CPU on a page of 50 sites, issue #16).
    pub data: Box<NewSite>,
    /// Its distance in kilometres from the centre of the filter's `near`, when the list was asked with one.
    pub distance_km: Option<f64>,
    /// What the read loaded: the fields it did not load hold neutral values (see [`SiteParts`]), so a reader that
    /// serves them checks this first.
    pub parts: SiteParts,
}

impl Site {
    /// The site's e-mail addresses, if `actor` may read them.
    ///
    /// Real files mix structures' addresses with personal ones (prenom.nom@…), and nothing tells them apart, so
    /// all are treated as personal data: visible to the hub coordinator of the site's department, BdT and admins.
    pub fn emails_for(&self, actor: &Actor) -> Option<&[Email]> {
        actor
            .can_read_personal_data(self.department_code.as_ref())
            .then_some(self.data.emails.as_slice())
    }
}

/// Geographic rectangle, WGS84 degrees, bounds included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    /// Southern bound.
    pub min_latitude: f64,
    /// Northern bound.
    pub max_latitude: f64,
    /// Western bound.
    pub min_longitude: f64,
    /// Eastern bound.
    pub max_longitude: f64,
}

/// The largest radius of a near search: a circle of 200 km already holds a fifth of mainland France.
pub const MAX_NEAR_RADIUS_KM: f64 = 200.0;

/// The mean radius of the Earth (IUGG), for haversine distances.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Where a near search is centred.
#[derive(Debug, Clone, PartialEq)]
pub enum NearCentre {
    /// A point, WGS84 degrees.
    Point {
        /// Latitude.
        latitude: f64,
        /// Longitude.
        longitude: f64,
    },
    /// The centre of a commune, by INSEE code (from the communes reference table).
    Commune(String),
}

/// Sites within a radius of a centre.
#[derive(Debug, Clone, PartialEq)]
pub struct Near {
    /// The centre.
    pub centre: NearCentre,
    /// The radius, in kilometres (great-circle distance), at most [`MAX_NEAR_RADIUS_KM`].
    pub radius_km: f64,
}

impl Near {
    /// The centre as (latitude, longitude): a commune is looked up in the reference table.
    pub fn point(&self) -> Result<(f64, f64), SitesError> {
        match &self.centre {
            NearCentre::Point {
                latitude,
                longitude,
            } => {
                if !(-90.0..=90.0).contains(latitude) || !(-180.0..=180.0).contains(longitude) {
                    return Err(SitesError::InvalidInput {
                        field: FieldPath::new("filter").push("near"),
                        message: "latitude must be within [-90, 90], longitude within [-180, 180]"
                            .to_owned(),
                        code: Code::InvalidValue,
                    });
                }
                Ok((*latitude, *longitude))
            }
            NearCentre::Commune(insee) => crate::mapping::communes::all()
                .iter()
                .find(|c| c.insee == insee.trim())
                .and_then(|c| c.centre)
                .ok_or_else(|| SitesError::InvalidInput {
                    field: FieldPath::new("filter").push("near").push("commune"),
                    message: format!(
                        "{insee:?} is not the INSEE code of a commune with a known centre"
                    ),
                    code: Code::UnknownValue,
                }),
        }
    }
}

/// The great-circle distance in kilometres between two WGS84 points (haversine).
pub fn haversine_km(from: (f64, f64), to: (f64, f64)) -> f64 {
    let (lat1, lon1) = (from.0.to_radians(), from.1.to_radians());
    let (lat2, lon2) = (to.0.to_radians(), to.1.to_radians());
    let a = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// A rectangle that contains every point within `radius_km` of `centre` (a little wider, for rounding): the
/// indexed prefilter of a near search, before the exact distance.
fn bounding_box_around(centre: (f64, f64), radius_km: f64) -> BoundingBox {
    let km_per_degree = EARTH_RADIUS_KM * std::f64::consts::PI / 180.0;
    let dlat = radius_km / km_per_degree * 1.01;
    let cos = centre.0.to_radians().cos();
    let dlon = if cos < 0.01 {
        180.0
    } else {
        (radius_km / (km_per_degree * cos) * 1.01).min(180.0)
    };
    BoundingBox {
        min_latitude: (centre.0 - dlat).max(-90.0),
        max_latitude: (centre.0 + dlat).min(90.0),
        min_longitude: (centre.1 - dlon).max(-180.0),
        max_longitude: (centre.1 + dlon).min(180.0),
    }
}

/// Criteria on sites; every criterion given must hold (AND); within a list, see each field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteFilter {
    /// Sites in any of these departments.
    pub departments: Option<Vec<DepartmentCode>>,
    /// Sites in a department covered by this hub (slug).
    pub hub: Option<String>,
    /// Sites in a department of this region.
    pub region: Option<RegionCode>,
    /// Sites offering every one of these services (v1.0.2 labels).
    pub services: Vec<String>,
    /// Sites addressing every one of these publics (v1.0.2 `publics_specifiquement_adresses` or
    /// `prise_en_charge_specifique` labels).
    pub publics: Vec<String>,
    /// Sites carrying every one of these national programmes or labels (v1.0.2 `dispositif_programmes_nationaux`
    /// or `formations_labels`).
    pub labels: Vec<String>,
    /// Words that must all occur in the name, commune, address, presentation, services or labels, ignoring case,
    /// accents, hyphens, "st"/"saint" and plurals, with one typo allowed on words of five letters or more (see
    /// [`crate::search`]). A text with no word is no criterion.
    pub text: Option<String>,
    /// Sites within a radius of a point or of a commune's centre.
    pub near: Option<Near>,
    /// Sites with coordinates inside this rectangle.
    pub bounding_box: Option<BoundingBox>,
    /// Sites open at this instant according to their parsed `horaires`, in their local time zone: a look-up in
    /// the intervals stored when the site was written (see [`crate::hours::Week`]). Sites whose hours are
    /// unknown (absent or unparsable) are never open; tell them apart with `opening_hours_known`.
    pub open_at: Option<DateTime<Utc>>,
    /// Sites whose opening hours are known (`true`: present and parsable) or unknown (`false`).
    pub opening_hours_known: Option<bool>,
    /// Sites from this import source.
    pub source: Option<String>,
    /// Canonical sites (the default) or the raw source records underneath them.
    pub records: SiteRecords,
}

/// Incremental sync options of the site list, besides its filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteSync {
    /// Sites Maillage changed (or archived) at or after this instant.
    pub updated_since: Option<DateTime<Utc>>,
    /// Also list archived sites (tombstones, with `archived_at` set), so a mirror can remove them.
    pub include_archived: bool,
}

/// Which rows a read serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SiteRecords {
    /// One site per place: a confirmed cluster of duplicates is served as its canonical site, never as its members.
    #[default]
    Canonical,
    /// The source records as imported, merged or not; canonical sites are left out.
    Sources,
}

impl SiteFilter {
    /// Checks the closed vocabularies and the bounding box, naming the offending field (under `filter`).
    pub fn validate(&self) -> Result<(), SitesError> {
        let check = |name: &str, values: &[String], kinds: &[ValueKind]| {
            for (i, v) in values.iter().enumerate() {
                if !kinds.iter().any(|k| vocabulary::is_v1_label(*k, v)) {
                    return Err(SitesError::InvalidInput {
                        field: FieldPath::new("filter").push(name).index(i),
                        message: format!(
                            "{v:?} is not a value of the national standard v1.0.2 for {name}"
                        ),
                        code: Code::UnknownValue,
                    });
                }
            }
            Ok(())
        };
        check("services", &self.services, &[ValueKind::Service])?;
        check(
            "publics",
            &self.publics,
            &[ValueKind::Public, ValueKind::SpecificSupport],
        )?;
        check(
            "labels",
            &self.labels,
            &[ValueKind::NationalProgramme, ValueKind::TrainingLabel],
        )?;
        if let Some(b) = self.bounding_box {
            let ok = (-90.0..=90.0).contains(&b.min_latitude)
                && (-90.0..=90.0).contains(&b.max_latitude)
                && (-180.0..=180.0).contains(&b.min_longitude)
                && (-180.0..=180.0).contains(&b.max_longitude)
                && b.min_latitude <= b.max_latitude
                && b.min_longitude <= b.max_longitude;
            if !ok {
                return Err(SitesError::InvalidInput {
                    field: FieldPath::new("filter").push("boundingBox"),
                    message: "latitudes must be within [-90, 90], longitudes within [-180, 180], min ≤ max"
                        .to_owned(),
                    code: Code::InvalidValue,
                });
            }
        }
        if let Some(near) = &self.near {
            near.point()?;
            if !(near.radius_km > 0.0 && near.radius_km <= MAX_NEAR_RADIUS_KM) {
                return Err(SitesError::InvalidInput {
                    field: FieldPath::new("filter").push("near").push("radiusKm"),
                    message: format!("the radius must be within ]0, {MAX_NEAR_RADIUS_KM}] km"),
                    code: Code::InvalidValue,
                });
            }
        }
        if let Some(text) = &self.text
            && text.chars().count() > MAX_TEXT_CHARS
        {
            return Err(SitesError::InvalidInput {
                field: FieldPath::new("filter").push("text"),
                message: format!("a search text has at most {MAX_TEXT_CHARS} characters"),
                code: Code::InvalidValue,
            });
        }
        Ok(())
    }
}

/// The longest search text accepted.
pub const MAX_TEXT_CHARS: usize = 200;

/// What sites are sorted by; ties are always broken by id, so the order is total and pages are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SiteOrderField {
    /// Name, case- and accent-insensitive.
    #[default]
    Name,
    /// `date_maj`.
    UpdatedOn,
    /// Maillage's own `updated_at` (every write moves a site to the end: a paged pull cannot skip it).
    UpdatedAt,
    /// Maillage id (insertion order).
    Id,
    /// Relevance to the filter's `text`: sites with more of its words in their name first, then by name. Without
    /// a text, the same as [`SiteOrderField::Name`]; in nested per-department lists, always by name.
    Relevance,
    /// Distance from the centre of the filter's `near` (required), nearest first.
    Distance,
}

/// Sort field and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SiteOrder {
    /// The field.
    pub field: SiteOrderField,
    /// Descending instead of ascending.
    pub descending: bool,
}

impl SiteOrder {
    /// The order to scan for `page`: reversed for a backward page (`last`/`before`), whose rows
    /// `Page::from_rows` puts back in this order. Cursors are the same both ways.
    #[must_use]
    pub fn scan(self, page: &PageRequest) -> Self {
        Self {
            descending: self.descending != page.backward,
            ..self
        }
    }
}

/// The sort key of one row, as carried in cursors: `(value, id)`.
type CursorKey = (String, i32);

/// Filters resolved to plain SQL conditions (hub and region turned into department lists).
struct Resolved {
    condition: Condition,
    text: Option<TextQuery>,
    near: Option<((f64, f64), f64)>,
}

impl Resolved {
    /// Whether the rows are selected and ordered in Rust over narrow candidate rows rather than by SQL alone.
    fn needs_candidates(&self) -> bool {
        self.near.is_some()
    }
}

fn check_order(order: SiteOrder, filter: &SiteFilter) -> Result<(), SitesError> {
    if order.field == SiteOrderField::Distance && filter.near.is_none() {
        return Err(SitesError::InvalidInput {
            field: FieldPath::new("orderBy").push("field"),
            message: "ordering by DISTANCE needs filter.near".to_owned(),
            code: Code::InvalidValue,
        });
    }
    Ok(())
}

async fn resolve<C: ConnectionTrait>(
    db: &C,
    filter: &SiteFilter,
    sync: &SiteSync,
) -> Result<Resolved, SitesError> {
    filter.validate()?;
    // Archived sites are kept (nothing is lost, the audit trail points at them) and listed only as tombstones.
    let mut cond = Condition::all();
    if !sync.include_archived {
        cond = cond.add(site::Column::ArchivedAt.is_null());
    }
    if let Some(since) = sync.updated_since {
        cond = cond.add(site::Column::UpdatedAt.gte(since));
    }
    cond = match filter.records {
        // A mirror (`include_archived`) also gets the records merged away, as tombstones: they left the list.
        SiteRecords::Canonical if sync.include_archived => cond,
        SiteRecords::Canonical => cond.add(site::Column::MergedInto.is_null()),
        SiteRecords::Sources => cond.add(site::Column::Source.ne(crate::dedup::CANONICAL_SOURCE)),
    };
    if let Some(deps) = &filter.departments {
        cond = cond
            .add(site::Column::DepartmentCode.is_in(deps.iter().map(|d| d.as_str().to_owned())));
    }
    if let Some(slug) = &filter.hub {
        let hub = maillage_territories::hub_by_slug(db, slug)
            .await?
            .ok_or_else(|| SitesError::UnknownHub(slug.clone()))?;
        let deps = maillage_territories::departments_of_hubs(db, &[hub.id]).await?;
        cond = cond.add(
            site::Column::DepartmentCode
                .is_in(deps.into_iter().map(|(_, d)| d.code.as_str().to_owned())),
        );
    }
    if let Some(region) = &filter.region {
        let deps =
            maillage_territories::departments_of_regions(db, std::slice::from_ref(region)).await?;
        cond = cond.add(
            site::Column::DepartmentCode
                .is_in(deps.into_iter().map(|d| d.code.as_str().to_owned())),
        );
    }
    let value_kinds = [
        (&filter.services, vec![ValueKind::Service]),
        (
            &filter.publics,
            vec![ValueKind::Public, ValueKind::SpecificSupport],
        ),
        (
            &filter.labels,
            vec![ValueKind::NationalProgramme, ValueKind::TrainingLabel],
        ),
    ];
    for (values, kinds) in value_kinds {
        for value in values {
            let sub = Query::select()
                .column(site_value::Column::SiteId)
                .from(site_value::Entity)
                .and_where(site_value::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())))
                .and_where(site_value::Column::Value.eq(value.as_str()))
                .to_owned();
            cond = cond.add(site::Column::Id.in_subquery(sub));
        }
    }
    let text = match filter.text.as_deref().and_then(TextQuery::parse) {
        Some(q) => Some(q.widen_typos(db).await?),
        None => None,
    };
    if let Some(q) = &text {
        cond = cond.add(q.matches(db.get_database_backend()));
    }
    let near = match &filter.near {
        Some(n) => Some((n.point()?, n.radius_km)),
        None => None,
    };
    if let Some((centre, radius)) = near {
        let b = bounding_box_around(centre, radius);
        cond = cond
            .add(site::Column::Latitude.between(b.min_latitude, b.max_latitude))
            .add(site::Column::Longitude.between(b.min_longitude, b.max_longitude));
    }
    if let Some(b) = filter.bounding_box {
        cond = cond
            .add(site::Column::Latitude.between(b.min_latitude, b.max_latitude))
            .add(site::Column::Longitude.between(b.min_longitude, b.max_longitude));
    }
    if let Some(source) = &filter.source {
        cond = cond.add(site::Column::Source.eq(source.as_str()));
    }
    if let Some(known) = filter.opening_hours_known {
        cond = cond.add(if known {
            site::Column::OpeningWeek.is_not_null()
        } else {
            site::Column::OpeningWeek.is_null()
        });
    }
    if let Some(at) = filter.open_at {
        cond = cond.add(open_at_condition(db, at).await?);
    }
    Ok(Resolved {
        condition: cond,
        text,
        near,
    })
}

/// Sites open at `at`: weekly hours by an indexed look-up of the local minute of the week in `site_opening` (the
/// minute depends on the site's time zone, hence the `CASE` on its department), plus the few sites whose hours
/// depend on the date, evaluated here with the parser.
async fn open_at_condition<C: ConnectionTrait>(
    db: &C,
    at: DateTime<Utc>,
) -> Result<Condition, SitesError> {
    let backend = db.get_database_backend();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let minute_sql = |values: &mut Vec<sea_orm::Value>| {
        let mut sql = String::from("(CASE site.department_code");
        for (dep, tz) in OVERSEAS_ZONES {
            values.push(dep.into());
            values.push(minute_of_week(at, tz).into());
            sql.push_str(" WHEN ? THEN ?");
        }
        values.push(minute_of_week(at, chrono_tz::Tz::Europe__Paris).into());
        sql.push_str(" ELSE ? END)");
        sql
    };
    let start = minute_sql(&mut values);
    let end = minute_sql(&mut values);
    let mut sql = format!(
        "EXISTS (SELECT 1 FROM site_opening o WHERE o.site_id = site.id \
         AND o.start_minute <= {start} AND o.end_minute > {end})"
    );
    if backend == DatabaseBackend::Postgres {
        let mut n = 0;
        sql = sql
            .split('?')
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part.to_owned()
                } else {
                    n += 1;
                    format!("${n}{part}")
                }
            })
            .collect();
    }
    let weekly = Expr::cust_with_values(sql, values);
    let dated: Vec<(i32, Option<String>, Option<String>)> = site::Entity::find()
        .select_only()
        .columns([
            site::Column::Id,
            site::Column::DepartmentCode,
            site::Column::OpeningHours,
        ])
        .filter(site::Column::OpeningWeek.eq("dated"))
        .into_tuple()
        .all(db)
        .await?;
    let open_dated: Vec<i32> = dated
        .into_iter()
        .filter(|(_, dep, hours)| {
            let tz = timezone_for_department(dep.as_deref().unwrap_or_default());
            hours
                .as_deref()
                .and_then(|h| parse_hours(h).ok())
                .is_some_and(|h| h.is_open_at(at, tz))
        })
        .map(|(id, _, _)| id)
        .collect();
    let mut any = Condition::any().add(weekly);
    if !open_dated.is_empty() {
        any = any.add(site::Column::Id.is_in(open_dated));
    }
    Ok(any)
}

fn order_column(field: SiteOrderField) -> site::Column {
    match field {
        SiteOrderField::Name | SiteOrderField::Relevance | SiteOrderField::Distance => {
            site::Column::SortName
        }
        SiteOrderField::UpdatedOn => site::Column::UpdatedOn,
        SiteOrderField::UpdatedAt => site::Column::UpdatedAt,
        SiteOrderField::Id => site::Column::Id,
    }
}

fn after_condition(
    order: SiteOrder,
    after: &Cursor,
    ranked: Option<(&TextQuery, DatabaseBackend)>,
) -> Result<Condition, SitesError> {
    let (value, id): CursorKey = after.decode()?;
    let (gt, eq_then): (Condition, Condition) = match order.field {
        SiteOrderField::Relevance | SiteOrderField::Distance => {
            // Distance is only ever paged in Rust (candidates); relevance without a text is paged by name.
            let Some((query, backend)) = ranked else {
                return Err(PaginationError::InvalidCursor.into());
            };
            let (tier, name) = value
                .split_once(':')
                .and_then(|(t, n)| Some((t.parse::<i32>().ok()?, n)))
                .ok_or(PaginationError::InvalidCursor)?;
            let tier_expr = query.tier_expr(backend);
            let col = site::Column::SortName;
            let (tier_past, name_past) = if order.descending {
                (tier_expr.clone().lt(tier), col.lt(name))
            } else {
                (tier_expr.clone().gt(tier), col.gt(name))
            };
            (
                Condition::any().add(tier_past).add(
                    Condition::all()
                        .add(tier_expr.clone().eq(tier))
                        .add(name_past),
                ),
                Condition::all().add(tier_expr.eq(tier)).add(col.eq(name)),
            )
        }
        SiteOrderField::Id => {
            let c = if order.descending {
                site::Column::Id.lt(id)
            } else {
                site::Column::Id.gt(id)
            };
            return Ok(Condition::all().add(c));
        }
        SiteOrderField::Name => {
            let col = site::Column::SortName;
            let past = if order.descending {
                col.lt(value.as_str())
            } else {
                col.gt(value.as_str())
            };
            (
                Condition::all().add(past),
                Condition::all().add(col.eq(value.as_str())),
            )
        }
        SiteOrderField::UpdatedOn => {
            let date: NaiveDate = value.parse().map_err(|_| PaginationError::InvalidCursor)?;
            let col = site::Column::UpdatedOn;
            let past = if order.descending {
                col.lt(date)
            } else {
                col.gt(date)
            };
            (
                Condition::all().add(past),
                Condition::all().add(col.eq(date)),
            )
        }
        SiteOrderField::UpdatedAt => {
            let at: DateTime<Utc> = DateTime::parse_from_rfc3339(&value)
                .map_err(|_| PaginationError::InvalidCursor)?
                .with_timezone(&Utc);
            let col = site::Column::UpdatedAt;
            let past = if order.descending {
                col.lt(at)
            } else {
                col.gt(at)
            };
            (Condition::all().add(past), Condition::all().add(col.eq(at)))
        }
    };
    let id_past = if order.descending {
        site::Column::Id.lt(id)
    } else {
        site::Column::Id.gt(id)
    };
    Ok(Condition::any().add(gt).add(eq_then.add(id_past)))
}

fn apply_order<Q: QueryOrder>(
    query: Q,
    order: SiteOrder,
    ranked: Option<(&TextQuery, DatabaseBackend)>,
) -> Q {
    let dir = if order.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let query = match (order.field, ranked) {
        (SiteOrderField::Relevance, Some((q, backend))) => {
            query.order_by(q.tier_expr(backend), dir.clone())
        }
        _ => query,
    };
    let query = match order.field {
        SiteOrderField::Id => query,
        field => query.order_by(order_column(field), dir.clone()),
    };
    query.order_by(site::Column::Id, dir)
}

/// One page of sites matching `filter`, in `order`.
pub async fn list_sites<C: ConnectionTrait>(
    db: &C,
    filter: &SiteFilter,
    order: SiteOrder,
    page: &PageRequest,
) -> Result<Page<Site>, SitesError> {
    list_sites_synced(db, filter, &SiteSync::default(), order, page).await
}

/// One page of sites matching `filter` and `sync` (`updatedSince`, tombstones), in `order`; a mirror uses
/// [`SiteOrderField::UpdatedAt`].
#[tracing::instrument(skip_all)]
pub async fn list_sites_synced<C: ConnectionTrait>(
    db: &C,
    filter: &SiteFilter,
    sync: &SiteSync,
    order: SiteOrder,
    page: &PageRequest,
) -> Result<Page<Site>, SitesError> {
    list_site_parts_synced(db, filter, sync, order, page, SiteParts::Whole).await
}

/// [`list_sites_synced`], loading only `read.parts` of each site, and computing cursors only if `read.cursors`
/// (a [`SiteParts`] alone computes them).
#[tracing::instrument(skip_all)]
pub async fn list_site_parts_synced<C: ConnectionTrait>(
    db: &C,
    filter: &SiteFilter,
    sync: &SiteSync,
    order: SiteOrder,
    page: &PageRequest,
    read: impl Into<SiteRead>,
) -> Result<Page<Site>, SitesError> {
    let SiteRead { parts, cursors } = read.into();
    check_order(order, filter)?;
    let order = order.scan(page);
    let resolved = resolve(db, filter, sync).await?;
    let backend = db.get_database_backend();
    let mut order = order;
    if order.field == SiteOrderField::Relevance && resolved.text.is_none() {
        order.field = SiteOrderField::Name;
    }
    let parts = parts.ordered_on(order.field);
    let ranked = resolved.text.as_ref().map(|q| (q, backend));
    if resolved.needs_candidates() {
        let candidates = candidates(db, resolved.condition.clone(), order, &resolved).await?;
        let after_key = page
            .after
            .as_ref()
            .map(Cursor::decode::<CursorKey>)
            .transpose()?;
        let total = page.with_total.then_some(candidates.len() as u64);
        let chosen: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| after_key.as_ref().is_none_or(|k| is_after(c, k, order)))
            .take(page.first as usize + 1)
            .collect();
        let ids: Vec<i32> = chosen.iter().map(|c| c.id).collect();
        let keys: HashMap<i32, (String, Option<f64>)> = chosen
            .iter()
            .map(|c| (c.id, (c.key.clone(), c.distance_km)))
            .collect();
        let mut sites: Vec<Site> = sites_in_order(db, &ids, parts)
            .await?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        for s in &mut sites {
            s.distance_km = keys.get(&s.id.0).and_then(|(_, d)| *d);
        }
        return Ok(Page::from_rows(sites, page, total, |s| {
            if !cursors {
                return Cursor::unselected();
            }
            let key = keys
                .get(&s.id.0)
                .map(|(k, _)| k.clone())
                .unwrap_or_default();
            Cursor::encode(&(key, s.id.0))
        }));
    }
    let mut cond = resolved.condition.clone();
    if let Some(after) = &page.after {
        cond = cond.add(after_condition(order, after, ranked)?);
    }
    let count = || {
        Query::select()
            .expr_as(Expr::cust("COUNT(*)"), TOTAL_COUNT)
            .from(site::Entity)
            .cond_where(resolved.condition.clone())
            .to_owned()
    };
    let mut select = apply_order(site_select(parts).filter(cond), order, ranked)
        .limit(u64::from(page.first) + 1);
    if page.with_total {
        // The count rides along with the page, in the same statement (one round trip and one statement fewer per
        // request, issue #16): an uncorrelated scalar subquery, computed once (an InitPlan on PostgreSQL), from
        // the live partial index as a separate count did, without the cursor, beside the page's own plan. Not
        // `COUNT(*) OVER ()`, which would make the page read every matching row instead of walking to `LIMIT`.
        select = select.expr_as(Expr::SubQuery(None, Box::new(count().into())), TOTAL_COUNT);
    }
    // The page size written out, so that PostgreSQL keeps the plan (see `literal_limits`).
    let stmt = maillage_core::db::literal_limits(select.build(backend));
    let (sites, total) = if page.with_total {
        let (sites, totals) = read_counted_sites(db, stmt, parts, false, cursors).await?;
        let total = match totals.get(&None) {
            Some(n) => *n,
            // No row, so no count with it. From the start of the list (`LIMIT` is at least one), no row is no
            // matching site; after a cursor (a page past the end, rare), the count is a statement of its own.
            None if page.after.is_none() => 0,
            None => {
                let n: Option<i64> = db
                    .query_one(&count())
                    .await?
                    .map(|row| row.try_get("", TOTAL_COUNT))
                    .transpose()?;
                n.and_then(|n| u64::try_from(n).ok()).unwrap_or_default()
            }
        };
        (sites, Some(total))
    } else {
        (read_sites(db, stmt, parts, cursors).await?, None)
    };
    let text = resolved.text.as_ref();
    Ok(Page::from_rows(sites, page, total, |(s, sort_name)| {
        if cursors {
            Cursor::encode(&(
                cursor_value(s, sort_name.clone(), order.field, text),
                s.id.0,
            ))
        } else {
            Cursor::unselected()
        }
    })
    .map(|(s, _)| s))
}

/// What a list read computes for each site: the parts of it it loads, and its cursor or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SiteRead {
    /// The parts of each site read.
    pub parts: SiteParts,
    /// Whether each item carries its cursor; without, [`Cursor::unselected`]. A GraphQL selection without
    /// `edges { cursor }` or `pageInfo { startCursor endCursor }` needs none, and a cursor costs a sort key, its
    /// JSON and its base64 per site (issue #16).
    pub cursors: bool,
}

/// Cursors included, as every list computed them before [`SiteRead`].
impl From<SiteParts> for SiteRead {
    fn from(parts: SiteParts) -> Self {
        Self {
            parts,
            cursors: true,
        }
    }
}

/// Which parts of a site a read loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SiteParts {
    /// The row and its multi-valued fields (`Site::data.values`).
    #[default]
    Whole,
    /// The row only: `Site::data.values` is left empty. For callers that know they will not read the values (a
    /// GraphQL selection without any multi-valued field): each site has about eleven of them, which are most of
    /// the rows a nested list reads and most of the memory it holds.
    WithoutValues,
    /// Only what identifies, orders, pages, places and links a site, and no values: `id`, `source`, `merged_into`,
    /// `archived_at`, `department_code`, `opening_hours_valid`, `version`, `created_at`, `updated_at`, and in
    /// `data`: `source_id`, `name`, `commune`, `postal_code`, `insee_code`, `latitude`, `longitude`, `updated_on`.
    /// Every other field of `data` holds a neutral value, not the site's: `standard_version` is 1.0.2, `pivot` the
    /// placeholder, `address` empty, `emails` and `values` empty, the other options `None`. For lists whose
    /// reader needs nothing else (the common GraphQL selections: `sourceId name department { … }`); why it exists
    /// is in [`crate::brief`].
    Brief,
    /// Less than brief: what names and links a site, nothing else: `id`, `source`, `merged_into`, `archived_at`,
    /// `department_code`, and in `data`: `source_id` and `name`. Every other field holds a neutral value, not the
    /// site's: those of [`SiteParts::Brief`], and `commune` empty, `postal_code` the placeholder `00000`,
    /// `insee_code`, `latitude`, `longitude` and `opening_hours_valid` `None`, `updated_on` 1970-01-01, `version` 0,
    /// `created_at` and `updated_at` the Unix epoch. For the lists' most common selection, `sourceId name`, and
    /// their relations (department, hubs, counsellors): a profile of nested lists (issue #16) put decoding the
    /// brief row's 18 columns at a third of the server's CPU. A list ordered on anything but the name or the id
    /// reads brief rows instead, since its cursors are made of a brief column ([`SiteParts::ordered_on`]).
    Names,
    /// Names-only, and where the site is: `commune` and `postal_code` too (what a list shows a person, a name and a
    /// place), every other field as [`SiteParts::Names`] leaves it. Ten columns rather than the brief eighteen: on
    /// a page of 50 sites asking `sourceId name commune postalCode department { … }`, the brief read's decoding was
    /// a sixth of the server's instructions per request (issue #16). Ordered as [`SiteParts::Names`] is.
    Places,
}

impl SiteParts {
    /// Whether every column of the row was read (all of `Site::data` but, perhaps, its values).
    #[must_use]
    pub fn has_row(self) -> bool {
        !matches!(self, Self::Brief | Self::Names | Self::Places)
    }

    /// Whether at least the brief columns were read (see [`SiteParts::Brief`]): everything but a names-only or
    /// names-and-places read.
    #[must_use]
    pub fn has_brief(self) -> bool {
        !matches!(self, Self::Names | Self::Places)
    }

    /// Whether `commune` and `postal_code` were read: everything but a names-only read.
    #[must_use]
    pub fn has_place(self) -> bool {
        self != Self::Names
    }

    /// The parts a list ordered on `field` reads: a names-only read becomes a brief one when the order's key, which
    /// its cursors carry, is a brief column (dates, distance, relevance) rather than the name or the id.
    #[must_use]
    pub fn ordered_on(self, field: SiteOrderField) -> Self {
        match (self, field) {
            (Self::Names | Self::Places, SiteOrderField::Name | SiteOrderField::Id) => self,
            (Self::Names | Self::Places, _) => Self::Brief,
            (other, _) => other,
        }
    }

    /// Whether the multi-valued fields (`Site::data.values`) were read.
    #[must_use]
    pub fn has_values(self) -> bool {
        self == Self::Whole
    }
}

/// What the inner statement of a batched page on PostgreSQL depends on, for the default filter from the start of the
/// list (the departments are outside it, in the `VALUES` it is joined to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct InnerPageKey {
    parts: SiteParts,
    order: SiteOrder,
    first: u32,
    with_total: bool,
}

/// An inner statement's SQL and parameters.
type InnerPage = (String, Vec<sea_orm::Value>);

/// The most inner statements [`INNER_PAGES`] keeps; a dashboard uses a handful.
const KEPT_INNER_PAGES: usize = 64;

/// Inner statements of batched pages already built, SQL and parameters.
///
/// Why: building one with sea-query (a select cloned, conditions, a subquery for the count, the text written out)
/// was 6 % of the instructions of a department's page of 50 sites (issue #16), for a text that depends only on
/// [`InnerPageKey`] when the filter is the default one.
static INNER_PAGES: LazyLock<Mutex<HashMap<InnerPageKey, InnerPage>>> =
    LazyLock::new(Mutex::default);

/// The inner statement kept for `key`, if any.
fn inner_page(key: &InnerPageKey) -> Option<InnerPage> {
    INNER_PAGES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(key)
        .cloned()
}

/// Keeps the inner statement built for `key` (the map emptied first when full).
fn keep_inner_page(key: InnerPageKey, inner: &InnerPage) {
    let mut kept = INNER_PAGES.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.len() >= KEPT_INNER_PAGES {
        kept.clear();
    }
    kept.insert(key, inner.clone());
}

/// One page of sites per department, for nested lists (`department { sites(first:) }`), in a fixed number of
/// statements whatever the number of departments: one top-N per department, which walks the
/// `(department_code, sort_name, id)` index for the page's rows only (a `LATERAL` join on PostgreSQL, a
/// `UNION ALL` on SQLite).
#[tracing::instrument(skip_all, fields(departments = departments.len()))]
pub async fn list_sites_by_departments<C: ConnectionTrait>(
    db: &C,
    departments: &[DepartmentCode],
    filter: &SiteFilter,
    order: SiteOrder,
    page: &PageRequest,
) -> Result<HashMap<DepartmentCode, Page<Site>>, SitesError> {
    list_site_parts_by_departments(db, departments, filter, order, page, SiteParts::Whole).await
}

/// [`list_sites_by_departments`], loading only `read.parts` of each site, and computing cursors only if
/// `read.cursors` (a [`SiteParts`] alone computes them).
#[tracing::instrument(skip_all, fields(departments = departments.len()))]
pub async fn list_site_parts_by_departments<C: ConnectionTrait>(
    db: &C,
    departments: &[DepartmentCode],
    filter: &SiteFilter,
    order: SiteOrder,
    page: &PageRequest,
    read: impl Into<SiteRead>,
) -> Result<HashMap<DepartmentCode, Page<Site>>, SitesError> {
    let SiteRead { parts, cursors } = read.into();
    let mut out: HashMap<DepartmentCode, Page<Site>> = HashMap::new();
    if departments.is_empty() {
        return Ok(out);
    }
    check_order(order, filter)?;
    let order = order.scan(page);
    // Per-department lists are short and ordered by name when asked for relevance: ranking is for the one list
    // a person reads, and it keeps the window function below a plain column order.
    let mut order = order;
    if order.field == SiteOrderField::Relevance {
        order.field = SiteOrderField::Name;
    }
    let parts = parts.ordered_on(order.field);
    let resolved = resolve(db, filter, &SiteSync::default()).await?;
    let dep_cond =
        site::Column::DepartmentCode.is_in(departments.iter().map(|d| d.as_str().to_owned()));
    let base = resolved.condition.clone().add(dep_cond);
    let mut totals: HashMap<String, u64> = HashMap::new();
    let mut distances: HashMap<i32, f64> = HashMap::new();
    let sites: Vec<(Site, String)> = if resolved.needs_candidates() {
        let candidates = candidates(db, base, order, &resolved).await?;
        let after_key = page
            .after
            .as_ref()
            .map(Cursor::decode::<CursorKey>)
            .transpose()?;
        let mut ids_by_dep: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for c in &candidates {
            let Some(dep) = &c.department_code else {
                continue;
            };
            *totals.entry(dep.clone()).or_default() += 1;
            let ids = ids_by_dep.entry(dep.clone()).or_default();
            if ids.len() <= page.first as usize
                && after_key.as_ref().is_none_or(|k| is_after(c, k, order))
            {
                ids.push(c.id);
                if let Some(d) = c.distance_km {
                    distances.insert(c.id, d);
                }
            }
        }
        let all_ids: Vec<i32> = ids_by_dep.values().flatten().copied().collect();
        sites_in_order(db, &all_ids, parts).await?
    } else {
        let backend = db.get_database_backend();
        let dir = if order.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        // The page of the department `code` names, plus one row to tell whether there is a next page: by name, a
        // walk of the `(department_code, sort_name, id)` index for these rows only.
        let in_department =
            |code: Expr| Expr::col((site::Entity, site::Column::DepartmentCode)).eq(code);
        let page_of = |code: Expr| -> Result<SelectStatement, SitesError> {
            let mut inner: SelectStatement = site_select(parts)
                .filter(resolved.condition.clone())
                .filter(in_department(code))
                .into_query();
            if let Some(after) = &page.after {
                inner.cond_where(after_condition(order, after, None)?);
            }
            match order.field {
                SiteOrderField::Id => {}
                field => {
                    inner.order_by(order_column(field), dir.clone());
                }
            }
            inner
                .order_by(site::Column::Id, dir.clone())
                .limit(u64::from(page.first) + 1);
            Ok(inner)
        };
        // With `totalCount`, the department's count rides along with its page, in the same statement (one round
        // trip and one statement fewer per request, issue #16), with the page's conditions but the cursor (the
        // number the department's own list counts), from the live partial index alone as a separate count did.
        // Each row also names the department it counts (`ASKED_CODE`), for a department whose page is empty.
        let listed = |code: Expr| -> Result<SelectStatement, SitesError> {
            let mut page_statement = page_of(code.clone())?;
            if !page.with_total {
                return Ok(page_statement);
            }
            let count = Query::select()
                .expr_as(Expr::cust("COUNT(*)"), TOTAL_COUNT)
                .from(site::Entity)
                .cond_where(resolved.condition.clone())
                .and_where(in_department(code.clone()))
                .to_owned();
            if backend == DatabaseBackend::Postgres {
                // A scalar subquery here would depend on `asked.code`, and PostgreSQL would run it again for every
                // row of the page: `counted` is one row per department instead (an aggregate without `GROUP BY`),
                // the page `LEFT JOIN`ed to it, so a department whose page is empty still answers one row, its
                // site columns NULL, carrying its count.
                return Ok(Query::select()
                    .column(("ranked", Asterisk))
                    .column(("counted", TOTAL_COUNT))
                    .expr_as(code, ASKED_CODE)
                    .from_subquery(count, "counted")
                    .join_subquery(
                        JoinType::LeftJoin,
                        page_statement,
                        "ranked",
                        Expr::cust("TRUE"),
                    )
                    .to_owned());
            }
            // On SQLite each department is its own arm with its code bound: the count is an uncorrelated scalar
            // subquery, computed once per arm beside the page's index walk. (The `LEFT JOIN` form above
            // materialises the page first: about a third slower than the two statements it replaces, where this
            // costs what they did.) A department whose page is empty answers no row: see `missing` below.
            page_statement
                .expr_as(Expr::SubQuery(None, Box::new(count.into())), TOTAL_COUNT)
                .expr_as(code, ASKED_CODE);
            Ok(page_statement)
        };
        // Each department once: a repeated one would repeat its rows.
        let asked: BTreeSet<&str> = departments.iter().map(DepartmentCode::as_str).collect();
        let stmt = if backend == DatabaseBackend::Postgres {
            // One index walk per department for its page's rows (plus one to tell whether there is a next
            // page), instead of ranking every row of every department: the departments are literals (codes are
            // validated: two or three letters and digits), the inner statement keeps its own parameters.
            let key = InnerPageKey {
                parts,
                order,
                first: page.first,
                with_total: page.with_total,
            };
            // Only the default filter from the start of the list: its inner statement depends on nothing else.
            let cacheable = page.after.is_none() && *filter == SiteFilter::default();
            let (inner_sql, values) = match cacheable.then(|| inner_page(&key)).flatten() {
                Some(kept) => kept,
                None => {
                    let built = backend.build(&listed(Expr::cust("asked.code"))?);
                    let inner = (built.sql, built.values.map(|v| v.0).unwrap_or_default());
                    if cacheable {
                        keep_inner_page(key, &inner);
                    }
                    inner
                }
            };
            let codes: Vec<String> = asked
                .iter()
                .map(|d| format!("('{}')", d.replace('\'', "''")))
                .collect();
            // The page size written out, so that PostgreSQL keeps the plan (see `literal_limits`).
            maillage_core::db::literal_limits(sea_orm::Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT listed.* FROM (VALUES {}) AS asked(code) CROSS JOIN LATERAL ({inner_sql}) AS listed",
                    codes.join(", ")
                ),
                values,
            ))
        } else {
            // SQLite has no LATERAL: the same walks as one `UNION ALL` of a limited select per department, each
            // with its own copy of the parameters; at most 101 of them (a `DepartmentCode` is one of the 101), well
            // under SQLite's 500 terms of a compound select. (A window function ranking the departments' rows read
            // and sorted every row of them: about 85 ms for twelve departments at 100 000 sites, against 6 ms.)
            let mut arms: Vec<String> = Vec::with_capacity(asked.len());
            let mut values: Vec<sea_orm::Value> = Vec::new();
            for code in &asked {
                let built = backend.build(&listed(Expr::val(*code))?);
                arms.push(format!("SELECT * FROM ({})", built.sql));
                values.extend(built.values.map(|v| v.0).unwrap_or_default());
            }
            sea_orm::Statement::from_sql_and_values(backend, arms.join(" UNION ALL "), values)
        };
        let (sites, counts) = if page.with_total {
            read_counted_sites(db, stmt, parts, true, true).await?
        } else {
            (read_sites(db, stmt, parts, true).await?, HashMap::new())
        };
        totals.extend(counts.into_iter().filter_map(|(dep, n)| Some((dep?, n))));
        // A department that answered no row (on SQLite, an empty page) has no site from the start of its list
        // (`LIMIT` is at least one): its count is 0. After a cursor (a page past the end, rare), its count is one
        // more statement, for those departments only.
        let missing: Vec<&str> = asked
            .iter()
            .copied()
            .filter(|d| !totals.contains_key(*d))
            .collect();
        if page.with_total && page.after.is_some() && !missing.is_empty() {
            let counts: Vec<(Option<String>, i64)> = site::Entity::find()
                .select_only()
                .column(site::Column::DepartmentCode)
                .column_as(Expr::cust("COUNT(*)"), TOTAL_COUNT)
                .filter(resolved.condition.clone())
                .filter(site::Column::DepartmentCode.is_in(missing))
                .group_by(site::Column::DepartmentCode)
                .into_tuple()
                .all(db)
                .await?;
            totals.extend(
                counts
                    .into_iter()
                    .filter_map(|(dep, n)| Some((dep?, u64::try_from(n).ok()?))),
            );
        }
        sites
    };
    // Each department's rows in a vector sized for its page at once (they were grown from four by doubling, each
    // step copying the sites), keyed without a new string per row.
    let per_department = usize::try_from(page.first).unwrap_or(0).saturating_add(1);
    // Hashed with FxHash: one look-up per row, SipHash's cost was 1 % of a department's page of 50 (issue #16); the
    // keys are the rows' own department codes, read back from the database.
    let mut grouped: FxHashMap<String, Vec<(Site, String)>> = FxHashMap::default();
    for (mut s, sort_name) in sites {
        s.distance_km = distances.get(&s.id.0).copied();
        let Some(dep) = &s.department_code else {
            continue;
        };
        let value = cursor_value(&s, sort_name, order.field, None);
        if let Some(rows) = grouped.get_mut(dep.as_str()) {
            rows.push((s, value));
        } else {
            let mut rows = Vec::with_capacity(per_department);
            let dep = dep.as_str().to_owned();
            rows.push((s, value));
            grouped.insert(dep, rows);
        }
    }
    for dep in departments {
        // A department asked twice already has its page (its rows were taken the first time).
        if out.contains_key(dep) {
            continue;
        }
        let mut rows = grouped.remove(dep.as_str()).unwrap_or_default();
        // The statement returns each department's rows in order, but nothing in SQL promises that the rows of a
        // `LATERAL` join or of a `UNION ALL` arm keep it: sorted again on their cursor values, borrowed, which is
        // a single pass over rows already in order.
        rows.sort_by(|(a, ka), (b, kb)| {
            let ord = (ka.as_str(), a.id.0).cmp(&(kb.as_str(), b.id.0));
            if order.descending { ord.reverse() } else { ord }
        });
        let total = page
            .with_total
            .then(|| totals.get(dep.as_str()).copied().unwrap_or_default());
        let page = Page::from_rows(rows, page, total, |(s, value)| {
            if cursors {
                Cursor::encode(&(value.as_str(), s.id.0))
            } else {
                Cursor::unselected()
            }
        });
        out.insert(dep.clone(), page.map(|(s, _)| s));
    }
    Ok(out)
}

/// Sites by id, in no particular order; unknown ids are simply absent (for `node(id:)` and DataLoaders).
#[tracing::instrument(skip_all, fields(ids = ids.len()))]
pub async fn sites_by_ids<C: ConnectionTrait>(
    db: &C,
    ids: &[SiteId],
) -> Result<Vec<Site>, SitesError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = site::Entity::find()
        .filter(site::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .filter(site::Column::ArchivedAt.is_null())
        .filter(site::Column::MergedInto.is_null())
        .all(db)
        .await?;
    hydrate(db, rows).await
}

/// A site by its origin, `(source, source_id)`, archived or not (an archived one is a tombstone: `archived_at`).
pub async fn site_by_source<C: ConnectionTrait>(
    db: &C,
    source: &str,
    source_id: &str,
) -> Result<Option<Site>, SitesError> {
    site_parts_by_source(db, source, source_id, SiteParts::Whole).await
}

/// [`site_by_source`] reading only `parts` of the site: a caller that knows what it will serve (a GraphQL selection)
/// reads the brief columns or leaves the values out, as lists do (one statement, two for [`SiteParts::Whole`]).
/// `merged_into` and `archived_at` are read by every part, so a caller can follow a merge or see a tombstone.
#[tracing::instrument(skip_all)]
pub async fn site_parts_by_source<C: ConnectionTrait>(
    db: &C,
    source: &str,
    source_id: &str,
    parts: SiteParts,
) -> Result<Option<Site>, SitesError> {
    let stmt = site_select(parts)
        .filter(site::Column::Source.eq(source))
        .filter(site::Column::SourceId.eq(source_id))
        .build(db.get_database_backend());
    first_site(db, stmt, parts).await
}

/// One site by id.
pub async fn get_site<C: ConnectionTrait>(db: &C, id: SiteId) -> Result<Option<Site>, SitesError> {
    get_site_parts(db, id, SiteParts::Whole).await
}

/// [`get_site`] reading only `parts` of the site (see [`site_parts_by_source`]): live and canonical sites only, as
/// [`sites_by_ids`].
#[tracing::instrument(skip_all)]
pub async fn get_site_parts<C: ConnectionTrait>(
    db: &C,
    id: SiteId,
    parts: SiteParts,
) -> Result<Option<Site>, SitesError> {
    let stmt = site_select(parts)
        .filter(site::Column::Id.eq(id.0))
        .filter(site::Column::ArchivedAt.is_null())
        .filter(site::Column::MergedInto.is_null())
        .build(db.get_database_backend());
    first_site(db, stmt, parts).await
}

/// One live row by id, even a source record merged into a canonical site (for writes to that record).
pub(crate) async fn get_record<C: ConnectionTrait>(
    db: &C,
    id: SiteId,
) -> Result<Option<Site>, SitesError> {
    let rows = site::Entity::find_by_id(id.0)
        .filter(site::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    Ok(hydrate(db, rows).await?.into_iter().next())
}

/// The value a site's cursor carries for `field`, besides its id, which is also what a list in memory sorts on.
/// `sort_name` is the one stored with the row: folded when the site was written, it is what SQL orders and pages
/// on, and folding every name again was most of the CPU of sorting and paging a nested list (issue #16).
fn cursor_value(
    site: &Site,
    sort_name: String,
    field: SiteOrderField,
    text: Option<&TextQuery>,
) -> String {
    match field {
        SiteOrderField::Name => sort_name,
        SiteOrderField::Relevance => {
            let tier = text.map_or(0, |q| q.tier(&crate::search::document(&site.data)));
            format!("{tier}:{sort_name}")
        }
        SiteOrderField::Distance => distance_key(site.distance_km.unwrap_or_default()),
        SiteOrderField::UpdatedOn => site.data.updated_on.to_string(),
        SiteOrderField::UpdatedAt => instant_key(site.updated_at),
        SiteOrderField::Id => String::new(),
    }
}

/// A distance as a fixed-width string (metres, zero-padded), so string order is distance order in cursors.
fn distance_key(km: f64) -> String {
    format!("{:012.3}", km * 1000.0)
}

/// An instant as a fixed-width UTC string (nanoseconds), so string order is time order in cursors and candidates.
fn instant_key(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// The key sites are sorted by name on: folded so that case and accents do not scatter a list.
pub(crate) fn sort_name(name: &str) -> String {
    maillage_core::text::fold(name.trim())
}

/// The narrow columns read for candidates: id, department, sort name, date_maj, horaires, updated_at, latitude,
/// longitude, search document.
type CandidateRow = (
    i32,
    Option<String>,
    String,
    NaiveDate,
    Option<String>,
    DateTime<Utc>,
    Option<f64>,
    Option<f64>,
    String,
);

/// A site that passed the criteria evaluated in Rust, with what ordering needs.
struct Candidate {
    id: i32,
    department_code: Option<String>,
    key: String,
    distance_km: Option<f64>,
}

fn is_after(c: &Candidate, after: &CursorKey, order: SiteOrder) -> bool {
    let ord = match order.field {
        SiteOrderField::Id => c.id.cmp(&after.1),
        _ => (c.key.as_str(), c.id).cmp(&(after.0.as_str(), after.1)),
    };
    if order.descending {
        ord == std::cmp::Ordering::Less
    } else {
        ord == std::cmp::Ordering::Greater
    }
}

/// Sites matching `cond` within the radius of `near` (exact haversine distance, over the rows the indexed bounding
/// box kept), in order. Only narrow columns are read.
async fn candidates<C: ConnectionTrait>(
    db: &C,
    cond: Condition,
    order: SiteOrder,
    resolved: &Resolved,
) -> Result<Vec<Candidate>, SitesError> {
    let query = site::Entity::find()
        .select_only()
        .columns([
            site::Column::Id,
            site::Column::DepartmentCode,
            site::Column::SortName,
            site::Column::UpdatedOn,
            site::Column::OpeningHours,
            site::Column::UpdatedAt,
            site::Column::Latitude,
            site::Column::Longitude,
            site::Column::SearchText,
        ])
        .filter(cond);
    let rows: Vec<CandidateRow> = query.into_tuple().all(db).await?;
    let mut out: Vec<Candidate> = Vec::new();
    for (id, dep, name, updated_on, _hours, updated_at, lat, lon, document) in rows {
        let distance_km = match (resolved.near, lat, lon) {
            (Some((centre, radius)), Some(lat), Some(lon)) => {
                let d = haversine_km(centre, (lat, lon));
                if d > radius {
                    continue;
                }
                Some(d)
            }
            (Some(_), _, _) => continue,
            (None, _, _) => None,
        };
        let key = match order.field {
            SiteOrderField::Name => name,
            SiteOrderField::Relevance => {
                let tier = resolved.text.as_ref().map_or(0, |q| q.tier(&document));
                format!("{tier}:{name}")
            }
            SiteOrderField::Distance => distance_key(distance_km.unwrap_or_default()),
            SiteOrderField::UpdatedOn => updated_on.to_string(),
            SiteOrderField::UpdatedAt => instant_key(updated_at),
            SiteOrderField::Id => String::new(),
        };
        out.push(Candidate {
            id,
            department_code: dep,
            key,
            distance_km,
        });
    }
    out.sort_by(|a, b| {
        let ord = (a.key.as_str(), a.id).cmp(&(b.key.as_str(), b.id));
        if order.descending { ord.reverse() } else { ord }
    });
    Ok(out)
}

/// Loads `parts` of sites by id, with their stored `sort_name`, keeping the order of `ids`.
async fn sites_in_order<C: ConnectionTrait>(
    db: &C,
    ids: &[i32],
    parts: SiteParts,
) -> Result<Vec<(Site, String)>, SitesError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let stmt = site_select(parts)
        .filter(site::Column::Id.is_in(ids.iter().copied()))
        .build(db.get_database_backend());
    let sites = read_sites(db, stmt, parts, true).await?;
    let mut by_id: HashMap<i32, (Site, String)> =
        sites.into_iter().map(|s| (s.0.id.0, s)).collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// The multi-valued fields of these sites, in source order (one statement).
pub(crate) async fn load_values<C: ConnectionTrait>(
    db: &C,
    ids: &[i32],
) -> Result<HashMap<i32, Vec<TaggedValue>>, SitesError> {
    let mut out: HashMap<i32, Vec<TaggedValue>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows = site_value::Entity::find()
        .filter(site_value::Column::SiteId.is_in(ids.iter().copied()))
        .order_by_asc(site_value::Column::SiteId)
        .order_by_asc(site_value::Column::Position)
        .all(db)
        .await?;
    for row in rows {
        let Some(kind) = ValueKind::from_key(&row.kind) else {
            return Err(SitesError::CorruptRow {
                id: row.site_id,
                detail: format!("unknown value kind {:?}", row.kind),
            });
        };
        out.entry(row.site_id).or_default().push(TaggedValue {
            kind,
            value: row.value,
            raw: row.raw,
        });
    }
    Ok(out)
}

/// Turns rows into domain sites, loading their multi-valued fields in one statement.
pub(crate) async fn hydrate<C: ConnectionTrait>(
    db: &C,
    rows: Vec<site::Model>,
) -> Result<Vec<Site>, SitesError> {
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let mut values = load_values(db, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let v = values.remove(&row.id).unwrap_or_default();
            from_model(row, v)
        })
        .collect()
}

/// The columns a read of `parts` selects: the whole row, or the brief, names or names-and-places columns in
/// [`BriefRow`]'s or [`NamesRow`]'s order.
///
/// Each is built once and cloned. Why: `Entity::find()` builds an expression for each of the table's 34 columns,
/// which `select_only` then throws away; on a department's page of 50 names that building was about 4 % of the
/// server's instructions per request (issue #16, docs/PERFORMANCE.md), and a clone of the finished select costs a
/// sixth of it.
fn site_select(parts: SiteParts) -> Select<site::Entity> {
    static WHOLE: LazyLock<Select<site::Entity>> = LazyLock::new(site::Entity::find);
    static BRIEF: LazyLock<Select<site::Entity>> = LazyLock::new(|| {
        site::Entity::find()
            .select_only()
            .columns(crate::brief::BRIEF_COLUMNS)
    });
    static NAMES: LazyLock<Select<site::Entity>> = LazyLock::new(|| {
        site::Entity::find()
            .select_only()
            .columns(crate::brief::NAMES_COLUMNS)
    });
    static PLACES: LazyLock<Select<site::Entity>> = LazyLock::new(|| {
        site::Entity::find()
            .select_only()
            .columns(crate::brief::PLACES_COLUMNS)
    });
    match parts {
        SiteParts::Whole | SiteParts::WithoutValues => WHOLE.clone(),
        SiteParts::Brief => BRIEF.clone(),
        SiteParts::Names => NAMES.clone(),
        SiteParts::Places => PLACES.clone(),
    }
}

/// The sites a statement built on [`site_select`]`(parts)` returns, in its order, each with its stored `sort_name`,
/// and with their values for [`SiteParts::Whole`] (one more statement).
///
/// `sort_names: false` leaves the sort names of names-only and names-and-places rows empty, for a caller that
/// computes no cursor: decoding them was a tenth of the decoding of such a page (issue #16).
async fn read_sites<C: ConnectionTrait>(
    db: &C,
    stmt: Statement,
    parts: SiteParts,
    sort_names: bool,
) -> Result<Vec<(Site, String)>, SitesError> {
    let rows = db.query_all_raw(stmt).await?;
    sites_of_rows(db, &rows, parts, sort_names).await
}

/// The one site a look-up statement finds, if any ([`read_sites`] without the sort keys).
async fn first_site<C: ConnectionTrait>(
    db: &C,
    stmt: Statement,
    parts: SiteParts,
) -> Result<Option<Site>, SitesError> {
    Ok(read_sites(db, stmt, parts, false)
        .await?
        .into_iter()
        .next()
        .map(|(site, _)| site))
}

/// The column of a list statement that carries the count of the list, or of the department's list (`totalCount`).
const TOTAL_COUNT: &str = "total_count";

/// The column of a per-department list statement that names the department a row counts, whose page may be empty.
const ASKED_CODE: &str = "asked_code";

/// What a list statement that also counts returns: its sites, as [`read_sites`], and the counts its rows carry in
/// [`TOTAL_COUNT`], by the department named in [`ASKED_CODE`] when `by_department` (else under `None`). A row whose
/// site columns are NULL carries a count only: the department's page is empty.
async fn read_counted_sites<C: ConnectionTrait>(
    db: &C,
    stmt: Statement,
    parts: SiteParts,
    by_department: bool,
    sort_names: bool,
) -> Result<(Vec<(Site, String)>, HashMap<Option<String>, u64>), SitesError> {
    let mut rows = db.query_all_raw(stmt).await?;
    let mut totals: HashMap<Option<String>, u64> = HashMap::new();
    let Some(first) = rows.first() else {
        return Ok((Vec::new(), totals));
    };
    // The three columns' positions, found once: read by name, each row's look-ups hashed the names again, about
    // 8 % of the instructions of a department's page of 50 (issue #16, docs/PERFORMANCE.md).
    let names = first.column_names();
    let position = |name: &str| {
        names.iter().position(|n| n == name).ok_or_else(|| {
            SitesError::Database(DbErr::Custom(format!(
                "a counted page of sites has no column {name}"
            )))
        })
    };
    let (total_at, id_at) = (position(TOTAL_COUNT)?, position("id")?);
    let code_at = by_department.then(|| position(ASKED_CODE)).transpose()?;
    let mut empty = false;
    let mut last: Option<Option<String>> = None;
    for row in &rows {
        let code: Option<String> = code_at.map(|at| column(row, at)).transpose()?;
        // A department's rows come together and carry the same count: one entry each.
        if last.as_ref() != Some(&code) {
            let n: i64 = column(row, total_at)?;
            totals.insert(code.clone(), u64::try_from(n).unwrap_or_default());
            last = Some(code);
        }
        empty |= column::<Option<i32>>(row, id_at)?.is_none();
    }
    if empty {
        // Every row's id was read above: the ones left out are the NULL ones.
        rows.retain(|row| matches!(column::<Option<i32>>(row, id_at), Ok(Some(_))));
    }
    Ok((sites_of_rows(db, &rows, parts, sort_names).await?, totals))
}

/// The sites of rows of a statement built on [`site_select`]`(parts)`, in their order, as [`read_sites`].
async fn sites_of_rows<C: ConnectionTrait>(
    db: &C,
    rows: &[QueryResult],
    parts: SiteParts,
    sort_names: bool,
) -> Result<Vec<(Site, String)>, SitesError> {
    match parts {
        SiteParts::Whole => {
            let mut models = rows
                .iter()
                .map(|row| site::Model::from_query_result(row, ""))
                .collect::<Result<Vec<_>, _>>()?;
            let sort_names: Vec<String> = models
                .iter_mut()
                .map(|row| std::mem::take(&mut row.sort_name))
                .collect();
            Ok(hydrate(db, models)
                .await?
                .into_iter()
                .zip(sort_names)
                .collect())
        }
        SiteParts::WithoutValues => decode_all(rows, |row| {
            let mut row = site::Model::from_query_result(row, "")?;
            let sort_name = std::mem::take(&mut row.sort_name);
            let mut site = from_model(row, Vec::new())?;
            site.parts = SiteParts::WithoutValues;
            Ok((site, sort_name))
        }),
        SiteParts::Brief => decode_all(rows, |row| {
            from_brief(BriefRow::from_query_result(row, "")?)
        }),
        SiteParts::Names | SiteParts::Places => decode_all(rows, |row| {
            from_names(NamesRow::decode(
                row,
                parts == SiteParts::Places,
                sort_names,
            )?)
        }),
    }
}

/// `rows` decoded one by one into a vector allocated once, stopping at the first error.
///
/// Why not `collect::<Result<Vec<_>, _>>()`: its iterator may stop early, so it does not know the length, starts
/// with room for four and doubles, copying every decoded site (about 200 bytes with its sort key) at each step: on
/// Q2's 1 300 sites, `realloc` was the largest caller of `memcpy` (issue #16).
fn decode_all<T>(
    rows: &[QueryResult],
    mut decode: impl FnMut(&QueryResult) -> Result<T, SitesError>,
) -> Result<Vec<T>, SitesError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// A stored row's postal, INSEE and department codes, parsed; a code that no longer parses is a corrupt row. Shared
/// by whole and brief rows ([`crate::brief::from_brief`]), which both read these three columns.
pub(crate) fn parse_codes(
    id: i32,
    postal_code: &str,
    insee_code: Option<&str>,
    department_code: Option<&str>,
) -> Result<(PostalCode, Option<InseeCode>, Option<DepartmentCode>), SitesError> {
    let corrupt = |detail: String| SitesError::CorruptRow { id, detail };
    let postal_code = PostalCode::parse(postal_code).map_err(|e| corrupt(e.to_string()))?;
    let insee_code = insee_code
        .map(InseeCode::parse)
        .transpose()
        .map_err(|e| corrupt(e.to_string()))?;
    let department_code = department_code
        .map(DepartmentCode::parse)
        .transpose()
        .map_err(|e| corrupt(e.to_string()))?;
    Ok((postal_code, insee_code, department_code))
}

pub(crate) fn from_model(m: site::Model, values: Vec<TaggedValue>) -> Result<Site, SitesError> {
    let corrupt = |detail: String| SitesError::CorruptRow { id: m.id, detail };
    let standard_version = StandardVersion::parse(&m.standard_version)
        .ok_or_else(|| corrupt(format!("standard version {:?}", m.standard_version)))?;
    let pivot = Pivot::parse(&m.pivot).map_err(|e| corrupt(e.to_string()))?;
    let (postal_code, insee_code, department_code) = parse_codes(
        m.id,
        &m.postal_code,
        m.insee_code.as_deref(),
        m.department_code.as_deref(),
    )?;
    let emails = m
        .emails
        .as_deref()
        .unwrap_or_default()
        .split('|')
        .filter(|s| !s.is_empty())
        .map(Email::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(Site {
        id: SiteId(m.id),
        source: m.source,
        department_code,
        opening_hours_valid: m.opening_hours_valid,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
        distance_km: None,
        parts: SiteParts::Whole,
        merged_into: m.merged_into.map(SiteId),
        archived_at: m.archived_at,
        data: Box::new(NewSite {
            source_id: m.source_id,
            standard_version,
            pivot,
            name: m.name,
            commune: m.commune,
            postal_code,
            insee_code,
            address: m.address,
            address_complement: m.address_complement,
            latitude: m.latitude,
            longitude: m.longitude,
            ban_key: m.ban_key,
            phone: m.phone,
            emails,
            website: m.website,
            opening_hours: m.opening_hours,
            summary: m.summary,
            description: m.description,
            source_label: m.source_label,
            parent_structure: m.parent_structure,
            updated_on: m.updated_on,
            values,
            other_labels: m.other_labels,
            accessibility_url: m.accessibility_url,
            booking_url: m.booking_url,
        }),
    })
}

/// The condition selecting exactly the sites `filter` lists, for statistics that group them in SQL: a `near`
/// circle becomes the ids within it (the bounding box's candidates, measured here, as the list does). With
/// `with_archived`, archived canonical sites are kept too, for series over the sites' lifetime.
pub(crate) async fn filter_condition<C: ConnectionTrait>(
    db: &C,
    filter: &SiteFilter,
    with_archived: bool,
) -> Result<Condition, SitesError> {
    let sync = SiteSync {
        include_archived: with_archived,
        ..SiteSync::default()
    };
    let resolved = resolve(db, filter, &sync).await?;
    let mut cond = resolved.condition.clone();
    if with_archived && filter.records == SiteRecords::Canonical {
        cond = cond.add(site::Column::MergedInto.is_null());
    }
    if resolved.needs_candidates() {
        let order = SiteOrder {
            field: SiteOrderField::Id,
            descending: false,
        };
        let ids: Vec<i32> = candidates(db, cond, order, &resolved)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        cond = Condition::all().add(site::Column::Id.is_in(ids));
    }
    Ok(cond)
}
