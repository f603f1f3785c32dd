//! The `AmiCampaign` and `AmiCriterion` objects.

use crate::funding::MoneyNode;
use crate::kit::handles::{RegionLoader, RegionNode};
use crate::kit::id::{NodeKind, encode};
use crate::kit::loader::loader;
use crate::kit::state;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use maillage_ami as ami;
use maillage_ami::{Campaign, SystemClock};
use maillage_core::RegionCode;

// ---------------------------------------------------------------------------------------------------------------

/// One criterion of a campaign's scoring grid.
pub struct AmiCriterionNode(pub ami::Criterion);

/// One criterion of a campaign's scoring grid.
#[Object(name = "AmiCriterion")]
impl AmiCriterionNode {
    /// Stable code within the campaign, e.g. `territorial_coverage`: score sheets name criteria by it.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Label shown to reviewers.
    async fn label(&self) -> &str {
        &self.0.label
    }
    /// Weight in the weighted mean (weights need not sum to 100).
    async fn weight(&self) -> i32 {
        self.0.weight
    }
    /// Highest score: scores are integers from 0 to this.
    async fn max_score(&self) -> i32 {
        self.0.max_score
    }
}

/// A call for applications (AMI): its window, money and scoring grid, all data. Public.
pub struct AmiCampaignNode(pub Campaign);

/// A call for applications (AMI): its window, money and scoring grid, all data. Public.
#[Object(name = "AmiCampaign")]
impl AmiCampaignNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::AmiCampaign, self.0.id.0)
    }
    /// Stable code, e.g. `BDT-HUBS-AMI-2020`.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// First instant at which dossiers may be submitted.
    async fn opens_at(&self) -> DateTime<Utc> {
        self.0.opens_at
    }
    /// Last second at which dossiers may be submitted (inclusive).
    async fn closes_at(&self) -> DateTime<Utc> {
        self.0.closes_at
    }
    /// `opensAt` in Europe/Paris wall-clock time, e.g. `2020-11-17 00:00:00 CET`.
    async fn opens_at_paris(&self) -> String {
        ami::state::paris(self.0.opens_at)
    }
    /// `closesAt` in Europe/Paris wall-clock time, e.g. `2021-06-30 23:59:59 CEST`.
    async fn closes_at_paris(&self) -> String {
        ami::state::paris(self.0.closes_at)
    }
    /// Whether dossiers may be submitted now (the domain's window rule, to the second).
    async fn is_open(&self) -> bool {
        self.0.window().check(ami::Clock::now(&SystemClock)).is_ok()
    }
    /// Code of the funding envelope the grants are drawn from (`envelope(code:)` shows its consumption).
    async fn envelope_code(&self) -> &str {
        &self.0.envelope_code
    }
    /// The most a hub may receive before bonuses.
    async fn max_per_hub(&self) -> MoneyNode {
        MoneyNode(self.0.max_per_hub)
    }
    /// Bonus for dossiers working in QPV (priority urban districts).
    async fn qpv_bonus(&self) -> MoneyNode {
        MoneyNode(self.0.qpv_bonus)
    }
    /// Bonus for dossiers working in Action Cœur de Ville towns.
    async fn acv_bonus(&self) -> MoneyNode {
        MoneyNode(self.0.acv_bonus)
    }
    /// INSEE codes of the priority regions (regions without a hub).
    async fn priority_region_codes(&self) -> Vec<&str> {
        self.0
            .priority_regions
            .iter()
            .map(RegionCode::as_str)
            .collect()
    }
    /// The priority regions.
    async fn priority_regions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RegionNode>> {
        let _s = state(ctx)?;
        let found = loader::<RegionLoader>(ctx)?
            .load_many(self.0.priority_regions.iter().cloned())
            .await?;
        Ok(self
            .0
            .priority_regions
            .iter()
            .filter_map(|code| found.get(code).cloned())
            .map(RegionNode)
            .collect())
    }
    /// Largest attachment accepted, in bytes.
    async fn max_attachment_bytes(&self) -> i64 {
        self.0.max_attachment_bytes
    }
    /// The scoring grid, in display order.
    async fn criteria(&self) -> Vec<AmiCriterionNode> {
        self.0
            .criteria
            .iter()
            .cloned()
            .map(AmiCriterionNode)
            .collect()
    }
    /// Version.
    async fn version(&self) -> i32 {
        self.0.version
    }
}
