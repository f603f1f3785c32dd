//! Which hubs cover each department, kept between requests while PostgreSQL says when they change.
//!
//! A site's or a department's hubs used to cost one statement per request (issue #16: a third of the statements of
//! "one site with its department, hubs and counsellors"), because hubs are writable and nothing told this server
//! when another one, the CLI or a hand-written statement changed them. On PostgreSQL, triggers on `hub` and
//! `hub_department` (migration `m20261206_000500_hub_change_notices`) send a notice on [`HUB_CHANGES_CHANNEL`] when
//! a transaction that wrote either table commits; [`follow_hub_changes`] listens to it and forgets the kept map on
//! each notice. So:
//!
//! - the map is used only while the listening connection is up: before the first `LISTEN`, and from the moment that
//!   connection fails until a new one listens again, every read goes to the database as before (notices sent
//!   meanwhile are lost, so the map is forgotten when listening starts again);
//! - a map read while a change was being announced is not kept: each notice (and this server's own writes, see
//!   [`DepartmentHubs::changed`]) moves a generation counter, and a map is kept only if the counter did not move
//!   during its read;
//! - this server's own writes forget the map as soon as they commit (the mutations call
//!   [`DepartmentHubs::changed`]), so a coordinator reads their change in the next request; another instance's write
//!   is seen once its notice arrives, a few milliseconds after its commit.
//!
//! SQLite has no notices: the map is never used there and every read is the statement it always was (documented in
//! docs/OPERATIONS.md; on an embedded database another process may write hubs, the CLI for one).

use crate::error::TerritoriesError;
use crate::model::Hub;
use crate::read;
use maillage_core::DepartmentCode;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// The PostgreSQL channel on which the triggers on `hub` and `hub_department` announce a committed change.
pub const HUB_CHANGES_CHANNEL: &str = "maillage_hub_changes";

/// Each department's hubs in the order [`read::hubs_of_departments`] returns them.
type HubsByDepartment = HashMap<DepartmentCode, Vec<Hub>>;

/// The hubs of every department, kept while notices of their changes are heard (see the module's documentation).
#[derive(Debug, Default)]
pub struct DepartmentHubs {
    /// Moved by every announced change; a map is valid only for the generation it was read in.
    generation: AtomicU64,
    /// Whether a connection is listening to [`HUB_CHANGES_CHANNEL`]: without it, no map is used.
    listening: AtomicBool,
    /// The last map read, with the generation it was read in.
    kept: RwLock<Option<(u64, Arc<HubsByDepartment>)>>,
}

impl DepartmentHubs {
    /// Nothing kept and nobody listening: every read goes to the database until [`follow_hub_changes`] listens.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hubs covering each of these departments, as [`read::hubs_of_departments`] returns them: from the kept
    /// map when it is valid, otherwise from the database (one statement, for all departments when listening, so
    /// that the map can be kept).
    pub async fn hubs_of_departments<C: ConnectionTrait>(
        &self,
        db: &C,
        codes: &[DepartmentCode],
    ) -> Result<Vec<(DepartmentCode, Hub)>, TerritoriesError> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        // Read before `listening`, so a notice arriving between the two still makes the map stale.
        let generation = self.generation.load(Ordering::Acquire);
        if !self.listening.load(Ordering::Acquire) {
            return read::hubs_of_departments(db, codes).await;
        }
        let map = match self.valid(generation) {
            Some(map) => map,
            None => {
                let mut map = HubsByDepartment::new();
                for (code, hub) in read::hubs_of_all_departments(db).await? {
                    map.entry(code).or_default().push(hub);
                }
                let map = Arc::new(map);
                let mut kept = self.kept.write().unwrap_or_else(PoisonError::into_inner);
                // Kept only when no change was announced since before the read (it may predate the change).
                if self.generation.load(Ordering::Acquire) == generation {
                    *kept = Some((generation, Arc::clone(&map)));
                }
                map
            }
        };
        let mut codes: Vec<&DepartmentCode> = codes.iter().collect();
        codes.sort();
        codes.dedup();
        Ok(codes
            .into_iter()
            .flat_map(|code| {
                map.get(code)
                    .into_iter()
                    .flatten()
                    .map(move |hub| (code.clone(), hub.clone()))
            })
            .collect())
    }

    /// The kept map, if it was read in this generation.
    fn valid(&self, generation: u64) -> Option<Arc<HubsByDepartment>> {
        self.kept
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|(kept, _)| *kept == generation)
            .map(|(_, map)| Arc::clone(map))
    }

    /// Hubs or the departments they cover changed (and the change is committed): the kept map is forgotten. The
    /// listener calls it on each notice; this server's mutations call it after their commit, so that their own
    /// change is read at once.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the kept map may be used: a connection is listening to the changes.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Starts or stops using the kept map; either way it is forgotten (notices may have been missed).
    fn set_listening(&self, listening: bool) {
        self.changed();
        self.listening.store(listening, Ordering::Release);
    }
}

/// Listens to [`HUB_CHANGES_CHANNEL`] on its own PostgreSQL connection and tells `hubs` of each change, for as long
/// as the returned task runs (the server's lifetime). The first `LISTEN` is done before this returns, so the first
/// requests already use the kept map; after a lost connection, it listens again (every second, then up to every 30
/// seconds) and reads go to the database meanwhile.
///
/// On SQLite (no notices) nothing listens and `None` is returned: every read goes to the database.
pub async fn follow_hub_changes(
    db: &DatabaseConnection,
    hubs: Arc<DepartmentHubs>,
) -> Option<tokio::task::JoinHandle<()>> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return None;
    }
    let pool = db.get_postgres_connection_pool().clone();
    let first = listen(&pool).await;
    Some(tokio::spawn(async move {
        let mut listener = first;
        let mut pause = Duration::from_secs(1);
        loop {
            match listener.take() {
                Some(mut connected) => {
                    hubs.set_listening(true);
                    pause = Duration::from_secs(1);
                    loop {
                        match connected.try_recv().await {
                            Ok(Some(_)) => hubs.changed(),
                            Ok(None) => {
                                tracing::warn!(
                                    "the connection listening to hub changes was lost; hubs are read from the database until it is back"
                                );
                                break;
                            }
                            Err(error) => {
                                tracing::warn!(%error, "listening to hub changes failed; hubs are read from the database until it is back");
                                break;
                            }
                        }
                    }
                    hubs.set_listening(false);
                }
                None => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                    listener = listen(&pool).await;
                }
            }
        }
    }))
}

/// A new connection listening to [`HUB_CHANGES_CHANNEL`], or `None` (logged) when it cannot be had now.
async fn listen(pool: &sea_orm::sqlx::PgPool) -> Option<sea_orm::sqlx::postgres::PgListener> {
    let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, "cannot connect to listen to hub changes; hubs are read from the database meanwhile");
            return None;
        }
    };
    match listener.listen(HUB_CHANGES_CHANNEL).await {
        Ok(()) => Some(listener),
        Err(error) => {
            tracing::warn!(%error, "cannot listen to hub changes; hubs are read from the database meanwhile");
            None
        }
    }
}
