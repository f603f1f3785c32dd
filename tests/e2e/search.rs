//! Finding a place through the API (issue #21): full-text search, near search with distances, and their orders.

use crate::support::{TestApp, fixture, shared_data};
use serde_json::{Value, json};

const SITES: &str = "query($filter: SiteFilter, $orderBy: SiteOrderBy) { \
    sites(filter: $filter, orderBy: $orderBy, first: 100) { totalCount nodes { sourceId distanceKm } } }";

async fn sites(app: &TestApp, filter: Value) -> Vec<Value> {
    let data = app.data(SITES, json!({ "filter": filter })).await;
    data["sites"]["nodes"].as_array().unwrap().clone()
}

fn ids(nodes: &[Value]) -> Vec<&str> {
    nodes
        .iter()
        .map(|n| n["sourceId"].as_str().unwrap())
        .collect()
}

async fn total(app: &TestApp, text: &str) -> u64 {
    let data = app.data(SITES, json!({ "filter": { "text": text } })).await;
    data["sites"]["totalCount"].as_u64().unwrap()
}

fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0088 * h.sqrt().asin()
}

#[tokio::test]
async fn text_and_near_search_through_graphql() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;
    // NFD input, a typo, an address word: the same médiathèque.
    // "médiathèque" with combining accents (U+0301, U+0300), as macOS and many forms send it.
    let nfd = "me\u{301}diathe\u{300}que part-dieu";
    assert_ne!(nfd, "médiathèque part-dieu");
    for text in [nfd, "mediateque", "vivier merle", "MEDIATHEQUES"] {
        assert_eq!(
            ids(&sites(&app, json!({ "text": text })).await),
            ["lyon-1"],
            "{text}"
        );
    }
    // Near the Part-Dieu, 5 km: the two Lyon sites, nearest first, with their distances.
    let centre = (45.7600, 4.8600);
    let nodes = sites(
        &app,
        json!({ "near": { "latitude": centre.0, "longitude": centre.1, "radiusKm": 5.0 } }),
    )
    .await;
    assert_eq!(ids(&nodes), ["lyon-1", "lyon-2"]);
    let d1 = nodes[0]["distanceKm"].as_f64().unwrap();
    assert!(
        (d1 - haversine_km(centre, (45.7605, 4.8590))).abs() < 1e-6,
        "{d1}"
    );
    let d2 = nodes[1]["distanceKm"].as_f64().unwrap();
    assert!(
        (d2 - haversine_km(centre, (45.7747, 4.8317))).abs() < 1e-6,
        "{d2}"
    );
    // Around the centre of Lyon 3e by INSEE code; without `near`, no distance.
    let nodes = sites(
        &app,
        json!({ "near": { "commune": "69383", "radiusKm": 10.0 } }),
    )
    .await;
    assert_eq!(ids(&nodes), ["lyon-1", "lyon-2"]);
    let nodes = sites(&app, json!({ "text": "lyon" })).await;
    assert!(nodes.iter().all(|n| n["distanceKm"].is_null()));
    // Ordering by distance needs `near`; a radius beyond 200 km is refused.
    let error = app
        .first_error(SITES, json!({ "orderBy": { "field": "DISTANCE" } }))
        .await;
    assert_eq!(error["extensions"]["code"], "invalid_value", "{error:#}");
    let error = app
        .first_error(
            SITES,
            json!({ "filter": { "near": { "commune": "69383", "radiusKm": 500.0 } } }),
        )
        .await;
    assert_eq!(
        error["extensions"]["field"], "filter.near.radiusKm",
        "{error:#}"
    );
}

/// On the real AURA file: the spellings people type find the same sites.
#[tokio::test]
async fn real_sites_are_found_whatever_the_spelling() {
    let Some(path) = shared_data("lieux/hinaura-aura.json") else {
        return;
    };
    let app = TestApp::spawn().await;
    app.import(&path, "hinaura").await;
    let nfc = total(&app, "médiathèque").await;
    let nfd = "me\u{301}diathe\u{300}que";
    assert!(nfc > 0);
    assert_eq!(total(&app, nfd).await, nfc);
    assert_eq!(total(&app, "mediatheques").await, nfc);
    assert!(total(&app, "mediateque").await >= nfc);
    let saint = total(&app, "saint-étienne").await;
    assert!(saint > 0);
    assert_eq!(total(&app, "saint etienne").await, saint);
    assert_eq!(total(&app, "st etienne").await, saint);
}
