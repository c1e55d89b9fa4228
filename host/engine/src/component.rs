//! Turning a file into a compiled component that is known to be an agent: the checks that give bad
//! input a clear error (not wasm, a core module, another world, an import the host lacks), and the
//! listing of a component's imports and exports for `tandem inspect`.

use std::path::Path;

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use crate::bindings::{AgentWorldPre, HANDLER_INTERFACE};
use crate::cache::CodeCache;
use crate::error::LoadError;
use crate::sandbox::StoreData;

const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];

/// Checks the header before anything is compiled: the magic bytes and the core-module/component
/// layer.
pub fn check_header(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(LoadError::NotWasm {
            path: path.to_path_buf(),
        });
    }
    if bytes[4..8] == CORE_MODULE_VERSION {
        return Err(LoadError::CoreModule {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Compiles (or maps from the cache) a component whose header passed [`check_header`].
pub fn compile(
    engine: &Engine,
    cache: &CodeCache,
    path: &Path,
    bytes: &[u8],
    hash: &str,
) -> Result<Component, LoadError> {
    cache
        .load(engine, bytes, hash)
        .map_err(|e| LoadError::Invalid {
            path: path.to_path_buf(),
            reason: format!("{e:#}"),
        })
}

/// Links a compiled component against the host's imports and checks it exports the agent interface.
pub fn prepare(
    engine: &Engine,
    linker: &Linker<StoreData>,
    path: &Path,
    component: &Component,
) -> Result<AgentWorldPre<StoreData>, LoadError> {
    let shape = Shape::of(engine, component);
    if !shape.exports.iter().any(|name| is_handler(name)) {
        return Err(LoadError::NotAnAgent {
            path: path.to_path_buf(),
            exports: list_or_nothing(&shape.exports),
        });
    }
    let pre = linker.instantiate_pre(component).map_err(|e| {
        let reason = format!("{e:#}");
        // Name the import wasmtime could not satisfy; its message quotes it.
        let import = shape
            .imports
            .iter()
            .find(|name| reason.contains(name.as_str()))
            .cloned()
            .unwrap_or(reason);
        if import.starts_with("wasi:http/") {
            LoadError::EgressNotGranted {
                path: path.to_path_buf(),
                import,
            }
        } else {
            LoadError::UnsupportedImport {
                path: path.to_path_buf(),
                import,
            }
        }
    })?;
    AgentWorldPre::new(pre).map_err(|e| LoadError::NotAnAgent {
        path: path.to_path_buf(),
        exports: format!("{} ({e:#})", list_or_nothing(&shape.exports)),
    })
}

fn is_handler(export: &str) -> bool {
    export
        .strip_prefix(HANDLER_INTERFACE)
        .and_then(|rest| rest.strip_prefix("@0.1."))
        .is_some()
}

fn list_or_nothing(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".to_string()
    } else {
        names.join(", ")
    }
}

/// The names a component imports and exports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Shape {
    /// The interfaces it imports, by name.
    pub imports: Vec<String>,
    /// The interfaces it exports, by name.
    pub exports: Vec<String>,
}

impl Shape {
    /// The shape of `component`.
    pub fn of(engine: &Engine, component: &Component) -> Shape {
        let ty = component.component_type();
        Shape {
            imports: ty
                .imports(engine)
                .map(|(name, _)| name.to_string())
                .collect(),
            exports: ty
                .exports(engine)
                .map(|(name, _)| name.to_string())
                .collect(),
        }
    }
}
