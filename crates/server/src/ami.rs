//! The AMI's HTTP routes beside GraphQL: attachments (PDF upload, download, deletion) and CSV exports.
//!
//! Files do not go through GraphQL: a PDF is sent as the raw request body, which `curl --data-binary` produces and
//! no JSON encoding inflates. The same bearer tokens as `/graphql` authenticate (`crate::auth`), and every decision
//! (who may attach, read or export; PDF check; size limit) is the `maillage-ami` crate's: these handlers only
//! translate HTTP to its services and its errors to status codes.
//!
//! Against cross-site request forgery, an upload must carry the header `X-Maillage-Upload: 1`. A browser cannot add
//! such a header to a cross-site form post without a CORS preflight, which this server never grants; a request
//! without it is refused with 400 `upload_header_missing` before anything is read.

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
use maillage_ami as ami;
use maillage_ami::{
    ApplicationFilter, ApplicationId, Attachment, AttachmentId, LocalDiskStorage, NewAttachment,
    Status, Storage,
};
use maillage_core::{Code, DepartmentCode, RegionCode};
use maillage_graphql::kit::id::{NodeKind, encode, encode_child, parse_int};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::extract::UPLOAD_HEADER;

/// Where attachments are stored: an `Arc<dyn Storage>` shared by every request (local disk under
/// `MAILLAGE_ATTACHMENTS_DIR` unless an embedding application builds another).
#[derive(Clone)]
pub struct AttachmentStore(pub Arc<dyn Storage>);

impl AttachmentStore {
    /// Local-disk storage under `dir`.
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        Self(Arc::new(LocalDiskStorage::new(dir)))
    }
}

/// The AMI routes, to merge into the application's router, with the store their attachments go to.
pub fn routes(store: AttachmentStore) -> Router<AppState> {
    Router::new()
        .route("/ami/applications/{id}/attachments", post(upload))
        .route("/ami/attachments/{id}", get(download).delete(remove))
        .route("/ami/export/{file}", get(export))
        .layer(Extension(store))
}

fn decode(raw: &str, kind: NodeKind) -> Result<i32, ApiError> {
    parse_int(raw, kind).map_err(|e| ApiError::new(Code::InvalidId, e.to_string()))
}

/// Query parameters of an upload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadParams {
    /// The file's name as the applicant knows it (e.g. `budget.pdf`; default `document.pdf`).
    file_name: Option<String>,
}

/// An attachment's metadata, as the upload route answers it (the same fields as GraphQL's `AmiAttachment`).
fn attachment_json(a: &Attachment) -> serde_json::Value {
    json!({
        "id": encode_child(NodeKind::AmiAttachment, a.application_id.0, a.id.0).to_string(),
        "applicationId": encode(NodeKind::AmiApplication, a.application_id.0).to_string(),
        "fileName": a.file_name,
        "contentType": a.content_type,
        "sizeBytes": a.size_bytes,
        "sha256": a.sha256,
        "uploadedAt": a.uploaded_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

/// `POST /ami/applications/{id}/attachments?fileName=NAME`: the body is the PDF itself (`Content-Type:
/// application/pdf`), at most the campaign's limit. Answers 201 with the attachment's metadata.
#[allow(
    clippy::too_many_arguments,
    reason = "axum extractors: the gate, the route's parameters and the body"
)]
pub async fn upload(
    State(app): State<AppState>,
    Extension(store): Extension<AttachmentStore>,
    _: UploadHeader,
    Member(Caller { actor, .. }): Member,
    Path(id): Path<String>,
    params: Result<Query<UploadParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return ApiError::bad_query(&e).into_response(),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if content_type != "application/pdf" && content_type != "application/octet-stream" {
        return ApiError::new(
            Code::UnsupportedMediaType,
            "send the file itself as the body, with Content-Type: application/pdf",
        )
        .into_response();
    }
    let id = match decode(&id, NodeKind::AmiApplication) {
        Ok(id) => ApplicationId(id),
        Err(r) => return r.into_response(),
    };
    // The limit is the campaign's: read the dossier first (which also tells a stranger nothing but `not_found`).
    let limit = match ami::get_application(&app.db, &actor, id).await {
        Ok(a) => match ami::get_campaign(&app.db, a.campaign_id).await {
            Ok(Some(c)) => c.max_attachment_bytes,
            Ok(None) => ami::DEFAULT_MAX_ATTACHMENT_BYTES,
            Err(e) => return ApiError::domain(&e).into_response(),
        },
        Err(e) => return ApiError::domain(&e).into_response(),
    };
    // One byte more than the limit is read, so that a file just too large is refused by the domain's own check,
    // and anything larger is cut off here without being held in memory.
    let cap = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let bytes = match axum::body::to_bytes(body, cap).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                Code::TooLarge,
                format!("the file is larger than this campaign accepts ({limit} bytes at most)"),
            )
            .into_response();
        }
    };
    let file_name = params
        .file_name
        .unwrap_or_else(|| "document.pdf".to_owned());
    let upload = NewAttachment {
        file_name: &file_name,
        bytes: &bytes,
    };
    match ami::add_attachment(&app.db, store.0.as_ref(), &actor, id, upload).await {
        Ok(a) => {
            let location = format!(
                "/ami/attachments/{}",
                encode_child(NodeKind::AmiAttachment, a.application_id.0, a.id.0).as_str()
            );
            let mut response = (
                StatusCode::CREATED,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                )],
                json!({ "attachment": attachment_json(&a) }).to_string(),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            response
        }
        Err(e) => ApiError::domain(&e).into_response(),
    }
}

/// `GET /ami/attachments/{id}`: the PDF, for whoever sees its dossier (its applicant, reviewers, admins).
pub async fn download(
    State(app): State<AppState>,
    Extension(store): Extension<AttachmentStore>,
    Member(Caller { actor, .. }): Member,
    Path(id): Path<String>,
) -> Response {
    let id = match decode(&id, NodeKind::AmiAttachment) {
        Ok(id) => AttachmentId(id),
        Err(r) => return r.into_response(),
    };
    match ami::read_attachment(&app.db, store.0.as_ref(), &actor, id).await {
        Ok((a, bytes)) => {
            let disposition = format!(
                "attachment; filename=\"{}\"; filename*=UTF-8''{}",
                header_safe(&a.file_name),
                rfc5987(&a.file_name)
            );
            file_response(bytes, "application/pdf", &disposition)
        }
        Err(e) => ApiError::domain(&e).into_response(),
    }
}

/// `DELETE /ami/attachments/{id}` (with `X-Maillage-Upload: 1`): the applicant removes an attachment while its
/// dossier is editable. Answers 204.
pub async fn remove(
    State(app): State<AppState>,
    Extension(store): Extension<AttachmentStore>,
    _: UploadHeader,
    Member(Caller { actor, .. }): Member,
    Path(id): Path<String>,
) -> Response {
    let id = match decode(&id, NodeKind::AmiAttachment) {
        Ok(id) => AttachmentId(id),
        Err(r) => return r.into_response(),
    };
    match ami::remove_attachment(&app.db, store.0.as_ref(), &actor, id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::domain(&e).into_response(),
    }
}

/// A file name for a `Content-Disposition` header: printable ASCII without quotes or backslashes (the rest
/// becomes `_`).
fn header_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A value for `filename*=UTF-8''…` (RFC 5987): UTF-8 bytes percent-encoded outside the attribute characters.
fn rfc5987(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Query parameters of an export: the same filter as GraphQL's `amiApplications`.
#[derive(Debug, Default, Deserialize)]
pub struct ExportParams {
    /// Campaign code.
    campaign: Option<String>,
    /// Statuses, comma-separated (`under_review,selected`).
    status: Option<String>,
    /// Department codes, comma-separated.
    department: Option<String>,
    /// Region codes, comma-separated.
    region: Option<String>,
    /// `true` or `false`.
    qpv: Option<bool>,
    /// `true` or `false`.
    acv: Option<bool>,
}

fn list<T, E: std::fmt::Display>(
    raw: Option<&str>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<Vec<T>>, ApiError> {
    raw.map(|raw| {
        raw.split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| {
                parse(v).map_err(|e| ApiError::new(Code::InvalidValue, format!("{name}: {e}")))
            })
            .collect()
    })
    .transpose()
}

/// The domain filter of an export's query parameters.
pub async fn export_filter(
    app: &AppState,
    params: &ExportParams,
) -> Result<ApplicationFilter, ApiError> {
    let campaign = match params.campaign.as_deref() {
        Some(code) => match ami::campaign_by_code(&app.db, code).await {
            Ok(Some(c)) => Some(c.id),
            Ok(None) => {
                return Err(ApiError::new(
                    Code::UnknownValue,
                    format!("no campaign with code {code:?}"),
                ));
            }
            Err(e) => return Err(ApiError::domain(&e)),
        },
        None => None,
    };
    Ok(ApplicationFilter {
        campaign,
        statuses: list(params.status.as_deref(), "status", |s| {
            Status::parse(s).ok_or_else(|| format!("unknown status {s:?}"))
        })?,
        departments: list(
            params.department.as_deref(),
            "department",
            DepartmentCode::parse,
        )?,
        regions: list(params.region.as_deref(), "region", RegionCode::parse)?,
        qpv: params.qpv,
        acv: params.acv,
    })
}

/// `GET /ami/export/applications.csv` and `GET /ami/export/scores.csv` (reviewers, admins): the dossiers with their
/// score summaries, or every score of every sheet, as CSV; query parameters filter like `amiApplications`.
pub async fn export(
    State(app): State<AppState>,
    Member(Caller { actor, .. }): Member,
    Path(file): Path<String>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Response {
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return ApiError::bad_query(&e).into_response(),
    };
    let filter = match export_filter(&app, &params).await {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let csv = match file.as_str() {
        "applications.csv" => ami::export_applications_csv(&app.db, &actor, &filter).await,
        "scores.csv" => ami::export_scores_csv(&app.db, &actor, &filter).await,
        _ => {
            return ApiError::new(
                Code::NotFound,
                "exports: /ami/export/applications.csv, /ami/export/scores.csv",
            )
            .into_response();
        }
    };
    match csv {
        Ok(csv) => {
            let disposition = format!("attachment; filename=\"ami-{file}\"");
            file_response(csv, "text/csv; charset=utf-8", &disposition)
        }
        Err(e) => ApiError::domain(&e).into_response(),
    }
}

/// A file to save rather than display: never cached by shared caches (dossiers and scores are not public), never
/// sniffed into another type.
pub(crate) fn file_response(
    body: impl Into<Body>,
    content_type: &'static str,
    disposition: &str,
) -> Response {
    let mut response = (StatusCode::OK, body.into()).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn file_names_in_headers() {
        assert_eq!(header_safe("Budget \"2021\"\\é.pdf"), "Budget _2021___.pdf");
        assert_eq!(
            rfc5987("Programme d'actions é.pdf"),
            "Programme%20d%27actions%20%C3%A9.pdf"
        );
    }

    #[tokio::test]
    async fn the_upload_header_is_required_and_not_empty() {
        use axum::extract::FromRequestParts;
        async fn check(value: Option<&'static str>) -> Option<Code> {
            let mut request = axum::http::Request::builder();
            if let Some(v) = value {
                request = request.header(UPLOAD_HEADER, v);
            }
            let (mut parts, ()) = request.body(()).unwrap().into_parts();
            UploadHeader::from_request_parts(&mut parts, &())
                .await
                .err()
                .map(|e| e.code)
        }
        assert_eq!(check(None).await, Some(Code::UploadHeaderMissing));
        assert_eq!(check(Some(" ")).await, Some(Code::UploadHeaderMissing));
        assert_eq!(check(Some("1")).await, None);
    }
}
