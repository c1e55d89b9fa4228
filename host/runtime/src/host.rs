//! [`Host`]: the engine, the linker with every host import, the compiled-code cache and the registry,
//! and the entry points that load agents and call them.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::agent::{Agent, Response};
use crate::audit::{AuditError, AuditLog};
use crate::cache::{self, CodeCache};
use crate::component::Shape;
use crate::dispatch::{AdminChange, Dispatcher, Origin};
use crate::engine::{EngineLimits, EpochTicker, Tier};
use crate::error::{CallError, LoadError};
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::persist::{AgentStore, SavedVersion};
use crate::registry::{RollbackError, Version};
use crate::results::{CacheStats, ResultCache};
use crate::sandbox::Policy;
use crate::scheduler::{Graph, Plan, PlanError, Progress, RunReport};
use crate::state::StateAccess;
use crate::triggers::{TriggerStatus, TriggerTable};

mod canary;
mod flavor;
mod loader;

use flavor::Flavors;
use loader::Loader;

/// How to build a [`Host`].
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The engine's bounds, shared by all agents.
    pub engine: EngineLimits,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// The audit log to append every call to; `None` keeps none.
    pub audit_log: Option<PathBuf>,
    /// When the audit log rotates, and how many rotated files it keeps.
    pub audit_rotation: crate::audit::Rotation,
    /// Bytes of results of deterministic operations to keep; 0 (the default) keeps none.
    pub result_cache_bytes: usize,
    /// The file agents keep their durable state in (opened when first needed); `None` (the
    /// default) keeps no state: agents' state operations are refused as `unavailable`.
    pub state_file: Option<PathBuf>,
    /// Where the set of loaded agents is saved after every change, so that a restart serves what
    /// was serving (see [`Host::resume`]); `None` (the default) saves nothing.
    pub agent_store: Option<PathBuf>,
    /// Serve a hot-swapped version ([`Host::swap_in`]) whose optimised code is not cached from
    /// code Winch compiles in a fraction of the time, until Cranelift's is ready (two more engines;
    /// off by default, on in `tandem serve`).
    pub baseline_tier: bool,
}

impl Default for HostConfig {
    /// Default engine limits and the default cache directory ([`CodeCache::default_dir`]).
    fn default() -> Self {
        HostConfig {
            engine: EngineLimits::default(),
            cache_dir: CodeCache::default_dir(),
            audit_log: None,
            audit_rotation: crate::audit::Rotation::default(),
            result_cache_bytes: 0,
            state_file: None,
            agent_store: None,
            baseline_tier: false,
        }
    }
}

/// Why a host could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The engine's configuration was refused.
    #[error("cannot configure the wasm engine: {0:#}")]
    Engine(wasmtime::Error),
    /// The epoch ticker could not start.
    #[error("cannot start the epoch ticker thread: {0}")]
    Ticker(std::io::Error),
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The saved agent set could not be opened.
    #[error(transparent)]
    Store(#[from] crate::persist::StoreError),
}

/// A version put in place by [`Host::swap_in`] or [`Host::rollback`].
pub struct Swap {
    /// The version now serving.
    pub agent: Arc<Agent>,
    /// The version it replaced, if the id was loaded.
    pub previous: Option<Arc<Agent>>,
    /// Compiling, describing and probing the new version (zero for a rollback).
    pub prepared_in: std::time::Duration,
    /// The new version was the current one already (same component, same policy): nothing changed.
    pub unchanged: bool,
}

/// A compiled component that is an agent, not yet instantiated: what `tandem inspect` shows.
pub struct Inspection {
    /// What the component imports and exports.
    pub shape: Shape,
    /// The agent, loaded and described but not registered.
    pub agent: Agent,
}

/// The runtime: load agents, call them.
pub struct Host {
    /// What turns components into agent versions (engine, linker, code cache, agent store).
    loader: Arc<Loader>,
    dispatcher: Arc<Dispatcher>,
    engine_limits: EngineLimits,
    /// Where the agent set is saved, when it is.
    store: Option<Arc<AgentStore>>,
    /// The agents' triggers and their figures (run by [`run_triggers`](Host::run_triggers)).
    triggers: Arc<TriggerTable>,
    _ticker: EpochTicker,
}

impl Host {
    /// A host with `config`: its engine, epoch ticker, caches, state and audit log.
    pub fn new(config: HostConfig) -> Result<Host, HostError> {
        let optimized = Flavors::new(&config.engine, Tier::Optimized, config.cache_dir.clone())
            .map_err(HostError::Engine)?;
        // Baseline code is thrown away once the optimised code is ready: it is never cached.
        let baseline = match config.baseline_tier {
            true => Some(
                Flavors::new(&config.engine, Tier::Baseline, None).map_err(HostError::Engine)?,
            ),
            false => None,
        };
        let engines: Vec<&wasmtime::Engine> = std::iter::once(&optimized)
            .chain(&baseline)
            .flat_map(Flavors::engines)
            .collect();
        let ticker = EpochTicker::start(&engines).map_err(HostError::Ticker)?;
        let audit = match &config.audit_log {
            Some(path) => Some(AuditLog::open_with(path, config.audit_rotation)?),
            None => None,
        };
        let dispatcher = Arc::new(Dispatcher::new(
            audit,
            ResultCache::new(config.result_cache_bytes),
            StateAccess::new(config.state_file),
            config.engine.max_instances,
        ));
        let store = match &config.agent_store {
            Some(dir) => Some(Arc::new(AgentStore::open(dir)?)),
            None => None,
        };
        if let Some(store) = &store {
            let store = store.clone();
            dispatcher.registry().on_change(Box::new(move |histories| {
                if let Err(error) = store.write(histories) {
                    tracing::error!(%error, "cannot save the agent set");
                }
            }));
        }
        let loader = Arc::new(Loader {
            optimized,
            baseline,
            store: store.clone(),
            dispatcher: dispatcher.clone(),
            upgrades: tokio::sync::Semaphore::new(1),
        });
        let stored: std::sync::Weak<dyn crate::dispatch::StoredComponents> =
            Arc::downgrade(&loader) as _;
        dispatcher.keep_stored(stored);
        Ok(Host {
            loader,
            dispatcher,
            engine_limits: config.engine.clone(),
            store,
            triggers: Arc::default(),
            _ticker: ticker,
        })
    }

    /// Runs every loaded agent's triggers (see [`crate::triggers`]) until the future is dropped.
    pub fn run_triggers(&self) -> impl Future<Output = ()> + Send + 'static {
        crate::triggers::run(self.dispatcher.clone(), self.triggers.clone())
    }

    /// The triggers of agent `id`, with their figures.
    pub fn triggers(&self, id: &str) -> Vec<TriggerStatus> {
        self.triggers.of(&self.dispatcher, id)
    }

    /// The agents' state store (opened when first needed).
    pub fn state(&self) -> &StateAccess {
        self.dispatcher.state()
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
        self.prepare_bytes(path, bytes, policy).await
    }

    /// Like [`prepare`](Host::prepare), for a component's bytes; `path` names it in messages and
    /// becomes the agent's `source`.
    pub async fn prepare_bytes(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        policy: Policy,
    ) -> Result<Inspection, LoadError> {
        self.loader.prepare_bytes(path, bytes, policy).await
    }

    /// Loads the component at `path` and registers it under the id its `describe()` returns.
    pub async fn load(&self, path: &Path, policy: Policy) -> Result<Arc<Agent>, LoadError> {
        let agent = self.prepare(path, policy).await?.agent;
        self.register(agent)
    }

    /// Registers an agent prepared at start-up under its id.
    fn register(&self, agent: Agent) -> Result<Arc<Agent>, LoadError> {
        let agent = Arc::new(agent);
        self.dispatcher
            .registry()
            .insert(agent.clone(), "startup", || {
                self.dispatcher.registered(&agent, None, "startup", "load")
            })?;
        Ok(agent)
    }

    /// Puts a new version of an agent in place while calls go on (hot swap). The component is
    /// compiled, described and health-probed first, off the call path; a version that fails any
    /// check, or that describes itself as another id than `expected_id`, is rejected with the reason
    /// and the current version keeps serving. With no `expected_id`, the id must be new. Calls
    /// already running finish on the old version; every call after the swap runs the new one.
    /// With the host's baseline tier, a version whose optimised code is not cached serves from
    /// Winch's code first and moves to Cranelift's, in the background, when it is ready.
    pub async fn swap_in(
        &self,
        expected_id: Option<&str>,
        path: &Path,
        bytes: Vec<u8>,
        policy: Policy,
        by: &str,
    ) -> Result<Swap, LoadError> {
        let started = std::time::Instant::now();
        let hash = cache::content_hash(&bytes);
        // The same component with the same policy as the current version: nothing to do (and no
        // real version pushed out of the history).
        if let Some(current) = expected_id.and_then(|id| self.agent(id).ok())
            && current.content_hash == hash
            && *current.policy() == policy
        {
            return Ok(Swap {
                agent: current,
                previous: None,
                prepared_in: started.elapsed(),
                unchanged: true,
            });
        }
        let bytes = Arc::new(bytes);
        let prepared = self
            .loader
            .prepare_soon(path, bytes.clone(), hash, policy)
            .await;
        let agent = self.checked_version(expected_id, path, prepared, by)?;
        let prepared_in = started.elapsed();
        let previous = self.put_in_place(&agent, by);
        if agent.tier() == Tier::Baseline {
            self.loader.upgrade(&agent, bytes);
        }
        Ok(Swap {
            agent,
            previous,
            prepared_in,
            unchanged: false,
        })
    }

    /// A new version of `expected_id` (with none: of an id not loaded yet) as `prepared`
    /// (compiled, described and health-probed), not yet serving; one that failed, or describes
    /// itself as another id, is reported as rejected.
    fn checked_version(
        &self,
        expected_id: Option<&str>,
        path: &Path,
        prepared: Result<Inspection, LoadError>,
        by: &str,
    ) -> Result<Arc<Agent>, LoadError> {
        let checked = match prepared {
            Ok(inspection) => {
                let agent = inspection.agent;
                match expected_id {
                    Some(id) if agent.id() != id => Err(LoadError::InvalidInfo {
                        path: path.to_path_buf(),
                        reason: format!("it describes itself as `{}`, not `{id}`", agent.id()),
                    }),
                    None => match self.agent(agent.id()) {
                        Ok(existing) => Err(LoadError::Duplicate {
                            path: path.to_path_buf(),
                            id: agent.id().to_string(),
                            existing: existing.source.clone(),
                        }),
                        Err(_) => Ok(agent),
                    },
                    Some(_) => Ok(agent),
                }
            }
            Err(error) => Err(error),
        };
        match checked {
            Ok(agent) => Ok(Arc::new(agent)),
            Err(error) => {
                self.report_rejected(expected_id, by, &error);
                Err(error)
            }
        }
    }

    /// Makes `agent` the current version of its id (a swap, or a load when the id is new),
    /// returning the version it replaced.
    fn put_in_place(&self, agent: &Arc<Agent>, by: &str) -> Option<Arc<Agent>> {
        self.dispatcher
            .registry()
            .replace(agent.clone(), by, |previous| {
                let how = if previous.is_some() { "swap" } else { "load" };
                self.dispatcher
                    .registered(agent, previous.map(|p| &**p), by, how);
            })
    }

    /// Notes that the agents directory's file `path` was taken in with content `hash` (`None`: it
    /// is gone), for the next [`resume`](Host::resume).
    pub fn note_seen(&self, path: &Path, hash: Option<&str>) {
        if let Some(store) = &self.store {
            store.set_seen(&seen_key(path), hash);
        }
    }

    /// Loads what a restarted server should serve. With an agent set saved in the agent store (see
    /// [`HostConfig::agent_store`]): that set, every agent with its versions as they were, then
    /// what changed in `dir` since the host last looked (a new or changed file is loaded or swapped
    /// in, a file that is gone takes its agent with it when that agent is still the file's
    /// version). Without one: [`load_dir`](Host::load_dir). Returns the agents serving and the
    /// errors; one bad file or version does not stop the others.
    pub async fn resume(&self, dir: &Path) -> Result<(Vec<Arc<Agent>>, Vec<LoadError>), LoadError> {
        let Some(store) = self.store.clone().filter(|store| store.has_saved_set()) else {
            let (loaded, failed) = self.load_dir(dir).await?;
            for agent in &loaded {
                self.note_seen(&agent.source, Some(&agent.content_hash));
            }
            self.dispatcher.registry().touch();
            return Ok((loaded, failed));
        };
        let mut failed = Vec::new();
        for (id, versions) in store.saved_agents() {
            if let Err(error) = self.restore(&id, &versions, &store).await {
                failed.push(error);
            }
        }
        let files = component_files(dir).map_err(|source| LoadError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let present: Vec<PathBuf> = files.iter().map(|f| seen_key(f)).collect();
        for file in files {
            let bytes = match std::fs::read(&file) {
                Ok(bytes) => bytes,
                Err(source) => {
                    failed.push(LoadError::Io { path: file, source });
                    continue;
                }
            };
            let hash = cache::content_hash(&bytes);
            if store.seen(&seen_key(&file)).as_deref() == Some(hash.as_str()) {
                continue;
            }
            let prepared = match self.policy_for(&file) {
                Ok(policy) => self.prepare_bytes(&file, bytes, policy).await,
                Err(error) => Err(error),
            };
            match prepared {
                Ok(inspection) => {
                    self.put_in_place(&Arc::new(inspection.agent), "startup");
                    self.note_seen(&file, Some(&hash));
                }
                Err(error) => failed.push(error),
            }
        }
        for (path, hash) in store.all_seen() {
            if present.contains(&path) {
                continue;
            }
            self.note_seen(&path, None);
            let gone = self
                .agents()
                .into_iter()
                .find(|a| seen_key(&a.source) == path && a.content_hash == hash);
            if let Some(agent) = gone {
                let _ = self.remove(agent.id(), "startup");
            }
        }
        self.dispatcher.registry().touch();
        if let Err(error) = store.collect_garbage() {
            tracing::warn!(%error, "cannot drop unused components from the agent store");
        }
        Ok((self.agents(), failed))
    }

    /// Puts back one agent's saved versions; a version that no longer loads is left out (and
    /// reported), the rest are kept.
    async fn restore(
        &self,
        id: &str,
        saved: &[SavedVersion],
        store: &AgentStore,
    ) -> Result<(), LoadError> {
        let mut versions = Vec::with_capacity(saved.len());
        let mut last_error = None;
        for version in saved {
            let loaded = async {
                let bytes = store
                    .component(&version.hash)
                    .map_err(|source| LoadError::Io {
                        path: version.source.clone(),
                        source,
                    })?;
                let policy = match &version.manifest {
                    Some(manifest) => crate::manifest::policy_from(manifest, &self.engine_limits)?,
                    None => Policy::default(),
                };
                let agent = self
                    .prepare_bytes(&version.source, bytes, policy)
                    .await?
                    .agent;
                if agent.id() != id {
                    return Err(LoadError::InvalidInfo {
                        path: version.source.clone(),
                        reason: format!("it describes itself as `{}`, not `{id}`", agent.id()),
                    });
                }
                Ok(agent)
            };
            match loaded.await {
                Ok(agent) => versions.push(Version {
                    agent: Arc::new(agent),
                    by: version.by.clone(),
                    at: crate::persist::saved_at(version),
                }),
                Err(error) => {
                    tracing::error!(agent = id, %error, "a saved version does not load");
                    last_error = Some(error);
                }
            }
        }
        let Some(current) = versions.last().map(|v| v.agent.clone()) else {
            return Err(last_error.unwrap_or_else(|| LoadError::Host {
                path: PathBuf::from(id),
                reason: "no saved version".to_string(),
            }));
        };
        self.dispatcher.registry().restore(versions, || {
            self.dispatcher
                .registered(&current, None, "restore", "load")
        });
        Ok(())
    }

    /// Reports a new version of `expected_id` that could not be put in place (to the log, the event
    /// stream and the audit log).
    pub fn report_rejected(&self, expected_id: Option<&str>, by: &str, error: &LoadError) {
        self.dispatcher
            .admin_event(AdminChange::Rejected { by, error }, expected_id);
    }

    /// Goes back to the previous version of `id` (already compiled and warm).
    pub fn rollback(&self, id: &str, by: &str) -> Result<Swap, RollbackError> {
        let (agent, replaced) = self.dispatcher.registry().rollback(id, |agent, replaced| {
            self.dispatcher
                .registered(agent, Some(replaced), by, "rollback")
        })?;
        Ok(Swap {
            agent,
            previous: Some(replaced),
            prepared_in: std::time::Duration::ZERO,
            unchanged: false,
        })
    }

    /// Removes agent `id`; calls already running on it finish.
    pub fn remove(&self, id: &str, by: &str) -> Result<Arc<Agent>, CallError> {
        self.dispatcher.registry().remove(id, |removed| {
            self.dispatcher
                .admin_event(AdminChange::Removed { agent: removed, by }, Some(id))
        })
    }

    /// The versions of `id` the host keeps, oldest first, the current one last.
    pub fn history(&self, id: &str) -> Vec<Version> {
        self.dispatcher.registry().history(id)
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

    /// Loads every `*.wasm` file in `dir`, each with its manifest. Returns the agents loaded and an
    /// error for each file that failed; one bad file does not stop or hold up the others. Files are
    /// compiled and described [`LOAD_CONCURRENCY`] at a time, each within its agent's timeout, and
    /// registered in the order of their names (so the first of two files with one id wins).
    pub async fn load_dir(
        &self,
        dir: &Path,
    ) -> Result<(Vec<Arc<Agent>>, Vec<LoadError>), LoadError> {
        use futures::StreamExt;
        let files = component_files(dir).map_err(|source| LoadError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let prepared: Vec<Result<Agent, LoadError>> = futures::stream::iter(files)
            .map(|file| async move {
                let policy = self.policy_for(&file)?;
                Ok(self.prepare(&file, policy).await?.agent)
            })
            .buffered(LOAD_CONCURRENCY)
            .collect()
            .await;
        // Compiles that ran side by side each trimmed while the others still held their peaks.
        tandem_engine::heap::trim();
        let (mut loaded, mut failed) = (Vec::new(), Vec::new());
        for agent in prepared {
            match agent.and_then(|agent| self.register(agent)) {
                Ok(agent) => loaded.push(agent),
                Err(error) => failed.push(error),
            }
        }
        Ok((loaded, failed))
    }

    /// The agent registered as `id`.
    pub fn agent(&self, id: &str) -> Result<Arc<Agent>, CallError> {
        self.dispatcher.registry().get(id)
    }

    /// How many times the agents serving changed (loaded, swapped, rolled back, removed): a
    /// follower compares it to see whether to look again.
    pub fn generation(&self) -> u64 {
        self.dispatcher.registry().generation()
    }

    /// Every registered agent, ordered by id.
    pub fn agents(&self) -> Vec<Arc<Agent>> {
        self.dispatcher.registry().all()
    }

    /// Calls `operation` of agent `agent` with JSON `input`, as a new trace, behind the agent's
    /// breaker and with its retries.
    pub async fn invoke(
        &self,
        agent: &str,
        operation: &str,
        input: String,
    ) -> Result<Response, CallError> {
        self.dispatcher
            .call(agent, operation, input, Origin::default())
            .await
    }

    /// The live event stream.
    pub fn events(&self) -> &EventBus {
        self.dispatcher.events()
    }

    /// Every agent version's call statistics.
    pub fn metrics(&self) -> &Metrics {
        self.dispatcher.metrics()
    }

    /// The result cache's counters.
    pub fn result_cache(&self) -> CacheStats {
        self.dispatcher.results().stats()
    }

    /// The audit log, when the host keeps one.
    pub fn audit(&self) -> Option<&AuditLog> {
        self.dispatcher.audit()
    }

    /// Writes out what the audit log still buffers (on a blocking thread: it syncs the file);
    /// nothing to do without one. What a server does last when it stops.
    pub async fn flush_audit(self: Arc<Self>) -> std::io::Result<()> {
        let flushed = tokio::task::spawn_blocking(move || self.audit().map(AuditLog::flush))
            .await
            .map_err(std::io::Error::other)?;
        match flushed {
            Some(Err(e)) => Err(std::io::Error::new(
                e.kind(),
                format!("cannot flush the audit log: {e}"),
            )),
            _ => Ok(()),
        }
    }

    /// Validates `plan` against the loaded agents.
    pub fn check_plan(&self, plan: Plan) -> Result<Graph, PlanError> {
        plan.validate(&self.dispatcher)
    }

    /// Runs a graph that [`check_plan`](Host::check_plan) validated.
    pub async fn run_graph(
        &self,
        graph: Graph,
        cancel: impl Future<Output = ()>,
        progress: impl FnMut(&Progress),
    ) -> RunReport {
        graph
            .run(self.dispatcher.clone(), Origin::default(), cancel, progress)
            .await
    }

    /// Validates and runs `plan` on the scheduler; `cancel` resolving stops it, `progress` hears of
    /// every node that ends.
    pub async fn run_plan(
        &self,
        plan: Plan,
        cancel: impl Future<Output = ()>,
        progress: impl FnMut(&Progress),
    ) -> Result<RunReport, PlanError> {
        let graph = plan.validate(&self.dispatcher)?;
        Ok(graph
            .run(self.dispatcher.clone(), Origin::default(), cancel, progress)
            .await)
    }

    /// Shares the work with `peers`, the cluster this host joined, from now on (once): every call
    /// that may leave this host (see [`Origin::here`]) goes to them, every version this host makes
    /// current is told to them; every audit line names the host as `host_id`.
    pub fn join(&self, peers: std::sync::Weak<dyn crate::dispatch::Peers>, host_id: &str) {
        if let Some(audit) = self.audit() {
            audit.name_host(host_id);
        }
        self.dispatcher.join(peers);
    }

    /// What every host of the cluster serves, with its figures (this host's as `host_id`);
    /// `None` when the host is not one of a cluster.
    pub async fn census(&self) -> Option<Vec<crate::dispatch::HostCensus>> {
        let peers = self.dispatcher.peers()?;
        Some(peers.census().await)
    }

    /// This host's entry of a cluster's census, as `host_id`.
    pub fn census_here(&self, host_id: &str) -> crate::dispatch::HostCensus {
        let agents = self
            .agents()
            .iter()
            .map(|agent| {
                let version = agent.info.version.to_string();
                crate::dispatch::AgentCensus {
                    id: agent.id().to_string(),
                    stats: self.metrics().snapshot(agent.id(), &version),
                    version,
                    content_hash: agent.content_hash.clone(),
                }
            })
            .collect();
        crate::dispatch::HostCensus {
            host: host_id.to_string(),
            agents,
        }
    }

    /// The bytes of the component with content hash `hash` (64 hex digits) from the agent store;
    /// `None` without a store or when it holds no such component.
    pub fn component(&self, hash: &str) -> Option<Vec<u8>> {
        let store = self
            .store
            .as_ref()
            .filter(|_| cache::is_content_hash(hash))?;
        store.component(hash).ok()
    }

    /// Like [`invoke`](Host::invoke), within an existing trace, chain or deadline.
    pub async fn invoke_from(
        &self,
        agent: &str,
        operation: &str,
        input: String,
        origin: Origin,
    ) -> Result<Response, CallError> {
        self.dispatcher.call(agent, operation, input, origin).await
    }
}

/// How a file of the agents directory is named in the agent store: its absolute path.
fn seen_key(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Components of a directory prepared at once by [`Host::load_dir`].
pub const LOAD_CONCURRENCY: usize = 8;

/// The `*.wasm` files in `dir`, sorted by name.
pub fn component_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm") && path.is_file())
        .collect();
    files.sort();
    Ok(files)
}
