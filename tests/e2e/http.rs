//! GraphQL over HTTP: content negotiation, status codes, GraphiQL.

use crate::support::TestApp;
use serde_json::Value;

#[tokio::test]
async fn graphiql_is_served_with_local_assets() {
    let app = TestApp::spawn().await;
    let page = app
        .client
        .get(format!("{}/graphql", app.base))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("/graphiql/graphiql.min.js"));
    assert!(
        !html.contains("https://"),
        "GraphiQL must not load anything from the internet"
    );
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        let r = app
            .client
            .get(format!("{}/graphiql/{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(r.bytes().await.unwrap().len() > 1000, "{asset}");
    }
    let missing = app
        .client
        .get(format!("{}/graphiql/nope.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn get_runs_queries_but_never_mutations() {
    let app = TestApp::spawn().await;
    let ok = app
        .client
        .get(format!("{}/graphql", app.base))
        .query(&[("query", "{ hubs { slug } }")])
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["data"]["hubs"].as_array().unwrap().len(), 10);

    let mutation = app
        .client
        .get(format!("{}/graphql", app.base))
        .query(&[("query", "mutation { __typename }")])
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    assert_eq!(mutation.status(), 405);
    assert_eq!(mutation.headers()["allow"], "POST");
}

#[tokio::test]
async fn content_negotiation_and_request_errors() {
    let app = TestApp::spawn().await;
    let url = format!("{}/graphql", app.base);

    // Not JSON: 415.
    let r = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("{ hubs { slug } }")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // Malformed JSON: 400 with a code.
    let r = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "bad_request");

    // A syntax error: 400 with graphql-response+json, 200 with legacy application/json, a code either way.
    for (accept, status, content_type) in [
        (
            "application/graphql-response+json",
            400,
            "application/graphql-response+json",
        ),
        ("application/json", 200, "application/json"),
    ] {
        let r = app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", accept)
            .body(r#"{"query": "{ hubs { "}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{accept}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type)
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "graphql_validation_failed",
            "{body}"
        );
    }

    // Nothing acceptable: 406.
    let r = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "text/csv")
        .body(r#"{"query": "{ hubs { slug } }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);

    // The SDL is served for tools that cannot introspect.
    let sdl = app
        .client
        .get(format!("{}/schema.graphql", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sdl.contains("type Site"));
}
