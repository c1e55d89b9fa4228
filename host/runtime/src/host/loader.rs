//! [`Loader`]: what turns a component's bytes into an agent version ready to serve (kept in the
//! agent store, compiled through the code cache of the engine its manifest calls for, linked,
//! instantiated, described and health-probed), shared by the [`Host`](super::Host) and, through
//! the dispatcher's [`StoredComponents`] trait, by guests granted `control` that bring back a
//! stored component.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;

use super::Inspection;
use super::flavor::Flavor;
use crate::agent::Agent;
use crate::cache;
use crate::component::{self, Shape};
use crate::dispatch::{Dispatcher, StoredComponents};
use crate::error::LoadError;
use crate::persist::AgentStore;
use crate::sandbox::Policy;

/// The engines (with their linkers and code caches) and the agent store.
pub(crate) struct Loader {
    /// For agents whose manifest sets a fuel limit.
    pub(crate) metered: Flavor,
    /// For the others.
    pub(crate) unmetered: Flavor,
    /// Where components are kept by content hash, when the host keeps an agent store.
    pub(crate) store: Option<Arc<AgentStore>>,
    pub(crate) dispatcher: Arc<Dispatcher>,
}

impl Loader {
    /// The engine an agent granted `policy` runs on: metered when it has a fuel limit.
    pub(crate) fn flavor(&self, policy: &Policy) -> &Flavor {
        match policy.limits.fuel {
            Some(_) => &self.metered,
            None => &self.unmetered,
        }
    }

    /// A component's bytes as an agent version (not registered); `path` names it in messages and
    /// becomes the agent's `source`.
    pub(crate) async fn prepare_bytes(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        policy: Policy,
    ) -> Result<Inspection, LoadError> {
        component::check_header(path, &bytes)?;
        let hash = cache::content_hash(&bytes);
        if let Some(store) = &self.store
            && let Err(e) = store.save_component(&hash, &bytes)
        {
            return Err(LoadError::Host {
                path: path.to_path_buf(),
                reason: format!("cannot keep the component in the agent store: {e}"),
            });
        }
        let flavor = self.flavor(&policy);
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
            &self.dispatcher,
        )
        .await?;
        Ok(Inspection { shape, agent })
    }
}

/// Whether `text` is a content hash: 64 lower-case hex digits (so that it can name a file).
fn is_content_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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
                .filter(|_| is_content_hash(content_hash))
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
