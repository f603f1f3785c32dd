//! Cross-source deduplication: matching, review, canonical sites, un-merge, reports.
//!
//! - [`matching`] finds candidate pairs of source records from different origins (pure, blocked, scored).
//! - [`run`] stores them in `site_match` (a decided pair is never proposed again) and auto-confirms the sure ones.
//! - [`review`] lets coordinators see and decide the pairs of their departments.
//! - [`canonical`] serves each confirmed cluster as one site row (`source = maillage`) that every default read
//!   returns instead of its members (`site.merged_into`), and undoes it exactly.
//! - [`report`] counts rows, candidates and decisions per hub and per source.

pub mod canonical;
mod entity;
pub mod matching;
pub mod normalize;
pub mod report;
pub mod review;
pub mod run;

pub use canonical::{
    OVERRIDABLE_FIELDS, canonical_of, canonical_provenance, dedup_actor, records_by_ids,
    refresh_canonical_in, set_canonical_field, source_records, source_records_of,
};
pub use matching::{Candidate, MatchInput, Reason, find_candidates};
pub use report::{ReportLine, dedup_report, write_report_csv};
pub use review::{
    MatchFilter, SiteMatch, SiteMatchView, confirm_site_match, list_site_matches,
    reject_site_match, site_matches_by_ids, split_site_cluster,
};
pub use run::{
    MatchOptions, MatchSummary, match_after_import, match_imported_rows, match_sites,
    match_sites_in,
};

use maillage_core::Code;
use std::fmt;

/// The source name of canonical sites. No feed may use it (imports and `createSite` refuse it).
pub const CANONICAL_SOURCE: &str = "maillage";

/// Where a candidate pair stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchStatus {
    /// Found, waiting for a coordinator.
    Pending,
    /// A coordinator said both records are one place.
    Confirmed,
    /// A coordinator said they are two places (or split their cluster): never proposed again.
    Rejected,
    /// Confirmed by matching itself (score at or above the configured threshold), as the actor `dedup`.
    AutoConfirmed,
}

impl MatchStatus {
    /// Every status.
    pub const ALL: [MatchStatus; 4] = [
        Self::Pending,
        Self::Confirmed,
        Self::Rejected,
        Self::AutoConfirmed,
    ];

    /// The stored key.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
            Self::AutoConfirmed => "auto_confirmed",
        }
    }

    /// Inverse of [`MatchStatus::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether the pair joins its records into one canonical site.
    pub fn is_confirmed(self) -> bool {
        matches!(self, Self::Confirmed | Self::AutoConfirmed)
    }
}

impl fmt::Display for MatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Refuses [`CANONICAL_SOURCE`] as the source of a feed or of a site created through the API: canonical rows are
/// written by dedup only, and a feed using the name would have its rows taken for canonical sites.
pub(crate) fn refuse_canonical_source(source: &str) -> Result<(), crate::SitesError> {
    if source.eq_ignore_ascii_case(CANONICAL_SOURCE) {
        return Err(crate::SitesError::InvalidInput {
            field: maillage_core::error::FieldPath::new("source"),
            message: format!(
                "the source name {CANONICAL_SOURCE:?} is reserved for canonical sites; choose another"
            ),
            code: Code::ReservedSource,
        });
    }
    Ok(())
}
