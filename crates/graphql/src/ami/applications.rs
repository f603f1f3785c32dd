//! The `AmiApplication` object and what hangs from it: decision, attachments, score sheets, conflicts.

use super::campaigns::AmiCampaignNode;
use super::inputs::AmiApplicationStatus;
use crate::funding::MoneyNode;
use crate::kit::error::IntoGql;
use crate::kit::handles::{DepartmentLoader, DepartmentNode, HubNode};
use crate::kit::id::{NodeKind, encode, encode_child};
use crate::kit::loader::loader;
use crate::kit::state;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use maillage_ami as ami;
use maillage_ami::{Application, ApplicationId, Campaign, CampaignId};
use maillage_core::{DepartmentCode, RegionCode};
use std::collections::HashMap;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------------------------

/// What the dossiers of one response share: the campaigns (there are few) and, for the dossiers of one page, their
/// attachments, score sheets and conflicts, each loaded once on first use, so a page of dossiers costs one domain
/// call per list, not one per dossier.
#[derive(Default)]
pub struct Shared {
    /// The dossiers of the page (or the single dossier) these nodes belong to.
    pub(crate) ids: Vec<ApplicationId>,
    pub(crate) campaigns: tokio::sync::OnceCell<HashMap<CampaignId, Campaign>>,
    pub(crate) attachments: tokio::sync::OnceCell<HashMap<ApplicationId, Vec<ami::Attachment>>>,
    pub(crate) score_sheets: tokio::sync::OnceCell<HashMap<ApplicationId, Vec<ami::ScoreSheet>>>,
    pub(crate) conflicts:
        tokio::sync::OnceCell<HashMap<ApplicationId, Vec<ami::ConflictOfInterest>>>,
}

impl Shared {
    pub(crate) fn of(ids: Vec<ApplicationId>) -> Arc<Self> {
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
pub struct AmiDecisionNode(pub ami::Decision);

/// The decision on a dossier, visible to its applicant.
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
        self.0.hub.map(|h| encode(NodeKind::Hub, h.0))
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
        self.0.grant_id.map(|id| encode(NodeKind::Grant, id))
    }
}

/// A dossier (candidature) to an AMI campaign. Only its applicant, BdT reviewers (once submitted) and admins see it.
pub struct AmiApplicationNode {
    pub(crate) app: Application,
    /// The score summary when the list that produced this node loaded it (`Some(None)`: not visible or none).
    pub(crate) listed_score: Option<Option<ami::ScoreSummary>>,
    pub(crate) shared: Arc<Shared>,
}

impl AmiApplicationNode {
    pub(crate) fn new(app: Application) -> Self {
        Self {
            shared: Shared::of(vec![app.id]),
            app,
            listed_score: None,
        }
    }
}

/// A dossier (candidature) to an AMI campaign. Only its applicant, BdT reviewers (once submitted) and admins see it.
#[Object(name = "AmiApplication")]
impl AmiApplicationNode {
    /// Global ID (opaque); also names the dossier in the attachment routes (`/ami/applications/{id}/attachments`).
    pub async fn id(&self) -> ID {
        encode(NodeKind::AmiApplication, self.app.id.0)
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
        let _s = state(ctx)?;
        let found = loader::<DepartmentLoader>(ctx)?
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
pub struct AmiAttachmentNode(pub ami::Attachment);

/// A PDF attached to a dossier.
#[Object(name = "AmiAttachment")]
impl AmiAttachmentNode {
    /// Global ID (opaque): `GET /ami/attachments/{id}` downloads the file.
    pub async fn id(&self) -> ID {
        encode_child(
            NodeKind::AmiAttachment,
            self.0.application_id.0,
            self.0.id.0,
        )
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
            encode_child(
                NodeKind::AmiAttachment,
                self.0.application_id.0,
                self.0.id.0
            )
            .as_str()
        )
    }
}

/// Weighted mean, spread and number of a dossier's score sheets (0–100 scale: each score divided by its maximum,
/// weighted by its criterion's weight).
pub struct AmiScoreSummaryNode(pub ami::ScoreSummary);

/// Weighted mean, spread and number of a dossier's score sheets (0–100 scale: each score divided by its maximum,
/// weighted by its criterion's weight).
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
pub struct AmiScoreSheetNode(pub ami::ScoreSheet);

/// A reviewer's score sheet on one dossier (one per reviewer per dossier).
#[Object(name = "AmiScoreSheet")]
impl AmiScoreSheetNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode_child(
            NodeKind::AmiScoreSheet,
            self.0.application_id.0,
            self.0.id.0,
        )
    }
    /// Version, for `updateAmiScoreSheet`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Global ID of the dossier.
    async fn application_id(&self) -> ID {
        encode(NodeKind::AmiApplication, self.0.application_id.0)
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
pub struct AmiConflictNode(pub ami::ConflictOfInterest);

/// A reviewer's declared conflict of interest: that reviewer cannot score the dossier.
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
