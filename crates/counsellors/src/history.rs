//! Counsellor status history: the dated periods a counsellor spent in each status, written whenever a status
//! changes, so that time series ("counsellors active per month") are counted over facts rather than inferred from
//! the current status.
//!
//! A period runs from `started_on` (included) to `ended_on` (excluded: the day the next one started; `None`: still
//! in it). A new status starts on its own date when the counsellor carries one (`active_since` for
//! [`CounsellorStatus::Active`]…), else on the day of the change. The migration that created the table backfilled
//! every counsellor the same way ([`derive_periods`]).

use crate::CounsellorsError;
use crate::entity::status_period;
use crate::model::{CounsellorId, CounsellorStatus, NewCounsellor};
use chrono::{NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

/// One period of a counsellor's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusPeriod {
    /// The status held.
    pub status: CounsellorStatus,
    /// First day in it.
    pub started_on: NaiveDate,
    /// The day it ended (excluded), if it did.
    pub ended_on: Option<NaiveDate>,
}

/// The day a counsellor entered `status`, as its own dates say.
fn date_of(c: &NewCounsellor, status: CounsellorStatus) -> Option<NaiveDate> {
    match status {
        CounsellorStatus::Recruited => c.recruited_on,
        CounsellorStatus::InTraining => c.training_started_on,
        CounsellorStatus::Active => c.active_since,
        CounsellorStatus::ContractEnded => c.ended_on,
    }
}

/// The periods a counsellor's dates describe: each stage up to its current status that has a date (the current
/// one always, on `today` when undated), each ending when the next began.
pub fn derive_periods(c: &NewCounsellor, today: NaiveDate) -> Vec<StatusPeriod> {
    let reached: Vec<(CounsellorStatus, NaiveDate)> = CounsellorStatus::ALL
        .iter()
        .copied()
        .filter(|s| *s <= c.status)
        .filter_map(|s| match date_of(c, s) {
            Some(d) => Some((s, d)),
            None if s == c.status => Some((s, today)),
            None => None,
        })
        .collect();
    reached
        .iter()
        .enumerate()
        .map(|(i, (status, started_on))| StatusPeriod {
            status: *status,
            started_on: *started_on,
            ended_on: reached.get(i + 1).map(|(_, d)| *d),
        })
        .collect()
}

async fn insert<C: ConnectionTrait>(
    db: &C,
    id: CounsellorId,
    p: &StatusPeriod,
) -> Result<(), CounsellorsError> {
    status_period::ActiveModel {
        counsellor_id: Set(id.0),
        status: Set(p.status.as_str().to_owned()),
        started_on: Set(p.started_on),
        ended_on: Set(p.ended_on),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Records a counsellor's status after a write (in the write's transaction): its first periods when it has none;
/// on a status change, closes the open period and opens the new one; when only the current status's date was
/// corrected, moves the open period's start.
pub(crate) async fn record_status<C: ConnectionTrait>(
    db: &C,
    id: CounsellorId,
    old: Option<&NewCounsellor>,
    new: &NewCounsellor,
) -> Result<(), CounsellorsError> {
    let today = Utc::now().date_naive();
    let open = status_period::Entity::find()
        .filter(status_period::Column::CounsellorId.eq(id.0))
        .filter(status_period::Column::EndedOn.is_null())
        .order_by_desc(status_period::Column::StartedOn)
        .one(db)
        .await?;
    let (Some(old), Some(open)) = (old, open) else {
        let any = status_period::Entity::find()
            .filter(status_period::Column::CounsellorId.eq(id.0))
            .one(db)
            .await?;
        if any.is_none() {
            for p in derive_periods(new, today) {
                insert(db, id, &p).await?;
            }
        }
        return Ok(());
    };
    let started = date_of(new, new.status);
    if old.status != new.status {
        let start = started.unwrap_or(today);
        status_period::Entity::update_many()
            .col_expr(status_period::Column::EndedOn, Expr::val(start))
            .filter(status_period::Column::CounsellorId.eq(id.0))
            .filter(status_period::Column::EndedOn.is_null())
            .exec(db)
            .await?;
        let period = StatusPeriod {
            status: new.status,
            started_on: start,
            ended_on: None,
        };
        insert(db, id, &period).await?;
    } else if let Some(start) = started
        && start != open.started_on
        && date_of(old, old.status) != started
    {
        status_period::Entity::update_many()
            .col_expr(status_period::Column::StartedOn, Expr::val(start))
            .filter(status_period::Column::Id.eq(open.id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// A counsellor's periods, oldest first.
pub async fn status_history<C: ConnectionTrait>(
    db: &C,
    id: CounsellorId,
) -> Result<Vec<StatusPeriod>, CounsellorsError> {
    let rows = status_period::Entity::find()
        .filter(status_period::Column::CounsellorId.eq(id.0))
        .order_by_asc(status_period::Column::StartedOn)
        .order_by_asc(status_period::Column::Id)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|m| {
            Ok(StatusPeriod {
                status: CounsellorStatus::parse(&m.status).ok_or_else(|| {
                    CounsellorsError::corrupt(
                        "counsellor_status_period",
                        m.id,
                        format!("status {:?}", m.status),
                    )
                })?,
                started_on: m.started_on,
                ended_on: m.ended_on,
            })
        })
        .collect()
}
