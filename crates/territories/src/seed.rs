//! The reference data embedded from `data/*.csv`, and writing it to the database.
//!
//! Regions and departments are official INSEE facts: the CSVs are the source of truth and the seed brings the
//! database in line with them (inserts and renames, never deletes). Hubs are only a starting point: once a hub
//! exists (matched by slug), it belongs to admins and the seed never touches it or its departments again.

use crate::entity::{department, hub, hub_department, region};
use crate::error::TerritoriesError;
use maillage_core::{DepartmentCode, RegionCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, TransactionSession,
    TransactionTrait, TryInsertResult,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

const REGIONS_CSV: &str = include_str!("../data/regions.csv");
const DEPARTMENTS_CSV: &str = include_str!("../data/departments.csv");
const HUBS_CSV: &str = include_str!("../data/hubs.csv");

/// What [`seed_reference_data`] changed, for the startup log and the `maillage` CLI.
///
/// All zeros means the database already matched the reference data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Regions added.
    pub regions_inserted: u64,
    /// Regions whose name changed in the CSV.
    pub regions_updated: u64,
    /// Departments added.
    pub departments_inserted: u64,
    /// Departments whose name or region changed in the CSV.
    pub departments_updated: u64,
    /// Hubs added (hubs whose slug did not exist yet).
    pub hubs_inserted: u64,
    /// Coverage rows added along with those new hubs.
    pub hub_departments_inserted: u64,
    /// Reported indicators added (see `data/hub_indicators.csv`): those whose hub and code were absent.
    pub indicators_inserted: u64,
}

impl SeedReport {
    /// Whether the seed changed nothing, i.e. the database was already up to date.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "regions +{} ~{}, departments +{} ~{}, hubs +{} (+{} departments), indicators +{}",
            self.regions_inserted,
            self.regions_updated,
            self.departments_inserted,
            self.departments_updated,
            self.hubs_inserted,
            self.hub_departments_inserted,
            self.indicators_inserted
        )
    }
}

/// A region as read from `regions.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeedRegion {
    pub(crate) code: RegionCode,
    pub(crate) name: String,
}

/// A department as read from `departments.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeedDepartment {
    pub(crate) code: DepartmentCode,
    pub(crate) name: String,
    pub(crate) region_code: RegionCode,
}

/// A hub as read from `hubs.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeedHub {
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) website: Option<String>,
    pub(crate) departments: Vec<DepartmentCode>,
}

/// The three CSVs, parsed and checked against each other.
#[derive(Debug, Clone)]
pub(crate) struct ReferenceData {
    pub(crate) regions: Vec<SeedRegion>,
    pub(crate) departments: Vec<SeedDepartment>,
    pub(crate) hubs: Vec<SeedHub>,
}

#[derive(Deserialize)]
struct RegionRecord {
    code: String,
    name: String,
}

#[derive(Deserialize)]
struct DepartmentRecord {
    code: String,
    name: String,
    region_code: String,
}

#[derive(Deserialize)]
struct HubRecord {
    slug: String,
    name: String,
    website: String,
    departments: String,
}

/// The embedded reference data, parsed and checked.
pub(crate) fn reference_data() -> Result<ReferenceData, TerritoriesError> {
    parse_reference_data(REGIONS_CSV, DEPARTMENTS_CSV, HUBS_CSV)
}

fn invalid(file: &'static str, line: u64, reason: impl Into<String>) -> TerritoriesError {
    TerritoriesError::InvalidSeedData {
        file,
        line,
        reason: reason.into(),
    }
}

/// Reads one CSV into `(line, record)` pairs, fields trimmed.
fn read_csv<T: for<'de> Deserialize<'de>>(
    file: &'static str,
    text: &str,
) -> Result<Vec<(u64, T)>, TerritoriesError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| invalid(file, 1, e.to_string()))?
        .clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            invalid(file, line, e.to_string())
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let row = record
            .deserialize(Some(&headers))
            .map_err(|e| invalid(file, line, e.to_string()))?;
        rows.push((line, row));
    }
    Ok(rows)
}

fn non_empty(
    file: &'static str,
    line: u64,
    what: &str,
    value: String,
) -> Result<String, TerritoriesError> {
    if value.is_empty() {
        Err(invalid(file, line, format!("empty {what}")))
    } else {
        Ok(value)
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Parses the three CSVs and checks them against each other: unique codes and slugs, every reference resolves, every
/// region has a department. Separate from [`reference_data`] so tests can feed it broken files.
pub(crate) fn parse_reference_data(
    regions_csv: &str,
    departments_csv: &str,
    hubs_csv: &str,
) -> Result<ReferenceData, TerritoriesError> {
    const R: &str = "regions.csv";
    const D: &str = "departments.csv";
    const H: &str = "hubs.csv";

    let mut regions = Vec::new();
    let mut region_lines = BTreeMap::new();
    for (line, rec) in read_csv::<RegionRecord>(R, regions_csv)? {
        let code = RegionCode::parse(&rec.code).map_err(|e| invalid(R, line, e.to_string()))?;
        if region_lines.insert(code.clone(), line).is_some() {
            return Err(invalid(R, line, format!("duplicate region code {code}")));
        }
        let name = non_empty(R, line, "region name", rec.name)?;
        regions.push(SeedRegion { code, name });
    }

    let mut departments = Vec::new();
    let mut department_codes = HashSet::new();
    let mut regions_with_departments = HashSet::new();
    for (line, rec) in read_csv::<DepartmentRecord>(D, departments_csv)? {
        let code = DepartmentCode::parse(&rec.code).map_err(|e| invalid(D, line, e.to_string()))?;
        if !department_codes.insert(code.clone()) {
            return Err(invalid(
                D,
                line,
                format!("duplicate department code {code}"),
            ));
        }
        let name = non_empty(D, line, "department name", rec.name)?;
        let region_code =
            RegionCode::parse(&rec.region_code).map_err(|e| invalid(D, line, e.to_string()))?;
        if !region_lines.contains_key(&region_code) {
            return Err(invalid(
                D,
                line,
                format!("department {code} refers to unknown region {region_code}"),
            ));
        }
        regions_with_departments.insert(region_code.clone());
        departments.push(SeedDepartment {
            code,
            name,
            region_code,
        });
    }
    for (code, line) in &region_lines {
        if !regions_with_departments.contains(code) {
            return Err(invalid(
                R,
                *line,
                format!("region {code} has no department"),
            ));
        }
    }

    let mut hubs = Vec::new();
    let mut slugs = HashSet::new();
    for (line, rec) in read_csv::<HubRecord>(H, hubs_csv)? {
        if !is_slug(&rec.slug) {
            return Err(invalid(
                H,
                line,
                format!(
                    "slug {:?} is not lowercase ASCII words joined by '-'",
                    rec.slug
                ),
            ));
        }
        if !slugs.insert(rec.slug.clone()) {
            return Err(invalid(H, line, format!("duplicate hub slug {}", rec.slug)));
        }
        let name = non_empty(H, line, "hub name", rec.name)?;
        let website = match rec.website.as_str() {
            "" => None,
            url if url.starts_with("https://") || url.starts_with("http://") => Some(rec.website),
            url => {
                return Err(invalid(
                    H,
                    line,
                    format!("website {url:?} is not an http(s) URL"),
                ));
            }
        };
        let mut hub_departments = Vec::new();
        for raw in rec
            .departments
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let code = DepartmentCode::parse(raw).map_err(|e| invalid(H, line, e.to_string()))?;
            if !department_codes.contains(&code) {
                return Err(invalid(
                    H,
                    line,
                    format!("hub {} refers to unknown department {code}", rec.slug),
                ));
            }
            if hub_departments.contains(&code) {
                return Err(invalid(
                    H,
                    line,
                    format!("hub {} lists department {code} twice", rec.slug),
                ));
            }
            hub_departments.push(code);
        }
        if hub_departments.is_empty() {
            return Err(invalid(
                H,
                line,
                format!("hub {} covers no department", rec.slug),
            ));
        }
        hubs.push(SeedHub {
            slug: rec.slug,
            name,
            website,
            departments: hub_departments,
        });
    }

    Ok(ReferenceData {
        regions,
        departments,
        hubs,
    })
}

/// Brings the database in line with the embedded reference data, in one transaction; safe to run at every start.
///
/// - Regions and departments are upserted: missing rows are inserted, rows whose name (or, for departments, region)
///   differs from the CSV are updated. Rows absent from the CSV are left alone (they may be referenced).
/// - A hub is inserted, with its departments, only when no hub has its slug. An existing hub is never updated,
///   even if its CSV row changed: admins edit hubs through the API and those edits must survive restarts. To change
///   a seeded hub in a running installation, edit it through the API, not the CSV.
///
/// Inserts use `ON CONFLICT DO NOTHING`, so two instances starting together do not fail on each other's rows.
/// Running it twice in a row returns an empty [`SeedReport`] the second time.
#[tracing::instrument(skip_all)]
pub async fn seed_reference_data<C: TransactionTrait>(
    db: &C,
) -> Result<SeedReport, TerritoriesError> {
    let data = reference_data()?;
    // Immediate on SQLite: seeding reads before it writes, and a deferred transaction fails at its first write
    // when another connection (a running server, a second instance) wrote in between, instead of waiting its turn.
    let txn = maillage_core::db::begin_write(db).await?;
    let report = seed_in(&txn, &data).await?;
    txn.commit().await?;
    if report.is_empty() {
        tracing::debug!("reference data already up to date");
    } else {
        tracing::info!(%report, "reference data seeded");
    }
    Ok(report)
}

fn inserted(result: TryInsertResult<u64>) -> u64 {
    match result {
        TryInsertResult::Inserted(rows) => rows,
        TryInsertResult::Empty | TryInsertResult::Conflicted => 0,
    }
}

async fn seed_in<C: ConnectionTrait>(
    db: &C,
    data: &ReferenceData,
) -> Result<SeedReport, TerritoriesError> {
    let mut report = SeedReport::default();

    // Regions first: departments reference them.
    let existing: HashMap<String, String> = region::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.code, r.name))
        .collect();
    let mut missing = Vec::new();
    for r in &data.regions {
        match existing.get(r.code.as_str()) {
            None => missing.push(region::ActiveModel {
                code: Set(r.code.as_str().to_owned()),
                name: Set(r.name.clone()),
            }),
            Some(name) if *name != r.name => {
                report.regions_updated += region::Entity::update_many()
                    .col_expr(region::Column::Name, Expr::value(r.name.clone()))
                    .filter(region::Column::Code.eq(r.code.as_str()))
                    .exec(db)
                    .await?
                    .rows_affected;
            }
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        report.regions_inserted = inserted(
            region::Entity::insert_many(missing)
                .on_conflict_do_nothing_on([region::Column::Code])
                .exec_without_returning(db)
                .await?,
        );
    }

    let existing: HashMap<String, (String, String)> = department::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|d| (d.code, (d.name, d.region_code)))
        .collect();
    let mut missing = Vec::new();
    for d in &data.departments {
        match existing.get(d.code.as_str()) {
            None => missing.push(department::ActiveModel {
                code: Set(d.code.as_str().to_owned()),
                name: Set(d.name.clone()),
                region_code: Set(d.region_code.as_str().to_owned()),
            }),
            Some((name, region)) if *name != d.name || region != d.region_code.as_str() => {
                report.departments_updated += department::Entity::update_many()
                    .col_expr(department::Column::Name, Expr::value(d.name.clone()))
                    .col_expr(
                        department::Column::RegionCode,
                        Expr::value(d.region_code.as_str().to_owned()),
                    )
                    .filter(department::Column::Code.eq(d.code.as_str()))
                    .exec(db)
                    .await?
                    .rows_affected;
            }
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        report.departments_inserted = inserted(
            department::Entity::insert_many(missing)
                .on_conflict_do_nothing_on([department::Column::Code])
                .exec_without_returning(db)
                .await?,
        );
    }

    let existing: BTreeSet<String> = hub::Entity::find()
        .select_only()
        .column(hub::Column::Slug)
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let now = chrono::Utc::now();
    for h in data.hubs.iter().filter(|h| !existing.contains(&h.slug)) {
        let new_hub = hub::ActiveModel {
            id: NotSet,
            slug: Set(h.slug.clone()),
            name: Set(h.name.clone()),
            website: Set(h.website.clone()),
            description: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let id = match hub::Entity::insert(new_hub)
            .on_conflict_do_nothing_on([hub::Column::Slug])
            .exec(db)
            .await?
        {
            TryInsertResult::Inserted(result) => result.last_insert_id,
            // Another instance created it since our SELECT: it is theirs now.
            TryInsertResult::Empty | TryInsertResult::Conflicted => continue,
        };
        report.hubs_inserted += 1;
        let coverage = h
            .departments
            .iter()
            .map(|code| hub_department::ActiveModel {
                hub_id: Set(id),
                department_code: Set(code.as_str().to_owned()),
            });
        report.hub_departments_inserted += hub_department::Entity::insert_many(coverage)
            .exec_without_returning(db)
            .await?;
    }
    report.indicators_inserted = crate::indicators::seed_hub_indicators(db).await?;

    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn data() -> ReferenceData {
        reference_data().unwrap_or_else(|e| panic!("{e}"))
    }

    fn dep(code: &str) -> DepartmentCode {
        DepartmentCode::parse(code).unwrap()
    }

    #[test]
    fn embedded_csvs_parse() {
        let data = data();
        assert_eq!(data.regions.len(), 18);
        assert_eq!(data.departments.len(), 101);
        assert_eq!(data.hubs.len(), 10);
    }

    #[test]
    fn department_codes_are_unique_and_regions_exist() {
        let data = data();
        let codes: HashSet<_> = data.departments.iter().map(|d| &d.code).collect();
        assert_eq!(codes.len(), 101);
        let regions: HashSet<_> = data.regions.iter().map(|r| &r.code).collect();
        assert_eq!(regions.len(), 18);
        for d in &data.departments {
            assert!(
                regions.contains(&d.region_code),
                "{} -> {}",
                d.code,
                d.region_code
            );
        }
        for r in &data.regions {
            assert!(
                data.departments.iter().any(|d| d.region_code == r.code),
                "region {} has no department",
                r.code
            );
        }
    }

    #[test]
    fn departments_per_region_match_insee() {
        let data = data();
        let count = |region: &str| {
            data.departments
                .iter()
                .filter(|d| d.region_code.as_str() == region)
                .count()
        };
        let expected = [
            ("01", 1),
            ("02", 1),
            ("03", 1),
            ("04", 1),
            ("06", 1),
            ("11", 8),
            ("24", 6),
            ("27", 8),
            ("28", 5),
            ("32", 5),
            ("44", 10),
            ("52", 5),
            ("53", 4),
            ("75", 12),
            ("76", 13),
            ("84", 12),
            ("93", 6),
            ("94", 2),
        ];
        for (region, n) in expected {
            assert_eq!(count(region), n, "region {region}");
        }
        let region_of = |code: &str| {
            data.departments
                .iter()
                .find(|d| d.code.as_str() == code)
                .map(|d| d.region_code.as_str().to_owned())
        };
        for (dep, region) in [
            ("2A", "94"),
            ("2B", "94"),
            ("971", "01"),
            ("972", "02"),
            ("973", "03"),
            ("974", "04"),
            ("976", "06"),
        ] {
            assert_eq!(region_of(dep).as_deref(), Some(region), "department {dep}");
        }
    }

    #[test]
    fn hubs_reference_existing_departments_and_never_share_one() {
        let data = data();
        let codes: HashSet<_> = data.departments.iter().map(|d| &d.code).collect();
        let mut owner: HashMap<&DepartmentCode, &str> = HashMap::new();
        for h in &data.hubs {
            for d in &h.departments {
                assert!(
                    codes.contains(d),
                    "hub {} -> unknown department {d}",
                    h.slug
                );
                if let Some(other) = owner.insert(d, &h.slug) {
                    panic!("department {d} is in hubs {other} and {}", h.slug);
                }
            }
        }
    }

    #[test]
    fn hubs_cover_their_regions() {
        let data = data();
        let hub = |slug: &str| data.hubs.iter().find(|h| h.slug == slug).unwrap();
        let region_departments = |region: &str| -> BTreeSet<DepartmentCode> {
            data.departments
                .iter()
                .filter(|d| d.region_code.as_str() == region)
                .map(|d| d.code.clone())
                .collect()
        };
        for (slug, region) in [
            ("hinaura", "84"),
            ("hubik", "75"),
            ("hub-mednum-bfc", "27"),
            ("hub-du-sud", "93"),
            ("les-assembleurs", "32"),
            ("francil-in", "11"),
            ("conumm", "52"),
        ] {
            let covered: BTreeSet<_> = hub(slug).departments.iter().cloned().collect();
            assert_eq!(covered, region_departments(region), "hub {slug}");
        }
        let covered = |slug: &str| hub(slug).departments.clone();
        assert_eq!(covered("rhinocc"), ["11", "31", "32", "65"].map(dep));
        assert_eq!(
            covered("hub-antilles-guyane"),
            ["971", "972", "973"].map(dep)
        );
        assert_eq!(covered("hub-ultra-numerique"), ["974", "976"].map(dep));
        assert_eq!(hub("francil-in").name, "Francil'IN");
        assert_eq!(hub("hub-ultra-numerique").name, "Hub Ultra Numérique");
    }

    #[test]
    fn names_keep_their_accents() {
        let data = data();
        let name = |code: &str| {
            data.departments
                .iter()
                .find(|d| d.code.as_str() == code)
                .map(|d| d.name.as_str())
        };
        assert_eq!(name("07"), Some("Ardèche"));
        assert_eq!(name("974"), Some("La Réunion"));
        assert_eq!(name("21"), Some("Côte-d'Or"));
        assert!(
            data.regions
                .iter()
                .any(|r| r.name == "Provence-Alpes-Côte d'Azur")
        );
    }

    fn expect_invalid(regions: &str, departments: &str, hubs: &str, file: &str, line: u64) {
        match parse_reference_data(regions, departments, hubs) {
            Err(TerritoriesError::InvalidSeedData {
                file: f,
                line: l,
                reason,
            }) => {
                assert_eq!((f, l), (file, line), "{reason}");
            }
            other => panic!("expected invalid seed data, got {other:?}"),
        }
    }

    const REGIONS: &str = "code,name\n84,Auvergne-Rhône-Alpes\n";
    const DEPARTMENTS: &str = "code,name,region_code\n01,Ain,84\n";
    const HUBS: &str = "slug,name,website,departments\nhinaura,Hinaura,,01\n";

    #[test]
    fn broken_seed_data_is_reported_with_its_line() {
        assert!(parse_reference_data(REGIONS, DEPARTMENTS, HUBS).is_ok());
        expect_invalid(
            "code,name\n84,A\n84,B\n",
            DEPARTMENTS,
            HUBS,
            "regions.csv",
            3,
        );
        expect_invalid(
            "code,name\n84,A\n93,B\n",
            DEPARTMENTS,
            HUBS,
            "regions.csv",
            3,
        );
        expect_invalid(
            REGIONS,
            "code,name,region_code\n01,Ain,93\n",
            HUBS,
            "departments.csv",
            2,
        );
        expect_invalid(
            REGIONS,
            "code,name,region_code\n1,Ain,84\n",
            HUBS,
            "departments.csv",
            2,
        );
        expect_invalid(
            REGIONS,
            "code,name,region_code\n01,,84\n",
            HUBS,
            "departments.csv",
            2,
        );
        let hubs = |row: &str| format!("slug,name,website,departments\n{row}\n");
        expect_invalid(
            REGIONS,
            DEPARTMENTS,
            &hubs("hinaura,Hinaura,,02"),
            "hubs.csv",
            2,
        );
        expect_invalid(
            REGIONS,
            DEPARTMENTS,
            &hubs("hinaura,Hinaura,,"),
            "hubs.csv",
            2,
        );
        expect_invalid(
            REGIONS,
            DEPARTMENTS,
            &hubs("Hinaura,Hinaura,,01"),
            "hubs.csv",
            2,
        );
        expect_invalid(
            REGIONS,
            DEPARTMENTS,
            &hubs("hinaura,Hinaura,hinaura.fr,01"),
            "hubs.csv",
            2,
        );
        expect_invalid(
            REGIONS,
            DEPARTMENTS,
            &hubs("hinaura,Hinaura,,01;01"),
            "hubs.csv",
            2,
        );
        expect_invalid(
            REGIONS,
            DEPARTMENTS,
            &hubs("hinaura,Hinaura,,01,extra"),
            "hubs.csv",
            2,
        );
    }

    #[test]
    fn empty_report_displays_zeros() {
        assert!(SeedReport::default().is_empty());
        assert_eq!(
            SeedReport::default().to_string(),
            "regions +0 ~0, departments +0 ~0, hubs +0 (+0 departments), indicators +0"
        );
    }
}
