//! Reviews: one score sheet per reviewer per dossier, scores within each criterion's scale, a comment; declared
//! conflicts of interest; per-dossier summaries.
//!
//! A sheet's score is the weighted mean of its criteria, each score divided by its maximum, on a 0–100 scale.
//! A dossier's summary is the mean of its sheets' scores, their **spread** (highest minus lowest sheet score, on
//! the same scale) and their number. Sheets of reviewers who declared a conflict after scoring are kept for the
//! record but left out of the summary.
//!
//! Applicants never see sheets. They see their dossier's summary once it is decided (selected or rejected), never
//! before; individual sheets, reviewers' names and comments stay with the BdT.

use crate::AmiError;
use crate::access::{identity, require_reviewer};
use crate::applications::load_visible;
use crate::campaigns::load_campaign;
use crate::entity::{conflict, score, score_sheet};
use crate::model::{
    Application, ApplicationId, Campaign, ConflictOfInterest, Score, ScoreSheet, ScoreSheetId,
    ScoreSummary,
};
use crate::state::Party;
use chrono::Utc;
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Actor;
use maillage_core::Code;
use maillage_core::error::FieldPath;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use std::collections::{HashMap, HashSet};

const MAX_COMMENT: usize = 20_000;

/// A reviewer's scores and comment, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreSheetInput {
    /// One score per criterion of the campaign's grid (by criterion code), in any order.
    pub scores: Vec<Score>,
    /// Free comment.
    pub comment: Option<String>,
}

/// Checks the scores against the grid and returns (criterion id, score) pairs plus the sheet's weighted score.
fn check_scores(
    campaign: &Campaign,
    input: &ScoreSheetInput,
) -> Result<(Vec<(i32, i32)>, f64), AmiError> {
    let f = |i: usize| FieldPath::new("input").push("scores").index(i);
    let mut pairs = Vec::with_capacity(campaign.criteria.len());
    let mut seen = HashSet::new();
    for (i, s) in input.scores.iter().enumerate() {
        let Some(c) = campaign
            .criteria
            .iter()
            .find(|c| c.code == s.criterion.trim())
        else {
            return Err(AmiError::invalid(
                f(i).push("criterion"),
                Code::UnknownValue,
                format!("no criterion {:?} in this campaign's grid", s.criterion),
            ));
        };
        if !seen.insert(c.id) {
            return Err(AmiError::invalid(
                f(i).push("criterion"),
                Code::InvalidValue,
                format!("criterion {:?} is scored twice", c.code),
            ));
        }
        if !(0..=c.max_score).contains(&s.score) {
            return Err(AmiError::invalid(
                f(i).push("score"),
                Code::InvalidValue,
                format!("{} is scored from 0 to {}", c.code, c.max_score),
            ));
        }
        pairs.push((c.id.0, s.score));
    }
    if let Some(missing) = campaign.criteria.iter().find(|c| !seen.contains(&c.id)) {
        return Err(AmiError::invalid(
            FieldPath::new("input").push("scores"),
            Code::InvalidValue,
            format!(
                "criterion {:?} is not scored: score every criterion",
                missing.code
            ),
        ));
    }
    if let Some(c) = &input.comment
        && c.chars().count() > MAX_COMMENT
    {
        return Err(AmiError::invalid(
            FieldPath::new("input").push("comment"),
            Code::InvalidValue,
            format!("a comment has at most {MAX_COMMENT} characters"),
        ));
    }
    Ok((pairs.clone(), weighted(campaign, &pairs)))
}

/// The weighted mean of (criterion id, score) pairs on a 0–100 scale.
pub(crate) fn weighted(campaign: &Campaign, pairs: &[(i32, i32)]) -> f64 {
    let mut total = 0.0;
    let mut weights = 0.0;
    for (criterion, s) in pairs {
        if let Some(c) = campaign.criteria.iter().find(|c| c.id.0 == *criterion) {
            total += f64::from(c.weight) * f64::from(*s) / f64::from(c.max_score);
            weights += f64::from(c.weight);
        }
    }
    if weights > 0.0 {
        total / weights * 100.0
    } else {
        0.0
    }
}

/// The summary of a set of sheet scores.
pub(crate) fn summarize(application_id: ApplicationId, sheet_scores: &[f64]) -> ScoreSummary {
    let n = sheet_scores.len();
    let (mean, spread) = if n == 0 {
        (None, None)
    } else {
        let sum: f64 = sheet_scores.iter().sum();
        let max = sheet_scores.iter().copied().fold(f64::MIN, f64::max);
        let min = sheet_scores.iter().copied().fold(f64::MAX, f64::min);
        (Some(sum / n as f64), Some(max - min))
    };
    ScoreSummary {
        application_id,
        reviews: u32::try_from(n).unwrap_or(u32::MAX),
        weighted_mean: mean,
        spread,
    }
}

async fn has_conflict<C: ConnectionTrait>(
    db: &C,
    application: ApplicationId,
    reviewer: &str,
) -> Result<bool, AmiError> {
    Ok(
        conflict::Entity::find_by_id((application.0, reviewer.to_owned()))
            .one(db)
            .await?
            .is_some(),
    )
}

/// Loads a dossier a reviewer may score now: visible, under review, no conflict declared by this reviewer.
async fn scorable<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    id: ApplicationId,
) -> Result<(Application, Campaign), AmiError> {
    let app = load_visible(txn, actor, id).await?;
    if !app.status.is_scorable() {
        return Err(AmiError::NotScorable(app.status));
    }
    if has_conflict(txn, id, identity(actor)).await? {
        return Err(AmiError::ConflictOfInterest(id.0));
    }
    let campaign = load_campaign(txn, app.campaign_id).await?;
    Ok((app, campaign))
}

async fn sheets_of<C: ConnectionTrait>(
    db: &C,
    rows: Vec<score_sheet::Model>,
    campaigns: &HashMap<i32, Campaign>,
    campaign_of: &HashMap<i32, i32>,
) -> Result<Vec<ScoreSheet>, AmiError> {
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let mut scores: HashMap<i32, Vec<(i32, i32)>> = HashMap::new();
    if !ids.is_empty() {
        for s in score::Entity::find()
            .filter(score::Column::SheetId.is_in(ids))
            .all(db)
            .await?
        {
            scores
                .entry(s.sheet_id)
                .or_default()
                .push((s.criterion_id, s.score));
        }
    }
    Ok(rows
        .into_iter()
        .map(|m| {
            let campaign = campaign_of
                .get(&m.application_id)
                .and_then(|c| campaigns.get(c));
            let pairs = scores.remove(&m.id).unwrap_or_default();
            let mut named: Vec<(i32, Score)> = pairs
                .iter()
                .filter_map(|(criterion, s)| {
                    let c = campaign?.criteria.iter().find(|c| c.id.0 == *criterion)?;
                    Some((
                        c.position,
                        Score {
                            criterion: c.code.clone(),
                            score: *s,
                        },
                    ))
                })
                .collect();
            named.sort_by_key(|(p, _)| *p);
            ScoreSheet {
                id: ScoreSheetId(m.id),
                application_id: ApplicationId(m.application_id),
                reviewer: m.reviewer,
                scores: named.into_iter().map(|(_, s)| s).collect(),
                comment: m.comment,
                weighted: m.weighted,
                version: m.version,
                created_at: m.created_at,
                updated_at: m.updated_at,
            }
        })
        .collect())
}

async fn load_sheet<C: ConnectionTrait>(
    db: &C,
    app: &Application,
    campaign: &Campaign,
    id: i32,
) -> Result<ScoreSheet, AmiError> {
    let row = score_sheet::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AmiError::NotFound {
            entity: "score sheet",
            id,
        })?;
    let campaigns = HashMap::from([(campaign.id.0, campaign.clone())]);
    let campaign_of = HashMap::from([(app.id.0, campaign.id.0)]);
    sheets_of(db, vec![row], &campaigns, &campaign_of)
        .await?
        .into_iter()
        .next()
        .ok_or(AmiError::NotFound {
            entity: "score sheet",
            id,
        })
}

/// Records the caller's score sheet on a dossier under review (reviewers, admins). A second sheet by the same
/// reviewer is `already_reviewed` (the unique constraint decides, so two racing submissions cannot both pass);
/// a declared conflict of interest is `conflict_of_interest`.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn submit_score_sheet(
    db: &DatabaseConnection,
    actor: &Actor,
    id: ApplicationId,
    input: ScoreSheetInput,
) -> Result<ScoreSheet, AmiError> {
    require_reviewer(actor)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let (app, campaign) = scorable(&txn, actor, id).await?;
    let (pairs, weighted) = check_scores(&campaign, &input)?;
    let reviewer = identity(actor).to_owned();
    let comment = input
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let now = Utc::now();
    let m = score_sheet::ActiveModel {
        application_id: Set(id.0),
        reviewer: Set(reviewer.clone()),
        comment: Set(comment),
        weighted: Set(weighted),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        if maillage_core::db::is_unique_violation(&e) {
            AmiError::AlreadyReviewed {
                application: id.0,
                reviewer: reviewer.clone(),
            }
        } else {
            e.into()
        }
    })?;
    insert_scores(&txn, m.id, &pairs).await?;
    let mut changes = AuditChanges::new();
    changes.created("application_id", &id.0);
    changes.created("reviewer", &reviewer);
    changes.created("scores", &input.scores);
    changes.created("weighted", &weighted);
    record(
        &txn,
        actor,
        AuditEntry::new("ami_score_sheet", m.id.to_string(), "create", changes),
    )
    .await?;
    let sheet = load_sheet(&txn, &app, &campaign, m.id).await?;
    txn.commit().await?;
    Ok(sheet)
}

async fn insert_scores<C: ConnectionTrait>(
    txn: &C,
    sheet: i32,
    pairs: &[(i32, i32)],
) -> Result<(), AmiError> {
    if pairs.is_empty() {
        return Ok(());
    }
    score::Entity::insert_many(pairs.iter().map(|(criterion, s)| score::ActiveModel {
        sheet_id: Set(sheet),
        criterion_id: Set(*criterion),
        score: Set(*s),
    }))
    .exec(txn)
    .await?;
    Ok(())
}

/// Replaces the scores and comment of the caller's own sheet (its reviewer only), while the dossier is under
/// review; `stale_version` when the sheet changed since `version`.
#[tracing::instrument(skip_all, fields(score_sheet.id = %id))]
pub async fn update_score_sheet(
    db: &DatabaseConnection,
    actor: &Actor,
    id: ScoreSheetId,
    version: i32,
    input: ScoreSheetInput,
) -> Result<ScoreSheet, AmiError> {
    require_reviewer(actor)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let old = score_sheet::Entity::find_by_id(id.0)
        .one(&txn)
        .await?
        .ok_or(AmiError::NotFound {
            entity: "score sheet",
            id: id.0,
        })?;
    if old.reviewer != identity(actor) {
        return Err(AmiError::Forbidden(
            "only its reviewer changes a score sheet".to_owned(),
        ));
    }
    let (app, campaign) = scorable(&txn, actor, ApplicationId(old.application_id)).await?;
    let before = load_sheet(&txn, &app, &campaign, id.0).await?;
    let (pairs, weighted) = check_scores(&campaign, &input)?;
    let comment = input
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    if old.version != version {
        return Err(AmiError::StaleVersion {
            entity: "score sheet",
            id: id.0,
            expected: version,
            actual: old.version,
        });
    }
    let updated = score_sheet::Entity::update_many()
        .col_expr(score_sheet::Column::Comment, Expr::value(comment.clone()))
        .col_expr(score_sheet::Column::Weighted, Expr::value(weighted))
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            score_sheet::Column::Version,
            Expr::col(score_sheet::Column::Version).add(1),
        )
        .col_expr(score_sheet::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(score_sheet::Column::Id.eq(id.0))
        .filter(score_sheet::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(crate::applications::raced::<score_sheet::Entity, _>(
            &txn,
            "score sheet",
            (score_sheet::Column::Id, score_sheet::Column::Version),
            id.0,
            version,
        )
        .await?);
    }
    score::Entity::delete_many()
        .filter(score::Column::SheetId.eq(id.0))
        .exec(&txn)
        .await?;
    insert_scores(&txn, id.0, &pairs).await?;
    let mut changes = AuditChanges::new();
    changes.changed("scores", &before.scores, &input.scores);
    changes.changed("weighted", &before.weighted, &weighted);
    changes.changed("comment", &before.comment, &comment);
    record(
        &txn,
        actor,
        AuditEntry::new("ami_score_sheet", id.to_string(), "update", changes),
    )
    .await?;
    let sheet = load_sheet(&txn, &app, &campaign, id.0).await?;
    txn.commit().await?;
    Ok(sheet)
}

/// Declares the caller's conflict of interest on a dossier (reviewers, admins): from then on it may not score
/// it, and a sheet it gave before is left out of the summary. Declaring twice keeps the first declaration.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn declare_conflict(
    db: &DatabaseConnection,
    actor: &Actor,
    id: ApplicationId,
    reason: Option<&str>,
) -> Result<ConflictOfInterest, AmiError> {
    require_reviewer(actor)?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_COMMENT) {
        return Err(AmiError::invalid(
            FieldPath::new("input").push("reason"),
            Code::InvalidValue,
            format!("a reason has at most {MAX_COMMENT} characters"),
        ));
    }
    let reviewer = identity(actor).to_owned();
    let txn = maillage_core::db::begin_write(db).await?;
    load_visible(&txn, actor, id).await?;
    if let Some(existing) = conflict::Entity::find_by_id((id.0, reviewer.clone()))
        .one(&txn)
        .await?
    {
        return Ok(conflict_from(existing));
    }
    let m = conflict::ActiveModel {
        application_id: Set(id.0),
        reviewer: Set(reviewer.clone()),
        reason: Set(reason.map(str::to_owned)),
        declared_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    let mut changes = AuditChanges::new();
    changes.created("reviewer", &reviewer);
    changes.created("reason", &m.reason);
    record(
        &txn,
        actor,
        AuditEntry::new(
            "ami_application",
            id.to_string(),
            "declare_conflict",
            changes,
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(conflict_from(m))
}

fn conflict_from(m: conflict::Model) -> ConflictOfInterest {
    ConflictOfInterest {
        application_id: ApplicationId(m.application_id),
        reviewer: m.reviewer,
        reason: m.reason,
        declared_at: m.declared_at,
    }
}

/// The conflicts declared on a dossier (reviewers, admins).
pub async fn list_conflicts<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: ApplicationId,
) -> Result<Vec<ConflictOfInterest>, AmiError> {
    require_reviewer(actor)?;
    load_visible(db, actor, id).await?;
    Ok(conflict::Entity::find()
        .filter(conflict::Column::ApplicationId.eq(id.0))
        .order_by_asc(conflict::Column::DeclaredAt)
        .all(db)
        .await?
        .into_iter()
        .map(conflict_from)
        .collect())
}

/// The score sheets of a dossier (reviewers and admins only: applicants never see sheets).
pub async fn list_score_sheets<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: ApplicationId,
) -> Result<Vec<ScoreSheet>, AmiError> {
    require_reviewer(actor)?;
    let app = load_visible(db, actor, id).await?;
    let campaign = load_campaign(db, app.campaign_id).await?;
    let rows = score_sheet::Entity::find()
        .filter(score_sheet::Column::ApplicationId.eq(id.0))
        .order_by_asc(score_sheet::Column::Id)
        .all(db)
        .await?;
    let campaigns = HashMap::from([(campaign.id.0, campaign.clone())]);
    let campaign_of = HashMap::from([(app.id.0, campaign.id.0)]);
    sheets_of(db, rows, &campaigns, &campaign_of).await
}

/// The dossiers among `ids` that `actor` may see, each mapped to an empty list (reviewers and admins only), for the
/// batch reads below.
async fn visible_for_review<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    ids: &[ApplicationId],
) -> Result<Vec<Application>, AmiError> {
    require_reviewer(actor)?;
    Ok(crate::applications::load_many(db, ids)
        .await?
        .into_iter()
        .filter(|a| crate::access::can_see(actor, &a.owner, a.submitted_at.is_some()))
        .collect())
}

/// The score sheets of several dossiers at once (for a page of dossiers: a fixed number of statements whatever
/// their number), with the same rule as [`list_score_sheets`]: reviewers and admins only; dossiers the caller cannot
/// see are absent, a visible dossier without sheets maps to an empty list.
pub async fn score_sheets_of<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    ids: &[ApplicationId],
) -> Result<HashMap<ApplicationId, Vec<ScoreSheet>>, AmiError> {
    let apps = visible_for_review(db, actor, ids).await?;
    let mut out: HashMap<ApplicationId, Vec<ScoreSheet>> =
        apps.iter().map(|a| (a.id, Vec::new())).collect();
    if apps.is_empty() {
        return Ok(out);
    }
    let campaigns: HashMap<i32, Campaign> = crate::campaigns::list_campaigns(db)
        .await?
        .into_iter()
        .map(|c| (c.id.0, c))
        .collect();
    for sheet in sheets_of_applications(db, &apps, &campaigns).await? {
        if let Some(list) = out.get_mut(&sheet.application_id) {
            list.push(sheet);
        }
    }
    Ok(out)
}

/// The conflicts declared on several dossiers at once, with the same rule as [`list_conflicts`]: reviewers and
/// admins only; dossiers the caller cannot see are absent, a visible dossier without conflicts maps to an empty list.
pub async fn conflicts_of<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    ids: &[ApplicationId],
) -> Result<HashMap<ApplicationId, Vec<ConflictOfInterest>>, AmiError> {
    let apps = visible_for_review(db, actor, ids).await?;
    let mut out: HashMap<ApplicationId, Vec<ConflictOfInterest>> =
        apps.iter().map(|a| (a.id, Vec::new())).collect();
    if apps.is_empty() {
        return Ok(out);
    }
    let rows = conflict::Entity::find()
        .filter(conflict::Column::ApplicationId.is_in(apps.iter().map(|a| a.id.0)))
        .order_by_asc(conflict::Column::DeclaredAt)
        .all(db)
        .await?;
    for m in rows {
        if let Some(list) = out.get_mut(&ApplicationId(m.application_id)) {
            list.push(conflict_from(m));
        }
    }
    Ok(out)
}

/// The sheets of these dossiers (two statements whatever their number), without authorization (callers check).
pub(crate) async fn sheets_of_applications<C: ConnectionTrait>(
    db: &C,
    apps: &[Application],
    campaigns: &HashMap<i32, Campaign>,
) -> Result<Vec<ScoreSheet>, AmiError> {
    if apps.is_empty() {
        return Ok(Vec::new());
    }
    let rows = score_sheet::Entity::find()
        .filter(score_sheet::Column::ApplicationId.is_in(apps.iter().map(|a| a.id.0)))
        .order_by_asc(score_sheet::Column::ApplicationId)
        .order_by_asc(score_sheet::Column::Id)
        .all(db)
        .await?;
    let campaign_of: HashMap<i32, i32> = apps.iter().map(|a| (a.id.0, a.campaign_id.0)).collect();
    sheets_of(db, rows, campaigns, &campaign_of).await
}

/// The summaries of these dossiers, in two statements, without authorization (callers filter).
pub(crate) async fn summaries<C: ConnectionTrait>(
    db: &C,
    ids: &[ApplicationId],
) -> Result<HashMap<ApplicationId, ScoreSummary>, AmiError> {
    let raw: Vec<i32> = ids.iter().map(|i| i.0).collect();
    let mut by_app: HashMap<i32, Vec<(String, f64)>> = HashMap::new();
    let mut conflicts: HashSet<(i32, String)> = HashSet::new();
    if !raw.is_empty() {
        for s in score_sheet::Entity::find()
            .filter(score_sheet::Column::ApplicationId.is_in(raw.clone()))
            .all(db)
            .await?
        {
            by_app
                .entry(s.application_id)
                .or_default()
                .push((s.reviewer, s.weighted));
        }
        for c in conflict::Entity::find()
            .filter(conflict::Column::ApplicationId.is_in(raw))
            .all(db)
            .await?
        {
            conflicts.insert((c.application_id, c.reviewer));
        }
    }
    Ok(ids
        .iter()
        .map(|id| {
            let scores: Vec<f64> = by_app
                .get(&id.0)
                .map(|sheets| {
                    sheets
                        .iter()
                        .filter(|(r, _)| !conflicts.contains(&(id.0, r.clone())))
                        .map(|(_, w)| *w)
                        .collect()
                })
                .unwrap_or_default();
            (*id, summarize(*id, &scores))
        })
        .collect())
}

/// Whether `actor` may see the score summary of `app`: reviewers and admins always; its applicant once decided.
pub fn can_see_summary(actor: &Actor, app: &Application) -> bool {
    match crate::access::party(actor, &app.owner) {
        Some(Party::Reviewer | Party::Admin) => true,
        Some(Party::Applicant) => app.status.is_decided(),
        None => false,
    }
}

/// A dossier's score summary, or `None` when the caller may not see it yet (its applicant, before the decision).
pub async fn score_summary<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: ApplicationId,
) -> Result<Option<ScoreSummary>, AmiError> {
    let app = load_visible(db, actor, id).await?;
    if !can_see_summary(actor, &app) {
        return Ok(None);
    }
    Ok(summaries(db, &[id]).await?.remove(&id))
}

/// The summaries of several dossiers at once (for DataLoaders), keeping only those the caller may see: dossiers
/// it cannot see and, for applicants, undecided ones are absent from the map.
pub async fn score_summaries<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    ids: &[ApplicationId],
) -> Result<HashMap<ApplicationId, ScoreSummary>, AmiError> {
    crate::access::require_participant(actor)?;
    let apps = crate::applications::load_many(db, ids).await?;
    let visible: Vec<ApplicationId> = apps
        .iter()
        .filter(|a| {
            crate::access::can_see(actor, &a.owner, a.submitted_at.is_some())
                && can_see_summary(actor, a)
        })
        .map(|a| a.id)
        .collect();
    summaries(db, &visible).await
}
