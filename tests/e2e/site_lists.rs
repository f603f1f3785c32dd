//! Site lists compute their cursors only when the selection reads one, and hand out the same cursors when it does.
//!
//! Also the list shapes of the bench (Q1, Q2, Q3, Q5 of `bench/shapes.py`) over a seeded database, as a harness for
//! instruction counts (docs/PERFORMANCE.md, "Per-site CPU on lists"): ignored by default, run under callgrind with
//! a number of rounds, once with `LIST_CPU_ROUNDS=0` and once with more; the difference divided by the rounds is the
//! cost of one round, seeding and start-up cancelled out.

use crate::support::TestApp;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// Every department code (the 101), for the hubs' nested lists to have sites everywhere.
fn departments() -> Vec<String> {
    let mut out: Vec<String> = (1..=95)
        .filter(|n| *n != 20)
        .map(|n| format!("{n:02}"))
        .collect();
    out.extend(["2A", "2B", "971", "972", "973", "974", "976"].map(str::to_owned));
    out
}

/// `per_department` sites in every department, and `in_69` in the Rhône (Q3 pages 50 of them).
fn seeded_sites(dir: &std::path::Path, per_department: usize, in_69: usize) -> std::path::PathBuf {
    let mut csv = String::from("id,pivot,nom,commune,code_postal,adresse,date_maj,services\n");
    for dep in departments() {
        let postal = match dep.as_str() {
            "2A" => "20000".to_owned(),
            "2B" => "20200".to_owned(),
            d if d.len() == 3 => format!("{d}00"),
            d => format!("{d}000"),
        };
        let n = if dep == "69" { in_69 } else { per_department };
        for i in 0..n {
            writeln!(
                csv,
                "{dep}-{i},00000000000000,Médiathèque Éloïse {i} du {dep},Commune,{postal},{i} rue de la Poste,2024-01-01,Aide aux démarches administratives"
            )
            .unwrap();
        }
    }
    let path = dir.join("list-cpu.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// The list shapes, each answered once per round.
const SHAPES: [(&str, &str); 4] = [
    (
        "Q1",
        "{ sites(first: 50) { nodes { sourceId name commune postalCode department { code name region { name } } } } }",
    ),
    (
        "Q2",
        "{ hubs { slug departments { code sites(first: 20) { nodes { sourceId name } } } } }",
    ),
    (
        "Q3",
        "{ department(code: \"69\") { sites(first: 50) { totalCount nodes { sourceId name } } } }",
    ),
    (
        "Q5",
        "{ hubs { slug departments { code sites(first: 20) { nodes { sourceId counsellors { externalId } } } } } }",
    ),
];

/// Runs `LIST_CPU_ROUNDS` rounds (default 1) of the shapes named in `LIST_CPU_SHAPES` (default all), on one thread.
#[test]
#[ignore = "a measurement harness, run under valgrind: see docs/PERFORMANCE.md"]
fn list_shapes_for_callgrind() {
    let rounds: usize = std::env::var("LIST_CPU_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let only = std::env::var("LIST_CPU_SHAPES").unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let app = TestApp::spawn().await;
        let file = seeded_sites(app.dir.path(), 25, 200);
        app.import_with(&file, "generated", &["--standard", "v1"])
            .await;
        let shapes: Vec<(&str, &str)> = SHAPES
            .into_iter()
            .filter(|(name, _)| only.is_empty() || only.split(',').any(|o| o == *name))
            .collect();
        // One warm-up round: caches, prepared statements and lazily built tables are not per-request costs.
        for (name, query) in &shapes {
            let data = app.data(query, json!({})).await;
            assert!(!data.is_null(), "{name}");
        }
        for _ in 0..rounds {
            for (name, query) in &shapes {
                let data = app.data(query, json!({})).await;
                assert!(!data.is_null(), "{name}");
            }
        }
        let q2 = app.data(SHAPES[1].1, json!({})).await;
        let sites: usize = q2["hubs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|h| h["departments"].as_array().unwrap())
            .map(|d| d["sites"]["nodes"].as_array().unwrap().len())
            .sum();
        eprintln!("Q2 returns {sites} sites");
    });
}

/// The `sourceId`s of a connection's nodes, read through `nodes` or `edges { node }`.
fn source_ids(conn: &Value) -> Vec<String> {
    let nodes: Vec<&Value> = match conn["nodes"].as_array() {
        Some(nodes) => nodes.iter().collect(),
        None => conn["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["node"])
            .collect(),
    };
    nodes
        .iter()
        .map(|n| n["sourceId"].as_str().unwrap().to_owned())
        .collect()
}

/// A page read without cursors is the page read with them; the next request asks for the cursors, of the top-level
/// list and of a department's, and pages on from them to the end, every site once, in order.
#[tokio::test]
async fn a_page_without_cursors_pages_on_when_the_next_request_asks_for_them() {
    let app = TestApp::spawn().await;
    let file = seeded_sites(app.dir.path(), 2, 7);
    app.import_with(&file, "generated", &["--standard", "v1"])
        .await;
    for (path, list) in [
        (&["sites"][..], "sites"),
        (
            &["department", "sites"][..],
            "department(code: \"69\") { sites",
        ),
    ] {
        let close = if path.len() == 2 { " }" } else { "" };
        let at = |data: &Value| {
            path.iter()
                .fold(data.clone(), |v: Value, key: &&str| v[*key].clone())
        };
        let filter = if path.len() == 1 {
            "filter: { departments: [\"69\"] }, "
        } else {
            ""
        };
        // Every site of the list in one page, with cursors: the reference.
        let all = app
            .data(
                &format!("{{ {list}({filter}first: 100) {{ edges {{ cursor node {{ sourceId }} }} }}{close} }}"),
                json!({}),
            )
            .await;
        let all = at(&all);
        let expected = source_ids(&all);
        assert_eq!(expected.len(), 7, "{list}");
        let cursor_of: std::collections::HashMap<String, String> = all["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["node"]["sourceId"].as_str().unwrap().to_owned(),
                    e["cursor"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        // First page without any cursor selected.
        let first = app
            .data(
                &format!("{{ {list}({filter}first: 3) {{ nodes {{ sourceId }} pageInfo {{ hasNextPage }} }}{close} }}"),
                json!({}),
            )
            .await;
        let first = at(&first);
        let mut walked = source_ids(&first);
        assert_eq!(walked, expected[..3], "{list}");
        assert_eq!(first["pageInfo"]["hasNextPage"], true, "{list}");
        // The same page again, now with its end cursor only (no edges): the cursor of its last site.
        let again = app
            .data(
                &format!("{{ {list}({filter}first: 3) {{ nodes {{ sourceId }} pageInfo {{ endCursor }} }}{close} }}"),
                json!({}),
            )
            .await;
        let again = at(&again);
        assert_eq!(source_ids(&again), walked, "{list}");
        let mut after = again["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
        assert_eq!(after, cursor_of[&walked[2]], "{list}: endCursor");
        loop {
            let next = app
                .data(
                    &format!(
                        "{{ {list}({filter}first: 3, after: \"{after}\") {{ edges {{ cursor node {{ sourceId }} }} \
                         pageInfo {{ startCursor endCursor hasNextPage }} }}{close} }}"
                    ),
                    json!({}),
                )
                .await;
            let next = at(&next);
            for edge in next["edges"].as_array().unwrap() {
                let id = edge["node"]["sourceId"].as_str().unwrap();
                assert_eq!(
                    edge["cursor"],
                    cursor_of[id].as_str(),
                    "{list}: cursor of {id}"
                );
            }
            walked.extend(source_ids(&next));
            if next["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = next["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
        }
        assert_eq!(walked, expected, "{list}");
    }
}

/// Sibling lists of the same departments that differ only in whether they read cursors are read in one statement,
/// and the one reading them gets the same cursors as when it is alone.
#[tokio::test]
async fn sibling_lists_with_and_without_cursors_share_their_statement() {
    let app = TestApp::spawn().await;
    let file = seeded_sites(app.dir.path(), 3, 5);
    app.import_with(&file, "generated", &["--standard", "v1"])
        .await;
    let statements = |query: String| {
        let app = &app;
        async move {
            let before = app.db.statements();
            let data = app.data(&query, json!({})).await;
            (data, app.db.statements() - before)
        }
    };
    let (alone, alone_statements) = statements(
        "{ hubs { departments { code sites(first: 2) { edges { cursor node { sourceId } } } } } }"
            .to_owned(),
    )
    .await;
    let (both, both_statements) = statements(
        "{ hubs { departments { code plain: sites(first: 2) { nodes { sourceId } } \
         cursors: sites(first: 2) { edges { cursor node { sourceId } } } } } }"
            .to_owned(),
    )
    .await;
    assert_eq!(alone_statements, both_statements);
    let hubs = both["hubs"].as_array().unwrap();
    assert!(!hubs.is_empty());
    let mut compared = 0;
    for (h, hub) in hubs.iter().enumerate() {
        for (d, dep) in hub["departments"].as_array().unwrap().iter().enumerate() {
            let reference = &alone["hubs"][h]["departments"][d]["sites"];
            assert_eq!(&dep["cursors"], reference, "{}", dep["code"]);
            assert_eq!(source_ids(&dep["plain"]), source_ids(reference));
            compared += reference["edges"].as_array().unwrap().len();
        }
    }
    assert!(compared > 0);
}
