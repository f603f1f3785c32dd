#![doc = include_str!("../README.md")]

pub mod aidants;
pub mod ami;
pub mod audit;
pub mod cost;
pub mod counsellors;
pub mod error;
pub mod federation;
pub mod feeds;
pub mod funding;
pub mod id;
pub mod loaders;
pub mod mutations;
pub mod node;
pub mod sites;
pub mod telemetry;
pub mod territories;
pub mod tokens;

use async_graphql::{Context, EmptySubscription, MergedObject, Schema};
use maillage_core::Actor;
use sea_orm::DatabaseConnection;

/// The root query: one object per domain, merged.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    node::NodeQuery,
    territories::TerritoriesQuery,
    sites::SitesQuery,
    counsellors::CounsellorsQuery,
    audit::AuditQuery,
    funding::FundingQuery,
    aidants::AidantsQuery,
    ami::AmiQuery,
    feeds::FeedsQuery,
    tokens::TokensQuery,
);

/// The root mutation: one object per domain, merged.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    mutations::SitesMutation,
    counsellors::CounsellorsMutation,
    funding::FundingMutation,
    aidants::AidantsMutation,
    ami::AmiMutation,
    feeds::FeedsMutation,
    tokens::TokensMutation,
);

/// The executable schema.
pub type MaillageSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Limits that protect the server from expensive queries.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    /// Maximum nesting depth of a query.
    pub max_depth: usize,
    /// Maximum complexity (a connection costs its page size × its children).
    pub max_complexity: usize,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        Self {
            max_depth: 15,
            max_complexity: 100_000,
        }
    }
}

/// Builds the schema. It holds no database: each request carries its own [`RequestState`], so the SDL can be
/// printed without one.
pub fn build_schema(limits: SchemaLimits) -> MaillageSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(recursive_depth(limits))
    .extension(telemetry::Telemetry)
    .finish()
}

/// The parser's recursion limit follows the depth limit, so raising `MAILLAGE_MAX_QUERY_DEPTH` is enough. These
/// limits of async-graphql are a backstop: the HTTP layer's cost analysis ([`cost`]) refuses first, with the cost.
pub(crate) fn recursive_depth(limits: SchemaLimits) -> usize {
    limits.max_depth.saturating_mul(2).max(32)
}

/// The committed contract: the schema in SDL.
pub fn sdl() -> String {
    build_schema(SchemaLimits::default()).sdl()
}

/// What one request runs with: the database, the caller, and fresh DataLoaders.
pub struct RequestState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The caller.
    pub actor: Actor,
    /// This request's loaders.
    pub loaders: loaders::Loaders,
    /// This request's loaders of the counsellors domain.
    pub counsellors: counsellors::CounsellorLoaders,
    /// This request's loaders of the aidants domain.
    pub aidants: aidants::AidantsLoaders,
    /// The request id (from `x-request-id` or generated), recorded in the audit trail and logs.
    pub request_id: String,
}

impl RequestState {
    /// State for one request by `actor`.
    pub fn new(db: DatabaseConnection, actor: Actor, request_id: impl Into<String>) -> Self {
        let loaders = loaders::Loaders::new(&db);
        let counsellors = counsellors::CounsellorLoaders::new(&db);
        let aidants = aidants::AidantsLoaders::new(&db);
        Self {
            db,
            actor,
            loaders,
            counsellors,
            aidants,
            request_id: request_id.into(),
        }
    }
}

/// The request state from a resolver's context.
pub(crate) fn state<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a RequestState> {
    ctx.data::<RequestState>()
        .map_err(|_| error::coded("internal error", "internal_error", None))
}
