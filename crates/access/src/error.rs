//! The access crate's one error enum.

use maillage_core::Code;
use maillage_core::error::{ErrorCode, FieldPath};

/// What a token or audit service can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// An input is invalid.
    #[error("{message}")]
    InvalidInput {
        /// The field at fault.
        field: FieldPath,
        /// What is wrong.
        message: String,
    },
    /// No such token.
    #[error("no token with id {0}")]
    UnknownToken(i32),
    /// Bad pagination arguments.
    #[error(transparent)]
    Pagination(#[from] maillage_core::pagination::PaginationError),
    /// A database failure (logged, never shown).
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
}

impl ErrorCode for AccessError {
    fn code(&self) -> Code {
        match self {
            Self::Forbidden(_) => Code::Forbidden,
            Self::InvalidInput { .. } => Code::InvalidValue,
            Self::UnknownToken(_) => Code::NotFound,
            Self::Pagination(e) => e.code(),
            Self::Database(_) => Code::InternalError,
        }
    }

    fn field(&self) -> Option<&FieldPath> {
        match self {
            Self::InvalidInput { field, .. } => Some(field),
            _ => None,
        }
    }

    fn is_internal(&self) -> bool {
        matches!(self, Self::Database(_))
    }

    fn is_user_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidInput { .. } | Self::UnknownToken(_) | Self::Pagination(_)
        )
    }
}
