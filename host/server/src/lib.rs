//! # tandem-server: `tandem serve`, the HTTP API over a [`Host`](tandem::Host)
//!
//! The HTTP API (axum on hyper and tokio), watch mode, and the Prometheus exposition, over the runtime
//! library `tandem`; the top layer but for the CLI.
//!
//! Every error answer is JSON, `{"error": {"kind": ..., "message": ...}}`, with the status that
//! [`ApiError`] alone decides. What a request must pass before its handler runs (the `Host` and
//! `Origin` checks, the caller and admin tokens) is in `guard`; tokens are compared in constant
//! time and never logged.
//!
//! # Layout
//! - `state`: [`ServerConfig`] and [`ServerState`], what the handlers share.
//! - `router`: the routes ([`router()`]); `serve`: serving until a signal, then shutting down
//!   ([`serve()`]).
//! - [`connections`]: accepting connections: the connection bound, header and idle timeouts.
//! - `guard`: host, origin and token checks, before any body is read.
//! - `body`: reading a body within its size limit and the body timeout.
//! - `extract`: the `{id}` of a path, checked ([`AgentId`]).
//! - `invoke`, `graphs`, `agents`, `ops`: the handlers of calls, graphs, agents (with the admin
//!   endpoints) and the operator endpoints (`/metrics`, `/healthz`, `/readyz`, `/events`);
//!   `canary`: the admin endpoints of canary routing.
//! - `views`: what the API shows of agents and versions ([`AgentView`], [`SwapReply`]).
//! - `events`: `GET /events`, the live event stream.
//! - `exposition`: the Prometheus exposition of the host's figures (`GET /metrics`).
//! - `error`: [`ApiError`] and its one mapping to HTTP.
//! - `wire`: a connection's bytes: JSON bodies for hyper's own error answers, the send timeout.
//! - [`watch`]: watch mode: the agents directory drives what is loaded (hot swap from files).
//!
//! Shutdown ([`serve()`]): when the signal comes, the server publishes a `shutdown` event, stops
//! accepting, answers `/readyz` with 503 and ends the event streams; calls in flight get `grace` to
//! finish, then are stopped and answered 503; the audit log is flushed last.

#![deny(missing_docs)]

mod agents;
mod body;
mod canary;
mod cluster;
pub mod connections;
mod error;
mod events;
mod exposition;
mod extract;
mod graphs;
mod guard;
mod invoke;
mod ops;
mod router;
mod serve;
mod state;
mod views;
pub mod watch;
mod wire;

pub use error::ApiError;
pub use extract::AgentId;
pub use invoke::InvokeRequest;
pub use router::router;
pub use serve::serve;
pub use state::{ServerConfig, ServerState};
pub use views::{AgentView, LimitsView, OperationView, Replaced, SwapReply, VersionView};
