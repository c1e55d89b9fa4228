//! The host side of the WIT contract in `wit/`, generated once here and re-exported on purpose.
//!
//! Imports are async on the host (a guest waiting on a delegation holds no OS thread) while guests
//! see ordinary blocking calls; exports are called through wasmtime's async API.

// Generated from `wit/`; the WIT file documents every item.
#[allow(missing_docs)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "agent",
        imports: { default: async },
        exports: { default: async },
    });
}

pub use generated::exports::tandem::agent::handler;
pub use generated::tandem::agent::{control, delegation, events, host_info, log, state, types};
pub use generated::{Agent as AgentWorld, AgentPre as AgentWorldPre};

/// The interface every agent exports, with the package version it was built against stripped:
/// the host accepts any `0.1.x`.
pub const HANDLER_INTERFACE: &str = "tandem:agent/handler";

/// The version of the WIT package this host implements.
pub const PACKAGE_VERSION: &str = "0.1.3";
