//! Watch mode (`tandem serve --watch`): the agents directory drives what is loaded. A component
//! added there is loaded, one changed (or its manifest changed) is swapped in, one removed is
//! unloaded.
//!
//! File events are debounced per component: nothing happens until a file has been quiet for the
//! debounce period, so a file still being copied is not read half-written (and should it be, the new
//! version fails its checks and the current one keeps serving; the write's next event brings it in).
//! A component whose bytes and manifest did not change is left alone, and so is one that was
//! rejected and has not changed since: a file is read again only when its metadata (size, time,
//! inode) or its manifest's changed, and acted on only when its content hash or manifest changed.
//! Reads of the watcher's own (open, read, close without writing) are not changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::time::Instant;

use tandem::host::Host;

/// Why the directory cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", path.display())]
pub struct WatchError {
    /// The directory.
    pub path: PathBuf,
    /// What the watcher said.
    pub source: notify::Error,
}

/// What the watcher knows of a component file: the agent it became (if it loaded) and what it was
/// made of when last read.
struct Known {
    agent: Option<String>,
    content_hash: String,
    manifest: Option<Vec<u8>>,
    stamp: Stamp,
}

/// What a file's metadata says of it, and of its manifest: enough to see it changed without reading
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    component: Option<(u64, Option<std::time::SystemTime>, u64)>,
    manifest: Option<(u64, Option<std::time::SystemTime>, u64)>,
}

impl Stamp {
    fn of(component: &Path) -> Stamp {
        let meta = |path: &Path| {
            let m = std::fs::metadata(path).ok()?;
            #[cfg(unix)]
            let inode = std::os::unix::fs::MetadataExt::ino(&m);
            #[cfg(not(unix))]
            let inode = 0;
            Some((m.len(), m.modified().ok(), inode))
        };
        Stamp {
            component: meta(component),
            manifest: meta(&component.with_extension("toml")),
        }
    }
}

/// Whether a file event can mean a change: the watcher's own opens, reads and closes after
/// reading are not, a close after writing is.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        notify::EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        notify::EventKind::Access(_) => false,
        _ => true,
    }
}

/// Watches `dir` until `stop` resolves, keeping the host's agents in step with its components.
pub async fn watch(
    host: Arc<Host>,
    dir: &Path,
    debounce: Duration,
    stop: impl Future<Output = ()>,
) -> Result<(), WatchError> {
    let error = |source| WatchError {
        path: dir.to_path_buf(),
        source,
    };
    let dir = dir
        .canonicalize()
        .map_err(|e| error(notify::Error::io(e)))?;
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let _ = sender.send(event);
    })
    .map_err(error)?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(error)?;
    let mut known = known_components(&host, &dir);
    let mut pending: HashMap<PathBuf, Instant> = HashMap::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let next_due = pending.values().min().copied();
        tokio::select! {
            () = &mut stop => return Ok(()),
            event = events.recv() => match event {
                Some(Ok(event)) if is_change(&event.kind) => {
                    for path in event.paths {
                        if let Some(component) = component_of(&path) {
                            pending.insert(component, Instant::now() + debounce);
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => tracing::warn!(error = %e, "file watcher error"),
                None => return Ok(()),
            },
            () = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)), if next_due.is_some() => {
                let now = Instant::now();
                let due: Vec<PathBuf> = pending
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(path, _)| path.clone())
                    .collect();
                for path in due {
                    pending.remove(&path);
                    apply(&host, &path, &mut known).await;
                }
            }
        }
    }
}

/// The component a changed file belongs to: `x.wasm` itself, or `x.wasm` for its manifest `x.toml`.
fn component_of(path: &Path) -> Option<PathBuf> {
    match path.extension()?.to_str()? {
        "wasm" => Some(path.to_path_buf()),
        "toml" => Some(path.with_extension("wasm")),
        _ => None,
    }
}

/// The components of `dir` that are loaded already (from the start-up load).
fn known_components(host: &Host, dir: &Path) -> HashMap<PathBuf, Known> {
    host.agents()
        .into_iter()
        .filter_map(|agent| {
            let path = agent.source.canonicalize().ok()?;
            (path.parent() == Some(dir)).then(|| {
                let known = Known {
                    agent: Some(agent.id().to_string()),
                    content_hash: agent.content_hash.clone(),
                    manifest: std::fs::read(path.with_extension("toml")).ok(),
                    stamp: Stamp::of(&path),
                };
                (path, known)
            })
        })
        .collect()
}

/// Brings the host in step with the component at `path`: load, swap, or remove.
async fn apply(host: &Host, path: &Path, known: &mut HashMap<PathBuf, Known>) {
    let stamp = Stamp::of(path);
    if known.get(path).is_some_and(|k| k.stamp == stamp) {
        return;
    }
    let Ok(bytes) = std::fs::read(path) else {
        if let Some(gone) = known.remove(path)
            && let Some(agent) = gone.agent
        {
            host.note_seen(path, None);
            if let Err(e) = host.remove(&agent, "watch") {
                tracing::warn!(agent, error = %e, "cannot remove the agent of a deleted component");
            }
        }
        return;
    };
    let manifest = std::fs::read(path.with_extension("toml")).ok();
    let content_hash = tandem::cache::content_hash(&bytes);
    let current = known.get_mut(path);
    let expected = current.as_ref().and_then(|k| k.agent.clone());
    if let Some(k) = current
        && k.content_hash == content_hash
        && k.manifest == manifest
    {
        k.stamp = stamp;
        return;
    }
    let mut seen = Known {
        agent: expected.clone(),
        content_hash,
        manifest,
        stamp,
    };
    let policy = match host.policy_for(path) {
        Ok(policy) => policy,
        Err(error) => {
            host.report_rejected(expected.as_deref(), "watch", &error);
            known.insert(path.to_path_buf(), seen);
            return;
        }
    };
    match host
        .swap_in(expected.as_deref(), path, bytes, policy, "watch")
        .await
    {
        Ok(swap) => {
            host.note_seen(path, Some(&seen.content_hash));
            seen.agent = Some(swap.agent.id().to_string());
        }
        Err(error) => tracing::warn!(path = %path.display(), %error, "not loaded"),
    }
    known.insert(path.to_path_buf(), seen);
}
