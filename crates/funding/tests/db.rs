//! Funding services on a real database: SQLite in memory by default, a fresh PostgreSQL database per test when
//! `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::NaiveDate;
use maillage_core::actor::HubScope;
use maillage_core::pagination::PageRequest;
use maillage_core::{Actor, DepartmentCode, ErrorCode, HubId, Role, SiteId};
use maillage_funding::{
    BeneficiaryKind, DrillDown, EnvelopePatch, FundingError, GrantFilter, GrantStatus, HostKind,
    Money, NewDisbursement, NewEnvelope, NewGrant, NewRule, PassProgrammeData, applicable_rule,
    cancel_grant, close_grant, consumption, consumption_of_all, create_envelope, create_grant,
    create_pass_programme, create_rule, drill_down, envelope_by_code, grant_quote,
    list_disbursements, list_envelopes, list_grants, list_rules, record_disbursement,
    seed_reference_data, sign_grant, update_envelope, update_pass_programme, update_rule,
};
use maillage_testkit::TestDb;
use std::collections::{BTreeMap, HashMap};

fn admin() -> Actor {
    Actor::cli()
}

fn bdt() -> Actor {
    Actor::with_role(Role::BdtReviewer, "bdt")
}

fn dep(code: &str) -> DepartmentCode {
    DepartmentCode::parse(code).unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A fresh database with territories and funding reference data.
async fn env() -> TestDb {
    let t = TestDb::new().await;
    maillage_territories::seed_reference_data(&t.db)
        .await
        .unwrap();
    seed_reference_data(&t.db).await.unwrap();
    t
}

fn grant(envelope_id: i32, amount: Money, department: Option<&str>) -> NewGrant {
    NewGrant {
        envelope_id,
        beneficiary_kind: BeneficiaryKind::HostStructure,
        beneficiary_ref: "siret:12345678900011".to_owned(),
        beneficiary_name: "Association du numérique".to_owned(),
        contact: Some("Camille Martin, camille@example.org".to_owned()),
        hub: None,
        department: department.map(dep),
        amount,
        posts: 1,
        starts_on: day("2021-03-01"),
        ends_on: Some(day("2023-02-28")),
    }
}

async fn root_envelope(t: &TestDb, code: &str, amount: Money) -> i32 {
    create_envelope(
        &t.db,
        &admin(),
        NewEnvelope {
            parent_id: None,
            code: code.to_owned(),
            name: format!("Test {code}"),
            amount,
            source: None,
        },
    )
    .await
    .unwrap()
    .id
}

#[tokio::test]
async fn seed_is_idempotent_and_matches_the_domain() {
    let t = env().await;
    let again = seed_reference_data(&t.db).await.unwrap();
    assert_eq!(again.envelopes, 0);
    assert_eq!(again.rules, 0);
    let expect = [
        ("FR-PLAN", 250_000_000),
        ("FR-CNFS", 200_000_000),
        ("FR-CNFS-PRIVATE", 11_400_000),
        ("FR-LIEUX", 40_000_000),
        ("FR-AIDANTS-CONNECT", 5_000_000),
        ("BDT-HUBS-AMI", 2_300_000),
        ("PASS", 22_000_000),
    ];
    for (code, euros) in expect {
        let e = envelope_by_code(&t.db, code).await.unwrap().unwrap();
        assert_eq!(e.amount, Money::euros(euros), "{code}");
    }
    // Children never promise more than their parent.
    let all = list_envelopes(&t.db).await.unwrap();
    for parent in &all {
        let children: Money = all
            .iter()
            .filter(|c| c.parent_id == Some(parent.id))
            .map(|c| c.amount)
            .sum();
        assert!(children <= parent.amount, "{}", parent.code);
    }
    assert_eq!(list_rules(&t.db).await.unwrap().len(), 9);
}

#[tokio::test]
async fn quotes_for_3_posts_match_the_seeded_rules() {
    let t = env().await;
    let guyane = dep("973");
    // Open-data rules (from 2022): private 32 000 €, public in 973 70 000 €, plus the per-counsellor extras.
    let extras = Money(480_500 + 29_723 + 32_660);
    let private = grant_quote(
        &t.db,
        HostKind::Private,
        Some(&guyane),
        3,
        day("2022-06-01"),
    )
    .await
    .unwrap();
    assert_eq!(private.rule.amount_per_post, Money::euros(32_000));
    assert_eq!(
        private.total,
        (Money::euros(32_000) + extras).checked_mul(3).unwrap()
    );
    assert_eq!(private.total, Money(11_228_649));
    assert_eq!(private.lines.len(), 4);
    assert_eq!(
        private.lines.iter().map(|l| l.total).sum::<Money>(),
        private.total
    );
    let public = grant_quote(&t.db, HostKind::Public, Some(&guyane), 3, day("2022-06-01"))
        .await
        .unwrap();
    assert_eq!(public.rule.department, Some(guyane.clone()));
    assert_eq!(public.total, Money(22_628_649));
    assert_eq!(public.lines[0].unit, Money::euros(70_000));
    // 2020 announcement (until 31 Dec 2021): 40 000 € private, 50 000 € public, no extras, even overseas.
    let private_2021 = grant_quote(
        &t.db,
        HostKind::Private,
        Some(&guyane),
        3,
        day("2021-03-01"),
    )
    .await
    .unwrap();
    assert_eq!(private_2021.total, Money::euros(120_000));
    let public_2021 = grant_quote(&t.db, HostKind::Public, Some(&guyane), 3, day("2021-03-01"))
        .await
        .unwrap();
    assert_eq!(public_2021.total, Money::euros(150_000));
    // Each quote equals the seed file's own row, applied by hand.
    let seeded = maillage_funding::seed::seed_rules().unwrap();
    for (kind, date, quote) in [
        (HostKind::Private, day("2022-06-01"), &private),
        (HostKind::Public, day("2022-06-01"), &public),
        (HostKind::Private, day("2021-03-01"), &private_2021),
        (HostKind::Public, day("2021-03-01"), &public_2021),
    ] {
        let row = seeded
            .iter()
            .filter(|r| r.host_kind == kind && r.valid_from <= date)
            .filter(|r| r.valid_to.is_none_or(|to| date <= to))
            .filter(|r| r.department.is_none() || r.department.as_ref() == Some(&guyane))
            .max_by_key(|r| r.department.is_some())
            .unwrap();
        let per_post = row.amount_per_post + row.training + row.kit + row.certification;
        assert_eq!(quote.total, per_post.checked_mul(3).unwrap());
    }
    // 974 and 976 have their own public rule; mainland public stays at 50 000 €.
    let reunion = grant_quote(
        &t.db,
        HostKind::Public,
        Some(&dep("974")),
        1,
        day("2023-01-01"),
    )
    .await
    .unwrap();
    assert_eq!(reunion.lines[0].unit, Money::euros(67_500));
    let rhone = grant_quote(
        &t.db,
        HostKind::Public,
        Some(&dep("69")),
        1,
        day("2023-01-01"),
    )
    .await
    .unwrap();
    assert_eq!(rhone.lines[0].unit, Money::euros(50_000));
    // Before the programme, no rule.
    let none = grant_quote(&t.db, HostKind::Public, None, 1, day("2019-01-01")).await;
    assert_eq!(none.unwrap_err().code(), "no_rule");
}

#[tokio::test]
async fn rules_are_editable_by_admins_only_and_versioned() {
    let t = env().await;
    let new = NewRule {
        host_kind: HostKind::Private,
        department: Some(dep("976")),
        amount_per_post: Money::euros(45_000),
        training: Money::ZERO,
        kit: Money::ZERO,
        certification: Money::ZERO,
        valid_from: day("2024-01-01"),
        valid_to: None,
        source: "test".to_owned(),
    };
    let refused = create_rule(&t.db, &bdt(), new.clone()).await.unwrap_err();
    assert_eq!(refused.code(), "forbidden");
    let r = create_rule(&t.db, &admin(), new.clone()).await.unwrap();
    let q = grant_quote(
        &t.db,
        HostKind::Private,
        Some(&dep("976")),
        2,
        day("2024-02-01"),
    )
    .await
    .unwrap();
    assert_eq!(q.total, Money::euros(90_000));
    let closed = NewRule {
        valid_to: Some(day("2024-01-31")),
        ..new.clone()
    };
    let r2 = update_rule(&t.db, &admin(), r.id, r.version, closed.clone())
        .await
        .unwrap();
    assert_eq!(r2.version, r.version + 1);
    let stale = update_rule(&t.db, &admin(), r.id, r.version, closed)
        .await
        .unwrap_err();
    assert_eq!(stale.code(), "stale_version");
    let rules = list_rules(&t.db).await.unwrap();
    let applied = applicable_rule(
        &rules,
        HostKind::Private,
        Some(&dep("976")),
        day("2024-02-01"),
    );
    assert_eq!(applied.unwrap().amount_per_post, Money::euros(32_000));
}

#[tokio::test]
async fn signing_never_exceeds_the_envelope_or_its_ancestors() {
    let t = env().await;
    let parent = root_envelope(&t, "T-PARENT", Money::euros(100_000)).await;
    let child = create_envelope(
        &t.db,
        &admin(),
        NewEnvelope {
            parent_id: Some(parent),
            code: "T-CHILD".to_owned(),
            name: "child".to_owned(),
            amount: Money::euros(80_000),
            source: None,
        },
    )
    .await
    .unwrap()
    .id;
    // 60 000 € on the parent directly, then 50 000 € on the child: the child has room, the parent does not.
    let a = create_grant(
        &t.db,
        &bdt(),
        grant(parent, Money::euros(60_000), Some("69")),
    )
    .await
    .unwrap();
    sign_grant(&t.db, &bdt(), a.id, a.version).await.unwrap();
    let b = create_grant(
        &t.db,
        &bdt(),
        grant(child, Money::euros(50_000), Some("69")),
    )
    .await
    .unwrap();
    let err = sign_grant(&t.db, &bdt(), b.id, b.version)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FundingError::EnvelopeExceeded { envelope, .. } if envelope == "T-PARENT"),
        "{err}"
    );
    assert!(err.is_user_error());
    // Nothing was written by the refusal.
    let b_now = maillage_funding::get_grant(&t.db, b.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b_now.status, GrantStatus::Draft);
    assert_eq!(b_now.version, b.version);
    // Exactly the room left fits.
    let c = create_grant(
        &t.db,
        &bdt(),
        grant(child, Money::euros(40_000), Some("69")),
    )
    .await
    .unwrap();
    sign_grant(&t.db, &bdt(), c.id, c.version).await.unwrap();
    let cons = consumption(&t.db, parent).await.unwrap();
    assert_eq!(cons.committed, cons.amount);
    assert_eq!(cons.remaining(), Money::ZERO);
    // An envelope cannot be lowered below what it commits.
    let p = maillage_funding::get_envelope(&t.db, parent)
        .await
        .unwrap()
        .unwrap();
    let low = update_envelope(
        &t.db,
        &admin(),
        parent,
        p.version,
        EnvelopePatch {
            amount: Some(Money::euros(99_999)),
            ..EnvelopePatch::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(low.code(), "below_committed");
    // Cancelling a signed grant without payments releases its amount.
    let c = maillage_funding::get_grant(&t.db, c.id)
        .await
        .unwrap()
        .unwrap();
    cancel_grant(&t.db, &bdt(), c.id, c.version).await.unwrap();
    sign_grant(&t.db, &bdt(), b.id, b.version)
        .await
        .expect_err("still 10 000 € short on the parent");
    assert_eq!(
        consumption(&t.db, parent).await.unwrap().committed,
        Money::euros(60_000)
    );
}

#[tokio::test]
async fn concurrent_signatures_fill_an_envelope_exactly() {
    let t = env().await;
    let post = Money::euros(50_000);
    let envelope = root_envelope(&t, "T-RACE", post.checked_mul(10).unwrap()).await;
    let mut drafts = Vec::new();
    for _ in 0..64 {
        drafts.push(
            create_grant(&t.db, &bdt(), grant(envelope, post, Some("973")))
                .await
                .unwrap(),
        );
    }
    let results = futures::future::join_all(drafts.iter().map(|g| {
        let db = t.db.clone();
        let (id, version) = (g.id, g.version);
        tokio::spawn(async move { sign_grant(&db, &bdt(), id, version).await })
    }))
    .await;
    let mut signed = 0;
    let mut exceeded = 0;
    for r in results {
        match r.unwrap() {
            Ok(_) => signed += 1,
            Err(FundingError::EnvelopeExceeded { .. }) => exceeded += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((signed, exceeded), (10, 54));
    let c = consumption(&t.db, envelope).await.unwrap();
    assert_eq!(c.committed, c.amount);
}

#[tokio::test]
async fn disbursements_never_exceed_their_grant_even_concurrently() {
    let t = env().await;
    let envelope = root_envelope(&t, "T-PAY", Money::euros(1_000_000)).await;
    let g = create_grant(
        &t.db,
        &bdt(),
        grant(envelope, Money::euros(10_000), Some("13")),
    )
    .await
    .unwrap();
    let pay = |amount| NewDisbursement {
        grant_id: g.id,
        amount,
        paid_on: day("2021-06-01"),
        reference: Some("mandat 42".to_owned()),
    };
    // A draft cannot be paid.
    let err = record_disbursement(&t.db, &bdt(), pay(Money::euros(1)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_state");
    sign_grant(&t.db, &bdt(), g.id, g.version).await.unwrap();
    let results = futures::future::join_all((0..25).map(|_| {
        let db = t.db.clone();
        let p = pay(Money::euros(1_000));
        tokio::spawn(async move { record_disbursement(&db, &bdt(), p).await })
    }))
    .await;
    let ok = results
        .into_iter()
        .filter(|r| match r.as_ref().unwrap() {
            Ok(_) => true,
            Err(FundingError::GrantExceeded { .. }) => false,
            Err(e) => panic!("unexpected error: {e}"),
        })
        .count();
    assert_eq!(ok, 10);
    let paid: Money = list_disbursements(&t.db, g.id)
        .await
        .unwrap()
        .iter()
        .map(|d| d.amount)
        .sum();
    assert_eq!(paid, Money::euros(10_000));
    // A grant with payments can be closed, not cancelled.
    let g = maillage_funding::get_grant(&t.db, g.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cancel_grant(&t.db, &bdt(), g.id, g.version)
            .await
            .unwrap_err()
            .code(),
        "invalid_state"
    );
    let closed = close_grant(&t.db, &bdt(), g.id, g.version).await.unwrap();
    assert_eq!(closed.status, GrantStatus::Closed);
    assert_eq!(
        consumption(&t.db, envelope).await.unwrap().disbursed,
        Money::euros(10_000)
    );
}

#[tokio::test]
async fn only_bdt_reviewers_and_admins_record_funding() {
    let t = env().await;
    let envelope = envelope_by_code(&t.db, "FR-CNFS")
        .await
        .unwrap()
        .unwrap()
        .id;
    let coordinator = Actor::hub_coordinator(
        HubScope {
            hub: HubId(1),
            departments: vec![dep("69")],
        },
        "hinaura",
    );
    for actor in [
        Actor::anonymous(),
        Actor::with_role(Role::Partner, "app"),
        Actor::with_role(Role::AmiApplicant, "candidate"),
        coordinator,
    ] {
        let err = create_grant(&t.db, &actor, grant(envelope, Money::euros(1), Some("69")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden", "{:?}", actor.role());
        assert!(!err.is_user_error());
    }
    let err = create_envelope(
        &t.db,
        &bdt(),
        NewEnvelope {
            parent_id: None,
            code: "X".to_owned(),
            name: "x".to_owned(),
            amount: Money::ZERO,
            source: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "forbidden");
}

#[tokio::test]
async fn pass_programmes_keep_voucher_counts_consistent() {
    let t = env().await;
    let data = PassProgrammeData {
        collectivite: "Département de la Gironde".to_owned(),
        department: Some(dep("33")),
        amount: Money::euros(250_000),
        vouchers_issued: 10_000,
        vouchers_used: 2_500,
        sites: Vec::new(),
    };
    let p = create_pass_programme(&t.db, &bdt(), data.clone())
        .await
        .unwrap();
    assert_eq!(p.vouchers_used, 2_500);
    let bad = PassProgrammeData {
        vouchers_used: 10_001,
        ..data.clone()
    };
    assert_eq!(
        update_pass_programme(&t.db, &bdt(), p.id, p.version, bad)
            .await
            .unwrap_err()
            .code(),
        "invalid_value"
    );
    let unknown_site = PassProgrammeData {
        sites: vec![SiteId(999_999)],
        ..data.clone()
    };
    let err = update_pass_programme(&t.db, &bdt(), p.id, p.version, unknown_site)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found", "{err}");
    let more = PassProgrammeData {
        vouchers_used: 4_000,
        ..data
    };
    let p2 = update_pass_programme(&t.db, &bdt(), p.id, p.version, more)
        .await
        .unwrap();
    assert_eq!((p2.version, p2.vouchers_used), (2, 4_000));
}

/// A small deterministic generator (no dependency, same sequence on every run and backend).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Drill-down totals equal the sum of their parts at every level: envelope = own grants + children, and per hub,
/// department and region, with regions equal to the sum of their departments. Generated data, fixed seed.
#[tokio::test]
async fn drill_down_totals_equal_the_sum_of_their_parts() {
    let t = env().await;
    let mut rng = Lcg(20_201_117);
    // A three-level tree under a generous root, so that random signatures are seldom refused.
    let root = root_envelope(&t, "G-ROOT", Money::euros(10_000_000)).await;
    let mut envelopes = vec![root];
    for i in 0..6 {
        let parent = envelopes[rng.next(envelopes.len())];
        let e = create_envelope(
            &t.db,
            &admin(),
            NewEnvelope {
                parent_id: Some(parent),
                code: format!("G-{i}"),
                name: format!("generated {i}"),
                amount: Money::euros(3_000_000),
                source: None,
            },
        )
        .await
        .unwrap();
        envelopes.push(e.id);
    }
    let departments = ["01", "69", "73", "13", "33", "971", "973", "974", "2A"];
    let hubs = [None, Some(HubId(1)), Some(HubId(2)), Some(HubId(3))];
    for _ in 0..120 {
        let envelope = envelopes[rng.next(envelopes.len())];
        let department = match rng.next(10) {
            0 => None,
            _ => Some(departments[rng.next(departments.len())]),
        };
        let mut new = grant(envelope, Money(1 + rng.next(5_000_000) as i64), department);
        new.hub = hubs[rng.next(hubs.len())];
        let g = create_grant(&t.db, &bdt(), new).await.unwrap();
        match rng.next(4) {
            0 => continue,
            1 => {
                cancel_grant(&t.db, &bdt(), g.id, g.version).await.unwrap();
                continue;
            }
            _ => {}
        }
        let Ok(g) = sign_grant(&t.db, &bdt(), g.id, g.version).await else {
            continue;
        };
        for _ in 0..rng.next(3) {
            let amount = Money(1 + rng.next(g.amount.cents() as usize / 2) as i64);
            let _ = record_disbursement(
                &t.db,
                &bdt(),
                NewDisbursement {
                    grant_id: g.id,
                    amount,
                    paid_on: day("2021-09-01"),
                    reference: None,
                },
            )
            .await;
        }
        if rng.next(5) == 0 {
            close_grant(&t.db, &bdt(), g.id, g.version).await.unwrap();
        }
    }
    let all = list_envelopes(&t.db).await.unwrap();
    let consumption = consumption_of_all(&t.db).await.unwrap();
    let grants = list_grants(
        &t.db,
        &GrantFilter::default(),
        &PageRequest::new(Some(100), None).unwrap(),
    )
    .await
    .unwrap();
    assert!(grants.has_next_page, "enough grants to page");
    for e in &all {
        let c = consumption[&e.id];
        assert!(c.committed <= c.amount, "{} over-committed", e.code);
        // Level 1: an envelope = its own grants + its children.
        let own = list_grants(
            &t.db,
            &GrantFilter {
                envelopes: Some(vec![e.id]),
                statuses: Some(vec![GrantStatus::Signed, GrantStatus::Closed]),
                ..GrantFilter::default()
            },
            &PageRequest::new(Some(100), None).unwrap().with_total(true),
        )
        .await
        .unwrap();
        assert!(!own.has_next_page);
        let own_committed: Money = own.items.iter().map(|(_, g)| g.amount).sum();
        let paid = maillage_funding::disbursed_by_grant(&t.db, own.items.iter().map(|(_, g)| g.id))
            .await
            .unwrap();
        let own_disbursed: Money = paid.values().copied().sum();
        let children: Vec<_> = all.iter().filter(|c| c.parent_id == Some(e.id)).collect();
        let children_committed: Money = children.iter().map(|c| consumption[&c.id].committed).sum();
        let children_disbursed: Money = children.iter().map(|c| consumption[&c.id].disbursed).sum();
        assert_eq!(
            c.committed,
            own_committed + children_committed,
            "{}",
            e.code
        );
        assert_eq!(
            c.disbursed,
            own_disbursed + children_disbursed,
            "{}",
            e.code
        );
        // Level 2: every axis adds up to the envelope.
        for axis in [DrillDown::Hub, DrillDown::Department, DrillDown::Region] {
            let parts = drill_down(&t.db, e.id, axis).await.unwrap();
            let committed: Money = parts.iter().map(|p| p.committed).sum();
            let disbursed: Money = parts.iter().map(|p| p.disbursed).sum();
            assert_eq!(committed, c.committed, "{} {axis:?}", e.code);
            assert_eq!(disbursed, c.disbursed, "{} {axis:?}", e.code);
        }
        // Level 3: each region is the sum of its departments.
        let regions: HashMap<Option<String>, (Money, Money)> =
            drill_down(&t.db, e.id, DrillDown::Region)
                .await
                .unwrap()
                .into_iter()
                .map(|p| (p.key, (p.committed, p.disbursed)))
                .collect();
        let mut from_departments: BTreeMap<Option<String>, (Money, Money)> = BTreeMap::new();
        for p in drill_down(&t.db, e.id, DrillDown::Department)
            .await
            .unwrap()
        {
            let s = from_departments.entry(p.region).or_default();
            s.0 = s.0 + p.committed;
            s.1 = s.1 + p.disbursed;
        }
        assert_eq!(regions.len(), from_departments.len(), "{}", e.code);
        for (region, sums) in from_departments {
            assert_eq!(regions[&region], sums, "{} region {region:?}", e.code);
        }
    }
    assert!(consumption[&root].committed > Money::ZERO);
    assert!(consumption[&root].disbursed > Money::ZERO);
}
