//! The AMI over HTTP: a dossier from draft to a hub with its grant, who sees what, attachments (anti-CSRF header,
//! PDF check, size limit), CSV exports, and a decision refused when the envelope is full.

use crate::support::{TestApp, fixture};
use serde_json::{Value, json};

const CREATE_ENVELOPE: &str = r#"mutation($input: CreateEnvelopeInput!) { createEnvelope(input: $input) { envelope { id code } userErrors { field code message } } }"#;
const CREATE_CAMPAIGN: &str = r#"mutation($input: CreateAmiCampaignInput!) { createAmiCampaign(input: $input) { campaign { id code criteria { code weight maxScore } } userErrors { field code message } } }"#;
const APPLICATION_FIELDS: &str = "id version status hubName applicant departmentCodes amountRequested { cents } changesRequested decision { reason awarded { cents } hubId grantId hub { slug name departments { code } } }";

/// An API token for `role` whose name (the applicant account, for `ami_applicant`) is `name`.
pub async fn token_named(app: &TestApp, role: &str, name: &str) -> String {
    let (_, secret) = maillage_access::create_token(
        &app.db.db,
        &maillage_core::Actor::cli(),
        maillage_access::NewToken {
            name: name.to_owned(),
            role: maillage_core::Role::parse(role).unwrap(),
            hub: None,
            expires_at: None,
        },
    )
    .await
    .unwrap();
    secret
}

/// The tokens of one scenario.
pub struct Cast {
    pub admin: String,
    pub alice: String,
    pub bob: String,
    pub reviewer_1: String,
    pub reviewer_2: String,
    pub partner: String,
}

impl Cast {
    pub async fn new(app: &TestApp) -> Self {
        Self {
            admin: token_named(app, "admin", "Opérateur").await,
            alice: token_named(app, "ami_applicant", "Association Bretagne Connectée").await,
            bob: token_named(app, "ami_applicant", "Coopérative Numérique Normande").await,
            reviewer_1: token_named(app, "bdt_reviewer", "BdT instructrice 1").await,
            reviewer_2: token_named(app, "bdt_reviewer", "BdT instructeur 2").await,
            partner: token_named(app, "partner", "Appli partenaire").await,
        }
    }
}

/// Runs a mutation or query as `token` and returns `data.<field>` after checking there was no GraphQL error.
pub async fn call(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
    field: &str,
) -> Value {
    let (status, body) = app.post_as(token, query, variables).await;
    assert_eq!(status, 200, "{body:#}");
    assert!(body["errors"].is_null(), "unexpected errors: {body:#}");
    body["data"][field].clone()
}

/// Runs a mutation that must succeed and returns its payload's `application`.
pub async fn mutate_ok(app: &TestApp, token: &str, mutation: &str, input: Value) -> Value {
    let query = format!(
        "mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ application {{ {APPLICATION_FIELDS} }} userErrors {{ field code message }} }} }}",
        input_type = input_type(mutation),
    );
    let payload = call(
        app,
        Some(token),
        &query,
        json!({ "input": input }),
        mutation,
    )
    .await;
    assert_eq!(payload["userErrors"], json!([]), "{mutation}: {payload:#}");
    payload["application"].clone()
}

/// Runs a mutation that must answer user errors and returns the first one's code.
pub async fn mutate_refused(app: &TestApp, token: &str, mutation: &str, input: Value) -> String {
    let query = format!(
        "mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ application {{ id }} userErrors {{ field code message }} }} }}",
        input_type = input_type(mutation),
    );
    let payload = call(
        app,
        Some(token),
        &query,
        json!({ "input": input }),
        mutation,
    )
    .await;
    assert!(payload["application"].is_null(), "{mutation}: {payload:#}");
    payload["userErrors"][0]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{mutation}: no user error in {payload:#}"))
        .to_owned()
}

fn input_type(mutation: &str) -> &'static str {
    match mutation {
        "createAmiApplication" => "CreateAmiApplicationInput",
        "updateAmiApplication" => "UpdateAmiApplicationInput",
        "requestAmiChanges" => "RequestAmiChangesInput",
        "selectAmiApplication" => "SelectAmiApplicationInput",
        "rejectAmiApplication" => "RejectAmiApplicationInput",
        _ => "AmiApplicationVersionInput",
    }
}

/// Creates a root envelope of `euros` as admin.
pub async fn envelope(app: &TestApp, admin: &str, code: &str, euros: i64) {
    let payload = call(
        app,
        Some(admin),
        CREATE_ENVELOPE,
        json!({ "input": { "code": code, "name": format!("Test {code}"), "amount": euros * 100 } }),
        "createEnvelope",
    )
    .await;
    assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
}

/// Opens a campaign today (its window encloses now) on the envelope `envelope_code`, with the 2020 AMI's money and
/// grid; returns its global ID.
pub async fn open_campaign(app: &TestApp, admin: &str, code: &str, envelope_code: &str) -> String {
    let payload = call(
        app,
        Some(admin),
        CREATE_CAMPAIGN,
        json!({ "input": {
            "code": code,
            "name": format!("AMI de test {code}"),
            "opensAt": "2020-11-17 00:00:00",
            "closesAt": "2099-06-30 23:59:59",
            "envelopeCode": envelope_code,
            "maxPerHub": 25_000_000,
            "qpvBonus": 5_000_000,
            "acvBonus": 5_000_000,
            "priorityRegions": ["53", "28", "44", "24"],
            "criteria": [
                { "code": "territorial_coverage", "label": "Couverture territoriale", "weight": 30, "maxScore": 10 },
                { "code": "partnership", "label": "Partenariat et consortium", "weight": 25, "maxScore": 10 },
                { "code": "action_programme", "label": "Programme d'actions", "weight": 30, "maxScore": 10 },
                { "code": "budget_realism", "label": "Réalisme du budget", "weight": 15, "maxScore": 10 }
            ]
        } }),
        "createAmiCampaign",
    )
    .await;
    assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
    payload["campaign"]["id"].as_str().unwrap().to_owned()
}

/// The content of a complete dossier covering `departments`.
pub fn content(hub_name: &str, departments: &[&str], euros: i64) -> Value {
    json!({
        "hubName": hub_name,
        "carrierName": format!("Porteur de {hub_name}"),
        "carrierSiret": "44306184100047",
        "carrierLegalForm": "association",
        "consortium": [
            { "name": "Département partenaire", "role": "co-financeur" },
            { "name": "Réseau des médiathèques", "siret": "73282932000074", "role": "lieux" }
        ],
        "departments": departments,
        "qpv": true,
        "acv": false,
        "actionProgramme": "Animer le réseau des lieux de médiation, former 200 aidants, outiller les collectivités.",
        "budget": [
            { "label": "Coordination (2 ETP)", "amount": 18_000_000 },
            { "label": "Formation des médiateurs", "amount": 9_000_000 }
        ],
        "amountRequested": euros * 100,
        "coFunding": [{ "funder": "Région", "amount": 5_000_000, "secured": true }],
        "governance": "Comité de pilotage trimestriel avec les départements et la Région."
    })
}

/// Opens a draft as `token` in `campaign` and returns `(id, version)`.
pub async fn draft(app: &TestApp, token: &str, campaign: &str, content: Value) -> (String, i64) {
    let mut input = content;
    input["campaignId"] = json!(campaign);
    let a = mutate_ok(app, token, "createAmiApplication", input).await;
    assert_eq!(a["status"], "DRAFT");
    (
        a["id"].as_str().unwrap().to_owned(),
        a["version"].as_i64().unwrap(),
    )
}

fn at(id: &str, version: i64) -> Value {
    json!({ "id": id, "version": version })
}

fn version(a: &Value) -> i64 {
    a["version"].as_i64().unwrap()
}

/// The number of audit entries of AMI dossiers (admin view).
async fn audit_count(app: &TestApp, admin: &str) -> i64 {
    let data = call(
        app,
        Some(admin),
        r#"{ auditLog(filter: { entityType: "ami_application" }, first: 0) { totalCount } }"#,
        json!({}),
        "auditLog",
    )
    .await;
    data["totalCount"].as_i64().unwrap()
}

/// The seeded 2020–2021 campaign is public, with its money and grid as data.
#[tokio::test]
async fn the_seeded_campaign_is_public_with_its_grid() {
    let app = TestApp::spawn().await;
    let data = call(
        &app,
        None,
        r#"{ amiCampaign(code: "AMI-HUBS-2020") { code name opensAtParis closesAtParis isOpen envelopeCode maxPerHub { cents } qpvBonus { cents } acvBonus { cents } priorityRegions { code name } criteria { code label weight maxScore } } }"#,
        json!({}),
        "amiCampaign",
    )
    .await;
    assert_eq!(data["closesAtParis"], "2021-06-30 23:59:59 CEST");
    assert_eq!(data["opensAtParis"], "2020-11-17 00:00:00 CET");
    assert_eq!(data["isOpen"], false);
    assert_eq!(data["envelopeCode"], "BDT-HUBS-AMI");
    assert_eq!(data["maxPerHub"]["cents"], 25_000_000);
    assert_eq!(data["qpvBonus"]["cents"], 5_000_000);
    assert_eq!(data["acvBonus"]["cents"], 5_000_000);
    let regions: Vec<&str> = data["priorityRegions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(regions.len(), 4, "{data:#}");
    assert!(regions.contains(&"Bretagne"), "{regions:?}");
    let weights: i64 = data["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["weight"].as_i64().unwrap())
        .sum();
    assert_eq!(weights, 100);
}

/// Uploads `bytes` to a dossier as `token`, with or without the anti-CSRF header; returns (status, body).
pub async fn upload(
    app: &TestApp,
    token: Option<&str>,
    application: &str,
    file_name: &str,
    content_type: &str,
    bytes: Vec<u8>,
    csrf_header: bool,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!(
            "{}/ami/applications/{application}/attachments",
            app.base
        ))
        .query(&[("fileName", file_name)])
        .header("content-type", content_type)
        .body(bytes);
    if csrf_header {
        request = request.header("x-maillage-upload", "1");
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// GETs a path of the API as `token`; returns (status, content type, bytes).
pub async fn get(app: &TestApp, token: Option<&str>, path: &str) -> (u16, String, Vec<u8>) {
    let mut request = app.client.get(format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

/// The number of attachments of a dossier, as its applicant lists them.
async fn attachment_count(app: &TestApp, token: &str, id: &str) -> usize {
    call(
        app,
        Some(token),
        VIEW,
        json!({ "id": id }),
        "amiApplication",
    )
    .await["attachments"]
        .as_array()
        .unwrap()
        .len()
}

fn code_of(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

fn pdf() -> Vec<u8> {
    std::fs::read(fixture("ami/programme.pdf")).unwrap()
}

/// A PDF of exactly `size` bytes: the fixture's content padded with a comment (still a PDF by its magic bytes).
fn pdf_of_size(size: usize) -> Vec<u8> {
    let mut bytes = pdf();
    bytes.extend(b"%");
    bytes.resize(size, b'x');
    bytes
}

const SCORE: &str = r#"mutation($input: ScoreAmiApplicationInput!) { scoreAmiApplication(input: $input) { scoreSheet { id version reviewer weighted scores { criterion score } } userErrors { field code message } } }"#;
const SELECT: &str = "selectAmiApplication";
const VIEW: &str = r#"query($id: ID!) { amiApplication(id: $id) { id version status applicant hubName changesRequested attachments { id fileName sizeBytes sha256 downloadPath } scoreSummary { reviews weightedMean spread } decision { reason awarded { cents } hubId grantId hub { slug name departments { code } } } } }"#;

/// Scores a dossier as `token` (scores in the grid's order) and returns the sheet.
pub async fn score(
    app: &TestApp,
    token: &str,
    application: &str,
    scores: [i64; 4],
    comment: &str,
) -> Value {
    let criteria = [
        "territorial_coverage",
        "partnership",
        "action_programme",
        "budget_realism",
    ];
    let scores: Vec<Value> = criteria
        .iter()
        .zip(scores)
        .map(|(c, s)| json!({ "criterion": c, "score": s }))
        .collect();
    let payload = call(
        app,
        Some(token),
        SCORE,
        json!({ "input": { "applicationId": application, "scores": scores, "comment": comment } }),
        "scoreAmiApplication",
    )
    .await;
    assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
    payload["scoreSheet"].clone()
}

/// Drafts, submits and starts reviewing a dossier; returns (id, version) under review.
async fn under_review(
    app: &TestApp,
    applicant: &str,
    reviewer: &str,
    campaign: &str,
    content: Value,
) -> (String, i64) {
    let (id, v) = draft(app, applicant, campaign, content).await;
    let a = mutate_ok(app, applicant, "submitAmiApplication", at(&id, v)).await;
    assert_eq!(a["status"], "SUBMITTED");
    let a = mutate_ok(app, reviewer, "startAmiReview", at(&id, version(&a))).await;
    assert_eq!(a["status"], "UNDER_REVIEW");
    (id, version(&a))
}

/// The issue's walk: draft → attachment → submit → review with changes requested → resubmit → two reviewers score
/// → select → the hub exists with its departments and the signed grant draws on the campaign's envelope; every
/// transition is in the audit log; reviewers download the attachment and export CSV.
#[tokio::test]
async fn a_dossier_goes_from_draft_to_a_hub_with_its_grant() {
    let app = TestApp::spawn().await;
    let cast = Cast::new(&app).await;
    envelope(&app, &cast.admin, "E2E-AMI", 2_300_000).await;
    let campaign = open_campaign(&app, &cast.admin, "E2E-AMI-OPEN", "E2E-AMI").await;

    // Draft, then a change of mind on the departments (the version moves on; an old version is refused).
    let (id, v) = draft(
        &app,
        &cast.alice,
        &campaign,
        content("Hub Armor Numérique", &["22"], 280_000),
    )
    .await;
    let mut changed = content("Hub Armor Numérique", &["22", "29"], 280_000);
    changed["id"] = json!(id);
    changed["version"] = json!(v);
    let a = mutate_ok(&app, &cast.alice, "updateAmiApplication", changed.clone()).await;
    assert_eq!(a["departmentCodes"], json!(["22", "29"]));
    assert_eq!(
        mutate_refused(&app, &cast.alice, "updateAmiApplication", changed).await,
        "stale_version"
    );
    let v = version(&a);

    // An attachment, listed in GraphQL with its checksum.
    let bytes = pdf();
    let (status, body) = upload(
        &app,
        Some(&cast.alice),
        &id,
        "programme.pdf",
        "application/pdf",
        bytes.clone(),
        true,
    )
    .await;
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(body["attachment"]["sizeBytes"], bytes.len());
    let view = call(
        &app,
        Some(&cast.alice),
        VIEW,
        json!({ "id": id }),
        "amiApplication",
    )
    .await;
    let attachment = &view["attachments"][0];
    assert_eq!(attachment["fileName"], "programme.pdf");
    assert_eq!(attachment["sha256"], body["attachment"]["sha256"]);
    let download_path = attachment["downloadPath"].as_str().unwrap().to_owned();

    // Submitted: reviewers see it; a reviewer asks for changes; the applicant edits and resubmits.
    let a = mutate_ok(&app, &cast.alice, "submitAmiApplication", at(&id, v)).await;
    assert_eq!(a["status"], "SUBMITTED");
    let listed = call(
        &app,
        Some(&cast.reviewer_1),
        r#"query($c: ID!) { amiApplications(filter: { campaign: $c, statuses: [SUBMITTED] }) { totalCount nodes { id hubName } } }"#,
        json!({ "c": campaign }),
        "amiApplications",
    )
    .await;
    assert_eq!(listed["totalCount"], 1);
    assert_eq!(listed["nodes"][0]["id"], json!(id));
    let a = mutate_ok(
        &app,
        &cast.reviewer_1,
        "startAmiReview",
        at(&id, version(&a)),
    )
    .await;
    assert_eq!(
        mutate_refused(&app, &cast.alice, "updateAmiApplication", {
            let mut c = content("Hub Armor Numérique", &["22", "29"], 280_000);
            c["id"] = json!(id);
            c["version"] = a["version"].clone();
            c
        })
        .await,
        "not_editable"
    );
    let a = mutate_ok(
        &app,
        &cast.reviewer_1,
        "requestAmiChanges",
        json!({ "id": id, "version": version(&a), "message": "Détaillez le budget de formation." }),
    )
    .await;
    assert_eq!(a["status"], "CHANGES_REQUESTED");
    let view = call(
        &app,
        Some(&cast.alice),
        VIEW,
        json!({ "id": id }),
        "amiApplication",
    )
    .await;
    assert_eq!(
        view["changesRequested"],
        "Détaillez le budget de formation."
    );
    let mut changed = content("Hub Armor Numérique", &["22", "29"], 280_000);
    changed["budget"][1]["label"] = json!("Formation des médiateurs (10 sessions de 2 jours)");
    changed["id"] = json!(id);
    changed["version"] = a["version"].clone();
    let a = mutate_ok(&app, &cast.alice, "updateAmiApplication", changed).await;
    let a = mutate_ok(
        &app,
        &cast.alice,
        "resubmitAmiApplication",
        at(&id, version(&a)),
    )
    .await;
    assert_eq!(a["status"], "RESUBMITTED");
    let a = mutate_ok(
        &app,
        &cast.reviewer_2,
        "startAmiReview",
        at(&id, version(&a)),
    )
    .await;
    assert_eq!(a["status"], "UNDER_REVIEW");

    // Two reviewers score: 77.5 and 68.5 on the 0–100 scale (weights 30/25/30/15, scores out of 10).
    let s1 = score(
        &app,
        &cast.reviewer_1,
        &id,
        [8, 7, 9, 6],
        "Bonne couverture, budget à affiner.",
    )
    .await;
    let s2 = score(
        &app,
        &cast.reviewer_2,
        &id,
        [6, 7, 7, 8],
        "Consortium solide.",
    )
    .await;
    assert!(
        (s1["weighted"].as_f64().unwrap() - 77.5).abs() < 1e-9,
        "{s1}"
    );
    assert!(
        (s2["weighted"].as_f64().unwrap() - 68.5).abs() < 1e-9,
        "{s2}"
    );
    let view = call(
        &app,
        Some(&cast.reviewer_1),
        VIEW,
        json!({ "id": id }),
        "amiApplication",
    )
    .await;
    assert_eq!(view["scoreSummary"]["reviews"], 2);
    assert!((view["scoreSummary"]["weightedMean"].as_f64().unwrap() - 73.0).abs() < 1e-9);
    assert!((view["scoreSummary"]["spread"].as_f64().unwrap() - 9.0).abs() < 1e-9);
    // A second sheet by the same reviewer is refused: one per reviewer per dossier.
    let payload = call(
        &app,
        Some(&cast.reviewer_1),
        SCORE,
        json!({ "input": { "applicationId": id, "scores": [
            { "criterion": "territorial_coverage", "score": 1 }, { "criterion": "partnership", "score": 1 },
            { "criterion": "action_programme", "score": 1 }, { "criterion": "budget_realism", "score": 1 } ] } }),
        "scoreAmiApplication",
    )
    .await;
    assert_eq!(
        payload["userErrors"][0]["code"], "already_reviewed",
        "{payload:#}"
    );

    // The decision: 280 000 € (cap 250 000 € + QPV bonus 50 000 €).
    let audit_before = audit_count(&app, &cast.admin).await;
    let a = mutate_ok(
        &app,
        &cast.admin,
        SELECT,
        json!({ "id": id, "version": view["version"], "awardedAmount": 28_000_000, "reason": "Lauréat 2021" }),
    )
    .await;
    assert_eq!(a["status"], "SELECTED");
    assert_eq!(audit_count(&app, &cast.admin).await, audit_before + 1);

    // The applicant sees the decision and, now, the summary (never the sheets).
    let view = call(
        &app,
        Some(&cast.alice),
        VIEW,
        json!({ "id": id }),
        "amiApplication",
    )
    .await;
    let decision = &view["decision"];
    assert_eq!(decision["awarded"]["cents"], 28_000_000);
    assert_eq!(decision["reason"], "Lauréat 2021");
    assert_eq!(view["scoreSummary"]["reviews"], 2);
    let (_, body) = app
        .post_as(
            Some(&cast.alice),
            r#"query($id: ID!) { amiApplication(id: $id) { scoreSheets { reviewer } } }"#,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(code_of(&body), "forbidden", "{body:#}");

    // The hub exists, public, with the dossier's departments.
    let slug = decision["hub"]["slug"].as_str().unwrap().to_owned();
    assert_eq!(decision["hub"]["name"], "Hub Armor Numérique");
    let hub = call(
        &app,
        None,
        r#"query($slug: String!) { hub(slug: $slug) { id name departments { code } } }"#,
        json!({ "slug": slug }),
        "hub",
    )
    .await;
    assert_eq!(hub["id"], decision["hubId"]);
    let mut departments: Vec<&str> = hub["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    departments.sort_unstable();
    assert_eq!(departments, ["22", "29"]);

    // The grant: signed, for that hub, drawing on the campaign's envelope.
    let grant = call(
        &app,
        None,
        r#"query($id: ID!) { grant(id: $id) { status amount { cents } hubId beneficiaryKind beneficiaryName envelope { code } } }"#,
        json!({ "id": decision["grantId"] }),
        "grant",
    )
    .await;
    assert_eq!(grant["status"], "SIGNED", "{grant:#}");
    assert_eq!(grant["amount"]["cents"], 28_000_000);
    assert_eq!(grant["hubId"], decision["hubId"]);
    assert_eq!(grant["beneficiaryKind"], "HUB");
    assert_eq!(grant["envelope"]["code"], "E2E-AMI");
    let envelope = call(
        &app,
        None,
        r#"{ envelope(code: "E2E-AMI") { consumption { committed { cents } } grants(first: 10) { totalCount } } }"#,
        json!({}),
        "envelope",
    )
    .await;
    assert_eq!(envelope["consumption"]["committed"]["cents"], 28_000_000);
    assert_eq!(envelope["grants"]["totalCount"], 1);

    // Every transition is in the audit log, by who made it.
    let log = call(
        &app,
        Some(&cast.admin),
        r#"{ auditLog(filter: { entityType: "ami_application" }, first: 100) { nodes { action actorRole } } }"#,
        json!({}),
        "auditLog",
    )
    .await;
    let actions: Vec<(&str, &str)> = log["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["action"].as_str().unwrap(),
                n["actorRole"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("submit", "ami_applicant"),
        ("start_review", "bdt_reviewer"),
        ("request_changes", "bdt_reviewer"),
        ("resubmit", "ami_applicant"),
        ("select", "admin"),
    ] {
        assert!(
            actions.contains(&expected),
            "{expected:?} missing from {actions:?}"
        );
    }

    // The attachment: the applicant and reviewers download the same bytes; another applicant gets 404.
    for token in [&cast.alice, &cast.reviewer_2, &cast.admin] {
        let (status, content_type, body) = get(&app, Some(token), &download_path).await;
        assert_eq!(status, 200);
        assert_eq!(content_type, "application/pdf");
        assert_eq!(body, bytes);
    }
    let (status, _, _) = get(&app, Some(&cast.bob), &download_path).await;
    assert_eq!(status, 404);
    let (status, _, _) = get(&app, None, &download_path).await;
    assert_eq!(status, 401);
    let (status, _, _) = get(&app, Some(&cast.partner), &download_path).await;
    assert_eq!(status, 403);

    // CSV exports for reviewers: the dossier with its summary, and its 8 scores; refused to applicants.
    let (status, content_type, csv) = get(
        &app,
        Some(&cast.reviewer_1),
        "/ami/export/applications.csv?campaign=E2E-AMI-OPEN",
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.contains("Hub Armor Numérique") && csv.contains("selected"),
        "{csv}"
    );
    // The export names the dossier, its hub and its grant by the API's own global IDs (not database ids): what a
    // reviewer copies from the spreadsheet is accepted by `node(id:)`.
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    assert_eq!(&rows[0][column("id")], id.as_str(), "{csv}");
    assert_eq!(
        &rows[0][column("hub_id")],
        decision["hubId"].as_str().unwrap()
    );
    assert_eq!(
        &rows[0][column("grant_id")],
        decision["grantId"].as_str().unwrap()
    );
    let (status, _, csv) = get(
        &app,
        Some(&cast.admin),
        "/ami/export/scores.csv?campaign=E2E-AMI-OPEN",
    )
    .await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 1 + 8, "{csv}");
    let sheet_ids: std::collections::BTreeSet<String> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(&r[0], id.as_str(), "{csv}");
            r[2].to_owned()
        })
        .collect();
    for sheet in &sheet_ids {
        let node = call(
            &app,
            Some(&cast.admin),
            r#"query($id: ID!) { node(id: $id) { __typename id } }"#,
            json!({ "id": sheet }),
            "node",
        )
        .await;
        assert_eq!(node["__typename"], "AmiScoreSheet", "{sheet}: {node}");
        assert_eq!(node["id"], sheet.as_str());
    }
    // The same export from the command line, as the operator.
    let out = app
        .cli(&[
            "ami",
            "export",
            "scores",
            "--campaign",
            "E2E-AMI-OPEN",
            "--status",
            "selected",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), csv);
    let (status, _, body) = get(
        &app,
        Some(&cast.reviewer_1),
        "/ami/export/applications.csv?qpv=maybe",
    )
    .await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, code_of(&body)), (400, "invalid_value"), "{body:#}");
    let response = app
        .client
        .get(format!("{}{download_path}", app.base))
        .bearer_auth(&cast.reviewer_1)
        .send()
        .await
        .unwrap();
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"programme.pdf\""),
        "{disposition}"
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let (status, _, body) = get(&app, Some(&cast.alice), "/ami/export/scores.csv").await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
}

/// An applicant never sees another applicant's dossier, nor any score or summary before the decision; reviewers
/// never see drafts; partners and anonymous callers see no dossier at all.
#[tokio::test]
async fn applicants_see_only_their_own_dossiers_and_no_scores_before_the_decision() {
    let app = TestApp::spawn().await;
    let cast = Cast::new(&app).await;
    envelope(&app, &cast.admin, "E2E-AMI", 2_300_000).await;
    let campaign = open_campaign(&app, &cast.admin, "E2E-AMI-OPEN", "E2E-AMI").await;
    let (alice_id, alice_v) = draft(
        &app,
        &cast.alice,
        &campaign,
        content("Hub Armor", &["22"], 250_000),
    )
    .await;
    let (bob_id, _) = draft(
        &app,
        &cast.bob,
        &campaign,
        content("Hub Normandie", &["14", "50"], 250_000),
    )
    .await;
    const LIST: &str = r#"{ amiApplications(first: 100) { totalCount nodes { id applicant scoreSummary { reviews } } } }"#;

    // Each applicant lists only its own; another's id reads as null and writes as not_found.
    for (token, own) in [(&cast.alice, &alice_id), (&cast.bob, &bob_id)] {
        let list = call(&app, Some(token), LIST, json!({}), "amiApplications").await;
        assert_eq!(list["totalCount"], 1, "{list:#}");
        assert_eq!(&list["nodes"][0]["id"], own);
    }
    let other = call(
        &app,
        Some(&cast.bob),
        VIEW,
        json!({ "id": alice_id }),
        "amiApplication",
    )
    .await;
    assert!(other.is_null(), "{other:#}");
    assert_eq!(
        mutate_refused(
            &app,
            &cast.bob,
            "submitAmiApplication",
            at(&alice_id, alice_v)
        )
        .await,
        "not_found"
    );
    let mut hijack = content("Hub Armor (détourné)", &["22"], 250_000);
    hijack["id"] = json!(alice_id);
    hijack["version"] = json!(alice_v);
    assert_eq!(
        mutate_refused(&app, &cast.bob, "updateAmiApplication", hijack).await,
        "not_found"
    );
    let (status, _) = upload(
        &app,
        Some(&cast.bob),
        &alice_id,
        "x.pdf",
        "application/pdf",
        pdf(),
        true,
    )
    .await;
    assert_eq!(status, 404);

    // Reviewers do not see drafts.
    let list = call(
        &app,
        Some(&cast.reviewer_1),
        LIST,
        json!({}),
        "amiApplications",
    )
    .await;
    assert_eq!(list["totalCount"], 0, "{list:#}");
    assert!(
        call(
            &app,
            Some(&cast.reviewer_1),
            VIEW,
            json!({ "id": alice_id }),
            "amiApplication"
        )
        .await
        .is_null()
    );

    // Partners, hub coordinators and anonymous callers read no dossier (campaigns stay public).
    let coordinator = app.token("hub_coordinator", Some("hinaura")).await;
    for token in [
        Some(cast.partner.as_str()),
        Some(coordinator.as_str()),
        None,
    ] {
        let (_, body) = app.post_as(token, LIST, json!({})).await;
        assert_eq!(code_of(&body), "forbidden", "{body:#}");
        assert!(
            body["data"].is_null() || body["data"]["amiApplications"].is_null(),
            "{body:#}"
        );
        let (_, body) = app.post_as(token, VIEW, json!({ "id": alice_id })).await;
        assert_eq!(code_of(&body), "forbidden", "{body:#}");
        let (_, body) = app
            .post_as(token, "{ amiCampaigns { code } }", json!({}))
            .await;
        assert!(body["errors"].is_null(), "{body:#}");
    }
    let (_, body) = app
        .post_as(None, r#"mutation($input: AmiApplicationVersionInput!) { submitAmiApplication(input: $input) { userErrors { code } } }"#, json!({ "input": at(&alice_id, alice_v) }))
        .await;
    assert_eq!(code_of(&body), "unauthenticated");

    // Under review and scored: the applicant still sees no score, in the dossier, the list or its order.
    let a = mutate_ok(
        &app,
        &cast.alice,
        "submitAmiApplication",
        at(&alice_id, alice_v),
    )
    .await;
    mutate_ok(
        &app,
        &cast.reviewer_1,
        "startAmiReview",
        at(&alice_id, version(&a)),
    )
    .await;
    let sheet = score(
        &app,
        &cast.reviewer_1,
        &alice_id,
        [10, 10, 10, 10],
        "Excellent",
    )
    .await;
    // Its reviewer revises the sheet, at the version read.
    let revise = json!({ "input": { "id": sheet["id"], "version": sheet["version"], "comment": "Très bon", "scores": [
        { "criterion": "territorial_coverage", "score": 9 }, { "criterion": "partnership", "score": 9 },
        { "criterion": "action_programme", "score": 9 }, { "criterion": "budget_realism", "score": 9 } ] } });
    const UPDATE_SHEET: &str = r#"mutation($input: UpdateAmiScoreSheetInput!) { updateAmiScoreSheet(input: $input) { scoreSheet { version weighted } userErrors { code } } }"#;
    let payload = call(
        &app,
        Some(&cast.reviewer_1),
        UPDATE_SHEET,
        revise.clone(),
        "updateAmiScoreSheet",
    )
    .await;
    assert!(
        (payload["scoreSheet"]["weighted"].as_f64().unwrap() - 90.0).abs() < 1e-9,
        "{payload:#}"
    );
    let payload = call(
        &app,
        Some(&cast.reviewer_1),
        UPDATE_SHEET,
        revise,
        "updateAmiScoreSheet",
    )
    .await;
    assert_eq!(
        payload["userErrors"][0]["code"], "stale_version",
        "{payload:#}"
    );
    // A reviewer who declares a conflict of interest can no longer score it.
    let payload = call(
        &app,
        Some(&cast.reviewer_2),
        r#"mutation($input: DeclareAmiConflictInput!) { declareAmiConflict(input: $input) { conflict { reviewer } userErrors { code } } }"#,
        json!({ "input": { "applicationId": alice_id, "reason": "Ancien salarié du porteur" } }),
        "declareAmiConflict",
    )
    .await;
    assert_eq!(payload["conflict"]["reviewer"], "BdT instructeur 2");
    let (_, body) = app
        .post_as(
            Some(&cast.reviewer_2),
            SCORE,
            json!({ "input": { "applicationId": alice_id, "scores": [
                { "criterion": "territorial_coverage", "score": 1 }, { "criterion": "partnership", "score": 1 },
                { "criterion": "action_programme", "score": 1 }, { "criterion": "budget_realism", "score": 1 } ] } }),
        )
        .await;
    assert!(
        body["data"]["scoreAmiApplication"]["scoreSheet"].is_null(),
        "{body:#}"
    );
    let refusal = body["data"]["scoreAmiApplication"]["userErrors"][0]["code"]
        .as_str()
        .or(body["errors"][0]["extensions"]["code"].as_str());
    assert_eq!(refusal, Some("conflict_of_interest"), "{body:#}");

    let view = call(
        &app,
        Some(&cast.alice),
        VIEW,
        json!({ "id": alice_id }),
        "amiApplication",
    )
    .await;
    assert!(view["scoreSummary"].is_null(), "{view:#}");
    let list = call(
        &app,
        Some(&cast.alice),
        r#"{ amiApplications(orderBy: { field: SCORE, direction: DESC }) { nodes { scoreSummary { reviews } } } }"#,
        json!({}),
        "amiApplications",
    )
    .await;
    assert!(list["nodes"][0]["scoreSummary"].is_null(), "{list:#}");
    let (_, body) = app
        .post_as(
            Some(&cast.alice),
            r#"query($id: ID!) { amiApplication(id: $id) { scoreSheets { weighted } } }"#,
            json!({ "id": alice_id }),
        )
        .await;
    assert_eq!(code_of(&body), "forbidden", "{body:#}");
    let reviewer_view = call(
        &app,
        Some(&cast.reviewer_1),
        VIEW,
        json!({ "id": alice_id }),
        "amiApplication",
    )
    .await;
    assert_eq!(reviewer_view["scoreSummary"]["reviews"], 1);
    assert_eq!(reviewer_view["scoreSummary"]["weightedMean"], 90.0);

    // Rejected: the reason and the summary become visible to the applicant — to it alone.
    let a = mutate_ok(
        &app,
        &cast.reviewer_1,
        "rejectAmiApplication",
        json!({ "id": alice_id, "version": reviewer_view["version"], "reason": "Territoire déjà couvert par un hub." }),
    )
    .await;
    assert_eq!(a["status"], "REJECTED");
    let view = call(
        &app,
        Some(&cast.alice),
        VIEW,
        json!({ "id": alice_id }),
        "amiApplication",
    )
    .await;
    assert_eq!(
        view["decision"]["reason"],
        "Territoire déjà couvert par un hub."
    );
    assert!(view["decision"]["hubId"].is_null());
    assert_eq!(view["scoreSummary"]["reviews"], 1);
    assert!(
        call(
            &app,
            Some(&cast.bob),
            VIEW,
            json!({ "id": alice_id }),
            "amiApplication"
        )
        .await
        .is_null()
    );
    // Bob withdraws his draft: final, nothing more happens to it.
    let list = call(&app, Some(&cast.bob), LIST, json!({}), "amiApplications").await;
    assert_eq!(list["totalCount"], 1);
    let bob_view = call(
        &app,
        Some(&cast.bob),
        VIEW,
        json!({ "id": bob_id }),
        "amiApplication",
    )
    .await;
    let a = mutate_ok(
        &app,
        &cast.bob,
        "withdrawAmiApplication",
        at(&bob_id, version(&bob_view)),
    )
    .await;
    assert_eq!(a["status"], "WITHDRAWN");
    assert_eq!(
        mutate_refused(
            &app,
            &cast.bob,
            "submitAmiApplication",
            at(&bob_id, version(&a))
        )
        .await,
        "invalid_transition"
    );
}

/// Uploads: refused without the anti-CSRF header (nothing stored), when not a PDF, above the campaign's limit
/// (just above: the domain's check; far above: cut off unread), after submission, and for anonymous callers;
/// accepted above the GraphQL body limit when the campaign allows it.
#[tokio::test]
async fn uploads_need_the_anti_csrf_header_a_pdf_and_a_size_within_the_limit() {
    let app = TestApp::spawn().await;
    let cast = Cast::new(&app).await;
    envelope(&app, &cast.admin, "E2E-AMI", 2_300_000).await;
    // A campaign accepting 1.5 MB: above the 1 MiB JSON body limit of /graphql.
    let payload = call(
        &app,
        Some(&cast.admin),
        CREATE_CAMPAIGN,
        json!({ "input": {
            "code": "E2E-SMALL-FILES", "name": "Petits fichiers", "opensAt": "2020-11-17 00:00:00",
            "closesAt": "2099-06-30 23:59:59", "envelopeCode": "E2E-AMI", "maxPerHub": 25_000_000,
            "maxAttachmentBytes": 1_500_000,
            "criteria": [{ "code": "c", "label": "Critère", "weight": 1, "maxScore": 10 }]
        } }),
        "createAmiCampaign",
    )
    .await;
    assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
    let campaign = payload["campaign"]["id"].as_str().unwrap().to_owned();
    let (id, v) = draft(
        &app,
        &cast.alice,
        &campaign,
        content("Hub Armor", &["22"], 250_000),
    )
    .await;

    // Without the header: 400 with a clear code, nothing stored.
    let (status, body) = upload(
        &app,
        Some(&cast.alice),
        &id,
        "a.pdf",
        "application/pdf",
        pdf(),
        false,
    )
    .await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(code_of(&body), "upload_header_missing");
    assert_eq!(attachment_count(&app, &cast.alice, &id).await, 0);

    // Not a PDF: by its content (whatever the declared type), or by its declared type.
    let text = std::fs::read(fixture("ami/not-a-pdf.txt")).unwrap();
    let (status, body) = upload(
        &app,
        Some(&cast.alice),
        &id,
        "faux.pdf",
        "application/pdf",
        text.clone(),
        true,
    )
    .await;
    assert_eq!((status, code_of(&body)), (415, "not_pdf"), "{body:#}");
    let (status, body) = upload(
        &app,
        Some(&cast.alice),
        &id,
        "note.txt",
        "text/plain",
        text,
        true,
    )
    .await;
    assert_eq!(
        (status, code_of(&body)),
        (415, "unsupported_media_type"),
        "{body:#}"
    );
    let (status, body) = upload(
        &app,
        Some(&cast.alice),
        &id,
        "vide.pdf",
        "application/pdf",
        Vec::new(),
        true,
    )
    .await;
    assert_eq!((status, code_of(&body)), (422, "empty_file"), "{body:#}");

    // Sizes: at the limit accepted (above /graphql's 1 MiB), one byte above or far above refused.
    let (status, body) = upload(
        &app,
        Some(&cast.alice),
        &id,
        "max.pdf",
        "application/pdf",
        pdf_of_size(1_500_000),
        true,
    )
    .await;
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(body["attachment"]["sizeBytes"], 1_500_000);
    for size in [1_500_001, 4_000_000] {
        let (status, body) = upload(
            &app,
            Some(&cast.alice),
            &id,
            "gros.pdf",
            "application/pdf",
            pdf_of_size(size),
            true,
        )
        .await;
        assert_eq!(
            (status, code_of(&body)),
            (413, "too_large"),
            "{size}: {body:#}"
        );
    }
    assert_eq!(attachment_count(&app, &cast.alice, &id).await, 1);

    // Anonymous, or a bad token: 401.
    let (status, body) = upload(&app, None, &id, "a.pdf", "application/pdf", pdf(), true).await;
    assert_eq!(
        (status, code_of(&body)),
        (401, "unauthenticated"),
        "{body:#}"
    );
    let (status, _) = upload(
        &app,
        Some("mlg_nope"),
        &id,
        "a.pdf",
        "application/pdf",
        pdf(),
        true,
    )
    .await;
    assert_eq!(status, 401);
    // A reviewer never attaches files to someone's dossier.
    let (status, body) = upload(
        &app,
        Some(&cast.admin),
        &id,
        "a.pdf",
        "application/pdf",
        pdf(),
        true,
    )
    .await;
    assert_eq!((status, code_of(&body)), (403, "forbidden"), "{body:#}");

    // Deletion also needs the header; then it works while the dossier is a draft.
    let view = call(
        &app,
        Some(&cast.alice),
        VIEW,
        json!({ "id": id }),
        "amiApplication",
    )
    .await;
    let path = view["attachments"][0]["downloadPath"]
        .as_str()
        .unwrap()
        .to_owned();
    let delete = |header: bool| {
        let mut r = app
            .client
            .delete(format!("{}{path}", app.base))
            .bearer_auth(&cast.alice);
        if header {
            r = r.header("x-maillage-upload", "1");
        }
        r.send()
    };
    assert_eq!(delete(false).await.unwrap().status().as_u16(), 400);
    assert_eq!(delete(true).await.unwrap().status().as_u16(), 204);
    assert_eq!(attachment_count(&app, &cast.alice, &id).await, 0);

    // Once submitted, the dossier is frozen: no more attachments.
    let (status, _) = upload(
        &app,
        Some(&cast.alice),
        &id,
        "a.pdf",
        "application/pdf",
        pdf(),
        true,
    )
    .await;
    assert_eq!(status, 201);
    mutate_ok(&app, &cast.alice, "submitAmiApplication", at(&id, v)).await;
    let (status, body) = upload(
        &app,
        Some(&cast.alice),
        &id,
        "b.pdf",
        "application/pdf",
        pdf(),
        true,
    )
    .await;
    assert_eq!((status, code_of(&body)), (409, "not_editable"), "{body:#}");
}

/// Selecting when the campaign's envelope lacks room answers `envelope_exceeded` and writes nothing: no hub, no
/// grant, no audit entry, the dossier still under review at the same version.
#[tokio::test]
async fn selecting_when_the_envelope_is_full_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let cast = Cast::new(&app).await;
    envelope(&app, &cast.admin, "E2E-AMI-SMALL", 300_000).await;
    let campaign = open_campaign(&app, &cast.admin, "E2E-AMI-FULL", "E2E-AMI-SMALL").await;
    let (alice, alice_v) = under_review(
        &app,
        &cast.alice,
        &cast.reviewer_1,
        &campaign,
        content("Hub Armor", &["22"], 250_000),
    )
    .await;
    let (bob, bob_v) = under_review(
        &app,
        &cast.bob,
        &cast.reviewer_1,
        &campaign,
        content("Hub Normandie", &["14", "50"], 250_000),
    )
    .await;
    let a = mutate_ok(
        &app,
        &cast.reviewer_1,
        SELECT,
        json!({ "id": alice, "version": alice_v, "awardedAmount": 25_000_000 }),
    )
    .await;
    assert_eq!(a["status"], "SELECTED");

    const STATE: &str = r#"{ hubs { slug } envelope(code: "E2E-AMI-SMALL") { consumption { committed { cents } remaining { cents } } grants(first: 10) { totalCount } } }"#;
    let before = call(&app, Some(&cast.admin), STATE, json!({}), "envelope").await;
    let hubs_before = app.data(STATE, json!({})).await["hubs"]
        .as_array()
        .unwrap()
        .len();
    let audit_before = audit_count(&app, &cast.admin).await;
    assert_eq!(before["consumption"]["remaining"]["cents"], 5_000_000);

    let code = mutate_refused(
        &app,
        &cast.reviewer_1,
        SELECT,
        json!({ "id": bob, "version": bob_v, "awardedAmount": 10_000_000 }),
    )
    .await;
    assert_eq!(code, "envelope_exceeded");

    let after = call(&app, Some(&cast.admin), STATE, json!({}), "envelope").await;
    assert_eq!(after, before);
    assert_eq!(
        app.data(STATE, json!({})).await["hubs"]
            .as_array()
            .unwrap()
            .len(),
        hubs_before
    );
    assert_eq!(audit_count(&app, &cast.admin).await, audit_before);
    let view = call(
        &app,
        Some(&cast.bob),
        VIEW,
        json!({ "id": bob }),
        "amiApplication",
    )
    .await;
    assert_eq!(view["status"], "UNDER_REVIEW");
    assert_eq!(view["version"], bob_v);
    assert!(view["decision"].is_null());
    // What fits still passes: 50 000 € is exactly the room left.
    let a = mutate_ok(
        &app,
        &cast.reviewer_1,
        SELECT,
        json!({ "id": bob, "version": bob_v, "awardedAmount": 5_000_000 }),
    )
    .await;
    assert_eq!(a["status"], "SELECTED");
}

/// The closing second is enforced over HTTP: once an admin moves the closing instant into the past, a draft can
/// no longer be submitted (`campaign_closed`); the campaign's version protects concurrent edits.
#[tokio::test]
async fn submission_after_the_closing_second_is_refused() {
    let app = TestApp::spawn().await;
    let cast = Cast::new(&app).await;
    envelope(&app, &cast.admin, "E2E-AMI", 2_300_000).await;
    let campaign = open_campaign(&app, &cast.admin, "E2E-AMI-CLOSING", "E2E-AMI").await;
    let (id, v) = draft(
        &app,
        &cast.alice,
        &campaign,
        content("Hub Armor", &["22"], 250_000),
    )
    .await;
    const UPDATE: &str = r#"mutation($input: UpdateAmiCampaignInput!) { updateAmiCampaign(input: $input) { campaign { version closesAtParis isOpen } userErrors { field code message } } }"#;
    let close = |version: i64| json!({ "input": { "id": campaign, "version": version, "closesAt": "2021-06-30 23:59:59" } });
    // Reviewers do not change campaigns.
    let (_, body) = app.post_as(Some(&cast.reviewer_1), UPDATE, close(1)).await;
    assert_eq!(code_of(&body), "forbidden", "{body:#}");
    let payload = call(
        &app,
        Some(&cast.admin),
        UPDATE,
        close(1),
        "updateAmiCampaign",
    )
    .await;
    assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
    assert_eq!(
        payload["campaign"]["closesAtParis"],
        "2021-06-30 23:59:59 CEST"
    );
    assert_eq!(payload["campaign"]["isOpen"], false);
    let payload = call(
        &app,
        Some(&cast.admin),
        UPDATE,
        close(1),
        "updateAmiCampaign",
    )
    .await;
    assert_eq!(
        payload["userErrors"][0]["code"], "stale_version",
        "{payload:#}"
    );
    assert_eq!(
        mutate_refused(&app, &cast.alice, "submitAmiApplication", at(&id, v)).await,
        "campaign_closed"
    );
    let view = call(
        &app,
        Some(&cast.alice),
        VIEW,
        json!({ "id": id }),
        "amiApplication",
    )
    .await;
    assert_eq!(view["status"], "DRAFT");
}

/// Concurrent decisions never over-commit the envelope: 6 dossiers of 250 000 € under review, an envelope with
/// room for exactly 3, 6 concurrent `selectAmiApplication` → 3 selected (3 hubs, 3 grants), 3 `envelope_exceeded`
/// that wrote nothing. The list walks pages by score, best first, unscored last.
#[tokio::test]
async fn concurrent_selections_fill_the_envelope_exactly_and_lists_page_by_score() {
    let app = TestApp::spawn().await;
    let cast = Cast::new(&app).await;
    envelope(&app, &cast.admin, "E2E-AMI-RACE", 750_000).await;
    let campaign = open_campaign(&app, &cast.admin, "E2E-AMI-RACE", "E2E-AMI-RACE").await;
    let departments = ["22", "29", "35", "56", "14", "50"];
    let mut dossiers = Vec::new();
    for (i, dep) in departments.iter().enumerate() {
        let applicant = if i % 2 == 0 { &cast.alice } else { &cast.bob };
        let (id, v) = under_review(
            &app,
            applicant,
            &cast.reviewer_1,
            &campaign,
            content(&format!("Hub {dep}"), &[dep], 250_000),
        )
        .await;
        dossiers.push((id, v));
    }
    // Scores 0, 2, 4, 6, 8 (out of 10 everywhere) for the first five; the sixth stays unscored.
    for (i, (id, _)) in dossiers.iter().enumerate().take(5) {
        let s = i64::try_from(2 * i).unwrap();
        score(&app, &cast.reviewer_1, id, [s, s, s, s], "").await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = call(
            &app,
            Some(&cast.reviewer_2),
            r#"query($c: ID!, $after: String) { amiApplications(filter: { campaign: $c }, orderBy: { field: SCORE, direction: DESC }, first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { id scoreSummary { weightedMean } } } }"#,
            json!({ "c": campaign, "after": after }),
            "amiApplications",
        )
        .await;
        assert_eq!(page["totalCount"], 6);
        for n in page["nodes"].as_array().unwrap() {
            seen.push((
                n["id"].as_str().unwrap().to_owned(),
                n["scoreSummary"]["weightedMean"].as_f64(),
            ));
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let expected: Vec<(String, Option<f64>)> = [4, 3, 2, 1, 0]
        .iter()
        .map(|&i| (dossiers[i].0.clone(), Some(20.0 * i as f64)))
        .chain(std::iter::once((dossiers[5].0.clone(), None)))
        .collect();
    assert_eq!(seen, expected);

    let responses = futures::future::join_all(dossiers.iter().map(|(id, v)| {
        let query = format!(
            "mutation($input: SelectAmiApplicationInput!) {{ {SELECT}(input: $input) {{ application {{ status }} userErrors {{ code }} }} }}"
        );
        let input = json!({ "input": { "id": id, "version": v, "awardedAmount": 25_000_000 } });
        let token = cast.reviewer_1.clone();
        let app = &app;
        async move { app.post_as(Some(&token), &query, input).await }
    }))
    .await;
    let mut selected = 0;
    let mut refused = 0;
    for (status, body) in &responses {
        assert_eq!(*status, 200, "{body:#}");
        let payload = &body["data"][SELECT];
        match payload["application"]["status"].as_str() {
            Some("SELECTED") => selected += 1,
            _ => {
                assert_eq!(
                    payload["userErrors"][0]["code"], "envelope_exceeded",
                    "{body:#}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!((selected, refused), (3, 3));
    let state = call(
        &app,
        None,
        r#"{ envelope(code: "E2E-AMI-RACE") { consumption { committed { cents } remaining { cents } } grants(first: 10) { totalCount } } }"#,
        json!({}),
        "envelope",
    )
    .await;
    assert_eq!(state["consumption"]["committed"]["cents"], 75_000_000);
    assert_eq!(state["consumption"]["remaining"]["cents"], 0);
    assert_eq!(state["grants"]["totalCount"], 3);
    let hubs = app.data("{ hubs { slug } }", json!({})).await;
    let ami_hubs = hubs["hubs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["slug"].as_str().unwrap().starts_with("ami-"))
        .count();
    assert_eq!(ami_hubs, 3);
    let still = call(
        &app,
        Some(&cast.admin),
        r#"query($c: ID!) { amiApplications(filter: { campaign: $c, statuses: [UNDER_REVIEW] }) { totalCount } }"#,
        json!({ "c": campaign }),
        "amiApplications",
    )
    .await;
    assert_eq!(still["totalCount"], 3);
}

/// A reviewer's page of dossiers with their campaign, departments, attachments and score summaries costs the same
/// number of SQL statements for 2 dossiers as for 6: every list is loaded once for the whole page.
#[tokio::test]
async fn a_page_of_dossiers_runs_a_bounded_number_of_statements() {
    const QUERY: &str = r#"query($c: ID!) { amiApplications(filter: { campaign: $c }, orderBy: { field: SCORE, direction: DESC }, first: 50) { totalCount nodes { id hubName campaign { code criteria { code } } departments { name region { name } } attachments { fileName sizeBytes } scoreSummary { reviews weightedMean } scoreSheets { reviewer weighted scores { score } } conflicts { reviewer } decision { reason } } } }"#;
    let mut counts = Vec::new();
    for n in [2usize, 6] {
        let app = TestApp::spawn().await;
        let cast = Cast::new(&app).await;
        envelope(&app, &cast.admin, "E2E-AMI", 2_300_000).await;
        let campaign = open_campaign(&app, &cast.admin, "E2E-AMI-PAGE", "E2E-AMI").await;
        for i in 0..n {
            let (id, v) = draft(
                &app,
                &cast.alice,
                &campaign,
                content(&format!("Hub {i}"), &["22", "29"], 250_000),
            )
            .await;
            for name in ["programme.pdf", "budget.pdf"] {
                let (status, _) = upload(
                    &app,
                    Some(&cast.alice),
                    &id,
                    name,
                    "application/pdf",
                    pdf(),
                    true,
                )
                .await;
                assert_eq!(status, 201);
            }
            let a = mutate_ok(&app, &cast.alice, "submitAmiApplication", at(&id, v)).await;
            mutate_ok(
                &app,
                &cast.reviewer_1,
                "startAmiReview",
                at(&id, version(&a)),
            )
            .await;
            score(&app, &cast.reviewer_1, &id, [5, 5, 5, 5], "").await;
        }
        let before = app.db.statements();
        app.db.statement_counter().start_log();
        let data = call(
            &app,
            Some(&cast.reviewer_2),
            QUERY,
            json!({ "c": campaign }),
            "amiApplications",
        )
        .await;
        let statements = app.db.statements() - before;
        let log = app.db.statement_counter().take_log();
        let nodes = data["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), n);
        assert!(
            nodes
                .iter()
                .all(|d| d["attachments"].as_array().unwrap().len() == 2
                    && d["departments"].as_array().unwrap().len() == 2
                    && d["scoreSummary"]["reviews"] == 1
                    && d["scoreSheets"].as_array().unwrap().len() == 1
                    && d["conflicts"].as_array().unwrap().is_empty())
        );
        eprintln!("a page of {n} dossiers: {statements} SQL statements");
        counts.push((statements, log));
    }
    assert_eq!(
        counts[0].0,
        counts[1].0,
        "statement counts vary with the page size:\n{}\n---\n{}",
        counts[0].1.join("\n"),
        counts[1].1.join("\n")
    );
}
