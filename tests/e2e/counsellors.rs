//! Counsellors over HTTP and the CLI: the nested query's statement count, the 100 % rule, personal-data
//! visibility by role, public statistics, and the CSV import's report semantics.

use crate::support::{TestApp, fixture, summary_number};
use maillage_core::{Actor, DepartmentCode, Siret, SiteId};
use maillage_counsellors::{
    CounsellorStatus, NewCounsellor, NewStructure, PersonalData, StructureKind, create_counsellor,
    create_structure, set_assignments,
};
use serde_json::{Value, json};
use std::fmt::Write as _;

/// A valid SIRET (Luhn key) built from a number.
fn siret(n: u64) -> Siret {
    let base = format!("{n:013}");
    (0..10)
        .find_map(|k| Siret::parse(&format!("{base}{k}")).ok())
        .unwrap()
}

fn new_counsellor(
    external_id: String,
    structure: maillage_counsellors::StructureId,
) -> NewCounsellor {
    NewCounsellor {
        external_id,
        structure_id: structure,
        post_id: None,
        personal: PersonalData {
            first_name: "Camille".to_owned(),
            last_name: "Martin".to_owned(),
            email: None,
            personal_email: None,
            phone: Some("0478000000".to_owned()),
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
    }
}

/// Imports `per_department` sites in each department, and gives every site `per_site` counsellors, each from its
/// own structure. Returns the site ids in import order.
async fn populate(
    app: &TestApp,
    departments: &[&str],
    per_department: usize,
    per_site: usize,
) -> Vec<SiteId> {
    let mut csv = String::from("id,pivot,nom,commune,code_postal,adresse,date_maj,services\n");
    for dep in departments {
        for i in 0..per_department {
            writeln!(
                csv,
                "{dep}-{i},00000000000000,Lieu {i} du {dep},Commune,{dep}000,{i} rue de la Poste,2024-01-01,Aide aux démarches administratives"
            )
            .unwrap();
        }
    }
    let file = app.dir.path().join("sites.csv");
    std::fs::write(&file, csv).unwrap();
    app.import_with(&file, "generated", &["--standard", "v1"])
        .await;
    let sites = maillage_sites::list_sites(
        &app.db.db,
        &maillage_sites::SiteFilter::default(),
        maillage_sites::SiteOrder::default(),
        &maillage_core::PageRequest::new(Some(100), None).unwrap(),
    )
    .await
    .unwrap();
    let admin = Actor::cli();
    let mut n = 0;
    let mut ids = Vec::new();
    for (_, site) in &sites.items {
        ids.push(site.id);
        let dep = site.department_code.clone().unwrap();
        for _ in 0..per_site {
            n += 1;
            let s = create_structure(
                &app.db.db,
                &admin,
                NewStructure {
                    siret: siret(n),
                    name: format!("Structure {n}"),
                    kind: StructureKind::Commune,
                    address: None,
                    postal_code: None,
                    commune: None,
                    department: dep.clone(),
                    france_services: false,
                    zrr: false,
                    qpv: false,
                },
            )
            .await
            .unwrap();
            let c = create_counsellor(&app.db.db, &admin, new_counsellor(format!("cn-{n}"), s.id))
                .await
                .unwrap();
            set_assignments(&app.db.db, &admin, c.id, c.version, 10, &[(site.id, 90)])
                .await
                .unwrap();
        }
    }
    ids
}

/// The acceptance query `hubs → departments → sites → counsellors → structure` runs the same number of SQL
/// statements whatever the data size.
#[tokio::test]
async fn nested_hubs_to_counsellor_structures_run_a_bounded_number_of_statements() {
    const QUERY: &str = "{ hubs { departments { sites(first: 5) { nodes { id name counsellors { externalId structure { name fundingKind } } } } } } }";
    let mut counts = Vec::new();
    for (departments, per_department, per_site) in [
        (&["69"][..], 1, 1),
        (&["69", "01", "13", "31", "75"][..], 5, 3),
    ] {
        let app = TestApp::spawn().await;
        populate(&app, departments, per_department, per_site).await;
        let before = app.db.statements();
        app.db.statement_counter().start_log();
        let data = app.data(QUERY, json!({})).await;
        let statements = app.db.statements() - before;
        let log = app.db.statement_counter().take_log();
        let counsellors: Vec<&Value> = data["hubs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|h| h["departments"].as_array().unwrap())
            .flat_map(|d| d["sites"]["nodes"].as_array().unwrap())
            .flat_map(|s| s["counsellors"].as_array().unwrap())
            .collect();
        assert_eq!(
            counsellors.len(),
            departments.len() * per_department * per_site,
            "every counsellor of every site is returned"
        );
        assert!(
            counsellors
                .iter()
                .all(|c| c["structure"]["fundingKind"] == "PUBLIC")
        );
        // Each site has its own counsellors, though the pages of all departments are read in one batch and share
        // one map: the same as the domain's read of that site alone.
        let sites = data["hubs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|h| h["departments"].as_array().unwrap())
            .flat_map(|d| d["sites"]["nodes"].as_array().unwrap());
        for site in sites {
            let id = async_graphql::ID(site["id"].as_str().unwrap().to_owned());
            let id = maillage_graphql::kit::id::decode_int(
                &id,
                maillage_graphql::kit::id::NodeKind::Site,
            )
            .unwrap();
            let mut expected: Vec<String> = maillage_counsellors::counsellors_of_sites(
                &app.db.db,
                &[SiteId(id)],
                maillage_counsellors::CounsellorParts::Brief,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|(_, c)| c.data.external_id)
            .collect();
            let mut got: Vec<String> = site["counsellors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["externalId"].as_str().unwrap().to_owned())
                .collect();
            expected.sort();
            got.sort();
            assert_eq!(got, expected, "{site}");
            assert_eq!(got.len(), per_site, "{site}");
        }
        eprintln!(
            "hubs → departments → sites → counsellors → structure with {} counsellors: {statements} SQL statements",
            counsellors.len()
        );
        assert!(
            statements <= 8,
            "{statements} statements:\n{}",
            log.join("\n")
        );
        counts.push(statements);
    }
    assert_eq!(
        counts[0], counts[1],
        "statement counts vary with data size: {counts:?}"
    );
}

/// A page's counsellors are read once for the whole page; selections under `counsellors` that read different
/// columns (aliases, `nodes` and `edges` together) each get every counsellor of every site, as when each site asked
/// on its own.
#[tokio::test]
async fn site_counsellors_under_aliases_and_edges_agree() {
    const QUERY: &str = "{ sites(first: 20) { nodes { sourceId brief: counsellors { externalId } whole: counsellors { externalId firstName } } edges { node { sourceId counsellors { externalId status } } } } }";
    let app = TestApp::spawn().await;
    populate(&app, &["69", "01"], 3, 2).await;
    let token = app.token("admin", None).await;
    let (status, body) = app.post_as(Some(&token), QUERY, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| c["externalId"].as_str().unwrap().to_owned())
            .collect()
    };
    let nodes = body["data"]["sites"]["nodes"].as_array().unwrap();
    let edges = body["data"]["sites"]["edges"].as_array().unwrap();
    assert_eq!(nodes.len(), 6);
    let mut total = 0;
    for (node, edge) in nodes.iter().zip(edges) {
        assert_eq!(node["sourceId"], edge["node"]["sourceId"]);
        let brief = ids(&node["brief"]);
        assert_eq!(brief.len(), 2, "{node}");
        assert_eq!(brief, ids(&node["whole"]), "{node}");
        assert_eq!(brief, ids(&edge["node"]["counsellors"]), "{edge}");
        assert!(
            node["whole"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["firstName"].is_string()),
            "{node}"
        );
        total += brief.len();
    }
    assert_eq!(total, 12);
}

const SET: &str = "mutation($input: SetCounsellorAssignmentsInput!) { setCounsellorAssignments(input: $input) { counsellor { version hostShare assignments { share site { name } } } userErrors { field code message } } }";

#[tokio::test]
async fn a_time_share_above_100_percent_is_a_user_error() {
    let app = TestApp::spawn().await;
    let sites = populate(&app, &["69"], 2, 0).await;
    let token = app.token("hub_coordinator", Some("hinaura")).await;
    let site_id = |i: usize| {
        maillage_graphql::kit::id::encode(maillage_graphql::kit::id::NodeKind::Site, sites[i].0).0
    };

    let (_, body) = app
        .post_as(
            Some(&token),
            "mutation($input: CreateHostStructureInput!) { createHostStructure(input: $input) { hostStructure { id fundingKind } userErrors { code } } }",
            json!({ "input": { "siret": siret(42).as_str(), "name": "Mairie", "kind": "COMMUNE", "department": "69" } }),
        )
        .await;
    let structure = body["data"]["createHostStructure"]["hostStructure"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .post_as(
            Some(&token),
            "mutation($input: CreateCounsellorInput!) { createCounsellor(input: $input) { counsellor { id version firstName } userErrors { code } } }",
            json!({ "input": { "externalId": "cn-1", "structureId": structure, "firstName": "Léa", "lastName": "Durand", "hostShare": 25 } }),
        )
        .await;
    let counsellor = &body["data"]["createCounsellor"]["counsellor"];
    assert_eq!(counsellor["firstName"], "Léa", "{body}");
    let id = counsellor["id"].as_str().unwrap().to_owned();

    // 25 % for the host + 40 % + 36 % = 101 %.
    let (_, body) = app
        .post_as(
            Some(&token),
            SET,
            json!({ "input": { "counsellorId": id, "version": 1, "hostShare": 25, "assignments": [
                { "siteId": site_id(0), "share": 40 }, { "siteId": site_id(1), "share": 36 } ] } }),
        )
        .await;
    let payload = &body["data"]["setCounsellorAssignments"];
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(payload["counsellor"], Value::Null);
    assert_eq!(
        payload["userErrors"][0]["code"], "time_share_exceeded",
        "{body}"
    );

    // 100 % exactly is stored, with a new version.
    let (_, body) = app
        .post_as(
            Some(&token),
            SET,
            json!({ "input": { "counsellorId": id, "version": 1, "hostShare": 25, "assignments": [
                { "siteId": site_id(0), "share": 40 }, { "siteId": site_id(1), "share": 35 } ] } }),
        )
        .await;
    let payload = &body["data"]["setCounsellorAssignments"];
    assert_eq!(payload["userErrors"], json!([]), "{body}");
    assert_eq!(payload["counsellor"]["version"], 2);
    assert_eq!(
        payload["counsellor"]["assignments"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The old version is now stale; an unknown site is a user error; anonymous callers cannot write.
    let (_, body) = app
        .post_as(Some(&token), SET, json!({ "input": { "counsellorId": id, "version": 1, "hostShare": 0, "assignments": [] } }))
        .await;
    assert_eq!(
        body["data"]["setCounsellorAssignments"]["userErrors"][0]["code"],
        "stale_version"
    );
    let unknown =
        maillage_graphql::kit::id::encode(maillage_graphql::kit::id::NodeKind::Site, 999_999).0;
    let (_, body) = app
        .post_as(
            Some(&token),
            SET,
            json!({ "input": { "counsellorId": id, "version": 2, "hostShare": 0, "assignments": [{ "siteId": unknown, "share": 10 }] } }),
        )
        .await;
    assert_eq!(
        body["data"]["setCounsellorAssignments"]["userErrors"][0]["code"],
        "not_found"
    );
    let (_, body) = app
        .post_as(None, SET, json!({ "input": { "counsellorId": id, "version": 2, "hostShare": 0, "assignments": [] } }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "unauthenticated",
        "{body}"
    );

    // A hub coordinator of another territory is refused (a GraphQL error: not something to fix in the input).
    let sud = app.token("hub_coordinator", Some("hub-du-sud")).await;
    let (_, body) = app
        .post_as(Some(&sud), SET, json!({ "input": { "counsellorId": id, "version": 2, "hostShare": 0, "assignments": [] } }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body}"
    );
}

#[tokio::test]
async fn personal_fields_are_visible_to_the_territorys_coordinator_only() {
    let app = TestApp::spawn().await;
    populate(&app, &["69"], 1, 1).await;
    const QUERY: &str = "{ counsellors(filter: { departments: [\"69\"] }) { totalCount nodes { externalId firstName lastName phone status structure { name } } } }";
    let hinaura = app.token("hub_coordinator", Some("hinaura")).await;
    let sud = app.token("hub_coordinator", Some("hub-du-sud")).await;
    let partner = app.token("partner", None).await;
    let admin = app.token("admin", None).await;
    for (who, token, visible) in [
        ("anonymous", None, false),
        ("partner", Some(partner.as_str()), false),
        ("another hub's coordinator", Some(sud.as_str()), false),
        ("the territory's coordinator", Some(hinaura.as_str()), true),
        ("admin", Some(admin.as_str()), true),
    ] {
        let (status, body) = app.post_as(token, QUERY, json!({})).await;
        assert_eq!(status, 200, "{who}: {body}");
        assert!(body.get("errors").is_none(), "{who}: {body}");
        let list = &body["data"]["counsellors"];
        assert_eq!(list["totalCount"], 1, "{who}");
        let c = &list["nodes"][0];
        assert_eq!(c["externalId"], "cn-1", "{who}");
        assert_eq!(c["status"], "ACTIVE", "{who}");
        assert_eq!(c["structure"]["name"], "Structure 1", "{who}");
        if visible {
            assert_eq!(c["firstName"], "Camille", "{who}");
            assert_eq!(c["lastName"], "Martin", "{who}");
            assert_eq!(c["phone"], "0478000000", "{who}");
        } else {
            for field in ["firstName", "lastName", "phone"] {
                assert_eq!(c[field], Value::Null, "{who} must not see {field}");
            }
        }
    }
}

#[tokio::test]
async fn statistics_are_public_and_aggregate_by_hub_and_region() {
    let app = TestApp::spawn().await;
    let admin = Actor::cli();
    let s = create_structure(
        &app.db.db,
        &admin,
        NewStructure {
            siret: siret(7),
            name: "Mairie".to_owned(),
            kind: StructureKind::Commune,
            address: None,
            postal_code: None,
            commune: None,
            department: DepartmentCode::parse("01").unwrap(),
            france_services: false,
            zrr: false,
            qpv: false,
        },
    )
    .await
    .unwrap();
    create_counsellor(&app.db.db, &admin, new_counsellor("a".to_owned(), s.id))
        .await
        .unwrap();
    let mut training = new_counsellor("b".to_owned(), s.id);
    training.status = CounsellorStatus::InTraining;
    create_counsellor(&app.db.db, &admin, training)
        .await
        .unwrap();
    let data = app
        .data(
            "{ d: counsellorStatistics(by: DEPARTMENT) { key counsellorsActive counsellorsInTraining counsellorsWithoutSite } \
               h: counsellorStatistics(by: HUB) { key name counsellorsActive } \
               r: counsellorStatistics(by: REGION) { key counsellorsActive counsellorsInTraining } \
               hinaura: hub(slug: \"hinaura\") { id } }",
            json!({}),
        )
        .await;
    let find = |list: &str, key: &str| {
        data[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["key"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        find("d", "01"),
        json!({ "key": "01", "counsellorsActive": 1, "counsellorsInTraining": 1, "counsellorsWithoutSite": 2 })
    );
    assert_eq!(find("d", "69")["counsellorsActive"], 0);
    // A hub's key is its global ID, as everywhere a hub is named.
    let hinaura = data["hinaura"]["id"].as_str().unwrap().to_owned();
    assert_eq!(find("h", &hinaura)["counsellorsActive"], 1);
    assert_eq!(find("r", "84")["counsellorsInTraining"], 1);
}

#[tokio::test]
async fn cli_import_reports_every_row_and_reimport_changes_nothing() {
    let app = TestApp::spawn().await;
    let run = async |args: &[&str]| {
        let out = app.cli(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let structures = fixture("counsellors/structures.csv");
    let counsellors = fixture("counsellors/counsellors.csv");
    let structures = structures.to_str().unwrap();
    let counsellors = counsellors.to_str().unwrap();

    let first = run(&["counsellors", "import", "structures", structures]).await;
    assert_eq!(summary_number(&first, "stored"), 3, "{first}");
    assert_eq!(summary_number(&first, "rejected"), 3, "{first}");
    let report = std::fs::read_to_string(
        app.dir
            .path()
            .join("counsellors-import-report-structures.csv"),
    )
    .unwrap();
    for line in ["5,", "6,", "7,"] {
        assert!(
            report.lines().any(|l| l.starts_with(line)),
            "line {line} missing from the report:\n{report}"
        );
    }
    let first = run(&["counsellors", "import", "counsellors", counsellors]).await;
    assert_eq!(summary_number(&first, "stored"), 3, "{first}");
    assert_eq!(summary_number(&first, "rejected"), 4, "{first}");

    for (kind, file, stored) in [
        ("structures", structures, 3),
        ("counsellors", counsellors, 3),
    ] {
        let again = run(&["counsellors", "import", kind, file]).await;
        assert_eq!(summary_number(&again, "stored"), stored, "{again}");
        assert_eq!(summary_number(&again, "changes"), 0, "{again}");
    }

    // The imported data answers over GraphQL: the coordinator and the post were linked.
    let data = app
        .data(
            "{ hostStructures(filter: { kinds: [COMMUNE] }) { totalCount nodes { siret fundingKind posts { requested granted decision } counsellors { totalCount nodes { externalId isCoordinator coordinated { externalId } coordinator { externalId } } } } } }",
            json!({}),
        )
        .await;
    let structure = &data["hostStructures"]["nodes"][0];
    assert_eq!(data["hostStructures"]["totalCount"], 1);
    assert_eq!(structure["fundingKind"], "PUBLIC");
    assert_eq!(
        structure["posts"],
        json!([{ "requested": 4, "granted": 3, "decision": "ACCEPTED" }])
    );
    let counsellors = structure["counsellors"]["nodes"].as_array().unwrap();
    assert_eq!(
        structure["counsellors"]["totalCount"],
        json!(counsellors.len())
    );
    let coordinator = counsellors
        .iter()
        .find(|c| c["externalId"] == "cn-100")
        .unwrap();
    assert_eq!(
        coordinator["coordinated"],
        json!([{ "externalId": "cn-101" }])
    );

    // Exports: the list without sites holds every counsellor under contract here.
    let out = app.cli(&["counsellors", "export", "without-site"]).await;
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let out = app
        .cli(&["counsellors", "export", "structures", "--department", "69"])
        .await;
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.contains("21690012300011,Mairie de Villeurbanne,commune,69"),
        "{csv}"
    );

    // Over GraphQL the export is for authorised roles only.
    let body = app
        .first_error("{ counsellorsExport(list: TERRITORY) }", json!({}))
        .await;
    assert_eq!(body["extensions"]["code"], "forbidden", "{body}");
    let token = app.token("hub_coordinator", Some("hinaura")).await;
    let (_, body) = app
        .post_as(
            Some(&token),
            "{ counsellorsExport(list: TERRITORY) }",
            json!({}),
        )
        .await;
    let csv = body["data"]["counsellorsExport"].as_str().unwrap();
    assert_eq!(
        csv.lines().count(),
        3,
        "only the hub's departments (69): {csv}"
    );
    assert!(csv.contains("Camille"));
}

/// The `(field, code)` of each user error of a payload.
fn errors_at(payload: &Value) -> Vec<(String, String)> {
    payload["userErrors"]
        .as_array()
        .unwrap_or_else(|| panic!("no userErrors in {payload}"))
        .iter()
        .map(|e| {
            let field: Vec<&str> = e["field"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            (field.join("."), e["code"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn invalid(fields: &[&str]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| ((*f).to_owned(), "invalid_value".to_owned()))
        .collect()
}

#[tokio::test]
async fn the_api_and_the_import_refuse_the_same_values_with_every_problem_at_once() {
    let app = TestApp::spawn().await;
    let token = app.token("hub_coordinator", Some("hinaura")).await;
    const CREATE_STRUCTURE: &str = "mutation($input: CreateHostStructureInput!) { createHostStructure(input: $input) { hostStructure { id } userErrors { field code message } } }";
    let (_, body) = app
        .post_as(
            Some(&token),
            CREATE_STRUCTURE,
            json!({ "input": { "siret": "123", "name": "  ", "kind": "COMMUNE", "department": "69", "postalCode": "6900", "commune": "c".repeat(201) } }),
        )
        .await;
    let payload = &body["data"]["createHostStructure"];
    assert_eq!(payload["hostStructure"], Value::Null, "{body}");
    assert_eq!(
        errors_at(payload),
        invalid(&[
            "input.siret",
            "input.name",
            "input.postalCode",
            "input.commune"
        ]),
        "{body}"
    );

    let (_, body) = app
        .post_as(
            Some(&token),
            CREATE_STRUCTURE,
            json!({ "input": { "siret": siret(77).as_str(), "name": "Mairie", "kind": "COMMUNE", "department": "69" } }),
        )
        .await;
    let structure = body["data"]["createHostStructure"]["hostStructure"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();

    const CREATE: &str = "mutation($input: CreateCounsellorInput!) { createCounsellor(input: $input) { counsellor { id version phone } userErrors { field code message } } }";
    let (_, body) = app
        .post_as(
            Some(&token),
            CREATE,
            json!({ "input": { "externalId": "cn-9", "structureId": structure, "firstName": "", "lastName": "Durand", "email": "nope", "phone": "12", "hostShare": 101 } }),
        )
        .await;
    assert_eq!(
        errors_at(&body["data"]["createCounsellor"]),
        invalid(&[
            "input.firstName",
            "input.email",
            "input.phone",
            "input.hostShare"
        ]),
        "{body}"
    );
    let (_, body) = app
        .post_as(
            Some(&token),
            CREATE,
            json!({ "input": { "externalId": "cn-9", "structureId": structure, "firstName": "Léa", "lastName": "Durand", "phone": "04 78 00 00 09" } }),
        )
        .await;
    let created = &body["data"]["createCounsellor"]["counsellor"];
    assert_eq!(created["phone"], "0478000009", "{body}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, body) = app
        .post_as(
            Some(&token),
            "mutation($input: UpdateCounsellorInput!) { updateCounsellor(input: $input) { counsellor { id } userErrors { field code message } } }",
            json!({ "input": { "id": id, "version": 1, "lastName": " ", "phone": "12" } }),
        )
        .await;
    assert_eq!(
        errors_at(&body["data"]["updateCounsellor"]),
        invalid(&["input.lastName", "input.phone"]),
        "{body}"
    );

    // The same phone in a file: the row is refused, reported at its line and column.
    let file = app.dir.path().join("bad-phone.csv");
    std::fs::write(
        &file,
        format!(
            "id,siret_structure,prenom,nom,statut,telephone\n\
             cn-10,{s},Ali,Benali,actif,0478000010\n\
             cn-11,{s},Zoé,Petit,actif,12\n",
            s = siret(77).as_str()
        ),
    )
    .unwrap();
    let out = app
        .cli(&[
            "counsellors",
            "import",
            "counsellors",
            file.to_str().unwrap(),
        ])
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    assert_eq!(summary_number(&stdout, "stored"), 1, "{stdout}");
    assert_eq!(summary_number(&stdout, "rejected"), 1, "{stdout}");
    let report = std::fs::read_to_string(
        app.dir
            .path()
            .join("counsellors-import-report-counsellors.csv"),
    )
    .unwrap();
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("3,cn-11,telephone,") && l.contains("French number")),
        "{report}"
    );
}

/// Sites in departments 69 and 01 with one bare counsellor each ([`populate`]), and two more at the first and
/// second sites: `cn-full`, a coordinator with every optional field set, and `cn-coordinated`, coordinated by it.
async fn with_full_counsellor(app: &TestApp) {
    let sites = populate(app, &["69", "01"], 2, 1).await;
    let admin = Actor::cli();
    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2024, 3, d).unwrap();
    let structure = create_structure(
        &app.db.db,
        &admin,
        NewStructure {
            siret: siret(999),
            name: "Structure pleine".to_owned(),
            kind: StructureKind::Commune,
            address: None,
            postal_code: None,
            commune: None,
            department: DepartmentCode::parse("69").unwrap(),
            france_services: true,
            zrr: false,
            qpv: true,
        },
    )
    .await
    .unwrap();
    let mut full = new_counsellor("cn-full".to_owned(), structure.id);
    full.status = CounsellorStatus::InTraining;
    full.recruited_on = Some(day(1));
    full.training_started_on = Some(day(2));
    full.active_since = Some(day(3));
    full.ended_on = Some(day(4));
    full.contract_type = Some(maillage_counsellors::ContractType::ProjectContract);
    full.contract_start = Some(day(5));
    full.contract_end = Some(day(6));
    full.training_completed_on = Some(day(7));
    full.pix_certified = true;
    full.is_coordinator = true;
    let c = create_counsellor(&app.db.db, &admin, full).await.unwrap();
    set_assignments(&app.db.db, &admin, c.id, c.version, 30, &[(sites[0], 70)])
        .await
        .unwrap();
    let mut coordinated = new_counsellor("cn-coordinated".to_owned(), structure.id);
    coordinated.coordinator_id = Some(c.id);
    let d = create_counsellor(&app.db.db, &admin, coordinated)
        .await
        .unwrap();
    set_assignments(&app.db.db, &admin, d.id, d.version, 50, &[(sites[1], 50)])
        .await
        .unwrap();
}

/// The fields a `Counsellor` gives from memory (`kit::memory`, no future per field) answer exactly as their
/// resolvers: every scalar and enum field of `Counsellor`, with its structure, asked plainly equals the same asked
/// inside fragments (async-graphql's own path), for counsellors with every optional field set and with none.
#[tokio::test]
async fn counsellor_fields_from_memory_answer_as_their_resolvers() {
    let app = TestApp::spawn().await;
    with_full_counsellor(&app).await;
    let token = app.token("admin", None).await;
    const TYPE: &str = "{ __type(name: \"Counsellor\") { fields { name args { name } \
        type { kind ofType { kind ofType { kind ofType { kind } } } } } } }";
    let (_, body) = app.post_as(Some(&token), TYPE, json!({})).await;
    let kind = |t: &Value| -> String {
        let mut t = t;
        while t["kind"] == "NON_NULL" || t["kind"] == "LIST" {
            t = &t["ofType"];
        }
        t["kind"].as_str().unwrap().to_owned()
    };
    let scalars: Vec<String> = body["data"]["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["args"].as_array().unwrap().is_empty())
        .filter(|f| matches!(kind(&f["type"]).as_str(), "SCALAR" | "ENUM"))
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(scalars.len() >= 20, "{scalars:?}");
    let every = scalars.join(" ");
    let ask = |query: String| {
        let token = &token;
        let app = &app;
        async move {
            let (_, body) = app.post_as(Some(token), &query, json!({})).await;
            assert!(body.get("errors").is_none(), "{query}: {body}");
            body["data"].clone()
        }
    };
    let plain = ask(format!(
        "{{ counsellors(first: 20) {{ nodes {{ __typename {every} structure {{ name }} }} }} \
         sites(first: 20) {{ nodes {{ counsellors {{ {every} }} }} }} }}"
    ))
    .await;
    let fragment = ask(format!(
        "{{ counsellors(first: 20) {{ nodes {{ ... on Counsellor {{ __typename {every} structure {{ name }} }} }} }} \
         sites(first: 20) {{ nodes {{ counsellors {{ ... {{ {every} }} }} }} }} }}"
    ))
    .await;
    assert_eq!(plain, fragment);
    let nodes = plain["counsellors"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6, "{plain}");
    let full = nodes.iter().find(|n| n["externalId"] == "cn-full").unwrap();
    assert_eq!(full["contractType"], "PROJECT_CONTRACT", "{full}");
    assert_eq!(full["status"], "IN_TRAINING", "{full}");
    assert_eq!(full["endedOn"], "2024-03-04", "{full}");
    assert_eq!(full["firstName"], "Camille", "{full}");
    let bare = nodes
        .iter()
        .find(|n| n["externalId"] == "cn-1")
        .unwrap_or_else(|| panic!("{plain}"));
    assert!(
        bare["contractType"].is_null() && bare["recruitedOn"].is_null(),
        "{bare}"
    );
    let keys: Vec<&str> = full
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let order: Vec<&str> = std::iter::once("__typename")
        .chain(scalars.iter().map(String::as_str))
        .chain(["structure"])
        .collect();
    assert_eq!(keys, order, "keys in the selection's order");
}

/// Removes every `wholeRowsReference` key, wherever it is in an answer.
fn without_reference(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("wholeRowsReference");
            map.values_mut().for_each(without_reference);
        }
        Value::Array(list) => list.iter_mut().for_each(without_reference),
        _ => {}
    }
}

/// For every field of `Counsellor` under `Site.counsellors` (a root list's sites, a hub's departments' sites, one
/// site), the answer with that field alone equals the answer with `firstName` too, which makes the read whole (its
/// resolver refuses a brief counsellor): a field wrongly served from a brief row differs here, or fails. The
/// counsellors have every field filled, one coordinates another; the caller is an admin (personal data). The
/// fields read brief are exactly the expected ones, so the comparison is not vacuous.
#[tokio::test]
async fn every_counsellor_field_answers_the_same_from_brief_and_whole_rows() {
    // About 170 requests, some nested deep (a coordinator's counsellors' sites): no rate limit, no cost limit.
    let mut config = maillage_server::config::ServeConfig::default();
    config.protection.rate_limit_per_minute = 0;
    config.max_query_complexity = usize::MAX;
    let app = TestApp::spawn_with(config).await;
    with_full_counsellor(&app).await;
    let token = app.token("admin", None).await;
    let lists = [
        (
            "root",
            "{ sites(first: 20) { nodes { sourceId counsellors { SEL } } } }",
        ),
        (
            "hub departments",
            "{ hub(slug: \"hinaura\") { departments { code sites(first: 10) { nodes { sourceId \
             counsellors { SEL } } } } } }",
        ),
        (
            "one site",
            "{ site(source: \"generated\", sourceId: \"69-0\") { counsellors { SEL } } }",
        ),
    ];
    let fields = crate::brief::field_selections(&app, &token, "Counsellor").await;
    assert!(fields.len() >= 25, "{} fields of Counsellor", fields.len());
    let mut brief_reads = Vec::new();
    for (name, selection) in &fields {
        let mut brief_everywhere = true;
        for (list, template) in lists {
            let ask = |extra: &str| template.replace("SEL", &format!("{selection} {extra}"));
            app.db.statement_counter().start_log();
            let (_, alone) = app.post_as(Some(&token), &ask(""), json!({})).await;
            let log = app.db.statement_counter().take_log();
            let (_, mut whole) = app
                .post_as(
                    Some(&token),
                    &ask("wholeRowsReference: firstName"),
                    json!({}),
                )
                .await;
            assert!(alone.get("errors").is_none(), "{list} {name}: {alone}");
            assert!(whole.get("errors").is_none(), "{list} {name}: {whole}");
            let listed = alone.to_string().matches("\"counsellors\":[{").count();
            assert!(listed >= 1, "{list} {name}: no counsellors in {alone}");
            without_reference(&mut whole);
            assert_eq!(
                alone["data"], whole["data"],
                "{list}: Counsellor.{name} differs between brief and whole rows"
            );
            // The sites' counsellors are the statement joining the counsellors; a brief one names no personal column.
            let joins: Vec<&String> = log
                .iter()
                .filter(|sql| sql.contains("JOIN \"counsellor\""))
                .collect();
            assert_eq!(joins.len(), 1, "{list} {name}: {log:#?}");
            brief_everywhere &= !joins[0].contains("\"counsellor\".\"first_name\"");
        }
        if brief_everywhere {
            brief_reads.push(name.as_str());
        }
    }
    brief_reads.sort_unstable();
    assert_eq!(
        brief_reads,
        [
            "assignments",
            "coordinated",
            "coordinator",
            "departmentCode",
            "externalId",
            "id",
            "isCoordinator",
            "post",
            "sites",
            "status",
            "structure",
            "updatedAt",
            "version",
        ],
        "the fields of Counsellor served from brief rows"
    );
}
