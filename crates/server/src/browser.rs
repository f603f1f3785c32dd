//! What browsers need: CORS on the API and the exports, and compressed responses.
//!
//! **CORS.** `/graphql` and `/exports/…` answer any origin, for requests that carry a bearer token and no
//! credentials: the API uses no cookies and no HTTP authentication a browser would add on its own, so a page on
//! another origin can do nothing its own user's token could not; `Access-Control-Allow-Credentials` is never sent.
//! Every other path (the AMI uploads above all) gets no CORS headers, so a cross-origin page cannot read their
//! answers and cannot pass a preflight. The uploads' anti-CSRF rule (`X-Maillage-Upload`, see `crate::ami`) stays
//! whole: that header is not a CORS-safelisted one, so a cross-origin request carrying it always needs a preflight,
//! which those paths refuse; and even on the API paths it is not among the allowed request headers.
//!
//! **Compression.** gzip or brotli, as the client's `Accept-Encoding` prefers, for the text types we serve (JSON,
//! GraphQL responses, CSV, GeoJSON, GraphiQL's HTML, JavaScript and CSS, the SDL); binary downloads (PDF
//! attachments) are left alone. Streamed exports are compressed as they stream.

use axum::extract::Request;
use axum::http::header::{self, HeaderName};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::LazyLock;
use std::time::Duration;
use tower::{Layer, ServiceExt};
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, DefaultPredicate};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The paths a page on another origin may call.
pub fn is_cross_origin_path(path: &str) -> bool {
    path == "/graphql" || path.starts_with("/exports/")
}

/// The CORS rules of [`is_cross_origin_path`] paths: any origin, no credentials, bearer tokens.
pub fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST, Method::HEAD])
        // Exactly what a GraphQL client and an export download send; `x-maillage-upload` is deliberately absent.
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            HeaderName::from_static(crate::telemetry::REQUEST_ID_HEADER),
        ])
        .expose_headers([
            header::ETAG,
            header::LAST_MODIFIED,
            header::CONTENT_DISPOSITION,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            HeaderName::from_static(crate::telemetry::REQUEST_ID_HEADER),
        ])
        // Browsers cap this (Chromium at 2 h); one preflight per endpoint and page load is plenty.
        .max_age(Duration::from_secs(7200))
}

/// [`cors`], built once: building it joins its header lists into header values, about 1 % of a small GraphQL
/// request's instructions (issue #16); a clone shares them.
static CORS: LazyLock<CorsLayer> = LazyLock::new(cors);

/// Middleware: CORS for [`is_cross_origin_path`] paths, nothing for the others. A preflight is answered
/// `204 No Content` (tower-http answers 200 with an empty body; 204 says there is no body to wait for).
pub async fn cross_origin(request: Request, next: Next) -> Response {
    if !is_cross_origin_path(request.uri().path()) {
        return next.run(request).await;
    }
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match CORS.clone().layer(next).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if preflight && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

/// The text types worth compressing.
fn is_compressible(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/json"
            | "application/graphql-response+json"
            | "application/geo+json"
            | "text/csv"
            | "text/html"
            | "text/javascript"
            | "application/javascript"
            | "text/css"
            | "text/plain"
    )
}

/// gzip or brotli for the text types of [`is_compressible`] above 256 bytes (below that the headers outweigh the
/// gain); tower-http's defaults still exclude event streams and gRPC.
pub fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .compress_when(
            DefaultPredicate::new()
                .and(SizeAbove::new(256))
                .and(TextTypes),
        )
}

/// Compress only [`is_compressible`] content types.
#[derive(Debug, Clone, Copy)]
struct TextTypes;

impl Predicate for TextTypes {
    fn should_compress<B>(&self, response: &axum::http::Response<B>) -> bool
    where
        B: axum::body::HttpBody,
    {
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_compressible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_api_and_exports_are_cross_origin() {
        assert!(is_cross_origin_path("/graphql"));
        assert!(is_cross_origin_path("/exports/sites.csv"));
        assert!(!is_cross_origin_path("/ami/applications/1/attachments"));
        assert!(!is_cross_origin_path("/graphqlx"));
        assert!(!is_cross_origin_path("/federation/graphql"));
    }

    #[test]
    fn text_types_are_compressible_binaries_are_not() {
        assert!(is_compressible("application/json; charset=utf-8"));
        assert!(is_compressible("text/csv; charset=utf-8"));
        assert!(is_compressible("application/geo+json"));
        assert!(is_compressible("text/javascript; charset=utf-8"));
        assert!(!is_compressible("application/pdf"));
        assert!(!is_compressible("image/png"));
    }
}
