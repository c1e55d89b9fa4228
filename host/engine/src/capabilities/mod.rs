//! The host functions guests import: `tandem:agent/*`, one module per interface, plus the WASI
//! interfaces that can be granted (`wasi`), the bounds on granted files (`files`) and guest stdio
//! into the log (`stdio`).
//!
//! Each module implements its generated `Host` trait on [`StoreData`](crate::sandbox::StoreData) and
//! bounds what a guest can make the host do (log volume, delegation targets, state quotas).

pub mod delegation;
pub mod events;
pub mod files;
mod log;
mod state;
mod stdio;
pub mod wasi;

pub use stdio::LogStream;

impl crate::bindings::types::Host for crate::sandbox::StoreData {}
