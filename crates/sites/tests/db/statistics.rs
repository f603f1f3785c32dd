//! Site statistics grouped by a multi-valued dimension (a hub's dashboard: `[DEPARTMENT, SERVICE]`, issue #16):
//! the counts equal the lists' totals and a count of the fixture itself, archived and merged sites left out, and
//! on SQLite the statement starts from the filtered sites and reads their values from the covering index.

use super::{ACCES, AIDE, Env, MAITRISE, counting, dep, env, first, v1};
use maillage_core::Actor;
use maillage_sites::statistics::{SiteDimension, site_statistics};
use maillage_sites::{SiteFilter, SiteOrder, list_sites, site_by_source};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use std::collections::BTreeMap;

/// Departments of the fixture: three of Hinaura's, one of the Hub du Sud's, Paris.
const DEPS: [&str; 5] = ["69", "01", "38", "13", "75"];
const HINAURA_DEPS: [&str; 3] = ["69", "01", "38"];
const SERVICES: [&str; 3] = [AIDE, MAITRISE, ACCES];
/// A service no vocabulary knows: stored with no value, grouped under no key.
const UNKNOWN: &str = "Faire du vélo";
const SITES: usize = 60;

/// What site `i` of the fixture is: its department, known services, whether it also lists [`UNKNOWN`], its
/// publics (both kinds the `PUBLIC` dimension reads), and whether lists show it (neither archived nor merged).
struct Spec {
    dep: &'static str,
    services: Vec<&'static str>,
    unknown: bool,
    publics: Vec<&'static str>,
    archived: bool,
    merged: bool,
}

fn spec(i: usize) -> Spec {
    let bits = (i / DEPS.len()) % 8;
    let services = SERVICES
        .iter()
        .enumerate()
        .filter(|(b, _)| bits & (1 << b) != 0)
        .map(|(_, s)| *s)
        .collect();
    let mut publics = vec![["Seniors", "Jeunes", "Femmes"][i % 3]];
    if i.is_multiple_of(4) {
        publics.push("Surdité");
    }
    Spec {
        dep: DEPS[i % DEPS.len()],
        services,
        unknown: i % 6 == 1,
        publics,
        archived: i % 7 == 3,
        merged: i % 11 == 5,
    }
}

impl Spec {
    fn listed(&self) -> bool {
        !self.archived && !self.merged
    }
}

/// [`SITES`] sites over five departments, with every combination of services, some with a service listed twice
/// and some with an unknown one; some archived, some merged into the site before them.
async fn fixture(e: &Env) {
    let mut rows = Vec::new();
    for i in 0..SITES {
        let s = spec(i);
        let mut services: Vec<&str> = s.services.clone();
        // A label written twice is still one service of the site.
        if i.is_multiple_of(9) && !services.is_empty() {
            services.push(services[0]);
        }
        if s.unknown {
            services.push(UNKNOWN);
        }
        let services = services.join("|");
        let (publics, supports): (Vec<&str>, Vec<&str>) =
            s.publics.iter().partition(|p| **p != "Surdité");
        let (publics, supports) = (publics.join("|"), supports.join("|"));
        let postal = if s.dep == "75" {
            "75001".to_owned()
        } else {
            format!("{}000", s.dep)
        };
        rows.push(v1(
            &format!("st-{i}"),
            &format!("Lieu {i}"),
            &postal,
            &[
                ("services", &services),
                ("publics_specifiquement_adresses", &publics),
                ("prise_en_charge_specifique", &supports),
            ],
        ));
    }
    let path = e.v1_csv("statistics.csv", &rows);
    let imported = e.import(&path, "stats").await;
    assert_eq!(
        imported.summary.created, SITES as u64,
        "{:?}",
        imported.report
    );
    for i in 0..SITES {
        let s = spec(i);
        let site = site_by_source(&e.t.db, "stats", &format!("st-{i}"))
            .await
            .unwrap()
            .unwrap();
        if s.archived {
            maillage_sites::archive_site(&e.t.db, &Actor::cli(), site.id, site.version)
                .await
                .unwrap();
        }
        if s.merged {
            // As a confirmed duplicate leaves a source record: it stays, pointing at its canonical site.
            let into = site_by_source(&e.t.db, "stats", &format!("st-{}", i - 1))
                .await
                .unwrap()
                .unwrap();
            e.t.db
                .execute_raw(Statement::from_string(
                    e.t.db.get_database_backend(),
                    format!(
                        "UPDATE site SET merged_into = {} WHERE id = {}",
                        into.id.0, site.id.0
                    ),
                ))
                .await
                .unwrap();
        }
    }
}

type Counts = BTreeMap<Vec<Option<String>>, i64>;

/// The statistic as a map of keys to counts.
async fn stats(e: &Env, filter: &SiteFilter, by: &[SiteDimension], empty: bool) -> Counts {
    let buckets = site_statistics(&e.t.db, filter, by, None, empty)
        .await
        .unwrap();
    let counts: Counts = buckets.iter().map(|b| (b.keys.clone(), b.count)).collect();
    assert_eq!(
        counts.len(),
        buckets.len(),
        "a group came twice: {buckets:?}"
    );
    counts
}

/// The listed sites of the fixture that `in_scope` keeps, counted per key of `key`: each site counts once under
/// each key it has, whatever repeats.
fn expected(
    in_scope: impl Fn(&Spec) -> bool,
    key: impl Fn(&Spec) -> Vec<Vec<Option<String>>>,
) -> Counts {
    let mut out = Counts::new();
    for i in 0..SITES {
        let s = spec(i);
        if !s.listed() || !in_scope(&s) {
            continue;
        }
        let mut keys = key(&s);
        keys.sort();
        keys.dedup();
        for k in keys {
            *out.entry(k).or_default() += 1;
        }
    }
    out
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

/// The service keys of a site: its labels, and no key for an unknown one.
fn service_keys(s: &Spec) -> Vec<Option<String>> {
    let mut keys: Vec<Option<String>> = s.services.iter().map(|v| some(v)).collect();
    if s.unknown {
        keys.push(None);
    }
    keys
}

/// The `totalCount` of the sites list.
async fn listed(e: &Env, filter: &SiteFilter) -> i64 {
    let page = list_sites(
        &e.t.db,
        filter,
        SiteOrder::default(),
        &first(0).with_total(true),
    )
    .await
    .unwrap();
    i64::try_from(page.total_count.unwrap()).unwrap()
}

#[tokio::test]
async fn site_statistics_by_value_equal_the_lists_and_the_fixture() {
    let e = env().await;
    fixture(&e).await;
    let hub = SiteFilter {
        hub: Some("hinaura".to_owned()),
        ..SiteFilter::default()
    };
    let in_hub = |s: &Spec| HINAURA_DEPS.contains(&s.dep);

    // The dashboard: per department and service within the hub.
    let got = stats(
        &e,
        &hub,
        &[SiteDimension::Department, SiteDimension::Service],
        false,
    )
    .await;
    let want = expected(in_hub, |s| {
        service_keys(s)
            .into_iter()
            .map(|v| vec![some(s.dep), v])
            .collect()
    });
    assert_eq!(got, want);
    assert!(got.values().sum::<i64>() > 20, "{got:?}");
    assert!(
        got.keys().any(|k| k[1].is_none()),
        "unknown services are grouped under no key"
    );
    for (keys, count) in &got {
        let (Some(d), Some(service)) = (&keys[0], &keys[1]) else {
            continue;
        };
        let filter = SiteFilter {
            departments: Some(vec![dep(d)]),
            services: vec![service.clone()],
            ..hub.clone()
        };
        assert_eq!(*count, listed(&e, &filter).await, "{keys:?}");
    }
    // Every pair the lists count is a group.
    for d in HINAURA_DEPS {
        for service in SERVICES {
            let filter = SiteFilter {
                departments: Some(vec![dep(d)]),
                services: vec![service.to_owned()],
                ..hub.clone()
            };
            let n = listed(&e, &filter).await;
            assert_eq!(
                got.get(&vec![some(d), some(service)]).copied().unwrap_or(0),
                n,
                "{d} {service}"
            );
        }
    }

    // With zeros: every department of the hub and every label, the counts unchanged.
    let with_zeros = stats(
        &e,
        &hub,
        &[SiteDimension::Department, SiteDimension::Service],
        true,
    )
    .await;
    assert!(with_zeros.len() >= 12 * SERVICES.len(), "{with_zeros:?}");
    for (keys, count) in &with_zeros {
        assert_eq!(*count, got.get(keys).copied().unwrap_or(0), "{keys:?}");
    }

    // Nationally, the value axis first.
    let got = stats(
        &e,
        &SiteFilter::default(),
        &[SiteDimension::Service, SiteDimension::Department],
        false,
    )
    .await;
    let want = expected(
        |_| true,
        |s| {
            service_keys(s)
                .into_iter()
                .map(|v| vec![v, some(s.dep)])
                .collect()
        },
    );
    assert_eq!(got, want);
    let got = stats(&e, &SiteFilter::default(), &[SiteDimension::Service], false).await;
    for service in SERVICES {
        let filter = SiteFilter {
            services: vec![service.to_owned()],
            ..SiteFilter::default()
        };
        assert_eq!(
            got[&vec![some(service)]],
            listed(&e, &filter).await,
            "{service}"
        );
    }

    // Publics (two kinds of values) per department within the hub, and two value axes at once.
    let got = stats(
        &e,
        &hub,
        &[SiteDimension::Department, SiteDimension::Public],
        false,
    )
    .await;
    let want = expected(in_hub, |s| {
        s.publics
            .iter()
            .map(|p| vec![some(s.dep), some(p)])
            .collect()
    });
    assert_eq!(got, want);
    let got = stats(
        &e,
        &SiteFilter::default(),
        &[SiteDimension::Service, SiteDimension::Public],
        false,
    )
    .await;
    let want = expected(
        |_| true,
        |s| {
            service_keys(s)
                .into_iter()
                .flat_map(|v| s.publics.iter().map(move |p| vec![v.clone(), some(p)]))
                .collect()
        },
    );
    assert_eq!(got, want);
    for (keys, count) in &got {
        let (Some(service), Some(public)) = (&keys[0], &keys[1]) else {
            continue;
        };
        let filter = SiteFilter {
            services: vec![service.clone()],
            publics: vec![public.clone()],
            ..SiteFilter::default()
        };
        assert_eq!(*count, listed(&e, &filter).await, "{keys:?}");
    }
}

/// `EXPLAIN QUERY PLAN` of a logged statement (parameters bound to NULL: SQLite, without statistics, plans without
/// looking at them), one line per step.
async fn plan(e: &Env, sql: &str) -> String {
    let params = sql.matches('?').count();
    let rows =
        e.t.db
            .query_all_raw(Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {sql}"),
                vec![sea_orm::Value::String(None); params],
            ))
            .await
            .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "detail").unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// On SQLite the grouping starts from the hub's live sites (their partial index) and looks up each one's services
/// in `(site_id, kind, value)` from the index alone; it no longer walks every service row of the country through
/// `(kind, value, site_id)`. Nationally, the live sites come first too.
#[tokio::test]
async fn sqlite_statistics_by_value_start_from_the_filtered_sites() {
    let e = env().await;
    if e.t.is_postgres() {
        return;
    }
    fixture(&e).await;
    let hub = SiteFilter {
        hub: Some("hinaura".to_owned()),
        ..SiteFilter::default()
    };
    for (filter, by, site_index) in [
        (
            &hub,
            vec![SiteDimension::Department, SiteDimension::Service],
            "idx_site_live_department_name",
        ),
        (
            &SiteFilter::default(),
            vec![SiteDimension::Service],
            "idx_site_live_sort_name",
        ),
        (
            &SiteFilter::default(),
            vec![SiteDimension::Service, SiteDimension::Public],
            "idx_site_live_sort_name",
        ),
    ] {
        let (buckets, _, log) =
            counting(&e.t, site_statistics(&e.t.db, filter, &by, None, false)).await;
        assert!(!buckets.unwrap().is_empty());
        let grouped: Vec<&String> = log.iter().filter(|s| s.contains("GROUP BY")).collect();
        assert_eq!(grouped.len(), 1, "{log:#?}");
        let p = plan(&e, grouped[0]).await;
        let steps: Vec<&str> = p.lines().collect();
        assert!(
            steps[0].contains("site USING") && steps[0].contains(site_index),
            "{}\n{p}",
            grouped[0]
        );
        let values: Vec<&&str> = steps.iter().filter(|s| s.contains("stat_value")).collect();
        let multi = by
            .iter()
            .filter(|d| matches!(d, SiteDimension::Service | SiteDimension::Public))
            .count();
        assert_eq!(values.len(), multi, "{p}");
        for v in values {
            assert!(
                v.contains("COVERING INDEX idx_site_value_site_kind_value (site_id=? AND kind=?)"),
                "{}\n{p}",
                grouped[0]
            );
        }
    }
}
