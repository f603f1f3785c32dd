//! CSV exports of every list, with exactly the columns of the matching import, so an export re-imports unchanged.
//!
//! Aidants' personal columns (`email`, `nom`, `prenom`, `profession`) are written only for the aidants whose personal
//! data the caller may read; other rows have them empty (such a file cannot be re-imported, by design).

use crate::AidantsError;
use crate::aidants::{AidantFilter, list_aidants};
use crate::entity::{mandate_month, organisation};
use crate::import::ImportKind;
use crate::organisations::{OrganisationFilter, list_organisations, organisations_by_ids};
use crate::territory::{Territory, departments_of};
use maillage_core::pagination::PageRequest;
use maillage_core::{Actor, HubId};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use std::io::Write;

fn csv_error(e: csv::Error) -> AidantsError {
    AidantsError::Io {
        path: "export output".to_owned(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn header(kind: ImportKind) -> Vec<&'static str> {
    kind.columns().iter().map(|(c, _)| *c).collect()
}

fn yes_no(v: bool) -> &'static str {
    if v { "oui" } else { "non" }
}

/// A page request walking a whole list, 100 rows per statement.
fn walk(after: Option<maillage_core::Cursor>) -> PageRequest {
    PageRequest {
        first: maillage_core::pagination::MAX_PAGE_SIZE,
        after,
        with_total: false,
        backward: false,
    }
}

/// Writes the organisations of `territory` (id order); returns the number of rows.
#[tracing::instrument(skip_all)]
pub async fn export_organisations<C: ConnectionTrait, W: Write>(
    db: &C,
    territory: &Territory,
    out: W,
) -> Result<u64, AidantsError> {
    let mut filter = OrganisationFilter::default();
    match territory {
        Territory::National => {}
        Territory::Department(d) => filter.departments = vec![d.clone()],
        Territory::Hub(slug) => filter.hub = Some(slug.clone()),
        Territory::Region(r) => filter.region = Some(r.clone()),
    }
    let mut w = maillage_core::csv::Writer::from_writer(out);
    w.write_record(header(ImportKind::Organisations))
        .map_err(csv_error)?;
    let mut after = None;
    let mut count = 0;
    loop {
        let page = list_organisations(db, &filter, &walk(after.take())).await?;
        for (_, o) in &page.items {
            let d = &o.data;
            w.write_record([
                d.siret.as_str(),
                &d.name,
                d.kind.as_str(),
                &d.address,
                d.postal_code.as_deref().unwrap_or_default(),
                d.commune.as_deref().unwrap_or_default(),
                d.department.as_str(),
                yes_no(d.france_services),
                yes_no(o.active),
                &d.site.map(|s| s.0.to_string()).unwrap_or_default(),
            ])
            .map_err(csv_error)?;
            count += 1;
        }
        if !page.has_next_page {
            break;
        }
        after = page.items.last().map(|(c, _)| c.clone());
    }
    w.flush().map_err(|source| AidantsError::Io {
        path: "export output".to_owned(),
        source,
    })?;
    Ok(count)
}

/// Writes the aidants of `territory` (id order), personal columns only where `actor` may read them; returns the
/// number of rows.
#[tracing::instrument(skip_all)]
pub async fn export_aidants<C: ConnectionTrait, W: Write>(
    db: &C,
    actor: &Actor,
    territory: &Territory,
    out: W,
) -> Result<u64, AidantsError> {
    let mut filter = AidantFilter::default();
    match territory {
        Territory::National => {}
        Territory::Department(d) => filter.departments = vec![d.clone()],
        Territory::Hub(slug) => filter.hub = Some(slug.clone()),
        Territory::Region(r) => filter.region = Some(r.clone()),
    }
    let hubs: HashMap<HubId, String> = maillage_territories::list_hubs(db)
        .await?
        .into_iter()
        .map(|h| (h.id, h.slug))
        .collect();
    let mut sirets: HashMap<i32, String> = HashMap::new();
    let mut w = maillage_core::csv::Writer::from_writer(out);
    w.write_record(header(ImportKind::Aidants))
        .map_err(csv_error)?;
    let mut after = None;
    let mut count = 0;
    loop {
        let page = list_aidants(db, &filter, &walk(after.take())).await?;
        let missing: Vec<_> = page
            .items
            .iter()
            .flat_map(|(_, a)| a.data.organisations.iter().copied())
            .filter(|o| !sirets.contains_key(&o.0))
            .collect();
        for org in organisations_by_ids(db, &missing).await? {
            sirets.insert(org.id.0, org.data.siret.as_str().to_owned());
        }
        for (_, a) in &page.items {
            let d = &a.data;
            let person = a.person_for(actor);
            let date = |v: Option<chrono::NaiveDate>| v.map(|d| d.to_string()).unwrap_or_default();
            let orgs = d
                .organisations
                .iter()
                .filter_map(|o| sirets.get(&o.0).cloned())
                .collect::<Vec<_>>()
                .join("|");
            w.write_record([
                person
                    .map(|p| p.email.as_str().to_owned())
                    .unwrap_or_default(),
                person.map(|p| p.last_name.clone()).unwrap_or_default(),
                person.map(|p| p.first_name.clone()).unwrap_or_default(),
                person
                    .and_then(|p| p.profession.clone())
                    .unwrap_or_default(),
                orgs,
                d.status.as_str().to_owned(),
                date(d.requested_on),
                date(d.trained_on),
                d.training_hub
                    .and_then(|h| hubs.get(&h).cloned())
                    .unwrap_or_default(),
                date(d.authorised_on),
                date(d.revoked_on),
                d.counsellor.map(|c| c.0.to_string()).unwrap_or_default(),
            ])
            .map_err(csv_error)?;
            count += 1;
        }
        if !page.has_next_page {
            break;
        }
        after = page.items.last().map(|(c, _)| c.clone());
    }
    w.flush().map_err(|source| AidantsError::Io {
        path: "export output".to_owned(),
        source,
    })?;
    Ok(count)
}

/// Rows read per statement while exporting mandate aggregates.
const CHUNK: u64 = 1000;

/// Writes the monthly mandate aggregates of the organisations of `territory`, ordered by organisation, démarche,
/// month and duration; returns the number of rows.
#[tracing::instrument(skip_all)]
pub async fn export_mandates<C: ConnectionTrait, W: Write>(
    db: &C,
    territory: &Territory,
    out: W,
) -> Result<u64, AidantsError> {
    let departments = departments_of(db, territory).await?;
    let mut orgs = organisation::Entity::find()
        .select_only()
        .column(organisation::Column::Id)
        .column(organisation::Column::Siret);
    if let Some(deps) = departments {
        orgs = orgs.filter(organisation::Column::DepartmentCode.is_in(deps));
    }
    let sirets: HashMap<i32, String> = orgs
        .into_tuple::<(i32, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut w = maillage_core::csv::Writer::from_writer(out);
    w.write_record(header(ImportKind::Mandates))
        .map_err(csv_error)?;
    let mut ids: Vec<i32> = sirets.keys().copied().collect();
    ids.sort_unstable();
    let mut count = 0;
    for chunk in ids.chunks(500) {
        let mut offset = 0;
        loop {
            let rows = mandate_month::Entity::find()
                .filter(mandate_month::Column::OrganisationId.is_in(chunk.iter().copied()))
                .order_by_asc(mandate_month::Column::OrganisationId)
                .order_by_asc(mandate_month::Column::Demarche)
                .order_by_asc(mandate_month::Column::Month)
                .order_by_asc(mandate_month::Column::Duration)
                .offset(offset)
                .limit(CHUNK)
                .all(db)
                .await?;
            let n = rows.len() as u64;
            for m in rows {
                let siret = sirets.get(&m.organisation_id).cloned().unwrap_or_default();
                w.write_record([
                    siret,
                    m.demarche,
                    m.month,
                    m.duration,
                    m.created.to_string(),
                    m.renewed.to_string(),
                    m.revoked.to_string(),
                    m.active_at_month_end.to_string(),
                ])
                .map_err(csv_error)?;
                count += 1;
            }
            if n < CHUNK {
                break;
            }
            offset += CHUNK;
        }
    }
    w.flush().map_err(|source| AidantsError::Io {
        path: "export output".to_owned(),
        source,
    })?;
    Ok(count)
}
