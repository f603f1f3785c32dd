//! Webhooks: a URL that receives the change feed, filtered, signed, retried, with every delivery recorded.
//!
//! An admin or a hub coordinator registers a URL for a filter of the feed; the secret that signs deliveries is shown
//! once. Each webhook keeps its own cursor in the feed: the server's worker ([`next_delivery`], then
//! [`record_attempt`]) turns the changes after it into one delivery (a batch, in feed order), posts it, and moves on
//! only when the receiver answered 2xx or the delivery ran out of attempts. A receiver that is down therefore delays
//! its own deliveries and nothing else: writes never wait for webhooks, and other webhooks keep their pace.
//!
//! The owner's rights at delivery time decide what is sent ([`crate::changes::may_read`]): a coordinator's webhook
//! never carries a change outside its territory, nor personal data it may not read.
//!
//! **Signature.** Header `Maillage-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; a
//! receiver recomputes it over the raw body ([`verify_signature`]) and refuses old timestamps (replays).
//!
//! Several server instances may run the worker: a delivery is created by moving the webhook's cursor with a
//! compare-and-set, and an attempt is claimed by moving its `next_attempt_at` the same way, so each batch is made
//! once and each attempt made by one instance.

use crate::AccessError;
use crate::changes::{self, Change, ChangeFilter, ChangePosition, may_read};
use crate::entity::{webhook, webhook_delivery};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use maillage_core::error::FieldPath;
use maillage_core::pagination::{Cursor, Page, PageRequest};
use maillage_core::{Actor, DepartmentCode, HubId, Role};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use sha2::Sha256;
use std::net::IpAddr;
use std::time::Duration;

/// The header carrying `t=…,v1=…`.
pub const SIGNATURE_HEADER: &str = "Maillage-Signature";
/// The most changes in one delivery.
pub const MAX_BATCH: u64 = 100;
/// How long an instance holds an attempt it claimed before another instance may retry it.
const CLAIM_LEASE: Duration = Duration::from_secs(60);

/// A webhook to register.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    /// A name for humans.
    pub name: String,
    /// Where to post: `https://…` (or `http://` to a loopback address where the server allows it).
    pub url: String,
    /// Only these entity types (empty: all the owner may read).
    pub entity_types: Vec<String>,
    /// Only these departments (empty: all the owner may read).
    pub departments: Vec<DepartmentCode>,
}

/// A registered webhook (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Identifier.
    pub id: i32,
    /// Name.
    pub name: String,
    /// Target URL.
    pub url: String,
    /// Who registered it (its rights filter the deliveries).
    pub owner_label: String,
    /// The owner's role.
    pub owner_role: Role,
    /// The owner's hub, for a coordinator.
    pub hub: Option<HubId>,
    /// Entity types filter.
    pub entity_types: Vec<String>,
    /// Departments filter.
    pub departments: Vec<DepartmentCode>,
    /// Whether deliveries are made.
    pub active: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// The last change handed to a delivery.
    pub cursor: ChangePosition,
}

/// What the worker needs to deliver: the webhook, its secret, its feed filter.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// The webhook.
    pub webhook: Webhook,
    /// The signing secret.
    pub secret: String,
}

impl WebhookTarget {
    /// The feed filter of this webhook.
    pub fn filter(&self) -> ChangeFilter {
        ChangeFilter {
            entity_types: self.webhook.entity_types.clone(),
            departments: self.webhook.departments.clone(),
            hub: None,
        }
    }
}

/// The state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not delivered yet; retried at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; the webhook moved on (the changes stay readable in the feed).
    Failed,
}

impl DeliveryStatus {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(raw: &str) -> Self {
        match raw {
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One batch of changes for one webhook, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Identifier.
    pub id: i32,
    /// The webhook.
    pub webhook_id: i32,
    /// The JSON body posted (the same at every attempt).
    pub body: String,
    /// How many changes it carries.
    pub change_count: i32,
    /// The first change's position.
    pub first: ChangePosition,
    /// The last change's position.
    pub last: ChangePosition,
    /// Its state.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's last HTTP status.
    pub last_status_code: Option<i32>,
    /// The last transport error or refusal.
    pub last_error: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When the receiver accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// How failed attempts are retried: `base × 2^(attempt−1)`, at most `max_delay`, `max_attempts` in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub base: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: i32,
}

impl Default for RetryPolicy {
    /// 10 s, 20 s, 40 s, … up to one hour, 12 attempts (about 9 hours).
    fn default() -> Self {
        Self {
            base: Duration::from_secs(10),
            max_delay: Duration::from_secs(3600),
            max_attempts: 12,
        }
    }
}

impl RetryPolicy {
    /// The delay after the `attempts`-th failure.
    pub fn delay_after(&self, attempts: i32) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.base
            .checked_mul(2u32.saturating_pow(exp))
            .map_or(self.max_delay, |d| std::cmp::min(d, self.max_delay))
    }
}

/// What the receiver did with one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// It answered with this HTTP status.
    Status(u16),
    /// No answer: connection refused, timeout, TLS error, …
    Error(String),
}

fn forbidden(message: &str) -> AccessError {
    AccessError::Forbidden(message.to_owned())
}

fn invalid(field: &str, message: impl Into<String>) -> AccessError {
    AccessError::InvalidInput {
        field: FieldPath::new("input").push(field),
        message: message.into(),
    }
}

fn internal(message: String) -> AccessError {
    AccessError::Database(sea_orm::DbErr::Custom(message))
}

/// The scheme, host and port of a URL (the port defaults to the scheme's), without parsing more than needed.
fn url_parts(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (host, after) = v6.split_once(']').unwrap_or((v6, ""));
        (host, after.strip_prefix(':'))
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    let default_port = if scheme == "http" { 80 } else { 443 };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((scheme, host.to_owned(), port))
}

/// Whether a webhook may be posted to `ip`: a public unicast address, not loopback, private (RFC 1918, unique
/// local), link-local (which holds cloud metadata endpoints), carrier-grade NAT, unspecified, broadcast,
/// multicast or documentation. An IPv4 address mapped into IPv6 is judged as the IPv4 address it is.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_address(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
                || (first == 0x64 && v6.segments()[1] == 0xff9b))
        }
    }
}

/// Resolves a webhook URL's host and checks every address it resolves to with [`is_public_address`], unless
/// `allow_private` (development and tests, whose receivers listen on loopback). Called at registration; the
/// delivery worker checks again at each connection, since DNS answers can change after registration (rebinding).
pub async fn check_destination(url: &str, allow_private: bool) -> Result<(), AccessError> {
    if allow_private {
        return Ok(());
    }
    let (_, host, port) =
        url_parts(url).ok_or_else(|| invalid("url", "a webhook URL needs a host"))?;
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| {
                invalid(
                    "url",
                    format!("the webhook host {host:?} does not resolve: {e}"),
                )
            })?
            .map(|a| a.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(invalid(
            "url",
            format!("the webhook host {host:?} does not resolve"),
        ));
    }
    if let Some(ip) = addresses.iter().find(|ip| !is_public_address(**ip)) {
        return Err(invalid(
            "url",
            format!(
                "the webhook host {host:?} resolves to {ip}, a loopback, private or link-local address: webhooks \
                 go to public addresses only"
            ),
        ));
    }
    Ok(())
}

/// Checks a webhook URL: `https://host…`, or `http://` to a loopback host when `allow_http_loopback`.
pub fn validate_url(url: &str, allow_http_loopback: bool) -> Result<(), AccessError> {
    let url = url.trim();
    let (scheme, _) = url
        .split_once("://")
        .ok_or_else(|| invalid("url", "a webhook URL must start with https://"))?;
    let host = url_parts(url).map(|(_, h, _)| h).unwrap_or_default();
    let host = host.as_str();
    if host.is_empty() || url.len() > 2000 || url.chars().any(char::is_whitespace) {
        return Err(invalid("url", "a webhook URL needs a host"));
    }
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if allow_http_loopback && loopback => Ok(()),
        "http" => Err(invalid(
            "url",
            "a webhook URL must use https:// (plain http only to a loopback address, in development)",
        )),
        _ => Err(invalid("url", "a webhook URL must start with https://")),
    }
}

fn new_secret() -> Result<String, AccessError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| internal(format!("no randomness available: {e}")))?;
    let body: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("whsec_{body}"))
}

fn hmac_hex(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty tag would only fail verification.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The value of [`SIGNATURE_HEADER`] for `body` sent at `timestamp` (unix seconds).
pub fn signature_header(secret: &str, timestamp: i64, body: &str) -> String {
    format!("t={timestamp},v1={}", hmac_hex(secret, timestamp, body))
}

/// Whether `header` signs `body` with `secret` at a time within `tolerance` of `now` (what a receiver checks).
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &str,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> bool {
    let mut timestamp = None;
    let mut tag = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => tag = Some(v.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(tag)) = (timestamp, tag) else {
        return false;
    };
    let age = now.timestamp().abs_diff(t);
    if age > tolerance.as_secs() {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let Some(bytes) = decode_hex(&tag) else {
        return false;
    };
    // verify_slice compares in constant time.
    mac.verify_slice(&bytes).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn webhook_from(m: webhook::Model) -> Result<Webhook, AccessError> {
    let owner_role = Role::parse(&m.owner_role)
        .ok_or_else(|| internal(format!("webhook {} has an unknown role", m.id)))?;
    let entity_types: Vec<String> = serde_json::from_str(&m.entity_types)
        .map_err(|e| internal(format!("webhook {}: {e}", m.id)))?;
    let departments: Vec<String> = serde_json::from_str(&m.departments)
        .map_err(|e| internal(format!("webhook {}: {e}", m.id)))?;
    Ok(Webhook {
        id: m.id,
        name: m.name,
        url: m.url,
        owner_label: m.owner_label,
        owner_role,
        hub: m.hub_id.map(HubId),
        entity_types,
        departments: departments
            .iter()
            .filter_map(|d| DepartmentCode::parse(d).ok())
            .collect(),
        active: m.active,
        created_at: m.created_at,
        cursor: ChangePosition {
            txid: m.cursor_txid,
            id: m.cursor_id,
        },
    })
}

fn delivery_from(m: webhook_delivery::Model) -> Delivery {
    Delivery {
        id: m.id,
        webhook_id: m.webhook_id,
        body: m.body,
        change_count: m.change_count,
        first: ChangePosition {
            txid: m.first_txid,
            id: m.first_id,
        },
        last: ChangePosition {
            txid: m.last_txid,
            id: m.last_id,
        },
        status: DeliveryStatus::parse(&m.status),
        attempts: m.attempts,
        next_attempt_at: m.next_attempt_at,
        last_status_code: m.last_status_code,
        last_error: m.last_error,
        created_at: m.created_at,
        delivered_at: m.delivered_at,
    }
}

/// Registers a webhook; returns it with its signing secret, shown this once.
///
/// Admins and hub coordinators only; a coordinator's departments must be its hub's (deliveries are filtered by its
/// rights anyway). The webhook starts at the current end of the feed: it receives what happens from now on.
#[tracing::instrument(skip_all)]
pub async fn create_webhook<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    new: NewWebhook,
    allow_http_loopback: bool,
) -> Result<(Webhook, String), AccessError> {
    let hub = match actor.role() {
        Role::Admin => None,
        Role::HubCoordinator => {
            let scope = actor
                .hub_scope()
                .ok_or_else(|| forbidden("this token has no hub"))?;
            if let Some((i, d)) = new
                .departments
                .iter()
                .enumerate()
                .find(|(_, d)| !scope.departments.contains(d))
            {
                return Err(AccessError::InvalidInput {
                    field: FieldPath::new("input").push("departments").index(i),
                    message: format!("department {} is not covered by your hub", d.as_str()),
                });
            }
            Some(scope.hub)
        }
        _ => {
            return Err(forbidden(
                "webhooks are registered by admins and hub coordinators only",
            ));
        }
    };
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid(
            "name",
            "a webhook needs a name of 1 to 100 characters",
        ));
    }
    validate_url(&new.url, allow_http_loopback)?;
    check_destination(&new.url, allow_http_loopback).await?;
    let secret = new_secret()?;
    let head = changes::feed_head(db).await?;
    let m = webhook::ActiveModel {
        name: Set(name),
        url: Set(new.url.trim().to_owned()),
        secret: Set(secret.clone()),
        owner_label: Set(actor.label().to_owned()),
        owner_role: Set(actor.role().as_str().to_owned()),
        hub_id: Set(hub.map(|h| h.0)),
        entity_types: Set(json!(new.entity_types).to_string()),
        departments: Set(json!(
            new.departments
                .iter()
                .map(DepartmentCode::as_str)
                .collect::<Vec<_>>()
        )
        .to_string()),
        cursor_txid: Set(head.txid),
        cursor_id: Set(head.id),
        active: Set(true),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((webhook_from(m)?, secret))
}

fn owns(actor: &Actor, w: &Webhook) -> bool {
    match actor.role() {
        Role::Admin => true,
        Role::HubCoordinator => actor.hub_scope().is_some_and(|s| w.hub == Some(s.hub)),
        _ => false,
    }
}

/// The webhooks `actor` may see: all for admins, its hub's for a coordinator.
pub async fn list_webhooks<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
) -> Result<Vec<Webhook>, AccessError> {
    let rows = webhook::Entity::find()
        .order_by_asc(webhook::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for m in rows {
        let w = webhook_from(m)?;
        if owns(actor, &w) {
            out.push(w);
        }
    }
    Ok(out)
}

async fn owned<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> Result<Webhook, AccessError> {
    let m = webhook::Entity::find_by_id(id).one(db).await?;
    match m.map(webhook_from).transpose()? {
        Some(w) if owns(actor, &w) => Ok(w),
        // Someone else's webhook is reported as absent, so ids cannot be probed.
        _ => Err(AccessError::InvalidInput {
            field: FieldPath::new("id"),
            message: format!("no webhook {id}"),
        }),
    }
}

/// Deletes a webhook and its deliveries.
pub async fn delete_webhook<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: i32,
) -> Result<(), AccessError> {
    owned(db, actor, id).await?;
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::WebhookId.eq(id))
        .exec(db)
        .await?;
    webhook::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// The deliveries of one webhook, newest first.
pub async fn list_deliveries<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    webhook_id: i32,
    page: &PageRequest,
) -> Result<Page<Delivery>, AccessError> {
    owned(db, actor, webhook_id).await?;
    let mut query =
        webhook_delivery::Entity::find().filter(webhook_delivery::Column::WebhookId.eq(webhook_id));
    if let Some(after) = &page.after {
        let id: i32 = after.decode()?;
        query = query.filter(page.past(webhook_delivery::Column::Id, false, id));
    }
    let rows = maillage_core::db::page_rows(
        db,
        query
            .order_by(webhook_delivery::Column::Id, page.order(false))
            .limit(u64::from(page.first) + 1),
    )
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(delivery_from).collect(),
        page,
        None,
        |d| Cursor::encode(&d.id),
    ))
}

/// Every active webhook with its secret, for the delivery worker (no actor: the worker is the server itself).
pub async fn webhooks_to_deliver<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<WebhookTarget>, AccessError> {
    let rows = webhook::Entity::find()
        .filter(webhook::Column::Active.eq(true))
        .order_by_asc(webhook::Column::Id)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|m| {
            let secret = m.secret.clone();
            Ok(WebhookTarget {
                webhook: webhook_from(m)?,
                secret,
            })
        })
        .collect()
}

fn change_json(c: &Change) -> serde_json::Value {
    json!({
        "cursor": c.position.cursor().as_str(),
        "entityType": c.entity_type,
        "entityId": c.entity_id,
        "kind": c.kind.as_str(),
        "occurredAt": c.occurred_at.to_rfc3339(),
        "department": c.department.as_ref().map(DepartmentCode::as_str),
        "hub": c.hub.map(|h| h.0),
    })
}

/// The delivery to attempt now for `target`, if any, claimed for this instance.
///
/// A pending delivery due now comes first (its attempt is claimed for a lease). Otherwise the changes after the
/// webhook's cursor that `owner` may read and the filter keeps become a new delivery, and the cursor moves past
/// everything scanned. `None`: nothing due.
#[tracing::instrument(skip_all, fields(webhook.id = target.webhook.id))]
pub async fn next_delivery<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    target: &WebhookTarget,
    owner: &Actor,
) -> Result<Option<Delivery>, AccessError> {
    let w = &target.webhook;
    let now = Utc::now();
    let pending = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::WebhookId.eq(w.id))
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .order_by_asc(webhook_delivery::Column::Id)
        .one(db)
        .await?;
    if let Some(p) = pending {
        // Deliveries of one webhook go in order: nothing new while one is pending.
        let due = p.next_attempt_at.is_none_or(|t| t <= now);
        if !due {
            return Ok(None);
        }
        let lease = now + chrono::Duration::from_std(CLAIM_LEASE).unwrap_or_default();
        let mut claim = webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(lease))
            .filter(webhook_delivery::Column::Id.eq(p.id));
        claim = match p.next_attempt_at {
            Some(t) => claim.filter(webhook_delivery::Column::NextAttemptAt.eq(t)),
            None => claim.filter(webhook_delivery::Column::NextAttemptAt.is_null()),
        };
        let claimed = claim.exec(db).await?.rows_affected == 1;
        return Ok(claimed.then(|| delivery_from(p)));
    }
    let filter = target.filter();
    let mut cursor = w.cursor;
    let mut batch: Vec<Change> = Vec::new();
    loop {
        let scanned = changes::read_feed(db, Some(cursor), MAX_BATCH).await?;
        let Some(last) = scanned.last() else { break };
        let full = scanned.len() as u64 == MAX_BATCH;
        cursor = last.position;
        for c in scanned {
            if may_read(owner, &c) && filter.matches(&c) {
                batch.push(c);
                if batch.len() as u64 == MAX_BATCH {
                    cursor = batch.last().map_or(cursor, |c| c.position);
                    break;
                }
            }
        }
        if !full || batch.len() as u64 == MAX_BATCH {
            break;
        }
    }
    if cursor == w.cursor {
        return Ok(None);
    }
    let txn = maillage_core::db::begin_write(db).await?;
    // Compare-and-set on the cursor: another instance that made this batch first wins, this one makes nothing.
    let moved = webhook::Entity::update_many()
        .col_expr(webhook::Column::CursorTxid, Expr::value(cursor.txid))
        .col_expr(webhook::Column::CursorId, Expr::value(cursor.id))
        .filter(webhook::Column::Id.eq(w.id))
        .filter(webhook::Column::CursorTxid.eq(w.cursor.txid))
        .filter(webhook::Column::CursorId.eq(w.cursor.id))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    let (Some(first), Some(last), true) = (batch.first(), batch.last(), moved) else {
        txn.commit().await?;
        return Ok(None);
    };
    let body = json!({
        "webhookId": w.id,
        "changes": batch.iter().map(change_json).collect::<Vec<_>>(),
    })
    .to_string();
    let lease = now + chrono::Duration::from_std(CLAIM_LEASE).unwrap_or_default();
    let m = webhook_delivery::ActiveModel {
        webhook_id: Set(w.id),
        first_txid: Set(first.position.txid),
        first_id: Set(first.position.id),
        last_txid: Set(last.position.txid),
        last_id: Set(last.position.id),
        change_count: Set(i32::try_from(batch.len()).unwrap_or(i32::MAX)),
        body: Set(body),
        status: Set(DeliveryStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(Some(lease)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Some(delivery_from(m)))
}

/// Records one attempt of `delivery`: delivered on 2xx, else retried later per `policy`, or failed for good.
pub async fn record_attempt<C: ConnectionTrait>(
    db: &C,
    delivery: &Delivery,
    outcome: &AttemptOutcome,
    policy: &RetryPolicy,
) -> Result<Delivery, AccessError> {
    let now = Utc::now();
    let attempts = delivery.attempts + 1;
    let (status_code, error) = match outcome {
        AttemptOutcome::Status(s) => (Some(i32::from(*s)), None),
        AttemptOutcome::Error(e) => (None, Some(e.chars().take(500).collect::<String>())),
    };
    let ok = matches!(outcome, AttemptOutcome::Status(s) if (200..300).contains(s));
    let status = if ok {
        DeliveryStatus::Delivered
    } else if attempts >= policy.max_attempts {
        DeliveryStatus::Failed
    } else {
        DeliveryStatus::Pending
    };
    let next = (status == DeliveryStatus::Pending).then(|| {
        now + chrono::Duration::from_std(policy.delay_after(attempts)).unwrap_or_default()
    });
    let m = webhook_delivery::ActiveModel {
        id: Set(delivery.id),
        status: Set(status.as_str().to_owned()),
        attempts: Set(attempts),
        next_attempt_at: Set(next),
        last_status_code: Set(status_code),
        last_error: Set(error.or_else(|| {
            (!ok).then(|| format!("the receiver answered {}", status_code.unwrap_or_default()))
        })),
        delivered_at: Set(ok.then_some(now)),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(delivery_from(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn only_public_unicast_addresses_receive_webhooks() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public_address(ip(private)), "{private}");
        }
        for public in ["93.184.215.14", "1.1.1.1", "2a00:1450:4007:80e::200e"] {
            assert!(is_public_address(ip(public)), "{public}");
        }
    }

    #[tokio::test]
    async fn destinations_are_checked_by_address_unless_development_allows_them() {
        for url in [
            "https://127.0.0.1/x",
            "https://localhost:8443/x",
            "https://[::1]/x",
            "https://169.254.169.254/latest/meta-data",
            "https://user@10.0.0.1:443/x",
        ] {
            let refused = check_destination(url, false).await;
            assert!(
                matches!(refused, Err(AccessError::InvalidInput { .. })),
                "{url}: {refused:?}"
            );
            assert!(check_destination(url, true).await.is_ok(), "{url}");
        }
        assert!(
            check_destination("https://93.184.215.14/x", false)
                .await
                .is_ok()
        );
        assert_eq!(
            url_parts("https://[::1]:8443/x"),
            Some(("https".to_owned(), "::1".to_owned(), 8443))
        );
        assert_eq!(
            url_parts("HTTP://example.org/x").map(|(_, _, p)| p),
            Some(80)
        );
    }
}
