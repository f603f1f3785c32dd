//! Conseillers numériques: host structures, funded posts, counsellors, their sites, and public statistics.
//!
//! Resolvers are thin: the `maillage-counsellors` services decide permissions and rules. Nested fields go through
//! this module's per-request DataLoaders ([`CounsellorLoaders`]), one batched statement per level, so
//! `hubs → departments → sites → counsellors → structure` costs the same number of statements whatever the data
//! size. Sites are another domain: a counsellor's sites are `SiteId`s resolved here through the sites crate.

use crate::error::{IntoGql, coded, to_gql};
use crate::id::{NodeKind, decode_int};
use crate::mutations::UserError;
use crate::mutations::{classify, user_error, writer};
use crate::sites::{PageInfo, SiteNode};
use crate::state;
use crate::territories::DepartmentNode;
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use maillage_core::error::FieldPath;
use maillage_core::pagination::{Page, PageRequest};
use maillage_core::{DepartmentCode, Email, PostalCode, Siret, SiteId};
use maillage_counsellors::{
    Assignment, Counsellor, CounsellorFilter, CounsellorId, CounsellorsError, NewCounsellor,
    NewPost, NewStructure, PersonalData, Post, PostId, PostPatch, Structure, StructureFilter,
    StructureId, StructurePatch,
};
use maillage_sites::Site;
use sea_orm::DatabaseConnection;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

// ------------------------------------------------------------------------------------------------------------
// Global IDs (same encoding as `crate::id`: base64url of `Type:key`)
// ------------------------------------------------------------------------------------------------------------

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

const STRUCTURE: &str = "HostStructure";
const POST: &str = "FundedPost";
const COUNSELLOR: &str = "Counsellor";

// ------------------------------------------------------------------------------------------------------------
// Enums
// ------------------------------------------------------------------------------------------------------------

/// The legal kind of a host structure.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_counsellors::StructureKind")]
pub enum StructureKind {
    /// A commune.
    Commune,
    /// An EPCI (inter-municipal body).
    Epci,
    /// A département.
    Departement,
    /// A région.
    Region,
    /// Another collectivité territoriale.
    OtherCollectivity,
    /// A groupement d'intérêt public.
    Gip,
    /// An association.
    Association,
    /// Another private non-profit or ESS structure.
    OtherPrivate,
}

/// Public or private host, derived from the kind: the funding rules depend on it.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_counsellors::FundingKind")]
pub enum FundingKind {
    /// Collectivités and public bodies.
    Public,
    /// Associations, other private non-profit or ESS structures.
    Private,
}

/// The selection committee's decision on a request for posts.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_counsellors::CommitteeDecision")]
pub enum CommitteeDecision {
    /// Not decided yet.
    Pending,
    /// Posts granted.
    Accepted,
    /// Refused.
    Refused,
}

/// Where a counsellor is in the programme.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_counsellors::CounsellorStatus")]
pub enum CounsellorStatus {
    /// Recruited, not yet in training.
    Recruited,
    /// In the initial training.
    InTraining,
    /// Working with the public.
    Active,
    /// The contract ended.
    ContractEnded,
}

/// A counsellor's employment contract.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_counsellors::ContractType")]
pub enum ContractType {
    /// Fixed-term contract.
    Cdd,
    /// Permanent contract.
    Cdi,
    /// Contrat de projet.
    ProjectContract,
    /// Seconded civil servant.
    CivilServant,
    /// Anything else.
    Other,
}

// ------------------------------------------------------------------------------------------------------------
// Loaders
// ------------------------------------------------------------------------------------------------------------

/// Loads host structures by id.
pub struct StructureLoader(DatabaseConnection);
/// Loads posts by id.
pub struct PostLoader(DatabaseConnection);
/// Loads counsellors by id.
pub struct CounsellorLoader(DatabaseConnection);
/// Loads the posts of each structure.
pub struct StructurePostsLoader(DatabaseConnection);
/// Loads the counsellors of each structure.
pub struct StructureCounsellorsLoader(DatabaseConnection);
/// Loads the counsellors each coordinator coordinates.
pub struct CoordinatedLoader(DatabaseConnection);
/// Loads the site assignments of each counsellor.
pub struct AssignmentsLoader(DatabaseConnection);
/// Loads the counsellors working at each site.
pub struct SiteCounsellorsLoader(DatabaseConnection);
/// Loads sites by id (for a counsellor's sites).
pub struct SiteLoader(DatabaseConnection);

fn grouped<K: std::hash::Hash + Eq + Clone, V>(
    keys: &[K],
    items: impl IntoIterator<Item = (K, V)>,
) -> HashMap<K, Vec<V>> {
    let mut out: HashMap<K, Vec<V>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
    for (k, v) in items {
        out.entry(k).or_default().push(v);
    }
    out
}

impl Loader<StructureId> for StructureLoader {
    type Value = Structure;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[StructureId],
    ) -> Result<HashMap<StructureId, Structure>, Self::Error> {
        let rows = maillage_counsellors::structures_by_ids(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|s| (s.id, s)).collect())
    }
}

impl Loader<PostId> for PostLoader {
    type Value = Post;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[PostId]) -> Result<HashMap<PostId, Post>, Self::Error> {
        let rows = maillage_counsellors::posts_by_ids(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}

impl Loader<CounsellorId> for CounsellorLoader {
    type Value = Counsellor;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[CounsellorId],
    ) -> Result<HashMap<CounsellorId, Counsellor>, Self::Error> {
        let rows = maillage_counsellors::counsellors_by_ids(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|c| (c.id, c)).collect())
    }
}

impl Loader<StructureId> for StructurePostsLoader {
    type Value = Vec<Post>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[StructureId],
    ) -> Result<HashMap<StructureId, Vec<Post>>, Self::Error> {
        let rows = maillage_counsellors::posts_of_structures(&self.0, keys)
            .await
            .gql()?;
        Ok(grouped(keys, rows.into_iter().map(|p| (p.structure_id, p))))
    }
}

impl Loader<StructureId> for StructureCounsellorsLoader {
    type Value = Vec<Counsellor>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[StructureId],
    ) -> Result<HashMap<StructureId, Vec<Counsellor>>, Self::Error> {
        let rows = maillage_counsellors::counsellors_of_structures(&self.0, keys)
            .await
            .gql()?;
        Ok(grouped(
            keys,
            rows.into_iter().map(|c| (c.data.structure_id, c)),
        ))
    }
}

impl Loader<CounsellorId> for CoordinatedLoader {
    type Value = Vec<Counsellor>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[CounsellorId],
    ) -> Result<HashMap<CounsellorId, Vec<Counsellor>>, Self::Error> {
        let rows = maillage_counsellors::coordinated_by(&self.0, keys)
            .await
            .gql()?;
        Ok(grouped(
            keys,
            rows.into_iter()
                .filter_map(|c| c.data.coordinator_id.map(|k| (k, c))),
        ))
    }
}

impl Loader<CounsellorId> for AssignmentsLoader {
    type Value = Vec<Assignment>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[CounsellorId],
    ) -> Result<HashMap<CounsellorId, Vec<Assignment>>, Self::Error> {
        let rows = maillage_counsellors::assignments_of_counsellors(&self.0, keys)
            .await
            .gql()?;
        Ok(grouped(
            keys,
            rows.into_iter().map(|a| (a.counsellor_id, a)),
        ))
    }
}

impl Loader<SiteId> for SiteCounsellorsLoader {
    type Value = Vec<(Assignment, Counsellor)>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[SiteId],
    ) -> Result<HashMap<SiteId, Vec<(Assignment, Counsellor)>>, Self::Error> {
        let rows = maillage_counsellors::counsellors_of_sites(&self.0, keys)
            .await
            .gql()?;
        Ok(grouped(
            keys,
            rows.into_iter().map(|(a, c)| (a.site_id, (a, c))),
        ))
    }
}

impl Loader<SiteId> for SiteLoader {
    type Value = Site;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[SiteId]) -> Result<HashMap<SiteId, Site>, Self::Error> {
        let rows = maillage_sites::sites_by_ids(&self.0, keys).await.gql()?;
        Ok(rows.into_iter().map(|s| (s.id, s)).collect())
    }
}

/// This domain's loaders for one request (fresh per request: what a caller sees depends on who it is).
pub struct CounsellorLoaders {
    structure: DataLoader<StructureLoader>,
    post: DataLoader<PostLoader>,
    counsellor: DataLoader<CounsellorLoader>,
    structure_posts: DataLoader<StructurePostsLoader>,
    structure_counsellors: DataLoader<StructureCounsellorsLoader>,
    coordinated: DataLoader<CoordinatedLoader>,
    assignments: DataLoader<AssignmentsLoader>,
    site_counsellors: DataLoader<SiteCounsellorsLoader>,
    site: DataLoader<SiteLoader>,
}

/// Same reasoning as `loaders::BATCH_DELAY`: one nested level stays in one batch on a busy machine.
const BATCH_DELAY: Duration = Duration::from_millis(3);

fn loader<T: Loader<K>, K: Send + Sync + std::hash::Hash + Eq + Clone + 'static>(
    inner: T,
) -> DataLoader<T> {
    DataLoader::new(inner, crate::telemetry::spawn_in_current_span).delay(BATCH_DELAY)
}

impl CounsellorLoaders {
    /// Fresh loaders for one request.
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            structure: loader(StructureLoader(db.clone())),
            post: loader(PostLoader(db.clone())),
            counsellor: loader(CounsellorLoader(db.clone())),
            structure_posts: loader(StructurePostsLoader(db.clone())),
            structure_counsellors: loader(StructureCounsellorsLoader(db.clone())),
            coordinated: loader(CoordinatedLoader(db.clone())),
            assignments: loader(AssignmentsLoader(db.clone())),
            site_counsellors: loader(SiteCounsellorsLoader(db.clone())),
            site: loader(SiteLoader(db.clone())),
        }
    }
}

fn loaders<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a CounsellorLoaders> {
    Ok(&state(ctx)?.counsellors)
}

/// The counsellors working at a site: `Site.counsellors`, batched over all the sites of a page.
pub(crate) async fn counsellors_of_site(
    ctx: &Context<'_>,
    site: SiteId,
) -> async_graphql::Result<Vec<CounsellorNode>> {
    let rows = loaders(ctx)?.site_counsellors.load_one(site).await?;
    Ok(rows
        .unwrap_or_default()
        .into_iter()
        .map(|(_, c)| CounsellorNode(c))
        .collect())
}

// ------------------------------------------------------------------------------------------------------------
// Objects
// ------------------------------------------------------------------------------------------------------------

/// A structure hosting conseillers numériques (collectivité, association…), identified by its SIRET.
pub struct StructureNode(pub Structure);

#[Object(name = "HostStructure")]
impl StructureNode {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        encode_id(STRUCTURE, self.0.id.0)
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
        let s = state(ctx)?;
        Ok(s.loaders
            .department
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
        let posts = loaders(ctx)?.structure_posts.load_one(self.0.id).await?;
        Ok(posts
            .unwrap_or_default()
            .into_iter()
            .map(PostNode)
            .collect())
    }
    /// Its counsellors.
    async fn counsellors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CounsellorNode>> {
        let list = loaders(ctx)?
            .structure_counsellors
            .load_one(self.0.id)
            .await?;
        Ok(list
            .unwrap_or_default()
            .into_iter()
            .map(CounsellorNode)
            .collect())
    }
}

/// A request for funded posts (conventionnement) and the selection committee's decision.
pub struct PostNode(pub Post);

#[Object(name = "FundedPost")]
impl PostNode {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        encode_id(POST, self.0.id.0)
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
    async fn committee_date(&self) -> Option<NaiveDate> {
        self.0.data.committee_date
    }
    /// First day of the funding agreement.
    async fn agreement_start(&self) -> Option<NaiveDate> {
        self.0.data.agreement_start
    }
    /// Last day of the funding agreement.
    async fn agreement_end(&self) -> Option<NaiveDate> {
        self.0.data.agreement_end
    }
    /// Version for optimistic concurrency.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The host structure.
    async fn structure(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<StructureNode>> {
        let s = loaders(ctx)?
            .structure
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
        Ok(self.0.personal_for(&state(ctx)?.actor))
    }
}

#[Object(name = "Counsellor")]
impl CounsellorNode {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        encode_id(COUNSELLOR, self.0.id.0)
    }
    /// The national platform's id: the identity across imports.
    async fn external_id(&self) -> &str {
        &self.0.data.external_id
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
        self.0.data.status.into()
    }
    /// Recruitment date.
    async fn recruited_on(&self) -> Option<NaiveDate> {
        self.0.data.recruited_on
    }
    /// Start of the initial training.
    async fn training_started_on(&self) -> Option<NaiveDate> {
        self.0.data.training_started_on
    }
    /// First day of activity with the public.
    async fn active_since(&self) -> Option<NaiveDate> {
        self.0.data.active_since
    }
    /// End of the mission.
    async fn ended_on(&self) -> Option<NaiveDate> {
        self.0.data.ended_on
    }
    /// Contract type.
    async fn contract_type(&self) -> Option<ContractType> {
        self.0.data.contract_type.map(Into::into)
    }
    /// First day of the contract.
    async fn contract_start(&self) -> Option<NaiveDate> {
        self.0.data.contract_start
    }
    /// Last day of the contract.
    async fn contract_end(&self) -> Option<NaiveDate> {
        self.0.data.contract_end
    }
    /// When the initial training was completed.
    async fn training_completed_on(&self) -> Option<NaiveDate> {
        self.0.data.training_completed_on
    }
    /// Holds the PIX certification.
    async fn pix_certified(&self) -> bool {
        self.0.data.pix_certified
    }
    /// Percent of time for the host structure's own public; with `assignments`, at most 100.
    async fn host_share(&self) -> i32 {
        self.0.data.host_share
    }
    /// Whether this counsellor coordinates others.
    async fn is_coordinator(&self) -> bool {
        self.0.data.is_coordinator
    }
    /// INSEE code of the department (the host structure's).
    async fn department_code(&self) -> &str {
        self.0.department.as_str()
    }
    /// Version for optimistic concurrency (assignment changes bump it too).
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The host structure.
    async fn structure(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<StructureNode>> {
        let s = loaders(ctx)?
            .structure
            .load_one(self.0.data.structure_id)
            .await?;
        Ok(s.map(StructureNode))
    }
    /// The funded post this counsellor fills.
    async fn post(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PostNode>> {
        let Some(id) = self.0.data.post_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?.post.load_one(id).await?.map(PostNode))
    }
    /// The coordinator of this counsellor.
    async fn coordinator(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<CounsellorNode>> {
        let Some(id) = self.0.data.coordinator_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?
            .counsellor
            .load_one(id)
            .await?
            .map(CounsellorNode))
    }
    /// The counsellors this coordinator coordinates (empty for others).
    async fn coordinated(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CounsellorNode>> {
        let list = loaders(ctx)?.coordinated.load_one(self.0.id).await?;
        Ok(list
            .unwrap_or_default()
            .into_iter()
            .map(CounsellorNode)
            .collect())
    }
    /// Where the counsellor works, with the share of time at each site.
    async fn assignments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AssignmentNode>> {
        let list = loaders(ctx)?.assignments.load_one(self.0.id).await?;
        Ok(list
            .unwrap_or_default()
            .into_iter()
            .map(AssignmentNode)
            .collect())
    }
    /// The sites where the counsellor works (archived sites are left out).
    async fn sites(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SiteNode>> {
        let l = loaders(ctx)?;
        let list = l.assignments.load_one(self.0.id).await?.unwrap_or_default();
        let sites = l.site.load_many(list.iter().map(|a| a.site_id)).await?;
        Ok(list
            .iter()
            .filter_map(|a| sites.get(&a.site_id).cloned().map(SiteNode::new))
            .collect())
    }
}

/// A counsellor's share of time at one site.
pub struct AssignmentNode(Assignment);

#[Object(name = "CounsellorAssignment")]
impl AssignmentNode {
    /// Global ID of the site.
    async fn site_id(&self) -> ID {
        crate::id::encode(NodeKind::Site, self.0.site_id.0)
    }
    /// Percent of the counsellor's time at this site.
    async fn share(&self) -> i32 {
        self.0.share
    }
    /// The site (null if it was archived since).
    async fn site(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SiteNode>> {
        Ok(loaders(ctx)?
            .site
            .load_one(self.0.site_id)
            .await?
            .map(SiteNode::new))
    }
}

macro_rules! connection {
    ($conn:ident, $conn_name:literal, $edge:ident, $edge_name:literal, $node:ident, $item:ty, $what:literal) => {
        #[doc = concat!("A page of ", $what, " (Relay connection).")]
        pub struct $conn(Page<$item>);

        #[doc = concat!("One of ", $what, " and its cursor.")]
        pub struct $edge {
            cursor: String,
            node: $node,
        }

        #[Object(name = $edge_name)]
        impl $edge {
            /// Opaque cursor of this item.
            async fn cursor(&self) -> &str {
                &self.cursor
            }
            /// The item.
            async fn node(&self) -> &$node {
                &self.node
            }
        }

        #[Object(name = $conn_name)]
        impl $conn {
            /// Items with their cursors.
            async fn edges(&self) -> Vec<$edge> {
                self.0
                    .items
                    .iter()
                    .map(|(c, x)| $edge {
                        cursor: c.as_str().to_owned(),
                        node: $node(x.clone()),
                    })
                    .collect()
            }
            /// Items without cursors.
            async fn nodes(&self) -> Vec<$node> {
                self.0.items.iter().map(|(_, x)| $node(x.clone())).collect()
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
    StructureConnection,
    "HostStructureConnection",
    StructureEdge,
    "HostStructureEdge",
    StructureNode,
    Structure,
    "host structures"
);
connection!(
    CounsellorConnection,
    "CounsellorConnection",
    CounsellorEdge,
    "CounsellorEdge",
    CounsellorNode,
    Counsellor,
    "counsellors"
);

// ------------------------------------------------------------------------------------------------------------
// Queries
// ------------------------------------------------------------------------------------------------------------

fn invalid_input(field: FieldPath, e: &maillage_core::error::InvalidValue) -> async_graphql::Error {
    to_gql(&CounsellorsError::invalid(field, e))
}

fn departments(list: Option<Vec<String>>) -> async_graphql::Result<Option<Vec<DepartmentCode>>> {
    list.map(|list| {
        list.iter()
            .enumerate()
            .map(|(i, d)| {
                DepartmentCode::parse(d).map_err(|e| {
                    invalid_input(FieldPath::new("filter").push("departments").index(i), &e)
                })
            })
            .collect()
    })
    .transpose()
}

/// Criteria on host structures; all given criteria must hold.
#[derive(InputObject, Default)]
pub struct HostStructureFilter {
    /// Structures in any of these departments (INSEE codes).
    pub departments: Option<Vec<String>>,
    /// Structures in the departments of this hub (slug).
    pub hub: Option<String>,
    /// Structures of any of these kinds.
    pub kinds: Option<Vec<StructureKind>>,
}

/// Criteria on counsellors; all given criteria must hold.
#[derive(InputObject, Default)]
#[graphql(name = "CounsellorFilter")]
pub struct CounsellorFilterInput {
    /// Counsellors in any of these departments (INSEE codes, the host structure's department).
    pub departments: Option<Vec<String>>,
    /// Counsellors in the departments of this hub (slug).
    pub hub: Option<String>,
    /// Counsellors with any of these statuses.
    pub statuses: Option<Vec<CounsellorStatus>>,
    /// Counsellors whose host structure is of any of these kinds.
    pub structure_kinds: Option<Vec<StructureKind>>,
    /// Only counsellors still under contract whose time is assigned to no site.
    #[graphql(default)]
    pub without_site: bool,
}

/// The territorial level of statistics.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum StatisticsLevel {
    /// One line per department.
    Department,
    /// One line per hub (a department covered by two hubs counts in both).
    Hub,
    /// One line per region.
    Region,
}

/// Public counts of the programme in one territory (no personal data).
#[derive(SimpleObject)]
pub struct CounsellorStatistics {
    /// Department code, hub slug or region code.
    pub key: String,
    /// The territory's name.
    pub name: String,
    /// Posts granted by accepted committee decisions (first agreements and renewals).
    pub posts_granted: i64,
    /// Counsellors active.
    pub counsellors_active: i64,
    /// Counsellors in training.
    pub counsellors_in_training: i64,
    /// Counsellors under contract with no site assignment.
    pub counsellors_without_site: i64,
}

/// The lists a hub exports as CSV.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CounsellorExportList {
    /// Every counsellor of the caller's territory.
    Territory,
    /// Counsellors under contract without any site.
    WithoutSite,
    /// Host structures and their posts (one row per post).
    StructuresAndPosts,
}

fn page(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<PageRequest> {
    let page = PageRequest::new(first, after.as_deref())
        .gql()?
        .with_total(ctx.look_ahead().field("totalCount").exists());
    if let Some(after) = &page.after {
        after.decode::<i32>().gql()?;
    }
    Ok(page)
}

/// Queries on counsellors, host structures and their statistics.
#[derive(Default)]
pub struct CounsellorsQuery;

#[Object]
impl CounsellorsQuery {
    /// Host structures matching a filter, as a Relay connection (at most 100 per page).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn host_structures(
        &self,
        ctx: &Context<'_>,
        filter: Option<HostStructureFilter>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<StructureConnection> {
        let s = state(ctx)?;
        let f = filter.unwrap_or_default();
        let filter = StructureFilter {
            departments: departments(f.departments)?,
            hub: f.hub,
            kinds: f
                .kinds
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        };
        let page = page(ctx, first, after)?;
        let result = maillage_counsellors::list_structures(&s.db, &filter, &page)
            .await
            .gql()?;
        Ok(StructureConnection(result))
    }

    /// One host structure by its global ID.
    async fn host_structure(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<StructureNode>> {
        let id = StructureId(decode_id(&id, STRUCTURE)?);
        Ok(loaders(ctx)?
            .structure
            .load_one(id)
            .await?
            .map(StructureNode))
    }

    /// Counsellors matching a filter, as a Relay connection (at most 100 per page). Personal fields are null
    /// unless the caller may read them.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn counsellors(
        &self,
        ctx: &Context<'_>,
        filter: Option<CounsellorFilterInput>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<CounsellorConnection> {
        let s = state(ctx)?;
        let f = filter.unwrap_or_default();
        let filter = CounsellorFilter {
            departments: departments(f.departments)?,
            hub: f.hub,
            statuses: f
                .statuses
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            structure_kinds: f
                .structure_kinds
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            without_site: f.without_site,
            structure: None,
        };
        let page = page(ctx, first, after)?;
        let result = maillage_counsellors::list_counsellors(&s.db, &filter, &page)
            .await
            .gql()?;
        Ok(CounsellorConnection(result))
    }

    /// One counsellor by its global ID.
    async fn counsellor(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<CounsellorNode>> {
        let id = CounsellorId(decode_id(&id, COUNSELLOR)?);
        Ok(loaders(ctx)?
            .counsellor
            .load_one(id)
            .await?
            .map(CounsellorNode))
    }

    /// Public counts per department, hub or region: posts granted, counsellors active, in training and without any
    /// site. Readable by anyone; territories with nothing to count are included with zeros.
    async fn counsellor_statistics(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "StatisticsLevel::Department")] by: StatisticsLevel,
    ) -> async_graphql::Result<Vec<CounsellorStatistics>> {
        let s = state(ctx)?;
        let per_department = maillage_counsellors::statistics_by_department(&s.db)
            .await
            .gql()?;
        let all_departments = maillage_territories::list_departments(&s.db, None)
            .await
            .gql()?;
        let mut lines: BTreeMap<String, (String, maillage_counsellors::DepartmentCounts)> =
            BTreeMap::new();
        match by {
            StatisticsLevel::Department => {
                for d in &all_departments {
                    let counts = per_department.get(&d.code).cloned().unwrap_or_default();
                    lines.insert(d.code.as_str().to_owned(), (d.name.clone(), counts));
                }
            }
            StatisticsLevel::Region => {
                let regions = maillage_territories::list_regions(&s.db).await.gql()?;
                for r in &regions {
                    let mut counts = maillage_counsellors::DepartmentCounts::default();
                    for d in all_departments.iter().filter(|d| d.region_code == r.code) {
                        if let Some(c) = per_department.get(&d.code) {
                            counts.add(c);
                        }
                    }
                    lines.insert(r.code.as_str().to_owned(), (r.name.clone(), counts));
                }
            }
            StatisticsLevel::Hub => {
                let hubs = maillage_territories::list_hubs(&s.db).await.gql()?;
                let ids: Vec<_> = hubs.iter().map(|h| h.id).collect();
                let covered = maillage_territories::departments_of_hubs(&s.db, &ids)
                    .await
                    .gql()?;
                for h in &hubs {
                    let mut counts = maillage_counsellors::DepartmentCounts::default();
                    for (_, d) in covered.iter().filter(|(id, _)| *id == h.id) {
                        if let Some(c) = per_department.get(&d.code) {
                            counts.add(c);
                        }
                    }
                    lines.insert(h.slug.clone(), (h.name.clone(), counts));
                }
            }
        }
        Ok(lines
            .into_iter()
            .map(|(key, (name, c))| CounsellorStatistics {
                key,
                name,
                posts_granted: c.posts_granted,
                counsellors_active: c.active,
                counsellors_in_training: c.in_training,
                counsellors_without_site: c.without_site,
            })
            .collect())
    }

    /// A list as CSV text (UTF-8, `,`-separated, header row), as hub coordinators use it in spreadsheets. Counsellor
    /// lists need a hub coordinator (its departments only), BdT or admin token; structures are public.
    async fn counsellors_export(
        &self,
        ctx: &Context<'_>,
        list: CounsellorExportList,
        #[graphql(desc = "Only this department (INSEE code).")] department: Option<String>,
        #[graphql(desc = "Only the departments of this hub (slug).")] hub: Option<String>,
    ) -> async_graphql::Result<String> {
        use maillage_counsellors::export::{
            CounsellorList, ExportScope, export_counsellors, export_structures,
        };
        let s = state(ctx)?;
        let department = department
            .map(|d| DepartmentCode::parse(&d))
            .transpose()
            .map_err(|e| invalid_input(FieldPath::new("department"), &e))?;
        let scope = ExportScope { hub, department };
        let mut out = Vec::new();
        match list {
            CounsellorExportList::Territory => {
                export_counsellors(&s.db, &s.actor, CounsellorList::Territory, &scope, &mut out)
                    .await
            }
            CounsellorExportList::WithoutSite => {
                export_counsellors(
                    &s.db,
                    &s.actor,
                    CounsellorList::WithoutSite,
                    &scope,
                    &mut out,
                )
                .await
            }
            CounsellorExportList::StructuresAndPosts => {
                export_structures(&s.db, &s.actor, &scope, &mut out).await
            }
        }
        .gql()?;
        String::from_utf8(out).map_err(|_| coded("internal error", "internal_error", None))
    }
}

// ------------------------------------------------------------------------------------------------------------
// Mutations
// ------------------------------------------------------------------------------------------------------------

/// Collects every input problem at once.
#[derive(Default)]
struct Checks(Vec<UserError>);

impl Checks {
    fn parse<T, E: std::fmt::Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        r.map_err(|e| {
            self.0.push(user_error(
                FieldPath::new("input").push(field),
                "invalid_value",
                e.to_string(),
            ))
        })
        .ok()
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

    fn id<T>(&mut self, field: &str, r: async_graphql::Result<T>) -> Option<T> {
        r.map_err(|e| {
            self.0.push(user_error(
                FieldPath::new("input").push(field),
                "invalid_id",
                e.message,
            ))
        })
        .ok()
    }

    fn phone(&mut self, value: &str) -> Option<String> {
        let parsed = maillage_counsellors::import::parse_phone(value);
        if parsed.is_none() {
            self.0.push(user_error(
                FieldPath::new("input").push("phone"),
                "invalid_value",
                "phone must be a French number (0478000000) or in international form (+33478000000)",
            ));
        }
        parsed
    }
}

fn opt_text(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn maybe<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> Option<U>) -> Option<Option<U>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(f(v)),
    }
}

/// A new host structure.
#[derive(InputObject)]
pub struct CreateHostStructureInput {
    /// SIRET (14 digits, Luhn key checked): the structure's identity.
    pub siret: String,
    /// Name.
    pub name: String,
    /// Legal kind.
    pub kind: StructureKind,
    /// Department (INSEE code): decides who may edit it.
    pub department: String,
    /// Street address.
    pub address: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Commune.
    pub commune: Option<String>,
    /// Labelled France Services.
    #[graphql(default)]
    pub france_services: bool,
    /// In a ZRR.
    #[graphql(default)]
    pub zrr: bool,
    /// In a QPV.
    #[graphql(default)]
    pub qpv: bool,
}

/// A change to a host structure; absent fields are left as they are, `null` clears an optional one.
#[derive(InputObject)]
pub struct UpdateHostStructureInput {
    /// The structure's global ID.
    pub id: ID,
    /// The version read (refused with `stale_version` if it changed since).
    pub version: i32,
    /// New name.
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<StructureKind>,
    /// New department.
    pub department: Option<String>,
    /// New address, or null.
    pub address: MaybeUndefined<String>,
    /// New postal code, or null.
    pub postal_code: MaybeUndefined<String>,
    /// New commune, or null.
    pub commune: MaybeUndefined<String>,
    /// France Services label.
    pub france_services: Option<bool>,
    /// ZRR flag.
    pub zrr: Option<bool>,
    /// QPV flag.
    pub qpv: Option<bool>,
}

/// A request for posts of a structure.
#[derive(InputObject)]
pub struct CreateFundedPostInput {
    /// The host structure's global ID.
    pub structure_id: ID,
    /// Whether this is the renewal agreement.
    #[graphql(default)]
    pub renewal: bool,
    /// Posts requested.
    pub requested: i32,
    /// Posts granted (only with an accepted decision).
    #[graphql(default)]
    pub granted: i32,
    /// Committee decision (default PENDING).
    pub decision: Option<CommitteeDecision>,
    /// Committee date.
    pub committee_date: Option<NaiveDate>,
    /// Agreement start.
    pub agreement_start: Option<NaiveDate>,
    /// Agreement end.
    pub agreement_end: Option<NaiveDate>,
}

/// A change to a post (typically the committee's decision).
#[derive(InputObject)]
pub struct UpdateFundedPostInput {
    /// The post's global ID.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// Posts requested.
    pub requested: Option<i32>,
    /// Posts granted.
    pub granted: Option<i32>,
    /// Committee decision.
    pub decision: Option<CommitteeDecision>,
    /// Committee date, or null.
    pub committee_date: MaybeUndefined<NaiveDate>,
    /// Agreement start, or null.
    pub agreement_start: MaybeUndefined<NaiveDate>,
    /// Agreement end, or null.
    pub agreement_end: MaybeUndefined<NaiveDate>,
}

/// A new counsellor.
#[derive(InputObject)]
pub struct CreateCounsellorInput {
    /// The national platform's id: the identity across imports.
    pub external_id: String,
    /// The host structure's global ID.
    pub structure_id: ID,
    /// The post filled (a post of the same structure).
    pub post_id: Option<ID>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Professional e-mail.
    pub email: Option<String>,
    /// Personal e-mail.
    pub personal_email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Status (default RECRUITED).
    pub status: Option<CounsellorStatus>,
    /// Recruitment date.
    pub recruited_on: Option<NaiveDate>,
    /// Contract type.
    pub contract_type: Option<ContractType>,
    /// Contract start.
    pub contract_start: Option<NaiveDate>,
    /// Contract end.
    pub contract_end: Option<NaiveDate>,
    /// Host share, percent (default 0).
    #[graphql(default)]
    pub host_share: i32,
    /// Whether this counsellor coordinates others.
    #[graphql(default)]
    pub is_coordinator: bool,
    /// The coordinator's global ID.
    pub coordinator_id: Option<ID>,
}

/// A change to a counsellor; absent fields are left as they are, `null` clears an optional one.
#[derive(InputObject)]
pub struct UpdateCounsellorInput {
    /// The counsellor's global ID.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// Move to another host structure.
    pub structure_id: Option<ID>,
    /// The post filled, or null.
    pub post_id: MaybeUndefined<ID>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Professional e-mail, or null.
    pub email: MaybeUndefined<String>,
    /// Personal e-mail, or null.
    pub personal_email: MaybeUndefined<String>,
    /// Phone, or null.
    pub phone: MaybeUndefined<String>,
    /// Status.
    pub status: Option<CounsellorStatus>,
    /// Recruitment date, or null.
    pub recruited_on: MaybeUndefined<NaiveDate>,
    /// Start of training, or null.
    pub training_started_on: MaybeUndefined<NaiveDate>,
    /// First day of activity, or null.
    pub active_since: MaybeUndefined<NaiveDate>,
    /// End of mission, or null.
    pub ended_on: MaybeUndefined<NaiveDate>,
    /// Contract type, or null.
    pub contract_type: MaybeUndefined<ContractType>,
    /// Contract start, or null.
    pub contract_start: MaybeUndefined<NaiveDate>,
    /// Contract end, or null.
    pub contract_end: MaybeUndefined<NaiveDate>,
    /// Training completion, or null.
    pub training_completed_on: MaybeUndefined<NaiveDate>,
    /// PIX certification.
    pub pix_certified: Option<bool>,
    /// Host share, percent (with the site shares, at most 100).
    pub host_share: Option<i32>,
    /// Whether this counsellor coordinates others.
    pub is_coordinator: Option<bool>,
    /// The coordinator's global ID, or null.
    pub coordinator_id: MaybeUndefined<ID>,
}

/// One site and the share of time there.
#[derive(InputObject)]
pub struct AssignmentInput {
    /// The site's global ID.
    pub site_id: ID,
    /// Percent of time, 1 to 100.
    pub share: i32,
}

/// A counsellor's whole time split: the host share and every site (replaces the previous assignments).
#[derive(InputObject)]
pub struct SetCounsellorAssignmentsInput {
    /// The counsellor's global ID.
    pub counsellor_id: ID,
    /// The version read.
    pub version: i32,
    /// Percent of time for the host structure's own public.
    pub host_share: i32,
    /// The sites; with `hostShare`, at most 100 % in total (`time_share_exceeded` otherwise).
    pub assignments: Vec<AssignmentInput>,
}

macro_rules! payload {
    ($name:ident, $field:ident, $node:ty, $what:literal) => {
        #[doc = concat!("The result of a mutation on ", $what, ": the object, or `userErrors` (nothing written).")]
        #[derive(SimpleObject)]
        pub struct $name {
            #[doc = concat!("The ", $what, " as stored, or null when refused.")]
            pub $field: Option<$node>,
            /// Business errors; empty on success.
            pub user_errors: Vec<UserError>,
        }

        impl $name {
            fn refused(user_errors: Vec<UserError>) -> Self {
                Self {
                    $field: None,
                    user_errors,
                }
            }

            fn from<T>(
                r: Result<T, CounsellorsError>,
                wrap: impl FnOnce(T) -> $node,
            ) -> async_graphql::Result<Self> {
                match r {
                    Ok(v) => Ok(Self {
                        $field: Some(wrap(v)),
                        user_errors: Vec::new(),
                    }),
                    Err(e) => Ok(Self::refused(classify(&e)?)),
                }
            }
        }
    };
}

payload!(
    CreateHostStructurePayload,
    host_structure,
    StructureNode,
    "a host structure"
);
payload!(
    UpdateHostStructurePayload,
    host_structure,
    StructureNode,
    "a host structure"
);
payload!(
    CreateFundedPostPayload,
    funded_post,
    PostNode,
    "a funded post"
);
payload!(
    UpdateFundedPostPayload,
    funded_post,
    PostNode,
    "a funded post"
);
payload!(
    CreateCounsellorPayload,
    counsellor,
    CounsellorNode,
    "a counsellor"
);
payload!(
    UpdateCounsellorPayload,
    counsellor,
    CounsellorNode,
    "a counsellor"
);
payload!(
    SetCounsellorAssignmentsPayload,
    counsellor,
    CounsellorNode,
    "a counsellor"
);

fn email(c: &mut Checks, field: &str, v: Option<String>) -> Option<Email> {
    opt_text(v).and_then(|e| c.parse(field, Email::parse(&e)))
}

/// Mutations on counsellors, structures and posts: hub coordinators within their departments, and admins.
#[derive(Default)]
pub struct CounsellorsMutation;

#[Object]
impl CounsellorsMutation {
    /// Creates a host structure.
    async fn create_host_structure(
        &self,
        ctx: &Context<'_>,
        input: CreateHostStructureInput,
    ) -> async_graphql::Result<CreateHostStructurePayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let siret = c.parse("siret", Siret::parse(&input.siret));
        let name = c.text("name", &input.name, 300);
        let department = c.parse("department", DepartmentCode::parse(&input.department));
        let postal_code =
            opt_text(input.postal_code).and_then(|p| c.parse("postalCode", PostalCode::parse(&p)));
        let (Some(siret), Some(name), Some(department)) = (siret, name, department) else {
            return Ok(CreateHostStructurePayload::refused(c.0));
        };
        if !c.0.is_empty() {
            return Ok(CreateHostStructurePayload::refused(c.0));
        }
        let new = NewStructure {
            siret,
            name,
            kind: input.kind.into(),
            address: opt_text(input.address),
            postal_code,
            commune: opt_text(input.commune),
            department,
            france_services: input.france_services,
            zrr: input.zrr,
            qpv: input.qpv,
        };
        let s = state(ctx)?;
        CreateHostStructurePayload::from(
            maillage_counsellors::create_structure(&s.db, &actor, new).await,
            StructureNode,
        )
    }

    /// Changes a host structure (a move to another department moves its counsellors).
    async fn update_host_structure(
        &self,
        ctx: &Context<'_>,
        input: UpdateHostStructureInput,
    ) -> async_graphql::Result<UpdateHostStructurePayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let id = c.id("id", decode_id(&input.id, STRUCTURE));
        let name = input.name.as_deref().and_then(|v| c.text("name", v, 300));
        let department = input
            .department
            .as_deref()
            .and_then(|d| c.parse("department", DepartmentCode::parse(d)));
        let postal_code = maybe(input.postal_code, |p| {
            c.parse("postalCode", PostalCode::parse(&p))
        });
        let Some(id) = id else {
            return Ok(UpdateHostStructurePayload::refused(c.0));
        };
        if !c.0.is_empty() {
            return Ok(UpdateHostStructurePayload::refused(c.0));
        }
        let patch = StructurePatch {
            name,
            kind: input.kind.map(Into::into),
            address: maybe(input.address, |v| opt_text(Some(v))),
            postal_code,
            commune: maybe(input.commune, |v| opt_text(Some(v))),
            department,
            france_services: input.france_services,
            zrr: input.zrr,
            qpv: input.qpv,
        };
        let s = state(ctx)?;
        UpdateHostStructurePayload::from(
            maillage_counsellors::update_structure(
                &s.db,
                &actor,
                StructureId(id),
                input.version,
                patch,
            )
            .await,
            StructureNode,
        )
    }

    /// Records a request for posts (first agreement or renewal) of a structure.
    async fn create_funded_post(
        &self,
        ctx: &Context<'_>,
        input: CreateFundedPostInput,
    ) -> async_graphql::Result<CreateFundedPostPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let Some(structure) = c.id("structureId", decode_id(&input.structure_id, STRUCTURE)) else {
            return Ok(CreateFundedPostPayload::refused(c.0));
        };
        let new = NewPost {
            renewal: input.renewal,
            requested: input.requested,
            granted: input.granted,
            decision: input
                .decision
                .map_or(maillage_counsellors::CommitteeDecision::Pending, Into::into),
            committee_date: input.committee_date,
            agreement_start: input.agreement_start,
            agreement_end: input.agreement_end,
        };
        let s = state(ctx)?;
        CreateFundedPostPayload::from(
            maillage_counsellors::create_post(&s.db, &actor, StructureId(structure), new).await,
            PostNode,
        )
    }

    /// Changes a post, e.g. to record the committee's decision.
    async fn update_funded_post(
        &self,
        ctx: &Context<'_>,
        input: UpdateFundedPostInput,
    ) -> async_graphql::Result<UpdateFundedPostPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let Some(id) = c.id("id", decode_id(&input.id, POST)) else {
            return Ok(UpdateFundedPostPayload::refused(c.0));
        };
        let patch = PostPatch {
            requested: input.requested,
            granted: input.granted,
            decision: input.decision.map(Into::into),
            committee_date: maybe(input.committee_date, Some),
            agreement_start: maybe(input.agreement_start, Some),
            agreement_end: maybe(input.agreement_end, Some),
        };
        let s = state(ctx)?;
        UpdateFundedPostPayload::from(
            maillage_counsellors::update_post(&s.db, &actor, PostId(id), input.version, patch)
                .await,
            PostNode,
        )
    }

    /// Creates a counsellor in a structure of the caller's departments.
    async fn create_counsellor(
        &self,
        ctx: &Context<'_>,
        input: CreateCounsellorInput,
    ) -> async_graphql::Result<CreateCounsellorPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let external_id = c.text("externalId", &input.external_id, 64);
        let structure = c.id("structureId", decode_id(&input.structure_id, STRUCTURE));
        let post = input.post_id.map(|p| c.id("postId", decode_id(&p, POST)));
        let coordinator = input
            .coordinator_id
            .map(|k| c.id("coordinatorId", decode_id(&k, COUNSELLOR)));
        let first_name = c.text("firstName", &input.first_name, 100);
        let last_name = c.text("lastName", &input.last_name, 100);
        let email_v = email(&mut c, "email", input.email);
        let personal_email = email(&mut c, "personalEmail", input.personal_email);
        let phone = opt_text(input.phone).and_then(|p| c.phone(&p));
        let (Some(external_id), Some(structure), Some(first_name), Some(last_name)) =
            (external_id, structure, first_name, last_name)
        else {
            return Ok(CreateCounsellorPayload::refused(c.0));
        };
        if !c.0.is_empty() {
            return Ok(CreateCounsellorPayload::refused(c.0));
        }
        let new = NewCounsellor {
            external_id,
            structure_id: StructureId(structure),
            post_id: post.flatten().map(PostId),
            personal: PersonalData {
                first_name,
                last_name,
                email: email_v,
                personal_email,
                phone,
            },
            status: input.status.map_or(
                maillage_counsellors::CounsellorStatus::Recruited,
                Into::into,
            ),
            recruited_on: input.recruited_on,
            training_started_on: None,
            active_since: None,
            ended_on: None,
            contract_type: input.contract_type.map(Into::into),
            contract_start: input.contract_start,
            contract_end: input.contract_end,
            training_completed_on: None,
            pix_certified: false,
            host_share: input.host_share,
            is_coordinator: input.is_coordinator,
            coordinator_id: coordinator.flatten().map(CounsellorId),
        };
        let s = state(ctx)?;
        CreateCounsellorPayload::from(
            maillage_counsellors::create_counsellor(&s.db, &actor, new).await,
            CounsellorNode,
        )
    }

    /// Changes a counsellor: status and dates, contract, training, post, coordinator, personal data.
    async fn update_counsellor(
        &self,
        ctx: &Context<'_>,
        input: UpdateCounsellorInput,
    ) -> async_graphql::Result<UpdateCounsellorPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let id = c.id("id", decode_id(&input.id, COUNSELLOR));
        let structure = input
            .structure_id
            .as_ref()
            .and_then(|s| c.id("structureId", decode_id(s, STRUCTURE)));
        let post = match input.post_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(p) => c.id("postId", decode_id(&p, POST)).map(Some),
        };
        let coordinator = match input.coordinator_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(k) => c.id("coordinatorId", decode_id(&k, COUNSELLOR)).map(Some),
        };
        let first_name = input
            .first_name
            .as_deref()
            .and_then(|v| c.text("firstName", v, 100));
        let last_name = input
            .last_name
            .as_deref()
            .and_then(|v| c.text("lastName", v, 100));
        let email_v = maybe(input.email, |e| c.parse("email", Email::parse(&e)));
        let personal_email = maybe(input.personal_email, |e| {
            c.parse("personalEmail", Email::parse(&e))
        });
        let phone = maybe(input.phone, |p| c.phone(&p));
        let Some(id) = id else {
            return Ok(UpdateCounsellorPayload::refused(c.0));
        };
        if !c.0.is_empty() {
            return Ok(UpdateCounsellorPayload::refused(c.0));
        }
        let change = move |n: &mut NewCounsellor| {
            if let Some(v) = structure {
                n.structure_id = StructureId(v);
            }
            if let Some(v) = post {
                n.post_id = v.map(PostId);
            }
            if let Some(v) = coordinator {
                n.coordinator_id = v.map(CounsellorId);
            }
            if let Some(v) = first_name {
                n.personal.first_name = v;
            }
            if let Some(v) = last_name {
                n.personal.last_name = v;
            }
            if let Some(v) = email_v {
                n.personal.email = v;
            }
            if let Some(v) = personal_email {
                n.personal.personal_email = v;
            }
            if let Some(v) = phone {
                n.personal.phone = v;
            }
            if let Some(v) = input.status {
                n.status = v.into();
            }
            let dates = [
                (input.recruited_on, &mut n.recruited_on),
                (input.training_started_on, &mut n.training_started_on),
                (input.active_since, &mut n.active_since),
                (input.ended_on, &mut n.ended_on),
                (input.contract_start, &mut n.contract_start),
                (input.contract_end, &mut n.contract_end),
                (input.training_completed_on, &mut n.training_completed_on),
            ];
            for (value, slot) in dates {
                if let Some(v) = maybe(value, Some) {
                    *slot = v;
                }
            }
            if let Some(v) = maybe(input.contract_type, Some) {
                n.contract_type = v.map(Into::into);
            }
            if let Some(v) = input.pix_certified {
                n.pix_certified = v;
            }
            if let Some(v) = input.host_share {
                n.host_share = v;
            }
            if let Some(v) = input.is_coordinator {
                n.is_coordinator = v;
            }
        };
        let s = state(ctx)?;
        UpdateCounsellorPayload::from(
            maillage_counsellors::update_counsellor(
                &s.db,
                &actor,
                CounsellorId(id),
                input.version,
                change,
            )
            .await,
            CounsellorNode,
        )
    }

    /// Sets a counsellor's host share and sites; refused with `time_share_exceeded` above 100 % in total.
    async fn set_counsellor_assignments(
        &self,
        ctx: &Context<'_>,
        input: SetCounsellorAssignmentsInput,
    ) -> async_graphql::Result<SetCounsellorAssignmentsPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let id = c.id("counsellorId", decode_id(&input.counsellor_id, COUNSELLOR));
        let mut sites = Vec::with_capacity(input.assignments.len());
        for (i, a) in input.assignments.iter().enumerate() {
            match decode_int(&a.site_id, NodeKind::Site) {
                Ok(site) => sites.push((SiteId(site), a.share)),
                Err(e) => c.0.push(user_error(
                    FieldPath::new("input")
                        .push("assignments")
                        .index(i)
                        .push("siteId"),
                    "invalid_id",
                    e.message,
                )),
            }
        }
        let (Some(id), true) = (id, c.0.is_empty()) else {
            return Ok(SetCounsellorAssignmentsPayload::refused(c.0));
        };
        let s = state(ctx)?;
        // Sites are another domain's: check they exist (and are not archived) before assigning.
        let ids: Vec<SiteId> = sites.iter().map(|(s, _)| *s).collect();
        let found = maillage_sites::sites_by_ids(&s.db, &ids).await.gql()?;
        for (i, (site, _)) in sites.iter().enumerate() {
            if !found.iter().any(|f| f.id == *site) {
                c.0.push(user_error(
                    FieldPath::new("input")
                        .push("assignments")
                        .index(i)
                        .push("siteId"),
                    "not_found",
                    format!("no site with id {site}"),
                ));
            }
        }
        if !c.0.is_empty() {
            return Ok(SetCounsellorAssignmentsPayload::refused(c.0));
        }
        SetCounsellorAssignmentsPayload::from(
            maillage_counsellors::set_assignments(
                &s.db,
                &actor,
                CounsellorId(id),
                input.version,
                input.host_share,
                &sites,
            )
            .await,
            CounsellorNode,
        )
    }
}
