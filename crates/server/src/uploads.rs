//! Files sent to a feed over HTTP, imported as jobs in this process; their status and report.
//!
//! `POST /feeds/{feed}/imports` takes the file itself as the request body (`curl --data-binary @file.json`), with
//! its name in `Content-Disposition: attachment; filename="…"` or the `fileName` query parameter (the extension
//! tells the format). It authenticates like `/graphql` and, like the AMI uploads, needs the anti-CSRF header
//! `X-Maillage-Upload: 1`. The body is streamed to `MAILLAGE_IMPORTS_DIR` (at most `MAILLAGE_MAX_IMPORT_BYTES`),
//! a `queued` job is created, and the answer is `202 Accepted` at once with the job and its `Location`; a task of
//! this process then runs the job through `maillage_sites::jobs::run_job`, the same service as `maillage import
//! --feed`, and removes the file when it ends. `GET /imports/{job}` answers the job's status and counts, `GET
//! /imports/{job}/report.csv` its row report. Who may send to a feed and see its jobs is the sites domain's
//! decision (`feeds::can_manage_feed`).

use crate::ami::file_response;
use crate::error::ApiError;
use crate::extract::{Caller, Member, UploadHeader};
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use maillage_core::{Actor, Code};
use maillage_graphql::feeds::{decode_job_id, job_id};
use maillage_sites::SitesError;
use maillage_sites::feeds::{self, Feed};
use maillage_sites::jobs::{self, ImportJob};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Where uploaded files wait for their job, and how large they may be.
#[derive(Debug, Clone)]
pub struct ImportUploads {
    /// The directory (created on first upload).
    pub dir: PathBuf,
    /// The largest accepted file, in bytes.
    pub max_bytes: u64,
}

/// The feed upload and job routes, to merge into the application's router.
pub fn routes(settings: ImportUploads) -> Router<AppState> {
    Router::new()
        .route("/feeds/{feed}/imports", post(upload))
        .route("/imports/{job}", get(status))
        .route("/imports/{job}/report.csv", get(report))
        .layer(Extension(Arc::new(settings)))
}

/// A sites error as a response: the status follows the code; internal errors are logged and masked.
fn domain_error(e: &SitesError) -> Response {
    ApiError::domain(e).into_response()
}

/// Query parameters of an upload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadParams {
    /// The file's name, when `Content-Disposition` does not give it (e.g. `lieux.csv`).
    file_name: Option<String>,
}

/// The `filename` of a `Content-Disposition` header: `filename*=UTF-8''…` (RFC 6266) first, then `filename=`.
fn disposition_file_name(value: &str) -> Option<String> {
    let params: Vec<(String, String)> = value
        .split(';')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let extended = params
        .iter()
        .find(|(k, _)| k == "filename*")
        .and_then(|(_, v)| {
            v.split_once("''")
                .map(|(_, encoded)| percent_decode(encoded))
        });
    extended
        .or_else(|| {
            params
                .iter()
                .find(|(k, _)| k == "filename")
                .map(|(_, v)| v.trim_matches('"').to_owned())
        })
        .filter(|n| !n.trim().is_empty())
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The extension the stored file keeps (so the importer can tell the format): the name's, when it is short and
/// alphanumeric, else one from the content type.
fn stored_extension(file_name: &str, content_type: &str) -> Option<String> {
    let from_name = std::path::Path::new(file_name)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_ascii_lowercase);
    from_name.or_else(|| {
        match content_type {
            "application/json" => Some("json"),
            "text/csv" => Some("csv"),
            _ => None,
        }
        .map(str::to_owned)
    })
}

/// A new file name in the uploads directory: never derived from the client's name beyond its extension.
fn stored_name(extension: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "upload-{}-{nanos:x}-{:x}.{extension}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The job as the HTTP routes answer it (the same fields as GraphQL's `ImportJob`).
fn job_json(feed: &Feed, job: &ImportJob) -> serde_json::Value {
    let when = |d: Option<chrono::DateTime<chrono::Utc>>| {
        d.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    let id = job_id(job.id);
    json!({
        "id": id.as_str(),
        "feed": feed.slug,
        "fileName": job.file_name,
        "status": job.status.as_str(),
        "rowsDone": job.rows_done,
        "rowsTotal": job.rows_total,
        "counts": {
            "stored": job.counts.stored(),
            "created": job.counts.created,
            "updated": job.counts.updated,
            "unchanged": job.counts.unchanged,
            "rejected": job.counts.rejected,
            "corrected": job.counts.corrected,
        },
        "error": job.error,
        "createdBy": job.created_by,
        "createdAt": when(Some(job.created_at)),
        "startedAt": when(job.started_at),
        "finishedAt": when(job.finished_at),
        "report": format!("/imports/{}/report.csv", id.as_str()),
    })
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// Streams `body` into `path`, at most `max` bytes. `Ok(None)`: too large (the partial file is removed).
async fn store_body(body: Body, path: &std::path::Path, max: u64) -> std::io::Result<Option<u64>> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut file = tokio::fs::File::create(path).await?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(std::io::Error::other)?;
        size += chunk.len() as u64;
        if size > max {
            drop(file);
            let _ = tokio::fs::remove_file(path).await;
            return Ok(None);
        }
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    file.sync_all().await?;
    Ok(Some(size))
}

/// Runs a job to its end in this process, then removes its file.
fn spawn_job(app: &AppState, actor: Actor, job: jobs::JobId, path: PathBuf) {
    let db = app.db.clone();
    let span = tracing::info_span!("import.job", job.id = %job);
    let task = async move {
        match jobs::run_job(&db, &actor, job).await {
            Ok(done) => tracing::info!(
                status = done.status.as_str(),
                rows = done.rows_done,
                stored = done.counts.stored(),
                rejected = done.counts.rejected,
                "import job ended"
            ),
            Err(e) => tracing::error!(error = %e, "import job could not run"),
        }
        if let Err(e) = tokio::fs::remove_file(&path).await {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove an imported file");
        }
    };
    tokio::spawn(tracing::Instrument::instrument(task, span));
}

/// `POST /feeds/{feed}/imports[?fileName=NAME]` with `X-Maillage-Upload: 1`: the body is the file. Answers 202
/// with `{ job }` and `Location: /imports/{job}`.
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    State(app): State<AppState>,
    Extension(settings): Extension<Arc<ImportUploads>>,
    _: UploadHeader,
    Member(Caller { actor, .. }): Member,
    Path(feed_slug): Path<String>,
    params: Result<Query<UploadParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => {
            return ApiError::new(
                Code::InvalidValue,
                format!("invalid query parameters: {}", e.body_text()),
            )
            .into_response();
        }
    };
    // Who may send to this feed is known before a byte of the file is read.
    if let Err(e) = feeds::get_feed(&app.db, &actor, &feed_slug).await {
        return domain_error(&e);
    }
    let file_name = headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(disposition_file_name)
        .or(params.file_name)
        .unwrap_or_default();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some(extension) = stored_extension(&file_name, &content_type) else {
        return ApiError::new(Code::UnknownFormat, "name the file (Content-Disposition: attachment; filename=\"lieux.csv\", or ?fileName=lieux.csv): its \
             extension tells the format",
        )
        .into_response();
    };
    let file_name = if file_name.trim().is_empty() {
        format!("upload.{extension}")
    } else {
        file_name
    };
    let path = settings.dir.join(stored_name(&extension));
    match store_body(body, &path, settings.max_bytes).await {
        Ok(Some(0)) => {
            let _ = tokio::fs::remove_file(&path).await;
            return ApiError::new(Code::EmptyFile, "the request body is empty: send the file")
                .into_response();
        }
        Ok(Some(_)) => {}
        Ok(None) => {
            return ApiError::new(
                Code::TooLarge,
                format!(
                    "the file is larger than this server accepts ({} bytes at most)",
                    settings.max_bytes
                ),
            )
            .into_response();
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot store an uploaded file");
            let _ = tokio::fs::remove_file(&path).await;
            return ApiError::new(
                Code::InternalError,
                "internal error; the incident is logged",
            )
            .into_response();
        }
    }
    let (feed, job) = match jobs::create_job(&app.db, &actor, &feed_slug, &file_name, &path).await {
        Ok(created) => created,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return domain_error(&e);
        }
    };
    spawn_job(&app, actor, job.id, path);
    let mut response = json_response(
        StatusCode::ACCEPTED,
        &json!({ "job": job_json(&feed, &job) }),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("/imports/{}", job_id(job.id).as_str())) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

async fn visible_job(
    app: &AppState,
    actor: &Actor,
    raw: &str,
) -> Result<(Feed, ImportJob), Response> {
    let id = decode_job_id(raw).map_err(|m| ApiError::new(Code::InvalidId, &m).into_response())?;
    let job = jobs::get_job(&app.db, actor, id)
        .await
        .map_err(|e| domain_error(&e))?;
    let feed = feeds::feeds_by_ids(&app.db, actor, &[job.feed])
        .await
        .map_err(|e| domain_error(&e))?
        .pop()
        .ok_or_else(|| domain_error(&SitesError::UnknownJob(id.0)))?;
    Ok((feed, job))
}

/// `GET /imports/{job}`: the job's status, progress and counts.
pub async fn status(
    State(app): State<AppState>,
    Member(Caller { actor, .. }): Member,
    Path(raw): Path<String>,
) -> Response {
    match visible_job(&app, &actor, &raw).await {
        Ok((feed, job)) => {
            let mut response =
                json_response(StatusCode::OK, &json!({ "job": job_json(&feed, &job) }));
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            response
        }
        Err(r) => r,
    }
}

/// `GET /imports/{job}/report.csv`: every line of the job's report (`location,id,outcome,field,reason,detail`).
pub async fn report(
    State(app): State<AppState>,
    Member(Caller { actor, .. }): Member,
    Path(raw): Path<String>,
) -> Response {
    let id = match decode_job_id(&raw) {
        Ok(id) => id,
        Err(m) => return ApiError::new(Code::InvalidId, &m).into_response(),
    };
    match jobs::job_report_csv(&app.db, &actor, id).await {
        Ok((job, csv)) => {
            let disposition = format!("attachment; filename=\"import-{}-report.csv\"", job.id);
            file_response(csv, "text/csv; charset=utf-8", &disposition)
        }
        Err(e) => domain_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_from_content_disposition() {
        assert_eq!(
            disposition_file_name("attachment; filename=\"lieux.csv\"").as_deref(),
            Some("lieux.csv")
        );
        assert_eq!(
            disposition_file_name(
                "attachment; filename=\"x.csv\"; filename*=UTF-8''lieux%20%C3%A9t%C3%A9.json"
            )
            .as_deref(),
            Some("lieux été.json")
        );
        assert_eq!(disposition_file_name("attachment"), None);
        assert_eq!(disposition_file_name("attachment; filename=\"\""), None);
    }

    #[test]
    fn the_stored_extension_is_short_and_plain() {
        assert_eq!(stored_extension("Lieux.JSON", "").as_deref(), Some("json"));
        assert_eq!(
            stored_extension("lieux", "text/csv").as_deref(),
            Some("csv")
        );
        assert_eq!(stored_extension("../../etc/passwd", ""), None);
        assert_eq!(
            stored_extension("a.c/sv", "application/json").as_deref(),
            Some("json")
        );
        assert!(stored_name("csv").ends_with(".csv"));
        assert!(!stored_name("csv").contains('/'));
    }
}
