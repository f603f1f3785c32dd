//! Feeds and import jobs over real HTTP: a hub coordinator sends its file to its feed, polls the job and reads the
//! report; another hub's coordinator stores nothing outside its territory; a server killed during an import leaves
//! the database as it was and the job failed after restart; tokens managed without a shell.

use crate::support::{TestApp, shared_data};
use maillage_testkit::TestDb;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

const FEED_FIELDS: &str = "slug source version complete hub { slug }";
const JOB_FIELDS: &str =
    "id status fileName rowsDone rowsTotal stored created rejected error reportUrl feed { slug }";

/// Sends `file` to `feed` as `POST /feeds/{feed}/imports`; returns the status, the body and the `Location`.
async fn upload(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    feed: &str,
    file: &Path,
    csrf_header: bool,
) -> (u16, Value, Option<String>) {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let mut request = client
        .post(format!("{base}/feeds/{feed}/imports"))
        .header(
            "content-disposition",
            format!("attachment; filename=\"{name}\""),
        )
        .header("content-type", "application/json")
        .body(std::fs::read(file).unwrap());
    if csrf_header {
        request = request.header("x-maillage-upload", "1");
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        location,
    )
}

/// Polls `importJob` until the job is over.
async fn wait_job(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (status, body) = app
            .post_as(
                Some(token),
                &format!("query($id: ID!) {{ importJob(id: $id) {{ {JOB_FIELDS} }} }}"),
                json!({ "id": id }),
            )
            .await;
        assert_eq!(status, 200, "{body:#}");
        let job = body["data"]["importJob"].clone();
        assert!(job.is_object(), "job {id} not visible: {body:#}");
        if job["status"] == "SUCCEEDED" || job["status"] == "FAILED" {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} did not end: {job:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create_feed(app: &TestApp, token: &str, input: Value) -> Value {
    let (status, body) = app
        .post_as(
            Some(token),
            &format!(
                "mutation($input: CreateFeedInput!) {{ createFeed(input: $input) {{ feed {{ {FEED_FIELDS} }} userErrors {{ field code message }} }} }}"
            ),
            json!({ "input": input }),
        )
        .await;
    assert_eq!(status, 200, "{body:#}");
    body
}

#[tokio::test]
async fn a_coordinator_imports_its_hub_file_over_http_and_another_hub_stores_nothing() {
    let Some(path) = shared_data("lieux/hinaura-aura.json") else {
        return;
    };
    let app = TestApp::spawn().await;
    let hinaura = app.token("hub_coordinator", Some("hinaura")).await;
    let sud = app.token("hub_coordinator", Some("hub-du-sud")).await;

    // Each coordinator creates its own feed: the hub is its own without saying so.
    let body = create_feed(
        &app,
        &hinaura,
        json!({ "slug": "hinaura-lieux", "source": "hinaura" }),
    )
    .await;
    assert_eq!(
        body["data"]["createFeed"]["userErrors"],
        json!([]),
        "{body:#}"
    );
    assert_eq!(body["data"]["createFeed"]["feed"]["hub"]["slug"], "hinaura");
    let body = create_feed(&app, &sud, json!({ "slug": "sud-lieux" })).await;
    assert_eq!(
        body["data"]["createFeed"]["feed"]["hub"]["slug"], "hub-du-sud",
        "{body:#}"
    );

    // The anti-CSRF header and a token are required, as for the AMI uploads.
    let (status, body, _) = upload(
        &app.client,
        &app.base,
        Some(&hinaura),
        "hinaura-lieux",
        &path,
        false,
    )
    .await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "upload_header_missing"
    );
    let (status, _, _) = upload(&app.client, &app.base, None, "hinaura-lieux", &path, true).await;
    assert_eq!(status, 401);
    // Another hub's feed does not exist for a coordinator.
    let (status, body, _) = upload(
        &app.client,
        &app.base,
        Some(&sud),
        "hinaura-lieux",
        &path,
        true,
    )
    .await;
    assert_eq!(status, 404, "{body:#}");

    // The upload answers at once with the job; the job imports all 687 rows of the hub's territory.
    let (status, body, location) = upload(
        &app.client,
        &app.base,
        Some(&hinaura),
        "hinaura-lieux",
        &path,
        true,
    )
    .await;
    assert_eq!(status, 202, "{body:#}");
    let id = body["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(location.as_deref(), Some(format!("/imports/{id}").as_str()));
    assert!(matches!(
        body["job"]["status"].as_str(),
        Some("queued" | "running" | "succeeded")
    ));
    let job = wait_job(&app, &hinaura, &id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job:#}");
    assert_eq!(job["stored"], 687, "{job:#}");
    assert_eq!(job["created"], 687);
    assert_eq!(job["rejected"], 0);
    assert_eq!(job["rowsDone"], 687);
    assert_eq!(job["rowsTotal"], 687);
    assert_eq!(job["fileName"], "hinaura-aura.json");
    assert_eq!(job["feed"]["slug"], "hinaura-lieux");
    assert_eq!(app.site_count().await, 687);

    // The other hub's coordinator cannot see that job.
    let (_, body) = app
        .post_as(
            Some(&sud),
            "query($id: ID!) { importJob(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"]["importJob"], Value::Null, "{body:#}");
    let report = app
        .client
        .get(format!("{}/imports/{id}/report.csv", app.base))
        .bearer_auth(&sud)
        .send()
        .await
        .unwrap();
    assert_eq!(report.status().as_u16(), 404);

    // The same file sent by the Hub du Sud to its own feed: nothing stored, every row reported outside.
    let (status, body, _) =
        upload(&app.client, &app.base, Some(&sud), "sud-lieux", &path, true).await;
    assert_eq!(status, 202, "{body:#}");
    let sud_job = body["job"]["id"].as_str().unwrap().to_owned();
    let job = wait_job(&app, &sud, &sud_job).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job:#}");
    assert_eq!(job["stored"], 0, "{job:#}");
    assert_eq!(job["rejected"], 687);
    assert_eq!(app.site_count().await, 687);
    let (_, body) = app
        .post_as(
            Some(&sud),
            "query($id: ID!) { importJob(id: $id) { report(first: 100) { totalCount nodes { location sourceId outcome field reason } } } }",
            json!({ "id": sud_job }),
        )
        .await;
    let report = &body["data"]["importJob"]["report"];
    assert_eq!(report["totalCount"], 687, "{body:#}");
    assert_eq!(report["nodes"][0]["location"], "index 0");
    assert_eq!(report["nodes"][0]["outcome"], "rejected");
    assert_eq!(
        report["nodes"][0]["reason"],
        "this site is outside the departments you may edit"
    );
    // The CSV report has every line.
    let response = app
        .client
        .get(format!(
            "{}{}",
            app.base,
            job["reportUrl"].as_str().unwrap()
        ))
        .bearer_auth(&sud)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "location,id,outcome,field,reason,detail");
    assert_eq!(lines.len(), 688);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("outside the departments you may edit"))
            .count(),
        687
    );

    // Each coordinator lists its own hub's jobs only.
    let (_, body) = app
        .post_as(
            Some(&sud),
            "{ importJobs { totalCount nodes { id } } feeds { slug } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["importJobs"]["totalCount"], 1, "{body:#}");
    assert_eq!(
        body["data"]["importJobs"]["nodes"][0]["id"],
        sud_job.as_str()
    );
    assert_eq!(body["data"]["feeds"], json!([{ "slug": "sud-lieux" }]));

    // Both lists page backward like every connection: the report's last lines, then the two before them.
    let report_page = "query($id: ID!, $before: String) { importJob(id: $id) { report(last: 2, before: $before) { \
        nodes { location } pageInfo { hasPreviousPage hasNextPage startCursor } } } }";
    let (_, body) = app
        .post_as(Some(&sud), report_page, json!({ "id": sud_job }))
        .await;
    let page = &body["data"]["importJob"]["report"];
    assert_eq!(
        page["nodes"],
        json!([{ "location": "index 685" }, { "location": "index 686" }]),
        "{body:#}"
    );
    assert_eq!(page["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    let before = page["pageInfo"]["startCursor"].clone();
    let (_, body) = app
        .post_as(
            Some(&sud),
            report_page,
            json!({ "id": sud_job, "before": before }),
        )
        .await;
    let page = &body["data"]["importJob"]["report"];
    assert_eq!(
        page["nodes"],
        json!([{ "location": "index 683" }, { "location": "index 684" }]),
        "{body:#}"
    );
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    // Jobs come newest first, so the last one is the oldest: the Hinaura job, with the Hub du Sud's before it.
    let admin = app.token("admin", None).await;
    let (_, body) = app
        .post_as(
            Some(&admin),
            "{ importJobs(last: 1) { nodes { id } pageInfo { hasPreviousPage hasNextPage } } }",
            json!({}),
        )
        .await;
    let jobs = &body["data"]["importJobs"];
    assert_eq!(jobs["nodes"], json!([{ "id": id }]), "{body:#}");
    assert_eq!(jobs["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(jobs["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn coordinators_manage_their_own_hub_feeds_only() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let hinaura = app.token("hub_coordinator", Some("hinaura")).await;
    let sud = app.token("hub_coordinator", Some("hub-du-sud")).await;
    let partner = app.token("partner", None).await;

    let body = create_feed(
        &app,
        &admin,
        json!({ "slug": "national", "name": "Cartographie nationale", "complete": true }),
    )
    .await;
    let feed = &body["data"]["createFeed"]["feed"];
    assert_eq!(feed["hub"], Value::Null, "{body:#}");
    assert_eq!(feed["source"], "national");
    assert_eq!(feed["complete"], true);
    let body = create_feed(
        &app,
        &admin,
        json!({ "slug": "hinaura-lieux", "hub": "hinaura" }),
    )
    .await;
    assert_eq!(
        body["data"]["createFeed"]["feed"]["hub"]["slug"], "hinaura",
        "{body:#}"
    );

    // A coordinator creates neither national feeds nor another hub's.
    let body = create_feed(
        &app,
        &sud,
        json!({ "slug": "sud-pour-hinaura", "hub": "hinaura" }),
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body:#}"
    );
    // Slugs and sources are unique; bad input is a user error on its field.
    let body = create_feed(
        &app,
        &hinaura,
        json!({ "slug": "hinaura-lieux", "source": "autre" }),
    )
    .await;
    assert_eq!(
        body["data"]["createFeed"]["userErrors"][0],
        json!({ "field": ["input", "slug"], "code": "already_exists", "message": "a feed with slug \"hinaura-lieux\" exists already" })
    );
    let body = create_feed(
        &app,
        &hinaura,
        json!({ "slug": "Hinaura 2", "maxArchiveShare": 3 }),
    )
    .await;
    assert_eq!(
        body["data"]["createFeed"]["userErrors"][0]["field"],
        json!(["input", "slug"])
    );
    // Partners and anonymous callers manage no feeds.
    let body = create_feed(&app, &partner, json!({ "slug": "p" })).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body:#}"
    );
    let (_, body) = app.post_as(None, "{ feeds { slug } }", json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body:#}"
    );

    let update = "mutation($input: UpdateFeedInput!) { updateFeed(input: $input) { feed { slug version complete feedWins maxArchiveShare } userErrors { field code } } }";
    // The Hub du Sud's coordinator sees neither the national feed nor Hinaura's, and cannot change them.
    let (_, body) = app
        .post_as(
            Some(&sud),
            "{ feeds { slug } feed(slug: \"hinaura-lieux\") { slug } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"],
        json!({ "feeds": [], "feed": null }),
        "{body:#}"
    );
    let (_, body) = app
        .post_as(
            Some(&sud),
            update,
            json!({ "input": { "slug": "hinaura-lieux", "version": 1, "feedWins": true } }),
        )
        .await;
    assert_eq!(
        body["data"]["updateFeed"]["userErrors"][0]["code"], "not_found",
        "{body:#}"
    );
    // Hinaura's coordinator changes its feed's policy, at the version it read.
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            update,
            json!({ "input": { "slug": "hinaura-lieux", "version": 1, "complete": true, "maxArchiveShare": 0.1 } }),
        )
        .await;
    assert_eq!(
        body["data"]["updateFeed"]["feed"],
        json!({ "slug": "hinaura-lieux", "version": 2, "complete": true, "feedWins": false, "maxArchiveShare": 0.1 }),
        "{body:#}"
    );
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            update,
            json!({ "input": { "slug": "hinaura-lieux", "version": 1, "feedWins": true } }),
        )
        .await;
    assert_eq!(
        body["data"]["updateFeed"]["userErrors"][0]["code"], "stale_version",
        "{body:#}"
    );
    let (_, body) = app
        .post_as(Some(&hinaura), "{ feeds { slug } }", json!({}))
        .await;
    assert_eq!(body["data"]["feeds"], json!([{ "slug": "hinaura-lieux" }]));
    let (_, body) = app
        .post_as(Some(&admin), "{ feeds { slug } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["feeds"],
        json!([{ "slug": "hinaura-lieux" }, { "slug": "national" }])
    );

    // Every change is in the audit trail, readable by the hub's coordinator for its hub's feeds.
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            "{ auditLog(filter: { entityType: \"feed\" }) { nodes { action actor } } }",
            json!({}),
        )
        .await;
    let actions: Vec<&str> = body["data"]["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["update", "create"], "{body:#}");

    // The CLI sees the same feeds.
    let out = app.cli(&["feed", "list"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("hinaura-lieux\thinaura-lieux\thinaura-lieux\thinaura\t(national standard)\tcomplete\tedits_win\t0.1"), "{stdout}");
    assert!(
        stdout.contains("national\tCartographie nationale\tnational\t(national)"),
        "{stdout}"
    );
}

/// `maillage serve` itself, on a free port, killed with SIGKILL when the test says so.
struct Server {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(database_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_maillage"))
            .arg("serve")
            .current_dir(dir.path())
            .env("DATABASE_URL", database_url)
            .env("MAILLAGE_LISTEN", "127.0.0.1:0")
            .env("MAILLAGE_LOG", "info")
            .env("MAILLAGE_IMPORTS_DIR", dir.path().join("imports"))
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("MAILLAGE_LOG_FORMAT")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("GraphQL API on http://").nth(1) {
                    let addr = rest.split(['/', '"']).next().unwrap_or_default();
                    let _ = addr_tx.send(addr.to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            if let Ok(addr) = addr_rx.try_recv() {
                break addr;
            }
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Self {
            child,
            addr,
            _dir: dir,
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn kill(&mut self) {
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = db
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            db.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn job_status(client: &reqwest::Client, base: &str, token: &str, location: &str) -> Value {
    let response = client
        .get(format!("{base}{location}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json::<Value>().await.unwrap()["job"].clone()
}

/// The real binary, killed (SIGKILL) while a job imports a large file: nothing of the file is stored, and once
/// the server is back the job says it failed.
#[tokio::test]
async fn killing_the_server_during_an_http_import_leaves_the_database_as_it_was_and_the_job_failed()
{
    let db = TestDb::new_shared().await;
    maillage_server::db::make_ready(&db.db).await.unwrap();
    let (_, admin) = maillage_access::create_token(
        &db.db,
        &maillage_core::Actor::cli(),
        maillage_access::NewToken {
            name: "kill test".to_owned(),
            role: maillage_core::Role::Admin,
            hub: None,
            expires_at: None,
        },
    )
    .await
    .unwrap();
    maillage_sites::feeds::create_feed(
        &db.db,
        &maillage_core::Actor::cli(),
        maillage_sites::feeds::NewFeed {
            slug: "big".to_owned(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // A file large enough to be still importing when the process dies.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    let rows: Vec<Value> = (0..40_000)
        .map(|i| {
            json!({
                "id": format!("big-{i}"), "nom": format!("Lieu {i}"), "pivot": "00000000000000",
                "courriel": format!("lieu-{i}@example.org"),
                "commune": "Lyon", "code_postal": "69001", "adresse": format!("{i} rue de la République"),
                "services": "Accéder à une connexion internet;Accéder à du matériel",
                "date_maj": "2021-05-05",
            })
        })
        .collect();
    std::fs::write(&path, serde_json::to_vec(&rows).unwrap()).unwrap();
    let sites_before = count(&db, "SELECT COUNT(*) AS n FROM site").await;
    let audit_before = count(
        &db,
        "SELECT COUNT(*) AS n FROM audit_log WHERE entity_type = 'site'",
    )
    .await;

    let mut server = Server::start(&db.url).await;
    let client = reqwest::Client::new();
    let (status, body, location) =
        upload(&client, &server.base(), Some(&admin), "big", &path, true).await;
    assert_eq!(status, 202, "{body:#}");
    let location = location.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = job_status(&client, &server.base(), &admin, &location).await;
        if job["status"] == "running" {
            break;
        }
        assert_eq!(
            job["status"], "queued",
            "the job ended before it could be interrupted: {job:#}"
        );
        assert!(Instant::now() < deadline, "the job did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Progress is written while the job runs (not only at its end), on both backends.
    loop {
        let job = job_status(&client, &server.base(), &admin, &location).await;
        assert_eq!(
            job["status"], "running",
            "the job ended before it could be interrupted: {job:#}"
        );
        if job["rowsDone"].as_u64().unwrap_or_default() > 0 {
            assert_eq!(job["rowsTotal"], 40_000, "{job:#}");
            break;
        }
        assert!(Instant::now() < deadline, "no progress written: {job:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill();

    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM site").await,
        sites_before
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM audit_log WHERE entity_type = 'site'"
        )
        .await,
        audit_before
    );
    let server = Server::start(&db.url).await;
    // The new instance cannot tell a dead process from a live instance on another machine until the job's
    // heartbeat is older than the lease; then its sweep fails the job (and discards its staged rows).
    let deadline = Instant::now() + maillage_sites::jobs::LEASE + Duration::from_secs(30);
    let job = loop {
        let job = job_status(&client, &server.base(), &admin, &location).await;
        if job["status"] != "running" {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "the interrupted job is still running: {job:#}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(job["status"], "failed", "{job:#}");
    assert_eq!(job["error"], maillage_sites::jobs::INTERRUPTED);
    assert_eq!(job["counts"]["stored"], 0);
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM site").await,
        sites_before
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM site_import_stage").await,
        0
    );
}

#[tokio::test]
async fn the_cli_imports_a_file_as_a_job_of_its_feed() {
    let Some(path) = shared_data("lieux/hinaura-aura.json") else {
        return;
    };
    let app = TestApp::spawn().await;
    let out = app
        .cli(&[
            "feed",
            "create",
            "hinaura-lieux",
            "--hub",
            "hinaura",
            "--source",
            "hinaura",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = app
        .cli(&["import", path.to_str().unwrap(), "--feed", "hinaura-lieux"])
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        crate::support::summary_number(&stdout, "stored"),
        687,
        "{stdout}"
    );
    assert!(
        app.dir
            .path()
            .join("import-report-hinaura-lieux.csv")
            .exists()
    );
    // The job is listed like an HTTP one.
    let admin = app.token("admin", None).await;
    let (_, body) = app
        .post_as(
            Some(&admin),
            "{ importJobs(feed: \"hinaura-lieux\") { nodes { status stored createdBy } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["importJobs"]["nodes"],
        json!([{ "status": "SUCCEEDED", "stored": 687, "createdBy": "cli" }]),
        "{body:#}"
    );
    // An unknown feed is refused before anything is read.
    let out = app
        .cli(&["import", path.to_str().unwrap(), "--feed", "nope"])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no feed \"nope\""));
}

const CREATE_TOKEN: &str = "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { secret token { id name role hub { slug } prefix expired revokedAt invitation } userErrors { field code message } } }";
const REVOKE_TOKEN: &str = "mutation($id: ID!) { revokeApiToken(input: { id: $id }) { token { name revokedAt } userErrors { code } } }";

#[tokio::test]
async fn tokens_are_managed_without_a_shell() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let hinaura = app.token("hub_coordinator", Some("hinaura")).await;
    let sud = app.token("hub_coordinator", Some("hub-du-sud")).await;
    let works = |secret: String| {
        let app = &app;
        async move {
            app.post_as(Some(&secret), "{ hubs { slug } }", json!({}))
                .await
                .0
        }
    };

    // An admin creates any token; the secret is in the answer, once, and works at once.
    let (_, body) = app
        .post_as(
            Some(&admin),
            CREATE_TOKEN,
            json!({ "input": { "name": "Coordination Hinaura 2", "role": "hub_coordinator", "hub": "hinaura" } }),
        )
        .await;
    let created = &body["data"]["createApiToken"];
    assert_eq!(created["userErrors"], json!([]), "{body:#}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("mlg_"));
    assert_eq!(created["token"]["hub"]["slug"], "hinaura");
    assert!(secret.starts_with(created["token"]["prefix"].as_str().unwrap()));
    assert_eq!(works(secret.clone()).await, 200);

    // A hub coordinator creates partner tokens of its own hub, and nothing else.
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            CREATE_TOKEN,
            json!({ "input": { "name": "Carto Lyon", "role": "partner" } }),
        )
        .await;
    let partner = body["data"]["createApiToken"].clone();
    assert_eq!(partner["token"]["hub"]["slug"], "hinaura", "{body:#}");
    assert_eq!(partner["token"]["role"], "partner");
    let partner_secret = partner["secret"].as_str().unwrap().to_owned();
    let partner_id = partner["token"]["id"].as_str().unwrap().to_owned();
    assert_eq!(works(partner_secret.clone()).await, 200);
    for input in [
        json!({ "name": "x", "role": "hub_coordinator", "hub": "hinaura" }),
        json!({ "name": "x", "role": "admin" }),
        json!({ "name": "x", "role": "partner", "hub": "hub-du-sud" }),
    ] {
        let (_, body) = app
            .post_as(Some(&hinaura), CREATE_TOKEN, json!({ "input": input }))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "forbidden",
            "{input}: {body:#}"
        );
    }
    // A token that would be expired already is refused.
    let (_, body) = app
        .post_as(
            Some(&hinaura),
            CREATE_TOKEN,
            json!({ "input": { "name": "old", "role": "partner", "expiresAt": "2020-01-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(
        body["data"]["createApiToken"]["userErrors"][0]["code"], "invalid_value",
        "{body:#}"
    );
    assert_eq!(body["data"]["createApiToken"]["secret"], Value::Null);

    // Each sees the tokens it manages: the coordinator its hub's partners only, the admin all (never a secret).
    let list = "{ apiTokens { name role hub { slug } } }";
    let (_, body) = app.post_as(Some(&hinaura), list, json!({})).await;
    assert_eq!(
        body["data"]["apiTokens"],
        json!([{ "name": "Carto Lyon", "role": "partner", "hub": { "slug": "hinaura" } }]),
        "{body:#}"
    );
    let (_, body) = app.post_as(Some(&sud), list, json!({})).await;
    assert_eq!(body["data"]["apiTokens"], json!([]));
    let (_, body) = app.post_as(Some(&admin), list, json!({})).await;
    assert_eq!(
        body["data"]["apiTokens"].as_array().unwrap().len(),
        5,
        "{body:#}"
    );
    assert!(!body.to_string().contains(&partner_secret));
    let (_, body) = app.post_as(Some(&partner_secret), list, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "forbidden");

    // Another hub's coordinator cannot revoke it; its own can, and it stops working at once.
    let (_, body) = app
        .post_as(Some(&sud), REVOKE_TOKEN, json!({ "id": partner_id }))
        .await;
    assert_eq!(
        body["data"]["revokeApiToken"]["userErrors"][0]["code"], "not_found",
        "{body:#}"
    );
    assert_eq!(works(partner_secret.clone()).await, 200);
    let (_, body) = app
        .post_as(Some(&hinaura), REVOKE_TOKEN, json!({ "id": partner_id }))
        .await;
    assert!(
        body["data"]["revokeApiToken"]["token"]["revokedAt"].is_string(),
        "{body:#}"
    );
    assert_eq!(works(partner_secret).await, 401);
    // The admin revokes anyone's.
    let coordinator_id = created["token"]["id"].as_str().unwrap();
    let (_, body) = app
        .post_as(Some(&admin), REVOKE_TOKEN, json!({ "id": coordinator_id }))
        .await;
    assert_eq!(
        body["data"]["revokeApiToken"]["userErrors"],
        json!([]),
        "{body:#}"
    );
    assert_eq!(works(secret).await, 401);

    // `token list` names hubs by slug and marks expired tokens; `--expires` in the past is refused.
    use sea_orm::ConnectionTrait;
    app.db
        .db
        .execute_unprepared(
            "UPDATE api_token SET expires_at = '2021-01-01 00:00:00+00:00' WHERE name = 'test hub_coordinator' \
             AND hub_id = (SELECT id FROM hub WHERE slug = 'hub-du-sud')",
        )
        .await
        .unwrap();
    let out = app.cli(&["token", "list"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let line = |name: &str, hub: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!("\t{name}\t")) && l.contains(&format!("\t{hub}\t")))
            .unwrap_or_else(|| panic!("no {name} of {hub} in:\n{stdout}"))
            .to_owned()
    };
    assert!(line("test hub_coordinator", "hub-du-sud").contains("\tEXPIRED\t"));
    assert!(line("test hub_coordinator", "hinaura").contains("\tactive\t"));
    assert!(line("Carto Lyon", "hinaura").contains("\trevoked\t"));
    assert_eq!(works(sud).await, 401);
    let out = app
        .cli(&[
            "token",
            "create",
            "--role",
            "partner",
            "--name",
            "late",
            "--expires",
            "2021-01-01",
        ])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must expire in the future"));
}
