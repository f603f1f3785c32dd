//! Exporting sites as CSV in the national standard v1.0.2.

use crate::standard::export::{V1_COLUMNS, to_v1_record};
use crate::{Site, SiteFilter, SiteOrder, SiteOrderField, SitesError, list_sites};
use maillage_core::pagination::PageRequest;
use maillage_core::{Actor, DepartmentCode};
use sea_orm::ConnectionTrait;
use std::io::Write;

/// Which sites to export.
#[derive(Debug, Clone, Default)]
pub struct ExportScope {
    /// Only the departments of this hub (slug).
    pub hub: Option<String>,
    /// Only this department.
    pub department: Option<DepartmentCode>,
}

/// Rows read per statement while exporting, so memory stays flat whatever the number of sites.
const CHUNK: u32 = 500;

impl ExportScope {
    /// The same scope as a site filter (hub and department both apply).
    pub fn filter(&self) -> SiteFilter {
        SiteFilter {
            hub: self.hub.clone(),
            departments: self.department.clone().map(|d| vec![d]),
            ..SiteFilter::default()
        }
    }
}

/// Calls `each` with every page of the sites matching `filter` (archived ones never), in id order, [`CHUNK`] sites
/// per page: the walk every export of sites shares, so they all follow the API's filters and memory holds one
/// page at a time.
pub async fn for_each_page<C: ConnectionTrait>(
    db: &C,
    filter: &SiteFilter,
    mut each: impl FnMut(&[Site]) -> Result<(), SitesError>,
) -> Result<u64, SitesError> {
    let order = SiteOrder {
        field: SiteOrderField::Id,
        descending: false,
    };
    let mut page = PageRequest {
        first: CHUNK,
        after: None,
        with_total: false,
        backward: false,
    };
    let mut count = 0u64;
    loop {
        let result = list_sites(db, filter, order, &page).await?;
        let (cursors, sites): (Vec<_>, Vec<_>) = result.items.into_iter().unzip();
        each(&sites)?;
        count += sites.len() as u64;
        match cursors.into_iter().last() {
            Some(last) if result.has_next_page => page.after = Some(last),
            _ => return Ok(count),
        }
    }
}

/// Writes the sites in `scope` as a v1.0.2 CSV to `out`, in id order; returns the number of rows.
///
/// The `id` column is `source:source id`, unique across sources.
///
/// E-mail addresses are written only when `include_emails` is asked *and* `actor` may read them (they may be
/// personal data). Sites that cannot be expressed in v1.0.2 lose only the values the standard has no word for; the
/// output always validates against the v1.0.2 schema.
pub async fn export_v1<C: ConnectionTrait, W: Write>(
    db: &C,
    actor: &Actor,
    scope: &ExportScope,
    include_emails: bool,
    out: W,
) -> Result<u64, SitesError> {
    write_v1(db, actor, &scope.filter(), include_emails, out).await
}

/// Writes the sites matching `filter` (the API's filters) as a v1.0.2 CSV; see [`export_v1`].
#[tracing::instrument(skip_all)]
pub async fn write_v1<C: ConnectionTrait, W: Write>(
    db: &C,
    actor: &Actor,
    filter: &SiteFilter,
    include_emails: bool,
    out: W,
) -> Result<u64, SitesError> {
    let mut writer = maillage_core::csv::Writer::from_writer(out);
    writer.write_record(V1_COLUMNS).map_err(csv_error)?;
    let count = for_each_page(db, filter, |sites| {
        for site in sites {
            let emails = include_emails && site.emails_for(actor).is_some();
            let mut record = to_v1_record(&site.data, emails);
            // The standard's `id` must be unique in a file; ids are unique only within a source, and an export may
            // mix sources.
            if let Some(id) = record.first_mut() {
                *id = format!("{}:{}", site.source, site.data.source_id);
            }
            writer.write_record(record).map_err(csv_error)?;
        }
        // Each page leaves the process as soon as it is written: a streaming consumer gets it now.
        writer.flush().map_err(io_error)
    })
    .await?;
    writer.flush().map_err(io_error)?;
    Ok(count)
}

pub(crate) fn io_error(source: std::io::Error) -> SitesError {
    SitesError::Io {
        path: "export output".to_owned(),
        source,
    }
}

fn csv_error(e: csv::Error) -> SitesError {
    SitesError::Io {
        path: "export output".to_owned(),
        source: std::io::Error::other(e.to_string()),
    }
}
