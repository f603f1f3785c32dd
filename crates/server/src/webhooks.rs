//! The webhook delivery worker: posts each webhook's deliveries, signed, and records every attempt.
//!
//! The rules (what a delivery holds, who may see what, retries, claims across instances) are the domain's
//! (`maillage_access::webhooks`); this worker only finds due work, makes the HTTP requests and reports outcomes. Each
//! webhook is served by its own task, one request at a time with a timeout, so a receiver that is slow or down holds up
//! its own deliveries and nothing else.

use chrono::Utc;
use clap::Args;
use maillage_access::webhooks::{
    AttemptOutcome, Delivery, RetryPolicy, SIGNATURE_HEADER, WebhookTarget, is_public_address,
    next_delivery, record_attempt, signature_header, webhooks_to_deliver,
};
use maillage_core::{Actor, Role};
use sea_orm::DatabaseConnection;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Webhook delivery settings.
#[derive(Debug, Clone, Args)]
pub struct WebhookConfig {
    /// Run the delivery worker in this instance (several instances may run it: work is claimed in the database).
    #[arg(long = "webhooks", env = "MAILLAGE_WEBHOOKS", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,

    /// Milliseconds between two looks for due deliveries.
    #[arg(long, env = "MAILLAGE_WEBHOOK_TICK_MS", default_value_t = 1000)]
    pub webhook_tick_ms: u64,

    /// Seconds a receiver gets to answer one delivery.
    #[arg(long, env = "MAILLAGE_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub webhook_timeout_secs: u64,

    /// Seconds before the first retry; each next retry waits twice as long (at most one hour).
    #[arg(long, env = "MAILLAGE_WEBHOOK_RETRY_BASE_SECS", default_value_t = 10)]
    pub webhook_retry_base_secs: u64,

    /// Attempts before a delivery is marked failed (the webhook then moves on; the feed keeps the changes).
    #[arg(long, env = "MAILLAGE_WEBHOOK_MAX_ATTEMPTS", default_value_t = 12)]
    pub webhook_max_attempts: i32,

    /// Accept `http://` webhook URLs to loopback addresses, and destinations on loopback, private or link-local
    /// addresses (development and tests only). Off, webhooks go over https to public addresses only, checked at
    /// registration and again at each delivery's connection (a DNS answer changed since, rebinding, is refused).
    #[arg(
        long,
        env = "MAILLAGE_WEBHOOK_ALLOW_HTTP_LOOPBACK",
        default_value_t = false
    )]
    pub webhook_allow_http_loopback: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            webhook_tick_ms: 1000,
            webhook_timeout_secs: 10,
            webhook_retry_base_secs: 10,
            webhook_max_attempts: 12,
            webhook_allow_http_loopback: false,
        }
    }
}

impl WebhookConfig {
    /// The retry policy these settings describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(self.webhook_retry_base_secs),
            max_delay: Duration::from_secs(3600),
            max_attempts: self.webhook_max_attempts,
        }
    }
}

/// Tuning the tests need below a second (the command line works in seconds).
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Between two looks for due work.
    pub tick: Duration,
    /// Per request.
    pub timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Deliver to loopback, private and link-local addresses (development and tests); refused otherwise.
    pub allow_private_addresses: bool,
}

impl From<&WebhookConfig> for WorkerSettings {
    fn from(c: &WebhookConfig) -> Self {
        Self {
            tick: Duration::from_millis(c.webhook_tick_ms.max(10)),
            timeout: Duration::from_secs(c.webhook_timeout_secs.max(1)),
            retry: c.retry_policy(),
            allow_private_addresses: c.webhook_allow_http_loopback,
        }
    }
}

/// Starts the worker on the current runtime; it runs until the runtime stops.
pub fn spawn_worker(
    db: DatabaseConnection,
    settings: WorkerSettings,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            // A receiver's redirect would send signed data somewhere the owner did not register.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the host itself, out of reach of the address check.
            .no_proxy();
        if !settings.allow_private_addresses {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = match builder.build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook worker cannot build its HTTP client; no delivery will be made");
                return;
            }
        };
        let busy: Arc<Mutex<HashSet<i32>>> = Arc::default();
        loop {
            match webhooks_to_deliver(&db).await {
                Ok(targets) => {
                    for target in targets {
                        let id = target.webhook.id;
                        let claimed = busy.lock().map(|mut b| b.insert(id)).unwrap_or(false);
                        if !claimed {
                            continue;
                        }
                        let (db, client, busy, retry) =
                            (db.clone(), client.clone(), busy.clone(), settings.retry);
                        let allow_private = settings.allow_private_addresses;
                        tokio::spawn(async move {
                            serve_webhook(&db, &client, &target, &retry, allow_private).await;
                            if let Ok(mut b) = busy.lock() {
                                b.remove(&id);
                            }
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhooks unreadable"),
            }
            tokio::time::sleep(settings.tick).await;
        }
    })
}

/// The owner's rights, as when it registered (a coordinator's territory as its hub covers it today).
async fn owner_of(db: &DatabaseConnection, target: &WebhookTarget) -> Option<Actor> {
    let w = &target.webhook;
    match (w.owner_role, w.hub) {
        (Role::HubCoordinator, Some(hub)) => match maillage_territories::hub_scope(db, hub).await {
            Ok(scope) => Some(Actor::hub_coordinator(scope, w.owner_label.clone())),
            Err(e) => {
                tracing::warn!(error = %e, webhook.id = w.id, "webhook owner's hub unreadable");
                None
            }
        },
        (Role::Admin, _) => Some(Actor::with_role(Role::Admin, w.owner_label.clone())),
        _ => None,
    }
}

/// Makes every delivery due now for one webhook, in order, stopping at the first that fails.
async fn serve_webhook(
    db: &DatabaseConnection,
    client: &reqwest::Client,
    target: &WebhookTarget,
    retry: &RetryPolicy,
    allow_private: bool,
) {
    let Some(owner) = owner_of(db, target).await else {
        return;
    };
    loop {
        let delivery = match next_delivery(db, target, &owner).await {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, webhook.id = target.webhook.id, "webhook delivery not prepared");
                return;
            }
        };
        let outcome = post(client, target, &delivery, allow_private).await;
        match record_attempt(db, &delivery, &outcome, retry).await {
            Ok(d) if d.delivered_at.is_some() => {}
            Ok(d) => {
                tracing::info!(
                    webhook.id = target.webhook.id,
                    delivery.id = d.id,
                    attempts = d.attempts,
                    status = d.status.as_str(),
                    "webhook delivery refused or unreachable"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, webhook.id = target.webhook.id, "webhook attempt not recorded");
                return;
            }
        }
    }
}

/// Resolves webhook hosts keeping public addresses only, at each connection: a host that passed the check at
/// registration and now answers with a private address (DNS rebinding) gets no request.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The port is the connector's to set; 0 here is replaced by the URL's.
            let all: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<std::net::SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| is_public_address(a.ip()))
                .collect();
            if public.is_empty() {
                let message = format!(
                    "{host} resolves to no public address ({all:?}): webhooks go to public addresses only"
                );
                return Err(message.into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether the URL names its host by a literal address that is not public (the resolver never sees those).
fn literal_private_address(url: &str) -> Option<IpAddr> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    (!is_public_address(ip)).then_some(ip)
}

async fn post(
    client: &reqwest::Client,
    target: &WebhookTarget,
    d: &Delivery,
    allow_private: bool,
) -> AttemptOutcome {
    if !allow_private && let Some(ip) = literal_private_address(&target.webhook.url) {
        return AttemptOutcome::Error(format!(
            "{ip} is a loopback, private or link-local address: webhooks go to public addresses only"
        ));
    }
    let now = Utc::now().timestamp();
    let result = client
        .post(&target.webhook.url)
        .header("content-type", "application/json")
        .header(
            SIGNATURE_HEADER,
            signature_header(&target.secret, now, &d.body),
        )
        .header("Maillage-Webhook-Id", target.webhook.id.to_string())
        .header("Maillage-Delivery-Id", d.id.to_string())
        .body(d.body.clone())
        .send()
        .await;
    match result {
        Ok(response) => AttemptOutcome::Status(response.status().as_u16()),
        Err(e) => {
            // reqwest's message names the URL only; the cause (refused address, DNS, TLS) is in the sources.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            AttemptOutcome::Error(message)
        }
    }
}
