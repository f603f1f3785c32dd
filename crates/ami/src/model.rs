//! The AMI domain's values, as the services take and return them.

use crate::state::Status;
use chrono::{DateTime, Utc};
use maillage_core::{DepartmentCode, HubId, RegionCode, Siret};
use maillage_funding::Money;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub i32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// Identifier of an AMI campaign (call for applications).
    CampaignId
);
int_id!(
    /// Identifier of an application (dossier de candidature).
    ApplicationId
);
int_id!(
    /// Identifier of an attachment of an application.
    AttachmentId
);
int_id!(
    /// Identifier of a reviewer's score sheet.
    ScoreSheetId
);
int_id!(
    /// Identifier of a scoring criterion of a campaign.
    CriterionId
);

/// One criterion of a campaign's scoring grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Criterion {
    /// Its id.
    pub id: CriterionId,
    /// Stable code within the campaign (`territorial_coverage`).
    pub code: String,
    /// Label shown to reviewers.
    pub label: String,
    /// Weight in the weighted mean (positive integer; weights need not sum to 100).
    pub weight: i32,
    /// Highest score (scores are integers from 0 to `max_score`).
    pub max_score: i32,
    /// Display order.
    pub position: i32,
}

/// A call for applications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Campaign {
    /// Its id.
    pub id: CampaignId,
    /// Stable code, the key of the seed data (`BDT-HUBS-AMI-2020`).
    pub code: String,
    /// Display name.
    pub name: String,
    /// First instant at which dossiers may be submitted (stored in UTC; set and shown in Europe/Paris).
    pub opens_at: DateTime<Utc>,
    /// Last second at which dossiers may be submitted, inclusive.
    pub closes_at: DateTime<Utc>,
    /// The funding envelope the grants are drawn from (a funding-domain id).
    pub envelope_id: i32,
    /// The envelope's code, for display and exports.
    pub envelope_code: String,
    /// The most a hub may receive before bonuses.
    pub max_per_hub: Money,
    /// Bonus when the dossier works in QPV (priority urban districts).
    pub qpv_bonus: Money,
    /// Bonus when the dossier works in Action Cœur de Ville towns.
    pub acv_bonus: Money,
    /// Regions the campaign gives priority to (regions without a hub).
    pub priority_regions: Vec<RegionCode>,
    /// Largest attachment accepted, in bytes.
    pub max_attachment_bytes: i64,
    /// The scoring grid, in display order.
    pub criteria: Vec<Criterion>,
    /// Optimistic version.
    pub version: i32,
}

impl Campaign {
    /// The submission window, for the state machine.
    pub fn window(&self) -> crate::state::Window {
        crate::state::Window {
            opens_at: self.opens_at,
            closes_at: self.closes_at,
        }
    }

    /// The most a dossier with these flags may request (and be awarded): the cap plus the bonuses that apply.
    pub fn ceiling(&self, qpv: bool, acv: bool) -> Money {
        let mut c = self.max_per_hub;
        if qpv {
            c = c + self.qpv_bonus;
        }
        if acv {
            c = c + self.acv_bonus;
        }
        c
    }
}

/// A consortium member (a partner structure of the lead carrier).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsortiumMember {
    /// Structure name.
    pub name: String,
    /// Its SIRET, when it has one (some partners are informal networks).
    pub siret: Option<Siret>,
    /// Its role in the consortium.
    pub role: Option<String>,
}

/// One line of the budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetLine {
    /// What the money is for (staff, training, equipment…).
    pub label: String,
    /// Amount.
    pub amount: Money,
}

/// One co-funder and its contribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoFunding {
    /// The co-funder (a collectivité, a foundation…).
    pub funder: String,
    /// Amount.
    pub amount: Money,
    /// Whether it is obtained (`true`) or only requested.
    pub secured: bool,
}

/// The content of a dossier, as an applicant writes it (create, and replace on update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationData {
    /// The name of the hub the dossier proposes to create (becomes the hub's name if selected).
    pub hub_name: String,
    /// Lead carrier's name.
    pub carrier_name: String,
    /// Lead carrier's SIRET.
    pub carrier_siret: Siret,
    /// Lead carrier's legal form (association, collectivité, SCIC, public operator…).
    pub carrier_legal_form: String,
    /// Consortium members.
    pub consortium: Vec<ConsortiumMember>,
    /// Departments covered (at least one to submit).
    pub departments: Vec<DepartmentCode>,
    /// Works in QPV (grants the QPV bonus).
    pub qpv: bool,
    /// Works in Action Cœur de Ville towns (grants the ACV bonus).
    pub acv: bool,
    /// The action programme.
    pub action_programme: String,
    /// Budget lines.
    pub budget: Vec<BudgetLine>,
    /// Amount requested from the AMI.
    pub amount_requested: Money,
    /// Co-funding.
    pub co_funding: Vec<CoFunding>,
    /// Governance of the consortium.
    pub governance: String,
}

/// The decision on a dossier, once taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// When.
    pub decided_at: DateTime<Utc>,
    /// Amount awarded (selected dossiers).
    pub awarded: Option<Money>,
    /// The hub created (selected dossiers).
    pub hub: Option<HubId>,
    /// The grant created in the funding domain (selected dossiers).
    pub grant_id: Option<i32>,
    /// The reason, visible to the applicant (required when rejecting, optional when selecting).
    pub reason: Option<String>,
}

/// A dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Its id.
    pub id: ApplicationId,
    /// The campaign.
    pub campaign_id: CampaignId,
    /// The owning applicant account (the actor's subject: its token name).
    pub owner: String,
    /// Where it stands.
    pub status: Status,
    /// Its content.
    pub data: ApplicationData,
    /// The regions of its departments (derived; for filters).
    pub regions: Vec<RegionCode>,
    /// First submission.
    pub submitted_at: Option<DateTime<Utc>>,
    /// What reviewers asked to change (visible to the applicant), set by `request_changes`.
    pub changes_requested: Option<String>,
    /// The decision, once taken.
    pub decision: Option<Decision>,
    /// Optimistic version, bumped by each change (edits and transitions).
    pub version: i32,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// An attachment's metadata (its bytes are in the [`crate::attachments::Storage`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// Its id.
    pub id: AttachmentId,
    /// The application.
    pub application_id: ApplicationId,
    /// The file name given by the uploader (cleaned of any path).
    pub file_name: String,
    /// Always `application/pdf` today.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Who uploaded it (actor label).
    pub uploaded_by: String,
    /// When.
    pub uploaded_at: DateTime<Utc>,
}

/// One score of a score sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// The criterion (by code, stable across environments).
    pub criterion: String,
    /// The score, 0 to the criterion's `max_score`.
    pub score: i32,
}

/// A reviewer's score sheet on one application (one per reviewer per application).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreSheet {
    /// Its id.
    pub id: ScoreSheetId,
    /// The application.
    pub application_id: ApplicationId,
    /// The reviewer (actor subject, or label when it has none).
    pub reviewer: String,
    /// One score per criterion of the grid.
    pub scores: Vec<Score>,
    /// Free comment.
    pub comment: Option<String>,
    /// Weighted mean of this sheet, on a 0–100 scale (each score divided by its maximum).
    pub weighted: f64,
    /// Optimistic version.
    pub version: i32,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What reviewers think of an application, in numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreSummary {
    /// The application.
    pub application_id: ApplicationId,
    /// Number of score sheets.
    pub reviews: u32,
    /// Mean of the sheets' weighted scores (0–100), `None` without sheets.
    pub weighted_mean: Option<f64>,
    /// Spread: the largest sheet score minus the smallest (0–100 scale); `None` without sheets.
    pub spread: Option<f64>,
}

/// A declared conflict of interest: the reviewer cannot score that application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictOfInterest {
    /// The application.
    pub application_id: ApplicationId,
    /// The reviewer.
    pub reviewer: String,
    /// Why (free text, kept for the record).
    pub reason: Option<String>,
    /// When declared.
    pub declared_at: DateTime<Utc>,
}
