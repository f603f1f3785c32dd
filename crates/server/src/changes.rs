//! Live change delivery: one feed reader per instance, fanned out to every subscriber of that instance.
//!
//! Each instance polls the change feed (`maillage_access::changes::read_feed`) by cursor and broadcasts what it
//! reads in process (`tokio::sync::broadcast`). Because the feed is the database's, a change written through any
//! instance sharing the database (PostgreSQL) reaches the subscribers of every instance, within one poll interval
//! once its transaction, and every older one, has committed. On SQLite it is the same code with one instance.
//!
//! A subscriber starts at a cursor (its last seen position, or the feed's head): it first reads what it missed from
//! the database, then follows the broadcast. Every broadcast message carries the position of the feed change before
//! it, so a subscriber that notices a gap (it fell behind and the channel dropped messages, or it caught up while
//! the reader was between two polls) reads the gap from the database again: nothing is skipped, nothing repeated.
//! The reader only polls while someone listens, so an idle instance costs no statement.

use futures::Stream;
use maillage_access::AccessError;
use maillage_access::changes::{
    Change, ChangeFilter, ChangePosition, feed_head, may_read, read_feed,
};
use maillage_core::Actor;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How many feed changes one poll or one catch-up statement reads.
const BATCH: u64 = 500;
/// Broadcast buffer: a subscriber slower than this many changes falls back to reading the database.
const CHANNEL: usize = 1024;

/// One change as broadcast, with the feed position that precedes it (to detect gaps).
#[derive(Debug, Clone)]
struct Message {
    previous: Option<ChangePosition>,
    change: Change,
}

/// The instance's fan-out of the change feed. Cheap to clone.
#[derive(Clone)]
pub struct ChangeHub {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    poll: Duration,
    sender: broadcast::Sender<Arc<Message>>,
    running: AtomicBool,
}

impl ChangeHub {
    /// A hub over `db` that polls every `poll` while someone listens (nothing runs before the first subscriber).
    pub fn new(db: DatabaseConnection, poll: Duration) -> Self {
        let (sender, _) = broadcast::channel(CHANNEL);
        Self {
            inner: Arc::new(Inner {
                db,
                poll,
                sender,
                running: AtomicBool::new(false),
            }),
        }
    }

    fn ensure_reader(&self) {
        if self.inner.running.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let mut cursor: Option<ChangePosition> = None;
            loop {
                if inner.sender.receiver_count() == 0 {
                    // Nobody listens: stop; the next subscriber starts a reader at the head again.
                    inner.running.store(false, Ordering::SeqCst);
                    if inner.sender.receiver_count() == 0
                        || inner.running.swap(true, Ordering::SeqCst)
                    {
                        return;
                    }
                }
                if cursor.is_none() {
                    match feed_head(&inner.db).await {
                        Ok(head) => cursor = Some(head),
                        Err(e) => tracing::warn!(error = %e, "change feed head unreadable"),
                    }
                }
                if let Some(mut at) = cursor {
                    loop {
                        match read_feed(&inner.db, Some(at), BATCH).await {
                            Ok(batch) => {
                                let full = batch.len() as u64 == BATCH;
                                for change in batch {
                                    let previous = Some(at);
                                    at = change.position;
                                    // No receiver is not an error: they come and go.
                                    let _ =
                                        inner.sender.send(Arc::new(Message { previous, change }));
                                }
                                if !full {
                                    break;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "change feed unreadable");
                                break;
                            }
                        }
                    }
                    cursor = Some(at);
                }
                tokio::time::sleep(inner.poll).await;
            }
        });
    }

    /// The changes `actor` may read that pass `filter`, after `after` (or from now), as they commit.
    ///
    /// The stream ends only when the database fails (the error is its last item); dropping it unsubscribes.
    pub fn subscribe(
        &self,
        actor: Actor,
        filter: ChangeFilter,
        after: Option<ChangePosition>,
    ) -> impl Stream<Item = Result<Change, AccessError>> + Send + 'static {
        let mut live = self.inner.sender.subscribe();
        self.ensure_reader();
        let db = self.inner.db.clone();
        let (tx, rx) = mpsc::channel::<Result<Change, AccessError>>(64);
        tokio::spawn(async move {
            let result = follow(&db, &actor, &filter, after, &mut live, &tx).await;
            if let Err(e) = result {
                let _ = tx.send(Err(e)).await;
            }
        });
        futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
    }
}

/// Sends the changes after `last` up to the feed's current end; returns the new last position, or `None` when the
/// subscriber went away.
async fn catch_up(
    db: &DatabaseConnection,
    actor: &Actor,
    filter: &ChangeFilter,
    mut last: ChangePosition,
    tx: &mpsc::Sender<Result<Change, AccessError>>,
) -> Result<Option<ChangePosition>, AccessError> {
    loop {
        let batch = read_feed(db, Some(last), BATCH).await?;
        let full = batch.len() as u64 == BATCH;
        for change in batch {
            last = change.position;
            if may_read(actor, &change)
                && filter.matches(&change)
                && tx.send(Ok(change)).await.is_err()
            {
                return Ok(None);
            }
        }
        if !full {
            return Ok(Some(last));
        }
    }
}

async fn follow(
    db: &DatabaseConnection,
    actor: &Actor,
    filter: &ChangeFilter,
    after: Option<ChangePosition>,
    live: &mut broadcast::Receiver<Arc<Message>>,
    tx: &mpsc::Sender<Result<Change, AccessError>>,
) -> Result<(), AccessError> {
    let start = match after {
        Some(p) => p,
        None => feed_head(db).await?,
    };
    let Some(mut last) = catch_up(db, actor, filter, start, tx).await? else {
        return Ok(());
    };
    loop {
        let message = match live.recv().await {
            Ok(m) => m,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Messages were dropped: the database has them.
                let Some(l) = catch_up(db, actor, filter, last, tx).await? else {
                    return Ok(());
                };
                last = l;
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        };
        let change = &message.change;
        if change.position <= last {
            continue;
        }
        if message.previous.is_some_and(|p| p > last) {
            // A gap between what this subscriber has and what the reader sends: read it from the database
            // (which includes this change, since the reader saw it committed).
            let Some(l) = catch_up(db, actor, filter, last, tx).await? else {
                return Ok(());
            };
            last = l;
            continue;
        }
        last = change.position;
        if may_read(actor, change)
            && filter.matches(change)
            && tx.send(Ok(change.clone())).await.is_err()
        {
            return Ok(());
        }
    }
}

impl maillage_graphql::changes::ChangeSource for ChangeHub {
    fn subscribe(
        &self,
        actor: Actor,
        filter: ChangeFilter,
        after: Option<ChangePosition>,
    ) -> futures::stream::BoxStream<'static, Result<Change, AccessError>> {
        futures::StreamExt::boxed(ChangeHub::subscribe(self, actor, filter, after))
    }
}
