//! Feeds and import jobs: `feeds`, `feed`, `createFeed`, `updateFeed`, `importJob`, `importJobs`.

use async_graphql::ID;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const JOB_PREFIX: &str = "ImportJob";

/// The global ID of an import job, as `importJob(id:)` and the HTTP routes `/imports/{id}` take it.
pub fn job_id(id: maillage_sites::jobs::JobId) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{JOB_PREFIX}:{id}")))
}

/// Decodes an import job's global ID; the message says what is wrong (for `invalid_id`).
pub fn decode_job_id(raw: &str) -> Result<maillage_sites::jobs::JobId, String> {
    URL_SAFE_NO_PAD
        .decode(raw.trim().trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| {
            t.strip_prefix(JOB_PREFIX)
                .and_then(|r| r.strip_prefix(':'))
                .and_then(|n| n.parse().ok())
        })
        .map(maillage_sites::jobs::JobId)
        .ok_or_else(|| format!("this ID does not name an {JOB_PREFIX}"))
}
