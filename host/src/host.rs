//! [`Host`]: the engine, the linker with every host import, the compiled-code cache and the registry,
//! and the entry points that load agents and call them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::agent::{Agent, Request, Response};
use crate::cache::{self, CodeCache};
use crate::component::{self, Shape};
use crate::engine::{self, EngineLimits, EpochTicker};
use crate::error::{CallError, LoadError, Site};
use crate::registry::Registry;
use crate::sandbox::{Policy, StoreData};

/// How to build a [`Host`].
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub engine: EngineLimits,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
}

impl Default for HostConfig {
    /// Default engine limits and the default cache directory ([`CodeCache::default_dir`]).
    fn default() -> Self {
        HostConfig {
            engine: EngineLimits::default(),
            cache_dir: CodeCache::default_dir(),
        }
    }
}

/// Why a host could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot configure the wasm engine: {0:#}")]
    Engine(wasmtime::Error),
    #[error("cannot start the epoch ticker thread: {0}")]
    Ticker(std::io::Error),
}

/// A compiled component that is an agent, not yet instantiated: what `tandem inspect` shows.
pub struct Inspection {
    pub shape: Shape,
    pub agent: Agent,
}

/// The runtime: load agents, call them.
pub struct Host {
    engine: Engine,
    linker: Linker<StoreData>,
    cache: CodeCache,
    registry: Registry,
    engine_limits: EngineLimits,
    next_task_id: AtomicU64,
    trace_seed: u64,
    _ticker: EpochTicker,
}

impl Host {
    pub fn new(config: HostConfig) -> Result<Host, HostError> {
        let engine = engine::build(&config.engine).map_err(HostError::Engine)?;
        let mut linker = Linker::new(&engine);
        crate::capabilities::wasi::add_to_linker(&mut linker).map_err(HostError::Engine)?;
        crate::bindings::add_to_linker(&mut linker).map_err(HostError::Engine)?;
        let ticker = EpochTicker::start(&engine).map_err(HostError::Ticker)?;
        let trace_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ (u64::from(std::process::id()) << 32);
        Ok(Host {
            cache: CodeCache::new(&engine, config.cache_dir),
            engine,
            linker,
            registry: Registry::default(),
            engine_limits: config.engine.clone(),
            next_task_id: AtomicU64::new(1),
            trace_seed,
            _ticker: ticker,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The limits of the engine's pool: no manifest may ask for more.
    pub fn engine_limits(&self) -> &EngineLimits {
        &self.engine_limits
    }

    /// Reads, checks, compiles and describes the component at `path`, returning the agent without
    /// registering it.
    pub async fn prepare(&self, path: &Path, policy: Policy) -> Result<Inspection, LoadError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| LoadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        component::check_header(path, &bytes)?;
        let hash = cache::content_hash(&bytes);
        // Compiling is CPU-bound and may take a while: keep it off the async workers.
        let (engine, cache, owned_path) =
            (self.engine.clone(), self.cache.clone(), path.to_path_buf());
        let compiled = tokio::task::spawn_blocking(move || {
            let component = component::compile(&engine, &cache, &owned_path, &bytes, &hash)?;
            Ok::<_, LoadError>((component, hash))
        })
        .await
        .map_err(|e| LoadError::Host {
            path: path.to_path_buf(),
            reason: format!("compiler task failed: {e}"),
        })?;
        let (component, hash) = compiled?;
        let shape = Shape::of(&self.engine, &component);
        let pre = component::prepare(&self.engine, &self.linker, path, &component)?;
        let agent = Agent::load(&self.engine, pre, path.to_path_buf(), hash, policy).await?;
        Ok(Inspection { shape, agent })
    }

    /// Loads the component at `path` and registers it under the id its `describe()` returns.
    pub async fn load(&self, path: &Path, policy: Policy) -> Result<Arc<Agent>, LoadError> {
        let agent = Arc::new(self.prepare(path, policy).await?.agent);
        self.registry.insert(agent.clone())?;
        tracing::info!(agent = agent.id(), version = %agent.info.version, path = %path.display(), "agent loaded");
        Ok(agent)
    }

    /// The policy for the component at `path`: from the manifest beside it (`x.wasm` -> `x.toml`),
    /// or the defaults, which grant nothing.
    pub fn policy_for(&self, path: &Path) -> Result<Policy, LoadError> {
        Ok(crate::manifest::policy_for_component(
            path,
            &self.engine_limits,
        )?)
    }

    /// Loads the component at `path` with the policy of the manifest beside it.
    pub async fn load_component(&self, path: &Path) -> Result<Arc<Agent>, LoadError> {
        let policy = self.policy_for(path)?;
        self.load(path, policy).await
    }

    /// Loads every `*.wasm` file in `dir` (sorted by name), each with its manifest. Returns the agents
    /// loaded and an error for each file that failed; one bad file does not stop the others.
    pub async fn load_dir(
        &self,
        dir: &Path,
    ) -> Result<(Vec<Arc<Agent>>, Vec<LoadError>), LoadError> {
        let io = |source| LoadError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "wasm") && path.is_file())
            .collect();
        files.sort();
        let (mut loaded, mut failed) = (Vec::new(), Vec::new());
        for file in files {
            match self.load_component(&file).await {
                Ok(agent) => loaded.push(agent),
                Err(error) => failed.push(error),
            }
        }
        Ok((loaded, failed))
    }

    /// The agent registered as `id`.
    pub fn agent(&self, id: &str) -> Result<Arc<Agent>, CallError> {
        self.registry.get(id)
    }

    /// Every registered agent, ordered by id.
    pub fn agents(&self) -> Vec<Arc<Agent>> {
        self.registry.all()
    }

    /// Calls `operation` of agent `agent` with JSON `input`, as a new trace.
    pub async fn invoke(
        &self,
        agent: &str,
        operation: &str,
        input: String,
    ) -> Result<Response, CallError> {
        let agent = self.registry.get(agent)?;
        let request = self.request(&agent, operation, input, None)?;
        agent.call(request).await
    }

    /// Checks a call against the agent (the operation exists, the input is JSON) and stamps it with a
    /// task id and a new trace id.
    pub fn request(
        &self,
        agent: &Agent,
        operation: &str,
        input: String,
        deadline: Option<Instant>,
    ) -> Result<Request, CallError> {
        if agent.info.operation(operation).is_none() {
            return Err(CallError::UnknownOperation {
                agent: agent.id().to_string(),
                operation: operation.to_string(),
                offered: agent
                    .info
                    .operations
                    .iter()
                    .map(|o| o.name.clone())
                    .collect(),
            });
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&input) {
            let site = Site {
                agent: agent.id().to_string(),
                operation: operation.to_string(),
            };
            return Err(CallError::InvalidJson {
                site,
                reason: e.to_string(),
            });
        }
        let task_id = self.next_task_id.fetch_add(1, Ordering::Relaxed);
        Ok(Request {
            task_id,
            operation: operation.to_string(),
            input,
            trace_id: trace_id(self.trace_seed, task_id),
            chain: Vec::new(),
            attempt: 1,
            deadline,
        })
    }
}

/// A trace id: 32 hex digits, the host's per-process seed then the task id. Written by hand because
/// `format!` costs more than the rest of a warm call's bookkeeping.
fn trace_id(seed: u64, task_id: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let value = (u128::from(seed) << 64) | u128::from(task_id);
    let mut digits = [0u8; 32];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = HEX[((value >> (124 - 4 * i)) & 0xf) as usize];
    }
    String::from_utf8_lossy(&digits).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn trace_ids_are_32_hex_digits() {
        assert_eq!(
            super::trace_id(0xdead_beef, 42),
            "00000000deadbeef000000000000002a"
        );
        assert_eq!(
            super::trace_id(u64::MAX, 0),
            "ffffffffffffffff0000000000000000"
        );
    }
}
