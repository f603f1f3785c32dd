//! The payloads of the AMI mutations: one per mutation, each built from the shared shape of its object.

use super::applications::{AmiApplicationNode, AmiConflictNode, AmiScoreSheetNode};
use super::campaigns::AmiCampaignNode;
use crate::kit::payload::{UserError, classify};
use async_graphql::SimpleObject;
use maillage_ami as ami;
use maillage_ami::Application;

/// Result of the dossier mutations.
#[derive(SimpleObject)]
pub struct AmiApplicationPayload {
    /// The dossier as it now stands, unless there were user errors.
    pub application: Option<AmiApplicationNode>,
    /// Business errors; empty on success (`stale_version`, `invalid_transition`, `campaign_closed`,
    /// `amount_exceeds_cap`, `incomplete_application`, `envelope_exceeded`, …).
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    AmiApplicationPayload {
        /// The dossier as it now stands, unless there were user errors.
        application: Option<AmiApplicationNode>,
    }
    /// Result of `createAmiApplication`.
    CreateAmiApplicationPayload,
    /// Result of `updateAmiApplication`.
    UpdateAmiApplicationPayload,
    /// Result of `submitAmiApplication`.
    SubmitAmiApplicationPayload,
    /// Result of `resubmitAmiApplication`.
    ResubmitAmiApplicationPayload,
    /// Result of `withdrawAmiApplication`.
    WithdrawAmiApplicationPayload,
    /// Result of `startAmiReview`.
    StartAmiReviewPayload,
    /// Result of `requestAmiChanges`.
    RequestAmiChangesPayload,
    /// Result of `selectAmiApplication`.
    SelectAmiApplicationPayload,
    /// Result of `rejectAmiApplication`.
    RejectAmiApplicationPayload,
}

impl AmiApplicationPayload {
    pub(crate) fn errors(user_errors: Vec<UserError>) -> Self {
        Self {
            application: None,
            user_errors,
        }
    }

    pub(crate) fn from_result(
        result: Result<Application, ami::AmiError>,
    ) -> async_graphql::Result<Self> {
        match result {
            Ok(app) => Ok(Self {
                application: Some(AmiApplicationNode::new(app)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(Self::errors(classify(&e)?)),
        }
    }
}

/// Result of `scoreAmiApplication` and `updateAmiScoreSheet`.
#[derive(SimpleObject)]
pub struct AmiScoreSheetPayload {
    /// The score sheet, unless there were user errors.
    pub score_sheet: Option<AmiScoreSheetNode>,
    /// Business errors; empty on success (`already_reviewed`, `invalid_value`, …).
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    AmiScoreSheetPayload {
        /// The score sheet, unless there were user errors.
        score_sheet: Option<AmiScoreSheetNode>,
    }
    /// Result of `scoreAmiApplication`.
    ScoreAmiApplicationPayload,
    /// Result of `updateAmiScoreSheet`.
    UpdateAmiScoreSheetPayload,
}

/// Result of `declareAmiConflict`.
#[derive(SimpleObject)]
pub struct AmiConflictPayload {
    /// The declaration, unless there were user errors.
    pub conflict: Option<AmiConflictNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    AmiConflictPayload {
        /// The declaration, unless there were user errors.
        conflict: Option<AmiConflictNode>,
    }
    /// Result of `declareAmiConflict`.
    DeclareAmiConflictPayload,
}

pub(crate) fn sheet_payload(
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

/// Result of `createAmiCampaign` and `updateAmiCampaign`.
#[derive(SimpleObject)]
pub struct AmiCampaignPayload {
    /// The campaign, unless there were user errors.
    pub campaign: Option<AmiCampaignNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    AmiCampaignPayload {
        /// The campaign, unless there were user errors.
        campaign: Option<AmiCampaignNode>,
    }
    /// Result of `createAmiCampaign`.
    CreateAmiCampaignPayload,
    /// Result of `updateAmiCampaign`.
    UpdateAmiCampaignPayload,
}
