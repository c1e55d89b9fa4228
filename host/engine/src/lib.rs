//! # tandem-engine: everything in Tandem that touches wasm
//!
//! The engine layer: the wasmtime [`Engine`](wasmtime::Engine) and its epoch ticker, the bindings of
//! `wit/`, the per-instance sandbox and how its failures are classified, the pool of warm instances,
//! a loaded [`Agent`] and the path of one attempt at a call, components and the compiled-code cache,
//! componentizing core modules, the capabilities guests import, and durable state.
//!
//! It sits on `tandem-manifest` (the policy it enforces) and knows nothing above it: a guest's call
//! back into the host goes through the [`Delegator`] and [`EventSink`] traits, which the runtime
//! implements.
//!
//! # Layout
//! - [`engine`]: the engine's configuration and the epoch ticker behind deadlines.
//! - [`bindings`]: the generated bindings of `wit/`.
//! - [`sandbox`]: one instance's store, its limiter, deadline checks and fuel.
//! - [`trap`]: a failure while guest code ran, classified.
//! - `pool`: an agent's warm instances and the bound on how many are alive.
//! - [`agent`]: one loaded agent: its info, warm instances and one attempt at a call;
//!   [`schemas`]: the optional export of its operations' input schemas.
//! - [`component`]: checks that turn a file into a component known to be an agent.
//! - [`cache`]: the on-disk cache of compiled code; [`dirs`]: where it and the data directory are;
//!   [`heap`]: the compiler's freed peak given back to the system.
//! - [`componentize`]: making a component from a `wasm32-wasip1` core module.
//! - [`capabilities`]: the host functions guests import and the WASI interfaces that can be granted.
//! - [`state`]: agents' durable key-value state (redb), per-call transactions, quotas.
//! - [`stats`]: the figures of one agent version.
//! - [`kind`]: [`ErrorKind`], a leaf; [`error`]: [`LoadError`] and [`CallError`].
//! - [`json`]: the check every JSON payload passes; [`text`]: untrusted text cut to a bound.

#![deny(missing_docs)]

pub mod agent;
pub mod bindings;
pub mod cache;
pub mod capabilities;
pub mod component;
pub mod componentize;
pub mod dirs;
pub mod engine;
pub mod error;
pub mod heap;
pub mod json;
pub mod kind;
mod pool;
pub mod sandbox;
pub mod schemas;
pub mod state;
pub mod stats;
pub mod text;
pub mod trap;

pub use agent::{Agent, AgentInfo, HostLinks, OperationInfo, Request, Response};
pub use capabilities::control::Control;
pub use capabilities::delegation::{Caller, Delegator};
pub use capabilities::egress::{EgressOutcome, EgressRecord, EgressWatch};
pub use capabilities::events::EventSink;
pub use capabilities::host_info::HostInfo;
pub use error::{CallError, LoadError};
pub use kind::ErrorKind;
pub use sandbox::CallState;
