#![doc = include_str!("../README.md")]

pub mod audit;
pub mod changes;
mod entity;
mod error;
pub mod tokens;
pub mod webhooks;

pub use audit::{
    AuditChanges, AuditEntry, AuditFilter, AuditRecord, list_audit, record, record_many,
};
pub use error::AccessError;
pub use tokens::{
    NewToken, TokenInfo, accept_invitation, authenticate_token, create_token,
    invite_hub_coordinator_in, list_tokens, pending_invitations, revoke_token, token_by_id,
};
