//! Webhooks: registration, listing, deliveries (the delivery worker is the server's).

use crate::kit::connection::{Connection, PageArgs, connection, page_request};
use crate::kit::error::IntoGql;
use crate::kit::payload::{UserError, classify, writer};
use crate::kit::state;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use maillage_access::webhooks::{self, DeliveryStatus, NewWebhook};
use maillage_core::{Code, DepartmentCode};

/// Accepting `http://` webhook URLs to loopback addresses (development); absent from the request data: https only.
#[derive(Debug, Clone, Copy)]
pub struct WebhookPolicy {
    /// Whether `http://127.0.0.1…` and `http://localhost…` are accepted.
    pub allow_http_loopback: bool,
}

/// A registered webhook (its secret is shown once, at registration).
pub struct WebhookNode(pub webhooks::Webhook);

/// A registered webhook (its secret is shown once, at registration).
#[Object(name = "Webhook")]
impl WebhookNode {
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
pub struct WebhookDeliveryNode(pub webhooks::Delivery);

/// One batch of changes posted to a webhook, with its attempts.
#[Object(name = "WebhookDelivery")]
impl WebhookDeliveryNode {
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

/// Reading webhooks.
#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// The webhooks the caller may manage (admins: all; a hub coordinator: its hub's).
    async fn webhooks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WebhookNode>> {
        let s = state(ctx)?;
        Ok(webhooks::list_webhooks(&s.db, &s.actor)
            .await
            .gql()?
            .into_iter()
            .map(WebhookNode)
            .collect())
    }

    /// The deliveries of one webhook, newest first.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: i32,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<WebhookDeliveryNode>> {
        let s = state(ctx)?;
        let mut page = page_request(ctx, PageArgs::new(first, after, last, before))?;
        page.with_total = false;
        let page = webhooks::list_deliveries(&s.db, &s.actor, webhook_id, &page)
            .await
            .gql()?;
        Ok(connection(page, WebhookDeliveryNode))
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
    pub webhook: Option<WebhookNode>,
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
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
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
                            code: Code::InvalidValue.as_str().to_owned(),
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
                webhook: Some(WebhookNode(w)),
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
