//! Data out: the change feed followed live across instances, and webhooks posted to real receivers.

use crate::support::TestApp;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use futures::StreamExt;
use maillage_access::changes::{Change, ChangeFilter, ChangeKind};
use maillage_access::webhooks::{
    DeliveryStatus, NewWebhook, RetryPolicy, SIGNATURE_HEADER, create_webhook, list_deliveries,
    verify_signature,
};
use maillage_core::pagination::PageRequest;
use maillage_core::{Actor, DepartmentCode};
use maillage_server::changes::ChangeHub;
use maillage_server::webhooks::{WorkerSettings, spawn_worker};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CREATE: &str = r#"mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id version } userErrors { field code message } } }"#;
const UPDATE: &str = r#"mutation($input: UpdateSiteInput!) { updateSite(input: $input) { site { id version } userErrors { field code message } } }"#;

/// Creates a site through the API as `token`; returns its global id and version.
async fn create_site(
    app: &TestApp,
    token: &str,
    source_id: &str,
    postal_code: &str,
) -> (String, i64) {
    let (_, body) = app
        .post_as(
            Some(token),
            CREATE,
            json!({ "input": {
                "source": "partner-app",
                "sourceId": source_id,
                "name": format!("Lieu {source_id}"),
                "commune": "Commune",
                "postalCode": postal_code,
                "address": "1 place de la Mairie",
                "values": { "services": ["Aide aux démarches administratives"] }
            }}),
        )
        .await;
    let site = &body["data"]["createSite"]["site"];
    assert!(site.is_object(), "{body}");
    (
        site["id"].as_str().unwrap().to_owned(),
        site["version"].as_i64().unwrap(),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------------------------

/// A webhook receiver on a random port: checks every signature, answers 500 to its first `failures` requests.
struct Receiver {
    url: String,
    secret: Mutex<String>,
    failures: usize,
    hits: AtomicUsize,
    bad_signatures: AtomicUsize,
    accepted: Mutex<Vec<Value>>,
}

impl Receiver {
    async fn start(failures: usize) -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let receiver = Arc::new(Self {
            url: format!("http://{addr}/hook"),
            secret: Mutex::new(String::new()),
            failures,
            hits: AtomicUsize::new(0),
            bad_signatures: AtomicUsize::new(0),
            accepted: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        receiver
    }

    fn changes(&self) -> Vec<Value> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b["changes"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: String) -> StatusCode {
    let hit = r.hits.fetch_add(1, Ordering::SeqCst);
    let secret = r.secret.lock().unwrap().clone();
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify_signature(
        &secret,
        signature,
        &body,
        chrono::Utc::now(),
        Duration::from_secs(300),
    ) {
        r.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    if hit < r.failures {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.accepted
        .lock()
        .unwrap()
        .push(serde_json::from_str(&body).unwrap());
    StatusCode::NO_CONTENT
}

async fn register(app: &TestApp, receiver_url: &str, name: &str) -> (i32, String) {
    let (hook, secret) = create_webhook(
        &app.db.db,
        &Actor::cli(),
        NewWebhook {
            name: name.to_owned(),
            url: receiver_url.to_owned(),
            entity_types: vec!["site".to_owned()],
            ..NewWebhook::default()
        },
        true,
    )
    .await
    .unwrap();
    (hook.id, secret)
}

async fn eventually<F: Fn() -> bool>(what: &str, f: F) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn webhooks_get_signed_deliveries_retried_on_500_and_a_dead_receiver_blocks_nothing() {
    let mut config = maillage_server::config::ServeConfig::default();
    config.webhooks.webhook_allow_http_loopback = true;
    let app = TestApp::spawn_with(config).await;
    let admin = app.token("admin", None).await;
    let good = Receiver::start(0).await;
    let flaky = Receiver::start(2).await;
    // Registered through the API, as a hub's developer would.
    let (_, created) = app
        .post_as(
            Some(&admin),
            r#"mutation($url: String!) { createWebhook(input: { name: "good", url: $url, entityTypes: ["site"] }) {
                webhook { id } secret userErrors { code message } } }"#,
            json!({ "url": good.url }),
        )
        .await;
    let good_id = i32::try_from(
        created["data"]["createWebhook"]["webhook"]["id"]
            .as_i64()
            .unwrap(),
    )
    .unwrap();
    *good.secret.lock().unwrap() = created["data"]["createWebhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (flaky_id, flaky_secret) = register(&app, &flaky.url, "flaky").await;
    *flaky.secret.lock().unwrap() = flaky_secret;
    // Nothing listens on this port: every attempt fails to connect.
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (dead_id, _) = register(&app, &format!("http://127.0.0.1:{dead_port}/hook"), "dead").await;
    spawn_worker(
        app.db.db.clone(),
        WorkerSettings {
            tick: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
            retry: RetryPolicy {
                base: Duration::from_millis(100),
                max_delay: Duration::from_secs(1),
                max_attempts: 20,
            },
            allow_private_addresses: true,
        },
    );

    let (site, version) = create_site(&app, &admin, "w1", "69001").await;
    let (_, body) = app
        .post_as(
            Some(&admin),
            UPDATE,
            json!({ "input": { "id": site, "version": version, "name": "Renommé" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");

    eventually("the good receiver's two changes", || {
        good.changes().len() >= 2
    })
    .await;
    let kinds: Vec<String> = good
        .changes()
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c["entityType"].as_str().unwrap(),
                c["kind"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(kinds, ["site:created", "site:updated"]);
    assert_eq!(good.bad_signatures.load(Ordering::SeqCst), 0);

    eventually("the flaky receiver, after two 500s", || {
        flaky.changes().len() >= 2
    })
    .await;
    assert_eq!(flaky.bad_signatures.load(Ordering::SeqCst), 0);
    let page = PageRequest::new(Some(10), None).unwrap();
    // The receiver has the changes a moment before the worker records its answer.
    let mut flaky_deliveries = list_deliveries(&app.db.db, &Actor::cli(), flaky_id, &page)
        .await
        .unwrap();
    for _ in 0..100 {
        if flaky_deliveries
            .items
            .iter()
            .all(|(_, d)| d.status == DeliveryStatus::Delivered)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        flaky_deliveries = list_deliveries(&app.db.db, &Actor::cli(), flaky_id, &page)
            .await
            .unwrap();
    }
    let attempts: i32 = flaky_deliveries.items.iter().map(|(_, d)| d.attempts).sum();
    assert!(
        attempts >= 3,
        "two refusals then success: {attempts} attempts"
    );
    assert!(
        flaky_deliveries
            .items
            .iter()
            .all(|(_, d)| d.status == DeliveryStatus::Delivered)
    );
    let first = &flaky_deliveries.items.last().unwrap().1;
    assert!(first.attempts >= 3 && first.last_status_code == Some(204));

    // The dead receiver's delivery waits, retried, and held up nobody.
    let dead = list_deliveries(&app.db.db, &Actor::cli(), dead_id, &page)
        .await
        .unwrap();
    let (_, pending) = &dead.items[0];
    assert_eq!(pending.status, DeliveryStatus::Pending);
    assert!(
        pending.attempts >= 1 && pending.last_error.is_some(),
        "{pending:?}"
    );
    let (_, listed) = app
        .post_as(
            Some(&admin),
            "query($id: Int!) { webhookDeliveries(webhookId: $id) { nodes { status attempts lastStatusCode } } }",
            json!({ "id": good_id }),
        )
        .await;
    let nodes = listed["data"]["webhookDeliveries"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!nodes.is_empty(), "{listed}");
    assert!(
        nodes
            .iter()
            .all(|n| n["status"] == "DELIVERED" && n["lastStatusCode"] == 204),
        "{listed}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Live delivery across instances
// ---------------------------------------------------------------------------------------------------------------

/// A coordinator of the hub covering the Rhône (69), as the server would build it from its token.
async fn rhone_coordinator(app: &TestApp) -> Actor {
    let hub = maillage_territories::hub_by_slug(&app.db.db, "hinaura")
        .await
        .unwrap()
        .unwrap();
    let scope = maillage_territories::hub_scope(&app.db.db, hub.id)
        .await
        .unwrap();
    assert!(
        scope
            .departments
            .contains(&DepartmentCode::parse("69").unwrap())
    );
    assert!(
        !scope
            .departments
            .contains(&DepartmentCode::parse("13").unwrap())
    );
    Actor::hub_coordinator(scope, "coordinator")
}

async fn next_change(
    stream: &mut (impl futures::Stream<Item = Result<Change, maillage_access::AccessError>> + Unpin),
    within: Duration,
) -> Option<Change> {
    tokio::time::timeout(within, stream.next())
        .await
        .ok()
        .flatten()
        .map(|r| r.unwrap())
}

#[tokio::test]
async fn a_subscriber_of_one_instance_gets_within_a_second_what_another_instance_wrote_and_only_its_territory()
 {
    let app = TestApp::spawn().await; // instance B: takes the writes over HTTP
    // Instance A: its own pool on the same database, its own fan-out.
    let pool_a = maillage_core::db::connect(&app.db.url, 4, None)
        .await
        .unwrap();
    let hub_a = ChangeHub::new(pool_a, Duration::from_millis(100));
    let admin = app.token("admin", None).await;
    let coordinator = rhone_coordinator(&app).await;
    let mut stream = Box::pin(hub_a.subscribe(coordinator.clone(), ChangeFilter::default(), None));
    // Let the subscription settle at the head of the feed.
    tokio::time::sleep(Duration::from_millis(200)).await;

    create_site(&app, &admin, "marseille", "13001").await;
    let started = std::time::Instant::now();
    let (lyon, _) = create_site(&app, &admin, "lyon", "69001").await;
    let change = next_change(&mut stream, Duration::from_secs(5))
        .await
        .expect("the Lyon site's change");
    let elapsed = started.elapsed();
    assert_eq!(
        (
            change.entity_type.as_str(),
            change.kind,
            change.department.as_ref().map(DepartmentCode::as_str)
        ),
        ("site", ChangeKind::Created, Some("69")),
        "the Marseille site (13) is outside the coordinator's territory: {change:?}"
    );
    assert!(lyon.len() > 1);
    // Other helpers' transactions share the PostgreSQL cluster in CI and can hold the feed back briefly, so the
    // bound is asserted with a margin over the one-second target, and the measure is printed.
    eprintln!("change delivered across instances in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");

    // A subscriber that drops its connection and comes back with its last cursor misses nothing.
    let last = change.position;
    drop(stream);
    create_site(&app, &admin, "villeurbanne", "69100").await;
    create_site(&app, &admin, "aix", "13090").await;
    create_site(&app, &admin, "vaulx", "69120").await;
    let mut resumed =
        Box::pin(hub_a.subscribe(coordinator.clone(), ChangeFilter::default(), Some(last)));
    let mut ids = Vec::new();
    while let Some(c) = next_change(&mut resumed, Duration::from_secs(5)).await {
        ids.push(c.department.map(|d| d.as_str().to_owned()));
        if ids.len() == 2 {
            break;
        }
    }
    assert_eq!(ids, [Some("69".to_owned()), Some("69".to_owned())]);
    assert!(
        next_change(&mut resumed, Duration::from_millis(500))
            .await
            .is_none(),
        "nothing else: the 13 site stays invisible"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// GraphQL subscriptions over WebSocket, two instances on one database
// ---------------------------------------------------------------------------------------------------------------

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A second server on the same database (its own pool and fan-out), as a second instance behind a load balancer.
async fn second_instance(app: &TestApp) -> String {
    let pool = maillage_core::db::connect(&app.db.url, 4, None)
        .await
        .unwrap();
    let config = maillage_server::config::ServeConfig::default();
    let router = maillage_server::build_app(maillage_server::AppState::new(pool, &config), &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// Connects to `base`'s `/graphql/ws` with `graphql-transport-ws` and the token in `connection_init`.
async fn connect(base: &str, token: &str) -> Result<Socket, String> {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/graphql/ws", base.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
                .to_string(),
        ))
        .await
        .unwrap();
    match next_message(&mut socket, Duration::from_secs(5)).await {
        Some(Ok(m)) if m["type"] == "connection_ack" => Ok(socket),
        other => Err(format!("{other:?}")),
    }
}

/// The next JSON message, `Err(close code)` when the server closed, `None` on timeout.
async fn next_message(socket: &mut Socket, within: Duration) -> Option<Result<Value, u16>> {
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()?;
        match message {
            Some(Ok(Message::Text(t))) => return Some(Ok(serde_json::from_str(&t).unwrap())),
            Some(Ok(Message::Close(frame))) => {
                return Some(Err(frame.map_or(1005, |f| u16::from(f.code))));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Some(Err(1006)),
        }
    }
}

async fn subscribe(socket: &mut Socket, after: Option<&str>) {
    use futures::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!({
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($after: String) { changes(after: $after) { cursor id entityType kind departmentCode } }",
                    "variables": { "after": after },
                }
            })
            .to_string(),
        ))
        .await
        .unwrap();
}

/// The next change event, or `None` when none comes `within`.
async fn next_event(socket: &mut Socket, within: Duration) -> Option<Value> {
    match next_message(socket, within).await? {
        Ok(m) if m["type"] == "next" => Some(m["payload"]["data"]["changes"].clone()),
        other => panic!("unexpected message {other:?}"),
    }
}

#[tokio::test]
async fn graphql_subscriptions_cross_instances_keep_to_the_territory_resume_by_cursor_and_close_on_revocation()
 {
    let app = TestApp::spawn().await; // instance A: the subscriber's
    let b = second_instance(&app).await; // instance B: takes the writes
    let admin = app.token("admin", None).await;
    let coordinator = app.token("hub_coordinator", Some("hinaura")).await;

    assert!(
        connect(&app.base, "mlg_not_a_token").await.is_err(),
        "a bad token is refused at connection"
    );
    // Without the development flag, plain http is refused, and partners may not register webhooks at all.
    let partner = app.token("partner", None).await;
    for token in [&admin, &coordinator] {
        let (_, body) = app
            .post_as(
                Some(token),
                r#"mutation { createWebhook(input: { name: "x", url: "http://127.0.0.1:9/x" }) { webhook { id } userErrors { code } } }"#,
                json!({}),
            )
            .await;
        // The URL refusal is a coded GraphQL error (the kit's classify keeps AccessError there).
        let code = body["data"]["createWebhook"]["userErrors"][0]["code"]
            .as_str()
            .or(body["errors"][0]["extensions"]["code"].as_str());
        assert_eq!(code, Some("invalid_value"), "{body}");
    }
    let (_, body) = app
        .post_as(
            Some(&partner),
            r#"mutation { createWebhook(input: { name: "x", url: "https://example.org/x" }) { webhook { id } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body}"
    );
    let mut socket = connect(&app.base, &coordinator).await.unwrap();
    subscribe(&mut socket, None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let write_on_b = |source_id: &'static str, postal_code: &'static str| {
        let (client, b, admin) = (app.client.clone(), b.clone(), admin.clone());
        async move {
            let body: Value = client
                .post(format!("{b}/graphql"))
                .bearer_auth(&admin)
                .json(&json!({ "query": CREATE, "variables": { "input": {
                    "source": "partner-app", "sourceId": source_id, "name": source_id, "commune": "Commune",
                    "postalCode": postal_code, "address": "1 place de la Mairie",
                }}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(body["data"]["createSite"]["site"].is_object(), "{body}");
            body["data"]["createSite"]["site"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    write_on_b("marseille", "13001").await;
    let started = std::time::Instant::now();
    let lyon = write_on_b("lyon", "69001").await;
    let event = next_event(&mut socket, Duration::from_secs(5))
        .await
        .expect("the change made on instance B");
    let elapsed = started.elapsed();
    eprintln!("subscription event across instances after {elapsed:?}");
    assert_eq!(
        event["id"],
        json!(lyon),
        "the Marseille site (13) is not the coordinator's: {event}"
    );
    assert_eq!(event["kind"], "CREATED");
    assert_eq!(event["departmentCode"], "69");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    let cursor = event["cursor"].as_str().unwrap().to_owned();

    // Disconnected, the client misses writes; back with its cursor, it gets exactly those of its territory.
    drop(socket);
    write_on_b("aix", "13090").await;
    let villeurbanne = write_on_b("villeurbanne", "69100").await;
    let mut socket = connect(&app.base, &coordinator).await.unwrap();
    subscribe(&mut socket, Some(&cursor)).await;
    let event = next_event(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(event["id"], json!(villeurbanne));
    assert!(
        next_event(&mut socket, Duration::from_millis(500))
            .await
            .is_none()
    );

    // Revoked, the token's connection is closed.
    let info = maillage_access::authenticate_token(&app.db.db, &coordinator)
        .await
        .unwrap()
        .unwrap();
    maillage_access::revoke_token(&app.db.db, &Actor::cli(), info.id)
        .await
        .unwrap();
    let closed = next_message(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(
        closed,
        Some(Err(4403)),
        "closed with 4403 Forbidden after revocation"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// A partner mirror over GraphQL
// ---------------------------------------------------------------------------------------------------------------

const PULL: &str = r#"query($since: DateTime, $after: String) {
  sitesUpdatedSince(updatedSince: $since, first: 4, after: $after) {
    nodes { siteId updatedAt archivedAt site { name } }
    pageInfo { hasNextPage endCursor }
  }
}"#;

/// A partner's copy: global id → name, and the newest `updatedAt` seen.
#[derive(Default)]
struct GraphqlMirror {
    sites: std::collections::BTreeMap<String, String>,
    watermark: Option<chrono::DateTime<chrono::Utc>>,
    read: usize,
}

impl GraphqlMirror {
    async fn pull(&mut self, app: &TestApp, token: &str) {
        // One second of overlap: a write whose transaction was still open at the last pull is read now.
        let since = self
            .watermark
            .map(|w| (w - chrono::Duration::seconds(1)).to_rfc3339());
        let mut after: Option<String> = None;
        loop {
            let (_, body) = app
                .post_as(Some(token), PULL, json!({ "since": since, "after": after }))
                .await;
            assert!(body["errors"].is_null(), "{body}");
            let connection = &body["data"]["sitesUpdatedSince"];
            for node in connection["nodes"].as_array().unwrap() {
                self.read += 1;
                let id = node["siteId"].as_str().unwrap().to_owned();
                let at: chrono::DateTime<chrono::Utc> =
                    node["updatedAt"].as_str().unwrap().parse().unwrap();
                self.watermark = self.watermark.max(Some(at));
                if node["archivedAt"].is_null() {
                    self.sites
                        .insert(id, node["site"]["name"].as_str().unwrap().to_owned());
                } else {
                    assert!(node["site"].is_null(), "a tombstone has no content");
                    self.sites.remove(&id);
                }
            }
            if connection["pageInfo"]["hasNextPage"] != json!(true) {
                return;
            }
            after = connection["pageInfo"]["endCursor"]
                .as_str()
                .map(str::to_owned);
        }
    }
}

/// The server's current sites, id → name, version.
async fn server_sites(app: &TestApp) -> std::collections::BTreeMap<String, (String, i64)> {
    let data = app
        .data(
            "{ sites(first: 100) { nodes { id name version } } }",
            json!({}),
        )
        .await;
    data["sites"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                (
                    n["name"].as_str().unwrap().to_owned(),
                    n["version"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_partner_mirror_synced_by_updated_since_with_tombstones_equals_the_server() {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let partner = app.token("partner", None).await;
    app.import(&crate::support::fixture("sites-v1.csv"), "hinaura")
        .await;
    // Older than the pull's overlap margin, so that untouched imported sites are not read again later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..8 {
        create_site(
            &app,
            &admin,
            &format!("api-{i}"),
            if i % 2 == 0 { "69002" } else { "13002" },
        )
        .await;
    }
    let mut mirror = GraphqlMirror::default();
    mirror.pull(&app, &partner).await;
    let names = |m: &std::collections::BTreeMap<String, (String, i64)>| {
        m.iter()
            .map(|(k, (n, _))| (k.clone(), n.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(mirror.sites, names(&server_sites(&app).await));
    let first_read = mirror.read;

    // Random updates and archives through the API, then a re-import that edits one row and keeps the others.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..10 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let current: Vec<(String, (String, i64))> = server_sites(&app).await.into_iter().collect();
        let (id, (_, version)) = &current[(x % current.len() as u64) as usize];
        let body = if x.is_multiple_of(3) {
            app.post_as(
                Some(&admin),
                r#"mutation($input: DeleteSiteInput!) { deleteSite(input: $input) { deletedSiteId } }"#,
                json!({ "input": { "id": id, "version": version } }),
            )
            .await
            .1
        } else {
            app.post_as(
                Some(&admin),
                UPDATE,
                json!({ "input": { "id": id, "version": version, "name": format!("Modifié {round}") } }),
            )
            .await
            .1
        };
        assert!(body["errors"].is_null(), "{body}");
    }
    let edited = std::fs::read_to_string(crate::support::fixture("sites-v1.csv"))
        .unwrap()
        .replace(
            "Espace numérique Croix-Rousse",
            "Espace numérique Croix-Rousse (rénové)",
        );
    let file = app.dir.path().join("again.csv");
    std::fs::write(&file, edited).unwrap();
    app.import(&file, "hinaura").await;

    mirror.pull(&app, &partner).await;
    let server = names(&server_sites(&app).await);
    assert_eq!(
        mirror.sites, server,
        "the incremental pull converges exactly"
    );
    let second_read = mirror.read - first_read;
    assert!(
        second_read < first_read,
        "the second pull skipped what did not change ({second_read} items read, {first_read} the first time)"
    );
    // The file's edit shows, unless a random round renamed or archived that site through the API first: an API
    // edit stands against later imports (#13), and the mirror must then converge on the edit instead.
    let touched_by_api = !server
        .values()
        .any(|n| n.starts_with("Espace numérique Croix-Rousse"));
    assert!(touched_by_api || server.values().any(|n| n.ends_with("(rénové)")));

    // The origin look-up, for a partner that keeps the source's keys.
    let data = app
        .data(
            r#"{ siteByOrigin(source: "hinaura", sourceId: "lyon-2") { siteId site { name } } }"#,
            json!({}),
        )
        .await;
    let found = &data["siteByOrigin"];
    assert!(found["siteId"].is_string(), "{data}");
}

// ---------------------------------------------------------------------------------------------------------------
// Webhooks go to public addresses only (SSRF)
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn webhooks_to_private_addresses_are_refused_at_registration_and_at_delivery() {
    // Production settings: https only, public destinations only.
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    for url in [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:192.168.1.1]/hook",
        "https://[fd00::1]/hook",
        "http://hooks.example.org/hook",
    ] {
        let (_, body) = app
            .post_as(
                Some(&admin),
                r#"mutation($url: String!) { createWebhook(input: { name: "x", url: $url }) {
                    webhook { id } userErrors { field code message } } }"#,
                json!({ "url": url }),
            )
            .await;
        let payload = &body["data"]["createWebhook"];
        assert!(payload["webhook"].is_null(), "{url} registered: {body}");
        let errors = payload["userErrors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{url}: {body}");
        assert_eq!(errors[0]["field"], json!(["input", "url"]), "{url}: {body}");
        let message = errors[0]["message"].as_str().unwrap();
        assert!(
            message.contains("public addresses") || message.contains("https://"),
            "{url}: {message}"
        );
    }

    // A webhook whose host passed registration (allowed here, as a DNS answer would have been public then) and
    // now points at loopback, by name (the resolver's check) or by literal address, gets no request.
    let receiver = Receiver::start(0).await;
    let port = receiver
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/hook");
    let (by_name, _) = register(&app, &format!("http://localhost:{port}/hook"), "by-name").await;
    let (by_address, _) = register(&app, &receiver.url, "by-address").await;
    spawn_worker(
        app.db.db.clone(),
        WorkerSettings {
            tick: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
            retry: RetryPolicy {
                base: Duration::from_millis(100),
                max_delay: Duration::from_secs(1),
                max_attempts: 3,
            },
            allow_private_addresses: false,
        },
    );
    create_site(&app, &admin, "ssrf-1", "69001").await;
    let page = PageRequest::new(Some(10), None).unwrap();
    for id in [by_name, by_address] {
        let mut attempted = None;
        for _ in 0..200 {
            let deliveries = list_deliveries(&app.db.db, &Actor::cli(), id, &page)
                .await
                .unwrap();
            if let Some((_, d)) = deliveries.items.first()
                && d.attempts >= 1
            {
                attempted = Some(d.clone());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let d = attempted.unwrap_or_else(|| panic!("webhook {id}: no attempt recorded"));
        assert_ne!(d.status, DeliveryStatus::Delivered, "{d:?}");
        assert!(
            d.last_error
                .as_deref()
                .is_some_and(|e| e.contains("public address")),
            "webhook {id}: {d:?}"
        );
    }
    assert_eq!(
        receiver.hits.load(Ordering::SeqCst),
        0,
        "no request reached the private address"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// A mirror of a list other than sites: counsellors, with the tombstones of every list
// ---------------------------------------------------------------------------------------------------------------

const COUNSELLORS_PULL: &str = r#"query($since: DateTime, $after: String) {
  counsellors(filter: { updatedSince: $since }, orderBy: { field: UPDATED_AT }, first: 5, after: $after) {
    nodes { id updatedAt lastName version }
    pageInfo { hasNextPage endCursor }
  }
}"#;

const TOMBSTONES: &str = r#"query($since: DateTime!, $types: [String!]) {
  deletedSince(since: $since, entityTypes: $types, first: 100) { nodes { id entityType archivedAt } }
}"#;

const UPDATE_COUNSELLOR: &str = r#"mutation($input: UpdateCounsellorInput!) {
  updateCounsellor(input: $input) { counsellor { id version } userErrors { code message } } }"#;

/// A valid SIRET (Luhn key) built from a number.
fn siret(n: u64) -> String {
    let base = format!("{n:013}");
    (0..10)
        .map(|k| format!("{base}{k}"))
        .find(|s| maillage_core::Siret::parse(s).is_ok())
        .unwrap()
}

/// A hub's copy of the counsellors: global id → (last name, version), kept by `updatedSince` pulls.
#[derive(Default)]
struct CounsellorMirror {
    rows: std::collections::BTreeMap<String, (String, i64)>,
    watermark: Option<chrono::DateTime<chrono::Utc>>,
    read: usize,
}

impl CounsellorMirror {
    /// Pulls what changed; with `writer`, renames the first counsellor read once the first page is in, as a
    /// concurrent write would (it must come back at the end of this very pull).
    async fn pull(&mut self, app: &TestApp, token: &str, writer: Option<&str>) {
        let since = self
            .watermark
            .map(|w| (w - chrono::Duration::seconds(1)).to_rfc3339());
        let mut after: Option<String> = None;
        let mut first_page = true;
        loop {
            let (_, body) = app
                .post_as(
                    Some(token),
                    COUNSELLORS_PULL,
                    json!({ "since": since, "after": after }),
                )
                .await;
            assert!(body["errors"].is_null(), "{body}");
            let connection = &body["data"]["counsellors"];
            let nodes = connection["nodes"].as_array().unwrap();
            for node in nodes {
                self.read += 1;
                let at: chrono::DateTime<chrono::Utc> =
                    node["updatedAt"].as_str().unwrap().parse().unwrap();
                self.watermark = self.watermark.max(Some(at));
                self.rows.insert(
                    node["id"].as_str().unwrap().to_owned(),
                    (
                        node["lastName"].as_str().unwrap().to_owned(),
                        node["version"].as_i64().unwrap(),
                    ),
                );
            }
            if let (true, Some(writer), Some(node)) = (first_page, writer, nodes.first()) {
                let (_, body) = app
                    .post_as(
                        Some(writer),
                        UPDATE_COUNSELLOR,
                        json!({ "input": { "id": node["id"], "version": node["version"], "lastName": "Pendant" } }),
                    )
                    .await;
                assert!(
                    body["data"]["updateCounsellor"]["userErrors"] == json!([]),
                    "{body}"
                );
            }
            first_page = false;
            if connection["pageInfo"]["hasNextPage"] != json!(true) {
                break;
            }
            after = connection["pageInfo"]["endCursor"]
                .as_str()
                .map(str::to_owned);
        }
        // Tombstones: removed from whatever list held them.
        let since = since.unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned());
        let (_, body) = app
            .post_as(
                Some(token),
                TOMBSTONES,
                json!({ "since": since, "types": ["counsellor"] }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        for t in body["data"]["deletedSince"]["nodes"].as_array().unwrap() {
            self.rows.remove(t["id"].as_str().unwrap());
        }
    }
}

/// The server's counsellors, id → (last name, version).
async fn server_counsellors(
    app: &TestApp,
    token: &str,
) -> std::collections::BTreeMap<String, (String, i64)> {
    let (_, body) = app
        .post_as(
            Some(token),
            "{ counsellors(first: 100) { nodes { id lastName version } } }",
            json!({}),
        )
        .await;
    body["data"]["counsellors"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                (
                    n["lastName"].as_str().unwrap().to_owned(),
                    n["version"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}

async fn create_counsellor(app: &TestApp, token: &str, structure: &str, n: usize) {
    let (_, body) = app
        .post_as(
            Some(token),
            "mutation($input: CreateCounsellorInput!) { createCounsellor(input: $input) { counsellor { id } userErrors { code message } } }",
            json!({ "input": { "externalId": format!("cn-{n}"), "structureId": structure,
                "firstName": "Camille", "lastName": format!("Nom {n}"), "hostShare": 100 } }),
        )
        .await;
    assert!(
        body["data"]["createCounsellor"]["counsellor"]["id"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn a_mirror_of_counsellors_synced_by_updated_since_equals_the_server_and_tombstones_reach_mirrors()
 {
    let app = TestApp::spawn().await;
    let admin = app.token("admin", None).await;
    let partner = app.token("partner", None).await;
    let mut structures = Vec::new();
    for (i, dep) in ["69", "13"].iter().enumerate() {
        let (_, body) = app
            .post_as(
                Some(&admin),
                "mutation($input: CreateHostStructureInput!) { createHostStructure(input: $input) { hostStructure { id } userErrors { code message } } }",
                json!({ "input": { "siret": siret(100 + i as u64), "name": format!("Mairie {dep}"), "kind": "COMMUNE", "department": dep } }),
            )
            .await;
        structures.push(
            body["data"]["createHostStructure"]["hostStructure"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_owned(),
        );
    }
    for n in 0..12 {
        create_counsellor(&app, &admin, &structures[n % 2], n).await;
    }
    // Older than the pull's overlap margin, so that untouched counsellors are not read again later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let start = chrono::Utc::now();

    let mut mirror = CounsellorMirror::default();
    mirror.pull(&app, &admin, Some(&admin)).await;
    assert_eq!(
        mirror.rows,
        server_counsellors(&app, &admin).await,
        "a counsellor renamed while the pull paged came back at its end"
    );
    assert!(mirror.rows.values().any(|(name, _)| name == "Pendant"));
    let first_read = mirror.read;

    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..5 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let current: Vec<(String, (String, i64))> =
            server_counsellors(&app, &admin).await.into_iter().collect();
        let (id, (_, version)) = &current[(x % current.len() as u64) as usize];
        let (_, body) = app
            .post_as(
                Some(&admin),
                UPDATE_COUNSELLOR,
                json!({ "input": { "id": id, "version": version, "lastName": format!("Modifié {round}") } }),
            )
            .await;
        assert_eq!(
            body["data"]["updateCounsellor"]["userErrors"],
            json!([]),
            "{body}"
        );
    }
    for n in 12..14 {
        create_counsellor(&app, &admin, &structures[0], n).await;
    }
    mirror.pull(&app, &admin, None).await;
    assert_eq!(mirror.rows, server_counsellors(&app, &admin).await);
    let second_read = mirror.read - first_read;
    assert!(
        second_read <= 8 && second_read < first_read,
        "the second pull read only what changed: {second_read} (first: {first_read})"
    );

    // Counsellors are never archived nor deleted: no tombstone. A site archived through the API is one, for
    // every caller who may read sites, as the `sites` list's own `updatedSince` and the origin look-up agree.
    let (site, version) = create_site(&app, &admin, "tomb-1", "69001").await;
    let (kept, _) = create_site(&app, &admin, "kept-1", "69001").await;
    let (_, body) = app
        .post_as(
            Some(&admin),
            r#"mutation($input: DeleteSiteInput!) { deleteSite(input: $input) { deletedSiteId } }"#,
            json!({ "input": { "id": site, "version": version } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    // On PostgreSQL the feed hands out finished transactions only, and any transaction open in the cluster holds
    // its horizon back a moment (docs/SYNC.md): the tombstone shows within seconds, never out of order.
    let mut body = Value::Null;
    for _ in 0..100 {
        body = app
            .post_as(
                Some(&partner),
                TOMBSTONES,
                json!({ "since": start.to_rfc3339(), "types": ["counsellor", "site"] }),
            )
            .await
            .1;
        if body["data"]["deletedSince"]["nodes"]
            .as_array()
            .is_some_and(|n| !n.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tombstones = body["data"]["deletedSince"]["nodes"].as_array().unwrap();
    assert_eq!(tombstones.len(), 1, "{body}");
    assert_eq!(tombstones[0]["id"], json!(site), "{body}");
    assert_eq!(tombstones[0]["entityType"], "site");
    assert!(tombstones[0]["archivedAt"].is_string());
    let data = app
        .data(
            r#"query($since: DateTime) { sites(filter: { updatedSince: $since }, orderBy: { field: UPDATED_AT }, first: 100) { nodes { id } } }"#,
            json!({ "since": start.to_rfc3339() }),
        )
        .await;
    let ids: Vec<&str> = data["sites"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [kept.as_str()],
        "the archived site is a tombstone, not a row"
    );
    let data = app
        .data(
            r#"{ kept: site(source: "partner-app", sourceId: "kept-1") { id } gone: site(source: "partner-app", sourceId: "tomb-1") { id } none: site(source: "partner-app", sourceId: "nope") { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["kept"]["id"], json!(kept), "{data}");
    assert!(data["gone"].is_null() && data["none"].is_null(), "{data}");
}
