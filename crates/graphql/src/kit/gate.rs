//! Runs a request's DataLoader batches when the request can add no key to them, rather than after a fixed delay.
//!
//! The execution of one operation is one future, and the keys of one nesting level are registered while it is
//! polled: async-graphql polls sibling fields and list items together. A [`PollGate`] wraps that future and records
//! when it is being polled, when it has been woken since its last poll started (it will be polled again), and when
//! a fetch task of the request is being polled (it may be delivering a batch's values, one receiver at a time). A
//! fetch task spawned through [`spawn_after_poll`] during a gated poll waits until none of the three holds: the
//! request is then waiting for something (its batches), so no key of the level can still come, whatever the
//! threads and their scheduling.
//!
//! Waiting for "the poll in which the fetch was spawned has ended" alone is not enough: the keys of a level span
//! several polls. async-graphql's list of items (`try_join_all` over `FuturesUnordered`) yields, waking itself, after
//! a few items; and the batch above wakes the request once per receiver, so another worker may poll the request
//! after the first receiver got its values and before the last did. The unit test below splits every level into
//! many batches with that rule alone; with the gate, each level is one batch.

use futures::FutureExt;
use futures::future::BoxFuture;
use std::cell::RefCell;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use tokio::sync::Notify;

/// How long a fetch task spawned outside any gated poll waits, as every loader did before the gate: keys arriving
/// from sibling resolvers within that time join the batch.
pub(crate) const FALLBACK_DELAY: Duration = Duration::from_millis(3);

/// How long a gated fetch task waits at most for its request to settle: a safety net. A request settles as soon as
/// it waits for something (its batch, the database), so a fetch waits only while the request keeps computing (a
/// level of a few hundred items takes milliseconds, tens of them in a debug build on a busy machine).
const SETTLE_CAP: Duration = Duration::from_secs(1);

/// `state` bits: the request future is being polled; it was woken since its last poll started.
const POLLING: usize = 1;
const WOKEN: usize = 2;
/// `state` counts fetch polls in progress in its other bits, in units of this.
const FETCH_POLL: usize = 4;

/// What a request's gate and its fetch tasks share.
struct Shared {
    /// `POLLING | WOKEN | fetch polls × FETCH_POLL`, one word so that "settled" (zero) is read at once.
    state: AtomicUsize,
    /// The request is over (its gate dropped): nothing waits for it any more.
    closed: AtomicBool,
    /// The waker of the task polling the request, woken by [`Shared`]'s own waker.
    outer: Mutex<Option<Waker>>,
    /// Notified whenever the state may have become settled.
    changed: Notify,
    /// Fetch tasks that waited for this gate, and those of them that gave up after [`SETTLE_CAP`] (for tests).
    gated: AtomicUsize,
    capped: AtomicUsize,
}

impl Shared {
    fn settled(&self) -> bool {
        self.closed.load(SeqCst) || self.state.load(SeqCst) == 0
    }

    /// Returns once the request is settled (see the module documentation).
    async fn wait_settled(&self) {
        loop {
            let mut notified = pin!(self.changed.notified());
            notified.as_mut().enable();
            if self.settled() {
                return;
            }
            notified.await;
        }
    }
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.state.fetch_or(WOKEN, SeqCst);
        let outer = self
            .outer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(outer) = outer {
            outer.wake();
        }
    }
}

thread_local! {
    /// The gate whose request this thread is polling, if any.
    static CURRENT: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// Sets [`CURRENT`] for the duration of a poll, and restores the previous one even on a panic.
struct Entered(Option<Arc<Shared>>);

impl Entered {
    fn enter(shared: &Arc<Shared>) -> Self {
        Self(CURRENT.with(|current| current.replace(Some(Arc::clone(shared)))))
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// The gate of one request: run its execution with [`PollGate::run`] (the [`Engine`](crate::engine::Engine) does),
/// and the loaders made during it batch on it.
pub struct PollGate {
    shared: Arc<Shared>,
    /// `shared` as a waker, made once.
    waker: Waker,
}

impl Default for PollGate {
    fn default() -> Self {
        Self::new()
    }
}

impl PollGate {
    /// A gate for one request (or one stream of responses).
    pub fn new() -> Self {
        let shared = Arc::new(Shared {
            state: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            outer: Mutex::new(None),
            changed: Notify::new(),
            gated: AtomicUsize::new(0),
            capped: AtomicUsize::new(0),
        });
        let waker = Waker::from(Arc::clone(&shared));
        Self { shared, waker }
    }

    /// Runs `future` (the request's execution) with each of its polls gated.
    pub async fn run<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        std::future::poll_fn(|cx| self.poll_gated(future.as_mut(), cx)).await
    }

    fn poll_gated<F: Future>(&self, future: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
        {
            let mut outer = self
                .shared
                .outer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        // POLLING first: the state is never zero between the two.
        self.shared.state.fetch_or(POLLING, SeqCst);
        self.shared.state.fetch_and(!WOKEN, SeqCst);
        let result = {
            let _entered = Entered::enter(&self.shared);
            future.poll(&mut Context::from_waker(&self.waker))
        };
        self.shared.state.fetch_and(!POLLING, SeqCst);
        self.shared.changed.notify_waiters();
        result
    }

    /// How many fetch tasks waited for this gate.
    #[cfg(test)]
    pub(crate) fn gated(&self) -> usize {
        self.shared.gated.load(SeqCst)
    }

    /// How many of them stopped waiting after [`SETTLE_CAP`] rather than when the request settled.
    #[cfg(test)]
    pub(crate) fn capped(&self) -> usize {
        self.shared.capped.load(SeqCst)
    }
}

impl Drop for PollGate {
    fn drop(&mut self) {
        self.shared.closed.store(true, SeqCst);
        self.shared.changed.notify_waiters();
    }
}

/// Whether this thread is polling a gated request (a loader made now belongs to a gated request).
pub(crate) fn in_gated_poll() -> bool {
    CURRENT.with(|current| current.borrow().is_some())
}

/// Counts a fetch poll in progress, until dropped (even by a panic).
struct FetchPoll<'a>(&'a Shared);

impl<'a> FetchPoll<'a> {
    fn start(shared: &'a Shared) -> Self {
        shared.state.fetch_add(FETCH_POLL, SeqCst);
        Self(shared)
    }
}

impl Drop for FetchPoll<'_> {
    fn drop(&mut self) {
        self.0.state.fetch_sub(FETCH_POLL, SeqCst);
        self.0.changed.notify_waiters();
    }
}

/// The spawner of a gated request's DataLoaders (with no delay of their own): the fetch task waits until the
/// request is settled (see the module documentation), then runs with each of its polls counted, within the
/// current span ([`spawn_in_current_span`](crate::telemetry::spawn_in_current_span)). Spawned outside any gated
/// poll, it waits [`FALLBACK_DELAY`] instead.
pub fn spawn_after_poll(task: BoxFuture<'static, ()>) -> tokio::task::JoinHandle<()> {
    let current = CURRENT.with(|current| current.borrow().clone());
    let task = match current {
        Some(shared) => async move {
            shared.gated.fetch_add(1, SeqCst);
            if tokio::time::timeout(SETTLE_CAP, shared.wait_settled())
                .await
                .is_err()
            {
                shared.capped.fetch_add(1, SeqCst);
            }
            let mut task = task;
            std::future::poll_fn(|cx| {
                let _counted = FetchPoll::start(&shared);
                task.as_mut().poll(cx)
            })
            .await;
        }
        .boxed(),
        None => async move {
            tokio::time::sleep(FALLBACK_DELAY).await;
            task.await;
        }
        .boxed(),
    };
    crate::telemetry::spawn_in_current_span(task)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use async_graphql::dataloader::{DataLoader, Loader};
    use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema};
    use std::collections::HashMap;

    /// Records the size of each batch it is asked for, by level (the key's hundreds).
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(u32, usize)>>>);

    impl Loader<u32> for Recorder {
        type Value = u32;
        type Error = Arc<String>;

        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, u32>, Self::Error> {
            let level = keys[0] / 1000;
            self.0.lock().unwrap().push((level, keys.len()));
            // Some work, and a yield: the receivers are woken while other workers are free to poll the request.
            tokio::task::yield_now().await;
            Ok(keys.iter().map(|k| (*k, *k + 1000)).collect())
        }
    }

    struct Node(u32);

    #[Object]
    impl Node {
        async fn id(&self) -> u32 {
            self.0
        }

        /// The node one level down, through the loader.
        async fn next(&self, ctx: &Context<'_>) -> Option<Node> {
            let loader = ctx.data_unchecked::<DataLoader<Recorder>>();
            loader.load_one(self.0).await.unwrap().map(Node)
        }
    }

    struct Query;

    #[Object]
    impl Query {
        async fn nodes(&self, n: u32) -> Vec<Node> {
            (0..n).map(Node).collect()
        }
    }

    const ITEMS: u32 = 300;
    const LEVELS: usize = 4;

    fn query() -> String {
        let mut selection = "id".to_owned();
        for _ in 0..LEVELS {
            selection = format!("id next {{ {selection} }}");
        }
        format!("{{ nodes(n: {ITEMS}) {{ {selection} }} }}")
    }

    /// Runs the query with a zero-delay loader on the gated spawner; returns the batches and the gate.
    async fn run_gated() -> (Vec<(u32, usize)>, usize, usize) {
        let recorder = Recorder::default();
        let loader = DataLoader::new(recorder.clone(), spawn_after_poll).delay(Duration::ZERO);
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .data(loader)
            .finish();
        let gate = PollGate::new();
        let response = gate.run(schema.execute(query())).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let batches = recorder.0.lock().unwrap().clone();
        (batches, gate.gated(), gate.capped())
    }

    /// On a multi-thread runtime, with fetch tasks free to run on other workers while the request is still
    /// registering keys and a batch's receivers woken one by one, each level is still one batch of every key.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_batch_per_level_across_workers() {
        for _ in 0..20 {
            // Run on a spawned task, as a server does: the test's own thread is not a worker.
            let (batches, gated, capped) = tokio::spawn(run_gated()).await.unwrap();
            let expected: Vec<_> = (0..LEVELS as u32).map(|l| (l, ITEMS as usize)).collect();
            assert_eq!(batches, expected);
            // Every batch went through the gate, none through the fallback delay or the cap.
            assert_eq!(gated, LEVELS);
            assert_eq!(capped, 0);
        }
    }

    /// Outside a gated poll the spawner falls back to a fixed delay, which keeps a level together only if it takes
    /// less than the delay to register (a debug build may not): this only checks that the path works.
    #[tokio::test]
    async fn outside_a_gated_poll_loaders_still_load() {
        let recorder = Recorder::default();
        let loader = DataLoader::new(recorder.clone(), spawn_after_poll).delay(Duration::ZERO);
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .data(loader)
            .finish();
        assert!(!in_gated_poll());
        let response = schema.execute(query()).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let keys: usize = recorder.0.lock().unwrap().iter().map(|(_, n)| n).sum();
        assert_eq!(keys, LEVELS * ITEMS as usize);
    }

    #[tokio::test]
    async fn a_dropped_request_releases_its_waiting_fetches() {
        let gate = PollGate::new();
        let shared = Arc::clone(&gate.shared);
        shared.state.fetch_or(WOKEN, SeqCst);
        let waiting = tokio::spawn(async move { shared.wait_settled().await });
        tokio::task::yield_now().await;
        drop(gate);
        waiting.await.unwrap();
    }
}
