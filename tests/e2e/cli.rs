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
        let first = app.import(&path, source).await;
        let stored = summary_number(&first, "stored");
        let rejected = summary_number(&first, "rejected");
        assert_eq!(stored + rejected, rows, "{first}");
        assert_eq!(app.site_count().await, stored);
        let second = app.import(&path, source).await;
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
    app.import(&path, "hinaura").await;
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
async fn import_progress_shows_on_a_terminal_and_nowhere_else() {
    let app = TestApp::spawn().await;
    let file = fixture("sites-v1.csv");
    let file = file.to_str().unwrap();

    // Piped, as scripts and these tests run it: the summary on stdout, nothing on stderr, no terminal control.
    let out = app.cli(&["import", file, "--source", "piped"]).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(summary_number(&stdout, "stored"), 6, "{stdout}");
    assert!(stderr.trim().is_empty(), "stderr: {stderr:?}");
    assert!(
        !stdout.contains('\r') && !stdout.contains('\u{1b}'),
        "stdout: {stdout:?}"
    );

    // On a terminal (a pseudo-terminal from `script`), the bar shows rows done of the file's total and the percent,
    // then says the rows are being published.
    let command = format!(
        "'{}' import '{file}' --source terminal",
        env!("CARGO_BIN_EXE_maillage")
    );
    // Awaited, not blocking: the app's server runs on this test's runtime (see `TestApp::cli`).
    let out = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(app.dir.path())
        .env("DATABASE_URL", &app.db.url)
        .env("MAILLAGE_LOG", "warn")
        .env("COLUMNS", "120")
        .output()
        .await
        .expect("run script (util-linux)");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("6/6 rows (100%)"), "{shown:?}");
    assert!(shown.contains("6 rows read; publishing them"), "{shown:?}");
    assert_eq!(summary_number(&shown, "stored"), 6, "{shown}");
}

#[tokio::test]
async fn bad_files_are_refused_with_a_clear_error_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;
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
        let out = app.cli(args).await;
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
    app.import(&fixture("sites-v1.csv"), "fixture").await;
    let out = app
        .cli(&["export", "--standard", "v1", "--hub", "hinaura"])
        .await;
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

    let out = app.cli(&["export", "--standard", "v0.1"]).await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn migrations_go_down_and_up_again() {
    let app = TestApp::spawn().await;
    app.import(&fixture("sites-v1.csv"), "fixture").await;
    let status = String::from_utf8(app.cli(&["migrate", "status"]).await.stdout).unwrap();
    let all = status.lines().filter(|l| l.starts_with("applied")).count();
    assert!(all >= 3, "{status}");
    // Every migration's down() runs, newest first, then every up() again.
    let down = app
        .cli(&["migrate", "down", "--steps", &all.to_string()])
        .await;
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let status = String::from_utf8(app.cli(&["migrate", "status"]).await.stdout).unwrap();
    assert_eq!(
        status.lines().filter(|l| l.starts_with("pending")).count(),
        all,
        "{status}"
    );
    let up = app.cli(&["migrate", "up"]).await;
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let status = String::from_utf8(app.cli(&["migrate", "status"]).await.stdout).unwrap();
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

/// The mistakes a new user makes with `DATABASE_URL` get, within seconds, a message that says what failed and how
/// to fix it (issue 19, point 8); URLs people type are accepted as they mean them.
#[tokio::test]
async fn database_url_mistakes_are_explained_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let run = |url: &str| {
        let started = std::time::Instant::now();
        let out = crate::support::run_cli(url, dir.path(), &["token", "list"]);
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), stderr, took)
    };

    // A closed port: refused at once, not after the pool's 30 s.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (ok, stderr, took) = run(&format!("postgres://postgres@127.0.0.1:{port}/maillage"));
    assert!(!ok);
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");

    // A bare path and a sqlite:// URL without `mode=rwc` create the file.
    let (ok, stderr, _) = run("bare.db");
    assert!(ok, "{stderr}");
    assert!(dir.path().join("bare.db").exists());
    let (ok, stderr, _) = run("sqlite://plain.db");
    assert!(ok, "{stderr}");
    assert!(dir.path().join("plain.db").exists());

    // A directory that does not exist is named.
    let (ok, stderr, _) = run("sqlite://no-such-dir/x.db");
    assert!(!ok);
    assert!(stderr.contains("no-such-dir does not exist"), "{stderr}");

    // Something that is no database URL at all.
    let (ok, stderr, _) = run("mysql://root@localhost/maillage");
    assert!(!ok);
    assert!(stderr.contains("postgres://USER"), "{stderr}");

    // On PostgreSQL, a database that does not exist gets the `createdb` command.
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
        let (ok, stderr, _) = run(&format!("{base}/maillage_no_such_database"));
        assert!(!ok);
        assert!(
            stderr.contains("does not exist") && stderr.contains("createdb"),
            "{stderr}"
        );
    }
}

/// `maillage export | head` ends quietly with status 0 when the reader goes away, and help puts the database and
/// telemetry options under their own headings (issue 19, point 9).
#[tokio::test]
async fn export_into_a_closed_pipe_ends_quietly_and_help_is_grouped() {
    use std::io::Read;
    let Some(path) = shared_data("lieux/hub-du-sud-paca.json") else {
        return;
    };
    let app = TestApp::spawn().await;
    app.import(&path, "hub-du-sud").await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_maillage"))
        .args(["export", "--standard", "v1"])
        .current_dir(app.dir.path())
        .env("DATABASE_URL", &app.db.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line's worth, then close the pipe as `head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0_u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} {stderr}", out.status);
    assert!(!stderr.contains("Broken pipe"), "{stderr}");

    let help = crate::support::run_cli(&app.db.url, app.dir.path(), &["import", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    let options = help.find("--mapping").unwrap();
    let database = help.find("\nDatabase:").expect("a Database heading");
    let telemetry = help
        .find("\nLogs and traces:")
        .expect("a telemetry heading");
    assert!(options < database && database < telemetry, "{help}");
    assert!(help[database..].contains("--database-url"), "{help}");
}
