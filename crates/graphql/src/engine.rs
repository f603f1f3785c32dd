//! Where every GraphQL request runs: a schema with no async-graphql extension, and around it what extensions used
//! to do.
//!
//! With any extension registered, async-graphql sends every field and every list item through the extensions'
//! chain of boxed futures, plus a registry look-up of the field by name (12 % of a simple query's CPU); with none
//! it takes a direct path. So [`Engine`] does, once per request and on the document parsed once:
//!
//! 1. the refusals of [`crate::nul`] (NUL characters, long strings in a read), before anything runs;
//! 2. the `graphql.operation` span of [`crate::telemetry`] around validation and execution (root fields get theirs
//!    from [`Traced`](crate::telemetry::Traced), the schema's root types);
//! 3. the codes of [`ErrorCodes`] on every error of the response.
//!
//! It implements [`async_graphql::Executor`], so the HTTP endpoints, the WebSocket handler and tests all run
//! requests the same way; executing the bare [`Engine::schema`] skips all three.

use crate::cost::{Analysis, CostModel};
use crate::kit::error::ErrorCodes;
use crate::kit::gate::PollGate;
use crate::schema::{MutationRoot, QueryRoot, SchemaLimits, recursive_depth};
use crate::telemetry::Traced;
use crate::{changes, nul, telemetry};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Data, Executor, ObjectType, Request, Response, Schema, SchemaBuilder, ServerError,
    SubscriptionType, ValidationMode, Variables,
};
use futures::stream::{BoxStream, StreamExt};
use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock};
use tracing::Instrument;

/// What runs every request of the public schema: the schema, with error codes, refusals and spans.
pub type MaillageEngine =
    Engine<Traced<QueryRoot>, Traced<MutationRoot>, changes::FeedSubscription>;

/// Builds the engine over the public schema. It holds no database: each request carries its own
/// [`RequestState`](crate::RequestState).
pub fn build_engine(limits: SchemaLimits) -> MaillageEngine {
    Engine::new(crate::schema::builder, limits)
}

/// A schema and what runs around each of its requests (see the module documentation).
pub struct Engine<Q, M, S> {
    schema: Schema<Q, M, S>,
    /// The same schema, validating in async-graphql's fast mode: for requests [`Validated`] has seen pass.
    revalidating: Schema<Q, M, S>,
    validated: Arc<Validated>,
    cost: Arc<CostModel>,
    /// async-graphql's recursion limit, the schema's: a document nesting deeper is refused right after parsing.
    recursion_limit: usize,
}

impl<Q, M, S> Clone for Engine<Q, M, S> {
    fn clone(&self) -> Self {
        Self {
            schema: self.schema.clone(),
            revalidating: self.revalidating.clone(),
            validated: self.validated.clone(),
            cost: self.cost.clone(),
            recursion_limit: self.recursion_limit,
        }
    }
}

/// How many requests [`Validated`] remembers before it starts again from none.
const VALIDATED_KEPT: usize = 4096;

/// The requests (document text, operation name and variables) that passed async-graphql's full validation, so that
/// the same request sent again is only checked by its fast mode.
///
/// Why: the full validation walks the document with 22 rules on every request; on a page of 50 sites it was 5 % of
/// the instructions, and dashboards send the same documents over and over (issue #16, docs/PERFORMANCE.md). Its
/// outcome depends only on the schema, the document, the operation and the variables (a variable's value is checked
/// against its argument's type), so a request that passed once passes again. The fast mode still computes the
/// complexity and depth the limits check, and a request that failed is never remembered: its errors are always the
/// full validation's.
///
/// Requests are remembered by a 64-bit keyed hash, the key random per process: a collision, about one in 10^15
/// here and not something a client can aim for, would only skip the messages of the rules that the executor
/// enforces again as it runs. When full, the set is emptied rather than ordered by use: the documents in use come
/// back at their next request, and nothing is kept per request beyond a number.
#[derive(Default)]
struct Validated {
    hasher: RandomState,
    keys: RwLock<HashSet<u64>>,
}

impl Validated {
    /// The key of `request`: its text, operation and variables.
    fn key(&self, request: &Request) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        request.query.hash(&mut hasher);
        request.operation_name.hash(&mut hasher);
        // Variables have no `Hash`; their JSON text stands for them (an empty object for most requests).
        match serde_json::to_vec(&request.variables) {
            Ok(text) => text.hash(&mut hasher),
            // Not expected of values parsed from JSON; such a request is then validated every time.
            Err(_) => return 0,
        }
        hasher.finish().max(1)
    }

    fn passed(&self, key: u64) -> bool {
        key != 0
            && self
                .keys
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&key)
    }

    fn remember(&self, key: u64) {
        if key == 0 {
            return;
        }
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= VALIDATED_KEPT {
            keys.clear();
        }
        keys.insert(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// What the engine learnt of a request before handing it to async-graphql.
struct Prepared {
    codes: ErrorCodes,
    /// The `graphql.operation` span; `None` when async-graphql refuses the request before validation, or for a
    /// subscription over a stream (it would last as long as the subscription).
    span: Option<tracing::Span>,
}

impl Prepared {
    /// Codes the response's errors and records them on the span.
    fn finish(&self, response: &mut Response) {
        self.codes.apply(&mut response.errors);
        if let Some(span) = &self.span {
            telemetry::record_response(span, response);
        }
    }
}

/// A request refused before async-graphql sees it (boxed: the refusal is the rare path).
fn refused(error: ServerError) -> Box<ServerError> {
    Box::new(error)
}

impl<Q, M, S> Engine<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    /// The engine of the schema `builder` builds, with `limits` (async-graphql's own depth and complexity limits,
    /// and a recursion limit that follows the depth limit) and no extension. `builder` is called twice: the second
    /// schema validates requests already validated in full ([`Validated`]).
    pub fn new(builder: impl Fn() -> SchemaBuilder<Q, M, S>, limits: SchemaLimits) -> Self {
        let recursion_limit = recursive_depth(limits);
        let finish = |mode| {
            builder()
                .limit_depth(limits.max_depth)
                .limit_complexity(limits.max_complexity)
                .limit_recursive_depth(recursion_limit)
                .validation_mode(mode)
                .finish()
        };
        let schema = finish(ValidationMode::Strict);
        let revalidating = finish(ValidationMode::Fast);
        let cost = Arc::new(CostModel::from_sdl(&schema.sdl()));
        Self {
            schema,
            revalidating,
            validated: Arc::default(),
            cost,
            recursion_limit,
        }
    }

    /// The schema itself, for its SDL. Executing it directly skips the refusals, spans and codes.
    pub fn schema(&self) -> &Schema<Q, M, S> {
        &self.schema
    }

    /// The cost rules of the schema, read from its SDL once.
    pub fn cost_model(&self) -> &Arc<CostModel> {
        &self.cost
    }

    /// Runs a request (a parsed document set with `Request::set_parsed_query` is not parsed again).
    pub async fn execute(&self, request: impl Into<Request>) -> Response {
        self.execute_analyzed(request.into(), None).await
    }

    /// Runs a request whose document the caller already analyzed with [`Engine::cost_model`] (the HTTP endpoint
    /// does, for its limits): the span's complexity and depth are taken from `analysis` rather than computed again.
    pub async fn execute_analyzed(
        &self,
        mut request: Request,
        analysis: Option<Analysis>,
    ) -> Response {
        let prepared = match self.prepare(&mut request, analysis, true) {
            Ok(prepared) => prepared,
            Err(error) => return Response::from_errors(vec![*error]),
        };
        let key = self.validated.key(&request);
        let passed = self.validated.passed(key);
        let schema = if passed {
            &self.revalidating
        } else {
            &self.schema
        };
        // The loaders of the request batch on its polls (`crate::kit::gate`).
        let gate = PollGate::new();
        let execution = gate.run(schema.execute(request));
        let mut response = match &prepared.span {
            Some(span) => execution.instrument(span.clone()).await,
            None => execution.await,
        };
        // Errors without a path are the request's own (syntax, validation, limits, an unknown operation): with none,
        // the request passed validation.
        if !passed && response.errors.iter().all(|e| !e.path.is_empty()) {
            self.validated.remember(key);
        }
        prepared.finish(&mut response);
        response
    }

    /// Checks the request and learns what its response's errors and span need; `Err` is the error of a request
    /// refused here. `trace_subscriptions`: whether a subscription gets an operation span.
    fn prepare(
        &self,
        request: &mut Request,
        analysis: Option<Analysis>,
        trace_subscriptions: bool,
    ) -> Result<Prepared, Box<ServerError>> {
        nul::check_variables(&request.variables).map_err(refused)?;
        // Taken out while the document (parsed into the request, for async-graphql to reuse) borrows the request.
        let variables = std::mem::take(&mut request.variables);
        let operation_name = request.operation_name.take();
        let prepared = match request.parsed_query() {
            Err(error) => Err(refused(ErrorCodes::parse_error(error))),
            Ok(doc) => self.inspect(
                doc,
                operation_name.as_deref(),
                &variables,
                analysis,
                trace_subscriptions,
            ),
        };
        request.variables = variables;
        request.operation_name = operation_name;
        prepared
    }

    fn inspect(
        &self,
        doc: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
        analysis: Option<Analysis>,
        trace_subscriptions: bool,
    ) -> Result<Prepared, Box<ServerError>> {
        let codes = ErrorCodes::new(doc, self.recursion_limit);
        // async-graphql refuses a document nested too deep before anything else, the NUL checks included.
        if codes.too_deep() {
            return Ok(Prepared { codes, span: None });
        }
        nul::check_document(doc, variables).map_err(refused)?;
        let (name, ty) = telemetry::selected_operation(doc, operation_name);
        // "unknown": no operation to run (an unknown name, or several without one); async-graphql refuses it.
        let traced = match ty {
            "unknown" => false,
            "subscription" => trace_subscriptions,
            _ => true,
        };
        let span = traced.then(|| {
            let analysis =
                analysis.unwrap_or_else(|| self.cost.analyze(doc, operation_name, variables));
            telemetry::operation_span(name, ty, analysis.cost, analysis.depth)
        });
        Ok(Prepared { codes, span })
    }
}

impl<Q, M, S> Executor for Engine<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    async fn execute(&self, request: Request) -> Response {
        self.execute_analyzed(request, None).await
    }

    /// Queries and mutations over a stream (a WebSocket) get their operation span; a subscription does not (it
    /// would last as long as the subscription), its events' errors get their codes.
    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let prepared = match self.prepare(&mut request, None, false) {
            Ok(prepared) => prepared,
            Err(error) => {
                let response = Response::from_errors(vec![*error]);
                return futures::stream::once(async move { response }).boxed();
            }
        };
        let inner = self
            .schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default());
        // One gate for the whole stream: its loaders batch on the stream's polls (`crate::kit::gate`).
        let state = (inner, prepared, PollGate::new());
        futures::stream::unfold(state, |(mut inner, prepared, gate)| async move {
            let next = gate.run(inner.next());
            let next = match &prepared.span {
                Some(span) => next.instrument(span.clone()).await,
                None => next.await,
            };
            let mut response = next?;
            prepared.finish(&mut response);
            Some((response, (inner, prepared, gate)))
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::telemetry::capture::{named, spans_of};
    use async_graphql::{EmptySubscription, Object};

    struct Query;

    #[Object]
    impl Query {
        async fn value(&self, n: i32) -> i32 {
            n
        }

        async fn echo(&self, s: String) -> String {
            s
        }

        async fn nested(&self) -> Query {
            Query
        }

        async fn failing(&self) -> async_graphql::Result<i32> {
            Err(async_graphql::Error::new("boom"))
        }
    }

    struct Mutation;

    #[Object]
    impl Mutation {
        async fn store(&self, s: String) -> usize {
            s.len()
        }
    }

    type TestEngine = Engine<Traced<Query>, Traced<Mutation>, EmptySubscription>;

    fn engine() -> TestEngine {
        Engine::new(
            || Schema::build(Traced(Query), Traced(Mutation), EmptySubscription),
            SchemaLimits::default(),
        )
    }

    fn code(response: &Response) -> String {
        let json = serde_json::to_value(response).unwrap();
        json["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The codes and refusals every request gets, over `execute` and over a stream (a WebSocket), where the bare
    /// schema gives none.
    #[tokio::test]
    async fn every_request_gets_codes_and_refusals() {
        let e = engine();
        let deep = format!(
            "{{ {} value(n: 1) {} }}",
            "nested { ".repeat(40),
            "} ".repeat(40)
        );
        let cases = [
            ("{ value(n: 1", "graphql_validation_failed"),
            ("{ nope }", "graphql_validation_failed"),
            (deep.as_str(), "query_too_deep"),
            ("{ value(n: 99999999999) }", "invalid_value"),
            ("{ failing }", "internal_error"),
            ("{ echo(s: \"\\u0000\") }", "invalid_value"),
        ];
        for (query, expected) in cases {
            assert_eq!(code(&e.execute(query).await), expected, "{query}");
            let streamed: Vec<Response> = Executor::execute_stream(&e, Request::new(query), None)
                .collect()
                .await;
            assert_eq!(streamed.len(), 1);
            assert_eq!(code(&streamed[0]), expected, "{query} over a stream");
        }
        let nul_variable = Request::new("query($v: String!) { echo(s: $v) }")
            .variables(Variables::from_json(serde_json::json!({ "v": "\u{0}" })));
        assert_eq!(code(&e.execute(nul_variable).await), "invalid_value");
        assert_eq!(code(&e.schema().execute("{ failing }").await), "");
        let ok = e.execute("{ value(n: 3) }").await;
        assert!(ok.errors.is_empty());
        assert_eq!(ok.data.to_string(), "{value: 3}");
    }

    /// The operation span carries the service's own cost analysis; only documents that parse (and name an
    /// operation) get one.
    #[tokio::test]
    async fn the_operation_span_carries_the_cost_analysis() {
        let e = engine();
        let query = "query Q { nested { nested { value(n: 1) } } failing }";
        let spans = spans_of(e.execute(query)).await;
        let operations = named(&spans, "graphql.operation");
        assert_eq!(operations.len(), 1, "{spans:?}");
        let operation = operations[0];
        let doc = async_graphql::parser::parse_query(query).unwrap();
        let analysis = e.cost_model().analyze(&doc, None, &Variables::default());
        assert_eq!(analysis.depth, 3);
        let cost = analysis.cost.to_string();
        for (field, value) in [
            ("otel.name", "query Q"),
            ("graphql.operation.type", "query"),
            ("graphql.complexity", cost.as_str()),
            ("graphql.depth", "3"),
            ("otel.status_code", "ERROR"),
            ("graphql.errors", "1"),
        ] {
            assert_eq!(
                operation.field(field),
                Some(value),
                "{field}: {operation:?}"
            );
        }
        let resolved = named(&spans, "graphql.resolve");
        assert_eq!(resolved.len(), 2, "{resolved:?}");
        assert!(resolved.iter().all(|s| s.parent == Some(operation.id)));
        // A precomputed analysis (the HTTP endpoint's) is used as is.
        let given = Analysis {
            depth: 9,
            cost: 99,
            ..Analysis::default()
        };
        let spans = spans_of(
            e.execute_analyzed(Request::new("mutation M { store(s: \"x\") }"), Some(given)),
        )
        .await;
        let operation = named(&spans, "graphql.operation")[0];
        assert_eq!(operation.field("otel.name"), Some("mutation M"));
        assert_eq!(operation.field("graphql.complexity"), Some("99"));
        assert_eq!(operation.field("graphql.depth"), Some("9"));
        assert_eq!(
            named(&spans, "graphql.resolve")[0].field("otel.name"),
            Some("Mutation.store")
        );
        for refused in [
            Request::new("{ value(n: "),
            Request::new("query A { value(n: 1) }").operation_name("B"),
            Request::new("{ echo(s: \"\\u0000\") }"),
        ] {
            assert!(spans_of(e.execute(refused)).await.is_empty());
        }
    }

    /// A request that passed the full validation is validated in fast mode when sent again, with the same answer;
    /// one that failed, or the same document with other variables, gets the full validation's errors.
    #[tokio::test]
    async fn a_request_validated_once_is_not_validated_in_full_again() {
        let e = engine();
        let with = |n: serde_json::Value| {
            Request::new("query($n: Int!) { value(n: $n) nested { value(n: 2) } }")
                .variables(Variables::from_json(serde_json::json!({ "n": n })))
        };
        let first = e.execute(with(serde_json::json!(1))).await;
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        assert_eq!(e.validated.len(), 1);
        let again = e.execute(with(serde_json::json!(1))).await;
        assert_eq!(again, first);
        assert_eq!(e.validated.len(), 1);
        // Other variables: another request, validated in full, here refused by the full validation alone.
        let fresh = engine();
        for n in [serde_json::json!("x"), serde_json::json!(null)] {
            let refused = e.execute(with(n.clone())).await;
            assert_eq!(code(&refused), "graphql_validation_failed", "{n}");
            assert_eq!(
                serde_json::to_value(&refused).unwrap(),
                serde_json::to_value(fresh.execute(with(n.clone())).await).unwrap()
            );
        }
        for refused in ["{ nope }", "{ value }", "{ value(n: 1) value(n: 2) }"] {
            for _ in 0..2 {
                let response = e.execute(refused).await;
                assert_eq!(code(&response), "graphql_validation_failed", "{refused}");
                assert_eq!(response.errors, fresh.execute(refused).await.errors);
            }
        }
        // A resolver's error has a path: the request itself was valid.
        e.execute("{ failing }").await;
        assert_eq!(e.validated.len(), 2);
        let mut other_operation = Request::new("query A { value(n: 1) } query B { value(n: 2) }");
        other_operation = other_operation.operation_name("B");
        let b = e.execute(other_operation).await;
        assert_eq!(b.data.to_string(), "{value: 2}");
        let a = e
            .execute(
                Request::new("query A { value(n: 1) } query B { value(n: 2) }").operation_name("A"),
            )
            .await;
        assert_eq!(a.data.to_string(), "{value: 1}");
        assert_eq!(e.validated.len(), 4);
    }
}
