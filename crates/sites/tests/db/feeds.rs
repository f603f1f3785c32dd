//! Feeds and import jobs on a real database: who manages feeds, what a job imports and reports, and how jobs end.

use super::{Env, assert_code, count_rows, env, hub_coordinator, v01};
use maillage_core::pagination::PageRequest;
use maillage_core::{Actor, ErrorCode, Role};
use maillage_sites::SitesError;
use maillage_sites::feeds::{self, FeedPatch, NewFeed};
use maillage_sites::jobs::{self, INTERRUPTED, JobFilter, JobStatus};
use sea_orm::{ConnectionTrait, Statement};

fn new_feed(slug: &str) -> NewFeed {
    NewFeed {
        slug: slug.to_owned(),
        ..NewFeed::default()
    }
}

async fn hub_id(e: &Env, slug: &str) -> maillage_core::HubId {
    maillage_territories::hub_by_slug(&e.t.db, slug)
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn feeds_are_managed_by_admins_and_by_their_own_hubs_coordinator() {
    let e = env().await;
    let admin = Actor::cli();
    let hinaura = hub_coordinator(&e.t, "hinaura").await;
    let sud = hub_coordinator(&e.t, "hub-du-sud").await;
    let partner = Actor::with_role(Role::Partner, "token:9:app");

    let national = feeds::create_feed(&e.t.db, &admin, new_feed("national"))
        .await
        .unwrap();
    assert_eq!((national.hub, national.source.as_str()), (None, "national"));
    assert!((national.max_archive_share - feeds::DEFAULT_MAX_ARCHIVE_SHARE).abs() < 1e-9);
    // A coordinator's feed is its hub's without saying so; another hub's or a national one is refused.
    let own = feeds::create_feed(&e.t.db, &hinaura, new_feed("hinaura-lieux"))
        .await
        .unwrap();
    assert_eq!(own.hub, Some(hub_id(&e, "hinaura").await));
    let other = NewFeed {
        hub: Some(hub_id(&e, "hinaura").await),
        ..new_feed("sud-pour-hinaura")
    };
    let err = feeds::create_feed(&e.t.db, &sud, other).await.unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let err = feeds::create_feed(&e.t.db, &partner, new_feed("p"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    // Slug and source are unique, whichever clashes; bad values are refused on their field.
    let clash = NewFeed {
        source: Some("autre-source".to_owned()),
        ..new_feed("national")
    };
    let err = feeds::create_feed(&e.t.db, &admin, clash)
        .await
        .unwrap_err();
    assert_code(&err, "already_exists", Some("input.slug"));
    let clash = NewFeed {
        source: Some("hinaura-lieux".to_owned()),
        ..new_feed("autre")
    };
    let err = feeds::create_feed(&e.t.db, &admin, clash)
        .await
        .unwrap_err();
    assert_code(&err, "already_exists", Some("input.source"));
    for (bad, field) in [
        (new_feed("Pas Un Slug"), "input.slug"),
        (
            NewFeed {
                max_archive_share: Some(1.5),
                ..new_feed("x")
            },
            "input.maxArchiveShare",
        ),
        (
            NewFeed {
                mapping: Some("aidants-connect-carto-2020".to_owned()),
                mapping_toml: Some("standard = \"1.0.2\"".to_owned()),
                ..new_feed("y")
            },
            "input.mapping",
        ),
        // A feed names built-in mappings only, never a file of the server.
        (
            NewFeed {
                mapping: Some("/etc/passwd".to_owned()),
                ..new_feed("z")
            },
            "input.mapping",
        ),
        (
            NewFeed {
                mapping_toml: Some("standard = \"9\"".to_owned()),
                ..new_feed("w")
            },
            "input.mappingToml",
        ),
    ] {
        let err = feeds::create_feed(&e.t.db, &admin, bad).await.unwrap_err();
        assert_code(&err, "invalid_value", Some(field));
    }

    // Each sees and changes the feeds it manages only.
    let slugs = |list: Vec<feeds::Feed>| list.into_iter().map(|f| f.slug).collect::<Vec<_>>();
    assert_eq!(
        slugs(feeds::list_feeds(&e.t.db, &admin).await.unwrap()),
        ["hinaura-lieux", "national"]
    );
    assert_eq!(
        slugs(feeds::list_feeds(&e.t.db, &hinaura).await.unwrap()),
        ["hinaura-lieux"]
    );
    assert!(feeds::list_feeds(&e.t.db, &sud).await.unwrap().is_empty());
    let err = feeds::get_feed(&e.t.db, &sud, "hinaura-lieux")
        .await
        .unwrap_err();
    assert!(matches!(err, SitesError::UnknownFeed(_)));
    let patch = || FeedPatch {
        complete: Some(true),
        ..FeedPatch::default()
    };
    let err = feeds::update_feed(&e.t.db, &sud, "hinaura-lieux", 1, patch())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let updated = feeds::update_feed(&e.t.db, &hinaura, "hinaura-lieux", 1, patch())
        .await
        .unwrap();
    assert_eq!((updated.version, updated.complete), (2, true));
    let err = feeds::update_feed(&e.t.db, &hinaura, "hinaura-lieux", 1, patch())
        .await
        .unwrap_err();
    assert_code(&err, "stale_version", Some("input.version"));
    // An unchanged patch writes nothing.
    let same = feeds::update_feed(&e.t.db, &hinaura, "hinaura-lieux", 2, patch())
        .await
        .unwrap();
    assert_eq!(same.version, 2);
    let entries =
        e.t.db
            .query_one_raw(Statement::from_string(
                e.t.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM audit_log WHERE entity_type = 'feed'".to_owned(),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
    assert_eq!(entries, 3, "two creations and one update");
}

#[tokio::test]
async fn a_job_imports_into_the_feeds_source_within_the_senders_territory() {
    let e = env().await;
    let hinaura = hub_coordinator(&e.t, "hinaura").await;
    let feed = feeds::create_feed(
        &e.t.db,
        &hinaura,
        NewFeed {
            source: Some("hinaura".to_owned()),
            ..new_feed("hinaura-lieux")
        },
    )
    .await
    .unwrap();
    let file = e.json(
        "lieux.json",
        &[
            v01("1", "Lyon", "69001", &[]),
            v01("2", "Marseille", "13001", &[]),
            v01("3", "Grenoble", "38000", &[]),
        ],
    );
    let (_, job) = jobs::create_job(&e.t.db, &hinaura, "hinaura-lieux", "lieux.json", &file)
        .await
        .unwrap();
    assert_eq!((job.status, job.feed), (JobStatus::Queued, feed.id));
    let done = jobs::run_job(&e.t.db, &hinaura, job.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.error);
    assert_eq!((done.counts.created, done.counts.rejected), (2, 1));
    assert_eq!((done.rows_done, done.rows_total), (3, Some(3)));
    assert!(done.started_at.is_some() && done.finished_at.is_some());
    let lines = jobs::job_lines(
        &e.t.db,
        &hinaura,
        job.id,
        &PageRequest::new(Some(10), None).unwrap(),
    )
    .await
    .unwrap();
    let lines: Vec<_> = lines.items.into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (
            lines[0].location.as_str(),
            lines[0].source_id.as_deref(),
            lines[0].outcome.as_str()
        ),
        ("index 1", Some("2"), "rejected")
    );
    assert_eq!(
        lines[0].reason,
        "this site is outside the departments you may edit"
    );
    let sources =
        e.t.db
            .query_one_raw(Statement::from_string(
                e.t.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM site WHERE source = 'hinaura'".to_owned(),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
    assert_eq!(sources, 2);
    // A job runs once.
    let err = jobs::run_job(&e.t.db, &hinaura, job.id).await.unwrap_err();
    assert_eq!(err.code(), "invalid_state");
    // The CSV report has the same lines.
    let (_, csv) = jobs::job_report_csv(&e.t.db, &hinaura, job.id)
        .await
        .unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            "location,id,outcome,field,reason,detail",
            "index 1,2,rejected,code_postal,this site is outside the departments you may edit,"
        ]
    );

    // An admin sending to the hub's feed is held to the hub's territory too; the Hub du Sud sees none of it.
    let (_, again) = jobs::create_job(&e.t.db, &Actor::cli(), "hinaura-lieux", "lieux.json", &file)
        .await
        .unwrap();
    let again = jobs::run_job(&e.t.db, &Actor::cli(), again.id)
        .await
        .unwrap();
    assert_eq!((again.counts.unchanged, again.counts.rejected), (2, 1));
    let sud = hub_coordinator(&e.t, "hub-du-sud").await;
    assert_eq!(
        jobs::get_job(&e.t.db, &sud, job.id)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    let page = PageRequest::new(Some(10), None).unwrap().with_total(true);
    let listed = jobs::list_jobs(&e.t.db, &sud, &JobFilter::default(), &page)
        .await
        .unwrap();
    assert_eq!(listed.total_count, Some(0));
    let listed = jobs::list_jobs(&e.t.db, &hinaura, &JobFilter::default(), &page)
        .await
        .unwrap();
    assert_eq!(listed.total_count, Some(2));
    assert_eq!(listed.items[0].1.id, again.id, "newest first");
    let err = jobs::create_job(&e.t.db, &sud, "hinaura-lieux", "x.json", &file)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
}

#[tokio::test]
async fn a_refused_file_fails_its_job_and_stores_nothing() {
    let e = env().await;
    let admin = Actor::cli();
    feeds::create_feed(&e.t.db, &admin, new_feed("national"))
        .await
        .unwrap();
    let broken = e.write("broken.json", "[{\"id\": \"1\", ");
    let (_, job) = jobs::create_job(&e.t.db, &admin, "national", "broken.json", &broken)
        .await
        .unwrap();
    let done = jobs::run_job(&e.t.db, &admin, job.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Failed);
    let error = done.error.unwrap();
    assert!(
        error.contains("invalid JSON") && error.ends_with("[invalid_file]"),
        "{error}"
    );
    assert_eq!(count_rows(&e.t, "site").await, 0);
    assert_eq!(count_rows(&e.t, "import_job_line").await, 0);
}

/// Runs `sql` with `$1`, `$2`… bound to `values` (written `?` on SQLite).
async fn exec(e: &Env, sql: &str, values: Vec<sea_orm::Value>) {
    let backend = e.t.db.get_database_backend();
    let sql = if backend == sea_orm::DatabaseBackend::Postgres {
        sql.to_owned()
    } else {
        (1..=values.len())
            .rev()
            .fold(sql.to_owned(), |s, n| s.replace(&format!("${n}"), "?"))
    };
    e.t.db
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap();
}

#[tokio::test]
async fn jobs_whose_process_stopped_are_failed_and_jobs_of_live_instances_are_left_alone() {
    let e = env().await;
    let admin = Actor::cli();
    feeds::create_feed(&e.t.db, &admin, new_feed("national"))
        .await
        .unwrap();
    let file = e.json("ok.json", &[v01("1", "Lyon", "69001", &[])]);
    let (_, finished) = jobs::create_job(&e.t.db, &admin, "national", "ok.json", &file)
        .await
        .unwrap();
    jobs::run_job(&e.t.db, &admin, finished.id).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (_, job) = jobs::create_job(&e.t.db, &admin, "national", "ok.json", &file)
            .await
            .unwrap();
        ids.push(job.id);
    }
    let [queued_now, queued_long_ago, live, dead, dead_unknown] = ids[..] else {
        unreachable!()
    };
    let now = chrono::Utc::now();
    let long_ago = now - chrono::Duration::hours(1);
    // Queued an hour ago: the instance that took the upload never started it.
    exec(
        &e,
        "UPDATE import_job SET created_at = $1 WHERE id = $2",
        vec![long_ago.into(), queued_long_ago.0.into()],
    )
    .await;
    // Running with a fresh heartbeat: another live instance imports it.
    // Running with a heartbeat older than the lease, or none: its process stopped.
    for (id, heartbeat) in [
        (live, Some(now)),
        (dead, Some(long_ago)),
        (dead_unknown, None),
    ] {
        exec(
            &e,
            "UPDATE import_job SET status = 'running', heartbeat_at = $1 WHERE id = $2",
            vec![heartbeat.into(), id.0.into()],
        )
        .await;
    }
    // Both running jobs had staged rows.
    for id in [live, dead] {
        exec(
            &e,
            "INSERT INTO site_import_stage (job_key, seq, payload, created_at) VALUES ($1, 0, '{}', $2)",
            vec![format!("job-{id}-1-0").into(), now.into()],
        )
        .await;
    }

    assert_eq!(jobs::fail_interrupted_jobs(&e.t.db).await.unwrap(), 3);
    for id in [queued_long_ago, dead, dead_unknown] {
        let job = jobs::get_job(&e.t.db, &admin, id).await.unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_deref(), Some(INTERRUPTED));
        assert!(job.finished_at.is_some());
    }
    for (id, status) in [
        (queued_now, JobStatus::Queued),
        (live, JobStatus::Running),
        (finished.id, JobStatus::Succeeded),
    ] {
        let job = jobs::get_job(&e.t.db, &admin, id).await.unwrap();
        assert_eq!(job.status, status, "job {id}");
    }
    // The dead job's staged rows are gone, the live one's stay.
    assert_eq!(count_rows(&e.t, "site_import_stage").await, 1);
    assert_eq!(jobs::fail_interrupted_jobs(&e.t.db).await.unwrap(), 0);
}
