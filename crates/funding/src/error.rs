//! The funding crate's one error enum.

use crate::money::Money;
use maillage_core::Code;
use maillage_core::error::{ErrorCode, FieldPath};

/// Everything a funding service can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum FundingError {
    /// An input field is not valid; the caller can fix it.
    #[error("{message}")]
    InvalidInput {
        /// The input field at fault.
        field: FieldPath,
        /// What is wrong, for a human.
        message: String,
        /// The stable code (`invalid_value`, `unknown_value`, …).
        code: Code,
    },
    /// Bad pagination arguments.
    #[error(transparent)]
    Pagination(#[from] maillage_core::pagination::PaginationError),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such envelope, rule, grant or programme.
    #[error("no {entity} with id {id}")]
    NotFound {
        /// What was looked for (`envelope`, `grant`, …).
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
        /// The stored version.
        actual: i32,
    },
    /// Signing would commit more than an envelope (or one of its ancestors) holds. Nothing written.
    #[error(
        "envelope {envelope} cannot take {requested}: {committed} of {amount} already committed, {remaining} remaining"
    )]
    EnvelopeExceeded {
        /// The envelope code that would be exceeded.
        envelope: String,
        /// Its amount.
        amount: Money,
        /// What signed grants already commit in it and its children.
        committed: Money,
        /// What is left.
        remaining: Money,
        /// What the grant asked for.
        requested: Money,
    },
    /// Paying this would disburse more than the grant. Nothing written.
    #[error("grant {grant} cannot pay {requested}: {disbursed} of {amount} already paid")]
    GrantExceeded {
        /// The grant.
        grant: i32,
        /// Its amount.
        amount: Money,
        /// Already paid.
        disbursed: Money,
        /// What this payment asked for.
        requested: Money,
    },
    /// The record is not in a state that allows this transition (e.g. paying a draft grant).
    #[error("{0}")]
    InvalidState(String),
    /// A code or key exists already.
    #[error("{0}")]
    AlreadyExists(String),
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
    /// A seed file of this crate could not be read: a bug, caught by the tests.
    #[error("funding seed data is invalid: {0}")]
    InvalidSeed(String),
    /// Several problems with one input, all reported at once (each becomes one `userError`).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<FundingError>),
    /// A beneficiary's domain could not be read (its message is logged, never shown to clients).
    #[error("beneficiary lookup failed: {0}")]
    Directory(String),
    /// An import file cannot be read (syntax, columns): nothing was imported.
    #[error("{0}")]
    InvalidFile(String),
    /// Rows of an import were rejected: nothing was imported (the report gives each row's reason).
    #[error("{rejected} of {rows} rows rejected: nothing was imported (see the report)")]
    ImportRejected {
        /// Rows rejected.
        rejected: u64,
        /// Rows in the file.
        rows: u64,
    },
    /// A database failure; its message is logged, never shown to clients.
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// A territories lookup failed.
    #[error(transparent)]
    Territories(#[from] maillage_territories::TerritoriesError),
    /// Recording the audit trail failed.
    #[error(transparent)]
    Access(#[from] maillage_access::AccessError),
}

impl FundingError {
    /// No error, one error, or [`FundingError::Several`].
    pub fn all(mut errors: Vec<FundingError>) -> Option<Self> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(Self::Several(errors)),
        }
    }

    /// The errors this one stands for: itself, or each of [`FundingError::Several`].
    pub fn each(&self) -> Vec<&FundingError> {
        match self {
            Self::Several(all) => all.iter().flat_map(FundingError::each).collect(),
            e => vec![e],
        }
    }

    /// An error on one input field, with its code.
    pub fn invalid(field: FieldPath, code: Code, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
            code,
        }
    }

    /// The error for a conditional `UPDATE` of `entity` row `id` at `version` that matched no row although the
    /// caller's version had been checked: a concurrent writer won the race. It reports the version stored now,
    /// re-read (not a guess computed from the caller's version, which may be `i32::MAX`), or not found once the row
    /// is gone.
    pub(crate) async fn raced<E: sea_orm::EntityTrait, C: sea_orm::ConnectionTrait>(
        db: &C,
        entity: &'static str,
        (id_col, version_col): (E::Column, E::Column),
        id: i32,
        version: i32,
    ) -> Result<Self, sea_orm::DbErr> {
        let stored =
            maillage_core::db::stored_version::<E, _>(db, (id_col, version_col), id).await?;
        Ok(match stored {
            Some(actual) => Self::StaleVersion {
                entity,
                id,
                expected: version,
                actual,
            },
            None => Self::NotFound { entity, id },
        })
    }
}

impl ErrorCode for FundingError {
    fn code(&self) -> Code {
        match self {
            Self::InvalidInput { code, .. } => *code,
            Self::Several(all) => all.first().map_or(Code::InvalidValue, ErrorCode::code),
            Self::Pagination(e) => e.code(),
            Self::Forbidden(_) => Code::Forbidden,
            Self::NotFound { .. } => Code::NotFound,
            Self::StaleVersion { .. } => Code::StaleVersion,
            Self::EnvelopeExceeded { .. } => Code::EnvelopeExceeded,
            Self::GrantExceeded { .. } => Code::GrantExceeded,
            Self::InvalidState(_) => Code::InvalidState,
            Self::InvalidFile(_) => Code::InvalidFile,
            Self::ImportRejected { .. } => Code::RowsRejected,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::CorruptRow { .. }
            | Self::InvalidSeed(_)
            | Self::Database(_)
            | Self::Directory(_) => Code::InternalError,
            Self::Territories(e) => e.code(),
            Self::Access(e) => e.code(),
        }
    }

    fn field(&self) -> Option<&FieldPath> {
        match self {
            Self::InvalidInput { field, .. } => Some(field),
            Self::Several(all) => all.first().and_then(ErrorCode::field),
            _ => None,
        }
    }

    fn is_internal(&self) -> bool {
        match self {
            Self::CorruptRow { .. }
            | Self::InvalidSeed(_)
            | Self::Database(_)
            | Self::Directory(_) => true,
            Self::Several(all) => all.iter().any(ErrorCode::is_internal),
            Self::Territories(e) => e.is_internal(),
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
            | Self::EnvelopeExceeded { .. }
            | Self::GrantExceeded { .. }
            | Self::InvalidState(_)
            | Self::AlreadyExists(_)
            | Self::InvalidFile(_)
            | Self::ImportRejected { .. } => true,
            Self::Several(all) => all.iter().all(ErrorCode::is_user_error),
            Self::Territories(e) => e.is_user_error(),
            _ => false,
        }
    }
}
