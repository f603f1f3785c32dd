//! Search bench (issue #21): latency of one `list_sites` request at 100 000 generated sites, with and without each
//! new filter, on the database of the tests (SQLite in memory; PostgreSQL with `TEST_DATABASE_URL`).
//!
//! `cargo bench -p maillage-sites --bench search` (100 000 sites; pass another size: `-- 20000`). The sites are
//! imported through the ordinary import (so the triggers build every index), then each query runs `RUNS` times and
//! the median is reported, next to the same query without the filter. Deterministic: a fixed seed.
//!
//! A second table times the plain lists the GraphQL API serves most (`sites(first:)`, `department { sites }`,
//! a hub's twelve departments, `totalCount`), brief sites as GraphQL reads them. With `SEARCH_BENCH_DB=FILE` on
//! SQLite, the database is a file (not in memory) and is copied to FILE after the import (`VACUUM INTO`), to look at
//! plans with `sqlite3`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use maillage_core::pagination::{Cursor, PageRequest};
use maillage_core::{Actor, DepartmentCode};
use maillage_sites::import::{ImportOptions, import_file};
use maillage_sites::mapping::communes;
use maillage_sites::standard::V1_COLUMNS;
use maillage_sites::standard::vocabulary::V1_SERVICES;
use maillage_sites::{
    Near, NearCentre, SiteFilter, SiteOrder, SiteOrderField, SiteParts, SiteSync,
    list_site_parts_by_departments, list_site_parts_synced, list_sites,
};
use maillage_testkit::TestDb;
use std::future::Future;
use std::time::{Duration, Instant};

const RUNS: usize = 41;

mod common;
use common::Rng;

const KINDS: &[&str] = &[
    "Médiathèque",
    "Mairie",
    "France services",
    "Espace numérique",
    "Centre social",
    "Tiers-lieu",
    "Bibliothèque",
    "Maison de quartier",
    "Fab lab",
    "Association",
];
const NAMES: &[&str] = &[
    "Jean Moulin",
    "Victor Hugo",
    "les Tilleuls",
    "la Fontaine",
    "Saint-Martin",
    "Pasteur",
    "Jules Ferry",
    "Émile Zola",
    "Marie Curie",
    "Voltaire",
];
const HOURS: &[&str] = &[
    "Mo-Fr 09:00-12:00,14:00-17:00",
    "Tu-Sa 10:00-18:00",
    "Mo,We,Fr 13:30-18:30",
    "Mo-Fr 08:30-12:30",
    "Tu,Th 14:00-19:00; Sa 09:00-12:00",
    "Mo-Su 08:00-20:00",
    "sur rendez-vous",
    "",
];

/// A v1.0.2 CSV of `n` sites in real communes (centre ± 2 km), with names, services and opening hours.
fn generate(n: usize, path: &std::path::Path) {
    let communes: Vec<&communes::Commune> = communes::all()
        .iter()
        .filter(|c| c.centre.is_some() && !c.postal_codes.is_empty())
        .collect();
    let mut rng = Rng(0x5ea5_c0de_2126);
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(V1_COLUMNS).unwrap();
    for i in 0..n {
        let c = communes[rng.below(communes.len())];
        let (lat, lon) = c.centre.unwrap();
        let jitter = |rng: &mut Rng| (rng.below(4001) as f64 - 2000.0) / 100_000.0;
        let name = format!("{} {}", rng.pick(KINDS), rng.pick(NAMES));
        let services: Vec<&str> = (0..1 + rng.below(3))
            .map(|_| rng.pick(&V1_SERVICES))
            .collect();
        let mut services = services;
        services.sort_unstable();
        services.dedup();
        let record: Vec<String> = V1_COLUMNS
            .iter()
            .map(|col| match *col {
                "id" => format!("s{i}"),
                "pivot" => "00000000000000".to_owned(),
                "nom" => name.clone(),
                "commune" => c.name.clone(),
                "code_postal" => c.postal_codes[0].clone(),
                "code_insee" => c.insee.clone(),
                "adresse" => format!("{} rue {}", 1 + rng.below(120), rng.pick(NAMES)),
                "latitude" => format!("{:.5}", lat + jitter(&mut rng)),
                "longitude" => format!("{:.5}", lon + jitter(&mut rng)),
                "horaires" => rng.pick(HOURS).to_owned(),
                "presentation_detail" => format!(
                    "Accompagnement au numérique, ateliers {} et accès libre.",
                    rng.pick(&["tablette", "smartphone", "démarches", "bureautique"])
                ),
                "date_maj" => "2025-01-10".to_owned(),
                "services" => services.join("|"),
                _ => String::new(),
            })
            .collect();
        w.write_record(&record).unwrap();
    }
    w.flush().unwrap();
}

async fn median(
    db: &sea_orm::DatabaseConnection,
    filter: &SiteFilter,
    order: SiteOrder,
) -> (Duration, usize) {
    let page = PageRequest {
        first: 20,
        after: None,
        with_total: false,
        backward: false,
    };
    let mut times = Vec::with_capacity(RUNS);
    let mut found = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let p = list_sites(db, filter, order, &page).await.unwrap();
        times.push(t.elapsed());
        found = p.items.len();
    }
    times.sort();
    (times[RUNS / 2], found)
}

/// The median time of `RUNS` calls of `read`, and the number of sites of its last answer.
async fn median_of<F, Fut>(read: F) -> (Duration, usize)
where
    F: Fn() -> Fut,
    Fut: Future<Output = usize>,
{
    let mut times = Vec::with_capacity(RUNS);
    let mut found = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        found = read().await;
        times.push(t.elapsed());
    }
    times.sort();
    (times[RUNS / 2], found)
}

fn request(first: u32, with_total: bool, after: Option<Cursor>, backward: bool) -> PageRequest {
    PageRequest {
        first,
        after,
        with_total,
        backward,
    }
}

/// The plain lists: a national page, one department's, twelve departments' at once, with and without a count.
async fn lists(db: &sea_orm::DatabaseConnection, backend: &str, n: usize) {
    let by_name = SiteOrder::default();
    let national = |page: PageRequest| async move {
        list_site_parts_synced(
            db,
            &SiteFilter::default(),
            &SiteSync::default(),
            by_name,
            &page,
            SiteParts::Brief,
        )
        .await
        .unwrap()
    };
    let codes = |codes: &[&str]| -> Vec<DepartmentCode> {
        codes
            .iter()
            .map(|c| DepartmentCode::parse(c).unwrap())
            .collect()
    };
    let rhone = codes(&["69"]);
    // Auvergne-Rhône-Alpes: the twelve departments of a hub (`hubs { departments { sites } }`).
    let twelve = codes(&[
        "01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74",
    ]);
    let nested = |deps: &[DepartmentCode], page: PageRequest| {
        let deps = deps.to_vec();
        async move {
            list_site_parts_by_departments(
                db,
                &deps,
                &SiteFilter::default(),
                by_name,
                &page,
                SiteParts::Brief,
            )
            .await
            .unwrap()
            .values()
            .map(|p| p.items.len())
            .sum::<usize>()
        }
    };
    let second_page = national(request(20, false, None, false))
        .await
        .items
        .last()
        .map(|(c, _)| c.clone());
    let rhone_second = list_site_parts_by_departments(
        db,
        &rhone,
        &SiteFilter::default(),
        by_name,
        &request(20, false, None, false),
        SiteParts::Brief,
    )
    .await
    .unwrap()
    .values()
    .flat_map(|p| p.items.last().map(|(c, _)| c.clone()))
    .next();
    println!();
    println!("| {backend}, {n} sites, brief sites by name | median | sites |");
    println!("|---|---|---|");
    let rows: Vec<(&str, (Duration, usize))> = vec![
        (
            "`sites(first: 20)`",
            median_of(|| async { national(request(20, false, None, false)).await.items.len() })
                .await,
        ),
        (
            "`sites(first: 50)`",
            median_of(|| async { national(request(50, false, None, false)).await.items.len() })
                .await,
        ),
        (
            "`sites(first: 20, after:)` (2nd page)",
            median_of(|| async {
                national(request(20, false, second_page.clone(), false))
                    .await
                    .items
                    .len()
            })
            .await,
        ),
        (
            "`sites(last: 20)`",
            median_of(|| async { national(request(20, false, None, true)).await.items.len() })
                .await,
        ),
        (
            "`sites(first: 20) { totalCount }`",
            median_of(|| async { national(request(20, true, None, false)).await.items.len() })
                .await,
        ),
        (
            "`department(69) { sites(first: 20) }`",
            median_of(|| nested(&rhone, request(20, false, None, false))).await,
        ),
        (
            "`department(69) { sites(first: 20, after:) }`",
            median_of(|| nested(&rhone, request(20, false, rhone_second.clone(), false))).await,
        ),
        (
            "`department(69) { sites(first: 50) { totalCount } }`",
            median_of(|| nested(&rhone, request(50, true, None, false))).await,
        ),
        (
            "12 departments `{ sites(first: 20) }`",
            median_of(|| nested(&twelve, request(20, false, None, false))).await,
        ),
        (
            "12 departments `{ sites(first: 20) { totalCount } }`",
            median_of(|| nested(&twelve, request(20, true, None, false))).await,
        ),
    ];
    for (label, (d, found)) in rows {
        println!("| {label} | {} | {found} |", ms(d));
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    // `VACUUM INTO` from an in-memory database writes another in-memory one: the copy needs a database file.
    let keep = std::env::var("SEARCH_BENCH_DB").ok();
    let t = if keep.is_some() {
        TestDb::new_shared().await
    } else {
        TestDb::new().await
    };
    let backend = format!(
        "{:?}",
        sea_orm::ConnectionTrait::get_database_backend(&t.db)
    );
    maillage_territories::seed_reference_data(&t.db)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sites.csv");
    generate(n, &path);
    let started = Instant::now();
    let summary = import_file(
        &t.db,
        &Actor::cli(),
        &path,
        &ImportOptions {
            source: "bench".to_owned(),
            ..ImportOptions::default()
        },
        &mut |_| {},
        &|_| {},
    )
    .await
    .unwrap();
    eprintln!(
        "{backend}: imported {} sites in {:.1} s",
        summary.stored(),
        started.elapsed().as_secs_f64()
    );

    // A database in service has its planner statistics (autovacuum analyses a table after bulk writes); a bench that
    // queries right after a bulk import would otherwise measure PostgreSQL plans made for an empty table. SQLite
    // gathers none unless asked (`ANALYZE`), and Maillage does not ask: it is measured as it runs.
    if sea_orm::ConnectionTrait::get_database_backend(&t.db) == sea_orm::DatabaseBackend::Postgres {
        sea_orm::ConnectionTrait::execute_unprepared(&t.db, "ANALYZE")
            .await
            .unwrap();
    }

    if let Some(file) = keep
        && sea_orm::ConnectionTrait::get_database_backend(&t.db) == sea_orm::DatabaseBackend::Sqlite
    {
        let _ = std::fs::remove_file(&file);
        sea_orm::ConnectionTrait::execute_unprepared(
            &t.db,
            &format!("VACUUM INTO '{}'", file.replace('\'', "''")),
        )
        .await
        .unwrap();
        eprintln!("copied the database to {file}");
    }

    if std::env::args().any(|a| a == "lists") {
        lists(&t.db, &backend, n).await;
        return;
    }
    lists(&t.db, &backend, n).await;
    println!();

    // A Tuesday at 10:30 in Paris.
    let at = Utc.with_ymd_and_hms(2025, 3, 11, 9, 30, 0).unwrap();
    let lyon = Near {
        centre: NearCentre::Commune("69381".to_owned()),
        radius_km: 20.0,
    };
    let by_name = SiteOrder::default();
    let nearest = SiteOrder {
        field: SiteOrderField::Distance,
        descending: false,
    };
    let relevant = SiteOrder {
        field: SiteOrderField::Relevance,
        descending: false,
    };
    let text = |t: &str| SiteFilter {
        text: Some(t.to_owned()),
        ..SiteFilter::default()
    };
    let combined = SiteFilter {
        text: Some("mediatheque".to_owned()),
        near: Some(lyon.clone()),
        services: vec![V1_SERVICES[0].to_owned()],
        ..SiteFilter::default()
    };
    let cases: Vec<(&str, SiteFilter, SiteOrder, SiteFilter, SiteOrder)> = vec![
        (
            "text `mediatheque` (by relevance)",
            text("mediatheque"),
            relevant,
            SiteFilter::default(),
            by_name,
        ),
        (
            "text with a typo `mediateque`",
            text("mediateque"),
            relevant,
            SiteFilter::default(),
            by_name,
        ),
        (
            "text `saint martin`",
            text("saint martin"),
            relevant,
            SiteFilter::default(),
            by_name,
        ),
        (
            "near Lyon 20 km (nearest first)",
            SiteFilter {
                near: Some(lyon.clone()),
                ..SiteFilter::default()
            },
            nearest,
            SiteFilter::default(),
            by_name,
        ),
        (
            "openAt",
            SiteFilter {
                open_at: Some(at),
                ..SiteFilter::default()
            },
            by_name,
            SiteFilter::default(),
            by_name,
        ),
        (
            "text + near + service + openAt",
            SiteFilter {
                open_at: Some(at),
                ..combined.clone()
            },
            nearest,
            combined.clone(),
            nearest,
        ),
    ];
    println!("| {backend}, {n} sites | with | without | ratio | rows |");
    println!("|---|---|---|---|---|");
    for (label, with, with_order, without, without_order) in cases {
        let (a, rows) = median(&t.db, &with, with_order).await;
        let (b, _) = median(&t.db, &without, without_order).await;
        println!(
            "| {label} | {} | {} | {:.2} | {rows} |",
            ms(a),
            ms(b),
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
}
