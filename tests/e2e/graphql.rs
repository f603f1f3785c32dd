//! The GraphQL read API.

use crate::support::{TestApp, fixture};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[tokio::test]
async fn reference_data_is_seeded_and_queryable() {
    let app = TestApp::spawn().await;
    let data = app
        .data(
            "{ regions { code } departments { code } hubs { slug } hub(slug: \"hinaura\") { name departments { code region { code name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["regions"].as_array().unwrap().len(), 18);
    assert_eq!(data["departments"].as_array().unwrap().len(), 101);
    assert_eq!(data["hubs"].as_array().unwrap().len(), 10);
    let deps = data["hub"]["departments"].as_array().unwrap();
    assert_eq!(deps.len(), 12);
    assert!(deps.iter().all(|d| d["region"]["code"] == "84"), "{deps:?}");
}

#[tokio::test]
async fn sites_filtered_by_department_and_service() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;
    let query = r#"query($f: SiteFilter) { sites(filter: $f) { totalCount nodes { name department { code } hubs { slug } services } } }"#;
    let data = app
        .data(
            query,
            json!({ "f": { "departments": ["69", "01"], "services": ["Aide aux démarches administratives"] } }),
        )
        .await;
    let names: Vec<&str> = data["sites"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "France Services Bourg-en-Bresse",
            "Médiathèque de la Part-Dieu"
        ]
    );
    assert_eq!(data["sites"]["totalCount"], 2);
    assert_eq!(data["sites"]["nodes"][0]["hubs"][0]["slug"], "hinaura");

    // Hub, region, text, bounding box, label and public filters.
    let count = |f: serde_json::Value| {
        let app = &app;
        async move {
            app.data(
                "query($f: SiteFilter) { sites(filter: $f) { totalCount } }",
                json!({ "f": f }),
            )
            .await["sites"]["totalCount"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(count(json!({ "hub": "hinaura" })).await, 3);
    assert_eq!(count(json!({ "region": "93" })).await, 1);
    assert_eq!(count(json!({ "text": "MEDIATHEQUE" })).await, 1);
    assert_eq!(count(json!({ "text": "lyon" })).await, 2);
    assert_eq!(count(json!({ "labels": ["France Services"] })).await, 2);
    assert_eq!(count(json!({ "publics": ["Seniors", "Jeunes"] })).await, 1);
    assert_eq!(
        count(json!({ "boundingBox": { "minLatitude": 45.0, "maxLatitude": 46.0, "minLongitude": 4.0, "maxLongitude": 5.0 } })).await,
        2
    );
    // Monday 2026-11-23 09:00 UTC is 10:00 in Paris: Croix-Rousse (Mo-Fr 09-12) and Bourg (Mo-Fr 08:30-12) are open,
    // Part-Dieu (Tu-Fr) is not; it is 13:00 in La Réunion, where Saint-Denis (Mo-Fr 08-16) is open; Marseille's hours
    // are invalid, so it never matches.
    assert_eq!(count(json!({ "openAt": "2026-11-23T09:00:00Z" })).await, 3);
    // Each site is evaluated in its own time zone: 11:00 UTC is 15:00 in La Réunion (open), 12:00 UTC is 16:00 (closed).
    assert_eq!(
        count(json!({ "openAt": "2026-11-23T11:00:00Z", "departments": ["974"] })).await,
        1
    );
    assert_eq!(
        count(json!({ "openAt": "2026-11-23T12:00:00Z", "departments": ["974"] })).await,
        0
    );
}

#[tokio::test]
async fn departments_of_corsica_and_overseas_are_derived() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;
    let data = app
        .data(
            "{ sites(orderBy: { field: NAME }) { nodes { sourceId department { code region { name } } } } }",
            json!({}),
        )
        .await;
    let nodes = data["sites"]["nodes"].as_array().unwrap();
    let dep = |id: &str| {
        nodes.iter().find(|n| n["sourceId"] == id).unwrap()["department"]["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(dep("ajaccio-1"), "2A");
    assert_eq!(dep("stdenis-1"), "974");
    assert_eq!(dep("bourg-1"), "01");
}

#[tokio::test]
async fn personal_emails_are_hidden_from_anonymous_callers() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;
    let data = app
        .data("{ sites { nodes { name emails phone } } }", json!({}))
        .await;
    for node in data["sites"]["nodes"].as_array().unwrap() {
        assert!(node["emails"].is_null(), "{node}");
    }
    assert!(
        data["sites"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["phone"].is_string())
    );
}

#[tokio::test]
async fn pagination_walks_every_site_once_in_order() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;
    for order in ["NAME", "UPDATED_ON", "ID"] {
        for direction in ["ASC", "DESC"] {
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let data = app
                    .data(
                        "query($after: String, $o: SiteOrderBy) { sites(first: 2, after: $after, orderBy: $o) { edges { cursor node { sourceId } } pageInfo { hasNextPage endCursor } } }",
                        json!({ "after": after, "o": { "field": order, "direction": direction } }),
                    )
                    .await;
                let conn = &data["sites"];
                for edge in conn["edges"].as_array().unwrap() {
                    seen.push(edge["node"]["sourceId"].as_str().unwrap().to_owned());
                }
                if conn["pageInfo"]["hasNextPage"] == false {
                    break;
                }
                after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            }
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 6, "{order} {direction}: {seen:?}");
            assert_eq!(seen.len(), 6, "{order} {direction}: {seen:?}");
        }
    }
}

#[tokio::test]
async fn node_round_trip_and_typed_errors() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;
    let data = app
        .data(
            "{ sites(first: 1) { nodes { id name } } hubs { id } }",
            json!({}),
        )
        .await;
    let site_id = data["sites"]["nodes"][0]["id"].as_str().unwrap().to_owned();
    let hub_id = data["hubs"][0]["id"].as_str().unwrap().to_owned();
    let data = app
        .data(
            "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
            json!({ "ids": [site_id, hub_id] }),
        )
        .await;
    assert_eq!(data["nodes"][0]["__typename"], "Site");
    assert_eq!(data["nodes"][1]["__typename"], "Hub");

    let cases = [
        ("{ node(id: \"%%%not-an-id\") { id } }", "invalid_id", None),
        ("{ site(id: \"SGVsbG8\") { id } }", "invalid_id", None),
        (
            "{ sites(after: \"garbage\") { totalCount } }",
            "invalid_cursor",
            None,
        ),
        (
            "{ sites(first: 101) { totalCount } }",
            "page_size_out_of_range",
            None,
        ),
        (
            "{ sites(filter: { services: [\"Jardinage\"] }) { totalCount } }",
            "unknown_value",
            Some("filter.services[0]"),
        ),
        (
            "{ sites(filter: { departments: [\"69\", \"99\"] }) { totalCount } }",
            "invalid_value",
            Some("filter.departments[1]"),
        ),
        (
            "{ sites(filter: { hub: \"nowhere\" }) { totalCount } }",
            "unknown_hub",
            None,
        ),
        (
            "{ sites { nodes { nope } } }",
            "graphql_validation_failed",
            None,
        ),
    ];
    for (query, code, field) in cases {
        let error = app.first_error(query, json!({})).await;
        assert_eq!(error["extensions"]["code"], code, "{query}: {error}");
        if let Some(field) = field {
            assert_eq!(error["extensions"]["field"], field, "{query}: {error}");
        }
        let message = error["message"].as_str().unwrap();
        assert!(
            !message.contains("base64") && !message.contains("serde"),
            "raw parser message: {message}"
        );
    }
}

/// An Int literal beyond 32 bits is the client's fault wherever async-graphql notices it (validation, or while
/// resolving the field, where the error has a path): never an internal error.
#[tokio::test]
async fn out_of_range_integers_are_input_errors() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    for query in [
        "{ sites(first: 99999999999) { totalCount } }",
        "{ grants(first: -2147483649) { totalCount } }",
    ] {
        let (_, body) = app.post_as(Some(&admin), query, json!({})).await;
        let error = &body["errors"][0];
        assert_eq!(
            error["extensions"]["classification"], "BAD_REQUEST",
            "{query}: {body}"
        );
        assert_ne!(
            error["extensions"]["code"], "internal_error",
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn depth_and_complexity_limits_refuse_before_running() {
    let app = TestApp::spawn().await;
    let mut deep = String::from("{ hubs ");
    for _ in 0..25 {
        deep.push_str("{ departments { region ");
    }
    deep.push_str("{ code }");
    for _ in 0..25 {
        deep.push_str(" } }");
    }
    deep.push_str(" }");
    let (status, body) = app.post(&deep, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "query_too_deep");
    assert!(body.get("data").is_none());

    let wide = "{ departments { a: sites(first: 100) { nodes { department { b: sites(first: 100) { nodes { department { c: sites(first: 100) { nodes { name } } } } } } } } } }";
    let (status, body) = app.post(wide, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "query_too_complex");
}

/// Writes a v1.0.2 CSV with `per_department` sites in each of `departments`.
fn generated_sites(
    dir: &std::path::Path,
    departments: &[&str],
    per_department: usize,
) -> std::path::PathBuf {
    let mut csv = String::from("id,pivot,nom,commune,code_postal,adresse,date_maj,services\n");
    for dep in departments {
        let postal = match *dep {
            "2A" => "20000".to_owned(),
            "2B" => "20200".to_owned(),
            d if d.len() == 3 => format!("{d}00"),
            d => format!("{d}000"),
        };
        for i in 0..per_department {
            writeln!(
                csv,
                "{dep}-{i},00000000000000,Lieu {i} du {dep},Commune,{postal},{i} rue de la Poste,2024-01-01,Aide aux démarches administratives"
            )
            .unwrap();
        }
    }
    let path = dir.join(format!("generated-{per_department}.csv"));
    std::fs::write(&path, csv).unwrap();
    path
}

/// The nested query of the foundation issue runs a number of statements that does not depend on the data size.
#[tokio::test]
async fn nested_hubs_departments_sites_run_a_bounded_number_of_statements() {
    const QUERY: &str = "{ hubs { departments { sites(first: 50) { edges { node { name department { name } } } } } } }";
    let mut counts = Vec::new();
    for (departments, per_department) in [
        (&["69"][..], 1),
        (&["69", "01", "13", "974", "2A", "75"][..], 3),
        (
            &[
                "69", "01", "13", "974", "2A", "75", "33", "59", "44", "21", "31", "971",
            ][..],
            60,
        ),
    ] {
        let app = TestApp::spawn().await;
        let file = generated_sites(app.dir.path(), departments, per_department);
        app.import_with(&file, "generated", &["--standard", "v1"])
            .await;
        let before = app.db.statements();
        app.db.statement_counter().start_log();
        let data = app.data(QUERY, json!({})).await;
        let statements = app.db.statements() - before;
        let log = app.db.statement_counter().take_log();
        let returned: usize = data["hubs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|h| h["departments"].as_array().unwrap())
            .map(|d| d["sites"]["edges"].as_array().unwrap().len())
            .sum();
        let expected = departments.iter().filter(|d| **d != "2A").count() * per_department.min(50);
        assert_eq!(returned, expected, "{departments:?}");
        eprintln!(
            "nested query on {} sites: {statements} SQL statements",
            departments.len() * per_department
        );
        counts.push(statements);
        assert!(
            statements <= 5,
            "{statements} statements:\n{}",
            log.join("\n")
        );
    }
    assert!(
        counts.windows(2).all(|w| w[0] == w[1]),
        "statement counts vary with data size: {counts:?}"
    );
}

/// Every paged root list sends its page size to PostgreSQL written out, not as a parameter, so that PostgreSQL keeps
/// the statement's plan instead of planning it again on every request (`maillage_core::db::page_rows`, issue #16).
/// SQLite gets the statements as built.
#[tokio::test]
async fn paged_lists_write_their_page_size_out_on_postgresql() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    for (list, query) in [
        ("sites", "{ sites(first: 2) { totalCount nodes { name } } }"),
        (
            "hostStructures",
            "{ hostStructures(first: 2) { totalCount pageInfo { hasNextPage } } }",
        ),
        (
            "counsellors",
            "{ counsellors(first: 2) { totalCount pageInfo { hasNextPage } } }",
        ),
        (
            "auditLog",
            "{ auditLog(first: 2) { totalCount pageInfo { hasNextPage } } }",
        ),
        (
            "grants",
            "{ grants(first: 2) { totalCount pageInfo { hasNextPage } } }",
        ),
        (
            "aidantsOrganisations",
            "{ aidantsOrganisations(first: 2) { totalCount pageInfo { hasNextPage } } }",
        ),
        (
            "aidants",
            "{ aidants(first: 2) { totalCount pageInfo { hasNextPage } } }",
        ),
        (
            "siteMatches",
            "{ siteMatches(first: 2) { pageInfo { hasNextPage } } }",
        ),
        (
            "changes",
            "{ changes(first: 2) { pageInfo { hasNextPage } } }",
        ),
        (
            "importJobs",
            "{ importJobs(first: 2) { pageInfo { hasNextPage } } }",
        ),
    ] {
        app.db.statement_counter().start_log();
        let (status, body) = app.post_as(Some(&admin), query, json!({})).await;
        let log = app.db.statement_counter().take_log();
        assert_eq!(status, 200, "{list}: {body}");
        assert!(body.get("errors").is_none(), "{list}: {body}");
        let page = if app.db.is_postgres() {
            " LIMIT 3"
        } else {
            " LIMIT ?"
        };
        assert!(
            log.iter().any(|sql| sql.contains(page)),
            "{list}: no statement with `{page}` in {log:#?}"
        );
        if app.db.is_postgres() {
            assert!(
                // A page is ordered; `.one()` look-ups (the token's) keep `LIMIT $n`: their plan does not depend
                // on it.
                !log.iter()
                    .any(|sql| sql.contains(" ORDER BY ") && sql.contains(" LIMIT $")),
                "{list}: a page size sent as a parameter in {log:#?}"
            );
        }
    }
}

/// Gives sites of `source` counsellors, each from its own structure in the site's department: per department, the
/// counsellor of an odd-numbered site also works at the previous site, so even-numbered sites (`69-0`…) have two
/// counsellors when a next site exists, and half of the counsellors are listed at two sites. Returns the number of counsellors created.
async fn assign_counsellors(
    app: &TestApp,
    source: &str,
    departments: &[&str],
    per_department: usize,
) -> usize {
    use maillage_counsellors::{
        CounsellorStatus, NewCounsellor, NewStructure, PersonalData, StructureKind,
    };
    let admin = maillage_core::Actor::cli();
    let mut n = 0;
    for dep in departments {
        let mut sites = Vec::new();
        for i in 0..per_department {
            let site = maillage_sites::site_by_source(&app.db.db, source, &format!("{dep}-{i}"))
                .await
                .unwrap()
                .unwrap();
            sites.push(site);
        }
        for (i, site) in sites.iter().enumerate() {
            n += 1;
            let siret = (0..10)
                .find_map(|k| maillage_core::Siret::parse(&format!("{:013}{k}", 7000 + n)).ok())
                .unwrap();
            let structure = maillage_counsellors::create_structure(
                &app.db.db,
                &admin,
                NewStructure {
                    siret,
                    name: format!("Structure {n}"),
                    kind: StructureKind::Commune,
                    address: None,
                    postal_code: None,
                    commune: None,
                    department: site.department_code.clone().unwrap(),
                    france_services: false,
                    zrr: false,
                    qpv: false,
                },
            )
            .await
            .unwrap();
            let counsellor = maillage_counsellors::create_counsellor(
                &app.db.db,
                &admin,
                NewCounsellor {
                    external_id: format!("cn-{n}"),
                    structure_id: structure.id,
                    post_id: None,
                    personal: PersonalData {
                        first_name: "Camille".to_owned(),
                        last_name: "Martin".to_owned(),
                        email: None,
                        personal_email: None,
                        phone: None,
                    },
                    status: CounsellorStatus::Active,
                    recruited_on: None,
                    training_started_on: None,
                    active_since: None,
                    ended_on: None,
                    contract_type: None,
                    contract_start: None,
                    contract_end: None,
                    training_completed_on: None,
                    pix_certified: false,
                    host_share: 10,
                    is_coordinator: false,
                    coordinator_id: None,
                },
            )
            .await
            .unwrap();
            let at: Vec<(maillage_core::SiteId, i32)> = if i % 2 == 1 {
                vec![(sites[i - 1].id, 45), (site.id, 45)]
            } else {
                vec![(site.id, 90)]
            };
            maillage_counsellors::set_assignments(
                &app.db.db,
                &admin,
                counsellor.id,
                counsellor.version,
                10,
                &at,
            )
            .await
            .unwrap();
        }
    }
    n
}

/// The shapes of the PostGraphile bench (`bench/shapes.py`) run a number of statements that depends neither on the
/// data size nor on the page size: the same count for one department with one site and a page of 5 as for twelve
/// departments with 60 sites each and a page of 20 (the largest the cost limit lets every shape ask for), and as for
/// sites that have counsellors (the bench's data does: Q4 and Q5 then read them).
#[tokio::test]
async fn bench_shapes_run_statements_independent_of_data_and_page_size() {
    let shapes = |n: usize| {
        [
            ("Q1", format!("{{ sites(first: {n}) {{ nodes {{ sourceId name commune postalCode department {{ code name region {{ name }} }} }} }} }}")),
            ("Q2", format!("{{ hubs {{ slug departments {{ code sites(first: {n}) {{ nodes {{ sourceId name }} }} }} }} }}")),
            ("Q3", format!("{{ department(code: \"69\") {{ sites(first: {n}) {{ totalCount nodes {{ sourceId name }} }} }} }}")),
            ("Q4", "{ site(source: \"generated\", sourceId: \"69-0\") { name department { name } hubs { slug } counsellors { externalId } } }".to_owned()),
            ("Q5", format!("{{ hubs {{ slug departments {{ code sites(first: {n}) {{ nodes {{ sourceId counsellors {{ externalId }} }} }} }} }} }}")),
            ("Q2 with values", format!("{{ hubs {{ departments {{ sites(first: {n}) {{ nodes {{ name services typologies }} }} }} }} }}")),
        ]
    };
    // (shape, counsellors assigned) → [(sites, statements)].
    let mut counts: BTreeMap<(&str, bool), Vec<(usize, u64)>> = BTreeMap::new();
    let mut backend = sea_orm::DatabaseBackend::Sqlite;
    for (departments, per_department, with_counsellors) in [
        (&["69"][..], 1, false),
        (
            &[
                "69", "01", "13", "974", "2A", "75", "33", "59", "44", "21", "31", "971",
            ][..],
            60,
            false,
        ),
        (&["69", "01", "13", "75"][..], 6, true),
    ] {
        let app = TestApp::spawn().await;
        backend = sea_orm::ConnectionTrait::get_database_backend(&app.db.db);
        let file = generated_sites(app.dir.path(), departments, per_department);
        app.import_with(&file, "generated", &["--standard", "v1"])
            .await;
        if with_counsellors {
            let n = assign_counsellors(&app, "generated", departments, per_department).await;
            assert_eq!(n, departments.len() * per_department);
        }
        // A server's earlier requests have read the departments' hubs, which PostgreSQL lets it keep (see below).
        app.data(&shapes(5)[3].1, json!({})).await;
        for page in [5, 20] {
            for (shape, query) in shapes(page) {
                let before = app.db.statements();
                app.db.statement_counter().start_log();
                let data = app.data(&query, json!({})).await;
                let statements = app.db.statements() - before;
                let log = app.db.statement_counter().take_log();
                assert!(!data.is_null(), "{shape}");
                assert!(
                    statements <= 6,
                    "{shape}: {statements} statements:\n{}",
                    log.join("\n")
                );
                if shape == "Q4" {
                    // The selection has no multi-valued field and only brief fields: neither values nor long columns.
                    assert!(
                        !log.iter().any(|sql| sql.contains("site_value")
                            || sql.contains("\"site\".\"description\"")),
                        "Q4 reads more of the site than it serves:\n{}",
                        log.join("\n")
                    );
                }
                if with_counsellors && shape == "Q4" {
                    // Site 69-0 has two counsellors, in id order: its own and that of 69-1, which works at both.
                    assert_eq!(
                        data["site"]["counsellors"],
                        json!([{ "externalId": "cn-1" }, { "externalId": "cn-2" }]),
                        "{data}"
                    );
                }
                if with_counsellors && shape == "Q5" {
                    let listed = data.to_string().matches("externalId").count();
                    assert!(listed > 10, "Q5 lists {listed} counsellors: {data}");
                }
                counts
                    .entry((shape, with_counsellors))
                    .or_default()
                    .push((departments.len() * per_department, statements));
            }
        }
    }
    eprintln!("statements per shape (sites, statements): {counts:?}");
    // Departments and regions come from the server's reference snapshot, loaded at start-up and not counted here:
    // Q1 is its page of sites alone, Q2 the hubs with their department codes (one join) and their pages of sites,
    // Q3 the department's sites with their count (one statement). Q4 reads the site by origin (only the brief columns its selection
    // needs, no values), the hubs of its department and its counsellors joined with their assignments; Q5 the hubs
    // with their department codes, their pages of sites and the counsellors of those sites, with or without
    // assignments. On PostgreSQL the hubs of Q4's department are kept between requests while their changes are
    // announced (`maillage_territories::DepartmentHubs`): Q4 is two statements there, three on SQLite.
    let q4 = if backend == sea_orm::DatabaseBackend::Postgres {
        2
    } else {
        3
    };
    for ((shape, with_counsellors), expected) in [
        (("Q1", false), 1),
        (("Q2", false), 2),
        (("Q3", false), 1),
        (("Q4", false), q4),
        (("Q4", true), q4),
        (("Q5", false), 3),
        (("Q5", true), 3),
    ] {
        assert_eq!(
            counts[&(shape, with_counsellors)][0].1,
            expected,
            "{shape} (counsellors: {with_counsellors}): {counts:?}"
        );
    }
    for ((shape, _), runs) in &counts {
        assert!(
            runs.windows(2).all(|w| w[0].1 == w[1].1),
            "{shape}: statement counts vary with data or page size: {runs:?}"
        );
    }
    // Assigned counsellors cost no statement more than none.
    for shape in ["Q1", "Q2", "Q3", "Q4", "Q5", "Q2 with values"] {
        assert_eq!(
            counts[&(shape, false)][0].1,
            counts[&(shape, true)][0].1,
            "{shape}: {counts:?}"
        );
    }
    // A nested list that selects no multi-valued field does not read them: one statement fewer than with them.
    assert_eq!(
        counts[&("Q2", false)][0].1 + 1,
        counts[&("Q2 with values", false)][0].1,
        "{counts:?}"
    );
}

/// The committed contract is up to date (CI also compares it with `maillage schema`).
#[test]
fn committed_schema_matches_the_code() {
    let committed = include_str!("../../schema.graphql");
    assert_eq!(
        committed.trim_end(),
        maillage_graphql::sdl().trim_end(),
        "schema.graphql is stale: run `cargo run -q -- schema > schema.graphql`"
    );
}

/// The `sourceId`s of a page of `sites`, and its `hasPreviousPage`/`hasNextPage`.
fn site_page(conn: &serde_json::Value) -> (Vec<String>, bool, bool) {
    let ids = conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["sourceId"].as_str().unwrap().to_owned())
        .collect();
    (
        ids,
        conn["pageInfo"]["hasPreviousPage"].as_bool().unwrap(),
        conn["pageInfo"]["hasNextPage"].as_bool().unwrap(),
    )
}

#[tokio::test]
async fn last_and_before_walk_every_list_backward_with_the_forward_cursors() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;
    const PAGE: &str = "edges { cursor node { sourceId } } pageInfo { hasPreviousPage hasNextPage startCursor endCursor }";
    // The top-level list (SQL keyset) and a department's list (the batched window), in every order.
    let lists = [
        (
            format!(
                "query($first: Int, $after: String, $last: Int, $before: String, $o: SiteOrderBy) {{ list: sites(first: $first, after: $after, last: $last, before: $before, orderBy: $o) {{ {PAGE} }} }}"
            ),
            vec!["list"],
        ),
        (
            format!(
                "query($first: Int, $after: String, $last: Int, $before: String, $o: SiteOrderBy) {{ department(code: \"69\") {{ list: sites(first: $first, after: $after, last: $last, before: $before, orderBy: $o) {{ {PAGE} }} }} }}"
            ),
            vec!["department", "list"],
        ),
    ];
    for (query, path) in &lists {
        for order in ["NAME", "UPDATED_ON", "ID"] {
            for direction in ["ASC", "DESC"] {
                let o = json!({ "field": order, "direction": direction });
                let get = |data: serde_json::Value| {
                    let mut v = data;
                    for p in path {
                        v = v[*p].clone();
                    }
                    v
                };
                let all = get(app.data(query, json!({ "first": 100, "o": o })).await);
                let (forward, _, _) = site_page(&all);
                assert!(forward.len() >= 2, "{order} {direction}: {all}");
                // Backward from the end, two at a time, until hasPreviousPage is false.
                let mut backward: Vec<String> = Vec::new();
                let mut before: Option<String> = None;
                let mut pages = 0;
                loop {
                    let conn = get(app
                        .data(query, json!({ "last": 2, "before": before, "o": o }))
                        .await);
                    let (ids, has_previous, has_next) = site_page(&conn);
                    assert_eq!(
                        has_next,
                        before.is_some(),
                        "{order} {direction}: hasNextPage says whether a before cursor was given: {conn}"
                    );
                    backward.splice(0..0, ids);
                    pages += 1;
                    if !has_previous {
                        break;
                    }
                    assert!(pages < 10, "{order} {direction}: no end: {backward:?}");
                    before = conn["pageInfo"]["startCursor"].as_str().map(str::to_owned);
                }
                assert_eq!(backward, forward, "{path:?} {order} {direction}");
                // A forward cursor works backward: the two items before the third are the first two.
                let third = all["edges"][2]["cursor"].as_str().map(str::to_owned);
                if third.is_some() {
                    let conn = get(app
                        .data(query, json!({ "last": 2, "before": third, "o": o }))
                        .await);
                    let (ids, has_previous, has_next) = site_page(&conn);
                    assert_eq!(ids, forward[..2].to_vec(), "{path:?} {order} {direction}");
                    assert!(!has_previous && has_next, "{conn}");
                }
            }
        }
    }
    // Both directions at once are refused, with the code of a bad argument.
    let error = app
        .first_error("{ sites(first: 2, last: 2) { totalCount } }", json!({}))
        .await;
    assert_eq!(error["extensions"]["code"], "invalid_value", "{error}");
    let error = app
        .first_error("{ sites(last: 101) { totalCount } }", json!({}))
        .await;
    assert_eq!(
        error["extensions"]["code"], "page_size_out_of_range",
        "{error}"
    );
}

#[tokio::test]
async fn the_change_feed_and_the_audit_log_page_backward() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;
    let token = app.token("admin", None).await;
    for (field, args) in [("changes", ""), ("auditLog", "")] {
        let query = format!(
            "query($first: Int, $last: Int, $before: String) {{ {field}(first: $first, last: $last, before: $before{args}) {{ edges {{ cursor }} pageInfo {{ hasPreviousPage hasNextPage startCursor }} }} }}"
        );
        // On PostgreSQL the feed shows a commit once no older transaction (another test's) is still open: wait until
        // two reads agree.
        let mut forward: Vec<String> = Vec::new();
        for _ in 0..40 {
            let (_, body) = app
                .post_as(Some(&token), &query, json!({ "first": 100 }))
                .await;
            let read: Vec<String> = body["data"][field]["edges"]
                .as_array()
                .unwrap_or_else(|| panic!("{body}"))
                .iter()
                .map(|e| e["cursor"].as_str().unwrap().to_owned())
                .collect();
            if read.len() >= 3 && read == forward {
                break;
            }
            forward = read;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        assert!(forward.len() >= 3, "{field}: {forward:?}");
        let (_, body) = app
            .post_as(Some(&token), &query, json!({ "last": 2 }))
            .await;
        let conn = &body["data"][field];
        let tail: Vec<String> = conn["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["cursor"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            tail,
            forward[forward.len() - 2..].to_vec(),
            "{field}: {body}"
        );
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], true, "{field}: {body}");
        let (_, body) = app
            .post_as(
                Some(&token),
                &query,
                json!({ "last": 100, "before": conn["pageInfo"]["startCursor"] }),
            )
            .await;
        let head: Vec<String> = body["data"][field]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["cursor"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            head,
            forward[..forward.len() - 2].to_vec(),
            "{field}: {body}"
        );
        assert_eq!(body["data"][field]["pageInfo"]["hasPreviousPage"], false);
    }
}
