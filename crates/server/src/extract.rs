//! The gate every API route passes, written once as axum extractors: who calls ([`Caller`]: authentication, then the
//! caller's request rate), whether a token is required ([`Member`]), and the anti-CSRF header of uploads
//! ([`UploadHeader`]).
//!
//! The GraphQL routes, the AMI routes, the feed upload routes and the exports all take a [`Caller`] (or a
//! [`Member`]); a refusal is an [`ApiError`] (`unauthenticated` 401, `unavailable` 503, `rate_limited` 429 with
//! `Retry-After`). The GraphQL routes take `Result<Caller, ApiError>` to answer in the negotiated media type.

use crate::error::ApiError;
use crate::protection::ClientAddr;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use maillage_core::{Actor, Code, Role};

/// The header an upload or a deletion must carry (any non-empty value; `1` by convention).
pub const UPLOAD_HEADER: &str = "x-maillage-upload";

/// The authenticated caller of a request, admitted by its request rate.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who calls (anonymous without `Authorization`), carrying the request id for the audit trail.
    pub actor: Actor,
    /// The caller's bucket key for rates and budgets (its token's label, else its address).
    pub key: String,
    /// The request id (`x-request-id`, set by `telemetry::observe`, or a new one).
    pub request_id: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Ok(client) = ClientAddr::from_request_parts(parts, app).await;
        admit(app, &client, &parts.headers).await
    }
}

/// Authenticates the caller and takes one request from its rate: the checks every request pays, before its body
/// is read.
async fn admit(
    app: &AppState,
    client: &ClientAddr,
    headers: &axum::http::HeaderMap,
) -> Result<Caller, ApiError> {
    let protection = &app.protection;
    // The address, whatever the credentials say: failed authentications are counted against it.
    let address = protection.caller_key(&Actor::anonymous(), client, headers);
    let failures = protection
        .auth_failures
        .as_ref()
        .filter(|_| headers.contains_key(axum::http::header::AUTHORIZATION));
    if let Some(failures) = failures
        && let Err(exhausted) = failures.check(&address)
    {
        return Err(too_many_failures(app, exhausted, address));
    }
    let actor = match crate::auth::authenticate(app, headers).await {
        Ok(actor) => actor,
        Err(crate::auth::AuthError::InvalidCredentials) => {
            tracing::info!(caller = %address, "authentication failed");
            if let Some(failures) = failures {
                let _ = failures.take(&address, 1);
            }
            // A failed authentication is also an anonymous request of that address: it spends its request rate.
            if let Some(rate) = &protection.rate
                && let Err(exhausted) = rate.take(&address, 1)
            {
                return Err(too_many_failures(app, exhausted, address));
            }
            return Err(ApiError::new(
                Code::Unauthenticated,
                "invalid or expired credentials",
            ));
        }
        Err(crate::auth::AuthError::Unavailable) => {
            return Err(ApiError::new(
                Code::Unavailable,
                "credentials could not be checked; retry later",
            )
            .retry_after(crate::circuit::RETRY_AFTER_SECS));
        }
    };
    // An anonymous caller's key is its address, already written.
    let key = if actor.role() == Role::Anonymous {
        address
    } else {
        app.protection.caller_key(&actor, client, headers)
    };
    if let Some(rate) = &app.protection.rate
        && let Err(exhausted) = rate.take(&key, 1)
    {
        tracing::info!(caller = %key, "request rate exceeded");
        let config = &app.protection.config;
        let refusal = ApiError::new(
            Code::RateLimited,
            format!(
                "too many requests: at most {} per minute (bursts of {}); retry in {} s",
                config.rate_limit_per_minute, config.rate_limit_burst, exhausted.retry_after_secs
            ),
        )
        .retry_after(exhausted.retry_after_secs)
        .with_bucket(key);
        return Err(refusal);
    }
    let request_id = headers
        .get(crate::telemetry::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(crate::telemetry::new_request_id, str::to_owned);
    Ok(Caller {
        actor: actor.with_request_id(request_id.clone()),
        key,
        request_id,
    })
}

/// The refusal of a request with credentials from an address that failed to authenticate too often.
fn too_many_failures(
    app: &AppState,
    exhausted: crate::protection::Exhausted,
    address: String,
) -> ApiError {
    tracing::info!(caller = %address, "failed authentications throttled");
    let config = &app.protection.config;
    ApiError::new(
        Code::RateLimited,
        format!(
            "too many failed authentications from this address: at most {} per minute (bursts of {}); retry in {} s",
            config.auth_failures_per_minute, config.auth_failure_burst, exhausted.retry_after_secs
        ),
    )
    .retry_after(exhausted.retry_after_secs)
    .with_bucket(address)
}

/// A [`Caller`] with an API token: anonymous callers are refused (`unauthenticated`), for routes whose data is
/// never public (AMI dossiers, imports).
#[derive(Debug, Clone)]
pub struct Member(pub Caller);

impl FromRequestParts<AppState> for Member {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, app).await?;
        if caller.actor.role() == Role::Anonymous {
            return Err(ApiError::new(
                Code::Unauthenticated,
                "this route needs an API token (Authorization: Bearer …)",
            ));
        }
        Ok(Self(caller))
    }
}

/// Proof that a state-changing request carries `X-Maillage-Upload`. A browser cannot add such a header to a
/// cross-site form post without a CORS preflight, which this server never grants; put it before the [`Caller`] in
/// a handler's arguments, so a forged request is refused before anything is looked up.
#[derive(Debug, Clone, Copy)]
pub struct UploadHeader;

impl<S: Send + Sync> FromRequestParts<S> for UploadHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let present = parts
            .headers
            .get(UPLOAD_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().is_empty());
        if present {
            Ok(Self)
        } else {
            Err(ApiError::new(
                Code::UploadHeaderMissing,
                "add the header `X-Maillage-Upload: 1`: uploads and deletions without it are refused \
                 (protection against cross-site request forgery)",
            ))
        }
    }
}
