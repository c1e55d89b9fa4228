//! Every host serves the same version of each agent they share, and the same canary. A version is a
//! component, named by its content hash: when a host changes what it serves of an agent (a swap, a
//! rollback, a canary started, reweighted, promoted or aborted), it puts the components in the object
//! store bucket [`COMPONENTS`] (once per hash) and the current hash, with the canary's hash, weight
//! and guard rails if it has one, in the key-value bucket [`VERSIONS`] under the agent's id. Every host watches that bucket (from its
//! latest values on, so a host that joins late catches up) and swaps to the hash it holds, fetching
//! the component by hash, checking the bytes hash to it, and keeping its own manifest (its grants
//! name its own paths and secrets). The last write to the bucket wins on every host alike.
//!
//! Only agents a host already serves change: which agents a host serves is its own agents
//! directory's business.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tandem::canary::GuardRails;
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
    /// The host that made the change.
    pub host: String,
    /// Its canary, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryOf>,
}

/// A canary as [`VERSIONS`] holds it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryOf {
    /// The canary's content hash.
    pub hash: String,
    /// The share of traces it serves, percent.
    pub weight: u8,
    /// Its guard rails.
    pub guard: GuardRails,
}

/// This host's side of the shared versions.
pub struct Versions {
    host: Arc<Host>,
    host_id: String,
    versions: kv::Store,
    components: object_store::ObjectStore,
    /// The largest component fetched from the bucket.
    max_component_bytes: usize,
    /// Agents whose versions changed here and are not published yet.
    pending: Mutex<BTreeSet<String>>,
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

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that what this host serves of `agent` changed, to be published (never blocks).
    pub fn changed(&self, agent: &str) {
        self.pending().insert(agent.to_string());
        self.publish.notify_one();
    }

    /// Publishes what changed here until the host leaves.
    pub async fn publish_changes(self: Arc<Self>, leaving: CancellationToken) {
        loop {
            tokio::select! {
                () = leaving.cancelled() => return,
                () = self.publish.notified() => {}
            }
            let pending = std::mem::take(&mut *self.pending());
            for id in pending {
                match self.publish(&id).await {
                    Ok(Some(current)) => tracing::info!(
                        agent = id,
                        hash = current.hash,
                        canary = ?current.canary.map(|c| (c.hash, c.weight)),
                        "cluster: published what this host serves"
                    ),
                    Ok(None) => {}
                    Err(error) => tracing::error!(
                        agent = id,
                        "cluster: cannot publish what this host serves: {error}"
                    ),
                }
            }
        }
    }

    /// Puts what this host serves of `id` in the buckets (nothing when it no longer serves it).
    async fn publish(&self, id: &str) -> Result<Option<Current>, String> {
        let Ok(agent) = self.host.agent(id) else {
            return Ok(None);
        };
        let canary = self.host.canary(id).map(|canary| CanaryOf {
            hash: canary.agent.content_hash.clone(),
            weight: canary.weight(),
            guard: canary.guard.clone(),
        });
        self.keep_component(&agent.content_hash).await?;
        if let Some(canary) = &canary {
            self.keep_component(&canary.hash).await?;
        }
        let current = Current {
            hash: agent.content_hash.clone(),
            host: self.host_id.clone(),
            canary,
        };
        let value = serde_json::to_vec(&current).map_err(|e| e.to_string())?;
        self.versions
            .put(id, value.into())
            .await
            .map_err(|e| format!("cannot put the version in `{VERSIONS}`: {e}"))?;
        Ok(Some(current))
    }

    /// Puts the component with content hash `hash` in [`COMPONENTS`] unless it is there.
    async fn keep_component(&self, hash: &str) -> Result<(), String> {
        if self.components.info(hash).await.is_ok() {
            return Ok(());
        }
        let bytes = self
            .host
            .component(hash)
            .ok_or("the component is not in the agent store")?;
        self.components
            .put(hash, &mut bytes.as_slice())
            .await
            .map_err(|e| format!("cannot put the component in `{COMPONENTS}`: {e}"))?;
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

    /// Makes what the bucket holds for `id` (current version and canary) what this host serves,
    /// if it serves `id`. Each step that fails is logged and the host keeps what it had.
    async fn apply(&self, id: &str, value: &[u8]) {
        if self.host.agent(id).is_err() {
            return;
        }
        let wanted: Current = match serde_json::from_slice(value) {
            Ok(wanted) => wanted,
            Err(error) => {
                tracing::warn!(agent = id, %error, "cluster: an unreadable version in `{VERSIONS}`");
                return;
            }
        };
        let by = format!("{BY_PEER}{}", wanted.host);
        if let Err(error) = self.apply_current(id, &wanted, &by).await {
            tracing::error!(
                agent = id,
                hash = wanted.hash,
                "cluster: cannot serve the version host `{}` made current: {error}",
                wanted.host
            );
            return;
        }
        if let Err(error) = self.apply_canary(id, wanted.canary.as_ref(), &by).await {
            tracing::error!(
                agent = id,
                "cluster: cannot serve the canary host `{}` set: {error}",
                wanted.host
            );
        }
    }

    /// Makes `wanted.hash` current: by promoting the local canary when it is that version, else
    /// by a swap.
    async fn apply_current(&self, id: &str, wanted: &Current, by: &str) -> Result<(), String> {
        let serving = self.host.agent(id).map_err(|e| e.to_string())?;
        if serving.content_hash == wanted.hash {
            return Ok(());
        }
        if self
            .host
            .canary(id)
            .is_some_and(|canary| canary.agent.content_hash == wanted.hash)
        {
            self.host
                .promote_canary(id, by)
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
        let bytes = self.component(&wanted.hash).await?;
        let source = PathBuf::from(format!(
            "version {} from host `{}`",
            wanted.hash, wanted.host
        ));
        let policy = serving.policy().clone();
        let swap = self
            .host
            .swap_in(Some(id), &source, bytes, policy, by)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(agent = id, version = %swap.agent.info.version, hash = wanted.hash, "cluster: serving the version host `{}` made current", wanted.host);
        Ok(())
    }

    /// Makes `wanted` this host's canary of `id` (none: no canary).
    async fn apply_canary(
        &self,
        id: &str,
        wanted: Option<&CanaryOf>,
        by: &str,
    ) -> Result<(), String> {
        let local = self.host.canary(id);
        match (wanted, &local) {
            (None, None) => Ok(()),
            (None, Some(_)) => self
                .host
                .abort_canary(id, by)
                .map(drop)
                .map_err(|e| e.to_string()),
            (Some(wanted), Some(local)) if local.agent.content_hash == wanted.hash => {
                if local.weight() != wanted.weight {
                    self.host
                        .set_canary_weight(id, wanted.weight, by)
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            (Some(wanted), _) => {
                if local.is_some() {
                    self.host.abort_canary(id, by).map_err(|e| e.to_string())?;
                }
                let serving = self.host.agent(id).map_err(|e| e.to_string())?;
                let bytes = self.component(&wanted.hash).await?;
                let source = PathBuf::from(format!("canary {} from the cluster", wanted.hash));
                let policy = serving.policy().clone();
                self.host
                    .start_canary(
                        id,
                        &source,
                        bytes,
                        policy,
                        wanted.weight,
                        wanted.guard.clone(),
                        by,
                    )
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// The component with content hash `hash`: from the agent store, else from [`COMPONENTS`]
    /// (at most `max_component_bytes`, and only if its bytes hash to `hash`).
    async fn component(&self, hash: &str) -> Result<Vec<u8>, String> {
        if !tandem::cache::is_content_hash(hash) {
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
