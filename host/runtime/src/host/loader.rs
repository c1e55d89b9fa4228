//! [`Loader`]: what turns a component's bytes into an agent version ready to serve (kept in the
//! agent store, compiled through the code cache of the engine its manifest calls for, linked,
//! instantiated, described and health-probed), shared by the [`Host`](super::Host) and, through
//! the dispatcher's [`StoredComponents`] trait, by guests granted `control` that bring back a
//! stored component.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;

use super::Inspection;
use super::flavor::{Flavor, Flavors};
use crate::agent::Agent;
use crate::cache;
use crate::component::{self, Shape};
use crate::dispatch::{Dispatcher, StoredComponents};
use crate::engine::Tier;
use crate::error::LoadError;
use crate::persist::AgentStore;
use crate::sandbox::Policy;

/// The engines (with their linkers and code caches) and the agent store.
pub(crate) struct Loader {
    /// The engines whose code is optimised by Cranelift: what every version runs on in the end.
    pub(crate) optimized: Flavors,
    /// Winch's engines, when the host serves a hot-swapped version's first calls from baseline code
    /// while Cranelift compiles it ([`HostConfig::baseline_tier`](super::HostConfig)).
    pub(crate) baseline: Option<Flavors>,
    /// Where components are kept by content hash, when the host keeps an agent store.
    pub(crate) store: Option<Arc<AgentStore>>,
    pub(crate) dispatcher: Arc<Dispatcher>,
    /// One background compile ([`upgrade`](Loader::upgrade)) at a time: swaps made faster than
    /// Cranelift compiles queue, and the versions dropped meanwhile are skipped.
    pub(crate) upgrades: tokio::sync::Semaphore,
}

impl Loader {
    /// A component's bytes as an agent version (not registered), on optimised code; `path` names
    /// it in messages and becomes the agent's `source`.
    pub(crate) async fn prepare_bytes(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        policy: Policy,
    ) -> Result<Inspection, LoadError> {
        let hash = cache::content_hash(&bytes);
        self.prepare(path, Arc::new(bytes), hash, policy, Tier::Optimized)
            .await
    }

    /// Like [`prepare_bytes`](Loader::prepare_bytes) for `bytes` whose content hash is `hash`, but
    /// ready sooner when the component's optimised code is not cached and the host has a baseline
    /// tier: then the version runs on Winch's code (its [`tier`](Agent::tier) says so) until
    /// [`upgrade`](Loader::upgrade) replaces it. A component that Winch cannot compile, or whose
    /// baseline code fails to load, is prepared on Cranelift's code, as always.
    pub(crate) async fn prepare_soon(
        &self,
        path: &Path,
        bytes: Arc<Vec<u8>>,
        hash: String,
        policy: Policy,
    ) -> Result<Inspection, LoadError> {
        let cached = self.optimized.of(&policy).cache.contains(&hash);
        let tier = match &self.baseline {
            Some(_) if !cached => Tier::Baseline,
            _ => Tier::Optimized,
        };
        self.prepare(path, bytes, hash, policy, tier).await
    }

    /// Component `bytes`, whose content hash is `hash`, as an agent version on code compiled by
    /// `tier`'s compiler (Cranelift's when the host has no baseline tier).
    async fn prepare(
        &self,
        path: &Path,
        bytes: Arc<Vec<u8>>,
        hash: String,
        policy: Policy,
        tier: Tier,
    ) -> Result<Inspection, LoadError> {
        component::check_header(path, &bytes)?;
        if let Some(store) = &self.store
            && let Err(e) = store.save_component(&hash, &bytes)
        {
            return Err(LoadError::Host {
                path: path.to_path_buf(),
                reason: format!("cannot keep the component in the agent store: {e}"),
            });
        }
        if tier == Tier::Baseline
            && let Some(baseline) = &self.baseline
        {
            let flavor = baseline.of(&policy);
            match load_on(
                flavor,
                path,
                bytes.clone(),
                hash.clone(),
                policy.clone(),
                &self.dispatcher,
            )
            .await
            {
                Ok(inspection) => return Ok(inspection),
                // A component Winch cannot compile (or whose baseline code fails to load) is
                // judged on Cranelift's code, as without the baseline tier.
                Err(error) => {
                    tracing::debug!(path = %path.display(), %error, "not on baseline code; compiling with Cranelift")
                }
            }
        }
        let flavor = self.optimized.of(&policy);
        load_on(flavor, path, bytes, hash, policy, &self.dispatcher).await
    }

    /// Compiles `serving` (a version on baseline code, of component `bytes`) with Cranelift, in the
    /// background, and puts the result in its place, in the registry and its history, unless it
    /// was swapped out meanwhile. Not a new version: nothing is reported but a log line. A failure
    /// leaves `serving` in place, logged. One at a time; a version no longer held by anything (the
    /// registry, its history, a call) by its turn is not compiled.
    pub(crate) fn upgrade(self: &Arc<Self>, serving: &Arc<Agent>, bytes: Arc<Vec<u8>>) {
        let (loader, serving) = (self.clone(), Arc::downgrade(serving));
        tokio::spawn(async move {
            let Ok(_turn) = loader.upgrades.acquire().await else {
                return;
            };
            let Some(serving) = serving.upgrade() else {
                return;
            };
            let (path, hash) = (serving.source.clone(), serving.content_hash.clone());
            let policy = serving.policy().clone();
            match loader
                .prepare(&path, bytes, hash, policy, Tier::Optimized)
                .await
            {
                Ok(inspection) => {
                    let optimized = Arc::new(inspection.agent);
                    let registry = loader.dispatcher.registry();
                    if registry.upgrade(&serving, optimized.clone()) {
                        loader.dispatcher.metrics().register(
                            optimized.id(),
                            &optimized.info.version.to_string(),
                            optimized.stats().clone(),
                        );
                        tracing::info!(agent = serving.id(), version = %serving.info.version, "now on optimised code");
                    }
                }
                Err(error) => {
                    tracing::warn!(agent = serving.id(), %error, "cannot compile the optimised code; the baseline code keeps serving")
                }
            }
        });
    }
}

/// Component `bytes` (content hash `hash`) compiled for `flavor`'s engine (or mapped from its
/// cache), linked, instantiated, described and health-probed.
async fn load_on(
    flavor: &Flavor,
    path: &Path,
    bytes: Arc<Vec<u8>>,
    hash: String,
    policy: Policy,
    dispatcher: &Arc<Dispatcher>,
) -> Result<Inspection, LoadError> {
    // Compiling is CPU-bound and may take a while: keep it off the async workers.
    let (engine, cache, owned_path) = (
        flavor.engine.clone(),
        flavor.cache.clone(),
        path.to_path_buf(),
    );
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
    let shape = Shape::of(&flavor.engine, &component);
    let linker = flavor.linker(&policy);
    let pre = component::prepare(&flavor.engine, linker, path, &component)?;
    let agent = Agent::load(
        &flavor.engine,
        pre,
        path.to_path_buf(),
        hash,
        policy,
        flavor.tier,
        dispatcher,
    )
    .await?;
    Ok(Inspection { shape, agent })
}

impl StoredComponents for Loader {
    fn load<'a>(
        &'a self,
        agent: &'a str,
        content_hash: &'a str,
        policy: Policy,
    ) -> BoxFuture<'a, Result<Arc<Agent>, String>> {
        Box::pin(async move {
            let Some(store) = self
                .store
                .as_ref()
                .filter(|_| cache::is_content_hash(content_hash))
            else {
                return Err(format!(
                    "the host holds no version of `{agent}` with content hash {content_hash} (see `versions`)"
                ));
            };
            let bytes = store.component(content_hash).map_err(|_| {
                format!(
                    "the host holds no version of `{agent}` with content hash {content_hash}, in its versions or its agent store"
                )
            })?;
            let source = PathBuf::from(format!("stored component {content_hash}"));
            let version = self
                .prepare_bytes(&source, bytes, policy)
                .await
                .map_err(|e| e.to_string())?
                .agent;
            if version.id() != agent {
                return Err(format!(
                    "the stored component {content_hash} is agent `{}`, not `{agent}`",
                    version.id()
                ));
            }
            Ok(Arc::new(version))
        })
    }
}
