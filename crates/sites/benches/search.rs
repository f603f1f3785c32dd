//! Search bench (issue #21): latency of one `list_sites` request at 100 000 generated sites, with and without each
//! new filter, on the database of the tests (SQLite in memory; PostgreSQL with `TEST_DATABASE_URL`).
//!
//! `cargo bench -p maillage-sites --bench search` (100 000 sites; pass another size: `-- 20000`). The sites are
//! imported through the ordinary import (so the triggers build every index), then each query runs `RUNS` times and
//! the median is reported, next to the same query without the filter. Deterministic: a fixed seed.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use maillage_core::Actor;
use maillage_core::pagination::PageRequest;
use maillage_sites::import::{ImportOptions, import_file};
use maillage_sites::mapping::communes;
use maillage_sites::standard::V1_COLUMNS;
use maillage_sites::standard::vocabulary::V1_SERVICES;
use maillage_sites::{Near, NearCentre, SiteFilter, SiteOrder, SiteOrderField, list_sites};
use maillage_testkit::TestDb;
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

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let t = TestDb::new().await;
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
