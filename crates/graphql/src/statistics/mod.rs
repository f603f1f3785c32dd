//! Statistics for dashboards: one request per widget. Each field of `statistics` groups one domain's rows by one or
//! two dimensions, filtered with the domain's list filter, and answers a table of rows (keys and measures). The
//! domains compute with SQL `GROUP BY` (`maillage_territories::statistics`); this module converts arguments and
//! names the keys (hubs, departments and regions by human key, name and global ID).
//!
//! Everything here is a count or a sum: public, like the lists' `totalCount`.

pub mod dimensions;
pub mod vocabularies;

use crate::aidants::{AidantFilterInput, AidantsOrganisationFilter};
use crate::counsellors::{CounsellorFilterInput, CounsellorStatus, counsellor_filter};
use crate::funding::{Cents, GrantFilterInput, grant_filter};
use crate::kit::error::{IntoGql, coded};
use crate::kit::id::{NodeKind, encode};
use crate::kit::state;
use crate::kit::territory::opt_hub_slug;
use crate::sites::SiteFilterInput;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use dimensions::{
    AidantsStatisticsDimension, CounsellorStatisticsDimension, FundingStatisticsDimension, KeyKind,
    MandateStatisticsMeasure, MonthRangeInput, PostStatisticsDimension, SiteStatisticsDimension,
};
use maillage_core::Code;
use maillage_territories::statistics::{Bucket, Names};

pub use vocabularies::VocabulariesQuery;

/// The root field.
#[derive(Default)]
pub struct StatisticsQuery;

#[Object]
impl StatisticsQuery {
    /// Aggregates for dashboards (counts, sums of money in cents), one request per widget: pick a domain, one or
    /// two dimensions to group by, and the domain's list filter. Public.
    async fn statistics(&self) -> Statistics {
        Statistics
    }
}

/// The statistics of each domain.
pub struct Statistics;

/// One key of a row: the value of one dimension.
#[derive(SimpleObject, Clone, Default)]
pub struct StatisticsKey {
    /// The key: a department's or region's INSEE code, a hub's slug, a month `YYYY-MM`, a national-standard label,
    /// or an enum value (e.g. `ACTIVE`); `null` for rows with no value (a site without department, a department no
    /// hub covers, a value the vocabulary does not know).
    pub key: Option<String>,
    /// A human name: the department's, region's or hub's name, or the label; `null` otherwise.
    pub label: Option<String>,
    /// The global ID of a department, region or hub; `null` for other dimensions.
    pub id: Option<ID>,
}

/// One group.
#[derive(SimpleObject, Clone)]
pub struct StatisticsRow {
    /// Its keys, one per dimension of `by`, in the same order.
    pub keys: Vec<StatisticsKey>,
    /// How many entities are in the group (each counted once however many joins it has).
    pub count: i32,
    /// The amount summed, in cents: grants and disbursements only.
    pub amount: Option<Cents>,
    /// The figure summed: posts granted (posts), mandates (mandates); `null` elsewhere.
    pub sum: Option<i32>,
}

/// A table of statistics.
#[derive(SimpleObject)]
pub struct StatisticsTable {
    /// The groups, ordered by their keys (rows without a key first).
    pub rows: Vec<StatisticsRow>,
}

/// Criteria on mandate aggregates.
#[derive(InputObject, Default)]
pub struct MandateStatisticsFilter {
    /// Organisations in any of these departments (INSEE codes).
    pub departments: Option<Vec<String>>,
    /// In the departments of this hub: its global ID, or its slug.
    pub hub: Option<ID>,
    /// In this region (INSEE code).
    pub region: Option<String>,
    /// Only this démarche.
    pub demarche: Option<crate::aidants::Demarche>,
    /// Only this duration.
    pub duration: Option<crate::aidants::MandateDuration>,
}

/// What the measures mean for a table's rows.
#[derive(Clone, Copy)]
enum Sum {
    None,
    Money,
    Figure,
}

/// Names the keys of `buckets` (the territories' names are read once, when a territorial dimension is asked).
async fn table(
    ctx: &Context<'_>,
    kinds: &[KeyKind],
    buckets: Vec<Bucket>,
    sum: Sum,
) -> async_graphql::Result<StatisticsTable> {
    let territorial = kinds
        .iter()
        .any(|k| matches!(k, KeyKind::Department | KeyKind::Region | KeyKind::Hub));
    let names = if territorial {
        maillage_territories::statistics::names(&state(ctx)?.db)
            .await
            .gql()?
    } else {
        Names::default()
    };
    let rows = buckets
        .into_iter()
        .map(|b| StatisticsRow {
            keys: b
                .keys
                .iter()
                .zip(kinds)
                .map(|(k, kind)| name_key(&names, *kind, k.as_deref()))
                .collect(),
            count: i32::try_from(b.count).unwrap_or(i32::MAX),
            amount: match sum {
                Sum::Money => Some(Cents(b.sum.unwrap_or_default())),
                _ => None,
            },
            sum: match sum {
                Sum::Figure => Some(i32::try_from(b.sum.unwrap_or_default()).unwrap_or(i32::MAX)),
                _ => None,
            },
        })
        .collect();
    Ok(StatisticsTable { rows })
}

fn name_key(names: &Names, kind: KeyKind, key: Option<&str>) -> StatisticsKey {
    let Some(key) = key else {
        return StatisticsKey::default();
    };
    match kind {
        KeyKind::Department => StatisticsKey {
            key: Some(key.to_owned()),
            label: names.departments.get(key).cloned(),
            id: Some(encode(NodeKind::Department, key)),
        },
        KeyKind::Region => StatisticsKey {
            key: Some(key.to_owned()),
            label: names.regions.get(key).cloned(),
            id: Some(encode(NodeKind::Region, key)),
        },
        KeyKind::Hub => match names.hubs.get(key) {
            Some((slug, name)) => StatisticsKey {
                key: Some(slug.clone()),
                label: Some(name.clone()),
                id: Some(encode(NodeKind::Hub, key)),
            },
            None => StatisticsKey {
                key: Some(key.to_owned()),
                label: None,
                id: None,
            },
        },
        KeyKind::Label => StatisticsKey {
            key: Some(key.to_owned()),
            label: Some(key.to_owned()),
            id: None,
        },
        KeyKind::Code => StatisticsKey {
            key: Some(key.to_uppercase()),
            label: None,
            id: None,
        },
        KeyKind::Duration => StatisticsKey {
            key: Some(maillage_aidants::MandateDuration::parse(key).map_or_else(
                |_| key.to_uppercase(),
                |d| dimensions::enum_value(&format!("{d:?}")),
            )),
            label: None,
            id: None,
        },
        KeyKind::Month | KeyKind::Text => StatisticsKey {
            key: Some(key.to_owned()),
            label: None,
            id: None,
        },
    }
}

fn no_updated_since(
    updated_since: Option<chrono::DateTime<chrono::Utc>>,
) -> async_graphql::Result<()> {
    match updated_since {
        Some(_) => Err(coded(
            "updatedSince is a filter of the lists (incremental sync), not of statistics",
            Code::InvalidValue,
            Some("filter.updatedSince".to_owned()),
        )),
        None => Ok(()),
    }
}

/// The statistics of each domain: one table per field, grouped by one or two dimensions, filtered like the
/// domain's list. Public: counts and sums only.
#[Object]
impl Statistics {
    /// Sites (canonical ones unless `filter.records` says otherwise) counted per group of `by`: one or two
    /// dimensions, e.g. `[DEPARTMENT, SERVICE]`. With `includeEmpty`, groups with no site come with zeros: every
    /// department, region or hub of the filter's territory (the country without one), every v1.0.2 label, every
    /// month of `months`. `months` also bounds a `MONTH` dimension.
    async fn sites(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One or two dimensions.")] by: Vec<SiteStatisticsDimension>,
        #[graphql(desc = "The sites to count, as for the `sites` list.")] filter: Option<
            SiteFilterInput,
        >,
        #[graphql(desc = "The months of a `MONTH` dimension.")] months: Option<MonthRangeInput>,
        #[graphql(
            default = false,
            desc = "List groups with nothing to count, with zeros."
        )]
        include_empty: bool,
    ) -> async_graphql::Result<StatisticsTable> {
        let filter = filter.unwrap_or_default();
        no_updated_since(filter.updated_since)?;
        let filter = filter.into_domain(ctx).await?;
        let range = dimensions::months(months.as_ref(), "months")?;
        let dims: Vec<_> = by.iter().map(|d| d.domain()).collect();
        let buckets = maillage_sites::statistics::site_statistics(
            &state(ctx)?.db,
            &filter,
            &dims,
            range.as_ref(),
            include_empty,
        )
        .await
        .gql()?;
        let kinds: Vec<_> = by.iter().map(|d| d.key_kind()).collect();
        table(ctx, &kinds, buckets, Sum::None).await
    }

    /// How many sites existed in each month of `months`: recorded by Maillage before the month ended and not
    /// archived before it began. `by` optionally splits each month by `REGION`, `DEPARTMENT`, `HUB` or
    /// `SOURCE`. Keys: the month, then `by`'s.
    async fn sites_per_month(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The months of the series.")] months: MonthRangeInput,
        #[graphql(desc = "The sites to count, as for the `sites` list.")] filter: Option<
            SiteFilterInput,
        >,
        #[graphql(desc = "A second dimension, if any.")] by: Option<SiteStatisticsDimension>,
    ) -> async_graphql::Result<StatisticsTable> {
        let filter = filter.unwrap_or_default();
        no_updated_since(filter.updated_since)?;
        let filter = filter.into_domain(ctx).await?;
        let range = months.parse("months")?;
        let buckets = maillage_sites::statistics::sites_per_month(
            &state(ctx)?.db,
            &filter,
            &range,
            by.map(|d| d.domain()),
        )
        .await
        .gql()?;
        let mut kinds = vec![KeyKind::Month];
        kinds.extend(by.map(|d| d.key_kind()));
        table(ctx, &kinds, buckets, Sum::None).await
    }

    /// Counsellors counted per group of `by` (current status, recruitment month…), filtered as the
    /// `counsellors` list. With `includeEmpty`, groups with nothing come with zeros.
    async fn counsellors(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One or two dimensions.")] by: Vec<CounsellorStatisticsDimension>,
        #[graphql(desc = "The counsellors to count, as for the `counsellors` list.")]
        filter: Option<CounsellorFilterInput>,
        #[graphql(desc = "The months of a `MONTH` dimension.")] months: Option<MonthRangeInput>,
        #[graphql(
            default = false,
            desc = "List groups with nothing to count, with zeros."
        )]
        include_empty: bool,
    ) -> async_graphql::Result<StatisticsTable> {
        let filter = filter.unwrap_or_default();
        no_updated_since(filter.updated_since)?;
        let filter = counsellor_filter(ctx, filter).await?;
        let range = dimensions::months(months.as_ref(), "months")?;
        let dims: Vec<_> = by.iter().map(|d| d.domain()).collect();
        let buckets = maillage_counsellors::statistics::counsellor_statistics(
            &state(ctx)?.db,
            &filter,
            &dims,
            range.as_ref(),
            include_empty,
        )
        .await
        .gql()?;
        let kinds: Vec<_> = by.iter().map(|d| d.key_kind()).collect();
        table(ctx, &kinds, buckets, Sum::None).await
    }

    /// How many counsellors were in `status` (default `ACTIVE`) during each month of `months`, from their dated
    /// status history (a counsellor counts in every month it spent at least a day in it). `by` optionally splits
    /// each month. Keys: the month, then `by`'s.
    async fn counsellors_per_month(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The months of the series.")] months: MonthRangeInput,
        #[graphql(
            default_with = "CounsellorStatus::Active",
            desc = "The status counted."
        )]
        status: CounsellorStatus,
        #[graphql(desc = "The counsellors to count, as for the `counsellors` list.")]
        filter: Option<CounsellorFilterInput>,
        #[graphql(desc = "A second dimension, if any (not `MONTH`).")] by: Option<
            CounsellorStatisticsDimension,
        >,
    ) -> async_graphql::Result<StatisticsTable> {
        let filter = filter.unwrap_or_default();
        no_updated_since(filter.updated_since)?;
        let filter = counsellor_filter(ctx, filter).await?;
        let range = months.parse("months")?;
        let buckets = maillage_counsellors::statistics::counsellors_per_month(
            &state(ctx)?.db,
            &filter,
            status.into(),
            &range,
            by.map(|d| d.domain()),
        )
        .await
        .gql()?;
        let mut kinds = vec![KeyKind::Month];
        kinds.extend(by.map(|d| d.key_kind()));
        table(ctx, &kinds, buckets, Sum::None).await
    }

    /// Requests for funded posts per group of `by`: `count` requests, `sum` posts granted. The filter's
    /// departments, hub and structure kinds apply.
    async fn posts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One or two dimensions.")] by: Vec<PostStatisticsDimension>,
        #[graphql(desc = "Territory and host kinds (the counsellor criteria do not apply).")]
        filter: Option<CounsellorFilterInput>,
        #[graphql(desc = "The months of a `MONTH` dimension.")] months: Option<MonthRangeInput>,
        #[graphql(
            default = false,
            desc = "List groups with nothing to count, with zeros."
        )]
        include_empty: bool,
    ) -> async_graphql::Result<StatisticsTable> {
        let filter = filter.unwrap_or_default();
        no_updated_since(filter.updated_since)?;
        let filter = counsellor_filter(ctx, filter).await?;
        let range = dimensions::months(months.as_ref(), "months")?;
        let dims: Vec<_> = by.iter().map(|d| d.domain()).collect();
        let buckets = maillage_counsellors::statistics::post_statistics(
            &state(ctx)?.db,
            &filter,
            &dims,
            range.as_ref(),
            include_empty,
        )
        .await
        .gql()?;
        let kinds: Vec<_> = by.iter().map(|d| d.key_kind()).collect();
        table(ctx, &kinds, buckets, Sum::Figure).await
    }

    /// Aidants counted per group of `by` (`REGION`, `DEPARTMENT`, `HUB`, `MONTH` of training, `STATUS`,
    /// `TRAINING_HUB`), filtered as the `aidants` list; `trained: true` keeps those with a training date.
    async fn aidants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One or two dimensions.")] by: Vec<AidantsStatisticsDimension>,
        #[graphql(desc = "The aidants to count, as for the `aidants` list.")] filter: Option<
            AidantFilterInput,
        >,
        #[graphql(desc = "Only aidants trained (`true`) or not yet (`false`).")] trained: Option<
            bool,
        >,
        #[graphql(desc = "The months of a `MONTH` dimension.")] months: Option<MonthRangeInput>,
        #[graphql(
            default = false,
            desc = "List groups with nothing to count, with zeros."
        )]
        include_empty: bool,
    ) -> async_graphql::Result<StatisticsTable> {
        let filter = filter.unwrap_or_default();
        no_updated_since(filter.updated_since)?;
        let filter = filter.into_domain(ctx).await?;
        let range = dimensions::months(months.as_ref(), "months")?;
        let dims: Vec<_> = by.iter().map(|d| d.domain()).collect();
        let buckets = maillage_aidants::statistics::aidant_statistics(
            &state(ctx)?.db,
            &filter,
            trained,
            &dims,
            range.as_ref(),
            include_empty,
        )
        .await
        .gql()?;
        let kinds: Vec<_> = by.iter().map(|d| d.key_kind()).collect();
        table(ctx, &kinds, buckets, Sum::None).await
    }

    /// Aidants Connect organisations counted per group of `by` (`REGION`, `DEPARTMENT`, `HUB`, `MONTH`, `KIND`,
    /// `FRANCE_SERVICES`), filtered as the `aidantsOrganisations` list.
    async fn aidants_organisations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One or two dimensions.")] by: Vec<AidantsStatisticsDimension>,
        #[graphql(desc = "The organisations to count, as for their list.")] filter: Option<
            AidantsOrganisationFilter,
        >,
        #[graphql(desc = "The months of a `MONTH` dimension.")] months: Option<MonthRangeInput>,
        #[graphql(
            default = false,
            desc = "List groups with nothing to count, with zeros."
        )]
        include_empty: bool,
    ) -> async_graphql::Result<StatisticsTable> {
        let filter = filter.unwrap_or_default();
        no_updated_since(filter.updated_since)?;
        let filter = filter.into_domain(ctx).await?;
        let range = dimensions::months(months.as_ref(), "months")?;
        let dims: Vec<_> = by.iter().map(|d| d.domain()).collect();
        let buckets = maillage_aidants::statistics::organisation_statistics(
            &state(ctx)?.db,
            &filter,
            &dims,
            range.as_ref(),
            include_empty,
        )
        .await
        .gql()?;
        let kinds: Vec<_> = by.iter().map(|d| d.key_kind()).collect();
        table(ctx, &kinds, buckets, Sum::None).await
    }

    /// Mandates (monthly aggregates per organisation; never usagers): `sum` is the chosen `measure` per group of
    /// `by` (`REGION`, `DEPARTMENT`, `HUB`, `MONTH`, `DEMARCHE`, `DURATION`), `count` the aggregates summed.
    async fn mandates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One or two dimensions.")] by: Vec<AidantsStatisticsDimension>,
        #[graphql(desc = "Territory, démarche and duration.")] filter: Option<
            MandateStatisticsFilter,
        >,
        #[graphql(
            default_with = "MandateStatisticsMeasure::Created",
            desc = "The figure summed."
        )]
        measure: MandateStatisticsMeasure,
        #[graphql(desc = "Only these months (and those of a `MONTH` dimension with zeros).")]
        months: Option<MonthRangeInput>,
        #[graphql(
            default = false,
            desc = "List groups with nothing to count, with zeros."
        )]
        include_empty: bool,
    ) -> async_graphql::Result<StatisticsTable> {
        let f = filter.unwrap_or_default();
        let filter = maillage_aidants::statistics::MandateFilter {
            departments: crate::aidants::departments("filter.departments", f.departments)?,
            hub: opt_hub_slug(ctx, f.hub.as_ref(), "filter.hub").await?,
            region: crate::aidants::region("filter.region", f.region)?,
            demarche: f.demarche.map(Into::into),
            duration: f.duration.map(Into::into),
        };
        let range = dimensions::months(months.as_ref(), "months")?;
        let dims: Vec<_> = by.iter().map(|d| d.domain()).collect();
        let buckets = maillage_aidants::statistics::mandate_statistics(
            &state(ctx)?.db,
            &filter,
            measure.domain(),
            &dims,
            range.as_ref(),
            include_empty,
        )
        .await
        .gql()?;
        let kinds: Vec<_> = by.iter().map(|d| d.key_kind()).collect();
        table(ctx, &kinds, buckets, Sum::Figure).await
    }

    /// Grants per group of `by`: how many, and their `amount` in cents. Money committed is
    /// `filter: { status: [SIGNED, CLOSED] }`. Filtered as the `grants` list.
    async fn grants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One or two dimensions.")] by: Vec<FundingStatisticsDimension>,
        #[graphql(desc = "The grants, as for the `grants` list.")] filter: Option<GrantFilterInput>,
        #[graphql(desc = "The months of a `MONTH` dimension (of signature).")] months: Option<
            MonthRangeInput,
        >,
        #[graphql(
            default = false,
            desc = "List groups with nothing to count, with zeros."
        )]
        include_empty: bool,
    ) -> async_graphql::Result<StatisticsTable> {
        let filter = filter.unwrap_or_default();
        no_updated_since(filter.updated_since)?;
        let filter = grant_filter(ctx, &filter).await?;
        let range = dimensions::months(months.as_ref(), "months")?;
        let dims: Vec<_> = by.iter().map(|d| d.domain()).collect();
        let buckets = maillage_funding::statistics::grant_statistics(
            &state(ctx)?.db,
            &filter,
            &dims,
            range.as_ref(),
            include_empty,
        )
        .await
        .gql()?;
        let kinds: Vec<_> = by.iter().map(|d| d.key_kind()).collect();
        table(ctx, &kinds, buckets, Sum::Money).await
    }

    /// Disbursements under the grants of `filter`, per group of `by` (the grant's dimensions; `MONTH` of
    /// payment): how many, and their `amount` in cents.
    async fn disbursements(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One or two dimensions.")] by: Vec<FundingStatisticsDimension>,
        #[graphql(desc = "Their grants, as for the `grants` list.")] filter: Option<
            GrantFilterInput,
        >,
        #[graphql(desc = "The months of a `MONTH` dimension (of payment).")] months: Option<
            MonthRangeInput,
        >,
        #[graphql(
            default = false,
            desc = "List groups with nothing to count, with zeros."
        )]
        include_empty: bool,
    ) -> async_graphql::Result<StatisticsTable> {
        let filter = filter.unwrap_or_default();
        no_updated_since(filter.updated_since)?;
        let filter = grant_filter(ctx, &filter).await?;
        let range = dimensions::months(months.as_ref(), "months")?;
        let dims: Vec<_> = by.iter().map(|d| d.domain()).collect();
        let buckets = maillage_funding::statistics::disbursement_statistics(
            &state(ctx)?.db,
            &filter,
            &dims,
            range.as_ref(),
            include_empty,
        )
        .await
        .gql()?;
        let kinds: Vec<_> = by.iter().map(|d| d.key_kind()).collect();
        table(ctx, &kinds, buckets, Sum::Money).await
    }
}
