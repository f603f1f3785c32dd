//! Aidants Connect over HTTP and the command line: personal fields per caller, public aggregates, mutations, the
//! refusal of files naming people, and a bounded number of statements for the nested query.

use crate::support::{TestApp, fixture, summary_number};
use serde_json::{Value, json};
use std::fmt::Write as _;

/// Imports the three fixture files with the CLI, as an operator would.
async fn load_fixtures(app: &TestApp) {
    for (kind, file) in [
        ("organisations", "organisations.csv"),
        ("aidants", "aidants.csv"),
        ("mandates", "mandates.csv"),
    ] {
        let path = fixture(&format!("aidants/{file}"));
        let out = app
            .cli(&["aidants", "import", kind, path.to_str().unwrap()])
            .await;
        assert!(
            out.status.success(),
            "{kind}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

const AIDANTS: &str = "{ aidants(first: 100) { totalCount nodes { firstName lastName email profession status departmentCodes } } }";

async fn aidants_as(app: &TestApp, token: Option<&str>) -> Vec<Value> {
    let (status, body) = app.post_as(token, AIDANTS, json!({})).await;
    assert_eq!(status, 200, "{body:#}");
    assert!(body.get("errors").is_none(), "{body:#}");
    assert_eq!(body["data"]["aidants"]["totalCount"], 6);
    body["data"]["aidants"]["nodes"].as_array().unwrap().clone()
}

#[tokio::test]
async fn aidants_personal_fields_are_null_for_the_public_and_outside_a_coordinators_territory() {
    let app = TestApp::spawn().await;
    load_fixtures(&app).await;
    let partner = app.token("partner", None).await;
    for token in [None, Some(partner.as_str())] {
        for a in aidants_as(&app, token).await {
            for field in ["firstName", "lastName", "email", "profession"] {
                assert!(a[field].is_null(), "{field} visible to {token:?}: {a}");
            }
            assert!(a["status"].is_string());
        }
    }
    let rhinocc = app.token("hub_coordinator", Some("rhinocc")).await;
    let mut visible = Vec::new();
    for a in aidants_as(&app, Some(&rhinocc)).await {
        let ours = a["departmentCodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| ["11", "31", "32", "65"].contains(&d.as_str().unwrap()));
        assert_eq!(!a["email"].is_null(), ours, "{a}");
        assert_eq!(!a["lastName"].is_null(), ours, "{a}");
        if ours {
            visible.push(a["lastName"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(visible, ["Martin", "Petit", "Roux", "Blanc"]);
    let admin = app.token("admin", None).await;
    assert!(
        aidants_as(&app, Some(&admin))
            .await
            .iter()
            .all(|a| a["email"].is_string())
    );
}

#[tokio::test]
async fn aidants_statistics_are_public_and_sum_up_to_department_hub_and_region() {
    let app = TestApp::spawn().await;
    load_fixtures(&app).await;
    const QUERY: &str = "query($d: String, $h: String, $r: String) {
        aidantsStatistics(department: $d, hub: $h, region: $r) {
            organisations franceServicesOrganisations authorisedAidants trainedAidants
            mandates(from: \"2021-03\", to: \"2021-03\", demarche: SOCIAL) { month demarche created renewed revoked activeAtMonthEnd }
        } }";
    let stats = |vars: Value| {
        let app = &app;
        async move { app.data(QUERY, vars).await["aidantsStatistics"].clone() }
    };
    let d31 = stats(json!({ "d": "31" })).await;
    assert_eq!(
        (
            d31["organisations"].clone(),
            d31["authorisedAidants"].clone(),
            d31["trainedAidants"].clone()
        ),
        (json!(2), json!(1), json!(3))
    );
    assert_eq!(
        d31["mandates"],
        json!([{ "month": "2021-03", "demarche": "SOCIAL", "created": 11, "renewed": 1, "revoked": 1, "activeAtMonthEnd": 8 }])
    );
    let hub = stats(json!({ "h": "rhinocc" })).await;
    assert_eq!(hub["organisations"], 3);
    assert_eq!(hub["franceServicesOrganisations"], 2);
    assert_eq!(hub["mandates"][0]["created"], 21);
    assert_eq!(hub["mandates"][0]["activeAtMonthEnd"], 18);
    let region = stats(json!({ "r": "76" })).await;
    assert_eq!(region["authorisedAidants"], 2);
    assert_eq!(region["mandates"][0]["created"], 28);
    let all = stats(json!({})).await;
    assert_eq!(all["mandates"][0]["created"], 128);
    assert_eq!(all["organisations"], 5);
    let err = app
        .first_error(QUERY, json!({ "d": "31", "h": "rhinocc" }))
        .await;
    assert_eq!(err["extensions"]["code"], "invalid_value");
}

#[tokio::test]
async fn aidants_cli_refuses_a_file_naming_people_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let orgs = fixture("aidants/organisations.csv");
    assert!(
        app.cli(&["aidants", "import", "organisations", orgs.to_str().unwrap()])
            .await
            .status
            .success()
    );
    for (kind, file) in [
        ("mandates", "mandates-with-usager.csv"),
        ("aidants", "aidants-with-birth-date.csv"),
    ] {
        let path = fixture(&format!("aidants/{file}"));
        let out = app
            .cli(&["aidants", "import", kind, path.to_str().unwrap()])
            .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}");
        assert!(stderr.contains("identity of a person"), "{stderr}");
        assert!(
            stderr.contains("nothing was imported [invalid_file]"),
            "{stderr}"
        );
    }
    let data = app
        .data(
            "{ aidantsStatistics { trainedAidants mandates { created } } aidants(first: 0) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["aidantsStatistics"]["mandates"], json!([]));
    assert_eq!(data["aidants"]["totalCount"], 0);
    // The accepted files import, and a second run changes nothing; an export re-imports unchanged.
    load_fixtures(&app).await;
    let mandates = fixture("aidants/mandates.csv");
    let again = app
        .cli(&["aidants", "import", "mandates", mandates.to_str().unwrap()])
        .await;
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(summary_number(&stdout, "changes"), 0, "{stdout}");
    assert_eq!(summary_number(&stdout, "rejected"), 3, "{stdout}");
    let exported = app.dir.path().join("aidants-export.csv");
    let out = app
        .cli(&[
            "aidants",
            "export",
            "aidants",
            "--hub",
            "rhinocc",
            "-o",
            exported.to_str().unwrap(),
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = app
        .cli(&["aidants", "import", "aidants", exported.to_str().unwrap()])
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(summary_number(&stdout, "changes"), 0, "{stdout}");
    assert_eq!(summary_number(&stdout, "rejected"), 0, "{stdout}");
}

const CREATE_ORG: &str = "mutation($input: CreateAidantsOrganisationInput!) {
    createAidantsOrganisation(input: $input) { organisation { id name version departmentCode } userErrors { field code message } } }";
const UPDATE_ORG: &str = "mutation($input: UpdateAidantsOrganisationInput!) {
    updateAidantsOrganisation(input: $input) { organisation { id active version } userErrors { field code message } } }";

fn org_input(siret: &str, department: &str) -> Value {
    json!({ "input": {
        "name": "Médiathèque de Muret", "siret": siret, "kind": "COMMUNE", "address": "1 rue",
        "postalCode": "31600", "department": department, "franceServices": true
    } })
}

#[tokio::test]
async fn aidants_mutations_check_territory_input_and_versions() {
    let app = TestApp::spawn().await;
    let (_, body) = app
        .post_as(None, CREATE_ORG, org_input("31000000000078", "31"))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "unauthenticated",
        "{body:#}"
    );
    let rhinocc = app.token("hub_coordinator", Some("rhinocc")).await;
    let (_, body) = app
        .post_as(
            Some(&rhinocc),
            CREATE_ORG,
            org_input("31000000000078", "69"),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body:#}"
    );
    let (_, body) = app
        .post_as(Some(&rhinocc), CREATE_ORG, org_input("12345", "31"))
        .await;
    let errors = &body["data"]["createAidantsOrganisation"]["userErrors"];
    assert_eq!(errors[0]["field"], json!(["input", "siret"]), "{body:#}");
    assert_eq!(errors[0]["code"], "invalid_value");

    let (_, body) = app
        .post_as(
            Some(&rhinocc),
            CREATE_ORG,
            org_input("31000000000078", "31"),
        )
        .await;
    let org = &body["data"]["createAidantsOrganisation"]["organisation"];
    assert_eq!(org["version"], 1, "{body:#}");
    let id = org["id"].as_str().unwrap().to_owned();
    let (_, body) = app
        .post_as(
            Some(&rhinocc),
            CREATE_ORG,
            org_input("31000000000078", "31"),
        )
        .await;
    assert_eq!(
        body["data"]["createAidantsOrganisation"]["userErrors"][0]["code"], "already_exists",
        "{body:#}"
    );
    let update = json!({ "input": { "id": id, "version": 1, "active": false } });
    let (_, body) = app
        .post_as(Some(&rhinocc), UPDATE_ORG, update.clone())
        .await;
    assert_eq!(
        body["data"]["updateAidantsOrganisation"]["organisation"]["version"], 2,
        "{body:#}"
    );
    let (_, body) = app.post_as(Some(&rhinocc), UPDATE_ORG, update).await;
    assert_eq!(
        body["data"]["updateAidantsOrganisation"]["userErrors"][0]["code"], "stale_version",
        "{body:#}"
    );

    // An aidant of that organisation, trained by the hub; its personal data is the coordinator's to see.
    let hub_id = app
        .data("{ hub(slug: \"rhinocc\") { id } }", json!({}))
        .await["hub"]["id"]
        .clone();
    let (_, body) = app
        .post_as(
            Some(&rhinocc),
            "mutation($input: CreateAidantInput!) { createAidant(input: $input) {
                aidant { id email status trainingHub { slug } organisations { name } version } userErrors { field code } } }",
            json!({ "input": {
                "firstName": "Inès", "lastName": "Lopez", "email": "ines.lopez@muret.example",
                "organisations": [id], "status": "TRAINED", "trainedOn": "2021-02-01", "trainingHub": hub_id
            } }),
        )
        .await;
    let aidant = &body["data"]["createAidant"]["aidant"];
    assert_eq!(aidant["email"], "ines.lopez@muret.example", "{body:#}");
    assert_eq!(aidant["trainingHub"]["slug"], "rhinocc");
    assert_eq!(aidant["organisations"][0]["name"], "Médiathèque de Muret");
    let data = app
        .data(
            "{ aidantsStatistics(hub: \"rhinocc\") { trainedAidants } }",
            json!({}),
        )
        .await;
    assert_eq!(data["aidantsStatistics"]["trainedAidants"], 1);
}

/// Organisations spread over the departments of every hub, each with `aidants_per_org` aidants.
fn generated_files(
    dir: &std::path::Path,
    orgs_per_department: usize,
    aidants_per_org: usize,
) -> [std::path::PathBuf; 2] {
    let departments = [
        "69", "01", "31", "11", "13", "33", "75", "59", "21", "44", "974", "971",
    ];
    let mut orgs = String::from("siret,nom,type,adresse,departement\n");
    let mut aidants = String::from("email,nom,prenom,organisations,statut,date_formation\n");
    let mut n = 0u64;
    for dep in departments {
        for _ in 0..orgs_per_department {
            n += 1;
            let siret = luhn_siret(n);
            writeln!(orgs, "{siret},Organisation {n},association,1 rue,{dep}").unwrap();
            for a in 0..aidants_per_org {
                writeln!(
                    aidants,
                    "aidant{n}-{a}@example.org,Nom{a},Prenom{a},{siret},authorised,2021-01-01"
                )
                .unwrap();
            }
        }
    }
    let o = dir.join(format!("orgs-{orgs_per_department}.csv"));
    let a = dir.join(format!("aidants-{orgs_per_department}.csv"));
    std::fs::write(&o, orgs).unwrap();
    std::fs::write(&a, aidants).unwrap();
    [o, a]
}

/// A SIRET with a valid Luhn key: 13 digits from `n`, then the check digit.
fn luhn_siret(n: u64) -> String {
    let body = format!("{:013}", 5_000_000_000_000u64 + n);
    (0..10)
        .map(|k| format!("{body}{k}"))
        .find(|s| {
            s.bytes()
                .rev()
                .enumerate()
                .map(|(i, b)| {
                    let d = u32::from(b - b'0');
                    if i % 2 == 1 {
                        let d = d * 2;
                        if d > 9 { d - 9 } else { d }
                    } else {
                        d
                    }
                })
                .sum::<u32>()
                % 10
                == 0
        })
        .unwrap()
}

/// `hubs → departments → aidantsOrganisations → aidants` runs the same number of statements at two data sizes.
#[tokio::test]
async fn nested_hubs_departments_organisations_aidants_run_a_bounded_number_of_statements() {
    const QUERY: &str = "{ hubs { slug departments { code aidantsOrganisations(first: 6) { nodes { name siret aidants(first: 5) { nodes { status email } } } } } } }";
    let mut counts = Vec::new();
    for (orgs_per_department, aidants_per_org) in [(1, 1), (6, 5)] {
        let app = TestApp::spawn().await;
        let [orgs, aidants] = generated_files(app.dir.path(), orgs_per_department, aidants_per_org);
        for (kind, file) in [("organisations", &orgs), ("aidants", &aidants)] {
            let out = app
                .cli(&["aidants", "import", kind, file.to_str().unwrap()])
                .await;
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
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
            .flat_map(|d| d["aidantsOrganisations"]["nodes"].as_array().unwrap())
            .map(|o| o["aidants"]["nodes"].as_array().unwrap().len())
            .sum();
        // 12 departments, all covered by exactly one seeded hub.
        assert_eq!(returned, 12 * orgs_per_department * aidants_per_org);
        eprintln!(
            "hubs → departments → organisations → aidants on {} aidants: {statements} SQL statements",
            returned
        );
        counts.push(statements);
        assert!(
            statements <= 8,
            "{statements} statements:\n{}",
            log.join("\n")
        );
    }
    assert_eq!(
        counts[0], counts[1],
        "statement counts vary with data size: {counts:?}"
    );
}

/// The `field.path:code` of each user error of a payload.
fn errors_at(payload: &Value) -> Vec<String> {
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
            format!("{}:{}", field.join("."), e["code"].as_str().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn the_api_and_the_import_refuse_the_same_values_with_every_problem_at_once() {
    let app = TestApp::spawn().await;
    let rhinocc = app.token("hub_coordinator", Some("rhinocc")).await;
    let mut input = org_input("31000000000078", "31");
    input["input"]["name"] = json!(" ");
    input["input"]["address"] = json!("a".repeat(301));
    input["input"]["postalCode"] = json!("3160");
    input["input"]["commune"] = json!("c".repeat(201));
    let (_, body) = app.post_as(Some(&rhinocc), CREATE_ORG, input).await;
    let payload = &body["data"]["createAidantsOrganisation"];
    assert_eq!(payload["organisation"], Value::Null, "{body:#}");
    assert_eq!(
        errors_at(payload),
        [
            "input.name:invalid_value",
            "input.address:invalid_value",
            "input.postalCode:invalid_value",
            "input.commune:invalid_value"
        ],
        "{body:#}"
    );

    let (_, body) = app
        .post_as(
            Some(&rhinocc),
            CREATE_ORG,
            org_input("31000000000078", "31"),
        )
        .await;
    let org = body["data"]["createAidantsOrganisation"]["organisation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body:#}"))
        .to_owned();
    const CREATE: &str = "mutation($input: CreateAidantInput!) { createAidant(input: $input) {
        aidant { id version } userErrors { field code message } } }";
    let (_, body) = app
        .post_as(
            Some(&rhinocc),
            CREATE,
            json!({ "input": { "firstName": "", "lastName": "x".repeat(201), "email": "nope",
                "profession": "p".repeat(201), "organisations": [org], "status": "REQUESTED" } }),
        )
        .await;
    assert_eq!(
        errors_at(&body["data"]["createAidant"]),
        [
            "input.firstName:invalid_value",
            "input.lastName:invalid_value",
            "input.email:invalid_value",
            "input.profession:invalid_value"
        ],
        "{body:#}"
    );
    let (_, body) = app
        .post_as(
            Some(&rhinocc),
            CREATE,
            json!({ "input": { "firstName": "Léa", "lastName": "Durand", "email": "lea@example.org",
                "organisations": [org], "status": "REQUESTED" } }),
        )
        .await;
    let id = body["data"]["createAidant"]["aidant"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body:#}"))
        .to_owned();
    let (_, body) = app
        .post_as(
            Some(&rhinocc),
            "mutation($input: UpdateAidantInput!) { updateAidant(input: $input) { aidant { id } userErrors { field code message } } }",
            json!({ "input": { "id": id, "version": 1, "profession": "p".repeat(201), "organisations": [] } }),
        )
        .await;
    assert_eq!(
        errors_at(&body["data"]["updateAidant"]),
        [
            "input.profession:invalid_value",
            "input.organisations:invalid_value"
        ],
        "{body:#}"
    );

    // The same profession in a file: the row is refused, reported at its line and column.
    let file = app.dir.path().join("long-profession.csv");
    std::fs::write(
        &file,
        format!(
            "email,nom,prenom,profession,organisations,statut\n\
             ali@example.org,Benali,Ali,secrétaire de mairie,31000000000078,requested\n\
             zoe@example.org,Petit,Zoé,{long},31000000000078,requested\n",
            long = "p".repeat(201)
        ),
    )
    .unwrap();
    let out = app
        .cli(&["aidants", "import", "aidants", file.to_str().unwrap()])
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    assert_eq!(summary_number(&stdout, "stored"), 1, "{stdout}");
    assert_eq!(summary_number(&stdout, "rejected"), 1, "{stdout}");
    let report =
        std::fs::read_to_string(app.dir.path().join("aidants-import-report-aidants.csv")).unwrap();
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("3,zoe@example.org,rejected,profession,")
                && l.contains("at most 200 characters")),
        "{report}"
    );
}
