//! Spans for GraphQL operations and their top-level resolvers, written over `tracing` (async-graphql's own
//! OpenTelemetry extension pins an old opentelemetry; this one leaves exporting to whatever subscriber the binary
//! installs).
//!
//! `graphql.operation` wraps the validation and execution of an operation ([`crate::engine::Engine`] opens it), so
//! every span opened while it runs, the SQL statements' included, is its descendant. It carries the operation's
//! name and type (its name is e.g. `query Sites`), its complexity and depth, and an error status when the response
//! has errors. A document that does not parse, or that nests deeper than async-graphql's recursion limit, gets no
//! span (its error is on the enclosing `http.request` span and in the metrics); one that fails validation gets one
//! with its errors.
//!
//! `graphql.complexity` and `graphql.depth` are the service's own static analysis (`crate::cost`): the cost a
//! caller's budget is charged (a connection costs its page size × its selection, every list is counted) and the
//! deepest field nesting (a top-level field is depth 1). They used to be async-graphql's complexity and depth, which
//! only count what the schema annotates; async-graphql keeps computing those for its own limits, a backstop.
//!
//! `graphql.resolve` wraps each top-level field (introspection's `__schema` and `__type` excepted): the unit a slow
//! operation is usually broken into. Deeper fields get no span of their own: a connection of 100 sites would
//! otherwise open thousands. The root types are wrapped in [`Traced`], whose `resolve_field` opens the span: neither
//! an async-graphql extension (any extension sends every field of every object, not only the root's, through a
//! chain of boxed futures: 12 % of a simple query's CPU) nor a span in each root resolver (dozens of resolvers over
//! every domain, where one forgotten would go unseen).
//!
//! The document itself is not recorded: literals in it may be personal data (an e-mail in a filter).

use async_graphql::parser::types::{ExecutableDocument, Field, OperationType};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::ContainerType;
use async_graphql::{
    Context, ContextSelectionSet, ObjectType, OutputType, Positioned, Response, ServerResult, Value,
};
use std::borrow::Cow;
use tracing::Instrument;
use tracing::field::Empty;

/// The name and type (`query`, `mutation`, `subscription`) of the operation a request runs: the one named
/// `operation_name`, or the only one. `(None, "unknown")` when the document does not say (several anonymous
/// operations, or a name it lacks: validation rejects those).
pub fn selected_operation<'a>(
    doc: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> (Option<&'a str>, &'static str) {
    let ty = |t: OperationType| match t {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let mut matching = doc
        .operations
        .iter()
        .filter(|(name, _)| match operation_name {
            Some(wanted) => name.is_some_and(|n| n.as_str() == wanted),
            None => true,
        });
    match (matching.next(), matching.next()) {
        (Some((name, op)), None) => (name.map(|n| n.as_str()), ty(op.node.ty)),
        _ => (None, "unknown"),
    }
}

/// The `graphql.operation` span of an operation of type `ty` named `name`, with its static cost and depth
/// (`crate::cost`).
pub(crate) fn operation_span(
    name: Option<&str>,
    ty: &str,
    complexity: u64,
    depth: usize,
) -> tracing::Span {
    tracing::info_span!(
        "graphql.operation",
        otel.name = %match name {
            Some(name) => format!("{ty} {name}"),
            None => ty.to_owned(),
        },
        otel.status_code = Empty,
        graphql.operation.name = name.unwrap_or_default(),
        graphql.operation.type = ty,
        graphql.complexity = complexity,
        graphql.depth = depth,
        graphql.errors = Empty,
    )
}

/// Records on an operation's span the errors of its response, if any.
pub(crate) fn record_response(span: &tracing::Span, response: &Response) {
    if !response.errors.is_empty() {
        span.record("otel.status_code", "ERROR");
        span.record("graphql.errors", response.errors.len());
    }
}

/// A root type (query or mutation) whose fields each get a `graphql.resolve` span; the schema sees `T` itself (same
/// name, same fields, same SDL).
#[derive(Debug, Default, Clone, Copy)]
pub struct Traced<T>(pub T);

impl<T> Traced<T> {
    /// Runs `resolve` for the field of `ctx` within its `graphql.resolve` span.
    async fn in_span(
        name: &str,
        resolve: impl Future<Output = ServerResult<Option<Value>>>,
    ) -> ServerResult<Option<Value>>
    where
        T: OutputType,
    {
        let parent = T::type_name();
        let span = tracing::info_span!(
            "graphql.resolve",
            otel.name = %format!("{parent}.{name}"),
            graphql.field.name = name,
            graphql.field.parent_type = %parent,
            otel.status_code = Empty,
        );
        let result = resolve.instrument(span.clone()).await;
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        result
    }
}

impl<T: OutputType> OutputType for Traced<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    /// Only reached if the root type is returned by a field: then it is an ordinary object, untraced.
    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        self.0.resolve(ctx, field).await
    }
}

/// `collect_all_fields` keeps its default, which calls this type's `resolve_field` for each selected field.
impl<T: ContainerType> ContainerType for Traced<T> {
    fn is_empty() -> bool {
        T::is_empty()
    }

    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        let name = ctx.item.node.name.node.as_str();
        Self::in_span(name, self.0.resolve_field(ctx)).await
    }

    /// A federation gateway's `_entities`: async-graphql resolves that field itself and asks the root for each
    /// representation, so each lookup gets its span (`Query._entities`).
    async fn find_entity(&self, ctx: &Context<'_>, params: &Value) -> ServerResult<Option<Value>> {
        Self::in_span("_entities", self.0.find_entity(ctx, params)).await
    }
}

impl<T: ObjectType> ObjectType for Traced<T> {}

/// A DataLoader spawner that keeps the current span: `DataLoader::new(loader, spawn_in_current_span)`.
///
/// With plain `tokio::spawn`, a batch's statements start a trace of their own; spawned this way they stay under the
/// resolver that first asked for a key (and their log lines keep the request id).
pub fn spawn_in_current_span(
    task: futures::future::BoxFuture<'static, ()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(task.in_current_span())
}

/// A `tracing` layer that records the spans opened under it, for tests.
#[cfg(test)]
pub(crate) mod capture {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, Once};
    use std::thread::ThreadId;
    use tracing::span::{Attributes, Id, Record};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    /// A span as a test sees it: its fields (those recorded later included, `span` is its name) and its parent.
    #[derive(Debug, Clone)]
    pub(crate) struct Captured {
        pub(crate) id: u64,
        pub(crate) parent: Option<u64>,
        fields: HashMap<String, String>,
    }

    impl Captured {
        pub(crate) fn field(&self, name: &str) -> Option<&str> {
            self.fields.get(name).map(String::as_str)
        }
    }

    type Spans = Arc<Mutex<Vec<Captured>>>;

    /// The captures under way, by the thread their test runs on (`#[tokio::test]` polls everything on it).
    static CAPTURES: Mutex<Option<HashMap<ThreadId, Spans>>> = Mutex::new(None);

    fn capture_of_this_thread() -> Option<Spans> {
        let captures = CAPTURES.lock().unwrap();
        captures
            .as_ref()?
            .get(&std::thread::current().id())
            .cloned()
    }

    struct Fields<'a>(&'a mut HashMap<String, String>);

    impl tracing::field::Visit for Fields<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }

        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    /// The layer of the one global subscriber: it hands each span to the capture of the thread that opens it.
    struct Router;

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Router {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let Some(spans) = capture_of_this_thread() else {
                return;
            };
            let mut fields = HashMap::new();
            fields.insert("span".to_owned(), attrs.metadata().name().to_owned());
            attrs.record(&mut Fields(&mut fields));
            let parent = ctx
                .span(id)
                .and_then(|s| s.parent())
                .map(|p| p.id().into_u64());
            spans.lock().unwrap().push(Captured {
                id: id.into_u64(),
                parent,
                fields,
            });
        }

        fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
            let Some(spans) = capture_of_this_thread() else {
                return;
            };
            let mut spans = spans.lock().unwrap();
            // The latest span of that id: the registry reuses a closed span's id.
            if let Some(span) = spans.iter_mut().rev().find(|s| s.id == id.into_u64()) {
                values.record(&mut Fields(&mut span.fields));
            }
        }
    }

    /// Takes this thread out of the captures, even when the captured future panics.
    struct Registered(ThreadId);

    impl Drop for Registered {
        fn drop(&mut self) {
            if let Ok(mut captures) = CAPTURES.lock()
                && let Some(captures) = captures.as_mut()
            {
                captures.remove(&self.0);
            }
        }
    }

    /// The spans `future` opens (on this thread: the test runtime's).
    ///
    /// Why one global subscriber rather than a thread-local one per capture (`set_default`): tracing caches each
    /// callsite's interest globally. With thread-local subscribers, a test running without one (another test of
    /// the same engine, in parallel) registers a callsite as "never interested" whenever its registration reads the
    /// dispatchers before a capture's subscriber exists and stores its answer after that capture's rebuild of the
    /// cache: the capture then misses that span (seen twice in CI on 2026-12-06: the resolve spans captured without
    /// their operation span, once with captures already taking turns). The global subscriber is interested in every
    /// callsite, always, so no interleaving can disable one; spans of threads that are not capturing are ignored.
    pub(crate) async fn spans_of<F: Future>(future: F) -> Vec<Captured> {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::registry().with(Router);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in this test binary");
        });
        // A callsite registered by another thread while the global subscriber was being installed may still hold
        // the answer of before; once installed, every rebuild answers "always".
        tracing::callsite::rebuild_interest_cache();
        let thread = std::thread::current().id();
        let spans = Spans::default();
        CAPTURES
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .insert(thread, spans.clone());
        let registered = Registered(thread);
        future.await;
        drop(registered);
        spans.lock().unwrap().clone()
    }

    /// The spans named `name`.
    pub(crate) fn named<'a>(spans: &'a [Captured], name: &str) -> Vec<&'a Captured> {
        spans
            .iter()
            .filter(|s| s.field("span") == Some(name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::capture::{named, spans_of};
    use super::*;
    use async_graphql::{EmptySubscription, Object, Schema, SimpleObject};

    #[derive(SimpleObject)]
    struct Inner {
        c: i32,
    }

    struct Query;

    #[Object]
    impl Query {
        async fn a(&self) -> Inner {
            Inner { c: 1 }
        }

        async fn b(&self, n: i32) -> i32 {
            n
        }

        async fn failing(&self) -> async_graphql::Result<i32> {
            Err(async_graphql::Error::new("boom"))
        }
    }

    struct Mutation;

    #[Object]
    impl Mutation {
        async fn m(&self) -> i32 {
            1
        }
    }

    type TestSchema = Schema<Traced<Query>, Traced<Mutation>, EmptySubscription>;

    fn schema() -> TestSchema {
        Schema::build(Traced(Query), Traced(Mutation), EmptySubscription).finish()
    }

    /// Runs `query` within an operation span, as the engine does, and records its response on it.
    async fn traced(schema: &TestSchema, query: &str, ty: &str) {
        let span = operation_span(Some("Q"), ty, 7, 2);
        let response = schema.execute(query).instrument(span.clone()).await;
        record_response(&span, &response);
    }

    #[tokio::test]
    async fn root_fields_get_a_span_under_the_operation() {
        let s = schema();
        let query = "query Q { a { c } b(n: 1) __typename __schema { queryType { name } } __type(name: \"Inner\") { name } }";
        let spans = spans_of(traced(&s, query, "query")).await;
        let operation = named(&spans, "graphql.operation")[0];
        for (field, value) in [
            ("otel.name", "query Q"),
            ("graphql.operation.name", "Q"),
            ("graphql.operation.type", "query"),
            ("graphql.complexity", "7"),
            ("graphql.depth", "2"),
        ] {
            assert_eq!(
                operation.field(field),
                Some(value),
                "{field}: {operation:?}"
            );
        }
        assert_eq!(operation.field("otel.status_code"), None);
        // Root fields only: not `a`'s `c`, not `__typename` nor introspection.
        let mut resolved: Vec<_> = named(&spans, "graphql.resolve")
            .into_iter()
            .map(|s| {
                assert_eq!(s.parent, Some(operation.id), "{s:?}");
                s.field("otel.name").unwrap_or_default()
            })
            .collect();
        resolved.sort_unstable();
        assert_eq!(resolved, ["Query.a", "Query.b"]);
        let b = named(&spans, "graphql.resolve")
            .into_iter()
            .find(|s| s.field("graphql.field.name") == Some("b"))
            .unwrap();
        assert_eq!(b.field("graphql.field.parent_type"), Some("Query"));
        assert_eq!(b.field("otel.status_code"), None);
    }

    #[tokio::test]
    async fn errors_are_recorded_on_both_spans() {
        let s = schema();
        let spans = spans_of(traced(&s, "{ failing b(n: 2) }", "query")).await;
        let operation = named(&spans, "graphql.operation")[0];
        assert_eq!(operation.field("otel.status_code"), Some("ERROR"));
        assert_eq!(operation.field("graphql.errors"), Some("1"));
        let resolved = named(&spans, "graphql.resolve");
        let status = |name: &str| {
            resolved
                .iter()
                .find(|s| s.field("graphql.field.name") == Some(name))
                .map(|s| s.field("otel.status_code"))
        };
        assert_eq!(status("failing"), Some(Some("ERROR")));
        assert_eq!(status("b"), Some(None));
    }

    #[tokio::test]
    async fn mutation_fields_are_traced_and_the_sdl_does_not_change() {
        let s = schema();
        let spans = spans_of(traced(&s, "mutation { m }", "mutation")).await;
        let resolved = named(&spans, "graphql.resolve");
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].field("otel.name"), Some("Mutation.m"));
        let bare = Schema::build(Query, Mutation, EmptySubscription).finish();
        assert_eq!(s.sdl(), bare.sdl());
    }
}
