//! Who is calling: from the `Authorization` header to an [`Actor`].
//!
//! A missing header means anonymous; `Authorization: Bearer mlg_…` means an API token. The token scheme stays here
//! (an OIDC/JWT front could be added beside it), so the domain crates only ever see an `Actor`.

use crate::state::AppState;
use axum::http::HeaderMap;
use maillage_core::{Actor, Role};

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

/// The caller of a request: anonymous without `Authorization`, the token's role and hub with a valid bearer token.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Actor, AuthError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(Actor::anonymous());
    };
    let secret = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or(AuthError::InvalidCredentials)?;
    let token = maillage_access::authenticate_token(&state.db, secret)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "token lookup failed");
            AuthError::Unavailable
        })?
        .ok_or(AuthError::InvalidCredentials)?;
    let label = token.actor_label();
    match token.role {
        Role::HubCoordinator => {
            let hub = token.hub.ok_or(AuthError::InvalidCredentials)?;
            let scope = maillage_territories::hub_scope(&state.db, hub)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "hub scope lookup failed");
                    AuthError::Unavailable
                })?;
            Ok(Actor::hub_coordinator(scope, label))
        }
        role => Ok(Actor::with_role(role, label).with_subject(token.name.clone())),
    }
}
