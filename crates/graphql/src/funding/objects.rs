//! The `Envelope`, `FundingRule` and `PassProgramme` objects (grants and disbursements are in `grants.rs`).

use super::handles::{EnvelopeNode, GrantNode, grant_page};
use super::inputs::{
    DrillDownAxis, GrantStatusGql, HostKindGql, RuleSchemeGql, TargetKindGql, count,
};
use super::money::MoneyNode;
use crate::kit::connection::MemoryConnection;
use crate::kit::connection::{Connection, PageArgs, connection, page_request};
use crate::kit::date::Date;
use crate::kit::error::IntoGql;
use crate::kit::handles::SiteNode;
use crate::kit::id::{NodeKind, encode};
use crate::kit::state;
use async_graphql::{Context, ID, Object, SimpleObject};
use maillage_core::DepartmentCode;
use maillage_funding as funding;
use maillage_funding::Consumption;
use std::collections::HashMap;

/// Amount, committed, disbursed and remaining of an envelope, its children's grants included.
#[derive(SimpleObject)]
pub struct ConsumptionNode {
    /// The envelope's amount.
    pub amount: MoneyNode,
    /// Signed and closed grants.
    pub committed: MoneyNode,
    /// Payments made under them.
    pub disbursed: MoneyNode,
    /// What may still be committed (amount − committed).
    pub remaining: MoneyNode,
    /// The envelope's target (posts, counsellors or collectivités), if it has one.
    pub target: Option<TargetNode>,
    /// What its committing grants and programmes (children included) achieve toward the target; 0 without one.
    pub achieved: i32,
}

/// What an envelope is meant to fund, beside its amount.
#[derive(SimpleObject)]
#[graphql(name = "EnvelopeTarget")]
pub struct TargetNode {
    /// What is counted.
    pub kind: TargetKindGql,
    /// How many are targeted.
    pub count: i32,
}

impl From<funding::Target> for TargetNode {
    fn from(t: funding::Target) -> Self {
        Self {
            kind: t.kind.into(),
            count: count(t.count),
        }
    }
}

/// One month of an envelope's consumption (children included).
#[derive(SimpleObject)]
pub struct MonthConsumptionNode {
    /// The month's first day.
    pub month: Date,
    /// Committed that month (grants by signature date, Pass numérique programmes by convention date).
    pub committed: MoneyNode,
    /// Paid that month.
    pub disbursed: MoneyNode,
    /// Committed up to the end of the month.
    pub committed_to_date: MoneyNode,
    /// Paid up to the end of the month.
    pub disbursed_to_date: MoneyNode,
}

impl From<Consumption> for ConsumptionNode {
    fn from(c: Consumption) -> Self {
        Self {
            amount: MoneyNode(c.amount),
            committed: MoneyNode(c.committed),
            disbursed: MoneyNode(c.disbursed),
            remaining: MoneyNode(c.remaining()),
            target: c.target.map(Into::into),
            achieved: count(c.achieved),
        }
    }
}

/// One part of a drill-down: the grants of one hub, department or region.
#[derive(SimpleObject)]
pub struct ConsumptionPartNode {
    /// Hub global ID, department code or region code; null for the grants that have none.
    pub key: Option<String>,
    /// Its name (hub, department or region); null for the grants that have none.
    pub label: Option<String>,
    /// For a department, its region's code.
    pub region_code: Option<String>,
    /// Signed and closed grants.
    pub committed: MoneyNode,
    /// Payments made.
    pub disbursed: MoneyNode,
    /// Number of committing grants.
    pub grants: i32,
}

/// A programme line (enveloppe): an amount, within a wider line or not, and what its grants commit and pay.
#[Object(name = "Envelope")]
impl EnvelopeNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::Envelope, self.envelope.id)
    }
    /// When Maillage last wrote it (server clock, every write): the key of incremental sync.
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.envelope.updated_at
    }
    /// Stable code, e.g. `FR-CNFS`.
    async fn code(&self) -> &str {
        &self.envelope.code
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.envelope.name
    }
    /// Where the amount comes from.
    async fn source(&self) -> Option<&str> {
        self.envelope.source.as_deref()
    }
    /// Version, for `updateEnvelope`.
    async fn version(&self) -> i32 {
        self.envelope.version
    }
    /// The amount.
    async fn amount(&self) -> MoneyNode {
        MoneyNode(self.envelope.amount)
    }
    /// What it is meant to fund (e.g. 285 counsellors), if stated.
    async fn target(&self) -> Option<TargetNode> {
        self.envelope.target.map(Into::into)
    }
    /// Its consumption month by month (children included); months without movement are left out.
    async fn consumption_by_month(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<MonthConsumptionNode>> {
        let s = state(ctx)?;
        Ok(funding::consumption_by_month(&s.db, self.envelope.id)
            .await
            .gql()?
            .into_iter()
            .map(|m| MonthConsumptionNode {
                month: Date(m.month),
                committed: MoneyNode(m.committed),
                disbursed: MoneyNode(m.disbursed),
                committed_to_date: MoneyNode(m.committed_to_date),
                disbursed_to_date: MoneyNode(m.disbursed_to_date),
            })
            .collect())
    }
    /// Amount, committed, disbursed and remaining, its children's grants included.
    async fn consumption(&self) -> ConsumptionNode {
        self.tree
            .consumption
            .get(&self.envelope.id)
            .copied()
            .unwrap_or(Consumption {
                amount: self.envelope.amount,
                target: self.envelope.target,
                ..Consumption::default()
            })
            .into()
    }
    /// The wider line.
    async fn parent(&self) -> Option<EnvelopeNode> {
        let parent = self.envelope.parent_id?;
        self.tree
            .envelopes
            .iter()
            .find(|e| e.id == parent)
            .map(|e| self.node(e))
    }
    /// The lines within this one.
    async fn children(&self) -> Vec<EnvelopeNode> {
        self.tree
            .envelopes
            .iter()
            .filter(|e| e.parent_id == Some(self.envelope.id))
            .map(|e| self.node(e))
            .collect()
    }
    /// Committed and disbursed amounts per hub, department or region (grants of this envelope and its children).
    /// The parts add up to `consumption`.
    async fn drill_down(
        &self,
        ctx: &Context<'_>,
        by: DrillDownAxis,
    ) -> async_graphql::Result<Vec<ConsumptionPartNode>> {
        let s = state(ctx)?;
        let axis = match by {
            DrillDownAxis::Hub => funding::DrillDown::Hub,
            DrillDownAxis::Department => funding::DrillDown::Department,
            DrillDownAxis::Region => funding::DrillDown::Region,
        };
        let parts = funding::drill_down(&s.db, self.envelope.id, axis)
            .await
            .gql()?;
        let labels: HashMap<String, String> = match by {
            DrillDownAxis::Hub => maillage_territories::list_hubs(&s.db)
                .await
                .gql()?
                .into_iter()
                .map(|h| (h.id.to_string(), h.name))
                .collect(),
            DrillDownAxis::Department => maillage_territories::list_departments(&s.db, None)
                .await
                .gql()?
                .into_iter()
                .map(|d| (d.code.to_string(), d.name))
                .collect(),
            DrillDownAxis::Region => maillage_territories::list_regions(&s.db)
                .await
                .gql()?
                .into_iter()
                .map(|r| (r.code.to_string(), r.name))
                .collect(),
        };
        Ok(parts
            .into_iter()
            .map(|p| {
                let label = p.key.as_ref().and_then(|k| labels.get(k).cloned());
                let key = match by {
                    DrillDownAxis::Hub => p
                        .key
                        .as_deref()
                        .and_then(|k| k.parse::<i32>().ok())
                        .map(|h| encode(NodeKind::Hub, h).to_string()),
                    _ => p.key,
                };
                ConsumptionPartNode {
                    key,
                    label,
                    region_code: p.region,
                    committed: MoneyNode(p.committed),
                    disbursed: MoneyNode(p.disbursed),
                    grants: count(p.grants),
                }
            })
            .collect())
    }
    /// The grants drawing on this envelope itself (not its children), by id.
    async fn grants(
        &self,
        ctx: &Context<'_>,
        status: Option<Vec<GrantStatusGql>>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<GrantNode>> {
        let filter = funding::GrantFilter {
            envelopes: Some(vec![self.envelope.id]),
            statuses: status.map(|s| s.into_iter().map(Into::into).collect()),
            ..funding::GrantFilter::default()
        };
        grant_page(
            ctx,
            filter,
            &maillage_core::sync::SyncOptions::default(),
            crate::kit::connection::PageArgs::new(first, after, last, before),
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Rules and quotes
// ---------------------------------------------------------------------------------------------------------------

/// A funding rule: host kind × department → grant per post and per-counsellor extras, over a validity period.
pub struct FundingRuleNode(pub funding::FundingRule);

/// A funding rule: host kind × department → grant per post and per-counsellor extras, over a validity period.
#[Object(name = "FundingRule")]
impl FundingRuleNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::FundingRule, self.0.id)
    }
    /// Public or private host.
    async fn host_kind(&self) -> HostKindGql {
        self.0.host_kind.into()
    }
    /// The department it is specific to; null: everywhere no specific rule exists.
    async fn department_code(&self) -> Option<&str> {
        self.0.department.as_ref().map(DepartmentCode::as_str)
    }
    /// Grant per funded post.
    async fn amount_per_post(&self) -> MoneyNode {
        MoneyNode(self.0.amount_per_post)
    }
    /// Training per counsellor.
    async fn training(&self) -> MoneyNode {
        MoneyNode(self.0.training)
    }
    /// Equipment kit per counsellor.
    async fn kit(&self) -> MoneyNode {
        MoneyNode(self.0.kit)
    }
    /// Certification per counsellor.
    async fn certification(&self) -> MoneyNode {
        MoneyNode(self.0.certification)
    }
    /// First day it applies.
    async fn valid_from(&self) -> Date {
        Date(self.0.valid_from)
    }
    /// Last day it applies (inclusive); null: still valid.
    async fn valid_to(&self) -> Option<Date> {
        self.0.valid_to.map(Date)
    }
    /// Where the figures come from.
    async fn source(&self) -> &str {
        &self.0.source
    }
    /// Fixed amount per post, or a share of the SMIC over some years.
    async fn scheme(&self) -> RuleSchemeGql {
        match self.0.scheme {
            funding::RuleScheme::Fixed => RuleSchemeGql::Fixed,
            funding::RuleScheme::SalaryShare => RuleSchemeGql::SalaryShare,
        }
    }
    /// For a salary-based rule: the reference salary (`SMIC`).
    async fn salary_reference(&self) -> Option<&str> {
        self.0.salary.as_ref().map(|s| s.reference.as_str())
    }
    /// For a salary-based rule: the share paid, in percent.
    async fn salary_share_pct(&self) -> Option<i32> {
        self.0.salary.as_ref().map(|s| s.share_pct)
    }
    /// For a salary-based rule: the contract's length in years it applies to.
    async fn salary_years(&self) -> Option<i32> {
        self.0.salary.as_ref().map(|s| s.years)
    }
    /// The rule as errors and quotes name it (id, host kind, territory, period, scheme, source).
    async fn description(&self) -> String {
        self.0.describe()
    }
    /// Version, for `updateFundingRule`.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Pass numérique
// ---------------------------------------------------------------------------------------------------------------

/// Vouchers issued and used by a programme on one day (negative for a correction).
#[derive(SimpleObject)]
pub struct VoucherMovementNode {
    /// The day.
    pub on: Date,
    /// Vouchers handed out.
    pub issued: i32,
    /// Vouchers used.
    pub used: i32,
}

/// A collectivité's Pass numérique programme: vouchers for training in the sites that accept them.
pub struct PassProgrammeNode(pub funding::PassProgramme);

/// A collectivité's Pass numérique programme: vouchers for training in the sites that accept them.
#[Object(name = "PassProgramme")]
impl PassProgrammeNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::PassProgramme, self.0.id)
    }
    /// Version, for `updatePassProgramme`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The collectivité.
    async fn collectivite(&self) -> &str {
        &self.0.collectivite
    }
    /// Its department.
    async fn department_code(&self) -> Option<&str> {
        self.0.department.as_ref().map(DepartmentCode::as_str)
    }
    /// The programme's amount.
    async fn amount(&self) -> MoneyNode {
        MoneyNode(self.0.amount)
    }
    /// Vouchers handed out.
    async fn vouchers_issued(&self) -> i32 {
        count(self.0.vouchers_issued)
    }
    /// Vouchers used.
    async fn vouchers_used(&self) -> i32 {
        count(self.0.vouchers_used)
    }
    /// The envelope its amount is committed in (global ID of an `Envelope`).
    async fn envelope_id(&self) -> Option<ID> {
        self.0.envelope_id.map(|e| encode(NodeKind::Envelope, e))
    }
    /// The day its convention was signed: the month its amount is committed in.
    async fn signed_on(&self) -> Option<Date> {
        self.0.signed_on.map(Date)
    }
    /// Vouchers issued and used, day by day (their sums are `vouchersIssued` and `vouchersUsed`).
    async fn voucher_movements(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<VoucherMovementNode>> {
        let s = state(ctx)?;
        Ok(funding::voucher_movements(&s.db, self.0.id)
            .await
            .gql()?
            .into_iter()
            .map(|m| VoucherMovementNode {
                on: Date(m.moved_on),
                issued: count(m.issued),
                used: count(m.used),
            })
            .collect())
    }
    /// Global IDs of the sites accepting the vouchers.
    async fn site_ids(&self) -> Vec<ID> {
        self.0
            .sites
            .iter()
            .map(|s| encode(NodeKind::Site, s.0))
            .collect()
    }
    /// The sites accepting the vouchers, by id (archived sites are left out, so a page may be short).
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn sites(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<MemoryConnection<SiteNode>> {
        let s = state(ctx)?;
        // Page the programme's site ids first, then read only that page's sites.
        let request = page_request(ctx, PageArgs::new(first, after, last, before))?;
        let ids =
            maillage_core::pagination::page_in_memory(self.0.sites.clone(), &request, |id| id.0)
                .gql()?;
        let page_ids: Vec<maillage_core::SiteId> = ids.items.iter().map(|(_, id)| *id).collect();
        let mut sites: HashMap<i32, maillage_sites::Site> =
            maillage_sites::sites_by_ids(&s.db, &page_ids)
                .await
                .gql()?
                .into_iter()
                .map(|site| (site.id.0, site))
                .collect();
        let page = maillage_core::Page {
            items: ids
                .items
                .into_iter()
                .filter_map(|(cursor, id)| sites.remove(&id.0).map(|site| (cursor, site)))
                .collect(),
            has_next_page: ids.has_next_page,
            has_previous_page: ids.has_previous_page,
            total_count: ids.total_count,
        };
        Ok(MemoryConnection(connection(page, SiteNode::new)))
    }
}
