//! Exports over HTTP: `GET /exports/…` (routes and parameters in `docs/EXPORTS.md`).
//!
//! **Same rules as the API.** The bearer token is checked as on `/graphql` (anonymous callers allowed where the
//! data is public), the caller's request rate applies, and the domain services decide what the `Actor` may read:
//! e-mails of sites, counsellors' and aidants' names, grants' contacts are written only for those who may read
//! them, exactly as the GraphQL fields return them; lists an actor may not read at all are a 403.
//!
//! **Streamed, in constant memory.** A domain export writes into any `std::io::Write` while it walks the database
//! page by page. Here it writes into a small shared buffer, and the response body *drives* the export: each time
//! the connection wants more bytes, the body takes what the buffer holds, or polls the export future on until it
//! writes the next page. The export therefore never runs ahead of the client (backpressure from the socket, no
//! thread held, no unbounded channel): memory is one page of rows, whatever the size of the file. Errors before the
//! first byte are proper 4xx/5xx answers; an error after it aborts the body, so a client never takes a truncated
//! file for a whole one.
//!
//! **Conditional requests.** Every domain write appends to the audit trail in its own transaction, so the last
//! audit entry versions the whole data set. The `ETag` hashes it with the export, its parameters, what the caller
//! may see (role and territory), the day and the release; `Last-Modified` is its time (at the earliest, today's
//! midnight UTC). `If-None-Match` (or `If-Modified-Since`) that
//! still matches gets `304 Not Modified` without touching the data. The tag is weak (`W/`): the bytes may arrive
//! gzip- or brotli-encoded.

use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use maillage_core::{Actor, Code, DepartmentCode, ErrorCode, RegionCode, Role};
use sea_orm::{ConnectionTrait, Statement};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

/// The export routes, to merge into the application's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/exports/sites.csv", get(sites_csv))
        .route("/exports/sites.geojson", get(sites_geojson))
        .route(
            "/exports/sites/datainclusion/structures.json",
            get(datainclusion_structures),
        )
        .route(
            "/exports/sites/datainclusion/services.json",
            get(datainclusion_services),
        )
        .route("/exports/counsellors.csv", get(counsellors_csv))
        .route(
            "/exports/counsellors-without-site.csv",
            get(counsellors_without_site_csv),
        )
        .route("/exports/structures.csv", get(structures_csv))
        .route("/exports/organisations.csv", get(organisations_csv))
        .route("/exports/aidants.csv", get(aidants_csv))
        .route("/exports/mandates.csv", get(mandates_csv))
        .route("/exports/grants.csv", get(grants_csv))
        .route("/exports/envelopes.csv", get(envelopes_csv))
        .route("/exports/audit-log.csv", get(audit_log_csv))
}

// ---------------------------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------------------------

/// A refusal of an export route (the server's one refusal type: the status follows the code).
pub type Failure = ApiError;

fn bad_request(message: impl Into<String>) -> Failure {
    ApiError::new(Code::InvalidValue, message)
}

/// A domain error as a refusal: the status follows the code; internal errors are logged and masked.
fn domain<E: ErrorCode>(e: E) -> Failure {
    ApiError::domain(&e)
}

// ---------------------------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------------------------

/// Where an export writes: bytes wait here until the response body takes them.
#[derive(Debug, Clone, Default)]
pub struct Pipe(Arc<Mutex<Vec<u8>>>);

impl Pipe {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A running export: its future (the number of rows, or why it failed).
type Running = Pin<Box<dyn Future<Output = Result<u64, Failure>> + Send>>;

/// The body of an export: drains the pipe, and polls the export on only when the pipe is empty.
struct ExportStream {
    pipe: Pipe,
    export: Option<Running>,
}

impl Stream for ExportStream {
    type Item = Result<Bytes, Failure>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let ready = this.pipe.take();
            if !ready.is_empty() {
                return Poll::Ready(Some(Ok(Bytes::from(ready))));
            }
            let Some(export) = this.export.as_mut() else {
                return Poll::Ready(None);
            };
            match export.as_mut().poll(cx) {
                Poll::Pending => {
                    let ready = this.pipe.take();
                    return if ready.is_empty() {
                        Poll::Pending
                    } else {
                        Poll::Ready(Some(Ok(Bytes::from(ready))))
                    };
                }
                Poll::Ready(Ok(rows)) => {
                    tracing::info!(rows, "export written");
                    this.export = None;
                }
                Poll::Ready(Err(e)) => {
                    this.export = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

/// One export to answer: how to name it and how to run it.
struct Export {
    /// File name stem, e.g. `sites`.
    name: &'static str,
    /// File extension, e.g. `csv`.
    extension: &'static str,
    content_type: &'static str,
    /// Starts the export, writing into the pipe.
    run: Box<dyn FnOnce(Pipe) -> Running + Send>,
}

/// The version of the whole data set: the last audit entry (id and time), or none on an empty database.
async fn data_version(app: &AppState) -> Result<Option<(i64, DateTime<Utc>)>, Failure> {
    let db = &app.db;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, occurred_at FROM audit_log ORDER BY id DESC LIMIT 1",
        ))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading the data version failed");
            ApiError::new(
                Code::Unavailable,
                "the database is unavailable; retry later",
            )
        })?;
    let Some(row) = row else { return Ok(None) };
    let id: i32 = row.try_get("", "id").map_err(internal)?;
    let at: DateTime<Utc> = row.try_get("", "occurred_at").map_err(internal)?;
    Ok(Some((i64::from(id), at)))
}

fn internal(e: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %e, "export failed");
    ApiError::new(
        Code::InternalError,
        "internal error; the incident is logged",
    )
}

/// What the caller may see, for the `ETag`: two callers with the same view share a tag, no one else does.
fn view_of(actor: &Actor) -> String {
    match actor.hub_scope() {
        Some(scope) => {
            let mut departments: Vec<&str> = scope.departments.iter().map(|d| d.as_str()).collect();
            departments.sort_unstable();
            format!(
                "{}:{}:{}",
                actor.role().as_str(),
                scope.hub.0,
                departments.join(",")
            )
        }
        None => actor.role().as_str().to_owned(),
    }
}

fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Whether the client's copy is still current: `If-None-Match` first (weak comparison), else `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, etag: &str, last_modified: Option<DateTime<Utc>>) -> bool {
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        let ours = strip(etag);
        return inm.split(',').any(|t| t.trim() == "*" || strip(t) == ours);
    }
    match (
        headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok()),
        last_modified,
    ) {
        (Some(since), Some(at)) => at.timestamp() <= since.timestamp(),
        _ => false,
    }
}

/// Answers an export: 304 when the client's copy is current, else the streamed file with its validators.
async fn respond(
    app: &AppState,
    actor: &Actor,
    headers: &HeaderMap,
    parameters: &str,
    export: Export,
) -> Response {
    let version = match data_version(app).await {
        Ok(v) => v,
        Err(f) => return f.into_response(),
    };
    // Some lists depend on the day as well as on the data ("still under contract"), and seeded reference data on
    // the release: both are part of the tag, and the day bounds `Last-Modified` from below.
    let today = Utc::now().date_naive();
    let midnight = today.and_time(chrono::NaiveTime::MIN).and_utc();
    let mut hash = Sha256::new();
    for part in [
        export.name,
        export.extension,
        parameters,
        &view_of(actor),
        &version.map(|(id, _)| id.to_string()).unwrap_or_default(),
        &today.to_string(),
        env!("CARGO_PKG_VERSION"),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    let etag = format!("W/\"{hex}\"");
    let last_modified = version.map(|(_, at)| at.max(midnight));
    let mut validators = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        validators.insert(header::ETAG, v);
    }
    if let Some(v) = last_modified.and_then(|at| HeaderValue::from_str(&http_date(at)).ok()) {
        validators.insert(header::LAST_MODIFIED, v);
    }
    // Answers depend on the token: no shared cache may keep them, and every reuse is revalidated.
    validators.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    validators.insert(
        header::VARY,
        HeaderValue::from_static("Authorization, Accept-Encoding"),
    );
    if not_modified(headers, &etag, last_modified) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().extend(validators);
        return response;
    }

    let pipe = Pipe::default();
    let mut stream = ExportStream {
        pipe: pipe.clone(),
        export: Some((export.run)(pipe)),
    };
    // The first bytes decide the status: an export refused before writing anything (forbidden, unknown hub) is a
    // proper error answer, not a 200 with a broken body.
    let first = match stream.next().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(f)) => return f.into_response(),
        None => Bytes::new(),
    };
    let body = futures::stream::once(async move { Ok::<_, Failure>(first) })
        .chain(stream)
        .map(|chunk| {
            chunk.map_err(|e| {
                tracing::error!(error = %e, "export failed after its first bytes; the body is cut");
                std::io::Error::other(e.to_string())
            })
        });
    let mut response = Response::new(Body::from_stream(body));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(export.content_type),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let file = format!(
        "maillage-{}-{}.{}",
        export.name,
        Utc::now().format("%Y-%m-%d"),
        export.extension
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.extend(validators);
    response
}

const CSV: &str = "text/csv; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";
const GEOJSON: &str = "application/geo+json";

/// Parameters as received, in a canonical form for the `ETag`.
fn canonical<T: std::fmt::Debug>(params: &T) -> String {
    format!("{params:?}")
}

fn query<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, Failure> {
    params
        .map(|Query(p)| p)
        .map_err(|e| bad_request(format!("query parameters: {}", e.body_text())))
}

/// A comma-separated list of codes.
fn codes<T, E: std::fmt::Display>(
    raw: Option<&str>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<Vec<T>>, Failure> {
    raw.map(|raw| {
        raw.split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| parse(v).map_err(|e| bad_request(format!("{name}: {e}"))))
            .collect()
    })
    .transpose()
}

/// A `|`-separated list of labels (the national standard's separator: labels may contain commas).
fn labels(raw: Option<&str>) -> Vec<String> {
    raw.map(|raw| {
        raw.split('|')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn department(raw: Option<&str>) -> Result<Option<DepartmentCode>, Failure> {
    raw.map(|d| DepartmentCode::parse(d).map_err(|e| bad_request(format!("department: {e}"))))
        .transpose()
}

/// Runs `handler` on the authenticated caller; any refusal becomes its answer.
async fn answer<F, Fut>(app: AppState, caller: Caller, headers: HeaderMap, handler: F) -> Response
where
    F: FnOnce(AppState, Actor, HeaderMap) -> Fut,
    Fut: Future<Output = Result<Response, Failure>>,
{
    match handler(app, caller.actor, headers).await {
        Ok(r) => r,
        Err(f) => f.into_response(),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Sites
// ---------------------------------------------------------------------------------------------------------------

/// The filters of `sites` in the API.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteParams {
    /// Department codes, comma-separated.
    departments: Option<String>,
    /// Hub slug.
    hub: Option<String>,
    /// Region code.
    region: Option<String>,
    /// Service labels, `|`-separated (all must match).
    services: Option<String>,
    /// Public labels, `|`-separated.
    publics: Option<String>,
    /// Programme or label names, `|`-separated.
    labels: Option<String>,
    /// Free text.
    text: Option<String>,
    /// Source slug.
    source: Option<String>,
}

impl SiteParams {
    fn filter(&self) -> Result<maillage_sites::SiteFilter, Failure> {
        Ok(maillage_sites::SiteFilter {
            departments: codes(
                self.departments.as_deref(),
                "departments",
                DepartmentCode::parse,
            )?,
            hub: self.hub.clone(),
            region: self
                .region
                .as_deref()
                .map(|r| RegionCode::parse(r).map_err(|e| bad_request(format!("region: {e}"))))
                .transpose()?,
            services: labels(self.services.as_deref()),
            publics: labels(self.publics.as_deref()),
            labels: labels(self.labels.as_deref()),
            text: self.text.clone(),
            source: self.source.clone(),
            ..maillage_sites::SiteFilter::default()
        })
    }
}

/// Which rendering of the sites.
#[derive(Debug, Clone, Copy)]
enum SiteFormat {
    StandardV1,
    GeoJson,
    DataInclusion(maillage_sites::datainclusion::Collection),
}

async fn sites(
    app: AppState,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<SiteParams>, QueryRejection>,
    format: SiteFormat,
) -> Response {
    answer(app, caller, headers, |app, actor, headers| async move {
        let params = query(params)?;
        let filter = params.filter()?;
        filter.validate().map_err(domain)?;
        let (name, extension, content_type) = match format {
            SiteFormat::StandardV1 => ("sites", "csv", CSV),
            SiteFormat::GeoJson => ("sites", "geojson", GEOJSON),
            SiteFormat::DataInclusion(maillage_sites::datainclusion::Collection::Structures) => {
                ("datainclusion-structures", "json", JSON)
            }
            SiteFormat::DataInclusion(maillage_sites::datainclusion::Collection::Services) => {
                ("datainclusion-services", "json", JSON)
            }
        };
        let db = app.db.clone();
        let who = actor.clone();
        let run = Box::new(move |pipe: Pipe| -> Running {
            Box::pin(async move {
                match format {
                    // E-mails whenever the caller may read them, as the API's `emails` field.
                    SiteFormat::StandardV1 => {
                        maillage_sites::export::write_v1(&db, &who, &filter, true, pipe).await
                    }
                    SiteFormat::GeoJson => {
                        maillage_sites::geojson::write_geojson(&db, &who, &filter, pipe).await
                    }
                    SiteFormat::DataInclusion(c) => {
                        maillage_sites::datainclusion::write_datainclusion(
                            &db, &who, &filter, c, pipe,
                        )
                        .await
                    }
                }
                .map_err(domain)
            })
        });
        Ok(respond(
            &app,
            &actor,
            &headers,
            &canonical(&params),
            Export {
                name,
                extension,
                content_type,
                run,
            },
        )
        .await)
    })
    .await
}

/// `GET /exports/sites.csv`: the national standard v1.0.2.
async fn sites_csv(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<SiteParams>, QueryRejection>,
) -> Response {
    sites(app, caller, headers, params, SiteFormat::StandardV1).await
}

/// `GET /exports/sites.geojson`.
async fn sites_geojson(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<SiteParams>, QueryRejection>,
) -> Response {
    sites(app, caller, headers, params, SiteFormat::GeoJson).await
}

/// `GET /exports/sites/datainclusion/structures.json`.
async fn datainclusion_structures(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<SiteParams>, QueryRejection>,
) -> Response {
    use maillage_sites::datainclusion::Collection;
    let format = SiteFormat::DataInclusion(Collection::Structures);
    sites(app, caller, headers, params, format).await
}

/// `GET /exports/sites/datainclusion/services.json`.
async fn datainclusion_services(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<SiteParams>, QueryRejection>,
) -> Response {
    use maillage_sites::datainclusion::Collection;
    let format = SiteFormat::DataInclusion(Collection::Services);
    sites(app, caller, headers, params, format).await
}

// ---------------------------------------------------------------------------------------------------------------
// Counsellors and structures
// ---------------------------------------------------------------------------------------------------------------

/// A hub's territory, or one department of it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HubParams {
    /// Department code.
    department: Option<String>,
    /// Hub slug.
    hub: Option<String>,
}

impl HubParams {
    fn scope(&self) -> Result<maillage_counsellors::export::ExportScope, Failure> {
        Ok(maillage_counsellors::export::ExportScope {
            hub: self.hub.clone(),
            department: department(self.department.as_deref())?,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum CounsellorsFile {
    Territory,
    WithoutSite,
    Structures,
}

async fn counsellors(
    app: AppState,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<HubParams>, QueryRejection>,
    file: CounsellorsFile,
) -> Response {
    use maillage_counsellors::export::{CounsellorList, export_counsellors, export_structures};
    answer(app, caller, headers, |app, actor, headers| async move {
        let params = query(params)?;
        let scope = params.scope()?;
        let db = app.db.clone();
        let who = actor.clone();
        let name = match file {
            CounsellorsFile::Territory => "counsellors",
            CounsellorsFile::WithoutSite => "counsellors-without-site",
            CounsellorsFile::Structures => "structures",
        };
        let run = Box::new(move |pipe: Pipe| -> Running {
            Box::pin(async move {
                match file {
                    CounsellorsFile::Territory => {
                        export_counsellors(&db, &who, CounsellorList::Territory, &scope, pipe).await
                    }
                    CounsellorsFile::WithoutSite => {
                        export_counsellors(&db, &who, CounsellorList::WithoutSite, &scope, pipe)
                            .await
                    }
                    CounsellorsFile::Structures => export_structures(&db, &who, &scope, pipe).await,
                }
                .map_err(domain)
            })
        });
        let export = Export {
            name,
            extension: "csv",
            content_type: CSV,
            run,
        };
        Ok(respond(&app, &actor, &headers, &canonical(&params), export).await)
    })
    .await
}

/// `GET /exports/counsellors.csv` (admins, hub coordinators, BdT reviewers).
async fn counsellors_csv(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<HubParams>, QueryRejection>,
) -> Response {
    counsellors(app, caller, headers, params, CounsellorsFile::Territory).await
}

/// `GET /exports/counsellors-without-site.csv`.
async fn counsellors_without_site_csv(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<HubParams>, QueryRejection>,
) -> Response {
    counsellors(app, caller, headers, params, CounsellorsFile::WithoutSite).await
}

/// `GET /exports/structures.csv`: host structures and their posts.
async fn structures_csv(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<HubParams>, QueryRejection>,
) -> Response {
    counsellors(app, caller, headers, params, CounsellorsFile::Structures).await
}

// ---------------------------------------------------------------------------------------------------------------
// Aidants Connect
// ---------------------------------------------------------------------------------------------------------------

/// One territory: a department, a hub or a region (at most one).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TerritoryParams {
    /// Department code.
    department: Option<String>,
    /// Hub slug.
    hub: Option<String>,
    /// Region code.
    region: Option<String>,
}

impl TerritoryParams {
    fn territory(&self) -> Result<maillage_aidants::Territory, Failure> {
        use maillage_aidants::Territory;
        match (&self.department, &self.hub, &self.region) {
            (None, None, None) => Ok(Territory::National),
            (Some(d), None, None) => Ok(Territory::Department(
                department(Some(d))?.ok_or_else(|| bad_request("department"))?,
            )),
            (None, Some(h), None) => Ok(Territory::Hub(h.clone())),
            (None, None, Some(r)) => Ok(Territory::Region(
                RegionCode::parse(r).map_err(|e| bad_request(format!("region: {e}")))?,
            )),
            _ => Err(bad_request(
                "give at most one of department, hub and region",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum AidantsFile {
    Organisations,
    Aidants,
    Mandates,
}

async fn aidants(
    app: AppState,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<TerritoryParams>, QueryRejection>,
    file: AidantsFile,
) -> Response {
    use maillage_aidants::export::{export_aidants, export_mandates, export_organisations};
    answer(app, caller, headers, |app, actor, headers| async move {
        let params = query(params)?;
        let territory = params.territory()?;
        let db = app.db.clone();
        let who = actor.clone();
        let name = match file {
            AidantsFile::Organisations => "organisations",
            AidantsFile::Aidants => "aidants",
            AidantsFile::Mandates => "mandates",
        };
        let run = Box::new(move |pipe: Pipe| -> Running {
            Box::pin(async move {
                match file {
                    AidantsFile::Organisations => export_organisations(&db, &territory, pipe).await,
                    AidantsFile::Aidants => export_aidants(&db, &who, &territory, pipe).await,
                    AidantsFile::Mandates => export_mandates(&db, &territory, pipe).await,
                }
                .map_err(domain)
            })
        });
        let export = Export {
            name,
            extension: "csv",
            content_type: CSV,
            run,
        };
        Ok(respond(&app, &actor, &headers, &canonical(&params), export).await)
    })
    .await
}

/// `GET /exports/organisations.csv`.
async fn organisations_csv(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<TerritoryParams>, QueryRejection>,
) -> Response {
    aidants(app, caller, headers, params, AidantsFile::Organisations).await
}

/// `GET /exports/aidants.csv` (personal columns only for rows the caller may read).
async fn aidants_csv(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<TerritoryParams>, QueryRejection>,
) -> Response {
    aidants(app, caller, headers, params, AidantsFile::Aidants).await
}

/// `GET /exports/mandates.csv`.
async fn mandates_csv(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<TerritoryParams>, QueryRejection>,
) -> Response {
    aidants(app, caller, headers, params, AidantsFile::Mandates).await
}

// ---------------------------------------------------------------------------------------------------------------
// Funding
// ---------------------------------------------------------------------------------------------------------------

/// Euros with two decimals and a dot (`-1250.00`): a number for every spreadsheet.
fn euros(m: maillage_funding::Money) -> String {
    let sign = if m.cents() < 0 { "-" } else { "" };
    let abs = m.cents().unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Grants filters, as `grants(filter:)`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantParams {
    /// Department code.
    department: Option<String>,
    /// Hub slug.
    hub: Option<String>,
    /// Statuses, comma-separated.
    status: Option<String>,
}

const GRANT_COLUMNS: [&str; 17] = [
    "id",
    "enveloppe",
    "type_beneficiaire",
    "ref_beneficiaire",
    "beneficiaire",
    "contact",
    "hub",
    "departement",
    "region",
    "montant",
    "postes",
    "debut",
    "fin",
    "statut",
    "signee_le",
    "decaisse",
    "version",
];

/// Writes the grants matching `filter`, a page at a time; contacts only where `actor` may read them.
async fn write_grants<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    filter: &maillage_funding::GrantFilter,
    out: Pipe,
) -> Result<u64, Failure> {
    use maillage_core::pagination::{MAX_PAGE_SIZE, PageRequest};
    let envelopes: std::collections::HashMap<i32, String> = maillage_funding::list_envelopes(db)
        .await
        .map_err(domain)?
        .into_iter()
        .map(|e| (e.id, e.code))
        .collect();
    let hubs: std::collections::HashMap<i32, String> = maillage_territories::list_hubs(db)
        .await
        .map_err(domain)?
        .into_iter()
        .map(|h| (h.id.0, h.slug))
        .collect();
    let mut w = maillage_core::csv::Writer::from_writer(out);
    w.write_record(GRANT_COLUMNS).map_err(internal)?;
    let mut page = PageRequest {
        first: MAX_PAGE_SIZE,
        after: None,
        with_total: false,
        backward: false,
    };
    let mut count = 0;
    loop {
        let grants = maillage_funding::list_grants(db, filter, &page)
            .await
            .map_err(domain)?;
        let paid = maillage_funding::disbursed_by_grant(db, grants.items.iter().map(|(_, g)| g.id))
            .await
            .map_err(domain)?;
        for (_, g) in &grants.items {
            let contact = if actor.can_read_personal_data(g.department.as_ref()) {
                g.contact.clone().unwrap_or_default()
            } else {
                String::new()
            };
            w.write_record([
                g.id.to_string(),
                envelopes.get(&g.envelope_id).cloned().unwrap_or_default(),
                g.beneficiary_kind.as_str().to_owned(),
                g.beneficiary_ref.clone(),
                g.beneficiary_name.clone(),
                contact,
                g.hub
                    .and_then(|h| hubs.get(&h.0).cloned())
                    .unwrap_or_default(),
                g.department
                    .as_ref()
                    .map(|d| d.as_str().to_owned())
                    .unwrap_or_default(),
                g.region
                    .as_ref()
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_default(),
                euros(g.amount),
                g.posts.to_string(),
                g.starts_on.to_string(),
                g.ends_on.map(|d| d.to_string()).unwrap_or_default(),
                g.status.as_str().to_owned(),
                g.signed_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                euros(
                    paid.get(&g.id)
                        .copied()
                        .unwrap_or(maillage_funding::Money::ZERO),
                ),
                g.version.to_string(),
            ])
            .map_err(internal)?;
            count += 1;
        }
        w.flush().map_err(internal)?;
        match grants.items.last() {
            Some((cursor, _)) if grants.has_next_page => page.after = Some(cursor.clone()),
            _ => return Ok(count),
        }
    }
}

/// `GET /exports/grants.csv`.
async fn grants_csv(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<GrantParams>, QueryRejection>,
) -> Response {
    answer(app, caller, headers, |app, actor, headers| async move {
        let params = query(params)?;
        let hub = match &params.hub {
            Some(slug) => Some(
                maillage_territories::hub_by_slug(&app.db, slug)
                    .await
                    .map_err(domain)?
                    .ok_or_else(|| bad_request(format!("hub: no hub {slug:?}")))?
                    .id,
            ),
            None => None,
        };
        let filter = maillage_funding::GrantFilter {
            envelopes: None,
            statuses: codes(params.status.as_deref(), "status", |s| {
                maillage_funding::GrantStatus::parse(s)
                    .ok_or_else(|| format!("unknown status {s:?}"))
            })?,
            department: department(params.department.as_deref())?,
            hub,
        };
        let db = app.db.clone();
        let who = actor.clone();
        let run = Box::new(move |pipe: Pipe| -> Running {
            Box::pin(async move { write_grants(&db, &who, &filter, pipe).await })
        });
        let export = Export {
            name: "grants",
            extension: "csv",
            content_type: CSV,
            run,
        };
        Ok(respond(&app, &actor, &headers, &canonical(&params), export).await)
    })
    .await
}

/// No parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

const ENVELOPE_COLUMNS: [&str; 9] = [
    "code",
    "nom",
    "parent",
    "source",
    "montant",
    "engage",
    "decaisse",
    "disponible",
    "version",
];

async fn write_envelopes<C: ConnectionTrait>(db: &C, out: Pipe) -> Result<u64, Failure> {
    let all = maillage_funding::list_envelopes(db).await.map_err(domain)?;
    let consumption = maillage_funding::consumption_of_all(db)
        .await
        .map_err(domain)?;
    let codes: std::collections::HashMap<i32, &str> =
        all.iter().map(|e| (e.id, e.code.as_str())).collect();
    let mut w = maillage_core::csv::Writer::from_writer(out);
    w.write_record(ENVELOPE_COLUMNS).map_err(internal)?;
    for e in &all {
        let c = consumption.get(&e.id);
        let money = |f: fn(&maillage_funding::Consumption) -> maillage_funding::Money| {
            c.map(|c| euros(f(c))).unwrap_or_default()
        };
        w.write_record([
            e.code.clone(),
            e.name.clone(),
            e.parent_id
                .and_then(|p| codes.get(&p))
                .map(|c| (*c).to_owned())
                .unwrap_or_default(),
            e.source.clone().unwrap_or_default(),
            euros(e.amount),
            money(|c| c.committed),
            money(|c| c.disbursed),
            money(maillage_funding::Consumption::remaining),
            e.version.to_string(),
        ])
        .map_err(internal)?;
    }
    w.flush().map_err(internal)?;
    Ok(all.len() as u64)
}

/// `GET /exports/envelopes.csv`: every envelope with its consumption (children included).
async fn envelopes_csv(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<NoParams>, QueryRejection>,
) -> Response {
    answer(app, caller, headers, |app, actor, headers| async move {
        let params = query(params)?;
        let db = app.db.clone();
        let run = Box::new(move |pipe: Pipe| -> Running {
            Box::pin(async move { write_envelopes(&db, pipe).await })
        });
        let export = Export {
            name: "envelopes",
            extension: "csv",
            content_type: CSV,
            run,
        };
        Ok(respond(&app, &actor, &headers, &canonical(&params), export).await)
    })
    .await
}

// ---------------------------------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------------------------------

/// Audit filters, as `auditLog(filter:)`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct AuditParams {
    entity_type: Option<String>,
    entity_id: Option<String>,
    action: Option<String>,
    actor: Option<String>,
}

const AUDIT_COLUMNS: [&str; 11] = [
    "id",
    "occurred_at",
    "actor",
    "actor_role",
    "request_id",
    "entity_type",
    "entity_id",
    "action",
    "department",
    "hub_id",
    "changes",
];

async fn write_audit<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    filter: &maillage_access::AuditFilter,
    out: Pipe,
) -> Result<u64, Failure> {
    use maillage_core::pagination::{MAX_PAGE_SIZE, PageRequest};
    // Refused before the header is written: a caller who may not read the log gets a 403, not an empty file.
    if !matches!(actor.role(), Role::Admin | Role::HubCoordinator) {
        return Err(domain(maillage_access::AccessError::Forbidden(
            "the audit log is readable by admins and hub coordinators only".to_owned(),
        )));
    }
    let mut w = maillage_core::csv::Writer::from_writer(out);
    w.write_record(AUDIT_COLUMNS).map_err(internal)?;
    let mut page = PageRequest {
        first: MAX_PAGE_SIZE,
        after: None,
        with_total: false,
        backward: false,
    };
    let mut count = 0;
    loop {
        let entries = maillage_access::list_audit(db, actor, filter, &page)
            .await
            .map_err(domain)?;
        for (_, e) in &entries.items {
            w.write_record([
                e.id.to_string(),
                e.occurred_at.to_rfc3339(),
                e.actor_label.clone(),
                e.actor_role.clone(),
                e.request_id.clone().unwrap_or_default(),
                e.entity_type.clone(),
                e.entity_id.clone(),
                e.action.clone(),
                e.department_code.clone().unwrap_or_default(),
                e.hub.map(|h| h.0.to_string()).unwrap_or_default(),
                e.changes.to_string(),
            ])
            .map_err(internal)?;
            count += 1;
        }
        w.flush().map_err(internal)?;
        match entries.items.last() {
            Some((cursor, _)) if entries.has_next_page => page.after = Some(cursor.clone()),
            _ => return Ok(count),
        }
    }
}

/// `GET /exports/audit-log.csv` (admins; hub coordinators for their territory), newest first.
async fn audit_log_csv(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Response {
    answer(app, caller, headers, |app, actor, headers| async move {
        let params = query(params)?;
        let filter = maillage_access::AuditFilter {
            entity_type: params.entity_type.clone(),
            entity_id: params.entity_id.clone(),
            action: params.action.clone(),
            actor: params.actor.clone(),
        };
        let db = app.db.clone();
        let who = actor.clone();
        let run = Box::new(move |pipe: Pipe| -> Running {
            Box::pin(async move { write_audit(&db, &who, &filter, pipe).await })
        });
        let export = Export {
            name: "audit-log",
            extension: "csv",
            content_type: CSV,
            run,
        };
        Ok(respond(&app, &actor, &headers, &canonical(&params), export).await)
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn conditional_requests_compare_weakly_and_by_date() {
        let at = DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, "W/\"abc\"", Some(at)));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abc\""));
        assert!(not_modified(&h, "W/\"abc\"", Some(at)));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("W/\"x\", W/\"abc\""),
        );
        assert!(not_modified(&h, "W/\"abc\"", Some(at)));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("W/\"x\""));
        // A tag that does not match wins over a date that would.
        h.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&http_date(at)).unwrap(),
        );
        assert!(!not_modified(&h, "W/\"abc\"", Some(at)));
        h.remove(header::IF_NONE_MATCH);
        assert!(not_modified(&h, "W/\"abc\"", Some(at)));
        assert!(!not_modified(
            &h,
            "W/\"abc\"",
            Some(at + chrono::Duration::seconds(1))
        ));
    }

    #[tokio::test]
    async fn the_body_drives_the_export_and_drains_the_pipe() {
        let pipe = Pipe::default();
        let mut writer = pipe.clone();
        let run: Running = Box::pin(async move {
            for i in 0..3 {
                writeln!(writer, "row {i}").unwrap();
                tokio::task::yield_now().await;
            }
            Ok(3)
        });
        let stream = ExportStream {
            pipe,
            export: Some(run),
        };
        let chunks: Vec<Bytes> = stream.map(|c| c.unwrap()).collect().await;
        // One chunk per page written between two awaits: the export never ran ahead of the body.
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.concat(), b"row 0\nrow 1\nrow 2\n");
    }
}
