//! The API stays up while a large file is imported: on the embedded SQLite default (WAL), reads go on during the
//! whole import and small writes go on while it stages its rows; on PostgreSQL (MVCC, staging by `COPY`) the same
//! holds with a smaller file, since that backend never had the lock this test is about.

use crate::support::{TestApp, run_cli, summary_number};
use maillage_sites::standard::V1_COLUMNS;
use serde_json::json;
use std::time::{Duration, Instant};

/// Rows of the file on SQLite (the acceptance's 50 000-row import).
const SQLITE_ROWS: usize = 50_000;
/// Rows of the file on PostgreSQL: enough for the import to last many reads.
const POSTGRES_ROWS: usize = 10_000;

/// A v1.0.2 CSV of `rows` valid sites in the Rhône, every column of the schema.
fn write_v1_csv(path: &std::path::Path, rows: usize) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(V1_COLUMNS).unwrap();
    for i in 0..rows {
        let id = format!("lieu-{i}");
        let name = format!("Lieu de médiation {i}");
        let address = format!("{} rue de la République", i % 200 + 1);
        w.write_record(V1_COLUMNS.iter().map(|c| match *c {
            "id" => id.as_str(),
            "pivot" => "00000000000000",
            "nom" => name.as_str(),
            "commune" => "Lyon",
            "code_postal" => "69001",
            "adresse" => address.as_str(),
            "date_maj" => "2024-01-10",
            "services" => "Aide aux démarches administratives",
            _ => "",
        }))
        .unwrap();
    }
    w.flush().unwrap();
}

#[tokio::test]
async fn sites_keep_answering_during_a_large_import() {
    let app = TestApp::spawn().await;
    let rows = if app.db.is_postgres() {
        POSTGRES_ROWS
    } else {
        SQLITE_ROWS
    };
    let admin = app.token("admin", None).await;
    let file = app.dir.path().join("national.csv");
    write_v1_csv(&file, rows);

    // The import runs as an operator runs it: another process, on the same database file.
    let url = app.db.url.clone();
    let dir = app.dir.path().to_owned();
    let path = file.to_str().unwrap().to_owned();
    let import = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let out = run_cli(&url, &dir, &["import", &path, "--source", "national"]);
        (out, started.elapsed())
    });

    let mut reads = 0_u32;
    let mut writes = 0_u32;
    let mut slowest = Duration::ZERO;
    while !import.is_finished() {
        let started = Instant::now();
        let (status, body) = app
            .post("{ sites(first: 10) { nodes { id name } } }", json!({}))
            .await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(status, 200, "{body}");
        assert!(
            body.get("errors").is_none(),
            "a read failed during the import: {body}"
        );
        reads += 1;
        // Paced like a dashboard polling, under the anonymous rate limit (600 a minute) that a tight loop would hit.
        tokio::time::sleep(Duration::from_millis(150)).await;
        // A few small writes go through too, early in the import, while it stages its rows (they would wait for
        // the lock during the short publishing step, never fail with "database is locked").
        if reads.is_multiple_of(10) && writes < 3 {
            let (status, body) = app
                .post_as(
                    Some(&admin),
                    "mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } userErrors { code message } } }",
                    json!({ "input": {
                        "source": "api",
                        "sourceId": format!("pendant-{writes}"),
                        "name": "Lieu saisi pendant l'import",
                        "commune": "Lyon",
                        "postalCode": "69002",
                        "address": "2 place Bellecour",
                    }}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            assert!(
                body["data"]["createSite"]["site"]["id"].is_string(),
                "a write failed during the import: {body}"
            );
            writes += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (out, took) = import.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "import failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary_number(&stdout, "stored"), rows as u64, "{stdout}");
    // Reads went on through the whole import, not only before and after it.
    assert!(
        reads >= 10 && writes >= 1,
        "{reads} reads and {writes} writes during an import of {took:?}"
    );
    assert!(slowest < Duration::from_secs(2), "a read took {slowest:?}");
    assert_eq!(app.site_count().await, rows as u64 + u64::from(writes));
}
