//! Funding over HTTP: concurrent signatures against one envelope, quotes from the seeded rules, drill-downs, and
//! what anonymous callers may see.

use crate::support::TestApp;
use serde_json::{Value, json};

const CREATE_ENVELOPE: &str = r#"mutation($input: CreateEnvelopeInput!) { createEnvelope(input: $input) { envelope { id code version amount { cents } } userErrors { field code message } } }"#;
const CREATE_GRANT: &str = r#"mutation($input: CreateGrantInput!) { createGrant(input: $input) { grant { id version status } userErrors { field code message } } }"#;
const SIGN_GRANT: &str = r#"mutation($input: GrantVersionInput!) { signGrant(input: $input) { grant { id version status } userErrors { field code message } } }"#;
const DISBURSE: &str = r#"mutation($input: RecordDisbursementInput!) { recordDisbursement(input: $input) { disbursement { id amount { cents euros } } userErrors { field code message } } }"#;
const CONSUMPTION: &str = r#"query($code: String!) { envelope(code: $code) { amount { cents } consumption { amount { cents } committed { cents } disbursed { cents } remaining { cents euros } } } }"#;

fn cents(v: &Value) -> i64 {
    v["cents"]
        .as_i64()
        .unwrap_or_else(|| panic!("no cents in {v}"))
}

/// Creates a root envelope as admin; returns its id.
async fn envelope(app: &TestApp, admin: &str, code: &str, amount_cents: i64) -> String {
    let (_, body) = app
        .post_as(
            Some(admin),
            CREATE_ENVELOPE,
            json!({ "input": { "code": code, "name": format!("Test {code}"), "amount": amount_cents } }),
        )
        .await;
    let e = &body["data"]["createEnvelope"]["envelope"];
    assert!(e.is_object(), "{body}");
    e["id"].as_str().unwrap().to_owned()
}

fn grant_input(envelope: &str, amount_cents: i64, department: &str) -> Value {
    json!({
        "envelopeId": envelope,
        "beneficiaryKind": "HOST_STRUCTURE",
        "beneficiaryRef": "siret:12345678900011",
        "beneficiaryName": "Association Numérique Pour Tous",
        "contact": "Camille Martin <camille.martin@example.org>",
        "department": department,
        "amount": amount_cents,
        "posts": 1,
        "startsOn": "2021-03-01"
    })
}

/// Creates a draft grant; returns (id, version).
async fn draft(app: &TestApp, token: &str, input: Value) -> (String, i64) {
    let (_, body) = app
        .post_as(Some(token), CREATE_GRANT, json!({ "input": input }))
        .await;
    let g = &body["data"]["createGrant"]["grant"];
    assert!(g.is_object(), "{body}");
    assert_eq!(g["status"], "DRAFT");
    (
        g["id"].as_str().unwrap().to_owned(),
        g["version"].as_i64().unwrap(),
    )
}

/// The acceptance test of the funding issue: 64 concurrent `signGrant` against an envelope with room for exactly
/// 10 grants → exactly 10 succeed, 54 get a userError, and committed ≤ envelope afterwards.
#[tokio::test]
async fn sixty_four_concurrent_signatures_fill_an_envelope_with_room_for_exactly_ten() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let reviewer = app.token("bdt_reviewer", None).await;
    let per_grant = 5_000_000; // 50 000,00 €
    let env = envelope(&app, &admin, "E2E-RACE", 10 * per_grant).await;
    let mut drafts = Vec::new();
    for _ in 0..64 {
        drafts.push(draft(&app, &admin, grant_input(&env, per_grant, "973")).await);
    }
    let responses = futures::future::join_all(drafts.iter().map(|(id, version)| {
        app.post_as(
            Some(&reviewer),
            SIGN_GRANT,
            json!({ "input": { "id": id, "version": version } }),
        )
    }))
    .await;
    let mut signed = 0;
    let mut refused = 0;
    for (status, body) in &responses {
        assert_eq!(*status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        let payload = &body["data"]["signGrant"];
        match payload["grant"]["status"].as_str() {
            Some("SIGNED") => {
                assert_eq!(payload["userErrors"], json!([]));
                signed += 1;
            }
            _ => {
                assert_eq!(
                    payload["userErrors"][0]["code"], "envelope_exceeded",
                    "{body}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!((signed, refused), (10, 54));
    let body = app.data(CONSUMPTION, json!({ "code": "E2E-RACE" })).await;
    let c = &body["envelope"]["consumption"];
    assert_eq!(cents(&c["committed"]), 10 * per_grant);
    assert!(cents(&c["committed"]) <= cents(&c["amount"]));
    assert_eq!(cents(&c["remaining"]), 0);
}

/// A quote for 3 posts at a private host and at a public host in 973, under both seeded sources.
#[tokio::test]
async fn grant_quotes_for_three_posts_in_973_match_the_seeded_rules() {
    let app = TestApp::spawn().await;
    let q = r#"query($kind: HostKind!, $date: NaiveDate) { grantQuote(hostKind: $kind, department: "973", posts: 3, date: $date) { rule { source amountPerPost { cents } departmentCode validFrom validTo } lines { label unit { cents } posts total { cents } } total { cents euros } } }"#;
    let cases = [
        // Open-data export: 32 000 € private, 70 000 € public in 973, + 4 805 € + 297,23 € + 326,60 € per post.
        (
            "PRIVATE",
            "2022-06-01",
            3 * (3_200_000 + 480_500 + 29_723 + 32_660),
            4,
        ),
        (
            "PUBLIC",
            "2022-06-01",
            3 * (7_000_000 + 480_500 + 29_723 + 32_660),
            4,
        ),
        // Announcement of Nov 2020: 40 000 € private, 50 000 € public, no extras.
        ("PRIVATE", "2021-03-01", 3 * 4_000_000, 1),
        ("PUBLIC", "2021-03-01", 3 * 5_000_000, 1),
    ];
    for (kind, date, total, lines) in cases {
        let body = app.data(q, json!({ "kind": kind, "date": date })).await;
        let quote = &body["grantQuote"];
        assert_eq!(cents(&quote["total"]), total, "{kind} {date}: {body}");
        let lines_v = quote["lines"].as_array().unwrap();
        assert_eq!(lines_v.len(), lines, "{body}");
        let sum: i64 = lines_v.iter().map(|l| cents(&l["total"])).sum();
        assert_eq!(sum, total);
        for l in lines_v {
            assert_eq!(cents(&l["unit"]) * 3, cents(&l["total"]));
        }
    }
    let body = app
        .data(q, json!({ "kind": "PUBLIC", "date": "2022-06-01" }))
        .await;
    assert_eq!(body["grantQuote"]["rule"]["departmentCode"], "973");
    assert_eq!(body["grantQuote"]["total"]["euros"], "226 286,49 €");
}

/// Anonymous callers read envelopes, totals, drill-downs and grants, never contacts; writes need BdT or admin.
#[tokio::test]
async fn anonymous_sees_totals_not_contacts_and_only_bdt_and_admins_write() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let reviewer = app.token("bdt_reviewer", None).await;
    let coordinator = app.token("hub_coordinator", Some("hinaura")).await;
    let partner = app.token("partner", None).await;
    // The seeded plan is there.
    let body = app.data(CONSUMPTION, json!({ "code": "FR-PLAN" })).await;
    assert_eq!(cents(&body["envelope"]["amount"]), 25_000_000_000);
    let env = envelope(&app, &admin, "E2E-VIS", 100_000_000).await;
    // Writes: anonymous → unauthenticated; partner and hub coordinator → forbidden.
    let (_, body) = app
        .post_as(
            None,
            CREATE_GRANT,
            json!({ "input": grant_input(&env, 100, "69") }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "unauthenticated");
    for token in [&partner, &coordinator] {
        let (_, body) = app
            .post_as(
                Some(token),
                CREATE_GRANT,
                json!({ "input": grant_input(&env, 100, "69") }),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "forbidden",
            "{body}"
        );
    }
    let (_, body) = app
        .post_as(
            Some(&reviewer),
            CREATE_ENVELOPE,
            json!({ "input": { "code": "NOPE", "name": "x", "amount": 1 } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "forbidden");
    // Grants in three departments of two regions, signed and partly paid.
    let mut ids = Vec::new();
    for (dep, amount) in [("69", 3_000_000), ("01", 2_000_000), ("13", 1_000_000)] {
        let (id, version) = draft(&app, &reviewer, grant_input(&env, amount, dep)).await;
        let (_, body) = app
            .post_as(
                Some(&reviewer),
                SIGN_GRANT,
                json!({ "input": { "id": id, "version": version } }),
            )
            .await;
        assert_eq!(
            body["data"]["signGrant"]["grant"]["status"], "SIGNED",
            "{body}"
        );
        // Signing again at the old version: a stale version, as a userError.
        let (_, again) = app
            .post_as(
                Some(&reviewer),
                SIGN_GRANT,
                json!({ "input": { "id": id, "version": version } }),
            )
            .await;
        assert_eq!(
            again["data"]["signGrant"]["userErrors"][0]["code"],
            "stale_version"
        );
        ids.push((id, amount));
    }
    let (first, first_amount) = &ids[0];
    let (_, body) = app
        .post_as(
            Some(&reviewer),
            DISBURSE,
            json!({ "input": { "grantId": first, "amount": first_amount / 2, "paidOn": "2021-06-01" } }),
        )
        .await;
    assert_eq!(
        body["data"]["recordDisbursement"]["disbursement"]["amount"]["euros"],
        "15 000,00 €"
    );
    let (_, body) = app
        .post_as(
            Some(&reviewer),
            DISBURSE,
            json!({ "input": { "grantId": first, "amount": first_amount, "paidOn": "2021-07-01" } }),
        )
        .await;
    assert_eq!(
        body["data"]["recordDisbursement"]["userErrors"][0]["code"],
        "grant_exceeded"
    );
    // Drill-down per region and department adds up to the envelope, for everyone.
    let q = r#"query { envelope(code: "E2E-VIS") { consumption { committed { cents } disbursed { cents } } regions: drillDown(by: REGION) { key label committed { cents } disbursed { cents } } departments: drillDown(by: DEPARTMENT) { key regionCode committed { cents } } grants(first: 10) { totalCount nodes { beneficiaryName contact amount { cents } disbursed { cents } } } } }"#;
    let anon = app.data(q, json!({})).await;
    let e = &anon["envelope"];
    let committed = cents(&e["consumption"]["committed"]);
    assert_eq!(committed, 6_000_000);
    assert_eq!(cents(&e["consumption"]["disbursed"]), 1_500_000);
    let regions = e["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 2, "{anon}");
    assert_eq!(
        regions.iter().map(|r| cents(&r["committed"])).sum::<i64>(),
        committed
    );
    let ara = regions.iter().find(|r| r["key"] == "84").unwrap();
    assert_eq!(cents(&ara["committed"]), 5_000_000);
    assert_eq!(cents(&ara["disbursed"]), 1_500_000);
    let deps = e["departments"].as_array().unwrap();
    assert_eq!(
        deps.iter()
            .filter(|d| d["regionCode"] == "84")
            .map(|d| cents(&d["committed"]))
            .sum::<i64>(),
        5_000_000
    );
    assert_eq!(e["grants"]["totalCount"], 3);
    for g in e["grants"]["nodes"].as_array().unwrap() {
        assert_eq!(g["beneficiaryName"], "Association Numérique Pour Tous");
        assert!(
            g["contact"].is_null(),
            "anonymous must not see contacts: {g}"
        );
    }
    // The BdT reviewer sees the contacts; the hub coordinator only in its departments (69, 01 — not 13).
    let (_, body) = app.post_as(Some(&reviewer), q, json!({})).await;
    assert!(
        body["data"]["envelope"]["grants"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["contact"].is_string())
    );
    let (_, body) = app.post_as(Some(&coordinator), q, json!({})).await;
    let visible = body["data"]["envelope"]["grants"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["contact"].is_string())
        .count();
    assert_eq!(visible, 2, "{body}");
}

/// Pass numérique programmes name the sites accepting the vouchers, as typed site IDs.
#[tokio::test]
async fn pass_programmes_link_sites_and_check_vouchers() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let (_, body) = app
        .post_as(
            Some(&admin),
            r#"mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } userErrors { code message } } }"#,
            json!({ "input": {
                "source": "pass-test", "sourceId": "1", "name": "Médiathèque", "commune": "Bordeaux",
                "postalCode": "33000", "address": "1 cours Victor Hugo"
            } }),
        )
        .await;
    let site = body["data"]["createSite"]["site"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let create = r#"mutation($input: PassProgrammeInput!) { createPassProgramme(input: $input) { programme { id version vouchersIssued vouchersUsed siteIds sites { name } amount { euros } } userErrors { field code message } } }"#;
    let (_, body) = app
        .post_as(
            Some(&admin),
            create,
            json!({ "input": { "collectivite": "Bordeaux Métropole", "department": "33", "amount": 25_000_000,
                "vouchersIssued": 10_000, "vouchersUsed": 20_000, "siteIds": [site] } }),
        )
        .await;
    assert_eq!(
        body["data"]["createPassProgramme"]["userErrors"][0]["field"],
        json!(["input", "vouchersUsed"]),
        "{body}"
    );
    let (_, body) = app
        .post_as(
            Some(&admin),
            create,
            json!({ "input": { "collectivite": "Bordeaux Métropole", "department": "33", "amount": 25_000_000,
                "vouchersIssued": 10_000, "vouchersUsed": 2_000, "siteIds": [site] } }),
        )
        .await;
    let p = &body["data"]["createPassProgramme"]["programme"];
    assert_eq!(p["siteIds"], json!([site]), "{body}");
    assert_eq!(p["sites"][0]["name"], "Médiathèque");
    assert_eq!(p["amount"]["euros"], "250 000,00 €");
    let list = app
        .data(
            "{ passProgrammes { collectivite vouchersUsed } }",
            json!({}),
        )
        .await;
    assert_eq!(list["passProgrammes"][0]["vouchersUsed"], 2_000);
}
