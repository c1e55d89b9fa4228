//! [`Loader`]: what turns a component's bytes into an agent version ready to serve (kept in the
//! agent store, compiled through the code cache, linked, instantiated, described and
//! health-probed), shared by the [`Host`](super::Host) and, through the dispatcher's
//! [`StoredComponents`] trait, by guests granted `control` that bring back a stored component.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use wasmtime::Engine;
use wasmtime::component::Linker;

use super::Inspection;
use crate::agent::Agent;
use crate::cache::{self, CodeCache};
use crate::component::{self, Shape};
use crate::dispatch::{Dispatcher, StoredComponents};
use crate::error::LoadError;
use crate::persist::AgentStore;
use crate::sandbox::{Policy, StoreData};

/// The engine, the linkers, the code cache and the agent store.
pub(crate) struct Loader {
    pub(crate) engine: Engine,
    /// Every host import but `wasi:http`.
    pub(crate) linker: Linker<StoreData>,
    /// The same and `wasi:http`, for agents whose manifest grants `[egress]`.
    pub(crate) egress_linker: Linker<StoreData>,
    pub(crate) cache: CodeCache,
    /// Where components are kept by content hash, when the host keeps an agent store.
    pub(crate) store: Option<Arc<AgentStore>>,
    pub(crate) dispatcher: Arc<Dispatcher>,
}

impl Loader {
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
        let linker = match policy.grants.egress {
            Some(_) => &self.egress_linker,
            None => &self.linker,
        };
        let pre = component::prepare(&self.engine, linker, path, &component)?;
        let agent = Agent::load(
            &self.engine,
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
