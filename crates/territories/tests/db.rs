//! Territories services on a real database: SQLite in memory by default, a fresh PostgreSQL database per test when
//! `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use maillage_core::{Actor, DepartmentCode, ErrorCode, HubId, RegionCode};
use maillage_territories::{self as territories, Hub, SeedReport, TerritoriesError};
use maillage_testkit::TestDb;
use sea_orm::ConnectionTrait;
use std::future::Future;

fn dep(code: &str) -> DepartmentCode {
    DepartmentCode::parse(code).unwrap()
}

fn reg(code: &str) -> RegionCode {
    RegionCode::parse(code).unwrap()
}

fn codes<'a>(departments: impl IntoIterator<Item = &'a DepartmentCode>) -> Vec<&'a str> {
    departments
        .into_iter()
        .map(DepartmentCode::as_str)
        .collect()
}

async fn seeded() -> TestDb {
    let t = TestDb::new().await;
    territories::seed_reference_data(&t.db).await.unwrap();
    t
}

async fn hub(t: &TestDb, slug: &str) -> Hub {
    territories::hub_by_slug(&t.db, slug)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no hub {slug}"))
}

/// Runs `f` and returns its output with the number of SQL statements it ran; fails listing them if `expected` differs.
async fn statements<T>(t: &TestDb, expected: u64, what: &str, f: impl Future<Output = T>) -> T {
    let counter = t.statement_counter();
    counter.start_log();
    let before = t.statements();
    let out = f.await;
    let ran = t.statements() - before;
    let log = counter.take_log();
    assert_eq!(ran, expected, "{what} ran {ran} statements: {log:#?}");
    out
}

#[tokio::test]
async fn seeding_twice_is_idempotent() {
    let t = TestDb::new().await;
    let first = territories::seed_reference_data(&t.db).await.unwrap();
    assert_eq!(
        first,
        SeedReport {
            regions_inserted: 18,
            regions_updated: 0,
            departments_inserted: 101,
            departments_updated: 0,
            hubs_inserted: 10,
            hub_departments_inserted: 12 + 12 + 8 + 6 + 5 + 4 + 8 + 5 + 3 + 2,
            indicators_inserted: 5,
        }
    );
    let second = territories::seed_reference_data(&t.db).await.unwrap();
    assert!(second.is_empty(), "{second:?}");

    assert_eq!(territories::list_regions(&t.db).await.unwrap().len(), 18);
    assert_eq!(
        territories::list_departments(&t.db, None)
            .await
            .unwrap()
            .len(),
        101
    );
    assert_eq!(territories::list_hubs(&t.db).await.unwrap().len(), 10);
}

/// A second instance, or the CLI, seeds while a running server writes: seeding waits its turn instead of failing.
/// On SQLite (a file, so two connections), a deferred transaction that read before another connection's commit could
/// not write after it (`SQLITE_BUSY_SNAPSHOT`, at once, with no busy wait): `maillage dedup run` failed to start
/// while a test server wrote. On PostgreSQL the same sequence must succeed too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_waits_for_another_connections_write() {
    let t = TestDb::new_shared().await;
    territories::seed_reference_data(&t.db).await.unwrap();
    // Something for the seed to write back.
    t.db.execute_unprepared("UPDATE region SET name = 'ARA' WHERE code = '84'")
        .await
        .unwrap();
    // Another writer holds the write lock (on SQLite) from before the seed starts to after it has read.
    let other = maillage_core::db::begin_write(&t.db).await.unwrap();
    other
        .execute_unprepared("UPDATE region SET name = name WHERE code = '11'")
        .await
        .unwrap();
    let db = t.db.clone();
    let seeding = tokio::spawn(async move { territories::seed_reference_data(&db).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    other.commit().await.unwrap();
    let report = seeding.await.unwrap().unwrap();
    assert_eq!(
        report,
        SeedReport {
            regions_updated: 1,
            ..SeedReport::default()
        }
    );
}

#[tokio::test]
async fn seed_restores_reference_names_but_keeps_admin_edits_to_hubs() {
    let t = seeded().await;
    let hinaura = hub(&t, "hinaura").await;
    for sql in [
        "UPDATE region SET name = 'ARA' WHERE code = '84'",
        "UPDATE department SET name = 'Ardeche' WHERE code = '07'",
        "UPDATE hub SET name = 'Hinaura (édité)', website = 'https://example.org', version = 2 WHERE slug = 'hinaura'",
        "DELETE FROM hub_department WHERE department_code = '74'",
    ] {
        t.db.execute_unprepared(sql).await.unwrap();
    }

    let report = territories::seed_reference_data(&t.db).await.unwrap();
    assert_eq!(
        report,
        SeedReport {
            regions_updated: 1,
            departments_updated: 1,
            ..SeedReport::default()
        }
    );

    let ara = territories::regions_by_codes(&t.db, &[reg("84")])
        .await
        .unwrap();
    assert_eq!(ara[0].name, "Auvergne-Rhône-Alpes");
    let ardeche = territories::departments_by_codes(&t.db, &[dep("07")])
        .await
        .unwrap();
    assert_eq!(ardeche[0].name, "Ardèche");

    let edited = hub(&t, "hinaura").await;
    assert_eq!(edited.id, hinaura.id);
    assert_eq!(edited.name, "Hinaura (édité)");
    assert_eq!(edited.website.as_deref(), Some("https://example.org"));
    assert_eq!(edited.version, 2);
    let covered = territories::departments_of_hubs(&t.db, &[hinaura.id])
        .await
        .unwrap();
    assert_eq!(
        covered.len(),
        11,
        "the seed must not re-add a department an admin removed"
    );
}

#[tokio::test]
async fn hinaura_covers_the_twelve_departments_of_auvergne_rhone_alpes() {
    let t = seeded().await;
    let hinaura = hub(&t, "hinaura").await;
    assert_eq!(hinaura.name, "Hinaura");
    assert_eq!(hinaura.version, 1);
    assert_eq!(hinaura.website, None);
    assert_eq!(hinaura.description, None);

    let covered = territories::departments_of_hubs(&t.db, &[hinaura.id])
        .await
        .unwrap();
    assert_eq!(covered.len(), 12);
    assert!(
        covered
            .iter()
            .all(|(id, d)| *id == hinaura.id && d.region_code == reg("84"))
    );
    let region = territories::list_departments(&t.db, Some(&reg("84")))
        .await
        .unwrap();
    assert_eq!(
        codes(covered.iter().map(|(_, d)| &d.code)),
        codes(region.iter().map(|d| &d.code))
    );

    let scope = statements(
        &t,
        1,
        "hub_scope",
        territories::hub_scope(&t.db, hinaura.id),
    )
    .await
    .unwrap();
    assert_eq!(scope.hub, hinaura.id);
    assert_eq!(
        codes(&scope.departments),
        codes(region.iter().map(|d| &d.code))
    );
}

#[tokio::test]
async fn hub_scope_of_an_unknown_hub_is_a_user_error() {
    let t = seeded().await;
    let err = territories::hub_scope(&t.db, HubId(999_999))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TerritoriesError::UnknownHub(HubId(999_999))),
        "{err:?}"
    );
    assert_eq!(err.code(), "unknown_hub");
    assert!(!err.is_internal());
    assert_eq!(territories::hub_by_slug(&t.db, "nope").await.unwrap(), None);
}

#[tokio::test]
async fn batch_reads_run_one_statement_whatever_the_number_of_keys() {
    let t = seeded().await;
    let hubs = territories::list_hubs(&t.db).await.unwrap();
    let hub_ids: Vec<HubId> = hubs.iter().map(|h| h.id).chain([HubId(999_999)]).collect();
    let departments: Vec<DepartmentCode> = ["69", "2A", "974", "69", "13", "75"].map(dep).to_vec();
    let regions: Vec<RegionCode> = ["84", "94", "01", "99"].map(reg).to_vec();

    let found = statements(
        &t,
        1,
        "regions_by_codes",
        territories::regions_by_codes(&t.db, &regions),
    )
    .await
    .unwrap();
    assert_eq!(
        found.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
        ["01", "84", "94"]
    );

    let found = statements(
        &t,
        1,
        "departments_by_codes",
        territories::departments_by_codes(&t.db, &departments),
    )
    .await
    .unwrap();
    assert_eq!(
        codes(found.iter().map(|d| &d.code)),
        ["13", "2A", "69", "75", "974"]
    );

    let found = statements(
        &t,
        1,
        "hubs_by_ids",
        territories::hubs_by_ids(&t.db, &hub_ids),
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 10);

    let pairs = statements(
        &t,
        1,
        "departments_of_hubs",
        territories::departments_of_hubs(&t.db, &hub_ids),
    )
    .await
    .unwrap();
    assert_eq!(pairs.len(), 65);

    let pairs = statements(
        &t,
        1,
        "hubs_of_departments",
        territories::hubs_of_departments(&t.db, &departments),
    )
    .await
    .unwrap();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(d, h)| (d.as_str(), h.slug.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("13", "hub-du-sud"),
            ("69", "hinaura"),
            ("75", "francil-in"),
            ("974", "hub-ultra-numerique"),
        ]
    );

    let found = statements(
        &t,
        1,
        "departments_of_regions",
        territories::departments_of_regions(&t.db, &regions),
    )
    .await
    .unwrap();
    let found: Vec<(&str, &str)> = found
        .iter()
        .map(|d| (d.region_code.as_str(), d.code.as_str()))
        .collect();
    assert_eq!(found.len(), 1 + 12 + 2);
    assert_eq!(found[..3], [("01", "971"), ("84", "01"), ("84", "03")]);
    assert_eq!(found[13..], [("94", "2A"), ("94", "2B")]);

    let found = statements(
        &t,
        1,
        "require_departments",
        territories::require_departments(&t.db, &departments),
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 5);
}

#[tokio::test]
async fn batch_reads_skip_the_database_for_no_keys() {
    let t = seeded().await;
    statements(&t, 0, "empty batches", async {
        assert!(
            territories::regions_by_codes(&t.db, &[])
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            territories::departments_by_codes(&t.db, &[])
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            territories::hubs_by_ids(&t.db, &[])
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            territories::departments_of_hubs(&t.db, &[])
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            territories::hubs_of_departments(&t.db, &[])
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            territories::departments_of_regions(&t.db, &[])
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            territories::require_departments(&t.db, &[])
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn lists_are_ordered() {
    let t = seeded().await;
    let regions = territories::list_regions(&t.db).await.unwrap();
    assert_eq!(regions.first().map(|r| r.code.as_str()), Some("01"));
    assert_eq!(regions.last().map(|r| r.name.as_str()), Some("Corse"));

    let departments = territories::list_departments(&t.db, None).await.unwrap();
    let all = codes(departments.iter().map(|d| &d.code));
    assert_eq!(all[0], "01");
    assert_eq!(all[27..31], ["29", "2A", "2B", "30"]);
    assert_eq!(all[96..], ["971", "972", "973", "974", "976"]);

    let corse = territories::list_departments(&t.db, Some(&reg("94")))
        .await
        .unwrap();
    assert_eq!(codes(corse.iter().map(|d| &d.code)), ["2A", "2B"]);
    assert!(
        territories::list_departments(&t.db, Some(&reg("99")))
            .await
            .unwrap()
            .is_empty()
    );

    let hubs = territories::list_hubs(&t.db).await.unwrap();
    let names: Vec<&str> = hubs.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Conumm",
            "Francil'IN",
            "Hinaura",
            "Hub Antilles-Guyane",
            "Hub du Sud",
            "Hub MedNum BFC",
            "Hub Ultra Numérique",
            "Hubik",
            "Les Assembleurs",
            "RhinOcc",
        ]
    );
}

#[tokio::test]
async fn require_departments_names_the_first_unknown_code() {
    // Every well-formed code is one of the 101 seeded departments, so an unknown one only happens on a database
    // whose reference data is missing: here, migrated but not seeded.
    let t = TestDb::new().await;
    let err = territories::require_departments(&t.db, &[dep("69"), dep("974")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TerritoriesError::UnknownDepartment(code) if code.as_str() == "69"),
        "{err:?}"
    );
    assert_eq!(err.code(), "unknown_department");
}

#[tokio::test]
async fn two_instances_seeding_at_once_both_succeed() {
    let t = TestDb::new().await;
    if !t.is_postgres() {
        // An in-memory SQLite database lives in one connection: there is no second instance to race with.
        return;
    }
    let other = maillage_core::db::connect(&t.url, 2, None).await.unwrap();
    let (a, b) = tokio::join!(
        territories::seed_reference_data(&t.db),
        territories::seed_reference_data(&other)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.regions_inserted + b.regions_inserted, 18);
    assert_eq!(a.departments_inserted + b.departments_inserted, 101);
    assert_eq!(a.hubs_inserted + b.hubs_inserted, 10);
    assert_eq!(a.hub_departments_inserted + b.hub_departments_inserted, 65);
    assert_eq!(a.indicators_inserted + b.indicators_inserted, 5);
    other.close().await.unwrap();
    assert!(
        territories::seed_reference_data(&t.db)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn reference_snapshot_answers_like_the_database_without_statements() {
    let t = seeded().await;
    let reference = territories::ReferenceTerritories::new();
    let snapshot = statements(&t, 2, "the first load", reference.snapshot(&t.db))
        .await
        .unwrap();
    assert_eq!(snapshot.regions().len(), 18);
    assert_eq!(snapshot.departments().len(), 101);

    let departments = [dep("69"), dep("2A"), dep("07"), dep("69"), dep("974")];
    let regions = [reg("84"), reg("94"), reg("04"), reg("84")];
    let from_memory = statements(&t, 0, "departments by codes", async {
        reference
            .departments_by_codes(&t.db, &departments)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(
        from_memory,
        territories::departments_by_codes(&t.db, &departments)
            .await
            .unwrap()
    );
    let from_memory = statements(&t, 0, "regions by codes", async {
        reference.regions_by_codes(&t.db, &regions).await.unwrap()
    })
    .await;
    assert_eq!(
        from_memory,
        territories::regions_by_codes(&t.db, &regions)
            .await
            .unwrap()
    );
    let from_memory = statements(&t, 0, "departments of regions", async {
        reference
            .departments_of_regions(&t.db, &regions)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(
        from_memory,
        territories::departments_of_regions(&t.db, &regions)
            .await
            .unwrap()
    );
    let from_memory = statements(&t, 0, "all regions", async {
        reference.list_regions(&t.db).await.unwrap()
    })
    .await;
    assert_eq!(from_memory, territories::list_regions(&t.db).await.unwrap());
    for region in [None, Some(reg("84")), Some(reg("94"))] {
        let from_memory = statements(&t, 0, "departments of one region", async {
            reference
                .list_departments(&t.db, region.as_ref())
                .await
                .unwrap()
        })
        .await;
        assert_eq!(
            from_memory,
            territories::list_departments(&t.db, region.as_ref())
                .await
                .unwrap(),
            "{region:?}"
        );
    }
    assert_eq!(
        snapshot
            .department(&dep("07"))
            .map(|d| (d.name.as_str(), d.region_code.as_str())),
        Some(("Ardèche", "84"))
    );
    assert_eq!(
        snapshot.region(&reg("84")).map(|r| r.name.as_str()),
        Some("Auvergne-Rhône-Alpes")
    );
}

#[tokio::test]
async fn reference_snapshot_falls_back_to_the_database_for_codes_it_lacks() {
    let t = TestDb::new().await;
    let reference = territories::ReferenceTerritories::new();
    // Loaded before the seed: empty, so every code is one it lacks.
    let empty = statements(&t, 2, "the first load", reference.snapshot(&t.db))
        .await
        .unwrap();
    assert!(empty.regions().is_empty() && empty.departments().is_empty());
    // An unknown code costs the one statement it always cost.
    let none = statements(&t, 1, "an unknown department", async {
        reference
            .departments_by_codes(&t.db, &[dep("69")])
            .await
            .unwrap()
    })
    .await;
    assert!(none.is_empty());

    territories::seed_reference_data(&t.db).await.unwrap();
    let rhone = statements(&t, 1, "a department newer than the snapshot", async {
        reference
            .departments_by_codes(&t.db, &[dep("69")])
            .await
            .unwrap()
    })
    .await;
    assert_eq!(codes(rhone.iter().map(|d| &d.code)), ["69"]);
    assert_eq!(rhone[0].name, "Rhône");
    // Having found a row the snapshot lacks, the next read reloads it (two statements), after which the snapshot
    // answers alone.
    let ara = statements(&t, 2, "the reload a late row triggers", async {
        reference
            .regions_by_codes(&t.db, &[reg("84")])
            .await
            .unwrap()
    })
    .await;
    assert_eq!(ara[0].name, "Auvergne-Rhône-Alpes");
    let both = statements(&t, 0, "the reloaded snapshot", async {
        reference
            .departments_by_codes(&t.db, &[dep("69"), dep("01")])
            .await
            .unwrap()
    })
    .await;
    assert_eq!(codes(both.iter().map(|d| &d.code)), ["01", "69"]);
}

#[tokio::test]
async fn reference_snapshot_falls_back_for_regions_and_region_lists_too() {
    let t = TestDb::new().await;
    let reference = territories::ReferenceTerritories::new();
    reference.snapshot(&t.db).await.unwrap();
    territories::seed_reference_data(&t.db).await.unwrap();
    let deps = statements(
        &t,
        1,
        "departments of a region newer than the snapshot",
        async {
            reference
                .list_departments(&t.db, Some(&reg("84")))
                .await
                .unwrap()
        },
    )
    .await;
    assert_eq!(deps.len(), 12);
    t.db.execute_unprepared("DELETE FROM hub_department WHERE department_code = '976'")
        .await
        .unwrap();
    t.db.execute_unprepared("DELETE FROM department WHERE code = '976'")
        .await
        .unwrap();
    let reference = territories::ReferenceTerritories::new();
    reference.snapshot(&t.db).await.unwrap();
    t.db.execute_unprepared(
        "INSERT INTO department (code, name, region_code) VALUES ('976', 'Mayotte', '06')",
    )
    .await
    .unwrap();
    // A second handle, loaded without Mayotte: Mayotte by code is found at once (one statement), while the list of
    // region 06, which the snapshot has, waits for the reload that finding a late row triggers.
    let before = statements(&t, 0, "a region the snapshot has", async {
        reference
            .departments_of_regions(&t.db, &[reg("06")])
            .await
            .unwrap()
    })
    .await;
    assert!(before.is_empty(), "{before:?}");
    let mayotte = statements(&t, 1, "a department inserted after the load", async {
        reference
            .departments_by_codes(&t.db, &[dep("976"), dep("974")])
            .await
            .unwrap()
    })
    .await;
    assert_eq!(codes(mayotte.iter().map(|d| &d.code)), ["974", "976"]);
    let of_06 = statements(&t, 2, "the reload the late row triggers", async {
        reference
            .departments_of_regions(&t.db, &[reg("06")])
            .await
            .unwrap()
    })
    .await;
    assert_eq!(codes(of_06.iter().map(|d| &d.code)), ["976"]);
}

#[tokio::test]
async fn reference_snapshot_reloads_once_older_than_its_maximum_age() {
    let t = seeded().await;
    let lasting = territories::ReferenceTerritories::new();
    // Long enough that the statements between loading it and the "fresh" read below never outlast it, even on a
    // loaded CI machine (50 ms did: the UPDATE on PostgreSQL sometimes took longer, and the snapshot reloaded).
    let max_age = std::time::Duration::from_millis(1500);
    let short = territories::ReferenceTerritories::with_max_age(max_age);
    lasting.snapshot(&t.db).await.unwrap();
    short.snapshot(&t.db).await.unwrap();
    t.db.execute_unprepared("UPDATE department SET name = 'Ardeche' WHERE code = '07'")
        .await
        .unwrap();
    let name = |deps: Vec<territories::Department>| deps[0].name.clone();

    let still = statements(&t, 0, "a fresh snapshot", async {
        name(
            short
                .departments_by_codes(&t.db, &[dep("07")])
                .await
                .unwrap(),
        )
    })
    .await;
    assert_eq!(still, "Ardèche");
    tokio::time::sleep(max_age + std::time::Duration::from_millis(100)).await;
    let reloaded = statements(&t, 2, "a snapshot past its age", async {
        name(
            short
                .departments_by_codes(&t.db, &[dep("07")])
                .await
                .unwrap(),
        )
    })
    .await;
    assert_eq!(reloaded, "Ardeche");
    let cached = statements(&t, 0, "a snapshot within its age", async {
        name(
            lasting
                .departments_by_codes(&t.db, &[dep("07")])
                .await
                .unwrap(),
        )
    })
    .await;
    assert_eq!(
        cached, "Ardèche",
        "a ten-minute snapshot answers from memory"
    );
    assert_eq!(
        territories::REFERENCE_MAX_AGE,
        std::time::Duration::from_secs(600)
    );
}

#[tokio::test]
async fn concurrent_first_reads_load_the_snapshot_once() {
    let t = seeded().await;
    let reference = territories::ReferenceTerritories::new();
    let (rhone, ara) = ([dep("69")], [reg("84")]);
    let (a, b, c) = statements(&t, 2, "three concurrent first reads", async {
        tokio::join!(
            reference.departments_by_codes(&t.db, &rhone),
            reference.regions_by_codes(&t.db, &ara),
            reference.list_regions(&t.db),
        )
    })
    .await;
    assert_eq!(a.unwrap()[0].name, "Rhône");
    assert_eq!(b.unwrap()[0].name, "Auvergne-Rhône-Alpes");
    assert_eq!(c.unwrap().len(), 18);
}

/// The slugs and versions of a department's hubs, in order, as a comparable value.
fn hub_keys(pairs: &[(DepartmentCode, Hub)]) -> Vec<(String, String, i32)> {
    pairs
        .iter()
        .map(|(code, hub)| (code.as_str().to_owned(), hub.slug.clone(), hub.version))
        .collect()
}

#[tokio::test]
async fn department_hubs_are_kept_only_while_their_changes_are_announced() {
    use std::sync::Arc;
    let t = seeded().await;
    let kept = Arc::new(territories::DepartmentHubs::new());
    let asked = [dep("69"), dep("01"), dep("75")];
    let direct = territories::hubs_of_departments(&t.db, &asked)
        .await
        .unwrap();
    assert!(direct.iter().any(|(code, _)| code.as_str() == "69"));

    // Nobody listening yet: every read is the statement it always was.
    for _ in 0..2 {
        let read = statements(
            &t,
            1,
            "hubs before listening",
            kept.hubs_of_departments(&t.db, &asked),
        )
        .await
        .unwrap();
        assert_eq!(hub_keys(&read), hub_keys(&direct));
    }

    let follower = territories::follow_hub_changes(&t.db, Arc::clone(&kept)).await;
    if t.db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        // SQLite has no notices: nothing listens, and reads stay statements.
        assert!(follower.is_none());
        assert!(!kept.is_listening());
        statements(
            &t,
            1,
            "hubs on SQLite",
            kept.hubs_of_departments(&t.db, &asked),
        )
        .await
        .unwrap();
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !kept.is_listening() {
        assert!(std::time::Instant::now() < deadline, "never listened");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let read = statements(
        &t,
        1,
        "the first read, every department's hubs",
        kept.hubs_of_departments(&t.db, &asked),
    )
    .await
    .unwrap();
    assert_eq!(hub_keys(&read), hub_keys(&direct));
    let read = statements(
        &t,
        0,
        "a kept read",
        kept.hubs_of_departments(&t.db, &asked),
    )
    .await
    .unwrap();
    assert_eq!(hub_keys(&read), hub_keys(&direct));

    // Another writer (the domain function alone, as another instance or the CLI runs it): Hinaura also covers 75.
    let hinaura = hub(&t, "hinaura").await;
    let mut covered: Vec<DepartmentCode> = territories::departments_of_hubs(&t.db, &[hinaura.id])
        .await
        .unwrap()
        .into_iter()
        .map(|(_, d)| d.code)
        .collect();
    covered.push(dep("75"));
    territories::set_hub_departments(&t.db, &Actor::cli(), hinaura.id, hinaura.version, &covered)
        .await
        .unwrap();
    let changed = territories::hubs_of_departments(&t.db, &asked)
        .await
        .unwrap();
    assert_ne!(hub_keys(&changed), hub_keys(&direct));
    // Its notice arrives after the commit: the kept map is forgotten then, and the next read has the change.
    loop {
        let read = kept.hubs_of_departments(&t.db, &asked).await.unwrap();
        if hub_keys(&read) == hub_keys(&changed) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the change was never announced"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    // This server's own write: `changed` forgets the map at once, without waiting for the notice.
    kept.hubs_of_departments(&t.db, &asked).await.unwrap();
    let hinaura = hub(&t, "hinaura").await;
    covered.pop();
    territories::set_hub_departments(&t.db, &Actor::cli(), hinaura.id, hinaura.version, &covered)
        .await
        .unwrap();
    kept.changed();
    let read = kept.hubs_of_departments(&t.db, &asked).await.unwrap();
    let now = territories::hubs_of_departments(&t.db, &asked)
        .await
        .unwrap();
    assert_eq!(hub_keys(&read), hub_keys(&now));
    assert!(
        !read
            .iter()
            .any(|(code, hub)| code.as_str() == "75" && hub.slug == "hinaura")
    );
}
