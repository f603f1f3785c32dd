//! The change feed (`changes` connection and subscription) and webhooks, over `maillage_access`.
//!
//! Rights are the domain's: `list_changes` and the live stream both keep only what the caller may read.

use crate::kit::connection::{Connection, PageArgs, connection, page_request};
use crate::kit::error::{IntoGql, coded};
use crate::kit::id::{NodeKind, encode};
use crate::kit::state;
use crate::kit::territory::hub_id;
use async_graphql::{
    Context, Enum, ID, InputObject, Object, Subscription, futures_util::stream::BoxStream,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use maillage_access::AccessError;
use maillage_access::changes::{self, ChangeFilter, ChangePosition, HubFilter};
use maillage_core::Code;
use maillage_core::pagination::Cursor;
use maillage_core::{Actor, DepartmentCode, Role};

/// Where live changes come from: the server's fan-out, put in the subscription's data at connection time.
pub trait ChangeSource: Send + Sync + 'static {
    /// The changes `actor` may read that pass `filter`, after `after` (or from now).
    fn subscribe(
        &self,
        actor: Actor,
        filter: ChangeFilter,
        after: Option<ChangePosition>,
    ) -> BoxStream<'static, Result<changes::Change, AccessError>>;
}

/// What happened to an entity.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ChangeKind {
    /// It was created.
    Created,
    /// It changed.
    Updated,
    /// It was archived or deleted: a mirror removes it.
    Archived,
}

impl From<changes::ChangeKind> for ChangeKind {
    fn from(k: changes::ChangeKind) -> Self {
        match k {
            changes::ChangeKind::Created => Self::Created,
            changes::ChangeKind::Updated => Self::Updated,
            changes::ChangeKind::Archived => Self::Archived,
        }
    }
}

/// The global ID of an entity of the feed, when `node(id:)` resolves its type.
pub(crate) fn global_id(entity_type: &str, entity_id: &str) -> Option<ID> {
    let kind = match entity_type {
        "site" => NodeKind::Site,
        "hub" => NodeKind::Hub,
        "host_structure" => NodeKind::HostStructure,
        "funded_post" => NodeKind::FundedPost,
        "counsellor" => NodeKind::Counsellor,
        "aidants_organisation" => NodeKind::AidantsOrganisation,
        "aidant" => NodeKind::Aidant,
        "funding_envelope" => NodeKind::Envelope,
        "funding_rule" => NodeKind::FundingRule,
        "funding_grant" => NodeKind::Grant,
        "funding_disbursement" => NodeKind::Disbursement,
        "pass_programme" => NodeKind::PassProgramme,
        "ami_campaign" => NodeKind::AmiCampaign,
        "ami_application" => NodeKind::AmiApplication,
        "ami_score_sheet" => NodeKind::AmiScoreSheet,
        _ => return None,
    };
    Some(encode(kind, entity_id))
}

/// One committed write of one entity, in commit order.
pub struct ChangeNode(pub changes::Change);

/// One committed write of one entity, in commit order.
#[Object(name = "Change")]
impl ChangeNode {
    /// Its position: pass it as `after` to resume right after it (connection or subscription).
    async fn cursor(&self) -> String {
        self.0.position.cursor().as_str().to_owned()
    }

    /// The entity's global ID, for the types readable through `node(id:)` (sites, hubs, structures, posts,
    /// counsellors, organisations, aidants, envelopes, grants, dossiers, …); null for the others.
    async fn id(&self) -> Option<ID> {
        global_id(&self.0.entity_type, &self.0.entity_id)
    }

    /// The entity type: `site`, `hub`, `host_structure`, `funded_post`, `counsellor`, `aidants_organisation`,
    /// `aidant`, `funding_grant`, `funding_envelope`, `ami_application`, …
    async fn entity_type(&self) -> &str {
        &self.0.entity_type
    }

    /// The entity's id within its type.
    async fn entity_id(&self) -> &str {
        &self.0.entity_id
    }

    /// What happened.
    async fn kind(&self) -> ChangeKind {
        self.0.kind.into()
    }

    /// When (server clock).
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    /// The department concerned, if any.
    async fn department_code(&self) -> Option<&str> {
        self.0.department.as_ref().map(DepartmentCode::as_str)
    }

    /// Whether the entity is personal data (only callers who may read it get such changes).
    async fn personal_data(&self) -> bool {
        self.0.personal_data
    }
}

/// What to follow in the feed; on top of the caller's rights.
#[derive(InputObject, Default)]
#[graphql(name = "ChangeFilter")]
pub struct ChangeFilterInput {
    /// Only these entity types (see `Change.entityType`).
    pub entity_types: Option<Vec<String>>,
    /// Only changes in these departments (codes).
    pub departments: Option<Vec<String>>,
    /// Only changes of this hub or its departments: its global ID, or its slug.
    pub hub: Option<ID>,
}

impl ChangeFilterInput {
    pub(crate) async fn resolve(self, ctx: &Context<'_>) -> async_graphql::Result<ChangeFilter> {
        let db = &state(ctx)?.db;
        let departments = self
            .departments
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                DepartmentCode::parse(d).map_err(|e| {
                    coded(
                        &e.to_string(),
                        Code::InvalidValue,
                        Some(format!("filter.departments.{i}")),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let hub = match self.hub {
            Some(raw) => {
                // A hub no one has matches nothing, as `sites(filter: {hub})` does: ids start at 1.
                let id = hub_id(ctx, &raw, "filter.hub").await?;
                match maillage_territories::hubs_by_ids(db, &[id])
                    .await
                    .gql()?
                    .pop()
                {
                    Some(hub) => {
                        let scope = maillage_territories::hub_scope(db, hub.id).await.gql()?;
                        Some(HubFilter {
                            hub: scope.hub,
                            departments: scope.departments,
                        })
                    }
                    None => Some(HubFilter {
                        hub: maillage_core::HubId(0),
                        departments: Vec::new(),
                    }),
                }
            }
            None => None,
        };
        Ok(ChangeFilter {
            entity_types: self.entity_types.unwrap_or_default(),
            departments,
            hub,
        })
    }
}

/// Reading the change feed.
#[derive(Default)]
pub struct FeedQuery;

#[Object]
impl FeedQuery {
    /// Every committed write the caller may read, oldest first, after `after`: follow `pageInfo.endCursor` to stay in
    /// sync (see docs/SYNC.md). Personal data (aidants, counsellors) only for callers who may read it.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn changes(
        &self,
        ctx: &Context<'_>,
        filter: Option<ChangeFilterInput>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last change seen.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<ChangeNode>> {
        let s = state(ctx)?;
        let mut page = page_request(ctx, PageArgs::new(first, after, last, before))?;
        // The feed grows while it is read: it has no total.
        page.with_total = false;
        let filter = filter.unwrap_or_default().resolve(ctx).await?;
        let page = changes::list_changes(&s.db, &s.actor, &filter, &page)
            .await
            .gql()?;
        Ok(connection(page, ChangeNode))
    }
}

/// Live changes over WebSocket (`graphql-transport-ws` on `/graphql/ws`).
#[derive(Default)]
pub struct FeedSubscription;

/// Live changes over WebSocket (`graphql-transport-ws` on `/graphql/ws`).
#[Subscription]
impl FeedSubscription {
    /// The changes the caller may read, as they commit, after `after` (a cursor from a change or the `changes`
    /// connection: a client that reconnects with its last cursor misses nothing), or from now. The connection is
    /// closed when the caller's token is revoked or expires.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        filter: Option<ChangeFilterInput>,
    ) -> async_graphql::Result<BoxStream<'static, async_graphql::Result<ChangeNode>>> {
        let s = state(ctx)?;
        if s.actor.role() == Role::Anonymous {
            return Err(coded(
                "subscriptions need an API token (connection_init payload `Authorization: Bearer …`)",
                Code::Unauthenticated,
                None,
            ));
        }
        let source = ctx
            .data::<std::sync::Arc<dyn ChangeSource>>()
            .map_err(|_| {
                coded(
                    "subscriptions are not served here",
                    Code::InternalError,
                    None,
                )
            })?;
        let after = after
            .as_deref()
            .map(|a| ChangePosition::from_cursor(&Cursor::from_client(a)))
            .transpose()
            .gql()?;
        let filter = filter.unwrap_or_default().resolve(ctx).await?;
        Ok(source
            .subscribe(s.actor.clone(), filter, after)
            .map(|r| r.map(ChangeNode).gql())
            .boxed())
    }
}
