//! # Tandem: a host that runs agents as sandboxed WebAssembly components
//!
//! An agent is a component of the WIT world `tandem:agent/agent` (see `wit/agent.wit`). The [`Host`]
//! compiles it once (cached on disk), reads its `describe()`, registers it by id, and runs each call
//! in a store with a deadline, fuel, memory limits and only the capabilities its [`Policy`] grants.
//!
//! This crate is the runtime layer, the library embedders use. It sits on `tandem-engine` (everything
//! that touches wasm) and `tandem-manifest` (the policy types), re-exported here as
//! [`engine`], [`sandbox`], [`state`], ... and [`manifest`]; `tandem-server` and the `tandem` binary
//! sit on it.
//!
//! # Layout
//! - [`host`]: the [`Host`]: load agents, call them, swap and roll back versions.
//! - [`agent`]: a loaded agent as the runtime serves it: the engine's agent with its breaker.
//! - [`dispatch`]: routing a call to its agent with breaker, retries and the inherited deadline.
//! - `delegation`: the rules of one agent calling another, and the dispatcher's side of the
//!   engine's `Delegator` trait (its `EventSink` side is in `dispatch`).
//! - [`breaker`]: the per-agent circuit breaker; `retry`: which failures are retried, and the
//!   backoff.
//! - [`registry`]: the loaded agents by id, each with its recent versions (swap, rollback) and
//!   its canary, if any; [`canary`]: weighted routing by trace and the guard rails.
//! - [`scheduler`]: dependency graphs of calls, run with a ready queue.
//! - [`triggers`]: the calls the host makes on its own, on a schedule or on an event.
//! - [`results`]: the result cache of deterministic operations (by agent version, LRU by bytes).
//! - [`metrics`]: every agent version's figures and their Prometheus exposition.
//! - [`events`]: the live event stream; [`audit`]: the hash-chained audit log and its
//!   verification.
//! - [`persist`]: the agent set saved in the data directory, so a restart serves what was serving.

#![deny(missing_docs)]

pub mod agent;
pub mod audit;
pub mod breaker;
pub mod canary;
mod delegation;
pub mod dispatch;
pub mod events;
pub mod host;
pub mod metrics;
pub mod persist;
pub mod registry;
pub mod results;
mod retry;
pub mod scheduler;
pub mod triggers;

// The layers below, re-exported whole: embedders and the server name everything through `tandem`.
pub use tandem_engine::{
    bindings, cache, component, componentize, dirs, engine, error, json, sandbox, state, stats,
    text,
};
pub use tandem_manifest as manifest;

pub use agent::{Agent, AgentInfo, OperationInfo, Request, Response};
pub use dispatch::Origin;
pub use error::{CallError, ErrorKind, LoadError};
pub use host::{Host, HostConfig, Inspection, Swap};
pub use tandem_manifest::{
    DirGrant, Grants, Isolation, Limits, Manifest, ManifestError, Policy, Resilience, Stdio,
};
