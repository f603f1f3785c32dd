//! Statistics over HTTP: the grouped counts equal what the lists count, on the real hub files; historical grants
//! come out in the month they were really signed; vocabularies list the standard's labels.

use crate::support::{TestApp, shared_data};
use serde_json::{Value, json};

const SITE_STATS: &str = r#"query($by: [SiteStatisticsDimension!]!, $filter: SiteFilter, $empty: Boolean! = false) {
  statistics { sites(by: $by, filter: $filter, includeEmpty: $empty) { rows { keys { key label id } count } } } }"#;
const SITE_TOTAL: &str =
    r#"query($filter: SiteFilter) { sites(filter: $filter, first: 0) { totalCount } }"#;

fn rows(data: &Value, field: &str) -> Vec<Value> {
    data["statistics"][field]["rows"]
        .as_array()
        .unwrap()
        .clone()
}

async fn total(app: &TestApp, filter: Value) -> i64 {
    app.data(SITE_TOTAL, json!({ "filter": filter })).await["sites"]["totalCount"]
        .as_i64()
        .unwrap()
}

/// The acceptance test: on the imported hub files, sites per department × service (and per label, per public)
/// equal the `totalCount` of the `sites` list with the same criteria, zeros included.
#[tokio::test]
async fn site_statistics_equal_the_counts_of_the_lists() {
    let (Some(hinaura), Some(sud)) = (
        shared_data("lieux/hinaura-aura.json"),
        shared_data("lieux/hub-du-sud-paca.json"),
    ) else {
        return;
    };
    // Hundreds of list queries to compare with: throttling is another test's subject.
    let app = TestApp::spawn_with(maillage_server::config::ServeConfig {
        protection: maillage_server::config::ProtectionConfig {
            rate_limit_per_minute: 0,
            ..maillage_server::config::ProtectionConfig::default()
        },
        ..maillage_server::config::ServeConfig::default()
    })
    .await;
    app.import(&hinaura, "hinaura").await;
    app.import(&sud, "hub-du-sud").await;

    let data = app
        .data(
            SITE_STATS,
            json!({ "by": ["DEPARTMENT", "SERVICE"], "filter": { "hub": "hinaura" }, "empty": true }),
        )
        .await;
    let table = rows(&data, "sites");
    // Every department of the hub × every v1.0.2 service, with zeros.
    let departments: std::collections::BTreeSet<String> = table
        .iter()
        .map(|r| r["keys"][0]["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(departments.len(), 12, "{departments:?}");
    let mut nonzero = 0;
    for r in &table {
        let (d, s) = (&r["keys"][0], &r["keys"][1]);
        assert!(d["id"].is_string() && d["label"].is_string(), "{r}");
        let Some(service) = s["key"].as_str() else {
            continue;
        };
        let listed = total(
            &app,
            json!({ "departments": [d["key"]], "services": [service], "hub": "hinaura" }),
        )
        .await;
        assert_eq!(r["count"].as_i64().unwrap(), listed, "{r}");
        nonzero += i64::from(listed > 0);
    }
    assert!(
        nonzero > 5,
        "the real file has several services per department"
    );

    // Per department nationally: each equals the list's total; the sum is every site with a department.
    let data = app
        .data(SITE_STATS, json!({ "by": ["DEPARTMENT"], "empty": true }))
        .await;
    let table = rows(&data, "sites");
    let mut sum = 0;
    for r in &table {
        let count = r["count"].as_i64().unwrap();
        sum += count;
        if let Some(d) = r["keys"][0]["key"].as_str()
            && count > 0
        {
            assert_eq!(
                count,
                total(&app, json!({ "departments": [d] })).await,
                "{r}"
            );
        }
    }
    assert!(table.len() >= 101);
    assert_eq!(sum, total(&app, json!({})).await);

    // Per hub: the hub filter's total.
    let data = app.data(SITE_STATS, json!({ "by": ["HUB"] })).await;
    for r in rows(&data, "sites") {
        if let Some(slug) = r["keys"][0]["key"].as_str() {
            assert_eq!(
                r["count"].as_i64().unwrap(),
                total(&app, json!({ "hub": slug })).await,
                "{r}"
            );
        }
    }

    // Labels and publics, within a region.
    for (dimension, field) in [("LABEL", "labels"), ("PUBLIC", "publics")] {
        let data = app
            .data(
                SITE_STATS,
                json!({ "by": [dimension], "filter": { "region": "93" } }),
            )
            .await;
        let table = rows(&data, "sites");
        assert!(!table.is_empty());
        for r in table {
            if let Some(value) = r["keys"][0]["key"].as_str() {
                assert_eq!(
                    r["count"].as_i64().unwrap(),
                    total(&app, json!({ "region": "93", field: [value] })).await,
                    "{r}"
                );
            }
        }
    }

    // Sites per month: every site was recorded today, none archived.
    let today = chrono::Utc::now().format("%Y-%m").to_string();
    let data = app
        .data(
            r#"query($m: MonthRange!) { statistics { sitesPerMonth(months: $m) { rows { keys { key } count } } } }"#,
            json!({ "m": { "from": "2021-01", "to": today } }),
        )
        .await;
    let series = rows(&data, "sitesPerMonth");
    assert_eq!(series[0]["count"], 0);
    assert_eq!(
        series.last().unwrap()["count"].as_i64().unwrap(),
        total(&app, json!({})).await
    );
}

/// Historical grants keep their real signature date: recorded by an admin with `signedOn` in 2021, they are
/// committed money of March 2021 in the statistics, summed per hub and per month as the list shows them.
#[tokio::test]
async fn historical_grants_count_in_the_month_they_were_signed() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let (_, body) = app
        .post_as(
            Some(&admin),
            r#"mutation { createEnvelope(input: { code: "HIST", name: "Historique", amount: 100000000 }) { envelope { id } userErrors { message } } }"#,
            json!({}),
        )
        .await;
    let envelope = body["data"]["createEnvelope"]["envelope"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let record = r#"mutation($input: RecordGrantInput!) { recordGrant(input: $input) { grant { id status signedOn } userErrors { field code message } } }"#;
    for (department, amount, signed) in [
        ("69", 5_000_000, "2021-03-15"),
        ("01", 4_000_000, "2021-03-31"),
        ("13", 2_500_000, "2021-07-01"),
    ] {
        let (_, body) = app
            .post_as(
                Some(&admin),
                record,
                json!({ "input": {
                    "grant": {
                        "envelopeId": envelope,
                        "beneficiaryKind": "COLLECTIVITE",
                        "beneficiaryRef": format!("department:{department}"),
                        "department": department,
                        "amount": amount,
                        "decisionDate": "2021-02-01",
                        "startsOn": "2021-03-01"
                    },
                    "signedOn": signed
                } }),
            )
            .await;
        let grant = &body["data"]["recordGrant"]["grant"];
        assert_eq!(grant["signedOn"], signed, "{body}");
        assert_eq!(grant["status"], "SIGNED", "{body}");
    }
    let data = app
        .data(
            r#"{ statistics {
                 byMonth: grants(by: [MONTH], filter: { status: [SIGNED, CLOSED] }, months: { from: "2021-01", to: "2021-12" }, includeEmpty: true) { rows { keys { key } count amount } }
                 byHub: grants(by: [HUB], filter: { status: [SIGNED, CLOSED] }) { rows { keys { key label id } count amount } } } }"#,
            json!({}),
        )
        .await;
    let months = data["statistics"]["byMonth"]["rows"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    let march = &months[2];
    assert_eq!(march["keys"][0]["key"], "2021-03");
    assert_eq!(march["count"], 2);
    assert_eq!(march["amount"], 9_000_000);
    assert_eq!(months[6]["amount"], 2_500_000);
    assert_eq!(months[0]["count"], 0);
    let hubs = data["statistics"]["byHub"]["rows"].as_array().unwrap();
    let hinaura = hubs
        .iter()
        .find(|r| r["keys"][0]["key"] == "hinaura")
        .unwrap_or_else(|| panic!("{hubs:?}"));
    assert_eq!(hinaura["amount"], 9_000_000);
    let sud = hubs
        .iter()
        .find(|r| r["keys"][0]["key"] == "hub-du-sud")
        .unwrap();
    assert_eq!(sud["amount"], 2_500_000);
    // The list agrees: two committed grants in the Rhône and the Ain, one in the Bouches-du-Rhône.
    let listed = app
        .data(
            r#"{ grants(filter: { status: [SIGNED], department: "69" }, first: 0) { totalCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(listed["grants"]["totalCount"], 1);
}

#[tokio::test]
async fn vocabularies_list_the_standards_labels_with_their_version() {
    let app = TestApp::spawn().await;
    let data = app
        .data(
            r#"{ vocabularies { name standard version column closed values { label replaces } } }"#,
            json!({}),
        )
        .await;
    let lists = data["vocabularies"].as_array().unwrap();
    let services = lists.iter().find(|v| v["name"] == "services").unwrap();
    assert_eq!(services["version"], "1.0.2");
    assert_eq!(services["standard"], "Lieux de médiation numérique");
    assert_eq!(services["closed"], true);
    let values = services["values"].as_array().unwrap();
    assert_eq!(values.len(), 9);
    let admin = values
        .iter()
        .find(|v| v["label"] == "Aide aux démarches administratives")
        .unwrap();
    assert!(
        admin["replaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "Devenir autonome dans les démarches administratives")
    );
    for name in [
        "publics",
        "fees",
        "nationalProgrammes",
        "trainingLabels",
        "accessModes",
        "typologies",
        "demarches",
        "mandateDurations",
    ] {
        assert!(lists.iter().any(|v| v["name"] == name), "{name}");
    }
    let durations = lists
        .iter()
        .find(|v| v["name"] == "mandateDurations")
        .unwrap();
    assert_eq!(durations["values"][0]["label"], "ONE_DAY");
}

#[tokio::test]
async fn statistics_refuse_three_dimensions_and_bad_months() {
    let app = TestApp::spawn().await;
    let err = app
        .first_error(
            r#"{ statistics { sites(by: [REGION, DEPARTMENT, SERVICE]) { rows { count } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "invalid_value", "{err}");
    let err = app
        .first_error(
            r#"{ statistics { counsellorsPerMonth(months: { from: "2022-13", to: "2023-01" }) { rows { count } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "invalid_value", "{err}");
}

/// Every statistic with each of its dimensions, alone and paired with `DEPARTMENT`, with zeros: the SQL of each
/// runs on this backend (the figures themselves are checked above and in the domain crates).
#[tokio::test]
async fn every_statistic_runs_with_each_of_its_dimensions() {
    let app = TestApp::spawn_with(maillage_server::config::ServeConfig {
        protection: maillage_server::config::ProtectionConfig {
            rate_limit_per_minute: 0,
            ..maillage_server::config::ProtectionConfig::default()
        },
        ..maillage_server::config::ServeConfig::default()
    })
    .await;
    let fields: [(&str, &[&str]); 7] = [
        (
            "sites",
            &[
                "REGION",
                "DEPARTMENT",
                "HUB",
                "MONTH",
                "SERVICE",
                "PUBLIC",
                "LABEL",
                "TYPOLOGY",
                "FEE",
                "ACCESS_MODE",
                "SOURCE",
            ],
        ),
        (
            "counsellors",
            &[
                "REGION",
                "DEPARTMENT",
                "HUB",
                "MONTH",
                "STATUS",
                "HOST_KIND",
            ],
        ),
        (
            "posts",
            &[
                "REGION",
                "DEPARTMENT",
                "HUB",
                "MONTH",
                "DECISION",
                "HOST_KIND",
            ],
        ),
        (
            "aidants",
            &[
                "REGION",
                "DEPARTMENT",
                "HUB",
                "MONTH",
                "STATUS",
                "TRAINING_HUB",
            ],
        ),
        (
            "aidantsOrganisations",
            &[
                "REGION",
                "DEPARTMENT",
                "HUB",
                "MONTH",
                "KIND",
                "FRANCE_SERVICES",
            ],
        ),
        (
            "mandates",
            &[
                "REGION",
                "DEPARTMENT",
                "HUB",
                "MONTH",
                "DEMARCHE",
                "DURATION",
            ],
        ),
        (
            "grants",
            &[
                "REGION",
                "DEPARTMENT",
                "HUB",
                "MONTH",
                "STATUS",
                "HOST_KIND",
                "ENVELOPE",
                "BENEFICIARY_KIND",
            ],
        ),
    ];
    for (field, dimensions) in fields {
        for d in dimensions {
            for by in [format!("[{d}]"), format!("[{d}, DEPARTMENT]")] {
                if by == "[DEPARTMENT, DEPARTMENT]" {
                    continue;
                }
                let query = format!(
                    r#"{{ statistics {{ {field}(by: {by}, months: {{ from: "2021-01", to: "2021-03" }}, includeEmpty: true) {{ rows {{ keys {{ key label id }} count sum amount }} }} }} }}"#
                );
                let data = app.data(&query, json!({})).await;
                // Free codes (typologies, sources, envelopes) have no zero groups on an empty database.
                if !["TYPOLOGY", "SOURCE", "ENVELOPE"].contains(d) {
                    assert!(!rows(&data, field).is_empty(), "{query}");
                }
            }
        }
    }
    for (field, extra) in [
        ("sitesPerMonth", ""),
        ("counsellorsPerMonth", ", status: ACTIVE"),
    ] {
        for by in ["", ", by: DEPARTMENT", ", by: HUB", ", by: REGION"] {
            let query = format!(
                r#"{{ statistics {{ {field}(months: {{ from: "2021-01", to: "2021-03" }}{extra}{by}) {{ rows {{ keys {{ key }} count }} }} }} }}"#
            );
            let data = app.data(&query, json!({})).await;
            let _ = rows(&data, field);
        }
    }
    let data = app
        .data(
            r#"{ statistics { disbursements(by: [MONTH, HUB], includeEmpty: true, months: { from: "2021-01", to: "2021-02" }) { rows { count amount } } } }"#,
            json!({}),
        )
        .await;
    assert!(!rows(&data, "disbursements").is_empty());
}
