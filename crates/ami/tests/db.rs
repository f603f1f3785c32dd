//! AMI services on a real database: SQLite in memory by default, a fresh PostgreSQL database per test when
//! `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use maillage_ami::{
    AmiError, ApplicationData, ApplicationFilter, ApplicationId, ApplicationOrder, BudgetLine,
    Campaign, CampaignPatch, CoFunding, ConsortiumMember, FixedClock, LocalDiskStorage,
    NewApplication, NewAttachment, NewCampaign, NewCriterion, Score, ScoreSheetInput, Status,
    add_attachment, attachments_of, campaign_by_code, create_application, create_campaign,
    declare_conflict, export_applications_csv, export_scores_csv, get_application,
    list_applications, list_attachments, list_score_sheets, paris_instant, read_attachment,
    reject_application, remove_attachment, request_changes, resubmit_application, score_summary,
    seed_reference_data, select_application, start_review, submit_application, submit_score_sheet,
    update_application, update_campaign, update_score_sheet, withdraw_application,
};
use maillage_core::pagination::PageRequest;
use maillage_core::{Actor, DepartmentCode, ErrorCode, RegionCode, Role, Siret};
use maillage_funding::{Money, NewEnvelope, create_envelope};
use maillage_migrations::{Migrator, MigratorTrait};
use maillage_testkit::TestDb;
use sea_orm::{ConnectionTrait, Statement};

fn admin() -> Actor {
    Actor::cli()
}

fn applicant(name: &str) -> Actor {
    Actor::with_role(Role::AmiApplicant, format!("token:1:{name}")).with_subject(name)
}

fn reviewer(name: &str) -> Actor {
    Actor::with_role(Role::BdtReviewer, format!("token:2:{name}")).with_subject(name)
}

fn dep(code: &str) -> DepartmentCode {
    DepartmentCode::parse(code).unwrap()
}

fn paris(raw: &str) -> DateTime<Utc> {
    paris_instant(raw).unwrap()
}

/// A moment when the seeded 2020–2021 campaign is open.
fn during() -> FixedClock {
    FixedClock(paris("2021-03-01 10:00:00"))
}

fn data() -> ApplicationData {
    ApplicationData {
        hub_name: "Hub Bretagne Numérique".to_owned(),
        carrier_name: "Association Breizh Médiation".to_owned(),
        carrier_siret: Siret::parse("44178435100013").unwrap(),
        carrier_legal_form: "association".to_owned(),
        consortium: vec![ConsortiumMember {
            name: "Région Bretagne".to_owned(),
            siret: None,
            role: Some("co-financeur".to_owned()),
        }],
        departments: vec![dep("35"), dep("29")],
        qpv: false,
        acv: false,
        action_programme: "Cartographier, former 200 médiateurs, animer le réseau.".to_owned(),
        budget: vec![
            BudgetLine {
                label: "Coordination (2 ETP)".to_owned(),
                amount: Money::euros(180_000),
            },
            BudgetLine {
                label: "Formation".to_owned(),
                amount: Money::euros(70_000),
            },
        ],
        amount_requested: Money::euros(200_000),
        co_funding: vec![CoFunding {
            funder: "Région Bretagne".to_owned(),
            amount: Money::euros(50_000),
            secured: true,
        }],
        governance: "Comité de pilotage trimestriel.".to_owned(),
    }
}

async fn env() -> TestDb {
    let t = TestDb::new().await;
    maillage_territories::seed_reference_data(&t.db)
        .await
        .unwrap();
    maillage_funding::seed_reference_data(&t.db).await.unwrap();
    seed_reference_data(&t.db).await.unwrap();
    t
}

async fn seeded(t: &TestDb) -> Campaign {
    campaign_by_code(&t.db, "AMI-HUBS-2020")
        .await
        .unwrap()
        .unwrap()
}

/// A campaign open around the test clock, on its own envelope of `envelope` euros.
async fn small_campaign(t: &TestDb, code: &str, envelope: i64) -> Campaign {
    create_envelope(
        &t.db,
        &admin(),
        NewEnvelope {
            parent_id: None,
            code: format!("ENV-{code}"),
            name: format!("Envelope {code}"),
            amount: Money::euros(envelope),
            source: None,
            target: None,
        },
    )
    .await
    .unwrap();
    create_campaign(
        &t.db,
        &admin(),
        NewCampaign {
            code: code.to_owned(),
            name: format!("Campaign {code}"),
            opens_at: paris("2021-01-01 00:00:00"),
            closes_at: paris("2021-06-30 23:59:59"),
            envelope_code: format!("ENV-{code}"),
            max_per_hub: Money::euros(250_000),
            qpv_bonus: Money::euros(50_000),
            acv_bonus: Money::euros(50_000),
            priority_regions: vec![RegionCode::parse("53").unwrap()],
            max_attachment_bytes: 1024,
            criteria: vec![
                NewCriterion {
                    code: "coverage".to_owned(),
                    label: "Couverture".to_owned(),
                    weight: 3,
                    max_score: 10,
                },
                NewCriterion {
                    code: "budget".to_owned(),
                    label: "Budget".to_owned(),
                    weight: 1,
                    max_score: 5,
                },
            ],
        },
    )
    .await
    .unwrap()
}

async fn count(t: &TestDb, table: &str) -> i64 {
    let row =
        t.db.query_one_raw(Statement::from_string(
            t.db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn draft(t: &TestDb, who: &Actor, campaign: &Campaign, d: ApplicationData) -> ApplicationId {
    create_application(
        &t.db,
        who,
        &during(),
        NewApplication {
            campaign_id: campaign.id,
            data: d,
        },
    )
    .await
    .unwrap()
    .id
}

/// A dossier of `who`, submitted and under review.
async fn under_review(
    t: &TestDb,
    who: &Actor,
    campaign: &Campaign,
    d: ApplicationData,
) -> ApplicationId {
    let id = draft(t, who, campaign, d).await;
    let a = submit_application(&t.db, who, &during(), id, 1)
        .await
        .unwrap();
    start_review(&t.db, &reviewer("rev-a"), &during(), id, a.version)
        .await
        .unwrap();
    id
}

fn sheet(scores: &[(&str, i32)], comment: &str) -> ScoreSheetInput {
    ScoreSheetInput {
        scores: scores
            .iter()
            .map(|(c, s)| Score {
                criterion: (*c).to_owned(),
                score: *s,
            })
            .collect(),
        comment: Some(comment.to_owned()),
    }
}

async fn version(t: &TestDb, id: ApplicationId) -> i32 {
    get_application(&t.db, &admin(), id).await.unwrap().version
}

#[tokio::test]
async fn seed_is_idempotent_and_matches_the_domain() {
    let t = env().await;
    let again = seed_reference_data(&t.db).await.unwrap();
    assert_eq!(again.campaigns, 0);
    assert_eq!(count(&t, "ami_campaign").await, 1);
    let c = seeded(&t).await;
    assert_eq!(c.envelope_code, "BDT-HUBS-AMI");
    assert_eq!(c.max_per_hub, Money::euros(250_000));
    assert_eq!(c.qpv_bonus, Money::euros(50_000));
    assert_eq!(c.acv_bonus, Money::euros(50_000));
    assert_eq!(
        c.opens_at,
        Utc.with_ymd_and_hms(2020, 11, 16, 23, 0, 0).unwrap()
    );
    // 30 June 2021 23:59:59 in Paris is summer time: 21:59:59 UTC.
    assert_eq!(
        c.closes_at,
        Utc.with_ymd_and_hms(2021, 6, 30, 21, 59, 59).unwrap()
    );
    let regions: Vec<&str> = c.priority_regions.iter().map(|r| r.as_str()).collect();
    assert_eq!(regions, ["24", "28", "44", "53"]);
    let grid: Vec<(&str, i32)> = c
        .criteria
        .iter()
        .map(|c| (c.code.as_str(), c.weight))
        .collect();
    assert_eq!(
        grid,
        [
            ("territorial_coverage", 30),
            ("partnership", 25),
            ("action_programme", 30),
            ("budget_realism", 15)
        ]
    );
    assert_eq!(c.max_attachment_bytes, 10 * 1024 * 1024);
}

#[tokio::test]
async fn the_deadline_is_enforced_at_the_second() {
    let t = env().await;
    let c = seeded(&t).await;
    let alice = applicant("alice");
    let on_time = draft(&t, &alice, &c, data()).await;
    let late = draft(&t, &alice, &c, data()).await;
    let last_second = FixedClock(paris("2021-06-30 23:59:59"));
    let next_day = FixedClock(paris("2021-07-01 00:00:00"));
    let a = submit_application(&t.db, &alice, &last_second, on_time, 1)
        .await
        .unwrap();
    assert_eq!(a.status, Status::Submitted);
    assert_eq!(a.submitted_at, Some(last_second.0));
    let err = submit_application(&t.db, &alice, &next_day, late, 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "campaign_closed", "{err}");
    assert!(
        err.to_string().contains("2021-06-30 23:59:59 CEST"),
        "{err}"
    );
    let still = get_application(&t.db, &alice, late).await.unwrap();
    assert_eq!((still.status, still.version), (Status::Draft, 1));
    // Creating a dossier after the closing is refused too.
    let err = create_application(
        &t.db,
        &alice,
        &next_day,
        NewApplication {
            campaign_id: c.id,
            data: data(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "campaign_closed");
}

#[tokio::test]
async fn the_amount_requested_is_capped_by_the_bonuses_that_apply() {
    let t = env().await;
    let c = seeded(&t).await;
    let alice = applicant("alice");
    let clock = during();
    let try_amount = |euros_cents: i64, qpv: bool, acv: bool| {
        let mut d = data();
        d.amount_requested = Money(euros_cents);
        d.qpv = qpv;
        d.acv = acv;
        create_application(
            &t.db,
            &alice,
            &clock,
            NewApplication {
                campaign_id: c.id,
                data: d,
            },
        )
    };
    assert!(try_amount(25_000_000, false, false).await.is_ok());
    let err = try_amount(25_000_001, false, false).await.unwrap_err();
    assert_eq!(err.code(), "amount_exceeds_cap");
    assert!(try_amount(30_000_000, true, false).await.is_ok());
    assert!(try_amount(30_000_000, false, true).await.is_ok());
    assert_eq!(
        try_amount(30_000_001, false, true)
            .await
            .unwrap_err()
            .code(),
        "amount_exceeds_cap"
    );
    assert!(try_amount(35_000_000, true, true).await.is_ok());
    assert_eq!(
        try_amount(35_000_001, true, true).await.unwrap_err().code(),
        "amount_exceeds_cap"
    );
}

#[tokio::test]
async fn invalid_input_is_refused_with_its_field() {
    let t = env().await;
    let c = seeded(&t).await;
    let alice = applicant("alice");
    let mut d = data();
    d.departments.push(dep("976"));
    d.departments.push(DepartmentCode::parse("974").unwrap());
    // Known departments are accepted; now an empty hub name.
    assert!(draft(&t, &alice, &c, d.clone()).await.0 > 0);
    d.hub_name = "  ".to_owned();
    let err = create_application(
        &t.db,
        &alice,
        &during(),
        NewApplication {
            campaign_id: c.id,
            data: d,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "invalid_value");
    assert_eq!(err.field().unwrap().to_string(), "input.hubName");
    // A draft may be incomplete, but it cannot be submitted.
    let mut d = data();
    d.budget.clear();
    let id = draft(&t, &alice, &c, d).await;
    let err = submit_application(&t.db, &alice, &during(), id, 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "incomplete_application");
    assert_eq!(err.field().unwrap().to_string(), "input.budget");
    // Only applicants open dossiers.
    let err = create_application(
        &t.db,
        &reviewer("rev"),
        &during(),
        NewApplication {
            campaign_id: c.id,
            data: data(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "forbidden");
}

#[tokio::test]
async fn only_the_applicant_edits_and_only_while_editable() {
    let t = env().await;
    let c = seeded(&t).await;
    let alice = applicant("alice");
    let id = draft(&t, &alice, &c, data()).await;
    let mut changed = data();
    changed.hub_name = "Hub Armor".to_owned();
    // Reviewers and admins never edit.
    for other in [reviewer("rev"), admin()] {
        let err = update_application(&t.db, &other, id, 1, changed.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(err.code().as_str(), "forbidden" | "not_found"),
            "{}",
            err.code()
        );
    }
    let a = update_application(&t.db, &alice, id, 1, changed.clone())
        .await
        .unwrap();
    assert_eq!((a.data.hub_name.as_str(), a.version), ("Hub Armor", 2));
    // A stale version is refused and changes nothing.
    let err = update_application(&t.db, &alice, id, 1, data())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "stale_version");
    let a = submit_application(&t.db, &alice, &during(), id, 2)
        .await
        .unwrap();
    let err = update_application(&t.db, &alice, id, a.version, data())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_editable");
    // Changes requested: editable again, then resubmitted (after the deadline: not bound to it).
    let later = FixedClock(paris("2021-09-01 10:00:00"));
    let a = request_changes(
        &t.db,
        &reviewer("rev"),
        &later,
        id,
        a.version,
        "Précisez le budget.",
    )
    .await
    .unwrap();
    assert_eq!(a.status, Status::ChangesRequested);
    let seen = get_application(&t.db, &alice, id).await.unwrap();
    assert_eq!(
        seen.changes_requested.as_deref(),
        Some("Précisez le budget.")
    );
    let a = update_application(&t.db, &alice, id, a.version, data())
        .await
        .unwrap();
    let a = resubmit_application(&t.db, &alice, &later, id, a.version)
        .await
        .unwrap();
    assert_eq!(a.status, Status::Resubmitted);
    // The applicant cannot review or decide its own dossier.
    let err = start_review(&t.db, &alice, &later, id, a.version)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let a = withdraw_application(&t.db, &alice, &later, id, a.version)
        .await
        .unwrap();
    assert_eq!(a.status, Status::Withdrawn);
    let err = start_review(&t.db, &reviewer("rev"), &later, id, a.version)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_transition");
    // Every transition is in the audit trail, with the event as its action.
    let backend = t.db.get_database_backend();
    let rows = t
        .db
        .query_all_raw(Statement::from_string(
            backend,
            format!(
                "SELECT action FROM audit_log WHERE entity_type = 'ami_application' AND entity_id = '{id}' ORDER BY id"
            ),
        ))
        .await
        .unwrap();
    let actions: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "action").unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "create",
            "update",
            "submit",
            "request_changes",
            "update",
            "resubmit",
            "withdraw"
        ]
    );
}

#[tokio::test]
async fn an_application_end_to_end_creates_one_hub_and_one_grant() {
    let t = env().await;
    let c = seeded(&t).await;
    let alice = applicant("alice");
    let id = under_review(&t, &alice, &c, data()).await;
    let (r1, r2) = (reviewer("rev-a"), reviewer("rev-b"));
    let all = |s: i32| {
        sheet(
            &[
                ("territorial_coverage", s),
                ("partnership", s),
                ("action_programme", s),
                ("budget_realism", s),
            ],
            "ok",
        )
    };
    let s1 = submit_score_sheet(&t.db, &r1, id, all(8)).await.unwrap();
    assert!((s1.weighted - 80.0).abs() < 1e-9);
    // Weighted: coverage 30×10/10 + partnership 25×4/10 + programme 30×6/10 + budget 15×2/10 = 61 of 100.
    let s2 = submit_score_sheet(
        &t.db,
        &r2,
        id,
        sheet(
            &[
                ("territorial_coverage", 10),
                ("partnership", 4),
                ("action_programme", 6),
                ("budget_realism", 2),
            ],
            "budget fragile",
        ),
    )
    .await
    .unwrap();
    assert!((s2.weighted - 61.0).abs() < 1e-9, "{}", s2.weighted);
    let summary = score_summary(&t.db, &r1, id).await.unwrap().unwrap();
    assert_eq!(summary.reviews, 2);
    assert!((summary.weighted_mean.unwrap() - 70.5).abs() < 1e-9);
    assert!((summary.spread.unwrap() - 19.0).abs() < 1e-9);
    let hubs_before = count(&t, "hub").await;
    let grants_before = count(&t, "funding_grant").await;
    let v = version(&t, id).await;
    let a = select_application(
        &t.db,
        &r1,
        &during(),
        id,
        v,
        Money::euros(180_000),
        Some("Couverture de la Bretagne"),
    )
    .await
    .unwrap();
    assert_eq!(a.status, Status::Selected);
    let decision = a.decision.clone().unwrap();
    assert_eq!(decision.awarded, Some(Money::euros(180_000)));
    assert_eq!(count(&t, "hub").await, hubs_before + 1);
    assert_eq!(count(&t, "funding_grant").await, grants_before + 1);
    let hub = decision.hub.unwrap();
    let hubs = maillage_territories::hubs_by_ids(&t.db, &[hub])
        .await
        .unwrap();
    assert_eq!(hubs[0].name, "Hub Bretagne Numérique");
    assert_eq!(hubs[0].slug, format!("ami-{id}-hub-bretagne-numerique"));
    let mut deps: Vec<String> = maillage_territories::departments_of_hubs(&t.db, &[hub])
        .await
        .unwrap()
        .into_iter()
        .map(|(_, d)| d.code.as_str().to_owned())
        .collect();
    deps.sort();
    assert_eq!(deps, ["29", "35"]);
    let grant = maillage_funding::get_grant(&t.db, decision.grant_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grant.amount, Money::euros(180_000));
    assert_eq!(grant.status, maillage_funding::GrantStatus::Signed);
    assert_eq!(grant.envelope_id, c.envelope_id);
    assert_eq!(grant.hub, Some(hub));
    // A decided dossier stays decided: no second selection, no second hub.
    let err = select_application(&t.db, &r1, &during(), id, a.version, Money::euros(1), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_transition");
    assert_eq!(count(&t, "hub").await, hubs_before + 1);
    // Scores can no longer change.
    let err = update_score_sheet(&t.db, &r1, s1.id, s1.version, all(1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_scorable");
    // The applicant sees the decision and, now, the summary.
    let seen = get_application(&t.db, &alice, id).await.unwrap();
    assert_eq!(
        seen.decision.unwrap().reason.as_deref(),
        Some("Couverture de la Bretagne")
    );
    let summary = score_summary(&t.db, &alice, id).await.unwrap().unwrap();
    assert_eq!(summary.reviews, 2);
    // The laureate's account, and only it, has one invitation to coordinate the new hub; accepting it once gives
    // a coordinator token of that hub, whose secret works; the invitation itself never authenticates.
    assert!(
        maillage_access::pending_invitations(&t.db, &applicant("bob"))
            .await
            .unwrap()
            .is_empty()
    );
    let invitations = maillage_access::pending_invitations(&t.db, &alice)
        .await
        .unwrap();
    assert_eq!(invitations.len(), 1);
    assert_eq!(invitations[0].hub, Some(hub));
    assert_eq!(invitations[0].role, Role::HubCoordinator);
    let err = maillage_access::accept_invitation(&t.db, &applicant("bob"), invitations[0].id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let (token, secret) = maillage_access::accept_invitation(&t.db, &alice, invitations[0].id)
        .await
        .unwrap();
    assert_eq!((token.role, token.hub), (Role::HubCoordinator, Some(hub)));
    let authenticated = maillage_access::authenticate_token(&t.db, &secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(authenticated.id, token.id);
    let again = maillage_access::accept_invitation(&t.db, &alice, invitations[0].id)
        .await
        .unwrap_err();
    assert_eq!(again.code(), "not_found");
    assert!(
        maillage_access::pending_invitations(&t.db, &alice)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn selecting_when_the_envelope_is_full_writes_nothing() {
    let t = env().await;
    let c = small_campaign(&t, "TINY", 300_000).await;
    let alice = applicant("alice");
    let bob = applicant("bob");
    let first = under_review(&t, &alice, &c, data()).await;
    let second = under_review(&t, &bob, &c, data()).await;
    let rev = reviewer("rev-a");
    let v = version(&t, first).await;
    select_application(
        &t.db,
        &rev,
        &during(),
        first,
        v,
        Money::euros(200_000),
        None,
    )
    .await
    .unwrap();
    let before = (
        count(&t, "hub").await,
        count(&t, "hub_department").await,
        count(&t, "funding_grant").await,
        count(&t, "audit_log").await,
        count(&t, "api_token").await,
    );
    let v = version(&t, second).await;
    let err = select_application(
        &t.db,
        &rev,
        &during(),
        second,
        v,
        Money::euros(100_001),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "envelope_exceeded", "{err}");
    assert!(matches!(err, AmiError::EnvelopeExceeded { .. }));
    let after = (
        count(&t, "hub").await,
        count(&t, "hub_department").await,
        count(&t, "funding_grant").await,
        count(&t, "audit_log").await,
        count(&t, "api_token").await,
    );
    assert_eq!(before, after);
    let still = get_application(&t.db, &rev, second).await.unwrap();
    assert_eq!(
        (still.status, still.version, still.decision),
        (Status::UnderReview, v, None)
    );
    // Exactly the room left still fits.
    let a = select_application(
        &t.db,
        &rev,
        &during(),
        second,
        v,
        Money::euros(100_000),
        None,
    )
    .await
    .unwrap();
    assert_eq!(a.status, Status::Selected);
}

#[tokio::test]
async fn concurrent_decisions_do_not_over_commit() {
    let t = env().await;
    let c = small_campaign(&t, "RACE", 250_000).await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c", "d"] {
        ids.push(under_review(&t, &applicant(name), &c, data()).await);
    }
    let rev = reviewer("rev-a");
    let mut versions = Vec::new();
    for id in &ids {
        versions.push(version(&t, *id).await);
    }
    let results =
        futures::future::join_all(ids.iter().zip(&versions).map(|(id, v)| {
            let db = t.db.clone();
            let rev = rev.clone();
            let (id, v) = (*id, *v);
            async move {
                select_application(&db, &rev, &during(), id, v, Money::euros(200_000), None).await
            }
        }))
        .await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), "envelope_exceeded");
    }
    assert_eq!(
        maillage_funding::consumption(&t.db, c.envelope_id)
            .await
            .unwrap()
            .committed,
        Money::euros(200_000)
    );
}

#[tokio::test]
async fn reject_records_a_reason_the_applicant_reads() {
    let t = env().await;
    let c = seeded(&t).await;
    let alice = applicant("alice");
    let id = under_review(&t, &alice, &c, data()).await;
    let v = version(&t, id).await;
    let err = reject_application(&t.db, &reviewer("rev"), &during(), id, v, "  ")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_value");
    let err = reject_application(&t.db, &alice, &during(), id, v, "non")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    reject_application(
        &t.db,
        &reviewer("rev"),
        &during(),
        id,
        v,
        "Périmètre déjà couvert.",
    )
    .await
    .unwrap();
    let seen = get_application(&t.db, &alice, id).await.unwrap();
    assert_eq!(seen.status, Status::Rejected);
    let d = seen.decision.unwrap();
    assert_eq!(d.reason.as_deref(), Some("Périmètre déjà couvert."));
    assert_eq!((d.hub, d.grant_id, d.awarded), (None, None, None));
}

#[tokio::test]
async fn applicants_see_only_their_dossiers_and_no_score_before_the_decision() {
    let t = env().await;
    let c = seeded(&t).await;
    let (alice, bob) = (applicant("alice"), applicant("bob"));
    let a_id = under_review(&t, &alice, &c, data()).await;
    let b_draft = draft(&t, &bob, &c, data()).await;
    submit_score_sheet(
        &t.db,
        &reviewer("rev-a"),
        a_id,
        sheet(
            &[
                ("territorial_coverage", 5),
                ("partnership", 5),
                ("action_programme", 5),
                ("budget_realism", 5),
            ],
            "",
        ),
    )
    .await
    .unwrap();
    // Another applicant's dossier does not exist for bob.
    let err = get_application(&t.db, &bob, a_id).await.unwrap_err();
    assert_eq!(err.code(), "not_found");
    let page = list_applications(
        &t.db,
        &bob,
        &ApplicationFilter::default(),
        ApplicationOrder::ScoreDesc,
        &PageRequest::new(None, None).unwrap().with_total(true),
    )
    .await
    .unwrap();
    let ids: Vec<ApplicationId> = page.items.iter().map(|(_, i)| i.application.id).collect();
    assert_eq!(ids, [b_draft]);
    assert_eq!(page.total_count, Some(1));
    // A rotated token with the same name keeps its dossiers.
    let rotated = Actor::with_role(Role::AmiApplicant, "token:77:bob").with_subject("bob");
    assert!(get_application(&t.db, &rotated, b_draft).await.is_ok());
    // Alice sees her dossier but no score while undecided.
    assert_eq!(score_summary(&t.db, &alice, a_id).await.unwrap(), None);
    let page = list_applications(
        &t.db,
        &alice,
        &ApplicationFilter::default(),
        ApplicationOrder::ScoreDesc,
        &PageRequest::new(None, None).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].1.score, None);
    let err = list_score_sheets(&t.db, &alice, a_id).await.unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let err = export_scores_csv(&t.db, &alice, &ApplicationFilter::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    // Reviewers do not see drafts; partners and anonymous callers see nothing.
    let err = get_application(&t.db, &reviewer("rev-a"), b_draft)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    for nobody in [Actor::anonymous(), Actor::with_role(Role::Partner, "app")] {
        let err = get_application(&t.db, &nobody, a_id).await.unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let err = list_applications(
            &t.db,
            &nobody,
            &ApplicationFilter::default(),
            ApplicationOrder::Id,
            &PageRequest::new(None, None).unwrap(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "forbidden");
    }
    // The admin sees the draft.
    assert!(get_application(&t.db, &admin(), b_draft).await.is_ok());
}

#[tokio::test]
async fn one_score_sheet_per_reviewer_within_the_grid_and_no_conflict() {
    let t = env().await;
    let c = small_campaign(&t, "GRID", 1_000_000).await;
    let alice = applicant("alice");
    let id = draft(&t, &alice, &c, data()).await;
    let rev = reviewer("rev-a");
    // Not scorable before the review starts.
    let err = submit_score_sheet(
        &t.db,
        &rev,
        id,
        sheet(&[("coverage", 5), ("budget", 5)], ""),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "not_found"); // a draft is invisible to reviewers
    let a = submit_application(&t.db, &alice, &during(), id, 1)
        .await
        .unwrap();
    let err = submit_score_sheet(
        &t.db,
        &rev,
        id,
        sheet(&[("coverage", 5), ("budget", 5)], ""),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "not_scorable");
    start_review(&t.db, &rev, &during(), id, a.version)
        .await
        .unwrap();
    for (bad, field) in [
        (
            sheet(&[("coverage", 11), ("budget", 5)], ""),
            "input.scores[0].score",
        ),
        (
            sheet(&[("coverage", 5), ("budget", 6)], ""),
            "input.scores[1].score",
        ),
        (
            sheet(&[("coverage", -1), ("budget", 5)], ""),
            "input.scores[0].score",
        ),
        (sheet(&[("coverage", 5)], ""), "input.scores"),
        (
            sheet(&[("coverage", 5), ("nope", 1)], ""),
            "input.scores[1].criterion",
        ),
        (
            sheet(&[("coverage", 5), ("coverage", 1)], ""),
            "input.scores[1].criterion",
        ),
    ] {
        let err = submit_score_sheet(&t.db, &rev, id, bad).await.unwrap_err();
        assert_eq!(err.field().unwrap().to_string(), field, "{err}");
    }
    // Weighted: (3 × 10/10 + 1 × 0/5) / 4 = 75.
    let s = submit_score_sheet(
        &t.db,
        &rev,
        id,
        sheet(&[("budget", 0), ("coverage", 10)], "bien"),
    )
    .await
    .unwrap();
    assert!((s.weighted - 75.0).abs() < 1e-9);
    let codes: Vec<&str> = s.scores.iter().map(|s| s.criterion.as_str()).collect();
    assert_eq!(codes, ["coverage", "budget"]);
    let err = submit_score_sheet(
        &t.db,
        &rev,
        id,
        sheet(&[("coverage", 1), ("budget", 1)], ""),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "already_reviewed");
    assert_eq!(count(&t, "ami_score_sheet").await, 1);
    // Its reviewer updates it (with its version); another reviewer may not.
    let err = update_score_sheet(
        &t.db,
        &reviewer("rev-b"),
        s.id,
        s.version,
        sheet(&[("coverage", 0), ("budget", 0)], ""),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let s2 = update_score_sheet(
        &t.db,
        &rev,
        s.id,
        s.version,
        sheet(&[("coverage", 5), ("budget", 5)], "revu"),
    )
    .await
    .unwrap();
    assert!((s2.weighted - 62.5).abs() < 1e-9);
    let err = update_score_sheet(
        &t.db,
        &rev,
        s.id,
        s.version,
        sheet(&[("coverage", 5), ("budget", 5)], ""),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "stale_version");
    // A declared conflict forbids scoring, and takes an earlier sheet out of the summary.
    let rev_b = reviewer("rev-b");
    declare_conflict(&t.db, &rev_b, id, Some("ancien administrateur"))
        .await
        .unwrap();
    let err = submit_score_sheet(
        &t.db,
        &rev_b,
        id,
        sheet(&[("coverage", 1), ("budget", 1)], ""),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "conflict_of_interest");
    // Nor decide it.
    let v = version(&t, id).await;
    let err = reject_application(&t.db, &rev_b, &during(), id, v, "non")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "conflict_of_interest");
    declare_conflict(&t.db, &rev, id, None).await.unwrap();
    let summary = score_summary(&t.db, &rev, id).await.unwrap().unwrap();
    assert_eq!((summary.reviews, summary.weighted_mean), (0, None));
    assert_eq!(list_score_sheets(&t.db, &rev, id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn lists_filter_and_sort_by_score_and_export_csv() {
    let t = env().await;
    let c = small_campaign(&t, "LIST", 1_000_000).await;
    let rev = reviewer("rev-a");
    let mut ids = Vec::new();
    for (name, deps, qpv, score) in [
        ("a", vec!["35"], false, 2),
        ("b", vec!["69"], true, 9),
        ("c", vec!["29", "56"], false, 5),
    ] {
        let mut d = data();
        d.departments = deps.into_iter().map(dep).collect();
        d.qpv = qpv;
        let id = under_review(&t, &applicant(name), &c, d).await;
        submit_score_sheet(
            &t.db,
            &rev,
            id,
            sheet(&[("coverage", score), ("budget", 5)], "x"),
        )
        .await
        .unwrap();
        ids.push(id);
    }
    let unscored = under_review(&t, &applicant("d"), &c, data()).await;
    let list = |filter: ApplicationFilter, order, first: Option<i32>, after: Option<String>| {
        let db = t.db.clone();
        let rev = rev.clone();
        async move {
            list_applications(
                &db,
                &rev,
                &filter,
                order,
                &PageRequest::new(first, after.as_deref()).unwrap(),
            )
            .await
            .unwrap()
        }
    };
    let page = list(
        ApplicationFilter::default(),
        ApplicationOrder::ScoreDesc,
        None,
        None,
    )
    .await;
    let got: Vec<ApplicationId> = page.items.iter().map(|(_, i)| i.application.id).collect();
    assert_eq!(got, [ids[1], ids[2], ids[0], unscored]);
    // Keyset pages follow the same order.
    let p1 = list(
        ApplicationFilter::default(),
        ApplicationOrder::ScoreAsc,
        Some(2),
        None,
    )
    .await;
    assert!(p1.has_next_page);
    let after = p1.items.last().unwrap().0.as_str().to_owned();
    let p2 = list(
        ApplicationFilter::default(),
        ApplicationOrder::ScoreAsc,
        Some(2),
        Some(after),
    )
    .await;
    let got: Vec<ApplicationId> = p1
        .items
        .iter()
        .chain(&p2.items)
        .map(|(_, i)| i.application.id)
        .collect();
    assert_eq!(got, [ids[0], ids[2], ids[1], unscored]);
    assert!(!p2.has_next_page);
    // Filters: region Bretagne (53) covers 35, 29, 56.
    let bretagne = ApplicationFilter {
        regions: Some(vec![RegionCode::parse("53").unwrap()]),
        ..ApplicationFilter::default()
    };
    let got: Vec<ApplicationId> = list(bretagne, ApplicationOrder::Id, None, None)
        .await
        .items
        .iter()
        .map(|(_, i)| i.application.id)
        .collect();
    assert_eq!(got, [ids[0], ids[2], unscored]);
    let qpv = ApplicationFilter {
        qpv: Some(true),
        departments: Some(vec![dep("69")]),
        ..ApplicationFilter::default()
    };
    let got: Vec<ApplicationId> = list(qpv, ApplicationOrder::Id, None, None)
        .await
        .items
        .iter()
        .map(|(_, i)| i.application.id)
        .collect();
    assert_eq!(got, [ids[1]]);
    let statuses = ApplicationFilter {
        statuses: Some(vec![Status::Selected]),
        ..ApplicationFilter::default()
    };
    assert!(
        list(statuses, ApplicationOrder::Id, None, None)
            .await
            .items
            .is_empty()
    );
    // CSV exports.
    let csv = export_applications_csv(&t.db, &rev, &ApplicationFilter::default())
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[0].starts_with("id,campaign,status,hub_name,"));
    assert!(lines[2].contains(",LIST,under_review,"), "{}", lines[2]);
    assert!(
        lines[2].contains(",69,84,true,false,200000.00,250000.00,50000.00,"),
        "{}",
        lines[2]
    );
    let scores = export_scores_csv(&t.db, &rev, &ApplicationFilter::default())
        .await
        .unwrap();
    assert_eq!(scores.lines().count(), 1 + 3 * 2, "{scores}");
    assert!(
        scores
            .lines()
            .any(|l| l.ends_with(",rev-a,coverage,3,10,9,92.50,x")),
        "{scores}"
    );
}

#[tokio::test]
async fn attachments_are_pdfs_of_limited_size_added_by_the_applicant_while_editable() {
    let t = env().await;
    let c = small_campaign(&t, "FILES", 1_000_000).await;
    let dir = tempfile::tempdir().unwrap();
    let storage = LocalDiskStorage::new(dir.path());
    let alice = applicant("alice");
    let id = draft(&t, &alice, &c, data()).await;
    let pdf = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n".to_vec();
    let up = |name: &'static str, bytes: &'static [u8]| NewAttachment {
        file_name: name,
        bytes,
    };
    let pdf_static: &'static [u8] = Box::leak(pdf.clone().into_boxed_slice());
    let att = add_attachment(
        &t.db,
        &storage,
        &alice,
        id,
        up("../../etc/budget.pdf", pdf_static),
    )
    .await
    .unwrap();
    assert_eq!(att.file_name, "budget.pdf");
    assert_eq!(att.size_bytes, pdf.len() as i64);
    assert_eq!(att.sha256.len(), 64);
    assert_eq!(att.content_type, "application/pdf");
    for (bytes, code) in [
        (&b"GIF89a not a pdf"[..], "not_pdf"),
        (&b""[..], "empty_file"),
        (
            Box::leak(vec![b'%'; 2000].into_boxed_slice()) as &[u8],
            "too_large",
        ),
    ] {
        let err = add_attachment(&t.db, &storage, &alice, id, up("x.pdf", bytes))
            .await
            .unwrap_err();
        assert_eq!(err.code(), code);
    }
    let mut too_big = b"%PDF-".to_vec();
    too_big.resize(1025, b'x');
    let err = add_attachment(
        &t.db,
        &storage,
        &alice,
        id,
        up("big.pdf", Box::leak(too_big.into_boxed_slice())),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "too_large");
    assert_eq!(count(&t, "ami_attachment").await, 1);
    // In batch: the caller's visible dossiers only, empty lists included.
    let bob_draft = draft(&t, &applicant("bob"), &c, data()).await;
    let batch = attachments_of(&t.db, &alice, &[id, bob_draft])
        .await
        .unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(
        batch[&id].iter().map(|a| a.id).collect::<Vec<_>>(),
        [att.id]
    );
    let batch = attachments_of(&t.db, &admin(), &[id, bob_draft])
        .await
        .unwrap();
    assert_eq!((batch[&id].len(), batch[&bob_draft].len()), (1, 0));
    assert!(
        attachments_of(&t.db, &reviewer("rev"), &[id, bob_draft])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        attachments_of(&t.db, &Actor::anonymous(), &[id])
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    // Someone else cannot attach, nor read.
    let bob = applicant("bob");
    let err = add_attachment(&t.db, &storage, &bob, id, up("x.pdf", pdf_static))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let err = read_attachment(&t.db, &storage, &bob, att.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let a = submit_application(&t.db, &alice, &during(), id, 1)
        .await
        .unwrap();
    // Reviewers read once submitted; the applicant may no longer add or remove.
    let (meta, bytes) = read_attachment(&t.db, &storage, &reviewer("rev"), att.id)
        .await
        .unwrap();
    assert_eq!((meta.id, bytes), (att.id, pdf.clone()));
    let err = add_attachment(&t.db, &storage, &alice, id, up("late.pdf", pdf_static))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_editable");
    let err = remove_attachment(&t.db, &storage, &alice, att.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_editable");
    // Back to editable: removal deletes the row and the file.
    let a = request_changes(
        &t.db,
        &reviewer("rev"),
        &during(),
        id,
        a.version,
        "Ajoutez le budget signé.",
    )
    .await
    .unwrap();
    assert_eq!(a.status, Status::ChangesRequested);
    remove_attachment(&t.db, &storage, &alice, att.id)
        .await
        .unwrap();
    assert!(
        list_attachments(&t.db, &alice, id)
            .await
            .unwrap()
            .is_empty()
    );
    let files = walk(dir.path());
    assert!(files.is_empty(), "{files:?}");
    // At most 20 attachments per dossier; the refused one leaves no file behind.
    for i in 0..20 {
        let name: &'static str = Box::leak(format!("piece-{i}.pdf").into_boxed_str());
        add_attachment(&t.db, &storage, &alice, id, up(name, pdf_static))
            .await
            .unwrap();
    }
    let err = add_attachment(&t.db, &storage, &alice, id, up("one-more.pdf", pdf_static))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "too_many_attachments");
    assert_eq!(walk(dir.path()).len(), 20);
    assert_eq!(
        list_attachments(&t.db, &reviewer("rev"), id)
            .await
            .unwrap()
            .len(),
        20
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn the_migration_rolls_back_and_forward() {
    let t = env().await;
    // Down to (and including) the AMI migration, whatever migrations came after it.
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let ami = names
        .iter()
        .position(|n| n == "m20261129_000007_ami")
        .unwrap();
    Migrator::down(&t.db, Some((names.len() - ami) as u32))
        .await
        .unwrap();
    let backend = t.db.get_database_backend();
    let gone =
        t.db.query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM ami_campaign",
        ))
        .await;
    assert!(gone.is_err());
    Migrator::up(&t.db, None).await.unwrap();
    seed_reference_data(&t.db).await.unwrap();
    assert_eq!(count(&t, "ami_campaign").await, 1);
}

#[tokio::test]
async fn campaigns_are_created_by_admins_only_and_checked() {
    let t = env().await;
    let new = NewCampaign {
        code: "AMI-2022".to_owned(),
        name: "AMI 2022".to_owned(),
        opens_at: paris("2022-01-01 00:00:00"),
        closes_at: paris("2022-06-30 23:59:59"),
        envelope_code: "BDT-HUBS-AMI".to_owned(),
        max_per_hub: Money::euros(100_000),
        qpv_bonus: Money::ZERO,
        acv_bonus: Money::ZERO,
        priority_regions: vec![],
        max_attachment_bytes: 1_000_000,
        criteria: vec![NewCriterion {
            code: "all".to_owned(),
            label: "Tout".to_owned(),
            weight: 1,
            max_score: 5,
        }],
    };
    let err = create_campaign(&t.db, &reviewer("rev"), new.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let mut bad = new.clone();
    bad.closes_at = bad.opens_at - Duration::seconds(1);
    assert_eq!(
        create_campaign(&t.db, &admin(), bad)
            .await
            .unwrap_err()
            .code(),
        "invalid_value"
    );
    let mut bad = new.clone();
    bad.envelope_code = "NOPE".to_owned();
    assert_eq!(
        create_campaign(&t.db, &admin(), bad)
            .await
            .unwrap_err()
            .code(),
        "unknown_value"
    );
    let c = create_campaign(&t.db, &admin(), new.clone()).await.unwrap();
    assert_eq!(c.criteria.len(), 1);
    // Updates: admins only, versioned, checked like a new campaign, audited.
    let patch = CampaignPatch {
        closes_at: Some(paris("2022-07-15 23:59:59")),
        priority_regions: Some(vec![RegionCode::parse("28").unwrap()]),
        ..CampaignPatch::default()
    };
    let err = update_campaign(&t.db, &reviewer("rev"), c.id, 1, patch.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let u = update_campaign(&t.db, &admin(), c.id, 1, patch.clone())
        .await
        .unwrap();
    assert_eq!(u.version, 2);
    assert_eq!(u.closes_at, paris("2022-07-15 23:59:59"));
    assert_eq!(u.priority_regions, [RegionCode::parse("28").unwrap()]);
    assert_eq!(u.criteria, c.criteria);
    let err = update_campaign(&t.db, &admin(), c.id, 1, patch)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "stale_version");
    let err = update_campaign(
        &t.db,
        &admin(),
        c.id,
        2,
        CampaignPatch {
            opens_at: Some(paris("2023-01-01 00:00:00")),
            ..CampaignPatch::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "invalid_value");
    let err = update_campaign(
        &t.db,
        &admin(),
        c.id,
        2,
        CampaignPatch {
            priority_regions: Some(vec![RegionCode::parse("99").unwrap()]),
            ..CampaignPatch::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "unknown_value");
    assert_eq!(
        create_campaign(&t.db, &admin(), new)
            .await
            .unwrap_err()
            .code(),
        "already_exists"
    );
}

#[tokio::test]
async fn refused_decisions_write_nothing() {
    let t = env().await;
    let c = seeded(&t).await;
    let alice = applicant("alice");
    let id = draft(&t, &alice, &c, data()).await;
    let a = submit_application(&t.db, &alice, &during(), id, 1)
        .await
        .unwrap();
    let rev = reviewer("rev-a");
    let before = (
        count(&t, "hub").await,
        count(&t, "funding_grant").await,
        count(&t, "audit_log").await,
    );
    // Not under review yet.
    let err = select_application(&t.db, &rev, &during(), id, a.version, Money::euros(1), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_transition");
    let a = start_review(&t.db, &rev, &during(), id, a.version)
        .await
        .unwrap();
    let audit_after_review = count(&t, "audit_log").await;
    assert_eq!(audit_after_review, before.2 + 1);
    for (who, amount, code) in [
        (alice.clone(), Money::euros(100_000), "forbidden"),
        (rev.clone(), Money::ZERO, "invalid_value"),
        (rev.clone(), Money::euros(200_001), "invalid_value"),
    ] {
        let err = select_application(&t.db, &who, &during(), id, a.version, amount, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{err}");
    }
    let err = select_application(
        &t.db,
        &rev,
        &during(),
        id,
        a.version - 1,
        Money::euros(1),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "stale_version");
    assert_eq!(
        (
            count(&t, "hub").await,
            count(&t, "funding_grant").await,
            count(&t, "audit_log").await
        ),
        (before.0, before.1, audit_after_review)
    );
    let still = get_application(&t.db, &rev, id).await.unwrap();
    assert_eq!(
        (still.status, still.version),
        (Status::UnderReview, a.version)
    );
}

#[tokio::test]
async fn racing_writers_are_decided_by_the_database() {
    let t = env().await;
    let c = seeded(&t).await;
    let alice = applicant("alice");
    let id = draft(&t, &alice, &c, data()).await;
    // Two edits from the same version: exactly one wins, the other is stale.
    let results = futures::future::join_all((0..2).map(|i| {
        let db = t.db.clone();
        let alice = alice.clone();
        let mut d = data();
        d.hub_name = format!("Hub {i}");
        async move { update_application(&db, &alice, id, 1, d).await }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), "stale_version");
    }
    assert_eq!(version(&t, id).await, 2);
    // Two sheets from the same reviewer at once: the unique constraint keeps one.
    let a = submit_application(&t.db, &alice, &during(), id, 2)
        .await
        .unwrap();
    let rev = reviewer("rev-a");
    start_review(&t.db, &rev, &during(), id, a.version)
        .await
        .unwrap();
    let results = futures::future::join_all((0..3).map(|i| {
        let db = t.db.clone();
        let rev = rev.clone();
        async move {
            submit_score_sheet(
                &db,
                &rev,
                id,
                sheet(
                    &[
                        ("territorial_coverage", i),
                        ("partnership", i),
                        ("action_programme", i),
                        ("budget_realism", i),
                    ],
                    "",
                ),
            )
            .await
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), "already_reviewed");
    }
    assert_eq!(count(&t, "ami_score_sheet").await, 1);
    assert_eq!(count(&t, "ami_score").await, 4);
}

/// An applicant's text reaches reviewers' spreadsheets: a formula in it comes out as text in both exports.
#[tokio::test]
async fn exports_neutralise_formulas_in_applicants_and_reviewers_text() {
    let t = env().await;
    let c = small_campaign(&t, "FORMULA", 1_000_000).await;
    let rev = reviewer("rev-f");
    let mut d = data();
    d.hub_name = "=HYPERLINK(\"x\")".to_owned();
    let id = under_review(&t, &applicant("mallory"), &c, d).await;
    submit_score_sheet(
        &t.db,
        &rev,
        id,
        sheet(&[("coverage", 5), ("budget", 5)], "@SUM(A1:A9)"),
    )
    .await
    .unwrap();
    let read = |csv: &str| -> Vec<csv::StringRecord> {
        csv::Reader::from_reader(csv.as_bytes())
            .records()
            .map(Result::unwrap)
            .collect()
    };
    let csv = export_applications_csv(&t.db, &rev, &ApplicationFilter::default())
        .await
        .unwrap();
    let rows = read(&csv);
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!(&rows[0][3], "'=HYPERLINK(\"x\")", "{csv}");
    let scores = export_scores_csv(&t.db, &rev, &ApplicationFilter::default())
        .await
        .unwrap();
    let rows = read(&scores);
    assert!(
        rows.iter().all(|r| &r[1] == "'=HYPERLINK(\"x\")"),
        "{scores}"
    );
    assert!(rows.iter().all(|r| &r[9] == "'@SUM(A1:A9)"), "{scores}");
}
