//! The same schema as an Apollo Federation v2 subgraph: `Site`, `Hub` and `Department` are entities keyed by
//! their global `id`, so a gateway can join other subgraphs' fields onto them.
//!
//! A separate schema (served on its own route) rather than federation on the public one: the public contract stays
//! free of `_entities`/`_service`, and the subgraph shares every resolver with it.

use crate::engine::Engine;
use crate::kit::error::IntoGql;
use crate::kit::handles::{DepartmentLoader, DepartmentNode, HubNode, SiteNode};
use crate::kit::id::{NodeKind, decode, decode_int};
use crate::kit::loader::loader;
use crate::kit::state;
use crate::schema::{QueryRoot, SchemaLimits};
use crate::telemetry::Traced;
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, ID, MergedObject, Object, Schema, SchemaBuilder,
};
use maillage_core::{DepartmentCode, HubId, SiteId};

/// How a gateway resolves a reference to one of our entities. Not visible in the schema: async-graphql turns
/// these into the `_entities` field.
#[derive(Default)]
pub struct EntityQuery;

/// How a gateway resolves a reference to one of our entities. Not visible in the schema: async-graphql turns
/// these into the `_entities` field.
#[Object]
impl EntityQuery {
    /// A site by its global ID, for `_entities`.
    #[graphql(entity)]
    async fn find_site_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<SiteNode>> {
        let s = state(ctx)?;
        let id = decode_int(&id, NodeKind::Site)?;
        let site = maillage_sites::get_site(&s.db, SiteId(id)).await.gql()?;
        Ok(site.map(SiteNode::new))
    }

    /// A hub by its global ID, for `_entities`.
    #[graphql(entity)]
    async fn find_hub_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<HubNode>> {
        let s = state(ctx)?;
        let id = decode_int(&id, NodeKind::Hub)?;
        let hubs = maillage_territories::hubs_by_ids(&s.db, &[HubId(id)])
            .await
            .gql()?;
        Ok(hubs.into_iter().next().map(HubNode))
    }

    /// A department by its global ID, for `_entities`.
    #[graphql(entity)]
    async fn find_department_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<DepartmentNode>> {
        let _s = state(ctx)?;
        let code = match decode(&id)? {
            (NodeKind::Department, key) => DepartmentCode::parse(&key).ok(),
            _ => None,
        };
        let Some(code) = code else {
            return Ok(None);
        };
        Ok(loader::<DepartmentLoader>(ctx)?
            .load_one(code)
            .await?
            .map(DepartmentNode))
    }
}

/// The subgraph's root query: the public one plus the entity resolvers. Named `Query`, as gateways expect.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct FederationQuery(QueryRoot, EntityQuery);

/// The subgraph schema; its root type opens a span per top-level field ([`Traced`]).
pub type FederationSchema = Schema<Traced<FederationQuery>, EmptyMutation, EmptySubscription>;

/// What runs the subgraph's requests: the schema, with error codes, refusals and spans ([`Engine`]).
pub type FederationEngine = Engine<Traced<FederationQuery>, EmptyMutation, EmptySubscription>;

/// Builds the subgraph engine, with the same limits as the public one. Read-only: writes go to `/graphql`.
pub fn build_federation_engine(limits: SchemaLimits) -> FederationEngine {
    Engine::new(builder, limits)
}

/// The subgraph schema before its limits. No extension: see [`crate::engine`].
fn builder() -> SchemaBuilder<Traced<FederationQuery>, EmptyMutation, EmptySubscription> {
    Schema::build(
        Traced(FederationQuery::default()),
        EmptyMutation,
        EmptySubscription,
    )
    .enable_federation()
}

/// The subgraph SDL, as `_service { sdl }` returns it: what composition tools read.
pub fn federation_sdl() -> String {
    builder()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().federation())
}
