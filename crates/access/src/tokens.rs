//! API tokens: shown once, stored as a hash.
//!
//! Admins create, list and revoke every token; a hub coordinator creates, lists and revokes the `partner` tokens of
//! its own hub (for the applications of its territory), nothing else. An AMI selection leaves a pending
//! hub-coordinator *invitation* for the laureate's applicant account: a token row with no usable secret, which that
//! account accepts once ([`accept_invitation`]) to receive its coordinator token, whose secret it alone sees.

use crate::AccessError;
use crate::audit::{AuditChanges, AuditEntry, record};
use crate::entity::api_token;
use chrono::{DateTime, Utc};
use maillage_core::error::FieldPath;
use maillage_core::{Actor, HubId, Role};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked secret is recognisable by secret scanners and humans.
const TOKEN_PREFIX: &str = "mlg_";

/// How long an invitation waits for its applicant before it lapses.
const INVITATION_DAYS: i64 = 30;

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Who or what uses it (shown in the audit trail).
    pub name: String,
    /// The role it grants.
    pub role: Role,
    /// The hub: required for hub coordinators; optional for partners (a hub's partner application, which that hub's
    /// coordinator manages); refused for other roles.
    pub hub: Option<HubId>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Identifier.
    pub id: i32,
    /// Name.
    pub name: String,
    /// Role granted.
    pub role: Role,
    /// Hub, for hub coordinators and a hub's partners.
    pub hub: Option<HubId>,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time, if revoked (for an invitation: when it was accepted or withdrawn).
    pub revoked_at: Option<DateTime<Utc>>,
    /// For a pending hub-coordinator invitation: the applicant account (token name) that may accept it.
    pub invited_subject: Option<String>,
}

impl TokenInfo {
    /// Whether the token has expired at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// Whether this is an invitation (never a credential itself).
    pub fn is_invitation(&self) -> bool {
        self.invited_subject.is_some()
    }

    /// The label that names this token's actor in logs and the audit trail.
    pub fn actor_label(&self) -> String {
        format!("token:{}:{}", self.id, self.name)
    }
}

fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_secret() -> Result<String, AccessError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| {
        AccessError::Database(sea_orm::DbErr::Custom(format!(
            "no randomness available: {e}"
        )))
    })?;
    let body: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{TOKEN_PREFIX}{body}"))
}

fn info(m: api_token::Model) -> Result<TokenInfo, AccessError> {
    let role = Role::parse(&m.role).ok_or_else(|| {
        AccessError::Database(sea_orm::DbErr::Custom(format!(
            "token {} has an unknown role {:?}",
            m.id, m.role
        )))
    })?;
    Ok(TokenInfo {
        id: m.id,
        name: m.name,
        role,
        hub: m.hub_id.map(HubId),
        prefix: m.prefix,
        created_at: m.created_at,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
        invited_subject: m.invited_subject,
    })
}

/// Whether `actor` manages `token`: admins every token, a hub coordinator its own hub's partner tokens.
fn manages(actor: &Actor, role: Role, hub: Option<HubId>) -> bool {
    match actor.role() {
        Role::Admin => true,
        Role::HubCoordinator => {
            role == Role::Partner && hub.is_some() && actor.hub_scope().map(|s| s.hub) == hub
        }
        _ => false,
    }
}

/// Creates a token; returns it with its secret, which is shown this once and never stored.
#[tracing::instrument(skip_all, fields(token.role = %new.role))]
pub async fn create_token<C: TransactionTrait>(
    db: &C,
    actor: &Actor,
    new: NewToken,
) -> Result<(TokenInfo, String), AccessError> {
    let mut new = new;
    if actor.role() == Role::HubCoordinator && new.hub.is_none() {
        new.hub = actor.hub_scope().map(|s| s.hub);
    }
    if !manages(actor, new.role, new.hub) {
        return Err(AccessError::Forbidden(
            "admins create tokens; a hub coordinator creates partner tokens of its own hub only"
                .to_owned(),
        ));
    }
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.len() > 100 {
        return Err(AccessError::InvalidInput {
            field: FieldPath::new("name"),
            message: "a token needs a name of 1 to 100 characters".to_owned(),
        });
    }
    match (new.role, new.hub) {
        (Role::HubCoordinator, None) => {
            return Err(AccessError::InvalidInput {
                field: FieldPath::new("hub"),
                message: "a hub coordinator token needs a hub".to_owned(),
            });
        }
        (role, Some(_)) if role != Role::HubCoordinator && role != Role::Partner => {
            return Err(AccessError::InvalidInput {
                field: FieldPath::new("hub"),
                message: "only hub coordinator and partner tokens are bound to a hub".to_owned(),
            });
        }
        (Role::Anonymous, _) => {
            return Err(AccessError::InvalidInput {
                field: FieldPath::new("role"),
                message: "anonymous callers need no token".to_owned(),
            });
        }
        _ => {}
    }
    let now = Utc::now();
    if let Some(expires) = new.expires_at
        && expires <= now
    {
        return Err(AccessError::InvalidInput {
            field: FieldPath::new("expiresAt"),
            message: format!("{expires} is past: a token must expire in the future"),
        });
    }
    let txn = maillage_core::db::begin_write(db).await?;
    let (token, secret) = insert_token(&txn, name, new.role, new.hub, new.expires_at, None).await?;
    let mut changes = AuditChanges::new();
    changes.created("name", &token.name);
    changes.created("role", token.role.as_str());
    changes.created("hub_id", &token.hub.map(|h| h.0));
    changes.created("expires_at", &token.expires_at);
    record(
        &txn,
        actor,
        AuditEntry::new("api_token", token.id.to_string(), "create", changes).hub(token.hub),
    )
    .await?;
    txn.commit().await?;
    Ok((token, secret))
}

/// Inserts a token row with a fresh secret; returns it with the secret (to show once, or to drop for an invitation).
async fn insert_token<C: ConnectionTrait>(
    db: &C,
    name: String,
    role: Role,
    hub: Option<HubId>,
    expires_at: Option<DateTime<Utc>>,
    invited_subject: Option<String>,
) -> Result<(TokenInfo, String), AccessError> {
    let secret = new_secret()?;
    let prefix = if invited_subject.is_some() {
        "invitation".to_owned()
    } else {
        secret.chars().take(12).collect()
    };
    let model = api_token::ActiveModel {
        name: Set(name),
        role: Set(role.as_str().to_owned()),
        hub_id: Set(hub.map(|h| h.0)),
        token_hash: Set(hash(&secret)),
        prefix: Set(prefix),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        invited_subject: Set(invited_subject),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((info(model)?, secret))
}

/// Leaves a pending hub-coordinator invitation for the applicant account `subject` (an AMI laureate), inside the
/// caller's transaction (the selection that created `hub`). No secret exists for it: the account accepts it with
/// its own token ([`accept_invitation`]) and only then receives a coordinator token. It lapses after 30 days.
pub async fn invite_hub_coordinator_in<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    hub: HubId,
    subject: &str,
) -> Result<TokenInfo, AccessError> {
    let expires = Utc::now() + chrono::Duration::days(INVITATION_DAYS);
    let name: String = subject.trim().chars().take(100).collect();
    let (token, _unusable) = insert_token(
        db,
        name.clone(),
        Role::HubCoordinator,
        Some(hub),
        Some(expires),
        Some(name),
    )
    .await?;
    let mut changes = AuditChanges::new();
    changes.created("invited_subject", &token.invited_subject);
    changes.created("role", token.role.as_str());
    changes.created("hub_id", &token.hub.map(|h| h.0));
    changes.created("expires_at", &token.expires_at);
    record(
        db,
        actor,
        AuditEntry::new("api_token", token.id.to_string(), "invite", changes).hub(token.hub),
    )
    .await?;
    Ok(token)
}

/// The pending (not accepted, not lapsed) invitations of the caller's applicant account.
pub async fn pending_invitations<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
) -> Result<Vec<TokenInfo>, AccessError> {
    let Some(subject) = actor.subject() else {
        return Ok(Vec::new());
    };
    let now = Utc::now();
    api_token::Entity::find()
        .filter(api_token::Column::InvitedSubject.eq(subject))
        .filter(api_token::Column::RevokedAt.is_null())
        .filter(api_token::Column::ExpiresAt.gt(now))
        .order_by_asc(api_token::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(info)
        .collect()
}

/// Accepts an invitation of the caller's account, once: the invitation is used up and a hub-coordinator token of
/// its hub, named after the account, is created; its secret is returned this once. Anyone else's, an accepted or a
/// lapsed invitation is `not_found`.
#[tracing::instrument(skip_all, fields(token.id = id))]
pub async fn accept_invitation<C: TransactionTrait>(
    db: &C,
    actor: &Actor,
    id: i32,
) -> Result<(TokenInfo, String), AccessError> {
    let Some(subject) = actor.subject().map(str::to_owned) else {
        return Err(AccessError::UnknownToken(id));
    };
    let now = Utc::now();
    let txn = maillage_core::db::begin_write(db).await?;
    let invitation = api_token::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .map(info)
        .transpose()?
        .filter(|t| {
            t.invited_subject.as_deref() == Some(subject.as_str())
                && t.revoked_at.is_none()
                && !t.is_expired(now)
        })
        .ok_or(AccessError::UnknownToken(id))?;
    // Used up in the UPDATE itself: of two concurrent acceptances exactly one changes the row.
    let used = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if used.rows_affected == 0 {
        return Err(AccessError::UnknownToken(id));
    }
    let mut changes = AuditChanges::new();
    changes.changed("revoked_at", &None::<DateTime<Utc>>, &Some(now));
    record(
        &txn,
        actor,
        AuditEntry::new("api_token", id.to_string(), "accept", changes).hub(invitation.hub),
    )
    .await?;
    let (token, secret) = insert_token(
        &txn,
        subject,
        Role::HubCoordinator,
        invitation.hub,
        None,
        None,
    )
    .await?;
    let mut changes = AuditChanges::new();
    changes.created("name", &token.name);
    changes.created("role", token.role.as_str());
    changes.created("hub_id", &token.hub.map(|h| h.0));
    changes.note("invitation", &id);
    record(
        &txn,
        actor,
        AuditEntry::new("api_token", token.id.to_string(), "create", changes).hub(token.hub),
    )
    .await?;
    txn.commit().await?;
    Ok((token, secret))
}

/// Tokens the caller manages, newest first: every token (invitations included) for admins, its hub's partner
/// tokens for a hub coordinator.
pub async fn list_tokens<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
) -> Result<Vec<TokenInfo>, AccessError> {
    let mut query = api_token::Entity::find();
    match actor.role() {
        Role::Admin => {}
        Role::HubCoordinator => {
            let hub = actor.hub_scope().map_or(-1, |s| s.hub.0);
            query = query
                .filter(api_token::Column::Role.eq(Role::Partner.as_str()))
                .filter(api_token::Column::HubId.eq(hub));
        }
        _ => {
            return Err(AccessError::Forbidden(
                "tokens are listed by admins, and by hub coordinators for their hub's partners"
                    .to_owned(),
            ));
        }
    }
    query
        .order_by_desc(api_token::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(info)
        .collect()
}

/// Revokes a token at once (admins; a hub coordinator its hub's partner tokens); revoking twice keeps the first
/// time. A token the caller does not manage is `not_found`.
pub async fn revoke_token<C: TransactionTrait>(
    db: &C,
    actor: &Actor,
    id: i32,
) -> Result<TokenInfo, AccessError> {
    if !matches!(actor.role(), Role::Admin | Role::HubCoordinator) {
        return Err(AccessError::Forbidden(
            "tokens are revoked by admins, and by hub coordinators for their hub's partners"
                .to_owned(),
        ));
    }
    let txn = maillage_core::db::begin_write(db).await?;
    let model = api_token::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .filter(|m| {
            Role::parse(&m.role).is_some_and(|role| manages(actor, role, m.hub_id.map(HubId)))
        })
        .ok_or(AccessError::UnknownToken(id))?;
    if model.revoked_at.is_some() {
        return info(model);
    }
    let now = Utc::now();
    let mut active: api_token::ActiveModel = model.into();
    active.revoked_at = Set(Some(now));
    let model = active.update(&txn).await?;
    let token = info(model)?;
    let mut changes = AuditChanges::new();
    changes.changed("revoked_at", &None::<DateTime<Utc>>, &Some(now));
    record(
        &txn,
        actor,
        AuditEntry::new("api_token", token.id.to_string(), "revoke", changes).hub(token.hub),
    )
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// The token a secret belongs to, if it is valid now (not revoked, not expired). One indexed lookup by hash.
pub async fn authenticate_token<C: ConnectionTrait>(
    db: &C,
    secret: &str,
) -> Result<Option<TokenInfo>, AccessError> {
    if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 200 {
        return Ok(None);
    }
    let Some(model) = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash(secret)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let now = Utc::now();
    // An invitation is never a credential: its hash is of a secret nobody was given, and it is refused here too.
    if model.revoked_at.is_some()
        || model.expires_at.is_some_and(|e| e <= now)
        || model.invited_subject.is_some()
    {
        return Ok(None);
    }
    info(model).map(Some)
}

/// The token with this id, whatever its state (revoked, expired, invitation), for services that link a record to a
/// token and check its role and hub themselves; never its secret.
pub async fn token_by_id<C: ConnectionTrait>(
    db: &C,
    id: i32,
) -> Result<Option<TokenInfo>, AccessError> {
    api_token::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(info)
        .transpose()
}
