//! Feeds and import jobs: `feeds`, `feed`, `createFeed`, `updateFeed`, `importJob`, `importJobs`.

mod import_jobs;

use crate::kit::connection::{PageArgs, page_request};
use crate::kit::error::IntoGql;
use crate::kit::handles::HubNode;
use crate::kit::id::{NodeKind, encode, parse_int};
use crate::kit::payload::{UserError, classify, user_error, writer};
use crate::kit::state;
use crate::kit::territory::known_hub;
use async_graphql::ID;
use async_graphql::{Context, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
pub(crate) use import_jobs::jobs_for_node;
pub use import_jobs::{
    ImportJobConnection, ImportJobLineConnection, ImportJobLineNode, ImportJobNode,
    ImportJobStatusEnum,
};
use import_jobs::{page_info, with_feeds};
use maillage_core::Code;
use maillage_core::HubId;
use maillage_core::error::FieldPath;
use maillage_sites::feeds::{self, Feed, FeedPatch, NewFeed};
use maillage_sites::jobs::{self, JobFilter};
use maillage_territories::Hub;
use std::collections::HashMap;

/// The global ID of an import job, as `importJob(id:)` and the HTTP routes `/imports/{id}` take it.
pub fn job_id(id: maillage_sites::jobs::JobId) -> ID {
    encode(NodeKind::ImportJob, id.0)
}

/// Decodes an import job's global ID; the message says what is wrong (for `invalid_id`).
pub fn decode_job_id(raw: &str) -> Result<maillage_sites::jobs::JobId, String> {
    parse_int(raw, NodeKind::ImportJob)
        .map(maillage_sites::jobs::JobId)
        .map_err(|e| e.to_string())
}

pub(crate) fn int(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The global ID of a feed.
fn feed_id(id: feeds::FeedId) -> ID {
    encode(NodeKind::Feed, id.0)
}

/// A feed: a named source of sites, owned by a hub (or national), with its mapping and import policy.
pub struct FeedNode {
    feed: Feed,
    hub: Option<Hub>,
}

/// A feed: a named source of sites, owned by a hub (or national), with its mapping and import policy.
#[Object(name = "Feed")]
impl FeedNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        feed_id(self.feed.id)
    }
    /// Stable key in URLs (`POST /feeds/{slug}/imports`) and on the command line.
    async fn slug(&self) -> &str {
        &self.feed.slug
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.feed.name
    }
    /// The `source` of the sites this feed stores (with each row's id, a site's identity).
    async fn source(&self) -> &str {
        &self.feed.source
    }
    /// The owning hub, whose departments bound what the feed may store; null for a national feed.
    async fn hub(&self) -> Option<HubNode> {
        self.hub.clone().map(HubNode)
    }
    /// The built-in mapping the feed's files follow, if any.
    async fn mapping(&self) -> Option<&str> {
        self.feed.mapping.as_deref()
    }
    /// The feed's own mapping (TOML), if any. Neither mapping: files in the national standard's own layout.
    async fn mapping_toml(&self) -> Option<&str> {
        self.feed.mapping_toml.as_deref()
    }
    /// Whether each file is the whole feed (sites absent from it are archived) rather than a partial update.
    async fn complete(&self) -> bool {
        self.feed.complete
    }
    /// Whether the feed's values win over edits made through the API (by default the edits stand).
    async fn feed_wins(&self) -> bool {
        self.feed.feed_wins
    }
    /// The largest share (0 to 1) of a complete feed's sites one file may archive unless forced.
    async fn max_archive_share(&self) -> f64 {
        self.feed.max_archive_share
    }
    /// Version, for `updateFeed`.
    async fn version(&self) -> i32 {
        self.feed.version
    }
    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.feed.created_at
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.feed.updated_at
    }
}

/// Feeds with their hubs, read in one statement for the whole list.
async fn with_hubs(ctx: &Context<'_>, list: Vec<Feed>) -> async_graphql::Result<Vec<FeedNode>> {
    let s = state(ctx)?;
    let mut ids: Vec<HubId> = list.iter().filter_map(|f| f.hub).collect();
    ids.sort_unstable();
    ids.dedup();
    let hubs: HashMap<HubId, Hub> = if ids.is_empty() {
        HashMap::new()
    } else {
        maillage_territories::hubs_by_ids(&s.db, &ids)
            .await
            .gql()?
            .into_iter()
            .map(|h| (h.id, h))
            .collect()
    };
    Ok(list
        .into_iter()
        .map(|feed| {
            let hub = feed.hub.and_then(|h| hubs.get(&h).cloned());
            FeedNode { feed, hub }
        })
        .collect())
}

pub(crate) async fn one_with_hub(ctx: &Context<'_>, feed: Feed) -> async_graphql::Result<FeedNode> {
    with_hubs(ctx, vec![feed])
        .await?
        .pop()
        .ok_or_else(|| crate::kit::error::coded("internal error", Code::InternalError, None))
}

/// `feeds`, `feed`, `importJob`, `importJobs`.
#[derive(Default)]
pub struct FeedsQuery;

#[Object]
impl FeedsQuery {
    /// The feeds the caller manages, by slug: every feed for admins, its hub's for a hub coordinator; refused
    /// (`forbidden`) for other callers.
    async fn feeds(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<FeedNode>> {
        let s = state(ctx)?;
        let list = feeds::list_feeds(&s.db, &s.actor).await.gql()?;
        with_hubs(ctx, list).await
    }

    /// A feed the caller manages, by slug; null when there is none (or it is another hub's).
    async fn feed(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<Option<FeedNode>> {
        let s = state(ctx)?;
        match feeds::get_feed(&s.db, &s.actor, &slug).await {
            Ok(f) => Ok(Some(one_with_hub(ctx, f).await?)),
            Err(maillage_sites::SitesError::UnknownFeed(_)) => Ok(None),
            Err(e) => Err(crate::kit::error::to_gql(&e)),
        }
    }

    /// An import job the caller may see (admins: all; a hub coordinator: its hub's feeds'); null otherwise.
    async fn import_job(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<ImportJobNode>> {
        let s = state(ctx)?;
        let id =
            decode_job_id(&id).map_err(|m| crate::kit::error::coded(&m, Code::InvalidId, None))?;
        match jobs::get_job(&s.db, &s.actor, id).await {
            Ok(job) => Ok(with_feeds(ctx, vec![job]).await?.pop()),
            Err(maillage_sites::SitesError::UnknownJob(_)) => Ok(None),
            Err(e) => Err(crate::kit::error::to_gql(&e)),
        }
    }

    /// Import jobs the caller may see, newest first.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn import_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this feed's jobs (slug).")] feed: Option<String>,
        #[graphql(desc = "Only jobs with this status.")] status: Option<ImportJobStatusEnum>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last job of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first job of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<ImportJobConnection> {
        let s = state(ctx)?;
        let page = page_request(ctx, PageArgs::new(first, after, last, before))?;
        let filter = JobFilter {
            feed,
            status: status.map(Into::into),
        };
        // A feed no one has lists no jobs, as an unknown hub in a filter matches no sites.
        let page = match jobs::list_jobs(&s.db, &s.actor, &filter, &page).await {
            Err(maillage_sites::SitesError::UnknownFeed(_)) => maillage_core::pagination::Page {
                items: Vec::new(),
                has_next_page: false,
                has_previous_page: false,
                total_count: page.with_total.then_some(0),
            },
            other => other.gql()?,
        };
        let info = page_info(&page);
        let total_count = page.total_count.map_or(0, int);
        let list = page.items.into_iter().map(|(_, j)| j).collect();
        Ok(ImportJobConnection {
            nodes: with_feeds(ctx, list).await?,
            page_info: info,
            total_count,
        })
    }
}

/// Creates a feed. Admins create national feeds (no `hub`) or any hub's; a hub coordinator its own hub's.
#[derive(InputObject)]
pub struct CreateFeedInput {
    /// Stable key: 1 to 64 lower-case letters, digits or `-`.
    pub slug: String,
    /// Display name (default: the slug).
    pub name: Option<String>,
    /// The `source` of the sites it stores (default: the slug); never changes afterwards.
    pub source: Option<String>,
    /// The owning hub (its global ID, or its slug (e.g. `hinaura`)); a hub coordinator's feeds are always its hub's. Absent for admins: a
    /// national feed.
    pub hub: Option<ID>,
    /// A built-in mapping's name.
    pub mapping: Option<String>,
    /// The feed's own mapping (TOML text).
    pub mapping_toml: Option<String>,
    /// Each file is the whole feed: sites absent from it are archived. Default false (partial files).
    #[graphql(default)]
    pub complete: bool,
    /// The feed's values win over API edits. Default false (edits stand).
    #[graphql(default)]
    pub feed_wins: bool,
    /// Largest share (0 to 1) of a complete feed one file may archive unless forced (default 0.2).
    pub max_archive_share: Option<f64>,
}

/// Changes a feed's name, mapping or policy (its slug, source and hub never change).
#[derive(InputObject)]
pub struct UpdateFeedInput {
    /// The feed's slug.
    pub slug: String,
    /// The version read (`Feed.version`): a stale one is refused with `stale_version`.
    pub version: i32,
    /// New display name.
    pub name: Option<String>,
    /// New built-in mapping; null removes it.
    pub mapping: MaybeUndefined<String>,
    /// New mapping text; null removes it.
    pub mapping_toml: MaybeUndefined<String>,
    /// Complete or partial files.
    pub complete: Option<bool>,
    /// Whether the feed wins over API edits.
    pub feed_wins: Option<bool>,
    /// New archive threshold (0 to 1).
    pub max_archive_share: Option<f64>,
}

/// The result of `createFeed` or `updateFeed`.
#[derive(SimpleObject)]
pub struct FeedPayload {
    /// The feed as it now stands, unless there were user errors.
    pub feed: Option<FeedNode>,
    /// Business errors; empty on success (`invalid_value`, `already_exists`, `not_found`, `stale_version`).
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    FeedPayload {
        /// The feed as it now stands, unless there were user errors.
        feed: Option<FeedNode>,
    }
    /// Result of `createFeed`.
    CreateFeedPayload,
    /// Result of `updateFeed`.
    UpdateFeedPayload,
}

impl FeedPayload {
    async fn from_result(
        ctx: &Context<'_>,
        result: Result<Feed, maillage_sites::SitesError>,
    ) -> async_graphql::Result<Self> {
        match result {
            Ok(feed) => Ok(Self {
                feed: Some(one_with_hub(ctx, feed).await?),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(Self {
                feed: None,
                user_errors: classify(&e)?,
            }),
        }
    }
}

fn maybe<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// `createFeed`, `updateFeed`.
#[derive(Default)]
pub struct FeedsMutation;

#[Object]
impl FeedsMutation {
    /// Creates a feed (admins; hub coordinators for their own hub).
    async fn create_feed(
        &self,
        ctx: &Context<'_>,
        input: CreateFeedInput,
    ) -> async_graphql::Result<CreateFeedPayload> {
        let actor = writer(ctx)?;
        let s = state(ctx)?;
        let hub = match input.hub.as_ref() {
            Some(raw) => match known_hub(ctx, raw).await? {
                Some(h) => Some(h.id),
                None => {
                    return Ok(CreateFeedPayload {
                        feed: None,
                        user_errors: vec![user_error(
                            FieldPath::new("input").push("hub"),
                            Code::UnknownValue,
                            format!("no hub {:?}", raw.as_str()),
                        )],
                    });
                }
            },
            None => None,
        };
        let new = NewFeed {
            slug: input.slug,
            name: input.name.unwrap_or_default(),
            source: input.source,
            hub,
            mapping: input.mapping,
            mapping_toml: input.mapping_toml,
            complete: input.complete,
            feed_wins: input.feed_wins,
            max_archive_share: input.max_archive_share,
        };
        FeedPayload::from_result(ctx, feeds::create_feed(&s.db, &actor, new).await)
            .await
            .map(Into::into)
    }

    /// Changes a feed the caller manages; another hub's feed is `not_found`.
    async fn update_feed(
        &self,
        ctx: &Context<'_>,
        input: UpdateFeedInput,
    ) -> async_graphql::Result<UpdateFeedPayload> {
        let actor = writer(ctx)?;
        let s = state(ctx)?;
        let patch = FeedPatch {
            name: input.name,
            mapping: maybe(input.mapping),
            mapping_toml: maybe(input.mapping_toml),
            complete: input.complete,
            feed_wins: input.feed_wins,
            max_archive_share: input.max_archive_share,
        };
        let result = feeds::update_feed(&s.db, &actor, &input.slug, input.version, patch).await;
        FeedPayload::from_result(ctx, result).await.map(Into::into)
    }
}

/// The feeds with these ids that the caller manages, for `node(id:)`: one statement for all of them.
pub(crate) async fn feeds_for_node(
    ctx: &Context<'_>,
    ids: &[i32],
) -> async_graphql::Result<Vec<(i32, FeedNode)>> {
    let s = state(ctx)?;
    let ids: Vec<feeds::FeedId> = ids.iter().copied().map(feeds::FeedId).collect();
    let list = feeds::feeds_by_ids(&s.db, &s.actor, &ids).await.gql()?;
    Ok(with_hubs(ctx, list)
        .await?
        .into_iter()
        .map(|f| (f.feed.id.0, f))
        .collect())
}
