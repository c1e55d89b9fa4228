//! Every host serves the same version of each agent they share. A version is a component, named by
//! its content hash: when a host makes one current (a swap, a rollback, a promoted canary), it puts
//! the component in the object store bucket [`COMPONENTS`] (once per hash) and the hash in the
//! key-value bucket [`VERSIONS`] under the agent's id. Every host watches that bucket (from its
//! latest values on, so a host that joins late catches up) and swaps to the hash it holds, fetching
//! the component by hash, checking the bytes hash to it, and keeping its own manifest (its grants
//! name its own paths and secrets). The last write to the bucket wins on every host alike.
//!
//! Only agents a host already serves change: which agents a host serves is its own agents
//! directory's business.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tandem::Agent;
use tandem::dispatch::BY_PEER;
use tandem::host::Host;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The key-value bucket of the current version of every agent: id -> [`Current`].
pub const VERSIONS: &str = "tandem-versions";

/// The object store bucket of components by content hash.
pub const COMPONENTS: &str = "tandem-components";

/// How long to wait before watching again after the watch ended (the server restarted, ...).
const WATCH_AGAIN_AFTER: Duration = Duration::from_secs(1);

/// What [`VERSIONS`] holds for an agent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Current {
    /// The component's content hash (SHA-256, hex).
    pub hash: String,
    /// The host that made it current.
    pub host: String,
}

/// This host's side of the shared versions.
pub struct Versions {
    host: Arc<Host>,
    host_id: String,
    versions: kv::Store,
    components: object_store::ObjectStore,
    /// The largest component fetched from the bucket.
    max_component_bytes: usize,
    /// Versions made current here and not published yet: the latest per agent.
    pending: Mutex<BTreeMap<String, Arc<Agent>>>,
    publish: Notify,
}

impl Versions {
    /// Opens (creating them when missing) the two buckets.
    pub async fn open(
        jetstream: &jetstream::Context,
        host: Arc<Host>,
        host_id: String,
        max_component_bytes: usize,
    ) -> Result<Arc<Versions>, String> {
        let versions = crate::buckets::key_value(
            jetstream,
            VERSIONS,
            "the current version of every agent: id -> content hash",
        )
        .await?;
        let components = jetstream
            .create_object_store(object_store::Config {
                bucket: COMPONENTS.to_string(),
                description: Some("agent components by content hash".into()),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("cannot open the object store bucket `{COMPONENTS}`: {e}"))?;
        Ok(Arc::new(Versions {
            host,
            host_id,
            versions,
            components,
            max_component_bytes,
            pending: Mutex::default(),
            publish: Notify::new(),
        }))
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Agent>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that `agent` became current here, to be published (never blocks).
    pub fn changed(&self, agent: &Arc<Agent>) {
        self.pending().insert(agent.id().to_string(), agent.clone());
        self.publish.notify_one();
    }

    /// Publishes the versions made current here until the host leaves.
    pub async fn publish_changes(self: Arc<Self>, leaving: CancellationToken) {
        loop {
            tokio::select! {
                () = leaving.cancelled() => return,
                () = self.publish.notified() => {}
            }
            let pending = std::mem::take(&mut *self.pending());
            for (id, agent) in pending {
                match self.publish(&agent).await {
                    Ok(()) => {
                        tracing::info!(
                            agent = id,
                            hash = agent.content_hash,
                            "cluster: published the current version"
                        );
                    }
                    Err(error) => {
                        tracing::error!(
                            agent = id,
                            hash = agent.content_hash,
                            "cluster: cannot publish the current version: {error}"
                        );
                    }
                }
            }
        }
    }

    async fn publish(&self, agent: &Agent) -> Result<(), String> {
        let hash = &agent.content_hash;
        if self.components.info(hash).await.is_err() {
            let bytes = self
                .host
                .component(hash)
                .ok_or("the component is not in the agent store")?;
            self.components
                .put(hash.as_str(), &mut bytes.as_slice())
                .await
                .map_err(|e| format!("cannot put the component in `{COMPONENTS}`: {e}"))?;
        }
        let current = Current {
            hash: hash.clone(),
            host: self.host_id.clone(),
        };
        let value = serde_json::to_vec(&current).map_err(|e| e.to_string())?;
        self.versions
            .put(agent.id(), value.into())
            .await
            .map_err(|e| format!("cannot put the version in `{VERSIONS}`: {e}"))?;
        Ok(())
    }

    /// Applies the bucket's versions (its latest values first, then every change) until the host
    /// leaves; watches again when the watch ends.
    pub async fn follow(self: Arc<Self>, leaving: CancellationToken) {
        loop {
            match self.versions.watch_with_history(">").await {
                Ok(mut watch) => loop {
                    let entry = tokio::select! {
                        () = leaving.cancelled() => return,
                        entry = watch.next() => entry,
                    };
                    match entry {
                        Some(Ok(entry)) if entry.operation == kv::Operation::Put => {
                            self.apply(&entry.key, &entry.value).await;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(error)) => {
                            tracing::warn!(%error, "cluster: the versions watch failed");
                            break;
                        }
                        None => break,
                    }
                },
                Err(error) => tracing::warn!(%error, "cluster: cannot watch `{VERSIONS}`"),
            }
            tokio::select! {
                () = leaving.cancelled() => return,
                () = tokio::time::sleep(WATCH_AGAIN_AFTER) => {}
            }
        }
    }

    /// Makes the version the bucket holds for `id` current here, if this host serves `id` and
    /// serves another version.
    async fn apply(&self, id: &str, value: &[u8]) {
        let Ok(serving) = self.host.agent(id) else {
            return;
        };
        let current: Current = match serde_json::from_slice(value) {
            Ok(current) => current,
            Err(error) => {
                tracing::warn!(agent = id, %error, "cluster: an unreadable version in `{VERSIONS}`");
                return;
            }
        };
        if serving.content_hash == current.hash {
            return;
        }
        let bytes = match self.component(&current.hash).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(
                    agent = id,
                    hash = current.hash,
                    "cluster: cannot fetch the version host `{}` made current: {error}",
                    current.host
                );
                return;
            }
        };
        let source = PathBuf::from(format!(
            "version {} from host `{}`",
            current.hash, current.host
        ));
        let by = format!("{BY_PEER}{}", current.host);
        let policy = serving.policy().clone();
        match self
            .host
            .swap_in(Some(id), &source, bytes, policy, &by)
            .await
        {
            Ok(swap) => tracing::info!(
                agent = id,
                version = %swap.agent.info.version,
                hash = current.hash,
                "cluster: serving the version host `{}` made current",
                current.host
            ),
            Err(error) => tracing::error!(
                agent = id,
                hash = current.hash,
                "cluster: the version host `{}` made current was rejected: {error}",
                current.host
            ),
        }
    }

    /// The component with content hash `hash`: from the agent store, else from [`COMPONENTS`]
    /// (at most `max_component_bytes`, and only if its bytes hash to `hash`).
    async fn component(&self, hash: &str) -> Result<Vec<u8>, String> {
        if !(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err("the version is not a content hash".into());
        }
        if let Some(bytes) = self.host.component(hash) {
            return Ok(bytes);
        }
        let limit = self.max_component_bytes;
        let object = self
            .components
            .get(hash)
            .await
            .map_err(|e| format!("not in `{COMPONENTS}`: {e}"))?;
        let mut bytes = Vec::new();
        object
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| format!("cannot read it from `{COMPONENTS}`: {e}"))?;
        if bytes.len() > limit {
            return Err(format!("it is over the limit of {limit} bytes"));
        }
        if tandem::cache::content_hash(&bytes) != hash {
            return Err("its bytes do not hash to its name".into());
        }
        Ok(bytes)
    }
}
