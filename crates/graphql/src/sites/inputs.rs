//! Inputs of the sites queries and mutations (the rules of mutation inputs are the sites' own: `maillage_sites::draft`).

use super::loaders::SitesArgs;
use crate::kit::connection::{PageArgs, keyed_page_request, selects_cursors};
use crate::kit::date::Date;
use crate::kit::error::IntoGql;
use crate::kit::order::OrderDirection;
use crate::kit::territory::opt_hub_slug;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined};
use chrono::{DateTime, Utc};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{DepartmentCode, RegionCode};
use maillage_sites::query::SiteRead;
use maillage_sites::{
    BoundingBox, Near, NearCentre, SiteFilter, SiteOrder, SiteOrderField, SiteParts, SiteRecords,
    SitesError, ValueKind,
};

/// A geographic rectangle (WGS84 degrees, bounds included).
#[derive(InputObject)]
#[graphql(name = "BoundingBox")]
pub struct BoundingBoxInput {
    /// Southern bound.
    pub min_latitude: f64,
    /// Northern bound.
    pub max_latitude: f64,
    /// Western bound.
    pub min_longitude: f64,
    /// Eastern bound.
    pub max_longitude: f64,
}

/// Sites within a radius of a point or of a commune's centre: give `latitude` and `longitude`, or `commune`.
#[derive(InputObject)]
#[graphql(name = "NearFilter")]
pub struct NearInput {
    /// Latitude of the centre (WGS84), with `longitude`.
    pub latitude: Option<f64>,
    /// Longitude of the centre (WGS84), with `latitude`.
    pub longitude: Option<f64>,
    /// INSEE code of a commune whose centre is the centre (instead of `latitude`/`longitude`).
    pub commune: Option<String>,
    /// Radius in kilometres (great-circle distance), more than 0 and at most 200.
    pub radius_km: f64,
}

impl NearInput {
    fn into_domain(self) -> async_graphql::Result<Near> {
        let centre = match (self.latitude, self.longitude, self.commune) {
            (Some(latitude), Some(longitude), None) => NearCentre::Point {
                latitude,
                longitude,
            },
            (None, None, Some(insee)) => NearCentre::Commune(insee),
            _ => {
                return Err(crate::kit::error::coded(
                    "give latitude and longitude, or commune",
                    Code::InvalidValue,
                    Some("filter.near".to_owned()),
                ));
            }
        };
        Ok(Near {
            centre,
            radius_km: self.radius_km,
        })
    }
}

/// Criteria on sites; all given criteria must hold.
#[derive(InputObject, Default)]
#[graphql(name = "SiteFilter")]
pub struct SiteFilterInput {
    /// Sites in any of these departments (INSEE codes).
    pub departments: Option<Vec<String>>,
    /// Sites in the departments of this hub: its global ID, or its slug (e.g. `hinaura`).
    pub hub: Option<ID>,
    /// Sites in this region (INSEE code).
    pub region: Option<String>,
    /// Sites offering every one of these services (v1.0.2 labels, e.g. "Aide aux démarches administratives").
    pub services: Option<Vec<String>>,
    /// Sites addressing every one of these publics or specific supports (v1.0.2 labels, e.g. "Seniors").
    pub publics: Option<Vec<String>>,
    /// Sites with every one of these national programmes or labels (v1.0.2 labels, e.g. "France Services").
    pub labels: Option<Vec<String>>,
    /// Words that must all occur in the name, commune, address, presentation, services or labels (full-text
    /// search): case, accents, hyphens, "st"/"saint" and plurals do not matter, and one typo is forgiven in
    /// words of five letters or more. Without `orderBy` (and without `near`), results come by relevance.
    pub text: Option<String>,
    /// Sites within a radius of a point or of a commune's centre; sets `Site.distanceKm`. Without `orderBy`,
    /// results come nearest first.
    pub near: Option<NearInput>,
    /// Sites whose coordinates are in this rectangle.
    pub bounding_box: Option<BoundingBoxInput>,
    /// Sites open at this instant, according to their opening hours, in their local time zone (French public
    /// holidays apply to hours that mention `PH`). Sites whose hours are unknown are never open: see
    /// `openingHoursKnown`.
    pub open_at: Option<DateTime<Utc>>,
    /// Sites whose opening hours are known (`true`: given and readable) or unknown (`false`: absent or not in
    /// OpenStreetMap syntax), so that "closed" and "hours unknown" can be told apart.
    pub opening_hours_known: Option<bool>,
    /// Sites from this import source.
    pub source: Option<String>,
    /// Canonical sites, one per place (the default), or the raw source records underneath them.
    pub records: Option<SiteRecordsInput>,
    /// Only sites Maillage wrote at or after this instant (server clock, not the source's `date_maj`): with
    /// `orderBy: {field: UPDATED_AT}`, a mirror's incremental pull (docs/SYNC.md; tombstones of archived sites:
    /// `sitesUpdatedSince`). Top-level `sites` list only.
    pub updated_since: Option<DateTime<Utc>>,
}

/// Which rows a site list serves.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(name = "SiteRecords")]
pub enum SiteRecordsInput {
    /// One site per place: a confirmed cluster of duplicates is served as its canonical site (`source` =
    /// `maillage`), never as its source records.
    #[default]
    Canonical,
    /// The source records as imported, merged into a canonical site or not; canonical sites are left out.
    Sources,
}

/// Fields sites can be sorted by; ties are broken by id.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(name = "SiteOrderField")]
pub enum SiteOrderFieldInput {
    /// Name, ignoring case and accents.
    #[default]
    Name,
    /// Source's last update date.
    UpdatedOn,
    /// Order of first import.
    Id,
    /// When Maillage last wrote the site (server clock), then id: a site written while you page moves to the end
    /// instead of being skipped.
    UpdatedAt,
    /// Relevance to `filter.text`: sites with more of its words in their name first, then by name (by name
    /// without a text, and in per-department lists).
    Relevance,
    /// Distance from the centre of `filter.near` (required), nearest first with `ASC`.
    Distance,
}

/// How to sort sites.
#[derive(InputObject)]
#[graphql(name = "SiteOrderBy")]
pub struct SiteOrderByInput {
    /// Field (default NAME).
    #[graphql(default)]
    pub field: SiteOrderFieldInput,
    /// Direction (default ASC).
    #[graphql(default)]
    pub direction: OrderDirection,
}

pub(crate) fn invalid(
    field: FieldPath,
    e: &maillage_core::error::InvalidValue,
) -> async_graphql::Error {
    crate::kit::error::to_gql(&SitesError::invalid(field, e))
}

impl SiteFilterInput {
    pub(crate) async fn into_domain(self, ctx: &Context<'_>) -> async_graphql::Result<SiteFilter> {
        let hub = opt_hub_slug(ctx, self.hub.as_ref(), "filter.hub").await?;
        let departments = self
            .departments
            .map(|list| {
                list.iter()
                    .enumerate()
                    .map(|(i, d)| {
                        DepartmentCode::parse(d).map_err(|e| {
                            invalid(FieldPath::new("filter").push("departments").index(i), &e)
                        })
                    })
                    .collect::<async_graphql::Result<Vec<_>>>()
            })
            .transpose()?;
        let region = self
            .region
            .map(|r| {
                RegionCode::parse(&r)
                    .map_err(|e| invalid(FieldPath::new("filter").push("region"), &e))
            })
            .transpose()?;
        let filter = SiteFilter {
            departments,
            hub,
            region,
            services: self.services.unwrap_or_default(),
            publics: self.publics.unwrap_or_default(),
            labels: self.labels.unwrap_or_default(),
            text: self.text,
            near: self.near.map(NearInput::into_domain).transpose()?,
            bounding_box: self.bounding_box.map(|b| BoundingBox {
                min_latitude: b.min_latitude,
                max_latitude: b.max_latitude,
                min_longitude: b.min_longitude,
                max_longitude: b.max_longitude,
            }),
            open_at: self.open_at,
            opening_hours_known: self.opening_hours_known,
            source: self.source,
            records: match self.records.unwrap_or_default() {
                SiteRecordsInput::Canonical => SiteRecords::Canonical,
                SiteRecordsInput::Sources => SiteRecords::Sources,
            },
        };
        filter.validate().gql()?;
        Ok(filter)
    }
}

/// Validates the arguments of a `sites` field, and asks for the total only when `totalCount` is selected.
pub async fn sites_args(
    ctx: &Context<'_>,
    filter: Option<SiteFilterInput>,
    order_by: Option<SiteOrderByInput>,
    args: PageArgs,
) -> async_graphql::Result<SitesArgs> {
    let filter = filter.unwrap_or_default();
    if filter.updated_since.is_some() {
        return Err(crate::kit::error::coded(
            "updatedSince is a filter of the top-level sites list only",
            Code::InvalidValue,
            Some("filter.updatedSince".to_owned()),
        ));
    }
    let filter = filter.into_domain(ctx).await?;
    let order = order_by.map_or_else(
        || default_order(&filter),
        |o| SiteOrder {
            field: match o.field {
                SiteOrderFieldInput::Name => SiteOrderField::Name,
                SiteOrderFieldInput::UpdatedOn => SiteOrderField::UpdatedOn,
                SiteOrderFieldInput::Id => SiteOrderField::Id,
                SiteOrderFieldInput::UpdatedAt => SiteOrderField::UpdatedAt,
                SiteOrderFieldInput::Relevance => SiteOrderField::Relevance,
                SiteOrderFieldInput::Distance => SiteOrderField::Distance,
            },
            descending: o.direction == OrderDirection::Desc,
        },
    );
    // A forged cursor is refused up front, with its code, rather than deep inside a batched load.
    let page = keyed_page_request::<(String, i32)>(ctx, args)?;
    let read = SiteRead {
        parts: selected_parts(ctx),
        cursors: selects_cursors(ctx),
    };
    Ok(SitesArgs::new(filter, order, page, read))
}

/// The fields of `Site` that read its multi-valued fields, or serve the site itself as one of its source records
/// (`sourceRecords`, whose own selection is not looked at).
const WHOLE_FIELDS: &[&str] = &[
    "services",
    "publics",
    "specificSupport",
    "fees",
    "nationalProgrammes",
    "trainingLabels",
    "accessModes",
    "supportModes",
    "typologies",
    "rawValues",
    "sourceRecords",
];

/// The fields of `Site` a brief read (`SiteParts::Brief`) serves exactly: those read from its brief columns, the
/// relations that need only its id, source and department (whatever is selected under them), and `__typename`.
/// An allow-list: a field not named here, including one added to `Site` later, makes the list read whole rows.
/// Every other resolver of `Site` refuses a brief site (`SiteNode::row`), and an end-to-end test compares every
/// field of `Site` read alone with the same sites read whole (`tests/e2e/brief.rs`).
pub(crate) const BRIEF_FIELDS: &[&str] = &[
    "__typename",
    "id",
    "source",
    "sourceId",
    "name",
    "commune",
    "postalCode",
    "inseeCode",
    "latitude",
    "longitude",
    "openingHoursKnown",
    "openingHoursValid",
    "distanceKm",
    "updatedOn",
    "version",
    "createdAt",
    "updatedAt",
    "department",
    "hubs",
    "counsellors",
    "provenance",
];

/// The fields of `Site` a names-only read (`SiteParts::Names`) serves exactly: `id`, `source`, `sourceId`, `name`,
/// the relations that need only the id and the department (whatever is selected under them), and `__typename`. An
/// allow-list, as [`BRIEF_FIELDS`]; the resolvers of the other brief fields refuse a names-only site
/// (`SiteNode::brief`).
pub(crate) const NAME_FIELDS: &[&str] = &[
    "__typename",
    "id",
    "source",
    "sourceId",
    "name",
    "department",
    "hubs",
    "counsellors",
];

/// The fields of `Site` a names-and-places read (`SiteParts::Places`) serves exactly: those of [`NAME_FIELDS`],
/// `commune` and `postalCode`. An allow-list, as [`BRIEF_FIELDS`].
pub(crate) const PLACE_FIELDS: &[&str] = &[
    "__typename",
    "id",
    "source",
    "sourceId",
    "name",
    "commune",
    "postalCode",
    "department",
    "hubs",
    "counsellors",
];

/// What a `sites` connection's selection reads of each site, from the fields its nodes select (through `nodes` or
/// `edges { node }`, fragments included): names only when every one is in [`NAME_FIELDS`], names and places when
/// every one is in [`PLACE_FIELDS`], a brief row when every one is in [`BRIEF_FIELDS`] (the profile that
/// motivates it is in `maillage_sites::brief`); else the row without the multi-valued fields unless one of
/// [`WHOLE_FIELDS`] is selected, since they are most of the rows a nested list would otherwise read.
fn selected_parts(ctx: &Context<'_>) -> SiteParts {
    let look = ctx.look_ahead();
    let nodes = [look.field("nodes"), look.field("edges").field("node")];
    let mut selected: Vec<&str> = Vec::new();
    for node in nodes.iter().flat_map(|n| n.selection_fields()) {
        selected.extend(node.selection_set().map(|f| f.name()));
    }
    parts_for(&selected)
}

/// What a read of sites needs, from the names of the fields of `Site` selected on them (the rule of
/// [`selected_parts`], shared with `Query.site`).
pub(crate) fn parts_for(selected: &[&str]) -> SiteParts {
    if selected.iter().all(|f| NAME_FIELDS.contains(f)) {
        SiteParts::Names
    } else if selected.iter().all(|f| PLACE_FIELDS.contains(f)) {
        SiteParts::Places
    } else if selected.iter().all(|f| BRIEF_FIELDS.contains(f)) {
        SiteParts::Brief
    } else if selected.iter().any(|f| WHOLE_FIELDS.contains(f)) {
        SiteParts::Whole
    } else {
        SiteParts::WithoutValues
    }
}

/// The order of a list without `orderBy`: nearest first with `near`, most relevant first with `text`, else by
/// name.
fn default_order(filter: &SiteFilter) -> SiteOrder {
    let field = if filter.near.is_some() {
        SiteOrderField::Distance
    } else if filter.text.as_deref().is_some_and(|t| !t.trim().is_empty()) {
        SiteOrderField::Relevance
    } else {
        SiteOrderField::Name
    };
    SiteOrder {
        field,
        descending: false,
    }
}

/// Multi-valued fields of the national standard v1.0.2, as inputs (labels exactly as in the standard).
#[derive(InputObject, Default)]
pub struct SiteValuesInput {
    /// `services`.
    pub services: Option<Vec<String>>,
    /// `publics_specifiquement_adresses`.
    pub publics: Option<Vec<String>>,
    /// `prise_en_charge_specifique`.
    pub specific_support: Option<Vec<String>>,
    /// `frais_a_charge`.
    pub fees: Option<Vec<String>>,
    /// `dispositif_programmes_nationaux`.
    pub national_programmes: Option<Vec<String>>,
    /// `formations_labels`.
    pub training_labels: Option<Vec<String>>,
    /// `modalites_acces`.
    pub access_modes: Option<Vec<String>>,
    /// `modalites_accompagnement`.
    pub support_modes: Option<Vec<String>>,
}

impl SiteValuesInput {
    /// The given fields, each with its kind; the labels are judged by the sites' input rules (paths
    /// `values.services[0]`…).
    pub(crate) fn into_values(self) -> Vec<(ValueKind, Vec<String>)> {
        [
            (ValueKind::Service, self.services),
            (ValueKind::Public, self.publics),
            (ValueKind::SpecificSupport, self.specific_support),
            (ValueKind::Fee, self.fees),
            (ValueKind::NationalProgramme, self.national_programmes),
            (ValueKind::TrainingLabel, self.training_labels),
            (ValueKind::AccessMode, self.access_modes),
            (ValueKind::SupportMode, self.support_modes),
        ]
        .into_iter()
        .filter_map(|(kind, values)| values.map(|v| (kind, v)))
        .collect()
    }
}

/// A new site.
#[derive(InputObject)]
pub struct CreateSiteInput {
    /// Source name (e.g. the hub's slug); with `sourceId`, the site's identity.
    pub source: String,
    /// Identifier within the source.
    pub source_id: String,
    /// SIRET, RNA or RIDET of the structure (default: the `00000000000000` placeholder).
    pub pivot: Option<String>,
    /// Name.
    pub name: String,
    /// Commune.
    pub commune: String,
    /// Postal code (5 digits): decides the department with `inseeCode`.
    pub postal_code: String,
    /// INSEE commune code.
    pub insee_code: Option<String>,
    /// Street address.
    pub address: String,
    /// Address complement.
    pub address_complement: Option<String>,
    /// Latitude (WGS84), with `longitude`.
    pub latitude: Option<f64>,
    /// Longitude (WGS84), with `latitude`.
    pub longitude: Option<f64>,
    /// Public phone number: international form (`+33478000000`) or a usual French layout (`04 78 00 00 00`),
    /// stored in international form.
    pub phone: Option<String>,
    /// E-mail addresses (treated as personal data).
    pub emails: Option<Vec<String>>,
    /// Website.
    pub website: Option<String>,
    /// Opening hours, OpenStreetMap opening_hours syntax.
    pub opening_hours: Option<String>,
    /// Short presentation.
    pub summary: Option<String>,
    /// Detailed presentation.
    pub description: Option<String>,
    /// Date of the information (default: today).
    pub updated_on: Option<Date>,
    /// Multi-valued fields.
    #[graphql(default)]
    pub values: SiteValuesInput,
}

/// Changes to a site; omitted fields stay as they are, `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateSiteInput {
    /// The site.
    pub id: ID,
    /// The version read; refused with `stale_version` if the site changed since.
    pub version: i32,
    /// Name.
    pub name: Option<String>,
    /// Commune.
    pub commune: Option<String>,
    /// Postal code; moving a site outside your departments is refused.
    pub postal_code: Option<String>,
    /// INSEE commune code.
    pub insee_code: MaybeUndefined<String>,
    /// Street address.
    pub address: Option<String>,
    /// Address complement.
    pub address_complement: MaybeUndefined<String>,
    /// Latitude, with `longitude` (both null to clear).
    pub latitude: MaybeUndefined<f64>,
    /// Longitude, with `latitude`.
    pub longitude: MaybeUndefined<f64>,
    /// Phone.
    pub phone: MaybeUndefined<String>,
    /// E-mail addresses (the whole list).
    pub emails: Option<Vec<String>>,
    /// Website.
    pub website: MaybeUndefined<String>,
    /// Opening hours.
    pub opening_hours: MaybeUndefined<String>,
    /// Short presentation.
    pub summary: MaybeUndefined<String>,
    /// Detailed presentation.
    pub description: MaybeUndefined<String>,
    /// Date of the information (default: today).
    pub updated_on: Option<Date>,
    /// Multi-valued fields: each given list replaces that field's values.
    #[graphql(default)]
    pub values: SiteValuesInput,
}

/// The site to archive.
#[derive(InputObject)]
pub struct DeleteSiteInput {
    /// The site.
    pub id: ID,
    /// The version read.
    pub version: i32,
}
