//! The `AidantsOrganisation` and `Aidant` objects, their connections and the public aggregates.

use super::inputs::{
    AidantFilterInput, AidantStatus, AidantsOrganisationFilter, AidantsOrganisationKind, Demarche,
    MandateDuration, invalid,
};
use super::loaders::{
    DepartmentOrganisationsLoader, OrganisationAidantsLoader, OrganisationLoader,
    OrganisationSiteLoader, TrainingHubLoader,
};
use crate::kit::connection::{Connection, PageArgs, in_memory};
use crate::kit::date::Date;
use crate::kit::error::IntoGql;
use crate::kit::handles::{DepartmentLoader, DepartmentNode, HubNode, SiteNode};
use crate::kit::id::{NodeKind, encode};
use crate::kit::loader::loader;
use crate::kit::state;
use async_graphql::{Context, ID, Object};
use maillage_aidants::{
    Aidant, AidantPerson, AidantsCounts, MandateQuery, MandateTotal, Month, Organisation, Territory,
};
use maillage_core::DepartmentCode;

// ---------------------------------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------------------------------

/// An Aidants Connect organisation: a structure (with a SIRET) whose aidants carry out online procedures on behalf
/// of people under a mandate. Public data.
pub struct AidantsOrganisationNode(pub Organisation);

/// An Aidants Connect organisation: a structure (with a SIRET) whose aidants carry out online procedures on behalf
/// of people under a mandate. Public data.
#[Object(name = "AidantsOrganisation")]
impl AidantsOrganisationNode {
    /// Opaque ID.
    pub async fn id(&self) -> ID {
        encode(NodeKind::AidantsOrganisation, self.0.id.0)
    }
    /// When Maillage last wrote it (server clock, every write): the key of incremental sync.
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
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
        let _s = state(ctx)?;
        Ok(loader::<DepartmentLoader>(ctx)?
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
        Ok(loader::<OrganisationSiteLoader>(ctx)?
            .load_one(id)
            .await?
            .map(SiteNode::new))
    }
    /// Its aidants by id (batched across organisations). Their personal fields follow the caller's rights.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn aidants(
        &self,
        ctx: &Context<'_>,
        filter: Option<AidantFilterInput>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<AidantNode>> {
        let filter = filter.unwrap_or_default().into_domain(ctx).await?;
        let list = loader::<OrganisationAidantsLoader>(ctx)?
            .load_one((self.0.id, filter))
            .await?;
        in_memory(
            ctx,
            PageArgs::new(first, after, last, before),
            list.unwrap_or_default(),
            |a| a.id.0,
            AidantNode,
        )
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

/// An aidant: a professional (secrétaire de mairie, social worker, France Services agent…) trained and authorised to
/// act on behalf of people. Names, e-mail and profession are personal data: **null** for anonymous and partner
/// callers and for hub coordinators when none of the aidant's organisations is in their departments; no error.
#[Object(name = "Aidant")]
impl AidantNode {
    /// Opaque ID.
    pub async fn id(&self) -> ID {
        encode(NodeKind::Aidant, self.0.id.0)
    }
    /// When Maillage last wrote it (server clock, every write): the key of incremental sync.
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
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
    async fn requested_on(&self) -> Option<Date> {
        self.0.data.requested_on.map(Date)
    }
    /// When the aidant was trained.
    async fn trained_on(&self) -> Option<Date> {
        self.0.data.trained_on.map(Date)
    }
    /// The hub that trained the aidant.
    async fn training_hub(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<HubNode>> {
        let Some(hub) = self.0.data.training_hub else {
            return Ok(None);
        };
        Ok(loader::<TrainingHubLoader>(ctx)?
            .load_one(hub)
            .await?
            .map(HubNode))
    }
    /// When the aidant was authorised.
    async fn authorised_on(&self) -> Option<Date> {
        self.0.data.authorised_on.map(Date)
    }
    /// When the authorisation was revoked.
    async fn revoked_on(&self) -> Option<Date> {
        self.0.data.revoked_on.map(Date)
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
        let found = loader::<OrganisationLoader>(ctx)?
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

/// Mandates of one month and démarche in a territory, summed over its organisations (and over durations unless
/// `duration` is set). Counts only: Maillage never holds who was helped.
pub struct MandateMonthTotal(pub MandateTotal);

/// Mandates of one month and démarche in a territory, summed over its organisations (and over durations unless
/// `duration` is set). Counts only: Maillage never holds who was helped.
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
    pub(crate) territory: Territory,
    pub(crate) counts: AidantsCounts,
}

pub(crate) fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Public aggregates of Aidants Connect for a department, a hub, a region or the whole country: readable by anyone.
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

/// `Department.aidantsOrganisations`: the organisations of one department by id, read in one statement for all the
/// departments of a level and paged in memory.
pub(crate) async fn department_organisations(
    ctx: &Context<'_>,
    department: &DepartmentCode,
    filter: Option<AidantsOrganisationFilter>,
    args: PageArgs,
) -> async_graphql::Result<Connection<AidantsOrganisationNode>> {
    let mut filter = filter.unwrap_or_default().into_domain(ctx).await?;
    // The department itself is the territorial criterion here.
    filter.departments.clear();
    filter.hub = None;
    filter.region = None;
    let list = loader::<DepartmentOrganisationsLoader>(ctx)?
        .load_one((department.clone(), filter))
        .await?;
    in_memory(
        ctx,
        args,
        list.unwrap_or_default(),
        |o| o.id.0,
        AidantsOrganisationNode,
    )
}
