//! Lieux de médiation numérique.

use crate::error::IntoGql;
use crate::id::{NodeKind, decode_int, encode};
use crate::loaders::SitesArgs;
use crate::state;
use crate::territories::{DepartmentNode, HubNode};
use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, NaiveDate, Utc};
use maillage_core::error::FieldPath;
use maillage_core::pagination::{Page, PageRequest};
use maillage_core::{DepartmentCode, RegionCode, SiteId};
use maillage_sites::{
    BoundingBox, Site, SiteFilter, SiteOrder, SiteOrderField, SitesError, ValueKind,
};

/// A lieu de médiation numérique (site), normalised from the national standard (v0.1.1 or v1.0.2).
///
/// Multi-valued fields (`services`, `publics`, …) give v1.0.2 labels; values of the source that have no v1.0.2
/// equivalent are in `rawValues` with a null `value`.
pub struct SiteNode(pub Site);

/// What a site's multi-valued field said in its source, and its v1.0.2 label if there is one.
#[derive(async_graphql::SimpleObject)]
pub struct SiteValue {
    /// The field: `service`, `public`, `specific_support`, `fee`, `national_programme`, `training_label`,
    /// `access_mode`, `support_mode`, `typology` or `itinerance`.
    pub field: String,
    /// The v1.0.2 label, or null when the source's value has none.
    pub value: Option<String>,
    /// The value exactly as the source wrote it.
    pub raw: String,
}

impl SiteNode {
    fn values(&self, kind: ValueKind) -> Vec<String> {
        self.0
            .data
            .mapped_values(kind)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

#[Object(name = "Site")]
impl SiteNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::Site, self.0.id)
    }
    /// The import source (e.g. `hinaura`); with `sourceId`, the site's identity.
    async fn source(&self) -> &str {
        &self.0.source
    }
    /// The row's `id` in its source.
    async fn source_id(&self) -> &str {
        &self.0.data.source_id
    }
    /// Version of the national standard of the source file (`0.1.1` or `1.0.2`).
    async fn standard_version(&self) -> &str {
        self.0.data.standard_version.as_str()
    }
    /// SIRET, RNA or RIDET of the structure; `00000000000000` when the source did not know it.
    async fn pivot(&self) -> &str {
        self.0.data.pivot.as_str()
    }
    /// Name (`nom`).
    async fn name(&self) -> &str {
        &self.0.data.name
    }
    /// Commune, as written by the source.
    async fn commune(&self) -> &str {
        &self.0.data.commune
    }
    /// Postal code.
    async fn postal_code(&self) -> &str {
        self.0.data.postal_code.as_str()
    }
    /// INSEE commune code, when the source gave a valid one.
    async fn insee_code(&self) -> Option<&str> {
        self.0.data.insee_code.as_ref().map(|c| c.as_str())
    }
    /// Street address.
    async fn address(&self) -> &str {
        &self.0.data.address
    }
    /// Address complement.
    async fn address_complement(&self) -> Option<&str> {
        self.0.data.address_complement.as_deref()
    }
    /// Latitude (WGS84).
    async fn latitude(&self) -> Option<f64> {
        self.0.data.latitude
    }
    /// Longitude (WGS84).
    async fn longitude(&self) -> Option<f64> {
        self.0.data.longitude
    }
    /// Public phone number of the site (international form).
    async fn phone(&self) -> Option<&str> {
        self.0.data.phone.as_deref()
    }
    /// E-mail addresses. They may be personal (prenom.nom@…), so they are **null** for anonymous and partner
    /// callers and for hub coordinators outside the site's department; no error is raised.
    async fn emails(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<String>>> {
        let s = state(ctx)?;
        Ok(self
            .0
            .emails_for(&s.actor)
            .map(|list| list.iter().map(|e| e.as_str().to_owned()).collect()))
    }
    /// Website(s), as written by the source (`|`-separated when several).
    async fn website(&self) -> Option<&str> {
        self.0.data.website.as_deref()
    }
    /// Opening hours as written by the source (OpenStreetMap opening_hours syntax).
    async fn opening_hours(&self) -> Option<&str> {
        self.0.data.opening_hours.as_deref()
    }
    /// Whether `openingHours` parses; unparsable values are kept, but such sites never match `openAt`.
    async fn opening_hours_valid(&self) -> Option<bool> {
        self.0.opening_hours_valid
    }
    /// Short presentation.
    async fn summary(&self) -> Option<&str> {
        self.0.data.summary.as_deref()
    }
    /// Detailed presentation.
    async fn description(&self) -> Option<&str> {
        self.0.data.description.as_deref()
    }
    /// The row's own `source` column (e.g. `conseiller-numerique`, `france-services`).
    async fn source_label(&self) -> Option<&str> {
        self.0.data.source_label.as_deref()
    }
    /// Parent structure.
    async fn parent_structure(&self) -> Option<&str> {
        self.0.data.parent_structure.as_deref()
    }
    /// Date of the source's last update (`date_maj`); `1970-01-01` in some sources means unknown.
    async fn updated_on(&self) -> NaiveDate {
        self.0.data.updated_on
    }
    /// Services offered (v1.0.2 labels).
    async fn services(&self) -> Vec<String> {
        self.values(ValueKind::Service)
    }
    /// Publics specifically addressed (v1.0.2 `publics_specifiquement_adresses`).
    async fn publics(&self) -> Vec<String> {
        self.values(ValueKind::Public)
    }
    /// Specific support (v1.0.2 `prise_en_charge_specifique`).
    async fn specific_support(&self) -> Vec<String> {
        self.values(ValueKind::SpecificSupport)
    }
    /// Fees (v1.0.2 `frais_a_charge`).
    async fn fees(&self) -> Vec<String> {
        self.values(ValueKind::Fee)
    }
    /// National programmes (v1.0.2 `dispositif_programmes_nationaux`).
    async fn national_programmes(&self) -> Vec<String> {
        self.values(ValueKind::NationalProgramme)
    }
    /// Training and labels (v1.0.2 `formations_labels`).
    async fn training_labels(&self) -> Vec<String> {
        self.values(ValueKind::TrainingLabel)
    }
    /// Other labels, free text.
    async fn other_labels(&self) -> Option<&str> {
        self.0.data.other_labels.as_deref()
    }
    /// Access modes (v1.0.2 `modalites_acces`).
    async fn access_modes(&self) -> Vec<String> {
        self.values(ValueKind::AccessMode)
    }
    /// Support modes (v1.0.2 `modalites_accompagnement`).
    async fn support_modes(&self) -> Vec<String> {
        self.values(ValueKind::SupportMode)
    }
    /// Typology codes.
    async fn typologies(&self) -> Vec<String> {
        self.values(ValueKind::Typology)
    }
    /// Every multi-valued field as the source wrote it, mapped or not.
    async fn raw_values(&self) -> Vec<SiteValue> {
        self.0
            .data
            .values
            .iter()
            .map(|v| SiteValue {
                field: v.kind.as_str().to_owned(),
                value: v.value.clone(),
                raw: v.raw.clone(),
            })
            .collect()
    }
    /// Accessibility sheet (acceslibre) URL.
    async fn accessibility_url(&self) -> Option<&str> {
        self.0.data.accessibility_url.as_deref()
    }
    /// Booking URL.
    async fn booking_url(&self) -> Option<&str> {
        self.0.data.booking_url.as_deref()
    }
    /// The department, derived from the INSEE code or the postal code; null outside the 101 departments.
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DepartmentNode>> {
        let Some(code) = self.0.department_code.clone() else {
            return Ok(None);
        };
        let s = state(ctx)?;
        Ok(s.loaders
            .department
            .load_one(code)
            .await?
            .map(DepartmentNode))
    }
    /// The hubs covering the site's department.
    async fn hubs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<HubNode>> {
        let Some(code) = self.0.department_code.clone() else {
            return Ok(Vec::new());
        };
        let s = state(ctx)?;
        let hubs = s.loaders.department_hubs.load_one(code).await?;
        Ok(hubs.unwrap_or_default().into_iter().map(HubNode).collect())
    }
    /// Version for optimistic concurrency.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// When Maillage first stored the site.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When Maillage last changed the site.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A page of sites (Relay connection).
pub struct SiteConnection(pub Page<Site>);

/// A site and its cursor.
pub struct SiteEdge {
    cursor: String,
    node: Site,
}

/// Position of a page in its list.
#[derive(async_graphql::SimpleObject)]
pub struct PageInfo {
    /// Whether items follow this page.
    pub has_next_page: bool,
    /// Whether items precede this page.
    pub has_previous_page: bool,
    /// Cursor of the first item.
    pub start_cursor: Option<String>,
    /// Cursor of the last item: pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

#[Object]
impl SiteEdge {
    /// Opaque cursor of this item.
    async fn cursor(&self) -> &str {
        &self.cursor
    }
    /// The site.
    async fn node(&self) -> SiteNode {
        SiteNode(self.node.clone())
    }
}

#[Object]
impl SiteConnection {
    /// Items with their cursors.
    async fn edges(&self) -> Vec<SiteEdge> {
        self.0
            .items
            .iter()
            .map(|(c, s)| SiteEdge {
                cursor: c.as_str().to_owned(),
                node: s.clone(),
            })
            .collect()
    }
    /// Items without cursors.
    async fn nodes(&self) -> Vec<SiteNode> {
        self.0
            .items
            .iter()
            .map(|(_, s)| SiteNode(s.clone()))
            .collect()
    }
    /// Page position.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.0.has_next_page,
            has_previous_page: self.0.has_previous_page,
            start_cursor: self.0.items.first().map(|(c, _)| c.as_str().to_owned()),
            end_cursor: self.0.items.last().map(|(c, _)| c.as_str().to_owned()),
        }
    }
    /// Number of sites matching the filter, all pages together (counted only when selected).
    async fn total_count(&self) -> i32 {
        self.0
            .total_count
            .map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX))
    }
}

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

/// Criteria on sites; all given criteria must hold.
#[derive(InputObject, Default)]
#[graphql(name = "SiteFilter")]
pub struct SiteFilterInput {
    /// Sites in any of these departments (INSEE codes).
    pub departments: Option<Vec<String>>,
    /// Sites in the departments of this hub (slug).
    pub hub: Option<String>,
    /// Sites in this region (INSEE code).
    pub region: Option<String>,
    /// Sites offering every one of these services (v1.0.2 labels, e.g. "Aide aux démarches administratives").
    pub services: Option<Vec<String>>,
    /// Sites addressing every one of these publics or specific supports (v1.0.2 labels, e.g. "Seniors").
    pub publics: Option<Vec<String>>,
    /// Sites with every one of these national programmes or labels (v1.0.2 labels, e.g. "France Services").
    pub labels: Option<Vec<String>>,
    /// Text contained in the name or the commune, ignoring case and accents.
    pub text: Option<String>,
    /// Sites whose coordinates are in this rectangle.
    pub bounding_box: Option<BoundingBoxInput>,
    /// Sites open at this instant, according to their opening hours, in their local time zone. Public holidays
    /// are not taken into account.
    pub open_at: Option<DateTime<Utc>>,
    /// Sites from this import source.
    pub source: Option<String>,
}

/// Fields sites can be sorted by; ties are broken by id.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum SiteOrderFieldInput {
    /// Name, ignoring case and accents.
    #[default]
    Name,
    /// Source's last update date.
    UpdatedOn,
    /// Order of first import.
    Id,
}

/// Sort direction.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum OrderDirection {
    /// Ascending.
    #[default]
    Asc,
    /// Descending.
    Desc,
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

fn invalid(field: FieldPath, e: &maillage_core::error::InvalidValue) -> async_graphql::Error {
    crate::error::to_gql(&SitesError::invalid(field, e))
}

impl SiteFilterInput {
    fn into_domain(self) -> async_graphql::Result<SiteFilter> {
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
            hub: self.hub,
            region,
            services: self.services.unwrap_or_default(),
            publics: self.publics.unwrap_or_default(),
            labels: self.labels.unwrap_or_default(),
            text: self.text,
            bounding_box: self.bounding_box.map(|b| BoundingBox {
                min_latitude: b.min_latitude,
                max_latitude: b.max_latitude,
                min_longitude: b.min_longitude,
                max_longitude: b.max_longitude,
            }),
            open_at: self.open_at,
            source: self.source,
        };
        filter.validate().gql()?;
        Ok(filter)
    }
}

/// Validates the arguments of a `sites` field, and asks for the total only when `totalCount` is selected.
pub(crate) fn sites_args(
    ctx: &Context<'_>,
    filter: Option<SiteFilterInput>,
    order_by: Option<SiteOrderByInput>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<SitesArgs> {
    let filter = filter.unwrap_or_default().into_domain()?;
    let order = order_by.map_or_else(SiteOrder::default, |o| SiteOrder {
        field: match o.field {
            SiteOrderFieldInput::Name => SiteOrderField::Name,
            SiteOrderFieldInput::UpdatedOn => SiteOrderField::UpdatedOn,
            SiteOrderFieldInput::Id => SiteOrderField::Id,
        },
        descending: o.direction == OrderDirection::Desc,
    });
    let page = PageRequest::new(first, after.as_deref())
        .gql()?
        .with_total(ctx.look_ahead().field("totalCount").exists());
    if let Some(after) = &page.after {
        // Reject a forged cursor up front, with its code, rather than deep inside a batched load.
        after.decode::<(String, i32)>().gql()?;
    }
    Ok(SitesArgs::new(filter, order, page))
}

/// Queries on sites.
#[derive(Default)]
pub struct SitesQuery;

#[Object]
impl SitesQuery {
    /// Sites matching a filter, as a Relay connection (at most 100 per page).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn sites(
        &self,
        ctx: &Context<'_>,
        filter: Option<SiteFilterInput>,
        order_by: Option<SiteOrderByInput>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<SiteConnection> {
        let s = state(ctx)?;
        let args = sites_args(ctx, filter, order_by, first, after)?;
        let page = maillage_sites::list_sites(&s.db, &args.filter, args.order, &args.page)
            .await
            .gql()?;
        Ok(SiteConnection(page))
    }

    /// One site by its global ID.
    async fn site(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<SiteNode>> {
        let s = state(ctx)?;
        let id = decode_int(&id, NodeKind::Site)?;
        let site = maillage_sites::get_site(&s.db, SiteId(id)).await.gql()?;
        Ok(site.map(SiteNode))
    }
}

/// Used by `node`/`nodes`.
pub(crate) async fn sites_by_ids(
    ctx: &Context<'_>,
    ids: &[SiteId],
) -> async_graphql::Result<Vec<Site>> {
    let s = state(ctx)?;
    maillage_sites::sites_by_ids(&s.db, ids).await.gql()
}
