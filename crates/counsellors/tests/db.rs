//! Counsellors services on a real database: SQLite in memory by default, a fresh PostgreSQL database per test when
//! `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use maillage_core::actor::HubScope;
use maillage_core::pagination::PageRequest;
use maillage_core::{Actor, DepartmentCode, ErrorCode, Role, Siret, SiteId};
use maillage_counsellors::export::{
    CounsellorList, ExportScope, export_counsellors, export_structures,
};
use maillage_counsellors::import::{
    ImportSummary, ReportLine, import_counsellors, import_structures,
};
use maillage_counsellors::{
    CommitteeDecision, CounsellorFilter, CounsellorParts, CounsellorStatus, CounsellorsError,
    FundingKind, NewCounsellor, NewPost, NewStructure, PersonalData, PostPatch, StructureFilter,
    StructureKind, create_counsellor, create_post, create_structure, list_counsellors,
    list_structures, set_assignments, statistics_by_department, update_counsellor, update_post,
};
use maillage_testkit::TestDb;
use std::path::PathBuf;

struct Env {
    t: TestDb,
    dir: tempfile::TempDir,
}

async fn env() -> Env {
    let t = TestDb::new().await;
    maillage_territories::seed_reference_data(&t.db)
        .await
        .unwrap();
    Env {
        t,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Env {
    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

fn dep(code: &str) -> DepartmentCode {
    DepartmentCode::parse(code).unwrap()
}

/// A valid SIRET (Luhn key) built from a number.
fn siret(n: u64) -> String {
    let base = format!("{n:013}");
    for check in 0..10 {
        let candidate = format!("{base}{check}");
        if Siret::parse(&candidate).is_ok() {
            return candidate;
        }
    }
    unreachable!()
}

async fn coordinator(t: &TestDb, slug: &str) -> Actor {
    let hub = maillage_territories::hub_by_slug(&t.db, slug)
        .await
        .unwrap()
        .unwrap();
    let scope: HubScope = maillage_territories::hub_scope(&t.db, hub.id)
        .await
        .unwrap();
    Actor::hub_coordinator(scope, slug)
}

fn structure(n: u64, department: &str, kind: StructureKind) -> NewStructure {
    NewStructure {
        siret: Siret::parse(&siret(n)).unwrap(),
        name: format!("Structure {n}"),
        kind,
        address: None,
        postal_code: None,
        commune: None,
        department: dep(department),
        france_services: false,
        zrr: false,
        qpv: false,
    }
}

fn counsellor(external_id: &str, structure: maillage_counsellors::StructureId) -> NewCounsellor {
    NewCounsellor {
        external_id: external_id.to_owned(),
        structure_id: structure,
        post_id: None,
        personal: PersonalData {
            first_name: "Camille".to_owned(),
            last_name: "Martin".to_owned(),
            email: None,
            personal_email: None,
            phone: Some("0478000000".to_owned()),
        },
        status: CounsellorStatus::Active,
        recruited_on: None,
        training_started_on: None,
        active_since: None,
        ended_on: None,
        contract_type: None,
        contract_start: None,
        contract_end: None,
        training_completed_on: None,
        pix_certified: false,
        host_share: 25,
        is_coordinator: false,
        coordinator_id: None,
    }
}

#[tokio::test]
async fn funding_kind_follows_the_structure_kind() {
    for kind in StructureKind::ALL {
        let expected = match kind {
            StructureKind::Association | StructureKind::OtherPrivate => FundingKind::Private,
            _ => FundingKind::Public,
        };
        assert_eq!(kind.funding_kind(), expected, "{kind}");
        assert_eq!(StructureKind::parse(kind.as_str()), Some(*kind));
    }
    assert_eq!(
        StructureKind::parse("Autre collectivité"),
        Some(StructureKind::OtherCollectivity)
    );
}

#[tokio::test]
async fn time_shares_never_exceed_one_hundred_percent() {
    let e = env().await;
    let admin = Actor::cli();
    let s = create_structure(&e.t.db, &admin, structure(1, "69", StructureKind::Commune))
        .await
        .unwrap();
    let c = create_counsellor(&e.t.db, &admin, counsellor("cn-1", s.id))
        .await
        .unwrap();
    assert_eq!(c.version, 1);

    // 25 % host + 76 % at a site = 101 %: refused, nothing written.
    let err = set_assignments(&e.t.db, &admin, c.id, c.version, 25, &[(SiteId(1), 76)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "time_share_exceeded");
    assert!(err.is_user_error());
    let again = maillage_counsellors::get_counsellor(&e.t.db, c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.version, 1, "a refused change leaves the version");
    assert!(
        maillage_counsellors::assignments_of_counsellors(&e.t.db, &[c.id])
            .await
            .unwrap()
            .is_empty()
    );

    // Exactly 100 % is fine.
    let c = set_assignments(
        &e.t.db,
        &admin,
        c.id,
        1,
        25,
        &[(SiteId(1), 50), (SiteId(2), 25)],
    )
    .await
    .unwrap();
    assert_eq!(c.version, 2);
    let a = maillage_counsellors::assignments_of_counsellors(&e.t.db, &[c.id])
        .await
        .unwrap();
    assert_eq!(a.iter().map(|a| a.share).sum::<i32>(), 75);

    // Raising the host share alone past 100 % is refused too.
    let err = update_counsellor(&e.t.db, &admin, c.id, 2, |n| n.host_share = 26)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "time_share_exceeded");

    // A stale version is refused before anything else.
    let err = set_assignments(&e.t.db, &admin, c.id, 1, 0, &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "stale_version");

    // Shares out of range and duplicate sites are input errors.
    let err = set_assignments(&e.t.db, &admin, c.id, 2, 0, &[(SiteId(3), 0)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_value");
    let err = set_assignments(
        &e.t.db,
        &admin,
        c.id,
        2,
        0,
        &[(SiteId(3), 10), (SiteId(3), 10)],
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "invalid_value");

    // The audit trail has the creation and the assignment, not the personal data.
    let audit = maillage_access::list_audit(
        &e.t.db,
        &admin,
        &maillage_access::AuditFilter {
            entity_type: Some("counsellor".to_owned()),
            ..Default::default()
        },
        &PageRequest::new(Some(10), None).unwrap(),
    )
    .await
    .unwrap();
    let actions: Vec<&str> = audit.items.iter().map(|(_, r)| r.action.as_str()).collect();
    assert_eq!(actions, ["assign", "create"]);
    assert!(
        !audit
            .items
            .iter()
            .any(|(_, r)| r.changes.to_string().contains("Martin"))
    );
}

#[tokio::test]
async fn concurrent_assignments_cannot_both_pass_the_check() {
    let e = env().await;
    let admin = Actor::cli();
    let s = create_structure(&e.t.db, &admin, structure(2, "69", StructureKind::Commune))
        .await
        .unwrap();
    let c = create_counsellor(&e.t.db, &admin, counsellor("cn-2", s.id))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        set_assignments(&e.t.db, &admin, c.id, 1, 25, &[(SiteId(1), 75)]),
        set_assignments(&e.t.db, &admin, c.id, 1, 25, &[(SiteId(2), 75)]),
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one succeeds: {a:?} {b:?}");
    let err = a.err().or(b.err()).unwrap();
    assert_eq!(err.code(), "stale_version");
    let total: i32 = maillage_counsellors::assignments_of_counsellors(&e.t.db, &[c.id])
        .await
        .unwrap()
        .iter()
        .map(|a| a.share)
        .sum();
    assert_eq!(total, 75);
}

#[tokio::test]
async fn personal_data_and_writes_follow_the_territory() {
    let e = env().await;
    let admin = Actor::cli();
    let hinaura = coordinator(&e.t, "hinaura").await;
    let sud = coordinator(&e.t, "hub-du-sud").await;
    let s = create_structure(
        &e.t.db,
        &hinaura,
        structure(3, "69", StructureKind::Association),
    )
    .await
    .unwrap();
    assert_eq!(s.funding_kind(), FundingKind::Private);
    let c = create_counsellor(&e.t.db, &hinaura, counsellor("cn-3", s.id))
        .await
        .unwrap();
    assert!(c.personal_for(&hinaura).is_some());
    assert!(c.personal_for(&admin).is_some());
    assert!(c.personal_for(&sud).is_none());
    assert!(c.personal_for(&Actor::anonymous()).is_none());
    assert!(
        c.personal_for(&Actor::with_role(Role::Partner, "app"))
            .is_none()
    );

    // Writes outside the hub's departments are forbidden (a GraphQL error, not a user error).
    let err = create_structure(&e.t.db, &sud, structure(4, "69", StructureKind::Commune))
        .await
        .unwrap_err();
    assert!(matches!(err, CounsellorsError::Forbidden(_)));
    assert!(!err.is_user_error());
    let err = update_counsellor(&e.t.db, &sud, c.id, 1, |n| n.pix_certified = true)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let err = create_structure(
        &e.t.db,
        &Actor::with_role(Role::Partner, "app"),
        structure(5, "13", StructureKind::Commune),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    // Same SIRET twice.
    let err = create_structure(&e.t.db, &admin, structure(3, "69", StructureKind::Commune))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "already_exists");
}

#[tokio::test]
async fn posts_coordinators_filters_and_statistics() {
    let e = env().await;
    let admin = Actor::cli();
    let commune = create_structure(&e.t.db, &admin, structure(10, "69", StructureKind::Commune))
        .await
        .unwrap();
    let asso = create_structure(
        &e.t.db,
        &admin,
        structure(11, "13", StructureKind::Association),
    )
    .await
    .unwrap();
    let post = create_post(
        &e.t.db,
        &admin,
        commune.id,
        NewPost {
            renewal: false,
            requested: 3,
            granted: 0,
            decision: CommitteeDecision::Pending,
            committee_date: None,
            agreement_start: None,
            agreement_end: None,
        },
    )
    .await
    .unwrap();
    // Granting more than requested, or without an accepted decision, is refused.
    let err = update_post(
        &e.t.db,
        &admin,
        post.id,
        1,
        PostPatch {
            granted: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "invalid_value");
    let post = update_post(
        &e.t.db,
        &admin,
        post.id,
        1,
        PostPatch {
            granted: Some(2),
            decision: Some(CommitteeDecision::Accepted),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((post.version, post.data.granted), (2, 2));

    let mut lead = counsellor("lead", commune.id);
    lead.is_coordinator = true;
    lead.post_id = Some(post.id);
    let lead = create_counsellor(&e.t.db, &admin, lead).await.unwrap();
    let mut led = counsellor("led", asso.id);
    led.coordinator_id = Some(lead.id);
    led.status = CounsellorStatus::InTraining;
    let led = create_counsellor(&e.t.db, &admin, led).await.unwrap();
    // A post of another structure, or a non-coordinator as coordinator, is refused.
    let mut bad = counsellor("bad", asso.id);
    bad.post_id = Some(post.id);
    assert_eq!(
        create_counsellor(&e.t.db, &admin, bad)
            .await
            .unwrap_err()
            .code(),
        "invalid_value"
    );
    let mut bad = counsellor("bad", asso.id);
    bad.coordinator_id = Some(led.id);
    assert_eq!(
        create_counsellor(&e.t.db, &admin, bad)
            .await
            .unwrap_err()
            .code(),
        "invalid_value"
    );
    let coordinated = maillage_counsellors::coordinated_by(&e.t.db, &[lead.id])
        .await
        .unwrap();
    assert_eq!(
        coordinated.iter().map(|c| c.id).collect::<Vec<_>>(),
        [led.id]
    );
    let err = update_counsellor(&e.t.db, &admin, lead.id, 1, |n| n.is_coordinator = false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_value");

    set_assignments(&e.t.db, &admin, lead.id, 1, 50, &[(SiteId(7), 50)])
        .await
        .unwrap();

    let page = PageRequest::new(Some(10), None).unwrap().with_total(true);
    let list = |f: CounsellorFilter| {
        let db = e.t.db.clone();
        let page = page.clone();
        async move {
            list_counsellors(&db, &f, &page)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|(_, c)| c.data.external_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(CounsellorFilter::default()).await, ["lead", "led"]);
    assert_eq!(
        list(CounsellorFilter {
            hub: Some("hinaura".to_owned()),
            ..Default::default()
        })
        .await,
        ["lead"]
    );
    assert_eq!(
        list(CounsellorFilter {
            statuses: vec![CounsellorStatus::InTraining],
            ..Default::default()
        })
        .await,
        ["led"]
    );
    assert_eq!(
        list(CounsellorFilter {
            structure_kinds: vec![StructureKind::Association],
            ..Default::default()
        })
        .await,
        ["led"]
    );
    assert_eq!(
        list(CounsellorFilter {
            without_site: true,
            ..Default::default()
        })
        .await,
        ["led"]
    );
    let err = list_counsellors(
        &e.t.db,
        &CounsellorFilter {
            hub: Some("nope".to_owned()),
            ..Default::default()
        },
        &page,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "unknown_value");
    let structures = list_structures(
        &e.t.db,
        &StructureFilter {
            kinds: vec![StructureKind::Commune],
            ..Default::default()
        },
        &page,
    )
    .await
    .unwrap();
    assert_eq!(structures.total_count, Some(1));

    // Pages follow ids with opaque cursors.
    let first = list_counsellors(
        &e.t.db,
        &CounsellorFilter::default(),
        &PageRequest::new(Some(1), None).unwrap(),
    )
    .await
    .unwrap();
    assert!(first.has_next_page);
    let after = first.items[0].0.as_str().to_owned();
    let second = list_counsellors(
        &e.t.db,
        &CounsellorFilter::default(),
        &PageRequest::new(Some(1), Some(&after)).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(second.items[0].1.data.external_id, "led");

    let stats = statistics_by_department(&e.t.db).await.unwrap();
    let rhone = &stats[&dep("69")];
    assert_eq!(
        (
            rhone.posts_granted,
            rhone.active,
            rhone.in_training,
            rhone.without_site
        ),
        (2, 1, 0, 0)
    );
    let bdr = &stats[&dep("13")];
    assert_eq!(
        (
            bdr.posts_granted,
            bdr.active,
            bdr.in_training,
            bdr.without_site
        ),
        (0, 0, 1, 1)
    );
}

const STRUCTURES_HEADER: &str = "siret;nom;type;departement;code_postal;france_services;zrr;qpv;postes_demandes;postes_accordes;decision_comite;date_comite;colonne_inconnue\n";

fn report_collector(lines: &mut Vec<ReportLine>) -> impl FnMut(&ReportLine) + Send + '_ {
    move |l: &ReportLine| lines.push(l.clone())
}

#[tokio::test]
async fn import_accounts_for_every_row_and_reimport_changes_nothing() {
    let e = env().await;
    let admin = Actor::cli();
    let structures = format!(
        "{STRUCTURES_HEADER}\
         {s1};Mairie de Lyon;commune;69;69001;oui;non;non;3;2;validee;2021-01-15;x\n\
         {s2};Emmaüs Connect;association;13;13001;non;non;oui;;;;;x\n\
         12345678901234;Mauvais SIRET;commune;69;;;;;;;;;x\n\
         {s3};Type inconnu;mairie;69;;;;;;;;;x\n\
         {s4};Trop accordé;epci;01;;;;;1;5;validee;;x\n\
         {s1};Doublon;commune;69;;;;;;;;;x\n",
        s1 = siret(100),
        s2 = siret(101),
        s3 = siret(102),
        s4 = siret(103),
    );
    let path = e.write("structures.csv", &structures);
    let mut lines = Vec::new();
    let summary = import_structures(&e.t.db, &admin, &path, &mut report_collector(&mut lines))
        .await
        .unwrap();
    assert_eq!(summary.rows, 6);
    assert_eq!((summary.created, summary.rejected), (2, 4));
    assert_eq!(summary.stored() + summary.rejected, summary.rows);
    assert_eq!(summary.unknown_columns, ["colonne_inconnue"]);
    let rejected_lines: std::collections::BTreeSet<u64> = lines.iter().map(|l| l.line).collect();
    assert_eq!(rejected_lines.into_iter().collect::<Vec<_>>(), [4, 5, 6, 7]);
    assert!(lines.iter().any(|l| l.field == "siret" && l.line == 4));
    assert!(lines.iter().any(|l| l.field == "type" && l.line == 5));
    assert!(
        lines
            .iter()
            .any(|l| l.line == 7 && l.reason.contains("duplicate"))
    );

    let counsellors = format!(
        "id,siret_structure,prenom,nom,statut,email,telephone,part_structure,coordinateur,id_coordinateur,poste,pix,date_debut_contrat,date_fin_contrat\n\
         c-2,{s1},Léa,Durand,actif,lea@example.org,04 78 00 00 01,25,non,c-1,initial,oui,2021-03-01,2023-02-28\n\
         c-1,{s1},Ali,Benali,en_formation,,,,oui,,,,,\n\
         c-3,{s2},Zoé,Petit,recrute,,,,,,,,,\n\
         c-4,{s9},Sans,Structure,actif,,,,,,,,,\n\
         c-5,{s1},Mauvais,Statut,en_vacances,,,,,,,,,\n\
         c-6,{s1},Part,Excessive,actif,,,101,,,,,,\n\
         c-7,{s1},Contrat,Inverse,actif,,,,,,,,2022-01-01,2021-01-01\n\
         c-8,{s2},Mail,Faux,actif,pas-un-mail,,,,,,,,\n",
        s1 = siret(100),
        s2 = siret(101),
        s9 = siret(999),
    );
    let cpath = e.write("counsellors.csv", &counsellors);
    let mut clines = Vec::new();
    let csummary = import_counsellors(&e.t.db, &admin, &cpath, &mut report_collector(&mut clines))
        .await
        .unwrap();
    assert_eq!(csummary.rows, 8);
    assert_eq!((csummary.created, csummary.rejected), (3, 5), "{clines:#?}");
    assert_eq!(csummary.stored() + csummary.rejected, csummary.rows);
    let mut rejected: Vec<u64> = clines.iter().map(|l| l.line).collect();
    rejected.dedup();
    rejected.sort_unstable();
    assert_eq!(rejected, [5, 6, 7, 8, 9]);

    // Again: every stored row unchanged, the same rejections, nothing written.
    let before = e.t.statements();
    let _ = before;
    let again: ImportSummary = import_structures(&e.t.db, &admin, &path, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            again.created,
            again.updated,
            again.unchanged,
            again.rejected
        ),
        (0, 0, 2, 4)
    );
    let cagain = import_counsellors(&e.t.db, &admin, &cpath, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            cagain.created,
            cagain.updated,
            cagain.unchanged,
            cagain.rejected
        ),
        (0, 0, 3, 5)
    );

    // The coordinator link and the post were resolved.
    let all = list_counsellors(
        &e.t.db,
        &CounsellorFilter::default(),
        &PageRequest::new(Some(10), None).unwrap(),
    )
    .await
    .unwrap();
    let c2 = all
        .items
        .iter()
        .map(|(_, c)| c)
        .find(|c| c.data.external_id == "c-2")
        .unwrap();
    let c1 = all
        .items
        .iter()
        .map(|(_, c)| c)
        .find(|c| c.data.external_id == "c-1")
        .unwrap();
    assert_eq!(c2.data.coordinator_id, Some(c1.id));
    assert!(c2.data.post_id.is_some());
    assert!(c2.data.pix_certified);

    // A file missing a required column is refused whole.
    let bad = e.write("bad.csv", "siret,nom\n1,2\n");
    let err = import_structures(&e.t.db, &admin, &bad, &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_file");

    // A hub coordinator's rows outside its departments are rejected, not stored.
    let sud = coordinator(&e.t, "hub-du-sud").await;
    let mut slines = Vec::new();
    let s = import_structures(&e.t.db, &sud, &path, &mut report_collector(&mut slines))
        .await
        .unwrap();
    assert_eq!((s.unchanged, s.rejected), (1, 5));

    // Export of the territory round-trips through the import: nothing changes.
    let mut out = Vec::new();
    let n = export_counsellors(
        &e.t.db,
        &admin,
        CounsellorList::Territory,
        &ExportScope::default(),
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(n, 3);
    let exported = e.write("export.csv", std::str::from_utf8(&out).unwrap());
    let round = import_counsellors(&e.t.db, &admin, &exported, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        (round.unchanged, round.changes(), round.rejected),
        (3, 0, 0)
    );
}

#[tokio::test]
async fn exports_follow_the_callers_territory() {
    let e = env().await;
    let admin = Actor::cli();
    let lyon = create_structure(&e.t.db, &admin, structure(20, "69", StructureKind::Commune))
        .await
        .unwrap();
    let marseille = create_structure(&e.t.db, &admin, structure(21, "13", StructureKind::Gip))
        .await
        .unwrap();
    let a = create_counsellor(&e.t.db, &admin, counsellor("a", lyon.id))
        .await
        .unwrap();
    create_counsellor(&e.t.db, &admin, counsellor("b", lyon.id))
        .await
        .unwrap();
    create_counsellor(&e.t.db, &admin, counsellor("c", marseille.id))
        .await
        .unwrap();
    set_assignments(&e.t.db, &admin, a.id, 1, 25, &[(SiteId(5), 75)])
        .await
        .unwrap();

    let hinaura = coordinator(&e.t, "hinaura").await;
    let csv = |list| {
        let db = e.t.db.clone();
        let actor = hinaura.clone();
        async move {
            let mut out = Vec::new();
            export_counsellors(&db, &actor, list, &ExportScope::default(), &mut out)
                .await
                .unwrap();
            String::from_utf8(out).unwrap()
        }
    };
    let territory = csv(CounsellorList::Territory).await;
    assert_eq!(territory.lines().count(), 3, "{territory}");
    assert!(territory.contains("Camille"));
    assert!(territory.contains("5:75"));
    let without = csv(CounsellorList::WithoutSite).await;
    assert_eq!(without.lines().count(), 2, "{without}");
    assert!(without.lines().nth(1).unwrap().starts_with("b,"));

    let err = export_counsellors(
        &e.t.db,
        &Actor::anonymous(),
        CounsellorList::Territory,
        &ExportScope::default(),
        Vec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "forbidden");

    // BdT reviewers may export; structures are public.
    let mut out = Vec::new();
    let rows = export_structures(
        &e.t.db,
        &Actor::anonymous(),
        &ExportScope::default(),
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(rows, 2);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(",public,2"), "{text}");
}

fn day(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The fixture of known periods: three counsellors in the Rhône, one in the Ain.
/// - `a`: recruited 2021-01-10, in training 2021-02-01, active since 2021-03-01, still active;
/// - `b`: active 2021-06-15, contract ended 2022-01-01 (excluded: not active in January 2022);
/// - `c`: created recruited on 2021-09-01, then moved to active on 2021-11-20 by an update;
/// - `d` (Ain): active since 2022-05-01.
#[tokio::test]
async fn counsellors_active_per_month_follow_their_status_periods() {
    use maillage_counsellors::history::{StatusPeriod, status_history};
    use maillage_counsellors::statistics::{CounsellorDimension, counsellors_per_month};
    use maillage_territories::statistics::MonthRange;
    let e = env().await;
    let admin = Actor::cli();
    let rhone = create_structure(&e.t.db, &admin, structure(11, "69", StructureKind::Commune))
        .await
        .unwrap();
    let ain = create_structure(
        &e.t.db,
        &admin,
        structure(12, "01", StructureKind::Association),
    )
    .await
    .unwrap();
    let mut a = counsellor("cn-a", rhone.id);
    a.recruited_on = Some(day("2021-01-10"));
    a.training_started_on = Some(day("2021-02-01"));
    a.active_since = Some(day("2021-03-01"));
    let a = create_counsellor(&e.t.db, &admin, a).await.unwrap();
    let mut b = counsellor("cn-b", rhone.id);
    b.status = CounsellorStatus::ContractEnded;
    b.active_since = Some(day("2021-06-15"));
    b.ended_on = Some(day("2022-01-01"));
    create_counsellor(&e.t.db, &admin, b).await.unwrap();
    let mut c = counsellor("cn-c", rhone.id);
    c.status = CounsellorStatus::Recruited;
    c.recruited_on = Some(day("2021-09-01"));
    let c = create_counsellor(&e.t.db, &admin, c).await.unwrap();
    let c = update_counsellor(&e.t.db, &admin, c.id, c.version, |n| {
        n.status = CounsellorStatus::Active;
        n.active_since = Some(day("2021-11-20"));
    })
    .await
    .unwrap();
    let mut d = counsellor("cn-d", ain.id);
    d.active_since = Some(day("2022-05-01"));
    create_counsellor(&e.t.db, &admin, d).await.unwrap();

    assert_eq!(
        status_history(&e.t.db, a.id).await.unwrap(),
        vec![
            StatusPeriod {
                status: CounsellorStatus::Recruited,
                started_on: day("2021-01-10"),
                ended_on: Some(day("2021-02-01")),
            },
            StatusPeriod {
                status: CounsellorStatus::InTraining,
                started_on: day("2021-02-01"),
                ended_on: Some(day("2021-03-01")),
            },
            StatusPeriod {
                status: CounsellorStatus::Active,
                started_on: day("2021-03-01"),
                ended_on: None,
            },
        ]
    );
    assert_eq!(
        status_history(&e.t.db, c.id).await.unwrap(),
        vec![
            StatusPeriod {
                status: CounsellorStatus::Recruited,
                started_on: day("2021-09-01"),
                ended_on: Some(day("2021-11-20")),
            },
            StatusPeriod {
                status: CounsellorStatus::Active,
                started_on: day("2021-11-20"),
                ended_on: None,
            },
        ]
    );

    let months = MonthRange::parse(
        "2021-01",
        "2022-12",
        &maillage_core::error::FieldPath::new("months"),
    )
    .unwrap();
    // Expected, month by month, from the periods above.
    let expected = |m: &str| -> i64 {
        let mut n = 0;
        if m >= "2021-03" {
            n += 1; // a
        }
        if ("2021-06".."2022-01").contains(&m) {
            n += 1; // b
        }
        if m >= "2021-11" {
            n += 1; // c
        }
        if m >= "2022-05" {
            n += 1; // d
        }
        n
    };
    let all = counsellors_per_month(
        &e.t.db,
        &CounsellorFilter::default(),
        CounsellorStatus::Active,
        &months,
        None,
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 24);
    for b in &all {
        let m = b.keys[0].clone().unwrap();
        assert_eq!(b.count, expected(&m), "active in {m}");
    }
    assert_eq!(all[0].count, 0);
    assert_eq!(all[2].count, 1, "March 2021: a");
    assert_eq!(all[11].count, 3, "December 2021: a, b, c");
    assert_eq!(all[12].count, 2, "January 2022: b has left");
    assert_eq!(all[23].count, 3, "December 2022: a, c, d");

    // Split by department: the Ain's only counsellor starts in May 2022.
    let split = counsellors_per_month(
        &e.t.db,
        &CounsellorFilter::default(),
        CounsellorStatus::Active,
        &months,
        Some(CounsellorDimension::Department),
    )
    .await
    .unwrap();
    let ain_months: Vec<(String, i64)> = split
        .iter()
        .filter(|b| b.keys[1].as_deref() == Some("01"))
        .map(|b| (b.keys[0].clone().unwrap(), b.count))
        .collect();
    assert_eq!(ain_months.len(), 24);
    assert_eq!(ain_months.iter().filter(|(_, n)| *n == 1).count(), 8);
    assert_eq!(ain_months[16], ("2022-05".to_owned(), 1));

    // Filtered like the list: only the Rhône.
    let rhone_only = counsellors_per_month(
        &e.t.db,
        &CounsellorFilter {
            departments: Some(vec![dep("69")]),
            ..CounsellorFilter::default()
        },
        CounsellorStatus::Active,
        &months,
        None,
    )
    .await
    .unwrap();
    assert_eq!(rhone_only[23].count, 2);
    // In training: only a, in February 2021.
    let training = counsellors_per_month(
        &e.t.db,
        &CounsellorFilter::default(),
        CounsellorStatus::InTraining,
        &months,
        None,
    )
    .await
    .unwrap();
    let in_training: Vec<&str> = training
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| b.keys[0].as_deref().unwrap())
        .collect();
    assert_eq!(in_training, ["2021-02"]);
}

#[tokio::test]
async fn counsellor_statistics_equal_the_counts_of_the_list() {
    use maillage_counsellors::statistics::{CounsellorDimension, counsellor_statistics};
    let e = env().await;
    let admin = Actor::cli();
    let mut n = 20;
    for (department, kind, statuses) in [
        (
            "69",
            StructureKind::Commune,
            &[CounsellorStatus::Active, CounsellorStatus::Recruited][..],
        ),
        (
            "01",
            StructureKind::Association,
            &[CounsellorStatus::Active][..],
        ),
        (
            "13",
            StructureKind::Epci,
            &[CounsellorStatus::InTraining, CounsellorStatus::Active][..],
        ),
    ] {
        n += 1;
        let s = create_structure(&e.t.db, &admin, structure(n, department, kind))
            .await
            .unwrap();
        for (i, status) in statuses.iter().enumerate() {
            let mut c = counsellor(&format!("cn-{n}-{i}"), s.id);
            c.status = *status;
            create_counsellor(&e.t.db, &admin, c).await.unwrap();
        }
    }
    let table = counsellor_statistics(
        &e.t.db,
        &CounsellorFilter::default(),
        &[CounsellorDimension::Department, CounsellorDimension::Status],
        None,
        true,
    )
    .await
    .unwrap();
    // Every department × every status, with zeros.
    assert_eq!(table.len(), 101 * CounsellorStatus::ALL.len());
    for b in &table {
        let department = dep(b.keys[0].as_deref().unwrap());
        let status = CounsellorStatus::parse(b.keys[1].as_deref().unwrap()).unwrap();
        let listed = list_counsellors(
            &e.t.db,
            &CounsellorFilter {
                departments: Some(vec![department]),
                statuses: vec![status],
                ..CounsellorFilter::default()
            },
            &PageRequest::new(Some(100), None).unwrap().with_total(true),
        )
        .await
        .unwrap();
        assert_eq!(Some(b.count as u64), listed.total_count, "{:?}", b.keys);
    }
    let by_hub = counsellor_statistics(
        &e.t.db,
        &CounsellorFilter::default(),
        &[CounsellorDimension::Hub],
        None,
        false,
    )
    .await
    .unwrap();
    let hinaura = maillage_territories::hub_by_slug(&e.t.db, "hinaura")
        .await
        .unwrap()
        .unwrap();
    let row = by_hub
        .iter()
        .find(|b| b.keys[0] == Some(hinaura.id.0.to_string()))
        .unwrap();
    assert_eq!(row.count, 3, "the Rhône's two and the Ain's one");
}

/// The fields of a refused value, as the rules name them.
fn rule_fields(e: &CounsellorsError) -> Vec<String> {
    e.field_problems()
        .unwrap_or_else(|| panic!("not refused by the input rules: {e}"))
        .iter()
        .map(|p| p.field.to_string())
        .collect()
}

#[tokio::test]
async fn the_services_refuse_values_that_break_the_input_rules() {
    let e = env().await;
    let admin = Actor::cli();
    let mut bad = structure(300, "69", StructureKind::Commune);
    bad.name = "   ".to_owned();
    bad.commune = Some("c".repeat(201));
    let err = create_structure(&e.t.db, &admin, bad).await.unwrap_err();
    assert_eq!(err.code(), maillage_core::Code::InvalidValue);
    assert!(err.is_user_error());
    assert_eq!(rule_fields(&err), ["name", "commune"]);

    let mut good = structure(301, "69", StructureKind::Commune);
    good.name = "  Mairie  ".to_owned();
    let s = create_structure(&e.t.db, &admin, good).await.unwrap();
    assert_eq!(s.data.name, "Mairie", "stored trimmed");

    let mut c = counsellor("rules-1", s.id);
    c.personal.phone = Some("call me".to_owned());
    c.personal.last_name = String::new();
    c.host_share = 120;
    let err = create_counsellor(&e.t.db, &admin, c).await.unwrap_err();
    assert_eq!(rule_fields(&err), ["lastName", "phone", "hostShare"]);

    let mut c = counsellor("rules-2", s.id);
    c.personal.phone = Some("04 78 00 00 00".to_owned());
    let stored = create_counsellor(&e.t.db, &admin, c).await.unwrap();
    assert_eq!(stored.data.personal.phone.as_deref(), Some("0478000000"));
    let err = update_counsellor(&e.t.db, &admin, stored.id, stored.version, |n| {
        n.personal.first_name = "x".repeat(101);
    })
    .await
    .unwrap_err();
    assert_eq!(rule_fields(&err), ["firstName"]);
    let err = set_assignments(
        &e.t.db,
        &admin,
        stored.id,
        stored.version,
        120,
        &[(SiteId(1), 0), (SiteId(1), 10)],
    )
    .await
    .unwrap_err();
    assert_eq!(
        rule_fields(&err),
        ["hostShare", "assignments[0].share", "assignments[1].siteId"]
    );

    let post = NewPost {
        renewal: false,
        requested: 1,
        granted: 3,
        decision: CommitteeDecision::Pending,
        committee_date: None,
        agreement_start: None,
        agreement_end: None,
    };
    let err = create_post(&e.t.db, &admin, s.id, post).await.unwrap_err();
    assert_eq!(rule_fields(&err), ["granted"]);
}

#[tokio::test]
async fn an_import_reports_every_broken_rule_of_a_row_at_its_line_and_column() {
    let e = env().await;
    let admin = Actor::cli();
    let structures = format!(
        "siret;nom;type;departement;adresse;code_postal;commune\n\
         {s1};Mairie;commune;69;1 place Bellecour;69002;Lyon\n\
         {s2};{long};commune;69;;6900;{long_commune}\n",
        s1 = siret(400),
        s2 = siret(401),
        long = "n".repeat(301),
        long_commune = "c".repeat(201),
    );
    let path = e.write("structures.csv", &structures);
    let mut lines = Vec::new();
    let summary = import_structures(&e.t.db, &admin, &path, &mut report_collector(&mut lines))
        .await
        .unwrap();
    assert_eq!((summary.created, summary.rejected), (1, 1));
    let at: Vec<(u64, &str)> = lines.iter().map(|l| (l.line, l.field.as_str())).collect();
    assert_eq!(at, [(3, "nom"), (3, "code_postal"), (3, "commune")]);
    assert!(
        lines[0]
            .reason
            .starts_with("nom must have at most 300 characters"),
        "{lines:?}"
    );

    let counsellors = format!(
        "id;siret_structure;prenom;nom;statut;email;telephone;part_structure\n\
         c-1;{s1};Léa;Durand;actif;lea@example.org;+33 4 78 00 00 01;10\n\
         c-2;{s1};;Durand;actif;pas-un-mail;12;150\n",
        s1 = siret(400),
    );
    let path = e.write("counsellors.csv", &counsellors);
    let mut lines = Vec::new();
    let summary = import_counsellors(&e.t.db, &admin, &path, &mut report_collector(&mut lines))
        .await
        .unwrap();
    assert_eq!((summary.created, summary.rejected), (1, 1));
    let at: Vec<(u64, &str)> = lines.iter().map(|l| (l.line, l.field.as_str())).collect();
    assert_eq!(
        at,
        [
            (3, "prenom"),
            (3, "email"),
            (3, "telephone"),
            (3, "part_structure")
        ]
    );
    let page = list_counsellors(
        &e.t.db,
        &CounsellorFilter::default(),
        &PageRequest::new(Some(10), None).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        page.items[0].1.data.personal.phone.as_deref(),
        Some("+33478000001"),
        "stored as the API would store it"
    );
}

/// `counsellors_of_sites` reads the assignments joined with their counsellors in one statement: by site then
/// counsellor, every counsellor equal to its read by id (all its columns), a counsellor at several sites once per
/// site, and a site without counsellors absent.
#[tokio::test]
async fn counsellors_of_sites_join_assignments_and_counsellors_in_one_statement() {
    let e = env().await;
    let admin = Actor::cli();
    let mut counsellors = Vec::new();
    for (n, external_id) in [(1, "cn-a"), (2, "cn-b"), (3, "cn-c")] {
        let s = create_structure(&e.t.db, &admin, structure(n, "69", StructureKind::Commune))
            .await
            .unwrap();
        let mut new = counsellor(external_id, s.id);
        new.personal.email = Some(maillage_core::Email::parse("camille@exemple.fr").unwrap());
        new.contract_type = Some(maillage_counsellors::ContractType::ALL[0]);
        new.recruited_on = Some(day("2024-02-01"));
        counsellors.push(create_counsellor(&e.t.db, &admin, new).await.unwrap());
    }
    let (a, b, c) = (&counsellors[0], &counsellors[1], &counsellors[2]);
    // a works at sites 5 and 3, b at 3, c at 9 (assigned in that order: the result is ordered, not as inserted).
    set_assignments(&e.t.db, &admin, c.id, c.version, 25, &[(SiteId(9), 75)])
        .await
        .unwrap();
    set_assignments(&e.t.db, &admin, b.id, b.version, 25, &[(SiteId(3), 75)])
        .await
        .unwrap();
    set_assignments(
        &e.t.db,
        &admin,
        a.id,
        a.version,
        25,
        &[(SiteId(5), 40), (SiteId(3), 35)],
    )
    .await
    .unwrap();
    let ids = [a.id, b.id, c.id];
    let mut read = Vec::new();
    for id in ids {
        read.push(
            maillage_counsellors::get_counsellor(&e.t.db, id)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let (a, b, c) = (&read[0], &read[1], &read[2]);
    assert!(a.data.personal.email.is_some() && a.data.contract_type.is_some());

    let sites = [SiteId(9), SiteId(4), SiteId(3), SiteId(5)];
    let before = e.t.statements();
    let found = maillage_counsellors::counsellors_of_sites(&e.t.db, &sites, CounsellorParts::Whole)
        .await
        .unwrap();
    assert_eq!(e.t.statements() - before, 1, "one statement");
    let got: Vec<(i32, i32, String)> = found
        .iter()
        .map(|(asg, co)| (asg.site_id.0, asg.share, co.data.external_id.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (3, 35, "cn-a".to_owned()),
            (3, 75, "cn-b".to_owned()),
            (5, 40, "cn-a".to_owned()),
            (9, 75, "cn-c".to_owned()),
        ]
    );
    for (asg, co) in &found {
        assert_eq!(asg.counsellor_id, co.id);
        let expected = [a, b, c].into_iter().find(|x| x.id == co.id).unwrap();
        assert_eq!(co, expected, "the joined counsellor is the one read by id");
    }

    // A brief read gives the same rows in the same order, in one statement; each counsellor equals its whole read
    // once the fields it did not read are given the neutral values `CounsellorParts::Brief` documents.
    let before = e.t.statements();
    let brief = maillage_counsellors::counsellors_of_sites(&e.t.db, &sites, CounsellorParts::Brief)
        .await
        .unwrap();
    assert_eq!(e.t.statements() - before, 1, "one brief statement");
    assert_eq!(brief.len(), found.len());
    for ((ba, bc), (wa, wc)) in brief.iter().zip(&found) {
        assert_eq!(ba, wa);
        assert_eq!(bc.parts, CounsellorParts::Brief);
        let mut neutral = wc.clone();
        neutral.parts = CounsellorParts::Brief;
        neutral.created_at = chrono::DateTime::UNIX_EPOCH;
        neutral.data = NewCounsellor {
            personal: PersonalData {
                first_name: String::new(),
                last_name: String::new(),
                email: None,
                personal_email: None,
                phone: None,
            },
            recruited_on: None,
            training_started_on: None,
            active_since: None,
            ended_on: None,
            contract_type: None,
            contract_start: None,
            contract_end: None,
            training_completed_on: None,
            pix_certified: false,
            host_share: 0,
            ..wc.data.clone()
        };
        assert_eq!(
            bc, &neutral,
            "brief = whole on the brief fields, neutral elsewhere"
        );
    }

    // A site without counsellors, alone, gives nothing; no site runs no statement.
    let only_empty =
        maillage_counsellors::counsellors_of_sites(&e.t.db, &[SiteId(4)], CounsellorParts::Whole)
            .await
            .unwrap();
    assert!(only_empty.is_empty());
    let before = e.t.statements();
    assert!(
        maillage_counsellors::counsellors_of_sites(&e.t.db, &[], CounsellorParts::Brief)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(e.t.statements(), before);
}

/// `maillage_core::db::column`, the positional read of the counsellors' and sites' decoders, on this backend: a NULL
/// is `None` for an optional type and an error for the others, a value of another type is an error, and the values
/// read are the stored ones.
#[tokio::test]
async fn positional_columns_decode_nulls_and_refuse_wrong_types() {
    use maillage_core::db::column;
    use sea_orm::{ConnectionTrait, Statement};
    let e = env().await;
    let sql = "SELECT CAST(NULL AS INTEGER) AS a, CAST(7 AS INTEGER) AS b, 'sept' AS c";
    let row =
        e.t.db
            .query_one_raw(Statement::from_string(e.t.db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(column::<Option<i32>>(&row, 0).unwrap(), None);
    assert!(
        column::<i32>(&row, 0).is_err(),
        "NULL into a non-optional type"
    );
    assert_eq!(column::<i32>(&row, 1).unwrap(), 7);
    assert_eq!(column::<Option<i32>>(&row, 1).unwrap(), Some(7));
    assert_eq!(column::<String>(&row, 2).unwrap(), "sept");
    assert!(column::<i32>(&row, 2).is_err(), "text into an integer");
    assert!(column::<i32>(&row, 3).is_err(), "past the last column");
    // The type check is remembered per Rust type and SQL type: having read text as a String, and an integer as an
    // i32, does not let an integer through as a String, nor text as an i32, on the next rows either.
    for _ in 0..3 {
        assert_eq!(column::<String>(&row, 2).unwrap(), "sept");
        assert!(
            column::<String>(&row, 1).is_err(),
            "an integer into a String"
        );
        assert!(
            column::<Option<String>>(&row, 1).is_err(),
            "an integer into an Option<String>"
        );
        assert_eq!(column::<i32>(&row, 1).unwrap(), 7);
        assert!(column::<i32>(&row, 2).is_err(), "text into an integer");
    }
}
