//! The one error type of this crate, with stable codes for callers.

use maillage_core::error::InvalidValue;
use maillage_core::{Code, DepartmentCode, ErrorCode, HubId};
use sea_orm::DbErr;

/// Everything that can go wrong in the territories services.
///
/// Callers branch on [`ErrorCode::code`], never on messages. Internal variants ([`ErrorCode::is_internal`]) keep
/// their cause as `source()` for logs, while their `Display` stays generic so that nothing about the database
/// reaches a client.
#[derive(Debug, thiserror::Error)]
pub enum TerritoriesError {
    /// The database failed (connection, constraint, syntax…): an operator problem, not the caller's.
    #[error("database error")]
    Database(#[from] DbErr),

    /// A stored row holds a value the domain types refuse (e.g. a department code edited by hand to `"1"`).
    ///
    /// Reading goes through the same parsers as input, so a bad row is reported instead of spreading.
    #[error("invalid value stored in table {table}")]
    CorruptRow {
        /// The table holding the bad row.
        table: &'static str,
        /// What the parser refused.
        #[source]
        source: InvalidValue,
    },

    /// No hub has this id (it may have been deleted since the caller got it).
    #[error("unknown hub {0}")]
    UnknownHub(HubId),

    /// No record of this kind has this id (or the caller may not see it).
    #[error("unknown {what} {id}")]
    NotFound {
        /// The kind of record, e.g. `hub indicator`.
        what: &'static str,
        /// The id asked for.
        id: i32,
    },

    /// A well-formed department code that is not in the reference data (e.g. `977`, or a typo in an import).
    #[error("unknown department {0}")]
    UnknownDepartment(DepartmentCode),

    /// The reference data embedded in the binary (`crates/territories/data/*.csv`) is inconsistent.
    ///
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The caller's version is not the stored one; nothing was written.
    #[error(
        "hub {id} is at version {actual}, not {expected}: reload it and apply your change again"
    )]
    StaleVersion {
        /// The hub.
        id: HubId,
        /// The version sent.
        expected: i32,
        /// The version stored.
        actual: i32,
    },
    /// An input value is invalid.
    #[error("{message}")]
    InvalidInput {
        /// The field at fault.
        field: maillage_core::error::FieldPath,
        /// What is wrong.
        message: String,
    },
    /// Recording the audit trail failed.
    #[error(transparent)]
    Access(#[from] maillage_access::AccessError),
    /// Unit tests check the same rules, so this only happens when someone edits a CSV and skips them.
    #[error("invalid seed data in {file}, line {line}: {reason}")]
    InvalidSeedData {
        /// The CSV file, e.g. `departments.csv`.
        file: &'static str,
        /// The 1-based line of the file (the header is line 1).
        line: u64,
        /// What is wrong, in plain words.
        reason: String,
    },
}

impl TerritoriesError {
    pub(crate) fn corrupt(table: &'static str) -> impl FnOnce(InvalidValue) -> Self {
        move |source| Self::CorruptRow { table, source }
    }
}

impl ErrorCode for TerritoriesError {
    fn code(&self) -> Code {
        match self {
            Self::Database(_) | Self::CorruptRow { .. } | Self::InvalidSeedData { .. } => {
                Code::InternalError
            }
            Self::UnknownHub(_) => Code::UnknownHub,
            Self::UnknownDepartment(_) => Code::UnknownDepartment,
            Self::NotFound { .. } => Code::NotFound,
            Self::Forbidden(_) => Code::Forbidden,
            Self::StaleVersion { .. } => Code::StaleVersion,
            Self::InvalidInput { .. } => Code::InvalidValue,
            Self::Access(e) => e.code(),
        }
    }

    fn field(&self) -> Option<&maillage_core::error::FieldPath> {
        match self {
            Self::InvalidInput { field, .. } => Some(field),
            _ => None,
        }
    }

    fn is_user_error(&self) -> bool {
        matches!(
            self,
            Self::UnknownHub(_)
                | Self::NotFound { .. }
                | Self::UnknownDepartment(_)
                | Self::StaleVersion { .. }
                | Self::InvalidInput { .. }
        )
    }

    fn is_internal(&self) -> bool {
        // Seed data is shipped with the binary: a client can neither cause nor fix it.
        match self {
            Self::Access(e) => e.is_internal(),
            other => matches!(
                other,
                Self::Database(_) | Self::CorruptRow { .. } | Self::InvalidSeedData { .. }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_are_internal_and_masked() {
        let err = TerritoriesError::from(DbErr::Custom("password=hunter2".to_owned()));
        assert_eq!(err.code(), "internal_error");
        assert!(err.is_internal());
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn user_errors_are_not_internal() {
        let err = TerritoriesError::UnknownHub(HubId(7));
        assert_eq!(err.code(), "unknown_hub");
        assert!(!err.is_internal());
    }
}
