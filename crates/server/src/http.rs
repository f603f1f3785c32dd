//! The GraphQL endpoint over HTTP, and GraphiQL.
//!
//! Our own handler rather than async-graphql-axum's: content negotiation and status codes follow the
//! GraphQL-over-HTTP spec (`application/graphql-response+json` gets 4xx for request errors, `application/json`
//! gets 200), GET never runs a mutation, and every error body carries `extensions.code`. Every GraphQL response
//! carries `extensions.cost`; the limits of `crate::protection` and persisted queries (`crate::persisted`) apply
//! before anything is parsed by async-graphql.

use crate::app::AppState;
use crate::persisted::{PersistedQuery, PersistedQueryError, persisted_query, sha256_hex};
use crate::protection::{ClientAddr, Protection};
use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maillage_core::Actor;
use maillage_graphql::{RequestState, cost};
use serde::Deserialize;
use serde_json::json;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type the client accepts for the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseType {
    /// `application/graphql-response+json`: request errors get a 4xx status.
    GraphqlResponse,
    /// `application/json` (legacy): always 200 once the request is understood.
    Json,
}

impl ResponseType {
    fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response type from `Accept`; `None` when the client accepts neither JSON type.
fn negotiate(headers: &HeaderMap) -> Option<ResponseType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(ResponseType::Json);
    };
    let mut best: Option<(f32, ResponseType)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let media = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let candidate = match media.as_str() {
            GRAPHQL_RESPONSE => Some(ResponseType::GraphqlResponse),
            JSON | "application/*" | "*/*" => Some(ResponseType::Json),
            _ => None,
        };
        if let Some(c) = candidate
            && q > 0.0
            && best.is_none_or(|(bq, bt)| {
                q > bq || (q == bq && c == ResponseType::GraphqlResponse && bt != c)
            })
        {
            best = Some((q, c));
        }
    }
    best.map(|(_, t)| t)
}

/// A coarse class for every error code, in `extensions.classification` (the values of Spring for GraphQL's
/// `ErrorType`, plus `TOO_MANY_REQUESTS`): generic clients and tools tell their own mistakes from server faults
/// without knowing our codes.
pub fn classification(code: &str) -> &'static str {
    match code {
        "internal_error" | "timeout" | "unavailable" => "INTERNAL_ERROR",
        "unauthenticated" => "UNAUTHORIZED",
        "forbidden" => "FORBIDDEN",
        "not_found" => "NOT_FOUND",
        "rate_limited" | "budget_exhausted" => "TOO_MANY_REQUESTS",
        // A body too large is the caller's to shrink.
        _ => "BAD_REQUEST",
    }
}

fn error_body(status: StatusCode, ty: ResponseType, code: &str, message: &str) -> Response {
    crate::metrics::global().error(code);
    let body = json!({ "errors": [{
        "message": message,
        "extensions": { "code": code, "classification": classification(code) },
    }] });
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(ty.content_type()),
        )],
        body.to_string(),
    )
        .into_response()
}

/// The JSON body of a GraphQL request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphqlBody {
    query: Option<String>,
    #[serde(default)]
    variables: Option<serde_json::Value>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    extensions: Option<serde_json::Value>,
}

/// Which schema a request runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/graphql`: the public schema.
    Public,
    /// `/federation/graphql`: the Apollo Federation subgraph.
    Federation,
}

/// `POST /graphql`.
pub async fn graphql_post(
    State(app): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    post(&app, Endpoint::Public, client, &headers, body).await
}

/// `POST /federation/graphql`: the subgraph a federation gateway calls (same rules as `/graphql`).
pub async fn federation_post(
    State(app): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    post(&app, Endpoint::Federation, client, &headers, body).await
}

/// `GET /graphql`: GraphiQL for browsers, queries (never mutations) for clients.
pub async fn graphql_get(
    State(app): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    get_request(&app, Endpoint::Public, client, &headers, query.as_deref()).await
}

/// `GET /federation/graphql`: queries over GET on the subgraph.
pub async fn federation_get(
    State(app): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    get_request(
        &app,
        Endpoint::Federation,
        client,
        &headers,
        query.as_deref(),
    )
    .await
}

fn not_acceptable() -> Response {
    error_body(
        StatusCode::NOT_ACCEPTABLE,
        ResponseType::Json,
        "not_acceptable",
        "accept application/graphql-response+json or application/json",
    )
}

async fn post(
    app: &AppState,
    endpoint: Endpoint,
    client: ClientAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(ty) = negotiate(headers) else {
        return not_acceptable();
    };
    let caller = match admit(app, client, headers, ty).await {
        Ok(caller) => caller,
        Err(response) => return response,
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
    if content_type != JSON {
        return error_body(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ty,
            "unsupported_media_type",
            "send the request as application/json",
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error_body(
                StatusCode::PAYLOAD_TOO_LARGE,
                ty,
                "payload_too_large",
                "the request body is larger than this server accepts",
            );
        }
        Err(_) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                ty,
                "bad_request",
                "the request body could not be read",
            );
        }
    };
    let parsed: GraphqlBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                ty,
                "bad_request",
                &format!("the body is not a valid GraphQL request: {e}"),
            );
        }
    };
    run(app, endpoint, &caller, headers, ty, parsed, false).await
}

async fn get_request(
    app: &AppState,
    endpoint: Endpoint,
    client: ClientAddr,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let wants_html = accept.contains("text/html");
    let params: Vec<(String, String)> = query.map(url_decode_pairs).unwrap_or_default();
    if endpoint == Endpoint::Public && wants_html && params.is_empty() {
        return graphiql_page();
    }
    let Some(ty) = negotiate(headers) else {
        return not_acceptable();
    };
    let caller = match admit(app, client, headers, ty).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let variables = match get("variables").map(|v| serde_json::from_str::<serde_json::Value>(&v)) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                ty,
                "bad_request",
                "variables must be a JSON object",
            );
        }
    };
    let extensions = match get("extensions").map(|v| serde_json::from_str::<serde_json::Value>(&v))
    {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                ty,
                "bad_request",
                "extensions must be a JSON object",
            );
        }
    };
    let body = GraphqlBody {
        query: get("query"),
        variables,
        operation_name: get("operationName"),
        extensions,
    };
    run(app, endpoint, &caller, headers, ty, body, true).await
}

/// Who calls, and under which bucket key.
struct Caller {
    actor: Actor,
    key: String,
}

/// Authenticates the caller and applies its request rate: the checks every request pays, before its body is read.
async fn admit(
    app: &AppState,
    client: ClientAddr,
    headers: &HeaderMap,
    ty: ResponseType,
) -> Result<Caller, Response> {
    let actor = match crate::auth::authenticate(app, headers).await {
        Ok(actor) => actor,
        Err(crate::auth::AuthError::InvalidCredentials) => {
            let mut response = error_body(
                StatusCode::UNAUTHORIZED,
                ty,
                "unauthenticated",
                "invalid or expired credentials",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Err(response);
        }
        Err(crate::auth::AuthError::Unavailable) => {
            return Err(error_body(
                StatusCode::SERVICE_UNAVAILABLE,
                ty,
                "unavailable",
                "credentials could not be checked; retry later",
            ));
        }
    };
    let key = app.protection.caller_key(&actor, &client, headers);
    if let Some(rate) = &app.protection.rate
        && let Err(exhausted) = rate.take(&key, 1)
    {
        tracing::info!(caller = %key, "request rate exceeded");
        let cost = cost_json(&app.protection, &key, Some(0), 0, None);
        return Err(too_many_requests(
            ty,
            "rate_limited",
            &format!(
                "too many requests: at most {} per minute (bursts of {}); retry in {} s",
                app.protection.config.rate_limit_per_minute,
                app.protection.config.rate_limit_burst,
                exhausted.retry_after_secs
            ),
            exhausted.retry_after_secs,
            cost,
        ));
    }
    Ok(Caller { actor, key })
}

/// `extensions.cost`: `requested` (static cost, `null` when the document could not be analyzed), `actual` (fields
/// in the response's `data`) and `remaining` (the caller's budget now; `null` without a budget).
fn cost_json(
    protection: &Protection,
    key: &str,
    requested: Option<u64>,
    actual: u64,
    remaining: Option<u64>,
) -> serde_json::Value {
    let remaining = remaining.or_else(|| protection.budget.as_ref().map(|b| b.remaining(key)));
    json!({ "requested": requested, "actual": actual, "remaining": remaining })
}

/// The status of a request error: 400 for `application/graphql-response+json`, 200 for legacy `application/json`.
fn request_error_status(ty: ResponseType) -> StatusCode {
    match ty {
        ResponseType::GraphqlResponse => StatusCode::BAD_REQUEST,
        ResponseType::Json => StatusCode::OK,
    }
}

/// A GraphQL response with one error and `extensions.cost`.
fn refusal(
    status: StatusCode,
    ty: ResponseType,
    code: &str,
    message: &str,
    mut details: serde_json::Map<String, serde_json::Value>,
    cost: serde_json::Value,
) -> Response {
    crate::metrics::global().error(code);
    details.insert("code".to_owned(), json!(code));
    details.insert("classification".to_owned(), json!(classification(code)));
    let body = json!({
        "errors": [{ "message": message, "extensions": details }],
        "extensions": { "cost": cost },
    });
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(ty.content_type()),
        )],
        body.to_string(),
    )
        .into_response()
}

fn too_many_requests(
    ty: ResponseType,
    code: &str,
    message: &str,
    retry_after_secs: u64,
    cost: serde_json::Value,
) -> Response {
    let mut response = refusal(
        StatusCode::TOO_MANY_REQUESTS,
        ty,
        code,
        message,
        serde_json::Map::new(),
        cost,
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The document a request runs, once persisted queries and trusted documents are resolved; `Err` is a refusal
/// `(code, message)`.
struct Document {
    query: String,
    /// The hash to register in the APQ cache once the document is known to be acceptable.
    register: Option<String>,
}

fn resolve_document(
    protection: &Protection,
    query: Option<String>,
    persisted: Option<PersistedQuery>,
) -> Result<Document, (&'static str, String)> {
    let query = query.filter(|q| !q.trim().is_empty());
    if let Some(trusted) = protection.trusted() {
        let hash = match (&persisted, &query) {
            (Some(pq), _) => pq.sha256_hash.clone(),
            (None, Some(q)) => sha256_hex(q),
            (None, None) => return Err(("bad_request", "the request has no query".to_owned())),
        };
        return match (trusted.get(&hash), &query) {
            (Some(doc), _) => Ok(Document {
                query: doc.to_owned(),
                register: None,
            }),
            (None, None) => Err((
                "PERSISTED_QUERY_NOT_FOUND",
                "PersistedQueryNotFound".to_owned(),
            )),
            (None, Some(_)) => Err((
                "untrusted_document",
                "this server only runs registered documents (trusted documents): this one is not"
                    .to_owned(),
            )),
        };
    }
    match (persisted, query) {
        (None, Some(query)) => Ok(Document {
            query,
            register: None,
        }),
        (None, None) => Err(("bad_request", "the request has no query".to_owned())),
        (Some(_), _) if !protection.apq.enabled() => Err((
            "PERSISTED_QUERY_NOT_SUPPORTED",
            "PersistedQueryNotSupported".to_owned(),
        )),
        (Some(pq), None) => match protection.apq.get(&pq.sha256_hash) {
            Some(doc) => Ok(Document {
                query: doc.to_string(),
                register: None,
            }),
            None => Err((
                "PERSISTED_QUERY_NOT_FOUND",
                "PersistedQueryNotFound".to_owned(),
            )),
        },
        (Some(pq), Some(query)) => {
            if sha256_hex(&query) == pq.sha256_hash {
                Ok(Document {
                    query,
                    register: Some(pq.sha256_hash),
                })
            } else {
                Err((
                    "persisted_query_hash_mismatch",
                    "persistedQuery.sha256Hash is not the SHA-256 of the query".to_owned(),
                ))
            }
        }
    }
}

#[allow(
    clippy::too_many_lines,
    reason = "one request's pipeline, in order; each step is a few lines and reads best in sequence"
)]
async fn run(
    app: &AppState,
    endpoint: Endpoint,
    caller: &Caller,
    headers: &HeaderMap,
    ty: ResponseType,
    body: GraphqlBody,
    via_get: bool,
) -> Response {
    let p = &app.protection;
    let key = caller.key.as_str();
    let variables = match body.variables {
        None | Some(serde_json::Value::Null) => async_graphql::Variables::default(),
        Some(v @ serde_json::Value::Object(_)) => async_graphql::Variables::from_json(v),
        Some(_) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                ty,
                "bad_request",
                "variables must be a JSON object",
            );
        }
    };
    let extensions = match body.extensions {
        None | Some(serde_json::Value::Null) => None,
        Some(v @ serde_json::Value::Object(_)) => Some(v),
        Some(_) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                ty,
                "bad_request",
                "extensions must be a JSON object",
            );
        }
    };
    let persisted = match persisted_query(extensions.as_ref()) {
        Ok(pq) => pq,
        Err(PersistedQueryError::Malformed(message)) => {
            return error_body(StatusCode::BAD_REQUEST, ty, "bad_request", message);
        }
    };
    let document = match resolve_document(p, body.query, persisted) {
        Ok(d) => d,
        Err(("bad_request", message)) => {
            return error_body(StatusCode::BAD_REQUEST, ty, "bad_request", &message);
        }
        Err((code, message)) => {
            return refusal(
                request_error_status(ty),
                ty,
                code,
                &message,
                serde_json::Map::new(),
                cost_json(p, key, Some(0), 0, None),
            );
        }
    };
    let query = document.query;

    // Limits, before async-graphql parses, validates or runs anything. The bracket scan comes first: the parser
    // recurses once per level.
    let nesting_guard = p.max_depth.saturating_mul(4).max(64);
    if cost::nesting_depth(&query) > nesting_guard {
        return refusal(
            request_error_status(ty),
            ty,
            "query_too_deep",
            &format!(
                "the query is nested too deep (at most {} levels)",
                p.max_depth
            ),
            details(&[("depth", json!({ "limit": p.max_depth }))]),
            cost_json(p, key, None, 0, None),
        );
    }
    let parsed = async_graphql::parser::parse_query(&query).ok();
    let model = match endpoint {
        Endpoint::Public => &app.cost_model,
        Endpoint::Federation => &app.federation_cost_model,
    };
    let analysis = parsed
        .as_ref()
        .map(|doc| model.analyze(doc, body.operation_name.as_deref(), &variables))
        .unwrap_or_default();
    let requested = analysis.cost;
    let cost_details = json!({ "requested": requested, "limit": p.max_complexity });
    let depth_details = json!({ "requested": analysis.depth, "limit": p.max_depth });
    let limit_refusal = if analysis.depth > p.max_depth {
        Some((
            "query_too_deep",
            format!(
                "the query is nested {} levels deep; the limit is {}",
                analysis.depth, p.max_depth
            ),
        ))
    } else if requested > p.max_complexity {
        Some((
            "query_too_complex",
            format!(
                "the query would cost {requested} points; the limit is {} (a connection costs its page size × its selection)",
                p.max_complexity
            ),
        ))
    } else if analysis.aliases > p.config.max_aliases {
        Some((
            "too_many_aliases",
            format!(
                "the document has {} aliases; the limit is {}",
                analysis.aliases, p.config.max_aliases
            ),
        ))
    } else if analysis.directives > p.config.max_directives {
        Some((
            "too_many_directives",
            format!(
                "the document has {} directives; the limit is {}",
                analysis.directives, p.config.max_directives
            ),
        ))
    } else {
        None
    };
    if let Some((code, message)) = limit_refusal {
        tracing::info!(caller = %key, code, requested, depth = analysis.depth, "query refused");
        return refusal(
            request_error_status(ty),
            ty,
            code,
            &message,
            details(&[("cost", cost_details), ("depth", depth_details)]),
            cost_json(p, key, Some(requested), 0, None),
        );
    }

    if via_get && let Some(doc) = &parsed {
        // The spec forbids mutations over GET (a link or an image tag must never change data).
        let is_mutation = doc.operations.iter().any(|(name, op)| {
            let selected = match (&body.operation_name, name) {
                (Some(wanted), Some(name)) => wanted.as_str() == name.as_str(),
                (None, _) => true,
                (Some(_), None) => false,
            };
            selected && op.node.ty != OperationType::Query
        });
        if is_mutation {
            let mut response = error_body(
                StatusCode::METHOD_NOT_ALLOWED,
                ty,
                "method_not_allowed",
                "mutations must be sent with POST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
    }

    // The budget: the static cost is reserved up front; what the response did not use is given back after.
    if let Some(budget) = &p.budget
        && let Err(exhausted) = budget.take(key, requested)
    {
        tracing::info!(caller = %key, requested, "cost budget exhausted");
        return too_many_requests(
            ty,
            "budget_exhausted",
            &format!(
                "this query costs {requested} points and {} remain; the budget refills by {} points per second",
                exhausted.remaining, p.config.cost_refill_per_second
            ),
            exhausted.retry_after_secs,
            cost_json(p, key, Some(requested), 0, Some(exhausted.remaining)),
        );
    }
    if let (Some(hash), Some(_)) = (&document.register, &parsed) {
        p.apq.insert(hash, &query);
    }

    let mut request = async_graphql::Request::new(query).variables(variables);
    if let Some(name) = body.operation_name {
        request = request.operation_name(name);
    }
    // Set by `telemetry::observe` on every request; the fallback only serves a handler mounted without it.
    let request_id = headers
        .get(crate::telemetry::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or_else(crate::telemetry::new_request_id, str::to_owned);
    let state = RequestState::new(app.db.clone(), caller.actor.clone(), request_id);
    let request = request.data(state).data(app.webhook_policy);
    let (operation_name, operation_type) = parsed.as_ref().map_or((None, "unknown"), |doc| {
        maillage_graphql::telemetry::selected_operation(doc, request.operation_name.as_deref())
    });
    let operation_name = operation_name.map(str::to_owned);
    let started = std::time::Instant::now();
    let response = match endpoint {
        Endpoint::Public => with_timeout(p.timeout(), app.schema.execute(request)).await,
        Endpoint::Federation => {
            with_timeout(p.timeout(), app.federation_schema.execute(request)).await
        }
    };
    crate::metrics::global().observe_operation(
        operation_name.as_deref(),
        operation_type,
        started.elapsed(),
    );
    let Some(response) = response else {
        tracing::warn!(caller = %key, requested, "execution timed out");
        let remaining = p.budget.as_ref().map(|b| b.remaining(key));
        return refusal(
            match ty {
                ResponseType::GraphqlResponse => StatusCode::SERVICE_UNAVAILABLE,
                ResponseType::Json => StatusCode::OK,
            },
            ty,
            "timeout",
            &format!(
                "the query ran longer than {} ms and was stopped",
                p.config.execution_timeout_ms
            ),
            serde_json::Map::new(),
            cost_json(p, key, Some(requested), requested, remaining),
        );
    };
    // Errors without a path never reached execution (syntax, validation, limits): request errors.
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let status = if request_error && ty == ResponseType::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut value = match serde_json::to_value(&response) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "serialising a response failed");
            return error_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                ty,
                "internal_error",
                "internal error",
            );
        }
    };
    add_missing_codes(&mut value);
    count_errors(&value);
    let actual = value.get("data").map_or(0, cost::actual_cost);
    let remaining = p
        .budget
        .as_ref()
        .map(|b| b.refund(key, requested.saturating_sub(actual)));
    if let Some(obj) = value.as_object_mut() {
        if request_error {
            // A request that did not execute has no `data` entry at all (spec), not `data: null`.
            obj.remove("data");
        }
        let extensions = obj.entry("extensions").or_insert_with(|| json!({}));
        if let Some(extensions) = extensions.as_object_mut() {
            extensions.insert(
                "cost".to_owned(),
                cost_json(p, key, Some(requested), actual, remaining),
            );
        }
    }
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(ty.content_type()),
        )],
        value.to_string(),
    )
        .into_response()
}

fn details(pairs: &[(&str, serde_json::Value)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Runs `future` within `limit`; `None` when it took longer.
async fn with_timeout<F: std::future::Future>(
    limit: Option<std::time::Duration>,
    future: F,
) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, future).await.ok(),
        None => Some(future.await),
    }
}

fn url_decode_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Counts the errors of a response by `extensions.code` (after [`add_missing_codes`], so every one has a code).
fn count_errors(value: &serde_json::Value) {
    let Some(errors) = value.get("errors").and_then(|e| e.as_array()) else {
        return;
    };
    for error in errors {
        let code = error
            .pointer("/extensions/code")
            .and_then(|c| c.as_str())
            .unwrap_or("internal_error");
        crate::metrics::global().error(code);
    }
}

/// Gives every error an `extensions.code` (syntax and validation errors from async-graphql have none) and an
/// `extensions.classification`.
fn add_missing_codes(value: &mut serde_json::Value) {
    let Some(errors) = value.get_mut("errors").and_then(|e| e.as_array_mut()) else {
        return;
    };
    for error in errors {
        let Some(obj) = error.as_object_mut() else {
            continue;
        };
        let message = obj
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned();
        let has_path = obj.contains_key("path");
        let ext = obj.entry("extensions").or_insert_with(|| json!({}));
        if let Some(ext) = ext.as_object_mut()
            && !ext.contains_key("code")
        {
            let code = if message.contains("Query is nested too deep")
                || message.contains("recursion depth of the query")
            {
                "query_too_deep"
            } else if message.contains("Query is too complex") {
                "query_too_complex"
            } else if has_path
                && (message.starts_with("Failed to parse")
                    || message.starts_with("Invalid value for argument"))
            {
                // async-graphql checks some argument values (e.g. an Int literal beyond 32 bits) only when the
                // field resolves, so the error has a path, yet the client's input is at fault.
                "invalid_value"
            } else if has_path {
                "internal_error"
            } else {
                "graphql_validation_failed"
            };
            ext.insert("code".to_owned(), json!(code));
        }
        if let Some(ext) = ext.as_object_mut()
            && !ext.contains_key("classification")
        {
            let code = ext.get("code").and_then(|c| c.as_str()).unwrap_or_default();
            let class = classification(code);
            ext.insert("classification".to_owned(), json!(class));
        }
    }
}

const GRAPHIQL_HTML: &str = include_str!("../assets/graphiql/index.html");

fn graphiql_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        GRAPHIQL_HTML,
    )
        .into_response()
}

/// `GET /graphiql/{file}`: the GraphiQL assets, embedded in the binary so GraphiQL works with no internet.
pub async fn graphiql_asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "graphiql.min.js" => (
            include_bytes!("../assets/graphiql/graphiql.min.js"),
            "text/javascript",
        ),
        "graphiql.min.css" => (
            include_bytes!("../assets/graphiql/graphiql.min.css"),
            "text/css",
        ),
        "react.production.min.js" => (
            include_bytes!("../assets/graphiql/react.production.min.js"),
            "text/javascript",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../assets/graphiql/react-dom.production.min.js"),
            "text/javascript",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// `GET /schema.graphql`: the SDL, for tools that cannot introspect.
pub async fn schema_sdl(State(app): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        app.schema.sdl(),
    )
        .into_response()
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(header::ACCEPT, v);
        }
        h
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(ResponseType::Json));
        assert_eq!(
            negotiate(&accept("application/json")),
            Some(ResponseType::Json)
        );
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(ResponseType::GraphqlResponse)
        );
        assert_eq!(negotiate(&accept("*/*")), Some(ResponseType::Json));
        assert_eq!(negotiate(&accept("text/plain")), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%7B%20hubs%20%7D+x"), "{ hubs } x");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
