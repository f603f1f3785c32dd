//! The brief read of a site list: only the columns that identify, order, page, place and link a site.
//!
//! Why it exists: a perf profile of the release server under 64 connections (docs/PERFORMANCE.md, "Profile") put
//! row decoding first on a department's list (Q3: 10.6 % of the CPU). Every list read all 37 columns of `site`;
//! sea-orm's derived model finds each column by name (a comparison over the column names, per column and per
//! row), and copies every text, the long `search_text`, `description` and `opening_hours` included, to serve a
//! selection that mostly asks for `sourceId` and `name`. The copies then cost memmove and allocation, and
//! `from_model` parsed the pivot, the e-mails and the standard version of every row. A brief row is 18 narrow
//! columns, decoded by position ([`BriefRow`]), with only the codes parsed.
//!
//! A brief [`Site`] has neutral values in the fields it did not read (see [`SiteParts::Brief`]) and says so in
//! [`Site::parts`]; the GraphQL layer asks for it only when every selected field is one it serves, and its
//! resolvers of the other fields refuse a brief site rather than serve a neutral value.

use crate::SitesError;
use crate::entity::site;
use crate::model::{NewSite, StandardVersion};
use crate::query::{Site, SiteParts};
use chrono::{DateTime, NaiveDate, Utc};
use maillage_core::db::column;
use maillage_core::{DepartmentCode, Pivot, PostalCode, SiteId};
use sea_orm::{DbErr, FromQueryResult, QueryResult};

/// The columns of a brief read, in the order [`BriefRow`] decodes them by position.
pub(crate) const BRIEF_COLUMNS: [site::Column; 18] = [
    site::Column::Id,
    site::Column::Source,
    site::Column::SourceId,
    site::Column::Name,
    site::Column::Commune,
    site::Column::PostalCode,
    site::Column::InseeCode,
    site::Column::DepartmentCode,
    site::Column::Latitude,
    site::Column::Longitude,
    site::Column::OpeningHoursValid,
    site::Column::UpdatedOn,
    site::Column::Version,
    site::Column::CreatedAt,
    site::Column::UpdatedAt,
    site::Column::ArchivedAt,
    site::Column::MergedInto,
    // The stored key of name order: a list sorts and pages on it without folding every name again.
    site::Column::SortName,
];

/// One brief row. Decoded by position: the statement's first columns must be [`BRIEF_COLUMNS`], in that order
/// (columns after them, if a statement adds any, are ignored).
pub(crate) struct BriefRow {
    id: i32,
    source: String,
    source_id: String,
    name: String,
    commune: String,
    postal_code: String,
    insee_code: Option<String>,
    department_code: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    opening_hours_valid: Option<bool>,
    updated_on: NaiveDate,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    archived_at: Option<DateTime<Utc>>,
    merged_into: Option<i32>,
    sort_name: String,
}

/// By position, not by name: the prefix of nested models does not apply (a brief row is never nested).
impl FromQueryResult for BriefRow {
    fn from_query_result(res: &QueryResult, _pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            id: column(res, 0)?,
            source: column(res, 1)?,
            source_id: column(res, 2)?,
            name: column(res, 3)?,
            commune: column(res, 4)?,
            postal_code: column(res, 5)?,
            insee_code: column(res, 6)?,
            department_code: column(res, 7)?,
            latitude: column(res, 8)?,
            longitude: column(res, 9)?,
            opening_hours_valid: column(res, 10)?,
            updated_on: column(res, 11)?,
            version: column(res, 12)?,
            created_at: column(res, 13)?,
            updated_at: column(res, 14)?,
            archived_at: column(res, 15)?,
            merged_into: column(res, 16)?,
            sort_name: column(res, 17)?,
        })
    }
}

/// A brief site and its stored `sort_name`: the codes are parsed (a corrupt one is reported as for a whole row), the
/// rest of [`Site::data`] holds the neutral values documented on [`SiteParts::Brief`].
pub(crate) fn from_brief(m: BriefRow) -> Result<(Site, String), SitesError> {
    let (postal_code, insee_code, department_code) = crate::query::parse_codes(
        m.id,
        &m.postal_code,
        m.insee_code.as_deref(),
        m.department_code.as_deref(),
    )?;
    let site = Site {
        id: SiteId(m.id),
        source: m.source,
        department_code,
        opening_hours_valid: m.opening_hours_valid,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
        merged_into: m.merged_into.map(SiteId),
        archived_at: m.archived_at,
        distance_km: None,
        parts: SiteParts::Brief,
        data: Box::new(NewSite {
            commune: m.commune,
            insee_code,
            latitude: m.latitude,
            longitude: m.longitude,
            updated_on: m.updated_on,
            ..neutral_data(m.source_id, m.name, postal_code)
        }),
    };
    Ok((site, m.sort_name))
}

/// A site's content with `source_id`, `name` and `postal_code` only, every other field at the neutral value of a
/// names-only read ([`SiteParts::Names`]); a brief read sets its own fields over it. The postal code is given
/// rather than set over a placeholder: a placeholder made and dropped was two allocations per site of a page.
fn neutral_data(source_id: String, name: String, postal_code: PostalCode) -> NewSite {
    NewSite {
        source_id,
        standard_version: StandardVersion::V1_0,
        pivot: Pivot::placeholder(),
        name,
        commune: String::new(),
        postal_code,
        insee_code: None,
        address: String::new(),
        address_complement: None,
        latitude: None,
        longitude: None,
        ban_key: None,
        phone: None,
        emails: Vec::new(),
        website: None,
        opening_hours: None,
        summary: None,
        description: None,
        source_label: None,
        parent_structure: None,
        updated_on: NaiveDate::default(),
        values: Vec::new(),
        other_labels: None,
        accessibility_url: None,
        booking_url: None,
    }
}

/// The columns of a names-and-places read ([`SiteParts::Places`]), in the order [`NamesRow`] decodes them by
/// position; a names-only read ([`SiteParts::Names`]) selects the same but `commune` and `postal_code`
/// ([`NAMES_COLUMNS`]).
pub(crate) const PLACES_COLUMNS: [site::Column; 10] = [
    site::Column::Id,
    site::Column::Source,
    site::Column::SourceId,
    site::Column::Name,
    site::Column::Commune,
    site::Column::PostalCode,
    site::Column::DepartmentCode,
    site::Column::ArchivedAt,
    site::Column::MergedInto,
    site::Column::SortName,
];

/// The columns of a names-only read ([`SiteParts::Names`]): [`PLACES_COLUMNS`] without `commune` and
/// `postal_code`, in the same order.
pub(crate) const NAMES_COLUMNS: [site::Column; 8] = [
    site::Column::Id,
    site::Column::Source,
    site::Column::SourceId,
    site::Column::Name,
    site::Column::DepartmentCode,
    site::Column::ArchivedAt,
    site::Column::MergedInto,
    site::Column::SortName,
];

/// One names-only or names-and-places row, decoded by position as [`BriefRow`]: the statement's first columns are
/// [`NAMES_COLUMNS`] or [`PLACES_COLUMNS`] ([`NamesRow::decode`]).
pub(crate) struct NamesRow {
    id: i32,
    source: String,
    source_id: String,
    name: String,
    /// `commune` and `postal_code`, in a names-and-places row.
    place: Option<(String, String)>,
    department_code: Option<String>,
    archived_at: Option<DateTime<Utc>>,
    merged_into: Option<i32>,
    sort_name: String,
}

impl NamesRow {
    /// The row of a statement selecting [`PLACES_COLUMNS`] when `places`, else [`NAMES_COLUMNS`]; its sort name
    /// left empty unless `sort_name` (a page that computes no cursor does not use it).
    pub(crate) fn decode(res: &QueryResult, places: bool, sort_name: bool) -> Result<Self, DbErr> {
        let place = if places {
            Some((column(res, 4)?, column(res, 5)?))
        } else {
            None
        };
        let next = if places { 6 } else { 4 };
        Ok(Self {
            id: column(res, 0)?,
            source: column(res, 1)?,
            source_id: column(res, 2)?,
            name: column(res, 3)?,
            place,
            department_code: column(res, next)?,
            archived_at: column(res, next + 1)?,
            merged_into: column(res, next + 2)?,
            sort_name: if sort_name {
                column(res, next + 3)?
            } else {
                String::new()
            },
        })
    }
}

/// A names-only or names-and-places site and its stored `sort_name`: the codes it read are parsed (a corrupt one
/// is reported as for a whole row), the rest holds the neutral values documented on [`SiteParts::Names`] and
/// [`SiteParts::Places`].
pub(crate) fn from_names(m: NamesRow) -> Result<(Site, String), SitesError> {
    let corrupt = |detail: String| SitesError::CorruptRow { id: m.id, detail };
    let department_code = m
        .department_code
        .map(DepartmentCode::parse_owned)
        .transpose()
        .map_err(|e| corrupt(e.to_string()))?;
    let (data, parts) = match m.place {
        Some((commune, postal_code)) => {
            let postal_code =
                PostalCode::parse_owned(postal_code).map_err(|e| corrupt(e.to_string()))?;
            let mut data = neutral_data(m.source_id, m.name, postal_code);
            data.commune = commune;
            (data, SiteParts::Places)
        }
        None => (
            neutral_data(m.source_id, m.name, PostalCode::placeholder()),
            SiteParts::Names,
        ),
    };
    let site = Site {
        id: SiteId(m.id),
        source: m.source,
        department_code,
        opening_hours_valid: None,
        version: 0,
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
        merged_into: m.merged_into.map(SiteId),
        archived_at: m.archived_at,
        distance_km: None,
        parts,
        data: Box::new(data),
    };
    Ok((site, m.sort_name))
}
