//! Logs, traces and the per-request span: everything an operator reads to follow one request.
//!
//! One `tracing` subscriber serves both: a fmt layer writes log lines on stderr (text, or JSON with the fields of the
//! enclosing spans), and, only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, a tracing-opentelemetry layer exports the
//! spans over OTLP/HTTP. The spans are: `http.request` (this module's middleware: method, route, status, request id,
//! W3C `traceparent` honoured), `graphql.operation` and `graphql.resolve` (the GraphQL engine,
//! `maillage_graphql::telemetry`) and one span per SQL statement (sea-orm's `tracing-spans`: `sea_orm.query_all`,
//! `sea_orm.execute`, ...), each a child of the span that was current when the statement ran.

use crate::config::{LogFormat, TelemetryConfig};
use crate::metrics;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::io::IsTerminal;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The header that carries the request id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest request id accepted from a client; a longer (or non-ASCII) one is replaced by a fresh id.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Keeps the trace exporter alive; [`TelemetryGuard::shutdown`] flushes the spans still buffered.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Exports the spans still buffered and stops the exporter (at exit: a batch is otherwise lost).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: flushing traces failed: {e}");
        }
    }
}

/// Installs the process-wide subscriber: log lines on stderr, plus OTLP export when an endpoint is configured.
///
/// Logs go to stderr so that `maillage schema > schema.graphql` and `maillage export` stay clean; `default_filter`
/// applies when `MAILLAGE_LOG` is unset (the server logs more than a batch command).
pub fn init(config: &TelemetryConfig, default_filter: &str) -> Result<TelemetryGuard, String> {
    let filter = EnvFilter::try_new(config.log_filter.as_deref().unwrap_or(default_filter))
        .map_err(|e| format!("MAILLAGE_LOG is not a valid filter ({e})"))?;
    let fmt = match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_current_span(true)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
    };
    let (otel, provider) = match &config.otlp_endpoint {
        Some(endpoint) if !endpoint.trim().is_empty() => {
            let provider = otlp_provider(endpoint, &config.service_name)?;
            (Some(otel_layer(&provider)), Some(provider))
        }
        _ => (None, None),
    };
    Registry::default()
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    if let Some(endpoint) = &config.otlp_endpoint
        && provider.is_some()
    {
        // The URL may carry credentials, as a database URL does.
        tracing::info!(
            endpoint = %crate::db::redact(endpoint),
            service = %config.service_name,
            "exporting traces over OTLP/HTTP"
        );
    }
    Ok(TelemetryGuard { provider })
}

fn otlp_provider(endpoint: &str, service_name: &str) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()
        .map_err(|e| {
            format!("OTEL_EXPORTER_OTLP_ENDPOINT: cannot build the OTLP exporter ({e})")
        })?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The layer that turns `tracing` spans into OpenTelemetry spans of `provider`.
///
/// It keeps INFO and above whatever `MAILLAGE_LOG` says: the log filter quiets sea-orm's lines, but its statement
/// spans are exactly what a trace needs. Public so that tests can put an in-memory exporter behind the same layer.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber
        + for<'span> tracing_subscriber::registry::LookupSpan<'span>
        + Send
        + Sync,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("maillage"))
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
        .boxed()
}

/// Reads W3C trace context (`traceparent`, `tracestate`) from request headers.
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

/// A fresh request id: time-based and unique enough to find a request's log lines and audit entries.
pub fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The client's request id when it is usable (visible ASCII, at most 128 bytes), else a fresh one.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= MAX_REQUEST_ID_LEN
                && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(new_request_id, str::to_owned)
}

/// The middleware around every route (and the fallback): a request id on the request and the response, the
/// `http.request` span (child of the caller's `traceparent`, if any) around everything the request does, one access
/// log line, and the HTTP metrics.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers());
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    // The route template, not the path: `/graphiql/{file}` is one series, whatever the file.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    // Clients may invent methods: anything non-standard is one label value, so metrics stay bounded.
    let method = match *request.method() {
        Method::GET
        | Method::POST
        | Method::HEAD
        | Method::OPTIONS
        | Method::PUT
        | Method::PATCH
        | Method::DELETE => request.method().as_str().to_owned(),
        _ => "OTHER".to_owned(),
    };
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        request_id = %id,
        trace_id = Empty,
    );
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    if parent.span().span_context().is_valid() {
        // Fails only without an OpenTelemetry layer, when there is no trace to join anyway.
        let _ = span.set_parent(parent);
    }
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        // OpenTelemetry's HTTP convention: a server span is an error for 5xx only (4xx are the client's).
        span.record("otel.status_code", "ERROR");
    }
    let elapsed = started.elapsed();
    // Probes and scrapes come every few seconds from every load balancer and Prometheus: debug, not info.
    let probe = matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics");
    span.in_scope(|| {
        let (status, elapsed_ms) = (
            status.as_u16(),
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        );
        if (500..600).contains(&status) {
            tracing::error!(status, elapsed_ms, "request failed");
        } else if probe {
            tracing::debug!(status, elapsed_ms, "request");
        } else {
            tracing::info!(status, elapsed_ms, "request");
        }
    });
    metrics::global().observe_http(&method, &route, status.as_u16(), elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_ids_from_clients_are_kept_only_when_sane() {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID_HEADER, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&h), "abc-123");
        let long = "x".repeat(MAX_REQUEST_ID_LEN + 1);
        h.insert(REQUEST_ID_HEADER, HeaderValue::from_str(&long).unwrap());
        assert_ne!(request_id(&h), long);
        h.insert(REQUEST_ID_HEADER, HeaderValue::from_static("a b"));
        assert_ne!(request_id(&h), "a b");
        assert!(!request_id(&HeaderMap::new()).is_empty());
    }
}
