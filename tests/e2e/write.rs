//! The write API: tokens, roles and territories, optimistic concurrency, the audit trail.

use crate::support::{TestApp, fixture};
use serde_json::{Value, json};

const CREATE: &str = r#"mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id version department { code } } userErrors { field code message } } }"#;
const UPDATE: &str = r#"mutation($input: UpdateSiteInput!) { updateSite(input: $input) { site { id version name } userErrors { field code message } } }"#;
const DELETE: &str = r#"mutation($input: DeleteSiteInput!) { deleteSite(input: $input) { deletedSiteId userErrors { field code message } } }"#;
const UPDATE_HUB: &str = r#"mutation($input: UpdateHubInput!) { updateHub(input: $input) { hub { version name } userErrors { field code message } } }"#;
const SET_DEPS: &str = r#"mutation($input: SetHubDepartmentsInput!) { setHubDepartments(input: $input) { hub { version departments { code } } userErrors { field code message } } }"#;

fn new_site(source_id: &str, postal_code: &str) -> Value {
    json!({
        "source": "api-test",
        "sourceId": source_id,
        "name": format!("Lieu {source_id}"),
        "commune": "Commune",
        "postalCode": postal_code,
        "address": "1 place de la Mairie",
        "emails": ["prenom.nom@example.org"],
        "values": { "services": ["Aide aux démarches administratives"] }
    })
}

/// A site in `postal_code` created by an admin; returns its global id and version.
async fn seed_site(
    app: &TestApp,
    admin: &str,
    source_id: &str,
    postal_code: &str,
) -> (String, i64) {
    let (_, body) = app
        .post_as(
            Some(admin),
            CREATE,
            json!({ "input": new_site(source_id, postal_code) }),
        )
        .await;
    let site = &body["data"]["createSite"]["site"];
    assert!(site.is_object(), "{body}");
    (
        site["id"].as_str().unwrap().to_owned(),
        site["version"].as_i64().unwrap(),
    )
}

/// Whether a mutation was allowed: no GraphQL error (userErrors are business outcomes, not permission ones).
fn allowed(body: &Value) -> bool {
    match body["errors"][0]["extensions"]["code"].as_str() {
        None => true,
        Some("forbidden" | "unauthenticated") => false,
        Some(other) => panic!("unexpected error {other}: {body}"),
    }
}

/// Every role × every mutation, as DOMAIN.md's access table says: sites are written by admins anywhere and by hub
/// coordinators in their departments; a hub's profile (website, description) by admins and its own coordinators,
/// its departments by admins only; nobody else writes.
#[tokio::test]
async fn authorization_matrix() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let roles: Vec<(&str, Option<String>)> = vec![
        ("anonymous", None),
        ("partner", Some(app.token("partner", None).await)),
        (
            "hub_coordinator",
            Some(app.token("hub_coordinator", Some("hinaura")).await),
        ),
        ("bdt_reviewer", Some(app.token("bdt_reviewer", None).await)),
        (
            "ami_applicant",
            Some(app.token("ami_applicant", None).await),
        ),
        ("admin", Some(admin.clone())),
    ];
    let hub = app
        .data(r#"{ hub(slug: "hinaura") { id } }"#, json!({}))
        .await["hub"]["id"]
        .clone();
    for (i, (role, token)) in roles.iter().enumerate() {
        let token = token.as_deref();
        let writes_sites = matches!(*role, "hub_coordinator" | "admin");
        let writes_hubs = *role == "admin";
        let writes_hub_profile = matches!(*role, "hub_coordinator" | "admin");

        let (_, body) = app
            .post_as(
                token,
                CREATE,
                json!({ "input": new_site(&format!("m{i}"), "69001") }),
            )
            .await;
        assert_eq!(allowed(&body), writes_sites, "{role} createSite: {body}");

        let (id, version) = seed_site(&app, &admin, &format!("u{i}"), "69002").await;
        let (_, body) = app
            .post_as(
                token,
                UPDATE,
                json!({ "input": { "id": id, "version": version, "name": "Renamed" } }),
            )
            .await;
        assert_eq!(allowed(&body), writes_sites, "{role} updateSite: {body}");

        let (id, version) = seed_site(&app, &admin, &format!("d{i}"), "69003").await;
        let (_, body) = app
            .post_as(
                token,
                DELETE,
                json!({ "input": { "id": id, "version": version } }),
            )
            .await;
        assert_eq!(allowed(&body), writes_sites, "{role} deleteSite: {body}");

        let hub_version = app
            .data(r#"{ hub(slug: "hinaura") { version } }"#, json!({}))
            .await["hub"]["version"]
            .clone();
        let (_, body) = app
            .post_as(token, UPDATE_HUB, json!({ "input": { "id": hub, "version": hub_version, "description": format!("by {role}") } }))
            .await;
        assert_eq!(
            allowed(&body),
            writes_hub_profile,
            "{role} updateHub: {body}"
        );

        let hub_version = app
            .data(r#"{ hub(slug: "hinaura") { version } }"#, json!({}))
            .await["hub"]["version"]
            .clone();
        let deps = app
            .data(
                r#"{ hub(slug: "hinaura") { departments { code } } }"#,
                json!({}),
            )
            .await["hub"]["departments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].clone())
            .collect::<Vec<_>>();
        let (_, body) = app
            .post_as(
                token,
                SET_DEPS,
                json!({ "input": { "id": hub, "version": hub_version, "departments": deps } }),
            )
            .await;
        assert_eq!(
            allowed(&body),
            writes_hubs,
            "{role} setHubDepartments: {body}"
        );
        if *role == "anonymous" {
            assert_eq!(body["errors"][0]["extensions"]["code"], "unauthenticated");
        }
    }
}

/// Every personal-data field × every role: site e-mails are visible to national roles and to the coordinator of
/// the site's department only.
#[tokio::test]
async fn personal_data_visibility_matrix() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    seed_site(&app, &admin, "lyon", "69001").await;
    let cases = [
        (None, false),
        (Some(app.token("partner", None).await), false),
        (Some(app.token("ami_applicant", None).await), false),
        (
            Some(app.token("hub_coordinator", Some("hub-du-sud")).await),
            false,
        ),
        (
            Some(app.token("hub_coordinator", Some("hinaura")).await),
            true,
        ),
        (Some(app.token("bdt_reviewer", None).await), true),
        (Some(admin), true),
    ];
    for (token, visible) in cases {
        let (status, body) = app
            .post_as(
                token.as_deref(),
                "{ sites { nodes { emails } } }",
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "no error, just null: {body}");
        let emails = &body["data"]["sites"]["nodes"][0]["emails"];
        assert_eq!(emails.is_array(), visible, "{token:?}: {body}");
        if visible {
            assert_eq!(emails[0], "prenom.nom@example.org");
        }
    }
}

#[tokio::test]
async fn a_hub_coordinator_stays_in_its_territory() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let hinaura = app.token("hub_coordinator", Some("hinaura")).await;

    // Create in Bouches-du-Rhône (Hub du Sud): refused.
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            CREATE,
            json!({ "input": new_site("marseille", "13001") }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body}"
    );

    // Update a site of Hub du Sud: refused.
    let (id, version) = seed_site(&app, &admin, "sud", "13002").await;
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            UPDATE,
            json!({ "input": { "id": id, "version": version, "name": "Mine now" } }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body}"
    );

    // Move one of its own sites to Marseille: refused, and nothing written.
    let (id, version) = seed_site(&app, &admin, "lyon", "69001").await;
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            UPDATE,
            json!({ "input": { "id": id, "version": version, "postalCode": "13001" } }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body}"
    );
    let site = app
        .data(
            "query($id: ID!) { site(id: $id) { version department { code } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(site["site"]["department"]["code"], "69");
    assert_eq!(site["site"]["version"], version);

    // Within its territory (69 → 01): allowed.
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            UPDATE,
            json!({ "input": { "id": id, "version": version, "postalCode": "01000" } }),
        )
        .await;
    assert_eq!(
        body["data"]["updateSite"]["userErrors"],
        json!([]),
        "{body}"
    );
}

/// A userError's field path, joined with dots.
fn field_of(e: &Value) -> String {
    e["field"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(".")
}

#[tokio::test]
async fn input_errors_are_user_errors_with_field_paths() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let mut input = new_site("bad", "6900");
    input["emails"] = json!(["ok@example.org", "not-an-email"]);
    input["values"] = json!({ "services": ["Aide aux démarches administratives", "Jardinage"] });
    // The values tests/sites' `input_rules_bind_imports_and_direct_callers_alike` feeds an import: dropped there,
    // refused here, by the same rules.
    input["phone"] = json!("12");
    input["latitude"] = json!(95);
    input["longitude"] = json!(4.8);
    input["name"] = json!("N".repeat(301));
    let (_, body) = app
        .post_as(Some(&admin), CREATE, json!({ "input": input }))
        .await;
    let errors = body["data"]["createSite"]["userErrors"]
        .as_array()
        .unwrap()
        .clone();
    let fields: Vec<String> = errors.iter().map(field_of).collect();
    assert_eq!(
        fields,
        [
            "input.name",
            "input.postalCode",
            "input.latitude",
            "input.phone",
            "input.emails.1",
            "input.values.services.1",
        ],
        "{errors:?}"
    );
    let codes: Vec<&str> = errors.iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes[5], "unknown_value");
    assert!(
        codes[..5].iter().all(|c| *c == "invalid_value"),
        "{codes:?}"
    );
    assert_eq!(app.site_count().await, 0, "nothing written");

    let (_, _) = app
        .post_as(
            Some(&admin),
            CREATE,
            json!({ "input": new_site("dup", "69001") }),
        )
        .await;
    let (_, body) = app
        .post_as(
            Some(&admin),
            CREATE,
            json!({ "input": new_site("dup", "69001") }),
        )
        .await;
    assert_eq!(
        body["data"]["createSite"]["userErrors"][0]["code"], "already_exists",
        "{body}"
    );

    let (_, body) = app
        .post_as(
            Some(&admin),
            UPDATE,
            json!({ "input": { "id": "garbage", "version": 1, "name": "x" } }),
        )
        .await;
    assert_eq!(
        body["data"]["updateSite"]["userErrors"][0]["code"], "invalid_id",
        "{body}"
    );

    // An update obeys the same rules, with the input's real paths; a usual French phone layout is normalised.
    let (id, version) = seed_site(&app, &admin, "upd", "69001").await;
    let (_, body) = app
        .post_as(
            Some(&admin),
            UPDATE,
            json!({ "input": {
                "id": id, "version": version, "name": " ", "latitude": 45.7, "phone": "0478",
                "values": { "fees": ["Cher"] }
            } }),
        )
        .await;
    let errors = body["data"]["updateSite"]["userErrors"]
        .as_array()
        .unwrap()
        .clone();
    let fields: Vec<String> = errors.iter().map(field_of).collect();
    assert_eq!(
        fields,
        [
            "input.name",
            "input.longitude",
            "input.phone",
            "input.values.fees.0"
        ],
        "{errors:?}"
    );
    let (_, body) = app
        .post_as(
            Some(&admin),
            r#"mutation($input: UpdateSiteInput!) { updateSite(input: $input) { site { phone } userErrors { field } } }"#,
            json!({ "input": { "id": id, "version": version, "phone": "04 78 00 00 00" } }),
        )
        .await;
    assert_eq!(
        body["data"]["updateSite"],
        json!({ "site": { "phone": "+33478000000" }, "userErrors": [] }),
        "{body}"
    );
}

/// Two updates of one site with the same version: exactly one wins, the other gets `stale_version` and writes nothing.
#[tokio::test]
async fn concurrent_updates_with_one_version_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    for round in 0..5 {
        let (id, version) = seed_site(&app, &admin, &format!("race{round}"), "69001").await;
        let update = |name: &'static str| {
            let (app, admin, id) = (&app, admin.clone(), id.clone());
            async move {
                app.post_as(
                    Some(&admin),
                    UPDATE,
                    json!({ "input": { "id": id, "version": version, "name": name } }),
                )
                .await
                .1
            }
        };
        let (a, b) = tokio::join!(update("Alpha"), update("Beta"));
        let outcomes: Vec<&Value> = vec![&a["data"]["updateSite"], &b["data"]["updateSite"]];
        let wins: Vec<&&Value> = outcomes
            .iter()
            .filter(|o| o["userErrors"] == json!([]))
            .collect();
        let stale = outcomes
            .iter()
            .filter(|o| o["userErrors"][0]["code"] == "stale_version")
            .count();
        assert_eq!(wins.len(), 1, "{a} {b}");
        assert_eq!(stale, 1, "{a} {b}");
        let winner = wins[0]["site"]["name"].clone();
        let stored = app
            .data(
                "query($id: ID!) { site(id: $id) { name version } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(stored["site"]["name"], winner);
        assert_eq!(stored["site"]["version"].as_i64(), Some(version + 1));
    }
}

#[tokio::test]
async fn imports_and_mutations_leave_an_audit_trail() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;

    let query = r#"query($f: AuditLogFilter) { auditLog(filter: $f, first: 100) { totalCount nodes { actor actorRole requestId entityType entityId action changes departmentCode } } }"#;
    let (_, body) = app
        .post_as(
            Some(&admin),
            query,
            json!({ "f": { "actor": "cli", "entityType": "site" } }),
        )
        .await;
    let entries = body["data"]["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(entries.len(), 6, "one entry per imported site: {body}");
    assert!(
        entries
            .iter()
            .all(|e| e["action"] == "create" && e["actorRole"] == "admin")
    );
    assert_eq!(entries[0]["changes"]["via"], "import");

    // A mutation, with the client's request id.
    let id = app
        .data(
            r#"{ sites(filter: { text: "part-dieu" }) { nodes { id version } } }"#,
            json!({}),
        )
        .await["sites"]["nodes"][0]
        .clone();
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .header("x-request-id", "req-audit-1")
        .json(&json!({ "query": UPDATE, "variables": { "input": { "id": id["id"], "version": id["version"], "name": "Bibliothèque Part-Dieu" } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, body) = app
        .post_as(Some(&admin), query, json!({ "f": { "action": "update" } }))
        .await;
    let entry = &body["data"]["auditLog"]["nodes"][0];
    assert_eq!(entry["requestId"], "req-audit-1", "{body}");
    assert_eq!(entry["actor"].as_str().unwrap(), "token:1:test admin");
    assert_eq!(
        entry["changes"]["name"]["before"],
        "Médiathèque de la Part-Dieu"
    );
    assert_eq!(entry["changes"]["name"]["after"], "Bibliothèque Part-Dieu");
    assert_eq!(entry["departmentCode"], "69");

    // A hub coordinator reads its territory only; a partner cannot read the log.
    let sud = app.token("hub_coordinator", Some("hub-du-sud")).await;
    let (_, body) = app
        .post_as(Some(&sud), query, json!({ "f": { "entityType": "site" } }))
        .await;
    let departments: Vec<&str> = body["data"]["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["departmentCode"].as_str().unwrap())
        .collect();
    assert_eq!(departments, ["13"], "{body}");
    let partner = app.token("partner", None).await;
    let (_, body) = app.post_as(Some(&partner), query, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "forbidden");

    // The schema offers no way to change the log.
    let sdl = maillage_graphql::sdl();
    let mutation = &sdl[sdl.find("type MutationRoot").unwrap()..];
    let mutation = &mutation[..mutation.find("\n}").unwrap()];
    let fields: Vec<&str> = mutation
        .lines()
        .filter_map(|l| l.trim().split_once('(').map(|(name, _)| name))
        .filter(|name| name.chars().all(char::is_alphanumeric))
        .collect();
    assert!(fields.len() >= 5, "{fields:?}");
    assert!(
        fields.iter().all(|f| !f.to_lowercase().contains("audit")),
        "{fields:?}"
    );
}

#[tokio::test]
async fn tokens_unknown_revoked_or_expired_get_401_without_detail() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let (status, _) = app
        .post_as(Some(&admin), "{ hubs { slug } }", json!({}))
        .await;
    assert_eq!(status, 200);

    for bad in ["mlg_0000", "not-even-a-token", ""] {
        let (status, body) = app.post_as(Some(bad), "{ hubs { slug } }", json!({})).await;
        assert_eq!(status, 401, "{bad}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "unauthenticated");
    }

    // Through the CLI: create, list (no secret), revoke.
    let out = app
        .cli(&[
            "token",
            "create",
            "--role",
            "partner",
            "--name",
            "Carto app",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(secret.starts_with("mlg_"));
    let (status, _) = app
        .post_as(Some(&secret), "{ hubs { slug } }", json!({}))
        .await;
    assert_eq!(status, 200);
    let list = String::from_utf8(app.cli(&["token", "list"]).await.stdout).unwrap();
    assert!(
        list.contains("Carto app") && !list.contains(&secret),
        "{list}"
    );
    let id = list
        .lines()
        .find(|l| l.contains("Carto app"))
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    assert!(app.cli(&["token", "revoke", &id]).await.status.success());
    let (status, _) = app
        .post_as(Some(&secret), "{ hubs { slug } }", json!({}))
        .await;
    assert_eq!(status, 401);

    // A token that would be expired already is refused.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(2))
        .date_naive()
        .to_string();
    let out = app
        .cli(&[
            "token",
            "create",
            "--role",
            "partner",
            "--name",
            "old",
            "--expires",
            &yesterday,
        ])
        .await;
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must expire in the future"));

    // A hub coordinator token needs a hub.
    let out = app
        .cli(&[
            "token",
            "create",
            "--role",
            "hub_coordinator",
            "--name",
            "x",
        ])
        .await;
    assert!(!out.status.success());
}
