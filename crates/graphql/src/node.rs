//! The Relay `Node` interface: fetch anything by global ID.
//!
//! Every type with an `id` implements `Node`, and `node`/`nodes` resolve every kind of [`NodeKind`]. `nodes` groups
//! its IDs by kind and resolves each kind with one domain call (a few kinds without a by-ids service take one call
//! per ID, bounded by [`MAX_NODES`]). Visibility is the domain's: an ID the caller may not see resolves as it does
//! through the kind's own field (null, or `forbidden` for callers that read no dossier at all).

use crate::aidants::{AidantNode, AidantsOrganisationNode, OrganisationLoader};
use crate::ami::{AmiApplicationNode, AmiAttachmentNode, AmiCampaignNode, AmiScoreSheetNode};
use crate::counsellors::{
    CounsellorLoader, CounsellorNode, PostLoader, PostNode, StructureLoader, StructureNode,
};
use crate::dedup::{SiteMatchNode, matches_for_node};
use crate::feeds::{FeedNode, ImportJobNode, feeds_for_node, jobs_for_node};
use crate::funding::{
    DisbursementNode, EnvelopeNode, FundingRuleNode, GrantNode, PassProgrammeNode, grant_context,
    load_tree,
};
use crate::hubs::{HubCoordinatorNode, HubIndicatorNode};
use crate::kit::error::{IntoGql, coded, to_gql};
use crate::kit::handles::{
    DepartmentLoader, DepartmentNode, HubNode, RegionLoader, RegionNode, SiteNode,
};
use crate::kit::id::{NodeKind, decode, parse_child};
use crate::kit::loader::{DbLoader, loader};
use crate::kit::state;
use crate::sites::sites_by_ids;
use crate::tokens::{ApiTokenNode, tokens_for_node};
use async_graphql::{Context, ID, Interface, Object};
use maillage_ami as ami;
use maillage_core::Code;
use maillage_core::{DepartmentCode, HubId, RegionCode, SiteId};
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Arc;

/// An object with a global ID.
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived values built per response; boxing would add an allocation per node for nothing"
)]
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Global ID (opaque)."))]
pub enum Node {
    /// A site.
    Site(SiteNode),
    /// A hub.
    Hub(HubNode),
    /// A department.
    Department(DepartmentNode),
    /// A region.
    Region(RegionNode),
    /// A host structure.
    HostStructure(StructureNode),
    /// A funded post.
    FundedPost(PostNode),
    /// A conseiller numérique.
    Counsellor(CounsellorNode),
    /// An Aidants Connect organisation.
    AidantsOrganisation(AidantsOrganisationNode),
    /// An aidant.
    Aidant(AidantNode),
    /// A funding envelope.
    Envelope(EnvelopeNode),
    /// A funding rule.
    FundingRule(FundingRuleNode),
    /// A grant.
    Grant(GrantNode),
    /// A disbursement.
    Disbursement(DisbursementNode),
    /// A Pass numérique programme.
    PassProgramme(PassProgrammeNode),
    /// An AMI campaign.
    AmiCampaign(AmiCampaignNode),
    /// An AMI dossier.
    AmiApplication(AmiApplicationNode),
    /// An attachment of an AMI dossier.
    AmiAttachment(AmiAttachmentNode),
    /// A reviewer's score sheet.
    AmiScoreSheet(AmiScoreSheetNode),
    /// A feed of sites.
    Feed(FeedNode),
    /// An import job.
    ImportJob(ImportJobNode),
    /// An API token or a hub-coordinator invitation.
    ApiToken(ApiTokenNode),
    /// A candidate pair of duplicate source records.
    SiteMatch(SiteMatchNode),
    /// A person coordinating a hub.
    HubCoordinator(HubCoordinatorNode),
    /// An indicator reported by a hub.
    HubIndicator(HubIndicatorNode),
}

/// The most IDs `nodes` accepts at once.
pub const MAX_NODES: usize = 100;

/// `node` and `nodes`.
#[derive(Default)]
pub struct NodeQuery;

/// `node` and `nodes`.
#[Object]
impl NodeQuery {
    /// The object with this global ID, or null if it does not exist.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        Ok(load(ctx, std::slice::from_ref(&id))
            .await?
            .into_iter()
            .next()
            .flatten())
    }

    /// The objects with these global IDs (at most 100), in the same order; null where one does not exist.
    #[graphql(complexity = "ids.len() * child_complexity + 1")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(coded(
                &format!("at most {MAX_NODES} ids per call"),
                Code::TooManyIds,
                Some("ids".to_owned()),
            ));
        }
        load(ctx, &ids).await
    }
}

/// The IDs of one kind: their positions in the request and their raw text.
type Wanted<'a> = Vec<(usize, &'a str)>;

async fn load(ctx: &Context<'_>, ids: &[ID]) -> async_graphql::Result<Vec<Option<Node>>> {
    let mut by_kind: BTreeMap<usize, (NodeKind, Wanted<'_>)> = BTreeMap::new();
    for (position, id) in ids.iter().enumerate() {
        let (kind, _) = decode(id)?;
        let rank = NodeKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        by_kind
            .entry(rank)
            .or_insert_with(|| (kind, Vec::new()))
            .1
            .push((position, id.as_str()));
    }
    let mut out: Vec<Option<Node>> = std::iter::repeat_with(|| None).take(ids.len()).collect();
    for (kind, wanted) in by_kind.into_values() {
        for (position, node) in resolve(ctx, kind, &wanted).await? {
            if let Some(slot) = out.get_mut(position) {
                *slot = Some(node);
            }
        }
    }
    Ok(out)
}

/// Integer keys of the wanted IDs (an ID with a key of the wrong shape resolves to null).
fn int_keys(kind: NodeKind, wanted: &Wanted<'_>) -> Vec<(usize, Option<i32>, i32)> {
    wanted
        .iter()
        .filter_map(|(pos, raw)| {
            parse_child(raw, kind)
                .ok()
                .map(|(parent, id)| (*pos, parent, id))
        })
        .collect()
}

/// Places found values at the positions that asked for them.
fn place<K: Eq + Hash, T: Clone>(
    keys: impl IntoIterator<Item = (usize, K)>,
    found: &HashMap<K, T>,
    node: impl Fn(T) -> Node,
) -> Vec<(usize, Node)> {
    keys.into_iter()
        .filter_map(|(pos, key)| found.get(&key).map(|v| (pos, node(v.clone()))))
        .collect()
}

/// Places found values that cannot be cloned: an ID asked twice in one `nodes` call resolves the first time, and to
/// null after (a client has no reason to ask twice).
fn place_once<K: Eq + Hash, T>(
    keys: impl IntoIterator<Item = (usize, K)>,
    mut found: HashMap<K, T>,
    node: impl Fn(T) -> Node,
) -> Vec<(usize, Node)> {
    keys.into_iter()
        .filter_map(|(pos, key)| found.remove(&key).map(|v| (pos, node(v))))
        .collect()
}

/// Resolves integer IDs through this request's DataLoader `L` (one batched statement for the kind): `key` makes the
/// loader's key from the ID, `node` wraps what it finds.
async fn through_loader<L, K, T>(
    ctx: &Context<'_>,
    ids: impl Iterator<Item = (usize, i32)>,
    key: impl Fn(i32) -> K,
    node: impl Fn(T) -> Node,
) -> async_graphql::Result<Vec<(usize, Node)>>
where
    L: DbLoader + async_graphql::dataloader::Loader<K, Value = T, Error = async_graphql::Error>,
    K: Send + Sync + Hash + Eq + Clone + 'static,
    T: Send + Sync + Clone + 'static,
{
    let keys: Vec<(usize, K)> = ids.map(|(p, id)| (p, key(id))).collect();
    let found = loader::<L>(ctx)?
        .load_many(keys.iter().map(|(_, k)| k.clone()))
        .await?;
    Ok(place(keys, &found, node))
}

/// Resolves integer IDs of a kind whose domain has no by-ids service: one call of `get` per distinct ID (at most
/// [`MAX_NODES`]); `None` (not found or not visible) resolves to null.
async fn one_by_one<T, F, Fut>(distinct: Vec<i32>, get: F) -> async_graphql::Result<HashMap<i32, T>>
where
    F: Fn(i32) -> Fut,
    Fut: std::future::Future<Output = async_graphql::Result<Option<T>>>,
{
    let mut found = HashMap::new();
    for id in distinct {
        if let Some(value) = get(id).await? {
            found.insert(id, value);
        }
    }
    Ok(found)
}

/// Resolves the IDs of one kind.
async fn resolve(
    ctx: &Context<'_>,
    kind: NodeKind,
    wanted: &Wanted<'_>,
) -> async_graphql::Result<Vec<(usize, Node)>> {
    let s = state(ctx)?;
    let keys = int_keys(kind, wanted);
    let ids = || keys.iter().map(|(pos, _, id)| (*pos, *id));
    let distinct = || {
        let mut v: Vec<i32> = keys.iter().map(|(_, _, id)| *id).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    Ok(match kind {
        NodeKind::Site => {
            let rows =
                sites_by_ids(ctx, &distinct().into_iter().map(SiteId).collect::<Vec<_>>()).await?;
            let found = rows.into_iter().map(|r| (r.id.0, r)).collect();
            place(ids(), &found, |r| Node::Site(SiteNode::new(r)))
        }
        NodeKind::HubCoordinator => {
            let wanted: Vec<_> = distinct()
                .into_iter()
                .map(maillage_territories::HubCoordinatorId)
                .collect();
            let rows = maillage_territories::coordinators_by_ids(&s.db, &wanted)
                .await
                .gql()?;
            let found = rows.into_iter().map(|r| (r.id.0, r)).collect();
            place(ids(), &found, |r| {
                Node::HubCoordinator(HubCoordinatorNode(r))
            })
        }
        NodeKind::HubIndicator => {
            let wanted: Vec<_> = distinct()
                .into_iter()
                .map(maillage_territories::HubIndicatorId)
                .collect();
            let rows = maillage_territories::indicators_by_ids(&s.db, &wanted)
                .await
                .gql()?;
            let found = rows.into_iter().map(|r| (r.id.0, r)).collect();
            place(ids(), &found, |r| Node::HubIndicator(HubIndicatorNode(r)))
        }
        NodeKind::Hub => {
            let hub_ids: Vec<HubId> = distinct().into_iter().map(HubId).collect();
            let rows = maillage_territories::hubs_by_ids(&s.db, &hub_ids)
                .await
                .gql()?;
            let found = rows.into_iter().map(|r| (r.id.0, r)).collect();
            place(ids(), &found, |r| Node::Hub(HubNode(r)))
        }
        NodeKind::Department => {
            let codes: Vec<(usize, DepartmentCode)> = text_keys(kind, wanted)
                .filter_map(|(pos, key)| DepartmentCode::parse(&key).ok().map(|c| (pos, c)))
                .collect();
            let found = loader::<DepartmentLoader>(ctx)?
                .load_many(codes.iter().map(|(_, c)| c.clone()))
                .await?;
            place(codes, &found, |d| Node::Department(DepartmentNode(d)))
        }
        NodeKind::Region => {
            let codes: Vec<(usize, RegionCode)> = text_keys(kind, wanted)
                .filter_map(|(pos, key)| RegionCode::parse(&key).ok().map(|c| (pos, c)))
                .collect();
            let found = loader::<RegionLoader>(ctx)?
                .load_many(codes.iter().map(|(_, c)| c.clone()))
                .await?;
            place(codes, &found, |r| Node::Region(RegionNode(r)))
        }
        NodeKind::HostStructure => {
            through_loader::<StructureLoader, _, _>(
                ctx,
                ids(),
                maillage_counsellors::StructureId,
                |r| Node::HostStructure(StructureNode(r)),
            )
            .await?
        }
        NodeKind::FundedPost => {
            through_loader::<PostLoader, _, _>(ctx, ids(), maillage_counsellors::PostId, |r| {
                Node::FundedPost(PostNode(r))
            })
            .await?
        }
        NodeKind::Counsellor => {
            through_loader::<CounsellorLoader, _, _>(
                ctx,
                ids(),
                maillage_counsellors::CounsellorId,
                |r| Node::Counsellor(CounsellorNode(r)),
            )
            .await?
        }
        NodeKind::AidantsOrganisation => {
            through_loader::<OrganisationLoader, _, _>(
                ctx,
                ids(),
                maillage_aidants::OrganisationId,
                |r| Node::AidantsOrganisation(AidantsOrganisationNode(r)),
            )
            .await?
        }
        NodeKind::Aidant => {
            let found = one_by_one(distinct(), |id| async move {
                maillage_aidants::get_aidant(&s.db, maillage_aidants::AidantId(id))
                    .await
                    .gql()
            })
            .await?;
            place(ids(), &found, |r| Node::Aidant(AidantNode(r)))
        }
        NodeKind::Envelope => {
            let tree = load_tree(ctx).await?;
            let found: HashMap<i32, _> = tree.envelopes.iter().map(|e| (e.id, e.clone())).collect();
            place(ids(), &found, |envelope| {
                Node::Envelope(EnvelopeNode {
                    envelope,
                    tree: Arc::clone(&tree),
                })
            })
        }
        NodeKind::FundingRule => {
            let found: HashMap<i32, _> = maillage_funding::list_rules(&s.db)
                .await
                .gql()?
                .into_iter()
                .map(|r| (r.id, r))
                .collect();
            place(ids(), &found, |r| Node::FundingRule(FundingRuleNode(r)))
        }
        NodeKind::Grant => {
            let found = one_by_one(distinct(), |id| async move {
                maillage_funding::get_grant(&s.db, id).await.gql()
            })
            .await?;
            let grants: Vec<_> = found.into_values().collect();
            let shared = grant_context(ctx, &grants).await?;
            let found: HashMap<i32, _> = grants.into_iter().map(|g| (g.id, g)).collect();
            place(ids(), &found, |grant| {
                Node::Grant(GrantNode {
                    grant,
                    shared: Arc::clone(&shared),
                })
            })
        }
        NodeKind::Disbursement => {
            let mut found = HashMap::new();
            let mut grants: Vec<i32> = keys.iter().filter_map(|(_, g, _)| *g).collect();
            grants.sort_unstable();
            grants.dedup();
            for grant in grants {
                for d in maillage_funding::list_disbursements(&s.db, grant)
                    .await
                    .gql()?
                {
                    found.insert((Some(grant), d.id), d);
                }
            }
            let keys = keys.iter().map(|(pos, g, id)| (*pos, (*g, *id)));
            place(keys, &found, |d| Node::Disbursement(DisbursementNode(d)))
        }
        NodeKind::PassProgramme => {
            let found = one_by_one(distinct(), |id| async move {
                maillage_funding::get_pass_programme(&s.db, id).await.gql()
            })
            .await?;
            place(ids(), &found, |p| Node::PassProgramme(PassProgrammeNode(p)))
        }
        NodeKind::AmiCampaign => {
            let found = one_by_one(distinct(), |id| async move {
                ami::get_campaign(&s.db, ami::CampaignId(id)).await.gql()
            })
            .await?;
            place(ids(), &found, |c| Node::AmiCampaign(AmiCampaignNode(c)))
        }
        NodeKind::AmiApplication => {
            let found = one_by_one(distinct(), |id| async move {
                match ami::get_application(&s.db, &s.actor, ami::ApplicationId(id)).await {
                    Ok(app) => Ok(Some(app)),
                    Err(ami::AmiError::NotFound { .. }) => Ok(None),
                    Err(e) => Err(to_gql(&e)),
                }
            })
            .await?;
            place(ids(), &found, |a| {
                Node::AmiApplication(AmiApplicationNode::new(a))
            })
        }
        NodeKind::Feed => {
            let found: HashMap<i32, _> = feeds_for_node(ctx, &distinct())
                .await?
                .into_iter()
                .collect();
            place_once(ids(), found, Node::Feed)
        }
        NodeKind::ImportJob => {
            let found: HashMap<i32, _> =
                jobs_for_node(ctx, &distinct()).await?.into_iter().collect();
            place_once(ids(), found, Node::ImportJob)
        }
        NodeKind::ApiToken => {
            let found: HashMap<i32, _> = tokens_for_node(ctx, &distinct())
                .await?
                .into_iter()
                .collect();
            place_once(ids(), found, Node::ApiToken)
        }
        NodeKind::SiteMatch => {
            let found: HashMap<i32, _> = matches_for_node(ctx, &distinct())
                .await?
                .into_iter()
                .collect();
            place_once(ids(), found, Node::SiteMatch)
        }
        NodeKind::AmiAttachment | NodeKind::AmiScoreSheet => {
            let mut parents: Vec<ami::ApplicationId> = keys
                .iter()
                .filter_map(|(_, p, _)| p.map(ami::ApplicationId))
                .collect();
            parents.sort_unstable_by_key(|p| p.0);
            parents.dedup();
            let keys: Vec<_> = keys.iter().map(|(pos, _, id)| (*pos, *id)).collect();
            if parents.is_empty() {
                return Ok(Vec::new());
            }
            if kind == NodeKind::AmiAttachment {
                let found: HashMap<i32, _> = ami::attachments_of(&s.db, &s.actor, &parents)
                    .await
                    .gql()?
                    .into_values()
                    .flatten()
                    .map(|a| (a.id.0, a))
                    .collect();
                place(keys, &found, |a| Node::AmiAttachment(AmiAttachmentNode(a)))
            } else {
                let found: HashMap<i32, _> = ami::score_sheets_of(&s.db, &s.actor, &parents)
                    .await
                    .gql()?
                    .into_values()
                    .flatten()
                    .map(|a| (a.id.0, a))
                    .collect();
                place(keys, &found, |a| Node::AmiScoreSheet(AmiScoreSheetNode(a)))
            }
        }
    })
}

/// Text keys (departments and regions are keyed by INSEE code).
fn text_keys<'a>(
    kind: NodeKind,
    wanted: &'a Wanted<'_>,
) -> impl Iterator<Item = (usize, String)> + 'a {
    wanted
        .iter()
        .filter_map(move |(pos, raw)| match decode(&ID((*raw).to_owned())) {
            Ok((k, key)) if k == kind => Some((*pos, key)),
            _ => None,
        })
}
