//! # tandem-sdk: write a Tandem agent in a few lines
//!
//! An agent is a type that implements [`Agent`], exported with [`export_agent!`], in a `cdylib` crate
//! compiled for `wasm32-wasip1` and turned into a component (`just agents` does both for the crates in
//! `agents-guest/`):
//!
//! ```ignore
//! use serde::{Deserialize, Serialize};
//! use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task};
//!
//! #[derive(Deserialize, schemars::JsonSchema)]
//! struct Greet { name: String }
//! #[derive(Serialize)]
//! struct Greeting { text: String }
//!
//! struct Greeter;
//!
//! impl Agent for Greeter {
//!     fn describe() -> AgentInfo {
//!         AgentInfo::new("greeter", "Greets people")
//!             .operation(Operation::new("greet", "Says hello").deterministic().input::<Greet>())
//!     }
//!
//!     fn handle(task: Task) -> Result<Json, AgentError> {
//!         match task.operation.as_str() {
//!             "greet" => task.run(|g: Greet| Ok(Greeting { text: format!("Hello, {}!", g.name) })),
//!             other => Err(AgentError::unsupported(other)),
//!         }
//!     }
//! }
//!
//! tandem_sdk::export_agent!(Greeter);
//! ```
//!
//! # Layout
//! - [`agent`]: the [`Agent`] trait, the builders for [`AgentInfo`] and [`Operation`], typed JSON on
//!   [`Task`], and the helpers on [`AgentError`].
//! - [`log`]: structured logging into the host's tracing.
//! - [`delegation`]: calling other agents through the host (one call, a fan-out, a task graph).
//! - [`events`]: publishing custom events on the host's live event stream.
//! - [`state`]: the agent's durable key-value store, with typed JSON helpers.
//! - [`host_info`]: the host's agents, figures and load, for agents granted `host-info`.
//! - [`control`]: other agents' versions listed, rolled back, activated, for agents granted them.
//! - [`http`]: outbound HTTP for agents granted `[egress]`, with secrets the host fills in.
//!
//! The WIT contract these wrap is `wit/agent.wit` (package `tandem:agent@0.1.3`, world `described-agent`).

pub mod agent;
pub mod control;
pub mod delegation;
pub mod events;
pub mod host_info;
pub mod http;
pub mod log;
pub mod state;

pub use agent::{Agent, AgentInfo, Json, Operation, to_json};
pub use bindings::tandem::agent::types::{AgentError, CallError, ErrorKind, Task};
/// JSON Schemas from Rust types, for [`Operation::input`]: derive `schemars::JsonSchema` on an
/// operation's input type (the agent's crate depends on `schemars` too).
pub use schemars;

/// Used by [`export_agent!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::exports::tandem::agent::handler::Guest;
    pub use crate::bindings::exports::tandem::agent::schemas::Guest as SchemasGuest;
}

/// The bindings generated from `wit/`; not part of the public API, used by [`export_agent!`].
#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "described-agent",
        pub_export_macro: true,
        export_macro_name: "__export_agent_world",
        default_bindings_module: "tandem_sdk::bindings",
    });
}

/// Exports a type that implements [`Agent`] as the component's `tandem:agent/handler` interface,
/// and the input schemas its operations declare as `tandem:agent/schemas`.
///
/// Use it once, at the top level of the agent's crate. When the agent's `describe()` leaves the
/// version empty, the crate's own version (`CARGO_PKG_VERSION`) is filled in.
#[macro_export]
macro_rules! export_agent {
    ($agent:ty) => {
        const _: () = {
            struct __TandemExport;

            impl $crate::__private::Guest for __TandemExport {
                fn describe() -> $crate::bindings::tandem::agent::types::AgentInfo {
                    $crate::agent::describe_with_version::<$agent>(env!("CARGO_PKG_VERSION"))
                }

                fn handle(
                    task: $crate::Task,
                ) -> ::core::result::Result<$crate::Json, $crate::AgentError> {
                    <$agent as $crate::Agent>::handle(task)
                }

                fn health() -> ::core::result::Result<(), ::std::string::String> {
                    <$agent as $crate::Agent>::health()
                }
            }

            impl $crate::__private::SchemasGuest for __TandemExport {
                fn input_schemas() -> ::std::vec::Vec<(::std::string::String, $crate::Json)> {
                    $crate::agent::input_schemas::<$agent>()
                }
            }

    $crate::bindings::__export_agent_world!(__TandemExport with_types_in $crate::bindings);
        };
    };
}
