//! The agent set on disk (`DATA_DIR/agents/`), so that a restarted server serves what was serving:
//! every agent's versions, oldest first (the current one last), each with who put it there and when,
//! and the component bytes of each version by content hash. Written after every change to the
//! loaded agents (a load, a swap, a rollback, a removal, from the API, watch mode or start-up), in
//! the order the changes took effect, by replacing `agents.json` whole (write, fsync, rename).
//! Components no version refers to any more are dropped at the next start.
//!
//! The store also remembers which file of the agents directory was last seen with which content
//! (`seen`), so that at start the host can tell what changed in the directory while it was down:
//! see [`Host::resume`](crate::Host::resume).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::registry::Version;

/// One saved version of an agent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedVersion {
    /// SHA-256 of the component: its bytes are in `components/<hash>.wasm`.
    pub hash: String,
    /// Where the component came from (a file of the agents directory, or an upload).
    pub source: PathBuf,
    /// The manifest its policy was read from, read again when the version is restored.
    pub manifest: Option<PathBuf>,
    /// Who or what made it current.
    pub by: String,
    /// RFC 3339.
    pub at: String,
}

/// What `agents.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SavedSet {
    /// Every agent's versions, oldest first, the current one last.
    pub agents: BTreeMap<String, Vec<SavedVersion>>,
    /// The files of the agents directory, as last seen: path -> content hash.
    pub seen: BTreeMap<PathBuf, String>,
}

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("the agent store {}: {message}", path.display())]
pub struct StoreError {
    /// The store's file or directory.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// The agent set's directory.
pub struct AgentStore {
    dir: PathBuf,
    /// The last set written (its `seen` is kept up to date between writes).
    set: Mutex<SavedSet>,
    /// Whether `agents.json` existed when the store was opened: there is a set to restore.
    existed: bool,
}

impl AgentStore {
    /// Opens (or creates) the store in `dir`, reading the set saved there.
    pub fn open(dir: &Path) -> Result<AgentStore, StoreError> {
        let fail = |path: &Path, e: &dyn std::fmt::Display| StoreError {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir.join("components")).map_err(|e| fail(dir, &e))?;
        let file = dir.join("agents.json");
        let (set, existed) = match std::fs::read(&file) {
            Ok(bytes) => (
                serde_json::from_slice(&bytes).map_err(|e| fail(&file, &e))?,
                true,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (SavedSet::default(), false),
            Err(e) => return Err(fail(&file, &e)),
        };
        Ok(AgentStore {
            dir: dir.to_path_buf(),
            set: Mutex::new(set),
            existed,
        })
    }

    fn set(&self) -> MutexGuard<'_, SavedSet> {
        self.set.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a set was saved before this process: what to restore at start.
    pub fn has_saved_set(&self) -> bool {
        self.existed
    }

    /// The saved agents, as they were when the store was opened or last written.
    pub fn saved_agents(&self) -> BTreeMap<String, Vec<SavedVersion>> {
        self.set().agents.clone()
    }

    /// The content hash a directory file had when last seen.
    pub fn seen(&self, path: &Path) -> Option<String> {
        self.set().seen.get(path).cloned()
    }

    /// Every directory file seen, with its hash.
    pub fn all_seen(&self) -> Vec<(PathBuf, String)> {
        self.set()
            .seen
            .iter()
            .map(|(p, h)| (p.clone(), h.clone()))
            .collect()
    }

    /// Notes that the directory file `path` was seen with content `hash` (`None`: it is gone);
    /// written with the next change.
    pub fn set_seen(&self, path: &Path, hash: Option<&str>) {
        let mut set = self.set();
        match hash {
            Some(hash) => set.seen.insert(path.to_path_buf(), hash.to_string()),
            None => set.seen.remove(path),
        };
    }

    fn component_path(&self, hash: &str) -> PathBuf {
        self.dir.join("components").join(format!("{hash}.wasm"))
    }

    /// Keeps a component's bytes (once per content hash).
    pub fn save_component(&self, hash: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.component_path(hash);
        if path.is_file() {
            return Ok(());
        }
        write_atomically(&path, bytes)
    }

    /// A saved component's bytes.
    pub fn component(&self, hash: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.component_path(hash))
    }

    /// Saves the agents' versions as they are now (and the `seen` map).
    pub fn write(&self, histories: &BTreeMap<String, Vec<Version>>) -> std::io::Result<()> {
        let mut set = self.set();
        set.agents = histories
            .iter()
            .map(|(id, versions)| (id.clone(), versions.iter().map(saved).collect()))
            .collect();
        let text = serde_json::to_vec_pretty(&*set).map_err(std::io::Error::other)?;
        write_atomically(&self.dir.join("agents.json"), &text)
    }

    /// Drops the components no saved version refers to. Run once the start-up loading is done:
    /// a component being loaded is kept before its version is registered.
    pub fn collect_garbage(&self) -> std::io::Result<()> {
        let set = self.set();
        let used: std::collections::HashSet<String> = set
            .agents
            .values()
            .flatten()
            .map(|v| format!("{}.wasm", v.hash))
            .collect();
        for entry in std::fs::read_dir(self.dir.join("components"))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".wasm") && !used.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

fn saved(version: &Version) -> SavedVersion {
    let agent = &version.agent;
    SavedVersion {
        hash: agent.content_hash.clone(),
        source: agent.source.clone(),
        manifest: agent.policy().manifest.clone(),
        by: version.by.clone(),
        at: humantime::format_rfc3339_millis(version.at).to_string(),
    }
}

/// When a saved version became current.
pub fn saved_at(version: &SavedVersion) -> SystemTime {
    humantime::parse_rfc3339(&version.at).unwrap_or_else(|_| SystemTime::now())
}

/// Replaces `path` with `bytes` so that a crash leaves either the old file or the new one: write
/// a temporary file beside it, sync it, rename it over.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A name of its own per write, so that two writes of one file never share a temporary file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{n}"));
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent()
        && let Ok(dir) = std::fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}
