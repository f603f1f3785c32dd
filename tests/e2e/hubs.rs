//! Hub profiles over HTTP: reported indicators edited by the hub's own coordinators and admins with their history
//! kept, coordinators' personal data visible to the hub's people only, the network's seeded figures.

use crate::support::TestApp;
use serde_json::{Value, json};

const CREATE_INDICATOR: &str = r#"mutation($input: CreateHubIndicatorInput!) { createHubIndicator(input: $input) {
  hubIndicator { id code value version } userErrors { field code message } } }"#;
const UPDATE_INDICATOR: &str = r#"mutation($input: UpdateHubIndicatorInput!) { updateHubIndicator(input: $input) {
  hubIndicator { id value version source } userErrors { field code message } } }"#;
const CREATE_COORDINATOR: &str = r#"mutation($input: CreateHubCoordinatorInput!) { createHubCoordinator(input: $input) {
  hubCoordinator { id name email title apiTokenId } userErrors { field code message } } }"#;
const REMOVE_COORDINATOR: &str = r#"mutation($input: RemoveHubCoordinatorInput!) { removeHubCoordinator(input: $input) {
  hubCoordinator { id } userErrors { field code message } } }"#;

fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

fn lieux(hub: &str, value: f64) -> Value {
    json!({ "input": { "hub": hub, "code": "sites_mapped", "name": "Lieux recensés", "value": value,
        "unit": "lieux", "observedOn": "2021-06-30", "source": "Rapport d'activité du hub" } })
}

#[tokio::test]
async fn the_network_figures_are_seeded_with_their_source() {
    let app = TestApp::spawn().await;
    let data = app
        .data(
            "{ hubNetworkIndicators { code name value unit observedOn source hubId history { version value } } }",
            json!({}),
        )
        .await;
    let all = data["hubNetworkIndicators"].as_array().unwrap();
    let find = |code: &str| {
        all.iter()
            .find(|i| i["code"] == code)
            .unwrap_or_else(|| panic!("no {code} in {all:?}"))
    };
    let lieux = find("sites_mapped");
    assert_eq!(lieux["value"], 6200.0);
    assert_eq!(lieux["unit"], "lieux");
    assert_eq!(lieux["observedOn"], "2020-11-17");
    assert!(
        lieux["source"]
            .as_str()
            .unwrap()
            .contains("Banque des Territoires")
    );
    assert!(lieux["hubId"].is_null());
    assert_eq!(lieux["history"], json!([{ "version": 1, "value": 6200.0 }]));
    assert_eq!(find("aidants_trained")["value"], 1287.0);
    assert_eq!(find("departments_covered")["value"], 67.0);
    assert_eq!(find("projects_supported")["value"], 27.0);
    assert_eq!(find("hubs")["value"], 11.0);
}

#[tokio::test]
async fn indicators_are_edited_by_the_hubs_coordinators_and_admins_and_keep_their_history() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let hinaura = app.token("hub_coordinator", Some("hinaura")).await;
    let sud = app.token("hub_coordinator", Some("hub-du-sud")).await;
    let partner = app.token("partner", None).await;

    // Only the hub's own coordinators and admins report its figures.
    for token in [Some(sud.as_str()), Some(partner.as_str())] {
        let (_, body) = app
            .post_as(token, CREATE_INDICATOR, lieux("hinaura", 1.0))
            .await;
        assert_eq!(error_code(&body), Some("forbidden"), "{body}");
    }
    let (_, body) = app
        .post_as(None, CREATE_INDICATOR, lieux("hinaura", 1.0))
        .await;
    assert_eq!(error_code(&body), Some("unauthenticated"), "{body}");
    // The network's figures are the admins'.
    let mut network = lieux("x", 1.0);
    network["input"]["hub"] = Value::Null;
    network["input"]["code"] = json!("hubs_2021");
    let (_, body) = app
        .post_as(Some(&hinaura), CREATE_INDICATOR, network.clone())
        .await;
    assert_eq!(error_code(&body), Some("forbidden"), "{body}");
    let (_, body) = app.post_as(Some(&admin), CREATE_INDICATOR, network).await;
    assert_eq!(
        body["data"]["createHubIndicator"]["userErrors"],
        json!([]),
        "{body}"
    );

    let (_, body) = app
        .post_as(Some(&hinaura), CREATE_INDICATOR, lieux("hinaura", 1500.0))
        .await;
    let created = &body["data"]["createHubIndicator"];
    assert_eq!(created["userErrors"], json!([]), "{body}");
    let id = created["hubIndicator"]["id"].clone();
    assert_eq!(created["hubIndicator"]["version"], 1);
    // One indicator per code: a second report of the same code is an update, so its history stays one.
    let (_, body) = app
        .post_as(Some(&admin), CREATE_INDICATOR, lieux("hinaura", 9.0))
        .await;
    assert_eq!(
        body["data"]["createHubIndicator"]["userErrors"][0]["field"],
        json!(["input", "code"]),
        "{body}"
    );

    // Another hub's coordinator may not edit it; the hub's own coordinator and an admin may.
    let update = |version: i32, value: f64| json!({ "input": { "id": id, "version": version, "value": value, "source": "Bilan annuel" } });
    let (_, body) = app
        .post_as(Some(&sud), UPDATE_INDICATOR, update(1, 99.0))
        .await;
    assert_eq!(error_code(&body), Some("forbidden"), "{body}");
    let (_, body) = app
        .post_as(Some(&hinaura), UPDATE_INDICATOR, update(1, 1800.0))
        .await;
    assert_eq!(
        body["data"]["updateHubIndicator"]["hubIndicator"]["version"], 2,
        "{body}"
    );
    let (_, body) = app
        .post_as(Some(&admin), UPDATE_INDICATOR, update(1, 7.0))
        .await;
    assert_eq!(
        body["data"]["updateHubIndicator"]["userErrors"][0]["code"], "stale_version",
        "{body}"
    );
    let (_, body) = app
        .post_as(Some(&admin), UPDATE_INDICATOR, update(2, 2100.0))
        .await;
    assert_eq!(
        body["data"]["updateHubIndicator"]["hubIndicator"]["value"], 2100.0,
        "{body}"
    );

    // The current value and every previous one, newest first, readable by anyone; also through `node`.
    let data = app
        .data(
            r#"{ hub(slug: "hinaura") { reportedIndicators { id code value version history { version value source } } } }"#,
            json!({}),
        )
        .await;
    let indicators = data["hub"]["reportedIndicators"].as_array().unwrap();
    assert_eq!(indicators.len(), 1, "{data}");
    assert_eq!(indicators[0]["value"], 2100.0);
    assert_eq!(
        indicators[0]["history"],
        json!([
            { "version": 3, "value": 2100.0, "source": "Bilan annuel" },
            { "version": 2, "value": 1800.0, "source": "Bilan annuel" },
            { "version": 1, "value": 1500.0, "source": "Rapport d'activité du hub" },
        ])
    );
    let node = app
        .data(
            "query($id: ID!) { node(id: $id) { ... on HubIndicator { code value } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        node["node"],
        json!({ "code": "sites_mapped", "value": 2100.0 })
    );
    let other = app
        .data(
            r#"{ hub(slug: "hub-du-sud") { reportedIndicators { id } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(other["hub"]["reportedIndicators"], json!([]));

    // Audited like every write: who changed what, before and after.
    let (_, body) = app
        .post_as(
            Some(&admin),
            r#"{ auditLog(filter: { entityType: "hub_indicator" }) { nodes { action actor } } }"#,
            json!({}),
        )
        .await;
    let actions: Vec<&str> = body["data"]["auditLog"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|n| n["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "update").count(),
        2,
        "{body}"
    );
    // The network's figure and the hub's.
    assert_eq!(
        actions.iter().filter(|a| **a == "create").count(),
        2,
        "{body}"
    );
}

#[tokio::test]
async fn coordinators_are_personal_data_of_their_hub() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let hinaura = app.token("hub_coordinator", Some("hinaura")).await;
    let sud = app.token("hub_coordinator", Some("hub-du-sud")).await;
    let tokens = app
        .post_as(
            Some(&admin),
            "{ apiTokens { id role hub { slug } } }",
            json!({}),
        )
        .await
        .1;
    let token_of = |slug: &str| {
        tokens["data"]["apiTokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["role"] == "hub_coordinator" && t["hub"]["slug"] == slug)
            .unwrap_or_else(|| panic!("no token of {slug}: {tokens}"))["id"]
            .clone()
    };
    let person = |token: Value| {
        json!({ "input": { "hub": "hinaura", "name": "Camille Martin", "title": "Coordinatrice",
            "email": "camille.martin@hinaura.example", "apiToken": token } })
    };

    let (_, body) = app
        .post_as(Some(&sud), CREATE_COORDINATOR, person(Value::Null))
        .await;
    assert_eq!(error_code(&body), Some("forbidden"), "{body}");
    // A token of another hub cannot be linked to this hub's coordinator.
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            CREATE_COORDINATOR,
            person(token_of("hub-du-sud")),
        )
        .await;
    assert_eq!(
        body["data"]["createHubCoordinator"]["userErrors"][0]["field"],
        json!(["input", "apiToken"]),
        "{body}"
    );
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            CREATE_COORDINATOR,
            person(token_of("hinaura")),
        )
        .await;
    let created = &body["data"]["createHubCoordinator"]["hubCoordinator"];
    assert_eq!(created["name"], "Camille Martin", "{body}");
    assert_eq!(created["apiTokenId"], token_of("hinaura"));
    let id = created["id"].clone();

    const READ: &str =
        r#"{ hub(slug: "hinaura") { coordinators { title name email apiTokenId } } }"#;
    for (who, token, sees) in [
        ("anonymous", None, false),
        ("another hub's coordinator", Some(sud.as_str()), false),
        ("the hub's coordinator", Some(hinaura.as_str()), true),
        ("an admin", Some(admin.as_str()), true),
    ] {
        let (_, body) = app.post_as(token, READ, json!({})).await;
        let c = &body["data"]["hub"]["coordinators"][0];
        assert_eq!(c["title"], "Coordinatrice", "{who}: {body}");
        assert_eq!(c["name"].is_string(), sees, "{who}: {body}");
        assert_eq!(c["email"].is_string(), sees, "{who}: {body}");
        assert_eq!(c["apiTokenId"].is_string(), sees, "{who}: {body}");
    }

    let (_, body) = app
        .post_as(
            Some(&sud),
            REMOVE_COORDINATOR,
            json!({ "input": { "id": id } }),
        )
        .await;
    assert_eq!(error_code(&body), Some("forbidden"), "{body}");
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            REMOVE_COORDINATOR,
            json!({ "input": { "id": id } }),
        )
        .await;
    assert_eq!(
        body["data"]["removeHubCoordinator"]["userErrors"],
        json!([]),
        "{body}"
    );
    let data = app.data(READ, json!({})).await;
    assert_eq!(data["hub"]["coordinators"], json!([]));
}

/// `/dashboard` and its assets come from the binary (no CDN): the page, its script and style, and the map with
/// its 96 metropolitan departments; the page only talks to `/graphql`.
#[tokio::test]
async fn the_dashboard_page_and_its_assets_are_served_by_the_binary() {
    let app = TestApp::spawn().await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.base)).send();
    let page = get("/dashboard").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<html lang="fr">"#));
    assert!(!html.contains("https://"), "no external asset: {html}");
    let js = get("/dashboard/dashboard.js")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(js.contains(r#"const API = "/graphql";"#));
    assert!(
        !js.contains("https://"),
        "the script calls nothing but the API"
    );
    let svg = get("/dashboard/france-departments.svg").await.unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert_eq!(svg.text().await.unwrap().matches("<path").count(), 96);
    assert_eq!(get("/dashboard/dashboard.css").await.unwrap().status(), 200);
    assert_eq!(get("/dashboard/secret.txt").await.unwrap().status(), 404);
}

const HUB_DEPARTMENTS: &str = "departments { code name region { name } }";

/// Every hub, by name, with its departments as the database says (`list_hubs`, then `departments_of_hubs` joined to
/// `department`: what the API read before it took the departments from its reference snapshot).
async fn hubs_in_database(app: &TestApp) -> Vec<Value> {
    let db = &app.db.db;
    let hubs = maillage_territories::list_hubs(db).await.unwrap();
    let ids: Vec<_> = hubs.iter().map(|h| h.id).collect();
    let covered = maillage_territories::departments_of_hubs(db, &ids)
        .await
        .unwrap();
    let regions = maillage_territories::list_regions(db).await.unwrap();
    hubs.iter()
        .map(|hub| {
            let departments: Vec<Value> = covered
                .iter()
                .filter(|(id, _)| *id == hub.id)
                .map(|(_, d)| {
                    let region = regions.iter().find(|r| r.code == d.region_code).unwrap();
                    json!({ "code": d.code.as_str(), "name": d.name, "region": { "name": region.name } })
                })
                .collect();
            json!({ "slug": hub.slug, "departments": departments })
        })
        .collect()
}

/// `query`'s data and the number of statements it ran.
async fn data_and_statements(app: &TestApp, query: &str, variables: Value) -> (Value, u64) {
    let before = app.db.statements();
    let data = app.data(query, variables).await;
    (data, app.db.statements() - before)
}

/// What `hubs`, `hub(slug:)` and a department's hubs answer for every hub's departments equals what the database
/// holds, and the hub lists read them in the statement that reads the hubs.
async fn assert_hub_departments_as_stored(app: &TestApp) -> Vec<Value> {
    let want = hubs_in_database(app).await;
    let (data, statements) = data_and_statements(
        app,
        &format!("{{ hubs {{ slug {HUB_DEPARTMENTS} }} }}"),
        json!({}),
    )
    .await;
    assert_eq!(data["hubs"], Value::Array(want.clone()));
    assert_eq!(statements, 1, "hubs and their departments in one statement");
    for hub in &want {
        let (data, statements) = data_and_statements(
            app,
            &format!("query($slug: String!) {{ hub(slug: $slug) {{ slug {HUB_DEPARTMENTS} }} }}"),
            json!({ "slug": hub["slug"] }),
        )
        .await;
        assert_eq!(&data["hub"], hub);
        assert_eq!(
            statements, 1,
            "{}: the hub and its departments",
            hub["slug"]
        );
    }
    // A hub found elsewhere (here a department's) reads its departments through the batched loader.
    for department in ["69", "13"] {
        let data = app
            .data(
                &format!("{{ department(code: \"{department}\") {{ hubs {{ slug {HUB_DEPARTMENTS} }} }} }}"),
                json!({}),
            )
            .await;
        for hub in data["department"]["hubs"].as_array().unwrap() {
            let stored = want.iter().find(|h| h["slug"] == hub["slug"]).unwrap();
            assert_eq!(hub, stored, "{department}");
        }
    }
    want
}

#[tokio::test]
async fn hub_departments_are_read_with_the_hubs_and_follow_every_change() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let seeded = assert_hub_departments_as_stored(&app).await;
    assert!(
        seeded
            .iter()
            .any(|h| h["departments"].as_array().unwrap().len() >= 2),
        "a hub covers several departments: {seeded:?}"
    );
    // Without `departments`, hubs are one plain statement.
    let (data, statements) = data_and_statements(&app, "{ hubs { slug name } }", json!({})).await;
    assert_eq!(data["hubs"].as_array().unwrap().len(), seeded.len());
    assert_eq!(statements, 1);

    let hubs = app.data("{ hubs { id slug version } }", json!({})).await["hubs"].clone();
    let hub = |slug: &str| {
        hubs.as_array()
            .unwrap()
            .iter()
            .find(|h| h["slug"] == slug)
            .unwrap_or_else(|| panic!("no hub {slug}: {hubs}"))
            .clone()
    };
    let set = |hub: Value, departments: Vec<&'static str>| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let version = app
                .data(
                    "query($slug: String!) { hub(slug: $slug) { version } }",
                    json!({ "slug": hub["slug"] }),
                )
                .await["hub"]["version"]
                .clone();
            let (_, body) = app
                .post_as(
                    Some(&admin),
                    r#"mutation($input: SetHubDepartmentsInput!) { setHubDepartments(input: $input) { hub { slug departments { code name region { name } } } userErrors { field code message } } }"#,
                    json!({ "input": { "id": hub["id"], "version": version, "departments": departments } }),
                )
                .await;
            assert_eq!(
                body["data"]["setHubDepartments"]["userErrors"],
                json!([]),
                "{body}"
            );
            body["data"]["setHubDepartments"]["hub"].clone()
        }
    };
    // Several departments, given out of order (`2A` sorts after `29`, overseas last), and a hub without any.
    let hinaura = set(hub("hinaura"), vec!["974", "2A", "01", "29", "69"]).await;
    let emptied = set(hub("hub-du-sud"), vec![]).await;
    let stored = assert_hub_departments_as_stored(&app).await;
    let codes = |slug: &str| -> Vec<Value> {
        stored.iter().find(|h| h["slug"] == slug).unwrap()["departments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].clone())
            .collect()
    };
    assert_eq!(codes("hinaura"), ["01", "29", "2A", "69", "974"]);
    assert_eq!(codes("hub-du-sud"), Vec::<Value>::new());
    // The mutation's payload reads them through the loader: the same answer.
    assert_eq!(
        &hinaura,
        stored.iter().find(|h| h["slug"] == "hinaura").unwrap()
    );
    assert_eq!(emptied["departments"], json!([]));

    // Changed again: the next request sees it (hubs are read from the database every request).
    set(hub("hinaura"), vec!["69"]).await;
    set(hub("hub-du-sud"), vec!["13", "83"]).await;
    let stored = assert_hub_departments_as_stored(&app).await;
    let codes = |slug: &str| -> Vec<Value> {
        stored.iter().find(|h| h["slug"] == slug).unwrap()["departments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].clone())
            .collect()
    };
    assert_eq!(codes("hinaura"), ["69"]);
    assert_eq!(codes("hub-du-sud"), ["13", "83"]);
}

/// A department's hubs follow each change: at once for this server's mutations, and, on PostgreSQL (where they are
/// kept between requests, `maillage_territories::DepartmentHubs`), as soon as the change of another writer (another
/// instance, the CLI) is announced.
#[tokio::test]
async fn department_hubs_are_kept_on_postgresql_and_follow_every_change() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let postgres = app.db.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    const PARIS: &str = r#"{ department(code: "75") { hubs { slug version } }
        site: department(code: "69") { hubs { slug version } } }"#;
    let slugs = |data: &Value| -> Vec<String> {
        data["department"]["hubs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = app.data(PARIS, json!({})).await;
    assert_eq!(slugs(&first), ["francil-in"]);
    let (again, statements) = data_and_statements(&app, PARIS, json!({})).await;
    assert_eq!(again, first);
    assert_eq!(
        statements,
        if postgres { 0 } else { 1 },
        "kept on PostgreSQL only"
    );

    // This server's mutation: Hinaura also covers Paris, and the very next request says so.
    let hinaura = app
        .data(
            r#"{ hub(slug: "hinaura") { id version departments { code } } }"#,
            json!({}),
        )
        .await["hub"]
        .clone();
    let mut covered: Vec<String> = hinaura["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect();
    covered.push("75".to_owned());
    let (_, body) = app
        .post_as(
            Some(&admin),
            r#"mutation($input: SetHubDepartmentsInput!) { setHubDepartments(input: $input) { hub { version } userErrors { code } } }"#,
            json!({ "input": { "id": hinaura["id"], "version": hinaura["version"], "departments": covered } }),
        )
        .await;
    assert_eq!(
        body["data"]["setHubDepartments"]["userErrors"],
        json!([]),
        "{body}"
    );
    let (after, statements) = data_and_statements(&app, PARIS, json!({})).await;
    assert_eq!(slugs(&after), ["francil-in", "hinaura"]);
    assert_eq!(statements, 1, "read again after the change");
    // Hinaura's new version shows under the Rhône as well.
    let version = body["data"]["setHubDepartments"]["hub"]["version"].clone();
    assert_eq!(after["site"]["hubs"][0]["version"], version, "{after}");

    // Another writer on the same database (the domain function alone, as the CLI runs it): seen once announced.
    let hub = maillage_territories::hub_by_slug(&app.db.db, "hinaura")
        .await
        .unwrap()
        .unwrap();
    covered.pop();
    let codes: Vec<maillage_core::DepartmentCode> = covered
        .iter()
        .map(|c| maillage_core::DepartmentCode::parse(c).unwrap())
        .collect();
    maillage_territories::set_hub_departments(
        &app.db.db,
        &maillage_core::Actor::cli(),
        hub.id,
        hub.version,
        &codes,
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = app.data(PARIS, json!({})).await;
        if slugs(&now) == ["francil-in"] {
            break;
        }
        assert!(
            postgres && std::time::Instant::now() < deadline,
            "the other writer's change is not read: {now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
