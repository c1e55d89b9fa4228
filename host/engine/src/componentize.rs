//! Turning a core module built for `wasm32-wasip1` (with the `tandem:agent` world embedded by
//! wit-bindgen) into a component, with the WASI preview-1 reactor adapter that ships inside the
//! `wasi-preview1-component-adapter-provider` crate (pinned to the same version as wasmtime); or,
//! for a `wasi:http` handler, its proxy adapter (which imports only what the proxy world has).

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::ComponentEncoder;

/// Why a module could not be made a component.
#[derive(Debug, thiserror::Error)]
pub enum ComponentizeError {
    #[error("not a WebAssembly core module (it does not start with the `\\0asm` magic bytes)")]
    /// The input is not WebAssembly.
    NotWasm,
    #[error("already a component; nothing to do")]
    /// The input is a component already.
    AlreadyComponent,
    #[error("cannot make a component: {0:#}")]
    /// The module could not be made a component (the encoder's error).
    Encode(anyhow::Error),
}

/// Which WASI preview-1 adapter a component gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// The reactor adapter: for agents (and libraries called through their exports).
    Reactor,
    /// The proxy adapter: for a `wasi:http/proxy` handler, run by `wasmtime serve` as it is.
    Proxy,
}

/// The agent component made from `module` (with the reactor adapter).
pub fn componentize(module: &[u8]) -> Result<Vec<u8>, ComponentizeError> {
    componentize_with(module, Adapter::Reactor)
}

/// The component made from `module` with `adapter`.
pub fn componentize_with(module: &[u8], adapter: Adapter) -> Result<Vec<u8>, ComponentizeError> {
    if module.len() < 8 || &module[..4] != b"\0asm" {
        return Err(ComponentizeError::NotWasm);
    }
    if module[4..8] != [1, 0, 0, 0] {
        return Err(ComponentizeError::AlreadyComponent);
    }
    let mut encoder = ComponentEncoder::default();
    encoder.module(module).map_err(ComponentizeError::Encode)?;
    encoder
        .validate(true)
        .adapter(
            "wasi_snapshot_preview1",
            match adapter {
                Adapter::Reactor => WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
                Adapter::Proxy => WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER,
            },
        )
        .map_err(ComponentizeError::Encode)?;
    encoder.encode().map_err(ComponentizeError::Encode)
}
