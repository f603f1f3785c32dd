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

/// A grant to the conseil départemental of `department` (a collectivité the territories know; no rule applies).
fn grant_input(envelope: &str, amount_cents: i64, department: &str) -> Value {
    json!({
        "envelopeId": envelope,
        "beneficiaryKind": "COLLECTIVITE",
        "beneficiaryRef": format!("department:{department}"),
        "contact": "Camille Martin <camille.martin@example.org>",
        "department": department,
        "amount": amount_cents,
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
    let q = r#"query($kind: HostKind!, $date: Date) { grantQuote(hostKind: $kind, department: "973", posts: 3, date: $date) { rule { source amountPerPost { cents } departmentCode validFrom validTo } lines { label unit { cents } posts total { cents } } total { cents euros } } }"#;
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
        assert!(
            g["beneficiaryName"]
                .as_str()
                .unwrap()
                .starts_with("Département "),
            "{g}"
        );
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
    let create = r#"mutation($input: PassProgrammeInput!) { createPassProgramme(input: $input) { programme { id version vouchersIssued vouchersUsed siteIds sites { nodes { name } } amount { euros } } userErrors { field code message } } }"#;
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
    assert_eq!(p["sites"]["nodes"][0]["name"], "Médiathèque");
    assert_eq!(p["amount"]["euros"], "250 000,00 €");
    let list = app
        .data(
            "{ passProgrammes { collectivite vouchersUsed } }",
            json!({}),
        )
        .await;
    assert_eq!(list["passProgrammes"][0]["vouchersUsed"], 2_000);
}

// ---- Funding that adds up (issue 20) ----

const CREATE_GRANT_FULL: &str = r#"mutation($input: CreateGrantInput!) { createGrant(input: $input) { grant { id status amount { cents } expectedAmount { cents } ruleId hostKind departmentCode beneficiaryName fundedPostsRef decisionDate overrideReason } userErrors { field code message } } }"#;

fn siret(n: u64) -> String {
    let base = format!("{n:013}");
    (0..10)
        .map(|k| format!("{base}{k}"))
        .find(|s| maillage_core::Siret::parse(s).is_ok())
        .unwrap()
}

/// A commune of the Rhône (host structure) with a post request granting 3 posts; returns (structure, post) IDs.
async fn commune_69(app: &TestApp, admin: &str) -> (String, String) {
    let (_, body) = app
        .post_as(
            Some(admin),
            "mutation($input: CreateHostStructureInput!) { createHostStructure(input: $input) { hostStructure { id fundingKind } userErrors { code message } } }",
            json!({ "input": { "siret": siret(6_900_001), "name": "Commune de Villeurbanne", "kind": "COMMUNE", "department": "69" } }),
        )
        .await;
    let structure = body["data"]["createHostStructure"]["hostStructure"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let (_, body) = app
        .post_as(
            Some(admin),
            "mutation($input: CreateFundedPostInput!) { createFundedPost(input: $input) { fundedPost { id } userErrors { code message } } }",
            json!({ "input": { "structureId": structure, "requested": 3, "granted": 3, "decision": "ACCEPTED", "committeeDate": "2021-03-10" } }),
        )
        .await;
    let post = body["data"]["createFundedPost"]["fundedPost"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    (structure, post)
}

async fn envelope_id(app: &TestApp, code: &str) -> String {
    let body = app
        .data(
            "query($code: String!) { envelope(code: $code) { id } }",
            json!({ "code": code }),
        )
        .await;
    body["envelope"]["id"].as_str().unwrap().to_owned()
}

/// `createGrant(amount: 1 €, posts: 3, beneficiaryRef: "does-not-exist")` is refused: the beneficiary is unknown
/// and the amount differs from the rule, which the userError names with the expected amount; three posts of a
/// commune of the Rhône decided in March 2021 come out at 150 000 €.
#[tokio::test]
async fn a_one_euro_grant_is_refused_naming_the_rule_and_three_posts_in_69_make_150_000_euros() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let reviewer = app.token("bdt_reviewer", None).await;
    let cnfs = envelope_id(&app, "FR-CNFS").await;
    let (_, body) = app
        .post_as(
            Some(&reviewer),
            CREATE_GRANT_FULL,
            json!({ "input": {
                "envelopeId": cnfs, "beneficiaryKind": "HOST_STRUCTURE", "beneficiaryRef": "does-not-exist",
                "hostKind": "PUBLIC", "department": "69", "amount": 100, "posts": 3,
                "decisionDate": "2021-03-15", "startsOn": "2021-04-01"
            } }),
        )
        .await;
    let payload = &body["data"]["createGrant"];
    assert!(payload["grant"].is_null(), "{body}");
    let errors = payload["userErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(errors[0]["code"], "not_found");
    assert_eq!(
        errors[0]["field"],
        json!(["input", "beneficiary", "reference"])
    );
    assert_eq!(errors[1]["code"], "amount_mismatch");
    assert_eq!(errors[1]["field"], json!(["input", "amount"]));
    let message = errors[1]["message"].as_str().unwrap();
    assert!(message.contains("150 000,00 €"), "{message}");
    assert!(
        message.contains("(public host, all departments, 2020-11-17 to 2021-12-31"),
        "{message}"
    );
    // The rule named is the one `fundingRules` lists.
    let rules = app
        .data("{ fundingRules { id description scheme } }", json!({}))
        .await;
    let named = rules["fundingRules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| message.contains(r["description"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("no rule named in {message}"));
    assert_eq!(named["scheme"], "FIXED");

    // The real commune: the rule gives 150 000 € (the 2020 announcement has no per-counsellor lines).
    let (structure, post) = commune_69(&app, &admin).await;
    let quote = app
        .data(
            r#"{ grantQuote(hostKind: PUBLIC, department: "69", posts: 3, date: "2021-03-15") { total { cents } lines { label detail } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(cents(&quote["grantQuote"]["total"]), 15_000_000);
    assert_eq!(
        quote["grantQuote"]["lines"],
        json!([{ "label": "grant per post", "detail": "50 000,00 € per post × 3 = 150 000,00 €" }])
    );
    let input = |amount: i64, posts: i64, reason: Option<&str>| {
        json!({ "input": {
            "envelopeId": cnfs, "beneficiaryKind": "HOST_STRUCTURE", "beneficiaryRef": structure,
            "fundedPosts": post, "amount": amount, "posts": posts, "decisionDate": "2021-03-15",
            "startsOn": "2021-04-01", "overrideReason": reason
        } })
    };
    let (_, body) = app
        .post_as(Some(&reviewer), CREATE_GRANT_FULL, input(100, 3, None))
        .await;
    let errors = body["data"]["createGrant"]["userErrors"]
        .as_array()
        .unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["code"], "amount_mismatch");
    let (_, body) = app
        .post_as(
            Some(&reviewer),
            CREATE_GRANT_FULL,
            input(20_000_000, 4, None),
        )
        .await;
    assert!(
        body["data"]["createGrant"]["userErrors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "exceeds_funded_posts"),
        "{body}"
    );
    let (_, body) = app
        .post_as(
            Some(&reviewer),
            CREATE_GRANT_FULL,
            input(15_000_000, 3, None),
        )
        .await;
    let g = &body["data"]["createGrant"]["grant"];
    assert_eq!(cents(&g["amount"]), 15_000_000, "{body}");
    assert_eq!(cents(&g["expectedAmount"]), 15_000_000);
    assert_eq!(g["hostKind"], "PUBLIC");
    assert_eq!(g["departmentCode"], "69");
    assert_eq!(g["beneficiaryName"], "Commune de Villeurbanne");
    assert_eq!(g["status"], "DRAFT");
    // A different amount with a reason is recorded, and the audit trail keeps the reason and the expected amount.
    let (_, body) = app
        .post_as(
            Some(&reviewer),
            CREATE_GRANT_FULL,
            input(12_000_000, 3, Some("Avenant n° 2: start delayed")),
        )
        .await;
    let g = &body["data"]["createGrant"]["grant"];
    assert_eq!(g["overrideReason"], "Avenant n° 2: start delayed", "{body}");
    assert_eq!(cents(&g["expectedAmount"]), 15_000_000);
}

/// The salary-based rule: 100 % of the SMIC over 2 years, 70 % over 3, with the SMIC in force at the date.
#[tokio::test]
async fn the_salary_based_rule_quotes_two_and_three_year_contracts() {
    let app = TestApp::spawn().await;
    let q = r#"query($years: Int) { grantQuote(hostKind: PRIVATE, department: "13", posts: 1, date: "2021-03-15", contractYears: $years) { rule { scheme salaryReference salarySharePct salaryYears } lines { label unit { cents } detail } total { cents euros } } referenceSalaries { code validFrom monthly { cents } source } }"#;
    let two = app.data(q, json!({ "years": 2 })).await;
    // SMIC from 1 Jan 2021 (décret n° 2020-1598): 1 554,58 € × 12 × 2 × 100 % = 37 309,92 €.
    assert_eq!(cents(&two["grantQuote"]["total"]), 3_730_992, "{two}");
    assert_eq!(two["grantQuote"]["rule"]["salarySharePct"], 100);
    assert_eq!(
        two["grantQuote"]["lines"][0]["detail"],
        "SMIC 1 554,58 € monthly (in force from 2021-01-01) × 12 months × 2 years × 100 % × 1 = 37 309,92 €"
    );
    let three = app.data(q, json!({ "years": 3 })).await;
    // 1 554,58 € × 12 × 3 × 70 % = 39 175,416 € → 39 175,42 €.
    assert_eq!(cents(&three["grantQuote"]["total"]), 3_917_542, "{three}");
    assert_eq!(three["grantQuote"]["rule"]["scheme"], "SALARY_SHARE");
    let fixed = app.data(q, json!({ "years": null })).await;
    assert_eq!(cents(&fixed["grantQuote"]["total"]), 4_000_000);
    let smic = two["referenceSalaries"].as_array().unwrap();
    assert!(smic.iter().any(|s| s["validFrom"] == "2021-01-01"
        && cents(&s["monthly"]) == 155_458
        && s["source"].as_str().unwrap().contains("2020-1598")));
}

/// 64 concurrent Pass numérique programmes against an envelope with room for exactly 10: exactly 10 recorded.
#[tokio::test]
async fn sixty_four_concurrent_pass_programmes_never_over_commit() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let reviewer = app.token("bdt_reviewer", None).await;
    let each = 2_500_000; // 25 000,00 €
    let env = envelope(&app, &admin, "E2E-PASS-RACE", 10 * each).await;
    let create = r#"mutation($input: PassProgrammeInput!) { createPassProgramme(input: $input) { programme { id envelopeId } userErrors { code } } }"#;
    let responses = futures::future::join_all((0..64).map(|i| {
        app.post_as(
            Some(&reviewer),
            create,
            json!({ "input": { "collectivite": format!("Commune {i}"), "amount": each, "envelopeId": env, "signedOn": "2021-06-01" } }),
        )
    }))
    .await;
    let mut created = 0;
    let mut refused = 0;
    for (status, body) in &responses {
        assert_eq!(*status, 200, "{body}");
        let payload = &body["data"]["createPassProgramme"];
        if payload["programme"].is_object() {
            assert_eq!(payload["programme"]["envelopeId"], env.as_str());
            created += 1;
        } else {
            assert_eq!(
                payload["userErrors"][0]["code"], "envelope_exceeded",
                "{body}"
            );
            refused += 1;
        }
    }
    assert_eq!((created, refused), (10, 54));
    let body = app
        .data(CONSUMPTION, json!({ "code": "E2E-PASS-RACE" }))
        .await;
    let c = &body["envelope"]["consumption"];
    assert_eq!(cents(&c["committed"]), 10 * each);
    assert_eq!(cents(&c["remaining"]), 0);
    // The seeded PASS envelope targets 87 collectivités; a programme in it counts toward them.
    let (_, body) = app
        .post_as(
            Some(&reviewer),
            create,
            json!({ "input": { "collectivite": "Département de la Gironde", "amount": 50_000_000, "signedOn": "2021-02-01" } }),
        )
        .await;
    assert!(
        body["data"]["createPassProgramme"]["programme"].is_object(),
        "{body}"
    );
    let pass = app
        .data(
            r#"{ envelope(code: "PASS") { target { kind count } consumption { committed { cents } achieved target { count } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        pass["envelope"]["target"],
        json!({ "kind": "COLLECTIVITES", "count": 87 })
    );
    assert_eq!(
        cents(&pass["envelope"]["consumption"]["committed"]),
        50_000_000
    );
    assert_eq!(pass["envelope"]["consumption"]["achieved"], 1);
}

/// `maillage funding import grants FILE` loads 2021 conventions with their real dates; the envelope's consumption
/// per month follows the signature dates, and its target shows the progress (FR-CNFS-PRIVATE: 285 counsellors).
#[tokio::test]
async fn a_grants_file_with_2021_dates_imports_and_consumption_follows_its_months() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let (structure, post) = commune_69(&app, &admin).await;
    let file = app.dir.path().join("grants-2021.csv");
    std::fs::write(
        &file,
        format!(
            "envelope;beneficiary_kind;beneficiary_ref;funded_posts;posts;amount;decision_date;signed_on;closed_on\n\
             FR-CNFS;host_structure;{structure};{post};3;150000;2021-02-10;2021-03-05;\n\
             FR-CNFS-PRIVATE-CRF;collectivite;department:13;;0;40000;2021-04-20;2021-05-12;2021-12-31\n\
             FR-CNFS;hub;hinaura;;0;25000,50;2021-05-02;2021-05-20;\n"
        ),
    )
    .unwrap();
    let out = app
        .cli(&["funding", "import", "grants", file.to_str().unwrap()])
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("created:   3"), "{stdout}");
    let report =
        std::fs::read_to_string(app.dir.path().join("funding-import-report-grants.csv")).unwrap();
    assert!(
        report.starts_with("line,key,outcome,field,reason\n2,"),
        "{report}"
    );
    let body = app
        .data(
            r#"{ envelope(code: "FR-CNFS") { consumptionByMonth { month committed { cents } committedToDate { cents } } consumption { committed { cents } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        body["envelope"]["consumptionByMonth"],
        json!([
            { "month": "2021-03-01", "committed": { "cents": 15_000_000 }, "committedToDate": { "cents": 15_000_000 } },
            { "month": "2021-05-01", "committed": { "cents": 6_500_050 }, "committedToDate": { "cents": 21_500_050 } }
        ]),
        "{body}"
    );
    assert_eq!(
        cents(&body["envelope"]["consumption"]["committed"]),
        21_500_050
    );
    let private = app
        .data(
            r#"{ envelope(code: "FR-CNFS-PRIVATE") { amount { euros } target { kind count } } grants(filter: { status: [CLOSED] }) { nodes { decisionDate signedOn closedOn beneficiaryName } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(private["envelope"]["amount"]["euros"], "11 400 000,00 €");
    assert_eq!(
        private["envelope"]["target"],
        json!({ "kind": "COUNSELLORS", "count": 285 })
    );
    assert_eq!(
        private["grants"]["nodes"][0],
        json!({ "decisionDate": "2021-04-20", "signedOn": "2021-05-12", "closedOn": "2021-12-31", "beneficiaryName": "Département Bouches-du-Rhône" })
    );

    // A file with one bad row imports nothing, and the report names the file lines.
    let bad = app.dir.path().join("grants-bad.csv");
    std::fs::write(
        &bad,
        "envelope,beneficiary_kind,beneficiary_ref,amount,decision_date,signed_on\n\
         FR-CNFS,hub,hinaura,1000,2021-06-01,2021-06-02\n\
         FR-CNFS,host_structure,does-not-exist,1,2021-06-01,2021-06-02\n",
    )
    .unwrap();
    let out = app
        .cli(&[
            "funding",
            "import",
            "grants",
            bad.to_str().unwrap(),
            "--report",
            "bad.csv",
        ])
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3: input.beneficiary.reference"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    let body = app
        .data(
            r#"{ envelope(code: "FR-CNFS") { consumption { committed { cents } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        cents(&body["envelope"]["consumption"]["committed"]),
        21_500_050
    );

    // Pass numérique programmes too.
    let pass = app.dir.path().join("pass.csv");
    std::fs::write(
        &pass,
        "collectivite,department,amount,signed_on,vouchers_issued,vouchers_used,vouchers_on\n\
         Département de la Gironde,33,500000,2021-02-15,10000,2500,2021-06-30\n",
    )
    .unwrap();
    let out = app
        .cli(&["funding", "import", "pass", pass.to_str().unwrap()])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = app
        .data(
            r#"{ envelope(code: "PASS") { consumptionByMonth { month committed { cents } } } passProgrammes { signedOn voucherMovements { on issued used } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        body["envelope"]["consumptionByMonth"],
        json!([{ "month": "2021-02-01", "committed": { "cents": 50_000_000 } }])
    );
    assert_eq!(
        body["passProgrammes"][0],
        json!({ "signedOn": "2021-02-15", "voucherMovements": [{ "on": "2021-06-30", "issued": 10_000, "used": 2_500 }] })
    );
}
