//! Access services on a real database: the change feed's order under concurrent writers, its rights, webhooks.
//! SQLite in memory by default, a fresh PostgreSQL database per test when `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use maillage_access::changes::{
    Change, ChangeFilter, ChangeKind, ChangePosition, HubFilter, feed_head, list_changes, may_read,
    read_feed,
};
use maillage_access::webhooks::{
    AttemptOutcome, DeliveryStatus, NewWebhook, RetryPolicy, create_webhook, list_deliveries,
    next_delivery, record_attempt, signature_header, validate_url, verify_signature,
    webhooks_to_deliver,
};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::actor::HubScope;
use maillage_core::pagination::PageRequest;
use maillage_core::{Actor, DepartmentCode, HubId, Role};
use maillage_testkit::TestDb;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn dep(code: &str) -> DepartmentCode {
    DepartmentCode::parse(code).unwrap()
}

fn entry(entity_type: &'static str, id: i32, action: &'static str, department: &str) -> AuditEntry {
    AuditEntry::new(entity_type, id.to_string(), action, AuditChanges::new())
        .department(Some(dep(department)))
}

/// Every change after `after`, read by pages as a client would.
async fn drain(db: &DatabaseConnection, after: &mut Option<ChangePosition>) -> Vec<Change> {
    let mut out = Vec::new();
    loop {
        let batch = read_feed(db, *after, 7).await.unwrap();
        let Some(last) = batch.last() else {
            return out;
        };
        *after = Some(last.position);
        out.extend(batch);
    }
}

/// The whole feed once it holds `n` changes. On PostgreSQL the feed waits for every writing transaction of the
/// cluster older than a change, and other tests write in parallel, so a change may take a moment to appear.
async fn feed_of(db: &DatabaseConnection, n: usize) -> Vec<Change> {
    for _ in 0..500 {
        let all = read_feed(db, None, 1000).await.unwrap();
        if all.len() >= n {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the feed never reached {n} changes");
}

#[tokio::test]
async fn a_change_committed_before_an_older_one_is_held_back_until_the_older_commits() {
    let t = TestDb::new().await;
    if !t.is_postgres() {
        // SQLite serialises writers: there is no second transaction in flight to test against.
        return;
    }
    let actor = Actor::cli();
    let slow = t.db.begin().await.unwrap();
    record(&slow, &actor, entry("site", 1, "create", "69"))
        .await
        .unwrap();
    let fast = t.db.begin().await.unwrap();
    record(&fast, &actor, entry("site", 2, "create", "69"))
        .await
        .unwrap();
    fast.commit().await.unwrap();

    // The hazard is real: the later entry is visible while the earlier one is in flight...
    let visible =
        t.db.query_all_raw(sea_orm::Statement::from_string(
            t.db.get_database_backend(),
            "SELECT entity_id FROM audit_log",
        ))
        .await
        .unwrap();
    assert_eq!(visible.len(), 1);
    // ...but the feed does not hand it out yet, so no cursor can move past the earlier one.
    let mut cursor = None;
    assert!(drain(&t.db, &mut cursor).await.is_empty());
    slow.commit().await.unwrap();
    let ids: Vec<String> = feed_of(&t.db, 2)
        .await
        .into_iter()
        .map(|c| c.entity_id)
        .collect();
    assert_eq!(ids, ["1", "2"]);
}

#[tokio::test]
async fn a_reader_following_the_feed_during_concurrent_writes_sees_every_change_once() {
    let t = TestDb::new().await;
    let writers = if t.is_postgres() { 8 } else { 2 };
    let per_writer = 15;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let db = t.db.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut cursor = None;
            let mut seen = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                seen.extend(drain(&db, &mut cursor).await);
                if finished {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            let actor = Actor::cli();
            let mut x: u64 = 0x9e37_79b9 ^ (w as u64 + 1);
            for i in 0..per_writer {
                let txn = maillage_core::db::begin_write(&db).await.unwrap();
                record(&txn, &actor, entry("site", w * 1000 + i, "update", "69"))
                    .await
                    .unwrap();
                // Random time inside the transaction, so commits come out of id order.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                tokio::time::sleep(Duration::from_millis(x % 12)).await;
                txn.commit().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();
    let ids: Vec<String> = seen.iter().map(|c| c.entity_id.clone()).collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a change was read twice");
    assert_eq!(
        ids.len(),
        (writers * per_writer) as usize,
        "a change was skipped"
    );
    let positions: Vec<ChangePosition> = seen.iter().map(|c| c.position).collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]));
}

fn coordinator(hub: i32, departments: &[&str]) -> Actor {
    Actor::hub_coordinator(
        HubScope {
            hub: HubId(hub),
            departments: departments.iter().map(|d| dep(d)).collect(),
        },
        "coordinator",
    )
}

#[tokio::test]
async fn the_feed_gives_each_caller_what_it_may_read_in_sql_as_in_memory() {
    let t = TestDb::new().await;
    let admin = Actor::cli();
    let txn = t.db.begin().await.unwrap();
    record(&txn, &admin, entry("site", 1, "create", "69"))
        .await
        .unwrap();
    record(&txn, &admin, entry("site", 2, "update", "13"))
        .await
        .unwrap();
    record(&txn, &admin, entry("aidant", 3, "create", "69"))
        .await
        .unwrap();
    record(&txn, &admin, entry("aidant", 4, "update", "13"))
        .await
        .unwrap();
    record(
        &txn,
        &admin,
        entry("funding_grant", 5, "create_signed", "69"),
    )
    .await
    .unwrap();
    record(&txn, &admin, entry("site", 1, "archive", "69"))
        .await
        .unwrap();
    record(
        &txn,
        &admin,
        AuditEntry::new("hub", "7".to_owned(), "update", AuditChanges::new()).hub(Some(HubId(7))),
    )
    .await
    .unwrap();
    record(
        &txn,
        &admin,
        AuditEntry::new("api_token", "1".to_owned(), "create", AuditChanges::new()),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();

    let all = feed_of(&t.db, 7).await;
    assert_eq!(all.len(), 7, "token entries are never in the feed");
    assert_eq!(all[0].kind, ChangeKind::Created);
    assert_eq!(all[4].kind, ChangeKind::Created);
    assert_eq!(all[5].kind, ChangeKind::Archived);
    assert!(all[2].personal_data && !all[0].personal_data);

    let actors = [
        admin.clone(),
        Actor::with_role(Role::BdtReviewer, "bdt"),
        Actor::with_role(Role::Partner, "partner"),
        Actor::anonymous(),
        coordinator(7, &["69"]),
        coordinator(8, &["13"]),
    ];
    let filters = [
        ChangeFilter::default(),
        ChangeFilter {
            entity_types: vec!["aidant".to_owned(), "site".to_owned()],
            ..ChangeFilter::default()
        },
        ChangeFilter {
            departments: vec![dep("13")],
            ..ChangeFilter::default()
        },
        ChangeFilter {
            hub: Some(HubFilter {
                hub: HubId(7),
                departments: vec![dep("69")],
            }),
            ..ChangeFilter::default()
        },
    ];
    for actor in &actors {
        for filter in &filters {
            let page = PageRequest::new(Some(100), None).unwrap();
            let listed: Vec<Change> = list_changes(&t.db, actor, filter, &page)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|(_, c)| c)
                .collect();
            let expected: Vec<Change> = all
                .iter()
                .filter(|c| may_read(actor, c) && filter.matches(c))
                .cloned()
                .collect();
            assert_eq!(listed, expected, "{actor:?} {filter:?}");
        }
    }
    // Spot checks of the rules themselves.
    let partner = Actor::with_role(Role::Partner, "partner");
    assert!(
        all.iter()
            .filter(|c| may_read(&partner, c))
            .all(|c| !c.personal_data)
    );
    let c13 = coordinator(8, &["13"]);
    let seen: Vec<&str> = all
        .iter()
        .filter(|c| may_read(&c13, c))
        .map(|c| c.entity_id.as_str())
        .collect();
    assert_eq!(seen, ["2", "4"]);

    // Pages follow each other by cursor without gaps.
    let mut after = None;
    let mut paged = Vec::new();
    loop {
        let page = PageRequest::new(Some(2), after.as_deref()).unwrap();
        let p = list_changes(&t.db, &admin, &ChangeFilter::default(), &page)
            .await
            .unwrap();
        let next = p.items.last().map(|(c, _)| c.as_str().to_owned());
        paged.extend(p.items.into_iter().map(|(_, c)| c));
        if !p.has_next_page {
            break;
        }
        after = next;
    }
    assert_eq!(paged, all);
    // The head is the newest entry, even one that is not a change (the token's), so a reader starts after it.
    let head = feed_head(&t.db).await.unwrap();
    assert_eq!(
        (head.txid, head.id),
        (all[6].position.txid, all[6].position.id + 1)
    );
}

#[test]
fn webhook_urls_must_be_https_except_loopback_in_development() {
    assert!(validate_url("https://hooks.example.org/maillage", false).is_ok());
    assert!(validate_url("http://hooks.example.org/maillage", true).is_err());
    assert!(validate_url("http://127.0.0.1:8080/x", false).is_err());
    assert!(validate_url("http://127.0.0.1:8080/x", true).is_ok());
    assert!(validate_url("http://[::1]:8080/x", true).is_ok());
    assert!(validate_url("http://localhost/x", true).is_ok());
    assert!(validate_url("http://127.0.0.1.evil.example/x", true).is_err());
    assert!(validate_url("http://user@evil.example/x", true).is_err());
    assert!(validate_url("ftp://example.org", true).is_err());
    assert!(validate_url("example.org", true).is_err());
}

#[test]
fn signatures_verify_only_with_the_secret_the_body_and_a_fresh_time() {
    let now = chrono::Utc::now();
    let header = signature_header("whsec_a", now.timestamp(), "{\"x\":1}");
    let tolerance = Duration::from_secs(300);
    assert!(verify_signature(
        "whsec_a",
        &header,
        "{\"x\":1}",
        now,
        tolerance
    ));
    assert!(!verify_signature(
        "whsec_b",
        &header,
        "{\"x\":1}",
        now,
        tolerance
    ));
    assert!(!verify_signature(
        "whsec_a",
        &header,
        "{\"x\":2}",
        now,
        tolerance
    ));
    let later = now + chrono::Duration::seconds(301);
    assert!(!verify_signature(
        "whsec_a",
        &header,
        "{\"x\":1}",
        later,
        tolerance
    ));
    assert!(!verify_signature(
        "whsec_a",
        "t=1,v1=zz",
        "{\"x\":1}",
        now,
        tolerance
    ));
}

#[test]
fn retries_back_off_exponentially_up_to_a_ceiling() {
    let p = RetryPolicy {
        base: Duration::from_secs(10),
        max_delay: Duration::from_secs(60),
        max_attempts: 5,
    };
    let delays: Vec<u64> = (1..=5).map(|a| p.delay_after(a).as_secs()).collect();
    assert_eq!(delays, [10, 20, 40, 60, 60]);
}

async fn seed_hub(db: &DatabaseConnection, id: i32) {
    db.execute_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!(
            "INSERT INTO hub (id, slug, name, created_at, updated_at) VALUES ({id}, 'h{id}', 'Hub {id}', \
             CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ),
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_coordinators_webhook_gets_batches_of_its_territory_retried_until_accepted() {
    let t = TestDb::new().await;
    seed_hub(&t.db, 7).await;
    let admin = Actor::cli();
    record(&t.db, &admin, entry("site", 100, "create", "69"))
        .await
        .unwrap();
    feed_of(&t.db, 1).await;
    let owner = coordinator(7, &["69"]);
    let partner = Actor::with_role(Role::Partner, "p");
    let refused = create_webhook(
        &t.db,
        &partner,
        NewWebhook {
            name: "x".to_owned(),
            url: "https://example.org".to_owned(),
            ..NewWebhook::default()
        },
        false,
    )
    .await;
    assert!(refused.is_err());
    let outside = create_webhook(
        &t.db,
        &owner,
        NewWebhook {
            name: "x".to_owned(),
            url: "https://example.org".to_owned(),
            departments: vec![dep("13")],
            ..NewWebhook::default()
        },
        false,
    )
    .await;
    assert!(outside.is_err());
    let (hook, secret) = create_webhook(
        &t.db,
        &owner,
        NewWebhook {
            name: "sync".to_owned(),
            // A public address literal: registration resolves host names, and tests may have no DNS.
            url: "https://93.184.215.14/hook".to_owned(),
            entity_types: vec!["site".to_owned(), "aidant".to_owned()],
            ..NewWebhook::default()
        },
        false,
    )
    .await
    .unwrap();
    assert!(secret.starts_with("whsec_"));
    let target = webhooks_to_deliver(&t.db).await.unwrap().remove(0);
    assert_eq!(target.secret, secret);
    // Starts at the end of the feed: the earlier change is not delivered.
    assert!(
        next_delivery(&t.db, &target, &owner)
            .await
            .unwrap()
            .is_none()
    );

    record(&t.db, &admin, entry("site", 1, "create", "69"))
        .await
        .unwrap();
    record(&t.db, &admin, entry("site", 2, "create", "13"))
        .await
        .unwrap();
    record(&t.db, &admin, entry("aidant", 3, "update", "69"))
        .await
        .unwrap();
    record(&t.db, &admin, entry("funding_grant", 4, "create", "69"))
        .await
        .unwrap();
    feed_of(&t.db, 5).await;
    let target = webhooks_to_deliver(&t.db).await.unwrap().remove(0);
    let d = next_delivery(&t.db, &target, &owner)
        .await
        .unwrap()
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
    let ids: Vec<&str> = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["entityId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["1", "3"],
        "outside its departments or types: not delivered"
    );
    // Claimed: a second worker gets nothing while the first attempts it.
    let target = webhooks_to_deliver(&t.db).await.unwrap().remove(0);
    assert!(
        next_delivery(&t.db, &target, &owner)
            .await
            .unwrap()
            .is_none()
    );

    let policy = RetryPolicy {
        base: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_attempts: 3,
    };
    let d = record_attempt(&t.db, &d, &AttemptOutcome::Status(500), &policy)
        .await
        .unwrap();
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 1));
    tokio::time::sleep(Duration::from_millis(10)).await;
    record(&t.db, &admin, entry("site", 5, "update", "69"))
        .await
        .unwrap();
    feed_of(&t.db, 6).await;
    // The pending delivery comes back before anything new.
    let again = next_delivery(&t.db, &target, &owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, d.id);
    record_attempt(
        &t.db,
        &again,
        &AttemptOutcome::Error("refused".into()),
        &policy,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let again = next_delivery(&t.db, &target, &owner)
        .await
        .unwrap()
        .unwrap();
    let done = record_attempt(&t.db, &again, &AttemptOutcome::Status(204), &policy)
        .await
        .unwrap();
    assert_eq!((done.status, done.attempts), (DeliveryStatus::Delivered, 3));
    let target = webhooks_to_deliver(&t.db).await.unwrap().remove(0);
    let next = next_delivery(&t.db, &target, &owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.change_count, 1);
    let failed = {
        let mut d = next;
        for _ in 0..3 {
            d = record_attempt(&t.db, &d, &AttemptOutcome::Status(503), &policy)
                .await
                .unwrap();
        }
        d
    };
    assert_eq!(failed.status, DeliveryStatus::Failed);

    let page = PageRequest::new(Some(10), None).unwrap();
    let listed = list_deliveries(&t.db, &owner, hook.id, &page)
        .await
        .unwrap();
    let statuses: Vec<DeliveryStatus> = listed.items.iter().map(|(_, d)| d.status).collect();
    assert_eq!(
        statuses,
        [DeliveryStatus::Failed, DeliveryStatus::Delivered]
    );
    assert!(
        list_deliveries(&t.db, &coordinator(8, &["13"]), hook.id, &page)
            .await
            .is_err()
    );
}
