//! The `maillage` command line: import, export, migrate, schema.

use crate::support::{TestApp, fixture, shared_data, summary_number};
use serde_json::json;

#[tokio::test]
async fn real_hub_files_import_completely_and_idempotently() {
    for (file, source) in [
        ("lieux/hinaura-aura.json", "hinaura"),
        ("lieux/hub-du-sud-paca.json", "hub-du-sud"),
    ] {
        let Some(path) = shared_data(file) else {
            return;
        };
        let rows = serde_json::from_slice::<Vec<serde_json::Value>>(&std::fs::read(&path).unwrap())
            .unwrap()
            .len() as u64;
        let app = TestApp::spawn().await;
        let first = app.import(&path, source);
        let stored = summary_number(&first, "stored");
        let rejected = summary_number(&first, "rejected");
        assert_eq!(stored + rejected, rows, "{first}");
        assert_eq!(app.site_count().await, stored);
        let second = app.import(&path, source);
        assert_eq!(summary_number(&second, "changes"), 0, "{second}");
        assert_eq!(app.site_count().await, stored);
    }
}

#[tokio::test]
async fn imported_hinaura_sites_are_served_filtered_by_department_and_service() {
    let Some(path) = shared_data("lieux/hinaura-aura.json") else {
        return;
    };
    let app = TestApp::spawn().await;
    app.import(&path, "hinaura");
    let data = app
        .data(
            r#"{ sites(filter: { departments: ["73"], services: ["Aide aux démarches administratives"] }, first: 100) { totalCount nodes { commune department { code region { name } } services } } }"#,
            json!({}),
        )
        .await;
    let nodes = data["sites"]["nodes"].as_array().unwrap();
    assert!(!nodes.is_empty());
    assert_eq!(
        data["sites"]["totalCount"].as_u64().unwrap() as usize,
        nodes.len()
    );
    for node in nodes {
        assert_eq!(node["department"]["code"], "73");
        assert_eq!(node["department"]["region"]["name"], "Auvergne-Rhône-Alpes");
        assert!(
            node["services"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "Aide aux démarches administratives")
        );
    }
}

#[tokio::test]
async fn bad_files_are_refused_with_a_clear_error_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture");
    let before = app
        .data(
            "{ sites(first: 100) { totalCount nodes { name version } } }",
            json!({}),
        )
        .await;
    let broken = fixture("broken.json");
    let missing = fixture("missing-column.csv");
    let unknown = fixture("unknown-version.csv");
    let good = fixture("sites-v1.csv");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let (broken, missing, unknown, good) =
        (path(&broken), path(&missing), path(&unknown), path(&good));
    let cases: [(&[&str], &str); 5] = [
        (&["import", &broken, "--source", "fixture"], "invalid JSON"),
        (
            &["import", &missing, "--source", "fixture"],
            "missing required column",
        ),
        (
            &["import", &unknown, "--source", "fixture"],
            "cannot tell which version",
        ),
        (
            &["import", &good, "--source", "fixture", "--standard", "v9"],
            "unknown standard version",
        ),
        (
            &["import", "/nonexistent/file.csv", "--source", "fixture"],
            "cannot read",
        ),
    ];
    for (args, message) in cases {
        let out = app.cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let after = app
        .data(
            "{ sites(first: 100) { totalCount nodes { name version } } }",
            json!({}),
        )
        .await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn export_writes_the_national_standard() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture");
    let out = app.cli(&["export", "--standard", "v1", "--hub", "hinaura"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,pivot,nom,commune,code_postal")
    );
    assert_eq!(lines.count(), 3, "{csv}");
    assert!(csv.contains("fixture:lyon-1"));
    assert!(
        !csv.contains("contact@bm-lyon.fr"),
        "e-mails are exported only on request"
    );

    let out = app.cli(&["export", "--standard", "v0.1"]);
    assert!(!out.status.success());
}

#[tokio::test]
async fn migrations_go_down_and_up_again() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture");
    let status = String::from_utf8(app.cli(&["migrate", "status"]).stdout).unwrap();
    let all = status.lines().filter(|l| l.starts_with("applied")).count();
    assert!(all >= 3, "{status}");
    // Every migration's down() runs, newest first, then every up() again.
    let down = app.cli(&["migrate", "down", "--steps", &all.to_string()]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let status = String::from_utf8(app.cli(&["migrate", "status"]).stdout).unwrap();
    assert_eq!(
        status.lines().filter(|l| l.starts_with("pending")).count(),
        all,
        "{status}"
    );
    let up = app.cli(&["migrate", "up"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let status = String::from_utf8(app.cli(&["migrate", "status"]).stdout).unwrap();
    assert!(status.lines().all(|l| l.starts_with("applied")), "{status}");
    assert_eq!(app.site_count().await, 0);
    assert_eq!(
        app.data("{ hubs { slug } }", json!({})).await["hubs"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn schema_subcommand_prints_only_the_sdl() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::run_cli("sqlite::memory:", dir.path(), &["schema"]);
    assert!(out.status.success());
    let sdl = String::from_utf8(out.stdout).unwrap();
    assert_eq!(sdl.trim_end(), maillage_graphql::sdl().trim_end());
}
