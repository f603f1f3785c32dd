//! The last resort for a handler that panics: an HTTP 500 with the API's usual error body.
//!
//! Without it, hyper drops the connection of a request whose handler panicked, and the client sees "connection
//! closed without response": it cannot tell a bug from a network failure, and retries what may fail the same way.
//! A panic is a bug all the same (a debug build checks arithmetic, a release build does not): this layer only makes
//! it visible and answered.

use crate::error::ApiError;
use axum::response::{IntoResponse, Response};
use maillage_core::Code;
use std::any::Any;
use tower_http::catch_panic::CatchPanicLayer;

/// What a panic payload is turned into a response by.
type PanicHandler = fn(Box<dyn Any + Send + 'static>) -> Response;

/// The layer [`crate::app::build_app`] wraps the routes in, so that a panic answers [`panic_response`].
pub fn catch_panic() -> CatchPanicLayer<PanicHandler> {
    CatchPanicLayer::custom(panic_response as PanicHandler)
}

/// The answer to a panic: logged with its message (under the request's span, which the panic hook's own output
/// lacks), and masked for the client like every internal error, with the same code, status and body shape.
fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request handler panicked");
    ApiError::new(
        Code::InternalError,
        "internal error; the incident is logged",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::catch_panic;
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::routing::get;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    async fn static_message() -> &'static str {
        panic!("a static message")
    }

    async fn formatted_message() -> &'static str {
        let n: i32 = std::hint::black_box(i32::MAX);
        panic!("formatted: {n}")
    }

    async fn answer_of(uri: &str) -> (StatusCode, Option<String>, Value) {
        let app = Router::new()
            .route("/str", get(static_message))
            .route("/string", get(formatted_message))
            .route("/fine", get(|| async { "fine" }))
            .layer(catch_panic());
        let response = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 10_000)
            .await
            .unwrap();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, content_type, body)
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_internal_error_body() {
        for uri in ["/str", "/string"] {
            let (status, content_type, body) = answer_of(uri).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
            assert_eq!(
                content_type.as_deref(),
                Some("application/json; charset=utf-8"),
                "{uri}"
            );
            assert_eq!(
                body,
                json!({ "errors": [{
                    "message": "internal error; the incident is logged",
                    "extensions": { "code": "internal_error", "classification": "INTERNAL_ERROR" },
                }] }),
                "{uri}: the panic's message never reaches the client"
            );
        }
    }

    #[tokio::test]
    async fn a_handler_that_does_not_panic_is_untouched() {
        let (status, _, _) = answer_of("/fine").await;
        assert_eq!(status, StatusCode::OK);
    }
}
