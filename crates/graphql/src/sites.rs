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
use maillage_territories::{Department, Hub};
use std::collections::HashMap;
use std::sync::Arc;

/// A lieu de médiation numérique (site), normalised from the national standard (v0.1.1 or v1.0.2).
///
/// Multi-valued fields (`services`, `publics`, …) give v1.0.2 labels; values of the source that have no v1.0.2
/// equivalent are in `rawValues` with a null `value`.
pub struct SiteNode {
    site: Site,
    /// The department and its hubs when the parent already knows them (a department's sites) or prefetched them
    /// for the whole page: `department` and `hubs` then cost no query at all, whatever the page size.
    related: Arc<Related>,
}

/// Departments and hubs known in advance for the sites of one page.
#[derive(Default)]
pub(crate) struct Related {
    departments: HashMap<DepartmentCode, Department>,
    hubs: Option<HashMap<DepartmentCode, Vec<Hub>>>,
}

impl SiteNode {
    /// A site with nothing prefetched.
    pub fn new(site: Site) -> Self {
        Self {
            site,
            related: Arc::default(),
        }
    }
}

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
        self.site
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
        encode(NodeKind::Site, self.site.id)
    }
    /// The import source (e.g. `hinaura`); with `sourceId`, the site's identity.
    async fn source(&self) -> &str {
        &self.site.source
    }
    /// The row's `id` in its source.
    async fn source_id(&self) -> &str {
        &self.site.data.source_id
    }
    /// Version of the national standard of the source file (`0.1.1` or `1.0.2`).
    async fn standard_version(&self) -> &str {
        self.site.data.standard_version.as_str()
    }
    /// SIRET, RNA or RIDET of the structure; `00000000000000` when the source did not know it.
    async fn pivot(&self) -> &str {
        self.site.data.pivot.as_str()
    }
    /// Name (`nom`).
    async fn name(&self) -> &str {
        &self.site.data.name
    }
    /// Commune, as written by the source.
    async fn commune(&self) -> &str {
        &self.site.data.commune
    }
    /// Postal code.
    async fn postal_code(&self) -> &str {
        self.site.data.postal_code.as_str()
    }
    /// INSEE commune code, when the source gave a valid one.
    async fn insee_code(&self) -> Option<&str> {
        self.site.data.insee_code.as_ref().map(|c| c.as_str())
    }
    /// Street address.
    async fn address(&self) -> &str {
        &self.site.data.address
    }
    /// Address complement.
    async fn address_complement(&self) -> Option<&str> {
        self.site.data.address_complement.as_deref()
    }
    /// Latitude (WGS84).
    async fn latitude(&self) -> Option<f64> {
        self.site.data.latitude
    }
    /// Longitude (WGS84).
    async fn longitude(&self) -> Option<f64> {
        self.site.data.longitude
    }
    /// Public phone number of the site (international form).
    async fn phone(&self) -> Option<&str> {
        self.site.data.phone.as_deref()
    }
    /// E-mail addresses. They may be personal (prenom.nom@…), so they are **null** for anonymous and partner
    /// callers and for hub coordinators outside the site's department; no error is raised.
    async fn emails(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<String>>> {
        let s = state(ctx)?;
        Ok(self
            .site
            .emails_for(&s.actor)
            .map(|list| list.iter().map(|e| e.as_str().to_owned()).collect()))
    }
    /// Website(s), as written by the source (`|`-separated when several).
    async fn website(&self) -> Option<&str> {
        self.site.data.website.as_deref()
    }
    /// Opening hours as written by the source (OpenStreetMap opening_hours syntax).
    async fn opening_hours(&self) -> Option<&str> {
        self.site.data.opening_hours.as_deref()
    }
    /// Whether `openingHours` parses; unparsable values are kept, but such sites never match `openAt`.
    async fn opening_hours_valid(&self) -> Option<bool> {
        self.site.opening_hours_valid
    }
    /// Short presentation.
    async fn summary(&self) -> Option<&str> {
        self.site.data.summary.as_deref()
    }
    /// Detailed presentation.
    async fn description(&self) -> Option<&str> {
        self.site.data.description.as_deref()
    }
    /// The row's own `source` column (e.g. `conseiller-numerique`, `france-services`).
    async fn source_label(&self) -> Option<&str> {
        self.site.data.source_label.as_deref()
    }
    /// Parent structure.
    async fn parent_structure(&self) -> Option<&str> {
        self.site.data.parent_structure.as_deref()
    }
    /// Date of the source's last update (`date_maj`); `1970-01-01` in some sources means unknown.
    async fn updated_on(&self) -> NaiveDate {
        self.site.data.updated_on
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
        self.site.data.other_labels.as_deref()
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
        self.site
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
        self.site.data.accessibility_url.as_deref()
    }
    /// Booking URL.
    async fn booking_url(&self) -> Option<&str> {
        self.site.data.booking_url.as_deref()
    }
    /// The department, derived from the INSEE code or the postal code; null outside the 101 departments.
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DepartmentNode>> {
        let Some(code) = self.site.department_code.clone() else {
            return Ok(None);
        };
        if let Some(dep) = self.related.departments.get(&code) {
            return Ok(Some(DepartmentNode(dep.clone())));
        }
        let s = state(ctx)?;
        Ok(s.loaders
            .department
            .load_one(code)
            .await?
            .map(DepartmentNode))
    }
    /// The hubs covering the site's department.
    async fn hubs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<HubNode>> {
        let Some(code) = self.site.department_code.clone() else {
            return Ok(Vec::new());
        };
        if let Some(hubs) = &self.related.hubs {
            let hubs = hubs.get(&code).cloned().unwrap_or_default();
            return Ok(hubs.into_iter().map(HubNode).collect());
        }
        let s = state(ctx)?;
        let hubs = s.loaders.department_hubs.load_one(code).await?;
        Ok(hubs.unwrap_or_default().into_iter().map(HubNode).collect())
    }
    /// The conseillers numériques working at this site (batched over the whole page).
    async fn counsellors(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::counsellors::CounsellorNode>> {
        crate::counsellors::counsellors_of_site(ctx, self.site.id).await
    }
    /// Version for optimistic concurrency.
    async fn version(&self) -> i32 {
        self.site.version
    }
    /// When Maillage first stored the site.
    async fn created_at(&self) -> DateTime<Utc> {
        self.site.created_at
    }
    /// When Maillage last changed the site.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.site.updated_at
    }
}

/// A page of sites (Relay connection).
pub struct SiteConnection {
    page: Page<Site>,
    related: Arc<Related>,
}

impl SiteConnection {
    /// A page, with its sites' departments and hubs fetched once for the whole page when the query selects them
    /// (one statement each, whatever the page size) or taken from `parent` when all sites share that department.
    pub(crate) async fn load(
        ctx: &Context<'_>,
        page: Page<Site>,
        parent: Option<&Department>,
    ) -> async_graphql::Result<Self> {
        let s = state(ctx)?;
        let look = ctx.look_ahead();
        let selects = |field: &str| {
            look.field("nodes").field(field).exists()
                || look.field("edges").field("node").field(field).exists()
        };
        let mut related = Related::default();
        if let Some(dep) = parent {
            related.departments.insert(dep.code.clone(), dep.clone());
        }
        let mut codes: Vec<DepartmentCode> = page
            .items
            .iter()
            .filter_map(|(_, site)| site.department_code.clone())
            .collect();
        codes.sort();
        codes.dedup();
        if selects("department") {
            let missing: Vec<DepartmentCode> = codes
                .iter()
                .filter(|c| !related.departments.contains_key(*c))
                .cloned()
                .collect();
            if !missing.is_empty() {
                for dep in maillage_territories::departments_by_codes(&s.db, &missing)
                    .await
                    .gql()?
                {
                    related.departments.insert(dep.code.clone(), dep);
                }
            }
        }
        if selects("hubs") && !codes.is_empty() {
            let mut hubs: HashMap<DepartmentCode, Vec<Hub>> = HashMap::new();
            if let Some(dep) = parent {
                let list = s.loaders.department_hubs.load_one(dep.code.clone()).await?;
                hubs.insert(dep.code.clone(), list.unwrap_or_default());
            } else {
                for (code, hub) in maillage_territories::hubs_of_departments(&s.db, &codes)
                    .await
                    .gql()?
                {
                    hubs.entry(code).or_default().push(hub);
                }
            }
            related.hubs = Some(hubs);
        }
        Ok(Self {
            page,
            related: Arc::new(related),
        })
    }

    fn node(&self, site: &Site) -> SiteNode {
        SiteNode {
            site: site.clone(),
            related: Arc::clone(&self.related),
        }
    }
}

/// A site and its cursor.
pub struct SiteEdge {
    cursor: String,
    node: SiteNode,
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
    async fn node(&self) -> &SiteNode {
        &self.node
    }
}

#[Object]
impl SiteConnection {
    /// Items with their cursors.
    async fn edges(&self) -> Vec<SiteEdge> {
        self.page
            .items
            .iter()
            .map(|(c, s)| SiteEdge {
                cursor: c.as_str().to_owned(),
                node: self.node(s),
            })
            .collect()
    }
    /// Items without cursors.
    async fn nodes(&self) -> Vec<SiteNode> {
        self.page.items.iter().map(|(_, s)| self.node(s)).collect()
    }
    /// Page position.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.page.has_next_page,
            has_previous_page: self.page.has_previous_page,
            start_cursor: self.page.items.first().map(|(c, _)| c.as_str().to_owned()),
            end_cursor: self.page.items.last().map(|(c, _)| c.as_str().to_owned()),
        }
    }
    /// Number of sites matching the filter, all pages together (counted only when selected).
    async fn total_count(&self) -> i32 {
        self.page
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
            ..SiteFilter::default()
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
        SiteConnection::load(ctx, page, None).await
    }

    /// One site by its global ID.
    async fn site(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<SiteNode>> {
        let s = state(ctx)?;
        let id = decode_int(&id, NodeKind::Site)?;
        let site = maillage_sites::get_site(&s.db, SiteId(id)).await.gql()?;
        Ok(site.map(SiteNode::new))
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
