//! Every error code the API produces, in one table: its stable string, its HTTP status, its classification and
//! what it means.
//!
//! Codes are produced by the domain errors ([`crate::ErrorCode::code`]), the GraphQL layer (`extensions.code`) and
//! the HTTP routes of the server; all of them name a [`Code`], never a string, so a code cannot be misspelled and
//! the table below is the whole list. `docs/API-ERRORS.md` is generated from it (see the tests), and a test fails
//! when a code of the table is produced nowhere.

use std::fmt;

/// A coarse class for every code, sent as `extensions.classification`: the values of Spring for GraphQL's
/// `ErrorType`, plus `TOO_MANY_REQUESTS`, so generic clients tell their own mistakes from server faults without
/// knowing our codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Classification {
    /// The caller's request or input is at fault; repeating it unchanged fails again.
    BadRequest,
    /// Credentials are missing, invalid or expired.
    Unauthorized,
    /// The caller is known but may not do this.
    Forbidden,
    /// The thing asked for does not exist (or is not visible to the caller).
    NotFound,
    /// A rate or budget is exhausted: retry later (see `Retry-After`).
    TooManyRequests,
    /// The server failed or is unavailable; the caller is not at fault and may retry.
    InternalError,
}

impl Classification {
    /// The value sent in `extensions.classification`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::TooManyRequests => "TOO_MANY_REQUESTS",
            Self::InternalError => "INTERNAL_ERROR",
        }
    }

    /// Whether the caller is at fault (it must change its request), as opposed to the server or a limit.
    pub const fn is_client_fault(self) -> bool {
        matches!(
            self,
            Self::BadRequest | Self::Unauthorized | Self::Forbidden | Self::NotFound
        )
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds [`Code`] and its table from one list: `Variant = "code", status, Classification, "meaning";`.
macro_rules! codes {
    ($($variant:ident = $code:literal, $status:literal, $class:ident, $meaning:literal;)*) => {
        /// A stable, machine-readable error code (`extensions.code`). Codes never change meaning; new ones are
        /// added to the end of the table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(
                #[doc = $meaning]
                $variant,
            )*
        }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The string sent to clients, e.g. `invalid_value`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// The HTTP status of a response refused with this code: the status of an HTTP route's refusal, and of
            /// a GraphQL request refused as a whole under `application/graphql-response+json` (legacy
            /// `application/json` answers request errors with 200, as the GraphQL-over-HTTP spec says).
            pub const fn status(self) -> u16 {
                match self {
                    $(Code::$variant => $status,)*
                }
            }

            /// The coarse class of this code (`extensions.classification`).
            pub const fn classification(self) -> Classification {
                match self {
                    $(Code::$variant => Classification::$class,)*
                }
            }

            /// What the code means, in one line (the table of `docs/API-ERRORS.md`).
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $meaning,)*
                }
            }

            /// The variant's name in Rust (`InvalidValue`), for the test that finds where each code is produced.
            #[cfg(test)]
            const fn variant(self) -> &'static str {
                match self {
                    $(Code::$variant => stringify!($variant),)*
                }
            }

            /// The code a client received, back from its string; `None` for a string that is no code.
            pub fn parse(code: &str) -> Option<Self> {
                match code {
                    $($code => Some(Code::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    // The caller's input.
    InvalidValue = "invalid_value", 400, BadRequest, "An input value is malformed or outside what is allowed (`extensions.field` names it).";
    UnknownValue = "unknown_value", 400, BadRequest, "An input value is well formed but names nothing known (a service label, a rule, a code).";
    InvalidId = "invalid_id", 400, BadRequest, "A global ID is malformed or of another type than expected.";
    TooManyIds = "too_many_ids", 400, BadRequest, "`nodes(ids:)` was given more IDs than one request may resolve.";
    InvalidCursor = "invalid_cursor", 400, BadRequest, "A pagination cursor was not issued by this API or no longer applies.";
    PageSizeOutOfRange = "page_size_out_of_range", 400, BadRequest, "`first` or `last` is negative or above the largest page.";
    UnknownHub = "unknown_hub", 400, BadRequest, "The hub named by an input does not exist.";
    UnknownDepartment = "unknown_department", 400, BadRequest, "The department named by an input does not exist.";
    InvalidFile = "invalid_file", 400, BadRequest, "An uploaded or imported file cannot be read in its announced format.";
    RowsRejected = "rows_rejected", 422, BadRequest, "An import was refused as a whole because some of its rows are invalid (the report lists them).";
    ReservedSource = "reserved_source", 400, BadRequest, "The source label is reserved for the hub's own records.";
    // The HTTP request itself.
    BadRequest = "bad_request", 400, BadRequest, "The HTTP request is malformed: unreadable body, no query, variables or extensions not JSON objects.";
    NotAcceptable = "not_acceptable", 406, BadRequest, "The `Accept` header allows no media type this endpoint answers with.";
    UnsupportedMediaType = "unsupported_media_type", 415, BadRequest, "The request body's `Content-Type` is not one this endpoint reads.";
    PayloadTooLarge = "payload_too_large", 413, BadRequest, "The request body is larger than the server accepts.";
    MethodNotAllowed = "method_not_allowed", 405, BadRequest, "A mutation was sent with GET; send it with POST.";
    UploadHeaderMissing = "upload_header_missing", 400, BadRequest, "An upload or deletion lacks the `X-Maillage-Upload: 1` header (protection against cross-site request forgery).";
    // The GraphQL document.
    GraphqlValidationFailed = "graphql_validation_failed", 400, BadRequest, "The GraphQL document does not parse or does not validate against the schema.";
    QueryTooDeep = "query_too_deep", 400, BadRequest, "The document is nested deeper than the server's limit.";
    QueryTooComplex = "query_too_complex", 400, BadRequest, "The document's cost is above the server's limit (a connection costs its page size times its selection).";
    TooManyAliases = "too_many_aliases", 400, BadRequest, "The document has more aliases than the server's limit.";
    TooManyDirectives = "too_many_directives", 400, BadRequest, "The document has more directives than the server's limit.";
    PersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND", 400, BadRequest, "The persisted query's hash is unknown: send the query with its hash once (Apollo APQ).";
    PersistedQueryNotSupported = "PERSISTED_QUERY_NOT_SUPPORTED", 400, BadRequest, "Automatic persisted queries are disabled on this server.";
    PersistedQueryHashMismatch = "persisted_query_hash_mismatch", 400, BadRequest, "`persistedQuery.sha256Hash` is not the SHA-256 of the query sent with it.";
    UntrustedDocument = "untrusted_document", 400, BadRequest, "The server only runs registered documents (trusted documents) and this one is not.";
    // Who calls.
    Unauthenticated = "unauthenticated", 401, Unauthorized, "Credentials are missing (where required), invalid or expired.";
    Forbidden = "forbidden", 403, Forbidden, "The caller's role or hub does not allow this.";
    NotFound = "not_found", 404, NotFound, "The record does not exist or is not visible to the caller.";
    // Limits.
    RateLimited = "rate_limited", 429, TooManyRequests, "Too many requests from this caller; retry after `Retry-After` seconds.";
    BudgetExhausted = "budget_exhausted", 429, TooManyRequests, "The caller's cost budget cannot pay for this query; retry after `Retry-After` seconds.";
    // Business rules and state.
    StaleVersion = "stale_version", 409, BadRequest, "The record changed since the caller read it: read it again and retry with its new `version`.";
    AlreadyExists = "already_exists", 409, BadRequest, "A record with the same identity already exists.";
    Conflict = "conflict", 409, BadRequest, "The operation conflicts with the record's current state.";
    InvalidState = "invalid_state", 409, BadRequest, "The record's state does not allow this operation.";
    InvalidTransition = "invalid_transition", 409, BadRequest, "The dossier's status does not allow this transition.";
    NotEditable = "not_editable", 409, BadRequest, "The dossier can no longer be edited in its current status.";
    InvalidDecision = "invalid_decision", 422, BadRequest, "The decision does not apply to this duplicate match.";
    ArchiveShareExceeded = "archive_share_exceeded", 422, BadRequest, "The import would archive more of the feed's records than allowed.";
    TimeShareExceeded = "time_share_exceeded", 422, BadRequest, "A counsellor's assignments would add up to more than full time.";
    CampaignClosed = "campaign_closed", 422, BadRequest, "The AMI campaign is closed.";
    CampaignNotOpen = "campaign_not_open", 422, BadRequest, "The AMI campaign is not open yet.";
    AmountExceedsCap = "amount_exceeds_cap", 422, BadRequest, "The amount asked is above the campaign's cap.";
    IncompleteApplication = "incomplete_application", 422, BadRequest, "The dossier lacks what submission requires (`extensions.field` names the first gap).";
    AlreadyReviewed = "already_reviewed", 409, BadRequest, "The reviewer already scored this dossier.";
    NotScorable = "not_scorable", 422, BadRequest, "The dossier cannot be scored in its current status.";
    ConflictOfInterest = "conflict_of_interest", 403, Forbidden, "The reviewer belongs to the applicant's hub and may not score it.";
    EnvelopeExceeded = "envelope_exceeded", 422, BadRequest, "The funding envelope has not enough left for this amount.";
    GrantExceeded = "grant_exceeded", 422, BadRequest, "The payments would exceed the grant's amount.";
    AmountMismatch = "amount_mismatch", 422, BadRequest, "The amount differs from the funding rule's computation and no override reason was given.";
    ExceedsFundedPosts = "exceeds_funded_posts", 422, BadRequest, "The grant pays more posts than were funded.";
    BelowCommitted = "below_committed", 422, BadRequest, "An envelope's amount would fall below what it already committed.";
    NoRule = "no_rule", 422, BadRequest, "No funding rule applies to this beneficiary and date.";
    NotPdf = "not_pdf", 415, BadRequest, "The attachment is not a PDF file.";
    TooLarge = "too_large", 413, BadRequest, "The attachment is larger than the campaign allows.";
    EmptyFile = "empty_file", 422, BadRequest, "The uploaded file is empty.";
    TooManyAttachments = "too_many_attachments", 422, BadRequest, "The dossier already holds as many attachments as allowed.";
    UnknownFormat = "unknown_format", 415, BadRequest, "The uploaded file's format is none the feed reads (CSV, XLSX, JSON).";
    Cancelled = "cancelled", 409, BadRequest, "The import job was cancelled before it finished.";
    // The server.
    InternalError = "internal_error", 500, InternalError, "The server failed; the incident is logged and the message says nothing more.";
    Unavailable = "unavailable", 503, InternalError, "A dependency (the database) could not be reached; retry later.";
    Timeout = "timeout", 503, InternalError, "The query ran longer than the server's execution limit and was stopped.";
    IoError = "io_error", 500, InternalError, "A file could not be read or written on the server.";
    StagingLost = "staging_lost", 500, InternalError, "An import's staged rows disappeared before it finished; run it again.";
    DatabaseUnreachable = "database_unreachable", 503, InternalError, "`/readyz`: the database does not answer.";
    DatabaseTimeout = "database_timeout", 503, InternalError, "`/readyz`: the database did not answer in time.";
    MigrationsPending = "migrations_pending", 503, InternalError, "`/readyz`: the database lacks migrations this binary needs.";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with a code's string, so tests and callers holding strings read `err.code() == "not_found"`.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// The Markdown table of every code (the body of `docs/API-ERRORS.md`).
pub fn markdown_table() -> String {
    let mut out =
        String::from("| Code | HTTP status | Classification | Meaning |\n|---|---|---|---|\n");
    for code in Code::ALL {
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} |\n",
            code.as_str(),
            code.status(),
            code.classification(),
            code.meaning().replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::collections::HashSet;
    use std::path::{Path, PathBuf};

    const DOC: &str = "docs/API-ERRORS.md";
    const START: &str = "<!-- codes:start (generated from crates/core/src/codes.rs) -->\n";
    const END: &str = "<!-- codes:end -->";

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn codes_are_unique_and_read_back() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(Code::parse(code.as_str()), Some(*code));
            assert!(code.meaning().ends_with('.'), "{code}: one sentence");
            assert!((400..600).contains(&code.status()), "{code}");
            // A client fault has a 4xx status; a server fault a 5xx one.
            assert_eq!(
                code.status() >= 500,
                code.classification() == Classification::InternalError,
                "{code}"
            );
        }
        assert_eq!(Code::parse("nope"), None);
    }

    /// `docs/API-ERRORS.md` holds the table generated from [`Code`]; `UPDATE_DOCS=1 cargo test -p maillage-core`
    /// rewrites it after a change.
    #[test]
    fn the_codes_doc_is_the_table() {
        let path = workspace().join(DOC);
        let doc = std::fs::read_to_string(&path).expect("docs/API-ERRORS.md");
        let start = doc.find(START).expect("start marker") + START.len();
        let end = doc.find(END).expect("end marker");
        let table = markdown_table();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{table}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        assert_eq!(
            &doc[start..end],
            table,
            "{DOC} is out of date: run UPDATE_DOCS=1 cargo test -p maillage-core codes"
        );
    }

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Every code of the table is produced by some production code (tests excluded): a code nobody produces is
    /// documented for nothing.
    #[test]
    fn every_code_is_produced_somewhere() {
        let mut files = Vec::new();
        for krate in std::fs::read_dir(workspace().join("crates")).unwrap() {
            let src = krate.unwrap().path().join("src");
            if src.is_dir() {
                sources(&src, &mut files);
            }
        }
        let this = Path::new(file!()).file_name().unwrap();
        let mut text = String::new();
        for file in files {
            if file.ends_with(Path::new("core/src").join(this)) {
                continue;
            }
            let source = std::fs::read_to_string(&file).unwrap();
            // Unit tests sit at the end of a file, after `#[cfg(test)]`.
            let production = source.split("#[cfg(test)]").next().unwrap_or_default();
            text.push_str(production);
            text.push('\n');
        }
        let unused: Vec<_> = Code::ALL
            .iter()
            .filter(|code| {
                let needle = format!("Code::{}", code.variant());
                !text.match_indices(&needle).any(|(i, _)| {
                    !text[i + needle.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                })
            })
            .map(|code| code.as_str())
            .collect();
        assert!(unused.is_empty(), "codes produced nowhere: {unused:?}");
    }
}
