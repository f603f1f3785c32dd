//! Public aggregates for dashboards: counts of organisations and aidants, and mandates per démarche per month, for
//! a department, a hub, a region or the whole country.
//!
//! Everything here is a count: readable by anonymous callers. Sums are computed by the database over the
//! organisations located in the territory, so a hub's or region's total is by construction the sum of its
//! departments' totals.

use crate::AidantsError;
use crate::entity::{aidant, aidant_organisation, mandate_month, organisation};
use crate::model::{AidantStatus, Demarche, MandateCounts, MandateDuration, Month};
use crate::territory::{Territory, departments_of};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder,
    QuerySelect, RelationDef,
};
use std::collections::HashSet;

/// Counts of organisations and aidants in a territory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AidantsCounts {
    /// Organisations located there (active or not).
    pub organisations: u64,
    /// Active organisations.
    pub active_organisations: u64,
    /// Active organisations with the France Services label.
    pub france_services_organisations: u64,
    /// Aidants currently authorised (habilités) working for an organisation there; an aidant working for several
    /// organisations of the territory counts once.
    pub authorised_aidants: u64,
    /// Aidants who were trained (they have a training date, whatever their status since).
    pub trained_aidants: u64,
}

/// Which mandate aggregates to sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MandateQuery {
    /// First month included.
    pub from: Option<Month>,
    /// Last month included.
    pub to: Option<Month>,
    /// Only this démarche.
    pub demarche: Option<Demarche>,
    /// Only this duration.
    pub duration: Option<MandateDuration>,
    /// Keep durations apart instead of summing them.
    pub by_duration: bool,
}

/// The mandates of one month and démarche in a territory (one duration, or all summed when `duration` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MandateTotal {
    /// The month.
    pub month: Month,
    /// The démarche.
    pub demarche: Demarche,
    /// The duration, when durations are kept apart.
    pub duration: Option<MandateDuration>,
    /// The sums.
    pub counts: MandateCounts,
}

fn mandate_to_organisation() -> RelationDef {
    mandate_month::Entity::belongs_to(organisation::Entity)
        .from(mandate_month::Column::OrganisationId)
        .to(organisation::Column::Id)
        .into()
}

/// Counts of organisations and aidants in `territory`. Two statements (plus one to resolve a hub or region).
#[tracing::instrument(skip_all)]
pub async fn aidants_counts<C: ConnectionTrait>(
    db: &C,
    territory: &Territory,
) -> Result<AidantsCounts, AidantsError> {
    let departments = departments_of(db, territory).await?;
    let mut orgs = organisation::Entity::find()
        .select_only()
        .column(organisation::Column::Active)
        .column(organisation::Column::FranceServices)
        .column_as(Expr::col(organisation::Column::Id).count(), "n")
        .group_by(organisation::Column::Active)
        .group_by(organisation::Column::FranceServices);
    if let Some(deps) = &departments {
        orgs = orgs.filter(organisation::Column::DepartmentCode.is_in(deps.iter().cloned()));
    }
    let mut counts = AidantsCounts::default();
    for (active, france_services, n) in orgs.into_tuple::<(bool, bool, i64)>().all(db).await? {
        let n = u64::try_from(n).unwrap_or_default();
        counts.organisations += n;
        if active {
            counts.active_organisations += n;
            if france_services {
                counts.france_services_organisations += n;
            }
        }
    }
    // One row per (aidant, organisation) link in the territory; an aidant counts once however many links it has.
    let mut links = aidant::Entity::find()
        .select_only()
        .column(aidant::Column::Id)
        .column(aidant::Column::Status)
        .column_as(aidant::Column::TrainedOn.is_not_null(), "trained")
        .filter(aidant::Column::Id.in_subquery({
            let mut q = Query::select();
            q.column(aidant_organisation::Column::AidantId)
                .from(aidant_organisation::Entity)
                .inner_join(
                    organisation::Entity,
                    Expr::col((organisation::Entity, organisation::Column::Id)).equals((
                        aidant_organisation::Entity,
                        aidant_organisation::Column::OrganisationId,
                    )),
                );
            if let Some(deps) = &departments {
                q.and_where(organisation::Column::DepartmentCode.is_in(deps.iter().cloned()));
            }
            q.to_owned()
        }));
    links = links.filter(
        Condition::any()
            .add(aidant::Column::TrainedOn.is_not_null())
            .add(aidant::Column::Status.eq(AidantStatus::Authorised.as_str())),
    );
    let mut seen = HashSet::new();
    for (id, status, trained) in links.into_tuple::<(i32, String, bool)>().all(db).await? {
        if !seen.insert(id) {
            continue;
        }
        if status == AidantStatus::Authorised.as_str() {
            counts.authorised_aidants += 1;
        }
        if trained {
            counts.trained_aidants += 1;
        }
    }
    Ok(counts)
}

/// Mandates per month and démarche (and duration when asked) in `territory`, summed over its organisations, ordered
/// by month, démarche, duration. One statement (plus one to resolve a hub or region).
#[tracing::instrument(skip_all)]
pub async fn mandate_totals<C: ConnectionTrait>(
    db: &C,
    territory: &Territory,
    query: &MandateQuery,
) -> Result<Vec<MandateTotal>, AidantsError> {
    let departments = departments_of(db, territory).await?;
    let mut select = mandate_month::Entity::find()
        .select_only()
        .column(mandate_month::Column::Month)
        .column(mandate_month::Column::Demarche);
    if query.by_duration {
        select = select.column(mandate_month::Column::Duration);
    } else {
        select = select.column_as(Expr::value(""), "duration");
    }
    select = select
        .column_as(
            Expr::col((mandate_month::Entity, mandate_month::Column::Created)).sum(),
            "created",
        )
        .column_as(
            Expr::col((mandate_month::Entity, mandate_month::Column::Renewed)).sum(),
            "renewed",
        )
        .column_as(
            Expr::col((mandate_month::Entity, mandate_month::Column::Revoked)).sum(),
            "revoked",
        )
        .column_as(
            Expr::col((
                mandate_month::Entity,
                mandate_month::Column::ActiveAtMonthEnd,
            ))
            .sum(),
            "active_at_month_end",
        )
        .group_by(mandate_month::Column::Month)
        .group_by(mandate_month::Column::Demarche)
        .order_by_asc(mandate_month::Column::Month)
        .order_by_asc(mandate_month::Column::Demarche);
    if query.by_duration {
        select = select
            .group_by(mandate_month::Column::Duration)
            .order_by_asc(mandate_month::Column::Duration);
    }
    if let Some(deps) = &departments {
        select = select
            .join(JoinType::InnerJoin, mandate_to_organisation())
            .filter(organisation::Column::DepartmentCode.is_in(deps.iter().cloned()));
    }
    if let Some(from) = query.from {
        select = select.filter(mandate_month::Column::Month.gte(from.as_string()));
    }
    if let Some(to) = query.to {
        select = select.filter(mandate_month::Column::Month.lte(to.as_string()));
    }
    if let Some(d) = query.demarche {
        select = select.filter(mandate_month::Column::Demarche.eq(d.as_str()));
    }
    if let Some(d) = query.duration {
        select = select.filter(mandate_month::Column::Duration.eq(d.as_str()));
    }
    let rows = select
        .into_tuple::<(
            String,
            String,
            String,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        )>()
        .all(db)
        .await?;
    rows.into_iter()
        .map(
            |(month, demarche, duration, created, renewed, revoked, active)| {
                let corrupt = |e: maillage_core::error::InvalidValue| AidantsError::CorruptRow {
                    table: "mandate_month",
                    id: 0,
                    detail: e.to_string(),
                };
                Ok(MandateTotal {
                    month: Month::parse(&month).map_err(corrupt)?,
                    demarche: Demarche::parse(&demarche).map_err(corrupt)?,
                    duration: if duration.is_empty() {
                        None
                    } else {
                        Some(MandateDuration::parse(&duration).map_err(corrupt)?)
                    },
                    counts: MandateCounts {
                        created: created.unwrap_or_default(),
                        renewed: renewed.unwrap_or_default(),
                        revoked: revoked.unwrap_or_default(),
                        active_at_month_end: active.unwrap_or_default(),
                    },
                })
            },
        )
        .collect()
}
