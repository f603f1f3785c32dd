//! Versions out of reach: every mutation that takes a `version` answers `stale_version` for a version no record can
//! have (`i32::MAX`, negative ones) on a real record, over a connection that is answered, and leaves the record as
//! it was. A debug build once computed `version + 1` in Rust on the caller's value: `deleteSite` with
//! `version: 2147483647` panicked and hyper dropped the connection ("remote end closed connection without
//! response").

use crate::ami::{Cast, content, draft, envelope, mutate_ok, open_campaign, score};
use crate::support::TestApp;
use maillage_server::config::{ProtectionConfig, ServeConfig};
use serde_json::{Value, json};

/// The versions no record holds: the largest `Int` (its `+ 1` overflows), and negative ones.
const OUT_OF_REACH: [i64; 3] = [i32::MAX as i64, -1, i32::MIN as i64];

/// The version of any versioned record, by its global id.
const VERSION_OF: &str = "query($id: ID!) { node(id: $id) { __typename
    ... on Site { version } ... on Hub { version } ... on HubIndicator { version } ... on HostStructure { version }
    ... on FundedPost { version } ... on Counsellor { version } ... on Envelope { version }
    ... on FundingRule { version } ... on Grant { version } ... on PassProgramme { version }
    ... on AidantsOrganisation { version } ... on Aidant { version } ... on AmiCampaign { version }
    ... on AmiApplication { version } ... on AmiScoreSheet { version } ... on Feed { version } } }";

/// One mutation to try: who sends it, its input but for the version, and the record it must leave untouched.
struct Case {
    mutation: &'static str,
    input_type: &'static str,
    token: String,
    input: Value,
    record: String,
}

impl Case {
    fn new(mutation: &'static str, input_type: &'static str, token: &str, input: Value) -> Self {
        let record = input
            .get("id")
            .or_else(|| input.get("counsellorId"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Self {
            mutation,
            input_type,
            token: token.to_owned(),
            input,
            record,
        }
    }

    /// The record to read the version of, when the input does not name it by id (a feed, by its slug).
    fn record(mut self, id: &str) -> Self {
        id.clone_into(&mut self.record);
        self
    }
}

/// Runs `mutation(input: $input)` with a create mutation's payload field and returns it, checking it was accepted.
async fn create(
    app: &TestApp,
    token: &str,
    mutation: &str,
    input_type: &str,
    field: &str,
    input: Value,
) -> Value {
    let query = format!(
        "mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ {field} {{ id }} userErrors {{ field code message }} }} }}"
    );
    let (status, body) = app
        .post_as(Some(token), &query, json!({ "input": input }))
        .await;
    assert_eq!(status, 200, "{mutation}: {body:#}");
    let payload = &body["data"][mutation];
    assert_eq!(payload["userErrors"], json!([]), "{mutation}: {body:#}");
    payload[field].clone()
}

/// The global id of what [`create`] made.
async fn create_id(
    app: &TestApp,
    token: &str,
    mutation: &str,
    input_type: &str,
    field: &str,
    input: Value,
) -> String {
    create(app, token, mutation, input_type, field, input).await["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{mutation}: no id"))
        .to_owned()
}

/// The stored version of the record `id`, read as `token`.
async fn version_of(app: &TestApp, token: &str, id: &str) -> i64 {
    let (status, body) = app
        .post_as(Some(token), VERSION_OF, json!({ "id": id }))
        .await;
    assert_eq!(status, 200, "{body:#}");
    body["data"]["node"]["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("no version for {id}: {body:#}"))
}

/// Sends the mutation and returns the status and body; a connection closed without a response fails the test
/// with what was sent, rather than somewhere inside the client.
async fn send(app: &TestApp, case: &Case, input: &Value) -> (u16, Value) {
    let query = format!(
        "mutation($input: {}!) {{ {}(input: $input) {{ userErrors {{ field code message }} }} }}",
        case.input_type, case.mutation
    );
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .bearer_auth(&case.token)
        .json(&json!({ "query": query, "variables": { "input": input } }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: no response to {input}: {e:?}", case.mutation));
    let status = response.status().as_u16();
    let body = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{}: unreadable response to {input}: {e:?}", case.mutation));
    (status, body)
}

/// Every record a versioned mutation acts on, created over the API, and the mutations to try on them.
async fn cases(app: &TestApp) -> Vec<Case> {
    let cast = Cast::new(app).await;
    let admin = cast.admin.as_str();
    let mut cases = Vec::new();

    // Territories.
    let hub = app
        .data("{ hub(slug: \"rhinocc\") { id } }", json!({}))
        .await["hub"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    cases.push(Case::new(
        "updateHub",
        "UpdateHubInput",
        admin,
        json!({ "id": hub, "description": "Changée" }),
    ));
    cases.push(Case::new(
        "setHubDepartments",
        "SetHubDepartmentsInput",
        admin,
        json!({ "id": hub, "departments": ["31"] }),
    ));
    let indicator = create_id(
        app,
        admin,
        "createHubIndicator",
        "CreateHubIndicatorInput",
        "hubIndicator",
        json!({ "hub": "rhinocc", "code": "sites_mapped", "name": "Lieux recensés", "value": 3.0,
            "unit": "lieux", "observedOn": "2021-06-30", "source": "Rapport d'activité du hub" }),
    )
    .await;
    cases.push(Case::new(
        "updateHubIndicator",
        "UpdateHubIndicatorInput",
        admin,
        json!({ "id": indicator, "value": 4.0 }),
    ));

    // Sites and feeds.
    let site = create_id(
        app,
        admin,
        "createSite",
        "CreateSiteInput",
        "site",
        json!({ "source": "versions", "sourceId": "1", "name": "Médiathèque", "commune": "Muret",
            "postalCode": "31600", "address": "1 place de la Mairie" }),
    )
    .await;
    cases.push(Case::new(
        "updateSite",
        "UpdateSiteInput",
        admin,
        json!({ "id": site, "name": "Renommée" }),
    ));
    cases.push(Case::new(
        "deleteSite",
        "DeleteSiteInput",
        admin,
        json!({ "id": site }),
    ));
    let feed = create_id(
        app,
        admin,
        "createFeed",
        "CreateFeedInput",
        "feed",
        json!({ "slug": "versions", "name": "Flux de test" }),
    )
    .await;
    cases.push(
        Case::new(
            "updateFeed",
            "UpdateFeedInput",
            admin,
            json!({ "slug": "versions", "name": "Renommé" }),
        )
        .record(&feed),
    );

    // Counsellors.
    let structure = create_id(
        app,
        admin,
        "createHostStructure",
        "CreateHostStructureInput",
        "hostStructure",
        json!({ "siret": "44306184100047", "name": "Mairie", "kind": "COMMUNE", "department": "31" }),
    )
    .await;
    cases.push(Case::new(
        "updateHostStructure",
        "UpdateHostStructureInput",
        admin,
        json!({ "id": structure, "name": "Mairie de Muret" }),
    ));
    let post = create_id(
        app,
        admin,
        "createFundedPost",
        "CreateFundedPostInput",
        "fundedPost",
        json!({ "structureId": structure, "requested": 2 }),
    )
    .await;
    cases.push(Case::new(
        "updateFundedPost",
        "UpdateFundedPostInput",
        admin,
        json!({ "id": post, "requested": 3 }),
    ));
    let counsellor = create_id(
        app,
        admin,
        "createCounsellor",
        "CreateCounsellorInput",
        "counsellor",
        json!({ "externalId": "cn-versions", "structureId": structure, "firstName": "Léa",
            "lastName": "Durand", "hostShare": 25 }),
    )
    .await;
    cases.push(Case::new(
        "updateCounsellor",
        "UpdateCounsellorInput",
        admin,
        json!({ "id": counsellor, "firstName": "Lucie" }),
    ));
    cases.push(Case::new(
        "setCounsellorAssignments",
        "SetCounsellorAssignmentsInput",
        admin,
        json!({ "counsellorId": counsellor, "hostShare": 25, "assignments": [{ "siteId": site, "share": 50 }] }),
    ));

    // Funding.
    let envelope_id = create_id(
        app,
        admin,
        "createEnvelope",
        "CreateEnvelopeInput",
        "envelope",
        json!({ "code": "VERSIONS", "name": "Enveloppe de test", "amount": 100_000_000 }),
    )
    .await;
    cases.push(Case::new(
        "updateEnvelope",
        "UpdateEnvelopeInput",
        admin,
        json!({ "id": envelope_id, "name": "Renommée" }),
    ));
    let rule_input = json!({ "hostKind": "PUBLIC", "department": "31", "amountPerPost": 5_000_000,
        "validFrom": "2030-01-01", "source": "Règle de test" });
    let rule = create_id(
        app,
        admin,
        "createFundingRule",
        "FundingRuleInput",
        "rule",
        rule_input.clone(),
    )
    .await;
    cases.push(Case::new(
        "updateFundingRule",
        "UpdateFundingRuleInput",
        admin,
        json!({ "id": rule, "rule": rule_input }),
    ));
    let grant = create_id(
        app,
        admin,
        "createGrant",
        "CreateGrantInput",
        "grant",
        json!({ "envelopeId": envelope_id, "beneficiaryKind": "COLLECTIVITE",
            "beneficiaryRef": "department:31", "contact": "Camille Martin <camille.martin@example.org>",
            "department": "31", "amount": 1_000_000, "startsOn": "2021-03-01" }),
    )
    .await;
    for mutation in ["signGrant", "closeGrant", "cancelGrant"] {
        cases.push(Case::new(
            mutation,
            "GrantVersionInput",
            admin,
            json!({ "id": grant }),
        ));
    }
    let programme_input = json!({ "collectivite": "Toulouse Métropole", "department": "31",
        "amount": 1_000_000, "siteIds": [site] });
    let programme = create_id(
        app,
        admin,
        "createPassProgramme",
        "PassProgrammeInput",
        "programme",
        programme_input.clone(),
    )
    .await;
    cases.push(Case::new(
        "updatePassProgramme",
        "UpdatePassProgrammeInput",
        admin,
        json!({ "id": programme, "programme": programme_input }),
    ));

    // Aidants.
    let organisation = create_id(
        app,
        admin,
        "createAidantsOrganisation",
        "CreateAidantsOrganisationInput",
        "organisation",
        json!({ "name": "Médiathèque de Muret", "siret": "31000000000078", "kind": "COMMUNE",
            "address": "1 rue", "postalCode": "31600", "department": "31", "franceServices": true }),
    )
    .await;
    cases.push(Case::new(
        "updateAidantsOrganisation",
        "UpdateAidantsOrganisationInput",
        admin,
        json!({ "id": organisation, "active": false }),
    ));
    let aidant = create_id(
        app,
        admin,
        "createAidant",
        "CreateAidantInput",
        "aidant",
        json!({ "firstName": "Inès", "lastName": "Lopez", "email": "ines.lopez@muret.example",
            "organisations": [organisation], "status": "TRAINED", "trainedOn": "2021-02-01", "trainingHub": hub }),
    )
    .await;
    cases.push(Case::new(
        "updateAidant",
        "UpdateAidantInput",
        admin,
        json!({ "id": aidant, "firstName": "Inès-Marie" }),
    ));

    // The AMI: a draft, and a dossier under review with a score sheet.
    envelope(app, admin, "AMI-VERSIONS", 10_000_000).await;
    let campaign = open_campaign(app, admin, "AMI-V", "AMI-VERSIONS").await;
    cases.push(Case::new(
        "updateAmiCampaign",
        "UpdateAmiCampaignInput",
        admin,
        json!({ "id": campaign, "name": "Renommé" }),
    ));
    let dossier = content("Hub de test", &["31"], 200_000);
    let (drafted, _) = draft(app, &cast.alice, &campaign, dossier.clone()).await;
    let mut update = dossier.clone();
    update["id"] = json!(drafted);
    cases.push(Case::new(
        "updateAmiApplication",
        "UpdateAmiApplicationInput",
        &cast.alice,
        update,
    ));
    for mutation in [
        "submitAmiApplication",
        "resubmitAmiApplication",
        "withdrawAmiApplication",
    ] {
        cases.push(Case::new(
            mutation,
            "AmiApplicationVersionInput",
            &cast.alice,
            json!({ "id": drafted }),
        ));
    }
    let (reviewed, v) = draft(
        app,
        &cast.bob,
        &campaign,
        content("Autre hub", &["32"], 200_000),
    )
    .await;
    let a = mutate_ok(
        app,
        &cast.bob,
        "submitAmiApplication",
        json!({ "id": reviewed, "version": v }),
    )
    .await;
    let a = mutate_ok(
        app,
        &cast.reviewer_1,
        "startAmiReview",
        json!({ "id": reviewed, "version": a["version"] }),
    )
    .await;
    assert_eq!(a["status"], "UNDER_REVIEW");
    cases.push(Case::new(
        "startAmiReview",
        "AmiApplicationVersionInput",
        &cast.reviewer_1,
        json!({ "id": reviewed }),
    ));
    cases.push(Case::new(
        "requestAmiChanges",
        "RequestAmiChangesInput",
        &cast.reviewer_1,
        json!({ "id": reviewed, "message": "Détaillez le budget." }),
    ));
    cases.push(Case::new(
        "selectAmiApplication",
        "SelectAmiApplicationInput",
        &cast.reviewer_1,
        json!({ "id": reviewed, "awardedAmount": 10_000_000 }),
    ));
    cases.push(Case::new(
        "rejectAmiApplication",
        "RejectAmiApplicationInput",
        &cast.reviewer_1,
        json!({ "id": reviewed, "reason": "Territoire déjà couvert." }),
    ));
    let sheet = score(app, &cast.reviewer_1, &reviewed, [8, 8, 8, 8], "Bien").await;
    let scores: Vec<Value> = [
        "territorial_coverage",
        "partnership",
        "action_programme",
        "budget_realism",
    ]
    .iter()
    .map(|c| json!({ "criterion": c, "score": 9 }))
    .collect();
    cases.push(Case::new(
        "updateAmiScoreSheet",
        "UpdateAmiScoreSheetInput",
        &cast.reviewer_1,
        json!({ "id": sheet["id"], "scores": scores }),
    ));
    cases
}

/// The schema's versioned mutations, every one of which the table above must try (a new one fails this test until
/// it is added there).
fn versioned_mutations() -> Vec<String> {
    let sdl = maillage_graphql::sdl();
    let inputs: Vec<&str> = sdl
        .split("\ninput ")
        .skip(1)
        .filter_map(|block| {
            let (name, rest) = block.split_once(' ')?;
            let body = rest.split("\n}").next()?;
            body.contains("\tversion: Int!").then_some(name)
        })
        .collect();
    sdl.lines()
        .filter_map(|line| {
            let (field, rest) = line.trim().split_once("(input: ")?;
            let input = rest.split('!').next()?;
            inputs.contains(&input).then(|| field.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn every_versioned_mutation_answers_stale_version_for_a_version_out_of_reach() {
    // Some 200 requests from one caller: the rate limit is not what this test is about.
    let app = TestApp::spawn_with(ServeConfig {
        protection: ProtectionConfig {
            rate_limit_per_minute: 0,
            ..ServeConfig::default().protection
        },
        ..ServeConfig::default()
    })
    .await;
    let cases = cases(&app).await;
    let admin = app.token("admin", None).await;

    let mut tried: Vec<String> = cases.iter().map(|c| c.mutation.to_owned()).collect();
    tried.sort();
    let mut expected = versioned_mutations();
    expected.sort();
    assert_eq!(tried, expected, "every mutation taking a version is tried");

    for case in &cases {
        let before = version_of(&app, &admin, &case.record).await;
        for version in OUT_OF_REACH {
            let mut input = case.input.clone();
            input["version"] = json!(version);
            let (status, body) = send(&app, case, &input).await;
            let what = format!("{} at version {version}", case.mutation);
            assert_eq!(status, 200, "{what}: {body:#}");
            let code = body["data"][case.mutation]["userErrors"][0]["code"]
                .as_str()
                .or_else(|| body["errors"][0]["extensions"]["code"].as_str());
            assert_eq!(code, Some("stale_version"), "{what}: {body:#}");
            assert_eq!(
                version_of(&app, &admin, &case.record).await,
                before,
                "{what}: the record is unchanged"
            );
        }
    }
}
