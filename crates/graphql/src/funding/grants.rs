//! The `Grant` and `Disbursement` objects, and the grant quote.

use super::handles::{EnvelopeNode, GrantNode};
use super::inputs::{BeneficiaryKindGql, GrantStatusGql, HostKindGql};
use super::money::MoneyNode;
use super::objects::FundingRuleNode;

use crate::kit::date::Date;
use crate::kit::error::IntoGql;
use crate::kit::id::{NodeKind, encode, encode_child};
use crate::kit::state;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use maillage_core::DepartmentCode;
use maillage_funding as funding;
use maillage_funding::Money;
use std::sync::Arc;

/// A dated value of a reference salary (the monthly gross SMIC from a date), with the legal text that set it.
#[derive(SimpleObject)]
pub struct ReferenceSalaryNode {
    /// Its code (`SMIC`).
    pub code: String,
    /// First day it applies (until the next value).
    pub valid_from: Date,
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
    async fn starts_on(&self) -> Date {
        Date(self.grant.starts_on)
    }
    /// Last day.
    async fn ends_on(&self) -> Option<Date> {
        self.grant.ends_on.map(Date)
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
    async fn decision_date(&self) -> Option<Date> {
        self.grant.decision_date.map(Date)
    }
    /// The date of signature: the month its amount is committed in.
    async fn signed_on(&self) -> Option<Date> {
        self.grant.signed_on.map(Date)
    }
    /// The date it was closed.
    async fn closed_on(&self) -> Option<Date> {
        self.grant.closed_on.map(Date)
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
    async fn paid_on(&self) -> Date {
        Date(self.0.paid_on)
    }
    /// Accounting reference.
    async fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }
}
