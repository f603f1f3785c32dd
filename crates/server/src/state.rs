//! What every request handler shares, built once from the configuration.
//!
//! Its own module, below every route module: routes (`http`, `ami`, `uploads`, `exports`, …) depend on it and
//! `app` assembles them, so no module imports one that imports it back.

use crate::config::ServeConfig;
use crate::protection::Protection;
use maillage_core::reads::Reads;
use maillage_graphql::cost::CostModel;
use maillage_graphql::federation::{FederationEngine, build_federation_engine};
use maillage_graphql::{MaillageEngine, build_engine};
use maillage_territories::ReferenceTerritories;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;

/// What every request handler shares: [`SharedState`] behind one `Arc`.
///
/// Why one `Arc`: axum clones the state for every extractor and middleware that takes it, several times per request;
/// cloning the fields themselves meant a dozen reference counts incremented and decremented each time, on counters
/// every worker thread shares (issue #16). Fields are reached through `Deref`, as before.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The fields of [`AppState`].
#[derive(Clone)]
pub struct SharedState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The connection the API's reads run on: on PostgreSQL, connections kept between statements
    /// (`MAILLAGE_DB_KEEP_READ_CONNECTIONS`, see [`maillage_core::reads`]).
    pub reads: Reads,
    /// Regions and departments in memory, shared by every GraphQL request of this instance.
    pub territories: Arc<ReferenceTerritories>,
    /// The GraphQL schema, and what runs around each of its requests (error codes, refusals, spans).
    pub schema: MaillageEngine,
    /// The same schema as an Apollo Federation v2 subgraph (`/federation/graphql`).
    pub federation_schema: FederationEngine,
    /// Cost rules of `schema`, read from its SDL once.
    pub cost_model: Arc<CostModel>,
    /// Cost rules of `federation_schema`.
    pub federation_cost_model: Arc<CostModel>,
    /// Limits, budgets and persisted queries, shared by every request of this instance.
    pub protection: Arc<Protection>,
    /// The change feed's fan-out to this instance's subscriptions.
    pub changes: crate::changes::ChangeHub,
    /// Open while the database is unreachable: requests are then answered 503 at once.
    pub circuit: Arc<crate::circuit::Circuit>,
    /// Whether `createWebhook` accepts `http://` to loopback addresses (development only).
    pub webhook_policy: maillage_graphql::changes::WebhookPolicy,
}

impl AppState {
    /// State over an open, migrated database.
    pub fn new(db: DatabaseConnection, config: &ServeConfig) -> Self {
        let schema = build_engine(config.limits());
        let federation_schema = build_federation_engine(config.limits());
        Self(Arc::new(SharedState {
            changes: crate::changes::ChangeHub::new(db.clone(), Duration::from_millis(200)),
            circuit: Arc::new(crate::circuit::Circuit::new(db.clone())),
            webhook_policy: maillage_graphql::changes::WebhookPolicy {
                allow_http_loopback: config.webhooks.webhook_allow_http_loopback,
            },
            territories: Arc::new(ReferenceTerritories::new()),
            reads: Reads::new(&db, config.db_keep_read_connections),
            db,
            cost_model: schema.cost_model().clone(),
            federation_cost_model: federation_schema.cost_model().clone(),
            schema,
            federation_schema,
            protection: Arc::new(Protection::new(
                &config.protection,
                config.max_query_depth,
                config.max_query_complexity,
            )),
        }))
    }

    /// The same state with its reads running on `reads` instead (the end-to-end tests count their statements).
    pub fn with_reads(self, reads: Reads) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.0);
        shared.reads = reads;
        Self(Arc::new(shared))
    }

    /// Loads the reference territories now, so the first requests do not pay for it (nor count it). A failure is
    /// logged and left to the first request that needs them, which loads them itself.
    ///
    /// On PostgreSQL it also starts listening to the changes of hubs, for the server's lifetime, so that each
    /// department's hubs are kept between requests (`maillage_territories::DepartmentHubs`); the first `LISTEN` is
    /// done before this returns. Call it once per server.
    pub async fn warm_up(&self) {
        if let Err(error) = self.territories.snapshot(&self.db).await {
            tracing::warn!(%error, "loading the reference territories failed; the first request will retry");
        }
        // Detached: the task ends with the runtime.
        drop(
            maillage_territories::follow_hub_changes(
                &self.db,
                Arc::clone(self.territories.department_hubs()),
            )
            .await,
        );
    }
}
