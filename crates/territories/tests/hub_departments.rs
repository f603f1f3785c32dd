//! Hubs read with their departments' codes in one statement, the departments resolved from the reference snapshot:
//! the same answer as `list_hubs` then `departments_of_hubs` (joined to `department`), on SQLite in memory by
//! default, a fresh PostgreSQL database per test when `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use maillage_core::{Actor, DepartmentCode, HubId};
use maillage_territories::{self as territories, Department, Hub, ReferenceTerritories};
use maillage_testkit::TestDb;
use std::future::Future;

fn dep(code: &str) -> DepartmentCode {
    DepartmentCode::parse(code).unwrap()
}

/// Runs `f` and returns its output; fails listing the statements if it did not run `expected` of them.
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

/// Every hub with its departments, as the API read them before: the hubs, then their departments joined to
/// `department`.
async fn as_joined(t: &TestDb) -> Vec<(Hub, Vec<Department>)> {
    let hubs = territories::list_hubs(&t.db).await.unwrap();
    let ids: Vec<HubId> = hubs.iter().map(|h| h.id).collect();
    let pairs = territories::departments_of_hubs(&t.db, &ids).await.unwrap();
    hubs.into_iter()
        .map(|hub| {
            let departments = pairs
                .iter()
                .filter(|(id, _)| *id == hub.id)
                .map(|(_, d)| d.clone())
                .collect();
            (hub, departments)
        })
        .collect()
}

async fn set(t: &TestDb, slug: &str, codes: &[&str]) {
    let hub = territories::hub_by_slug(&t.db, slug)
        .await
        .unwrap()
        .unwrap();
    let codes: Vec<DepartmentCode> = codes.iter().map(|c| dep(c)).collect();
    territories::set_hub_departments(&t.db, &Actor::cli(), hub.id, hub.version, &codes)
        .await
        .unwrap();
}

fn codes_of<'a>(hubs: &'a [(Hub, Vec<Department>)], slug: &str) -> Vec<&'a str> {
    hubs.iter()
        .find(|(h, _)| h.slug == slug)
        .unwrap()
        .1
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

#[tokio::test]
async fn hubs_and_their_departments_come_in_one_statement_as_joined_before() {
    let t = TestDb::new().await;
    territories::seed_reference_data(&t.db).await.unwrap();
    let reference = ReferenceTerritories::new();
    reference.snapshot(&t.db).await.unwrap();
    // Several departments out of order (`2A` after `29`, overseas last), and a hub covering none.
    set(&t, "hinaura", &["974", "2A", "01", "29", "69"]).await;
    set(&t, "hub-du-sud", &[]).await;

    let want = as_joined(&t).await;
    assert_eq!(codes_of(&want, "hinaura"), ["01", "29", "2A", "69", "974"]);
    assert!(codes_of(&want, "hub-du-sud").is_empty());

    let got = statements(
        &t,
        1,
        "list_hubs_with_departments",
        reference.list_hubs_with_departments(&t.db),
    )
    .await
    .unwrap();
    assert_eq!(got, want);

    let codes = statements(
        &t,
        1,
        "list_hubs_with_department_codes",
        territories::list_hubs_with_department_codes(&t.db),
    )
    .await
    .unwrap();
    let codes: Vec<(Hub, Vec<String>)> = codes
        .into_iter()
        .map(|(h, c)| (h, c.iter().map(|c| c.as_str().to_owned()).collect()))
        .collect();
    let want_codes: Vec<(Hub, Vec<String>)> = want
        .iter()
        .map(|(h, d)| {
            let c = d.iter().map(|d| d.code.as_str().to_owned()).collect();
            (h.clone(), c)
        })
        .collect();
    assert_eq!(codes, want_codes);

    for (hub, departments) in &want {
        let one = statements(
            &t,
            1,
            "hub_by_slug_with_departments",
            reference.hub_by_slug_with_departments(&t.db, &hub.slug),
        )
        .await
        .unwrap();
        assert_eq!(one, Some((hub.clone(), departments.clone())));
    }
    let none = statements(
        &t,
        1,
        "an unknown slug",
        reference.hub_by_slug_with_departments(&t.db, "nowhere"),
    )
    .await
    .unwrap();
    assert_eq!(none, None);

    // The batched form for hubs found elsewhere: `hub_department` alone, the same pairs as the join.
    let ids: Vec<HubId> = want.iter().map(|(h, _)| h.id).collect();
    let joined = territories::departments_of_hubs(&t.db, &ids).await.unwrap();
    let pairs = statements(
        &t,
        1,
        "departments_of_hubs from the snapshot",
        reference.departments_of_hubs(&t.db, &ids),
    )
    .await
    .unwrap();
    assert_eq!(pairs, joined);
    let log = {
        let counter = t.statement_counter();
        counter.start_log();
        reference.departments_of_hubs(&t.db, &ids).await.unwrap();
        counter.take_log()
    };
    assert!(
        log.iter().all(|sql| !sql.contains("\"department\"")),
        "no join with department: {log:#?}"
    );
    let pairs = statements(&t, 0, "no hubs", reference.departments_of_hubs(&t.db, &[]))
        .await
        .unwrap();
    assert!(pairs.is_empty());

    // Changed: the next read sees it (coverage is never kept in memory).
    set(&t, "hinaura", &["69"]).await;
    set(&t, "hub-du-sud", &["13", "83"]).await;
    let got = reference.list_hubs_with_departments(&t.db).await.unwrap();
    assert_eq!(got, as_joined(&t).await);
    assert_eq!(codes_of(&got, "hinaura"), ["69"]);
    assert_eq!(codes_of(&got, "hub-du-sud"), ["13", "83"]);
}

#[tokio::test]
async fn departments_missing_from_the_snapshot_are_read_in_one_more_statement() {
    let t = TestDb::new().await;
    // Loaded before the seed: the snapshot holds no department at all.
    let reference = ReferenceTerritories::new();
    reference.snapshot(&t.db).await.unwrap();
    territories::seed_reference_data(&t.db).await.unwrap();
    let want = as_joined(&t).await;
    assert!(want.iter().any(|(_, d)| d.len() > 1), "{want:?}");
    let got = statements(
        &t,
        2,
        "hubs, then every department the snapshot lacks",
        reference.list_hubs_with_departments(&t.db),
    )
    .await
    .unwrap();
    assert_eq!(got, want);
}
