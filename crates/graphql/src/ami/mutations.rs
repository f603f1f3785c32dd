//! AMI mutations.

use super::applications::AmiConflictNode;
use super::campaigns::AmiCampaignNode;
use super::inputs::{
    AmiApplicationVersionInput, CreateAmiApplicationInput, CreateAmiCampaignInput,
    DeclareAmiConflictInput, RejectAmiApplicationInput, RequestAmiChangesInput,
    ScoreAmiApplicationInput, SelectAmiApplicationInput, UpdateAmiApplicationInput,
    UpdateAmiCampaignInput, UpdateAmiScoreSheetInput, id_error, scores,
};
use crate::kit::id::NodeKind;
use crate::kit::id::parse_int;
use crate::kit::payload::{UserError, classify, input, user_error, writer};
use crate::kit::state;
use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use maillage_ami as ami;
use maillage_ami::{ApplicationId, Campaign, CampaignId, SystemClock};
use maillage_core::Code;
use maillage_core::RegionCode;
use maillage_core::error::FieldPath;
use maillage_funding::Money;

use super::payloads::*;

#[derive(Clone, Copy)]
pub(crate) enum Transition {
    Submit,
    Resubmit,
    Withdraw,
    StartReview,
}

pub(crate) async fn transition(
    ctx: &Context<'_>,
    input: AmiApplicationVersionInput,
    transition: Transition,
) -> async_graphql::Result<AmiApplicationPayload> {
    let actor = writer(ctx)?;
    let id = match parse_int(&input.id, NodeKind::AmiApplication).map_err(|e| e.to_string()) {
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

pub(crate) fn input_id() -> FieldPath {
    input("id")
}

/// A Europe/Paris wall-clock time of an input field.
pub(crate) fn paris_input(
    field: &str,
    raw: &str,
    errors: &mut Vec<UserError>,
) -> Option<DateTime<Utc>> {
    match ami::paris_instant(raw) {
        Ok(t) => Some(t),
        Err(m) => {
            errors.push(user_error(input(field), Code::InvalidValue, m));
            None
        }
    }
}

/// The region codes of `priorityRegions`.
pub(crate) fn regions_input(raw: &[String], errors: &mut Vec<UserError>) -> Vec<RegionCode> {
    let mut regions = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        match RegionCode::parse(r) {
            Ok(r) => regions.push(r),
            Err(e) => errors.push(user_error(
                input("priorityRegions").index(i),
                Code::InvalidValue,
                e.to_string(),
            )),
        }
    }
    regions
}

pub(crate) fn campaign_payload(
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

/// AMI mutations. Applicants write their own dossiers; reviewers and admins review and decide; admins open
/// campaigns. Every change takes the version read and lands in the audit log with its transition.
#[Object]
impl AmiMutation {
    /// Opens a campaign (admins): its window in Europe/Paris time, its envelope, caps, bonuses and scoring grid.
    async fn create_ami_campaign(
        &self,
        ctx: &Context<'_>,
        input: CreateAmiCampaignInput,
    ) -> async_graphql::Result<CreateAmiCampaignPayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let opens_at = paris_input("opensAt", &input.opens_at, &mut errors);
        let closes_at = paris_input("closesAt", &input.closes_at, &mut errors);
        let regions = regions_input(&input.priority_regions, &mut errors);
        let (Some(opens_at), Some(closes_at)) = (opens_at, closes_at) else {
            return Ok(CreateAmiCampaignPayload {
                campaign: None,
                user_errors: errors,
            });
        };
        if !errors.is_empty() {
            return Ok(CreateAmiCampaignPayload {
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
        campaign_payload(ami::create_campaign(&s.db, &actor, new).await).map(Into::into)
    }

    /// Changes a campaign at the given version (admins): name, window, caps, bonuses, priority regions, attachment
    /// limit. Dossiers already saved keep their amounts; new caps apply from their next save or submission.
    async fn update_ami_campaign(
        &self,
        ctx: &Context<'_>,
        input: UpdateAmiCampaignInput,
    ) -> async_graphql::Result<UpdateAmiCampaignPayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let id = parse_int(&input.id, NodeKind::AmiCampaign)
            .map_err(|e| e.to_string())
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
            return Ok(UpdateAmiCampaignPayload {
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
        .map(Into::into)
    }

    /// Opens a draft dossier in a campaign (applicants; the campaign must be open). Completeness is checked at
    /// submission, the ceiling at every save.
    async fn create_ami_application(
        &self,
        ctx: &Context<'_>,
        input: CreateAmiApplicationInput,
    ) -> async_graphql::Result<CreateAmiApplicationPayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let campaign = parse_int(&input.campaign_id, NodeKind::AmiCampaign)
            .map_err(|e| e.to_string())
            .map_err(|m| errors.push(id_error(self::input("campaignId"), m)))
            .ok();
        let data = input.content.parse(&mut errors);
        let (Some(campaign), Some(data)) = (campaign, data) else {
            return Ok(AmiApplicationPayload::errors(errors).into());
        };
        if !errors.is_empty() {
            return Ok(AmiApplicationPayload::errors(errors).into());
        }
        let s = state(ctx)?;
        let new = ami::NewApplication {
            campaign_id: CampaignId(campaign),
            data,
        };
        AmiApplicationPayload::from_result(
            ami::create_application(&s.db, &actor, &SystemClock, new).await,
        )
        .map(Into::into)
    }

    /// Replaces the content of a draft, or of a dossier whose reviewers requested changes (its applicant only).
    async fn update_ami_application(
        &self,
        ctx: &Context<'_>,
        input: UpdateAmiApplicationInput,
    ) -> async_graphql::Result<UpdateAmiApplicationPayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let id = parse_int(&input.id, NodeKind::AmiApplication)
            .map_err(|e| e.to_string())
            .map_err(|m| errors.push(id_error(input_id(), m)))
            .ok();
        let data = input.content.parse(&mut errors);
        let (Some(id), Some(data)) = (id, data) else {
            return Ok(AmiApplicationPayload::errors(errors).into());
        };
        if !errors.is_empty() {
            return Ok(AmiApplicationPayload::errors(errors).into());
        }
        let s = state(ctx)?;
        AmiApplicationPayload::from_result(
            ami::update_application(&s.db, &actor, ApplicationId(id), input.version, data).await,
        )
        .map(Into::into)
    }

    /// Submits a complete draft before the campaign's closing second (its applicant). The dossier is frozen from
    /// then on.
    async fn submit_ami_application(
        &self,
        ctx: &Context<'_>,
        input: AmiApplicationVersionInput,
    ) -> async_graphql::Result<SubmitAmiApplicationPayload> {
        transition(ctx, input, Transition::Submit)
            .await
            .map(Into::into)
    }

    /// Sends a dossier again after the changes reviewers requested (its applicant).
    async fn resubmit_ami_application(
        &self,
        ctx: &Context<'_>,
        input: AmiApplicationVersionInput,
    ) -> async_graphql::Result<ResubmitAmiApplicationPayload> {
        transition(ctx, input, Transition::Resubmit)
            .await
            .map(Into::into)
    }

    /// Withdraws a dossier before any decision (its applicant). Final.
    async fn withdraw_ami_application(
        &self,
        ctx: &Context<'_>,
        input: AmiApplicationVersionInput,
    ) -> async_graphql::Result<WithdrawAmiApplicationPayload> {
        transition(ctx, input, Transition::Withdraw)
            .await
            .map(Into::into)
    }

    /// Starts reviewing a submitted or resubmitted dossier (reviewers, admins): it can then be scored.
    async fn start_ami_review(
        &self,
        ctx: &Context<'_>,
        input: AmiApplicationVersionInput,
    ) -> async_graphql::Result<StartAmiReviewPayload> {
        transition(ctx, input, Transition::StartReview)
            .await
            .map(Into::into)
    }

    /// Sends a dossier under review back to its applicant with what to change (reviewers, admins).
    async fn request_ami_changes(
        &self,
        ctx: &Context<'_>,
        input: RequestAmiChangesInput,
    ) -> async_graphql::Result<RequestAmiChangesPayload> {
        let actor = writer(ctx)?;
        let id = match parse_int(&input.id, NodeKind::AmiApplication).map_err(|e| e.to_string()) {
            Ok(id) => ApplicationId(id),
            Err(m) => {
                return Ok(AmiApplicationPayload::errors(vec![id_error(input_id(), m)]).into());
            }
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
        .map(Into::into)
    }

    /// Records one's score sheet on a dossier under review (reviewers, admins): one per reviewer per dossier
    /// (`already_reviewed` otherwise: update it instead); refused after declaring a conflict of interest.
    async fn score_ami_application(
        &self,
        ctx: &Context<'_>,
        input: ScoreAmiApplicationInput,
    ) -> async_graphql::Result<ScoreAmiApplicationPayload> {
        let actor = writer(ctx)?;
        let id = match parse_int(&input.application_id, NodeKind::AmiApplication)
            .map_err(|e| e.to_string())
        {
            Ok(id) => ApplicationId(id),
            Err(m) => {
                return Ok(ScoreAmiApplicationPayload {
                    score_sheet: None,
                    user_errors: vec![id_error(self::input("applicationId"), m)],
                });
            }
        };
        let s = state(ctx)?;
        let sheet = scores(input.scores, input.comment);
        sheet_payload(ami::submit_score_sheet(&s.db, &actor, id, sheet).await).map(Into::into)
    }

    /// Changes one's own score sheet at the given version, while the dossier is under review.
    async fn update_ami_score_sheet(
        &self,
        ctx: &Context<'_>,
        input: UpdateAmiScoreSheetInput,
    ) -> async_graphql::Result<UpdateAmiScoreSheetPayload> {
        let actor = writer(ctx)?;
        let id = match parse_int(&input.id, NodeKind::AmiScoreSheet).map_err(|e| e.to_string()) {
            Ok(id) => ami::ScoreSheetId(id),
            Err(m) => {
                return Ok(UpdateAmiScoreSheetPayload {
                    score_sheet: None,
                    user_errors: vec![id_error(input_id(), m)],
                });
            }
        };
        let s = state(ctx)?;
        let sheet = scores(input.scores, input.comment);
        sheet_payload(ami::update_score_sheet(&s.db, &actor, id, input.version, sheet).await)
            .map(Into::into)
    }

    /// Declares a conflict of interest with a dossier (reviewers, admins): the declarer can no longer score it.
    async fn declare_ami_conflict(
        &self,
        ctx: &Context<'_>,
        input: DeclareAmiConflictInput,
    ) -> async_graphql::Result<DeclareAmiConflictPayload> {
        let actor = writer(ctx)?;
        let id = match parse_int(&input.application_id, NodeKind::AmiApplication)
            .map_err(|e| e.to_string())
        {
            Ok(id) => ApplicationId(id),
            Err(m) => {
                return Ok(DeclareAmiConflictPayload {
                    conflict: None,
                    user_errors: vec![id_error(self::input("applicationId"), m)],
                });
            }
        };
        let s = state(ctx)?;
        match ami::declare_conflict(&s.db, &actor, id, input.reason.as_deref()).await {
            Ok(c) => Ok(DeclareAmiConflictPayload {
                conflict: Some(AmiConflictNode(c)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(DeclareAmiConflictPayload {
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
    ) -> async_graphql::Result<SelectAmiApplicationPayload> {
        let actor = writer(ctx)?;
        let id = match parse_int(&input.id, NodeKind::AmiApplication).map_err(|e| e.to_string()) {
            Ok(id) => ApplicationId(id),
            Err(m) => {
                return Ok(AmiApplicationPayload::errors(vec![id_error(input_id(), m)]).into());
            }
        };
        let s = state(ctx)?;
        let selected = ami::select_application(
            &s.db,
            &actor,
            &SystemClock,
            id,
            input.version,
            Money(input.awarded_amount.0),
            input.reason.as_deref(),
        )
        .await;
        if selected.is_ok() {
            // The laureate's hub and its departments are committed: this server's next request reads them.
            s.territories.department_hubs().changed();
        }
        AmiApplicationPayload::from_result(selected).map(Into::into)
    }

    /// Rejects a dossier under review with a reason its applicant reads (reviewers, admins).
    async fn reject_ami_application(
        &self,
        ctx: &Context<'_>,
        input: RejectAmiApplicationInput,
    ) -> async_graphql::Result<RejectAmiApplicationPayload> {
        let actor = writer(ctx)?;
        let id = match parse_int(&input.id, NodeKind::AmiApplication).map_err(|e| e.to_string()) {
            Ok(id) => ApplicationId(id),
            Err(m) => {
                return Ok(AmiApplicationPayload::errors(vec![id_error(input_id(), m)]).into());
            }
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
        .map(Into::into)
    }
}
