//! The Relay `Node` interface: fetch anything by global ID.

use crate::kit::error::{IntoGql, coded};
use crate::kit::handles::{
    DepartmentLoader, DepartmentNode, HubNode, RegionLoader, RegionNode, SiteNode,
};
use crate::kit::id::{NodeKind, decode};
use crate::kit::loader::loader;
use crate::kit::state;
use crate::sites::sites_by_ids;
use async_graphql::{Context, ID, Interface, Object};
use maillage_core::{DepartmentCode, HubId, RegionCode, SiteId};

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
}

/// The most IDs `nodes` accepts at once.
const MAX_NODES: usize = 100;

/// `node` and `nodes`.
#[derive(Default)]
pub struct NodeQuery;

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
                "too_many_ids",
                Some("ids".to_owned()),
            ));
        }
        load(ctx, &ids).await
    }
}

async fn load(ctx: &Context<'_>, ids: &[ID]) -> async_graphql::Result<Vec<Option<Node>>> {
    let s = state(ctx)?;
    let decoded = ids
        .iter()
        .map(decode)
        .collect::<async_graphql::Result<Vec<_>>>()?;
    let int_keys = |kind: NodeKind| -> Vec<i32> {
        decoded
            .iter()
            .filter(|(k, _)| *k == kind)
            .filter_map(|(_, key)| key.parse().ok())
            .collect()
    };
    let site_ids: Vec<SiteId> = int_keys(NodeKind::Site).into_iter().map(SiteId).collect();
    let hub_ids: Vec<HubId> = int_keys(NodeKind::Hub).into_iter().map(HubId).collect();
    let sites = sites_by_ids(ctx, &site_ids).await?;
    let hubs = maillage_territories::hubs_by_ids(&s.db, &hub_ids)
        .await
        .gql()?;
    let mut out = Vec::with_capacity(decoded.len());
    for (kind, key) in decoded {
        let node = match kind {
            NodeKind::Site => key
                .parse()
                .ok()
                .and_then(|id: i32| sites.iter().find(|s| s.id.0 == id))
                .map(|s| Node::Site(SiteNode::new(s.clone()))),
            NodeKind::Hub => key
                .parse()
                .ok()
                .and_then(|id: i32| hubs.iter().find(|h| h.id.0 == id))
                .map(|h| Node::Hub(HubNode(h.clone()))),
            NodeKind::Department => match DepartmentCode::parse(&key) {
                Ok(code) => loader::<DepartmentLoader>(ctx)?
                    .load_one(code)
                    .await?
                    .map(|d| Node::Department(DepartmentNode(d))),
                Err(_) => None,
            },
            NodeKind::Region => match RegionCode::parse(&key) {
                Ok(code) => loader::<RegionLoader>(ctx)?
                    .load_one(code)
                    .await?
                    .map(|r| Node::Region(RegionNode(r))),
                Err(_) => None,
            },
            // The other kinds are resolved in a later step of this refactoring.
            _ => None,
        };
        out.push(node);
    }
    Ok(out)
}
