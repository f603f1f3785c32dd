//! The AMI "Hubs pour un numérique inclusif": campaigns, dossiers, reviews and decisions.
//!
//! Thin resolvers over `maillage-ami`, which decides who sees and does what (an applicant sees only its own
//! dossiers, and no score before the decision; reviewers see submitted dossiers; admins everything) and enforces
//! the state machine, the deadline, the ceiling and the envelope. Mutations take one `input` and answer
//! `{ application, userErrors }`; attachments are uploaded and downloaded over plain HTTP (`/ami/…`, see the
//! server crate), and listed here.

use crate::error::{IntoGql, coded, to_gql};
use crate::funding::{Cents, MoneyNode};
use crate::mutations::{UserError, classify, user_error, writer};
use crate::sites::PageInfo;
use crate::state;
use crate::territories::{DepartmentNode, HubNode, RegionNode};
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use maillage_ami as ami;
use maillage_ami::{
    Application, ApplicationData, ApplicationId, Campaign, CampaignId, Status, SystemClock,
};
use maillage_core::error::FieldPath;
use maillage_core::pagination::{Page, PageRequest};
use maillage_core::{DepartmentCode, RegionCode, Siret};
use maillage_funding::Money;
use std::collections::HashMap;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------------------------
// Global IDs
// ---------------------------------------------------------------------------------------------------------------

/// The AMI kinds of global ID (the `Node` interface does not resolve them: fetch them with the `ami…` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmiKind {
    /// A campaign.
    Campaign,
    /// A dossier.
    Application,
    /// An attachment of a dossier.
    Attachment,
    /// A reviewer's score sheet.
    ScoreSheet,
}

impl AmiKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Campaign => "AmiCampaign",
            Self::Application => "AmiApplication",
            Self::Attachment => "AmiAttachment",
            Self::ScoreSheet => "AmiScoreSheet",
        }
    }
}

/// Encodes the global ID of an AMI object.
pub fn ami_id(kind: AmiKind, id: i32) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.prefix())))
}

/// Decodes the global ID of an AMI object of `kind`; the message says what is wrong (for `invalid_id`).
pub fn decode_ami_id(raw: &str, kind: AmiKind) -> Result<i32, String> {
    URL_SAFE_NO_PAD
        .decode(raw.trim().trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| {
            t.strip_prefix(kind.prefix())
                .and_then(|r| r.strip_prefix(':'))
                .and_then(|n| n.parse().ok())
        })
        .ok_or_else(|| format!("this ID does not name an {}", kind.prefix()))
}

/// The global ID of a funding grant, as `Query.grant(id:)` takes it (the funding module's encoding).
fn grant_id(id: i32) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("Grant:{id}")))
}

fn id_error(path: FieldPath, message: String) -> UserError {
    UserError {
        field: path.0,
        code: "invalid_id".to_owned(),
        message,
    }
}

fn input(field: &str) -> FieldPath {
    FieldPath::new("input").push(field)
}

fn decode_arg(id: &ID, kind: AmiKind, field: &str) -> async_graphql::Result<i32> {
    decode_ami_id(id, kind).map_err(|m| coded(&m, "invalid_id", Some(field.to_owned())))
}

// ---------------------------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------------------------

/// Where a dossier stands: `DRAFT → SUBMITTED → UNDER_REVIEW → SELECTED | REJECTED`, with
/// `UNDER_REVIEW → CHANGES_REQUESTED → RESUBMITTED → UNDER_REVIEW`, and `WITHDRAWN` by its applicant.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AmiApplicationStatus {
    /// Being prepared by its applicant; editable; invisible to reviewers.
    Draft,
    /// Sent before the deadline; frozen.
    Submitted,
    /// Being reviewed: reviewers score it.
    UnderReview,
    /// Reviewers asked for changes: editable again by its applicant.
    ChangesRequested,
    /// Sent again after changes; frozen.
    Resubmitted,
    /// Laureate: a hub and its grant were created. Final.
    Selected,
    /// Not retained; the reason is visible to the applicant. Final.
    Rejected,
    /// Withdrawn by its applicant. Final.
    Withdrawn,
}

impl From<Status> for AmiApplicationStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Draft => Self::Draft,
            Status::Submitted => Self::Submitted,
            Status::UnderReview => Self::UnderReview,
            Status::ChangesRequested => Self::ChangesRequested,
            Status::Resubmitted => Self::Resubmitted,
            Status::Selected => Self::Selected,
            Status::Rejected => Self::Rejected,
            Status::Withdrawn => Self::Withdrawn,
        }
    }
}

impl From<AmiApplicationStatus> for Status {
    fn from(s: AmiApplicationStatus) -> Self {
        match s {
            AmiApplicationStatus::Draft => Self::Draft,
            AmiApplicationStatus::Submitted => Self::Submitted,
            AmiApplicationStatus::UnderReview => Self::UnderReview,
            AmiApplicationStatus::ChangesRequested => Self::ChangesRequested,
            AmiApplicationStatus::Resubmitted => Self::Resubmitted,
            AmiApplicationStatus::Selected => Self::Selected,
            AmiApplicationStatus::Rejected => Self::Rejected,
            AmiApplicationStatus::Withdrawn => Self::Withdrawn,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Campaigns
// ---------------------------------------------------------------------------------------------------------------

/// One criterion of a campaign's scoring grid.
pub struct AmiCriterionNode(ami::Criterion);

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

#[Object(name = "AmiCampaign")]
impl AmiCampaignNode {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        ami_id(AmiKind::Campaign, self.0.id.0)
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
        let s = state(ctx)?;
        let found = s
            .loaders
            .region
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

// ---------------------------------------------------------------------------------------------------------------
// Dossiers
// ---------------------------------------------------------------------------------------------------------------

/// What the dossiers of one response share: the campaigns (there are few) and, for the dossiers of one page, their
/// attachments, score sheets and conflicts, each loaded once on first use, so a page of dossiers costs one domain
/// call per list, not one per dossier.
#[derive(Default)]
pub struct Shared {
    /// The dossiers of the page (or the single dossier) these nodes belong to.
    ids: Vec<ApplicationId>,
    campaigns: tokio::sync::OnceCell<HashMap<CampaignId, Campaign>>,
    attachments: tokio::sync::OnceCell<HashMap<ApplicationId, Vec<ami::Attachment>>>,
    score_sheets: tokio::sync::OnceCell<HashMap<ApplicationId, Vec<ami::ScoreSheet>>>,
    conflicts: tokio::sync::OnceCell<HashMap<ApplicationId, Vec<ami::ConflictOfInterest>>>,
}

impl Shared {
    fn of(ids: Vec<ApplicationId>) -> Arc<Self> {
        Arc::new(Self {
            ids,
            ..Self::default()
        })
    }

    async fn campaign(
        &self,
        ctx: &Context<'_>,
        id: CampaignId,
    ) -> async_graphql::Result<Option<Campaign>> {
        let s = state(ctx)?;
        let all = self
            .campaigns
            .get_or_try_init(|| async {
                ami::list_campaigns(&s.db)
                    .await
                    .map(|list| list.into_iter().map(|c| (c.id, c)).collect())
            })
            .await
            .gql()?;
        Ok(all.get(&id).cloned())
    }

    async fn attachments(
        &self,
        ctx: &Context<'_>,
        id: ApplicationId,
    ) -> async_graphql::Result<Vec<ami::Attachment>> {
        let s = state(ctx)?;
        let all = self
            .attachments
            .get_or_try_init(|| ami::attachments_of(&s.db, &s.actor, &self.ids))
            .await
            .gql()?;
        Ok(all.get(&id).cloned().unwrap_or_default())
    }

    async fn score_sheets(
        &self,
        ctx: &Context<'_>,
        id: ApplicationId,
    ) -> async_graphql::Result<Vec<ami::ScoreSheet>> {
        let s = state(ctx)?;
        let all = self
            .score_sheets
            .get_or_try_init(|| ami::score_sheets_of(&s.db, &s.actor, &self.ids))
            .await
            .gql()?;
        Ok(all.get(&id).cloned().unwrap_or_default())
    }

    async fn conflicts(
        &self,
        ctx: &Context<'_>,
        id: ApplicationId,
    ) -> async_graphql::Result<Vec<ami::ConflictOfInterest>> {
        let s = state(ctx)?;
        let all = self
            .conflicts
            .get_or_try_init(|| ami::conflicts_of(&s.db, &s.actor, &self.ids))
            .await
            .gql()?;
        Ok(all.get(&id).cloned().unwrap_or_default())
    }
}

/// The lead carrier of a dossier (porteur): a structure, public data.
#[derive(SimpleObject)]
pub struct AmiCarrier {
    /// Name.
    pub name: String,
    /// SIRET (14 digits).
    pub siret: String,
    /// Legal form (association, collectivité, SCIC, public operator…).
    pub legal_form: String,
}

/// A partner structure of the lead carrier.
#[derive(SimpleObject)]
pub struct AmiConsortiumMember {
    /// Structure name.
    pub name: String,
    /// Its SIRET, when it has one.
    pub siret: Option<String>,
    /// Its role in the consortium.
    pub role: Option<String>,
}

/// One line of a dossier's budget.
#[derive(SimpleObject)]
pub struct AmiBudgetLine {
    /// What the money is for.
    pub label: String,
    /// Amount.
    pub amount: MoneyNode,
}

/// A co-funder of a dossier and its contribution.
#[derive(SimpleObject)]
pub struct AmiCoFunding {
    /// The co-funder.
    pub funder: String,
    /// Amount.
    pub amount: MoneyNode,
    /// Obtained (`true`) or only requested.
    pub secured: bool,
}

/// The decision on a dossier, visible to its applicant.
pub struct AmiDecisionNode(ami::Decision);

#[Object(name = "AmiDecision")]
impl AmiDecisionNode {
    /// When it was taken.
    async fn decided_at(&self) -> DateTime<Utc> {
        self.0.decided_at
    }
    /// Amount awarded (selected dossiers).
    async fn awarded(&self) -> Option<MoneyNode> {
        self.0.awarded.map(MoneyNode)
    }
    /// The reason: required when rejecting, optional when selecting.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// Global ID of the hub created (selected dossiers).
    async fn hub_id(&self) -> Option<ID> {
        self.0
            .hub
            .map(|h| crate::id::encode(crate::id::NodeKind::Hub, h.0))
    }
    /// The hub created (selected dossiers), with the dossier's departments.
    async fn hub(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<HubNode>> {
        let Some(hub) = self.0.hub else {
            return Ok(None);
        };
        let s = state(ctx)?;
        Ok(maillage_territories::hubs_by_ids(&s.db, &[hub])
            .await
            .gql()?
            .into_iter()
            .next()
            .map(HubNode))
    }
    /// Global ID of the grant created in the campaign's envelope (selected dossiers): `grant(id:)` reads it.
    async fn grant_id(&self) -> Option<ID> {
        self.0.grant_id.map(grant_id)
    }
}

/// A dossier (candidature) to an AMI campaign. Only its applicant, BdT reviewers (once submitted) and admins see it.
pub struct AmiApplicationNode {
    app: Application,
    /// The score summary when the list that produced this node loaded it (`Some(None)`: not visible or none).
    listed_score: Option<Option<ami::ScoreSummary>>,
    shared: Arc<Shared>,
}

impl AmiApplicationNode {
    fn new(app: Application) -> Self {
        Self {
            shared: Shared::of(vec![app.id]),
            app,
            listed_score: None,
        }
    }
}

#[Object(name = "AmiApplication")]
impl AmiApplicationNode {
    /// Global ID (opaque); also names the dossier in the attachment routes (`/ami/applications/{id}/attachments`).
    async fn id(&self) -> ID {
        ami_id(AmiKind::Application, self.app.id.0)
    }
    /// Version: every change and transition takes the version read and bumps it (`stale_version` otherwise).
    async fn version(&self) -> i32 {
        self.app.version
    }
    /// Where it stands.
    async fn status(&self) -> AmiApplicationStatus {
        self.app.status.into()
    }
    /// The campaign.
    async fn campaign(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AmiCampaignNode>> {
        Ok(self
            .shared
            .campaign(ctx, self.app.campaign_id)
            .await?
            .map(AmiCampaignNode))
    }
    /// The applicant account owning it (the name of its API token).
    async fn applicant(&self) -> &str {
        &self.app.owner
    }
    /// Name of the hub the dossier proposes to create.
    async fn hub_name(&self) -> &str {
        &self.app.data.hub_name
    }
    /// The lead carrier.
    async fn carrier(&self) -> AmiCarrier {
        AmiCarrier {
            name: self.app.data.carrier_name.clone(),
            siret: self.app.data.carrier_siret.as_str().to_owned(),
            legal_form: self.app.data.carrier_legal_form.clone(),
        }
    }
    /// Consortium members.
    async fn consortium(&self) -> Vec<AmiConsortiumMember> {
        self.app
            .data
            .consortium
            .iter()
            .map(|m| AmiConsortiumMember {
                name: m.name.clone(),
                siret: m.siret.as_ref().map(|s| s.as_str().to_owned()),
                role: m.role.clone(),
            })
            .collect()
    }
    /// INSEE codes of the departments covered.
    async fn department_codes(&self) -> Vec<&str> {
        self.app
            .data
            .departments
            .iter()
            .map(DepartmentCode::as_str)
            .collect()
    }
    /// The departments covered (batched across the dossiers of a response).
    async fn departments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DepartmentNode>> {
        let s = state(ctx)?;
        let found = s
            .loaders
            .department
            .load_many(self.app.data.departments.iter().cloned())
            .await?;
        Ok(self
            .app
            .data
            .departments
            .iter()
            .filter_map(|code| found.get(code).cloned())
            .map(DepartmentNode)
            .collect())
    }
    /// INSEE codes of the regions of those departments.
    async fn region_codes(&self) -> Vec<&str> {
        self.app.regions.iter().map(RegionCode::as_str).collect()
    }
    /// Works in QPV (grants the campaign's QPV bonus).
    async fn qpv(&self) -> bool {
        self.app.data.qpv
    }
    /// Works in Action Cœur de Ville towns (grants the ACV bonus).
    async fn acv(&self) -> bool {
        self.app.data.acv
    }
    /// The action programme.
    async fn action_programme(&self) -> &str {
        &self.app.data.action_programme
    }
    /// Budget lines.
    async fn budget(&self) -> Vec<AmiBudgetLine> {
        self.app
            .data
            .budget
            .iter()
            .map(|l| AmiBudgetLine {
                label: l.label.clone(),
                amount: MoneyNode(l.amount),
            })
            .collect()
    }
    /// Amount requested from the AMI: at most the campaign's cap plus the bonuses that apply (`ceiling`).
    async fn amount_requested(&self) -> MoneyNode {
        MoneyNode(self.app.data.amount_requested)
    }
    /// The most this dossier may request: the campaign's cap plus its QPV / ACV bonuses.
    async fn ceiling(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MoneyNode>> {
        Ok(self
            .shared
            .campaign(ctx, self.app.campaign_id)
            .await?
            .map(|c| MoneyNode(c.ceiling(self.app.data.qpv, self.app.data.acv))))
    }
    /// Co-funding.
    async fn co_funding(&self) -> Vec<AmiCoFunding> {
        self.app
            .data
            .co_funding
            .iter()
            .map(|c| AmiCoFunding {
                funder: c.funder.clone(),
                amount: MoneyNode(c.amount),
                secured: c.secured,
            })
            .collect()
    }
    /// Governance of the consortium.
    async fn governance(&self) -> &str {
        &self.app.data.governance
    }
    /// First submission.
    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.app.submitted_at
    }
    /// What reviewers asked to change (visible to the applicant).
    async fn changes_requested(&self) -> Option<&str> {
        self.app.changes_requested.as_deref()
    }
    /// The decision, once taken (selected or rejected), with the rejection reason.
    async fn decision(&self) -> Option<AmiDecisionNode> {
        self.app.decision.clone().map(AmiDecisionNode)
    }
    /// Creation.
    async fn created_at(&self) -> DateTime<Utc> {
        self.app.created_at
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.app.updated_at
    }
    /// The attached PDF files, oldest first (download: `GET /ami/attachments/{id}` with the same token).
    async fn attachments(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AmiAttachmentNode>> {
        Ok(self
            .shared
            .attachments(ctx, self.app.id)
            .await?
            .into_iter()
            .map(AmiAttachmentNode)
            .collect())
    }
    /// What reviewers think, in numbers: null for the applicant until the decision (then it sees this summary,
    /// never the individual sheets).
    async fn score_summary(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<AmiScoreSummaryNode>> {
        if let Some(listed) = &self.listed_score {
            return Ok(listed.clone().map(AmiScoreSummaryNode));
        }
        let s = state(ctx)?;
        Ok(ami::score_summary(&s.db, &s.actor, self.app.id)
            .await
            .gql()?
            .map(AmiScoreSummaryNode))
    }
    /// Every reviewer's score sheet (reviewers and admins only: `forbidden` for applicants, who see the summary
    /// once decided).
    async fn score_sheets(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AmiScoreSheetNode>> {
        Ok(self
            .shared
            .score_sheets(ctx, self.app.id)
            .await?
            .into_iter()
            .map(AmiScoreSheetNode)
            .collect())
    }
    /// Declared conflicts of interest (reviewers and admins only).
    async fn conflicts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AmiConflictNode>> {
        Ok(self
            .shared
            .conflicts(ctx, self.app.id)
            .await?
            .into_iter()
            .map(AmiConflictNode)
            .collect())
    }
}

/// A PDF attached to a dossier.
pub struct AmiAttachmentNode(ami::Attachment);

#[Object(name = "AmiAttachment")]
impl AmiAttachmentNode {
    /// Global ID (opaque): `GET /ami/attachments/{id}` downloads the file.
    async fn id(&self) -> ID {
        ami_id(AmiKind::Attachment, self.0.id.0)
    }
    /// The file name given at upload.
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }
    /// Always `application/pdf`.
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }
    /// Size in bytes.
    async fn size_bytes(&self) -> i64 {
        self.0.size_bytes
    }
    /// SHA-256 of the content, hexadecimal.
    async fn sha256(&self) -> &str {
        &self.0.sha256
    }
    /// Who uploaded it.
    async fn uploaded_by(&self) -> &str {
        &self.0.uploaded_by
    }
    /// When.
    async fn uploaded_at(&self) -> DateTime<Utc> {
        self.0.uploaded_at
    }
    /// The path to download it from (relative to the API's base URL).
    async fn download_path(&self) -> String {
        format!(
            "/ami/attachments/{}",
            ami_id(AmiKind::Attachment, self.0.id.0).as_str()
        )
    }
}

/// Weighted mean, spread and number of a dossier's score sheets (0–100 scale: each score divided by its maximum,
/// weighted by its criterion's weight).
pub struct AmiScoreSummaryNode(ami::ScoreSummary);

#[Object(name = "AmiScoreSummary")]
impl AmiScoreSummaryNode {
    /// Number of score sheets.
    async fn reviews(&self) -> i32 {
        i32::try_from(self.0.reviews).unwrap_or(i32::MAX)
    }
    /// Mean of the sheets' weighted scores, 0–100.
    async fn weighted_mean(&self) -> Option<f64> {
        self.0.weighted_mean
    }
    /// Highest sheet score minus the lowest, 0–100: how much reviewers disagree.
    async fn spread(&self) -> Option<f64> {
        self.0.spread
    }
}

/// One score of a score sheet.
#[derive(SimpleObject)]
pub struct AmiScore {
    /// The criterion's code.
    pub criterion: String,
    /// The score, 0 to the criterion's `maxScore`.
    pub score: i32,
}

/// A reviewer's score sheet on one dossier (one per reviewer per dossier).
pub struct AmiScoreSheetNode(ami::ScoreSheet);

#[Object(name = "AmiScoreSheet")]
impl AmiScoreSheetNode {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        ami_id(AmiKind::ScoreSheet, self.0.id.0)
    }
    /// Version, for `updateAmiScoreSheet`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Global ID of the dossier.
    async fn application_id(&self) -> ID {
        ami_id(AmiKind::Application, self.0.application_id.0)
    }
    /// The reviewer.
    async fn reviewer(&self) -> &str {
        &self.0.reviewer
    }
    /// One score per criterion.
    async fn scores(&self) -> Vec<AmiScore> {
        self.0
            .scores
            .iter()
            .map(|s| AmiScore {
                criterion: s.criterion.clone(),
                score: s.score,
            })
            .collect()
    }
    /// The reviewer's comment.
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    /// This sheet's weighted score, 0–100.
    async fn weighted(&self) -> f64 {
        self.0.weighted
    }
    /// Creation.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A reviewer's declared conflict of interest: that reviewer cannot score the dossier.
pub struct AmiConflictNode(ami::ConflictOfInterest);

#[Object(name = "AmiConflict")]
impl AmiConflictNode {
    /// The reviewer.
    async fn reviewer(&self) -> &str {
        &self.0.reviewer
    }
    /// Why.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// When declared.
    async fn declared_at(&self) -> DateTime<Utc> {
        self.0.declared_at
    }
}

/// A page of dossiers (Relay connection).
pub struct AmiApplicationConnection(Page<AmiApplicationNode>);

/// A dossier and its cursor.
#[derive(SimpleObject)]
pub struct AmiApplicationEdge {
    /// Opaque cursor of this item.
    pub cursor: String,
    /// The dossier.
    pub node: AmiApplicationNode,
}

impl AmiApplicationNode {
    fn share(&self) -> Self {
        Self {
            app: self.app.clone(),
            listed_score: self.listed_score.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

#[Object]
impl AmiApplicationConnection {
    /// Items with their cursors.
    async fn edges(&self) -> Vec<AmiApplicationEdge> {
        self.0
            .items
            .iter()
            .map(|(c, n)| AmiApplicationEdge {
                cursor: c.as_str().to_owned(),
                node: n.share(),
            })
            .collect()
    }
    /// Items without cursors.
    async fn nodes(&self) -> Vec<AmiApplicationNode> {
        self.0.items.iter().map(|(_, n)| n.share()).collect()
    }
    /// Page position.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.0.has_next_page,
            has_previous_page: self.0.has_previous_page,
            start_cursor: self.0.items.first().map(|(c, _)| c.as_str().to_owned()),
            end_cursor: self.0.items.last().map(|(c, _)| c.as_str().to_owned()),
        }
    }
    /// Number of dossiers matching the filter, all pages together (counted only when selected).
    async fn total_count(&self) -> i32 {
        self.0
            .total_count
            .map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX))
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs and payloads
// ---------------------------------------------------------------------------------------------------------------

/// A partner structure of the lead carrier.
#[derive(InputObject)]
pub struct AmiConsortiumMemberInput {
    /// Structure name.
    pub name: String,
    /// Its SIRET, when it has one.
    pub siret: Option<String>,
    /// Its role in the consortium.
    pub role: Option<String>,
}

/// A budget line.
#[derive(InputObject)]
pub struct AmiBudgetLineInput {
    /// What the money is for.
    pub label: String,
    /// Amount in cents.
    pub amount: Cents,
}

/// A co-funder and its contribution.
#[derive(InputObject)]
pub struct AmiCoFundingInput {
    /// The co-funder.
    pub funder: String,
    /// Amount in cents.
    pub amount: Cents,
    /// Obtained (`true`) or only requested.
    #[graphql(default)]
    pub secured: bool,
}

/// The content of a dossier, written whole: `updateAmiApplication` replaces everything with what it is given.
#[derive(InputObject)]
pub struct AmiApplicationContentInput {
    /// Name of the hub the dossier proposes to create.
    pub hub_name: String,
    /// Lead carrier's name.
    pub carrier_name: String,
    /// Lead carrier's SIRET (14 digits).
    pub carrier_siret: String,
    /// Lead carrier's legal form.
    pub carrier_legal_form: String,
    /// Consortium members.
    #[graphql(default)]
    pub consortium: Vec<AmiConsortiumMemberInput>,
    /// INSEE codes of the departments covered (at least one to submit).
    #[graphql(default)]
    pub departments: Vec<String>,
    /// Works in QPV.
    #[graphql(default)]
    pub qpv: bool,
    /// Works in Action Cœur de Ville towns.
    #[graphql(default)]
    pub acv: bool,
    /// The action programme.
    #[graphql(default)]
    pub action_programme: String,
    /// Budget lines.
    #[graphql(default)]
    pub budget: Vec<AmiBudgetLineInput>,
    /// Amount requested, in cents (at most the cap plus the bonuses that apply).
    pub amount_requested: Cents,
    /// Co-funding.
    #[graphql(default)]
    pub co_funding: Vec<AmiCoFundingInput>,
    /// Governance of the consortium.
    #[graphql(default)]
    pub governance: String,
}

impl AmiApplicationContentInput {
    /// The domain's content, or every value that does not parse (all at once, each with its path).
    fn parse(self, errors: &mut Vec<UserError>) -> Option<ApplicationData> {
        let carrier_siret = Siret::parse(&self.carrier_siret)
            .map_err(|e| {
                errors.push(user_error(
                    input("carrierSiret"),
                    "invalid_value",
                    e.to_string(),
                ));
            })
            .ok();
        let mut consortium = Vec::new();
        for (i, m) in self.consortium.into_iter().enumerate() {
            let siret = match m.siret.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(raw) => match Siret::parse(raw) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        errors.push(user_error(
                            input("consortium").index(i).push("siret"),
                            "invalid_value",
                            e.to_string(),
                        ));
                        None
                    }
                },
                None => None,
            };
            consortium.push(ami::ConsortiumMember {
                name: m.name,
                siret,
                role: m.role,
            });
        }
        let mut departments = Vec::new();
        for (i, d) in self.departments.iter().enumerate() {
            match DepartmentCode::parse(d) {
                Ok(code) => {
                    if !departments.contains(&code) {
                        departments.push(code);
                    }
                }
                Err(e) => errors.push(user_error(
                    input("departments").index(i),
                    "invalid_value",
                    e.to_string(),
                )),
            }
        }
        let carrier_siret = carrier_siret?;
        Some(ApplicationData {
            hub_name: self.hub_name,
            carrier_name: self.carrier_name,
            carrier_siret,
            carrier_legal_form: self.carrier_legal_form,
            consortium,
            departments,
            qpv: self.qpv,
            acv: self.acv,
            action_programme: self.action_programme,
            budget: self
                .budget
                .into_iter()
                .map(|l| ami::BudgetLine {
                    label: l.label,
                    amount: Money(l.amount.0),
                })
                .collect(),
            amount_requested: Money(self.amount_requested.0),
            co_funding: self
                .co_funding
                .into_iter()
                .map(|c| ami::CoFunding {
                    funder: c.funder,
                    amount: Money(c.amount.0),
                    secured: c.secured,
                })
                .collect(),
            governance: self.governance,
        })
    }
}

/// A new dossier (applicants), created as a draft.
#[derive(InputObject)]
pub struct CreateAmiApplicationInput {
    /// The campaign (global ID).
    pub campaign_id: ID,
    /// The content.
    #[graphql(flatten)]
    pub content: AmiApplicationContentInput,
}

/// The whole new content of a draft, or of a dossier whose reviewers requested changes (its applicant only).
#[derive(InputObject)]
pub struct UpdateAmiApplicationInput {
    /// The dossier.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// The content, replacing the stored one.
    #[graphql(flatten)]
    pub content: AmiApplicationContentInput,
}

/// A dossier at a version: submit, resubmit, withdraw, start the review.
#[derive(InputObject)]
pub struct AmiApplicationVersionInput {
    /// The dossier.
    pub id: ID,
    /// The version read.
    pub version: i32,
}

/// Sends a dossier back to its applicant (reviewers, admins).
#[derive(InputObject)]
pub struct RequestAmiChangesInput {
    /// The dossier.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// What to change, for the applicant.
    pub message: String,
}

/// Result of the dossier mutations.
#[derive(SimpleObject)]
pub struct AmiApplicationPayload {
    /// The dossier as it now stands, unless there were user errors.
    pub application: Option<AmiApplicationNode>,
    /// Business errors; empty on success (`stale_version`, `invalid_transition`, `campaign_closed`,
    /// `amount_exceeds_cap`, `incomplete_application`, `envelope_exceeded`, …).
    pub user_errors: Vec<UserError>,
}

impl AmiApplicationPayload {
    fn errors(user_errors: Vec<UserError>) -> Self {
        Self {
            application: None,
            user_errors,
        }
    }

    fn from_result(result: Result<Application, ami::AmiError>) -> async_graphql::Result<Self> {
        match result {
            Ok(app) => Ok(Self {
                application: Some(AmiApplicationNode::new(app)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(Self::errors(classify(&e)?)),
        }
    }
}

/// Selects a dossier under review (reviewers, admins): creates its hub and signed grant in one transaction.
#[derive(InputObject)]
pub struct SelectAmiApplicationInput {
    /// The dossier.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// Amount awarded, in cents: at most the dossier's ceiling, and refused (`envelope_exceeded`) when the
    /// campaign's envelope lacks room.
    pub awarded_amount: Cents,
    /// A note for the applicant.
    pub reason: Option<String>,
}

/// Rejects a dossier under review (reviewers, admins).
#[derive(InputObject)]
pub struct RejectAmiApplicationInput {
    /// The dossier.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// The reason, shown to the applicant.
    pub reason: String,
}

/// One score.
#[derive(InputObject)]
pub struct AmiScoreInput {
    /// The criterion's code (`AmiCampaign.criteria.code`).
    pub criterion: String,
    /// The score, 0 to the criterion's `maxScore`.
    pub score: i32,
}

/// A reviewer's score sheet on a dossier under review: one score per criterion of the campaign's grid.
#[derive(InputObject)]
pub struct ScoreAmiApplicationInput {
    /// The dossier.
    pub application_id: ID,
    /// One score per criterion.
    pub scores: Vec<AmiScoreInput>,
    /// Comment.
    pub comment: Option<String>,
}

/// New scores and comment for one's own score sheet.
#[derive(InputObject)]
pub struct UpdateAmiScoreSheetInput {
    /// The score sheet.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// One score per criterion.
    pub scores: Vec<AmiScoreInput>,
    /// Comment.
    pub comment: Option<String>,
}

/// A reviewer's conflict of interest with a dossier.
#[derive(InputObject)]
pub struct DeclareAmiConflictInput {
    /// The dossier.
    pub application_id: ID,
    /// Why (kept for the record).
    pub reason: Option<String>,
}

/// Result of `scoreAmiApplication` and `updateAmiScoreSheet`.
#[derive(SimpleObject)]
pub struct AmiScoreSheetPayload {
    /// The score sheet, unless there were user errors.
    pub score_sheet: Option<AmiScoreSheetNode>,
    /// Business errors; empty on success (`already_reviewed`, `invalid_value`, …).
    pub user_errors: Vec<UserError>,
}

/// Result of `declareAmiConflict`.
#[derive(SimpleObject)]
pub struct AmiConflictPayload {
    /// The declaration, unless there were user errors.
    pub conflict: Option<AmiConflictNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

fn scores(list: Vec<AmiScoreInput>, comment: Option<String>) -> ami::ScoreSheetInput {
    ami::ScoreSheetInput {
        scores: list
            .into_iter()
            .map(|s| ami::Score {
                criterion: s.criterion,
                score: s.score,
            })
            .collect(),
        comment,
    }
}

fn sheet_payload(
    result: Result<ami::ScoreSheet, ami::AmiError>,
) -> async_graphql::Result<AmiScoreSheetPayload> {
    match result {
        Ok(sheet) => Ok(AmiScoreSheetPayload {
            score_sheet: Some(AmiScoreSheetNode(sheet)),
            user_errors: Vec::new(),
        }),
        Err(e) => Ok(AmiScoreSheetPayload {
            score_sheet: None,
            user_errors: classify(&e)?,
        }),
    }
}

/// A criterion of a new campaign's grid.
#[derive(InputObject)]
pub struct AmiCriterionInput {
    /// Stable code within the campaign.
    pub code: String,
    /// Label.
    pub label: String,
    /// Weight (positive).
    pub weight: i32,
    /// Highest score (1 to 100).
    pub max_score: i32,
}

/// A new campaign (admins).
#[derive(InputObject)]
pub struct CreateAmiCampaignInput {
    /// Stable code (letters, digits, `-`, `_`).
    pub code: String,
    /// Display name.
    pub name: String,
    /// Opening, Europe/Paris wall-clock time: `2020-11-17 00:00:00`.
    pub opens_at: String,
    /// Last second of submission, Europe/Paris wall-clock time, inclusive: `2021-06-30 23:59:59`.
    pub closes_at: String,
    /// Code of the funding envelope the grants are drawn from.
    pub envelope_code: String,
    /// Cap per hub before bonuses, in cents.
    pub max_per_hub: Cents,
    /// QPV bonus, in cents.
    #[graphql(default_with = "Cents(0)")]
    pub qpv_bonus: Cents,
    /// Action Cœur de Ville bonus, in cents.
    #[graphql(default_with = "Cents(0)")]
    pub acv_bonus: Cents,
    /// INSEE codes of the priority regions.
    #[graphql(default)]
    pub priority_regions: Vec<String>,
    /// Largest attachment accepted, in bytes (default 10 MiB).
    pub max_attachment_bytes: Option<i64>,
    /// The scoring grid, in display order.
    pub criteria: Vec<AmiCriterionInput>,
}

/// Changes to a campaign (admins); omitted fields stay as they are. The grid does not change once the campaign
/// exists (sheets refer to it).
#[derive(InputObject)]
pub struct UpdateAmiCampaignInput {
    /// The campaign.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// Display name.
    pub name: Option<String>,
    /// Opening, Europe/Paris wall-clock time.
    pub opens_at: Option<String>,
    /// Last second of submission, Europe/Paris wall-clock time, inclusive.
    pub closes_at: Option<String>,
    /// Cap per hub before bonuses, in cents.
    pub max_per_hub: Option<Cents>,
    /// QPV bonus, in cents.
    pub qpv_bonus: Option<Cents>,
    /// Action Cœur de Ville bonus, in cents.
    pub acv_bonus: Option<Cents>,
    /// INSEE codes of the priority regions (the whole list).
    pub priority_regions: Option<Vec<String>>,
    /// Largest attachment accepted, in bytes.
    pub max_attachment_bytes: Option<i64>,
}

/// Result of `createAmiCampaign` and `updateAmiCampaign`.
#[derive(SimpleObject)]
pub struct AmiCampaignPayload {
    /// The campaign, unless there were user errors.
    pub campaign: Option<AmiCampaignNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

// ---------------------------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------------------------

/// Criteria on dossiers; all given criteria must hold.
#[derive(InputObject, Default)]
pub struct AmiApplicationFilter {
    /// Only this campaign (global ID).
    pub campaign: Option<ID>,
    /// Only these statuses.
    pub statuses: Option<Vec<AmiApplicationStatus>>,
    /// Only dossiers covering at least one department of these regions (INSEE codes).
    pub regions: Option<Vec<String>>,
    /// Only dossiers covering at least one of these departments (INSEE codes).
    pub departments: Option<Vec<String>>,
    /// Only dossiers with (`true`) or without (`false`) work in QPV.
    pub qpv: Option<bool>,
    /// Only dossiers with (`true`) or without (`false`) work in Action Cœur de Ville towns.
    pub acv: Option<bool>,
}

/// The order of `amiApplications`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum AmiApplicationOrderBy {
    /// Oldest first.
    #[default]
    Id,
    /// Best weighted mean first; unscored dossiers last (for applicants before the decision: all unscored).
    ScoreDesc,
    /// Lowest weighted mean first; unscored dossiers last.
    ScoreAsc,
}

fn codes<T>(
    list: Option<Vec<String>>,
    field: &str,
    parse: impl Fn(&str) -> Result<T, maillage_core::error::InvalidValue>,
) -> async_graphql::Result<Option<Vec<T>>> {
    list.map(|list| {
        list.iter()
            .enumerate()
            .map(|(i, v)| {
                parse(v).map_err(|e| {
                    coded(
                        &e.to_string(),
                        "invalid_value",
                        Some(format!("filter.{field}[{i}]")),
                    )
                })
            })
            .collect()
    })
    .transpose()
}

impl AmiApplicationFilter {
    fn into_domain(self) -> async_graphql::Result<ami::ApplicationFilter> {
        Ok(ami::ApplicationFilter {
            campaign: self
                .campaign
                .map(|c| decode_arg(&c, AmiKind::Campaign, "filter.campaign").map(CampaignId))
                .transpose()?,
            statuses: self
                .statuses
                .map(|s| s.into_iter().map(Into::into).collect()),
            regions: codes(self.regions, "regions", RegionCode::parse)?,
            departments: codes(self.departments, "departments", DepartmentCode::parse)?,
            qpv: self.qpv,
            acv: self.acv,
        })
    }
}

/// AMI queries: campaigns are public; dossiers are shown only to who may see them (the domain decides).
#[derive(Default)]
pub struct AmiQuery;

#[Object]
impl AmiQuery {
    /// Every AMI campaign, most recent opening first. Public.
    async fn ami_campaigns(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AmiCampaignNode>> {
        let s = state(ctx)?;
        Ok(ami::list_campaigns(&s.db)
            .await
            .gql()?
            .into_iter()
            .map(AmiCampaignNode)
            .collect())
    }

    /// One campaign, by global ID or by code. Public.
    async fn ami_campaign(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        code: Option<String>,
    ) -> async_graphql::Result<Option<AmiCampaignNode>> {
        let s = state(ctx)?;
        let found = match (id, code) {
            (Some(id), None) => {
                let id = CampaignId(decode_arg(&id, AmiKind::Campaign, "id")?);
                ami::get_campaign(&s.db, id).await.gql()?
            }
            (None, Some(code)) => ami::campaign_by_code(&s.db, &code).await.gql()?,
            _ => {
                return Err(coded(
                    "give exactly one of id and code",
                    "invalid_value",
                    None,
                ));
            }
        };
        Ok(found.map(AmiCampaignNode))
    }

    /// Dossiers as a Relay connection (at most 100 per page): an applicant's own dossiers; for reviewers every
    /// dossier submitted at least once; for admins all. Sorted by id or by weighted score; `forbidden` for callers
    /// that read no dossier (anonymous, partners, hub coordinators).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn ami_applications(
        &self,
        ctx: &Context<'_>,
        filter: Option<AmiApplicationFilter>,
        #[graphql(default)] order_by: AmiApplicationOrderBy,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<AmiApplicationConnection> {
        let s = state(ctx)?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let page = PageRequest::new(first, after.as_deref())
            .gql()?
            .with_total(ctx.look_ahead().field("totalCount").exists());
        let order = match order_by {
            AmiApplicationOrderBy::Id => ami::ApplicationOrder::Id,
            AmiApplicationOrderBy::ScoreDesc => ami::ApplicationOrder::ScoreDesc,
            AmiApplicationOrderBy::ScoreAsc => ami::ApplicationOrder::ScoreAsc,
        };
        let result = ami::list_applications(&s.db, &s.actor, &filter, order, &page)
            .await
            .gql()?;
        let shared = Shared::of(result.items.iter().map(|(_, l)| l.application.id).collect());
        Ok(AmiApplicationConnection(result.map(|listed| {
            AmiApplicationNode {
                app: listed.application,
                listed_score: Some(listed.score),
                shared: Arc::clone(&shared),
            }
        })))
    }

    /// One dossier. Null when it does not exist or the caller may not see it (an applicant sees only its own);
    /// `forbidden` for callers that read no dossier at all (anonymous, partners, hub coordinators).
    async fn ami_application(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<AmiApplicationNode>> {
        let s = state(ctx)?;
        let id = ApplicationId(decode_arg(&id, AmiKind::Application, "id")?);
        match ami::get_application(&s.db, &s.actor, id).await {
            Ok(app) => Ok(Some(AmiApplicationNode::new(app))),
            Err(ami::AmiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(to_gql(&e)),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Transition {
    Submit,
    Resubmit,
    Withdraw,
    StartReview,
}

async fn transition(
    ctx: &Context<'_>,
    input: AmiApplicationVersionInput,
    transition: Transition,
) -> async_graphql::Result<AmiApplicationPayload> {
    let actor = writer(ctx)?;
    let id = match decode_ami_id(&input.id, AmiKind::Application) {
        Ok(id) => ApplicationId(id),
        Err(m) => return Ok(AmiApplicationPayload::errors(vec![id_error(input_id(), m)])),
    };
    let s = state(ctx)?;
    let clock = SystemClock;
    let (db, v) = (&s.db, input.version);
    let result = match transition {
        Transition::Submit => ami::submit_application(db, &actor, &clock, id, v).await,
        Transition::Resubmit => ami::resubmit_application(db, &actor, &clock, id, v).await,
        Transition::Withdraw => ami::withdraw_application(db, &actor, &clock, id, v).await,
        Transition::StartReview => ami::start_review(db, &actor, &clock, id, v).await,
    };
    AmiApplicationPayload::from_result(result)
}

fn input_id() -> FieldPath {
    input("id")
}

/// A Europe/Paris wall-clock time of an input field.
fn paris_input(field: &str, raw: &str, errors: &mut Vec<UserError>) -> Option<DateTime<Utc>> {
    match ami::paris_instant(raw) {
        Ok(t) => Some(t),
        Err(m) => {
            errors.push(user_error(input(field), "invalid_value", m));
            None
        }
    }
}

/// The region codes of `priorityRegions`.
fn regions_input(raw: &[String], errors: &mut Vec<UserError>) -> Vec<RegionCode> {
    let mut regions = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        match RegionCode::parse(r) {
            Ok(r) => regions.push(r),
            Err(e) => errors.push(user_error(
                input("priorityRegions").index(i),
                "invalid_value",
                e.to_string(),
            )),
        }
    }
    regions
}

fn campaign_payload(
    result: Result<Campaign, ami::AmiError>,
) -> async_graphql::Result<AmiCampaignPayload> {
    match result {
        Ok(c) => Ok(AmiCampaignPayload {
            campaign: Some(AmiCampaignNode(c)),
            user_errors: Vec::new(),
        }),
        Err(e) => Ok(AmiCampaignPayload {
            campaign: None,
            user_errors: classify(&e)?,
        }),
    }
}

/// AMI mutations. Applicants write their own dossiers; reviewers and admins review and decide; admins open
/// campaigns. Every change takes the version read and lands in the audit log with its transition.
#[derive(Default)]
pub struct AmiMutation;

#[Object]
impl AmiMutation {
    /// Opens a campaign (admins): its window in Europe/Paris time, its envelope, caps, bonuses and scoring grid.
    async fn create_ami_campaign(
        &self,
        ctx: &Context<'_>,
        input: CreateAmiCampaignInput,
    ) -> async_graphql::Result<AmiCampaignPayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let opens_at = paris_input("opensAt", &input.opens_at, &mut errors);
        let closes_at = paris_input("closesAt", &input.closes_at, &mut errors);
        let regions = regions_input(&input.priority_regions, &mut errors);
        let (Some(opens_at), Some(closes_at)) = (opens_at, closes_at) else {
            return Ok(AmiCampaignPayload {
                campaign: None,
                user_errors: errors,
            });
        };
        if !errors.is_empty() {
            return Ok(AmiCampaignPayload {
                campaign: None,
                user_errors: errors,
            });
        }
        let new = ami::NewCampaign {
            code: input.code,
            name: input.name,
            opens_at,
            closes_at,
            envelope_code: input.envelope_code,
            max_per_hub: Money(input.max_per_hub.0),
            qpv_bonus: Money(input.qpv_bonus.0),
            acv_bonus: Money(input.acv_bonus.0),
            priority_regions: regions,
            max_attachment_bytes: input
                .max_attachment_bytes
                .unwrap_or(ami::DEFAULT_MAX_ATTACHMENT_BYTES),
            criteria: input
                .criteria
                .into_iter()
                .map(|c| ami::NewCriterion {
                    code: c.code,
                    label: c.label,
                    weight: c.weight,
                    max_score: c.max_score,
                })
                .collect(),
        };
        let s = state(ctx)?;
        campaign_payload(ami::create_campaign(&s.db, &actor, new).await)
    }

    /// Changes a campaign at the given version (admins): name, window, caps, bonuses, priority regions, attachment
    /// limit. Dossiers already saved keep their amounts; new caps apply from their next save or submission.
    async fn update_ami_campaign(
        &self,
        ctx: &Context<'_>,
        input: UpdateAmiCampaignInput,
    ) -> async_graphql::Result<AmiCampaignPayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let id = decode_ami_id(&input.id, AmiKind::Campaign)
            .map_err(|m| errors.push(id_error(input_id(), m)))
            .ok();
        let opens_at = input
            .opens_at
            .as_deref()
            .and_then(|raw| paris_input("opensAt", raw, &mut errors));
        let closes_at = input
            .closes_at
            .as_deref()
            .and_then(|raw| paris_input("closesAt", raw, &mut errors));
        let priority_regions = input
            .priority_regions
            .as_deref()
            .map(|raw| regions_input(raw, &mut errors));
        let Some(id) = id.filter(|_| errors.is_empty()) else {
            return Ok(AmiCampaignPayload {
                campaign: None,
                user_errors: errors,
            });
        };
        let patch = ami::CampaignPatch {
            name: input.name,
            opens_at,
            closes_at,
            max_per_hub: input.max_per_hub.map(|c| Money(c.0)),
            qpv_bonus: input.qpv_bonus.map(|c| Money(c.0)),
            acv_bonus: input.acv_bonus.map(|c| Money(c.0)),
            priority_regions,
            max_attachment_bytes: input.max_attachment_bytes,
        };
        let s = state(ctx)?;
        campaign_payload(
            ami::update_campaign(&s.db, &actor, CampaignId(id), input.version, patch).await,
        )
    }

    /// Opens a draft dossier in a campaign (applicants; the campaign must be open). Completeness is checked at
    /// submission, the ceiling at every save.
    async fn create_ami_application(
        &self,
        ctx: &Context<'_>,
        input: CreateAmiApplicationInput,
    ) -> async_graphql::Result<AmiApplicationPayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let campaign = decode_ami_id(&input.campaign_id, AmiKind::Campaign)
            .map_err(|m| errors.push(id_error(self::input("campaignId"), m)))
            .ok();
        let data = input.content.parse(&mut errors);
        let (Some(campaign), Some(data)) = (campaign, data) else {
            return Ok(AmiApplicationPayload::errors(errors));
        };
        if !errors.is_empty() {
            return Ok(AmiApplicationPayload::errors(errors));
        }
        let s = state(ctx)?;
        let new = ami::NewApplication {
            campaign_id: CampaignId(campaign),
            data,
        };
        AmiApplicationPayload::from_result(
            ami::create_application(&s.db, &actor, &SystemClock, new).await,
        )
    }

    /// Replaces the content of a draft, or of a dossier whose reviewers requested changes (its applicant only).
    async fn update_ami_application(
        &self,
        ctx: &Context<'_>,
        input: UpdateAmiApplicationInput,
    ) -> async_graphql::Result<AmiApplicationPayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let id = decode_ami_id(&input.id, AmiKind::Application)
            .map_err(|m| errors.push(id_error(input_id(), m)))
            .ok();
        let data = input.content.parse(&mut errors);
        let (Some(id), Some(data)) = (id, data) else {
            return Ok(AmiApplicationPayload::errors(errors));
        };
        if !errors.is_empty() {
            return Ok(AmiApplicationPayload::errors(errors));
        }
        let s = state(ctx)?;
        AmiApplicationPayload::from_result(
            ami::update_application(&s.db, &actor, ApplicationId(id), input.version, data).await,
        )
    }

    /// Submits a complete draft before the campaign's closing second (its applicant). The dossier is frozen from
    /// then on.
    async fn submit_ami_application(
        &self,
        ctx: &Context<'_>,
        input: AmiApplicationVersionInput,
    ) -> async_graphql::Result<AmiApplicationPayload> {
        transition(ctx, input, Transition::Submit).await
    }

    /// Sends a dossier again after the changes reviewers requested (its applicant).
    async fn resubmit_ami_application(
        &self,
        ctx: &Context<'_>,
        input: AmiApplicationVersionInput,
    ) -> async_graphql::Result<AmiApplicationPayload> {
        transition(ctx, input, Transition::Resubmit).await
    }

    /// Withdraws a dossier before any decision (its applicant). Final.
    async fn withdraw_ami_application(
        &self,
        ctx: &Context<'_>,
        input: AmiApplicationVersionInput,
    ) -> async_graphql::Result<AmiApplicationPayload> {
        transition(ctx, input, Transition::Withdraw).await
    }

    /// Starts reviewing a submitted or resubmitted dossier (reviewers, admins): it can then be scored.
    async fn start_ami_review(
        &self,
        ctx: &Context<'_>,
        input: AmiApplicationVersionInput,
    ) -> async_graphql::Result<AmiApplicationPayload> {
        transition(ctx, input, Transition::StartReview).await
    }

    /// Sends a dossier under review back to its applicant with what to change (reviewers, admins).
    async fn request_ami_changes(
        &self,
        ctx: &Context<'_>,
        input: RequestAmiChangesInput,
    ) -> async_graphql::Result<AmiApplicationPayload> {
        let actor = writer(ctx)?;
        let id = match decode_ami_id(&input.id, AmiKind::Application) {
            Ok(id) => ApplicationId(id),
            Err(m) => return Ok(AmiApplicationPayload::errors(vec![id_error(input_id(), m)])),
        };
        let s = state(ctx)?;
        AmiApplicationPayload::from_result(
            ami::request_changes(
                &s.db,
                &actor,
                &SystemClock,
                id,
                input.version,
                &input.message,
            )
            .await,
        )
    }

    /// Records one's score sheet on a dossier under review (reviewers, admins): one per reviewer per dossier
    /// (`already_reviewed` otherwise: update it instead); refused after declaring a conflict of interest.
    async fn score_ami_application(
        &self,
        ctx: &Context<'_>,
        input: ScoreAmiApplicationInput,
    ) -> async_graphql::Result<AmiScoreSheetPayload> {
        let actor = writer(ctx)?;
        let id = match decode_ami_id(&input.application_id, AmiKind::Application) {
            Ok(id) => ApplicationId(id),
            Err(m) => {
                return Ok(AmiScoreSheetPayload {
                    score_sheet: None,
                    user_errors: vec![id_error(self::input("applicationId"), m)],
                });
            }
        };
        let s = state(ctx)?;
        let sheet = scores(input.scores, input.comment);
        sheet_payload(ami::submit_score_sheet(&s.db, &actor, id, sheet).await)
    }

    /// Changes one's own score sheet at the given version, while the dossier is under review.
    async fn update_ami_score_sheet(
        &self,
        ctx: &Context<'_>,
        input: UpdateAmiScoreSheetInput,
    ) -> async_graphql::Result<AmiScoreSheetPayload> {
        let actor = writer(ctx)?;
        let id = match decode_ami_id(&input.id, AmiKind::ScoreSheet) {
            Ok(id) => ami::ScoreSheetId(id),
            Err(m) => {
                return Ok(AmiScoreSheetPayload {
                    score_sheet: None,
                    user_errors: vec![id_error(input_id(), m)],
                });
            }
        };
        let s = state(ctx)?;
        let sheet = scores(input.scores, input.comment);
        sheet_payload(ami::update_score_sheet(&s.db, &actor, id, input.version, sheet).await)
    }

    /// Declares a conflict of interest with a dossier (reviewers, admins): the declarer can no longer score it.
    async fn declare_ami_conflict(
        &self,
        ctx: &Context<'_>,
        input: DeclareAmiConflictInput,
    ) -> async_graphql::Result<AmiConflictPayload> {
        let actor = writer(ctx)?;
        let id = match decode_ami_id(&input.application_id, AmiKind::Application) {
            Ok(id) => ApplicationId(id),
            Err(m) => {
                return Ok(AmiConflictPayload {
                    conflict: None,
                    user_errors: vec![id_error(self::input("applicationId"), m)],
                });
            }
        };
        let s = state(ctx)?;
        match ami::declare_conflict(&s.db, &actor, id, input.reason.as_deref()).await {
            Ok(c) => Ok(AmiConflictPayload {
                conflict: Some(AmiConflictNode(c)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(AmiConflictPayload {
                conflict: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Selects a dossier under review (reviewers, admins), in one transaction: creates the hub with the dossier's
    /// departments and the signed grant of `awardedAmount` from the campaign's envelope, or nothing at all
    /// (`envelope_exceeded` when the envelope lacks room, `amount_exceeds_cap` above the ceiling).
    async fn select_ami_application(
        &self,
        ctx: &Context<'_>,
        input: SelectAmiApplicationInput,
    ) -> async_graphql::Result<AmiApplicationPayload> {
        let actor = writer(ctx)?;
        let id = match decode_ami_id(&input.id, AmiKind::Application) {
            Ok(id) => ApplicationId(id),
            Err(m) => return Ok(AmiApplicationPayload::errors(vec![id_error(input_id(), m)])),
        };
        let s = state(ctx)?;
        AmiApplicationPayload::from_result(
            ami::select_application(
                &s.db,
                &actor,
                &SystemClock,
                id,
                input.version,
                Money(input.awarded_amount.0),
                input.reason.as_deref(),
            )
            .await,
        )
    }

    /// Rejects a dossier under review with a reason its applicant reads (reviewers, admins).
    async fn reject_ami_application(
        &self,
        ctx: &Context<'_>,
        input: RejectAmiApplicationInput,
    ) -> async_graphql::Result<AmiApplicationPayload> {
        let actor = writer(ctx)?;
        let id = match decode_ami_id(&input.id, AmiKind::Application) {
            Ok(id) => ApplicationId(id),
            Err(m) => return Ok(AmiApplicationPayload::errors(vec![id_error(input_id(), m)])),
        };
        let s = state(ctx)?;
        AmiApplicationPayload::from_result(
            ami::reject_application(
                &s.db,
                &actor,
                &SystemClock,
                id,
                input.version,
                &input.reason,
            )
            .await,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_round_trip_and_name_their_kind() {
        let id = ami_id(AmiKind::Application, 42);
        assert_eq!(decode_ami_id(&id, AmiKind::Application), Ok(42));
        assert!(decode_ami_id(&id, AmiKind::Attachment).is_err());
        assert!(decode_ami_id(&ami_id(AmiKind::Attachment, 7), AmiKind::Application).is_err());
        for bad in ["", "!!!", "QW1pQXBwbGljYXRpb246", "QW1pQXBwbGljYXRpb246eA"] {
            assert!(decode_ami_id(bad, AmiKind::Application).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_of_a_dossier_are_priced() {
        let model = crate::cost::CostModel::from_sdl(&crate::sdl());
        let cost = |q: &str| {
            let doc = async_graphql::parser::parse_query(q).unwrap();
            model
                .analyze(&doc, None, &async_graphql::Variables::default())
                .cost
        };
        // 10 dossiers × (nodes 1 + attachments (10 × 1 + 1)) + 1.
        assert_eq!(
            cost("{ amiApplications(first: 10) { nodes { attachments { id } } } }"),
            10 * (1 + 11) + 1
        );
        assert_eq!(
            cost("{ amiCampaigns { criteria { code } } }"),
            10 * (10 + 1) + 1
        );
    }
}
