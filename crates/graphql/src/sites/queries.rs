//! Queries on sites.

use super::inputs::{SiteFilterInput, SiteOrderByInput, parts_for, sites_args};
use super::objects::site_connection;
use crate::kit::connection::MemoryConnection;
use crate::kit::connection::PageArgs;
use crate::kit::error::{IntoGql, coded};
use crate::kit::handles::SiteNode;
use crate::kit::id::{NodeKind, decode_int};
use crate::kit::state;
use async_graphql::{Context, ID, Object};
use maillage_core::Code;
use maillage_core::SiteId;
use maillage_sites::query::{get_site_parts, site_parts_by_source};
use maillage_sites::{Site, SiteParts};

/// Queries on sites.
#[derive(Default)]
pub struct SitesQuery;

/// Queries on sites.
#[Object]
impl SitesQuery {
    /// Sites matching a filter, as a Relay connection (at most 100 per page).
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn sites(
        &self,
        ctx: &Context<'_>,
        filter: Option<SiteFilterInput>,
        order_by: Option<SiteOrderByInput>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<MemoryConnection<SiteNode>> {
        let s = state(ctx)?;
        let mut filter = filter;
        let sync = maillage_sites::SiteSync {
            updated_since: filter.as_mut().and_then(|f| f.updated_since.take()),
            include_archived: false,
        };
        let args = sites_args(
            ctx,
            filter,
            order_by,
            PageArgs::new(first, after, last, before),
        )
        .await?;
        let page = maillage_sites::list_site_parts_synced(
            &s.reads,
            &args.filter,
            &sync,
            args.order,
            &args.page,
            args.read,
        )
        .await
        .gql()?;
        site_connection(ctx, page, None).await
    }

    /// One site by its global ID, or by its origin: the import source and the source's own id (`source` and
    /// `sourceId` together). A source record merged into a canonical site gives that canonical site; an archived
    /// one gives null (its tombstone: `siteByOrigin`, `sitesUpdatedSince`).
    async fn site(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        #[graphql(desc = "The import source, e.g. `hinaura` (with `sourceId`).")] source: Option<
            String,
        >,
        #[graphql(desc = "The source's own id of the site (with `source`).")] source_id: Option<
            String,
        >,
    ) -> async_graphql::Result<Option<SiteNode>> {
        let s = state(ctx)?;
        // Only what the selection serves, by the lists' rule: most look-ups ask for a few brief fields, and the
        // whole row with its values cost the widest read and one more statement (issue #16).
        let parts = selected_site_parts(ctx);
        let id = match (id, source, source_id) {
            (Some(id), None, None) => SiteId(decode_int(&id, NodeKind::Site)?),
            (None, Some(source), Some(source_id)) => {
                match site_parts_by_source(&s.reads, &source, &source_id, parts)
                    .await
                    .gql()?
                {
                    // The record read is the answer when it is live and canonical: reading it again by id cost a
                    // second statement for the site and one for its values on every look-up (issue #16).
                    Some(record) => match (record.merged_into, record.archived_at) {
                        (Some(canonical), _) => canonical,
                        (None, Some(_)) => return Ok(None),
                        (None, None) => return Ok(Some(SiteNode::new(record))),
                    },
                    None => return Ok(None),
                }
            }
            _ => {
                return Err(coded(
                    "give either id, or source and sourceId",
                    Code::InvalidValue,
                    None,
                ));
            }
        };
        let site = get_site_parts(&s.reads, id, parts).await.gql()?;
        Ok(site.map(SiteNode::new))
    }
}

/// The parts of the site a field of type `Site` (`Query.site`) needs, from the fields selected on it, fragments
/// included: the rule of the lists ([`parts_for`]), whose resolvers refuse a field the read did not load.
fn selected_site_parts(ctx: &Context<'_>) -> SiteParts {
    let look = ctx.look_ahead();
    let mut selected: Vec<&str> = Vec::new();
    for field in look.selection_fields() {
        selected.extend(field.selection_set().map(|f| f.name()));
    }
    parts_for(&selected)
}

/// Used by `node`/`nodes`.
pub async fn sites_by_ids(ctx: &Context<'_>, ids: &[SiteId]) -> async_graphql::Result<Vec<Site>> {
    let s = state(ctx)?;
    maillage_sites::sites_by_ids(&s.reads, ids).await.gql()
}
