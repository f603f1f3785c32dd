//! GraphQL over HTTP: content negotiation, status codes, GraphiQL.

use crate::support::TestApp;
use serde_json::{Value, json};

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

/// A page large enough to be sent as a piece of its own (its JSON fragment shared with the response, not copied,
/// `maillage_graphql::kit::json::Pieces`) reads as the same page answered through async-graphql's tree: whole, with
/// a `Content-Length` that is the body's length, plain and compressed.
#[tokio::test]
async fn a_large_page_is_sent_whole_with_its_length() {
    use std::io::Read;
    let app = TestApp::spawn().await;
    // The fixture's header (every column of the national standard), then 40 sites of Lyon.
    let fixture = std::fs::read_to_string(crate::support::fixture("sites-v1.csv")).unwrap();
    let header = fixture.lines().next().unwrap();
    let columns: Vec<&str> = header.split(',').collect();
    let mut csv = format!("{header}\n");
    for i in 0..40 {
        let row: Vec<String> = columns
            .iter()
            .map(|column| match *column {
                "id" => format!("piece-{i}"),
                "pivot" => "00000000000000".to_owned(),
                "nom" => format!("\"Espace \"\"numérique\"\" n° {i}\""),
                "commune" => "Lyon".to_owned(),
                "code_postal" => format!("6900{}", 1 + i % 9),
                "adresse" => format!("{i} rue Garibaldi"),
                "latitude" => "45.76".to_owned(),
                "longitude" => "4.85".to_owned(),
                "source" => "Hinaura".to_owned(),
                "date_maj" => "2024-04-02".to_owned(),
                "services" => "Maîtrise des outils numériques du quotidien".to_owned(),
                _ => String::new(),
            })
            .collect();
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    let file = app.dir.path().join("pieces.csv");
    std::fs::write(&file, csv).unwrap();
    app.import(&file, "hinaura").await;

    let fields = "sourceId name commune postalCode department { code name region { name } }";
    let page = format!("{{ sites(first: 40) {{ nodes {{ {fields} }} }} }}");
    // One field under two keys: async-graphql merges them, so this document is answered without fragments.
    let tree = format!("{{ sites(first: 40) {{ nodes {{ sourceId }} nodes {{ {fields} }} }} }}");
    let through_tree = app.data(&tree, json!({})).await;
    assert_eq!(through_tree["sites"]["nodes"].as_array().unwrap().len(), 40);

    for encoding in [None, Some("gzip")] {
        let mut request = app
            .client
            .post(format!("{}/graphql", app.base))
            .json(&json!({ "query": page }));
        if let Some(encoding) = encoding {
            request = request.header("accept-encoding", encoding);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let length = response
            .headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap().parse::<usize>().unwrap());
        let raw = response.bytes().await.unwrap();
        let text = match encoding {
            None => {
                assert_eq!(length, Some(raw.len()), "the length is the body's");
                assert!(raw.len() > 4096, "a page of {} bytes", raw.len());
                String::from_utf8(raw.to_vec()).unwrap()
            }
            Some(_) => {
                let mut text = String::new();
                flate2::read::GzDecoder::new(raw.as_ref())
                    .read_to_string(&mut text)
                    .unwrap();
                text
            }
        };
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["data"], through_tree, "{encoding:?}");
        assert!(body["extensions"]["cost"]["actual"].as_u64().unwrap() > 0);
    }
}
