//! Sites services on a real database: SQLite in memory by default, a fresh PostgreSQL database per test when
//! `TEST_DATABASE_URL` is set.
//!
//! Fixtures are small files written to a temporary directory by each test; only
//! `real_hub_files_import_completely_and_idempotently` reads the hubs' real files from `../shared/data/lieux`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use maillage_core::actor::HubScope;
use maillage_core::pagination::{Cursor, Page, PageRequest};
use maillage_core::{Actor, DepartmentCode, ErrorCode, RegionCode, Role, SiteId};
use maillage_sites::export::{ExportScope, export_v1};
use maillage_sites::import::{
    FeedPolicy, ImportOptions, ImportSummary, IssueKind, Location, Progress, ReportLine,
    import_file,
};
use maillage_sites::standard::V1_COLUMNS;
use maillage_sites::{
    BoundingBox, Origin, Site, SiteFilter, SiteOrder, SiteOrderField, SiteParts, SitePatch,
    SitesError, ValueKind, discard_unfinished_staging, get_site, list_site_parts_by_departments,
    list_sites, list_sites_by_departments, provenance_of, sites_by_ids,
};
use maillage_sites::{datainclusion, geojson};
use maillage_testkit::TestDb;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[path = "db/brief.rs"]
mod brief;
#[path = "db/departments.rs"]
mod departments;
#[path = "db/feeds.rs"]
mod feeds;
#[path = "db/search.rs"]
mod search;
#[path = "db/statistics.rs"]
mod statistics;

// ---------------------------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------------------------

/// A fresh database with the territories' reference data (departments, regions, hubs), and a directory for fixtures.
struct Env {
    t: TestDb,
    dir: tempfile::TempDir,
}

async fn env() -> Env {
    let t = TestDb::new().await;
    maillage_territories::seed_reference_data(&t.db)
        .await
        .unwrap();
    Env {
        t,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Env {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes raw bytes as a fixture file.
    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Writes rows as a JSON array (the form of the v0.1 files hubs publish).
    fn json(&self, name: &str, rows: &[Value]) -> PathBuf {
        self.write(name, serde_json::to_string_pretty(rows).unwrap())
    }

    /// Writes rows as a v1.0.2 CSV with every column of the schema, in its order; absent keys are empty cells.
    fn v1_csv(&self, name: &str, rows: &[BTreeMap<String, String>]) -> PathBuf {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(V1_COLUMNS).unwrap();
        for row in rows {
            let unknown: Vec<&String> = row
                .keys()
                .filter(|k| !V1_COLUMNS.contains(&k.as_str()))
                .collect();
            assert!(
                unknown.is_empty(),
                "fixture uses unknown columns {unknown:?}"
            );
            w.write_record(
                V1_COLUMNS
                    .iter()
                    .map(|c| row.get(*c).map_or("", String::as_str)),
            )
            .unwrap();
        }
        self.write(name, w.into_inner().unwrap())
    }

    /// Imports a file as `actor` under `source`, collecting the report.
    async fn import_as(
        &self,
        actor: &Actor,
        path: &Path,
        source: &str,
    ) -> Result<Imported, SitesError> {
        let mut report = Vec::new();
        let mut on_report = |line: &ReportLine| report.push(line.clone());
        let summary = import_file(
            &self.t.db,
            actor,
            path,
            &ImportOptions {
                source: source.to_owned(),
                ..ImportOptions::default()
            },
            &mut on_report,
            &|_| {},
        )
        .await?;
        Ok(Imported { summary, report })
    }

    /// Imports as an admin, which must succeed.
    async fn import(&self, path: &Path, source: &str) -> Imported {
        self.import_as(&Actor::cli(), path, source)
            .await
            .unwrap_or_else(|e| panic!("import of {} failed: {e}", path.display()))
    }

    async fn hinaura_coordinator(&self) -> Actor {
        hub_coordinator(&self.t, "hinaura").await
    }

    /// Every site, in id order (walks pages, so it works whatever the number of sites).
    async fn all_sites(&self) -> Vec<Site> {
        walk(
            &self.t,
            &SiteFilter::default(),
            by(SiteOrderField::Id, false),
            100,
        )
        .await
    }

    /// The site with this identity.
    async fn site(&self, source: &str, source_id: &str) -> Site {
        self.find(source, source_id)
            .await
            .unwrap_or_else(|| panic!("no site {source}:{source_id}"))
    }

    async fn find(&self, source: &str, source_id: &str) -> Option<Site> {
        self.all_sites()
            .await
            .into_iter()
            .find(|s| s.source == source && s.data.source_id == source_id)
    }

    /// Rows in `site` and `site_value`, read with plain SQL so that nothing the services do can hide a write.
    async fn table_counts(&self) -> (i64, i64) {
        (
            count_rows(&self.t, "site").await,
            count_rows(&self.t, "site_value").await,
        )
    }

    /// Everything an import could have changed: both tables' row counts and every site's content.
    async fn snapshot(&self) -> ((i64, i64), Vec<Site>) {
        (self.table_counts().await, self.all_sites().await)
    }
}

/// What an import returned, with every report line it emitted.
#[derive(Debug)]
struct Imported {
    summary: ImportSummary,
    report: Vec<ReportLine>,
}

impl Imported {
    fn lines(&self, field: &str) -> Vec<&ReportLine> {
        self.report.iter().filter(|l| l.field == field).collect()
    }

    fn rejected_ids(&self) -> HashSet<Option<String>> {
        self.report
            .iter()
            .filter(|l| l.kind == IssueKind::Rejected)
            .map(|l| l.source_id.clone())
            .collect()
    }

    /// Every row of the file is accounted for, and every rejected row has at least one report line.
    fn assert_accounts_for(&self, rows: u64) {
        let s = &self.summary;
        assert_eq!(s.rows, rows, "rows read: {s:?}");
        assert_eq!(s.stored() + s.rejected, rows, "stored + rejected: {s:?}");
        let rejected_locations: HashSet<String> = self
            .report
            .iter()
            .filter(|l| l.kind == IssueKind::Rejected)
            .map(|l| l.location.to_string())
            .collect();
        assert_eq!(
            rejected_locations.len() as u64,
            s.rejected,
            "one location per rejected row: {:#?}",
            self.report
        );
    }
}

async fn count_rows(t: &TestDb, table: &str) -> i64 {
    let row =
        t.db.query_one_raw(Statement::from_string(
            t.db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn hub_coordinator(t: &TestDb, slug: &str) -> Actor {
    let hub = maillage_territories::hub_by_slug(&t.db, slug)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no hub {slug}"));
    let scope: HubScope = maillage_territories::hub_scope(&t.db, hub.id)
        .await
        .unwrap();
    Actor::hub_coordinator(scope, slug)
}

/// Runs `f` and returns its output with the number of SQL statements it ran (and their text, for messages).
async fn counting<T>(t: &TestDb, f: impl Future<Output = T>) -> (T, u64, Vec<String>) {
    let counter = t.statement_counter();
    counter.start_log();
    let before = t.statements();
    let out = f.await;
    let ran = t.statements() - before;
    (out, ran, counter.take_log())
}

// ---------------------------------------------------------------------------------------------------------------
// Fixture rows
// ---------------------------------------------------------------------------------------------------------------

/// A v0.1 JSON row with every field v0.1 requires; `extra` adds or overrides fields, and an empty value removes one.
fn v01(id: &str, nom: &str, code_postal: &str, extra: &[(&str, &str)]) -> Value {
    let mut row = json!({
        "id": id,
        "pivot": "00000000000000",
        "nom": nom,
        "commune": "Commune",
        "code_postal": code_postal,
        "adresse": "1 place de la Mairie",
        "date_maj": "2024-01-10",
        "services": "Prendre en main un ordinateur",
        // A column only v0.1 has, as in the hubs' files: without one, the version cannot be told.
        "conditions_acces": "Gratuit : Je peux accéder gratuitement au lieu et à ses services",
        "source": "Hub",
    });
    let object = row.as_object_mut().unwrap();
    for (k, v) in extra {
        if v.is_empty() {
            object.remove(*k);
        } else {
            object.insert((*k).to_owned(), json!(v));
        }
    }
    row
}

/// A v1.0.2 row with every field v1.0.2 requires; `extra` adds or overrides fields, and an empty value removes one.
fn v1(id: &str, nom: &str, code_postal: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut row: BTreeMap<String, String> = [
        ("id", id),
        ("pivot", "00000000000000"),
        ("nom", nom),
        ("commune", "Commune"),
        ("code_postal", code_postal),
        ("adresse", "1 place de la Mairie"),
        ("date_maj", "2024-01-10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        if v.is_empty() {
            row.remove(*k);
        } else {
            row.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    row
}

/// `n` valid v0.1 rows `row-0`…, in the Rhône.
fn many_v01(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| v01(&format!("row-{i}"), &format!("Lieu {i}"), "69001", &[]))
        .collect()
}

// Services, publics and labels of v1.0.2, as the filters take them.
const AIDE: &str = "Aide aux démarches administratives";
const MAITRISE: &str = "Maîtrise des outils numériques du quotidien";
const ACCES: &str = "Accès internet et matériel informatique";
const MON_FR_MORNING: &str = "Mo-Fr 09:00-12:00";

/// A catalogue of sites covering every filter, in source `cat` (plus one in source `autre`).
///
/// | id  | name                        | dep | notes                                                        |
/// |-----|-----------------------------|-----|--------------------------------------------------------------|
/// | c01 | Médiathèque Jean Macé       | 69  | AIDE+MAITRISE, Seniors, Surdité, France Services, mornings  |
/// | c02 | Espace public numérique     | 38  | MAITRISE, Jeunes, Conseillers numériques, afternoons         |
/// | c03 | Tiers-lieu La Fabrique      | 13  | AIDE, SUD LABS (PACA), 24/7                                  |
/// | c04 | Mairie d'Ajaccio            | 2A  | AIDE, invalid horaires                                       |
/// | c05 | médiathèque de Bastia       | 2B  | MAITRISE, mornings                                           |
/// | c06 | Case numérique              | 974 | mornings (Réunion time)                                      |
/// | c07 | Espace public numérique     | 69  | AIDE+MAITRISE+ACCES, mornings                                |
/// | c08 | Espace public numérique     | 01  |                                                              |
/// | c09 | Atelier 100% numérique      | 69  |                                                              |
/// | c10 | Point_numérique             | 69  |                                                              |
/// | c11 | ŒUVRE numérique             | 75  |                                                              |
/// | a12 | Médiathèque Jean Macé       | 69  | source `autre`                                               |
async fn catalogue(e: &Env) {
    let cat = [
        v1(
            "c01",
            "Médiathèque Jean Macé",
            "69007",
            &[
                ("commune", "Lyon"),
                ("code_insee", "69387"),
                ("latitude", "45.75"),
                ("longitude", "4.84"),
                ("services", &format!("{AIDE}|{MAITRISE}")),
                ("publics_specifiquement_adresses", "Seniors"),
                ("prise_en_charge_specifique", "Surdité"),
                ("dispositif_programmes_nationaux", "France Services"),
                ("horaires", MON_FR_MORNING),
                ("courriels", "contact@mediatheque-mace.fr"),
                ("date_maj", "2024-01-10"),
            ],
        ),
        v1(
            "c02",
            "Espace public numérique",
            "38000",
            &[
                ("commune", "Grenoble"),
                ("latitude", "45.19"),
                ("longitude", "5.72"),
                ("services", MAITRISE),
                ("publics_specifiquement_adresses", "Jeunes"),
                ("dispositif_programmes_nationaux", "Conseillers numériques"),
                ("horaires", "Mo-Fr 14:00-18:00"),
                ("date_maj", "2023-05-01"),
            ],
        ),
        v1(
            "c03",
            "Tiers-lieu La Fabrique",
            "13001",
            &[
                ("commune", "Marseille"),
                ("latitude", "43.3"),
                ("longitude", "5.37"),
                ("services", AIDE),
                ("formations_labels", "SUD LABS (PACA)"),
                ("horaires", "24/7"),
                ("courriels", "fabrique@example.org"),
                ("date_maj", "2024-03-03"),
            ],
        ),
        v1(
            "c04",
            "Mairie d'Ajaccio",
            "20000",
            &[
                ("commune", "Ajaccio"),
                ("code_insee", "2A004"),
                ("services", AIDE),
                ("horaires", "le matin sauf quand il pleut"),
                ("date_maj", "2022-02-02"),
            ],
        ),
        v1(
            "c05",
            "médiathèque de Bastia",
            "20200",
            &[
                ("commune", "Bastia"),
                ("services", MAITRISE),
                ("horaires", MON_FR_MORNING),
                ("date_maj", "2024-01-10"),
            ],
        ),
        v1(
            "c06",
            "Case numérique",
            "97400",
            &[
                ("commune", "Saint-Denis"),
                ("latitude", "-20.88"),
                ("longitude", "55.45"),
                ("horaires", MON_FR_MORNING),
                ("date_maj", "2023-11-11"),
            ],
        ),
        v1(
            "c07",
            "Espace public numérique",
            "69003",
            &[
                ("commune", "Lyon"),
                ("services", &format!("{AIDE}|{MAITRISE}|{ACCES}")),
                ("horaires", MON_FR_MORNING),
                ("date_maj", "2023-05-01"),
            ],
        ),
        v1(
            "c08",
            "Espace public numérique",
            "01000",
            &[("commune", "Bourg-en-Bresse"), ("date_maj", "2021-01-01")],
        ),
        v1(
            "c09",
            "Atelier 100% numérique",
            "69003",
            &[("commune", "Lyon"), ("date_maj", "2020-06-06")],
        ),
        v1(
            "c10",
            "Point_numérique",
            "69100",
            &[("commune", "Villeurbanne"), ("date_maj", "2020-06-06")],
        ),
        v1(
            "c11",
            "ŒUVRE numérique",
            "75010",
            &[("commune", "Paris"), ("date_maj", "2019-01-01")],
        ),
    ];
    let path = e.v1_csv("catalogue.csv", &cat);
    let imported = e.import(&path, "cat").await;
    assert_eq!(imported.summary.created, 11, "{:#?}", imported.report);
    let other = e.v1_csv(
        "autre.csv",
        &[v1(
            "a12",
            "Médiathèque Jean Macé",
            "69007",
            &[("commune", "Lyon"), ("date_maj", "2024-02-02")],
        )],
    );
    assert_eq!(e.import(&other, "autre").await.summary.created, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Query helpers
// ---------------------------------------------------------------------------------------------------------------

fn dep(code: &str) -> DepartmentCode {
    DepartmentCode::parse(code).unwrap()
}

fn deps(codes: &[&str]) -> Vec<DepartmentCode> {
    codes.iter().map(|c| dep(c)).collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn by(field: SiteOrderField, descending: bool) -> SiteOrder {
    SiteOrder { field, descending }
}

fn first(n: i32) -> PageRequest {
    PageRequest::new(Some(n), None).unwrap()
}

/// An instant given in Paris local time.
fn paris(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Paris
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// Monday 15 January 2024 (not a public holiday), at `h:00` in Paris.
fn monday_paris(h: u32) -> DateTime<Utc> {
    paris(2024, 1, 15, h, 0)
}

/// The source ids of a page, in order.
fn ids(page: &Page<Site>) -> Vec<String> {
    page.items
        .iter()
        .map(|(_, s)| s.data.source_id.clone())
        .collect()
}

/// The source ids of every site matching `filter`, sorted (for set comparisons).
async fn matching(t: &TestDb, filter: &SiteFilter) -> Vec<String> {
    let page = list_sites(
        &t.db,
        filter,
        SiteOrder::default(),
        &first(100).with_total(true),
    )
    .await
    .unwrap_or_else(|e| panic!("{filter:?}: {e}"));
    assert!(!page.has_next_page);
    assert_eq!(
        page.total_count,
        Some(page.items.len() as u64),
        "{filter:?}"
    );
    let mut out = ids(&page);
    out.sort();
    out
}

/// Walks every page of `filter` in `order` with pages of `size`, following `after` cursors.
async fn walk(t: &TestDb, filter: &SiteFilter, order: SiteOrder, size: i32) -> Vec<Site> {
    let mut out = Vec::new();
    let mut after: Option<Cursor> = None;
    for _ in 0..10_000 {
        let mut request = first(size);
        request.after = after.clone();
        let page = list_sites(&t.db, filter, order, &request).await.unwrap();
        assert!(page.items.len() <= size as usize);
        assert_eq!(page.has_previous_page, after.is_some());
        let next = page.items.last().map(|(c, _)| c.clone());
        let more = page.has_next_page;
        out.extend(page.items.into_iter().map(|(_, s)| s));
        if !more {
            return out;
        }
        assert!(next.is_some(), "has_next_page on an empty page");
        after = next;
    }
    panic!("pagination does not end");
}

/// The order a list must follow, computed here independently of the crate: the field's key, then the id.
fn sort_like(sites: &mut [Site], order: SiteOrder) {
    sites.sort_by(|a, b| {
        let key = |s: &Site| match order.field {
            // Relevance without a text (and in nested lists) is by name; distance is tested in `search`.
            SiteOrderField::Name | SiteOrderField::Relevance | SiteOrderField::Distance => {
                (maillage_core::text::fold(s.data.name.trim()), s.id.0)
            }
            SiteOrderField::UpdatedOn => (s.data.updated_on.to_string(), s.id.0),
            SiteOrderField::UpdatedAt => (
                s.updated_at.format("%Y-%m-%dT%H:%M:%S%.9f").to_string(),
                s.id.0,
            ),
            SiteOrderField::Id => (String::new(), s.id.0),
        };
        let ord = key(a).cmp(&key(b));
        if order.descending { ord.reverse() } else { ord }
    });
}

const ALL_ORDERS: [SiteOrder; 8] = [
    SiteOrder {
        field: SiteOrderField::UpdatedAt,
        descending: false,
    },
    SiteOrder {
        field: SiteOrderField::UpdatedAt,
        descending: true,
    },
    SiteOrder {
        field: SiteOrderField::Name,
        descending: false,
    },
    SiteOrder {
        field: SiteOrderField::Name,
        descending: true,
    },
    SiteOrder {
        field: SiteOrderField::UpdatedOn,
        descending: false,
    },
    SiteOrder {
        field: SiteOrderField::UpdatedOn,
        descending: true,
    },
    SiteOrder {
        field: SiteOrderField::Id,
        descending: false,
    },
    SiteOrder {
        field: SiteOrderField::Id,
        descending: true,
    },
];

fn assert_code(err: &SitesError, code: &str, field: Option<&str>) {
    assert_eq!(err.code(), code, "{err:?}");
    assert_eq!(
        err.field().map(ToString::to_string).as_deref(),
        field,
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Import
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn import_stores_or_reports_every_row() {
    let e = env().await;
    let rows = vec![
        v01("ok-1", "Médiathèque", "69001", &[]),
        v01("no-name", "", "69002", &[]),
        v01("bad-cp", "Mairie", "6900", &[]),
        v01(
            "fixed",
            "Espace numérique",
            "38000",
            &[
                ("telephone", "12"),
                ("date_maj", "1970-01-01"),
                ("courriel", "accueil@epn.fr"),
            ],
        ),
        v01(
            "phone-ok",
            "Point numérique",
            "42000",
            &[("telephone", "04 72 10 20 30")],
        ),
        v01("ok-1", "Doublon", "69001", &[]),
    ];
    let path = e.json("lieux.json", &rows);
    let imported = e.import(&path, "hub").await;
    let s = &imported.summary;
    imported.assert_accounts_for(6);
    assert_eq!(
        (s.created, s.updated, s.unchanged, s.rejected, s.corrected),
        (3, 0, 0, 3, 1),
        "{s:?}\n{:#?}",
        imported.report
    );
    assert_eq!(s.version.as_str(), "0.1.1");
    assert_eq!(e.table_counts().await.0, 3);

    // The row without `nom`: rejected at its index, naming the field and why.
    let nom = imported.lines("nom");
    assert_eq!(nom.len(), 1, "{:#?}", imported.report);
    assert_eq!(nom[0].location, Location::Index(1));
    assert_eq!(nom[0].source_id.as_deref(), Some("no-name"));
    assert_eq!(nom[0].kind, IssueKind::Rejected);
    assert!(nom[0].reason.contains("required"), "{:?}", nom[0]);

    // The 4-digit postal code: rejected, echoing the bad value.
    let cp = imported.lines("code_postal");
    assert_eq!(cp.len(), 1, "{:#?}", imported.report);
    assert_eq!(cp[0].location, Location::Index(2));
    assert_eq!(cp[0].kind, IssueKind::Rejected);
    assert!(cp[0].reason.contains("\"6900\""), "{:?}", cp[0]);

    // Corrected fields: reported as corrections, and the row stored without the bad phone.
    let phone = imported.lines("telephone");
    assert_eq!(phone.len(), 1, "{:#?}", imported.report);
    assert_eq!(
        (phone[0].location, phone[0].kind),
        (Location::Index(3), IssueKind::Corrected)
    );
    assert!(phone[0].reason.contains("\"12\""), "{:?}", phone[0]);
    let date = imported.lines("date_maj");
    assert_eq!(date.len(), 1, "{:#?}", imported.report);
    assert_eq!(date[0].kind, IssueKind::Corrected);
    assert!(date[0].reason.contains("1970-01-01"), "{:?}", date[0]);
    let fixed = e.site("hub", "fixed").await;
    assert_eq!(fixed.data.phone, None);
    assert_eq!(
        fixed.data.updated_on,
        NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
    );
    assert_eq!(fixed.data.emails[0].as_str(), "accueil@epn.fr");
    assert_eq!(fixed.department_code, Some(dep("38")));
    assert_eq!(fixed.version, 1);
    let phone_ok = e.site("hub", "phone-ok").await;
    assert_eq!(phone_ok.data.phone.as_deref(), Some("+33472102030"));

    // The duplicate id: rejected, pointing at the first occurrence; the first one is what is stored.
    let dup: Vec<&ReportLine> = imported
        .lines("id")
        .into_iter()
        .filter(|l| l.location == Location::Index(5))
        .collect();
    assert_eq!(dup.len(), 1, "{:#?}", imported.report);
    assert_eq!(dup[0].kind, IssueKind::Rejected);
    assert!(dup[0].reason.contains("duplicate"), "{:?}", dup[0]);
    assert!(dup[0].reason.contains("index 0"), "{:?}", dup[0]);
    assert_eq!(e.site("hub", "ok-1").await.data.name, "Médiathèque");
    assert_eq!(
        imported.rejected_ids(),
        HashSet::from([
            Some("no-name".to_owned()),
            Some("bad-cp".to_owned()),
            Some("ok-1".to_owned())
        ])
    );
}

#[tokio::test]
async fn csv_report_lines_name_file_lines() {
    let e = env().await;
    let path = e.v1_csv(
        "lieux.csv",
        &[
            v1("a", "Lieu A", "69001", &[]),
            v1("b", "", "69001", &[]),
            v1("c", "Lieu C", "6900", &[("telephone", "pas de téléphone")]),
            v1("d", "Lieu D", "69001", &[("telephone", "12")]),
        ],
    );
    let imported = e.import(&path, "csv").await;
    imported.assert_accounts_for(4);
    assert_eq!(imported.summary.version.as_str(), "1.0.2");
    assert_eq!(
        (imported.summary.created, imported.summary.rejected),
        (2, 2)
    );
    // Line 1 is the header.
    let nom = imported.lines("nom");
    assert_eq!(nom.len(), 1);
    assert_eq!(
        (nom[0].location, nom[0].kind),
        (Location::Line(3), IssueKind::Rejected)
    );
    let cp = imported.lines("code_postal");
    assert_eq!(cp.len(), 1);
    assert_eq!(cp[0].location, Location::Line(4));
    // A correction is reported only for a stored row: row `c` is rejected, so its phone is not "corrected".
    let phones = imported.lines("telephone");
    assert_eq!(phones.len(), 1, "{:#?}", imported.report);
    assert_eq!(
        (phones[0].location, phones[0].kind),
        (Location::Line(5), IssueKind::Corrected)
    );
}

#[tokio::test]
async fn reimport_changes_nothing_and_an_edit_bumps_the_version() {
    let e = env().await;
    let mut rows = vec![
        v01(
            "1",
            "Médiathèque",
            "69001",
            &[
                ("latitude", "45.764043"),
                ("longitude", "4.835659"),
                ("horaires", "Mo-Fr 9h00-12h00"),
                ("courriel", "a@b.fr;c@d.fr"),
                ("publics_accueillis", "Adultes;Surdité;Seniors (+ 65 ans)"),
                ("labels_nationaux", "CNFS;APTIC"),
                ("telephone", "04 72 10 20 30"),
                ("services", "Prendre en main un ordinateur;Faire du vélo"),
            ],
        ),
        v01(
            "2",
            "Mairie",
            "38000",
            &[("date_maj", "2021-05-05T10:00:00")],
        ),
        v01("3", "EPN", "20000", &[("code_insee", "2A004")]),
    ];
    // Real files carry numbers as JSON numbers.
    rows[0]["latitude"] = json!(45.764043);
    rows[0]["longitude"] = json!(4.835659);
    let path = e.json("lieux.json", &rows);
    let first_import = e.import(&path, "hub").await;
    assert_eq!(first_import.summary.created, 3);
    let before = e.all_sites().await;

    let again = e.import(&path, "hub").await;
    let s = &again.summary;
    assert_eq!(
        (s.created, s.updated, s.unchanged, s.rejected),
        (0, 0, 3, 0),
        "{s:?}"
    );
    assert_eq!(s.changes(), 0);
    assert_eq!(e.all_sites().await, before, "a no-op import changed rows");

    // One row changes (name and services): exactly that site is updated, its version bumped, values replaced.
    rows[1] = v01(
        "2",
        "Mairie annexe",
        "38000",
        &[
            ("date_maj", "2021-05-05T10:00:00"),
            ("services", "Accéder à une connexion internet"),
        ],
    );
    let path = e.json("lieux-v2.json", &rows);
    let edit = e.import(&path, "hub").await;
    let s = &edit.summary;
    assert_eq!(
        (s.created, s.updated, s.unchanged, s.rejected),
        (0, 1, 2, 0),
        "{s:?}"
    );
    let after = e.all_sites().await;
    assert_eq!(after.len(), 3);
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.id, new.id);
        if new.data.source_id == "2" {
            assert_eq!(new.version, old.version + 1);
            assert_eq!(new.data.name, "Mairie annexe");
            assert_eq!(new.data.mapped_values(ValueKind::Service), [ACCES]);
            assert_eq!(new.created_at, old.created_at);
            assert!(new.updated_at >= old.updated_at);
        } else {
            assert_eq!(new, old, "an unchanged row was rewritten");
        }
    }
    // And importing the edited file again is a no-op again.
    let s = e.import(&path, "hub").await.summary;
    assert_eq!((s.changes(), s.unchanged), (0, 3), "{s:?}");
}

#[tokio::test]
async fn same_ids_in_two_sources_are_two_sites() {
    let e = env().await;
    let path = e.json("lieux.json", &[v01("1", "Lieu", "69001", &[])]);
    assert_eq!(e.import(&path, "hub-a").await.summary.created, 1);
    assert_eq!(e.import(&path, "hub-b").await.summary.created, 1);
    assert_eq!(e.import(&path, "hub-a").await.summary.unchanged, 1);
    assert_eq!(e.table_counts().await.0, 2);
}

#[tokio::test]
async fn duplicate_ids_are_found_across_write_batches() {
    let e = env().await;
    let mut rows = many_v01(600);
    rows.push(v01("row-3", "Doublon lointain", "69001", &[]));
    let path = e.json("lieux.json", &rows);
    let progress = std::sync::Mutex::new(Vec::new());
    let mut report = Vec::new();
    let summary = import_file(
        &e.t.db,
        &Actor::cli(),
        &path,
        &ImportOptions {
            source: "hub".into(),
            ..ImportOptions::default()
        },
        &mut |line: &ReportLine| report.push(line.clone()),
        &|n| progress.lock().unwrap().push(n),
    )
    .await
    .unwrap();
    assert_eq!(
        (summary.rows, summary.created, summary.rejected),
        (601, 600, 1)
    );
    assert_eq!(report.len(), 1, "{report:#?}");
    assert_eq!(report[0].location, Location::Index(600));
    assert!(report[0].reason.contains("index 3"), "{:?}", report[0]);
    assert_eq!(e.site("hub", "row-3").await.data.name, "Lieu 3");
    // Progress is reported per batch, and ends at the number of rows.
    let progress = progress.into_inner().unwrap();
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&601), "{progress:?}");
    assert!(progress.len() >= 2, "{progress:?}");
}

#[tokio::test]
async fn csv_with_semicolons_quotes_and_a_bom_is_read() {
    let e = env().await;
    // As a French spreadsheet saves it: UTF-8 with a BOM, `;` separators, every cell quoted.
    let quoted = |cells: &[&str]| {
        cells
            .iter()
            .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(";")
    };
    let header = quoted(&V1_COLUMNS);
    let services = format!("{AIDE}|{MAITRISE}");
    let mut row = vec![""; V1_COLUMNS.len()];
    for (column, value) in [
        ("id", "1"),
        ("pivot", "00000000000000"),
        ("nom", "Médiathèque \"La Grange\""),
        ("commune", "Lyon"),
        ("code_postal", "69001"),
        ("adresse", "1 rue; bâtiment B"),
        ("date_maj", "2024-01-10"),
        ("services", services.as_str()),
        ("latitude", "45,76"),
        ("longitude", "4,83"),
    ] {
        row[V1_COLUMNS.iter().position(|c| *c == column).unwrap()] = value;
    }
    let text = format!("\u{feff}{header}\r\n{}\r\n", quoted(&row));
    let path = e.write("excel.csv", text);
    let imported = e.import(&path, "excel").await;
    assert_eq!(
        (imported.summary.created, imported.summary.rejected),
        (1, 0),
        "{:#?}",
        imported.report
    );
    assert!(
        imported.summary.unknown_columns.is_empty(),
        "{:?}",
        imported.summary
    );
    let site = e.site("excel", "1").await;
    assert_eq!(site.data.name, "Médiathèque \"La Grange\"");
    assert_eq!(site.data.address, "1 rue; bâtiment B");
    assert_eq!(
        site.data.mapped_values(ValueKind::Service),
        [AIDE, MAITRISE]
    );
    assert_eq!(
        (site.data.latitude, site.data.longitude),
        (Some(45.76), Some(4.83))
    );
}

#[tokio::test]
async fn import_refuses_bad_sources_and_missing_files() {
    let e = env().await;
    let path = e.json("lieux.json", &[v01("1", "Lieu", "69001", &[])]);
    for source in ["", "hub du sud", "../etc", &"x".repeat(65)] {
        let err = e
            .import_as(&Actor::cli(), &path, source)
            .await
            .err()
            .unwrap();
        assert_eq!(err.code(), "invalid_file", "{source:?}: {err}");
    }
    let err = e
        .import_as(&Actor::cli(), &e.path("absent.json"), "hub")
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "io_error", "{err}");
    assert_eq!(e.table_counts().await, (0, 0));
}

#[tokio::test]
async fn department_is_derived_from_insee_code_then_postal_code() {
    let e = env().await;
    let rows = [
        v1(
            "ajaccio",
            "Mairie",
            "20000",
            &[("code_insee", "2A004"), ("commune", "Ajaccio")],
        ),
        v1("bastia", "Mairie", "20200", &[("commune", "Bastia")]),
        v1("porto-vecchio", "Mairie", "20137", &[]),
        v1("reunion", "Case", "97400", &[]),
        v1("mayotte", "Case", "97600", &[]),
        // A border commune: its INSEE code (Ain) wins over its postal code (Rhône).
        v1("border", "Mairie", "69000", &[("code_insee", "01004")]),
        // Monaco is outside the 101 departments: rejected (#19.6).
        v1("monaco", "Médiathèque", "98000", &[]),
    ];
    let path = e.v1_csv("lieux.csv", &rows);
    let imported = e.import(&path, "geo").await;
    assert_eq!(
        (imported.summary.created, imported.summary.rejected),
        (6, 1),
        "{:#?}",
        imported.report
    );
    assert!(e.find("geo", "monaco").await.is_none());
    let expected = [
        ("ajaccio", Some("2A")),
        ("bastia", Some("2B")),
        ("porto-vecchio", Some("2A")),
        ("reunion", Some("974")),
        ("mayotte", Some("976")),
        ("border", Some("01")),
    ];
    for (id, code) in expected {
        let site = e.site("geo", id).await;
        assert_eq!(
            site.department_code.as_ref().map(DepartmentCode::as_str),
            code,
            "{id}"
        );
    }
}

/// Regression: `975` (Saint-Pierre-et-Miquelon) was accepted as a department code, so a row with `code_postal`
/// 97500 broke the department foreign key and failed the whole import; then such rows were stored silently without
/// a department (#19.6). They are rejected, each with its reason, and the import goes on.
#[tokio::test]
async fn postal_codes_of_no_department_are_rejected_with_a_reason() {
    let e = env().await;
    let path = e.v1_csv(
        "lieux.csv",
        &[
            v1("lyon", "Médiathèque", "69001", &[]),
            v1(
                "spm",
                "Médiathèque",
                "97500",
                &[("commune", "Saint-Pierre")],
            ),
            v1("zero", "Médiathèque", "00000", &[]),
        ],
    );
    let imported = e.import(&path, "geo").await;
    imported.assert_accounts_for(3);
    assert_eq!(
        (imported.summary.created, imported.summary.rejected),
        (1, 2)
    );
    let lines = imported.lines("code_postal");
    assert_eq!(lines.len(), 2, "{:#?}", imported.report);
    for (line, (at, code)) in lines.iter().zip([(3, "97500"), (4, "00000")]) {
        assert_eq!(line.location, Location::Line(at));
        assert_eq!(line.kind, IssueKind::Rejected);
        assert!(line.reason.contains(code), "{line:?}");
        assert!(line.reason.contains("no French department"), "{line:?}");
    }
    assert!(e.find("geo", "spm").await.is_none());
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Refusals leave the database unchanged
// ---------------------------------------------------------------------------------------------------------------

/// Imports three sites whose ids the refused files reuse with other content, and returns the snapshot.
async fn baseline(e: &Env) -> ((i64, i64), Vec<Site>) {
    let rows: Vec<Value> = (0..3)
        .map(|i| {
            v01(
                &format!("row-{i}"),
                "Avant",
                "69001",
                &[("publics_accueillis", "Surdité")],
            )
        })
        .collect();
    let path = e.json("baseline.json", &rows);
    assert_eq!(e.import(&path, "hub").await.summary.created, 3);
    let snapshot = e.snapshot().await;
    assert_eq!(snapshot.0, (3, 9));
    snapshot
}

async fn assert_refused(e: &Env, path: &Path, actor: &Actor, code: &str, message: &str) {
    let before = e.snapshot().await;
    let err = match e.import_as(actor, path, "hub").await {
        Ok(imported) => panic!("{} was imported: {:?}", path.display(), imported.summary),
        Err(err) => err,
    };
    assert_eq!(err.code(), code, "{err}");
    assert!(
        err.to_string().contains(message),
        "{err} should mention {message:?}"
    );
    assert_eq!(
        e.snapshot().await,
        before,
        "a refused import changed the database"
    );
}

#[tokio::test]
async fn truncated_json_is_refused_even_after_a_full_batch_of_valid_rows() {
    let e = env().await;
    baseline(&e).await;
    // 600 valid rows (more than a write batch of 500), the first three changing the baseline's sites, then the
    // array is cut in the middle of an object.
    let rows: Vec<String> = many_v01(600)
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    let text = format!(
        "[{},\n{{\"id\": \"row-600\", \"nom\": \"Coup",
        rows.join(",\n")
    );
    let path = e.write("truncated.json", text);
    assert_refused(&e, &path, &Actor::cli(), "invalid_file", "invalid JSON").await;

    // A trailing garbage after a complete array is refused too.
    let text = format!("[{}] trailing", rows.join(","));
    let path = e.write("trailing.json", text);
    assert_refused(&e, &path, &Actor::cli(), "invalid_file", "invalid JSON").await;

    // And an array element that is not an object, after the valid rows.
    let text = format!("[{}, 42]", rows.join(","));
    let path = e.write("not-object.json", text);
    assert_refused(&e, &path, &Actor::cli(), "invalid_file", "not an object").await;
}

#[tokio::test]
async fn broken_csv_is_refused_even_after_a_full_batch_of_valid_rows() {
    let e = env().await;
    baseline(&e).await;
    let good: Vec<BTreeMap<String, String>> = (0..600)
        .map(|i| v1(&format!("row-{i}"), &format!("Lieu {i}"), "69001", &[]))
        .collect();
    let valid = e.v1_csv("valid.csv", &good);
    let valid_bytes = std::fs::read(&valid).unwrap();

    // A row with too few fields at the end.
    let mut bytes = valid_bytes.clone();
    bytes.extend_from_slice(b"row-600,00000000000000,Lieu\n");
    let path = e.write("short-row.csv", bytes);
    assert_refused(&e, &path, &Actor::cli(), "invalid_file", "invalid CSV").await;

    // A row that is not UTF-8 (a Latin-1 "è") at the end.
    let mut last: Vec<&[u8]> = vec![b""; V1_COLUMNS.len()];
    for (column, value) in [
        ("id", &b"row-600"[..]),
        ("pivot", b"00000000000000"),
        ("nom", b"Biblioth\xe8que"),
        ("commune", b"Lyon"),
        ("code_postal", b"69001"),
        ("adresse", b"1 rue"),
        ("date_maj", b"2024-01-10"),
    ] {
        last[V1_COLUMNS.iter().position(|c| *c == column).unwrap()] = value;
    }
    let mut bytes = valid_bytes.clone();
    bytes.extend_from_slice(&last.join(&b','));
    bytes.push(b'\n');
    // Read as Latin-1 since #13, unless the caller says it is UTF-8: then refused with the line.
    let path = e.write("latin1.csv", bytes);
    let before = e.snapshot().await;
    let err = import_file(
        &e.t.db,
        &Actor::cli(),
        &path,
        &ImportOptions {
            source: "hub".into(),
            encoding: Some(maillage_sites::import::Encoding::Utf8),
            ..ImportOptions::default()
        },
        &mut |_| {},
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("line 602 is not valid UTF-8"),
        "{err}"
    );
    assert_eq!(e.snapshot().await, before);
}

#[tokio::test]
async fn csv_without_a_required_column_is_refused() {
    let e = env().await;
    baseline(&e).await;
    let columns: Vec<&str> = V1_COLUMNS
        .iter()
        .copied()
        .filter(|c| *c != "adresse")
        .collect();
    let mut text = columns.join(",");
    text.push('\n');
    let row: Vec<&str> = columns
        .iter()
        .map(|c| match *c {
            "id" => "row-0",
            "pivot" => "00000000000000",
            "nom" => "Après",
            "commune" => "Lyon",
            "code_postal" => "69001",
            "date_maj" => "2024-01-10",
            _ => "",
        })
        .collect();
    text.push_str(&row.join(","));
    text.push('\n');
    let path = e.write("no-adresse.csv", text);
    assert_refused(&e, &path, &Actor::cli(), "invalid_file", "adresse").await;
}

#[tokio::test]
async fn file_of_unknown_version_is_refused() {
    let e = env().await;
    baseline(&e).await;
    // Only columns both versions share: nothing tells v0.1 from v1.0.2.
    let rows = [json!({
        "id": "row-0", "pivot": "00000000000000", "nom": "Après", "commune": "Lyon",
        "code_postal": "69001", "adresse": "1 rue", "date_maj": "2024-01-10",
        "services": "Prendre en main un ordinateur",
    })];
    let path = e.json("shared-columns.json", &rows);
    assert_refused(&e, &path, &Actor::cli(), "invalid_file", "version").await;
    // Columns of both versions at once.
    let rows = [v01("row-0", "Après", "69001", &[("courriels", "a@b.fr")])];
    let path = e.json("mixed.json", &rows);
    assert_refused(&e, &path, &Actor::cli(), "invalid_file", "version").await;
    // A file whose format cannot be told from its name is sniffed (here an empty JSON array: no version).
    let path = e.write("lieux.dat", "[]");
    assert_refused(&e, &path, &Actor::cli(), "invalid_file", "version").await;
}

#[tokio::test]
async fn only_admins_and_hub_coordinators_may_import() {
    let e = env().await;
    baseline(&e).await;
    let rows = [v01("row-0", "Après", "69001", &[])];
    let path = e.json("lieux.json", &rows);
    for actor in [
        Actor::anonymous(),
        Actor::with_role(Role::Partner, "app"),
        Actor::with_role(Role::BdtReviewer, "bdt"),
        Actor::with_role(Role::AmiApplicant, "candidate"),
    ] {
        assert_refused(&e, &path, &actor, "forbidden", "").await;
    }
}

#[tokio::test]
async fn hub_coordinator_imports_only_within_its_departments() {
    let e = env().await;
    // An admin first stores a site in Marseille, with an id the coordinator's file reuses.
    let admin_rows = [v01("stored-13", "Avant", "13001", &[])];
    let path = e.json("admin.json", &admin_rows);
    assert_eq!(e.import(&path, "hub").await.summary.created, 1);
    let stored_13 = e.site("hub", "stored-13").await;

    let coordinator = e.hinaura_coordinator().await;
    let rows = [
        v01("lyon", "Médiathèque", "69001", &[]),
        v01("marseille", "Tiers-lieu", "13001", &[]),
        v01("grenoble", "EPN", "38000", &[]),
        // Moving the stored site of the Bouches-du-Rhône into the Rhône is editing a site outside the hub.
        v01("stored-13", "Après", "69001", &[]),
        // No department at all (Monaco): not within the hub either.
        v01("monaco", "Médiathèque", "98000", &[]),
    ];
    let path = e.json("hinaura.json", &rows);
    let imported = e.import_as(&coordinator, &path, "hub").await.unwrap();
    imported.assert_accounts_for(5);
    assert_eq!(
        (imported.summary.created, imported.summary.rejected),
        (2, 3),
        "{:#?}",
        imported.report
    );
    assert_eq!(
        imported.rejected_ids(),
        HashSet::from([
            Some("marseille".to_owned()),
            Some("stored-13".to_owned()),
            Some("monaco".to_owned())
        ])
    );
    let marseille: Vec<&ReportLine> = imported
        .report
        .iter()
        .filter(|l| l.source_id.as_deref() == Some("marseille"))
        .collect();
    assert_eq!(marseille.len(), 1);
    assert_eq!(marseille[0].location, Location::Index(1));
    assert!(
        marseille[0].reason.contains("outside"),
        "{:?}",
        marseille[0]
    );
    assert!(e.find("hub", "marseille").await.is_none());
    assert!(e.find("hub", "monaco").await.is_none());
    assert_eq!(e.site("hub", "stored-13").await, stored_13);
    assert!(e.find("hub", "lyon").await.is_some());
    assert!(e.find("hub", "grenoble").await.is_some());
}

/// Regression (PostgreSQL): two concurrent imports of one new file into one source both inserted, and the second
/// hit the unique index as an internal error. Imports of a source are now serialised (advisory lock), so both
/// succeed and each site is created once.
#[tokio::test]
async fn concurrent_imports_of_one_source_do_not_fail_internally() {
    let e = env().await;
    let path = e.json("lieux.json", &many_v01(50));
    let admin = Actor::cli();
    let (a, b) = tokio::join!(
        e.import_as(&admin, &path, "hub"),
        e.import_as(&admin, &path, "hub")
    );
    for result in [&a, &b] {
        if let Err(err) = result {
            assert!(
                !err.is_internal(),
                "a concurrent import failed with an internal error ({}): {err}",
                err.code()
            );
        }
    }
    assert_eq!(e.table_counts().await.0, 50);
    let created: u64 = [&a, &b]
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|i| i.summary.created)
        .sum();
    assert_eq!(created, 50, "each site created exactly once");
}

/// Regression: a row rejected because the stored site is outside the caller's territory was also counted (and
/// reported) as corrected; corrections are reported only for stored rows.
#[tokio::test]
async fn rejected_rows_are_not_counted_as_corrected() {
    let e = env().await;
    let path = e.json("admin.json", &[v01("stored-13", "Avant", "13001", &[])]);
    e.import(&path, "hub").await;
    let coordinator = e.hinaura_coordinator().await;
    let rows = [v01("stored-13", "Après", "69001", &[("telephone", "12")])];
    let path = e.json("hinaura.json", &rows);
    let imported = e.import_as(&coordinator, &path, "hub").await.unwrap();
    assert_eq!(imported.summary.rejected, 1);
    assert_eq!(
        imported.summary.corrected, 0,
        "a rejected row counted as a stored row with corrections: {:?}\n{:#?}",
        imported.summary, imported.report
    );
    assert!(
        imported
            .report
            .iter()
            .all(|l| l.kind == IssueKind::Rejected),
        "a rejected row's fields reported as corrected: {:#?}",
        imported.report
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Queries
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn each_filter_selects_its_sites() {
    let e = env().await;
    catalogue(&e).await;
    let t = &e.t;
    let f = SiteFilter::default;
    let cases: Vec<(&str, SiteFilter, &[&str])> = vec![
        (
            "everything",
            f(),
            &[
                "a12", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c10", "c11",
            ],
        ),
        (
            "departments 69",
            SiteFilter {
                departments: Some(deps(&["69"])),
                ..f()
            },
            &["a12", "c01", "c07", "c09", "c10"],
        ),
        (
            "departments 2A, 2B, 974",
            SiteFilter {
                departments: Some(deps(&["2A", "2B", "974"])),
                ..f()
            },
            &["c04", "c05", "c06"],
        ),
        (
            "departments: empty list",
            SiteFilter {
                departments: Some(Vec::new()),
                ..f()
            },
            &[],
        ),
        (
            "hub hinaura",
            SiteFilter {
                hub: Some("hinaura".into()),
                ..f()
            },
            &["a12", "c01", "c02", "c07", "c08", "c09", "c10"],
        ),
        (
            "hub hub-du-sud",
            SiteFilter {
                hub: Some("hub-du-sud".into()),
                ..f()
            },
            &["c03"],
        ),
        (
            "region Corse",
            SiteFilter {
                region: Some(RegionCode::parse("94").unwrap()),
                ..f()
            },
            &["c04", "c05"],
        ),
        (
            "region Auvergne-Rhône-Alpes",
            SiteFilter {
                region: Some(RegionCode::parse("84").unwrap()),
                ..f()
            },
            &["a12", "c01", "c02", "c07", "c08", "c09", "c10"],
        ),
        (
            "hub and department (AND)",
            SiteFilter {
                hub: Some("hinaura".into()),
                departments: Some(deps(&["38", "13"])),
                ..f()
            },
            &["c02"],
        ),
        (
            "one service",
            SiteFilter {
                services: strings(&[AIDE]),
                ..f()
            },
            &["c01", "c03", "c04", "c07"],
        ),
        (
            "two services (AND)",
            SiteFilter {
                services: strings(&[AIDE, MAITRISE]),
                ..f()
            },
            &["c01", "c07"],
        ),
        (
            "three services (AND)",
            SiteFilter {
                services: strings(&[MAITRISE, ACCES, AIDE]),
                ..f()
            },
            &["c07"],
        ),
        (
            "public",
            SiteFilter {
                publics: strings(&["Seniors"]),
                ..f()
            },
            &["c01"],
        ),
        (
            "specific support through publics",
            SiteFilter {
                publics: strings(&["Surdité"]),
                ..f()
            },
            &["c01"],
        ),
        (
            "publics (AND)",
            SiteFilter {
                publics: strings(&["Seniors", "Jeunes"]),
                ..f()
            },
            &[],
        ),
        (
            "national programme",
            SiteFilter {
                labels: strings(&["Conseillers numériques"]),
                ..f()
            },
            &["c02"],
        ),
        (
            "training label",
            SiteFilter {
                labels: strings(&["SUD LABS (PACA)"]),
                ..f()
            },
            &["c03"],
        ),
        (
            "text without accents",
            SiteFilter {
                text: Some("mediatheque".into()),
                ..f()
            },
            &["a12", "c01", "c05"],
        ),
        (
            "text in capitals with accents",
            SiteFilter {
                text: Some("  MÉDIATHÈQUE JEAN ".into()),
                ..f()
            },
            &["a12", "c01"],
        ),
        (
            "text matches the commune",
            SiteFilter {
                text: Some("grenoble".into()),
                ..f()
            },
            &["c02"],
        ),
        (
            "text with a ligature",
            SiteFilter {
                text: Some("oeuvre".into()),
                ..f()
            },
            &["c11"],
        ),
        (
            "text: % is not a wildcard but a word separator",
            SiteFilter {
                text: Some("100%".into()),
                ..f()
            },
            &["c09"],
        ),
        (
            "text: _ is not a wildcard but a word separator",
            SiteFilter {
                text: Some("point_numerique".into()),
                ..f()
            },
            &["c10"],
        ),
        (
            "text: punctuation alone is no filter",
            SiteFilter {
                text: Some(" %_- ".into()),
                departments: Some(deps(&["2A"])),
                ..f()
            },
            &["c04"],
        ),
        (
            "text: blank is no filter",
            SiteFilter {
                text: Some("   ".into()),
                departments: Some(deps(&["2A"])),
                ..f()
            },
            &["c04"],
        ),
        (
            "bounding box",
            SiteFilter {
                bounding_box: Some(BoundingBox {
                    min_latitude: 45.0,
                    max_latitude: 46.0,
                    min_longitude: 4.0,
                    max_longitude: 6.0,
                }),
                ..f()
            },
            &["c01", "c02"],
        ),
        (
            "bounding box bounds are included",
            SiteFilter {
                bounding_box: Some(BoundingBox {
                    min_latitude: 45.75,
                    max_latitude: 45.75,
                    min_longitude: 4.84,
                    max_longitude: 4.84,
                }),
                ..f()
            },
            &["c01"],
        ),
        (
            "bounding box in the southern hemisphere",
            SiteFilter {
                bounding_box: Some(BoundingBox {
                    min_latitude: -22.0,
                    max_latitude: -20.0,
                    min_longitude: 55.0,
                    max_longitude: 56.0,
                }),
                ..f()
            },
            &["c06"],
        ),
        (
            "source",
            SiteFilter {
                source: Some("autre".into()),
                ..f()
            },
            &["a12"],
        ),
        (
            "source and text",
            SiteFilter {
                source: Some("cat".into()),
                text: Some("jean mace".into()),
                ..f()
            },
            &["c01"],
        ),
    ];
    for (what, filter, expected) in cases {
        assert_eq!(matching(t, &filter).await, expected, "{what}");
    }
}

#[tokio::test]
async fn open_at_reads_opening_hours_in_local_time() {
    let e = env().await;
    catalogue(&e).await;
    let t = &e.t;
    let at = |instant| SiteFilter {
        open_at: Some(instant),
        ..SiteFilter::default()
    };
    // Monday 10:00 in Paris: the Paris mornings and the 24/7 place; not Réunion (13:00 there), not the invalid one.
    assert_eq!(
        matching(t, &at(monday_paris(10))).await,
        ["c01", "c03", "c05", "c07"]
    );
    // Monday 13:00 in Paris: mornings are over.
    assert_eq!(matching(t, &at(monday_paris(13))).await, ["c03"]);
    assert_eq!(matching(t, &at(monday_paris(15))).await, ["c02", "c03"]);
    // Monday 07:00 in Paris is 10:00 in Réunion.
    assert_eq!(matching(t, &at(monday_paris(7))).await, ["c03", "c06"]);
    // Saturday: only the 24/7 place.
    assert_eq!(matching(t, &at(paris(2024, 1, 20, 10, 0))).await, ["c03"]);
    // Combined with other criteria.
    let filter = SiteFilter {
        departments: Some(deps(&["69", "13"])),
        services: strings(&[AIDE]),
        ..at(monday_paris(10))
    };
    assert_eq!(matching(t, &filter).await, ["c01", "c03", "c07"]);
    // A site whose horaires cannot be read is kept, flagged, and never open.
    let ajaccio = e.site("cat", "c04").await;
    assert_eq!(ajaccio.opening_hours_valid, Some(false));
    assert_eq!(
        ajaccio.data.opening_hours.as_deref(),
        Some("le matin sauf quand il pleut")
    );
    for h in [0, 6, 9, 10, 12, 15, 18, 23] {
        let found = matching(t, &at(monday_paris(h))).await;
        assert!(!found.contains(&"c04".to_owned()), "{h}:00 {found:?}");
        assert!(!found.contains(&"c08".to_owned()), "no horaires, {h}:00");
    }
    assert_eq!(e.site("cat", "c08").await.opening_hours_valid, None);
    assert_eq!(e.site("cat", "c01").await.opening_hours_valid, Some(true));
    // Summer time: 07:30 UTC on a July Monday is 09:30 in Paris (open), 11:30 in Réunion (open).
    let july = Utc.with_ymd_and_hms(2024, 7, 15, 7, 30, 0).unwrap();
    assert_eq!(
        matching(t, &at(july)).await,
        ["c01", "c03", "c05", "c06", "c07"]
    );
    // The same UTC time in January is 08:30 in Paris (closed).
    let january = Utc.with_ymd_and_hms(2024, 1, 15, 7, 30, 0).unwrap();
    assert_eq!(matching(t, &at(january)).await, ["c03", "c06"]);
}

#[tokio::test]
async fn open_at_honours_public_holidays() {
    let e = env().await;
    let path = e.v1_csv(
        "lieux.csv",
        &[
            v1(
                "ph-off",
                "Mairie",
                "69001",
                &[("horaires", "Mo-Fr 09:00-12:00; PH off")],
            ),
            v1("plain", "EPN", "69001", &[("horaires", MON_FR_MORNING)]),
            // Hand-typed French times: readable after cleanup, so they count.
            v1(
                "french",
                "Atelier",
                "69001",
                &[("horaires", "Mo-Fr 9h00-12h00")],
            ),
        ],
    );
    e.import(&path, "hub").await;
    let at = |instant| SiteFilter {
        open_at: Some(instant),
        ..SiteFilter::default()
    };
    // Easter Monday 2024 (1 April) is a public holiday in France; the Monday after is not.
    assert_eq!(
        matching(&e.t, &at(paris(2024, 4, 1, 10, 0))).await,
        ["french", "plain"]
    );
    assert_eq!(
        matching(&e.t, &at(paris(2024, 4, 8, 10, 0))).await,
        ["french", "ph-off", "plain"]
    );
    assert!(
        matching(&e.t, &at(paris(2024, 4, 8, 13, 0)))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn invalid_filters_name_the_field() {
    let e = env().await;
    catalogue(&e).await;
    let run = |filter: SiteFilter| {
        let t = &e.t;
        async move {
            list_sites(&t.db, &filter, SiteOrder::default(), &first(10))
                .await
                .expect_err("an invalid filter was accepted")
        }
    };
    let err = run(SiteFilter {
        services: strings(&["Faire du vélo"]),
        ..SiteFilter::default()
    })
    .await;
    assert_code(&err, "unknown_value", Some("filter.services[0]"));
    assert!(matches!(err, SitesError::InvalidInput { .. }));

    let err = run(SiteFilter {
        services: strings(&[AIDE, "Prendre en main un ordinateur"]),
        ..SiteFilter::default()
    })
    .await;
    assert_code(&err, "unknown_value", Some("filter.services[1]"));

    let err = run(SiteFilter {
        publics: strings(&["Adultes"]),
        ..SiteFilter::default()
    })
    .await;
    assert_code(&err, "unknown_value", Some("filter.publics[0]"));

    // A service label is not a label.
    let err = run(SiteFilter {
        labels: strings(&[AIDE]),
        ..SiteFilter::default()
    })
    .await;
    assert_code(&err, "unknown_value", Some("filter.labels[0]"));

    let err = run(SiteFilter {
        bounding_box: Some(BoundingBox {
            min_latitude: 46.0,
            max_latitude: 45.0,
            min_longitude: 4.0,
            max_longitude: 6.0,
        }),
        ..SiteFilter::default()
    })
    .await;
    assert_code(&err, "invalid_value", Some("filter.boundingBox"));

    let err = run(SiteFilter {
        hub: Some("nope".into()),
        ..SiteFilter::default()
    })
    .await;
    assert_code(&err, "unknown_hub", None);

    // The batched read validates the same way.
    let err = list_sites_by_departments(
        &e.t.db,
        &deps(&["69"]),
        &SiteFilter {
            services: strings(&["Faire du vélo"]),
            ..SiteFilter::default()
        },
        SiteOrder::default(),
        &first(2),
    )
    .await
    .unwrap_err();
    assert_code(&err, "unknown_value", Some("filter.services[0]"));
}

#[tokio::test]
async fn keyset_pagination_visits_every_site_once_in_order() {
    let e = env().await;
    catalogue(&e).await;
    let t = &e.t;
    let everything = e.all_sites().await;
    assert_eq!(everything.len(), 12);
    let open = SiteFilter {
        open_at: Some(monday_paris(10)),
        ..SiteFilter::default()
    };
    let hinaura = SiteFilter {
        hub: Some("hinaura".into()),
        ..SiteFilter::default()
    };
    for filter in [SiteFilter::default(), open, hinaura] {
        let all = walk(t, &filter, by(SiteOrderField::Id, false), 100).await;
        for order in ALL_ORDERS {
            let mut expected = all.clone();
            sort_like(&mut expected, order);
            for size in [1, 2, 5] {
                let walked = walk(t, &filter, order, size).await;
                let walked_ids: Vec<SiteId> = walked.iter().map(|s| s.id).collect();
                let expected_ids: Vec<SiteId> = expected.iter().map(|s| s.id).collect();
                assert_eq!(
                    walked_ids, expected_ids,
                    "{order:?}, pages of {size}, {filter:?}"
                );
            }
        }
    }
    // Spot check of the name order: case and accents do not scatter it; equal names are ordered by id.
    let page = list_sites(
        &t.db,
        &SiteFilter {
            departments: Some(deps(&["69", "01", "38"])),
            ..SiteFilter::default()
        },
        by(SiteOrderField::Name, false),
        &first(10),
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&page),
        ["c09", "c02", "c07", "c08", "c01", "a12", "c10"]
    );
    let page = list_sites(
        &t.db,
        &SiteFilter::default(),
        by(SiteOrderField::UpdatedOn, true),
        &first(3),
    )
    .await
    .unwrap();
    // 2024-03-03, 2024-02-02, then the two 2024-01-10 sites by id descending (c05 after c01).
    assert_eq!(ids(&page), ["c03", "a12", "c05"]);
}

#[tokio::test]
async fn forged_cursors_are_refused() {
    let e = env().await;
    catalogue(&e).await;
    let t = &e.t;
    let open = SiteFilter {
        open_at: Some(monday_paris(10)),
        ..SiteFilter::default()
    };
    let forged = [
        Cursor::from_client("%%%not base64"),
        Cursor::from_client("bm90IGpzb24"),
        Cursor::encode(&"just a string"),
        Cursor::encode(&(1, 2, 3)),
    ];
    for filter in [SiteFilter::default(), open] {
        for order in ALL_ORDERS {
            for cursor in &forged {
                let mut request = first(2);
                request.after = Some(cursor.clone());
                let err = list_sites(&t.db, &filter, order, &request)
                    .await
                    .expect_err("a forged cursor was accepted");
                assert_code(&err, "invalid_cursor", None);
                let err =
                    list_sites_by_departments(&t.db, &deps(&["69"]), &filter, order, &request)
                        .await
                        .expect_err("a forged cursor was accepted by the batched read");
                assert_code(&err, "invalid_cursor", None);
            }
        }
    }
    // A well-formed key whose value is not a date, used to page by date.
    let mut request = first(2);
    request.after = Some(Cursor::encode(&("médiathèque".to_owned(), 3)));
    let err = list_sites(
        &t.db,
        &SiteFilter::default(),
        by(SiteOrderField::UpdatedOn, false),
        &request,
    )
    .await
    .unwrap_err();
    assert_code(&err, "invalid_cursor", None);
}

#[tokio::test]
async fn totals_count_every_match_not_the_page() {
    let e = env().await;
    catalogue(&e).await;
    let t = &e.t;
    let cases = [
        (SiteFilter::default(), 12),
        (
            SiteFilter {
                hub: Some("hinaura".into()),
                ..SiteFilter::default()
            },
            7,
        ),
        (
            SiteFilter {
                services: strings(&[AIDE]),
                ..SiteFilter::default()
            },
            4,
        ),
        (
            SiteFilter {
                open_at: Some(monday_paris(10)),
                ..SiteFilter::default()
            },
            4,
        ),
        (
            SiteFilter {
                text: Some("nulle part".into()),
                ..SiteFilter::default()
            },
            0,
        ),
    ];
    for (filter, total) in cases {
        let page = list_sites(
            &t.db,
            &filter,
            SiteOrder::default(),
            &first(2).with_total(true),
        )
        .await
        .unwrap();
        assert_eq!(page.total_count, Some(total), "{filter:?}");
        assert_eq!(page.items.len() as u64, total.min(2), "{filter:?}");
        assert_eq!(page.has_next_page, total > 2, "{filter:?}");
        // The total does not depend on the position.
        let mut request = first(2).with_total(true);
        request.after = page.items.last().map(|(c, _)| c.clone());
        if request.after.is_some() {
            let next = list_sites(&t.db, &filter, SiteOrder::default(), &request)
                .await
                .unwrap();
            assert_eq!(next.total_count, Some(total), "{filter:?}, second page");
        }
        // Without asking, no total.
        let page = list_sites(&t.db, &filter, SiteOrder::default(), &first(2))
            .await
            .unwrap();
        assert_eq!(page.total_count, None);
    }
}

#[tokio::test]
async fn sites_by_id() {
    let e = env().await;
    catalogue(&e).await;
    let all = e.all_sites().await;
    let wanted = [all[0].id, all[5].id, SiteId(999_999)];
    let mut found = sites_by_ids(&e.t.db, &wanted).await.unwrap();
    found.sort_by_key(|s| s.id.0);
    assert_eq!(found, [all[0].clone(), all[5].clone()]);
    assert!(sites_by_ids(&e.t.db, &[]).await.unwrap().is_empty());
    assert_eq!(
        get_site(&e.t.db, all[3].id).await.unwrap(),
        Some(all[3].clone())
    );
    assert_eq!(get_site(&e.t.db, SiteId(999_999)).await.unwrap(), None);
    // Values come back in source order, with the raw text.
    let c07 = e.site("cat", "c07").await;
    assert_eq!(
        c07.data.mapped_values(ValueKind::Service),
        [AIDE, MAITRISE, ACCES]
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Batched reads for nested lists
// ---------------------------------------------------------------------------------------------------------------

/// The 12 departments of Hinaura.
const HINAURA: [&str; 12] = [
    "01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74",
];

/// Department `i` of Hinaura gets `i % 4` sites, whose names sort differently from their ids, half of them open
/// on weekday mornings.
async fn spread_over_hinaura(e: &Env) -> usize {
    let names = ["Zèbre numérique", "alpha", "Écoute", "beta"];
    let mut rows = Vec::new();
    for (i, code) in HINAURA.iter().enumerate() {
        for k in 0..(i % 4) {
            let hours = if (i + k) % 2 == 0 {
                MON_FR_MORNING
            } else {
                "Sa 10:00-12:00"
            };
            rows.push(v01(
                &format!("{code}-{k}"),
                &format!("{} {code}", names[(i + k) % 4]),
                &format!("{code}000"),
                &[
                    ("horaires", hours),
                    ("date_maj", &format!("2023-0{}-01", 1 + (i + 2 * k) % 9)),
                ],
            ));
        }
    }
    // And sites elsewhere, which must never show up.
    rows.push(v01(
        "paris",
        "alpha Paris",
        "75001",
        &[("horaires", MON_FR_MORNING)],
    ));
    rows.push(v01("marseille", "alpha Marseille", "13001", &[]));
    let path = e.json("hinaura.json", &rows);
    let imported = e.import(&path, "hinaura").await;
    assert_eq!(imported.summary.created, rows.len() as u64);
    rows.len()
}

#[tokio::test]
async fn batched_departments_run_a_fixed_number_of_statements() {
    let e = env().await;
    spread_over_hinaura(&e).await;
    let t = &e.t;
    // Ardèche (07) has two sites, one of them open on Monday mornings: every statement of the read has rows to
    // work on. (A read whose intermediate result is empty may skip the statements after it.)
    let one = deps(&["07"]);
    let twelve = deps(&HINAURA);
    let open = SiteFilter {
        open_at: Some(monday_paris(10)),
        ..SiteFilter::default()
    };
    let hub = SiteFilter {
        hub: Some("hinaura".into()),
        ..SiteFilter::default()
    };
    let mut measured = Vec::new();
    // Upper bounds: the page (ranked rows), the values, the totals; resolving a hub slug adds two (the hub, its
    // departments), openAt one (the few sites whose hours depend on the date, evaluated by the parser).
    for (what, filter, most) in [
        ("no filter", SiteFilter::default(), 3),
        ("openAt", open, 4),
        ("hub", hub, 5),
    ] {
        for with_total in [false, true] {
            let request = first(2).with_total(with_total);
            let (small, n1, log1) = counting(
                t,
                list_sites_by_departments(&t.db, &one, &filter, SiteOrder::default(), &request),
            )
            .await;
            let (large, n12, log12) = counting(
                t,
                list_sites_by_departments(&t.db, &twelve, &filter, SiteOrder::default(), &request),
            )
            .await;
            small.unwrap();
            large.unwrap();
            assert_eq!(
                n1, n12,
                "{what}, with_total={with_total}: 1 department ran {n1} statements {log1:#?}, 12 ran {n12} {log12:#?}"
            );
            assert!(
                n12 <= most,
                "{what}, with_total={with_total}: {n12} statements {log12:#?}"
            );
            measured.push(format!("{what}, with_total={with_total}: {n12}"));
        }
    }
    println!(
        "statements per batched read (1 or 12 departments): {}",
        measured.join("; ")
    );
}

/// On PostgreSQL the page statements carry their page size as a number, not a parameter, so that PostgreSQL keeps
/// their plan instead of planning them on every request (`maillage_core::db::literal_limits`); the pages are the
/// same on both backends.
#[tokio::test]
async fn page_statements_write_their_page_size_out_on_postgresql() {
    let e = env().await;
    spread_over_hinaura(&e).await;
    let t = &e.t;
    let twelve = deps(&HINAURA);
    let request = first(2).with_total(true);
    let filter = SiteFilter::default();
    let (nested, _, nested_log) = counting(
        t,
        list_sites_by_departments(&t.db, &twelve, &filter, SiteOrder::default(), &request),
    )
    .await;
    let (root, _, root_log) = counting(
        t,
        list_sites(&t.db, &filter, SiteOrder::default(), &request),
    )
    .await;
    let (nested, root) = (nested.unwrap(), root.unwrap());
    assert!(
        nested
            .values()
            .any(|p| p.items.len() == 2 && p.has_next_page)
    );
    assert_eq!(root.items.len(), 2);
    assert!(root.has_next_page);
    for (what, log) in [("nested", &nested_log), ("root", &root_log)] {
        let pages: Vec<&String> = log.iter().filter(|sql| sql.contains(" LIMIT")).collect();
        assert!(!pages.is_empty(), "{what}: {log:#?}");
        for sql in pages {
            if t.is_postgres() {
                assert!(sql.contains(" LIMIT 3"), "{what}: {sql}");
                assert!(!sql.contains(" LIMIT $"), "{what}: {sql}");
            } else {
                assert!(sql.contains(" LIMIT ?"), "{what}: {sql}");
            }
        }
    }
}

/// A nested list that selects no multi-valued field reads the same sites without their values, in one statement
/// fewer, whatever the number of departments.
#[tokio::test]
async fn batched_departments_without_values_skip_the_values_statement() {
    let e = env().await;
    spread_over_hinaura(&e).await;
    let t = &e.t;
    let twelve = deps(&HINAURA);
    let request = first(3).with_total(true);
    let filter = SiteFilter::default();
    let (whole, n_whole, _) = counting(
        t,
        list_site_parts_by_departments(
            &t.db,
            &twelve,
            &filter,
            SiteOrder::default(),
            &request,
            SiteParts::Whole,
        ),
    )
    .await;
    let (bare, n_bare, log) = counting(
        t,
        list_site_parts_by_departments(
            &t.db,
            &twelve,
            &filter,
            SiteOrder::default(),
            &request,
            SiteParts::WithoutValues,
        ),
    )
    .await;
    let (whole, bare) = (whole.unwrap(), bare.unwrap());
    assert_eq!(n_bare + 1, n_whole, "{log:#?}");
    assert!(
        whole
            .values()
            .flat_map(|p| &p.items)
            .any(|(_, s)| !s.data.values.is_empty()),
        "the fixture's sites have values"
    );
    assert_eq!(whole.len(), bare.len());
    for (code, page) in &whole {
        let other = &bare[code];
        assert_eq!(
            (page.total_count, page.has_next_page),
            (other.total_count, other.has_next_page)
        );
        assert_eq!(page.items.len(), other.items.len());
        for ((c1, s1), (c2, s2)) in page.items.iter().zip(&other.items) {
            assert_eq!(c1, c2);
            assert!(s2.data.values.is_empty());
            let mut s1 = s1.clone();
            s1.data.values.clear();
            s1.parts = SiteParts::WithoutValues;
            assert_eq!(&s1, s2);
        }
    }
}

#[tokio::test]
async fn batched_departments_equal_one_list_per_department() {
    let e = env().await;
    spread_over_hinaura(&e).await;
    let t = &e.t;
    let mut asked = deps(&HINAURA);
    // A department with no site at all, and one outside the hub, are answered too.
    asked.push(dep("2A"));
    let open = SiteFilter {
        open_at: Some(monday_paris(10)),
        ..SiteFilter::default()
    };
    let saturday = SiteFilter {
        open_at: Some(paris(2024, 1, 20, 11, 0)),
        ..SiteFilter::default()
    };
    let text = SiteFilter {
        text: Some("alpha".into()),
        ..SiteFilter::default()
    };
    for filter in [SiteFilter::default(), open, saturday.clone(), text] {
        for order in ALL_ORDERS {
            for size in [1, 2, 3] {
                let request = first(size).with_total(true);
                let batched = list_sites_by_departments(&t.db, &asked, &filter, order, &request)
                    .await
                    .unwrap();
                assert_eq!(batched.len(), asked.len());
                for code in &asked {
                    let single = SiteFilter {
                        departments: Some(vec![code.clone()]),
                        ..filter.clone()
                    };
                    let expected = list_sites(&t.db, &single, order, &request).await.unwrap();
                    let got = &batched[code];
                    assert_eq!(
                        got,
                        &expected,
                        "department {}, {order:?}, first {size}, {filter:?}",
                        code.as_str()
                    );
                    assert!(got.items.len() <= size as usize);
                    assert!(
                        got.items
                            .iter()
                            .all(|(_, s)| s.department_code.as_ref() == Some(code))
                    );
                }
            }
        }
    }
    // A second page (`after` a cursor taken in 43, which has three sites): the same position in every department.
    for filter in [SiteFilter::default(), saturday] {
        for order in ALL_ORDERS {
            let in_43 = SiteFilter {
                departments: Some(deps(&["43"])),
                ..filter.clone()
            };
            let page = list_sites(&t.db, &in_43, order, &first(1)).await.unwrap();
            let (cursor, _) = page.items.first().expect("43 has sites");
            let mut request = first(1).with_total(true);
            request.after = Some(cursor.clone());
            let batched = list_sites_by_departments(&t.db, &asked, &filter, order, &request)
                .await
                .unwrap();
            for code in &asked {
                let single = SiteFilter {
                    departments: Some(vec![code.clone()]),
                    ..filter.clone()
                };
                let expected = list_sites(&t.db, &single, order, &request).await.unwrap();
                assert_eq!(
                    batched[code],
                    expected,
                    "after a cursor: department {}, {order:?}, {filter:?}",
                    code.as_str()
                );
            }
            assert!(
                !batched[&dep("43")].items.is_empty(),
                "{order:?}, {filter:?}"
            );
        }
    }

    // Spot checks, so that the comparison above cannot pass on two equally wrong answers.
    let batched = list_sites_by_departments(
        &t.db,
        &deps(&["26", "42", "2A"]),
        &SiteFilter::default(),
        SiteOrder::default(),
        &first(2).with_total(true),
    )
    .await
    .unwrap();
    // 26 is index 4 (no site), 42 is index 6 (two sites), 69 is index 9 (one site).
    let p26 = &batched[&dep("26")];
    assert!(p26.items.is_empty() && !p26.has_next_page);
    assert_eq!(p26.total_count, Some(0));
    let p42 = &batched[&dep("42")];
    assert_eq!(ids(p42), ["42-1", "42-0"], "beta 42 before Écoute 42");
    assert_eq!((p42.has_next_page, p42.total_count), (false, Some(2)));
    let p2a = &batched[&dep("2A")];
    assert_eq!((p2a.items.len(), p2a.total_count), (0, Some(0)));
    let batched = list_sites_by_departments(
        &t.db,
        &deps(&["43"]),
        &SiteFilter::default(),
        SiteOrder::default(),
        &first(2).with_total(true),
    )
    .await
    .unwrap();
    // 43 is index 7: three sites, a page of two with more to come.
    let p43 = &batched[&dep("43")];
    assert_eq!(p43.items.len(), 2);
    assert_eq!((p43.has_next_page, p43.total_count), (true, Some(3)));
    // Nothing asked, nothing read.
    let (empty, n, _) = counting(
        t,
        list_sites_by_departments(
            &t.db,
            &[],
            &SiteFilter::default(),
            SiteOrder::default(),
            &first(2),
        ),
    )
    .await;
    assert!(empty.unwrap().is_empty());
    assert_eq!(n, 0);
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Export
// ---------------------------------------------------------------------------------------------------------------

async fn export(
    e: &Env,
    actor: &Actor,
    scope: &ExportScope,
    include_emails: bool,
) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut out = Vec::new();
    let count = export_v1(&e.t.db, actor, scope, include_emails, &mut out)
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(out.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows: Vec<BTreeMap<String, String>> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r.len(), 32, "{r:?}");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    assert_eq!(count, rows.len() as u64);
    (header, rows)
}

fn by_id(rows: &[BTreeMap<String, String>]) -> BTreeMap<String, BTreeMap<String, String>> {
    rows.iter().map(|r| (r["id"].clone(), r.clone())).collect()
}

#[tokio::test]
async fn export_writes_one_v1_row_per_site() {
    let e = env().await;
    catalogue(&e).await;
    let v01_rows = [v01(
        "7",
        "Médiathèque",
        "69001",
        &[
            ("courriel", "accueil@mediatheque.fr"),
            ("publics_accueillis", "Adultes;Surdité"),
            ("telephone", "04 72 10 20 30"),
        ],
    )];
    let path = e.json("v01.json", &v01_rows);
    e.import(&path, "hub").await;

    let (header, rows) = export(&e, &Actor::cli(), &ExportScope::default(), true).await;
    assert_eq!(header, V1_COLUMNS);
    assert_eq!(rows.len(), 13);
    let rows = by_id(&rows);
    let ids: Vec<&str> = rows.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "autre:a12",
            "cat:c01",
            "cat:c02",
            "cat:c03",
            "cat:c04",
            "cat:c05",
            "cat:c06",
            "cat:c07",
            "cat:c08",
            "cat:c09",
            "cat:c10",
            "cat:c11",
            "hub:7"
        ]
    );
    let c01 = &rows["cat:c01"];
    assert_eq!(c01["nom"], "Médiathèque Jean Macé");
    assert_eq!(c01["code_insee"], "69387");
    assert_eq!(c01["services"], format!("{AIDE}|{MAITRISE}"));
    assert_eq!(c01["dispositif_programmes_nationaux"], "France Services");
    assert_eq!(c01["courriels"], "contact@mediatheque-mace.fr");
    assert_eq!(c01["date_maj"], "2024-01-10");
    // A v0.1 site in v1.0.2 words: unmapped values (Adultes) left out, e-mail column renamed.
    let hub7 = &rows["hub:7"];
    assert_eq!(hub7["courriels"], "accueil@mediatheque.fr");
    assert_eq!(hub7["prise_en_charge_specifique"], "Surdité");
    assert_eq!(hub7["publics_specifiquement_adresses"], "");
    assert_eq!(hub7["services"], MAITRISE);
    assert_eq!(hub7["telephone"], "+33472102030");

    // E-mails are left out unless asked for, and only for actors who may read them.
    let (_, rows) = export(&e, &Actor::cli(), &ExportScope::default(), false).await;
    assert!(rows.iter().all(|r| r["courriels"].is_empty()));
    for actor in [Actor::anonymous(), Actor::with_role(Role::Partner, "app")] {
        let (_, rows) = export(&e, &actor, &ExportScope::default(), true).await;
        assert_eq!(rows.len(), 13);
        assert!(
            rows.iter().all(|r| r["courriels"].is_empty()),
            "{actor:?} read e-mails"
        );
    }
    let coordinator = e.hinaura_coordinator().await;
    let (_, rows) = export(&e, &coordinator, &ExportScope::default(), true).await;
    let rows = by_id(&rows);
    assert_eq!(rows["cat:c01"]["courriels"], "contact@mediatheque-mace.fr");
    assert_eq!(
        rows["cat:c03"]["courriels"], "",
        "Marseille is outside Hinaura"
    );

    // Scopes.
    let (_, rows) = export(
        &e,
        &Actor::cli(),
        &ExportScope {
            hub: Some("hinaura".into()),
            department: None,
        },
        false,
    )
    .await;
    let ids: HashSet<String> = rows.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(
        ids,
        [
            "autre:a12",
            "cat:c01",
            "cat:c02",
            "cat:c07",
            "cat:c08",
            "cat:c09",
            "cat:c10",
            "hub:7"
        ]
        .map(str::to_owned)
        .into()
    );
    let (_, rows) = export(
        &e,
        &Actor::cli(),
        &ExportScope {
            hub: Some("hinaura".into()),
            department: Some(dep("38")),
        },
        false,
    )
    .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], "cat:c02");
    let (_, rows) = export(
        &e,
        &Actor::cli(),
        &ExportScope {
            hub: Some("hinaura".into()),
            department: Some(dep("13")),
        },
        false,
    )
    .await;
    assert!(rows.is_empty());
}

#[tokio::test]
async fn export_streams_past_its_chunk_size() {
    let e = env().await;
    let path = e.json("many.json", &many_v01(1_050));
    assert_eq!(e.import(&path, "hub").await.summary.created, 1_050);
    let (_, rows) = export(&e, &Actor::cli(), &ExportScope::default(), false).await;
    assert_eq!(rows.len(), 1_050);
    let unique: HashSet<&str> = rows.iter().map(|r| r["id"].as_str()).collect();
    assert_eq!(unique.len(), 1_050);
    assert!(unique.contains("hub:row-0") && unique.contains("hub:row-1049"));
}

// ---------------------------------------------------------------------------------------------------------------
// 6. The hubs' real files
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn real_hub_files_import_completely_and_idempotently() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/lieux"
    ));
    if !dir.is_dir() {
        if std::env::var("MAILLAGE_REQUIRE_SHARED_DATA").is_ok_and(|v| !v.is_empty()) {
            panic!(
                "MAILLAGE_REQUIRE_SHARED_DATA is set but {} does not exist",
                dir.display()
            );
        }
        println!(
            "skipped: ../shared/data not found (set MAILLAGE_REQUIRE_SHARED_DATA=1 to fail instead)"
        );
        return;
    }
    let e = env().await;
    let mut stored_total = 0;
    for (file, source) in [
        ("hinaura-aura.json", "hinaura"),
        ("hub-du-sud-paca.json", "hub-du-sud"),
    ] {
        let path = dir.join(file);
        let rows: Vec<Value> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let n = rows.len() as u64;
        assert!(n > 0);
        let first_import = e.import(&path, source).await;
        let s = &first_import.summary;
        first_import.assert_accounts_for(n);
        assert_eq!(s.created, s.stored(), "{file}: fresh database");
        let again = e.import(&path, source).await;
        let s2 = &again.summary;
        again.assert_accounts_for(n);
        assert_eq!(
            s2.changes(),
            0,
            "{file}: second import changed rows: {s2:?}"
        );
        assert_eq!(s2.unchanged, s.stored(), "{file}");
        assert_eq!(s2.rejected, s.rejected, "{file}");
        println!(
            "{file}: {n} rows, {} stored ({} with corrections), {} rejected",
            s.stored(),
            s.corrected,
            s.rejected
        );
        stored_total += s.stored();
    }
    assert_eq!(e.table_counts().await.0 as u64, stored_total);
    // Every stored site can be read back and exported.
    let all = e.all_sites().await;
    assert_eq!(all.len() as u64, stored_total);
    let (_, exported) = export(&e, &Actor::cli(), &ExportScope::default(), true).await;
    assert_eq!(exported.len() as u64, stored_total);
    let by_department: HashMap<Option<DepartmentCode>, usize> =
        all.iter().fold(HashMap::new(), |mut m, s| {
            *m.entry(s.department_code.clone()).or_default() += 1;
            m
        });
    println!("sites by department: {by_department:?}");
}

// ---------------------------------------------------------------------------------------------------------------
// Feeds in: encodings, formats, mappings, validation (issues #13.3-4, #19.6)
// ---------------------------------------------------------------------------------------------------------------

fn feed_fixture(name: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/feeds"
    ))
    .join(name)
}

impl Env {
    async fn import_with(&self, path: &Path, options: ImportOptions) -> Imported {
        let mut report = Vec::new();
        let summary = import_file(
            &self.t.db,
            &Actor::cli(),
            path,
            &options,
            &mut |line: &ReportLine| report.push(line.clone()),
            &|_| {},
        )
        .await
        .unwrap_or_else(|e| panic!("import of {} failed: {e}", path.display()));
        Imported { summary, report }
    }
}

/// What an import stored and reported, without what differs between two copies of one file (ids, times).
async fn stored_view(e: &Env, source: &str, imported: &Imported) -> (Vec<String>, Vec<String>) {
    let mut sites: Vec<String> = e
        .all_sites()
        .await
        .into_iter()
        .filter(|s| s.source == source)
        .map(|s| {
            let mut data = s.data.clone();
            data.values.sort_by(|a, b| a.raw.cmp(&b.raw));
            format!("{data:?} dep={:?}", s.department_code)
        })
        .collect();
    sites.sort();
    let mut report: Vec<String> = imported
        .report
        .iter()
        .map(|l| {
            format!(
                "{} {:?} {} {} {}",
                l.location, l.source_id, l.kind, l.field, l.reason
            )
        })
        .collect();
    report.sort();
    (sites, report)
}

/// The fixture's rows written as a workbook, as Excel would save the CSV.
fn xlsx_copy(csv_path: &Path, out: &Path) {
    let mut reader = csv::Reader::from_path(csv_path).unwrap();
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Lieux").unwrap();
    for (col, name) in reader.headers().unwrap().iter().enumerate() {
        sheet.write_string(0, col as u16, name).unwrap();
    }
    for (row, record) in reader.records().enumerate() {
        for (col, cell) in record.unwrap().iter().enumerate() {
            let (r, c) = (row as u32 + 1, col as u16);
            // Numbers as numbers, like a spreadsheet holds them: the reader must give back their text.
            match cell.parse::<f64>() {
                Ok(n) if !cell.starts_with('0') || cell == "0" => sheet.write_number(r, c, n),
                _ => sheet.write_string(r, c, cell),
            }
            .unwrap();
        }
    }
    workbook.save(out).unwrap();
}

#[tokio::test]
async fn feeds_latin1_semicolon_csv_and_xlsx_store_what_the_utf8_csv_stores() {
    let utf8 = feed_fixture("lieux-v1.csv");
    let latin1 = feed_fixture("lieux-v1-latin1.csv");
    assert!(
        std::str::from_utf8(&std::fs::read(&latin1).unwrap()).is_err(),
        "the fixture is not Latin-1"
    );
    let e = env().await;
    let reference = e.import(&utf8, "feed").await;
    reference.assert_accounts_for(4);
    assert_eq!(
        (reference.summary.created, reference.summary.rejected),
        (3, 1)
    );
    let expected = stored_view(&e, "feed", &reference).await;

    let e = env().await;
    let imported = e.import(&latin1, "feed").await;
    assert_eq!(stored_view(&e, "feed", &imported).await, expected);
    assert_eq!(
        e.site("feed", "mj-2").await.data.name,
        "Espace numérique de l'Île"
    );

    let e = env().await;
    let xlsx = e.path("lieux.xlsx");
    xlsx_copy(&utf8, &xlsx);
    let imported = e.import(&xlsx, "feed").await;
    assert_eq!(imported.summary.format.to_string(), "xlsx");
    // A sheet's rows are numbered by the sheet: the two-line CSV cell is one row there.
    let (sites, report) = stored_view(&e, "feed", &imported).await;
    assert_eq!(sites, expected.0);
    let csv_lines_as_rows = |line: &String| {
        line.replacen("line 5 ", "line 4 ", 1)
            .replacen("line 6 ", "line 5 ", 1)
    };
    assert_eq!(
        report,
        expected.1.iter().map(csv_lines_as_rows).collect::<Vec<_>>()
    );
    // A named sheet, and a sheet that does not exist.
    let e = env().await;
    let named = e
        .import_with(
            &xlsx,
            ImportOptions {
                source: "feed".into(),
                sheet: Some("Lieux".into()),
                ..ImportOptions::default()
            },
        )
        .await;
    assert_eq!(named.summary.created, 3);
    let err = import_file(
        &e.t.db,
        &Actor::cli(),
        &xlsx,
        &ImportOptions {
            source: "feed".into(),
            sheet: Some("Feuil2".into()),
            ..ImportOptions::default()
        },
        &mut |_| {},
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("Lieux"), "{err}");
}

#[tokio::test]
async fn feeds_report_lines_are_the_files_own_lines_and_coordinates_are_checked() {
    let e = env().await;
    let imported = e.import(&feed_fixture("lieux-v1.csv"), "feed").await;
    let at = |id: &str| {
        imported
            .report
            .iter()
            .filter(|l| l.source_id.as_deref() == Some(id))
            .map(|l| (l.location, l.kind, l.field.clone(), l.reason.clone()))
            .collect::<Vec<_>>()
    };
    // mj-2 starts on line 3 and spans two lines (a quoted line break): mj-3 is on line 5, mj-4 on line 6.
    let swapped = at("mj-2");
    assert_eq!(swapped.len(), 1, "{swapped:?}");
    assert_eq!(swapped[0].0, Location::Line(3));
    assert!(swapped[0].3.contains("swapped"), "{swapped:?}");
    let site = e.site("feed", "mj-2").await;
    assert_eq!(
        (site.data.latitude, site.data.longitude),
        (Some(45.695), Some(4.778))
    );
    let paris_in_lyon = at("mj-3");
    assert_eq!(paris_in_lyon[0].0, Location::Line(5));
    assert!(
        paris_in_lyon[0].3.contains("outside department 69"),
        "{paris_in_lyon:?}"
    );
    assert_eq!(e.site("feed", "mj-3").await.data.latitude, None);
    let nowhere = at("mj-4");
    assert_eq!(
        (nowhere[0].0, nowhere[0].1, nowhere[0].2.as_str()),
        (Location::Line(6), IssueKind::Rejected, "code_postal")
    );
    // In range and in its department: kept as given.
    assert_eq!(e.site("feed", "mj-1").await.data.latitude, Some(47.322));
}

#[tokio::test]
async fn feeds_duplicate_header_columns_are_refused_with_their_names() {
    let e = env().await;
    let path = e.write(
        "dup.csv",
        "id,nom,pivot,nom,commune,code_postal,adresse,date_maj,commune\n1,A,00000000000000,B,Lyon,69001,1 rue,2024-01-01,Lyon\n",
    );
    let err = e
        .import_as(&Actor::cli(), &path, "dup")
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "invalid_file");
    assert!(
        err.to_string()
            .contains("duplicate column(s) in the header: nom, commune"),
        "{err}"
    );
    assert_eq!(e.table_counts().await, (0, 0));
}

/// The API's rules bind imports and direct callers too (issue 17 point 5): the same bad values that `createSite`
/// refuses (tests/e2e/write.rs) are dropped with a report line by an import (optional fields) or reject its row
/// (required ones), and the domain's `create_site`/`update_site` refuse them from a caller that built the site by
/// hand.
#[tokio::test]
async fn input_rules_bind_imports_and_direct_callers_alike() {
    let e = env().await;
    let path = e.v1_csv(
        "lieux.csv",
        &[
            v1(
                "bad-optional",
                "Lieu",
                "69001",
                &[
                    ("telephone", "12"),
                    ("latitude", "95"),
                    ("longitude", "4.8"),
                    ("courriels", "ok@example.org|not-an-email"),
                ],
            ),
            v1(
                "layouts",
                "Lieu",
                "69001",
                &[("telephone", "04.78.00.00.00")],
            ),
            v1("bad-required", "Lieu", "98000", &[]),
        ],
    );
    let imported = e.import(&path, "rules").await;
    imported.assert_accounts_for(3);
    assert_eq!(
        (imported.summary.created, imported.summary.rejected),
        (2, 1)
    );
    for (field, needle) in [
        (
            "telephone",
            "\"12\" is not a phone number the standard accepts",
        ),
        (
            "latitude",
            "latitude must be between -90 and 90 (got 95); dropped",
        ),
        (
            "courriels",
            "\"not-an-email\" is not an e-mail address; dropped",
        ),
    ] {
        let lines = imported.lines(field);
        assert_eq!(lines.len(), 1, "{field}: {:#?}", imported.report);
        assert_eq!(
            (lines[0].kind, lines[0].location),
            (IssueKind::Corrected, Location::Line(2)),
            "{field}"
        );
        assert!(lines[0].reason.contains(needle), "{field}: {lines:?}");
    }
    let postal = imported.lines("code_postal");
    assert_eq!(
        (postal[0].kind, postal[0].location),
        (IssueKind::Rejected, Location::Line(4))
    );
    assert!(
        postal[0].reason.contains("no French department"),
        "{postal:?}"
    );
    let stored = e.site("rules", "bad-optional").await;
    assert_eq!(
        (
            stored.data.phone.as_deref(),
            stored.data.latitude,
            stored.data.longitude
        ),
        (None, None, None)
    );
    assert_eq!(stored.data.emails.len(), 1);
    assert!(stored.data.problems().is_empty());
    let layouts = e.site("rules", "layouts").await;
    assert_eq!(layouts.data.phone.as_deref(), Some("+33478000000"));

    // A caller that builds the site by hand (CLI, a future path) meets the same rules in the domain.
    let mut new = (*stored.data).clone();
    new.source_id = "direct".into();
    new.phone = Some("12".into());
    new.latitude = Some(95.0);
    new.longitude = Some(4.8);
    new.name = " ".into();
    let err = maillage_sites::create_site(&e.t.db, &Actor::cli(), "hub du sud", new)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_value", "{err}");
    let fields: Vec<String> = err
        .field_problems()
        .unwrap()
        .iter()
        .map(|p| p.field.to_string())
        .collect();
    assert_eq!(fields, ["source", "name", "latitude", "phone"]);
    assert!(e.find("rules", "direct").await.is_none());

    let patch = SitePatch {
        phone: Some(Some("0478".into())),
        coordinates: Some(Some((45.0, 181.0))),
        ..SitePatch::default()
    };
    let err =
        maillage_sites::update_site(&e.t.db, &Actor::cli(), layouts.id, layouts.version, patch)
            .await
            .unwrap_err();
    let fields: Vec<String> = err
        .field_problems()
        .unwrap()
        .iter()
        .map(|p| p.field.to_string())
        .collect();
    assert_eq!(fields, ["longitude", "phone"]);
    assert_eq!(e.site("rules", "layouts").await.version, layouts.version);
}

#[tokio::test]
async fn feeds_over_long_values_are_refused_or_dropped() {
    let e = env().await;
    let long_name = "N".repeat(maillage_sites::draft::limits::NAME + 1);
    let long_detail = "d".repeat(10_001);
    let path = e.v1_csv(
        "lieux.csv",
        &[
            v1("long-name", &long_name, "69001", &[]),
            v1(
                "long-detail",
                "Lieu",
                "69001",
                &[("presentation_detail", &long_detail)],
            ),
        ],
    );
    let imported = e.import(&path, "long").await;
    imported.assert_accounts_for(2);
    let nom = imported.lines("nom");
    assert_eq!(
        (nom[0].kind, nom[0].location),
        (IssueKind::Rejected, Location::Line(2))
    );
    assert!(
        nom[0]
            .reason
            .contains("301 characters, over the limit of 300"),
        "{nom:?}"
    );
    let detail = imported.lines("presentation_detail");
    assert_eq!(detail[0].kind, IssueKind::Corrected);
    assert_eq!(e.site("long", "long-detail").await.data.description, None);
}

#[tokio::test]
async fn feeds_carto_2020_files_import_with_the_built_in_mapping() {
    let mapping = std::sync::Arc::new(
        maillage_sites::mapping::Mapping::load("aidants-connect-carto-2020").unwrap(),
    );
    let options = || ImportOptions {
        source: "carto".into(),
        mapping: Some(mapping.clone()),
        ..ImportOptions::default()
    };
    // The layout's own valid example (../shared), when present.
    let example = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/schemas/aidants-connect-carto-2020/exemple-valide.csv"
    ));
    if example.is_file() {
        let e = env().await;
        let imported = e.import_with(example, options()).await;
        imported.assert_accounts_for(2);
        assert_eq!(imported.summary.stored(), 1, "{:#?}", imported.report);
    } else {
        println!(
            "skipped the layout's example: {} not found",
            example.display()
        );
    }

    let e = env().await;
    let imported = e
        .import_with(&feed_fixture("carto-2020.csv"), options())
        .await;
    imported.assert_accounts_for(3);
    assert_eq!(
        (imported.summary.created, imported.summary.rejected),
        (2, 1)
    );
    assert_eq!(imported.summary.version.as_str(), "1.0.2");
    // Extracted from the one-line address, then the INSEE code looked up in the communes table.
    let dijon = e.site("carto", "mediatheque-champollion").await;
    assert_eq!(dijon.data.postal_code.as_str(), "21000");
    assert_eq!(dijon.data.commune, "Dijon");
    assert_eq!(dijon.data.address, "38 Avenue Françoise Giroud");
    assert_eq!(
        dijon.data.insee_code.as_ref().map(|c| c.as_str()),
        Some("21231")
    );
    assert_eq!(dijon.data.phone.as_deref(), Some("+33380488230"));
    assert_eq!(
        dijon.data.mapped_values(ValueKind::Service),
        [
            "Accès internet et matériel informatique",
            "Acquisition de matériel informatique à prix solidaire"
        ]
    );
    assert_eq!(
        dijon.data.mapped_values(ValueKind::NationalProgramme),
        ["France Services"]
    );
    assert_eq!(dijon.data.other_labels.as_deref(), Some("APTIC"));
    // The dropped column is nowhere: not stored, not in the report.
    assert!(!format!("{:?}{:?}", dijon.data, imported.report).contains("Dupont"));
    let tilleuls = e.site("carto", "centre-social-les-tilleuls-69230").await;
    assert_eq!(tilleuls.data.address, "12 rue des Tilleuls");
    assert_eq!(
        tilleuls.data.insee_code.as_ref().map(|c| c.as_str()),
        Some("69204")
    );
    assert_eq!(
        tilleuls.data.mapped_values(ValueKind::Itinerance),
        ["Itinérant"]
    );
    assert_eq!(
        tilleuls.data.mapped_values(ValueKind::SpecificSupport),
        ["Langues étrangères (autres)"]
    );
    // Values no translation covers: kept raw, counted per column and value.
    let untranslated = &imported.summary.untranslated;
    assert_eq!(
        untranslated.get(&("public_cible".into(), "Allocataires".into())),
        Some(&1)
    );
    assert_eq!(
        untranslated.get(&("tarifs".into(), "Adhérent".into())),
        Some(&1)
    );
    assert_eq!(
        untranslated.get(&("labels".into(), "APTIC".into())),
        None,
        "{untranslated:?}"
    );
    assert!(
        dijon
            .data
            .values
            .iter()
            .any(|v| v.raw == "Allocataires" && v.value.is_none())
    );
    assert!(
        imported
            .rejected_ids()
            .contains(&Some("permanence-sans-adresse".into()))
    );
    // Re-importing changes nothing.
    let again = e
        .import_with(&feed_fixture("carto-2020.csv"), options())
        .await;
    assert_eq!(again.summary.changes(), 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Incremental sync
// ---------------------------------------------------------------------------------------------------------------

/// A partner's copy of the sites, kept by `updatedSince` pulls with tombstones.
#[derive(Default)]
struct Mirror {
    sites: BTreeMap<i32, Site>,
    /// The newest `updated_at` seen: the next pull asks from there, minus an overlap for slow transactions.
    watermark: Option<DateTime<Utc>>,
}

impl Mirror {
    /// Pulls every site changed since the watermark (everything the first time), in `UPDATED_AT` order, pages of
    /// `size`; `during` runs after the first page, to change data while the pull is under way.
    async fn pull<F: Future<Output = ()>>(&mut self, t: &TestDb, size: i32, during: F) {
        let sync = maillage_sites::SiteSync {
            updated_since: self.watermark.map(|w| w - chrono::Duration::seconds(1)),
            include_archived: true,
        };
        let order = by(SiteOrderField::UpdatedAt, false);
        let mut after: Option<Cursor> = None;
        let mut during = Some(during);
        loop {
            let mut request = first(size);
            request.after = after.clone();
            let page = maillage_sites::list_sites_synced(
                &t.db,
                &SiteFilter::default(),
                &sync,
                order,
                &request,
            )
            .await
            .unwrap();
            let more = page.has_next_page;
            after = page.items.last().map(|(c, _)| c.clone());
            for (_, site) in page.items {
                self.watermark = self.watermark.max(Some(site.updated_at));
                if site.archived_at.is_some() {
                    self.sites.remove(&site.id.0);
                } else {
                    self.sites.insert(site.id.0, site);
                }
            }
            if let Some(f) = during.take() {
                f.await;
            }
            if !more {
                return;
            }
        }
    }
}

/// Every site of `sync`, by pages of 3.
async fn walk_synced(t: &TestDb, sync: &maillage_sites::SiteSync, order: SiteOrder) -> Vec<Site> {
    let mut out = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let mut request = first(3);
        request.after = after.clone();
        let page =
            maillage_sites::list_sites_synced(&t.db, &SiteFilter::default(), sync, order, &request)
                .await
                .unwrap();
        after = page.items.last().map(|(c, _)| c.clone());
        let more = page.has_next_page;
        out.extend(page.items.into_iter().map(|(_, s)| s));
        if !more {
            return out;
        }
    }
}

#[tokio::test]
async fn a_mirror_synced_by_updated_since_with_tombstones_equals_the_server() {
    let e = env().await;
    let rows = many_v01(30);
    e.import(&e.json("first.json", &rows), "hub").await;
    let admin = Actor::cli();
    let mut mirror = Mirror::default();
    // A site renamed while the first pull runs moves to the end of the UPDATED_AT order: it is still seen.
    let renamed_during_pull = e.site("hub", "row-3").await;
    mirror
        .pull(&e.t, 4, async {
            maillage_sites::update_site(
                &e.t.db,
                &admin,
                renamed_during_pull.id,
                renamed_during_pull.version,
                maillage_sites::SitePatch {
                    name: Some("Zz renommé pendant la copie".to_owned()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        })
        .await;
    let server: BTreeMap<i32, Site> = e
        .all_sites()
        .await
        .into_iter()
        .map(|s| (s.id.0, s))
        .collect();
    assert_eq!(
        mirror.sites, server,
        "the first full pull is a faithful copy"
    );

    // Random updates and archives through the API services, then a re-import that edits, adds and keeps.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for round in 0..12 {
        let sites = e.all_sites().await;
        let s = &sites[next(sites.len())];
        if next(3) == 0 {
            maillage_sites::archive_site(&e.t.db, &admin, s.id, s.version)
                .await
                .unwrap();
        } else {
            maillage_sites::update_site(
                &e.t.db,
                &admin,
                s.id,
                s.version,
                maillage_sites::SitePatch {
                    name: Some(format!("Lieu modifié {round}")),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
    }
    let mut again = many_v01(34);
    for i in [5, 17, 28] {
        again[i]["nom"] = json!(format!("Réimporté {i}"));
    }
    e.import(&e.json("again.json", &again), "hub").await;

    let before = mirror.sites.len();
    let mut changed = 0;
    {
        let sync = maillage_sites::SiteSync {
            updated_since: mirror.watermark,
            include_archived: true,
        };
        changed += walk_synced(&e.t, &sync, by(SiteOrderField::UpdatedAt, false))
            .await
            .len();
    }
    mirror.pull(&e.t, 5, async {}).await;
    let server: BTreeMap<i32, Site> = e
        .all_sites()
        .await
        .into_iter()
        .map(|s| (s.id.0, s))
        .collect();
    assert_eq!(
        mirror.sites, server,
        "the incremental pull converges exactly"
    );
    assert!(
        changed < server.len() + 12,
        "the second pull read only what changed"
    );
    assert!(before > 0 && changed > 0);
    // Tombstones are readable as such, and a site is found by its origin, archived or not.
    let archived: Vec<Site> = walk_synced(
        &e.t,
        &maillage_sites::SiteSync {
            include_archived: true,
            ..Default::default()
        },
        by(SiteOrderField::Id, false),
    )
    .await
    .into_iter()
    .filter(|s| s.archived_at.is_some())
    .collect();
    assert!(!archived.is_empty());
    let tomb = &archived[0];
    let found = maillage_sites::site_by_source(&e.t.db, "hub", &tomb.data.source_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, found.archived_at), (tomb.id, tomb.archived_at));
    assert!(
        maillage_sites::site_by_source(&e.t.db, "hub", "no-such-row")
            .await
            .unwrap()
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 5b. Exports for partners: formulas neutralised, data·inclusion, GeoJSON
// ---------------------------------------------------------------------------------------------------------------

/// The data·inclusion schema of `collection` (`structure` or `service`), or `None` without `../shared`.
fn datainclusion_schema(collection: &str) -> Option<jsonschema::Validator> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/schemas")
        .join(format!("data-inclusion-v1-{collection}.schema.json"));
    if !path.exists() {
        assert!(
            std::env::var("MAILLAGE_REQUIRE_SHARED_DATA").is_err(),
            "{} is missing",
            path.display()
        );
        eprintln!("skipped: {} not found", path.display());
        return None;
    }
    let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    Some(
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap(),
    )
}

#[tokio::test]
async fn the_v1_export_neutralises_a_stored_formula() {
    let e = env().await;
    let path = e.v1_csv(
        "formula.csv",
        &[v1(
            "f1",
            "=HYPERLINK(\"x\")",
            // Nantes: a negative longitude inside its department (the import checks coordinates against it).
            "44000",
            &[
                ("commune", "Nantes"),
                ("telephone", "+33472102030"),
                ("longitude", "-1.5"),
                ("latitude", "47.2"),
            ],
        )],
    );
    e.import(&path, "hub").await;
    let (_, rows) = export(&e, &Actor::cli(), &ExportScope::default(), true).await;
    assert_eq!(rows[0]["nom"], "'=HYPERLINK(\"x\")");
    // Numbers and phones in the standard's form stay as they are.
    assert_eq!(rows[0]["telephone"], "+33472102030");
    assert_eq!(rows[0]["longitude"], "-1.5");
}

#[tokio::test]
async fn datainclusion_objects_validate_and_emails_follow_the_callers_rights() {
    let e = env().await;
    catalogue(&e).await;
    let all = e.all_sites().await;
    assert!(all.len() >= 10);
    let coordinator = e.hinaura_coordinator().await;
    for (collection, which) in [
        ("structure", datainclusion::Collection::Structures),
        ("service", datainclusion::Collection::Services),
    ] {
        let mut out = Vec::new();
        let n = datainclusion::write_datainclusion(
            &e.t.db,
            &Actor::cli(),
            &SiteFilter::default(),
            which,
            &mut out,
        )
        .await
        .unwrap();
        let items: Vec<Value> = serde_json::from_slice(&out).unwrap();
        assert_eq!(items.len() as u64, n);
        assert_eq!(items.len(), all.len());
        if let Some(validator) = datainclusion_schema(collection) {
            // The validator does refuse: an object without its required fields fails.
            assert!(!validator.is_valid(&json!({ "id": "x" })));
            for item in &items {
                let errors: Vec<String> = validator
                    .iter_errors(item)
                    .map(|e| format!("{} at {}", e, e.instance_path()))
                    .collect();
                assert!(errors.is_empty(), "{collection} {item:#}: {errors:?}");
            }
        }
    }
    let c01 = all.iter().find(|s| s.data.source_id == "c01").expect("c01");
    let s = datainclusion::structure(c01, &Actor::cli());
    assert_eq!(s.id, format!("{}--c01", c01.source));
    assert_eq!(s.courriel.as_deref(), Some("contact@mediatheque-mace.fr"));
    assert_eq!(s.reseaux_porteurs, Some(vec!["france-service"]));
    let service = datainclusion::service(c01, &Actor::cli());
    assert_eq!(
        service.thematiques,
        Some(vec![
            "numerique--acceder-a-des-services-en-ligne",
            "numerique--maitriser-les-fondamentaux-du-numerique"
        ])
    );
    assert_eq!(
        service.publics,
        Some(vec!["seniors", "personnes-en-situation-de-handicap"])
    );
    // Lyon is in Hinaura's territory: its coordinator reads the address; anonymous callers never do.
    assert!(
        datainclusion::structure(c01, &coordinator)
            .courriel
            .is_some()
    );
    assert!(
        datainclusion::structure(c01, &Actor::anonymous())
            .courriel
            .is_none()
    );
}

#[tokio::test]
async fn geojson_is_a_feature_collection_with_points_in_lon_lat_order() {
    let e = env().await;
    catalogue(&e).await;
    let mut out = Vec::new();
    let filter = SiteFilter {
        departments: Some(vec![DepartmentCode::parse("69").unwrap()]),
        ..SiteFilter::default()
    };
    let n = geojson::write_geojson(&e.t.db, &Actor::anonymous(), &filter, &mut out)
        .await
        .unwrap();
    let collection: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(collection["type"], "FeatureCollection");
    let features = collection["features"].as_array().unwrap();
    assert_eq!(features.len() as u64, n);
    assert!(n >= 1);
    let c01 = features
        .iter()
        .find(|f| f["properties"]["source_id"] == "c01")
        .expect("c01 in the Rhône");
    assert_eq!(c01["type"], "Feature");
    assert_eq!(
        c01["geometry"],
        json!({ "type": "Point", "coordinates": [4.84, 45.75] })
    );
    assert_eq!(c01["properties"]["nom"], "Médiathèque Jean Macé");
    // Personal data: not for anonymous callers.
    assert_eq!(c01["properties"]["courriels"], Value::Null);
    assert!(
        features
            .iter()
            .all(|f| f["properties"]["departement"] == "69")
    );
}

#[tokio::test]
async fn feeds_json_arrays_are_joined_with_the_detected_versions_separator() {
    let e = env().await;
    let path = e.json(
        "v1.json",
        &[json!({
            "id": "arr", "pivot": "00000000000000", "nom": "Lieu", "commune": "Lyon", "code_postal": "69001",
            "adresse": "1 rue", "date_maj": "2024-01-10", "courriels": ["a@b.fr"],
            "services": ["Aide aux démarches administratives", "Accès internet et matériel informatique"],
        })],
    );
    let imported = e.import(&path, "json").await;
    assert_eq!(imported.summary.version.as_str(), "1.0.2");
    assert!(imported.report.is_empty(), "{:#?}", imported.report);
    assert_eq!(
        e.site("json", "arr")
            .await
            .data
            .mapped_values(ValueKind::Service),
        [
            "Aide aux démarches administratives",
            "Accès internet et matériel informatique"
        ]
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Feeds: provenance and precedence, complete feeds, bulk writes, staging
// ---------------------------------------------------------------------------------------------------------------

impl Env {
    /// Imports as an admin with these options (source and file aside), collecting the report.
    async fn import_feed(
        &self,
        path: &Path,
        source: &str,
        options: ImportOptions,
    ) -> Result<Imported, SitesError> {
        let mut report = Vec::new();
        let summary = import_file(
            &self.t.db,
            &Actor::cli(),
            path,
            &ImportOptions {
                source: source.to_owned(),
                ..options
            },
            &mut |line: &ReportLine| report.push(line.clone()),
            &|_| {},
        )
        .await?;
        Ok(Imported { summary, report })
    }

    async fn import_complete(
        &self,
        path: &Path,
        source: &str,
        force: bool,
    ) -> Result<Imported, SitesError> {
        self.import_feed(
            path,
            source,
            ImportOptions {
                policy: FeedPolicy {
                    complete: true,
                    force,
                    ..FeedPolicy::default()
                },
                ..ImportOptions::default()
            },
        )
        .await
    }

    /// Source ids of the live sites of a source, sorted.
    async fn live_ids(&self, source: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .all_sites()
            .await
            .into_iter()
            .filter(|s| s.source == source)
            .map(|s| s.data.source_id)
            .collect();
        ids.sort();
        ids
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn an_api_edit_survives_a_reimport_unless_the_feed_wins() {
    let e = env().await;
    let rows: Vec<Value> = (0..3)
        .map(|i| {
            v01(
                &format!("{i}"),
                &format!("Lieu {i}"),
                "69001",
                &[("telephone", "04 72 00 00 00")],
            )
        })
        .collect();
    let path = e.json("lieux.json", &rows);
    let first = e
        .import_feed(
            &path,
            "hub",
            ImportOptions {
                feed_id: Some(7),
                import_job_id: Some(70),
                file_date: NaiveDate::from_ymd_opt(2024, 1, 10),
                ..ImportOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(first.summary.created, 3);
    let site = e.site("hub", "1").await;
    let file_phone = site.data.phone.clone().unwrap();

    // Every field of an imported site comes from the file.
    let prov = provenance_of(&e.t.db, &[site.id]).await.unwrap();
    let phone = prov[&site.id].iter().find(|p| p.field == "phone").unwrap();
    assert_eq!(phone.origin, Origin::Import);
    assert_eq!(
        (
            phone.feed_id,
            phone.import_job_id,
            phone.file_name.as_deref()
        ),
        (Some(7), Some(70), Some("lieux.json"))
    );
    assert_eq!(phone.file_date, NaiveDate::from_ymd_opt(2024, 1, 10));

    // A coordinator fixes the phone number through the API.
    let coordinator = e.hinaura_coordinator().await;
    let edited = maillage_sites::update_site(
        &e.t.db,
        &coordinator,
        site.id,
        site.version,
        SitePatch {
            phone: Some(Some("+33612345678".to_owned())),
            ..SitePatch::default()
        },
    )
    .await
    .unwrap();
    let prov = provenance_of(&e.t.db, &[site.id]).await.unwrap();
    let phone = prov[&site.id].iter().find(|p| p.field == "phone").unwrap();
    assert_eq!(phone.origin, Origin::Api);
    assert_eq!(phone.actor.as_deref(), Some(coordinator.label()));
    let name = prov[&site.id].iter().find(|p| p.field == "name").unwrap();
    assert_eq!(
        name.origin,
        Origin::Import,
        "only the edited fields are the API's"
    );

    // The hub's unchanged file comes again: the edit stands, nothing changes, and the report says why.
    let again = e.import(&path, "hub").await;
    assert_eq!(again.summary.changes(), 0, "{:?}", again.summary);
    let kept: Vec<&ReportLine> = again
        .report
        .iter()
        .filter(|l| l.kind == IssueKind::KeptEdit && l.field == "phone")
        .collect();
    assert_eq!(kept.len(), 1, "{:#?}", again.report);
    assert_eq!(kept[0].source_id.as_deref(), Some("1"));
    assert_eq!(kept[0].stored_value.as_deref(), Some("\"+33612345678\""));
    assert_eq!(
        kept[0].file_value.as_deref(),
        Some(format!("\"{file_phone}\"").as_str())
    );
    assert_eq!(kept[0].kind.to_string(), "kept_edit");
    // `updateSite` also dated the site today: that edit stands as well.
    assert!(
        again
            .report
            .iter()
            .any(|l| l.kind == IssueKind::KeptEdit && l.field == "updated_on"),
        "{:#?}",
        again.report
    );
    assert_eq!(again.summary.kept_edits, 2);
    let after = e.site("hub", "1").await;
    assert_eq!(after, edited, "the re-import rewrote the edited site");

    // A feed allowed to win replaces the edit, and the field is the file's again.
    let wins = e
        .import_feed(
            &path,
            "hub",
            ImportOptions {
                policy: FeedPolicy {
                    feed_wins: true,
                    ..FeedPolicy::default()
                },
                ..ImportOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((wins.summary.updated, wins.summary.kept_edits), (1, 0));
    let after = e.site("hub", "1").await;
    assert_eq!(after.data.phone.as_deref(), Some(file_phone.as_str()));
    assert_eq!(
        after.data.updated_on,
        NaiveDate::from_ymd_opt(2024, 1, 10).unwrap()
    );
    let prov = provenance_of(&e.t.db, &[site.id]).await.unwrap();
    assert!(
        prov[&site.id].iter().all(|p| p.origin == Origin::Import),
        "{:#?}",
        prov[&site.id]
    );
    // And from then on the file is simply unchanged.
    assert_eq!(e.import(&path, "hub").await.summary.changes(), 0);
}

#[tokio::test]
async fn a_complete_feed_archives_what_disappeared_and_restores_what_comes_back() {
    let e = env().await;
    let all = many_v01(60);
    let full = e.json("full.json", &all);
    assert_eq!(
        e.import_complete(&full, "hub", false)
            .await
            .unwrap()
            .summary
            .created,
        60
    );
    let all_ids = e.live_ids("hub").await;

    // Ten rows are gone from the file: exactly those ten sites are archived (kept in the table).
    let missing: Vec<String> = (20..30).map(|i| format!("row-{i}")).collect();
    let partial_rows: Vec<Value> = all
        .iter()
        .filter(|r| !missing.contains(&r["id"].as_str().unwrap().to_owned()))
        .cloned()
        .collect();
    let partial = e.json("partial.json", &partial_rows);
    let s = e
        .import_complete(&partial, "hub", false)
        .await
        .unwrap()
        .summary;
    assert_eq!(sorted(s.archived.clone()), sorted(missing.clone()));
    assert_eq!((s.changes(), s.unchanged), (10, 50), "{s:?}");
    assert_eq!(e.live_ids("hub").await.len(), 50);
    assert_eq!(e.table_counts().await.0, 60, "archived, not deleted");
    // A partial import of the same file archives nothing.
    let s = e.import(&partial, "hub").await.summary;
    assert_eq!((s.changes(), s.archived.len()), (0, 0));

    // The full file brings them back.
    let s = e
        .import_complete(&full, "hub", false)
        .await
        .unwrap()
        .summary;
    assert_eq!(sorted(s.restored.clone()), sorted(missing.clone()));
    assert_eq!((s.updated, s.unchanged, s.archived.len()), (10, 50, 0));
    assert_eq!(e.live_ids("hub").await, all_ids);
    assert_eq!(
        e.import_complete(&full, "hub", false)
            .await
            .unwrap()
            .summary
            .changes(),
        0
    );

    // A site a coordinator deleted stays deleted, even though the feed still lists it.
    let gone = e.site("hub", "row-5").await;
    maillage_sites::archive_site(&e.t.db, &Actor::cli(), gone.id, gone.version)
        .await
        .unwrap();
    let imported = e.import_complete(&full, "hub", false).await.unwrap();
    assert_eq!(imported.summary.changes(), 0, "{:?}", imported.summary);
    assert!(imported.summary.restored.is_empty());
    let kept: Vec<&ReportLine> = imported
        .report
        .iter()
        .filter(|l| l.kind == IssueKind::KeptArchived)
        .collect();
    assert_eq!(kept.len(), 1, "{:#?}", imported.report);
    assert_eq!(kept[0].source_id.as_deref(), Some("row-5"));
    assert!(e.find("hub", "row-5").await.is_none());

    // Half the rows missing (a truncated file?): refused, nothing written, unless forced.
    let half = e.json("half.json", &all[..30]);
    let before = e.snapshot().await;
    let err = e.import_complete(&half, "hub", false).await.unwrap_err();
    assert_eq!(err.code(), "archive_share_exceeded", "{err}");
    assert!(err.to_string().contains("30 of the 59"), "{err}");
    assert_eq!(e.snapshot().await, before);
    assert_eq!(count_rows(&e.t, "site_import_stage").await, 0);
    let s = e.import_complete(&half, "hub", true).await.unwrap().summary;
    assert_eq!(s.archived.len(), 30);
    assert_eq!(e.live_ids("hub").await.len(), 29);
}

#[tokio::test]
async fn import_statements_grow_by_batches_not_rows() {
    let e = env().await;
    let small = e.json("small.json", &many_v01(100));
    let (imported, small_n, _) = counting(&e.t, e.import(&small, "a")).await;
    assert_eq!(imported.summary.created, 100);

    let rows = 1_200;
    let big = e.json("big.json", &many_v01(rows));
    let (imported, created_n, log) = counting(&e.t, e.import(&big, "b")).await;
    assert_eq!(imported.summary.created, rows as u64);
    // Three staging batches and three publishing chunks, not 1 200 rows' worth of statements.
    assert!(
        created_n < 60 && created_n <= small_n + 40,
        "{created_n} statements for {rows} new sites ({small_n} for 100): {log:#?}"
    );

    // Every row changes: the same holds for updates, and each changed site gets one audit entry.
    let renamed: Vec<Value> = (0..rows)
        .map(|i| {
            v01(
                &format!("row-{i}"),
                &format!("Autre lieu {i}"),
                "69001",
                &[],
            )
        })
        .collect();
    let renamed = e.json("renamed.json", &renamed);
    let audit_before = count_rows(&e.t, "audit_log").await;
    let (imported, updated_n, log) = counting(&e.t, e.import(&renamed, "b")).await;
    assert_eq!(imported.summary.updated, rows as u64);
    assert!(
        updated_n < 80,
        "{updated_n} statements for {rows} updated sites: {log:#?}"
    );
    assert_eq!(
        count_rows(&e.t, "audit_log").await - audit_before,
        rows as i64 + 1,
        "one entry per changed site and one for the import"
    );
    // An unchanged file audits the import only.
    let audit_before = count_rows(&e.t, "audit_log").await;
    assert_eq!(e.import(&renamed, "b").await.summary.changes(), 0);
    assert_eq!(count_rows(&e.t, "audit_log").await - audit_before, 1);
}

#[tokio::test]
async fn an_interrupted_import_leaves_no_trace() {
    let e = env().await;
    let base = e.json("base.json", &many_v01(100));
    e.import(&base, "hub").await;
    let renamed: Vec<Value> = (0..1_200)
        .map(|i| {
            v01(
                &format!("row-{i}"),
                &format!("Nouveau nom {i}"),
                "69001",
                &[],
            )
        })
        .collect();
    let renamed = e.json("renamed.json", &renamed);
    let before = e.snapshot().await;
    let audit_before = count_rows(&e.t, "audit_log").await;

    // Cancelled by its job after the first chunk was staged: nothing written, staging cleaned up.
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let progress = {
        let seen = Arc::clone(&seen);
        Progress::new(move |done, total| {
            seen.lock().unwrap().push((done, total));
            ControlFlow::Break(())
        })
    };
    let err = e
        .import_feed(
            &renamed,
            "hub",
            ImportOptions {
                progress: Some(progress),
                ..ImportOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "cancelled");
    assert_eq!(*seen.lock().unwrap(), [(500, 1_200)]);
    assert_eq!(e.snapshot().await, before);
    assert_eq!(count_rows(&e.t, "site_import_stage").await, 0);
    assert_eq!(count_rows(&e.t, "audit_log").await, audit_before);

    // The process dies between two chunks (a panic in the job's callback stands for it): the staged rows are
    // invisible, and discarding them at the next start leaves the database as it was.
    let db = e.t.db.clone();
    let path = renamed.clone();
    let crashed = tokio::spawn(async move {
        let options = ImportOptions {
            source: "hub".to_owned(),
            progress: Some(Progress::new(|done, _| {
                assert!(done < 1_000, "simulated crash after {done} rows");
                ControlFlow::Continue(())
            })),
            ..ImportOptions::default()
        };
        import_file(&db, &Actor::cli(), &path, &options, &mut |_| {}, &|_| {}).await
    })
    .await;
    assert!(crashed.unwrap_err().is_panic());
    assert_eq!(e.snapshot().await, before);
    assert_eq!(count_rows(&e.t, "site_import_stage").await, 1_000);
    assert_eq!(discard_unfinished_staging(&e.t.db).await.unwrap(), 1_000);
    assert_eq!(count_rows(&e.t, "site_import_stage").await, 0);
    assert_eq!(e.snapshot().await, before);
    assert_eq!(count_rows(&e.t, "audit_log").await, audit_before);

    // The next import works as usual.
    let s = e.import(&renamed, "hub").await.summary;
    assert_eq!((s.updated, s.created), (100, 1_100));
}

// ---------------------------------------------------------------------------------------------------------------
// Dedup: matching, review, canonical sites, un-merge
// ---------------------------------------------------------------------------------------------------------------

mod dedup {
    use super::*;
    use maillage_sites::dedup::{
        MatchFilter, MatchOptions, MatchStatus, canonical_of, canonical_provenance,
        confirm_site_match, dedup_report, list_site_matches, match_sites, reject_site_match,
        set_canonical_field, source_records, split_site_cluster,
    };
    use maillage_sites::draft::limits;
    use maillage_sites::{SiteRecords, update_site};

    /// One place as each of three origins writes it (two of them share the `source` label "Hub" of `v01`).
    fn place(id: &str, spelling: usize) -> Value {
        let (nom, adresse, tel) = [
            (
                "Médiathèque de St-Martin",
                "27bis Bd Louis-Braille",
                "+33489228939",
            ),
            (
                "MAIRIE DE SAINT MARTIN",
                "27 bis boulevard Louis Braille",
                "04 89 22 89 39",
            ),
            (
                "Mediatheque Saint Martin",
                "27 BIS BD LOUIS BRAILLE",
                "0489228939",
            ),
        ][spelling];
        v01(
            id,
            nom,
            "13300",
            &[
                ("commune", "Salon-de-Provence"),
                ("adresse", adresse),
                ("telephone", tel),
                ("latitude", "43.638207"),
                ("longitude", "5.091971"),
                ("horaires", "Mo-Fr 09:00-12:00"),
                ("labels_nationaux", "France Services"),
            ],
        )
    }

    /// Another place in the same commune, which must never be matched with the first.
    fn other_place(id: &str) -> Value {
        v01(
            id,
            "Espace jeunes",
            "13300",
            &[
                ("commune", "Salon-de-Provence"),
                ("adresse", "3 rue Victor Hugo"),
                ("latitude", "43.6401"),
                ("longitude", "5.0975"),
            ],
        )
    }

    /// Every column of these rows of `site` and `site_value`, as text, read with plain SQL.
    async fn raw_rows(t: &TestDb, ids: &[i32]) -> Vec<String> {
        let list = ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        let site_columns = [
            "id",
            "source",
            "source_id",
            "standard_version",
            "pivot",
            "name",
            "commune",
            "postal_code",
            "insee_code",
            "department_code",
            "address",
            "address_complement",
            "latitude",
            "longitude",
            "ban_key",
            "phone",
            "emails",
            "website",
            "opening_hours",
            "opening_hours_valid",
            "summary",
            "description",
            "source_label",
            "parent_structure",
            "updated_on",
            "other_labels",
            "accessibility_url",
            "booking_url",
            "search_text",
            "sort_name",
            "version",
            "created_at",
            // `updated_at` is left out on purpose: a merge and an un-merge move it (mirrors see the record leave
            // and come back), everything else stays byte for byte, `version` included.
            "archived_at",
            "merged_into",
        ];
        let value_columns = ["site_id", "kind", "position", "value", "raw"];
        let mut out = Vec::new();
        for (table, columns, order) in [
            ("site", &site_columns[..], "id"),
            ("site_value", &value_columns[..], "site_id, kind, position"),
        ] {
            let key = if table == "site" { "id" } else { "site_id" };
            let select = columns
                .iter()
                .map(|c| format!("CAST({c} AS TEXT) AS {c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let rows =
                t.db.query_all_raw(Statement::from_string(
                    t.db.get_database_backend(),
                    format!(
                        "SELECT {select} FROM {table} WHERE {key} IN ({list}) ORDER BY {order}"
                    ),
                ))
                .await
                .unwrap();
            for row in rows {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|c| format!("{c}={:?}", row.try_get::<Option<String>>("", c).unwrap()))
                    .collect();
                out.push(format!("{table}: {}", cells.join(" ")));
            }
        }
        out
    }

    async fn pairs(
        t: &TestDb,
        actor: &Actor,
        status: Option<MatchStatus>,
    ) -> Vec<(i32, SiteId, SiteId)> {
        let page = list_site_matches(
            &t.db,
            actor,
            &MatchFilter {
                status,
                min_score: None,
            },
            &PageRequest::new(Some(100), None).unwrap().with_total(true),
        )
        .await
        .unwrap();
        page.items
            .iter()
            .map(|(_, v)| (v.site_match.id, v.site_match.a, v.site_match.b))
            .collect()
    }

    async fn export_rows(t: &TestDb) -> Vec<String> {
        let mut out = Vec::new();
        export_v1(
            &t.db,
            &Actor::cli(),
            &ExportScope::default(),
            false,
            &mut out,
        )
        .await
        .unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect()
    }

    async fn total(t: &TestDb, filter: &SiteFilter) -> u64 {
        list_sites(
            &t.db,
            filter,
            SiteOrder::default(),
            &PageRequest::new(Some(1), None).unwrap().with_total(true),
        )
        .await
        .unwrap()
        .total_count
        .unwrap()
    }

    #[tokio::test]
    async fn merge_then_unmerge_restores_the_source_records_byte_for_byte() {
        let e = env().await;
        let a = e.json("a.json", &[place("1", 0), other_place("2")]);
        let b = e.json("b.json", &[place("x", 1)]);
        e.import(&a, "feed-a").await;
        e.import(&b, "feed-b").await;
        let summary = match_sites(&e.t.db, &MatchOptions::default())
            .await
            .unwrap();
        assert_eq!(summary.candidates, 1, "{summary:?}");
        let admin = Actor::cli();
        let found = pairs(&e.t, &admin, Some(MatchStatus::Pending)).await;
        assert_eq!(found.len(), 1);
        let (pair, ida, idb) = found[0];
        let view = &list_site_matches(
            &e.t.db,
            &admin,
            &MatchFilter::default(),
            &PageRequest::new(Some(10), None).unwrap(),
        )
        .await
        .unwrap()
        .items[0]
            .1;
        let codes: Vec<&str> = view
            .site_match
            .reasons
            .iter()
            .map(|r| r.code.as_str())
            .collect();
        assert!(
            codes.contains(&"same_name") && codes.contains(&"same_phone"),
            "{codes:?}"
        );
        assert_eq!(view.a.source, "feed-a");

        let before = raw_rows(&e.t, &[ida.0, idb.0]).await;
        assert_eq!(total(&e.t, &SiteFilter::default()).await, 3);
        let decision = confirm_site_match(&e.t.db, &admin, pair).await.unwrap();
        let canonical = decision.canonical.unwrap();

        // Every default read serves the canonical site instead of its two records.
        assert_eq!(total(&e.t, &SiteFilter::default()).await, 2);
        let raw = SiteFilter {
            records: SiteRecords::Sources,
            ..SiteFilter::default()
        };
        assert_eq!(total(&e.t, &raw).await, 3);
        assert_eq!(export_rows(&e.t).await.len(), 2);
        assert!(get_site(&e.t.db, ida).await.unwrap().is_none());
        assert_eq!(canonical_of(&e.t.db, ida).await.unwrap(), Some(canonical));
        let site = get_site(&e.t.db, canonical).await.unwrap().unwrap();
        assert_eq!(site.source, "maillage");
        assert_eq!(site.data.source_id, canonical.0.to_string());
        let members = source_records(&e.t.db, canonical).await.unwrap();
        assert_eq!(members.iter().map(|s| s.id).collect::<Vec<_>>(), [ida, idb]);
        let provenance = canonical_provenance(&e.t.db, canonical).await.unwrap();
        let name = provenance.iter().find(|p| p.field == "name").unwrap();
        assert!(name.record_site_id == Some(ida) || name.record_site_id == Some(idb));
        assert_eq!(name.origin, Origin::Merge);
        assert!(!site.data.values.is_empty(), "values come from a member");

        // Un-merge: the records are back exactly as they were, the canonical row is retired (archived: a
        // tombstone for mirrors).
        let undo = reject_site_match(&e.t.db, &admin, pair).await.unwrap();
        assert_eq!(undo.restored, [ida, idb]);
        assert_eq!(raw_rows(&e.t, &[ida.0, idb.0]).await, before);
        assert!(get_site(&e.t.db, canonical).await.unwrap().is_none());
        let retired =
            e.t.db
                .query_all_raw(Statement::from_string(
                    e.t.db.get_database_backend(),
                    format!(
                        "SELECT id FROM site WHERE id = {} AND archived_at IS NOT NULL",
                        canonical.0
                    ),
                ))
                .await
                .unwrap();
        assert_eq!(
            retired.len(),
            1,
            "the canonical row is archived, not deleted"
        );
        assert_eq!(total(&e.t, &SiteFilter::default()).await, 3);

        // A rejected pair never comes back.
        let again = match_sites(
            &e.t.db,
            &MatchOptions {
                auto_confirm_at: Some(0.5),
            },
        )
        .await
        .unwrap();
        assert_eq!(
            (again.already_decided, again.created, again.auto_confirmed),
            (1, 0, 0)
        );
        assert!(
            pairs(&e.t, &admin, Some(MatchStatus::Pending))
                .await
                .is_empty()
        );
        assert_eq!(total(&e.t, &SiteFilter::default()).await, 3);

        // The audit trail tells the story.
        let actions: Vec<(String, String)> = maillage_access::list_audit(
            &e.t.db,
            &admin,
            &maillage_access::AuditFilter::default(),
            &PageRequest::new(Some(100), None).unwrap(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|(_, r)| (r.entity_type, r.action))
        .collect();
        for expected in ["confirm", "merge", "reject", "unmerge", "delete"] {
            assert!(
                actions.iter().any(|(_, a)| a == expected),
                "{expected} in {actions:?}"
            );
        }
    }

    #[tracing::instrument(skip_all)]
    async fn three_origins(e: &Env) -> (SiteId, SiteId, SiteId) {
        let rows = [
            ("a.json", "feed-a", place("1", 0)),
            ("b.json", "feed-b", place("1", 1)),
            ("c.json", "feed-c", place("1", 2)),
        ];
        for (file, source, row) in rows {
            let path = e.json(file, &[row]);
            e.import(&path, source).await;
        }
        let all = e.all_sites().await;
        (all[0].id, all[1].id, all[2].id)
    }

    #[tokio::test]
    async fn a_cluster_keeps_its_id_as_records_join_and_split_restores_them_all() {
        let e = env().await;
        let (a, b, c) = three_origins(&e).await;
        match_sites(&e.t.db, &MatchOptions::default())
            .await
            .unwrap();
        let admin = Actor::cli();
        let found = pairs(&e.t, &admin, None).await;
        assert_eq!(found.len(), 3);
        let before = raw_rows(&e.t, &[a.0, b.0, c.0]).await;
        let id_of = |x: SiteId, y: SiteId| found.iter().find(|p| p.1 == x && p.2 == y).unwrap().0;
        let first = confirm_site_match(&e.t.db, &admin, id_of(a, b))
            .await
            .unwrap();
        let canonical = first.canonical.unwrap();
        let second = confirm_site_match(&e.t.db, &admin, id_of(b, c))
            .await
            .unwrap();
        assert_eq!(
            second.canonical,
            Some(canonical),
            "the cluster's id survives a new member"
        );
        assert_eq!(source_records(&e.t.db, canonical).await.unwrap().len(), 3);
        assert_eq!(e.all_sites().await.len(), 1);
        // The third pair is inside the cluster already: confirming it changes nothing but its status.
        let third = confirm_site_match(&e.t.db, &admin, id_of(a, c))
            .await
            .unwrap();
        assert_eq!(third.canonical, Some(canonical));

        // Editing a member refreshes the canonical site.
        let member = source_records(&e.t.db, canonical).await.unwrap()[2].clone();
        update_site(
            &e.t.db,
            &admin,
            member.id,
            member.version,
            maillage_sites::SitePatch {
                summary: Some(Some("Un lieu rénové".to_owned())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let site = get_site(&e.t.db, canonical).await.unwrap().unwrap();
        assert_eq!(site.data.summary.as_deref(), Some("Un lieu rénové"));
        // As they will be once free again: only `merged_into` differs while they are merged.
        let after_edit: Vec<String> = raw_rows(&e.t, &[a.0, b.0, c.0])
            .await
            .into_iter()
            .map(|r| {
                r.replace(
                    &format!("merged_into=Some(\"{}\")", canonical.0),
                    "merged_into=None",
                )
            })
            .collect();

        // Rejecting one confirmed pair keeps the other two: still one cluster (a–c and b–c hold it together).
        reject_site_match(&e.t.db, &admin, id_of(a, b))
            .await
            .unwrap();
        assert_eq!(source_records(&e.t.db, canonical).await.unwrap().len(), 3);
        let restored = split_site_cluster(&e.t.db, &admin, canonical)
            .await
            .unwrap();
        assert_eq!(restored.len(), 3);
        assert_eq!(raw_rows(&e.t, &[a.0, b.0, c.0]).await, after_edit);
        assert_ne!(after_edit, before, "the edit itself is kept");
        assert_eq!(e.all_sites().await.len(), 3);
        let rejected = pairs(&e.t, &admin, Some(MatchStatus::Rejected)).await;
        assert_eq!(
            rejected.len(),
            3,
            "a split rejects every pair of the cluster"
        );
    }

    #[tokio::test]
    async fn coordinators_see_and_decide_only_the_pairs_of_their_departments() {
        let e = env().await;
        three_origins(&e).await;
        match_sites(&e.t.db, &MatchOptions::default())
            .await
            .unwrap();
        let south = hub_coordinator(&e.t, "hub-du-sud").await;
        let other = e.hinaura_coordinator().await;
        let mine = pairs(&e.t, &south, None).await;
        assert_eq!(mine.len(), 3);
        assert!(pairs(&e.t, &other, None).await.is_empty());
        let err = confirm_site_match(&e.t.db, &other, mine[0].0)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let err = reject_site_match(&e.t.db, &other, mine[0].0)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let partner = Actor::with_role(Role::Partner, "app");
        assert_eq!(
            list_site_matches(&e.t.db, &partner, &MatchFilter::default(), &first(10))
                .await
                .unwrap_err()
                .code(),
            "forbidden"
        );
        let decision = confirm_site_match(&e.t.db, &south, mine[0].0)
            .await
            .unwrap();
        assert_eq!(decision.site_match.status, MatchStatus::Confirmed);
        assert_eq!(
            decision.site_match.decided_by.as_deref(),
            Some("hub-du-sud")
        );
        let err = split_site_cluster(&e.t.db, &other, decision.canonical.unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let report = dedup_report(&e.t.db).await.unwrap();
        let line = report
            .iter()
            .find(|l| l.scope == "hub" && l.key == "hub-du-sud")
            .unwrap();
        assert_eq!(
            (line.rows, line.candidates, line.confirmed, line.pending),
            (3, 3, 1, 2)
        );
    }

    #[tokio::test]
    async fn the_canonical_source_name_is_reserved() {
        let e = env().await;
        let path = e.json("a.json", &[place("1", 0)]);
        let Err(err) = e.import_as(&Actor::cli(), &path, "maillage").await else {
            panic!("a feed named maillage was accepted");
        };
        assert_eq!(err.code(), "reserved_source");
    }

    #[tokio::test]
    async fn hinaura_imported_twice_and_auto_confirmed_serves_one_row_per_canonical_site() {
        let file = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/lieux/hinaura-aura.json"
        ));
        if !file.is_file() {
            assert!(
                !std::env::var("MAILLAGE_REQUIRE_SHARED_DATA").is_ok_and(|v| !v.is_empty()),
                "MAILLAGE_REQUIRE_SHARED_DATA is set but {} does not exist",
                file.display()
            );
            println!(
                "skipped: {} not found (set MAILLAGE_REQUIRE_SHARED_DATA=1 to fail instead)",
                file.display()
            );
            return;
        }
        let e = env().await;
        e.import(file, "hinaura").await;
        e.import(file, "hinaura-copy").await;
        let before = total(&e.t, &SiteFilter::default()).await;
        let summary = match_sites(
            &e.t.db,
            &MatchOptions {
                auto_confirm_at: Some(MatchOptions::RECOMMENDED_THRESHOLD),
            },
        )
        .await
        .unwrap();
        let canonical_sites = total(&e.t, &SiteFilter::default()).await;
        println!("hinaura twice: {before} rows before, {canonical_sites} sites after; {summary:?}");
        assert!(
            canonical_sites <= 687 * 105 / 100,
            "{canonical_sites} sites"
        );
        assert_eq!(export_rows(&e.t).await.len() as u64, canonical_sites);
        let audit = maillage_access::list_audit(
            &e.t.db,
            &Actor::cli(),
            &maillage_access::AuditFilter {
                action: Some("auto_confirm".to_owned()),
                actor: Some("dedup".to_owned()),
                ..Default::default()
            },
            &PageRequest::new(Some(1), None).unwrap().with_total(true),
        )
        .await
        .unwrap();
        assert_eq!(audit.total_count, Some(summary.auto_confirmed as u64));
    }

    /// `place(id, 1)` written by another source in a neighbouring department (Vaucluse), at the same spot.
    fn across_the_border(id: &str) -> Value {
        v01(
            id,
            "MAIRIE DE SAINT MARTIN",
            "84300",
            &[
                ("commune", "Cavaillon"),
                ("adresse", "27 bis boulevard Louis Braille"),
                ("telephone", "04 89 22 89 39"),
                ("latitude", "43.638207"),
                ("longitude", "5.091971"),
                // Older than the others: it gives the canonical site no field, so joining changes no content.
                ("date_maj", "2020-01-10"),
            ],
        )
    }

    #[tokio::test]
    async fn imports_match_their_changed_rows_across_department_borders_and_merges_bump_the_canonical_site()
     {
        let e = env().await;
        let a = e.json("a.json", &[place("1", 0), other_place("2")]);
        e.import(&a, "feed-a").await;
        let admin = Actor::cli();
        assert!(pairs(&e.t, &admin, None).await.is_empty());
        // No `match_sites`: the import itself matches the rows it created.
        let b = e.json("b.json", &[place("x", 1)]);
        e.import(&b, "feed-b").await;
        let found = pairs(&e.t, &admin, Some(MatchStatus::Pending)).await;
        assert_eq!(found.len(), 1, "{found:?}");
        // Re-importing an unchanged file matches nothing again (its rows did not change) and keeps the pair.
        let before = pairs(&e.t, &admin, None).await;
        assert_eq!(e.import(&b, "feed-b").await.summary.changes(), 0);
        assert_eq!(pairs(&e.t, &admin, None).await, before);

        // A record in the Vaucluse, at the same spot: found by the import although its department differs.
        let c = e.json("c.json", &[across_the_border("v")]);
        e.import(&c, "feed-c").await;
        let all = pairs(&e.t, &admin, None).await;
        let border = e.site("feed-c", "v").await;
        assert_eq!(border.department_code.as_ref().unwrap().as_str(), "84");
        let with_border: Vec<_> = all
            .iter()
            .filter(|p| p.1 == border.id || p.2 == border.id)
            .collect();
        assert_eq!(
            with_border.len(),
            2,
            "paired with both records in 13: {all:?}"
        );

        // Merges: a record joining a cluster bumps the canonical site even when its content stays the same.
        let (pair, _, _) = found[0];
        let canonical = confirm_site_match(&e.t.db, &admin, pair)
            .await
            .unwrap()
            .canonical
            .unwrap();
        let first = get_site(&e.t.db, canonical).await.unwrap().unwrap();
        let joining = with_border[0].0;
        assert_eq!(
            confirm_site_match(&e.t.db, &admin, joining)
                .await
                .unwrap()
                .canonical,
            Some(canonical)
        );
        let second = get_site(&e.t.db, canonical).await.unwrap().unwrap();
        assert!(second.version > first.version, "{first:?} {second:?}");
        assert!(second.updated_at > first.updated_at);
        let synced = list_sites_since(&e.t, first.updated_at).await;
        assert!(synced.contains(&canonical), "{synced:?}");
    }

    /// The ids of the sites changed at or after `since` (incremental sync).
    async fn list_sites_since(t: &TestDb, since: DateTime<Utc>) -> Vec<SiteId> {
        maillage_sites::list_sites_synced(
            &t.db,
            &SiteFilter::default(),
            &maillage_sites::SiteSync {
                updated_since: Some(since + chrono::Duration::microseconds(1)),
                include_archived: false,
            },
            SiteOrder::default(),
            &PageRequest::new(Some(100), None).unwrap(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|(_, s)| s.id)
        .collect()
    }

    #[tokio::test]
    async fn a_canonical_site_names_the_record_of_each_field_and_a_coordinators_choice_survives_imports()
     {
        let e = env().await;
        let a = e.json("a.json", &[place("1", 0)]);
        let b = e.json("b.json", &[place("x", 1)]);
        e.import(&a, "feed-a").await;
        e.import(&b, "feed-b").await;
        let admin = Actor::cli();
        let (pair, ida, idb) = pairs(&e.t, &admin, None).await[0];
        let plain = provenance_of(&e.t.db, &[ida]).await.unwrap()[&ida].clone();
        let name = plain.iter().find(|p| p.field == "name").unwrap();
        assert_eq!(
            (name.origin, name.file_name.as_deref()),
            (Origin::Import, Some("a.json"))
        );

        let canonical = confirm_site_match(&e.t.db, &admin, pair)
            .await
            .unwrap()
            .canonical
            .unwrap();
        let provenance = canonical_provenance(&e.t.db, canonical).await.unwrap();
        let fields: Vec<&str> = provenance.iter().map(|p| p.field.as_str()).collect();
        for f in [
            "name",
            "address",
            "postal_code",
            "latitude",
            "phone",
            "opening_hours",
            "service",
        ] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        for p in &provenance {
            assert_eq!(p.origin, Origin::Merge, "{p:?}");
            assert!(
                p.record_site_id == Some(ida) || p.record_site_id == Some(idb),
                "{p:?}"
            );
        }
        // Same `date_maj`: the record stored last (feed-b's) gives every field it has, with its own file.
        let name = provenance.iter().find(|p| p.field == "name").unwrap();
        assert_eq!(
            (name.record_site_id, name.file_name.as_deref()),
            (Some(idb), Some("b.json"))
        );
        // Provenance is as `provenance_of` serves it for any site.
        assert_eq!(
            provenance_of(&e.t.db, &[canonical]).await.unwrap()[&canonical],
            provenance
        );

        // A coordinator's choice: only within its departments, audit-logged, and it stands through imports.
        let other = e.hinaura_coordinator().await;
        let err = set_canonical_field(&e.t.db, &other, canonical, "name", Some("X".into()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let south = hub_coordinator(&e.t, "hub-du-sud").await;
        let chosen = "Médiathèque Saint-Martin";
        let err = set_canonical_field(&e.t.db, &south, canonical, "address", Some("X".into()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "unknown_value");
        let site = set_canonical_field(&e.t.db, &south, canonical, "name", Some(chosen.into()))
            .await
            .unwrap();
        assert_eq!(site.data.name, chosen);
        let mut b2 = place("x", 1);
        b2["nom"] = json!("Mairie annexe");
        b2["horaires"] = json!("Mo-Sa 09:00-12:00");
        let b2 = e.json("b2.json", &[b2]);
        e.import(&b2, "feed-b").await;
        match_sites(
            &e.t.db,
            &MatchOptions {
                auto_confirm_at: Some(0.5),
            },
        )
        .await
        .unwrap();
        let site = get_site(&e.t.db, canonical).await.unwrap().unwrap();
        assert_eq!(site.data.name, chosen);
        assert_eq!(
            site.data.opening_hours.as_deref(),
            Some("Mo-Sa 09:00-12:00")
        );
        let provenance = canonical_provenance(&e.t.db, canonical).await.unwrap();
        let name = provenance.iter().find(|p| p.field == "name").unwrap();
        assert_eq!(
            (name.origin, name.actor.as_deref(), name.record_site_id),
            (Origin::Api, Some("hub-du-sud"), None)
        );
        let hours = provenance
            .iter()
            .find(|p| p.field == "opening_hours")
            .unwrap();
        assert_eq!(
            (hours.record_site_id, hours.file_name.as_deref()),
            (Some(idb), Some("b2.json"))
        );
        let audit = maillage_access::list_audit(
            &e.t.db,
            &admin,
            &maillage_access::AuditFilter {
                action: Some("choose_field".to_owned()),
                ..Default::default()
            },
            &PageRequest::new(Some(10), None).unwrap().with_total(true),
        )
        .await
        .unwrap();
        assert_eq!(audit.total_count, Some(1));

        // Removing the choice gives the field back to the records.
        let site = set_canonical_field(&e.t.db, &south, canonical, "name", None)
            .await
            .unwrap();
        assert_eq!(site.data.name, "Mairie annexe");
    }

    /// Input rules reach deduplication (issue 17 point 5): a coordinator's choice obeys the field's rule and is
    /// stored as the rule keeps it, and a member's value stored before a rule existed never blocks a merge: the
    /// canonical site takes the next member's value, and its provenance names that member.
    #[tokio::test]
    async fn canonical_sites_obey_the_input_rules_whatever_their_members_hold() {
        let e = env().await;
        let a = e.json("a.json", &[place("1", 0)]);
        let b = e.json("b.json", &[place("x", 1)]);
        e.import(&a, "feed-a").await;
        e.import(&b, "feed-b").await;
        let admin = Actor::cli();
        let (pair, ida, idb) = pairs(&e.t, &admin, None).await[0];
        // feed-b's record is the newest (stored last, same `date_maj`): it would give every field. As a row stored
        // before the rules, it breaks some of them.
        for sql in [
            format!(
                "UPDATE site SET name = '{}', phone = '12', description = '{}', latitude = 95 WHERE id = {}",
                "n".repeat(limits::NAME + 1),
                "d".repeat(limits::DESCRIPTION + 1),
                idb.0
            ),
            format!(
                "UPDATE site SET description = 'Une médiathèque' WHERE id = {}",
                ida.0
            ),
        ] {
            e.t.db.execute_unprepared(&sql).await.unwrap();
        }
        let canonical = confirm_site_match(&e.t.db, &admin, pair)
            .await
            .unwrap()
            .canonical
            .unwrap();
        let site = get_site(&e.t.db, canonical).await.unwrap().unwrap();
        assert_eq!(site.data.name, "Médiathèque de St-Martin");
        assert_eq!(site.data.phone.as_deref(), Some("+33489228939"));
        assert_eq!(site.data.description.as_deref(), Some("Une médiathèque"));
        assert_eq!(site.data.latitude, Some(43.638207));
        let provenance = canonical_provenance(&e.t.db, canonical).await.unwrap();
        for field in ["name", "phone", "description", "latitude"] {
            let p = provenance.iter().find(|p| p.field == field).unwrap();
            assert_eq!(p.record_site_id, Some(ida), "{field}");
        }
        // Fields the newest record holds within the rules still come from it.
        let hours = provenance
            .iter()
            .find(|p| p.field == "opening_hours")
            .unwrap();
        assert_eq!(hours.record_site_id, Some(idb));

        // A choice that breaks the field's rule is refused at `value`, and nothing is written.
        let south = hub_coordinator(&e.t, "hub-du-sud").await;
        let before = raw_rows(&e.t, &[canonical.0]).await;
        for (field, value) in [
            ("phone", "12".to_owned()),
            ("name", "n".repeat(limits::NAME + 1)),
            ("website", "a\0b".to_owned()),
        ] {
            let err = set_canonical_field(&e.t.db, &south, canonical, field, Some(value))
                .await
                .unwrap_err();
            let SitesError::Rules(problems) = &err else {
                panic!("{field}: {err:?}");
            };
            let at: Vec<(String, &str)> = problems
                .iter()
                .map(|p| (p.field.to_string(), p.code.as_str()))
                .collect();
            assert_eq!(at, [("value".to_owned(), "invalid_value")], "{field}");
        }
        assert_eq!(raw_rows(&e.t, &[canonical.0]).await, before);
        assert_eq!(count_rows(&e.t, "site_override").await, 0);

        // A phone in a usual French layout is stored in international form, as the choice and on the site.
        let site = set_canonical_field(
            &e.t.db,
            &south,
            canonical,
            "phone",
            Some(" 04 78 00 00 00 ".into()),
        )
        .await
        .unwrap();
        assert_eq!(site.data.phone.as_deref(), Some("+33478000000"));
        let row =
            e.t.db
                .query_one_raw(Statement::from_string(
                    e.t.db.get_database_backend(),
                    "SELECT value FROM site_override".to_owned(),
                ))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(
            row.try_get::<Option<String>>("", "value")
                .unwrap()
                .as_deref(),
            Some("+33478000000")
        );
        let phone = canonical_provenance(&e.t.db, canonical)
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.field == "phone")
            .unwrap();
        assert_eq!(
            (phone.origin, phone.actor.as_deref()),
            (Origin::Api, Some("hub-du-sud"))
        );

        // A choice stored raw before the rules gives way to the members' value instead of blocking rebuilds.
        e.t.db
            .execute_unprepared("UPDATE site_override SET value = 'abc'")
            .await
            .unwrap();
        maillage_sites::dedup::refresh_canonical_in(&e.t.db, &[ida])
            .await
            .unwrap();
        let site = get_site(&e.t.db, canonical).await.unwrap().unwrap();
        assert_eq!(site.data.phone.as_deref(), Some("+33489228939"));
    }

    /// When no record of a cluster holds a valid value for a required field (both stored before the rule), the
    /// merge is refused as a decision, not as an input error at a path the caller never sent; nothing is written.
    #[tokio::test]
    async fn a_cluster_with_no_valid_location_is_refused_as_a_decision() {
        let e = env().await;
        let a = e.json("a.json", &[place("1", 0)]);
        let b = e.json("b.json", &[place("x", 1)]);
        e.import(&a, "feed-a").await;
        e.import(&b, "feed-b").await;
        let admin = Actor::cli();
        let (pair, ida, idb) = pairs(&e.t, &admin, None).await[0];
        e.t.db
            .execute_unprepared("UPDATE site SET commune = '   '")
            .await
            .unwrap();
        let before = raw_rows(&e.t, &[ida.0, idb.0]).await;
        let err = confirm_site_match(&e.t.db, &admin, pair).await.unwrap_err();
        assert_eq!(err.code(), "invalid_decision", "{err}");
        assert!(err.to_string().contains("commune"), "{err}");
        assert_eq!(raw_rows(&e.t, &[ida.0, idb.0]).await, before);
        assert_eq!(
            pairs(&e.t, &admin, Some(MatchStatus::Pending)).await,
            [(pair, ida, idb)]
        );
    }
}
