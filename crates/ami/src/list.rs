//! Lists of dossiers per caller, with filters and sort by score.
//!
//! Applicants list only their own dossiers (and never see scores before the decision); reviewers list every
//! dossier submitted at least once; admins every dossier. A campaign has at most a few hundred dossiers, so the
//! matching rows are filtered in SQL, then sorted by score and cut into pages in Rust, with keyset cursors
//! `(score, id)` that stay stable while dossiers are added.

use crate::AmiError;
use crate::access::{identity, require_participant};
use crate::applications::assemble;
use crate::entity::{application, application_department};
use crate::model::{Application, ApplicationId, CampaignId, ScoreSummary};
use crate::reviews::{can_see_summary, summaries};
use crate::state::Status;
use maillage_core::pagination::{Cursor, Page, PageRequest};
use maillage_core::sync::SyncOptions;
use maillage_core::{Actor, DepartmentCode, RegionCode, Role};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationFilter {
    /// Only this campaign.
    pub campaign: Option<CampaignId>,
    /// Only these statuses.
    pub statuses: Option<Vec<Status>>,
    /// Only dossiers covering at least one department of these regions.
    pub regions: Option<Vec<RegionCode>>,
    /// Only dossiers covering at least one of these departments.
    pub departments: Option<Vec<DepartmentCode>>,
    /// Only dossiers with (or without) QPV work.
    pub qpv: Option<bool>,
    /// Only dossiers with (or without) Action Cœur de Ville work.
    pub acv: Option<bool>,
}

/// The order of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApplicationOrder {
    /// Oldest first (by id).
    #[default]
    Id,
    /// Best weighted mean first; unscored dossiers last, then by id. For applicants, scores they may not see
    /// count as unscored.
    ScoreDesc,
    /// Lowest weighted mean first; unscored dossiers last, then by id.
    ScoreAsc,
}

/// A dossier as listed, with its score summary when the caller may see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedApplication {
    /// The dossier.
    pub application: Application,
    /// Its score summary: `None` when the caller may not see it (an applicant before the decision).
    pub score: Option<ScoreSummary>,
}

/// Loads every dossier the caller may see that matches `filter`, with the summaries it may see, by id.
pub(crate) async fn matching<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    filter: &ApplicationFilter,
) -> Result<Vec<ListedApplication>, AmiError> {
    require_participant(actor)?;
    let mut q = application::Entity::find();
    match actor.role() {
        Role::AmiApplicant => q = q.filter(application::Column::Owner.eq(identity(actor))),
        Role::Admin => {}
        _ => q = q.filter(application::Column::SubmittedAt.is_not_null()),
    }
    if let Some(c) = filter.campaign {
        q = q.filter(application::Column::CampaignId.eq(c.0));
    }
    if let Some(s) = &filter.statuses {
        q = q.filter(application::Column::Status.is_in(s.iter().map(|s| s.as_str())));
    }
    if let Some(qpv) = filter.qpv {
        q = q.filter(application::Column::Qpv.eq(qpv));
    }
    if let Some(acv) = filter.acv {
        q = q.filter(application::Column::Acv.eq(acv));
    }
    let mut departments: Option<Vec<String>> = filter
        .departments
        .as_ref()
        .map(|d| d.iter().map(|c| c.as_str().to_owned()).collect());
    if let Some(regions) = &filter.regions {
        let in_regions: Vec<String> = maillage_territories::departments_of_regions(db, regions)
            .await?
            .into_iter()
            .map(|d| d.code.as_str().to_owned())
            .collect();
        departments = Some(match departments {
            // Both filters: the departments asked for that lie in the regions asked for.
            Some(d) => d.into_iter().filter(|c| in_regions.contains(c)).collect(),
            None => in_regions,
        });
    }
    if let Some(d) = departments {
        q = q.filter(
            Condition::all().add(
                application::Column::Id.in_subquery(
                    Query::select()
                        .column(application_department::Column::ApplicationId)
                        .from(application_department::Entity)
                        .and_where(application_department::Column::DepartmentCode.is_in(d))
                        .to_owned(),
                ),
            ),
        );
    }
    let rows = q.order_by_asc(application::Column::Id).all(db).await?;
    let apps = assemble(db, rows).await?;
    let visible: Vec<ApplicationId> = apps
        .iter()
        .filter(|a| can_see_summary(actor, a))
        .map(|a| a.id)
        .collect();
    let mut scores = summaries(db, &visible).await?;
    Ok(apps
        .into_iter()
        .map(|a| {
            let score = scores.remove(&a.id);
            ListedApplication {
                application: a,
                score,
            }
        })
        .collect())
}

/// The sort key of a listed dossier: (unscored last, score in millionths, id).
fn sort_key(item: &ListedApplication, order: ApplicationOrder) -> (bool, i64, i32) {
    let id = item.application.id.0;
    let score = item
        .score
        .as_ref()
        .and_then(|s| s.weighted_mean)
        // Millionths of a point: exact enough to order, and an integer survives the cursor's JSON unchanged.
        .map(|m| (m * 1_000_000.0).round() as i64);
    match (order, score) {
        (ApplicationOrder::Id, _) => (false, 0, id),
        (_, None) => (true, 0, id),
        (ApplicationOrder::ScoreDesc, Some(s)) => (false, -s, id),
        (ApplicationOrder::ScoreAsc, Some(s)) => (false, s, id),
    }
}

/// Dossiers the caller may see, filtered, sorted and paginated.
pub async fn list_applications<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    filter: &ApplicationFilter,
    order: ApplicationOrder,
    page: &PageRequest,
) -> Result<Page<ListedApplication>, AmiError> {
    let items = matching(db, actor, filter).await?;
    sorted_page(items, order, page)
}

/// Dossiers the caller may see, filtered by `filter` and `sync` (`updatedSince`), in `sync`'s `(updated_at, id)`
/// order when it asks for it, else in `order`.
pub async fn list_applications_synced<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    filter: &ApplicationFilter,
    order: ApplicationOrder,
    sync: &SyncOptions,
    page: &PageRequest,
) -> Result<Page<ListedApplication>, AmiError> {
    let mut items = matching(db, actor, filter).await?;
    if let Some(since) = sync.updated_since {
        items.retain(|i| i.application.updated_at >= since);
    }
    if !sync.by_updated_at {
        return sorted_page(items, order, page);
    }
    let total = page.with_total.then_some(items.len() as u64);
    let key = |i: &ListedApplication| (i.application.updated_at, i.application.id.0);
    let scan = sync.scan(page);
    scan.sort(&mut items, key);
    if let Some(after) = &page.after {
        let mut kept = Vec::with_capacity(items.len());
        for i in items {
            let (at, id) = key(&i);
            if scan.is_after(at, id, after)? {
                kept.push(i);
            }
        }
        items = kept;
    }
    items.truncate(page.first as usize + 1);
    Ok(Page::from_rows(items, page, total, |i| {
        sync.cursor(i.application.updated_at, i.application.id.0)
    }))
}

fn sorted_page(
    mut items: Vec<ListedApplication>,
    order: ApplicationOrder,
    page: &PageRequest,
) -> Result<Page<ListedApplication>, AmiError> {
    let total = page.with_total.then_some(items.len() as u64);
    items.sort_by_key(|i| sort_key(i, order));
    if page.backward {
        // Scanned from the end; `Page::from_rows` puts the page back in order.
        items.reverse();
    }
    if let Some(after) = &page.after {
        let key: (bool, i64, i32) = after.decode()?;
        items.retain(|i| {
            let k = sort_key(i, order);
            if page.backward { k < key } else { k > key }
        });
    }
    items.truncate(page.first as usize + 1);
    Ok(Page::from_rows(items, page, total, |i| {
        Cursor::encode(&sort_key(i, order))
    }))
}
