//! `tandem serve`: the HTTP API (axum on hyper and tokio) over a [`Host`], and its graceful
//! shutdown.
//!
//! Every error answer is JSON, `{"error": {"kind": ..., "message": ...}}`, with the status that
//! [`status_of`] gives its class. What a request must pass before its handler runs (the `Host` and
//! `Origin` checks, the caller and admin tokens) is in [`guard`]; tokens are compared in constant
//! time and never logged.
//!
//! # Layout
//! - [`connections`]: accepting connections: the connection bound, header and idle timeouts.
//! - [`guard`]: host, origin and token checks, before any body is read.
//! - [`body`]: reading a body within its size limit and the body timeout.
//! - [`events`]: `GET /events`, the live event stream.
//! - [`wire`]: a connection's bytes: JSON bodies for hyper's own error answers, the send timeout.
//!
//! Shutdown ([`serve`]): when the signal comes, the server publishes a `shutdown` event, stops
//! accepting, answers `/readyz` with 503 and ends the event streams; calls in flight get `grace` to
//! finish, then are stopped and answered 503; the audit log is flushed last.

pub mod body;
pub mod connections;
pub mod events;
pub mod guard;
pub mod watch;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use tandem::agent::{Agent, OperationInfo};
use tandem::breaker::BreakerState;
use tandem::dispatch::Origin;
use tandem::error::{CallError, ErrorKind, LoadError};
use tandem::events::EventKind;
use tandem::host::{Host, Swap};
use tandem::metrics::StatsSnapshot;
use tandem::registry::RollbackError;
use tandem::scheduler::{Outcome, Plan, RunReport};

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// The largest component `PUT /v1/agents/{id}` accepts.
    pub max_component_bytes: usize,
    /// The bearer token of the admin endpoints; `None` disables them (every admin request is 401).
    pub admin_token: Option<String>,
    /// The bearer token every other endpoint but `/healthz` and `/readyz` needs; `None`: no token.
    pub caller_token: Option<String>,
    /// Host names (besides IP addresses and `localhost`) that requests may name in `Host`.
    pub allowed_hosts: Vec<String>,
    /// Origins (besides the server's own) that requests may come from, e.g. `https://ui.example`.
    pub allowed_origins: Vec<String>,
    /// How long calls in flight may take to finish once shutdown begins.
    pub grace: Duration,
    /// Connections at once, and the header (and idle) timeout.
    pub connections: connections::ConnectionLimits,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// Subscribers of `GET /events` at once.
    pub max_subscribers: usize,
}

impl Default for ServerConfig {
    /// 1 MiB bodies, 64 MiB components, no tokens, 10 s of grace, 1024 connections, 10 s to send
    /// the headers, 30 s to send a body, 30 s for a stalled client to read, 64 event subscribers.
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1 << 20,
            max_component_bytes: 64 << 20,
            admin_token: None,
            caller_token: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            grace: Duration::from_secs(10),
            connections: connections::ConnectionLimits {
                max_connections: 1024,
                header_timeout: Duration::from_secs(10),
                send_timeout: Duration::from_secs(30),
            },
            body_timeout: Duration::from_secs(30),
            max_subscribers: 64,
        }
    }
}

/// Component uploads read at once: each may hold up to `--max-component` in memory.
const CONCURRENT_UPLOADS: usize = 2;

/// What the handlers share.
pub struct ServerState {
    host: Arc<Host>,
    config: ServerConfig,
    /// Set once the agents directory was loaded.
    started: AtomicBool,
    /// Cancelled when shutdown begins: stop accepting, end the event streams.
    stopping: CancellationToken,
    /// Cancelled when the grace period is over: stop the calls still running.
    stopped: CancellationToken,
    /// Slots for component uploads being read.
    uploads: Arc<Semaphore>,
    /// Slots for event stream subscribers.
    subscribers: Arc<Semaphore>,
    /// How many refused tokens may still be logged this second.
    auth_logs: guard::AuthLogBudget,
}

impl ServerState {
    pub fn new(host: Arc<Host>, config: ServerConfig) -> Arc<ServerState> {
        Arc::new(ServerState {
            uploads: Arc::new(Semaphore::new(CONCURRENT_UPLOADS)),
            subscribers: Arc::new(Semaphore::new(config.max_subscribers)),
            auth_logs: guard::AuthLogBudget::default(),
            host,
            config,
            started: AtomicBool::new(false),
            stopping: CancellationToken::new(),
            stopped: CancellationToken::new(),
        })
    }

    /// Marks the start-up loading done: `/readyz` may now answer 200.
    pub fn set_started(&self) {
        self.started.store(true, Ordering::Release);
    }

    /// Resolves when shutdown begins.
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        self.stopping.clone().cancelled_owned()
    }

    /// Begins shutdown, as the signal passed to [`serve`] does.
    pub fn shut_down(&self) {
        if !self.stopping.is_cancelled() {
            tracing::info!(grace = ?self.config.grace, "shutting down");
            self.host.events().publish(EventKind::Shutdown {
                grace_ms: self.config.grace.as_millis() as u64,
            });
            self.stopping.cancel();
        }
    }
}

/// The routes of the API, behind the [`guard`].
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/v1/agents", get(list_agents))
        .route(
            "/v1/agents/{id}",
            get(agent_detail).put(put_agent).delete(delete_agent),
        )
        .route("/v1/agents/{id}/invoke", post(invoke))
        .route("/v1/agents/{id}/rollback", post(rollback_agent))
        .route("/v1/graphs", post(run_graph))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/events", get(events))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorKind::InvalidInput,
                "no such endpoint (see the README's HTTP API section)",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorKind::InvalidInput,
                "this endpoint does not take that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}

/// Serves the API on `listener` until `signal` resolves (or [`ServerState::shut_down`] is called),
/// then shuts down gracefully: see the module documentation.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let watcher = tokio::spawn({
        let state = state.clone();
        async move {
            tokio::select! {
                () = signal => state.shut_down(),
                () = state.stopping.cancelled() => {}
            }
            tokio::time::sleep(state.config.grace).await;
            if !state.stopped.is_cancelled() {
                tracing::warn!("grace period over: stopping the calls still running");
                state.stopped.cancel();
            }
        }
    });
    let app = router(state.clone());
    let server = connections::serve(
        listener,
        app,
        state.config.connections,
        state.stopping.clone(),
    );
    // A connection that never finishes its request (a stalled upload, say) must not hold the
    // process after the grace period: give it one more second.
    let outlived = async {
        state.stopped.cancelled().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let result = tokio::select! {
        () = server => Ok(()),
        () = outlived => {
            tracing::warn!("connections still open after the grace period: closing them");
            Ok(())
        }
    };
    watcher.abort();
    let host = state.host.clone();
    let flushed = tokio::task::spawn_blocking(move || host.audit().map(|audit| audit.flush()))
        .await
        .map_err(std::io::Error::other)?;
    if let Some(Err(e)) = flushed {
        return Err(std::io::Error::new(
            e.kind(),
            format!("cannot flush the audit log: {e}"),
        ));
    }
    result
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: ErrorKind,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorKind::InvalidInput, message)
    }
}

/// The `{id}` of a path: percent-decoded UTF-8 and a valid agent id, or a JSON 400.
pub struct AgentId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for AgentId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<AgentId, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection: PathRejection| {
                ApiError::bad_request(format!("the path is not usable: {}", rejection.body_text()))
            })?;
        CallError::check_name("agent id", &id)?;
        Ok(AgentId(id))
    }
}

impl From<LoadError> for ApiError {
    fn from(error: LoadError) -> ApiError {
        ApiError::new(
            status_of_kind(error.kind()),
            error.kind(),
            error.to_string(),
        )
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> ApiError {
        let retry_after = match &error {
            CallError::CircuitOpen { retry_in, .. } => Some(*retry_in),
            CallError::Overloaded { .. } => Some(Duration::from_secs(1)),
            _ => None,
        };
        ApiError {
            status: status_of(&error),
            kind: error.kind(),
            message: error.to_string(),
            retry_after,
        }
    }
}

/// The HTTP status of a failed call: 404 for an unknown agent, 400 for bad input (413 for an
/// input over the agent's `max-input`), 403 denied, 409 a state conflict, 503 circuit open,
/// overloaded or unavailable, 504 timeout, 507 over the agent's state quota, 500 a host fault,
/// and 502 for everything the agent itself failed with (guest errors, traps, fuel, memory).
pub fn status_of(error: &CallError) -> StatusCode {
    match error {
        CallError::UnknownAgent { .. } => StatusCode::NOT_FOUND,
        CallError::InputTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => status_of_kind(error.kind()),
    }
}

fn status_of_kind(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::Denied => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable | ErrorKind::CircuitOpen | ErrorKind::Overloaded => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::QuotaExceeded => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Failed
        | ErrorKind::Retryable
        | ErrorKind::DependencyFailed
        | ErrorKind::FuelExhausted
        | ErrorKind::MemoryLimit
        | ErrorKind::StackOverflow
        | ErrorKind::Trap => StatusCode::BAD_GATEWAY,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {"kind": self.kind, "message": self.message}
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// `POST /v1/agents/{id}/invoke`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvokeBody<'a> {
    op: String,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
    /// Continue this trace instead of starting one.
    trace_id: Option<String>,
    /// End the call by then, if sooner than the agent's own timeout.
    timeout_ms: Option<u64>,
    /// `false`: run the guest even if the result cache has the answer.
    cache: Option<bool>,
}

/// An invoke request, checked: its operation, its input (JSON text) and what the call inherits.
pub struct InvokeRequest {
    pub op: String,
    pub input: String,
    pub origin: Origin,
}

impl InvokeRequest {
    /// Parses and checks an invoke body: the fields known, `trace_id` well-formed, `timeout_ms` in
    /// range. The error names the problem.
    pub fn parse(body: &[u8]) -> Result<InvokeRequest, ApiError> {
        let request: InvokeBody = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the request body is not a valid invoke request ({{\"op\": ..., \"input\": ...}}): {e}"
            ))
        })?;
        if let Some(trace_id) = &request.trace_id {
            let valid = !trace_id.is_empty()
                && trace_id.len() <= 64
                && trace_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(ApiError::bad_request(
                    "`trace_id` must be 1-64 characters of A-Z, a-z, 0-9, `-` and `_`",
                ));
            }
        }
        if let Some(ms) = request.timeout_ms
            && !(1..=MAX_TIMEOUT_MS).contains(&ms)
        {
            return Err(ApiError::bad_request(format!(
                "`timeout_ms` {ms} is out of range (1 to {MAX_TIMEOUT_MS})"
            )));
        }
        let origin = Origin {
            trace_id: request.trace_id,
            deadline: request
                .timeout_ms
                .map(|ms| Instant::now() + Duration::from_millis(ms)),
            no_cache: request.cache == Some(false),
            ..Origin::default()
        };
        Ok(InvokeRequest {
            op: request.op,
            input: request.input.map_or("{}", RawValue::get).to_string(),
            origin,
        })
    }
}

#[derive(Serialize)]
struct InvokeReply<'a> {
    output: &'a RawValue,
    trace_id: &'a str,
    fuel_used: u64,
    duration_us: u64,
    /// The answer came from the result cache (the guest did not run).
    cached: bool,
}

/// The longest `timeout_ms` an invoke may ask for: a day.
const MAX_TIMEOUT_MS: u64 = 24 * 3600 * 1000;

async fn invoke(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    body::require_json(&headers)?;
    let body = state.read_json(body, &headers).await?;
    let request = InvokeRequest::parse(&body)?;
    let (op, input, origin) = (request.op, request.input, request.origin);
    let call = state.host.invoke_from(&id, &op, input, origin);
    let response = tokio::select! {
        response = call => response,
        () = state.stopped.cancelled() => return Err(stopped_by_shutdown(&state)),
    };
    state.audited().await;
    let response = response?;
    // The host checked the output is JSON before the call counted as a success.
    let output = serde_json::from_str::<&RawValue>(&response.output).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Internal,
            format!("{id}.{}: the checked output does not parse: {e}", op),
        )
    })?;
    let reply = InvokeReply {
        output,
        trace_id: &response.trace_id,
        fuel_used: response.fuel_used,
        duration_us: response.duration.as_micros() as u64,
        cached: response.cached,
    };
    Ok(axum::Json(reply).into_response())
}

fn stopped_by_shutdown(state: &ServerState) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Unavailable,
        format!(
            "the server shut down before the call finished (grace period {:?})",
            state.config.grace
        ),
    )
}

#[derive(Serialize)]
struct GraphReply {
    /// Every node succeeded.
    ok: bool,
    #[serde(flatten)]
    report: RunReport,
}

async fn run_graph(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    body::require_json(&headers)?;
    let body = state.read_json(body, &headers).await?;
    let plan: Plan = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not a valid plan: {e}")))?;
    let graph = state
        .host
        .check_plan(plan)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let report = state
        .host
        .run_graph(graph, state.stopped.clone().cancelled_owned(), |_| {})
        .await;
    state.audited().await;
    let ok = report
        .nodes
        .iter()
        .all(|n| matches!(n.outcome, Outcome::Succeeded { .. }));
    Ok(axum::Json(GraphReply { ok, report }).into_response())
}

/// One agent as `GET /v1/agents` shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentView {
    pub id: String,
    pub version: String,
    pub content_hash: String,
    pub description: String,
    pub source: String,
    /// RFC 3339.
    pub loaded_at: String,
    pub operations: Vec<OperationView>,
    pub limits: LimitsView,
    pub breaker: BreakerState,
    pub live_instances: usize,
    pub stats: StatsSnapshot,
    /// The versions kept for rollback, oldest first; the current one is last.
    pub history: Vec<VersionView>,
}

/// One version in an agent's history.
#[derive(Debug, Serialize, Deserialize)]
pub struct VersionView {
    pub version: String,
    pub content_hash: String,
    /// When it became current (RFC 3339).
    pub loaded_at: String,
    /// Who or what loaded it: `startup`, `api`, `watch`, ...
    pub by: String,
}

impl VersionView {
    fn of(agent: &Agent, by: &str, at: std::time::SystemTime) -> VersionView {
        VersionView {
            version: agent.info.version.to_string(),
            content_hash: agent.content_hash.clone(),
            loaded_at: humantime::format_rfc3339_millis(at).to_string(),
            by: by.to_string(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OperationView {
    pub name: String,
    pub description: String,
    pub deterministic: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LimitsView {
    pub timeout_ms: u64,
    pub fuel: u64,
    pub memory_bytes: usize,
    pub max_instances: usize,
    pub max_output_bytes: usize,
}

impl AgentView {
    fn of(host: &Host, agent: &Agent) -> AgentView {
        let version = agent.info.version.to_string();
        let limits = &agent.policy().limits;
        AgentView {
            id: agent.id().to_string(),
            stats: host.metrics().snapshot(agent.id(), &version),
            version,
            content_hash: agent.content_hash.clone(),
            description: agent.info.description.clone(),
            source: agent.source.display().to_string(),
            loaded_at: humantime::format_rfc3339_seconds(agent.loaded_at).to_string(),
            operations: agent
                .info
                .operations
                .iter()
                .map(|op: &OperationInfo| OperationView {
                    name: op.name.clone(),
                    description: op.description.clone(),
                    deterministic: op.deterministic,
                })
                .collect(),
            limits: LimitsView {
                timeout_ms: limits.timeout.as_millis() as u64,
                fuel: limits.fuel,
                memory_bytes: limits.max_memory_bytes,
                max_instances: limits.max_instances,
                max_output_bytes: limits.max_output_bytes,
            },
            breaker: agent.breaker().state(),
            live_instances: agent.live_instances(),
            history: host
                .history(agent.id())
                .iter()
                .map(|v| VersionView::of(&v.agent, &v.by, v.at))
                .collect(),
        }
    }
}

async fn list_agents(State(state): State<Arc<ServerState>>) -> Response {
    let views: Vec<AgentView> = state
        .host
        .agents()
        .iter()
        .map(|agent| AgentView::of(&state.host, agent))
        .collect();
    axum::Json(serde_json::json!({ "agents": views })).into_response()
}

async fn agent_detail(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
) -> Result<Response, ApiError> {
    let agent = state.host.agent(&id)?;
    Ok(axum::Json(AgentView::of(&state.host, &agent)).into_response())
}

/// What the admin endpoints answer: the version now serving and the one it replaced.
#[derive(Debug, Serialize, Deserialize)]
pub struct SwapReply {
    pub agent: String,
    pub version: String,
    pub content_hash: String,
    /// The version it replaced.
    pub previous: Option<Replaced>,
    /// Compiling, describing and probing the new version, in milliseconds (0 for a rollback).
    pub prepared_ms: f64,
    /// The upload was the current version already (same component, same policy): nothing changed.
    #[serde(default)]
    pub unchanged: bool,
}

/// The version a swap or rollback replaced.
#[derive(Debug, Serialize, Deserialize)]
pub struct Replaced {
    pub version: String,
    pub content_hash: String,
}

impl SwapReply {
    fn of(swap: &Swap) -> SwapReply {
        SwapReply {
            agent: swap.agent.id().to_string(),
            version: swap.agent.info.version.to_string(),
            content_hash: swap.agent.content_hash.clone(),
            previous: swap.previous.as_deref().map(|p| Replaced {
                version: p.info.version.to_string(),
                content_hash: p.content_hash.clone(),
            }),
            prepared_ms: swap.prepared_in.as_secs_f64() * 1000.0,
            unchanged: swap.unchanged,
        }
    }
}

/// `PUT /v1/agents/{id}` (admin): the body is a component; it becomes agent `id`'s current
/// version once it passed every check (201 for a new agent, 200 for a swap). It keeps the current
/// version's manifest policy (a new agent gets the defaults, which grant nothing).
async fn put_agent(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // The token was checked by the guard before this handler ran; uploads are read a few at a
    // time, each within `--max-component`.
    let _slot = state.uploads.acquire().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Unavailable,
            "shutting down",
        )
    })?;
    let body = body::read(
        body,
        &headers,
        body::Payload::Component,
        state.config.max_component_bytes,
        state.config.body_timeout,
    )
    .await?;
    let policy = match state.host.agent(&id) {
        Ok(current) => current.policy().clone(),
        Err(_) => tandem::sandbox::Policy::default(),
    };
    let source = std::path::PathBuf::from(format!("upload of `{id}`"));
    let swap = state
        .host
        .swap_in(Some(&id), &source, body.to_vec(), policy, "api")
        .await;
    state.audited().await;
    let swap = swap?;
    let status = if swap.previous.is_some() || swap.unchanged {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(SwapReply::of(&swap))).into_response())
}

/// `POST /v1/agents/{id}/rollback` (admin): back to the version before the current one.
async fn rollback_agent(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
) -> Result<Response, ApiError> {
    let swap = state.host.rollback(&id, "api");
    state.audited().await;
    let swap = swap.map_err(|e| match e {
        RollbackError::Unknown(_) => {
            ApiError::new(StatusCode::NOT_FOUND, ErrorKind::Unavailable, e.to_string())
        }
        RollbackError::NoPrevious(_) => {
            ApiError::new(StatusCode::CONFLICT, ErrorKind::InvalidInput, e.to_string())
        }
    })?;
    Ok(axum::Json(SwapReply::of(&swap)).into_response())
}

/// `DELETE /v1/agents/{id}` (admin): unloads the agent; calls already running finish.
async fn delete_agent(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
) -> Result<Response, ApiError> {
    let removed = state.host.remove(&id, "api");
    state.audited().await;
    let removed = removed?;
    let body = serde_json::json!({
        "removed": {"agent": removed.id(), "version": removed.info.version.to_string()}
    });
    Ok(axum::Json(body).into_response())
}

/// `GET /metrics`: the Prometheus text format (0.0.4), or OpenMetrics 1.0 for a client whose
/// `Accept` asks for `application/openmetrics-text`.
async fn metrics(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| accept.contains("application/openmetrics-text"));
    let rendered = state.host.render_metrics();
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            rendered,
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            tandem::metrics::to_prometheus_text(&rendered),
        )
            .into_response()
    }
}

async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

async fn readyz(State(state): State<Arc<ServerState>>) -> Response {
    let agents = state.host.agents().len();
    let not_ready = if state.stopping.is_cancelled() {
        Some("shutting down")
    } else if !state.started.load(Ordering::Acquire) {
        Some("still loading agents")
    } else if agents == 0 {
        Some("no agent is loaded")
    } else {
        None
    };
    match not_ready {
        None => axum::Json(serde_json::json!({"ready": true, "agents": agents})).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"ready": false, "agents": agents, "reason": reason})),
        )
            .into_response(),
    }
}

/// `GET /events`: the live event stream as Server-Sent Events (see [`events`]). Each event's
/// `event:` is its type, `id:` its sequence number and `data:` its JSON; a subscriber that fell
/// behind gets a `missed` event with how many it lost. Past `--max-subscribers`, 503.
async fn events(State(state): State<Arc<ServerState>>) -> Result<Response, ApiError> {
    let slot = state.subscribers.clone().try_acquire_owned().map_err(|_| {
        ApiError {
            retry_after: Some(Duration::from_secs(5)),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Overloaded,
                format!(
                    "the event stream has its {} subscribers already (see `tandem serve --max-subscribers`)",
                    state.config.max_subscribers
                ),
            )
        }
    })?;
    let body = events::body(
        state.host.events().subscribe(),
        slot,
        state.stopping.clone(),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

impl ServerState {
    /// Waits until the audit log has every line recorded so far (see [`AuditLog::written`]): called
    /// before an answer goes out.
    ///
    /// [`AuditLog::written`]: crate::audit::AuditLog::written
    async fn audited(&self) {
        if let Some(audit) = self.host.audit() {
            audit.written().await;
        }
    }

    /// Reads a JSON request's body within `--max-body` and the body timeout.
    async fn read_json(
        &self,
        body: Body,
        headers: &HeaderMap,
    ) -> Result<axum::body::Bytes, ApiError> {
        body::read(
            body,
            headers,
            body::Payload::Json,
            self.config.max_body_bytes,
            self.config.body_timeout,
        )
        .await
    }
}
