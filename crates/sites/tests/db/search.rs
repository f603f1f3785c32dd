//! Finding a place (issue #21): full-text search through each database's engine, and near search, on a real
//! database (SQLite FTS5 by default, PostgreSQL `tsvector` with `TEST_DATABASE_URL`).

use super::{Env, env, first, v1};
use maillage_core::Actor;
use maillage_core::pagination::{Cursor, PageRequest};
use maillage_sites::{
    Near, NearCentre, Site, SiteFilter, SiteOrder, SiteOrderField, SitePatch, haversine_km,
    list_sites,
};
use unicode_normalization::UnicodeNormalization;

/// | id  | name                          | commune         | where the searched words are                     |
/// |-----|-------------------------------|-----------------|--------------------------------------------------|
/// | m01 | Médiathèque Jean Macé         | Lyon            | name                                             |
/// | m02 | Médiathèques du Forez         | Saint-Étienne   | name (plural), commune with hyphen               |
/// | m03 | Espace Lumière                | St Etienne      | commune abbreviated                              |
/// | m04 | Centre social Bellevue        | Saint Etienne   | description mentions a médiathèque               |
/// | m05 | Tiers-lieu du Plateau         | Grenoble        | address "rue des Tisserands", summary "fablab"   |
/// | m06 | Mairie                        | Sainte-Foy      | "Ste" is not "St"                                |
async fn places(e: &Env) {
    let rows = [
        v1(
            "m01",
            "Médiathèque Jean Macé",
            "69007",
            &[
                ("commune", "Lyon"),
                ("latitude", "45.7485"),
                ("longitude", "4.8467"),
            ],
        ),
        v1(
            "m02",
            "Médiathèques du Forez",
            "42000",
            &[
                ("commune", "Saint-Étienne"),
                ("latitude", "45.4397"),
                ("longitude", "4.3872"),
            ],
        ),
        v1(
            "m03",
            "Espace Lumière",
            "42000",
            &[
                ("commune", "St Etienne"),
                ("latitude", "45.4300"),
                ("longitude", "4.3900"),
            ],
        ),
        v1(
            "m04",
            "Centre social Bellevue",
            "42100",
            &[
                ("commune", "Saint Etienne"),
                (
                    "presentation_detail",
                    "Ateliers numériques dans la médiathèque du quartier",
                ),
                ("latitude", "45.4200"),
                ("longitude", "4.4000"),
            ],
        ),
        v1(
            "m05",
            "Tiers-lieu du Plateau",
            "38000",
            &[
                ("commune", "Grenoble"),
                ("adresse", "12 rue des Tisserands"),
                ("presentation_resume", "Un fablab ouvert à tous"),
                ("latitude", "45.1885"),
                ("longitude", "5.7245"),
            ],
        ),
        v1(
            "m06",
            "Mairie",
            "69110",
            &[
                ("commune", "Sainte-Foy-lès-Lyon"),
                ("latitude", "45.7336"),
                ("longitude", "4.8025"),
            ],
        ),
    ];
    e.import(&e.v1_csv("places.csv", &rows), "places").await;
}

async fn search(e: &Env, text: &str) -> Vec<String> {
    let filter = SiteFilter {
        text: Some(text.to_owned()),
        ..SiteFilter::default()
    };
    let page = list_sites(&e.t.db, &filter, relevance(), &first(100))
        .await
        .unwrap_or_else(|err| panic!("{text}: {err}"));
    page.items
        .into_iter()
        .map(|(_, s)| s.data.source_id)
        .collect()
}

fn relevance() -> SiteOrder {
    SiteOrder {
        field: SiteOrderField::Relevance,
        descending: false,
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn nfd_and_nfc_spellings_find_the_same_sites() {
    let e = env().await;
    places(&e).await;
    let nfc = "médiathèque";
    let nfd: String = nfc.nfd().collect();
    assert_ne!(nfc, nfd);
    let found = sorted(search(&e, nfc).await);
    assert_eq!(found, ["m01", "m02", "m04"]);
    assert_eq!(sorted(search(&e, &nfd).await), found);
    assert_eq!(sorted(search(&e, "MEDIATHEQUES").await), found);
}

#[tokio::test]
async fn saint_st_and_hyphens_find_the_same_sites() {
    let e = env().await;
    places(&e).await;
    let found = sorted(search(&e, "saint-étienne").await);
    assert_eq!(found, ["m02", "m03", "m04"]);
    assert_eq!(sorted(search(&e, "st etienne").await), found);
    assert_eq!(sorted(search(&e, "saint etienne").await), found);
    assert_eq!(sorted(search(&e, "Saint Étienne").await), found);
    // "Ste" is "Sainte", not "Saint".
    assert_eq!(search(&e, "ste foy").await, ["m06"]);
}

#[tokio::test]
async fn words_of_the_address_and_the_presentation_find_their_site() {
    let e = env().await;
    places(&e).await;
    assert_eq!(search(&e, "tisserands").await, ["m05"]);
    assert_eq!(search(&e, "rue tisserand").await, ["m05"]);
    assert_eq!(search(&e, "fablab").await, ["m05"]);
    assert_eq!(search(&e, "ateliers numeriques").await, ["m04"]);
    assert!(search(&e, "piscine").await.is_empty());
}

#[tokio::test]
async fn one_typo_in_a_long_word_is_forgiven() {
    let e = env().await;
    places(&e).await;
    let found = sorted(search(&e, "médiathèque").await);
    for typo in [
        "mediateque",
        "mediathequw",
        "mdiatheque",
        "mediatheqeu",
        "médiathèqques",
    ] {
        assert_eq!(sorted(search(&e, typo).await), found, "{typo}");
    }
    // Two edits, or one on a short word, find nothing.
    assert!(search(&e, "mdiateque").await.is_empty());
    assert!(search(&e, "lyin").await.is_empty());
}

#[tokio::test]
async fn name_matches_rank_before_description_matches() {
    let e = env().await;
    places(&e).await;
    let found = search(&e, "mediatheque").await;
    assert_eq!(found.last().map(String::as_str), Some("m04"), "{found:?}");
    assert_eq!(sorted(found[..2].to_vec()), ["m01", "m02"]);
    // The ranked order pages like any other: a page of one at a time gives the same list.
    let filter = SiteFilter {
        text: Some("mediatheque".to_owned()),
        ..SiteFilter::default()
    };
    let mut paged = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let mut request: PageRequest = first(1);
        request.after = after.clone();
        let page = list_sites(&e.t.db, &filter, relevance(), &request)
            .await
            .unwrap();
        paged.extend(page.items.iter().map(|(_, s)| s.data.source_id.clone()));
        after = page.items.last().map(|(c, _)| c.clone());
        if !page.has_next_page {
            break;
        }
    }
    assert_eq!(paged, found);
}

#[tokio::test]
async fn api_writes_keep_the_index_in_step() {
    let e = env().await;
    places(&e).await;
    let site = e.site("places", "m01").await;
    maillage_sites::update_site(
        &e.t.db,
        &Actor::cli(),
        site.id,
        site.version,
        SitePatch {
            description: Some(Some("Club de robotique le mercredi".to_owned())),
            ..SitePatch::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(search(&e, "robotique").await, ["m01"]);
    maillage_sites::archive_site(&e.t.db, &Actor::cli(), site.id, site.version + 1)
        .await
        .unwrap();
    assert!(search(&e, "robotique").await.is_empty());
}

/// Sites within `radius_km` of `centre`, nearest first, as a brute force over every site computes them.
fn brute_force(all: &[Site], centre: (f64, f64), radius_km: f64) -> Vec<(String, f64)> {
    let mut within: Vec<(String, f64)> = all
        .iter()
        .filter_map(|s| {
            let d = haversine_km(centre, (s.data.latitude?, s.data.longitude?));
            (d <= radius_km).then(|| (s.data.source_id.clone(), d))
        })
        .collect();
    within.sort_by(|a, b| a.1.total_cmp(&b.1));
    within
}

async fn near(e: &Env, centre: NearCentre, radius_km: f64, size: i32) -> Vec<(String, f64)> {
    let filter = SiteFilter {
        near: Some(Near { centre, radius_km }),
        ..SiteFilter::default()
    };
    let order = SiteOrder {
        field: SiteOrderField::Distance,
        descending: false,
    };
    let mut out = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let mut request = first(size).with_total(true);
        request.after = after.clone();
        let page = list_sites(&e.t.db, &filter, order, &request).await.unwrap();
        out.extend(
            page.items
                .iter()
                .map(|(_, s)| (s.data.source_id.clone(), s.distance_km.unwrap())),
        );
        after = page.items.last().map(|(c, _)| c.clone());
        if !page.has_next_page {
            return out;
        }
    }
}

#[tokio::test]
async fn near_search_returns_exactly_the_sites_within_the_radius_nearest_first() {
    let e = env().await;
    // A grid of 400 sites around Lyon, 0.02° apart (about 2.2 km north-south, 1.6 km east-west).
    let rows: Vec<_> = (0..400)
        .map(|i| {
            let lat = format!("{:.4}", 45.55 + f64::from(i / 20) * 0.02);
            let lon = format!("{:.4}", 4.65 + f64::from(i % 20) * 0.02);
            v1(
                &format!("g{i:03}"),
                &format!("Lieu {i}"),
                "69001",
                &[("latitude", &lat), ("longitude", &lon), ("commune", "Lyon")],
            )
        })
        .collect();
    e.import(&e.v1_csv("grid.csv", &rows), "grid").await;
    let all = e.all_sites().await;
    assert_eq!(all.len(), 400);
    let centre = (45.75, 4.85);
    for radius in [0.5, 3.0, 7.5, 20.0, 200.0] {
        let expected = brute_force(&all, centre, radius);
        for size in [7, 100] {
            let got = near(
                &e,
                NearCentre::Point {
                    latitude: centre.0,
                    longitude: centre.1,
                },
                radius,
                size,
            )
            .await;
            assert_eq!(
                got.len(),
                expected.len(),
                "radius {radius}, pages of {size}"
            );
            for ((id, d), (want_id, want_d)) in got.iter().zip(&expected) {
                assert!((d - want_d).abs() < 1e-6, "{id}: {d} km, expected {want_d}");
                assert!(*d <= radius);
                // Equal distances may come in either order; the distances themselves must match in order.
                let _ = (id, want_id);
            }
            let mut ids: Vec<&String> = got.iter().map(|(id, _)| id).collect();
            let mut want: Vec<&String> = expected.iter().map(|(id, _)| id).collect();
            ids.sort();
            want.sort();
            assert_eq!(ids, want, "radius {radius}");
        }
    }
    // Around the centre of Lyon 7e (INSEE 69387), by commune.
    let commune = maillage_sites::mapping::communes::all()
        .iter()
        .find(|c| c.insee == "69387")
        .and_then(|c| c.centre)
        .unwrap();
    let got = near(&e, NearCentre::Commune("69387".to_owned()), 5.0, 50).await;
    let expected = brute_force(&all, commune, 5.0);
    assert_eq!(got.len(), expected.len());
    assert!(!got.is_empty());
    assert!(got.windows(2).all(|w| w[0].1 <= w[1].1));
    // Lyon as a whole (69123, the code people type), centred between its arrondissements.
    let city = maillage_sites::mapping::communes::all()
        .iter()
        .find(|c| c.insee == "69123")
        .and_then(|c| c.centre)
        .unwrap();
    let got = near(&e, NearCentre::Commune("69123".to_owned()), 5.0, 50).await;
    assert_eq!(got.len(), brute_force(&all, city, 5.0).len());
    assert!(!got.is_empty());
}

#[tokio::test]
async fn near_search_refuses_bad_input() {
    let e = env().await;
    let bad = |centre: NearCentre, radius_km: f64| SiteFilter {
        near: Some(Near { centre, radius_km }),
        ..SiteFilter::default()
    };
    let point = || NearCentre::Point {
        latitude: 45.0,
        longitude: 4.0,
    };
    for (filter, code, field) in [
        (bad(point(), 0.0), "invalid_value", "filter.near.radiusKm"),
        (bad(point(), 500.0), "invalid_value", "filter.near.radiusKm"),
        (
            bad(NearCentre::Commune("99999".to_owned()), 5.0),
            "unknown_value",
            "filter.near.commune",
        ),
        (
            bad(
                NearCentre::Point {
                    latitude: 95.0,
                    longitude: 4.0,
                },
                5.0,
            ),
            "invalid_value",
            "filter.near",
        ),
    ] {
        let err = list_sites(&e.t.db, &filter, SiteOrder::default(), &first(5))
            .await
            .unwrap_err();
        super::assert_code(&err, code, Some(field));
    }
    let err = list_sites(
        &e.t.db,
        &SiteFilter::default(),
        SiteOrder {
            field: SiteOrderField::Distance,
            descending: false,
        },
        &first(5),
    )
    .await
    .unwrap_err();
    super::assert_code(&err, "invalid_value", Some("orderBy.field"));
}

async fn ids_where(e: &Env, f: SiteFilter) -> Vec<String> {
    let page = list_sites(&e.t.db, &f, SiteOrder::default(), &first(100))
        .await
        .unwrap();
    sorted(
        page.items
            .into_iter()
            .map(|(_, s)| s.data.source_id)
            .collect(),
    )
}

/// `openAt` is a look-up in the intervals stored at write time: over a week of instants, it lists exactly the sites
/// the parser says are open (in each site's time zone), and `opening_hours_known` tells unknown hours apart.
#[tokio::test]
async fn open_at_by_the_database_agrees_with_the_parser_and_unknown_hours_are_told_apart() {
    use chrono::{Duration, TimeZone, Utc};
    use maillage_sites::hours::{parse_hours, timezone_for_department};
    let e = env().await;
    let hours = [
        ("h01", "69001", "Mo-Fr 09:00-12:00,14:00-17:30"),
        ("h02", "69001", "Tu,Th 13:30-19:00; Sa 10:00-12:00"),
        ("h03", "97400", "Mo-Fr 08:00-16:00"),
        ("h04", "69001", "Su 22:00-02:00"),
        ("h05", "69001", "24/7"),
        ("h06", "69001", "Mo-Fr 9h-12h"),
        ("h07", "69001", "sur rendez-vous"),
        ("h08", "69001", ""),
        ("h09", "69001", "Mo-Sa 10:00-18:00; PH off"),
    ];
    let rows: Vec<_> = hours
        .iter()
        .map(|(id, cp, h)| v1(id, &format!("Lieu {id}"), cp, &[("horaires", h)]))
        .collect();
    e.import(&e.v1_csv("hours.csv", &rows), "hours").await;
    let all = e.all_sites().await;
    let known = ids_where(
        &e,
        SiteFilter {
            opening_hours_known: Some(true),
            ..SiteFilter::default()
        },
    )
    .await;
    assert_eq!(known, ["h01", "h02", "h03", "h04", "h05", "h06", "h09"]);
    let unknown = ids_where(
        &e,
        SiteFilter {
            opening_hours_known: Some(false),
            ..SiteFilter::default()
        },
    )
    .await;
    assert_eq!(unknown, ["h07", "h08"]);
    // Every 47 minutes over eight days, a Bastille Day (Monday 2025-07-14) included.
    let start = Utc.with_ymd_and_hms(2025, 7, 12, 0, 5, 0).unwrap();
    let mut checked = 0;
    let mut at = start;
    while at < start + Duration::days(8) {
        let expected: Vec<String> = sorted(
            all.iter()
                .filter(|s| {
                    let tz = timezone_for_department(
                        s.department_code.as_ref().map_or("", |d| d.as_str()),
                    );
                    s.data
                        .opening_hours
                        .as_deref()
                        .and_then(|h| parse_hours(h).ok())
                        .is_some_and(|h| h.is_open_at(at, tz))
                })
                .map(|s| s.data.source_id.clone())
                .collect(),
        );
        let got = ids_where(
            &e,
            SiteFilter {
                open_at: Some(at),
                ..SiteFilter::default()
            },
        )
        .await;
        assert_eq!(got, expected, "at {at}");
        checked += usize::from(!got.is_empty());
        at += Duration::minutes(47);
    }
    assert!(checked > 50, "{checked}");
    // An API edit of the hours moves the stored intervals with it.
    let site = e.site("hours", "h07").await;
    maillage_sites::update_site(
        &e.t.db,
        &Actor::cli(),
        site.id,
        site.version,
        SitePatch {
            opening_hours: Some(Some("Mo 10:00-11:00".to_owned())),
            ..SitePatch::default()
        },
    )
    .await
    .unwrap();
    let monday_ten_thirty = Utc.with_ymd_and_hms(2025, 7, 21, 8, 30, 0).unwrap();
    let open = ids_where(
        &e,
        SiteFilter {
            open_at: Some(monday_ten_thirty),
            ..SiteFilter::default()
        },
    )
    .await;
    assert!(open.contains(&"h07".to_owned()), "{open:?}");
}
