//! Spans for GraphQL operations and their top-level resolvers, written over `tracing` (async-graphql's own
//! OpenTelemetry extension pins an old opentelemetry; this one leaves exporting to whatever subscriber the binary
//! installs).
//!
//! `graphql.operation` wraps the whole request (parsing, validation, execution), so every span opened while it
//! runs, the SQL statements' included, is its descendant. It carries the operation's name and type (`otel.name`
//! becomes e.g. `query Sites`), its complexity and depth once validated, and an error status when the response has
//! errors. `graphql.resolve` wraps each top-level field: the unit a slow operation is usually broken into. Deeper
//! fields get no span of their own: a connection of 100 sites would otherwise open thousands.
//!
//! The document itself is not recorded: literals in it may be personal data (an e-mail in a filter).

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
    NextRequest, NextResolve, NextValidation, ResolveInfo,
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

/// One per request: remembers what later hooks need and the request's span.
#[derive(Default)]
struct TelemetryExtension {
    operation_name: Mutex<Option<String>>,
    span: Mutex<Option<tracing::Span>>,
}

impl TelemetryExtension {
    fn span(&self) -> tracing::Span {
        self.span
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .unwrap_or_else(tracing::Span::none)
    }
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
    let mut matching = doc.operations.iter().filter(|(name, _)| match operation_name {
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
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let span = tracing::info_span!(
            "graphql.operation",
            otel.name = "graphql",
            otel.status_code = Empty,
            graphql.operation.name = Empty,
            graphql.operation.type = Empty,
            graphql.complexity = Empty,
            graphql.depth = Empty,
            graphql.errors = Empty,
        );
        if let Ok(mut slot) = self.span.lock() {
            *slot = Some(span.clone());
        }
        let response = next.run(ctx).instrument(span.clone()).await;
        if !response.errors.is_empty() {
            span.record("otel.status_code", "ERROR");
            span.record("graphql.errors", response.errors.len());
        }
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut name) = self.operation_name.lock() {
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
        let wanted = self.operation_name.lock().ok().and_then(|n| n.clone());
        let (name, ty) = selected_operation(&doc, wanted.as_deref());
        let span = self.span();
        span.record("graphql.operation.type", ty);
        if let Some(name) = name {
            span.record("graphql.operation.name", name);
            span.record("otel.name", format!("{ty} {name}"));
        } else {
            span.record("otel.name", ty);
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await;
        if let Ok(validated) = &result {
            let span = self.span();
            span.record("graphql.complexity", validated.complexity);
            span.record("graphql.depth", validated.depth);
        }
        result
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
