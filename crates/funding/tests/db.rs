//! Funding services on a real database: SQLite in memory by default, a fresh PostgreSQL database per test when
//! `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::NaiveDate;
use maillage_core::actor::HubScope;
use maillage_core::pagination::PageRequest;
use maillage_core::{Actor, DepartmentCode, ErrorCode, HubId, Role, SiteId};
use maillage_funding::{
    BeneficiaryClaim, BeneficiaryDirectory, BeneficiaryKind, DrillDown, EnvelopePatch, FundedPosts,
    FundingError, GrantFilter, GrantStatus, HostKind, Money, NewDisbursement, NewEnvelope,
    NewGrant, NewRule, PassProgrammeData, VerifiedBeneficiary, applicable_rule, cancel_grant,
    close_grant, consumption, consumption_of_all, create_envelope, create_grant,
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

/// The beneficiaries the fixture "domains" know: funding reaches them only through the directory port.
struct Fixture;

impl BeneficiaryDirectory for Fixture {
    async fn resolve(
        &self,
        claim: &BeneficiaryClaim,
    ) -> Result<Option<VerifiedBeneficiary>, String> {
        let found = match (claim.kind, claim.reference.as_str()) {
            // A hub: its department is the one the grant concerns (the drill-down tests spread grants around).
            (BeneficiaryKind::Hub, r) if r.starts_with("hub:") => {
                let id: i32 = r["hub:".len()..].parse().map_err(|e| format!("{e}"))?;
                Some(VerifiedBeneficiary {
                    kind: BeneficiaryKind::Hub,
                    reference: r.to_owned(),
                    name: format!("Hub {id}"),
                    host_kind: None,
                    department: claim.department.clone(),
                    hub: Some(HubId(id)),
                    funded_posts: None,
                })
            }
            (BeneficiaryKind::Collectivite, "collectivite:test") => Some(VerifiedBeneficiary {
                kind: BeneficiaryKind::Collectivite,
                reference: "collectivite:test".to_owned(),
                name: "Collectivité de test".to_owned(),
                host_kind: None,
                department: claim.department.clone(),
                hub: None,
                funded_posts: None,
            }),
            // A commune of the Rhône, granted 3 posts by its post request 11.
            (BeneficiaryKind::HostStructure, "structure:1") => Some(VerifiedBeneficiary {
                kind: BeneficiaryKind::HostStructure,
                reference: "structure:1".to_owned(),
                name: "Commune de Villeurbanne".to_owned(),
                host_kind: Some(HostKind::Public),
                department: Some(dep("69")),
                hub: None,
                funded_posts: (claim.funded_posts.as_deref() == Some("11")).then(|| FundedPosts {
                    reference: "11".to_owned(),
                    granted: 3,
                }),
            }),
            // An association of the Bouches-du-Rhône, granted 5 posts by its post request 12.
            (BeneficiaryKind::HostStructure, "structure:2") => Some(VerifiedBeneficiary {
                kind: BeneficiaryKind::HostStructure,
                reference: "structure:2".to_owned(),
                name: "Association Numérique Solidaire".to_owned(),
                host_kind: Some(HostKind::Private),
                department: Some(dep("13")),
                hub: None,
                funded_posts: (claim.funded_posts.as_deref() == Some("12")).then(|| FundedPosts {
                    reference: "12".to_owned(),
                    granted: 5,
                }),
            }),
            _ => None,
        };
        Ok(found)
    }
}

fn claim(kind: BeneficiaryKind, reference: &str, department: Option<&str>) -> BeneficiaryClaim {
    BeneficiaryClaim {
        kind,
        reference: reference.to_owned(),
        funded_posts: None,
        host_kind: None,
        department: department.map(dep),
        name: None,
    }
}

/// A hub grant (no rule applies to hubs): the envelope tests use these to move arbitrary amounts.
fn grant(envelope_id: i32, amount: Money, department: Option<&str>) -> NewGrant {
    NewGrant {
        envelope_id,
        beneficiary: claim(BeneficiaryKind::Hub, "hub:7", department),
        contact: Some("Camille Martin, camille@example.org".to_owned()),
        amount,
        posts: 0,
        contract_years: None,
        decision_date: Some(day("2021-02-15")),
        starts_on: day("2021-03-01"),
        ends_on: Some(day("2023-02-28")),
        override_reason: None,
    }
}

/// A grant to the Rhône commune for `posts` posts of its post request 11.
fn commune_grant(envelope_id: i32, amount: Money, posts: i32, decided: &str) -> NewGrant {
    NewGrant {
        beneficiary: BeneficiaryClaim {
            funded_posts: Some("11".to_owned()),
            ..claim(BeneficiaryKind::HostStructure, "structure:1", None)
        },
        contact: None,
        posts,
        decision_date: Some(day(decided)),
        ..grant(envelope_id, amount, None)
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
            target: None,
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
    assert_eq!(list_rules(&t.db).await.unwrap().len(), 13);
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
        None,
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
    let public = grant_quote(
        &t.db,
        HostKind::Public,
        Some(&guyane),
        3,
        day("2022-06-01"),
        None,
    )
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
        None,
    )
    .await
    .unwrap();
    assert_eq!(private_2021.total, Money::euros(120_000));
    let public_2021 = grant_quote(
        &t.db,
        HostKind::Public,
        Some(&guyane),
        3,
        day("2021-03-01"),
        None,
    )
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
            .filter(|r| r.host_kind == kind && r.valid_from <= date && r.salary.is_none())
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
        None,
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
        None,
    )
    .await
    .unwrap();
    assert_eq!(rhone.lines[0].unit, Money::euros(50_000));
    // Before the programme, no rule.
    let none = grant_quote(&t.db, HostKind::Public, None, 1, day("2019-01-01"), None).await;
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
        salary: None,
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
        None,
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
        None,
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
            target: None,
        },
    )
    .await
    .unwrap()
    .id;
    // 60 000 € on the parent directly, then 50 000 € on the child: the child has room, the parent does not.
    let a = create_grant(
        &t.db,
        &bdt(),
        &Fixture,
        grant(parent, Money::euros(60_000), Some("69")),
    )
    .await
    .unwrap();
    sign_grant(&t.db, &bdt(), a.id, a.version).await.unwrap();
    let b = create_grant(
        &t.db,
        &bdt(),
        &Fixture,
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
        &Fixture,
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
            create_grant(&t.db, &bdt(), &Fixture, grant(envelope, post, Some("973")))
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
        &Fixture,
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
        let err = create_grant(
            &t.db,
            &actor,
            &Fixture,
            grant(envelope, Money::euros(1), Some("69")),
        )
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
            target: None,
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
        envelope_id: None,
        signed_on: Some(day("2021-05-10")),
        vouchers_on: Some(day("2021-06-01")),
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
                target: None,
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
        new.beneficiary = match hubs[rng.next(hubs.len())] {
            Some(h) => claim(BeneficiaryKind::Hub, &format!("hub:{}", h.0), department),
            None => claim(
                BeneficiaryKind::Collectivite,
                "collectivite:test",
                department,
            ),
        };
        let g = create_grant(&t.db, &bdt(), &Fixture, new).await.unwrap();
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

// ---- Grants derived from the rules and checked against what they fund (issue 20) ----

fn user_errors(e: &FundingError) -> Vec<(String, String, String)> {
    e.each()
        .into_iter()
        .map(|one| {
            (
                one.code().as_str().to_owned(),
                one.field().map(ToString::to_string).unwrap_or_default(),
                one.to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_one_euro_grant_for_an_unknown_beneficiary_names_the_rule_and_the_expected_amount() {
    let t = env().await;
    let cnfs = envelope_by_code(&t.db, "FR-CNFS").await.unwrap().unwrap();
    let new = NewGrant {
        beneficiary: BeneficiaryClaim {
            host_kind: Some(HostKind::Public),
            department: Some(dep("69")),
            funded_posts: Some("11".to_owned()),
            ..claim(BeneficiaryKind::HostStructure, "does-not-exist", None)
        },
        posts: 3,
        decision_date: Some(day("2021-03-15")),
        ..grant(cnfs.id, Money::euros(1), None)
    };
    let err = create_grant(&t.db, &bdt(), &Fixture, new)
        .await
        .unwrap_err();
    assert!(err.is_user_error(), "{err}");
    let errors = user_errors(&err);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, "not_found");
    assert_eq!(errors[0].1, "input.beneficiary.reference");
    let (code, field, message) = &errors[1];
    assert_eq!(
        (code.as_str(), field.as_str()),
        ("amount_mismatch", "input.amount")
    );
    let rule = list_rules(&t.db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| {
            r.host_kind == HostKind::Public
                && r.department.is_none()
                && r.salary.is_none()
                && r.valid_from == day("2020-11-17")
        })
        .unwrap();
    assert!(
        message.contains(&format!("rule {} (public host", rule.id)),
        "{message}"
    );
    assert!(message.contains("150 000,00 €"), "{message}");
    assert!(message.contains("1,00 €"), "{message}");
    // Nothing was written.
    let c = consumption(&t.db, cnfs.id).await.unwrap();
    assert_eq!(c.committed, Money::ZERO);
    // The same grant for an existing commune but still 1 €: only the amount is wrong.
    let err = create_grant(
        &t.db,
        &bdt(),
        &Fixture,
        commune_grant(cnfs.id, Money::euros(1), 3, "2021-03-15"),
    )
    .await
    .unwrap_err();
    let errors = user_errors(&err);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].2.contains("150 000,00 €"), "{errors:?}");
}

#[tokio::test]
async fn three_posts_of_a_commune_in_69_in_march_2021_come_out_at_150_000_euros() {
    let t = env().await;
    let cnfs = envelope_by_code(&t.db, "FR-CNFS").await.unwrap().unwrap();
    let q = grant_quote(
        &t.db,
        HostKind::Public,
        Some(&dep("69")),
        3,
        day("2021-03-15"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(q.total, Money::euros(150_000));
    // In 2021 the 2020 announcement applies: no per-counsellor lines.
    assert_eq!(q.lines.len(), 1);
    assert_eq!(q.lines[0].detail, "50 000,00 € per post × 3 = 150 000,00 €");
    let g = create_grant(
        &t.db,
        &bdt(),
        &Fixture,
        commune_grant(cnfs.id, Money::euros(150_000), 3, "2021-03-15"),
    )
    .await
    .unwrap();
    assert_eq!(g.amount, Money::euros(150_000));
    assert_eq!(g.expected_amount, Some(Money::euros(150_000)));
    assert_eq!(g.rule_id, Some(q.rule.id));
    assert_eq!(g.host_kind, Some(HostKind::Public));
    assert_eq!(g.department, Some(dep("69")));
    assert_eq!(g.beneficiary_name, "Commune de Villeurbanne");
    assert_eq!(g.funded_posts_ref.as_deref(), Some("11"));
    // From 2022 the open-data rule adds training, kit and certification per counsellor.
    let q22 = grant_quote(
        &t.db,
        HostKind::Public,
        Some(&dep("69")),
        3,
        day("2022-03-15"),
        None,
    )
    .await
    .unwrap();
    let labels: Vec<&str> = q22.lines.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "grant per post",
            "training",
            "equipment kit",
            "certification"
        ]
    );
    assert_eq!(q22.total, Money(16_628_649));
    let g22 = create_grant(
        &t.db,
        &bdt(),
        &Fixture,
        commune_grant(cnfs.id, Money(16_628_649), 3, "2022-03-15"),
    )
    .await
    .unwrap();
    assert_eq!(g22.expected_amount, Some(Money(16_628_649)));
    // More posts than the post request was granted: refused.
    let err = create_grant(
        &t.db,
        &bdt(),
        &Fixture,
        commune_grant(cnfs.id, Money::euros(200_000), 4, "2021-03-15"),
    )
    .await
    .unwrap_err();
    assert!(
        user_errors(&err)
            .iter()
            .any(|(code, _, _)| code == "exceeds_funded_posts"),
        "{err}"
    );
    // A post request that is not the structure's: refused.
    let mut other = commune_grant(cnfs.id, Money::euros(150_000), 3, "2021-03-15");
    other.beneficiary.funded_posts = Some("12".to_owned());
    let err = create_grant(&t.db, &bdt(), &Fixture, other)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found", "{err}");
    // The caller's claim must agree with the structure.
    let mut wrong_kind = commune_grant(cnfs.id, Money::euros(150_000), 3, "2021-03-15");
    wrong_kind.beneficiary.host_kind = Some(HostKind::Private);
    let err = create_grant(&t.db, &bdt(), &Fixture, wrong_kind)
        .await
        .unwrap_err();
    assert_eq!(
        err.field().map(ToString::to_string).as_deref(),
        Some("input.beneficiary.hostKind")
    );
}

#[tokio::test]
async fn an_amount_differing_from_the_rule_needs_an_audited_override() {
    let t = env().await;
    let cnfs = envelope_by_code(&t.db, "FR-CNFS").await.unwrap().unwrap();
    let mut new = commune_grant(cnfs.id, Money::euros(140_000), 3, "2021-03-15");
    new.override_reason = Some("Avenant: one post funded for ten months only".to_owned());
    let g = create_grant(&t.db, &bdt(), &Fixture, new).await.unwrap();
    assert_eq!(g.amount, Money::euros(140_000));
    assert_eq!(g.expected_amount, Some(Money::euros(150_000)));
    let audit = maillage_access::list_audit(
        &t.db,
        &admin(),
        &maillage_access::AuditFilter {
            entity_type: Some("funding_grant".to_owned()),
            entity_id: Some(g.id.to_string()),
            ..Default::default()
        },
        &PageRequest::new(Some(10), None).unwrap(),
    )
    .await
    .unwrap();
    let changes = &audit.items[0].1.changes;
    assert_eq!(
        changes["override_reason"]["after"],
        "Avenant: one post funded for ten months only"
    );
    assert_eq!(changes["expected_amount_cents"]["after"], 15_000_000);
    assert_eq!(changes["amount_cents"]["after"], 14_000_000);
}

#[tokio::test]
async fn the_salary_based_rule_pays_a_share_of_the_smic_over_two_or_three_years() {
    let t = env().await;
    // Seeded SMIC (décret n° 2020-1598 du 16 décembre 2020): 1 554,58 € gross per month from 1 Jan 2021.
    let salaries = maillage_funding::list_reference_salaries(&t.db)
        .await
        .unwrap();
    let smic = maillage_funding::salary_on(&salaries, "SMIC", day("2021-03-15")).unwrap();
    assert_eq!(
        (smic.valid_from, smic.monthly),
        (day("2021-01-01"), Money(155_458))
    );
    // 100 % × 12 × 2 = 37 309,92 € per post.
    let two = grant_quote(
        &t.db,
        HostKind::Public,
        Some(&dep("69")),
        2,
        day("2021-03-15"),
        Some(2),
    )
    .await
    .unwrap();
    assert_eq!(two.lines.len(), 1);
    assert_eq!(two.lines[0].label, "salary share per post");
    assert_eq!(two.lines[0].unit, Money(3_730_992));
    assert_eq!(two.total, Money(7_461_984));
    assert_eq!(
        two.lines[0].detail,
        "SMIC 1 554,58 € monthly (in force from 2021-01-01) × 12 months × 2 years × 100 % × 2 = 74 619,84 €"
    );
    // 70 % × 12 × 3 = 39 175,416 € → 39 175,42 € per post (cents rounded half up).
    let three = grant_quote(
        &t.db,
        HostKind::Private,
        Some(&dep("13")),
        1,
        day("2021-03-15"),
        Some(3),
    )
    .await
    .unwrap();
    assert_eq!(three.total, Money(3_917_542));
    assert_eq!(three.rule.salary.as_ref().unwrap().share_pct, 70);
    // A later SMIC applies to a later decision: 1 709,28 € from 1 Jan 2023 → 41 022,72 € per post over 2 years.
    let later = grant_quote(&t.db, HostKind::Public, None, 1, day("2023-02-01"), Some(2))
        .await
        .unwrap();
    assert_eq!(later.total, Money(4_102_272));
    // No rule for a four-year contract.
    let none = grant_quote(&t.db, HostKind::Public, None, 1, day("2021-03-15"), Some(4))
        .await
        .unwrap_err();
    assert_eq!(none.code(), "no_rule");
    // A grant following the salary rule is checked against it.
    let cnfs = envelope_by_code(&t.db, "FR-CNFS").await.unwrap().unwrap();
    let mut g = commune_grant(cnfs.id, Money(11_192_976), 3, "2021-03-15");
    g.contract_years = Some(2);
    let ok = create_grant(&t.db, &bdt(), &Fixture, g.clone())
        .await
        .unwrap();
    assert_eq!(ok.contract_years, Some(2));
    g.amount = Money::euros(150_000);
    let err = create_grant(&t.db, &bdt(), &Fixture, g).await.unwrap_err();
    assert!(err.to_string().contains("111 929,76 €"), "{err}");
}

fn pass(collectivite: &str, envelope_id: Option<i32>, amount: Money) -> PassProgrammeData {
    PassProgrammeData {
        collectivite: collectivite.to_owned(),
        department: Some(dep("33")),
        amount,
        vouchers_issued: 0,
        vouchers_used: 0,
        sites: Vec::new(),
        envelope_id,
        signed_on: Some(day("2021-04-01")),
        vouchers_on: None,
    }
}

#[tokio::test]
async fn pass_programmes_commit_the_pass_envelope() {
    let t = env().await;
    let envelope = envelope_by_code(&t.db, "PASS").await.unwrap().unwrap();
    let p = create_pass_programme(
        &t.db,
        &bdt(),
        pass("Département de la Gironde", None, Money::euros(500_000)),
    )
    .await
    .unwrap();
    assert_eq!(p.envelope_id, Some(envelope.id));
    let c = consumption(&t.db, envelope.id).await.unwrap();
    assert_eq!(c.committed, Money::euros(500_000));
    assert_eq!(
        c.target.map(|t| (t.kind, t.count)),
        Some((maillage_funding::TargetKind::Collectivites, 87))
    );
    assert_eq!(c.achieved, 1);
    // More than the 22 M€ left: refused, nothing written.
    let err = create_pass_programme(
        &t.db,
        &bdt(),
        pass("Région trop gourmande", None, Money::euros(21_600_000)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "envelope_exceeded", "{err}");
    // Raising a programme's amount needs room too; lowering it frees room.
    let raised = PassProgrammeData {
        amount: Money::euros(22_000_001),
        ..pass("Département de la Gironde", None, Money::ZERO)
    };
    let err = update_pass_programme(&t.db, &bdt(), p.id, p.version, raised)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "envelope_exceeded", "{err}");
    let lowered = update_pass_programme(
        &t.db,
        &bdt(),
        p.id,
        p.version,
        pass("Département de la Gironde", None, Money::euros(400_000)),
    )
    .await
    .unwrap();
    assert_eq!(lowered.amount, Money::euros(400_000));
    assert_eq!(
        consumption(&t.db, envelope.id).await.unwrap().committed,
        Money::euros(400_000)
    );
    // Programmes are parts of the drill-down too, so the parts still add up to the envelope.
    for axis in [DrillDown::Department, DrillDown::Region, DrillDown::Hub] {
        let parts = drill_down(&t.db, envelope.id, axis).await.unwrap();
        let total: Money = parts.iter().map(|p| p.committed).sum();
        assert_eq!(total, Money::euros(400_000), "{axis:?}");
    }
    let regions = drill_down(&t.db, envelope.id, DrillDown::Region)
        .await
        .unwrap();
    assert_eq!(regions[0].key.as_deref(), Some("75"));
}

#[tokio::test]
async fn sixty_four_concurrent_pass_programmes_never_over_commit() {
    let t = env().await;
    let amount = Money::euros(250_000);
    let envelope = root_envelope(&t, "T-PASS-RACE", amount.checked_mul(10).unwrap()).await;
    let results = futures::future::join_all((0..64).map(|i| {
        let db = t.db.clone();
        tokio::spawn(async move {
            create_pass_programme(
                &db,
                &bdt(),
                pass(&format!("Collectivité {i}"), Some(envelope), amount),
            )
            .await
        })
    }))
    .await;
    let mut created = 0;
    let mut exceeded = 0;
    for r in results {
        match r.unwrap() {
            Ok(_) => created += 1,
            Err(FundingError::EnvelopeExceeded { .. }) => exceeded += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((created, exceeded), (10, 54));
    let c = consumption(&t.db, envelope).await.unwrap();
    assert_eq!(c.committed, c.amount);
    let programmes = maillage_funding::list_pass_programmes(&t.db).await.unwrap();
    assert_eq!(
        programmes
            .iter()
            .filter(|p| p.envelope_id == Some(envelope))
            .count(),
        10
    );
}

#[tokio::test]
async fn vouchers_issued_and_used_are_dated() {
    let t = env().await;
    let mut data = pass("Métropole de Lyon", None, Money::euros(100_000));
    data.vouchers_issued = 1_000;
    data.vouchers_on = Some(day("2021-05-03"));
    let p = create_pass_programme(&t.db, &bdt(), data.clone())
        .await
        .unwrap();
    data.vouchers_issued = 1_500;
    data.vouchers_used = 400;
    data.vouchers_on = Some(day("2021-09-30"));
    let p = update_pass_programme(&t.db, &bdt(), p.id, p.version, data)
        .await
        .unwrap();
    let moves = maillage_funding::voucher_movements(&t.db, p.id)
        .await
        .unwrap();
    let got: Vec<(NaiveDate, i64, i64)> = moves
        .iter()
        .map(|m| (m.moved_on, m.issued, m.used))
        .collect();
    assert_eq!(
        got,
        [(day("2021-05-03"), 1_000, 0), (day("2021-09-30"), 500, 400)]
    );
    assert_eq!(
        moves.iter().map(|m| m.issued).sum::<i64>(),
        p.vouchers_issued
    );
    assert_eq!(moves.iter().map(|m| m.used).sum::<i64>(), p.vouchers_used);
}

#[tokio::test]
async fn envelope_targets_show_progress() {
    let t = env().await;
    let private = envelope_by_code(&t.db, "FR-CNFS-PRIVATE")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(private.amount, Money::euros(11_400_000));
    let target = private.target.unwrap();
    assert_eq!(
        (target.kind, target.count),
        (maillage_funding::TargetKind::Counsellors, 285)
    );
    let crf = envelope_by_code(&t.db, "FR-CNFS-PRIVATE-CRF")
        .await
        .unwrap()
        .unwrap();
    // 5 posts for the association, at the 2021 private rate (40 000 € per post), in the Croix-Rouge line.
    let g = maillage_funding::record_grant(
        &t.db,
        &admin(),
        &Fixture,
        NewGrant {
            beneficiary: BeneficiaryClaim {
                funded_posts: Some("12".to_owned()),
                ..claim(BeneficiaryKind::HostStructure, "structure:2", None)
            },
            posts: 5,
            decision_date: Some(day("2021-06-10")),
            ..grant(crf.id, Money::euros(200_000), None)
        },
        maillage_funding::GrantDates {
            signed_on: Some(day("2021-07-01")),
            closed_on: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(g.status, GrantStatus::Signed);
    let all = consumption_of_all(&t.db).await.unwrap();
    assert_eq!(all[&private.id].achieved, 5);
    assert_eq!(all[&crf.id].achieved, 5);
    assert_eq!(all[&crf.id].target.unwrap().count, 125);
    // The CNFS line counts posts: the same 5.
    let cnfs = envelope_by_code(&t.db, "FR-CNFS").await.unwrap().unwrap();
    assert_eq!(all[&cnfs.id].achieved, 5);
    assert_eq!(all[&cnfs.id].target.unwrap().count, 4_000);
    // Only admins record history.
    let err = maillage_funding::record_grant(
        &t.db,
        &bdt(),
        &Fixture,
        grant(crf.id, Money::euros(1), None),
        maillage_funding::GrantDates::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "forbidden");
}

fn write_file(text: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[tokio::test]
async fn a_grants_file_with_2021_dates_imports_and_consumption_follows_its_months() {
    let t = env().await;
    let file = write_file(
        "envelope;beneficiary_kind;beneficiary_ref;funded_posts;posts;amount;decision_date;signed_on;closed_on\n\
         FR-CNFS;host_structure;structure:1;11;3;150000;2021-02-10;2021-03-05;\n\
         FR-CNFS-PRIVATE-SOS;host_structure;structure:2;12;5;200000;2021-04-20;2021-05-12;2021-12-31\n\
         FR-CNFS;hub;hub:3;;0;25000,50;2021-05-02;2021-05-20;\n",
    );
    let mut report = Vec::new();
    let summary =
        maillage_funding::import::import_grants(&t.db, &admin(), &Fixture, file.path(), &mut |l| {
            report.push(l.clone())
        })
        .await
        .unwrap();
    assert_eq!((summary.rows, summary.created, summary.rejected), (3, 3, 0));
    assert_eq!(
        report
            .iter()
            .map(|l| (l.line, l.outcome))
            .collect::<Vec<_>>(),
        [(2, "created"), (3, "created"), (4, "created")]
    );
    let cnfs = envelope_by_code(&t.db, "FR-CNFS").await.unwrap().unwrap();
    let months = maillage_funding::consumption_by_month(&t.db, cnfs.id)
        .await
        .unwrap();
    let got: Vec<(NaiveDate, Money, Money)> = months
        .iter()
        .map(|m| (m.month, m.committed, m.committed_to_date))
        .collect();
    assert_eq!(
        got,
        [
            (
                day("2021-03-01"),
                Money::euros(150_000),
                Money::euros(150_000)
            ),
            (day("2021-05-01"), Money(22_500_050), Money(37_500_050)),
        ]
    );
    assert_eq!(
        consumption(&t.db, cnfs.id).await.unwrap().committed,
        months.last().unwrap().committed_to_date
    );
    let grants = list_grants(
        &t.db,
        &GrantFilter::default(),
        &PageRequest::new(Some(10), None).unwrap(),
    )
    .await
    .unwrap();
    let closed = grants
        .items
        .iter()
        .map(|(_, g)| g)
        .find(|g| g.posts == 5)
        .unwrap();
    assert_eq!(closed.status, GrantStatus::Closed);
    assert_eq!(
        (closed.decision_date, closed.signed_on, closed.closed_on),
        (
            Some(day("2021-04-20")),
            Some(day("2021-05-12")),
            Some(day("2021-12-31"))
        )
    );
}

#[tokio::test]
async fn a_grants_import_is_all_or_nothing_with_file_lines() {
    let t = env().await;
    let file = write_file(
        "envelope,beneficiary_kind,beneficiary_ref,funded_posts,posts,amount,decision_date,signed_on\n\
         FR-CNFS,host_structure,structure:1,11,3,150000,2021-02-10,2021-03-05\n\
         FR-CNFS,host_structure,does-not-exist,11,3,1,2021-02-10,2021-03-05\n\
         FR-CNFS,hub,hub:3,,0,1000,2021-13-02,\n\
         NOPE,hub,hub:3,,0,1000,2021-05-02,\n",
    );
    let mut report = Vec::new();
    let err =
        maillage_funding::import::import_grants(&t.db, &admin(), &Fixture, file.path(), &mut |l| {
            report.push(l.clone())
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "rows_rejected");
    let lines: Vec<(u64, &str)> = report.iter().map(|l| (l.line, l.field.as_str())).collect();
    assert_eq!(
        lines,
        [
            (3, "input.beneficiary.reference"),
            (4, "decision_date"),
            (5, "envelope")
        ]
    );
    // Line 2 was fine, yet nothing was written.
    let cnfs = envelope_by_code(&t.db, "FR-CNFS").await.unwrap().unwrap();
    assert_eq!(
        consumption(&t.db, cnfs.id).await.unwrap().committed,
        Money::ZERO
    );
    // Over the envelope: refused at write time, rolled back whole.
    let small = root_envelope(&t, "T-SMALL", Money::euros(1_000)).await;
    let _ = small;
    let file = write_file(
        "envelope,beneficiary_kind,beneficiary_ref,amount,decision_date,signed_on\n\
         T-SMALL,hub,hub:3,600,2021-05-02,2021-05-03\n\
         T-SMALL,hub,hub:4,600,2021-05-02,2021-05-03\n",
    );
    let mut report = Vec::new();
    let err =
        maillage_funding::import::import_grants(&t.db, &admin(), &Fixture, file.path(), &mut |l| {
            report.push(l.clone())
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "rows_rejected");
    assert!(
        report
            .iter()
            .any(|l| l.line == 3 && l.outcome == "rejected")
    );
    assert_eq!(
        consumption(&t.db, small).await.unwrap().committed,
        Money::ZERO
    );
}

#[tokio::test]
async fn a_pass_file_imports_into_the_pass_envelope_by_month() {
    let t = env().await;
    let file = write_file(
        "collectivite,department,amount,signed_on,vouchers_issued,vouchers_used,vouchers_on\n\
         Département de la Gironde,33,500000,2021-02-15,10000,2500,2021-06-30\n\
         Métropole de Lyon,69,300000,2021-04-01,,,\n",
    );
    let mut report = Vec::new();
    let summary = maillage_funding::import::import_pass(&t.db, &admin(), file.path(), &mut |l| {
        report.push(l.clone())
    })
    .await
    .unwrap();
    assert_eq!((summary.rows, summary.created), (2, 2));
    let envelope = envelope_by_code(&t.db, "PASS").await.unwrap().unwrap();
    let months = maillage_funding::consumption_by_month(&t.db, envelope.id)
        .await
        .unwrap();
    assert_eq!(
        months
            .iter()
            .map(|m| (m.month, m.committed))
            .collect::<Vec<_>>(),
        [
            (day("2021-02-01"), Money::euros(500_000)),
            (day("2021-04-01"), Money::euros(300_000))
        ]
    );
    let c = consumption(&t.db, envelope.id).await.unwrap();
    assert_eq!((c.committed, c.achieved), (Money::euros(800_000), 2));
}
