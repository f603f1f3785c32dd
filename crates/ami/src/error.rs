//! The AMI crate's one error enum, with stable codes.

use crate::state::{Event, Refusal, Status};
use maillage_core::Code;
use maillage_core::error::{ErrorCode, FieldPath};
use maillage_funding::{FundingError, Money};

/// Everything an AMI service can refuse or fail with.
///
/// Codes are stable (`ErrorCode::code`): clients branch on them, never on messages.
#[derive(Debug, thiserror::Error)]
pub enum AmiError {
    /// An input field is not valid; the caller can fix it (`invalid_value`, `unknown_value`, `too_large`…).
    #[error("{message}")]
    InvalidInput {
        /// The input field at fault.
        field: FieldPath,
        /// What is wrong, for a human.
        message: String,
        /// The stable code.
        code: Code,
    },
    /// Bad pagination arguments.
    #[error(transparent)]
    Pagination(#[from] maillage_core::pagination::PaginationError),
    /// The caller may not do this (wrong role, not the dossier's owner, conflict of interest declared…).
    #[error("{0}")]
    Forbidden(String),
    /// No such campaign, application, attachment or score sheet — or one the caller may not see: an applicant
    /// asking for another applicant's dossier gets `not_found`, so ids reveal nothing.
    #[error("no {entity} with id {id}")]
    NotFound {
        /// What was looked for.
        entity: &'static str,
        /// The id asked for.
        id: i32,
    },
    /// The caller's version is not the stored one: someone changed the record since it was read. Nothing written.
    #[error(
        "{entity} {id} is at version {actual}, not {expected}: reload it and apply your change again"
    )]
    StaleVersion {
        /// What was changed.
        entity: &'static str,
        /// Its id.
        id: i32,
        /// The version the caller sent.
        expected: i32,
        /// The stored version (re-read when a concurrent writer won the race).
        actual: i32,
    },
    /// The state machine refuses this event in this status (`invalid_transition`).
    #[error("\"{event}\" is not possible on an application that is {from}")]
    InvalidTransition {
        /// The current status.
        from: Status,
        /// The refused event.
        event: Event,
    },
    /// The dossier cannot be changed in its status (only drafts and dossiers with changes requested are editable).
    #[error("an application that is {0} cannot be edited")]
    NotEditable(Status),
    /// Submitting (or creating a dossier) after the campaign's closing instant.
    #[error("the campaign closed at {closes_at} (Europe/Paris)")]
    CampaignClosed {
        /// The closing instant, in Europe/Paris.
        closes_at: String,
    },
    /// Submitting (or creating a dossier) before the campaign's opening instant.
    #[error("the campaign opens at {opens_at} (Europe/Paris)")]
    CampaignNotOpen {
        /// The opening instant, in Europe/Paris.
        opens_at: String,
    },
    /// The amount requested exceeds the cap plus the bonuses that apply.
    #[error("{requested} requested, but at most {allowed} may be requested ({detail})")]
    AmountExceedsCap {
        /// The amount requested (or awarded).
        requested: Money,
        /// The cap plus applicable bonuses.
        allowed: Money,
        /// How `allowed` is made up.
        detail: String,
    },
    /// A dossier cannot be submitted yet: a required part is missing.
    #[error("the application is incomplete: {message}")]
    Incomplete {
        /// The missing field.
        field: FieldPath,
        /// What is missing.
        message: String,
    },
    /// This reviewer has already a score sheet for this application (one per reviewer per application).
    #[error(
        "reviewer {reviewer} already scored application {application}: update that score sheet instead"
    )]
    AlreadyReviewed {
        /// The application.
        application: i32,
        /// The reviewer's identity.
        reviewer: String,
    },
    /// The dossier cannot be scored in its status (only `under_review` dossiers are).
    #[error(
        "an application that is {0} cannot be scored: scores are given while it is under review"
    )]
    NotScorable(Status),
    /// The reviewer declared a conflict of interest on this dossier: it may not score or decide it.
    #[error(
        "you declared a conflict of interest on application {0}: you may not score or decide it"
    )]
    ConflictOfInterest(i32),
    /// A code or key exists already (campaign code, attachment key…).
    #[error("{0}")]
    AlreadyExists(String),
    /// An uploaded attachment is not acceptable (not a PDF, too large, empty).
    #[error("{message}")]
    InvalidAttachment {
        /// The stable code: `not_pdf`, `too_large`, `empty_file` or `too_many_attachments`.
        code: Code,
        /// What is wrong.
        message: String,
    },
    /// Selecting would commit more than the campaign's envelope holds. Nothing written.
    #[error(
        "envelope {envelope} cannot take {requested}: {committed} of {amount} already committed, {remaining} remaining"
    )]
    EnvelopeExceeded {
        /// The envelope code.
        envelope: String,
        /// Its amount.
        amount: Money,
        /// Already committed.
        committed: Money,
        /// What is left.
        remaining: Money,
        /// What the decision asked for.
        requested: Money,
    },
    /// The attachment storage failed (disk full, permissions): an operator problem.
    #[error("attachment storage failed: {0}")]
    Storage(String),
    /// Writing a CSV export failed (a bug: exports write to memory).
    #[error("export failed: {0}")]
    Export(String),
    /// A stored row could not be read back (edited outside Maillage?).
    #[error("{entity} {id} is stored with an invalid value: {detail}")]
    CorruptRow {
        /// The table.
        entity: &'static str,
        /// The row's id.
        id: i32,
        /// What could not be parsed.
        detail: String,
    },
    /// The seed data of this crate could not be read: a bug, caught by the tests.
    #[error("AMI seed data is invalid: {0}")]
    InvalidSeed(String),
    /// A database failure; its message is logged, never shown to clients.
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// A territories service refused or failed.
    #[error(transparent)]
    Territories(#[from] maillage_territories::TerritoriesError),
    /// A funding service refused or failed (other than an exceeded envelope, mapped to its own variant).
    #[error(transparent)]
    Funding(FundingError),
    /// Recording the audit trail failed.
    #[error(transparent)]
    Access(#[from] maillage_access::AccessError),
}

impl From<FundingError> for AmiError {
    fn from(e: FundingError) -> Self {
        match e {
            FundingError::EnvelopeExceeded {
                envelope,
                amount,
                committed,
                remaining,
                requested,
            } => Self::EnvelopeExceeded {
                envelope,
                amount,
                committed,
                remaining,
                requested,
            },
            FundingError::Database(db) => Self::Database(db),
            other => Self::Funding(other),
        }
    }
}

impl From<Refusal> for AmiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::InvalidTransition { from, event } => Self::InvalidTransition { from, event },
            Refusal::NotAllowed { party, event } => Self::Forbidden(format!(
                "{} may not fire \"{}\" on an application",
                party.as_str(),
                event.as_str()
            )),
            Refusal::Closed { closes_at } => Self::CampaignClosed {
                closes_at: crate::state::paris(closes_at),
            },
            Refusal::NotOpen { opens_at } => Self::CampaignNotOpen {
                opens_at: crate::state::paris(opens_at),
            },
        }
    }
}

impl AmiError {
    /// An error on one input field, with its code.
    pub fn invalid(field: FieldPath, code: Code, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
            code,
        }
    }

    pub(crate) fn corrupt(entity: &'static str, id: i32, detail: impl Into<String>) -> Self {
        Self::CorruptRow {
            entity,
            id,
            detail: detail.into(),
        }
    }
}

impl ErrorCode for AmiError {
    fn code(&self) -> Code {
        match self {
            Self::InvalidInput { code, .. } | Self::InvalidAttachment { code, .. } => *code,
            Self::Pagination(e) => e.code(),
            Self::Forbidden(_) => Code::Forbidden,
            Self::NotFound { .. } => Code::NotFound,
            Self::StaleVersion { .. } => Code::StaleVersion,
            Self::InvalidTransition { .. } => Code::InvalidTransition,
            Self::NotEditable(_) => Code::NotEditable,
            Self::CampaignClosed { .. } => Code::CampaignClosed,
            Self::CampaignNotOpen { .. } => Code::CampaignNotOpen,
            Self::AmountExceedsCap { .. } => Code::AmountExceedsCap,
            Self::Incomplete { .. } => Code::IncompleteApplication,
            Self::AlreadyReviewed { .. } => Code::AlreadyReviewed,
            Self::NotScorable(_) => Code::NotScorable,
            Self::ConflictOfInterest(_) => Code::ConflictOfInterest,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::EnvelopeExceeded { .. } => Code::EnvelopeExceeded,
            Self::Storage(_)
            | Self::Export(_)
            | Self::CorruptRow { .. }
            | Self::InvalidSeed(_)
            | Self::Database(_) => Code::InternalError,
            Self::Territories(e) => e.code(),
            Self::Funding(e) => e.code(),
            Self::Access(e) => e.code(),
        }
    }

    fn field(&self) -> Option<&FieldPath> {
        match self {
            Self::InvalidInput { field, .. } | Self::Incomplete { field, .. } => Some(field),
            Self::Territories(e) => e.field(),
            Self::Funding(e) => e.field(),
            _ => None,
        }
    }

    fn is_internal(&self) -> bool {
        match self {
            Self::Storage(_)
            | Self::Export(_)
            | Self::CorruptRow { .. }
            | Self::InvalidSeed(_)
            | Self::Database(_) => true,
            Self::Territories(e) => e.is_internal(),
            Self::Funding(e) => e.is_internal(),
            Self::Access(e) => e.is_internal(),
            _ => false,
        }
    }

    fn is_user_error(&self) -> bool {
        match self {
            Self::InvalidInput { .. }
            | Self::Pagination(_)
            | Self::NotFound { .. }
            | Self::StaleVersion { .. }
            | Self::InvalidTransition { .. }
            | Self::NotEditable(_)
            | Self::CampaignClosed { .. }
            | Self::CampaignNotOpen { .. }
            | Self::AmountExceedsCap { .. }
            | Self::Incomplete { .. }
            | Self::AlreadyReviewed { .. }
            | Self::NotScorable(_)
            | Self::AlreadyExists(_)
            | Self::InvalidAttachment { .. }
            | Self::EnvelopeExceeded { .. } => true,
            Self::Territories(e) => e.is_user_error(),
            Self::Funding(e) => e.is_user_error(),
            _ => false,
        }
    }
}
