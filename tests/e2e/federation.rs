//! The Apollo Federation v2 subgraph at `/federation/graphql`.

use crate::support::{TestApp, fixture};
use serde_json::{Value, json};

async fn subgraph(app: &TestApp, query: &str, variables: Value) -> Value {
    let r = app
        .client
        .post(format!("{}/federation/graphql", app.base))
        .header("content-type", "application/json")
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_subgraph_publishes_its_sdl_with_keys() {
    let app = TestApp::spawn().await;
    let body = subgraph(&app, "{ _service { sdl } }", json!({})).await;
    let sdl = body["data"]["_service"]["sdl"].as_str().unwrap();
    assert!(
        sdl.contains("https://specs.apollo.dev/federation/v2"),
        "{sdl}"
    );
    for entity in ["Site", "Hub", "Department"] {
        assert!(
            sdl.contains(&format!(
                "type {entity} implements Node @key(fields: \"id\")"
            )),
            "{entity}: {sdl}"
        );
    }
    // The public schema stays free of federation fields.
    let (_, body) = app.post("{ _service { sdl } }", json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "graphql_validation_failed"
    );
}

#[tokio::test]
async fn entities_resolve_from_their_keys() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;
    let data = app
        .data(
            "{ sites(first: 1) { nodes { id name } } hubs { id slug } department(code: \"69\") { id name } }",
            json!({}),
        )
        .await;
    let site = &data["sites"]["nodes"][0];
    let hub = &data["hubs"][0];
    let department = &data["department"];
    let body = subgraph(
        &app,
        "query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Site { name } ... on Hub { slug } ... on Department { name } } }",
        json!({ "r": [
            { "__typename": "Site", "id": site["id"] },
            { "__typename": "Hub", "id": hub["id"] },
            { "__typename": "Department", "id": department["id"] },
            { "__typename": "Department", "id": hub["id"] },
        ] }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let entities = body["data"]["_entities"].as_array().unwrap();
    assert_eq!(entities[0]["name"], site["name"]);
    assert_eq!(entities[1]["slug"], hub["slug"]);
    assert_eq!(entities[2]["name"], department["name"]);
    assert!(entities[3].is_null(), "{body}");
    assert!(body["extensions"]["cost"]["requested"].as_u64().unwrap() >= 4);
}
