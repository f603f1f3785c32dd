//! The change feed (`changes` connection and subscription) and webhooks, over `maillage_access`.
//!
//! Rights are the domain's: `list_changes` and the live stream both keep only what the caller may read.

use crate::error::{IntoGql, coded};
use crate::id::{NodeKind, encode};
use crate::mutations::{UserError, classify, writer};
use crate::sites::PageInfo;
use crate::state;
use async_graphql::{
    Context, Enum, ID, InputObject, Object, SimpleObject, Subscription,
    futures_util::stream::BoxStream,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use maillage_access::AccessError;
use maillage_access::changes::{self, ChangeFilter, ChangePosition, HubFilter};
use maillage_access::webhooks::{self, DeliveryStatus, NewWebhook};
use maillage_core::pagination::{Cursor, Page, PageRequest};
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

/// Accepting `http://` webhook URLs to loopback addresses (development); absent from the schema data: https only.
#[derive(Debug, Clone, Copy)]
pub struct WebhookPolicy {
    /// Whether `http://127.0.0.1…` and `http://localhost…` are accepted.
    pub allow_http_loopback: bool,
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

/// One committed write of one entity, in commit order.
pub struct Change(changes::Change);

#[Object]
impl Change {
    /// Its position: pass it as `after` to resume right after it (connection or subscription).
    async fn cursor(&self) -> String {
        self.0.position.cursor().as_str().to_owned()
    }

    /// The entity's global ID, for the types readable through `node(id:)` (sites, hubs); null for the others.
    async fn id(&self) -> Option<ID> {
        let kind = match self.0.entity_type.as_str() {
            "site" => NodeKind::Site,
            "hub" => NodeKind::Hub,
            _ => return None,
        };
        Some(encode(kind, &self.0.entity_id))
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
pub struct ChangeFilterInput {
    /// Only these entity types (see `Change.entityType`).
    pub entity_types: Option<Vec<String>>,
    /// Only changes in these departments (codes).
    pub departments: Option<Vec<String>>,
    /// Only changes of this hub (slug) or its departments.
    pub hub: Option<String>,
}

impl ChangeFilterInput {
    async fn resolve(self, ctx: &Context<'_>) -> async_graphql::Result<ChangeFilter> {
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
                        "invalid_value",
                        Some(format!("filter.departments.{i}")),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let hub = match self.hub {
            Some(slug) => {
                let hub = maillage_territories::hub_by_slug(db, &slug)
                    .await
                    .gql()?
                    .ok_or_else(|| {
                        coded(
                            &format!("no hub {slug:?}"),
                            "not_found",
                            Some("filter.hub".to_owned()),
                        )
                    })?;
                let scope = maillage_territories::hub_scope(db, hub.id).await.gql()?;
                Some(HubFilter {
                    hub: scope.hub,
                    departments: scope.departments,
                })
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

/// A change and its cursor.
#[derive(SimpleObject)]
pub struct ChangeEdge {
    /// Opaque cursor.
    pub cursor: String,
    /// The change.
    pub node: Change,
}

/// A page of the change feed, oldest first. The last page may be empty: keep `pageInfo.endCursor` (or your last
/// cursor) and ask again later.
pub struct ChangeConnection(Page<changes::Change>);

#[Object]
impl ChangeConnection {
    /// Changes with cursors.
    async fn edges(&self) -> Vec<ChangeEdge> {
        self.0
            .items
            .iter()
            .map(|(c, ch)| ChangeEdge {
                cursor: c.as_str().to_owned(),
                node: Change(ch.clone()),
            })
            .collect()
    }

    /// The changes.
    async fn nodes(&self) -> Vec<Change> {
        self.0
            .items
            .iter()
            .map(|(_, ch)| Change(ch.clone()))
            .collect()
    }

    /// Paging information.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.0.has_next_page,
            has_previous_page: self.0.has_previous_page,
            start_cursor: self.0.items.first().map(|(c, _)| c.as_str().to_owned()),
            end_cursor: self.0.items.last().map(|(c, _)| c.as_str().to_owned()),
        }
    }
}

/// A registered webhook (its secret is shown once, at registration).
pub struct Webhook(webhooks::Webhook);

#[Object]
impl Webhook {
    /// Identifier.
    async fn id(&self) -> i32 {
        self.0.id
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Target URL.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// Only these entity types (empty: all the owner may read).
    async fn entity_types(&self) -> &[String] {
        &self.0.entity_types
    }
    /// Only these departments (empty: all the owner may read).
    async fn departments(&self) -> Vec<&str> {
        self.0
            .departments
            .iter()
            .map(DepartmentCode::as_str)
            .collect()
    }
    /// Who registered it; its rights filter every delivery.
    async fn owner(&self) -> &str {
        &self.0.owner_label
    }
    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The position of the last change handed to a delivery.
    async fn cursor(&self) -> String {
        self.0.cursor.cursor().as_str().to_owned()
    }
}

/// The state of a delivery.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum WebhookDeliveryStatus {
    /// Not delivered yet; retried at `nextAttemptAt`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; the webhook moved on (the changes stay in the feed).
    Failed,
}

/// One batch of changes posted to a webhook, with its attempts.
pub struct WebhookDelivery(webhooks::Delivery);

#[Object]
impl WebhookDelivery {
    /// Identifier (header `Maillage-Delivery-Id`).
    async fn id(&self) -> i32 {
        self.0.id
    }
    /// Its state.
    async fn status(&self) -> WebhookDeliveryStatus {
        match self.0.status {
            DeliveryStatus::Pending => WebhookDeliveryStatus::Pending,
            DeliveryStatus::Delivered => WebhookDeliveryStatus::Delivered,
            DeliveryStatus::Failed => WebhookDeliveryStatus::Failed,
        }
    }
    /// How many changes it carries.
    async fn change_count(&self) -> i32 {
        self.0.change_count
    }
    /// Attempts made.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The receiver's last HTTP status.
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }
    /// The last error (connection refused, timeout, refusal status).
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When the next attempt is due (pending only).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }
    /// When it was made.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the receiver accepted it.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    /// The JSON body posted (the same at every attempt).
    async fn body(&self) -> &str {
        &self.0.body
    }
}

/// A page of deliveries, newest first.
pub struct WebhookDeliveryConnection(Page<webhooks::Delivery>);

#[Object]
impl WebhookDeliveryConnection {
    /// The deliveries.
    async fn nodes(&self) -> Vec<WebhookDelivery> {
        self.0
            .items
            .iter()
            .map(|(_, d)| WebhookDelivery(d.clone()))
            .collect()
    }

    /// Paging information.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.0.has_next_page,
            has_previous_page: self.0.has_previous_page,
            start_cursor: self.0.items.first().map(|(c, _)| c.as_str().to_owned()),
            end_cursor: self.0.items.last().map(|(c, _)| c.as_str().to_owned()),
        }
    }
}

/// Reading the change feed and webhooks.
#[derive(Default)]
pub struct ChangesQuery;

#[Object]
impl ChangesQuery {
    /// Every committed write the caller may read, oldest first, after `after`: follow `pageInfo.endCursor` to stay in
    /// sync (see docs/SYNC.md). Personal data (aidants, counsellors) only for callers who may read it.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(minimum = 0, maximum = 100))] first: Option<i32>,
        after: Option<String>,
        filter: Option<ChangeFilterInput>,
    ) -> async_graphql::Result<ChangeConnection> {
        let s = state(ctx)?;
        let page = PageRequest::new(first, after.as_deref()).gql()?;
        let filter = filter.unwrap_or_default().resolve(ctx).await?;
        let page = changes::list_changes(&s.db, &s.actor, &filter, &page)
            .await
            .gql()?;
        Ok(ChangeConnection(page))
    }

    /// The webhooks the caller may manage (admins: all; a hub coordinator: its hub's).
    async fn webhooks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Webhook>> {
        let s = state(ctx)?;
        Ok(webhooks::list_webhooks(&s.db, &s.actor)
            .await
            .gql()?
            .into_iter()
            .map(Webhook)
            .collect())
    }

    /// The deliveries of one webhook, newest first.
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: i32,
        #[graphql(validator(minimum = 0, maximum = 100))] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<WebhookDeliveryConnection> {
        let s = state(ctx)?;
        let page = PageRequest::new(first, after.as_deref()).gql()?;
        Ok(WebhookDeliveryConnection(
            webhooks::list_deliveries(&s.db, &s.actor, webhook_id, &page)
                .await
                .gql()?,
        ))
    }
}

/// A webhook to register.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// A name for humans.
    pub name: String,
    /// `https://…` (plain http only to a loopback address on a development server).
    pub url: String,
    /// Only these entity types (default: all the caller may read).
    pub entity_types: Option<Vec<String>>,
    /// Only these departments (default: all the caller may read; a coordinator's must be its hub's).
    pub departments: Option<Vec<String>>,
}

/// The result of `createWebhook`.
#[derive(SimpleObject)]
pub struct CreateWebhookPayload {
    /// The webhook, unless refused.
    pub webhook: Option<Webhook>,
    /// The signing secret, shown this once: keep it to verify `Maillage-Signature`.
    pub secret: Option<String>,
    /// Why it was refused.
    pub user_errors: Vec<UserError>,
}

/// Which webhook to delete.
#[derive(InputObject)]
pub struct DeleteWebhookInput {
    /// Its id.
    pub id: i32,
}

/// The result of `deleteWebhook`.
#[derive(SimpleObject)]
pub struct DeleteWebhookPayload {
    /// The id deleted, unless refused.
    pub deleted_webhook_id: Option<i32>,
    /// Why it was refused.
    pub user_errors: Vec<UserError>,
}

/// Registering webhooks.
#[derive(Default)]
pub struct ChangesMutation;

#[Object]
impl ChangesMutation {
    /// Registers a webhook for a filter of the change feed (admins and hub coordinators).
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> async_graphql::Result<CreateWebhookPayload> {
        let actor = writer(ctx)?;
        let s = state(ctx)?;
        let allow_http_loopback = ctx
            .data_opt::<WebhookPolicy>()
            .is_some_and(|p| p.allow_http_loopback);
        let mut departments = Vec::new();
        for (i, d) in input.departments.unwrap_or_default().iter().enumerate() {
            match DepartmentCode::parse(d) {
                Ok(d) => departments.push(d),
                Err(e) => {
                    return Ok(CreateWebhookPayload {
                        webhook: None,
                        secret: None,
                        user_errors: vec![UserError {
                            field: vec!["input".into(), "departments".into(), i.to_string()],
                            code: "invalid_value".to_owned(),
                            message: e.to_string(),
                        }],
                    });
                }
            }
        }
        let new = NewWebhook {
            name: input.name,
            url: input.url,
            entity_types: input.entity_types.unwrap_or_default(),
            departments,
        };
        match webhooks::create_webhook(&s.db, &actor, new, allow_http_loopback).await {
            Ok((w, secret)) => Ok(CreateWebhookPayload {
                webhook: Some(Webhook(w)),
                secret: Some(secret),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(CreateWebhookPayload {
                webhook: None,
                secret: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Deletes a webhook and its deliveries.
    async fn delete_webhook(
        &self,
        ctx: &Context<'_>,
        input: DeleteWebhookInput,
    ) -> async_graphql::Result<DeleteWebhookPayload> {
        let actor = writer(ctx)?;
        let s = state(ctx)?;
        match webhooks::delete_webhook(&s.db, &actor, input.id).await {
            Ok(()) => Ok(DeleteWebhookPayload {
                deleted_webhook_id: Some(input.id),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(DeleteWebhookPayload {
                deleted_webhook_id: None,
                user_errors: classify(&e)?,
            }),
        }
    }
}

/// Live changes over WebSocket (`graphql-transport-ws` on `/graphql/ws`).
#[derive(Default)]
pub struct ChangesSubscription;

#[Subscription]
impl ChangesSubscription {
    /// The changes the caller may read, as they commit, after `after` (a cursor from a change or the `changes`
    /// connection: a client that reconnects with its last cursor misses nothing), or from now. The connection is
    /// closed when the caller's token is revoked or expires.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        filter: Option<ChangeFilterInput>,
    ) -> async_graphql::Result<BoxStream<'static, async_graphql::Result<Change>>> {
        let s = state(ctx)?;
        if s.actor.role() == Role::Anonymous {
            return Err(coded(
                "subscriptions need an API token (connection_init payload `Authorization: Bearer …`)",
                "unauthenticated",
                None,
            ));
        }
        let source = ctx
            .data::<std::sync::Arc<dyn ChangeSource>>()
            .map_err(|_| coded("subscriptions are not served here", "internal_error", None))?;
        let after = after
            .as_deref()
            .map(|a| ChangePosition::from_cursor(&Cursor::from_client(a)))
            .transpose()
            .gql()?;
        let filter = filter.unwrap_or_default().resolve(ctx).await?;
        Ok(source
            .subscribe(s.actor.clone(), filter, after)
            .map(|r| r.map(Change).gql())
            .boxed())
    }
}
