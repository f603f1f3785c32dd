//! The GraphQL endpoint over HTTP, and GraphiQL.
//!
//! Our own handler rather than async-graphql-axum's: content negotiation and status codes follow the
//! GraphQL-over-HTTP spec (`application/graphql-response+json` gets 4xx for request errors, `application/json`
//! gets 200), GET never runs a mutation, and every error body carries `extensions.code`. Every GraphQL response
//! carries `extensions.cost`; the limits of `crate::protection` and persisted queries (`crate::persisted`) apply
//! before anything is parsed by async-graphql.
//!
//! A request goes through [`Pipeline::run`], one step per method: read the request, resolve the document
//! (persisted queries, trusted documents), check the limits, refuse a mutation over GET, reserve the cost budget,
//! execute, and answer with the cost. The caller is authenticated and rate-limited before, by the shared
//! [`Caller`] extractor; the codes of async-graphql's own errors come from `maillage_graphql::kit::error`.

use crate::error::ApiError;
use crate::extract::Caller;
use crate::persisted::{PersistedQuery, PersistedQueryError, persisted_query, sha256_hex};
use crate::protection::Protection;
use crate::state::AppState;
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maillage_core::Code;
use maillage_graphql::kit::json::{
    JsonFragments, Pieces, text_len_hint, write_data_in_pieces, writes_fragments,
};
use maillage_graphql::{RequestState, cost};
use serde::Deserialize;
use serde_json::json;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type the client accepts for the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseType {
    /// `application/graphql-response+json`: request errors get a 4xx status.
    GraphqlResponse,
    /// `application/json` (legacy): always 200 once the request is understood.
    Json,
}

impl ResponseType {
    fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response type from `Accept`; `None` when the client accepts neither JSON type.
fn negotiate(headers: &HeaderMap) -> Option<ResponseType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(ResponseType::Json);
    };
    let mut best: Option<(f32, ResponseType)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let media = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let candidate = match media.as_str() {
            GRAPHQL_RESPONSE => Some(ResponseType::GraphqlResponse),
            JSON | "application/*" | "*/*" => Some(ResponseType::Json),
            _ => None,
        };
        if let Some(c) = candidate
            && q > 0.0
            && best.is_none_or(|(bq, bt)| {
                q > bq || (q == bq && c == ResponseType::GraphqlResponse && bt != c)
            })
        {
            best = Some((q, c));
        }
    }
    best.map(|(_, t)| t)
}

/// The JSON body of a GraphQL request.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphqlBody {
    query: Option<String>,
    #[serde(default)]
    variables: Option<serde_json::Value>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    extensions: Option<serde_json::Value>,
}

/// The query string of a GraphQL request over GET, decoded by axum's `Query`; other parameters are ignored.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GetParams {
    /// The document.
    query: Option<String>,
    /// The variables, a JSON object as text.
    variables: Option<String>,
    /// The operation to run, when the document has several.
    operation_name: Option<String>,
    /// The extensions (a persisted query), a JSON object as text.
    extensions: Option<String>,
}

impl GetParams {
    /// The request these parameters carry; `variables` and `extensions` must be JSON.
    fn into_body(self) -> Result<GraphqlBody, ApiError> {
        let json = |raw: Option<String>, what: &str| {
            raw.map(|v| serde_json::from_str::<serde_json::Value>(&v))
                .transpose()
                .map_err(|_| {
                    ApiError::new(Code::BadRequest, format!("{what} must be a JSON object"))
                })
        };
        Ok(GraphqlBody {
            variables: json(self.variables, "variables")?,
            extensions: json(self.extensions, "extensions")?,
            query: self.query,
            operation_name: self.operation_name,
        })
    }
}

/// Which schema a request runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/graphql`: the public schema.
    Public,
    /// `/federation/graphql`: the Apollo Federation subgraph.
    Federation,
}

/// `POST /graphql`.
pub async fn graphql_post(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    post(&app, Endpoint::Public, caller, &headers, body).await
}

/// `POST /federation/graphql`: the subgraph a federation gateway calls (same rules as `/graphql`).
pub async fn federation_post(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    post(&app, Endpoint::Federation, caller, &headers, body).await
}

/// `GET /graphql`: GraphiQL for browsers, queries (never mutations) for clients.
pub async fn graphql_get(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    params: Result<Query<GetParams>, QueryRejection>,
) -> Response {
    get(&app, Endpoint::Public, caller, &headers, params).await
}

/// `GET /federation/graphql`: queries over GET on the subgraph.
pub async fn federation_get(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    params: Result<Query<GetParams>, QueryRejection>,
) -> Response {
    get(&app, Endpoint::Federation, caller, &headers, params).await
}

/// A refusal in the negotiated media type, outside any pipeline (no caller, or no acceptable type).
fn refuse(ty: ResponseType, e: ApiError) -> Response {
    let status = e.status();
    e.render(status, ty.content_type(), None)
}

fn not_acceptable() -> Response {
    refuse(
        ResponseType::Json,
        ApiError::new(
            Code::NotAcceptable,
            "accept application/graphql-response+json or application/json",
        ),
    )
}

async fn post(
    app: &AppState,
    endpoint: Endpoint,
    caller: Result<Caller, ApiError>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(ty) = negotiate(headers) else {
        return not_acceptable();
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(e) => return refused_caller(app, ty, e),
    };
    match read_post_body(headers, body) {
        Ok(body) => {
            let pipeline = Pipeline::new(app, endpoint, ty, caller, false);
            pipeline.run(body).await
        }
        Err(e) => refuse(ty, e),
    }
}

/// The GraphQL request of a POST: a JSON body.
fn read_post_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<GraphqlBody, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if content_type != JSON {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            "send the request as application/json",
        ));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                Code::PayloadTooLarge,
                "the request body is larger than this server accepts",
            )
        } else {
            ApiError::new(Code::BadRequest, "the request body could not be read")
        }
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            Code::BadRequest,
            format!("the body is not a valid GraphQL request: {e}"),
        )
    })
}

async fn get(
    app: &AppState,
    endpoint: Endpoint,
    caller: Result<Caller, ApiError>,
    headers: &HeaderMap,
    params: Result<Query<GetParams>, QueryRejection>,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .contains("text/html");
    let params = params.map(|Query(p)| p);
    if endpoint == Endpoint::Public
        && wants_html
        && params.as_ref().is_ok_and(|p| *p == GetParams::default())
    {
        return graphiql_page();
    }
    let Some(ty) = negotiate(headers) else {
        return not_acceptable();
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(e) => return refused_caller(app, ty, e),
    };
    let body = params
        .map_err(|e| {
            ApiError::new(
                Code::BadRequest,
                format!("invalid query string: {}", e.body_text()),
            )
        })
        .and_then(GetParams::into_body);
    match body {
        Ok(body) => {
            let pipeline = Pipeline::new(app, endpoint, ty, caller, true);
            pipeline.run(body).await
        }
        Err(e) => refuse(ty, e),
    }
}

/// The answer to a caller the gate refused; a rate limit also reports the caller's budget (`extensions.cost`).
fn refused_caller(app: &AppState, ty: ResponseType, e: ApiError) -> Response {
    let cost = e
        .bucket()
        .map(|key| cost_json(&app.protection, key, Some(0), 0, None));
    let status = e.status();
    e.render(
        status,
        ty.content_type(),
        cost.map(|c| json!({ "cost": c })),
    )
}

/// `extensions.cost`: `requested` (static cost, `null` when the document could not be analyzed), `actual` (fields
/// in the response's `data`) and `remaining` (the caller's budget now; `null` without a budget).
fn cost_json(
    protection: &Protection,
    key: &str,
    requested: Option<u64>,
    actual: u64,
    remaining: Option<u64>,
) -> serde_json::Value {
    let remaining = remaining.or_else(|| protection.budget.as_ref().map(|b| b.remaining(key)));
    json!({ "requested": requested, "actual": actual, "remaining": remaining })
}

/// A GraphQL request refused before, or instead of, its execution.
struct Refusal {
    error: ApiError,
    /// A GraphQL request error (the document, its limits, its execution time): 200 under legacy
    /// `application/json`, the code's status under `application/graphql-response+json`. Otherwise the code's status.
    request_error: bool,
    /// `extensions.cost` of the answer, when the refusal concerns a document.
    cost: Option<serde_json::Value>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            request_error: false,
            cost: None,
        }
    }
}

/// The document a request runs, once persisted queries and trusted documents are resolved.
struct Document {
    query: String,
    /// The hash to register in the APQ cache once the document is known to be acceptable.
    register: Option<String>,
}

/// A document within the limits, with what its analysis found.
struct Checked {
    /// The parsed document (`None` when it does not parse: async-graphql then reports the syntax error).
    parsed: Option<ExecutableDocument>,
    /// Its static cost.
    requested: u64,
    /// Its analysis (cost, depth), for the operation's span.
    analysis: cost::Analysis,
}

/// One GraphQL request, from its decoded body to its answer.
struct Pipeline<'a> {
    app: &'a AppState,
    endpoint: Endpoint,
    ty: ResponseType,
    caller: Caller,
    via_get: bool,
}

impl<'a> Pipeline<'a> {
    fn new(
        app: &'a AppState,
        endpoint: Endpoint,
        ty: ResponseType,
        caller: Caller,
        via_get: bool,
    ) -> Self {
        Self {
            app,
            endpoint,
            ty,
            caller,
            via_get,
        }
    }

    fn protection(&self) -> &'a Protection {
        &self.app.protection
    }

    fn cost(
        &self,
        requested: Option<u64>,
        actual: u64,
        remaining: Option<u64>,
    ) -> serde_json::Value {
        cost_json(
            self.protection(),
            &self.caller.key,
            requested,
            actual,
            remaining,
        )
    }

    /// A request error about the document, with its cost.
    fn request_error(&self, error: ApiError, cost: serde_json::Value) -> Refusal {
        Refusal {
            error,
            request_error: true,
            cost: Some(cost),
        }
    }

    /// The whole request: every step, in order; the first refusal is the answer.
    async fn run(self, body: GraphqlBody) -> Response {
        match self.steps(body).await {
            Ok(response) => response,
            Err(refusal) => self.refuse(refusal),
        }
    }

    async fn steps(&self, body: GraphqlBody) -> Result<Response, Refusal> {
        let (variables, persisted) = read_request(body.variables, body.extensions)?;
        let document = self.resolve_document(body.query, persisted)?;
        let operation = body.operation_name;
        let checked = self.check_limits(&document.query, operation.as_deref(), &variables)?;
        self.refuse_mutation_over_get(checked.parsed.as_ref(), operation.as_deref())?;
        self.reserve_budget(checked.requested)?;
        if let (Some(hash), Some(_)) = (&document.register, &checked.parsed) {
            self.protection().apq.insert(hash, &document.query);
        }
        let requested = checked.requested;
        let response = self
            .execute(document.query, variables, operation, checked)
            .await?;
        // A resolver's internal error may be the database going away: then the answer is `unavailable` (503), the
        // same one a token holder gets, and the circuit answers the next requests at once.
        if has_internal_error(&response) && self.app.circuit.confirm_outage().await {
            return Err(crate::error::ApiError::database_unavailable().into());
        }
        Ok(self.respond(response, requested))
    }

    fn refuse(&self, refusal: Refusal) -> Response {
        let status = if refusal.request_error && self.ty == ResponseType::Json {
            StatusCode::OK
        } else {
            refusal.error.status()
        };
        let extensions = refusal.cost.map(|cost| json!({ "cost": cost }));
        refusal
            .error
            .render(status, self.ty.content_type(), extensions)
    }

    /// Step 2: the document to run, from the query, a persisted query's hash, or the trusted documents.
    fn resolve_document(
        &self,
        query: Option<String>,
        persisted: Option<PersistedQuery>,
    ) -> Result<Document, Refusal> {
        let no_query = || ApiError::new(Code::BadRequest, "the request has no query");
        let refused = |code: Code, message: &str| {
            self.request_error(ApiError::new(code, message), self.cost(Some(0), 0, None))
        };
        let protection = self.protection();
        let query = query.filter(|q| !q.trim().is_empty());
        if let Some(trusted) = protection.trusted() {
            let hash = match (&persisted, &query) {
                (Some(pq), _) => pq.sha256_hash.clone(),
                (None, Some(q)) => sha256_hex(q),
                (None, None) => return Err(no_query().into()),
            };
            return match (trusted.get(&hash), &query) {
                (Some(doc), _) => Ok(Document {
                    query: doc.to_owned(),
                    register: None,
                }),
                (None, None) => Err(refused(
                    Code::PersistedQueryNotFound,
                    "PersistedQueryNotFound",
                )),
                (None, Some(_)) => Err(refused(
                    Code::UntrustedDocument,
                    "this server only runs registered documents (trusted documents): this one is not",
                )),
            };
        }
        match (persisted, query) {
            (None, Some(query)) => Ok(Document {
                query,
                register: None,
            }),
            (None, None) => Err(no_query().into()),
            (Some(_), _) if !protection.apq.enabled() => Err(refused(
                Code::PersistedQueryNotSupported,
                "PersistedQueryNotSupported",
            )),
            (Some(pq), None) => match protection.apq.get(&pq.sha256_hash) {
                Some(doc) => Ok(Document {
                    query: doc.to_string(),
                    register: None,
                }),
                None => Err(refused(
                    Code::PersistedQueryNotFound,
                    "PersistedQueryNotFound",
                )),
            },
            (Some(pq), Some(query)) if sha256_hex(&query) == pq.sha256_hash => Ok(Document {
                query,
                register: Some(pq.sha256_hash),
            }),
            (Some(_), Some(_)) => Err(refused(
                Code::PersistedQueryHashMismatch,
                "persistedQuery.sha256Hash is not the SHA-256 of the query",
            )),
        }
    }

    /// Step 3: the limits, before async-graphql parses, validates or runs anything. The bracket scan comes first:
    /// the parser recurses once per level.
    fn check_limits(
        &self,
        query: &str,
        operation: Option<&str>,
        variables: &async_graphql::Variables,
    ) -> Result<Checked, Refusal> {
        let p = self.protection();
        let nesting_guard = p.max_depth.saturating_mul(4).max(64);
        if cost::nesting_depth(query) > nesting_guard {
            let error = ApiError::new(
                Code::QueryTooDeep,
                format!(
                    "the query is nested too deep (at most {} levels)",
                    p.max_depth
                ),
            )
            .detail("depth", json!({ "limit": p.max_depth }));
            return Err(self.request_error(error, self.cost(None, 0, None)));
        }
        let (model, model_key) = match self.endpoint {
            Endpoint::Public => (&self.app.cost_model, 0),
            Endpoint::Federation => (&self.app.federation_cost_model, 1),
        };
        let (parsed, analysis) = match p.documents.parse_analyzed(
            query,
            model_key,
            operation,
            variables.is_empty(),
            |doc| model.analyze(doc, operation, variables),
        ) {
            Some((doc, analysis)) => (Some(doc), analysis),
            None => (None, cost::Analysis::default()),
        };
        let requested = analysis.cost;
        let limit = if analysis.depth > p.max_depth {
            Some((
                Code::QueryTooDeep,
                format!(
                    "the query is nested {} levels deep; the limit is {}",
                    analysis.depth, p.max_depth
                ),
            ))
        } else if requested > p.max_complexity {
            Some((
                Code::QueryTooComplex,
                format!(
                    "the query would cost {requested} points; the limit is {} (a connection costs its page size × its selection)",
                    p.max_complexity
                ),
            ))
        } else if analysis.aliases > p.config.max_aliases {
            Some((
                Code::TooManyAliases,
                format!(
                    "the document has {} aliases; the limit is {}",
                    analysis.aliases, p.config.max_aliases
                ),
            ))
        } else if analysis.directives > p.config.max_directives {
            Some((
                Code::TooManyDirectives,
                format!(
                    "the document has {} directives; the limit is {}",
                    analysis.directives, p.config.max_directives
                ),
            ))
        } else {
            None
        };
        if let Some((code, message)) = limit {
            tracing::info!(caller = %self.caller.key, code = code.as_str(), requested, depth = analysis.depth, "query refused");
            let error = ApiError::new(code, message)
                .detail(
                    "cost",
                    json!({ "requested": requested, "limit": p.max_complexity }),
                )
                .detail(
                    "depth",
                    json!({ "requested": analysis.depth, "limit": p.max_depth }),
                );
            return Err(self.request_error(error, self.cost(Some(requested), 0, None)));
        }
        Ok(Checked {
            parsed,
            requested,
            analysis,
        })
    }

    /// Step 4: the spec forbids mutations over GET (a link or an image tag must never change data).
    fn refuse_mutation_over_get(
        &self,
        parsed: Option<&ExecutableDocument>,
        operation: Option<&str>,
    ) -> Result<(), Refusal> {
        let Some(doc) = parsed.filter(|_| self.via_get) else {
            return Ok(());
        };
        let is_mutation = doc.operations.iter().any(|(name, op)| {
            let selected = match (operation, name) {
                (Some(wanted), Some(name)) => wanted == name.as_str(),
                (None, _) => true,
                (Some(_), None) => false,
            };
            selected && op.node.ty != OperationType::Query
        });
        if is_mutation {
            let error = ApiError::new(Code::MethodNotAllowed, "mutations must be sent with POST")
                .header(header::ALLOW, HeaderValue::from_static("POST"));
            return Err(error.into());
        }
        Ok(())
    }

    /// Step 5: the budget. The static cost is reserved up front; what the response did not use is given back after.
    fn reserve_budget(&self, requested: u64) -> Result<(), Refusal> {
        let p = self.protection();
        let Some(budget) = &p.budget else {
            return Ok(());
        };
        let Err(exhausted) = budget.take(&self.caller.key, requested) else {
            return Ok(());
        };
        tracing::info!(caller = %self.caller.key, requested, "cost budget exhausted");
        let error = ApiError::new(
            Code::BudgetExhausted,
            format!(
                "this query costs {requested} points and {} remain; the budget refills by {} points per second",
                exhausted.remaining, p.config.cost_refill_per_second
            ),
        )
        .retry_after(exhausted.retry_after_secs);
        Err(Refusal {
            error,
            request_error: false,
            cost: Some(self.cost(Some(requested), 0, Some(exhausted.remaining))),
        })
    }

    /// Step 6: runs the document on the endpoint's schema, within the execution timeout. The document parsed for
    /// the limits is the one async-graphql runs (parsed once), and its analysis gives the span its figures.
    async fn execute(
        &self,
        query: String,
        variables: async_graphql::Variables,
        operation: Option<String>,
        checked: Checked,
    ) -> Result<async_graphql::Response, Refusal> {
        let p = self.protection();
        let mut request = async_graphql::Request::new(query).variables(variables);
        if let Some(name) = operation {
            request = request.operation_name(name);
        }
        let state = RequestState::new(
            self.app.db.clone(),
            &self.app.reads,
            &self.app.territories,
            self.caller.actor.clone(),
            self.caller.request_id.clone(),
        );
        let mut request = request.data(state).data(self.app.webhook_policy);
        let (operation_name, operation_type) =
            checked.parsed.as_ref().map_or((None, "unknown"), |doc| {
                let (name, ty) = maillage_graphql::telemetry::selected_operation(
                    doc,
                    request.operation_name.as_deref(),
                );
                (name.map(str::to_owned), ty)
            });
        if let Some(doc) = checked.parsed {
            // `respond` writes the response with `write_data_in_pieces`, which writes in place the fragments this asks
            // for (none for a document whose fields async-graphql would merge).
            if writes_fragments(&doc) {
                request.data.insert(JsonFragments);
            }
            request.set_parsed_query(doc);
        }
        let analysis = Some(checked.analysis);
        let started = std::time::Instant::now();
        // The wait for a turn counts in the execution timeout: a caller queued behind a burst gets `timeout`
        // rather than an answer that never comes.
        let run = async {
            let _permit = p.execution_permit(checked.requested).await;
            match self.endpoint {
                Endpoint::Public => self.app.schema.execute_analyzed(request, analysis).await,
                Endpoint::Federation => {
                    self.app
                        .federation_schema
                        .execute_analyzed(request, analysis)
                        .await
                }
            }
        };
        let response = with_timeout(p.timeout(), run).await;
        crate::metrics::global().observe_operation(
            operation_name.as_deref(),
            operation_type,
            started.elapsed(),
        );
        response.ok_or_else(|| {
            let requested = checked.requested;
            tracing::warn!(caller = %self.caller.key, requested, "execution timed out");
            let error = ApiError::new(
                Code::Timeout,
                format!(
                    "the query ran longer than {} ms and was stopped",
                    p.config.execution_timeout_ms
                ),
            );
            let remaining = p.budget.as_ref().map(|b| b.remaining(&self.caller.key));
            self.request_error(error, self.cost(Some(requested), requested, remaining))
        })
    }

    /// Step 7: the answer: the spec's status, the cost actually used (the rest of the reservation refunded).
    fn respond(&self, mut response: async_graphql::Response, requested: u64) -> Response {
        // Errors without a path never reached execution (syntax, validation, limits): request errors.
        let request_error = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        let status = if request_error && self.ty == ResponseType::GraphqlResponse {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        for error in response.errors.iter_mut().filter(|e| e.path.is_empty()) {
            error.message = trim_excerpt(&error.message);
        }
        count_errors(&response.errors);
        let actual = if request_error {
            0
        } else {
            cost::actual_cost(&response.data)
        };
        let key = &self.caller.key;
        let remaining = self
            .protection()
            .budget
            .as_ref()
            .map(|b| b.refund(key, requested.saturating_sub(actual)));
        let body = Body {
            response: &response,
            request_error,
            cost: self.cost(Some(requested), actual, remaining),
        };
        match body.to_pieces() {
            Ok((pieces, len)) => (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(self.ty.content_type()),
                )],
                axum::body::Body::new(crate::body::Pieces::new(pieces, len)),
            )
                .into_response(),
            Err(e) => {
                tracing::error!(error = %e, "serialising a response failed");
                refuse(
                    self.ty,
                    ApiError::new(Code::InternalError, "internal error"),
                )
            }
        }
    }
}

/// Step 1: the variables (a JSON object, or nothing) and the persisted query of `extensions`.
fn read_request(
    variables: Option<serde_json::Value>,
    extensions: Option<serde_json::Value>,
) -> Result<(async_graphql::Variables, Option<PersistedQuery>), Refusal> {
    let variables = match variables {
        None | Some(serde_json::Value::Null) => async_graphql::Variables::default(),
        Some(v @ serde_json::Value::Object(_)) => async_graphql::Variables::from_json(v),
        Some(_) => {
            return Err(ApiError::new(Code::BadRequest, "variables must be a JSON object").into());
        }
    };
    let extensions = match extensions {
        None | Some(serde_json::Value::Null) => None,
        Some(v @ serde_json::Value::Object(_)) => Some(v),
        Some(_) => {
            return Err(ApiError::new(Code::BadRequest, "extensions must be a JSON object").into());
        }
    };
    let persisted = persisted_query(extensions.as_ref()).map_err(
        |PersistedQueryError::Malformed(message)| ApiError::new(Code::BadRequest, message),
    )?;
    Ok((variables, persisted))
}

/// Longest line of a request error's message, in characters: a syntax error quotes the offending line of the
/// document, which may be the whole document (a 900 KB one-line query would otherwise come back in the answer).
const MAX_EXCERPT_LINE_CHARS: usize = 200;

/// Longest request error message, in characters.
const MAX_MESSAGE_CHARS: usize = 2_000;

/// A request error's message with each quoted line cut to [`MAX_EXCERPT_LINE_CHARS`] and the whole to
/// [`MAX_MESSAGE_CHARS`]; the position (`--> line:column`) and what the parser expected stay whole.
fn trim_excerpt(message: &str) -> String {
    if message.chars().count() <= MAX_EXCERPT_LINE_CHARS {
        return message.to_owned();
    }
    let cut = |s: &str, max: usize| match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    };
    let lines: Vec<String> = message
        .lines()
        .map(|line| cut(line, MAX_EXCERPT_LINE_CHARS))
        .collect();
    cut(&lines.join("\n"), MAX_MESSAGE_CHARS)
}

/// Whether an error of the response is `internal_error` (the masked form of every unexpected failure).
fn has_internal_error(response: &async_graphql::Response) -> bool {
    response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .is_some_and(|code| *code == async_graphql::Value::from(Code::InternalError.as_str()))
    })
}

/// Runs `future` within `limit`; `None` when it took longer.
async fn with_timeout<F: std::future::Future>(
    limit: Option<std::time::Duration>,
    future: F,
) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, future).await.ok(),
        None => Some(future.await),
    }
}

/// Counts the errors of a response by `extensions.code` (every error has one: `maillage_graphql`'s engine gives one
/// to those async-graphql raises).
fn count_errors(errors: &[async_graphql::ServerError]) {
    for error in errors {
        let code = match error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(async_graphql::Value::String(code)) => code.as_str(),
            _ => Code::InternalError.as_str(),
        };
        crate::metrics::global().error(code);
    }
}

/// A response body, written straight from async-graphql's values with `extensions.cost` added: the keys and their
/// order are those of the response serialised as a JSON tree (`data`, `errors`, then `extensions`, or `extensions`
/// before `errors` when the response already carries extensions), without building that tree first (a copy of
/// every name and value of the answer: 1 300 sites on a nested list).
struct Body<'a> {
    response: &'a async_graphql::Response,
    /// The request did not execute: no `data` entry at all (spec), not `data: null`.
    request_error: bool,
    cost: serde_json::Value,
}

/// The response's own extensions with `cost` set (replacing one of that name, in place, as the JSON tree did).
struct ExtensionsWithCost<'a> {
    own: &'a std::collections::BTreeMap<String, async_graphql::Value>,
    cost: &'a serde_json::Value,
}

impl serde::Serialize for ExtensionsWithCost<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in self.own {
            if name == "cost" {
                map.serialize_entry(name, self.cost)?;
            } else {
                map.serialize_entry(name, value)?;
            }
        }
        if !self.own.contains_key("cost") {
            map.serialize_entry("cost", self.cost)?;
        }
        map.end()
    }
}

impl Body<'_> {
    /// The body's JSON text, in pieces (and their total length). Written by hand around `data`, which
    /// [`write_data_in_pieces`] writes with the JSON fragments of the objects resolved from memory in place (a large
    /// one as a piece of its own, not copied: `maillage_graphql::kit::json`); the rest by serde_json.
    fn to_pieces(&self) -> serde_json::Result<(Vec<Bytes>, usize)> {
        /// Writes the key of an entry, after a comma unless it is the first.
        fn entry(out: &mut Vec<u8>, key: &str, first: &mut bool) {
            if !std::mem::take(first) {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
        }
        let mut pieces = Pieces::default();
        let mut first = true;
        // The text around the large fragments, allocated once: the data's, then the extensions and any errors, a
        // few hundred bytes in most responses.
        let data = if self.request_error {
            0
        } else {
            text_len_hint(&self.response.data)
        };
        pieces.text().reserve(data + 512);
        pieces.text().push(b'{');
        if !self.request_error {
            entry(pieces.text(), "data", &mut first);
            write_data_in_pieces(&mut pieces, &self.response.data);
        }
        let extensions = ExtensionsWithCost {
            own: &self.response.extensions,
            cost: &self.cost,
        };
        let own_extensions = !self.response.extensions.is_empty();
        let out = pieces.text();
        if own_extensions {
            entry(out, "extensions", &mut first);
            serde_json::to_writer(&mut *out, &extensions)?;
        }
        if !self.response.errors.is_empty() {
            entry(out, "errors", &mut first);
            serde_json::to_writer(&mut *out, &self.response.errors)?;
        }
        if !own_extensions {
            entry(out, "extensions", &mut first);
            serde_json::to_writer(&mut *out, &extensions)?;
        }
        out.push(b'}');
        Ok(pieces.finish())
    }
}

const GRAPHIQL_HTML: &str = include_str!("../assets/graphiql/index.html");

fn graphiql_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        GRAPHIQL_HTML,
    )
        .into_response()
}

/// `GET /graphiql/{file}`: the GraphiQL assets, embedded in the binary so GraphiQL works with no internet.
pub async fn graphiql_asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "graphiql.min.js" => (
            include_bytes!("../assets/graphiql/graphiql.min.js"),
            "text/javascript",
        ),
        "graphiql.min.css" => (
            include_bytes!("../assets/graphiql/graphiql.min.css"),
            "text/css",
        ),
        "react.production.min.js" => (
            include_bytes!("../assets/graphiql/react.production.min.js"),
            "text/javascript",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../assets/graphiql/react-dom.production.min.js"),
            "text/javascript",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// `GET /dashboard`: the dashboard page (French), which reads only the public GraphQL API.
pub async fn dashboard_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../assets/dashboard/index.html"),
    )
        .into_response()
}

/// `GET /dashboard/{file}`: the dashboard's script, style and map, embedded so the page works with no internet
/// (the map is vendored by `scripts/vendor-dashboard.sh`).
pub async fn dashboard_asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "dashboard.js" => (
            include_bytes!("../assets/dashboard/dashboard.js"),
            "text/javascript; charset=utf-8",
        ),
        "dashboard.css" => (
            include_bytes!("../assets/dashboard/dashboard.css"),
            "text/css; charset=utf-8",
        ),
        "france-departments.svg" => (
            include_bytes!("../assets/dashboard/france-departments.svg"),
            "image/svg+xml",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /schema.graphql`: the SDL, for tools that cannot introspect.
pub async fn schema_sdl(State(app): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        // The same text as the committed `schema.graphql` (`@specifiedBy` included).
        app.schema
            .schema()
            .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by()),
    )
        .into_response()
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(header::ACCEPT, v);
        }
        h
    }

    /// The body as it was written before: the response as a JSON tree, `data` removed on a request error, `cost`
    /// set in `extensions`, then the tree as text.
    fn body_through_a_tree(
        response: &async_graphql::Response,
        request_error: bool,
        cost: &serde_json::Value,
    ) -> String {
        let mut value = serde_json::to_value(response).unwrap();
        let obj = value.as_object_mut().unwrap();
        if request_error {
            obj.remove("data");
        }
        let extensions = obj.entry("extensions").or_insert_with(|| json!({}));
        extensions
            .as_object_mut()
            .unwrap()
            .insert("cost".to_owned(), cost.clone());
        value.to_string()
    }

    #[test]
    fn the_body_is_written_as_the_json_tree_wrote_it() {
        let data = async_graphql::Value::from_json(json!({
            "sites": { "totalCount": 2, "nodes": [{ "name": "Médiathèque \"A\"", "n": 1.5 }, { "name": null }] },
            "b": [true, false], "a": "z"
        }))
        .unwrap();
        let mut error = async_graphql::ServerError::new("boom", None);
        error.path = vec![async_graphql::PathSegment::Field("sites".to_owned())];
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", "not_found");
        error.extensions = Some(extensions);
        let cost = json!({ "requested": 9, "actual": 8, "remaining": null });

        let plain = async_graphql::Response::new(data.clone());
        let with_errors = {
            let mut r = async_graphql::Response::new(data.clone());
            r.errors = vec![error.clone()];
            r
        };
        let own_extensions = async_graphql::Response::new(data.clone())
            .extension("tracing", async_graphql::Value::from(1))
            .extension("zeta", async_graphql::Value::from("z"));
        let own_cost = {
            let mut r = async_graphql::Response::new(data)
                .extension("cost", async_graphql::Value::from(0))
                .extension("other", async_graphql::Value::from(2));
            r.errors = vec![error.clone()];
            r
        };
        let request_error =
            async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(
                "syntax", None,
            )]);
        for (response, request_error) in [
            (&plain, false),
            (&with_errors, false),
            (&own_extensions, false),
            (&own_cost, false),
            (&request_error, true),
        ] {
            let body = Body {
                response,
                request_error,
                cost: cost.clone(),
            };
            let (pieces, len) = body.to_pieces().unwrap();
            let joined = pieces.concat();
            assert_eq!(joined.len(), len);
            assert_eq!(
                String::from_utf8(joined).unwrap(),
                body_through_a_tree(response, request_error, &cost)
            );
        }
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(ResponseType::Json));
        assert_eq!(
            negotiate(&accept("application/json")),
            Some(ResponseType::Json)
        );
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(ResponseType::GraphqlResponse)
        );
        assert_eq!(negotiate(&accept("*/*")), Some(ResponseType::Json));
        assert_eq!(negotiate(&accept("text/plain")), None);
    }

    #[test]
    fn get_parameters_are_decoded_by_axum() {
        let uri: axum::http::Uri =
            "/graphql?query=%7B%20hubs%20%7D+x&operationName=Q&variables=%7B%7D&other=1"
                .parse()
                .unwrap();
        let Query(params) = Query::<GetParams>::try_from_uri(&uri).unwrap();
        assert_eq!(params.query.as_deref(), Some("{ hubs } x"));
        assert_eq!(params.operation_name.as_deref(), Some("Q"));
        let body = params.into_body().unwrap();
        assert_eq!(body.variables, Some(json!({})));
        let bad = GetParams {
            variables: Some("{".to_owned()),
            ..GetParams::default()
        };
        assert_eq!(
            bad.into_body().err().map(|e| e.code),
            Some(Code::BadRequest)
        );
    }
}
