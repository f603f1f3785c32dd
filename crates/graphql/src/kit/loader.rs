//! The one loader helper: per-request DataLoaders, created on first use and found by type.
//!
//! A domain module declares a loader as a struct holding the reads' connection (`pub struct FooLoader(Reads);`,
//! [`maillage_core::reads`]: kept PostgreSQL connections, without sqlx's ping of each one given back),
//! implements [`DbLoader`] (the [`db_loader!`](crate::db_loader) macro does it) and `Loader<Key>`, and calls
//! [`loader::<FooLoader>(ctx)`](loader) in resolvers. Loaders live for one request and cache nothing across
//! requests, because what a caller may see depends on who the caller is. Regions and departments are the exception:
//! public reference data, read by every caller alike, so their loaders answer from the server's snapshot
//! ([`maillage_territories::ReferenceTerritories`]) and batch only the codes it lacks.
//!
//! Batching is gated on the request's polls ([`crate::kit::gate`]), not on a timer. Every loader used to wait a
//! fixed 3 ms before running its batch, so that the keys of one level, arriving from sibling resolvers, all joined
//! it (1 ms sometimes split a batch on a busy machine). With the server bounding concurrent operations
//! (`MAILLAGE_MAX_CONCURRENT_OPERATIONS`, 8 by default), those waits capped throughput: raising the bound to 64
//! doubled Q2 (hubs → departments → sites, two loader levels: 84 → 162 req/s, issue #16), the operations were
//! waiting, not computing. A loader made while the [`Engine`](crate::engine::Engine) runs a request now runs its
//! batch as soon as the request can add no key to it; one made elsewhere (a test executing the bare schema) keeps
//! the 3 ms delay.

use crate::kit::error::coded;
use crate::kit::{gate, state};
use async_graphql::Context;
use async_graphql::dataloader::DataLoader;
use maillage_core::Code;
use maillage_core::reads::Reads;
use maillage_territories::ReferenceTerritories;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A loader built from the reads' connection.
pub trait DbLoader: Send + Sync + 'static {
    /// The loader over `db`; loaders of regions and departments also read the server's in-memory `territories`.
    fn from_db(db: Reads, territories: &Arc<ReferenceTerritories>) -> Self;
}

/// Declares loaders holding the pool: `db_loader!(/** doc */ pub FooLoader, /** doc */ pub BarLoader);`.
#[macro_export]
macro_rules! db_loader {
    ($($(#[$meta:meta])* $vis:vis $name:ident),+ $(,)?) => {
        $(
            $(#[$meta])*
            $vis struct $name(maillage_core::reads::Reads);
            impl $crate::kit::loader::DbLoader for $name {
                fn from_db(
                    db: maillage_core::reads::Reads,
                    _territories: &std::sync::Arc<maillage_territories::ReferenceTerritories>,
                ) -> Self {
                    Self(db)
                }
            }
        )+
    };
}

type AnyLoader = Arc<dyn Any + Send + Sync>;

/// The loaders of one request, by type.
pub struct Loaders {
    db: Reads,
    territories: Arc<ReferenceTerritories>,
    made: Mutex<HashMap<TypeId, AnyLoader>>,
}

impl Loaders {
    /// No loader yet; each is made on first use.
    pub fn new(db: &Reads, territories: &Arc<ReferenceTerritories>) -> Self {
        Self {
            db: db.clone(),
            territories: Arc::clone(territories),
            made: Mutex::default(),
        }
    }

    /// This request's loader of type `L`.
    pub fn get<L: DbLoader>(&self) -> Option<Arc<DataLoader<L>>> {
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        let any = made.entry(TypeId::of::<L>()).or_insert_with(|| {
            let loader = L::from_db(self.db.clone(), &self.territories);
            // Decided once, when the loader is made: within a gated request, batches wait for the gate; elsewhere,
            // for a fixed delay (keys of one level arrive from sibling resolvers within microseconds; async-graphql's
            // 1 ms default could still split a batch when the thread is preempted on a busy machine).
            let loader = if gate::in_gated_poll() {
                DataLoader::new(loader, gate::spawn_after_poll).delay(Duration::ZERO)
            } else {
                DataLoader::new(loader, crate::telemetry::spawn_in_current_span)
                    .delay(gate::FALLBACK_DELAY)
            };
            Arc::new(loader)
        });
        Arc::clone(any).downcast::<DataLoader<L>>().ok()
    }
}

/// This request's loader of type `L`.
pub fn loader<L: DbLoader>(ctx: &Context<'_>) -> async_graphql::Result<Arc<DataLoader<L>>> {
    state(ctx)?
        .loaders
        .get::<L>()
        .ok_or_else(|| coded("internal error", Code::InternalError, None))
}
