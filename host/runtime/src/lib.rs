//! # Tandem: a host that runs agents as sandboxed WebAssembly components
//!
//! An agent is a component of the WIT world `tandem:agent/agent` (see `wit/agent.wit`). The [`Host`]
//! compiles it once (cached on disk), reads its `describe()`, registers it by id, and runs each call
//! in a store with a deadline, fuel, memory limits and only the capabilities its [`Policy`] grants.
//!
//! # Layout
//! - [`host`]: the [`Host`]: load agents, call them.
//! - [`agent`]: one loaded agent: its info, warm instances and the path of a call.
//! - `pool`: an agent's warm instances and the bound on how many are alive.
//! - [`dispatch`]: routing a call to its agent with breaker, retries and the inherited deadline.
//! - [`breaker`]: the per-agent circuit breaker.
//! - [`retry`]: which failures are retried, and the backoff.
//! - [`delegation`]: the rules of one agent calling another (grants, cycles, depth, deadline).
//! - [`registry`]: the loaded agents by id, each with its recent versions (swap, rollback).
//! - [`metrics`]: per-agent, per-version call statistics and their Prometheus exposition.
//! - [`events`]: the live event stream.
//! - [`audit`]: the hash-chained audit log and its verification.
//! - [`server`]: `tandem serve`'s HTTP API.
//! - [`watch`]: watch mode: the agents directory drives what is loaded (hot swap from files).
//! - [`scheduler`]: dependency graphs of calls, run with a ready queue.
//! - [`component`]: checks that turn a file into a component known to be an agent.
//! - [`cache`]: the on-disk cache of compiled code.
//! - [`dirs`]: where the cache and the data directory are by default.
//! - [`persist`]: the agent set saved in the data directory, so a restart serves what was serving.
//! - [`state`]: agents' durable key-value state (redb), per-call transactions, quotas.
//! - [`results`]: the result cache of deterministic operations (by agent version, LRU by bytes).
//! - [`engine`]: the wasmtime engine's configuration and the epoch ticker behind deadlines.
//! - [`manifest`]: the TOML manifest beside a component: limits and capabilities, checked.
//! - [`sandbox`]: limits, grants, the per-instance store and trap classification.
//! - `capabilities`: the host functions guests import (`log`, `delegation`, `events`,
//!   `state`), the WASI
//!   interfaces that can be granted (no sockets), and guest stdio into the log.
//! - [`bindings`]: the generated bindings of `wit/`.
//! - [`componentize`]: making a component from a `wasm32-wasip1` core module.
//! - [`error`]: [`LoadError`], [`CallError`] and their [`ErrorKind`].
//! - [`json`]: the check every JSON payload passes into and out of a guest.

pub mod agent;
pub mod audit;
pub mod breaker;
pub mod delegation;
pub mod dispatch;
pub mod events;
pub mod host;
pub mod metrics;
pub mod persist;
pub mod registry;
pub mod results;
pub mod retry;
pub mod scheduler;

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
