//! `GET /graphql/ws`: GraphQL subscriptions over WebSocket.
//!
//! Here rather than in `crate::changes`: that module is the change fan-out the state holds (`AppState::changes`),
//! and this handler takes the state; keeping them apart means `state` imports `changes`, this module imports
//! `state`, and no module imports one that imports it back.

use crate::state::AppState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a WebSocket connection re-checks its token (revoked or expired: the connection is closed).
const TOKEN_RECHECK: Duration = Duration::from_secs(1);
/// Close code sent when the token stops being valid (4403 is `graphql-transport-ws`'s "Forbidden").
const CLOSE_FORBIDDEN: u16 = 4403;

/// `GET /graphql/ws`: GraphQL subscriptions over WebSocket (`graphql-transport-ws`, and the older `graphql-ws`).
///
/// The token comes in the `Authorization` header of the upgrade request or in the `connection_init` payload
/// (`{"Authorization": "Bearer mlg_…"}`, what browser clients can send); it is checked before the connection is
/// acknowledged, then every second: once revoked or expired, the connection is closed with code 4403.
pub async fn graphql_ws(
    axum::extract::State(state): axum::extract::State<AppState>,
    protocol: async_graphql_axum::GraphQLProtocol,
    headers: axum::http::HeaderMap,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> axum::response::Response {
    let header_token = bearer(headers.get(axum::http::header::AUTHORIZATION));
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(state, socket, protocol, header_token))
}

fn bearer(value: Option<&axum::http::HeaderValue>) -> Option<String> {
    let v = value?.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim().to_owned())
}

async fn serve_socket(
    state: AppState,
    socket: axum::extract::ws::WebSocket,
    protocol: async_graphql_axum::GraphQLProtocol,
    header_token: Option<String>,
) {
    use futures::{SinkExt, StreamExt};
    let (mut sink, stream) = socket.split();
    let (token_tx, mut token_rx) = tokio::sync::watch::channel::<Option<String>>(None);
    let db = state.db.clone();
    // Ends when the token checked at connection time stops authenticating.
    let revoked = {
        let db = db.clone();
        async move {
            let Ok(secret) = token_rx.wait_for(Option::is_some).await.map(|s| s.clone()) else {
                return std::future::pending().await;
            };
            let Some(secret) = secret else {
                return std::future::pending().await;
            };
            loop {
                tokio::time::sleep(TOKEN_RECHECK).await;
                match maillage_access::authenticate_token(&db, &secret).await {
                    Ok(None) => return,
                    Ok(Some(_)) => {}
                    // A database hiccup is not a revocation: check again later.
                    Err(e) => tracing::warn!(error = %e, "token re-check failed"),
                }
            }
        }
    };
    let (revoked_tx, revoked_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(async move {
        revoked.await;
        let _ = revoked_tx.send(());
    });
    let closed_by_us = std::sync::Arc::new(AtomicBool::new(false));
    let input = {
        let closed_by_us = closed_by_us.clone();
        stream.take_until(async move {
            if revoked_rx.await.is_ok() {
                closed_by_us.store(true, Ordering::SeqCst);
            } else {
                std::future::pending::<()>().await;
            }
        })
    };
    let source: Arc<dyn maillage_graphql::changes::ChangeSource> = Arc::new(state.changes.clone());
    let on_init = {
        let state = state.clone();
        move |payload: serde_json::Value| async move {
            let token = header_token.or_else(|| {
                payload
                    .get("Authorization")
                    .or_else(|| payload.get("authorization"))
                    .and_then(|v| v.as_str())
                    .and_then(|v| bearer(axum::http::HeaderValue::from_str(v).ok().as_ref()))
            });
            let Some(token) = token else {
                return Err(async_graphql::Error::new(
                    "subscriptions need an API token: Authorization: Bearer … in connection_init",
                ));
            };
            let mut headers = axum::http::HeaderMap::new();
            let value = axum::http::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| async_graphql::Error::new("invalid or expired credentials"))?;
            headers.insert(axum::http::header::AUTHORIZATION, value);
            let actor = crate::auth::authenticate(&state, &headers)
                .await
                .map_err(|e| async_graphql::Error::new(e.to_string()))?;
            let _ = token_tx.send(Some(token));
            let mut data = async_graphql::Data::default();
            data.insert(maillage_graphql::RequestState::new(
                state.db.clone(),
                &state.reads,
                &state.territories,
                actor,
                "ws",
            ));
            data.insert(source);
            Ok(data)
        }
    };
    async_graphql_axum::GraphQLWebSocket::new_with_pair(
        &mut sink,
        input,
        state.schema.clone(),
        protocol,
    )
    .on_connection_init(on_init)
    .serve()
    .await;
    watcher.abort();
    if closed_by_us.load(Ordering::SeqCst) {
        let _ = sink
            .send(axum::extract::ws::Message::Close(Some(
                axum::extract::ws::CloseFrame {
                    code: CLOSE_FORBIDDEN,
                    reason: "token revoked or expired".into(),
                },
            )))
            .await;
    }
    let _ = sink.close().await;
}
