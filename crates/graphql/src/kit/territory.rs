//! The one way to name a hub, a department or a region in an argument or a filter.
//!
//! A hub is named by its global ID; where a human types it (a filter, a statistics argument, an export), its slug
//! is accepted in the same argument. A department or a region is named by its INSEE code, which is also the key of
//! its global ID, so its global ID is accepted too. The argument type is `ID` everywhere.
//!
//! A slug can never be mistaken for a global ID: slugs are lower-case, and a global ID of another kind is refused
//! with `invalid_id` rather than read as a slug.

use crate::kit::error::{IntoGql, coded};
use crate::kit::id::{IdError, NodeKind, parse};
use crate::kit::state;
use async_graphql::{Context, ID};
use maillage_core::Code;
use maillage_core::HubId;

/// A hub as an argument names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubName {
    /// By global ID.
    Id(HubId),
    /// By slug.
    Slug(String),
}

/// Reads a hub argument: a `Hub` global ID, or else a slug; another kind's global ID is `invalid_id` at `field`.
pub fn hub_name(raw: &ID, field: &str) -> async_graphql::Result<HubName> {
    let invalid = |e: IdError| coded(&e.to_string(), Code::InvalidId, Some(field.to_owned()));
    match parse(raw) {
        Ok((NodeKind::Hub, key)) => key
            .parse()
            .map(|n| HubName::Id(HubId(n)))
            .map_err(|_| invalid(IdError::Malformed)),
        Ok(_) => Err(invalid(IdError::WrongKind("Hub"))),
        Err(_) => Ok(HubName::Slug(raw.trim().to_owned())),
    }
}

/// The database id of the hub an argument names; a hub that does not exist is `HubId(0)`, which no hub has (ids
/// start at 1), so that an unknown hub in a filter matches nothing, as it always has.
pub async fn hub_id(ctx: &Context<'_>, raw: &ID, field: &str) -> async_graphql::Result<HubId> {
    match hub_name(raw, field)? {
        HubName::Id(id) => Ok(id),
        HubName::Slug(slug) => Ok(maillage_territories::hub_by_slug(&state(ctx)?.db, &slug)
            .await
            .gql()?
            .map_or(HubId(0), |h| h.id)),
    }
}

/// The slug of the hub an argument names, for domain filters keyed by slug; a global ID naming no hub becomes a
/// text no slug can equal (it has upper-case letters), so that it matches nothing.
pub async fn hub_slug(ctx: &Context<'_>, raw: &ID, field: &str) -> async_graphql::Result<String> {
    match hub_name(raw, field)? {
        HubName::Slug(slug) => Ok(slug),
        HubName::Id(id) => Ok(maillage_territories::hubs_by_ids(&state(ctx)?.db, &[id])
            .await
            .gql()?
            .pop()
            .map_or_else(|| raw.to_string(), |h| h.slug)),
    }
}

/// An optional hub argument as a slug ([`hub_slug`]).
pub async fn opt_hub_slug(
    ctx: &Context<'_>,
    raw: Option<&ID>,
    field: &str,
) -> async_graphql::Result<Option<String>> {
    match raw {
        Some(raw) => Ok(Some(hub_slug(ctx, raw, field).await?)),
        None => Ok(None),
    }
}

/// The INSEE code a department or region argument names: its code, or its global ID (whose key is the code).
pub fn territory_code(raw: &str, kind: NodeKind) -> String {
    match parse(raw) {
        Ok((k, key)) if k == kind => key,
        _ => raw.trim().to_owned(),
    }
}

/// The hub an input names, if it exists (for mutations, which answer an unknown hub with a user error).
pub async fn known_hub(
    ctx: &Context<'_>,
    raw: &ID,
) -> async_graphql::Result<Option<maillage_territories::Hub>> {
    let db = &state(ctx)?.db;
    match hub_name(raw, "input.hub")? {
        HubName::Id(id) => Ok(maillage_territories::hubs_by_ids(db, &[id])
            .await
            .gql()?
            .pop()),
        HubName::Slug(slug) => maillage_territories::hub_by_slug(db, &slug).await.gql(),
    }
}
