//! Who is calling: from the `Authorization` header to an [`Actor`].
//!
//! A missing header means anonymous. The token scheme (API tokens today, OIDC later) stays here, so the domain
//! crates only ever see an `Actor`.

use crate::app::AppState;
use axum::http::HeaderMap;
use maillage_core::Actor;

/// Why a request's credentials were refused. Deliberately says nothing about which check failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is malformed, unknown, revoked or expired (401, no detail).
    #[error("invalid or expired credentials")]
    InvalidCredentials,
    /// The credentials could not be checked (database unavailable).
    #[error("credentials could not be checked")]
    Unavailable,
}

/// The caller of a request. Until API tokens exist, every request is anonymous; any `Authorization` header is
/// refused rather than ignored, so a client never believes it is authenticated when it is not.
pub async fn authenticate(_state: &AppState, headers: &HeaderMap) -> Result<Actor, AuthError> {
    match headers.get(axum::http::header::AUTHORIZATION) {
        None => Ok(Actor::anonymous()),
        Some(_) => Err(AuthError::InvalidCredentials),
    }
}
