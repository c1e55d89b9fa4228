//! What the handlers share: the server's configuration ([`ServerConfig`]) and its state
//! ([`ServerState`]): the host, the shutdown tokens, and the slots for uploads and event subscribers.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use tandem::events::EventKind;
use tandem::host::Host;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::{body, connections, guard};

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
    /// The host's id in a cluster, if it joined one: every metric is labelled `host` with it.
    pub host_id: Option<String>,
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
            host_id: None,
        }
    }
}

/// Component uploads read at once: each may hold up to `--max-component` in memory.
const CONCURRENT_UPLOADS: usize = 2;

/// What the handlers share.
pub struct ServerState {
    pub(crate) host: Arc<Host>,
    pub(crate) config: ServerConfig,
    /// Set once the agents directory was loaded.
    pub(crate) started: AtomicBool,
    /// Cancelled when shutdown begins: stop accepting, end the event streams.
    pub(crate) stopping: CancellationToken,
    /// Cancelled when the grace period is over: stop the calls still running.
    pub(crate) stopped: CancellationToken,
    /// Slots for component uploads being read.
    pub(crate) uploads: Arc<Semaphore>,
    /// Slots for event stream subscribers.
    pub(crate) subscribers: Arc<Semaphore>,
    /// How many refused tokens may still be logged this second.
    pub(crate) auth_logs: guard::AuthLogBudget,
}

impl ServerState {
    /// The state of a server over `host`.
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

    /// Begins shutdown, as the signal passed to [`serve()`](crate::serve()) does.
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

impl ServerState {
    /// Waits until the audit log has every line recorded so far (see [`AuditLog::written`]): called
    /// before an answer goes out.
    ///
    /// [`AuditLog::written`]: tandem::audit::AuditLog::written
    pub(crate) async fn audited(&self) {
        if let Some(audit) = self.host.audit() {
            audit.written().await;
        }
    }

    /// Reads a JSON request's body within `--max-body` and the body timeout, then refuses it
    /// unless its content type is JSON.
    pub(crate) async fn read_json(
        &self,
        body: Body,
        headers: &HeaderMap,
    ) -> Result<axum::body::Bytes, ApiError> {
        let bytes = body::read(
            body,
            headers,
            body::Payload::Json,
            self.config.max_body_bytes,
            self.config.body_timeout,
        )
        .await?;
        // Refused after it was read (within its limits): answering first would close the
        // connection under a client still sending, which would then see a reset, not the 415.
        body::require_json(headers)?;
        Ok(bytes)
    }
}
