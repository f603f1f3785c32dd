//! Per-caller limits: a request rate and a cost budget, both token buckets refilled continuously.
//!
//! A caller is its actor's label when authenticated (one bucket per token, whatever the address), else its client
//! address. Failed authentications have a bucket of their own per address, much smaller: once it is empty, a
//! request carrying credentials from that address is refused before its token is looked up, so guessing tokens
//! costs the guesser time and the database nothing. Buckets live in memory, per instance: behind N instances a
//! caller gets N times the budget.

use crate::config::ProtectionConfig;
use crate::documents::ParsedDocuments;
use crate::persisted::{ApqCache, TrustedDocuments};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use maillage_core::{Actor, Role};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Buckets beyond this many are pruned of the full ones, so a scan from many addresses cannot grow memory forever.
const PRUNE_ABOVE: usize = 10_000;

/// One token bucket per caller.
pub struct Buckets {
    capacity: f64,
    refill_per_second: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// A refusal: how long until the bucket holds enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    /// Whole seconds to wait (at least 1), for `Retry-After`.
    pub retry_after_secs: u64,
    /// What the bucket holds now.
    pub remaining: u64,
}

impl Buckets {
    /// Buckets holding `capacity` tokens, refilled by `refill_per_second`.
    pub fn new(capacity: u64, refill_per_second: f64) -> Self {
        Self {
            capacity: capacity as f64,
            refill_per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn with<R>(&self, key: &str, f: impl FnOnce(&mut f64) -> R) -> R {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            let (capacity, rate) = (self.capacity, self.refill_per_second);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < capacity
            });
        }
        let (tokens, at) = buckets
            .entry(key.to_owned())
            .or_insert((self.capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.refill_per_second)
            .min(self.capacity);
        *at = now;
        f(tokens)
    }

    /// Takes `amount` tokens (at most the capacity, so a request never waits forever), or says how long to wait.
    pub fn take(&self, key: &str, amount: u64) -> Result<u64, Exhausted> {
        let needed = (amount as f64).min(self.capacity);
        let rate = self.refill_per_second;
        self.with(key, |tokens| {
            if *tokens >= needed {
                *tokens -= needed;
                Ok(*tokens as u64)
            } else {
                let wait = ((needed - *tokens) / rate).ceil().max(1.0);
                Err(Exhausted {
                    retry_after_secs: wait as u64,
                    remaining: *tokens as u64,
                })
            }
        })
    }

    /// Whether the bucket holds at least one token, without taking it.
    pub fn check(&self, key: &str) -> Result<(), Exhausted> {
        let rate = self.refill_per_second;
        self.with(key, |tokens| {
            if *tokens >= 1.0 {
                Ok(())
            } else {
                Err(Exhausted {
                    retry_after_secs: ((1.0 - *tokens) / rate).ceil().max(1.0) as u64,
                    remaining: 0,
                })
            }
        })
    }

    /// Gives back tokens taken in advance but not used; returns what the bucket holds.
    pub fn refund(&self, key: &str, amount: u64) -> u64 {
        let capacity = self.capacity;
        self.with(key, |tokens| {
            *tokens = (*tokens + amount as f64).min(capacity);
            *tokens as u64
        })
    }

    /// What the bucket holds.
    pub fn remaining(&self, key: &str) -> u64 {
        self.with(key, |tokens| *tokens as u64)
    }
}

/// Everything that guards the GraphQL endpoints, shared by all requests of this instance.
pub struct Protection {
    /// The settings.
    pub config: ProtectionConfig,
    /// Largest static cost of one operation.
    pub max_complexity: u64,
    /// Deepest operation.
    pub max_depth: usize,
    /// The request-rate buckets, `None` when unlimited.
    pub rate: Option<Buckets>,
    /// The cost budgets, `None` when unlimited.
    pub budget: Option<Buckets>,
    /// Failed authentications per address, `None` when unlimited.
    pub auth_failures: Option<Buckets>,
    /// Automatic persisted queries.
    pub apq: ApqCache,
    /// Documents parsed before, by their text.
    pub documents: ParsedDocuments,
    /// Permits to execute an operation, `None` when unbounded (see [`Protection::execution_permit`]).
    pub executions: Option<Arc<Semaphore>>,
}

/// Shares of one turn of [`Protection::execution_permit`]: the finest fraction of a turn a cheap operation takes.
pub const PERMITS_PER_OPERATION: u32 = 8;

/// The static cost from which an operation takes a whole turn: a nested list (the bench's Q2, Q5 and Q6 cost
/// 4 000–80 000) does; a page of 50 sites with their department (about 500) takes half, one site (about 20) an
/// eighth.
pub const HEAVY_COST: u64 = 1_024;

/// The permits an operation of static cost `cost` takes: its cost in eighths of [`HEAVY_COST`], rounded up,
/// between 1 and [`PERMITS_PER_OPERATION`].
fn permits_for(cost: u64) -> u32 {
    let share = cost.div_ceil(HEAVY_COST / u64::from(PERMITS_PER_OPERATION));
    u32::try_from(share.clamp(1, u64::from(PERMITS_PER_OPERATION))).unwrap_or(PERMITS_PER_OPERATION)
}

impl Protection {
    /// The guards these settings describe.
    pub fn new(config: &ProtectionConfig, max_depth: usize, max_complexity: usize) -> Self {
        let rate = (config.rate_limit_per_minute > 0).then(|| {
            Buckets::new(
                config.rate_limit_burst,
                config.rate_limit_per_minute as f64 / 60.0,
            )
        });
        let budget = (config.cost_budget > 0)
            .then(|| Buckets::new(config.cost_budget, config.cost_refill_per_second as f64));
        let auth_failures = (config.auth_failures_per_minute > 0).then(|| {
            Buckets::new(
                config.auth_failure_burst,
                config.auth_failures_per_minute as f64 / 60.0,
            )
        });
        Self {
            auth_failures,
            config: config.clone(),
            max_complexity: u64::try_from(max_complexity).unwrap_or(u64::MAX),
            max_depth,
            rate,
            budget,
            apq: ApqCache::new(config.apq_cache_size),
            documents: ParsedDocuments::new(config.document_cache_bytes),
            executions: (config.max_concurrent_operations > 0).then(|| {
                Arc::new(Semaphore::new(
                    config.max_concurrent_operations * PERMITS_PER_OPERATION as usize,
                ))
            }),
        }
    }

    /// The trusted documents, when only those may run.
    pub fn trusted(&self) -> Option<&TrustedDocuments> {
        self.config.trusted_documents.as_ref()
    }

    /// Waits for a turn to execute an operation of static cost `cost`: at most `max_concurrent_operations`
    /// operations of cost [`HEAVY_COST`] or more run at once, so the memory held by results in flight is bounded
    /// by that number rather than by the open connections (measured: 64 connections on a nested query held 713 MB
    /// at the peak without a bound). A cheaper operation takes a share of a turn in proportion to its cost (at
    /// least 1/[`PERMITS_PER_OPERATION`]): one site or one department's page holds little memory, and counting it
    /// as a whole turn made it queue behind the bound while the cores were idle (measured with the bound raised
    /// to 64: Q3 and Q4 of `bench/graphql.sh` served 22–30 % more, issue #16). The permit is released when
    /// dropped; `None` when unbounded.
    pub async fn execution_permit(&self, cost: u64) -> Option<OwnedSemaphorePermit> {
        let semaphore = self.executions.clone()?;
        // The semaphore is never closed, so acquisition only fails if it were; then run rather than refuse.
        semaphore.acquire_many_owned(permits_for(cost)).await.ok()
    }

    /// The longest an operation may run.
    pub fn timeout(&self) -> Option<Duration> {
        (self.config.execution_timeout_ms > 0)
            .then(|| Duration::from_millis(self.config.execution_timeout_ms))
    }

    /// The bucket key of a caller: the actor's label when authenticated, else the client address.
    pub fn caller_key(&self, actor: &Actor, client: &ClientAddr, headers: &HeaderMap) -> String {
        if actor.role() != Role::Anonymous {
            return format!("actor:{}", actor.label());
        }
        let forwarded = self
            .config
            .trust_forwarded_for
            .then(|| {
                headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                    .next_back()
            })
            .flatten();
        match forwarded.or(client.0) {
            Some(ip) => format!("ip:{ip}"),
            None => "ip:unknown".to_owned(),
        }
    }
}

/// The peer address of the connection, when the server was started with connect info.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bucket_takes_refunds_and_says_when_to_retry() {
        let b = Buckets::new(100, 10.0);
        assert_eq!(b.take("a", 60).unwrap(), 40);
        let e = b.take("a", 60).unwrap_err();
        assert!(e.remaining >= 40 && e.remaining < 42, "{e:?}");
        assert_eq!(e.retry_after_secs, 2);
        assert!(b.refund("a", 50) >= 90);
        // Other callers are untouched; a request larger than the capacity waits for a full bucket only.
        assert_eq!(b.take("b", 1_000).unwrap(), 0);
    }

    #[tokio::test]
    async fn operations_beyond_the_bound_wait_for_a_turn() {
        let p = Protection::new(
            &ProtectionConfig {
                max_concurrent_operations: 2,
                ..ProtectionConfig::default()
            },
            15,
            100_000,
        );
        let first = p.execution_permit(HEAVY_COST).await.unwrap();
        let _second = p.execution_permit(50_000).await.unwrap();
        // A third operation waits while two run…
        let mut third = std::pin::pin!(p.execution_permit(HEAVY_COST));
        assert!(futures::poll!(third.as_mut()).is_pending());
        // …and runs as soon as one of them ends.
        drop(first);
        assert!(matches!(
            futures::poll!(third.as_mut()),
            std::task::Poll::Ready(Some(_))
        ));
        // Unbounded: no permit to wait for.
        let unbounded = Protection::new(
            &ProtectionConfig {
                max_concurrent_operations: 0,
                ..ProtectionConfig::default()
            },
            15,
            100_000,
        );
        assert!(unbounded.execution_permit(HEAVY_COST).await.is_none());
    }

    #[tokio::test]
    async fn cheap_operations_take_a_share_of_a_turn() {
        assert_eq!(permits_for(0), 1);
        assert_eq!(permits_for(19), 1);
        assert_eq!(permits_for(202), 2);
        assert_eq!(permits_for(501), 4);
        assert_eq!(permits_for(HEAVY_COST), PERMITS_PER_OPERATION);
        assert_eq!(permits_for(u64::MAX), PERMITS_PER_OPERATION);
        let p = Protection::new(
            &ProtectionConfig {
                max_concurrent_operations: 1,
                ..ProtectionConfig::default()
            },
            15,
            100_000,
        );
        // Eight one-site look-ups run at once where one nested list would…
        let mut cheap = Vec::new();
        for _ in 0..PERMITS_PER_OPERATION {
            cheap.push(p.execution_permit(19).await.unwrap());
        }
        // …and a heavy operation waits until every one of them has ended.
        let mut heavy = std::pin::pin!(p.execution_permit(50_000));
        assert!(futures::poll!(heavy.as_mut()).is_pending());
        cheap.pop();
        assert!(futures::poll!(heavy.as_mut()).is_pending());
        cheap.clear();
        assert!(matches!(
            futures::poll!(heavy.as_mut()),
            std::task::Poll::Ready(Some(_))
        ));
    }

    #[test]
    fn authenticated_callers_are_keyed_by_label_anonymous_by_address() {
        let p = Protection::new(&ProtectionConfig::default(), 15, 100_000);
        let addr = ClientAddr(Some("10.0.0.1".parse().unwrap()));
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 5.6.7.8".parse().unwrap());
        assert_eq!(
            p.caller_key(&Actor::anonymous(), &addr, &headers),
            "ip:10.0.0.1"
        );
        assert_eq!(
            p.caller_key(&Actor::with_role(Role::Partner, "token:7"), &addr, &headers),
            "actor:token:7"
        );
        let trusting = Protection::new(
            &ProtectionConfig {
                trust_forwarded_for: true,
                ..ProtectionConfig::default()
            },
            15,
            100_000,
        );
        assert_eq!(
            trusting.caller_key(&Actor::anonymous(), &addr, &headers),
            "ip:5.6.7.8"
        );
    }
}
