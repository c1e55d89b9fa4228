//! # tandem-mcp: a Tandem host's agents as Model Context Protocol tools
//!
//! `tandem mcp` lets the AI tools people already use (any MCP client) list and call agents: every
//! operation of every loaded agent is a tool ([`tools`]), called through the host like any other
//! call, so limits, grants, breakers, metrics and the audit log apply ([`handler`]). When the agent
//! set changes (a hot swap), connected clients are sent `notifications/tools/list_changed`
//! ([`peers`]). The protocol itself is the official Rust SDK's (`rmcp`).
//!
//! Two transports: one session over stdin/stdout ([`serve_stdio`], what clients that spawn their
//! servers use), and streamable HTTP at `/mcp` ([`http_router`]; loopback by default, `Host` checked
//! against DNS rebinding, bounded bodies and sessions). This crate sits beside `tandem-server` on the
//! runtime; the CLI serves the router on its connection loop.

#![deny(missing_docs)]

pub mod handler;
pub mod peers;
pub mod tools;

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tandem::Host;
use tokio_util::sync::CancellationToken;

pub use handler::AgentTools;
pub use peers::Peers;

/// Why an MCP session could not be served.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The client's `initialize` did not complete (it closed, or sent something else first).
    #[error("the MCP session did not start: {0}")]
    Start(String),
    /// The session's task ended abnormally.
    #[error("the MCP session ended abnormally: {0}")]
    Session(String),
}

/// Serves one MCP session on stdin and stdout until the client closes its end or `stop` is
/// cancelled. Nothing else may write to stdout meanwhile (logs go to stderr).
pub async fn serve_stdio(
    host: Arc<Host>,
    peers: Arc<Peers>,
    stop: CancellationToken,
) -> Result<(), McpError> {
    let tools = AgentTools::new(host, peers);
    let running = tools
        .serve_with_ct(rmcp::transport::stdio(), stop)
        .await
        .map_err(|e| McpError::Start(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| McpError::Session(e.to_string()))?;
    Ok(())
}

/// How the HTTP transport is bounded.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Names requests may use in `Host` besides loopback addresses and `localhost` (against DNS
    /// rebinding).
    pub allowed_hosts: Vec<String>,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// Sessions open at once; an `initialize` past it is answered 503.
    pub max_sessions: usize,
}

/// The streamable HTTP transport at `/mcp`: each client's `initialize` opens a session (ended by
/// its `DELETE`, or after 5 minutes idle), all of them served until `stop` is cancelled.
pub fn http_router(
    host: Arc<Host>,
    peers: Arc<Peers>,
    config: &HttpConfig,
    stop: CancellationToken,
) -> axum::Router {
    let mut allowed_hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "[::1]".to_string(),
    ];
    allowed_hosts.extend(config.allowed_hosts.iter().cloned());
    let sessions = Arc::new(LocalSessionManager::default());
    let service = StreamableHttpService::new(
        move || Ok(AgentTools::new(host.clone(), peers.clone())),
        sessions.clone(),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(allowed_hosts)
            .with_max_request_body_bytes(config.max_body_bytes)
            .with_cancellation_token(stop),
    );
    let max_sessions = config.max_sessions;
    axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(move |request, next| {
            bound_sessions(sessions.clone(), max_sessions, request, next)
        }))
}

/// Refuses a request that would open a session (no `Mcp-Session-Id`) while `max` are open.
async fn bound_sessions(
    sessions: Arc<LocalSessionManager>,
    max: usize,
    request: Request,
    next: Next,
) -> Response {
    let opens_one = request.method() == axum::http::Method::POST
        && !request.headers().contains_key("mcp-session-id");
    if opens_one && sessions.sessions.read().await.len() >= max {
        let body = serde_json::json!({"error": {
            "kind": tandem::ErrorKind::Overloaded.as_str(),
            "message": format!("{max} MCP sessions are open, the most this server keeps; close one (DELETE /mcp) or wait for one to idle out"),
        }});
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(body),
        )
            .into_response();
    }
    next.run(request).await
}
