//! `totalCount` of site lists, which the list reads in the same statement as its page (issue #16): it is the number
//! of sites the list serves, whatever the page (several departments at once, an empty department, `first: 0`, a
//! page past the end, backward), whatever the filter, archived and merged sites left out, and it costs no statement.

use crate::support::TestApp;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

const AIDE: &str = "Aide aux démarches administratives";
const OUTILS: &str = "Maîtrise des outils numériques du quotidien";

/// 69 gets seven sites (even ones "Médiathèque" offering [`AIDE`], odd ones "Mairie" offering [`OUTILS`]), 01
/// three médiathèques, 42 one mairie, 75 one of each; 03 (a department of hinaura) none.
fn sites_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut csv = String::from("id,pivot,nom,commune,code_postal,adresse,date_maj,services\n");
    for (dep, postal, n, first_odd) in [
        ("69", "69001", 7, 0),
        ("01", "01000", 3, 100),
        ("42", "42000", 1, 1),
        ("75", "75001", 2, 0),
    ] {
        for i in 0..n {
            let (name, service) = if (i + first_odd) % 2 == 0 {
                ("Médiathèque", AIDE)
            } else {
                ("Mairie", OUTILS)
            };
            writeln!(
                csv,
                "{dep}-{i},00000000000000,{name} {i} du {dep},Commune,{postal},{i} rue de la Poste,2024-01-01,{service}"
            )
            .unwrap();
        }
    }
    let path = dir.join("counted.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// An app with [`sites_file`] imported, 69-5 archived and 69-6 merged into 69-0: 69 lists five sites.
async fn app() -> TestApp {
    let app = TestApp::spawn().await;
    let file = sites_file(app.dir.path());
    app.import_with(&file, "counted", &["--standard", "v1"])
        .await;
    let backend = sea_orm::ConnectionTrait::get_database_backend(&app.db.db);
    for sql in [
        "UPDATE site SET archived_at = CURRENT_TIMESTAMP WHERE source = 'counted' AND source_id = '69-5'",
        "UPDATE site SET merged_into = (SELECT s.id FROM site s WHERE s.source = 'counted' AND s.source_id = '69-0') \
         WHERE source = 'counted' AND source_id = '69-6'",
    ] {
        sea_orm::ConnectionTrait::execute_raw(
            &app.db.db,
            sea_orm::Statement::from_string(backend, sql),
        )
        .await
        .unwrap();
    }
    app
}

/// The filters compared: none, a service (a subquery on values), a text (the search condition).
fn filters() -> [(&'static str, Value); 3] {
    [
        ("no filter", json!({})),
        ("service", json!({ "services": [OUTILS] })),
        ("text", json!({ "text": "mairie" })),
    ]
}

/// The sites `filter` lists, by department, from the list itself (every site in one page, no `totalCount` asked).
async fn listed(app: &TestApp, filter: &Value) -> BTreeMap<String, u64> {
    let data = app
        .data(
            "query($f: SiteFilter) { sites(first: 100, filter: $f) { nodes { department { code } } pageInfo { hasNextPage } } }",
            json!({ "f": filter }),
        )
        .await;
    assert_eq!(data["sites"]["pageInfo"]["hasNextPage"], false);
    let mut out = BTreeMap::new();
    for node in data["sites"]["nodes"].as_array().unwrap() {
        *out.entry(node["department"]["code"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    out
}

/// With filter `f`, a nested and a top-level list, and the cursor of the last site of each (a page after it is past
/// the end).
async fn last_cursors(app: &TestApp, filter: &Value) -> (Option<String>, Option<String>) {
    let data = app
        .data(
            "query($f: SiteFilter) { department(code: \"69\") { sites(first: 100, filter: $f) { pageInfo { endCursor } } } \
             sites(first: 100, filter: $f) { pageInfo { endCursor } } }",
            json!({ "f": filter }),
        )
        .await;
    let cursor = |v: &Value| v["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    (cursor(&data["department"]["sites"]), cursor(&data["sites"]))
}

#[tokio::test]
async fn total_count_is_the_number_of_sites_listed_whatever_the_page_and_the_filter() {
    let app = app().await;
    // The fixture, independently of any count: archived and merged sites are not listed.
    let all = listed(&app, &json!({})).await;
    let expected: BTreeMap<String, u64> = [("01", 3), ("42", 1), ("69", 5), ("75", 2)]
        .into_iter()
        .map(|(d, n)| (d.to_owned(), n))
        .collect();
    assert_eq!(all, expected);
    let mut checked = 0;
    for (what, filter) in filters() {
        let by_department = listed(&app, &filter).await;
        let national: u64 = by_department.values().sum();
        assert!(national > 0, "{what}");
        let count_of = |code: &str| by_department.get(code).copied().unwrap_or_default();

        // Every department of every hub at once: departments with sites, and many without (03, …).
        let data = app
            .data(
                "query($f: SiteFilter) { hubs { departments { code sites(first: 2, filter: $f) { totalCount nodes { sourceId } } } } }",
                json!({ "f": filter }),
            )
            .await;
        let mut seen = BTreeMap::new();
        for hub in data["hubs"].as_array().unwrap() {
            for dep in hub["departments"].as_array().unwrap() {
                let code = dep["code"].as_str().unwrap();
                let sites = &dep["sites"];
                assert_eq!(sites["totalCount"], count_of(code), "{what}: {code}");
                assert_eq!(
                    sites["nodes"].as_array().unwrap().len() as u64,
                    count_of(code).min(2),
                    "{what}: {code}"
                );
                seen.insert(code.to_owned(), count_of(code));
            }
        }
        assert!(
            seen.contains_key("03") && seen["03"] == 0,
            "{what}: {seen:?}"
        );
        assert!(
            seen.contains_key("69") && seen["69"] > 0,
            "{what}: {seen:?}"
        );

        // One department, with sites and without; `first: 0`; backward.
        for code in ["69", "03"] {
            for page in ["first: 2", "first: 0", "last: 2", "first: 100"] {
                let data = app
                    .data(
                        &format!(
                            "query($f: SiteFilter) {{ department(code: \"{code}\") {{ sites({page}, filter: $f) {{ totalCount nodes {{ sourceId }} }} }} }}"
                        ),
                        json!({ "f": filter }),
                    )
                    .await;
                assert_eq!(
                    data["department"]["sites"]["totalCount"],
                    count_of(code),
                    "{what}: {code}, {page}"
                );
                checked += 1;
            }
        }
        // The top-level list, from the start and with `first: 0`, backward.
        for page in ["first: 2", "first: 0", "last: 2", "first: 100"] {
            let data = app
                .data(
                    &format!(
                        "query($f: SiteFilter) {{ sites({page}, filter: $f) {{ totalCount nodes {{ sourceId }} }} }}"
                    ),
                    json!({ "f": filter }),
                )
                .await;
            assert_eq!(data["sites"]["totalCount"], national, "{what}: {page}");
            checked += 1;
        }

        // A page past the end (after the last site): no site, the same count.
        let (nested_last, top_last) = last_cursors(&app, &filter).await;
        let data = app
            .data(
                "query($f: SiteFilter, $a: String, $b: String) { \
                 department(code: \"69\") { sites(first: 3, after: $a, filter: $f) { totalCount nodes { sourceId } pageInfo { hasNextPage } } } \
                 sites(first: 3, after: $b, filter: $f) { totalCount nodes { sourceId } pageInfo { hasNextPage } } }",
                json!({ "f": filter, "a": nested_last, "b": top_last }),
            )
            .await;
        for (list, count) in [
            (&data["department"]["sites"], count_of("69")),
            (&data["sites"], national),
        ] {
            assert_eq!(list["totalCount"], count, "{what}: past the end {list}");
            assert_eq!(list["nodes"], json!([]), "{what}: past the end {list}");
            assert_eq!(list["pageInfo"]["hasNextPage"], false, "{what}: {list}");
        }
        checked += 2;
    }
    assert!(checked > 30);
}

/// `totalCount` costs no statement: a list that selects it runs as many statements as the same list without it,
/// nested (one department or every department of every hub) or top-level, with or without a filter.
#[tokio::test]
async fn total_count_costs_no_statement() {
    let app = app().await;
    let statements = |query: String, filter: Value| {
        let app = &app;
        async move {
            let before = app.db.statements();
            app.db.statement_counter().start_log();
            let data = app.data(&query, json!({ "f": filter })).await;
            let ran = app.db.statements() - before;
            let log = app.db.statement_counter().take_log();
            assert!(!data.is_null());
            (ran, log)
        }
    };
    for (what, filter) in filters() {
        for shape in [
            "department(code: \"69\") { sites(first: 2, filter: $f) { COUNT nodes { sourceId name } } }",
            "hubs { departments { sites(first: 2, filter: $f) { COUNT nodes { sourceId } } } }",
            "sites(first: 2, filter: $f) { COUNT nodes { sourceId name } }",
            "department(code: \"03\") { sites(first: 2, filter: $f) { COUNT nodes { sourceId } } }",
        ] {
            let query = |count: &str| {
                format!(
                    "query($f: SiteFilter) {{ {} }}",
                    shape.replace("COUNT", count)
                )
            };
            let (with, with_log) = statements(query("totalCount"), filter.clone()).await;
            let (without, without_log) = statements(query(""), filter.clone()).await;
            assert_eq!(
                with, without,
                "{what}: {shape}\nwith totalCount: {with_log:#?}\nwithout: {without_log:#?}"
            );
        }
    }
}
