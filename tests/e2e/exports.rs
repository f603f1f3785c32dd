//! Exports over HTTP and browser access: validators and 304, file names, personal data by caller, formulas
//! neutralised in every CSV, data·inclusion JSON valid against its schema, GeoJSON, CORS, compression, key order.

use crate::support::{TestApp, fixture, shared_data};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::io::Read;

const FORMULA: &str = "=HYPERLINK(\"x\")";
const NEUTRALISED: &str = "'=HYPERLINK(\"x\")";

/// `GET path` with an optional token and extra headers; returns status, headers and the raw body.
async fn get(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, HeaderMap, Vec<u8>) {
    let mut request = app.client.get(format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

/// The rows of a CSV body, header first.
fn csv_rows(body: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// The cells of column `name`.
fn column(rows: &[Vec<String>], name: &str) -> Vec<String> {
    let i = rows[0]
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", rows[0]));
    rows[1..].iter().map(|r| r[i].clone()).collect()
}

/// A v1.0.2 file with one site in Lyon named like a formula, with an e-mail address.
fn formula_site(app: &TestApp) -> std::path::PathBuf {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(maillage_sites::standard::V1_COLUMNS)
        .unwrap();
    let mut row = vec![String::new(); 32];
    for (column, value) in [
        ("id", "formula-1"),
        ("pivot", "00000000000000"),
        ("nom", FORMULA),
        ("commune", "Lyon"),
        ("code_postal", "69001"),
        ("adresse", "1 place des Terreaux"),
        ("courriels", "accueil@terreaux.example"),
        ("date_maj", "2024-05-01"),
    ] {
        let i = maillage_sites::standard::V1_COLUMNS
            .iter()
            .position(|c| *c == column)
            .unwrap();
        row[i] = value.to_owned();
    }
    w.write_record(&row).unwrap();
    let path = app.dir.path().join("formula-site.csv");
    std::fs::write(&path, w.into_inner().unwrap()).unwrap();
    path
}

#[tokio::test]
async fn the_sites_csv_streams_with_validators_and_the_apis_personal_data_rules() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "hinaura").await;
    let coordinator = app.token("hub_coordinator", Some("hinaura")).await;

    let (status, h, body) = get(&app, None, "/exports/sites.csv", &[]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&h, "content-type"), "text/csv; charset=utf-8");
    let disposition = header(&h, "content-disposition");
    assert!(
        disposition.starts_with("attachment; filename=\"maillage-sites-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let etag = header(&h, "etag").to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert!(!header(&h, "last-modified").is_empty());
    let anonymous = csv_rows(&body);
    assert_eq!(anonymous[0], maillage_sites::standard::V1_COLUMNS);
    let total = anonymous.len() - 1;
    assert_eq!(total as u64, app.site_count().await);
    // Anonymous callers never get e-mail addresses; the hub's coordinator does, for its territory.
    assert!(column(&anonymous, "courriels").iter().all(String::is_empty));
    let (status, h2, body) = get(&app, Some(&coordinator), "/exports/sites.csv", &[]).await;
    assert_eq!(status, 200);
    let coordinators = csv_rows(&body);
    assert!(
        column(&coordinators, "courriels").contains(&"contact@bm-lyon.fr".to_owned()),
        "{coordinators:?}"
    );
    assert_ne!(header(&h2, "etag"), etag, "another view, another tag");

    // The client's copy is current: 304, no body; the same with the date.
    let (status, h, body) = get(
        &app,
        None,
        "/exports/sites.csv",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(status, 304);
    assert!(body.is_empty());
    assert_eq!(header(&h, "etag"), etag);
    let last_modified = header(&h, "last-modified").to_owned();
    let (status, _, _) = get(
        &app,
        None,
        "/exports/sites.csv",
        &[("if-modified-since", &last_modified)],
    )
    .await;
    assert_eq!(status, 304);
    // Other parameters, another file and another tag.
    let (status, h, body) = get(&app, None, "/exports/sites.csv?departments=38", &[]).await;
    assert_eq!(status, 200);
    assert_ne!(header(&h, "etag"), etag);
    assert!(csv_rows(&body).len() - 1 < total);

    // A write changes the data: the old tag no longer matches, and a stored formula comes out neutralised.
    app.import(&formula_site(&app), "formules").await;
    let (status, h, body) = get(
        &app,
        None,
        "/exports/sites.csv",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(header(&h, "etag"), etag);
    let rows = csv_rows(&body);
    assert_eq!(rows.len() - 1, total + 1);
    assert!(
        column(&rows, "nom").contains(&NEUTRALISED.to_owned()),
        "{rows:?}"
    );
    assert!(!column(&rows, "nom").contains(&FORMULA.to_owned()));

    // Bad parameters are refused with a code, before anything is written.
    for path in [
        "/exports/sites.csv?departments=999",
        "/exports/sites.csv?hub=nowhere",
        "/exports/sites.csv?colour=blue",
    ] {
        let (status, _, body) = get(&app, None, path, &[]).await;
        assert_eq!(status, 400, "{path}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            body["errors"][0]["extensions"]["code"].is_string(),
            "{body}"
        );
    }
    let (status, h, _) = get(&app, Some("mlg_not_a_token"), "/exports/sites.csv", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(header(&h, "www-authenticate"), "Bearer");

    // The operator's command line writes through the same writer.
    let out = app.cli(&["export", "--standard", "v1"]).await;
    assert!(out.status.success());
    let rows = csv_rows(&out.stdout);
    assert!(column(&rows, "nom").contains(&NEUTRALISED.to_owned()));
}

#[tokio::test]
async fn datainclusion_json_validates_and_geojson_has_points() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "hinaura").await;
    let sites = app.site_count().await;
    for collection in ["structure", "service"] {
        let path = format!("/exports/sites/datainclusion/{collection}s.json");
        let (status, h, body) = get(&app, None, &path, &[]).await;
        assert_eq!(status, 200, "{path}");
        assert!(header(&h, "content-type").starts_with("application/json"));
        let items: Vec<Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(items.len() as u64, sites);
        assert!(items.iter().all(|i| i["courriel"].is_null()), "anonymous");
        let Some(schema) = shared_data(&format!(
            "schemas/data-inclusion-v1-{collection}.schema.json"
        )) else {
            continue;
        };
        let schema: Value = serde_json::from_slice(&std::fs::read(schema).unwrap()).unwrap();
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        for item in &items {
            let errors: Vec<String> = validator.iter_errors(item).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{item:#}: {errors:?}");
        }
    }

    let (status, h, body) = get(&app, None, "/exports/sites.geojson?departments=69", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "application/geo+json");
    assert!(header(&h, "content-disposition").ends_with(".geojson\""));
    let collection: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(collection["type"], "FeatureCollection");
    let features = collection["features"].as_array().unwrap();
    assert!(!features.is_empty());
    let part_dieu = features
        .iter()
        .find(|f| f["properties"]["source_id"] == "lyon-1")
        .expect("lyon-1");
    assert_eq!(
        part_dieu["geometry"],
        json!({ "type": "Point", "coordinates": [4.859, 45.7605] })
    );
    assert!(
        features
            .iter()
            .all(|f| f["properties"]["departement"] == "69")
    );
}

/// Rewrites a fixture with `from` replaced by `to` into the app's directory.
fn rewritten(app: &TestApp, fixture_name: &str, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(fixture(fixture_name)).unwrap();
    assert!(text.contains(from), "{from} not in {fixture_name}");
    let path = app.dir.path().join(fixture_name.replace('/', "-"));
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_list_export_neutralises_formulas_and_follows_the_callers_rights() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let partner = app.token("partner", None).await;
    // Stored values that start like formulas, in every list (CSV cells quoted as their files need).
    let structures = rewritten(
        &app,
        "counsellors/structures.csv",
        "Mairie de Villeurbanne",
        "\"=HYPERLINK(\"\"x\"\")\"",
    );
    let counsellors = rewritten(
        &app,
        "counsellors/counsellors.csv",
        "Camille",
        "\"=HYPERLINK(\"\"x\"\")\"",
    );
    let organisations = rewritten(
        &app,
        "aidants/organisations.csv",
        "Mairie de Colomiers",
        "\"=HYPERLINK(\"\"x\"\")\"",
    );
    let aidants = rewritten(
        &app,
        "aidants/aidants.csv",
        "Martin",
        "\"=HYPERLINK(\"\"x\"\")\"",
    );
    for args in [
        ["counsellors", "import", "structures", structures.as_str()],
        ["counsellors", "import", "counsellors", counsellors.as_str()],
        ["aidants", "import", "organisations", organisations.as_str()],
        ["aidants", "import", "aidants", aidants.as_str()],
    ] {
        let out = app.cli(&args).await;
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // An envelope named like a formula, created with a request id like a formula (it lands in the audit log), and a
    // grant whose contact is one.
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&admin)
        .header("x-request-id", FORMULA)
        .json(&json!({
            "query": "mutation($input: CreateEnvelopeInput!) { createEnvelope(input: $input) { envelope { id } userErrors { code } } }",
            "variables": { "input": { "code": "E2E-FORMULA", "name": FORMULA, "amount": 10_000_000 } },
        }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let envelope = body["data"]["createEnvelope"]["envelope"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let (_, body) = app
        .post_as(
            Some(&admin),
            "mutation($input: CreateGrantInput!) { createGrant(input: $input) { grant { id } userErrors { code message } } }",
            json!({ "input": {
                "envelopeId": envelope,
                "beneficiaryKind": "COLLECTIVITE",
                "beneficiaryRef": "department:69",
                // Free text typed by a person, personal data: shown to the admin, as text.
                "contact": FORMULA,
                "department": "69",
                "amount": 100_000,
                "startsOn": "2021-03-01"
            } }),
        )
        .await;
    assert!(
        body["data"]["createGrant"]["grant"]["id"].is_string(),
        "{body}"
    );

    for (path, column_name) in [
        ("/exports/structures.csv", "nom"),
        ("/exports/counsellors.csv", "prenom"),
        ("/exports/organisations.csv", "nom"),
        ("/exports/aidants.csv", "nom"),
        ("/exports/grants.csv", "contact"),
        ("/exports/envelopes.csv", "nom"),
        ("/exports/audit-log.csv", "request_id"),
    ] {
        let (status, h, body) = get(&app, Some(&admin), path, &[]).await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        assert_eq!(
            header(&h, "content-type"),
            "text/csv; charset=utf-8",
            "{path}"
        );
        assert!(header(&h, "content-disposition").starts_with("attachment; filename=\"maillage-"));
        let rows = csv_rows(&body);
        let cells = column(&rows, column_name);
        assert!(cells.contains(&NEUTRALISED.to_owned()), "{path}: {cells:?}");
        assert!(!cells.contains(&FORMULA.to_owned()), "{path}");
        // 304 on every export.
        let (status, _, _) = get(
            &app,
            Some(&admin),
            path,
            &[("if-none-match", header(&h, "etag"))],
        )
        .await;
        assert_eq!(status, 304, "{path}");
    }

    // Personal data: the grant's contact and aidants' names for the admin, not for a partner or anonymously.
    for token in [Some(partner.as_str()), None] {
        let (status, _, body) = get(&app, token, "/exports/grants.csv", &[]).await;
        assert_eq!(status, 200);
        assert!(
            column(&csv_rows(&body), "contact")
                .iter()
                .all(String::is_empty)
        );
        let (status, _, body) = get(&app, token, "/exports/aidants.csv", &[]).await;
        assert_eq!(status, 200);
        assert!(
            column(&csv_rows(&body), "email")
                .iter()
                .all(String::is_empty)
        );
        // Lists that are not public at all are refused.
        for path in ["/exports/counsellors.csv", "/exports/audit-log.csv"] {
            let (status, _, body) = get(&app, token, path, &[]).await;
            assert_eq!(status, 403, "{path}");
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["errors"][0]["extensions"]["code"], "forbidden");
        }
    }
    let (_, _, body) = get(&app, Some(&admin), "/exports/grants.csv", &[]).await;
    assert!(column(&csv_rows(&body), "contact").contains(&NEUTRALISED.to_owned()));
}

#[tokio::test]
async fn browsers_on_other_origins_may_call_the_api_and_exports_but_not_uploads() {
    let app = TestApp::spawn().await;
    let preflight = |path: &'static str, headers: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.base))
            .header("origin", "https://carte.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", headers)
            .send()
    };
    let response = preflight("/graphql", "authorization,content-type")
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let h = response.headers();
    assert_eq!(header(h, "access-control-allow-origin"), "*");
    let allowed = header(h, "access-control-allow-headers").to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(!allowed.contains("x-maillage-upload"), "{allowed}");
    assert!(header(h, "access-control-allow-methods").contains("POST"));
    assert!(h.get("access-control-allow-credentials").is_none());

    let response = preflight("/exports/sites.csv", "authorization")
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    // Uploads keep their anti-CSRF header: no CORS answer, so a browser never sends the request.
    let response = preflight(
        "/ami/applications/1/attachments",
        "x-maillage-upload,authorization",
    )
    .await
    .unwrap();
    assert_ne!(response.status().as_u16(), 204);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // The actual request: readable by the page, with the headers it needs exposed.
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("origin", "https://carte.example")
        .json(&json!({ "query": "{ sites(first: 5) { nodes { name } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        "*"
    );
    let response = app
        .client
        .get(format!("{}/exports/sites.csv", app.base))
        .header("origin", "https://carte.example")
        .send()
        .await
        .unwrap();
    let exposed = header(response.headers(), "access-control-expose-headers").to_ascii_lowercase();
    assert!(
        exposed.contains("etag") && exposed.contains("content-disposition"),
        "{exposed}"
    );
}

#[tokio::test]
async fn responses_are_compressed_as_negotiated_and_keys_keep_the_selection_order() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "hinaura").await;
    let query = "{ sites(first: 5) { totalCount nodes { name id commune } } }";
    let plain = app.data(query, json!({})).await;
    for (encoding, path) in [
        ("gzip", "/graphql"),
        ("br", "/graphql"),
        ("gzip", "/exports/sites.csv"),
        ("br", "/exports/sites.geojson"),
    ] {
        let request = if path == "/graphql" {
            app.client
                .post(format!("{}{path}", app.base))
                .json(&json!({ "query": query }))
        } else {
            app.client.get(format!("{}{path}", app.base))
        };
        let response = request
            .header("accept-encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            header(response.headers(), "content-encoding"),
            encoding,
            "{path}"
        );
        let raw = response.bytes().await.unwrap();
        let mut text = String::new();
        match encoding {
            "gzip" => {
                flate2::read::GzDecoder::new(raw.as_ref())
                    .read_to_string(&mut text)
                    .unwrap();
            }
            _ => {
                brotli::Decompressor::new(raw.as_ref(), 4096)
                    .read_to_string(&mut text)
                    .unwrap();
            }
        }
        assert!(
            text.len() > raw.len(),
            "{path}: {} → {}",
            raw.len(),
            text.len()
        );
        if path == "/graphql" {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["data"], plain);
        }
    }
    // Without Accept-Encoding: identity.
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("content-encoding").is_none());
    // Keys in the order the query selected them, not sorted.
    let text = response.text().await.unwrap();
    let at = |key: &str| {
        text.find(&format!("\"{key}\""))
            .unwrap_or_else(|| panic!("{key} in {text}"))
    };
    assert!(at("data") < at("extensions"), "{text}");
    assert!(at("totalCount") < at("nodes"), "{text}");
    assert!(at("name") < at("id") && at("id") < at("commune"), "{text}");
    let reversed = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": "{ sites(first: 1) { nodes { commune name } totalCount } }" }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = |key: &str| reversed.find(&format!("\"{key}\"")).unwrap();
    assert!(
        at("nodes") < at("totalCount") && at("commune") < at("name"),
        "{reversed}"
    );
}
