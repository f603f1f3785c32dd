//! The schema: the merged root objects, the limits and the SDL.

use crate::telemetry::Traced;
use crate::{
    aidants, ami, audit, changes, counsellors, dedup, feeds, funding, hubs, node, sites,
    statistics, territories, tokens,
};
use async_graphql::{MergedObject, Schema, SchemaBuilder};
use chrono::{DateTime, Utc};

/// The root query: one object per domain, merged.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    node::NodeQuery,
    territories::TerritoriesQuery,
    hubs::HubProfileQuery,
    sites::SitesQuery,
    counsellors::CounsellorsQuery,
    audit::AuditQuery,
    funding::FundingQuery,
    aidants::AidantsQuery,
    ami::AmiQuery,
    dedup::DedupQuery,
    changes::FeedQuery,
    changes::WebhooksQuery,
    changes::SyncQuery,
    feeds::FeedsQuery,
    tokens::TokensQuery,
    statistics::StatisticsQuery,
    statistics::VocabulariesQuery,
);

/// The root mutation: one object per domain, merged.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    territories::TerritoriesMutation,
    hubs::HubProfileMutation,
    sites::SitesMutation,
    counsellors::CounsellorsMutation,
    funding::FundingMutation,
    aidants::AidantsMutation,
    ami::AmiMutation,
    dedup::DedupMutation,
    changes::WebhooksMutation,
    feeds::FeedsMutation,
    tokens::TokensMutation,
);

/// The executable schema; its root types open a span per top-level field ([`Traced`]). Requests run through
/// [`MaillageEngine`](crate::engine::MaillageEngine), which adds error codes and refusals.
pub type MaillageSchema =
    Schema<Traced<QueryRoot>, Traced<MutationRoot>, changes::FeedSubscription>;

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

/// The `DateTime` scalar, as clients see it.
const DATE_TIME: &str = "An instant: RFC 3339 text with a time zone offset, e.g. `2026-12-05T09:30:00Z` or \
    `2026-12-05T10:30:00+01:00`; answers are always in UTC (`Z`).";

/// The `JSON` scalar (async-graphql's), as clients see it.
const JSON: &str = "Any JSON value (RFC 8259), sent as is rather than as text, e.g. `{\"name\": \"Espace numérique\"}`.";

/// The schema with its descriptions, before its limits. No extension: see [`crate::engine`].
pub(crate) fn builder()
-> SchemaBuilder<Traced<QueryRoot>, Traced<MutationRoot>, changes::FeedSubscription> {
    Schema::build(
        Traced(QueryRoot::default()),
        Traced(MutationRoot::default()),
        changes::FeedSubscription,
    )
    .override_output_type_description::<DateTime<Utc>>(DATE_TIME)
    .override_input_type_description::<DateTime<Utc>>(DATE_TIME)
    .override_output_type_description::<async_graphql::Json<serde_json::Value>>(JSON)
}

/// The parser's recursion limit follows the depth limit, so raising `MAILLAGE_MAX_QUERY_DEPTH` is enough. These
/// limits of async-graphql are a backstop: the HTTP layer's cost analysis ([`cost`]) refuses first, with the cost.
pub(crate) fn recursive_depth(limits: SchemaLimits) -> usize {
    limits.max_depth.saturating_mul(2).max(32)
}

/// The committed contract: the schema in SDL.
pub fn sdl() -> String {
    builder()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}
