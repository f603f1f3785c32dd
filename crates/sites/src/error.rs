//! The sites crate's one error enum.

use maillage_core::error::{ErrorCode, FieldPath, InvalidValue};
use maillage_core::pagination::PaginationError;

/// Everything a sites service can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum SitesError {
    /// A filter value, ID or input field is not valid.
    #[error("{message}")]
    InvalidInput {
        /// The input field at fault.
        field: FieldPath,
        /// What is wrong, for a human.
        message: String,
        /// The stable code (`invalid_value`, `unknown_value`, …).
        code: &'static str,
    },
    /// Bad pagination arguments.
    #[error(transparent)]
    Pagination(#[from] PaginationError),
    /// The file to import cannot be read as a whole (syntax, missing columns, unknown version): nothing was written.
    #[error("{0}")]
    InvalidFile(String),
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {source}")]
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
    /// Another writer stored the same site (source, id) at the same moment; retrying sees its result.
    #[error(
        "site {source_id:?} of source {site_source:?} was written concurrently by another operation: retry"
    )]
    Conflict {
        /// The import source.
        site_source: String,
        /// The id within the source.
        source_id: String,
    },
    /// No hub with this slug.
    #[error("no hub with slug {0:?}")]
    UnknownHub(String),
    /// A stored row could not be read back (edited outside Maillage?).
    #[error("site {id} is stored with an invalid value: {detail}")]
    CorruptRow {
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
}

impl SitesError {
    /// An `invalid_value` error on one input field.
    pub fn invalid(field: FieldPath, err: &InvalidValue) -> Self {
        Self::InvalidInput {
            field,
            message: err.to_string(),
            code: "invalid_value",
        }
    }
}

impl ErrorCode for SitesError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { code, .. } => code,
            Self::Pagination(e) => e.code(),
            Self::InvalidFile(_) => "invalid_file",
            Self::Io { .. } => "io_error",
            Self::Forbidden(_) => "forbidden",
            Self::UnknownHub(_) => "unknown_hub",
            Self::Conflict { .. } => "conflict",
            Self::CorruptRow { .. } | Self::Database(_) => "internal_error",
            Self::Territories(e) => e.code(),
        }
    }

    fn field(&self) -> Option<&FieldPath> {
        match self {
            Self::InvalidInput { field, .. } => Some(field),
            _ => None,
        }
    }

    fn is_internal(&self) -> bool {
        match self {
            Self::CorruptRow { .. } | Self::Database(_) => true,
            Self::Territories(e) => e.is_internal(),
            _ => false,
        }
    }
}
