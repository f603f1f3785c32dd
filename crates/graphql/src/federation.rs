//! The same schema as an Apollo Federation v2 subgraph: `Site`, `Hub` and `Department` are entities keyed by
//! their global `id`, so a gateway can join other subgraphs' fields onto them.
//!
//! A separate schema (served on its own route) rather than federation on the public one: the public contract stays
//! free of `_entities`/`_service`, and the subgraph shares every resolver with it.

use crate::kit::error::IntoGql;
use crate::kit::handles::{DepartmentLoader, DepartmentNode, HubNode, SiteNode};
use crate::kit::id::{NodeKind, decode, decode_int};
use crate::kit::loader::loader;
use crate::kit::state;
use crate::schema::{QueryRoot, SchemaLimits, recursive_depth};
use async_graphql::{Context, EmptyMutation, EmptySubscription, ID, MergedObject, Object, Schema};
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

/// The subgraph schema.
pub type FederationSchema = Schema<FederationQuery, EmptyMutation, EmptySubscription>;

/// Builds the subgraph schema, with the same limits as the public one. Read-only: writes go to `/graphql`.
pub fn build_federation_schema(limits: SchemaLimits) -> FederationSchema {
    Schema::build(FederationQuery::default(), EmptyMutation, EmptySubscription)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(recursive_depth(limits))
        .enable_federation()
        .extension(crate::telemetry::Telemetry)
        .extension(crate::nul::RefuseNul)
        .extension(crate::kit::error::ErrorCodes)
        .finish()
}

/// The subgraph SDL, as `_service { sdl }` returns it: what composition tools read.
pub fn federation_sdl() -> String {
    build_federation_schema(SchemaLimits::default())
        .sdl_with_options(async_graphql::SDLExportOptions::new().federation())
}
