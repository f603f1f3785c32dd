//! Exporting sites as CSV in the national standard v1.0.2.

use crate::SitesError;
use crate::entity::site;
use crate::query::hydrate;
use crate::standard::export::{V1_COLUMNS, to_v1_record};
use maillage_core::{Actor, DepartmentCode};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
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
const CHUNK: u64 = 500;

/// Writes the sites in `scope` as a v1.0.2 CSV to `out`, in id order; returns the number of rows.
///
/// The `id` column is `source:source id`, unique across sources.
///
/// E-mail addresses are written only when `include_emails` is asked *and* `actor` may read them (they may be
/// personal data). Sites that cannot be expressed in v1.0.2 lose only the values the standard has no word for; the
/// output always validates against the v1.0.2 schema.
#[tracing::instrument(skip_all)]
pub async fn export_v1<C: ConnectionTrait, W: Write>(
    db: &C,
    actor: &Actor,
    scope: &ExportScope,
    include_emails: bool,
    out: W,
) -> Result<u64, SitesError> {
    let mut departments: Option<Vec<String>> = None;
    if let Some(slug) = &scope.hub {
        let hub = maillage_territories::hub_by_slug(db, slug)
            .await?
            .ok_or_else(|| SitesError::UnknownHub(slug.clone()))?;
        let deps = maillage_territories::departments_of_hubs(db, &[hub.id]).await?;
        departments = Some(
            deps.into_iter()
                .map(|(_, d)| d.code.as_str().to_owned())
                .collect(),
        );
    }
    if let Some(dep) = &scope.department {
        let dep = dep.as_str().to_owned();
        departments = Some(match departments {
            Some(list) => list.into_iter().filter(|d| *d == dep).collect(),
            None => vec![dep],
        });
    }
    let mut writer = csv::WriterBuilder::new().from_writer(out);
    writer.write_record(V1_COLUMNS).map_err(csv_error)?;
    let mut last_id = 0;
    let mut count = 0u64;
    loop {
        let mut query = site::Entity::find()
            .filter(site::Column::Id.gt(last_id))
            .filter(site::Column::ArchivedAt.is_null())
            .filter(site::Column::MergedInto.is_null());
        if let Some(deps) = &departments {
            query = query.filter(site::Column::DepartmentCode.is_in(deps.iter().cloned()));
        }
        let rows = query
            .order_by_asc(site::Column::Id)
            .limit(CHUNK)
            .all(db)
            .await?;
        let Some(last) = rows.last() else { break };
        last_id = last.id;
        for site in hydrate(db, rows).await? {
            let emails = include_emails && site.emails_for(actor).is_some();
            let mut record = to_v1_record(&site.data, emails);
            // The standard's `id` must be unique in a file; ids are unique only within a source, and an export may
            // mix sources.
            if let Some(id) = record.first_mut() {
                *id = format!("{}:{}", site.source, site.data.source_id);
            }
            writer.write_record(record).map_err(csv_error)?;
            count += 1;
        }
    }
    writer.flush().map_err(|source| SitesError::Io {
        path: "export output".to_owned(),
        source,
    })?;
    Ok(count)
}

fn csv_error(e: csv::Error) -> SitesError {
    SitesError::Io {
        path: "export output".to_owned(),
        source: std::io::Error::other(e.to_string()),
    }
}
