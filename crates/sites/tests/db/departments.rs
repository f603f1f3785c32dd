//! Nested per-department pages (`department { sites }`, issue #16): one top-N per department in one statement
//! (`LATERAL` on PostgreSQL, `UNION ALL` on SQLite), with the same rows, order, cursors and counts as each
//! department's own list, and, on SQLite, statements that walk the live indexes instead of sorting.

use super::{ALL_ORDERS, Env, MON_FR_MORNING, counting, deps, env, first, monday_paris, v01};
use maillage_core::pagination::{Cursor, PageRequest};
use maillage_core::{Actor, DepartmentCode};
use maillage_sites::{
    SiteFilter, SiteOrder, SiteParts, SiteSync, list_site_parts_by_departments,
    list_site_parts_synced, list_sites, site_by_source,
};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

/// The sites of department 69 (before archiving and merging).
const IN_69: usize = 25;

/// 69 gets [`IN_69`] sites whose names repeat (ties broken by id) and differ only by case or accents, two of them
/// archived and one merged into another (neither may be listed); 01 gets one site, 42 three, 03 and 2A none; and a
/// site in Paris must never show up.
async fn fixture(e: &Env) {
    let names = [
        "Médiathèque",
        "mediatheque",
        "Zèbre",
        "alpha",
        "Alpha",
        "écoute",
        "beta",
    ];
    let mut rows = Vec::new();
    for k in 0..IN_69 {
        let hours = if k % 2 == 0 {
            MON_FR_MORNING
        } else {
            "Sa 10:00-12:00"
        };
        rows.push(v01(
            &format!("69-{k}"),
            names[(k * 3) % names.len()],
            "69001",
            &[
                ("horaires", hours),
                ("date_maj", &format!("2023-0{}-01", 1 + k % 4)),
            ],
        ));
    }
    rows.push(v01(
        "01-0",
        "alpha Ain",
        "01000",
        &[("horaires", MON_FR_MORNING)],
    ));
    for (k, name) in names.iter().take(3).enumerate() {
        rows.push(v01(
            &format!("42-{k}"),
            name,
            "42000",
            &[("horaires", MON_FR_MORNING)],
        ));
    }
    rows.push(v01("paris", "alpha Paris", "75001", &[]));
    let path = e.json("departments.json", &rows);
    e.import(&path, "deps").await;
    for gone in ["69-3", "69-4"] {
        let s = site_by_source(&e.t.db, "deps", gone)
            .await
            .unwrap()
            .unwrap();
        maillage_sites::archive_site(&e.t.db, &Actor::cli(), s.id, s.version)
            .await
            .unwrap();
    }
    // A source record merged into another, as a confirmed duplicate leaves it: listed as its canonical site only.
    let into = site_by_source(&e.t.db, "deps", "69-6")
        .await
        .unwrap()
        .unwrap();
    let backend = e.t.db.get_database_backend();
    e.t.db
        .execute_raw(Statement::from_string(
            backend,
            format!(
                "UPDATE site SET merged_into = {} WHERE source = 'deps' AND source_id = '69-5'",
                into.id.0
            ),
        ))
        .await
        .unwrap();
}

fn in_department(code: &DepartmentCode, filter: &SiteFilter) -> SiteFilter {
    SiteFilter {
        departments: Some(vec![code.clone()]),
        ..filter.clone()
    }
}

/// Every page the batched read serves equals the department's own list (the national list filtered on that
/// department, a plain `ORDER BY … LIMIT`): forward and backward, from the start and after cursors at the start,
/// in the middle and at the end, pages shorter and longer than the department, for every order, with filters that
/// add parameters to the statement (text, openAt), whole and brief.
#[tokio::test]
async fn department_pages_equal_each_departments_own_list() {
    let e = env().await;
    fixture(&e).await;
    let t = &e.t;
    let asked = deps(&["69", "01", "03", "42", "2A"]);
    let text = SiteFilter {
        text: Some("mediatheque".into()),
        ..SiteFilter::default()
    };
    let open = SiteFilter {
        open_at: Some(monday_paris(10)),
        ..SiteFilter::default()
    };
    let live_69 = list_sites(
        &t.db,
        &in_department(&asked[0], &SiteFilter::default()),
        SiteOrder::default(),
        &first(100).with_total(true),
    )
    .await
    .unwrap();
    assert_eq!(
        live_69.total_count,
        Some(IN_69 as u64 - 3),
        "archived and merged rows are not listed"
    );
    let mut compared = 0;
    for (filter, all_parts) in [(SiteFilter::default(), true), (text, false), (open, false)] {
        let parts_list: &[SiteParts] = if all_parts {
            &[SiteParts::Whole, SiteParts::Brief]
        } else {
            &[SiteParts::Whole]
        };
        for &parts in parts_list {
            for order in ALL_ORDERS {
                // Cursors taken in 69's own list in this order: first, middle and last rows.
                let whole_69 = list_sites(
                    &t.db,
                    &in_department(&asked[0], &filter),
                    order,
                    &first(100),
                )
                .await
                .unwrap();
                let n = whole_69.items.len();
                assert!(n > 0, "{filter:?}");
                let mut cursors: Vec<Option<Cursor>> = vec![None];
                for i in [0, n / 2, n - 1] {
                    cursors.push(Some(whole_69.items[i].0.clone()));
                }
                for backward in [false, true] {
                    for size in [1, 7, 30] {
                        for after in &cursors {
                            let request = PageRequest {
                                first: size,
                                after: after.clone(),
                                with_total: true,
                                backward,
                            };
                            let batched = list_site_parts_by_departments(
                                &t.db, &asked, &filter, order, &request, parts,
                            )
                            .await
                            .unwrap();
                            assert_eq!(batched.len(), asked.len());
                            for code in &asked {
                                let expected = list_site_parts_synced(
                                    &t.db,
                                    &in_department(code, &filter),
                                    &SiteSync::default(),
                                    order,
                                    &request,
                                    parts,
                                )
                                .await
                                .unwrap();
                                assert_eq!(
                                    batched[code],
                                    expected,
                                    "department {}, {order:?}, {parts:?}, size {size}, backward {backward}, \
                                     after {after:?}, {filter:?}",
                                    code.as_str()
                                );
                                compared += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(compared > 1000);

    // Spot checks, so that the comparison cannot pass on two equally wrong answers.
    let pages = list_site_parts_by_departments(
        &t.db,
        &asked,
        &SiteFilter::default(),
        SiteOrder::default(),
        &first(30).with_total(true),
        SiteParts::Brief,
    )
    .await
    .unwrap();
    let p69 = &pages[&asked[0]];
    assert_eq!(p69.total_count, Some(IN_69 as u64 - 3));
    assert_eq!(p69.items.len(), IN_69 - 3);
    assert!(!p69.has_next_page);
    let listed: Vec<&str> = p69
        .items
        .iter()
        .map(|(_, s)| s.data.source_id.as_str())
        .collect();
    for gone in ["69-3", "69-4", "69-5"] {
        assert!(!listed.contains(&gone), "{gone} in {listed:?}");
    }
    let keys: Vec<(String, i32)> = p69
        .items
        .iter()
        .map(|(_, s)| (maillage_core::text::fold(s.data.name.trim()), s.id.0))
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "by folded name, then id: {keys:?}"
    );
    assert_eq!(
        (pages[&asked[1]].items.len(), pages[&asked[1]].total_count),
        (1, Some(1))
    );
    for empty in [&asked[2], &asked[4]] {
        let p = &pages[empty];
        assert!(p.items.is_empty() && !p.has_next_page && p.total_count == Some(0));
    }
    assert_eq!(pages[&asked[3]].total_count, Some(3));
    // A department asked twice is answered once, without its rows twice.
    let twice = deps(&["42", "42"]);
    let pages = list_site_parts_by_departments(
        &t.db,
        &twice,
        &SiteFilter::default(),
        SiteOrder::default(),
        &first(10).with_total(true),
        SiteParts::Brief,
    )
    .await
    .unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[&twice[0]].items.len(), 3);
}

/// `EXPLAIN QUERY PLAN` of a statement the counter logged (its parameters bound to NULL: SQLite plans without
/// looking at them, having no statistics), one line per step.
async fn plan(e: &Env, sql: &str) -> String {
    let params = sql.matches('?').count();
    let rows =
        e.t.db
            .query_all_raw(Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {sql}"),
                vec![sea_orm::Value::String(None); params],
            ))
            .await
            .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "detail").unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// On SQLite the plain lists walk the partial indexes of live canonical sites: the national page by name, its
/// count, the pages of twelve departments and their counts. Nothing is sorted, so a page costs its rows, not the
/// table (SQLite has no statistics: a whole-column index on `merged_into` used to win for `merged_into IS NULL`).
#[tokio::test]
async fn sqlite_lists_walk_the_live_indexes() {
    let e = env().await;
    if e.t.is_postgres() {
        return;
    }
    fixture(&e).await;
    let t = &e.t;
    let (filter, sync) = (SiteFilter::default(), SiteSync::default());
    let (counted, plain) = (first(20).with_total(true), first(20));
    let national = |request| {
        list_site_parts_synced(
            &t.db,
            &filter,
            &sync,
            SiteOrder::default(),
            request,
            SiteParts::Brief,
        )
    };
    let (page, _, log) = counting(t, national(&counted)).await;
    page.unwrap();
    // The page and its count are one statement: the count a scalar subquery beside the page's walk.
    assert_eq!(log.len(), 1, "{log:#?}");
    let list = plan(&e, &log[0]).await;
    assert_eq!(
        list.matches("idx_site_live_sort_name").count(),
        2,
        "the page and the count: {}\n{list}",
        log[0]
    );
    assert!(!list.contains("TEMP B-TREE"), "{}\n{list}", log[0]);
    let (page, _, log) = counting(t, national(&plain)).await;
    let mut after = first(20);
    after.after = page.unwrap().items.last().map(|(c, _)| c.clone());
    let (page, _, log_after) = counting(
        t,
        list_site_parts_synced(
            &t.db,
            &SiteFilter::default(),
            &SiteSync::default(),
            SiteOrder::default(),
            &after,
            SiteParts::Brief,
        ),
    )
    .await;
    page.unwrap();
    for sql in [&log[0], &log_after[0]] {
        let p = plan(&e, sql).await;
        assert!(
            p.contains("idx_site_live_sort_name") && !p.contains("TEMP B-TREE"),
            "{sql}\n{p}"
        );
    }

    let twelve = deps(&[
        "01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74",
    ]);
    let (pages, _, log) = counting(
        t,
        list_site_parts_by_departments(
            &t.db,
            &twelve,
            &SiteFilter::default(),
            SiteOrder::default(),
            &first(20).with_total(true),
            SiteParts::Brief,
        ),
    )
    .await;
    pages.unwrap();
    // The pages and their counts are one statement: each department's count beside its page's walk.
    assert_eq!(log.len(), 1, "{log:#?}");
    let list = plan(&e, &log[0]).await;
    assert_eq!(
        list.matches("idx_site_live_department_name (department_code=?)")
            .count(),
        24,
        "twelve pages and twelve counts: {}\n{list}",
        log[0]
    );
    assert!(
        !list.contains("TEMP B-TREE") && !list.contains("MATERIALIZE"),
        "pages walked, not sorted nor copied first: {list}"
    );
}
