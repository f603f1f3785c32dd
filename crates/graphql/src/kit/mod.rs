//! What every domain module shares: global IDs, connections, payloads, filters and orders, loaders, enum mirrors,
//! errors, the request state, and the handles of the objects several domains return.
//!
//! Domain modules depend on the kit and never the other way round; see the crate README, "How to add a domain
//! module".

pub mod connection;
pub mod date;
pub mod enums;
pub mod error;
pub mod gate;
pub mod handles;
pub mod id;
pub mod json;
pub mod loader;
pub mod memory;
pub mod order;
pub mod payload;
pub mod selection;
pub mod territory;

use async_graphql::Context;
use maillage_core::Actor;
use maillage_core::Code;
use maillage_core::reads::Reads;
use maillage_territories::ReferenceTerritories;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// What one request runs with: the database, the server's reference territories, the caller, and its DataLoaders.
pub struct RequestState {
    /// The connection pool: writes, transactions, and reads that do not go through `reads`.
    pub db: DatabaseConnection,
    /// The connection reads run on (kept PostgreSQL connections, see [`maillage_core::reads`]); the DataLoaders
    /// read through it.
    pub reads: Reads,
    /// Regions and departments in memory, one snapshot per server (shared by its requests): reading them by code
    /// costs no statement and no DataLoader batch.
    pub territories: Arc<ReferenceTerritories>,
    /// The caller.
    pub actor: Actor,
    /// This request's loaders, made on first use.
    pub loaders: loader::Loaders,
    /// The request id (from `x-request-id` or generated), recorded in the audit trail and logs.
    pub request_id: String,
}

impl RequestState {
    /// State for one request by `actor`, over the server's pool, reads and `territories`.
    pub fn new(
        db: DatabaseConnection,
        reads: &Reads,
        territories: &Arc<ReferenceTerritories>,
        actor: Actor,
        request_id: impl Into<String>,
    ) -> Self {
        let loaders = loader::Loaders::new(reads, territories);
        Self {
            db,
            reads: reads.clone(),
            territories: Arc::clone(territories),
            actor,
            loaders,
            request_id: request_id.into(),
        }
    }
}

/// The request state from a resolver's context.
pub fn state<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a RequestState> {
    ctx.data::<RequestState>()
        .map_err(|_| error::coded("internal error", Code::InternalError, None))
}
