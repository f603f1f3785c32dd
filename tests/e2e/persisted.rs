//! Automatic persisted queries (Apollo's protocol) and trusted documents.

use crate::support::TestApp;
use maillage_server::config::{ProtectionConfig, ServeConfig};
use maillage_server::persisted::{TrustedDocuments, sha256_hex};
use serde_json::{Value, json};

async fn post(app: &TestApp, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

#[tokio::test]
async fn automatic_persisted_queries_round_trip() {
    let app = TestApp::spawn().await;
    let query = "{ hubs { slug } }";
    let hash = sha256_hex(query);

    // Unknown hash: the client is told to send the document.
    let (status, body) = post(&app, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );

    // Document and hash: runs and registers.
    let (status, body) = post(
        &app,
        json!({ "query": query, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["hubs"].as_array().unwrap().len(), 10);

    // Hash alone now runs, over POST and over GET.
    let (status, body) = post(&app, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["hubs"].as_array().unwrap().len(), 10);
    let r = app
        .client
        .get(format!("{}/graphql", app.base))
        .query(&[("extensions", persisted(&hash).to_string())])
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["hubs"].as_array().unwrap().len(), 10);

    // A hash that is not the document's is refused, and registers nothing.
    let other = sha256_hex("{ regions { code } }");
    let (status, body) = post(
        &app,
        json!({ "query": query, "extensions": persisted(&other) }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "persisted_query_hash_mismatch"
    );
    let (_, body) = post(&app, json!({ "extensions": persisted(&other) })).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );

    // A malformed extension is a bad request.
    let (status, body) = post(
        &app,
        json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["extensions"]["code"], "bad_request");
}

#[tokio::test]
async fn trusted_documents_mode_runs_only_registered_documents() {
    let registered = "query Hubs { hubs { slug } }";
    let hash = sha256_hex(registered);
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    std::fs::write(&manifest, json!({ &hash: registered }).to_string()).unwrap();
    let documents = TrustedDocuments::load(manifest.to_str().unwrap()).unwrap();
    assert_eq!(documents.len(), 1);
    let app = TestApp::spawn_with(ServeConfig {
        protection: ProtectionConfig {
            trusted_documents: Some(documents),
            ..ProtectionConfig::default()
        },
        ..ServeConfig::default()
    })
    .await;

    // By hash, and by full text.
    let (status, body) = post(&app, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["hubs"].as_array().unwrap().len(), 10);
    let (status, body) = post(&app, json!({ "query": registered })).await;
    assert_eq!(status, 200, "{body}");

    // Anything else is refused, and APQ cannot register new documents.
    let other = "{ hubs { slug name } }";
    let (status, body) = post(&app, json!({ "query": other })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "untrusted_document"
    );
    let (_, body) = post(
        &app,
        json!({ "query": other, "extensions": persisted(&sha256_hex(other)) }),
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "untrusted_document"
    );
    let (_, body) = post(&app, json!({ "extensions": persisted(&sha256_hex(other)) })).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );

    // A manifest whose keys are not the documents' hashes is refused at startup.
    std::fs::write(&manifest, json!({ "abc": registered }).to_string()).unwrap();
    assert!(TrustedDocuments::load(manifest.to_str().unwrap()).is_err());
}
