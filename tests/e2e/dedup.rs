//! Duplicates through the API as clients see them: the import matches what it changed, a coordinator confirms a
//! pair of its departments, the canonical site shows its source records and where each field came from, and a
//! coordinator's choice of a field stands through the next import.

use crate::support::TestApp;
use serde_json::{Value, json};
use std::path::PathBuf;

/// One lieu as a source writes it (v0.1 JSON), with this name and opening hours.
fn place(id: &str, nom: &str, horaires: &str, postal_code: &str, commune: &str) -> Value {
    json!({
        "id": id,
        "pivot": "00000000000000",
        "nom": nom,
        "commune": commune,
        "code_postal": postal_code,
        "adresse": "27 bis boulevard Louis Braille",
        "latitude": "43.638207",
        "longitude": "5.091971",
        "telephone": "+33489228939",
        "horaires": horaires,
        "date_maj": "2024-01-10",
        "services": "Prendre en main un ordinateur",
        "conditions_acces": "Gratuit : Je peux accéder gratuitement au lieu et à ses services",
    })
}

fn write(app: &TestApp, name: &str, rows: &[Value]) -> PathBuf {
    let path = app.dir.path().join(name);
    std::fs::write(&path, serde_json::to_string(rows).unwrap()).unwrap();
    path
}

const SITE: &str = "query($id: ID!) { site(id: $id) {
    id source name openingHours version updatedAt
    sourceRecords { id source sourceId name }
    provenance { field origin source sourceId record { source sourceId } fileName at by }
} }";

fn field<'a>(site: &'a Value, name: &str) -> &'a Value {
    site["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["field"] == name)
        .unwrap_or_else(|| panic!("no provenance for {name}: {site:#}"))
}

#[tokio::test]
async fn a_canonical_site_shows_its_source_records_and_where_each_field_came_from() {
    let app = TestApp::spawn().await;
    let a = write(
        &app,
        "a.json",
        &[place(
            "1",
            "Médiathèque de St-Martin",
            "Mo-Fr 09:00-12:00",
            "13300",
            "Salon-de-Provence",
        )],
    );
    let b = write(
        &app,
        "b.json",
        &[place(
            "x",
            "MAIRIE DE SAINT MARTIN",
            "Mo-Fr 09:00-12:00",
            "13300",
            "Salon-de-Provence",
        )],
    );
    app.import(&a, "feed-a").await;
    let out = app.import(&b, "feed-b").await;
    assert!(
        out.contains("duplicates: 1 candidate pairs with a record of feed-b (1 pending"),
        "the import matched its own rows: {out}"
    );
    let south = app.token("hub_coordinator", Some("hub-du-sud")).await;
    let other = app.token("hub_coordinator", Some("hinaura")).await;

    // A plain site: every field came from its feed's file; who imported it is not for anonymous callers.
    let data = app
        .data(
            "{ sites(first: 10, orderBy: {field: ID}) { nodes { id source sourceRecords { source sourceId }
               provenance { field origin source fileName at by } } } }",
            json!({}),
        )
        .await;
    let plain = &data["sites"]["nodes"][0];
    assert_eq!(plain["source"], "feed-a");
    assert_eq!(
        plain["sourceRecords"],
        json!([{ "source": "feed-a", "sourceId": "1" }])
    );
    let name = field(plain, "name");
    assert_eq!(
        (&name["origin"], &name["source"], &name["fileName"]),
        (&json!("IMPORT"), &json!("feed-a"), &json!("a.json"))
    );
    assert!(name["by"].is_null(), "{name}");
    assert_eq!(field(plain, "postalCode")["origin"], "IMPORT");

    // Review: the Hub du Sud's coordinator sees and confirms the pair; another hub's sees nothing and may not.
    let matches = "{ siteMatches(first: 10) { nodes { id status a { source } b { source } } } }";
    let (_, body) = app.post_as(Some(&other), matches, json!({})).await;
    assert_eq!(body["data"]["siteMatches"]["nodes"], json!([]), "{body:#}");
    let (_, body) = app.post_as(Some(&south), matches, json!({})).await;
    let pair = body["data"]["siteMatches"]["nodes"][0].clone();
    assert_eq!(pair["status"], "PENDING", "{body:#}");
    let confirm = "mutation($id: ID!) { confirmSiteMatch(input: {id: $id}) {
        status canonicalSiteId userErrors { code } } }";
    let (_, body) = app
        .post_as(Some(&other), confirm, json!({ "id": pair["id"] }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body:#}"
    );
    let (_, body) = app
        .post_as(Some(&south), confirm, json!({ "id": pair["id"] }))
        .await;
    let decided = &body["data"]["confirmSiteMatch"];
    assert_eq!(decided["status"], "CONFIRMED", "{body:#}");
    let canonical = decided["canonicalSiteId"].clone();

    // One site served, two source records underneath.
    assert_eq!(app.site_count().await, 1);
    let raw = app
        .data(
            "{ sites(first: 10, filter: {records: SOURCES}) { totalCount nodes { source } } }",
            json!({}),
        )
        .await;
    assert_eq!(raw["sites"]["totalCount"], 2, "{raw:#}");
    let (_, body) = app
        .post_as(Some(&south), SITE, json!({ "id": canonical }))
        .await;
    let site = body["data"]["site"].clone();
    assert_eq!(site["source"], "maillage", "{body:#}");
    let records: Vec<&Value> = site["sourceRecords"].as_array().unwrap().iter().collect();
    assert_eq!(
        records
            .iter()
            .map(|r| (
                r["source"].as_str().unwrap(),
                r["sourceId"].as_str().unwrap()
            ))
            .collect::<Vec<_>>(),
        [("feed-a", "1"), ("feed-b", "x")]
    );
    // Each field names the source record it was taken from, with that record's own file.
    for p in site["provenance"].as_array().unwrap() {
        assert_eq!(p["origin"], "MERGE", "{p}");
        assert_eq!(p["record"]["source"], p["source"], "{p}");
        assert_eq!(p["record"]["sourceId"], p["sourceId"], "{p}");
    }
    // Same date_maj: the record Maillage stored last (feed-b's) gives the fields.
    let name = field(&site, "name");
    assert_eq!(
        (&name["source"], &name["fileName"]),
        (&json!("feed-b"), &json!("b.json")),
        "{name}"
    );
    assert_eq!(site["name"], "MAIRIE DE SAINT MARTIN");

    // A coordinator chooses the name: refused outside its departments, and for an ID that names no site.
    let choose = "mutation($id: ID!, $value: String) {
        overrideSiteField(input: {siteId: $id, field: NAME, value: $value}) {
            site { name } userErrors { field code } } }";
    let chosen = "Médiathèque Saint-Martin";
    let (_, body) = app
        .post_as(
            Some(&other),
            choose,
            json!({ "id": canonical, "value": chosen }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body:#}"
    );
    let (_, body) = app
        .post_as(
            Some(&south),
            choose,
            json!({ "id": "bm9wZQ", "value": chosen }),
        )
        .await;
    assert_eq!(
        body["data"]["overrideSiteField"]["userErrors"],
        json!([{ "field": ["input", "siteId"], "code": "invalid_id" }]),
        "{body:#}"
    );
    let (_, body) = app
        .post_as(
            Some(&south),
            choose,
            json!({ "id": canonical, "value": chosen }),
        )
        .await;
    assert_eq!(
        body["data"]["overrideSiteField"],
        json!({ "site": { "name": chosen }, "userErrors": [] }),
        "{body:#}"
    );

    // A choice obeys the field's input rule: a broken one is a user error at `input.value`, nothing is written;
    // a phone in a usual French layout is stored in international form.
    let choose_phone = "mutation($id: ID!, $value: String) {
        overrideSiteField(input: {siteId: $id, field: PHONE, value: $value}) {
            site { name phone } userErrors { field code } } }";
    let (_, body) = app
        .post_as(
            Some(&south),
            choose_phone,
            json!({ "id": canonical, "value": "12" }),
        )
        .await;
    assert_eq!(
        body["data"]["overrideSiteField"],
        json!({ "site": null, "userErrors": [{ "field": ["input", "value"], "code": "invalid_value" }] }),
        "{body:#}"
    );
    let (_, body) = app
        .post_as(
            Some(&south),
            choose_phone,
            json!({ "id": canonical, "value": "04 78 00 00 00" }),
        )
        .await;
    assert_eq!(
        body["data"]["overrideSiteField"],
        json!({ "site": { "name": chosen, "phone": "+33478000000" }, "userErrors": [] }),
        "{body:#}"
    );

    // feed-b's next file renames its record and changes its hours: the choice stands, the hours follow the file.
    let b2 = write(
        &app,
        "b2.json",
        &[place(
            "x",
            "Mairie annexe Saint-Martin",
            "Mo-Sa 09:00-12:00",
            "13300",
            "Salon-de-Provence",
        )],
    );
    app.import(&b2, "feed-b").await;
    let (_, body) = app
        .post_as(Some(&south), SITE, json!({ "id": canonical }))
        .await;
    let after = body["data"]["site"].clone();
    assert_eq!(after["name"], chosen, "{body:#}");
    assert_eq!(after["openingHours"], "Mo-Sa 09:00-12:00");
    let name = field(&after, "name");
    assert_eq!(name["origin"], "API", "{name}");
    assert!(
        name["record"].is_null() && name["source"].is_null(),
        "{name}"
    );
    assert!(
        name["by"].as_str().is_some_and(|b| !b.is_empty()),
        "the coordinator of the department sees who chose: {name}"
    );
    let hours = field(&after, "openingHours");
    assert_eq!(
        (&hours["origin"], &hours["fileName"]),
        (&json!("MERGE"), &json!("b2.json")),
        "{hours}"
    );
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(
        at(&after["updatedAt"]) > at(&site["updatedAt"]),
        "the change of a record shows on its canonical site"
    );
    // Anonymous callers read the provenance without the names of people.
    let anonymous = app.data(SITE, json!({ "id": canonical })).await;
    assert!(field(&anonymous["site"], "name")["by"].is_null());
}

/// A copy of the default sites list kept by incremental pulls: global id → name, and the `updatedAt` of the copy.
#[derive(Default)]
struct SitesMirror {
    rows: std::collections::BTreeMap<String, String>,
    seen: std::collections::BTreeMap<String, chrono::DateTime<chrono::Utc>>,
    watermark: Option<chrono::DateTime<chrono::Utc>>,
}

impl SitesMirror {
    /// One `sitesUpdatedSince` pull from the last watermark minus a margin, dropping tombstones.
    async fn pull_synced(&mut self, app: &TestApp) {
        let since = self
            .watermark
            .map(|w| (w - chrono::Duration::seconds(1)).to_rfc3339());
        let data = app
            .data(
                "query($since: DateTime) { sitesUpdatedSince(updatedSince: $since, first: 100) {
                    nodes { siteId updatedAt archivedAt site { name } } pageInfo { hasNextPage } } }",
                json!({ "since": since }),
            )
            .await;
        let connection = &data["sitesUpdatedSince"];
        assert_eq!(connection["pageInfo"]["hasNextPage"], false, "{data:#}");
        for node in connection["nodes"].as_array().unwrap() {
            let at: chrono::DateTime<chrono::Utc> =
                node["updatedAt"].as_str().unwrap().parse().unwrap();
            self.watermark = self.watermark.max(Some(at));
            let id = node["siteId"].as_str().unwrap().to_owned();
            if node["archivedAt"].is_null() {
                let name = node["site"]["name"].as_str().unwrap().to_owned();
                self.rows.insert(id, name);
            } else {
                assert!(node["site"].is_null(), "a tombstone has no content: {node}");
                self.rows.remove(&id);
            }
        }
    }

    /// One pull of the `sites` list itself (`updatedSince`, `UPDATED_AT`) plus `deletedSince`'s tombstones.
    async fn pull_list(&mut self, app: &TestApp) {
        let since = self
            .watermark
            .map(|w| (w - chrono::Duration::seconds(1)).to_rfc3339());
        let data = app
            .data(
                "query($since: DateTime) {
                    sites(filter: {updatedSince: $since}, orderBy: {field: UPDATED_AT}, first: 100) {
                        nodes { id name updatedAt } pageInfo { hasNextPage } } }",
                json!({ "since": since }),
            )
            .await;
        assert_eq!(data["sites"]["pageInfo"]["hasNextPage"], false, "{data:#}");
        for node in data["sites"]["nodes"].as_array().unwrap() {
            let at: chrono::DateTime<chrono::Utc> =
                node["updatedAt"].as_str().unwrap().parse().unwrap();
            self.watermark = self.watermark.max(Some(at));
            let id = node["id"].as_str().unwrap().to_owned();
            self.seen.insert(id.clone(), at);
            self.rows
                .insert(id, node["name"].as_str().unwrap().to_owned());
        }
        let since = since.unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned());
        let data = app
            .data(
                "query($since: DateTime!) { deletedSince(since: $since, entityTypes: [\"site\"], first: 100) {
                    nodes { id archivedAt } } }",
                json!({ "since": since }),
            )
            .await;
        // The recipe of docs/SYNC.md: a tombstone older than the copy (the margin reads it again after the row
        // came back) does not remove it.
        for t in data["deletedSince"]["nodes"].as_array().unwrap() {
            let id = t["id"].as_str().unwrap();
            let at: chrono::DateTime<chrono::Utc> =
                t["archivedAt"].as_str().unwrap().parse().unwrap();
            if self.seen.get(id).is_none_or(|copy| *copy <= at) {
                self.rows.remove(id);
            }
        }
    }
}

impl SitesMirror {
    /// Pulls the list and its tombstones until the copy is `served`, for up to 20 s: on PostgreSQL a tombstone
    /// shows once no older transaction is open in the cluster (docs/SYNC.md), which other tests running beside
    /// this one can delay.
    async fn follow(&mut self, app: &TestApp, served: &std::collections::BTreeMap<String, String>) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            self.pull_list(app).await;
            if self.rows == *served || std::time::Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

/// The default sites list as the server serves it now: global id → name.
async fn served_sites(app: &TestApp) -> std::collections::BTreeMap<String, String> {
    let data = app
        .data("{ sites(first: 100) { nodes { id name } } }", json!({}))
        .await;
    data["sites"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                n["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn incremental_mirrors_see_records_leave_on_a_merge_and_come_back_on_a_split() {
    let app = TestApp::spawn().await;
    let hours = "Mo-Fr 09:00-12:00";
    let a = write(
        &app,
        "a.json",
        &[
            place(
                "1",
                "Médiathèque de St-Martin",
                hours,
                "13300",
                "Salon-de-Provence",
            ),
            place(
                "2",
                "Espace numérique d'Aix",
                hours,
                "13090",
                "Aix-en-Provence",
            ),
        ],
    );
    let b = write(
        &app,
        "b.json",
        &[place(
            "x",
            "MAIRIE DE SAINT MARTIN",
            hours,
            "13300",
            "Salon-de-Provence",
        )],
    );
    app.import(&a, "feed-a").await;
    app.import(&b, "feed-b").await;
    let mut synced = SitesMirror::default();
    let mut listed = SitesMirror::default();
    synced.pull_synced(&app).await;
    listed.pull_list(&app).await;
    assert_eq!(synced.rows.len(), 3, "{:?}", synced.rows);
    assert_eq!(synced.rows, served_sites(&app).await);
    assert_eq!(listed.rows, synced.rows);

    // The pair is confirmed: two records leave the default list, one canonical site enters it.
    let south = app.token("hub_coordinator", Some("hub-du-sud")).await;
    let (_, body) = app
        .post_as(
            Some(&south),
            "{ siteMatches(first: 10) { nodes { id } } }",
            json!({}),
        )
        .await;
    let pair = body["data"]["siteMatches"]["nodes"][0]["id"].clone();
    let (_, body) = app
        .post_as(
            Some(&south),
            "mutation($id: ID!) { confirmSiteMatch(input: {id: $id}) { canonicalSiteId userErrors { code } } }",
            json!({ "id": pair }),
        )
        .await;
    let canonical = body["data"]["confirmSiteMatch"]["canonicalSiteId"].clone();
    assert!(canonical.is_string(), "{body:#}");
    let served = served_sites(&app).await;
    assert_eq!(served.len(), 2, "{served:?}");
    synced.pull_synced(&app).await;
    assert_eq!(
        synced.rows, served,
        "sitesUpdatedSince mirror after the merge"
    );
    listed.follow(&app, &served).await;
    assert_eq!(
        listed.rows, served,
        "sites + deletedSince mirror after the merge"
    );

    // Split again: the records come back, the canonical site goes.
    let (_, body) = app
        .post_as(
            Some(&south),
            "mutation($id: ID!) { splitSiteCluster(input: {siteId: $id}) { restoredSiteIds userErrors { code } } }",
            json!({ "id": canonical }),
        )
        .await;
    assert_eq!(
        body["data"]["splitSiteCluster"]["restoredSiteIds"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{body:#}"
    );
    let served = served_sites(&app).await;
    assert_eq!(served.len(), 3, "{served:?}");
    synced.pull_synced(&app).await;
    assert_eq!(
        synced.rows, served,
        "sitesUpdatedSince mirror after the split"
    );
    listed.follow(&app, &served).await;
    assert_eq!(
        listed.rows, served,
        "sites + deletedSince mirror after the split"
    );
}
