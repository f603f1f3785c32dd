//! The counsellors crate's one error enum.

use maillage_core::error::{ErrorCode, FieldPath, InvalidValue};
use maillage_core::{Code, FieldProblems, pagination::PaginationError};

/// Everything a counsellors service can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum CounsellorsError {
    /// A filter value, ID or input field is not valid.
    #[error("{message}")]
    InvalidInput {
        /// The input field at fault.
        field: FieldPath,
        /// What is wrong, for a human.
        message: String,
        /// The stable code (`invalid_value`, `unknown_value`, …).
        code: Code,
    },
    /// A value breaks the input rules ([`crate::draft`]): every broken rule, paths relative to the input.
    #[error("{0}")]
    Rules(#[from] FieldProblems),
    /// Bad pagination arguments.
    #[error(transparent)]
    Pagination(#[from] PaginationError),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such entity (`what` is `structure`, `post` or `counsellor`).
    #[error("no {what} with id {id}")]
    NotFound {
        /// The kind of entity.
        what: &'static str,
        /// Its id.
        id: i32,
        /// The input field that named it.
        field: FieldPath,
    },
    /// The caller's version is not the stored one: someone changed the entity since it was read. Nothing written.
    #[error(
        "{what} {id} is not at version {expected} any more: reload it and apply your change again"
    )]
    StaleVersion {
        /// The kind of entity.
        what: &'static str,
        /// Its id.
        id: i32,
        /// The version the caller sent.
        expected: i32,
    },
    /// An entity with this identity (SIRET, external id, structure + renewal) exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The shares of time of one counsellor (host structure plus sites) would exceed 100 %.
    #[error(
        "the time shares of counsellor {counsellor} would total {total} %: host share and site shares together \
         may not exceed 100 %"
    )]
    TimeShareExceeded {
        /// The counsellor.
        counsellor: i32,
        /// The total that was refused.
        total: i32,
    },
    /// The file to import cannot be read as a whole (syntax, missing columns): nothing was written.
    #[error("{0}")]
    InvalidFile(String),
    /// A stored row could not be read back (edited outside Maillage?).
    #[error("{table} {id} is stored with an invalid value: {detail}")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// The row's id.
        id: i32,
        /// What could not be parsed.
        detail: String,
    },
    /// Writing an export failed.
    #[error("cannot write the export: {0}")]
    Write(String),
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

impl CounsellorsError {
    /// An `invalid_value` error on one input field.
    pub fn invalid(field: FieldPath, err: &InvalidValue) -> Self {
        Self::InvalidInput {
            field,
            message: err.to_string(),
            code: Code::InvalidValue,
        }
    }

    /// An error on one input field with a code and a message.
    pub fn input(field: FieldPath, code: Code, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
            code,
        }
    }

    pub(crate) fn corrupt(table: &'static str, id: i32, detail: impl fmt::Display) -> Self {
        Self::CorruptRow {
            table,
            id,
            detail: detail.to_string(),
        }
    }
}

use std::fmt;

impl ErrorCode for CounsellorsError {
    fn code(&self) -> Code {
        match self {
            Self::InvalidInput { code, .. } => *code,
            Self::Rules(p) => p.code(),
            Self::Pagination(e) => e.code(),
            Self::Forbidden(_) => Code::Forbidden,
            Self::NotFound { .. } => Code::NotFound,
            Self::StaleVersion { .. } => Code::StaleVersion,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::TimeShareExceeded { .. } => Code::TimeShareExceeded,
            Self::InvalidFile(_) => Code::InvalidFile,
            Self::Write(_) => Code::IoError,
            Self::CorruptRow { .. } | Self::Database(_) => Code::InternalError,
            Self::Territories(e) => e.code(),
            Self::Access(e) => e.code(),
        }
    }

    fn field(&self) -> Option<&FieldPath> {
        match self {
            Self::InvalidInput { field, .. } | Self::NotFound { field, .. } => Some(field),
            Self::Rules(p) => p.field(),
            _ => None,
        }
    }

    fn is_internal(&self) -> bool {
        match self {
            Self::CorruptRow { .. } | Self::Database(_) => true,
            Self::Territories(e) => e.is_internal(),
            Self::Access(e) => e.is_internal(),
            _ => false,
        }
    }

    fn field_problems(&self) -> Option<&FieldProblems> {
        match self {
            Self::Rules(p) => Some(p),
            _ => None,
        }
    }

    fn is_user_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidInput { .. }
                | Self::Rules(_)
                | Self::Pagination(_)
                | Self::NotFound { .. }
                | Self::StaleVersion { .. }
                | Self::AlreadyExists(_)
                | Self::TimeShareExceeded { .. }
        )
    }
}
