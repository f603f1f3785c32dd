//! Incremental sync of sites for partner mirrors: changes since a date, tombstones, look-up by origin.
//!
//! Kept apart from `sites` so the list's own arguments stay as they are; see docs/SYNC.md for the recipe.

use crate::kit::connection::{Connection, connection, page_request};
use crate::kit::error::IntoGql;
use crate::kit::handles::SiteNode;
use crate::kit::id::{NodeKind, encode};
use crate::kit::state;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use maillage_sites::{Site, SiteFilter, SiteOrder, SiteOrderField, SiteSync};

/// A site as a mirror sees it: alive (with its content) or archived (a tombstone: `archivedAt`, no content).
pub struct SyncedSite(Site);

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

    /// When it was archived: the mirror removes it. Null for a live site.
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }

    /// The site's content; null for an archived site.
    async fn site(&self) -> Option<SiteNode> {
        self.0
            .archived_at
            .is_none()
            .then(|| SiteNode::new(self.0.clone()))
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
