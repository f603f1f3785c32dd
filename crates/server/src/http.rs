//! The GraphQL endpoint over HTTP, and GraphiQL.
//!
//! Our own handler rather than async-graphql-axum's: content negotiation and status codes follow the
//! GraphQL-over-HTTP spec (`application/graphql-response+json` gets 4xx for request errors, `application/json`
//! gets 200), GET never runs a mutation, and every error body carries `extensions.code`.

use crate::app::AppState;
use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maillage_graphql::RequestState;
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

fn error_body(status: StatusCode, ty: ResponseType, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
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

/// `POST /graphql`.
pub async fn graphql_post(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(ty) = negotiate(&headers) else {
        return error_body(
            StatusCode::NOT_ACCEPTABLE,
            ResponseType::Json,
            "not_acceptable",
            "accept application/graphql-response+json or application/json",
        );
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
    execute(&app, &headers, ty, parsed, false).await
}

/// `GET /graphql`: GraphiQL for browsers, queries (never mutations) for clients.
pub async fn graphql_get(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let wants_html = accept.contains("text/html");
    let params: Vec<(String, String)> = query.as_deref().map(url_decode_pairs).unwrap_or_default();
    if wants_html && params.is_empty() {
        return graphiql_page();
    }
    let Some(ty) = negotiate(&headers) else {
        return error_body(
            StatusCode::NOT_ACCEPTABLE,
            ResponseType::Json,
            "not_acceptable",
            "accept application/graphql-response+json or application/json",
        );
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
    execute(&app, &headers, ty, body, true).await
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

async fn execute(
    app: &AppState,
    headers: &HeaderMap,
    ty: ResponseType,
    body: GraphqlBody,
    via_get: bool,
) -> Response {
    let Some(query) = body.query.filter(|q| !q.trim().is_empty()) else {
        return error_body(
            StatusCode::BAD_REQUEST,
            ty,
            "bad_request",
            "the request has no query",
        );
    };
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
    if via_get {
        // The spec forbids mutations over GET (a link or an image tag must never change data).
        if let Ok(doc) = async_graphql::parser::parse_query(&query) {
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
    }
    let mut request = async_graphql::Request::new(query).variables(variables);
    if let Some(name) = body.operation_name {
        request = request.operation_name(name);
    }
    let _ = body.extensions;
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
            return response;
        }
        Err(crate::auth::AuthError::Unavailable) => {
            return error_body(
                StatusCode::SERVICE_UNAVAILABLE,
                ty,
                "unavailable",
                "credentials could not be checked; retry later",
            );
        }
    };
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(new_request_id, str::to_owned);
    let state = RequestState::new(app.db.clone(), actor, request_id);
    let response = app.schema.execute(request.data(state)).await;
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
    if request_error && let Some(obj) = value.as_object_mut() {
        // A request that did not execute has no `data` entry at all (spec), not `data: null`.
        obj.remove("data");
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

/// A fresh request id: time-based and unique enough to find a request's log lines and audit entries.
fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Gives every error an `extensions.code`: syntax and validation errors from async-graphql have none.
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
            } else if has_path {
                "internal_error"
            } else {
                "graphql_validation_failed"
            };
            ext.insert("code".to_owned(), json!(code));
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
