//! Enums, filters and mutation inputs of the AMI.

use crate::funding::Cents;
use crate::kit::error::coded;
use crate::kit::id::{NodeKind, decode_arg};
use crate::kit::order::OrderDirection;
use crate::kit::payload::{UserError, input, user_error};
use async_graphql::{Enum, ID, InputObject};
use maillage_ami as ami;
use maillage_ami::{ApplicationData, CampaignId, Status};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{DepartmentCode, RegionCode, Siret};
use maillage_funding::Money;

pub(crate) fn id_error(path: FieldPath, message: String) -> UserError {
    UserError {
        field: path.0,
        code: Code::InvalidId.as_str().to_owned(),
        message,
    }
}

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
    pub(crate) fn parse(self, errors: &mut Vec<UserError>) -> Option<ApplicationData> {
        let carrier_siret = Siret::parse(&self.carrier_siret)
            .map_err(|e| {
                errors.push(user_error(
                    input("carrierSiret"),
                    Code::InvalidValue,
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
                            Code::InvalidValue,
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
                    Code::InvalidValue,
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

pub(crate) fn scores(list: Vec<AmiScoreInput>, comment: Option<String>) -> ami::ScoreSheetInput {
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
    /// Only dossiers Maillage wrote at or after this instant (server clock): with `orderBy: {field: UPDATED_AT}`,
    /// the incremental pull of a mirror (docs/SYNC.md).
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// Fields dossiers can be sorted by.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum AmiApplicationOrderField {
    /// Order of creation (ascending only).
    #[default]
    Id,
    /// Weighted mean of the score sheets; unscored dossiers last in both directions (for applicants before the
    /// decision: all unscored).
    Score,
    /// When Maillage last wrote the dossier (server clock), then id: a dossier written while you page moves to
    /// the end instead of being skipped.
    UpdatedAt,
}

/// How to sort dossiers.
#[derive(InputObject, Default)]
pub struct AmiApplicationOrderBy {
    /// Field (default ID).
    #[graphql(default)]
    pub field: AmiApplicationOrderField,
    /// Direction (default ASC).
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl AmiApplicationOrderBy {
    /// The sync options of this order with the filter's `updatedSince`.
    pub(crate) fn sync(
        &self,
        updated_since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> maillage_core::sync::SyncOptions {
        maillage_core::sync::SyncOptions {
            updated_since,
            by_updated_at: self.field == AmiApplicationOrderField::UpdatedAt,
            descending: self.direction.descending(),
        }
    }

    /// The domain's order; `ID` sorts ascending only.
    pub(crate) fn into_domain(self) -> async_graphql::Result<ami::ApplicationOrder> {
        match (self.field, self.direction) {
            (AmiApplicationOrderField::Id, OrderDirection::Asc) => Ok(ami::ApplicationOrder::Id),
            (AmiApplicationOrderField::Id, OrderDirection::Desc) => Err(coded(
                "dossiers sort by ID ascending only",
                Code::InvalidValue,
                Some("orderBy.direction".to_owned()),
            )),
            (AmiApplicationOrderField::Score, OrderDirection::Desc) => {
                Ok(ami::ApplicationOrder::ScoreDesc)
            }
            (AmiApplicationOrderField::Score, OrderDirection::Asc) => {
                Ok(ami::ApplicationOrder::ScoreAsc)
            }
            // Sorted by the sync options (`sync`), in either direction.
            (AmiApplicationOrderField::UpdatedAt, _) => Ok(ami::ApplicationOrder::Id),
        }
    }
}

pub(crate) fn codes<T>(
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
                        Code::InvalidValue,
                        Some(format!("filter.{field}[{i}]")),
                    )
                })
            })
            .collect()
    })
    .transpose()
}

impl AmiApplicationFilter {
    pub(crate) fn into_domain(self) -> async_graphql::Result<ami::ApplicationFilter> {
        Ok(ami::ApplicationFilter {
            campaign: self
                .campaign
                .map(|c| decode_arg(&c, NodeKind::AmiCampaign, "filter.campaign").map(CampaignId))
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
