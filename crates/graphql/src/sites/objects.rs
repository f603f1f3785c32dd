//! The `Site` object and its connection.

use crate::kit::connection::MemoryConnection;
use crate::kit::connection::connection;
use crate::kit::date::Date;
use crate::kit::error::IntoGql;
use crate::kit::error::coded;
use crate::kit::handles::{
    DepartmentHubsLoader, DepartmentLoader, DepartmentNode, HubNode, Related, SiteNode,
};
use crate::kit::id::{NodeKind, encode};
use crate::kit::loader::loader;
use crate::kit::memory::{
    Answer, FromMemory, Out, nullable, nullable_text, object_in_memory, scalar, text,
};
use crate::kit::{RequestState, state};
use async_graphql::parser::types::Field;
use async_graphql::{Context, ContextSelectionSet, ID, Object, Positioned, Value};
use chrono::{DateTime, Utc};
use maillage_core::pagination::Page;
use maillage_core::{Code, DepartmentCode, SiteId};
use maillage_sites::{NewSite, Site, SiteParts, ValueKind};
use maillage_territories::{Department, Hub};
use ref_cast::RefCast;
use rustc_hash::FxHashSet;
use std::collections::HashMap;
use std::sync::Arc;

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
    /// Global ID (opaque).
    fn global_id(&self) -> ID {
        encode(NodeKind::Site, self.site.id)
    }

    /// The `Node` interface's `id`, which its derive calls on the node itself, as `#[Object]` shapes a resolver:
    /// with the context, as a result.
    pub async fn id(&self, _: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(self.global_id())
    }

    /// The site's content for a field outside the brief read's ([`super::inputs::BRIEF_FIELDS`]): refused when the
    /// read was brief, whose other fields hold neutral values (`SiteParts::Brief`), rather than served as the site's.
    /// The list chooses a brief read only when no such field is selected, so this is a guard against a mistake
    /// in that choice, not a path a query takes.
    fn row(&self) -> async_graphql::Result<&NewSite> {
        if self.site.parts.has_row() {
            Ok(&self.site.data)
        } else {
            Err(not_loaded(self.site.parts))
        }
    }

    /// The site for a field of the brief read's but not of a names-only read's (`SiteParts::Names`): refused on a
    /// names-only site, whose other fields hold neutral values, as [`SiteNode::row`] refuses a brief one.
    fn brief(&self) -> async_graphql::Result<&Site> {
        if self.site.parts.has_brief() {
            Ok(&self.site)
        } else {
            Err(not_loaded(self.site.parts))
        }
    }

    /// The site for `commune` and `postalCode`: refused on a names-only site (`SiteParts::Names`), whose place holds
    /// neutral values, as [`SiteNode::brief`] refuses one.
    fn placed(&self) -> async_graphql::Result<&Site> {
        if self.site.parts.has_place() {
            Ok(&self.site)
        } else {
            Err(not_loaded(self.site.parts))
        }
    }

    /// One multi-valued field, refused when the read did not load the values (see [`SiteNode::row`]).
    fn values(&self, kind: ValueKind) -> async_graphql::Result<Vec<String>> {
        Ok(self
            .with_values()?
            .mapped_values(kind)
            .into_iter()
            .map(str::to_owned)
            .collect())
    }

    /// The site's content with its multi-valued fields, refused when the read did not load them.
    fn with_values(&self) -> async_graphql::Result<&NewSite> {
        if self.site.parts.has_values() {
            Ok(&self.site.data)
        } else {
            Err(not_loaded(self.site.parts))
        }
    }
}

/// The error of a field whose part of the site was not read: an internal error (the selection chose the parts).
fn not_loaded(parts: SiteParts) -> async_graphql::Error {
    tracing::error!(
        ?parts,
        "a Site field was resolved on a site read without it; the list's parts are chosen from the selection"
    );
    coded("internal error", Code::InternalError, None)
}

crate::object_from_memory!(
    /// The `Site` object's resolvers, on the site itself: [`SiteNode`] is the object, resolved through
    /// [`crate::kit::memory::resolve_object`], which gives its plain fields from memory ([`FromMemory`]) and asks
    /// these resolvers for the others.
    pub struct SiteFields for SiteNode
);

impl FromMemory for SiteNode {
    fn field_from_memory(&self, name: &str) -> Option<Answer<'_>> {
        let site = &self.site;
        let data = &site.data;
        // Fields outside the brief read are given only when the read has them; otherwise their resolver answers
        // (with its error), as it would without this path.
        let row = || self.site.parts.has_row().then_some(data);
        let brief = || self.site.parts.has_brief().then_some(site);
        let placed = || self.site.parts.has_place().then_some(site);
        let values = |kind: ValueKind| {
            self.site.parts.has_values().then(|| {
                let values = data.mapped_values(kind).into_iter();
                Answer::Value(Value::List(
                    values.map(|v| Value::String(v.to_owned())).collect(),
                ))
            })
        };
        Some(match name {
            "id" => scalar(&self.global_id()),
            "source" => text(&site.source),
            "sourceId" => text(&data.source_id),
            "standardVersion" => text(row()?.standard_version.as_str()),
            "pivot" => text(row()?.pivot.as_str()),
            "name" => text(&data.name),
            "commune" => text(&placed()?.data.commune),
            "postalCode" => text(placed()?.data.postal_code.as_str()),
            "inseeCode" => nullable_text(brief()?.data.insee_code.as_ref().map(|c| c.as_str())),
            "address" => text(&row()?.address),
            "addressComplement" => nullable_text(row()?.address_complement.as_deref()),
            "latitude" => nullable(brief()?.data.latitude.as_ref()),
            "longitude" => nullable(brief()?.data.longitude.as_ref()),
            "phone" => nullable_text(row()?.phone.as_deref()),
            "website" => nullable_text(row()?.website.as_deref()),
            "openingHoursKnown" => scalar(&(brief()?.opening_hours_valid == Some(true))),
            "distanceKm" => nullable(site.distance_km.as_ref()),
            "openingHours" => nullable_text(row()?.opening_hours.as_deref()),
            "openingHoursValid" => nullable(brief()?.opening_hours_valid.as_ref()),
            "summary" => nullable_text(row()?.summary.as_deref()),
            "description" => nullable_text(row()?.description.as_deref()),
            "sourceLabel" => nullable_text(row()?.source_label.as_deref()),
            "parentStructure" => nullable_text(row()?.parent_structure.as_deref()),
            "updatedOn" => scalar(&Date(brief()?.data.updated_on)),
            "services" => values(ValueKind::Service)?,
            "publics" => values(ValueKind::Public)?,
            "specificSupport" => values(ValueKind::SpecificSupport)?,
            "fees" => values(ValueKind::Fee)?,
            "nationalProgrammes" => values(ValueKind::NationalProgramme)?,
            "trainingLabels" => values(ValueKind::TrainingLabel)?,
            "otherLabels" => nullable_text(row()?.other_labels.as_deref()),
            "accessModes" => values(ValueKind::AccessMode)?,
            "supportModes" => values(ValueKind::SupportMode)?,
            "typologies" => values(ValueKind::Typology)?,
            "accessibilityUrl" => nullable_text(row()?.accessibility_url.as_deref()),
            "bookingUrl" => nullable_text(row()?.booking_url.as_deref()),
            "version" => scalar(&brief()?.version),
            "createdAt" => scalar(&brief()?.created_at),
            "updatedAt" => scalar(&brief()?.updated_at),
            _ => return None,
        })
    }

    /// `department`, from the page's prefetched departments or the fresh reference snapshot, as its resolver would
    /// give it (which otherwise waits for the snapshot or asks the database).
    fn object_from_memory(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Out<'_>,
    ) -> bool {
        if field.node.name.node != "department" {
            return false;
        }
        let Some(code) = &self.site.department_code else {
            return object_in_memory::<DepartmentNode>(ctx, field, None, out);
        };
        if let Some(department) = self.related.department(code) {
            return object_in_memory(ctx, field, Some(DepartmentNode::ref_cast(department)), out);
        }
        let Some(snapshot) = out.kept(|| {
            ctx.data::<RequestState>()
                .ok()
                .and_then(|state| state.territories.fresh_snapshot())
        }) else {
            return false;
        };
        let Some(department) = snapshot.department(code) else {
            return false;
        };
        object_in_memory(ctx, field, Some(DepartmentNode::ref_cast(department)), out)
    }
}

/// A lieu de médiation numérique (site), normalised from the national standard (v0.1.1 or v1.0.2).
///
/// Multi-valued fields (`services`, `publics`, …) give v1.0.2 labels; values of the source that have no v1.0.2
/// equivalent are in `rawValues` with a null `value`.
#[Object(name = "Site")]
impl SiteFields {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        self.global_id()
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
    async fn standard_version(&self) -> async_graphql::Result<&str> {
        Ok(self.row()?.standard_version.as_str())
    }
    /// SIRET, RNA or RIDET of the structure; `00000000000000` when the source did not know it.
    async fn pivot(&self) -> async_graphql::Result<&str> {
        Ok(self.row()?.pivot.as_str())
    }
    /// Name (`nom`).
    async fn name(&self) -> &str {
        &self.site.data.name
    }
    /// Commune, as written by the source.
    async fn commune(&self) -> async_graphql::Result<&str> {
        Ok(&self.placed()?.data.commune)
    }
    /// Postal code.
    async fn postal_code(&self) -> async_graphql::Result<&str> {
        Ok(self.placed()?.data.postal_code.as_str())
    }
    /// INSEE commune code, when the source gave a valid one.
    async fn insee_code(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.brief()?.data.insee_code.as_ref().map(|c| c.as_str()))
    }
    /// Street address.
    async fn address(&self) -> async_graphql::Result<&str> {
        Ok(&self.row()?.address)
    }
    /// Address complement.
    async fn address_complement(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.row()?.address_complement.as_deref())
    }
    /// Latitude (WGS84).
    async fn latitude(&self) -> async_graphql::Result<Option<f64>> {
        Ok(self.brief()?.data.latitude)
    }
    /// Longitude (WGS84).
    async fn longitude(&self) -> async_graphql::Result<Option<f64>> {
        Ok(self.brief()?.data.longitude)
    }
    /// Public phone number of the site (international form).
    async fn phone(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.row()?.phone.as_deref())
    }
    /// E-mail addresses. They may be personal (prenom.nom@…), so they are **null** for anonymous and partner
    /// callers and for hub coordinators outside the site's department; no error is raised.
    async fn emails(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<String>>> {
        let s = state(ctx)?;
        self.row()?;
        Ok(self
            .site
            .emails_for(&s.actor)
            .map(|list| list.iter().map(|e| e.as_str().to_owned()).collect()))
    }
    /// Website(s), as written by the source (`|`-separated when several).
    async fn website(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.row()?.website.as_deref())
    }
    /// Whether the opening hours are known (given and readable): `openAt` never lists a site whose hours are
    /// unknown, which is not the same as closed.
    async fn opening_hours_known(&self) -> async_graphql::Result<bool> {
        Ok(self.brief()?.opening_hours_valid == Some(true))
    }
    /// Distance in kilometres from the centre of the list's `filter.near` (great-circle); null without `near`.
    async fn distance_km(&self) -> Option<f64> {
        self.site.distance_km
    }
    /// Opening hours as written by the source (OpenStreetMap opening_hours syntax).
    async fn opening_hours(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.row()?.opening_hours.as_deref())
    }
    /// Whether `openingHours` parses; unparsable values are kept, but such sites never match `openAt`.
    async fn opening_hours_valid(&self) -> async_graphql::Result<Option<bool>> {
        Ok(self.brief()?.opening_hours_valid)
    }
    /// Short presentation.
    async fn summary(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.row()?.summary.as_deref())
    }
    /// Detailed presentation.
    async fn description(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.row()?.description.as_deref())
    }
    /// The row's own `source` column (e.g. `conseiller-numerique`, `france-services`).
    async fn source_label(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.row()?.source_label.as_deref())
    }
    /// Parent structure.
    async fn parent_structure(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.row()?.parent_structure.as_deref())
    }
    /// Date of the source's last update (`date_maj`); `1970-01-01` in some sources means unknown.
    async fn updated_on(&self) -> async_graphql::Result<Date> {
        Ok(Date(self.brief()?.data.updated_on))
    }
    /// Services offered (v1.0.2 labels).
    async fn services(&self) -> async_graphql::Result<Vec<String>> {
        self.values(ValueKind::Service)
    }
    /// Publics specifically addressed (v1.0.2 `publics_specifiquement_adresses`).
    async fn publics(&self) -> async_graphql::Result<Vec<String>> {
        self.values(ValueKind::Public)
    }
    /// Specific support (v1.0.2 `prise_en_charge_specifique`).
    async fn specific_support(&self) -> async_graphql::Result<Vec<String>> {
        self.values(ValueKind::SpecificSupport)
    }
    /// Fees (v1.0.2 `frais_a_charge`).
    async fn fees(&self) -> async_graphql::Result<Vec<String>> {
        self.values(ValueKind::Fee)
    }
    /// National programmes (v1.0.2 `dispositif_programmes_nationaux`).
    async fn national_programmes(&self) -> async_graphql::Result<Vec<String>> {
        self.values(ValueKind::NationalProgramme)
    }
    /// Training and labels (v1.0.2 `formations_labels`).
    async fn training_labels(&self) -> async_graphql::Result<Vec<String>> {
        self.values(ValueKind::TrainingLabel)
    }
    /// Other labels, free text.
    async fn other_labels(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.row()?.other_labels.as_deref())
    }
    /// Access modes (v1.0.2 `modalites_acces`).
    async fn access_modes(&self) -> async_graphql::Result<Vec<String>> {
        self.values(ValueKind::AccessMode)
    }
    /// Support modes (v1.0.2 `modalites_accompagnement`).
    async fn support_modes(&self) -> async_graphql::Result<Vec<String>> {
        self.values(ValueKind::SupportMode)
    }
    /// Typology codes.
    async fn typologies(&self) -> async_graphql::Result<Vec<String>> {
        self.values(ValueKind::Typology)
    }
    /// Every multi-valued field as the source wrote it, mapped or not.
    async fn raw_values(&self) -> async_graphql::Result<Vec<SiteValue>> {
        Ok(self
            .with_values()?
            .values
            .iter()
            .map(|v| SiteValue {
                field: v.kind.as_str().to_owned(),
                value: v.value.clone(),
                raw: v.raw.clone(),
            })
            .collect())
    }
    /// Accessibility sheet (acceslibre) URL.
    async fn accessibility_url(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.row()?.accessibility_url.as_deref())
    }
    /// Booking URL.
    async fn booking_url(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.row()?.booking_url.as_deref())
    }
    /// The department, derived from the INSEE code or the postal code; null outside the 101 departments.
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DepartmentNode>> {
        let Some(code) = self.site.department_code.clone() else {
            return Ok(None);
        };
        if let Some(dep) = self.related.department(&code) {
            return Ok(Some(DepartmentNode(dep.clone())));
        }
        // From memory without waiting for a DataLoader batch (one site read by id or origin, a site's source
        // records); only a code the snapshot lacks goes through the loader.
        let s = state(ctx)?;
        let snapshot = s.territories.snapshot(&s.db).await.gql()?;
        if let Some(dep) = snapshot.department(&code) {
            return Ok(Some(DepartmentNode(dep.clone())));
        }
        Ok(loader::<DepartmentLoader>(ctx)?
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
        let _s = state(ctx)?;
        let hubs = loader::<DepartmentHubsLoader>(ctx)?.load_one(code).await?;
        Ok(hubs.unwrap_or_default().into_iter().map(HubNode).collect())
    }
    /// The conseillers numériques working at this site (batched over the whole page).
    async fn counsellors(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::counsellors::CounsellorNode>> {
        crate::counsellors::counsellors_of_site(
            ctx,
            self.site.id,
            self.related.counsellors.as_deref(),
        )
        .await
    }
    /// Version for optimistic concurrency.
    async fn version(&self) -> async_graphql::Result<i32> {
        Ok(self.brief()?.version)
    }
    /// When Maillage first stored the site.
    async fn created_at(&self) -> async_graphql::Result<DateTime<Utc>> {
        Ok(self.brief()?.created_at)
    }
    /// When Maillage last changed the site.
    async fn updated_at(&self) -> async_graphql::Result<DateTime<Utc>> {
        Ok(self.brief()?.updated_at)
    }
    /// Where each field's value came from: a feed's file (source, file, date), an API edit (who, when), or, for a
    /// canonical site (`source` = `maillage`), the source record it was taken from or a coordinator's choice.
    /// Batched over the page.
    async fn provenance(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::dedup::SiteFieldProvenanceNode>> {
        crate::dedup::site_provenance(ctx, &self.site).await
    }
    /// The source records this site stands for, as their sources wrote them: the members of a canonical site
    /// (one per source that lists the place), or the site itself when it is a source record. Batched over the page.
    async fn source_records(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SiteNode>> {
        // A source record is served as this very site: it must be whole.
        self.with_values()?;
        crate::dedup::site_source_records(ctx, &self.site).await
    }
}

/// A page of sites, with their departments and hubs fetched once for the whole page when the query selects them
/// (departments from the server's reference snapshot, no statement unless a code is missing from it; hubs in one
/// statement, whatever the page size) or taken from `parent` when all sites share that department.
pub async fn site_connection(
    ctx: &Context<'_>,
    page: Page<Site>,
    parent: Option<&Department>,
) -> async_graphql::Result<MemoryConnection<SiteNode>> {
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
    let with_departments = selects("department");
    let with_hubs = selects("hubs");
    // Distinct, in the page's order, through a hash set: sorting them compared their text some 300 times on a page of
    // 50 sites (2.5 % of its instructions, issue #16). A code equal to the one before (a department's own list)
    // skips the set, which is sized for the page at once (growing it rehashed it three times). Only for the
    // selections that use them.
    let mut codes: Vec<&DepartmentCode> = Vec::new();
    if with_departments || with_hubs {
        let mut seen = FxHashSet::with_capacity_and_hasher(page.items.len(), Default::default());
        let mut last = None;
        codes = page
            .items
            .iter()
            .filter_map(|(_, site)| site.department_code.as_ref())
            .filter(|code| last.replace(*code) != Some(*code) && seen.insert(*code))
            .collect();
    }
    if with_departments {
        let snapshot = s.territories.snapshot(&s.db).await.gql()?;
        let missing: Vec<DepartmentCode> = codes
            .iter()
            .filter(|c| !related.departments.contains_key(**c) && snapshot.department(c).is_none())
            .map(|c| (*c).clone())
            .collect();
        if !missing.is_empty() {
            for dep in s
                .territories
                .departments_by_codes(&s.db, &missing)
                .await
                .gql()?
            {
                related.departments.insert(dep.code.clone(), dep);
            }
        }
        related.snapshot = Some(snapshot);
    }
    if with_hubs && !codes.is_empty() {
        let mut hubs: HashMap<DepartmentCode, Vec<Hub>> = HashMap::new();
        if let Some(dep) = parent {
            let list = loader::<DepartmentHubsLoader>(ctx)?
                .load_one(dep.code.clone())
                .await?;
            hubs.insert(dep.code.clone(), list.unwrap_or_default());
        } else {
            let codes: Vec<DepartmentCode> = codes.iter().map(|c| (*c).clone()).collect();
            for (code, hub) in s
                .territories
                .department_hubs()
                .hubs_of_departments(&s.db, &codes)
                .await
                .gql()?
            {
                hubs.entry(code).or_default().push(hub);
            }
        }
        related.hubs = Some(hubs);
    }
    if selects("counsellors") {
        let mut selections = look.field("nodes").field("counsellors").selection_fields();
        selections.extend(
            look.field("edges")
                .field("node")
                .field("counsellors")
                .selection_fields(),
        );
        let sites: Arc<[SiteId]> = page.items.iter().map(|(_, site)| site.id).collect();
        related.counsellors =
            crate::counsellors::prefetch_site_counsellors(ctx, selections, sites).await;
    }
    let related = Arc::new(related);
    Ok(MemoryConnection(connection(page, |site| SiteNode {
        site,
        related: Arc::clone(&related),
    })))
}
