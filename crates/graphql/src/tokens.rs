//! API tokens without a shell: `apiTokens`, `createApiToken`, `revokeApiToken`; a laureate's
//! `hubInvitations` and `acceptHubInvitation`. Who may do what is `maillage_access`'s decision.

use crate::kit::error::IntoGql;
use crate::kit::handles::HubNode;
use crate::kit::id::{NodeKind, encode, parse_int};
use crate::kit::payload::{UserError, classify, user_error, writer};
use crate::kit::state;
use crate::kit::territory::known_hub;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use maillage_access::{AccessError, NewToken, TokenInfo};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{HubId, Role};
use maillage_territories::Hub;
use std::collections::HashMap;

/// The global ID of a token.
pub(crate) fn token_id(id: i32) -> ID {
    encode(NodeKind::ApiToken, id)
}

fn decode_token_id(raw: &str) -> Result<i32, String> {
    parse_int(raw, NodeKind::ApiToken).map_err(|e| e.to_string())
}

/// An API token (never its secret, which is shown once, when it is created).
pub struct ApiTokenNode {
    token: TokenInfo,
    hub: Option<Hub>,
}

/// An API token (never its secret, which is shown once, when it is created).
#[Object(name = "ApiToken")]
impl ApiTokenNode {
    /// Global ID (opaque), for `revokeApiToken` and `acceptHubInvitation`.
    pub async fn id(&self) -> ID {
        token_id(self.token.id)
    }
    /// Who or what uses it (in the audit trail as `token:ID:NAME`).
    async fn name(&self) -> &str {
        &self.token.name
    }
    /// The role it grants: `partner`, `hub_coordinator`, `bdt_reviewer`, `ami_applicant` or `admin`.
    async fn role(&self) -> &str {
        self.token.role.as_str()
    }
    /// The hub, for hub coordinators and a hub's partners.
    async fn hub(&self) -> Option<HubNode> {
        self.hub.clone().map(HubNode)
    }
    /// The secret's first characters, to recognise it (`invitation` for an invitation, which has none).
    async fn prefix(&self) -> &str {
        &self.token.prefix
    }
    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.token.created_at
    }
    /// When it stops working, if ever.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.token.expires_at
    }
    /// Whether it has expired.
    async fn expired(&self) -> bool {
        self.token.is_expired(Utc::now())
    }
    /// When it was revoked (an invitation: accepted), if it was.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.token.revoked_at
    }
    /// Whether this is a hub-coordinator invitation for an AMI laureate's account (never a credential itself).
    async fn invitation(&self) -> bool {
        self.token.is_invitation()
    }
}

async fn with_hubs(
    ctx: &Context<'_>,
    list: Vec<TokenInfo>,
) -> async_graphql::Result<Vec<ApiTokenNode>> {
    let s = state(ctx)?;
    let mut ids: Vec<HubId> = list.iter().filter_map(|t| t.hub).collect();
    ids.sort_unstable();
    ids.dedup();
    let hubs: HashMap<HubId, Hub> = if ids.is_empty() {
        HashMap::new()
    } else {
        maillage_territories::hubs_by_ids(&s.db, &ids)
            .await
            .gql()?
            .into_iter()
            .map(|h| (h.id, h))
            .collect()
    };
    Ok(list
        .into_iter()
        .map(|token| {
            let hub = token.hub.and_then(|h| hubs.get(&h).cloned());
            ApiTokenNode { token, hub }
        })
        .collect())
}

async fn one(ctx: &Context<'_>, token: TokenInfo) -> async_graphql::Result<ApiTokenNode> {
    with_hubs(ctx, vec![token])
        .await?
        .pop()
        .ok_or_else(|| crate::kit::error::coded("internal error", Code::InternalError, None))
}

/// `apiTokens`, `hubInvitations`.
#[derive(Default)]
pub struct TokensQuery;

#[Object]
impl TokensQuery {
    /// Tokens the caller manages, newest first: every token for admins, its hub's partner tokens for a hub
    /// coordinator; refused (`forbidden`) for other callers.
    async fn api_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiTokenNode>> {
        let s = state(ctx)?;
        let list = maillage_access::list_tokens(&s.db, &s.actor).await.gql()?;
        with_hubs(ctx, list).await
    }

    /// The pending hub-coordinator invitations of the caller's account (an AMI laureate's applicant token).
    async fn hub_invitations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiTokenNode>> {
        let s = state(ctx)?;
        let list = maillage_access::pending_invitations(&s.db, &s.actor)
            .await
            .gql()?;
        with_hubs(ctx, list).await
    }
}

/// Creates a token. Admins: any role; a hub coordinator: `partner` tokens of its own hub only.
#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// Who or what uses it (1 to 100 characters).
    pub name: String,
    /// `partner`, `hub_coordinator`, `bdt_reviewer`, `ami_applicant` or `admin`.
    pub role: String,
    /// The hub (its global ID, or its slug (e.g. `hinaura`)): required for `hub_coordinator`, optional for `partner` (a coordinator's
    /// partners are its hub's).
    pub hub: Option<ID>,
    /// When it stops working (in the future); never when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token and its secret, shown this once.
#[derive(SimpleObject)]
pub struct CreateApiTokenPayload {
    /// The token, unless there were user errors.
    pub token: Option<ApiTokenNode>,
    /// The secret (`mlg_…`), shown this once: it is stored only as a hash.
    pub secret: Option<String>,
    /// Business errors (`invalid_value`, `unknown_value`, `not_found`).
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    CreateApiTokenPayload {
        /// The token, unless there were user errors.
        token: Option<ApiTokenNode>,
        /// The secret (`mlg_…`), shown this once: it is stored only as a hash.
        secret: Option<String>,
    }
    /// Result of `acceptHubInvitation`.
    AcceptHubInvitationPayload,
}

impl CreateApiTokenPayload {
    fn errors(user_errors: Vec<UserError>) -> Self {
        Self {
            token: None,
            secret: None,
            user_errors,
        }
    }

    async fn from_result(
        ctx: &Context<'_>,
        result: Result<(TokenInfo, String), AccessError>,
    ) -> async_graphql::Result<Self> {
        match result {
            Ok((token, secret)) => Ok(Self {
                token: Some(one(ctx, token).await?),
                secret: Some(secret),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(Self::errors(classify(&e)?)),
        }
    }
}

/// Revokes a token at once.
#[derive(InputObject)]
pub struct RevokeApiTokenInput {
    /// The token's ID.
    pub id: ID,
}

/// Accepts a hub-coordinator invitation of the caller's account.
#[derive(InputObject)]
pub struct AcceptHubInvitationInput {
    /// The invitation's ID (from `hubInvitations`).
    pub id: ID,
}

/// The result of `revokeApiToken`.
#[derive(SimpleObject)]
pub struct RevokeApiTokenPayload {
    /// The token as it now stands.
    pub token: Option<ApiTokenNode>,
    /// Business errors (`not_found`, `invalid_id`).
    pub user_errors: Vec<UserError>,
}

fn id_error(m: String) -> UserError {
    user_error(FieldPath::new("input").push("id"), Code::InvalidId, m)
}

/// `createApiToken`, `revokeApiToken`, `acceptHubInvitation`.
#[derive(Default)]
pub struct TokensMutation;

#[Object]
impl TokensMutation {
    /// Creates a token and returns its secret, shown this once (admins; hub coordinators: their hub's partners).
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
    ) -> async_graphql::Result<CreateApiTokenPayload> {
        let actor = writer(ctx)?;
        let s = state(ctx)?;
        let Some(role) = Role::parse(&input.role) else {
            return Ok(CreateApiTokenPayload::errors(vec![user_error(
                FieldPath::new("input").push("role"),
                Code::UnknownValue,
                format!(
                    "unknown role {:?}: use partner, hub_coordinator, bdt_reviewer, ami_applicant or admin",
                    input.role
                ),
            )]));
        };
        let hub = match input.hub.as_ref() {
            Some(raw) => match known_hub(ctx, raw).await? {
                Some(h) => Some(h.id),
                None => {
                    return Ok(CreateApiTokenPayload::errors(vec![user_error(
                        FieldPath::new("input").push("hub"),
                        Code::UnknownValue,
                        format!("no hub {:?}", raw.as_str()),
                    )]));
                }
            },
            None => None,
        };
        let new = NewToken {
            name: input.name,
            role,
            hub,
            expires_at: input.expires_at,
        };
        let result = maillage_access::create_token(&s.db, &actor, new).await;
        CreateApiTokenPayload::from_result(ctx, result).await
    }

    /// Revokes a token at once; revoking twice keeps the first time. A token the caller does not manage is
    /// `not_found`.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiTokenInput,
    ) -> async_graphql::Result<RevokeApiTokenPayload> {
        let actor = writer(ctx)?;
        let s = state(ctx)?;
        let id = match decode_token_id(&input.id) {
            Ok(id) => id,
            Err(m) => {
                return Ok(RevokeApiTokenPayload {
                    token: None,
                    user_errors: vec![id_error(m)],
                });
            }
        };
        match maillage_access::revoke_token(&s.db, &actor, id).await {
            Ok(token) => Ok(RevokeApiTokenPayload {
                token: Some(one(ctx, token).await?),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(RevokeApiTokenPayload {
                token: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Accepts, once, a hub-coordinator invitation of the caller's account: returns the new coordinator token and
    /// its secret, shown this once.
    async fn accept_hub_invitation(
        &self,
        ctx: &Context<'_>,
        input: AcceptHubInvitationInput,
    ) -> async_graphql::Result<AcceptHubInvitationPayload> {
        let actor = writer(ctx)?;
        let s = state(ctx)?;
        let id = match decode_token_id(&input.id) {
            Ok(id) => id,
            Err(m) => return Ok(CreateApiTokenPayload::errors(vec![id_error(m)]).into()),
        };
        let result = maillage_access::accept_invitation(&s.db, &actor, id).await;
        CreateApiTokenPayload::from_result(ctx, result)
            .await
            .map(Into::into)
    }
}

/// The tokens with these ids that the caller manages (admins, a coordinator's partners) or that are its own pending
/// invitations, for `node(id:)`: one statement for all of them.
pub(crate) async fn tokens_for_node(
    ctx: &Context<'_>,
    ids: &[i32],
) -> async_graphql::Result<Vec<(i32, ApiTokenNode)>> {
    let s = state(ctx)?;
    let list = match s.actor.role() {
        Role::Admin | Role::HubCoordinator => {
            maillage_access::list_tokens(&s.db, &s.actor).await.gql()?
        }
        _ => maillage_access::pending_invitations(&s.db, &s.actor)
            .await
            .gql()?,
    };
    let list = list.into_iter().filter(|t| ids.contains(&t.id)).collect();
    Ok(with_hubs(ctx, list)
        .await?
        .into_iter()
        .map(|t| (t.token.id, t))
        .collect())
}
