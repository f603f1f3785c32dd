//! What the funding objects share, so that `objects.rs` (`Envelope`, which lists its grants) and `grants.rs`
//! (`Grant`, which names its envelope) both depend on this module and not on each other: the node structs, the
//! envelope tree loaded once per request field, and the loaders of grants. Their `#[Object]` impls stay with the
//! other objects of their file.

use crate::kit::connection::{Connection, PageArgs, connection, page_request};
use crate::kit::error::IntoGql;
use crate::kit::state;
use async_graphql::Context;
use maillage_funding as funding;
use maillage_funding::{Consumption, Envelope, Grant, Money};
use std::collections::HashMap;
use std::sync::Arc;

/// Every envelope and its consumption, loaded once per request field and shared by the nodes of the tree.
pub(crate) struct EnvelopeTree {
    pub(crate) envelopes: Vec<Envelope>,
    pub(crate) consumption: HashMap<i32, Consumption>,
}

/// Loads every envelope and its consumption (two statements).
pub(crate) async fn load_tree(ctx: &Context<'_>) -> async_graphql::Result<Arc<EnvelopeTree>> {
    let s = state(ctx)?;
    let envelopes = funding::list_envelopes(&s.db).await.gql()?;
    let consumption = funding::consumption_of_all(&s.db).await.gql()?;
    Ok(Arc::new(EnvelopeTree {
        envelopes,
        consumption,
    }))
}

/// A programme line (enveloppe): an amount, within a wider line or not, and what its grants commit and pay.
pub struct EnvelopeNode {
    pub(crate) envelope: Envelope,
    pub(crate) tree: Arc<EnvelopeTree>,
}

impl EnvelopeNode {
    /// Another envelope of the same tree, as a node.
    pub(crate) fn node(&self, e: &Envelope) -> EnvelopeNode {
        EnvelopeNode {
            envelope: e.clone(),
            tree: Arc::clone(&self.tree),
        }
    }
}

/// What a page of grants shares: the envelopes and each grant's disbursed total, fetched once for the page.
pub(crate) struct GrantContext {
    pub(crate) envelopes: Arc<EnvelopeTree>,
    pub(crate) disbursed: HashMap<i32, Money>,
}

/// A grant (convention): money of an envelope for a host structure, a hub or a collectivité.
pub struct GrantNode {
    pub(crate) grant: Grant,
    pub(crate) shared: Arc<GrantContext>,
}

/// The envelope with this id, with the whole tree it belongs to; `None` if there is none.
pub(crate) async fn envelope_node(
    ctx: &Context<'_>,
    id: i32,
) -> async_graphql::Result<Option<EnvelopeNode>> {
    let tree = load_tree(ctx).await?;
    Ok(tree
        .envelopes
        .iter()
        .find(|e| e.id == id)
        .map(|e| EnvelopeNode {
            envelope: e.clone(),
            tree: Arc::clone(&tree),
        }))
}

/// The shared context of a page of grants: the envelope tree and each grant's disbursed total.
pub(crate) async fn grant_context(
    ctx: &Context<'_>,
    grants: &[Grant],
) -> async_graphql::Result<Arc<GrantContext>> {
    let s = state(ctx)?;
    let envelopes = load_tree(ctx).await?;
    let disbursed = funding::disbursed_by_grant(&s.db, grants.iter().map(|g| g.id))
        .await
        .gql()?;
    Ok(Arc::new(GrantContext {
        envelopes,
        disbursed,
    }))
}

/// One grant as a node, with its own context.
pub(crate) async fn grant_node(
    ctx: &Context<'_>,
    grant: Grant,
) -> async_graphql::Result<GrantNode> {
    let shared = grant_context(ctx, std::slice::from_ref(&grant)).await?;
    Ok(GrantNode { grant, shared })
}

/// A page of grants as a connection, their context fetched once for the page.
pub(crate) async fn grant_page(
    ctx: &Context<'_>,
    filter: funding::GrantFilter,
    sync: &maillage_core::sync::SyncOptions,
    args: PageArgs,
) -> async_graphql::Result<Connection<GrantNode>> {
    let s = state(ctx)?;
    let request = page_request(ctx, args)?;
    let page = funding::list_grants_synced(&s.db, &filter, sync, &request)
        .await
        .gql()?;
    let grants: Vec<Grant> = page.items.iter().map(|(_, g)| g.clone()).collect();
    let shared = grant_context(ctx, &grants).await?;
    Ok(connection(page, |grant| GrantNode {
        grant,
        shared: Arc::clone(&shared),
    }))
}
