//! The `Envelope`, `FundingRule`, `Grant`, `Disbursement` and `PassProgramme` objects.

use super::inputs::{
    BeneficiaryKindGql, DrillDownAxis, GrantStatusGql, HostKindGql, RuleSchemeGql, TargetKindGql,
    count,
};
use super::money::MoneyNode;
use crate::kit::connection::{Connection, connection, page_request};
use crate::kit::error::IntoGql;
use crate::kit::handles::SiteNode;
use crate::kit::id::{NodeKind, encode, encode_child};
use crate::kit::state;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use maillage_core::DepartmentCode;
use maillage_funding as funding;
use maillage_funding::{Consumption, Envelope, Grant, Money};
use std::collections::HashMap;
use std::sync::Arc;

/// Every envelope and its consumption, loaded once per request field and shared by the nodes of the tree.
pub(crate) struct EnvelopeTree {
    pub(crate) envelopes: Vec<Envelope>,
    pub(crate) consumption: HashMap<i32, Consumption>,
}

pub(crate) async fn load_tree(ctx: &Context<'_>) -> async_graphql::Result<Arc<EnvelopeTree>> {
    let s = state(ctx)?;
    let envelopes = funding::list_envelopes(&s.db).await.gql()?;
    let consumption = funding::consumption_of_all(&s.db).await.gql()?;
    Ok(Arc::new(EnvelopeTree {
        envelopes,
        consumption,
    }))
}

/// A programme line (enveloppe): an amount, within a wider line or not, and what its grants commit and pay.
pub struct EnvelopeNode {
    pub(crate) envelope: Envelope,
    pub(crate) tree: Arc<EnvelopeTree>,
}

impl EnvelopeNode {
    fn node(&self, e: &Envelope) -> EnvelopeNode {
        EnvelopeNode {
            envelope: e.clone(),
            tree: Arc::clone(&self.tree),
        }
    }
}

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
    pub month: NaiveDate,
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
                month: m.month,
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
        first: Option<i32>,
        after: Option<String>,
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
            first,
            after,
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
    async fn valid_from(&self) -> NaiveDate {
        self.0.valid_from
    }
    /// Last day it applies (inclusive); null: still valid.
    async fn valid_to(&self) -> Option<NaiveDate> {
        self.0.valid_to
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

/// A dated value of a reference salary (the monthly gross SMIC from a date), with the legal text that set it.
#[derive(SimpleObject)]
pub struct ReferenceSalaryNode {
    /// Its code (`SMIC`).
    pub code: String,
    /// First day it applies (until the next value).
    pub valid_from: NaiveDate,
    /// The monthly gross amount.
    pub monthly: MoneyNode,
    /// The decree or order that set it.
    pub source: String,
}

/// One line of a quote: `unit × posts = total`.
#[derive(SimpleObject)]
pub struct QuoteLineNode {
    /// What it is: `grant per post`, `training`, `equipment kit`, `certification`.
    pub label: String,
    /// Amount per post.
    pub unit: MoneyNode,
    /// Posts.
    pub posts: i32,
    /// Line total.
    pub total: MoneyNode,
    /// The computation spelled out (`50 000,00 € per post × 3 = 150 000,00 €`, or the SMIC share).
    pub detail: String,
}

/// What a host would receive, and how it was computed.
#[derive(SimpleObject)]
pub struct GrantQuoteNode {
    /// The rule applied.
    pub rule: FundingRuleNode,
    /// The computation, line by line.
    pub lines: Vec<QuoteLineNode>,
    /// The sum of the lines.
    pub total: MoneyNode,
}

// ---------------------------------------------------------------------------------------------------------------
// Grants
// ---------------------------------------------------------------------------------------------------------------

/// What a page of grants shares: the envelopes and each grant's disbursed total, fetched once for the page.
pub(crate) struct GrantContext {
    pub(crate) envelopes: Arc<EnvelopeTree>,
    pub(crate) disbursed: HashMap<i32, Money>,
}

/// A grant (convention): money of an envelope for a host structure, a hub or a collectivité.
pub struct GrantNode {
    pub(crate) grant: Grant,
    pub(crate) shared: Arc<GrantContext>,
}

/// A grant (convention): money of an envelope for a host structure, a hub or a collectivité.
#[Object(name = "Grant")]
impl GrantNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::Grant, self.grant.id)
    }
    /// When Maillage last wrote it (server clock, every write): the key of incremental sync.
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.grant.updated_at
    }
    /// Version, for the status mutations.
    async fn version(&self) -> i32 {
        self.grant.version
    }
    /// The envelope it draws on.
    async fn envelope(&self) -> Option<EnvelopeNode> {
        let tree = &self.shared.envelopes;
        tree.envelopes
            .iter()
            .find(|e| e.id == self.grant.envelope_id)
            .map(|e| EnvelopeNode {
                envelope: e.clone(),
                tree: Arc::clone(tree),
            })
    }
    /// What kind of beneficiary.
    async fn beneficiary_kind(&self) -> BeneficiaryKindGql {
        self.grant.beneficiary_kind.into()
    }
    /// The beneficiary's id in its own domain (host structure id or SIRET, hub id, collectivité code).
    async fn beneficiary_ref(&self) -> &str {
        &self.grant.beneficiary_ref
    }
    /// The beneficiary's public name.
    async fn beneficiary_name(&self) -> &str {
        &self.grant.beneficiary_name
    }
    /// A contact person (personal data): null unless the caller may read personal data of the grant's department.
    async fn contact(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let s = state(ctx)?;
        Ok(
            if s.actor
                .can_read_personal_data(self.grant.department.as_ref())
            {
                self.grant.contact.clone()
            } else {
                None
            },
        )
    }
    /// The hub concerned (global ID of a `Hub`).
    async fn hub_id(&self) -> Option<ID> {
        self.grant.hub.map(|h| encode(NodeKind::Hub, h.0))
    }
    /// The department concerned.
    async fn department_code(&self) -> Option<&str> {
        self.grant.department.as_ref().map(DepartmentCode::as_str)
    }
    /// Its region.
    async fn region_code(&self) -> Option<&str> {
        self.grant.region.as_ref().map(|r| r.as_str())
    }
    /// The amount granted.
    async fn amount(&self) -> MoneyNode {
        MoneyNode(self.grant.amount)
    }
    /// Paid so far.
    async fn disbursed(&self) -> MoneyNode {
        MoneyNode(
            self.shared
                .disbursed
                .get(&self.grant.id)
                .copied()
                .unwrap_or(Money::ZERO),
        )
    }
    /// Posts paid for.
    async fn posts(&self) -> i32 {
        self.grant.posts
    }
    /// First day.
    async fn starts_on(&self) -> NaiveDate {
        self.grant.starts_on
    }
    /// Last day.
    async fn ends_on(&self) -> Option<NaiveDate> {
        self.grant.ends_on
    }
    /// Where it stands.
    async fn status(&self) -> GrantStatusGql {
        self.grant.status.into()
    }
    /// When it was signed (the moment it was recorded as signed).
    async fn signed_at(&self) -> Option<DateTime<Utc>> {
        self.grant.signed_at
    }
    /// The date of the funding decision: the rule in force that day applies.
    async fn decision_date(&self) -> Option<NaiveDate> {
        self.grant.decision_date
    }
    /// The date of signature: the month its amount is committed in.
    async fn signed_on(&self) -> Option<NaiveDate> {
        self.grant.signed_on
    }
    /// The date it was closed.
    async fn closed_on(&self) -> Option<NaiveDate> {
        self.grant.closed_on
    }
    /// Public or private, for a host structure (from the counsellors domain).
    async fn host_kind(&self) -> Option<HostKindGql> {
        self.grant.host_kind.map(Into::into)
    }
    /// The counsellors domain's post request (conventionnement) it pays for.
    async fn funded_posts_ref(&self) -> Option<&str> {
        self.grant.funded_posts_ref.as_deref()
    }
    /// The funding rule its amount was checked against (global ID of a `FundingRule`).
    async fn rule_id(&self) -> Option<ID> {
        self.grant.rule_id.map(|r| encode(NodeKind::FundingRule, r))
    }
    /// The contract's length in years, for a salary-based rule.
    async fn contract_years(&self) -> Option<i32> {
        self.grant.contract_years
    }
    /// What the rule gives; differs from `amount` only with an `overrideReason`.
    async fn expected_amount(&self) -> Option<MoneyNode> {
        self.grant.expected_amount.map(MoneyNode)
    }
    /// Why the amount differs from the rule's computation.
    async fn override_reason(&self) -> Option<&str> {
        self.grant.override_reason.as_deref()
    }
    /// The payments made, oldest first.
    async fn disbursements(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<DisbursementNode>> {
        let s = state(ctx)?;
        Ok(funding::list_disbursements(&s.db, self.grant.id)
            .await
            .gql()?
            .into_iter()
            .map(DisbursementNode)
            .collect())
    }
}

/// A payment made under a grant (no bank details: Maillage stores none).
pub struct DisbursementNode(pub funding::Disbursement);

/// A payment made under a grant (no bank details: Maillage stores none).
#[Object(name = "Disbursement")]
impl DisbursementNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode_child(NodeKind::Disbursement, self.0.grant_id, self.0.id)
    }
    /// The grant paid (its global ID).
    async fn grant_id(&self) -> ID {
        encode(NodeKind::Grant, self.0.grant_id)
    }
    /// Amount.
    async fn amount(&self) -> MoneyNode {
        MoneyNode(self.0.amount)
    }
    /// Payment date.
    async fn paid_on(&self) -> NaiveDate {
        self.0.paid_on
    }
    /// Accounting reference.
    async fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }
}

pub(crate) async fn grant_context(
    ctx: &Context<'_>,
    grants: &[Grant],
) -> async_graphql::Result<Arc<GrantContext>> {
    let s = state(ctx)?;
    let envelopes = load_tree(ctx).await?;
    let disbursed = funding::disbursed_by_grant(&s.db, grants.iter().map(|g| g.id))
        .await
        .gql()?;
    Ok(Arc::new(GrantContext {
        envelopes,
        disbursed,
    }))
}

pub(crate) async fn grant_node(
    ctx: &Context<'_>,
    grant: Grant,
) -> async_graphql::Result<GrantNode> {
    let shared = grant_context(ctx, std::slice::from_ref(&grant)).await?;
    Ok(GrantNode { grant, shared })
}

pub(crate) async fn grant_page(
    ctx: &Context<'_>,
    filter: funding::GrantFilter,
    sync: &maillage_core::sync::SyncOptions,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<GrantNode>> {
    let s = state(ctx)?;
    let request = page_request(ctx, first, after)?;
    let page = funding::list_grants_synced(&s.db, &filter, sync, &request)
        .await
        .gql()?;
    let grants: Vec<Grant> = page.items.iter().map(|(_, g)| g.clone()).collect();
    let shared = grant_context(ctx, &grants).await?;
    Ok(connection(page, |grant| GrantNode {
        grant,
        shared: Arc::clone(&shared),
    }))
}

// ---------------------------------------------------------------------------------------------------------------
// Pass numérique
// ---------------------------------------------------------------------------------------------------------------

/// Vouchers issued and used by a programme on one day (negative for a correction).
#[derive(SimpleObject)]
pub struct VoucherMovementNode {
    /// The day.
    pub on: NaiveDate,
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
    async fn signed_on(&self) -> Option<NaiveDate> {
        self.0.signed_on
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
                on: m.moved_on,
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
    /// The sites accepting the vouchers (archived sites are left out).
    async fn sites(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SiteNode>> {
        let s = state(ctx)?;
        Ok(maillage_sites::sites_by_ids(&s.db, &self.0.sites)
            .await
            .gql()?
            .into_iter()
            .map(SiteNode::new)
            .collect())
    }
}

pub(crate) async fn envelope_node(
    ctx: &Context<'_>,
    id: i32,
) -> async_graphql::Result<Option<EnvelopeNode>> {
    let tree = load_tree(ctx).await?;
    Ok(tree
        .envelopes
        .iter()
        .find(|e| e.id == id)
        .map(|e| EnvelopeNode {
            envelope: e.clone(),
            tree: Arc::clone(&tree),
        }))
}
