//! The `HostStructure`, `FundedPost`, `Counsellor` and `CounsellorAssignment` objects.

use super::inputs::{
    CommitteeDecision, ContractType, CounsellorStatus, FundingKind, StructureKind,
};
use super::loaders::{
    AssignmentsLoader, CoordinatedLoader, CounsellorLoader, PageCounsellorsLoader, PageSites,
    PostLoader, SiteCounsellorsLoader, SiteLoader, StructureCounsellorsLoader, StructureLoader,
    StructurePostsLoader,
};
use crate::kit::connection::{Connection, PageArgs, in_memory};
use crate::kit::date::Date;
use crate::kit::error::coded;
use crate::kit::handles::{DepartmentLoader, DepartmentNode, SiteCounsellors, SiteNode};
use crate::kit::id::{NodeKind, encode};
use crate::kit::loader::loader;
use crate::kit::memory::{Answer, FromMemory, nullable, scalar, text};
use crate::kit::state;
use async_graphql::resolver_utils::enum_value;
use async_graphql::{Context, ID, Object, SelectionField, Value};
use maillage_core::{Code, SiteId};
use maillage_counsellors::{
    Assignment, Counsellor, CounsellorParts, PersonalData, Post, Structure,
};
use std::sync::Arc;

/// The fields of `Counsellor` a brief read (`CounsellorParts::Brief`) serves exactly: those of its columns, the
/// relations that need only its ids (whatever is selected under them), and `__typename`. An allow-list: a field not
/// named here, including one added to `Counsellor` later, makes `Site.counsellors` read whole rows. Every other
/// resolver of `Counsellor` refuses a brief counsellor ([`CounsellorNode::whole`]), and an end-to-end test compares
/// every field of `Counsellor` read alone with the same counsellors read whole (`tests/e2e/counsellors.rs`).
pub(crate) const BRIEF_FIELDS: &[&str] = &[
    "__typename",
    "id",
    "updatedAt",
    "externalId",
    "status",
    "isCoordinator",
    "departmentCode",
    "version",
    "structure",
    "post",
    "coordinator",
    "coordinated",
    "assignments",
    "sites",
];

/// What `Site.counsellors` reads of each counsellor, from the fields selected under it (fragments included): a
/// brief row when every one is in [`BRIEF_FIELDS`] (the profile that motivates it is on `CounsellorParts::Brief`),
/// else the whole row.
fn selected_parts(ctx: &Context<'_>) -> CounsellorParts {
    parts_for(ctx.field().selection_set())
}

/// [`selected_parts`] for the fields selected under one or more `counsellors` fields.
fn parts_for<'a>(mut fields: impl Iterator<Item = SelectionField<'a>>) -> CounsellorParts {
    if fields.all(|f| BRIEF_FIELDS.contains(&f.name())) {
        CounsellorParts::Brief
    } else {
        CounsellorParts::Whole
    }
}

/// The counsellors of every site of a page whose selection reads `Site.counsellors` (`selections`: each
/// `counsellors` field selected under the page's sites, aliases included), for [`counsellors_of_site`].
///
/// Why: through `load_one`, every site of the page registered its key with the DataLoader and waited for the batch
/// on its own (a key set, a result map and a channel per site): on the bench's Q5 (1 300 sites, each with its
/// counsellors) that was a tenth of the server's instructions (issue #16). One key per page
/// ([`PageCounsellorsLoader`]) joins the other pages of the level in the same batch, so the statements are the same.
/// `None` when the read fails: each site then asks on its own, as before, and the error lands on its `counsellors`
/// field rather than on the whole page.
pub(crate) async fn prefetch_site_counsellors(
    ctx: &Context<'_>,
    selections: Vec<SelectionField<'_>>,
    sites: Arc<[SiteId]>,
) -> Option<Arc<SiteCounsellors>> {
    if selections.is_empty() || sites.is_empty() {
        return None;
    }
    let parts = parts_for(selections.iter().flat_map(|f| f.selection_set()));
    loader::<PageCounsellorsLoader>(ctx)
        .ok()?
        .load_one(PageSites::new(sites, parts))
        .await
        .ok()
        .flatten()
}

/// The counsellors working at a site: `Site.counsellors`, from its page's [`prefetch_site_counsellors`] when that
/// read at least what this selection reads, else batched over all the sites that ask.
pub(crate) async fn counsellors_of_site(
    ctx: &Context<'_>,
    site: SiteId,
    prefetched: Option<&SiteCounsellors>,
) -> async_graphql::Result<Vec<CounsellorNode>> {
    let parts = selected_parts(ctx);
    // Whole rows serve any selection; brief ones only a brief selection.
    if let Some(prefetched) =
        prefetched.filter(|p| p.parts == CounsellorParts::Whole || p.parts == parts)
    {
        return Ok(prefetched
            .by_site
            .get(&site)
            .map(|list| list.iter().cloned().map(CounsellorNode).collect())
            .unwrap_or_default());
    }
    let rows = loader::<SiteCounsellorsLoader>(ctx)?
        .load_one((site, parts))
        .await?;
    Ok(rows
        .unwrap_or_default()
        .into_iter()
        .map(|(_, c)| CounsellorNode(c))
        .collect())
}

/// A structure hosting conseillers numériques (collectivité, association…), identified by its SIRET.
pub struct StructureNode(pub Structure);

/// A structure hosting conseillers numériques (collectivité, association…), identified by its SIRET.
#[Object(name = "HostStructure")]
impl StructureNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::HostStructure, self.0.id.0)
    }
    /// When Maillage last wrote it (server clock, every write): the key of incremental sync.
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }
    /// SIRET (14 digits).
    async fn siret(&self) -> &str {
        self.0.data.siret.as_str()
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.data.name
    }
    /// Legal kind.
    async fn kind(&self) -> StructureKind {
        self.0.data.kind.into()
    }
    /// Public or private, derived from the kind: decides the grant rule of its posts.
    async fn funding_kind(&self) -> FundingKind {
        self.0.funding_kind().into()
    }
    /// Street address.
    async fn address(&self) -> Option<&str> {
        self.0.data.address.as_deref()
    }
    /// Postal code.
    async fn postal_code(&self) -> Option<&str> {
        self.0.data.postal_code.as_ref().map(|p| p.as_str())
    }
    /// Commune.
    async fn commune(&self) -> Option<&str> {
        self.0.data.commune.as_deref()
    }
    /// INSEE code of the department.
    async fn department_code(&self) -> &str {
        self.0.data.department.as_str()
    }
    /// The department.
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DepartmentNode>> {
        let _s = state(ctx)?;
        Ok(loader::<DepartmentLoader>(ctx)?
            .load_one(self.0.data.department.clone())
            .await?
            .map(DepartmentNode))
    }
    /// Labelled France Services.
    async fn france_services(&self) -> bool {
        self.0.data.france_services
    }
    /// In a zone de revitalisation rurale.
    async fn zrr(&self) -> bool {
        self.0.data.zrr
    }
    /// In (or serving) a quartier prioritaire de la politique de la ville.
    async fn qpv(&self) -> bool {
        self.0.data.qpv
    }
    /// Version for optimistic concurrency.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Its requests for posts (first agreement, renewal).
    async fn posts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PostNode>> {
        let posts = loader::<StructurePostsLoader>(ctx)?
            .load_one(self.0.id)
            .await?;
        Ok(posts
            .unwrap_or_default()
            .into_iter()
            .map(PostNode)
            .collect())
    }
    /// Its counsellors, by id; batched across structures in one statement.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn counsellors(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<CounsellorNode>> {
        let list = loader::<StructureCounsellorsLoader>(ctx)?
            .load_one(self.0.id)
            .await?;
        in_memory(
            ctx,
            PageArgs::new(first, after, last, before),
            list.unwrap_or_default(),
            |c| c.id.0,
            CounsellorNode,
        )
    }
}

/// A request for funded posts (conventionnement) and the selection committee's decision.
pub struct PostNode(pub Post);

/// A request for funded posts (conventionnement) and the selection committee's decision.
#[Object(name = "FundedPost")]
impl PostNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::FundedPost, self.0.id.0)
    }
    /// Whether this renews a first agreement.
    async fn renewal(&self) -> bool {
        self.0.data.renewal
    }
    /// Posts requested.
    async fn requested(&self) -> i32 {
        self.0.data.requested
    }
    /// Posts granted.
    async fn granted(&self) -> i32 {
        self.0.data.granted
    }
    /// The committee's decision.
    async fn decision(&self) -> CommitteeDecision {
        self.0.data.decision.into()
    }
    /// The committee's date.
    async fn committee_date(&self) -> Option<Date> {
        self.0.data.committee_date.map(Date)
    }
    /// First day of the funding agreement.
    async fn agreement_start(&self) -> Option<Date> {
        self.0.data.agreement_start.map(Date)
    }
    /// Last day of the funding agreement.
    async fn agreement_end(&self) -> Option<Date> {
        self.0.data.agreement_end.map(Date)
    }
    /// Version for optimistic concurrency.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The host structure.
    async fn structure(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<StructureNode>> {
        let s = loader::<StructureLoader>(ctx)?
            .load_one(self.0.structure_id)
            .await?;
        Ok(s.map(StructureNode))
    }
}

/// A conseiller numérique France Services.
///
/// Personal fields (names, e-mails, phone) are **null** for anonymous and partner callers and for hub coordinators
/// outside the counsellor's department; no error is raised.
pub struct CounsellorNode(pub Counsellor);

impl CounsellorNode {
    fn personal(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&PersonalData>> {
        Ok(self.whole()?.personal_for(&state(ctx)?.actor))
    }

    /// The counsellor for a field outside the brief read's ([`BRIEF_FIELDS`]): refused when the read was brief,
    /// whose other fields hold neutral values (`CounsellorParts::Brief`), rather than served as the counsellor's.
    /// `Site.counsellors` chooses a brief read only when no such field is selected, so this is a guard against a
    /// mistake in that choice, not a path a query takes.
    fn whole(&self) -> async_graphql::Result<&Counsellor> {
        if self.0.parts.is_whole() {
            Ok(&self.0)
        } else {
            tracing::error!(
                parts = ?self.0.parts,
                "a Counsellor field was resolved on a counsellor read without it; the parts are chosen from the \
                 selection"
            );
            Err(coded("internal error", Code::InternalError, None))
        }
    }
}

impl CounsellorNode {
    /// Global ID (opaque).
    fn global_id(&self) -> ID {
        encode(NodeKind::Counsellor, self.0.id.0)
    }

    /// The `Node` interface's `id`, which its derive calls on the node itself, as `#[Object]` shapes a resolver:
    /// with the context, as a result.
    pub async fn id(&self, _: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(self.global_id())
    }
}

crate::object_from_memory!(
    /// The `Counsellor` object's resolvers, on the counsellor itself: [`CounsellorNode`] is the object, resolved
    /// through [`crate::kit::memory::resolve_object`], which gives its plain fields from memory ([`FromMemory`]) and
    /// asks these resolvers for the others.
    pub struct CounsellorFields for CounsellorNode
);

impl FromMemory for CounsellorNode {
    fn field_from_memory(&self, name: &str) -> Option<Answer<'_>> {
        let c = &self.0;
        let data = &c.data;
        let date = |d: Option<chrono::NaiveDate>| nullable(d.map(Date).as_ref());
        // A brief counsellor gives only the brief read's fields here; the others go to their resolver, which
        // refuses it (`CounsellorNode::whole`), as they would without this path.
        let value = match name {
            "id" => scalar(&self.global_id()),
            "updatedAt" => scalar(&c.updated_at),
            "externalId" => text(&data.external_id),
            "status" => enum_value(CounsellorStatus::from(data.status)).into(),
            "isCoordinator" => scalar(&data.is_coordinator),
            "departmentCode" => text(c.department.as_str()),
            "version" => scalar(&c.version),
            _ if !c.parts.is_whole() => return None,
            "recruitedOn" => date(data.recruited_on),
            "trainingStartedOn" => date(data.training_started_on),
            "activeSince" => date(data.active_since),
            "endedOn" => date(data.ended_on),
            "contractType" => data
                .contract_type
                .map_or(Value::Null, |t| enum_value(ContractType::from(t)))
                .into(),
            "contractStart" => date(data.contract_start),
            "contractEnd" => date(data.contract_end),
            "trainingCompletedOn" => date(data.training_completed_on),
            "pixCertified" => scalar(&data.pix_certified),
            "hostShare" => scalar(&data.host_share),
            _ => return None,
        };
        Some(value)
    }
}

/// A conseiller numérique France Services.
///
/// Personal fields (names, e-mails, phone) are **null** for anonymous and partner callers and for hub coordinators
/// outside the counsellor's department; no error is raised.
#[Object(name = "Counsellor")]
impl CounsellorFields {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        self.0.global_id()
    }
    /// When Maillage last wrote it (server clock, every write): the key of incremental sync.
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.0.updated_at
    }
    /// The national platform's id: the identity across imports.
    async fn external_id(&self) -> &str {
        &self.0.0.data.external_id
    }
    /// First name (personal data).
    async fn first_name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.personal(ctx)?.map(|p| p.first_name.clone()))
    }
    /// Last name (personal data).
    async fn last_name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.personal(ctx)?.map(|p| p.last_name.clone()))
    }
    /// Professional e-mail (personal data).
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self
            .personal(ctx)?
            .and_then(|p| p.email.as_ref().map(|e| e.as_str().to_owned())))
    }
    /// Personal e-mail (personal data).
    async fn personal_email(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self
            .personal(ctx)?
            .and_then(|p| p.personal_email.as_ref().map(|e| e.as_str().to_owned())))
    }
    /// Phone (personal data).
    async fn phone(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.personal(ctx)?.and_then(|p| p.phone.clone()))
    }
    /// Status.
    async fn status(&self) -> CounsellorStatus {
        self.0.0.data.status.into()
    }
    /// Recruitment date.
    async fn recruited_on(&self) -> async_graphql::Result<Option<Date>> {
        Ok(self.whole()?.data.recruited_on.map(Date))
    }
    /// Start of the initial training.
    async fn training_started_on(&self) -> async_graphql::Result<Option<Date>> {
        Ok(self.whole()?.data.training_started_on.map(Date))
    }
    /// First day of activity with the public.
    async fn active_since(&self) -> async_graphql::Result<Option<Date>> {
        Ok(self.whole()?.data.active_since.map(Date))
    }
    /// End of the mission.
    async fn ended_on(&self) -> async_graphql::Result<Option<Date>> {
        Ok(self.whole()?.data.ended_on.map(Date))
    }
    /// Contract type.
    async fn contract_type(&self) -> async_graphql::Result<Option<ContractType>> {
        Ok(self.whole()?.data.contract_type.map(Into::into))
    }
    /// First day of the contract.
    async fn contract_start(&self) -> async_graphql::Result<Option<Date>> {
        Ok(self.whole()?.data.contract_start.map(Date))
    }
    /// Last day of the contract.
    async fn contract_end(&self) -> async_graphql::Result<Option<Date>> {
        Ok(self.whole()?.data.contract_end.map(Date))
    }
    /// When the initial training was completed.
    async fn training_completed_on(&self) -> async_graphql::Result<Option<Date>> {
        Ok(self.whole()?.data.training_completed_on.map(Date))
    }
    /// Holds the PIX certification.
    async fn pix_certified(&self) -> async_graphql::Result<bool> {
        Ok(self.whole()?.data.pix_certified)
    }
    /// Percent of time for the host structure's own public; with `assignments`, at most 100.
    async fn host_share(&self) -> async_graphql::Result<i32> {
        Ok(self.whole()?.data.host_share)
    }
    /// Whether this counsellor coordinates others.
    async fn is_coordinator(&self) -> bool {
        self.0.0.data.is_coordinator
    }
    /// INSEE code of the department (the host structure's).
    async fn department_code(&self) -> &str {
        self.0.0.department.as_str()
    }
    /// Version for optimistic concurrency (assignment changes bump it too).
    async fn version(&self) -> i32 {
        self.0.0.version
    }
    /// The host structure.
    async fn structure(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<StructureNode>> {
        let s = loader::<StructureLoader>(ctx)?
            .load_one(self.0.0.data.structure_id)
            .await?;
        Ok(s.map(StructureNode))
    }
    /// The funded post this counsellor fills.
    async fn post(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PostNode>> {
        let Some(id) = self.0.0.data.post_id else {
            return Ok(None);
        };
        Ok(loader::<PostLoader>(ctx)?.load_one(id).await?.map(PostNode))
    }
    /// The coordinator of this counsellor.
    async fn coordinator(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<CounsellorNode>> {
        let Some(id) = self.0.0.data.coordinator_id else {
            return Ok(None);
        };
        Ok(loader::<CounsellorLoader>(ctx)?
            .load_one(id)
            .await?
            .map(CounsellorNode))
    }
    /// The counsellors this coordinator coordinates (empty for others).
    async fn coordinated(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CounsellorNode>> {
        let list = loader::<CoordinatedLoader>(ctx)?
            .load_one(self.0.0.id)
            .await?;
        Ok(list
            .unwrap_or_default()
            .into_iter()
            .map(CounsellorNode)
            .collect())
    }
    /// Where the counsellor works, with the share of time at each site.
    async fn assignments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AssignmentNode>> {
        let list = loader::<AssignmentsLoader>(ctx)?
            .load_one(self.0.0.id)
            .await?;
        Ok(list
            .unwrap_or_default()
            .into_iter()
            .map(AssignmentNode)
            .collect())
    }
    /// The sites where the counsellor works (archived sites are left out).
    async fn sites(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SiteNode>> {
        let list = loader::<AssignmentsLoader>(ctx)?
            .load_one(self.0.0.id)
            .await?
            .unwrap_or_default();
        let sites = loader::<SiteLoader>(ctx)?
            .load_many(list.iter().map(|a| a.site_id))
            .await?;
        Ok(list
            .iter()
            .filter_map(|a| sites.get(&a.site_id).cloned().map(SiteNode::new))
            .collect())
    }
}

/// A counsellor's share of time at one site.
pub struct AssignmentNode(pub Assignment);

/// A counsellor's share of time at one site.
#[Object(name = "CounsellorAssignment")]
impl AssignmentNode {
    /// Global ID of the site.
    async fn site_id(&self) -> ID {
        encode(NodeKind::Site, self.0.site_id.0)
    }
    /// Percent of the counsellor's time at this site.
    async fn share(&self) -> i32 {
        self.0.share
    }
    /// The site (null if it was archived since).
    async fn site(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SiteNode>> {
        Ok(loader::<SiteLoader>(ctx)?
            .load_one(self.0.site_id)
            .await?
            .map(SiteNode::new))
    }
}
