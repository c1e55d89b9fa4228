//! The host functions guests import: `tandem:agent/*`, one module per interface, plus the WASI
//! interfaces that can be granted (`wasi`), the bounds on granted files (`files`), guest stdio
//! into the log (`stdio`) and outbound HTTP for agents granted it (`egress`, linked only for them).
//!
//! Each capability owns its per-instance context (a field of [`StoreData`]), implements its
//! generated `Host` trait on a view of that context and the running call, and is linked with a
//! one-line projection, as wasmtime's WASI crates do for `random`. Each bounds what a guest can make
//! the host do (log volume, delegation targets, state quotas, event sizes).

pub mod control;
pub mod delegation;
pub mod egress;
pub mod events;
pub mod files;
pub mod host_info;
pub mod log;
pub mod state;
mod stdio;
pub mod wasi;

pub use stdio::LogStream;

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::types;
use crate::sandbox::StoreData;

/// `tandem:agent/types` holds types only.
impl types::Host for StoreData {}

/// Links every `tandem:agent/*` interface the host provides, each to its capability's view.
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    types::add_to_linker::<StoreData, HasSelf<StoreData>>(linker, |data| data)?;
    log::add_to_linker(linker)?;
    state::add_to_linker(linker)?;
    delegation::add_to_linker(linker)?;
    host_info::add_to_linker(linker)?;
    control::add_to_linker(linker)?;
    events::add_to_linker(linker)
}
