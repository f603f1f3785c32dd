//! Import jobs: one file sent to a feed, its status, counts and row report.

use super::{FeedNode, int, job_id, one_with_hub};
use crate::kit::connection::{PageArgs, page_request};
use crate::kit::error::IntoGql;
use crate::kit::state;
use async_graphql::ID;
use async_graphql::connection::PageInfo;
use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};
use maillage_core::pagination::Page;
use maillage_sites::feeds::{self, Feed};
use maillage_sites::jobs::{self, ImportJob, JobLine, JobStatus};
use std::collections::HashMap;

/// Where an import job is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ImportJobStatus")]
pub enum ImportJobStatusEnum {
    /// Waiting to start.
    Queued,
    /// Importing.
    Running,
    /// Imported: the counts and the report are final.
    Succeeded,
    /// Nothing stored: the file was refused, the import failed, or the server stopped during it.
    Failed,
}

impl From<JobStatus> for ImportJobStatusEnum {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Queued => Self::Queued,
            JobStatus::Running => Self::Running,
            JobStatus::Succeeded => Self::Succeeded,
            JobStatus::Failed => Self::Failed,
        }
    }
}

impl From<ImportJobStatusEnum> for JobStatus {
    fn from(s: ImportJobStatusEnum) -> Self {
        match s {
            ImportJobStatusEnum::Queued => Self::Queued,
            ImportJobStatusEnum::Running => Self::Running,
            ImportJobStatusEnum::Succeeded => Self::Succeeded,
            ImportJobStatusEnum::Failed => Self::Failed,
        }
    }
}

/// One line of an import job's report: a rejected row, a corrected field, …
#[derive(SimpleObject)]
#[graphql(name = "ImportJobLine")]
pub struct ImportJobLineNode {
    /// Where the row is in the file: `line 3` (CSV, the header is line 1) or `index 2` (JSON array, from 0).
    pub location: String,
    /// The row's id in its source, when it has one.
    pub source_id: Option<String>,
    /// What happened: `rejected` (row not stored) or `corrected` (stored without or with a fixed value).
    pub outcome: String,
    /// The field concerned (column of the national standard).
    pub field: String,
    /// Why, in plain words (`this site is outside the departments you may edit`, …).
    pub reason: String,
    /// The values concerned, as JSON, when the line has them.
    pub detail: Option<String>,
}

impl From<JobLine> for ImportJobLineNode {
    fn from(l: JobLine) -> Self {
        Self {
            location: l.location,
            source_id: l.source_id,
            outcome: l.outcome,
            field: l.field,
            reason: l.reason,
            detail: l.detail,
        }
    }
}

/// A page of report lines, in file order.
#[derive(SimpleObject)]
pub struct ImportJobLineConnection {
    /// The lines.
    pub nodes: Vec<ImportJobLineNode>,
    /// Page position.
    pub page_info: PageInfo,
    /// Number of lines (counted only when selected).
    pub total_count: i32,
}

pub(super) fn page_info<T>(page: &Page<T>) -> PageInfo {
    PageInfo {
        has_next_page: page.has_next_page,
        has_previous_page: page.has_previous_page,
        start_cursor: page.items.first().map(|(c, _)| c.as_str().to_owned()),
        end_cursor: page.items.last().map(|(c, _)| c.as_str().to_owned()),
    }
}

/// One file sent to a feed, imported in the server: status, progress, counts and row report.
pub struct ImportJobNode {
    job: ImportJob,
    feed: Option<Feed>,
}

/// One file sent to a feed, imported in the server: status, progress, counts and row report.
#[Object(name = "ImportJob")]
impl ImportJobNode {
    /// Global ID (opaque); also the `{job}` of `GET /imports/{job}` and `GET /imports/{job}/report.csv`.
    pub async fn id(&self) -> ID {
        job_id(self.job.id)
    }
    /// The feed the file was sent to.
    async fn feed(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<FeedNode>> {
        match &self.feed {
            Some(f) => Ok(Some(one_with_hub(ctx, f.clone()).await?)),
            None => Ok(None),
        }
    }
    /// The file's name as sent.
    async fn file_name(&self) -> &str {
        &self.job.file_name
    }
    /// Status: poll until `SUCCEEDED` or `FAILED`.
    async fn status(&self) -> ImportJobStatusEnum {
        self.job.status.into()
    }
    /// Rows handled so far.
    async fn rows_done(&self) -> i32 {
        int(self.job.rows_done)
    }
    /// Rows in the file, once known.
    async fn rows_total(&self) -> Option<i32> {
        self.job.rows_total.map(int)
    }
    /// Rows stored (created, updated or unchanged).
    async fn stored(&self) -> i32 {
        int(self.job.counts.stored())
    }
    /// New sites.
    async fn created(&self) -> i32 {
        int(self.job.counts.created)
    }
    /// Sites whose content changed.
    async fn updated(&self) -> i32 {
        int(self.job.counts.updated)
    }
    /// Rows identical to what was stored.
    async fn unchanged(&self) -> i32 {
        int(self.job.counts.unchanged)
    }
    /// Rows not stored, each with report lines (rows outside the sender's departments among them).
    async fn rejected(&self) -> i32 {
        int(self.job.counts.rejected)
    }
    /// Stored rows with at least one corrected field.
    async fn corrected(&self) -> i32 {
        int(self.job.counts.corrected)
    }
    /// Why the job failed (nothing was stored then).
    async fn error(&self) -> Option<&str> {
        self.job.error.as_deref()
    }
    /// Who sent the file.
    async fn created_by(&self) -> &str {
        &self.job.created_by
    }
    /// When the file was sent.
    async fn created_at(&self) -> DateTime<Utc> {
        self.job.created_at
    }
    /// When the import started.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.job.started_at
    }
    /// When the job ended.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.job.finished_at
    }
    /// Where to download the whole report as CSV (with the same token).
    async fn report_url(&self) -> String {
        format!("/imports/{}/report.csv", job_id(self.job.id).as_str())
    }
    /// The row report, in file order.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last line of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first line of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<ImportJobLineConnection> {
        let s = state(ctx)?;
        let page = page_request(ctx, PageArgs::new(first, after, last, before))?;
        let page = jobs::job_lines(&s.db, &s.actor, self.job.id, &page)
            .await
            .gql()?;
        Ok(ImportJobLineConnection {
            page_info: page_info(&page),
            total_count: page.total_count.map_or(0, int),
            nodes: page.items.into_iter().map(|(_, l)| l.into()).collect(),
        })
    }
}

/// A page of import jobs, newest first.
#[derive(SimpleObject)]
pub struct ImportJobConnection {
    /// The jobs.
    pub nodes: Vec<ImportJobNode>,
    /// Page position.
    pub page_info: PageInfo,
    /// Number of matching jobs (counted only when selected).
    pub total_count: i32,
}

/// Jobs with their feeds, read in one statement for the whole list.
pub(crate) async fn with_feeds(
    ctx: &Context<'_>,
    list: Vec<ImportJob>,
) -> async_graphql::Result<Vec<ImportJobNode>> {
    let s = state(ctx)?;
    let mut ids: Vec<feeds::FeedId> = list.iter().map(|j| j.feed).collect();
    ids.sort_unstable();
    ids.dedup();
    let by_id: HashMap<feeds::FeedId, Feed> = feeds::feeds_by_ids(&s.db, &s.actor, &ids)
        .await
        .gql()?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
    Ok(list
        .into_iter()
        .map(|job| {
            let feed = by_id.get(&job.feed).cloned();
            ImportJobNode { job, feed }
        })
        .collect())
}

/// The import jobs with these ids that the caller may see, for `node(id:)` (one look-up per job; `nodes` takes at
/// most 100 IDs).
pub(crate) async fn jobs_for_node(
    ctx: &Context<'_>,
    ids: &[i32],
) -> async_graphql::Result<Vec<(i32, ImportJobNode)>> {
    let s = state(ctx)?;
    let mut found = Vec::new();
    for id in ids {
        match jobs::get_job(&s.db, &s.actor, maillage_sites::jobs::JobId(*id)).await {
            Ok(job) => found.push(job),
            Err(maillage_sites::SitesError::UnknownJob(_)) => {}
            Err(e) => return Err(crate::kit::error::to_gql(&e)),
        }
    }
    Ok(with_feeds(ctx, found)
        .await?
        .into_iter()
        .map(|j| (j.job.id.0, j))
        .collect())
}
