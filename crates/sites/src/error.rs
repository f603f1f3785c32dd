//! The sites crate's one error enum.

use maillage_core::error::{ErrorCode, FieldPath, InvalidValue};
use maillage_core::{Code, FieldProblems, pagination::PaginationError};

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
        code: Code,
    },
    /// A site or a change to one breaks input rules (every broken rule, see [`crate::draft`]).
    #[error("{0}")]
    Rules(#[from] FieldProblems),
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
    /// No (live) site with this id.
    #[error("no site with id {0}")]
    NotFound(maillage_core::SiteId),
    /// The caller's version is not the stored one: someone changed the site since it was read. Nothing written.
    #[error(
        "site {id} is at version {actual}, not {expected}: reload it and apply your change again"
    )]
    StaleVersion {
        /// The site.
        id: maillage_core::SiteId,
        /// The version the caller sent.
        expected: i32,
        /// The stored version.
        actual: i32,
    },
    /// A site with this (source, id) exists already.
    #[error("a site with id {source_id:?} exists already in source {site_source:?}")]
    AlreadyExists {
        /// The source.
        site_source: String,
        /// The id within the source.
        source_id: String,
    },
    /// A complete feed's file would archive more than the allowed share of its source's live sites (a truncated
    /// file?): nothing was written. Importing it again with `force` accepts it.
    #[error(
        "this file would archive {would_archive} of the {live} live sites of source {site_source:?} (more than \
         {max_percent}%): nothing was imported; check the file, or force the import"
    )]
    ArchiveShareExceeded {
        /// The source.
        site_source: String,
        /// Sites the file does not list any more.
        would_archive: u64,
        /// Live sites of the source before the import.
        live: u64,
        /// The allowed share, in percent.
        max_percent: u32,
    },
    /// The import was cancelled by its caller: nothing was written.
    #[error("the import was cancelled: nothing was imported")]
    Cancelled,
    /// The staged rows of an import disappeared before it published them (discarded by a restart): nothing was
    /// written.
    #[error(
        "the staged rows of import {0} were discarded before it finished: nothing was imported"
    )]
    StagingLost(String),
    /// No hub with this slug.
    #[error("no hub with slug {0:?}")]
    UnknownHub(String),
    /// No feed with this slug (or none the caller may see).
    #[error("no feed {0:?}")]
    UnknownFeed(String),
    /// No import job with this id (or none the caller may see).
    #[error("no import job {0}")]
    UnknownJob(i32),
    /// A stored row could not be read back (edited outside Maillage?).
    #[error("site {id} is stored with an invalid value: {detail}")]
    CorruptRow {
        /// The row's id.
        id: i32,
        /// What could not be parsed.
        detail: String,
    },
    /// No candidate pair with this id.
    #[error("no candidate pair with id {0}")]
    MatchNotFound(i32),
    /// A dedup decision that does not apply to the pair or cluster in its current state.
    #[error("{0}")]
    InvalidDecision(String),
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

impl SitesError {
    /// An `invalid_value` error on one input field.
    pub fn invalid(field: FieldPath, err: &InvalidValue) -> Self {
        Self::InvalidInput {
            field,
            message: err.to_string(),
            code: Code::InvalidValue,
        }
    }
}

impl ErrorCode for SitesError {
    fn code(&self) -> Code {
        match self {
            Self::InvalidInput { code, .. } => *code,
            Self::Rules(p) => p.code(),
            Self::Pagination(e) => e.code(),
            Self::InvalidFile(_) => Code::InvalidFile,
            Self::Io { .. } => Code::IoError,
            Self::Forbidden(_) => Code::Forbidden,
            Self::UnknownHub(_) => Code::UnknownHub,
            Self::ArchiveShareExceeded { .. } => Code::ArchiveShareExceeded,
            Self::Cancelled => Code::Cancelled,
            Self::StagingLost(_) => Code::StagingLost,
            Self::UnknownFeed(_) | Self::UnknownJob(_) => Code::NotFound,
            Self::Conflict { .. } => Code::Conflict,
            Self::NotFound(_) => Code::NotFound,
            Self::StaleVersion { .. } => Code::StaleVersion,
            Self::AlreadyExists { .. } => Code::AlreadyExists,
            Self::MatchNotFound(_) => Code::NotFound,
            Self::InvalidDecision(_) => Code::InvalidDecision,
            Self::Access(e) => e.code(),
            Self::CorruptRow { .. } | Self::Database(_) => Code::InternalError,
            Self::Territories(e) => e.code(),
        }
    }

    fn field(&self) -> Option<&FieldPath> {
        match self {
            Self::InvalidInput { field, .. } => Some(field),
            Self::Rules(p) => p.field(),
            _ => None,
        }
    }

    fn field_problems(&self) -> Option<&FieldProblems> {
        match self {
            Self::Rules(p) => Some(p),
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

    fn is_user_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidInput { .. }
                | Self::Rules(_)
                | Self::Pagination(_)
                | Self::UnknownHub(_)
                | Self::UnknownFeed(_)
                | Self::UnknownJob(_)
                | Self::Conflict { .. }
                | Self::NotFound(_)
                | Self::StaleVersion { .. }
                | Self::AlreadyExists { .. }
                | Self::ArchiveShareExceeded { .. }
                | Self::MatchNotFound(_)
                | Self::InvalidDecision(_)
        )
    }
}
