//! Brief, names-only and names-and-places reads (`SiteParts::Brief`, `SiteParts::Names`, `SiteParts::Places`): the
//! same sites, pages and cursors as whole reads, with only their fields read, and no more statements.

use super::{HINAURA, SiteParts, counting, deps, env, first, spread_over_hinaura};
use maillage_core::pagination::Page;
use maillage_core::{Pivot, SiteId};
use maillage_sites::model::StandardVersion;
use maillage_sites::query::{SiteOrderField, SiteRead, SiteSync};
use maillage_sites::{
    Site, SiteFilter, SiteOrder, list_site_parts_by_departments, list_site_parts_synced,
};

/// The brief fields of a whole site, the others set to the brief read's neutral values.
fn briefed(site: &Site) -> Site {
    let mut s = site.clone();
    s.parts = SiteParts::Brief;
    let d = &mut s.data;
    d.standard_version = StandardVersion::V1_0;
    d.pivot = Pivot::placeholder();
    d.address = String::new();
    d.address_complement = None;
    d.ban_key = None;
    d.phone = None;
    d.emails = Vec::new();
    d.website = None;
    d.opening_hours = None;
    d.summary = None;
    d.description = None;
    d.source_label = None;
    d.parent_structure = None;
    d.values = Vec::new();
    d.other_labels = None;
    d.accessibility_url = None;
    d.booking_url = None;
    s
}

/// The names-and-places fields of a whole site, the others set to that read's neutral values.
fn placed(site: &Site) -> Site {
    let mut s = briefed(site);
    s.parts = SiteParts::Places;
    s.opening_hours_valid = None;
    s.version = 0;
    s.created_at = chrono::DateTime::UNIX_EPOCH;
    s.updated_at = chrono::DateTime::UNIX_EPOCH;
    let d = &mut s.data;
    d.insee_code = None;
    d.latitude = None;
    d.longitude = None;
    d.updated_on = chrono::NaiveDate::default();
    s
}

/// The names-only fields of a whole site, the others set to the names-only read's neutral values.
fn named(site: &Site) -> Site {
    let mut s = placed(site);
    s.parts = SiteParts::Names;
    s.data.commune = String::new();
    s.data.postal_code = maillage_core::PostalCode::placeholder();
    s
}

/// `whole` reduced to what a read of `parts` (brief, names-and-places or names-only) holds.
fn reduced(site: &Site, parts: SiteParts) -> Site {
    match parts {
        SiteParts::Names => named(site),
        SiteParts::Places => placed(site),
        _ => briefed(site),
    }
}

fn assert_brief_of(whole: &Page<Site>, brief: &Page<Site>, what: &str) {
    assert_eq!(
        (
            whole.total_count,
            whole.has_next_page,
            whole.has_previous_page
        ),
        (
            brief.total_count,
            brief.has_next_page,
            brief.has_previous_page
        ),
        "{what}"
    );
    assert_eq!(whole.items.len(), brief.items.len(), "{what}");
    for ((c1, s1), (c2, s2)) in whole.items.iter().zip(&brief.items) {
        assert_eq!(c1, c2, "{what}: cursors");
        assert_eq!(s1.parts, SiteParts::Whole);
        assert_eq!(&reduced(s1, s2.parts), s2, "{what}");
    }
}

#[tokio::test]
async fn brief_lists_equal_whole_lists_on_the_brief_fields() {
    let e = env().await;
    spread_over_hinaura(&e).await;
    let t = &e.t;
    let twelve = deps(&HINAURA);
    let filter = SiteFilter::default();
    for field in [
        SiteOrderField::Name,
        SiteOrderField::UpdatedOn,
        SiteOrderField::UpdatedAt,
        SiteOrderField::Id,
    ] {
        for (descending, narrow) in [false, true].into_iter().flat_map(|d| {
            [
                (d, SiteParts::Brief),
                (d, SiteParts::Names),
                (d, SiteParts::Places),
            ]
        }) {
            let order = SiteOrder { field, descending };
            let what = format!("{order:?} {narrow:?}");
            // A names-only read of a list ordered on a brief column reads brief rows: its cursors need them.
            let expected = match (narrow, field) {
                (
                    SiteParts::Names | SiteParts::Places,
                    SiteOrderField::Name | SiteOrderField::Id,
                ) => narrow,
                _ => SiteParts::Brief,
            };
            let request = first(2).with_total(true);
            let read = |parts| {
                list_site_parts_by_departments(&t.db, &twelve, &filter, order, &request, parts)
            };
            let (whole, n_whole, _) = counting(t, read(SiteParts::Whole)).await;
            let (brief, n_brief, log) = counting(t, read(narrow)).await;
            let (whole, brief) = (whole.unwrap(), brief.unwrap());
            assert!(
                brief
                    .values()
                    .flat_map(|p| &p.items)
                    .all(|(_, s)| s.parts == expected),
                "{what}"
            );
            // No values statement, nothing else added.
            assert_eq!(n_brief + 1, n_whole, "{what}: {log:#?}");
            assert!(
                log.iter().all(|sql| !sql.contains("\"search_text\"")),
                "{what}: {log:#?}"
            );
            assert_eq!(whole.len(), brief.len());
            assert!(whole.values().any(|p| p.has_next_page), "{what}");
            for (code, page) in &whole {
                assert_brief_of(page, &brief[code], &format!("{what} {code}"));
            }
            // The next pages, from the brief read's cursors.
            for (code, page) in &brief {
                let Some((cursor, _)) = page.items.last() else {
                    continue;
                };
                let next =
                    maillage_core::pagination::PageRequest::new(Some(2), Some(cursor.as_str()))
                        .unwrap();
                let one = std::slice::from_ref(code);
                let w = list_site_parts_by_departments(
                    &t.db,
                    one,
                    &filter,
                    order,
                    &next,
                    SiteParts::Whole,
                )
                .await
                .unwrap();
                let b = list_site_parts_by_departments(&t.db, one, &filter, order, &next, narrow)
                    .await
                    .unwrap();
                assert_brief_of(&w[code], &b[code], &format!("{what} {code} next"));
            }

            let sync = SiteSync::default();
            let flat =
                |parts| list_site_parts_synced(&t.db, &filter, &sync, order, &request, parts);
            let (whole, n_whole, _) = counting(t, flat(SiteParts::Whole)).await;
            let (brief, n_brief, log) = counting(t, flat(narrow)).await;
            assert_eq!(n_brief + 1, n_whole, "{what}: {log:#?}");
            let brief = brief.unwrap();
            assert!(
                brief.items.iter().all(|(_, s)| s.parts == expected),
                "{what}"
            );
            assert_brief_of(&whole.unwrap(), &brief, &format!("{what} flat"));
            // Without cursors, whose sort names are then not decoded: the same sites, in the same order, and the
            // same statements.
            let bare = SiteRead {
                parts: narrow,
                cursors: false,
            };
            let (uncursored, n_bare, log) = counting(
                t,
                list_site_parts_synced(&t.db, &filter, &sync, order, &request, bare),
            )
            .await;
            assert_eq!(n_bare, n_brief, "{what}: {log:#?}");
            let uncursored = uncursored.unwrap();
            assert_eq!(
                (uncursored.total_count, uncursored.has_next_page),
                (brief.total_count, brief.has_next_page),
                "{what}"
            );
            let sites = |page: &Page<Site>| {
                page.items
                    .iter()
                    .map(|(_, s)| s.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(sites(&uncursored), sites(&brief), "{what} without cursors");
            assert!(
                uncursored.items.iter().all(|(c, _)| c.is_unselected()),
                "{what}"
            );
        }
    }
}

#[tokio::test]
async fn brief_batched_reads_run_the_same_statements_whatever_the_departments_and_page() {
    let e = env().await;
    spread_over_hinaura(&e).await;
    let t = &e.t;
    let mut counts = Vec::new();
    for (departments, page) in [
        (deps(&["07"]), 1),
        (deps(&HINAURA), 3),
        (deps(&HINAURA), 50),
    ] {
        let request = first(page).with_total(true);
        let (pages, n, log) = counting(
            t,
            list_site_parts_by_departments(
                &t.db,
                &departments,
                &SiteFilter::default(),
                SiteOrder::default(),
                &request,
                SiteParts::Brief,
            ),
        )
        .await;
        let pages = pages.unwrap();
        assert!(
            pages
                .values()
                .flat_map(|p| &p.items)
                .all(|(_, s)| s.parts == SiteParts::Brief && s.id != SiteId(0))
        );
        counts.push((departments.len(), page, n, log));
    }
    assert!(counts.windows(2).all(|w| w[0].2 == w[1].2), "{:#?}", counts);
}

/// A batched page read again (its inner statement kept on PostgreSQL) gives the same pages in the same statements,
/// read between pages of other shapes and filters.
#[tokio::test]
async fn batched_pages_read_again_are_the_same() {
    let e = env().await;
    spread_over_hinaura(&e).await;
    let t = &e.t;
    let twelve = deps(&HINAURA);
    let narrow = SiteFilter {
        departments: Some(deps(&["07", "26"])),
        ..SiteFilter::default()
    };
    let shapes = [
        (SiteParts::Names, SiteOrder::default(), 3, true),
        (SiteParts::Places, SiteOrder::default(), 3, false),
        (
            SiteParts::Brief,
            SiteOrder {
                field: SiteOrderField::UpdatedAt,
                descending: true,
            },
            2,
            true,
        ),
    ];
    let mut firsts = Vec::new();
    for round in 0..2 {
        for (i, (parts, order, size, total)) in shapes.into_iter().enumerate() {
            for filter in [SiteFilter::default(), narrow.clone()] {
                let request = first(size).with_total(total);
                let (pages, n, log) = counting(
                    t,
                    list_site_parts_by_departments(&t.db, &twelve, &filter, order, &request, parts),
                )
                .await;
                let mut pages: Vec<_> = pages.unwrap().into_iter().collect();
                pages.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
                assert!(
                    pages.iter().any(|(_, p)| !p.items.is_empty()),
                    "{parts:?} {log:#?}"
                );
                if round == 0 {
                    firsts.push((pages, n));
                } else {
                    let at = i * 2 + usize::from(filter != SiteFilter::default());
                    assert_eq!(firsts[at], (pages, n), "{parts:?} {order:?} {filter:?}");
                }
            }
        }
    }
}
