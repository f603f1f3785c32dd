//! Grouped statistics of grants and disbursements for dashboards: how many, and how much (cents), per one or two
//! dimensions, filtered like the grant list, by one SQL `GROUP BY` each ([`maillage_territories::statistics`]).
//!
//! Amounts and counts are public (funding totals). A grant's hub is the hub it was made to when it names one, else
//! the hubs covering its department; its region is the one recorded with it. Its month is the month it was signed
//! (`signed_on`, the real date given for historical records, else the signature's instant); a disbursement's, the
//! month it was paid.

use crate::FundingError;
use crate::entity::{disbursement, envelope, grant};
use crate::grants::GrantFilter;
use crate::model::{BeneficiaryKind, GrantStatus, HostKind};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_territories::statistics::{self as engine, Axis, Bucket, Grouping, MonthRange};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, JoinType, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{ColumnTrait, ConnectionTrait};

/// What grants and disbursements can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FundingDimension {
    /// The grant's region.
    Region,
    /// The grant's department.
    Department,
    /// The hub the grant was made to, else the hubs covering its department.
    Hub,
    /// Grants: the month of signature; disbursements: the month of payment.
    Month,
    /// The grant's state (draft, signed, closed, cancelled).
    Status,
    /// The host's kind (public or private), for grants to host structures.
    HostKind,
    /// The envelope the grant draws on (its code).
    Envelope,
    /// What the grant funds (host structure, hub, collectivité, AMI dossier).
    BeneficiaryKind,
}

fn g(c: grant::Column) -> SimpleExpr {
    Expr::col((grant::Entity, c))
}

fn check_dimensions(by: &[FundingDimension]) -> Result<(), FundingError> {
    if by.is_empty() || by.len() > 2 || (by.len() == 2 && by[0] == by[1]) {
        return Err(FundingError::invalid(
            FieldPath::new("by"),
            Code::InvalidValue,
            "group by one or two different dimensions",
        ));
    }
    Ok(())
}

/// The grant filter as conditions on `funding_grant` (the same criteria as [`crate::list_grants`]).
fn filter_grants(select: &mut SelectStatement, filter: &GrantFilter) {
    if let Some(e) = &filter.envelopes {
        select.and_where(grant::Column::EnvelopeId.is_in(e.clone()));
    }
    if let Some(s) = &filter.statuses {
        select.and_where(grant::Column::Status.is_in(s.iter().map(|s| s.as_str())));
    }
    if let Some(d) = &filter.department {
        select.and_where(grant::Column::DepartmentCode.eq(d.as_str()));
    }
    if let Some(h) = filter.hub {
        select.and_where(grant::Column::HubId.eq(h.0));
    }
}

/// The month a grant was signed.
fn signature_month() -> SimpleExpr {
    Func::coalesce([g(grant::Column::SignedOn), g(grant::Column::SignedAt)]).into()
}

fn axes(select: &mut SelectStatement, by: &[FundingDimension], month: &SimpleExpr) -> Vec<Axis> {
    let dep = g(grant::Column::DepartmentCode);
    if by.contains(&FundingDimension::Envelope) {
        select.join_as(
            JoinType::InnerJoin,
            envelope::Entity,
            Alias::new("stat_envelope"),
            Expr::col((Alias::new("stat_envelope"), envelope::Column::Id))
                .equals((grant::Entity, grant::Column::EnvelopeId)),
        );
    }
    by.iter()
        .map(|d| match d {
            FundingDimension::Region => Axis::Value(g(grant::Column::RegionCode)),
            FundingDimension::Department => Axis::Department(dep.clone()),
            FundingDimension::Hub => Axis::OwnHubOr(g(grant::Column::HubId), dep.clone()),
            FundingDimension::Month => Axis::Month(month.clone()),
            FundingDimension::Status => Axis::Value(g(grant::Column::Status)),
            FundingDimension::HostKind => Axis::Value(g(grant::Column::HostKind)),
            FundingDimension::Envelope => Axis::Value(Expr::col((
                Alias::new("stat_envelope"),
                envelope::Column::Code,
            ))),
            FundingDimension::BeneficiaryKind => Axis::Value(g(grant::Column::BeneficiaryKind)),
        })
        .collect()
}

/// Zero groups: every department, region or hub of the grant filter's department (the whole country without one),
/// every status, host kind, beneficiary kind, month of `months`; envelopes only as found.
async fn universes<C: ConnectionTrait>(
    db: &C,
    filter: &GrantFilter,
    by: &[FundingDimension],
    months: Option<&MonthRange>,
) -> Result<Vec<Option<Vec<String>>>, FundingError> {
    let scope = filter
        .department
        .as_ref()
        .map(|d| vec![d.as_str().to_owned()]);
    let t = engine::universes(db, scope.as_deref()).await?;
    Ok(by
        .iter()
        .map(|d| match d {
            FundingDimension::Region => Some(t.regions.clone()),
            FundingDimension::Department => Some(t.departments.clone()),
            FundingDimension::Hub => Some(t.hubs.clone()),
            FundingDimension::Month => months.map(MonthRange::keys),
            FundingDimension::Status => Some(
                GrantStatus::ALL
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            ),
            FundingDimension::HostKind => Some(
                HostKind::ALL
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            ),
            FundingDimension::BeneficiaryKind => Some(
                BeneficiaryKind::ALL
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            ),
            FundingDimension::Envelope => None,
        })
        .collect())
}

/// Grants matching `filter`: how many and their amount (cents), per group of `by`. "Money committed" is
/// `statuses: [Signed, Closed]`. `months` bounds the signature month when grouping by month. One statement.
#[tracing::instrument(skip_all)]
pub async fn grant_statistics<C: ConnectionTrait>(
    db: &C,
    filter: &GrantFilter,
    by: &[FundingDimension],
    months: Option<&MonthRange>,
    include_empty: bool,
) -> Result<Vec<Bucket>, FundingError> {
    check_dimensions(by)?;
    let mut select = Query::select();
    select.from(grant::Entity);
    filter_grants(&mut select, filter);
    let month = signature_month();
    if let Some(m) = months
        && by.contains(&FundingDimension::Month)
    {
        select.and_where(month.clone().gte(Expr::val(m.from)));
        select.and_where(month.clone().lt(Expr::val(engine::next_month(m.to))));
    }
    let axes = axes(&mut select, by, &month);
    let mut buckets = engine::group(
        db,
        Grouping {
            select,
            axes,
            count: Func::count_distinct(g(grant::Column::Id)).into(),
            sum: Some(g(grant::Column::AmountCents)),
        },
    )
    .await?;
    if include_empty {
        let universes = universes(db, filter, by, months).await?;
        engine::fill_empty(&mut buckets, &universes, true);
    }
    Ok(buckets)
}

/// Disbursements under the grants matching `filter`: how many and how much (cents), per group of `by` (the
/// grant's dimensions, and the month of payment). One statement.
#[tracing::instrument(skip_all)]
pub async fn disbursement_statistics<C: ConnectionTrait>(
    db: &C,
    filter: &GrantFilter,
    by: &[FundingDimension],
    months: Option<&MonthRange>,
    include_empty: bool,
) -> Result<Vec<Bucket>, FundingError> {
    check_dimensions(by)?;
    let d = |c: disbursement::Column| -> SimpleExpr { Expr::col((disbursement::Entity, c)) };
    let mut select = Query::select();
    select.from(disbursement::Entity).join(
        JoinType::InnerJoin,
        grant::Entity,
        Expr::col((grant::Entity, grant::Column::Id))
            .equals((disbursement::Entity, disbursement::Column::GrantId)),
    );
    filter_grants(&mut select, filter);
    let month = d(disbursement::Column::PaidOn);
    if let Some(m) = months
        && by.contains(&FundingDimension::Month)
    {
        select.and_where(month.clone().gte(Expr::val(m.from)));
        select.and_where(month.clone().lt(Expr::val(engine::next_month(m.to))));
    }
    let axes = axes(&mut select, by, &month);
    let mut buckets = engine::group(
        db,
        Grouping {
            select,
            axes,
            count: Func::count_distinct(d(disbursement::Column::Id)).into(),
            sum: Some(d(disbursement::Column::AmountCents)),
        },
    )
    .await?;
    if include_empty {
        let universes = universes(db, filter, by, months).await?;
        engine::fill_empty(&mut buckets, &universes, true);
    }
    Ok(buckets)
}
