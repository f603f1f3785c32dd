//! Aidants services on a real database: SQLite in memory by default, a fresh PostgreSQL database per test when
//! `TEST_DATABASE_URL` is set.
//!
//! The CSV fixtures are shared with the end-to-end suite (`tests/fixtures/aidants/`); their known totals are
//! spelled out in `aggregates_sum_across_organisations_to_department_hub_and_region`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use maillage_aidants::export::{export_aidants, export_mandates, export_organisations};
use maillage_aidants::import::{ImportKind, ImportSummary, ReportLine, import_bytes, import_file};
use maillage_aidants::{
    AidantFilter, AidantPatch, AidantStatus, AidantsError, Demarche, MandateDuration, MandateQuery,
    Month, NewOrganisation, OrganisationFilter, OrganisationKind, OrganisationPatch, Territory,
    aidants_by_organisations, aidants_counts, create_organisation, list_aidants,
    list_organisations, mandate_totals, update_aidant, update_organisation,
};
use maillage_core::pagination::PageRequest;
use maillage_core::{Actor, DepartmentCode, ErrorCode, RegionCode, Role, Siret};
use maillage_testkit::TestDb;
use sea_orm::{ConnectionTrait, Statement};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/aidants")
        .join(name)
}

fn dep(code: &str) -> DepartmentCode {
    DepartmentCode::parse(code).unwrap()
}

async fn env() -> TestDb {
    let t = TestDb::new().await;
    maillage_territories::seed_reference_data(&t.db)
        .await
        .unwrap();
    t
}

async fn import(
    t: &TestDb,
    actor: &Actor,
    kind: ImportKind,
    file: &str,
) -> (ImportSummary, Vec<ReportLine>) {
    let mut lines = Vec::new();
    let summary = import_file(&t.db, actor, kind, &fixture(file), &mut |l| {
        lines.push(l.clone())
    })
    .await
    .unwrap_or_else(|e| panic!("import {file}: {e}"));
    (summary, lines)
}

/// Imports the three fixture files as the CLI would.
async fn load_all(t: &TestDb) {
    let cli = Actor::cli();
    import(t, &cli, ImportKind::Organisations, "organisations.csv").await;
    import(t, &cli, ImportKind::Aidants, "aidants.csv").await;
    import(t, &cli, ImportKind::Mandates, "mandates.csv").await;
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

async fn coordinator(t: &TestDb, slug: &str) -> Actor {
    let hub = maillage_territories::hub_by_slug(&t.db, slug)
        .await
        .unwrap()
        .unwrap();
    let scope = maillage_territories::hub_scope(&t.db, hub.id)
        .await
        .unwrap();
    Actor::hub_coordinator(scope, format!("test {slug}"))
}

fn all() -> PageRequest {
    PageRequest::new(Some(100), None).unwrap()
}

#[tokio::test]
async fn files_with_a_column_for_a_person_are_refused_whole_and_nothing_is_written() {
    let t = env().await;
    let cli = Actor::cli();
    // Organisations exist first, so a mandates file would have something to attach to.
    import(&t, &cli, ImportKind::Organisations, "organisations.csv").await;
    let audit_before = count(&t, "audit_log").await;
    for (kind, file, column) in [
        (
            ImportKind::Mandates,
            "mandates-with-usager.csv",
            "nom_usager",
        ),
        (
            ImportKind::Aidants,
            "aidants-with-birth-date.csv",
            "date_de_naissance",
        ),
    ] {
        let err = import_file(&t.db, &cli, kind, &fixture(file), &mut |_| {})
            .await
            .expect_err(file);
        assert!(matches!(err, AidantsError::InvalidFile(_)), "{err:?}");
        assert_eq!(err.code(), "invalid_file");
        let message = err.to_string();
        assert!(message.contains(column), "{message}");
        assert!(message.contains("identity of a person"), "{message}");
        assert!(message.contains("nothing imported"), "{message}");
    }
    // Even a harmless-looking birth date or name column in a mandates file, and any column off the allow-list.
    for header in [
        "prénom",
        "Date de naissance",
        "usager",
        "email",
        "commentaire",
    ] {
        let csv = format!(
            "siret,demarche,mois,duree,crees,renouveles,revoques,actifs_fin_de_mois,{header}\n\
             31000000000011,social,2021-03,1y,5,1,0,5,x\n"
        );
        let err = import_bytes(
            &t.db,
            &cli,
            ImportKind::Mandates,
            csv.as_bytes(),
            &mut |_| {},
        )
        .await
        .expect_err(header);
        assert_eq!(err.code(), "invalid_file", "{header}");
    }
    assert_eq!(count(&t, "mandate_month").await, 0);
    assert_eq!(count(&t, "aidant").await, 0);
    assert_eq!(count(&t, "audit_log").await, audit_before);
}

#[tokio::test]
async fn imports_account_for_every_row_and_a_second_import_changes_nothing() {
    let t = env().await;
    let cli = Actor::cli();
    let (orgs, report) = import(&t, &cli, ImportKind::Organisations, "organisations.csv").await;
    assert_eq!(
        (orgs.rows, orgs.created, orgs.rejected),
        (7, 5, 2),
        "{report:?}"
    );
    assert_eq!(
        report.iter().map(|l| l.line).collect::<Vec<_>>(),
        vec![7, 8]
    );
    assert_eq!(report[0].field, "siret");
    assert_eq!(report[1].field, "type");

    let (aidants, report) = import(&t, &cli, ImportKind::Aidants, "aidants.csv").await;
    assert_eq!(
        (aidants.rows, aidants.created, aidants.rejected),
        (8, 6, 2),
        "{report:?}"
    );
    assert_eq!(
        report.iter().map(|l| l.line).collect::<Vec<_>>(),
        vec![8, 9]
    );

    let (mandates, report) = import(&t, &cli, ImportKind::Mandates, "mandates.csv").await;
    assert_eq!(
        (mandates.rows, mandates.created, mandates.rejected),
        (11, 8, 3),
        "{report:?}"
    );
    let fields: Vec<&str> = report.iter().map(|l| l.field.as_str()).collect();
    assert_eq!(fields, vec!["demarche", "mois", "mois"]);
    assert!(report[2].reason.contains("line 2"), "{:?}", report[2]);

    let audit = count(&t, "audit_log").await;
    for (kind, file, rows) in [
        (ImportKind::Organisations, "organisations.csv", 7),
        (ImportKind::Aidants, "aidants.csv", 8),
        (ImportKind::Mandates, "mandates.csv", 11),
    ] {
        let (again, _) = import(&t, &cli, kind, file).await;
        assert_eq!(again.changes(), 0, "{file}: {again:?}");
        assert_eq!(again.unchanged + again.rejected, rows, "{file}");
    }
    assert_eq!(
        count(&t, "audit_log").await,
        audit,
        "a no-op import writes nothing, not even audit"
    );
}

#[tokio::test]
async fn aggregates_sum_across_organisations_to_department_hub_and_region() {
    let t = env().await;
    load_all(&t).await;
    let march = Month::parse("2021-03").unwrap();
    let social_march = |territory: Territory| {
        let db = t.db.clone();
        async move {
            let rows = mandate_totals(
                &db,
                &territory,
                &MandateQuery {
                    from: Some(march),
                    to: Some(march),
                    demarche: Some(Demarche::Social),
                    ..MandateQuery::default()
                },
            )
            .await
            .unwrap();
            assert_eq!(rows.len(), 1, "{territory:?}: {rows:?}");
            let c = rows[0].counts;
            (c.created, c.renewed, c.revoked, c.active_at_month_end)
        }
    };
    // Colomiers (31): 5+2 created; CCAS Toulouse (31): 4. Limoux (11): 10. Montpellier (34): 7. Villeurbanne (69): 100.
    assert_eq!(
        social_march(Territory::Department(dep("31"))).await,
        (11, 1, 1, 8)
    );
    assert_eq!(
        social_march(Territory::Department(dep("11"))).await,
        (10, 0, 0, 10)
    );
    assert_eq!(
        social_march(Territory::Hub("rhinocc".to_owned())).await,
        (21, 1, 1, 18)
    );
    assert_eq!(
        social_march(Territory::Region(RegionCode::parse("76").unwrap())).await,
        (28, 1, 1, 25)
    );
    assert_eq!(social_march(Territory::National).await, (128, 1, 1, 125));

    // Every month and démarche of the department, in order.
    let rows = mandate_totals(
        &t.db,
        &Territory::Department(dep("31")),
        &MandateQuery::default(),
    )
    .await
    .unwrap();
    let flat: Vec<(String, Demarche, i64)> = rows
        .iter()
        .map(|r| (r.month.to_string(), r.demarche, r.counts.created))
        .collect();
    assert_eq!(
        flat,
        vec![
            ("2021-03".to_owned(), Demarche::Papiers, 3),
            ("2021-03".to_owned(), Demarche::Social, 11),
            ("2021-04".to_owned(), Demarche::Social, 1),
        ]
    );
    // By duration, for the hub.
    let rows = mandate_totals(
        &t.db,
        &Territory::Hub("rhinocc".to_owned()),
        &MandateQuery {
            demarche: Some(Demarche::Social),
            from: Some(march),
            to: Some(march),
            by_duration: true,
            ..MandateQuery::default()
        },
    )
    .await
    .unwrap();
    let by_duration: Vec<(Option<MandateDuration>, i64)> = rows
        .iter()
        .map(|r| (r.duration, r.counts.created))
        .collect();
    assert_eq!(
        by_duration,
        vec![
            (Some(MandateDuration::OneDay), 2),
            (Some(MandateDuration::OneYear), 9),
            (Some(MandateDuration::SixMonths), 10),
        ]
    );

    // Counts: Bruno works in 31 and 11 and counts once in the hub.
    let counts = |territory: Territory| {
        let db = t.db.clone();
        async move {
            let c = aidants_counts(&db, &territory).await.unwrap();
            (
                c.organisations,
                c.france_services_organisations,
                c.authorised_aidants,
                c.trained_aidants,
            )
        }
    };
    assert_eq!(counts(Territory::Department(dep("31"))).await, (2, 1, 1, 3));
    assert_eq!(
        counts(Territory::Hub("rhinocc".to_owned())).await,
        (3, 2, 1, 3)
    );
    assert_eq!(
        counts(Territory::Region(RegionCode::parse("76").unwrap())).await,
        (4, 2, 2, 4)
    );
    assert_eq!(counts(Territory::National).await, (5, 2, 3, 5));
    let err = aidants_counts(&t.db, &Territory::Hub("nope".to_owned()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_hub");
}

#[tokio::test]
async fn personal_data_is_visible_only_to_authorised_roles_in_their_territory() {
    let t = env().await;
    load_all(&t).await;
    let page = list_aidants(&t.db, &AidantFilter::default(), &all())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 6);
    let rhinocc = coordinator(&t, "rhinocc").await;
    let hinaura = coordinator(&t, "hinaura").await;
    for (_, a) in &page.items {
        let email = a.data.person.email.as_str();
        assert!(a.person_for(&Actor::anonymous()).is_none(), "{email}");
        assert!(
            a.person_for(&Actor::with_role(Role::Partner, "app"))
                .is_none(),
            "{email}"
        );
        assert!(
            a.person_for(&Actor::with_role(Role::AmiApplicant, "x"))
                .is_none(),
            "{email}"
        );
        assert!(a.person_for(&Actor::cli()).is_some(), "{email}");
        let in_occitanie_hub = a
            .departments
            .iter()
            .any(|d| ["11", "31", "32", "65"].contains(&d.as_str()));
        assert_eq!(
            a.person_for(&rhinocc).is_some(),
            in_occitanie_hub,
            "{email}"
        );
        assert_eq!(
            a.person_for(&hinaura).is_some(),
            a.departments.contains(&dep("69")),
            "{email}"
        );
    }
}

#[tokio::test]
async fn filters_by_department_hub_region_and_status() {
    let t = env().await;
    load_all(&t).await;
    let emails = |filter: AidantFilter| {
        let db = t.db.clone();
        async move {
            let page = list_aidants(&db, &filter, &all()).await.unwrap();
            page.items
                .into_iter()
                .map(|(_, a)| {
                    a.data
                        .person
                        .email
                        .as_str()
                        .split('@')
                        .next()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        emails(AidantFilter {
            hub: Some("rhinocc".into()),
            ..Default::default()
        })
        .await,
        vec!["alice.martin", "bruno.petit", "chloe.roux", "david.blanc"]
    );
    assert_eq!(
        emails(AidantFilter {
            hub: Some("rhinocc".into()),
            statuses: vec![AidantStatus::Authorised, AidantStatus::Trained],
            ..Default::default()
        })
        .await,
        vec!["alice.martin", "bruno.petit"]
    );
    assert_eq!(
        emails(AidantFilter {
            departments: vec![dep("11")],
            ..Default::default()
        })
        .await,
        vec!["bruno.petit", "david.blanc"]
    );
    assert_eq!(
        emails(AidantFilter {
            region: Some(RegionCode::parse("84").unwrap()),
            ..Default::default()
        })
        .await,
        vec!["farid.vert"]
    );
    let orgs = list_organisations(
        &t.db,
        &OrganisationFilter {
            hub: Some("rhinocc".into()),
            france_services: Some(true),
            ..Default::default()
        },
        &all().with_total(true),
    )
    .await
    .unwrap();
    assert_eq!(orgs.total_count, Some(2));
    // Paging walks the whole list once.
    let first = list_aidants(
        &t.db,
        &AidantFilter::default(),
        &PageRequest::new(Some(4), None).unwrap(),
    )
    .await
    .unwrap();
    assert!(first.has_next_page);
    let cursor = first.items.last().unwrap().0.clone();
    let second = list_aidants(
        &t.db,
        &AidantFilter::default(),
        &PageRequest::new(Some(4), Some(cursor.as_str())).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(second.items.len(), 2);
    assert!(!second.has_next_page);
    // Batched by organisation: Bruno appears under Colomiers and Limoux.
    let ids: Vec<_> = orgs.items.iter().map(|(_, o)| o.id).collect();
    let pairs = aidants_by_organisations(&t.db, &ids, &AidantFilter::default())
        .await
        .unwrap();
    assert_eq!(pairs.len(), 4);
}

#[tokio::test]
async fn coordinators_write_only_in_their_departments_with_versions_and_audit() {
    let t = env().await;
    load_all(&t).await;
    let rhinocc = coordinator(&t, "rhinocc").await;
    let new = NewOrganisation {
        name: "Médiathèque de Muret".to_owned(),
        siret: Siret::parse("31000000000078").unwrap(),
        kind: OrganisationKind::Commune,
        address: "1 rue".to_owned(),
        postal_code: Some("31600".to_owned()),
        commune: Some("Muret".to_owned()),
        department: dep("31"),
        france_services: false,
        site: None,
    };
    let mut elsewhere = new.clone();
    elsewhere.department = dep("69");
    let err = create_organisation(&t.db, &rhinocc, elsewhere)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let partner = Actor::with_role(Role::Partner, "app");
    assert_eq!(
        create_organisation(&t.db, &partner, new.clone())
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    let audit = count(&t, "audit_log").await;
    let org = create_organisation(&t.db, &rhinocc, new.clone())
        .await
        .unwrap();
    assert_eq!(org.version, 1);
    assert_eq!(count(&t, "audit_log").await, audit + 1);
    let dup = create_organisation(&t.db, &rhinocc, new).await.unwrap_err();
    assert_eq!(dup.code(), "already_exists");
    assert!(dup.is_user_error());

    let patch = || OrganisationPatch {
        active: Some(false),
        ..Default::default()
    };
    let updated = update_organisation(&t.db, &rhinocc, org.id, 1, patch())
        .await
        .unwrap();
    assert_eq!((updated.version, updated.active), (2, false));
    let stale = update_organisation(&t.db, &rhinocc, org.id, 1, patch())
        .await
        .unwrap_err();
    assert_eq!(stale.code(), "stale_version");
    let moving = OrganisationPatch {
        department: Some(dep("69")),
        ..Default::default()
    };
    assert_eq!(
        update_organisation(&t.db, &rhinocc, org.id, 2, moving)
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );

    // Farid works in Villeurbanne (69): not Rhinocc's to edit; Alice is.
    let page = list_aidants(&t.db, &AidantFilter::default(), &all())
        .await
        .unwrap();
    let find = |prefix: &str| {
        page.items
            .iter()
            .map(|(_, a)| a)
            .find(|a| a.data.person.email.as_str().starts_with(prefix))
            .unwrap()
            .clone()
    };
    let farid = find("farid");
    let revoke = || AidantPatch {
        status: Some(AidantStatus::Revoked),
        revoked_on: Some(Some(chrono::NaiveDate::from_ymd_opt(2021, 6, 1).unwrap())),
        ..Default::default()
    };
    assert_eq!(
        update_aidant(&t.db, &rhinocc, farid.id, farid.version, revoke())
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    let alice = find("alice");
    let audit = count(&t, "audit_log").await;
    let updated = update_aidant(&t.db, &rhinocc, alice.id, alice.version, revoke())
        .await
        .unwrap();
    assert_eq!(updated.data.status, AidantStatus::Revoked);
    assert_eq!(updated.version, alice.version + 1);
    assert_eq!(count(&t, "audit_log").await, audit + 1);
    let move_to_69 = AidantPatch {
        organisations: Some(vec![farid.data.organisations[0]]),
        ..Default::default()
    };
    assert_eq!(
        update_aidant(&t.db, &rhinocc, alice.id, updated.version, move_to_69)
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    // The audit trail says personal data changed, never what it is.
    let email_change = AidantPatch {
        last_name: Some("Martin-Durand".to_owned()),
        ..Default::default()
    };
    update_aidant(&t.db, &rhinocc, alice.id, updated.version, email_change)
        .await
        .unwrap();
    let row =
        t.db.query_one_raw(Statement::from_string(
            t.db.get_database_backend(),
            "SELECT changes FROM audit_log ORDER BY id DESC LIMIT 1".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    let changes: String = row.try_get("", "changes").unwrap();
    assert!(changes.contains("personal_data"), "{changes}");
    assert!(!changes.contains("Durand"), "{changes}");

    // A coordinator's import rejects rows outside its departments, row by row.
    let mut report = Vec::new();
    let summary = import_file(
        &t.db,
        &rhinocc,
        ImportKind::Mandates,
        &fixture("mandates.csv"),
        &mut |l| report.push(l.clone()),
    )
    .await
    .unwrap();
    assert_eq!(summary.rows, 11);
    assert!(
        report.iter().any(|l| l.reason.contains("outside")),
        "{report:?}"
    );
}

#[tokio::test]
async fn exports_reimport_unchanged_and_mask_personal_data() {
    let t = env().await;
    load_all(&t).await;
    let cli = Actor::cli();
    let mut orgs = Vec::new();
    assert_eq!(
        export_organisations(&t.db, &Territory::National, &mut orgs)
            .await
            .unwrap(),
        5
    );
    let mut aidants = Vec::new();
    assert_eq!(
        export_aidants(&t.db, &cli, &Territory::National, &mut aidants)
            .await
            .unwrap(),
        6
    );
    let mut mandates = Vec::new();
    assert_eq!(
        export_mandates(&t.db, &Territory::National, &mut mandates)
            .await
            .unwrap(),
        8
    );
    for (kind, bytes) in [
        (ImportKind::Organisations, &orgs),
        (ImportKind::Aidants, &aidants),
        (ImportKind::Mandates, &mandates),
    ] {
        let summary = import_bytes(&t.db, &cli, kind, bytes, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(
            (summary.changes(), summary.rejected),
            (0, 0),
            "{kind}: {summary:?}"
        );
    }
    // A hub coordinator's export of the hub: personal columns filled; elsewhere: empty.
    let rhinocc = coordinator(&t, "rhinocc").await;
    let mut out = Vec::new();
    export_aidants(&t.db, &rhinocc, &Territory::National, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("alice.martin@colomiers.example"), "{text}");
    assert!(!text.contains("farid"), "{text}");
    assert!(!text.contains("Vert"), "{text}");
    let mut out = Vec::new();
    export_mandates(&t.db, &Territory::Hub("rhinocc".into()), &mut out)
        .await
        .unwrap();
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1 + 6);
}

/// The fields of a refused value, as the rules name them.
fn rule_fields(e: &AidantsError) -> Vec<String> {
    e.field_problems()
        .unwrap_or_else(|| panic!("not refused by the input rules: {e}"))
        .iter()
        .map(|p| p.field.to_string())
        .collect()
}

fn valid_siret(n: u64) -> Siret {
    let base = format!("{n:013}");
    (0..10)
        .find_map(|k| Siret::parse(&format!("{base}{k}")).ok())
        .unwrap()
}

#[tokio::test]
async fn the_services_refuse_values_that_break_the_input_rules() {
    let t = env().await;
    let cli = Actor::cli();
    let bad = NewOrganisation {
        name: " ".to_owned(),
        siret: valid_siret(500),
        kind: OrganisationKind::Commune,
        address: "a".repeat(301),
        postal_code: Some("6900".to_owned()),
        commune: None,
        department: dep("69"),
        france_services: false,
        site: None,
    };
    let err = create_organisation(&t.db, &cli, bad.clone())
        .await
        .unwrap_err();
    assert!(err.is_user_error());
    assert_eq!(rule_fields(&err), ["name", "address", "postalCode"]);

    let org = create_organisation(
        &t.db,
        &cli,
        NewOrganisation {
            name: " Mairie ".to_owned(),
            address: "1 place".to_owned(),
            postal_code: Some("69001".to_owned()),
            ..bad
        },
    )
    .await
    .unwrap();
    assert_eq!(org.data.name, "Mairie", "stored trimmed");
    let err = update_organisation(
        &t.db,
        &cli,
        org.id,
        org.version,
        OrganisationPatch {
            commune: Some(Some("c".repeat(201))),
            ..OrganisationPatch::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(rule_fields(&err), ["commune"]);

    let person = maillage_aidants::AidantPerson {
        first_name: String::new(),
        last_name: "Martin".to_owned(),
        email: maillage_core::Email::parse("camille@example.org").unwrap(),
        profession: Some("p".repeat(201)),
    };
    let aidant = maillage_aidants::NewAidant {
        person,
        organisations: Vec::new(),
        status: AidantStatus::Requested,
        requested_on: None,
        trained_on: None,
        training_hub: None,
        authorised_on: None,
        revoked_on: None,
        counsellor: None,
    };
    let err = maillage_aidants::create_aidant(&t.db, &cli, aidant.clone())
        .await
        .unwrap_err();
    assert_eq!(
        rule_fields(&err),
        ["firstName", "profession", "organisations"]
    );
    let mut good = aidant;
    good.person.first_name = "Camille".to_owned();
    good.person.profession = None;
    good.organisations = vec![org.id];
    let stored = maillage_aidants::create_aidant(&t.db, &cli, good)
        .await
        .unwrap();
    let err = update_aidant(
        &t.db,
        &cli,
        stored.id,
        stored.version,
        AidantPatch {
            last_name: Some(" ".to_owned()),
            organisations: Some(Vec::new()),
            ..AidantPatch::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(rule_fields(&err), ["lastName", "organisations"]);
}

#[tokio::test]
async fn an_import_reports_every_broken_rule_of_a_row_at_its_line_and_column() {
    let t = env().await;
    let cli = Actor::cli();
    let csv = format!(
        "siret,nom,type,adresse,code_postal,commune,departement\n\
         {s1},Mairie,commune,1 place,69001,Lyon,69\n\
         {s2},{long},commune,,6900,{long_commune},69\n",
        s1 = valid_siret(600).as_str(),
        s2 = valid_siret(601).as_str(),
        long = "n".repeat(301),
        long_commune = "c".repeat(201),
    );
    let mut lines = Vec::new();
    let summary = import_bytes(
        &t.db,
        &cli,
        ImportKind::Organisations,
        csv.as_bytes(),
        &mut |l| lines.push(l.clone()),
    )
    .await
    .unwrap();
    assert_eq!((summary.created, summary.rejected), (1, 1));
    let at: Vec<(u64, &str)> = lines.iter().map(|l| (l.line, l.field.as_str())).collect();
    assert_eq!(
        at,
        [
            (3, "nom"),
            (3, "adresse"),
            (3, "code_postal"),
            (3, "commune")
        ]
    );

    let csv = format!(
        "email,nom,prenom,profession,organisations,statut\n\
         lea@example.org,Durand,Léa,,{s1},requested\n\
         pas-un-mail,{long},,{long},{s1},requested\n",
        s1 = valid_siret(600).as_str(),
        long = "x".repeat(201),
    );
    let mut lines = Vec::new();
    let summary = import_bytes(&t.db, &cli, ImportKind::Aidants, csv.as_bytes(), &mut |l| {
        lines.push(l.clone())
    })
    .await
    .unwrap();
    assert_eq!((summary.created, summary.rejected), (1, 1));
    let at: Vec<(u64, &str)> = lines.iter().map(|l| (l.line, l.field.as_str())).collect();
    assert_eq!(
        at,
        [(3, "prenom"), (3, "nom"), (3, "email"), (3, "profession")]
    );
    assert_eq!(lines[0].reason, "prenom must not be blank", "{lines:?}");
}
