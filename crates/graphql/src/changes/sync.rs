//! Incremental sync of sites for partner mirrors: changes since a date, tombstones, look-up by origin.
//!
//! Kept apart from `sites` so the list's own arguments stay as they are; see docs/SYNC.md for the recipe.

use crate::kit::connection::{Connection, connection, page_request};
use crate::kit::error::IntoGql;
use crate::kit::handles::SiteNode;
use crate::kit::id::{NodeKind, encode};
use crate::kit::order::OrderDirection;
use crate::kit::state;
use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use maillage_core::sync::SyncOptions;
use maillage_sites::{Site, SiteFilter, SiteOrder, SiteOrderField, SiteSync};

/// The order fields every synced list offers: by id (the default, as the lists always were) or by Maillage's
/// `updatedAt` then id, the order a mirror pulls in.
macro_rules! sync_order {
    ($by:ident, $field:ident, $by_doc:literal, $field_doc:literal) => {
        #[doc = $field_doc]
        #[derive(Enum, Copy, Clone, Eq, PartialEq, Default, Debug)]
        pub enum $field {
            /// Order of creation.
            #[default]
            Id,
            /// When Maillage last wrote it (server clock), then id: a row written while you page moves to the end
            /// instead of being skipped.
            UpdatedAt,
        }

        #[doc = $by_doc]
        #[derive(InputObject, Default, Debug)]
        pub struct $by {
            /// Field (default ID).
            #[graphql(default)]
            pub field: $field,
            /// Direction (default ASC).
            #[graphql(default)]
            pub direction: OrderDirection,
        }

        impl $by {
            /// The domain's sync options for this order and the filter's `updatedSince`.
            pub fn sync(order: Option<Self>, updated_since: Option<DateTime<Utc>>) -> SyncOptions {
                let order = order.unwrap_or_default();
                SyncOptions {
                    updated_since,
                    by_updated_at: order.field == $field::UpdatedAt,
                    descending: order.direction.descending(),
                }
            }
        }
    };
}

sync_order!(
    HostStructureOrderBy,
    HostStructureOrderField,
    "How to sort host structures.",
    "What host structures sort by."
);
sync_order!(
    CounsellorOrderBy,
    CounsellorOrderField,
    "How to sort counsellors.",
    "What counsellors sort by."
);
sync_order!(
    AidantsOrganisationOrderBy,
    AidantsOrganisationOrderField,
    "How to sort Aidants Connect organisations.",
    "What Aidants Connect organisations sort by."
);
sync_order!(
    AidantOrderBy,
    AidantOrderField,
    "How to sort aidants.",
    "What aidants sort by."
);
sync_order!(
    GrantOrderBy,
    GrantOrderField,
    "How to sort grants.",
    "What grants sort by."
);
sync_order!(
    EnvelopeOrderBy,
    EnvelopeOrderField,
    "How to sort envelopes (the default keeps parents before children).",
    "What envelopes sort by."
);

/// A site as a mirror sees it: alive (with its content) or archived (a tombstone: `archivedAt`, no content).
pub struct SyncedSite(Site);

impl SyncedSite {
    /// When the site left the default list: its archiving, or its merge (the merge sets `updated_at`).
    fn removed_at(&self) -> Option<DateTime<Utc>> {
        self.0
            .archived_at
            .or(self.0.merged_into.map(|_| self.0.updated_at))
    }
}

/// A site as a mirror sees it: alive (with its content) or archived (a tombstone: `archivedAt`, no content).
#[Object]
impl SyncedSite {
    /// The site's global ID (a `Site` ID: `node(id:)` returns the live site). A synced site is a view of a site,
    /// not an object of its own, so it has no `id` of its own.
    async fn site_id(&self) -> ID {
        encode(NodeKind::Site, self.0.id.0)
    }

    /// When Maillage last wrote it (server clock; not the source's `date_maj`).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// When it left the list: archived, or merged into a canonical site (which the mirror gets on its own). The
    /// mirror removes it. Null for a live site.
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.removed_at()
    }

    /// The site's content; null for a site that left the list.
    async fn site(&self) -> Option<SiteNode> {
        self.removed_at()
            .is_none()
            .then(|| SiteNode::new(self.0.clone()))
    }
}

/// An archived or deleted entity: a mirror removes it.
pub struct Tombstone(maillage_access::changes::Change);

/// An archived or deleted entity: a mirror removes it.
#[Object]
impl Tombstone {
    /// The entity's global ID (null only for a type `node(id:)` does not resolve: see `entityType`).
    async fn id(&self) -> Option<ID> {
        super::feed::global_id(&self.0.entity_type, &self.0.entity_id)
    }

    /// The entity type, as in the change feed (`site`, `counsellor`, `funding_grant`, …).
    async fn entity_type(&self) -> &str {
        &self.0.entity_type
    }

    /// The entity's id within its type.
    async fn entity_id(&self) -> &str {
        &self.0.entity_id
    }

    /// When it was archived or deleted (server clock).
    async fn archived_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
}

/// Sync reads.
#[derive(Default)]
pub struct SyncQuery;

#[Object]
impl SyncQuery {
    /// Sites Maillage wrote at or after `updatedSince` (every site without it), archived ones included as
    /// tombstones, ordered by `(updatedAt, id)`: a site written while you page moves to the end instead of being
    /// skipped. Ask again from the newest `updatedAt` you saw minus a margin (docs/SYNC.md).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn sites_updated_since(
        &self,
        ctx: &Context<'_>,
        updated_since: Option<DateTime<Utc>>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<Connection<SyncedSite>> {
        let s = state(ctx)?;
        let page = page_request(ctx, first, after)?;
        let sync = SiteSync {
            updated_since,
            include_archived: true,
        };
        let order = SiteOrder {
            field: SiteOrderField::UpdatedAt,
            descending: false,
        };
        let page =
            maillage_sites::list_sites_synced(&s.db, &SiteFilter::default(), &sync, order, &page)
                .await
                .gql()?;
        Ok(connection(page, SyncedSite))
    }

    /// The tombstones of every list: the entities archived or deleted at or after `since` that the caller may
    /// read, in commit order. A mirror pulls each list with `filter: {updatedSince}` and `orderBy: {field:
    /// UPDATED_AT}`, then removes these ids (docs/SYNC.md). Types that are never archived nor deleted (today all
    /// but sites) have none.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn deleted_since(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The instant to start from (server clock), e.g. your previous pull's minus a margin."
        )]
        since: DateTime<Utc>,
        #[graphql(
            desc = "Only these entity types (see `Change.entityType`); every type without it."
        )]
        entity_types: Option<Vec<String>>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<Connection<Tombstone>> {
        let s = state(ctx)?;
        let page = page_request(ctx, first, after)?;
        let filter = maillage_access::changes::ChangeFilter {
            entity_types: entity_types.unwrap_or_default(),
            ..Default::default()
        };
        let page =
            maillage_access::changes::list_removed_since(&s.db, &s.actor, since, &filter, &page)
                .await
                .gql()?;
        Ok(connection(page, Tombstone))
    }

    /// A site by its origin: the import source and the source's own id (archived or not).
    async fn site_by_origin(
        &self,
        ctx: &Context<'_>,
        source: String,
        source_id: String,
    ) -> async_graphql::Result<Option<SyncedSite>> {
        let s = state(ctx)?;
        Ok(maillage_sites::site_by_source(&s.db, &source, &source_id)
            .await
            .gql()?
            .map(SyncedSite))
    }
}
