//! The aidants crate's one error enum.

use crate::model::{AidantId, OrganisationId};
use maillage_core::error::{ErrorCode, FieldPath, InvalidValue};
use maillage_core::{Code, FieldProblems, pagination::PaginationError};

/// Everything an aidants service can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum AidantsError {
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
    /// The file to import is refused as a whole (syntax, columns, a column that could carry a person's identity):
    /// nothing was written.
    #[error("{0}")]
    InvalidFile(String),
    /// The file cannot be opened or read, or the export cannot be written.
    #[error("cannot read or write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No organisation with this id.
    #[error("no organisation with id {0}")]
    OrganisationNotFound(OrganisationId),
    /// No aidant with this id.
    #[error("no aidant with id {0}")]
    AidantNotFound(AidantId),
    /// The caller's version is not the stored one: someone changed the record since it was read. Nothing written.
    #[error(
        "{entity} {id} is at version {actual}, not {expected}: reload it and apply your change again"
    )]
    StaleVersion {
        /// `organisation` or `aidant`.
        entity: &'static str,
        /// The record.
        id: i32,
        /// The version the caller sent.
        expected: i32,
        /// The stored version.
        actual: i32,
    },
    /// The identity of the record (SIRET of an organisation, e-mail of an aidant) is taken already.
    #[error("{0}")]
    AlreadyExists(String),
    /// No hub with this slug.
    #[error("no hub with slug {0:?}")]
    UnknownHub(String),
    /// A stored row could not be read back (edited outside Maillage?).
    #[error("{table} row {id} is stored with an invalid value: {detail}")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// The row's id.
        id: i32,
        /// What could not be parsed.
        detail: String,
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

impl AidantsError {
    /// An `invalid_value` error on one input field.
    pub fn invalid(field: FieldPath, err: &InvalidValue) -> Self {
        Self::InvalidInput {
            field,
            message: err.to_string(),
            code: Code::InvalidValue,
        }
    }

    /// An error with a code on one input field.
    pub fn input(field: FieldPath, code: Code, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
            code,
        }
    }

    pub(crate) fn corrupt(table: &'static str, id: i32) -> impl Fn(InvalidValue) -> Self {
        move |e| Self::CorruptRow {
            table,
            id,
            detail: e.to_string(),
        }
    }
}

impl ErrorCode for AidantsError {
    fn code(&self) -> Code {
        match self {
            Self::InvalidInput { code, .. } => *code,
            Self::Rules(p) => p.code(),
            Self::Pagination(e) => e.code(),
            Self::InvalidFile(_) => Code::InvalidFile,
            Self::Io { .. } => Code::IoError,
            Self::Forbidden(_) => Code::Forbidden,
            Self::OrganisationNotFound(_) | Self::AidantNotFound(_) => Code::NotFound,
            Self::StaleVersion { .. } => Code::StaleVersion,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::UnknownHub(_) => Code::UnknownHub,
            Self::CorruptRow { .. } | Self::Database(_) => Code::InternalError,
            Self::Territories(e) => e.code(),
            Self::Access(e) => e.code(),
        }
    }

    fn field(&self) -> Option<&FieldPath> {
        match self {
            Self::InvalidInput { field, .. } => Some(field),
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
                | Self::UnknownHub(_)
                | Self::OrganisationNotFound(_)
                | Self::AidantNotFound(_)
                | Self::StaleVersion { .. }
                | Self::AlreadyExists(_)
        )
    }
}
