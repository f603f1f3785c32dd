//! The refusal every HTTP route answers with: a [`Code`] of the table in `maillage_core::codes`, a message, and the
//! headers that go with it.
//!
//! The body is shaped like a GraphQL error, so clients parse one format on every route: `{ errors: [{ message,
//! extensions: { code, classification, … } }] }`. The status is the code's (one table, no per-route mapping).

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maillage_core::{Code, ErrorCode};
use serde_json::json;

/// A refused request.
#[derive(Debug)]
pub struct ApiError {
    /// The stable code; the status and classification follow from it.
    pub code: Code,
    /// For a human; never an internal detail.
    pub message: String,
    /// What only some refusals carry, boxed so that `Result<_, ApiError>` stays small.
    extra: Option<Box<Extra>>,
}

/// The rarer parts of a refusal.
#[derive(Debug, Default)]
struct Extra {
    /// More members of the error's `extensions` (e.g. the limit a query broke).
    details: serde_json::Map<String, serde_json::Value>,
    /// Headers of the response (`Retry-After`, `Allow`; `WWW-Authenticate` is added for every 401).
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The caller's bucket key when it is known (a rate limit), so that a GraphQL answer reports its budget.
    bucket: Option<String>,
}

impl ApiError {
    /// A refusal with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            extra: None,
        }
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The caller's bucket key, when the refusal is a rate limit.
    pub fn bucket(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.bucket.as_deref())
    }

    /// This refusal naming the caller's bucket key.
    #[must_use]
    pub fn with_bucket(mut self, key: String) -> Self {
        self.extra().bucket = Some(key);
        self
    }

    /// A domain error as a refusal: the code is the domain's; internal errors are logged and masked.
    pub fn domain<E: ErrorCode + ?Sized>(e: &E) -> Self {
        if e.is_internal() {
            tracing::error!(error = %e, "internal error");
            return Self::new(
                Code::InternalError,
                "internal error; the incident is logged",
            );
        }
        Self::new(e.code(), e.to_string())
    }

    /// The answer while the database is unreachable: the same for every caller, anonymous or not, with the
    /// `Retry-After` of the circuit.
    pub fn database_unavailable() -> Self {
        Self::new(
            Code::Unavailable,
            "the database is unreachable; retry in a few seconds",
        )
        .retry_after(crate::circuit::RETRY_AFTER_SECS)
    }

    /// Query parameters that do not parse (e.g. `qpv=maybe`).
    pub fn bad_query(e: &axum::extract::rejection::QueryRejection) -> Self {
        Self::new(
            Code::InvalidValue,
            format!("invalid query parameters: {}", e.body_text()),
        )
    }

    /// This refusal with a `Retry-After` of `secs` seconds.
    #[must_use]
    pub fn retry_after(self, secs: u64) -> Self {
        match HeaderValue::from_str(&secs.to_string()) {
            Ok(v) => self.header(header::RETRY_AFTER, v),
            Err(_) => self,
        }
    }

    /// This refusal with one more response header.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.extra().headers.push((name, value));
        self
    }

    /// This refusal with one more member in its `extensions`.
    #[must_use]
    pub fn detail(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra().details.insert(key.to_owned(), value);
        self
    }

    /// The status of the code.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The response, with `status` and `content_type`, and `extensions` at the top level of the body when given
    /// (GraphQL's `extensions.cost`). Counts the error in the metrics.
    pub fn render(
        self,
        status: StatusCode,
        content_type: &'static str,
        extensions: Option<serde_json::Value>,
    ) -> Response {
        crate::metrics::global().error(self.code.as_str());
        let Extra {
            mut details,
            headers,
            ..
        } = self.extra.map(|e| *e).unwrap_or_default();
        details.insert("code".to_owned(), json!(self.code.as_str()));
        details.insert(
            "classification".to_owned(),
            json!(self.code.classification().as_str()),
        );
        let mut body = json!({ "errors": [{ "message": self.message, "extensions": details }] });
        if let (Some(extensions), Some(obj)) = (extensions, body.as_object_mut()) {
            obj.insert("extensions".to_owned(), extensions);
        }
        let mut response = (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body.to_string(),
        )
            .into_response();
        let h = response.headers_mut();
        if self.code == Code::Unauthenticated {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        for (name, value) in headers {
            h.insert(name, value);
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        self.render(status, "application/json; charset=utf-8", None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn the_status_and_classification_follow_the_code() {
        let response = ApiError::new(Code::Unauthenticated, "who?")
            .retry_after(3)
            .into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let body = axum::body::to_bytes(response.into_body(), 10_000)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "unauthenticated");
        assert_eq!(
            body["errors"][0]["extensions"]["classification"],
            "UNAUTHORIZED"
        );
    }
}
