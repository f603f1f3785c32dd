//! Aidants Connect: organisations, aidants (personal fields masked per caller), public aggregates, mutations, and
//! this domain's per-request DataLoaders.
//!
//! Nested lists are batched one level at a time: `department { aidantsOrganisations }` is one statement for all
//! departments of a level, `aidantsOrganisation { aidants }` three for all organisations of a level, so
//! `hubs → departments → aidantsOrganisations → aidants` costs a fixed number of statements whatever the data.

use crate::error::{IntoGql, coded, to_gql};
use crate::id::{NodeKind, decode_int};
use crate::mutations::UserError;
use crate::mutations::{classify, user_error, writer};
use crate::sites::{PageInfo, SiteNode};
use crate::state;
use crate::territories::{DepartmentNode, HubNode};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use maillage_aidants::{
    Aidant, AidantFilter, AidantId, AidantPatch, AidantPerson, AidantsCounts, CounsellorRef,
    MandateQuery, MandateTotal, Month, NewAidant, NewOrganisation, Organisation,
    OrganisationFilter, OrganisationId, OrganisationPatch, Territory,
};
use maillage_core::error::FieldPath;
use maillage_core::pagination::{Page, PageRequest};
use maillage_core::{DepartmentCode, Email, HubId, PostalCode, RegionCode, Siret, SiteId};
use maillage_sites::Site;
use maillage_territories::Hub;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------------------------
// IDs
// ---------------------------------------------------------------------------------------------------------------

/// Opaque IDs of this domain's objects, in the same form as the other global IDs (`base64url("Type:key")`).
fn encode_id(prefix: &str, key: i32) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{prefix}:{key}")))
}

fn decode_id(id: &ID, prefix: &str) -> async_graphql::Result<i32> {
    let invalid = || {
        coded(
            &format!("this ID does not name a {prefix}: use an id returned by this API"),
            "invalid_id",
            None,
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(id.as_str().trim_end_matches('='))
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    match text.split_once(':') {
        Some((p, key)) if p == prefix => key.parse().map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}

const ORGANISATION: &str = "AidantsOrganisation";
const AIDANT: &str = "Aidant";

// ---------------------------------------------------------------------------------------------------------------
// Loaders
// ---------------------------------------------------------------------------------------------------------------

/// Loads the organisations of each department, for the same filter.
pub struct DepartmentOrganisationsLoader(pub DatabaseConnection);
/// Loads the aidants of each organisation, for the same filter.
pub struct OrganisationAidantsLoader(pub DatabaseConnection);
/// Loads organisations by id (an aidant's organisations).
pub struct OrganisationLoader(pub DatabaseConnection);
/// Loads the sites organisations run (a link to the sites domain, resolved here).
pub struct OrganisationSiteLoader(pub DatabaseConnection);
/// Loads hubs by id (an aidant's training hub).
pub struct TrainingHubLoader(pub DatabaseConnection);

impl Loader<(DepartmentCode, OrganisationFilter)> for DepartmentOrganisationsLoader {
    type Value = Vec<Organisation>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(DepartmentCode, OrganisationFilter)],
    ) -> Result<HashMap<(DepartmentCode, OrganisationFilter), Vec<Organisation>>, Self::Error> {
        let mut groups: HashMap<&OrganisationFilter, Vec<DepartmentCode>> = HashMap::new();
        for (dep, filter) in keys {
            groups.entry(filter).or_default().push(dep.clone());
        }
        let mut out: HashMap<(DepartmentCode, OrganisationFilter), Vec<Organisation>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for (filter, deps) in groups {
            let rows = maillage_aidants::organisations_by_departments(&self.0, &deps, filter)
                .await
                .gql()?;
            for org in rows {
                out.entry((org.data.department.clone(), filter.clone()))
                    .or_default()
                    .push(org);
            }
        }
        Ok(out)
    }
}

impl Loader<(OrganisationId, AidantFilter)> for OrganisationAidantsLoader {
    type Value = Vec<Aidant>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(OrganisationId, AidantFilter)],
    ) -> Result<HashMap<(OrganisationId, AidantFilter), Vec<Aidant>>, Self::Error> {
        let mut groups: HashMap<&AidantFilter, Vec<OrganisationId>> = HashMap::new();
        for (org, filter) in keys {
            groups.entry(filter).or_default().push(*org);
        }
        let mut out: HashMap<(OrganisationId, AidantFilter), Vec<Aidant>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for (filter, orgs) in groups {
            let pairs = maillage_aidants::aidants_by_organisations(&self.0, &orgs, filter)
                .await
                .gql()?;
            for (org, aidant) in pairs {
                out.entry((org, filter.clone())).or_default().push(aidant);
            }
        }
        Ok(out)
    }
}

impl Loader<OrganisationId> for OrganisationLoader {
    type Value = Organisation;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[OrganisationId],
    ) -> Result<HashMap<OrganisationId, Organisation>, Self::Error> {
        let rows = maillage_aidants::organisations_by_ids(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|o| (o.id, o)).collect())
    }
}

impl Loader<SiteId> for OrganisationSiteLoader {
    type Value = Site;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[SiteId]) -> Result<HashMap<SiteId, Site>, Self::Error> {
        let rows = maillage_sites::sites_by_ids(&self.0, keys).await.gql()?;
        Ok(rows.into_iter().map(|s| (s.id, s)).collect())
    }
}

impl Loader<HubId> for TrainingHubLoader {
    type Value = Hub;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[HubId]) -> Result<HashMap<HubId, Hub>, Self::Error> {
        let rows = maillage_territories::hubs_by_ids(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|h| (h.id, h)).collect())
    }
}

/// This domain's loaders for one request (no cache across requests: what a caller sees depends on the caller).
pub struct AidantsLoaders {
    /// Organisations of departments.
    pub department_organisations: DataLoader<DepartmentOrganisationsLoader>,
    /// Aidants of organisations.
    pub organisation_aidants: DataLoader<OrganisationAidantsLoader>,
    /// Organisations by id.
    pub organisation: DataLoader<OrganisationLoader>,
    /// Sites run by organisations.
    pub site: DataLoader<OrganisationSiteLoader>,
    /// Training hubs.
    pub hub: DataLoader<TrainingHubLoader>,
}

/// Same reason as the other loaders' delay: keep one level of a nested query in one batch on a busy machine.
const BATCH_DELAY: Duration = Duration::from_millis(3);

fn loader<T: Loader<K>, K>(inner: T) -> DataLoader<T>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
{
    DataLoader::new(inner, crate::telemetry::spawn_in_current_span).delay(BATCH_DELAY)
}

impl AidantsLoaders {
    /// Fresh loaders for one request.
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            department_organisations: loader::<_, (DepartmentCode, OrganisationFilter)>(
                DepartmentOrganisationsLoader(db.clone()),
            ),
            organisation_aidants: loader::<_, (OrganisationId, AidantFilter)>(
                OrganisationAidantsLoader(db.clone()),
            ),
            organisation: loader::<_, OrganisationId>(OrganisationLoader(db.clone())),
            site: loader::<_, SiteId>(OrganisationSiteLoader(db.clone())),
            hub: loader::<_, HubId>(TrainingHubLoader(db.clone())),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Enums and filters
// ---------------------------------------------------------------------------------------------------------------

/// The kind of structure an organisation is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_aidants::OrganisationKind")]
pub enum AidantsOrganisationKind {
    /// A commune (mairie).
    Commune,
    /// An inter-municipal body.
    Epci,
    /// A département.
    Departement,
    /// A région.
    Region,
    /// Another public operator (CCAS, CAF…).
    ServicePublic,
    /// An association or another ESS structure.
    Association,
    /// A company.
    Entreprise,
    /// Anything else.
    Autre,
}

/// Where an aidant stands in the habilitation process.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_aidants::AidantStatus")]
pub enum AidantStatus {
    /// Habilitation requested.
    Requested,
    /// Trained, not yet authorised.
    Trained,
    /// Authorised (habilité): may create mandates.
    Authorised,
    /// Authorisation withdrawn.
    Revoked,
}

/// The démarches a mandate may cover.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_aidants::Demarche")]
pub enum Demarche {
    /// Identity papers, civil status.
    Papiers,
    /// Family.
    Famille,
    /// Social benefits and health.
    Social,
    /// Work.
    Travail,
    /// Housing.
    Logement,
    /// Transport.
    Transports,
    /// Money: taxes, banking.
    Argent,
    /// Justice.
    Justice,
    /// Foreigners in France.
    Etranger,
    /// Leisure.
    Loisirs,
}

/// How long a mandate lasts.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_aidants::MandateDuration")]
pub enum MandateDuration {
    /// One day.
    OneDay,
    /// One month.
    OneMonth,
    /// Six months.
    SixMonths,
    /// One year.
    OneYear,
}

fn invalid(field: &str, e: &impl std::fmt::Display) -> async_graphql::Error {
    coded(&e.to_string(), "invalid_value", Some(field.to_owned()))
}

fn departments(
    field: &str,
    list: Option<Vec<String>>,
) -> async_graphql::Result<Vec<DepartmentCode>> {
    list.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, d)| DepartmentCode::parse(d).map_err(|e| invalid(&format!("{field}[{i}]"), &e)))
        .collect()
}

fn region(field: &str, raw: Option<String>) -> async_graphql::Result<Option<RegionCode>> {
    raw.map(|r| RegionCode::parse(&r).map_err(|e| invalid(field, &e)))
        .transpose()
}

/// Criteria on organisations (all given must hold).
#[derive(InputObject, Default)]
pub struct AidantsOrganisationFilter {
    /// Located in one of these departments (INSEE codes).
    pub departments: Option<Vec<String>>,
    /// Located in the departments of this hub (slug).
    pub hub: Option<String>,
    /// Located in this region (INSEE code).
    pub region: Option<String>,
    /// Active or not.
    pub active: Option<bool>,
    /// With or without the France Services label.
    pub france_services: Option<bool>,
    /// Of this type.
    pub kind: Option<AidantsOrganisationKind>,
    /// Running this site (its global ID).
    pub site: Option<ID>,
}

impl AidantsOrganisationFilter {
    fn into_domain(self) -> async_graphql::Result<OrganisationFilter> {
        Ok(OrganisationFilter {
            departments: departments("filter.departments", self.departments)?,
            hub: self.hub,
            region: region("filter.region", self.region)?,
            active: self.active,
            france_services: self.france_services,
            kind: self.kind.map(Into::into),
            site: self
                .site
                .map(|id| decode_int(&id, NodeKind::Site).map(SiteId))
                .transpose()?,
        })
    }
}

/// Criteria on aidants (all given must hold).
#[derive(InputObject, Default)]
pub struct AidantFilterInput {
    /// Working for an organisation in one of these departments.
    pub departments: Option<Vec<String>>,
    /// Working for an organisation in the departments of this hub (slug).
    pub hub: Option<String>,
    /// Working for an organisation in this region.
    pub region: Option<String>,
    /// With one of these statuses.
    pub statuses: Option<Vec<AidantStatus>>,
    /// Working for this organisation.
    pub organisation: Option<ID>,
    /// Trained by this hub (its global ID).
    pub training_hub: Option<ID>,
}

impl AidantFilterInput {
    fn into_domain(self) -> async_graphql::Result<AidantFilter> {
        Ok(AidantFilter {
            departments: departments("filter.departments", self.departments)?,
            hub: self.hub,
            region: region("filter.region", self.region)?,
            statuses: self
                .statuses
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            organisation: self
                .organisation
                .map(|id| decode_id(&id, ORGANISATION).map(OrganisationId))
                .transpose()?,
            training_hub: self
                .training_hub
                .map(|id| decode_int(&id, NodeKind::Hub).map(HubId))
                .transpose()?,
        })
    }
}

fn page_request(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<PageRequest> {
    let with_total = ctx.look_ahead().field("totalCount").exists();
    Ok(PageRequest::new(first, after.as_deref())
        .map_err(|e| to_gql(&e))?
        .with_total(with_total))
}

// ---------------------------------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------------------------------

/// An Aidants Connect organisation: a structure (with a SIRET) whose aidants carry out online procedures on behalf
/// of people under a mandate. Public data.
pub struct AidantsOrganisationNode(pub Organisation);

#[Object(name = "AidantsOrganisation")]
impl AidantsOrganisationNode {
    /// Opaque ID.
    async fn id(&self) -> ID {
        encode_id(ORGANISATION, self.0.id.0)
    }
    /// Name of the structure.
    async fn name(&self) -> &str {
        &self.0.data.name
    }
    /// SIRET (14 digits): the organisation's identity in imports.
    async fn siret(&self) -> &str {
        self.0.data.siret.as_str()
    }
    /// Type of structure.
    async fn kind(&self) -> AidantsOrganisationKind {
        self.0.data.kind.into()
    }
    /// Street address.
    async fn address(&self) -> &str {
        &self.0.data.address
    }
    /// Postal code.
    async fn postal_code(&self) -> Option<&str> {
        self.0.data.postal_code.as_deref()
    }
    /// Commune.
    async fn commune(&self) -> Option<&str> {
        self.0.data.commune.as_deref()
    }
    /// INSEE code of its department.
    async fn department_code(&self) -> &str {
        self.0.data.department.as_str()
    }
    /// Its department.
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DepartmentNode>> {
        let s = state(ctx)?;
        Ok(s.loaders
            .department
            .load_one(self.0.data.department.clone())
            .await?
            .map(DepartmentNode))
    }
    /// Whether it holds the France Services label.
    async fn france_services(&self) -> bool {
        self.0.data.france_services
    }
    /// Whether it is active.
    async fn active(&self) -> bool {
        self.0.active
    }
    /// Version for optimistic concurrency: send it back with an update.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The lieu de médiation numérique it runs, if any.
    async fn site(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SiteNode>> {
        let Some(id) = self.0.data.site else {
            return Ok(None);
        };
        let s = aidants_loaders(ctx)?;
        Ok(s.site.load_one(id).await?.map(SiteNode::new))
    }
    /// Its aidants (batched across organisations). Their personal fields follow the caller's rights.
    async fn aidants(
        &self,
        ctx: &Context<'_>,
        filter: Option<AidantFilterInput>,
    ) -> async_graphql::Result<Vec<AidantNode>> {
        let filter = filter.unwrap_or_default().into_domain()?;
        let list = aidants_loaders(ctx)?
            .organisation_aidants
            .load_one((self.0.id, filter))
            .await?;
        Ok(list
            .unwrap_or_default()
            .into_iter()
            .map(AidantNode)
            .collect())
    }
}

/// An aidant: a professional (secrétaire de mairie, social worker, France Services agent…) trained and authorised to
/// act on behalf of people. Names, e-mail and profession are personal data: **null** for anonymous and partner
/// callers and for hub coordinators when none of the aidant's organisations is in their departments; no error.
pub struct AidantNode(pub Aidant);

impl AidantNode {
    fn person(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&AidantPerson>> {
        Ok(self.0.person_for(&state(ctx)?.actor))
    }
}

#[Object(name = "Aidant")]
impl AidantNode {
    /// Opaque ID.
    async fn id(&self) -> ID {
        encode_id(AIDANT, self.0.id.0)
    }
    /// First name (personal data: null unless you may read it).
    async fn first_name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.person(ctx)?.map(|p| p.first_name.clone()))
    }
    /// Last name (personal data: null unless you may read it).
    async fn last_name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.person(ctx)?.map(|p| p.last_name.clone()))
    }
    /// Professional e-mail (personal data: null unless you may read it).
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.person(ctx)?.map(|p| p.email.as_str().to_owned()))
    }
    /// Profession (personal data: null unless you may read it, or unknown).
    async fn profession(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.person(ctx)?.and_then(|p| p.profession.clone()))
    }
    /// Habilitation status.
    async fn status(&self) -> AidantStatus {
        self.0.data.status.into()
    }
    /// When the habilitation was requested.
    async fn requested_on(&self) -> Option<NaiveDate> {
        self.0.data.requested_on
    }
    /// When the aidant was trained.
    async fn trained_on(&self) -> Option<NaiveDate> {
        self.0.data.trained_on
    }
    /// The hub that trained the aidant.
    async fn training_hub(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<HubNode>> {
        let Some(hub) = self.0.data.training_hub else {
            return Ok(None);
        };
        Ok(aidants_loaders(ctx)?.hub.load_one(hub).await?.map(HubNode))
    }
    /// When the aidant was authorised.
    async fn authorised_on(&self) -> Option<NaiveDate> {
        self.0.data.authorised_on
    }
    /// When the authorisation was revoked.
    async fn revoked_on(&self) -> Option<NaiveDate> {
        self.0.data.revoked_on
    }
    /// The id of the conseiller numérique this aidant also is, in the counsellors domain, when known.
    async fn counsellor_id(&self) -> Option<i32> {
        self.0.data.counsellor.map(|c| c.0)
    }
    /// INSEE codes of the departments of its organisations.
    async fn department_codes(&self) -> Vec<&str> {
        self.0
            .departments
            .iter()
            .map(DepartmentCode::as_str)
            .collect()
    }
    /// The organisations it works for.
    async fn organisations(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AidantsOrganisationNode>> {
        let found = aidants_loaders(ctx)?
            .organisation
            .load_many(self.0.data.organisations.iter().copied())
            .await?;
        Ok(self
            .0
            .data
            .organisations
            .iter()
            .filter_map(|id| found.get(id).cloned().map(AidantsOrganisationNode))
            .collect())
    }
    /// Version for optimistic concurrency: send it back with an update.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

macro_rules! connection {
    ($conn:ident, $edge:ident, $gql:literal, $node:ident, $item:ty, $what:literal) => {
        #[doc = concat!("A page of ", $what, " (Relay connection).")]
        pub struct $conn(Page<$item>);

        #[doc = concat!("One of the ", $what, " and its cursor.")]
        #[derive(SimpleObject)]
        #[graphql(name = $gql)]
        pub struct $edge {
            /// Opaque cursor of this item.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        #[Object]
        impl $conn {
            /// Items with their cursors.
            async fn edges(&self) -> Vec<$edge> {
                self.0
                    .items
                    .iter()
                    .map(|(c, o)| $edge {
                        cursor: c.as_str().to_owned(),
                        node: $node(o.clone()),
                    })
                    .collect()
            }
            /// Items without cursors.
            async fn nodes(&self) -> Vec<$node> {
                self.0.items.iter().map(|(_, o)| $node(o.clone())).collect()
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
            /// Number of items matching the filter, all pages together (counted only when selected).
            async fn total_count(&self) -> i32 {
                self.0
                    .total_count
                    .map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX))
            }
        }
    };
}

connection!(
    AidantsOrganisationConnection,
    AidantsOrganisationEdge,
    "AidantsOrganisationEdge",
    AidantsOrganisationNode,
    Organisation,
    "Aidants Connect organisations"
);
connection!(
    AidantConnection,
    AidantEdge,
    "AidantEdge",
    AidantNode,
    Aidant,
    "aidants"
);

/// Mandates of one month and démarche in a territory, summed over its organisations (and over durations unless
/// `duration` is set). Counts only: Maillage never holds who was helped.
pub struct MandateMonthTotal(MandateTotal);

#[Object]
impl MandateMonthTotal {
    /// The month, `YYYY-MM`.
    async fn month(&self) -> String {
        self.0.month.to_string()
    }
    /// The démarche.
    async fn demarche(&self) -> Demarche {
        self.0.demarche.into()
    }
    /// The duration, when durations were asked apart (`byDuration: true`).
    async fn duration(&self) -> Option<MandateDuration> {
        self.0.duration.map(Into::into)
    }
    /// Mandates created in the month.
    async fn created(&self) -> i64 {
        self.0.counts.created
    }
    /// Mandates renewed in the month.
    async fn renewed(&self) -> i64 {
        self.0.counts.renewed
    }
    /// Mandates revoked in the month.
    async fn revoked(&self) -> i64 {
        self.0.counts.revoked
    }
    /// Mandates active on the month's last day.
    async fn active_at_month_end(&self) -> i64 {
        self.0.counts.active_at_month_end
    }
}

/// Public aggregates of Aidants Connect for a department, a hub, a region or the whole country: readable by anyone.
pub struct AidantsStatistics {
    territory: Territory,
    counts: AidantsCounts,
}

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[Object]
impl AidantsStatistics {
    /// Organisations located there, active or not.
    async fn organisations(&self) -> i32 {
        count(self.counts.organisations)
    }
    /// Active organisations.
    async fn active_organisations(&self) -> i32 {
        count(self.counts.active_organisations)
    }
    /// Active organisations with the France Services label.
    async fn france_services_organisations(&self) -> i32 {
        count(self.counts.france_services_organisations)
    }
    /// Aidants currently authorised, working for an organisation there (each counted once).
    async fn authorised_aidants(&self) -> i32 {
        count(self.counts.authorised_aidants)
    }
    /// Aidants who were trained (a training date, whatever their status since).
    async fn trained_aidants(&self) -> i32 {
        count(self.counts.trained_aidants)
    }
    /// Mandates per month and démarche, ordered by month then démarche (then duration).
    async fn mandates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First month included, `YYYY-MM`.")] from: Option<String>,
        #[graphql(desc = "Last month included, `YYYY-MM`.")] to: Option<String>,
        demarche: Option<Demarche>,
        duration: Option<MandateDuration>,
        #[graphql(desc = "Keep durations apart instead of summing them.", default)]
        by_duration: bool,
    ) -> async_graphql::Result<Vec<MandateMonthTotal>> {
        let s = state(ctx)?;
        let month = |field: &str, v: Option<String>| {
            v.map(|m| Month::parse(&m).map_err(|e| invalid(field, &e)))
                .transpose()
        };
        let query = MandateQuery {
            from: month("from", from)?,
            to: month("to", to)?,
            demarche: demarche.map(Into::into),
            duration: duration.map(Into::into),
            by_duration,
        };
        let rows = maillage_aidants::mandate_totals(&s.db, &self.territory, &query)
            .await
            .gql()?;
        Ok(rows.into_iter().map(MandateMonthTotal).collect())
    }
}

/// This domain's loaders, from the request state.
fn aidants_loaders<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a AidantsLoaders> {
    Ok(&state(ctx)?.aidants)
}

/// `Department.aidantsOrganisations`: the organisations of one department, batched across the departments of a level.
pub(crate) async fn department_organisations(
    ctx: &Context<'_>,
    department: &DepartmentCode,
    filter: Option<AidantsOrganisationFilter>,
) -> async_graphql::Result<Vec<AidantsOrganisationNode>> {
    let mut filter = filter.unwrap_or_default().into_domain()?;
    // The department itself is the territorial criterion here.
    filter.departments.clear();
    filter.hub = None;
    filter.region = None;
    let list = aidants_loaders(ctx)?
        .department_organisations
        .load_one((department.clone(), filter))
        .await?;
    Ok(list
        .unwrap_or_default()
        .into_iter()
        .map(AidantsOrganisationNode)
        .collect())
}

// ---------------------------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------------------------

/// Queries on Aidants Connect.
#[derive(Default)]
pub struct AidantsQuery;

#[Object]
impl AidantsQuery {
    /// Aidants Connect organisations matching a filter, by id (at most 100 per page).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn aidants_organisations(
        &self,
        ctx: &Context<'_>,
        filter: Option<AidantsOrganisationFilter>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<AidantsOrganisationConnection> {
        let s = state(ctx)?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let page = page_request(ctx, first, after)?;
        let page = maillage_aidants::list_organisations(&s.db, &filter, &page)
            .await
            .gql()?;
        Ok(AidantsOrganisationConnection(page))
    }

    /// One organisation by ID.
    async fn aidants_organisation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<AidantsOrganisationNode>> {
        let id = OrganisationId(decode_id(&id, ORGANISATION)?);
        let org = aidants_loaders(ctx)?.organisation.load_one(id).await?;
        Ok(org.map(AidantsOrganisationNode))
    }

    /// Aidants matching a filter, by id (at most 100 per page). Personal fields follow the caller's rights.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn aidants(
        &self,
        ctx: &Context<'_>,
        filter: Option<AidantFilterInput>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<AidantConnection> {
        let s = state(ctx)?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let page = page_request(ctx, first, after)?;
        let page = maillage_aidants::list_aidants(&s.db, &filter, &page)
            .await
            .gql()?;
        Ok(AidantConnection(page))
    }

    /// One aidant by ID.
    async fn aidant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<AidantNode>> {
        let s = state(ctx)?;
        let id = AidantId(decode_id(&id, AIDANT)?);
        let aidant = maillage_aidants::get_aidant(&s.db, id).await.gql()?;
        Ok(aidant.map(AidantNode))
    }

    /// Public aggregates for dashboards: give at most one of `department`, `hub` or `region`; none is the whole
    /// country.
    async fn aidants_statistics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "INSEE department code, e.g. \"31\".")] department: Option<String>,
        #[graphql(desc = "Hub slug, e.g. \"rhinocc\".")] hub: Option<String>,
        #[graphql(desc = "INSEE region code, e.g. \"76\".")] region: Option<String>,
    ) -> async_graphql::Result<AidantsStatistics> {
        let s = state(ctx)?;
        let territory = match (department, hub, region) {
            (None, None, None) => Territory::National,
            (Some(d), None, None) => Territory::Department(
                DepartmentCode::parse(&d).map_err(|e| invalid("department", &e))?,
            ),
            (None, Some(h), None) => Territory::Hub(h),
            (None, None, Some(r)) => {
                Territory::Region(RegionCode::parse(&r).map_err(|e| invalid("region", &e))?)
            }
            _ => {
                return Err(coded(
                    "give at most one of department, hub or region",
                    "invalid_value",
                    None,
                ));
            }
        };
        let counts = maillage_aidants::aidants_counts(&s.db, &territory)
            .await
            .gql()?;
        Ok(AidantsStatistics { territory, counts })
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------------------------

/// Collects every input problem at once, so a client fixes them in one round trip.
#[derive(Default)]
struct Checks(Vec<UserError>);

impl Checks {
    fn parse<T, E: std::fmt::Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(user_error(
                    FieldPath::new("input").push(field),
                    "invalid_value",
                    e.to_string(),
                ));
                None
            }
        }
    }

    fn text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        let v = value.trim();
        if v.is_empty() || v.chars().count() > max {
            self.0.push(user_error(
                FieldPath::new("input").push(field),
                "invalid_value",
                format!("{field} must have 1 to {max} characters"),
            ));
            return None;
        }
        Some(v.to_owned())
    }

    fn id(&mut self, field: FieldPath, r: async_graphql::Result<i32>) -> Option<i32> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(user_error(field, "invalid_id", e.message));
                None
            }
        }
    }

    fn organisations(&mut self, ids: &[ID]) -> Vec<OrganisationId> {
        ids.iter()
            .enumerate()
            .filter_map(|(i, id)| {
                self.id(
                    FieldPath::new("input").push("organisations").index(i),
                    decode_id(id, ORGANISATION),
                )
                .map(OrganisationId)
            })
            .collect()
    }
}

fn maybe<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> Option<U>) -> Option<Option<U>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => f(v).map(Some),
    }
}

fn opt_text(v: String) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// An optional text field of an update: absent leaves it, `null` or blank clears it.
fn maybe_text(v: MaybeUndefined<String>) -> Option<Option<String>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(opt_text(v)),
    }
}

/// A new Aidants Connect organisation.
#[derive(InputObject)]
pub struct CreateAidantsOrganisationInput {
    /// Name.
    pub name: String,
    /// SIRET (14 digits): must be unique.
    pub siret: String,
    /// Type of structure.
    pub kind: AidantsOrganisationKind,
    /// Street address.
    pub address: String,
    /// Postal code (5 digits).
    pub postal_code: Option<String>,
    /// Commune.
    pub commune: Option<String>,
    /// INSEE department code: hub coordinators may only use theirs.
    pub department: String,
    /// France Services label.
    #[graphql(default)]
    pub france_services: bool,
    /// The site it runs (global ID).
    pub site: Option<ID>,
}

/// Changes to an organisation; omitted fields stay as they are, `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateAidantsOrganisationInput {
    /// The organisation.
    pub id: ID,
    /// The version read; refused with `stale_version` if it changed since.
    pub version: i32,
    /// Name.
    pub name: Option<String>,
    /// Type of structure.
    pub kind: Option<AidantsOrganisationKind>,
    /// Street address.
    pub address: Option<String>,
    /// Postal code.
    pub postal_code: MaybeUndefined<String>,
    /// Commune.
    pub commune: MaybeUndefined<String>,
    /// Department; moving outside your departments is refused.
    pub department: Option<String>,
    /// France Services label.
    pub france_services: Option<bool>,
    /// Active or not.
    pub active: Option<bool>,
    /// The site it runs (global ID).
    pub site: MaybeUndefined<ID>,
}

/// The result of creating or updating an organisation.
#[derive(SimpleObject)]
pub struct AidantsOrganisationPayload {
    /// The organisation as stored, or null when nothing was written.
    pub organisation: Option<AidantsOrganisationNode>,
    /// Why nothing was written.
    pub user_errors: Vec<UserError>,
}

/// A new aidant.
#[derive(InputObject)]
pub struct CreateAidantInput {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Professional e-mail: must be unique.
    pub email: String,
    /// Profession.
    pub profession: Option<String>,
    /// The organisations it works for (at least one; hub coordinators: all in their departments).
    pub organisations: Vec<ID>,
    /// Status.
    pub status: AidantStatus,
    /// When the habilitation was requested.
    pub requested_on: Option<NaiveDate>,
    /// When the aidant was trained.
    pub trained_on: Option<NaiveDate>,
    /// The hub that trained the aidant (global ID).
    pub training_hub: Option<ID>,
    /// When the aidant was authorised.
    pub authorised_on: Option<NaiveDate>,
    /// When the authorisation was revoked.
    pub revoked_on: Option<NaiveDate>,
    /// The conseiller numérique this aidant also is (counsellors domain id).
    pub counsellor_id: Option<i32>,
}

/// Changes to an aidant; omitted fields stay as they are, `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateAidantInput {
    /// The aidant.
    pub id: ID,
    /// The version read; refused with `stale_version` if it changed since.
    pub version: i32,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Professional e-mail.
    pub email: Option<String>,
    /// Profession.
    pub profession: MaybeUndefined<String>,
    /// The whole list of organisations.
    pub organisations: Option<Vec<ID>>,
    /// Status.
    pub status: Option<AidantStatus>,
    /// Request date.
    pub requested_on: MaybeUndefined<NaiveDate>,
    /// Training date.
    pub trained_on: MaybeUndefined<NaiveDate>,
    /// Training hub (global ID).
    pub training_hub: MaybeUndefined<ID>,
    /// Authorisation date.
    pub authorised_on: MaybeUndefined<NaiveDate>,
    /// Revocation date.
    pub revoked_on: MaybeUndefined<NaiveDate>,
    /// Counsellor link.
    pub counsellor_id: MaybeUndefined<i32>,
}

/// The result of creating or updating an aidant.
#[derive(SimpleObject)]
pub struct AidantPayload {
    /// The aidant as stored, or null when nothing was written.
    pub aidant: Option<AidantNode>,
    /// Why nothing was written.
    pub user_errors: Vec<UserError>,
}

fn date(v: MaybeUndefined<NaiveDate>) -> Option<Option<NaiveDate>> {
    maybe(v, Some)
}

/// Mutations on Aidants Connect: admins anywhere, hub coordinators in their hub's departments.
#[derive(Default)]
pub struct AidantsMutation;

#[Object]
impl AidantsMutation {
    /// Creates an organisation.
    async fn create_aidants_organisation(
        &self,
        ctx: &Context<'_>,
        input: CreateAidantsOrganisationInput,
    ) -> async_graphql::Result<AidantsOrganisationPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let name = c.text("name", &input.name, 300);
        let siret = c.parse("siret", Siret::parse(&input.siret));
        let address = c.text("address", &input.address, 300);
        let postal_code = input
            .postal_code
            .as_deref()
            .and_then(|p| c.parse("postalCode", PostalCode::parse(p)))
            .map(|p| p.as_str().to_owned());
        let department = c.parse("department", DepartmentCode::parse(&input.department));
        let site = input
            .site
            .map(|id| {
                c.id(
                    FieldPath::new("input").push("site"),
                    decode_int(&id, NodeKind::Site),
                )
            })
            .and_then(|v| v.map(SiteId));
        let (Some(name), Some(siret), Some(address), Some(department)) =
            (name, siret, address, department)
        else {
            return Ok(AidantsOrganisationPayload {
                organisation: None,
                user_errors: c.0,
            });
        };
        if !c.0.is_empty() {
            return Ok(AidantsOrganisationPayload {
                organisation: None,
                user_errors: c.0,
            });
        }
        let new = NewOrganisation {
            name,
            siret,
            kind: input.kind.into(),
            address,
            postal_code,
            commune: input.commune.and_then(opt_text),
            department,
            france_services: input.france_services,
            site,
        };
        let s = state(ctx)?;
        Ok(
            match maillage_aidants::create_organisation(&s.db, &actor, new).await {
                Ok(org) => AidantsOrganisationPayload {
                    organisation: Some(AidantsOrganisationNode(org)),
                    user_errors: Vec::new(),
                },
                Err(e) => AidantsOrganisationPayload {
                    organisation: None,
                    user_errors: classify(&e)?,
                },
            },
        )
    }

    /// Updates an organisation if `version` is still its version.
    async fn update_aidants_organisation(
        &self,
        ctx: &Context<'_>,
        input: UpdateAidantsOrganisationInput,
    ) -> async_graphql::Result<AidantsOrganisationPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let id = c.id(
            FieldPath::new("input").push("id"),
            decode_id(&input.id, ORGANISATION),
        );
        let name = input.name.as_deref().and_then(|v| c.text("name", v, 300));
        let address = input
            .address
            .as_deref()
            .and_then(|v| c.text("address", v, 300));
        let postal_code = maybe(input.postal_code, |p| {
            c.parse("postalCode", PostalCode::parse(&p))
                .map(|p| p.as_str().to_owned())
        });
        let department = input
            .department
            .as_deref()
            .and_then(|d| c.parse("department", DepartmentCode::parse(d)));
        let site = maybe(input.site, |id| {
            c.id(
                FieldPath::new("input").push("site"),
                decode_int(&id, NodeKind::Site),
            )
            .map(SiteId)
        });
        let (Some(id), true) = (id, c.0.is_empty()) else {
            return Ok(AidantsOrganisationPayload {
                organisation: None,
                user_errors: c.0,
            });
        };
        let patch = OrganisationPatch {
            name,
            kind: input.kind.map(Into::into),
            address,
            postal_code,
            commune: maybe_text(input.commune),
            department,
            france_services: input.france_services,
            active: input.active,
            site,
        };
        let s = state(ctx)?;
        Ok(
            match maillage_aidants::update_organisation(
                &s.db,
                &actor,
                OrganisationId(id),
                input.version,
                patch,
            )
            .await
            {
                Ok(org) => AidantsOrganisationPayload {
                    organisation: Some(AidantsOrganisationNode(org)),
                    user_errors: Vec::new(),
                },
                Err(e) => AidantsOrganisationPayload {
                    organisation: None,
                    user_errors: classify(&e)?,
                },
            },
        )
    }

    /// Creates an aidant.
    async fn create_aidant(
        &self,
        ctx: &Context<'_>,
        input: CreateAidantInput,
    ) -> async_graphql::Result<AidantPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let first_name = c.text("firstName", &input.first_name, 200);
        let last_name = c.text("lastName", &input.last_name, 200);
        let email = c.parse("email", Email::parse(&input.email));
        let organisations = c.organisations(&input.organisations);
        let training_hub = input
            .training_hub
            .map(|id| {
                c.id(
                    FieldPath::new("input").push("trainingHub"),
                    decode_int(&id, NodeKind::Hub),
                )
            })
            .and_then(|v| v.map(HubId));
        let (Some(first_name), Some(last_name), Some(email), true) =
            (first_name, last_name, email, c.0.is_empty())
        else {
            return Ok(AidantPayload {
                aidant: None,
                user_errors: c.0,
            });
        };
        let new = NewAidant {
            person: AidantPerson {
                first_name,
                last_name,
                email,
                profession: input.profession.and_then(opt_text),
            },
            organisations,
            status: input.status.into(),
            requested_on: input.requested_on,
            trained_on: input.trained_on,
            training_hub,
            authorised_on: input.authorised_on,
            revoked_on: input.revoked_on,
            counsellor: input.counsellor_id.map(CounsellorRef),
        };
        let s = state(ctx)?;
        Ok(
            match maillage_aidants::create_aidant(&s.db, &actor, new).await {
                Ok(a) => AidantPayload {
                    aidant: Some(AidantNode(a)),
                    user_errors: Vec::new(),
                },
                Err(e) => AidantPayload {
                    aidant: None,
                    user_errors: classify(&e)?,
                },
            },
        )
    }

    /// Updates an aidant if `version` is still its version.
    async fn update_aidant(
        &self,
        ctx: &Context<'_>,
        input: UpdateAidantInput,
    ) -> async_graphql::Result<AidantPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let id = c.id(
            FieldPath::new("input").push("id"),
            decode_id(&input.id, AIDANT),
        );
        let first_name = input
            .first_name
            .as_deref()
            .and_then(|v| c.text("firstName", v, 200));
        let last_name = input
            .last_name
            .as_deref()
            .and_then(|v| c.text("lastName", v, 200));
        let email = input
            .email
            .as_deref()
            .and_then(|v| c.parse("email", Email::parse(v)));
        let organisations = input.organisations.map(|ids| c.organisations(&ids));
        let training_hub = maybe(input.training_hub, |id| {
            c.id(
                FieldPath::new("input").push("trainingHub"),
                decode_int(&id, NodeKind::Hub),
            )
            .map(HubId)
        });
        let (Some(id), true) = (id, c.0.is_empty()) else {
            return Ok(AidantPayload {
                aidant: None,
                user_errors: c.0,
            });
        };
        let patch = AidantPatch {
            first_name,
            last_name,
            email,
            profession: maybe_text(input.profession),
            organisations,
            status: input.status.map(Into::into),
            requested_on: date(input.requested_on),
            trained_on: date(input.trained_on),
            training_hub,
            authorised_on: date(input.authorised_on),
            revoked_on: date(input.revoked_on),
            counsellor: maybe(input.counsellor_id, |v| Some(CounsellorRef(v))),
        };
        let s = state(ctx)?;
        Ok(
            match maillage_aidants::update_aidant(&s.db, &actor, AidantId(id), input.version, patch)
                .await
            {
                Ok(a) => AidantPayload {
                    aidant: Some(AidantNode(a)),
                    user_errors: Vec::new(),
                },
                Err(e) => AidantPayload {
                    aidant: None,
                    user_errors: classify(&e)?,
                },
            },
        )
    }
}
