//! `node` and `nodes` resolve the global ID of every type the API returns.

use crate::ami::{Cast, call, content, draft, envelope, mutate_ok, open_campaign, score, upload};
use crate::support::TestApp;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Runs a mutation as `token` and returns `field` of its payload, failing on errors or user errors.
async fn create(app: &TestApp, token: &str, mutation: &str, input: Value, field: &str) -> String {
    let (status, body) = app
        .post_as(Some(token), mutation, json!({ "input": input }))
        .await;
    assert_eq!(status, 200, "{body:#}");
    let payload = body["data"]
        .as_object()
        .and_then(|d| d.values().next())
        .unwrap_or_else(|| panic!("{body:#}"));
    assert_eq!(payload["userErrors"], json!([]), "{body:#}");
    payload[field]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body:#}"))
        .to_owned()
}

/// One of each kind, made through the API (or seeded), then fetched back by `node` and in one `nodes` call; the
/// kinds covered are exactly the types implementing `Node`.
#[tokio::test]
async fn node_resolves_every_type_with_an_id() {
    let app = TestApp::spawn().await;
    let cast = Cast::new(&app).await;
    let admin = &cast.admin;
    let mut ids: BTreeMap<&str, String> = BTreeMap::new();

    // Territories, rules and campaigns are seeded.
    let seeded = call(
        &app,
        Some(admin),
        "{ regions { id } departments { id } hubs { id } fundingRules { id } amiCampaigns { id } }",
        json!({}),
        "regions",
    )
    .await;
    ids.insert("Region", seeded[0]["id"].as_str().unwrap().to_owned());
    let (_, body) = app
        .post_as(
            Some(admin),
            "{ departments { id } hubs { id } fundingRules { id } }",
            json!({}),
        )
        .await;
    ids.insert(
        "Department",
        body["data"]["departments"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    ids.insert(
        "Hub",
        body["data"]["hubs"][0]["id"].as_str().unwrap().to_owned(),
    );
    ids.insert(
        "FundingRule",
        body["data"]["fundingRules"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no seeded funding rule: {body:#}"))
            .to_owned(),
    );

    // A site, a host structure with a post and a counsellor.
    let site = create(
        &app,
        admin,
        "mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } userErrors { code } } }",
        json!({ "source": "node-test", "sourceId": "1", "name": "Médiathèque", "commune": "Bordeaux",
            "postalCode": "33000", "address": "1 cours Victor Hugo" }),
        "site",
    )
    .await;
    ids.insert("Site", site.clone());
    let structure = create(
        &app,
        admin,
        "mutation($input: CreateHostStructureInput!) { createHostStructure(input: $input) { hostStructure { id } userErrors { code } } }",
        json!({ "siret": "44306184100047", "name": "Mairie", "kind": "COMMUNE", "department": "33" }),
        "hostStructure",
    )
    .await;
    ids.insert("HostStructure", structure.clone());
    ids.insert(
        "FundedPost",
        create(
            &app,
            admin,
            "mutation($input: CreateFundedPostInput!) { createFundedPost(input: $input) { fundedPost { id } userErrors { code } } }",
            json!({ "structureId": structure, "requested": 1 }),
            "fundedPost",
        )
        .await,
    );
    ids.insert(
        "Counsellor",
        create(
            &app,
            admin,
            "mutation($input: CreateCounsellorInput!) { createCounsellor(input: $input) { counsellor { id } userErrors { code } } }",
            json!({ "externalId": "cn-node", "structureId": structure, "firstName": "Léa", "lastName": "Durand", "hostShare": 25 }),
            "counsellor",
        )
        .await,
    );

    // An Aidants Connect organisation and its aidant.
    let organisation = create(
        &app,
        admin,
        "mutation($input: CreateAidantsOrganisationInput!) { createAidantsOrganisation(input: $input) { organisation { id } userErrors { code } } }",
        json!({ "name": "Médiathèque de Muret", "siret": "31000000000078", "kind": "COMMUNE", "address": "1 rue",
            "postalCode": "31600", "department": "31", "franceServices": true }),
        "organisation",
    )
    .await;
    ids.insert("AidantsOrganisation", organisation.clone());
    ids.insert(
        "Aidant",
        create(
            &app,
            admin,
            "mutation($input: CreateAidantInput!) { createAidant(input: $input) { aidant { id } userErrors { code } } }",
            json!({ "firstName": "Inès", "lastName": "Lopez", "email": "ines.lopez@muret.example",
                "organisations": [organisation], "status": "TRAINED", "trainedOn": "2021-02-01" }),
            "aidant",
        )
        .await,
    );

    // An envelope, a grant and a disbursement; a Pass numérique programme.
    envelope(&app, admin, "E2E-NODE", 2_300_000).await;
    let envelope_id = call(
        &app,
        Some(admin),
        r#"{ envelope(code: "E2E-NODE") { id } }"#,
        json!({}),
        "envelope",
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ids.insert("Envelope", envelope_id.clone());
    let grant = create(
        &app,
        admin,
        "mutation($input: CreateGrantInput!) { createGrant(input: $input) { grant { id } userErrors { code } } }",
        json!({ "envelopeId": envelope_id, "beneficiaryKind": "COLLECTIVITE", "beneficiaryRef": "department:33",
            "department": "33", "amount": 1_000_000, "startsOn": "2021-03-01" }),
        "grant",
    )
    .await;
    ids.insert("Grant", grant.clone());
    let (_, body) = app
        .post_as(
            Some(admin),
            "mutation($input: GrantVersionInput!) { signGrant(input: $input) { grant { id } userErrors { code } } }",
            json!({ "input": { "id": grant, "version": 1 } }),
        )
        .await;
    assert_eq!(
        body["data"]["signGrant"]["userErrors"],
        json!([]),
        "{body:#}"
    );
    ids.insert(
        "Disbursement",
        create(
            &app,
            admin,
            "mutation($input: RecordDisbursementInput!) { recordDisbursement(input: $input) { disbursement { id } userErrors { code } } }",
            json!({ "grantId": grant, "amount": 100_000, "paidOn": "2021-06-01" }),
            "disbursement",
        )
        .await,
    );
    ids.insert(
        "PassProgramme",
        create(
            &app,
            admin,
            "mutation($input: PassProgrammeInput!) { createPassProgramme(input: $input) { programme { id } userErrors { code } } }",
            json!({ "collectivite": "Bordeaux Métropole", "department": "33", "amount": 25_000_000,
                "vouchersIssued": 10_000, "vouchersUsed": 2_000, "siteIds": [site] }),
            "programme",
        )
        .await,
    );

    // An AMI campaign, a dossier with an attachment, under review with a score sheet.
    let campaign = open_campaign(&app, admin, "E2E-NODE-AMI", "E2E-NODE").await;
    ids.insert("AmiCampaign", campaign.clone());
    // Attachments are added while the dossier is a draft; then it is submitted and reviewed.
    let (dossier, version) = draft(
        &app,
        &cast.alice,
        &campaign,
        content("Hub Node", &["22"], 280_000),
    )
    .await;
    let (status, body) = upload(
        &app,
        Some(&cast.alice),
        &dossier,
        "programme.pdf",
        "application/pdf",
        b"%PDF-1.4\n%%EOF\n".to_vec(),
        true,
    )
    .await;
    assert_eq!(status, 201, "{body:#}");
    ids.insert(
        "AmiAttachment",
        body["attachment"]["id"].as_str().unwrap().to_owned(),
    );
    let a = mutate_ok(
        &app,
        &cast.alice,
        "submitAmiApplication",
        json!({ "id": dossier, "version": version }),
    )
    .await;
    mutate_ok(
        &app,
        &cast.reviewer_1,
        "startAmiReview",
        json!({ "id": dossier, "version": a["version"] }),
    )
    .await;
    ids.insert("AmiApplication", dossier.clone());
    let sheet = score(&app, &cast.reviewer_2, &dossier, [8, 7, 9, 6], "solide").await;
    ids.insert("AmiScoreSheet", sheet["id"].as_str().unwrap().to_owned());

    // A feed and a job sent to it; a token; a candidate pair of duplicates found by `dedup run`.
    let (_, body) = app
        .post_as(
            Some(admin),
            "mutation($input: CreateFeedInput!) { createFeed(input: $input) { feed { id slug } userErrors { code } } }",
            json!({ "input": { "slug": "node-feed" } }),
        )
        .await;
    assert_eq!(
        body["data"]["createFeed"]["userErrors"],
        json!([]),
        "{body:#}"
    );
    ids.insert(
        "Feed",
        body["data"]["createFeed"]["feed"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let response = app
        .client
        .post(format!("{}/feeds/node-feed/imports", app.base))
        .header("content-disposition", "attachment; filename=\"empty.json\"")
        .header("content-type", "application/json")
        .header("x-maillage-upload", "1")
        .bearer_auth(admin)
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    ids.insert("ImportJob", body["job"]["id"].as_str().unwrap().to_owned());
    let (_, body) = app
        .post_as(
            Some(admin),
            "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token { id } userErrors { code } } }",
            json!({ "input": { "name": "node test", "role": "partner" } }),
        )
        .await;
    assert_eq!(
        body["data"]["createApiToken"]["userErrors"],
        json!([]),
        "{body:#}"
    );
    ids.insert(
        "ApiToken",
        body["data"]["createApiToken"]["token"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    create(
        &app,
        admin,
        "mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } userErrors { code } } }",
        json!({ "source": "node-twin", "sourceId": "1", "name": "Médiathèque", "commune": "Bordeaux",
            "postalCode": "33000", "address": "1 cours Victor Hugo" }),
        "site",
    )
    .await;
    let out = app.cli(&["dedup", "run"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let matches = call(
        &app,
        Some(admin),
        "{ siteMatches(first: 1) { nodes { id } } }",
        json!({}),
        "siteMatches",
    )
    .await;
    ids.insert(
        "SiteMatch",
        matches["nodes"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no candidate pair: {matches:#}"))
            .to_owned(),
    );

    // Hub profiles: a seeded network figure and a coordinator added through the API.
    let network = call(
        &app,
        Some(admin),
        "{ hubNetworkIndicators { id } }",
        json!({}),
        "hubNetworkIndicators",
    )
    .await;
    ids.insert(
        "HubIndicator",
        network[0]["id"].as_str().unwrap().to_owned(),
    );
    let coordinator = create(
        &app,
        admin,
        "mutation($input: CreateHubCoordinatorInput!) { createHubCoordinator(input: $input) { hubCoordinator { id } userErrors { field code message } } }",
        json!({ "hub": "hinaura", "name": "Camille Martin" }),
        "hubCoordinator",
    )
    .await;
    ids.insert("HubCoordinator", coordinator);

    // Exactly the types implementing Node.
    let possible = call(
        &app,
        Some(admin),
        r#"{ __type(name: "Node") { possibleTypes { name } } }"#,
        json!({}),
        "__type",
    )
    .await;
    let mut implementing: Vec<&str> = possible["possibleTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    implementing.sort_unstable();
    assert_eq!(implementing, ids.keys().copied().collect::<Vec<_>>());

    // Each by `node`, as whoever may see it (an admin sees everything but a dossier's score sheets, which reviewers
    // read), then all at once by `nodes`.
    let node = "query($id: ID!) { node(id: $id) { __typename id } }";
    for (typename, id) in &ids {
        let token = if typename.starts_with("Ami") && *typename != "AmiCampaign" {
            &cast.reviewer_1
        } else {
            admin
        };
        let found = call(&app, Some(token), node, json!({ "id": id }), "node").await;
        assert_eq!(found["__typename"], *typename, "{id}");
        assert_eq!(found["id"], json!(id), "{typename}");
    }
    // All at once: the AMI kinds and the public ones as a reviewer, the kinds only admins manage as an admin.
    let admin_only = ["ApiToken", "Feed", "ImportJob"];
    for (token, admin_kinds) in [(&cast.reviewer_1, false), (admin, true)] {
        let wanted: Vec<(&&str, &String)> = ids
            .iter()
            .filter(|(t, _)| admin_only.contains(*t) == admin_kinds)
            .collect();
        let all: Vec<&String> = wanted.iter().map(|(_, id)| *id).collect();
        let found = call(
            &app,
            Some(token),
            "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
            json!({ "ids": all }),
            "nodes",
        )
        .await;
        for (i, (typename, id)) in wanted.iter().enumerate() {
            assert_eq!(found[i]["id"], json!(id), "{typename}: {found:#}");
            assert_eq!(found[i]["__typename"], json!(typename), "{found:#}");
        }
    }
    // What a caller may not see resolves to null, never to an error: a reviewer manages no feed, job or token.
    for typename in admin_only {
        let (_, body) = app
            .post_as(Some(&cast.reviewer_1), node, json!({ "id": ids[typename] }))
            .await;
        assert_eq!(body["data"]["node"], Value::Null, "{typename}: {body:#}");
    }
}
