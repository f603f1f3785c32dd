//! Spans for GraphQL operations and their top-level resolvers, written over `tracing` (async-graphql's own
//! OpenTelemetry extension pins an old opentelemetry; this one leaves exporting to whatever subscriber the binary
//! installs).
//!
//! `graphql.operation` wraps the execution, so every span opened while it runs, the SQL statements' included, is its
//! descendant. It carries the operation's name and type (its name is e.g. `query Sites`), its complexity and depth,
//! and an error status when the response has errors. `graphql.resolve` wraps each top-level field: the unit a slow operation is usually broken into. Deeper
//! fields get no span of their own: a connection of 100 sites would otherwise open thousands.
//!
//! The document itself is not recorded: literals in it may be personal data (an e-mail in a filter).

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextResolve, NextValidation, ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};
use std::sync::{Arc, Mutex};
use tracing::Instrument;
use tracing::field::Empty;

/// The extension factory to register on a schema (`.extension(Telemetry)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Telemetry;

impl ExtensionFactory for Telemetry {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(TelemetryExtension::default())
    }
}

/// One per request: what the parse and validation hooks learn, for the span the execute hook opens.
#[derive(Default)]
struct TelemetryExtension {
    requested_name: Mutex<Option<String>>,
    operation: Mutex<Option<(Option<String>, &'static str)>>,
    validation: Mutex<Option<(usize, usize)>>,
}

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

#[async_graphql::async_trait::async_trait]
impl Extension for TelemetryExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut name) = self.requested_name.lock() {
            name.clone_from(&request.operation_name);
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let wanted = self.requested_name.lock().ok().and_then(|n| n.clone());
        let (name, ty) = selected_operation(&doc, wanted.as_deref());
        if let Ok(mut operation) = self.operation.lock() {
            *operation = Some((name.map(str::to_owned), ty));
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await;
        if let (Ok(validated), Ok(mut slot)) = (&result, self.validation.lock()) {
            *slot = Some((validated.complexity, validated.depth));
        }
        result
    }

    /// The span opens here, once parsing and validation told its name, type and cost: an OpenTelemetry span's name
    /// cannot change once it started. A document that fails to parse or validate never executes; its error is on
    /// the enclosing `http.request` span and in the metrics.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let (name, ty) = self
            .operation
            .lock()
            .ok()
            .and_then(|o| o.clone())
            .unwrap_or((None, "unknown"));
        let name = name.or_else(|| operation_name.map(str::to_owned));
        let (complexity, depth) = self
            .validation
            .lock()
            .ok()
            .and_then(|v| *v)
            .unwrap_or_default();
        let span = tracing::info_span!(
            "graphql.operation",
            otel.name = %match &name {
                Some(name) => format!("{ty} {name}"),
                None => ty.to_owned(),
            },
            otel.status_code = Empty,
            graphql.operation.name = name.as_deref().unwrap_or_default(),
            graphql.operation.type = ty,
            graphql.complexity = complexity,
            graphql.depth = depth,
            graphql.errors = Empty,
        );
        let response = next.run(ctx, operation_name).instrument(span.clone()).await;
        if !response.errors.is_empty() {
            span.record("otel.status_code", "ERROR");
            span.record("graphql.errors", response.errors.len());
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() || info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        let span = tracing::info_span!(
            "graphql.resolve",
            otel.name = %format!("{}.{}", info.parent_type, info.name),
            graphql.field.name = info.name,
            graphql.field.parent_type = info.parent_type,
            otel.status_code = Empty,
        );
        let result = next.run(ctx, info).instrument(span.clone()).await;
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        result
    }
}

/// A DataLoader spawner that keeps the current span: `DataLoader::new(loader, spawn_in_current_span)`.
///
/// With plain `tokio::spawn`, a batch's statements start a trace of their own; spawned this way they stay under the
/// resolver that first asked for a key (and their log lines keep the request id).
pub fn spawn_in_current_span(
    task: futures::future::BoxFuture<'static, ()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(task.in_current_span())
}
