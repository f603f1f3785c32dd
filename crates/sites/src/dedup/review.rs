//! Review of candidate pairs by hub coordinators: list, confirm, reject, split a cluster.
//!
//! Authorization lives here: admins and BdT staff see every pair; a hub coordinator sees the pairs with a record
//! in its departments and decides those whose two records are both in its departments (a decision changes what is
//! published for both).

use super::canonical::{join, recluster, records};
use super::entity::site_match;
use super::matching::Reason;
use super::{CANONICAL_SOURCE, MatchStatus};
use crate::SitesError;
use crate::entity::site;
use crate::query::{Site, hydrate};
use chrono::{DateTime, Utc};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::pagination::{Cursor, Page, PageRequest};
use maillage_core::{Actor, DepartmentCode, Role, SiteId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;

/// A stored candidate pair.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteMatch {
    /// Its id.
    pub id: i32,
    /// The source record with the smaller id.
    pub a: SiteId,
    /// The other source record.
    pub b: SiteId,
    /// In [0, 1].
    pub score: f64,
    /// Why the records look like one place.
    pub reasons: Vec<Reason>,
    /// Where it stands.
    pub status: MatchStatus,
    /// Who decided (`dedup` for auto-confirmations).
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// When it was first found.
    pub created_at: DateTime<Utc>,
}

/// A pair with both records side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteMatchView {
    /// The pair.
    pub site_match: SiteMatch,
    /// Record `a` as stored in its source.
    pub a: Site,
    /// Record `b`.
    pub b: Site,
}

/// Criteria on pairs (all given must hold).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MatchFilter {
    /// Only pairs in this status.
    pub status: Option<MatchStatus>,
    /// Only pairs scoring at least this much.
    pub min_score: Option<f64>,
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchDecision {
    /// The pair after the decision.
    pub site_match: SiteMatch,
    /// The canonical site both records now belong to (after a confirmation).
    pub canonical: Option<SiteId>,
    /// Source records served on their own again (after a rejection of a confirmed pair).
    pub restored: Vec<SiteId>,
}

fn from_model(m: site_match::Model) -> Result<SiteMatch, SitesError> {
    let status = MatchStatus::parse(&m.status).ok_or_else(|| SitesError::CorruptRow {
        id: m.id,
        detail: format!("site_match status {:?}", m.status),
    })?;
    Ok(SiteMatch {
        id: m.id,
        a: SiteId(m.site_a),
        b: SiteId(m.site_b),
        score: m.score,
        reasons: serde_json::from_str(&m.reasons).unwrap_or_default(),
        status,
        decided_by: m.decided_by,
        decided_at: m.decided_at,
        created_at: m.created_at,
    })
}

/// The pairs `actor` may see, as a condition.
fn visible(actor: &Actor) -> Result<Condition, SitesError> {
    match actor.role() {
        Role::Admin | Role::BdtReviewer => Ok(Condition::all()),
        Role::HubCoordinator => {
            let deps: Vec<String> = actor
                .hub_scope()
                .map(|s| {
                    s.departments
                        .iter()
                        .map(|d| d.as_str().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            Ok(Condition::any()
                .add(site_match::Column::DepartmentA.is_in(deps.clone()))
                .add(site_match::Column::DepartmentB.is_in(deps)))
        }
        role => Err(SitesError::Forbidden(format!(
            "the role {role} may not review duplicates"
        ))),
    }
}

fn may_decide(actor: &Actor, m: &site_match::Model) -> Result<(), SitesError> {
    let dep = |d: &Option<String>| d.as_deref().and_then(|d| DepartmentCode::parse(d).ok());
    let ok = match actor.role() {
        Role::Admin => true,
        Role::HubCoordinator => {
            actor.covers_department(dep(&m.department_a).as_ref())
                && actor.covers_department(dep(&m.department_b).as_ref())
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(SitesError::Forbidden(
            "this pair has a record outside the departments you may edit".to_owned(),
        ))
    }
}

/// One page of the pairs `actor` may see, best score first (ties by id), each with both records.
#[tracing::instrument(skip_all)]
pub async fn list_site_matches<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    filter: &MatchFilter,
    page: &PageRequest,
) -> Result<Page<SiteMatchView>, SitesError> {
    let mut cond = Condition::all().add(visible(actor)?);
    if let Some(status) = filter.status {
        cond = cond.add(site_match::Column::Status.eq(status.as_str()));
    }
    if let Some(min) = filter.min_score {
        cond = cond.add(site_match::Column::Score.gte(min));
    }
    let total = if page.with_total {
        Some(
            site_match::Entity::find()
                .filter(cond.clone())
                .count(db)
                .await?,
        )
    } else {
        None
    };
    let mut query_cond = cond;
    if let Some(after) = &page.after {
        let (milli, id): (i64, i32) = after.decode()?;
        // Scores are stored rounded to thousandths, so this is the stored value exactly.
        let score = milli as f64 / 1000.0;
        query_cond = query_cond.add(
            Condition::any()
                .add(page.past(site_match::Column::Score, false, score))
                .add(
                    Condition::all()
                        .add(site_match::Column::Score.eq(score))
                        .add(page.past(site_match::Column::Id, true, id)),
                ),
        );
    }
    let rows = maillage_core::db::page_rows(
        db,
        site_match::Entity::find()
            .filter(query_cond)
            .order_by(site_match::Column::Score, page.order(false))
            .order_by(site_match::Column::Id, page.order(true))
            .limit(u64::from(page.first) + 1),
    )
    .await?;
    let mut ids: Vec<i32> = rows.iter().flat_map(|m| [m.site_a, m.site_b]).collect();
    ids.sort_unstable();
    ids.dedup();
    let sites = site::Entity::find()
        .filter(site::Column::Id.is_in(ids))
        .all(db)
        .await?;
    let mut by_id: HashMap<i32, Site> = hydrate(db, sites)
        .await?
        .into_iter()
        .map(|s| (s.id.0, s))
        .collect();
    let mut views = Vec::with_capacity(rows.len());
    for m in rows {
        let (Some(a), Some(b)) = (by_id.get(&m.site_a).cloned(), by_id.get(&m.site_b).cloned())
        else {
            continue;
        };
        views.push(SiteMatchView {
            site_match: from_model(m)?,
            a,
            b,
        });
    }
    by_id.clear();
    Ok(Page::from_rows(views, page, total, |v| {
        Cursor::encode(&(
            (v.site_match.score * 1000.0).round() as i64,
            v.site_match.id,
        ))
    }))
}

/// The pairs with these ids that `actor` may see, each with both records (for look-ups by global ID).
#[tracing::instrument(skip_all)]
pub async fn site_matches_by_ids<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    ids: &[i32],
) -> Result<Vec<SiteMatchView>, SitesError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = site_match::Entity::find()
        .filter(
            Condition::all()
                .add(visible(actor)?)
                .add(site_match::Column::Id.is_in(ids.iter().copied())),
        )
        .all(db)
        .await?;
    let mut site_ids: Vec<i32> = rows.iter().flat_map(|m| [m.site_a, m.site_b]).collect();
    site_ids.sort_unstable();
    site_ids.dedup();
    let sites = site::Entity::find()
        .filter(site::Column::Id.is_in(site_ids))
        .all(db)
        .await?;
    let by_id: HashMap<i32, Site> = hydrate(db, sites)
        .await?
        .into_iter()
        .map(|s| (s.id.0, s))
        .collect();
    let mut views = Vec::with_capacity(rows.len());
    for m in rows {
        let (Some(a), Some(b)) = (by_id.get(&m.site_a).cloned(), by_id.get(&m.site_b).cloned())
        else {
            continue;
        };
        views.push(SiteMatchView {
            site_match: from_model(m)?,
            a,
            b,
        });
    }
    Ok(views)
}

async fn load_pair<C: ConnectionTrait>(db: &C, id: i32) -> Result<site_match::Model, SitesError> {
    site_match::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(SitesError::MatchNotFound(id))
}

async fn set_status<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    m: &site_match::Model,
    status: MatchStatus,
    action: &'static str,
) -> Result<(), SitesError> {
    let now = Utc::now();
    site_match::Entity::update_many()
        .col_expr(site_match::Column::Status, Expr::value(status.as_str()))
        .col_expr(site_match::Column::DecidedBy, Expr::value(actor.label()))
        .col_expr(site_match::Column::DecidedAt, Expr::value(now))
        .col_expr(site_match::Column::UpdatedAt, Expr::value(now))
        .filter(site_match::Column::Id.eq(m.id))
        .exec(db)
        .await?;
    let mut changes = AuditChanges::new();
    changes.changed("status", &m.status, status.as_str());
    changes.note("site_a", &m.site_a);
    changes.note("site_b", &m.site_b);
    changes.note("score", &m.score);
    record(
        db,
        actor,
        AuditEntry::new("site_match", m.id.to_string(), action, changes).department(
            m.department_a
                .as_deref()
                .and_then(|d| DepartmentCode::parse(d).ok()),
        ),
    )
    .await?;
    Ok(())
}

/// Confirms that both records of pair `id` are one place: they become (or join) one canonical site.
#[tracing::instrument(skip_all, fields(site_match.id = id))]
pub async fn confirm_site_match(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i32,
) -> Result<MatchDecision, SitesError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let m = load_pair(&txn, id).await?;
    may_decide(actor, &m)?;
    if MatchStatus::parse(&m.status).is_some_and(MatchStatus::is_confirmed) {
        return Err(SitesError::InvalidDecision(format!(
            "pair {id} is already {}",
            m.status
        )));
    }
    set_status(&txn, actor, &m, MatchStatus::Confirmed, "confirm").await?;
    let canonical = join(&txn, actor, m.site_a, m.site_b).await?;
    let after = from_model(load_pair(&txn, id).await?)?;
    txn.commit().await?;
    Ok(MatchDecision {
        site_match: after,
        canonical: Some(canonical),
        restored: Vec::new(),
    })
}

/// Rejects pair `id`: the records are two places, and the pair is never proposed again. Rejecting a confirmed pair
/// un-merges: the clusters are recomputed from the pairs still confirmed, and records left alone are served as
/// they are in their source again.
#[tracing::instrument(skip_all, fields(site_match.id = id))]
pub async fn reject_site_match(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i32,
) -> Result<MatchDecision, SitesError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let m = load_pair(&txn, id).await?;
    may_decide(actor, &m)?;
    if m.status == MatchStatus::Rejected.as_str() {
        return Err(SitesError::InvalidDecision(format!(
            "pair {id} is already rejected"
        )));
    }
    let was_confirmed = MatchStatus::parse(&m.status).is_some_and(MatchStatus::is_confirmed);
    set_status(&txn, actor, &m, MatchStatus::Rejected, "reject").await?;
    let mut restored = Vec::new();
    if was_confirmed {
        let pair = records(&txn, &[m.site_a, m.site_b]).await?;
        let mut canonicals: Vec<i32> = pair
            .iter()
            .filter_map(|s| s.merged_into.map(|c| c.0))
            .collect();
        canonicals.dedup();
        for c in canonicals {
            restored.extend(recluster(&txn, actor, c).await?);
        }
    }
    let after = from_model(load_pair(&txn, id).await?)?;
    txn.commit().await?;
    Ok(MatchDecision {
        site_match: after,
        canonical: None,
        restored,
    })
}

/// Splits canonical site `canonical` back into its source records: every confirmed pair between them is rejected
/// (so matching does not propose them again) and the canonical site is deleted. Returns the restored records.
#[tracing::instrument(skip_all, fields(site.id = %canonical))]
pub async fn split_site_cluster(
    db: &DatabaseConnection,
    actor: &Actor,
    canonical: SiteId,
) -> Result<Vec<SiteId>, SitesError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let row = site::Entity::find_by_id(canonical.0)
        .filter(site::Column::Source.eq(CANONICAL_SOURCE))
        .filter(site::Column::ArchivedAt.is_null())
        .one(&txn)
        .await?
        .ok_or(SitesError::NotFound(canonical))?;
    let members: Vec<i32> = site::Entity::find()
        .select_only()
        .column(site::Column::Id)
        .filter(site::Column::MergedInto.eq(row.id))
        .into_tuple()
        .all(&txn)
        .await?;
    let pairs = site_match::Entity::find()
        .filter(site_match::Column::SiteA.is_in(members.iter().copied()))
        .filter(site_match::Column::SiteB.is_in(members.iter().copied()))
        .filter(site_match::Column::Status.is_in([
            MatchStatus::Confirmed.as_str(),
            MatchStatus::AutoConfirmed.as_str(),
        ]))
        .all(&txn)
        .await?;
    for m in &pairs {
        may_decide(actor, m)?;
    }
    if !crate::can_write_site(
        actor,
        row.department_code
            .as_deref()
            .and_then(|d| DepartmentCode::parse(d).ok())
            .as_ref(),
    ) {
        return Err(SitesError::Forbidden(
            "this canonical site is outside the departments you may edit".to_owned(),
        ));
    }
    for m in &pairs {
        set_status(&txn, actor, m, MatchStatus::Rejected, "split").await?;
    }
    let restored = recluster(&txn, actor, row.id).await?;
    txn.commit().await?;
    Ok(restored)
}
