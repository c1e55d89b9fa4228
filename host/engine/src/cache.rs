//! The compiled-code cache: a component is compiled by Cranelift once, and every later start of any
//! host with the same engine settings maps the machine code from disk instead (about 80 us instead of
//! tens of milliseconds).
//!
//! Entries are keyed by the SHA-256 of the component's bytes together with the engine's compatibility
//! hash (wasmtime version, target, settings), so a changed component or engine never sees a stale
//! entry. The directory must be writable only by the user the host runs as: its files are native code.

use std::hash::Hasher;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components are kept, or nowhere.
#[derive(Debug, Clone)]
pub struct CodeCache {
    dir: Option<PathBuf>,
    engine_hash: String,
}

impl CodeCache {
    /// A cache in `dir` (created when first written), or no cache at all when `dir` is `None`.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> CodeCache {
        let mut hasher = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        CodeCache {
            dir,
            engine_hash: hex::encode(hasher.0.finalize()),
        }
    }

    /// The default place: `$TANDEM_CACHE_DIR`, else `$XDG_CACHE_HOME/tandem`, else `~/.cache/tandem`.
    pub fn default_dir() -> Option<PathBuf> {
        crate::dirs::cache_dir()
    }

    /// The compiled component for `bytes` (whose SHA-256 is `content_hash`), from the cache when it
    /// is there, otherwise compiled now and stored. A cache that cannot be read or written is passed
    /// over with a warning: it only costs time.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        content_hash: &str,
    ) -> wasmtime::Result<Component> {
        let Some(path) = self.entry(content_hash) else {
            return compile_now(engine, bytes);
        };
        if path.exists() {
            // SAFETY: the file was written by `store` below from `Component::serialize` of an engine
            // with the same compatibility hash (it is in the file name), and the cache directory is
            // documented as private to the host's user.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable cache entry")
                }
            }
        }
        let component = compile_now(engine, bytes)?;
        if let Err(e) = store(&path, &component) {
            tracing::warn!(path = %path.display(), error = %e, "could not write the compiled-code cache");
            return Ok(component);
        }
        // Served from the entry just written: its code is then mapped from the file (shared, and
        // the kernel's to reclaim) instead of held in the process's own memory.
        // SAFETY: as above; `store` wrote it from this engine's `serialize`.
        Ok(unsafe { Component::deserialize_file(engine, &path) }.unwrap_or(component))
    }

    /// Whether compiled code for the component with `content_hash` is in the cache (a later
    /// [`load`](CodeCache::load) maps it instead of compiling).
    pub fn contains(&self, content_hash: &str) -> bool {
        self.entry(content_hash).is_some_and(|path| path.is_file())
    }

    fn entry(&self, content_hash: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut key = Sha256::new();
        key.update(content_hash.as_bytes());
        key.update(self.engine_hash.as_bytes());
        Some(dir.join(format!("{}.cwasm", hex::encode(key.finalize()))))
    }
}

/// Compiles `bytes`, then gives the memory the compiler used back to the system ([`crate::heap`]).
fn compile_now(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    let component = Component::new(engine, bytes);
    crate::heap::trim();
    component
}

/// Writes the entry atomically: to a temporary file in the same directory, then renamed into place,
/// so a concurrent reader never maps a half-written file.
fn store(path: &Path, component: &Component) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.{}.tmp", std::process::id(), unique_suffix()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Feeds `Hash` output into SHA-256, so the key is stable across processes and Rust versions.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Whether `text` has the form of a content hash as [`content_hash`] writes it (64 lower-case hex
/// digits): what may name a stored component's file.
pub fn is_content_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The hex SHA-256 of `bytes`: an agent version's content hash.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
