//! API tokens: created by admins, shown once, stored as a hash.

use crate::AccessError;
use crate::audit::{AuditChanges, AuditEntry, record};
use crate::entity::api_token;
use chrono::{DateTime, Utc};
use maillage_core::error::FieldPath;
use maillage_core::{Actor, HubId, Role};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked secret is recognisable by secret scanners and humans.
const TOKEN_PREFIX: &str = "mlg_";

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Who or what uses it (shown in the audit trail).
    pub name: String,
    /// The role it grants.
    pub role: Role,
    /// The hub, required for (and only for) hub coordinators.
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
    /// Hub, for hub coordinators.
    pub hub: Option<HubId>,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenInfo {
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
    })
}

/// Creates a token; returns it with its secret, which is shown this once and never stored.
#[tracing::instrument(skip_all, fields(token.role = %new.role))]
pub async fn create_token<C: TransactionTrait>(
    db: &C,
    actor: &Actor,
    new: NewToken,
) -> Result<(TokenInfo, String), AccessError> {
    if !actor.is_admin() {
        return Err(AccessError::Forbidden(
            "only admins create tokens".to_owned(),
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
        (role, Some(_)) if role != Role::HubCoordinator => {
            return Err(AccessError::InvalidInput {
                field: FieldPath::new("hub"),
                message: "only hub coordinator tokens are bound to a hub".to_owned(),
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
    let secret = new_secret()?;
    let txn = maillage_core::db::begin_write(db).await?;
    let model = api_token::ActiveModel {
        name: Set(name),
        role: Set(new.role.as_str().to_owned()),
        hub_id: Set(new.hub.map(|h| h.0)),
        token_hash: Set(hash(&secret)),
        prefix: Set(secret.chars().take(12).collect()),
        created_at: Set(Utc::now()),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let token = info(model)?;
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

/// Every token, newest first (admins only).
pub async fn list_tokens<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
) -> Result<Vec<TokenInfo>, AccessError> {
    if !actor.is_admin() {
        return Err(AccessError::Forbidden("only admins list tokens".to_owned()));
    }
    api_token::Entity::find()
        .order_by_desc(api_token::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(info)
        .collect()
}

/// Revokes a token at once (admins only); revoking twice keeps the first time.
pub async fn revoke_token<C: TransactionTrait>(
    db: &C,
    actor: &Actor,
    id: i32,
) -> Result<TokenInfo, AccessError> {
    if !actor.is_admin() {
        return Err(AccessError::Forbidden(
            "only admins revoke tokens".to_owned(),
        ));
    }
    let txn = maillage_core::db::begin_write(db).await?;
    let model = api_token::Entity::find_by_id(id)
        .one(&txn)
        .await?
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
    if model.revoked_at.is_some() || model.expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    info(model).map(Some)
}
