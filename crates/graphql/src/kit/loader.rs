//! The one loader helper: per-request DataLoaders, created on first use and found by type.
//!
//! A domain module declares a loader as a struct holding the pool (`pub struct FooLoader(DatabaseConnection);`),
//! implements [`DbLoader`] (the [`db_loader!`](crate::db_loader) macro does it) and `Loader<Key>`, and calls
//! [`loader::<FooLoader>(ctx)`](loader) in resolvers. Loaders live for one request and cache nothing across
//! requests, because what a caller may see depends on who the caller is.

use crate::kit::error::coded;
use crate::kit::state;
use async_graphql::Context;
use async_graphql::dataloader::DataLoader;
use maillage_core::Code;
use sea_orm::DatabaseConnection;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A loader built from the connection pool.
pub trait DbLoader: Send + Sync + 'static {
    /// The loader over `db`.
    fn from_db(db: DatabaseConnection) -> Self;
}

/// Declares loaders holding the pool: `db_loader!(/** doc */ pub FooLoader, /** doc */ pub BarLoader);`.
#[macro_export]
macro_rules! db_loader {
    ($($(#[$meta:meta])* $vis:vis $name:ident),+ $(,)?) => {
        $(
            $(#[$meta])*
            $vis struct $name(sea_orm::DatabaseConnection);
            impl $crate::kit::loader::DbLoader for $name {
                fn from_db(db: sea_orm::DatabaseConnection) -> Self {
                    Self(db)
                }
            }
        )+
    };
}

/// How long a loader waits for more keys before running its batch.
///
/// The keys of one level arrive from sibling resolvers polled together, normally within microseconds; async-graphql's
/// 1 ms default can still split a batch in two when the thread is preempted on a busy machine, which
/// would add a statement. 3 ms keeps a level in one batch at the cost of 3 ms per nested level.
const BATCH_DELAY: Duration = Duration::from_millis(3);

type AnyLoader = Arc<dyn Any + Send + Sync>;

/// The loaders of one request, by type.
pub struct Loaders {
    db: DatabaseConnection,
    made: Mutex<HashMap<TypeId, AnyLoader>>,
}

impl Loaders {
    /// No loader yet; each is made on first use.
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            db: db.clone(),
            made: Mutex::default(),
        }
    }

    /// This request's loader of type `L`.
    pub fn get<L: DbLoader>(&self) -> Option<Arc<DataLoader<L>>> {
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        let any = made.entry(TypeId::of::<L>()).or_insert_with(|| {
            let loader = DataLoader::new(
                L::from_db(self.db.clone()),
                crate::telemetry::spawn_in_current_span,
            )
            .delay(BATCH_DELAY);
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
