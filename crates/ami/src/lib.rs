#![doc = include_str!("../README.md")]

pub mod access;
pub mod applications;
pub mod attachments;
pub mod campaigns;
pub mod decision;
mod entity;
mod error;
pub mod export;
pub mod list;
pub mod model;
pub mod reviews;
pub mod seed;
pub mod state;

pub use access::{can_apply, can_manage_campaigns, can_review, can_see, identity, party};
pub use applications::{
    NewApplication, create_application, get_application, request_changes, resubmit_application,
    start_review, submit_application, update_application, withdraw_application,
};
pub use attachments::{
    DEFAULT_ATTACHMENT_DIR, LocalDiskStorage, MAX_ATTACHMENTS_PER_APPLICATION, NewAttachment,
    Storage, StorageError, add_attachment, attachments_of, check_pdf, list_attachments,
    read_attachment, remove_attachment,
};
pub use campaigns::{
    CampaignPatch, DEFAULT_MAX_ATTACHMENT_BYTES, NewCampaign, NewCriterion, campaign_by_code,
    create_campaign, get_campaign, list_campaigns, paris_instant, update_campaign,
};
pub use decision::{reject_application, select_application};
pub use error::AmiError;
pub use export::{export_applications_csv, export_scores_csv};
pub use list::{
    ApplicationFilter, ApplicationOrder, ListedApplication, list_applications,
    list_applications_synced,
};
pub use model::{
    Application, ApplicationData, ApplicationId, Attachment, AttachmentId, BudgetLine, Campaign,
    CampaignId, CoFunding, ConflictOfInterest, ConsortiumMember, Criterion, CriterionId, Decision,
    Score, ScoreSheet, ScoreSheetId, ScoreSummary,
};
pub use reviews::{
    ScoreSheetInput, can_see_summary, conflicts_of, declare_conflict, list_conflicts,
    list_score_sheets, score_sheets_of, score_summaries, score_summary, submit_score_sheet,
    update_score_sheet,
};
pub use seed::{AmiSeedReport, seed_reference_data};
pub use state::{Clock, Event, FixedClock, Party, Status, SystemClock};
